"""Parsing OpenADR 2.0b messages: hand-written XML for every message type.

Every test that extracts runs on both twins (the ``extract_impl`` fixture of
conftest.py): ``parse_document`` first, then ``extract_impl(root)``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from fleetven import _fast
from fleetven.exceptions import MessageError
from fleetven.messages.parse import parse_document, parse_message
from fleetven.openadr import model as m
from fleetven.openadr.namespaces import NS

UTC = timezone.utc
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

NSDECL = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())


def payload(body: str, *, before: str = "") -> bytes:
    """Wrap one message in ``oadrPayload/oadrSignedObject``, every prefix declared."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<oadr:oadrPayload {NSDECL}>{before}'
        f'<oadr:oadrSignedObject oadr:Id="oadrSignedObject">{body}</oadr:oadrSignedObject></oadr:oadrPayload>'
    ).encode()


def run(extract_impl: Any, body: str) -> Any:
    return extract_impl(parse_document(payload(body)))


def resp(code: str = "200", request_id: str = "req-1", desc: str | None = "OK") -> str:
    d = f"<ei:responseDescription>{desc}</ei:responseDescription>" if desc is not None else ""
    return (f"<ei:eiResponse><ei:responseCode>{code}</ei:responseCode>{d}"
            f"<pyld:requestID>{request_id}</pyld:requestID></ei:eiResponse>")


def response(code: int = 200, request_id: str | None = "req-1", desc: str | None = "OK") -> m.Response:
    return m.Response(response_code=code, response_description=desc, request_id=request_id)


def dtstart(value: str) -> str:
    return f"<xcal:dtstart><xcal:date-time>{value}</xcal:date-time></xcal:dtstart>"


def dur(value: str, tag: str = "xcal:duration") -> str:
    return f"<{tag}><xcal:duration>{value}</xcal:duration></{tag}>"


def interval(value: float | str, duration: str = "PT1H", uid: str | None = None, start: str | None = None) -> str:
    u = f"<xcal:uid><xcal:text>{uid}</xcal:text></xcal:uid>" if uid is not None else ""
    s = dtstart(start) if start is not None else ""
    return (
        f"<ei:interval>{s}{dur(duration)}{u}<ei:signalPayload><ei:payloadFloat><ei:value>{value}</ei:value>"
        "</ei:payloadFloat></ei:signalPayload></ei:interval>"
    )


def signal(intervals: str, name: str = "SIMPLE", type_: str = "level", sid: str = "sig-1", extra: str = "") -> str:
    return (
        f"<ei:eiEventSignal><strm:intervals>{intervals}</strm:intervals><ei:signalName>{name}</ei:signalName>"
        f"<ei:signalType>{type_}</ei:signalType><ei:signalID>{sid}</ei:signalID>{extra}</ei:eiEventSignal>"
    )


def event_xml(
    *,
    event_id: str = "ev-1",
    modification_number: str = "0",
    status: str = "far",
    start: str = "2026-11-26T12:00:00Z",
    duration: str = "PT2H",
    signals: str | None = None,
    targets: str = "<ei:venID>ven-1</ei:venID>",
    descriptor_extra: str = "",
    test_event: str | None = None,
    properties_extra: str = "",
    response_required: str | None = "always",
) -> str:
    if signals is None:
        signals = signal(interval(1, uid="0") + interval(2, uid="1"))
    te = f"<ei:testEvent>{test_event}</ei:testEvent>" if test_event is not None else ""
    rr = f"<oadr:oadrResponseRequired>{response_required}</oadr:oadrResponseRequired>" if response_required else ""
    return (
        "<oadr:oadrEvent><ei:eiEvent><ei:eventDescriptor>"
        f"<ei:eventID>{event_id}</ei:eventID><ei:modificationNumber>{modification_number}</ei:modificationNumber>"
        f"{descriptor_extra}"
        "<ei:eiMarketContext><emix:marketContext>http://mc.example.com</emix:marketContext></ei:eiMarketContext>"
        "<ei:createdDateTime>2026-11-26T11:00:00Z</ei:createdDateTime>"
        f"<ei:eventStatus>{status}</ei:eventStatus>{te}</ei:eventDescriptor>"
        f"<ei:eiActivePeriod><xcal:properties>{dtstart(start)}{dur(duration)}{properties_extra}</xcal:properties>"
        "<xcal:components/></ei:eiActivePeriod>"
        f"<ei:eiEventSignals>{signals}</ei:eiEventSignals><ei:eiTarget>{targets}</ei:eiTarget></ei:eiEvent>"
        f"{rr}</oadr:oadrEvent>"
    )


def distribute(events: str, *, vtn_id: str = "VTN-1", request_id: str = "req-de", before: str = "") -> str:
    return (
        f"<oadr:oadrDistributeEvent>{before}<pyld:requestID>{request_id}</pyld:requestID><ei:vtnID>{vtn_id}</ei:vtnID>"
        f"{events}</oadr:oadrDistributeEvent>"
    )


def one_event(extract_impl: Any, **kw: Any) -> dict[str, Any]:
    msg = run(extract_impl, distribute(event_xml(**kw)))
    assert isinstance(msg, m.DistributeEvent)
    assert len(msg.events) == 1
    ev: dict[str, Any] = msg.events[0]
    return ev


# ------------------------------------------------------------------ events


POLYGON = (
    '<gml:FeatureCollection gml:id="fc1"><gml:location><gml:Polygon gml:id="poly1"><gml:exterior><gml:LinearRing>'
    "<gml:posList>52.0 4.0\n 52.1\t4.1 52.0 4.0</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    "</gml:location></gml:FeatureCollection>"
)
POLYGON_NO_IDS = (
    "<gml:FeatureCollection><gml:location><gml:Polygon><gml:exterior><gml:LinearRing>"
    "<gml:posList>1.5 2.5 3.5 4.5 1.5 2.5</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    "</gml:location></gml:FeatureCollection>"
)

ALL_TARGETS_XML = (
    "<power:aggregatedPnode><power:node>apnode-1</power:node></power:aggregatedPnode>"
    "<power:endDeviceAsset><power:mrid>Energy_Management_System</power:mrid></power:endDeviceAsset>"
    "<power:meterAsset><power:mrid>meter-1</power:mrid></power:meterAsset>"
    "<power:pnode><power:node>pnode-1</power:node></power:pnode>"
    f"<emix:serviceArea>{POLYGON_NO_IDS}</emix:serviceArea>"
    "<power:serviceDeliveryPoint><power:node>sdp-1</power:node></power:serviceDeliveryPoint>"
    f"<power:serviceLocation>{POLYGON}</power:serviceLocation>"
    "<power:transportInterface><power:pointOfReceipt>r-1</power:pointOfReceipt>"
    "<power:pointOfDelivery>d-1</power:pointOfDelivery></power:transportInterface>"
    "<ei:groupID>group-1</ei:groupID><ei:groupName>Group &amp; One</ei:groupName>"
    "<ei:resourceID>resource-1</ei:resourceID><ei:resourceID>resource-2</ei:resourceID>"
    "<ei:venID>ven-000123</ei:venID><ei:partyID>party-1</ei:partyID><ei:venID>VEN-second</ei:venID>"
)
ALL_TARGETS: list[dict[str, Any]] = [
    {"aggregated_p_node": {"node": "apnode-1"}},
    {"end_device_asset": {"mrid": "Energy_Management_System"}},
    {"meter_asset": {"mrid": "meter-1"}},
    {"p_node": {"node": "pnode-1"}},
    {"service_area": {"pos_list": [1.5, 2.5, 3.5, 4.5, 1.5, 2.5]}},
    {"service_delivery_point": {"node": "sdp-1"}},
    {"service_location": {"pos_list": [52.0, 4.0, 52.1, 4.1, 52.0, 4.0], "feature_collection_id": "fc1",
                          "polygon_id": "poly1"}},
    {"transport_interface": {"point_of_receipt": "r-1", "point_of_delivery": "d-1"}},
    {"group_id": "group-1"},
    {"group_name": "Group & One"},
    {"resource_id": "resource-1"},
    {"resource_id": "resource-2"},
    {"ven_id": "ven-000123"},
    {"party_id": "party-1"},
    {"ven_id": "VEN-second"},
]

