"""TLS for VEN identities: client contexts, their cache, and certificate checks at start-up.

A *TLS identity* is everything that decides how a VEN's connections are made: its client
certificate and key (and the key's passphrase), the CA file that the VTN's certificate is checked
against, whether the host name is checked, and the :data:`TLS_MODES` mode. VENs that share an
identity share one :class:`ssl.SSLContext` (so the HTTP pool may share their connections); VENs
with different client certificates never do, because their contexts are different objects.

Two modes:

``"default"``
    TLS 1.2 or 1.3; Python's default TLS 1.2 cipher list plus the two OpenADR 2.0b suites, so that
    a VTN configured for certification (TLS 1.2 and those suites only) still accepts us.
``"certification"``
    What the OpenADR 2.0b certification profile asks for and nothing else: TLS 1.2 only, and only
    ``ECDHE-ECDSA-AES128-SHA256`` and ``AES128-SHA256`` (TLS_RSA_WITH_AES_128_CBC_SHA256).

Every problem with the files (missing, unreadable, not PEM, wrong passphrase, key not matching
the certificate, expired certificate) is a :class:`~fleetven.exceptions.ConfigurationError` that
names the file and the reason, raised when the fleet starts rather than at the first poll.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
from typing import Final, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from fleetven.exceptions import ConfigurationError

__all__ = (
    "TLS_MODES",
    "OPENADR_CIPHERS",
    "client_context",
    "ContextCache",
    "check_certificate",
)

logger = logging.getLogger("fleetven.tls")

#: The TLS modes :func:`client_context` knows.
TLS_MODES: Final = ("default", "certification")

#: The two cipher suites of the OpenADR 2.0b profile, in OpenSSL's names.
OPENADR_CIPHERS: Final = ("ECDHE-ECDSA-AES128-SHA256", "AES128-SHA256")

# Security level 2 is Python's own default (its built-in cipher string starts with it), spelt out
# because ``set_ciphers`` replaces that string and would otherwise fall back to whatever the system
# OpenSSL configuration says. It is also the highest level that still allows AES128-SHA256: level 3
# refuses suites without forward secrecy, and that suite uses plain RSA key exchange.
_SECLEVEL: Final = "@SECLEVEL=2"

StrPath: TypeAlias = "str | os.PathLike[str]"
Passphrase: TypeAlias = "str | bytes | None"
CertificateSource: TypeAlias = "str | bytes | os.PathLike[str] | x509.Certificate"
Identity: TypeAlias = "tuple[str | None, str | None, str | bytes | None, str | None, bool, str]"


def _default_tls12_ciphers() -> list[str]:
    """Python's default TLS 1.2 cipher names (TLS 1.3 suites are configured apart from these)."""
    # A bare client context starts with Python's built-in cipher string; no certificates are loaded.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return [c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]


def _cipher_string(mode: str) -> str:
    if mode == "certification":
        names = list(OPENADR_CIPHERS)
    else:
        names = _default_tls12_ciphers()
        names += [name for name in OPENADR_CIPHERS if name not in names]
    return ":".join([_SECLEVEL, *names])


def _fspath(value: StrPath | None) -> str | None:
    return None if value is None else os.fspath(value)


def _check_readable(path: str, what: str) -> None:
    """Open and read ``path`` once, so that a missing or unreadable file gets its own clear message."""
    try:
        with open(path, "rb") as fh:
            fh.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigurationError(f"cannot read the {what} {path!r}: {reason}", file=path, reason=reason) from exc


class _NoPassphrase(Exception):
    """Raised from the password callback: the key is encrypted and no passphrase was configured."""


def _explain_chain_failure(cert: str, key: str | None, passphrase: Passphrase, exc: Exception, asked: bool) -> str:
    """Why ``load_cert_chain`` failed, in words (the ssl module mostly says ``PEM lib``).

    Only runs on the error path, so it may parse the files again with ``cryptography``.
    """
    key_file = key or cert
    try:
        with open(cert, "rb") as fh:
            leaf = x509.load_pem_x509_certificates(fh.read())[0]
    except (OSError, ValueError):
        return f"the certificate file {cert!r} holds no PEM certificate"
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        with open(key_file, "rb") as fh:
            private = serialization.load_pem_private_key(fh.read(), password=password if asked else None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        if asked:
            return f"wrong passphrase for the private key {key_file!r}"
        if key is None:
            return f"the certificate file {cert!r} holds no private key (give the key file too)"
        return f"the key file {key!r} holds no usable PEM private key"
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*raw) != leaf.public_key().public_bytes(*raw):
        return f"the private key {key_file!r} does not match the certificate {cert!r}"
    return f"cannot load the certificate {cert!r} with the key {key_file!r}: {exc}"


