"""The :class:`TestVTN` server (see :mod:`fleetven.testing`)."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from ssl import SSLContext
from types import TracebackType
from typing import Any

from fleetven.exceptions import ConfigurationError, MessageError, MessageTooLarge
from fleetven.messages import build_message, parse_message
from fleetven.messages.build import build_signed_object
from fleetven.messages.parse import DEFAULT_MAX_SIZE
from fleetven.openadr import model as m
from fleetven.signing import (
    ReplayGuard,
    SigningKey,
    Verifier,
    load_signing_key,
    sign_message,
    verify_message,
)
from fleetven.testing._http import HttpServer, Reply, RequestInfo
from fleetven.testing._records import (
    Faults,
    Receipt,
    Sent,
    VenRecord,
    handover_gap,
    overlapping_senders,
)

__all__ = ("TestVTN", "SERVICES")

logger = logging.getLogger("fleetven.testing")

#: The services a simple-HTTP VTN offers, appended to its ``path``.
SERVICES = ("EiRegisterParty", "EiEvent", "EiReport", "EiOpt", "OadrPoll")

_XML = "application/xml"
_GARBAGE = b"\x00this is not XML <<<"
#: Messages a VEN may send without being registered.
_REGISTRATION = frozenset((m.CreatePartyRegistration, m.CancelPartyRegistration))
_DROP: Reply = None

# The oadrPoll document fleetven's builder makes, split around the venID: a body that is exactly
# this, around a venID of plain characters (no markup, no entity, no space), is a well-formed
# oadrPoll whose parse is ``Poll(ven_id=<those characters>)``. Any other body (another
# serialization, a signed poll, anything else) is parsed in full.
_MARK = "FLEETVEN-VEN-ID-MARK"
_POLL_HEAD, _POLL_TAIL = build_message(m.Poll(ven_id=_MARK)).split(_MARK.encode())
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,200}")
_POLL_MAX = len(_POLL_HEAD) + len(_POLL_TAIL) + 200
_MARKS = ("FLEETVEN-MARK-ONE", "FLEETVEN-MARK-TWO")


def _pieces(msg: m.Message) -> tuple[bytes, ...]:
    """The builder's document of ``msg``, cut at the marks standing for its text fields."""
    doc = build_message(msg)
    for mark in _MARKS:
        doc = doc.replace(mark.encode(), b"\x00")
    return tuple(doc.split(b"\x00"))


# Other messages a VEN sends (at registration) with only plain text fields, recognised the same
# way: the builder's literal pieces with a plain value between each two (a value holds no "<",
# and every piece after a value starts with "<", so the cut is unambiguous).
_TEMPLATES: tuple[tuple[tuple[bytes, ...], Callable[..., m.Message]], ...] = (
    (_pieces(m.QueryRegistration(request_id=_MARKS[0])), lambda r: m.QueryRegistration(request_id=r)),
    (_pieces(m.RequestEvent(request_id=_MARKS[0], ven_id=_MARKS[1])),
     lambda r, v: m.RequestEvent(request_id=r, ven_id=v)),
)


def _recognise(body: bytes) -> m.Message | None:
    """The message of a body that is exactly one of :data:`_TEMPLATES` around plain values, else ``None``."""
    for pieces, make in _TEMPLATES:
        head, tail = pieces[0], pieces[-1]
        if not body.startswith(head) or not body.endswith(tail):
            continue
        end = len(body) - len(tail)
        pos = len(head)
        values: list[str] = []
        for piece in pieces[1:-1]:
            cut = body.find(piece, pos, end)
            if cut < 0 or not _PLAIN_ID.fullmatch(body, pos, cut):
                return None
            values.append(body[pos:cut].decode("ascii"))
            pos = cut + len(piece)
        if not _PLAIN_ID.fullmatch(body, pos, end):
            return None
        values.append(body[pos:end].decode("ascii"))
        return make(*values)
    return None


def _takes_info(route: Callable[..., Any]) -> bool:
    """Whether ``route`` can be called ``route(method, path, body, info)``."""
    try:
        inspect.signature(route).bind("POST", "/", b"", None)
    except TypeError:
        return False
    return True


