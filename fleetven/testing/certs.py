"""Throw-away certificates for tests: a CA, a VTN server certificate and VEN client certificates.

Mutual TLS and XML signatures need a small PKI. :class:`CertificateAuthority` makes one in a
directory, with RSA (2048 bits and up) or ECDSA (P-256 and up) keys, as PEM files that
``ssl``, OpenLEADR and fleetven all read::

    from fleetven.testing.certs import CertificateAuthority

    ca = CertificateAuthority.create(tmp_path, key_type="ec")
    vtn = ca.issue_server("vtn")                         # for 127.0.0.1 and localhost
    vens = [ca.issue_client(f"site-{i}") for i in range(3)]
    fleet = Fleet(url, ca_file=str(ca.cert), vtn_fingerprint=vtn.fingerprint)
    for ven in vens:
        fleet.add_ven(ven.name, cert=str(ven.cert), key=str(ven.key))

Each issued :class:`Credentials` names its files and its fingerprint in OpenLEADR's format (the
last 10 bytes of the SHA-256 of the certificate's DER, ``AA:BB:...``), the string a VTN is told
about a VEN and a VEN about its VTN. Nothing here is fit for production: the keys are written
unencrypted unless a ``passphrase`` is given, and nobody checks who asked for a certificate.

Tests of refusals get certificates that are wrong on purpose: expired or not yet valid (``not_valid_before``
and ``valid_for``), from another CA (a second :class:`CertificateAuthority`, of the same ``name`` or not),
or for a key that :func:`generate_key` would refuse to make (``private_key=``, say an RSA-1024 key the test
made itself)::

    old = ca.issue_client("old", not_valid_before=now - timedelta(days=10), valid_for=timedelta(days=1))
    weak = ca.issue_client("weak", private_key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    signer = SigningKey(weak.certificate, weak.private_key())
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetven.exceptions import ConfigurationError

__all__ = ("CertificateAuthority", "Credentials", "KeyType", "generate_key", "fingerprint_of")

#: ``"rsa"`` (RSA-2048 unless ``key_size`` says more) or ``"ec"`` (ECDSA on P-256 unless
#: ``key_size`` is 384 or 521).
KeyType: TypeAlias = Literal["rsa", "ec"]
PrivateKey: TypeAlias = "rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey"

_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Backdated an hour, so that a peer whose clock is behind (or a test that read its clock earlier) still
# accepts a fresh certificate.
_BACKDATE = datetime.timedelta(hours=1)


def generate_key(key_type: KeyType = "rsa", key_size: int | None = None) -> PrivateKey:
    """A new private key.

    :param key_type: ``"rsa"`` or ``"ec"``.
    :param key_size: RSA modulus bits (default and minimum 2048) or EC curve size (256, 384 or
        521; default 256).
    :raises ConfigurationError: an unknown key type or a size the OpenADR profile does not allow.
    """
    if key_type == "rsa":
        bits = 2048 if key_size is None else key_size
        if bits < 2048:
            raise ConfigurationError(f"an RSA test key needs at least 2048 bits, not {bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ec":
        curve = _CURVES.get(256 if key_size is None else key_size)
        if curve is None:
            raise ConfigurationError(f"an EC test key size must be one of 256, 384, 521, not {key_size}")
        return ec.generate_private_key(curve)
    raise ConfigurationError(f"key_type must be 'rsa' or 'ec', not {key_type!r}")


def fingerprint_of(cert: x509.Certificate) -> str:
    """The certificate's fingerprint as OpenLEADR prints it: the last 10 bytes of the SHA-256 of
    its DER, as colon-separated upper-case hex."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return ":".join(f"{b:02X}" for b in digest[-10:])


@dataclass(frozen=True, slots=True)
class Credentials:
    """An issued certificate and its key, as files.

    :ivar name: the name it was issued for (its subject's common name).
    :ivar cert: the PEM certificate file.
    :ivar key: the PEM private key file (PKCS#8; encrypted when :attr:`passphrase` is set).
    :ivar passphrase: the key's passphrase, or ``None``.
    :ivar fingerprint: the certificate's fingerprint in OpenLEADR's format.
    :ivar certificate: the certificate itself.
    """

    name: str
    cert: Path
    key: Path
    passphrase: str | None
    fingerprint: str
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        """The certificate, PEM-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        """The certificate, DER-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        """The private key file's bytes (PKCS#8 PEM; encrypted when :attr:`passphrase` is set)."""
        return self.key.read_bytes()

    def private_key(self) -> PrivateKey:
        """The private key, read from :attr:`key` (decrypted with :attr:`passphrase`)."""
        password = self.passphrase.encode() if self.passphrase else None
        loaded = serialization.load_pem_private_key(self.key_pem, password)
        if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ConfigurationError(f"the key file {self.key} holds a {type(loaded).__name__}, not an RSA or EC key")
        return loaded


