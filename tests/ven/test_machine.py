"""The VEN's protocol steps (fleetven.ven.machine.VenMachine) driven by hand with canned VTN answers:
the ops each step yields, in order, and the state it leaves. No socket, no event loop, no fleet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import samples

from fleetven.exceptions import ProtocolError, RegistrationRejected
from fleetven.openadr import model as m
from fleetven.openadr.services import EI_EVENT, EI_REGISTER_PARTY
from fleetven.ven import events as ev
from fleetven.ven.machine import LOST, POLL, REGISTER, Answer, Ask, Flush, Next, Op, Reports, Save, Send, Track

from ._steps import Ctx, machine, run


def ok(request_id: str | None = None) -> m.Response:
    return m.Response.ok(request_id)


def response(code: int = 200) -> m.ResponseMessage:
    return m.ResponseMessage(response=m.Response(response_code=code, request_id="p"), ven_id=samples.VEN_ID)


def created_registration(code: int = 200) -> m.CreatedPartyRegistration:
    return m.CreatedPartyRegistration(response=m.Response(response_code=code, request_id="r2"),
                                      vtn_id=samples.VTN_ID, ven_id="ven-VTN-1", registration_id="reg-new",
                                      requested_oadr_poll_freq=timedelta(seconds=30))


class VTN:
    """Canned answers, by the message the VEN sends; the messages sent, in order."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.sent: list[tuple[m.Message, str | None]] = []

    def __call__(self, op: Op) -> Any:
        if isinstance(op, Send):
            self.sent.append((op.msg, op.service))
            return self.answers.get(type(op.msg).__name__, response())
        if isinstance(op, Reports):
            if op.what == "offer":
                return m.RegisterReport(request_id=op.request_id or "", reports=[], ven_id=samples.VEN_ID,
                                        report_request_id="0")
            if op.what in ("create", "cancel"):
                return m.CreatedReport(response=ok(op.request_id), pending_reports=[], ven_id=samples.VEN_ID)
        if isinstance(op, Ask):
            return {change.event_id: ev.OPT_IN for change in op.asked}
        return None

    def types(self) -> list[str]:
        return [type(msg).__name__ for msg, _ in self.sent]


def kinds(ops: list[Op]) -> list[str]:
    return [type(op).__name__ for op in ops]


# ---------------------------------------------------------------- registration


def test_registration_queries_creates_commits_then_reports_and_events() -> None:
    ven = machine(registered=False)
    vtn = VTN(QueryRegistration=created_registration(), CreatePartyRegistration=created_registration(),
              RegisterReport=m.RegisteredReport(response=ok(), ven_id="ven-VTN-1"))
    ops, nxt = run(ven.register(Ctx(), signed=True), vtn)
    assert nxt is None
    assert kinds(ops) == ["Send", "Send", "Save", "Flush", "Reports", "Send", "Send", "Save"]
    assert vtn.types() == ["QueryRegistration", "CreatePartyRegistration", "RegisterReport", "RequestEvent"]
    create = vtn.sent[1][0]
    assert isinstance(create, m.CreatePartyRegistration)
    assert create.ven_id is None and create.registration_id is None and create.xml_signature  # rule 404
    # the registration is adopted and committed (Save, Flush) before the reports are offered
    assert ops[2] == Save(complete=False) and ops[3] == Flush() and ops[-1] == Save(complete=True)
    assert (ven.ven_id, ven.registration_id, ven.vtn_id, ven.poll_freq) == ("ven-VTN-1", "reg-new", samples.VTN_ID,
                                                                            30.0)
    request_event = vtn.sent[3][0]
    assert isinstance(request_event, m.RequestEvent) and request_event.ven_id == "ven-VTN-1"


def test_registering_again_names_the_registration_and_goes_back_to_registering() -> None:
    ven = machine()
    ven.state = "unregistered"
    vtn = VTN(QueryRegistration=created_registration(), CreatePartyRegistration=created_registration())
    run(ven.register(Ctx(), signed=False), vtn)
    create = vtn.sent[1][0]
    assert isinstance(create, m.CreatePartyRegistration)
    assert (create.ven_id, create.registration_id) == (samples.VEN_ID, samples.REGISTRATION_ID)
    assert ven.state == "registering"  # the driver makes it "registered" when the step ends


def test_a_refused_registration_raises_and_adopts_nothing() -> None:
    ven = machine(registered=False)
    vtn = VTN(QueryRegistration=created_registration(), CreatePartyRegistration=created_registration(452))
    with pytest.raises(RegistrationRejected) as info:
        run(ven.register(Ctx(), signed=False), vtn)
    assert info.value.response_code == 452
    assert ven.registration_id is None and ven.ven_id == samples.VEN_ID


def test_a_query_answered_with_something_else_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        run(machine(registered=False).register(Ctx(), signed=False), VTN(QueryRegistration=response()))


