"""A TCP proxy that injects network faults between a client and a server, switchable at run time.

:class:`FaultProxy` listens on a free port of the loopback interface and forwards every
connection to one upstream address (a VTN, say). Its :attr:`~FaultProxy.mode` decides what
happens to the bytes, and can be changed at any moment from the test::

    async with TestVTN() as vtn, FaultProxy("127.0.0.1", vtn.port) as proxy:
        fleet = Fleet(proxy.proxied_url(vtn.url), request_timeout=0.5)
        ...
        proxy.set_mode("reset", after=20)   # every answer is cut by a TCP RST after 20 bytes
        ...
        proxy.set_mode("pass")              # the network heals
        assert proxy.stats.resets > 0

Modes (:data:`MODES`):

``pass``
    Forward both ways, unchanged.
``refuse``
    Stop listening: connecting fails with ``ECONNREFUSED``, as with a VTN that is down.
    Open connections are aborted. Switching to any other mode listens again on the same port.
``drop``
    Accept a new connection and close it at once, reading nothing. An open connection is
    closed when its next chunk arrives, either way.
``reset``
    Forward the request; forward the first ``after`` bytes of the answer (counted per
    connection from the moment the mode was set), then abort the client's connection with
    ``SO_LINGER`` 0, so that the client sees a TCP RST in the middle of the answer.
``delay``
    Hold every chunk ``delay`` seconds before forwarding it, both ways (order is kept).
    Setting another mode releases the chunks held.
``blackhole``
    Accept, read and discard, never answer: the client waits until its own timeout. A
    connection accepted in this mode never reaches the server; one already open when the mode
    is set has its bytes thrown away both ways.
``drip``
    Forward the answer ``chunk`` bytes at a time, one slice every ``interval`` seconds
    (a slow-drip server); requests pass unchanged. Setting another mode releases the rest.
``truncate``
    Forward the first ``after`` bytes of the answer (per connection, from the moment the mode
    was set), then close the client's connection cleanly (FIN): a truncated body.

Faults act on the answer direction (server to client) unless said otherwise; a mode is read
afresh for every chunk, so a change reaches connections already open at their next chunk.
:attr:`~FaultProxy.stats` counts what happened (:class:`ProxyStats`).

The proxy is a test tool: plain asyncio streams, one pair of tasks per connection, loopback only
by default. It is not built for throughput, though a few thousand requests per second go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from yarl import URL

from fleetven.exceptions import ConfigurationError

__all__ = ("FaultProxy", "ProxyStats", "MODES")

#: Every mode :meth:`FaultProxy.set_mode` accepts.
MODES: Final = frozenset(("pass", "refuse", "drop", "reset", "delay", "blackhole", "drip", "truncate"))

_READ: Final = 65536


@dataclass(slots=True)
class ProxyStats:
    """What a :class:`FaultProxy` did since it was made (counters only grow).

    :ivar accepted: connections accepted from clients (not counting refused ones, which never arrive).
    :ivar dropped: connections closed at once or on their next chunk by ``drop``.
    :ivar blackholed: connections accepted in ``blackhole`` mode.
    :ivar resets: connections aborted with an RST by ``reset``.
    :ivar truncated: connections closed early by ``truncate``.
    :ivar aborted: open connections aborted when ``refuse`` was set, by :meth:`FaultProxy.close_connections`
        or when the proxy stopped.
    :ivar upstream_failures: connections whose server could not be reached (the client's is then aborted).
    :ivar bytes_up: bytes forwarded from clients to the server.
    :ivar bytes_down: bytes forwarded from the server to clients.
    :ivar discarded: bytes read and thrown away (``blackhole``, and what ``reset``/``truncate`` cut off).
    """

    accepted: int = 0
    dropped: int = 0
    blackholed: int = 0
    resets: int = 0
    truncated: int = 0
    aborted: int = 0
    upstream_failures: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    discarded: int = 0


@dataclass(frozen=True, slots=True)
class _Mode:
    name: str
    delay: float
    after: int
    chunk: int
    interval: float
    epoch: int


class _Link:
    """One client connection and, unless blackholed or dropped, its connection to the server."""

    __slots__ = ("client_reader", "client", "server", "epoch", "down", "tasks")

    def __init__(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter, epoch: int) -> None:
        self.client_reader = client_reader
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.epoch = epoch
        self.down = 0  # answer bytes forwarded since ``epoch``
        self.tasks: list[asyncio.Task[None]] = []

    def close(self) -> None:
        """Close both sides once what was written is sent."""
        if not self.client.is_closing():
            self.client.close()
        if self.server is not None and not self.server.is_closing():
            self.server.close()

    def abort(self, *, rst: bool = False) -> None:
        """Close both sides now; with ``rst``, the client's with ``SO_LINGER`` 0 (a TCP RST)."""
        if rst:
            sock = self.client.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.client.transport.abort()
        if self.server is not None:
            self.server.transport.abort()


class FaultProxy:
    """A switchable fault-injecting TCP proxy in front of ``(upstream_host, upstream_port)``.

    :param upstream_host: the server's address.
    :param upstream_port: the server's port.
    :param host: the address to listen on (loopback by default).
    :param port: the port to listen on; 0 (the default) picks a free one, read it from :attr:`port`
        after :meth:`start`.
    :param mode: the initial mode (see :data:`MODES`); ``"pass"`` by default.

    Use it as an async context manager (``async with FaultProxy(...) as proxy``) or call
    :meth:`start` and :meth:`stop`.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0, mode: str = "pass"
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        #: The port listened on (the chosen one once started, when created with 0).
        self.port = port
        #: Counters of what the proxy did.
        self.stats = ProxyStats()
        self._mode = _Mode("pass", 0.0, 0, 1, 0.0, 0)
        self._links: set[_Link] = set()
        self._server: asyncio.AbstractServer | None = None
        self._starting: asyncio.Task[None] | None = None
        self._pending: socket.socket | None = None  # listening again, not yet served
        self._switched = asyncio.Event()  # set (and replaced) at every mode change: ends pauses
        self._started = False
        self._initial = mode
        self._check(mode)

    def __repr__(self) -> str:
        return (f"<FaultProxy {self.host}:{self.port} -> {self.upstream_host}:{self.upstream_port} "
                f"mode={self._mode.name} open={len(self._links)}>")

    # ------------------------------------------------------------ lifecycle

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect to instead of the server."""
        return self.host, self.port

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._links)

    def proxied_url(self, url: str) -> str:
        """``url`` (the server's, e.g. a VTN's ``vtn_url``) with its host and port replaced by the proxy's."""
        return str(URL(url).with_host(self.host).with_port(self.port))

    async def start(self) -> None:
        """Start listening (on a free port when ``port`` is 0) in the initial mode."""
        if self._started:
            return
        self._started = True
        await self._listen()
        if self._initial != "pass":
            self.set_mode(self._initial)

    async def stop(self) -> None:
        """Stop listening, abort every open connection and wait for their tasks. Idempotent."""
        if not self._started:
            return
        self._started = False
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
            self._starting = None
        await self._unlisten()
        tasks = [t for link in self._links for t in link.tasks]
        self.close_connections()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._on_client, sock=self._bound())

    def _bound(self) -> socket.socket:
        """A listening socket on ``host:port`` (made synchronously, so connections wait in its backlog)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    async def _unlisten(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    # ---------------------------------------------------------------- modes

    @property
    def mode(self) -> str:
        """The current mode (see :data:`MODES`); set it with :meth:`set_mode`."""
        return self._mode.name

    @staticmethod
    def _check(mode: str) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"FaultProxy mode must be one of {', '.join(sorted(MODES))}, not {mode!r}",
                                     setting="mode")

    def set_mode(self, mode: str, *, delay: float = 0.0, after: int = 0, chunk: int = 1,
                 interval: float = 0.05) -> None:
        """Switch to ``mode`` now (see the module docstring for what each does).

        :param mode: one of :data:`MODES`.
        :param delay: ``delay`` mode: seconds each chunk is held.
        :param after: ``reset`` and ``truncate``: answer bytes let through (per connection) before the cut.
        :param chunk: ``drip``: bytes forwarded per slice.
        :param interval: ``drip``: seconds between slices.
        :raises ConfigurationError: an unknown mode or a negative setting.
        :raises OSError: leaving ``refuse``, the port could not be listened on again.
        """
        self._check(mode)
        if delay < 0 or after < 0 or chunk < 1 or interval < 0:
            raise ConfigurationError(f"FaultProxy.set_mode({mode!r}): delay, after and interval must be >= 0 and "
                                     f"chunk >= 1 (got delay={delay}, after={after}, chunk={chunk}, "
                                     f"interval={interval})", setting=mode)
        old = self._mode
        self._mode = _Mode(mode, float(delay), int(after), int(chunk), float(interval), old.epoch + 1)
        self._switched.set()
        self._switched = asyncio.Event()
        if not self._started:
            self._initial = mode
            return
        if mode == "refuse" and old.name != "refuse":
            server, self._server = self._server, None
            if server is not None:
                server.close()  # the listening socket closes now: new connections are refused
            if self._pending is not None:
                self._pending.close()
                self._pending = None
            self.close_connections()
        elif mode != "refuse" and old.name == "refuse" and self._server is None:
            sock = self._pending = self._bound()
            loop = asyncio.get_running_loop()
            self._starting = loop.create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        # Clients connecting before this runs wait in the socket's backlog: nothing is refused.
        if self._pending is not sock:  # refused again before it was served
            return
        self._pending = None
        server = await asyncio.start_server(self._on_client, sock=sock)
        if self._mode.name == "refuse" or not self._started or self._server is not None:
            server.close()  # refused again (or stopped) meanwhile
        else:
            self._server = server

    def close_connections(self) -> None:
        """Abort every open connection now (both sides), e.g. to start an outage with no pooled connection left."""
        for link in list(self._links):
            self.stats.aborted += 1
            link.abort()
        self._links.clear()

    # ------------------------------------------------------------ forwarding

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats = self.stats
        stats.accepted += 1
        mode = self._mode
        if mode.name in ("drop", "refuse"):
            stats.dropped += 1
            writer.close()
            return
        link = _Link(reader, writer, mode.epoch)
        self._links.add(link)
        try:
            if mode.name == "blackhole":
                stats.blackholed += 1
                await self._swallow(reader)
                return
            try:
                up_reader, link.server = await asyncio.open_connection(self.upstream_host, self.upstream_port)
            except OSError:
                stats.upstream_failures += 1
                link.abort(rst=True)
                return
            if link not in self._links:  # aborted (refuse, stop) while connecting
                link.abort()
                return
            loop = asyncio.get_running_loop()
            link.tasks = [loop.create_task(self._pump_up(link)), loop.create_task(self._pump_down(link, up_reader))]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)
            link.close()

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_READ):
                self.stats.discarded += len(data)

    async def _pump_up(self, link: _Link) -> None:
        """Client to server."""
        server = link.server
        assert server is not None
        try:
            while data := await link.client_reader.read(_READ):
                mode = self._mode
                name = mode.name
                if name == "drop":
                    self.stats.dropped += 1
                    link.abort()
                    return
                if name == "blackhole":
                    self.stats.discarded += len(data)
                    continue
                if name == "delay" and mode.delay:
                    await self._pause(mode.delay)
                server.write(data)
                self.stats.bytes_up += len(data)
                await server.drain()
            if server.can_write_eof():
                server.write_eof()
        except OSError:
            link.abort()

    async def _pump_down(self, link: _Link, reader: asyncio.StreamReader) -> None:
        """Server to client, where the faults act."""
        client = link.client
        stats = self.stats
        try:
            while data := await reader.read(_READ):
                mode = self._mode
                if link.epoch != mode.epoch:
                    link.epoch, link.down = mode.epoch, 0
                name = mode.name
                if name == "drop":
                    stats.dropped += 1
                    link.abort()
                    return
                if name == "blackhole":
                    stats.discarded += len(data)
                    continue
                if name == "delay" and mode.delay:
                    await self._pause(mode.delay)
                elif name in ("reset", "truncate"):
                    room = max(mode.after - link.down, 0)
                    if len(data) >= room:
                        await self._send(link, data[:room])
                        stats.discarded += len(data) - room
                        if name == "reset":
                            stats.resets += 1
                            link.abort(rst=True)
                        else:
                            stats.truncated += 1
                            link.close()
                        return
                elif name == "drip":
                    await self._drip(link, data)
                    continue
                await self._send(link, data)
            client.close()
        except OSError:
            link.abort()

    async def _send(self, link: _Link, data: bytes) -> None:
        if data:
            link.client.write(data)
            link.down += len(data)
            self.stats.bytes_down += len(data)
            await link.client.drain()

    async def _drip(self, link: _Link, data: bytes) -> None:
        view = memoryview(data)
        while view:
            mode = self._mode
            if mode.name != "drip":  # released: the rest at once
                await self._send(link, bytes(view))
                return
            await self._send(link, bytes(view[:mode.chunk]))
            view = view[mode.chunk:]
            if view:
                await self._pause(mode.interval)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the mode changes meanwhile (a pause ends with its mode)."""
        switched = self._switched
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await switched.wait()
