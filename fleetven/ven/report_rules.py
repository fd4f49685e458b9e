"""The VEN's report decisions (EiReport): pure functions, no I/O.

:class:`~fleetven.ven.reports.ReportEngine` keeps the requests, arms the timers, calls the
callbacks, keeps the store and sends; these functions decide what the protocol asks:

1. :func:`register_report`: the ``oadrRegisterReport`` advertising every report as
   ``METADATA_<name>`` (reportRequestID ``"0"``), one ``oadrReport`` per reportSpecifierID;
2. :func:`wants_metadata`: a request for specifier ``METADATA`` means: send the
   ``oadrRegisterReport`` again (it starts nothing itself);
3. :func:`select`: the data points a request of an ``oadrCreateReport`` gets (those it names,
   or every one of the report when it names none), or its :class:`Rejection`, code
   :data:`REPORT_NOT_SUPPORTED` (461), for an unknown reportSpecifierID or rID;
4. :func:`implied_cancellations`: a full list of requests (``replace``) cancels the active
   requests it leaves out; a list that is not the full one cancels nothing;
5. :func:`schedule` (sampled reports) and :func:`history_schedule` (ranges fetched from the
   callback): a sample every ``granularity``, an ``oadrUpdateReport`` every
   ``reportBackDuration``, within the report interval (from now when it began already); an
   interval already over, or out of range, is refused with 461;
6. :func:`next_due`, :func:`due_at`: which instant (seconds after the first sample) comes next and
   what is due then: a send (every ``reportBackDuration``), the end of the interval, a sample
   (every ``granularity``); :func:`is_one_shot`: granularity 0 samples once, sends once and
   completes (rule 324); :func:`sends_each_sample`: without a ``reportBackDuration`` (or for a
   one-shot) each sample is sent as it comes; :func:`resume`: where a request kept across a
   restart stands (instants already past are never sampled again);
7. :func:`fetch_period`, :func:`first_fetch`, :func:`fetched_upto`, :func:`next_fetch`,
   :func:`resume_fetch`: the same for ranges fetched from a callback (``full`` mode);
8. :func:`cancellation`: an ``oadrCancelReport`` ends the active requests it names; with
   ``reportToFollow`` true one last report carries what they hold, with false none;
9. :func:`pending_reports`, :func:`created_report`, :func:`canceled_report`: the
   ``oadrCreatedReport`` / ``oadrCanceledReport``, listing every active request in
   ``oadrPendingReports`` (a request ending with its last report is not pending); the first
   rejection, if any, gives the response code;
10. :func:`update_report`, :func:`batch_size`: the ``oadrUpdateReport``, one interval of one
    granularity per sample, at most one ``reportBackDuration``'s worth of samples or
    :data:`BACKLOG_BATCH`, whichever is more;
11. :func:`acknowledged`, :func:`carried_cancel`: only an ``oadrUpdatedReport`` with 200
    acknowledges the samples sent; an ``oadrUpdatedReport`` may carry an ``oadrCancelReport``,
    handled as one;
12. :func:`is_status`: ``TELEMETRY_STATUS`` samples are an ``oadrPayloadResourceStatus`` with
    ``oadrOnline`` and ``oadrManualOverride`` (rule 510), read from what the callback returned by
    :func:`fleetven.ven._values.read_status`.

Durations are in seconds (floats), instants aware datetimes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, NamedTuple, Protocol

from fleetven.openadr import model as m
from fleetven.ven._specs import ReportSpec, utc

__all__ = (
    "REPORT_NOT_SUPPORTED",
    "METADATA",
    "STATUS_REPORT",
    "BACKLOG_BATCH",
    "Rejection",
    "Schedule",
    "HistorySchedule",
    "Due",
    "Cancellation",
    "Reading",
    "register_report",
    "wants_metadata",
    "select",
    "implied_cancellations",
    "periods",
    "schedule",
    "history_schedule",
    "next_due",
    "due_at",
    "is_one_shot",
    "sends_each_sample",
    "resume",
    "fetch_period",
    "first_fetch",
    "fetched_upto",
    "next_fetch",
    "resume_fetch",
    "cancellation",
    "pending_reports",
    "created_report",
    "canceled_report",
    "update_report",
    "batch_size",
    "acknowledged",
    "carried_cancel",
    "is_status",
)

#: Response code for a report request naming an unknown report or data point.
REPORT_NOT_SUPPORTED: Final = 461

#: The reportSpecifierID asking the VEN to send its ``oadrRegisterReport`` again.
METADATA: Final = "METADATA"

#: The report whose samples are resource statuses (rule 510).
STATUS_REPORT: Final = "TELEMETRY_STATUS"

#: Samples one ``oadrUpdateReport`` may carry at least (see :func:`batch_size`).
BACKLOG_BATCH: Final = 500

#: A report catalog: the specs by reportSpecifierID, then by rID.
Catalog = Mapping[str, Mapping[str, ReportSpec]]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A report request the engine refused: the VEN reports it in its ``oadrCreatedReport``."""

    report_request_id: str
    response_code: int
    description: str


