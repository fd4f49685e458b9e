"""The VEN's report decisions (fleetven.ven.report_rules, EiReport), driven by plain calls on model objects
and specs: no socket, no event loop, no timer wheel, no fleet. Named after the rules of ``shared/OPENADR.md``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest
from lxml import etree

from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.ven import report_rules as rules
from fleetven.ven._specs import ReportSpec, make_report_spec
from fleetven.ven._values import read_status

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def _never() -> float:
    raise AssertionError("the rules never call a callback")


def spec(specifier: str, r_id: str, *, name: str = "TELEMETRY_USAGE", mode: str = "incremental") -> ReportSpec:
    measurement = None if name == "TELEMETRY_STATUS" else "voltage"
    return make_report_spec(_never, "meter-1", measurement, report_name=name, report_specifier_id=specifier,
                            r_id=r_id, report_duration=timedelta(hours=1), report_dtstart=T0,
                            data_collection_mode=mode)


USAGE = {"p1": spec("usage", "p1"), "p2": spec("usage", "p2"), "p3": spec("usage", "p3")}
STATUS = {"s1": spec("status", "s1", name="TELEMETRY_STATUS")}
CATALOG: dict[str, dict[str, ReportSpec]] = {"usage": USAGE, "status": STATUS}


def request(rid: str = "rr-1", specifier: str = "usage", r_ids: tuple[str, ...] = ("p1",), *, gran: float = 10,
            back: float | None = 30, start: datetime | None = None, length: float | None = None) -> m.ReportRequest:
    return m.ReportRequest(report_request_id=rid, report_specifier=m.ReportSpecifier(
        report_specifier_id=specifier, granularity=gran * S,
        report_back_duration=None if back is None else back * S,
        report_interval_start=start, report_interval_duration=None if length is None else length * S,
        specifier_payloads=[m.SpecifierPayload(r_id=r, reading_type="Direct Read") for r in r_ids]))


def create(*requests: m.ReportRequest) -> m.CreateReport:
    return m.CreateReport(request_id="req-c", report_requests=list(requests), ven_id="ven-1")


def valid(schema: etree.XMLSchema, msg: m.Message) -> m.Message:
    """``msg`` as the VTN reads it, after checking it against the 2.0b schema."""
    data = build_message(msg)
    schema.assertValid(etree.fromstring(data))
    return parse_message(data)


# ------------------------------------------------------------------ METADATA


def test_the_register_report_advertises_every_report_as_metadata(oadr_schema: etree.XMLSchema) -> None:
    catalog = {**CATALOG, "mine": {"x1": spec("mine", "x1", name="x-myReport")}}
    msg = rules.register_report(catalog, ven_id="ven-1", request_id="req-r", now=T0)
    got = valid(oadr_schema, msg)
    assert isinstance(got, m.RegisterReport)
    assert (got.request_id, got.ven_id, got.report_request_id) == ("req-r", "ven-1", "0")
    assert [(r.report_specifier_id, r.report_name, r.report_request_id) for r in got.reports] == [
        ("usage", "METADATA_TELEMETRY_USAGE", "0"), ("status", "METADATA_TELEMETRY_STATUS", "0"),
        ("mine", "x-myReport", "0")]
    assert [[d.r_id for d in r.report_descriptions] for r in got.reports] == [["p1", "p2", "p3"], ["s1"], ["x1"]]
    assert got.reports[0].report_descriptions[0].sampling_rate == USAGE["p1"].sampling_rate


def test_a_request_for_metadata_means_register_the_reports_again() -> None:
    assert rules.wants_metadata(request(specifier="METADATA", r_ids=()))
    assert not rules.wants_metadata(request(specifier="usage"))
    assert not rules.wants_metadata(request(specifier="metadata"))  # compared exactly


# ------------------------------------------------------------------ which requests are accepted


def test_a_request_gets_the_data_points_it_names_in_its_order_once_each() -> None:
    got = rules.select(request(r_ids=("p3", "p1", "p3")), CATALOG)
    assert got == [USAGE["p3"], USAGE["p1"]]


def test_a_request_naming_no_data_point_gets_every_one_of_its_report() -> None:
    assert rules.select(request(r_ids=()), CATALOG) == [USAGE["p1"], USAGE["p2"], USAGE["p3"]]


def test_a_request_for_an_unknown_report_is_rejected_with_461() -> None:
    got = rules.select(request("rr-9", "nope", ("p1",)), CATALOG)
    assert got == rules.Rejection("rr-9", 461, "unknown reportSpecifierID 'nope'")
    assert rules.REPORT_NOT_SUPPORTED == 461


def test_a_request_naming_an_unknown_data_point_is_rejected_with_461() -> None:
    got = rules.select(request("rr-9", "usage", ("p1", "zz", "s1")), CATALOG)
    assert got == rules.Rejection("rr-9", 461, "unknown rID 'zz', 's1' in report 'usage'")


def test_the_full_list_of_requests_cancels_by_implication_those_it_leaves_out() -> None:
    later = create(request("b"), request("d"))
    assert rules.implied_cancellations(["a", "b", "c"], later, replace=True) == ["a", "c"]
    assert rules.implied_cancellations(["b", "d"], later, replace=True) == []


def test_a_list_that_is_not_the_full_one_cancels_nothing() -> None:
    assert rules.implied_cancellations(["a", "b", "c"], create(request("b")), replace=False) == []


def test_the_requests_of_an_oadr_registered_report_replace_alike() -> None:
    reply = m.RegisteredReport(response=m.Response.ok("req-r"), report_requests=[request("a")])
    assert rules.implied_cancellations(["a", "z"], reply, replace=True) == ["z"]


# ------------------------------------------------------------------ when samples and updates are due


def test_granularity_and_report_back_duration_in_seconds() -> None:
    assert rules.periods(request(gran=10, back=30).report_specifier) == (10.0, 30.0)
    assert rules.periods(request(gran=5, back=None).report_specifier) == (5.0, 0.0)
    assert rules.periods(request(gran=-5, back=-1).report_specifier) == (0.0, 0.0)


def test_without_a_report_interval_sampling_starts_now_and_never_ends() -> None:
    assert rules.schedule(request(gran=10, back=30), T0) == rules.Schedule(10.0, 30.0, 0.0, None)


def test_a_report_interval_ahead_starts_then_and_lasts_its_duration() -> None:
    got = rules.schedule(request(start=T0 + 60 * S, length=120), T0)
    assert got == rules.Schedule(10.0, 30.0, 60.0, 120.0)


def test_a_report_interval_that_began_samples_from_now_until_its_end() -> None:
    got = rules.schedule(request(start=T0 - 50 * S, length=120), T0)
    assert got == rules.Schedule(10.0, 30.0, 0.0, 70.0)


@pytest.mark.parametrize("length", [None, 0])
def test_a_report_interval_without_a_duration_never_ends(length: float | None) -> None:
    assert rules.schedule(request(start=T0 - 50 * S, length=length), T0) == rules.Schedule(10.0, 30.0, 0.0, None)


@pytest.mark.parametrize("ago", [120, 200])
def test_a_report_interval_already_over_is_rejected_with_461(ago: float) -> None:
    got = rules.schedule(request("rr-5", start=T0 - ago * S, length=120), T0)
    assert got == rules.Rejection("rr-5", 461, "the report interval is already over")


class Step(NamedTuple):
    at: float
    what: tuple[str, ...]


def timeline(gran: float, back: float, end: float | None, *, until: float = 1000) -> list[Step]:
    """What a sampled request does, instant by instant, as the engine fires it: the timer is armed at
    ``next_due``, and at each instant what ``due_at`` says is done (a one-shot completes after its sample)."""
    k, j, steps = 0, 1, []
    while (off := rules.next_due(gran, back, end, k, j)) is not None and off <= until:
        due = rules.due_at(off, gran, back, end, k, j)
        what: list[str] = []
        if due.send:
            j += 1
            what.append("send")
        if due.end:
            steps.append(Step(off, (*what, "end")))
            break
        if due.sample:
            k += 1
            what.append("sample")
            if rules.is_one_shot(gran):
                steps.append(Step(off, (*what, "complete")))
                break
            if rules.sends_each_sample(gran, back):
                what.append("send")
        steps.append(Step(off, tuple(what)))
    return steps


def test_a_sample_every_granularity_and_an_update_every_report_back_duration() -> None:
    assert timeline(10, 30, None, until=60) == [
        Step(0, ("sample",)), Step(10, ("sample",)), Step(20, ("sample",)), Step(30, ("send", "sample")),
        Step(40, ("sample",)), Step(50, ("sample",)), Step(60, ("send", "sample"))]


def test_updates_follow_their_own_period_when_it_is_not_a_multiple_of_the_granularity() -> None:
    assert timeline(10, 25, None, until=50) == [
        Step(0, ("sample",)), Step(10, ("sample",)), Step(20, ("sample",)), Step(25, ("send",)),
        Step(30, ("sample",)), Step(40, ("sample",)), Step(50, ("send", "sample"))]


def test_the_end_of_the_report_interval_completes_the_request_with_no_sample_at_it() -> None:
    assert timeline(10, 30, 35) == [Step(0, ("sample",)), Step(10, ("sample",)), Step(20, ("sample",)),
                                    Step(30, ("send", "sample")), Step(35, ("end",))]
    assert timeline(10, 30, 30) == [Step(0, ("sample",)), Step(10, ("sample",)), Step(20, ("sample",)),
                                    Step(30, ("send", "end"))]


def test_without_a_report_back_duration_each_sample_is_sent_as_it_comes() -> None:
    assert timeline(10, 0, None, until=20) == [Step(0, ("sample", "send")), Step(10, ("sample", "send")),
                                               Step(20, ("sample", "send"))]
    assert rules.sends_each_sample(10, 0) and not rules.sends_each_sample(10, 30)


@pytest.mark.parametrize("back", [0, 30])
def test_rule_324_granularity_0_samples_once_sends_once_and_completes(back: float) -> None:
    assert timeline(0, back, None) == [Step(0, ("sample", "complete"))]
    assert rules.is_one_shot(0) and not rules.is_one_shot(10)
    assert rules.sends_each_sample(0, back)  # an asynchronous sample goes out as soon as it is read
    assert rules.next_due(0, back, None, 1, 1) is None  # nothing more after the one sample
    assert not rules.due_at(0, 0, back, None, 1, 1).sample  # and never a second sample at its instant


def test_a_request_kept_across_a_restart_resumes_at_the_next_instant_of_its_own_schedule() -> None:
    assert rules.resume(-5, 10, 30, None) == (0, 1, False)  # not begun: from the first sample
    assert rules.resume(0, 10, 30, None) == (1, 1, False)  # the instant of sample 0 is done
    assert rules.resume(25, 10, 30, None) == (3, 1, False)  # next sample at 30, next send at 30
    assert rules.resume(65, 10, 30, None) == (7, 3, False)
    assert rules.resume(25, 10, 0, None) == (3, 1, False)


def test_a_request_kept_across_a_restart_is_complete_when_its_interval_ended_or_it_was_one_shot() -> None:
    assert rules.resume(120, 10, 30, 120)[2] and rules.resume(130, 10, 30, 120)[2]
    assert not rules.resume(119, 10, 30, 120)[2]
    assert rules.resume(0, 0, 0, None) == (1, 1, True)  # the one sample's instant went by
    assert rules.resume(-1, 0, 0, None) == (0, 1, False)


# ------------------------------------------------------------------ ranges fetched from a callback (full mode)


def test_a_full_mode_request_fetches_every_report_back_duration_else_every_granularity() -> None:
    assert rules.fetch_period(10, 30) == 30 and rules.fetch_period(10, 0) == 10 and rules.fetch_period(0, 0) == 0


def test_a_full_mode_range_begins_with_the_report_interval() -> None:
    got = rules.history_schedule(request(start=T0 - 600 * S, length=300), timedelta(hours=1), T0)
    assert got == rules.HistorySchedule(10.0, 30.0, T0 - 600 * S, T0 - 300 * S)


def test_a_full_mode_request_without_an_interval_starts_now_or_one_report_duration_back() -> None:
    assert rules.history_schedule(request(), timedelta(hours=1), T0) == rules.HistorySchedule(10.0, 30.0, T0, None)
    once = rules.history_schedule(request(gran=0, back=None), timedelta(hours=1), T0)
    assert once == rules.HistorySchedule(0.0, 0.0, T0 - timedelta(hours=1), None)


def test_a_full_mode_interval_out_of_range_is_rejected_with_461() -> None:
    far = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
    got = rules.history_schedule(request("rr-h", start=far, length=3 * 86400), timedelta(hours=1), T0)
    assert isinstance(got, rules.Rejection)
    assert (got.report_request_id, got.response_code) == ("rr-h", 461) and "out of range" in got.description


def test_the_first_fetch_of_a_full_mode_request() -> None:
    # no period: one fetch now, of the data up to now
    assert rules.first_fetch(T0 - 3600 * S, None, 0, T0) == (T0, T0)
    # an interval wholly past: one fetch now, of the whole interval
    assert rules.first_fetch(T0 - 600 * S, T0 - 300 * S, 30, T0) == (T0, T0 - 300 * S)
    # a period after the later of the start and now, never after the end
    assert rules.first_fetch(T0 - 600 * S, None, 30, T0) == (T0 + 30 * S, None)
    assert rules.first_fetch(T0 + 100 * S, None, 30, T0) == (T0 + 130 * S, None)
    assert rules.first_fetch(T0 - 600 * S, T0 + 10 * S, 30, T0) == (T0 + 10 * S, T0 + 10 * S)


def test_each_fetch_takes_the_data_up_to_now_and_the_last_one_up_to_the_end() -> None:
    assert rules.fetched_upto(T0, None) == (T0, False)
    assert rules.fetched_upto(T0, T0 + S) == (T0, False)
    assert rules.fetched_upto(T0 + 5 * S, T0 + S) == (T0 + S, True)
    assert rules.next_fetch(T0, 30, None) == T0 + 30 * S
    assert rules.next_fetch(T0, 30, T0 + 10 * S) == T0 + 10 * S


def test_a_full_mode_request_kept_across_a_restart_fetches_from_where_it_stood() -> None:
    assert rules.resume_fetch(T0 - 10 * S, 30, None, T0) == T0 + 20 * S
    assert rules.resume_fetch(T0 - 100 * S, 30, None, T0) == T0  # overdue: at once
    assert rules.resume_fetch(None, 30, None, T0) == T0 + 30 * S
    assert rules.resume_fetch(T0 - 10 * S, 0, None, T0) == T0
    assert rules.resume_fetch(T0 - 10 * S, 30, T0 + 5 * S, T0) == T0 + 5 * S
    assert rules.resume_fetch(T0 - 10 * S, 30, T0 - 5 * S, T0) == T0  # the end went by: now


# ------------------------------------------------------------------ cancellation and the pending list


def cancel(*ids: str, follow: bool) -> m.CancelReport:
    return m.CancelReport(request_id="req-x", report_request_ids=list(ids), report_to_follow=follow, ven_id="ven-1")


def test_a_cancel_report_to_follow_true_means_one_last_report() -> None:
    assert rules.cancellation(cancel("b", follow=True), ["a", "b"]) == rules.Cancellation(["b"], True)


def test_a_cancel_report_to_follow_false_means_no_more_report() -> None:
    assert rules.cancellation(cancel("a", "b", follow=False), ["a", "b"]) == rules.Cancellation(["a", "b"], False)


def test_a_cancel_ends_only_active_requests_once_each() -> None:
    assert rules.cancellation(cancel("zz", "b", "b", follow=True), {"a", "b"}).request_ids == ["b"]
    assert rules.cancellation(cancel("zz", follow=False), ["a"]).request_ids == []


def test_the_pending_list_is_every_active_request() -> None:
    active = {"a": object(), "c": object(), "b": object()}
    assert rules.pending_reports(active) == ["a", "c", "b"]
    assert rules.pending_reports({}) == []


def test_the_created_report_lists_every_active_request(oadr_schema: etree.XMLSchema) -> None:
    got = valid(oadr_schema, rules.created_report([], ["a", "b"], request_id="req-c", ven_id="ven-1"))
    assert isinstance(got, m.CreatedReport)
    assert (got.response.response_code, got.response.request_id) == (200, "req-c")
    assert got.pending_reports == ["a", "b"] and got.ven_id == "ven-1"


def test_the_created_report_answers_with_the_first_rejection() -> None:
    rejections = [rules.Rejection("x", 461, "unknown reportSpecifierID 'nope'"), rules.Rejection("y", 462, "other")]
    got = rules.created_report(rejections, ["a"], request_id="req-c", ven_id="ven-1")
    assert (got.response.response_code, got.response.response_description) == (461, rejections[0].description)
    assert got.pending_reports == ["a"]


def test_the_canceled_report_lists_what_is_still_pending(oadr_schema: etree.XMLSchema) -> None:
    got = valid(oadr_schema, rules.canceled_report(["a"], request_id="req-x", ven_id="ven-1"))
    assert isinstance(got, m.CanceledReport)
    assert (got.response.response_code, got.response.request_id, got.pending_reports) == (200, "req-x", ["a"])


# ------------------------------------------------------------------ the update and the VTN's answer


class Reading(NamedTuple):
    when: datetime
    r_id: str
    value: Any
    seq: int = 0


def update(readings: list[Reading], *, name: str = "TELEMETRY_USAGE", specifier: str = "usage",
           gran: float = 10) -> m.UpdateReport:
    return rules.update_report(readings, report_request_id="rr-1", specifier_id=specifier, report_name=name,
                               gran=gran, created=T0 + 60 * S, request_id="req-u", ven_id="ven-1")


def test_an_update_carries_one_interval_of_one_granularity_per_sample(oadr_schema: etree.XMLSchema) -> None:
    got = valid(oadr_schema, update([Reading(T0, "p1", 1.5), Reading(T0, "p2", 2.0), Reading(T0 + 10 * S, "p1", 3.0)]))
    assert isinstance(got, m.UpdateReport) and (got.request_id, got.ven_id) == ("req-u", "ven-1")
    (report,) = got.reports
    assert (report.report_request_id, report.report_specifier_id, report.report_name) == (
        "rr-1", "usage", "TELEMETRY_USAGE")
    assert [(iv.dtstart, iv.duration, iv.payloads[0].r_id, iv.payloads[0].value) for iv in report.intervals] == [
        (T0, 10 * S, "p1", 1.5), (T0, 10 * S, "p2", 2.0), (T0 + 10 * S, 10 * S, "p1", 3.0)]


def test_each_interval_carries_its_samples_sequence_number_as_uid(oadr_schema: etree.XMLSchema) -> None:
    got = valid(oadr_schema, update([Reading(T0, "p1", 1.5, 41), Reading(T0, "p2", 2.0, 42),
                                     Reading(T0 + 10 * S, "p1", 3.0, 0)]))
    assert isinstance(got, m.UpdateReport)
    assert [iv.uid for iv in got.reports[0].intervals] == ["41", "42", None]  # 0: a sample kept unnumbered


def test_a_one_shot_update_gives_its_interval_no_duration() -> None:
    (report,) = update([Reading(T0, "p1", 1.0)], gran=0).reports
    assert report.intervals[0].duration is None


@pytest.mark.parametrize(("returned", "online", "override"), [
    (True, True, False),
    (0, False, False),
    ({"online": True, "manual_override": True}, True, True),
    ({"manual_override": True}, False, True),
    (m.ResourceStatus(online=False, manual_override=True), False, True),
])
def test_rule_510_telemetry_status_carries_oadr_online_and_oadr_manual_override(
        returned: object, online: bool, override: bool, oadr_schema: etree.XMLSchema) -> None:
    assert rules.is_status("TELEMETRY_STATUS") and not rules.is_status("TELEMETRY_USAGE")
    value, _, _ = read_status(returned)
    assert value == m.ResourceStatus(online=online, manual_override=override)
    msg = update([Reading(T0, "s1", value)], name="TELEMETRY_STATUS", specifier="status")
    data = build_message(msg)
    oadr_schema.assertValid(etree.fromstring(data))
    assert f"<oadr:oadrOnline>{str(online).lower()}</oadr:oadrOnline>".encode() in data
    assert f"<oadr:oadrManualOverride>{str(override).lower()}</oadr:oadrManualOverride>".encode() in data


def test_a_status_from_which_nothing_can_be_read_is_no_sample() -> None:
    for returned in ("on", None, float("nan"), {"colour": "red"}):
        assert read_status(returned)[0] is None


def test_a_report_carries_one_report_back_durations_worth_or_the_backlog_batch() -> None:
    assert rules.batch_size(10, 30, 2) == rules.BACKLOG_BATCH == 500  # 3 instants x 2 points: fewer than 500
    assert rules.batch_size(1, 3600, 2) == 7200
    assert rules.batch_size(0, 3600, 1000) == 1000  # one instant's worth at least
    assert rules.batch_size(10, 0, 600) == 600
    assert rules.batch_size(10, 4, 600) == 600  # less than one granularity: still one instant's worth


def test_only_an_updated_report_with_200_acknowledges_the_samples() -> None:
    assert rules.acknowledged(m.UpdatedReport(response=m.Response.ok("req-u")))
    assert not rules.acknowledged(m.UpdatedReport(response=m.Response(response_code=500, request_id="req-u")))
    assert not rules.acknowledged(m.ResponseMessage(response=m.Response(response_code=200)))
    assert not rules.acknowledged(m.CreatedReport(response=m.Response.ok("req-u")))


def test_an_updated_report_may_carry_a_cancel_report() -> None:
    inner = cancel("rr-1", follow=False)
    assert rules.carried_cancel(m.UpdatedReport(response=m.Response.ok("req-u"), cancel_report=inner)) is inner
    assert rules.carried_cancel(m.UpdatedReport(response=m.Response.ok("req-u"))) is None
    assert rules.carried_cancel(m.ResponseMessage(response=m.Response(response_code=200))) is None
    # even a refusal carries it: the cancellation stands whatever the code
    refused = m.UpdatedReport(response=m.Response(response_code=500, request_id="req-u"), cancel_report=inner)
    assert rules.carried_cancel(refused) is inner and not rules.acknowledged(refused)
