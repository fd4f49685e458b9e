"""fleetven.http.transport.Transport against TestVTN and small purpose-built servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.web_server import Server
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetven.exceptions import (
    ConfigurationError,
    HTTPStatusError,
    MessageTooLarge,
    TransportError,
    TransportTimeout,
)
from fleetven.http.transport import SERVICE_OF, SERVICES, Transport
from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.testing import TestVTN

DEADLINE = 10.0
QUERY = build_message(m.QueryRegistration(request_id="q-1"))


@pytest.fixture(params=["request", "post"])
def api(request: pytest.FixtureRequest) -> str:
    """Which API of :class:`Transport` :func:`send` goes through: every test that sends runs over
    the coroutine API (``request``) and over the callback API (``post``)."""
    return str(request.param)


async def send(
    transport: Transport, api: str, service: str, body: bytes, *, ssl: ssl.SSLContext | None = None,
    ven: str | None = None,
) -> bytes:
    """One request through ``api``: :meth:`Transport.request`, or the same contract made of
    :meth:`Transport.post` and its callback (called once, never before ``post`` returns; a
    cancelled wait cancels the call)."""
    if api == "request":
        return await transport.request(service, body, ssl=ssl, ven=ven)
    assert api == "post", api
    done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    calls: list[tuple[bytes | None, BaseException | None]] = []

    def callback(answer: bytes | None, error: BaseException | None) -> None:
        calls.append((answer, error))
        assert len(calls) == 1, "a post callback is called once"
        if not done.done():
            if error is not None:
                done.set_exception(error)
            else:
                assert answer is not None
                done.set_result(answer)

    call = transport.post(service, body, callback, ssl=ssl, ven=ven)
    assert not calls, "a post callback is never called before post returns"
    try:
        return await done
    except asyncio.CancelledError:
        call.cancel()
        raise


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class Peers:
    """What a test server saw: each request's client address (one per TCP connection)."""

    def __init__(self) -> None:
        self.addresses: list[tuple[str, int]] = []

    @property
    def connections(self) -> int:
        return len(set(self.addresses))


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, Peers]]:
    """Run aiohttp's low-level server with ``handler`` on a free port; yield (base URL, peers)."""
    peers = Peers()

    async def recording(request: web.BaseRequest) -> web.StreamResponse:
        assert request.transport is not None
        peers.addresses.append(request.transport.get_extra_info("peername")[:2])
        return await handler(request)

    server = Server(recording, access_log=None)
    listener = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/OpenADR2/Simple/2.0b", peers
    finally:
        listener.close()
        await server.shutdown(1.0)
        await listener.wait_closed()


async def ok(request: web.BaseRequest) -> web.StreamResponse:
    await request.read()
    return web.Response(body=b"<answer/>", content_type="application/xml")


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN() as v:
        yield v


# ------------------------------------------------------------------ success


async def test_query_registration_against_test_vtn(vtn: TestVTN, api: str) -> None:
    async with Transport(vtn.url, timeout=DEADLINE) as transport:
        reply = parse_message(await send(transport, api, "EiRegisterParty", QUERY, ven="site-1"))
    assert isinstance(reply, m.CreatedPartyRegistration)
    assert reply.vtn_id == "TEST-VTN"
    assert reply.response.request_id == "q-1"
    assert [type(r.message) for r in vtn.received] == [m.QueryRegistration]


