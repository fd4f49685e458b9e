"""fleetven.Fleet and fleetven.fleet.driver.Ven against the in-process TestVTN.

The VTN asks for a poll frequency of ``PT0S`` (durations are whole seconds in
OpenADR), so the VENs fall back to the fleet's ``poll_interval`` of 0.1 s; retry
backoff is shrunk to a few milliseconds. Nothing sleeps: every wait is on
``TestVTN.wait_for`` with a deadline (the VTN re-checks the predicate on every
message it receives, and the VENs keep polling).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
import samples

from fleetven.exceptions import ConfigurationError, ProtocolError
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Shared, Ven
from fleetven.http.transport import Transport
from fleetven.observe import Observer
from fleetven.openadr import model as m
from fleetven.store import Store
from fleetven.testing import Faults, TestVTN
from fleetven.ven.events import OPT_IN, OPT_OUT

UTC = timezone.utc
DEADLINE = 15.0
T = TypeVar("T")


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(0)) as v:
        yield v


#: Makes the store of a fleet that make_fleet is not given one for (tests/test_fleet_pg.py sets it:
#: a PostgreSQL store holding every slot); ``None``: the fleet's default.
default_store: Callable[[], Store] | None = None


def make_fleet(vtn: TestVTN, **options: Any) -> Fleet:
    if "store" not in options and default_store is not None:
        options["store"] = default_store()
    settings: dict[str, Any] = {
        "seed": 7,
        "poll_interval": 0.1,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "request_timeout": 5.0,
        "handler_timeout": 5.0,
    }
    settings.update(options)
    return Fleet(vtn.url, **settings)


def make_event(
    event_id: str,
    *,
    mod: int = 0,
    status: str = "far",
    start: datetime | None = None,
    duration: timedelta = timedelta(hours=1),
    response_required: str = "always",
    targets: list[m.Target] | None = None,
    ramp_up: timedelta | None = None,
) -> m.Event:
    event = samples.minimal_event(event_id)
    event["modification_number"] = mod
    event["event_status"] = status
    event["event_descriptor"].update(modification_number=mod, event_status=status)
    event["response_required"] = response_required
    period: dict[str, Any] = {"dtstart": start or datetime.now(UTC) + timedelta(hours=1), "duration": duration}
    if ramp_up is not None:
        period["ramp_up"] = ramp_up
    event["active_period"] = period
    if targets is not None:
        event["targets"] = targets
        by_type: dict[str, list[Any]] = {}
        for t in targets:
            for k, v in t.items():
                by_type.setdefault(k, []).append(v)
        event["targets_by_type"] = by_type
    return event


def received(vtn: TestVTN, cls: type[T]) -> list[T]:
    """The messages of one type the VTN received, oldest first."""
    return [r.message for r in vtn.received if isinstance(r.message, cls)]


def recorder(out: list[str], answer: str = OPT_IN) -> Any:
    """An on_event handler noting each event id and answering ``answer``."""

    def on_event(ven: Ven, event: m.Event) -> str:
        out.append(event["event_id"])
        return answer

    return on_event


def registered(fleet: Fleet) -> bool:
    return all(v.state == "registered" for v in fleet.vens.values())


def responses_for(vtn: TestVTN, event_id: str) -> list[tuple[str, m.EventResponse]]:
    return [(v, r) for v, r in vtn.event_responses if r.event_id == event_id]


async def start_registered(vtn: TestVTN, fleet: Fleet) -> None:
    await fleet.start()
    await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)


def vid(ven: Ven) -> str:
    assert ven.ven_id is not None
    return ven.ven_id


# ------------------------------------------------------------------ registration


async def test_fifty_vens_register(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_report(lambda ven: 1.5, "meter-1", "power_real",
                                          report_duration=timedelta(hours=1))
    for i in range(50):
        fleet.add_ven(f"site-{i:04d}")
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        await vtn.wait_for(
            lambda: len([r for r in vtn.received if r.message.message_type == "oadrRequestEvent"]) >= 50,
            timeout=DEADLINE,
        )
        # every VEN adopted the venID the VTN assigned, and the VTN knows it by the name sent
        by_name = {msg.ven_name: ven_id for ven_id, msg in vtn.registrations}
        assert len(by_name) == 50
        for name, ven in fleet.vens.items():
            assert ven.ven_id == by_name[name]
            assert ven.registration_id == vtn.vens[vid(ven)].registration_id
            assert ven.vtn_id == "TEST-VTN"
        # rule 404: the first registration carries neither venID nor registrationID
        for _, msg in vtn.registrations:
            assert msg.ven_id is None and msg.registration_id is None
            assert (msg.profile_name, msg.transport_name, msg.http_pull_model) == ("2.0b", "simpleHttp", True)
        # rule 311: reports registered with reportRequestID 0
        regs = [r.message for r in vtn.received if isinstance(r.message, m.RegisterReport)]
        assert len(regs) == 50
        assert all(msg.report_request_id == "0" for msg in regs)
        assert len(vtn.registered_reports) == 50
        assert {rep.report_name for _, rep in vtn.registered_reports} == {"METADATA_TELEMETRY_USAGE"}
        # nothing else went wrong
        assert vtn.errors == []
        # polls spread: the VENs go on polling
        before = vtn.polls
        await vtn.wait_for(lambda: vtn.polls >= before + 100, timeout=DEADLINE)


class RegistrationSpans(Observer):
    """Each registration attempt as the fleet's observer hears it: from the moment its first request
    (``oadrQueryRegistration``) went out to the VEN's change to ``registered`` (both on the loop's
    clock). A VEN holds its registration slot over all of that span and more, so spans that overlap
    are slots held at once."""

    def __init__(self) -> None:
        self.begun: list[tuple[float, str]] = []
        self.ended: list[tuple[float, str]] = []

    def request_done(self, ven: Ven, message_type: str, due: float, sent: float, done: float,
                     error: BaseException | None) -> None:
        if message_type == "oadrQueryRegistration":
            self.begun.append((sent, ven.name))

    def ven_state(self, ven: Ven, old: str, new: str) -> None:
        if new == "registered":
            self.ended.append((asyncio.get_running_loop().time(), ven.name))

    def most_at_once(self) -> int:
        """The most attempts under way at one moment (an attempt that ended when another began
        does not overlap it)."""
        steps = sorted([(t, 1) for t, _ in self.begun] + [(t, -1) for t, _ in self.ended])
        now = most = 0
        for _, step in steps:
            now += step
            most = max(most, now)
        return most

    def order(self) -> list[str]:
        """The VENs in the order their attempts began."""
        return [name for _, name in sorted(self.begun)]


async def test_registrations_bounded_by_max_registering(vtn: TestVTN) -> None:
    spans = RegistrationSpans()
    fleet = make_fleet(vtn, max_registering=3, observer=spans)
    for i in range(30):
        fleet.add_ven(f"site-{i:04d}")
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        # one attempt each, never more than 3 at once, and the queue did fill the 3 slots
        assert len(spans.begun) == 30 and len(spans.ended) == 30
        assert spans.most_at_once() == 3
        # the waiting VENs held no task: at most 3 registration steps ran at any moment
        await vtn.wait_for(lambda: fleet.registrations_running == 0, timeout=DEADLINE)
        assert not fleet.registrations_queued
        # first in, first out: the VENs got their turn in the order they were added
        assert spans.order() == [f"site-{i:04d}" for i in range(30)]
        assert vtn.errors == []


async def test_vens_polling_at_one_period_share_one_float() -> None:
    """Memory: the poll period the VTN names is kept once for every VEN that adopted it (24 bytes a
    VEN otherwise), and it is the period they poll at."""
    async with TestVTN(poll_freq=timedelta(seconds=7)) as server:
        fleet = make_fleet(server)
        for i in range(3):
            fleet.add_ven(f"site-{i:04d}")
        async with fleet:
            await server.wait_for(lambda: registered(fleet), timeout=DEADLINE)
            periods = [ven.poll_freq for ven in fleet.vens.values()]
    assert periods == [7.0] * 3
    assert periods[0] is periods[1] is periods[2]


async def test_a_large_fleet_starts_in_batches_letting_the_loop_run(vtn: TestVTN,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Fleet.start lets the loop run between batches of VENs (a million VENs take seconds to
    start), and a VEN removed or added meanwhile is neither started twice nor missed."""
    import fleetven.fleet.core as core

    monkeypatch.setattr(core, "_START_BATCH", 10)
    fleet = make_fleet(vtn)
    for i in range(50):
        fleet.add_ven(f"site-{i:04d}")
    seen: list[int] = []

    def during_start() -> None:
        started = sum(1 for v in fleet.vens.values() if v.state != "new")
        if not started:  # the store is still loading (a PostgreSQL store awaits it): look again
            loop.call_soon(during_start)
            return
        seen.append(started)
        if len(seen) == 1:
            fleet.drop_ven("site-0049")  # not started yet: must not be
            fleet.add_ven("late-0001")  # the fleet runs: starts at once

    loop = asyncio.get_running_loop()
    loop.call_soon(during_start)
    async with fleet:
        assert seen and 0 < seen[0] < 50, "the loop ran while the fleet was starting"
        assert "site-0049" not in fleet.vens and "late-0001" in fleet.vens
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        assert len(fleet.vens) == 50
    names = [msg.ven_name for _, msg in vtn.registrations]
    assert sorted(names) == sorted(fleet.vens), "each VEN registered once, the dropped one never"


