"""fleetven.ven.events against the EiEvent rules of the OpenADR 2.0b checklist.

Each test is named after the rule it checks (numbers from ``shared/OPENADR.md``).
Events are small dicts from ``tests/samples.py``; the book is a plain dict.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import samples
from _helpers import assert_valid_oadr
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven.messages import build_message
from fleetven.openadr import model as m
from fleetven.ven.events import (
    OPT_IN,
    OPT_OUT,
    EventChange,
    EventRecord,
    Identity,
    cancel_delay,
    created_event,
    effective_start,
    reconcile,
    status_schedule,
)

VEN = samples.VEN_ID
ME = Identity(VEN, resource_ids={"res-1", "res-2"}, group_ids={"grp-1"}, party_ids={"party-1"})
T0 = samples.T0


def ev(
    event_id: str = "e1",
    *,
    mod: int = 0,
    status: str = "far",
    rr: str = "always",
    targets: list[dict[str, Any]] | None = None,
    signals: tuple[str, ...] = ("SIMPLE",),
    startafter: timedelta | None = None,
    duration: timedelta = timedelta(hours=1),
    test_event: bool = False,
    notification: timedelta | None = None,
    ramp_up: timedelta | None = None,
    recovery: timedelta | None = None,
) -> m.Event:
    """A minimal event dict (samples.minimal_event) with the given fields, flat copies kept consistent."""
    event = samples.minimal_event(event_id)
    event["modification_number"] = event["event_descriptor"]["modification_number"] = mod
    event["event_status"] = event["event_descriptor"]["event_status"] = status
    event["test_event"] = event["event_descriptor"]["test_event"] = test_event
    event["response_required"] = rr
    if targets is not None:
        event["targets"] = targets
        event["targets_by_type"] = samples.targets_by_type(targets)
    base = event["event_signals"][0]
    event["event_signals"] = [{**copy.deepcopy(base), "signal_name": name, "signal_id": f"sig-{i}"}
                              for i, name in enumerate(signals)]
    event["active_period"]["duration"] = duration
    if startafter is not None:
        event["active_period"]["tolerance"] = {"tolerate": {"startafter": startafter}}
    for key, value in (("notification", notification), ("ramp_up", ramp_up), ("recovery", recovery)):
        if value is not None:
            event["active_period"][key] = value
    return event


def dist(*events: m.Event, errors: list[m.EventError] | None = None, request_id: str = "req-d") -> m.DistributeEvent:
    return m.DistributeEvent(request_id=request_id, vtn_id=samples.VTN_ID, events=list(events), errors=errors or [])


def run(book: dict[str, EventRecord], *events: m.Event, seed: int = 1, **kw: Any) -> list[EventChange]:
    return reconcile(book, dist(*events, **kw), identity=ME, rng=random.Random(seed))


def kinds(changes: list[EventChange]) -> list[str]:
    return [c.kind for c in changes]


def answer(changes: list[EventChange], decisions: dict[str, str] | None = None,
           request_id: str = "req-d") -> m.CreatedEvent | None:
    return created_event(changes, decisions or {}, ven_id=VEN, request_id=request_id)


# ---------------------------------------------------------------- new, modified, stale, unchanged


def test_rule_56_new_event_id_is_new() -> None:
    book: dict[str, EventRecord] = {}
    event = ev("e1")
    [change] = run(book, event)
    assert change.kind == "new"
    assert change.needs_handler and change.respond and change.response_code == 200
    assert change.event is event and change.record is book["e1"]
    assert book["e1"].event is event and book["e1"].modification_number == 0 and book["e1"].opt is None


def test_rule_56_new_event_answered_with_the_handlers_decision() -> None:
    changes = run({}, ev("e1"), ev("e2"))
    created = answer(changes, {"e1": OPT_IN, "e2": OPT_OUT})
    assert created is not None
    assert [(r.event_id, r.opt_type, r.response_code) for r in created.event_responses] == [
        ("e1", OPT_IN, 200), ("e2", OPT_OUT, 200)]


def test_rule_56_handler_returning_nonsense_is_answered_opt_out() -> None:
    created = answer(run({}, ev("e1")), {"e1": "maybe"})
    assert created is not None and created.event_responses[0].opt_type == OPT_OUT


def test_rule_57_higher_modification_replaces() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    record = book["e1"]
    record.opt = OPT_IN
    newer = ev("e1", mod=2, status="near")
    [change] = run(book, newer)
    assert change.kind == "modified" and change.needs_handler and change.respond
    assert change.record is record  # updated in place: the VEN's timers stay reachable
    assert record.event is newer and record.modification_number == 2
    assert record.opt == OPT_IN  # until on_update_event decides again
    created = answer([change], {"e1": OPT_OUT})
    assert created is not None
    assert (created.event_responses[0].opt_type, created.event_responses[0].modification_number) == (OPT_OUT, 2)


def test_rule_57_higher_modification_with_status_cancelled_is_cancelled() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    [change] = run(book, ev("e1", mod=1, status="cancelled"))
    assert change.kind == "cancelled" and change.needs_handler
    assert book["e1"].event["event_status"] == "cancelled"


def test_rule_36_explicit_cancellation_is_confirmed() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    book["e1"].opt = OPT_IN
    changes = run(book, ev("e1", mod=1, status="cancelled"))
    created = answer(changes)
    assert created is not None
    [resp] = created.event_responses
    assert (resp.event_id, resp.modification_number, resp.response_code, resp.opt_type) == ("e1", 1, 200, OPT_IN)


def test_rule_58_lower_modification_is_stale_450() -> None:
    book: dict[str, EventRecord] = {}
    current = ev("e1", mod=3)
    run(book, current)
    book["e1"].opt = OPT_IN
    before = copy.copy(book["e1"])
    [change] = run(book, ev("e1", mod=1, status="active"))
    assert change.kind == "stale" and change.response_code == 450 and not change.needs_handler
    assert book["e1"] == before and book["e1"].event is current
    created = answer([change], {"e1": OPT_OUT})
    assert created is not None
    [resp] = created.event_responses
    assert (resp.response_code, resp.modification_number, resp.opt_type) == (450, 1, OPT_IN)


def test_rule_58_stale_before_any_decision_answers_opt_out() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1", mod=3))
    created = answer(run(book, ev("e1", mod=2)))
    assert created is not None and created.event_responses[0].opt_type == OPT_OUT


def test_same_modification_is_unchanged_and_answers_the_earlier_decision() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    book["e1"].opt = OPT_IN
    [change] = run(book, ev("e1"))
    assert change.kind == "unchanged" and not change.needs_handler and change.respond
    created = answer([change], {"e1": OPT_OUT})  # a stray decision does not override the record's
    assert created is not None and created.event_responses[0].opt_type == OPT_IN


# ---------------------------------------------------------------- cancellation


def test_rule_60_event_first_seen_cancelled_is_ignored() -> None:
    book: dict[str, EventRecord] = {}
    [change] = run(book, ev("e1", status="cancelled", mod=4))
    assert change.kind == "ignored" and not change.respond and not change.needs_handler
    assert book == {}
    assert answer([change]) is None


def test_rule_61_known_event_missing_is_implied_cancel() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"), ev("e2", mod=5), ev("e3"))
    record = book["e2"]
    changes = run(book, ev("e1"), ev("e3"))
    assert kinds(changes) == ["unchanged", "unchanged", "implied_cancel"]
    gone = changes[-1]
    assert (gone.event_id, gone.modification_number, gone.record, gone.event) == ("e2", 5, record, None)
    assert not gone.respond and not gone.needs_handler
    assert list(book) == ["e1", "e3"]


def test_rule_61_empty_distribute_cancels_everything_and_answers_nothing() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"), ev("e2"))
    changes = run(book)
    assert kinds(changes) == ["implied_cancel", "implied_cancel"] and book == {}
    assert answer(changes) is None


def test_rule_66_completed_is_not_a_cancel() -> None:
    book: dict[str, EventRecord] = {}
    [first] = run(book, ev("e1", status="completed"))
    assert first.kind == "new" and "e1" in book
    run(book, ev("e2", status="active"))  # e1 implied-cancelled; e2 known
    [change] = run(book, ev("e2", mod=1, status="completed"))
    assert change.kind == "modified" and book["e2"].event["event_status"] == "completed"


# ---------------------------------------------------------------- responseRequired


def test_rule_12_response_required_always_answers_every_event() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("known", mod=2))
    changes = run(book, ev("known", mod=1), ev("new"), ev("other", targets=[{"ven_id": "someone"}]),
                  ev("odd", signals=("BOGUS",)))
    assert kinds(changes) == ["stale", "new", "mismatch", "unsupported"]
    assert all(c.respond for c in changes)
    created = answer(changes)
    assert created is not None
    assert [r.response_code for r in created.event_responses] == [450, 200, 462, 460]


@pytest.mark.parametrize("scenario", ["new", "modified", "cancelled", "unchanged", "stale", "mismatch", "unsupported"])
def test_rule_62_response_required_never_never_answers(scenario: str) -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1", mod=1))
    incoming = {
        "new": ev("e2", rr="never"),
        "modified": ev("e1", mod=2, rr="never"),
        "cancelled": ev("e1", mod=2, status="cancelled", rr="never"),
        "unchanged": ev("e1", mod=1, rr="never"),
        "stale": ev("e1", mod=0, rr="never"),
        "mismatch": ev("e2", rr="never", targets=[{"ven_id": "someone-else"}]),
        "unsupported": ev("e2", rr="never", signals=("NOT_A_SIGNAL",)),
    }[scenario]
    if scenario in ("new", "mismatch", "unsupported"):
        changes = run(book, ev("e1", mod=1, rr="never"), incoming)
    else:
        changes = run(book, incoming)
    assert scenario in kinds(changes)
    assert not any(c.respond for c in changes)
    assert answer(changes, {"e1": OPT_IN, "e2": OPT_IN}) is None


# ---------------------------------------------------------------- mixed valid and invalid


def test_rule_19_48_mixed_valid_and_invalid_events_answered_each_in_document_order() -> None:
    errors = [
        m.EventError(response_code=454, description="invalid duration 'PT' at ...",
                     path="oadrDistributeEvent/oadrEvent[2]/eiEvent/eiActivePeriod/properties/duration",
                     event_id="bad", modification_number=3),
        m.EventError(response_code=452, description="missing eventID",
                     path="oadrDistributeEvent/oadrEvent[4]/eiEvent/eventDescriptor/eventID"),
    ]
    changes = run({}, ev("a"), ev("b"), errors=errors, request_id="req-mixed")
    assert kinds(changes) == ["new", "invalid", "new", "invalid"]
    bad = changes[1]
    assert (bad.event_id, bad.modification_number, bad.response_code, bad.respond, bad.event) == (
        "bad", 3, 454, True, None)
    created = answer(changes, {"a": OPT_IN, "b": OPT_IN}, request_id="req-mixed")
    assert created is not None
    assert (created.response.response_code, created.response.request_id) == (200, "req-mixed")
    assert [(r.event_id, r.response_code, r.opt_type) for r in created.event_responses] == [
        ("a", 200, OPT_IN), ("bad", 454, OPT_OUT), ("b", 200, OPT_IN), ("", 452, OPT_OUT)]
    assert {r.request_id for r in created.event_responses} == {"req-mixed"}
    assert created.event_responses[1].response_description == "invalid duration 'PT' at ..."


def test_rule_19_unreadable_copy_of_a_known_event_keeps_it() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("a"))
    record = book["a"]
    error = m.EventError(response_code=454, description="bad", path="oadrDistributeEvent/oadrEvent[1]/eiEvent",
                         event_id="a", modification_number=1)
    changes = run(book, errors=[error])
    assert kinds(changes) == ["invalid"]
    assert book == {"a": record} and record.modification_number == 0


def test_rule_19_errors_without_position_go_last() -> None:
    error = m.EventError(response_code=454, description="bad")
    assert kinds(run({}, ev("a"), ev("b"), errors=[error])) == ["new", "new", "invalid"]


# ---------------------------------------------------------------- targets (rule 22)


@pytest.mark.parametrize(("targets", "for_me"), [
    ([], True),
    ([{"end_device_asset": {"mrid": "Energy_Management_System"}}, {"group_name": "anything"}], True),
    ([{"ven_id": VEN}], True),
    ([{"ven_id": "someone"}, {"ven_id": VEN}], True),
    ([{"ven_id": "someone"}], False),
    ([{"ven_id": VEN.upper()}], False),  # exact, case-sensitive
    ([{"ven_id": " " + VEN}], False),
    ([{"resource_id": "res-2"}], True),
    ([{"resource_id": "res-3"}], False),
    ([{"group_id": "grp-1"}], True),
    ([{"group_id": "GRP-1"}], False),
    ([{"party_id": "party-1"}], True),
    ([{"party_id": "party-2"}, {"end_device_asset": {"mrid": "x"}}], False),
    ([{"ven_id": "someone"}, {"resource_id": "res-1"}], True),
])
def test_rule_22_target_matching(targets: list[dict[str, Any]], for_me: bool) -> None:
    book: dict[str, EventRecord] = {}
    [change] = run(book, ev("e1", targets=targets))
    if for_me:
        assert change.kind == "new" and "e1" in book
    else:
        assert (change.kind, change.response_code, change.record, change.needs_handler) == ("mismatch", 462, None,
                                                                                            False)
        assert book == {}


def test_rule_22_unregistered_ven_matches_no_ven_id_target() -> None:
    changes = reconcile({}, dist(ev("e1", targets=[{"ven_id": VEN}])), identity=Identity(None), rng=random.Random(0))
    assert kinds(changes) == ["mismatch"]


def test_rule_22_mismatch_answered_only_when_response_required_always() -> None:
    other = [{"ven_id": "someone"}]
    [always] = run({}, ev("e1", targets=other))
    [never] = run({}, ev("e1", targets=other, rr="never"))
    assert always.respond and not never.respond


def test_rule_22_known_event_retargeted_away_is_mismatch_and_implied_cancel() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    record = book["e1"]
    changes = run(book, ev("e1", mod=1, targets=[{"ven_id": "someone"}]))
    assert kinds(changes) == ["mismatch", "implied_cancel"]
    assert changes[1].record is record and book == {}


def test_sample_event_targets_this_ven() -> None:
    assert kinds(run({}, samples.event("e1"), samples.rich_event())) == ["new", "new"]


# ---------------------------------------------------------------- signal names


@pytest.mark.parametrize("name", [
    "SIMPLE", "simple", "ELECTRICITY_PRICE", "ENERGY_PRICE", "DEMAND_CHARGE", "BID_PRICE", "BID_LOAD",
    "BID_ENERGY", "CHARGE_STATE", "LOAD_DISPATCH", "LOAD_CONTROL", "x-anything", "x-",
])
def test_standard_and_x_signal_names_are_accepted(name: str) -> None:
    assert kinds(run({}, ev("e1", signals=("SIMPLE", name)))) == ["new"]


@pytest.mark.parametrize("name", ["Simple", "X-custom", "PRICE", "", "xcustom"])
def test_unsupported_signal_name_is_460(name: str) -> None:
    book: dict[str, EventRecord] = {}
    [change] = run(book, ev("e1", signals=("SIMPLE", name)))
    assert (change.kind, change.response_code, change.record) == ("unsupported", 460, None)
    assert book == {}
    created = answer([change])
    assert created is not None and created.event_responses[0].opt_type == OPT_OUT


# ---------------------------------------------------------------- startAfter (rule 65)


def test_rule_65_start_after_offset_is_random_within_the_window_and_kept() -> None:
    window = timedelta(minutes=10)
    offsets = set()
    for seed in range(20):
        book: dict[str, EventRecord] = {}
        run(book, ev("e1", startafter=window), seed=seed)
        offset = book["e1"].start_offset
        assert 0.0 <= offset <= window.total_seconds()
        assert effective_start(book["e1"]) == T0 + timedelta(seconds=offset)
        offsets.add(offset)
        run(book, ev("e1", mod=1, startafter=window, status="near"), seed=seed + 1000)
        assert book["e1"].start_offset == offset  # kept across a modification
    assert len(offsets) > 1


def test_rule_65_start_after_offset_is_deterministic_given_the_rng() -> None:
    def offset(seed: int) -> float:
        book: dict[str, EventRecord] = {}
        run(book, ev("e1", startafter=timedelta(minutes=5)), seed=seed)
        return book["e1"].start_offset
    assert offset(7) == offset(7)


def test_rule_65_changed_start_after_draws_a_new_offset() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1", startafter=timedelta(minutes=5)), seed=3)
    first = book["e1"].start_offset
    run(book, ev("e1", mod=1, startafter=timedelta(hours=5)), seed=4)
    second = book["e1"].start_offset
    assert second != first and 0 <= second <= 5 * 3600
    run(book, ev("e1", mod=2), seed=5)
    assert book["e1"].start_offset == 0.0 and effective_start(book["e1"]) == T0


def test_rule_65_no_start_after_means_no_offset() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    assert book["e1"].start_offset == 0.0 and effective_start(book["e1"]) == T0


def test_rule_65_cancellation_takes_effect_after_a_random_delay() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1", startafter=timedelta(minutes=2)), ev("e2"))
    delays = {cancel_delay(book["e1"], random.Random(seed)) for seed in range(10)}
    assert all(0 <= d <= 120 for d in delays) and len(delays) > 1
    assert cancel_delay(book["e2"], random.Random(0)) == 0.0


# ---------------------------------------------------------------- status schedule


def record_of(event: m.Event, offset: float = 0.0) -> EventRecord:
    return EventRecord(event=event, event_id=event["event_id"], modification_number=event["modification_number"],
                       start_offset=offset)


def test_status_schedule_plain_event() -> None:
    assert status_schedule(record_of(ev())) == [(T0, "active"), (T0 + timedelta(hours=1), "completed")]


def test_status_schedule_ramp_up_wins_over_notification() -> None:
    rec = record_of(ev(ramp_up=timedelta(minutes=15), notification=timedelta(days=1),
                       recovery=timedelta(minutes=30)), offset=60.0)
    start = T0 + timedelta(minutes=1)
    assert status_schedule(rec) == [
        (start - timedelta(minutes=15), "near"),
        (start, "active"),
        (start + timedelta(hours=1, minutes=30), "completed"),
    ]


def test_status_schedule_notification_without_ramp_up() -> None:
    sched = status_schedule(record_of(ev(notification=timedelta(hours=2))))
    assert sched[0] == (T0 - timedelta(hours=2), "near")


def test_status_schedule_open_ended_event_never_completes() -> None:
    assert status_schedule(record_of(ev(duration=timedelta(0)))) == [(T0, "active")]


def test_rule_6_test_event_gets_no_status_transitions() -> None:
    book: dict[str, EventRecord] = {}
    [change] = run(book, ev("e1", test_event=True, ramp_up=timedelta(minutes=5)))
    assert change.kind == "new"  # still answered and handed to the handler
    assert status_schedule(book["e1"]) == []


def test_status_schedule_cancelled_event_gets_none() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1"))
    run(book, ev("e1", mod=1, status="cancelled"))
    assert status_schedule(book["e1"]) == []


_dur = st.one_of(st.none(), st.integers(0, 86400).map(lambda s: timedelta(seconds=s)))


@settings(max_examples=300, deadline=None)
@given(notification=_dur, ramp_up=_dur, recovery=_dur, startafter=_dur,
       duration=st.integers(0, 86400).map(lambda s: timedelta(seconds=s)), seed=st.integers(0, 2**32))
def test_status_schedule_is_ordered_near_active_completed(
    notification: timedelta | None, ramp_up: timedelta | None, recovery: timedelta | None,
    startafter: timedelta | None, duration: timedelta, seed: int,
) -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("e1", startafter=startafter, duration=duration, notification=notification, ramp_up=ramp_up,
                 recovery=recovery), seed=seed)
    rec = book["e1"]
    sched = status_schedule(rec)
    times = [t for t, _ in sched]
    names = [s for _, s in sched]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert names in (["near", "active", "completed"], ["active", "completed"], ["near", "active"], ["active"])
    assert dict((s, t) for t, s in sched)["active"] == effective_start(rec)
    start = effective_start(rec)
    assert T0 <= start <= T0 + (startafter or timedelta(0))
    assert ("near" in names) == bool(ramp_up or notification)
    assert ("completed" in names) == bool(duration)
    if "completed" in names:
        assert times[-1] == start + duration + (recovery or timedelta(0))


# ---------------------------------------------------------------- the oadrCreatedEvent


def test_rule_19_48_created_event_order_request_ids_and_top_level_200() -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("old", mod=4))
    book["old"].opt = OPT_IN
    changes = run(book, ev("n1"), ev("old", mod=2), ev("never", rr="never"), ev("n2"), request_id="req-77")
    created = answer(changes, {"n1": OPT_IN, "n2": OPT_OUT, "never": OPT_IN}, request_id="req-77")
    assert created is not None
    assert created.ven_id == VEN
    assert (created.response.response_code, created.response.request_id) == (200, "req-77")
    assert [(r.event_id, r.response_code, r.opt_type, r.request_id) for r in created.event_responses] == [
        ("n1", 200, OPT_IN, "req-77"), ("old", 450, OPT_IN, "req-77"), ("n2", 200, OPT_OUT, "req-77")]


def test_created_event_builds_and_validates_against_the_schema(oadr_schema: etree.XMLSchema) -> None:
    book: dict[str, EventRecord] = {}
    run(book, ev("stale-one", mod=9))
    errors = [m.EventError(response_code=454, description="bad <value> & more",
                           path="oadrDistributeEvent/oadrEvent[5]/eiEvent", event_id="broken", modification_number=1),
              m.EventError(response_code=452, description="no eventID")]
    changes = run(book, samples.rich_event(), ev("new-one"), ev("stale-one", mod=1),
                  ev("theirs", targets=[{"ven_id": "x"}]), ev("odd", signals=("BOGUS",)),
                  ev("stale-one", mod=9, rr="never"), errors=errors)
    created = answer(changes, {"new-one": OPT_IN})
    assert created is not None and len(created.event_responses) == 6
    data = build_message(created)
    assert_valid_oadr(oadr_schema, data)
    assert b"req-d" in data and b"<ei:optType>optIn</ei:optType>" in data


def test_created_event_is_none_when_nothing_needs_an_answer() -> None:
    assert answer([]) is None
    assert answer(run({}, ev("e1", rr="never"))) is None


# ---------------------------------------------------------------- property: idempotence


_spec = st.fixed_dictionaries({
    "mod": st.integers(0, 3),
    "status": st.sampled_from(["far", "near", "active", "completed", "cancelled"]),
    "rr": st.sampled_from(["always", "never"]),
    "target": st.sampled_from(["none", "me", "group", "other"]),
    "signal": st.sampled_from(["SIMPLE", "x-a", "BOGUS"]),
    "startafter": st.sampled_from([None, 0, 300]),
})
_ids = st.sampled_from([f"e{i}" for i in range(6)])
_TARGETS = {"none": [], "me": [{"ven_id": VEN}], "group": [{"group_id": "grp-1"}], "other": [{"ven_id": "other"}]}


def _build(specs: dict[str, dict[str, Any]], errors: Sequence[str] = ()) -> m.DistributeEvent:
    events = [
        ev(eid, mod=s["mod"], status=s["status"], rr=s["rr"], targets=_TARGETS[s["target"]], signals=(s["signal"],),
           startafter=None if s["startafter"] is None else timedelta(seconds=s["startafter"]))
        for eid, s in specs.items()
    ]
    errs = [m.EventError(response_code=454, description="bad", event_id=eid, modification_number=0)
            for eid in errors]
    return dist(*events, errors=errs)


_message = st.dictionaries(_ids, _spec, max_size=6)


@settings(max_examples=300, deadline=None)
@given(first=_message, second=_message, bad=st.lists(st.sampled_from(["e4", "e5", "e6"]), unique=True, max_size=2),
       opts=st.lists(st.sampled_from([None, OPT_IN, OPT_OUT]), min_size=6, max_size=6), seed=st.integers(0, 2**32))
def test_property_same_distribute_twice_changes_nothing(
    first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]], bad: list[str],
    opts: list[str | None], seed: int,
) -> None:
    rng = random.Random(seed)
    book: dict[str, EventRecord] = {}
    reconcile(book, _build(first), identity=ME, rng=rng)
    for record, opt in zip(book.values(), opts):
        record.opt = opt
    second = {k: v for k, v in second.items() if k not in bad}
    msg = _build(second, bad)
    once = reconcile(book, msg, identity=ME, rng=rng)
    snapshot = {k: copy.copy(v) for k, v in book.items()}
    objects = {k: id(v) for k, v in book.items()}
    state = rng.getstate()
    twice = reconcile(book, msg, identity=ME, rng=rng)

    assert book == snapshot and {k: id(v) for k, v in book.items()} == objects
    assert rng.getstate() == state  # nothing new was drawn
    assert len(twice) == len(msg.events) + len(msg.errors)  # no implied cancels the second time
    stored_kinds = {"new", "modified", "cancelled", "unchanged"}
    for a, b in zip(once, twice):
        assert a.event_id == b.event_id
        assert b.kind == ("unchanged" if a.kind in stored_kinds else a.kind)
        assert not b.needs_handler
        assert b.respond == a.respond and b.response_code == a.response_code
    # the answer repeats the decisions of the first pass (as recorded)
    for c in once:
        if c.record is not None and c.needs_handler:
            c.record.opt = OPT_IN
    again = answer(twice)
    if again is not None:
        first_answer = answer(once, {c.event_id: OPT_IN for c in once if c.event_id})
        assert first_answer is not None
        assert [(r.event_id, r.response_code, r.opt_type) for r in again.event_responses] == [
            (r.event_id, r.response_code, r.opt_type) for r in first_answer.event_responses]


_good_spec = st.fixed_dictionaries({
    "mod": st.integers(0, 3),
    "status": st.sampled_from(["far", "near", "active", "completed"]),
    "rr": st.sampled_from(["always", "never"]),
    "target": st.sampled_from(["none", "me", "group"]),
    "signal": st.sampled_from(["SIMPLE", "x-a", "LOAD_CONTROL"]),
    "startafter": st.sampled_from([None, 0, 300]),
})


@settings(max_examples=200, deadline=None)
@given(specs=st.dictionaries(_ids, _good_spec, max_size=6), seed=st.integers(0, 2**32))
def test_property_acceptable_distribute_twice_is_all_unchanged(specs: dict[str, dict[str, Any]], seed: int) -> None:
    rng = random.Random(seed)
    book: dict[str, EventRecord] = {}
    msg = _build(specs)
    assert set(kinds(reconcile(book, msg, identity=ME, rng=rng))) <= {"new"}
    snapshot = {k: copy.copy(v) for k, v in book.items()}
    assert kinds(reconcile(book, msg, identity=ME, rng=rng)) == ["unchanged"] * len(specs)
    assert book == snapshot and list(book) == list(specs)
