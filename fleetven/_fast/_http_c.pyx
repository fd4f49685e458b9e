# cython: language_level=3, wraparound=True, boundscheck=True
"""The compiled twin of :mod:`fleetven._fast._http_py`: the same pooled connection protocol and
callback request, as extension types (no instance dictionaries, C-typed state, direct calls
between the connection and its :class:`Call`). Its behaviour is the pure twin's, line for line;
the exceptions, sentinels and the head parser are the pure module's own objects.
"""

from fleetven._fast._http_py import (
    EARLY,
    HEAD_CACHE,
    SLOT,
    Callback,
    Closed,
    Lost,
    Malformed,
    TooLarge,
    check_trailer,
    chunk_size,
    parse_head,
)

import asyncio

__all__ = (
    "Connection", "Call", "Callback", "parse_head", "Malformed", "TooLarge", "Lost", "Closed", "SLOT", "EARLY",
    "HEAD_CACHE",
)

cdef Py_ssize_t _MAX_HEAD = 65536
cdef Py_ssize_t _MAX_CHUNK_LINE = 4096
cdef bytes _HEAD_END = b"\r\n\r\n"
cdef bytes _CRLF = b"\r\n"
cdef bytes _EMPTY = b""
cdef double _EARLY = EARLY
cdef Py_ssize_t _HEAD_CACHE = HEAD_CACHE

# Parser states of a connection (the pure twin's values).
cdef enum:
    _IDLE = 0
    _HEAD = 1
    _LENGTH = 2
    _CHUNKED = 3
    _UNTIL_EOF = 4
    _BROKEN = 5

# States of the chunked decoder.
cdef enum:
    _C_SIZE = 0
    _C_DATA = 1
    _C_CRLF = 2
    _C_TRAILER = 3


cdef class Call


cdef inline object _settle(object waiter, object result):
    """``waiter.set_result(result)`` unless it is done (a :class:`Call` is called directly)."""
    if type(waiter) is Call:
        if not (<Call>waiter).finished:
            (<Call>waiter)._result(result)
    elif not waiter.done():
        waiter.set_result(result)


