"""A lean HTTP/1.1 server for :class:`~fleetven.testing.TestVTN`: one :class:`asyncio.Protocol` per connection.

The test VTN answers tens of thousands of small requests per second on one core; a general web
framework spends most of that core on request and response objects it does not need. This server
does only what an OpenADR simple-HTTP VTN needs, and does it strictly:

- requests are read in order on each keep-alive connection (pipelined requests wait their turn);
- a body is delimited by ``Content-Length`` or ``Transfer-Encoding: chunked`` (any other transfer
  coding is answered 501; both headers at once, or two different lengths, 400);
- ``Expect: 100-continue`` is honoured; ``Connection: close`` and HTTP/1.0 are honoured;
- a malformed request line or header gets a 400 (431 for a head over 64 KiB) and the connection is
  closed; a body over ``max_size`` is refused by the route's ``too_large`` answer, without being read,
  and the connection is closed;
- idle keep-alive connections are closed after ``keepalive_timeout`` seconds.

The application is two callables: ``route(method, path, body)`` returns a :data:`Reply` at once,
or an awaitable of one (a delayed or stalled answer); ``too_large(method, path)`` returns the
:data:`Reply` for a body over the limit. A reply of ``None`` drops the connection without an answer.
With ``HttpServer(..., request_info=True)`` the route is called ``route(method, path, body, info)``,
``info`` a :class:`RequestInfo`: the request's ``User-Agent`` and the connection's peer address.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Union, cast
from urllib.parse import unquote

__all__ = ("HttpServer", "Reply", "RequestInfo")

#: ``(status, body, content type or None)``; ``None`` drops the connection.
Reply = Union[tuple[int, bytes, Union[str, None]], None]
Route = Callable[[str, str, bytes], Union[Reply, Awaitable[Reply]]]
#: A route called with a :class:`RequestInfo` as well (``HttpServer(..., request_info=True)``).
InfoRoute = Callable[[str, str, bytes, "RequestInfo"], Union[Reply, Awaitable[Reply]]]

logger = logging.getLogger("fleetven.testing")

#: The longest request head (request line and headers) accepted.
MAX_HEAD = 64 * 1024
#: Unprocessed bytes buffered on a busy connection before it stops reading.
_READ_PAUSE = 256 * 1024
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER = b"Server: fleetven-testvtn\r\n"


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


_STATUS_LINES: dict[int, bytes] = {s.value: _status_line(s.value) for s in HTTPStatus}


class HttpError(Exception):
    """A request this server cannot accept: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Who sent a request: its ``User-Agent`` (``""`` without one) and the connection's peer
    ``(host, port)`` (``None`` if the transport does not tell). One object is shared by the
    consecutive requests of one connection with the same ``User-Agent``."""

    user_agent: str
    peer: tuple[str, int] | None


class _Request:
    """One parsed request head (the body is read by the connection)."""

    __slots__ = ("method", "target", "path", "version", "keep_alive", "length", "chunked", "expect", "head_end",
                 "user_agent")

    def __init__(self) -> None:
        self.method = self.target = self.path = self.user_agent = ""
        self.version = b"HTTP/1.1"
        self.keep_alive = True
        self.length = 0
        self.chunked = self.expect = False
        self.head_end = 0


#: Heads parsed lately, by their bytes: a client's requests differ little (a fleet's polls of one
#: body length have the same head), and a head's parse depends on its bytes alone.
_HEADS: dict[bytes, _Request] = {}
_HEADS_MAX = 1024


def parse_head(buf: bytes) -> _Request | None:
    """Parse the request head at the start of ``buf`` (no leading empty lines).

    :returns: the request (shared between equal heads: do not change it), or ``None`` if the
        head is not complete yet.
    :raises HttpError: a malformed or unsupported request.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise HttpError(431, "request head too large")
        return None
    if end > MAX_HEAD:
        raise HttpError(431, "request head too large")
    head = buf[:end]
    req = _HEADS.get(head)
    if req is None:
        req = _parse_head(head)
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[head] = req
    return req


