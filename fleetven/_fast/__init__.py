"""Compiled hot paths, each with its pure-Python twin; this module is the one that picks.

``FLEETVEN_NO_EXTENSIONS=1`` (any non-empty value) selects the pure-Python
twins at import time, and makes ``setup.py`` build none. Without it the
compiled modules are used when they import; a test fails when one was expected
but is missing, so a silent fallback never goes unnoticed.

Product modules import what they need from here, never from a twin module
(``_<name>_c`` / ``_<name>_py``) directly:

* ``extract``: the message extractor (``_extract_c`` / ``_extract_py``), for
  :mod:`fleetven.messages.parse`;
* ``event``: writes the ``oadrEvent`` elements of an ``oadrDistributeEvent``
  (``_build_c`` / ``_build_py``), for :mod:`fleetven.messages.build`;
* ``Timer``, ``TimerWheel``: the shared scheduler (``_wheel_c`` / ``_wheel_py``),
  for :mod:`fleetven.timerwheel`;
* ``http``, ``Connection``, ``Call``: the HTTP/1.1 client protocol of
  :mod:`fleetven.http.transport` (the pooled connection and the callback request) of
  ``_http_c`` or ``_http_py``; both share ``_http_py``'s exceptions and sentinels
  (``Callback``, ``Closed``, ``Lost``, ``Malformed``, ``TooLarge``, ``SLOT``, ``EARLY``,
  ``HEAD_CACHE``) and its protocols :class:`Pool` (what a connection needs of its owner) and
  :class:`Waiter`;
* ``c14n``, ``seal``, ``inspect_signed``, ``Signed``, ``Stamps``, ``sig``: the XML
  signature hot path (``_sig_c`` / ``_sig_py``), for :mod:`fleetven.signing`. ``Signed``
  is the same class whichever twin is in use (the compiled one returns the pure module's
  ``Signed``); ``sig`` is the signature module in use, for the rest of its API.

Each twin has a flag, true when its compiled module is the one in use:
``EXTRACT_COMPILED``, ``BUILD_COMPILED``, ``WHEEL_COMPILED``, ``HTTP_COMPILED``,
``SIG_COMPILED``; ``COMPILED`` is true when they all are.

No module of this package imports :mod:`fleetven.messages` or :mod:`fleetven.http`
at run time: the twins build on :mod:`fleetven.openadr` and :mod:`fleetven.exceptions` only.
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
    missing (``tests/test_package.py`` fails when that happens unasked).

    Used by this module only: everything else imports the names picked below."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(f"{__name__}._{name}_c"), True
        except ImportError:
            pass
    return importlib.import_module(f"{__name__}._{name}_py"), False


__all__ = (
    "BUILD_COMPILED",
    "COMPILED",
    "EARLY",
    "EXTRACT_COMPILED",
    "HEAD_CACHE",
    "HTTP_COMPILED",
    "NO_EXTENSIONS",
    "SIG_COMPILED",
    "SLOT",
    "WHEEL_COMPILED",
    "Call",
    "Callback",
    "Closed",
    "Connection",
    "Lost",
    "Malformed",
    "Pool",
    "Signed",
    "Stamps",
    "Timer",
    "TimerWheel",
    "TooLarge",
    "Waiter",
    "c14n",
    "event",
    "extract",
    "http",
    "inspect_signed",
    "seal",
    "twin",
)

#: True when the compiled extractor is the one in use.
EXTRACT_COMPILED: bool
#: True when the compiled ``oadrEvent`` builder is the one in use.
BUILD_COMPILED: bool
#: True when the compiled timer wheel is the one in use.
WHEEL_COMPILED: bool
#: True when the compiled HTTP client protocol is the one in use.
HTTP_COMPILED: bool
#: The HTTP client protocol module in use (``_http_c`` or ``_http_py``).
http: ModuleType

# ------------------------------------------------------------------ extract, build, wheel, http

# The twins' shared vocabulary is the pure HTTP module's, whichever twin is in use.
from fleetven._fast._http_py import (  # noqa: E402
    EARLY,
    HEAD_CACHE,
    SLOT,
    Callback,
    Closed,
    Lost,
    Malformed,
    Pool,
    TooLarge,
    Waiter,
)

if TYPE_CHECKING:  # the pure twins' signatures are the ones both twins have
    from fleetven._fast import _http_py as http
    from fleetven._fast._build_py import event
    from fleetven._fast._extract_py import extract
    from fleetven._fast._http_py import Call, Connection
    from fleetven._fast._wheel_py import Timer, TimerWheel

    EXTRACT_COMPILED = BUILD_COMPILED = WHEEL_COMPILED = HTTP_COMPILED = False
else:
    _module, EXTRACT_COMPILED = twin("extract")
    extract = _module.extract
    _module, BUILD_COMPILED = twin("build")
    event = _module.event
    _module, WHEEL_COMPILED = twin("wheel")
    Timer, TimerWheel = _module.Timer, _module.TimerWheel
    http, HTTP_COMPILED = twin("http")
    Connection, Call = http.Connection, http.Call
    del _module

# ------------------------------------------------------------------ signature (c14n, seal, inspect_signed)
# Owned by the signing work: names of the signature twin that product modules need go here.

#: True when the compiled signature module is the one in use.
SIG_COMPILED: bool
#: The signature module in use (``_sig_c`` or ``_sig_py``), for the rest of its API
#: (``ecdsa_raw``, ``ecdsa_der``, ``timestamp``, ``epoch``, ``DIGEST_METHODS``, ``SIGNATURE_METHODS``).
sig: ModuleType

from fleetven._fast._sig_py import Signed  # noqa: E402  (one class whichever twin is in use)

if TYPE_CHECKING:
    from fleetven._fast import _sig_py as sig
    from fleetven._fast._sig_py import Stamps, c14n, inspect_signed, seal

    SIG_COMPILED = False
else:
    sig, SIG_COMPILED = twin("sig")
    c14n, inspect_signed, seal, Stamps = sig.c14n, sig.inspect_signed, sig.seal, sig.Stamps

# ------------------------------------------------------------------ all twins

#: True when every compiled module is the one in use.
COMPILED: bool = EXTRACT_COMPILED and BUILD_COMPILED and WHEEL_COMPILED and HTTP_COMPILED and SIG_COMPILED
