"""The two extractor twins behave the same, and round-trip what the builder writes.

``fleetven._fast._extract_py`` (pure Python over lxml's API) is the
specification; ``fleetven._fast._extract_c`` (Cython walking libxml2 nodes)
must return equal objects (same classes, dict keys in the same order, same
value types) or raise the same exception class with the same text and fields.

* Every message type: hypothesis draws model objects with valid values (IDs
  with leading zeros, mixed case, non-ASCII, ``& < >``, tabs and CRs inside;
  aware datetimes with microseconds in several offsets; whole-second
  durations, negative ones too; finite floats), :func:`build_message` builds
  them, :func:`parse_document` parses them, and both twins extract them. The
  results must be identical, and equal to the original model after the
  normalizations listed in :func:`expected` (the only places where the round
  trip is not exact).
* The C date-time and duration parsers: random strings from a relevant
  alphabet give the same value, or the same :class:`InvalidValue` text, as
  :mod:`fleetven.openadr.timefmt`; and the C fast path, wherever it answers,
  answers what timefmt answers.
* Node-level corner cases that :func:`parse_document` never produces but an
  lxml tree can hold (entity references, CDATA, split text nodes).

Under ``FLEETVEN_NO_EXTENSIONS`` the compiled twin is not built: the round
trip is then checked on the pure twin alone and the C-only tests are skipped.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven._fast import NO_EXTENSIONS
from fleetven._fast import _extract_py as pure
from fleetven.exceptions import InvalidValue, MessageError
from fleetven.messages import build_message, parse_document
from fleetven.openadr import model as m
from fleetven.openadr import timefmt


def _compiled() -> ModuleType | None:
    """The compiled twin; ``None`` under FLEETVEN_NO_EXTENSIONS; its absence otherwise fails."""
    if NO_EXTENSIONS:
        return None
    try:
        return importlib.import_module("fleetven._fast._extract_c")
    except ImportError as exc:  # pragma: no cover - a broken build
        pytest.fail(f"the compiled extractor fleetven._fast._extract_c does not import ({exc})", pytrace=False)


COMPILED = _compiled()
needs_c = pytest.mark.skipif(COMPILED is None, reason="FLEETVEN_NO_EXTENSIONS: no compiled twin")


# ================================================================== comparing outcomes


def canon(value: Any) -> Any:
    """A strict, comparable image of a result: types, dict key order and float bits all count.

    ``NaN == NaN`` and ``-0.0 != 0.0`` here, unlike ``==`` on the objects.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, canon(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, dict):
        return ("dict", tuple((canon(k), canon(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(canon(v) for v in value))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    return (type(value).__name__, value)


def outcome(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, ...]:
    """``("ok", canon(result))`` or ``("raise", class, text, canon(fields))``.

    Anything that is not a :class:`MessageError` is re-raised: it is a bug in itself.
    """
    try:
        result = fn(arg)
    except MessageError as exc:
        return ("raise", type(exc), str(exc), canon(exc.fields))
    return ("ok", canon(result))


def assert_twins_agree(root: Any) -> tuple[Any, ...]:
    """Run both twins on ``root``; they must agree. Returns the pure twin's outcome."""
    a = outcome(pure.extract, root)
    if COMPILED is not None:
        b = outcome(COMPILED.extract, root)
        assert a == b, f"twins disagree:\n  pure:     {a!r:.2000}\n  compiled: {b!r:.2000}"
    return a


# ================================================================== strategies

_XML_SPACE = " \t\r\n"
_SPECIAL = "&<>\"'\t\r éßÆ中😀\u00a0\u2028"


def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (9, 10, 13) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


_chars = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + "-_.:/ "),
    st.sampled_from(_SPECIAL),
    st.characters(codec="utf-8").filter(_xml_char),
)

#: Text as an ID or free text: never empty, no XML whitespace at the ends (the extractor strips it).
text = st.one_of(
    st.text(_chars, min_size=1, max_size=16),
    st.from_regex(r"0{1,3}[0-9]{1,6}", fullmatch=True),  # numeric-looking IDs with leading zeros
    st.sampled_from(["VTN-Alpha", "vtn-alpha", "000123", "0", "Zürich & <Co>", "a\r\nb", "x\ty"]),
).map(lambda s: s.strip(_XML_SPACE)).filter(bool)


def _x_name(s: str) -> bool:
    return not s[0].isspace()


def enum_or_x(values: list[str]) -> st.SearchStrategy[str]:
    """A value of an extensible enumeration: a listed one or an ``x-`` name."""
    return st.one_of(st.sampled_from(values), text.filter(_x_name).map(lambda s: "x-" + s))


uint = st.integers(0, 4294967295)
code = st.integers(100, 999)
finite = st.floats(allow_nan=False, allow_infinity=False)
_zones = st.sampled_from([UTC, timezone(timedelta(hours=4)), timezone(-timedelta(hours=5, minutes=30)),
                          timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=12))])
