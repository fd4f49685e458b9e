"""The HTTP/1.1 client protocol of :mod:`fleetven.http.transport`: the pooled connection's answer parser
and the callback request (:class:`Call`), in pure Python; ``_http_c`` is its compiled twin.

Both twins share this module's exceptions and sentinels, so that the transport, which
catches them, sees the same classes whichever twin carries its requests. The pool itself
(:class:`fleetven.http.transport.Transport`) stays in Python; a connection and a call reach it
through their ``owner``, and need of it exactly what the :class:`Pool` protocol says (its
attributes are read, its methods called, directly: no wrapper per request). This module does not
import :mod:`fleetven.http`: the transport builds on it, not the other way round.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Callable
from typing import Any, Final, Protocol, cast

__all__ = (
    "Connection", "Call", "Callback", "parse_head", "chunk_size", "check_trailer", "Malformed", "TooLarge", "Lost",
    "Closed", "SLOT", "EARLY", "HEAD_CACHE", "Pool", "Waiter",
)

#: The most answer heads a transport keeps parsed (a VTN sends the same few again and again).
HEAD_CACHE: Final = 64

_MAX_HEAD: Final = 65536  # the longest status line + header block accepted
_MAX_CHUNK_LINE: Final = 4096  # the longest chunk-size or trailer line accepted
_HEX: Final = b"0123456789abcdefABCDEF"

# Parser states of a connection.
_IDLE: Final = 0  # no request in flight
_HEAD: Final = 1  # waiting for the status line and headers
_LENGTH: Final = 2  # body of Content-Length bytes
_CHUNKED: Final = 3  # chunked body
_UNTIL_EOF: Final = 4  # body delimited by the end of the connection
_BROKEN: Final = 5  # failed: never reused

# States of the chunked decoder.
_C_SIZE: Final = 0
_C_DATA: Final = 1
_C_CRLF: Final = 2
_C_TRAILER: Final = 3


class _Malformed(Exception):
    """The answer is not HTTP/1.1 we accept."""


class _TooLarge(Exception):
    """The 200 answer's body is longer than ``max_size``."""


class _Lost(Exception):
    """The connection closed or failed before the answer was complete."""

    def __init__(self, text: str, *, stale: bool) -> None:
        super().__init__(text)
        self.stale = stale


class _Closed(Exception):
    """:meth:`Transport.close` ran while the request was in flight."""


_SLOT: Final = object()  # a pool waiter's wake-up: "a connection slot is reserved for you, open one"

#: A loop timer may fire this much before its time (uvloop counts whole milliseconds).
_EARLY: Final = 0.002


class Waiter(Protocol):
    """What waits on a connection or for a pool slot: an :class:`asyncio.Future` or a :class:`Call`."""

    def done(self) -> bool: ...

    def set_result(self, result: Any, /) -> None: ...

    def set_exception(self, exc: BaseException, /) -> None: ...


class Pool(Protocol):
    """What a :class:`Connection` and a :class:`Call` need from the pool that owns them
    (:class:`fleetven.http.transport.Transport` implements it).

    The attributes are read on the hot path as plain attributes; the methods are called only
    when a request ends, fails or needs a connection opened.
    """

    #: The event loop the pool is bound to (``None`` until its first use).
    loop: asyncio.AbstractEventLoop | None
    #: The largest answer body accepted, in bytes.
    max_size: int
    #: Seconds after sending within which a reused connection found closed, with no byte of
    #: answer, counts as one the peer had closed while idle (the request is sent once more).
    stale_retry_window: float
    #: Answer heads parsed lately and what :func:`parse_head` said of them, shared by the pool's
    #: connections (emptied when it holds :data:`HEAD_CACHE` of them).
    parsed_heads: dict[bytes, tuple[int, bytes, bool, int, bool]]
    #: Asked ``gate(ven)`` right before a request is written; ``False``: the request fails with
    #: :meth:`refused` instead (``None``: every request goes).
    gate: Callable[[str | None], bool] | None

    @property
    def closed(self) -> bool:
        """Whether the pool was closed (no request is retried then)."""
        ...

    def release(self, conn: _Connection) -> None:
        """A request is done with ``conn``: hand it to a waiter, pool it or close it."""

    def discard(self, conn: _Connection) -> None:
        """Close ``conn`` and free its slot (idempotent)."""

    def forget(self, conn: _Connection) -> None:
        """Drop a broken ``conn`` but keep its slot for the connection replacing it."""

    def open_for(self, call: Call) -> None:
        """Open a connection for ``call`` in a slot already counted, and send it there."""

    def error_for(self, exc: BaseException, service: str, ven: str | None) -> BaseException:
        """The public error to report for a failure ``exc`` of a request (others pass unchanged)."""
        ...

    def status_error(self, status: int, reason: bytes, service: str, ven: str | None) -> BaseException:
        """The public error for an answer of HTTP ``status`` other than 200."""
        ...

    def refused(self, service: str, ven: str | None) -> BaseException:
        """The public error for a request the :attr:`gate` refused."""
        ...


