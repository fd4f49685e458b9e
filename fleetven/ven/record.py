"""A VEN's state as one small plain record: no I/O handles, no references to the fleet.

:attr:`fleetven.ven.machine.VenMachine.record` takes one as a snapshot of a
VEN's state, and :meth:`~fleetven.ven.machine.VenMachine.load` takes it back.
Everything that makes a VEN *this* VEN is here, so the record can be persisted
or handed to another process and a VEN started from it; what is not here is
the driver's (the transport, the wheel and its timers, the tasks, the report
engine) or shared by the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetven.openadr import model as m
from fleetven.ven import events as ev

__all__ = ("VenRecord",)


@dataclass(slots=True, kw_only=True)
class VenRecord:
    """One VEN's state.

    :ivar name: the VEN's name (``oadrVenName``).
    :ivar ven_id: the venID (the VTN's once registered; the configured one before).
    :ivar registration_id: the registrationID, ``None`` while not registered.
    :ivar vtn_id: the vtnID of the VTN it registered with.
    :ivar poll_freq: seconds between polls (the VTN's ``oadrRequestedOadrPollFreq``).
    :ivar state: one of :data:`fleetven.ven.machine.STATES`.
    :ivar book: the known events by eventID, each with the answer given to it
        (:class:`~fleetven.ven.events.EventRecord`; its ``timers`` are the driver's
        and are armed again by a VEN started from the record).
    :ivar opts: the opts created and not cancelled, by optID (``None``: none).
    :ivar outbox: the ``oadrCreatedEvent`` (answers already decided) not yet acknowledged by the VTN.
    :ivar complete: whether the registration's follow-up steps (reports, events) are all done.
    """

    name: str
    ven_id: str | None = None
    registration_id: str | None = None
    vtn_id: str | None = None
    poll_freq: float
    state: str = "new"
    book: dict[str, ev.EventRecord] = field(default_factory=dict)
    opts: dict[str, m.CreateOpt] | None = None
    outbox: m.CreatedEvent | None = None
    complete: bool = False
