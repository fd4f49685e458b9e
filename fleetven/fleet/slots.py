"""Slots: how a fleet shared by several workers is cut into units of ownership.

A fleet has a fixed number of **slots**, chosen when it is created (:data:`DEFAULT_SLOTS`,
1,024, unless told otherwise) and never changed afterwards: every VEN belongs to exactly one
slot, and a worker owns whole slots, never single VENs. A VEN's slot depends on its name and on
the slot count only, so every worker, every command and any tool written in another language
computes the same answer:

.. code-block:: text

    slot_of(name, slots) = int.from_bytes(SHA-256(UTF-8(name))[0:8], "big") mod slots

that is: encode the VEN's name as UTF-8 (no normalisation, no trimming), take its SHA-256
digest, read the digest's first 8 bytes as an unsigned big-endian 64-bit integer and take it
modulo the slot count. For example, with 1,024 slots ``"site-0000"`` is in slot 816,
``"site-0001"`` in slot 995 and ``"é-ven"`` in slot 411. PostgreSQL (11 or newer) computes the
same with::

    SELECT ((('x' || substr(encode(sha256(convert_to(name, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint::numeric
             + 18446744073709551616) % 18446744073709551616) % slots

(the cast to ``bigint`` reads the 64 bits as a *signed* integer; the sum and the first modulo
make it unsigned again). Python's :func:`hash` is never used: it is salted per process.

With a slot count that is a power of two (the default) every slot gets exactly the same share
of the 64-bit range; otherwise the largest share exceeds the smallest by one part in
2**64 / slots, which no fleet can measure.

The rest of this module is pure arithmetic for the cooperative rebalancer: the fair share of
each worker (:func:`fair_shares`) and, from who owns what now, which slots an over-share worker
hands back and which free slots an under-share worker may take (:func:`plan_handover`). Every
worker that reads the same ownership table computes the same plan.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from fleetven.exceptions import ConfigurationError

__all__ = (
    "DEFAULT_SLOTS",
    "MAX_SLOTS",
    "check_slots",
    "slot_of",
    "fair_shares",
    "Handover",
    "plan_handover",
)

#: The slot count of a fleet created without one.
DEFAULT_SLOTS: Final = 1024

#: The largest slot count a fleet may have (2**20): one slot per VEN for a million VENs.
MAX_SLOTS: Final = 1 << 20


def check_slots(slots: object) -> int:
    """``slots`` if it is a valid slot count: an ``int`` (not a ``bool``) from 1 to :data:`MAX_SLOTS`.

    :raises ConfigurationError: any other value (field ``setting="slots"``).
    """
    if isinstance(slots, bool) or not isinstance(slots, int):
        raise ConfigurationError(f"the slot count must be an integer, not {slots!r}", setting="slots")
    if not 1 <= slots <= MAX_SLOTS:
        raise ConfigurationError(f"the slot count must be from 1 to {MAX_SLOTS:,}, not {slots:,}", setting="slots")
    return slots


def slot_of(name: str, slots: int = DEFAULT_SLOTS) -> int:
    """The slot of the VEN called ``name`` in a fleet of ``slots`` slots (see the module's
    definition): ``int.from_bytes(sha256(name.encode("utf-8")).digest()[:8], "big") % slots``.

    :raises ConfigurationError: ``name`` is not a non-empty string that UTF-8 can encode (a lone
        surrogate cannot be), or ``slots`` is not a valid slot count (:func:`check_slots`).
    """
    check_slots(slots)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"a VEN name must be a non-empty string, not {name!r}", setting="name")
    try:
        data = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(f"the VEN name {name!r} cannot be encoded as UTF-8: {exc.reason}",
                                 setting="name") from exc
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % slots


def _workers(workers: Iterable[str]) -> list[str]:
    """The worker names, sorted (the order every plan is made in), checked for duplicates."""
    names = list(workers)
    for worker in names:
        if not isinstance(worker, str) or not worker:
            raise ConfigurationError(f"a worker name must be a non-empty string, not {worker!r}", setting="workers")
    twice = sorted(w for w, n in Counter(names).items() if n > 1)
    if twice:
        raise ConfigurationError(f"worker names given twice: {', '.join(twice)}", setting="workers")
    return sorted(names)


def fair_shares(slots: int, workers: Collection[str], *, holding: Mapping[str, int] | None = None) -> dict[str, int]:
    """How many slots each worker should own: ``slots // n`` each, and one more for
    ``slots % n`` of them, so the shares add up to ``slots`` and differ by at most one.

    The workers that get the extra slot are the ones that hold the most now (``holding``: slots
    owned by worker), ties going to the smaller name, so that a balanced fleet has nothing to
    move. Without ``holding``, the first names in sorted order get it.

    :param slots: the fleet's slot count.
    :param workers: the live workers' names (distinct).
    :raises ConfigurationError: an invalid slot count, no worker, or a name given twice.
    """
    check_slots(slots)
    names = _workers(workers)
    if not names:
        raise ConfigurationError("a fair share needs at least one worker", setting="workers")
    base, extra = divmod(slots, len(names))
    held = holding or {}
    by_claim = sorted(names, key=lambda w: (-held.get(w, 0), w))
    lucky = set(by_claim[:extra])
    return {w: base + (w in lucky) for w in names}


@dataclass(frozen=True, slots=True)
class Handover:
    """One step of rebalancing, computed by :func:`plan_handover`.

    :ivar targets: each live worker's fair share (:func:`fair_shares`).
    :ivar release: per over-share worker, the slots it should hand back (flush their state, stop
        their VENs, release the lease), in ascending order.
    :ivar take: per under-share worker, the free slots it may acquire, in ascending order; no
        slot is offered to two workers.
    """

    targets: dict[str, int]
    release: dict[str, tuple[int, ...]] = field(default_factory=dict)
    take: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """Nothing to release and nothing to take: the ownership is as balanced as it can be now."""
        return not self.release and not self.take


def plan_handover(current: Mapping[int, str | None], workers: Collection[str], slots: int) -> Handover:
    """The next rebalancing step from the ownership table ``current``.

    A worker that owns more than its fair share releases its highest-numbered slots down to its
    share. An under-share worker is offered free slots (unowned, lowest-numbered first, the
    smaller worker name first) up to its share. Slots released in this step are not offered in
    the same step: they become free only once released, and the next plan offers them. A slot
    owned by a name not in ``workers`` (a worker gone whose lease has not yet expired) is
    neither released nor offered; once its lease lapses the table shows it free.

    Applied step after step by workers that follow it, with no change of membership: after the
    first step no worker is over its share, after the second every worker holds exactly its
    share (within one of ``slots / len(workers)``) unless slots are still held by departed
    workers, and the third plan is :attr:`Handover.settled`. The plan says what to try; the
    leases decide who actually owns a slot.

    :param current: owner by slot, for slots ``0 .. slots - 1``; a missing slot or ``None`` is free.
    :param workers: the live workers' names (distinct, at least one).
    :param slots: the fleet's slot count.
    :raises ConfigurationError: an invalid slot count or worker list, or a slot outside ``0 .. slots - 1``.
    """
    check_slots(slots)
    names = _workers(workers)
    owned: dict[str, list[int]] = {w: [] for w in names}
    free: list[int] = []
    for slot in current:
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < slots:
            raise ConfigurationError(f"slot {slot!r} is not in 0 .. {slots - 1}", setting="slots")
    for slot in range(slots):
        owner = current.get(slot)
        if owner is None:
            free.append(slot)
        elif owner in owned:
            owned[owner].append(slot)
    targets = fair_shares(slots, names, holding={w: len(s) for w, s in owned.items()})
    release: dict[str, tuple[int, ...]] = {}
    take: dict[str, tuple[int, ...]] = {}
    offer = iter(free)
    for worker in names:
        have, want = len(owned[worker]), targets[worker]
        if have > want:
            release[worker] = tuple(owned[worker][want:])
        elif have < want:
            got = tuple(slot for _, slot in zip(range(want - have), offer))
            if got:
                take[worker] = got
    return Handover(targets=targets, release=release, take=take)