# What a header field name may hold (RFC 9110 "token"), and a field value (visible characters,
# obs-text, space and tab: no control character). The answer parser reads answers exactly as
# llhttp (Node.js's parser, behind httptools) does: tests/test_http_llhttp.py fuzzes the two
# against each other.
_TOKEN: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FIELD_VALUE: Final = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t"
_OWS: Final = b" \t"


def _field(header: bytes) -> tuple[bytes, bytes]:
    """``(lowercased name, value without surrounding whitespace)`` of one header (or trailer) line.

    :raises _Malformed: not ``token ":" OWS value OWS`` (a space before the colon, a folded line,
        a control character in the value...).
    """
    name, sep, value = header.partition(b":")
    if not sep or not name or name.translate(None, _TOKEN) or value.translate(None, _FIELD_VALUE):
        raise _Malformed(f"bad header line {header[:80]!r}")
    return name.lower(), value.strip(_OWS)


def _tokens(value: bytes) -> list[bytes]:
    """The comma-separated, lowercased elements of a list-valued header (empty elements dropped)."""
    return [t for t in (part.strip(_OWS) for part in value.lower().split(b",")) if t]


def _parse_head(head: bytes) -> tuple[int, bytes, bool, int, bool] | None:
    """``(status, reason, keep_alive, Content-Length or -1, chunked)`` of an answer's head (status
    line and headers, without the blank line); ``None`` for an interim 1xx answer, or for empty
    lines before the status line (skipped, as llhttp skips them).

    :raises _Malformed: not an HTTP/1.0 or 1.1 answer head we accept.
    """
    head = head.lstrip(b"\r\n")
    if not head:
        return None
    lines = head.split(b"\r\n")
    line = lines[0]
    if (
        line[:7] != b"HTTP/1."
        or line[7:8] not in (b"0", b"1")
        or line[8:9] != b" "
        or len(line) < 12
        or not line[9:12].isdigit()
        or (len(line) > 12 and line[12:13] != b" ")
        or b"\r" in line
        or b"\n" in line
    ):
        raise _Malformed(f"bad status line {line[:80]!r}")
    status = int(line[9:12])
    http11 = line[7:8] == b"1"
    length = -1
    chunked = False
    coding: bytes | None = None  # a Transfer-Encoding other than chunked
    close = keep_alive = False
    for header in lines[1:]:
        lname, value = _field(header)
        if lname == b"content-length":
            if not value.isdigit() or length >= 0:
                raise _Malformed(f"bad Content-Length {value[:40]!r}" if length < 0 else "two Content-Length headers")
            length = int(value)
        elif lname == b"transfer-encoding":
            # chunked framing needs chunked last (else the body runs to the end of the connection);
            # any other coding is one this client cannot decode
            codings = [c.strip(_OWS) for c in value.lower().split(b",")]
            if codings[-1] != b"chunked" or any(c not in (b"", b"chunked") for c in codings):
                coding = value
            chunked = True
        elif lname == b"connection":
            tokens = _tokens(value)
            close = close or b"close" in tokens
            keep_alive = keep_alive or b"keep-alive" in tokens
    # HTTP/1.1 stays open unless "close" is said; HTTP/1.0 closes unless "keep-alive" is said
    keep = not close if http11 else keep_alive
    if 100 <= status < 200:
        if status == 101:
            raise _Malformed(f"unexpected status {status}")
        if not keep:  # nothing may follow it, yet the answer is still to come
            raise _Malformed(f"interim answer {status} that closes the connection")
        return None
    if chunked and length >= 0:
        raise _Malformed("both Content-Length and Transfer-Encoding")
    if status in (204, 304):  # no body, whatever the headers say of one
        length = 0
        chunked = False
    elif coding is not None:
        # (llhttp would read such a body until the connection closes, and hand on its encoded bytes)
        raise _Malformed(f"unsupported Transfer-Encoding {coding[:40]!r}")
    return status, line[13:], keep, length, chunked


