"""A fleet run by real ``fleetven worker`` processes on a throwaway PostgreSQL, against the VTN
stand-in, which logs who sent every request of every VEN: a worker killed (``SIGKILL``), paused
past its lease (``SIGSTOP``), cut off from the database (black-holed through the fault proxy), the
database restarted, workers joining and leaving. What must hold is what a VTN would see: no new
registration, no event answered twice, no report sample lost, never two processes acting as one
VEN, every VEN polling again soon after its worker died."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from _helpers import until as _until
from test_fleet import make_event

from fleetven.openadr import model as m
from fleetven.testing import TestVTN
from fleetven.testing.proxy import FaultProxy
from fleetven.testing.workers import WorkerProcesses

# The loop that matters is the workers' (uvloop, in their own processes); the VTN's runs once.
pytestmark = pytest.mark.one_loop

VENS = 240
SLOTS = 24
LEASE, RENEW, MARGIN = 3.0, 0.5, 1.0
RESUME_WITHIN = min(1.0, RENEW)
DEADLINE = 60.0
GRANULARITY = timedelta(seconds=1)

FLEET_TOML = """\
[fleet]
poll_interval = "1s"
backoff_base = "100ms"
backoff_cap = "1s"
request_timeout = "2s"
max_registering = 64
[handlers]
on_event = "worker_handlers:on_event"
[[reports]]
callback = "worker_handlers:meter"
resource_id = "meter"
measurement = "power_real"
sampling_rate = "1s"
report_duration = "1h"
"""

HANDLERS = """\
import os
import random

