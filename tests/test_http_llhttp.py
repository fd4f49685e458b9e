"""The answer parser (``fleetven._fast._http_py`` and its compiled twin) against llhttp, the parser
of Node.js, through its Python binding httptools: the same byte streams, cut into reads at every
boundary, must give the same answer (status, body, whether the connection stays open) from all
three, or be refused by all three.

One difference is deliberate, and the only one allowed: an answer whose body has a transfer
coding other than ``chunked`` (``gzip``, ``chunked, gzip``...) is refused by fleetven, which
cannot decode it, while llhttp frames it and hands the encoded bytes on. (fleetven reads answers
of HTTP/1.0 and 1.1 only; llhttp refuses other versions too, except ``HTTP/2.0``, which a
generated answer never holds.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httptools
import pytest
from _helpers import load_twin
from _http_harness import NullSocket, ParserOwner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

TWINS = ("py", "c")
MAX_SIZE = 1 << 20  # far above any generated body: the size cap is tested elsewhere

Outcome = tuple[Any, ...]


# ------------------------------------------------------------------ the three parsers


@pytest.fixture(scope="module")
def owner() -> Iterator[ParserOwner]:
    loop = asyncio.new_event_loop()  # never run: the futures and the deadline timer only need one
    yield ParserOwner(loop, max_size=MAX_SIZE)
    loop.close()


def ours(module: ModuleType, owner: ParserOwner, pieces: list[bytes], eof: bool) -> Outcome:
    """``("ok", status, body, keep-alive)``, ``("refused", why)`` or ``("incomplete",)``."""
    owner.parsed_heads.clear()  # every answer parsed afresh, not from the cache of heads
    loop = owner.loop
    conn = module.Connection(owner, None)
    conn.connection_made(NullSocket())
    conn.fresh = False
    fut: asyncio.Future[bytes] = loop.create_future()
    conn.send(b"POST / HTTP/1.1\r\n\r\n", fut, loop.time(), loop.time() + 3600.0)
    try:
        for piece in pieces:
            if fut.done():
                break
            conn.data_received(piece)
        if eof and not fut.done():
            conn.eof_received()
            conn.connection_lost(None)
        if not fut.done():
            return ("incomplete",)
        exc = fut.exception()
        if exc is not None:
            return ("refused", f"{type(exc).__name__}: {exc}")
        return ("ok", conn.status, fut.result(), bool(conn.keep))
    finally:
        conn.abort()


class _Llhttp:
    """httptools' response parser, reading up to the first final (not 1xx) answer."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.headers_done = False
        self.done: Outcome | None = None
        self.length = False
        self.codings: list[bytes] = []  # the Transfer-Encoding values, in order
        self._name = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self.length = True
        elif name == b"transfer-encoding":
            self.codings.append(value)

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the final one follows
            self.body, self.headers_done, self.length, self.codings = bytearray(), False, False, []
            return
        self.done = ("ok", status, bytes(self.body), bool(self.parser.should_keep_alive()))

    def chunked(self) -> bool:
        last = self.codings[-1].split(b",")[-1].strip(b" \t").lower() if self.codings else b""
        return last == b"chunked"


def theirs(pieces: list[bytes], eof: bool) -> Outcome:
    reader = _Llhttp()
    try:
        for piece in pieces:
            if reader.done is not None:
                break
            reader.parser.feed_data(piece)
    except httptools.HttpParserUpgrade:
        return ("refused", "upgrade")
    except httptools.HttpParserError as exc:
        if reader.done is None:
            return ("refused", f"{type(exc).__name__}: {exc}")
    if reader.done is not None:
        return reader.done
    status = reader.parser.get_status_code()
    if eof and reader.headers_done and not reader.length and not reader.chunked() and status not in (204, 304):
        return ("ok", status, bytes(reader.body), False)  # a body that runs to the end of the connection
    return ("incomplete",)


def _verdict(outcome: Outcome) -> Outcome:
    """What must agree: an answer exactly; a refusal (or an answer never completed) as such."""
    return outcome if outcome[0] == "ok" else ("refused",)


