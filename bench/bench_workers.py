"""Workers benchmark (issue 16): one fleet on several ``fleetven worker`` processes and PostgreSQL.

Run from the repository root (with PostgreSQL's server binaries installed; ``make deps`` does)::

    python bench/bench_workers.py [--quick] [--vens 3000] [--scale-vens 6000] [--json PATH]

A throwaway PostgreSQL server is started in a temporary directory
(:func:`fleetven.testing.postgres.throwaway_server`), the VTN is a
:class:`fleetven.testing.TestVTN` in this process (``log_senders=True``: it knows which worker
sent every request), and the workers are real ``fleetven worker`` processes
(:class:`fleetven.testing.workers.WorkerProcesses`) with the default timing (lease 15 s, renewal
every 3 s, margin 3 s). Every VEN polls every 10 s and reports one measurement sampled every 10 s
and sent every 30 s. Measured, side by side in one run:

1. *hand-over*: 3 workers run ``--vens`` VENs; one is killed with SIGKILL; for each of its VENs,
   the time from the kill to its first request from another worker (p50, max), and how that
   compares with lease + one renewal period; registrations and overlaps seen by the VTN;
2. *scaling*: ``--scale-vens`` VENs on 1 worker, then on 2: the workers' CPU time (user + system,
   from ``/proc/<pid>/stat``) per poll the VTN counted over a 20 s window, the CPU share that
   leaves for more VENs on this machine, and the PostgreSQL statements per 1,000 polls (the
   workers' ``fleetven_worker_statements_total``);
3. *SQLite*: the same VENs on one ``fleetven run`` process with its SQLite store: CPU per poll,
   the contender of the PostgreSQL worker's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from fleetven.openadr import model as m
from fleetven.testing import TestVTN
from fleetven.testing.postgres import PostgresUnavailable, throwaway_server
from fleetven.testing.workers import WorkerProcesses

POLL_S = 10.0
LEASE, RENEW, MARGIN = 15.0, 3.0, 3.0
SLOTS = 256
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

FLEET_TOML = """\
[fleet]
poll_interval = "10s"
request_timeout = "10s"
[handlers]
on_event = "bench_handlers:on_event"
[[reports]]
callback = "bench_handlers:meter"
resource_id = "meter"
measurement = "power_real"
sampling_rate = "10s"
report_duration = "1h"
"""

HANDLERS = """\
async def on_event(ven, event):
    return "optIn"


def meter(ven=None):
    return 4.2
"""


def ask_for_reports(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
    """Every report offered, sampled every 10 s, sent every 30 s."""
    return [
        m.ReportRequest(
            report_request_id=f"rr-{ven_id}-{report.report_specifier_id}",
            report_specifier=m.ReportSpecifier(
                report_specifier_id=report.report_specifier_id, granularity=timedelta(seconds=10),
                report_back_duration=timedelta(seconds=30),
                specifier_payloads=[m.SpecifierPayload(r_id=d.r_id, reading_type="Direct Read")
                                    for d in report.report_descriptions]))
        for report in msg.reports
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(port: int, name: str) -> float:
    """The value of metric ``name`` (no labels) at the worker's metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise LookupError(name)