aware = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=_zones)
duration = st.one_of(
    st.integers(-10 * 86400, 10 * 86400).map(lambda s: timedelta(seconds=s)),
    st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(minutes=15), timedelta(days=1), timedelta(weeks=2)]),
)
ncname = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)


def response() -> st.SearchStrategy[m.Response]:
    return st.builds(m.Response, response_code=code, response_description=st.none() | text,
                     request_id=st.none() | text)


def _area() -> st.SearchStrategy[dict[str, Any]]:
    def build(pos: list[float], fc: str | None, poly: str | None) -> dict[str, Any]:
        d: dict[str, Any] = {"pos_list": pos}
        if fc is not None:
            d["feature_collection_id"] = fc
        if poly is not None:
            d["polygon_id"] = poly
        return d

    return st.builds(build, st.lists(finite, min_size=0, max_size=6), st.none() | ncname, st.none() | ncname)


#: A target (a one-key dict) of every type the model knows.
target = st.one_of(
    *[st.builds(lambda v, k=k: {k: v}, text) for k in ("ven_id", "resource_id", "group_id", "group_name", "party_id")],
    *[st.builds(lambda v, k=k: {k: {"mrid": v}}, text) for k in ("end_device_asset", "meter_asset")],
    *[st.builds(lambda v, k=k: {k: {"node": v}}, text) for k in ("p_node", "aggregated_p_node",
                                                                  "service_delivery_point")],
    st.builds(lambda a, b: {"transport_interface": {"point_of_receipt": a, "point_of_delivery": b}}, text, text),
    *[st.builds(lambda v, k=k: {k: v}, _area()) for k in ("service_area", "service_location")],
)
targets = st.lists(target, max_size=5)

_POWER = ["powerReal", "powerApparent", "powerReactive"]
_PLAIN = ["voltage", "energyApparent", "energyReactive", "energyReal", "customUnit", "current", "currency",
          "currencyPerKWh", "currencyPerKW", "currencyPerThm", "frequency", "Therm", "temperature"]
_SCALES = ["p", "n", "micro", "m", "c", "d", "k", "M", "G", "T", "none"]


@st.composite
def measurement(draw: st.DrawFn) -> m.Measurement:
    name = draw(st.sampled_from([*_POWER, *_PLAIN, "pulseCount"]))
    kw: dict[str, Any] = {"name": name, "description": draw(text), "unit": draw(text)}
    if name == "pulseCount":
        kw["pulse_factor"] = draw(finite)
    else:
        kw["scale"] = draw(st.sampled_from(_SCALES))
    if name in _POWER:
        kw["power_attributes"] = {"hertz": draw(finite), "voltage": draw(finite), "ac": draw(st.booleans())}
    return m.Measurement(**kw)


