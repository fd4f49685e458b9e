"""OpenLEADR's own VTN, set up to record what a fleet does: a real peer for tests and the demo.

:class:`OpenLEADRVTN` wraps ``openleadr.OpenADRServer`` (OpenLEADR 0.5.36, which
must be installed: ``pip install openleadr==0.5.36``, part of fleetven's
``test`` extra). It accepts every registration (or asks ``accept``), assigns
venIDs, requests every ``TELEMETRY_USAGE`` and ``TELEMETRY_STATUS`` report it
is offered, and records registrations, opt answers and report values, with
deadline-bounded waits::

    async with OpenLEADRVTN(poll_freq=timedelta(seconds=1)) as vtn:
        ...                                  # point VENs at vtn.url
        await vtn.wait_for(lambda: len(vtn.registrations) == 10, timeout=30)
        vtn.add_event(ven_id, signal_name="simple", signal_type="level", intervals=[...])
        await vtn.wait_for(lambda: vtn.opt_answers, timeout=30)

Over HTTPS with mutual TLS, and with XML signatures both ways, give it a server certificate,
the CA that client certificates must chain to, a signing certificate, and the fingerprint of
each VEN's certificate (OpenLEADR authenticates a VEN by comparing the fingerprint of its TLS
client certificate, and of the certificate that signed its message, with the one it was told)::

    ca = CertificateAuthority.create(tmp_path)          # fleetven.testing.certs
    server = ca.issue_server("vtn")
    vens = {name: ca.issue_client(name) for name in ("site-1", "site-2")}
    async with OpenLEADRVTN(http_cert=server.cert, http_key=server.key, http_ca_file=ca.cert,
                            cert=server.cert, key=server.key,
                            ven_fingerprints={n: c.fingerprint for n, c in vens.items()}) as vtn:
        fleet = Fleet(vtn.url, ca_file=str(ca.cert), vtn_fingerprint=vtn.fingerprint)
        ...

A registration over TLS is accepted only when the VEN's client certificate has the
fingerprint that :attr:`~OpenLEADRVTN.ven_fingerprints` holds for its venName; every later
message must come over a connection with that certificate and (unless
``verify_message_signatures`` is false) be signed by it, or OpenLEADR refuses it.
:attr:`~OpenLEADRVTN.received` records every request, accepted or not, with the fingerprint of
the client certificate it came with and what the VTN answered.

Unlike :class:`~fleetven.testing.TestVTN`, this is not built for speed: it is
there so that fleetven is checked against an implementation it did not write.

OpenLEADR keeps its message signer, its VEN lookup and its signature switch in class
attributes shared by every server of the process; this wrapper gives each of its servers its
own copies (set on the server's service objects), so VTNs with different settings, one after
the other or side by side, do not leak into each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import os
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from fleetven._extras import missing_extra
from fleetven.exceptions import ConfigurationError

__all__ = ("OpenLEADRVTN", "ReportValue", "OptAnswer", "ReceivedMessage")

StrPath = str | os.PathLike[str]
_MESSAGE_TYPE = re.compile(rb"<(?:[\w.-]+:)?oadrSignedObject\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)")


@dataclass(frozen=True, slots=True)
class OptAnswer:
    """An ``oadrCreatedEvent`` answer as OpenLEADR's VTN hands it to its event callback."""

    ven_id: str
    event_id: str
    opt_type: str


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One HTTP request that reached OpenLEADR's VTN, and what it answered.

    :ivar service: the service's name (the last part of the path, e.g. ``"OadrPoll"``).
    :ivar fingerprint: the fingerprint of the client's TLS certificate (OpenLEADR's format),
        ``None`` over plain HTTP or without a client certificate.
    :ivar body: the request body as received.
    :ivar status: the HTTP status of the answer.
    :ivar answer: the answer's body.
    :ivar tls_version: the connection's TLS version (``"TLSv1.2"``, ...), ``None`` over plain HTTP.
    :ivar cipher: the connection's cipher suite in OpenSSL's name, ``None`` over plain HTTP.
    """

    service: str
    fingerprint: str | None
    body: bytes
    status: int
    answer: str
    tls_version: str | None = None
    cipher: str | None = None

    @property
    def message_type(self) -> str | None:
        """The OpenADR message type of :attr:`body` (e.g. ``"oadrPoll"``), if it can be seen."""
        found = _MESSAGE_TYPE.search(self.body)
        return found.group(1).decode() if found else None


@dataclass(frozen=True, slots=True)
class ReportValue:
    """One reported value as OpenLEADR's VTN hands it to a report callback."""

    ven_id: str
    resource_id: str | None
    measurement: str | None
    dtstart: datetime
    value: Any