async def wait_for(predicate: Any, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(step)
    return False


async def new_database(admin: str, name: str) -> str:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


def names_of(n: int) -> list[str]:
    return [f"site-{i:06d}" for i in range(n)]


# ------------------------------------------------------------------------------------ hand-over


async def handover(admin: str, work: Path, vens: int) -> dict[str, Any]:
    dsn = await new_database(admin, "handover")
    directory = work / "handover"
    directory.mkdir()
    (directory / "bench_handlers.py").write_text(HANDLERS)
    async with TestVTN(poll_freq=timedelta(seconds=POLL_S), log_senders=True,
                       on_register_report=ask_for_reports) as vtn:
        procs = WorkerProcesses(dsn, vtn.url, directory, slots=SLOTS, lease=LEASE, renew_every=RENEW, margin=MARGIN,
                                statement_timeout=2.0, fleet_toml=FLEET_TOML)
        await procs.create(names_of(vens))
        async with procs:
            for name in ("w1", "w2", "w3"):
                await procs.start(name)
            registered = await wait_for(lambda: len(vtn.registrations) >= vens, 180)

            async def balanced() -> bool:
                held = await procs.held()
                return len(held) == 3 and max(held.values()) - min(held.values()) <= 1

            await wait_for(balanced, 60, step=0.5)
            await asyncio.sleep(POLL_S + 2)  # every VEN polled by its settled owner
            ids = {ven_id: msg.ven_name for ven_id, msg in vtn.registrations}

            def owner(ven_id: str) -> str | None:
                sent = vtn.sent(ven_id)
                return sent[-1].sender.split("worker=")[1].split()[0] if sent else None

            doomed = [v for v in ids if owner(v) == "w2"]
            loop = asyncio.get_running_loop()
            killed_at = loop.time()
            procs.workers["w2"].send(signal.SIGKILL)
            await procs.workers["w2"].process.wait()
            await wait_for(lambda: all(owner(v) in ("w1", "w3") for v in doomed), LEASE + RENEW + 60)
            await asyncio.sleep(2)
            back = []
            for v in doomed:
                times = [s.at for s in vtn.sent(v) if s.at > killed_at and "worker=w2 " not in s.sender + " "]
                if times:
                    back.append(min(times) - killed_at)
            extra_registrations = len(vtn.registrations) - vens
            overlaps = len(vtn.overlaps())
    back.sort()
    return {
        "vens": vens, "workers": 3, "registered": registered, "killed_vens": len(doomed), "resumed": len(back),
        "handover_p50_s": statistics.median(back) if back else None, "handover_max_s": back[-1] if back else None,
        "bound_s": LEASE + RENEW, "extra_registrations": extra_registrations, "overlapping_vens": overlaps,
    }


# ------------------------------------------------------------------------------------ scaling


async def _window(vtn: TestVTN, pids: list[int], seconds: float) -> tuple[float, int]:
    cpu0, polls0 = sum(map(cpu_seconds, pids)), vtn.polls
    await asyncio.sleep(seconds)
    return sum(map(cpu_seconds, pids)) - cpu0, vtn.polls - polls0


async def scaling(admin: str, work: Path, vens: int, window: float) -> dict[str, Any]:
    dsn = await new_database(admin, "scaling")
    directory = work / "scaling"
    directory.mkdir()
    (directory / "bench_handlers.py").write_text(HANDLERS)
    rows: dict[str, Any] = {}
    async with TestVTN(poll_freq=timedelta(seconds=POLL_S), on_register_report=ask_for_reports) as vtn:
        procs = WorkerProcesses(dsn, vtn.url, directory, slots=SLOTS, lease=LEASE, renew_every=RENEW, margin=MARGIN,
                                statement_timeout=2.0, fleet_toml=FLEET_TOML)
        await procs.create(names_of(vens))
        ports = {"w1": free_port(), "w2": free_port()}
        async with procs:
            await procs.start("w1", "--metrics-port", str(ports["w1"]), "--metrics-host", "127.0.0.1")
            registered = await wait_for(lambda: len(vtn.registrations) >= vens, 240)
            await asyncio.sleep(POLL_S + 5)
            for count in (1, 2):
                names = [f"w{i + 1}" for i in range(count)]
                if count == 2:
                    await procs.start("w2", "--metrics-port", str(ports["w2"]), "--metrics-host", "127.0.0.1")

                    async def balanced() -> bool:
                        held = await procs.held()
                        return len(held) == 2 and abs(held.get("w1", 0) - held.get("w2", 0)) <= 1

                    await wait_for(balanced, 60, step=0.5)
                    await asyncio.sleep(POLL_S + 5)
                pids = [procs.workers[n].pid for n in names]
                statements0 = sum(scrape(ports[n], "fleetven_worker_statements_total") for n in names)
                cpu, polls = await _window(vtn, pids, window)
                statements = sum(scrape(ports[n], "fleetven_worker_statements_total") for n in names) - statements0
                per_poll = cpu / polls if polls else None
                rows[f"{count}_worker"] = {
                    "workers": count, "vens": vens, "registered": registered, "polls": polls, "cpu_s": cpu,
                    "cpu_per_poll_us": per_poll * 1e6 if per_poll else None,
                    # polls per second the machine's cores could carry at that cost, as VENs at a 10 s poll
                    "vens_per_core_at_10s": int(POLL_S / per_poll) if per_poll else None,
                    "statements_per_1000_polls": statements * 1000 / polls if polls else None,
                }
    return rows


async def sqlite(work: Path, vens: int, window: float) -> dict[str, Any]:
    directory = work / "sqlite"
    directory.mkdir()
    (directory / "bench_handlers.py").write_text(HANDLERS)
    (directory / "vens.csv").write_text("ven_name\n" + "".join(f"{n}\n" for n in names_of(vens)))
    async with TestVTN(poll_freq=timedelta(seconds=POLL_S), on_register_report=ask_for_reports) as vtn:
        (directory / "fleet.toml").write_text(f'[vtn]\nurl = "{vtn.url}"\n[vens]\ncsv = "vens.csv"\n'
                                              f'[store]\npath = "fleet.db"\n' + FLEET_TOML)
        log = (directory / "run.log").open("wb")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "fleetven", "run", "fleet.toml", "--no-live",
                                                    "--summary-interval", "0", cwd=directory, stdout=log, stderr=log)
        try:
            registered = await wait_for(lambda: len(vtn.registrations) >= vens, 240)
            await asyncio.sleep(POLL_S + 5)
            cpu, polls = await _window(vtn, [proc.pid], window)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            log.close()
    per_poll = cpu / polls if polls else None
    return {"vens": vens, "registered": registered, "polls": polls, "cpu_s": cpu,
            "cpu_per_poll_us": per_poll * 1e6 if per_poll else None}


