"""Smoke tests of ``bench/bench_histogram.py``, ``bench/bench_http_parser.py`` and ``bench/bench_wakeup.py``:
a ``--quick`` run measures every contender of every case (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _quick(script: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Run ``bench/<script> --quick --json`` from another directory: its JSON and its output."""
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--json", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data, proc.stdout


def test_quick_run_measures_the_recorder_and_the_public_api(tmp_path: Path) -> None:
    data, stdout = _quick("bench_histogram.py", tmp_path)
    assert list(data["operations"]) == ["record", "figures", "clear"]
    for operation in data["operations"].values():
        assert len(operation["contenders"]) == 2
        assert all(c["median_ns"] > 0 and c["batches"] == 3 for c in operation["contenders"].values())
        assert operation["public_over_fleetven"] > 0
    assert "public/fleetven" in stdout


def test_quick_run_times_every_parser_on_every_answer(tmp_path: Path) -> None:
    import fleetven._fast

    cases = _quick("bench_http_parser.py", tmp_path)[0]["cases"]
    twins = ["compiled", "pure"] if fleetven._fast.COMPILED else ["pure"]
    names = [f"fleetven {t}{s}" for t in twins for s in ("", ", head not cached")] + ["httptools (llhttp)"]
    by_case: dict[str, list[str]] = {}
    for row in cases:
        by_case.setdefault(row["case"], []).append(row["contender"])
        assert row["median_ns"] > 0 and row["batches"] == 3, row
    assert len(by_case) == 4 and all(found == names for found in by_case.values()), by_case


def test_quick_run_wakes_every_loop_at_every_rate(tmp_path: Path) -> None:
    data, stdout = _quick("bench_wakeup.py", tmp_path)
    rates = data["rates"]
    assert list(rates) == ["10", "50", "200", "1000"]
    for rate, entry in rates.items():
        assert set(entry) == {"uvloop", "asyncio"}, rate
        for loop_name, figures in entry.items():
            assert figures["cpu_us_per_wakeup"] > 0, (rate, loop_name)
            (run,) = figures["runs"]
            assert run["wakeups"] == int(int(rate) * 0.5), (rate, loop_name)  # every deadline was slept to
    assert "asyncio/uvloop" in stdout
