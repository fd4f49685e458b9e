"""Sample OpenADR 2.0b messages for tests and benchmarks.

Every factory returns fresh model objects (safe to mutate) built from fixed,
timezone-aware UTC datetimes, so the bytes built from them are deterministic.

* :func:`rich_messages`: one instance of every message type with every
  optional field set (events with every descriptor field, every target type,
  measurements of several kinds, resource status payloads, ...).
* :func:`minimal_messages`: one instance of every message type with only the
  required fields.
* :func:`distribute_event`, :func:`created_event`, :func:`update_report`:
  the benchmark shapes of issue 2, sized by their arguments.
* :func:`event`: one event dict in the shape of :data:`fleetven.openadr.model.EVENT_SHAPE`,
  as the parsers return it (flat copies, nested descriptor, computed
  interval ``dtstart``, ``targets_by_type``).

Service areas and service locations are written as a GML polygon in the
schema: their target value is ``{"pos_list": [float, ...]}`` with optional
``"feature_collection_id"`` and ``"polygon_id"`` (the ``gml:id`` attributes).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fleetven.openadr import model as m

__all__ = (
    "T0",
    "MESSAGE_NAMES",
    "rich_messages",
    "minimal_messages",
    "rich_message",
    "minimal_message",
    "event",
    "rich_event",
    "minimal_event",
    "distribute_event",
    "created_event",
    "update_report",
    "register_report",
    "create_report",
    "measurements",
    "all_targets",
    "targets_by_type",
)

UTC = timezone.utc

#: The fixed instant every sample starts from.
T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 26, 11, 0, 0, tzinfo=UTC)

HOUR = timedelta(hours=1)
MARKET = "http://marketcontext.example.com/dr-program"
VEN_ID = "ven-000123"
VTN_ID = "VTN-Alpha"
REGISTRATION_ID = "reg-0042"
SPECIAL = "Zürich & <Co> \"quoted\" 'single' \t tab"

#: Every message element name, in model.MESSAGE_TYPES order.
MESSAGE_NAMES: tuple[str, ...] = tuple(m.MESSAGE_TYPES)


# ------------------------------------------------------------ building blocks


def measurements() -> dict[str, m.Measurement]:
    """One valid :class:`~fleetven.openadr.model.Measurement` per kind, by a short key."""
    return {
        "power_real": m.Measurement(
            name="powerReal", description="RealPower", unit="W", scale="k",
            power_attributes={"hertz": 50.0, "voltage": 230.0, "ac": True},
        ),
        "power_apparent": m.Measurement(
            name="powerApparent", description="ApparentPower", unit="VA", scale="none",
            power_attributes={"hertz": 60, "voltage": 120.5, "ac": False},
        ),
        "energy_real": m.Measurement(name="energyReal", description="RealEnergy", unit="Wh", scale="k"),
        "energy_reactive": m.Measurement(name="energyReactive", description="ReactiveEnergy", unit="VARh"),
        "voltage": m.Measurement(name="voltage", description="Voltage", unit="V", scale="none"),
        "current": m.Measurement(name="current", description="Current", unit="A", scale="m"),
        "frequency": m.Measurement(name="frequency", description="Frequency", unit="Hz"),
        "temperature": m.Measurement(name="temperature", description="temperature", unit="celsius"),
        "pulse_count": m.Measurement(name="pulseCount", description="pulse count", unit="count", pulse_factor=0.5),
        "currency": m.Measurement(name="currencyPerKWh", description="currencyPerKWh", unit="EUR"),
        "therm": m.Measurement(name="Therm", description="Therm", unit="thm"),
        "custom": m.Measurement(name="customUnit", description="Zürich & <Co> units", unit="x-things", scale="none"),
    }


def all_targets() -> list[m.Target]:
    """One target of every type, deliberately NOT in schema order (the builder sorts them)."""
    return [
        {"ven_id": VEN_ID},
        {"resource_id": "resource-1"},
        {"group_id": "group-1"},
        {"group_name": "Group & <One>"},
        {"party_id": "party-1"},
        {"end_device_asset": {"mrid": "Energy_Management_System"}},
        {"meter_asset": {"mrid": "meter-1"}},
        {"p_node": {"node": "pnode-1"}},
        {"aggregated_p_node": {"node": "apnode-1"}},
        {"service_delivery_point": {"node": "sdp-1"}},
        {"service_location": {"pos_list": [52.0, 4.0, 52.1, 4.1, 52.0, 4.0], "feature_collection_id": "fcLoc",
                              "polygon_id": "polyLoc"}},
        {"service_area": {"pos_list": [1.5, 2.5, 3.5, 4.5, 1.5, 2.5]}},
        {"transport_interface": {"point_of_receipt": "receipt-1", "point_of_delivery": "delivery-1"}},
        {"ven_id": "ven-second"},
        {"resource_id": "resource-2"},
    ]


def targets_by_type(targets: list[m.Target]) -> dict[str, list[Any]]:
    """The ``targets_by_type`` view of a target list (document order kept within a type)."""
    out: dict[str, list[Any]] = {}
    for target in targets:
        for key, value in target.items():
            out.setdefault(key, []).append(value)
    return out


def _signal(
    *, signal_name: str, signal_type: str, signal_id: str, start: datetime, values: list[float],
    measurement: m.Measurement | None = None, current_value: float | None = None,
    targets: list[m.Target] | None = None, interval_dtstart: bool = True,
) -> dict[str, Any]:
    intervals = []
    for i, value in enumerate(values):
        interval: dict[str, Any] = {"duration": HOUR, "uid": str(i), "signal_payload": value}
        if interval_dtstart:
            interval = {"dtstart": start + i * HOUR, **interval}
        intervals.append(interval)
    signal: dict[str, Any] = {
        "signal_name": signal_name,
        "signal_type": signal_type,
        "signal_id": signal_id,
        "intervals": intervals,
    }
    if current_value is not None:
        signal["current_value"] = current_value
    if measurement is not None:
        signal["measurement"] = measurement
    if targets is not None:
        signal["targets"] = targets
        signal["targets_by_type"] = targets_by_type(targets)
    return signal


def event(
    event_id: str = "event-1",
    *,
    n_signals: int = 3,
    n_intervals: int = 24,
    start: datetime = T0,
    modification_number: int = 0,
    event_status: str = "far",
    response_required: str = "always",
    targets: list[m.Target] | None = None,
    interval_dtstart: bool = True,
) -> m.Event:
    """An event in the shape the parsers return, with ``n_signals`` signals of
    ``n_intervals`` hourly intervals each.

    The first three signals are a day-ahead price (``ELECTRICITY_PRICE``,
    ``price``, with a currency measurement), a load target (``LOAD_DISPATCH``,
    ``setpoint``, with a real power measurement) and a simple level
    (``SIMPLE``, ``level``); further signals are ``x-`` levels.

    :param interval_dtstart: give each interval its ``dtstart`` (as the parsers
        compute it; the builder then writes it), or leave it out.
    """
    if targets is None:
        targets = [{"ven_id": VEN_ID}]
    meas = measurements()
    signals = []
    for s in range(n_signals):
        kind = s % 3 if s < 3 else 3
        if kind == 0:
            values = [round(0.10 + 0.01 * (i % 12), 2) for i in range(n_intervals)]
            signals.append(_signal(signal_name="ELECTRICITY_PRICE", signal_type="price", signal_id=f"{event_id}-price",
                                   start=start, values=values, measurement=meas["currency"],
                                   interval_dtstart=interval_dtstart))
        elif kind == 1:
            values = [float(100 + 10 * (i % 6)) for i in range(n_intervals)]
            signals.append(_signal(signal_name="LOAD_DISPATCH", signal_type="setpoint", signal_id=f"{event_id}-load",
                                   start=start, values=values, measurement=meas["power_real"],
                                   interval_dtstart=interval_dtstart))
        elif kind == 2:
            values = [float(i % 4) for i in range(n_intervals)]
            signals.append(_signal(signal_name="SIMPLE", signal_type="level", signal_id=f"{event_id}-simple",
                                   start=start, values=values, interval_dtstart=interval_dtstart))
        else:
            values = [float(i) for i in range(n_intervals)]
            signals.append(_signal(signal_name=f"x-custom-{s}", signal_type="level", signal_id=f"{event_id}-x{s}",
                                   start=start, values=values, interval_dtstart=interval_dtstart))
    descriptor: dict[str, Any] = {
        "event_id": event_id,
        "modification_number": modification_number,
        "market_context": MARKET,
        "created_date_time": CREATED,
        "event_status": event_status,
        "test_event": False,
    }
    return {
        "event_id": event_id,
        "modification_number": modification_number,
        "event_status": event_status,
        "test_event": False,
        "market_context": MARKET,
        "priority": None,
        "event_descriptor": descriptor,
        "active_period": {"dtstart": start, "duration": n_intervals * HOUR},
        "event_signals": signals,
        "targets": targets,
        "targets_by_type": targets_by_type(targets),
        "response_required": response_required,
    }


def rich_event(event_id: str = "event-rich") -> m.Event:
    """An event with every optional field set: full descriptor, tolerance,
    notification, ramp-up, recovery, signal targets, a current value,
    measurements, and every target type."""
    meas = measurements()
    signals = [
        _signal(signal_name="ELECTRICITY_PRICE", signal_type="price", signal_id="sig-price", start=T0,
                values=[0.1, 0.25, 1e-05, 12345.678], measurement=meas["currency"], current_value=0.1,
                targets=[{"resource_id": "resource-1"}, {"ven_id": VEN_ID}]),
        _signal(signal_name="LOAD_DISPATCH", signal_type="setpoint", signal_id="sig-load", start=T0,
                values=[100.0, -50.5, 0.0, 3.0], measurement=meas["power_real"], current_value=100.0),
        _signal(signal_name="x-Zürich-signal", signal_type="x-loadControlLevelOffset", signal_id="sig-x",
                start=T0, values=[1.0, 2.0, 3.0, 4.0], measurement=meas["pulse_count"]),
        _signal(signal_name="SIMPLE", signal_type="level", signal_id="sig-simple", start=T0,
                values=[1.0, 2.0, 3.0, 0.0], measurement=meas["temperature"]),
    ]
    targets = all_targets()
    descriptor: dict[str, Any] = {
        "event_id": event_id,
        "modification_number": 7,
        "modification_date_time": datetime(2026, 11, 26, 11, 30, 0, 250000, tzinfo=UTC),
        "modification_reason": "price update & <correction>",
        "priority": 1,
        "market_context": MARKET,
        "created_date_time": CREATED,
        "event_status": "active",
        "test_event": True,
        "vtn_comment": SPECIAL,
    }
    return {
        "event_id": event_id,
        "modification_number": 7,
        "event_status": "active",
        "test_event": True,
        "market_context": MARKET,
        "priority": 1,
        "event_descriptor": descriptor,
        "active_period": {
            "dtstart": T0,
            "duration": 4 * HOUR,
            "tolerance": {"tolerate": {"startafter": timedelta(minutes=5)}},
            "notification": timedelta(days=1),
            "ramp_up": timedelta(minutes=15),
            "recovery": timedelta(minutes=30),
        },
        "event_signals": signals,
        "targets": targets,
        "targets_by_type": targets_by_type(targets),
        "response_required": "never",
    }


def minimal_event(event_id: str = "event-min") -> m.Event:
    """An event with only what the schema requires: one signal of one
    interval, no interval ``dtstart``, an empty target."""
    return {
        "event_id": event_id,
        "modification_number": 0,
        "event_status": "far",
        "test_event": False,
        "market_context": MARKET,
        "priority": None,
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": 0,
            "market_context": MARKET,
            "created_date_time": CREATED,
            "event_status": "far",
            "test_event": False,
        },
        "active_period": {"dtstart": T0, "duration": HOUR},
        "event_signals": [
            {
                "signal_name": "SIMPLE",
                "signal_type": "level",
                "signal_id": "sig-0",
                "intervals": [{"duration": HOUR, "uid": "0", "signal_payload": 1.0}],
            }
        ],
        "targets": [],
        "targets_by_type": {},
        "response_required": "always",
    }


def _response(code: int = 200, *, request_id: str = "req-1", description: str | None = None) -> m.Response:
    return m.Response(response_code=code, response_description=description, request_id=request_id)


def _report_descriptions() -> list[m.ReportDescription]:
    meas = measurements()
    return [
        m.ReportDescription(
            r_id="rid-power", report_type="usage", reading_type="Direct Read",
            report_subject=[{"end_device_asset": {"mrid": "Energy_Management_System"}}],
            report_data_source=[{"resource_id": "resource-1"}, {"ven_id": VEN_ID}],
            market_context=MARKET, measurement=meas["power_real"],
            sampling_rate=m.SamplingRate(min_period=timedelta(seconds=10), max_period=timedelta(minutes=5),
                                         on_change=True),
        ),
        m.ReportDescription(
            r_id="rid-energy", report_type="reading", reading_type="Net",
            report_data_source=[{"resource_id": "resource-1"}], measurement=meas["energy_real"],
            sampling_rate=m.SamplingRate(min_period=timedelta(minutes=1), max_period=HOUR),
        ),
        m.ReportDescription(r_id="rid-voltage", report_type="x-custom", reading_type="x-RMS",
                            measurement=meas["voltage"]),
        m.ReportDescription(r_id="rid-status", report_type="x-resourceStatus", reading_type="x-notApplicable"),
        m.ReportDescription(r_id="rid-apparent", report_type="demand", reading_type="Mean",
                            measurement=meas["power_apparent"]),
        m.ReportDescription(r_id="rid-custom", report_type="usage", reading_type="Summed",
                            measurement=meas["custom"]),
        m.ReportDescription(r_id="rid-freq", report_type="reading", reading_type="Direct Read",
                            measurement=meas["frequency"]),
        m.ReportDescription(r_id="rid-current", report_type="reading", reading_type="Direct Read",
                            measurement=meas["current"]),
    ]


def register_report(*, rich: bool = True) -> m.RegisterReport:
    """An ``oadrRegisterReport`` advertising METADATA reports."""
    if not rich:
        return m.RegisterReport(request_id="req-rr")
    return m.RegisterReport(
        request_id="req-rr",
        reports=[
            m.Report(
                report_specifier_id="spec-telemetry", report_name="METADATA_TELEMETRY_USAGE",
                created_date_time=CREATED, report_request_id="0", report_id="report-meta-1",
                dtstart=T0, duration=timedelta(days=1), report_descriptions=_report_descriptions(),
            ),
            m.Report(
                report_specifier_id="spec-status", report_name="METADATA_TELEMETRY_STATUS",
                created_date_time=CREATED,
                report_descriptions=[m.ReportDescription(r_id="rid-status", report_type="x-resourceStatus",
                                                         reading_type="x-notApplicable")],
            ),
        ],
        ven_id=VEN_ID,
        report_request_id="0",
    )


def _report_request(request_id: str = "rr-1", *, rich: bool = True) -> m.ReportRequest:
    meas = measurements()
    if not rich:
        return m.ReportRequest(
            report_request_id=request_id,
            report_specifier=m.ReportSpecifier(
                report_specifier_id="spec-telemetry", granularity=timedelta(0), report_back_duration=timedelta(0),
                specifier_payloads=[m.SpecifierPayload(r_id="rid-power", reading_type="Direct Read")],
            ),
        )
    return m.ReportRequest(
        report_request_id=request_id,
        report_specifier=m.ReportSpecifier(
            report_specifier_id="spec-telemetry",
            granularity=timedelta(minutes=15),
            report_back_duration=HOUR,
            report_interval_start=T0,
            report_interval_duration=timedelta(days=1),
            specifier_payloads=[
                m.SpecifierPayload(r_id="rid-power", reading_type="Direct Read", measurement=meas["power_real"]),
                m.SpecifierPayload(r_id="rid-energy", reading_type="Net", measurement=meas["energy_real"]),
                m.SpecifierPayload(r_id="rid-status", reading_type="x-notApplicable"),
            ],
        ),
    )


def create_report(*, rich: bool = True) -> m.CreateReport:
    """An ``oadrCreateReport`` with one or two requests."""
    if not rich:
        return m.CreateReport(request_id="req-cr", report_requests=[_report_request(rich=False)])
    return m.CreateReport(
        request_id="req-cr",
        report_requests=[_report_request("rr-1"), _report_request("rr-2", rich=False)],
        ven_id=VEN_ID,
    )


def update_report(n_intervals: int = 12, *, rich: bool = False) -> m.UpdateReport:
    """An ``oadrUpdateReport`` carrying one TELEMETRY_USAGE report of
    ``n_intervals`` 5-minute intervals, each with one float payload.

    :param rich: add every optional field (report id, dtstart, duration,
        interval uid, confidence, accuracy, data quality), a second payload per
        interval, and a TELEMETRY_STATUS report with resource status payloads.
    """
    step = timedelta(minutes=5)
    intervals = []
    for i in range(n_intervals):
        if rich:
            payloads = [
                m.ReportPayload(r_id="rid-power", value=1000.0 + i * 12.5, confidence=95, accuracy=0.5,
                                data_quality="Quality Good - Non Specific"),
                m.ReportPayload(r_id="rid-energy", value=i * 83, data_quality="x-custom-quality"),
            ]
            intervals.append(m.ReportInterval(dtstart=T0 + i * step, duration=step, uid=str(i), payloads=payloads))
        else:
            intervals.append(m.ReportInterval(
                dtstart=T0 + i * step, duration=step,
                payloads=[m.ReportPayload(r_id="rid-power", value=1000.0 + i * 12.5)],
            ))
    reports = [
        m.Report(
            report_specifier_id="spec-telemetry", report_name="TELEMETRY_USAGE", created_date_time=T0 + HOUR,
            report_request_id="rr-1", intervals=intervals,
            report_id="report-1" if rich else None,
            dtstart=T0 if rich else None,
            duration=n_intervals * step if rich else None,
        )
    ]
    if rich:
        reports.append(m.Report(
            report_specifier_id="spec-status", report_name="TELEMETRY_STATUS", created_date_time=T0 + HOUR,
            report_request_id="rr-2",
            intervals=[
                m.ReportInterval(dtstart=T0, payloads=[m.ReportPayload(
                    r_id="rid-status",
                    value=m.ResourceStatus(online=True, manual_override=False, load_control_state={
                        "oadrCapacity": {"oadrMin": 0.0, "oadrMax": 1.0, "oadrCurrent": 0.5, "oadrNormal": 1.0},
                        "oadrLevelOffset": {"oadrCurrent": 1.0, "oadrNormal": 0.0},
                        "oadrPercentOffset": {"oadrCurrent": -10.0},
                        "oadrSetPoint": {"oadrMin": 18.0, "oadrCurrent": 21.5},
                    }),
                )]),
                m.ReportInterval(dtstart=T0 + step, duration=step, payloads=[m.ReportPayload(
                    r_id="rid-status", value=m.ResourceStatus(online=False, manual_override=True),
                )]),
            ],
        ))
    return m.UpdateReport(request_id="req-ur", reports=reports, ven_id=VEN_ID if rich else None)


def distribute_event(n_events: int = 1, n_signals: int = 3, n_intervals: int = 24, *,
                     interval_dtstart: bool = True) -> m.DistributeEvent:
    """An ``oadrDistributeEvent`` of ``n_events`` events (see :func:`event`)."""
    return m.DistributeEvent(
        request_id="req-de",
        vtn_id=VTN_ID,
        events=[
            event(f"event-{i + 1}", n_signals=n_signals, n_intervals=n_intervals, start=T0 + i * timedelta(days=1),
                  interval_dtstart=interval_dtstart)
            for i in range(n_events)
        ],
    )


def created_event(n: int = 10) -> m.CreatedEvent:
    """An ``oadrCreatedEvent`` answering ``n`` events with optIn."""
    return m.CreatedEvent(
        response=_response(200, request_id="req-de"),
        ven_id=VEN_ID,
        event_responses=[
            m.EventResponse(response_code=200, request_id="req-de", event_id=f"event-{i + 1}",
                            modification_number=0, opt_type="optIn", response_description="OK")
            for i in range(n)
        ],
    )


# ------------------------------------------------------------ every message


def _rich() -> list[m.Message]:
    return [
        m.QueryRegistration(request_id="req-query"),
        m.CreatePartyRegistration(
            request_id="req-cpr", ven_name=SPECIAL, ven_id=VEN_ID, registration_id=REGISTRATION_ID,
            profile_name="2.0b", transport_name="simpleHttp", transport_address="https://ven.example.com:8443/",
            report_only=True, xml_signature=True, http_pull_model=False,
        ),
        m.CreatedPartyRegistration(
            response=_response(200, request_id="req-cpr", description="OK & <fine>"),
            vtn_id=VTN_ID, registration_id=REGISTRATION_ID, ven_id=VEN_ID,
            profiles=[m.Profile(profile_name="2.0a", transports=["simpleHttp"]),
                      m.Profile(profile_name="2.0b", transports=["simpleHttp", "xmpp"])],
            requested_oadr_poll_freq=timedelta(seconds=10),
        ),
        m.CancelPartyRegistration(request_id="req-cancel", registration_id=REGISTRATION_ID, ven_id=VEN_ID),
        m.CanceledPartyRegistration(response=_response(200, request_id="req-cancel", description="canceled"),
                                    registration_id=REGISTRATION_ID, ven_id=VEN_ID),
        m.RequestReregistration(ven_id=VEN_ID),
        m.RequestEvent(request_id="req-re", ven_id=VEN_ID, reply_limit=5),
        m.DistributeEvent(request_id="req-de", vtn_id=VTN_ID,
                          events=[rich_event(), event("event-2", n_intervals=3), minimal_event()],
                          response=_response(200, request_id="req-de", description="events follow")),
        m.CreatedEvent(
            response=_response(200, request_id="req-de", description="OK"),
            ven_id=VEN_ID,
            event_responses=[
                m.EventResponse(response_code=200, request_id="req-de", event_id="event-rich",
                                modification_number=7, opt_type="optIn", response_description="OK"),
                m.EventResponse(response_code=450, request_id="req-de", event_id="event-2",
                                modification_number=0, opt_type="optOut",
                                response_description="out of sequence & <stale>"),
            ],
        ),
        register_report(rich=True),
        m.RegisteredReport(response=_response(200, request_id="req-rr", description="OK"),
                           report_requests=[_report_request("rr-1"), _report_request("rr-2", rich=False)],
                           ven_id=VEN_ID),
        create_report(rich=True),
        m.CreatedReport(response=_response(200, request_id="req-cr", description="OK"),
                        pending_reports=["rr-1", "rr-2"], ven_id=VEN_ID),
        update_report(4, rich=True),
        m.UpdatedReport(
            response=_response(200, request_id="req-ur", description="OK"),
            cancel_report=m.CancelReport(request_id="req-cancel-r", report_request_ids=["rr-1", "rr-2"],
                                         report_to_follow=True, ven_id=VEN_ID),
            ven_id=VEN_ID,
        ),
        m.CancelReport(request_id="req-cancel-r", report_request_ids=["rr-1", "rr-2"], report_to_follow=True,
                       ven_id=VEN_ID),
        m.CanceledReport(response=_response(200, request_id="req-cancel-r", description="OK"),
                         pending_reports=["rr-3"], ven_id=VEN_ID),
        m.CreateOpt(
            opt_id="opt-1", opt_type="optOut", opt_reason="x-schedule", ven_id=VEN_ID, created_date_time=CREATED,
            request_id="req-opt", market_context=MARKET,
            vavailability=[m.AvailableWindow(dtstart=T0, duration=HOUR),
                           m.AvailableWindow(dtstart=T0 + timedelta(days=1), duration=timedelta(hours=2))],
            event_id="event-rich", modification_number=7,
            targets=[{"resource_id": "resource-1"}, {"ven_id": VEN_ID}, {"end_device_asset": {"mrid": "hvac"}}],
            signal_target_mrid="Energy_Management_System",
        ),
        m.CreatedOpt(response=_response(200, request_id="req-opt", description="OK"), opt_id="opt-1"),
        m.CancelOpt(request_id="req-cancel-opt", opt_id="opt-1", ven_id=VEN_ID),
        m.CanceledOpt(response=_response(200, request_id="req-cancel-opt", description="OK"), opt_id="opt-1"),
        m.Poll(ven_id=VEN_ID),
        m.ResponseMessage(response=_response(200, request_id="req-x", description="OK"), ven_id=VEN_ID),
    ]


def _minimal() -> list[m.Message]:
    return [
        m.QueryRegistration(request_id="q"),
        m.CreatePartyRegistration(request_id="r"),
        m.CreatedPartyRegistration(response=_response(200, request_id="r"), vtn_id=VTN_ID,
                                   profiles=[m.Profile(profile_name="2.0b", transports=["simpleHttp"])]),
        m.CancelPartyRegistration(request_id="r", registration_id=REGISTRATION_ID, ven_id=VEN_ID),
        m.CanceledPartyRegistration(response=_response(200, request_id="r")),
        m.RequestReregistration(ven_id=VEN_ID),
        m.RequestEvent(request_id="r", ven_id=VEN_ID),
        m.DistributeEvent(request_id="r", vtn_id=VTN_ID),
        m.CreatedEvent(response=_response(200, request_id="r"), ven_id=VEN_ID),
        m.RegisterReport(request_id="r"),
        m.RegisteredReport(response=_response(200, request_id="r")),
        create_report(rich=False),
        m.CreatedReport(response=_response(200, request_id="r")),
        m.UpdateReport(request_id="r"),
        m.UpdatedReport(response=_response(200, request_id="r")),
        m.CancelReport(request_id="r", report_request_ids=["rr-1"]),
        m.CanceledReport(response=_response(200, request_id="r")),
        m.CreateOpt(opt_id="opt-1", opt_type="optIn", opt_reason="participating", ven_id=VEN_ID,
                    created_date_time=CREATED, request_id="r"),
        m.CreatedOpt(response=_response(200, request_id="r"), opt_id="opt-1"),
        m.CancelOpt(request_id="r", opt_id="opt-1", ven_id=VEN_ID),
        m.CanceledOpt(response=_response(200, request_id="r"), opt_id="opt-1"),
        m.Poll(ven_id=VEN_ID),
        m.ResponseMessage(response=_response(200, request_id="r")),
    ]


def rich_messages() -> list[m.Message]:
    """One instance of every message type, every optional field set (MESSAGE_TYPES order)."""
    return _ordered(_rich())


def minimal_messages() -> list[m.Message]:
    """One instance of every message type, only required fields (MESSAGE_TYPES order)."""
    return _ordered(_minimal())


def rich_message(name: str) -> m.Message:
    """The rich sample of one message type, by element name (``"oadrPoll"``)."""
    return {msg.message_type: msg for msg in _rich()}[name]


def minimal_message(name: str) -> m.Message:
    """The minimal sample of one message type, by element name (``"oadrPoll"``)."""
    return {msg.message_type: msg for msg in _minimal()}[name]


def _ordered(messages: list[m.Message]) -> list[m.Message]:
    by_name = {msg.message_type: msg for msg in messages}
    missing = set(MESSAGE_NAMES) - set(by_name)
    assert not missing, f"samples miss {sorted(missing)}"
    return [by_name[name] for name in MESSAGE_NAMES]
