"""Smoke test of ``bench/bench_fleet.py``: a ``--quick`` run writes a row per contender,
against fleetven's TestVTN and (``--vtn openleadr``) against OpenLEADR's own VTN.

No timing is asserted: only that the benchmark runs every contender against its
VTN process, that every VEN registered and answered the event in quick mode,
and that every figure of the table and every target of issues 3, 4 and 17 (signed fleets) is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "bench_fleet.py"
QUICK_N = 200
CONTENDERS = ["fleetven", "openleadr"]
FIGURES = [
    "cpu_per_poll_us",
    "cpu_per_poll_raw_us",
    "rss_per_ven_kb",
    "connections_max",
    "register_s",
    "event_median_s",
    "event_all_s",
    "steady_polls",
    "steady_cpu_share",
    "steady_vtn_cpu_share",
    "register_vtn_cpu_share",
    "event_cpu_share",
    "event_vtn_cpu_share",
    "steady_wakeups_per_s",
]
TARGETS = {
    "client CPU per poll",
    "RSS per idle VEN",
    "TCP connections",
    f"all {QUICK_N:,} registered",
    "every VEN's answer",
    "loop lag p99",
}
SIGNED_TARGETS = {
    f"signed poll CPU, N = {QUICK_N:,}",
    "(info) raw ECDSA sign inside it",
    f"signed loop lag p99, N = {QUICK_N:,}",
    f"signed request, N = {QUICK_N:,}",
    f"signed answer, N = {QUICK_N:,}",
    "VENs signed both ways on one core, 2 s poll",
}
SIGNED = ["fleetven-signed", "fleetven-signed-both"]


def _run(tmp_path: Path, *extra: str) -> tuple[dict[str, Any], str]:
    out = tmp_path / "fleet.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", *extra, "--json", str(out)],
        cwd=tmp_path,  # the script must not depend on the working directory
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data, proc.stdout


def test_quick_run_registers_and_answers_everywhere(tmp_path: Path) -> None:
    data, stdout = _run(tmp_path, "--contenders", ",".join([*CONTENDERS, *SIGNED]))

    assert data["quick"] is True
    assert data["sizes"] == [QUICK_N]
    assert data["machine"]["cores"] >= 1
    assert "client CPU per poll" in stdout

    rows = {(row["contender"], row["n"]): row for row in data["rows"]}
    assert sorted(rows) == sorted((c, QUICK_N) for c in [*CONTENDERS, *SIGNED])
    for key, row in rows.items():
        assert "error" not in row, (key, row.get("error"))
        assert row["registered"] == QUICK_N, key
        assert row["gave_up"] == 0, key
        assert row["vtn_registrations"] >= QUICK_N, key
        assert row["event_issued"] == QUICK_N, key
        assert row["event_answered"] == QUICK_N, key
        assert row["event_opt"] == {"optIn": QUICK_N}, key
        assert row["steady_polls"] > 0, key
        assert row["connections_max"] >= 1, key
        assert row["lag"]["p99_ms"] is not None, key
        for figure in FIGURES:
            assert isinstance(row[figure], int | float), (key, figure)
        assert row["steady_vtn_cpu_share"] > 0, key  # the VTN process's own CPU, read from /proc
        assert set(row["gc"]) <= {"idle", "register", "steady", "event"}, key

    # OpenLEADR opens one session, so one connection, per client.
    assert rows[("openleadr", QUICK_N)]["connections_max"] == QUICK_N
    # Every signed poll went through the timed raw sign; only the signed rows have the figure. Only
    # where the VTN signs its answers did the fleet verify any (the VTN's own verifying is in its process).
    for contender in SIGNED:
        row = rows[(contender, QUICK_N)]
        assert row["raw_sign_us_per_poll"] > 0, contender
        assert row["raw_sign_loop_us"] > 0 and row["raw_verify_loop_us"] > 0, contender
        assert row["vtn_errors"] == 0, contender
    assert rows[("fleetven-signed", QUICK_N)]["raw_verify_us_per_poll"] == 0
    assert rows[("fleetven-signed-both", QUICK_N)]["raw_verify_us_per_poll"] > 0
    assert "raw_sign_us_per_poll" not in rows[("fleetven", QUICK_N)]

    verdicts = {v["target"]: v["result"] for v in data["targets"]}
    assert set(verdicts) == TARGETS | SIGNED_TARGETS
    info = {t for t in SIGNED_TARGETS if t.startswith("(info)")}
    assert {verdicts[t] for t in set(verdicts) - info} <= {"PASS", "MISS"}
    assert {verdicts[t] for t in info} == {""}


def test_profile_splits_each_phase_by_stage_and_draws_its_flame_graph(tmp_path: Path) -> None:
    data, stdout = _run(tmp_path, "--contenders", "fleetven", "--profile", str(tmp_path / "profiles"))
    row = data["rows"][0]
    assert "error" not in row and row["event_answered"] == QUICK_N
    for phase in ("steady", "event"):
        profile = row[f"profile_{phase}"]
        assert profile["samples"] > 0, phase
        shares = profile["stages"]
        busy = sum(v for k, v in shares.items() if k != "idle")
        # 200 VENs barely use the core: a short window may hold no busy sample at all
        assert abs(busy - 1.0) < 1e-9 or (busy == 0.0 and shares["idle"] == 1.0), (phase, shares)
        svg = Path(profile["flamegraph"])
        assert svg.parent == tmp_path / "profiles" and svg.suffix == ".svg"
        assert "<rect" in svg.read_text(encoding="utf-8")
        assert svg.with_suffix(".txt").stat().st_size > 0
    assert "Profile: share of the client's busy samples by stage" in stdout


def test_quick_run_against_openleadrs_vtn(tmp_path: Path) -> None:
    data, stdout = _run(tmp_path, "--vtn", "openleadr")

    assert data["vtn"] == "openleadr"
    assert data["sizes"] == [QUICK_N]
    assert "OpenLEADR's VTN" in stdout
    rows = {(row["contender"], row["n"]): row for row in data["rows"]}
    assert sorted(rows) == sorted((c, QUICK_N) for c in CONTENDERS)
    for key, row in rows.items():
        assert "error" not in row, (key, row.get("error"))
        assert row["registered"] == QUICK_N, key
        # Counted by the middleware on OpenLEADR's application: its registrations and polls.
        assert row["vtn_registrations"] >= QUICK_N, key
        assert row["steady_polls"] > 0, key
        assert row["event_issued"] == QUICK_N, key
        assert row["event_answered"] == QUICK_N, key
        assert row["event_opt"] == {"optIn": QUICK_N}, key
        assert isinstance(row["vtn_errors"], int), key
        for figure in FIGURES:
            assert isinstance(row[figure], int | float), (key, figure)
