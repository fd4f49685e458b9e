"""The hashed timer wheel, pure-Python twin: the specification.

``fleetven/_fast/_wheel_c.pyx`` is the compiled twin and must behave exactly
like this module (same firing order and times, same errors with the same
text); ``tests/test_timerwheel.py`` runs every test over both and compares
them with a heap-based reference model. Import the wheel from
:mod:`fleetven.timerwheel`, which picks the twin.

How it works
------------
Time is cut into ticks of ``resolution`` seconds: tick ``k`` is the instant
``k * resolution`` of the wheel's clock. A timer due at ``when`` belongs to
the first tick whose instant is ``>= when`` (never early), and lives in slot
``tick % slots``, in that slot's circular doubly-linked list (a sentinel node
per slot, so unlinking is O(1) and needs no search). A timer more than one
revolution ahead also carries a ``rounds`` count: the number of times its
slot is visited before its own tick comes; each visit decrements it.

``_tick`` is the next tick to process: every tick before it has run. A run
up to the instant ``t`` processes the ticks ``_tick .. last`` (``last`` the
latest tick whose instant is ``<= t``) in order; for each one it takes the
due timers out of the slot, sorts them by deadline (ties: the order they were
scheduled in) and calls them. A timer scheduled for a tick that has already
run goes to ``_tick``, the next one to run, so a callback that schedules a
timer due "now" sees it run in the next tick's pass, never re-entrantly.

On an event loop the wheel keeps at most one loop timer (``loop.call_at``),
armed for the next tick that holds timers, and none while the wheel is empty.
When it fires, the wheel reads its clock and catches up every tick up to that
instant, in order, so loop lag delays timers but never reorders or drifts
them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from fleetven.exceptions import ConfigurationError, SchedulerError

__all__ = ("Timer", "TimerWheel")

logger = logging.getLogger("fleetven.timerwheel")

# Timer states.
_PENDING = 0  # linked in a slot, waiting for its tick
_DUE = 1  # taken out of its slot by the tick being run, not called yet
_DONE = 2  # called or cancelled (or a slot's sentinel)

#: Deadlines are kept within +-2**52 ticks, where ``tick * resolution`` is exact.
_TICK_LIMIT = float(2**52)

_by_when = attrgetter("when")


class Timer:
    """A handle on one scheduled callback, returned by :meth:`TimerWheel.call_at`.

    Created only by the wheel. After the callback has run or the timer has been
    cancelled, the handle drops its references to the callback and arguments.
    """

    __slots__ = ("_when", "_callback", "_args", "_wheel", "_prev", "_next", "_rounds", "_state", "_cancelled")

    _when: float
    _callback: Callable[..., object] | None
    _args: tuple[Any, ...]
    _wheel: TimerWheel | None
    _prev: Timer | None
    _next: Timer | None
    _rounds: int
    _state: int
    _cancelled: bool

    def __init__(
        self, wheel: TimerWheel | None, when: float, callback: Callable[..., object] | None, args: tuple[Any, ...]
    ) -> None:
        self._when = when
        self._callback = callback
        self._args = args
        self._wheel = wheel
        self._prev = None
        self._next = None
        self._rounds = 0
        self._state = _DONE
        self._cancelled = False

    @property
    def when(self) -> float:
        """The deadline asked for, in the wheel's clock (seconds)."""
        return self._when

    def cancelled(self) -> bool:
        """Return True once :meth:`cancel` has been called (as asyncio's handles do)."""
        return self._cancelled

    @property
    def pending(self) -> bool:
        """Whether the callback is still to run: scheduled, neither run nor cancelled."""
        return self._state != _DONE

    def cancel(self) -> None:
        """Cancel the timer: O(1), idempotent, safe from any callback.

        A timer cancelled before its callback ran never runs, even when it was
        due in the tick being processed. Cancelling after it ran only marks the
        handle cancelled.
        """
        if self._cancelled:
            return
        self._cancelled = True
        state = self._state
        if state == _DONE:
            return
        self._state = _DONE
        self._callback = None
        self._args = ()
        wheel = self._wheel
        assert wheel is not None
        if state == _PENDING:
            prev = self._prev
            nxt = self._next
            assert prev is not None and nxt is not None
            prev._next = nxt
            nxt._prev = prev
            self._prev = None
            self._next = None
        wheel._forget_one()

    def __repr__(self) -> str:
        if self._state == _PENDING or self._state == _DUE:
            status = "pending"
        elif self._cancelled:
            status = "cancelled"
        else:
            status = "done"
        text = f"<Timer when={self._when!r} {status}"
        if self._callback is not None:
            text += f" callback={self._callback!r}"
        return text + ">"


