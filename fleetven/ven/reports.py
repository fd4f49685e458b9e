"""A VEN's reports: what it offers (``METADATA_*``), what the VTN asks for, and delivery.

:class:`ReportSpec` describes one data point a VEN offers; :func:`make_report_spec`
builds one from the arguments OpenLEADR users give to ``add_report`` (both live in
``fleetven.ven._specs`` and are exported from here). :class:`ReportRuntime` (one per fleet
run) holds what every engine shares: the timer wheel, the clock, the store, the logger, the
settings and the index of the fleet's specs.
:class:`ReportEngine` (one per VEN) turns the specs into the ``oadrRegisterReport``
metadata, runs the VTN's report requests on the shared timer wheel (sampling every
``granularity``, an ``oadrUpdateReport`` every ``reportBackDuration``, one-shot
reports, report intervals, cancellation) and delivers the data through the ``send``
callable the VEN gives it. The engine does no I/O of its own, and decides no protocol rule
of its own either: what to accept, when to sample and send, what to answer are the pure
functions of :mod:`fleetven.ven.report_rules`, which it calls.

Callbacks are called as OpenLEADR 0.5.36 calls them, by ``data_collection_mode``: ``incremental``
with no arguments at each sample (a value, or ``[(datetime, value), ...]`` each sent at its own
instant), ``full`` with ``date_from``, ``date_to`` and ``sampling_interval`` for each range
(see :class:`ReportSpec`). Naive datetimes are local time, as in OpenLEADR.

Delivery is at-least-once towards the VTN and never duplicates on our side: samples
stay buffered until the VTN acknowledges them with an ``oadrUpdatedReport`` carrying
response code 200; after a failed send they go out, in order, with the next one. A
backlog (after a VTN outage) goes out in order, back to back, in reports of one
``reportBackDuration``'s worth of samples or 500, whichever is more. Each request holds at most
``max_pending`` samples; past that the oldest are dropped, counted and logged.

With a :class:`~fleetven.store.Store`, the engine keeps its active requests (and where each
stands) and every sample not yet acknowledged in it, and :meth:`ReportEngine.restore` resumes
them after a restart: sampling continues at the next instant of the request's own schedule
(never sampling an instant twice) and the samples kept are delivered first.

``TELEMETRY_STATUS`` samples always go out as a conformant ``oadrPayloadResourceStatus``
(``oadrOnline``, ``oadrManualOverride``, and ``oadrLoadControlState`` when given; rule 510),
whatever shape the callback returns (see :class:`ReportSpec`): a bare bool or number, as
OpenLEADR users return, is sent as ``oadrOnline`` with ``oadrManualOverride`` false; a dict or
:class:`~fleetven.openadr.model.ResourceStatus` with a field missing or of the wrong type is
sent with the fields that can be read and the defaults (``online`` false, ``manual_override``
false, no load control state); only a value from which nothing can be read (a string,
``None``, NaN...) is skipped, and the rest of the report still goes out. Each of these is
logged once per report request and data point, not once per sample.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fleetven.exceptions import ConfigurationError
from fleetven.openadr import model as m
from fleetven.store import Sample, Store
from fleetven.ven import report_rules as rules
from fleetven.ven._specs import (
    MEASUREMENTS,
    READING_TYPES,
    REPORT_NAMES,
    REPORT_TYPES,
    SCALES,
    ReportSpec,
    is_history,
    is_naive,
    make_report_spec,
    utc,
)
from fleetven.ven._values import BARE, RICHER, STATUS_KEYS, UNUSABLE, as_pairs, finite_number, read_status
from fleetven.ven.report_rules import REPORT_NOT_SUPPORTED, Rejection

__all__ = (
    "REPORT_NAMES",
    "READING_TYPES",
    "REPORT_TYPES",
    "SCALES",
    "MEASUREMENTS",
    "REPORT_NOT_SUPPORTED",
    "STATUS_KEYS",
    "ReportSpec",
    "Rejection",
    "make_report_spec",
    "ReportRuntime",
    "ReportEngine",
)

class _Catalog(dict[str, dict[str, ReportSpec]]):
    """The specs of one list, by specifier then rID (what the engines look requests up in); one
    per distinct list of specs, shared by every engine given that list."""

    __slots__ = ("__weakref__",)


def _catalog(specs: Sequence[ReportSpec]) -> _Catalog:
    by_spec = _Catalog()
    for s in specs:
        points = by_spec.setdefault(s.report_specifier_id, {})
        if s.r_id in points:
            raise ConfigurationError(f"r_id {s.r_id!r} appears twice in report {s.report_specifier_id!r}",
                                     field="r_id")
        if points and next(iter(points.values())).report_name != s.report_name:
            raise ConfigurationError(f"report_specifier_id {s.report_specifier_id!r} names two reports",
                                     field="report_specifier_id")
        points[s.r_id] = s
    return by_spec


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRuntime:
    """What every :class:`ReportEngine` of a fleet shares, built once by the fleet (at each start:
    the wheel is new each time) and referenced by each engine, which keeps no copy of any of it.

    :param wheel: the shared :class:`~fleetven.timerwheel.TimerWheel`.
    :param clock: the wall clock (aware UTC datetimes) matching the wheel's time (default: ``datetime.now(UTC)``).
    :param store: where the engines keep their requests and the samples not yet acknowledged,
        each under its owner's name (none: memory only).
    :param logger: where failures are logged (each line names the VEN and the report).
    :param retry_delay: seconds before resending the last data of a finished request after a failure.
    :param max_pending: the most samples one request holds unacknowledged; past it the oldest
        are dropped (counted in :attr:`ReportEngine.dropped`, logged). At least 1.
    """

    wheel: Any
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    store: Store | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fleetven.reports"))
    retry_delay: float = 10.0
    max_pending: int = 10_000
    # One index per distinct list of specs, shared by the engines given that list (the fleet's
    # specs, for most VENs), kept while an engine uses it; keyed by the specs' identities.
    _catalogs: weakref.WeakValueDictionary[tuple[int, ...], _Catalog] = field(
        default_factory=weakref.WeakValueDictionary, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_pending", max(int(self.max_pending), 1))

    def catalog(self, specs: Sequence[ReportSpec]) -> Mapping[str, Mapping[str, ReportSpec]]:
        """The specs by specifier then rID: one (read-only by convention) object for every engine given the same specs.

        :raises ConfigurationError: two specs share a data point, or one specifier names two reports.
        """
        key = tuple(map(id, specs))
        found = self._catalogs.get(key)
        if found is None:
            found = self._catalogs[key] = _catalog(specs)  # holds the specs: their ids stay theirs
        return found


# ---------------------------------------------------------------- the engine

_PENDING, _READY, _SKIPPED = 0, 1, 2

#: A request's ``base_dt`` before it is known (aware, like every datetime the store keeps).
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


class _Sample:
    """One value of one data point at one instant (a slot filled later by async callbacks)."""

    __slots__ = ("when", "r_id", "value", "state", "seq")

    def __init__(self, when: datetime, r_id: str) -> None:
        self.when = when
        self.r_id = r_id
        self.value: float | m.ResourceStatus = 0.0
        self.state = _PENDING
        self.seq = 0  # the VEN's sequence number, given when the value is ready


class _Request:
    """One active (or finishing) report request."""

    __slots__ = ("request_id", "specifier_id", "report_name", "specs", "gran", "back", "end", "base_w", "base_dt",
                 "k", "j", "timer", "buffer", "inflight", "sending", "again", "finished", "closed", "cursor",
                 "end_dt", "dropped", "backlog", "noted")

    def __init__(self, request_id: str, specifier_id: str, specs: list[ReportSpec]) -> None:
        self.request_id = request_id
        self.specifier_id = specifier_id
        self.report_name = specs[0].report_name
        self.specs = specs
        self.gran = 0.0  # seconds between samples (0: one-shot)
        self.back = 0.0  # seconds between sends (0: send each sample)
        self.end: float | None = None  # seconds after base when the request completes
        self.base_w = 0.0  # wheel time of the first sample
        self.base_dt: datetime = _NEVER  # aware: the store refuses naive datetimes
        self.k = 0  # next sample index
        self.j = 1  # next send index
        self.timer: Any = None
        self.buffer: list[_Sample] = []
        self.inflight: list[_Sample] = []
        self.sending = False
        self.again = False  # flush once more when the send in flight ends
        self.finished = False  # no more sampling: deliver what is left, then forget
        self.closed = False  # forgotten: drop everything
        self.cursor: datetime | None = None  # history: data before this instant was fetched already
        self.end_dt: datetime | None = None  # history: the end of the report interval
        self.dropped = 0  # samples dropped at the cap
        self.backlog = False  # the last send left ready samples behind (more than one report's worth)
        self.noted: set[tuple[str, str]] | None = None  # (rID, problem) already logged for this request

    def row(self) -> dict[str, Any]:
        """Where the request stands, for the store (:meth:`ReportEngine.restore` reads it back)."""
        return {"specifier_id": self.specifier_id, "r_ids": [s.r_id for s in self.specs], "gran": self.gran,
                "back": self.back, "end": self.end, "base_dt": self.base_dt, "cursor": self.cursor,
                "end_dt": self.end_dt, "finished": self.finished}

    def batch(self) -> int:
        """The most samples one ``oadrUpdateReport`` carries (:func:`~fleetven.ven.report_rules.batch_size`)."""
        return rules.batch_size(self.gran, self.back, len(self.specs))

# A callback gave a naive datetime (taken as local time): also logged once per request and data point.
_NAIVE = "naive"

def _first_note(req: _Request, r_id: str, problem: str) -> bool:
    """Whether this is the first time ``problem`` is noted for data point ``r_id`` of ``req``
    (each is logged once per report request and data point; later ones at DEBUG)."""
    noted = req.noted
    if noted is None:
        noted = req.noted = set()
    key = (r_id, problem)
    if key in noted:
        return False
    noted.add(key)
    return True


class ReportEngine:
    """The reports of one VEN: metadata, active requests, sampling and delivery.

    What every engine of a fleet shares (wheel, clock, store, logger, settings, the index of the
    fleet's specs) is in the one :class:`ReportRuntime` it is given; the engine itself holds only
    this VEN's state.

    :param specs: the data points this VEN offers.
    :param runtime: what the engines of a fleet share (:class:`ReportRuntime`).
    :param send: ``async send(message) -> reply``: the VEN posts the message to the VTN's
        EiReport service and returns the parsed reply (raises on transport failure).
    :param ven_arg: passed as first argument to callbacks of specs with ``with_ven`` (the Ven).
    :param ven_id: the VEN's venID, put into the messages (updated by :meth:`register_report`
        and settable as the attribute ``ven_id``).
    :param name: the VEN's name for logs (default: ``ven_arg``'s ``name`` or the venID).
    :param owner: the key of this VEN in the runtime's store (its name; none: the engine keeps
        nothing in the store, memory only).
    :param on_pending: called with the number of samples held unacknowledged when it changes.
    :raises ConfigurationError: two specs share a data point, or one specifier names two reports.
    """

    __slots__ = ("_rt", "_specs", "_send", "_ven_arg", "ven_id", "_name", "_owner", "_on_pending",
                 "_active", "_finishing", "_tasks", "_closed", "rejections", "_held", "dropped", "last_seq")

    def __init__(self, specs: Sequence[ReportSpec], *, runtime: ReportRuntime,
                 send: Callable[[m.Message], Awaitable[m.Message]], ven_arg: object | None = None,
                 ven_id: str | None = None, name: str | None = None, owner: str | None = None,
                 on_pending: Callable[[int], None] | None = None) -> None:
        self._rt = runtime
        self._specs = runtime.catalog(specs)
        self._send = send
        self._ven_arg = ven_arg
        self.ven_id = ven_id
        self._name = name
        self._owner = owner or ""
        self._on_pending = on_pending
        self._active: dict[str, _Request] = {}
        self._finishing: dict[int, _Request] = {}
        self._tasks: set[asyncio.Task[None]] | None = None  # made by the first task (many engines never start one)
        self._closed = False
        #: The requests refused by the latest :meth:`on_create_report`.
        self.rejections: list[Rejection] = []
        self._held = 0  # samples taken and not acknowledged, every request together
        #: Samples dropped at the runtime's ``max_pending`` cap since the engine was made.
        self.dropped = 0
        #: The sequence number of the VEN's latest sample (each ready sample takes the next one,
        #: every request together; it goes out as the interval's ``uid``).
        self.last_seq = 0

    @property
    def _store(self) -> Store | None:
        """The runtime's store when this engine keeps its requests there (it has an owner)."""
        return self._rt.store if self._owner else None

    # ------------------------------------------------------------ public API

    def register_report(self, *, ven_id: str | None, request_id: str) -> m.RegisterReport:
        """The ``oadrRegisterReport`` advertising every report (``METADATA_*``, reportRequestID ``"0"``).

        :param ven_id: the VEN's venID (remembered for later messages).
        :param request_id: the message's requestID.
        :returns: one ``oadrReport`` per report_specifier_id, in the order the specs were added.
        """
        if ven_id is not None:
            self.ven_id = ven_id
        return rules.register_report(self._specs, ven_id=self.ven_id, request_id=request_id, now=self._rt.clock())

    def on_create_report(self, msg: m.CreateReport | m.RegisteredReport, *, replace: bool = False) -> list[str]:
        """Start the report requests of an ``oadrCreateReport`` (or of an ``oadrRegisteredReport``).

        A request for specifier ``METADATA`` re-sends the ``oadrRegisterReport``. A request naming
        an unknown report or data point is refused (listed in :attr:`rejections` with code 461);
        the others start. A request id already active is replaced.

        :param msg: the VTN's message.
        :param replace: the message is the VTN's full list: active requests missing from it are
            cancelled (implied cancellation).
        :returns: the pending list: every active request id.
        """
        self.rejections = []
        if self._closed:
            return []
        for rid in rules.implied_cancellations(self._active, msg, replace=replace):
            self._drop(self._active.pop(rid))
        for rr in msg.report_requests:
            self._start(rr)
        return self.pending()

    def on_cancel_report(self, msg: m.CancelReport) -> list[str]:
        """Cancel requests; with ``reportToFollow`` their buffered samples go out in one last report.

        :returns: the pending list after the cancellation.
        """
        cancel = rules.cancellation(msg, self._active)
        for rid in cancel.request_ids:
            req = self._active.pop(rid)
            if cancel.last_report:
                self._finish(req)
            else:
                self._drop(req)
        return self.pending()

    def pending(self) -> list[str]:
        """Every active report request id (for ``oadrPendingReports``)."""
        return rules.pending_reports(self._active)

    def created_report(self, *, request_id: str | None) -> m.CreatedReport:
        """The ``oadrCreatedReport`` answering the latest :meth:`on_create_report`.

        Response code 200, or the code of the first refused request (with its reason).
        """
        return rules.created_report(self.rejections, self.pending(), request_id=request_id, ven_id=self.ven_id)

    def canceled_report(self, *, request_id: str | None) -> m.CanceledReport:
        """The ``oadrCanceledReport`` answering an ``oadrCancelReport`` (after :meth:`on_cancel_report`)."""
        return rules.canceled_report(self.pending(), request_id=request_id, ven_id=self.ven_id)

    def close(self) -> None:
        """Cancel every timer and every task in flight; the engine does nothing more. What the
        store holds stays there (a stopped fleet resumes from it)."""
        self._closed = True
        for req in [*self._active.values(), *self._finishing.values()]:
            self._drop(req, forget=False)
        self._active.clear()
        self._finishing.clear()
        for task in list(self._tasks or ()):
            task.cancel()

    def forget(self) -> None:
        """Forget every request, in the store too (the VEN lost its registration: the VTN's requests died with it)."""
        for req in [*self._active.values(), *self._finishing.values()]:
            self._drop(req)
        self._active.clear()
        self._finishing.clear()

    @property
    def held(self) -> int:
        """Samples taken and not yet acknowledged by the VTN, every request together."""
        return self._held

    def restore(self, rows: dict[str, Any], samples: dict[str, list[Sample]], dropped: dict[str, int]) -> None:
        """Resume the requests a store kept (:meth:`fleetven.store.Store.load`): each continues at
        the next instant of its own schedule after now; its kept samples are delivered first, with
        the sequence numbers they had (new ones are numbered after them, and after :attr:`last_seq`,
        which the VEN sets from the store's :attr:`~fleetven.store.VenState.last_seq`).
        A request naming a report this VEN no longer offers is forgotten (logged)."""
        self.last_seq = max(self.last_seq, 0, *(s.seq for kept in samples.values() for s in kept))
        now_dt, now_w = self._rt.clock(), self._rt.wheel.time()
        for rid, row in rows.items():
            points = self._specs.get(row["specifier_id"])
            specs = [points[r] for r in row["r_ids"] if r in points] if points is not None else []
            if not specs or len(specs) != len(row["r_ids"]):
                self._rt.logger.warning("VEN %s: report request %s kept from the last run names report %s, which "
                                     "this VEN no longer offers: forgotten", self._label(), rid, row["specifier_id"])
                store = self._store
                if store is not None:
                    store.drop_request(self._owner, rid)
                continue
            req = _Request(rid, row["specifier_id"], specs)
            req.gran, req.back, req.end = row["gran"], row["back"], row["end"]
            req.base_dt, req.cursor, req.end_dt = row["base_dt"], row["cursor"], row["end_dt"]
            req.dropped = dropped.get(rid, 0)
            req.base_w = now_w + (req.base_dt - now_dt).total_seconds()
            kept = samples.get(rid, ())
            for s in kept:
                sample = _Sample(s.dtstart, s.r_id)
                sample.value, sample.state, sample.seq = s.value, _READY, s.seq
                req.buffer.append(sample)
            self._held += len(req.buffer)
            elapsed = (now_dt - req.base_dt).total_seconds()
            if row["finished"]:
                self._finish(req)
                continue
            if is_history(specs[0]):
                self._active[rid] = req
                self._resume_history(req, now_dt, now_w)
            else:
                # instants before now were sampled (or missed while down): never again
                req.k, req.j, over = rules.resume(elapsed, req.gran, req.back, req.end)
                if over:
                    self._finish(req)
                    continue
                self._active[rid] = req
                self._schedule(req)
            if req.buffer:
                self._flush(req)
        self._pending_changed()

    def _resume_history(self, req: _Request, now_dt: datetime, now_w: float) -> None:
        nxt = rules.resume_fetch(req.cursor, rules.fetch_period(req.gran, req.back), req.end_dt, now_dt)
        req.timer = self._rt.wheel.call_at(now_w + (nxt - now_dt).total_seconds(), self._fire_history, req)

    @property
    def busy(self) -> bool:
        """Whether a task the engine started (an async sample, a send) is still running."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait until every task the engine started (async samples, sends) has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ requests

    def _label(self) -> str:
        if self._name:
            return self._name
        name = getattr(self._ven_arg, "name", None)
        return str(name or self.ven_id or self._ven_arg or "?")

    def _reject(self, rej: Rejection) -> None:
        self._rt.logger.warning("VEN %s: report request %s refused: %s", self._label(), rej.report_request_id,
                                rej.description)
        self.rejections.append(rej)

    def _start(self, rr: m.ReportRequest) -> None:
        if rules.wants_metadata(rr):
            self._spawn(self._resend_metadata())
            return
        specs = rules.select(rr, self._specs)
        if isinstance(specs, Rejection):
            self._reject(specs)
            return
        rid = rr.report_request_id
        old = self._active.pop(rid, None)
        if old is not None:
            self._drop(old)
        req = _Request(rid, rr.report_specifier.report_specifier_id, specs)
        now_dt, now_w = self._rt.clock(), self._rt.wheel.time()
        if is_history(specs[0]):
            self._start_history(req, rr, now_dt, now_w)
            return
        plan = rules.schedule(rr, now_dt)
        if isinstance(plan, Rejection):
            self._reject(plan)
            return
        req.gran, req.back, req.end = plan.gran, plan.back, plan.end
        req.base_w = now_w + plan.delay
        req.base_dt = now_dt + timedelta(seconds=plan.delay)
        self._active[rid] = req
        self._save(req)
        self._schedule(req)

    def _start_history(self, req: _Request, rr: m.ReportRequest, now_dt: datetime, now_w: float) -> None:
        """``full`` mode (and the earlier ``HISTORY_USAGE`` (start, end) form): fetch ranges with the callback
        instead of sampling.

        With a report interval wholly in the past, one report with its data, then complete.
        Otherwise every ``reportBackDuration`` (or granularity) the data since the last fetch,
        until the interval ends; no interval and no period: one report of the last ``report_duration``
        (:func:`~fleetven.ven.report_rules.history_schedule`, :func:`~fleetven.ven.report_rules.first_fetch`).
        """
        plan = rules.history_schedule(rr, req.specs[0].report_duration, now_dt)
        if isinstance(plan, Rejection):
            self._reject(plan)
            return
        req.gran, req.back = plan.gran, plan.back
        req.end_dt = plan.end
        req.cursor = plan.start
        # Where the request's range begins: kept in the store (which refuses naive datetimes), and
        # read back by restore() as for any request.
        req.base_dt = plan.start
        req.base_w = now_w + (plan.start - now_dt).total_seconds()
        self._active[req.request_id] = req
        self._save(req)
        first, req.end_dt = rules.first_fetch(plan.start, plan.end, rules.fetch_period(req.gran, req.back), now_dt)
        req.timer = self._rt.wheel.call_at(now_w + (first - now_dt).total_seconds(), self._fire_history, req)

    def _fire_history(self, req: _Request) -> None:
        req.timer = None
        if req.closed or req.finished or req.cursor is None:
            return
        now_dt, now_w = self._rt.clock(), self._rt.wheel.time()
        upto, complete = rules.fetched_upto(now_dt, req.end_dt)
        for spec in req.specs:
            self._fetch(req, spec, req.cursor, upto)
        req.cursor = upto
        if complete:
            self._active.pop(req.request_id, None)
            self._finish(req)
            return
        self._save(req)
        self._flush(req)
        nxt = rules.next_fetch(now_dt, rules.fetch_period(req.gran, req.back), req.end_dt)
        req.timer = self._rt.wheel.call_at(now_w + (nxt - now_dt).total_seconds(), self._fire_history, req)

    def _fetch(self, req: _Request, spec: ReportSpec, start: datetime, end: datetime) -> None:
        """Ask a history callback for the data of ``[start, end)``; a placeholder keeps its place."""
        hole = _Sample(start, spec.r_id)
        req.buffer.append(hole)
        args: tuple[Any, ...] = (self._ven_arg,) if spec.with_ven else ()
        try:
            if spec.data_collection_mode == "full":
                result = spec.callback(*args, date_from=start, date_to=end,
                                       sampling_interval=timedelta(seconds=req.gran))
            else:
                result = spec.callback(*args, start, end)
        except Exception as exc:  # user code
            self._bad_sample(req, spec, hole, f"raised {exc!r}", exc)
            return
        if inspect.isawaitable(result):
            self._spawn(self._await_value(req, spec, hole, result, history=True))
        else:
            self._fill(req, spec, hole, result)


    def _fill(self, req: _Request, spec: ReportSpec, hole: _Sample, result: Any,
              pairs: list[Any] | None = None) -> None:
        """Put the (datetime, value) pairs a callback returned (a history fetch, or an incremental
        sample given as pairs: ``pairs``, read already) where its placeholder was, each at its own
        instant. A bad pair skips that pair only; a naive datetime is local time (one warning)."""
        if req.closed:
            return
        got: list[_Sample] = []
        if pairs is None:
            try:
                pairs = list(result)
            except Exception as exc:  # not iterable, or user code (a generator) that raised
                self._bad_sample(req, spec, hole, f"returned {result!r}, not a list of (datetime, value)",
                                 None if isinstance(exc, TypeError) else exc)
                return
        status = rules.is_status(spec.report_name)
        what = "status" if status else "finite number"
        for pair in pairs:
            when, value = pair if isinstance(pair, (tuple, list)) and len(pair) == 2 else (None, None)
            if not isinstance(when, datetime):
                self._bad_sample(req, spec, _Sample(hole.when, spec.r_id),
                                 f"returned {pair!r}, not a (datetime, {what}) pair", None)
                continue
            naive = is_naive(when)
            try:
                when = utc(when)
            except (OverflowError, ValueError):
                self._bad_sample(req, spec, _Sample(hole.when, spec.r_id),
                                 f"returned {pair!r}: its datetime is out of range in UTC", None)
                continue
            if naive:
                self._noted_naive(req, spec, pair[0], when)
            parsed: float | m.ResourceStatus | None
            if status:
                parsed = self._status_value(req, spec, when, value)
                if parsed is None:
                    continue
            else:
                parsed = finite_number(value)
                if parsed is None:
                    self._bad_sample(req, spec, _Sample(hole.when, spec.r_id),
                                     f"returned {pair!r}, not a (datetime, finite number) pair", None)
                    continue
            sample = _Sample(when, spec.r_id)
            sample.value, sample.state = parsed, _READY
            got.append(sample)
        hole.state = _SKIPPED
        for i, x in enumerate(req.buffer):
            if x is hole:
                req.buffer[i:i + 1] = got
                break
        for sample in got:
            self._held_one(req, sample)

    def _schedule(self, req: _Request) -> None:
        """Arm the request's timer for its next event (sample, send or end)."""
        off = rules.next_due(req.gran, req.back, req.end, req.k, req.j)
        if off is None:
            return
        req.timer = self._rt.wheel.call_at(req.base_w + off, self._fire, req, off)

    def _fire(self, req: _Request, off: float) -> None:
        req.timer = None
        if req.closed or req.finished:
            return
        due = rules.due_at(off, req.gran, req.back, req.end, req.k, req.j)
        if due.send:
            req.j += 1
            self._flush(req)
        if due.end:
            self._active.pop(req.request_id, None)
            self._finish(req)
            return
        if due.sample:
            self._sample(req, req.base_dt + timedelta(seconds=off))
            req.k += 1
            if rules.is_one_shot(req.gran):  # sampled once, send once, complete (rule 324)
                self._active.pop(req.request_id, None)
                self._finish(req)
                return
            if rules.sends_each_sample(req.gran, req.back):
                self._flush(req)
        self._schedule(req)

    def _finish(self, req: _Request) -> None:
        """No more sampling: deliver what is buffered, then forget the request."""
        if req.timer is not None:
            req.timer.cancel()
            req.timer = None
        req.finished = True
        self._finishing[id(req)] = req
        self._save(req)
        self._flush(req)

    def _drop(self, req: _Request, *, forget: bool = True) -> None:
        """Stop a request; ``forget``: it is over for good (cancelled, replaced, done), so the
        store forgets it and its samples; otherwise (the engine closing) the store keeps them."""
        if req.closed:
            return
        req.closed = True
        if req.timer is not None:
            req.timer.cancel()
            req.timer = None
        held = sum(1 for s in req.buffer if s.state == _READY) + len(req.inflight)
        req.buffer.clear()
        self._finishing.pop(id(req), None)
        if held:
            self._held -= held
            self._pending_changed()
        store = self._store
        if forget and store is not None:
            store.drop_request(self._owner, req.request_id)

    # ------------------------------------------------------------ the store

    def _save(self, req: _Request) -> None:
        store = self._store
        if store is not None:
            store.put_request(self._owner, req.request_id, req.row(), dropped=req.dropped)

    def _pending_changed(self) -> None:
        if self._on_pending is not None:
            self._on_pending(self._held)

    def _held_one(self, req: _Request, sample: _Sample) -> None:
        """A sample became ready: number it, keep it in the store, and keep the request under its cap."""
        self._held += 1
        self.last_seq = sample.seq = self.last_seq + 1
        store = self._rt.store  # at every sample: no property call
        if store is not None and self._owner:
            store.add_sample(self._owner, req.request_id, Sample(sample.r_id, sample.when, sample.value, sample.seq))
        # While a batch is on its way the oldest samples are in it: the cap is applied when it comes
        # back (acknowledged, or put back in front of the buffer), so that it drops the oldest.
        if not req.inflight and len(req.buffer) > self._rt.max_pending:
            self._drop_oldest(req)
        self._pending_changed()

    def _drop_oldest(self, req: _Request) -> None:
        excess = len(req.buffer) + len(req.inflight) - self._rt.max_pending
        gone: list[_Sample] = []
        kept: list[_Sample] = []
        for s in req.buffer:
            if excess > 0 and s.state == _READY:
                gone.append(s)
                excess -= 1
            else:
                kept.append(s)
        if not gone:
            return
        req.buffer = kept
        req.dropped += len(gone)
        self.dropped += len(gone)
        self._held -= len(gone)
        store = self._store
        if store is not None:
            store.ack_samples(self._owner, req.request_id, [Sample(s.r_id, s.when, s.value) for s in gone])
            self._save(req)
        count = req.dropped
        if count & (count - 1) == 0 or count % 10_000 == 0:  # 1, 2, 4, 8 ... then every 10,000
            self._rt.logger.warning("VEN %s: report request %s holds %d samples the VTN has not acknowledged (the "
                                 "cap): dropped the oldest, %d dropped so far", self._label(), req.request_id,
                                 self._rt.max_pending, count)

    # ------------------------------------------------------------ sampling

    def _sample(self, req: _Request, when: datetime) -> None:
        for spec in req.specs:
            sample = _Sample(when, spec.r_id)
            req.buffer.append(sample)
            try:
                result = spec.callback(self._ven_arg) if spec.with_ven else spec.callback()
            except Exception as exc:  # user code: log it, skip the sample
                self._bad_sample(req, spec, sample, f"raised {exc!r}", exc)
                continue
            if inspect.isawaitable(result):
                self._spawn(self._await_value(req, spec, sample, result, history=False))
            else:
                self._accept(req, spec, sample, result)

    async def _await_value(self, req: _Request, spec: ReportSpec, sample: _Sample, result: Awaitable[Any], *,
                           history: bool) -> None:
        """Finish a sample whose callback returned an awaitable: store its value, then send when due.

        ``history``: a range fetch (``full`` mode), made at a send instant, so its data goes out at once.
        """
        try:
            value = await result
        except Exception as exc:  # user code
            self._bad_sample(req, spec, sample, f"raised {exc!r}", exc)
            return
        if history:
            self._fill(req, spec, sample, value)
            self._flush(req)
            return
        self._accept(req, spec, sample, value)
        if rules.sends_each_sample(req.gran, req.back) or req.finished:
            self._flush(req)

    def _accept(self, req: _Request, spec: ReportSpec, sample: _Sample, value: Any) -> None:
        if req.closed:  # cancelled while an async callback ran: nothing more to keep
            return
        status = rules.is_status(spec.report_name)
        try:
            pairs = as_pairs(value, status=status)
        except Exception as exc:  # user code: an iterable (a generator) that raised while read
            self._bad_sample(req, spec, sample, f"returned {value!r}, which raised {exc!r} when read", exc)
            return
        if pairs is not None:  # [(datetime, value), ...], as OpenLEADR accepts: each at its own instant
            self._fill(req, spec, sample, value, pairs)
            return
        parsed: float | m.ResourceStatus | None
        if status:
            parsed = self._status_value(req, spec, sample.when, value)
            if parsed is None:
                sample.state = _SKIPPED
                return
        else:
            parsed = finite_number(value)
            if parsed is None:
                self._bad_sample(req, spec, sample, f"returned {value!r}, not a finite number", None)
                return
        sample.value = parsed
        sample.state = _READY
        self._held_one(req, sample)

    def _status_value(self, req: _Request, spec: ReportSpec, when: datetime, value: Any) -> m.ResourceStatus | None:
        """The status to send for what a ``TELEMETRY_STATUS`` callback returned (``None``: skip the
        sample); what was assumed or skipped is logged once per request and data point."""
        status, problem, detail = read_status(value)
        if problem is None:
            return status
        first = _first_note(req, spec.r_id, problem)
        if not first and not self._rt.logger.isEnabledFor(logging.DEBUG):  # the common case: nothing more to say
            return status
        head = (f"VEN {self._label()}: report {spec.report_name} ({spec.report_specifier_id}, rID {spec.r_id}, "
                f"resource {spec.resource_id}, request {req.request_id}): callback returned {value!r}")
        if problem == UNUSABLE:
            level = logging.ERROR if first else logging.DEBUG
            self._rt.logger.log(level, "%s, from which no status can be read (%s; expected %s, a bool or a number): "
                             "sample at %s skipped, the rest of the report still goes out%s", head, detail,
                             RICHER, when.isoformat(), " (logged once per report request; later ones at DEBUG)"
                             if first else "")
        elif problem == BARE:
            self._rt.logger.log(logging.WARNING if first else logging.DEBUG,
                             "%s, a bare %s, sent as oadrOnline=%s and oadrManualOverride=false; return %s to "
                             "report both (logged once per report request)", head, type(value).__name__,
                             "true" if value != 0 else "false", RICHER)
        else:
            self._rt.logger.log(logging.WARNING if first else logging.DEBUG,
                             "%s: %s; sent with the rest (logged once per report request)", head, detail)
        return status

    def _noted_naive(self, req: _Request, spec: ReportSpec, given: datetime, when: datetime) -> None:
        """Log a naive datetime from a callback once per report request and data point (DEBUG after)."""
        first = _first_note(req, spec.r_id, _NAIVE)
        if not first and not self._rt.logger.isEnabledFor(logging.DEBUG):
            return
        self._rt.logger.log(logging.WARNING if first else logging.DEBUG,
                         "VEN %s: report %s (%s, rID %s, resource %s, request %s): the callback gave a naive "
                         "datetime, %s: taken as local time, %s, as OpenLEADR takes it; return aware datetimes to "
                         "say which time zone%s", self._label(), spec.report_name, spec.report_specifier_id,
                         spec.r_id, spec.resource_id, req.request_id, given.isoformat(), when.isoformat(),
                         " (logged once per report request)" if first else "")

    def _bad_sample(self, req: _Request, spec: ReportSpec, sample: _Sample, what: str,
                    exc: BaseException | None) -> None:
        sample.state = _SKIPPED
        self._rt.logger.error("VEN %s: report %s (%s, rID %s, request %s): callback %s; sample at %s skipped",
                           self._label(), spec.report_name, spec.report_specifier_id, spec.r_id, req.request_id,
                           what, sample.when.isoformat(), exc_info=exc)

    # ------------------------------------------------------------ delivery

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _flush(self, req: _Request) -> None:
        """Send the ready samples of ``req`` (unless a send is already in flight)."""
        if req.closed:
            return
        if req.sending:
            req.again = True
            return
        limit = req.batch()
        ready: list[_Sample] = []
        rest: list[_Sample] = []
        for s in req.buffer:
            if s.state == _READY and len(ready) < limit:
                ready.append(s)
            elif s.state != _SKIPPED:
                rest.append(s)
        req.buffer = rest
        if not ready:
            if req.finished and not req.buffer:
                self._finishing.pop(id(req), None)
                store = self._store
                if store is not None:
                    store.drop_request(self._owner, req.request_id)
            return
        # A backlog (after an outage): the next batch goes out as soon as this one is acknowledged.
        req.backlog = any(s.state == _READY for s in rest)
        req.sending = True
        req.inflight = ready
        self._spawn(self._deliver(req, self._update_report(req, ready)))

    def _update_report(self, req: _Request, samples: list[_Sample]) -> m.UpdateReport:
        return rules.update_report(samples, report_request_id=req.request_id, specifier_id=req.specifier_id,
                                   report_name=req.report_name, gran=req.gran, created=self._rt.clock(),
                                   request_id=uuid.uuid4().hex, ven_id=self.ven_id)

    async def _deliver(self, req: _Request, msg: m.UpdateReport) -> None:
        ok = False
        store = self._store
        try:
            if store is not None:
                # Nothing goes out that the store does not hold yet: after a crash the VEN (or the
                # next owner of its slot) sends these samples again under the same numbers, and
                # numbers the next ones after them, never reusing one the VTN has seen.
                await store.committed()
            reply = await self._send(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # transport errors: keep the samples
            self._rt.logger.warning("VEN %s: oadrUpdateReport for request %s failed: %s; %d samples kept",
                                 self._label(), req.request_id, exc, len(req.inflight))
        else:
            ok = rules.acknowledged(reply)
            cancel = rules.carried_cancel(reply)
            if cancel is not None:
                self.on_cancel_report(cancel)
            if not ok:
                self._rt.logger.warning("VEN %s: oadrUpdateReport for request %s not acknowledged (%s); "
                                     "%d samples kept", self._label(), req.request_id,
                                     type(reply).__name__ if not isinstance(reply, m.UpdatedReport)
                                     else reply.response.response_code, len(req.inflight))
        req.sending = False
        if not ok and not req.closed:
            req.buffer[:0] = req.inflight
        elif ok and not req.closed and req.inflight:
            self._held -= len(req.inflight)
            store = self._store
            if store is not None:
                store.ack_samples(self._owner, req.request_id,
                                        [Sample(s.r_id, s.when, s.value) for s in req.inflight])
            self._pending_changed()
        req.inflight = []
        if req.closed or self._closed:
            return
        if len(req.buffer) > self._rt.max_pending:
            self._drop_oldest(req)
            self._pending_changed()
        if req.again or (ok and (req.finished or req.backlog)):
            req.again = False
            self._flush(req)
        elif not ok and req.finished:  # nothing else will send it: retry later
            req.timer = self._rt.wheel.call_later(self._rt.retry_delay, self._flush, req)

    async def _resend_metadata(self) -> None:
        """Answer a METADATA request: register the reports again, start any requests in the reply."""
        try:
            reply = await self._send(self.register_report(ven_id=self.ven_id, request_id=uuid.uuid4().hex))
            if isinstance(reply, m.RegisteredReport) and reply.report_requests and not self._closed:
                self.on_create_report(reply)
                await self._send(self.created_report(request_id=reply.response.request_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # transport errors
            self._rt.logger.warning("VEN %s: re-sending oadrRegisterReport failed: %s", self._label(), exc)
