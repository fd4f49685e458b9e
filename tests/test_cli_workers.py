"""``fleetven fleet create|import|status`` in this process, on a throwaway PostgreSQL: counts, updates
without duplicates, slots as :func:`~fleetven.fleet.slots.slot_of` puts them, every mistake refused
with exit status 2 and nothing written, an unreachable database with 1; ``fleetven worker`` as a
subprocess running the configuration kept by ``fleet create --config`` against the VTN stand-in
(its metrics, SIGTERM handing every slot back)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from _helpers import scrape_until, watch_metrics_port

from fleetven.app.cli import main
from fleetven.fleet.slots import slot_of
from fleetven.testing import TestVTN

SLOTS = 8
DEADLINE = 20.0
TIMING = ("--lease", "3s", "--renew-every", "0.5s", "--margin", "1s", "--statement-timeout", "0.4s")


def fleet(*args: str) -> int:
    return main(["fleet", *args])


def status(dsn: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert fleet("status", "--store", dsn, "--json") == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


async def _fetch(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def fetch(dsn: str, sql: str) -> list[Any]:
    """Rows of ``sql`` (these tests are plain functions: ``main`` runs its own loop)."""
    return asyncio.run(_fetch(dsn, sql))


def write_csv(tmp_path: Path, rows: list[str], name: str = "vens.csv") -> Path:
    (tmp_path / "site.pem").write_text("cert")
    (tmp_path / "site.key").write_text("key")
    path = tmp_path / name
    path.write_text("ven_name,ven_id,cert,key\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_create_import_status(pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet("create", "--store", pg_dsn, "--slots", str(SLOTS)) == 0
    assert f"fleet of {SLOTS} slots ({SLOTS} new)" in capsys.readouterr().out
    assert status(pg_dsn, capsys) == {"slots": SLOTS, "vens": 0, "free": SLOTS, "expired": 0, "unowned_vens": 0,
                                      "workers": {}}
    csv = write_csv(tmp_path, ["site-a,id-a,site.pem,site.key", "site-b,,,", "site-c,id-c,,"])
    assert fleet("import", "--store", pg_dsn, str(csv)) == 0
    assert "3 identities imported" in capsys.readouterr().out
    got = status(pg_dsn, capsys)
    assert (got["slots"], got["vens"], got["free"], got["unowned_vens"]) == (SLOTS, 3, SLOTS, 3)

    # Again, with one row changed and one added: updated in place, no duplicates.
    csv = write_csv(tmp_path, ["site-a,id-a2,,", "site-b,,,", "site-c,id-c,,", "site-d,,site.pem,site.key"])
    assert fleet("import", "--store", pg_dsn, str(csv)) == 0
    assert status(pg_dsn, capsys)["vens"] == 4
    assert fleet("create", "--store", pg_dsn, "--slots", str(SLOTS)) == 0  # the same count again: nothing new
    assert f"fleet of {SLOTS} slots (0 new)" in capsys.readouterr().out
    rows = {r["name"]: r for r in fetch(pg_dsn, "SELECT name, slot, ven_id, cert, key FROM fleetven.identities")}
    assert sorted(rows) == ["site-a", "site-b", "site-c", "site-d"]
    assert {n: r["slot"] for n, r in rows.items()} == {n: slot_of(n, SLOTS) for n in rows}
    assert rows["site-a"]["ven_id"] == "id-a2" and rows["site-a"]["cert"] is None
    assert rows["site-d"]["cert"].endswith("site.pem") and rows["site-d"]["key"].endswith("site.key")


def _refused(capsys: pytest.CaptureFixture[str], status_code: int, *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == status_code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    return captured.err


def test_mistakes_exit_2_and_write_nothing(pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for action in (["create"], ["status"], ["import", "x.csv"]):
        err = _refused(capsys, 2, "fleet", *action, "--store", "sqlite.db")
        assert "--store must be a postgresql:// URL" in err and "'sqlite.db'" in err
    assert "--store must be" in _refused(capsys, 2, "worker", "--store", "sqlite:///f.db")

    good = write_csv(tmp_path, ["site-a,,,", "site-b,,,"])
    err = _refused(capsys, 2, "fleet", "import", "--store", pg_dsn, str(good))
    assert "the fleet has no slots: create it first (fleetven fleet create)" in err
    assert fetch(pg_dsn, "SELECT * FROM fleetven.identities") == []

    assert fleet("create", "--store", pg_dsn, "--slots", str(SLOTS)) == 0
    duplicate = write_csv(tmp_path, ["site-a,,,", "site-x,,,", "site-a,,,"], "dup.csv")
    err = _refused(capsys, 2, "fleet", "import", "--store", pg_dsn, str(duplicate))
    assert "dup.csv:4: ven_name: the VEN name 'site-a' is already used at" in err
    half = write_csv(tmp_path, ["site-y,,site.pem,"], "half.csv")
    err = _refused(capsys, 2, "fleet", "import", "--store", pg_dsn, str(half))
    assert "half.csv:2: key: empty, but the row has a cert" in err
    assert fetch(pg_dsn, "SELECT * FROM fleetven.identities") == []  # not even the good rows

    err = _refused(capsys, 2, "fleet", "create", "--store", pg_dsn, "--slots", str(SLOTS * 2))
    assert f"the fleet has {SLOTS} slots; its slot count cannot change to {SLOTS * 2}" in err
    broken = tmp_path / "broken.toml"
    broken.write_text('[vtn]\nurl = "http://127.0.0.1:1/OpenADR2/Simple/2.0b"\n[fleet\npoll_interval = "1s"\n')
    err = _refused(capsys, 2, "fleet", "create", "--store", pg_dsn, "--slots", str(SLOTS), "--config", str(broken))
    assert "broken.toml" in err
    assert fetch(pg_dsn, "SELECT count(*) AS n FROM fleetven.slots")[0]["n"] == SLOTS
    assert fetch(pg_dsn, "SELECT * FROM fleetven.meta WHERE key LIKE 'config%'") == []
    assert fetch(pg_dsn, "SELECT * FROM fleetven.identities") == []

    # Without any configuration kept, a worker needs --config.
    err = _refused(capsys, 2, "worker", "--store", pg_dsn, *TIMING)
    assert "give --config" in err


def test_unreachable_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = "postgresql://127.0.0.1:1/x"
    for args in (["fleet", "create", "--store", dsn], ["fleet", "status", "--store", dsn],
                 ["fleet", "import", "--store", dsn, str(write_csv(tmp_path, ["site-a,,,"]))],
                 ["worker", "--store", dsn]):
        err = _refused(capsys, 1, *args)
        assert err.startswith(f"fleetven {' '.join(args[:2]) if args[0] == 'fleet' else 'worker'}: ")
        assert "cannot connect to the PostgreSQL store" in err, err
    # A lease the timing cannot keep is a usage error, found before connecting.
    err = _refused(capsys, 2, "worker", "--store", dsn, "--lease", "1s")
    assert "must be less than the lease (1.0) - margin (3.0)" in err


@pytest.mark.one_loop
async def test_worker_runs_the_configuration_kept(pg_dsn: str, tmp_path: Path) -> None:
    names = [f"site-{i:02d}" for i in range(12)]
    csv = write_csv(tmp_path, [f"{n},,," for n in names])
    async with TestVTN(poll_freq=timedelta(seconds=1)) as vtn:
        config = tmp_path / "fleet.toml"
        config.write_text(f'[vtn]\nurl = "{vtn.url}"\n[fleet]\npoll_interval = "1s"\n')
        for args in (["create", "--store", pg_dsn, "--slots", str(SLOTS), "--config", str(config)],
                     ["import", "--store", pg_dsn, str(csv)]):
            code = await asyncio.to_thread(fleet, *args)  # main runs a loop of its own
            assert code == 0
        config.unlink()  # the worker reads the configuration kept in the database
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleetven", "worker", "--store", pg_dsn, "--name", "w1", *TIMING,
            "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--log-format", "json", "--summary-interval", "0",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert proc.stdout is not None
        reader, port, lines = watch_metrics_port(proc.stdout)
        try:
            metrics_port = await asyncio.wait_for(port, DEADLINE)
            await vtn.wait_for(lambda: {m.ven_name for _, m in vtn.registrations} == set(names), timeout=DEADLINE)
            held = f'fleetven_worker_slots{{state="held"}} {float(SLOTS)}'
            text = await scrape_until(metrics_port, held, timeout=DEADLINE)
            assert f"fleetven_worker_vens {float(len(names))}" in text
            running = await asyncio.to_thread(_status_json, pg_dsn)
            assert running["workers"]["w1"]["slots"] == SLOTS and running["free"] == 0
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), DEADLINE)
            await asyncio.wait_for(reader, DEADLINE)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            reader.cancel()
    log = b"".join(lines).decode(errors="replace")
    assert code == 0, log
    assert len(vtn.registrations) == len(names), log  # each VEN registered once
    after = await asyncio.to_thread(_status_json, pg_dsn)
    assert (after["free"], after["expired"], after["unowned_vens"]) == (SLOTS, 0, len(names)), after
    assert after["workers"] == {}, after  # no heartbeat left behind


def _status_json(dsn: str) -> dict[str, Any]:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert fleet("status", "--store", dsn, "--json") == 0
    got: dict[str, Any] = json.loads(out.getvalue())
    return got
