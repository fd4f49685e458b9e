"""TestVTN's own HTTP/1.1 server (fleetven.testing._http) and its answers' fast paths, driven over raw
sockets: pipelining, chunked bodies, 100-continue, Connection: close, malformed requests, the size
limit, and the byte-level oadrPoll recognition (what it takes, what it leaves to the full parser)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import samples

from fleetven.http.transport import SERVICE_OF
from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.signing import Verifier, verify_message
from fleetven.testing import TestVTN
from fleetven.testing._http import HttpError, parse_chunked, parse_head
from fleetven.testing.certs import CertificateAuthority

DEADLINE = 10.0
PATH = "/OpenADR2/Simple/2.0b"
#: A plain value: what the VTN's byte-level recognisers take as it is, with no markup to read.
PLAIN = re.compile(r"[A-Za-z0-9._:\-]{1,200}")


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN() as v:
        yield v


def request(body: bytes, service: str = "OadrPoll", *, headers: str = "", method: str = "POST",
            version: str = "HTTP/1.1") -> bytes:
    return (f"{method} {PATH}/{service} {version}\r\nHost: x\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(DEADLINE):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def connect(vtn: TestVTN) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(vtn.host, vtn.port)


async def exchange(vtn: TestVTN, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await connect(vtn)
    try:
        writer.write(raw)
        return await read_response(reader)
    finally:
        writer.close()


async def register(vtn: TestVTN, name: str = "a") -> str:
    status, _, body = await exchange(
        vtn, request(build_message(m.CreatePartyRegistration(request_id="r", ven_name=name)), "EiRegisterParty")
    )
    reply = parse_message(body)
    assert status == 200 and isinstance(reply, m.CreatedPartyRegistration) and reply.ven_id
    return reply.ven_id


async def closed(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(DEADLINE):
        return await reader.read() == b""


# ------------------------------------------------------------------ the HTTP layer


async def test_pipelined_requests_are_answered_in_order(vtn: TestVTN) -> None:
    ven_id = await register(vtn)
    vtn.request_reregistration(ven_id)
    reader, writer = await connect(vtn)
    poll = request(build_message(m.Poll(ven_id=ven_id)))
    writer.write(poll + poll + request(b"garbage"))
    answers = [await read_response(reader) for _ in range(3)]
    writer.close()
    assert [s for s, _, _ in answers] == [200, 200, 200]
    first, second, third = (parse_message(b) for _, _, b in answers)
    assert isinstance(first, m.RequestReregistration)
    assert isinstance(second, m.ResponseMessage) and second.response.response_code == 200
    assert isinstance(third, m.ResponseMessage) and third.response.response_code == 454
    assert answers[0][1]["content-type"] == "application/xml" and "date" in answers[0][1]
    assert vtn.polls == 2


async def test_a_request_split_into_pieces(vtn: TestVTN) -> None:
    ven_id = await register(vtn)
    raw = request(build_message(m.Poll(ven_id=ven_id)))
    reader, writer = await connect(vtn)
    for i in range(0, len(raw), 7):
        writer.write(raw[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    status, _, body = await read_response(reader)
    writer.close()
    assert status == 200 and parse_message(body) == m.ResponseMessage(
        response=m.Response(response_code=200, response_description="OK"), ven_id=ven_id
    )


async def test_a_long_body_in_many_pieces(vtn: TestVTN) -> None:
    ven_id = await register(vtn)
    update = samples.update_report(n_intervals=2000)
    update.ven_id = ven_id
    raw = request(build_message(update), "EiReport")
    assert len(raw) > 500_000
    reader, writer = await connect(vtn)
    for i in range(0, len(raw), 10_000):
        writer.write(raw[i : i + 10_000])
        await writer.drain()
    writer.write(request(build_message(m.Poll(ven_id=ven_id))))  # and one more request behind it
    first, second = await read_response(reader), await read_response(reader)
    writer.close()
    assert isinstance(parse_message(first[2]), m.UpdatedReport)
    assert parse_message(second[2]).response.response_code == 200
    assert [r.report_specifier_id for _, r in vtn.reports] == [r.report_specifier_id for r in update.reports]


async def test_chunked_body_and_expect_continue(vtn: TestVTN) -> None:
    body = build_message(m.CreatePartyRegistration(request_id="r9", ven_name="chunky"))
    pieces = [body[i : i + 50] for i in range(0, len(body), 50)]
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    head = (f"POST {PATH}/EiRegisterParty HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Expect: 100-continue\r\n\r\n").encode()
    reader, writer = await connect(vtn)
    writer.write(head)
    async with asyncio.timeout(DEADLINE):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(chunks + b"0\r\nX-Trailer: 1\r\n\r\n")
    status, _, answer = await read_response(reader)
    writer.close()
    reply = parse_message(answer)
    assert status == 200 and isinstance(reply, m.CreatedPartyRegistration) and reply.response.request_id == "r9"
    assert [r.ven_name for _, r in vtn.registrations] == ["chunky"]


@pytest.mark.parametrize("version, headers", [("HTTP/1.1", "Connection: close\r\n"), ("HTTP/1.0", "")])
async def test_connection_close_is_honoured(vtn: TestVTN, version: str, headers: str) -> None:
    reader, writer = await connect(vtn)
    writer.write(request(build_message(m.QueryRegistration(request_id="q")), "EiRegisterParty", headers=headers,
                         version=version))
    status, answer_headers, _ = await read_response(reader)
    assert status == 200 and answer_headers["connection"] == "close" and await closed(reader)
    writer.close()


async def test_http_10_keep_alive(vtn: TestVTN) -> None:
    reader, writer = await connect(vtn)
    raw = request(build_message(m.QueryRegistration(request_id="q")), "EiRegisterParty",
                  headers="Connection: keep-alive\r\n", version="HTTP/1.0")
    writer.write(raw)
    status, headers, _ = await read_response(reader)
    assert status == 200 and headers["connection"] == "keep-alive"
    writer.write(raw)
    assert (await read_response(reader))[0] == 200
    writer.close()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /x\r\n\r\n", 400),
        (b"POST /x HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nContent-Length: 3\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nBad Header: 1\r\n\r\n", 400),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\n folded: 1\r\n\r\n", 400),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nX: a\nb\r\n\r\n", 400),
        (b"POST " + PATH.encode() + b"/OadrPoll HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
)
async def test_malformed_requests_get_an_error_and_a_closed_connection(vtn: TestVTN, raw: bytes, status: int) -> None:
    reader, writer = await connect(vtn)
    writer.write(raw)
    got, headers, _ = await read_response(reader)
    assert got == status and headers["connection"] == "close"
    assert await closed(reader)
    writer.close()
    assert not vtn.received and vtn.polls == 0


async def test_methods_and_paths(vtn: TestVTN) -> None:
    status, headers, _ = await exchange(vtn, request(b"", method="GET"))
    assert status == 405 and headers["allow"] == "POST"
    assert (await exchange(vtn, request(b"x", "EiNothing")))[0] == 404
    # A query string and percent-encoding do not hide the service.
    raw = request(build_message(m.QueryRegistration(request_id="q")), "EiRegister%50arty?x=1")
    assert (await exchange(vtn, raw))[0] == 200


async def test_a_body_over_the_limit_is_refused_unread() -> None:
    async with TestVTN(max_size=1000) as vtn:
        reader, writer = await connect(vtn)
        writer.write(request(b"<" * 5000))
        status, _, body = await read_response(reader)
        assert status == 200 and parse_message(body).response.response_code == 454
        assert await closed(reader)
        writer.close()
        chunked = (f"POST {PATH}/OadrPoll HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + b"800\r\n"
        chunked += b"a" * 0x800 + b"\r\n"
        status, _, body = await exchange(vtn, chunked)
        assert status == 200 and parse_message(body).response.response_code == 454
        assert [type(e).__name__ for _, e in vtn.errors] == ["MessageTooLarge", "MessageTooLarge"]


def test_parse_head_and_chunked() -> None:
    raw = b"POST http://h:1/a%20b?q HTTP/1.1\r\nContent-Length: 0012\r\nConnection: Close\r\n\r\nrest"
    req = parse_head(raw)
    assert req is not None
    assert (req.method, req.path, req.length, req.keep_alive) == ("POST", "/a b", 12, False)
    assert req.head_end == raw.index(b"rest")
    assert parse_head(b"POST / HTTP/1.1\r\nHost: x\r\n") is None
    with pytest.raises(HttpError) as info:
        parse_head(b"POST / HTTP/1.1\r\n" + b"X: " + b"a" * 70_000)
    assert info.value.status == 431
    assert parse_chunked(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nnext", 0, 100) == (b"abcde", 20)
    assert parse_chunked(b"3\r\nabc\r\n2\r\nde", 0, 100) is None
    assert parse_chunked(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 0, 4) == 5
    with pytest.raises(HttpError):
        parse_chunked(b"3\r\nabcd\r\n", 0, 100)


# ------------------------------------------------------------------ the oadrPoll fast path


async def test_a_fleetven_poll_body_gets_the_same_answer_as_the_full_parse(vtn: TestVTN) -> None:
    ven_id = await register(vtn)
    fast = build_message(m.Poll(ven_id=ven_id))
    # Same message, another serialization (no XML declaration): the full parser reads it.
    other = fast.split(b"\n", 1)[1]
    parsed = vtn.parsed
    a = await exchange(vtn, request(fast))
    assert vtn.parsed == parsed  # recognised byte for byte
    b = await exchange(vtn, request(other))
    assert vtn.parsed == parsed + 1
    assert a[0] == b[0] == 200 and a[2] == b[2]
    assert a[2] == build_message(
        m.ResponseMessage(response=m.Response(response_code=200, response_description="OK"), ven_id=ven_id)
    )
    assert vtn.polls == 2


@pytest.mark.parametrize(
    "inner",
    [
        "ven-1</ei:venID><ei:venID>ven-1",  # markup in the venID's place: not a plain venID
        "ven-&#49;",  # an entity
        " ven-1",  # a space
        "",  # no venID at all
    ],
)
async def test_a_body_that_is_not_exactly_a_poll_takes_the_full_path(vtn: TestVTN, inner: str) -> None:
    ven_id = await register(vtn)
    assert ven_id == "ven-1"
    head, tail = build_message(m.Poll(ven_id="MARK")).split(b"MARK")
    body = head + inner.encode() + tail
    try:
        expected: m.Message | None = parse_message(body)
    except ValueError:
        expected = None
    status, _, answer = await exchange(vtn, request(body))
    reply = parse_message(answer)
    assert status == 200 and isinstance(reply, m.ResponseMessage)
    if expected is None:  # the full parser refused it: so must the VTN
        assert reply.response.response_code in (453, 454) and vtn.polls == 0 and vtn.errors
    else:  # whatever it reads, it is the full parser's reading
        assert isinstance(expected, m.Poll)
        assert (reply.ven_id or "") == expected.ven_id


async def test_idle_answers_follow_the_queue_and_the_registration(vtn: TestVTN) -> None:
    ven_id = await register(vtn)
    poll = request(build_message(m.Poll(ven_id=ven_id)))
    first = await exchange(vtn, poll)
    vtn.request_reregistration(ven_id)
    queued = parse_message((await exchange(vtn, poll))[2])
    assert isinstance(queued, m.RequestReregistration)
    assert (await exchange(vtn, poll))[2] == first[2]
    vtn.faults.status, vtn.faults.count = 503, 1
    assert (await exchange(vtn, poll))[0] == 503
    assert (await exchange(vtn, poll))[2] == first[2]
    vtn.vens[ven_id].registration_id = None  # forgotten behind the VTN's back: the check still holds
    assert parse_message((await exchange(vtn, poll))[2]).response.response_code == 463
    assert vtn.polls == 4


async def test_record_polls_with_the_fast_path() -> None:
    async with TestVTN(record_polls=True) as vtn:
        ven_id = await register(vtn)
        await exchange(vtn, request(build_message(m.Poll(ven_id=ven_id))))
        await vtn.wait_for_message("oadrPoll", ven_id=ven_id, timeout=DEADLINE)
        assert [r.message for r in vtn.received if r.message.message_type == "oadrPoll"] == [m.Poll(ven_id=ven_id)]


async def test_a_signing_vtn_signs_each_idle_answer_afresh(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path, key_type="ec")
    creds = ca.issue_server("vtn")
    async with TestVTN(cert=str(creds.cert), key=str(creds.key)) as vtn:
        ven_id = await register(vtn)
        poll = request(build_message(m.Poll(ven_id=ven_id)))
        answers = [(await exchange(vtn, poll))[2] for _ in range(2)]
    assert answers[0] != answers[1]  # a fresh nonce and timestamp each time
    verifier = Verifier(ca_file=ca.cert)
    for body in answers:
        reply = verify_message(body, verifier, None)
        assert isinstance(reply, m.ResponseMessage) and reply.ven_id == ven_id and reply.response.response_code == 200


async def test_https_with_client_certificates(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path, key_type="ec")
    server, client = ca.issue_server("vtn"), ca.issue_client("ven")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server.cert, server.key)
    server_ctx.load_verify_locations(cafile=ca.cert)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(ca.cert))
    client_ctx.load_cert_chain(client.cert, client.key)
    async with TestVTN(ssl=server_ctx) as vtn:
        assert vtn.url.startswith("https://")
        reader, writer = await asyncio.open_connection(vtn.host, vtn.port, ssl=client_ctx, server_hostname="localhost")
        body = build_message(m.CreatePartyRegistration(request_id="r", ven_name="tls"))
        writer.write(request(body, "EiRegisterParty"))
        status, _, answer = await read_response(reader)
        ven_id = parse_message(answer).ven_id
        assert status == 200 and ven_id
        writer.write(request(build_message(m.Poll(ven_id=ven_id))))
        status, _, answer = await read_response(reader)
        assert status == 200 and parse_message(answer).response.response_code == 200
        writer.close()
        # Without a client certificate the handshake fails: nothing reaches the VTN.
        bare = ssl.create_default_context(cafile=str(ca.cert))
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            reader, writer = await asyncio.open_connection(vtn.host, vtn.port, ssl=bare, server_hostname="localhost")
            try:
                writer.write(request(build_message(m.Poll(ven_id=ven_id))))
                await read_response(reader)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        assert vtn.polls == 1


@pytest.mark.parametrize("value", ["fv-1", "ven-12", "a.b:c_d-E9", "a&amp;b", "a b", "x" * 201, "", "é", "a<b"])
@pytest.mark.parametrize(
    "make",
    [
        lambda v: m.QueryRegistration(request_id=v),
        lambda v: m.RequestEvent(request_id=v, ven_id="ven-1"),
        lambda v: m.RequestEvent(request_id="fv-2", ven_id=v),
        lambda v: m.RequestEvent(request_id=v, ven_id=v, reply_limit=3),
    ],
)
async def test_recognised_registration_bodies_read_as_the_parser_reads_them(
    vtn: TestVTN, make: Any, value: str
) -> None:
    """The registration requests of plain values (no markup, entity or space; at most 200 characters)
    in the builder's exact form are recognised without the full parser, as the message the parser
    reads; any other body is parsed in full."""
    try:
        msg = make(value)
        body = build_message(msg)
    except ValueError:
        return  # not a buildable message
    service = SERVICE_OF[type(msg)]

    async def parses(data: bytes) -> int:
        """How many full parses the VTN needed to read ``data``."""
        before = vtn.parsed
        await exchange(vtn, request(data, service))
        return vtn.parsed - before

    recognised = await parses(body) == 0
    assert vtn.received[-1].message == parse_message(body)
    if recognised:
        assert value == "" or PLAIN.fullmatch(value)
    else:
        assert not PLAIN.fullmatch(value) or getattr(msg, "reply_limit", None) is not None
    # a body that differs anywhere but in a plain value is left to the parser
    assert await parses(body.replace(b"><", b"> <", 1)) == 1
    assert await parses(body[:-1]) == 1
