"""Prometheus metrics of a running fleet (``fleetven run --metrics-port``).

:class:`FleetMetrics` is a fleet :class:`~fleetven.observe.Observer` that counts into its own
``prometheus_client`` registry (never the process-global one), and serves it over HTTP from the
fleet's own event loop (:meth:`FleetMetrics.serve`), so a scrape reads the counters on the thread
that writes them. :class:`LoopLag` measures how late the event loop wakes up.

::

    metrics = FleetMetrics(fleet)
    fleet.observer = metrics
    lag = LoopLag(on_sample=metrics.loop_lag)
    port = await metrics.serve(port=9464)        # http://host:9464/metrics
    lag.start()

The metrics (all prefixed ``fleetven_``):

==================================== ========= ===================================================
``requests_total``                   counter   requests to the VTN, by ``message_type`` and
                                               ``outcome`` (``ok`` or the error's class name)
``request_duration_seconds``         histogram from sending a request to its answer, by ``message_type``
``request_delay_seconds``            histogram from when a request was due to when it was sent
``vens``                             gauge     VENs by ``state``: ``new``, ``registering``,
                                               ``registered``, ``backoff`` (its last request failed:
                                               retrying), ``unregistered``, ``stopped``, ``cancelled``
``events``                           gauge     events by their current ``status`` (``far``, ``near``,
                                               ``active``; ended ones leave the gauge)
``event_status_changes_total``       counter   event status changes, by ``status``
``event_answers_total``              counter   event decisions, by ``opt`` (``optIn``, ``optOut``)
``report_samples_pending``           gauge     report samples not yet acknowledged by the VTN
``signature_failures_total``         counter   VTN messages refused for their signature
``loop_lag_seconds``                 gauge     the event loop's last measured lag
``loop_lag_distribution_seconds``    histogram every loop lag measured
==================================== ========= ===================================================
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from fleetven.observe import Observer

if TYPE_CHECKING:
    from aiohttp import web

    from fleetven.fleet.core import Fleet
    from fleetven.fleet.driver import Ven

__all__ = ("FleetMetrics", "LoopLag", "WorkerCollector", "VEN_STATES")

#: The ``state`` labels of ``fleetven_vens`` (every one is exported, zeros included).
VEN_STATES: Final = ("new", "registering", "registered", "backoff", "unregistered", "stopped", "cancelled")

#: Latency buckets, in seconds: from a millisecond to a minute.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Loop lag buckets, in seconds.
LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_ENDED: Final = frozenset(("completed", "cancelled"))
_RETRYING: Final = frozenset(("registering", "registered"))


class _VenStates:
    """A collector: counts the fleet's VENs by state at each scrape (on the loop, see ``serve``)."""

    def __init__(self, fleet: Fleet, failing: set[Ven]) -> None:
        self._fleet = fleet
        self._failing = failing

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        counts = dict.fromkeys(VEN_STATES, 0)
        failing = self._failing
        for ven in list(self._fleet.vens.values()):
            state = ven.state
            if state in _RETRYING and ven in failing:
                state = "backoff"
            counts[state] = counts.get(state, 0) + 1
        family = GaugeMetricFamily("fleetven_vens", "VENs of the fleet by state (backoff: retrying after a "
                                   "failed request)", labels=["state"])
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


