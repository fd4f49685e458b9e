"""The shared scheduler: one hashed timer wheel runs every VEN's timers.

Polls, report samples and sends, event transitions, retries and timeouts of a
whole fleet live in one :class:`TimerWheel`, which keeps a single event-loop
timer armed (none while it is empty). Scheduling and cancelling are O(1);
a timer runs at the first tick at or after its deadline (``resolution``
seconds per tick), never early, and timers of one tick run in deadline order.

::

    wheel = TimerWheel(resolution=0.01)           # inside a running loop
    timer = wheel.call_later(10.0, poll, ven)
    timer.cancel()

For tests and simulations, ``TimerWheel.manual(start=0.0)`` has a simulated
clock and no loop; ``wheel.advance_to(t)`` runs what is due up to ``t``.

The wheel is compiled unless the environment variable ``FLEETVEN_NO_EXTENSIONS``
is set or the extension is missing; its pure-Python twin is the specification.
:mod:`fleetven._fast` picks one; :data:`COMPILED` (``fleetven._fast.WHEEL_COMPILED``)
says which one is in use.
"""

from __future__ import annotations

from fleetven._fast import NO_EXTENSIONS, Timer, TimerWheel
from fleetven._fast import WHEEL_COMPILED as COMPILED

__all__ = ("COMPILED", "NO_EXTENSIONS", "Timer", "TimerWheel")
