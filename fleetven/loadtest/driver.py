"""The load test: a fleet ramped up against a VTN, measured by a :class:`~.recorder.Recorder`.

::

    config = LoadTestConfig(vtn_url="http://vtn:8080/OpenADR2/Simple/2.0b", vens=5000, ramp=60, duration=600)
    result = await LoadTest(config).run()          # on the running loop (uvloop for real runs)
    print(result.render_summary())
    result.write("out/")                           # summary.json, stats.csv, stats_history.csv, report.html
    raise SystemExit(0 if result.passed else 1)

The test has two phases: *ramp* (``ramp`` seconds, VENs added at an even pace while the fleet
runs, each registering as soon as it is added) and *steady* (``duration`` seconds with every VEN
in). The VENs are named ``loadtest-00001``, ``loadtest-00002``... and poll at the VTN's
``oadrRequestedOadrPollFreq``, or at ``poll_interval`` when it is given (then it overrides what
the VTN asks for: a load test chooses its load).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from fleetven.exceptions import ConfigurationError
from fleetven.fleet.core import Fleet
from fleetven.loadtest.monitor import Monitor
from fleetven.loadtest.recorder import AGGREGATED, HistoryRow, Recorder
from fleetven.loadtest.results import Result
from fleetven.loadtest.units import format_duration, format_ms

__all__ = ("LoadTest", "LoadTestConfig", "ReportOption", "parse_report_option")

#: Report names ``--report`` accepts, with the measurement their synthetic callback reports.
REPORTS: dict[str, str | None] = {"TELEMETRY_USAGE": "REAL_POWER", "TELEMETRY_STATUS": None}


@dataclass(frozen=True, slots=True)
class ReportOption:
    """A report every VEN offers (``--report NAME:INTERVAL``): ``name`` sampled every ``interval`` seconds."""

    name: str
    interval: float


def parse_report_option(text: str) -> ReportOption:
    """Parse ``NAME:INTERVAL`` (``TELEMETRY_USAGE:10s``).

    :raises ConfigurationError: an unknown report name or a bad interval.
    """
    from fleetven.loadtest.units import parse_duration

    name, sep, interval = text.partition(":")
    name = name.strip().upper()
    if name not in REPORTS:
        raise ConfigurationError(
            f"--report {text!r}: the report must be one of {', '.join(REPORTS)}", setting="--report"
        )
    seconds = parse_duration(interval if sep else "10s", name=f"--report {text!r}")
    if seconds <= 0:
        raise ConfigurationError(f"--report {text!r}: the interval must be positive", setting="--report")
    return ReportOption(name, seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTestConfig:
    """What to run. Times in seconds.

    :param vtn_url: the VTN under test.
    :param vens: how many VENs.
    :param ramp: seconds over which the VENs are added (0: all at once).
    :param duration: seconds of the steady phase, after the ramp.
    :param poll_interval: poll every this many seconds whatever the VTN asks (``None``: as the VTN
        asks, or every 10 s when it names no frequency).
    :param reports: reports every VEN offers; the VTN decides whether to request them.
    :param cert: the fleet's client certificate (TLS and, unless ``disable_signature``, XML signatures).
    :param key: its private key.
    :param passphrase: the key's passphrase.
    :param ca_file: CA bundle for the VTN's TLS certificate (and, with ``require_vtn_signature``,
        the VTN's signing certificate).
    :param vtn_fingerprint: verify every VTN message's signature against this fingerprint.
    :param require_vtn_signature: require every VTN message to be signed by a certificate from ``ca_file``.
    :param check_hostname: check the VTN's certificate names its host.
    :param disable_signature: send unsigned messages even with ``cert``.
    :param tls_mode: ``"default"`` or ``"certification"``.
    :param max_connections: the fleet's connection pool size.
    :param request_timeout: time one request may take.
    :param timer_resolution: the fleet's timer wheel tick (default 10 ms, finer than a
        fleet's usual 100 ms: a request goes out at the first tick after it is due, and the
        latency measured from the due time includes that wait, so the tick bounds how much of
        a figure is the load tester's own scheduling).
    :param history_interval: the length of one row of ``stats_history.csv`` (and one progress update).
    :param late_slack: a request is *late* when sent more than one wheel tick plus this after it was due.
    :param max_error_rate: fail (exit status 1) when failures / requests exceeds this (0.01 = 1 %).
    :param max_p99: fail when the p99 latency over all requests exceeds this many seconds.
    :param seed: the fleet's random seed (poll phases, backoff jitter).
    :param name_prefix: VEN names are this plus a 5-digit number.
    """

    vtn_url: str
    vens: int = 100
    ramp: float = 0.0
    duration: float = 60.0
    poll_interval: float | None = None
    reports: tuple[ReportOption, ...] = ()
    cert: str | None = None
    key: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    vtn_fingerprint: str | None = None
    require_vtn_signature: bool = False
    check_hostname: bool = True
    disable_signature: bool = False
    tls_mode: str = "default"
    max_connections: int = 64
    request_timeout: float = 30.0
    timer_resolution: float = 0.01
    history_interval: float = 1.0
    late_slack: float = 0.010
    max_error_rate: float | None = None
    max_p99: float | None = None
    seed: int | None = None
    name_prefix: str = "loadtest-"

    def __post_init__(self) -> None:
        if not isinstance(self.vens, int) or self.vens < 1:
            raise ConfigurationError(f"--vens must be a positive number of VENs, not {self.vens!r}", setting="vens")
        for name in ("ramp", "duration"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"--{name} cannot be negative", setting=name)
        if self.ramp + self.duration <= 0:
            raise ConfigurationError("--ramp and --duration are both 0: nothing to run", setting="duration")
        if self.poll_interval is not None and self.poll_interval <= 0:
            raise ConfigurationError("--poll-interval must be positive", setting="poll_interval")
        if self.history_interval <= 0:
            raise ConfigurationError("--history-interval must be positive", setting="history_interval")
        if self.max_error_rate is not None and not 0 <= self.max_error_rate <= 1:
            raise ConfigurationError(
                f"--max-error-rate must be a fraction between 0 and 1 (0.01 = 1 %), not {self.max_error_rate!r}",
                setting="max_error_rate",
            )
        if self.max_p99 is not None and self.max_p99 <= 0:
            raise ConfigurationError("--max-p99 must be positive", setting="max_p99")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the passphrase left out)."""
        data = asdict(self)
        data.pop("passphrase", None)
        data["reports"] = [f"{r.name}:{format_duration(r.interval)}" for r in self.reports]
        return data

    @property
    def late_after(self) -> float:
        """Seconds after its due time past which a request counts as late: one wheel tick plus the slack."""
        return self.timer_resolution + self.late_slack


