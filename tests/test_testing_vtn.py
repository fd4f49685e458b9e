"""fleetven.testing.TestVTN, driven by a plain aiohttp client and by OpenLEADR's own client."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
import samples
from test_fleet import make_fleet

from fleetven import Fleet
from fleetven.exceptions import ConfigurationError
from fleetven.http.transport import Transport
from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.store import MemoryStore
from fleetven.testing import Sent, TestVTN, handover_gap, overlapping_senders, sender_runs
from fleetven.testing._http import Reply
from fleetven.testing.script import ScriptedVTN

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


# ------------------------------------------------------------------ who sent what (log_senders)

WORKER_A = "fleetven worker=a pid=1"
WORKER_B = "fleetven worker=b pid=2"


def sent_by(*senders_and_times: tuple[str, float]) -> list[Sent]:
    return [Sent(at, "OadrPoll", "oadrPoll", who, ("127.0.0.1", 1)) for who, at in senders_and_times]


def test_sender_runs_and_overlaps_of_hand_made_records() -> None:
    handover = sent_by(("a", 1.0), ("a", 2.0), ("b", 5.0), ("b", 6.0), ("c", 6.5))
    assert sender_runs(handover) == [("a", 0, 1), ("b", 2, 3), ("c", 4, 4)]
    assert overlapping_senders(handover) == []  # a to b to c: each hands over once
    assert handover_gap(handover) == 3.0  # the longer of 5 - 2 and 6.5 - 6

    interleaved = sent_by(("a", 1.0), ("b", 2.0), ("a", 3.0), ("b", 4.0))
    assert overlapping_senders(interleaved) == [("a", "b")]  # once, in order of first appearance
    # handed back once (rebalancing may do that): no overlap
    assert overlapping_senders(sent_by(("a", 0), ("b", 0), ("c", 0), ("a", 0))) == []
    assert overlapping_senders(sent_by(("b", 0), ("a", 0), ("b", 0))) == []
    # a stale request amid the new owner's: the pair alternates twice
    assert overlapping_senders(sent_by(("b", 0), ("a", 0), ("b", 0), ("a", 0))) == [("b", "a")]
    assert overlapping_senders(sent_by(("a", 0), ("b", 0), ("c", 0), ("a", 0), ("c", 0), ("b", 0))) == [
        ("a", "c"), ("a", "b")]
    assert overlapping_senders(sent_by(("a", 0), ("b", 0), ("c", 0), ("b", 0), ("c", 0))) == [("b", "c")]
    assert sender_runs([]) == [] and overlapping_senders([]) == []
    assert handover_gap(sent_by(("a", 1.0), ("a", 9.0))) is None  # never changed hands


async def raw_post(vtn: TestVTN, service: str, msg: m.Message, user_agent: str | None) -> tuple[Any, Any]:
    """POST over a socket of our own; returns (the answer, our end's address)."""
    reader, writer = await asyncio.open_connection(vtn.host, vtn.port)
    try:
        body = build_message(msg)
        agent = f"User-Agent: {user_agent}\r\n" if user_agent is not None else ""
        writer.write(
            f"POST {vtn.path}/{service} HTTP/1.1\r\nHost: x\r\n{agent}Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode() + body
        )
        raw = await asyncio.wait_for(reader.read(), DEADLINE)
        return parse_message(raw.split(b"\r\n\r\n", 1)[1]), writer.get_extra_info("sockname")[:2]
    finally:
        writer.close()


async def test_log_senders_records_agent_peer_and_the_assigned_ven_id() -> None:
    async with TestVTN(log_senders=True) as vtn:
        await raw_post(vtn, "EiRegisterParty", m.QueryRegistration(request_id="q"), "agent-1")
        created, mine = await raw_post(
            vtn, "EiRegisterParty", m.CreatePartyRegistration(request_id="r", ven_name="n"), "agent-1")
        ven_id = created.ven_id
        await raw_post(vtn, "OadrPoll", m.Poll(ven_id=ven_id), "agent-2")
        await raw_post(vtn, "OadrPoll", m.Poll(ven_id=ven_id), None)
        first, second, third = vtn.sent(ven_id)  # the query named no venID and got none: not recorded
        assert (first.service, first.message_type, first.sender) == (
            "EiRegisterParty", "oadrCreatePartyRegistration", "agent-1")
        assert first.peer == (mine[0], mine[1])
        assert (second.service, second.message_type, second.sender) == ("OadrPoll", "oadrPoll", "agent-2")
        assert third.sender == ""
        assert first.at <= second.at <= third.at
        assert vtn.senders(ven_id) == ["agent-1", "agent-2", ""]
        assert vtn.handover_gaps([ven_id]) == {ven_id: max(second.at - first.at, third.at - second.at)}
        assert vtn.sent("nobody") == [] and vtn.handover_gaps(["nobody"]) == {}


async def test_senders_need_log_senders(vtn: TestVTN) -> None:
    with pytest.raises(ConfigurationError, match="log_senders"):
        vtn.overlaps()
    with pytest.raises(ConfigurationError, match="log_senders"):
        vtn.sent("ven-1")


async def test_a_subclass_route_that_drops_the_info_is_refused() -> None:
    class OldVTN(TestVTN):
        def _route(self, method: str, path: str, body: bytes) -> Reply:  # type: ignore[override]
            return (404, b"", None)

    vtn = OldVTN(log_senders=True)
    with pytest.raises(ConfigurationError, match=r"OldVTN\._route"):
        await vtn.start()
    async with OldVTN():  # without senders logged it still serves
        pass


async def test_the_scripted_vtn_passes_the_sender_on() -> None:
    async with ScriptedVTN(log_senders=True) as vtn:
        vtn.stalled_until = vtn._now() + 0.05  # the stalled path too
        created, _ = await raw_post(
            vtn, "EiRegisterParty", m.CreatePartyRegistration(request_id="r", ven_name="n"), "scripted")
        assert vtn.senders(created.ven_id) == ["scripted"]


def worker_fleet(vtn: TestVTN, user_agent: str, store: MemoryStore) -> Fleet:
    return make_fleet(vtn, store=store, transport_factory=functools.partial(Transport, user_agent=user_agent))


async def test_a_ven_handed_from_one_worker_to_another_has_no_overlap() -> None:
    async with TestVTN(poll_freq=timedelta(0), log_senders=True) as vtn:
        store_a = MemoryStore()
        first = worker_fleet(vtn, WORKER_A, store_a)
        ven = first.add_ven("x")
        async with first:
            await vtn.wait_for(lambda: ven.registered and vtn.polls >= 3, timeout=DEADLINE)
        ven_id = ven.ven_id
        assert ven_id is not None
        second = worker_fleet(vtn, WORKER_B, MemoryStore())
        async with second:
            polls = vtn.polls
            moved = second.add_ven("x", state=store_a.load()["x"])
            assert moved.ven_id == ven_id
            await vtn.wait_for(lambda: vtn.polls >= polls + 3, timeout=DEADLINE)
        assert vtn.senders(ven_id) == [WORKER_A, WORKER_B]
        assert vtn.overlaps() == {}
        log = vtn.sent(ven_id)
        assert log[0].message_type == "oadrCreatePartyRegistration" and log[-1].message_type == "oadrPoll"
        last_a = max(r.at for r in log if r.sender == WORKER_A)
        first_b = min(r.at for r in log if r.sender == WORKER_B)
        assert vtn.handover_gaps() == {ven_id: first_b - last_a}


async def test_two_workers_driving_one_ven_at_once_are_named() -> None:
    async with TestVTN(poll_freq=timedelta(0), log_senders=True) as vtn:
        store_a = MemoryStore()
        first = worker_fleet(vtn, WORKER_A, store_a)
        ven = first.add_ven("x")
        bystander = first.add_ven("y")
        async with first:
            await vtn.wait_for(lambda: ven.registered and bystander.registered, timeout=DEADLINE)
            ven_id = ven.ven_id
            assert ven_id is not None
            second = worker_fleet(vtn, WORKER_B, MemoryStore())
            async with second:  # takes "x" over while the first still runs it
                second.add_ven("x", state=store_a.load()["x"])
                await vtn.wait_for(lambda: ven_id in vtn.overlaps(), timeout=DEADLINE)
        overlaps = vtn.overlaps()
        assert overlaps == {ven_id: [(WORKER_A, WORKER_B)]}  # the bystander, run by one worker only, is not named
        assert vtn.senders(ven_id) == [WORKER_A, WORKER_B]
        assert bystander.ven_id is not None and vtn.senders(bystander.ven_id) == [WORKER_A]


def test_sample_numbers_group_the_samples_received_under_each_number() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def report(request_id: str, *numbered: tuple[str | None, int]) -> m.Report:
        return m.Report(report_specifier_id="s", report_name="TELEMETRY_USAGE", report_request_id=request_id,
                        created_date_time=t0, intervals=[
                            m.ReportInterval(dtstart=t0 + timedelta(seconds=at), uid=uid,
                                             payloads=[m.ReportPayload(r_id="p", value=1.0)])
                            for uid, at in numbered])

    vtn = TestVTN()
    vtn.reports.extend([
        ("ven-a", report("rr", ("1", 0), ("2", 1))),
        ("ven-a", report("rr", ("2", 1), ("4", 3))),  # 2 again, the same sample: a re-delivery
        ("ven-b", report("rr", ("1", 0), ("1", 5))),  # 1 on two samples: a number reused
        ("ven-c", report("rr", (None, 0), ("x-7", 1))),  # another implementation's uids: left out
    ])
    numbers = vtn.sample_numbers()
    assert set(numbers) == {"ven-a", "ven-b"}
    assert numbers["ven-a"] == {1: {("rr", "p", t0)}, 2: {("rr", "p", t0 + timedelta(seconds=1))},
                                4: {("rr", "p", t0 + timedelta(seconds=3))}}
    assert len(numbers["ven-b"][1]) == 2
    assert vtn.missing_sample_numbers() == {"ven-a": [3]}
