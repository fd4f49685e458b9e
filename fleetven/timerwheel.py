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

The wheel is compiled (``fleetven._fast._wheel_c``) unless the environment
variable ``FLEETVEN_NO_EXTENSIONS`` is set or the extension is missing; its
pure-Python twin ``fleetven._fast._wheel_py`` is the specification.
:data:`COMPILED` says which one is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetven._fast import NO_EXTENSIONS, twin

__all__ = ("COMPILED", "NO_EXTENSIONS", "Timer", "TimerWheel")

#: True when the compiled wheel is the one in use.
COMPILED: bool

if TYPE_CHECKING:
    from fleetven._fast._wheel_py import Timer, TimerWheel

    COMPILED = False
else:
    _module, COMPILED = twin("wheel")
    Timer, TimerWheel = _module.Timer, _module.TimerWheel
    del _module
