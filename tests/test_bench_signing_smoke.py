"""Smoke test of ``bench/bench_signing.py``: a ``--quick`` run writes every row and every target check.

No timing is asserted: only that the benchmark runs, measures every contender it
should (each signer's output was verified before timing, each verifier accepted
the document), and says why when one is unavailable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fleetven._fast

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "bench_signing.py"

ALGORITHMS = ["RSA-2048", "ECDSA-P256"]
CASES = ["oadrPoll", "distribute_1_event", "distribute_10_events"]
SIGN = [
    "fleetven compiled",
    "fleetven pure",
    "fleetven compiled, build included",
    "signxml XMLSigner",
    "openleadr create_message",
    "raw cryptography sign",
]
VERIFY = [
    "fleetven compiled",
    "fleetven pure",
    "fleetven compiled, from bytes (verify_message)",
    "signxml XMLVerifier",
    "signxml XMLVerifier, from bytes",
    "openleadr validate_xml_signature",
    "raw cryptography verify",
    "fleetven compiled c14n of the object",
    "sha256 of the object",
    "floor in context: c14n + sha256 + raw verify",
]
COMPILED_ROWS = {
    "fleetven compiled",
    "fleetven compiled, build included",
    "fleetven compiled, from bytes (verify_message)",
    "fleetven compiled c14n of the object",
    "floor in context: c14n + sha256 + raw verify",
}


@pytest.mark.timeout(900)
def test_quick_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "signing.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--batches", "1", "--min-batch-ms", "0.5", "--json", str(out)],
        cwd=tmp_path,  # the script must not depend on the working directory
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    compiled = fleetven._fast.SIG_COMPILED
    # the targets are those of the compiled path: judged when it is there, "n/a" in a pure build
    assert ("PASS" in proc.stdout or "MISS" in proc.stdout) is compiled, proc.stdout
    assert data["machine"]["fleetven_compiled_loaded"] is compiled

    got = [(r["group"], r["algorithm"], r["case"], r["contender"]) for r in data["rows"]]
    want = [
        (group, alg, case, name)
        for alg in ALGORITHMS
        for case in CASES
        for group, names in (("sign", SIGN), ("verify", VERIFY))
        for name in names
    ]
    assert got == want
    for row in data["rows"]:
        expected = compiled if row["contender"] in COMPILED_ROWS else True
        assert row["available"] is expected, row
        if row["available"]:
            assert row["median_ns"] > 0 and row["loops"] >= 1 and row["batches"] == 1, row
        else:
            assert row["reason"], row

    targets = data["targets"]
    # per algorithm: sign poll, verify, two informational verify budgets, two paired budgets; per case
    # three ratios and the ceilings of the two signing ratios
    assert len(targets) == len(ALGORITHMS) * (6 + 5 * len(CASES))
    paired = [t for t in targets if t["check"].startswith("(info) paired")]
    assert len(paired) == 2 * len(ALGORITHMS)
    assert all((t["value"] is not None) is compiled for t in paired), paired
    for entry in targets:
        if entry["value"] is None or entry["limit"] is None:
            assert entry["pass"] is None and entry["reason"], entry
        else:
            assert entry["pass"] in (True, False), entry