def _by_type(ts: list[m.Target]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for t in ts:
        for k, v in t.items():
            out.setdefault(k, []).append(v)
    return out


_SIGNAL_NAMES = ["SIMPLE", "simple", "ELECTRICITY_PRICE", "ENERGY_PRICE", "DEMAND_CHARGE", "BID_PRICE", "BID_LOAD",
                 "BID_ENERGY", "CHARGE_STATE", "LOAD_DISPATCH", "LOAD_CONTROL"]
_SIGNAL_TYPES = ["delta", "level", "multiplier", "price", "priceMultiplier", "priceRelative", "setpoint",
                 "x-loadControlCapacity", "x-loadControlLevelOffset", "x-loadControlPercentOffset",
                 "x-loadControlSetpoint"]
_STATUSES = ["none", "far", "near", "active", "completed", "cancelled"]


@st.composite
def signal(draw: st.DrawFn) -> dict[str, Any]:
    """An event signal in the extractor's key order; some intervals without ``dtstart`` (then computed)."""
    intervals = []
    for _ in range(draw(st.integers(1, 4))):
        iv: dict[str, Any] = {}
        if draw(st.booleans()):
            iv["dtstart"] = draw(aware)
        iv["duration"] = draw(duration)
        iv["uid"] = draw(text)
        iv["signal_payload"] = draw(finite)
        intervals.append(iv)
    sig: dict[str, Any] = {"signal_name": draw(enum_or_x(_SIGNAL_NAMES)), "signal_type": draw(st.sampled_from(
        _SIGNAL_TYPES)), "signal_id": draw(text)}
    if draw(st.booleans()):
        sig["current_value"] = draw(finite)
    sig["intervals"] = intervals
    if draw(st.booleans()):
        sig["measurement"] = draw(measurement())
    if draw(st.booleans()):
        ts = draw(targets)
        sig["targets"], sig["targets_by_type"] = ts, _by_type(ts)
    return sig


@st.composite
def event(draw: st.DrawFn) -> m.Event:
    """An event dict in the shape the extractor returns (flat copies consistent with the descriptor)."""
    event_id, mod, status = draw(text), draw(uint), draw(st.sampled_from(_STATUSES))
    market, created, test_event = draw(text), draw(aware), draw(st.booleans())
    priority = draw(st.none() | uint)
    desc: dict[str, Any] = {"event_id": event_id, "modification_number": mod}
    if draw(st.booleans()):
        desc["modification_date_time"] = draw(aware)
    if draw(st.booleans()):
        desc["modification_reason"] = draw(text)
    if priority is not None:
        desc["priority"] = priority
    desc.update(market_context=market, created_date_time=created, event_status=status, test_event=test_event)
    if draw(st.booleans()):
        desc["vtn_comment"] = draw(text)
    start = draw(aware)
    ap: dict[str, Any] = {"dtstart": start, "duration": draw(duration)}
    if draw(st.booleans()):
        ap["tolerance"] = {"tolerate": {"startafter": draw(duration)}}
    for key in ("notification", "ramp_up", "recovery"):
        if draw(st.booleans()):
            ap[key] = draw(duration)
    ts = draw(targets)
    return {
        "event_id": event_id, "modification_number": mod, "event_status": status, "test_event": test_event,
        "market_context": market, "priority": priority, "event_descriptor": desc, "active_period": ap,
        "event_signals": draw(st.lists(signal(), min_size=1, max_size=3)),
        "targets": ts, "targets_by_type": _by_type(ts),
        "response_required": draw(st.sampled_from(["always", "never"])),
    }


_REPORT_NAMES = ["METADATA_HISTORY_USAGE", "HISTORY_USAGE", "METADATA_TELEMETRY_USAGE", "TELEMETRY_USAGE",
                 "METADATA_TELEMETRY_STATUS", "TELEMETRY_STATUS"]
_REPORT_TYPES = ["reading", "usage", "demand", "setPoint", "baseline", "price", "level", "x-resourceStatus"]
_READING_TYPES = ["Direct Read", "Net", "Allocated", "Estimated", "Summed", "Mean", "Peak", "x-RMS",
                  "x-notApplicable"]
_QUALITY = ["No Quality - No Value", "Quality Good - Non Specific", "Quality Bad - Comm Failure"]
_LOAD_KINDS = ["oadrCapacity", "oadrLevelOffset", "oadrPercentOffset", "oadrSetPoint"]
_LOAD_VALUES = ["oadrMin", "oadrMax", "oadrCurrent", "oadrNormal"]


@st.composite
def resource_status(draw: st.DrawFn) -> m.ResourceStatus:
    lcs = None
    if draw(st.booleans()):
        lcs = {}
        for kind in draw(st.lists(st.sampled_from(_LOAD_KINDS), unique=True, max_size=4)):
            values = {"oadrCurrent": draw(finite)}
            for extra in draw(st.lists(st.sampled_from(["oadrMin", "oadrMax", "oadrNormal"]), unique=True)):
                values[extra] = draw(finite)
            lcs[kind] = values
    return m.ResourceStatus(online=draw(st.booleans()), manual_override=draw(st.booleans()), load_control_state=lcs)


report_payload = st.builds(
    m.ReportPayload, r_id=text, value=finite | resource_status(), confidence=st.none() | st.integers(0, 100),
    accuracy=st.none() | finite, data_quality=st.none() | enum_or_x(_QUALITY),
)
sampling_rate = st.builds(m.SamplingRate, min_period=duration, max_period=duration, on_change=st.booleans())
report_description = st.builds(
    m.ReportDescription, r_id=text, report_type=enum_or_x(_REPORT_TYPES), reading_type=enum_or_x(_READING_TYPES),
    report_subject=targets, report_data_source=targets, market_context=st.none() | text,
    measurement=st.none() | measurement(), sampling_rate=st.none() | sampling_rate,
)


@st.composite
def report(draw: st.DrawFn) -> m.Report:
    intervals = [
        m.ReportInterval(dtstart=draw(aware), payloads=draw(st.lists(report_payload, min_size=1, max_size=3)),
                         duration=draw(st.none() | duration), uid=draw(st.none() | text))
        for _ in range(draw(st.integers(0, 3)))
    ]
    return m.Report(
        report_specifier_id=draw(text), report_name=draw(enum_or_x(_REPORT_NAMES)), created_date_time=draw(aware),
        report_request_id=draw(text), report_id=draw(st.none() | text), dtstart=draw(st.none() | aware),
        duration=draw(st.none() | duration), report_descriptions=draw(st.lists(report_description, max_size=2)),
        intervals=intervals,
    )


@st.composite
def report_request(draw: st.DrawFn) -> m.ReportRequest:
    has_interval = draw(st.booleans())
    return m.ReportRequest(
        report_request_id=draw(text),
        report_specifier=m.ReportSpecifier(
            report_specifier_id=draw(text), granularity=draw(duration),
            specifier_payloads=draw(st.lists(st.builds(m.SpecifierPayload, r_id=text,
                                                       reading_type=enum_or_x(_READING_TYPES),
                                                       measurement=st.none() | measurement()),
                                             min_size=1, max_size=3)),
            report_back_duration=draw(duration),
            report_interval_start=draw(aware) if has_interval else None,
            report_interval_duration=draw(duration) if has_interval else None,
        ),
    )


def cancel_report() -> st.SearchStrategy[m.CancelReport]:
    return st.builds(m.CancelReport, request_id=text, report_request_ids=st.lists(text, min_size=1, max_size=3),
                     report_to_follow=st.booleans(), ven_id=st.none() | text)


@st.composite
def create_opt(draw: st.DrawFn) -> m.CreateOpt:
    qualified = draw(st.booleans())
    return m.CreateOpt(
        opt_id=draw(text), opt_type=draw(st.sampled_from(["optIn", "optOut"])),
        opt_reason=draw(enum_or_x(["economic", "emergency", "mustRun", "notParticipating", "participating"])),
        ven_id=draw(text), created_date_time=draw(aware), request_id=draw(text),
        market_context=draw(st.none() | text),
        vavailability=draw(st.none() | st.lists(st.builds(m.AvailableWindow, dtstart=aware, duration=duration),
                                                max_size=3)),
        event_id=draw(text) if qualified else None, modification_number=draw(uint) if qualified else None,
        targets=draw(targets), signal_target_mrid=draw(st.none() | text),
    )


_PROFILES, _TRANSPORTS = ["2.0a", "2.0b"], ["simpleHttp", "xmpp"]

#: A strategy per message element name: EVERY message type of the model.
MESSAGES: dict[str, st.SearchStrategy[Any]] = {
    "oadrQueryRegistration": st.builds(m.QueryRegistration, request_id=text),
    "oadrCreatePartyRegistration": st.builds(
        m.CreatePartyRegistration, request_id=text, ven_name=st.none() | text, ven_id=st.none() | text,
        registration_id=st.none() | text, profile_name=st.sampled_from(_PROFILES),
        transport_name=st.sampled_from(_TRANSPORTS), transport_address=st.none() | text,
        report_only=st.booleans(), xml_signature=st.booleans(), http_pull_model=st.booleans(),
    ),
    "oadrCreatedPartyRegistration": st.builds(
        m.CreatedPartyRegistration, response=response(), vtn_id=text, registration_id=st.none() | text,
        ven_id=st.none() | text,
        profiles=st.lists(st.builds(m.Profile, profile_name=st.sampled_from(_PROFILES),
                                    transports=st.lists(st.sampled_from(_TRANSPORTS), min_size=1, max_size=2)),
                          min_size=1, max_size=2),
        requested_oadr_poll_freq=st.none() | duration,
    ),
    "oadrCancelPartyRegistration": st.builds(m.CancelPartyRegistration, request_id=text, registration_id=text,
                                             ven_id=text),
    "oadrCanceledPartyRegistration": st.builds(m.CanceledPartyRegistration, response=response(),
                                               registration_id=st.none() | text, ven_id=st.none() | text),
    "oadrRequestReregistration": st.builds(m.RequestReregistration, ven_id=text),
    "oadrRequestEvent": st.builds(m.RequestEvent, request_id=text, ven_id=text, reply_limit=st.none() | uint),
    "oadrDistributeEvent": st.builds(m.DistributeEvent, request_id=text, vtn_id=text,
                                     events=st.lists(event(), max_size=3), response=st.none() | response()),
    "oadrCreatedEvent": st.builds(
        m.CreatedEvent, response=response(), ven_id=text,
        event_responses=st.lists(st.builds(m.EventResponse, response_code=code, request_id=text, event_id=text,
                                           modification_number=uint, opt_type=st.sampled_from(["optIn", "optOut"]),
                                           response_description=st.none() | text), max_size=3),
    ),
    "oadrRegisterReport": st.builds(m.RegisterReport, request_id=text, reports=st.lists(report(), max_size=2),
                                    ven_id=st.none() | text, report_request_id=st.none() | text),
    "oadrRegisteredReport": st.builds(m.RegisteredReport, response=response(),
                                      report_requests=st.lists(report_request(), max_size=2), ven_id=st.none() | text),
    "oadrCreateReport": st.builds(m.CreateReport, request_id=text,
                                  report_requests=st.lists(report_request(), min_size=1, max_size=2),
                                  ven_id=st.none() | text),
    "oadrCreatedReport": st.builds(m.CreatedReport, response=response(), pending_reports=st.lists(text, max_size=3),
                                   ven_id=st.none() | text),
    "oadrUpdateReport": st.builds(m.UpdateReport, request_id=text, reports=st.lists(report(), max_size=2),
                                  ven_id=st.none() | text),
    "oadrUpdatedReport": st.builds(m.UpdatedReport, response=response(), cancel_report=st.none() | cancel_report(),
                                   ven_id=st.none() | text),
    "oadrCancelReport": cancel_report(),
    "oadrCanceledReport": st.builds(m.CanceledReport, response=response(), pending_reports=st.lists(text, max_size=3),
                                    ven_id=st.none() | text),
    "oadrCreateOpt": create_opt(),
    "oadrCreatedOpt": st.builds(m.CreatedOpt, response=response(), opt_id=text),
    "oadrCancelOpt": st.builds(m.CancelOpt, request_id=text, opt_id=text, ven_id=text),
    "oadrCanceledOpt": st.builds(m.CanceledOpt, response=response(), opt_id=text),
    "oadrPoll": st.builds(m.Poll, ven_id=text),
    "oadrResponse": st.builds(m.ResponseMessage, response=response(), ven_id=st.none() | text),
}


# ================================================================== what the round trip gives back

#: Target types in the order of the schema's EiTargetType sequence (the order the builder writes them in).
TARGET_ORDER = ["aggregated_p_node", "end_device_asset", "meter_asset", "p_node", "service_area",
                "service_delivery_point", "service_location", "transport_interface", "group_id", "group_name",
                "resource_id", "ven_id", "party_id"]


def _schema_order(ts: list[m.Target]) -> list[m.Target]:
    return sorted(ts, key=lambda t: TARGET_ORDER.index(next(iter(t))))  # stable: document order within a type


def _interval_starts(event: m.Event) -> m.Event:
    """The event with every interval's ``dtstart`` filled in as the extractor computes it."""
    start = event["active_period"]["dtstart"]
    signals = []
    for sig in event["event_signals"]:
        offset, intervals = timedelta(0), []
        for iv in sig["intervals"]:
            intervals.append({"dtstart": iv.get("dtstart", start + offset), **iv})
            offset += iv["duration"]
        signals.append({**sig, "intervals": intervals})
    return {**event, "event_signals": signals}


def expected(msg: Any) -> Any:
    """What extracting the built ``msg`` must give back. The round trip is exact except for:

    * targets come back in schema order (the builder groups them by type, as
      ``EiTargetType`` requires; document order is kept within a type), and
      ``targets_by_type`` follows that order;
    * load control states come back in schema order (``oadrCapacity`` ...
      ``oadrSetPoint``, and ``oadrMin``, ``oadrMax``, ``oadrCurrent``,
      ``oadrNormal`` within each);
    * (a :class:`~fleetven.openadr.model.Response` without ``request_id`` is
      written with an empty ``requestID``, which comes back as ``None``: an
      empty optional element reads as absent, so this one is exact);
    * an event interval without ``dtstart`` gets one: the event start plus the
      durations of the intervals before it;
    * datetimes come back in UTC (equal instants, so ``==`` holds anyway).

    Strategies keep to what the round trip can carry: text without XML
    whitespace at its ends (stripped on extraction), floats (an int payload
    would come back as a float), whole-second durations.
    """
    if isinstance(msg, m.ResourceStatus) and msg.load_control_state is not None:
        state = msg.load_control_state
        return dataclasses.replace(msg, load_control_state={
            kind: {key: state[kind][key] for key in _LOAD_VALUES if key in state[kind]}
            for kind in _LOAD_KINDS if kind in state
        })
    if dataclasses.is_dataclass(msg) and not isinstance(msg, type):
        changes = {f.name: expected(getattr(msg, f.name)) for f in dataclasses.fields(msg)}
        if isinstance(msg, (m.CreateOpt,)):
            changes["targets"] = _schema_order(msg.targets)
        if isinstance(msg, m.ReportDescription):
            changes["report_subject"] = _schema_order(msg.report_subject)
            changes["report_data_source"] = _schema_order(msg.report_data_source)
        return dataclasses.replace(msg, **changes)
    if isinstance(msg, dict):
        if "event_signals" in msg and "active_period" in msg:
            msg = _interval_starts(msg)
        out = {k: expected(v) for k, v in msg.items()}
        if "targets" in out and "targets_by_type" in out:
            out["targets"] = _schema_order(out["targets"])
            out["targets_by_type"] = _by_type(out["targets"])
        return out
    if isinstance(msg, list):
        return [expected(v) for v in msg]
    if isinstance(msg, datetime):
        return msg.astimezone(UTC)
    return msg


# ================================================================== the tests


@pytest.mark.parametrize("name", list(m.MESSAGE_TYPES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_message_round_trips_identically_through_both_twins(name: str, data: st.DataObject) -> None:
    """build -> parse -> extract: both twins give the same object, equal to the model (see :func:`expected`)."""
    msg = data.draw(MESSAGES[name], label="message")
    root = parse_document(build_message(msg))
    result = assert_twins_agree(root)
    assert result[0] == "ok", result
    got = pure.extract(root)
    assert type(got) is type(msg)
    assert canon(got) == canon(expected(msg))
    if COMPILED is not None:
        assert canon(COMPILED.extract(root)) == canon(got)


def test_strategies_cover_every_message_type() -> None:
    assert set(MESSAGES) == set(m.MESSAGE_TYPES)


# ------------------------------------------------------------------ the C text parsers

_DT_ALPHABET = "0123456789-:T.Z+ \t\n\r\xa0\u3000zt٣"
_DUR_ALPHABET = "0123456789+-PTWYMDHS. \t\n\xa0pdtw٣"


@st.composite
def datetime_like(draw: st.DrawFn) -> str:
    """Text shaped like an xCal date-time, with every field pushed around its limits."""
    y, mo, d = draw(st.integers(0, 10000)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    h, mi, s = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    frac = draw(st.sampled_from(["", ".", ".5", ".123456", ".1234567891", ".000001", ".9999999"]))
    zone = draw(st.one_of(
        st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+23:59", "-23:59", "+24:00", "+01:60", "+1:00", "+0100"]),
        st.builds(lambda sg, zh, zm: f"{sg}{zh:02d}:{zm:02d}", st.sampled_from("+-"), st.integers(0, 25),
                  st.integers(0, 61)),
    ))
    pad = draw(st.sampled_from(["", " ", "\n\t", "\xa0", "\u2003"]))
    return f"{pad}{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}{pad}"


@st.composite
def duration_like(draw: st.DrawFn) -> str:
    """Text shaped like an ISO 8601 duration, components in and out of order, huge numbers too."""
    sign = draw(st.sampled_from(["", "-", "+", "--"]))
    number = st.one_of(st.integers(0, 100), st.integers(0, 10**12), st.just("007"), st.just("1.5"),
                       st.just(".5"), st.just("1."))
    parts = draw(st.lists(st.tuples(number, st.sampled_from("WYMDTHS")), max_size=6))
    body = "".join(f"{n}{unit}" if unit != "T" else "T" for n, unit in parts)
    return f"{sign}P{body}"


def _same_as_timefmt(c_fn: Callable[[str], Any], spec: Callable[[str], Any], text: str) -> None:
    def run(fn: Callable[[str], Any]) -> tuple[Any, ...]:
        try:
            return ("ok", canon(fn(text)))
        except InvalidValue as exc:
            return ("raise", type(exc), str(exc), canon(exc.fields))
        except (OverflowError, ValueError) as exc:  # timefmt's own, passed through unchanged by both twins
            return ("raise", type(exc), str(exc))

    assert run(c_fn) == run(spec)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(_DT_ALPHABET, max_size=40), datetime_like()))
@example("2026-11-26T12:00:00Z")
@example("0001-01-01T00:00:00+00:01")
@example("9999-12-31T23:59:59-00:01")
@example("2024-02-29T23:30:00-01:00")
def test_c_datetime_parser_matches_timefmt(text: str) -> None:
    assert COMPILED is not None
    _same_as_timefmt(COMPILED._parse_datetime_for_test, timefmt.parse_datetime, text)
    fast = COMPILED._parse_datetime_fast_for_test(text)
    if fast is not None:  # wherever the C fast path answers, it answers what timefmt answers
        assert canon(fast) == canon(timefmt.parse_datetime(text))


@needs_c
@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(_DUR_ALPHABET, max_size=30), duration_like()))
@example("PT1H")
@example("-P999999999DT1S")
@example("P999999999D")
@example("P1Y2M3DT4H5M6.1234567S")
def test_c_duration_parser_matches_timefmt(text: str) -> None:
    assert COMPILED is not None
    _same_as_timefmt(COMPILED._parse_duration_for_test, timefmt.parse_duration, text)
    fast = COMPILED._parse_duration_fast_for_test(text)
    if fast is not None:
        assert canon(fast) == canon(timefmt.parse_duration(text))


