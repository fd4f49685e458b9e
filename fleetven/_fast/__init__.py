"""Compiled hot paths, each with its pure-Python twin.

``FLEETVEN_NO_EXTENSIONS=1`` (any non-empty value) selects the pure-Python
twins at import time, and makes ``setup.py`` build none.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ("NO_EXTENSIONS", "COMPILED", "extract")

NO_EXTENSIONS = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._extract_py import extract
else:
    try:
        from ._extract_c import extract
    except ImportError:  # a test asserts the compiled module is in use when it should be
        from ._extract_py import extract

#: True when the compiled extractor is the one in use.
COMPILED: bool = extract.__module__.endswith("_extract_c") if hasattr(extract, "__module__") else False
