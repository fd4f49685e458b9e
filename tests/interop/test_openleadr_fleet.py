"""The fleet against OpenLEADR 0.5.36's own VTN (``openleadr.OpenADRServer``), a peer we did not write.

Every test starts a real OpenLEADR VTN on a free port (``fleetven.testing.openleadr.OpenLEADRVTN``)
and waits on what it records, with deadlines; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from fleetven import OpenADRClient
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.testing.openleadr import OpenLEADRVTN

UTC = timezone.utc
DEADLINE = 30.0


@pytest.fixture
async def vtn() -> AsyncIterator[OpenLEADRVTN]:
    async with OpenLEADRVTN(poll_freq=timedelta(seconds=1), report_sampling=timedelta(seconds=1)) as v:
        yield v


def make_fleet(vtn: OpenLEADRVTN, **options: Any) -> Fleet:
    settings: dict[str, Any] = {"seed": 3, "backoff_base": 0.05, "backoff_cap": 0.5, "request_timeout": 10.0}
    settings.update(options)
    return Fleet(vtn.url, **settings)


def intervals(minutes: int = 30, payload: float = 1.0) -> list[dict[str, Any]]:
    start = datetime.now(UTC) + timedelta(minutes=5)
    return [{"dtstart": start, "duration": timedelta(minutes=minutes), "signal_payload": payload}]


async def test_registration_adopts_vtn_assigned_ven_ids(vtn: OpenLEADRVTN) -> None:
    fleet = make_fleet(vtn)
    for i in range(5):
        fleet.add_ven(f"site-{i}", ven_id="proposed-by-us")
    async with fleet:
        await vtn.wait_for(lambda: all(v.registered for v in fleet.vens.values()), timeout=DEADLINE)
        for name, ven in fleet.vens.items():
            assert ven.ven_id == vtn.registrations[name]
            assert ven.registration_id == f"reg-{ven.ven_id}"
            assert ven.vtn_id == vtn.vtn_id
            assert ven.poll_freq == 1.0


async def test_rejected_registration_is_retried_until_accepted() -> None:
    refusals = {"n": 0}

    def accept(payload: dict[str, Any]) -> bool:
        refusals["n"] += 1
        return refusals["n"] > 2  # refuse the first two attempts

    async with OpenLEADRVTN(poll_freq=timedelta(seconds=1), report_sampling=timedelta(seconds=1),
                            accept=accept) as vtn:
        fleet = make_fleet(vtn)
        ven = fleet.add_ven("stubborn")
        async with fleet:
            await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
        assert vtn.refused == ["stubborn", "stubborn"]
        assert ven.ven_id == vtn.registrations["stubborn"]


@pytest.mark.parametrize("answer", ["optIn", "optOut"])
async def test_event_answer_reaches_the_vtn(vtn: OpenLEADRVTN, answer: str) -> None:
    seen: list[tuple[str, str]] = []

    def on_event(ven: Ven, event: dict[str, Any]) -> str:
        seen.append((ven.name, event["event_id"]))
        return answer

    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", on_event)
    ven = fleet.add_ven("site-1")
    async with fleet:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
        assert ven.ven_id is not None
        event_id = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: vtn.opt_answers, timeout=DEADLINE)
    assert [(a.ven_id, a.event_id, a.opt_type) for a in vtn.opt_answers] == [(ven.ven_id, event_id, answer)]
    assert seen == [("site-1", event_id)]
    assert event_id in ven.events


async def test_several_events_in_one_message_are_all_answered(vtn: OpenLEADRVTN) -> None:
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: "optIn")
    ven = fleet.add_ven("site-1")
    async with fleet:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
        assert ven.ven_id is not None
        # Queued before the next poll: OpenLEADR sends them in one oadrDistributeEvent.
        ids = {
            vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals()),
            vtn.add_event(ven.ven_id, signal_name="ELECTRICITY_PRICE", signal_type="price",
                          intervals=intervals(payload=0.25)),
            vtn.add_event(ven.ven_id, signal_name="x-custom-signal", signal_type="level", intervals=intervals()),
        }
        await vtn.wait_for(lambda: {a.event_id for a in vtn.opt_answers} >= ids, timeout=DEADLINE)
    assert {a.opt_type for a in vtn.opt_answers} == {"optIn"}
    assert set(ven.events) == ids


async def test_cancellation_reaches_on_update_event(vtn: OpenLEADRVTN) -> None:
    updates: list[tuple[str, str, int]] = []
    statuses: list[str] = []

    def on_update(ven: Ven, event: dict[str, Any]) -> str:
        updates.append((event["event_id"], event["event_status"], event["modification_number"]))
        return "optIn"

    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: "optIn")
    fleet.add_handler("on_update_event", on_update)
    fleet.add_handler("on_event_status", lambda ven, event, status: statuses.append(status))
    ven = fleet.add_ven("site-1")
    async with fleet:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
        assert ven.ven_id is not None
        event_id = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: vtn.opt_answers, timeout=DEADLINE)
        vtn.cancel_event(ven.ven_id, event_id)
        await vtn.wait_for(lambda: updates and "cancelled" in statuses, timeout=DEADLINE)
    assert updates == [(event_id, "cancelled", 1)]


async def test_response_required_never_is_not_answered(vtn: OpenLEADRVTN) -> None:
    handled: list[str] = []
    fleet = make_fleet(vtn)
    fleet.add_handler("on_event", lambda ven, event: handled.append(event["event_id"]) or "optIn")
    ven = fleet.add_ven("site-1")
    async with fleet:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
        assert ven.ven_id is not None
        quiet = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals(),
                              response_required="never")
        await vtn.wait_for(lambda: quiet in handled, timeout=DEADLINE)
        # A second event that does want an answer: once it is answered, the first had its chance too.
        loud = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: vtn.opt_answers, timeout=DEADLINE)
    assert [a.event_id for a in vtn.opt_answers] == [loud]


async def test_reports_reach_on_update_report(vtn: OpenLEADRVTN) -> None:
    readings = iter(range(1000))
    fleet = make_fleet(vtn)
    fleet.add_report(lambda ven: float(next(readings)), "charger", "voltage", sampling_rate=timedelta(seconds=1))
    ven = fleet.add_ven("site-1")
    before = datetime.now(UTC)
    async with fleet:
        await vtn.wait_for(lambda: len(vtn.reports) >= 3, timeout=DEADLINE)
    assert ven.ven_id is not None
    offered = vtn.offered_reports[ven.ven_id]
    assert offered == [{"resource_id": "charger", "measurement": "Voltage", "unit": "V", "scale": "none"}]
    values = [r.value for r in vtn.reports]
    assert values[:3] == sorted(values[:3]) and len(set(values)) == len(values)  # in order, none twice
    assert all(r.ven_id == ven.ven_id and r.resource_id == "charger" for r in vtn.reports)
    stamps = [r.dtstart for r in vtn.reports]
    assert stamps == sorted(stamps) and stamps[0] >= before - timedelta(seconds=1)


async def test_openadr_client_is_a_drop_in(vtn: OpenLEADRVTN) -> None:
    """Used exactly as OpenLEADR's OpenADRClient, changing only the import."""
    received: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> str:
        received.append(event)
        return "optIn"

    client = OpenADRClient(ven_name="drop-in", vtn_url=vtn.url)
    client.add_handler("on_event", on_event)
    specifier, r_id = client.add_report(callback=lambda: 230.0, resource_id="meter", measurement="voltage",
                                        sampling_rate=timedelta(seconds=1))
    assert isinstance(specifier, str) and isinstance(r_id, str)
    await client.run()
    try:
        assert client.ven_id == vtn.registrations["drop-in"]
        assert client.registration_id is not None
        assert client.poll_frequency == timedelta(seconds=1)
        event_id = vtn.add_event(client.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: vtn.opt_answers and vtn.reports, timeout=DEADLINE)
    finally:
        await client.stop()
    assert [(a.event_id, a.opt_type) for a in vtn.opt_answers] == [(event_id, "optIn")]
    assert received[0]["event_descriptor"]["event_id"] == event_id
    assert received[0]["event_signals"][0]["intervals"][0]["signal_payload"] == 1.0
    assert vtn.reports[0].value == 230.0


async def test_a_thousand_vens_register_and_opt_in() -> None:
    """The issue's CI check: 1,000 VENs against one OpenLEADR VTN, every one registered and its optIn received."""
    n = 1000
    async with OpenLEADRVTN(poll_freq=timedelta(seconds=2), report_sampling=None) as vtn:
        fleet = Fleet(vtn.url, seed=11, backoff_base=0.2, backoff_cap=2.0, request_timeout=30.0)
        fleet.add_handler("on_event", lambda ven, event: "optIn")
        for i in range(n):
            fleet.add_ven(f"site-{i:04d}")
        async with fleet:
            await vtn.wait_for(lambda: len(vtn.registrations) == n, timeout=120)
            await vtn.wait_for(lambda: all(v.registered for v in fleet.vens.values()), timeout=60)
            for ven in fleet.vens.values():
                assert ven.ven_id is not None
                vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
            await vtn.wait_for(lambda: len(vtn.opt_answers) == n, timeout=120)
    assert {a.ven_id for a in vtn.opt_answers} == set(vtn.registrations.values())
    assert {a.opt_type for a in vtn.opt_answers} == {"optIn"}
    assert vtn.refused == []
