"""fleetven.fleet.heap: while a fleet with ``freeze_gc`` runs, every full collection is followed by
``gc.freeze()``; the last such fleet to stop gives the objects back to the collector."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

import pytest

from fleetven.fleet import heap
from fleetven.fleet.core import Fleet
from fleetven.testing import TestVTN


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN() as server:
        yield server


def fleet_of(vtn: TestVTN, **options: object) -> Fleet:
    fleet = Fleet(vtn.url, disable_signature=True, seed=1, **options)  # type: ignore[arg-type]
    fleet.add_handler("on_event", lambda ven, event: "optIn")
    fleet.add_ven("site-1")
    return fleet


class Node:
    """A reference cycle's link."""

    def __init__(self) -> None:
        self.other: Node | None = None


class Probe:
    """A VEN's own handler, weakly referable: alive as long as its VEN is."""

    ven: object = None

    def __call__(self, ven: object, event: object) -> str:
        return "optIn"


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


async def test_a_full_collection_is_followed_by_a_freeze_while_the_fleet_runs(vtn: TestVTN) -> None:
    assert gc.get_freeze_count() == 0
    fleet = fleet_of(vtn)
    async with fleet:
        before = heap.freezes
        gc.collect()  # a full collection; the freeze follows on the loop
        assert gc.get_freeze_count() == 0, "not inside the collection: on the loop, right after"
        await asyncio.sleep(0)
        assert heap.freezes == before + 1
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the interpreter's and the fleet's long-lived objects
        gc.collect(1)
        await asyncio.sleep(0)
        assert heap.freezes == before + 1, "a younger collection does not freeze"
        # what is made after the freeze is collected as before, cycles included
        ref = cycle()
        assert ref() is not None
        gc.collect()
        assert ref() is None
        await asyncio.sleep(0)
        assert heap.freezes == before + 2
    assert gc.get_freeze_count() == 0, "stopping gives the frozen objects back"
    assert heap._after_collection not in gc.callbacks


async def test_a_frozen_cycle_is_collected_once_the_fleet_stops(vtn: TestVTN) -> None:
    fleet = fleet_of(vtn)
    async with fleet:
        ref = cycle()
        gc.collect()  # the cycle is garbage already: collected, not frozen
        assert ref() is None
        held = [cycle()]  # kept alive by a strong reference below, then frozen
        keep = held[0]()
        gc.collect()
        await asyncio.sleep(0)
        del keep
        gc.collect()
        assert held[0]() is not None, "the documented trade-off: a frozen cycle waits for the stop"
    gc.collect()
    assert held[0]() is None


async def test_freeze_gc_false_leaves_the_collector_alone(vtn: TestVTN) -> None:
    async with fleet_of(vtn, freeze_gc=False):
        gc.collect()
        await asyncio.sleep(0)
        assert gc.get_freeze_count() == 0
        assert heap._after_collection not in gc.callbacks


async def test_the_last_fleet_to_stop_unfreezes(vtn: TestVTN) -> None:
    first, second = fleet_of(vtn), fleet_of(vtn)
    await first.start()
    await second.start()
    try:
        await first.stop()
        gc.collect()
        await asyncio.sleep(0)
        assert gc.get_freeze_count() > 0, "one fleet still runs"
    finally:
        await first.stop()
        await second.stop()
    assert gc.get_freeze_count() == 0
    assert heap._after_collection not in gc.callbacks


@pytest.mark.parametrize("how", ["remove_ven", "drop_ven"])
async def test_a_ven_taken_out_of_a_running_fleet_is_freed_although_frozen(vtn: TestVTN, how: str) -> None:
    """A VEN's state may hold reference cycles (here an application's site object that is its
    handler and knows its VEN): once frozen, it would stay in memory after it left the fleet
    until the fleet stopped. Taking a VEN out hands the frozen objects back to the collector,
    and the next full collection frees it."""
    fleet = fleet_of(vtn)
    for i in range(2, 6):
        fleet.add_ven(f"site-{i}")
    probe = Probe()
    probe.ven = fleet.vens["site-3"]  # a site object that knows its VEN: a reference cycle
    probe.ven.add_handler("on_event", probe)
    probe_ref = weakref.ref(probe)
    del probe
    async with fleet:
        await vtn.wait_for(lambda: all(v.registered for v in fleet.vens.values()), timeout=10)
        gc.collect()
        await asyncio.sleep(0)
        assert gc.get_freeze_count() > 0
        if how == "remove_ven":
            await fleet.remove_ven("site-3")
        else:
            fleet.drop_ven("site-3")
        await asyncio.sleep(0.05)
        gc.collect()
        assert probe_ref() is None, "the VEN left the fleet: nothing may keep it (and its handler) in memory"
        assert len(fleet.vens) == 4