async def test_removed_ven_leaves_the_registration_queue(vtn: TestVTN) -> None:
    vtn.registration_policy = lambda msg: 460  # nobody gets in until site-0002 is gone
    fleet = make_fleet(vtn, max_registering=1)
    for i in range(4):
        fleet.add_ven(f"site-{i:04d}")
    async with fleet:
        await vtn.wait_for(lambda: fleet.registrations_queued >= 1, timeout=DEADLINE)
        removed = await fleet.remove_ven("site-0002")
        vtn.registration_policy = None
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        assert removed.state == "stopped" and not removed.registered and removed.task is None
        assert removed.next_step_at is None
        await vtn.wait_for(lambda: fleet.registrations_running == 0, timeout=DEADLINE)
        assert not fleet.registrations_queued


async def test_fleet_registers_again_after_stop_with_a_full_queue(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn, max_registering=1)
    for i in range(5):
        fleet.add_ven(f"site-{i:04d}")
    await fleet.start()
    await fleet.stop()  # some VENs were still queued
    assert fleet.registrations_running == 0 and not fleet.registrations_queued
    await fleet.start()
    try:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
    finally:
        await fleet.stop()


@pytest.mark.parametrize(
    "ven_id", ["ven-00001", "é ü 中", "a&b", "x<y>z", "tab\there", "cr\r", "\u00a0nbsp", "z" * 300]
)
def test_poll_body_is_the_built_poll(ven_id: str) -> None:
    from fleetven.messages import build_message, build_signed_object

    shared = Shared(rng=random.Random(1), poll_interval=10, handler_timeout=1, backoff_base=1.0, backoff_cap=2.0)
    assert shared.poll_body(ven_id) == build_message(m.Poll(ven_id=ven_id))
    assert shared.poll_body(ven_id) == build_message(m.Poll(ven_id=ven_id))  # template made, then reused
    assert shared.poll_object(ven_id) == build_signed_object(m.Poll(ven_id=ven_id))  # what a signing VEN signs