cdef class Connection:
    """One pooled HTTP/1.1 connection and its response parser (see the pure twin)."""

    cdef public object owner
    cdef public object key
    cdef public object transport
    cdef public object waiter
    cdef public int state
    cdef public bytes buf
    cdef public int status
    cdef public bytes reason
    cdef public bint keep
    cdef public object body
    cdef public Py_ssize_t remaining
    cdef public int cstate
    cdef public bint reusable
    cdef public bint fresh
    cdef public bint lost
    cdef public bint dead
    cdef public bint in_idle
    cdef public double idle_since
    cdef public double sent_at
    cdef public object lost_waiter
    cdef public double deadline
    cdef public object timer
    cdef public double timer_at

    def __init__(self, owner, key):
        self.owner = owner
        self.key = key
        self.transport = None
        self.waiter = None
        self.state = _IDLE
        self.buf = _EMPTY
        self.status = 0
        self.reason = _EMPTY
        self.keep = True
        self.body = _EMPTY
        self.remaining = 0
        self.cstate = _C_SIZE
        self.reusable = False
        self.fresh = True
        self.lost = False
        self.dead = False
        self.in_idle = False
        self.idle_since = 0.0
        self.sent_at = 0.0
        self.lost_waiter = None
        self.deadline = 0.0
        self.timer = None
        self.timer_at = 0.0

    # ------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.waiter is None:
            self.state = _BROKEN
            self.lost = True
            if self.transport is not None:
                self.transport.abort()
            if self.in_idle:
                self.owner.discard(self)
            return
        try:
            self._feed(bytes(data) if type(data) is not bytes else data)
        except (Malformed, TooLarge) as exc:
            self._fail(exc)

    def eof_received(self):
        self._gone(None)
        return False

    def connection_lost(self, exc):
        self._gone(exc)
        waiter = self.lost_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    # ------------------------------------------------------------- request side

    def send(self, bytes data, waiter, double now, double deadline):
        """Write one request; ``waiter`` gets the body (status in :attr:`status`) or the failure,
        a :class:`TimeoutError` when no complete answer came by ``deadline``."""
        self._send(data, waiter, now, deadline)

    cdef _send(self, bytes data, object waiter, double now, double deadline):
        self.waiter = waiter
        self.state = _HEAD
        self.keep = True
        self.sent_at = now
        self.deadline = deadline
        if self.timer is None or self.timer_at > deadline:
            self._watch(deadline)
        self.transport.write(data)

    def abort(self):
        """Drop the connection at once (after a failure, a timeout or a cancellation)."""
        self._abort()

    cdef _abort(self):
        self.state = _BROKEN
        self.waiter = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None and not self.lost:
            self.transport.abort()
        self.lost = True

    cdef _watch(self, double when):
        if self.timer is not None:
            self.timer.cancel()
        loop = self.owner.loop
        self.timer_at = when
        self.timer = loop.call_at(when, self._on_deadline)

    def _on_deadline(self):
        self.timer = None
        waiter = self.waiter
        if waiter is None or self.lost:
            return
        loop = self.owner.loop
        if loop.time() < self.deadline - _EARLY:
            self._watch(self.deadline)
        elif not waiter.done():
            waiter.set_exception(TimeoutError())

    # ------------------------------------------------------------- internals

    def _gone(self, exc):
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
            loop = self.owner.loop
            stale = (
                not got_bytes
                and not self.fresh
                and loop is not None
                and loop.time() - self.sent_at <= self.owner.stale_retry_window
            )
            what = f"{type(exc).__name__}: {exc}" if exc is not None else "connection closed by the VTN"
            where = "before the answer" if not got_bytes else "in the middle of the answer"
            self._fail(Lost(f"{what} {where}", stale=stale))
        elif self.in_idle:
            self.owner.discard(self)

    def _fail(self, exc):
        waiter = self.waiter
        self._abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    cdef _finish(self, bint complete):
        waiter = self.waiter
        self.waiter = None
        self.state = _IDLE
        self.buf = _EMPTY
        self.reusable = complete and self.keep
        body = self.body
        self.body = _EMPTY
        if waiter is not None:
            _settle(waiter, body if type(body) is bytes else bytes(body))

    cdef _feed(self, bytes data):
        cdef Py_ssize_t end, remaining, size
        cdef int state
        while True:
            state = self.state
            if state == _HEAD:
                if self.buf:
                    data = self.buf + data
                    self.buf = _EMPTY
                end = data.find(_HEAD_END)
                if end < 0:
                    if len(data) > _MAX_HEAD:
                        raise Malformed(f"answer head longer than {_MAX_HEAD} bytes")
                    self.buf = data
                    return
                if end > _MAX_HEAD:
                    raise Malformed(f"answer head longer than {_MAX_HEAD} bytes")
                self._head(data[:end])
                data = data[end + 4:]
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
                self._finish(size == remaining)
                return
            elif state == _CHUNKED:
                self._chunks(data)
                return
            elif state == _UNTIL_EOF:
                if data:
                    body = self.body
                    if len(body) + len(data) > self.owner.max_size:
                        self._over("read more")
                        return
                    body += data
                return
            else:
                if data:
                    raise Malformed("bytes after the end of the answer")
                return

    cdef _head(self, bytes head):
        owner = self.owner
        heads = <dict?>owner.parsed_heads
        parsed = heads.get(head)
        if parsed is None:
            parsed = parse_head(head)
            if parsed is None:
                return
            if len(heads) >= _HEAD_CACHE:
                heads.clear()
            heads[head] = parsed
        status, reason, keep, length, chunked = <tuple>parsed
        self.status = status
        self.reason = reason
        self.keep = keep
        if chunked:
            self.state = _CHUNKED
            self.cstate = _C_SIZE
            self.body = bytearray()
        elif length >= 0:
            if length > owner.max_size:
                self._over(f"announced {length} bytes")
                return
            self.state = _LENGTH
            self.remaining = length
            self.body = _EMPTY
        else:
            self.state = _UNTIL_EOF
            self.keep = False
            self.body = bytearray()

    cdef _over(self, str what):
        if self.status == 200:
            raise TooLarge(what)
        self.keep = False
        self.body = _EMPTY
        self._finish(False)

    cdef _chunks(self, bytes data):
        cdef Py_ssize_t pos, size, end, take
        cdef int cstate
        if self.buf:
            data = self.buf + data
            self.buf = _EMPTY
        body = self.body
        pos = 0
        size = len(data)
        while True:
            cstate = self.cstate
            if cstate == _C_DATA:
                take = min(self.remaining, size - pos)
                if take <= 0:
                    return
                body += data[pos:pos + take]
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    self.cstate = _C_CRLF
            elif cstate == _C_CRLF:
                if size - pos < 2:
                    self.buf = data[pos:]
                    return
                if data[pos:pos + 2] != _CRLF:
                    raise Malformed("chunk not followed by CRLF")
                pos += 2
                self.cstate = _C_SIZE
            else:
                end = data.find(_CRLF, pos)
                if end < 0:
                    if size - pos > _MAX_CHUNK_LINE:
                        raise Malformed("chunk line too long")
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
                elif not line:
                    self._finish(pos == size)
                    return
                else:
                    check_trailer(line)


