"""Records kept by :class:`~fleetven.testing.TestVTN`: receipts, faults, per-VEN state, and who sent
each VEN's requests (:class:`Sent`, with the pure functions that read a VEN's sequence of them)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from fleetven.openadr import model as m

__all__ = ("Receipt", "Faults", "VenRecord", "Sent", "sender_runs", "overlapping_senders", "handover_gap")


class Receipt(NamedTuple):
    """One message received: when (``loop.time()``), from which VEN (``None`` if unknown), and what."""

    at: float
    ven_id: str | None
    message: m.Message


@dataclass(slots=True)
class Faults:
    """How the VTN misbehaves; all off by default. Change the fields at any time.

    Applied in this order: wait ``delay`` seconds; then answer with HTTP
    ``status`` (empty body), or a ``garbage`` body (HTTP 200), or ``drop`` the
    connection without an answer. With only ``delay`` set, the request is then
    handled normally. A request hit by a status, garbage or drop fault is not
    handled (a lost request) unless ``process`` is set (a lost answer), and
    goes to :attr:`TestVTN.faulted` rather than :attr:`TestVTN.received`.

    :ivar delay: seconds to wait before answering.
    :ivar status: an HTTP status to answer with, e.g. 503.
    :ivar garbage: answer HTTP 200 with a body that is not XML.
    :ivar drop: close the connection without answering.
    :ivar process: handle the request before spoiling its answer.
    :ivar count: apply to this many more requests only, then switch off (``None``: no limit).
    """

    delay: float = 0.0
    status: int | None = None
    garbage: bool = False
    drop: bool = False
    process: bool = False
    count: int | None = None

    def active(self) -> bool:
        """Whether any fault is set (and not used up)."""
        if self.count is not None and self.count <= 0:
            return False
        return bool(self.delay or self.status or self.garbage or self.drop)

    def clear(self) -> None:
        """Switch every fault off."""
        self.delay, self.status, self.count = 0.0, None, None
        self.garbage = self.drop = self.process = False


@dataclass(slots=True)
class VenRecord:
    """What the VTN knows about one VEN.

    :ivar ven_id: the venID.
    :ivar registration_id: the registrationID, ``None`` while not registered
        (a VEN can be scripted before it registers).
    :ivar registration: the accepted ``oadrCreatePartyRegistration``.
    :ivar events: the VEN's current events by eventID, in the order added.
    :ivar queue: messages waiting for the VEN's next polls.
    """

    ven_id: str
    registration_id: str | None = None
    registration: m.CreatePartyRegistration | None = None
    events: dict[str, m.Event] = field(default_factory=dict)
    queue: deque[m.Message] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class Sent:
    """One request made for a VEN, as :class:`~fleetven.testing.TestVTN` saw it (``log_senders=True``).

    :ivar at: when it was read (the VTN's ``loop.time()``).
    :ivar service: the service it was posted to, e.g. ``"OadrPoll"``.
    :ivar message_type: e.g. ``"oadrPoll"``.
    :ivar sender: the request's ``User-Agent`` (``""`` without one): which process sent it.
    :ivar peer: the connection's peer ``(host, port)``, ``None`` if unknown.
    """

    at: float
    service: str
    message_type: str
    sender: str
    peer: tuple[str, int] | None


def sender_runs(sent: Sequence[Sent]) -> list[tuple[str, int, int]]:
    """``sent`` cut into runs of consecutive requests from one sender: ``(sender, first, last)``,
    indexes into ``sent`` (inclusive), in order."""
    runs: list[tuple[str, int, int]] = []
    for i, record in enumerate(sent):
        if runs and runs[-1][0] == record.sender:
            runs[-1] = (record.sender, runs[-1][1], i)
        else:
            runs.append((record.sender, i, i))
    return runs


def overlapping_senders(sent: Sequence[Sent]) -> list[tuple[str, str]]:
    """The pairs of senders that acted for one VEN at the same time: ``A`` and ``B`` whose runs
    alternate twice (``A, B, A, B``: each went on after the other had taken over). A hand-over
    (``A…A`` then ``B…B``, even ``A, B, C``) gives none, and so does one hand-over back
    (``A, B, A``: rebalancing may return a slot to its earlier owner); a stale request of ``A``
    amid ``B``'s (``A, B, A, B``) is what this finds.

    :returns: each pair once, its two senders in the order they first appear in ``sent``; pairs
        in the order their second alternation is found.
    """
    order: dict[str, int] = {}
    for record in sent:
        order.setdefault(record.sender, len(order))
    names = [name for name, _, _ in sender_runs(sent)]
    pairs: dict[tuple[str, str], None] = {}
    last_of: dict[tuple[str, str], str] = {}
    changes: dict[tuple[str, str], int] = {}
    for name in names:
        for other in order:
            if other == name:
                continue
            pair = (name, other) if order[name] < order[other] else (other, name)
            before = last_of.get(pair)
            if before == name:
                continue
            last_of[pair] = name
            if before is not None:
                changes[pair] = changes.get(pair, 0) + 1
                if changes[pair] >= 3:
                    pairs.setdefault(pair, None)
    return list(pairs)


def handover_gap(sent: Sequence[Sent]) -> float | None:
    """The longest silence at a change of sender: seconds from the last request of one run to the
    first of the next; ``None`` if the sender never changed."""
    runs = sender_runs(sent)
    gaps = [sent[runs[k + 1][1]].at - sent[runs[k][2]].at for k in range(len(runs) - 1)]
    return max(gaps) if gaps else None
