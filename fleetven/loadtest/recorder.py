"""The load tester's :class:`~fleetven.observe.Observer`: every request's latency into HdrHistograms.

Latency is measured from the time a request was *due* (the timer wheel's deadline for a poll or
a report, the start of the reaction for an answer), not from the time it went out: when the VTN
is slow, the requests that queue behind it count their wait (no coordinated omission, as wrk2
measures). For a poll whose latency exceeds the VEN's poll period, the polls that period would
have sent meanwhile are added as well (:meth:`hdrh.histogram.HdrHistogram.record_corrected_value`),
since a VEN that waits for its answer does not send them.

Requests are recorded per message type into a *window* histogram; every history interval the
driver calls :meth:`Recorder.snapshot`, which turns the windows into one history row per message
type (rates and percentiles of that interval), merges them into the cumulative histograms of
the current phase (``"ramp"`` or ``"steady"``) and starts fresh windows. The per-request work is
a dictionary look-up, a histogram record and a few additions.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import logging
import sys
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate, compress
from operator import mul
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from fleetven.observe import Observer

if TYPE_CHECKING:
    from fleetven.fleet.driver import Ven

__all__ = ("Recorder", "Tally", "HistoryRow", "RampPoint", "PERCENTILES", "AGGREGATED", "new_histogram")

#: The percentiles reported, as Locust reports them.
PERCENTILES: tuple[float, ...] = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100)
#: The name of the all-message-types row.
AGGREGATED = "Aggregated"
#: Histogram range, in microseconds: 1 µs to one hour, three significant figures.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_FIGURES = 3
#: Messages a VEN sends while registering.
REGISTRATION_TYPES = frozenset(
    ("oadrQueryRegistration", "oadrCreatePartyRegistration", "oadrRegisterReport", "oadrRequestEvent")
)
#: The phases of a load test.
PHASES = ("ramp", "steady")


def new_histogram() -> HdrHistogram:
    """An empty latency histogram (microseconds)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def histogram_figures(
    hist: HdrHistogram, percentiles: Iterable[float] = PERCENTILES
) -> tuple[dict[float, int], float, int, int]:
    """``({percentile: value}, mean, min, max)`` of a histogram, in its unit (microseconds here).

    hdrh's own ``get_percentile_to_value_dict``, ``get_value_at_percentile`` and
    ``get_mean_value`` walk every bucket in Python, milliseconds each: too slow to run every
    second on the loop the fleet runs on. So, where :data:`FAST_PATHS` holds, this copies the
    counts up to the highest value recorded in one slice (through the counts' buffer), keeps the
    buckets that hold something and finds the percentiles by bisection in their running totals,
    all of it in C (no Python step per bucket); otherwise it calls hdrh's public API. Values are
    the highest equivalent value of their bucket, as hdrh reports percentiles; the mean weighs
    each bucket's midpoint, as hdrh does.

    :raises ValueError: the histogram is empty.
    """
    if not FAST_PATHS:
        return _public_figures(hist, percentiles)
    return _walked_figures(hist, percentiles)


def _public_figures(hist: HdrHistogram, percentiles: Iterable[float]) -> tuple[dict[float, int], float, int, int]:
    """:func:`histogram_figures` through hdrh's public API only."""
    if not hist.get_total_count():
        raise ValueError("an empty histogram has no percentiles")
    wanted = list(percentiles)
    values = hist.get_percentile_to_value_dict(wanted)
    return ({p: values[p] for p in wanted}, float(hist.get_mean_value()), hist.get_min_value(),
            hist.get_max_value())