class Schedule(NamedTuple):
    """When a sampled request samples and sends (:func:`schedule`).

    :ivar gran: seconds between samples (0: one sample, rule 324).
    :ivar back: seconds between sends (0: each sample as it comes).
    :ivar delay: seconds from now to the first sample (the start of the report interval).
    :ivar end: seconds after the first sample when the request completes (``None``: never).
    """

    gran: float
    back: float
    delay: float
    end: float | None


class HistorySchedule(NamedTuple):
    """The range a request fetches from a ``full`` mode callback (:func:`history_schedule`).

    :ivar gran: seconds between the samples the callback is asked for.
    :ivar back: seconds between fetches (0: the granularity, see :func:`fetch_period`).
    :ivar start: where the first range begins (aware).
    :ivar end: the end of the report interval (``None``: none).
    """

    gran: float
    back: float
    start: datetime
    end: datetime | None


class Due(NamedTuple):
    """What is due at one instant of a sampled request (:func:`due_at`), in the order it is done.

    :ivar send: an ``oadrUpdateReport`` (every ``reportBackDuration``).
    :ivar end: the report interval ends: the request completes (nothing is sampled at its end).
    :ivar sample: a sample (every ``granularity``).
    """

    send: bool
    end: bool
    sample: bool


class Cancellation(NamedTuple):
    """What an ``oadrCancelReport`` ends (:func:`cancellation`).

    :ivar request_ids: the active requests it names, once each, in its order.
    :ivar last_report: ``reportToFollow``: one last report carries what they hold.
    """

    request_ids: list[str]
    last_report: bool


class Reading(Protocol):
    """One sample to send: a value of data point ``r_id`` at instant ``when``."""

    @property
    def when(self) -> datetime:
        """The instant of the sample (the interval's ``dtstart``)."""

    @property
    def r_id(self) -> str:
        """The data point."""

    @property
    def value(self) -> float | m.ResourceStatus:
        """The value (a :class:`~fleetven.openadr.model.ResourceStatus` for ``TELEMETRY_STATUS``)."""

    @property
    def seq(self) -> int:
        """The sample's number in the VEN's sequence of samples (0: none)."""


# ---------------------------------------------------------------- metadata and requests

def register_report(catalog: Catalog, *, ven_id: str | None, request_id: str, now: datetime) -> m.RegisterReport:
    """The ``oadrRegisterReport`` advertising every report of ``catalog``: one ``oadrReport`` per
    reportSpecifierID, in the catalog's order, named ``METADATA_<name>`` (an ``x-`` name as it is),
    reportRequestID ``"0"``, one ``oadrReportDescription`` per data point."""
    reports = []
    for specifier, points in catalog.items():
        first = next(iter(points.values()))
        name = first.report_name
        reports.append(m.Report(
            report_specifier_id=specifier,
            report_name=name if name.startswith("x-") else "METADATA_" + name,
            created_date_time=now, report_request_id="0", duration=first.report_duration,
            report_descriptions=[
                m.ReportDescription(
                    r_id=s.r_id, report_type=s.report_type, reading_type=s.reading_type,
                    report_subject=list(s.report_subject), report_data_source=list(s.report_data_source),
                    market_context=s.market_context, measurement=s.measurement, sampling_rate=s.sampling_rate,
                ) for s in points.values()
            ],
        ))
    return m.RegisterReport(request_id=request_id, reports=reports, ven_id=ven_id, report_request_id="0")


