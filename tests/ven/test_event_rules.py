"""The VEN's event decisions (fleetven.ven.decide around fleetven.ven.events), driven by plain calls on
model objects and a plain book: no socket, no event loop, no handler task. Named after the rules of
``shared/OPENADR.md``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
import samples

from fleetven.openadr import model as m
from fleetven.openadr.services import EI_EVENT
from fleetven.ven import decide
from fleetven.ven import events as ev
from fleetven.ven.machine import Answer, Ask, Op, Send, Track

from ._steps import Ctx, machine, run

VEN = samples.VEN_ID
ME = ev.Identity(VEN, resource_ids={"res-1"}, group_ids={"grp-1"}, party_ids={"party-1"})
T0 = samples.T0
BEFORE = T0 - timedelta(hours=2)  # "now" in most tests: every event still in the future


def event(event_id: str = "e1", *, mod: int = 0, status: str = "far", rr: str = "always",
          targets: list[dict[str, Any]] | None = None, signal: str = "SIMPLE", test_event: bool = False,
          startafter: timedelta | None = None, ramp_up: timedelta | None = None) -> m.Event:
    e = samples.minimal_event(event_id)
    e["modification_number"] = e["event_descriptor"]["modification_number"] = mod
    e["event_status"] = e["event_descriptor"]["event_status"] = status
    e["test_event"] = e["event_descriptor"]["test_event"] = test_event
    e["response_required"] = rr
    e["event_signals"][0]["signal_name"] = signal
    if targets is not None:
        e["targets"] = targets
        e["targets_by_type"] = samples.targets_by_type(targets)
    if startafter is not None:
        e["active_period"]["tolerance"] = {"tolerate": {"startafter": startafter}}
    if ramp_up is not None:
        e["active_period"]["ramp_up"] = ramp_up
    return e


def dist(*events: m.Event, errors: list[m.EventError] | None = None, vtn_id: str = samples.VTN_ID) -> m.DistributeEvent:
    return m.DistributeEvent(request_id="req-d", vtn_id=vtn_id, events=list(events), errors=errors or [])


class Driver:
    """One VEN's machine (fleetven.ven.machine.VenMachine) driven through its distribute step by hand:
    the handler answers are inputs; the oadrCreatedEvent, the implied cancellations told and the
    status timers are the ops it yields."""

    def __init__(self, seed: int = 1) -> None:
        self.ven = machine(resource_ids={"res-1"}, group_ids={"grp-1"}, party_ids={"party-1"})
        self.ctx = Ctx(seed=seed)
        self.asked: list[tuple[str, str | None]] = []  # (kind, event_id) the handler was asked about
        self.told: list[m.Event] = []  # implied cancellations on_update_event hears of
        self.timers: dict[str, list[tuple[float, str]] | None] = {}

    @property
    def book(self) -> Mapping[str, ev.EventRecord]:
        """The machine's book now (a VEN that knows no event shares the read-only empty one)."""
        return self.ven.book

    def cycle(self, msg: m.DistributeEvent, answer: Any = ev.OPT_IN, *, now: datetime = BEFORE,
              handler: bool = True) -> m.CreatedEvent | None:
        self.ctx.clock = now
        for e in msg.events:
            self.timers[e["event_id"]] = None  # left alone unless the step arms them
        sent: list[m.CreatedEvent | None] = [None]

        def reply(op: Op) -> Any:
            if isinstance(op, Ask):
                decisions = {}
                for change in op.asked:
                    self.asked.append((change.kind, change.event_id))
                    opt = (decide.handler_answer(answer) or ev.OPT_OUT) if handler else decide.fallback_answer(change)
                    assert change.event_id is not None
                    decisions[change.event_id] = opt
                self.told += [record.event for record in op.implied]
                return decisions
            if isinstance(op, Track):
                self.timers[op.record.event_id] = op.timers
            elif isinstance(op, (Answer, Send)):
                assert sent[0] is None, "one oadrCreatedEvent per distribute"
                created = op.created if isinstance(op, Answer) else op.msg
                assert isinstance(created, m.CreatedEvent)
                sent[0] = created
                if isinstance(op, Send):
                    assert op.service == EI_EVENT
            return None

        _ops, nxt = run(self.ven.distribute(self.ctx, msg), reply)
        assert nxt is None
        return sent[0]


def codes(created: m.CreatedEvent | None) -> list[tuple[str, int, str]]:
    assert created is not None
    return [(r.event_id, r.response_code, r.opt_type) for r in created.event_responses]