# ------------------------------------------------------------------------------------ main


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="fleetven-bench-workers-"))
    work.chmod(0o755)  # the server may run as another account (as root: postgres)
    (work / "pg").mkdir()
    server = throwaway_server(work / "pg", free_port())
    server.start()
    admin = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    try:
        result: dict[str, Any] = {"handover": await handover(admin, work, args.vens)}
        result["scaling"] = await scaling(admin, work, args.scale_vens, args.window)
        result["sqlite"] = await sqlite(work, args.scale_vens, args.window)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result


def report(result: dict[str, Any]) -> str:
    h, s, q = result["handover"], result["scaling"], result["sqlite"]
    one, two = s["1_worker"], s["2_worker"]
    lines = [
        f"hand-over after kill -9 (3 workers, {h['vens']} VENs, {h['killed_vens']} on the killed one): "
        f"p50 {h['handover_p50_s']:.2f} s, max {h['handover_max_s']:.2f} s (lease + renewal = {h['bound_s']:.0f} s); "
        f"{h['resumed']} resumed, {h['extra_registrations']} extra registrations, {h['overlapping_vens']} overlaps",
        f"{one['vens']} VENs at a 10 s poll, CPU per poll: 1 worker {one['cpu_per_poll_us']:.1f} us, "
        f"2 workers {two['cpu_per_poll_us']:.1f} us ({_ratio(two['cpu_per_poll_us'], one['cpu_per_poll_us'])}); "
        f"SQLite (fleetven run) {q['cpu_per_poll_us']:.1f} us: PostgreSQL / SQLite = "
        f"{_ratio(one['cpu_per_poll_us'], q['cpu_per_poll_us'])}",
        f"PostgreSQL statements per 1,000 polls: 1 worker {one['statements_per_1000_polls']:.1f}, "
        f"2 workers {two['statements_per_1000_polls']:.1f}",
        f"VENs one core carries at a 10 s poll at that cost: 1 worker {one['vens_per_core_at_10s']}, "
        f"SQLite {int(POLL_S / (q['cpu_per_poll_us'] / 1e6)) if q['cpu_per_poll_us'] else 'n/a'}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and a short window (a smoke run)")
    parser.add_argument("--vens", type=int, default=3000, help="VENs of the hand-over run (default 3000)")
    parser.add_argument("--scale-vens", type=int, default=6000, help="VENs of the scaling runs (default 6000)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of each CPU window (default 20)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.vens, args.scale_vens, args.window = min(args.vens, 300), min(args.scale_vens, 300), 5.0
    try:
        import uvloop

        result = uvloop.run(main_async(args))
    except PostgresUnavailable as exc:
        print(f"bench_workers: {exc}", file=sys.stderr)
        return 2
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
