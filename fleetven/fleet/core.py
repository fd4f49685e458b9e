"""A fleet of VEN identities on one event loop, sharing everything that can be shared.

::

    fleet = Fleet("http://vtn:8080/OpenADR2/Simple/2.0b")
    fleet.add_handler("on_event", lambda ven, event: "optIn")
    for i in range(1000):
        fleet.add_ven(f"site-{i:04d}")
    fleet.run()                          # blocks, on uvloop; or: async with fleet: ...

One :class:`~fleetven.http.transport.Transport` (one connection pool), one
:class:`~fleetven.timerwheel.TimerWheel`, one random source and one handler
table serve every VEN; each :class:`~fleetven.fleet.driver.Ven` is a small slotted
object. A fleet of one is the plain single-VEN client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import ssl
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol

from fleetven.exceptions import ConfigurationError
from fleetven.fleet import heap
from fleetven.fleet.driver import Handler, Shared, Ven, check_handler
from fleetven.http.tls import TLS_MODES, ContextCache, check_certificate
from fleetven.http.transport import Transport
from fleetven.messages.parse import DEFAULT_MAX_SIZE
from fleetven.observe import Observer
from fleetven.openadr.timefmt import parse_seconds
from fleetven.signing import SigningKey, Verifier, load_signing_key
from fleetven.signing.keys import KeyCache
from fleetven.store import SQLiteStore, Store, VenState, open_store
from fleetven.timerwheel import TimerWheel
from fleetven.ven.reports import ReportRuntime, make_report_spec

__all__ = ("Fleet", "TransportFactory")

logger = logging.getLogger("fleetven.fleet")


class TransportFactory(Protocol):
    """What makes a fleet's :class:`~fleetven.http.transport.Transport` (``Fleet(transport_factory=...)``):
    :class:`~fleetven.http.transport.Transport` itself, a subclass, or any callable taking these
    arguments."""

    def __call__(self, vtn_url: str, *, timeout: float, limit: int, max_size: int) -> Transport:
        """A new transport to ``vtn_url``.

        :param vtn_url: the fleet's :attr:`Fleet.vtn_url`.
        :param timeout: the fleet's ``request_timeout``, in seconds.
        :param limit: the fleet's ``max_connections``.
        :param max_size: the fleet's ``max_message_size``, in bytes.
        """
        ...


def _seconds(value: float | timedelta, name: str) -> float:
    """A positive duration argument of :class:`Fleet`, read as every duration is (:func:`parse_seconds`)."""
    return parse_seconds(value, name=f"Fleet {name}", zero=False)


#: VENs started between two turns of the event loop in :meth:`Fleet.start`.
_START_BATCH = 4096


class Fleet:
    """Many OpenADR 2.0b VENs against one VTN, on one event loop.

    :param vtn_url: the VTN's base URL, e.g. ``https://vtn:8080/OpenADR2/Simple/2.0b``.
    :param cert: the fleet's client certificate (PEM file) for TLS; VENs without their own use it.
    :param key: the private key (PEM file) of ``cert``.
    :param passphrase: the key's passphrase.
    :param ca_file: CA bundle to verify the VTN's TLS certificate with (https), as in OpenLEADR:
        the trust anchor of the connection. It asks for no signatures; with
        ``require_vtn_signature`` it is also what the VTN's signing certificate must come from.
    :param vtn_fingerprint: the fingerprint of the VTN's signing certificate, as OpenLEADR and
        ``fleetven fingerprint`` print it (``AA:BB:...``, 10 groups). When set, every VTN message
        must carry a valid XML signature by that certificate; any other is refused (logged at
        ERROR once per reason, no handler sees it, the VTN gets ``oadrResponse`` 463).
    :param require_vtn_signature: require a valid XML signature on every VTN message without
        pinning a fingerprint: the signer's certificate must be one of ``ca_file``'s or issued
        by one of them (``ca_file`` is then required). Implied by ``vtn_fingerprint``. Without
        either, VTN messages are read unverified, signed or not, as OpenLEADR reads them.
    :param check_hostname: verify that the VTN's TLS certificate names its host.
    :param disable_signature: send unsigned messages although ``cert`` and ``key`` are given
        (they still serve for TLS).
    :param tls_mode: ``"default"`` (TLS 1.2 or 1.3, Python's ciphers plus the two OpenADR
        suites) or ``"certification"`` (TLS 1.2 only, exactly ``ECDHE-ECDSA-AES128-SHA256`` and
        ``AES128-SHA256``, as OpenADR certification requires).
    :param replay_window: how old (in seconds) a signed VTN message's ``ReplayProtect``
        timestamp may be, on top of ``max_clock_skew``.
    :param max_clock_skew: how far (in seconds) the VTN's clock may be from ours either way.
    :param poll_interval: time between polls when the VTN names no ``oadrRequestedOadrPollFreq``.
    :param handler_timeout: time a handler may take; past it the answer is ``optOut``.
    :param request_timeout: time one HTTP request may take in all.
    :param max_connections: most connections to the VTN open at once.
    :param seed: seed of the fleet's random source (poll phases, backoff jitter, ``startAfter``).
    :param backoff_base: first retry delay cap, in seconds (registration and poll retries).
    :param backoff_cap: largest retry delay cap, in seconds.
    :param timer_resolution: tick of the timer wheel, in seconds (default 0.1). Every VEN timer
        runs at the first tick at or after its deadline, so polls, report samples and sends and
        event status transitions are at most this late; OpenADR's timing is in seconds, and a
        coarser tick lets more polls share one loop wake-up (at 10,000 VENs polling every 10 s,
        0.1 s costs about a third less CPU per poll than 0.01 s).
    :param max_registering: most VENs registering at once (default ``2 * max_connections``);
        the others wait their turn in order, holding no task. This bounds the memory a
        registration storm takes (and the process keeps: freed memory is rarely given back to
        the system); more does not register faster once the fleet's CPU is the limit (on the
        benchmark machine, 100,000 VENs took 15.6 s with 512 at once, 15.4-16.6 s with 128).
        Registration retries and re-registrations wait their turn too.
    :param max_message_size: the largest answer accepted, in bytes.
    :param observer: told what the fleet does (requests and their timing, VEN states, event
        decisions and statuses, refused signatures): see :class:`fleetven.observe.Observer`.
        Also settable as :attr:`observer`.
    :param store: where the fleet keeps its durable state (:mod:`fleetven.store`): a path (a
        SQLite database, created if missing; what it holds survives a crash and the VENs resume
        from it at :meth:`start`), ``":memory:"`` or ``None`` (the default: in memory, nothing
        survives the process), or a :class:`~fleetven.store.Store`.
    :param max_pending_samples: the most report samples one report request holds while the VTN
        does not acknowledge them (an outage); past it the oldest are dropped, counted and logged.
    :param transport_factory: makes the fleet's transport, called now (which validates
        ``vtn_url``) and again at each :meth:`start` after a :meth:`stop` closed the last one, as
        ``transport_factory(vtn_url, timeout=request_timeout, limit=max_connections,
        max_size=max_message_size)`` (see :class:`TransportFactory`). The default is
        :class:`~fleetven.http.transport.Transport`; a subclass that records or alters requests
        (a test's, a proxy's) goes here.
    :param gate: asked ``gate(ven_name)`` right before each request of a VEN is written to the
        network (also one that waited for a connection); ``False`` fails the request with
        :class:`~fleetven.exceptions.NotOwner` and nothing is sent (the VEN backs off and retries).
        A worker of a fleet across processes refuses the VENs of slots whose lease it cannot
        prove. ``None`` (the default): every request goes.
    :param freeze_gc: while the fleet runs, follow every full collection of Python's cyclic
        garbage collector with :func:`gc.freeze`, so that the next ones do not walk the VENs'
        long-lived state again (at 100,000 VENs a quarter to a third of the fleet's CPU
        otherwise; see :mod:`fleetven.fleet.heap` for the one trade-off: a reference cycle among
        frozen objects that becomes garbage waits for the fleet to stop, or for a VEN to leave
        it, to be collected). ``False`` leaves the collector alone.
    :raises ConfigurationError: a bad URL or a non-positive setting.
    :raises StoreError: the store's database cannot be opened.
    """

    __slots__ = (
        "vtn_url",
        "cert",
        "key",
        "passphrase",
        "ca_file",
        "vtn_fingerprint",
        "require_vtn_signature",
        "check_hostname",
        "disable_signature",
        "tls_mode",
        "request_timeout",
        "max_connections",
        "max_message_size",
        "timer_resolution",
        "max_registering",
        "vens",
        "_shared",
        "_https",
        "_contexts",
        "_keys",
        "_checked",
        "_running",
        "_done",
        "_stopping",
        "_store_spec",
        "_states",
        "_transport_factory",
        "_gate",
        "_committer",
        "freeze_gc",
        "_froze",
    )

    def __init__(
        self,
        vtn_url: str,
        *,
        cert: str | None = None,
        key: str | None = None,
        passphrase: str | None = None,
        ca_file: str | None = None,
        vtn_fingerprint: str | None = None,
        require_vtn_signature: bool = False,
        check_hostname: bool = True,
        disable_signature: bool = False,
        tls_mode: str = "default",
        replay_window: float | timedelta = 5.0,
        max_clock_skew: float | timedelta = 1.0,
        poll_interval: float | timedelta = timedelta(seconds=10),
        handler_timeout: float | timedelta = 30.0,
        request_timeout: float | timedelta = 30.0,
        max_connections: int = 64,
        seed: int | None = None,
        backoff_base: float | timedelta = 1.0,
        backoff_cap: float | timedelta = 300.0,
        timer_resolution: float = 0.1,
        max_message_size: int = DEFAULT_MAX_SIZE,
        max_registering: int | None = None,
        observer: Observer | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        max_pending_samples: int = 10_000,
        transport_factory: TransportFactory = Transport,
        gate: Callable[[str | None], bool] | None = None,
        freeze_gc: bool = True,
    ) -> None:
        if (cert is None) != (key is None):
            raise ConfigurationError("Fleet needs both cert and key, or neither")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigurationError(f"Fleet max_connections must be a positive integer, not {max_connections!r}")
        if max_registering is None:
            max_registering = 2 * max_connections
        elif not isinstance(max_registering, int) or max_registering < 1:
            raise ConfigurationError(f"Fleet max_registering must be a positive integer, not {max_registering!r}")
        self.vtn_url = vtn_url
        self.cert = cert
        self.key = key
        self.passphrase = passphrase
        self.ca_file = ca_file
        self.vtn_fingerprint = vtn_fingerprint
        self.require_vtn_signature = bool(require_vtn_signature)
        self.check_hostname = check_hostname
        self.disable_signature = disable_signature
        if tls_mode not in TLS_MODES:
            raise ConfigurationError(f"Fleet tls_mode must be one of {', '.join(TLS_MODES)}, not {tls_mode!r}",
                                     setting="tls_mode")
        self.tls_mode = tls_mode
        self.request_timeout = _seconds(request_timeout, "request_timeout")
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        self.timer_resolution = _seconds(timer_resolution, "timer_resolution")
        self.max_registering = max_registering
        if not isinstance(max_pending_samples, int) or max_pending_samples < 1:
            raise ConfigurationError(
                f"Fleet max_pending_samples must be a positive integer, not {max_pending_samples!r}",
                setting="max_pending_samples")
        #: The VENs, by name, in the order added.
        self.vens: dict[str, Ven] = {}
        self._shared = Shared(
            rng=random.Random(seed),
            poll_interval=_seconds(poll_interval, "poll_interval"),
            handler_timeout=_seconds(handler_timeout, "handler_timeout"),
            backoff_base=_seconds(backoff_base, "backoff_base"),
            backoff_cap=_seconds(backoff_cap, "backoff_cap"),
            max_registering=max_registering,
            verifier=self._verifier(),
            replay_window=_seconds(replay_window, "replay_window"),
            clock_skew=_seconds(max_clock_skew, "max_clock_skew") if max_clock_skew else 0.0,
            store=open_store(store),
            max_pending_samples=max_pending_samples,
        )
        self._store_spec = store
        self._states: dict[str, VenState] = {}
        self._shared.observer = observer
        self._transport_factory = transport_factory
        self._gate = gate
        self._committer: asyncio.Task[None] | None = None
        self.freeze_gc = bool(freeze_gc)
        self._froze = False
        # Validates the URL now, before anything runs; the session opens lazily.
        self._shared.transport = self._new_transport()
        self._https = vtn_url.lower().startswith("https:")
        self._contexts = ContextCache()
        self._keys = KeyCache()  # the signing key of each identity, loaded once for all the VENs sharing it
        self._checked: set[str] = set()
        self._running = False
        self._done: asyncio.Event | None = None
        self._stopping: asyncio.Task[None] | None = None
        if cert is not None:
            check_certificate(cert, owner="fleet")
            self._ssl_context(cert, key, passphrase)  # a bad key or CA file fails here, not at the first poll
            self._signer(cert, key, passphrase)

    def _verifier(self) -> Verifier | None:
        """The fleet's signature verifier: by fingerprint when one is given, by CA with
        ``require_vtn_signature``; ``None`` when VTN messages are read unverified.

        :raises ConfigurationError: ``require_vtn_signature`` with nothing to verify against.
        """
        if self.vtn_fingerprint:
            return Verifier(fingerprint=self.vtn_fingerprint)
        if self.require_vtn_signature:
            if not self.ca_file:
                raise ConfigurationError(
                    "Fleet require_vtn_signature needs vtn_fingerprint or ca_file: the VTN's signing "
                    "certificate is checked against one of them", setting="require_vtn_signature")
            return Verifier(ca_file=self.ca_file)
        return None

    def _signer(self, cert: str | None, key: str | None, passphrase: str | None) -> SigningKey | None:
        """The signing key of an identity (loaded once, shared), ``None`` when it sends unsigned."""
        if cert is None or key is None or self.disable_signature:
            return None
        return load_signing_key(cert, key, passphrase, cache=self._keys)

    def _new_transport(self) -> Transport:
        transport = self._transport_factory(
            self.vtn_url, timeout=self.request_timeout, limit=self.max_connections, max_size=self.max_message_size
        )
        transport.gate = self._gate
        return transport

    def __repr__(self) -> str:
        state = "running" if self._running else "idle"
        return f"<Fleet {self.vtn_url} {len(self.vens)} VENs {state}>"

    # --------------------------------------------------------- configuration

    @property
    def running(self) -> bool:
        """Whether the fleet has started and not stopped."""
        return self._running

    @property
    def observer(self) -> Observer | None:
        """The fleet's :class:`~fleetven.observe.Observer` (``None``: nobody watches)."""
        return self._shared.observer

    @observer.setter
    def observer(self, value: Observer | None) -> None:
        self._shared.observer = value

    @property
    def transport(self) -> Transport | None:
        """The fleet's transport (``None`` after :meth:`stop`, until the next :meth:`start`)."""
        return self._shared.transport

    @property
    def store(self) -> Store:
        """The fleet's :class:`~fleetven.store.Store` (closed by :meth:`stop`, opened again by :meth:`start`)."""
        return self._shared.store

    @property
    def wheel(self) -> TimerWheel | None:
        """The fleet's timer wheel while running."""
        return self._shared.wheel

    @property
    def verifier(self) -> Verifier | None:
        """What checks every VTN message's signature (one per fleet), ``None`` when the fleet reads
        unsigned messages (no ``vtn_fingerprint``, no ``require_vtn_signature``)."""
        return self._shared.verifier

    @property
    def registrations_running(self) -> int:
        """How many VENs are registering now (at most ``max_registering``)."""
        return self._shared.registering

    @property
    def registrations_queued(self) -> int:
        """How many VENs wait for a registration slot, first in first out."""
        return len(self._shared.registration_queue)

    def add_handler(self, name: str, handler: Handler) -> None:
        """Set a handler for every VEN (a VEN's own handler wins over it).

        :param name: ``"on_event"`` (``handler(ven, event) -> "optIn" | "optOut"``),
            ``"on_update_event"`` (same signature; modified and cancelled events) or
            ``"on_event_status"`` (``handler(ven, event, status)``, status ``near``,
            ``active``, ``completed`` or ``cancelled``). Functions or coroutine functions.
        :raises ConfigurationError: an unknown name or a handler that is not callable.
        """
        check_handler(name, handler)
        self._shared.handlers[name] = handler

    def add_report(self, callback: Callable[..., Any], resource_id: str, measurement: str | None = None,
                   **options: Any) -> tuple[str, str]:
        """Offer the same report from every VEN; ``callback`` gets the :class:`~fleetven.fleet.driver.Ven` first.

        Takes OpenLEADR's ``add_report`` arguments (see :func:`fleetven.ven.reports.make_report_spec`).
        Reports added while running are advertised at each VEN's next registration.

        :returns: ``(report_specifier_id, r_id)``.
        :raises ConfigurationError: invalid arguments.
        """
        spec = make_report_spec(
            callback, resource_id, measurement, existing=self._shared.specs, with_ven=True, **options
        )
        self._shared.specs.append(spec)
        return spec.report_specifier_id, spec.r_id

    def add_ven(
        self,
        name: str,
        ven_id: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        passphrase: str | None = None,
        *,
        resource_ids: Iterable[str] = (),
        group_ids: Iterable[str] = (),
        party_ids: Iterable[str] = (),
        state: VenState | None = None,
        resume_within: float | None = None,
    ) -> Ven:
        """Add a VEN identity; a running fleet starts it at once.

        :param name: unique within the fleet; sent as ``oadrVenName``.
        :param ven_id: a venID to use until the VTN assigns one.
        :param cert: this VEN's own client certificate (PEM file); it never shares connections
            with VENs of another certificate.
        :param key: the private key of ``cert``.
        :param passphrase: the key's passphrase.
        :param resource_ids: resource IDs events may target this VEN by.
        :param group_ids: group IDs events may target this VEN by.
        :param party_ids: party IDs events may target this VEN by.
        :param state: the VEN's durable state to resume from (a worker taking over its slot, with
            what :meth:`Store.aload <fleetven.store.Store.aload>` gave); by default what the
            fleet's store held for it when the fleet started. A VEN whose state holds a
            registration does not register again.
        :param resume_within: a VEN that resumes a registration does so at a random moment within
            this many seconds (by default within its poll period): a worker taking over a slot
            resumes its VENs soon, not a whole poll period later.
        :raises ConfigurationError: a name already in the fleet, or a cert without a key.
        """
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a VEN name must be a non-empty string, not {name!r}")
        if name in self.vens:
            raise ConfigurationError(f"the fleet already has a VEN named {name!r}")
        if (cert is None) != (key is None):
            raise ConfigurationError(f"VEN {name!r} needs both cert and key, or neither")
        if cert is not None:
            if cert not in self._checked:  # VENs sharing a certificate file: checked (and warned about) once
                check_certificate(cert, owner=name)
                self._checked.add(cert)
        else:
            cert, key, passphrase = self.cert, self.key, self.passphrase
        ven = Ven(
            self._shared,
            name,
            ven_id=ven_id,
            cert=cert,
            key=key,
            passphrase=passphrase,
            resource_ids=resource_ids,
            group_ids=group_ids,
            party_ids=party_ids,
            ssl_context=self._ssl_context(cert, key, passphrase),
            signer=self._signer(cert, key, passphrase),
        )
        self.vens[name] = ven
        if state is not None:
            self._states[name] = state
        if self._running:
            ven.restore(self._states.pop(name, None))
            ven.start(within=resume_within)
        return ven

    def drop_ven(self, name: str) -> Ven:
        """Stop a VEN at once and take it out of the fleet: its timers, its step and its request in
        flight are cancelled, nothing more is sent and nothing is written to the store (a worker
        whose lease on the VEN's slot ended; the next owner resumes it from the store).

        :returns: the VEN dropped.
        :raises KeyError: no VEN of that name.
        """
        ven = self.vens.pop(name)
        self._states.pop(name, None)
        ven.stop()
        if self._froze:
            heap.thaw()  # the VEN may be frozen in a reference cycle: let the collector free it
        return ven

    async def remove_ven(self, name: str, *, cancel_registration: bool = False) -> Ven:
        """Stop a VEN and take it out of the fleet.

        :param cancel_registration: first cancel its registration at the VTN (errors are logged).
        :returns: the VEN removed.
        :raises KeyError: no VEN of that name.
        """
        ven = self.vens[name]
        if cancel_registration and ven.registered and self._running:
            try:
                await ven.cancel_registration()
            except Exception as exc:
                logger.warning("%s: cancelling the registration failed: %s", name, exc)
        del self.vens[name]
        self._states.pop(name, None)  # a state given with it and not yet taken goes with it
        task = ven.task
        ven.stop()
        if cancel_registration and not ven.registered and not self._shared.store.closed:
            self._shared.store.forget_ven(name)  # its registration is over: nothing to resume
        if task is not None and task is not asyncio.current_task():
            await asyncio.gather(task, return_exceptions=True)
        if self._froze:
            heap.thaw()  # the VEN may be frozen in a reference cycle: let the collector free it
        return ven

    def _ssl_context(self, cert: str | None, key: str | None, passphrase: str | None) -> ssl.SSLContext | None:
        """One context per TLS identity (https only): VENs of one identity share connections."""
        if not self._https:
            return None
        return self._contexts.get(cert=cert, key=key, passphrase=passphrase, ca_file=self.ca_file,
                                  check_hostname=self.check_hostname, mode=self.tls_mode)

    # -------------------------------------------------------------- running

    async def start(self, *, slots: Sequence[int] | None = None) -> None:
        """Start every VEN (registration first); returns once each has its first step armed,
        letting the loop run every few thousand VENs (a large fleet starts without stalling
        what already runs). Idempotent while running.

        :param slots: with a store shared by several workers (:class:`~fleetven.store.postgres.PostgresStore`),
            the slots whose VENs' state to load now: by default every slot the store holds a lease
            epoch for; a worker passes ``()`` and adds VENs as it takes slots. A store of one process
            is loaded whole and takes none.
        """
        if self._running:
            return
        shared = self._shared
        if shared.transport is None or shared.transport.closed:
            shared.transport = self._new_transport()
        if shared.store.closed:
            spec = self._store_spec
            if isinstance(spec, (str, os.PathLike)) and spec != ":memory:":
                shared.store = SQLiteStore(spec)
            else:
                await shared.store.areopen()
        store = shared.store
        if store.partitioned:
            if slots is None:
                slots = sorted(getattr(store, "epochs", ()))
            states = await store.aload(slots) if slots else {}
        else:
            states = await store.aload(slots)
        self._committer = asyncio.get_running_loop().create_task(store.run())
        shared.wheel = TimerWheel(resolution=self.timer_resolution)
        # One for every VEN's report engine (the VENs' logger: report failures are logged as theirs).
        shared.reports = ReportRuntime(wheel=shared.wheel, store=shared.store, logger=logging.getLogger("fleetven.ven"),
                                       max_pending=shared.max_pending_samples)
        self._done = asyncio.Event()
        self._running = True
        if self.freeze_gc:
            heap.acquire(asyncio.get_running_loop())
            self._froze = True
        self._states.update(states)  # each VEN takes its own as it starts (also one added meanwhile)
        resumed = 0
        started = 0
        for name, ven in list(self.vens.items()):
            if self.vens.get(name) is not ven:
                continue  # removed while the loop ran
            ven.restore(self._states.pop(name, None))
            resumed += ven.registered
            ven.start()
            started += 1
            if started % _START_BATCH == 0:
                # a million VENs take seconds to start: let the loop run (polls, answers) meanwhile
                await asyncio.sleep(0)
                if not self._running:
                    return
        logger.info("fleet started: %d VENs against %s", len(self.vens), self.vtn_url)
        if resumed:
            logger.info("%d VENs resume the registration kept in %r", resumed, shared.store)

    async def stop(self) -> None:
        """Stop every VEN, cancel their steps and timers, close the connections. Idempotent.

        Safe to call from a handler: the shutdown runs in its own task, so it
        completes even though stopping cancels the step the handler runs in.
        """
        if self._stopping is None:
            if not self._running:
                return
            self._running = False
            self._stopping = asyncio.get_running_loop().create_task(self._shutdown())
        await asyncio.shield(self._stopping)

    async def _shutdown(self) -> None:
        try:
            shared = self._shared
            await self._deliver_answers()
            await self._drain_reports()
            for ven in self.vens.values():
                ven.stop()
            tasks = list(shared.tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            shared.registration_queue.clear()
            if shared.wheel is not None:
                shared.wheel.close()
                shared.wheel = None
            shared.reports = None
            if shared.transport is not None:
                await shared.transport.close()
            committer, self._committer = self._committer, None
            if committer is not None:
                committer.cancel()
                await asyncio.gather(committer, return_exceptions=True)
            try:
                await shared.store.aclose()
            except Exception:
                logger.exception("closing the store failed")
            if self._done is not None:
                self._done.set()
            self._stopping = None
            logger.info("fleet stopped")
        finally:
            if self._froze:  # also when a step above failed: the collector is given back
                self._froze = False
                heap.release()

    async def _deliver_answers(self) -> None:
        """Before stopping: one last try (bounded by ``request_timeout``, at most 5 s) to deliver each
        VEN's ``oadrCreatedEvent`` not yet acknowledged, after the VEN's step in flight, if any, has
        ended; what still fails stays in the store."""
        pending = [ven for ven in self.vens.values() if ven.answer_pending and ven.registered]
        if not pending or self._shared.transport is None:
            return

        async def one(ven: Ven) -> None:
            # A step in flight sends it itself: let it end first (asyncio.wait does not cancel it on timeout).
            while (step := ven.task) is not None and not step.done():
                await asyncio.wait((step,))
            try:
                await ven.deliver_answer()
            except Exception as exc:
                logger.debug("%s: the answer could not be delivered before stopping: %s", ven.name, exc)

        try:
            async with asyncio.timeout(min(self.request_timeout, 5.0)):
                await asyncio.gather(*(one(ven) for ven in pending))
        except TimeoutError:
            logger.warning("stopping: some answers were not delivered in time; they stay in the store")

    async def _drain_reports(self) -> None:
        """Before stopping: let the report sends in flight end (bounded like :meth:`_deliver_answers`),
        so that samples the VTN acknowledges are recorded as such, not sent again after a restart."""
        busy = [ven for ven in self.vens.values() if ven.reports_busy]
        if not busy:
            return
        try:
            async with asyncio.timeout(min(self.request_timeout, 5.0)):
                await asyncio.gather(*(ven.drain_reports() for ven in busy), return_exceptions=True)
        except TimeoutError:
            logger.warning("stopping: some report sends did not end in time; their samples stay in the store")

    async def wait_stopped(self) -> None:
        """Wait until :meth:`stop` is called (returns at once when not running)."""
        if self._running and self._done is not None:
            await self._done.wait()

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def run(self) -> None:
        """Run the fleet on a new uvloop event loop until :meth:`stop` is called, the process is
        interrupted (Ctrl-C) or it receives ``SIGTERM`` (a clean stop: answers delivered, store closed)."""
        import uvloop

        async def main() -> None:
            loop = asyncio.get_running_loop()
            try:
                loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(self.stop()))
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
                pass
            async with self:
                await self.wait_stopped()

        try:
            uvloop.run(main())
        except KeyboardInterrupt:
            pass
