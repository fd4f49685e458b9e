"""Compiled hot paths, each with its pure-Python twin.

``FLEETVEN_NO_EXTENSIONS=1`` (any non-empty value) selects the pure-Python
twins at import time, and makes ``setup.py`` build none. Without it the
compiled modules are used when they import; a test fails when one was expected
but is missing, so a silent fallback never goes unnoticed.

* ``extract``: the message extractor (``_extract_c`` / ``_extract_py``);
* ``c14n``, ``seal``, ``inspect_signed``, ``Signed``, ``Stamps``: the XML signature hot
  path (``_sig_c`` / ``_sig_py``). ``Signed`` is the same class whichever twin
  is in use (the compiled one returns the pure module's ``Signed``). ``sig`` is
  the signature module in use, for the rest of its API (``ecdsa_raw``,
  ``ecdsa_der``, ``timestamp``, ``epoch``, ``DIGEST_METHODS``, ``SIGNATURE_METHODS``):
  :mod:`fleetven.signing` reaches the twins through this module only.
* ``http``: the HTTP/1.1 client protocol of :mod:`fleetven.http.transport` (the pooled
  connection and the callback request), the module ``_http_c`` or ``_http_py``; both
  share ``_http_py``'s exceptions and sentinels.
* ``build``: the ``ei:interval`` elements of event signals, written by
  :mod:`fleetven.messages.build` (``_build_c`` / ``_build_py``); picked there
  (``fleetven.messages.build.BUILD_COMPILED``), not exported here.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING

#: True when ``FLEETVEN_NO_EXTENSIONS`` asks for the pure-Python twins.
NO_EXTENSIONS: bool = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))


def twin(name: str) -> tuple[ModuleType, bool]:
    """The compiled module ``fleetven._fast._<name>_c`` and ``True``; or its pure twin
    ``_<name>_py`` and ``False`` when ``FLEETVEN_NO_EXTENSIONS`` is set or the compiled one is
    missing (``tests/test_package.py`` fails when that happens unasked)."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(f"{__name__}._{name}_c"), True
        except ImportError:
            pass
    return importlib.import_module(f"{__name__}._{name}_py"), False


# Defined before the twins are imported: fleetven.messages.build, which the signature twin's imports reach,
# picks its own twin with twin() while this module is still being imported.
from fleetven._fast._sig_py import Signed  # noqa: E402

__all__ = (
    "COMPILED",
    "EXTRACT_COMPILED",
    "HTTP_COMPILED",
    "NO_EXTENSIONS",
    "SIG_COMPILED",
    "Signed",
    "Stamps",
    "c14n",
    "extract",
    "http",
    "inspect_signed",
    "seal",
    "sig",
    "twin",
)

#: True when the compiled extractor is the one in use.
EXTRACT_COMPILED: bool
#: True when the compiled signature module is the one in use.
SIG_COMPILED: bool
#: The signature module in use (``_sig_c`` or ``_sig_py``).
sig: ModuleType

#: True when the compiled HTTP client protocol is the one in use.
HTTP_COMPILED: bool
#: The HTTP client protocol module in use (``_http_c`` or ``_http_py``).
http: ModuleType


if TYPE_CHECKING:  # the pure twins' signatures are the ones both twins have
    from fleetven._fast import _http_py as http
    from fleetven._fast import _sig_py as sig
    from fleetven._fast._extract_py import extract
    from fleetven._fast._sig_py import Stamps, c14n, inspect_signed, seal

    EXTRACT_COMPILED = SIG_COMPILED = HTTP_COMPILED = False
else:
    _module, EXTRACT_COMPILED = twin("extract")
    extract = _module.extract
    sig, SIG_COMPILED = twin("sig")
    c14n, inspect_signed, seal, Stamps = sig.c14n, sig.inspect_signed, sig.seal, sig.Stamps
    http, HTTP_COMPILED = twin("http")
    del _module

#: True when every compiled module is the one in use.
COMPILED: bool = EXTRACT_COMPILED and SIG_COMPILED and HTTP_COMPILED
