"""The shared timer wheel (:mod:`fleetven.timerwheel`), over both twins.

Every test runs over the pure-Python twin ("py", the specification) and the
compiled one ("c"); the compiled one fails, not skips, when it is missing,
unless ``FLEETVEN_NO_EXTENSIONS`` is set. Async tests also run on asyncio and
on uvloop (``tests/conftest.py``). A hypothesis test holds both twins to a
heap-based reference model. No timing is asserted: only order, "never early"
and what a user of the wheel would notice.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _helpers import load_twin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetven import timerwheel
from fleetven.exceptions import ConfigurationError, FleetvenError, SchedulerError

ROOT = Path(__file__).resolve().parents[1]
NO_EXTENSIONS = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))
@pytest.fixture(params=["py", "c"])
def wheel_mod(request: pytest.FixtureRequest) -> ModuleType:
    """The module of the pure twin, then of the compiled one."""
    return load_twin("wheel", request.param)


class Recorder:
    """Callbacks that note (name, wheel time) when they run."""

    def __init__(self, wheel: Any) -> None:
        self.wheel = wheel
        self.fired: list[tuple[Any, float]] = []

    def __call__(self, name: Any) -> None:
        self.fired.append((name, self.wheel.time()))

    @property
    def names(self) -> list[Any]:
        return [name for name, _ in self.fired]


# --------------------------------------------------------------------------- selection


def test_selected_twin() -> None:
    if NO_EXTENSIONS:
        assert not timerwheel.COMPILED
        assert timerwheel.TimerWheel.__module__ == "fleetven._fast._wheel_py"
    else:
        assert timerwheel.COMPILED, "the compiled wheel fleetven._fast._wheel_c is missing: build it"
        assert timerwheel.TimerWheel.__module__ == "fleetven._fast._wheel_c"


def test_no_extensions_imports_the_pure_twin() -> None:
    code = "import sys, fleetven.timerwheel as t; print(t.COMPILED, 'fleetven._fast._wheel_c' in sys.modules)"
    env = dict(os.environ, FLEETVEN_NO_EXTENSIONS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["False", "False"]


def test_timers_are_slotted(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual()
    timer = wheel.call_at(1.0, print)
    assert not hasattr(timer, "__dict__")
    assert not hasattr(wheel, "__dict__")


# --------------------------------------------------------------------------- manual clock


def test_order_and_never_early(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=0.01, slots=16)
    rec = Recorder(wheel)
    deadlines = [0.5, 0.013, 0.019, 0.011, 0.02, 0.3, 0.02, 0.0105, 1.7, 0.25]
    for index, when in enumerate(deadlines):
        wheel.call_at(when, rec, (when, index))
    assert len(wheel) == len(deadlines)
    wheel.advance_to(2.0)
    assert len(wheel) == 0
    # deadline order, ties in scheduling order
    assert rec.names == sorted(((w, i) for i, w in enumerate(deadlines)), key=lambda item: item[0])
    for (when, _), fired_at in rec.fired:
        assert fired_at >= when  # never early
        assert fired_at - when < 0.01 + 1e-9  # at the first tick at or after the deadline


def test_advance_runs_only_what_is_due(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(start=100.0)
    rec = Recorder(wheel)
    wheel.call_at(100.5, rec, "a")
    wheel.call_later(1.0, rec, "b")
    wheel.advance_to(100.49)
    assert rec.names == []
    wheel.advance_to(100.5)
    assert rec.names == ["a"]
    assert wheel.time() == 100.5
    wheel.advance_to(101.0)
    assert rec.names == ["a", "b"]
    wheel.advance_to(101.0)  # same instant again: nothing new
    assert rec.names == ["a", "b"]


def test_timer_due_now_or_in_the_past_runs_at_the_next_tick(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(start=5.0, resolution=0.25)
    rec = Recorder(wheel)
    wheel.call_at(1.0, rec, "past")
    wheel.call_at(5.0, rec, "now")
    wheel.advance_to(5.0)
    assert rec.names == []
    wheel.advance_to(5.25)
    assert rec.names == ["past", "now"]


def test_cancel_before_due(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual()
    rec = Recorder(wheel)
    keep = wheel.call_at(0.1, rec, "keep")
    drop = wheel.call_at(0.1, rec, "drop")
    assert not drop.cancelled()
    drop.cancel()
    drop.cancel()  # idempotent
    assert drop.cancelled()
    assert len(wheel) == 1
    wheel.advance_to(1.0)
    assert rec.names == ["keep"]
    assert not keep.cancelled()
    assert drop.when == 0.1


def test_cancel_after_fired_changes_nothing(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual()
    rec = Recorder(wheel)
    timer = wheel.call_at(0.1, rec, "x")
    other = wheel.call_at(0.5, rec, "y")
    wheel.advance_to(0.2)
    timer.cancel()
    assert timer.cancelled()  # as asyncio's handles report it
    assert len(wheel) == 1
    wheel.advance_to(1.0)
    assert rec.names == ["x", "y"]
    assert not other.cancelled()


def test_rearm_reuses_the_handle_run_cancelled_or_pending(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=0.1)
    rec = Recorder(wheel)
    timer = wheel.call_at(0.5, rec, "first")
    wheel.advance_to(1.0)
    assert rec.names == ["first"] and not timer.pending
    # run: scheduled again on the same handle, relative to the wheel's clock
    assert wheel.rearm(timer, 2.0, rec, "second") is timer
    assert timer.pending and timer.when == 3.0 and len(wheel) == 1
    # pending: moved (the earlier deadline never fires)
    assert wheel.rearm(timer, 0.5, rec, "moved") is timer
    assert len(wheel) == 1 and timer.when == 1.5
    wheel.advance_to(4.0)
    assert rec.names == ["first", "moved"]
    # cancelled: cancelled() reads False again once re-armed
    timer.cancel()
    assert timer.cancelled()
    wheel.rearm(timer, 1.0, rec, "after-cancel")
    assert not timer.cancelled() and timer.pending
    wheel.advance_to(6.0)
    assert rec.names == ["first", "moved", "after-cancel"] and len(wheel) == 0


def test_rearm_of_nothing_or_of_another_wheels_handle_makes_a_new_one(wheel_mod: ModuleType) -> None:
    wheel, other = wheel_mod.TimerWheel.manual(), wheel_mod.TimerWheel.manual()
    rec = Recorder(wheel)
    foreign = other.call_at(0.5, rec, "theirs")
    mine = wheel.rearm(foreign, 0.2, rec, "mine")
    assert mine is not foreign and foreign.pending and len(other) == 1, "the other wheel's handle is left alone"
    fresh = wheel.rearm(None, 0.3, rec, "fresh")
    assert fresh is not mine and len(wheel) == 2
    wheel.advance_to(1.0)
    assert rec.names == ["mine", "fresh"]
    wheel.close()
    with pytest.raises(SchedulerError):
        wheel.rearm(mine, 1.0, rec, "closed")


def test_a_callback_rearms_the_due_handle_of_a_later_timer_of_its_tick(wheel_mod: ModuleType) -> None:
    """Re-arming a timer that is due in the tick being run (not yet called) moves it: it does not
    run in this tick."""
    wheel = wheel_mod.TimerWheel.manual(resolution=1.0)
    rec = Recorder(wheel)
    timers: dict[str, Any] = {}

    def first() -> None:
        rec("first")
        wheel.rearm(timers["second"], 5.0, rec, "second, later")

    timers["first"] = wheel.call_at(0.1, first)
    timers["second"] = wheel.call_at(0.2, rec, "second")
    wheel.advance_to(1.5)
    assert rec.names == ["first"]
    wheel.advance_to(10.0)
    assert rec.names == ["first", "second, later"]


def test_cancel_other_timers_of_the_same_tick_from_a_callback(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=1.0)
    rec = Recorder(wheel)
    timers: dict[str, Any] = {}

    def first() -> None:
        rec("first")
        timers["second"].cancel()  # due in this same tick, not yet run
        timers["later"].cancel()  # pending in a later tick
        timers["first"].cancel()  # itself, while running: only marks it

    timers["first"] = wheel.call_at(0.1, first)
    timers["second"] = wheel.call_at(0.2, rec, "second")
    timers["third"] = wheel.call_at(0.3, rec, "third")
    timers["later"] = wheel.call_at(5.0, rec, "later")
    wheel.advance_to(10.0)
    assert rec.names == ["first", "third"]
    assert timers["second"].cancelled() and timers["later"].cancelled()
    assert len(wheel) == 0


def test_far_future_timers_keep_their_rounds(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=1.0, slots=4)
    rec = Recorder(wheel)
    # all in the same slot (tick % 4 == 1), many revolutions apart
    for when in (401.0, 1.0, 41.0, 5.0, 4001.0):
        wheel.call_at(when, rec, when)
    wheel.advance_to(4000.0)
    assert rec.fired == [(1.0, 1.0), (5.0, 5.0), (41.0, 41.0), (401.0, 401.0)]
    assert len(wheel) == 1
    wheel.advance_to(4001.0)
    assert rec.fired[-1] == (4001.0, 4001.0)


def test_a_raising_callback_is_logged_and_stops_nothing(
    wheel_mod: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    wheel = wheel_mod.TimerWheel.manual()
    rec = Recorder(wheel)

    def broken() -> None:
        raise ValueError("boom")

    wheel.call_at(0.1, rec, "before")
    wheel.call_at(0.1, broken)
    wheel.call_at(0.1, rec, "after")
    wheel.call_at(0.2, rec, "next tick")
    with caplog.at_level(logging.ERROR, logger="fleetven.timerwheel"):
        wheel.advance_to(1.0)
    assert rec.names == ["before", "after", "next tick"]
    [record] = [r for r in caplog.records if r.name == "fleetven.timerwheel"]
    assert repr(broken) in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    wheel.call_at(2.0, rec, "still works")
    wheel.advance_to(3.0)
    assert rec.names[-1] == "still works"


def test_reschedule_from_a_callback(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=0.5)
    rec = Recorder(wheel)

    def periodic(count: int) -> None:
        rec(count)
        if count < 4:
            wheel.call_later(1.0, periodic, count + 1)

    def due_now() -> None:
        rec("due-now")
        wheel.call_at(wheel.time(), rec, "re-entrant?")  # runs in the next tick, not in this pass

    wheel.call_at(1.0, periodic, 0)
    wheel.call_at(0.5, due_now)
    wheel.advance_to(0.5)
    assert rec.fired == [("due-now", 0.5)]
    wheel.advance_to(100.0)
    assert rec.fired == [("due-now", 0.5), ("re-entrant?", 1.0), (0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0), (4, 5.0)]
    assert len(wheel) == 0


def test_a_callback_rescheduling_itself_at_now_does_not_loop(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=1.0)
    calls: list[float] = []

    def again() -> None:
        calls.append(wheel.time())
        wheel.call_at(wheel.time(), again)

    wheel.call_at(1.0, again)
    wheel.advance_to(3.0)
    assert calls == [1.0, 2.0, 3.0]  # once per tick
    assert len(wheel) == 1


def test_close(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual()
    rec = Recorder(wheel)
    timers = [wheel.call_at(when, rec, when) for when in (0.1, 0.2, 50.0)]
    wheel.close()
    wheel.close()
    assert wheel.closed()
    assert len(wheel) == 0
    assert all(timer.cancelled() for timer in timers)
    wheel.advance_to(100.0)
    assert rec.names == []
    with pytest.raises(SchedulerError, match="closed"):
        wheel.call_at(1.0, rec, "x")
    with pytest.raises(SchedulerError, match="closed"):
        wheel.call_later(1.0, rec, "x")


def test_close_from_a_callback(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(resolution=1.0)
    rec = Recorder(wheel)
    wheel.call_at(0.1, rec, "first")
    wheel.call_at(0.2, wheel.close)
    wheel.call_at(0.3, rec, "same tick")
    wheel.call_at(3.0, rec, "later")
    wheel.advance_to(10.0)
    assert rec.names == ["first"]
    assert len(wheel) == 0


def test_misuse_is_refused(wheel_mod: ModuleType) -> None:
    wheel = wheel_mod.TimerWheel.manual(start=10.0)
    with pytest.raises(ConfigurationError, match="back"):
        wheel.advance_to(9.0)
    for bad in (float("nan"), float("inf"), 1e300):
        with pytest.raises(ConfigurationError, match="out of range"):
            wheel.call_at(bad, print)
    with pytest.raises(ConfigurationError, match="resolution"):
        wheel_mod.TimerWheel.manual(resolution=0)
    with pytest.raises(ConfigurationError, match="slots"):
        wheel_mod.TimerWheel.manual(slots=0)
    with pytest.raises(SchedulerError, match="event loop"):
        wheel_mod.TimerWheel()  # no running loop here
    errors: list[BaseException] = []

    def reenter() -> None:
        try:
            wheel.advance_to(wheel.time() + 1.0)
        except FleetvenError as exc:
            errors.append(exc)

    wheel.call_at(10.5, reenter)
    wheel.advance_to(11.0)
    assert len(errors) == 1 and isinstance(errors[0], SchedulerError)


# --------------------------------------------------------------------------- on an event loop


def _live_loop_handles(loop: asyncio.AbstractEventLoop) -> int | None:
    """Live timer handles of a stock asyncio loop (None on uvloop, which hides them)."""
    scheduled = getattr(loop, "_scheduled", None)
    if scheduled is None:
        return None
    return sum(1 for handle in scheduled if not handle.cancelled())


async def test_loop_timers_fire_in_order_never_early(wheel_mod: ModuleType) -> None:
    loop = asyncio.get_running_loop()
    wheel = wheel_mod.TimerWheel(resolution=0.005, slots=8)
    done = loop.create_future()
    fired: list[tuple[float, float]] = []
    count = 60

    def callback(when: float) -> None:
        fired.append((when, loop.time()))
        if len(fired) == count and not done.done():
            done.set_result(None)

    start = loop.time()
    deadlines = [start + 0.002 * ((i * 37) % count) for i in range(count)]  # spans more than one revolution
    for when in deadlines:
        wheel.call_at(when, callback, when)
    await asyncio.wait_for(done, 30)
    assert [when for when, _ in fired] == sorted(deadlines)
    assert all(at >= when for when, at in fired)
    assert len(wheel) == 0
    assert wheel.armed_at is None
    assert _live_loop_handles(loop) in (0, None)


async def test_idle_wheel_arms_no_loop_timer(wheel_mod: ModuleType) -> None:
    loop = asyncio.get_running_loop()
    before = _live_loop_handles(loop)
    wheel = wheel_mod.TimerWheel()
    assert wheel.loop is loop
    assert wheel.armed_at is None
    timers = [wheel.call_later(60.0 + i, print) for i in range(5)]
    armed = wheel.armed_at
    assert armed is not None and armed <= loop.time() + 60.0 + wheel.resolution
    if before is not None:
        assert _live_loop_handles(loop) == before + 1  # one loop timer for all of them
    for timer in timers:
        timer.cancel()
    assert wheel.armed_at is None
    assert _live_loop_handles(loop) == before
    timer = wheel.call_later(60.0, print)
    assert wheel.armed_at is not None
    wheel.close()
    assert wheel.armed_at is None
    assert timer.cancelled()
    assert _live_loop_handles(loop) == before


async def test_earlier_timer_rearms_the_loop_timer(wheel_mod: ModuleType) -> None:
    loop = asyncio.get_running_loop()
    wheel = wheel_mod.TimerWheel(resolution=0.01)
    wheel.call_later(3600.0, print)
    late = wheel.armed_at
    done = loop.create_future()
    wheel.call_later(0.01, done.set_result, "early")
    assert wheel.armed_at is not None and late is not None and wheel.armed_at < late
    assert await asyncio.wait_for(done, 30) == "early"
    assert len(wheel) == 1
    wheel.close()


async def test_loop_lag_is_caught_up_in_order(wheel_mod: ModuleType) -> None:
    loop = asyncio.get_running_loop()
    lag = [0.0]

    def clock() -> float:  # the loop's clock, plus a lag the test injects
        return loop.time() + lag[0]

    wheel = wheel_mod.TimerWheel(resolution=0.01, slots=16, clock=clock)
    done = loop.create_future()
    fired: list[tuple[float, float]] = []
    start = clock()
    deadlines = [start + d for d in (0.9, 0.01, 0.5, 0.02, 0.25, 0.3, 0.011)]

    def callback(when: float) -> None:
        fired.append((when, clock()))
        if len(fired) == len(deadlines):
            done.set_result(None)

    for when in deadlines:
        wheel.call_at(when, callback, when)
    lag[0] = 1.0  # the loop "stalled" for a second before the first tick ran
    await asyncio.wait_for(done, 30)
    assert [when for when, _ in fired] == sorted(deadlines)
    assert all(at >= when for when, at in fired)
    assert wheel.armed_at is None


async def test_loop_wheel_advance_to_and_errors(wheel_mod: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    fake = [1000.0]
    wheel = wheel_mod.TimerWheel(loop, clock=lambda: fake[0])
    rec = Recorder(wheel)

    def broken() -> None:
        raise RuntimeError("callback failure")

    wheel.call_at(1000.5, broken)
    wheel.call_at(1000.5, rec, "a")
    wheel.call_at(1002.0, rec, "b")
    fake[0] = 1001.0
    with caplog.at_level(logging.ERROR, logger="fleetven.timerwheel"):
        wheel.advance_to(1001.0)
    assert rec.names == ["a"]
    assert any(r.name == "fleetven.timerwheel" and repr(broken) in r.getMessage() for r in caplog.records)
    assert wheel.armed_at == pytest.approx(1002.0)
    wheel.close()
    assert wheel.armed_at is None


# --------------------------------------------------------------------------- reference model


class Model:
    """The wheel's contract, written the obvious way: a heap of (tick, deadline, sequence)."""

    def __init__(self, resolution: float, start: float) -> None:
        self.r = resolution
        self.next_tick = self.last_tick(start) + 1
        self.heap: list[tuple[int, float, int, int]] = []
        self.live: set[int] = set()
        self.fired: list[tuple[int, float]] = []
        self.seq = 0

    def first_tick(self, when: float) -> int:
        k = int(when // self.r) - 2
        while k * self.r < when:
            k += 1
        return k

    def last_tick(self, t: float) -> int:
        k = self.first_tick(t)
        return k if k * self.r == t else k - 1

    def schedule(self, ident: int, when: float) -> None:
        tick = max(self.first_tick(when), self.next_tick)
        heapq.heappush(self.heap, (tick, when, self.seq, ident))
        self.seq += 1
        self.live.add(ident)

    def cancel(self, ident: int) -> None:
        self.live.discard(ident)

    def advance(self, t: float, actions: dict[int, tuple[str, Any]], new_id: list[int]) -> None:
        last = self.last_tick(t)
        while self.heap and self.heap[0][0] <= last:
            tick, _, _, ident = heapq.heappop(self.heap)
            if ident not in self.live:
                continue
            self.live.discard(ident)
            self.next_tick = max(self.next_tick, tick + 1)
            now = tick * self.r
            self.fired.append((ident, now))
            kind, arg = actions.get(ident, ("none", None))
            if kind == "reschedule":
                child = new_id[0]
                new_id[0] += 1
                self.schedule(child, now + arg)
            elif kind == "cancel":
                self.cancel(arg)
        self.next_tick = max(self.next_tick, last + 1)


@st.composite
def programs(draw: st.DrawFn) -> tuple[float, int, float, list[tuple[str, Any]]]:
    resolution = draw(st.sampled_from([0.01, 0.1, 0.25, 1.0]))
    slots = draw(st.sampled_from([1, 2, 3, 8, 64]))
    start = draw(st.sampled_from([0.0, 3.7, 1000.0]))
    offsets = st.one_of(
        st.floats(min_value=-3.0, max_value=40.0, allow_nan=False),
        st.integers(min_value=-5, max_value=400).map(lambda k: k * resolution),  # exact tick instants
    )
    ops = st.one_of(
        st.tuples(st.just("schedule"), offsets),
        st.tuples(st.just("schedule_rescheduling"), offsets, st.floats(min_value=-1.0, max_value=10.0)),
        st.tuples(st.just("schedule_cancelling"), offsets, st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=30.0)),
    )
    return resolution, slots, start, draw(st.lists(ops, max_size=60))