class TestVTN:
    """An in-process OpenADR 2.0b VTN (simple HTTP, pull model; signatures and TLS optional).

    :param vtn_id: the vtnID it announces.
    :param poll_freq: the ``oadrRequestedOadrPollFreq`` it asks VENs for.
    :param host: the address to listen on.
    :param port: the port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    :param path: the URL path the services hang under.
    :param max_size: the largest request body accepted, in bytes.
    :param registration_policy: called with each ``oadrCreatePartyRegistration``;
        returns ``None`` to accept it, or an OpenADR response code to refuse it.
    :param on_register_report: called with ``(ven_id, oadrRegisterReport)``;
        returns the report requests to put in the ``oadrRegisteredReport``
        (none when not given).
    :param record_polls: also keep ``oadrPoll`` messages in :attr:`received`
        (off by default: a long benchmark would fill memory; see :attr:`polls`).
    :param access_log: log every request to the ``fleetven.testing.access`` logger (at INFO).
    :param cert: the VTN's certificate (PEM file or bytes); with ``key``, every answer is signed.
    :param key: the private key of ``cert``.
    :param passphrase: the key's passphrase.
    :param verifier: when given, every request must carry a valid XML signature that this
        :class:`~fleetven.signing.Verifier` accepts, with a fresh ``ReplayProtect`` (a nonce
        seen twice is refused); others are answered ``oadrResponse`` 463 and kept in :attr:`errors`.
    :param ssl: a server :class:`ssl.SSLContext` to serve HTTPS (set ``verify_mode`` on it to
        require client certificates).
    :param log_senders: keep, per venID, a :class:`~fleetven.testing.Sent` record of every request
        (when, which service and message, the ``User-Agent`` that sent it, the peer address), for
        :meth:`sent`, :meth:`senders`, :meth:`overlaps` and :meth:`handover_gaps`: proof that no VEN
        was driven by two processes at once. Off by default: it keeps about 100 bytes per request
        (polls included) for as long as the VTN lives, some 3 MB a second at 30,000 polls a second.

    Recorded (lists of tuples, oldest first): :attr:`received` (every
    :class:`Receipt`), :attr:`registrations` ``(ven_id, oadrCreatePartyRegistration)``,
    :attr:`event_responses` ``(ven_id, EventResponse)``, :attr:`reports`
    ``(ven_id, Report)`` from ``oadrUpdateReport``, :attr:`registered_reports`
    ``(ven_id, Report)`` from ``oadrRegisterReport``, :attr:`opts` ``(ven_id,
    oadrCreateOpt | oadrCancelOpt)``, :attr:`faulted`, :attr:`errors`
    ``(ven_id, MessageError)`` for bodies refused; counters :attr:`polls` and :attr:`parsed`.
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        *,
        vtn_id: str = "TEST-VTN",
        poll_freq: timedelta = timedelta(seconds=10),
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/OpenADR2/Simple/2.0b",
        max_size: int = DEFAULT_MAX_SIZE,
        registration_policy: Callable[[m.CreatePartyRegistration], int | None] | None = None,
        on_register_report: Callable[[str, m.RegisterReport], list[m.ReportRequest]] | None = None,
        record_polls: bool = False,
        access_log: bool = False,
        cert: str | bytes | None = None,
        key: str | bytes | None = None,
        passphrase: str | bytes | None = None,
        verifier: Verifier | None = None,
        ssl: SSLContext | None = None,
        log_senders: bool = False,
    ) -> None:
        self.vtn_id = vtn_id
        self.poll_freq = poll_freq
        self.host = host
        self.port = port
        self.path = path.rstrip("/")
        self.max_size = max_size
        self.registration_policy = registration_policy
        self.on_register_report = on_register_report
        self.record_polls = record_polls
        self._access_log = access_log
        #: The key every answer is signed with (from ``cert`` and ``key``); ``None``: answers are unsigned.
        #: Settable while running (a test's VTN that stops signing).
        self.signer: SigningKey | None = (
            load_signing_key(cert, key, passphrase) if cert is not None and key is not None else None)
        self.verifier = verifier
        # One guard for every VEN: nonces are random, so one seen twice from anybody is a replay.
        self._guard = ReplayGuard()
        self._ssl = ssl
        #: Faults for every request; see :attr:`ven_faults` for one VEN's.
        self.faults = Faults()
        #: Faults for one VEN's requests, by venID; they take precedence over :attr:`faults`.
        self.ven_faults: dict[str, Faults] = {}
        #: Every VEN known, by venID.
        self.vens: dict[str, VenRecord] = {}
        self.received: list[Receipt] = []
        self.registrations: list[tuple[str, m.CreatePartyRegistration]] = []
        self.event_responses: list[tuple[str, m.EventResponse]] = []
        self.reports: list[tuple[str, m.Report]] = []
        self.registered_reports: list[tuple[str, m.Report]] = []
        self.opts: list[tuple[str, m.CreateOpt | m.CancelOpt]] = []
        self.faulted: list[Receipt] = []
        self.errors: list[tuple[str | None, MessageError]] = []
        self.polls = 0
        #: Request bodies read by the full parser (or verifier); the others were recognised byte
        #: for byte as the builder's own ``oadrPoll``, ``oadrQueryRegistration`` or
        #: ``oadrRequestEvent`` around plain values, and count none.
        self.parsed = 0
        self._by_registration: dict[str, str] = {}
        self._ven_numbers = itertools.count(1)
        self._ids = itertools.count(1)
        self._waiters: list[tuple[Callable[[], Any], asyncio.Future[None]]] = []
        self._services = frozenset(f"{self.path}/{s}" for s in SERVICES)
        self._service_names = {f"{self.path}/{s}": s for s in SERVICES}
        # Every request's Sent record by venID (log_senders), else None.
        self._sent: dict[str, list[Sent]] | None = {} if log_senders else None
        self._server: HttpServer | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Each VEN's answer to a poll when nothing is queued, made once: (message, document, or
        # the signed object to sign afresh each time). Dropped when the VEN's registration is.
        self._idle: dict[str, tuple[m.ResponseMessage, bytes]] = {}
        # venIDs recognised in oadrPoll bodies by the byte-level check (see _POLL_HEAD), by their bytes.
        self._poll_ids: dict[bytes, str] = {}
        self._handlers: dict[type, Callable[[Any, str | None], m.Message]] = {
            m.QueryRegistration: self._query_registration,
            m.CreatePartyRegistration: self._create_party_registration,
            m.CancelPartyRegistration: self._cancel_party_registration,
            m.CanceledPartyRegistration: self._canceled_party_registration,
            m.Poll: self._poll,
            m.RequestEvent: self._request_event,
            m.CreatedEvent: self._created_event,
            m.RegisterReport: self._register_report,
            m.UpdateReport: self._update_report,
            m.CreatedReport: self._ack,
            m.CanceledReport: self._ack,
            m.ResponseMessage: self._ack,
            m.CreateOpt: self._create_opt,
            m.CancelOpt: self._cancel_opt,
        }

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The ``vtn_url`` to give VENs: ``http://host:port/path`` (valid after :meth:`start`)."""
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Start listening; with ``port=0`` a free port is chosen and stored in :attr:`port`."""
        self._loop = asyncio.get_running_loop()
        access = logging.getLogger("fleetven.testing.access") if self._access_log else None
        if self._sent is not None and not _takes_info(self._route):
            raise ConfigurationError(
                f"log_senders=True needs {type(self).__name__}._route to take and pass on the request info")
        server = HttpServer(self._route, self._too_large, max_size=self.max_size, access_log=access,
                            request_info=self._sent is not None)
        try:
            self._listener = await self._loop.create_server(server, self.host, self.port, ssl=self._ssl)
        except BaseException:
            await server.shutdown(0)
            raise
        self._server = server
        self.port = self._listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, close open connections and fail pending :meth:`wait_for` calls."""
        if self._listener is not None:
            self._listener.close()
            if self._server is not None:
                await self._server.shutdown(1.0)
            await self._listener.wait_closed()
            self._listener = self._server = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> TestVTN:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------ scripting

    def ven(self, ven_id: str) -> VenRecord:
        """The record of ``ven_id``, created (unregistered) if the VTN does not know it yet."""
        rec = self.vens.get(ven_id)
        if rec is None:
            rec = self.vens[ven_id] = VenRecord(ven_id)
        return rec

    def queue(self, ven_id: str, message: m.Message) -> None:
        """Queue any message for ``ven_id``'s next poll (one message per poll, in order)."""
        self.ven(ven_id).queue.append(message)

    def _distribute(self, rec: VenRecord) -> m.DistributeEvent:
        return m.DistributeEvent(request_id=self._new_id(), vtn_id=self.vtn_id, events=list(rec.events.values()))

    def _queue_events(self, rec: VenRecord) -> None:
        # A queued, undelivered oadrDistributeEvent at the tail is replaced: it is out of date.
        msg = self._distribute(rec)
        if rec.queue and isinstance(rec.queue[-1], m.DistributeEvent):
            rec.queue[-1] = msg
        else:
            rec.queue.append(msg)

    def add_event(self, ven_id: str, event: m.Event) -> None:
        """Add (or replace, by eventID) an event of ``ven_id`` and queue an ``oadrDistributeEvent``
        carrying all the VEN's current events (rule 61).

        :param event: an event dict (:data:`~fleetven.openadr.model.EVENT_SHAPE`); kept, not copied.
        """
        rec = self.ven(ven_id)
        rec.events[event["event_id"]] = event
        self._queue_events(rec)

    def cancel_event(self, ven_id: str, event_id: str) -> None:
        """Mark an event of ``ven_id`` cancelled (status ``cancelled``, modification number + 1)
        and queue an ``oadrDistributeEvent``. The event stays in the VEN's list.

        :raises KeyError: the VEN has no such event.
        """
        rec = self.ven(ven_id)
        old = rec.events[event_id]
        number = old["modification_number"] + 1
        descriptor = {**old["event_descriptor"], "event_status": "cancelled", "modification_number": number}
        rec.events[event_id] = {
            **old,
            "event_status": "cancelled",
            "modification_number": number,
            "event_descriptor": descriptor,
        }
        self._queue_events(rec)

    def remove_event(self, ven_id: str, event_id: str) -> None:
        """Drop an event from ``ven_id``'s list (cancelled by implication, rule 61) and queue an
        ``oadrDistributeEvent`` with the rest."""
        rec = self.ven(ven_id)
        rec.events.pop(event_id, None)
        self._queue_events(rec)

    def request_report(self, ven_id: str, *report_requests: m.ReportRequest) -> None:
        """Queue an ``oadrCreateReport`` with these report requests for ``ven_id``."""
        self.queue(
            ven_id, m.CreateReport(request_id=self._new_id(), report_requests=list(report_requests), ven_id=ven_id)
        )

    def request_reregistration(self, ven_id: str) -> None:
        """Queue an ``oadrRequestReregistration`` for ``ven_id``."""
        self.queue(ven_id, m.RequestReregistration(ven_id=ven_id))

    def cancel_registration(self, ven_id: str) -> None:
        """Queue an ``oadrCancelPartyRegistration`` for ``ven_id``; the registration is forgotten
        when the VEN answers with ``oadrCanceledPartyRegistration``.

        :raises KeyError: ``ven_id`` is not registered.
        """
        rec = self.vens[ven_id]
        if rec.registration_id is None:
            raise KeyError(ven_id)
        self.queue(
            ven_id,
            m.CancelPartyRegistration(request_id=self._new_id(), registration_id=rec.registration_id, ven_id=ven_id),
        )

    # -------------------------------------------------------------- senders

    def _sent_log(self) -> dict[str, list[Sent]]:
        if self._sent is None:
            raise ConfigurationError("this TestVTN keeps no senders: make it with log_senders=True")
        return self._sent

    def sent(self, ven_id: str) -> list[Sent]:
        """Every request made for ``ven_id``, oldest first (``log_senders=True``).

        A request counts for the venID it names; an ``oadrCreatePartyRegistration`` naming none
        counts for the venID its answer assigns. Requests that name no venID and get none
        (``oadrQueryRegistration``, a refused registration, a body that could not be read, a
        registration lost to a fault) are not recorded.

        :raises ConfigurationError: the VTN was made without ``log_senders=True``.
        """
        return list(self._sent_log().get(ven_id, ()))

    def senders(self, ven_id: str) -> list[str]:
        """The distinct ``User-Agent`` strings of ``ven_id``'s requests, in order of first appearance."""
        return list(dict.fromkeys(r.sender for r in self._sent_log().get(ven_id, ())))

    def overlaps(self) -> dict[str, list[tuple[str, str]]]:
        """The VENs driven by two senders at the same time: by venID, the pairs of senders whose
        runs alternate twice (``A, B, A, B``; see :func:`~fleetven.testing.overlapping_senders`).
        A clean hand-over is not an overlap, nor is one hand-over back (``A, B, A``)."""
        found = {}
        for ven_id, log in self._sent_log().items():
            pairs = overlapping_senders(log)
            if pairs:
                found[ven_id] = pairs
        return found

    def handover_gaps(self, ven_ids: Iterable[str] | None = None) -> dict[str, float]:
        """For each VEN (of ``ven_ids``, default all) whose sender changed, the longest silence, in
        seconds, between the last request of one sender and the first of the next: the time a
        hand-over took, as the VTN saw it."""
        log = self._sent_log()
        gaps = {}
        for ven_id in (log if ven_ids is None else ven_ids):
            gap = handover_gap(log.get(ven_id, ()))
            if gap is not None:
                gaps[ven_id] = gap
        return gaps

    def sample_numbers(self) -> dict[str, dict[int, set[tuple[str, str, datetime]]]]:
        """By venID, the report samples received under each sequence number: fleetven numbers each
        VEN's samples 1, 2, 3... (every report request together, across restarts and hand-overs)
        and sends the number as the interval's ``uid``. Each number maps to the set of
        ``(reportRequestID, rID, dtstart)`` received with it: one element, however often it came
        (a sample sent again after a lost acknowledgement); two would be a number reused. Intervals
        without a numeric ``uid`` (another VEN implementation) are left out."""
        out: dict[str, dict[int, set[tuple[str, str, datetime]]]] = {}
        for ven_id, report in self.reports:
            for interval in report.intervals:
                uid = interval.uid
                if uid is None or not uid.isdigit():
                    continue
                by_number = out.setdefault(ven_id, {})
                keys = by_number.setdefault(int(uid), set())
                for payload in interval.payloads:
                    keys.add((report.report_request_id, payload.r_id, interval.dtstart))
        return out

    def missing_sample_numbers(self) -> dict[str, list[int]]:
        """By venID (VENs missing none left out), the sample numbers below the highest received that
        never arrived: samples lost, or dropped by the VEN at its cap of unacknowledged samples."""
        missing = {}
        for ven_id, by_number in self.sample_numbers().items():
            holes = sorted(set(range(1, max(by_number) + 1)) - set(by_number))
            if holes:
                missing[ven_id] = holes
        return missing

    def _log_sent(self, ven_id: str, path: str, msg: m.Message, info: RequestInfo | None) -> None:
        assert self._sent is not None
        if info is None:
            record = Sent(self._now(), self._service_names[path], msg.message_type, "", None)
        else:
            record = Sent(self._now(), self._service_names[path], msg.message_type, info.user_agent, info.peer)
        log = self._sent.get(ven_id)
        if log is None:
            log = self._sent[ven_id] = []
        log.append(record)

    # -------------------------------------------------------------- waiting

    async def wait_for(self, predicate: Callable[[], Any], *, timeout: float) -> None:
        """Wait until ``predicate()`` is true; it is checked now and after every message received.

        :raises TimeoutError: not true within ``timeout`` seconds.
        """
        if predicate():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await fut
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def wait_for_message(
        self, message_type: str, *, ven_id: str | None = None, count: int = 1, timeout: float
    ) -> list[Receipt]:
        """Wait until ``count`` messages of ``message_type`` (e.g. ``"oadrCreatedEvent"``) were
        received (from ``ven_id`` if given) and return them all.

        :raises TimeoutError: fewer arrived within ``timeout`` seconds.
        """

        def found() -> list[Receipt]:
            return [
                r
                for r in self.received
                if r.message.message_type == message_type and (ven_id is None or r.ven_id == ven_id)
            ]

        await self.wait_for(lambda: len(found()) >= count, timeout=timeout)
        return found()

    def _wake(self) -> None:
        for predicate, fut in self._waiters:
            if not fut.done():
                try:
                    ok = predicate()
                except Exception as exc:  # a broken predicate fails its own waiter, not the VTN
                    fut.set_exception(exc)
                    continue
                if ok:
                    fut.set_result(None)

    # ------------------------------------------------------------- handling

    def _new_id(self) -> str:
        return f"vtn-req-{next(self._ids)}"

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _route(
        self, method: str, path: str, body: bytes, info: RequestInfo | None = None
    ) -> Reply | Awaitable[Reply]:
        """Answer one HTTP request: a reply now, or an awaitable of it (a fault's delay).

        ``info`` (who sent it) is given when senders are logged; a subclass overriding this
        must take it and pass it on.
        """
        if method != "POST" or path not in self._services:
            return (404 if method == "POST" else 405, b"", None)
        msg: m.Message | None = None
        if (
            self.verifier is None
            and len(body) <= _POLL_MAX
            and body.startswith(_POLL_HEAD)
            and body.endswith(_POLL_TAIL)
        ):
            msg = self._fast_poll(body[len(_POLL_HEAD) : len(body) - len(_POLL_TAIL)])
        elif self.verifier is None and len(body) <= _POLL_MAX:
            msg = _recognise(body)
        if msg is None:
            try:
                msg = self._decode(body)
            except MessageError as exc:
                return self._refuse(path, exc)
        ven_id = getattr(msg, "ven_id", None)
        faults = self.ven_faults.get(ven_id, self.faults) if ven_id is not None and self.ven_faults else self.faults
        if self._sent is not None:
            return self._route_logged(path, msg, ven_id, faults, info)
        if faults.active():
            return self._faulty(faults, msg, ven_id)
        return self._reply(self._answer(msg, ven_id))

    def _route_logged(
        self, path: str, msg: m.Message, ven_id: str | None, faults: Faults, info: RequestInfo | None
    ) -> Reply | Awaitable[Reply]:
        """:meth:`_route`'s end with ``log_senders``: the request recorded, then answered."""
        if ven_id is not None:
            self._log_sent(ven_id, path, msg, info)  # before the answer wakes any waiter
        if faults.active():
            return self._faulty(faults, msg, ven_id)
        answer = self._answer(msg, ven_id)
        if ven_id is None and type(msg) is m.CreatePartyRegistration:
            assigned = getattr(answer, "ven_id", None)
            if assigned is not None:
                self._log_sent(assigned, path, msg, info)
                if self._waiters:
                    self._wake()
        return self._reply(answer)

    def _fast_poll(self, raw_id: bytes) -> m.Poll | None:
        """The oadrPoll of a body that is exactly the builder's document around ``raw_id``, if that
        is a plain venID; ``None`` sends the body to the full parser."""
        ven_id = self._poll_ids.get(raw_id)
        if ven_id is None:
            if not _PLAIN_ID.fullmatch(raw_id):
                return None
            ven_id = raw_id.decode("ascii")
            if ven_id in self.vens:  # remember known VENs only: the table stays bounded
                self._poll_ids[raw_id] = ven_id
        return m.Poll(ven_id=ven_id)

    def _refuse(self, path: str, exc: MessageError) -> Reply:
        logger.warning("refused a request to %s: %s", path, exc)
        self.errors.append((None, exc))
        self._wake()
        text = "".join(c for c in str(exc) if c.isprintable())[:200]
        return self._reply(
            m.ResponseMessage(response=m.Response(response_code=exc.response_code, response_description=text))
        )

    def _too_large(self, method: str, path: str) -> Reply:
        if method != "POST" or path not in self._services:
            return (404 if method == "POST" else 405, b"", None)
        return self._refuse(path, MessageTooLarge(f"request body larger than {self.max_size} bytes", path=path))

    def _decode(self, data: bytes) -> m.Message:
        self.parsed += 1
        if self.verifier is None:
            return parse_message(data, max_size=self.max_size)
        return verify_message(data, self.verifier, self._guard, max_size=self.max_size)

    def _answer(self, msg: m.Message, ven_id: str | None) -> m.Message:
        if self.record_polls or type(msg) is not m.Poll:
            self.received.append(Receipt(self._now(), ven_id, msg))
        handler = self._handlers.get(type(msg))
        if handler is None:
            answer: m.Message = m.ResponseMessage(
                response=m.Response(response_code=453, response_description="not a VEN request")
            )
        elif ven_id is not None and type(msg) not in _REGISTRATION and not self._registered(ven_id):
            answer = m.ResponseMessage(
                response=m.Response(response_code=463, response_description="not registered"), ven_id=ven_id
            )
        else:
            answer = handler(msg, ven_id)
        if self._waiters:
            self._wake()
        return answer

    def _faulty(self, faults: Faults, msg: m.Message, ven_id: str | None) -> Reply | Awaitable[Reply]:
        if faults.count is not None:
            faults.count -= 1
        if faults.delay:
            return self._delayed(faults.delay, faults, msg, ven_id)
        return self._spoil(faults, msg, ven_id)

    async def _delayed(self, delay: float, faults: Faults, msg: m.Message, ven_id: str | None) -> Reply:
        await asyncio.sleep(delay)
        return self._spoil(faults, msg, ven_id)

    def _spoil(self, faults: Faults, msg: m.Message, ven_id: str | None) -> Reply:
        if not (faults.status or faults.garbage or faults.drop):
            return self._reply(self._answer(msg, ven_id))
        if faults.process:
            self._answer(msg, ven_id)
        else:
            self.faulted.append(Receipt(self._now(), ven_id, msg))
            self._wake()
        if faults.status:
            return (faults.status, b"", None)
        if faults.garbage:
            return (200, _GARBAGE, _XML)
        return _DROP

    def _reply(self, answer: m.Message) -> Reply:
        signer = self.signer
        if type(answer) is m.ResponseMessage and answer.ven_id is not None:
            idle = self._idle.get(answer.ven_id)
            if idle is not None and idle[0] is answer:  # a VEN's idle poll answer, made once
                body = idle[1] if signer is None else sign_message(idle[1], signer)
                return (200, body, _XML)
        body = build_message(answer) if signer is None else sign_message(answer, signer)
        return (200, body, _XML)

    def _registered(self, ven_id: str) -> bool:
        rec = self.vens.get(ven_id)
        return rec is not None and rec.registration_id is not None

    @staticmethod
    def _ok(request_id: str | None, code: int = 200, description: str = "OK") -> m.Response:
        return m.Response(response_code=code, response_description=description, request_id=request_id)

    def _profiles(self) -> list[m.Profile]:
        return [m.Profile(profile_name="2.0b", transports=["simpleHttp"])]

    def _query_registration(self, msg: m.QueryRegistration, ven_id: str | None) -> m.Message:
        return m.CreatedPartyRegistration(
            response=self._ok(msg.request_id),
            vtn_id=self.vtn_id,
            profiles=self._profiles(),
            requested_oadr_poll_freq=self.poll_freq,
        )

    def _create_party_registration(self, msg: m.CreatePartyRegistration, ven_id: str | None) -> m.Message:
        refused = self.registration_policy(msg) if self.registration_policy is not None else None
        if refused is not None:
            return m.CreatedPartyRegistration(
                response=self._ok(msg.request_id, refused, "registration refused"),
                vtn_id=self.vtn_id,
                profiles=self._profiles(),
                requested_oadr_poll_freq=self.poll_freq,
            )
        known = self._by_registration.get(msg.registration_id) if msg.registration_id is not None else None
        if known is not None:
            rec = self.vens[known]
        else:
            new_id = f"ven-{next(self._ven_numbers)}"
            while new_id in self.vens and self.vens[new_id].registration_id is not None:
                new_id = f"ven-{next(self._ven_numbers)}"
            rec = self.ven(new_id)
            rec.registration_id = f"reg-{new_id}-{next(self._ids)}"
            self._by_registration[rec.registration_id] = rec.ven_id
        rec.registration = msg
        self.registrations.append((rec.ven_id, msg))
        return m.CreatedPartyRegistration(
            response=self._ok(msg.request_id),
            vtn_id=self.vtn_id,
            registration_id=rec.registration_id,
            ven_id=rec.ven_id,
            profiles=self._profiles(),
            requested_oadr_poll_freq=self.poll_freq,
        )

    def _forget(self, rec: VenRecord) -> None:
        if rec.registration_id is not None:
            self._by_registration.pop(rec.registration_id, None)
        rec.registration_id = rec.registration = None
        self._idle.pop(rec.ven_id, None)

    def _cancel_party_registration(self, msg: m.CancelPartyRegistration, ven_id: str | None) -> m.Message:
        owner = self._by_registration.get(msg.registration_id)
        if owner is None or owner != msg.ven_id:
            return m.CanceledPartyRegistration(
                response=self._ok(msg.request_id, 452, "unknown registrationID"),
                registration_id=msg.registration_id,
                ven_id=msg.ven_id,
            )
        self._forget(self.vens[owner])
        return m.CanceledPartyRegistration(
            response=self._ok(msg.request_id), registration_id=msg.registration_id, ven_id=msg.ven_id
        )

    def _canceled_party_registration(self, msg: m.CanceledPartyRegistration, ven_id: str | None) -> m.Message:
        if ven_id is not None and msg.response.response_code == 200:
            self._forget(self.vens[ven_id])
        return self._ack(msg, ven_id)

    def _poll(self, msg: m.Poll, ven_id: str | None) -> m.Message:
        self.polls += 1
        queue = self.vens[msg.ven_id].queue
        if queue:
            return queue.popleft()
        idle = self._idle.get(msg.ven_id)
        if idle is None:
            # Nothing queued: oadrResponse 200, the venID, an empty requestID; the same every
            # time, so it is built (or its signed object is) once per VEN.
            answer = m.ResponseMessage(response=self._ok(None), ven_id=msg.ven_id)
            body = build_message(answer) if self.signer is None else build_signed_object(answer)
            self._idle[msg.ven_id] = idle = (answer, body)
        return idle[0]

    def _request_event(self, msg: m.RequestEvent, ven_id: str | None) -> m.Message:
        return self._distribute(self.vens[msg.ven_id])

    def _created_event(self, msg: m.CreatedEvent, ven_id: str | None) -> m.Message:
        for er in msg.event_responses:
            self.event_responses.append((msg.ven_id, er))
        return m.ResponseMessage(response=self._ok(msg.response.request_id), ven_id=msg.ven_id)

    def _register_report(self, msg: m.RegisterReport, ven_id: str | None) -> m.Message:
        vid = ven_id or ""
        for rep in msg.reports:
            self.registered_reports.append((vid, rep))
        requests = self.on_register_report(vid, msg) if self.on_register_report is not None else []
        return m.RegisteredReport(response=self._ok(msg.request_id), report_requests=requests, ven_id=ven_id)

    def _update_report(self, msg: m.UpdateReport, ven_id: str | None) -> m.Message:
        vid = ven_id or ""
        for rep in msg.reports:
            self.reports.append((vid, rep))
        return m.UpdatedReport(response=self._ok(msg.request_id), ven_id=ven_id)

    def _ack(self, msg: Any, ven_id: str | None) -> m.Message:
        request_id = getattr(msg, "request_id", None)
        if request_id is None and getattr(msg, "response", None) is not None:
            request_id = msg.response.request_id
        return m.ResponseMessage(response=self._ok(request_id), ven_id=ven_id)

    def _create_opt(self, msg: m.CreateOpt, ven_id: str | None) -> m.Message:
        self.opts.append((msg.ven_id, msg))
        return m.CreatedOpt(response=self._ok(msg.request_id), opt_id=msg.opt_id)

    def _cancel_opt(self, msg: m.CancelOpt, ven_id: str | None) -> m.Message:
        self.opts.append((msg.ven_id, msg))
        return m.CanceledOpt(response=self._ok(msg.request_id), opt_id=msg.opt_id)
