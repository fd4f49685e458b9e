"""VTN outages and network faults, injected by fleetven.testing.proxy.FaultProxy between a fleet and a real VTN.

Issue 5: unreachable VTN, refused connections, resets mid-response, timeouts, HTTP 5xx, truncated or
garbage bodies: each VEN backs off (capped exponential backoff, full jitter) and recovers; report
samples keep being taken during the fault and every one reaches the VTN afterwards, in order; a VTN
that is slow or silent for one VEN holds up no other; after an outage across 1,000 VENs the first
polls spread over the backoff window instead of arriving in one wave.

What the fleet does is seen from outside: the VTN's records (what arrived, and when, on the VTN's
clock), the proxy's counters, the report callbacks, and a :class:`RecordingTransport` (the fleet's
own transport class, given as ``Fleet(transport_factory=...)``, logging each request's VEN,
service, start and outcome). Nothing sleeps: every wait polls a condition with a deadline. The only
time-based assertions are lower bounds (a backed-off VEN waited at least so long on average) and
distributions of counts.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.http.transport import OADR_POLL, Call, Callback, Transport
from fleetven.observe import Observer
from fleetven.openadr import model as m
from fleetven.testing import Faults, TestVTN
from fleetven.testing.openleadr import OpenLEADRVTN
from fleetven.testing.proxy import FaultProxy

DEADLINE = 20.0
GRANULARITY = timedelta(seconds=1)  # OpenADR durations are whole seconds: the finest sampling there is


# ------------------------------------------------------------------ helpers


@dataclass(slots=True)
class Attempt:
    """One request of one VEN as the fleet's transport saw it."""

    at: float
    service: str
    ok: bool | None = None  # None while in flight


class RecordingTransport(Transport):
    """The fleet's transport, logging every request by VEN name (``Fleet(transport_factory=RecordingTransport)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: dict[str, list[Attempt]] = defaultdict(list)

    def _attempt(self, service: str, ven: str | None) -> Attempt:
        attempt = Attempt(asyncio.get_running_loop().time(), service)
        self.log[ven or ""].append(attempt)
        return attempt

    async def request(self, service: str, body: bytes, **kwargs: Any) -> bytes:
        attempt = self._attempt(service, kwargs.get("ven"))
        try:
            data = await super().request(service, body, **kwargs)
        except BaseException:
            attempt.ok = False
            raise
        attempt.ok = True
        return data

    def post(self, service: str, body: bytes, callback: Callback, **kwargs: Any) -> Call:
        attempt = self._attempt(service, kwargs.get("ven"))

        def done(data: bytes | None, error: BaseException | None) -> None:
            attempt.ok = error is None
            callback(data, error)

        return super().post(service, body, done, **kwargs)

    def polls(self, ven: str, *, since: float = float("-inf")) -> list[Attempt]:
        """``ven``'s polls started at or after ``since``."""
        return [a for a in self.log[ven] if a.service == OADR_POLL and a.at >= since]


def log_of(fleet: Fleet) -> RecordingTransport:
    transport = fleet.transport
    assert isinstance(transport, RecordingTransport)
    return transport


async def until(predicate: Callable[[], object], *, timeout: float = DEADLINE, every: float = 0.01,
                what: str = "condition") -> None:
    """Poll ``predicate`` every ``every`` seconds until it is true; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not true within {timeout} s")
        await asyncio.sleep(every)


class Sampler:
    """A report callback numbering each VEN's samples 1, 2, 3... (the value sent is the number)."""

    def __init__(self) -> None:
        self.taken: Counter[str] = Counter()

    def __call__(self, ven: Ven) -> float:
        self.taken[ven.name] += 1
        return float(self.taken[ven.name])


