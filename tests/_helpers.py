"""Helpers shared by the tests (import as ``from _helpers import ...``).

pytest puts ``tests/`` on ``sys.path`` (rootdir-relative "prepend" import
mode, no ``__init__.py``), so test modules import this file directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from importlib import resources
from types import ModuleType
from typing import Any

import pytest
import samples
from lxml import etree

__all__ = ("assert_valid_oadr", "load_oadr_schema", "load_twin", "oadr_errors", "scrape_until", "until",
           "watch_metrics_port")


async def until(predicate: Callable[[], object], *, timeout: float, what: str = "", step: float = 0.02) -> None:
    """Wait until ``predicate()`` is true (checked every ``step`` seconds), or fail after ``timeout``
    seconds saying ``what`` was awaited: for conditions no VTN message wakes a check of."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what}")
        await asyncio.sleep(step)


async def scrape_until(port: int, wanted: str, *, timeout: float) -> str:
    """Scrape ``http://127.0.0.1:<port>/metrics`` until its text holds ``wanted`` (within ``timeout``
    seconds; polling with a deadline, not a timing); return the text."""
    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            if wanted in text or loop.time() > deadline:
                assert wanted in text, text
                return text
            await asyncio.sleep(0.2)


def watch_metrics_port(stream: asyncio.StreamReader) -> tuple[asyncio.Task[None], asyncio.Future[int], list[bytes]]:
    """Read a ``fleetven run``/``worker`` process's JSON log lines from ``stream``: the task reading them,
    a future of the ``metrics_port`` it logs (failing with everything logged if it never does), and
    the lines read so far."""
    lines: list[bytes] = []
    loop = asyncio.get_running_loop()
    port: asyncio.Future[int] = loop.create_future()

    async def read() -> None:
        async for line in stream:
            lines.append(line)
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if "metrics_port" in entry and not port.done():
                    port.set_result(int(entry["metrics_port"]))
        if not port.done():
            port.set_exception(AssertionError(b"".join(lines).decode(errors="replace")))

    return loop.create_task(read()), port, lines


def load_twin(name: str, kind: str) -> ModuleType:
    """The module ``fleetven._fast._<name>_<kind>``: the pure twin (``py``) or the compiled one (``c``).

    The compiled one is skipped under ``FLEETVEN_NO_EXTENSIONS`` (a pure build); otherwise its
    absence fails the test, since it was expected to be built. (The variable is read here, not
    through fleetven: a package that does not import must fail its tests, not their collection.)
    """
    module = f"fleetven._fast._{name}_{kind}"
    if kind == "py":
        return importlib.import_module(module)
    if os.environ.get("FLEETVEN_NO_EXTENSIONS"):
        pytest.skip(f"FLEETVEN_NO_EXTENSIONS is set: pure build, no compiled {name} twin")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"the compiled twin {module} is missing or broken ({exc}); build it (`make test`, or "
                    "`pip install --no-build-isolation -e .`) or set FLEETVEN_NO_EXTENSIONS=1 for a pure run",
                    pytrace=False)


def load_oadr_schema() -> etree.XMLSchema:
    """Load the official ``oadr_20b.xsd`` from the installed openleadr package.

    The schema includes and imports its sibling files, so it is parsed from a
    real path (``importlib.resources.as_file``), never copied into this repo.
    """
    xsd = resources.files("openleadr").joinpath("schema", "oadr_20b.xsd")
    with resources.as_file(xsd) as path:
        return etree.XMLSchema(etree.parse(str(path)))


def oadr_errors(schema: etree.XMLSchema, data: bytes) -> list[str]:
    """Return the schema's complaints about the document ``data`` (empty when valid)."""
    doc = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def assert_valid_oadr(schema: etree.XMLSchema, data: bytes) -> None:
    """Fail the test, listing every schema error, unless ``data`` validates against oadr_20b.xsd."""
    errors = oadr_errors(schema, data)
    if errors:
        shown = data.decode("utf-8", "replace")
        if len(shown) > 4000:
            shown = shown[:4000] + "..."
        raise AssertionError("not valid against oadr_20b.xsd:\n  " + "\n  ".join(errors) + "\n" + shown)


class Charger:
    """OpenLEADR-style user code for the drop-in tests: it curtails on every event it opts into
    and stops when told the event was cancelled. Its two methods are the handlers."""

    def __init__(self) -> None:
        self.curtailing: dict[str, bool] = {}
        self.firsts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    async def on_event(self, event: dict[str, Any]) -> str:
        self.firsts.append(event)
        self.curtailing[event["event_descriptor"]["event_id"]] = True
        return "optIn"

    async def on_update_event(self, event: dict[str, Any]) -> str:
        self.updates.append(event)
        if event["event_descriptor"]["event_status"] == "cancelled":
            self.curtailing[event["event_descriptor"]["event_id"]] = False
        return "optIn"


def event_for(event_id: str, *, start: datetime | None = None, duration: timedelta = timedelta(hours=1),
              mod: int = 0, response_required: str = "always") -> dict[str, Any]:
    """A minimal event for the drop-in tests, starting in five minutes unless ``start`` says otherwise."""
    event = samples.minimal_event(event_id)
    start = start or datetime.now(timezone.utc) + timedelta(minutes=5)
    event["modification_number"] = mod
    event["event_descriptor"]["modification_number"] = mod
    event["active_period"] = {"dtstart": start, "duration": duration}
    event["event_signals"][0]["intervals"][0]["dtstart"] = start
    event["response_required"] = response_required
    return event
