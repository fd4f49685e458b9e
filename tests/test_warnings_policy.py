"""The suite's warning filters (pyproject.toml's ``filterwarnings``) do what they say.

A deprecation raised by a third-party package, about itself or about another third-party
package, is shown and counted but fails nothing; the same warning with fleetven's code as
the caller is an error, and so is every other warning and an unclosed resource. Each case
runs a small suite in its own pytest process with the project's filters copied verbatim,
so changing the filters in pyproject.toml changes what these tests see.
"""

from __future__ import annotations

import json
import textwrap
import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
FILTERS: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
    "filterwarnings"
]

# Stands in for a third-party package: it warns about itself when imported (stacklevel=1,
# the module is its own), and its old() warns its caller (stacklevel=2).
VENDORLIB = """
import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.warn("vendorlib 2 drops this module", DeprecationWarning, stacklevel=1)
warnings.warn("DSA is deprecated (as cryptography 51 says it)", CryptographyDeprecationWarning, stacklevel=1)


def old():
    warnings.warn("old() is deprecated, use new()", DeprecationWarning, stacklevel=2)
    return 1
"""

# A second third-party package that calls the first one's deprecated API.
OTHERLIB = """
import vendorlib

VALUE = vendorlib.old()
"""


def _as_fleetven(source: str) -> str:
    """Code that runs ``source`` as if it were the module ``fleetven.fake`` (its warnings' module)."""
    return f"exec({textwrap.dedent(source)!r}, {{'__name__': 'fleetven.fake'}})\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    lines = "".join(f"    {json.dumps(f)},\n" for f in FILTERS)  # a TOML basic string, escapes as in JSON
    pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\nfilterwarnings = [\n{lines}]\n")
    pytester.makepyfile(vendorlib=VENDORLIB, otherlib=OTHERLIB)
    pytester.syspathinsert()
    return pytester


def test_the_filters_are_the_projects_and_end_with_fleetvens_own() -> None:
    """Guards the reading above: the filters exist, errors come first and fleetven's lines last."""
    assert FILTERS[0] == "error"
    assert any(f.startswith("default::DeprecationWarning") for f in FILTERS)
    assert FILTERS[-1].startswith("error::") and "fleetven" in FILTERS[-1]


def test_third_party_deprecations_at_import_are_shown_and_counted_not_failed(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_imports="""
        import otherlib  # imports vendorlib: two warnings at import, one from otherlib calling old()

        def test_value():
            assert otherlib.VALUE == 1
        """
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=3)
    result.stdout.fnmatch_lines(
        [
            "*vendorlib.py*DeprecationWarning: vendorlib 2 drops this module*",
            "*vendorlib.py*CryptographyDeprecationWarning: DSA is deprecated*",
            "*otherlib.py*DeprecationWarning: old() is deprecated*",
        ]
    )


def test_a_deprecation_raised_from_fleetven_fails_collection(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_ours=_as_fleetven(
            """
            import warnings
            warnings.warn("fleetven calls a deprecated API", DeprecationWarning, stacklevel=1)
            """
        )
        + "def test_never_runs():\n    pass\n"
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*DeprecationWarning: fleetven calls a deprecated API*"])


def test_fleetven_calling_a_deprecated_third_party_api_fails(suite: pytest.Pytester) -> None:
    """The warning names fleetven as the caller (stacklevel=2), so it is fleetven's to fix."""
    suite.makepyfile(
        test_calls=_as_fleetven(
            """
            import vendorlib
            VALUE = vendorlib.old()
            """
        )
        + "def test_never_runs():\n    pass\n"
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*DeprecationWarning: old() is deprecated*"])


def test_a_cryptography_deprecation_from_fleetven_fails(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_crypto="""
        import warnings

        from cryptography.utils import CryptographyDeprecationWarning

        def test_it():
            exec(
                "warnings.warn('fleetven uses a deprecated key type', W, stacklevel=1)",
                {"__name__": "fleetven.sign", "warnings": warnings, "W": CryptographyDeprecationWarning},
            )
        """
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CryptographyDeprecationWarning: fleetven uses a deprecated key type*"])


def test_other_warnings_and_unclosed_resources_stay_errors(suite: pytest.Pytester) -> None:
    """Only deprecations are relaxed, and only from third-party code: a UserWarning from a
    third-party module and a file left open in a test still fail."""
    suite.makepyfile(
        noisylib="""
        import warnings

        def go():
            warnings.warn("something odd", UserWarning, stacklevel=1)
        """,
        test_rest="""
        import gc

        import noisylib

        def test_user_warning():
            noisylib.go()

        def test_unclosed_file(tmp_path):
            handle = open(tmp_path / "f", "w")
            del handle
            gc.collect()
        """,
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*UserWarning: something odd*", "*ResourceWarning*unclosed file*"])
