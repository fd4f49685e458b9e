"""The VEN's opt decisions (fleetven.ven.opt, EiOpt), driven by plain calls on model objects: no socket,
no event loop, no fleet."""

from __future__ import annotations

from datetime import timedelta

import pytest
import samples
from lxml import etree

from fleetven.exceptions import ConfigurationError
from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.ven import events as ev
from fleetven.ven import opt as op

VEN = samples.VEN_ID
T0 = samples.T0
HOUR = timedelta(hours=1)


def book(event_id: str = "e1", mod: int = 3) -> dict[str, ev.EventRecord]:
    """An event book holding one event at modification ``mod``."""
    return {event_id: ev.EventRecord(event=samples.minimal_event(event_id), event_id=event_id,
                                     modification_number=mod)}


def create(**given: object) -> m.CreateOpt:
    """An ``oadrCreateOpt`` of this VEN with the arguments ``given`` over a schedule's defaults."""
    args: dict[str, object] = {"opt_id": "opt-1", "opt_type": ev.OPT_OUT, "opt_reason": "economic", "ven_id": VEN,
                               "created": T0, "request_id": "req-o", "vavailability": [(T0, HOUR)]}
    args.update(given)
    return op.create_opt(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the arguments, before anything is sent

@pytest.mark.parametrize("opt_type", [ev.OPT_IN, ev.OPT_OUT])
@pytest.mark.parametrize("reason", [*sorted(op.OPT_REASONS), "x-my-reason"])
def test_opt_types_and_reasons_of_the_schema_pass(opt_type: str, reason: str) -> None:
    op.check_create(opt_type, reason, event_id="e1", vavailability=None, name="site-1")
    op.check_create(opt_type, reason, event_id=None, vavailability=[(T0, HOUR)], name="site-1")


@pytest.mark.parametrize("opt_type", ["maybe", "optin", "OPT_IN", "", None])
def test_an_opt_type_other_than_optin_or_optout_is_refused(opt_type: object) -> None:
    with pytest.raises(ConfigurationError, match=r"opt_type .* site-1"):
        op.check_create(opt_type, "economic", event_id="e1", vavailability=None, name="site-1")  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", ["because", "Economic", "X-upper", "", None, 3])
def test_a_reason_outside_the_schema_and_not_an_x_name_is_refused(reason: object) -> None:
    with pytest.raises(ConfigurationError, match="opt_reason"):
        op.check_create(ev.OPT_IN, reason, event_id="e1", vavailability=None, name="site-1")  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", sorted(op.OPT_REASONS))
def test_every_opt_reason_passed_is_one_the_schema_accepts(reason: str, oadr_schema: etree.XMLSchema) -> None:
    oadr_schema.assertValid(etree.fromstring(build_message(create(opt_reason=reason))))


@pytest.mark.parametrize(("event_id", "windows", "words"), [
    ("e1", [(T0, HOUR)], "not both"),
    (None, None, "one of them"),
])
def test_an_opt_is_for_one_event_or_a_schedule_never_both_nor_neither(event_id: str | None, windows: object,
                                                                      words: str) -> None:
    with pytest.raises(ConfigurationError, match=f"either event_id .*{words}"):
        op.check_create(ev.OPT_IN, "economic", event_id=event_id, vavailability=windows, name="site-1")


def test_an_empty_schedule_is_still_a_schedule() -> None:
    op.check_create(ev.OPT_OUT, "economic", event_id=None, vavailability=[], name="site-1")
    assert create(vavailability=[]).vavailability == []


# ------------------------------------------------------------------ the oadrCreateOpt

def test_an_event_opt_without_a_modification_number_takes_the_books() -> None:
    assert op.modification_number(book("e1", 3), "e1", None) == 3


def test_an_event_opt_for_an_event_the_ven_does_not_know_is_modification_0() -> None:
    assert op.modification_number(book("e1", 3), "other", None) == 0
    assert op.modification_number({}, "e1", None) == 0


def test_a_modification_number_given_is_kept_and_a_schedule_has_none() -> None:
    assert op.modification_number(book("e1", 3), "e1", 1) == 1
    assert op.modification_number(book("e1", 3), None, None) is None


def test_the_targets_are_the_ven_itself_by_default() -> None:
    assert create().targets == [{"ven_id": VEN}]
    given = [{"resource_id": "res-1"}, {"group_id": "grp-1"}]
    msg = create(targets=given)
    assert msg.targets == given and msg.targets is not given


def test_availability_windows_in_every_form_a_caller_gives() -> None:
    window = m.AvailableWindow(dtstart=T0, duration=HOUR)
    got = op.windows([window, (T0 + HOUR, 2 * HOUR), {"dtstart": T0 + 3 * HOUR, "duration": timedelta(minutes=30)}])
    assert got == [window, m.AvailableWindow(dtstart=T0 + HOUR, duration=2 * HOUR),
                   m.AvailableWindow(dtstart=T0 + 3 * HOUR, duration=timedelta(minutes=30))]
    assert got[0] is window


def test_a_schedule_opt_carries_its_windows_and_no_event() -> None:
    msg = create(vavailability=[(T0, HOUR), {"dtstart": T0 + HOUR, "duration": HOUR}], market_context="http://mc")
    assert msg.vavailability == [m.AvailableWindow(dtstart=T0, duration=HOUR),
                                 m.AvailableWindow(dtstart=T0 + HOUR, duration=HOUR)]
    assert msg.event_id is None and msg.modification_number is None
    assert (msg.opt_id, msg.opt_type, msg.opt_reason, msg.ven_id, msg.market_context) == (
        "opt-1", ev.OPT_OUT, "economic", VEN, "http://mc")


def test_an_event_opt_carries_the_event_and_no_windows() -> None:
    msg = create(vavailability=None, event_id="e1", opt_type=ev.OPT_IN,
                 modification_number=op.modification_number(book("e1", 4), "e1", None))
    assert msg.vavailability is None
    assert (msg.event_id, msg.modification_number, msg.opt_type) == ("e1", 4, ev.OPT_IN)


@pytest.mark.parametrize("kind", ["schedule", "event"])
def test_the_oadr_create_opt_is_valid_2_0b(kind: str, oadr_schema: etree.XMLSchema) -> None:
    if kind == "schedule":
        msg = create(market_context="http://mc")
    else:
        msg = create(vavailability=None, event_id="e1", modification_number=2, signal_target_mrid="mrid-1")
    data = build_message(msg)
    oadr_schema.assertValid(etree.fromstring(data))
    assert parse_message(data) == msg


# ------------------------------------------------------------------ cancelling

def test_only_an_opt_the_ven_holds_is_cancelled() -> None:
    opts = {"opt-1": create()}
    op.check_cancel(opts, "opt-1", name="site-1")
    for held in (opts, {}, None):
        with pytest.raises(ConfigurationError, match="site-1 has no opt 'opt-2'"):
            op.check_cancel(held, "opt-2", name="site-1")


def test_the_oadr_cancel_opt(oadr_schema: etree.XMLSchema) -> None:
    msg = op.cancel_opt(opt_id="opt-1", ven_id=VEN, request_id="req-c")
    assert (msg.opt_id, msg.ven_id, msg.request_id) == ("opt-1", VEN, "req-c")
    oadr_schema.assertValid(etree.fromstring(build_message(msg)))


# ------------------------------------------------------------------ the VTN's answer

def _created(code: int) -> m.CreatedOpt:
    return m.CreatedOpt(response=m.Response(response_code=code, request_id="req-o"), opt_id="opt-1")


def _canceled(code: int) -> m.CanceledOpt:
    return m.CanceledOpt(response=m.Response(response_code=code, request_id="req-c"), opt_id="opt-1")


def test_a_create_is_accepted_by_an_oadr_created_opt_with_200_only() -> None:
    sent = create()
    assert op.accepted(_created(200), sent)
    assert not op.accepted(_created(400), sent)
    assert not op.accepted(_created(463), sent)
    assert not op.accepted(_canceled(200), sent)  # the answer to another request
    assert not op.accepted(m.ResponseMessage(response=m.Response(response_code=200)), sent)


def test_a_cancel_is_accepted_by_an_oadr_canceled_opt_with_200_only() -> None:
    sent = op.cancel_opt(opt_id="opt-1", ven_id=VEN, request_id="req-c")
    assert op.accepted(_canceled(200), sent)
    assert not op.accepted(_canceled(452), sent)
    assert not op.accepted(_created(200), sent)
    assert not op.accepted(m.ResponseMessage(response=m.Response(response_code=200)), sent)
