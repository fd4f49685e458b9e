"""Compiled hot paths, each with its pure-Python twin.

``FLEETVEN_NO_EXTENSIONS=1`` (any non-empty value) selects the pure-Python
twins at import time, and makes ``setup.py`` build none. Without it the
compiled module is used when it imports; a test fails when it was expected
but is missing, so a silent fallback never goes unnoticed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ("COMPILED", "NO_EXTENSIONS", "extract")

#: True when ``FLEETVEN_NO_EXTENSIONS`` asks for the pure-Python twins.
NO_EXTENSIONS: bool = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))

#: True when the compiled extractor is the one in use.
COMPILED: bool

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._extract_py import extract

    COMPILED = False
else:
    try:
        from ._extract_c import extract

        COMPILED = True
    except ImportError:  # tests/test_package.py fails when this happens unasked
        from ._extract_py import extract

        COMPILED = False