POWER_REAL = (
    "<power:powerReal><power:itemDescription>RealPower</power:itemDescription><power:itemUnits>W</power:itemUnits>"
    "<scale:siScaleCode>k</scale:siScaleCode><power:powerAttributes><power:hertz>50</power:hertz>"
    "<power:voltage>230.5</power:voltage><power:ac>true</power:ac></power:powerAttributes></power:powerReal>"
)
CURRENCY = (
    "<oadr:currencyPerKWh><oadr:itemDescription>currencyPerKWh</oadr:itemDescription>"
    "<oadr:itemUnits>EUR</oadr:itemUnits><scale:siScaleCode>none</scale:siScaleCode></oadr:currencyPerKWh>"
)
PULSE = (
    "<oadr:pulseCount><oadr:itemDescription>pulse count</oadr:itemDescription><oadr:itemUnits>count</oadr:itemUnits>"
    "<oadr:pulseFactor>0.5</oadr:pulseFactor></oadr:pulseCount>"
)


def test_distribute_event_full(extract_impl: Any) -> None:
    descriptor_extra = (
        "<ei:modificationDateTime>2026-11-26T11:30:00.25Z</ei:modificationDateTime>"
        "<ei:modificationReason>price update</ei:modificationReason><ei:priority>1</ei:priority>"
    )
    props = (
        "<xcal:tolerance><xcal:tolerate><xcal:startafter>PT5M</xcal:startafter></xcal:tolerate></xcal:tolerance>"
        + dur("P1D", "ei:x-eiNotification") + dur("PT15M", "ei:x-eiRampUp") + dur("PT30M", "ei:x-eiRecovery")
    )
    price = signal(
        interval("0.1", uid="0") + interval("0.25", uid="1", duration="PT30M") + interval("1e-05", uid="2"),
        name="ELECTRICITY_PRICE", type_="price", sid="sig-price",
        extra=CURRENCY
        + "<ei:currentValue><ei:payloadFloat><ei:value>0.1</ei:value></ei:payloadFloat></ei:currentValue>",
    )
    # signal-level target placed before signalName, as the schema orders it
    load = (
        "<ei:eiEventSignal><strm:intervals>" + interval("-50.5", duration="PT2H") + "</strm:intervals>"
        "<ei:eiTarget><ei:resourceID>resource-1</ei:resourceID><ei:venID>ven-000123</ei:venID></ei:eiTarget>"
        "<ei:signalName>LOAD_DISPATCH</ei:signalName><ei:signalType>setpoint</ei:signalType>"
        f"<ei:signalID>sig-load</ei:signalID>{POWER_REAL}</ei:eiEventSignal>"
    )
    xsig = signal(interval(3, uid="a"), name="x-Custom-Signal", type_="x-loadControlLevelOffset", sid="SIG-X",
                  extra=PULSE)
    body = distribute(
        event_xml(event_id="EV-0001", modification_number="7", status="active", test_event="true",
                  descriptor_extra=descriptor_extra, properties_extra=props, signals=price + load + xsig,
                  targets=ALL_TARGETS_XML, response_required="never",
                  duration="PT2H"),
        before=resp("200", "req-de", "events follow"),
        vtn_id="VtN-Alpha",
    )
    msg = run(extract_impl, body)
    assert isinstance(msg, m.DistributeEvent)
    assert msg.request_id == "req-de"
    assert msg.vtn_id == "VtN-Alpha"
    assert msg.response == response(200, "req-de", "events follow")
    by_type: dict[str, list[Any]] = {}
    for t in ALL_TARGETS:
        for k, v in t.items():
            by_type.setdefault(k, []).append(v)
    expected = {
        "event_id": "EV-0001",
        "modification_number": 7,
        "event_status": "active",
        "test_event": True,
        "market_context": "http://mc.example.com",
        "priority": 1,
        "event_descriptor": {
            "event_id": "EV-0001",
            "modification_number": 7,
            "modification_date_time": datetime(2026, 11, 26, 11, 30, 0, 250000, tzinfo=UTC),
            "modification_reason": "price update",
            "priority": 1,
            "market_context": "http://mc.example.com",
            "created_date_time": CREATED,
            "event_status": "active",
            "test_event": True,
        },
        "active_period": {
            "dtstart": T0,
            "duration": 2 * HOUR,
            "tolerance": {"tolerate": {"startafter": timedelta(minutes=5)}},
            "notification": timedelta(days=1),
            "ramp_up": timedelta(minutes=15),
            "recovery": timedelta(minutes=30),
        },
        "event_signals": [
            {
                "signal_name": "ELECTRICITY_PRICE",
                "signal_type": "price",
                "signal_id": "sig-price",
                "current_value": 0.1,
                "intervals": [
                    {"dtstart": T0, "duration": HOUR, "uid": "0", "signal_payload": 0.1},
                    {"dtstart": T0 + HOUR, "duration": timedelta(minutes=30), "uid": "1", "signal_payload": 0.25},
                    {"dtstart": T0 + timedelta(minutes=90), "duration": HOUR, "uid": "2", "signal_payload": 1e-05},
                ],
                "measurement": m.Measurement(name="currencyPerKWh", description="currencyPerKWh", unit="EUR",
                                             scale="none"),
            },
            {
                "signal_name": "LOAD_DISPATCH",
                "signal_type": "setpoint",
                "signal_id": "sig-load",
                "intervals": [{"dtstart": T0, "duration": 2 * HOUR, "signal_payload": -50.5}],
                "measurement": m.Measurement(name="powerReal", description="RealPower", unit="W", scale="k",
                                             power_attributes={"hertz": 50.0, "voltage": 230.5, "ac": True}),
                "targets": [{"resource_id": "resource-1"}, {"ven_id": "ven-000123"}],
                "targets_by_type": {"resource_id": ["resource-1"], "ven_id": ["ven-000123"]},
            },
            {
                "signal_name": "x-Custom-Signal",
                "signal_type": "x-loadControlLevelOffset",
                "signal_id": "SIG-X",
                "intervals": [{"dtstart": T0, "duration": HOUR, "uid": "a", "signal_payload": 3.0}],
                "measurement": m.Measurement(name="pulseCount", description="pulse count", unit="count",
                                             pulse_factor=0.5),
            },
        ],
        "targets": ALL_TARGETS,
        "targets_by_type": by_type,
        "response_required": "never",
    }
    assert msg.events == [expected]
    # targets_by_type keeps first-seen order of the types
    assert list(msg.events[0]["targets_by_type"]) == list(by_type)


