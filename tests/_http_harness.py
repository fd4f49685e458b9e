"""What an HTTP answer parser (``fleetven._fast._http_py.Connection`` or its compiled twin) needs
around it to read answers outside a transport: its pool's few attributes and a socket that
swallows writes. Used by tests/test_http_llhttp.py and bench/bench_http_parser.py."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ("NullSocket", "ParserOwner")


class ParserOwner:
    """The attributes and calls of :class:`fleetven._fast._http_py.Pool` that reading an answer uses."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_size: int) -> None:
        self.loop = loop
        self.parsed_heads: dict[bytes, Any] = {}
        self.max_size = max_size
        self.stale_retry_window = 0.0
        self.closed = False

    def discard(self, conn: object) -> None:
        """(A spoiled idle connection: nothing to do here.)"""


class NullSocket:
    """The transport a connection writes its requests to."""

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass
