"""The HTTP/1.1 client protocol's twins, ``fleetven._fast._http_py`` and ``_http_c``: the same outcome for
every answer, however the answer is cut into reads, and the same behaviour under the transport."""

from __future__ import annotations

import asyncio
import os
from types import ModuleType
from typing import Any

import pytest
from _helpers import load_twin

import fleetven.http.transport as transport_module
from fleetven._fast import _http_py
from fleetven.exceptions import HTTPStatusError
from fleetven.http.transport import Transport

NO_EXTENSIONS = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))
DEADLINE = 10.0
MAX_SIZE = 64

@pytest.fixture(params=["py", "c"])
def http_impl(request: pytest.FixtureRequest) -> ModuleType:
    """The twin module, pure then compiled (a Transport carries requests on it with ``protocol=``)."""
    return load_twin("http", request.param)


def answer(body: bytes, *extra: bytes, status: bytes = b"200 OK", version: bytes = b"1.1") -> bytes:
    head = [b"HTTP/" + version + b" " + status, b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;ext=1\r\n<ab>\r\n3\r\n<c>\r\n0\r\nTrailer: x\r\n\r\n"
)

#: Answers (and whether the connection ends after them, for answers delimited by the end of the connection).
ANSWERS: dict[str, tuple[bytes, bool]] = {
    "length": (answer(b"<a/>"), False),
    "length-empty": (answer(b""), False),
    "close": (answer(b"<a/>", b"Connection: close"), False),
    "http10": (answer(b"<a/>", version=b"1.0"), False),
    "http10-keep-alive": (answer(b"<a/>", b"Connection: keep-alive", version=b"1.0"), False),
    "chunked": (CHUNKED, False),
    "until-eof": (b"HTTP/1.1 200 OK\r\nX: y\r\n\r\n<eof/>", True),
    "interim": (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"<a/>"), False),
    "no-content": (b"HTTP/1.1 204 No Content\r\n\r\n", False),
    "error": (answer(b"oops", status=b"500 Internal Server Error"), False),
    "no-reason": (b"HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", False),
    "bad-status": (b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    "bad-header": (b"HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n", False),
    "bad-length": (b"HTTP/1.1 200 OK\r\nContent-Length: x1\r\n\r\n", False),
    "two-lengths": (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", False),
    "length-and-chunked": (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", False),
    "gzip": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", False),
    "switching": (b"HTTP/1.1 101 Switching\r\n\r\n", False),
    "too-large": (answer(b"x" * (MAX_SIZE + 1)), False),
    "too-large-error": (answer(b"x" * (MAX_SIZE + 1), status=b"404 Not Found"), False),
    "too-large-chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + b"x" * 65 + b"\r\n0\r\n\r\n",
                          False),
    "too-large-eof": (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (MAX_SIZE + 1), True),
    "huge-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", False),
    "huge-length-error": (b"HTTP/1.1 500 No\r\nContent-Length: 99999999999999999999999\r\n\r\n", False),
    "huge-chunk": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", False),
    "bad-chunk-size": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False),
    "bad-chunk-end": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY", False),
    "extra-bytes": (answer(b"<a/>") + b"junk", False),
    "cut-short": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n<a/>", True),
    "cut-in-head": (b"HTTP/1.1 200 OK\r\nContent-", True),
}


