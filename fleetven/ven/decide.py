"""The VEN's event decisions around :func:`fleetven.ven.events.reconcile`: pure functions, no I/O.

One ``oadrDistributeEvent`` goes through these steps, the driver calling the
handlers and arming the timers in between:

1. :func:`is_foreign`: a distribute from another vtnID (compared exactly,
   E1_1080) is answered ``452`` for every event (:func:`answer_all`) and goes no further;
2. :func:`plan`: :func:`~fleetven.ven.events.reconcile` on the book, split into
   the changes a handler decides (``asked``) and the implied cancellations
   (rule 61);
3. :func:`handler_answer` / :func:`fallback_answer`: a handler's return value
   (or its absence) as the ``optIn``/``optOut`` to send;
4. :func:`implied_to_tell`: which implied cancellations ``on_update_event``
   hears of (events not already over);
5. :func:`timers_for`: the status timers a change arms (``near``, ``active``,
   ``completed``; ``cancelled`` after the rule-65 delay);
6. :func:`~fleetven.ven.events.created_event`: the one ``oadrCreatedEvent``.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, NamedTuple

from fleetven.openadr import model as m
from fleetven.ven import events as ev

__all__ = ("Plan", "is_foreign", "answer_all", "plan", "handler_answer", "fallback_answer", "is_over", "cancelled_copy",
           "implied_to_tell", "status_timers", "timers_for", "restored_timers")


class Plan(NamedTuple):
    """The changes of one distribute (:func:`~fleetven.ven.events.reconcile`), and two views of them.

    :ivar changes: every change, in the order ``reconcile`` gives.
    :ivar asked: those a handler decides (``needs_handler``).
    :ivar implied: the implied cancellations (rule 61).
    """

    changes: list[ev.EventChange]
    asked: list[ev.EventChange]
    implied: list[ev.EventChange]


def is_foreign(msg: m.DistributeEvent, vtn_id: str | None) -> bool:
    """Whether ``msg`` comes from another vtnID than the registration's (exact, case-sensitive, E1_1080)."""
    return msg.vtn_id != vtn_id


def answer_all(msg: m.DistributeEvent, code: int, text: str, *, ven_id: str) -> m.CreatedEvent | None:
    """An ``oadrCreatedEvent`` answering every event of ``msg`` (readable or not) with ``code``
    and ``optOut``; ``None`` when it names no event."""
    responses = [
        m.EventResponse(response_code=code, request_id=msg.request_id, event_id=e["event_id"],
                        modification_number=e["modification_number"], opt_type=ev.OPT_OUT,
                        response_description=text)
        for e in msg.events
    ]
    responses += [
        m.EventResponse(response_code=code, request_id=msg.request_id, event_id=err.event_id,
                        modification_number=err.modification_number or 0, opt_type=ev.OPT_OUT,
                        response_description=text)
        for err in msg.errors if err.event_id is not None
    ]
    if not responses:
        return None
    return m.CreatedEvent(response=m.Response.ok(msg.request_id), ven_id=ven_id, event_responses=responses)


def plan(book: dict[str, ev.EventRecord], msg: m.DistributeEvent, *, identity: ev.Identity,
         rng: random.Random) -> Plan:
    """Apply ``msg`` to ``book`` (:func:`~fleetven.ven.events.reconcile`) and sort out what needs a handler."""
    changes = ev.reconcile(book, msg, identity=identity, rng=rng)
    asked = [c for c in changes if c.needs_handler]
    implied = [c for c in changes if c.kind == "implied_cancel"]
    return Plan(changes, asked, implied)


def handler_answer(result: Any) -> str | None:
    """A handler's return value as the answer to send: ``"optIn"``/``"optOut"``, or ``None`` when
    it is neither (the VEN then answers ``optOut`` and logs it)."""
    if result == ev.OPT_IN or result == ev.OPT_OUT:
        return str(result)
    return None


def fallback_answer(change: ev.EventChange) -> str:
    """The answer when no handler is set: ``optOut`` for a new event; for a changed one, the
    earlier answer (``optOut`` when there is none)."""
    if change.kind == "new":
        return ev.OPT_OUT
    record = change.record
    return record.opt if record is not None and record.opt is not None else ev.OPT_OUT


def is_over(record: ev.EventRecord, now: datetime) -> bool:
    """Whether the event completed or was cancelled already: leaving it out cancels nothing."""
    if record.status in ("completed", "cancelled"):
        return True
    schedule = ev.status_schedule(record)
    return bool(schedule) and schedule[-1][1] == "completed" and schedule[-1][0] <= now


def cancelled_copy(event: m.Event) -> m.Event:
    """A copy of ``event`` with status ``cancelled``, flat and in the descriptor, as an explicit
    cancellation carries it."""
    copy = dict(event)
    copy["event_status"] = "cancelled"
    descriptor = copy.get("event_descriptor")
    if isinstance(descriptor, dict):
        copy["event_descriptor"] = {**descriptor, "event_status": "cancelled"}
    return copy


def implied_to_tell(implied: list[ev.EventChange], now: datetime) -> list[ev.EventRecord]:
    """The records of implied cancellations (rule 61) that ``on_update_event`` hears of: those not
    over and not cancelled explicitly before. Each gets its event replaced by the cancelled copy
    (:func:`cancelled_copy`), as the handler is shown it."""
    out: list[ev.EventRecord] = []
    for change in implied:
        record = change.record
        if record is None or is_over(record, now) or record.event["event_status"] == "cancelled":
            continue
        record.event = cancelled_copy(record.event)
        out.append(record)
    return out


def status_timers(record: ev.EventRecord, now: datetime) -> list[tuple[float, str]]:
    """The status timers of an event as ``(seconds from now, status)``: the latest transition
    already past first, at 0 (delivered at once), then every future one (see
    :func:`~fleetven.ven.events.status_schedule`)."""
    out: list[tuple[float, str]] = []
    latest_past: str | None = None
    for when, status in ev.status_schedule(record):
        delta = (when - now).total_seconds()
        if delta <= 0:
            latest_past = status
        else:
            out.append((delta, status))
    if latest_past is not None:
        out.insert(0, (0.0, latest_past))
    return out


def timers_for(change: ev.EventChange, now: datetime, rng: random.Random) -> list[tuple[float, str]] | None:
    """The status timers a change leaves its event with, as ``(seconds from now, status)``;
    ``None`` when the change leaves the event's timers alone.

    New and modified events get their :func:`status_timers`; a cancellation (explicit or implied)
    one ``cancelled`` after :func:`~fleetven.ven.events.cancel_delay` (rule 65), or none when the
    event is already over.
    """
    kind = change.kind
    record = change.record
    if record is None:
        return None
    if kind == "new" or kind == "modified":
        return status_timers(record, now)
    if kind == "cancelled" or kind == "implied_cancel":
        if record.status in ("completed", "cancelled") or (kind == "implied_cancel" and is_over(record, now)):
            return []
        return [(ev.cancel_delay(record, rng), "cancelled")]
    return None


def restored_timers(record: ev.EventRecord, now: datetime) -> list[tuple[float, str]]:
    """The status timers of an event taken back from the store, as ``(seconds from now, status)``:
    none once it completed or was cancelled (the last status delivered is kept); a cancellation
    not yet delivered at once; else its :func:`status_timers`."""
    if record.status in ("completed", "cancelled"):
        return []
    if record.event["event_status"] == "cancelled":
        return [(0.0, "cancelled")]
    return status_timers(record, now)
