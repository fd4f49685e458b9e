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
from datetime import timedelta
from typing import Any, TextIO

from fleetven.fleet.core import Fleet
from fleetven.loadtest.monitor import Monitor
from fleetven.loadtest.options import fleet_kwargs
from fleetven.loadtest.recorder import AGGREGATED, HistoryRow, Recorder
from fleetven.loadtest.results import Result
from fleetven.loadtest.settings import (
    LOADTEST_FLEET_OPTIONS,
    REPORTS,
    LoadTestConfig,
    ReportOption,
    parse_report_option,
)
from fleetven.loadtest.units import format_duration, format_ms

__all__ = ("LoadTest", "LoadTestConfig", "ReportOption", "parse_report_option")

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
            **fleet_kwargs(cfg, LOADTEST_FLEET_OPTIONS),
            poll_interval=cfg.poll_interval or 10.0,
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
