"""One SQLite store, one fleet: the file lock of SQLiteStore (fleetven/store/_filelock.py), tried
with real second processes, in this process, after close, after kill -9, and from ``fleetven run``."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetven import Fleet
from fleetven.exceptions import StoreError, StoreLocked
from fleetven.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]

# Opens the store named by argv[1]; prints what happened as one JSON line.
OPEN_ONCE = textwrap.dedent("""\
    import json, sys
    from fleetven.exceptions import StoreLocked
    from fleetven.store import SQLiteStore
    try:
        store = SQLiteStore(sys.argv[1])
    except StoreLocked as exc:
        print(json.dumps({"locked": True, "message": str(exc), "pid": exc.pid, "path": exc.path,
                          "lock_path": exc.lock_path}))
        sys.exit(3)
    store.put_registration("from-child", {"ok": True})
    store.close()
    print(json.dumps({"locked": False}))
    """)

# Opens the store named by argv[1], says so, and holds it until killed.
HOLD = textwrap.dedent("""\
    import sys, time
    from fleetven.store import SQLiteStore
    store = SQLiteStore(sys.argv[1])
    print("open", flush=True)
    time.sleep(120)
    """)


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


@contextlib.contextmanager
def _holder(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that has the store at ``path`` open; killed with SIGKILL on the way out."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "open", "the holding process did not open the store"
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


def test_a_second_process_is_refused_while_the_store_is_open_and_welcome_after_close(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    store = SQLiteStore(path)
    try:
        refused = _child(OPEN_ONCE, str(path))
        assert refused.returncode == 3, refused.stderr
        seen = json.loads(refused.stdout)
        assert seen["locked"] and seen["pid"] == os.getpid()
        assert seen["path"] == str(path) and seen["lock_path"] == f"{path}.lock"
        assert str(path) in seen["message"] and f"process {os.getpid()}" in seen["message"]
        assert "PostgreSQL" in seen["message"]
    finally:
        store.close()
    welcome = _child(OPEN_ONCE, str(path))
    assert welcome.returncode == 0, welcome.stderr
    assert json.loads(welcome.stdout) == {"locked": False}
    again = SQLiteStore(path)
    try:
        assert again.load()["from-child"].registration == {"ok": True}
    finally:
        again.close()


def test_this_process_is_refused_by_a_store_another_holds_and_kill_9_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    with _holder(path) as holder:
        with pytest.raises(StoreLocked, match=f"in use by process {holder.pid}") as info:
            SQLiteStore(path)
        assert info.value.pid == holder.pid and isinstance(info.value, StoreError)
        assert Path(f"{path}.lock").read_text() == f"{holder.pid}\n"
    # a crashed holder leaves no lock behind: the kernel released it with the process
    store = SQLiteStore(path)
    try:
        assert Path(f"{path}.lock").read_text() == f"{os.getpid()}\n"
    finally:
        store.close()


def test_the_same_process_opening_a_store_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    first = SQLiteStore(path)
    try:
        with pytest.raises(StoreLocked, match=r"this process \(PID \d+\) already has it open") as info:
            SQLiteStore(path)
        assert info.value.pid == os.getpid()
        first.put_registration("a", {"n": 1})  # the refused open did not disturb the first store
        first.flush()
    finally:
        first.close()
    assert Path(f"{path}.lock").read_text() == ""  # released: no stale PID left behind
    second = SQLiteStore(path)
    try:
        assert second.load()["a"].registration == {"n": 1}
    finally:
        second.close()


def test_reopen_takes_the_lock_again_and_fails_if_another_store_took_it(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    store = SQLiteStore(path)
    store.close()
    other = SQLiteStore(path)
    try:
        with pytest.raises(StoreLocked):
            store.reopen()
        assert store.closed
    finally:
        other.close()
    store.reopen()
    try:
        assert not store.closed
        with pytest.raises(StoreLocked):
            SQLiteStore(path)
    finally:
        store.close()


def test_a_store_dropped_without_close_releases_its_lock(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    store = SQLiteStore(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # Python 3.13+ warns of the unclosed connection
        del store
        gc.collect()
    SQLiteStore(path).close()


def test_a_refused_open_leaves_the_file_alone(tmp_path: Path) -> None:
    # The lock is taken before SQLite opens the file: a locked store is not read or migrated,
    # and a refused open does not create the database.
    path = tmp_path / "fleet.db"
    with open(f"{path}.lock", "w") as fh:  # a foreign holder of the lock, with no PID written
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(StoreLocked, match="in use by another process") as info:
            SQLiteStore(path)
        assert info.value.pid is None
    assert not path.exists()


def test_in_memory_databases_take_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one, two = SQLiteStore(":memory:"), SQLiteStore(":memory:")
    try:
        assert one.lock_path is None and two.lock_path is None
    finally:
        one.close()
        two.close()
    assert list(tmp_path.iterdir()) == []


def test_two_fleets_on_one_store_in_one_process_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    first = Fleet("http://127.0.0.1:1/OpenADR2/Simple/2.0b", store=path)
    try:
        with pytest.raises(StoreLocked):
            Fleet("http://127.0.0.1:1/OpenADR2/Simple/2.0b", store=path)
    finally:
        first.store.close()


def test_fleetven_run_on_a_store_in_use_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "vens.csv").write_text("ven_name\nsite-1\n")
    store = tmp_path / "fleet.db"
    config = tmp_path / "fleet.toml"
    config.write_text(f'[vtn]\nurl = "http://127.0.0.1:1/OpenADR2/Simple/2.0b"\n[store]\npath = "{store}"\n'
                      '[vens]\ncsv = "vens.csv"\n')
    with _holder(store) as holder:
        proc = subprocess.run([sys.executable, "-m", "fleetven", "run", "--check", str(config)],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "[store]" in proc.stderr and str(store) in proc.stderr and f"process {holder.pid}" in proc.stderr
