"""HTTP transport to the VTN: the only fleetven module that opens sockets.

One :class:`Transport` serves a whole fleet: a bounded pool of HTTP/1.1
keep-alive connections shared by every VEN of the fleet, a small DNS cache, a
total timeout on every request and a cap on every response body. It speaks
just the HTTP OpenADR's simple-HTTP binding needs, on plain asyncio
protocols, so a request costs a few microseconds of CPU on top of the socket
calls (aiohttp's ``ClientSession`` spent about ten times that per request):

- the request is one ``bytes.join`` of a pre-built per-service head
  (``POST``, ``Host``, ``Content-Type: application/xml``, ``User-Agent``),
  the ``Content-Length`` and the body, written with one ``transport.write``;
- the answer is parsed by the connection's protocol as it arrives
  (``fleetven._fast.http``: the compiled twin or its pure one; a strict
  HTTP/1.1 parser: status line, ``Content-Length``, ``Transfer-Encoding:
  chunked``, ``Connection``; 1xx interim answers skipped), the body collected
  up to ``max_size``; the waiting request is woken through one future, with
  one loop timer for its deadline; no task is created per request.

Pooling: connections are pooled per TLS context object (the VTN's host and
port are fixed per transport), idle ones reused last-in first-out, at most
``limit`` open at once over all contexts; a request that finds none idle and
the limit reached waits in a first-in first-out queue (within its timeout),
and an idle connection of another context is closed to make room when that
frees a slot at once. Idle connections are closed after ``keepalive_timeout``.
A connection is reused only after a complete answer that did not say
``Connection: close`` (nor HTTP/1.0 without keep-alive); after a timeout, an
oversize answer, a malformed answer or any error it is closed.

TLS: a connection opened with one ``SSLContext`` is only ever reused by
requests passing that same context object. The caller keeps one context per
TLS identity (client certificate, CA, hostname policy) and passes it with
every request of the VENs using that identity: VENs sharing an identity share
connections, VENs with different client certificates never do. ``ssl=None``
means a default verifying context (``ssl.create_default_context()``) for
``https`` URLs; for ``http`` URLs ``ssl`` is ignored.

Retry rule: a POST is not retried in general (OpenADR requests are not all
idempotent). One case is: a *pooled* connection that the VTN closed while it
sat idle, the classic keep-alive race. When a request on a reused connection
sees the connection closed or reset with *zero* bytes of answer, within
``stale_retry_window`` seconds of being sent (:data:`STALE_RETRY_WINDOW`
by default) (the VTN cannot have spent
real work on it), it is sent once more on a freshly opened connection. A
fresh connection failing, a timeout, or a failure after any byte of the
answer is never retried.

::

    async with Transport("https://vtn.example.com/OpenADR2/Simple/2.0b") as transport:
        reply = await transport.request("OadrPoll", build_message(poll), ssl=identity_ctx, ven="site-0001")
"""

from __future__ import annotations

import asyncio
import socket
import ssl as _ssl
from collections import deque
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import Any, Final

from yarl import URL

from fleetven._fast import EARLY as _EARLY
from fleetven._fast import SLOT as _SLOT
from fleetven._fast import Call, Callback, Waiter
from fleetven._fast import Closed as _Closed
from fleetven._fast import Connection as _Connection
from fleetven._fast import Lost as _Lost
from fleetven._fast import Malformed as _Malformed
from fleetven._fast import TooLarge as _TooLarge
from fleetven._fast import http as _http
from fleetven.exceptions import (
    ConfigurationError,
    HTTPStatusError,
    MessageTooLarge,
    NotOwner,
    TransportError,
    TransportTimeout,
)
from fleetven.messages.parse import DEFAULT_MAX_SIZE
from fleetven.openadr.services import (
    EI_EVENT,
    EI_OPT,
    EI_REGISTER_PARTY,
    EI_REPORT,
    OADR_POLL,
    SERVICE_OF,
    SERVICES,
)

__all__ = (
    "Transport",
    "Call",
    "Callback",
    "SERVICES",
    "SERVICE_OF",
    "EI_REGISTER_PARTY",
    "EI_EVENT",
    "EI_REPORT",
    "EI_OPT",
    "OADR_POLL",
    "STALE_RETRY_WINDOW",
)