def test_rule_56_new_event_asks_on_event_and_answers_its_decision() -> None:
    d = Driver()
    created = d.cycle(dist(event("e1")), ev.OPT_IN)
    assert d.asked == [("new", "e1")]
    assert codes(created) == [("e1", 200, ev.OPT_IN)]
    assert created is not None and created.ven_id == VEN and created.response.response_code == 200
    assert created.response.request_id == "req-d" and created.event_responses[0].request_id == "req-d"
    assert d.book["e1"].opt == ev.OPT_IN


def test_rule_57_higher_modification_replaces_and_asks_on_update_event() -> None:
    d = Driver()
    d.cycle(dist(event("e1")), ev.OPT_IN)
    created = d.cycle(dist(event("e1", mod=1)), ev.OPT_OUT)
    assert d.asked == [("new", "e1"), ("modified", "e1")]
    assert codes(created) == [("e1", 200, ev.OPT_OUT)]
    assert d.book["e1"].modification_number == 1


def test_same_modification_asks_nothing_and_repeats_the_earlier_answer() -> None:
    d = Driver()
    d.cycle(dist(event("e1")), ev.OPT_IN)
    created = d.cycle(dist(event("e1")), ev.OPT_OUT)
    assert d.asked == [("new", "e1")]
    assert codes(created) == [("e1", 200, ev.OPT_IN)]
    assert d.timers["e1"] is None  # its timers are left alone


def test_rule_58_lower_modification_is_450_and_the_record_is_kept() -> None:
    d = Driver()
    d.cycle(dist(event("e1", mod=3)), ev.OPT_IN)
    created = d.cycle(dist(event("e1", mod=2)))
    assert codes(created) == [("e1", 450, ev.OPT_IN)]
    assert d.book["e1"].modification_number == 3 and len(d.asked) == 1


def test_rule_60_an_event_first_seen_cancelled_is_ignored() -> None:
    d = Driver()
    created = d.cycle(dist(event("e1", status="cancelled", rr="never")))
    assert created is None and d.book == {} and d.asked == []


def test_rule_61_left_out_means_cancelled_and_on_update_event_hears_of_it() -> None:
    d = Driver()
    d.cycle(dist(event("e1"), event("e2")))
    created = d.cycle(dist(event("e2")))
    assert "e1" not in d.book and list(d.book) == ["e2"]
    assert [(e["event_id"], e["event_status"], e["event_descriptor"]["event_status"]) for e in d.told] == [
        ("e1", "cancelled", "cancelled")]
    assert d.timers["e1"] == [(0.0, "cancelled")]  # delivered to on_event_status (no startAfter: at once)
    assert codes(created) == [("e2", 200, ev.OPT_IN)]  # nothing asked: nothing answered for e1


def test_rule_61_an_event_already_over_is_not_cancelled_by_leaving_it_out() -> None:
    d = Driver()
    d.cycle(dist(event("e1"), event("e2")))
    after = T0 + timedelta(hours=2)  # e1 (one hour from T0) completed
    d.cycle(dist(event("e2")), now=after)
    assert d.told == [] and d.timers["e1"] == []


def test_rule_66_completed_is_not_a_cancel() -> None:
    d = Driver()
    d.cycle(dist(event("e1")))
    d.cycle(dist(event("e1", mod=1, status="completed")))
    assert d.asked[-1] == ("modified", "e1") and "e1" in d.book
    timers = d.timers["e1"]
    assert timers is not None and "cancelled" not in [status for _, status in timers]


def test_rule_36_a_cancellation_is_confirmed_and_takes_effect() -> None:
    d = Driver()
    d.cycle(dist(event("e1")), ev.OPT_IN)
    created = d.cycle(dist(event("e1", mod=1, status="cancelled")), ev.OPT_IN)
    assert d.asked[-1] == ("cancelled", "e1")
    assert codes(created) == [("e1", 200, ev.OPT_IN)]
    assert d.timers["e1"] == [(0.0, "cancelled")]


def test_rules_12_62_response_required_always_and_never() -> None:
    d = Driver()
    created = d.cycle(dist(event("a", rr="always"), event("n", rr="never")))
    assert d.asked == [("new", "a"), ("new", "n")]  # both decided
    assert codes(created) == [("a", 200, ev.OPT_IN)]  # only "always" answered
    assert Driver().cycle(dist(event("n", rr="never"))) is None  # nothing at all to send


def test_rules_19_48_mixed_valid_and_invalid_each_answered_200_on_top() -> None:
    d = Driver()
    bad = m.EventError(response_code=454, description="bad dtstart", path="oadrEvent[2]", event_id="bad",
                       modification_number=4)
    created = d.cycle(dist(event("ok1"), event("ok2"), errors=[bad]))
    assert codes(created) == [("ok1", 200, ev.OPT_IN), ("bad", 454, ev.OPT_OUT), ("ok2", 200, ev.OPT_IN)]
    assert created is not None and created.response.response_code == 200
    assert created.event_responses[1].response_description == "bad dtstart"
    assert created.event_responses[1].modification_number == 4


