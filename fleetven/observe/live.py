"""A live terminal view of a running fleet (``fleetven run`` on a terminal), with ``rich``.

:class:`LiveStats` is a fleet :class:`~fleetven.observe.Observer` that keeps what the view shows:
request rates, errors and latency percentiles over the last few seconds, per message type and in
all, VENs by state, events and their answers. :class:`LiveView` redraws it once a second::

    stats = LiveStats(fleet)
    fleet.observer = stats
    view = LiveView(stats)
    task = asyncio.create_task(view.run())    # until cancelled

Without a terminal, :meth:`LiveStats.summary` gives the same figures as one log line.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections import Counter, deque
from typing import TYPE_CHECKING, Final

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fleetven.observe import Observer

if TYPE_CHECKING:
    from fleetven.fleet.core import Fleet
    from fleetven.fleet.driver import Ven
    from fleetven.observe.metrics import LoopLag

__all__ = ("LiveStats", "LiveView", "percentile")

_RETRYING: Final = frozenset(("registering", "registered"))


def percentile(ordered: list[float], fraction: float) -> float:
    """The ``fraction`` percentile (0..1, nearest rank) of an ascending list; 0 when it is empty."""
    if not ordered:
        return 0.0
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


class _Window:
    """Requests of one message type over the last ``span`` seconds: ``(done, latency, failed)``."""

    __slots__ = ("samples", "total", "errors")

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float, bool]] = deque()
        self.total = 0
        self.errors = 0

    def trim(self, since: float) -> None:
        samples = self.samples
        while samples and samples[0][0] < since:
            samples.popleft()


class LiveStats(Observer):
    """What the live view shows, kept from the fleet's observer calls.

    :param fleet: the fleet observed (its VENs are counted by state when asked).
    :param span: the window of the rates and percentiles, in seconds.
    :param clock: the loop's clock (``loop.time``); the running loop's by default.
    """

    __slots__ = ("fleet", "span", "lag", "windows", "failing", "statuses", "answers", "signature_failures",
                 "pending", "pending_total", "last_error", "_clock")

    def __init__(self, fleet: Fleet, *, span: float = 10.0, lag: LoopLag | None = None) -> None:
        self.fleet = fleet
        self.span = span
        self.lag = lag
        #: Message type -> its requests.
        self.windows: dict[str, _Window] = {}
        self.failing: set[Ven] = set()
        #: Event status changes by status.
        self.statuses: Counter[str] = Counter()
        #: Event decisions by opt.
        self.answers: Counter[str] = Counter()
        self.signature_failures = 0
        self.pending: dict[Ven, int] = {}
        self.pending_total = 0
        #: The last request error, as text.
        self.last_error: str | None = None
        self._clock: float = 0.0

    # ------------------------------------------------------------------------ observer

    def request_done(
        self, ven: Ven, message_type: str, due: float, sent: float, done: float, error: BaseException | None
    ) -> None:
        """Record the request and its latency (from sending to the answer)."""
        window = self.windows.get(message_type)
        if window is None:
            window = self.windows[message_type] = _Window()
        window.total += 1
        failed = error is not None
        samples = window.samples
        samples.append((done, done - sent, failed))
        since = done - self.span
        while samples[0][0] < since:  # keep only the window, viewed or not
            samples.popleft()
        self._clock = done
        if failed:
            window.errors += 1
            self.failing.add(ven)
            self.last_error = f"{ven.name} {message_type}: {type(error).__name__}: {error}"
        else:
            self.failing.discard(ven)

    def ven_state(self, ven: Ven, old: str, new: str) -> None:
        """Forget the failures of a VEN that stopped retrying."""
        if new not in _RETRYING:
            self.failing.discard(ven)

    def event_status(self, ven: Ven, event_id: str, status: str) -> None:
        """Count a status change."""
        self.statuses[status] += 1

    def event_answer(self, ven: Ven, event_id: str, opt: str) -> None:
        """Count a decision."""
        self.answers[opt] += 1

    def signature_refused(self, ven: Ven, error: BaseException) -> None:
        """Count a refused signature."""
        self.signature_failures += 1

    def samples_pending(self, ven: Ven, count: int) -> None:
        """Keep the fleet-wide total."""
        self.pending_total += count - self.pending.pop(ven, 0)
        if count:
            self.pending[ven] = count

    # ------------------------------------------------------------------------ figures

    def states(self) -> Counter[str]:
        """The fleet's VENs by state (``backoff``: retrying after a failed request)."""
        counts: Counter[str] = Counter()
        failing = self.failing
        for ven in list(self.fleet.vens.values()):
            state = ven.state
            counts["backoff" if state in _RETRYING and ven in failing else state] += 1
        return counts

    def recent(self, now: float) -> dict[str, tuple[float, int, list[float]]]:
        """Per message type over the window ending at ``now``: requests per second, errors in the
        window, and the sorted latencies."""
        since = now - self.span
        out: dict[str, tuple[float, int, list[float]]] = {}
        for message_type, window in sorted(self.windows.items()):
            window.trim(since)
            latencies = sorted(s[1] for s in window.samples)
            errors = sum(1 for s in window.samples if s[2])
            out[message_type] = (len(window.samples) / self.span, errors, latencies)
        return out

    def now(self) -> float:
        """The loop's clock, or the last request's time outside a loop."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return self._clock

    def summary(self) -> str:
        """The main figures on one line (for logs when there is no terminal)."""
        states = self.states()
        recent = self.recent(self.now())
        rate = sum(r[0] for r in recent.values())
        everything = sorted(x for r in recent.values() for x in r[2])
        errors = sum(w.errors for w in self.windows.values())
        return (f"{states['registered']}/{len(self.fleet.vens)} VENs registered, {states['backoff']} backing off; "
                f"{rate:.1f} requests/s, {errors} errors in all; latency p50 {_ms(percentile(everything, .5))} "
                f"p99 {_ms(percentile(everything, .99))}; events {_counts(self.statuses) or 'none'}; "
                f"answers {_counts(self.answers) or 'none'}")

    def render(self) -> RenderableType:
        """The view: a summary table and one row per message type."""
        fleet = self.fleet
        states = self.states()
        recent = self.recent(self.now())
        total = len(fleet.vens)
        rate = sum(r[0] for r in recent.values())
        everything = sorted(x for r in recent.values() for x in r[2])
        errors_total = sum(w.errors for w in self.windows.values())
        errors_recent = sum(r[1] for r in recent.values())

        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold")
        head.add_column()
        others = ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s not in ("registered", "backoff"))
        head.add_row("VENs", f"[green]{states['registered']}[/] / {total} registered"
                     + (f", [red]{states['backoff']} backing off[/]" if states["backoff"] else "")
                     + (f", {others}" if others else ""))
        head.add_row("requests", f"{rate:,.1f}/s (last {self.span:g} s)")
        head.add_row("errors", f"{errors_total:,} in all, {errors_recent:,} in the last {self.span:g} s")
        worst = everything[-1] if everything else 0.0
        head.add_row("latency", "  ".join(f"p{int(p * 100)} {_ms(percentile(everything, p))}"
                                          for p in (0.5, 0.9, 0.99)) + f"  max {_ms(worst)}")
        head.add_row("events", _counts(self.statuses) or "none")
        head.add_row("answers", _counts(self.answers) or "none")
        if self.pending_total:
            head.add_row("samples pending", f"{self.pending_total:,}")
        if self.signature_failures:
            head.add_row("signatures refused", f"[red]{self.signature_failures:,}[/]")
        if self.lag is not None:
            head.add_row("loop lag", _ms(self.lag.last))

        table = Table(box=None, header_style="bold", pad_edge=False)
        for name, justify in (("message", "left"), ("req/s", "right"), ("total", "right"), ("errors", "right"),
                              ("p50", "right"), ("p90", "right"), ("p99", "right"), ("max", "right")):
            table.add_column(name, justify=justify, no_wrap=True,  # type: ignore[arg-type]
                             min_width=28 if name == "message" else None)
        for message_type, (per_second, _errors, latencies) in recent.items():
            window = self.windows[message_type]
            table.add_row(message_type, f"{per_second:,.1f}", f"{window.total:,}",
                          f"[red]{window.errors:,}[/]" if window.errors else "0",
                          _ms(percentile(latencies, 0.5)), _ms(percentile(latencies, 0.9)),
                          _ms(percentile(latencies, 0.99)), _ms(latencies[-1] if latencies else 0.0))
        parts: list[RenderableType] = [Text(f"fleetven run: {fleet.vtn_url}", style="bold"), head, Text(""), table]
        if self.last_error:
            parts.append(Text(f"last error: {self.last_error}", style="red", overflow="ellipsis", no_wrap=True))
        return Group(*parts)


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n:,} {key}" for key, n in sorted(counter.items()))


class LiveView:
    """Redraws :class:`LiveStats` on the terminal once a second until cancelled.

    While it runs, what is written to ``sys.stdout`` and ``sys.stderr`` (logs included, when their
    handler looks ``sys.stderr`` up at each write) is printed above the view.

    :param stats: what to show.
    :param console: the ``rich`` console (a new one on standard output by default).
    :param interval: seconds between redraws.
    """

    __slots__ = ("stats", "console", "interval")

    def __init__(self, stats: LiveStats, *, console: Console | None = None, interval: float = 1.0) -> None:
        self.stats = stats
        self.console = console if console is not None else Console()
        self.interval = interval

    async def run(self) -> None:
        """Show the view until cancelled; the last frame stays on the terminal."""
        # Standard error is shown above the view only when it goes to the terminal too (not to a file).
        with Live(self.stats.render(), console=self.console, auto_refresh=False, redirect_stdout=True,
                  redirect_stderr=_is_terminal(sys.stderr)) as live:
            try:
                while True:
                    await asyncio.sleep(self.interval)
                    live.update(self.stats.render(), refresh=True)
            finally:
                live.update(self.stats.render(), refresh=True)