@needs_c
@pytest.mark.parametrize(
    "text",
    ["2026-11-26T12:00:00Z", "2026-11-26T12:00:00.250Z", " 2026-11-26T12:00:00+04:00\n", "2026-11-26T12:00:00",
     "2024-12-31T23:30:00-01:00"],
)
def test_c_datetime_fast_path_takes_the_usual_forms(text: str) -> None:
    """The usual forms never leave C (so the speed is real), and give timefmt's value."""
    assert COMPILED is not None
    fast = COMPILED._parse_datetime_fast_for_test(text)
    assert fast is not None
    assert canon(fast) == canon(timefmt.parse_datetime(text))


@needs_c
@pytest.mark.parametrize("text", ["PT1H", "PT0S", "P1D", "P2W", "-PT5M", "+PT15M", "P1DT1H30M", "PT1.5S",
                                  "P1Y2M3DT4H5M6S", "\tPT1H "])
def test_c_duration_fast_path_takes_the_usual_forms(text: str) -> None:
    assert COMPILED is not None
    fast = COMPILED._parse_duration_fast_for_test(text)
    assert fast is not None
    assert canon(fast) == canon(timefmt.parse_duration(text))


_NUMBER_TEXT = st.one_of(
    st.floats().map(repr),
    st.floats().map(lambda f: f"{f:.17g}"),
    st.floats().map(lambda f: f"{f:e}"),
    st.from_regex(r"[+-]?[0-9]{0,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,5})?", fullmatch=True),
    st.text("0123456789.eE+-INFan_ x٣", max_size=25),
)