def _run_program(
    mod: ModuleType, resolution: float, slots: int, start: float, program: list[tuple[str, Any]]
) -> tuple[list[tuple[int, float]], list[int]]:
    wheel = mod.TimerWheel.manual(start=start, resolution=resolution, slots=slots)
    fired: list[tuple[int, float]] = []
    timers: dict[int, Any] = {}
    new_id = [0]
    lengths: list[int] = []

    def callback(ident: int, kind: str, arg: Any) -> None:
        fired.append((ident, wheel.time()))
        if kind == "reschedule":
            child = new_id[0]
            new_id[0] += 1
            timers[child] = wheel.call_later(arg, callback, child, "none", None)
        elif kind == "cancel" and arg in timers:
            timers[arg].cancel()

    for op in program:
        if op[0] == "advance":
            wheel.advance_to(wheel.time() + op[1])
        elif op[0] == "cancel":
            if op[1] in timers:
                timers[op[1]].cancel()
        else:
            ident = new_id[0]
            new_id[0] += 1
            kind, arg = {
                "schedule": ("none", None),
                "schedule_rescheduling": ("reschedule", None),
                "schedule_cancelling": ("cancel", None),
            }[op[0]]
            if op[0] != "schedule":
                arg = op[2]
            timers[ident] = wheel.call_at(wheel.time() + op[1], callback, ident, kind, arg)
        lengths.append(len(wheel))
    wheel.advance_to(wheel.time() + 500.0)
    lengths.append(len(wheel))
    return fired, lengths


