"""One VEN's view of its events: pure protocol logic, no I/O, no handler calls.

A VEN keeps a *book* of the events it knows, ``dict[event_id, EventRecord]``.
Each ``oadrDistributeEvent`` carries all of the VEN's events;
:func:`reconcile` applies one to the book and says, event by event, what
happened (:class:`EventChange`): new, modified, cancelled, unchanged,
out of sequence, not for this VEN, and so on, with the response code to send
and whether to send one. The VEN then calls its handlers for the changes
that need them, and :func:`created_event` turns the changes and the
handlers' decisions into the one ``oadrCreatedEvent`` of the poll cycle.
:func:`status_schedule` gives the status transitions (near, active,
completed) the VEN delivers to ``on_event_status`` on its timer wheel.

Everything here is deterministic given the :class:`random.Random` passed in.
Rules cited are those of the OpenADR 2.0b conformance checklist.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fleetven.openadr import model as m

if TYPE_CHECKING:
    from fleetven.timerwheel import Timer

__all__ = (
    "OPT_IN",
    "OPT_OUT",
    "CHANGE_KINDS",
    "STANDARD_SIGNAL_NAMES",
    "TARGET_TYPES",
    "EventRecord",
    "EventChange",
    "Identity",
    "reconcile",
    "effective_start",
    "start_after",
    "cancel_delay",
    "status_schedule",
    "created_event",
)

OPT_IN = "optIn"
OPT_OUT = "optOut"

#: Every :attr:`EventChange.kind`.
CHANGE_KINDS = frozenset((
    "new", "modified", "cancelled", "unchanged", "stale", "ignored",
    "mismatch", "unsupported", "invalid", "implied_cancel",
))

#: Signal names a VEN accepts besides any name starting with ``x-``
#: (``simple`` is the OpenADR 2.0a spelling, still sent by some VTNs).
STANDARD_SIGNAL_NAMES = frozenset((
    "SIMPLE", "simple", "ELECTRICITY_PRICE", "ENERGY_PRICE", "DEMAND_CHARGE", "BID_PRICE", "BID_LOAD",
    "BID_ENERGY", "CHARGE_STATE", "LOAD_DISPATCH", "LOAD_CONTROL",
))

#: The target types that decide whether an event is for a VEN (rule 22).
TARGET_TYPES = frozenset(("ven_id", "resource_id", "group_id", "party_id"))

_DESCRIPTIONS = {
    200: "OK",
    450: "out of sequence",
    452: "invalid ID",
    454: "invalid data",
    460: "signal not supported",
    462: "target mismatch",
}

_EVENT_INDEX = re.compile(r"oadrEvent\[(\d+)\]")


@dataclass(slots=True, kw_only=True)
class EventRecord:
    """One known event of one VEN (an entry of the book).

    A modification updates the record in place, so the VEN's timers and the
    randomised start survive it.

    :ivar event: the latest event dict (:data:`fleetven.openadr.model.EVENT_SHAPE`).
    :ivar event_id: its ``eventID``.
    :ivar modification_number: its ``modificationNumber``.
    :ivar opt: the decision sent for it (``"optIn"``/``"optOut"``), ``None`` until
        the VEN decides; set by the VEN.
    :ivar start_offset: seconds added to ``dtstart``: random in ``[0, startAfter]``,
        chosen once per event and kept across modifications that leave
        ``startAfter`` alone (rule 65).
    :ivar status: the last status delivered to ``on_event_status``; set by the VEN.
    :ivar timers: the VEN's wheel timers for this event's transitions (the VEN
        cancels them); not compared.
    """

    event: m.Event
    event_id: str
    modification_number: int
    opt: str | None = None
    start_offset: float = 0.0
    status: str | None = None
    timers: list[Timer] = field(default_factory=list, compare=False, repr=False)


@dataclass(slots=True, kw_only=True)
class EventChange:
    """What one event of an ``oadrDistributeEvent`` did to the book.

    :ivar kind: one of :data:`CHANGE_KINDS`:

        * ``new``: first seen (rule 56); the VEN calls ``on_event``;
        * ``modified``: higher ``modificationNumber`` (rule 57); ``on_update_event``;
        * ``cancelled``: higher ``modificationNumber`` with status ``cancelled``;
          ``on_update_event``, and ``on_event_status`` gets ``cancelled`` (after
          :func:`cancel_delay`, rule 65);
        * ``unchanged``: same ``modificationNumber``: answered again with the
          earlier decision;
        * ``stale``: lower ``modificationNumber``: ``450``, the record untouched (rule 58);
        * ``ignored``: first seen already cancelled (rule 60), not stored;
        * ``mismatch``: its targets do not name this VEN (rule 22): ``462``, not stored;
        * ``unsupported``: a signal name neither standard nor ``x-``: ``460``, not stored;
        * ``invalid``: the event could not be read (``DistributeEvent.errors``);
        * ``implied_cancel``: a known event missing from the message (rule 61),
          removed from the book; ``record`` is the removed record (whose
          ``status`` tells whether it already completed or was cancelled).

    :ivar event_id: the ``eventID`` (``None`` for an unreadable event without one).
    :ivar modification_number: as received (the record's for ``implied_cancel``).
    :ivar event: the event dict as received; ``None`` for ``invalid`` and ``implied_cancel``.
    :ivar record: the book's record for the event after the change (``None`` when
        the event is not stored; the removed record for ``implied_cancel``).
    :ivar response_code: the code of its ``eventResponse``.
    :ivar needs_handler: the VEN calls ``on_event`` (``new``) or ``on_update_event``
        (``modified``, ``cancelled``).
    :ivar respond: an ``eventResponse`` goes into the ``oadrCreatedEvent``:
        ``responseRequired`` is ``always`` (rules 12, 62; a cancellation is
        confirmed the same way, rule 36), or the event could not be read.
    :ivar description: the ``responseDescription`` for an error, ``None`` for
        the default text of the code.
    """

    kind: str
    event_id: str | None
    modification_number: int | None
    event: m.Event | None = None
    record: EventRecord | None = None
    response_code: int = 200
    needs_handler: bool = False
    respond: bool = False
    description: str | None = None


class Identity:
    """What an event's targets may name for one VEN (rule 22).

    Compared exactly, case-sensitively.

    :param ven_id: the VEN's ``venID`` (``None`` before registration).
    :param resource_ids: its resources' IDs.
    :param group_ids: the groups it belongs to.
    :param party_ids: the parties it acts for.
    """

    __slots__ = ("ven_id", "resource_ids", "group_ids", "party_ids")

    ven_id: str | None
    resource_ids: frozenset[str]
    group_ids: frozenset[str]
    party_ids: frozenset[str]

    def __init__(self, ven_id: str | None = None, *, resource_ids: Iterable[str] = (),
                 group_ids: Iterable[str] = (), party_ids: Iterable[str] = ()) -> None:
        self.ven_id = ven_id
        self.resource_ids = frozenset(resource_ids)
        self.group_ids = frozenset(group_ids)
        self.party_ids = frozenset(party_ids)

    def __repr__(self) -> str:
        return (f"Identity(ven_id={self.ven_id!r}, resource_ids={sorted(self.resource_ids)!r}, "
                f"group_ids={sorted(self.group_ids)!r}, party_ids={sorted(self.party_ids)!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Identity):
            return NotImplemented
        return (self.ven_id == other.ven_id and self.resource_ids == other.resource_ids
                and self.group_ids == other.group_ids and self.party_ids == other.party_ids)

    def __hash__(self) -> int:
        return hash((self.ven_id, self.resource_ids, self.group_ids, self.party_ids))

    def matches(self, targets: Sequence[m.Target]) -> bool:
        """Whether an event with these targets (OpenLEADR-style one-key dicts) is for this VEN.

        True when no target is of a type in :data:`TARGET_TYPES` (the event
        names nobody in particular), or when any target of those types names
        this VEN.
        """
        scoped = False
        for target in targets:
            for kind, value in target.items():
                if kind == "ven_id":
                    scoped = True
                    if value == self.ven_id and value is not None:
                        return True
                elif kind == "resource_id":
                    scoped = True
                    if value in self.resource_ids:
                        return True
                elif kind == "group_id":
                    scoped = True
                    if value in self.group_ids:
                        return True
                elif kind == "party_id":
                    scoped = True
                    if value in self.party_ids:
                        return True
        return not scoped


# ------------------------------------------------------------------ reconcile


def start_after(event: m.Event) -> timedelta | None:
    """The event's ``startAfter`` tolerance (``active_period.tolerance.tolerate.startafter``), or ``None``."""
    tolerance = event["active_period"].get("tolerance")
    if not tolerance:
        return None
    tolerate = tolerance.get("tolerate")
    if not tolerate:
        return None
    value: timedelta | None = tolerate.get("startafter")
    return value