class OpenLEADRVTN:
    """OpenLEADR's VTN on a free port of 127.0.0.1, recording what it receives.

    :param vtn_id: the VTN's ID.
    :param poll_freq: the poll frequency the VTN asks VENs for.
    :param report_sampling: the sampling interval (and report-back interval)
        it requests for every offered report; ``None`` requests no reports.
    :param accept: called with OpenLEADR's registration payload dict; a false
        result refuses that registration (OpenLEADR then answers without a venID).
    :param http_cert: the VTN's TLS server certificate (PEM file); with ``http_key`` and
        ``http_ca_file``, the VTN serves HTTPS and requires a client certificate.
    :param http_key: the private key of ``http_cert``.
    :param http_ca_file: the CA file that client certificates must chain to.
    :param http_key_passphrase: the passphrase of ``http_key``.
    :param ciphers: an OpenSSL cipher string for the server's TLS 1.2 suites (default: Python's);
        ``"AES128-SHA256"``, say, to accept the OpenADR suite that Python leaves out.
    :param cert: the certificate that signs the VTN's messages (PEM file); unsigned without it.
    :param key: the private key of ``cert``.
    :param passphrase: the passphrase of ``key``.
    :param ven_fingerprints: venName -> the fingerprint of that VEN's certificate, as the VTN
        was told outside OpenADR (read at each registration: the dict may be changed later).
        Over TLS, a registration whose client certificate has another fingerprint, or whose
        venName is not in it, is refused; messages after registration are authenticated by
        OpenLEADR against the fingerprint of the VEN's registration.
    :param verify_message_signatures: whether OpenLEADR checks the signatures of VEN messages
        (it does so only over TLS, and only on messages that carry a venID).
    :raises ConfigurationError: only some of ``http_cert``, ``http_key``, ``http_ca_file``, or
        only one of ``cert`` and ``key``.
    """

    def __init__(
        self,
        *,
        vtn_id: str = "OPENLEADR-VTN",
        poll_freq: timedelta = timedelta(seconds=10),
        report_sampling: timedelta | None = timedelta(seconds=10),
        accept: Callable[[dict[str, Any]], bool] | None = None,
        http_cert: StrPath | None = None,
        http_key: StrPath | None = None,
        http_ca_file: StrPath | None = None,
        http_key_passphrase: str | None = None,
        ciphers: str | None = None,
        cert: StrPath | None = None,
        key: StrPath | None = None,
        passphrase: str | None = None,
        ven_fingerprints: dict[str, str] | None = None,
        verify_message_signatures: bool = True,
    ) -> None:
        try:
            from openleadr import OpenADRServer
            from openleadr.service import VTNService
        except ImportError as exc:
            raise missing_extra("OpenLEADRVTN (OpenLEADR's own VTN)", "demo", exc) from exc
        tls = (http_cert, http_key, http_ca_file)
        if any(tls) and not all(tls):
            raise ConfigurationError("OpenLEADRVTN serves HTTPS with http_cert, http_key and http_ca_file together, "
                             "not with only some of them")
        if (cert is None) != (key is None):
            raise ConfigurationError("OpenLEADRVTN signs with cert and key together, not with only one of them")
        self.tls = all(tls)
        self.vtn_id = vtn_id
        self.report_sampling = report_sampling
        self._accept = accept
        self._ids = itertools.count(1)
        #: ven_name -> ven_id of every accepted registration, in order.
        self.registrations: dict[str, str] = {}
        #: Every refused registration's ven_name.
        self.refused: list[str] = []
        #: Every opt answer received, in order.
        self.opt_answers: list[OptAnswer] = []
        #: Every reported value received, in order.
        self.reports: list[ReportValue] = []
        #: ven_id -> reports offered in oadrRegisterReport (OpenLEADR's report dicts).
        self.offered_reports: dict[str, list[dict[str, Any]]] = {}
        #: venName -> the fingerprint of its certificate, as the VTN knows it (see the parameter).
        self.ven_fingerprints: dict[str, str] = dict(ven_fingerprints or {})
        #: Every request that reached the VTN (after TLS), in order, with the answer.
        self.received: list[ReceivedMessage] = []
        #: Called with the type and the text of every message the VTN sends, after OpenLEADR
        #: built (and signed) it; what it returns is sent instead. For tests that need a VTN
        #: that misbehaves (a message altered after signing, say).
        self.rewrite_outgoing: Callable[[str, str], str] | None = None
        #: The fingerprint of the VTN's signing certificate (the VENs' ``vtn_fingerprint``).
        self.fingerprint: str | None = _fingerprint_of_file(cert) if cert is not None else None
        self._changed: asyncio.Event | None = None
        with warnings.catch_warnings():
            # OpenLEADR 0.5.36 keys its aiohttp application with strings, which aiohttp warns about.
            warnings.filterwarnings("ignore", message="It is recommended to use web.AppKey")
            self.server = OpenADRServer(
                vtn_id=vtn_id,
                http_host="127.0.0.1",
                http_port=0,
                requested_poll_freq=poll_freq,
                show_fingerprint=False,
                show_server_cert_domain=False,
                http_cert=_path(http_cert),
                http_key=_path(http_key),
                http_ca_file=_path(http_ca_file),
                http_key_passphrase=http_key_passphrase,
                cert=_path(cert),
                key=_path(key),
                passphrase=passphrase,
            )
            # OpenADRServer just set its signer as a class attribute of every service; keep our own
            # copy on our services, so that a later server with other settings does not change ours.
            self._create_message = VTNService._create_message
        if ciphers is not None and self.server.ssl_context is not None:
            self.server.ssl_context.set_ciphers(ciphers)
        for service in self.server.services.values():
            service._create_message = self._outgoing
            service.verify_message_signatures = verify_message_signatures
            if self.tls:
                service.ven_lookup = self._ven_lookup
        self.server.app.middlewares.append(self._record)
        self.server.add_handler("on_create_party_registration", self._on_create_party_registration)
        self.server.add_handler("on_register_report", self._on_register_report)
        self.port: int | None = None

    # ------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The ``vtn_url`` to give VENs."""
        if self.port is None:
            raise RuntimeError("OpenLEADRVTN is not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.server.http_path_prefix}"

    async def start(self) -> None:
        """Start the server on a free port (OpenLEADR's start-up banner is not printed)."""
        self._changed = asyncio.Event()
        with contextlib.redirect_stdout(io.StringIO()):
            await self.server.run()
        port = self.server.app_runner.addresses[0][1]
        self.port = int(port)

    async def stop(self) -> None:
        """Stop the server."""
        await self.server.stop()

    async def __aenter__(self) -> OpenLEADRVTN:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- scripting

    def add_event(self, ven_id: str, **kwargs: Any) -> str:
        """Queue an event for ``ven_id`` with OpenLEADR's ``add_event`` (same keywords:
        ``signal_name``, ``signal_type``, ``intervals``, ``response_required``, ...);
        answers are recorded in :attr:`opt_answers`. Returns the event ID."""
        event_id: str = self.server.add_event(ven_id=ven_id, callback=self._on_opt, **kwargs)
        return event_id

    def cancel_event(self, ven_id: str, event_id: str) -> None:
        """Cancel an event with OpenLEADR's ``cancel_event``."""
        self.server.cancel_event(ven_id, event_id)

    def remove_event(self, ven_id: str, event_id: str) -> None:
        """Drop an event from ``ven_id``'s list in OpenLEADR's event service, so that the next
        ``oadrDistributeEvent`` leaves it out: a cancellation by implication (2.0b rule 61).
        OpenLEADR has no call for this; its VTN does the same itself to events it has sent as
        completed. The VTN only sends a distribution when the VEN still has another event.

        :raises KeyError: the VEN has no such event.
        """
        from openleadr.utils import getmember

        events = self.server.services["event_service"].events.get(ven_id, [])
        for i, event in enumerate(events):
            if getmember(event, "event_descriptor.event_id") == event_id:
                del events[i]
                self.server.events_updated[ven_id] = True
                return
        raise KeyError(event_id)

    async def wait_for(self, predicate: Callable[[], object], *, timeout: float) -> None:
        """Wait until ``predicate()`` is true, re-checking after everything recorded.

        :raises TimeoutError: when it is still false after ``timeout`` seconds.
        """
        assert self._changed is not None, "start() first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            self._changed.clear()
            # Also re-check now and then: some state (a poll) is not recorded by a callback.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    # ------------------------------------------------------------- callbacks

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _outgoing(self, message_type: str, **payload: Any) -> str:
        text: str = self._create_message(message_type, **payload)
        if self.rewrite_outgoing is not None:
            text = self.rewrite_outgoing(message_type, text)
        return text

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()  # aiohttp keeps it: OpenLEADR's handler reads it again
        fingerprint = version = cipher = None
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            fingerprint = _fingerprint_of_der(der) if der else None
            version = ssl_object.version()
            suite = ssl_object.cipher()
            cipher = suite[0] if suite else None
        response = await handler(request)
        answer = response.text if isinstance(response, web.Response) and response.text is not None else ""
        service = request.path.rstrip("/").rsplit("/", 1)[-1]
        self.received.append(ReceivedMessage(service, fingerprint, body, response.status, answer, version, cipher))
        self._notify()
        return response

    def _ven_lookup(self, ven_id: str) -> dict[str, Any] | None:
        """OpenLEADR's ``ven_lookup``: what the VTN knows about a registered venID."""
        for name, known in self.registrations.items():
            if known == ven_id:
                return {
                    "ven_id": ven_id,
                    "ven_name": name,
                    "fingerprint": self.ven_fingerprints.get(name),
                    "registration_id": f"reg-{ven_id}",
                }
        return None

    def _on_create_party_registration(self, payload: dict[str, Any]) -> tuple[str, str] | bool:
        name = str(payload.get("ven_name"))
        # Over TLS, OpenLEADR hands us the fingerprint of the client certificate: it must be the one we know.
        seen = payload.get("fingerprint")
        if self.tls and (seen is None or seen != self.ven_fingerprints.get(name)):
            self.refused.append(name)
            self._notify()
            return False
        if self._accept is not None and not self._accept(payload):
            self.refused.append(name)
            self._notify()
            return False
        known = self.registrations.get(name)
        ven_id = known or f"ven-{next(self._ids):05d}"
        self.registrations[name] = ven_id
        self._notify()
        return ven_id, f"reg-{ven_id}"

    def _on_opt(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opt_answers.append(OptAnswer(str(ven_id), str(event_id), str(opt_type)))
        self._notify()

    def _on_register_report(
        self,
        ven_id: str,
        resource_id: str | None,
        measurement: str | None,
        unit: str | None,
        scale: str | None,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Callable[[list[tuple[datetime, Any]]], None], timedelta, timedelta] | None:
        self.offered_reports.setdefault(str(ven_id), []).append(
            {"resource_id": resource_id, "measurement": measurement, "unit": unit, "scale": scale}
        )
        self._notify()
        if self.report_sampling is None:
            return None

        def on_values(values: list[tuple[datetime, Any]]) -> None:
            for dtstart, value in values:
                self.reports.append(ReportValue(str(ven_id), resource_id, measurement, dtstart, value))
            self._notify()

        return on_values, self.report_sampling, self.report_sampling


def _path(value: StrPath | None) -> str | None:
    return None if value is None else os.fspath(value)


def _fingerprint_of_der(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()[-10:])


def _fingerprint_of_file(path: StrPath) -> str:
    import ssl

    with open(path, encoding="ascii") as file:
        return _fingerprint_of_der(ssl.PEM_cert_to_DER_cert(file.read()))