def _undecodable(data: bytes) -> bool:
    """Whether the answer names a transfer coding other than chunked (the one allowed difference)."""
    for line in data.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"transfer-encoding":
            if any(c.strip(b" \t").lower() not in (b"", b"chunked") for c in value.split(b",")):
                return True
            if value.split(b",")[-1].strip(b" \t").lower() != b"chunked":
                return True
    return False


# ------------------------------------------------------------------ answers, right and wrong

TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_names = st.text(alphabet=TOKEN, min_size=1, max_size=10).map(str.encode)
_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16).map(
    lambda s: s.strip().encode())
_ows = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t"])


def _cased(draw: st.DrawFn, word: bytes) -> bytes:
    return draw(st.sampled_from([word.lower(), word.upper(), word.title(), word]))


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, bool]:
    """An answer a VTN may send (and whether the connection ends after it): HTTP/1.0 or 1.1, any
    status, headers of every case and spacing, framed by Content-Length, chunks (extensions,
    trailers) or the end of the connection, sometimes after an interim ``100 Continue``."""
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    status = draw(st.sampled_from([200, 200, 201, 204, 299, 304, 400, 404, 500, 503, 599]))
    reason = draw(st.sampled_from([b"", b"OK", b"Not Found", b"A Longer Reason", b"x"]))
    line = b"HTTP/" + version + b" %d" % status + (b" " + reason if reason or draw(st.booleans()) else b"")
    body = b"" if status in (204, 304) else draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["length", "length", "chunked", "eof"]))
    headers = [draw(_names) + b":" + draw(_ows) + draw(_values) + draw(_ows) for _ in range(draw(st.integers(0, 3)))]
    connection = draw(st.sampled_from([None, b"close", b"keep-alive", b"Keep-Alive", b"CLOSE", b"close, x",
                                       b"x, keep-alive", b"upgrade"]))
    if connection is not None:
        headers.insert(draw(st.integers(0, len(headers))), _cased(draw, b"connection") + b":" + draw(_ows) + connection)
    if framing == "length":
        headers.insert(draw(st.integers(0, len(headers))),
                       _cased(draw, b"content-length") + b":" + draw(_ows) + b"%d" % len(body) + draw(_ows))
        payload = body
    elif framing == "chunked":
        headers.insert(draw(st.integers(0, len(headers))),
                       _cased(draw, b"transfer-encoding") + b":" + draw(_ows) + _cased(draw, b"chunked"))
        payload, rest = b"", body
        while rest:
            n = draw(st.integers(1, len(rest)))
            size = b"%x" % n
            payload += (size.upper() if draw(st.booleans()) else size) + draw(
                st.sampled_from([b"", b";a=1", b";name", b';q="x y"', b";a;b=c"])) + b"\r\n" + rest[:n] + b"\r\n"
            rest = rest[n:]
        payload += b"0\r\n" + b"".join(draw(_names) + b": " + draw(_values) + b"\r\n"
                                      for _ in range(draw(st.integers(0, 2)))) + b"\r\n"
    else:
        payload = body
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" if draw(st.integers(0, 9)) == 0 else b""
    data = interim + line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + payload
    return data, framing == "eof"


_NOISE = [b"\x00", b" ", b"\t", b"\r", b"\n", b":", b";", b",", b"=", b'"', b"\\", b"\x7f", b"\xff", b"a", b"0",
          b"F", b"1"]


@st.composite
def damaged(draw: st.DrawFn) -> tuple[bytes, bool]:
    """An answer of :func:`answers` with up to three bytes changed, added or removed, and the
    connection ending after it or not."""
    data, eof = draw(answers())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["change", "add", "remove"]))
        noise = draw(st.sampled_from(_NOISE))
        if kind == "change":
            data = data[:at] + noise + data[at + 1:]
        elif kind == "add":
            data = data[:at] + noise + data[at:]
        else:
            data = data[:at] + data[at + 1:]
    return data, eof or draw(st.booleans())


