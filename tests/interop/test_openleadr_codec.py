"""Differential tests against OpenLEADR 0.5.36, both ways, for every message type both libraries have.

* OpenLEADR -> fleetven: OpenLEADR's ``create_message`` builds a message from
  a rich payload; fleetven parses the bytes (on both extractor twins) and
  OpenLEADR's ``parse_message`` parses the same bytes; the two must carry the
  same content.
* fleetven -> OpenLEADR: fleetven's ``build_message`` builds our samples;
  OpenLEADR validates them with its own schema check (``validate_xml_schema``)
  and reads them with ``parse_message`` to the same content as our model.

The comparison is :func:`openleadr_compat.assert_same_content`; the OpenLEADR
quirks it allows for are listed, with their reasons, in that module's docstring.

What OpenLEADR's ``create_message`` cannot build, and these cases therefore avoid:
text with ``&`` or ``<`` (its templates do not escape: the XML is malformed);
an ``oadrCreateOpt`` with more than one target (one ``eiTarget`` per target:
invalid, and its own parser then crashes); an ``oadrCancelReport`` with more
than one ``reportRequestID``; a report interval with more than one payload or
with an ``oadrPayloadResourceStatus`` (its template writes one ``payloadFloat``);
signal targets and structured targets (``endDeviceAsset``...) in events; and,
when a key is missing, it writes ``None`` or empty elements (``priority``,
``transportAddress``). fleetven -> OpenLEADR covers those.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import samples
from openleadr import enums, objects
from openleadr.messaging import create_message, validate_xml_schema
from openleadr.messaging import parse_message as openleadr_parse

from fleetven.messages import build_message
from fleetven.messages.parse import parse_document
from fleetven.openadr import model as m

from .openleadr_compat import assert_same_content, check_interval_starts, to_openleadr

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 26, 11, 0, 0, 500000, tzinfo=UTC)
HOUR = timedelta(hours=1)
MARKET = "http://market.example.com/dr"

ExtractFn = Callable[[Any], Any]


def _openleadr_message_types() -> set[str]:
    templates = resources.files("openleadr").joinpath("templates")
    return {p.name[:-4] for p in templates.iterdir() if p.name.endswith(".xml") and p.name != "oadrPayload.xml"}


OPENLEADR_TYPES = _openleadr_message_types()
#: Message types both libraries have: the ones these tests cover.
COMMON_TYPES = sorted(set(m.MESSAGE_TYPES) & OPENLEADR_TYPES)


def test_every_message_type_is_covered_both_ways() -> None:
    """OpenLEADR 0.5.36 builds every message type of our model, and each has a case in both directions."""
    assert set(m.MESSAGE_TYPES) <= OPENLEADR_TYPES, sorted(set(m.MESSAGE_TYPES) - OPENLEADR_TYPES)
    direction1 = {mtype for mtype, _ in (case() for case in OPENLEADR_CASES.values())}
    direction2 = {msg.message_type for msg in _fleetven_messages().values()}
    assert direction1 == set(COMMON_TYPES), sorted(set(COMMON_TYPES) ^ direction1)
    assert direction2 == set(COMMON_TYPES), sorted(set(COMMON_TYPES) ^ direction2)


# ================================================================ OpenLEADR -> fleetven

RESPONSE = {"response_code": 200, "response_description": "OK", "request_id": "000123"}


def _report_request(i: int) -> dict[str, Any]:
    return {
        "report_request_id": f"rr-{i}",
        "report_specifier": {
            "report_specifier_id": "spec-usage",
            "granularity": timedelta(minutes=15),
            "report_back_duration": HOUR,
            "report_interval": {"dtstart": T0, "duration": timedelta(hours=4)},
            "specifier_payloads": [
                {"r_id": "r-power", "reading_type": "Direct Read"},
                {"r_id": "0042", "reading_type": "Direct Read"},
            ],
        },
    }


def _ol_event(event_id: str, *, status: str = "far", interval_dtstart: bool = True) -> dict[str, Any]:
    def intervals(values: list[float]) -> list[dict[str, Any]]:
        out = []
        for i, value in enumerate(values):
            interval: dict[str, Any] = {"duration": HOUR, "signal_payload": value}
            if interval_dtstart:
                interval["dtstart"] = T0 + i * HOUR
            out.append(interval)
        return out

    return {
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": 3,
            "modification_date_time": CREATED,
            "modification_reason": "price update",
            "priority": 2,
            "market_context": MARKET,
            "created_date_time": CREATED,
            "event_status": status,
            "test_event": False,
            "vtn_comment": "Zürich comment",
        },
        "active_period": {
            "dtstart": T0,
            "duration": 3 * HOUR,
            "tolerance": {"startafter": timedelta(minutes=5)},
            "notification_period": timedelta(days=1),
            "ramp_up_period": timedelta(minutes=10),
            "recovery_period": timedelta(minutes=15),
        },
        "event_signals": [
            {
                "signal_name": "ELECTRICITY_PRICE",
                "signal_type": "price",
                "signal_id": "sig-price",
                "current_value": 0.25,
                "intervals": intervals([0.25, 1.5, 12345.678]),
                "measurement": {
                    "name": "currencyPerKWh",
                    "description": "currencyPerKWh",
                    "unit": "EUR",
                    "scale": "none",
                },
            },
            {
                "signal_name": "LOAD_DISPATCH",
                "signal_type": "setpoint",
                "signal_id": "000777",
                "intervals": intervals([100, -50.5, 0]),
                "measurement": {
                    "name": "powerReal",
                    "description": "RealPower",
                    "unit": "W",
                    "scale": "k",
                    "power_attributes": {"hertz": 50, "voltage": 230, "ac": True},
                },
            },
            {
                "signal_name": "x-customSignal",
                "signal_type": "x-loadControlLevelOffset",
                "signal_id": "sig-x",
                "intervals": intervals([1, 2, 3]),
            },
            {
                "signal_name": "SIMPLE",
                "signal_type": "level",
                "signal_id": "sig-simple",
                "intervals": intervals([1, 2, 3]),
            },
        ],
        "targets": [
            {"ven_id": "ven-1"},
            {"resource_id": "resource-1"},
            {"group_id": "group-1"},
            {"ven_id": "000123"},
            {"party_id": "party-1"},
            {"group_name": "Group One"},
        ],
        "response_required": "never" if status == "far" else "always",
    }


def _distribute_event() -> tuple[str, dict[str, Any]]:
    return "oadrDistributeEvent", {
        "request_id": "000123",
        "vtn_id": "VTN-Alpha",
        "response": RESPONSE,
        "events": [
            _ol_event("event-1"),
            _ol_event("000042", status="active"),
            _ol_event("event-3", status="cancelled", interval_dtstart=False),
        ],
    }


def _distribute_event_bare() -> tuple[str, dict[str, Any]]:
    """Events with only the required descriptor fields, one interval, and an empty target."""
    events = []
    for event_id, status in (("event-a", "near"), ("event-b", "completed")):
        events.append(
            {
                "event_descriptor": {
                    "event_id": event_id,
                    "modification_number": 0,
                    "priority": None,  # OpenLEADR writes an empty, invalid <ei:priority/> when the key is missing
                    "market_context": MARKET,
                    "created_date_time": CREATED,
                    "event_status": status,
                },
                "active_period": {"dtstart": T0, "duration": HOUR},
                "event_signals": [
                    {
                        "signal_name": "SIMPLE",
                        "signal_type": "level",
                        "signal_id": "0",
                        "intervals": [{"duration": HOUR, "signal_payload": 0}],
                    }
                ],
                "targets": [],
            }
        )
    return "oadrDistributeEvent", {"request_id": "req", "vtn_id": "vtn", "events": events}


def _distribute_event_one() -> tuple[str, dict[str, Any]]:
    return "oadrDistributeEvent", {"request_id": "req", "vtn_id": "vtn", "events": [_ol_event("event-1")]}


def _register_report() -> tuple[str, dict[str, Any]]:
    sampling = {"min_period": timedelta(seconds=10), "max_period": timedelta(minutes=5), "on_change": False}
    return "oadrRegisterReport", {
        "request_id": "000123",
        "ven_id": "ven-1",
        "reports": [
            {
                "report_specifier_id": "spec-usage",
                "report_name": "METADATA_TELEMETRY_USAGE",
                "created_date_time": CREATED,
                "report_request_id": "0",
                "duration": timedelta(days=1),
                "report_descriptions": [
                    {
                        "r_id": "r-power",
                        "report_type": "usage",
                        "reading_type": "Direct Read",
                        "report_subject": {"end_device_asset": {"mrid": "Energy_Management_System"}},
                        "report_data_source": {"resource_id": "resource-1"},
                        "market_context": MARKET,
                        "measurement": {
                            "name": "powerReal",
                            "description": "RealPower",
                            "unit": "W",
                            "scale": "k",
                            "power_attributes": {"hertz": 50, "voltage": 230, "ac": True},
                        },
                        "sampling_rate": sampling,
                    },
                    {
                        "r_id": "0042",
                        "report_type": "usage",
                        "reading_type": "Direct Read",
                        "report_data_source": {"resource_id": "resource-2"},
                        "measurement": {
                            "name": "energyReal",
                            "description": "RealEnergy",
                            "unit": "Wh",
                            "scale": "none",
                        },
                        "sampling_rate": {**sampling, "on_change": True},
                    },
                    {
                        "r_id": "r-voltage",
                        "report_type": "reading",
                        "reading_type": "Direct Read",
                        "report_data_source": {"resource_id": "resource-1"},
                        "measurement": {"name": "voltage", "description": "Voltage", "unit": "V", "scale": "none"},
                        "sampling_rate": sampling,
                    },
                ],
            },
            {
                "report_specifier_id": "spec-status",
                "report_name": "METADATA_TELEMETRY_STATUS",
                "created_date_time": CREATED,
                "report_request_id": "0",
                "report_descriptions": [
                    {
                        "r_id": "r-status",
                        "report_type": "x-resourceStatus",
                        "reading_type": "x-notApplicable",
                        "report_data_source": {"resource_id": "resource-1"},
                        "sampling_rate": {**sampling, "on_change": True},
                    },
                ],
            },
        ],
    }


def _update_report() -> tuple[str, dict[str, Any]]:
    step = timedelta(minutes=15)
    return "oadrUpdateReport", {
        "request_id": "000123",
        "ven_id": "ven-1",
        "reports": [
            {
                "report_id": "report-1",
                "report_request_id": "0099",
                "report_specifier_id": "spec-usage",
                "report_name": "TELEMETRY_USAGE",
                "created_date_time": CREATED,
                "dtstart": T0,
                "intervals": [
                    {
                        "dtstart": T0,
                        "duration": step,
                        "report_payload": {
                            "r_id": "r-power",
                            "value": 1.25,
                            "confidence": 90,
                            "accuracy": 0.5,
                            "data_quality": "Quality Good - Non Specific",
                        },
                    },
                    {"dtstart": T0 + step, "duration": step, "report_payload": {"r_id": "r-power", "value": 3}},
                    {"dtstart": T0 + 2 * step, "report_payload": {"r_id": "0042", "value": -0.001}},
                ],
            },
            {
                "report_id": "report-2",
                "report_request_id": "rr-2",
                "report_specifier_id": "spec-usage",
                "report_name": "TELEMETRY_USAGE",
                "created_date_time": CREATED,
                "intervals": [{"dtstart": T0, "report_payload": {"r_id": "r-power", "value": 12345.678}}],
            },
        ],
    }


def _create_opt_schedule() -> tuple[str, dict[str, Any]]:
    return "oadrCreateOpt", {
        "opt_id": "000123",
        "opt_type": "optOut",
        "opt_reason": "participating",
        "market_context": MARKET,
        "ven_id": "ven-1",
        "vavailability": {
            "components": [{"dtstart": T0, "duration": HOUR}, {"dtstart": T0 + timedelta(days=1), "duration": 2 * HOUR}]
        },
        "created_date_time": CREATED,
        "request_id": "req-opt",
        # OpenLEADR writes one eiTarget per target (invalid beyond one, and its parser then crashes): one target
        "targets": [{"ven_id": "ven-1"}],
        "signal_target_mrid": "Energy_Management_System",
    }


def _create_opt_event() -> tuple[str, dict[str, Any]]:
    return "oadrCreateOpt", {
        "opt_id": "opt-2",
        "opt_type": "optIn",
        "opt_reason": "economic",
        "ven_id": "ven-1",
        "created_date_time": CREATED,
        "request_id": "req-opt",
        "event_id": "000042",
        "modification_number": 3,
        "targets": [{"resource_id": "resource-1"}],
    }


def _distribute_event_objects() -> tuple[str, dict[str, Any]]:
    """An event made of OpenLEADR's own dataclasses, as its VTN builds them."""
    intervals = [
        objects.Interval(dtstart=T0 + i * HOUR, duration=HOUR, signal_payload=value, uid=i)
        for i, value in enumerate([1, 2, 0])
    ]
    event = objects.Event(
        event_descriptor=objects.EventDescriptor(
            event_id="000123",
            modification_number=1,
            market_context=MARKET,
            event_status="far",
            created_date_time=CREATED,
            priority=0,
            test_event=False,
        ),
        event_signals=[
            objects.EventSignal(
                intervals=intervals,
                signal_name="x-customSignal",
                signal_type="level",
                signal_id="0001",
                measurement=enums.MEASUREMENTS.POWER_REAL,
            ),
            objects.EventSignal(intervals=intervals, signal_name="SIMPLE", signal_type="level", signal_id="s"),
        ],
        targets=[objects.Target(ven_id="ven-1"), objects.Target(resource_id="resource-1")],
        active_period=objects.ActivePeriod(
            dtstart=T0, duration=3 * HOUR, tolerance={"startafter": timedelta(minutes=1)}, ramp_up_period=HOUR
        ),
    )
    return "oadrDistributeEvent", {"request_id": "req", "vtn_id": "vtn", "events": [event]}


