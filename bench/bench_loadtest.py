"""Load tester benchmark: the most VENs ``fleetven loadtest`` drives from one core.

Run from the repository root::

    python bench/bench_loadtest.py [--quick] [--steps 10000,20000,35000,50000] [--json PATH]

For each step N (in increasing order), a fresh ``fleetven vtn`` process (asking for a poll every 10
s, unsigned, plain HTTP) is started pinned to core 1, and a fresh ``fleetven loadtest`` process
pinned to core 0 ramps N VENs up over N / 1,000 s (about as fast as one core registers them: a
registration costs the load tester several times what a poll does, and registrations left over would
fall in the steady phase) and then runs a steady phase of 30 s (three poll cycles). The load
tester's own figures (``summary.json``) are read back: its event loop lag (a loop timer due every 10
ms, over the whole run), its CPU, the polls it completed per second in the steady phase, the late
requests, and the latencies it measured; and its CPU in the steady phase alone, as a percentage of
the core and in microseconds per request completed in that phase (the ramp's registrations cost
several times a poll, so the whole-run mean says little about polls). A step passes when every VEN
registered, the steady phase completed polls at (nearly) N / 10 per second, and the loop lag p99
stayed under 50 ms. The search stops at the first step that fails; the result is the largest step
that passed. The target (issue 6) is 50,000 VENs: 5,000 polls per second from one core, each with
its latency recorded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_table, machine_info, pin, write_json

TARGET_VENS = 50_000
TARGET_LAG_MS = 50.0
POLL_S = 10
STEPS = (10_000, 20_000, 35_000, 50_000)
QUICK_STEPS = (1_000, 2_000)
#: Registrations per second the ramp asks for.
RAMP_RATE = 1_000.0
#: Steady phase: three poll cycles.
STEADY_S = 30.0
#: The steady phase must complete at least this share of N / poll period polls per second.
MIN_POLL_SHARE = 0.95


def _start_vtn() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetven", "vtn", "--port", "0", "--poll-freq", f"{POLL_S}s", "--stats-interval", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: pin(1),
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"fleetven vtn did not start ({url!r})")
    return proc, url


def run_step(vens: int, *, steady: float) -> dict[str, Any]:
    """One load test of ``vens`` VENs against a fresh VTN; the figures of its summary."""
    vtn, url = _start_vtn()
    ramp = max(vens / RAMP_RATE, 1.0)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-loadtest-") as out:
            started = time.monotonic()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fleetven",
                    "loadtest",
                    "--vtn-url",
                    url,
                    "--vens",
                    str(vens),
                    "--ramp",
                    f"{ramp}s",
                    "--duration",
                    f"{steady}s",
                    "--out",
                    out,
                    "--quiet",
                    "--seed",
                    "1",
                ],
                capture_output=True,
                text=True,
                preexec_fn=lambda: pin(0),
                timeout=ramp + steady + 600,
            )
            wall = time.monotonic() - started
            summary_path = Path(out) / "summary.json"
            if not summary_path.exists():
                raise RuntimeError(f"fleetven loadtest failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
            summary = json.loads(summary_path.read_text())
    finally:
        vtn.terminate()
        vtn.communicate(timeout=60)
    poll = summary["by_type"].get("oadrPoll", {})
    steady_poll = poll.get("steady", {"requests": 0, "requests_per_s": 0.0, "percentiles_ms": {}, "late": 0})
    lt = summary["load_tester"]
    agg = summary["aggregated"]["all"]
    steady_cpu = lt.get("steady_cpu")
    steady_all = summary["aggregated"].get("steady", {"requests": 0})
    expected = vens / POLL_S
    figures = {
        "vens": vens,
        "ramp_s": ramp,
        "steady_s": steady,
        "wall_s": wall,
        "registered": summary["vens"]["registered_once"],
        "all_registered_after_s": summary["vens"]["all_registered_after_s"],
        "steady_polls_per_s": steady_poll["requests_per_s"],
        "expected_polls_per_s": expected,
        "steady_poll_p50_ms": steady_poll["percentiles_ms"].get("50"),
        "steady_poll_p99_ms": steady_poll["percentiles_ms"].get("99"),
        "late_fraction": agg["late"] / agg["requests"] if agg["requests"] else None,
        "error_rate": agg["error_rate"],
        "lag_p50_ms": lt["loop_lag_ms"]["p50"],
        "lag_p99_ms": lt["loop_lag_ms"]["p99"],
        "lag_max_ms": lt["loop_lag_ms"]["max"],
        "cpu_mean_percent": lt["cpu_percent"]["mean"],
        "cpu_max_percent": lt["cpu_percent"]["max"],
        # The steady phase alone (the ramp's registrations cost several times a poll): CPU per request
        # completed in it, every message type (polls, and any registration still going on).
        "steady_cpu_percent": steady_cpu["percent"] if steady_cpu else None,
        "steady_cpu_us_per_request": (
            1e6 * steady_cpu["cpu_s"] / steady_all["requests"] if steady_cpu and steady_all["requests"] else None
        ),
        "steady_poll_share": steady_poll["requests"] / steady_all["requests"] if steady_all["requests"] else None,
        "warnings": summary["warnings"],
    }
    figures["passed"] = bool(
        figures["registered"] == vens
        and steady_poll["requests_per_s"] >= MIN_POLL_SHARE * expected
        and figures["lag_p99_ms"] < TARGET_LAG_MS
    )
    return figures


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small steps and a short steady phase (smoke run)")
    parser.add_argument("--steps", help="comma-separated VEN counts, increasing")
    parser.add_argument("--steady", type=float, default=None, help=f"steady phase in seconds (default {STEADY_S:g})")
    parser.add_argument("--json", help="write the results as JSON here")
    args = parser.parse_args(argv)
    steps = tuple(int(s) for s in args.steps.split(",")) if args.steps else (QUICK_STEPS if args.quick else STEPS)
    steady = args.steady if args.steady is not None else (10.0 if args.quick else STEADY_S)
    results = []
    best = 0
    for vens in steps:
        print(f"step {vens} VENs ...", file=sys.stderr, flush=True)
        figures = run_step(vens, steady=steady)
        results.append(figures)
        if not figures["passed"]:
            break
        best = vens
    header = (
        "VENs",
        "registered",
        "all reg. (s)",
        "polls/s",
        "of",
        "poll p99",
        "late %",
        "lag p50",
        "lag p99",
        "lag max",
        "CPU %",
        "steady CPU %",
        "µs/req",
        "pass",
    )
    rows = [
        (
            str(r["vens"]),
            str(r["registered"]),
            _fmt(r["all_registered_after_s"]),
            _fmt(r["steady_polls_per_s"], ".0f"),
            _fmt(r["expected_polls_per_s"], ".0f"),
            _fmt(r["steady_poll_p99_ms"]) + " ms",
            _fmt(100 * r["late_fraction"] if r["late_fraction"] is not None else None, ".2f"),
            _fmt(r["lag_p50_ms"]) + " ms",
            _fmt(r["lag_p99_ms"]) + " ms",
            _fmt(r["lag_max_ms"], ".0f") + " ms",
            _fmt(r["cpu_mean_percent"], ".0f"),
            _fmt(r["steady_cpu_percent"], ".0f"),
            _fmt(r["steady_cpu_us_per_request"], ".0f"),
            "yes" if r["passed"] else "NO",
        )
        for r in results
    ]
    print(
        f"\nfleetven loadtest on one core (core 0), fleetven vtn on core 1, poll every {POLL_S} s, "
        f"steady phase {steady:g} s:"
    )
    print(format_table(header, rows))
    verdict = "PASS" if best >= TARGET_VENS else "below target"
    print(f"\nmost VENs with loop lag p99 < {TARGET_LAG_MS:g} ms: {best} (target {TARGET_VENS}: {verdict})")
    for r in results:
        for warning in r["warnings"]:
            print(f"  {r['vens']}: {warning}")
    if args.json:
        write_json(
            args.json,
            {
                "machine": machine_info(),
                "steps": results,
                "best_vens": best,
                "target_vens": TARGET_VENS,
                "target_lag_ms": TARGET_LAG_MS,
                "poll_s": POLL_S,
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