def _draw(event: m.Event, rng: random.Random) -> float:
    """A random offset in ``[0, startAfter]`` seconds (0.0 without one)."""
    window = start_after(event)
    if window is None:
        return 0.0
    seconds = window.total_seconds()
    return rng.uniform(0.0, seconds) if seconds > 0 else 0.0


def _unsupported_signal(event: m.Event) -> str | None:
    """The first signal name that is neither standard nor ``x-``, or ``None``."""
    for signal in event["event_signals"]:
        name = signal["signal_name"]
        if name not in STANDARD_SIGNAL_NAMES and not name.startswith("x-"):
            return str(name)
    return None


def _refusal(event: m.Event, identity: Identity, always: bool) -> EventChange | None:
    """A ``mismatch`` or ``unsupported`` change when the event cannot be taken, else ``None``."""
    if not identity.matches(event["targets"]):
        return EventChange(kind="mismatch", event_id=event["event_id"],
                           modification_number=event["modification_number"], event=event,
                           response_code=462, respond=always)
    name = _unsupported_signal(event)
    if name is not None:
        return EventChange(kind="unsupported", event_id=event["event_id"],
                           modification_number=event["modification_number"], event=event,
                           response_code=460, respond=always, description=f"signal {name!r} not supported")
    return None


def _apply(book: dict[str, EventRecord], event: m.Event, identity: Identity, rng: random.Random) -> EventChange:
    """Apply one event dict to the book and say what it did."""
    event_id: str = event["event_id"]
    mod: int = event["modification_number"]
    always = event["response_required"] == "always"
    record = book.get(event_id)
    if record is not None:
        if mod == record.modification_number:  # the usual case: the VTN repeats what we know
            return EventChange(kind="unchanged", event_id=event_id, modification_number=mod, event=event,
                               record=record, respond=always)
        if mod < record.modification_number:
            return EventChange(kind="stale", event_id=event_id, modification_number=mod, event=event,
                               record=record, response_code=450, respond=always,
                               description=f"modification number {mod} is lower than {record.modification_number}")
        if event["event_status"] == "cancelled":
            kind = "cancelled"
        else:
            refusal = _refusal(event, identity, always)
            if refusal is not None:  # no longer for us: reconcile() also reports it as implied_cancel
                return refusal
            kind = "modified"
        if start_after(event) != start_after(record.event):
            record.start_offset = _draw(event, rng)
        record.event = event
        record.modification_number = mod
        return EventChange(kind=kind, event_id=event_id, modification_number=mod, event=event, record=record,
                           needs_handler=True, respond=always)
    if event["event_status"] == "cancelled":
        return EventChange(kind="ignored", event_id=event_id, modification_number=mod, event=event)
    refusal = _refusal(event, identity, always)
    if refusal is not None:
        return refusal
    record = EventRecord(event=event, event_id=event_id, modification_number=mod, start_offset=_draw(event, rng))
    book[event_id] = record
    return EventChange(kind="new", event_id=event_id, modification_number=mod, event=event, record=record,
                       needs_handler=True, respond=always)