def wants_metadata(rr: m.ReportRequest) -> bool:
    """Whether ``rr`` asks for the VEN's metadata (specifier ``METADATA``): send the ``oadrRegisterReport`` again."""
    return rr.report_specifier.report_specifier_id == METADATA


def select(rr: m.ReportRequest, catalog: Catalog) -> list[ReportSpec] | Rejection:
    """The data points request ``rr`` gets: those it names, in its order and once each, or every data
    point of the report when it names none; a :class:`Rejection` (461) when the VEN offers no report
    of its reportSpecifierID or no data point of one of its rIDs."""
    rs = rr.report_specifier
    points = catalog.get(rs.report_specifier_id)
    if points is None:
        return Rejection(rr.report_request_id, REPORT_NOT_SUPPORTED,
                         f"unknown reportSpecifierID {rs.report_specifier_id!r}")
    unknown = [sp.r_id for sp in rs.specifier_payloads if sp.r_id not in points]
    if unknown:
        return Rejection(rr.report_request_id, REPORT_NOT_SUPPORTED,
                         f"unknown rID {', '.join(map(repr, unknown))} in report {rs.report_specifier_id!r}")
    wanted = dict.fromkeys(sp.r_id for sp in rs.specifier_payloads) or dict.fromkeys(points)
    return [points[r] for r in wanted]


def implied_cancellations(active: Iterable[str], msg: m.CreateReport | m.RegisteredReport, *,
                          replace: bool) -> list[str]:
    """The active requests ``msg`` cancels by implication: with ``replace`` (``msg`` is the VTN's full
    list), those it leaves out, in ``active``'s order; otherwise none."""
    if not replace:
        return []
    wanted = {rr.report_request_id for rr in msg.report_requests}
    return [r for r in active if r not in wanted]


# ---------------------------------------------------------------- when to sample and send

def periods(rs: m.ReportSpecifier) -> tuple[float, float]:
    """``(granularity, reportBackDuration)`` of ``rs`` in seconds, never negative (no reportBackDuration: 0)."""
    back = rs.report_back_duration
    return max(rs.granularity.total_seconds(), 0.0), (max(back.total_seconds(), 0.0) if back is not None else 0.0)


def schedule(rr: m.ReportRequest, now: datetime) -> Schedule | Rejection:
    """When sampled request ``rr`` samples and sends, from ``now``.

    Without a report interval the first sample is now and the request never completes by itself;
    with one, from its start (now when it began already) until its end (none when its duration is
    missing or zero); an interval whose end is not after now is refused (461).
    """
    rs = rr.report_specifier
    gran, back = periods(rs)
    delay = 0.0
    end: float | None = None
    if rs.report_interval_start is not None:
        delay = (rs.report_interval_start - now).total_seconds()
        length = rs.report_interval_duration
        stop = delay + length.total_seconds() if length is not None and length > timedelta(0) else None
        delay = max(delay, 0.0)  # an interval that began already: sample from now until its end
        if stop is not None:
            if stop <= delay:
                return Rejection(rr.report_request_id, REPORT_NOT_SUPPORTED, "the report interval is already over")
            end = stop - delay
    return Schedule(gran, back, delay, end)


def next_due(gran: float, back: float, end: float | None, k: int, j: int) -> float | None:
    """The next instant (seconds after the first sample) a sampled request has something to do,
    ``None`` when it has nothing more.

    :param gran: seconds between samples (0: one-shot).
    :param back: seconds between sends (0: each sample is sent as it comes).
    :param end: when the request completes (``None``: never).
    :param k: the index of the next sample (at ``k * gran``; a one-shot has only sample 0).
    :param j: the index of the next send (at ``j * back``).
    """
    times = []
    if gran > 0 or k == 0:
        times.append(k * gran)  # a sample at or after the end never comes first: the end does
    if back > 0 and gran > 0:
        times.append(j * back)
    if end is not None:
        times.append(end)
    return min(times) if times else None


