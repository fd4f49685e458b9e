"""fleetven.http.tls: client contexts per TLS identity, the two TLS modes against real local TLS servers,
mutual TLS, and the start-up certificate checks.

The certificates come from :mod:`fleetven.testing.certs`: two CAs of different names, each in its
own directory, and the leaves issued into them.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetven.exceptions import ConfigurationError
from fleetven.http.tls import OPENADR_CIPHERS, TLS_MODES, ContextCache, check_certificate, client_context
from fleetven.testing.certs import CertificateAuthority, Credentials

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)

# --------------------------------------------------------------------------------------- certificates


@dataclass
class _World:
    ca: CertificateAuthority
    other_ca: CertificateAuthority
    server_ec: Credentials
    server_rsa: Credentials
    client: Credentials
    client2: Credentials
    stranger: Credentials  # a client certificate issued by another CA


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> _World:
    root = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create(root / "ca", name="ca test CA", key_type="ec")
    other = CertificateAuthority.create(root / "other", name="other test CA", key_type="ec")
    return _World(
        ca=ca,
        other_ca=other,
        server_ec=ca.issue_server("vtn-ec"),
        server_rsa=ca.issue_server("vtn-rsa", key_type="rsa"),
        client=ca.issue_client("ven-1"),
        client2=ca.issue_client("ven-2", key_type="rsa"),
        stranger=other.issue_client("ven-x"),
    )


# ---------------------------------------------------------------------------------------- local servers


def _server_context(
    served: Credentials,
    *,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED),
    ciphers: str = "DEFAULT",
    client_ca: CertificateAuthority | None = None,
) -> ssl.SSLContext:
    """A server context. The default ciphers are OpenSSL's ``DEFAULT`` list, which (unlike Python's)
    includes both OpenADR suites: a server like a VTN in certification, but not limited to it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version, ctx.maximum_version = versions
    # Spelt with @SECLEVEL=2 for the same reason as in fleetven.http.tls: AES128-SHA256 (plain RSA key
    # exchange) is refused from level 3 up, and a system openssl.cnf may set a higher default.
    ctx.set_ciphers(f"{ciphers}:@SECLEVEL=2")
    ctx.load_cert_chain(served.cert, served.key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca.cert)
    return ctx


@dataclass
class _Seen:
    peers: list[Any]


@asynccontextmanager
async def _tls_server(ctx: ssl.SSLContext) -> AsyncIterator[tuple[int, _Seen]]:
    """An echo-once TLS server on a free port; ``seen.peers`` gets the client certificate of each
    connection whose handshake succeeded (``None`` when the client sent none)."""
    seen = _Seen([])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen.peers.append(writer.get_extra_info("peercert"))
            line = await reader.readline()
            writer.write(b"pong:" + line)
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, seen
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class _Session:
    version: str | None
    cipher: str | None
    answer: bytes


async def _talk(port: int, ctx: ssl.SSLContext, *, hostname: str = "localhost") -> _Session:
    """Connect, send one line, read the answer; TLS failures propagate."""
    async with asyncio.timeout(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=hostname)
        try:
            obj = writer.get_extra_info("ssl_object")
            version, cipher = obj.version(), obj.cipher()[0]
            writer.write(b"ping\n")
            await writer.drain()
            answer = await reader.readline()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
    return _Session(version, cipher, answer)


# A refused handshake shows up as an SSL alert or, when the server drops the connection first, as a reset.
_HANDSHAKE_FAILED = (ssl.SSLError, ConnectionError)


async def _refused(port: int, ctx: ssl.SSLContext, *, hostname: str = "localhost") -> None:
    """The connection must fail: during the handshake, or (TLS 1.3, where the server checks the client
    certificate after the client has finished) at the first read, with no answer."""
    try:
        session = await _talk(port, ctx, hostname=hostname)
    except _HANDSHAKE_FAILED:
        return
    assert session.answer == b"", f"the connection was accepted ({session})"


# ------------------------------------------------------------------------------------------- contexts


def test_modes() -> None:
    assert TLS_MODES == ("default", "certification")
    assert OPENADR_CIPHERS == ("ECDHE-ECDSA-AES128-SHA256", "AES128-SHA256")