class TimerWheel:
    """A hashed timing wheel: O(1) schedule and cancel, one loop timer for all.

    :param loop: the event loop to run on; by default the running loop.
    :param resolution: length of one tick, in seconds; a timer runs at the first
        tick at or after its deadline, so up to one tick late, never early.
    :param slots: number of slots in one revolution of the wheel.
    :param clock: the clock deadlines are read in; by default ``loop.time``.
    :raises ConfigurationError: when ``resolution`` or ``slots`` is not positive.
    :raises SchedulerError: when no loop is given and none is running.

    For tests and simulations, :meth:`manual` makes a wheel with its own
    simulated clock and no loop, driven by :meth:`advance_to`.
    """

    __slots__ = (
        "_loop",
        "_clock",
        "_resolution",
        "_nslots",
        "_slots",
        "_tick",
        "_count",
        "_manual",
        "_now",
        "_handle",
        "_armed_tick",
        "_running",
        "_closed",
        "_due",
        "_use_call_at",
    )

    _loop: asyncio.AbstractEventLoop | None
    _clock: Callable[[], float] | None
    _resolution: float
    _nslots: int
    _slots: list[Timer]
    _tick: int
    _count: int
    _manual: bool
    _now: float
    _handle: asyncio.TimerHandle | None
    _armed_tick: int
    _running: bool
    _closed: bool
    _due: list[Timer] | None
    _use_call_at: bool

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        resolution: float = 0.01,
        slots: int = 1024,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise SchedulerError(
                    "TimerWheel() needs an event loop: pass loop=, create it in a coroutine, "
                    "or use TimerWheel.manual() to drive it by hand"
                ) from None
        self._setup(loop, resolution, slots, clock, 0.0)

    @classmethod
    def manual(cls, *, start: float = 0.0, resolution: float = 0.01, slots: int = 1024) -> TimerWheel:
        """A wheel without an event loop, for tests and simulations.

        Its clock is simulated: it reads ``start`` until :meth:`advance_to`
        moves it. While the callbacks of a tick run, :meth:`time` reads that
        tick's instant, so callbacks that schedule relative timers
        (:meth:`call_later`) behave as they would on a loop without lag.

        :param start: the simulated clock's first reading, in seconds.
        :param resolution: length of one tick, in seconds.
        :param slots: number of slots in one revolution.
        """
        wheel = cls.__new__(cls)
        wheel._setup(None, resolution, slots, None, start)
        return wheel

    def _setup(
        self,
        loop: asyncio.AbstractEventLoop | None,
        resolution: float,
        slots: int,
        clock: Callable[[], float] | None,
        start: float,
    ) -> None:
        resolution = float(resolution)
        if not (resolution > 0.0 and math.isfinite(resolution)):
            raise ConfigurationError(f"TimerWheel resolution must be a positive number of seconds, not {resolution!r}")
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise ConfigurationError(f"TimerWheel slots must be a positive integer, not {slots!r}")
        self._loop = loop
        self._manual = loop is None
        if clock is None and loop is not None:
            clock = loop.time
        self._clock = clock
        self._use_call_at = loop is not None and clock == loop.time
        self._resolution = resolution
        self._nslots = slots
        ring: list[Timer] = []
        for _ in range(slots):
            sentinel = Timer(None, 0.0, None, ())
            sentinel._prev = sentinel
            sentinel._next = sentinel
            ring.append(sentinel)
        self._slots = ring
        self._count = 0
        self._handle = None
        self._armed_tick = 0
        self._running = False
        self._closed = False
        self._due = None
        start = float(start)
        self._check_time(start, "start")
        self._now = start
        self._tick = self._last_tick(self.time()) + 1

    # ------------------------------------------------------------------ clock and ticks

    def time(self) -> float:
        """The wheel's clock now (the simulated one for a :meth:`manual` wheel)."""
        if self._manual:
            return self._now
        clock = self._clock
        assert clock is not None
        return float(clock())

    def _check_time(self, when: float, what: str) -> None:
        if not (-_TICK_LIMIT < when / self._resolution < _TICK_LIMIT):
            raise ConfigurationError(f"timer wheel {what} out of range: {when!r}")

    def _first_tick(self, when: float) -> int:
        """The first tick whose instant is at or after ``when``."""
        r = self._resolution
        k = math.ceil(when / r)
        while k * r < when:
            k += 1
        while (k - 1) * r >= when:
            k -= 1
        return k

    def _last_tick(self, t: float) -> int:
        """The last tick whose instant is at or before ``t``."""
        r = self._resolution
        k = math.floor(t / r)
        while k * r > t:
            k -= 1
        while (k + 1) * r <= t:
            k += 1
        return k

    # ------------------------------------------------------------------ public API

    @property
    def resolution(self) -> float:
        """Length of one tick, in seconds."""
        return self._resolution

    @property
    def slots(self) -> int:
        """Number of slots in one revolution."""
        return self._nslots

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the wheel runs on (None for a :meth:`manual` wheel)."""
        return self._loop

    @property
    def armed_at(self) -> float | None:
        """Instant (wheel clock) the loop timer is armed for, or None when none is armed."""
        if self._handle is None:
            return None
        return self._armed_tick * self._resolution

    def closed(self) -> bool:
        """Return True once :meth:`close` has been called."""
        return self._closed

    def __len__(self) -> int:
        """Number of live timers: scheduled, neither run nor cancelled."""
        return self._count

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Schedule ``callback(*args)`` at ``when`` (wheel clock); O(1).

        The callback is a plain function, called from the tick that reaches
        ``when`` (at most one tick late, never early). Timers of one tick run in
        deadline order, ties in the order they were scheduled.

        :param when: the deadline, in the wheel's clock (seconds).
        :param callback: called with ``args``; an exception it raises is logged
            (logger ``fleetven.timerwheel``) and stops nothing else.
        :returns: a :class:`Timer`, whose :meth:`Timer.cancel` cancels it.
        :raises SchedulerError: when the wheel is closed.
        :raises ConfigurationError: when ``when`` is not a finite time the wheel can hold.
        """
        if self._closed:
            raise SchedulerError("the timer wheel is closed: no new timers")
        when = float(when)
        self._check_time(when, "deadline")
        timer = Timer(self, when, callback, args)
        self._insert(timer, self._first_tick(when))
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Schedule ``callback(*args)`` ``delay`` seconds from now; see :meth:`call_at`.

        :param delay: seconds from :meth:`time`.
        :param callback: called with ``args``.
        :returns: a :class:`Timer`.
        """
        if self._closed:
            raise SchedulerError("the timer wheel is closed: no new timers")
        return self.call_at(self.time() + float(delay), callback, *args)

    def rearm(self, timer: Timer | None, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Schedule ``callback(*args)`` ``delay`` seconds from now on ``timer``, a handle this
        wheel made: the same as :meth:`call_later`, without making a new handle (a VEN re-arms its
        one timer every poll; a handle kept for the process's life is not one more young object
        for the garbage collector each time). A ``timer`` still pending is cancelled first; its
        :meth:`~Timer.cancelled` reads False again. ``None``, or a handle of another wheel, gets
        a new handle, as :meth:`call_later` gives.

        :returns: the handle now scheduled (``timer`` itself when it is this wheel's).
        :raises SchedulerError: when the wheel is closed.
        """
        if self._closed:
            raise SchedulerError("the timer wheel is closed: no new timers")
        when = self.time() + float(delay)
        if type(timer) is not Timer or timer._wheel is not self:
            return self.call_at(when, callback, *args)
        self._check_time(when, "deadline")
        if timer._state != _DONE:
            timer.cancel()
        timer._when = when
        timer._callback = callback
        timer._args = args
        timer._cancelled = False
        self._insert(timer, self._first_tick(when))
        return timer

    def advance_to(self, t: float) -> None:
        """Run every timer due up to the instant ``t``, without the event loop.

        For tests and simulations: on a :meth:`manual` wheel it also moves the
        simulated clock to ``t`` (never backwards). On a loop-driven wheel it
        runs what is due up to ``t`` now, as the loop timer would have, then
        re-arms the loop timer.

        :param t: the instant, in the wheel's clock.
        :raises SchedulerError: when called from one of the wheel's callbacks.
        :raises ConfigurationError: when ``t`` is before a manual wheel's clock, or out of range.
        """
        if self._running:
            raise SchedulerError("advance_to() called from a timer callback")
        t = float(t)
        self._check_time(t, "instant")
        if self._manual and t < self._now:
            raise ConfigurationError(f"advance_to({t!r}) would move the clock back from {self._now!r}")
        self._run_until(t)
        if self._manual:
            self._now = t
        self._arm()

    def close(self) -> None:
        """Cancel every timer and disarm the loop timer; the wheel takes no new timers.

        Safe to call more than once, and from a callback.
        """
        self._closed = True
        for sentinel in self._slots:
            node = sentinel._next
            assert node is not None
            while node is not sentinel:
                nxt = node._next
                assert nxt is not None
                node.cancel()
                node = nxt
        due = self._due
        if due is not None:
            for timer in due:
                timer.cancel()
        self._disarm()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("manual" if self._manual else "running")
        return f"<TimerWheel {state} timers={self._count} resolution={self._resolution!r} slots={self._nslots}>"

    # ------------------------------------------------------------------ internals

    def _insert(self, timer: Timer, tick: int) -> None:
        if self._count == 0 and not self._running:
            # An idle wheel ran no ticks; skip them now (nothing to catch up).
            now_tick = self._last_tick(self.time()) + 1
            if now_tick > self._tick:
                self._tick = now_tick
        if tick < self._tick:
            tick = self._tick
        nslots = self._nslots
        timer._rounds = (tick - self._tick) // nslots
        sentinel = self._slots[tick % nslots]
        last = sentinel._prev
        assert last is not None
        timer._prev = last
        timer._next = sentinel
        last._next = timer
        sentinel._prev = timer
        timer._state = _PENDING
        self._count += 1
        if not self._running and (self._handle is None or tick < self._armed_tick):
            self._arm_at(tick)

    def _forget_one(self) -> None:
        """A live timer was cancelled."""
        self._count -= 1
        if self._count == 0 and not self._running:
            self._disarm()

    def _run_until(self, t: float) -> None:
        last = self._last_tick(t)
        slots = self._slots
        nslots = self._nslots
        self._running = True
        try:
            while self._tick <= last:
                if self._count == 0:
                    self._tick = last + 1
                    break
                tick = self._tick
                sentinel = slots[tick % nslots]
                node = sentinel._next
                assert node is not None
                due: list[Timer] | None = None
                while node is not sentinel:
                    nxt = node._next
                    assert nxt is not None
                    if node._rounds == 0:
                        prev = node._prev
                        assert prev is not None
                        prev._next = nxt
                        nxt._prev = prev
                        node._prev = None
                        node._next = None
                        node._state = _DUE
                        if due is None:
                            due = [node]
                        else:
                            due.append(node)
                    else:
                        node._rounds -= 1
                    node = nxt
                self._tick = tick + 1
                if due is not None:
                    if len(due) > 1:
                        due.sort(key=_by_when)
                    if self._manual:
                        self._now = tick * self._resolution
                    self._fire(due)
        finally:
            self._running = False

    def _fire(self, due: list[Timer]) -> None:
        self._due = due
        index = 0
        try:
            for timer in due:
                index += 1
                if timer._state != _DUE:
                    continue  # cancelled by an earlier callback of this tick
                timer._state = _DONE
                self._count -= 1
                callback = timer._callback
                args = timer._args
                timer._callback = None
                timer._args = ()
                assert callback is not None
                try:
                    callback(*args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException:
                    logger.exception("timer callback %r raised", callback)
        finally:
            self._due = None
            if index < len(due):
                self._requeue(due, index)

    def _requeue(self, due: list[Timer], start: int) -> None:
        """Put back the timers a propagating SystemExit/KeyboardInterrupt left uncalled."""
        sentinel = self._slots[self._tick % self._nslots]
        for timer in due[start:]:
            if timer._state != _DUE:
                continue
            last = sentinel._prev
            assert last is not None
            timer._prev = last
            timer._next = sentinel
            last._next = timer
            sentinel._prev = timer
            timer._rounds = 0
            timer._state = _PENDING

    def _on_loop_timer(self) -> None:
        self._handle = None
        try:
            self._run_until(self.time())
        finally:
            self._arm()

    def _arm(self) -> None:
        """Arm the loop timer for the next tick that holds timers (none when idle)."""
        if self._loop is None or self._running:
            return
        if self._count == 0:
            self._disarm()
            return
        slots = self._slots
        nslots = self._nslots
        tick = self._tick
        for _ in range(nslots):
            sentinel = slots[tick % nslots]
            if sentinel._next is not sentinel:
                break
            tick += 1
        else:  # pragma: no cover - the count says some slot holds a timer
            tick = self._tick
        if self._handle is not None and self._armed_tick == tick:
            return
        self._arm_at(tick)

    def _arm_at(self, tick: int) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._handle is not None:
            self._handle.cancel()
        instant = tick * self._resolution
        if self._use_call_at:
            self._handle = loop.call_at(instant, self._on_loop_timer)
        else:
            self._handle = loop.call_later(max(0.0, instant - self.time()), self._on_loop_timer)
        self._armed_tick = tick

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
