"""The load tester watching itself: event loop lag and process CPU.

A load tester that cannot keep up reports the VTN slower than it is: a poll that the loop
starts 200 ms late counts those 200 ms as VTN latency (latency is measured from the due time).
:class:`Monitor` measures how late the loop wakes up (a loop timer due every ``interval``
seconds, each time recording how late it ran) and how much CPU the process uses, so that a
result can say when it is doubtful.

The probe's timer is due on the instants ``k * interval`` of the loop's clock: the grid the
fleet's timer wheel ticks on when its resolution is ``interval`` (the load tester's default,
10 ms). The loop then wakes once for both, the probe measuring the lateness of the very wake-up
that sends the polls, instead of waking the process a hundred more times a second (on a busy
virtual machine a wake-up of an otherwise idle process costs some 100 µs of CPU).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

__all__ = ("Monitor",)


class Monitor:
    """Samples the loop's lag every ``interval`` seconds while running.

    :param interval: the time between samples, in seconds (the probe is due on the multiples of it).
    """

    __slots__ = ("interval", "lag", "_window_max", "_loop", "_handle", "_tick", "_expected", "_cpu0", "_wall0",
                 "_cpu_last", "_wall_last", "cpu_max", "_steady", "_stopped")

    def __init__(self, *, interval: float = 0.01) -> None:
        self.interval = interval
        #: Every lag sample of the run, in microseconds.
        self.lag = HdrHistogram(1, 3_600_000_000, 3)
        #: The highest CPU percentage of any interval (see :meth:`interval_figures`).
        self.cpu_max = 0.0
        self._window_max = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._tick = 0  # the grid instant probed last, in intervals
        self._expected = 0.0
        self._cpu0 = self._cpu_last = time.process_time()
        self._wall0 = self._wall_last = time.monotonic()
        self._steady: tuple[float, float] | None = None  # (CPU, wall) when the steady phase began
        self._stopped: tuple[float, float] | None = None  # (CPU, wall) at stop()

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._cpu0 = self._cpu_last = time.process_time()
        self._wall0 = self._wall_last = time.monotonic()
        loop = self._loop = asyncio.get_running_loop()
        self._arm(loop.time())

    def mark_steady(self) -> None:
        """Note that the steady phase begins now (its CPU is reported on its own: no registrations in it)."""
        self._steady = (time.process_time(), time.monotonic())

    async def stop(self) -> None:
        """Stop sampling (the end of the steady phase's CPU figure)."""
        self._stopped = (time.process_time(), time.monotonic())
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _arm(self, now: float) -> None:
        """Arm the probe for the first grid instant after ``now`` (and after the last one probed)."""
        assert self._loop is not None
        interval = self.interval
        self._tick = tick = max(math.floor(now / interval) + 1, self._tick + 1)
        self._expected = expected = tick * interval
        self._handle = self._loop.call_at(expected, self._probe)

    def _probe(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        lag = now - self._expected
        micros = int(lag * 1_000_000.0)
        self.lag.record_value(min(max(micros, 1), 3_600_000_000))
        if lag > self._window_max:
            self._window_max = lag
        self._arm(now)

    def interval_figures(self) -> tuple[float, float]:
        """The largest lag (ms) and the CPU use (percent of one core) since the last call."""
        cpu, wall = time.process_time(), time.monotonic()
        elapsed = wall - self._wall_last
        percent = 100.0 * (cpu - self._cpu_last) / elapsed if elapsed > 0 else 0.0
        self._cpu_last, self._wall_last = cpu, wall
        lag_ms, self._window_max = self._window_max * 1000.0, 0.0
        self.cpu_max = max(self.cpu_max, percent)
        return lag_ms, percent

    def cpu_percent(self) -> float:
        """The process CPU since :meth:`start`, as a percentage of one core."""
        elapsed = time.monotonic() - self._wall0
        return 100.0 * (time.process_time() - self._cpu0) / elapsed if elapsed > 0 else 0.0

    def lag_ms(self, percentile: float) -> float:
        """A percentile of the loop lag, in milliseconds (0 before any sample)."""
        if not self.lag.get_total_count():
            return 0.0
        from fleetven.loadtest.recorder import histogram_figures

        return float(histogram_figures(self.lag, (percentile,))[0][percentile]) / 1000.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: lag percentiles and CPU."""
        return {
            "loop_lag_ms": {
                "p50": self.lag_ms(50),
                "p99": self.lag_ms(99),
                "p99.9": self.lag_ms(99.9),
                "max": self.lag.get_max_value() / 1000.0 if self.lag.get_total_count() else 0.0,
                "samples": self.lag.get_total_count(),
            },
            "cpu_percent": {"mean": self.cpu_percent(), "max": self.cpu_max},
            "steady_cpu": self.steady_cpu(),
        }

    def steady_cpu(self) -> dict[str, float] | None:
        """The process CPU of the steady phase (:meth:`mark_steady` to :meth:`stop`): ``{"seconds":
        its length, "cpu_s": CPU seconds, "percent": of one core}``; ``None`` when it never began."""
        if self._steady is None:
            return None
        cpu1, wall1 = self._stopped if self._stopped is not None else (time.process_time(), time.monotonic())
        cpu0, wall0 = self._steady
        seconds = wall1 - wall0
        return {"seconds": seconds, "cpu_s": cpu1 - cpu0,
                "percent": 100.0 * (cpu1 - cpu0) / seconds if seconds > 0 else 0.0}
