"""Timer benchmark: fleetven's timer wheel against the event loop's own timers.

Run from the repository root (after building the extension in place)::

    python bench/bench_timerwheel.py [--quick] [--json results.json]

Two scenarios, each over N timers whose deadlines are spread at random over
the next S seconds (N = 1,000,000 and S = 10 s; ``--quick``: 100,000 and 1 s):

* ``schedule+cancel``: schedule all N, then cancel all N, then let the loop run
  one iteration (asyncio purges its cancelled handles there). Wall time per
  timer.
* ``schedule+fire``: schedule all N and run the loop until the last one has
  fired (takes S seconds of wall time). CPU time of the process per timer,
  which includes the loop's wake-ups; the waiting itself costs nothing.
* ``fire+re-arm`` (a fleet's pattern: each VEN re-arms its one timer when it
  fires): N owners each hold one timer; each firing re-arms it once, S seconds
  later, so 2N firings over 2S seconds. The garbage collector stays on, as in
  a fleet. Contenders: the compiled wheel re-arming the owner's handle
  (``TimerWheel.rearm``), the same wheel making a new handle each time
  (``call_later``), and uvloop's ``call_later``. CPU per firing, and the
  collector's runs.

Contenders: the compiled wheel and the pure-Python wheel (both driven by a
uvloop loop, resolution 10 ms, 1024 slots), ``loop.call_at`` plus
``handle.cancel()`` on uvloop, and the same on the stock asyncio loop. Every
run gets a fresh loop; runs of the contenders are interleaved round-robin
(order rotated each round) and the median is reported. A third table gives
the memory held per pending timer (tracemalloc, up to 100,000 timers).
``FLEETVEN_NO_EXTENSIONS=1`` leaves the compiled wheel out (its rows say why).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``fleetven`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_ns, format_table, machine_info, write_json

WHEEL_C = "fleetven wheel compiled (uvloop)"
WHEEL_PY = "fleetven wheel pure (uvloop)"
UVLOOP = "uvloop call_at"
ASYNCIO = "asyncio call_at"
CONTENDERS = (WHEEL_C, WHEEL_PY, UVLOOP, ASYNCIO)
SCENARIOS = ("schedule+cancel", "schedule+fire")
BASELINE = UVLOOP

# A contender's timer factory: (loop) -> call_at(when, callback) returning a handle with .cancel().
Factory = Callable[[asyncio.AbstractEventLoop], tuple[Callable[..., Any], Callable[[], None]]]


def _wheel_factory(module: str) -> Factory:
    mod = importlib.import_module(module)

    def make(loop: asyncio.AbstractEventLoop) -> tuple[Callable[..., Any], Callable[[], None]]:
        wheel = mod.TimerWheel(loop, resolution=0.01, slots=1024)
        return wheel.call_at, wheel.close

    return make


def _loop_factory(loop: asyncio.AbstractEventLoop) -> tuple[Callable[..., Any], Callable[[], None]]:
    return loop.call_at, lambda: None


def _contenders() -> tuple[dict[str, tuple[Callable[[], asyncio.AbstractEventLoop], Factory]], dict[str, str]]:
    """The runnable contenders, and the reason for each one left out."""
    available: dict[str, tuple[Callable[[], asyncio.AbstractEventLoop], Factory]] = {}
    missing: dict[str, str] = {}
    if os.environ.get("FLEETVEN_NO_EXTENSIONS"):
        missing[WHEEL_C] = "FLEETVEN_NO_EXTENSIONS is set"
    else:
        try:
            available[WHEEL_C] = (uvloop.new_event_loop, _wheel_factory("fleetven._fast._wheel_c"))
        except ImportError as exc:
            missing[WHEEL_C] = f"not built: {exc}"
    available[WHEEL_PY] = (uvloop.new_event_loop, _wheel_factory("fleetven._fast._wheel_py"))
    available[UVLOOP] = (uvloop.new_event_loop, _loop_factory)
    available[ASYNCIO] = (asyncio.new_event_loop, _loop_factory)
    return {name: available[name] for name in CONTENDERS if name in available}, missing


def _noop() -> None:
    pass


async def _schedule_cancel(factory: Factory, offsets: list[float]) -> float:
    loop = asyncio.get_running_loop()
    call_at, close = factory(loop)
    base = loop.time()
    deadlines = [base + offset for offset in offsets]
    handles: list[Any] = []
    append = handles.append
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for when in deadlines:
            append(call_at(when, _noop))
        for handle in handles:
            handle.cancel()
        await asyncio.sleep(0)
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    close()
    return elapsed / len(offsets)


async def _schedule_fire(factory: Factory, offsets: list[float]) -> float:
    loop = asyncio.get_running_loop()
    call_at, close = factory(loop)
    done = loop.create_future()
    total = len(offsets)
    count = 0

    def fired() -> None:
        nonlocal count
        count += 1
        if count == total:
            done.set_result(None)

    gc.collect()
    gc.disable()
    try:
        start = time.process_time_ns()
        base = loop.time()
        for offset in offsets:
            call_at(base + offset, fired)
        await done
        elapsed = time.process_time_ns() - start
    finally:
        gc.enable()
    close()
    return elapsed / total


REARM = "fleetven wheel compiled, rearm (handle kept)"
REARM_NEW = "fleetven wheel compiled, call_later (new handle)"
REARM_UVLOOP = "uvloop call_later (new handle)"


async def _fire_rearm(kind: str, offsets: list[float], span: float) -> tuple[float, int]:
    """CPU per firing of N owners whose timers each re-arm once, and the collector's runs, GC on."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    total = 2 * len(offsets)
    count = 0
    wheel: Any = None
    if kind != REARM_UVLOOP:
        mod = importlib.import_module("fleetven._fast._wheel_c")
        wheel = mod.TimerWheel(loop, resolution=0.01, slots=1024)

    class Owner:
        __slots__ = ("timer", "again", "callback")

        def __init__(self) -> None:
            self.timer: Any = None
            self.again = True
            self.callback = self.fired

        def fired(self) -> None:
            nonlocal count
            count += 1
            if self.again:
                self.again = False
                if kind == REARM:
                    self.timer = wheel.rearm(self.timer, span, self.callback)
                elif kind == REARM_NEW:
                    self.timer = wheel.call_later(span, self.callback)
                else:
                    self.timer = loop.call_later(span, self.callback)
            if count == total:
                done.set_result(None)

    owners = [Owner() for _ in offsets]
    runs = [0]

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            runs[0] += 1

    gc.collect()
    gc.callbacks.append(counted)
    try:
        start = time.process_time_ns()
        base = loop.time()
        for owner, offset in zip(owners, offsets):
            if wheel is not None:
                owner.timer = wheel.call_at(base + offset, owner.callback)
            else:
                owner.timer = loop.call_at(base + offset, owner.callback)
        await done
        elapsed = time.process_time_ns() - start
    finally:
        gc.callbacks.remove(counted)
    if wheel is not None:
        wheel.close()
    return elapsed / total, runs[0]


