"""Smoke tests of ``bench/bench_histogram.py`` and ``bench/bench_http_parser.py``: a ``--quick`` run
measures every contender of every case (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPT = BENCH / "bench_histogram.py"


def test_quick_run_measures_the_recorder_and_the_public_api(tmp_path: Path) -> None:
    out = tmp_path / "histogram.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert list(data["operations"]) == ["record", "figures", "clear"]
    for operation in data["operations"].values():
        assert len(operation["contenders"]) == 2
        assert all(c["median_ns"] > 0 and c["batches"] == 3 for c in operation["contenders"].values())
        assert operation["public_over_fleetven"] > 0
    assert "public/fleetven" in proc.stdout


def test_quick_run_times_every_parser_on_every_answer(tmp_path: Path) -> None:
    import fleetven._fast

    out = tmp_path / "parser.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_http_parser.py"), "--quick", "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = json.loads(out.read_text(encoding="utf-8"))["cases"]
    twins = ["compiled", "pure"] if fleetven._fast.COMPILED else ["pure"]
    names = [f"fleetven {t}{s}" for t in twins for s in ("", ", head not cached")] + ["httptools (llhttp)"]
    by_case: dict[str, list[str]] = {}
    for row in cases:
        by_case.setdefault(row["case"], []).append(row["contender"])
        assert row["median_ns"] > 0 and row["batches"] == 3, row
    assert len(by_case) == 4 and all(found == names for found in by_case.values()), by_case