def _spec_outcome(fn: Callable[[str], Any], text: str) -> tuple[Any, ...]:
    try:
        return ("ok", canon(fn(text)))
    except MessageError as exc:
        return ("raise", type(exc), str(exc), canon(exc.fields))


@needs_c
@settings(max_examples=2000, deadline=None)
@given(_NUMBER_TEXT)
@example("0.1")
@example("-0.0")
@example("123456789012345")  # 15 digits: the exact fast path
@example("1234567890123456")  # 16 digits: CPython's strtod
@example("1e22")
@example("1e23")
@example("9007199254740993")
@example("1" * 5000)
def test_c_number_parsers_match_the_specification(text: str) -> None:
    """Floats (bit for bit, NaN and -0.0 included) and integers as the pure twin's ``_float`` and ``_int``."""
    assert COMPILED is not None
    assert _spec_outcome(COMPILED._parse_float_for_test, text) == _spec_outcome(lambda t: pure._float(t, "value"), text)
    assert _spec_outcome_or_value_error(COMPILED._parse_int_for_test, text) == _spec_outcome_or_value_error(
        lambda t: pure._int(t, "value"), text)


def _spec_outcome_or_value_error(fn: Callable[[str], Any], text: str) -> tuple[Any, ...]:
    """Like :func:`_spec_outcome`, also catching ``int()``'s digit limit (passed through by both twins)."""
    try:
        return _spec_outcome(fn, text)
    except ValueError as exc:
        return ("ValueError", str(exc))