def _load_identity(ctx: ssl.SSLContext, cert: str, key: str | None, passphrase: Passphrase) -> None:
    _check_readable(cert, "client certificate")
    if key is not None:
        _check_readable(key, "private key")
    asked = False

    # A callable rather than the passphrase itself: with an encrypted key and no passphrase,
    # OpenSSL would otherwise prompt on the terminal and block the process.
    def password() -> str | bytes:
        nonlocal asked
        asked = True
        if passphrase is None:
            raise _NoPassphrase
        return passphrase

    try:
        ctx.load_cert_chain(cert, key, password)
    except _NoPassphrase:
        where = key or cert
        raise ConfigurationError(
            f"the private key {where!r} is encrypted and no passphrase was given",
            file=where,
            reason="no passphrase",
        ) from None
    except (OSError, ssl.SSLError) as exc:
        reason = _explain_chain_failure(cert, key, passphrase, exc, asked)
        raise ConfigurationError(reason, file=cert, reason=reason) from exc


def client_context(
    *,
    cert: StrPath | None = None,
    key: StrPath | None = None,
    passphrase: Passphrase = None,
    ca_file: StrPath | None = None,
    check_hostname: bool = True,
    mode: str = "default",
) -> ssl.SSLContext:
    """A new client :class:`ssl.SSLContext` for one TLS identity.

    The VTN's certificate is always verified (``CERT_REQUIRED``), against ``ca_file`` when given
    (and only against it, as OpenLEADR does), else against the system's trusted CAs.

    :param cert: the VEN's client certificate (PEM file; it may also hold the key and a chain).
    :param key: the VEN's private key (PEM file); ``None`` when ``cert`` holds it.
    :param passphrase: the passphrase of an encrypted ``key``.
    :param ca_file: PEM file of the CA certificates the VTN's certificate must chain to.
    :param check_hostname: check that the VTN's certificate names the host connected to. When
        ``False`` the certificate is still verified against the CAs.
    :param mode: one of :data:`TLS_MODES`: ``"default"`` (TLS 1.2 and 1.3, Python's ciphers plus
        the two OpenADR suites) or ``"certification"`` (TLS 1.2 and the two OpenADR suites only).
    :raises ConfigurationError: unknown mode, a key without a certificate, a file that is missing,
        unreadable or not PEM, a wrong or missing passphrase, a key that does not match the
        certificate; the message names the file and the reason.
    """
    if mode not in TLS_MODES:
        raise ConfigurationError(f"unknown TLS mode {mode!r}: expected one of {', '.join(TLS_MODES)}", mode=mode)
    cert_s, key_s, ca_s = _fspath(cert), _fspath(key), _fspath(ca_file)
    if key_s is not None and cert_s is None:
        raise ConfigurationError(f"a private key {key_s!r} was given without a client certificate", file=key_s)

    if ca_s is not None:
        _check_readable(ca_s, "CA file")
    try:
        # Python's client defaults (CERT_REQUIRED, check_hostname, and on newer Pythons strict X.509
        # checks); with a CA file only that file is trusted, without one the system's CAs are.
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_s)
    except ssl.SSLError as exc:
        reason = f"the CA file {ca_s!r} holds no PEM certificate"
        raise ConfigurationError(reason, file=ca_s, reason=reason) from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if mode == "certification":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_cipher_string(mode))
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED

    if cert_s is not None:
        _load_identity(ctx, cert_s, key_s, passphrase)
    return ctx


