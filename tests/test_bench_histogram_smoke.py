"""Smoke test of ``bench/bench_histogram.py``: a ``--quick`` run measures both sides of every
operation (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "bench_histogram.py"


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
