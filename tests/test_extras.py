"""A part of fleetven whose package only an extra installs says which extra, when it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fleetven._extras import missing_extra


def _without_openleadr(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes every import of the package fail as if it were not installed.
    for name in [n for n in sys.modules if n == "openleadr" or n.startswith("openleadr.")] + ["openleadr"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_missing_extra_names_the_module_and_the_install_command() -> None:
    err = missing_extra("the thing", "demo", ModuleNotFoundError("No module named 'openleadr'", name="openleadr"))
    assert isinstance(err, ImportError)
    assert err.name == "openleadr"
    assert str(err) == "the thing needs openleadr, which is not installed: pip install 'fleetven[demo]'"


def test_openleadr_vtn_without_openleadr_names_the_demo_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetven.testing.openleadr import OpenLEADRVTN

    _without_openleadr(monkeypatch)
    with pytest.raises(ImportError, match=r"OpenLEADRVTN .* needs openleadr, .*pip install 'fleetven\[demo\]'") as info:
        OpenLEADRVTN()
    assert info.value.name == "openleadr"


def test_the_demo_without_openleadr_exits_with_the_install_command() -> None:
    code = (
        "import sys\nsys.modules['openleadr'] = None\n"
        "from fleetven.app.demo import main\nsys.exit(main(['--vens', '1']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "error: the demo (OpenLEADR VTN) needs openleadr, which is not installed: pip install 'fleetven[demo]'" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