def due_at(off: float, gran: float, back: float, end: float | None, k: int, j: int) -> Due:
    """What is due at instant ``off`` (as :func:`next_due` gave it; the arguments are the same)."""
    return Due(send=back > 0 and gran > 0 and off == j * back,
               end=end is not None and off == end,
               sample=(gran > 0 or k == 0) and off == k * gran)


def is_one_shot(gran: float) -> bool:
    """Whether a request of granularity ``gran`` is complete after its first sample (rule 324)."""
    return gran == 0


def sends_each_sample(gran: float, back: float) -> bool:
    """Whether each sample is sent as soon as it is taken: no ``reportBackDuration``, or a one-shot."""
    return back == 0 or gran == 0


def resume(elapsed: float, gran: float, back: float, end: float | None) -> tuple[int, int, bool]:
    """Where a sampled request kept across a restart stands, ``elapsed`` seconds after its first
    sample (negative: not begun): ``(k, j, over)``, the next sample and send indices (every instant
    up to now counts as done, sampled or missed) and whether the request is complete."""
    k, j = 0, 1
    if elapsed >= 0:
        k = int(elapsed // gran) + 1 if gran > 0 else 1
        if back > 0:
            j = max(int(elapsed // back) + 1, 1)
    return k, j, (is_one_shot(gran) and k > 0) or (end is not None and elapsed >= end)


# ---------------------------------------------------------------- ranges fetched from a callback

def fetch_period(gran: float, back: float) -> float:
    """Seconds between two fetches of a ``full`` mode request: the ``reportBackDuration``, else the
    granularity (0: one fetch)."""
    return back or gran


def history_schedule(rr: m.ReportRequest, report_duration: timedelta, now: datetime) -> HistorySchedule | Rejection:
    """The range a ``full`` mode request ``rr`` fetches.

    It begins at the start of the report interval; without one, now, or, for a request without any
    period, ``report_duration`` (the spec's) before now. It ends with the interval (none when its
    duration is missing or zero). An interval out of range in UTC is refused (461).
    """
    rs = rr.report_specifier
    gran, back = periods(rs)
    start = rs.report_interval_start
    length = rs.report_interval_duration
    try:
        if start is None:
            start = now - report_duration if fetch_period(gran, back) == 0 else now
        start = utc(start)  # aware (the codec gives aware datetimes; a hand-made request may not)
        end = start + length if length is not None and length > timedelta(0) else None
    except (OverflowError, ValueError):
        return Rejection(rr.report_request_id, REPORT_NOT_SUPPORTED,
                         f"the report interval ({rs.report_interval_start!r}, {length!r}) is out of range")
    return HistorySchedule(gran, back, start, end)


def first_fetch(start: datetime, end: datetime | None, period: float,
                now: datetime) -> tuple[datetime, datetime | None]:
    """``(when, end)``: the instant of the first fetch of a range from ``start`` to ``end``, and the
    end it then has. Without a period, or with an interval wholly past, one fetch now (up to now,
    when no end was given); otherwise one period after the later of ``start`` and now, not after ``end``."""
    if period == 0 or (end is not None and end <= now):
        return now, now if end is None else end
    first = max(start, now) + timedelta(seconds=period)
    return (first if end is None else min(first, end)), end


def fetched_upto(now: datetime, end: datetime | None) -> tuple[datetime, bool]:
    """``(upto, complete)``: a fetch at ``now`` takes the data up to now (never past ``end``), and
    completes the request when that reaches ``end``."""
    upto = now if end is None else min(now, end)
    return upto, end is not None and upto >= end


def next_fetch(now: datetime, period: float, end: datetime | None) -> datetime:
    """The fetch after one at ``now``: a period later, not after ``end``."""
    nxt = now + timedelta(seconds=period)
    return nxt if end is None else min(nxt, end)


def resume_fetch(cursor: datetime | None, period: float, end: datetime | None, now: datetime) -> datetime:
    """The next fetch of a ``full`` mode request kept across a restart, whose data up to ``cursor``
    was fetched: a period after ``cursor`` but not before now; not after ``end`` unless that is past
    (then now)."""
    cursor = cursor or now
    nxt = max(cursor + timedelta(seconds=period), now) if period else now
    if end is not None:
        nxt = min(max(nxt, now), max(end, now))
    return nxt


# ---------------------------------------------------------------- cancellation and answers

def cancellation(msg: m.CancelReport, active: Collection[str]) -> Cancellation:
    """The active requests ``msg`` ends (unknown ones are ignored), and whether one last report follows."""
    return Cancellation([r for r in dict.fromkeys(msg.report_request_ids) if r in active], msg.report_to_follow)


def pending_reports(active: Iterable[str]) -> list[str]:
    """The ``oadrPendingReports`` list: every active request (not those ending with a last report)."""
    return list(active)


def created_report(rejections: Sequence[Rejection], pending: list[str], *, request_id: str | None,
                   ven_id: str | None) -> m.CreatedReport:
    """The ``oadrCreatedReport``: 200, or the code and reason of the first rejection; the pending list."""
    rej = rejections[0] if rejections else None
    return m.CreatedReport(
        response=m.Response(response_code=200 if rej is None else rej.response_code,
                            response_description="OK" if rej is None else rej.description,
                            request_id=request_id),
        pending_reports=pending, ven_id=ven_id)


def canceled_report(pending: list[str], *, request_id: str | None, ven_id: str | None) -> m.CanceledReport:
    """The ``oadrCanceledReport`` (200) with the pending list after the cancellation."""
    return m.CanceledReport(response=m.Response.ok(request_id), pending_reports=pending, ven_id=ven_id)


def update_report(samples: Iterable[Reading], *, report_request_id: str, specifier_id: str, report_name: str,
                  gran: float, created: datetime, request_id: str, ven_id: str | None) -> m.UpdateReport:
    """The ``oadrUpdateReport`` carrying ``samples``: one ``oadrReport``, one interval per sample at its
    instant, lasting one granularity (no duration for a one-shot), its ``uid`` the sample's sequence
    number (none for 0)."""
    dur = timedelta(seconds=gran) if gran > 0 else None
    intervals = [m.ReportInterval(dtstart=s.when, duration=dur, uid=str(s.seq) if s.seq else None,
                                  payloads=[m.ReportPayload(r_id=s.r_id, value=s.value)])
                 for s in samples]
    report = m.Report(report_specifier_id=specifier_id, report_name=report_name, created_date_time=created,
                      report_request_id=report_request_id, intervals=intervals)
    return m.UpdateReport(request_id=request_id, reports=[report], ven_id=ven_id)


def batch_size(gran: float, back: float, points: int) -> int:
    """The most samples one ``oadrUpdateReport`` of a request of ``points`` data points carries: one
    ``reportBackDuration``'s worth, or :data:`BACKLOG_BATCH` when that is more (a backlog after an
    outage goes out in reports of that size, back to back, rather than in one huge message)."""
    instants = round(back / gran) if back > 0 and gran > 0 else 1
    return max(max(instants, 1) * points, BACKLOG_BATCH)


def acknowledged(reply: m.Message) -> bool:
    """Whether ``reply`` to an ``oadrUpdateReport`` acknowledges its samples: an ``oadrUpdatedReport`` with 200."""
    return isinstance(reply, m.UpdatedReport) and reply.response.response_code == 200


def carried_cancel(reply: m.Message) -> m.CancelReport | None:
    """The ``oadrCancelReport`` an ``oadrUpdatedReport`` carries (to handle as one), if any."""
    return reply.cancel_report if isinstance(reply, m.UpdatedReport) else None


def is_status(report_name: str) -> bool:
    """Whether the samples of report ``report_name`` are resource statuses (``oadrOnline``,
    ``oadrManualOverride``; rule 510) rather than numbers."""
    return report_name == STATUS_REPORT