_LOG = os.open("decisions.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


async def on_event(ven, event):
    # one line per decision, written at once (the kernel keeps it when the process is killed)
    os.write(_LOG, f"{ven.name} {event['event_descriptor']['event_id']} {os.getpid()}\\n".encode())
    return "optIn"


def meter(ven=None):
    return round(random.uniform(1.0, 9.0), 3)
"""


def ask_for_reports(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
    """Every report offered, sampled every second, reported every two."""
    return [
        m.ReportRequest(
            report_request_id=f"rr-{ven_id}-{report.report_specifier_id}",
            report_specifier=m.ReportSpecifier(
                report_specifier_id=report.report_specifier_id, granularity=GRANULARITY,
                report_back_duration=timedelta(seconds=2),
                specifier_payloads=[m.SpecifierPayload(r_id=d.r_id, reading_type="Direct Read")
                                    for d in report.report_descriptions]))
        for report in msg.reports
    ]


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(seconds=1), log_senders=True, on_register_report=ask_for_reports) as v:
        yield v


async def until(predicate: Callable[[], object], *, timeout: float = DEADLINE, what: str = "") -> None:
    await _until(predicate, timeout=timeout, what=what, step=0.05)


_WORKER = re.compile(r"worker=(\S+)")


def worker_of(sender: str) -> str:
    found = _WORKER.search(sender)
    return found.group(1) if found else sender


class Fleet:
    """The test's view: the workers, the VTN, the VEN names by venID."""

    def __init__(self, procs: WorkerProcesses, vtn: TestVTN, names: list[str]) -> None:
        self.procs, self.vtn, self.names = procs, vtn, names

    def ven_ids(self) -> dict[str, str]:
        """venID -> VEN name, for every VEN the VTN registered."""
        return {ven_id: msg.ven_name for ven_id, msg in self.vtn.registrations}

    def last_sender(self, ven_id: str) -> str | None:
        sent = self.vtn.sent(ven_id)
        return worker_of(sent[-1].sender) if sent else None

    def run_by(self) -> dict[str, str | None]:
        """VEN name -> the worker that sent its latest request."""
        return {name: self.last_sender(ven_id) for ven_id, name in self.ven_ids().items()}

    def reporting(self) -> set[str]:
        return {ven_id for ven_id, _ in self.vtn.reports}


async def start_fleet(tmp_path: Path, dsn: str, vtn: TestVTN, workers: int) -> tuple[WorkerProcesses, Fleet]:
    (tmp_path / "worker_handlers.py").write_text(HANDLERS)
    names = [f"site-{i:04d}" for i in range(VENS)]
    procs = WorkerProcesses(dsn, vtn.url, tmp_path, slots=SLOTS, lease=LEASE, renew_every=RENEW, margin=MARGIN,
                            fleet_toml=FLEET_TOML)
    await procs.create(names)
    for i in range(workers):
        await procs.start(f"w{i + 1}")
    fleet = Fleet(procs, vtn, names)
    await until(lambda: len(vtn.registrations) == VENS and len(fleet.reporting()) == VENS,
                what="every VEN registered and reporting")
    return procs, fleet


async def balanced(procs: WorkerProcesses, workers: list[str]) -> None:
    share = SLOTS // len(workers)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        held = await procs.held()
        if sorted(held) == sorted(workers) and all(share <= n <= share + 1 for n in held.values()) \
                and sum(held.values()) == SLOTS:
            return
        if loop.time() > deadline:
            raise AssertionError(f"slots not balanced over {workers}: {held}")
        await asyncio.sleep(0.1)


def answers(vtn: TestVTN) -> dict[tuple[str, str], set[str]]:
    """(venID, eventID) -> the optTypes the VTN received for it in ``oadrCreatedEvent`` (an unchanged
    event the VTN sends again is answered again, with the earlier answer: rule "same modification
    number, re-send the earlier answer")."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for receipt in vtn.received:
        if isinstance(receipt.message, m.CreatedEvent):
            for response in receipt.message.event_responses:
                out[(receipt.ven_id or "", response.event_id)].add(response.opt_type)
    return out


def decisions(directory: Path) -> Counter[tuple[str, str]]:
    """(VEN name, eventID) -> times a worker's handler decided it (from the handlers' log)."""
    path = directory / "decisions.log"
    lines = path.read_text().split() if path.exists() else []
    return Counter((lines[i], lines[i + 1]) for i in range(0, len(lines), 3))


def decided_once(directory: Path, vtn: TestVTN, events: int = 1) -> None:
    """Every event was decided by exactly one handler call, and every answer the VTN got for it agrees."""
    made = decisions(directory)
    assert len(made) == VENS * events, f"{len(made)} decisions for {VENS * events} events"
    twice = {k: n for k, n in made.items() if n != 1}
    assert not twice, f"events decided more than once: {twice}"
    contradicted = {k: opts for k, opts in answers(vtn).items() if len(opts) != 1}
    assert not contradicted, f"events answered with different decisions: {contradicted}"


def samples(vtn: TestVTN) -> dict[tuple[str, str, object], list[float]]:
    """(venID, rID, dtstart) -> every value received for that sample, in arrival order."""
    out: dict[tuple[str, str, object], list[float]] = defaultdict(list)
    for ven_id, report in vtn.reports:
        for interval in report.intervals:
            for payload in interval.payloads:
                out[(ven_id, payload.r_id, interval.dtstart)].append(payload.value)
    return out


def numbers_hold(vtn: TestVTN) -> None:
    """Each VEN's sample numbers (the intervals' uid) go 1, 2, 3... with none missing, whichever
    worker sent them, and each names one sample: nothing went out that the next owner did not know
    of, and it numbered on after the last number sent."""
    numbered = vtn.sample_numbers()
    assert len(numbered) == VENS, f"{VENS - len(numbered)} VENs sent no numbered sample"
    reused = {(v, n): keys for v, by_n in numbered.items() for n, keys in by_n.items() if len(keys) > 1}
    assert not reused, f"sample numbers given to two samples: {list(reused.items())[:5]}"
    missing = vtn.missing_sample_numbers()
    assert not missing, f"sample numbers never received: {list(missing.items())[:5]}"


async def pending_samples(dsn: str, vens: set[str]) -> set[tuple[str, str, int]]:
    """The samples the database holds, unacknowledged, for ``vens``: (VEN name, rID, dtstart in µs)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT ven, r_id, dtstart FROM fleetven.samples WHERE ven = ANY($1::text[])",
                                sorted(vens))
    finally:
        await conn.close()
    return {(r[0], r[1], r[2]) for r in rows}


def _micros(when: Any) -> int:
    return int(when.timestamp() * 1_000_000)