def _invalid(book: dict[str, EventRecord], error: m.EventError) -> EventChange:
    record = book.get(error.event_id) if error.event_id is not None else None
    return EventChange(kind="invalid", event_id=error.event_id, modification_number=error.modification_number,
                       record=record, response_code=error.response_code, respond=True,
                       description=error.description)


def _error_position(error: m.EventError) -> int | None:
    """The 1-based position of an unreadable event among the message's events, from its path."""
    if error.path is None:
        return None
    found = _EVENT_INDEX.search(error.path)
    return int(found.group(1)) if found else None


def _in_document_order(msg: m.DistributeEvent) -> list[m.Event | m.EventError]:
    """The message's events and unreadable events merged back into document order.

    An error whose path gives no position goes last.
    """
    errors: list[m.EventError] = getattr(msg, "errors", None) or []
    if not errors:
        return list(msg.events)
    placed: dict[int, m.EventError] = {}
    rest: list[m.EventError] = []
    for error in errors:
        pos = _error_position(error)
        if pos is None or pos in placed:
            rest.append(error)
        else:
            placed[pos] = error
    out: list[m.Event | m.EventError] = []
    events = iter(msg.events)
    pos = 1
    while placed:
        if pos in placed:
            out.append(placed.pop(pos))
        else:
            nxt = next(events, None)
            if nxt is None:  # positions beyond the end: keep their relative order
                out.extend(placed[k] for k in sorted(placed))
                break
            out.append(nxt)
        pos += 1
    out.extend(events)
    out.extend(rest)
    return out


def reconcile(book: dict[str, EventRecord], msg: m.DistributeEvent, *, identity: Identity,
              rng: random.Random) -> list[EventChange]:
    """Apply an ``oadrDistributeEvent`` to a VEN's book of events.

    Mutates ``book``: new events are added, modified ones updated in place,
    implied-cancelled ones removed (as are known events modified so that they
    are no longer for this VEN). Returns one change per event of the message,
    in document order (unreadable events from ``msg.errors`` at their place),
    then one ``implied_cancel`` per known event the message leaves out
    (rule 61), in book order. See :class:`EventChange` for the kinds. A known
    event whose latest copy was unreadable is not implied-cancelled.

    ``vtnID`` checks are the VEN's job.

    :param book: the VEN's events by ``eventID``.
    :param msg: the message.
    :param identity: what targets may name for this VEN (rule 22).
    :param rng: draws the ``startAfter`` offsets (rule 65).
    :returns: the changes.
    """
    changes: list[EventChange] = []
    seen: set[str] = set()
    for item in _in_document_order(msg):
        if isinstance(item, m.EventError):
            change = _invalid(book, item)
            if item.event_id is not None and item.event_id in book:
                seen.add(item.event_id)
        else:
            change = _apply(book, item, identity, rng)
            if change.record is not None:
                seen.add(item["event_id"])
        changes.append(change)
    if len(seen) != len(book):
        gone = [event_id for event_id in book if event_id not in seen]
        for event_id in gone:
            record = book.pop(event_id)
            changes.append(EventChange(kind="implied_cancel", event_id=event_id,
                                       modification_number=record.modification_number, record=record))
    return changes


