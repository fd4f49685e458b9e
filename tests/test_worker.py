"""Workers of one fleet in one process (fleetven/fleet/worker.py), on a real throwaway PostgreSQL and
the VTN stand-in: slots shared to within one of the fair share, VENs handed over without a new
registration, a worker that loses the database stops and goes on afterwards. (Workers as separate
processes, killed and paused: tests/test_worker_processes.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from _helpers import until
from test_fleet import make_fleet

from fleetven.fleet.slots import slot_of
from fleetven.fleet.worker import Worker
from fleetven.store.identities import Identities, Identity
from fleetven.store.leases import Leases
from fleetven.testing import TestVTN
from fleetven.testing.proxy import FaultProxy

SLOTS = 12
VENS = 36
DEADLINE = 20.0
#: Short leases, so that the tests see expiries: renew + statement timeout < lease - margin.
TIMING: dict[str, float] = {"lease": 2.0, "renew_every": 0.3, "margin": 0.6, "statement_timeout": 0.4}


async def create_fleet(dsn: str, vens: int = VENS, slots: int = SLOTS) -> list[str]:
    leases = Leases(dsn)
    await leases.create(slots)
    await leases.close()
    ids = await Identities.open(dsn)
    names = [f"site-{i:03d}" for i in range(vens)]
    await ids.put(Identity(n, slot_of(n, slots)) for n in names)
    await ids.close()
    return names


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(seconds=0)) as v:
        yield v


def worker(vtn: TestVTN, dsn: str, name: str, **options: Any) -> Worker:
    def factory(**kwargs: Any) -> Any:
        return make_fleet(vtn, poll_interval=0.2, **kwargs)

    return Worker(dsn, factory, name=name, **{**TIMING, **options})


def registrations(vtn: TestVTN) -> list[str]:
    return [msg.ven_name for _, msg in vtn.registrations]


def running(*workers: Worker) -> dict[str, str]:
    """Each VEN run, with the worker running it; a VEN run by two workers fails the test."""
    out: dict[str, str] = {}
    for w in workers:
        for name in w.fleet.vens:
            assert name not in out, f"{name} runs on {out.get(name)} and {w.name}"
            out[name] = w.name
    return out


async def test_one_worker_takes_every_slot_and_runs_every_ven(pg_dsn: str, vtn: TestVTN) -> None:
    names = await create_fleet(pg_dsn)
    async with worker(vtn, pg_dsn, "w1") as w1:
        assert sorted(w1.held) == list(range(SLOTS))
        await until(lambda: all(v.registered for v in w1.fleet.vens.values()) and len(w1.fleet.vens) == VENS,
                           timeout=DEADLINE)
        assert sorted(registrations(vtn)) == names


async def test_a_second_worker_gets_its_fair_share_without_a_new_registration(pg_dsn: str, vtn: TestVTN) -> None:
    names = await create_fleet(pg_dsn)
    async with worker(vtn, pg_dsn, "w1") as w1:
        await until(lambda: sum(v.registered for v in w1.fleet.vens.values()) == VENS, timeout=DEADLINE)
        async with worker(vtn, pg_dsn, "w2") as w2:
            await until(lambda: len(w1.held) == len(w2.held) == SLOTS // 2
                        and len(running(w1, w2)) == VENS, timeout=DEADLINE)
            assert not set(w1.held) & set(w2.held)
            assert set(running(w1, w2)) == set(names)
            moved = list(w2.fleet.vens.values())
            assert moved and w2.stats.gained == SLOTS // 2 and w1.stats.handed_back == SLOTS // 2
            polls = vtn.polls
            await until(lambda: vtn.polls > polls + 2 * VENS and all(v.registered for v in moved),
                               timeout=DEADLINE)
        # w2 left gracefully: w1 takes its slots back at once, again without registering
        await until(lambda: len(w1.held) == SLOTS and len(w1.fleet.vens) == VENS, timeout=DEADLINE)
    assert sorted(registrations(vtn)) == names  # each VEN registered once, in all


async def test_three_workers_balance_to_within_one_slot(pg_dsn: str, vtn: TestVTN) -> None:
    await create_fleet(pg_dsn, slots=10)
    async with worker(vtn, pg_dsn, "w1") as w1, worker(vtn, pg_dsn, "w2") as w2, worker(vtn, pg_dsn, "w3") as w3:
        await until(lambda: sorted(len(w.held) for w in (w1, w2, w3)) == [3, 3, 4], timeout=DEADLINE)
        held = [set(w.held) for w in (w1, w2, w3)]
        assert set().union(*held) == set(range(10)) and sum(map(len, held)) == 10
        running(w1, w2, w3)


async def test_a_worker_that_loses_the_database_stops_acting_and_goes_on_after(
        pg_dsn: str, postgresql_server: Any, vtn: TestVTN) -> None:
    """Black-holed past its deadline, the worker's VENs stop (the gate refuses them) but stay in
    memory; when the database is back and no one took the slots, they go on as they were."""
    await create_fleet(pg_dsn)
    async with FaultProxy(postgresql_server.host, postgresql_server.port) as proxy:
        dsn = pg_dsn.replace(f":{postgresql_server.port}/", f":{proxy.port}/")
        async with worker(vtn, dsn, "w1") as w1:
            await until(lambda: sum(v.registered for v in w1.fleet.vens.values()) == VENS, timeout=DEADLINE)
            vens = dict(w1.fleet.vens)
            proxy.set_mode("blackhole")
            await until(lambda: len(w1.suspended) == SLOTS, timeout=DEADLINE)
            assert not w1.held
            await asyncio.sleep(0.3)  # requests in flight at the deadline have ended
            polls = vtn.polls
            await asyncio.sleep(1.0)
            assert vtn.polls == polls, "a worker that cannot prove its leases polled"
            proxy.set_mode("pass")
            await until(lambda: len(w1.held) == SLOTS and not w1.suspended, timeout=DEADLINE)
            assert w1.fleet.vens == vens  # the same VENs, kept in memory
            assert w1.stats.resumed == SLOTS
            await until(lambda: vtn.polls > polls + VENS, timeout=DEADLINE)
    assert len(registrations(vtn)) == VENS