def test_rule_22_targets_462_for_another_ven() -> None:
    d = Driver()
    created = d.cycle(dist(event("mine", targets=[{"group_id": "grp-1"}]),
                           event("theirs", targets=[{"ven_id": "someone-else"}]),
                           event("anyone", targets=[])))
    assert codes(created) == [("mine", 200, ev.OPT_IN), ("theirs", 462, ev.OPT_OUT), ("anyone", 200, ev.OPT_IN)]
    assert set(d.book) == {"mine", "anyone"} and ("new", "theirs") not in d.asked


def test_unsupported_signal_460_and_x_names_accepted() -> None:
    d = Driver()
    created = d.cycle(dist(event("x", signal="x-custom"), event("bad", signal="NOT_A_SIGNAL")))
    assert codes(created) == [("x", 200, ev.OPT_IN), ("bad", 460, ev.OPT_OUT)]


def test_rule_6_test_event_is_decided_and_answered_but_never_actuated() -> None:
    d = Driver()
    created = d.cycle(dist(event("t", test_event=True)))
    assert codes(created) == [("t", 200, ev.OPT_IN)]
    assert d.timers["t"] == []  # no near/active/completed: never actuate
    assert d.timers is not None
    d.cycle(dist(event("n")))
    assert [s for _, s in d.timers["n"] or []] == ["active", "completed"]


def test_status_timers_in_seconds_from_now_with_the_latest_past_first() -> None:
    d = Driver()
    d.cycle(dist(event("e1", ramp_up=timedelta(minutes=30))), now=T0 - timedelta(minutes=10))
    assert d.timers["e1"] == [(0.0, "near"), (600.0, "active"), (4200.0, "completed")]


def test_rule_65_start_after_offset_is_drawn_once_and_kept() -> None:
    d = Driver(seed=7)
    window = timedelta(minutes=10)
    d.cycle(dist(event("e1", startafter=window)))
    offset = d.book["e1"].start_offset
    assert 0.0 <= offset <= 600.0 and offset > 0.0
    d.cycle(dist(event("e1", mod=1, startafter=window)))  # a modification leaving startAfter alone
    assert d.book["e1"].start_offset == offset
    assert ev.effective_start(d.book["e1"]) == T0 + timedelta(seconds=offset)
    timers = d.timers["e1"]
    assert timers is not None and timers[0][1] == "active"
    assert timers[0][0] == pytest.approx((T0 - BEFORE).total_seconds() + offset, abs=1e-5)  # datetimes keep µs
    # a cancellation of such an event takes effect after a random delay within startAfter
    d.cycle(dist(event("e1", mod=2, status="cancelled", startafter=window)))
    cancel = d.timers["e1"]
    assert cancel is not None and len(cancel) == 1 and cancel[0][1] == "cancelled"
    assert 0.0 <= cancel[0][0] <= 600.0


def test_foreign_vtn_id_answers_452_for_every_event() -> None:
    d = Driver()
    bad = m.EventError(response_code=454, description="x", event_id="e3", modification_number=None)
    created = d.cycle(dist(event("e1"), event("e2", mod=5), errors=[bad], vtn_id=samples.VTN_ID.lower()))
    assert [(r.event_id, r.response_code, r.modification_number, r.opt_type)
            for r in (created.event_responses if created else [])] == [
        ("e1", 452, 0, ev.OPT_OUT), ("e2", 452, 5, ev.OPT_OUT), ("e3", 452, 0, ev.OPT_OUT)]
    assert d.book == {} and d.asked == []
    assert decide.answer_all(dist(vtn_id="other"), 452, "x", ven_id=VEN) is None


def test_handler_answers_other_than_opt_in_or_out_count_as_opt_out() -> None:
    assert decide.handler_answer("optIn") == ev.OPT_IN and decide.handler_answer("optOut") == ev.OPT_OUT
    for wrong in (None, "OPTIN", True, 1):
        assert decide.handler_answer(wrong) is None
    d = Driver()
    assert codes(d.cycle(dist(event("e1")), "yes please")) == [("e1", 200, ev.OPT_OUT)]


def test_without_handlers_new_events_opt_out_and_changes_keep_the_earlier_answer() -> None:
    d = Driver()
    d.cycle(dist(event("e1")), ev.OPT_IN)
    assert codes(d.cycle(dist(event("e1", mod=1)), handler=False)) == [("e1", 200, ev.OPT_IN)]
    assert codes(d.cycle(dist(event("e2")), handler=False)) == [("e2", 200, ev.OPT_OUT)]