# ------------------------------------------------------------------ timing


def effective_start(record: EventRecord) -> datetime:
    """The event's start with its random ``startAfter`` offset: ``dtstart + start_offset``."""
    start: datetime = record.event["active_period"]["dtstart"]
    if record.start_offset:
        return start + timedelta(seconds=record.start_offset)
    return start


def cancel_delay(record: EventRecord, rng: random.Random) -> float:
    """Seconds to wait before a cancellation takes effect (rule 65).

    Random in ``[0, startAfter]`` when the event has a ``startAfter``, else 0.0.
    """
    return _draw(record.event, rng)


def _positive(value: Any) -> timedelta | None:
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    return None


def status_schedule(record: EventRecord) -> list[tuple[datetime, str]]:
    """The status transitions of an event, in time order, for ``on_event_status``.

    * ``near`` at the effective start minus ``x-eiRampUp``, or minus
      ``x-eiNotification`` when there is no (positive) ramp-up; left out when
      there is neither;
    * ``active`` at the effective start (:func:`effective_start`);
    * ``completed`` at the effective start plus the duration plus
      ``x-eiRecovery``; left out for a duration of 0 (open-ended).

    Test events (rule 6: never actuate) and cancelled events get none (the
    VEN delivers ``cancelled`` itself, after :func:`cancel_delay`). Every
    transition is returned, past ones too: the VEN delivers the latest past
    one at once and schedules the rest.
    """
    event = record.event
    if event["test_event"] or event["event_status"] == "cancelled":
        return []
    period = event["active_period"]
    start = effective_start(record)
    out: list[tuple[datetime, str]] = []
    lead = _positive(period.get("ramp_up")) or _positive(period.get("notification"))
    if lead is not None:
        out.append((start - lead, "near"))
    out.append((start, "active"))
    duration = _positive(period.get("duration"))
    if duration is not None:
        out.append((start + duration + (_positive(period.get("recovery")) or timedelta(0)), "completed"))
    return out


# ------------------------------------------------------------------ answer


def created_event(changes: Iterable[EventChange], decisions: dict[str, str], *, ven_id: str,
                  request_id: str) -> m.CreatedEvent | None:
    """The ``oadrCreatedEvent`` answering one ``oadrDistributeEvent``, or ``None`` when nothing needs an answer.

    One ``eventResponse`` per change with ``respond`` set, in the order of
    ``changes``, each with the change's response code and the distribute's
    ``request_id``; the top-level ``eiResponse`` is ``200`` with the same
    ``request_id`` even when some events are answered with errors (rules 19, 48).

    The ``optType`` of each: for ``new``/``modified``/``cancelled`` the handler's
    decision in ``decisions``, else the record's earlier ``opt``; for
    ``unchanged`` and ``stale`` the record's ``opt``; ``optOut`` when there is
    none, and always for ``invalid``, ``mismatch`` and ``unsupported``.

    :param changes: from :func:`reconcile`.
    :param decisions: ``"optIn"``/``"optOut"`` by ``eventID``, from this cycle's handlers.
    :param ven_id: the VEN's ``venID``.
    :param request_id: the ``requestID`` of the ``oadrDistributeEvent``.
    """
    responses: list[m.EventResponse] = []
    for change in changes:
        if not change.respond:
            continue
        opt: str | None = None
        kind = change.kind
        if kind in ("new", "modified", "cancelled", "unchanged", "stale"):
            if change.needs_handler and change.event_id is not None:
                opt = decisions.get(change.event_id)
            if opt is None and change.record is not None:
                opt = change.record.opt
        if opt != OPT_IN:
            opt = OPT_OUT
        code = change.response_code
        responses.append(m.EventResponse(
            response_code=code,
            request_id=request_id,
            event_id=change.event_id if change.event_id is not None else "",
            modification_number=change.modification_number if change.modification_number is not None else 0,
            opt_type=opt,
            response_description=change.description or _DESCRIPTIONS.get(code, "error"),
        ))
    if not responses:
        return None
    return m.CreatedEvent(response=m.Response.ok(request_id), ven_id=ven_id, event_responses=responses)
