# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False, initializedcheck=False
"""The hashed timer wheel, compiled twin of :mod:`fleetven._fast._wheel_py`.

The pure-Python module is the specification (see its docstring for the
design); this one does the same with ``cdef`` classes, C integers and doubles
for the ticks and deadlines, and direct pointer links between timers.
Behaviour, errors and their text are identical; ``tests/test_timerwheel.py``
holds both to a shared reference model. Import from :mod:`fleetven.timerwheel`.
"""

cimport cython
from libc.math cimport ceil, floor

import asyncio
import logging
import math
from operator import attrgetter

from fleetven.exceptions import ConfigurationError, SchedulerError

__all__ = ("Timer", "TimerWheel")

logger = logging.getLogger("fleetven.timerwheel")

cdef enum:
    _PENDING = 0
    _DUE = 1
    _DONE = 2

cdef double _TICK_LIMIT = <double>(2 ** 52)

_by_when = attrgetter("when")


cdef class TimerWheel


@cython.freelist(256)
@cython.final
cdef class Timer:
    """A handle on one scheduled callback, returned by :meth:`TimerWheel.call_at`.

    Created only by the wheel. After the callback has run or the timer has been
    cancelled, the handle drops its references to the callback and arguments.
    """

    cdef readonly double when
    cdef object _callback
    cdef tuple _args
    cdef TimerWheel _wheel
    cdef Timer _prev
    cdef Timer _next
    cdef long long _rounds
    cdef int _state
    cdef bint _cancelled

    def __init__(self):
        raise TypeError("Timer objects are created by TimerWheel.call_at()")

    def cancelled(self):
        """Return True once :meth:`cancel` has been called (as asyncio's handles do)."""
        return self._cancelled

    @property
    def pending(self):
        """Whether the callback is still to run: scheduled, neither run nor cancelled."""
        return self._state != _DONE

    def cancel(self):
        """Cancel the timer: O(1), idempotent, safe from any callback.

        A timer cancelled before its callback ran never runs, even when it was
        due in the tick being processed. Cancelling after it ran only marks the
        handle cancelled.
        """
        self._cancel()

    cdef int _cancel(self) except -1:
        cdef int state
        if self._cancelled:
            return 0
        self._cancelled = True
        state = self._state
        if state == _DONE:
            return 0
        self._state = _DONE
        self._callback = None
        self._args = ()
        if state == _PENDING:
            self._prev._next = self._next
            self._next._prev = self._prev
            self._prev = None
            self._next = None
        self._wheel._forget_one()
        return 0

    def __repr__(self):
        if self._state == _PENDING or self._state == _DUE:
            status = "pending"
        elif self._cancelled:
            status = "cancelled"
        else:
            status = "done"
        text = f"<Timer when={self.when!r} {status}"
        if self._callback is not None:
            text += f" callback={self._callback!r}"
        return text + ">"


cdef inline Timer _new_timer(TimerWheel wheel, double when, object callback, tuple args):
    cdef Timer timer = Timer.__new__(Timer)
    timer.when = when
    timer._callback = callback
    timer._args = args
    timer._wheel = wheel
    timer._state = _DONE
    return timer


