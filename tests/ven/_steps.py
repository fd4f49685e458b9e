"""Driving a VenMachine's protocol steps by hand: a fixed context and a runner that answers each op."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import samples

from fleetven.ven.machine import Next, Op, Step, VenMachine


class Ctx:
    """A :class:`fleetven.ven.machine.Context` with a seeded random source, counted request IDs, a
    backoff of ``2 s * (attempt + 1)`` and a clock the test sets."""

    def __init__(self, *, seed: int = 1, now: datetime = samples.T0, poll_interval: float = 10.0) -> None:
        self.rng = random.Random(seed)
        self.poll_interval = poll_interval
        self.clock = now
        self._ids = itertools.count(1)

    def request_id(self) -> str:
        return f"r{next(self._ids)}"

    def backoff(self, attempt: int) -> float:
        return 2.0 * (attempt + 1)

    def now(self) -> datetime:
        return self.clock


def run(step: Step, answer: Callable[[Op], Any]) -> tuple[list[Op], Next | None]:
    """Drive ``step`` to its end, ``answer(op)`` giving each op's result; the ops in order and what it returned."""
    ops: list[Op] = []
    result: Any = None
    while True:
        try:
            op = step.send(result)
        except StopIteration as done:
            return ops, done.value
        ops.append(op)
        result = answer(op)


def machine(*, registered: bool = True, **kwargs: Any) -> VenMachine:
    """A VEN's machine, registered with the samples' VTN unless told otherwise."""
    ven = VenMachine("site-1", ven_id=samples.VEN_ID, poll_freq=10.0, **kwargs)
    if registered:
        ven.registration_id, ven.vtn_id, ven.state = samples.REGISTRATION_ID, samples.VTN_ID, "registered"
    return ven