@pytest.mark.parametrize(
    "root",
    [etree.Comment("x"), etree.ProcessingInstruction("a", "b"), etree.Element("{urn:x}oadrPayload"),
     etree.Element("oadrPayload")],
    ids=["comment", "pi", "wrong-namespace", "no-namespace"],
)
def test_a_root_that_is_not_oadr_payload(root: Any) -> None:
    result = assert_twins_agree(root)
    assert result[0] == "raise" and result[1].__name__ == "UnknownMessage", result


# ------------------------------------------------------------------ node-level corners

_NS = ('xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07" '
       'xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110"')


def _poll(ven: str, *, doctype: str = "") -> bytes:
    return (f'{doctype}<oadr:oadrPayload {_NS}><oadr:oadrSignedObject><oadr:oadrPoll ei:schemaVersion="2.0b">'
            f"<ei:venID>{ven}</ei:venID></oadr:oadrPoll></oadr:oadrSignedObject></oadr:oadrPayload>").encode()


@pytest.mark.parametrize(
    ("ven", "expected_id"),
    [
        ("<![CDATA[ven&<1>]]>", "ven&<1>"),
        ("  a<![CDATA[ b ]]>c\n", "a b c"),
        ("ven<!--comment-->tail", "ven"),  # lxml's .text stops at the first non-text node
        ("<?pi x?>ven", ""),
        ("<ei:other/>ven", ""),
        ("&#x20;&#9;ven-1&#xD;&#xA;", "ven-1"),
        ("&#xA0;ven&#xA0;", "\xa0ven\xa0"),  # only XML whitespace is stripped
        ("000&amp;123", "000&123"),
    ],
)
def test_text_is_what_lxml_text_gives(ven: str, expected_id: str) -> None:
    """Both twins read an element's text as lxml's ``.text`` (then strip XML whitespace).

    Parsed with a plain lxml parser, so that comments and processing
    instructions stay in the tree (parse_document drops them).
    """
    root = etree.fromstring(_poll(ven))
    result = assert_twins_agree(root)
    assert result == ("ok", canon(m.Poll(ven_id=expected_id)))