def test_certification_context_pins_tls12_and_the_two_suites(world: _World) -> None:
    ctx = client_context(ca_file=world.ca.cert, mode="certification")
    assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_2
    tls12 = sorted(c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3")
    assert tls12 == sorted(OPENADR_CIPHERS)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_default_context_adds_the_openadr_suites_to_pythons(world: _World) -> None:
    ctx = client_context(ca_file=world.ca.cert)
    names = {c["name"] for c in ctx.get_ciphers()}
    python_default = {c["name"] for c in ssl.create_default_context().get_ciphers()}
    assert set(OPENADR_CIPHERS) <= names
    assert python_default <= names
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.MAXIMUM_SUPPORTED


def test_check_hostname_off_still_verifies_the_certificate(world: _World) -> None:
    ctx = client_context(ca_file=world.ca.cert, check_hostname=False)
    assert not ctx.check_hostname
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_cache_shares_one_context_per_identity(world: _World) -> None:
    cache = ContextCache()
    c1, c2 = world.client, world.client2
    a = cache.get(cert=c1.cert, key=c1.key, ca_file=world.ca.cert)
    # the same identity, spelt with str instead of Path, is the same identity
    b = cache.get(cert=str(c1.cert), key=str(c1.key), ca_file=str(world.ca.cert))
    assert a is b
    other_cert = cache.get(cert=c2.cert, key=c2.key, ca_file=world.ca.cert)
    no_cert = cache.get(ca_file=world.ca.cert)
    other_mode = cache.get(cert=c1.cert, key=c1.key, ca_file=world.ca.cert, mode="certification")
    no_hostname = cache.get(cert=c1.cert, key=c1.key, ca_file=world.ca.cert, check_hostname=False)
    contexts = [a, other_cert, no_cert, other_mode, no_hostname]
    assert len({id(c) for c in contexts}) == len(contexts) == len(cache)
    assert cache.get(ca_file=world.ca.cert) is no_cert
    assert ContextCache().get(cert=c1.cert, key=c1.key, ca_file=world.ca.cert) is not a


def test_cache_keeps_nothing_after_an_error(world: _World, tmp_path: Path) -> None:
    cache = ContextCache()
    with pytest.raises(ConfigurationError):
        cache.get(cert=tmp_path / "missing.crt", ca_file=world.ca.cert)
    assert len(cache) == 0


# ------------------------------------------------------------------------------- against local servers


@pytest.mark.parametrize("kind, suite", [("ec", "ECDHE-ECDSA-AES128-SHA256"), ("rsa", "AES128-SHA256")])
async def test_certification_mode_negotiates_tls12_with_an_openadr_suite(world: _World, kind: str, suite: str) -> None:
    served = world.server_ec if kind == "ec" else world.server_rsa
    # the server allows everything it can; the client's pinning decides
    async with _tls_server(_server_context(served)) as (port, _):
        session = await _talk(port, client_context(ca_file=world.ca.cert, mode="certification"))
    assert session.version == "TLSv1.2"
    assert session.cipher == suite
    assert session.answer == b"pong:ping\n"


async def test_default_mode_reaches_a_certification_only_server(world: _World) -> None:
    # a VTN that speaks only TLS 1.2 with AES128-SHA256, which Python's own defaults leave out
    server_ctx = _server_context(
        world.server_rsa, versions=(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2), ciphers="AES128-SHA256"
    )
    async with _tls_server(server_ctx) as (port, _):
        session = await _talk(port, client_context(ca_file=world.ca.cert))
        await _refused(port, ssl.create_default_context(cafile=world.ca.cert))
    assert (session.version, session.cipher) == ("TLSv1.2", "AES128-SHA256")


async def test_certification_mode_refuses_a_tls13_only_server(world: _World) -> None:
    server_ctx = _server_context(world.server_ec, versions=(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3))
    async with _tls_server(server_ctx) as (port, seen):
        with pytest.raises(_HANDSHAKE_FAILED):
            await _talk(port, client_context(ca_file=world.ca.cert, mode="certification"))
    assert seen.peers == []


async def test_certification_mode_refuses_other_tls12_suites(world: _World) -> None:
    server_ctx = _server_context(
        world.server_ec,
        versions=(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
        ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
    )
    async with _tls_server(server_ctx) as (port, seen):
        with pytest.raises(_HANDSHAKE_FAILED):
            await _talk(port, client_context(ca_file=world.ca.cert, mode="certification"))
    assert seen.peers == []


async def test_default_mode_negotiates_tls13(world: _World) -> None:
    server_ctx = _server_context(world.server_ec, versions=(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3))
    async with _tls_server(server_ctx) as (port, _):
        session = await _talk(port, client_context(ca_file=world.ca.cert))
    assert session.version == "TLSv1.3"
    assert session.answer == b"pong:ping\n"


async def test_server_from_another_ca_is_refused(world: _World) -> None:
    async with _tls_server(_server_context(world.server_ec)) as (port, seen):
        for check_hostname in (True, False):
            with pytest.raises(ssl.SSLCertVerificationError):
                await _talk(port, client_context(ca_file=world.other_ca.cert, check_hostname=check_hostname))
    assert seen.peers == []


async def test_check_hostname(world: _World) -> None:
    async with _tls_server(_server_context(world.server_ec)) as (port, _):
        with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname"):
            await _talk(port, client_context(ca_file=world.ca.cert), hostname="vtn.example.com")
        session = await _talk(
            port, client_context(ca_file=world.ca.cert, check_hostname=False), hostname="vtn.example.com"
        )
    assert session.answer == b"pong:ping\n"


def _subject_cn(peercert: Any) -> str:
    return {k: v for rdn in peercert["subject"] for k, v in rdn}["commonName"]


# (certification mode against a TLS 1.3 server is refused before any certificate: tested above)
@pytest.mark.parametrize(
    "mode, server_version", [("default", "TLSv1_2"), ("default", "TLSv1_3"), ("certification", "TLSv1_2")]
)
async def test_mutual_tls(world: _World, mode: str, server_version: str) -> None:
    version = ssl.TLSVersion[server_version]
    server_ctx = _server_context(world.server_ec, versions=(version, version), client_ca=world.ca)
    ca = world.ca.cert
    async with _tls_server(server_ctx) as (port, seen):
        for client in (world.client, world.client2):
            ctx = client_context(cert=client.cert, key=client.key, ca_file=ca, mode=mode)
            session = await _talk(port, ctx)
            assert session.answer == b"pong:ping\n"
        assert [_subject_cn(p) for p in seen.peers] == ["ven-1", "ven-2"]
        stranger = world.stranger
        await _refused(port, client_context(cert=stranger.cert, key=stranger.key, ca_file=ca, mode=mode))
        await _refused(port, client_context(ca_file=ca, mode=mode))  # no client certificate at all
    assert len(seen.peers) == 2  # the refused clients never reached the server's handler


# -------------------------------------------------------------------------------- configuration errors


def _raises(match: str, **kwargs: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError, match=match) as info:
        client_context(**kwargs)
    assert not isinstance(info.value, ssl.SSLError)
    return info.value


def test_missing_and_unreadable_files(world: _World, tmp_path: Path) -> None:
    missing = tmp_path / "nope.crt"
    err = _raises(r"cannot read the client certificate .*nope\.crt.*No such file", cert=missing)
    assert err.file == str(missing)
    _raises(r"cannot read the private key .*nope\.key", cert=world.client.cert, key=tmp_path / "nope.key")
    _raises(r"cannot read the CA file .*nope\.pem", ca_file=tmp_path / "nope.pem")
    _raises(r"cannot read the client certificate .*Is a directory", cert=tmp_path)


def test_files_that_are_not_pem(world: _World, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"this is not a certificate\n")
    der = tmp_path / "client.der"
    der.write_bytes(world.client.cert_der)
    _raises(r"junk\.pem' holds no PEM certificate", cert=junk, key=world.client.key)
    _raises(r"client\.der' holds no PEM certificate", cert=der, key=world.client.key)
    _raises(r"junk\.pem' holds no usable PEM private key", cert=world.client.cert, key=junk)
    _raises(r"CA file .*junk\.pem' holds no PEM certificate", ca_file=junk)
    _raises(r"holds no private key", cert=world.client.cert)


def test_key_not_matching_the_certificate(world: _World) -> None:
    err = _raises(
        r"private key .*ven-2\.key' does not match the certificate .*ven-1\.pem",
        cert=world.client.cert,
        key=world.client2.key,
    )
    assert err.file == str(world.client.cert)


def test_encrypted_key(world: _World) -> None:
    locked = world.ca.issue_client("ven-locked", passphrase="s3cret")
    cert, key = locked.cert, locked.key
    _raises(r"wrong passphrase for the private key .*ven-locked\.key", cert=cert, key=key, passphrase="guess")
    # without a passphrase OpenSSL would prompt on the terminal: it must not, it must say so
    _raises(r"ven-locked\.key' is encrypted and no passphrase was given", cert=cert, key=key)
    for passphrase in ("s3cret", b"s3cret"):
        ctx = client_context(cert=cert, key=key, passphrase=passphrase, ca_file=world.ca.cert)
        assert isinstance(ctx, ssl.SSLContext)


def test_bad_arguments(world: _World) -> None:
    _raises(r"unknown TLS mode 'tls13': expected one of default, certification", mode="tls13")
    _raises(r"private key .*ven-1\.key' was given without a client certificate", key=world.client.key)


# ---------------------------------------------------------------------------------- certificate checks


@pytest.fixture(scope="module")
def short_lived(world: _World) -> Credentials:
    return world.ca.issue_client("ven-short", not_valid_before=NOW - 10 * DAY, valid_for=20 * DAY)


def _tls_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fleetven.tls" and r.levelno == logging.WARNING]


def test_expiry_warning_names_the_owner_and_date(
    world: _World, short_lived: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fleetven.tls")
    check_certificate(world.client.cert, owner="ven-17")  # 90 days left: quiet
    assert _tls_warnings(caplog) == []
    cert = check_certificate(short_lived.cert, owner="ven-17", now=NOW)
    assert cert == short_lived.certificate
    (message,) = _tls_warnings(caplog)
    assert "ven-17" in message
    assert (NOW + 10 * DAY).date().isoformat() in message
    assert "ven-short.pem" in message

    caplog.clear()
    check_certificate(short_lived.cert, owner="ven-17", now=NOW, warn_days=5)
    check_certificate(short_lived.cert, owner="ven-17", now=NOW - 9 * DAY, warn_days=15)
    assert _tls_warnings(caplog) == []


def test_expired_and_not_yet_valid(short_lived: Credentials, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigurationError, match=r"ven-short\.pem' of ven-3 .* expired on") as info:
        check_certificate(short_lived.cert, owner="ven-3", now=NOW + 11 * DAY)
    assert info.value.owner == "ven-3" and info.value.reason == "expired"
    with pytest.raises(ConfigurationError, match=r"of fleet .* is not valid before"):
        check_certificate(short_lived.cert, owner="fleet", now=(NOW - 11 * DAY).timestamp())


def test_chain_in_the_file_is_checked_too(world: _World, short_lived: Credentials, tmp_path: Path) -> None:
    # a leaf valid for a year followed by a chain certificate that expires in 10 days
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(world.client.cert.read_bytes() + short_lived.cert.read_bytes())
    assert check_certificate(bundle, owner="fleet", now=NOW) == world.client.certificate
    with pytest.raises(ConfigurationError, match=r"certificate #2 in .*bundle\.pem' of fleet .* expired"):
        check_certificate(bundle, owner="fleet", now=NOW + 11 * DAY)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda i: i.cert, id="path"),
        pytest.param(lambda i: str(i.cert), id="str-path"),
        pytest.param(lambda i: i.cert.read_text(), id="pem-text"),
        pytest.param(lambda i: i.cert.read_bytes(), id="pem-bytes"),
        pytest.param(lambda i: i.cert_der, id="der-bytes"),
        pytest.param(lambda i: i.certificate, id="object"),
    ],
)
def test_certificate_sources(world: _World, source: Callable[[Credentials], Any]) -> None:
    assert check_certificate(source(world.client), owner="fleet") == world.client.certificate


def test_unreadable_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read the certificate .*gone\.pem' of ven-9") as info:
        check_certificate(tmp_path / "gone.pem", owner="ven-9")
    assert info.value.file == str(tmp_path / "gone.pem")
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError, match=r"junk\.pem' of ven-9 cannot be read: not a PEM or DER"):
        check_certificate(junk, owner="ven-9")
    with pytest.raises(ConfigurationError, match=r"of fleet cannot be read"):
        check_certificate(b"\x00\x01garbage", owner="fleet")
