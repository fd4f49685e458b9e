"""The package as installed: compiled modules, the pure build, metadata, docs."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import fleetven
import fleetven._fast

ROOT = Path(__file__).resolve().parents[1]
FAST_DIR = Path(fleetven._fast.__file__).resolve().parent


def _pure_env() -> dict[str, str]:
    env = dict(os.environ)
    env["FLEETVEN_NO_EXTENSIONS"] = "1"
    return env


def _compiled_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FLEETVEN_NO_EXTENSIONS", None)
    return env


@pytest.mark.skipif(fleetven._fast.NO_EXTENSIONS, reason="FLEETVEN_NO_EXTENSIONS is set: pure build")
def test_compiled_extractor_is_the_one_in_use() -> None:
    assert fleetven._fast.COMPILED, (
        "fleetven._fast fell back to the pure-Python extractor although FLEETVEN_NO_EXTENSIONS is unset: "
        "fleetven._fast._extract_c is missing or does not import; build it with `make test` "
        "(or `pip install --no-build-isolation -e .`)"
    )
    assert fleetven._fast.extract.__module__ == "fleetven._fast._extract_c"


@pytest.mark.skipif(fleetven._fast.NO_EXTENSIONS, reason="FLEETVEN_NO_EXTENSIONS is set: pure build")
def test_compiled_signature_twin_is_the_one_in_use() -> None:
    assert fleetven._fast.SIG_COMPILED, (
        "fleetven._fast fell back to the pure-Python signature twin although FLEETVEN_NO_EXTENSIONS is unset: "
        "fleetven._fast._sig_c is missing or does not import; build it with `make test` "
        "(or `pip install --no-build-isolation -e .`)"
    )
    for name in ("c14n", "seal", "inspect_signed"):
        assert getattr(fleetven._fast, name).__module__ == "fleetven._fast._sig_c", name
    assert fleetven._fast.Signed.__module__ == "fleetven._fast._sig_py"  # one class whichever twin runs


@pytest.mark.skipif(fleetven._fast.NO_EXTENSIONS, reason="FLEETVEN_NO_EXTENSIONS is set: pure build")
@pytest.mark.parametrize("pyx", sorted(p.name for p in FAST_DIR.glob("*.pyx")) or ["(none)"])
def test_every_pyx_is_compiled(pyx: str) -> None:
    if pyx == "(none)":
        pytest.fail(f"no .pyx source found in {FAST_DIR}: the compiled hot paths are missing")
    name = f"fleetven._fast.{pyx.removesuffix('.pyx')}"
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"{name} was not built or does not import: {exc}")
    assert Path(module.__file__ or "").suffix in {".so", ".pyd"}, f"{name} is not an extension module"


def test_no_extensions_imports_the_pure_signature_twin() -> None:
    code = (
        "import sys, fleetven._fast as f; "
        "print(f.SIG_COMPILED, f.seal.__module__, f.c14n.__module__, f.inspect_signed.__module__, "
        "'fleetven._fast._sig_c' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_pure_env(), capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["False", *["fleetven._fast._sig_py"] * 3, "False"]


def test_no_extensions_imports_the_pure_twin() -> None:
    code = (
        "import sys, fleetven._fast as f; "
        "print(f.NO_EXTENSIONS, f.COMPILED, f.extract.__module__, 'fleetven._fast._extract_c' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_pure_env(), capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["True", "False", "fleetven._fast._extract_py", "False"]


@pytest.mark.skipif(fleetven._fast.NO_EXTENSIONS, reason="FLEETVEN_NO_EXTENSIONS is set: pure build")
def test_without_the_variable_a_fresh_process_uses_the_compiled_twin() -> None:
    code = ("import fleetven._fast as f; "
            "print(f.NO_EXTENSIONS, f.COMPILED, f.extract.__module__, f.SIG_COMPILED, f.seal.__module__)")
    out = subprocess.run(
        [sys.executable, "-c", code], env=_compiled_env(), capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["False", "True", "fleetven._fast._extract_c", "True", "fleetven._fast._sig_c"]


def test_version_matches_installed_metadata() -> None:
    try:
        installed = importlib.metadata.version("fleetven")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("fleetven is not installed in this environment: run the suite with `make test`", pytrace=False)
    assert fleetven.__version__ == installed


def test_py_typed_ships() -> None:
    assert resources.files("fleetven").joinpath("py.typed").is_file()


def test_public_names_exist() -> None:
    missing = [name for name in fleetven.__all__ if not hasattr(fleetven, name)]
    assert not missing, f"fleetven.__all__ names that do not exist: {missing}"


@pytest.mark.docs
@pytest.mark.timeout(300)
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    """``sphinx-build -W`` over docs/: any warning fails the build and this test."""
    proc = subprocess.run(
        [
            sys.executable, "-m", "sphinx",
            "-W", "--keep-going", "-E", "-q",
            "-b", "html",
            "-d", str(tmp_path / "doctrees"),
            str(ROOT / "docs"), str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (tmp_path / "html" / "index.html").is_file()