async def test_kill_9_of_one_worker_of_three(tmp_path: Path, pg_dsn: str, vtn: TestVTN) -> None:
    procs, fleet = await start_fleet(tmp_path, pg_dsn, vtn, 3)
    async with procs:
        await balanced(procs, ["w1", "w2", "w3"])
        ids = fleet.ven_ids()
        for ven_id in ids:
            vtn.add_event(ven_id, make_event("ev-1"))
        await until(lambda: len(answers(vtn)) == VENS, what="every VEN answered the event")
        await asyncio.sleep(2.0)  # samples buffered, some in flight
        victim = procs.workers["w2"]
        doomed = {name for name, w in fleet.run_by().items() if w == "w2"}
        assert doomed
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        victim.send(signal.SIGKILL)
        await victim.process.wait()
        pending = await pending_samples(pg_dsn, doomed)
        await balanced(procs, ["w1", "w3"])
        by_name = {name: ven_id for ven_id, name in ids.items()}
        await until(lambda: all(fleet.last_sender(by_name[n]) in ("w1", "w3") for n in doomed),
                    what="every VEN of the dead worker polled again")
        # each polled again within lease + one renewal period (+ the resume spread, + slack for a busy machine)
        back = {n: min(s.at for s in vtn.sent(by_name[n]) if worker_of(s.sender) != "w2" and s.at > killed_at)
                for n in doomed}
        late = {n: round(t - killed_at, 2) for n, t in back.items() if t - killed_at > LEASE + RENEW +
                RESUME_WITHIN + 2.0}
        assert not late, f"VENs silent too long after the kill: {late}"
        await asyncio.sleep(4.0)  # the buffered samples go out
        assert len(vtn.registrations) == VENS, "a VEN registered again"
        decided_once(tmp_path, vtn)
        assert vtn.overlaps() == {}
        got = samples(vtn)
        arrived = {(ids[v], r, _micros(d)) for (v, r, d) in got}
        lost = pending - arrived
        assert not lost, f"{len(lost)} of the {len(pending)} buffered samples of the dead worker's VENs never arrived"
        duplicated = {k: vs for k, vs in got.items() if len(vs) > 1}
        # a sample acknowledged by the VTN in the last instant before the kill, whose acknowledgement
        # had not yet been committed, goes out again with the same rID, dtstart and value (the VTN
        # takes it as the same reading); nothing else may come twice
        assert all(len(set(vs)) == 1 for vs in duplicated.values()), duplicated
        assert all(ids[k[0]] in doomed for k in duplicated), "a VEN of a live worker sent a sample twice"
        assert len(duplicated) <= len(doomed), f"{len(duplicated)} samples sent twice"
        numbers_hold(vtn)