async def test_request_is_an_xml_post_to_the_service(api: str) -> None:
    seen: list[tuple[str, str, str | None, str | None, bytes]] = []

    async def record(request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        seen.append(
            (request.method, request.path, request.headers.get("Content-Type"), request.headers.get("User-Agent"), body)
        )
        # Any Content-Type is accepted with HTTP 200.
        return web.Response(body=b"plain answer", content_type="text/plain")

    async with serve(record) as (url, _), Transport(url + "/", user_agent="ua-test") as transport:
        assert await send(transport, api, "OadrPoll", b"<poll/>") == b"plain answer"
    assert seen == [("POST", "/OpenADR2/Simple/2.0b/OadrPoll", "application/xml", "ua-test", b"<poll/>")]


async def test_chunked_answer_within_the_cap_is_read_whole(api: str) -> None:
    payload = b"<x>" + b"a" * 5000 + b"</x>"

    async def chunked(request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(payload), 1000):
            await resp.write(payload[i : i + 1000])
        await resp.write_eof()
        return resp

    async with serve(chunked) as (url, _), Transport(url, max_size=len(payload)) as transport:
        assert await send(transport, api, "EiEvent", b"<q/>") == payload


# ------------------------------------------------------------------ failures


async def test_http_503_raises_http_status_error(vtn: TestVTN, api: str) -> None:
    vtn.faults.status = 503
    async with Transport(vtn.url, timeout=DEADLINE) as transport:
        with pytest.raises(HTTPStatusError) as info:
            await send(transport, api, "EiRegisterParty", QUERY, ven="site-7")
    err = info.value
    assert err.status == 503  # type: ignore[attr-defined]
    assert err.fields == {
        "ven": "site-7",
        "service": "EiRegisterParty",
        "url": f"{vtn.url}/EiRegisterParty",
        "status": 503,
    }
    text = str(err)
    assert "503" in text and "ven=site-7" in text and "EiRegisterParty" in text and vtn.url in text


async def test_connection_refused_raises_transport_error(api: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b"
    async with Transport(url, timeout=DEADLINE) as transport:
        with pytest.raises(TransportError) as info:
            await send(transport, api, "OadrPoll", b"<poll/>", ven="site-2")
    assert type(info.value) is TransportError
    assert info.value.fields == {"ven": "site-2", "service": "OadrPoll", "url": f"{url}/OadrPoll"}
    assert "ven=site-2" in str(info.value) and "OadrPoll" in str(info.value)
    assert isinstance(info.value, ConnectionError)


async def test_server_that_never_answers_raises_transport_timeout(api: str) -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        await release.wait()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with Transport(f"http://127.0.0.1:{port}", timeout=0.2) as transport:
            with pytest.raises(TransportTimeout) as info:
                await send(transport, api, "OadrPoll", b"<poll/>", ven="site-3")
    finally:
        release.set()
        listener.close()
        await listener.wait_closed()
    assert arrived.is_set()
    assert isinstance(info.value, TimeoutError)
    assert info.value.fields["ven"] == "site-3"
    assert "0.2 s" in str(info.value) and "ven=site-3" in str(info.value)


async def test_dropped_connection_raises_transport_error(vtn: TestVTN, api: str) -> None:
    vtn.faults.drop = True
    async with Transport(vtn.url, timeout=DEADLINE) as transport:
        with pytest.raises(TransportError) as info:
            await send(transport, api, "EiRegisterParty", QUERY, ven="site-4")
    assert type(info.value) is TransportError
    assert info.value.fields["service"] == "EiRegisterParty"
    assert len(vtn.faulted) == 1


async def test_reset_after_partial_answer_raises_transport_error(api: str) -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<partial")
        await writer.drain()
        writer.transport.abort()

    listener = await asyncio.start_server(half, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with Transport(f"http://127.0.0.1:{port}", timeout=DEADLINE) as transport:
            with pytest.raises(TransportError) as info:
                await send(transport, api, "EiReport", b"<r/>", ven="site-5")
    finally:
        listener.close()
        await listener.wait_closed()
    assert type(info.value) is TransportError
    assert info.value.fields["url"] == f"http://127.0.0.1:{port}/EiReport"


async def test_oversize_answer_with_content_length_raises_message_too_large(vtn: TestVTN, api: str) -> None:
    async with Transport(vtn.url, timeout=DEADLINE, max_size=64) as transport:
        with pytest.raises(MessageTooLarge) as info:
            await send(transport, api, "EiRegisterParty", QUERY, ven="site-6")
        # The spoiled connection is not reused: the next request still works.
        vtn.faults.status = 503
        with pytest.raises(HTTPStatusError):
            await send(transport, api, "EiRegisterParty", QUERY, ven="site-6")
    assert info.value.fields["max_size"] == 64
    assert "64 bytes" in str(info.value) and "ven=site-6" in str(info.value)


async def test_oversize_chunked_answer_raises_message_too_large(api: str) -> None:
    async def endless(request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(1000):  # 1 MB at most, far above the cap
                await resp.write(b"x" * 1000)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what the test expects
        return resp

    async with serve(endless) as (url, _), Transport(url, max_size=10_000) as transport:
        with pytest.raises(MessageTooLarge):
            await send(transport, api, "OadrPoll", b"<poll/>")


# ------------------------------------------------------------------ pooling


async def test_sequential_requests_reuse_one_connection(api: str) -> None:
    async with serve(ok) as (url, peers), Transport(url, timeout=DEADLINE) as transport:
        for _ in range(25):
            assert await send(transport, api, "OadrPoll", b"<poll/>") == b"<answer/>"
    assert len(peers.addresses) == 25
    assert peers.connections == 1


async def test_limit_bounds_the_connections(api: str) -> None:
    async with serve(ok) as (url, peers), Transport(url, timeout=DEADLINE, limit=2) as transport:
        answers = await asyncio.gather(*(send(transport, api, "OadrPoll", b"<poll/>") for _ in range(20)))
    assert answers == [b"<answer/>"] * 20
    assert 1 <= peers.connections <= 2


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cert_pem, key_pem = _self_signed()
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    return folder / "cert.pem", folder / "key.pem"


async def test_different_ssl_contexts_never_share_connections(tls_files: tuple[Path, Path], api: str) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    ctx_a = ssl.create_default_context(cafile=str(cert))
    ctx_b = ssl.create_default_context(cafile=str(cert))
    async with serve(ok, tls=server_ctx) as (url, peers), Transport(url, timeout=DEADLINE) as transport:
        for ctx in (ctx_a, ctx_b, ctx_a, ctx_b, ctx_a):
            assert await send(transport, api, "OadrPoll", b"<poll/>", ssl=ctx) == b"<answer/>"
        by_ctx_a = {peers.addresses[i] for i in (0, 2, 4)}
        by_ctx_b = {peers.addresses[i] for i in (1, 3)}
        # Same context: the one keep-alive connection; different contexts: disjoint connections.
        assert len(by_ctx_a) == 1 and len(by_ctx_b) == 1
        assert by_ctx_a.isdisjoint(by_ctx_b)
        assert peers.connections == 2

        # ssl=None is default verification: a self-signed VTN certificate is refused.
        with pytest.raises(TransportError) as info:
            await send(transport, api, "OadrPoll", b"<poll/>", ven="site-9")
        assert type(info.value) is TransportError
        assert "ven=site-9" in str(info.value)


# ------------------------------------------------------------------ lifecycle and configuration


def test_construct_outside_a_loop() -> None:
    transport = Transport("http://vtn.example:8080/OpenADR2/Simple/2.0b/")
    assert transport.vtn_url == "http://vtn.example:8080/OpenADR2/Simple/2.0b"
    assert "idle" in repr(transport)
    assert not transport.closed


async def test_close_is_idempotent_and_final(vtn: TestVTN, api: str) -> None:
    transport = Transport(vtn.url, timeout=DEADLINE)
    await transport.close()  # never opened
    transport = Transport(vtn.url, timeout=DEADLINE)
    assert isinstance(parse_message(await send(transport, api, "EiRegisterParty", QUERY)), m.CreatedPartyRegistration)
    await transport.close()
    await transport.close()
    assert transport.closed
    with pytest.raises(TransportError, match="closed") as info:
        await send(transport, api, "EiRegisterParty", QUERY, ven="site-8")
    assert info.value.fields["ven"] == "site-8"
    with pytest.raises(TransportError):
        async with transport:
            pass


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("ftp://vtn/x", {}),
        ("vtn/OpenADR2", {}),
        ("http:///nohost", {}),
        ("http://vtn", {"timeout": 0}),
        ("http://vtn", {"limit": 0}),
        ("http://vtn", {"max_size": -1}),
    ],
)
def test_bad_configuration_is_refused(url: str, kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        Transport(url, **kwargs)  # type: ignore[arg-type]


async def test_unknown_service_is_refused(vtn: TestVTN, api: str) -> None:
    async with Transport(vtn.url) as transport:
        with pytest.raises(ConfigurationError, match="EiRegistr"):
            await send(transport, api, "EiRegistr", QUERY)
    assert vtn.received == []


def test_service_of_maps_every_ven_request() -> None:
    assert set(SERVICE_OF.values()) == set(SERVICES)
    assert SERVICE_OF[m.QueryRegistration] == "EiRegisterParty"
    assert SERVICE_OF[m.CanceledPartyRegistration] == "EiRegisterParty"
    assert SERVICE_OF[m.CreatedEvent] == "EiEvent"
    assert SERVICE_OF[m.UpdateReport] == "EiReport"
    assert SERVICE_OF[m.RegisteredReport] == "EiReport"
    assert SERVICE_OF[m.CancelOpt] == "EiOpt"
    assert SERVICE_OF[m.Poll] == "OadrPoll"
    assert m.ResponseMessage not in SERVICE_OF
    # VTN-only messages are not posted by a VEN.
    for vtn_only in (m.CreatedPartyRegistration, m.DistributeEvent, m.CreatedOpt, m.CanceledOpt):
        assert vtn_only not in SERVICE_OF


# ------------------------------------------------------------------ our HTTP/1.1 client: framing, reuse, retry


class Raw:
    """A raw asyncio server whose connection handler is ``script(reader, writer, connection_number)``;
    counts connections and request heads read through :meth:`read_request`."""

    def __init__(self, script: Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]) -> None:
        self.script = script
        self.connections = 0
        self.requests = 0
        self.url = ""

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        self.requests += 1
        return await reader.readexactly(length)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def raw(
    script: Callable[[Raw, asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]],
) -> AsyncIterator[Raw]:
    server = Raw(lambda r, w, n: script(server, r, w, n))
    listener = await asyncio.start_server(server._handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/OpenADR2/Simple/2.0b"
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()


def answer(body: bytes, *extra: bytes, status: bytes = b"200 OK", version: bytes = b"1.1") -> bytes:
    head = [b"HTTP/" + version + b" " + status, b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def test_stale_pooled_connection_is_retried_once_on_a_new_one(api: str) -> None:
    window = DEADLINE  # no timing in the test

    async def first_answers_then_drops(
        server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(answer(b"<a%d/>" % n))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the next request: hang up without a byte of answer

    async with raw(first_answers_then_drops) as server, Transport(
        server.url, timeout=DEADLINE, stale_retry_window=window
    ) as transport:
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<a1/>"
        # The pooled connection dies under the second request: it is sent again on connection 2.
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<a2/>"
        assert server.connections == 2
        # Connection 2 dies the same way under the third: one retry again, on connection 3.
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<a3/>"
        assert server.connections == 3


async def test_no_retry_once_the_answer_has_begun(api: str) -> None:
    window = DEADLINE

    async def then_half(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(answer(b"<a/>"))
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
        await writer.drain()
        writer.transport.abort()

    async with raw(then_half) as server, Transport(
        server.url, timeout=DEADLINE, stale_retry_window=window
    ) as transport:
        assert await send(transport, api, "EiEvent", b"<e/>") == b"<a/>"
        with pytest.raises(TransportError) as info:
            await send(transport, api, "EiEvent", b"<e/>", ven="site-11")
    assert type(info.value) is TransportError
    assert server.requests == 2 and server.connections == 1
    assert "ven=site-11" in str(info.value)


async def test_no_retry_outside_the_stale_window(api: str) -> None:
    window = -1.0  # no failure is "immediate"

    async def first_answers_then_drops(
        server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(answer(b"<a/>"))
        await server.read_request(reader)

    async with raw(first_answers_then_drops) as server, Transport(
        server.url, timeout=DEADLINE, stale_retry_window=window
    ) as transport:
        await send(transport, api, "EiOpt", b"<o/>")
        with pytest.raises(TransportError):
            await send(transport, api, "EiOpt", b"<o/>")
    assert server.requests == 2 and server.connections == 1


async def test_connection_close_and_http_1_0_answers_are_not_reused(api: str) -> None:
    async def scripted(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            writer.write(answer(b"<close/>", b"Connection: close"))
        elif n == 2:  # HTTP/1.0, no length: the body runs to the end of the connection
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<until-eof/>")
        else:
            writer.write(answer(b"<kept/>", b"Connection: keep-alive"))
            await server.read_request(reader)
            writer.write(answer(b"<kept-again/>"))
        await writer.drain()

    async with raw(scripted) as server, Transport(server.url, timeout=DEADLINE) as transport:
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<close/>"
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<until-eof/>"
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<kept/>"
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<kept-again/>"
    assert server.connections == 3 and server.requests == 4


async def test_interim_answers_chunk_extensions_and_trailers(api: str) -> None:
    async def fancy(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        parts = [
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"3;name=value\r\n<a>\r\n",
            b"A\r\n0123456789\r\n",
            b"4\r\n</a>\r\n0\r\nX-Trailer: yes\r\n\r\n",
        ]
        for part in parts:  # byte by byte: every parser state sees a split
            for i in range(len(part)):
                writer.write(part[i : i + 1])
                await writer.drain()
        await server.read_request(reader)
        writer.write(answer(b"<second/>"))

    async with raw(fancy) as server, Transport(server.url, timeout=DEADLINE) as transport:
        assert await send(transport, api, "EiReport", b"<r/>") == b"<a>0123456789</a>"
        assert await send(transport, api, "EiReport", b"<r/>") == b"<second/>"
    assert server.connections == 1


@pytest.mark.parametrize(
    "bad",
    [
        b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: header\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
    ],
)
async def test_malformed_answers_raise_transport_error(bad: bytes, api: str) -> None:
    async def send_bad(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(bad)
        await writer.drain()
        await reader.read()  # until the client hangs up

    async with raw(send_bad) as server, Transport(server.url, timeout=DEADLINE) as transport:
        with pytest.raises(TransportError) as info:
            await send(transport, api, "OadrPoll", b"<p/>", ven="site-12")
    assert type(info.value) is TransportError
    assert info.value.fields["ven"] == "site-12"


async def test_error_status_body_is_consumed_and_the_connection_reused(api: str) -> None:
    statuses = iter([503, 404, 200])

    async def varying(request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        return web.Response(status=next(statuses), body=b"<why/>" * 50)

    async with serve(varying) as (url, peers), Transport(url, timeout=DEADLINE) as transport:
        for status in (503, 404):
            with pytest.raises(HTTPStatusError) as info:
                await send(transport, api, "OadrPoll", b"<p/>")
            assert info.value.fields["status"] == status
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<why/>" * 50
    assert peers.connections == 1


async def test_timeout_spoils_the_connection(api: str) -> None:
    async def slow_first(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            await reader.read()  # never answer the first connection
            return
        writer.write(answer(b"<late-but-fresh/>"))
        await reader.read()  # keep the connection open

    async with raw(slow_first) as server, Transport(server.url, timeout=0.2, limit=1) as transport:
        with pytest.raises(TransportTimeout):
            await send(transport, api, "OadrPoll", b"<p/>")
        assert await send(transport, api, "OadrPoll", b"<p/>") == b"<late-but-fresh/>"
        assert transport.connections == 1
    assert server.connections == 2


async def test_cancelled_request_frees_its_slot(api: str) -> None:
    async def hang_first(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            await reader.read()
            return
        writer.write(answer(b"<ok/>"))
        await reader.read()  # keep the connection open

    async with raw(hang_first) as server, Transport(server.url, timeout=DEADLINE, limit=1) as transport:
        first = asyncio.ensure_future(send(transport, api, "OadrPoll", b"<p/>"))
        waiting = asyncio.ensure_future(send(transport, api, "OadrPoll", b"<p/>"))
        while server.requests < 1:
            await asyncio.sleep(0)  # yield until the first request reached the server
        first.cancel()
        assert await waiting == b"<ok/>"
        with pytest.raises(asyncio.CancelledError):
            await first
        assert transport.connections == 1


async def test_close_fails_requests_in_flight_and_waiting(api: str) -> None:
    async def never(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        await reader.read()

    async with raw(never) as server:
        transport = Transport(server.url, timeout=DEADLINE, limit=1)
        in_flight = asyncio.ensure_future(send(transport, api, "OadrPoll", b"<p/>", ven="a"))
        queued = asyncio.ensure_future(send(transport, api, "OadrPoll", b"<p/>", ven="b"))
        while server.requests < 1:
            await asyncio.sleep(0)
        await transport.close()
        for task, name in ((in_flight, "a"), (queued, "b")):
            with pytest.raises(TransportError, match="closed") as info:
                await task
            assert info.value.fields["ven"] == name
        assert transport.connections == 0


async def test_keepalive_timeout_zero_closes_after_each_answer(api: str) -> None:
    async with serve(ok) as (url, peers), Transport(url, timeout=DEADLINE, keepalive_timeout=0) as transport:
        for _ in range(3):
            assert await send(transport, api, "OadrPoll", b"<poll/>") == b"<answer/>"
        assert transport.connections == 0
    assert peers.connections == 3


async def test_limit_one_serves_every_waiter_in_turn(api: str) -> None:
    async with serve(ok) as (url, peers), Transport(url, timeout=DEADLINE, limit=1) as transport:
        answers = await asyncio.gather(*(send(transport, api, "OadrPoll", b"<poll/>") for _ in range(10)))
        assert transport.connections == 1
    assert answers == [b"<answer/>"] * 10
    assert peers.connections == 1


async def test_urgent_requests_take_the_next_free_connection_before_those_waiting(api: str) -> None:
    """An answer to an event (``urgent``) overtakes the polls waiting for a connection; urgent
    requests among themselves, and the others among themselves, keep their order."""
    order: list[bytes] = []
    gate = asyncio.Event()

    async def held_first(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            body = await server.read_request(reader)
            if body == b"<first/>":
                await gate.wait()
            else:
                order.append(body)
            writer.write(answer(body))

    async with raw(held_first) as server, Transport(server.url, timeout=DEADLINE, limit=1) as transport:
        first = asyncio.ensure_future(send(transport, api, "OadrPoll", b"<first/>"))
        while server.requests < 1:
            await asyncio.sleep(0)  # the one connection is busy
        polls = [asyncio.ensure_future(send(transport, api, "OadrPoll", b"<poll-%d/>" % i)) for i in range(3)]
        await asyncio.sleep(0)
        answers = [asyncio.ensure_future(transport.request("EiEvent", b"<answer-%d/>" % i, urgent=True))
                   for i in range(2)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, *polls, *answers)
        assert transport.connections == 1
    assert order == [b"<answer-0/>", b"<answer-1/>", b"<poll-0/>", b"<poll-1/>", b"<poll-2/>"]


async def test_requests_waiting_for_a_connection_expire_in_turn_at_their_deadlines() -> None:
    """Callback requests queued behind a busy connection each fail with TransportTimeout once
    their own deadline passes: those queued earlier first, the later ones not before theirs."""
    gate = asyncio.Event()

    async def held(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        body = await server.read_request(reader)
        await gate.wait()
        writer.write(answer(body))

    failed: dict[int, float] = {}

    def callback_for(i: int) -> Callable[[bytes | None, BaseException | None], None]:
        def callback(answer: bytes | None, error: BaseException | None) -> None:
            assert isinstance(error, TransportTimeout), error
            failed[i] = loop.time()
        return callback

    loop = asyncio.get_running_loop()
    async with raw(held) as server, Transport(server.url, timeout=0.3, limit=1) as transport:
        first = asyncio.ensure_future(transport.request("OadrPoll", b"<first/>"))
        while server.requests < 1:
            await asyncio.sleep(0.001)  # the one connection is busy until the gate opens
        t0 = loop.time()
        for i in range(5):
            transport.post("OadrPoll", b"<early/>", callback_for(i))
        await asyncio.sleep(0.15)
        t1 = loop.time()
        for i in range(5, 10):
            transport.post("OadrPoll", b"<late/>", callback_for(i))
        while len(failed) < 5:
            await asyncio.sleep(0.01)
        assert sorted(failed) == [0, 1, 2, 3, 4], "only the requests queued first are due"
        while len(failed) < 10:
            await asyncio.sleep(0.01)
        gate.set()
        with pytest.raises(TransportTimeout):
            await first
    assert all(failed[i] >= t0 + 0.3 - 0.01 for i in range(5))
    assert all(failed[i] >= t1 + 0.3 - 0.01 for i in range(5, 10)), "a later request expires at its own deadline"


def test_request_head_names_host_port_and_path() -> None:
    transport = Transport("http://vtn.example:8080/OpenADR2/Simple/2.0b/", user_agent="ua")
    head = transport._heads["OadrPoll"]
    assert head == (
        b"POST /OpenADR2/Simple/2.0b/OadrPoll HTTP/1.1\r\nHost: vtn.example:8080\r\n"
        b"Content-Type: application/xml\r\nUser-Agent: ua\r\nContent-Length: "
    )
    assert b"Host: vtn.example\r\n" in Transport("https://vtn.example:443/x")._heads["EiEvent"]


# ------------------------------------------------------------------ the callback API (Transport.post) itself


async def test_post_on_an_idle_connection_makes_no_task(api: str) -> None:
    async with serve(ok) as (url, peers), Transport(url, timeout=DEADLINE) as transport:
        assert await send(transport, api, "OadrPoll", b"<poll/>") == b"<answer/>"  # warm the pool
        got: asyncio.Future[tuple[bytes | None, BaseException | None]] = asyncio.get_running_loop().create_future()
        before = asyncio.all_tasks()
        call = transport.post("OadrPoll", b"<poll/>", lambda a, e: got.set_result((a, e)))
        assert asyncio.all_tasks() == before and call.conn is not None
        assert await got == (b"<answer/>", None)
        assert call.done() and transport.connections == 1
    assert peers.connections == 1


async def test_cancelled_post_waiting_for_a_connection_is_never_called_back() -> None:
    async def hang_first(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            await reader.read()
            return
        while True:
            writer.write(answer(b"<ok/>"))
            await server.read_request(reader)

    async with raw(hang_first) as server, Transport(server.url, timeout=DEADLINE, limit=1) as transport:
        calls: list[str] = []
        first = transport.post("OadrPoll", b"<p/>", lambda a, e: calls.append("first"))
        while server.requests < 1:
            await asyncio.sleep(0)
        queued = transport.post("OadrPoll", b"<p/>", lambda a, e: calls.append("queued"))
        after: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        transport.post("OadrPoll", b"<p/>", lambda a, e: after.set_result(a))
        queued.cancel()
        first.cancel()  # drops connection 1: its slot goes to the first live waiter
        assert await after == b"<ok/>"
        assert calls == [] and server.connections == 2


async def test_post_waiting_past_its_deadline_times_out() -> None:
    async def never(server: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        await reader.read()

    async with raw(never) as server, Transport(server.url, timeout=0.2, limit=1) as transport:
        loop = asyncio.get_running_loop()
        results: list[asyncio.Future[BaseException | None]] = [loop.create_future() for _ in range(2)]
        for i, fut in enumerate(results):
            transport.post("OadrPoll", b"<p/>", lambda a, e, f=fut: f.set_result(e), ven=f"v{i}")
        errors = [await fut for fut in results]
        for i, error in enumerate(errors):
            assert isinstance(error, TransportTimeout) and error.fields["ven"] == f"v{i}"
        assert transport.connections == 0


async def test_a_raising_callback_goes_to_the_loop_and_the_pool_goes_on(api: str) -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        async with serve(ok) as (url, peers), Transport(url, timeout=DEADLINE) as transport:
            fired = asyncio.Event()

            def boom(answer: bytes | None, error: BaseException | None) -> None:
                fired.set()
                raise RuntimeError("callback bug")

            transport.post("OadrPoll", b"<poll/>", boom)
            await fired.wait()
            assert await send(transport, api, "OadrPoll", b"<poll/>") == b"<answer/>"
        assert peers.connections == 1
        assert len(seen) == 1 and isinstance(seen[0]["exception"], RuntimeError)
    finally:
        loop.set_exception_handler(None)


async def test_post_refuses_an_unknown_service_and_a_closed_transport(vtn: TestVTN) -> None:
    transport = Transport(vtn.url, timeout=DEADLINE)
    with pytest.raises(ConfigurationError):
        transport.post("Nope", b"<p/>", lambda a, e: None)
    await transport.close()
    with pytest.raises(TransportError, match="closed"):
        transport.post("OadrPoll", b"<p/>", lambda a, e: None)