def chunk_size(line: bytes) -> int:
    """The size of a chunk, from its size line (``hex *( ";" name [ "=" value ] )``, no whitespace;
    a value is a token, possibly empty, or a quoted string).

    :raises _Malformed: not such a line.
    """
    size, sep, extensions = line.partition(b";")
    if not size or size.translate(None, _HEX):
        raise _Malformed(f"bad chunk size {line[:40]!r}")
    if sep and not _extensions_ok(extensions):
        raise _Malformed(f"bad chunk extension {line[:40]!r}")
    return int(size, 16)


def _extensions_ok(text: bytes) -> bool:
    """Whether ``text`` (after the first ``;``) is ``ext *( ";" ext )``, each ``ext`` a name (a
    token, possibly empty) with, optionally, ``"="`` and a value (a token, possibly empty, then
    possibly a quoted string), and a ``;`` followed by something: what llhttp takes."""
    pos, end = 0, len(text)
    if not end:
        return False
    while True:
        while pos < end and text[pos] in _TOKEN:
            pos += 1
        if pos < end and text[pos] == 61:  # "="
            pos += 1
            while pos < end and text[pos] in _TOKEN:  # (llhttp lets a token run into a quoted string)
                pos += 1
            if pos < end and text[pos] == 34:  # a quoted string, with backslash escapes
                pos += 1
                while pos < end and text[pos] != 34:
                    if text[pos] not in _FIELD_VALUE:
                        return False  # a control character
                    if text[pos] == 92:  # a backslash: the next character is taken as it is
                        pos += 1
                        if pos < end and text[pos] not in _FIELD_VALUE:
                            return False
                    pos += 1
                if pos >= end:
                    return False
                pos += 1
        if pos == end:
            return True
        if text[pos] != 59:  # ";"
            return False
        pos += 1
        if pos == end:
            return False


def check_trailer(line: bytes) -> None:
    """Refuse a trailer line that is not a header line (its content is not used).

    :raises _Malformed: not ``token ":" value``.
    """
    _field(line)


