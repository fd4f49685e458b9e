"""fleetven.testing.proxy.FaultProxy: each mode does what it says, against tiny servers of the test's own.

Two servers on free loopback ports: an echo server, and an "answer" server that answers every
chunk it reads with a fixed 1,000-byte payload (an HTTP-ish exchange: a request, then an answer
bigger than one cut). Nothing sleeps: reads wait with deadlines. Delays are checked only from
below (a chunk cannot arrive before its delay), never from above.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from fleetven.exceptions import ConfigurationError
from fleetven.testing.proxy import MODES, FaultProxy

DEADLINE = 5.0
PAYLOAD = bytes(range(256)) * 4  # 1,024 bytes, each position recognisable


@dataclass
class Server:
    """A loopback server that counts its connections."""

    port: int = 0
    connections: int = 0
    received: bytearray = field(default_factory=bytearray)
    server: asyncio.AbstractServer | None = None


async def _serve(answer: bytes | None) -> Server:
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            while data := await reader.read(65536):
                state.received += data
                writer.write(answer if answer is not None else data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    state.server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = state.server.sockets[0].getsockname()[1]
    return state


@pytest.fixture
async def echo() -> AsyncIterator[Server]:
    state = await _serve(None)
    assert state.server is not None
    async with state.server:
        yield state


@pytest.fixture
async def answer() -> AsyncIterator[Server]:
    state = await _serve(PAYLOAD)
    assert state.server is not None
    async with state.server:
        yield state


async def _connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(proxy.host, proxy.port)


async def _read_all(reader: asyncio.StreamReader) -> tuple[bytes, BaseException | None, int]:
    """Read until EOF or an error: (bytes, the error, number of reads that returned data)."""
    got = bytearray()
    reads = 0
    try:
        async with asyncio.timeout(DEADLINE):
            while data := await reader.read(65536):
                got += data
                reads += 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        return bytes(got), exc, reads
    return bytes(got), None, reads


async def _exchange(proxy: FaultProxy, data: bytes, size: int) -> bytes:
    reader, writer = await _connect(proxy)
    try:
        writer.write(data)
        async with asyncio.timeout(DEADLINE):
            return await reader.readexactly(size)
    finally:
        writer.close()


async def test_pass_forwards_both_ways_and_counts(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        assert proxy.port != 0 and proxy.port != echo.port
        assert await _exchange(proxy, b"hello", 5) == b"hello"
        assert proxy.mode == "pass"
        assert proxy.stats.accepted == 1
        assert proxy.stats.bytes_up == 5
        assert proxy.stats.bytes_down == 5
    assert echo.received == b"hello"


async def test_refuse_stops_listening_then_listens_again_on_the_same_port(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        reader, writer = await _connect(proxy)  # open before the outage: aborted by it
        port = proxy.port
        proxy.set_mode("refuse")
        with pytest.raises(ConnectionRefusedError):
            await _connect(proxy)
        data, error, _ = await _read_all(reader)
        writer.close()
        assert data == b"" and (error is None or isinstance(error, ConnectionResetError))
        assert proxy.stats.aborted == 1
        proxy.set_mode("pass")
        assert proxy.port == port
        assert await _exchange(proxy, b"back", 4) == b"back"


async def test_refuse_then_pass_then_refuse_at_once_refuses(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port, mode="refuse") as proxy:
        with pytest.raises(ConnectionRefusedError):
            await _connect(proxy)
        proxy.set_mode("pass")
        proxy.set_mode("refuse")  # before the new listener was served
        with pytest.raises(ConnectionRefusedError):
            await _connect(proxy)
        proxy.set_mode("pass")
        assert await _exchange(proxy, b"x", 1) == b"x"


async def test_drop_closes_new_connections_at_once(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port, mode="drop") as proxy:
        reader, writer = await _connect(proxy)
        writer.write(b"anyone?")
        data, _, _ = await _read_all(reader)
        writer.close()
        assert data == b""
        assert proxy.stats.dropped == 1
    assert echo.connections == 0  # the server never saw it


async def test_drop_closes_an_open_connection_at_its_next_chunk(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        reader, writer = await _connect(proxy)
        writer.write(b"one")
        async with asyncio.timeout(DEADLINE):
            assert await reader.readexactly(3) == b"one"
        proxy.set_mode("drop")
        writer.write(b"two")
        data, _, _ = await _read_all(reader)
        writer.close()
        assert data == b""
        assert proxy.stats.dropped == 1
    assert echo.received == b"one"


async def test_reset_cuts_the_answer_with_an_rst(answer: Server) -> None:
    async with FaultProxy("127.0.0.1", answer.port) as proxy:
        proxy.set_mode("reset", after=100)
        reader, writer = await _connect(proxy)
        writer.write(b"request")
        data, error, _ = await _read_all(reader)
        writer.close()
        assert isinstance(error, ConnectionResetError), error
        assert PAYLOAD.startswith(data) and len(data) <= 100
        assert proxy.stats.resets == 1
    assert answer.received == b"request"  # the server got the request: the answer was lost


async def test_truncate_closes_cleanly_after_k_bytes(answer: Server) -> None:
    async with FaultProxy("127.0.0.1", answer.port, mode="truncate") as proxy:
        proxy.set_mode("truncate", after=50)
        reader, writer = await _connect(proxy)
        writer.write(b"request")
        data, error, _ = await _read_all(reader)
        writer.close()
        assert error is None
        assert data == PAYLOAD[:50]
        assert proxy.stats.truncated == 1


async def test_truncate_counts_bytes_per_connection_across_answers(answer: Server) -> None:
    async with FaultProxy("127.0.0.1", answer.port) as proxy:
        proxy.set_mode("truncate", after=len(PAYLOAD) + 10)
        reader, writer = await _connect(proxy)
        writer.write(b"first")
        async with asyncio.timeout(DEADLINE):
            assert await reader.readexactly(len(PAYLOAD)) == PAYLOAD
        writer.write(b"second")
        data, error, _ = await _read_all(reader)
        writer.close()
        assert error is None and data == PAYLOAD[:10]


async def test_delay_holds_each_chunk(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        proxy.set_mode("delay", delay=0.2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await _exchange(proxy, b"slow", 4) == b"slow"
        assert loop.time() - start >= 0.4  # held both ways; a lower bound only


async def test_blackhole_accepts_and_never_answers(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port, mode="blackhole") as proxy:
        reader, writer = await _connect(proxy)
        writer.write(b"into the void")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.read(1)
        assert proxy.stats.blackholed == 1
        assert proxy.connections == 1
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    assert echo.connections == 0


async def test_blackhole_swallows_an_open_connection(echo: Server) -> None:
    async with FaultProxy("127.0.0.1", echo.port) as proxy:
        reader, writer = await _connect(proxy)
        writer.write(b"a")
        async with asyncio.timeout(DEADLINE):
            assert await reader.readexactly(1) == b"a"
        proxy.set_mode("blackhole")
        writer.write(b"b")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.read(1)
        assert proxy.stats.discarded >= 1
        proxy.set_mode("pass")
        writer.write(b"c")
        async with asyncio.timeout(DEADLINE):
            assert await reader.readexactly(1) == b"c"
        writer.close()


async def test_drip_forwards_the_answer_in_slices(answer: Server) -> None:
    async with FaultProxy("127.0.0.1", answer.port) as proxy:
        proxy.set_mode("drip", chunk=100, interval=0.02)
        loop = asyncio.get_running_loop()
        reader, writer = await _connect(proxy)
        start = loop.time()
        writer.write(b"request")
        async with asyncio.timeout(DEADLINE):
            got = bytearray()
            reads = 0
            while len(got) < len(PAYLOAD):
                got += await reader.read(65536)
                reads += 1
        writer.close()
        assert got == PAYLOAD
        assert reads >= 2
        assert loop.time() - start >= 10 * 0.02  # 11 slices, 10 pauses; a lower bound only


async def test_drip_released_by_another_mode(answer: Server) -> None:
    async with FaultProxy("127.0.0.1", answer.port) as proxy:
        proxy.set_mode("drip", chunk=1, interval=60.0)
        reader, writer = await _connect(proxy)
        writer.write(b"request")
        async with asyncio.timeout(DEADLINE):
            first = await reader.readexactly(1)
        proxy.set_mode("pass")  # ends the 60 s pause: the rest comes at once
        async with asyncio.timeout(DEADLINE):
            rest = await reader.readexactly(len(PAYLOAD) - 1)
        writer.close()
        assert first + rest == PAYLOAD


async def test_upstream_down_aborts_the_client() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with FaultProxy("127.0.0.1", port) as proxy:
        reader, writer = await _connect(proxy)
        data, _, _ = await _read_all(reader)
        writer.close()
        assert data == b""
        assert proxy.stats.upstream_failures == 1


async def test_stop_aborts_open_connections(echo: Server) -> None:
    proxy = FaultProxy("127.0.0.1", echo.port)
    await proxy.start()
    reader, writer = await _connect(proxy)
    writer.write(b"x")
    async with asyncio.timeout(DEADLINE):
        await reader.readexactly(1)
    await proxy.stop()
    data, _, _ = await _read_all(reader)
    writer.close()
    assert data == b""
    assert proxy.connections == 0
    with pytest.raises(ConnectionRefusedError):
        await _connect(proxy)
    await proxy.stop()  # idempotent


def test_bad_modes_and_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="mode must be one of"):
        FaultProxy("127.0.0.1", 1, mode="flaky")
    proxy = FaultProxy("127.0.0.1", 1)
    with pytest.raises(ConfigurationError, match="mode must be one of"):
        proxy.set_mode("slow")
    with pytest.raises(ConfigurationError, match="chunk >= 1"):
        proxy.set_mode("drip", chunk=0)
    with pytest.raises(ConfigurationError, match="delay"):
        proxy.set_mode("delay", delay=-1)
    assert set(MODES) == {"pass", "refuse", "drop", "reset", "delay", "blackhole", "drip", "truncate"}


def test_proxied_url_replaces_host_and_port() -> None:
    proxy = FaultProxy("127.0.0.1", 8080, port=0)
    proxy.port = 4321
    assert proxy.proxied_url("http://127.0.0.1:8080/OpenADR2/Simple/2.0b") == \
        "http://127.0.0.1:4321/OpenADR2/Simple/2.0b"
