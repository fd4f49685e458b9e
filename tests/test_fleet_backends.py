"""The protocol on both store backends: a fleet of one process on SQLite and on PostgreSQL (every
slot leased to it) behaves the same against the VTN stand-in — registration, an event decided once
and answered, its answer acknowledged, report samples delivered, and a restart that resumes every
VEN without registering or deciding again. (The Store interface itself on both: tests/test_store.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _pgsync import TEST_SLOTS, test_slot_of
from test_fleet import DEADLINE, make_event, make_fleet
from test_worker_processes import ask_for_reports

from fleetven.fleet.driver import Ven
from fleetven.store import SQLiteStore, Store
from fleetven.store.leases import Leases
from fleetven.store.postgres import PostgresStore
from fleetven.testing import TestVTN
from fleetven.ven.events import OPT_IN

VENS = 6
StoreFactory = Callable[[], Awaitable[Store]]

# The store's commits are what differs; the loop is tested everywhere else.
pytestmark = pytest.mark.one_loop


@pytest.fixture(params=["sqlite", "postgresql"])
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Makes a store on the test's database, the same each time (a restart opens it again)."""
    made: list[Store] = []
    if request.param == "sqlite":
        async def factory() -> Store:
            made.append(SQLiteStore(tmp_path / "fleet.db"))
            return made[-1]
    else:
        dsn = request.getfixturevalue("pg_dsn")
        leases = Leases(dsn, lease=3600.0)
        await leases.create(TEST_SLOTS)

        async def factory() -> Store:
            store = await PostgresStore.open(dsn, worker="solo", slot_of=test_slot_of)
            # the first takes every slot; a restart finds them still its own (an hour's lease)
            held = await leases.acquire("solo") or await leases.renew("solo")
            assert sorted(held) == list(range(TEST_SLOTS))
            for slot, epoch in held.items():
                store.hold(slot, epoch)
            made.append(store)
            return store
    yield factory
    for store in made:
        if not store.closed:
            await store.aclose()
    if request.param == "postgresql":
        await leases.close()


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(0), on_register_report=ask_for_reports) as v:
        yield v


def vid(ven: Ven) -> str:
    assert ven.ven_id is not None
    return ven.ven_id


async def test_register_decide_report_restart(vtn: TestVTN, new_store: StoreFactory) -> None:
    decided: list[tuple[str, str]] = []

    def on_event(ven: Ven, event: Any) -> str:
        decided.append((ven.name, event["event_id"]))
        return OPT_IN

    def fleet_on(store: Store) -> Any:
        fleet = make_fleet(vtn, store=store, poll_interval=0.2)
        fleet.add_handler("on_event", on_event)
        fleet.add_report(lambda ven=None: 4.2, "meter", "power_real", sampling_rate=timedelta(seconds=1),
                         report_duration=timedelta(hours=1))
        for i in range(VENS):
            fleet.add_ven(f"site-{i}")
        return fleet

    fleet = fleet_on(await new_store())
    async with fleet:
        await vtn.wait_for(lambda: all(v.registered for v in fleet.vens.values()), timeout=DEADLINE)
        for ven in fleet.vens.values():
            vtn.add_event(vid(ven), make_event("ev-1"))
        await vtn.wait_for(lambda: len(vtn.event_responses) >= VENS and len({v for v, _ in vtn.reports}) == VENS,
                           timeout=DEADLINE)
        ids = {name: vid(ven) for name, ven in fleet.vens.items()}
    assert sorted(decided) == [(f"site-{i}", "ev-1") for i in range(VENS)]
    assert {(v, r.opt_type) for v, r in vtn.event_responses} == {(v, OPT_IN) for v in ids.values()}
    reports_before = len(vtn.reports)

    again = fleet_on(await new_store())  # a restart: the same database, a new process's objects
    async with again:
        await vtn.wait_for(lambda: len(vtn.reports) > reports_before + VENS, timeout=DEADLINE)
        assert {name: vid(ven) for name, ven in again.vens.items()} == ids  # resumed, same venIDs
    assert len(vtn.registrations) == VENS, "a VEN registered again after the restart"
    assert len(decided) == VENS, "an event was decided again after the restart"
    keys = [(v, p.r_id, i.dtstart) for v, rep in vtn.reports for i in rep.intervals for p in i.payloads]
    assert len(keys) == len(set(keys)), "a sample was delivered twice"
