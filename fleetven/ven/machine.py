"""One VEN as a state machine without I/O, in the manner of h11 and wsproto.

A :class:`VenMachine` holds a VEN's state: its identity, its registration, its
book of events and answers, its opts and its outbox. Its protocol steps are
generators that **yield ops** and get back what an op gives:

=================  ==============================================  ==========================
op                 what the driver does                            what the step gets back
=================  ==============================================  ==========================
:class:`Send`      builds, signs and posts the message             the VTN's parsed answer
:class:`Answer`    delivers an ``oadrCreatedEvent`` by the outbox  ``None``
:class:`Ask`       calls the event handlers                        ``{eventID: optIn/optOut}``
:class:`Track`     arms an event's status timers                   ``None``
:class:`Save`      writes the registration or events to the store  ``None``
:class:`Flush`     commits the store now                           ``None``
:class:`Reports`   asks the report engine for a message            the message to send
=================  ==============================================  ==========================

and **return** what to do next: a :class:`Next` (poll, register, or register
after losing the registration), or ``None`` when the step ends the VEN's turn.
Nothing here touches a socket, a timer, a task, the store or a clock other than
the one :class:`Context` gives: the tests in ``tests/ven/`` drive these steps
with canned answers, without a loop. The driver, :class:`fleetven.fleet.driver.Ven`,
runs them against the fleet's transport, wheel, store and handlers, and has no
protocol rule of its own; the one path of a poll is transport → parse →
:meth:`VenMachine.poll_reply` → handlers → build → sign → transport.

A step that raises (:class:`~fleetven.exceptions.ProtocolError`, or an op that
failed in the driver) is abandoned where it stands: the state changes that were
to follow a send are only made once the send succeeded.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Generator, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

from fleetven.exceptions import ProtocolError
from fleetven.openadr import model as m
from fleetven.openadr.services import EI_EVENT, EI_REGISTER_PARTY
from fleetven.ven import decide
from fleetven.ven import events as ev
from fleetven.ven import polling as pl
from fleetven.ven import registration as regn
from fleetven.ven.record import VenRecord

if TYPE_CHECKING:
    from fleetven.store import VenState

__all__ = ("VenMachine", "Context", "Send", "Answer", "Ask", "Track", "Save", "Flush", "Reports", "Next",
           "Op", "Step", "POLL", "REGISTER", "LOST", "STATES")

logger = logging.getLogger("fleetven.ven")

#: Every :attr:`VenMachine.state`.
STATES: Final = frozenset(("new", "registering", "registered", "unregistered", "cancelled", "stopped"))

#: The states in which a VEN takes no step.
NOT_LIVE: Final = frozenset(("stopped", "cancelled", "new"))

#: :attr:`Next.step`: poll after :attr:`Next.delay`.
POLL: Final = "poll"
#: :attr:`Next.step`: register again after :attr:`Next.delay`.
REGISTER: Final = "register"
#: :attr:`Next.step`: the VTN no longer knows the VEN (the machine dropped the registration):
#: persist that, then register again after :attr:`Next.delay`.
LOST: Final = "lost"

_NO_IDS: Final[frozenset[str]] = frozenset()

#: The book of a VEN that knows no event (read-only: shared by every such VEN).
NO_EVENTS: Final[Mapping[str, ev.EventRecord]] = MappingProxyType({})


class Context(Protocol):
    """What the steps take from the fleet: shared, deterministic given its random source and clock
    (:class:`fleetven.fleet.driver.Shared` is one)."""

    rng: random.Random
    poll_interval: float

    def request_id(self) -> str:
        """A fresh ``requestID``."""

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (0 first)."""

    def now(self) -> datetime:
        """The current time (aware, UTC)."""


# ---------------------------------------------------------------- the ops


class Send(NamedTuple):
    """Send ``msg`` to ``service`` (by default the message's own); the step gets the VTN's parsed answer."""

    msg: m.Message
    service: str | None = None