def _register_report_objects() -> tuple[str, dict[str, Any]]:
    """A report made of OpenLEADR's own dataclasses, as its VEN builds them."""
    description = objects.ReportDescription(
        r_id="r-voltage",
        market_context=MARKET,
        reading_type="Direct Read",
        report_subject=objects.Target(resource_id="device-1"),
        report_data_source=objects.Target(resource_id="device-1"),
        report_type="reading",
        sampling_rate=objects.SamplingRate(timedelta(seconds=10), timedelta(minutes=1), False),
        measurement=enums.MEASUREMENTS.VOLTAGE,
    )
    report = objects.Report(
        report_specifier_id="spec",
        report_name="TELEMETRY_USAGE",  # OpenLEADR's preflight prefixes METADATA_
        report_descriptions=[description],
        created_date_time=CREATED,
    )
    return "oadrRegisterReport", {"request_id": "req", "ven_id": "ven-1", "reports": [report]}


def _simple(mtype: str, **payload: Any) -> Callable[[], tuple[str, dict[str, Any]]]:
    return lambda: (mtype, payload)


OPENLEADR_CASES: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
    "oadrQueryRegistration": _simple("oadrQueryRegistration", request_id="000123"),
    "oadrCreatePartyRegistration": _simple(
        "oadrCreatePartyRegistration",
        request_id="req-1",
        registration_id="0042",
        ven_id="000123",
        profile_name="2.0b",
        transport_name="simpleHttp",
        transport_address="https://ven.example.com/",
        report_only=False,
        xml_signature=True,
        ven_name="VEN Zürich",
        http_pull_model=True,
    ),
    "oadrCreatedPartyRegistration": _simple(
        "oadrCreatedPartyRegistration",
        response=RESPONSE,
        registration_id="reg-1",
        ven_id="000123",
        vtn_id="VTN-Alpha",
        profiles=[
            {"profile_name": "2.0a", "transports": [{"transport_name": "simpleHttp"}]},
            {"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}, {"transport_name": "xmpp"}]},
        ],
        requested_oadr_poll_freq=timedelta(seconds=10),
    ),
    "oadrCreatedPartyRegistration-no-ids": _simple(
        "oadrCreatedPartyRegistration",
        response=RESPONSE,
        vtn_id="vtn",
        profiles=[{"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}]}],
    ),
    "oadrCancelPartyRegistration": _simple(
        "oadrCancelPartyRegistration", request_id="req-1", registration_id="0042", ven_id="000123"
    ),
    "oadrCanceledPartyRegistration": _simple(
        "oadrCanceledPartyRegistration", response=RESPONSE, registration_id="0042", ven_id="000123"
    ),
    "oadrRequestReregistration": _simple("oadrRequestReregistration", ven_id="000123"),
    "oadrRequestEvent": _simple("oadrRequestEvent", request_id="000123", ven_id="ven-1", reply_limit=5),
    "oadrDistributeEvent": _distribute_event,
    "oadrDistributeEvent-one-event": _distribute_event_one,
    "oadrDistributeEvent-bare": _distribute_event_bare,
    "oadrDistributeEvent-openleadr-objects": _distribute_event_objects,
    "oadrCreatedEvent": _simple(
        "oadrCreatedEvent",
        response=RESPONSE,
        ven_id="000123",
        event_responses=[
            {
                "response_code": 200,
                "response_description": "OK",
                "request_id": "req-1",
                "event_id": "event-1",
                "modification_number": 3,
                "opt_type": "optIn",
            },
            {
                "response_code": 450,
                "request_id": "0001",
                "event_id": "000042",
                "modification_number": 0,
                "opt_type": "optOut",
            },
            {
                "response_code": 200,
                "response_description": "OK",
                "request_id": "req-1",
                "event_id": "event-3",
                "modification_number": 1,
                "opt_type": "optIn",
            },
        ],
    ),
    "oadrRegisterReport": _register_report,
    "oadrRegisterReport-openleadr-objects": _register_report_objects,
    "oadrRegisteredReport": _simple(
        "oadrRegisteredReport",
        response=RESPONSE,
        ven_id="ven-1",
        report_requests=[_report_request(1), _report_request(2)],
    ),
    "oadrCreateReport": _simple(
        "oadrCreateReport",
        request_id="000123",
        ven_id="ven-1",
        report_requests=[_report_request(1), _report_request(2)],
    ),
    "oadrCreatedReport": _simple(
        "oadrCreatedReport",
        response=RESPONSE,
        ven_id="ven-1",
        pending_reports=[{"report_request_id": "rr-1"}, {"report_request_id": "000123"}],
    ),
    "oadrUpdateReport": _update_report,
    "oadrUpdatedReport": _simple(
        "oadrUpdatedReport",
        response=RESPONSE,
        ven_id="ven-1",
        cancel_report={
            "request_id": "000123",
            "report_request_id": ["rr-1", "rr-2"],
            "report_to_follow": True,
            "ven_id": "ven-1",
        },
    ),
    "oadrUpdatedReport-bare": _simple("oadrUpdatedReport", response=RESPONSE, ven_id="ven-1"),
    "oadrCancelReport": _simple(
        "oadrCancelReport", request_id="000123", report_request_id="rr-1", report_to_follow=True, ven_id="ven-1"
    ),
    "oadrCanceledReport": _simple(
        "oadrCanceledReport", response=RESPONSE, ven_id="ven-1", pending_reports=[{"report_request_id": "rr-2"}]
    ),
    "oadrCanceledReport-none-pending": _simple("oadrCanceledReport", response=RESPONSE, pending_reports=[]),
    "oadrCreateOpt-vavailability": _create_opt_schedule,
    "oadrCreateOpt-event": _create_opt_event,
    "oadrCreatedOpt": _simple("oadrCreatedOpt", response=RESPONSE, opt_id="000123"),
    "oadrCancelOpt": _simple("oadrCancelOpt", request_id="000123", opt_id="opt-1", ven_id="ven-1"),
    "oadrCanceledOpt": _simple("oadrCanceledOpt", response=RESPONSE, opt_id="opt-1"),
    "oadrPoll": _simple("oadrPoll", ven_id="000123"),
    "oadrResponse": _simple("oadrResponse", response=RESPONSE, ven_id="ven-1"),
}


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, str value) pair inside a payload, a model object or an event dict."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _strings(getattr(value, f.name), f.name)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str):
        yield key, value


def _ids(value: Any) -> set[str]:
    return {text for key, text in _strings(value) if key.endswith("_id") or key.endswith("_ids")}


@pytest.mark.parametrize("case", list(OPENLEADR_CASES), ids=list(OPENLEADR_CASES))
def test_openleadr_built_message_reads_the_same(case: str, extract_impl: ExtractFn) -> None:
    """What OpenLEADR's ``create_message`` builds, fleetven parses to what OpenLEADR's ``parse_message`` reads."""
    mtype, payload = OPENLEADR_CASES[case]()
    data = create_message(mtype, **payload).encode("utf-8")
    validate_xml_schema(data)  # OpenLEADR's own output is valid: a failure here is about the case, not us

    ours: m.Message = extract_impl(parse_document(data))

    assert ours.message_type == mtype, type(ours)
    assert_same_content(ours, openleadr_parse(data))
    # beyond OpenLEADR (quirk Q1): every ID comes back as the exact string that was sent
    missing = _ids(payload) - {text for _, text in _strings(ours)}
    assert not missing, f"IDs not kept as sent: {sorted(missing)}"
    if isinstance(ours, m.DistributeEvent):
        for event in ours.events:
            check_interval_starts(event)  # quirk Q6: OpenLEADR leaves them out, we compute them


def test_openleadr_ids_are_strings_exactly_as_sent(extract_impl: ExtractFn) -> None:
    """A spot check of quirk Q1 on our side: numeric-looking IDs stay strings with their zeros."""
    mtype, payload = _distribute_event()
    ours = extract_impl(parse_document(create_message(mtype, **payload).encode("utf-8")))
    assert isinstance(ours, m.DistributeEvent)
    assert ours.request_id == "000123"
    assert ours.response is not None and ours.response.request_id == "000123"
    assert [e["event_id"] for e in ours.events] == ["event-1", "000042", "event-3"]
    assert ours.events[1]["event_descriptor"]["event_id"] == "000042"
    assert ours.events[0]["event_signals"][1]["signal_id"] == "000777"
    assert [s["intervals"][0]["uid"] for s in ours.events[0]["event_signals"]] == ["0"] * 4
    assert {"ven_id": "000123"} in ours.events[0]["targets"]
    assert ours.events[0]["event_signals"][0]["intervals"][2]["signal_payload"] == 12345.678


# ================================================================ fleetven -> OpenLEADR


def _own_messages() -> list[m.Message]:
    """Messages beyond tests/samples.py: numeric-looking IDs, one payload per interval, events without starts."""
    return [
        m.QueryRegistration(request_id="0"),
        m.Poll(ven_id="000123"),
        m.CreatedReport(
            response=m.Response(response_code=200, request_id="000123"),
            pending_reports=["000123", "7", "rr-x"],
            ven_id="0042",
        ),
        m.CancelReport(request_id="000123", report_request_ids=["0099"], report_to_follow=False, ven_id="000123"),
        samples.distribute_event(2, 4, 3, interval_dtstart=False),
        m.DistributeEvent(
            request_id="0",
            vtn_id="000",
            events=[
                samples.event("000123", n_signals=2, n_intervals=2, targets=[{"ven_id": "0042"}, {"group_id": "7"}])
            ],
        ),
        samples.update_report(3, rich=False),
        m.CreatedEvent(
            response=m.Response(response_code=200, response_description="OK", request_id="000123"),
            ven_id="000123",
            event_responses=[
                m.EventResponse(
                    response_code=200, request_id="000123", event_id="000042", modification_number=2, opt_type="optIn"
                ),
            ],
        ),
    ]


def _fleetven_messages() -> dict[str, m.Message]:
    out: dict[str, m.Message] = {}
    for kind, messages in (
        ("rich", samples.rich_messages()),
        ("minimal", samples.minimal_messages()),
        ("own", _own_messages()),
    ):
        for i, msg in enumerate(messages):
            out[f"{kind}-{msg.message_type}-{i}"] = msg
    return out


FLEETVEN_CASES = _fleetven_messages()


@pytest.mark.parametrize("case", list(FLEETVEN_CASES), ids=list(FLEETVEN_CASES))
def test_fleetven_built_message_reads_the_same_in_openleadr(case: str) -> None:
    """What fleetven builds, OpenLEADR validates with its own schema check and reads to the same content."""
    msg = FLEETVEN_CASES[case]
    data = build_message(msg)
    validate_xml_schema(data)
    assert_same_content(msg, openleadr_parse(data))


def test_comparison_can_fail() -> None:
    """The comparison is not vacuous: a changed ID, a dropped field and an extra event all show."""
    msg = samples.rich_message("oadrDistributeEvent")
    assert isinstance(msg, m.DistributeEvent)
    data = build_message(msg)
    theirs = openleadr_parse(data)
    _, ours = to_openleadr(msg)
    assert ours["events"][0]["event_descriptor"]["event_id"] == theirs[1]["events"][0]["event_descriptor"]["event_id"]
    changed = dataclasses.replace(msg, vtn_id="VTN-Beta")
    with pytest.raises(AssertionError, match="vtn_id"):
        assert_same_content(changed, theirs)
    fewer = dataclasses.replace(msg, events=msg.events[:-1])
    with pytest.raises(AssertionError, match="events"):
        assert_same_content(fewer, theirs)
    poll = m.Poll(ven_id="0123")
    with pytest.raises(AssertionError, match="ven_id"):
        assert_same_content(poll, ("oadrPoll", {"ven_id": 124}))
    assert_same_content(poll, ("oadrPoll", {"ven_id": 123}))  # Q1 is allowed for, and only Q1
