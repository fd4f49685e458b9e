"""Latency histogram benchmark: the load tester's recorder against hdrhistogram's public API.

Run from the repository root::

    python bench/bench_histogram.py [--quick] [--json results.json]

The load tester (:mod:`fleetven.loadtest.recorder`) records every request's latency into an
``hdrh`` histogram and, every second, reads percentiles of the last window and empties it, on
the loop the fleet runs on. It reads hdrh's fields rather than calling its public API (and pins
``hdrhistogram<0.11``, with a test that fails on the next release). This measures what that
saves, side by side in one run, for each of the three operations:

* **record**: one latency (an exponential mix around 20 ms, in µs): ``record_latency(hist, v)``
  against ``hist.record_value(v)``;
* **figures**: the percentiles, mean, min and max of a window of 20,000 latencies:
  ``histogram_figures(hist)`` against ``get_percentile_to_value_dict`` + ``get_mean_value`` +
  ``get_min_value`` + ``get_max_value``;
* **clear**: emptying a window for reuse: ``Tally.clear()`` against ``hist.reset()``.

At 17,000 requests a second (a million VENs at a 60 s poll) the record cost is paid 17,000 times
a second and the other two once a second per message type: the table gives that load as a
share of one core for both.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``fleetven`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_ns, format_table, machine_info, measure, write_json
from fleetven.loadtest.recorder import PERCENTILES, Tally, histogram_figures, new_histogram, record_latency

#: Requests a second the figures are scaled to (a million VENs at a 60 s poll).
RATE = 17_000
#: Message types whose windows are read and emptied every second.
TYPES = 4


def _latencies(count: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [min(int(rng.expovariate(1 / 20_000)) + 1, 3_600_000_000) for _ in range(count)]


def _recorders(values: list[int]) -> dict[str, Callable[[], object]]:
    ours, theirs = new_histogram(), new_histogram()
    cycle = len(values)
    state = {"ours": 0, "theirs": 0}

    def record_ours() -> None:
        i = state["ours"]
        record_latency(ours, values[i])
        state["ours"] = (i + 1) % cycle

    def record_theirs() -> None:
        i = state["theirs"]
        theirs.record_value(values[i])
        state["theirs"] = (i + 1) % cycle

    return {"fleetven record_latency": record_ours, "hdrh record_value": record_theirs}


def _readers(values: list[int]) -> dict[str, Callable[[], object]]:
    hist = new_histogram()
    for value in values:
        hist.record_value(value)

    def figures_ours() -> object:
        return histogram_figures(hist, PERCENTILES)

    def figures_theirs() -> object:
        return (hist.get_percentile_to_value_dict(list(PERCENTILES)), hist.get_mean_value(),
                hist.get_min_value(), hist.get_max_value())

    return {"fleetven histogram_figures": figures_ours, "hdrh public percentiles+mean": figures_theirs}


def _clearers(values: list[int]) -> dict[str, Callable[[], object]]:
    ours, theirs = Tally(), new_histogram()

    def clear_ours() -> None:
        record_latency(ours.histogram, values[0])
        ours.clear()

    def clear_theirs() -> None:
        theirs.record_value(values[0])
        theirs.reset()

    return {"fleetven Tally.clear": clear_ours, "hdrh reset": clear_theirs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter batches (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    batches, min_batch = (3, 2_000_000) if args.quick else (15, 20_000_000)
    values = _latencies(20_000)
    operations = {"record": (_recorders(values), RATE), "figures": (_readers(values), TYPES),
                  "clear": (_clearers(values), TYPES)}
    rows = []
    results: dict[str, Any] = {"machine": machine_info(), "rate_per_s": RATE, "types": TYPES, "operations": {}}
    for operation, (contenders, per_second) in operations.items():
        stats = measure(contenders, batches=batches, min_batch_ns=min_batch)
        (ours, mine), (theirs, base) = stats.items()
        ratio = base.median_ns / mine.median_ns
        results["operations"][operation] = {
            "contenders": {name: s.as_dict() for name, s in stats.items()},
            "public_over_fleetven": ratio,
            "core_share_fleetven": mine.median_ns * per_second / 1e9,
            "core_share_public": base.median_ns * per_second / 1e9,
        }
        rows.append((operation, ours, format_ns(mine.median_ns), theirs, format_ns(base.median_ns), f"{ratio:.1f}x",
                     f"{mine.median_ns * per_second / 1e7:.2f} %", f"{base.median_ns * per_second / 1e7:.2f} %"))
    print(format_table(("operation", "fleetven", "time", "public API", "time", "public/fleetven",
                        "core, fleetven", "core, public"), rows))
    print(f"(core: the share of one core at {RATE:,} requests/s, windows of {TYPES} message types read "
          "and emptied every second)")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