class ContextCache:
    """One :class:`ssl.SSLContext` per TLS identity, made on first use.

    The same identity (cert, key, passphrase, ca_file, check_hostname, mode) always gets the same
    context object; a different client certificate always gets a different one. One cache belongs
    to one fleet (there is no process-wide cache).
    """

    __slots__ = ("_contexts",)

    def __init__(self) -> None:
        self._contexts: dict[Identity, ssl.SSLContext] = {}

    def get(
        self,
        *,
        cert: StrPath | None = None,
        key: StrPath | None = None,
        passphrase: Passphrase = None,
        ca_file: StrPath | None = None,
        check_hostname: bool = True,
        mode: str = "default",
    ) -> ssl.SSLContext:
        """The context of this identity (arguments as for :func:`client_context`).

        :raises ConfigurationError: as :func:`client_context`; nothing is cached then.
        """
        ident: Identity = (_fspath(cert), _fspath(key), passphrase, _fspath(ca_file), bool(check_hostname), mode)
        ctx = self._contexts.get(ident)
        if ctx is None:
            ctx = client_context(
                cert=ident[0], key=ident[1], passphrase=passphrase, ca_file=ident[3],
                check_hostname=ident[4], mode=mode,
            )
            self._contexts[ident] = ctx
        return ctx

    def __len__(self) -> int:
        return len(self._contexts)

    def clear(self) -> None:
        """Forget every context (connections already open keep theirs)."""
        self._contexts.clear()


def _read_certificates(source: CertificateSource, owner: str) -> tuple[list[x509.Certificate], str]:
    """The certificates in ``source`` (first is the leaf) and a description of where they came from."""
    if isinstance(source, x509.Certificate):
        return [source], "given"
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        data, where = source.encode("ascii", "replace"), "given as PEM text"
    elif isinstance(source, bytes):
        data, where = source, "given as bytes"
    else:
        path = os.fspath(source)
        where = repr(path)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigurationError(
                f"cannot read the certificate {where} of {owner}: {reason}", owner=owner, file=path, reason=reason
            ) from exc
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        reason = "not a PEM or DER X.509 certificate"
        raise ConfigurationError(
            f"the certificate {where} of {owner} cannot be read: {reason} ({exc})", owner=owner, reason=reason
        ) from exc
    return certs, where


def _as_datetime(now: datetime.datetime | float | None) -> datetime.datetime:
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, datetime.datetime):
        return now if now.tzinfo is not None else now.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc)


def check_certificate(
    cert_path_or_pem: CertificateSource,
    *,
    owner: str,
    warn_days: float = 30,
    now: datetime.datetime | float | None = None,
) -> x509.Certificate:
    """Read a certificate and check its validity period; meant for start-up.

    Every certificate in the file is checked (the leaf and any chain after it). One that expires
    within ``warn_days`` is logged as a WARNING on the ``fleetven.http.tls`` logger, naming ``owner`` and
    the expiry date.

    :param cert_path_or_pem: a path to a PEM or DER file, PEM text, PEM or DER bytes, or a parsed
        certificate.
    :param owner: who uses the certificate, for the messages: the VEN's name, or ``"fleet"``.
    :param warn_days: warn when the certificate expires within this many days.
    :param now: the current time (aware or UTC :class:`~datetime.datetime`, or POSIX seconds);
        the clock when ``None``.
    :returns: the first (leaf) certificate.
    :raises ConfigurationError: the certificate cannot be read or parsed, has expired, or is not
        valid yet.
    """
    certs, where = _read_certificates(cert_path_or_pem, owner)
    moment = _as_datetime(now)
    for index, cert in enumerate(certs):
        label = f"certificate {where}" if index == 0 else f"certificate #{index + 1} in {where}"
        subject = cert.subject.rfc4514_string() or "(empty subject)"
        not_after = cert.not_valid_after_utc
        not_before = cert.not_valid_before_utc
        if moment > not_after:
            raise ConfigurationError(
                f"the {label} of {owner} ({subject}) expired on {not_after.isoformat()}",
                owner=owner, reason="expired", not_after=not_after,
            )
        if moment < not_before:
            raise ConfigurationError(
                f"the {label} of {owner} ({subject}) is not valid before {not_before.isoformat()}",
                owner=owner, reason="not yet valid", not_before=not_before,
            )
        left = not_after - moment
        if left <= datetime.timedelta(days=warn_days):
            logger.warning(
                "the %s of %s (%s) expires on %s, in %.1f days",
                label, owner, subject, not_after.isoformat(), left.total_seconds() / 86400,
            )
    return certs[0]
