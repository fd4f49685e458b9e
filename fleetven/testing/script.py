"""Scripting :class:`~fleetven.testing.TestVTN` from a TOML file (``fleetven vtn --script FILE``).

A script says what the VTN does, and when (times are seconds after the VTN started listening;
durations as ``"30s"``, ``"5m"``, ``"PT1M"`` or a number of seconds)::

    [vtn]
    vtn_id = "SCRIPTED-VTN"
    poll_freq = "10s"              # the oadrRequestedOadrPollFreq it asks VENs for

    [[events]]                      # an event for some VENs
    at = "30s"
    vens = "all"                    # "all" registered VENs, the first N registered (an integer),
                                    # or a list of venIDs / venNames
    signal_name = "SIMPLE"
    signal_type = "level"
    start = "1m"                    # the event starts this long after it is issued (default 1m)
    intervals = [ { duration = "5m", value = 1.0 }, { duration = "5m", value = 2.0 } ]
    response_required = "always"
    cancel_after = "2m"             # optional: cancel it this long after issuing it

    [[reports]]                     # request the reports VENs offer
    # no "at": in the oadrRegisteredReport answering each VEN's oadrRegisterReport;
    # with "at": an oadrCreateReport queued for the VENs registered by then
    names = ["TELEMETRY_USAGE"]     # default: every offered report
    granularity = "10s"
    report_back = "10s"

    [[faults]]                      # misbehave for a while
    at = "60s"
    duration = "5s"                 # default: until the VTN stops
    stall = true                    # answer nothing until the fault ends (requests wait)
    # or: delay = "2s" (each request waits that long), status = 503, drop = true, garbage = true
    vens = "all"                    # faults for "all" apply to every request, known VEN or not

Every mistake is reported with the file, line and key (:class:`~fleetven.exceptions.ConfigurationError`)
before the VTN starts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import tomllib
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleetven.exceptions import ConfigurationError
from fleetven.openadr import model as m
from fleetven.openadr.timefmt import parse_seconds
from fleetven.testing._http import Reply, RequestInfo
from fleetven.testing._records import Faults
from fleetven.testing.vtn import TestVTN

__all__ = ("Script", "EventAction", "ReportAction", "FaultAction", "ScriptedVTN", "load_script", "parse_script")

logger = logging.getLogger("fleetven.testing.script")

_MARKET = "http://marketcontext.example.com/fleetven"
#: Which VENs an action is for: ``"all"``, the first N registered, or venIDs / venNames.
Selector = str | int | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventAction:
    """Issue one event to the selected VENs at ``at`` (seconds after start)."""

    at: float
    vens: Selector = "all"
    event_id: str | None = None
    signal_name: str = "SIMPLE"
    signal_type: str = "level"
    start: float = 60.0
    intervals: tuple[tuple[float, float], ...] = ((300.0, 1.0),)
    response_required: str = "always"
    priority: int | None = None
    market_context: str = _MARKET
    test_event: bool = False
    cancel_after: float | None = None


@dataclass(frozen=True, slots=True)
class ReportAction:
    """Request reports: at registration (``at`` is ``None``) or at ``at``."""

    at: float | None = None
    vens: Selector = "all"
    names: tuple[str, ...] = ()
    granularity: float = 10.0
    report_back: float = 10.0


@dataclass(frozen=True, slots=True)
class FaultAction:
    """Misbehave from ``at`` for ``duration`` seconds (``None``: until the end)."""

    at: float
    duration: float | None = None
    vens: Selector = "all"
    stall: bool = False
    delay: float = 0.0
    status: int | None = None
    drop: bool = False
    garbage: bool = False


@dataclass(frozen=True, slots=True)
class Script:
    """A parsed script."""

    vtn_id: str | None = None
    poll_freq: float | None = None
    events: tuple[EventAction, ...] = ()
    reports: tuple[ReportAction, ...] = ()
    faults: tuple[FaultAction, ...] = ()
    source: str = "<script>"


# ------------------------------------------------------------------ parsing


class _Reader:
    """Turns TOML tables into actions, reporting mistakes with their line."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def line_of(self, table: str, index: int | None, key: str | None) -> int | None:
        header = f"[[{table}]]" if index is not None else f"[{table}]"
        seen = -1
        start: int | None = None
        for number, raw in enumerate(self.lines, 1):
            text = raw.split("#", 1)[0].strip()
            if text.startswith("["):
                if start is not None:
                    break
                if text.replace(" ", "") == header:
                    seen += 1
                    if index is None or seen == index:
                        start = number
                continue
            if start is not None and key is not None and re.match(rf"{re.escape(key)}\s*=", text):
                return number
        return start

    def fail(self, table: str, index: int | None, key: str | None, text: str) -> ConfigurationError:
        where = f"{table}[{index}]" if index is not None else table
        name = f"{where}.{key}" if key else where
        line = self.line_of(table, index, key)
        place = f"{self.source}:{line}" if line is not None else self.source
        return ConfigurationError(f"{place}: [{where}] {key or ''}: {text}".replace(" : ", ": "), line=line,
                                  key=name)

    def duration(self, table: str, index: int | None, data: dict[str, Any], key: str,
                 default: float | None) -> float | None:
        if key not in data:
            return default
        try:
            return parse_seconds(data[key], name=key)
        except ConfigurationError as exc:
            raise self.fail(table, index, key, exc.fields["problem"]) from None

    def selector(self, table: str, index: int, data: dict[str, Any]) -> Selector:
        value = data.get("vens", "all")
        if value == "all":
            return "all"
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        raise self.fail(table, index, "vens", f'expected "all", a positive number or a list of names, not {value!r}')

    def check_keys(self, table: str, index: int | None, data: dict[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(table, index, key, f"unknown key (known: {', '.join(sorted(allowed))})")


def parse_script(text: str, *, source: str = "<script>") -> Script:
    """Parse a script's TOML text.

    :param source: the file name, for error messages.
    :raises ConfigurationError: invalid TOML or an invalid setting, with its line and key.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigurationError(f"{source}: not valid TOML: {exc}",
                                 line=int(line.group(1)) if line else None) from None
    r = _Reader(text, source)
    for key in doc:
        if key not in ("vtn", "events", "reports", "faults"):
            raise r.fail(key, None, None, "unknown table (known: [vtn], [[events]], [[reports]], [[faults]])")
    vtn = doc.get("vtn", {})
    if not isinstance(vtn, dict):
        raise r.fail("vtn", None, None, "must be a table")
    r.check_keys("vtn", None, vtn, {"vtn_id", "poll_freq"})
    vtn_id = vtn.get("vtn_id")
    if vtn_id is not None and (not isinstance(vtn_id, str) or not vtn_id):
        raise r.fail("vtn", None, "vtn_id", "must be a non-empty string")
    poll_freq = r.duration("vtn", None, vtn, "poll_freq", None)
    if poll_freq is not None and (poll_freq < 1 or poll_freq != int(poll_freq)):
        raise r.fail("vtn", None, "poll_freq", "must be a whole number of seconds, at least 1 (OpenADR durations)")

    def tables(name: str) -> list[dict[str, Any]]:
        value = doc.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise r.fail(name, None, None, f"write each one as a [[{name}]] table")
        return value

    events = []
    for i, data in enumerate(tables("events")):
        r.check_keys("events", i, data, {"at", "vens", "event_id", "signal_name", "signal_type", "start", "intervals",
                                         "response_required", "priority", "market_context", "test_event",
                                         "cancel_after"})
        at = r.duration("events", i, data, "at", None)
        if at is None:
            raise r.fail("events", i, "at", "is required (when to issue the event)")
        intervals = []
        raw_intervals = data.get("intervals", [{"duration": "5m", "value": 1.0}])
        if not isinstance(raw_intervals, list) or not raw_intervals:
            raise r.fail("events", i, "intervals", "must be a non-empty list of { duration = ..., value = ... }")
        for item in raw_intervals:
            if not isinstance(item, dict) or not isinstance(item.get("value"), int | float) or "duration" not in item:
                raise r.fail("events", i, "intervals", f"each interval needs a duration and a numeric value: {item!r}")
            length = r.duration("events", i, item, "duration", None)
            if not length:
                raise r.fail("events", i, "intervals", f"an interval's duration must be positive: {item!r}")
            intervals.append((length, float(item["value"])))
        if data.get("response_required", "always") not in ("always", "never"):
            raise r.fail("events", i, "response_required", 'must be "always" or "never"')
        for key in ("event_id", "signal_name", "signal_type", "market_context"):
            if key in data and (not isinstance(data[key], str) or not data[key]):
                raise r.fail("events", i, key, "must be a non-empty string")
        priority = data.get("priority")
        if priority is not None and (not isinstance(priority, int) or priority < 0):
            raise r.fail("events", i, "priority", "must be a non-negative integer")
        events.append(EventAction(
            at=at,
            vens=r.selector("events", i, data),
            event_id=data.get("event_id"),
            signal_name=data.get("signal_name", "SIMPLE"),
            signal_type=data.get("signal_type", "level"),
            start=r.duration("events", i, data, "start", 60.0) or 0.0,
            intervals=tuple(intervals),
            response_required=data.get("response_required", "always"),
            priority=priority,
            market_context=data.get("market_context", _MARKET),
            test_event=bool(data.get("test_event", False)),
            cancel_after=r.duration("events", i, data, "cancel_after", None),
        ))

    reports = []
    for i, data in enumerate(tables("reports")):
        r.check_keys("reports", i, data, {"at", "vens", "names", "granularity", "report_back"})
        names = data.get("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise r.fail("reports", i, "names", "must be a list of report names, e.g. [\"TELEMETRY_USAGE\"]")
        granularity = r.duration("reports", i, data, "granularity", 10.0) or 0.0
        if granularity <= 0:
            raise r.fail("reports", i, "granularity", "must be positive")
        reports.append(ReportAction(
            at=r.duration("reports", i, data, "at", None),
            vens=r.selector("reports", i, data),
            names=tuple(n.upper() for n in names),
            granularity=granularity,
            report_back=r.duration("reports", i, data, "report_back", granularity) or granularity,
        ))

    faults = []
    for i, data in enumerate(tables("faults")):
        r.check_keys("faults", i, data, {"at", "duration", "vens", "stall", "delay", "status", "drop", "garbage"})
        at = r.duration("faults", i, data, "at", None)
        if at is None:
            raise r.fail("faults", i, "at", "is required (when the fault begins)")
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise r.fail("faults", i, "status", f"must be an HTTP error status (400-599), not {status!r}")
        for key in ("stall", "drop", "garbage"):
            if key in data and not isinstance(data[key], bool):
                raise r.fail("faults", i, key, "must be true or false")
        fault = FaultAction(
            at=at,
            duration=r.duration("faults", i, data, "duration", None),
            vens=r.selector("faults", i, data),
            stall=data.get("stall", False),
            delay=r.duration("faults", i, data, "delay", 0.0) or 0.0,
            status=status,
            drop=data.get("drop", False),
            garbage=data.get("garbage", False),
        )
        kinds = sum((fault.stall, bool(fault.delay), fault.status is not None, fault.drop, fault.garbage))
        if kinds == 0:
            raise r.fail("faults", i, None, "names no fault: set one of stall, delay, status, drop, garbage")
        if fault.stall and (kinds > 1 or fault.vens != "all"):
            raise r.fail("faults", i, "stall", "a stall stops the whole VTN: no other fault, and vens = \"all\"")
        if fault.stall and fault.duration is None:
            raise r.fail("faults", i, "duration", "a stall needs a duration")
        faults.append(fault)

    return Script(vtn_id=vtn_id, poll_freq=poll_freq, events=tuple(events), reports=tuple(reports),
                  faults=tuple(faults), source=source)


def load_script(path: str | Path) -> Script:
    """Read and parse a script file.

    :raises ConfigurationError: the file cannot be read, or see :func:`parse_script`.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the script {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"the script {str(path)!r} is not UTF-8 text") from None
    return parse_script(text, source=str(path))


# ------------------------------------------------------------------ running


class ScriptedVTN(TestVTN):
    """A :class:`~fleetven.testing.TestVTN` that plays a :class:`Script`, and can stall.

    Takes :class:`TestVTN`'s arguments, plus ``script``. :meth:`start` starts the script's clock.
    """

    __test__ = False

    def __init__(self, *, script: Script | None = None, **options: Any) -> None:
        script = script or Script()
        if script.vtn_id is not None:
            options.setdefault("vtn_id", script.vtn_id)
        if script.poll_freq is not None:
            options.setdefault("poll_freq", timedelta(seconds=script.poll_freq))
        super().__init__(**options)
        self.script = script
        #: Until when (``loop.time()``) every request waits: a scripted stall.
        self.stalled_until = 0.0
        #: Requests received per message type, up to the last :meth:`trim`.
        self.counts: Counter[str] = Counter()
        #: Each action as it ran: ``(seconds since start, description)``.
        self.log: list[tuple[float, str]] = []
        self._runner: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._event_numbers = itertools.count(1)
        on_registration = [r for r in script.reports if r.at is None]
        if on_registration and self.on_register_report is None:
            self.on_register_report = self._requests_at_registration

    async def start(self) -> None:
        """Start listening and playing the script."""
        await super().start()
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._runner = loop.create_task(self._play(), name="fleetven-vtn-script")

    async def stop(self) -> None:
        """Stop the script and the server."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        self.stalled_until = 0.0
        await super().stop()

    def _route(
        self, method: str, path: str, body: bytes, info: RequestInfo | None = None
    ) -> Reply | Awaitable[Reply]:
        if self.stalled_until and self.stalled_until > self._now():
            return self._stalled(method, path, body, info)
        return super()._route(method, path, body, info)

    async def _stalled(self, method: str, path: str, body: bytes, info: RequestInfo | None) -> Reply:
        wait = self.stalled_until - self._now()
        if wait > 0:
            await asyncio.sleep(wait)
        result = super()._route(method, path, body, info)
        if result is None or isinstance(result, tuple):
            return result
        return await result

    def trim(self) -> Counter[str]:
        """Forget the records kept so far (a long-running VTN would otherwise grow without bound),
        adding them to :attr:`counts`; return the counts. Registrations, VENs, their events and
        offered reports are kept: the script needs them."""
        counts = self.counts
        for receipt in self.received:
            counts[receipt.message.message_type] += 1
        counts["oadrPoll"] = self.polls
        self.received.clear()
        self.reports.clear()
        self.event_responses.clear()
        self.opts.clear()
        self.faulted.clear()
        del self.errors[:-100]
        return counts

    # ------------------------------------------------------------- actions

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        steps: list[tuple[float, int, Any]] = []
        order = itertools.count()
        for event in self.script.events:
            steps.append((event.at, next(order), lambda e=event: self._issue(e)))
        for report in self.script.reports:
            if report.at is not None:
                steps.append((report.at, next(order), lambda r=report: self._request_reports(r)))
        for fault in self.script.faults:
            steps.append((fault.at, next(order), lambda f=fault: self._fault(f, True)))
            if fault.duration is not None:
                steps.append((fault.at + fault.duration, next(order), lambda f=fault: self._fault(f, False)))
        steps.sort(key=lambda s: (s[0], s[1]))
        for at, _, action in steps:
            delay = self._t0 + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                action()
            except Exception:  # a script step failing must not take the VTN down
                logger.exception("script step at %.1f s failed", at)

    def _note(self, text: str) -> None:
        t = self._now() - self._t0
        self.log.append((t, text))
        logger.info("script at %.1f s: %s", t, text)

    def select(self, vens: Selector) -> list[str]:
        """The venIDs an action is for, among the VENs registered now (in order of registration)."""
        registered = [rec for rec in self.vens.values() if rec.registration_id is not None]
        if vens == "all":
            return [rec.ven_id for rec in registered]
        if isinstance(vens, int):
            return [rec.ven_id for rec in registered[:vens]]
        wanted = set(vens)
        return [
            rec.ven_id for rec in registered
            if rec.ven_id in wanted or (rec.registration is not None and rec.registration.ven_name in wanted)
        ]

    def _issue(self, action: EventAction) -> None:
        number = next(self._event_numbers)
        event_id = action.event_id or f"script-event-{number}"
        now = datetime.now(UTC).replace(microsecond=0)
        targets = self.select(action.vens)
        for ven_id in targets:
            self.add_event(ven_id, _event(action, event_id, ven_id, now))
        self._note(f"event {event_id} issued to {len(targets)} VENs")
        if action.cancel_after is not None:
            asyncio.get_running_loop().call_later(action.cancel_after, self._cancel, event_id, targets)

    def _cancel(self, event_id: str, ven_ids: list[str]) -> None:
        for ven_id in ven_ids:
            try:
                self.cancel_event(ven_id, event_id)
            except KeyError:
                pass
        self._note(f"event {event_id} cancelled for {len(ven_ids)} VENs")

    def _report_requests(self, action: ReportAction, offered: list[m.Report]) -> list[m.ReportRequest]:
        requests = []
        for rep in offered:
            name = rep.report_name.removeprefix("METADATA_")
            if action.names and name not in action.names:
                continue
            if not action.names and name.startswith("HISTORY_"):
                continue  # history reports are asked for over a period, not periodically
            requests.append(m.ReportRequest(
                report_request_id=f"{self.vtn_id}-rr-{self._new_id()}",
                report_specifier=m.ReportSpecifier(
                    report_specifier_id=rep.report_specifier_id,
                    granularity=timedelta(seconds=action.granularity),
                    report_back_duration=timedelta(seconds=action.report_back),
                    specifier_payloads=[
                        m.SpecifierPayload(r_id=d.r_id, reading_type=d.reading_type) for d in rep.report_descriptions
                    ],
                ),
            ))
        return requests

    def _requests_at_registration(self, ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
        out: list[m.ReportRequest] = []
        for action in self.script.reports:
            if action.at is None and (action.vens == "all" or ven_id in self.select(action.vens)):
                out.extend(self._report_requests(action, msg.reports))
        return out

    def _request_reports(self, action: ReportAction) -> None:
        offered: dict[str, dict[str, m.Report]] = {}
        for ven_id, rep in self.registered_reports:
            offered.setdefault(ven_id, {})[rep.report_specifier_id] = rep
        count = 0
        for ven_id in self.select(action.vens):
            requests = self._report_requests(action, list(offered.get(ven_id, {}).values()))
            if requests:
                self.request_report(ven_id, *requests)
                count += 1
        self._note(f"reports requested from {count} VENs")

    def _fault(self, action: FaultAction, begin: bool) -> None:
        if action.stall:
            if begin:
                assert action.duration is not None
                self.stalled_until = self._now() + action.duration
                self._note(f"stall for {action.duration:g} s")
            else:
                self._note("stall over")
            return
        if action.vens == "all":
            targets = [self.faults]
        else:
            targets = [self.ven_faults.setdefault(ven_id, Faults()) for ven_id in self.select(action.vens)]
        for faults in targets:
            if begin:
                faults.delay, faults.status = action.delay, action.status
                faults.drop, faults.garbage = action.drop, action.garbage
            else:
                faults.clear()
        what = ", ".join(
            part for part in (
                f"delay {action.delay:g} s" if action.delay else "",
                f"HTTP {action.status}" if action.status else "",
                "drop" if action.drop else "",
                "garbage" if action.garbage else "",
            ) if part
        )
        self._note(f"fault {what} {'on' if begin else 'off'} ({action.vens if action.vens == 'all' else len(targets)} "
                   f"{'' if action.vens == 'all' else 'VENs'})".replace("  ", " "))


def _event(action: EventAction, event_id: str, ven_id: str, now: datetime) -> m.Event:
    start = now + timedelta(seconds=action.start)
    total = sum(length for length, _ in action.intervals)
    descriptor: dict[str, Any] = {
        "event_id": event_id,
        "modification_number": 0,
        "market_context": action.market_context,
        "created_date_time": now,
        "event_status": "far" if action.start > 0 else "active",
        "test_event": action.test_event,
    }
    if action.priority is not None:
        descriptor["priority"] = action.priority
    return {
        "event_id": event_id,
        "modification_number": 0,
        "event_status": descriptor["event_status"],
        "test_event": action.test_event,
        "market_context": action.market_context,
        "priority": action.priority,
        "event_descriptor": descriptor,
        "active_period": {"dtstart": start, "duration": timedelta(seconds=total)},
        "event_signals": [
            {
                "signal_name": action.signal_name,
                "signal_type": action.signal_type,
                "signal_id": "sig-0",
                "intervals": [
                    {"duration": timedelta(seconds=length), "uid": str(i), "signal_payload": value}
                    for i, (length, value) in enumerate(action.intervals)
                ],
            }
        ],
        "targets": [{"ven_id": ven_id}],
        "targets_by_type": {"ven_id": [ven_id]},
        "response_required": action.response_required,
    }

