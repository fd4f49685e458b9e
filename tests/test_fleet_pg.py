"""tests/test_fleet.py's protocol tests again, each fleet on PostgreSQL: a fleet of one process
whose store is a :class:`~fleetven.store.postgres.PostgresStore` holding every slot of the test
fleet behaves exactly as on the default store (registration, events and answers, opts, reports,
retries, faults). The tests that pass a SQLite store of their own (restarts on a file) stay in
tests/test_fleet.py; tests/test_fleet_backends.py restarts a fleet on both backends."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest
import test_fleet
from _pgsync import TEST_SLOTS, test_slot_of
from test_fleet import vtn  # noqa: F401 - the fixture the tests take

from fleetven.store import Store
from fleetven.store.leases import Leases
from fleetven.store.postgres import PostgresStore

# The store's commits are what differs; the loop is tested with tests/test_fleet.py.
pytestmark = pytest.mark.one_loop

#: Fleets a test may make (each gets a store of its own on the test's database).
FLEETS_PER_TEST = 2


def _on_the_default_store(name: str, test: object) -> bool:
    if not (name.startswith("test_") and inspect.iscoroutinefunction(test)):
        return False
    source = inspect.getsource(test)  # type: ignore[arg-type]
    return "make_fleet(" in source and "store=" not in source


# Collected here again, under this module's fixtures and marks.
globals().update({name: test for name, test in vars(test_fleet).items() if _on_the_default_store(name, test)})


@pytest.fixture(autouse=True)
async def on_postgresql(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    leases = Leases(pg_dsn, lease=3600.0)
    await leases.create(TEST_SLOTS)
    held = await leases.acquire("solo")
    await leases.close()
    assert sorted(held) == list(range(TEST_SLOTS))
    stores: list[PostgresStore] = []
    for _ in range(FLEETS_PER_TEST):
        store = await PostgresStore.open(pg_dsn, worker="solo", slot_of=test_slot_of, pool_size=1)
        for slot, epoch in held.items():
            store.hold(slot, epoch)
        stores.append(store)
    spare = list(stores)

    def next_store() -> Store:
        if not spare:
            raise AssertionError(f"the test makes more than {FLEETS_PER_TEST} fleets: raise FLEETS_PER_TEST")
        return spare.pop(0)

    monkeypatch.setattr(test_fleet, "default_store", next_store)
    yield
    for store in stores:
        if not store.closed:
            await store.aclose()