def test_event_minimal_keys_left_out(extract_impl: Any) -> None:
    ev = one_event(extract_impl, targets="", response_required=None)
    assert ev["priority"] is None
    assert set(ev["event_descriptor"]) == {
        "event_id", "modification_number", "market_context", "created_date_time", "event_status", "test_event"}
    assert set(ev["active_period"]) == {"dtstart", "duration"}
    assert set(ev["event_signals"][0]) == {"signal_name", "signal_type", "signal_id", "intervals"}
    assert ev["targets"] == [] and ev["targets_by_type"] == {}
    assert ev["response_required"] == "always"
    assert set(ev) == {"event_id", "modification_number", "event_status", "test_event", "market_context", "priority",
                       "event_descriptor", "active_period", "event_signals", "targets", "targets_by_type",
                       "response_required"}


def test_interval_dtstart_computed_per_signal(extract_impl: Any) -> None:
    sig_a = signal(interval(1, "PT15M") + interval(2, "PT45M") + interval(3, "PT1H"), sid="a")
    # an interval's own dtstart wins; the others count from the event start
    sig_b = signal(
        interval(1, "PT1H") + interval(2, "PT1H", start="2026-11-26T20:00:00+02:00") + interval(3, "PT1H"), sid="b")
    ev = one_event(extract_impl, signals=sig_a + sig_b, start="2026-11-26T13:00:00+01:00")
    a, b = ev["event_signals"]
    assert [i["dtstart"] for i in a["intervals"]] == [T0, T0 + timedelta(minutes=15), T0 + HOUR]
    assert [i["dtstart"] for i in b["intervals"]] == [T0, T0 + 6 * HOUR, T0 + 2 * HOUR]
    assert all(i["dtstart"].tzinfo is UTC for i in a["intervals"] + b["intervals"])


def test_several_events_in_document_order(extract_impl: Any) -> None:
    body = distribute("".join(event_xml(event_id=f"e{i}", start=f"2026-11-2{i}T00:00:00Z") for i in range(1, 5)))
    msg = run(extract_impl, body)
    assert [e["event_id"] for e in msg.events] == ["e1", "e2", "e3", "e4"]
    assert [e["active_period"]["dtstart"].day for e in msg.events] == [21, 22, 23, 24]


def test_distribute_event_without_events(extract_impl: Any) -> None:
    msg = run(extract_impl, distribute(""))
    assert msg == m.DistributeEvent(request_id="req-de", vtn_id="VTN-1", events=[], response=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T12:00:00Z", T0),
        ("2026-11-26T14:00:00+02:00", T0),
        ("2026-11-26T06:30:00-05:30", T0),
        ("2026-11-26T12:00:00", T0),
        ("  2026-11-26T12:00:00Z\n", T0),
        ("2026-11-26T12:00:00.5Z", T0.replace(microsecond=500000)),
        ("2026-11-26T12:00:00.12Z", T0.replace(microsecond=120000)),
        ("2026-11-26T12:00:00.123Z", T0.replace(microsecond=123000)),
        ("2026-11-26T12:00:00.1234Z", T0.replace(microsecond=123400)),
        ("2026-11-26T12:00:00.12345Z", T0.replace(microsecond=123450)),
        ("2026-11-26T12:00:00.123456Z", T0.replace(microsecond=123456)),
        ("2026-11-26T12:00:00.1234567Z", T0.replace(microsecond=123456)),
        ("2026-11-26T12:00:00.12345678Z", T0.replace(microsecond=123456)),
        ("2026-11-26T12:00:00.123456789Z", T0.replace(microsecond=123456)),
        ("2026-11-26T13:00:00.999999999+01:00", T0.replace(microsecond=999999)),
        ("2026-11-27T00:30:00+12:30", T0),
    ],
)
def test_datetimes(extract_impl: Any, text: str, expected: datetime) -> None:
    ev = one_event(extract_impl, start=text)
    got = ev["active_period"]["dtstart"]
    assert got == expected
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", HOUR),
        ("PT0S", timedelta(0)),
        ("P1D", timedelta(days=1)),
        ("P2W", timedelta(weeks=2)),
        ("PT90M", timedelta(minutes=90)),
        ("PT30S", timedelta(seconds=30)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P1Y2M3DT4H5M6S", timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6)),
        ("-PT5M", timedelta(minutes=-5)),
        ("+PT5M", timedelta(minutes=5)),
        ("PT1.5S", timedelta(seconds=1.5)),
        (" PT1H ", HOUR),
    ],
)
def test_durations(extract_impl: Any, text: str, expected: timedelta) -> None:
    ev = one_event(extract_impl, duration=text, properties_extra=dur(text, "ei:x-eiRampUp"))
    assert ev["active_period"]["duration"] == expected
    assert ev["active_period"]["ramp_up"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, False), ("false", False), ("0", False), (" false ", False), ("true", True), ("1", True),
     ("False", True), ("FALSE", True), ("", True), ("yes", True)],
)
def test_test_event_variants(extract_impl: Any, text: str | None, expected: bool) -> None:
    ev = one_event(extract_impl, test_event=text)
    assert ev["test_event"] is expected
    assert ev["event_descriptor"]["test_event"] is expected


@pytest.mark.parametrize("status", ["none", "far", "near", "active", "completed", "cancelled"])
def test_event_statuses(extract_impl: Any, status: str) -> None:
    assert one_event(extract_impl, status=status)["event_status"] == status


@pytest.mark.parametrize(
    "name",
    ["SIMPLE", "simple", "ELECTRICITY_PRICE", "ENERGY_PRICE", "DEMAND_CHARGE", "BID_PRICE", "BID_LOAD", "BID_ENERGY",
     "CHARGE_STATE", "LOAD_DISPATCH", "LOAD_CONTROL", "x-loadShed", "x-ÜnicodeName", "x-"],
)
def test_signal_names_accepted(extract_impl: Any, name: str) -> None:
    ev = one_event(extract_impl, signals=signal(interval(1), name=name))
    assert ev["event_signals"][0]["signal_name"] == name


@pytest.mark.parametrize("ident", ["000123", "0", "VtN-Alpha", "ven_ID.Mixed-Case", "1e5", "00.50", "  007  "])
def test_ids_kept_as_strings(extract_impl: Any, ident: str) -> None:
    msg = run(extract_impl, distribute(event_xml(event_id=ident, targets=f"<ei:venID>{ident}</ei:venID>"),
                                       vtn_id=ident, request_id=ident))
    kept = ident.strip()
    assert msg.vtn_id == kept and msg.request_id == kept
    ev = msg.events[0]
    assert ev["event_id"] == kept and ev["targets"] == [{"ven_id": kept}]
    assert isinstance(ev["event_id"], str)


@pytest.mark.parametrize(("text", "expected"), [("1", 1.0), ("-2.5", -2.5), (".5", 0.5), ("5.", 5.0),
                                                  ("1E3", 1000.0), ("+1e-3", 0.001), ("INF", math.inf),
                                                  ("-INF", -math.inf)])
def test_payload_floats(extract_impl: Any, text: str, expected: float) -> None:
    ev = one_event(extract_impl, signals=signal(interval(text)))
    value = ev["event_signals"][0]["intervals"][0]["signal_payload"]
    assert isinstance(value, float) and value == expected


def test_payload_nan(extract_impl: Any) -> None:
    ev = one_event(extract_impl, signals=signal(interval("NaN")))
    assert math.isnan(ev["event_signals"][0]["intervals"][0]["signal_payload"])