def test_rule_311_the_registered_reports_requests_are_taken_and_answered() -> None:
    ven = machine()
    request = m.ReportRequest(report_request_id="rr-1", report_specifier=m.ReportSpecifier(
        report_specifier_id="spec", granularity=timedelta(0), report_back_duration=timedelta(0),
        specifier_payloads=[]))
    registered = m.RegisteredReport(response=ok(), ven_id=samples.VEN_ID, report_requests=[request])
    vtn = VTN(RegisterReport=registered)
    ops, _ = run(ven.register_reports(Ctx()), vtn)
    assert [op.what for op in ops if isinstance(op, Reports)] == ["offer", "create"]
    assert vtn.types() == ["RegisterReport", "CreatedReport"]
    offer = vtn.sent[0][0]
    assert isinstance(offer, m.RegisterReport) and offer.report_request_id == "0"


def test_a_refused_register_report_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        run(machine().register_reports(Ctx()), VTN(RegisterReport=response(469)))


# ------------------------------------------------------------------------ poll


def test_an_idle_poll_waits_a_period_and_a_full_one_polls_at_once() -> None:
    ven = machine()
    ven.poll_freq = 30.0
    assert run(ven.poll_reply(Ctx(), response(200)), VTN()) == ([], Next(30.0, POLL))
    ack_needed = m.UpdateReport(request_id="u1", reports=[], ven_id=samples.VEN_ID)
    vtn = VTN()
    assert run(ven.poll_reply(Ctx(), ack_needed), vtn)[1] == Next(0.0, POLL)
    assert vtn.types() == ["UpdatedReport"]


def test_a_poll_answered_not_registered_drops_the_registration_then_backs_off() -> None:
    ven, ctx = machine(), Ctx()
    assert ven.poll_response(ctx, response(463)) == Next(0.0, LOST)  # at once the first time
    assert ven.registration_id is None and ven.state == "unregistered" and not ven.complete
    ven.registration_id = "again"
    assert ven.poll_response(ctx, response(452)) == Next(2.0, LOST)  # then backing off
    assert ven.poll_response(ctx, response(452)) == Next(4.0, LOST)
    ven.poll_response(ctx, response(200))
    assert ven.poll_response(ctx, response(452)) == Next(0.0, LOST)  # an idle 200 in between resets it


def test_another_response_code_waits_a_period_and_keeps_the_registration() -> None:
    ven = machine()
    assert ven.poll_response(Ctx(), response(500)) == Next(10.0, POLL)
    assert ven.registered


def test_request_reregistration_is_answered_on_eiregisterparty_then_registers_at_once() -> None:
    ven, vtn = machine(), VTN()
    _, nxt = run(ven.poll_reply(Ctx(), m.RequestReregistration(ven_id=samples.VEN_ID)), vtn)
    assert nxt == Next(0.0, REGISTER)
    (msg, service), = vtn.sent
    assert isinstance(msg, m.ResponseMessage) and msg.response.response_code == 200 and service == EI_REGISTER_PARTY
    assert ven.registration_id == samples.REGISTRATION_ID  # kept: registering again names it


def test_an_unexpected_poll_answer_is_ignored_and_the_ven_polls_on() -> None:
    ven, vtn = machine(), VTN()
    _, nxt = run(ven.poll_reply(Ctx(), m.CreatedOpt(response=ok(), opt_id="o")), vtn)
    assert nxt == Next(0.0, POLL) and vtn.sent == []


def test_create_and_cancel_report_go_to_the_engine_and_its_answer_is_sent() -> None:
    ven = machine()
    create = samples.create_report(rich=False)
    vtn = VTN()
    ops, nxt = run(ven.poll_reply(Ctx(), create), vtn)
    assert ops[0] == Reports("create", create, create.request_id) and vtn.types() == ["CreatedReport"]
    assert nxt == Next(0.0, POLL)
    cancel = m.CancelReport(request_id="c1", report_request_ids=["rr-1"], report_to_follow=True,
                            ven_id=samples.VEN_ID)
    ops, _ = run(ven.poll_reply(Ctx(), cancel), vtn)
    assert ops[0] == Reports("cancel", cancel, "c1")


# ------------------------------------------------------ the VTN cancels the registration


def cancel(registration_id: str = samples.REGISTRATION_ID) -> m.CancelPartyRegistration:
    return m.CancelPartyRegistration(request_id="cx", registration_id=registration_id, ven_id=samples.VEN_ID)


def test_a_vtn_cancellation_is_answered_then_the_registration_dropped() -> None:
    ven, vtn = machine(), VTN()
    ops, nxt = run(ven.poll_reply(Ctx(), cancel()), vtn)
    (answer, _), = vtn.sent
    assert isinstance(answer, m.CanceledPartyRegistration) and answer.response.response_code == 200
    assert answer.ven_id == samples.VEN_ID
    assert kinds(ops) == ["Send", "Reports", "Save"] and ops[1] == Reports("forget")
    assert nxt == Next(2.0, REGISTER)  # after a backoff
    assert ven.registration_id is None and ven.state == "unregistered"


