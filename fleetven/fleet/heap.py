"""Keeping Python's cyclic garbage collector off a large fleet's long-lived state.

A fleet of 100,000 VENs keeps a few million objects alive for as long as it runs (every VEN's
state, its event book, its report engine). CPython's collector visits *every* tracked object
at each full (generation 2) collection, and it runs one whenever the objects that survived
the younger generations grow by a quarter of the last full collection's survivors: measured
in ``bench/bench_fleet.py`` at N = 100,000, a quarter to a third of the fleet's CPU went to
those walks over state that had not changed (see ``docs/benchmarks.rst``).

While at least one fleet runs with ``freeze_gc=True`` (the default), every full collection is
followed by :func:`gc.freeze`: what survived it (which the collector has just shown to be alive)
moves to the permanent generation, and the next full collections visit only what was made
since. The collector's other work is untouched: young objects are collected as before, reference
counting frees everything as before, and what is frozen is freed as soon as nothing refers to it.
The one cost: a *reference cycle* among frozen objects that becomes garbage later is not
collected until :func:`gc.unfreeze` hands the frozen objects back. That happens when the last
such fleet stops, and whenever a VEN leaves a running fleet (``remove_ven``, ``drop_ven``: a
VEN's state may hold cycles, an application's site object that is its handler and knows its
VEN for one), so that the next full collection frees it and the freeze after it starts afresh.
An application that builds many long-lived cycles of its own and drops them while a fleet runs
can pass ``freeze_gc=False``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

__all__ = ["acquire", "release", "thaw", "freezes"]

logger = logging.getLogger("fleetven.fleet")

_users = 0
_loop: asyncio.AbstractEventLoop | None = None
_pending = False
#: Freezes done since the first fleet asked (for the logs and the tests).
freezes = 0


def _freeze() -> None:
    global _pending, freezes
    _pending = False
    if _users:
        gc.freeze()
        freezes += 1
        if logger.isEnabledFor(logging.DEBUG):  # gc.get_freeze_count() walks every frozen object
            logger.debug("garbage collector: %d objects frozen after a full collection", gc.get_freeze_count())


def _after_collection(phase: str, info: dict[str, Any]) -> None:
    """``gc.callbacks`` entry: after a full collection, freeze what survived (on the fleet's loop,
    right after the collection returns)."""
    global _pending
    if phase != "stop" or info.get("generation") != 2 or _pending or not _users:
        return
    loop = _loop
    if loop is None or loop.is_closed():
        return
    _pending = True
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:  # collected in another thread
        running = None
    try:
        if running is loop:
            loop.call_soon(_freeze)
        else:
            loop.call_soon_threadsafe(_freeze)
    except RuntimeError:  # the loop closed meanwhile
        _pending = False


def acquire(loop: asyncio.AbstractEventLoop) -> None:
    """A fleet starts with ``freeze_gc``: from now on every full collection is followed by a freeze."""
    global _users, _loop
    _users += 1
    _loop = loop
    if _users == 1:
        gc.callbacks.append(_after_collection)


def thaw() -> None:
    """Something long-lived was let go (a VEN left a running fleet): hand the frozen objects back
    to the collector (:func:`gc.unfreeze`, O(1)), so that the next full collection frees what is
    garbage among them; the freeze that follows it keeps the rest out of the next ones again."""
    if _users:
        gc.unfreeze()


def release() -> None:
    """A fleet that :func:`acquire`\\ d stops: the last one to stop gives the frozen objects back
    to the collector (:func:`gc.unfreeze`), so that cycles among them are collected again."""
    global _users, _loop
    if _users == 0:
        return
    _users -= 1
    if _users == 0:
        _loop = None
        if _after_collection in gc.callbacks:
            gc.callbacks.remove(_after_collection)
        gc.unfreeze()
