"""The code is lint-clean and type-clean: ruff and mypy run as part of the suite."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.quality


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT)


def test_ruff_finds_nothing() -> None:
    proc = _run("ruff", "check", "--no-cache", "fleetven", "tests", "bench")
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(600)
def test_mypy_finds_nothing() -> None:
    proc = _run("mypy", "fleetven")
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}\n{proc.stderr}"


def test_deptry_finds_nothing() -> None:
    """The runtime dependencies and extras in pyproject.toml are what fleetven/ imports."""
    proc = _run("deptry", "fleetven")
    assert proc.returncode == 0, f"deptry found problems:\n{proc.stdout}\n{proc.stderr}"


def test_deptry_would_catch_a_wrong_declaration(tmp_path: Path) -> None:
    """The same check on a pyproject.toml that is wrong in the three ways deptry is here for:
    an import that only arrives through another package (yarl, through aiohttp), a runtime
    dependency nothing imports (signxml), and a runtime import that only the test extra installs
    (openleadr, as before the demo extra)."""
    text = (ROOT / "pyproject.toml").read_text()
    for old, new in [
        ('    "yarl>=1.9",', ""),
        ('    "uvloop>=0.19",', '    "uvloop>=0.19",\n    "signxml>=4.0",'),
        ('    "openleadr==0.5.36",', ""),
    ]:
        assert old in text, f"pyproject.toml no longer has {old!r}: update this test"
        text = text.replace(old, new, 1)
    (tmp_path / "pyproject.toml").write_text(text)
    proc = _run("deptry", "fleetven", "--config", str(tmp_path / "pyproject.toml"), "--no-ansi")
    assert proc.returncode != 0
    found = proc.stdout + proc.stderr
    assert "DEP003 'yarl' imported but it is a transitive dependency" in found, found
    assert "DEP002 'signxml' defined as a dependency but not used" in found, found
    assert re.search(
        r"fleetven/app/demo\.py:\d+:\d+: DEP004 'openleadr' imported but declared as a dev dependency", found
    ), found