def _memory_per_timer(loop_new: Callable[[], asyncio.AbstractEventLoop], factory: Factory, count: int) -> float:
    loop = loop_new()
    try:

        async def measure() -> float:
            call_at, close = factory(loop)
            base = loop.time() + 60.0
            keep: list[Any] = [None] * count
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for index in range(count):
                keep[index] = call_at(base + index * 1e-4, _noop)
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            for handle in keep:
                handle.cancel()
            close()
            return (after - before) / count

        return loop.run_until_complete(measure())
    finally:
        loop.close()


def _run_one(loop_new: Callable[[], asyncio.AbstractEventLoop], coro: Any) -> float:
    loop = loop_new()
    try:
        result: float = loop.run_until_complete(coro)
        return result
    finally:
        loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 timers over 1 s, 3 rounds (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--timers", type=int, help="number of timers (default 1,000,000; --quick 100,000)")
    parser.add_argument("--span", type=float, help="deadlines spread over this many seconds (default 10; --quick 1)")
    parser.add_argument("--rounds", type=int, help="runs per contender and scenario (default 5; --quick 3)")
    args = parser.parse_args(argv)
    timers = args.timers or (100_000 if args.quick else 1_000_000)
    span = args.span or (1.0 if args.quick else 10.0)
    rounds = args.rounds or (3 if args.quick else 5)
    fire_rounds = min(rounds, 3)

    contenders, missing = _contenders()
    names = list(contenders)
    rng = random.Random(20240601)
    offsets = [rng.uniform(0.0, span) for _ in range(timers)]

    samples: dict[tuple[str, str], list[float]] = {(s, n): [] for s in SCENARIOS for n in names}
    for scenario, runner, count in (
        ("schedule+cancel", _schedule_cancel, rounds),
        ("schedule+fire", _schedule_fire, fire_rounds),
    ):
        for round_no in range(count):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                loop_new, factory = contenders[name]
                samples[scenario, name].append(_run_one(loop_new, runner(factory, offsets)))
                print(f"  {scenario:16} round {round_no + 1}/{count}  {name}", file=sys.stderr, flush=True)

    memory = {name: _memory_per_timer(*contenders[name], min(timers, 100_000)) for name in names}

    rearm_kinds = [REARM, REARM_NEW, REARM_UVLOOP] if WHEEL_C in contenders else [REARM_UVLOOP]
    rearm: dict[str, list[tuple[float, int]]] = {kind: [] for kind in rearm_kinds}
    for round_no in range(fire_rounds):
        shift = round_no % len(rearm_kinds)
        for kind in rearm_kinds[shift:] + rearm_kinds[:shift]:
            rearm[kind].append(_run_one(uvloop.new_event_loop, _fire_rearm(kind, offsets, span)))
            print(f"  fire+re-arm      round {round_no + 1}/{fire_rounds}  {kind}", file=sys.stderr, flush=True)

    rows_json: list[dict[str, Any]] = []
    for scenario in SCENARIOS:
        base = statistics.median(samples[scenario, BASELINE])
        header = [scenario, "median / timer", "min", "max", f"vs {BASELINE}", f"vs {ASYNCIO}"]
        asy = statistics.median(samples[scenario, ASYNCIO])
        rows = []
        for name in CONTENDERS:
            if name in missing:
                rows.append([name, "-", "-", "-", "-", f"MISS ({missing[name]})"])
                rows_json.append({"scenario": scenario, "contender": name, "missing": missing[name]})
                continue
            values = samples[scenario, name]
            median = statistics.median(values)
            rows.append(
                [
                    name,
                    format_ns(median),
                    format_ns(min(values)),
                    format_ns(max(values)),
                    f"{median / base:.2f}x",
                    f"{median / asy:.2f}x",
                ]
            )
            rows_json.append(
                {
                    "scenario": scenario,
                    "contender": name,
                    "median_ns": median,
                    "min_ns": min(values),
                    "max_ns": max(values),
                    "samples_ns": values,
                    "ratio_vs_uvloop": median / base,
                    "ratio_vs_asyncio": median / asy,
                    "clock": "wall" if scenario == "schedule+cancel" else "process cpu",
                }
            )
        print(format_table(header, rows))
        print()
    rearm_base = statistics.median(v for v, _ in rearm[REARM_UVLOOP])
    rearm_rows = []
    for kind in rearm_kinds:
        median = statistics.median(v for v, _ in rearm[kind])
        gc_runs = statistics.median(r for _, r in rearm[kind])
        rearm_rows.append([kind, format_ns(median), f"{gc_runs:.0f}", f"{median / rearm_base:.2f}x"])
        rows_json.append({"scenario": "fire+re-arm", "contender": kind, "median_ns": median,
                          "samples_ns": [v for v, _ in rearm[kind]], "gc_runs": gc_runs,
                          "ratio_vs_uvloop": median / rearm_base, "clock": "process cpu, gc on"})
    print(format_table(["fire+re-arm (gc on)", "cpu / firing", "gc runs", f"vs {REARM_UVLOOP}"], rearm_rows))
    print()
    mem_rows = [[name, f"{memory[name]:.0f} B"] for name in names]
    mem_rows += [[name, f"MISS ({reason})"] for name, reason in missing.items()]
    print(format_table(["memory per pending timer", "tracemalloc"], mem_rows))
    print(
        f"\n  {timers:,} timers over {span:g} s; schedule+cancel: wall time, {rounds} rounds; "
        f"schedule+fire: process CPU time, {fire_rounds} rounds"
    )
    print("  PASS" if not missing else "  MISS: " + "; ".join(f"{k}: {v}" for k, v in missing.items()))

    if args.json:
        import fleetven.timerwheel

        write_json(
            args.json,
            {
                "machine": machine_info(
                    fleetven_compiled_loaded=fleetven.timerwheel.COMPILED,
                    uvloop=uvloop.__version__,
                ),
                "params": {"timers": timers, "span_s": span, "rounds": rounds, "fire_rounds": fire_rounds},
                "results": rows_json,
                "memory_bytes_per_timer": memory,
                "missing": missing,
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