class Answer(NamedTuple):
    """Deliver the ``oadrCreatedEvent`` ``created``: into the outbox and committed before it is sent,
    out of it once the VTN answered (kept there, to be sent again before the next poll, when the
    send fails)."""

    created: m.CreatedEvent


class Ask(NamedTuple):
    """Ask ``on_event``/``on_update_event`` about each of ``asked`` (the step gets ``{eventID: opt}``),
    and tell ``on_update_event`` of each of ``implied`` (rule 61: its answer goes nowhere)."""

    asked: list[ev.EventChange]
    implied: list[ev.EventRecord]


class Track(NamedTuple):
    """Cancel ``record``'s status timers and arm ``timers`` (``(seconds from now, status)``; none: disarm)."""

    record: ev.EventRecord
    timers: list[tuple[float, str]]


class Save(NamedTuple):
    """Write to the store: the registration (``changes`` ``None``; ``complete`` says whether its
    follow-up steps are done), or the events of ``changes``."""

    complete: bool = False
    changes: list[ev.EventChange] | None = None


class Flush(NamedTuple):
    """Commit the store now (durability first: what was decided is never decided twice)."""


class Reports(NamedTuple):
    """A report-engine step; the step gets the message to send back.

    ``what``: ``"offer"`` (a fresh ``oadrRegisterReport``, rule 311; ``msg`` ``None``; the VTN's
    earlier requests are forgotten), ``"create"`` (take ``msg``'s requests; ``oadrCreatedReport``
    with the pending list), ``"cancel"`` (``oadrCanceledReport``) or ``"forget"`` (drop every
    request: the registration is gone; nothing back).
    """

    what: str
    msg: m.Message | None = None
    request_id: str | None = None


class Next(NamedTuple):
    """What a step leaves the VEN to do: ``step`` (:data:`POLL`, :data:`REGISTER`, :data:`LOST`)
    after ``delay`` seconds."""

    delay: float
    step: str


Op = Send | Answer | Ask | Track | Save | Flush | Reports
#: A protocol step: yields :data:`Op`, gets their results back, returns its :class:`Next` (or ``None``).
Step = Generator[Op, Any, Next | None]


