"""Keys and certificates: loading a signing identity, reading certificates, fingerprints.

A :class:`SigningKey` is loaded once per identity by whoever owns a :class:`KeyCache`
(a fleet), and shared by every VEN that signs with it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections import OrderedDict
from typing import Any, Union

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fleetven import _fast
from fleetven._fast import Stamps
from fleetven.exceptions import ConfigurationError

__all__ = (
    "CertSource",
    "ECDSA_SHA256",
    "KeyCache",
    "RSA_SHA256",
    "SigningKey",
    "fingerprint",
    "load_signing_key",
)

ecdsa_raw = _fast.sig.ecdsa_raw

#: Signature method URI for RSA PKCS#1 v1.5 with SHA-256.
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#: Signature method URI for ECDSA with SHA-256.
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256

# Made once: signing is on every message's path.
_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)
_PKCS1V15 = padding.PKCS1v15()

#: What :func:`fingerprint` reads a certificate from.
CertSource = Union[bytes, str, "os.PathLike[str]", x509.Certificate]


def is_pem(data: bytes) -> bool:
    """True when ``data`` looks like PEM (a ``-----BEGIN`` line near the start), else DER is assumed."""
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
        data = read_file(cert, "certificate")
        name = os.fspath(cert)
    else:
        raise ConfigurationError(f"a certificate must be a path, PEM text, PEM/DER bytes or an x509.Certificate, "
                                 f"not {type(cert).__name__}")
    try:
        if is_pem(data):
            return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise ConfigurationError(f"cannot read a certificate from {name}: {exc}", path=name) from None


def fingerprint_der(der: bytes) -> str:
    """:func:`fingerprint` of a certificate given as DER."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()[-10:])


def fingerprint(cert: CertSource) -> str:
    """The certificate fingerprint in OpenLEADR's format.

    The last 10 bytes of the SHA-256 of the certificate's DER, as colon-separated
    upper-case hex (``AA:BB:CC:DD:EE:FF:00:11:22:33``): what OpenLEADR's
    ``fingerprint`` command prints and what ``vtn_fingerprint`` expects.

    :param cert: an :class:`~cryptography.x509.Certificate`, PEM text, PEM or DER bytes, or a path to a PEM/DER file.
    :raises ConfigurationError: the certificate cannot be read.
    """
    return fingerprint_der(_cert_der(cert))


def normalize_fingerprint(value: str) -> str:
    """A fingerprint as :func:`fingerprint` writes it, from upper/lower case, ``-`` or no separators.

    :raises ConfigurationError: not 10 hex bytes.
    """
    fp = value.strip().upper().replace("-", ":")
    if ":" not in fp and len(fp) == 20:
        fp = ":".join(fp[i:i + 2] for i in range(0, 20, 2))
    parts = fp.split(":")
    if len(parts) != 10 or not all(len(p) == 2 and all(c in "0123456789ABCDEF" for c in p) for p in parts):
        raise ConfigurationError(f"fingerprint {value!r} is not in OpenLEADR's format: 10 colon-separated hex "
                                 "bytes (AA:BB:CC:DD:EE:FF:00:11:22:33)", fingerprint=value)
    return fp