def test_whitespace_comments_cdata_and_signature(extract_impl: Any) -> None:
    body = (
        "\n  <oadr:oadrPoll>\n    <!-- a comment -->\n    <?pi data?>\n"
        "    <ei:venID><![CDATA[ven]]>-<!-- split -->0042\n    </ei:venID>\n  </oadr:oadrPoll>\n"
    )
    signature = (
        '<ds:Signature><ds:SignedInfo><ds:Reference URI="#oadrSignedObject"/></ds:SignedInfo>'
        "<ds:SignatureValue>abc</ds:SignatureValue></ds:Signature>"
    )
    msg = extract_impl(parse_document(payload(body, before=signature)))
    assert msg == m.Poll(ven_id="ven-0042")


def test_default_namespace_and_other_prefixes(extract_impl: Any) -> None:
    doc = (
        b'<oadrPayload xmlns="http://openadr.org/oadr-2.0b/2012/07"><oadrSignedObject>'
        b'<oadrPoll><x:venID xmlns:x="http://docs.oasis-open.org/ns/energyinterop/201110">v-1</x:venID></oadrPoll>'
        b"</oadrSignedObject></oadrPayload>"
    )
    assert extract_impl(parse_document(doc)) == m.Poll(ven_id="v-1")


def test_unknown_extra_elements_ignored(extract_impl: Any) -> None:
    body = (
        "<oadr:oadrPoll><oadr:futureThing><ei:venID>not-this</ei:venID></oadr:futureThing>"
        "<ei:venID>ven-1</ei:venID><ei:venID>second-ignored</ei:venID><ei:somethingNew>x</ei:somethingNew>"
        "</oadr:oadrPoll>"
    )
    assert run(extract_impl, body) == m.Poll(ven_id="ven-1")


# ------------------------------------------------------------------ every message type

REPORT_DESCRIPTION = (
    "<oadr:oadrReportDescription><ei:rID>rid-power</ei:rID>"
    "<ei:reportSubject><power:endDeviceAsset><power:mrid>EMS</power:mrid></power:endDeviceAsset></ei:reportSubject>"
    "<ei:reportDataSource><ei:resourceID>resource-1</ei:resourceID><ei:venID>ven-1</ei:venID></ei:reportDataSource>"
    f"<ei:reportType>usage</ei:reportType>{POWER_REAL}<ei:readingType>Direct Read</ei:readingType>"
    "<emix:marketContext>http://mc.example.com</emix:marketContext>"
    "<oadr:oadrSamplingRate><oadr:oadrMinPeriod>PT10S</oadr:oadrMinPeriod><oadr:oadrMaxPeriod>PT5M</oadr:oadrMaxPeriod>"
    "<oadr:oadrOnChange>true</oadr:oadrOnChange></oadr:oadrSamplingRate></oadr:oadrReportDescription>"
    "<oadr:oadrReportDescription><ei:rID>rid-status</ei:rID><ei:reportType>x-resourceStatus</ei:reportType>"
    "<ei:readingType>x-notApplicable</ei:readingType></oadr:oadrReportDescription>"
)
POWER_REAL_M = m.Measurement(name="powerReal", description="RealPower", unit="W", scale="k",
                             power_attributes={"hertz": 50.0, "voltage": 230.5, "ac": True})
REPORT_DESCRIPTIONS = [
    m.ReportDescription(
        r_id="rid-power", report_type="usage", reading_type="Direct Read",
        report_subject=[{"end_device_asset": {"mrid": "EMS"}}],
        report_data_source=[{"resource_id": "resource-1"}, {"ven_id": "ven-1"}],
        market_context="http://mc.example.com", measurement=POWER_REAL_M,
        sampling_rate=m.SamplingRate(min_period=timedelta(seconds=10), max_period=timedelta(minutes=5),
                                     on_change=True),
    ),
    m.ReportDescription(r_id="rid-status", report_type="x-resourceStatus", reading_type="x-notApplicable"),
]

REPORT_REQUEST = (
    "<oadr:oadrReportRequest><ei:reportRequestID>rr-1</ei:reportRequestID><ei:reportSpecifier>"
    "<ei:reportSpecifierID>spec-1</ei:reportSpecifierID>" + dur("PT15M", "xcal:granularity")
    + dur("PT1H", "ei:reportBackDuration")
    + "<ei:reportInterval><xcal:properties>" + dtstart("2026-11-26T12:00:00Z") + dur("P1D")
    + "</xcal:properties></ei:reportInterval>"
    "<ei:specifierPayload>" + POWER_REAL + "<ei:rID>rid-power</ei:rID><ei:readingType>Direct Read</ei:readingType>"
    "</ei:specifierPayload><ei:specifierPayload><ei:rID>rid-status</ei:rID>"
    "<ei:readingType>x-notApplicable</ei:readingType></ei:specifierPayload>"
    "</ei:reportSpecifier></oadr:oadrReportRequest>"
    "<oadr:oadrReportRequest><ei:reportRequestID>rr-2</ei:reportRequestID><ei:reportSpecifier>"
    "<ei:reportSpecifierID>spec-2</ei:reportSpecifierID>" + dur("PT0S", "xcal:granularity")
    + "<ei:specifierPayload><ei:rID>r</ei:rID><ei:readingType>Net</ei:readingType></ei:specifierPayload>"
    "</ei:reportSpecifier></oadr:oadrReportRequest>"
)
REPORT_REQUESTS = [
    m.ReportRequest(report_request_id="rr-1", report_specifier=m.ReportSpecifier(
        report_specifier_id="spec-1", granularity=timedelta(minutes=15), report_back_duration=HOUR,
        report_interval_start=T0, report_interval_duration=timedelta(days=1),
        specifier_payloads=[
            m.SpecifierPayload(r_id="rid-power", reading_type="Direct Read", measurement=POWER_REAL_M),
            m.SpecifierPayload(r_id="rid-status", reading_type="x-notApplicable"),
        ],
    )),
    m.ReportRequest(report_request_id="rr-2", report_specifier=m.ReportSpecifier(
        report_specifier_id="spec-2", granularity=timedelta(0),
        specifier_payloads=[m.SpecifierPayload(r_id="r", reading_type="Net")],
    )),
]


def report_payload(r_id: str, value: str, extra: str = "") -> str:
    return (f"<oadr:oadrReportPayload><ei:rID>{r_id}</ei:rID>{extra}<ei:payloadFloat><ei:value>{value}</ei:value>"
            "</ei:payloadFloat></oadr:oadrReportPayload>")


STATUS_PAYLOAD = (
    "<oadr:oadrReportPayload><ei:rID>rid-status</ei:rID><oadr:oadrPayloadResourceStatus>"
    "<oadr:oadrOnline>true</oadr:oadrOnline><oadr:oadrManualOverride>false</oadr:oadrManualOverride>"
    "<oadr:oadrLoadControlState>"
    "<oadr:oadrCapacity><oadr:oadrMin>0</oadr:oadrMin><oadr:oadrMax>1</oadr:oadrMax>"
    "<oadr:oadrCurrent>0.5</oadr:oadrCurrent><oadr:oadrNormal>1</oadr:oadrNormal></oadr:oadrCapacity>"
    "<oadr:oadrLevelOffset><oadr:oadrCurrent>1</oadr:oadrCurrent><oadr:oadrNormal>0</oadr:oadrNormal>"
    "</oadr:oadrLevelOffset></oadr:oadrLoadControlState>"
    "</oadr:oadrPayloadResourceStatus><oadr:oadrDataQuality>Quality Good - Non Specific</oadr:oadrDataQuality>"
    "</oadr:oadrReportPayload>"
)
STATUS_PAYLOAD_2 = (
    "<oadr:oadrReportPayload><ei:rID>rid-status</ei:rID><oadr:oadrPayloadResourceStatus>"
    "<oadr:oadrOnline>0</oadr:oadrOnline><oadr:oadrManualOverride>1</oadr:oadrManualOverride>"
    "</oadr:oadrPayloadResourceStatus></oadr:oadrReportPayload>"
)


