"""The driver of the fleet's VENs: runs each VEN's state machine against the fleet's I/O.

A :class:`Ven` is a :class:`~fleetven.ven.machine.VenMachine` (its state and its
protocol steps, without I/O) plus the handles one VEN needs to run: the one
timer it waits on, the step running now, its report engine. Everything that can
be shared lives once per fleet in a :class:`Shared`: the
:class:`~fleetven.http.transport.Transport`, the
:class:`~fleetven.timerwheel.TimerWheel`, the store, the random source, the
handler table, the fleet-wide reports and the settings.
:class:`fleetven.fleet.core.Fleet` builds the :class:`Shared` and the VENs; user
code gets VENs from it.

How a VEN runs: every step is a timer on the shared wheel (register, poll,
status transitions). When a timer fires, the driver runs the machine's step
(:meth:`~fleetven.ven.machine.VenMachine.register`, ``resume``, ``poll_reply``)
and does what each op it yields says (:meth:`Ven._drive`): send, deliver the
outbox, ask the handlers, arm status timers, write to the store; then it arms
the VEN's next timer from the :class:`~fleetven.ven.machine.Next` the step
returns. A step that needs I/O runs in one task for that step only; no VEN owns
a task that sleeps in a loop.

* **Registration**: retried with capped exponential backoff with full jitter,
  forever. The first poll follows at a random phase within the poll period.
  At most ``Shared.max_registering`` VENs register at once; the others wait
  in a first-in first-out queue, without a task.
* **Polling**: ``oadrPoll``; the common idle answer is read without a task
  (the fast path); anything else runs ``poll_reply`` in a task.
* **Events**: handlers in parallel, with a timeout; one ``oadrCreatedEvent``
  per poll cycle; status transitions on the wheel.
* **Durable state** (:mod:`fleetven.store`): the registration, the events with
  their decisions, the ``oadrCreatedEvent`` not yet acknowledged (the outbox),
  the opts and the report requests and samples go to the fleet's store. A
  registration received and a decision about to be sent are committed before
  the next request; the rest with the fleet's next batch. A VEN that the fleet
  restores from its store (:meth:`Ven.restore`) does not register again: it
  finishes an interrupted registration, delivers its outbox, asks for its
  events (a distribute may have died with the process) and polls.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from lxml import etree

from fleetven.exceptions import (
    ConfigurationError,
    FencedWrite,
    MessageError,
    NotOwner,
    ProtocolError,
    SignatureError,
    StoreError,
    TransportError,
)
from fleetven.http.transport import EI_EVENT, EI_REGISTER_PARTY, EI_REPORT, OADR_POLL, SERVICE_OF
from fleetven.messages import build_message, build_signed_object, parse_document, parse_message
from fleetven.messages.build import PAYLOAD_CLOSE, PAYLOAD_OPEN
from fleetven.openadr import model as m
from fleetven.signing import ReplayGuard, sign_message, verify_message
from fleetven.store import MemoryStore, Store, VenState
from fleetven.ven import decide
from fleetven.ven import events as ev
from fleetven.ven import opt as eiopt
from fleetven.ven.machine import (
    LOST,
    POLL,
    STATES,
    Answer,
    Ask,
    Flush,
    Next,
    Reports,
    Save,
    Send,
    Step,
    Track,
    VenMachine,
)
from fleetven.ven.reports import ReportEngine, ReportRuntime, ReportSpec, make_report_spec

if TYPE_CHECKING:
    from fleetven.http.transport import Call, Transport
    from fleetven.observe import Observer
    from fleetven.signing import SigningKey, Verifier
    from fleetven.timerwheel import Timer, TimerWheel

__all__ = ("Ven", "Shared", "HANDLER_NAMES", "STATES")

logger = logging.getLogger("fleetven.ven")

UTC = timezone.utc

#: The handlers a fleet or a VEN accepts.
HANDLER_NAMES: Final = frozenset(("on_event", "on_update_event", "on_event_status"))

#: Failures a protocol step recovers from by retrying later.
_RETRYABLE: Final = (TransportError, MessageError, ProtocolError)

#: At most this many VEN failures (the first of each VEN's run of them) are logged at WARNING in a
#: window of FAILURE_WINDOW_S seconds, fleet-wide; the others at DEBUG, counted in one warning.
FAILURE_WARNINGS: Final = 20
FAILURE_WINDOW_S: Final = 10.0

#: The states in which a VEN takes no step.
_NOT_LIVE: Final = frozenset(("stopped", "cancelled", "new"))

Handler = Callable[..., Any]

#: What :meth:`Ven._call_handler` returns for a handler that timed out or raised.
_FAILED: Final = object()

#: Stands for the venID in the fleet's ``oadrPoll`` template.
_VEN_ID_MARK: Final = "fleetven-ven-id-0f6c2a"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Shared:
    """What every VEN of a fleet shares; one per fleet, built by :class:`~fleetven.fleet.core.Fleet`.

    It is the :class:`~fleetven.ven.machine.Context` of the VENs' protocol steps.

    :param rng: the random source (poll phases, backoff jitter, ``startAfter``).
    :param poll_interval: seconds between polls when the VTN names no frequency.
    :param handler_timeout: seconds a handler may take before it counts as failed.
    :param backoff_base: first retry delay cap, in seconds.
    :param backoff_cap: largest retry delay cap, in seconds.
    :param max_registering: most VENs registering at once; the others wait in
        :attr:`registration_queue`, first in first out, holding no task.
    :param store: where the VENs keep their durable state (default: a new :class:`~fleetven.store.MemoryStore`).
    :param max_pending_samples: the most report samples one report request holds unacknowledged.
    """

    __slots__ = (
        "transport",
        "wheel",
        "rng",
        "handlers",
        "specs",
        "poll_interval",
        "handler_timeout",
        "backoff_base",
        "backoff_cap",
        "tasks",
        "max_registering",
        "registering",
        "registration_queue",
        "verifier",
        "observer",
        "replay_window",
        "clock_skew",
        "store",
        "max_pending_samples",
        "reports",
        "_poll_templates",
        "_replay",
        "_ids",
        "_warned",
        "_burst_end",
        "_burst_warned",
        "_burst_quiet",
    )

    transport: Transport | None
    wheel: TimerWheel | None

    def __init__(
        self,
        *,
        rng: random.Random,
        poll_interval: float,
        handler_timeout: float,
        backoff_base: float,
        backoff_cap: float,
        max_registering: int = 128,
        verifier: Verifier | None = None,
        replay_window: float = 5.0,
        clock_skew: float = 1.0,
        store: Store | None = None,
        max_pending_samples: int = 10_000,
    ) -> None:
        self.transport = None
        self.wheel = None
        self.rng = rng
        self.handlers: dict[str, Handler] = {}
        self.specs: list[ReportSpec] = []
        self.poll_interval = poll_interval
        self.handler_timeout = handler_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.tasks: set[asyncio.Task[None]] = set()
        self.max_registering = max_registering
        #: VENs registering now (each holds a task).
        self.registering = 0
        #: VENs waiting for a registration slot, in order (stopped ones are skipped when their turn comes).
        self.registration_queue: deque[Ven] = deque()
        #: Checks every VTN message's signature when set (one per fleet, shared).
        self.verifier = verifier
        #: Told what the fleet does (:class:`fleetven.observe.Observer`), when set.
        self.observer: Observer | None = None
        self.replay_window = replay_window
        self.clock_skew = clock_skew
        self.store: Store = store if store is not None else MemoryStore()
        self.max_pending_samples = max_pending_samples
        #: What every VEN's report engine shares; set by the fleet while it runs.
        self.reports: ReportRuntime | None = None
        self._poll_templates: tuple[bytes, bytes, bytes, bytes] | None = None
        self._replay: ReplayGuard | None = None
        self._ids = itertools.count(1)
        self._warned: set[str] = set()
        # the failure-warning window (failure_warning_allowed): its end (loop time), the warnings
        # logged in it, and the failures logged at DEBUG instead
        self._burst_end = 0.0
        self._burst_warned = 0
        self._burst_quiet = 0

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0 first): uniform in ``[0, min(cap, base * 2**attempt)]``."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(attempt, 60))
        return self.rng.uniform(0.0, ceiling)

    def request_id(self) -> str:
        """A fresh ``requestID``, unique within the fleet."""
        return f"fv-{next(self._ids)}"

    def now(self) -> datetime:
        """The current time, aware, in UTC (the clock of the VENs' protocol steps)."""
        return _utcnow()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task the fleet tracks (and cancels when it stops)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def poll_body(self, ven_id: str) -> bytes:
        """The ``oadrPoll`` document of ``ven_id``: exactly ``build_message(Poll(ven_id=ven_id))``, made
        from one fleet-wide template around the venID when it needs no escaping (the usual case)."""
        if not _plain(ven_id):
            return build_message(m.Poll(ven_id=ven_id))
        template = self._poll_templates or self._make_poll_templates()
        return b"".join((template[2], ven_id.encode(), template[3]))

    def poll_object(self, ven_id: str) -> bytes:
        """The ``oadrSignedObject`` of ``ven_id``'s ``oadrPoll``: exactly ``build_signed_object(Poll(...))``,
        from the same template as :meth:`poll_body` (what a signing VEN signs)."""
        if not _plain(ven_id):
            return build_signed_object(m.Poll(ven_id=ven_id))
        template = self._poll_templates or self._make_poll_templates()
        return b"".join((template[0], ven_id.encode(), template[1]))

    def _make_poll_templates(self) -> tuple[bytes, bytes, bytes, bytes]:
        # build_message(msg) is PAYLOAD_OPEN + build_signed_object(msg) + PAYLOAD_CLOSE
        before, _, after = build_signed_object(m.Poll(ven_id=_VEN_ID_MARK)).partition(_VEN_ID_MARK.encode())
        template = self._poll_templates = (before, after, PAYLOAD_OPEN + before, after + PAYLOAD_CLOSE)
        return template

    def replay_guard(self) -> ReplayGuard:
        """The fleet's replay guard, made at the first verified message: one for all its VENs, each
        checking in its own scope (its name), so that a nonce is a replay only to the VEN that saw it."""
        guard = self._replay
        if guard is None:
            guard = self._replay = ReplayGuard(self.replay_window, self.clock_skew)
        return guard

    def registration_over(self, _task: asyncio.Task[None]) -> None:
        """A registration attempt ended (done, failed or cancelled): give its slot to the next VEN waiting."""
        self.registering -= 1
        queue = self.registration_queue
        while queue and self.registering < self.max_registering:
            queue.popleft().slot_free()

    def observe(self, method: Callable[..., None], *args: Any) -> None:
        """Call an observer method; one that raises is logged (once per method) and the fleet goes on."""
        try:
            method(*args)
        except Exception:
            name = getattr(method, "__qualname__", repr(method))
            if name not in self._warned:
                self._warned.add(name)
                logger.exception("the fleet's observer failed in %s (logged once; the fleet goes on)", name)

    def signature_refused(self, ven: str, exc: SignatureError) -> None:
        """Log a refused VTN message: at ERROR the first time its reason is seen in this fleet,
        with the setting that asks for it and what would change it; at DEBUG after that (the
        observer still hears of each one)."""
        reason = getattr(exc, "reason", None) or "signature"
        key = "refused:" + reason
        if key in self._warned:
            logger.debug("%s: refused a VTN message: %s", ven, exc)
            return
        self._warned.add(key)
        logger.error("%s: refused a VTN message: %s. %s (logged once per reason; later refusals at DEBUG)",
                     ven, exc, _remedy(reason, self.verifier))

    def tls_refused(self, ven: str, exc: BaseException) -> bool:
        """Whether ``exc`` comes from a refused VTN TLS certificate; if so, log it at ERROR the
        first time in this fleet, naming the settings that decide it."""
        cause: BaseException | None = exc
        seen = 0
        while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError) and seen < 8:
            cause = cause.__cause__ or cause.__context__
            seen += 1
        if not isinstance(cause, ssl.SSLCertVerificationError):
            return False
        if "refused:tls" not in self._warned:
            self._warned.add("refused:tls")
            logger.error("%s: the VTN's TLS certificate was refused: %s. It is checked against ca_file (the "
                         "system's CAs without one) and, with check_hostname, must name the VTN's host "
                         "(logged once; later refusals at DEBUG)", ven, cause.verify_message or cause)
        return True

    def failure_warning_allowed(self) -> bool:
        """Whether a VEN's failure (the first of a run of them) may be logged at WARNING now: at most
        :data:`FAILURE_WARNINGS` a :data:`FAILURE_WINDOW_S` fleet-wide. When a whole fleet fails at
        once (the VTN went away, the fleet cannot keep up) a warning per VEN would be a million
        lines: the rest of the window's are logged at DEBUG, and one warning at its end counts them."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._burst_end:
            self._burst_end, self._burst_warned, self._burst_quiet = now + FAILURE_WINDOW_S, 0, 0
        if self._burst_warned < FAILURE_WARNINGS:
            self._burst_warned += 1
            return True
        if not self._burst_quiet:
            loop.call_at(self._burst_end, self._count_quiet_failures, self._burst_end)
        self._burst_quiet += 1
        return False

    def _count_quiet_failures(self, window_end: float) -> None:
        quiet = self._burst_quiet
        if quiet and self._burst_end == window_end:
            self._burst_quiet = 0
            logger.warning("%d more VEN failures in the last %.0f s were logged at DEBUG only (the fleet logs at "
                           "most %d a %.0f s at WARNING)", quiet, FAILURE_WINDOW_S, FAILURE_WARNINGS,
                           FAILURE_WINDOW_S)

    def warn_once(self, key: str, text: str, *args: Any) -> None:
        """Log a warning the first time ``key`` is seen in this fleet."""
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(text, *args)


class Ven(VenMachine):
    """One VEN identity of a fleet. Made by :meth:`fleetven.fleet.core.Fleet.add_ven`, not directly.

    Its state and protocol are its :class:`~fleetven.ven.machine.VenMachine`'s.

    :ivar name: the VEN's name (``oadrVenName``) and its key in ``fleet.vens``.
    :ivar ven_id: the venID (the VTN's once registered; the configured one before).
    :ivar registration_id: the registrationID, ``None`` while not registered.
    :ivar vtn_id: the vtnID of the VTN it registered with.
    :ivar state: one of :data:`STATES`.
    :ivar poll_freq: seconds between polls (the VTN's ``oadrRequestedOadrPollFreq``).
    """

    __slots__ = (
        "cert",
        "key",
        "passphrase",
        "_shared",
        "_ssl",
        "_handlers",
        "_specs",
        "_engine",
        "_numbered",
        "_timer",
        "_task",
        "_failures",
        "_idle_reply",
        "_queued",
        "_signer",
        "_watch",
        "_call",
        "_poll_timer",
    )

    def __init__(
        self,
        shared: Shared,
        name: str,
        *,
        ven_id: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        passphrase: str | None = None,
        resource_ids: Iterable[str] = (),
        group_ids: Iterable[str] = (),
        party_ids: Iterable[str] = (),
        ssl_context: ssl.SSLContext | None = None,
        signer: SigningKey | None = None,
    ) -> None:
        super().__init__(name, ven_id=ven_id, poll_freq=shared.poll_interval, resource_ids=resource_ids,
                         group_ids=group_ids, party_ids=party_ids)
        self.cert = cert
        self.key = key
        self.passphrase = passphrase
        self._shared = shared
        self._ssl = ssl_context
        self._handlers: dict[str, Handler] | None = None
        self._specs: list[ReportSpec] | None = None
        self._engine: ReportEngine | None = None
        # the highest report sample number given so far by an engine no longer running (the next
        # engine numbers on after it: a venID never uses one number twice)
        self._numbered = 0
        self._timer: Timer | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._idle_reply: int | None = None
        self._queued = False  # waiting in the fleet's registration queue
        self._signer = signer  # signs every message this VEN sends (None: unsigned)
        self._watch: tuple[float, float] | None = None  # (due, sent) of an observed fast-path poll in flight
        self._call: Call | None = None  # the poll in flight on the fast path (no task then)
        # The poll timer's callback, bound once: a VEN arms it every poll, and a bound method made
        # each time would be one more object per poll for the garbage collector to promote.
        self._poll_timer: Callable[[], None] = self._on_poll_timer

    def __repr__(self) -> str:
        return f"<Ven {self.name!r} ven_id={self.ven_id!r} state={self._state}>"

    # ------------------------------------------------------------ public API

    def _state_changed(self, old: str, new: str) -> None:
        observer = self._shared.observer
        if observer is not None:
            self._shared.observe(observer.ven_state, self, old, new)

    @property
    def events(self) -> dict[str, m.Event]:
        """The events this VEN knows, by eventID (a fresh dict of the latest event dicts)."""
        return {event_id: record.event for event_id, record in self.book.items()}

    @property
    def opts(self) -> dict[str, m.CreateOpt]:
        """The opts this VEN created and did not cancel, by optID (kept across restarts)."""
        return dict(self.created_opts) if self.created_opts else {}

    @property
    def answers(self) -> dict[str, str]:
        """The answer (``"optIn"`` or ``"optOut"``) given to each known event, by ``eventID``."""
        return {event_id: record.opt for event_id, record in self.book.items() if record.opt is not None}

    @property
    def signer(self) -> SigningKey | None:
        """The key this VEN signs its messages with (shared with the VENs of the same identity),
        ``None`` when it sends them unsigned."""
        return self._signer

    @property
    def answer_pending(self) -> bool:
        """Whether an ``oadrCreatedEvent`` waits for the VTN's acknowledgement (the outbox; it is sent
        again before the next poll, and kept in the store until then)."""
        return self.outbox is not None

    def add_handler(self, name: str, handler: Handler) -> None:
        """Set this VEN's own handler; it wins over the fleet's.

        :param name: ``"on_event"``, ``"on_update_event"`` or ``"on_event_status"``.
        :param handler: a function or coroutine function: ``on_event(ven, event)`` and
            ``on_update_event(ven, event)`` return ``"optIn"`` or ``"optOut"``;
            ``on_event_status(ven, event, status)``.
        :raises ConfigurationError: an unknown handler name or a handler that is not callable.
        """
        check_handler(name, handler)
        if self._handlers is None:
            self._handlers = {}
        self._handlers[name] = handler

    def handler(self, name: str) -> Handler | None:
        """The handler in force for ``name``: this VEN's own, else the fleet's, else ``None``."""
        own = self._handlers
        if own is not None:
            found = own.get(name)
            if found is not None:
                return found
        return self._shared.handlers.get(name)

    def add_report(self, callback: Callable[..., Any], resource_id: str, measurement: str | None = None,
                   **options: Any) -> tuple[str, str]:
        """Offer a report from this VEN only (OpenLEADR's ``add_report`` arguments).

        Reports added after registration are advertised at the next registration.

        :param callback: sampled for each value (see :class:`fleetven.ven.reports.ReportSpec`).
        :param resource_id: the resource the data point belongs to.
        :param measurement: the quantity measured (e.g. ``"power_real"``).
        :returns: ``(report_specifier_id, r_id)``.
        :raises ConfigurationError: invalid arguments.
        """
        if self._specs is None:
            self._specs = []
        spec = make_report_spec(callback, resource_id, measurement, existing=self._specs, **options)
        self._specs.append(spec)
        return spec.report_specifier_id, spec.r_id

    async def create_opt(
        self,
        opt_type: str,
        opt_reason: str,
        *,
        event_id: str | None = None,
        modification_number: int | None = None,
        vavailability: Sequence[m.AvailableWindow | tuple[datetime, timedelta] | dict[str, Any]] | None = None,
        targets: Sequence[m.Target] | None = None,
        market_context: str | None = None,
        opt_id: str | None = None,
        signal_target_mrid: str | None = None,
    ) -> str:
        """Send an ``oadrCreateOpt``: an availability schedule or an opt for one event.

        :param opt_type: ``"optIn"`` or ``"optOut"``.
        :param opt_reason: the reason (``"economic"``, ``"emergency"``, ``"mustRun"``, ...).
        :param event_id: the event opted (with ``modification_number``).
        :param vavailability: availability windows, as :class:`~fleetven.openadr.model.AvailableWindow`,
            ``(dtstart, duration)`` tuples or ``{"dtstart", "duration"}`` dicts.
        :param targets: the opt's targets; by default this VEN (``[{"ven_id": ven_id}]``).
        :param opt_id: by default a random one.
        :returns: the optID, once the VTN answered ``oadrCreatedOpt`` with 200.
        :raises ProtocolError: not registered, or the VTN refused (field ``response_code``).
        :raises TransportError: the request failed.
        """
        eiopt.check_create(opt_type, opt_reason, event_id=event_id, vavailability=vavailability, name=self.name)
        ven_id = self.require_registration("create_opt")
        if opt_id is None:
            opt_id = f"opt-{self._shared.rng.getrandbits(64):016x}"
        msg = eiopt.create_opt(
            opt_id=opt_id, opt_type=opt_type, opt_reason=opt_reason, ven_id=ven_id, created=_utcnow(),
            request_id=self._shared.request_id(), market_context=market_context, vavailability=vavailability,
            event_id=event_id, modification_number=eiopt.modification_number(self.book, event_id,
                                                                          modification_number),
            targets=targets, signal_target_mrid=signal_target_mrid,
        )
        reply = await self.send(msg)
        if not eiopt.accepted(reply, msg):
            raise self.refused("oadrCreateOpt", reply)
        if self.created_opts is None:
            self.created_opts = {}
        self.created_opts[opt_id] = msg
        self._shared.store.put_opt(self.name, opt_id, {"message": msg})
        return opt_id

    async def cancel_opt(self, opt_id: str) -> None:
        """Send an ``oadrCancelOpt`` for ``opt_id``.

        :raises ConfigurationError: this VEN created no opt ``opt_id`` (or cancelled it already).
        :raises ProtocolError: not registered, or the VTN refused (field ``response_code``).
        :raises TransportError: the request failed.
        """
        eiopt.check_cancel(self.created_opts, opt_id, name=self.name)
        ven_id = self.require_registration("cancel_opt")
        msg = eiopt.cancel_opt(opt_id=opt_id, ven_id=ven_id, request_id=self._shared.request_id())
        reply = await self.send(msg)
        if not eiopt.accepted(reply, msg):
            raise self.refused("oadrCancelOpt", reply)
        if self.created_opts is not None:
            self.created_opts.pop(opt_id, None)
        self._shared.store.drop_opt(self.name, opt_id)

    async def cancel_registration(self) -> None:
        """Cancel the registration at the VTN (``oadrCancelPartyRegistration``) and stop polling.

        The VEN stays in the fleet in state ``"cancelled"``; it does not register again.

        :raises ProtocolError: not registered, or the VTN refused (field ``response_code``).
        :raises TransportError: the request failed (the VEN keeps polling).
        """
        ven_id = self.require_registration("cancel_registration")
        assert self.registration_id is not None
        msg = m.CancelPartyRegistration(
            request_id=self._shared.request_id(), registration_id=self.registration_id, ven_id=ven_id
        )
        reply = await self.send(msg)
        if not isinstance(reply, m.CanceledPartyRegistration) or reply.response.response_code != 200:
            raise self.refused("oadrCancelPartyRegistration", reply)
        if self._engine is not None:
            self._engine.forget()
        self._halt("cancelled")
        self.registration_id = None
        self._save_registration(complete=False)
        logger.info("%s: registration cancelled", self.name)

    async def send(self, msg: m.Message, service: str | None = None, *, due: float | None = None) -> m.Message:
        """Send one message to the VTN and return its parsed answer.

        :param service: the service to post to; by default the message's (:data:`fleetven.http.transport.SERVICE_OF`).
        :param due: when the message was due (``loop.time()``), for the fleet's observer; default: now.
        :raises TransportError: the request failed.
        :raises MessageError: the answer could not be read.

        An ``oadrCreatedEvent`` (the answer the utility waits for) is sent ahead of the requests
        waiting for a connection (``Transport.request(urgent=True)``): when an event reaches a
        whole fleet at once, the answers do not queue behind every VEN's next poll.
        """
        transport = self._shared.transport
        if transport is None:
            raise TransportError(f"the fleet is not running (ven {self.name})", ven=self.name)
        observer = self._shared.observer
        urgent = type(msg) is m.CreatedEvent
        if observer is None:
            body = build_message(msg) if self._signer is None else sign_message(msg, self._signer)
            data = await transport.request(service or SERVICE_OF[type(msg)], body, ssl=self._ssl, ven=self.name,
                                           urgent=urgent)
            return self._decode(data, transport.max_size)
        clock = asyncio.get_running_loop().time
        due = clock() if due is None else due
        error: BaseException | None = None
        sent = due
        try:
            body = build_message(msg) if self._signer is None else sign_message(msg, self._signer)
            sent = clock()
            data = await transport.request(service or SERVICE_OF[type(msg)], body, ssl=self._ssl, ven=self.name,
                                           urgent=urgent)
            return self._decode(data, transport.max_size)
        except Exception as exc:
            error = exc
            raise
        finally:
            self._shared.observe(observer.request_done, self, msg.message_type, due, sent, clock(), error)

    def _poll_body(self, ven_id: str) -> bytes:
        """The ``oadrPoll`` document to send now (signed afresh each time when the VEN signs)."""
        if self._signer is None:
            return self._shared.poll_body(ven_id)
        return sign_message(self._shared.poll_object(ven_id), self._signer)

    def _decode(self, data: bytes, max_size: int) -> m.Message:
        """Read a VTN message; when the fleet verifies signatures, only a verified one gets through.

        :raises SignatureError: the signature, its certificate or its replay protection failed
            (logged at ERROR once per reason in the fleet, see :meth:`Shared.signature_refused`).
        :raises MessageError: the bytes are not a valid OpenADR message.
        """
        verifier = self._shared.verifier
        if verifier is None:
            return parse_message(data, max_size=max_size)
        try:
            return verify_message(data, verifier, self._shared.replay_guard(), max_size=max_size, scope=self.name)
        except SignatureError as exc:
            self._shared.signature_refused(self.name, exc)
            observer = self._shared.observer
            if observer is not None:
                self._shared.observe(observer.signature_refused, self, exc)
            raise

    async def _refuse(self, data: bytes, exc: SignatureError) -> None:
        """Answer a refused VTN message with ``oadrResponse`` 463 on its service, so the VTN learns why."""
        message_type, request_id = _peek(data)
        service = _SERVICE_BY_NAME.get(message_type or "", OADR_POLL)
        response = m.Response(response_code=463, request_id=request_id,
                              response_description=f"signature refused: {getattr(exc, 'reason', exc)}"[:200])
        try:
            await self.send(m.ResponseMessage(response=response, ven_id=self.ven_id), service)
        except (TransportError, MessageError) as err:
            logger.debug("%s: the 463 answer to a refused message failed: %s", self.name, err)

    # -------------------------------------------------------- fleet control

    @property
    def busy(self) -> bool:
        """Whether the VEN has a request or a step in flight (a poll, a handler, a report being sent)."""
        task, engine = self._task, self._engine
        return self._call is not None or (task is not None and not task.done()) or \
            (engine is not None and engine.busy)

    @property
    def reports_busy(self) -> bool:
        """Whether the VEN's report engine has a send or an async sample in flight."""
        return self._engine is not None and self._engine.busy

    async def drain_reports(self) -> None:
        """Wait until the report sends and async samples in flight have ended."""
        if self._engine is not None:
            await self._engine.drain()

    def start(self, *, within: float | None = None) -> None:
        """Start registering (called by the fleet when it starts, or when it adds a VEN while running).

        A VEN that holds a registration (kept from an earlier run, see :meth:`restore`) does not
        register again: at a random phase within its poll period (or within ``within`` seconds,
        when given) it resumes (finishes an interrupted registration, delivers its outbox, asks for
        its events) and polls."""
        if self._state in ("new", "stopped"):
            if self.registration_id is not None:
                self.state = "registered"
                now = _utcnow()
                for record in self.book.values():
                    self._track(record, decide.restored_timers(record, now))
                spread = self.poll_freq if within is None else min(within, self.poll_freq)
                self._arm(self._shared.rng.uniform(0.0, spread), self._on_resume_timer)
                return
            self.state = "registering"
            self._arm(0.0, self._on_register_timer)

    def restore(self, state: VenState | None) -> None:
        """Take back what the fleet's store kept of this VEN (the fleet calls this when it starts,
        before :meth:`start`, with the wheel running): registration, events and decisions, the
        unacknowledged ``oadrCreatedEvent``, opts, report requests and their samples."""
        if state is None:
            return
        self.load_state(state, self._shared.poll_interval)
        # report samples are numbered on after the last number the VTN may have seen
        self._numbered = max(self._numbered, state.last_seq)
        if self._engine is not None:
            self._engine.last_seq = max(self._engine.last_seq, self._numbered)
        orphans = set(state.samples) - set(state.requests)
        if self.registration_id is None or self._state == "cancelled":
            orphans |= set(state.requests)
        elif state.requests:
            self._report_engine().restore(state.requests, state.samples, state.dropped)
        for request_id in orphans:
            self._shared.store.drop_request(self.name, request_id)

    # ---------------------------------------------------------- durable state

    def _save_registration(self, *, complete: bool) -> None:
        self.complete = complete
        self._shared.store.put_registration(self.name, self.registration_row(signed=self._signer is not None))

    def _save_event(self, record: ev.EventRecord) -> None:
        self._shared.store.put_event(self.name, record.event_id, {
            "event": record.event, "modification_number": record.modification_number, "opt": record.opt,
            "start_offset": record.start_offset, "status": record.status,
        })

    def _save_changes(self, changes: list[ev.EventChange]) -> None:
        store = self._shared.store
        for change in changes:
            kind = change.kind
            if kind in ("new", "modified", "cancelled") and change.record is not None:
                self._save_event(change.record)
            elif kind == "implied_cancel" and change.event_id is not None:
                store.drop_event(self.name, change.event_id)

    def _samples_pending(self, count: int) -> None:
        observer = self._shared.observer
        if observer is not None:
            self._shared.observe(observer.samples_pending, self, count)

    def _on_resume_timer(self) -> None:
        self._timer = None
        if self.live:
            self._task = self._shared.spawn(self._resume())

    async def _resume(self) -> None:
        """The first step of a VEN restored with a registration (:meth:`VenMachine.resume`); then it polls."""
        try:
            lost = await self._drive(self.resume(self._shared))
        except _RETRYABLE as exc:
            self._back_off(self._resume_later, logging.DEBUG if self._failures else logging.WARNING,
                           "%(ven)s: resuming after a restart failed (%(n)d in a row): %(exc)s; again in %(delay).2f s",
                           exc)
            return
        except Exception as exc:
            self._back_off(self._resume_later, logging.ERROR,
                           "%(ven)s: resuming after a restart crashed; again in %(delay).2f s", exc, trace=True)
            return
        if lost is not None:
            self._follow(lost)
            return
        self._failures = 0
        if self.live:
            self._arm(0.0, self._poll_timer)

    def stop(self) -> None:
        """Stop every timer and the running step (called by the fleet); the VEN can be started again."""
        self._halt("stopped")

    def _halt(self, state: str) -> None:
        self.state = state
        self._queued = False  # skipped when its turn in the registration queue comes
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._call is not None:
            self._call.cancel()
            self._call = None
            self._watch = None
        task = self._task
        self._task = None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
        if self._engine is not None:
            self._drop_engine()
        for record in self.book.values():
            _cancel_timers(record)

    async def deliver_answer(self) -> None:
        """Send the ``oadrCreatedEvent`` waiting for the VTN's acknowledgement, if any (the fleet calls
        this before it stops); when that fails it stays in the outbox.

        :raises TransportError: the request failed.
        :raises MessageError: the answer could not be read.
        """
        created = self.outbox
        if created is not None:
            await self._send_created_event(created)

    def slot_free(self) -> None:
        """A registration slot is free for this VEN (its turn in the fleet's registration queue,
        called by :meth:`Shared.registration_over`): it registers now, unless it left the queue
        (stopped or removed) in the meantime."""
        if self._queued:
            self._queued = False
            if self.live:
                self._begin_registration()

    @property
    def next_step_at(self) -> float | None:
        """When the VEN's next step (poll or registration attempt) is due, in the wheel's clock
        (``loop.time()``); ``None`` while a step runs, while it waits for a registration slot, or
        while the VEN is stopped."""
        timer = self._timer
        return timer.when if timer is not None and timer.pending else None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task of the step running now, if any."""
        return self._task

    # ------------------------------------------------------------ scheduling

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        """Arm the VEN's one timer for its next step. A step calls this last, so the finished
        step's task is let go here (an idle VEN holds no task)."""
        self._task = None
        wheel = self._shared.wheel
        if wheel is None or self._state in _NOT_LIVE:
            return
        # the VEN's one handle, re-armed (a pending one is cancelled first): no new one per step
        self._timer = wheel.rearm(self._timer, max(delay, 0.0), callback)

    def _follow(self, nxt: Next) -> None:
        """Arm what a step's :class:`~fleetven.ven.machine.Next` says: a poll, or a registration
        (after persisting the loss of the registration, for :data:`~fleetven.ven.machine.LOST`)."""
        step = nxt.step
        if step is POLL:
            if self._state not in _NOT_LIVE:
                self._arm(nxt.delay, self._poll_timer)
            return
        if step is LOST:
            self._save_registration(complete=False)
        self._retry_registration(nxt.delay)

    def _on_register_timer(self) -> None:
        self._timer = None
        if self.live and not self._queued:
            shared = self._shared
            if shared.registering >= shared.max_registering:
                self._queued = True
                shared.registration_queue.append(self)
            else:
                self._begin_registration()

    def _begin_registration(self) -> None:
        """Take a registration slot and run one registration attempt in a task."""
        shared = self._shared
        shared.registering += 1
        task = self._task = shared.spawn(self._register())
        task.add_done_callback(shared.registration_over)

    def _on_poll_timer(self) -> None:
        timer = self._timer  # kept (it has run): the next _arm re-arms it
        if self._state in _NOT_LIVE:
            return
        shared = self._shared
        transport = shared.transport
        ven_id = self.ven_id
        if (
            transport is None
            or ven_id is None
            or self.outbox is not None
        ):
            # The poll was due at the timer's deadline: what an observer measures latency from.
            self._task = shared.spawn(self._poll(due=timer.when if timer is not None else None))
            return
        # The fast path, for the common poll (signed or not): no task, no coroutine. The request goes out
        # on an idle pooled connection at once and _on_poll_answer, called back by the
        # connection's protocol, completes the cycle.
        if shared.observer is not None:
            sent = asyncio.get_running_loop().time()
            self._watch = (min(timer.when, sent) if timer is not None else sent, sent)
        try:
            body = shared.poll_body(ven_id) if self._signer is None else self._poll_body(ven_id)
            self._call = transport.post(OADR_POLL, body, self._on_poll_answer, ssl=self._ssl, ven=self.name)
        except Exception as exc:
            self._poll_error(exc)

    def _on_poll_answer(self, data: bytes | None, error: BaseException | None) -> None:
        """The fast path's poll answer: an ``oadrResponse`` ends the cycle here, any other message
        continues in a task (:meth:`_poll`), exactly as if the coroutine had read it."""
        self._call = None
        shared = self._shared
        watch = self._watch
        if watch is not None:
            self._watch = None
            observer = shared.observer
            if observer is not None:
                shared.observe(observer.request_done, self, "oadrPoll", watch[0], watch[1],
                               asyncio.get_running_loop().time(), error)
        transport = shared.transport
        if transport is None or self._state in _NOT_LIVE:
            return
        if error is not None:
            self._poll_error(error)
            return
        assert data is not None
        if (
            shared.verifier is None
            and not self._failures
            and self._idle_reply is not None
            and hash(data) == self._idle_reply
        ):
            # The most common answer of all: the same "nothing for you" as last time (see _read_answer),
            # with no failures to reset (see _poll_done): the next poll a period from now.
            self._refused_polls = 0
            self._arm(self.poll_freq, self._poll_timer)
            return
        try:
            reply = self._read_answer(data, transport.max_size)
            if reply is None:
                nxt = Next(self.poll_freq, POLL)
            elif isinstance(reply, m.ResponseMessage):
                nxt = self.poll_response(shared, reply)
            else:
                self._task = shared.spawn(self._poll(reply))
                return
        except SignatureError as exc:
            self._task = shared.spawn(self._refused_poll(data, exc))
            return
        except Exception as exc:
            self._poll_error(exc)
            return
        self._poll_done(nxt)

    def _retry_registration(self, delay: float) -> None:
        if not self.live:
            return
        if self.registration_id is not None and self._state == "registering":
            # The VTN registered it before the step failed: finish that registration (reports,
            # events) rather than asking for it again.
            self.complete = False
            self.state = "registered"
            self._arm(delay, self._on_resume_timer)
            return
        if self._state != "unregistered":
            self.state = "registering"
        self._arm(delay, self._on_register_timer)

    # ------------------------------------------------------------ the steps

    async def _commit(self) -> None:
        """Make what the VEN queued in the store durable before it goes on (the ``Flush`` op). A
        store that cannot commit now (its database unreachable) is retried, with backoff, for as long
        as the VEN runs: what follows (an answer, the rest of a registration) waits for it, and the
        step is not started over. A write refused by the fence ends the step (its worker drops the VEN)."""
        store, shared = self._shared.store, self._shared
        tries = 0
        while True:
            try:
                await store.commit()
                return
            except FencedWrite:
                raise
            except StoreError as exc:
                if not self.live:
                    raise
                delay = shared.backoff(tries)
                tries += 1
                logger.log(logging.WARNING if tries == 1 else logging.DEBUG,
                           "%s: the store cannot commit (%s); the VEN waits for it, again in %.2f s",
                           self.name, exc, delay)
                await asyncio.sleep(delay)

    async def _drive(self, step: Step) -> Next | None:
        """Run one protocol step of the machine: do each op it yields, give it the result, and
        return what it returns. An op that raises ends the step there (the exception goes on)."""
        result: Any = None
        try:
            while True:
                op = step.send(result)
                if isinstance(op, Send):
                    result = await self.send(op.msg, op.service)
                elif isinstance(op, Answer):
                    await self._send_created_event(op.created)
                    result = None
                elif isinstance(op, Ask):
                    result = await self._ask(op)
                elif isinstance(op, Flush):
                    await self._commit()
                    result = None
                else:
                    result = self._apply(op)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            step.close()

    def _apply(self, op: Any) -> Any:
        """Do an op that needs no waiting: the store's writes, the status timers, the report engine."""
        kind = type(op)
        if kind is Save:
            if op.changes is None:
                self._save_registration(complete=op.complete)
            else:
                self._save_changes(op.changes)
        elif kind is Track:
            self._track(op.record, op.timers)
        elif kind is Reports:
            return self._reports(op)
        else:
            raise TypeError(f"unknown op {op!r}")
        return None

    def _reports(self, op: Reports) -> m.Message | None:
        """A report-engine op (:class:`~fleetven.ven.machine.Reports`)."""
        what = op.what
        if what == "offer":
            self._forget_reports()  # a new registration: the VTN's earlier requests died with the old one
            ven_id = self.ven_id
            request_id = op.request_id or self._shared.request_id()
            if self._shared.specs or self._specs:
                return self._report_engine().register_report(ven_id=ven_id, request_id=request_id)
            # nothing to offer: no engine until the VTN asks for something (it gets 461 then)
            return m.RegisterReport(request_id=request_id, reports=[], ven_id=ven_id, report_request_id="0")
        if what == "forget":
            self._forget_reports()
            return None
        engine = self._report_engine()
        if what == "create":
            assert isinstance(op.msg, (m.CreateReport, m.RegisteredReport))
            engine.on_create_report(op.msg)
            return engine.created_report(request_id=op.request_id)
        assert what == "cancel" and isinstance(op.msg, m.CancelReport)
        engine.on_cancel_report(op.msg)
        return engine.canceled_report(request_id=op.request_id)

    def _forget_reports(self) -> None:
        """Drop every report request with the engine (the registration they belonged to is over)."""
        if self._engine is not None:
            self._engine.forget()
            self._drop_engine()

    def _drop_engine(self) -> None:
        """Close the report engine and let it go, keeping the number of its last sample."""
        engine = self._engine
        assert engine is not None
        engine.close()
        self._numbered = max(self._numbered, engine.last_seq)
        self._engine = None

    async def _register(self) -> None:
        try:
            await self._drive(self.register(self._shared, signed=self._signer is not None))
        except _RETRYABLE as exc:
            # A refusal for a security reason was logged at ERROR once (Shared.signature_refused,
            # Shared.tls_refused); its retries are not a network problem to warn about each time.
            security = isinstance(exc, SignatureError) or self._shared.tls_refused(self.name, exc)
            self._back_off(self._retry_registration, logging.DEBUG if security else logging.WARNING,
                           "%(ven)s: registration failed (attempt %(n)d): %(exc)s; retrying in %(delay).2f s", exc)
        except Exception as exc:
            self._back_off(self._retry_registration, logging.ERROR,
                           "%(ven)s: registration crashed (attempt %(n)d); retrying in %(delay).2f s", exc, trace=True)
        else:
            self._failures = 0
            if not self.live:  # stopped or cancelled from a handler during the last step
                return
            self.state = "registered"
            self._arm(self._shared.rng.uniform(0.0, self.poll_freq), self._poll_timer)

    def _wheel(self) -> TimerWheel:
        wheel = self._shared.wheel
        if wheel is None:
            raise TransportError(f"the fleet is not running (ven {self.name})", ven=self.name)
        return wheel

    # ------------------------------------------------------------------ poll

    async def _poll(self, reply: m.Message | None = None, *, due: float | None = None) -> None:
        """One poll cycle; with ``reply``, the rest of a cycle whose answer the fast path read.
        ``due``: when the poll was due (for the fleet's observer)."""
        ven_id = self.ven_id
        assert ven_id is not None
        shared = self._shared
        try:
            transport = shared.transport
            if transport is None:
                return
            if reply is None:
                if self.outbox is not None:
                    await self._send_created_event(self.outbox)
                observer = shared.observer
                if observer is None:
                    data = await transport.request(OADR_POLL, self._poll_body(ven_id), ssl=self._ssl, ven=self.name)
                else:
                    data = await self._observed_poll(observer, transport, ven_id, due)
                reply = self._read_answer(data, transport.max_size)
            nxt = Next(self.poll_freq, POLL) if reply is None else await self._drive(self.poll_reply(shared, reply))
        except SignatureError as exc:
            await self._refused_poll(data, exc)
            return
        except Exception as exc:
            self._poll_error(exc)
            return
        self._poll_done(nxt)

    def _read_answer(self, data: bytes, max_size: int) -> m.Message | None:
        """A poll answer as a message, or ``None`` when its bytes are those of the last "nothing for
        you" answer (keyed 64-bit SipHash, compared rather than the ~700 bytes kept per VEN): parsing
        them would give the same 200. Unsigned messages only: once signatures are verified, identical
        bytes are a replay."""
        digest = hash(data) if self._shared.verifier is None else None
        if digest is not None and digest == self._idle_reply:
            self._refused_polls = 0
            return None
        reply = self._decode(data, max_size)
        self._idle_reply = None
        if isinstance(reply, m.ResponseMessage) and reply.response.response_code == 200:
            self._idle_reply = digest
        return reply

    async def _observed_poll(self, observer: Observer, transport: Transport, ven_id: str, due: float | None) -> bytes:
        """The poll request, reported to ``observer`` with its timing (``due``: the timer's deadline)."""
        clock = asyncio.get_running_loop().time
        sent = clock()
        error: BaseException | None = None
        try:
            return await transport.request(OADR_POLL, self._poll_body(ven_id), ssl=self._ssl, ven=self.name)
        except Exception as exc:
            error = exc
            raise
        finally:
            self._shared.observe(observer.request_done, self, "oadrPoll", sent if due is None else min(due, sent),
                                 sent, clock(), error)

    async def _refused_poll(self, data: bytes, exc: SignatureError) -> None:
        """A poll answer failed its signature check: tell the VTN (463), then poll again after a backoff."""
        await self._refuse(data, exc)
        self._back_off(self._poll_later)  # logged once per reason by Shared.signature_refused

    def _poll_done(self, nxt: Next | None) -> None:
        """A poll cycle ended well: arm what it leads to."""
        if self._failures:
            logger.info("%s: polling again after %d failures", self.name, self._failures)
            self._failures = 0
        if nxt is not None:
            self._follow(nxt)

    def _poll_error(self, exc: BaseException) -> None:
        """A poll cycle ended in ``exc``: a failure to retry (:meth:`_poll_failed`), or a crash
        (:meth:`_poll_crashed`)."""
        if isinstance(exc, _RETRYABLE):
            self._poll_failed(exc)
        else:
            self._poll_crashed(exc)

    def _poll_failed(self, exc: BaseException) -> None:
        """A poll cycle failed (transport, message or protocol error): poll again after a backoff."""
        # The first failure of a run is a warning; the retries that follow are debug noise.
        # A refused TLS certificate is logged at ERROR once per fleet instead (Shared.tls_refused).
        security = self._shared.tls_refused(self.name, exc)
        self._back_off(self._poll_later, logging.WARNING if not self._failures and not security else logging.DEBUG,
                       "%(ven)s: poll failed (%(n)d in a row): %(exc)s; polling again in %(delay).2f s", exc)

    def _poll_crashed(self, exc: BaseException) -> None:
        """A poll cycle raised something unexpected: log it with its traceback, back off."""
        self._back_off(self._poll_later, logging.ERROR, "%(ven)s: poll cycle crashed; polling again in %(delay).2f s",
                       exc, trace=True)

    def _back_off(self, then: Callable[[float], None], level: int = logging.DEBUG, text: str = "",
                  exc: BaseException | None = None, *, trace: bool = False) -> None:
        """A step failed: count the failure, log ``text`` at ``level`` (with ``exc``'s traceback when
        ``trace``) and call ``then`` with the backoff delay (:meth:`Shared.backoff`). ``text`` takes
        ``%(ven)s`` (the name), ``%(n)d`` (failures in a row, this one included), ``%(exc)s`` and
        ``%(delay)``. The one retry path of every step (registration, resume, poll)."""
        if isinstance(exc, NotOwner):
            # Not this process's turn to act as the VEN (its worker cannot prove the slot's lease
            # now): nothing went wrong on the network, so no growing backoff; it tries again soon,
            # and goes on at once when its worker gets the lease back.
            then(self._shared.backoff(0))
            return
        delay = self._shared.backoff(self._failures)
        self._failures += 1
        if level == logging.WARNING and not self._shared.failure_warning_allowed():
            level = logging.DEBUG
        if text and logger.isEnabledFor(level):
            logger.log(level, text, {"ven": self.name, "n": self._failures, "exc": exc, "delay": delay},
                       exc_info=exc if trace else None)
        then(delay)

    def _poll_later(self, delay: float) -> None:
        self._arm(delay, self._poll_timer)

    def _resume_later(self, delay: float) -> None:
        self._arm(delay, self._on_resume_timer)

    def _report_engine(self) -> ReportEngine:
        """The VEN's report engine, made on first use (a VEN offering no report may never need one)."""
        engine = self._engine
        if engine is None:
            specs = self._shared.specs + self._specs if self._specs else self._shared.specs
            runtime = self._shared.reports
            if runtime is None:
                raise TransportError(f"the fleet is not running (ven {self.name})", ven=self.name)
            engine = self._engine = ReportEngine(
                specs, runtime=runtime, send=self.send, ven_arg=self, ven_id=self.ven_id, name=self.name,
                owner=self.name, on_pending=self._samples_pending,
            )
            engine.last_seq = self._numbered
        return engine

    # ---------------------------------------------------------------- events

    async def _send_created_event(self, created: m.CreatedEvent) -> None:
        """Send the cycle's ``oadrCreatedEvent``; when that fails it is kept and sent again before the
        next poll (the decisions are made once, the answer must still reach the VTN). It is
        committed to the store (with the decisions) before it is sent, and stays there until the
        VTN answered: a restarted VEN sends it again rather than asking its handler again."""
        store = self._shared.store
        self.outbox = created
        store.put_outbox(self.name, created)
        await store.commit()
        reply = await self.send(created)
        self.outbox = None
        store.put_outbox(self.name, None)
        if isinstance(reply, m.ResponseMessage) and reply.response.response_code != 200:
            logger.warning("%s: oadrCreatedEvent answered with %d", self.name, reply.response.response_code)

    async def _ask(self, op: Ask) -> dict[str, str]:
        """Call the handlers an :class:`~fleetven.ven.machine.Ask` names, all at once: the answers
        to the changed events, by eventID (the implied cancellations are only told)."""
        calls = [self._decide_one(change) for change in op.asked]
        calls += [self._tell_implied(record) for record in op.implied]
        if len(calls) == 1:
            results = [await calls[0]]
        else:
            results = await asyncio.gather(*calls)
        decisions: dict[str, str] = {}
        observer = self._shared.observer
        for change, opt in zip(op.asked, results):
            if change.event_id is not None:
                decisions[change.event_id] = opt
                if observer is not None:
                    self._shared.observe(observer.event_answer, self, change.event_id, opt)
        return decisions

    async def _decide_one(self, change: ev.EventChange) -> str:
        event = change.event
        assert event is not None
        name = "on_event" if change.kind == "new" else "on_update_event"
        fn = self.handler(name)
        if fn is None:
            if name == "on_event":
                self._shared.warn_once(name, "%s: no on_event handler: answering optOut (this is logged once)",
                                       self.name)
            else:
                self._shared.warn_once(name, "%s: no on_update_event handler: keeping the earlier answer "
                                       "(this is logged once)", self.name)
            return decide.fallback_answer(change)
        what = f"{name} for event {change.event_id}"
        result = await self._call_handler(what, ": answering optOut", fn, event)
        if result is _FAILED:
            return ev.OPT_OUT
        opt = decide.handler_answer(result)
        if opt is None:
            logger.error("%s: %s returned %r, not 'optIn' or 'optOut': answering optOut", self.name, what, result)
            return ev.OPT_OUT
        return opt

    async def _tell_implied(self, record: ev.EventRecord) -> str:
        """Tell ``on_update_event`` about an event the VTN cancelled by leaving it out (rule 61); the
        handler sees it as an explicit cancellation shows it. The VTN asked nothing: the answer goes nowhere."""
        fn = self.handler("on_update_event")
        if fn is None:
            logger.info("%s: event %s was cancelled by the VTN (left out of oadrDistributeEvent); "
                        "no on_update_event handler to tell", self.name, record.event_id)
            return ""
        logger.info("%s: event %s was cancelled by the VTN (left out of oadrDistributeEvent)",
                    self.name, record.event_id)
        await self._call_handler(f"on_update_event for the implied cancellation of event {record.event_id}", "",
                                 fn, record.event)
        return ""

    # -------------------------------------------------------- status timers

    def _track(self, record: ev.EventRecord, timers: list[tuple[float, str]]) -> None:
        """Cancel an event's status timers, then arm ``timers`` (``(seconds from now, status)``)."""
        _cancel_timers(record)
        if timers:
            wheel = self._wheel()
            base = wheel.time()
            for delay, status in timers:
                record.timers.append(wheel.call_at(base + delay, self._on_status_timer, record, status))

    def _on_status_timer(self, record: ev.EventRecord, status: str) -> None:
        if not self.status_due(record, status):
            return
        if self.book.get(record.event_id) is record:
            self._save_event(record)
        observer = self._shared.observer
        if observer is not None:
            self._shared.observe(observer.event_status, self, record.event_id, status)
        fn = self.handler("on_event_status")
        if fn is not None:
            self._shared.spawn(self._notify_status(record, status, fn))

    async def _notify_status(self, record: ev.EventRecord, status: str, fn: Handler) -> None:
        await self._call_handler(f"on_event_status({status}) for event {record.event_id}", "", fn,
                                 record.event, status)

    async def _call_handler(self, what: str, outcome: str, fn: Handler, *args: Any) -> Any:
        """Call a handler, sync or async, as ``fn(ven, *args)`` within ``handler_timeout``: its
        result, or :data:`_FAILED` when it timed out or raised (logged with ``what``, then ``outcome``:
        what the VEN does instead)."""
        try:
            result = fn(self, *args)
            # a plain function cannot be interrupted: only an awaitable is timed (a str answer is none)
            if type(result) is not str and inspect.isawaitable(result):
                async with asyncio.timeout(self._shared.handler_timeout):
                    result = await result
        except TimeoutError:
            logger.error("%s: %s took longer than %.3g s%s", self.name, what, self._shared.handler_timeout, outcome)
            return _FAILED
        except Exception:
            logger.exception("%s: %s raised%s", self.name, what, outcome)
            return _FAILED
        return result


_SERVICE_BY_NAME: Final = {
    "oadrDistributeEvent": EI_EVENT,
    "oadrCreateReport": EI_REPORT,
    "oadrRegisterReport": EI_REPORT,
    "oadrCancelReport": EI_REPORT,
    "oadrUpdateReport": EI_REPORT,
    "oadrRequestReregistration": EI_REGISTER_PARTY,
    "oadrCancelPartyRegistration": EI_REGISTER_PARTY,
}


def _remedy(reason: str, verifier: Verifier | None) -> str:
    """What asks for the check that refused a message, and what would change the outcome."""
    if verifier is not None and verifier.fingerprint is not None:
        asks = f"vtn_fingerprint={verifier.fingerprint} requires every VTN message to be signed by that certificate"
        pin = "check vtn_fingerprint (`fleetven fingerprint vtn.pem` prints the VTN certificate's)"
    else:
        where = verifier.ca_file if verifier is not None else None
        asks = f"require_vtn_signature requires every VTN message to be signed by a certificate from ca_file={where}"
        pin = "check ca_file"
    if reason == "missing":
        return (f"{asks}; have the VTN sign its messages, or leave out vtn_fingerprint and "
                "require_vtn_signature to read unsigned ones (ca_file alone only checks the TLS certificate)")
    if reason == "untrusted-certificate":
        return f"{asks}: the VTN signed with another one; {pin}"
    if reason in ("certificate-expired", "certificate-not-yet-valid"):
        return f"{asks}: the VTN's signing certificate is outside its validity period; the VTN must renew it"
    if reason in ("timestamp-old", "timestamp-future", "timestamp"):
        return ("the ReplayProtect timestamp is outside replay_window and max_clock_skew: check both clocks "
                "(NTP), or widen max_clock_skew")
    if reason == "nonce-replayed":
        return "the message repeats a ReplayProtect nonce: it was replayed (a proxy resending it, or an attack)"
    return f"{asks}; the signature does not verify or does not follow the 2.0b profile (the message may be altered)"


def _peek(data: bytes) -> tuple[str | None, str | None]:
    """The message name and requestID of a refused (unverified) document, as far as they can be read."""
    try:
        root = parse_document(data)
    except MessageError:
        return None, None
    for signed in root:
        if isinstance(signed.tag, str) and signed.tag.endswith("}oadrSignedObject"):
            for message in signed:
                if isinstance(message.tag, str):
                    for element in message.iter("{*}requestID"):
                        return etree.QName(message).localname, (element.text or "").strip() or None
                    return etree.QName(message).localname, None
    return None, None


def _plain(ven_id: str) -> bool:
    """Whether a venID goes into XML text as it is (no escaping): the poll templates apply."""
    return ven_id.isprintable() and "&" not in ven_id and "<" not in ven_id and ">" not in ven_id


def check_handler(name: str, handler: Handler) -> None:
    """Refuse an unknown handler name or a handler that cannot be called.

    :raises ConfigurationError: with what was wrong.
    """
    if name not in HANDLER_NAMES:
        raise ConfigurationError(f"unknown handler {name!r}; expected one of {', '.join(sorted(HANDLER_NAMES))}")
    if not callable(handler):
        raise ConfigurationError(f"the {name} handler must be callable, not {handler!r}")


_NO_IDS: Final[frozenset[str]] = frozenset()


def _ids(values: Iterable[str]) -> frozenset[str]:
    """A frozenset of IDs; the one shared empty set when there are none (most VENs)."""
    found = frozenset(values)
    return found if found else _NO_IDS


def _cancel_timers(record: ev.EventRecord) -> None:
    if record.timers:
        for timer in record.timers:
            timer.cancel()
        record.timers.clear()