_CONTENT_TYPE: Final = "application/xml"

#: The default ``stale_retry_window`` of :class:`Transport`, in seconds: within this time of being
#: sent, a reused connection found closed or reset with no byte of answer is taken for one the VTN
#: had closed while idle, and the request is sent again once on a new connection (see the module
#: docstring).
STALE_RETRY_WINDOW: Final = 0.25


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class Transport:
    """One per fleet: a bounded pool of HTTP/1.1 keep-alive connections, timeouts, capped answers.

    Nothing is opened until the first request (or ``async with``), which binds
    the transport to the running event loop, so a Transport can be built before
    the loop runs. Every later use must happen on that same loop.

    :param vtn_url: the VTN's base URL, e.g. ``https://vtn:8080/OpenADR2/Simple/2.0b``;
        a service name is appended to it (``{vtn_url}/OadrPoll``).
    :param timeout: seconds a request may take in all: waiting for a pooled
        connection, connecting, TLS, sending and reading the whole answer.
    :param limit: most connections open at once (in use or idle); requests
        beyond it wait for a free connection (within ``timeout``).
    :param max_size: the largest response body accepted, in bytes.
    :param user_agent: the ``User-Agent`` header; ``fleetven/<version>`` by default.
    :param keepalive_timeout: seconds an idle pooled connection is kept open
        (``0``: connections are closed after each answer).
    :param ttl_dns_cache: seconds a resolved VTN address is cached (``None``: forever).
    :param stale_retry_window: seconds after sending within which a reused connection found
        closed or reset, with no byte of answer, is taken for one the VTN closed while it was
        idle, so that the request is sent once more on a new connection (see the retry rule of
        :mod:`fleetven.http.transport`); :data:`STALE_RETRY_WINDOW` (0.25 s) by default. A
        negative value turns that retry off.
    :param protocol: the module of the HTTP/1.1 client protocol that carries the requests (its
        ``Connection`` and ``Call`` classes): ``fleetven._fast.http`` by default, the twin
        :mod:`fleetven._fast` picked; a test running both twins passes each in turn.
    :raises ConfigurationError: a URL that is not ``http``/``https`` with a host,
        or a non-positive number.

    The pooled connections and :class:`Call` reach their transport through the methods and
    attributes of the :class:`fleetven._fast.Pool` protocol (:meth:`release`, :meth:`discard`,
    :meth:`forget`, :meth:`open_for`, :meth:`error_for`, :meth:`status_error`, :attr:`loop`,
    :attr:`max_size`, :attr:`stale_retry_window`, :attr:`parsed_heads`, :attr:`closed`), which
    this class implements; they are not meant for other callers.
    """

    __slots__ = (
        "vtn_url",
        "timeout",
        "limit",
        "max_size",
        "user_agent",
        "keepalive_timeout",
        "ttl_dns_cache",
        "stale_retry_window",
        "gate",
        "_https",
        "_host",
        "_port",
        "_urls",
        "_heads",
        "loop",
        "_closed",
        "_idle",
        "_conns",
        "_count",
        "_waiters",
        "_urgent",
        "_sweeper",
        "_default_ssl",
        "_addresses",
        "_addresses_until",
        "_queue_timer",
        "_opening",
        "parsed_heads",
        "_connection_type",
        "_call_type",
    )

    def __init__(
        self,
        vtn_url: str,
        *,
        timeout: float = 30.0,
        limit: int = 64,
        max_size: int = DEFAULT_MAX_SIZE,
        user_agent: str | None = None,
        keepalive_timeout: float = 30.0,
        ttl_dns_cache: int | None = 60,
        stale_retry_window: float = STALE_RETRY_WINDOW,
        protocol: ModuleType | None = None,
        gate: Callable[[str | None], bool] | None = None,
    ) -> None:
        base = vtn_url.rstrip("/")
        url = URL(base)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(f"vtn_url must be an http:// or https:// URL with a host, not {vtn_url!r}")
        for name, value in (("timeout", timeout), ("limit", limit), ("max_size", max_size)):
            if not value > 0:
                raise ConfigurationError(f"Transport {name} must be positive, not {value!r}", setting=name)
        if not keepalive_timeout >= 0:
            raise ConfigurationError(f"Transport keepalive_timeout must be >= 0, not {keepalive_timeout!r}")
        if user_agent is None:
            from fleetven._version import __version__

            user_agent = f"fleetven/{__version__}"
        self.vtn_url: str = base
        self.timeout: float = timeout
        self.limit: int = limit
        self.max_size: int = max_size
        self.user_agent: str = user_agent
        self.keepalive_timeout: float = keepalive_timeout
        self.ttl_dns_cache: int | None = ttl_dns_cache
        self.stale_retry_window: float = stale_retry_window
        #: Asked ``gate(ven)`` right before each request is written to a connection (also one that
        #: waited for a connection); ``False`` fails the request with :class:`~fleetven.exceptions.NotOwner`
        #: and nothing is sent. ``None``: every request goes. Settable.
        self.gate: Callable[[str | None], bool] | None = gate
        if protocol is None:
            protocol = _http
        self._connection_type: type[_Connection] = protocol.Connection
        self._call_type: type[Call] = protocol.Call
        self._https = url.scheme == "https"
        host = url.raw_host or ""
        port = url.port or (443 if self._https else 80)
        self._host: str = host
        self._port: int = port
        host_header = f"[{host}]" if ":" in host else host
        if url.explicit_port is not None and url.explicit_port != (443 if self._https else 80):
            host_header = f"{host_header}:{port}"
        path = url.raw_path.rstrip("/")
        self._urls: dict[str, str] = {s: str(URL(f"{base}/{s}")) for s in SERVICES}
        # Everything of a request but its Content-Length value and body, per service.
        self._heads: dict[str, bytes] = {
            s: (
                f"POST {path}/{s} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: {_CONTENT_TYPE}\r\n"
                f"User-Agent: {user_agent}\r\nContent-Length: "
            ).encode("latin-1")
            for s in SERVICES
        }
        #: The event loop the transport is bound to, from its first use on (``None`` before); read only.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._idle: dict[_ssl.SSLContext | None, deque[_Connection]] = {}
        self._conns: set[_Connection] = set()
        self._count = 0  # connections open or being opened (the pool's slots in use)
        self._waiters: deque[tuple[_ssl.SSLContext | None, Waiter]] = deque()
        # requests served before every other waiter (a VEN's answer to an event), first in, first out
        self._urgent: deque[tuple[_ssl.SSLContext | None, Waiter]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._default_ssl: _ssl.SSLContext | None = None
        self._addresses: list[tuple[int, str]] = []
        self._addresses_until = 0.0
        self._queue_timer: asyncio.TimerHandle | None = None  # expires callback requests waiting too long
        self._opening: set[asyncio.Task[None]] = set()  # tasks opening a connection for a callback request
        # Answer heads parsed lately and what they said: a VTN sends a few heads again and again (one per
        # Content-Length; they change with the Date header once a second). Emptied when it holds
        # fleetven._fast.HEAD_CACHE of them.
        self.parsed_heads: dict[bytes, tuple[int, bytes, bool, int, bool]] = {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self.loop is not None else "idle")
        return f"<Transport {self.vtn_url} {state} limit={self.limit}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def connections(self) -> int:
        """Connections open or being opened now (in use or idle)."""
        return self._count

    def _start(self) -> asyncio.AbstractEventLoop:
        self.loop = loop = asyncio.get_running_loop()
        return loop

    def _prepare(
        self, service: str, body: bytes, ssl: _ssl.SSLContext | None, ven: str | None
    ) -> tuple[asyncio.AbstractEventLoop, _ssl.SSLContext | None, bytes]:
        """The loop, the pool key and the request bytes of a request (both :meth:`request` and :meth:`post`)."""
        head = self._heads.get(service)
        if head is None:
            raise ConfigurationError(f"unknown OpenADR service {service!r}; expected one of {', '.join(SERVICES)}")
        if self._closed:
            url = self._urls[service]
            raise TransportError(
                f"transport is closed (ven={ven}, service={service}, url={url})", ven=ven, service=service, url=url
            )
        loop = self.loop
        if loop is None:
            loop = self._start()
        return loop, ssl if self._https else None, b"".join((head, b"%d\r\n\r\n" % len(body), body))

    async def request(
        self, service: str, body: bytes, *, ssl: _ssl.SSLContext | None = None, ven: str | None = None,
        urgent: bool = False,
    ) -> bytes:
        """POST ``body`` (an ``oadrPayload``) to ``{vtn_url}/{service}`` and return the answer's body.

        :param service: one of :data:`SERVICES`; see :data:`SERVICE_OF`.
        :param body: the request document, sent with ``Content-Type: application/xml``.
        :param ssl: the TLS context of the VEN's identity (https only); ``None``
            is a default verifying context. Connections are pooled per
            context object: pass the same object for the same identity.
        :param ven: the VEN's name, for error messages.
        :param urgent: when every connection is busy, take the next free one before the requests
            already waiting (a VEN's answer to an event, which the utility waits for, goes ahead of
            the polls); urgent requests among themselves are served in order.
        :returns: the response body bytes (any ``Content-Type``).
        :raises HTTPStatusError: the VTN answered with a status other than 200 (field ``status``).
        :raises TransportTimeout: no complete answer within :attr:`timeout`.
        :raises TransportError: connecting, TLS, sending or reading failed, or the transport is closed.
        :raises MessageTooLarge: the answer is longer than :attr:`max_size`.
        :raises ConfigurationError: ``service`` is not an OpenADR service.

        Every error carries the fields ``ven``, ``service`` and ``url``.
        """
        loop, key, data = self._prepare(service, body, ssl, ven)
        now = loop.time()
        deadline = now + self.timeout
        conn: _Connection | None = None
        try:
            stack = self._idle.get(key)
            while stack:
                candidate = stack.pop()
                candidate.in_idle = False
                if candidate.lost:
                    self.discard(candidate)
                    continue
                conn = candidate
                break
            else:
                conn = await self._acquire(key, deadline, urgent)
            retried = False
            while True:
                gate = self.gate
                if gate is not None and not gate(ven):
                    self.release(conn)
                    conn = None
                    raise self.refused(service, ven)
                fut: asyncio.Future[bytes] = loop.create_future()
                conn.send(data, fut, now, deadline)
                try:
                    answer = await fut
                except _Lost as exc:
                    if not exc.stale or retried:
                        raise
                    # The VTN closed this pooled connection while it was idle: once more on a new one.
                    retried = True
                    self.forget(conn)
                    conn = None
                    conn = await self._connect(key, deadline)
                    now = loop.time()
                    continue
                break
        except BaseException as exc:
            if conn is not None:
                conn.abort()
                self.discard(conn)
            error = self.error_for(exc, service, ven)
            if error is exc:
                raise
            raise error from exc
        conn.fresh = False
        status = conn.status
        self.release(conn)
        if status != 200:
            raise self.status_error(status, conn.reason, service, ven)
        return answer

    def post(
        self,
        service: str,
        body: bytes,
        callback: Callback,
        *,
        ssl: _ssl.SSLContext | None = None,
        ven: str | None = None,
    ) -> Call:
        """:meth:`request` without a coroutine: POST ``body`` and call ``callback(answer, None)``
        with the answer's body, or ``callback(None, error)``, later, from the event loop.

        The same request, pool, timeout, retry rule and errors as :meth:`request`, for the
        hot path of a large fleet: on an idle pooled connection the request is written at once and
        the connection's protocol calls ``callback`` as soon as the answer is complete; no task,
        future or timer is made for it. ``callback`` is never called before ``post`` returns and
        must not raise (what it raises goes to the loop's exception handler).

        :param callback: called once, unless the request is cancelled first.
        :returns: the request in flight; :meth:`Call.cancel` drops it (and its connection).
        :raises ConfigurationError: ``service`` is not an OpenADR service.
        :raises TransportError: the transport is closed.
        """
        gate = self.gate
        if gate is not None and not gate(ven):
            raise self.refused(service, ven)
        head = self._heads.get(service)
        loop = self.loop
        if head is None or loop is None or self._closed:
            loop, key, data = self._prepare(service, body, ssl, ven)
        else:  # what _prepare gives, inline (the hot path)
            key = ssl if self._https else None
            data = b"".join((head, b"%d\r\n\r\n" % len(body), body))
        now = loop.time()
        call = self._call_type(self, service, data, key, ven, callback)
        call.deadline = now + self.timeout
        stack = self._idle.get(key)
        while stack:
            conn = stack.pop()
            conn.in_idle = False
            if conn.lost:
                self.discard(conn)
                continue
            call._send(conn, now)
            return call
        waiters = self._waiters
        while waiters and waiters[0][1].done():
            waiters.popleft()
        if not waiters and not self._has_urgent() and (self._count < self.limit or self._evict()):
            self._count += 1
            self.open_for(call)
            return call
        waiters.append((key, call))  # served first in, first out by _release and _wake
        if self._queue_timer is None:
            self._queue_timer = loop.call_at(call.deadline, self._expire_queued)
        return call

    def refused(self, service: str, ven: str | None) -> NotOwner:
        """The error for a request the :attr:`gate` refused."""
        url = self._urls.get(service, service)
        return NotOwner(f"not the owner of this VEN now: the request was not sent (ven={ven}, service={service}, "
                        f"url={url})", ven=ven, service=service, url=url)

    def status_error(self, status: int, reason: bytes, service: str, ven: str | None) -> HTTPStatusError:
        url = self._urls[service]
        text = reason.decode("latin-1")
        text = f"{status} {text}" if text else str(status)
        return HTTPStatusError(
            f"VTN answered HTTP {text} (ven={ven}, service={service}, url={url})",
            ven=ven,
            service=service,
            url=url,
            status=status,
        )

    def open_for(self, call: Call) -> None:
        """Open a connection for ``call`` in a slot already counted, in a task (rare: the pool is warm)."""
        loop = self.loop
        assert loop is not None
        task = call.opener = loop.create_task(self._open_and_send(call))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open_and_send(self, call: Call) -> None:
        try:
            conn = await self._connect(call.key, call.deadline)
        except BaseException as exc:
            call.opener = None
            call._fail_open(exc)
            return
        call.opener = None
        if call.finished:  # cancelled once the connection was made: keep it for the next request
            conn.reusable = True
            self.release(conn)
            return
        loop = self.loop
        assert loop is not None
        call._send(conn, loop.time())

    def _expire_queued(self) -> None:
        """Fail the callback requests that waited for a connection past their deadline: one timer
        for the whole queue, armed at the earliest deadline, rather than one per waiting request.

        Every request's deadline is the time it was made plus the one :attr:`timeout`, so the
        queue (first in, first out) is in deadline order: the walk stops at the first request not
        yet due, and a firing costs what it expires, not the length of the queue (a queue of
        100,000 polls would otherwise be walked again at every deadline). After a change of
        :attr:`timeout` a request behind a later deadline expires at that deadline at the latest."""
        self._queue_timer = None
        loop = self.loop
        if loop is None or self._closed:
            return
        limit = loop.time() + _EARLY
        expired: list[Call] = []
        next_due: float | None = None
        call_type = self._call_type
        for _, waiter in self._waiters:
            if type(waiter) is call_type and not waiter.finished:
                if waiter.deadline > limit:
                    next_due = waiter.deadline
                    break
                expired.append(waiter)
        if next_due is not None:
            self._queue_timer = loop.call_at(next_due, self._expire_queued)
        for call in expired:
            call.set_exception(TimeoutError())

    def error_for(self, exc: BaseException, service: str, ven: str | None) -> BaseException:
        """The public error for an internal failure (other exceptions pass unchanged)."""
        url = self._urls[service]
        if isinstance(exc, TransportError | ConfigurationError):
            return exc
        if isinstance(exc, _Closed):
            return TransportError(
                f"transport closed during the request (ven={ven}, service={service}, url={url})",
                ven=ven,
                service=service,
                url=url,
            )
        if isinstance(exc, TimeoutError):  # before OSError: TimeoutError is one
            return TransportTimeout(
                f"no answer within {self.timeout} s (ven={ven}, service={service}, url={url})",
                ven=ven,
                service=service,
                url=url,
                timeout=self.timeout,
            )
        if isinstance(exc, _TooLarge):
            return MessageTooLarge(
                f"answer larger than {self.max_size} bytes ({exc}) (ven={ven}, service={service}, url={url})",
                ven=ven,
                service=service,
                url=url,
                max_size=self.max_size,
            )
        if isinstance(exc, _Lost | _Malformed | OSError):
            return TransportError(
                f"request failed: {_describe(exc)} (ven={ven}, service={service}, url={url})",
                ven=ven,
                service=service,
                url=url,
            )
        return exc

    # ------------------------------------------------------------------ pool

    async def _acquire(self, key: _ssl.SSLContext | None, deadline: float, urgent: bool = False) -> _Connection:
        """A connection for ``key``: idle, newly opened, or handed over by a releasing request
        (``urgent``: before the requests waiting that are not)."""
        loop = self.loop
        assert loop is not None
        waiters = self._urgent if urgent else self._waiters
        while True:
            if self._closed:
                raise _Closed()
            stack = self._idle.get(key)
            while stack:
                conn = stack.pop()
                conn.in_idle = False
                if conn.lost:
                    self.discard(conn)
                    continue
                return conn
            while waiters and waiters[0][1].done():
                waiters.popleft()
            if not waiters and (urgent or not self._has_urgent()):
                # first come, first served: open only when nobody waits before us
                if self._count < self.limit:
                    self._count += 1
                    return await self._connect(key, deadline)
                if self._evict():
                    continue
            fut: asyncio.Future[object] = loop.create_future()
            waiters.append((key, fut))
            timer = loop.call_at(deadline, _expire, fut)
            try:
                got = await fut
            except BaseException:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    # Cancelled after being served: pass the slot or connection on.
                    given = fut.result()
                    if isinstance(given, self._connection_type):
                        self.release(given)
                    else:
                        self._count -= 1
                        self._wake()
                raise
            finally:
                timer.cancel()
            if isinstance(got, self._connection_type):
                return got
            return await self._connect(key, deadline)  # a slot was reserved for us

    def _evict(self) -> bool:
        """Close the oldest idle connection (of another TLS context) to free a slot."""
        oldest: _Connection | None = None
        for stack in self._idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest.idle_since):
                oldest = stack[0]
        if oldest is None:
            return False
        self.discard(oldest)
        return True

    async def _connect(self, key: _ssl.SSLContext | None, deadline: float) -> _Connection:
        """Open a connection in a slot already counted in :attr:`_count` (given back on failure)."""
        try:
            async with asyncio.timeout_at(deadline):
                conn = await self._open(key)
        except BaseException:
            self._count -= 1
            self._wake()
            raise
        if self._closed:
            conn.abort()
            self._count -= 1
            conn.dead = True
            raise _Closed()
        self._conns.add(conn)
        return conn

    async def _open(self, key: _ssl.SSLContext | None) -> _Connection:
        loop = self.loop
        assert loop is not None
        ctx: _ssl.SSLContext | None = None
        if self._https:
            ctx = key
            if ctx is None:
                ctx = self._default_ssl
                if ctx is None:
                    ctx = self._default_ssl = _ssl.create_default_context()
        error: OSError | None = None
        for family, address in await self._resolve():
            try:
                _, conn = await loop.create_connection(
                    lambda: self._connection_type(self, key),
                    address,
                    self._port,
                    family=family,
                    ssl=ctx,
                    server_hostname=self._host if ctx is not None else None,
                )
            except OSError as exc:
                error = exc
                continue
            return conn
        assert error is not None
        raise error

    async def _resolve(self) -> list[tuple[int, str]]:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        if self._addresses and (self.ttl_dns_cache is None or now < self._addresses_until):
            return self._addresses
        infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        addresses: list[tuple[int, str]] = []
        for family, _, _, _, sockaddr in infos:
            entry = (int(family), str(sockaddr[0]))
            if entry not in addresses:
                addresses.append(entry)
        if not addresses:
            raise OSError(f"no address for {self._host}")
        self._addresses = addresses
        self._addresses_until = now + (self.ttl_dns_cache or 0)
        return addresses

    def release(self, conn: _Connection) -> None:
        """A request is done with ``conn``: hand it to a waiter, pool it, or close it."""
        if not conn.reusable or conn.lost or self._closed:
            self.discard(conn)
            return
        waiters = self._urgent if self._has_urgent() else self._waiters
        while waiters:
            key, fut = waiters.popleft()
            if fut.done():
                continue
            if key is conn.key:
                fut.set_result(conn)
                return
            # The first waiter needs another TLS context: give it this connection's slot.
            waiters.appendleft((key, fut))
            self.discard(conn)
            return
        if self.keepalive_timeout <= 0:
            self.discard(conn)
            return
        loop = self.loop
        assert loop is not None
        conn.in_idle = True
        conn.idle_since = loop.time()
        stack = self._idle.get(conn.key)
        if stack is None:
            stack = self._idle[conn.key] = deque()
        stack.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_at(conn.idle_since + self.keepalive_timeout, self._sweep)

    def _sweep(self) -> None:
        """Close the connections idle for longer than ``keepalive_timeout``."""
        self._sweeper = None
        loop = self.loop
        if loop is None or self._closed:
            return
        cutoff = loop.time() - self.keepalive_timeout
        next_due: float | None = None
        for stack in list(self._idle.values()):
            while stack and stack[0].idle_since <= cutoff:
                self.discard(stack[0])
            if stack and (next_due is None or stack[0].idle_since < next_due):
                next_due = stack[0].idle_since
        if next_due is not None:
            self._sweeper = loop.call_at(next_due + self.keepalive_timeout, self._sweep)

    def discard(self, conn: _Connection) -> None:
        """Close ``conn`` and free its slot (idempotent)."""
        if conn.dead:
            return
        conn.dead = True
        if conn.in_idle:
            conn.in_idle = False
            stack = self._idle.get(conn.key)
            if stack is not None:
                stack.remove(conn)
        self._conns.discard(conn)
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        if not conn.lost:
            conn.lost = True
            if conn.transport is not None:
                conn.transport.close()
        self._count -= 1
        self._wake()

    def forget(self, conn: _Connection) -> None:
        """Drop a broken ``conn`` but keep its slot for the connection replacing it."""
        conn.abort()
        conn.dead = True
        self._conns.discard(conn)

    def _wake(self) -> None:
        """Reserve the free slot for the first live waiter, if any."""
        if self._closed:
            return
        for waiters in (self._urgent, self._waiters):
            while waiters:
                _, fut = waiters.popleft()
                if not fut.done():
                    self._count += 1
                    fut.set_result(_SLOT)
                    return

    def _has_urgent(self) -> bool:
        """Whether an urgent request is waiting (those given up on are dropped from the queue)."""
        urgent = self._urgent
        while urgent and urgent[0][1].done():
            urgent.popleft()
        return bool(urgent)

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Close every pooled connection. Idempotent; the transport cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._queue_timer is not None:
            self._queue_timer.cancel()
            self._queue_timer = None
        waiters, self._waiters = self._waiters, deque()
        waiters.extend(self._urgent)
        self._urgent.clear()
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(_Closed())
        loop = self.loop
        pending: list[asyncio.Future[Any]] = []
        for task in list(self._opening):
            task.cancel()
            pending.append(task)
        for conn in list(self._conns):
            if loop is not None and not conn.lost:
                conn.lost_waiter = loop.create_future()
                pending.append(conn.lost_waiter)
            if conn.waiter is not None:
                conn._fail(_Closed())  # the request in flight discards it
            else:
                self.discard(conn)
        self._idle.clear()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    async def __aenter__(self) -> Transport:
        if self._closed:
            raise TransportError(f"transport is closed (url={self.vtn_url})", url=self.vtn_url)
        if self.loop is None:
            self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    if isinstance(exc, _Lost | _Malformed):
        return text
    return f"{name}: {text}" if text else name