def report_interval(payloads: str, duration: str | None = "PT5M", start: str | None = None,
                    uid: str | None = None) -> str:
    s = dtstart(start) if start else ""
    d = dur(duration) if duration else ""
    u = f"<xcal:uid><xcal:text>{uid}</xcal:text></xcal:uid>" if uid is not None else ""
    return f"<ei:interval>{s}{d}{u}{payloads}</ei:interval>"


UPDATE_REPORTS = (
    "<oadr:oadrReport>" + dtstart("2026-11-26T12:00:00Z") + dur("PT15M") + "<strm:intervals>"
    + report_interval(report_payload("rid-power", "1000.5", "<ei:confidence>95</ei:confidence>"
                                     "<ei:accuracy>0.5</ei:accuracy>") + report_payload("rid-energy", "83"), uid="0")
    + report_interval(report_payload("rid-power", "1012"), uid="1")
    + report_interval(report_payload("rid-power", "1025"), start="2026-11-26T12:20:00Z", duration=None)
    + "</strm:intervals><ei:eiReportID>report-1</ei:eiReportID><ei:reportRequestID>rr-1</ei:reportRequestID>"
    "<ei:reportSpecifierID>spec-telemetry</ei:reportSpecifierID><ei:reportName>TELEMETRY_USAGE</ei:reportName>"
    "<ei:createdDateTime>2026-11-26T13:00:00Z</ei:createdDateTime></oadr:oadrReport>"
    "<oadr:oadrReport><strm:intervals>"
    + report_interval(STATUS_PAYLOAD, duration=None, start="2026-11-26T12:00:00Z")
    + report_interval(STATUS_PAYLOAD_2, start="2026-11-26T12:05:00Z")
    + "</strm:intervals><ei:reportRequestID>rr-2</ei:reportRequestID>"
    "<ei:reportSpecifierID>spec-status</ei:reportSpecifierID><ei:reportName>TELEMETRY_STATUS</ei:reportName>"
    "<ei:createdDateTime>2026-11-26T13:00:00Z</ei:createdDateTime></oadr:oadrReport>"
)
FIVE = timedelta(minutes=5)
UPDATE_REPORTS_M = [
    m.Report(
        report_specifier_id="spec-telemetry", report_name="TELEMETRY_USAGE", created_date_time=T0 + HOUR,
        report_request_id="rr-1", report_id="report-1", dtstart=T0, duration=timedelta(minutes=15),
        intervals=[
            m.ReportInterval(dtstart=T0, duration=FIVE, uid="0", payloads=[
                m.ReportPayload(r_id="rid-power", value=1000.5, confidence=95, accuracy=0.5),
                m.ReportPayload(r_id="rid-energy", value=83.0),
            ]),
            m.ReportInterval(dtstart=T0 + FIVE, duration=FIVE, uid="1",
                             payloads=[m.ReportPayload(r_id="rid-power", value=1012.0)]),
            m.ReportInterval(dtstart=T0 + 4 * FIVE, payloads=[m.ReportPayload(r_id="rid-power", value=1025.0)]),
        ],
    ),
    m.Report(
        report_specifier_id="spec-status", report_name="TELEMETRY_STATUS", created_date_time=T0 + HOUR,
        report_request_id="rr-2",
        intervals=[
            m.ReportInterval(dtstart=T0, payloads=[m.ReportPayload(
                r_id="rid-status", data_quality="Quality Good - Non Specific",
                value=m.ResourceStatus(online=True, manual_override=False, load_control_state={
                    "oadrCapacity": {"oadrMin": 0.0, "oadrMax": 1.0, "oadrCurrent": 0.5, "oadrNormal": 1.0},
                    "oadrLevelOffset": {"oadrCurrent": 1.0, "oadrNormal": 0.0},
                }))]),
            m.ReportInterval(dtstart=T0 + FIVE, duration=FIVE, payloads=[m.ReportPayload(
                r_id="rid-status", value=m.ResourceStatus(online=False, manual_override=True))]),
        ],
    ),
]

CANCEL_REPORT = (
    "<pyld:requestID>req-cr</pyld:requestID><ei:reportRequestID>rr-1</ei:reportRequestID>"
    "<ei:reportRequestID>0042</ei:reportRequestID><pyld:reportToFollow>true</pyld:reportToFollow>"
    "<ei:venID>ven-1</ei:venID>"
)
CANCEL_REPORT_M = m.CancelReport(request_id="req-cr", report_request_ids=["rr-1", "0042"], report_to_follow=True,
                                 ven_id="ven-1")

