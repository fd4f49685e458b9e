"""Typed model of the OpenADR 2.0b simple-HTTP messages.

One class per message, named after the element without its ``oadr`` prefix
(``oadrDistributeEvent`` is :class:`DistributeEvent`). Every class is a
slotted, keyword-only dataclass; :func:`fleetven.messages.parse_message`
returns them and :func:`fleetven.messages.build_message` turns them into
bytes.

Conventions, the same in every class:

* IDs are ``str`` exactly as sent: case and leading zeros are kept.
* Datetimes are timezone-aware :class:`~datetime.datetime` in UTC; a
  message may carry ``Z`` or a numeric offset, parsing converts to UTC.
* Durations are :class:`~datetime.timedelta`.
* Numbers are ``int`` or ``float``; booleans are ``bool``.
* An optional element that is absent, or present but empty, is ``None`` (or an empty list).

Events are the exception to "one class per thing": the event a user handler
receives is a plain ``dict`` in the shape OpenLEADR users know (see
:data:`EVENT_SHAPE`), so :class:`DistributeEvent` holds a list of such dicts.
Targets are lists of one-key dicts (``{"ven_id": "ven-1"}``) as in OpenLEADR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Union

__all__ = (
    "EVENT_SHAPE",
    "Target",
    "Event",
    "Response",
    "Profile",
    "QueryRegistration",
    "CreatePartyRegistration",
    "CreatedPartyRegistration",
    "CancelPartyRegistration",
    "CanceledPartyRegistration",
    "RequestReregistration",
    "RequestEvent",
    "DistributeEvent",
    "EventError",
    "EventResponse",
    "CreatedEvent",
    "Measurement",
    "SamplingRate",
    "ReportDescription",
    "ResourceStatus",
    "ReportPayload",
    "ReportInterval",
    "Report",
    "SpecifierPayload",
    "ReportSpecifier",
    "ReportRequest",
    "RegisterReport",
    "RegisteredReport",
    "CreateReport",
    "CreatedReport",
    "UpdateReport",
    "UpdatedReport",
    "CancelReport",
    "CanceledReport",
    "AvailableWindow",
    "CreateOpt",
    "CreatedOpt",
    "CancelOpt",
    "CanceledOpt",
    "Poll",
    "ResponseMessage",
    "Message",
    "MESSAGE_TYPES",
)

#: A target, as in OpenLEADR: a dict with a single key naming the target type
#: (``ven_id``, ``resource_id``, ``group_id``, ``group_name``, ``party_id``,
#: ``end_device_asset``, ``meter_asset``, ``p_node``, ``aggregated_p_node``,
#: ``service_delivery_point``, ``service_location``, ``transport_interface``,
#: ``service_area``) and its value (a ``str``, or a small dict for the
#: structured types, e.g. ``{"end_device_asset": {"mrid": "Energy_Management_System"}}``).
Target = dict[str, Any]

#: An event as handed to user code, and as given to the builder.
Event = dict[str, Any]

#: The shape of :data:`Event`, documented once. Keys marked (opt) are left out
#: when the message does not carry them, as OpenLEADR does; the flat copies at
#: the top are always present (``None`` when absent).
EVENT_SHAPE = """
{
  # flat copies of the descriptor, for convenience (always present)
  "event_id": str, "modification_number": int, "event_status": str,
  "test_event": bool, "market_context": str | None, "priority": int | None,
  # OpenLEADR's nested descriptor
  "event_descriptor": {
      "event_id": str, "modification_number": int,
      "modification_date_time": datetime (opt), "modification_reason": str (opt),
      "priority": int (opt), "market_context": str,
      "created_date_time": datetime, "event_status": str,
      "test_event": bool, "vtn_comment": str (opt),
  },
  "active_period": {
      "dtstart": datetime, "duration": timedelta,
      "tolerance": {"tolerate": {"startafter": timedelta}} (opt),
      "notification": timedelta (opt), "ramp_up": timedelta (opt),
      "recovery": timedelta (opt),
  },
  "event_signals": [{
      "signal_name": str, "signal_type": str, "signal_id": str,
      "current_value": float (opt),
      "intervals": [{"dtstart": datetime, "duration": timedelta,
                     "uid": str, "signal_payload": float}],
      "measurement": Measurement (opt),
      "targets": [Target] (opt), "targets_by_type": {type: [value]} (opt),
  }],
  "targets": [Target], "targets_by_type": {type: [value]},
  "response_required": "always" | "never",
}
"""


@dataclass(slots=True, kw_only=True)
class Response:
    """``ei:eiResponse``: the outcome of a request."""

    response_code: int
    response_description: str | None = None
    request_id: str | None = None

    @classmethod
    def ok(cls, request_id: str | None = None) -> Response:
        """The ``200 OK`` answer to the request ``request_id``."""
        return cls(response_code=200, response_description="OK", request_id=request_id)


@dataclass(slots=True, kw_only=True)
class Profile:
    """One ``oadrProfile`` offered by a VTN, with its transport names."""

    profile_name: str
    transports: list[str] = field(default_factory=list)


# --------------------------------------------------------------- registration


@dataclass(slots=True, kw_only=True)
class QueryRegistration:
    """``oadrQueryRegistration`` (VEN to VTN)."""

    message_type: ClassVar[str] = "oadrQueryRegistration"
    request_id: str


@dataclass(slots=True, kw_only=True)
class CreatePartyRegistration:
    """``oadrCreatePartyRegistration`` (VEN to VTN).

    ``ven_id`` and ``registration_id`` are left out on the first
    registration (rule 404) and given when registering again.
    """

    message_type: ClassVar[str] = "oadrCreatePartyRegistration"
    request_id: str
    ven_name: str | None = None
    ven_id: str | None = None
    registration_id: str | None = None
    profile_name: str = "2.0b"
    transport_name: str = "simpleHttp"
    transport_address: str | None = None
    report_only: bool = False
    xml_signature: bool = False
    http_pull_model: bool = True


@dataclass(slots=True, kw_only=True)
class CreatedPartyRegistration:
    """``oadrCreatedPartyRegistration`` (VTN to VEN)."""

    message_type: ClassVar[str] = "oadrCreatedPartyRegistration"
    response: Response
    vtn_id: str
    registration_id: str | None = None
    ven_id: str | None = None
    profiles: list[Profile] = field(default_factory=list)
    requested_oadr_poll_freq: timedelta | None = None


@dataclass(slots=True, kw_only=True)
class CancelPartyRegistration:
    """``oadrCancelPartyRegistration`` (either way)."""

    message_type: ClassVar[str] = "oadrCancelPartyRegistration"
    request_id: str
    registration_id: str
    ven_id: str


@dataclass(slots=True, kw_only=True)
class CanceledPartyRegistration:
    """``oadrCanceledPartyRegistration`` (either way)."""

    message_type: ClassVar[str] = "oadrCanceledPartyRegistration"
    response: Response
    registration_id: str | None = None
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class RequestReregistration:
    """``oadrRequestReregistration`` (VTN to VEN)."""

    message_type: ClassVar[str] = "oadrRequestReregistration"
    ven_id: str


# --------------------------------------------------------------------- events


@dataclass(slots=True, kw_only=True)
class RequestEvent:
    """``oadrRequestEvent`` (VEN to VTN)."""

    message_type: ClassVar[str] = "oadrRequestEvent"
    request_id: str
    ven_id: str
    reply_limit: int | None = None


@dataclass(slots=True, kw_only=True)
class EventError:
    """An ``oadrEvent`` of an ``oadrDistributeEvent`` that could not be read.

    The other events of the message are still delivered; the VEN answers this
    one with ``response_code`` (rules 19 and 48). ``event_id`` and
    ``modification_number`` are given when they could be read.
    """

    response_code: int
    description: str
    path: str | None = None
    event_id: str | None = None
    modification_number: int | None = None


@dataclass(slots=True, kw_only=True)
class DistributeEvent:
    """``oadrDistributeEvent`` (VTN to VEN): all of the VEN's events.

    ``events`` holds event dicts in document order (see :data:`EVENT_SHAPE`);
    ``errors`` the events that could not be read, one :class:`EventError`
    each (parsing only; the builder ignores it).
    """

    message_type: ClassVar[str] = "oadrDistributeEvent"
    request_id: str
    vtn_id: str
    events: list[Event] = field(default_factory=list)
    response: Response | None = None
    errors: list[EventError] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class EventResponse:
    """One ``eventResponse`` inside ``oadrCreatedEvent``: the answer for one event."""

    response_code: int
    request_id: str
    event_id: str
    modification_number: int
    opt_type: str  # "optIn" or "optOut"
    response_description: str | None = None


@dataclass(slots=True, kw_only=True)
class CreatedEvent:
    """``oadrCreatedEvent`` (VEN to VTN): answers for one or more events."""

    message_type: ClassVar[str] = "oadrCreatedEvent"
    response: Response
    ven_id: str
    event_responses: list[EventResponse] = field(default_factory=list)


# -------------------------------------------------------------------- reports


@dataclass(slots=True, kw_only=True)
class Measurement:
    """An item description (``power:realPower``, ``oadr:customUnit``, ...).

    ``name`` is the element's local name (``energyReal``, ``powerReal``,
    ``voltage``, ``current``, ``frequency``, ``temperature``, ``pulseCount``,
    ``currency``, ``customUnit``, ...).
    """

    name: str
    description: str
    unit: str
    scale: str = "none"
    power_attributes: dict[str, Any] | None = None  # {"hertz": float, "voltage": float, "ac": bool}
    pulse_factor: float | None = None


@dataclass(slots=True, kw_only=True)
class SamplingRate:
    """``oadrSamplingRate``: how often a data point can be sampled."""

    min_period: timedelta
    max_period: timedelta
    on_change: bool = False


@dataclass(slots=True, kw_only=True)
class ReportDescription:
    """``oadrReportDescription``: one data point of a report (``METADATA_*``)."""

    r_id: str
    report_type: str
    reading_type: str
    report_subject: list[Target] = field(default_factory=list)
    report_data_source: list[Target] = field(default_factory=list)
    market_context: str | None = None
    measurement: Measurement | None = None
    sampling_rate: SamplingRate | None = None


@dataclass(slots=True, kw_only=True)
class ResourceStatus:
    """``oadrPayloadResourceStatus`` (TELEMETRY_STATUS, rule 510)."""

    online: bool
    manual_override: bool
    load_control_state: dict[str, dict[str, float]] | None = None
    # e.g. {"oadrLevelOffset": {"oadrCurrent": 1.0, "oadrNormal": 0.0}}


@dataclass(slots=True, kw_only=True)
class ReportPayload:
    """``oadrReportPayload``: one value of one data point."""

    r_id: str
    value: float | ResourceStatus
    confidence: int | None = None
    accuracy: float | None = None
    data_quality: str | None = None


@dataclass(slots=True, kw_only=True)
class ReportInterval:
    """One ``interval`` of a report, carrying one or more payloads."""

    dtstart: datetime
    payloads: list[ReportPayload] = field(default_factory=list)
    duration: timedelta | None = None
    uid: str | None = None


@dataclass(slots=True, kw_only=True)
class Report:
    """``oadrReport``: metadata (in ``oadrRegisterReport``) or data (in ``oadrUpdateReport``)."""

    report_specifier_id: str
    report_name: str
    created_date_time: datetime
    report_request_id: str = "0"
    report_id: str | None = None
    dtstart: datetime | None = None
    duration: timedelta | None = None
    report_descriptions: list[ReportDescription] = field(default_factory=list)
    intervals: list[ReportInterval] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class SpecifierPayload:
    """``specifierPayload``: one wanted data point of a report request."""

    r_id: str
    reading_type: str
    measurement: Measurement | None = None


@dataclass(slots=True, kw_only=True)
class ReportSpecifier:
    """``reportSpecifier``: what a report request wants and how often."""

    report_specifier_id: str
    granularity: timedelta
    specifier_payloads: list[SpecifierPayload] = field(default_factory=list)
    report_back_duration: timedelta | None = None
    report_interval_start: datetime | None = None
    report_interval_duration: timedelta | None = None


@dataclass(slots=True, kw_only=True)
class ReportRequest:
    """``oadrReportRequest``."""

    report_request_id: str
    report_specifier: ReportSpecifier


@dataclass(slots=True, kw_only=True)
class RegisterReport:
    """``oadrRegisterReport`` (either way): advertises ``METADATA_*`` reports."""

    message_type: ClassVar[str] = "oadrRegisterReport"
    request_id: str
    reports: list[Report] = field(default_factory=list)
    ven_id: str | None = None
    report_request_id: str | None = None


@dataclass(slots=True, kw_only=True)
class RegisteredReport:
    """``oadrRegisteredReport`` (either way), possibly carrying report requests."""

    message_type: ClassVar[str] = "oadrRegisteredReport"
    response: Response
    report_requests: list[ReportRequest] = field(default_factory=list)
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class CreateReport:
    """``oadrCreateReport`` (either way): requests reports."""

    message_type: ClassVar[str] = "oadrCreateReport"
    request_id: str
    report_requests: list[ReportRequest] = field(default_factory=list)
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class CreatedReport:
    """``oadrCreatedReport`` (either way): every active request in ``pending_reports``."""

    message_type: ClassVar[str] = "oadrCreatedReport"
    response: Response
    pending_reports: list[str] = field(default_factory=list)
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class UpdateReport:
    """``oadrUpdateReport`` (either way): report data."""

    message_type: ClassVar[str] = "oadrUpdateReport"
    request_id: str
    reports: list[Report] = field(default_factory=list)
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class CancelReport:
    """``oadrCancelReport`` (either way)."""

    message_type: ClassVar[str] = "oadrCancelReport"
    request_id: str
    report_request_ids: list[str] = field(default_factory=list)
    report_to_follow: bool = False
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class UpdatedReport:
    """``oadrUpdatedReport`` (either way); may carry an ``oadrCancelReport``."""

    message_type: ClassVar[str] = "oadrUpdatedReport"
    response: Response
    cancel_report: CancelReport | None = None
    ven_id: str | None = None


@dataclass(slots=True, kw_only=True)
class CanceledReport:
    """``oadrCanceledReport`` (either way)."""

    message_type: ClassVar[str] = "oadrCanceledReport"
    response: Response
    pending_reports: list[str] = field(default_factory=list)
    ven_id: str | None = None


# ------------------------------------------------------------------------ opt


@dataclass(slots=True, kw_only=True)
class AvailableWindow:
    """One ``available`` window of a ``vavailability`` schedule."""

    dtstart: datetime
    duration: timedelta


@dataclass(slots=True, kw_only=True)
class CreateOpt:
    """``oadrCreateOpt`` (VEN to VTN).

    Either an availability schedule (``vavailability``) or an event opt
    (``event_id`` and ``modification_number``).
    """

    message_type: ClassVar[str] = "oadrCreateOpt"
    opt_id: str
    opt_type: str  # "optIn" or "optOut"
    opt_reason: str
    ven_id: str
    created_date_time: datetime
    request_id: str
    market_context: str | None = None
    vavailability: list[AvailableWindow] | None = None
    event_id: str | None = None
    modification_number: int | None = None
    targets: list[Target] = field(default_factory=list)
    signal_target_mrid: str | None = None


@dataclass(slots=True, kw_only=True)
class CreatedOpt:
    """``oadrCreatedOpt`` (VTN to VEN)."""

    message_type: ClassVar[str] = "oadrCreatedOpt"
    response: Response
    opt_id: str


@dataclass(slots=True, kw_only=True)
class CancelOpt:
    """``oadrCancelOpt`` (VEN to VTN)."""

    message_type: ClassVar[str] = "oadrCancelOpt"
    request_id: str
    opt_id: str
    ven_id: str


@dataclass(slots=True, kw_only=True)
class CanceledOpt:
    """``oadrCanceledOpt`` (VTN to VEN)."""

    message_type: ClassVar[str] = "oadrCanceledOpt"
    response: Response
    opt_id: str


# ----------------------------------------------------------------- poll, misc


@dataclass(slots=True, kw_only=True)
class Poll:
    """``oadrPoll`` (VEN to VTN)."""

    message_type: ClassVar[str] = "oadrPoll"
    ven_id: str


@dataclass(slots=True, kw_only=True)
class ResponseMessage:
    """``oadrResponse`` (either way): a bare acknowledgement."""

    message_type: ClassVar[str] = "oadrResponse"
    response: Response
    ven_id: str | None = None


Message = Union[
    QueryRegistration,
    CreatePartyRegistration,
    CreatedPartyRegistration,
    CancelPartyRegistration,
    CanceledPartyRegistration,
    RequestReregistration,
    RequestEvent,
    DistributeEvent,
    CreatedEvent,
    RegisterReport,
    RegisteredReport,
    CreateReport,
    CreatedReport,
    UpdateReport,
    UpdatedReport,
    CancelReport,
    CanceledReport,
    CreateOpt,
    CreatedOpt,
    CancelOpt,
    CanceledOpt,
    Poll,
    ResponseMessage,
]

#: Every message class by its OpenADR element name.
MESSAGE_TYPES: dict[str, type] = {
    cls.message_type: cls
    for cls in Message.__args__  # type: ignore[attr-defined]
}
