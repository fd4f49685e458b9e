"""What a worker of a fleet across processes needs from a Fleet (issue 16): a gate asked before every
request is written, a store whose commits are awaited where durability demands it, VENs added with
their state and dropped at once. Against the VTN stand-in, on both HTTP twins where the pool matters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from _helpers import load_twin
from test_fleet import DEADLINE, make_event, make_fleet

from fleetven.exceptions import NotOwner, StoreError
from fleetven.http.transport import EI_EVENT, OADR_POLL, Transport
from fleetven.messages import build_message
from fleetven.openadr import model as m
from fleetven.store import MemoryStore, SQLiteStore
from fleetven.testing import TestVTN


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(0)) as v:
        yield v


@pytest.fixture(params=["py", "c"])
def http_impl(request: pytest.FixtureRequest) -> ModuleType:
    return load_twin("http", request.param)


def registered_names(vtn: TestVTN) -> set[str]:
    return {msg.ven_name for _, msg in vtn.registrations}


# ----------------------------------------------------------------------- the gate


async def test_a_refused_ven_sends_nothing_until_the_gate_opens(vtn: TestVTN, http_impl: ModuleType) -> None:
    allowed = {"site-a"}

    def factory(url: str, **kw: Any) -> Transport:
        return Transport(url, protocol=http_impl, **kw)

    fleet = make_fleet(vtn, gate=lambda name: name in allowed, transport_factory=factory)
    a, b = fleet.add_ven("site-a"), fleet.add_ven("site-b")
    async with fleet:
        await vtn.wait_for(lambda: a.registered and vtn.polls >= 5, timeout=DEADLINE)
        assert registered_names(vtn) == {"site-a"} and not b.registered
        allowed.add("site-b")
        await vtn.wait_for(lambda: b.registered, timeout=DEADLINE)
    assert registered_names(vtn) == {"site-a", "site-b"}


async def test_the_coroutine_api_is_gated_too(vtn: TestVTN) -> None:
    transport = Transport(vtn.url, gate=lambda name: name != "blocked")
    body = build_message(m.Poll(ven_id="nobody"))
    try:
        assert await transport.request(OADR_POLL, body, ven="free")
        with pytest.raises(NotOwner):
            await transport.request(OADR_POLL, body, ven="blocked")
        with pytest.raises(NotOwner):
            transport.post(OADR_POLL, body, lambda data, err: None, ven="blocked")
    finally:
        await transport.close()


# ------------------------------------------------------------ commits awaited


class SlowStore(MemoryStore):
    """A store whose commit takes a while, as one over the network does; it logs what it did, in order."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def commit(self) -> None:
        self.log.append("commit begins")
        await asyncio.sleep(0.05)
        self.flush()
        self.log.append("commit done")


async def test_a_decision_is_committed_before_its_answer_is_sent(vtn: TestVTN) -> None:
    log: list[str] = []

    class Logged(Transport):
        async def request(self, service: str, body: bytes, **kw: Any) -> bytes:
            if service == EI_EVENT and b"oadrCreatedEvent" in body:
                log.append("answer sent")
            return await super().request(service, body, **kw)

    fleet = make_fleet(vtn, store=SlowStore(log), transport_factory=Logged)
    fleet.add_handler("on_event", lambda ven, event: "optIn")
    ven = fleet.add_ven("site-1")
    async with fleet:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
        assert ven.ven_id is not None
        vtn.add_event(ven.ven_id, make_event("e1"))
        await vtn.wait_for(lambda: "answer sent" in log, timeout=DEADLINE)
    first = log.index("answer sent")
    assert log[first - 2:first] == ["commit begins", "commit done"]  # durable, then sent


async def test_a_store_of_one_process_takes_no_slots(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    with pytest.raises(StoreError, match="no slots"):
        await fleet.start(slots=[3])
    await fleet.stop()


# -------------------------------------------------------- adding and dropping


async def _registered_state(vtn: TestVTN, tmp_path: Any, name: str) -> tuple[Any, Any]:
    """Register VEN ``name`` in a fleet of its own on a SQLite store, stop it: the VEN and its stored state."""
    path = tmp_path / "state.db"
    first = make_fleet(vtn, store=str(path))
    ven = first.add_ven(name)
    async with first:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
    store = SQLiteStore(path)
    state = store.load()[name]
    store.close()
    return ven, state


async def test_a_ven_added_with_its_state_resumes_without_registering(vtn: TestVTN, tmp_path: Any) -> None:
    ven, state = await _registered_state(vtn, tmp_path, "site-1")
    assert len(vtn.registrations) == 1
    second = make_fleet(vtn)  # another process's fleet, its own store: the state comes with the VEN
    async with second:
        polls = vtn.polls
        moved = second.add_ven("site-1", state=state)
        assert moved.registered and moved.ven_id == ven.ven_id
        await vtn.wait_for(lambda: vtn.polls >= polls + 3, timeout=DEADLINE)
    assert len(vtn.registrations) == 1  # resumed, not registered again


async def test_a_state_given_with_a_removed_ven_goes_with_it(vtn: TestVTN, tmp_path: Any) -> None:
    _, state = await _registered_state(vtn, tmp_path, "site-1")
    second = make_fleet(vtn)
    second.add_ven("site-1", state=state)  # not running yet: the state waits for start
    await second.remove_ven("site-1")
    fresh = second.add_ven("site-1")  # a new VEN of the same name: not the removed one's registration
    async with second:
        await vtn.wait_for(lambda: fresh.registered, timeout=DEADLINE)
    assert len(vtn.registrations) == 2  # registered afresh, not resumed from the removed VEN's state


async def test_a_dropped_ven_stops_at_once_and_sends_nothing_more(vtn: TestVTN) -> None:
    store = MemoryStore()
    fleet = make_fleet(vtn, store=store)
    kept, dropped = fleet.add_ven("kept"), fleet.add_ven("dropped")
    async with fleet:
        await vtn.wait_for(lambda: kept.registered and dropped.registered, timeout=DEADLINE)
        gone = fleet.drop_ven("dropped")
        assert gone is dropped and "dropped" not in fleet.vens and dropped.state == "stopped"
        assert dropped.next_step_at is None and dropped.task is None
        seen = sum(1 for r in vtn.received if r.ven_id == dropped.ven_id)
        polls = vtn.polls
        await vtn.wait_for(lambda: vtn.polls >= polls + 5, timeout=DEADLINE)
        assert sum(1 for r in vtn.received if r.ven_id == dropped.ven_id) == seen
    with pytest.raises(KeyError):
        fleet.drop_ven("dropped")