class FakeSocket:
    """What a connection writes to and aborts, instead of a socket."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True


def _cuts(data: bytes) -> list[list[bytes]]:
    """``data`` whole, byte by byte, and cut in two at every position."""
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    ways += [[data[:i], data[i:]] for i in range(1, len(data))]
    return ways


async def _outcome(module: ModuleType, owner: Transport, pieces: list[bytes], eof: bool) -> tuple[Any, ...]:
    loop = asyncio.get_running_loop()
    conn = module.Connection(owner, None)
    sock = FakeSocket()
    conn.connection_made(sock)
    conn.fresh = False
    fut: asyncio.Future[bytes] = loop.create_future()
    conn.send(b"POST / HTTP/1.1\r\n\r\n", fut, loop.time(), loop.time() + DEADLINE)
    for piece in pieces:
        conn.data_received(piece)
    if eof:
        conn.eof_received()
        conn.connection_lost(None)
    if fut.done():
        exc = fut.exception()
        result: Any = (type(exc).__name__, str(exc)) if exc is not None else fut.result()
    else:
        result = "pending"
    outcome = (result, conn.status, conn.reason, conn.reusable, conn.lost, sock.aborted, sock.written)
    conn.abort()  # the deadline timer
    return outcome


async def test_the_twins_read_every_answer_alike_however_it_is_cut() -> None:
    py = load_twin("http", "py")
    c = load_twin("http", "c")
    async with Transport("http://127.0.0.1:9/OpenADR2/Simple/2.0b", max_size=MAX_SIZE) as owner:
        for name, (data, eof) in ANSWERS.items():
            whole = await _outcome(py, owner, [data], eof)
            for pieces in _cuts(data):
                expected = await _outcome(py, owner, pieces, eof)
                assert await _outcome(c, owner, pieces, eof) == expected, (name, pieces)
                if name != "extra-bytes":  # there, bytes read after the answer spoil the connection afterwards
                    assert expected == whole, (name, pieces)


async def test_what_the_answers_say() -> None:
    """The pure twin's outcomes (the compiled twin's are the same, above) are the right ones."""
    async with Transport("http://127.0.0.1:9/OpenADR2/Simple/2.0b", max_size=MAX_SIZE) as owner:

        async def outcome(name: str) -> tuple[Any, ...]:
            data, eof = ANSWERS[name]
            return await _outcome(_http_py, owner, [data], eof)

        assert (await outcome("length"))[:4] == (b"<a/>", 200, b"OK", True)
        assert (await outcome("close"))[:4] == (b"<a/>", 200, b"OK", False)
        assert (await outcome("http10"))[3] is False
        assert (await outcome("http10-keep-alive"))[3] is True
        assert (await outcome("chunked"))[:4] == (b"<ab><c>", 200, b"OK", True)
        assert (await outcome("until-eof"))[:4] == (b"<eof/>", 200, b"OK", False)
        assert (await outcome("interim"))[:2] == (b"<a/>", 200)
        assert (await outcome("no-content"))[:4] == (b"", 204, b"No Content", True)
        assert (await outcome("error"))[:3] == (b"oops", 500, b"Internal Server Error")
        assert (await outcome("no-reason"))[:3] == (b"", 503, b"")
        for bad in ("bad-status", "bad-header", "bad-length", "two-lengths", "length-and-chunked", "gzip", "switching",
                    "bad-chunk-size", "bad-chunk-end"):
            got = await outcome(bad)
            assert got[0][0] == "_Malformed" and got[5] is True, bad
        assert (await outcome("too-large"))[0][0] == "_TooLarge"
        assert (await outcome("too-large-chunked"))[0][0] == "_TooLarge"
        assert (await outcome("too-large-eof"))[0][0] == "_TooLarge"
        assert (await outcome("huge-length"))[0][0] == "_TooLarge"
        assert (await outcome("huge-chunk"))[0][0] == "_TooLarge"
        assert (await outcome("huge-length-error"))[:4] == (b"", 500, b"No", False)
        assert (await outcome("too-large-error"))[:4] == (b"", 404, b"Not Found", False)
        assert (await outcome("extra-bytes"))[:4] == (b"<a/>", 200, b"OK", False)
        assert (await outcome("cut-short"))[0][0] == "_Lost"
        assert (await outcome("cut-in-head"))[0][0] == "_Lost"


async def test_many_answer_heads_are_each_read_right_and_the_cache_stays_bounded(http_impl: ModuleType) -> None:
    async with Transport("http://127.0.0.1:9/OpenADR2/Simple/2.0b", max_size=MAX_SIZE) as owner:
        for n in range(3 * _http_py.HEAD_CACHE):
            body = b"x" * (n % 7)
            data = answer(body, b"X-N: %d" % n, status=b"200 OK" if n % 5 else b"500 Oops")
            got = await _outcome(http_impl, owner, [data], False)
            assert got[:3] == (body, 200 if n % 5 else 500, b"OK" if n % 5 else b"Oops")
            assert 0 < len(owner.parsed_heads) <= _http_py.HEAD_CACHE


async def test_a_fleet_of_posts_through_either_twin(http_impl: ModuleType) -> None:
    """Answers of changing lengths through post(), with more requests than connections (handed over)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                if body == b"<bad/>":
                    writer.write(answer(b"no", status=b"400 Bad Request"))
                else:
                    writer.write(answer(b"<" + body + b"/>"))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/OpenADR2/Simple/2.0b"
    loop = asyncio.get_running_loop()
    try:
        async with Transport(url, timeout=DEADLINE, limit=3, protocol=http_impl) as transport:
            results: dict[int, asyncio.Future[tuple[bytes | None, BaseException | None]]] = {}
            for i in range(40):
                fut = results[i] = loop.create_future()
                call = transport.post("OadrPoll", b"<bad/>" if i == 7 else b"p%d" % (i * 37),
                                      lambda a, e, f=fut: f.set_result((a, e)), ven=f"v{i}")
                assert isinstance(call, http_impl.Call)
            for i, fut in results.items():
                got, error = await asyncio.wait_for(fut, DEADLINE)
                if i == 7:
                    assert got is None and isinstance(error, HTTPStatusError) and error.status == 400
                    assert "ven=v7" in str(error)
                else:
                    assert error is None and got == b"<p%d/>" % (i * 37)
            assert transport.connections <= 3
    finally:
        listener.close()
        await listener.wait_closed()


def test_the_compiled_twin_carries_the_requests_unless_told_otherwise() -> None:
    import subprocess
    import sys

    import fleetven._fast

    code = ("import sys, fleetven.http.transport as t, fleetven._fast as f; "
            "print(f.Connection.__module__, t.Call.__module__, f.HTTP_COMPILED, "
            "'fleetven._fast._http_c' in sys.modules)")
    env = {**os.environ, "FLEETVEN_NO_EXTENSIONS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["fleetven._fast._http_py", "fleetven._fast._http_py", "False", "False"]
    if NO_EXTENSIONS:
        pytest.skip("FLEETVEN_NO_EXTENSIONS is set: pure build, no compiled HTTP protocol")
    assert fleetven._fast.HTTP_COMPILED
    assert fleetven._fast.Connection.__module__ == "fleetven._fast._http_c"
    assert transport_module.Call.__module__ == "fleetven._fast._http_c"
