"""What one wake-up of an idle event loop costs on this machine: the floor under a small fleet's CPU per poll.

Run from the repository root::

    python bench/bench_wakeup.py [--quick] [--json results.json]

A fleet of 2,000 VENs polling every 10 s sends 200 polls a second, and its loop sleeps between
them: ``bench/bench_fleet.py`` counts about 56 wake-ups a second (its row ``loop wake-ups per s``),
since the VTN's answers come back a few at a time. What a wake-up costs is the machine's, not the
fleet's: the system call that sleeps, the timer or interrupt that ends it, and, on a virtual
machine, the hypervisor's exit and entry around a halted virtual CPU, all charged to the process
that slept. This measures it with nothing else in the way: a loop (uvloop, and plain asyncio
beside it) that sleeps and wakes ``rate`` times a second and does nothing else, pinned to core 0;
the process CPU time (user + system) per wake-up, and the wake-ups counted as the thread's
voluntary context switches. Every rate runs on both loops in the same run, three rounds each
(median), so the figures can be set against each other and against ``bench_fleet``'s wake-ups:
``wake-ups a second * CPU per wake-up`` is what a small fleet pays for sleeping.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``fleetven`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_table, machine_info, pin, process_cpu_s, thread_sleeps, write_json

#: Wake-ups a second: a 2,000-VEN fleet's (about 56) and the ranges around it.
RATES = (10, 50, 200, 1000)


async def _wake(rate: float, seconds: float) -> dict[str, float]:
    """Sleep until each of ``rate * seconds`` deadlines, ``1 / rate`` s apart; CPU per wake-up."""
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    count = max(1, int(rate * seconds))
    cpu0, sleeps0 = process_cpu_s(), thread_sleeps()
    start = loop.time()
    for i in range(1, count + 1):
        # absolute deadlines: a late wake-up does not push the next one later
        await asyncio.sleep(max(0.0, start + i * period - loop.time()))
    cpu, sleeps = process_cpu_s() - cpu0, thread_sleeps() - sleeps0
    return {"wakeups": count, "sleeps": sleeps, "cpu_us_per_wakeup": cpu / count * 1e6,
            "cpu_share": cpu / (loop.time() - start)}


def _run(loop_name: str, rate: float, seconds: float) -> dict[str, float]:
    if loop_name == "uvloop":
        import uvloop

        return uvloop.run(_wake(rate, seconds))
    return asyncio.run(_wake(rate, seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    pinned = pin(0)
    seconds, rounds = (0.5, 1) if args.quick else (4.0, 3)
    results: dict[str, Any] = {"machine": machine_info(pinned_core0=pinned), "seconds": seconds, "rounds": rounds,
                               "rates": {}}
    rows = []
    for rate in RATES:
        entry: dict[str, Any] = {}
        for loop_name in ("uvloop", "asyncio"):
            runs = [_run(loop_name, rate, seconds) for _ in range(rounds)]
            entry[loop_name] = {
                "cpu_us_per_wakeup": statistics.median(r["cpu_us_per_wakeup"] for r in runs),
                "sleeps_per_wakeup": statistics.median(r["sleeps"] / r["wakeups"] for r in runs),
                "cpu_share": statistics.median(r["cpu_share"] for r in runs),
                "runs": runs,
            }
        results["rates"][str(rate)] = entry
        uv, aio = entry["uvloop"], entry["asyncio"]
        rows.append((f"{rate:,}", f"{uv['cpu_us_per_wakeup']:.1f} us", f"{uv['sleeps_per_wakeup']:.2f}",
                     f"{uv['cpu_share']:.2%}", f"{aio['cpu_us_per_wakeup']:.1f} us",
                     f"{aio['cpu_us_per_wakeup'] / uv['cpu_us_per_wakeup']:.2f}x"))
    print("Loop wake-up cost (bench/bench_wakeup.py)" + ("" if pinned else " (not pinned to core 0)"))
    print(format_table(("wake-ups/s", "uvloop CPU/wake-up", "sleeps/wake-up", "uvloop core share",
                        "asyncio CPU/wake-up", "asyncio/uvloop"), rows))
    print("  (a fleet's cost of sleeping: its wake-ups a second, bench_fleet's 'loop wake-ups per s', times the "
          "CPU per wake-up at that rate)")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
