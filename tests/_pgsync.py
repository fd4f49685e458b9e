"""The PostgreSQL store for the tests of the synchronous Store interface, and the test fleet's slots."""

from __future__ import annotations

import asyncio
import zlib

from fleetven.store import VenState
from fleetven.store.leases import Leases
from fleetven.store.postgres import PostgresStore

__all__ = ("TEST_SLOTS", "SyncPostgresStore", "test_slot_of")


#: The slot count of the test fleets, and the slot of a VEN there (any stable function serves:
#: the store takes it as an argument).
TEST_SLOTS = 8


def test_slot_of(name: str) -> int:
    """A VEN's slot in the test fleets (CRC-32 of its name)."""
    return zlib.crc32(name.encode()) % TEST_SLOTS


test_slot_of.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


class SyncPostgresStore(PostgresStore):
    """A :class:`PostgresStore` driven to completion on a private event loop, so that the synchronous
    tests of the Store interface (tests/test_store.py) run on it unchanged: ``flush()`` awaits
    :meth:`~PostgresStore.commit`, ``load()`` :meth:`~PostgresStore.aload`, ``close()``
    :meth:`~PostgresStore.aclose`. The worker holds every slot of the test fleet."""

    loop: asyncio.AbstractEventLoop

    @classmethod
    def make(cls, dsn: str) -> SyncPostgresStore:
        loop = asyncio.new_event_loop()

        async def made() -> SyncPostgresStore:
            store = await cls.open(dsn, worker="w-sync", slot_of=test_slot_of)
            leases = Leases(dsn, lease=3600.0)
            await leases.create(TEST_SLOTS)
            for slot, epoch in (await leases.acquire("w-sync")).items():
                store.hold(slot, epoch)
            await leases.close()
            return store

        store = loop.run_until_complete(made())
        store.loop = loop
        return store

    def flush(self) -> None:
        self.loop.run_until_complete(self.commit())

    def load(self) -> dict[str, VenState]:
        return self.loop.run_until_complete(self.aload())

    def close(self) -> None:
        if not self.closed:
            try:
                self.loop.run_until_complete(self.aclose())
            finally:
                self.loop.close()