@cython.final
cdef class TimerWheel:
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

    cdef object _loop
    cdef object _clock
    cdef double _resolution
    cdef Py_ssize_t _nslots
    cdef list _slots
    cdef long long _tick
    cdef Py_ssize_t _count
    cdef bint _manual
    cdef double _now
    cdef object _handle
    cdef long long _armed_tick
    cdef bint _running
    cdef bint _closed
    cdef list _due
    cdef bint _use_call_at

    def __init__(self, loop=None, *, resolution=0.01, slots=1024, clock=None):
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
    def manual(cls, *, start=0.0, resolution=0.01, slots=1024):
        """A wheel without an event loop, for tests and simulations.

        Its clock is simulated: it reads ``start`` until :meth:`advance_to`
        moves it. While the callbacks of a tick run, :meth:`time` reads that
        tick's instant, so callbacks that schedule relative timers
        (:meth:`call_later`) behave as they would on a loop without lag.

        :param start: the simulated clock's first reading, in seconds.
        :param resolution: length of one tick, in seconds.
        :param slots: number of slots in one revolution.
        """
        cdef TimerWheel wheel = TimerWheel.__new__(TimerWheel)
        wheel._setup(None, resolution, slots, None, start)
        return wheel

    cdef _setup(self, loop, resolution, slots, clock, start):
        cdef Timer sentinel
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
        ring = []
        for _ in range(slots):
            sentinel = _new_timer(None, 0.0, None, ())
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
        self._tick = self._last_tick(self._time()) + 1

    # ------------------------------------------------------------------ clock and ticks

    def time(self):
        """The wheel's clock now (the simulated one for a :meth:`manual` wheel)."""
        return self._time()

    cdef inline double _time(self) except? -1.0:
        if self._manual:
            return self._now
        return float(self._clock())

    cdef int _check_time(self, double when, str what) except -1:
        cdef double ticks = when / self._resolution
        if not (-_TICK_LIMIT < ticks < _TICK_LIMIT):
            raise ConfigurationError(f"timer wheel {what} out of range: {when!r}")
        return 0

    cdef inline long long _first_tick(self, double when) noexcept:
        """The first tick whose instant is at or after ``when``."""
        cdef double r = self._resolution
        cdef long long k = <long long>ceil(when / r)
        while <double>k * r < when:
            k += 1
        while <double>(k - 1) * r >= when:
            k -= 1
        return k

    cdef inline long long _last_tick(self, double t) noexcept:
        """The last tick whose instant is at or before ``t``."""
        cdef double r = self._resolution
        cdef long long k = <long long>floor(t / r)
        while <double>k * r > t:
            k -= 1
        while <double>(k + 1) * r <= t:
            k += 1
        return k

    # ------------------------------------------------------------------ public API

    @property
    def resolution(self):
        """Length of one tick, in seconds."""
        return self._resolution

    @property
    def slots(self):
        """Number of slots in one revolution."""
        return self._nslots

    @property
    def loop(self):
        """The event loop the wheel runs on (None for a :meth:`manual` wheel)."""
        return self._loop

    @property
    def armed_at(self):
        """Instant (wheel clock) the loop timer is armed for, or None when none is armed."""
        if self._handle is None:
            return None
        return <double>self._armed_tick * self._resolution

    def closed(self):
        """Return True once :meth:`close` has been called."""
        return self._closed

    def __len__(self):
        """Number of live timers: scheduled, neither run nor cancelled."""
        return self._count

    def call_at(self, when, callback, *args):
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
        return self._call_at(float(when), callback, args)

    def call_later(self, delay, callback, *args):
        """Schedule ``callback(*args)`` ``delay`` seconds from now; see :meth:`call_at`.

        :param delay: seconds from :meth:`time`.
        :param callback: called with ``args``.
        :returns: a :class:`Timer`.
        """
        if self._closed:
            raise SchedulerError("the timer wheel is closed: no new timers")
        return self._call_at(self._time() + float(delay), callback, args)

    def rearm(self, timer, delay, callback, *args):
        """Schedule ``callback(*args)`` ``delay`` seconds from now on ``timer``, a handle this
        wheel made: the same as :meth:`call_later`, without making a new handle (a VEN re-arms its
        one timer every poll; a handle kept for the process's life is not one more young object
        for the garbage collector each time). A ``timer`` still pending is cancelled first; its
        :meth:`~Timer.cancelled` reads False again. ``None``, or a handle of another wheel, gets
        a new handle, as :meth:`call_later` gives.

        :returns: the handle now scheduled (``timer`` itself when it is this wheel's).
        :raises SchedulerError: when the wheel is closed.
        """
        cdef Timer reused
        cdef double when
        if self._closed:
            raise SchedulerError("the timer wheel is closed: no new timers")
        when = self._time() + float(delay)
        if type(timer) is not Timer or (<Timer>timer)._wheel is not self:
            return self._call_at(when, callback, args)
        reused = <Timer>timer
        self._check_time(when, "deadline")
        if reused._state != _DONE:
            reused._cancel()
        reused.when = when
        reused._callback = callback
        reused._args = args
        reused._cancelled = False
        self._insert(reused, self._first_tick(when))
        return reused

    cdef Timer _call_at(self, double when, object callback, tuple args):
        cdef Timer timer
        if self._closed:
            raise SchedulerError("the timer wheel is closed: no new timers")
        self._check_time(when, "deadline")
        timer = _new_timer(self, when, callback, args)
        self._insert(timer, self._first_tick(when))
        return timer

    def advance_to(self, t):
        """Run every timer due up to the instant ``t``, without the event loop.

        For tests and simulations: on a :meth:`manual` wheel it also moves the
        simulated clock to ``t`` (never backwards). On a loop-driven wheel it
        runs what is due up to ``t`` now, as the loop timer would have, then
        re-arms the loop timer.

        :param t: the instant, in the wheel's clock.
        :raises SchedulerError: when called from one of the wheel's callbacks.
        :raises ConfigurationError: when ``t`` is before a manual wheel's clock, or out of range.
        """
        cdef double instant
        if self._running:
            raise SchedulerError("advance_to() called from a timer callback")
        instant = float(t)
        self._check_time(instant, "instant")
        if self._manual and instant < self._now:
            raise ConfigurationError(f"advance_to({instant!r}) would move the clock back from {self._now!r}")
        self._run_until(instant)
        if self._manual:
            self._now = instant
        self._arm()

    def close(self):
        """Cancel every timer and disarm the loop timer; the wheel takes no new timers.

        Safe to call more than once, and from a callback.
        """
        cdef Timer sentinel, node, nxt
        self._closed = True
        for sentinel in self._slots:
            node = sentinel._next
            while node is not sentinel:
                nxt = node._next
                node._cancel()
                node = nxt
        if self._due is not None:
            for node in self._due:
                node._cancel()
        self._disarm()

    def __repr__(self):
        state = "closed" if self._closed else ("manual" if self._manual else "running")
        return f"<TimerWheel {state} timers={self._count} resolution={self._resolution!r} slots={self._nslots}>"

    # ------------------------------------------------------------------ internals

    cdef int _insert(self, Timer timer, long long tick) except -1:
        cdef long long now_tick
        cdef Timer sentinel, last
        if self._count == 0 and not self._running:
            # An idle wheel ran no ticks; skip them now (nothing to catch up).
            now_tick = self._last_tick(self._time()) + 1
            if now_tick > self._tick:
                self._tick = now_tick
        if tick < self._tick:
            tick = self._tick
        timer._rounds = (tick - self._tick) // self._nslots
        sentinel = <Timer>self._slots[tick % self._nslots]
        last = sentinel._prev
        timer._prev = last
        timer._next = sentinel
        last._next = timer
        sentinel._prev = timer
        timer._state = _PENDING
        self._count += 1
        if not self._running and (self._handle is None or tick < self._armed_tick):
            self._arm_at(tick)
        return 0

    cdef int _forget_one(self) except -1:
        """A live timer was cancelled."""
        self._count -= 1
        if self._count == 0 and not self._running:
            self._disarm()
        return 0

    cdef int _run_until(self, double t) except -1:
        cdef long long last = self._last_tick(t)
        cdef long long tick
        cdef Py_ssize_t nslots = self._nslots
        cdef list slots = self._slots
        cdef list due
        cdef Timer sentinel, node, nxt, prev
        self._running = True
        try:
            while self._tick <= last:
                if self._count == 0:
                    self._tick = last + 1
                    break
                tick = self._tick
                sentinel = <Timer>slots[tick % nslots]
                node = sentinel._next
                due = None
                while node is not sentinel:
                    nxt = node._next
                    if node._rounds == 0:
                        prev = node._prev
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
                        self._now = <double>tick * self._resolution
                    self._fire(due)
        finally:
            self._running = False
        return 0

    cdef int _fire(self, list due) except -1:
        cdef Py_ssize_t index = 0
        cdef Py_ssize_t n = len(due)
        cdef Timer timer
        cdef object callback
        cdef tuple args
        self._due = due
        try:
            while index < n:
                timer = <Timer>due[index]
                index += 1
                if timer._state != _DUE:
                    continue  # cancelled by an earlier callback of this tick
                timer._state = _DONE
                self._count -= 1
                callback = timer._callback
                args = timer._args
                timer._callback = None
                timer._args = ()
                try:
                    callback(*args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException:
                    logger.exception("timer callback %r raised", callback)
        finally:
            self._due = None
            if index < n:
                self._requeue(due, index)
        return 0

    cdef void _requeue(self, list due, Py_ssize_t start):
        """Put back the timers a propagating SystemExit/KeyboardInterrupt left uncalled."""
        cdef Timer sentinel = <Timer>self._slots[self._tick % self._nslots]
        cdef Timer timer, last
        cdef Py_ssize_t i
        for i in range(start, len(due)):
            timer = <Timer>due[i]
            if timer._state != _DUE:
                continue
            last = sentinel._prev
            timer._prev = last
            timer._next = sentinel
            last._next = timer
            sentinel._prev = timer
            timer._rounds = 0
            timer._state = _PENDING

    def _on_loop_timer(self):
        self._handle = None
        try:
            self._run_until(self._time())
        finally:
            self._arm()

    cdef int _arm(self) except -1:
        """Arm the loop timer for the next tick that holds timers (none when idle)."""
        cdef long long tick
        cdef Py_ssize_t i
        cdef Timer sentinel
        if self._loop is None or self._running:
            return 0
        if self._count == 0:
            self._disarm()
            return 0
        tick = self._tick
        for i in range(self._nslots):
            sentinel = <Timer>self._slots[tick % self._nslots]
            if sentinel._next is not sentinel:
                break
            tick += 1
        else:
            tick = self._tick
        if self._handle is not None and self._armed_tick == tick:
            return 0
        self._arm_at(tick)
        return 0

    cdef int _arm_at(self, long long tick) except -1:
        cdef double instant
        if self._loop is None:
            return 0
        if self._handle is not None:
            self._handle.cancel()
        instant = <double>tick * self._resolution
        if self._use_call_at:
            self._handle = self._loop.call_at(instant, self._on_loop_timer)
        else:
            self._handle = self._loop.call_later(max(0.0, instant - self._time()), self._on_loop_timer)
        self._armed_tick = tick
        return 0

    cdef int _disarm(self) except -1:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        return 0