#: (message body XML, expected model object): every message type, rich and minimal forms.
MESSAGES: list[tuple[str, str, Any]] = [
    ("oadrQueryRegistration", "<oadr:oadrQueryRegistration><pyld:requestID>q-1</pyld:requestID>"
     "</oadr:oadrQueryRegistration>", m.QueryRegistration(request_id="q-1")),
    ("oadrCreatePartyRegistration",
     "<oadr:oadrCreatePartyRegistration><pyld:requestID>r-1</pyld:requestID>"
     "<ei:registrationID>REG-01</ei:registrationID><ei:venID>000123</ei:venID>"
     "<oadr:oadrProfileName>2.0b</oadr:oadrProfileName><oadr:oadrTransportName>simpleHttp</oadr:oadrTransportName>"
     "<oadr:oadrTransportAddress>https://ven.example.com/</oadr:oadrTransportAddress>"
     "<oadr:oadrReportOnly>true</oadr:oadrReportOnly><oadr:oadrXmlSignature>1</oadr:oadrXmlSignature>"
     "<oadr:oadrVenName>VEN &amp; Co</oadr:oadrVenName><oadr:oadrHttpPullModel>false</oadr:oadrHttpPullModel>"
     "</oadr:oadrCreatePartyRegistration>",
     m.CreatePartyRegistration(request_id="r-1", registration_id="REG-01", ven_id="000123", profile_name="2.0b",
                               transport_name="simpleHttp", transport_address="https://ven.example.com/",
                               report_only=True, xml_signature=True, ven_name="VEN & Co", http_pull_model=False)),
    ("oadrCreatePartyRegistration",
     "<oadr:oadrCreatePartyRegistration><pyld:requestID>r-1</pyld:requestID>"
     "<oadr:oadrProfileName>2.0b</oadr:oadrProfileName><oadr:oadrTransportName>simpleHttp</oadr:oadrTransportName>"
     "<oadr:oadrReportOnly>false</oadr:oadrReportOnly><oadr:oadrXmlSignature>false</oadr:oadrXmlSignature>"
     "</oadr:oadrCreatePartyRegistration>",
     m.CreatePartyRegistration(request_id="r-1", report_only=False, xml_signature=False, http_pull_model=True)),
    ("oadrCreatedPartyRegistration",
     "<oadr:oadrCreatedPartyRegistration>" + resp("200", "r-1") + "<ei:registrationID>REG-01</ei:registrationID>"
     "<ei:venID>000123</ei:venID><ei:vtnID>VTN-a</ei:vtnID><oadr:oadrProfiles>"
     "<oadr:oadrProfile><oadr:oadrProfileName>2.0a</oadr:oadrProfileName><oadr:oadrTransports><oadr:oadrTransport>"
     "<oadr:oadrTransportName>simpleHttp</oadr:oadrTransportName></oadr:oadrTransport></oadr:oadrTransports>"
     "</oadr:oadrProfile><oadr:oadrProfile><oadr:oadrProfileName>2.0b</oadr:oadrProfileName><oadr:oadrTransports>"
     "<oadr:oadrTransport><oadr:oadrTransportName>simpleHttp</oadr:oadrTransportName></oadr:oadrTransport>"
     "<oadr:oadrTransport><oadr:oadrTransportName>xmpp</oadr:oadrTransportName></oadr:oadrTransport>"
     "</oadr:oadrTransports></oadr:oadrProfile></oadr:oadrProfiles>"
     + dur("PT10S", "oadr:oadrRequestedOadrPollFreq") + "</oadr:oadrCreatedPartyRegistration>",
     m.CreatedPartyRegistration(response=response(200, "r-1"), registration_id="REG-01", ven_id="000123",
                                vtn_id="VTN-a", profiles=[m.Profile(profile_name="2.0a", transports=["simpleHttp"]),
                                                          m.Profile(profile_name="2.0b",
                                                                    transports=["simpleHttp", "xmpp"])],
                                requested_oadr_poll_freq=timedelta(seconds=10))),
    ("oadrCreatedPartyRegistration",
     "<oadr:oadrCreatedPartyRegistration>" + resp("452", "", None) + "<ei:vtnID>VTN-a</ei:vtnID>"
     "<oadr:oadrProfiles/></oadr:oadrCreatedPartyRegistration>",
     m.CreatedPartyRegistration(response=response(452, None, None), vtn_id="VTN-a")),
    ("oadrCancelPartyRegistration",
     "<oadr:oadrCancelPartyRegistration><pyld:requestID>c-1</pyld:requestID><ei:registrationID>REG-01"
     "</ei:registrationID><ei:venID>000123</ei:venID></oadr:oadrCancelPartyRegistration>",
     m.CancelPartyRegistration(request_id="c-1", registration_id="REG-01", ven_id="000123")),
    ("oadrCanceledPartyRegistration",
     "<oadr:oadrCanceledPartyRegistration>" + resp("200", "c-1") + "<ei:registrationID>REG-01</ei:registrationID>"
     "<ei:venID>000123</ei:venID></oadr:oadrCanceledPartyRegistration>",
     m.CanceledPartyRegistration(response=response(200, "c-1"), registration_id="REG-01", ven_id="000123")),
    ("oadrCanceledPartyRegistration",
     "<oadr:oadrCanceledPartyRegistration>" + resp("200", "c-1") + "</oadr:oadrCanceledPartyRegistration>",
     m.CanceledPartyRegistration(response=response(200, "c-1"))),
    ("oadrRequestReregistration",
     "<oadr:oadrRequestReregistration><ei:venID>000123</ei:venID></oadr:oadrRequestReregistration>",
     m.RequestReregistration(ven_id="000123")),
    ("oadrRequestEvent",
     "<oadr:oadrRequestEvent><pyld:eiRequestEvent><pyld:requestID>re-1</pyld:requestID><ei:venID>000123</ei:venID>"
     "<pyld:replyLimit>5</pyld:replyLimit></pyld:eiRequestEvent></oadr:oadrRequestEvent>",
     m.RequestEvent(request_id="re-1", ven_id="000123", reply_limit=5)),
    ("oadrRequestEvent",
     "<oadr:oadrRequestEvent><pyld:eiRequestEvent><pyld:requestID>re-1</pyld:requestID><ei:venID>000123</ei:venID>"
     "</pyld:eiRequestEvent></oadr:oadrRequestEvent>",
     m.RequestEvent(request_id="re-1", ven_id="000123")),
    ("oadrDistributeEvent", distribute(""), m.DistributeEvent(request_id="req-de", vtn_id="VTN-1")),
    ("oadrCreatedEvent",
     "<oadr:oadrCreatedEvent><pyld:eiCreatedEvent>" + resp("200", "req-de") + "<ei:eventResponses>"
     "<ei:eventResponse><ei:responseCode>200</ei:responseCode><ei:responseDescription>OK</ei:responseDescription>"
     "<pyld:requestID>req-de</pyld:requestID><ei:qualifiedEventID><ei:eventID>ev-1</ei:eventID>"
     "<ei:modificationNumber>7</ei:modificationNumber></ei:qualifiedEventID><ei:optType>optIn</ei:optType>"
     "</ei:eventResponse><ei:eventResponse><ei:responseCode>450</ei:responseCode>"
     "<pyld:requestID>req-de</pyld:requestID><ei:qualifiedEventID><ei:eventID>ev-2</ei:eventID>"
     "<ei:modificationNumber>0</ei:modificationNumber></ei:qualifiedEventID><ei:optType>optOut</ei:optType>"
     "</ei:eventResponse></ei:eventResponses><ei:venID>000123</ei:venID></pyld:eiCreatedEvent>"
     "</oadr:oadrCreatedEvent>",
     m.CreatedEvent(response=response(200, "req-de"), ven_id="000123", event_responses=[
         m.EventResponse(response_code=200, response_description="OK", request_id="req-de", event_id="ev-1",
                         modification_number=7, opt_type="optIn"),
         m.EventResponse(response_code=450, request_id="req-de", event_id="ev-2", modification_number=0,
                         opt_type="optOut"),
     ])),
    ("oadrCreatedEvent",
     "<oadr:oadrCreatedEvent><pyld:eiCreatedEvent>" + resp("200", "req-de")
     + "<ei:venID>000123</ei:venID></pyld:eiCreatedEvent></oadr:oadrCreatedEvent>",
     m.CreatedEvent(response=response(200, "req-de"), ven_id="000123")),
    ("oadrRegisterReport",
     "<oadr:oadrRegisterReport><pyld:requestID>rr</pyld:requestID><oadr:oadrReport>"
     + dtstart("2026-11-26T12:00:00Z") + dur("P1D") + "<ei:eiReportID>meta-1</ei:eiReportID>" + REPORT_DESCRIPTION
     + "<ei:reportRequestID>0</ei:reportRequestID><ei:reportSpecifierID>spec-1</ei:reportSpecifierID>"
     "<ei:reportName>METADATA_TELEMETRY_USAGE</ei:reportName><ei:createdDateTime>2026-11-26T11:00:00Z"
     "</ei:createdDateTime></oadr:oadrReport><ei:venID>000123</ei:venID><ei:reportRequestID>0</ei:reportRequestID>"
     "</oadr:oadrRegisterReport>",
     m.RegisterReport(request_id="rr", ven_id="000123", report_request_id="0", reports=[m.Report(
         report_specifier_id="spec-1", report_name="METADATA_TELEMETRY_USAGE", created_date_time=CREATED,
         report_request_id="0", report_id="meta-1", dtstart=T0, duration=timedelta(days=1),
         report_descriptions=REPORT_DESCRIPTIONS)])),
    ("oadrRegisterReport",
     "<oadr:oadrRegisterReport><pyld:requestID>rr</pyld:requestID></oadr:oadrRegisterReport>",
     m.RegisterReport(request_id="rr")),
    ("oadrRegisteredReport",
     "<oadr:oadrRegisteredReport>" + resp("200", "rr") + REPORT_REQUEST + "<ei:venID>000123</ei:venID>"
     "</oadr:oadrRegisteredReport>",
     m.RegisteredReport(response=response(200, "rr"), report_requests=REPORT_REQUESTS, ven_id="000123")),
    ("oadrRegisteredReport",
     "<oadr:oadrRegisteredReport>" + resp("200", "rr") + "</oadr:oadrRegisteredReport>",
     m.RegisteredReport(response=response(200, "rr"))),
    ("oadrCreateReport",
     "<oadr:oadrCreateReport><pyld:requestID>cr</pyld:requestID>" + REPORT_REQUEST
     + "<ei:venID>000123</ei:venID></oadr:oadrCreateReport>",
     m.CreateReport(request_id="cr", report_requests=REPORT_REQUESTS, ven_id="000123")),
    ("oadrCreatedReport",
     "<oadr:oadrCreatedReport>" + resp("200", "cr") + "<oadr:oadrPendingReports><ei:reportRequestID>rr-1"
     "</ei:reportRequestID><ei:reportRequestID>RR-2</ei:reportRequestID></oadr:oadrPendingReports>"
     "<ei:venID>000123</ei:venID></oadr:oadrCreatedReport>",
     m.CreatedReport(response=response(200, "cr"), pending_reports=["rr-1", "RR-2"], ven_id="000123")),
    ("oadrCreatedReport",
     "<oadr:oadrCreatedReport>" + resp("200", "cr") + "<oadr:oadrPendingReports/></oadr:oadrCreatedReport>",
     m.CreatedReport(response=response(200, "cr"))),
    ("oadrUpdateReport",
     "<oadr:oadrUpdateReport><pyld:requestID>ur</pyld:requestID>" + UPDATE_REPORTS
     + "<ei:venID>000123</ei:venID></oadr:oadrUpdateReport>",
     m.UpdateReport(request_id="ur", reports=UPDATE_REPORTS_M, ven_id="000123")),
    ("oadrUpdatedReport",
     "<oadr:oadrUpdatedReport>" + resp("200", "ur") + "<oadr:oadrCancelReport>" + CANCEL_REPORT
     + "</oadr:oadrCancelReport><ei:venID>000123</ei:venID></oadr:oadrUpdatedReport>",
     m.UpdatedReport(response=response(200, "ur"), cancel_report=CANCEL_REPORT_M, ven_id="000123")),
    ("oadrUpdatedReport",
     "<oadr:oadrUpdatedReport>" + resp("200", "ur") + "</oadr:oadrUpdatedReport>",
     m.UpdatedReport(response=response(200, "ur"))),
    ("oadrCancelReport", "<oadr:oadrCancelReport>" + CANCEL_REPORT + "</oadr:oadrCancelReport>", CANCEL_REPORT_M),
    ("oadrCanceledReport",
     "<oadr:oadrCanceledReport>" + resp("200", "req-cr") + "<oadr:oadrPendingReports><ei:reportRequestID>rr-3"
     "</ei:reportRequestID></oadr:oadrPendingReports></oadr:oadrCanceledReport>",
     m.CanceledReport(response=response(200, "req-cr"), pending_reports=["rr-3"])),
    ("oadrCreateOpt",
     "<oadr:oadrCreateOpt><ei:optID>opt-1</ei:optID><ei:optType>optOut</ei:optType>"
     "<ei:optReason>x-schedule</ei:optReason><emix:marketContext>http://mc.example.com</emix:marketContext>"
     "<ei:venID>000123</ei:venID><xcal:vavailability><xcal:components>"
     "<xcal:available><xcal:properties>" + dtstart("2026-11-26T12:00:00Z") + dur("PT1H") + "</xcal:properties>"
     "</xcal:available><xcal:available><xcal:properties>" + dtstart("2026-11-27T12:00:00Z") + dur("PT2H")
     + "</xcal:properties></xcal:available></xcal:components></xcal:vavailability>"
     "<ei:createdDateTime>2026-11-26T11:00:00Z</ei:createdDateTime><pyld:requestID>o-1</pyld:requestID>"
     "<ei:qualifiedEventID><ei:eventID>ev-1</ei:eventID><ei:modificationNumber>7</ei:modificationNumber>"
     "</ei:qualifiedEventID><ei:eiTarget><ei:resourceID>res-1</ei:resourceID><ei:venID>000123</ei:venID>"
     "</ei:eiTarget><oadr:oadrDeviceClass><power:endDeviceAsset><power:mrid>Energy_Management_System</power:mrid>"
     "</power:endDeviceAsset></oadr:oadrDeviceClass></oadr:oadrCreateOpt>",
     m.CreateOpt(opt_id="opt-1", opt_type="optOut", opt_reason="x-schedule", market_context="http://mc.example.com",
                 ven_id="000123", vavailability=[m.AvailableWindow(dtstart=T0, duration=HOUR),
                                                 m.AvailableWindow(dtstart=T0 + 24 * HOUR, duration=2 * HOUR)],
                 created_date_time=CREATED, request_id="o-1", event_id="ev-1", modification_number=7,
                 targets=[{"resource_id": "res-1"}, {"ven_id": "000123"}],
                 signal_target_mrid="Energy_Management_System")),
    ("oadrCreateOpt",
     "<oadr:oadrCreateOpt><ei:optID>opt-1</ei:optID><ei:optType>optIn</ei:optType>"
     "<ei:optReason>participating</ei:optReason><ei:venID>000123</ei:venID>"
     "<ei:createdDateTime>2026-11-26T11:00:00Z</ei:createdDateTime><pyld:requestID>o-1</pyld:requestID>"
     "<ei:eiTarget/></oadr:oadrCreateOpt>",
     m.CreateOpt(opt_id="opt-1", opt_type="optIn", opt_reason="participating", ven_id="000123",
                 created_date_time=CREATED, request_id="o-1")),
    ("oadrCreatedOpt",
     "<oadr:oadrCreatedOpt>" + resp("200", "o-1") + "<ei:optID>opt-1</ei:optID></oadr:oadrCreatedOpt>",
     m.CreatedOpt(response=response(200, "o-1"), opt_id="opt-1")),
    ("oadrCancelOpt",
     "<oadr:oadrCancelOpt><pyld:requestID>co-1</pyld:requestID><ei:optID>opt-1</ei:optID>"
     "<ei:venID>000123</ei:venID></oadr:oadrCancelOpt>",
     m.CancelOpt(request_id="co-1", opt_id="opt-1", ven_id="000123")),
    ("oadrCanceledOpt",
     "<oadr:oadrCanceledOpt>" + resp("200", "co-1") + "<ei:optID>opt-1</ei:optID></oadr:oadrCanceledOpt>",
     m.CanceledOpt(response=response(200, "co-1"), opt_id="opt-1")),
    ("oadrPoll", "<oadr:oadrPoll><ei:venID>000123</ei:venID></oadr:oadrPoll>", m.Poll(ven_id="000123")),
    ("oadrResponse", "<oadr:oadrResponse>" + resp("200", "x") + "<ei:venID>000123</ei:venID></oadr:oadrResponse>",
     m.ResponseMessage(response=response(200, "x"), ven_id="000123")),
    ("oadrResponse", "<oadr:oadrResponse><ei:eiResponse><ei:responseCode>200</ei:responseCode></ei:eiResponse>"
     "</oadr:oadrResponse>", m.ResponseMessage(response=response(200, None, None))),
]