class VenMachine:
    """One VEN's state and its protocol steps, without I/O (see the module's docstring).

    :param name: the VEN's name (``oadrVenName``).
    :param ven_id: a configured venID (the VTN's replaces it at registration).
    :param poll_freq: seconds between polls until the VTN names its own.
    :param resource_ids, group_ids, party_ids: what events may target this VEN by (rule 22).

    :ivar name: the VEN's name.
    :ivar ven_id: the venID (the VTN's once registered; the configured one before).
    :ivar registration_id: the registrationID, ``None`` while not registered.
    :ivar vtn_id: the vtnID of the VTN it registered with.
    :ivar poll_freq: seconds between polls (the VTN's ``oadrRequestedOadrPollFreq``).
    :ivar book: the known events by eventID, with the answer given to each.
    :ivar created_opts: the opts created and not cancelled, by optID (``None``: none).
    :ivar outbox: the ``oadrCreatedEvent`` not yet acknowledged by the VTN.
    :ivar complete: whether the registration's follow-up steps (reports, events) are all done.
    """

    __slots__ = ("name", "ven_id", "registration_id", "vtn_id", "poll_freq", "_state", "book", "created_opts",
                 "outbox", "complete", "_refused_polls", "_targets")

    def __init__(self, name: str, *, ven_id: str | None = None, poll_freq: float,
                 resource_ids: Iterable[str] = (), group_ids: Iterable[str] = (),
                 party_ids: Iterable[str] = ()) -> None:
        self.name = name
        self.ven_id = ven_id
        self.registration_id: str | None = None
        self.vtn_id: str | None = None
        self.poll_freq = poll_freq
        self._state = "new"
        # The events it knows; most VENs of a fleet know none most of the time, and share one
        # read-only empty book (64 bytes a VEN) until the first oadrDistributeEvent brings one.
        self.book: Mapping[str, ev.EventRecord] = NO_EVENTS
        self.created_opts: dict[str, m.CreateOpt] | None = None
        self.outbox: m.CreatedEvent | None = None
        self.complete = False
        self._refused_polls = 0  # polls in a row answered "not registered"
        # (resource, group, party) IDs; None for most VENs, which events target by venID only
        self._targets: tuple[frozenset[str], frozenset[str], frozenset[str]] | None = None
        self.add_targets(resource_ids=resource_ids, group_ids=group_ids, party_ids=party_ids)

    # ------------------------------------------------------------ state

    @property
    def state(self) -> str:
        """One of :data:`STATES`: ``new``, ``registering``, ``registered``, ``unregistered``
        (the VTN dropped the registration; registering again), ``cancelled`` or ``stopped``."""
        return self._state

    @state.setter
    def state(self, new: str) -> None:
        old = self._state
        if new != old:
            self._state = new
            self._state_changed(old, new)

    def _state_changed(self, old: str, new: str) -> None:
        """Called after every change of :attr:`state` (the driver tells the fleet's observer)."""

    @property
    def live(self) -> bool:
        """Whether the VEN takes steps (it is not ``new``, ``stopped`` or ``cancelled``)."""
        return self._state not in NOT_LIVE

    @property
    def registered(self) -> bool:
        """Whether the VEN holds a registration."""
        return self.registration_id is not None

    @property
    def record(self) -> VenRecord:
        """A snapshot of this VEN's state as a plain record (:class:`~fleetven.ven.record.VenRecord`):
        what to persist, or to hand to another process (:meth:`load`). Changing it changes nothing here."""
        return VenRecord(name=self.name, ven_id=self.ven_id, registration_id=self.registration_id,
                         vtn_id=self.vtn_id, poll_freq=self.poll_freq, state=self._state, book=dict(self.book),
                         opts=dict(self.created_opts) if self.created_opts else None, outbox=self.outbox,
                         complete=self.complete)

    def load(self, record: VenRecord) -> None:
        """Take the state of ``record`` (a :attr:`record` of this VEN, maybe from another process).
        The state is taken as it is, except that a VEN does not resume a step by loading: a
        ``registering`` or ``registered`` record leaves the state alone (:meth:`start` of the
        driver decides), ``cancelled`` is kept."""
        self.ven_id = record.ven_id
        self.registration_id = record.registration_id
        self.vtn_id = sys.intern(record.vtn_id) if record.vtn_id is not None else None
        self.poll_freq = record.poll_freq
        self.book = dict(record.book) if record.book else NO_EVENTS
        self.created_opts = dict(record.opts) if record.opts else None
        self.outbox = record.outbox
        self.complete = record.complete
        if record.state == "cancelled":
            self.state = "cancelled"

    def load_state(self, state: VenState, default_poll: float) -> None:
        """Take what a store kept of this VEN (:class:`~fleetven.store.VenState`): registration,
        events and answers, outbox, opts. Report requests are the report engine's."""
        reg = state.registration
        record = self.record
        if reg is not None:
            if reg.get("ven_id"):
                record.ven_id = reg["ven_id"]
            if reg.get("registration_id"):
                record.registration_id = reg["registration_id"]
                record.vtn_id = reg.get("vtn_id")
                record.poll_freq = regn.shared_period(float(reg.get("poll_freq") or default_poll))
                record.complete = bool(reg.get("complete"))
            if reg.get("cancelled"):
                record.state = "cancelled"
        for event_id, row in state.events.items():
            record.book[event_id] = ev.EventRecord(
                event=row["event"], event_id=event_id, modification_number=row["modification_number"],
                opt=row["opt"], start_offset=row["start_offset"], status=row["status"])
        record.outbox = state.outbox
        record.opts = {opt_id: row["message"] for opt_id, row in state.opts.items()} or None
        self.load(record)

    def registration_row(self, *, signed: bool) -> dict[str, Any]:
        """The registration as the store keeps it. Of the options registered with only
        ``xml_signature`` is kept: the others (profile 2.0b, simpleHttp, pull, not report-only)
        are the same for every fleetven VEN, and a row is kept per VEN (a million of them)."""
        return {
            "ven_id": self.ven_id, "registration_id": self.registration_id, "vtn_id": self.vtn_id,
            "poll_freq": self.poll_freq, "complete": self.complete, "cancelled": self._state == "cancelled",
            "xml_signature": signed,
        }

    # ---------------------------------------------------------- targets

    def add_targets(self, *, resource_ids: Iterable[str] = (), group_ids: Iterable[str] = (),
                    party_ids: Iterable[str] = ()) -> None:
        """Add IDs that events may target this VEN by (rule 22)."""
        old = self._targets or (_NO_IDS, _NO_IDS, _NO_IDS)
        new = (old[0] | frozenset(resource_ids), old[1] | frozenset(group_ids), old[2] | frozenset(party_ids))
        self._targets = new if any(new) else None

    @property
    def resource_ids(self) -> frozenset[str]:
        """The resource IDs events may target this VEN by."""
        return self._targets[0] if self._targets is not None else _NO_IDS

    @property
    def group_ids(self) -> frozenset[str]:
        """The group IDs events may target this VEN by."""
        return self._targets[1] if self._targets is not None else _NO_IDS

    @property
    def party_ids(self) -> frozenset[str]:
        """The party IDs events may target this VEN by."""
        return self._targets[2] if self._targets is not None else _NO_IDS

    def identity(self) -> ev.Identity:
        """What an event's targets may name for this VEN now (rule 22)."""
        return ev.Identity(self.ven_id, resource_ids=self.resource_ids, group_ids=self.group_ids,
                           party_ids=self.party_ids)

    # ---------------------------------------------------------- registration

    def register(self, ctx: Context, *, signed: bool) -> Step:
        """Register (EiRegisterParty): query, create (the VTN's venID, registrationID, vtnID and poll
        frequency adopted, committed at once), reports (:meth:`register_reports`), events.

        :raises ProtocolError: an answer that is not the one expected, or refused.
        :raises RegistrationRejected: the VTN refused the registration.
        """
        regn.check_query((yield Send(m.QueryRegistration(request_id=ctx.request_id()))), name=self.name)
        create = regn.create_registration(name=self.name, ven_id=self.ven_id, registration_id=self.registration_id,
                                          signed=signed, request_id=ctx.request_id())
        adopted = regn.adopt((yield Send(create)), name=self.name, ven_id=self.ven_id, default_poll=ctx.poll_interval)
        ven_id = self.ven_id = adopted.ven_id
        self.registration_id = adopted.registration_id
        self.vtn_id = adopted.vtn_id
        self.poll_freq = adopted.poll_freq
        yield Save(complete=False)
        yield Flush()  # durability first: never registered twice for want of a commit
        if self._state == "unregistered":
            self.state = "registering"
        logger.debug("%s: registered as %s (registration %s, VTN %s, poll every %.3g s)",
                     self.name, ven_id, self.registration_id, self.vtn_id, self.poll_freq)
        yield from self.register_reports(ctx)
        reply = yield Send(m.RequestEvent(request_id=ctx.request_id(), ven_id=ven_id))
        if isinstance(reply, m.DistributeEvent):
            yield from self.distribute(ctx, reply)
        elif isinstance(reply, m.ResponseMessage) and reply.response.response_code != 200:
            raise ProtocolError(f"{self.name}: oadrRequestEvent answered with {reply.response.response_code}",
                                ven=self.name, response_code=reply.response.response_code)
        yield Save(complete=True)
        return None

    def register_reports(self, ctx: Context) -> Step:
        """``oadrRegisterReport`` with reportRequestID 0 (rule 311); the requests an
        ``oadrRegisteredReport`` carries are taken and answered with ``oadrCreatedReport``."""
        offer = yield Reports("offer", request_id=ctx.request_id())
        reply = yield Send(offer)
        if isinstance(reply, m.RegisteredReport):
            if reply.response.response_code != 200:
                logger.warning("%s: oadrRegisterReport answered with %d", self.name, reply.response.response_code)
            if reply.report_requests:
                yield Send((yield Reports("create", reply)))
        elif isinstance(reply, m.ResponseMessage) and reply.response.response_code != 200:
            raise ProtocolError(f"{self.name}: oadrRegisterReport answered with {reply.response.response_code}",
                                ven=self.name, response_code=reply.response.response_code)
        return None

    def resume(self, ctx: Context) -> Step:
        """The first step of a VEN restored with a registration (no new registration): finish the
        interrupted follow-up steps, deliver the outbox, ask for the events (a distribute may have
        died with the process). Returns a :data:`LOST` :class:`Next` when the VTN no longer knows it."""
        ven_id = self.ven_id
        assert ven_id is not None
        if not self.complete:
            yield from self.register_reports(ctx)
        if self.outbox is not None:
            yield Answer(self.outbox)
        reply = yield Send(m.RequestEvent(request_id=ctx.request_id(), ven_id=ven_id))
        if isinstance(reply, m.DistributeEvent):
            yield from self.distribute(ctx, reply)
        elif isinstance(reply, m.ResponseMessage) and reply.response.response_code in pl.NOT_REGISTERED:
            return self.lose(ctx, reply.response.response_code)
        elif isinstance(reply, m.ResponseMessage) and reply.response.response_code != 200:
            raise self.refused("oadrRequestEvent", reply)
        if not self.complete:
            yield Save(complete=True)
        return None

    def lose(self, ctx: Context, code: int) -> Next:
        """The VTN answered ``code`` (``452``/``463``): it does not know this VEN any more. The
        registration is dropped; register afresh, at once the first time, then backing off."""
        delay = pl.lost_delay(self._refused_polls, ctx.backoff)
        self._refused_polls += 1
        logger.warning("%s: the VTN answered a poll with %d (not registered); registering again in %.2f s",
                       self.name, code, delay)
        self.registration_id = None
        self.complete = False
        self.state = "unregistered"
        return Next(delay, LOST)

    # ------------------------------------------------------------------ poll

    def poll_response(self, ctx: Context, reply: m.ResponseMessage) -> Next:
        """The ``oadrResponse`` answer to a poll: wait a period (``200``, the common one), or the
        registration is lost (``452``/``463``), or log and wait a period."""
        code = reply.response.response_code
        step = pl.after_response(code)
        if step is pl.WAIT:
            self._refused_polls = 0
            return Next(self.poll_freq, POLL)
        if step is pl.LOST:
            return self.lose(ctx, code)
        logger.warning("%s: oadrPoll answered with %d (%s)", self.name, code, reply.response.response_description)
        return Next(self.poll_freq, POLL)

    def poll_reply(self, ctx: Context, reply: m.Message) -> Step:
        """Everything a poll's answer leads to, up to the next step: at once after a non-empty one
        (the VTN may have more queued)."""
        if isinstance(reply, m.ResponseMessage):
            return self.poll_response(ctx, reply)
        self._refused_polls = 0
        if isinstance(reply, m.DistributeEvent):
            yield from self.distribute(ctx, reply)
        elif isinstance(reply, m.CreateReport):
            yield Send((yield Reports("create", reply, reply.request_id)))
        elif isinstance(reply, m.CancelReport):
            yield Send((yield Reports("cancel", reply, reply.request_id)))
        elif isinstance(reply, m.CancelPartyRegistration):
            return (yield from self.cancelled_by_vtn(ctx, reply))
        else:
            ack = pl.acknowledgement(reply, self.ven_id)
            if ack is None:
                logger.warning("%s: ignored an unexpected %s in answer to oadrPoll", self.name, reply.message_type)
            elif isinstance(reply, m.RequestReregistration):
                yield Send(ack, EI_REGISTER_PARTY)
                logger.info("%s: the VTN asked for a new registration", self.name)
                return Next(0.0, REGISTER)
            else:
                yield Send(ack)
        return Next(0.0, POLL)

    def cancelled_by_vtn(self, ctx: Context, msg: m.CancelPartyRegistration) -> Step:
        """The VTN's ``oadrCancelPartyRegistration``: answered (``452`` for a registrationID not
        ours, and the VEN polls on); once the answer went out the registration is dropped and the
        VEN registers again after a backoff."""
        answer, accepted = regn.answer_cancel(msg, registration_id=self.registration_id, ven_id=self.ven_id)
        if not accepted:
            logger.warning("%s: the VTN cancelled registration %r, ours is %r: answered 452",
                           self.name, msg.registration_id, self.registration_id)
            yield Send(answer)
            return Next(0.0, POLL)
        yield Send(answer)
        logger.warning("%s: the VTN cancelled the registration; registering again later", self.name)
        self.registration_id = None
        yield Reports("forget")
        self.state = "unregistered"
        yield Save(complete=False)
        return Next(ctx.backoff(0), REGISTER)

    # ---------------------------------------------------------------- events

    def distribute(self, ctx: Context, msg: m.DistributeEvent) -> Step:
        """An ``oadrDistributeEvent``: refused with ``452`` from another vtnID (E1_1080); else the
        book reconciled, the handlers asked, the status timers armed, the events saved and one
        ``oadrCreatedEvent`` delivered (or, with nothing to answer, the decisions committed)."""
        ven_id = self.ven_id
        assert ven_id is not None
        if decide.is_foreign(msg, self.vtn_id):  # exact, case-sensitive (E1_1080)
            logger.warning("%s: oadrDistributeEvent from vtnID %r, registered with %r: answered 452",
                           self.name, msg.vtn_id, self.vtn_id)
            refusal = decide.answer_all(msg, 452, "vtnID does not match the registration", ven_id=ven_id)
            if refusal is not None:
                yield Send(refusal, EI_EVENT)
            return None
        book = self.book if isinstance(self.book, dict) else {}  # NO_EVENTS: a fresh book
        changes, asked, implied = decide.plan(book, msg, identity=self.identity(), rng=ctx.rng)
        if book:
            self.book = book
        tell = decide.implied_to_tell(implied, ctx.now()) if implied else []
        decisions: dict[str, str] = (yield Ask(asked, tell)) if asked or tell else {}
        for change in asked:
            if change.record is not None and change.event_id is not None:
                change.record.opt = decisions[change.event_id]
        now = ctx.now()
        for change in changes:
            timers = decide.timers_for(change, now, ctx.rng)
            if timers is not None and change.record is not None:
                yield Track(change.record, timers)
        yield Save(changes=changes)
        created = ev.created_event(changes, decisions, ven_id=ven_id, request_id=msg.request_id)
        if created is not None:
            yield Answer(created)
        elif decisions:  # durability first: the handler is never asked again about these events
            yield Flush()
        return None

    def status_due(self, record: ev.EventRecord, status: str) -> bool:
        """An event's status timer fired: whether ``status`` is news (then it is the record's now)."""
        if self._state in NOT_LIVE or record.status == status:
            return False
        record.status = status
        return True

    # --------------------------------------------------------------- helpers

    def require_registration(self, what: str) -> str:
        """The venID, for a step that needs a registration.

        :raises ProtocolError: not registered (``response_code`` 463).
        """
        if self.registration_id is None or self.ven_id is None:
            raise ProtocolError(f"{self.name}: {what} needs a registration; the VEN is {self._state}",
                                ven=self.name, response_code=463)
        return self.ven_id

    def refused(self, what: str, reply: m.Message) -> ProtocolError:
        """The error for a VTN answer to ``what`` that is not the one expected, or not ``200``."""
        response = getattr(reply, "response", None)
        code = response.response_code if response is not None else 469
        return ProtocolError(f"{self.name}: {what} answered with {reply.message_type} {code}",
                             ven=self.name, message_type=reply.message_type, response_code=code)