def _parse_head(head: bytes) -> _Request:
    lines = head.split(b"\r\n")
    # Every CR and LF must belong to a CRLF line break; no NUL anywhere.
    if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1 or b"\x00" in head:
        raise HttpError(400, "stray CR, LF or NUL in the request head")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version != b"HTTP/1.1" and version != b"HTTP/1.0":
        if version.startswith(b"HTTP/") and len(version) == 8 and version[5:6].isdigit():
            raise HttpError(505, "HTTP version not supported")
        raise HttpError(400, "malformed request line")
    if not _TOKEN.fullmatch(method) or not target:
        raise HttpError(400, "malformed request line")
    req = _Request()
    req.method = method.decode("ascii")
    req.version = version
    length: bytes | None = None
    codings: list[bytes] = []
    connection: list[bytes] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HttpError(400, "malformed header line")
        name = name.lower()
        if name == b"content-length":
            value = value.strip(b" \t")
            if not value.isdigit() or (length is not None and value != length):
                raise HttpError(400, "invalid Content-Length")
            length = value
        elif name == b"transfer-encoding":
            codings.extend(c.strip(b" \t").lower() for c in value.split(b","))
        elif name == b"connection":
            connection.extend(c.strip(b" \t").lower() for c in value.split(b","))
        elif name == b"expect":
            req.expect = value.strip(b" \t").lower() == b"100-continue"
        elif name == b"user-agent":
            req.user_agent = value.strip(b" \t").decode("latin-1")
    if codings:
        if length is not None:
            raise HttpError(400, "both Content-Length and Transfer-Encoding")
        codings = [c for c in codings if c]
        if codings != [b"chunked"]:
            raise HttpError(501, "unsupported transfer coding")
        req.chunked = True
    elif length is not None:
        req.length = int(length)
    if version == b"HTTP/1.1":
        req.keep_alive = b"close" not in connection
    else:
        req.keep_alive = b"keep-alive" in connection
    text = target.decode("latin-1")
    req.target = text
    if text.startswith(("http://", "https://")):  # absolute form: keep the path
        slash = text.find("/", text.find("//") + 2)
        text = text[slash:] if slash >= 0 else "/"
    path = text.split("?", 1)[0].split("#", 1)[0]
    req.path = unquote(path) if "%" in path else path
    req.head_end = len(head) + 4
    return req


