"""fleetven.testing.TestVTN, driven by a plain aiohttp client and by OpenLEADR's own client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
import samples

from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.testing import TestVTN

UTC = timezone.utc
DEADLINE = 10.0


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(seconds=3)) as v:
        yield v


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as s:
        yield s


async def post(http: aiohttp.ClientSession, vtn: TestVTN, service: str, msg: m.Message | bytes) -> Any:
    body = msg if isinstance(msg, bytes) else build_message(msg)
    async with http.post(f"{vtn.url}/{service}", data=body, headers={"Content-Type": "application/xml"}) as r:
        assert r.status == 200, r.status
        return parse_message(await r.read())


async def register(http: aiohttp.ClientSession, vtn: TestVTN, name: str = "ven-a") -> m.CreatedPartyRegistration:
    reply = await post(http, vtn, "EiRegisterParty", m.CreatePartyRegistration(request_id="r2", ven_name=name))
    assert isinstance(reply, m.CreatedPartyRegistration)
    assert reply.response.response_code == 200
    return reply


async def test_registration_flow(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    query = await post(http, vtn, "EiRegisterParty", m.QueryRegistration(request_id="r1"))
    assert isinstance(query, m.CreatedPartyRegistration)
    assert query.vtn_id == "TEST-VTN"
    assert query.requested_oadr_poll_freq == timedelta(seconds=3)
    assert [(p.profile_name, p.transports) for p in query.profiles] == [("2.0b", ["simpleHttp"])]
    assert query.ven_id is None

    first = await register(http, vtn, "a")
    second = await register(http, vtn, "b")
    assert (first.ven_id, second.ven_id) == ("ven-1", "ven-2")
    assert first.registration_id and first.registration_id != second.registration_id
    assert first.requested_oadr_poll_freq == timedelta(seconds=3)
    assert first.response.request_id == "r2"
    assert [v for v, _ in vtn.registrations] == ["ven-1", "ven-2"]
    assert vtn.vens["ven-1"].registration_id == first.registration_id

    # Registering again with its registrationID keeps the venID.
    again = await post(
        http,
        vtn,
        "EiRegisterParty",
        m.CreatePartyRegistration(request_id="r3", ven_id="ven-1", registration_id=first.registration_id),
    )
    assert (again.ven_id, again.registration_id) == ("ven-1", first.registration_id)


async def test_poll_empty_then_event_then_created_event(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    ven_id = (await register(http, vtn)).ven_id
    assert ven_id is not None
    empty = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    assert isinstance(empty, m.ResponseMessage) and empty.response.response_code == 200

    vtn.add_event(ven_id, samples.minimal_event("ev-1"))
    vtn.add_event(ven_id, samples.minimal_event("ev-2"))
    dist = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    assert isinstance(dist, m.DistributeEvent)
    assert [e["event_id"] for e in dist.events] == ["ev-1", "ev-2"]  # all current events, one message
    assert dist.vtn_id == "TEST-VTN"
    after = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    assert isinstance(after, m.ResponseMessage)
    assert vtn.polls == 3

    created = m.CreatedEvent(
        response=m.Response(response_code=200, request_id=dist.request_id),
        ven_id=ven_id,
        event_responses=[
            m.EventResponse(
                response_code=200, request_id=dist.request_id, event_id="ev-1", modification_number=0, opt_type="optIn"
            )
        ],
    )
    ack = await post(http, vtn, "EiEvent", created)
    assert isinstance(ack, m.ResponseMessage) and ack.response.response_code == 200
    assert [(v, r.event_id, r.opt_type) for v, r in vtn.event_responses] == [(ven_id, "ev-1", "optIn")]

    vtn.cancel_event(ven_id, "ev-1")
    dist = await post(http, vtn, "EiEvent", m.RequestEvent(request_id="q", ven_id=ven_id))
    assert isinstance(dist, m.DistributeEvent)
    ev1 = dist.events[0]
    assert (ev1["event_status"], ev1["modification_number"]) == ("cancelled", 1)


async def test_update_report_and_report_request(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    ven_id = (await register(http, vtn)).ven_id
    assert ven_id is not None
    request = samples.create_report(rich=False).report_requests[0]
    vtn.request_report(ven_id, request)
    create = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    assert isinstance(create, m.CreateReport)
    assert [r.report_request_id for r in create.report_requests] == [request.report_request_id]

    update = samples.update_report(n_intervals=2)
    update.ven_id = ven_id
    reply = await post(http, vtn, "EiReport", update)
    assert isinstance(reply, m.UpdatedReport) and reply.response.response_code == 200
    assert reply.response.request_id == update.request_id
    assert [r.report_specifier_id for _, r in vtn.reports] == [r.report_specifier_id for r in update.reports]
    [receipt] = await vtn.wait_for_message("oadrUpdateReport", ven_id=ven_id, timeout=DEADLINE)
    assert receipt.message is not None and receipt.at > 0


async def test_unknown_ven_gets_463(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    reply = await post(http, vtn, "OadrPoll", m.Poll(ven_id="nobody"))
    assert isinstance(reply, m.ResponseMessage)
    assert reply.response.response_code == 463


async def test_garbage_body_gets_454_class_response(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    reply = await post(http, vtn, "OadrPoll", b"this is not xml")
    assert isinstance(reply, m.ResponseMessage)
    assert reply.response.response_code == 454
    assert len(vtn.errors) == 1 and not vtn.received
    unknown = await post(http, vtn, "OadrPoll", b'<x xmlns="urn:nothing"/>')
    assert unknown.response.response_code == 453


async def test_unknown_service_is_404(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{vtn.url}/EiNothing", data=build_message(m.Poll(ven_id="x"))) as r:
        assert r.status == 404


async def test_registration_policy_rejects(http: aiohttp.ClientSession) -> None:
    def policy(reg: m.CreatePartyRegistration) -> int | None:
        return 452 if reg.ven_name == "bad" else None

    async with TestVTN(registration_policy=policy) as vtn:
        reply = await post(http, vtn, "EiRegisterParty", m.CreatePartyRegistration(request_id="r", ven_name="bad"))
        assert isinstance(reply, m.CreatedPartyRegistration)
        assert reply.response.response_code == 452
        assert reply.ven_id is None and not vtn.registrations
        assert (await register(http, vtn, "good")).ven_id == "ven-1"


async def test_faults_status_garbage_drop_delay(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    ven_id = (await register(http, vtn)).ven_id
    assert ven_id is not None
    vtn.faults.status = 503
    vtn.faults.count = 1
    async with http.post(f"{vtn.url}/OadrPoll", data=build_message(m.Poll(ven_id=ven_id))) as r:
        assert r.status == 503
    assert [r.ven_id for r in vtn.faulted] == [ven_id] and vtn.polls == 0
    # count used up: the next poll is answered
    assert isinstance(await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id)), m.ResponseMessage)

    vtn.ven_faults[ven_id] = faults = vtn.faults.__class__(garbage=True)
    async with http.post(f"{vtn.url}/OadrPoll", data=build_message(m.Poll(ven_id=ven_id))) as r:
        assert r.status == 200
        with pytest.raises(ValueError):
            parse_message(await r.read())

    faults.clear()
    faults.drop = True
    with pytest.raises(aiohttp.ClientError):
        async with http.post(f"{vtn.url}/OadrPoll", data=build_message(m.Poll(ven_id=ven_id))) as r:
            await r.read()

    faults.clear()
    faults.delay = 0.01
    assert isinstance(await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id)), m.ResponseMessage)
    assert vtn.polls == 2


async def test_cancel_registration_both_ways(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    reg = await register(http, vtn)
    ven_id, reg_id = reg.ven_id, reg.registration_id
    assert ven_id is not None and reg_id is not None

    bad = await post(
        http, vtn, "EiRegisterParty", m.CancelPartyRegistration(request_id="c0", registration_id="nope", ven_id=ven_id)
    )
    assert isinstance(bad, m.CanceledPartyRegistration) and bad.response.response_code == 452

    # VTN-initiated: queued, delivered on poll, forgotten when the VEN confirms.
    vtn.cancel_registration(ven_id)
    cancel = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    assert isinstance(cancel, m.CancelPartyRegistration) and cancel.registration_id == reg_id
    done = m.CanceledPartyRegistration(
        response=m.Response(response_code=200, request_id=cancel.request_id), registration_id=reg_id, ven_id=ven_id
    )
    assert isinstance(await post(http, vtn, "EiRegisterParty", done), m.ResponseMessage)
    assert vtn.vens[ven_id].registration_id is None
    assert (await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))).response.response_code == 463

    # VEN-initiated.
    reg = await register(http, vtn)
    assert reg.ven_id is not None and reg.registration_id is not None
    ok = await post(
        http,
        vtn,
        "EiRegisterParty",
        m.CancelPartyRegistration(request_id="c1", registration_id=reg.registration_id, ven_id=reg.ven_id),
    )
    assert isinstance(ok, m.CanceledPartyRegistration) and ok.response.response_code == 200
    assert vtn.vens[reg.ven_id].registration_id is None


async def test_wait_for_times_out(vtn: TestVTN) -> None:
    with pytest.raises(TimeoutError):
        await vtn.wait_for(lambda: vtn.event_responses, timeout=0.05)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_openleadr_client_registers_and_opts_in() -> None:
    openleadr = pytest.importorskip("openleadr")
    async with TestVTN(poll_freq=timedelta(seconds=1)) as vtn:
        client = openleadr.OpenADRClient(ven_name="oleadr-ven", vtn_url=vtn.url, disable_signature=True)

        async def on_event(event: dict[str, Any]) -> str:
            return "optIn"

        client.add_handler("on_event", on_event)
        await client.run()
        try:
            await vtn.wait_for(lambda: any(r.registration_id for r in vtn.vens.values()), timeout=DEADLINE)
            ven_id = client.ven_id
            assert ven_id == "ven-1" and vtn.vens[ven_id].registration is not None
            start = datetime.now(UTC) + timedelta(minutes=5)
            event = samples.minimal_event("ev-oleadr")
            event["active_period"] = {"dtstart": start, "duration": timedelta(minutes=30)}
            event["event_signals"][0]["intervals"][0]["dtstart"] = start
            vtn.add_event(ven_id, event)
            await vtn.wait_for(lambda: vtn.event_responses, timeout=DEADLINE)
        finally:
            await client.stop()
        [(who, answer)] = vtn.event_responses
        assert (who, answer.event_id, answer.opt_type) == (ven_id, "ev-oleadr", "optIn")


async def test_queue_order_and_unknown_cancel(vtn: TestVTN, http: aiohttp.ClientSession) -> None:
    ven_id = (await register(http, vtn)).ven_id
    assert ven_id is not None
    vtn.request_reregistration(ven_id)
    vtn.queue(ven_id, m.ResponseMessage(response=m.Response(response_code=200), ven_id=ven_id))
    first = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    second = await post(http, vtn, "OadrPoll", m.Poll(ven_id=ven_id))
    assert isinstance(first, m.RequestReregistration) and first.ven_id == ven_id
    assert isinstance(second, m.ResponseMessage)
    assert not vtn.vens[ven_id].queue

    ghost = await post(
        http, vtn, "EiRegisterParty", m.CancelPartyRegistration(request_id="c", registration_id="r", ven_id="ghost")
    )
    assert isinstance(ghost, m.CanceledPartyRegistration) and ghost.response.response_code == 452