def test_entity_reference_nodes_end_the_text_in_both_twins() -> None:
    """A tree holding an entity reference node (possible only outside parse_document, which refuses DTDs)."""
    data = _poll("ab&e;cd", doctype="<!DOCTYPE oadr:oadrPayload [<!ENTITY e 'zz'>]>")
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False))
    assert any(isinstance(n, etree._Entity) for n in root.iter())
    assert assert_twins_agree(root) == ("ok", canon(m.Poll(ven_id="ab")))


@pytest.mark.parametrize(
    ("fragment", "error"),
    [
        ("<ei:venID></ei:venID>", None),
        ("", "missing required element oadrPoll/venID"),
        ("<venID>v</venID>", "missing required element oadrPoll/venID"),  # no namespace: not the element
        ("<oadr:venID>v</oadr:venID>", "missing required element oadrPoll/venID"),  # wrong namespace
    ],
)
def test_namespaces_and_missing_elements(fragment: str, error: str | None) -> None:
    data = (f'<oadr:oadrPayload {_NS}><oadr:oadrSignedObject><oadr:oadrPoll>{fragment}</oadr:oadrPoll>'
            "</oadr:oadrSignedObject></oadr:oadrPayload>").encode()
    result = assert_twins_agree(parse_document(data))
    if error is None:
        assert result == ("ok", canon(m.Poll(ven_id="")))
    else:
        assert result[0] == "raise" and result[2] == error, result


def test_a_deep_unknown_subtree_is_skipped_not_entered() -> None:
    """Unknown elements are ignored at any depth, without recursion limits in either twin."""
    deep = "<x:u xmlns:x='urn:x'>" * 200 + "</x:u>" * 200
    data = (f'<oadr:oadrPayload {_NS}><oadr:oadrSignedObject><oadr:oadrPoll>{deep}<ei:venID>v</ei:venID>'
            "</oadr:oadrPoll></oadr:oadrSignedObject></oadr:oadrPayload>").encode()
    assert assert_twins_agree(parse_document(data)) == ("ok", canon(m.Poll(ven_id="v")))