cdef class Call:
    """A request made by :meth:`fleetven.http.transport.Transport.post`, in flight (see the pure twin)."""

    cdef public object owner
    cdef public object service
    cdef public object data
    cdef public object key
    cdef public object ven
    cdef public object callback
    cdef public double deadline
    cdef public object conn
    cdef public object opener
    cdef public bint retried
    cdef public bint finished

    def __init__(self, owner, service, data, key, ven, callback):
        self.owner = owner
        self.service = service
        self.data = data
        self.key = key
        self.ven = ven
        self.callback = callback
        self.deadline = 0.0
        self.conn = None
        self.opener = None
        self.retried = False
        self.finished = False

    def __repr__(self):
        state = "finished" if self.finished else ("sent" if self.conn is not None else "waiting")
        return f"<Call {self.service} ven={self.ven} {state}>"

    def cancel(self):
        """Drop the request (its connection too, if it was sent); the callback is not called."""
        if self.finished:
            return
        self.finished = True
        conn = self.conn
        if conn is not None:
            self.conn = None
            (<Connection?>conn)._abort()
            self.owner.discard(conn)
        elif self.opener is not None:
            self.opener.cancel()

    # -- the waiter protocol, for the pool and the connection

    def done(self):
        return self.finished

    def set_result(self, result, /):
        if self.finished:
            return
        self._result(result)

    cdef _result(self, object result):
        if self.conn is not None:
            self._answered(result)
        elif result is SLOT:
            self.owner.open_for(self)
        else:
            self._send_on(result, self.owner.loop.time())

    def set_exception(self, exc, /):
        if self.finished:
            return
        conn = self.conn
        owner = self.owner
        if conn is not None:
            self.conn = None
            if isinstance(exc, Lost) and exc.stale and not self.retried and not owner.closed:
                self.retried = True
                owner.forget(conn)
                owner.open_for(self)
                return
            conn.abort()
            owner.discard(conn)
        self._deliver(None, owner.error_for(exc, self.service, self.ven))

    # -- internals

    def _send(self, conn, double now):
        self._send_on(conn, now)

    cdef _send_on(self, object conn, double now):
        owner = self.owner
        gate = owner.gate
        if gate is not None and not gate(self.ven):
            owner.release(conn)
            self._deliver(None, owner.refused(self.service, self.ven))
            return
        self.conn = conn
        (<Connection?>conn)._send(self.data, self, now, self.deadline)

    cdef _answered(self, object body):
        cdef Connection conn = <Connection?>self.conn
        self.conn = None
        conn.fresh = False
        status = conn.status
        reason = conn.reason
        owner = self.owner
        owner.release(conn)
        if status == 200:
            self._deliver(body, None)
        else:
            self._deliver(None, owner.status_error(status, reason, self.service, self.ven))

    def _fail_open(self, exc):
        if self.finished:
            return
        if isinstance(exc, asyncio.CancelledError):
            exc = Closed()
        self._deliver(None, self.owner.error_for(exc, self.service, self.ven))

    cdef _deliver(self, object answer, object error):
        self.finished = True
        try:
            self.callback(answer, error)
        except Exception as exc:
            loop = self.owner.loop
            if loop is not None:
                loop.call_exception_handler(
                    {"message": f"fleetven transport callback {self.callback!r} raised", "exception": exc}
                )
