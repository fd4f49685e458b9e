"""The demo: a fleet of VENs against a local OpenLEADR VTN, with a readable summary.

Run it with ``make demo`` (which installs what it needs) or, in an environment
that has fleetven and OpenLEADR 0.5.36::

    python -m fleetven.app.demo --vens 1000

It starts OpenLEADR's own VTN on a free port of 127.0.0.1 (a real peer
fleetven did not write), then a fleet of ``--vens`` VENs on the same event
loop. It shows progress while they register, has the VTN issue one event to
every VEN once all are registered, waits for every VEN's answer and for a
meter report from every VEN, and ends with a summary: registered, events
answered, reports received, failures. Its exit status is 0 when every VEN
registered, answered and reported, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from fleetven._extras import missing_extra
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.testing.openleadr import OpenLEADRVTN

__all__ = ("main", "run_demo")


def _meter(ven: Ven) -> float:
    """A plausible EV charger power reading, in kW."""
    return round(random.uniform(0.0, 11.0), 2)


def _on_event(ven: Ven, event: dict[str, Any]) -> str:
    return "optIn"


async def _progress(label: str, done: Callable[[], int], total: int, *, timeout: float, out: Any) -> bool:
    """Print ``label: done/total`` about once a second until all are done or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    last = -1.0
    while True:
        count = done()
        now = loop.time()
        if count >= total or now - start >= timeout or now - last >= 1.0:
            print(f"  {label}: {count:>6}/{total}  ({now - start:5.1f} s)", file=out, flush=True)
            last = now
        if count >= total:
            return True
        if now - start >= timeout:
            return False
        await asyncio.sleep(0.1)


async def run_demo(*, vens: int = 1000, poll: float = 5.0, report: float = 5.0, timeout: float = 240.0,
                   out: Any = sys.stdout) -> bool:
    """Run the demo; returns ``True`` when every VEN registered, answered the event and reported."""
    vtn = OpenLEADRVTN(poll_freq=timedelta(seconds=poll), report_sampling=timedelta(seconds=report))
    await vtn.start()
    fleet = Fleet(vtn.url, seed=1, backoff_base=0.5, backoff_cap=10.0)
    fleet.add_handler("on_event", _on_event)
    fleet.add_report(_meter, "charger", "REAL_POWER", sampling_rate=timedelta(seconds=report))
    for i in range(vens):
        fleet.add_ven(f"site-{i + 1:05d}")
    print(f"fleetven demo: {vens} VENs against OpenLEADR's VTN at {vtn.url}", file=out)
    print(f"  (the VTN asks for a poll every {poll:g} s and a meter report every {report:g} s)", file=out)
    t0 = time.perf_counter()
    ok = False
    try:
        await fleet.start()
        print("Registering:", file=out)
        registered = await _progress(
            "registered", lambda: sum(1 for v in fleet.vens.values() if v.registered), vens,
            timeout=timeout, out=out,
        )
        t_registered = time.perf_counter() - t0

        print("The VTN issues one event to every registered VEN:", file=out)
        issued = 0
        start = datetime.now(timezone.utc) + timedelta(minutes=1)
        for ven in fleet.vens.values():
            if ven.registered and ven.ven_id is not None:
                vtn.add_event(
                    ven.ven_id,
                    signal_name="simple",
                    signal_type="level",
                    intervals=[{"dtstart": start, "duration": timedelta(minutes=30), "signal_payload": 2.0}],
                )
                issued += 1
        t_issued = time.perf_counter()
        answered = await _progress("answered", lambda: len(vtn.opt_answers), issued, timeout=timeout, out=out)
        t_answered = time.perf_counter() - t_issued

        print("Reports:", file=out)
        reported = await _progress(
            "VENs reporting", lambda: len({r.ven_id for r in vtn.reports}), issued, timeout=timeout, out=out,
        )
        ok = registered and answered and reported
    finally:
        await fleet.stop()
        await vtn.stop()

    n_registered = len(vtn.registrations)
    opt_in = sum(1 for a in vtn.opt_answers if a.opt_type == "optIn")
    reporting = len({r.ven_id for r in vtn.reports})
    print("", file=out)
    print("Summary", file=out)
    print(f"  VENs                    {vens}", file=out)
    print(f"  registered              {n_registered}  (all within {t_registered:.1f} s)"
          if n_registered == vens else f"  registered              {n_registered}", file=out)
    print(f"  events answered         {len(vtn.opt_answers)} of {issued} ({opt_in} optIn)"
          f"  in {t_answered:.1f} s", file=out)
    print(f"  report values received  {len(vtn.reports)} from {reporting} VENs", file=out)
    failures = (vens - n_registered) + (issued - len(vtn.opt_answers)) + (issued - reporting)
    print(f"  failures                {failures}", file=out)
    print("  result                  " + ("OK" if ok else "INCOMPLETE"), file=out)
    return ok


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m fleetven.app.demo``."""
    parser = argparse.ArgumentParser(prog="python -m fleetven.app.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--vens", type=int, default=1000, help="how many VENs (default 1000)")
    parser.add_argument("--poll", type=float, default=5.0, help="poll interval the VTN asks for, s (default 5)")
    parser.add_argument("--report", type=float, default=5.0, help="report interval, s (default 5)")
    parser.add_argument("--timeout", type=float, default=240.0, help="time allowed for each phase, s")
    parser.add_argument("--verbose", action="store_true", help="log fleetven's warnings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")
    # OpenLEADR sets its own logger to INFO when imported, and logs every message it handles.
    try:
        import openleadr.client  # noqa: F401
    except ImportError as exc:
        print(f"error: {missing_extra('the demo (OpenLEADR VTN)', 'demo', exc)}", file=sys.stderr)
        return 2
    logging.getLogger("openleadr").setLevel(logging.WARNING if args.verbose else logging.CRITICAL)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    ok = runner(run_demo(vens=args.vens, poll=args.poll, report=args.report, timeout=args.timeout))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
