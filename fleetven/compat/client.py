"""``fleetven.OpenADRClient``: OpenLEADR 0.5.36's client, as a fleet of one.

An OpenLEADR user switches by changing the import::

    from fleetven import OpenADRClient        # was: from openleadr import OpenADRClient

    client = OpenADRClient(ven_name="ven123", vtn_url="http://vtn:8080/OpenADR2/Simple/2.0b")
    client.add_report(callback=read_meter, resource_id="device001", measurement="voltage")
    client.add_handler("on_event", on_event)          # on_event(event) -> "optIn" | "optOut"
    await client.run()

The constructor, ``add_handler``, ``add_report`` (arguments and return
value), ``create_opt``, ``cancel_opt``, ``run`` and ``stop`` take what
OpenLEADR's take. Inside is a :class:`~fleetven.fleet.core.Fleet` holding one
:class:`~fleetven.fleet.driver.Ven`, so the client behaves as fleetven's VENs do where
OpenLEADR falls short: a failed registration is retried with backoff instead
of abandoned, the poll interval gets jitter, every queued message is fetched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from fleetven.exceptions import ConfigurationError, MessageError, ProtocolError, TransportError
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.openadr import model as m
from fleetven.signing import fingerprint

__all__ = ("OpenADRClient",)

logger = logging.getLogger("fleetven.client")

EventHandler = Callable[[dict[str, Any]], "str | Awaitable[str]"]


def _handler_property(name: str) -> property:
    """A handler as OpenLEADR users see it: an attribute; assigning one is ``add_handler(name, ...)``."""

    def get(self: OpenADRClient) -> EventHandler | None:
        return self._callbacks.get(name)

    def put(self: OpenADRClient, callback: EventHandler) -> None:
        self.add_handler(name, callback)

    return property(get, put, doc=f"The ``{name}`` handler; assigning one is ``add_handler({name!r}, ...)``.")


class OpenADRClient:
    """A single VEN with OpenLEADR 0.5.36's client API.

    :param ven_name: the VEN's name (``oadrVenName``).
    :param vtn_url: the VTN's base URL.
    :param debug: log this client's traffic at DEBUG (sets the ``fleetven`` logger's level).
    :param cert: client certificate (PEM file) for TLS.
    :param key: its private key (PEM file).
    :param passphrase: the key's passphrase.
    :param vtn_fingerprint: the VTN certificate's fingerprint, as OpenLEADR prints it.
    :param show_fingerprint: with ``cert``, print this VEN's certificate fingerprint on standard
        output when the client is made (the VTN operator needs it), as OpenLEADR does.
    :param ca_file: CA bundle to verify the VTN with.
    :param allow_jitter: accepted for compatibility: fleetven always spreads polls.
    :param ven_id: a venID to use until the VTN assigns one.
    :param disable_signature: do not sign messages.
    :param check_hostname: verify the VTN certificate's host name.
    :param event_status_log_period: accepted for compatibility (unused).
    :param events_clean_up_period: accepted for compatibility (unused).
    :param registration_timeout: how long :meth:`run` waits for the first
        registration before returning (registration goes on being retried).
    :param fleet_options: further :class:`~fleetven.fleet.core.Fleet` keyword arguments.
    """

    def __init__(
        self,
        ven_name: str,
        vtn_url: str,
        debug: bool = False,
        cert: str | None = None,
        key: str | None = None,
        passphrase: str | None = None,
        vtn_fingerprint: str | None = None,
        show_fingerprint: bool = True,
        ca_file: str | None = None,
        allow_jitter: bool = True,
        ven_id: str | None = None,
        disable_signature: bool = False,
        check_hostname: bool = True,
        event_status_log_period: int = 10,
        events_clean_up_period: int = 300,
        *,
        registration_timeout: float = 30.0,
        resource_ids: Iterable[str] = (),
        group_ids: Iterable[str] = (),
        party_ids: Iterable[str] = (),
        **fleet_options: Any,
    ) -> None:
        if debug:
            logging.getLogger("fleetven").setLevel(logging.DEBUG)
        self.ven_name = ven_name
        self.vtn_url = vtn_url
        self.registration_timeout = registration_timeout
        #: The fleet of one inside.
        self.fleet = Fleet(
            vtn_url,
            cert=cert,
            key=key,
            passphrase=passphrase,
            ca_file=ca_file,
            vtn_fingerprint=vtn_fingerprint,
            check_hostname=check_hostname,
            disable_signature=disable_signature,
            **fleet_options,
        )
        #: The one VEN.
        self.ven: Ven = self.fleet.add_ven(ven_name, ven_id=ven_id, resource_ids=resource_ids, group_ids=group_ids,
                                           party_ids=party_ids)
        self._callbacks: dict[str, EventHandler] = {}
        # OpenLEADR's handlers are attributes: a subclass defining on_event(self, event) sets one.
        for name in _HANDLERS:
            if not isinstance(getattr(type(self), name), property):
                self.add_handler(name, getattr(self, name))
        if show_fingerprint and cert is not None:
            print(f"fleetven: the certificate fingerprint of VEN {ven_name!r} is {fingerprint(cert)};"
                  " give it to the VTN operator.")

    # ------------------------------------------------------------ OpenLEADR's attributes

    @property
    def ven_id(self) -> str | None:
        """The venID (the VTN's once registered)."""
        return self.ven.ven_id

    @property
    def registration_id(self) -> str | None:
        """The registrationID, ``None`` while not registered."""
        return self.ven.registration_id

    @property
    def poll_frequency(self) -> timedelta:
        """The time between polls."""
        return timedelta(seconds=self.ven.poll_freq)

    @property
    def received_events(self) -> list[dict[str, Any]]:
        """The events this VEN knows (their latest versions)."""
        return [_openleadr_event(event) for event in self.ven.events.values()]

    @property
    def responded_events(self) -> dict[str, str]:
        """The answer given to each known event (``"optIn"`` or ``"optOut"``), by eventID."""
        return self.ven.answers

    on_event = _handler_property("on_event")
    on_update_event = _handler_property("on_update_event")

    # ------------------------------------------------------------------- API

    def add_handler(self, handler: str, callback: EventHandler) -> None:
        """Set ``on_event(event)`` or ``on_update_event(event)``; each returns ``"optIn"`` or ``"optOut"``.

        :raises ConfigurationError: another handler name (OpenLEADR's client knows only these two).
        """
        if handler not in ("on_event", "on_update_event"):
            raise ConfigurationError(f"'handler' must be either on_event or on_update_event, not {handler!r}")
        if not callable(callback):
            raise ConfigurationError(f"the {handler} handler must be callable, not {callback!r}")

        def adapter(ven: Ven, event: dict[str, Any]) -> Any:
            return callback(_openleadr_event(event))

        adapter.__name__ = getattr(callback, "__name__", handler)
        adapter.__qualname__ = getattr(callback, "__qualname__", handler)
        self._callbacks[handler] = callback
        self.ven.add_handler(handler, adapter)

    def add_report(self, callback: Callable[..., Any], resource_id: str, measurement: str | None = None,
                   *args: Any, **options: Any) -> tuple[str, str]:
        """Offer a report, with OpenLEADR's ``add_report`` arguments (positional ones in its order:
        ``data_collection_mode``, ``report_specifier_id``, ``r_id``, ``report_name``, ...).

        The ``resource_id`` also becomes one this VEN may be targeted by (rule 22).

        :returns: ``(report_specifier_id, r_id)``.
        :raises ConfigurationError: invalid arguments.
        """
        if len(args) > len(_REPORT_POSITIONAL):
            raise ConfigurationError(f"add_report takes at most {3 + len(_REPORT_POSITIONAL)} positional arguments, "
                                     f"not {3 + len(args)}")
        for name, value in zip(_REPORT_POSITIONAL, args):
            if name in options:
                raise ConfigurationError(f"add_report got two values for {name!r}")
            options[name] = value
        ids = self.ven.add_report(callback, resource_id, measurement, **options)
        self.ven.add_targets(resource_ids=(resource_id,))
        return ids

    async def run(self) -> None:
        """Start the VEN: register, then poll in the background.

        Returns once registered, or after ``registration_timeout`` seconds with
        a warning; unlike OpenLEADR's client, registration keeps being retried
        with backoff in the background.
        """
        await self.fleet.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.registration_timeout
        while not self.ven.registered and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if not self.ven.registered:
            logger.warning("%s: not registered after %.0f s; still retrying", self.ven_name,
                           self.registration_timeout)
            return
        logger.info("VEN is now registered with registration ID %s and venID %s.", self.registration_id, self.ven_id)
        logger.info("The polling frequency is %s", self.poll_frequency)

    async def cancel_party_registration(self) -> None:
        """Cancel this VEN's registration at the VTN (``oadrCancelPartyRegistration``), as OpenLEADR's
        ``cancel_party_registration``; the VEN then stays unregistered.

        :raises ProtocolError: not registered, or the VTN refused.
        :raises TransportError: the request failed.
        """
        await self.ven.cancel_registration()
        logger.info("VEN successfully un-registered")

    async def stop(self) -> None:
        """Stop the VEN and close its connections."""
        await self.fleet.stop()

    async def create_opt(
        self,
        opt_type: str,
        opt_reason: str,
        targets: Any = None,
        vavailability: Any = None,
        event_id: str | None = None,
        modification_number: int | None = None,
        opt_id: str | None = None,
        request_id: str | None = None,
        market_context: str | None = None,
        signal_target_mrid: str | None = None,
    ) -> str | bool:
        """Send an ``oadrCreateOpt``, as OpenLEADR's ``create_opt``.

        ``vavailability`` may be OpenLEADR's ``Vavailability`` object or dict
        (with ``components`` of ``dtstart``/``duration``), or a list of windows.
        ``request_id`` is accepted for compatibility; fleetven makes its own.

        :returns: the optID when the VTN acknowledged it, else ``False`` (logged).
        :raises ValueError: (:class:`~fleetven.exceptions.ConfigurationError`) an invalid
            ``opt_type`` or ``opt_reason``, or not exactly one of ``event_id`` and ``vavailability``,
            before anything is sent, as OpenLEADR raises.
        """
        try:
            return await self.ven.create_opt(
                opt_type,
                opt_reason,
                event_id=event_id,
                modification_number=modification_number,
                vavailability=_windows(vavailability),
                targets=_targets(targets),
                market_context=market_context,
                opt_id=opt_id,
                signal_target_mrid=signal_target_mrid,
            )
        except (TransportError, ProtocolError, MessageError) as exc:
            logger.error("%s: the VTN did not acknowledge the opt: %s", self.ven_name, exc)
            return False

    async def cancel_opt(self, opt_id: str) -> bool:
        """Send an ``oadrCancelOpt``, as OpenLEADR's ``cancel_opt``.

        :returns: ``True`` when the VTN acknowledged it, else ``False`` (logged); ``False``
            without sending anything for an opt this client did not create.
        """
        if opt_id not in self.ven.opts:
            logger.error("%s: a non-existent opt with id %s was requested for cancellation", self.ven_name, opt_id)
            return False
        try:
            await self.ven.cancel_opt(opt_id)
        except (TransportError, ProtocolError, MessageError) as exc:
            logger.error("%s: the VTN did not acknowledge the opt cancellation: %s", self.ven_name, exc)
            return False
        return True


_HANDLERS = ("on_event", "on_update_event")

#: OpenLEADR's ``add_report`` parameters after ``measurement``, in its order.
_REPORT_POSITIONAL = (
    "data_collection_mode", "report_specifier_id", "r_id", "report_name", "reading_type", "report_type",
    "report_duration", "report_dtstart", "sampling_rate", "data_source", "scale", "unit", "power_ac",
    "power_hertz", "power_voltage", "market_context", "end_device_asset_mrid", "report_data_source",
)


def _openleadr_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as OpenLEADR hands it over: a signal's ``measurement`` is a dict (without the
    fields the message left out), not fleetven's dataclass. Shallow copies; the VEN's own
    record is left as it is."""
    signals = event.get("event_signals")
    if not signals or not any(isinstance(sig.get("measurement"), m.Measurement) for sig in signals):
        return event
    copy = dict(event)
    copy["event_signals"] = [
        {**sig, "measurement": _measurement_dict(sig["measurement"])}
        if isinstance(sig.get("measurement"), m.Measurement) else sig
        for sig in signals
    ]
    return copy


def _measurement_dict(measurement: m.Measurement) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(measurement).items() if v is not None}


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def _windows(vavailability: Any) -> list[tuple[datetime, timedelta]] | None:
    """OpenLEADR's ``Vavailability`` (object or dict) or a plain list of windows, as (dtstart, duration)."""
    if vavailability is None:
        return None
    components = vavailability
    if isinstance(vavailability, dict) and "components" in vavailability:
        components = vavailability["components"]
    elif hasattr(vavailability, "components"):
        components = vavailability.components
    return [(_get(c, "dtstart"), _get(c, "duration")) for c in components]


def _targets(targets: Any) -> list[dict[str, Any]] | None:
    """OpenLEADR's targets (``Target`` objects or dicts, one or a list) as one-key target dicts."""
    if targets is None:
        return None
    if not isinstance(targets, (list, tuple)):
        targets = [targets]
    out: list[dict[str, Any]] = []
    for target in targets:
        if dataclasses.is_dataclass(target) and not isinstance(target, type):
            fields = dataclasses.asdict(target)
        elif isinstance(target, dict):
            fields = target
        else:
            raise ConfigurationError(f"a target must be a dict or OpenLEADR Target, not {target!r}")
        out.extend({name: value} for name, value in fields.items() if value is not None)
    return out