class _LoadRecorder(Recorder):
    """The recorder, plus the one thing a load test does to its VENs: impose the poll interval."""

    __slots__ = ("poll_freq", "vtn_poll_freqs")

    def __init__(self, *, late_after: float, poll_freq: float | None) -> None:
        super().__init__(late_after=late_after)
        self.poll_freq = poll_freq
        #: The poll periods the VTN asked for (seconds -> VENs), seen at registration.
        self.vtn_poll_freqs: dict[float, int] = {}

    def ven_state(self, ven: Any, old: str, new: str) -> None:
        if new == "registered":
            freqs = self.vtn_poll_freqs
            freqs[ven.poll_freq] = freqs.get(ven.poll_freq, 0) + 1
            if self.poll_freq is not None:
                ven.poll_freq = self.poll_freq  # before the VEN arms its first poll (see Ven._register)
        super().ven_state(ven, old, new)


def _synthetic_power(ven: Any) -> float:
    """A steady, VEN-specific reading for a synthetic TELEMETRY_USAGE report."""
    name: str = ven.name
    return 1000.0 + float(sum(name.encode()) % 500)


def _synthetic_status(ven: Any) -> dict[str, bool]:
    return {"online": True, "manual_override": False}


class LoadTest:
    """Runs one load test; see the module documentation.

    :param config: what to run.
    :param progress: where the progress line goes (``None``: nowhere). A terminal gets one line
        rewritten in place; anything else a line every 10 s.
    :param fleet_options: more keyword arguments for :class:`~fleetven.Fleet`.
    """

    def __init__(self, config: LoadTestConfig, *, progress: TextIO | None = sys.stderr,
                 fleet_options: dict[str, Any] | None = None) -> None:
        self.config = config
        self.progress = progress
        self.fleet_options = dict(fleet_options or {})
        self.recorder = _LoadRecorder(late_after=config.late_after, poll_freq=config.poll_interval)
        self.monitor = Monitor()
        self.fleet: Fleet | None = None
        self._interrupted: asyncio.Event | None = None
        self._tty = bool(progress is not None and getattr(progress, "isatty", lambda: False)())
        self._last_printed = -math.inf

    def interrupt(self) -> None:
        """End the test early (from a signal handler): the results so far are kept and written."""
        if self._interrupted is not None:
            self._interrupted.set()

    def build_fleet(self) -> Fleet:
        """The fleet, with its reports and handlers, and no VEN yet."""
        cfg = self.config
        fleet = Fleet(
            cfg.vtn_url,
            cert=cfg.cert,
            key=cfg.key,
            passphrase=cfg.passphrase,
            ca_file=cfg.ca_file,
            vtn_fingerprint=cfg.vtn_fingerprint,
            require_vtn_signature=cfg.require_vtn_signature,
            check_hostname=cfg.check_hostname,
            disable_signature=cfg.disable_signature,
            tls_mode=cfg.tls_mode,
            poll_interval=cfg.poll_interval or 10.0,
            request_timeout=cfg.request_timeout,
            max_connections=cfg.max_connections,
            timer_resolution=cfg.timer_resolution,
            seed=cfg.seed,
            observer=self.recorder,
            **self.fleet_options,
        )
        fleet.add_handler("on_event", lambda ven, event: "optIn")
        length = timedelta(seconds=max(cfg.ramp + cfg.duration, 3600.0))
        for report in cfg.reports:
            measurement = REPORTS[report.name]
            callback: Callable[[Any], Any] = _synthetic_status if measurement is None else _synthetic_power
            fleet.add_report(callback, "loadtest", measurement, report_name=report.name,
                             sampling_rate=timedelta(seconds=report.interval), report_duration=length)
        return fleet

    async def run(self) -> Result:
        """Run the test on the running loop and return its result (also when interrupted)."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._interrupted = asyncio.Event()
        fleet = self.fleet = self.build_fleet()
        names = [f"{cfg.name_prefix}{i:05d}" for i in range(1, cfg.vens + 1)]
        added = 0
        if cfg.ramp <= 0:
            for name in names:
                fleet.add_ven(name)
            added = len(names)
        recorder, monitor = self.recorder, self.monitor
        recorder.phase = "ramp" if cfg.ramp > 0 else "steady"
        started_wall = time.time()
        t0 = recorder.start(loop.time)
        monitor.start()
        if recorder.phase == "steady":
            monitor.mark_steady()
        await fleet.start()
        ramp_end = t0 + cfg.ramp
        end = ramp_end + cfg.duration
        next_row = t0 + cfg.history_interval
        interrupted = False
        try:
            while True:
                now = loop.time()
                if added < len(names):
                    due = len(names) if now >= ramp_end else math.ceil(len(names) * (now - t0) / cfg.ramp)
                    while added < due:
                        fleet.add_ven(names[added])
                        added += 1
                if recorder.phase == "ramp" and now >= ramp_end:
                    self._row(now, added)  # the ramp's last (short) interval ends with the phase
                    recorder.phase = "steady"
                    monitor.mark_steady()
                    next_row = now + cfg.history_interval
                elif now >= next_row:
                    self._row(now, added)
                    next_row += cfg.history_interval
                    if next_row <= now:  # behind by more than an interval: do not catch up with short rows
                        next_row = now + cfg.history_interval
                if now >= end:
                    break
                wait = min(next_row, end) - now
                if added < len(names):
                    wait = min(wait, 0.05)
                try:
                    async with asyncio.timeout(max(wait, 0.001)):
                        await self._interrupted.wait()
                except TimeoutError:
                    continue
                interrupted = True
                break
            now = loop.time()
            if not recorder.ramp or now - t0 - recorder.ramp[-1].t > 1e-3:
                self._row(now, added)  # the last, partial interval
        finally:
            recorder.closed = True
            await monitor.stop()
            await fleet.stop()
            if self._tty and self.progress is not None:
                self.progress.write("\n")
                self.progress.flush()
        return Result(
            config=cfg,
            recorder=recorder,
            monitor=monitor.summary(),
            started=started_wall,
            elapsed=loop.time() - t0,
            vens_added=added,
            interrupted=interrupted,
            vtn_poll_freqs=dict(recorder.vtn_poll_freqs),
        )

    def _row(self, now: float, added: int) -> None:
        lag_ms, cpu = self.monitor.interval_figures()
        rows = self.recorder.snapshot(now, vens=added, lag_max_ms=lag_ms, cpu_percent=cpu)
        self._print_progress(rows, now, lag_ms, cpu)

    def _print_progress(self, rows: list[HistoryRow], now: float, lag_ms: float, cpu: float) -> None:
        out = self.progress
        if out is None or not rows:
            return
        if not self._tty and now - self._last_printed < 10.0:
            return
        self._last_printed = now
        cfg = self.config
        agg = rows[-1]
        assert agg.name == AGGREGATED
        total = cfg.ramp + cfg.duration
        rate = agg.requests / agg.seconds
        errors = 100.0 * agg.failures / agg.requests if agg.requests else 0.0
        p99 = agg.percentiles_ms.get("99")
        line = (
            f"[{agg.phase:<6} {format_duration(agg.t):>6}/{format_duration(total)}] "
            f"VENs {agg.vens}/{cfg.vens} registered {agg.registered} | {rate:7.1f} req/s "
            f"err {errors:5.2f}% late {agg.late} | p50 {format_ms(agg.percentiles_ms.get('50'))} "
            f"p99 {format_ms(p99)} | lag {lag_ms:.0f} ms CPU {cpu:.0f}%"
        )
        if self._tty:
            out.write("\r" + line + "\x1b[K")
        else:
            out.write(line + "\n")
        out.flush()