class FleetMetrics(Observer):
    """A fleet observer that keeps Prometheus metrics in its own registry.

    :param fleet: the fleet observed (its VENs are counted by state at each scrape).
    :param registry: the registry to fill; a new one by default.
    """

    __slots__ = (
        "fleet",
        "registry",
        "_requests",
        "_duration",
        "_delay",
        "_children",
        "_failing",
        "_event_status",
        "_events",
        "_event_changes",
        "_answers",
        "_pending",
        "_pending_total",
        "_pending_gauge",
        "_signatures",
        "_lag",
        "_lag_hist",
        "_runner",
    )

    def __init__(self, fleet: Fleet, *, registry: CollectorRegistry | None = None) -> None:
        self.fleet = fleet
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter("fleetven_requests", "Requests to the VTN, by message type and outcome",
                                 ["message_type", "outcome"], registry=r)
        self._duration = Histogram("fleetven_request_duration_seconds", "Time from sending a request to its answer",
                                   ["message_type"], buckets=LATENCY_BUCKETS, registry=r)
        self._delay = Histogram("fleetven_request_delay_seconds", "Time from when a request was due to when it "
                                "was sent", ["message_type"], buckets=LATENCY_BUCKETS, registry=r)
        self._children: dict[tuple[str, str], Any] = {}
        self._failing: set[Ven] = set()
        self._event_status: dict[tuple[str, str], str] = {}
        self._events = Gauge("fleetven_events", "Events by their current status (ended events are not counted)",
                             ["status"], registry=r)
        self._event_changes = Counter("fleetven_event_status_changes", "Event status changes, by status",
                                      ["status"], registry=r)
        self._answers = Counter("fleetven_event_answers", "Event decisions sent, by opt", ["opt"], registry=r)
        self._pending: dict[Ven, int] = {}
        self._pending_total = 0
        self._pending_gauge = Gauge("fleetven_report_samples_pending", "Report samples not yet acknowledged by "
                                    "the VTN", registry=r)
        self._signatures = Counter("fleetven_signature_failures", "VTN messages refused for their signature, "
                                   "certificate or replay protection", registry=r)
        self._lag = Gauge("fleetven_loop_lag_seconds", "The event loop's last measured lag", registry=r)
        self._lag_hist = Histogram("fleetven_loop_lag_distribution_seconds", "Event loop lags measured",
                                   buckets=LAG_BUCKETS, registry=r)
        r.register(_VenStates(fleet, self._failing))
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------ observer

    def _child(self, kind: str, message_type: str, outcome: str = "") -> Any:
        key = (kind + message_type, outcome)
        child = self._children.get(key)
        if child is None:
            if kind == "r":
                child = self._requests.labels(message_type, outcome)
            elif kind == "d":
                child = self._duration.labels(message_type)
            else:
                child = self._delay.labels(message_type)
            self._children[key] = child
        return child

    def request_done(
        self, ven: Ven, message_type: str, due: float, sent: float, done: float, error: BaseException | None
    ) -> None:
        """Count the request, its outcome and its timing; a failure puts ``ven`` in ``backoff``."""
        outcome = "ok" if error is None else type(error).__name__
        self._child("r", message_type, outcome).inc()
        self._child("d", message_type).observe(max(done - sent, 0.0))
        self._child("w", message_type).observe(max(sent - due, 0.0))
        if error is None:
            self._failing.discard(ven)
        else:
            self._failing.add(ven)

    def ven_state(self, ven: Ven, old: str, new: str) -> None:
        """A VEN that stops is no longer backing off."""
        if new not in _RETRYING:
            self._failing.discard(ven)
            if new in ("stopped", "cancelled"):
                self.samples_pending(ven, 0)

    def event_status(self, ven: Ven, event_id: str, status: str) -> None:
        """Move the event to its new status."""
        self._event_changes.labels(status).inc()
        key = (ven.name, event_id)
        old = self._event_status.pop(key, None)
        if old is not None:
            self._events.labels(old).dec()
        if status not in _ENDED:
            self._event_status[key] = status
            self._events.labels(status).inc()

    def event_answer(self, ven: Ven, event_id: str, opt: str) -> None:
        """Count a decision."""
        self._answers.labels(opt).inc()

    def signature_refused(self, ven: Ven, error: BaseException) -> None:
        """Count a refused signature."""
        self._signatures.inc()

    def samples_pending(self, ven: Ven, count: int) -> None:
        """Keep the fleet-wide total of pending samples."""
        old = self._pending.pop(ven, 0)
        if count:
            self._pending[ven] = count
        self._pending_total += count - old
        self._pending_gauge.set(self._pending_total)

    def loop_lag(self, seconds: float) -> None:
        """Record one loop lag measurement (a :class:`LoopLag` ``on_sample`` callback)."""
        self._lag.set(seconds)
        self._lag_hist.observe(seconds)

    # ------------------------------------------------------------------------ serving

    def render(self) -> bytes:
        """The metrics in Prometheus' text format (call on the fleet's loop)."""
        return generate_latest(self.registry)

    async def serve(self, *, host: str | None = None, port: int = 0) -> int:
        """Serve ``GET /metrics`` on the running loop.

        :param host: the address to listen on; ``None`` for every interface.
        :param port: the TCP port; 0 for a free one.
        :returns: the port listened on.
        """
        from aiohttp import web

        async def metrics(request: web.Request) -> web.Response:
            # Prometheus' text format, or OpenMetrics when the scraper asks for it.
            encode, content_type = choose_encoder(request.headers.get("Accept", ""))
            response = web.Response(body=encode(self.registry))
            response.headers["Content-Type"] = content_type
            return response

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/", metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class WorkerCollector:
    """A collector of one worker's figures (:class:`~fleetven.fleet.worker.Worker`), read at each
    scrape: register it in :attr:`FleetMetrics.registry` beside the fleet's metrics.

    Gauges ``fleetven_worker_slots`` (by ``state``: ``held``, ``suspended``), ``fleetven_worker_vens``,
    ``fleetven_worker_lease_renewal_seconds`` (the last renewal's latency); counters
    ``fleetven_worker_lease_renewals_total`` (by ``outcome``), ``fleetven_worker_slots_gained_total``,
    ``fleetven_worker_slots_lost_total``, ``fleetven_worker_slots_handed_back_total``,
    ``fleetven_worker_slots_resumed_total``, ``fleetven_worker_fenced_writes_total`` and
    ``fleetven_worker_statements_total``.

    :param worker: anything with ``refresh_stats()`` returning a :class:`~fleetven.fleet.worker.WorkerStats`.
    """

    def __init__(self, worker: Any) -> None:
        self._worker = worker

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        s = self._worker.refresh_stats()
        slots = GaugeMetricFamily("fleetven_worker_slots", "Slots this worker holds, or cannot prove now",
                                  labels=["state"])
        slots.add_metric(["held"], s.slots)
        slots.add_metric(["suspended"], s.suspended)
        yield slots
        yield GaugeMetricFamily("fleetven_worker_vens", "VENs this worker runs", value=s.vens)
        yield GaugeMetricFamily("fleetven_worker_lease_renewal_seconds", "Latency of the last successful lease "
                                "renewal", value=s.renewal_latency)
        renewals = CounterMetricFamily("fleetven_worker_lease_renewals", "Lease renewals, by outcome",
                                       labels=["outcome"])
        renewals.add_metric(["ok"], s.renewals)
        renewals.add_metric(["failed"], s.renewal_failures)
        yield renewals
        for name, text, value in (("slots_gained", "Slots acquired", s.gained),
                                  ("slots_lost", "Slots lost to another worker or a fenced write", s.lost),
                                  ("slots_handed_back", "Slots handed back gracefully", s.handed_back),
                                  ("slots_resumed", "Suspended slots taken back with their VENs", s.resumed),
                                  ("fenced_writes", "State writes refused or discarded: their lease was not "
                                   "current", s.fenced),
                                  ("statements", "SQL statements sent to PostgreSQL (state and leases)",
                                   s.statements)):
            yield CounterMetricFamily(f"fleetven_worker_{name}", text, value=value)


class LoopLag:
    """Measures the event loop's lag: how much later than asked a short sleep wakes up.

    :param interval: time between measurements, in seconds.
    :param on_sample: called with each lag, in seconds.
    """

    __slots__ = ("interval", "last", "worst", "_callbacks", "_task")

    def __init__(self, *, interval: float = 0.25, on_sample: Callable[[float], None] | None = None) -> None:
        self.interval = interval
        #: The last lag measured, in seconds.
        self.last = 0.0
        #: The largest lag since :meth:`take_worst` was last called.
        self.worst = 0.0
        self._callbacks: list[Callable[[float], None]] = [on_sample] if on_sample is not None else []
        self._task: asyncio.Task[None] | None = None

    def add_callback(self, callback: Callable[[float], None]) -> None:
        """Also call ``callback`` with every lag measured."""
        self._callbacks.append(callback)

    def take_worst(self) -> float:
        """The largest lag since the last call, and start over."""
        worst, self.worst = self.worst, 0.0
        return worst

    def start(self) -> None:
        """Start measuring on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop measuring."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(loop.time() - start - self.interval, 0.0)
            self.last = lag
            self.worst = max(self.worst, lag)
            for callback in self._callbacks:
                callback(lag)