class _Connection(asyncio.Protocol):
    """One pooled HTTP/1.1 connection and its response parser.

    Ownership: while a request uses it (``busy``) the request accounts for it;
    while idle, the pool does. The protocol itself only fails or resolves the
    request's future and closes a broken transport.
    """

    __slots__ = (
        "owner",
        "key",
        "transport",
        "waiter",
        "state",
        "buf",
        "status",
        "reason",
        "keep",
        "body",
        "remaining",
        "cstate",
        "reusable",
        "fresh",
        "lost",
        "dead",
        "in_idle",
        "idle_since",
        "sent_at",
        "lost_waiter",
        "deadline",
        "timer",
        "timer_at",
    )

    def __init__(self, owner: Pool, key: _ssl.SSLContext | None) -> None:
        self.owner = owner
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.waiter: Waiter | None = None
        self.state = _IDLE
        self.buf = b""
        self.status = 0
        self.reason = b""
        self.keep = True
        self.body: bytes | bytearray = b""
        self.remaining = 0
        self.cstate = _C_SIZE
        self.reusable = False
        self.fresh = True  # never carried a request yet
        self.lost = False  # the transport is gone (EOF, reset, closed)
        self.dead = False  # the pool no longer counts it
        self.in_idle = False
        self.idle_since = 0.0
        self.sent_at = 0.0
        self.lost_waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0  # when the request in flight times out
        self.timer: asyncio.TimerHandle | None = None  # the connection's one deadline timer, if armed
        self.timer_at = 0.0  # when that timer fires

    # ------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            # Bytes nobody asked for (or after a failed request): the connection is spoiled.
            self.state = _BROKEN
            self.lost = True
            if self.transport is not None:
                self.transport.abort()
            if self.in_idle:
                self.owner.discard(self)
            return
        try:
            self._feed(data)
        except (_Malformed, _TooLarge) as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        self._gone(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone(exc)
        waiter = self.lost_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------- request side

    def send(self, data: bytes, waiter: Waiter, now: float, deadline: float) -> None:
        """Write one request; ``waiter`` gets the body (status in :attr:`status`) or the failure,
        a :class:`TimeoutError` when no complete answer came by ``deadline``."""
        self.waiter = waiter
        self.state = _HEAD
        self.keep = True
        self.sent_at = now
        self.deadline = deadline
        if self.timer is None or self.timer_at > deadline:
            self._watch(deadline)
        assert self.transport is not None
        self.transport.write(data)

    def abort(self) -> None:
        """Drop the connection at once (after a failure, a timeout or a cancellation)."""
        self.state = _BROKEN
        self.waiter = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None and not self.lost:
            self.transport.abort()
        self.lost = True

    def _watch(self, when: float) -> None:
        """(Re-)arm the connection's deadline timer. One timer serves every request the connection
        carries: it is armed when a request finds none, and when it fires for a request already
        answered it re-arms itself for the one in flight, if any, instead of one timer per request."""
        if self.timer is not None:
            self.timer.cancel()
        loop = self.owner.loop
        assert loop is not None
        self.timer_at = when
        self.timer = loop.call_at(when, self._on_deadline)

    def _on_deadline(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or self.lost:
            return
        loop = self.owner.loop
        assert loop is not None
        if loop.time() < self.deadline - _EARLY:
            self._watch(self.deadline)  # the request this timer was armed for is done: watch the next
        elif not waiter.done():
            waiter.set_exception(TimeoutError())

    # ------------------------------------------------------------- internals

    def _gone(self, exc: Exception | None) -> None:
        if self.lost and self.waiter is None:
            return
        self.lost = True
        waiter = self.waiter
        if waiter is not None:
            if self.state == _UNTIL_EOF and exc is None:
                self.keep = False
                self._finish(True)
                return
            got_bytes = self.state != _HEAD or bool(self.buf)
            stale = (
                not got_bytes
                and not self.fresh
                and self.owner.loop is not None
                and self.owner.loop.time() - self.sent_at <= self.owner.stale_retry_window
            )
            what = f"{type(exc).__name__}: {exc}" if exc is not None else "connection closed by the VTN"
            where = "before the answer" if not got_bytes else "in the middle of the answer"
            self._fail(_Lost(f"{what} {where}", stale=stale))
        elif self.in_idle:
            self.owner.discard(self)

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _finish(self, complete: bool) -> None:
        waiter = self.waiter
        self.waiter = None
        self.state = _IDLE
        self.buf = b""
        self.reusable = complete and self.keep
        body = self.body
        self.body = b""
        if waiter is not None and not waiter.done():
            waiter.set_result(body if type(body) is bytes else bytes(body))

    def _feed(self, data: bytes) -> None:
        while True:
            state = self.state
            if state == _HEAD:
                if self.buf:
                    data = self.buf + data
                    self.buf = b""
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    if len(data) > _MAX_HEAD:
                        raise _Malformed(f"answer head longer than {_MAX_HEAD} bytes")
                    self.buf = data
                    return
                if end > _MAX_HEAD:
                    raise _Malformed(f"answer head longer than {_MAX_HEAD} bytes")
                self._head(data[:end])
                data = data[end + 4 :]
            elif state == _LENGTH:
                remaining = self.remaining
                size = len(data)
                if size < remaining:
                    if size:
                        body = self.body
                        if type(body) is bytes:
                            self.body = body = bytearray(body)
                        body += data
                        self.remaining = remaining - size
                    return
                if self.body:
                    self.body += data[:remaining]
                else:
                    self.body = data[:remaining] if size > remaining else data
                # Bytes past the answer were not asked for: do not reuse the connection.
                self._finish(size == remaining)
                return
            elif state == _CHUNKED:
                self._chunks(data)
                return
            elif state == _UNTIL_EOF:
                if data:
                    body = self.body
                    assert isinstance(body, bytearray)
                    if len(body) + len(data) > self.owner.max_size:
                        self._over("read more")
                        return
                    body += data
                return
            else:
                if data:
                    raise _Malformed("bytes after the end of the answer")
                return

    def _head(self, head: bytes) -> None:
        owner = self.owner
        heads = owner.parsed_heads
        parsed = heads.get(head)
        if parsed is None:
            parsed = _parse_head(head)
            if parsed is None:
                return  # an interim 1xx answer: the real one follows
            if len(heads) >= HEAD_CACHE:
                heads.clear()
            heads[head] = parsed
        status, reason, keep, length, chunked = parsed
        self.status = status
        self.reason = reason
        self.keep = keep
        if chunked:
            self.state = _CHUNKED
            self.cstate = _C_SIZE
            self.body = bytearray()
        elif length >= 0:
            if length > self.owner.max_size:
                self._over(f"announced {length} bytes")
                return
            self.state = _LENGTH
            self.remaining = length
            self.body = b""
        else:
            self.state = _UNTIL_EOF
            self.keep = False
            self.body = bytearray()

    def _over(self, what: str) -> None:
        if self.status == 200:
            raise _TooLarge(what)
        # An error answer too long to keep: report the status, drop the connection.
        self.keep = False
        self.body = b""
        self._finish(False)

    def _chunks(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        body = self.body
        assert isinstance(body, bytearray)
        pos = 0
        size = len(data)
        while True:
            cstate = self.cstate
            if cstate == _C_DATA:
                take = min(self.remaining, size - pos)
                if take <= 0:
                    return
                body += data[pos : pos + take]
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    self.cstate = _C_CRLF
            elif cstate == _C_CRLF:
                if size - pos < 2:
                    self.buf = data[pos:]
                    return
                if data[pos : pos + 2] != b"\r\n":
                    raise _Malformed("chunk not followed by CRLF")
                pos += 2
                self.cstate = _C_SIZE
            else:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    if size - pos > _MAX_CHUNK_LINE:
                        raise _Malformed("chunk line too long")
                    self.buf = data[pos:]
                    return
                line = data[pos:end]
                pos = end + 2
                if cstate == _C_SIZE:
                    chunk = chunk_size(line)
                    if chunk == 0:
                        self.cstate = _C_TRAILER
                    elif len(body) + chunk > self.owner.max_size:
                        self._over("read more")
                        return
                    else:
                        self.remaining = chunk
                        self.cstate = _C_DATA
                elif not line:  # the empty line ending the trailer: the answer is complete
                    self._finish(pos == size)
                    return
                else:
                    check_trailer(line)


#: ``callback(answer, None)`` or ``callback(None, error)`` of :meth:`Transport.post`.
Callback = Callable[[bytes | None, BaseException | None], None]


class Call:
    """A request made by :meth:`Transport.post`, in flight: it waits for a pool slot or a
    connection, and for its answer, as a plain object the pool and the connection's protocol
    call back (it quacks like the future :meth:`Transport.request` waits on), with no task."""

    __slots__ = ("owner", "service", "data", "key", "ven", "callback", "deadline", "conn", "opener", "retried",
                 "finished")

    def __init__(
        self,
        owner: Pool,
        service: str,
        data: bytes,
        key: _ssl.SSLContext | None,
        ven: str | None,
        callback: Callback,
    ) -> None:
        self.owner = owner
        self.service = service
        self.data = data
        self.key = key
        self.ven = ven
        self.callback = callback
        self.deadline = 0.0
        self.conn: _Connection | None = None  # the connection carrying the request
        self.opener: asyncio.Task[None] | None = None  # the task opening a connection for it, if any
        self.retried = False
        self.finished = False  # answered, failed or cancelled: nothing more happens

    def __repr__(self) -> str:
        state = "finished" if self.finished else ("sent" if self.conn is not None else "waiting")
        return f"<Call {self.service} ven={self.ven} {state}>"

    def cancel(self) -> None:
        """Drop the request (its connection too, if it was sent); the callback is not called."""
        if self.finished:
            return
        self.finished = True
        conn = self.conn
        if conn is not None:
            self.conn = None
            conn.abort()
            self.owner.discard(conn)
        elif self.opener is not None:
            self.opener.cancel()
        # Waiting in the pool's queue: done() is true now, so the pool skips it.

    # -- the waiter protocol, for the pool and the connection

    def done(self) -> bool:
        return self.finished

    def set_result(self, result: Any, /) -> None:
        if self.finished:
            return
        if self.conn is not None:
            self._answered(result)
        elif result is _SLOT:
            self.owner.open_for(self)  # a slot was reserved for us
        else:
            loop = self.owner.loop
            assert loop is not None
            self._send(result, loop.time())  # handed over by a releasing request

    def set_exception(self, exc: BaseException, /) -> None:
        if self.finished:
            return
        conn = self.conn
        owner = self.owner
        if conn is not None:
            self.conn = None
            if isinstance(exc, _Lost) and exc.stale and not self.retried and not owner.closed:
                # The VTN closed this pooled connection while it was idle: once more on a new one.
                self.retried = True
                owner.forget(conn)
                owner.open_for(self)
                return
            conn.abort()
            owner.discard(conn)
        self._deliver(None, owner.error_for(exc, self.service, self.ven))

    # -- internals

    def _send(self, conn: _Connection, now: float) -> None:
        owner = self.owner
        gate = owner.gate
        if gate is not None and not gate(self.ven):  # checked again when the bytes are about to go
            owner.release(conn)
            self._deliver(None, owner.refused(self.service, self.ven))
            return
        self.conn = conn
        conn.send(self.data, self, now, self.deadline)

    def _answered(self, body: bytes) -> None:
        conn = self.conn
        assert conn is not None
        self.conn = None
        conn.fresh = False
        status = conn.status
        reason = conn.reason
        owner = self.owner
        owner.release(conn)  # may hand it at once to a request waiting for a connection
        if status == 200:
            self._deliver(body, None)
        else:
            self._deliver(None, owner.status_error(status, reason, self.service, self.ven))

    def _fail_open(self, exc: BaseException) -> None:
        if self.finished:
            return
        if isinstance(exc, asyncio.CancelledError):
            exc = _Closed()  # only closing the transport cancels an opening it did not start
        self._deliver(None, self.owner.error_for(exc, self.service, self.ven))

    def _deliver(self, answer: bytes | None, error: BaseException | None) -> None:
        self.finished = True
        try:
            self.callback(answer, error)
        except Exception as exc:  # a callback must not break the connection or the pool
            loop = self.owner.loop
            if loop is not None:
                loop.call_exception_handler(
                    {"message": f"fleetven transport callback {self.callback!r} raised", "exception": exc}
                )



# Public names for the transport (the twins' shared vocabulary).
Connection = _Connection
parse_head = _parse_head
Malformed = _Malformed
TooLarge = _TooLarge
Lost = _Lost
Closed = _Closed
SLOT = _SLOT
EARLY = _EARLY