def test_every_message_type_has_samples() -> None:
    assert {name for name, _, _ in MESSAGES} == set(m.MESSAGE_TYPES)


@pytest.mark.parametrize(("name", "body", "expected"), MESSAGES,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(MESSAGES)])
def test_message(extract_impl: Any, name: str, body: str, expected: Any) -> None:
    got = run(extract_impl, body)
    assert type(got) is m.MESSAGE_TYPES[name]
    assert got == expected


@pytest.mark.parametrize(("name", "body", "expected"), MESSAGES[:6], ids=[n for n, _, _ in MESSAGES[:6]])
def test_parse_message_uses_selected_twin(name: str, body: str, expected: Any) -> None:
    assert parse_message(payload(body)) == expected
    assert _fast.extract(parse_document(payload(body))) == expected


def test_report_interval_dtstart_needs_a_start(extract_impl: Any) -> None:
    body = ("<oadr:oadrUpdateReport><pyld:requestID>ur</pyld:requestID><oadr:oadrReport><strm:intervals>"
            + report_interval(report_payload("r", "1"), start="2026-11-26T12:00:00Z", duration=None)
            + report_interval(report_payload("r", "2"))
            + "</strm:intervals><ei:reportRequestID>rr</ei:reportRequestID><ei:reportSpecifierID>s"
            "</ei:reportSpecifierID><ei:createdDateTime>2026-11-26T13:00:00Z</ei:createdDateTime></oadr:oadrReport>"
            "</oadr:oadrUpdateReport>")
    with pytest.raises(MessageError, match=r"missing required element "
                       r"oadrUpdateReport/oadrReport\[1\]/intervals/interval\[2\]/dtstart"):
        run(extract_impl, body)