def _run_model(
    resolution: float, start: float, program: list[tuple[str, Any]]
) -> tuple[list[tuple[int, float]], list[int]]:
    model = Model(resolution, start)
    now = start
    new_id = [0]
    actions: dict[int, tuple[str, Any]] = {}
    lengths: list[int] = []
    for op in program:
        if op[0] == "advance":
            now = now + op[1]
            model.advance(now, actions, new_id)
        elif op[0] == "cancel":
            model.cancel(op[1])
        else:
            ident = new_id[0]
            new_id[0] += 1
            if op[0] == "schedule_rescheduling":
                actions[ident] = ("reschedule", op[2])
            elif op[0] == "schedule_cancelling":
                actions[ident] = ("cancel", op[2])
            model.schedule(ident, now + op[1])
        lengths.append(len(model.live))
    model.advance(now + 500.0, actions, new_id)
    lengths.append(len(model.live))
    return model.fired, lengths


@pytest.mark.parametrize("kind", ["py", "c"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs())
def test_twins_match_the_reference_model(kind: str, program: tuple[float, int, float, list[tuple[str, Any]]]) -> None:
    mod = load_twin("wheel", kind)
    resolution, slots, start, ops = program
    got = _run_program(mod, resolution, slots, start, ops)
    expected = _run_model(resolution, start, ops)
    assert got[0] == expected[0]  # same timers, same order, same firing instants
    assert got[1] == expected[1]  # same number of live timers after every step


# --------------------------------------------------------------------------- the benchmark runs


def test_bench_script_runs_and_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "wheel.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_timerwheel.py"),
            "--quick",
            "--timers",
            "2000",
            "--span",
            "0.05",
            "--rounds",
            "1",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    rows = [(row["scenario"], row["contender"]) for row in data["results"]]
    contenders = [
        "fleetven wheel compiled (uvloop)",
        "fleetven wheel pure (uvloop)",
        "uvloop call_at",
        "asyncio call_at",
    ]
    rearm = ["fleetven wheel compiled, rearm (handle kept)", "fleetven wheel compiled, call_later (new handle)",
             "uvloop call_later (new handle)"]
    if NO_EXTENSIONS:
        rearm = rearm[2:]
    assert rows == [(s, c) for s in ("schedule+cancel", "schedule+fire") for c in contenders] + [
        ("fire+re-arm", c) for c in rearm]
    assert all(row["gc_runs"] >= 0 and row["median_ns"] > 0 for row in data["results"]
               if row["scenario"] == "fire+re-arm")
    compiled_missing = [row for row in data["results"] if "missing" in row]
    if NO_EXTENSIONS:
        assert {row["contender"] for row in compiled_missing} == {contenders[0]}
    else:
        assert compiled_missing == []
        assert data["machine"]["fleetven_compiled_loaded"] is True