def parse_chunked(buf: bytes, start: int, max_size: int) -> tuple[bytes, int] | int | None:
    """Decode a chunked body starting at ``buf[start]``.

    :returns: ``(body, end)`` once complete (``end`` just past the trailers), ``None`` while
        incomplete, or the body size so far (an ``int``) once it is over ``max_size``.
    :raises HttpError: a malformed chunk.
    """
    pos = start
    parts: list[bytes] = []
    total = 0
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            if len(buf) - pos > 1024:
                raise HttpError(400, "malformed chunk size line")
            return None
        size_text = buf[pos:line_end].split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size_text):
            raise HttpError(400, "malformed chunk size")
        size = int(size_text, 16)
        pos = line_end + 2
        if size == 0:
            if buf[pos : pos + 2] == b"\r\n":
                return b"".join(parts), pos + 2
            trailers_end = buf.find(b"\r\n\r\n", pos)
            if trailers_end < 0:
                if len(buf) - pos > MAX_HEAD:
                    raise HttpError(431, "trailers too large")
                return None
            return b"".join(parts), trailers_end + 4
        total += size
        if total > max_size:
            return total
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise HttpError(400, "malformed chunk")
        parts.append(buf[pos : pos + size])
        pos += size + 2


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order and writes their answers."""

    __slots__ = ("server", "transport", "buf", "parts", "have", "need", "busy", "closing", "eof", "last", "paused",
                 "continued", "peer", "info")

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        # A long body arriving in pieces is gathered here (joined once, when complete).
        self.parts: list[bytes] | None = None
        self.have = self.need = 0
        self.busy: asyncio.Future[Reply] | None = None
        self.closing = False
        self.eof = False
        self.last = 0.0
        self.paused = False
        self.continued = False
        self.peer: Any = None
        # The RequestInfo of this connection's last request (reused while its User-Agent stays).
        self.info: RequestInfo | None = None

    # ------------------------------------------------------------ asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses
        self.last = self.server.now()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        self.closing = True
        self.buf = b""
        # A request being answered (a delay, a stall) is still handled, as if the client had
        # waited: what the VTN records does not depend on when a client gives up.

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        parts = self.parts
        if parts is not None:
            parts.append(data)
            self.have += len(data)
            if self.have < self.need:
                return
            self.buf = b"".join(parts)
            self.parts = None
        else:
            self.buf = self.buf + data if self.buf else data
        if self.busy is None:
            self._process()
        elif len(self.buf) > _READ_PAUSE and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # A client half-closing after its last request still gets the answer being made; then
        # the connection closes.
        self.eof = True
        if self.busy is None:
            self.closing = True
            return None
        return True

    # ------------------------------------------------------------ requests

    def _process(self) -> None:
        server = self.server
        while self.buf and self.busy is None and not self.closing:
            buf = self.buf
            if buf[:2] == b"\r\n":  # empty lines before a request line are ignored
                self.buf = buf.lstrip(b"\r\n")
                continue
            try:
                req = parse_head(buf)
                if req is None:
                    return
                if req.chunked:
                    decoded = parse_chunked(buf, req.head_end, server.max_size)
                    if decoded is None:
                        self._maybe_continue(req)
                        return
                    if isinstance(decoded, int):
                        self._oversize(req)
                        return
                    body, end = decoded
                else:
                    end = req.head_end + req.length
                    if req.length > server.max_size:
                        self._oversize(req)
                        return
                    if len(buf) < end:
                        self._maybe_continue(req)
                        if end - len(buf) > 65536:
                            self.parts, self.have, self.need, self.buf = [buf], len(buf), end, b""
                        return
                    body = buf[req.head_end : end]
            except HttpError as exc:
                self._fail(exc)
                return
            self.buf = buf[end:]
            self.continued = False
            try:
                if server.request_info:
                    info = self.info
                    if info is None or info.user_agent != req.user_agent:
                        info = self.info = RequestInfo(req.user_agent, self._peer())
                    result = server.info_route(req.method, req.path, body, info)
                else:
                    result = server.route(req.method, req.path, body)
            except Exception:
                logger.exception("the VTN failed on a request to %s", req.path)
                result = (500, b"", None)
            if result is None or isinstance(result, tuple):
                self._answer(req, result)
            else:
                task: asyncio.Future[Reply] = asyncio.ensure_future(result)
                self.busy = task
                server.tasks.add(task)
                task.add_done_callback(server.tasks.discard)
                task.add_done_callback(functools.partial(self._done, req=req))

    def _peer(self) -> tuple[str, int] | None:
        if self.peer is None and self.transport is not None:
            self.peer = self.transport.get_extra_info("peername")
        peer = self.peer
        if isinstance(peer, (tuple, list)) and len(peer) >= 2:  # IPv6 peers have four fields
            return (str(peer[0]), int(peer[1]))
        return None

    def _maybe_continue(self, req: _Request) -> None:
        if req.expect and not self.continued and req.version == b"HTTP/1.1" and self.transport is not None:
            self.continued = True
            self.transport.write(_CONTINUE)

    def _done(self, task: asyncio.Future[Reply], req: _Request) -> None:
        self.busy = None
        if task.cancelled() or self.transport is None:
            return
        exc = task.exception()
        if exc is not None:
            logger.error("the VTN failed on a request to %s", req.path, exc_info=exc)
            self._answer(req, (500, b"", None))
        else:
            self._answer(req, task.result())
        if self.paused and self.transport is not None and not self.closing:
            self.paused = False
            self.transport.resume_reading()
        if not self.closing:
            self._process()

    def _answer(self, req: _Request, reply: Reply, *, close: bool = False) -> None:
        transport = self.transport
        if transport is None:
            return
        if reply is None:
            self._log(req, 0, 0)
            self.closing = True
            transport.abort()
            return
        status, body, content_type = reply
        close = close or not req.keep_alive or self.closing
        if status == 200 and not close and content_type is not None and req.version == b"HTTP/1.1":
            # the usual answer: its head (but for the length) made once a second
            length = b"Content-Length: %d\r\n\r\n" % len(body)
            transport.write(b"".join((self.server.ok_head(content_type), length, body)))
            self.last = self.server.now()
        else:
            self._write(status, body, content_type, close=close,
                        keep_alive_10=req.version == b"HTTP/1.0" and not close)
        self._log(req, status, len(body))
        if close:
            self.closing = True
            transport.close()

    def _write(self, status: int, body: bytes, content_type: str | None, *, close: bool,
               keep_alive_10: bool = False) -> None:
        assert self.transport is not None
        server = self.server
        line = _STATUS_LINES.get(status) or _status_line(status)
        head = [line]
        if content_type is not None:
            head.append(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n")
        head.append(b"Content-Length: %d\r\n" % len(body))
        head.append(server.date_header())
        head.append(_SERVER)
        if status == 405:
            head.append(b"Allow: POST\r\n")
        if close:
            head.append(b"Connection: close\r\n")
        elif keep_alive_10:
            head.append(b"Connection: keep-alive\r\n")
        head.append(b"\r\n")
        head.append(body)
        self.transport.write(b"".join(head))
        self.last = server.now()

    def _oversize(self, req: _Request) -> None:
        self.buf = b""
        try:
            reply = self.server.too_large(req.method, req.path)
        except Exception:
            logger.exception("the VTN failed on a request to %s", req.path)
            reply = (500, b"", None)
        self._answer(req, reply, close=True)  # the body is not read: the connection cannot be reused

    def _fail(self, exc: HttpError) -> None:
        self.buf = b""
        if self.transport is None:
            return
        self._write(exc.status, str(exc).encode(), "text/plain; charset=utf-8", close=True)
        self.closing = True
        self.transport.close()

    def _log(self, req: _Request, status: int, size: int) -> None:
        access = self.server.access_log
        if access is not None and access.isEnabledFor(logging.INFO):
            if self.peer is None and self.transport is not None:
                self.peer = self.transport.get_extra_info("peername")
            peer = self.peer[0] if isinstance(self.peer, tuple) else self.peer
            version = req.version.decode()
            access.info('%s "%s %s %s" %d %d', peer, req.method, req.target, version, status, size)

    # ------------------------------------------------------------ flow control

    def pause_writing(self) -> None:
        if self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.paused and not self.closing:
            self.paused = False
            self.transport.resume_reading()


class HttpServer:
    """The protocol factory for :meth:`asyncio.loop.create_server`, and its open connections.

    :param route: ``route(method, path, body)``: a :data:`Reply`, or an awaitable of one; with
        ``request_info``, ``route(method, path, body, info)``.
    :param too_large: ``too_large(method, path)``: the :data:`Reply` to a body over ``max_size``.
    :param max_size: the largest body accepted, in bytes.
    :param access_log: a logger to log every request to (at INFO), or ``None``.
    :param keepalive_timeout: seconds an idle keep-alive connection is kept open.
    :param request_info: call ``route`` with a fourth argument, the request's :class:`RequestInfo`
        (its ``User-Agent``, read from the head parsed anyway, and the peer address, asked of the
        transport once per connection).
    """

    def __init__(
        self,
        route: Route | InfoRoute,
        too_large: Callable[[str, str], Reply],
        *,
        max_size: int,
        access_log: logging.Logger | None = None,
        keepalive_timeout: float = 75.0,
        request_info: bool = False,
    ) -> None:
        self.request_info = request_info
        # One callable, held under the type it is called with.
        self.route = cast(Route, route)
        self.info_route = cast(InfoRoute, route)
        self.too_large = too_large
        self.max_size = max_size
        self.access_log = access_log
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[_Connection] = set()
        #: Answers being made (delays, stalls), connection open or not.
        self.tasks: set[asyncio.Future[Reply]] = set()
        self._loop = asyncio.get_running_loop()
        self.now = self._loop.time
        self._date_second = -1
        self._date = b""
        self._ok_heads: dict[str, bytes] = {}
        self._sweeper: asyncio.TimerHandle | None = self._loop.call_later(keepalive_timeout / 4, self._sweep)

    def __call__(self) -> _Connection:
        return _Connection(self)

    def date_header(self) -> bytes:
        """The ``Date`` header line, made once a second."""
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date = b"Date: " + formatdate(second, usegmt=True).encode() + b"\r\n"
            self._ok_heads.clear()
        return self._date

    def ok_head(self, content_type: str) -> bytes:
        """The head of a keep-alive ``200 OK`` answer of this content type, up to its ``Content-Length``."""
        date = self.date_header()
        head = self._ok_heads.get(content_type)
        if head is None:
            head = self._ok_heads[content_type] = b"".join(
                (_STATUS_LINES[200], b"Content-Type: ", content_type.encode("latin-1"), b"\r\n", date, _SERVER)
            )
        return head

    def _sweep(self) -> None:
        limit = self.now() - self.keepalive_timeout
        for conn in list(self.connections):
            if conn.busy is None and not conn.buf and conn.parts is None and conn.last < limit and conn.transport:
                conn.closing = True
                conn.transport.close()
        self._sweeper = self._loop.call_later(self.keepalive_timeout / 4, self._sweep)

    async def shutdown(self, timeout: float) -> None:
        """Let requests in progress finish (within ``timeout`` seconds), then close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
        left = list(self.tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
        for conn in list(self.connections):
            conn.closing = True
            if conn.transport is not None:
                conn.transport.close()
        # Closing completes on the loop: wait for every connection_lost (a short while at most).
        deadline = self.now() + 1.0
        while self.connections and self.now() < deadline:
            await asyncio.sleep(0.001)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        self.connections.clear()
