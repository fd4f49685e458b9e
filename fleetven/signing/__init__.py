"""XML signatures of OpenADR 2.0b messages, certificate fingerprints and replay protection.

Signing::

    from fleetven.signing.keys import KeyCache
    keys = KeyCache()                                   # one per fleet (a Fleet makes its own)
    key = load_signing_key("ven.crt", "ven.key", cache=keys)  # loaded once, shared by every VEN using it
    body = sign_message(msg, key)                       # a whole signed oadrPayload document

Verifying::

    verifier = Verifier(fingerprint="AA:BB:...")        # or Verifier(ca_file="ca.crt"); one per fleet
    guard = ReplayGuard()                               # one per VEN, never shared
    msg = verify_message(body, verifier, guard)         # raises SignatureError / ReplayError

The signature profile is OpenADR 2.0b's (``ds:Signature`` before ``oadrSignedObject``,
references to ``#oadrSignedObject`` and to a ``ReplayProtect`` signature property,
inclusive C14N 1.0, the signer's certificate in ``KeyInfo``); verification accepts
exactly that structure (see :func:`fleetven._fast.inspect_signed`).

The modules: :mod:`~fleetven.signing.keys` (keys, certificates, fingerprints, the
:class:`~fleetven.signing.keys.KeyCache`), :mod:`~fleetven.signing.sign`,
:mod:`~fleetven.signing.verify` (:class:`Verifier`) and :mod:`~fleetven.signing.replay`
(:class:`ReplayGuard`); this package re-exports their public names.
"""

from __future__ import annotations

from fleetven._fast import Signed, c14n
from fleetven.signing.keys import ECDSA_SHA256, RSA_SHA256, SigningKey, fingerprint, load_signing_key
from fleetven.signing.replay import ReplayGuard
from fleetven.signing.sign import sign_message
from fleetven.signing.verify import Verifier, verify_message

__all__ = (
    "fingerprint",
    "SigningKey",
    "load_signing_key",
    "sign_message",
    "ReplayGuard",
    "Verifier",
    "verify_message",
    "Signed",
    "c14n",
    "RSA_SHA256",
    "ECDSA_SHA256",
)
