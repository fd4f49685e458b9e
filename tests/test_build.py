"""The builder: every message type validates, is canonical, escapes and refuses bad values."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import samples
from _helpers import assert_valid_oadr
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven.exceptions import BuildError, MessageError
from fleetven.messages.build import PAYLOAD_CLOSE, PAYLOAD_OPEN, build_message, build_signed_object, envelope
from fleetven.openadr import model as m
from fleetven.openadr.namespaces import NS

RICH = samples.rich_messages()
MINIMAL = samples.minimal_messages()
ALL = [pytest.param(msg, id=f"rich-{msg.message_type}") for msg in RICH] + [
    pytest.param(msg, id=f"minimal-{msg.message_type}") for msg in MINIMAL
]


def q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def signed_object(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    assert root.tag == q("oadr", "oadrPayload")
    (so,) = root
    assert so.tag == q("oadr", "oadrSignedObject")
    return so


def message_element(msg: m.Message) -> etree._Element:
    (el,) = signed_object(build_message(msg))
    return el


def texts(el: etree._Element, prefix: str, local: str) -> list[str | None]:
    return [e.text for e in el.iter(q(prefix, local))]


def bad(msg: Any) -> BuildError:
    with pytest.raises(BuildError) as info:
        build_message(msg)
    with pytest.raises(BuildError):
        build_signed_object(msg)
    return info.value


def distribute(*events: dict[str, Any]) -> m.DistributeEvent:
    return m.DistributeEvent(request_id="r", vtn_id="vtn", events=list(events))


# ------------------------------------------------------------------ coverage


def test_samples_cover_every_message_type() -> None:
    names = set(m.MESSAGE_TYPES)
    assert {msg.message_type for msg in RICH} == names
    assert {msg.message_type for msg in MINIMAL} == names
    assert all(type(msg) is m.MESSAGE_TYPES[msg.message_type] for msg in RICH + MINIMAL)


def test_rich_samples_set_every_optional_field() -> None:
    """A rich sample leaves no optional field of its message at None or empty
    (but for ``DistributeEvent.errors``, which only parsing fills)."""
    for msg in RICH:
        for f in dataclasses.fields(msg):
            if isinstance(msg, m.DistributeEvent) and f.name == "errors":
                continue
            value = getattr(msg, f.name)
            assert value is not None and value != [], f"{msg.message_type}.{f.name} is not set in the rich sample"


# ------------------------------------------------------------------ validity


@pytest.mark.parametrize("msg", ALL)
def test_valid_against_schema(msg: m.Message, oadr_schema: etree.XMLSchema) -> None:
    assert_valid_oadr(oadr_schema, build_message(msg))


@pytest.mark.parametrize(
    "msg",
    [
        samples.distribute_event(1),
        samples.distribute_event(10, interval_dtstart=False),
        samples.distribute_event(2, n_signals=5, n_intervals=2),
        samples.created_event(10),
        samples.update_report(12),
        samples.update_report(3, rich=True),
        samples.register_report(rich=False),
        samples.create_report(rich=False),
        distribute(samples.minimal_event()),
    ],
    ids=["de1", "de10", "de-x-signals", "ce10", "ur12", "ur-rich", "rr-min", "cr-min", "de-min-event"],
)
def test_benchmark_shapes_are_valid(msg: m.Message, oadr_schema: etree.XMLSchema) -> None:
    data = build_message(msg)
    assert_valid_oadr(oadr_schema, data)
    assert etree.tostring(signed_object(data), method="c14n") == build_signed_object(msg)


def test_schema_check_is_real(oadr_schema: etree.XMLSchema) -> None:
    """The validity tests can fail: a wrong element order is refused."""
    data = build_message(samples.rich_message("oadrCreatePartyRegistration"))
    swapped = data.replace(b"<oadr:oadrReportOnly>true</oadr:oadrReportOnly>", b"").replace(
        b"</oadr:oadrXmlSignature>", b"</oadr:oadrXmlSignature><oadr:oadrReportOnly>true</oadr:oadrReportOnly>"
    )
    assert swapped != data
    with pytest.raises(AssertionError, match="not valid"):
        assert_valid_oadr(oadr_schema, swapped)


# ------------------------------------------------------------------ canonical form


@pytest.mark.parametrize("msg", ALL)
def test_signed_object_is_canonical(msg: m.Message) -> None:
    so = build_signed_object(msg)
    data = build_message(msg)
    assert etree.tostring(signed_object(data), method="c14n", exclusive=False, with_comments=False) == so
    # Canonicalizing the signed object on its own gives the same bytes too.
    assert etree.tostring(etree.fromstring(so), method="c14n") == so
    assert data == envelope(so)
    assert b"/>" not in so and b"\n" not in so.replace(b"&#xA;", b"")


@pytest.mark.parametrize("msg", ALL)
def test_document_layout(msg: m.Message) -> None:
    data = build_message(msg)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<oadr:oadrPayload xmlns:oadr="')
    so = signed_object(data)
    assert so.attrib == {q("oadr", "Id"): "oadrSignedObject"}
    (el,) = so
    assert el.tag == q("oadr", msg.message_type)
    assert el.attrib == {q("ei", "schemaVersion"): "2.0b"}
    # the payload element declares only oadr: inclusive C14N would copy more into the signed object
    assert etree.fromstring(data).nsmap == {"oadr": NS["oadr"]}


@pytest.mark.parametrize("msg", ALL)
def test_declares_exactly_the_namespaces_used(msg: m.Message) -> None:
    so = build_signed_object(msg)
    root = etree.fromstring(so)
    used = {etree.QName(e).namespace for e in root.iter()}
    used |= {etree.QName(a).namespace for e in root.iter() for a in e.attrib}
    declared = set(root.nsmap.values())
    assert declared == used
    assert set(root.nsmap) <= set(NS) and all(NS[p] == uri for p, uri in root.nsmap.items())


def test_poll_is_small() -> None:
    so = build_signed_object(m.Poll(ven_id="ven-1"))
    assert so == (
        b'<oadr:oadrSignedObject xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110" '
        b'xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07" oadr:Id="oadrSignedObject">'
        b'<oadr:oadrPoll ei:schemaVersion="2.0b"><ei:venID>ven-1</ei:venID></oadr:oadrPoll>'
        b"</oadr:oadrSignedObject>"
    )


def test_envelope_places_the_signature_first() -> None:
    so = build_signed_object(m.Poll(ven_id="v"))
    sig = b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"></ds:Signature>'
    data = envelope(so, sig)
    assert data == PAYLOAD_OPEN + sig + so + PAYLOAD_CLOSE
    root = etree.fromstring(data)
    assert [child.tag for child in root] == [q("ds", "Signature"), q("oadr", "oadrSignedObject")]
    # the signature's namespace does not leak into the canonical signed object
    assert etree.tostring(root[1], method="c14n") == so


# ------------------------------------------------------------------ content


def test_event_targets_are_written_in_schema_order() -> None:
    el = message_element(distribute(samples.rich_event()))
    target = el.find(f"{q('oadr', 'oadrEvent')}/{q('ei', 'eiEvent')}/{q('ei', 'eiTarget')}")
    assert target is not None
    assert [etree.QName(c).localname for c in target] == [
        "aggregatedPnode", "endDeviceAsset", "meterAsset", "pnode", "serviceArea", "serviceDeliveryPoint",
        "serviceLocation", "transportInterface", "groupID", "groupName", "resourceID", "resourceID", "venID",
        "venID", "partyID",
    ]
    # document order is kept within a type
    assert texts(target, "ei", "venID") == [samples.VEN_ID, "ven-second"]
    assert texts(target, "ei", "resourceID") == ["resource-1", "resource-2"]
    assert texts(target, "ei", "groupName") == ["Group & <One>"]
    assert texts(target, "power", "mrid") == ["Energy_Management_System", "meter-1"]
    assert texts(target, "gml", "posList") == ["1.5 2.5 3.5 4.5 1.5 2.5", "52.0 4.0 52.1 4.1 52.0 4.0"]


def test_targets_by_type_is_used_without_targets() -> None:
    ev = samples.event(n_intervals=1)
    ev["targets_by_type"] = {"ven_id": ["a", "b"], "group_id": ["g"]}
    del ev["targets"]
    el = message_element(distribute(ev))
    target = el.find(f".//{q('ei', 'eiEvent')}/{q('ei', 'eiTarget')}")
    assert target is not None
    assert [(etree.QName(c).localname, c.text) for c in target] == [("groupID", "g"), ("venID", "a"), ("venID", "b")]


def test_event_values_are_written_as_given() -> None:
    ev = samples.rich_event()
    el = message_element(distribute(ev))
    assert texts(el, "ei", "eventID") == ["event-rich"]
    assert texts(el, "ei", "modificationDateTime") == ["2026-11-26T11:30:00.250000Z"]
    assert texts(el, "xcal", "startafter") == ["PT5M"]
    durations = texts(el.find(f".//{q('xcal', 'properties')}"), "xcal", "duration")
    assert durations[:2] == [None, "PT4H"]
    assert texts(el, "ei", "testEvent") == ["true"]
    assert texts(el, "ei", "vtnComment") == [samples.SPECIAL]
    assert texts(el, "oadr", "oadrResponseRequired") == ["never"]
    values = [float(v or "") for v in texts(el, "ei", "value")]
    expected = []
    for sig in ev["event_signals"]:
        expected += [iv["signal_payload"] for iv in sig["intervals"]]
        if "current_value" in sig:
            expected.append(sig["current_value"])
    assert values == expected
    assert texts(el.find(f".//{q('ei', 'eiEventSignal')}"), "xcal", "text") == ["0", "1", "2", "3"]


def test_flat_event_dict_builds_like_the_nested_one() -> None:
    ev = samples.rich_event()
    flat = {k: v for k, v in ev.items() if k != "event_descriptor"}
    flat.update(ev["event_descriptor"])
    assert build_message(distribute(flat)) == build_message(distribute(ev))


def test_descriptor_wins_over_flat_copies() -> None:
    ev = samples.event(n_intervals=1)
    ev["event_status"] = "cancelled"  # the flat copy is only a convenience
    assert texts(message_element(distribute(ev)), "ei", "eventStatus") == ["far"]


def test_interval_dtstart_is_written_only_when_given() -> None:
    with_start = message_element(samples.distribute_event(1, n_signals=1, n_intervals=3))
    without = message_element(samples.distribute_event(1, n_signals=1, n_intervals=3, interval_dtstart=False))
    intervals = f".//{q('ei', 'interval')}/{q('xcal', 'dtstart')}/{q('xcal', 'date-time')}"
    assert [e.text for e in with_start.iterfind(intervals)] == [
        "2026-11-26T12:00:00Z", "2026-11-26T13:00:00Z", "2026-11-26T14:00:00Z"]
    assert without.find(intervals) is None


def test_response_required_defaults_to_always() -> None:
    ev = samples.minimal_event()
    del ev["response_required"]
    assert texts(message_element(distribute(ev)), "oadr", "oadrResponseRequired") == ["always"]


def test_datetimes_are_written_in_utc() -> None:
    plus4 = timezone(timedelta(hours=4))
    msg = m.CreateOpt(opt_id="o", opt_type="optIn", opt_reason="economic", ven_id="v", request_id="r",
                      created_date_time=datetime(2026, 1, 1, 4, 0, 0, 500, tzinfo=plus4),
                      vavailability=[m.AvailableWindow(dtstart=datetime(2026, 6, 30, 23, 59, 59, tzinfo=plus4),
                                                       duration=timedelta(days=8, seconds=1))])
    el = message_element(msg)
    assert texts(el, "ei", "createdDateTime") == ["2026-01-01T00:00:00.000500Z"]
    assert texts(el, "xcal", "date-time") == ["2026-06-30T19:59:59Z"]
    assert texts(el.find(f".//{q('xcal', 'properties')}/{q('xcal', 'duration')}"), "xcal", "duration")[1:] == [
        "P8DT1S"]


def test_event_interval_datetimes_in_other_zones() -> None:
    ev = samples.event(n_signals=1, n_intervals=2)
    plus2 = timezone(timedelta(hours=2))
    ev["event_signals"][0]["intervals"][0]["dtstart"] = datetime(2026, 11, 26, 14, 0, tzinfo=plus2)
    ev["event_signals"][0]["intervals"][1]["dtstart"] = datetime(2026, 11, 27, 0, 0, 0, 1, tzinfo=timezone.utc)
    starts = texts(message_element(distribute(ev)).find(f".//{q('strm', 'intervals')}"), "xcal", "date-time")
    assert starts == ["2026-11-26T12:00:00Z", "2026-11-27T00:00:00.000001Z"]


@pytest.mark.parametrize("value", [0.1, 1e-05, 1e16, -0.0, 123456789.125, 5e-324, 1.7976931348623157e308, 3, -7, 0])
def test_numbers_round_trip(value: float) -> None:
    ur = samples.update_report(1)
    ur.reports[0].intervals[0].payloads[0].value = value
    (text,) = texts(message_element(ur), "ei", "value")
    assert text == (repr(value) if isinstance(value, float) else str(value))
    assert float(text or "") == value


def test_power_attributes_are_decimals(oadr_schema: etree.XMLSchema) -> None:
    meas = m.Measurement(name="powerReal", description="RealPower", unit="W",
                         power_attributes={"hertz": 1e-07, "voltage": 2.5e20, "ac": False})
    msg = m.CreateReport(request_id="r", report_requests=[m.ReportRequest(
        report_request_id="rr", report_specifier=m.ReportSpecifier(
            report_specifier_id="s", granularity=timedelta(0), report_back_duration=timedelta(0),
            specifier_payloads=[m.SpecifierPayload(r_id="x", reading_type="Direct Read", measurement=meas)]))])
    data = build_message(msg)
    assert_valid_oadr(oadr_schema, data)
    el = signed_object(data)
    assert texts(el, "power", "hertz") == ["0.0000001"]
    assert texts(el, "power", "voltage") == ["250000000000000000000"]


def test_measurements_use_their_schema_namespace() -> None:
    expected = {
        "powerReal": "power", "powerApparent": "power", "energyReal": "power", "energyReactive": "power",
        "voltage": "power", "current": "oadr", "frequency": "oadr", "temperature": "oadr", "pulseCount": "oadr",
        "currencyPerKWh": "oadr", "Therm": "oadr", "customUnit": "oadr",
    }
    descriptions = [m.ReportDescription(r_id=key, report_type="reading", reading_type="Direct Read", measurement=meas)
                    for key, meas in samples.measurements().items()]
    msg = m.RegisterReport(request_id="r", reports=[m.Report(
        report_specifier_id="s", report_name="METADATA_TELEMETRY_USAGE", created_date_time=samples.T0,
        report_descriptions=descriptions)])
    el = message_element(msg)
    prefixes = {uri: prefix for prefix, uri in NS.items()}
    found = {}
    for rd in el.iter(q("oadr", "oadrReportDescription")):
        item = rd[2]  # rID, reportType, itemBase
        name = etree.QName(item)
        found[name.localname] = prefixes[name.namespace or ""]
        # itemDescription and itemUnits are local elements of the item's own schema
        assert [etree.QName(c).namespace for c in item[:2]] == [name.namespace, name.namespace]
    assert found == expected


def test_resource_status_payload() -> None:
    el = message_element(samples.update_report(1, rich=True))
    (status, second) = el.iter(q("oadr", "oadrPayloadResourceStatus"))
    assert [etree.QName(c).localname for c in status] == ["oadrOnline", "oadrManualOverride", "oadrLoadControlState"]
    assert [etree.QName(c).localname for c in status[2]] == [
        "oadrCapacity", "oadrLevelOffset", "oadrPercentOffset", "oadrSetPoint"]
    assert [(etree.QName(c).localname, c.text) for c in status[2][0]] == [
        ("oadrMin", "0.0"), ("oadrMax", "1.0"), ("oadrCurrent", "0.5"), ("oadrNormal", "1.0")]
    assert [c.text for c in second] == ["false", "true"]


def test_response_without_request_id_has_an_empty_one(oadr_schema: etree.XMLSchema) -> None:
    msg = m.ResponseMessage(response=m.Response(response_code=200), ven_id="v")
    data = build_message(msg)
    assert_valid_oadr(oadr_schema, data)
    assert b"<pyld:requestID></pyld:requestID>" in data


def test_response_codes() -> None:
    assert texts(message_element(m.ResponseMessage(response=m.Response(response_code=12, request_id="r"))),
                 "ei", "responseCode") == ["012"]
    assert texts(message_element(m.ResponseMessage(response=m.Response(response_code="452", request_id="r"))),
                 "ei", "responseCode") == ["452"]  # type: ignore[arg-type]
    err = bad(m.ResponseMessage(response=m.Response(response_code=1000, request_id="r")))
    assert err.path == "oadrResponse/eiResponse/responseCode"


# ------------------------------------------------------------------ escaping


@pytest.mark.parametrize("text", [
    "Zürich & <Co>", 'quote " and apostrophe \'', "a\rb\r\nc\nd\te", "]]>", "&amp; is not unescaped",
    "emoji \U0001f600 and CJK 漢字", "  spaced  ", "",
])
def test_text_escaping_round_trips(text: str) -> None:
    msg = samples.rich_message("oadrCreatePartyRegistration")
    assert isinstance(msg, m.CreatePartyRegistration)
    msg.ven_name = text
    so = build_signed_object(msg)
    assert texts(message_element(msg), "oadr", "oadrVenName") == [text or None]
    assert etree.tostring(signed_object(build_message(msg)), method="c14n") == so
    if "\r" in text:
        assert b"&#xD;" in so


def test_special_characters_everywhere_round_trip() -> None:
    for msg in RICH:
        data = build_message(msg)
        assert etree.tostring(signed_object(data), method="c14n") == build_signed_object(msg)
    el = message_element(samples.rich_message("oadrDistributeEvent"))
    assert texts(el, "ei", "modificationReason") == ["price update & <correction>"]
    assert texts(el, "oadr", "itemDescription").count("Zürich & <Co> units") == 0  # custom unit only in reports
    assert "x-Zürich-signal" in texts(el, "ei", "signalName")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_string_round_trips_or_is_refused(text: str) -> None:
    msg = m.Poll(ven_id=text)
    allowed = all(
        c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000 for c in text
    )
    if not allowed:
        err = bad(msg)
        assert err.path == "oadrPoll/venID" and err.message_type == "oadrPoll"
        return
    so = build_signed_object(msg)
    assert etree.tostring(etree.fromstring(so), method="c14n") == so
    assert (message_element(msg)[0].text or "") == text


# ------------------------------------------------------------------ errors


def test_build_error_is_a_message_error() -> None:
    err = bad(m.Poll(ven_id=None))  # type: ignore[arg-type]
    assert isinstance(err, MessageError) and isinstance(err, ValueError)
    assert err.message_type == "oadrPoll"
    assert err.path == "oadrPoll/venID"
    assert "oadrPoll/venID" in str(err) and "missing" in str(err)


def test_not_a_message() -> None:
    with pytest.raises(BuildError, match="not a message class"):
        build_message(m.Response(response_code=200))  # type: ignore[arg-type]
    with pytest.raises(BuildError):
        build_signed_object("oadrPoll")  # type: ignore[arg-type]


@pytest.mark.parametrize(("msg", "path"), [
    (m.QueryRegistration(request_id=None), "oadrQueryRegistration/requestID"),  # type: ignore[arg-type]
    (m.CreatedOpt(response=None, opt_id="o"), "oadrCreatedOpt/eiResponse"),  # type: ignore[arg-type]
    (m.RequestEvent(request_id="r", ven_id=123), "oadrRequestEvent/eiRequestEvent/venID"),  # type: ignore[arg-type]
    (m.RequestEvent(request_id="r", ven_id="v", reply_limit=-1), "oadrRequestEvent/eiRequestEvent/replyLimit"),
    (m.CreatePartyRegistration(request_id="r", report_only=None), "oadrCreatePartyRegistration/oadrReportOnly"),  # type: ignore[arg-type]
    (m.CreatePartyRegistration(request_id="r", profile_name="3.0"), "oadrCreatePartyRegistration/oadrProfileName"),
    (m.CreatedPartyRegistration(response=m.Response(response_code=200), vtn_id="v"),
     "oadrCreatedPartyRegistration/oadrProfiles"),
    (m.CancelReport(request_id="r"), "oadrCancelReport/reportRequestID[1]"),
    (m.CreateReport(request_id="r"), "oadrCreateReport/oadrReportRequest[1]"),
    (m.CreatedEvent(response=m.Response(response_code=200), ven_id="v", event_responses=[
        m.EventResponse(response_code=200, request_id="r", event_id="e", modification_number=0, opt_type="optIn"),
        m.EventResponse(response_code=200, request_id="r", event_id="e", modification_number=0, opt_type="maybe"),
    ]), "oadrCreatedEvent/eiCreatedEvent/eventResponses/eventResponse[2]/optType"),
    (m.CreateOpt(opt_id="o", opt_type="optIn", opt_reason="economic", ven_id="v", request_id="r",
                 created_date_time=datetime(2026, 1, 1)), "oadrCreateOpt/createdDateTime"),
    (m.CreateOpt(opt_id="o", opt_type="optIn", opt_reason="economic", ven_id="v", request_id="r",
                 created_date_time=samples.T0, event_id="e"), "oadrCreateOpt/qualifiedEventID/modificationNumber"),
    (m.CreateOpt(opt_id="o", opt_type="optIn", opt_reason="economic", ven_id="v", request_id="r",
                 created_date_time=samples.T0, targets=[{"city": "Zürich"}]), "oadrCreateOpt/eiTarget"),
    (m.CreateOpt(opt_id="o", opt_type="optIn", opt_reason="economic", ven_id="v", request_id="r",
                 created_date_time=samples.T0, targets=[{"service_location": {"node": "n"}}]),
     "oadrCreateOpt/eiTarget/serviceLocation"),
])
def test_invalid_messages_name_the_path(msg: Any, path: str) -> None:
    err = bad(msg)
    assert err.path == path, str(err)
    assert err.message_type == msg.message_type
    assert str(err).startswith(f"cannot build {msg.message_type}: {path}")


def test_naive_datetime_in_an_event() -> None:
    second = samples.event("e2", n_signals=2, n_intervals=3)
    second["event_descriptor"]["created_date_time"] = datetime(2026, 1, 1)
    err = bad(distribute(samples.event("e1", n_intervals=2), second))
    assert err.path == "oadrDistributeEvent/oadrEvent[2]/eiEvent/eventDescriptor/createdDateTime"
    assert "naive" in str(err)


def test_missing_created_date_time() -> None:
    ev = samples.minimal_event()
    del ev["event_descriptor"]["created_date_time"]
    assert bad(distribute(ev)).path == "oadrDistributeEvent/oadrEvent[1]/eiEvent/eventDescriptor/createdDateTime"


def test_bad_interval_is_located() -> None:
    ev = samples.event("e2", n_signals=3, n_intervals=4)
    ev["event_signals"][1]["intervals"][2]["signal_payload"] = math.inf
    err = bad(distribute(samples.event("e1", n_intervals=1), ev))
    assert err.path == (
        "oadrDistributeEvent/oadrEvent[2]/eiEvent/eiEventSignals/eiEventSignal[2]/intervals/interval[3]"
        "/signalPayload/payloadFloat/value"
    )
    ev["event_signals"][1]["intervals"][2]["signal_payload"] = True
    assert "must be a number" in str(bad(distribute(ev)))
    ev["event_signals"][1]["intervals"][2]["signal_payload"] = math.nan
    assert "finite" in str(bad(distribute(ev)))


@pytest.mark.parametrize(("change", "path"), [
    (lambda ev: ev.pop("active_period"), "eiActivePeriod"),
    (lambda ev: ev["active_period"].pop("duration"), "eiActivePeriod/properties/duration/duration"),
    (lambda ev: ev.update(event_signals=[]), "eiEventSignals"),
    (lambda ev: ev["event_signals"][0].update(intervals=[]), "eiEventSignals/eiEventSignal[1]/intervals"),
    (lambda ev: ev["event_signals"][0]["intervals"][0].update(uid=7),
     "eiEventSignals/eiEventSignal[1]/intervals/interval[1]/uid/text"),
    (lambda ev: ev["event_signals"][0].update(signal_name="NOT_A_SIGNAL"),
     "eiEventSignals/eiEventSignal[1]/signalName"),
    (lambda ev: ev["event_signals"][0].update(signal_type="x-unknown"),
     "eiEventSignals/eiEventSignal[1]/signalType"),
    (lambda ev: ev["event_descriptor"].update(event_status="sleeping"), "eventDescriptor/eventStatus"),
    (lambda ev: ev["event_descriptor"].update(modification_number="1"), "eventDescriptor/modificationNumber"),
    (lambda ev: ev["event_descriptor"].pop("market_context"), "eventDescriptor/eiMarketContext/marketContext"),
    (lambda ev: ev.update(response_required="sometimes"), "oadrResponseRequired"),
    (lambda ev: ev.update(targets=[{"ven_id": "ok"}, {"planet": "earth"}]), "eiTarget"),
    (lambda ev: ev["active_period"].update(ramp_up=timedelta(seconds=1.5)),
     "eiActivePeriod/properties/x-eiRampUp/duration"),
    (lambda ev: ev["event_signals"][0].update(measurement=m.Measurement(name="powerReal", description="RealPower",
                                                                        unit="W")),
     "eiEventSignals/eiEventSignal[1]/powerReal/powerAttributes"),
])
def test_bad_event_fields(change: Any, path: str) -> None:
    ev = samples.minimal_event()
    change(ev)
    err = bad(distribute(ev))
    assert err.path == "oadrDistributeEvent/oadrEvent[1]/eiEvent/" + path, str(err)


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]
)
def test_characters_xml_cannot_carry(char: str) -> None:
    err = bad(m.Poll(ven_id=f"ven{char}1"))
    assert err.path == "oadrPoll/venID"
    assert f"U+{ord(char):04X}" in str(err)
    ev = samples.rich_event()
    ev["event_descriptor"]["vtn_comment"] = f"comment {char}"
    assert bad(distribute(ev)).path == "oadrDistributeEvent/oadrEvent[1]/eiEvent/eventDescriptor/vtnComment"


def test_unknown_measurement_name() -> None:
    meas = m.Measurement(name="powerImaginary", description="x", unit="W")
    rd = m.ReportDescription(r_id="r1", report_type="usage", reading_type="Direct Read", measurement=meas)
    msg = m.RegisterReport(request_id="r", reports=[m.Report(
        report_specifier_id="s", report_name="METADATA_TELEMETRY_USAGE", created_date_time=samples.T0,
        report_descriptions=[rd, rd])])
    err = bad(msg)
    assert err.path == "oadrRegisterReport/oadrReport[1]/oadrReportDescription[1]/itemBase"
    assert "powerImaginary" in str(err)
    ev = samples.minimal_event()
    ev["event_signals"][0]["measurement"] = meas
    assert bad(distribute(ev)).path.endswith("eiEventSignal[1]/itemBase")


def test_bad_report_values() -> None:
    ur = samples.update_report(3, rich=True)
    ur.reports[0].intervals[1].payloads[1].confidence = 101
    err = bad(ur)
    assert err.path == ("oadrUpdateReport/oadrReport[1]/intervals/interval[2]/oadrReportPayload[2]/confidence")
    ur = samples.update_report(3)
    ur.reports[0].intervals[2].payloads[0].value = "1.0"  # type: ignore[assignment]
    assert bad(ur).path == (
        "oadrUpdateReport/oadrReport[1]/intervals/interval[3]/oadrReportPayload[1]/payloadFloat/value")
    ur = samples.update_report(3)
    ur.reports[0].intervals[0].dtstart = datetime(2026, 1, 1)
    assert bad(ur).path == "oadrUpdateReport/oadrReport[1]/intervals/interval[1]/dtstart/date-time"
    ur = samples.update_report(3)
    ur.reports[0].intervals[0].payloads = []
    assert bad(ur).path == "oadrUpdateReport/oadrReport[1]/intervals/interval[1]"
    ur = samples.update_report(1, rich=True)
    status = ur.reports[1].intervals[0].payloads[0].value
    assert isinstance(status, m.ResourceStatus)
    status.load_control_state = {"oadrCapacity": {"oadrMin": 1.0}}
    assert bad(ur).path.endswith("oadrPayloadResourceStatus/oadrLoadControlState/oadrCapacity/oadrCurrent")
    status.load_control_state = {"oadrWhatever": {"oadrCurrent": 1.0}}
    assert bad(ur).path.endswith("oadrPayloadResourceStatus/oadrLoadControlState")


def test_report_request_needs_report_back_duration() -> None:
    cr = samples.create_report(rich=False)
    cr.report_requests[0].report_specifier.report_back_duration = None
    assert bad(cr).path == "oadrCreateReport/oadrReportRequest[1]/reportSpecifier/reportBackDuration"


def test_wrong_nested_object_type() -> None:
    msg = m.UpdateReport(request_id="r", reports=[{"report_name": "x"}])  # type: ignore[list-item]
    assert bad(msg).path == "oadrUpdateReport/oadrReport[1]"
    msg2 = m.DistributeEvent(request_id="r", vtn_id="v", events="not a list")  # type: ignore[arg-type]
    assert bad(msg2).path == "oadrDistributeEvent/oadrEvent[1]"


def test_shared_values_are_still_checked() -> None:
    """Intervals sharing one duration object are written from a cache; a missing one is still refused."""
    ev = samples.event(n_signals=1, n_intervals=3, interval_dtstart=False)
    for iv in ev["event_signals"][0]["intervals"]:
        iv["duration"] = None
    assert bad(distribute(ev)).path.endswith("eiEventSignal[1]/intervals/interval[1]/duration/duration")
    ur = samples.update_report(3)
    ur.reports[0].intervals[1].payloads[0].r_id = "a<b"
    el = message_element(ur)
    assert texts(el, "ei", "rID") == ["rid-power", "a<b", "rid-power"]


def test_interval_uid_is_optional(oadr_schema: Any) -> None:
    """``xcal:uid`` is optional in ``IntervalType``: an interval without one is written without one."""
    ev = samples.minimal_event()
    del ev["event_signals"][0]["intervals"][0]["uid"]
    data = build_message(distribute(ev))
    assert b"<xcal:uid>" not in data
    assert_valid_oadr(oadr_schema, data)
