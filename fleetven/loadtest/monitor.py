"""The load tester watching itself: event loop lag and process CPU.

A load tester that cannot keep up reports the VTN slower than it is: a poll that the loop
starts 200 ms late counts those 200 ms as VTN latency (latency is measured from the due time).
:class:`Monitor` measures how late the loop wakes up (a task sleeping ``interval`` in a loop)
and how much CPU the process uses, so that a result can say when it is doubtful.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

__all__ = ("Monitor",)


class Monitor:
    """Samples the loop's lag every ``interval`` seconds while running.

    :param interval: the sleep between samples, in seconds.
    """

    __slots__ = ("interval", "lag", "_window_max", "_task", "_cpu0", "_wall0", "_cpu_last", "_wall_last", "cpu_max")

    def __init__(self, *, interval: float = 0.01) -> None:
        self.interval = interval
        #: Every lag sample of the run, in microseconds.
        self.lag = HdrHistogram(1, 3_600_000_000, 3)
        #: The highest CPU percentage of any interval (see :meth:`interval_figures`).
        self.cpu_max = 0.0
        self._window_max = 0.0
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = self._cpu_last = time.process_time()
        self._wall0 = self._wall_last = time.monotonic()

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._cpu0 = self._cpu_last = time.process_time()
        self._wall0 = self._wall_last = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fleetven-loadtest-monitor")

    async def stop(self) -> None:
        """Stop sampling."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        record = self.lag.record_value
        while True:
            expected = loop.time() + interval
            await asyncio.sleep(interval)
            lag = loop.time() - expected
            micros = int(lag * 1_000_000.0)
            record(min(max(micros, 1), 3_600_000_000))
            if lag > self._window_max:
                self._window_max = lag

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
        from .recorder import histogram_figures

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
        }