async def test_registration_rejected_then_accepted(vtn: TestVTN) -> None:
    refusals = iter([460, 463, None])
    vtn.registration_policy = lambda msg: next(refusals, None)
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("stubborn")
    async with fleet:
        await vtn.wait_for(lambda: ven.state == "registered", timeout=DEADLINE)
        creates = [r for r in vtn.received if r.message.message_type == "oadrCreatePartyRegistration"]
        assert len(creates) == 3
        assert len(vtn.registrations) == 1 and ven.ven_id == vtn.registrations[0][0]


async def test_registration_retried_after_http_503(vtn: TestVTN) -> None:
    vtn.faults = Faults(status=503, count=4)
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("patient")
    async with fleet:
        await vtn.wait_for(lambda: ven.state == "registered", timeout=DEADLINE)
        assert len(vtn.faulted) == 4
        assert len(vtn.registrations) == 1


async def test_registration_retried_after_garbage_and_dropped_connection(vtn: TestVTN) -> None:
    vtn.faults = Faults(garbage=True, count=2)
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("patient")
    async with fleet:
        await vtn.wait_for(lambda: len(vtn.faulted) >= 2, timeout=DEADLINE)
        vtn.faults = Faults(drop=True, count=2)
        await vtn.wait_for(lambda: ven.state == "registered", timeout=DEADLINE)
        assert len(vtn.faulted) == 4