def test_the_registration_is_kept_when_the_answer_to_a_cancellation_is_not_sent() -> None:
    ven = machine()
    step = ven.poll_reply(Ctx(), cancel())
    assert isinstance(step.send(None), Send)
    step.close()  # the driver's send failed: the step ends there
    assert ven.registration_id == samples.REGISTRATION_ID and ven.state == "registered"


def test_a_cancellation_of_another_registration_is_answered_452_and_changes_nothing() -> None:
    ven, vtn = machine(), VTN()
    ops, nxt = run(ven.poll_reply(Ctx(), cancel("someone-else")), vtn)
    (answer, _), = vtn.sent
    assert isinstance(answer, m.CanceledPartyRegistration) and answer.response.response_code == 452
    assert kinds(ops) == ["Send"] and nxt == Next(0.0, POLL) and ven.registered


# ---------------------------------------------------------------------- events


def distribute(*events: m.Event, vtn_id: str = samples.VTN_ID) -> m.DistributeEvent:
    return m.DistributeEvent(request_id="d1", vtn_id=vtn_id, events=list(events))


def test_a_distribute_asks_then_tracks_saves_and_answers_in_that_order() -> None:
    ven, vtn = machine(), VTN()
    ops, nxt = run(ven.poll_reply(Ctx(now=samples.T0 - timedelta(hours=2)), distribute(samples.minimal_event("e1"))),
                   vtn)
    assert kinds(ops) == ["Ask", "Track", "Save", "Answer"] and nxt == Next(0.0, POLL)
    answer = ops[-1]
    assert isinstance(answer, Answer)
    assert [(r.event_id, r.opt_type) for r in answer.created.event_responses] == [("e1", ev.OPT_IN)]
    assert ven.book["e1"].opt == ev.OPT_IN  # the decision is the VEN's state before it is sent
    track = ops[1]
    assert isinstance(track, Track) and track.record is ven.book["e1"] and track.timers


def test_a_distribute_needing_no_answer_commits_the_decisions_instead() -> None:
    ven = machine()
    event = samples.minimal_event("e1")
    event["response_required"] = "never"
    ops, _ = run(ven.distribute(Ctx(now=samples.T0 - timedelta(hours=2)), distribute(event)), VTN())
    assert kinds(ops) == ["Ask", "Track", "Save", "Flush"]  # rules 12 and 62: nothing sent


def test_e1_1080_a_distribute_from_another_vtn_is_refused_without_asking() -> None:
    ven, vtn = machine(), VTN()
    ops, _ = run(ven.distribute(Ctx(), distribute(samples.minimal_event("e1"), vtn_id="vtn-alpha")), vtn)
    assert kinds(ops) == ["Send"] and vtn.sent[0][1] == EI_EVENT
    refusal = vtn.sent[0][0]
    assert isinstance(refusal, m.CreatedEvent) and [r.response_code for r in refusal.event_responses] == [452]
    assert ven.book == {}


def test_a_status_is_news_once_and_never_while_stopped() -> None:
    ven = machine()
    record = ev.EventRecord(event=samples.minimal_event("e1"), event_id="e1", modification_number=0)
    assert ven.status_due(record, "near") and record.status == "near"
    assert not ven.status_due(record, "near")
    ven.state = "stopped"
    assert not ven.status_due(record, "active") and record.status == "near"


# ---------------------------------------------------------------------- resume


def test_a_restored_ven_finishes_its_registration_delivers_its_outbox_and_asks_for_events() -> None:
    ven = machine()
    ven.outbox = m.CreatedEvent(response=ok("d0"), ven_id=samples.VEN_ID, event_responses=[])
    vtn = VTN()
    ops, nxt = run(ven.resume(Ctx()), vtn)
    assert nxt is None
    assert kinds(ops) == ["Reports", "Send", "Answer", "Send", "Save"]
    assert vtn.types() == ["RegisterReport", "RequestEvent"] and ops[-1] == Save(complete=True)


def test_a_restored_ven_the_vtn_forgot_registers_afresh() -> None:
    ven = machine()
    ven.complete = True
    ops, nxt = run(ven.resume(Ctx()), VTN(RequestEvent=response(452)))
    assert kinds(ops) == ["Send"] and nxt == Next(0.0, LOST) and not ven.registered


def test_a_restored_ven_refused_its_events_raises() -> None:
    ven = machine()
    ven.complete = True
    with pytest.raises(ProtocolError):
        run(ven.resume(Ctx()), VTN(RequestEvent=response(500)))
