"""Verification: the :class:`Verifier` of a fleet and :func:`verify_message`.

The body is parsed by the codec's :func:`~fleetven.messages.parse.parse_document` (the size cap,
no DTD, no entities: checked there, in one place), then the signature's structure is checked
by :func:`fleetven._fast.inspect_signed`, then digests, signature, certificate and replay.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fleetven import _fast
from fleetven._fast import Signed, Stamps, extract, inspect_signed
from fleetven.exceptions import ConfigurationError, SignatureError
from fleetven.messages.parse import DEFAULT_MAX_SIZE, parse_document
from fleetven.openadr.model import Message
from fleetven.signing.keys import (
    MIN_EC_BITS,
    MIN_RSA_BITS,
    fingerprint_der,
    is_pem,
    normalize_fingerprint,
    read_file,
    validity,
)
from fleetven.signing.replay import ReplayGuard

__all__ = ("Verifier", "verify_message")

ecdsa_der = _fast.sig.ecdsa_der

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_PKCS1V15 = padding.PKCS1v15()
_DIGESTS: dict[str, Any] = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
# Verification: by DigestMethod URI, the hashlib constructor; by hash name, the algorithm objects (made once).
_DIGEST_BY_URI: dict[str, Any] = {uri: _DIGESTS[name] for uri, name in _fast.sig.DIGEST_METHODS.items()}
_HASH_OBJECTS: dict[str, hashes.HashAlgorithm] = {name: cls() for name, cls in _HASHES.items()}
_ECDSA_BY_HASH: dict[str, ec.ECDSA] = {name: ec.ECDSA(h) for name, h in _HASH_OBJECTS.items()}
# By SignatureMethod URI: (key type, what ``verify`` takes: the ECDSA algorithm or the hash algorithm), made once.
_VERIFY_METHODS: dict[str, tuple[str, Any]] = {
    uri: (kind, _ECDSA_BY_HASH[name] if kind == "ec" else _HASH_OBJECTS[name])
    for uri, (kind, name) in _fast.sig.SIGNATURE_METHODS.items()
}
_compare_digest = hmac.compare_digest


class _CertInfo:
    __slots__ = ("public_key", "kind", "ec_size", "not_before", "not_after", "subject", "untrusted")

    def __init__(self, cert: x509.Certificate, untrusted: str | None) -> None:
        pk: Any = cert.public_key()
        self.public_key: Any = pk
        self.kind = ("rsa" if isinstance(pk, rsa.RSAPublicKey) else "ec" if isinstance(pk, ec.EllipticCurvePublicKey)
                     else "")
        self.ec_size = (pk.curve.key_size + 7) // 8 if self.kind == "ec" else 0
        self.not_before, self.not_after = validity(cert)
        self.subject = cert.subject.rfc4514_string()
        if untrusted is None:
            if self.kind == "rsa" and pk.key_size < MIN_RSA_BITS:
                untrusted = f"its RSA key has {pk.key_size} bits (at least {MIN_RSA_BITS} required)"
            elif self.kind == "ec" and pk.curve.key_size < MIN_EC_BITS:
                untrusted = f"its EC key is on {pk.curve.name} (P-256 or stronger required)"
            elif not self.kind:
                untrusted = f"its key is a {type(pk).__name__}, not RSA or ECDSA"
        #: Why the certificate is not trusted, or None.
        self.untrusted = untrusted


class Verifier:
    """Verifies signed messages against a pinned fingerprint or a CA: one per fleet, shared by its VENs.

    Stateless apart from a bounded cache of parsed certificates (keyed by their DER),
    so a VTN's certificate is parsed and checked once, not per message.

    :param fingerprint: the VTN certificate's fingerprint (:func:`fingerprint`): only that certificate is accepted.
    :param ca_file: a PEM file of CA certificates: the signer's certificate must be one of them or be issued
        directly by one of them. Ignored when ``fingerprint`` is given.
    :param cache_size: how many parsed and checked certificates to keep (0: parse every message's).
    :raises ConfigurationError: neither is given, the fingerprint is malformed, or ``ca_file`` cannot be read.
    """

    __slots__ = ("fingerprint", "ca_file", "_cas", "_cache", "_cache_size", "_last", "_stamps")

    def __init__(self, *, fingerprint: str | None = None, ca_file: str | os.PathLike[str] | None = None,
                 cache_size: int = 256) -> None:
        if fingerprint is None and ca_file is None:
            raise ConfigurationError("a Verifier needs a fingerprint or a ca_file: without one any certificate "
                                     "would be trusted")
        self.fingerprint = normalize_fingerprint(fingerprint) if fingerprint is not None else None
        self.ca_file = os.fspath(ca_file) if ca_file is not None else None
        self._cas: list[x509.Certificate] = []
        if self.fingerprint is None and self.ca_file is not None:
            data = read_file(self.ca_file, "CA")
            try:
                self._cas = (x509.load_pem_x509_certificates(data) if is_pem(data)
                             else [x509.load_der_x509_certificate(data)])
            except ValueError as exc:
                raise ConfigurationError(f"cannot read CA certificates from {self.ca_file!r}: {exc}",
                                         path=self.ca_file) from None
        self._cache: OrderedDict[bytes, _CertInfo] = OrderedDict()
        self._cache_size = cache_size
        # The certificate of the last message (one of the cache's), compared first: a fleet's VENs hear from one
        # VTN, whose DER then is not hashed per message as a dict lookup hashes it. One tuple, replaced whole.
        self._last: tuple[bytes, _CertInfo] | None = None
        # The ReplayProtect timestamps of the messages it verifies, read with a once-per-second cache.
        self._stamps = Stamps()

    def _trust(self, der: bytes) -> str | None:
        """Why the certificate ``der`` is not trusted, or None when it is."""
        if self.fingerprint is not None:
            fp = fingerprint_der(der)
            if fp != self.fingerprint:
                return f"its fingerprint {fp} is not the expected {self.fingerprint}"
            return None
        cert = x509.load_der_x509_certificate(der)
        for ca in self._cas:
            if ca.public_bytes(serialization.Encoding.DER) == der:
                return None
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                continue
            if not (ca.not_valid_before_utc.timestamp() <= time.time() <= ca.not_valid_after_utc.timestamp()):
                return f"its issuer {ca.subject.rfc4514_string()} is outside its validity period"
            return None
        return f"it was not issued by a CA of {self.ca_file}"

    def _cert(self, der: bytes) -> _CertInfo:
        cache = self._cache
        info = cache.get(der)
        if info is not None:
            self._last = (der, info)
            return info
        try:
            cert = x509.load_der_x509_certificate(der)
            info = _CertInfo(cert, self._trust(der))
        except ValueError as exc:
            raise SignatureError(f"the signer's certificate cannot be read: {exc}", reason="certificate") from None
        cache[der] = info
        while len(cache) > self._cache_size:
            cache.popitem(last=False)
        if cache:  # cache_size=0 keeps nothing, not even the last one
            self._last = (der, info)
        return info

    def verify(self, root: Any, guard: ReplayGuard | None, *, now: float | None = None, scope: str = "") -> Signed:
        """Verify the signature of a parsed signed document, then its replay protection.

        :param root: the ``oadrPayload`` element (:func:`~fleetven.messages.parse.parse_document`).
        :param guard: the receiving VEN's :class:`ReplayGuard`, or None to skip the replay check.
        :param now: the current time (POSIX seconds); default: the clock.
        :param scope: the receiver, when ``guard`` is shared by several (:meth:`ReplayGuard.check`).
        :returns: what :func:`~fleetven._fast.inspect_signed` found.
        :raises SignatureError: the structure, a digest, the signature or the certificate is wrong;
            ``reason`` says which.
        :raises ReplayError: the timestamp is outside the window or the nonce was seen before.
        """
        if now is None:
            now = time.time()
        s = inspect_signed(root)
        (so_c14n, so_method, so_digest, replay_c14n, replay_method, replay_digest, signed_info, signature_method,
         value, der, stamp, nonce) = s
        last = self._last
        info = last[1] if last is not None and der == last[0] else self._cert(der)
        if info.untrusted is not None:
            raise SignatureError(f"the signer's certificate ({info.subject}) is not trusted: {info.untrusted}",
                                 reason="untrusted-certificate")
        if not info.not_before <= now <= info.not_after:
            raise SignatureError(f"the signer's certificate ({info.subject}) is outside its validity period",
                                 reason="certificate-expired" if now > info.not_after else "certificate-not-yet-valid")
        if not _compare_digest(_DIGEST_BY_URI[so_method](so_c14n).digest(), so_digest):
            raise SignatureError("the digest of the oadrSignedObject does not match: the signed content was changed",
                                 reason="digest")
        if not _compare_digest(_DIGEST_BY_URI[replay_method](replay_c14n).digest(), replay_digest):
            raise SignatureError("the digest of the ReplayProtect does not match: the signed content was changed",
                                 reason="digest")
        kind, algorithm = _VERIFY_METHODS[signature_method]
        if kind != info.kind:
            raise SignatureError(f"SignatureMethod {signature_method} does not fit the certificate's "
                                 f"{info.kind.upper()} key", reason="algorithm")
        try:
            if kind == "ec":
                n = info.ec_size
                if len(value) != 2 * n:
                    raise SignatureError(f"the ECDSA SignatureValue has {len(value)} bytes; {2 * n} expected for "
                                         "this curve (r || s)", reason="signature-length")
                info.public_key.verify(ecdsa_der(value), signed_info, algorithm)
            else:
                info.public_key.verify(value, signed_info, _PKCS1V15, algorithm)
        except InvalidSignature:
            raise SignatureError("the signature does not verify with the signer's certificate",
                                 reason="signature") from None
        if guard is not None:
            guard.check(stamp, nonce, now, stamps=self._stamps, scope=scope)
        return s


def _check_raw(data: bytes) -> None:
    """Refuse comments and processing instructions, which the parser would drop silently.

    A search for ``<!--`` or ``<?`` steps through every ``<`` of the document (a signed one has a
    few hundred: some 4 us for 3 KB); a search for the rare second byte is a ``memchr`` (0.1 us),
    and each ``!`` or ``?`` found is then looked at in place.
    """
    find = data.find
    i = find(b"!")
    while i >= 0:
        if i > 0 and data[i - 1] == 0x3C and data.startswith(b"--", i + 1):  # "<!--"
            raise SignatureError("comment in a signed message: comments are not allowed", reason="comment")
        i = find(b"!", i + 1)
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data.startswith(b"<?xml", start):
        start += 5
    i = find(b"?", start + 1)
    while i >= 0:
        if data[i - 1] == 0x3C:  # "<?" at or after start
            raise SignatureError("processing instruction in a signed message: not allowed",
                                 reason="processing-instruction")
        i = find(b"?", i + 1)


def verify_message(data: bytes | str, verifier: Verifier, guard: ReplayGuard | None, *,
                   max_size: int = DEFAULT_MAX_SIZE, now: float | None = None, scope: str = "") -> Message:
    """Parse, verify and read a signed message: nothing reaches a handler unless this returns.

    :param data: the body as received.
    :param verifier: the fleet's :class:`Verifier`.
    :param guard: the receiving VEN's :class:`ReplayGuard` (None skips the replay check).
    :param max_size: the largest body accepted, in bytes.
    :param now: the current time (POSIX seconds); default: the clock.
    :param scope: the receiver, when ``guard`` is shared by several (:meth:`ReplayGuard.check`).
    :returns: the model message of the verified ``oadrSignedObject``.
    :raises MessageError: the body cannot be parsed (see :func:`~fleetven.messages.parse.parse_document`).
    :raises SignatureError: the signature is missing or wrong (see :meth:`Verifier.verify`).
    :raises ReplayError: a replayed or stale message.
    """
    root = parse_document(data, max_size=max_size)
    _check_raw(data.encode("utf-8") if isinstance(data, str) else bytes(data))
    verifier.verify(root, guard, now=now, scope=scope)
    msg: Message = extract(root)
    return msg
