"""Compiled hot paths, each with its pure-Python twin.

``FLEETVEN_NO_EXTENSIONS=1`` (any non-empty value) selects the pure-Python
twins at import time, and makes ``setup.py`` build none. Without it the
compiled modules are used when they import; a test fails when one was expected
but is missing, so a silent fallback never goes unnoticed.

* ``extract``: the message extractor (``_extract_c`` / ``_extract_py``);
* ``c14n``, ``seal``, ``inspect_signed``, ``Signed``: the XML signature hot
  path (``_sig_c`` / ``_sig_py``). ``Signed`` is the same class whichever twin
  is in use (the compiled one returns the pure module's ``Signed``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._sig_py import Signed

__all__ = (
    "COMPILED",
    "EXTRACT_COMPILED",
    "NO_EXTENSIONS",
    "SIG_COMPILED",
    "Signed",
    "c14n",
    "extract",
    "inspect_signed",
    "seal",
)

#: True when ``FLEETVEN_NO_EXTENSIONS`` asks for the pure-Python twins.
NO_EXTENSIONS: bool = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))

#: True when the compiled extractor is the one in use.
EXTRACT_COMPILED: bool
#: True when the compiled signature module is the one in use.
SIG_COMPILED: bool

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._extract_py import extract

    EXTRACT_COMPILED = False
else:
    try:
        from ._extract_c import extract

        EXTRACT_COMPILED = True
    except ImportError:  # tests/test_package.py fails when this happens unasked
        from ._extract_py import extract

        EXTRACT_COMPILED = False

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._sig_py import c14n, inspect_signed, seal

    SIG_COMPILED = False
else:
    try:
        from ._sig_c import c14n, inspect_signed, seal

        SIG_COMPILED = True
    except ImportError:  # tests/test_package.py fails when this happens unasked
        from ._sig_py import c14n, inspect_signed, seal

        SIG_COMPILED = False

#: True when every compiled module is the one in use.
COMPILED: bool = EXTRACT_COMPILED and SIG_COMPILED
