"""Shared helpers for the ``bench/`` scripts: timing, machine facts, tables, JSON.

Timing follows :mod:`timeit`'s habits with a few additions that make ratios
between contenders trustworthy on a noisy machine:

* each contender's loop count is auto-ranged so that one batch takes at least
  ``min_batch_ns`` (20 ms by default);
* batches of all contenders of one comparison are interleaved round-robin (the
  order rotates every round), so a burst of noise hits every contender alike;
* ``gc.collect()`` runs before and the collector is disabled during a batch;
* the result is the median time per operation over the batches, with the
  inter-quartile range as the spread.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = (
    "BATCHES",
    "MIN_BATCH_NS",
    "Stats",
    "autorange",
    "format_ns",
    "format_table",
    "machine_info",
    "measure",
    "write_json",
)

#: Default minimum length of one timed batch (ns).
MIN_BATCH_NS = 20_000_000
#: Default number of timed batches per contender.
BATCHES = 15


@dataclass(slots=True, kw_only=True)
class Stats:
    """Timing of one contender: per-operation figures in nanoseconds."""

    median_ns: float
    q1_ns: float
    q3_ns: float
    min_ns: float
    loops: int
    batches: int
    #: The per-operation time of each batch, in the order of the rounds (not in the JSON).
    samples: tuple[float, ...] = field(default=(), repr=False)

    @property
    def iqr_ns(self) -> float:
        """Inter-quartile range of the per-operation times."""
        return self.q3_ns - self.q1_ns

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the IQR added."""
        data = asdict(self)
        del data["samples"]
        data["iqr_ns"] = self.iqr_ns
        return data


def paired_median_ns(mine: Stats, base: Stats) -> float:
    """The median over rounds of ``mine``'s batch minus ``base``'s batch of the same round.

    :func:`measure` runs one batch of each contender per round, so the two batches of a round
    saw much the same machine: the paired difference is steadier than the difference of the
    two medians when the machine's speed drifts.
    """
    return statistics.median(a - b for a, b in zip(mine.samples, base.samples, strict=True))


def _run_batch(func: Callable[[], object], loops: int) -> int:
    """Time ``loops`` calls of ``func`` with the collector off; return ns."""
    repeat = itertools.repeat(None, loops)
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in repeat:
            func()
        return time.perf_counter_ns() - start
    finally:
        if enabled:
            gc.enable()


def autorange(func: Callable[[], object], *, min_batch_ns: int = MIN_BATCH_NS) -> int:
    """Return a loop count (1, 2, 5, 10, 20, 50, ...) whose batch takes at least ``min_batch_ns``.

    :param func: the operation, called without arguments.
    :param min_batch_ns: the shortest acceptable batch, in nanoseconds.
    """
    func()  # warm up: imports, caches, first-call costs
    for exponent in itertools.count():
        for mantissa in (1, 2, 5):
            loops: int = mantissa * 10**exponent
            if _run_batch(func, loops) >= min_batch_ns:
                return loops
    raise AssertionError("unreachable")  # pragma: no cover


def measure(
    contenders: Mapping[str, Callable[[], object]],
    *,
    batches: int = BATCHES,
    min_batch_ns: int = MIN_BATCH_NS,
) -> dict[str, Stats]:
    """Time every contender, interleaving their batches round-robin.

    :param contenders: name to zero-argument callable; all are compared with each other.
    :param batches: timed batches per contender.
    :param min_batch_ns: the shortest batch, in nanoseconds (sets each contender's loop count).
    :returns: name to :class:`Stats`, in the order given.
    """
    names = list(contenders)
    loops = {name: autorange(contenders[name], min_batch_ns=min_batch_ns) for name in names}
    per_op: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(batches):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            per_op[name].append(_run_batch(contenders[name], loops[name]) / loops[name])
    result: dict[str, Stats] = {}
    for name in names:
        samples = per_op[name]
        if len(samples) >= 2:
            q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
        else:
            q1 = q3 = samples[0]
        result[name] = Stats(
            median_ns=statistics.median(samples),
            q1_ns=q1,
            q3_ns=q3,
            min_ns=min(samples),
            loops=loops[name],
            batches=len(samples),
            samples=tuple(samples),
        )
    return result


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(**extra: Any) -> dict[str, Any]:
    """Facts about this machine and interpreter that a benchmark result depends on.

    :param extra: more entries to add (e.g. whether fleetven is compiled).
    """
    from lxml import etree

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
    }
    info.update(extra)
    return info


def format_ns(ns: float | None) -> str:
    """Human form of a duration in nanoseconds (``"12.3 us"``, ``"4.56 ms"``)."""
    if ns is None:
        return "-"
    unit, value = "ns", float(ns)
    for name, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            unit, value = name, ns / scale
            break
    if value >= 100:
        return f"{value:.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "  ") -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ]
        return indent + "  ".join(parts).rstrip()

    rule = indent + "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON (UTF-8) to ``path``, creating parent folders."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def pin(core: int) -> bool:
    """Pin this process to ``core`` when the machine has it; return whether it did."""
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError, ValueError):
        return False
    return os.sched_getaffinity(0) == {core}


def process_cpu_s() -> float:
    """This process's CPU time so far (user + system, all threads), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_sleeps() -> int:
    """How many times the calling thread (an event loop's) has blocked so far: its voluntary
    context switches, one per sleep in ``epoll`` and the wake-up after it."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
