"""A fleet of VEN identities on one event loop, sharing everything that can be shared.

::

    fleet = Fleet("http://vtn:8080/OpenADR2/Simple/2.0b")
    fleet.add_handler("on_event", lambda ven, event: "optIn")
    for i in range(1000):
        fleet.add_ven(f"site-{i:04d}")
    fleet.run()                          # blocks, on uvloop; or: async with fleet: ...

One :class:`~fleetven.transport.Transport` (one connection pool), one
:class:`~fleetven.timerwheel.TimerWheel`, one random source and one handler
table serve every VEN; each :class:`~fleetven.ven.Ven` is a small slotted
object. A fleet of one is the plain single-VEN client.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any

from .exceptions import ConfigurationError
from .messages.parse import DEFAULT_MAX_SIZE
from .reports import make_report_spec
from .timerwheel import TimerWheel
from .transport import Transport
from .ven import Handler, Shared, Ven, check_handler

__all__ = ("Fleet",)

logger = logging.getLogger("fleetven.fleet")


def _seconds(value: float | timedelta, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise ConfigurationError(f"Fleet {name} must be positive, not {value!r}", setting=name)
    return seconds


class Fleet:
    """Many OpenADR 2.0b VENs against one VTN, on one event loop.

    :param vtn_url: the VTN's base URL, e.g. ``https://vtn:8080/OpenADR2/Simple/2.0b``.
    :param cert: the fleet's client certificate (PEM file) for TLS; VENs without their own use it.
    :param key: the private key (PEM file) of ``cert``.
    :param passphrase: the key's passphrase.
    :param ca_file: CA bundle to verify the VTN's certificate with (https).
    :param vtn_fingerprint: the VTN certificate's fingerprint (kept; checked once signing arrives).
    :param check_hostname: verify that the VTN's certificate names its host.
    :param disable_signature: do not sign messages (XML signatures are not implemented yet).
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
        the system) at some cost in speed: 10,000 VENs on the benchmark machine take about 13 s
        to register rather than 5 s, for about 1 KB of RSS per VEN rather than 8 KB. Registration
        retries and re-registrations wait their turn too.
    :param max_message_size: the largest answer accepted, in bytes.
    :raises ConfigurationError: a bad URL or a non-positive setting.
    """

    __slots__ = (
        "vtn_url",
        "cert",
        "key",
        "passphrase",
        "ca_file",
        "vtn_fingerprint",
        "check_hostname",
        "disable_signature",
        "request_timeout",
        "max_connections",
        "max_message_size",
        "timer_resolution",
        "max_registering",
        "vens",
        "_shared",
        "_https",
        "_ssl_contexts",
        "_running",
        "_done",
        "_stopping",
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
        check_hostname: bool = True,
        disable_signature: bool = False,
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
        self.check_hostname = check_hostname
        self.disable_signature = disable_signature
        self.request_timeout = _seconds(request_timeout, "request_timeout")
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        self.timer_resolution = _seconds(timer_resolution, "timer_resolution")
        self.max_registering = max_registering
        #: The VENs, by name, in the order added.
        self.vens: dict[str, Ven] = {}
        self._shared = Shared(
            rng=random.Random(seed),
            poll_interval=_seconds(poll_interval, "poll_interval"),
            handler_timeout=_seconds(handler_timeout, "handler_timeout"),
            backoff_base=_seconds(backoff_base, "backoff_base"),
            backoff_cap=_seconds(backoff_cap, "backoff_cap"),
            max_registering=max_registering,
        )
        # Validates the URL now, before anything runs; the session opens lazily.
        self._shared.transport = self._new_transport()
        self._https = vtn_url.lower().startswith("https:")
        self._ssl_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
        self._running = False
        self._done: asyncio.Event | None = None
        self._stopping: asyncio.Task[None] | None = None
        if cert is not None and not disable_signature:
            logger.warning("XML signatures are not implemented yet: messages are sent unsigned "
                           "(pass disable_signature=True to silence this)")

    def _new_transport(self) -> Transport:
        return Transport(
            self.vtn_url, timeout=self.request_timeout, limit=self.max_connections, max_size=self.max_message_size
        )

    def __repr__(self) -> str:
        state = "running" if self._running else "idle"
        return f"<Fleet {self.vtn_url} {len(self.vens)} VENs {state}>"

    # --------------------------------------------------------- configuration

    @property
    def running(self) -> bool:
        """Whether the fleet has started and not stopped."""
        return self._running

    @property
    def transport(self) -> Transport | None:
        """The fleet's transport (``None`` after :meth:`stop`, until the next :meth:`start`)."""
        return self._shared.transport

    @property
    def wheel(self) -> TimerWheel | None:
        """The fleet's timer wheel while running."""
        return self._shared.wheel

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
        """Offer the same report from every VEN; ``callback`` gets the :class:`~fleetven.ven.Ven` first.

        Takes OpenLEADR's ``add_report`` arguments (see :func:`fleetven.reports.make_report_spec`).
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
        :raises ConfigurationError: a name already in the fleet, or a cert without a key.
        """
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a VEN name must be a non-empty string, not {name!r}")
        if name in self.vens:
            raise ConfigurationError(f"the fleet already has a VEN named {name!r}")
        if (cert is None) != (key is None):
            raise ConfigurationError(f"VEN {name!r} needs both cert and key, or neither")
        if cert is not None and not self.disable_signature:
            self._shared.warn_once("signing", "XML signatures are not implemented yet: VEN %s (and any other) "
                                   "sends unsigned messages", name)
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
        )
        self.vens[name] = ven
        if self._running:
            ven.start()
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
        task = ven.task
        ven.stop()
        if task is not None and task is not asyncio.current_task():
            await asyncio.gather(task, return_exceptions=True)
        return ven

    def _ssl_context(self, cert: str | None, key: str | None, passphrase: str | None) -> ssl.SSLContext | None:
        """One context per TLS identity (https only): VENs of one identity share connections."""
        if not self._https:
            return None
        if cert is None:
            cert, key, passphrase = self.cert, self.key, self.passphrase
        ident = (cert, key)
        ctx = self._ssl_contexts.get(ident)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            ctx.check_hostname = self.check_hostname
            if cert is not None:
                try:
                    ctx.load_cert_chain(cert, key, passphrase)
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigurationError(f"cannot load the client certificate {cert!r}: {exc}") from exc
            self._ssl_contexts[ident] = ctx
        return ctx

    # -------------------------------------------------------------- running

    async def start(self) -> None:
        """Start every VEN (registration first); returns at once. Idempotent while running."""
        if self._running:
            return
        shared = self._shared
        if shared.transport is None or shared.transport.closed:
            shared.transport = self._new_transport()
        shared.wheel = TimerWheel(resolution=self.timer_resolution)
        self._done = asyncio.Event()
        self._running = True
        for ven in self.vens.values():
            ven.start()
        logger.info("fleet started: %d VENs against %s", len(self.vens), self.vtn_url)

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
        shared = self._shared
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
        if shared.transport is not None:
            await shared.transport.close()
        if self._done is not None:
            self._done.set()
        self._stopping = None
        logger.info("fleet stopped")

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
        """Run the fleet on a new uvloop event loop until :meth:`stop` is called or the process is
        interrupted (Ctrl-C)."""
        import uvloop

        async def main() -> None:
            async with self:
                await self.wait_stopped()

        try:
            uvloop.run(main())
        except KeyboardInterrupt:
            pass
