"""XML signatures of OpenADR 2.0b messages, certificate fingerprints and replay protection.

Signing::

    key = load_signing_key("ven.crt", "ven.key")        # loaded once, shared by every VEN using it
    body = sign_message(msg, key)                       # a whole signed oadrPayload document

Verifying::

    verifier = Verifier(fingerprint="AA:BB:...")        # or Verifier(ca_file="ca.crt"); one per fleet
    guard = ReplayGuard()                               # one per VEN, never shared
    msg = verify_message(body, verifier, guard)         # raises SignatureError / ReplayError

The signature profile is OpenADR 2.0b's (``ds:Signature`` before ``oadrSignedObject``,
references to ``#oadrSignedObject`` and to a ``ReplayProtect`` signature property,
inclusive C14N 1.0, the signer's certificate in ``KeyInfo``); verification accepts
exactly that structure (see :func:`fleetven._fast.inspect_signed`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import timezone
from typing import TYPE_CHECKING, Any, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fleetven.exceptions import ConfigurationError, ReplayError, SignatureError
from fleetven.messages.build import build_signed_object
from fleetven.messages.parse import DEFAULT_MAX_SIZE, parse_document
from fleetven.openadr.model import Message

if TYPE_CHECKING:
    from fleetven._fast._sig_py import Signed, c14n, ecdsa_der, ecdsa_raw, epoch, inspect_signed, seal, timestamp
else:
    try:
        from fleetven._fast import Signed, c14n, inspect_signed, seal
    except ImportError:  # the selector does not export them yet
        from fleetven._fast._sig_py import Signed, c14n, inspect_signed, seal
    from fleetven._fast import SIG_COMPILED as _SIG_COMPILED

    # the twin the selector chose for seal() (fleetven._fast exports only the three above)
    if _SIG_COMPILED:
        from fleetven._fast._sig_c import ecdsa_der, ecdsa_raw, epoch, timestamp
    else:
        from fleetven._fast._sig_py import ecdsa_der, ecdsa_raw, epoch, timestamp

from fleetven._fast._sig_py import DIGEST_METHODS, SIGNATURE_METHODS

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

UTC = timezone.utc

#: Signature method URI for RSA PKCS#1 v1.5 with SHA-256.
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#: Signature method URI for ECDSA with SHA-256.
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

_MIN_RSA_BITS = 2048
_MIN_EC_BITS = 256
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}

# Made once: signing is on every message's path.
_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)
_PKCS1V15 = padding.PKCS1v15()

_DIGESTS: dict[str, Any] = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
# Verification: by DigestMethod URI, the hashlib constructor; by hash name, the algorithm objects (made once).
_DIGEST_BY_URI: dict[str, Any] = {uri: _DIGESTS[name] for uri, name in DIGEST_METHODS.items()}
_HASH_OBJECTS: dict[str, hashes.HashAlgorithm] = {name: cls() for name, cls in _HASHES.items()}
_ECDSA_BY_HASH: dict[str, ec.ECDSA] = {name: ec.ECDSA(h) for name, h in _HASH_OBJECTS.items()}
# By SignatureMethod URI: (key type, what ``verify`` takes: the ECDSA algorithm or the hash algorithm), made once.
_VERIFY_METHODS: dict[str, tuple[str, Any]] = {
    uri: (kind, _ECDSA_BY_HASH[name] if kind == "ec" else _HASH_OBJECTS[name])
    for uri, (kind, name) in SIGNATURE_METHODS.items()
}
_compare_digest = hmac.compare_digest

CertSource = Union[bytes, str, "os.PathLike[str]", x509.Certificate]


# --------------------------------------------------------------------------- certificates


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN" in data[:4096]


def _cert_der(cert: CertSource) -> bytes:
    """DER of a certificate given as an object, PEM text, PEM/DER bytes or a path."""
    if isinstance(cert, x509.Certificate):
        return cert.public_bytes(serialization.Encoding.DER)
    if isinstance(cert, str) and "-----BEGIN" in cert:
        data = cert.encode("ascii", "replace")
        name = "the certificate text"
    elif isinstance(cert, (bytes, bytearray, memoryview)):
        data = bytes(cert)
        name = "the certificate bytes"
    elif isinstance(cert, (str, os.PathLike)):
        data = _read(cert, "certificate")
        name = os.fspath(cert)
    else:
        raise ConfigurationError(f"a certificate must be a path, PEM text, PEM/DER bytes or an x509.Certificate, "
                                 f"not {type(cert).__name__}")
    try:
        if _is_pem(data):
            return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise ConfigurationError(f"cannot read a certificate from {name}: {exc}", path=name) from None


def _fingerprint_der(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()[-10:])


def fingerprint(cert: CertSource) -> str:
    """The certificate fingerprint in OpenLEADR's format.

    The last 10 bytes of the SHA-256 of the certificate's DER, as colon-separated
    upper-case hex (``AA:BB:CC:DD:EE:FF:00:11:22:33``): what OpenLEADR's
    ``fingerprint`` command prints and what ``vtn_fingerprint`` expects.

    :param cert: an :class:`~cryptography.x509.Certificate`, PEM text, PEM or DER bytes, or a path to a PEM/DER file.
    :raises ConfigurationError: the certificate cannot be read.
    """
    return _fingerprint_der(_cert_der(cert))


def _normalize_fingerprint(value: str) -> str:
    fp = value.strip().upper().replace("-", ":")
    if ":" not in fp and len(fp) == 20:
        fp = ":".join(fp[i:i + 2] for i in range(0, 20, 2))
    parts = fp.split(":")
    if len(parts) != 10 or not all(len(p) == 2 and all(c in "0123456789ABCDEF" for c in p) for p in parts):
        raise ConfigurationError(f"fingerprint {value!r} is not in OpenLEADR's format: 10 colon-separated hex "
                                 "bytes (AA:BB:CC:DD:EE:FF:00:11:22:33)", fingerprint=value)
    return fp


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} file {os.fspath(path)!r}: {exc.strerror or exc}",
                                 path=os.fspath(path)) from None


def _source(value: bytes | str | os.PathLike[str], what: str) -> tuple[bytes, str]:
    """(PEM bytes, a name for messages) of a path or PEM content."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), f"the {what} bytes"
    if isinstance(value, str) and "-----BEGIN" in value:
        return value.encode("ascii", "replace"), f"the {what} text"
    if isinstance(value, (str, os.PathLike)):
        return _read(value, what), repr(os.fspath(value))
    raise ConfigurationError(f"the {what} must be a path or PEM bytes, not {type(value).__name__}")


