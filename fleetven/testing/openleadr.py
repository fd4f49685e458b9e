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

Unlike :class:`~fleetven.testing.TestVTN`, this is not built for speed: it is
there so that fleetven is checked against an implementation it did not write.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ("OpenLEADRVTN", "ReportValue", "OptAnswer")


@dataclass(frozen=True, slots=True)
class OptAnswer:
    """An ``oadrCreatedEvent`` answer as OpenLEADR's VTN hands it to its event callback."""

    ven_id: str
    event_id: str
    opt_type: str


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
    """

    def __init__(
        self,
        *,
        vtn_id: str = "OPENLEADR-VTN",
        poll_freq: timedelta = timedelta(seconds=10),
        report_sampling: timedelta | None = timedelta(seconds=10),
        accept: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        try:
            from openleadr import OpenADRServer
        except ImportError as exc:  # pragma: no cover - the test extra installs it
            raise RuntimeError("OpenLEADRVTN needs OpenLEADR: pip install openleadr==0.5.36") from exc
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
            )
        self.server.add_handler("on_create_party_registration", self._on_create_party_registration)
        self.server.add_handler("on_register_report", self._on_register_report)
        self.port: int | None = None

    # ------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The ``vtn_url`` to give VENs."""
        if self.port is None:
            raise RuntimeError("OpenLEADRVTN is not started")
        return f"http://127.0.0.1:{self.port}{self.server.http_path_prefix}"

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

    def _on_create_party_registration(self, payload: dict[str, Any]) -> tuple[str, str] | bool:
        name = str(payload.get("ven_name"))
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