class CertificateAuthority:
    """A self-signed CA that issues server and client certificates into one directory.

    Make one with :meth:`create`. Files are named after what they are for:
    ``ca.pem``/``ca.key``, then ``<name>.pem``/``<name>.key`` for every certificate issued.

    :param directory: where its files are.
    :param cert: the CA certificate.
    :param key: the CA's private key.
    :param key_type: the key type that certificates it issues get unless told otherwise.
    """

    def __init__(self, directory: Path, cert: x509.Certificate, key: PrivateKey, *, key_type: KeyType = "rsa") -> None:
        self.directory = directory
        self.certificate = cert
        self._key = key
        self.key_type: KeyType = key_type
        #: The CA certificate's PEM file: the ``ca_file`` of VENs and the ``http_ca_file`` of VTNs.
        self.cert = directory / "ca.pem"

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        *,
        name: str = "fleetven test CA",
        key_type: KeyType = "rsa",
        key_size: int | None = None,
        valid_for: datetime.timedelta = datetime.timedelta(days=365),
    ) -> CertificateAuthority:
        """Create a CA and write ``ca.pem`` and ``ca.key`` into ``directory`` (made if missing).

        :param directory: where the CA and everything it issues are written.
        :param name: the CA's common name; two CAs of the same name are still different CAs.
        :param key_type: the CA's key type, and the default for the certificates it issues.
        :param key_size: see :func:`generate_key`.
        :param valid_for: how long the CA certificate is valid from now.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        key = generate_key(key_type, key_size)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        ca = cls(path, cert, key, key_type=key_type)
        _write(ca.cert, cert.public_bytes(serialization.Encoding.PEM))
        _write(path / "ca.key", _key_pem(key, None))
        return ca

    def issue_server(
        self,
        name: str = "vtn",
        *,
        hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
        key_type: KeyType | None = None,
        key_size: int | None = None,
        passphrase: str | None = None,
        valid_for: datetime.timedelta = datetime.timedelta(days=90),
        not_valid_before: datetime.datetime | None = None,
        private_key: PrivateKey | None = None,
    ) -> Credentials:
        """Issue a TLS server certificate (``serverAuth``) for ``hosts``: IP addresses become IP
        subject alternative names, anything else DNS names. A VTN may also sign its messages with it.

        :param name: the common name and the files' base name.
        :param hosts: the host names and addresses the certificate is valid for.
        :param key_type: the key type (default: the CA's).
        :param key_size: see :func:`generate_key`.
        :param passphrase: encrypt the written key with it.
        :param valid_for: validity from ``not_valid_before``.
        :param not_valid_before: start of validity (default: an hour ago).
        :param private_key: certify this key instead of a new one (no size check: a test may want
            a weak key); ``key_type`` and ``key_size`` must then be left out.
        """
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(name, ExtendedKeyUsageOID.SERVER_AUTH, names, key_type, key_size, passphrase,
                           valid_for, not_valid_before, private_key)

    def issue_client(
        self,
        name: str,
        *,
        key_type: KeyType | None = None,
        key_size: int | None = None,
        passphrase: str | None = None,
        valid_for: datetime.timedelta = datetime.timedelta(days=90),
        not_valid_before: datetime.datetime | None = None,
        private_key: PrivateKey | None = None,
    ) -> Credentials:
        """Issue a TLS client certificate (``clientAuth``) for a VEN; it signs the VEN's messages too.

        :param name: the common name (a VEN name, say) and the files' base name.
        :param key_type: the key type (default: the CA's).
        :param key_size: see :func:`generate_key`.
        :param passphrase: encrypt the written key with it.
        :param valid_for: validity from ``not_valid_before`` (90 days: fleetven warns about
            certificates that expire within 30); a short one makes a certificate about to expire.
        :param not_valid_before: start of validity (default: an hour ago); with a
            ``valid_for`` that ends in the past, an expired certificate.
        :param private_key: certify this key instead of a new one (no size check: a test may want
            a weak key); ``key_type`` and ``key_size`` must then be left out.
        """
        return self._issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, [], key_type, key_size, passphrase,
                           valid_for, not_valid_before, private_key)

    def _issue(
        self,
        name: str,
        usage: x509.ObjectIdentifier,
        alt_names: list[x509.GeneralName],
        key_type: KeyType | None,
        key_size: int | None,
        passphrase: str | None,
        valid_for: datetime.timedelta,
        not_valid_before: datetime.datetime | None,
        private_key: PrivateKey | None,
    ) -> Credentials:
        base = _SAFE_NAME.sub("_", name)
        if not base or base in ("ca", ".", ".."):
            raise ConfigurationError(f"cannot issue a certificate named {name!r}: pick another name")
        if private_key is None:
            key = generate_key(key_type or self.key_type, key_size)
        elif key_type is not None or key_size is not None:
            raise ConfigurationError(f"certificate {name!r}: give either private_key or key_type/key_size, not both")
        else:
            key = private_key
        start = not_valid_before or datetime.datetime.now(datetime.timezone.utc) - _BACKDATE
        ec_key = isinstance(key, ec.EllipticCurvePrivateKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=not ec_key,
                    data_encipherment=False, key_agreement=ec_key, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        cert_path = self.directory / f"{base}.pem"
        key_path = self.directory / f"{base}.key"
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        _write(key_path, _key_pem(key, passphrase))
        return Credentials(name, cert_path, key_path, passphrase, fingerprint_of(cert), cert)


def _key_pem(key: PrivateKey, passphrase: str | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _write(path: Path, data: bytes) -> None:
    # Keys are secrets even in tests: owner-only from the moment the file exists.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