def _walked_figures(hist: HdrHistogram, percentiles: Iterable[float]) -> tuple[dict[float, int], float, int, int]:
    """:func:`histogram_figures` from hdrh's counts and bucket layout (its fields, not its API)."""
    total = hist.get_total_count()
    if not total:
        raise ValueError("an empty histogram has no percentiles")
    counts = _counts_list(hist, hist._counts_index_for(hist.max_value) + 1)
    # hdrh's index -> value mapping, inlined (see HdrHistogram.get_value_from_index)
    shift = hist.sub_bucket_half_count_magnitude
    half = hist.sub_bucket_half_count
    unit = hist.unit_magnitude

    def bucket(index: int) -> tuple[int, int]:  # (lowest value, size) of the bucket at this index
        level = (index >> shift) - 1
        sub = (index & (half - 1)) + half
        if level < 0:
            sub -= half
            level = 0
        return sub << (level + unit), 1 << (level + unit)

    held = list(compress(range(len(counts)), counts))  # the indices that hold something, in order
    if not held:  # hdrh's total disagrees with its counts: nothing to walk
        top = hist.get_max_value()
        return {p: top for p in percentiles}, 0.0, 0, top
    ranks = list(accumulate(compress(counts, counts)))  # requests at or below each of them
    weighted = _weighted_midpoints(counts, shift, half, unit)
    top = hist.get_max_value()
    out: dict[float, int] = {}
    for p in percentiles:
        at = bisect_left(ranks, max(int(p / 100.0 * total + 0.5), 1))
        if at < len(held):
            low, size = bucket(held[at])
            out[p] = low + size - 1  # the highest equivalent value, as hdrh reports percentiles
        else:
            out[p] = top
    return out, weighted / total, bucket(held[0])[0], top


