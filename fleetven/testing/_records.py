"""Records kept by :class:`~fleetven.testing.TestVTN`: receipts, faults, per-VEN state."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from fleetven.openadr import model as m

__all__ = ("Receipt", "Faults", "VenRecord")


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