def _validity(cert: x509.Certificate) -> tuple[float, float]:
    return cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


# --------------------------------------------------------------------------- signing


class SigningKey:
    """A private key and its certificate: one per identity, shared by every VEN that signs with it.

    Use :func:`load_signing_key` to get one.

    :ivar algorithm: the XML-DSig signature method URI (``rsa-sha256`` or ``ecdsa-sha256``).
    :ivar cert_b64: the certificate's DER, base64, one line (what goes in ``ds:X509Certificate``).
    :ivar certificate: the certificate.
    :ivar fingerprint: its fingerprint (:func:`fingerprint`).
    :ivar not_after: the end of the certificate's validity, a POSIX timestamp.
    """

    __slots__ = ("algorithm", "cert_b64", "certificate", "fingerprint", "not_after", "_key", "_ec_size", "__weakref__")

    def __init__(self, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        self.certificate = certificate
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.cert_b64: bytes = base64.b64encode(der)
        self.fingerprint: str = _fingerprint_der(der)
        self.not_after: float = certificate.not_valid_after_utc.timestamp()
        self._key: Any = private_key
        if isinstance(private_key, rsa.RSAPrivateKey):
            self.algorithm: str = RSA_SHA256
            self._ec_size = 0
        else:
            self.algorithm = ECDSA_SHA256
            self._ec_size = (private_key.curve.key_size + 7) // 8

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with SHA-256: the raw XML-DSig SignatureValue.

        :returns: the RSA PKCS#1 v1.5 signature, or for ECDSA ``r || s`` with each
            half zero-padded to the curve's size (not DER).
        """
        if self._ec_size:
            raw: bytes = ecdsa_raw(self._key.sign(data, _ECDSA_SHA256), self._ec_size)
            return raw
        sig: bytes = self._key.sign(data, _PKCS1V15, _SHA256)
        return sig

    def __repr__(self) -> str:
        kind = "RSA" if self.algorithm == RSA_SHA256 else "ECDSA"
        return f"<SigningKey {kind} {self.certificate.subject.rfc4514_string()} {self.fingerprint}>"


class _KeyCache:
    """Loaded keys by file contents and passphrase, so an identity is loaded once however often it is named."""

    __slots__ = ("_items", "_lock", "_size")

    def __init__(self, size: int = 1024) -> None:
        self._items: OrderedDict[tuple[bytes, bytes, bytes | None], SigningKey] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, k: tuple[bytes, bytes, bytes | None]) -> SigningKey | None:
        with self._lock:
            item = self._items.get(k)
            if item is not None:
                self._items.move_to_end(k)
            return item

    def put(self, k: tuple[bytes, bytes, bytes | None], v: SigningKey) -> SigningKey:
        with self._lock:
            have = self._items.setdefault(k, v)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            return have


# The one cache of loaded identities: immutable keys, bounded, keyed by content (a file rewritten with a new key
# is a new identity).
_KEYS = _KeyCache()


def load_signing_key(cert: bytes | str | os.PathLike[str], key: bytes | str | os.PathLike[str],
                     passphrase: bytes | str | None = None) -> SigningKey:
    """Load a certificate and its private key once, and return the shared :class:`SigningKey`.

    The same certificate and key (by content) and passphrase give the same object;
    the PEM is parsed only the first time.

    :param cert: path to the PEM certificate, or its PEM bytes.
    :param key: path to the PEM private key (PKCS#8 or traditional, encrypted or not), or its PEM bytes.
    :param passphrase: the key's passphrase, when it is encrypted.
    :raises ConfigurationError: a file cannot be read or parsed, the passphrase is missing or wrong,
        the key does not belong to the certificate, the key is too weak (RSA under 2048 bits,
        EC under P-256, or another key type) or the certificate has expired or is not valid yet.
    """
    cert_pem, cert_name = _source(cert, "certificate")
    key_pem, key_name = _source(key, "private key")
    pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    k = (cert_pem, key_pem, pw)
    found = _KEYS.get(k)
    if found is not None:
        return found
    try:
        certificate = (x509.load_pem_x509_certificate(cert_pem) if _is_pem(cert_pem)
                       else x509.load_der_x509_certificate(cert_pem))
    except ValueError as exc:
        raise ConfigurationError(f"cannot read the certificate {cert_name}: {exc}", path=cert_name) from None
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=pw)
    except TypeError as exc:
        text = ("it is encrypted and no passphrase was given" if pw is None
                else "it is not encrypted but a passphrase was given" if "not encrypted" in str(exc) else str(exc))
        raise ConfigurationError(f"cannot load the private key {key_name}: {text}", path=key_name) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        text = str(exc)
        if pw is not None and ("password" in text.lower() or "decrypt" in text.lower()):
            text = "wrong passphrase"
        raise ConfigurationError(f"cannot load the private key {key_name}: {text}", path=key_name) from None
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(f"the private key {key_name} is RSA-{private_key.key_size}: RSA keys must have "
                                     f"at least {_MIN_RSA_BITS} bits", path=key_name)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.key_size < _MIN_EC_BITS:
            raise ConfigurationError(f"the private key {key_name} is on curve {private_key.curve.name}: EC keys must "
                                     "be P-256 or stronger", path=key_name)
    else:
        raise ConfigurationError(f"the private key {key_name} is a {type(private_key).__name__}: only RSA and ECDSA "
                                 "keys can sign OpenADR messages", path=key_name)
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != private_key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigurationError(f"the private key {key_name} does not belong to the certificate {cert_name}",
                                 path=key_name)
    start, end = _validity(certificate)
    now = time.time()
    if now > end:
        raise ConfigurationError(f"the certificate {cert_name} expired on {certificate.not_valid_after_utc:%Y-%m-%d}",
                                 path=cert_name)
    if now < start:
        raise ConfigurationError(f"the certificate {cert_name} is not valid before "
                                 f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z", path=cert_name)
    return _KEYS.put(k, SigningKey(certificate, private_key))


def sign_message(msg_or_signed_object: Message | bytes, key: SigningKey, *,
                 now: float | None = None) -> bytes:
    """Sign a message: the whole ``oadrPayload`` document with its ``ds:Signature``.

    :param msg_or_signed_object: a model message, the bytes of
        :func:`~fleetven.messages.build.build_signed_object` (for a message sent again and
        again, build them once).
    :param key: from :func:`load_signing_key`.
    :param now: the signing time (POSIX seconds) for the ``ReplayProtect`` timestamp; default: the clock.
    :returns: UTF-8 bytes, ready to send.
    :raises BuildError: the message cannot be built.
    """
    kind = type(msg_or_signed_object)
    if kind is bytes:
        signed_object: Any = msg_or_signed_object
    elif isinstance(msg_or_signed_object, (bytes, bytearray)):
        signed_object = bytes(msg_or_signed_object)
    else:
        signed_object = build_signed_object(msg_or_signed_object)
    return seal(signed_object, key, _timestamp(time.time() if now is None else now), _nonce())


def _new_nonces() -> Iterator[str]:
    """A batch of fresh nonces: 128 random bits each, as 32 hex digits, from one read of ``os.urandom``."""
    pool = os.urandom(_NONCE_BATCH * 16).hex()
    return iter([pool[i:i + 32] for i in range(0, len(pool), 32)])


_NONCE_BATCH = 256
_nonces: Iterator[str] = iter(())


def _nonce() -> str:
    """A fresh ``ReplayProtect`` nonce (``os.urandom(16).hex()``, read from the system 256 at a time).

    Taking the next item of a list iterator is atomic, so threads never get the same one; a
    forked child drops what its parent had read (below).
    """
    global _nonces
    try:
        return next(_nonces)
    except StopIteration:
        _nonces = fresh = _new_nonces()
        return next(fresh)


def _forget_nonces() -> None:
    global _nonces
    _nonces = iter(())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_nonces)


#: ``now`` (POSIX seconds) as the ``ReplayProtect`` timestamp text (:func:`fleetven._fast._sig_py.timestamp`).
_timestamp = timestamp


# --------------------------------------------------------------------------- replay protection


#: A ``ReplayProtect`` timestamp as POSIX seconds (:func:`fleetven._fast._sig_py.epoch`).
_epoch = epoch


class ReplayGuard:
    """Replay protection for one VEN (never share one between VENs).

    A message is accepted when its ``ReplayProtect`` timestamp lies in
    ``[now - window - skew, now + skew]`` and its nonce was not seen before.
    Nonces are kept in time buckets keyed by the timestamp; a bucket is dropped
    whole once every timestamp it could hold is too old to be accepted, so the
    number of stored nonces is bounded by what arrives within one window and
    the cost of a check does not grow with the number of messages seen.

    :param window: how old (seconds) a timestamp may be.
    :param skew: allowed clock difference (seconds), both ways.
    """

    __slots__ = ("window", "skew", "_width", "_buckets", "_expiry")

    #: Buckets per (window + 2 * skew): a few, so a check looks at a handful of sets.
    SLICES = 4

    def __init__(self, window: float = 5.0, skew: float = 1.0) -> None:
        if not (window > 0 and skew >= 0):
            raise ConfigurationError(f"replay window must be > 0 and skew >= 0 (got window={window}, skew={skew})")
        self.window = float(window)
        self.skew = float(skew)
        self._width = (self.window + 2 * self.skew) / self.SLICES
        self._buckets: dict[int, set[str]] | None = None
        self._expiry = 0.0

    def __len__(self) -> int:
        """The number of nonces stored."""
        return sum(len(b) for b in self._buckets.values()) if self._buckets else 0

    @property
    def bucket_count(self) -> int:
        """The number of time buckets held."""
        return len(self._buckets) if self._buckets else 0

    def _expire(self, oldest: float) -> None:
        buckets = self._buckets
        if not buckets:
            return
        width = self._width
        for b in [b for b in buckets if (b + 1) * width < oldest]:
            del buckets[b]
        self._expiry = oldest + width

    def check(self, timestamp: str, nonce: str, now: float) -> None:
        """Accept a message's ``ReplayProtect`` once, or raise.

        :param timestamp: the ``dsp:timestamp`` text.
        :param nonce: the ``dsp:nonce`` text.
        :param now: the current time (POSIX seconds).
        :raises ReplayError: the timestamp is outside the window, or the nonce was seen before.
        :raises SignatureError: the timestamp cannot be read or the nonce is empty.
        """
        try:
            ts = _epoch(timestamp)
        except ValueError:
            raise SignatureError(f"ReplayProtect timestamp {timestamp!r} is not a date-time",
                                 reason="timestamp") from None
        if not nonce:
            raise SignatureError("ReplayProtect nonce is empty", reason="nonce")
        skew = self.skew
        oldest = now - self.window - skew
        if ts < oldest:
            raise ReplayError(f"ReplayProtect timestamp {timestamp} is {now - ts:.3f} s old; at most "
                              f"{self.window + skew:g} s are accepted", reason="timestamp-old")
        if ts > now + skew:
            raise ReplayError(f"ReplayProtect timestamp {timestamp} is {ts - now:.3f} s in the future; at most "
                              f"{skew:g} s are accepted", reason="timestamp-future")
        b = int(ts // self._width)
        buckets = self._buckets
        if buckets is None:  # the first message: nothing to expire or look up
            self._buckets = {b: {nonce}}
            return
        if oldest >= self._expiry:
            self._expire(oldest)
        for seen in buckets.values():
            if nonce in seen:
                raise ReplayError(f"ReplayProtect nonce {nonce!r} was seen before: a replayed message",
                                  reason="nonce-replayed")
        bucket = buckets.get(b)
        if bucket is None:
            buckets[b] = {nonce}
        else:
            bucket.add(nonce)


# --------------------------------------------------------------------------- verification


class _CertInfo:
    __slots__ = ("public_key", "kind", "ec_size", "not_before", "not_after", "subject", "untrusted")

    def __init__(self, cert: x509.Certificate, untrusted: str | None) -> None:
        pk: Any = cert.public_key()
        self.public_key: Any = pk
        self.kind = ("rsa" if isinstance(pk, rsa.RSAPublicKey) else "ec" if isinstance(pk, ec.EllipticCurvePublicKey)
                     else "")
        self.ec_size = (pk.curve.key_size + 7) // 8 if self.kind == "ec" else 0
        self.not_before, self.not_after = _validity(cert)
        self.subject = cert.subject.rfc4514_string()
        if untrusted is None:
            if self.kind == "rsa" and pk.key_size < _MIN_RSA_BITS:
                untrusted = f"its RSA key has {pk.key_size} bits (at least {_MIN_RSA_BITS} required)"
            elif self.kind == "ec" and pk.curve.key_size < _MIN_EC_BITS:
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

    __slots__ = ("fingerprint", "ca_file", "_cas", "_cache", "_cache_size", "_last")

    def __init__(self, *, fingerprint: str | None = None, ca_file: str | os.PathLike[str] | None = None,
                 cache_size: int = 256) -> None:
        if fingerprint is None and ca_file is None:
            raise ConfigurationError("a Verifier needs a fingerprint or a ca_file: without one any certificate "
                                     "would be trusted")
        self.fingerprint = _normalize_fingerprint(fingerprint) if fingerprint is not None else None
        self.ca_file = os.fspath(ca_file) if ca_file is not None else None
        self._cas: list[x509.Certificate] = []
        if self.fingerprint is None and self.ca_file is not None:
            data = _read(self.ca_file, "CA")
            try:
                self._cas = (x509.load_pem_x509_certificates(data) if _is_pem(data)
                             else [x509.load_der_x509_certificate(data)])
            except ValueError as exc:
                raise ConfigurationError(f"cannot read CA certificates from {self.ca_file!r}: {exc}",
                                         path=self.ca_file) from None
        self._cache: OrderedDict[bytes, _CertInfo] = OrderedDict()
        self._cache_size = cache_size
        # The certificate of the last message (one of the cache's), compared first: a fleet's VENs hear from one
        # VTN, whose DER then is not hashed per message as a dict lookup hashes it. One tuple, replaced whole.
        self._last: tuple[bytes, _CertInfo] | None = None

    def _trust(self, der: bytes) -> str | None:
        """Why the certificate ``der`` is not trusted, or None when it is."""
        if self.fingerprint is not None:
            fp = _fingerprint_der(der)
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

    def verify(self, root: Any, guard: ReplayGuard | None, *, now: float | None = None) -> Signed:
        """Verify the signature of a parsed signed document, then its replay protection.

        :param root: the ``oadrPayload`` element (:func:`~fleetven.messages.parse.parse_document`).
        :param guard: the receiving VEN's :class:`ReplayGuard`, or None to skip the replay check.
        :param now: the current time (POSIX seconds); default: the clock.
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
            guard.check(stamp, nonce, now)
        return s


def _check_raw(data: bytes) -> None:
    """Refuse comments and processing instructions, which the parser would drop silently."""
    if data.find(b"<!--") >= 0:
        raise SignatureError("comment in a signed message: comments are not allowed", reason="comment")
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data.startswith(b"<?xml", start):
        start += 5
    if data.find(b"<?", start) >= 0:
        raise SignatureError("processing instruction in a signed message: not allowed",
                             reason="processing-instruction")


def verify_message(data: bytes | str, verifier: Verifier, guard: ReplayGuard | None, *,
                   max_size: int = DEFAULT_MAX_SIZE, now: float | None = None) -> Message:
    """Parse, verify and read a signed message: nothing reaches a handler unless this returns.

    :param data: the body as received.
    :param verifier: the fleet's :class:`Verifier`.
    :param guard: the receiving VEN's :class:`ReplayGuard` (None skips the replay check).
    :param max_size: the largest body accepted, in bytes.
    :param now: the current time (POSIX seconds); default: the clock.
    :returns: the model message of the verified ``oadrSignedObject``.
    :raises MessageError: the body cannot be parsed (see :func:`~fleetven.messages.parse.parse_document`).
    :raises SignatureError: the signature is missing or wrong (see :meth:`Verifier.verify`).
    :raises ReplayError: a replayed or stale message.
    """
    from fleetven import _fast

    root = parse_document(data, max_size=max_size)
    _check_raw(data.encode("utf-8") if isinstance(data, str) else bytes(data))
    verifier.verify(root, guard, now=now)
    msg: Message = _fast.extract(root)
    return msg