def _cuts(data: bytes) -> Iterator[list[bytes]]:
    """``data`` whole, byte by byte, and cut in two at every boundary."""
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]


# ------------------------------------------------------------------ the tests

def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings(150)
@given(answers())
def test_well_formed_answers_are_read_alike_however_they_are_cut(owner: ParserOwner, case: tuple[bytes, bool]) -> None:
    data, eof = case
    expected = theirs([data], eof)
    assert expected[0] == "ok", (data, expected)  # every generated answer is one llhttp reads
    twins = {name: load_twin("http", name) for name in TWINS}
    for pieces in _cuts(data):
        assert theirs(pieces, eof) == expected, (data, pieces)
        for name, module in twins.items():
            assert ours(module, owner, pieces, eof) == expected, (name, data, pieces)


@_settings(1500)
@given(damaged())
@example((b"HTTP/1.1 20\r\nContent-Length: 1\r\n\r\nv", True))  # two digits of status
@example((b"HTTP/1.1 200 OK\r\nX: a\r\n  b\r\nContent-Length: 1\r\n\r\nx", False))  # a folded line
@example((b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", False))  # twice, same
@example((b"HTTP/1.1 200 OK\r\nX: a\x7f\r\nContent-Length: 1\r\n\r\nx", False))  # a control character
@example((b"HTTP/1.1 200 O\x01K\r\nContent-Length: 1\r\n\r\nx", False))  # (in the reason: taken)
@example((b"HTTP/1.1 200 OK\r\nX@: y\r\nContent-Length: 1\r\n\r\nx", False))  # not a token
@example((b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", False))  # empty lines first
@example((b"HTTP/1.1 099 OK\r\nContent-Length: 1\r\n\r\nx", False))  # a status below 100
@example((b"HTTP/1.0 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False))
@example((b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False))
@example((b"HTTP/1.1 204 OK\r\nTransfer-Encoding: gzip\r\n\r\n", False))  # no body: the coding is moot
@example((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", False))
@example((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000001\r\nx\r\n0\r\n\r\n", False))
@example((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;;a\r\nx\r\n0\r\n\r\n", False))
@example((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\r\nx\r\n0\r\n\r\n", False))
@example((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a;\r\nx\r\n0\r\n\r\n", False))
@example((b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;q=a"x y"\r\nx\r\n0\r\n\r\n', False))
@example((b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;q="x\ry"\r\nx\r\n0\r\n\r\n', False))
@example((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX@: y\r\n\r\n", False))
def test_any_answer_is_read_alike_or_refused_by_all(owner: ParserOwner, case: tuple[bytes, bool]) -> None:
    data, eof = case
    twins = {name: load_twin("http", name) for name in TWINS}
    cut = len(data) // 2
    for pieces in ([data], [data[:cut], data[cut:]], [data[i:i + 1] for i in range(len(data))]):
        expected = theirs(pieces, eof)
        got = {name: ours(module, owner, pieces, eof) for name, module in twins.items()}
        assert got["py"] == got["c"], (data, pieces, got)
        if _verdict(got["py"]) != _verdict(expected):
            assert got["py"][0] == "refused" and "unsupported Transfer-Encoding" in got["py"][1] and \
                _undecodable(data), (data, pieces, got["py"], expected)


def test_the_one_difference_is_a_transfer_coding_fleetven_cannot_decode(owner: ParserOwner) -> None:
    """llhttp frames these and hands the encoded bytes on; fleetven refuses them, saying why."""
    py = load_twin("http", "py")
    for coding in (b"gzip", b"chunked, gzip", b"gzip, chunked", b"chunked,"):
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        assert theirs([data], True)[0] == "ok", coding
        got = ours(py, owner, [data], True)
        assert got[0] == "refused" and "unsupported Transfer-Encoding" in got[1], (coding, got)
        assert _undecodable(data)
    assert not _undecodable(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n")
