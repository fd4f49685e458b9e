"""Smoke test of ``bench/bench_codec.py``: a ``--quick`` run writes every row of the table.

No timing is asserted: only that the benchmark runs, measures every contender it
should, and says why when one is unavailable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import fleetven._fast

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "bench_codec.py"

EXTRACT_CASES = ["distribute_1_event", "distribute_10_events"]
EXTRACT_CONTENDERS = [
    "fleetven compiled",
    "fleetven pure",
    "openleadr parse_message",
    "lxml fromstring",
    "fleetven parse_document only",
    "fleetven compiled extract only",
    "fleetven pure extract only",
]
BUILD_CASES = ["oadrPoll", "oadrCreatedEvent_10", "oadrUpdateReport_12"]
BUILD_CONTENDERS = ["fleetven build_message", "openleadr create_message"]
COMPILED_ROWS = {"fleetven compiled", "fleetven compiled extract only"}


def _run(tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "codec.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        cwd=tmp_path,  # the script must not depend on the working directory
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout or "MISS" in proc.stdout, proc.stdout
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def test_quick_run_writes_every_row(tmp_path: Path) -> None:
    data = _run(tmp_path)
    compiled = fleetven._fast.COMPILED

    assert data["machine"]["fleetven_compiled_loaded"] is compiled
    assert data["machine"]["cores"] >= 1

    extract = [(row["case"], row["contender"]) for row in data["extract"]]
    assert extract == [(case, name) for case in EXTRACT_CASES for name in EXTRACT_CONTENDERS]
    for row in data["extract"]:
        expected = compiled if row["contender"] in COMPILED_ROWS else True
        assert row["available"] is expected, row
        if row["available"]:
            assert row["median_ns"] > 0 and row["loops"] >= 1 and row["batches"] == 3, row
        else:
            assert row["reason"], row

    build = [(row["case"], row["contender"]) for row in data["build"]]
    assert build == [(case, name) for case in BUILD_CASES for name in BUILD_CONTENDERS]
    assert all(row["available"] and row["median_ns"] > 0 for row in data["build"]), data["build"]

    for case in EXTRACT_CASES:
        info = data["inputs"]["extract"][case]
        read_back = set(info["read_back_by"])
        assert {"oadr_20b.xsd", "openleadr parse_message", "fleetven pure"} <= read_back, info
        assert ("fleetven compiled" in read_back) is compiled, info
    for case in BUILD_CASES:
        assert data["inputs"]["build"][case]["fleetven_schema_valid"] is True, case

    ratios = data["ratios"]
    assert len(ratios) == 4 * len(EXTRACT_CASES) + len(BUILD_CASES)
    targeted = [entry for entry in ratios if entry["target"] is not None]
    assert len(targeted) == 2 * len(EXTRACT_CASES) + len(BUILD_CASES)
    for entry in targeted:
        if entry["value"] is None:
            assert entry["pass"] is None and entry["reason"], entry
        else:
            assert entry["pass"] in (True, False), entry