def test_report_without_name(extract_impl: Any) -> None:
    body = ("<oadr:oadrUpdateReport><pyld:requestID>ur</pyld:requestID><oadr:oadrReport>"
            "<ei:reportRequestID>rr</ei:reportRequestID><ei:reportSpecifierID>s</ei:reportSpecifierID>"
            "<ei:createdDateTime>2026-11-26T13:00:00Z</ei:createdDateTime></oadr:oadrReport></oadr:oadrUpdateReport>")
    msg = run(extract_impl, body)
    assert msg.reports[0].report_name == "" and msg.reports[0].intervals == []


# ------------------------------------------------------------------ input forms


def test_input_types() -> None:
    data = payload("<oadr:oadrPoll><ei:venID>v</ei:venID></oadr:oadrPoll>")
    expected = m.Poll(ven_id="v")
    for form in (data, bytearray(data), memoryview(data), data.decode(), b"\xef\xbb\xbf" + data,
                 b"\n\n  " + data[data.index(b"<oadr:oadrPayload"):]):
        assert parse_message(form) == expected


@pytest.mark.parametrize("decl", ['encoding="utf-8"', "encoding='UTF-8'", 'encoding = "US-ASCII"',
                                  'encoding="ascii"', 'standalone="yes"', ""])
def test_allowed_declarations(decl: str) -> None:
    doc = (f'<?xml version="1.0" {decl}?><oadr:oadrPayload xmlns:oadr="{NS["oadr"]}" xmlns:ei="{NS["ei"]}">'
           "<oadr:oadrSignedObject><oadr:oadrPoll><ei:venID>v</ei:venID></oadr:oadrPoll></oadr:oadrSignedObject>"
           "</oadr:oadrPayload>").encode()
    assert parse_message(doc) == m.Poll(ven_id="v")


def test_unicode_text_kept(extract_impl: Any) -> None:
    msg = run(extract_impl, "<oadr:oadrPoll><ei:venID>Zürich-☃-&#x1F600;</ei:venID></oadr:oadrPoll>")
    assert msg == m.Poll(ven_id="Zürich-☃-\U0001f600")


# ------------------------------------------------------------------ realism: OpenLEADR's own messages


def _openleadr_messages() -> list[tuple[str, bytes]]:
    import logging

    from openleadr import objects
    from openleadr.messaging import create_message

    logging.getLogger("openleadr").setLevel(logging.ERROR)
    start = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    ev = objects.Event(
        event_descriptor=objects.EventDescriptor(event_id="000123", modification_number=2, market_context="http://mc",
                                                 event_status="far", created_date_time=start, test_event=False,
                                                 priority=1),
        active_period=objects.ActivePeriod(dtstart=start, duration=timedelta(hours=2)),
        event_signals=[objects.EventSignal(
            intervals=[objects.Interval(dtstart=start + i * HOUR, duration=HOUR, signal_payload=float(i), uid=i)
                       for i in range(2)],
            signal_name="ELECTRICITY_PRICE", signal_type="price", signal_id="Sig-01")],
        targets=[objects.Target(ven_id="VEN-01"), objects.Target(resource_id="res-1")],
        response_required="always")
    out = [
        ("oadrDistributeEvent", create_message("oadrDistributeEvent", request_id="r1", vtn_id="VtN", events=[ev])),
        ("oadrPoll", create_message("oadrPoll", ven_id="000123")),
        ("oadrResponse", create_message("oadrResponse", response={"response_code": 200,
                                                                  "response_description": "OK",
                                                                  "request_id": "x"}, ven_id="v")),
        ("oadrCreatedPartyRegistration", create_message(
            "oadrCreatedPartyRegistration",
            response={"response_code": 200, "response_description": "OK", "request_id": "x"},
            ven_id="v", registration_id="reg", vtn_id="vtn",
            profiles=[{"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}]}],
            requested_oadr_poll_freq=timedelta(seconds=10))),
        ("oadrQueryRegistration", create_message("oadrQueryRegistration", request_id="q")),
        ("oadrRequestEvent", create_message("oadrRequestEvent", request_id="r", ven_id="v")),
    ]
    return [(name, xml.encode()) for name, xml in out]


def test_openleadr_messages(extract_impl: Any) -> None:
    msgs = dict(_openleadr_messages())
    de = extract_impl(parse_document(msgs["oadrDistributeEvent"]))
    assert de.vtn_id == "VtN"
    ev = de.events[0]
    assert ev["event_id"] == "000123" and ev["modification_number"] == 2 and ev["priority"] == 1
    assert ev["targets"] == [{"resource_id": "res-1"}, {"ven_id": "VEN-01"}]
    sig = ev["event_signals"][0]
    assert sig["signal_id"] == "Sig-01"
    assert [(i["dtstart"], i["uid"], i["signal_payload"]) for i in sig["intervals"]] == [
        (T0, "0", 0.0), (T0 + HOUR, "1", 1.0)]
    assert extract_impl(parse_document(msgs["oadrPoll"])) == m.Poll(ven_id="000123")
    assert extract_impl(parse_document(msgs["oadrResponse"])) == m.ResponseMessage(
        response=response(200, "x"), ven_id="v")
    cpr = extract_impl(parse_document(msgs["oadrCreatedPartyRegistration"]))
    assert cpr.vtn_id == "vtn" and cpr.requested_oadr_poll_freq == timedelta(seconds=10)
    assert cpr.profiles == [m.Profile(profile_name="2.0b", transports=["simpleHttp"])]
    assert extract_impl(parse_document(msgs["oadrQueryRegistration"])) == m.QueryRegistration(request_id="q")
    assert extract_impl(parse_document(msgs["oadrRequestEvent"])) == m.RequestEvent(request_id="r", ven_id="v")