async def test_a_fleet_wide_failure_logs_a_bounded_number_of_warnings(
    vtn: TestVTN, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every VEN's poll fails at once (the VTN answers 503): the first failures are warnings, up
    to the fleet's budget per window; the others are logged at DEBUG and counted in one warning
    when the window ends, so that a million VENs failing together are not a million warnings."""
    import fleetven.fleet.driver as driver

    monkeypatch.setattr(driver, "FAILURE_WARNINGS", 5)
    monkeypatch.setattr(driver, "FAILURE_WINDOW_S", 0.6)
    fleet = make_fleet(vtn, backoff_base=5.0, backoff_cap=5.0)  # one failure per VEN in the window
    for i in range(30):
        fleet.add_ven(f"site-{i:04d}")
    async with fleet:
        await start_registered(vtn, fleet)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="fleetven.ven")
        vtn.faults = Faults(status=503, count=10_000)
        await vtn.wait_for(lambda: sum(1 for r in caplog.records if "poll failed" in r.getMessage()) >= 30,
                           timeout=DEADLINE)
        failed = [r for r in caplog.records if "poll failed" in r.getMessage()]
        assert [r.levelno for r in failed].count(logging.WARNING) == 5
        assert len({r.getMessage().split(":")[0] for r in failed}) == len(failed), "one first failure a VEN"
        await vtn.wait_for(lambda: any("were logged at DEBUG only" in r.getMessage() for r in caplog.records),
                           timeout=DEADLINE)
        summary = next(r for r in caplog.records if "were logged at DEBUG only" in r.getMessage())
        assert summary.levelno == logging.WARNING
        quiet = int(summary.getMessage().split()[0])
        assert quiet == len([r for r in failed if r.levelno == logging.DEBUG and r.created < summary.created])
        vtn.faults = Faults()


async def test_reregistration_requested(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id, reg_id = vid(ven), ven.registration_id
        vtn.request_reregistration(ven_id)
        await vtn.wait_for(lambda: len(vtn.registrations) == 2 and ven.state == "registered", timeout=DEADLINE)
        again = vtn.registrations[1][1]
        assert (again.ven_id, again.registration_id) == (ven_id, reg_id)
        assert (ven.ven_id, ven.registration_id) == (ven_id, reg_id)
        acks = [msg for msg in received(vtn, m.ResponseMessage) if msg.ven_id == ven_id]
        assert acks and acks[0].response.response_code == 200


async def test_vtn_cancels_registration(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id = vid(ven)
        vtn.cancel_registration(ven_id)
        await vtn.wait_for_message("oadrCanceledPartyRegistration", timeout=DEADLINE)
        assert received(vtn, m.CanceledPartyRegistration)[0].response.response_code == 200
        # the VEN registers again afterwards (a fresh registration, rule 404)
        await vtn.wait_for(lambda: len(vtn.registrations) == 2 and ven.state == "registered", timeout=DEADLINE)
        assert vtn.registrations[1][1].registration_id is None


async def test_vtn_cancels_unknown_registration_gets_452(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id = vid(ven)
        vtn.queue(ven_id, m.CancelPartyRegistration(request_id="x1", registration_id="not-yours", ven_id=ven_id))
        await vtn.wait_for_message("oadrCanceledPartyRegistration", timeout=DEADLINE)
        assert received(vtn, m.CanceledPartyRegistration)[0].response.response_code == 452
        assert ven.state == "registered" and len(vtn.registrations) == 1


async def test_poll_not_registered_registers_again(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        vtn.vens[vid(ven)].registration_id = None  # the VTN forgot the VEN: polls get 463
        await vtn.wait_for(lambda: len(vtn.registrations) == 2 and ven.state == "registered", timeout=DEADLINE)
        assert ven.registration_id == vtn.vens[vid(ven)].registration_id


async def test_ven_cancels_registration(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id = vid(ven)
        await ven.cancel_registration()
        assert ven.state == "cancelled" and ven.registration_id is None
        assert vtn.vens[ven_id].registration_id is None
        with pytest.raises(ProtocolError):
            await ven.create_opt("optIn", "economic", event_id="ev-1")
        # another VEN of the fleet registers and polls; the cancelled one sends nothing more
        vtn.record_polls = True
        n = len(vtn.received)
        other = fleet.add_ven("site-2")
        await vtn.wait_for(lambda: other.state == "registered", timeout=DEADLINE)
        await vtn.wait_for(lambda: len(received(vtn, m.Poll)) >= 5, timeout=DEADLINE)
        assert [r for r in vtn.received[n:] if r.ven_id == ven_id] == []


# ------------------------------------------------------------------------ events


async def test_event_opt_in_reaches_vtn_for_every_ven(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    seen: list[tuple[str, str]] = []

    async def on_event(ven: Ven, event: m.Event) -> str:
        seen.append((ven.name, event["event_id"]))
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    for i in range(20):
        fleet.add_ven(f"site-{i}")
    async with fleet:
        await start_registered(vtn, fleet)
        for ven in fleet.vens.values():
            vtn.add_event(vid(ven), make_event("ev-1", targets=[{"ven_id": vid(ven)}]))
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 20, timeout=DEADLINE)
        got = responses_for(vtn, "ev-1")
        assert {v for v, _ in got} == {vid(v) for v in fleet.vens.values()}
        assert all((r.opt_type, r.response_code, r.modification_number) == (OPT_IN, 200, 0) for _, r in got)
        assert sorted(seen) == sorted((name, "ev-1") for name in fleet.vens)
        for ven in fleet.vens.values():
            assert list(ven.events) == ["ev-1"]


async def test_several_events_one_created_event(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN if event["event_id"] != "ev-b" else OPT_OUT)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        rec = vtn.ven(vid(ven))
        for eid in ("ev-a", "ev-b", "ev-c"):
            rec.events[eid] = make_event(eid)
        vtn.queue(vid(ven), m.DistributeEvent(request_id="d-1", vtn_id=vtn.vtn_id, events=list(rec.events.values())))
        await vtn.wait_for_message("oadrCreatedEvent", timeout=DEADLINE)
        created = received(vtn, m.CreatedEvent)
        assert len(created) == 1
        msg = created[0]
        assert [(r.event_id, r.opt_type, r.request_id) for r in msg.event_responses] == [
            ("ev-a", OPT_IN, "d-1"), ("ev-b", OPT_OUT, "d-1"), ("ev-c", OPT_IN, "d-1"),
        ]


async def test_modified_and_cancelled_event_reach_on_update_event(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    updates: list[tuple[str, int]] = []
    statuses: list[str] = []
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)

    def on_update(ven: Ven, event: m.Event) -> str:
        updates.append((event["event_status"], event["modification_number"]))
        return OPT_OUT if event["event_status"] == "cancelled" else OPT_IN

    fleet.add_handler("on_update_event", on_update)
    fleet.add_handler("on_event_status", lambda ven, event, status: statuses.append(status))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id = vid(ven)
        vtn.add_event(ven_id, make_event("ev-1"))
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 1, timeout=DEADLINE)
        vtn.add_event(ven_id, make_event("ev-1", mod=1))
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 2, timeout=DEADLINE)
        assert updates == [("far", 1)]
        assert ven.events["ev-1"]["modification_number"] == 1
        vtn.cancel_event(ven_id, "ev-1")
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 3 and statuses, timeout=DEADLINE)
        assert updates == [("far", 1), ("cancelled", 2)]
        last = responses_for(vtn, "ev-1")[-1][1]
        assert (last.modification_number, last.opt_type, last.response_code) == (2, OPT_OUT, 200)
        assert statuses == ["cancelled"]
        assert ven.events["ev-1"]["event_status"] == "cancelled"


async def test_implied_cancel_delivers_cancelled_status(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    statuses: list[tuple[str, str]] = []
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    fleet.add_handler("on_event_status", lambda ven, event, status: statuses.append((event["event_id"], status)))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        vtn.add_event(vid(ven), make_event("ev-1"))
        await vtn.wait_for(lambda: "ev-1" in ven.events, timeout=DEADLINE)
        vtn.remove_event(vid(ven), "ev-1")
        await vtn.wait_for(lambda: statuses, timeout=DEADLINE)
        assert statuses == [("ev-1", "cancelled")]
        assert ven.events == {}


async def test_response_required_never_sends_no_created_event(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    handled: list[str] = []
    fleet.add_handler("on_event", recorder(handled))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        vtn.add_event(vid(ven), make_event("quiet", response_required="never"))
        await vtn.wait_for(lambda: "quiet" in ven.events, timeout=DEADLINE)
        # a later event that does want an answer: the first oadrCreatedEvent carries only that one
        vtn.add_event(vid(ven), make_event("loud"))
        await vtn.wait_for_message("oadrCreatedEvent", timeout=DEADLINE)
        assert [r.event_id for r in received(vtn, m.CreatedEvent)[0].event_responses] == ["loud"]
        assert handled == ["quiet", "loud"]


async def test_bad_handlers_answer_opt_out_and_others_are_fine(
    vtn: TestVTN, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = make_fleet(vtn, handler_timeout=0.3)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)

    def raising(ven: Ven, event: m.Event) -> str:
        raise RuntimeError("boom")

    async def hanging(ven: Ven, event: m.Event) -> str:
        await asyncio.Event().wait()
        return OPT_IN

    good = fleet.add_ven("good")
    bad = {"raising": raising, "hanging": hanging, "garbage": lambda ven, event: "sure"}
    for name, handler in bad.items():
        fleet.add_ven(name).add_handler("on_event", handler)
    async with fleet:
        await start_registered(vtn, fleet)
        for ven in fleet.vens.values():
            vtn.add_event(vid(ven), make_event("ev-1"))
        with caplog.at_level(logging.ERROR, logger="fleetven.ven"):
            await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 4, timeout=DEADLINE)
        opts = {v: r.opt_type for v, r in responses_for(vtn, "ev-1")}
        assert opts[vid(good)] == OPT_IN
        for name in bad:
            assert opts[vid(fleet.vens[name])] == OPT_OUT
            assert any(name in rec.getMessage() and "ev-1" in rec.getMessage() for rec in caplog.records), name
        assert all(v.state == "registered" for v in fleet.vens.values())


async def test_no_handler_answers_opt_out(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        vtn.add_event(vid(ven), make_event("ev-1"))
        await vtn.wait_for(lambda: responses_for(vtn, "ev-1"), timeout=DEADLINE)
        assert responses_for(vtn, "ev-1")[0][1].opt_type == OPT_OUT


async def test_ven_handler_wins_over_fleet_handler(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: OPT_OUT)
    mine = fleet.add_ven("mine")
    mine.add_handler("on_event", lambda ven, event: OPT_IN)
    other = fleet.add_ven("other")
    async with fleet:
        await start_registered(vtn, fleet)
        for ven in (mine, other):
            vtn.add_event(vid(ven), make_event("ev-1"))
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 2, timeout=DEADLINE)
        opts = {v: r.opt_type for v, r in responses_for(vtn, "ev-1")}
        assert opts == {vid(mine): OPT_IN, vid(other): OPT_OUT}


async def test_lower_modification_number_gets_450(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    fleet.add_handler("on_update_event", lambda ven, event: OPT_IN)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        vtn.add_event(vid(ven), make_event("ev-1", mod=3))
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 1, timeout=DEADLINE)
        vtn.add_event(vid(ven), make_event("ev-1", mod=2))
        await vtn.wait_for(lambda: len(responses_for(vtn, "ev-1")) == 2, timeout=DEADLINE)
        stale = responses_for(vtn, "ev-1")[1][1]
        assert (stale.response_code, stale.modification_number) == (450, 2)
        assert ven.events["ev-1"]["modification_number"] == 3


async def test_vtn_id_case_mismatch_gets_452(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    handled: list[str] = []
    fleet.add_handler("on_event", recorder(handled))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        events = [make_event("ev-1"), make_event("ev-2")]
        vtn.queue(vid(ven), m.DistributeEvent(request_id="d-9", vtn_id=vtn.vtn_id.lower(), events=events))
        await vtn.wait_for(lambda: len(vtn.event_responses) == 2, timeout=DEADLINE)
        assert [(r.event_id, r.response_code) for _, r in vtn.event_responses] == [("ev-1", 452), ("ev-2", 452)]
        assert handled == [] and ven.events == {}


async def test_target_mismatch_gets_462(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    ven = fleet.add_ven("site-1", resource_ids=["pump-1"])
    async with fleet:
        await start_registered(vtn, fleet)
        events = [make_event("mine", targets=[{"resource_id": "pump-1"}]),
                  make_event("theirs", targets=[{"ven_id": "someone-else"}])]
        vtn.queue(vid(ven), m.DistributeEvent(request_id="d-1", vtn_id=vtn.vtn_id, events=events))
        await vtn.wait_for(lambda: len(vtn.event_responses) >= 2, timeout=DEADLINE)
        codes = [(r.event_id, r.response_code) for _, r in vtn.event_responses]
        assert codes == [("mine", 200), ("theirs", 462)]
        assert list(ven.events) == ["mine"]


async def test_event_status_transitions_in_order(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    statuses: list[str] = []
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)

    async def on_status(ven: Ven, event: m.Event, status: str) -> None:
        statuses.append(status)

    fleet.add_handler("on_event_status", on_status)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        now = datetime.now(UTC).replace(microsecond=0)
        event = make_event("soon", start=now + timedelta(seconds=2), duration=timedelta(seconds=1),
                           ramp_up=timedelta(seconds=1))
        vtn.add_event(vid(ven), event)
        await vtn.wait_for(lambda: len(statuses) == 3, timeout=DEADLINE)
        assert statuses == ["near", "active", "completed"]


async def test_test_event_gets_no_status_transitions(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    statuses: list[str] = []
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    fleet.add_handler("on_event_status", lambda ven, event, status: statuses.append(status))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        past = datetime.now(UTC) - timedelta(minutes=1)
        real = make_event("real", start=past)
        test = make_event("test", start=past)
        test["test_event"] = True
        test["event_descriptor"]["test_event"] = True
        vtn.add_event(vid(ven), test)
        vtn.add_event(vid(ven), real)
        await vtn.wait_for(lambda: statuses, timeout=DEADLINE)
        assert statuses == ["active"]  # the real event, already running; the test event never actuates


# ----------------------------------------------------------------- reports, opts


async def test_report_request_delivers_update_report(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    specifier, r_id = fleet.add_report(lambda ven: 42.0 if ven.name == "site-1" else 0.0, "meter-1", "power_real",
                                          report_duration=timedelta(hours=1))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        request = m.ReportRequest(
            report_request_id="rr-1",
            report_specifier=m.ReportSpecifier(
                report_specifier_id=specifier,
                granularity=timedelta(0), report_back_duration=timedelta(0),
                specifier_payloads=[m.SpecifierPayload(r_id=r_id, reading_type="Direct Read")],
            ),
        )
        vtn.request_report(vid(ven), request)
        await vtn.wait_for_message("oadrCreatedReport", timeout=DEADLINE)
        created = received(vtn, m.CreatedReport)[0]
        assert created.response.response_code == 200 and created.pending_reports == ["rr-1"]
        await vtn.wait_for(lambda: vtn.reports, timeout=DEADLINE)
        ven_id, report = vtn.reports[0]
        assert ven_id == vid(ven)
        assert report.report_request_id == "rr-1"
        payloads = [p for iv in report.intervals for p in iv.payloads]
        assert [(p.r_id, p.value) for p in payloads] == [(r_id, 42.0)]


async def test_report_requested_in_registered_report(vtn: TestVTN) -> None:
    def requests(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
        rep = msg.reports[0]
        return [m.ReportRequest(
            report_request_id=f"rr-{ven_id}",
            report_specifier=m.ReportSpecifier(
                report_specifier_id=rep.report_specifier_id,
                granularity=timedelta(0),
                report_back_duration=timedelta(0),
                specifier_payloads=[m.SpecifierPayload(r_id=rep.report_descriptions[0].r_id,
                                                       reading_type="Direct Read")],
            ),
        )]

    vtn.on_register_report = requests
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    ven.add_report(lambda: 7.0, "meter-1", "energy_real", report_duration=timedelta(hours=1))
    async with fleet:
        await start_registered(vtn, fleet)
        await vtn.wait_for(lambda: vtn.reports, timeout=DEADLINE)
        created = received(vtn, m.CreatedReport)
        assert created and created[0].pending_reports == [f"rr-{vid(ven)}"]
        assert vtn.reports[0][1].intervals[0].payloads[0].value == 7.0


async def test_sample_numbers_go_on_across_a_reregistration_and_a_restart_of_the_fleet(vtn: TestVTN,
                                                                                     tmp_path: Path) -> None:
    def requests(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
        rep = msg.reports[0]
        return [m.ReportRequest(report_request_id=f"rr-{len(vtn.registrations)}", report_specifier=m.ReportSpecifier(
            report_specifier_id=rep.report_specifier_id, granularity=timedelta(seconds=1),
            report_back_duration=timedelta(seconds=1),
            specifier_payloads=[m.SpecifierPayload(r_id=rep.report_descriptions[0].r_id, reading_type="Direct Read")],
        ))]

    def highest() -> int:
        return max((n for by_n in vtn.sample_numbers().values() for n in by_n), default=0)

    vtn.on_register_report = requests
    store = tmp_path / "fleet.db"
    for run in range(2):
        fleet = make_fleet(vtn, store=store)
        ven = fleet.add_ven("site-1")
        ven.add_report(lambda: 7.0, "meter-1", "energy_real", report_duration=timedelta(hours=1))
        async with fleet:
            await vtn.wait_for(functools.partial(lambda v: v.state == "registered", ven), timeout=DEADLINE)
            await vtn.wait_for(functools.partial(lambda n: highest() >= n + 2, highest()), timeout=DEADLINE)
            if run == 0:  # the VTN asks for a new registration: the reports are registered (and numbered) anew
                seen = highest()
                vtn.request_reregistration(vid(ven))
                await vtn.wait_for(lambda: len(vtn.registrations) == 2, timeout=DEADLINE)
                await vtn.wait_for(functools.partial(lambda n: highest() >= n + 2, seen), timeout=DEADLINE)
    assert len(received(vtn, m.RegisterReport)) >= 2
    # every send acknowledged: each number arrives once, in order, whichever registration and run took it
    # (a sample taken for a request the re-registration ended is dropped with it: its number is skipped)
    arrived = [int(iv.uid) for _, report in vtn.reports for iv in report.intervals if iv.uid is not None]
    assert len(arrived) == sum(len(report.intervals) for _, report in vtn.reports)
    assert arrived == sorted(set(arrived)), arrived
    assert {report.report_request_id for _, report in vtn.reports} == {"rr-1", "rr-2"}  # rr-2 resumed after the restart


async def test_report_request_for_unknown_report_gets_461(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("no-reports")
    async with fleet:
        await start_registered(vtn, fleet)
        assert received(vtn, m.RegisterReport)[0].reports == []
        request = m.ReportRequest(
            report_request_id="rr-x",
            report_specifier=m.ReportSpecifier(
                report_specifier_id="nope", granularity=timedelta(0), report_back_duration=timedelta(0),
                specifier_payloads=[m.SpecifierPayload(r_id="nope", reading_type="Direct Read")],
            ),
        )
        vtn.request_report(vid(ven), request)
        await vtn.wait_for_message("oadrCreatedReport", timeout=DEADLINE)
        created = received(vtn, m.CreatedReport)[0]
        assert (created.response.response_code, created.pending_reports) == (461, [])


async def test_other_poll_replies_are_answered(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id = vid(ven)
        vtn.queue(ven_id, m.RegisterReport(request_id="vr-1", reports=[], ven_id=ven_id))
        vtn.queue(ven_id, m.UpdateReport(request_id="vu-1", reports=[], ven_id=ven_id))
        vtn.queue(ven_id, m.CancelReport(request_id="vc-1", report_request_ids=["nope"], ven_id=ven_id))
        await vtn.wait_for_message("oadrCanceledReport", timeout=DEADLINE)
        kinds = [r.message.message_type for r in vtn.received if r.ven_id == ven_id]
        assert kinds[-3:] == ["oadrRegisteredReport", "oadrUpdatedReport", "oadrCanceledReport"]


async def test_create_and_cancel_opt(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        opt_id = await ven.create_opt("optOut", "economic", vavailability=[(start, timedelta(hours=2))])
        await ven.cancel_opt(opt_id)
        event_opt = await ven.create_opt("optIn", "emergency", event_id="ev-1", modification_number=0,
                                         opt_id="my-opt")
        assert event_opt == "my-opt"
        kinds = [(type(msg).__name__, msg.opt_id) for _, msg in vtn.opts]
        assert kinds == [("CreateOpt", opt_id), ("CancelOpt", opt_id), ("CreateOpt", "my-opt")]
        first = vtn.opts[0][1]
        assert isinstance(first, m.CreateOpt)
        assert first.vavailability == [m.AvailableWindow(dtstart=start, duration=timedelta(hours=2))]
        assert first.targets == [{"ven_id": vid(ven)}]
        with pytest.raises(ConfigurationError):
            await ven.create_opt("maybe", "economic")


# ------------------------------------------------------------------- the fleet


async def test_add_and_remove_ven_while_running(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    first = fleet.add_ven("first")
    async with fleet:
        await start_registered(vtn, fleet)
        late = fleet.add_ven("late")
        await vtn.wait_for(lambda: late.state == "registered", timeout=DEADLINE)
        vtn.add_event(vid(late), make_event("ev-1"))
        await vtn.wait_for(lambda: responses_for(vtn, "ev-1"), timeout=DEADLINE)
        removed = await fleet.remove_ven("first")
        assert removed is first and "first" not in fleet.vens and first.state == "stopped"
        gone = vid(first)
        n = len(vtn.received)
        vtn.add_event(vid(late), make_event("ev-2"))
        await vtn.wait_for(lambda: responses_for(vtn, "ev-2"), timeout=DEADLINE)
        assert all(r.ven_id != gone for r in vtn.received[n:])
        with pytest.raises(ConfigurationError):
            fleet.add_ven("late")


async def test_remove_ven_cancelling_registration(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        await fleet.remove_ven("site-1", cancel_registration=True)
        assert vtn.vens[vid(ven)].registration_id is None


async def test_stop_then_start_again(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    ven = fleet.add_ven("site-1")
    await start_registered(vtn, fleet)
    await fleet.stop()
    assert not fleet.running and ven.state == "stopped"
    await fleet.start()
    try:
        # the registration is kept (issue 5): no new one, the VEN resumes (oadrRequestEvent) and polls
        events = len([r for r in vtn.received if r.message.message_type == "oadrRequestEvent"])
        await vtn.wait_for(lambda: len([r for r in vtn.received if r.message.message_type == "oadrRequestEvent"])
                           > events, timeout=DEADLINE)
        assert ven.state == "registered" and len(vtn.registrations) == 1
    finally:
        await fleet.stop()


async def test_stop_from_a_handler(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)

    async def on_event(ven: Ven, event: m.Event) -> str:
        await fleet.stop()
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    ven = fleet.add_ven("site-1")
    await start_registered(vtn, fleet)
    vtn.add_event(vid(ven), make_event("ev-1"))
    async with asyncio.timeout(DEADLINE):
        await fleet.wait_stopped()
    assert not fleet.running
    await fleet.stop()  # idempotent; waits for the shutdown the handler started
    assert ven.state == "stopped"
    assert fleet.wheel is None and fleet.transport is not None and fleet.transport.closed


async def test_the_transport_comes_from_transport_factory(vtn: TestVTN) -> None:
    """``Fleet(transport_factory=...)`` makes the fleet's transport: once when the fleet is built and
    again when it starts after a stop closed the last one, with the fleet's own settings, and every
    VEN request goes through what it made."""
    made: list[tuple[str, dict[str, Any]]] = []
    services: list[str] = []

    class Counting(Transport):
        async def request(self, service: str, body: bytes, **kwargs: Any) -> bytes:
            services.append(service)
            return await super().request(service, body, **kwargs)

    def factory(vtn_url: str, *, timeout: float, limit: int, max_size: int) -> Transport:
        made.append((vtn_url, {"timeout": timeout, "limit": limit, "max_size": max_size}))
        return Counting(vtn_url, timeout=timeout, limit=limit, max_size=max_size)

    fleet = make_fleet(vtn, transport_factory=factory, max_connections=3, max_message_size=50_000)
    first = fleet.transport
    assert isinstance(first, Counting)
    assert made == [(vtn.url, {"timeout": 5.0, "limit": 3, "max_size": 50_000})]
    fleet.add_ven("site-1")
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
    assert services[:2] == ["EiRegisterParty", "EiRegisterParty"]
    assert first.closed
    async with fleet:
        assert isinstance(fleet.transport, Counting) and fleet.transport is not first
    assert len(made) == 2 and made[1] == made[0]


async def test_stop_lets_an_answer_in_flight_be_acknowledged(vtn: TestVTN, tmp_path: Path) -> None:
    """A stop that comes while a VEN's oadrCreatedEvent is on its way waits for that step to end
    (within the stop's bound) instead of cancelling it: the answer is acknowledged, not left in the
    store's outbox to be sent again after a restart."""
    store = tmp_path / "fleet.db"
    fleet = make_fleet(vtn, store=str(store))
    stopping: list[asyncio.Task[None]] = []

    def on_event(ven: Ven, event: m.Event) -> str:
        # the answer that follows (oadrCreatedEvent) is held 0.3 s by the VTN; the stop comes meanwhile
        vtn.ven_faults[vid(ven)] = Faults(delay=0.3, count=1)
        asyncio.get_running_loop().call_later(0.1, lambda: stopping.append(asyncio.ensure_future(fleet.stop())))
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    ven = fleet.add_ven("site-1")
    await start_registered(vtn, fleet)
    vtn.add_event(vid(ven), make_event("ev-1"))
    async with asyncio.timeout(DEADLINE):
        await fleet.wait_stopped()
        await asyncio.gather(*stopping)
    assert [(v, r.opt_type) for v, r in vtn.event_responses] == [(vid(ven), OPT_IN)]
    db = sqlite3.connect(store)
    try:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    finally:
        db.close()


async def test_many_events_status_and_handlers_per_ven_in_parallel(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    started: list[str] = []
    gate = asyncio.Event()

    async def on_event(ven: Ven, event: m.Event) -> str:
        started.append(event["event_id"])
        if len(started) == 3:
            gate.set()
        await gate.wait()  # returns only once all three handlers run at the same time
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        events = [make_event(f"ev-{i}") for i in range(3)]
        vtn.queue(vid(ven), m.DistributeEvent(request_id="d-1", vtn_id=vtn.vtn_id, events=events))
        await vtn.wait_for(lambda: len(vtn.event_responses) == 3, timeout=DEADLINE)
        assert {r.opt_type for _, r in vtn.event_responses} == {OPT_IN}


async def test_poll_faults_back_off_and_recover(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        ven_id = vid(ven)
        vtn.ven_faults[ven_id] = Faults(garbage=True, count=2)
        await vtn.wait_for(lambda: len(vtn.faulted) >= 2, timeout=DEADLINE)
        vtn.ven_faults[ven_id] = Faults(status=500, count=2)
        await vtn.wait_for(lambda: len(vtn.faulted) >= 4, timeout=DEADLINE)
        vtn.ven_faults[ven_id] = Faults(drop=True, count=1)
        await vtn.wait_for(lambda: len(vtn.faulted) >= 5, timeout=DEADLINE)
        vtn.add_event(ven_id, make_event("ev-1"))
        await vtn.wait_for(lambda: responses_for(vtn, "ev-1"), timeout=DEADLINE)
        assert ven.state == "registered" and len(vtn.registrations) == 1


async def test_lost_created_event_is_sent_again_before_the_next_poll(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn)

    def on_event(ven: Ven, event: m.Event) -> str:
        # runs between the poll that fetched the event and the oadrCreatedEvent: lose that one
        vtn.ven_faults[vid(ven)] = Faults(status=503, count=1)
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await start_registered(vtn, fleet)
        vtn.add_event(vid(ven), make_event("ev-1"))
        await vtn.wait_for(lambda: responses_for(vtn, "ev-1"), timeout=DEADLINE)
        assert [r.message.message_type for r in vtn.faulted] == ["oadrCreatedEvent"]
        assert [(v, r.opt_type) for v, r in vtn.event_responses] == [(vid(ven), OPT_IN)]


def test_run_blocks_until_stopped() -> None:
    """fleet.run() on its own uvloop loop, against a VTN running in another thread."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop

        def queue_event(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
            server.add_event(ven_id, make_event("ev-run"))
            return []

        server = TestVTN(poll_freq=timedelta(0), on_register_report=queue_event)
        holder["vtn"] = server
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(DEADLINE)
    vtn: TestVTN = holder["vtn"]
    fleet = make_fleet(vtn)
    answered: list[str] = []

    async def on_event(ven: Ven, event: m.Event) -> str:
        answered.append(event["event_id"])
        await fleet.stop()
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    fleet.add_ven("site-1")
    try:
        fleet.run()
    finally:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(DEADLINE)
    assert answered == ["ev-run"] and not fleet.running


async def test_first_polls_are_spread_over_the_poll_period(vtn: TestVTN) -> None:
    fleet = make_fleet(vtn, poll_interval=60.0)
    for i in range(30):
        fleet.add_ven(f"site-{i}")
    async with fleet:
        await vtn.wait_for(lambda: len(received(vtn, m.RequestEvent)) == 30, timeout=DEADLINE)
        # the last step of each registration ends right after that request: let them finish
        await asyncio.gather(*[v.task for v in fleet.vens.values() if v.task is not None])
        assert registered(fleet)
        now = asyncio.get_running_loop().time()
        due = [v.next_step_at for v in fleet.vens.values()]
        spread = [t for t in due if t is not None]
        assert len(spread) == 30 and all(now - 1 <= t <= now + 60 for t in spread)
        assert max(spread) - min(spread) > 20  # 30 uniform draws over 60 s: not in lockstep
        assert len(set(spread)) == 30


def test_backoff_is_capped_full_jitter() -> None:
    shared = Shared(rng=random.Random(3), poll_interval=10, handler_timeout=1, backoff_base=1.0, backoff_cap=300.0)
    for attempt in range(40):
        ceiling = min(300.0, 2.0**attempt)
        assert all(0.0 <= shared.backoff(attempt) <= ceiling for _ in range(50))
    assert max(shared.backoff(30) for _ in range(200)) > 150  # grows toward the cap
    assert len({shared.backoff(3) for _ in range(20)}) > 1  # jittered


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        Fleet("ftp://vtn/OpenADR2/Simple/2.0b")
    fleet = Fleet("http://127.0.0.1:1/OpenADR2/Simple/2.0b")
    with pytest.raises(ConfigurationError):
        fleet.add_handler("on_something", lambda ven, event: OPT_IN)
    with pytest.raises(ConfigurationError):
        fleet.add_handler("on_event", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Fleet("http://vtn/x", poll_interval=0)
    for bad_duration in (-1.0, float("nan"), timedelta(0)):
        with pytest.raises(ConfigurationError, match=r"^Fleet handler_timeout: "):
            Fleet("http://vtn/x", handler_timeout=bad_duration)
    with pytest.raises(ConfigurationError):
        Fleet("http://vtn/x", cert="only-a-cert.pem")
    for bad in (0, -1, 1.5):
        with pytest.raises(ConfigurationError):
            Fleet("http://vtn/x", max_registering=bad)  # type: ignore[arg-type]
    assert Fleet("http://vtn/x", max_connections=5).max_registering == 10
    assert Fleet("http://vtn/x").timer_resolution == 0.1
    fleet.add_ven("a")
    with pytest.raises(ConfigurationError):
        fleet.add_ven("a")


def test_per_ven_state_is_slotted() -> None:
    fleet = Fleet("http://127.0.0.1:1/OpenADR2/Simple/2.0b")
    ven = fleet.add_ven("a")
    assert not hasattr(ven, "__dict__")
    with pytest.raises(AttributeError):
        ven.something = 1  # type: ignore[attr-defined]