def _weighted_midpoints(counts: list[int], shift: int, half: int, unit: int) -> int:
    """The sum of each count times its bucket's midpoint (lowest value + half the bucket size).

    Within one run of ``half`` indices the bucket size is constant and the midpoints rise by it
    at every index, so each run is two C-level sums (no Python step per bucket and no table of
    midpoints kept between calls).
    """
    total = 0
    for run in range((len(counts) + half - 1) // half):
        start = run * half
        chunk = counts[start:start + half]
        held = sum(chunk)
        if not held:
            continue
        magnitude = max(run - 1, 0) + unit  # the bucket size is 1 << magnitude
        base = max(run - 1, 0) * half  # index - base is the sub-bucket ("sub" in hdrh)
        by_index = sum(map(mul, chunk, range(start, start + len(chunk))))
        total += ((by_index - base * held) << magnitude) + ((1 << magnitude) >> 1) * held
    return total


#: memoryview formats of hdrh's counter words, by size in bytes.
_WORD_FORMATS: Mapping[int, Literal["H", "I", "Q"]] = MappingProxyType({2: "H", 4: "I", 8: "Q"})


def _counts_list(hist: HdrHistogram, length: int) -> list[int]:
    """The first ``length`` counts of ``hist`` as a list, copied in C through the counts' buffer
    (slicing the ctypes array itself makes one Python call per element)."""
    counts = hist.counts
    try:
        view = memoryview(counts)
        words: list[int] = view.cast("B").cast(_WORD_FORMATS[view.itemsize])[:length].tolist()
        return words
    except (TypeError, ValueError, KeyError):  # not a plain buffer of unsigned words: the slow way
        return list(counts[:length])


def _record_function() -> Callable[[HdrHistogram, int], None]:
    """A function recording one value into a histogram made by :func:`new_histogram`, with the
    bucket arithmetic of hdrh's ``record_value`` inlined (one call instead of six, no range
    checks: the caller keeps the value within ``LOWEST_US .. HIGHEST_US``)."""
    probe = new_histogram()
    mask = probe.sub_bucket_mask
    unit = probe.unit_magnitude
    shift = probe.sub_bucket_half_count_magnitude
    half = probe.sub_bucket_half_count
    offset = unit + shift + 1

    def record(hist: HdrHistogram, value: int) -> None:
        # hdrh: bucket = 64 - clz(value | mask) - unit - (shift + 1); 64 - clz(x) is x.bit_length()
        bucket = (value | mask).bit_length() - offset
        hist.counts[((bucket + 1) << shift) + (value >> (bucket + unit)) - half] += 1
        hist.total_count += 1
        if value < hist.min_value:
            hist.min_value = value
        if value > hist.max_value:
            hist.max_value = value

    return record


def _hdrh_version() -> str:
    try:
        return importlib.metadata.version("hdrhistogram")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - installed from elsewhere
        return "(unknown version)"


def _record_public(hist: HdrHistogram, value: int) -> None:
    hist.record_value(value)


def _fast_paths_hold() -> bool:
    """Whether the installed hdrh lays out its fields as :func:`_record_function`,
    :func:`_walked_figures` and :meth:`Tally.clear` read them: values recorded both ways give the
    same counts, the figures agree with the public API's, and a cleared histogram is empty."""
    try:
        fast, public = _record_function(), new_histogram()
        ours = new_histogram()
        for value in (1, 2, 1023, 1024, 2047, 2048, 65_535, 65_536, 1_000_001, HIGHEST_US):
            fast(ours, value)
            public.record_value(value)
        length = public.counts_len
        if _counts_list(ours, length) != _counts_list(public, length):
            return False
        if (ours.total_count, ours.min_value, ours.max_value) != (public.total_count, public.min_value,
                                                                   public.max_value):
            return False
        walked, mean, low, high = _walked_figures(public, (50, 90, 100))
        reference = _public_figures(public, (50, 90, 100))
        if walked != reference[0] or (low, high) != reference[2:] or abs(mean - reference[1]) > 1e-6 * mean:
            return False
        _clear_fields(ours)
        return ours.get_total_count() == 0 and not any(_counts_list(ours, length))
    except Exception:  # a field gone or renamed: the public API it is
        return False


#: Whether the recorder reads hdrh's fields (checked at import against its public API: see
#: :func:`_fast_paths_hold`) or calls its public API, which is slower (``bench/bench_histogram.py``
#: measures both). The pin ``hdrhistogram<0.11`` keeps the fields known; tests/test_loadtest.py
#: fails on a release it was not checked against.
FAST_PATHS: bool = False  # set below, once the functions it checks are defined

#: Record one latency (µs, within the histogram's range) into a :func:`new_histogram` histogram;
#: the same counts, total, min and max as ``hist.record_value(value)``.
record_latency: Callable[[HdrHistogram, int], None] = _record_public


def _describe(error: BaseException) -> str:
    """One line naming an error: its class and (shortened) text, with per-VEN details dropped so
    that the same failure of many VENs counts as one kind."""
    text = " ".join(str(error).split())
    status = getattr(error, "status", None)
    kind = type(error).__name__
    if isinstance(status, int):
        return f"{kind}: HTTP {status}"
    # "loadtest-00042: ..." → "...": the VEN's name is in most messages and would split the tally.
    if text.startswith("loadtest-"):
        text = text.split(" ", 1)[1] if " " in text else ""
    return f"{kind}: {text[:120]}" if text else kind


def _clear_fields(hist: HdrHistogram) -> None:
    """``hist.reset()`` without its Python loop over every counter: one ``memset``."""
    if hist.get_total_count() or hist.max_value:
        ctypes.memset(hist.counts, 0, ctypes.sizeof(hist.counts))
    hist.total_count = 0
    hist.min_value = sys.maxsize
    hist.max_value = 0
    hist.start_time_stamp_msec = sys.maxsize
    hist.end_time_stamp_msec = 0


@dataclass(slots=True)
class Tally:
    """Counts and a latency histogram of requests (one message type, one phase or window).

    :ivar requests: requests finished.
    :ivar failures: requests that failed.
    :ivar late: requests handed to the transport more than the late threshold after they were due.
    :ivar histogram: latencies from due time to done, in microseconds.
    """

    requests: int = 0
    failures: int = 0
    late: int = 0
    histogram: HdrHistogram = field(default_factory=new_histogram)

    def clear(self) -> None:
        """Empty the tally for reuse (as a fresh one, without allocating a new histogram)."""
        self.requests = self.failures = self.late = 0
        if FAST_PATHS:
            _clear_fields(self.histogram)
        else:
            self.histogram.reset()

    def add(self, other: Tally) -> None:
        """Merge ``other`` into this tally."""
        self.requests += other.requests
        self.failures += other.failures
        self.late += other.late
        if other.histogram.get_total_count():
            self.histogram.add(other.histogram)

    def percentiles_ms(self) -> dict[str, float]:
        """Each of :data:`PERCENTILES` in milliseconds (keys ``"50"``, ``"99.9"``...); empty when no request."""
        return self.figures_ms()[0]

    def figures_ms(self) -> tuple[dict[str, float], float | None, float | None, float | None]:
        """``(percentiles, mean, min, max)`` in milliseconds; ``({}, None, None, None)`` when no request."""
        if not self.histogram.get_total_count():
            return {}, None, None, None
        values, mean, low, high = histogram_figures(self.histogram)
        return {_pct_key(p): values[p] / 1000.0 for p in PERCENTILES}, mean / 1000.0, low / 1000.0, high / 1000.0

    def stats(self, seconds: float) -> dict[str, Any]:
        """A JSON-ready summary: counts, rates over ``seconds``, latencies in milliseconds."""
        count = self.histogram.get_total_count()
        percentiles, mean, low, high = self.figures_ms()
        return {
            "requests": self.requests,
            "failures": self.failures,
            "late": self.late,
            "error_rate": self.failures / self.requests if self.requests else 0.0,
            "requests_per_s": self.requests / seconds if seconds > 0 else 0.0,
            "failures_per_s": self.failures / seconds if seconds > 0 else 0.0,
            "samples": count,
            "mean_ms": mean,
            "min_ms": low,
            "max_ms": high,
            "percentiles_ms": percentiles,
        }


def _pct_key(p: float) -> str:
    return f"{p:g}"


@dataclass(slots=True, frozen=True)
class HistoryRow:
    """One message type (or :data:`AGGREGATED`) over one history interval.

    :ivar t: seconds since the test began, at the end of the interval.
    :ivar timestamp: the wall-clock time (Unix seconds) at the end of the interval.
    :ivar seconds: the interval's length.
    :ivar phase: ``"ramp"`` or ``"steady"``.
    :ivar vens: VENs in the fleet (Locust's "User Count").
    :ivar registered: VENs registered.
    :ivar name: the message type, or :data:`AGGREGATED`.
    :ivar percentiles_ms: the interval's latency percentiles (empty when no request ended).
    :ivar total_requests: requests of this type since the start; ``total_failures`` and the
        ``total_*_ms`` latency figures likewise (Locust's "Total" columns).
    """

    t: float
    timestamp: float
    seconds: float
    phase: str
    vens: int
    registered: int
    name: str
    requests: int
    failures: int
    late: int
    percentiles_ms: dict[str, float]
    mean_ms: float | None
    total_requests: int
    total_failures: int
    total_median_ms: float | None
    total_mean_ms: float | None
    total_min_ms: float | None
    total_max_ms: float | None


@dataclass(slots=True, frozen=True)
class RampPoint:
    """The fleet at the end of one history interval: VENs added, by state, and the load tester's health.

    :ivar registering: VENs registering for the first time or again, not after a failure.
    :ivar backing_off: VENs whose last registration attempt failed, waiting to try again.
    :ivar lag_max_ms: the largest event loop lag seen in the interval.
    :ivar cpu_percent: the process's CPU time in the interval, as a percentage of one core.
    """

    t: float
    vens: int
    registered: int
    registering: int
    backing_off: int
    lag_max_ms: float
    cpu_percent: float


class Recorder(Observer):
    """Records what a fleet under load does; see the module documentation.

    :param late_after: a request handed to the transport more than this many seconds after it
        was due counts as *late* (the load tester, not the VTN, was behind).
    :param correct_polls: add the polls a stalled VEN did not send (see the module documentation).
    :param reuse_tallies: empty each interval's window tallies and keep them for the next
        intervals (the default: a histogram is a 184 KiB array, and allocating two or more a
        second costs more than the rest of a snapshot); ``False`` gives every interval fresh
        ones. The rows are the same either way.
    """

    __slots__ = (
        "late_after",
        "correct_polls",
        "reuse_tallies",
        "phase",
        "closed",
        "windows",
        "totals",
        "history",
        "ramp",
        "errors",
        "states",
        "event_answers",
        "event_statuses",
        "signatures_refused",
        "registered_at",
        "_samples",
        "_pending",
        "_ever",
        "cumulative",
        "_started",
        "_last",
        "_clock",
        "_spare",
        "_merged",
    )

    def __init__(self, *, late_after: float = 0.11, correct_polls: bool = True, reuse_tallies: bool = True) -> None:
        self.late_after = late_after
        self.correct_polls = correct_polls
        self.reuse_tallies = reuse_tallies
        #: The phase requests are attributed to; the driver sets it (after a :meth:`snapshot`).
        self.phase = "ramp"
        #: When true, calls are ignored (the test is over; requests cut short by the stop are not results).
        self.closed = False
        #: The current interval's tally per message type.
        self.windows: dict[str, Tally] = {}
        #: Cumulative tallies per (message type, phase), merged from the windows.
        self.totals: dict[tuple[str, str], Tally] = {}
        #: One row per message type and interval, then one :data:`AGGREGATED` row, oldest first.
        self.history: list[HistoryRow] = []
        #: The fleet at the end of every interval.
        self.ramp: list[RampPoint] = []
        #: (message type, error description) -> count.
        self.errors: Counter[tuple[str, str]] = Counter()
        #: VENs per state (:data:`fleetven.fleet.driver.STATES`).
        self.states: Counter[str] = Counter()
        #: ``optIn`` / ``optOut`` -> count.
        self.event_answers: Counter[str] = Counter()
        #: event status -> count.
        self.event_statuses: Counter[str] = Counter()
        self.signatures_refused = 0
        self._samples: dict[str, int] = {}
        #: Seconds since the start when each VEN registered the first time, in order.
        self.registered_at: list[float] = []
        self._pending: set[str] = set()
        self._ever: set[str] = set()
        #: Cumulative tallies per message type (and :data:`AGGREGATED`), all phases, up to the last interval.
        self.cumulative: dict[str, Tally] = {}
        self._clock: Callable[[], float] = time.monotonic
        self._started: float | None = None
        self._last: float | None = None
        # Emptied window tallies kept for the next intervals, and the scratch tally of the aggregate:
        # a histogram is a 184 KiB array, and allocating (and faulting in) two or more a second costs more
        # than the rest of a snapshot.
        self._spare: list[Tally] = []
        self._merged = Tally()

    # ----------------------------------------------------------- the hook

    def start(self, clock: Callable[[], float]) -> float:
        """Mark the start of the test.

        :param clock: the clock of the loop the fleet runs on (``loop.time``).
        :returns: the start time on that clock (history times count from it).
        """
        self._clock = clock
        self._started = self._last = now = clock()
        return now

    def request_done(
        self, ven: Ven, message_type: str, due: float, sent: float, done: float, error: BaseException | None
    ) -> None:
        """Record one request (see :meth:`fleetven.observe.Observer.request_done`)."""
        if self.closed:
            return
        tally = self.windows.get(message_type)
        if tally is None:
            tally = self.windows[message_type] = self._spare.pop() if self._spare else Tally()
        latency = int((done - due) * 1_000_000.0)
        if latency < LOWEST_US:
            latency = LOWEST_US
        elif latency > HIGHEST_US:
            latency = HIGHEST_US
        if self.correct_polls and message_type == "oadrPoll":
            period = int(getattr(ven, "poll_freq", 0.0) * 1_000_000.0)
            if 0 < period < latency:
                tally.histogram.record_corrected_value(latency, period)
            else:
                record_latency(tally.histogram, latency)
        else:
            record_latency(tally.histogram, latency)
        tally.requests += 1
        if sent - due > self.late_after:
            tally.late += 1
        if error is not None:
            tally.failures += 1
            self.errors[(message_type, _describe(error))] += 1
            if message_type in REGISTRATION_TYPES and ven.state != "registered":
                self._pending.add(ven.name)  # the attempt failed: the VEN backs off, then registers again

    def ven_state(self, ven: Ven, old: str, new: str) -> None:
        """Count VENs per state; note first registrations for the ramp."""
        if self.closed or old == new:
            return
        states = self.states
        if states[old] > 0:
            states[old] -= 1
        states[new] += 1
        if new != "registering":
            self._pending.discard(ven.name)
        if new == "registered" and self._started is not None and ven.name not in self._ever:
            self._ever.add(ven.name)
            self.registered_at.append(self._clock() - self._started)

    def event_answer(self, ven: Ven, event_id: str, opt: str) -> None:
        """Count event answers."""
        self.event_answers[opt] += 1

    def event_status(self, ven: Ven, event_id: str, status: str) -> None:
        """Count event status changes."""
        self.event_statuses[status] += 1

    def signature_refused(self, ven: Ven, error: BaseException) -> None:
        """Count VTN messages refused for their signature."""
        self.signatures_refused += 1
        if not self.closed:
            self.errors[("signature", _describe(error))] += 1

    def samples_pending(self, ven: Ven, count: int) -> None:
        """Keep the latest count of a VEN's unacknowledged report samples."""
        self._samples[ven.name] = count

    # ----------------------------------------------------------- intervals

    @property
    def samples_pending_by_ven(self) -> dict[str, int]:
        """The latest count of unacknowledged report samples, per VEN name."""
        return self._samples

    def snapshot(self, now: float, *, vens: int, timestamp: float | None = None, lag_max_ms: float = 0.0,
                 cpu_percent: float = 0.0) -> list[HistoryRow]:
        """Close the current interval: history rows, merge into the phase totals, fresh windows.

        :param now: the loop's clock.
        :param vens: VENs in the fleet now.
        :param timestamp: wall-clock time (default: now).
        :param lag_max_ms: the largest loop lag of the interval (for the ramp record).
        :param cpu_percent: the process CPU of the interval, percent of one core.
        :returns: the rows added (the message types, then the aggregate).
        """
        assert self._started is not None and self._last is not None, "start() first"
        seconds = max(now - self._last, 1e-9)
        t = now - self._started
        wall = time.time() if timestamp is None else timestamp
        registered = self.states["registered"]
        rows: list[HistoryRow] = []
        merged = self._merged
        merged.clear()
        windows, self.windows = self.windows, {}
        for name in sorted(windows):
            window = windows[name]
            total = self.totals.get((name, self.phase))
            if total is None:
                total = self.totals[(name, self.phase)] = Tally()
            total.add(window)
            merged.add(window)
            rows.append(self._row(name, window, t, wall, seconds, vens, registered))
        rows.append(self._row(AGGREGATED, merged, t, wall, seconds, vens, registered))
        if self.reuse_tallies:
            for window in windows.values():
                window.clear()
                self._spare.append(window)
        self.history.extend(rows)
        self.ramp.append(
            RampPoint(
                t=t,
                vens=vens,
                registered=registered,
                registering=max(self.states["registering"] - len(self._pending), 0),
                backing_off=len(self._pending),
                lag_max_ms=lag_max_ms,
                cpu_percent=cpu_percent,
            )
        )
        self._last = now
        return rows

    def _row(self, name: str, window: Tally, t: float, wall: float, seconds: float, vens: int,
             registered: int) -> HistoryRow:
        total = self.cumulative.get(name)
        if total is None:
            total = self.cumulative[name] = Tally()
        total.add(window)
        percentiles, mean, _, _ = window.figures_ms()
        total_median: float | None = None
        total_mean: float | None = None
        total_min: float | None = None
        total_max: float | None = None
        if total.histogram.get_total_count():
            medians, mean_us, min_us, max_us = histogram_figures(total.histogram, (50,))
            total_median, total_mean = medians[50] / 1000.0, mean_us / 1000.0
            total_min, total_max = min_us / 1000.0, max_us / 1000.0
        return HistoryRow(
            t=t,
            timestamp=wall,
            seconds=seconds,
            phase=self.phase,
            vens=vens,
            registered=registered,
            name=name,
            requests=window.requests,
            failures=window.failures,
            late=window.late,
            percentiles_ms=percentiles,
            mean_ms=mean,
            total_requests=total.requests,
            total_failures=total.failures,
            total_median_ms=total_median,
            total_mean_ms=total_mean,
            total_min_ms=total_min,
            total_max_ms=total_max,
        )

    # ----------------------------------------------------------- results

    def message_types(self) -> list[str]:
        """Every message type recorded, sorted."""
        return sorted({name for name, _ in self.totals})

    def tally(self, name: str | None = None, phases: Iterable[str] = PHASES) -> Tally:
        """The merged tally of one message type (``None``: all) over ``phases``."""
        out = Tally()
        wanted = set(phases)
        for (kind, phase), tally in self.totals.items():
            if phase in wanted and (name is None or kind == name):
                out.add(tally)
        return out


FAST_PATHS = _fast_paths_hold()
if FAST_PATHS:
    record_latency = _record_function()
else:  # pragma: no cover - the pinned hdrh has the fields (tests/test_loadtest.py checks it)
    logging.getLogger("fleetven.loadtest").warning(
        "hdrhistogram %s lays out its fields unlike the release fleetven's recorder was checked against "
        "(0.10): the load tester uses its public API, which is slower (see bench/bench_histogram.py)",
        _hdrh_version())
