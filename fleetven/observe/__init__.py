"""Watching a fleet: the :class:`Observer` hook.

A fleet calls its observer (``Fleet(observer=...)``) as things happen: every
request to the VTN with its timing, VEN state changes, event decisions and
statuses, refused signatures, pending report samples. Metrics exporters, live
views and the load tester are observers. Every method is a synchronous call
made on the event loop, in the middle of the fleet's work: keep it cheap (count,
record, return) and never block. The base class does nothing; override what
you need. An observer that raises is logged once and the fleet goes on.

Times are the event loop's clock (``loop.time()``, seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetven.fleet.driver import Ven

__all__ = ("Observer", "Observers")


class Observer:
    """The no-op base of fleet observers."""

    __slots__ = ()

    def request_done(
        self, ven: Ven, message_type: str, due: float, sent: float, done: float, error: BaseException | None
    ) -> None:
        """A request of ``ven`` to the VTN ended.

        :param message_type: the OpenADR name of the message sent (``"oadrPoll"``,
            ``"oadrCreatedEvent"``, ``"oadrUpdateReport"``, ``"oadrQueryRegistration"``, ...).
        :param due: when the request was due by the schedule: a poll's timer deadline, a
            registration attempt's deadline; for a message sent in answer to another, when that
            answer began. Latency measured from here is free of coordinated omission: a slow VTN
            delays the next request, and that delay counts.
        :param sent: just before the request went to the transport.
        :param done: when the answer was read, or the failure known.
        :param error: ``None`` on success, else what failed (a
            :class:`~fleetven.exceptions.TransportError`, ``MessageError``, ``SignatureError``...).
        """

    def ven_state(self, ven: Ven, old: str, new: str) -> None:
        """``ven`` went from state ``old`` to ``new`` (see :data:`fleetven.fleet.driver.STATES`)."""

    def event_answer(self, ven: Ven, event_id: str, opt: str) -> None:
        """``ven`` decided ``opt`` (``"optIn"`` or ``"optOut"``) for event ``event_id``."""

    def event_status(self, ven: Ven, event_id: str, status: str) -> None:
        """Event ``event_id`` of ``ven`` reached ``status`` (``near``, ``active``, ``completed``,
        ``cancelled``)."""

    def signature_refused(self, ven: Ven, error: BaseException) -> None:
        """``ven`` refused a VTN message: its signature, certificate or replay protection failed."""

    def samples_pending(self, ven: Ven, count: int) -> None:
        """``ven`` holds ``count`` report samples the VTN has not acknowledged yet."""


class Observers(Observer):
    """Several observers as one: each call goes to every observer in turn (``Fleet(observer=
    Observers([metrics, live_view]))``)."""

    __slots__ = ("_all",)

    def __init__(self, observers: Sequence[Observer]) -> None:
        self._all = tuple(observers)

    def request_done(self, *args: Any) -> None:
        for o in self._all:
            o.request_done(*args)

    def ven_state(self, *args: Any) -> None:
        for o in self._all:
            o.ven_state(*args)

    def event_status(self, *args: Any) -> None:
        for o in self._all:
            o.event_status(*args)

    def event_answer(self, *args: Any) -> None:
        for o in self._all:
            o.event_answer(*args)

    def signature_refused(self, *args: Any) -> None:
        for o in self._all:
            o.signature_refused(*args)

    def samples_pending(self, *args: Any) -> None:
        for o in self._all:
            o.samples_pending(*args)