def ask_for_reports(back: timedelta) -> Callable[[str, m.RegisterReport], list[m.ReportRequest]]:
    """A TestVTN ``on_register_report``: request every offered report, sampled every second,
    reported every ``back``."""

    def on_register_report(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
        return [
            m.ReportRequest(
                report_request_id=f"rr-{ven_id}-{report.report_specifier_id}",
                report_specifier=m.ReportSpecifier(
                    report_specifier_id=report.report_specifier_id,
                    granularity=GRANULARITY,
                    report_back_duration=back,
                    specifier_payloads=[m.SpecifierPayload(r_id=d.r_id, reading_type="Direct Read")
                                        for d in report.report_descriptions],
                ),
            )
            for report in msg.reports
        ]

    return on_register_report


def delivered(vtn: TestVTN, fleet: Fleet) -> dict[str, list[tuple[float, object]]]:
    """Per VEN name, every ``(value, dtstart)`` the VTN received in ``oadrUpdateReport``, in arrival order."""
    names = {ven.ven_id: name for name, ven in fleet.vens.items()}
    out: dict[str, list[tuple[float, object]]] = defaultdict(list)
    for ven_id, report in vtn.reports:
        for interval in report.intervals:
            for payload in interval.payloads:
                assert isinstance(payload.value, float)
                out[names[ven_id]].append((payload.value, interval.dtstart))
    return out


def check_samples(received: list[tuple[float, object]], taken: int, *, who: str) -> int:
    """Every sample numbered 1..``taken`` arrived, first arrivals in order, a re-delivery only ever
    repeating the same sample (same number, same dtstart). Returns the number of re-deliveries."""
    first: list[float] = []
    stamp_of: dict[float, object] = {}
    repeats = 0
    for value, stamp in received:
        if value in stamp_of:
            assert stamp_of[value] == stamp, f"{who}: sample {value} arrived with two dtstarts"
            repeats += 1
            continue
        stamp_of[value] = stamp
        first.append(value)
    expected = [float(n) for n in range(1, len(first) + 1)]
    assert first == expected, f"{who}: samples lost or out of order: {first[:40]}"
    assert len(first) >= taken, f"{who}: {taken} samples taken, {len(first)} delivered"
    return repeats


def covered(vtn: TestVTN, fleet: Fleet, taken: dict[str, int]) -> bool:
    got = delivered(vtn, fleet)
    return all({float(n) for n in range(1, count + 1)} <= {v for v, _ in got.get(name, ())}
               for name, count in taken.items())


# -------------------------------------------------------- the faults, one by one

def _set(faults: Faults, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(faults, name, value)


# Each fault: how to switch it on, how to switch it off (proxy in front of a TestVTN).
_ON: dict[str, Callable[[FaultProxy, TestVTN], None]] = {
    "refused connections": lambda p, v: p.set_mode("refuse"),
    "connections dropped": lambda p, v: p.set_mode("drop"),
    "reset mid-response": lambda p, v: p.set_mode("reset", after=120),
    "unreachable (blackhole, timeouts)": lambda p, v: p.set_mode("blackhole"),
    "slow drip (timeouts)": lambda p, v: p.set_mode("drip", chunk=1, interval=0.1),
    "truncated answers": lambda p, v: p.set_mode("truncate", after=250),
    "HTTP 503": lambda p, v: setattr(v.faults, "status", 503),
    "HTTP 500 after handling": lambda p, v: _set(v.faults, status=500, process=True),
    "garbage bodies": lambda p, v: setattr(v.faults, "garbage", True),
}
_TIMEOUTS = frozenset({"unreachable (blackhole, timeouts)", "slow drip (timeouts)"})

BASE, CAP = 0.02, 0.2


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(0), on_register_report=ask_for_reports(GRANULARITY)) as v:
        yield v


@pytest.fixture
async def proxy(vtn: TestVTN) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(vtn.host, vtn.port) as p:
        yield p


async def test_each_ven_backs_off_and_recovers_without_losing_samples(vtn: TestVTN, proxy: FaultProxy) -> None:
    """Every fault in turn on one fleet of four VENs: each backs off while it lasts, polls again once
    it is over, and at the end every sample taken (during the faults too) reached the VTN in order.

    One fleet for all the faults keeps the test short: samples come once a second at best.
    """
    sampler = Sampler()
    fleet = Fleet(proxy.proxied_url(vtn.url), seed=5, poll_interval=0.02, backoff_base=BASE, backoff_cap=CAP,
                  request_timeout=0.3, timer_resolution=0.01, transport_factory=RecordingTransport)
    fleet.add_report(sampler, "meter", "power_real", sampling_rate=GRANULARITY)
    for i in range(4):
        fleet.add_ven(f"site-{i}")
    names = list(fleet.vens)
    loop = asyncio.get_running_loop()
    late_gaps: dict[str, list[float]] = {}
    during: dict[str, dict[str, int]] = {}
    async with fleet:
        log = log_of(fleet)
        await until(lambda: len(delivered(vtn, fleet)) == len(names), what="a report from every VEN")
        for fault, switch_on in _ON.items():
            began = loop.time()
            taken_before = dict(sampler.taken)
            switch_on(proxy, vtn)
            proxy.close_connections()  # no pooled connection outlives the fault's start

            def polls_ended(name: str, since: float = began) -> list[Attempt]:
                return [a for a in log.polls(name, since=since) if a.ok is not None]

            # Every poll in the fault fails (at the transport, or at reading the garbage), so the polls
            # that ended are the failed ones. Capped: with an uncapped doubling from 20 ms, the 8th retry
            # alone could wait 2.5 s (and the 1,000-VEN test below checks the window).
            wanted = 3 if fault in _TIMEOUTS else 8

            def failed_enough(wanted: int = wanted) -> bool:
                return all(len(polls_ended(n)) >= wanted for n in names)

            await until(failed_enough, what=f"{fault}: {wanted} failed polls each")
            if fault != "garbage bodies":
                assert not any(a.ok for n in names for a in polls_ended(n)), fault
            late_gaps[fault] = [b.at - a.at for n in names for a, b in zip(polls_ended(n)[3:], polls_ended(n)[4:])]
            during[fault] = {n: sampler.taken[n] - taken_before[n] for n in names}

            proxy.set_mode("pass")
            vtn.faults.clear()
            recovered = loop.time()

            def polling_again(recovered: float = recovered) -> bool:
                return all(any(a.ok for a in log.polls(n, since=recovered)) for n in names)

            await until(polling_again, what=f"{fault}: every VEN polling again")
        taken = dict(sampler.taken)
        await until(lambda: covered(vtn, fleet, taken), what="every sample taken delivered")

    # Backed off: past the first few retries, a VEN waited on average at least a sixth of the cap
    # between two attempts (full jitter: uniform in [0, cap], mean cap / 2); without backoff it would
    # retry at its 20 ms poll period or at once. Jittered: the waits differ (a fixed delay would give
    # one value, give or take the loop). Timeouts add their own 0.3 s to every gap: not checked there.
    for fault, gaps in late_gaps.items():
        if fault in _TIMEOUTS:
            continue
        assert len(gaps) >= 16, (fault, gaps)
        assert statistics.mean(gaps) >= CAP / 6, (fault, gaps)
        assert statistics.pstdev(gaps) >= CAP / 10, (fault, gaps)
    # Samples went on being taken during the faults (about seven seconds of them in all)...
    assert all(sum(d[n] for d in during.values()) >= 3 for n in names), during
    # ...and every sample taken reached the VTN, in order.
    got = delivered(vtn, fleet)
    for name in names:
        check_samples(got[name], taken[name], who=name)
    assert proxy.stats.resets > 0 and proxy.stats.truncated > 0 and proxy.stats.dropped > 0
    assert proxy.stats.blackholed > 0
    assert [r.message.message_type for r in vtn.faulted].count("oadrPoll") > 0
    # A fault is not a lost registration: nobody registered twice.
    assert len(vtn.registrations) == len(names)


# ------------------------------------------------------- one slow VEN, the others on time


@pytest.mark.parametrize("delay", [0.5, 30.0], ids=["slow", "silent"])
async def test_a_vtn_slow_for_one_ven_holds_up_no_other(vtn: TestVTN, proxy: FaultProxy, delay: float) -> None:
    # Two connections only: a VEN stuck on one leaves one for the five others.
    fleet = Fleet(proxy.proxied_url(vtn.url), seed=9, poll_interval=0.05, backoff_base=BASE, backoff_cap=CAP,
                  request_timeout=1.0, max_connections=2, transport_factory=RecordingTransport)
    for i in range(6):
        fleet.add_ven(f"site-{i}")
    async with fleet:
        log = log_of(fleet)
        await until(lambda: all(v.registered for v in fleet.vens.values()), what="registered")
        slow = fleet.vens["site-0"]
        assert slow.ven_id is not None
        others = [n for n in fleet.vens if n != "site-0"]
        began = asyncio.get_running_loop().time()
        vtn.ven_faults[slow.ven_id] = Faults(delay=delay)

        def slow_done() -> int:
            return sum(1 for a in log.polls("site-0", since=began) if a.ok is not None)

        # While the VTN holds the slow VEN's poll (0.5 s, or until its 1 s timeout)...
        await until(lambda: slow_done() >= 2, what="two polls of the slow VEN ended")
        # ...every other VEN went on polling: at its 50 ms period, ten polls take half a second.
        counts = {n: sum(1 for a in log.polls(n, since=began) if a.ok) for n in others}
        assert all(c >= 10 for c in counts.values()), counts
        slow_results = [a.ok for a in log.polls("site-0", since=began) if a.ok is not None]
        assert all(slow_results) if delay < 1.0 else not any(slow_results)


# ------------------------------------------------------- OpenLEADR's VTN behind the proxy


async def test_openleadr_vtn_resets_mid_response_then_recovers() -> None:
    sampler = Sampler()
    async with OpenLEADRVTN(poll_freq=timedelta(seconds=1), report_sampling=timedelta(seconds=1)) as vtn:
        assert vtn.port is not None
        async with FaultProxy("127.0.0.1", vtn.port) as proxy:
            fleet = Fleet(proxy.proxied_url(vtn.url), seed=3, backoff_base=0.05, backoff_cap=0.3,
                          request_timeout=5.0)
            fleet.add_report(sampler, "meter", "voltage", sampling_rate=timedelta(seconds=1))
            for i in range(3):
                fleet.add_ven(f"site-{i}")
            names = list(fleet.vens)

            def values() -> dict[str, list[tuple[float, object]]]:
                by_id = {ven.ven_id: name for name, ven in fleet.vens.items()}
                out: dict[str, list[tuple[float, object]]] = defaultdict(list)
                for r in vtn.reports:
                    out[by_id[r.ven_id]].append((float(r.value), r.dtstart))
                return out

            async with fleet:
                await vtn.wait_for(lambda: len(values()) == len(names), timeout=DEADLINE)
                taken_before = dict(sampler.taken)
                proxy.set_mode("reset", after=60)  # inside the HTTP head of every answer
                proxy.close_connections()
                await until(lambda: proxy.stats.resets >= 10
                            and all(sampler.taken[n] >= taken_before[n] + 2 for n in names),
                            what="resets, and samples taken meanwhile")
                proxy.set_mode("pass")
                taken = dict(sampler.taken)
                await vtn.wait_for(
                    lambda: all({float(k) for k in range(1, taken[n] + 1)} <= {v for v, _ in values()[n]}
                                for n in names),
                    timeout=DEADLINE,
                )
            got = values()
            for name in names:
                check_samples(got[name], taken[name], who=name)
            # OpenLEADR only ever saw the VENs register once each: a reset is not a lost registration.
            assert sorted(vtn.registrations) == names


# ------------------------------------------------------------ an outage across 1,000 VENs


class FirstPolls(Observer):
    """When each VEN's first poll after ``since`` was due: the time its timer chose (the backoff's
    jitter), which neither the loop's stalls nor an in-process VTN's queueing can bunch. When 1,000
    VENs and their report backlogs come back at once, the loop they share with the VTN stalls, and
    every timer that fell due during a stall sends at its end: sending times measure the machine."""

    __slots__ = ("since", "due")

    def __init__(self) -> None:
        self.since = float("inf")
        self.due: dict[str, float] = {}

    def request_done(self, ven: Ven, message_type: str, due: float, sent: float, done: float,
                     error: BaseException | None) -> None:
        if message_type == "oadrPoll" and due >= self.since and ven.name not in self.due:
            self.due[ven.name] = due


async def test_outage_across_a_thousand_vens() -> None:
    """A VTN outage (shortened: the backoff window is 2 s rather than minutes) across 1,000 VENs.

    Report samples keep being taken during the outage; after it every one reaches the VTN, in order;
    and the first polls after recovery are due spread over the backoff window (no half-second bin
    gets more than two thirds of them, 44 % expected; with every VEN retrying at once one bin would
    get nearly all of them).
    """
    n, cap = 1000, 2.0
    sampler = Sampler()
    async with TestVTN(poll_freq=timedelta(0), on_register_report=ask_for_reports(timedelta(seconds=2)),
                       record_polls=True) as vtn, FaultProxy(vtn.host, vtn.port) as proxy:
        first_due = FirstPolls()
        fleet = Fleet(proxy.proxied_url(vtn.url), seed=1, poll_interval=1.0, backoff_base=0.05, backoff_cap=cap,
                      request_timeout=5.0, observer=first_due)
        fleet.add_report(sampler, "meter", "power_real", sampling_rate=GRANULARITY)
        for i in range(n):
            fleet.add_ven(f"site-{i:04d}")
        names = list(fleet.vens)
        loop = asyncio.get_running_loop()
        async with fleet:
            await until(lambda: len({v for v, _ in vtn.reports}) == n, timeout=60.0, every=0.05,
                        what="a report from every VEN")
            began = loop.time()
            taken_before = dict(sampler.taken)
            proxy.set_mode("refuse")  # the VTN is down

            # Down long enough for every VEN to retry with the full window (2 ** 6 * 50 ms > 2 s), and
            # for each to take at least two samples meanwhile.
            def down_long_enough() -> bool:
                return (all(sampler.taken[name] >= taken_before[name] + 2 for name in names)
                        and loop.time() - began >= 3 * cap)

            await until(down_long_enough, timeout=60.0, every=0.05, what="samples taken during the outage")
            # Nothing got through, but the requests already forwarded when the outage began (at most one
            # per pooled connection).
            polls_during = [r for r in vtn.received if r.at >= began and isinstance(r.message, m.Poll)]
            assert len(polls_during) <= fleet.max_connections

            proxy.set_mode("pass")
            recovered = first_due.since = loop.time()
            taken = dict(sampler.taken)
            ids = {fleet.vens[name].ven_id for name in names}
            first: dict[str | None, float] = {}
            seen = len(vtn.received)

            def all_polled() -> bool:  # reads only what arrived since the last call: the loop stays free
                nonlocal seen
                received = vtn.received
                for r in received[seen:]:
                    if r.at >= recovered and isinstance(r.message, m.Poll) and r.ven_id not in first:
                        first[r.ven_id] = r.at
                seen = len(received)
                return set(first) >= ids

            await until(all_polled, timeout=30.0, every=0.05, what="every VEN polling after the outage")
            await until(lambda: covered(vtn, fleet, taken), timeout=30.0, every=0.2, what="every sample delivered")

        got = delivered(vtn, fleet)
        for name in names:
            check_samples(got[name], taken[name], who=name)
        assert len(first) == n  # every VEN polled the VTN again
        # Polls due just before the switch that got through after it are not counted: at most the
        # pool's connections on a quiet machine, more when the loop stalled across the switch.
        counted = len(first_due.due)
        assert counted >= n // 2, counted
        bins = Counter(int((at - recovered) / 0.1) for at in first_due.due.values())
        # Judged on when the VENs' first polls were due (see FirstPolls), in half-second bins. With full
        # jitter over a 2 s window, the wait from the switch to a VEN's next retry has the density
        # (1 - x / 2) on [0, 2] s: 44 %, 31 %, 19 % and 6 % of the VENs in the four half seconds. A wave
        # (every VEN retrying together) would put nearly all of them in one.
        halves = Counter(b // 5 for b in bins.elements())
        assert max(halves.values()) <= 2 * counted / 3, sorted(halves.items())
        # Capped: most VENs came back within the window (with margin for the loop); an uncapped backoff
        # would have grown past 6 s by now.
        assert sum(c for b, c in bins.items() if b < int(1.5 * cap / 0.1)) >= 0.8 * counted, sorted(bins.items())
        # Spread over the window, not just past its start: a fifth or more came after its first half
        # (a quarter expected).
        assert sum(c for b, c in bins.items() if b >= int(cap / 2 / 0.1)) >= counted // 5, sorted(bins.items())
