"""The VEN's opt decisions (EiOpt): pure functions, no I/O.

:meth:`fleetven.fleet.driver.Ven.create_opt` and :meth:`~fleetven.fleet.driver.Ven.cancel_opt` send
what these functions build and judge the VTN's answer with them:

* :func:`check_create`: before anything is sent, ``opt_type`` is ``optIn`` or ``optOut``,
  ``opt_reason`` one of :data:`OPT_REASONS` or an ``x-`` name, and exactly one of an
  ``event_id`` (an opt for one event) and a ``vavailability`` (an availability schedule);
* :func:`modification_number`: an event opt without a modification number takes the one the
  event book holds for that event (``0`` for an event the VEN has not seen);
* :func:`windows`: the availability windows, given as
  :class:`~fleetven.openadr.model.AvailableWindow`, ``(dtstart, duration)`` or
  ``{"dtstart", "duration"}``;
* :func:`create_opt`: the ``oadrCreateOpt``, its targets by default this VEN
  (``[{"ven_id": ven_id}]``);
* :func:`check_cancel`: only an opt this VEN created (and did not cancel yet) is cancelled;
  :func:`cancel_opt` builds the ``oadrCancelOpt``;
* :func:`accepted`: the VTN accepted when it answers ``oadrCreatedOpt`` (to a create) or
  ``oadrCanceledOpt`` (to a cancel) with response code 200.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from fleetven.exceptions import ConfigurationError
from fleetven.openadr import model as m
from fleetven.ven import events as ev

__all__ = ("OPT_REASONS", "Window", "check_create", "modification_number", "windows", "create_opt",
           "check_cancel", "cancel_opt", "accepted")

#: The ``oadrOptReason`` values of the 2.0b schema (``x-`` names are allowed too).
OPT_REASONS: Final = frozenset(("economic", "emergency", "mustRun", "notParticipating", "outageRunStatus",
                                "overrideStatus", "participating", "x-schedule"))

#: One availability window as a caller may give it.
Window = m.AvailableWindow | tuple[datetime, timedelta] | dict[str, Any]


def check_create(opt_type: str, opt_reason: str, *, event_id: str | None, vavailability: object | None,
                 name: str) -> None:
    """Check the arguments of an ``oadrCreateOpt`` before anything is sent.

    :param name: the VEN's name, for the error message.
    :raises ConfigurationError: ``opt_type`` is neither ``optIn`` nor ``optOut``; ``opt_reason`` is
        not a 2.0b reason nor an ``x-`` name; both or neither of ``event_id`` and ``vavailability``.
    """
    if opt_type not in (ev.OPT_IN, ev.OPT_OUT):
        raise ConfigurationError(f"opt_type must be 'optIn' or 'optOut', not {opt_type!r} (ven {name})")
    if opt_reason not in OPT_REASONS and not (isinstance(opt_reason, str) and opt_reason.startswith("x-")):
        raise ConfigurationError(f"opt_reason must be one of {', '.join(sorted(OPT_REASONS))} or an x- name, "
                                 f"not {opt_reason!r} (ven {name})")
    if (event_id is None) == (vavailability is None):
        raise ConfigurationError(f"create_opt takes either event_id (an opt for one event) or vavailability "
                                 f"(an availability schedule), {'not both' if event_id else 'one of them'} "
                                 f"(ven {name})")


def modification_number(book: Mapping[str, ev.EventRecord], event_id: str | None, given: int | None) -> int | None:
    """The modificationNumber an opt carries: the one given; for an event opt without one, the
    event book's for ``event_id`` (``0`` when the VEN does not know the event); ``None`` for a
    schedule (no ``event_id``)."""
    if event_id is None or given is not None:
        return given
    record = book.get(event_id)
    return record.modification_number if record is not None else 0


def windows(items: Sequence[Window]) -> list[m.AvailableWindow]:
    """The availability windows of ``items``, each an :class:`~fleetven.openadr.model.AvailableWindow`,
    a ``(dtstart, duration)`` pair or a ``{"dtstart", "duration"}`` dict, in their order."""
    out: list[m.AvailableWindow] = []
    for item in items:
        if isinstance(item, m.AvailableWindow):
            out.append(item)
        elif isinstance(item, dict):
            out.append(m.AvailableWindow(dtstart=item["dtstart"], duration=item["duration"]))
        else:
            start, duration = item
            out.append(m.AvailableWindow(dtstart=start, duration=duration))
    return out


def create_opt(*, opt_id: str, opt_type: str, opt_reason: str, ven_id: str, created: datetime, request_id: str,
               market_context: str | None = None, vavailability: Sequence[Window] | None = None,
               event_id: str | None = None, modification_number: int | None = None,
               targets: Sequence[m.Target] | None = None, signal_target_mrid: str | None = None) -> m.CreateOpt:
    """The ``oadrCreateOpt`` of a VEN: its targets are ``targets``, by default the VEN itself
    (``[{"ven_id": ven_id}]``); the windows are read by :func:`windows`.

    The arguments are those of :meth:`fleetven.fleet.driver.Ven.create_opt`, checked by
    :func:`check_create`, with ``modification_number`` from :func:`modification_number`.
    """
    return m.CreateOpt(
        opt_id=opt_id,
        opt_type=opt_type,
        opt_reason=opt_reason,
        ven_id=ven_id,
        created_date_time=created,
        request_id=request_id,
        market_context=market_context,
        vavailability=windows(vavailability) if vavailability is not None else None,
        event_id=event_id,
        modification_number=modification_number,
        targets=list(targets) if targets is not None else [{"ven_id": ven_id}],
        signal_target_mrid=signal_target_mrid,
    )


def check_cancel(opts: Mapping[str, object] | None, opt_id: str, *, name: str) -> None:
    """Check that ``opt_id`` is one of the VEN's opts (``opts``, by optID) before cancelling it.

    :raises ConfigurationError: the VEN created no opt ``opt_id``, or cancelled it already.
    """
    if not opts or opt_id not in opts:
        raise ConfigurationError(f"ven {name} has no opt {opt_id!r} to cancel")


def cancel_opt(*, opt_id: str, ven_id: str, request_id: str) -> m.CancelOpt:
    """The ``oadrCancelOpt`` withdrawing the VEN's opt ``opt_id``."""
    return m.CancelOpt(request_id=request_id, opt_id=opt_id, ven_id=ven_id)


def accepted(reply: m.Message, sent: m.CreateOpt | m.CancelOpt) -> bool:
    """Whether ``reply`` accepts ``sent``: an ``oadrCreatedOpt`` answering an ``oadrCreateOpt``, or an
    ``oadrCanceledOpt`` answering an ``oadrCancelOpt``, with response code 200."""
    wanted = m.CreatedOpt if isinstance(sent, m.CreateOpt) else m.CanceledOpt
    return isinstance(reply, wanted) and reply.response.response_code == 200