def _proc_state(pid: int) -> str:
    """The process's state letter from ``/proc/<pid>/stat`` (``T``: stopped by a signal)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


async def test_sigstop_past_the_lease_then_sigcont(tmp_path: Path, pg_dsn: str, vtn: TestVTN) -> None:
    procs, fleet = await start_fleet(tmp_path, pg_dsn, vtn, 2)
    async with procs:
        await balanced(procs, ["w1", "w2"])
        ids = fleet.ven_ids()
        paused = {ven_id for ven_id, name in ids.items() if fleet.last_sender(ven_id) == "w2"}
        loop = asyncio.get_running_loop()
        w2 = procs.workers["w2"]
        w2.send(signal.SIGSTOP)
        await until(lambda: _proc_state(w2.process.pid) == "T", what="w2 stopped")
        # What w2 wrote just before it stopped is read by the VTN (this loop) a moment later: the
        # stale-owner check starts once that is read, when w2 can no longer have sent anything.
        await asyncio.sleep(0.5)
        stopped_at = loop.time()
        await until(lambda: all(fleet.last_sender(v) == "w1" for v in paused), what="w1 took over")
        await asyncio.sleep(1.0)
        procs.workers["w2"].send(signal.SIGCONT)
        await asyncio.sleep(LEASE + 4 * RENEW)  # w2 finds its leases gone, rejoins, takes a share back
        await balanced(procs, ["w1", "w2"])
        await asyncio.sleep(2.0)
        for ven_id in paused:
            after = [worker_of(s.sender) for s in vtn.sent(ven_id) if s.at > stopped_at]
            runs = [w for i, w in enumerate(after) if i == 0 or after[i - 1] != w]
            # w1 takes it; w2 may get it back later, by a graceful hand-over; a request of w2's
            # between (a stale owner acting) would show as w2 first, or as w1 again after w2
            assert runs in (["w1"], ["w1", "w2"]), f"{ven_id}: senders after the pause: {runs}"
        assert len(vtn.registrations) == VENS
        log = procs.workers["w2"].log_text()
        assert "lost slots" in log or "owned by another worker" in log, log[-2000:]


async def test_black_holed_database_link(tmp_path: Path, pg_dsn: str, postgresql_server: Any, vtn: TestVTN) -> None:
    """w2 reaches PostgreSQL through the fault proxy, which then swallows everything: w2 stops acting
    before its leases expire, w1 takes over; after healing, never two senders at once."""
    (tmp_path / "worker_handlers.py").write_text(HANDLERS)
    names = [f"site-{i:04d}" for i in range(VENS)]
    async with FaultProxy(postgresql_server.host, postgresql_server.port) as proxy:
        proxied = pg_dsn.replace(f":{postgresql_server.port}/", f":{proxy.port}/")
        procs = WorkerProcesses(pg_dsn, vtn.url, tmp_path, slots=SLOTS, lease=LEASE, renew_every=RENEW,
                                margin=MARGIN, fleet_toml=FLEET_TOML)
        await procs.create(names)
        fleet = Fleet(procs, vtn, names)
        async with procs:
            await procs.start("w1")
            procs.dsn = proxied
            await procs.start("w2")
            procs.dsn = pg_dsn
            await until(lambda: len(vtn.registrations) == VENS, what="every VEN registered")
            await balanced(procs, ["w1", "w2"])
            ids = fleet.ven_ids()
            cut = {v for v in ids if fleet.last_sender(v) == "w2"}
            loop = asyncio.get_running_loop()
            proxy.set_mode("blackhole")
            cut_at = loop.time()
            await until(lambda: all(fleet.last_sender(v) == "w1" for v in cut), what="w1 took over")
            # w2 stopped acting before its leases could expire: nothing from it after cut + lease - margin
            for v in cut:
                late = [s.at - cut_at for s in vtn.sent(v) if worker_of(s.sender) == "w2" and s.at > cut_at]
                assert not late or max(late) < LEASE, f"{v}: w2 acted {max(late):.2f} s after the cut"
            proxy.set_mode("pass")
            await asyncio.sleep(LEASE + 4 * RENEW)
            await balanced(procs, ["w1", "w2"])
            await asyncio.sleep(2.0)
            assert vtn.overlaps() == {}
            assert len(vtn.registrations) == VENS


async def test_a_worker_joins_and_one_leaves(tmp_path: Path, pg_dsn: str, vtn: TestVTN) -> None:
    procs, fleet = await start_fleet(tmp_path, pg_dsn, vtn, 2)
    async with procs:
        await balanced(procs, ["w1", "w2"])
        for ven_id in fleet.ven_ids():
            vtn.add_event(ven_id, make_event("ev-1"))
        await until(lambda: len(answers(vtn)) == VENS, what="every VEN answered the event")
        await procs.start("w3")
        await balanced(procs, ["w1", "w2", "w3"])
        assert await procs.stop("w1") == 0
        await balanced(procs, ["w2", "w3"])
        await until(lambda: set(fleet.run_by().values()) <= {"w2", "w3"}, what="w1's VENs moved")
        await asyncio.sleep(2.0)
        assert vtn.overlaps() == {}
        assert len(vtn.registrations) == VENS
        gaps = vtn.handover_gaps()
        # a graceful hand-over: no VEN silent longer than a poll period plus the hand-over
        slow = {v: round(g, 2) for v, g in gaps.items() if g > 1.0 + RENEW + RESUME_WITHIN + 2.0}
        assert not slow, slow
        decided_once(tmp_path, vtn)


async def test_postgresql_restarts_mid_run(tmp_path: Path, pg_dsn: str, postgresql_server: Any, vtn: TestVTN) -> None:
    """The database goes away for longer than a lease: the workers stop acting for every slot (they
    cannot prove a lease), keep sampling in memory, and when it is back each takes its own slots back
    at the next epoch and sends what it kept: no sample lost, no VEN moved, nothing registered again."""
    procs, fleet = await start_fleet(tmp_path, pg_dsn, vtn, 2)
    async with procs:
        await balanced(procs, ["w1", "w2"])
        owner_before = fleet.run_by()
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(postgresql_server.stop)
        down_at = loop.time()
        try:
            await asyncio.sleep(LEASE + 2.0)
            quiet_from = down_at + LEASE - MARGIN  # every deadline has passed by now
            polls = [s for v in fleet.ven_ids() for s in vtn.sent(v) if quiet_from + 0.5 < s.at]
            assert not polls, f"{len(polls)} requests while no worker could prove its leases"
        finally:
            await asyncio.to_thread(postgresql_server.start)
        up_at = loop.time()
        await balanced(procs, ["w1", "w2"])
        await until(lambda: all(s and s[-1].at > up_at for s in map(vtn.sent, fleet.ven_ids())),
                    what="every VEN active again")
        await asyncio.sleep(4.0)  # what was kept goes out
        assert fleet.run_by() == owner_before, "VENs moved: a worker took another's slots back"
        assert len(vtn.registrations) == VENS
        assert vtn.overlaps() == {}
        # no sample lost: every VEN's samples, taken every second, go on through the outage
        per_ven: dict[str, list[float]] = defaultdict(list)
        for (ven_id, _r, dtstart) in samples(vtn):
            per_ven[ven_id].append(dtstart.timestamp())
        holes = {}
        for ven_id, times in per_ven.items():
            times.sort()
            gaps = [b - a for a, b in itertools.pairwise(times) if b - a > 1.5]
            if gaps:
                holes[ven_id] = gaps
        assert not holes, f"samples missing around the outage: {dict(list(holes.items())[:5])}"
        assert len(per_ven) == VENS
        numbers_hold(vtn)