def read_file(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of the ``what`` file at ``path``.

    :raises ConfigurationError: it cannot be read.
    """
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
        return read_file(value, what), repr(os.fspath(value))
    raise ConfigurationError(f"the {what} must be a path or PEM bytes, not {type(value).__name__}")


def validity(cert: x509.Certificate) -> tuple[float, float]:
    """(not before, not after) of ``cert``, POSIX timestamps."""
    return cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


class SigningKey:
    """A private key and its certificate: one per identity, shared by every VEN that signs with it.

    Use :func:`load_signing_key` to get one.

    :ivar algorithm: the XML-DSig signature method URI (``rsa-sha256`` or ``ecdsa-sha256``).
    :ivar cert_b64: the certificate's DER, base64, one line (what goes in ``ds:X509Certificate``).
    :ivar certificate: the certificate.
    :ivar fingerprint: its fingerprint (:func:`fingerprint`).
    :ivar not_after: the end of the certificate's validity, a POSIX timestamp.
    :ivar stamps: this key's :class:`~fleetven._fast._sig_py.Stamps` (the ``ReplayProtect`` timestamps
        of the messages it signs, the date part formatted once per second), made with the key.
    """

    __slots__ = ("algorithm", "cert_b64", "certificate", "fingerprint", "not_after", "stamps", "_key", "_ec_size",
                 "__weakref__")

    def __init__(self, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        self.certificate = certificate
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.cert_b64: bytes = base64.b64encode(der)
        self.fingerprint: str = fingerprint_der(der)
        self.not_after: float = certificate.not_valid_after_utc.timestamp()
        self.stamps: Stamps = Stamps()
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


class KeyCache:
    """Loaded keys by file contents and passphrase, so an identity is loaded once however often it is named.

    Its owner makes one and hands it to :func:`load_signing_key` (a :class:`~fleetven.Fleet` makes one
    for its VENs, so a key file many VENs share is parsed once per fleet). Bounded (least recently
    used out first) and keyed by content: a file rewritten with a new key is a new identity.
    Thread-safe.

    :param size: how many identities to keep.
    """

    __slots__ = ("_items", "_lock", "_size")

    def __init__(self, size: int = 1024) -> None:
        self._items: OrderedDict[tuple[bytes, bytes, bytes | None], SigningKey] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def __len__(self) -> int:
        """The number of identities held."""
        return len(self._items)

    def get(self, k: tuple[bytes, bytes, bytes | None]) -> SigningKey | None:
        """The key loaded from ``(certificate, private key, passphrase)`` contents, or None."""
        with self._lock:
            item = self._items.get(k)
            if item is not None:
                self._items.move_to_end(k)
            return item

    def put(self, k: tuple[bytes, bytes, bytes | None], v: SigningKey) -> SigningKey:
        """Keep ``v`` for ``k`` and return it, or the key another thread put there first."""
        with self._lock:
            have = self._items.setdefault(k, v)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            return have


def load_signing_key(cert: bytes | str | os.PathLike[str], key: bytes | str | os.PathLike[str],
                     passphrase: bytes | str | None = None, *, cache: KeyCache | None = None) -> SigningKey:
    """Load a certificate and its private key, and return the :class:`SigningKey`.

    With a ``cache``, the same certificate and key (by content) and passphrase give the same
    object: the PEM is parsed only the first time. Without one, every call parses the files
    and returns a new key (nothing is kept between calls).

    :param cert: path to the PEM certificate, or its PEM bytes.
    :param key: path to the PEM private key (PKCS#8 or traditional, encrypted or not), or its PEM bytes.
    :param passphrase: the key's passphrase, when it is encrypted.
    :param cache: the :class:`KeyCache` of the caller (a fleet's), or None to load afresh.
    :raises ConfigurationError: a file cannot be read or parsed, the passphrase is missing or wrong,
        the key does not belong to the certificate, the key is too weak (RSA under 2048 bits,
        EC under P-256, or another key type) or the certificate has expired or is not valid yet.
    """
    cert_pem, cert_name = _source(cert, "certificate")
    key_pem, key_name = _source(key, "private key")
    pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    k = (cert_pem, key_pem, pw)
    if cache is not None:
        found = cache.get(k)
        if found is not None:
            return found
    try:
        certificate = (x509.load_pem_x509_certificate(cert_pem) if is_pem(cert_pem)
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
        if private_key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"the private key {key_name} is RSA-{private_key.key_size}: RSA keys must have "
                                     f"at least {MIN_RSA_BITS} bits", path=key_name)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.key_size < MIN_EC_BITS:
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
    start, end = validity(certificate)
    now = time.time()
    if now > end:
        raise ConfigurationError(f"the certificate {cert_name} expired on {certificate.not_valid_after_utc:%Y-%m-%d}",
                                 path=cert_name)
    if now < start:
        raise ConfigurationError(f"the certificate {cert_name} is not valid before "
                                 f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z", path=cert_name)
    loaded = SigningKey(certificate, private_key)
    return loaded if cache is None else cache.put(k, loaded)
