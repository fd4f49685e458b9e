"""Pure-Python extractor: OpenADR 2.0b ``oadrPayload`` element -> model object.

This module is the **specification** of :func:`extract`; the compiled twin
(``_extract_c.pyx``) must return equal objects for every input, or raise the
same exception class with the same text. It is written so that it ports
mechanically: small helpers (child lookup by Clark tag, text of a child,
required vs optional), one function per message type in a table, no XPath,
each list walked once.

Rules, the same everywhere:

* An element is found by namespace and local name (``{ns}local``); an element
  in another namespace is not the element. Unknown extra elements are ignored.
  When an element that may appear once appears twice, the first one is used.
* Text is the element's text (lxml ``.text``: the text and CDATA before its
  first child element) with XML whitespace (space, tab, CR, LF) stripped from
  both ends; an element without text gives ``""``.
* A missing required element raises :class:`~fleetven.exceptions.InvalidMessage`
  with the text ``"missing required element <path>"``; a value that is not of
  its type raises :class:`~fleetven.exceptions.InvalidValue` with the text
  ``"invalid <kind> <repr(text)> at <path>"`` (kinds: ``date-time``,
  ``duration``, ``integer``, ``float``, ``boolean``, and element names for
  enumerations). Both carry ``path=`` and ``message_type=`` fields.
* Paths are local names joined with ``/``, starting at the message element
  (``oadrDistributeEvent/oadrEvent[2]/eiEvent/eventDescriptor/eventID``);
  elements that may repeat (``maxOccurs > 1`` in the schema) carry their
  1-based position among same-named siblings.
* Integers: optional ``+``/``-`` then ASCII digits. Floats: ``xs:float``
  lexical form (``1``, ``-1.5``, ``.5``, ``5.``, ``1e3``, ``INF``, ``-INF``,
  ``NaN``). Booleans: ``true``/``1`` and ``false``/``0``. Datetimes and
  durations: :func:`fleetven.openadr.timefmt.parse_datetime` and
  :func:`~fleetven.openadr.timefmt.parse_duration`.

One exception to "an error fails the message": an ``oadrEvent`` of an
``oadrDistributeEvent`` that raises :class:`~fleetven.exceptions.MessageError`
is left out of ``events`` and reported in ``errors`` as an
:class:`~fleetven.openadr.model.EventError` (the error's ``response_code``,
text and ``path``, plus the event's ``eventID`` and ``modificationNumber``
when those can be read on their own), so that the VEN can answer every event
with its own code (rules 19 and 48). The other events keep their document
order; errors outside the events still fail the whole message.

Where the schema says "required" this module requires, except for these
deliberate leniencies (peers omit them in practice): ``eiResponse/requestID``
(``None``), ``oadrResponseRequired`` (``"always"``), the event's ``eiTarget``
(no targets), ``oadrProfiles`` (no profiles), ``reportName`` (``""``),
``reportBackDuration`` (``None``). Stricter than the schema: an event
signal's ``interval`` must carry a ``duration``. Enumerations checked:
``eventStatus``, ``oadrResponseRequired``, ``optType``; other enumerated
values (``signalType``, ``readingType``, ...) are kept as sent.

Targets (``eiTarget``, ``reportSubject``, ``reportDataSource``) become a list
of one-key dicts in document order: ``ven_id``, ``resource_id``, ``group_id``,
``group_name``, ``party_id`` (str); ``end_device_asset`` and ``meter_asset``
(``{"mrid": str}``); ``p_node``, ``aggregated_p_node``,
``service_delivery_point`` (``{"node": str}``); ``transport_interface``
(``{"point_of_receipt": str, "point_of_delivery": str}``); ``service_area`` and
``service_location`` (``{"pos_list": [float, ...]}``: the numbers of the
``gml:posList`` of their ``FeatureCollection/location/Polygon/exterior/LinearRing``,
split on XML whitespace, plus ``"feature_collection_id"`` and ``"polygon_id"``
when the ``FeatureCollection`` / ``Polygon`` carry a ``gml:id`` attribute).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from fleetven.exceptions import InvalidMessage, InvalidValue, MessageError, UnknownMessage
from fleetven.openadr import model as m
from fleetven.openadr.namespaces import DS, EI, EMIX, GML, OADR, POWER, PYLD, SCALE, STRM, XCAL
from fleetven.openadr.timefmt import parse_datetime, parse_duration

__all__ = ("extract",)

_Element = etree._Element
_WS = " \t\r\n"

# ------------------------------------------------------------------ tags (Clark notation)


def _t(ns: str, local: str) -> str:
    return "{" + ns + "}" + local


T_PAYLOAD = _t(OADR, "oadrPayload")
T_SIGNED_OBJECT = _t(OADR, "oadrSignedObject")
T_SIGNATURE = _t(DS, "Signature")

# ei
T_EI_RESPONSE = _t(EI, "eiResponse")
T_RESPONSE_CODE = _t(EI, "responseCode")
T_RESPONSE_DESCRIPTION = _t(EI, "responseDescription")
T_VEN_ID = _t(EI, "venID")
T_VTN_ID = _t(EI, "vtnID")
T_REGISTRATION_ID = _t(EI, "registrationID")
T_EI_EVENT = _t(EI, "eiEvent")
T_EVENT_DESCRIPTOR = _t(EI, "eventDescriptor")
T_EVENT_ID = _t(EI, "eventID")
T_MODIFICATION_NUMBER = _t(EI, "modificationNumber")
T_MODIFICATION_DATE_TIME = _t(EI, "modificationDateTime")
T_MODIFICATION_REASON = _t(EI, "modificationReason")
T_PRIORITY = _t(EI, "priority")
T_EI_MARKET_CONTEXT = _t(EI, "eiMarketContext")
T_CREATED_DATE_TIME = _t(EI, "createdDateTime")
T_EVENT_STATUS = _t(EI, "eventStatus")
T_TEST_EVENT = _t(EI, "testEvent")
T_VTN_COMMENT = _t(EI, "vtnComment")
T_EI_ACTIVE_PERIOD = _t(EI, "eiActivePeriod")
T_X_NOTIFICATION = _t(EI, "x-eiNotification")
T_X_RAMP_UP = _t(EI, "x-eiRampUp")
T_X_RECOVERY = _t(EI, "x-eiRecovery")
T_EI_EVENT_SIGNALS = _t(EI, "eiEventSignals")
T_EI_EVENT_SIGNAL = _t(EI, "eiEventSignal")
T_SIGNAL_NAME = _t(EI, "signalName")
T_SIGNAL_TYPE = _t(EI, "signalType")
T_SIGNAL_ID = _t(EI, "signalID")
T_CURRENT_VALUE = _t(EI, "currentValue")
T_PAYLOAD_FLOAT = _t(EI, "payloadFloat")
T_VALUE = _t(EI, "value")
T_INTERVAL = _t(EI, "interval")
T_SIGNAL_PAYLOAD = _t(EI, "signalPayload")
T_EI_TARGET = _t(EI, "eiTarget")
T_GROUP_ID = _t(EI, "groupID")
T_GROUP_NAME = _t(EI, "groupName")
T_RESOURCE_ID = _t(EI, "resourceID")
T_PARTY_ID = _t(EI, "partyID")
T_EVENT_RESPONSES = _t(EI, "eventResponses")
T_EVENT_RESPONSE = _t(EI, "eventResponse")
T_QUALIFIED_EVENT_ID = _t(EI, "qualifiedEventID")
T_OPT_TYPE = _t(EI, "optType")
T_OPT_ID = _t(EI, "optID")
T_OPT_REASON = _t(EI, "optReason")
T_EI_REPORT_ID = _t(EI, "eiReportID")
T_REPORT_REQUEST_ID = _t(EI, "reportRequestID")
T_REPORT_SPECIFIER_ID = _t(EI, "reportSpecifierID")
T_REPORT_NAME = _t(EI, "reportName")
T_R_ID = _t(EI, "rID")
T_REPORT_SUBJECT = _t(EI, "reportSubject")
T_REPORT_DATA_SOURCE = _t(EI, "reportDataSource")
T_REPORT_TYPE = _t(EI, "reportType")
T_READING_TYPE = _t(EI, "readingType")
T_CONFIDENCE = _t(EI, "confidence")
T_ACCURACY = _t(EI, "accuracy")
T_REPORT_SPECIFIER = _t(EI, "reportSpecifier")
T_REPORT_BACK_DURATION = _t(EI, "reportBackDuration")
T_REPORT_INTERVAL = _t(EI, "reportInterval")
T_SPECIFIER_PAYLOAD = _t(EI, "specifierPayload")

# pyld
T_REQUEST_ID = _t(PYLD, "requestID")
T_EI_REQUEST_EVENT = _t(PYLD, "eiRequestEvent")
T_REPLY_LIMIT = _t(PYLD, "replyLimit")
T_EI_CREATED_EVENT = _t(PYLD, "eiCreatedEvent")
T_REPORT_TO_FOLLOW = _t(PYLD, "reportToFollow")

# emix
T_MARKET_CONTEXT = _t(EMIX, "marketContext")
T_SERVICE_AREA = _t(EMIX, "serviceArea")

# xcal / strm
T_PROPERTIES = _t(XCAL, "properties")
T_DTSTART = _t(XCAL, "dtstart")
T_DATE_TIME = _t(XCAL, "date-time")
T_DURATION = _t(XCAL, "duration")
T_TOLERANCE = _t(XCAL, "tolerance")
T_TOLERATE = _t(XCAL, "tolerate")
T_STARTAFTER = _t(XCAL, "startafter")
T_UID = _t(XCAL, "uid")
T_TEXT = _t(XCAL, "text")
T_GRANULARITY = _t(XCAL, "granularity")
T_VAVAILABILITY = _t(XCAL, "vavailability")
T_COMPONENTS = _t(XCAL, "components")
T_AVAILABLE = _t(XCAL, "available")
T_INTERVALS = _t(STRM, "intervals")

# power / gml / scale
T_END_DEVICE_ASSET = _t(POWER, "endDeviceAsset")
T_METER_ASSET = _t(POWER, "meterAsset")
T_PNODE = _t(POWER, "pnode")
T_AGGREGATED_PNODE = _t(POWER, "aggregatedPnode")
T_SERVICE_DELIVERY_POINT = _t(POWER, "serviceDeliveryPoint")
T_SERVICE_LOCATION = _t(POWER, "serviceLocation")
T_TRANSPORT_INTERFACE = _t(POWER, "transportInterface")
T_MRID = _t(POWER, "mrid")
T_NODE = _t(POWER, "node")
T_POINT_OF_RECEIPT = _t(POWER, "pointOfReceipt")
T_POINT_OF_DELIVERY = _t(POWER, "pointOfDelivery")
T_POWER_ATTRIBUTES = _t(POWER, "powerAttributes")
T_HERTZ = _t(POWER, "hertz")
T_VOLTAGE = _t(POWER, "voltage")
T_AC = _t(POWER, "ac")
T_FEATURE_COLLECTION = _t(GML, "FeatureCollection")
T_LOCATION = _t(GML, "location")
T_POLYGON = _t(GML, "Polygon")
T_EXTERIOR = _t(GML, "exterior")
T_LINEAR_RING = _t(GML, "LinearRing")
T_POS_LIST = _t(GML, "posList")
T_SI_SCALE_CODE = _t(SCALE, "siScaleCode")
A_GML_ID = _t(GML, "id")

# oadr
T_OADR_EVENT = _t(OADR, "oadrEvent")
T_RESPONSE_REQUIRED = _t(OADR, "oadrResponseRequired")
T_PROFILES = _t(OADR, "oadrProfiles")
T_PROFILE = _t(OADR, "oadrProfile")
T_PROFILE_NAME = _t(OADR, "oadrProfileName")
T_TRANSPORTS = _t(OADR, "oadrTransports")
T_TRANSPORT = _t(OADR, "oadrTransport")
T_TRANSPORT_NAME = _t(OADR, "oadrTransportName")
T_TRANSPORT_ADDRESS = _t(OADR, "oadrTransportAddress")
T_REPORT_ONLY = _t(OADR, "oadrReportOnly")
T_XML_SIGNATURE = _t(OADR, "oadrXmlSignature")
T_VEN_NAME = _t(OADR, "oadrVenName")
T_HTTP_PULL_MODEL = _t(OADR, "oadrHttpPullModel")
T_POLL_FREQ = _t(OADR, "oadrRequestedOadrPollFreq")
T_OADR_REPORT = _t(OADR, "oadrReport")
T_REPORT_DESCRIPTION = _t(OADR, "oadrReportDescription")
T_SAMPLING_RATE = _t(OADR, "oadrSamplingRate")
T_MIN_PERIOD = _t(OADR, "oadrMinPeriod")
T_MAX_PERIOD = _t(OADR, "oadrMaxPeriod")
T_ON_CHANGE = _t(OADR, "oadrOnChange")
T_REPORT_PAYLOAD = _t(OADR, "oadrReportPayload")
T_RESOURCE_STATUS = _t(OADR, "oadrPayloadResourceStatus")
T_ONLINE = _t(OADR, "oadrOnline")
T_MANUAL_OVERRIDE = _t(OADR, "oadrManualOverride")
T_LOAD_CONTROL_STATE = _t(OADR, "oadrLoadControlState")
T_DATA_QUALITY = _t(OADR, "oadrDataQuality")
T_REPORT_REQUEST = _t(OADR, "oadrReportRequest")
T_PENDING_REPORTS = _t(OADR, "oadrPendingReports")
T_OADR_CANCEL_REPORT = _t(OADR, "oadrCancelReport")
T_DEVICE_CLASS = _t(OADR, "oadrDeviceClass")
T_PULSE_FACTOR = _t(OADR, "pulseFactor")

#: Item descriptions (``emix:itemBase`` substitutes) by tag. Their
#: ``itemDescription``/``itemUnits`` children are in the item's own namespace.
ITEM_BASES: frozenset[str] = frozenset(
    [
        _t(POWER, name)
        for name in (
            "voltage",
            "energyItem",
            "energyApparent",
            "energyReactive",
            "energyReal",
            "powerItem",
            "powerApparent",
            "powerReactive",
            "powerReal",
        )
    ]
    + [
        _t(OADR, name)
        for name in (
            "customUnit",
            "current",
            "currency",
            "currencyPerKWh",
            "currencyPerKW",
            "currencyPerThm",
            "frequency",
            "Therm",
            "temperature",
            "pulseCount",
        )
    ]
)

#: The four load-control-state kinds and their values, in schema order.
LOAD_CONTROL_KINDS = ("oadrCapacity", "oadrLevelOffset", "oadrPercentOffset", "oadrSetPoint")
LOAD_CONTROL_VALUES = ("oadrMin", "oadrMax", "oadrCurrent", "oadrNormal")

EVENT_STATUSES = frozenset(("none", "far", "near", "active", "completed", "cancelled"))
RESPONSE_REQUIRED = frozenset(("always", "never"))
OPT_TYPES = frozenset(("optIn", "optOut"))

_SPACES = re.compile(r"[ \t\r\n]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN")


# ------------------------------------------------------------------ errors


def _missing(path: str) -> InvalidMessage:
    """The error for a required element that is absent; ``path`` names it."""
    return InvalidMessage(f"missing required element {path}", path=path, message_type=path.split("/", 1)[0])


def _bad(kind: str, text: str, path: str) -> InvalidValue:
    """The error for a value that is not a valid ``kind``."""
    return InvalidValue(f"invalid {kind} {text!r} at {path}", path=path, value=text,
                        message_type=path.split("/", 1)[0])


def _local(tag: str) -> str:
    """Local name of a Clark-notation tag."""
    return tag.rpartition("}")[2]


# ------------------------------------------------------------------ child lookup and text


def _child(el: _Element, tag: str) -> _Element | None:
    """First child element with this tag, or ``None``."""
    for c in el.iterchildren(tag):
        return c
    return None


def _req(el: _Element, tag: str, path: str) -> _Element:
    """First child element with this tag; ``path`` is ``el``'s path.

    :raises InvalidMessage: when there is none.
    """
    for c in el.iterchildren(tag):
        return c
    raise _missing(path + "/" + _local(tag))


def _text(el: _Element) -> str:
    """The element's own text, XML whitespace stripped; ``""`` when it has none."""
    t = el.text
    return t.strip(_WS) if t is not None else ""


def _opt_text(el: _Element, tag: str) -> str | None:
    """Text of the first child with this tag, or ``None`` when it is absent or empty.

    An empty optional element means "not given": OpenLEADR's VTN, for one, sends
    ``<ei:venID/>`` and ``<ei:registrationID/>`` when it has none to give.
    """
    c = _child(el, tag)
    return (_text(c) or None) if c is not None else None


def _req_text(el: _Element, tag: str, path: str) -> str:
    """Text of the first child with this tag. :raises InvalidMessage: when absent."""
    return _text(_req(el, tag, path))


# ------------------------------------------------------------------ value conversion


def _int(text: str, path: str) -> int:
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit() or len(body) > _MAX_INT_DIGITS:
        raise _bad("integer", text, path)
    return int(text)


#: No integer in an OpenADR message needs more digits than this; longer ones are
#: refused rather than handed to ``int()`` (whose own limit is 4,300 digits).
_MAX_INT_DIGITS = 40


def _out_of_range(path: str) -> InvalidValue:
    """The error for an interval start that falls outside the datetime range."""
    return InvalidValue(f"date-time out of range at {path}", path=path, value=None,
                        message_type=path.split("/", 1)[0])


def _float(text: str, path: str) -> float:
    if _FLOAT.fullmatch(text) is None:
        raise _bad("float", text, path)
    return float(text)


def _bool(text: str, path: str) -> bool:
    if text == "true" or text == "1":
        return True
    if text == "false" or text == "0":
        return False
    raise _bad("boolean", text, path)


def _datetime(text: str, path: str) -> datetime:
    try:
        return parse_datetime(text)
    except InvalidValue:
        raise _bad("date-time", text, path) from None


def _duration(text: str, path: str) -> timedelta:
    try:
        return parse_duration(text)
    except InvalidValue:
        raise _bad("duration", text, path) from None


def _req_int(el: _Element, tag: str, path: str) -> int:
    c = _req(el, tag, path)
    return _int(_text(c), path + "/" + _local(tag))


def _opt_int(el: _Element, tag: str, path: str) -> int | None:
    c = _child(el, tag)
    return None if c is None else _int(_text(c), path + "/" + _local(tag))


def _req_bool(el: _Element, tag: str, path: str) -> bool:
    c = _req(el, tag, path)
    return _bool(_text(c), path + "/" + _local(tag))


def _opt_bool(el: _Element, tag: str, path: str) -> bool | None:
    c = _child(el, tag)
    return None if c is None else _bool(_text(c), path + "/" + _local(tag))


def _req_datetime(el: _Element, tag: str, path: str) -> datetime:
    """A ``DateTimeType`` child given as direct text (``ei:createdDateTime``)."""
    c = _req(el, tag, path)
    return _datetime(_text(c), path + "/" + _local(tag))


def _opt_datetime(el: _Element, tag: str, path: str) -> datetime | None:
    c = _child(el, tag)
    return None if c is None else _datetime(_text(c), path + "/" + _local(tag))


def _dtstart_of(el: _Element, path: str) -> datetime:
    """``el`` is an ``xcal:dtstart``: its ``xcal:date-time`` child; ``path`` is ``el``'s path."""
    return _datetime(_req_text(el, T_DATE_TIME, path), path + "/date-time")


def _duration_of(el: _Element, path: str) -> timedelta:
    """``el`` is a ``DurationPropType`` element: its ``xcal:duration`` child; ``path`` is ``el``'s path."""
    return _duration(_req_text(el, T_DURATION, path), path + "/duration")


def _req_dtstart(el: _Element, path: str) -> datetime:
    """The ``xcal:dtstart/xcal:date-time`` of ``el``."""
    return _dtstart_of(_req(el, T_DTSTART, path), path + "/dtstart")


def _req_duration_prop(el: _Element, tag: str, path: str) -> timedelta:
    """A required ``DurationPropType`` child (``<tag><xcal:duration>PT1H</xcal:duration></tag>``)."""
    return _duration_of(_req(el, tag, path), path + "/" + _local(tag))


def _opt_duration_prop(el: _Element, tag: str, path: str) -> timedelta | None:
    c = _child(el, tag)
    return None if c is None else _duration_of(c, path + "/" + _local(tag))


def _payload_float(el: _Element, path: str) -> float:
    """``el`` holds an ``ei:payloadFloat/ei:value``; ``path`` is ``el``'s path."""
    pf = _req(el, T_PAYLOAD_FLOAT, path)
    return _float(_req_text(pf, T_VALUE, path + "/payloadFloat"), path + "/payloadFloat/value")


# ------------------------------------------------------------------ shared structures


def _response(el: _Element, path: str) -> m.Response:
    """``ei:eiResponse`` (or an ``eventResponse``-like element); ``path`` is ``el``'s path."""
    return m.Response(
        response_code=_req_int(el, T_RESPONSE_CODE, path),
        response_description=_opt_text(el, T_RESPONSE_DESCRIPTION),
        request_id=_opt_text(el, T_REQUEST_ID),
    )


def _ei_response(parent: _Element, path: str) -> m.Response:
    """The required ``ei:eiResponse`` child of ``parent``."""
    return _response(_req(parent, T_EI_RESPONSE, path), path + "/eiResponse")


def _node_target(el: _Element, tag: str, key: str, path: str) -> dict[str, str]:
    return {key: _req_text(el, tag, path)}


def _area(el: _Element, path: str) -> dict[str, Any]:
    """``el`` is ``emix:serviceArea`` or ``power:serviceLocation`` (a GML polygon); ``path`` is ``el``'s path.

    :returns: ``{"pos_list": [float, ...]}``, plus ``"feature_collection_id"`` and
        ``"polygon_id"`` when the ``FeatureCollection`` / ``Polygon`` carry a ``gml:id``.
    """
    fc = _req(el, T_FEATURE_COLLECTION, path)
    path += "/FeatureCollection"
    loc = _req(fc, T_LOCATION, path)
    path += "/location"
    poly = _req(loc, T_POLYGON, path)
    ppath = path + "/Polygon"
    ext = _req(poly, T_EXTERIOR, ppath)
    path = ppath + "/exterior"
    ring = _req(ext, T_LINEAR_RING, path)
    path += "/LinearRing"
    text = _req_text(ring, T_POS_LIST, path)
    path += "/posList"
    value: dict[str, Any] = {"pos_list": [_float(tok, path) for tok in _SPACES.split(text) if tok]}
    fc_id = fc.get(A_GML_ID)
    if fc_id is not None:
        value["feature_collection_id"] = fc_id
    poly_id = poly.get(A_GML_ID)
    if poly_id is not None:
        value["polygon_id"] = poly_id
    return value


#: Target element tag -> (target type key, kind). Kinds: 0 text, 1 mrid, 2 node,
#: 3 transport interface, 4 GML area.
TARGET_TYPES: dict[str, tuple[str, int]] = {
    T_VEN_ID: ("ven_id", 0),
    T_RESOURCE_ID: ("resource_id", 0),
    T_GROUP_ID: ("group_id", 0),
    T_GROUP_NAME: ("group_name", 0),
    T_PARTY_ID: ("party_id", 0),
    T_END_DEVICE_ASSET: ("end_device_asset", 1),
    T_METER_ASSET: ("meter_asset", 1),
    T_PNODE: ("p_node", 2),
    T_AGGREGATED_PNODE: ("aggregated_p_node", 2),
    T_SERVICE_DELIVERY_POINT: ("service_delivery_point", 2),
    T_TRANSPORT_INTERFACE: ("transport_interface", 3),
    T_SERVICE_AREA: ("service_area", 4),
    T_SERVICE_LOCATION: ("service_location", 4),
}


def _targets(el: _Element, path: str) -> tuple[list[m.Target], dict[str, list[Any]]]:
    """An ``EiTargetType`` element: (targets in document order, targets by type in first-seen order)."""
    targets: list[m.Target] = []
    by_type: dict[str, list[Any]] = {}
    counts: dict[str, int] = {}
    for c in el:
        tag = c.tag
        spec = TARGET_TYPES.get(tag)
        if spec is None:
            continue
        key, kind = spec
        n = counts.get(key, 0) + 1
        counts[key] = n
        value: Any
        if kind == 0:
            value = _text(c)
        else:
            cpath = f"{path}/{_local(tag)}[{n}]"
            if kind == 1:
                value = _node_target(c, T_MRID, "mrid", cpath)
            elif kind == 2:
                value = _node_target(c, T_NODE, "node", cpath)
            elif kind == 3:
                value = {
                    "point_of_receipt": _req_text(c, T_POINT_OF_RECEIPT, cpath),
                    "point_of_delivery": _req_text(c, T_POINT_OF_DELIVERY, cpath),
                }
            else:
                value = _area(c, cpath)
        targets.append({key: value})
        lst = by_type.get(key)
        if lst is None:
            by_type[key] = [value]
        else:
            lst.append(value)
    return targets, by_type


def _measurement(el: _Element, path: str) -> m.Measurement:
    """An ``emix:itemBase`` substitute (``power:powerReal``, ``oadr:customUnit``, ...); ``path`` is ``el``'s path."""
    tag: str = el.tag
    ns = tag[1 : tag.index("}")]
    name = _local(tag)
    description = _req_text(el, _t(ns, "itemDescription"), path)
    unit = _req_text(el, _t(ns, "itemUnits"), path)
    scale = _opt_text(el, T_SI_SCALE_CODE)
    power_attributes: dict[str, Any] | None = None
    pa = _child(el, T_POWER_ATTRIBUTES)
    if pa is not None:
        pap = path + "/powerAttributes"
        power_attributes = {
            "hertz": _float(_req_text(pa, T_HERTZ, pap), pap + "/hertz"),
            "voltage": _float(_req_text(pa, T_VOLTAGE, pap), pap + "/voltage"),
            "ac": _bool(_req_text(pa, T_AC, pap), pap + "/ac"),
        }
    pulse_factor: float | None = None
    pf = _child(el, T_PULSE_FACTOR)
    if pf is not None:
        pulse_factor = _float(_text(pf), path + "/pulseFactor")
    return m.Measurement(
        name=name,
        description=description,
        unit=unit,
        scale=scale if scale is not None else "none",
        power_attributes=power_attributes,
        pulse_factor=pulse_factor,
    )


def _opt_measurement(el: _Element, path: str) -> m.Measurement | None:
    """The first ``emix:itemBase`` substitute child of ``el``, as a Measurement, or ``None``."""
    for c in el:
        if c.tag in ITEM_BASES:
            return _measurement(c, path + "/" + _local(c.tag))
    return None


# ------------------------------------------------------------------ events


def _event(oadr_event: _Element, path: str) -> m.Event:
    """One ``oadr:oadrEvent`` as an event dict (see :data:`fleetven.openadr.model.EVENT_SHAPE`)."""
    ei_event = _req(oadr_event, T_EI_EVENT, path)
    epath = path + "/eiEvent"

    # -- descriptor
    desc = _req(ei_event, T_EVENT_DESCRIPTOR, epath)
    dpath = epath + "/eventDescriptor"
    event_id = _req_text(desc, T_EVENT_ID, dpath)
    modification_number = _req_int(desc, T_MODIFICATION_NUMBER, dpath)
    emc = _req(desc, T_EI_MARKET_CONTEXT, dpath)
    market_context = _req_text(emc, T_MARKET_CONTEXT, dpath + "/eiMarketContext")
    created = _req_datetime(desc, T_CREATED_DATE_TIME, dpath)
    event_status = _req_text(desc, T_EVENT_STATUS, dpath)
    if event_status not in EVENT_STATUSES:
        raise _bad("eventStatus", event_status, dpath + "/eventStatus")
    te = _child(desc, T_TEST_EVENT)
    test_event = False
    if te is not None:
        tv = _text(te)
        test_event = not (tv == "false" or tv == "0")
    descriptor: dict[str, Any] = {"event_id": event_id, "modification_number": modification_number}
    mdt = _opt_datetime(desc, T_MODIFICATION_DATE_TIME, dpath)
    if mdt is not None:
        descriptor["modification_date_time"] = mdt
    mr = _opt_text(desc, T_MODIFICATION_REASON)
    if mr is not None:
        descriptor["modification_reason"] = mr
    priority = _opt_int(desc, T_PRIORITY, dpath)
    if priority is not None:
        descriptor["priority"] = priority
    descriptor["market_context"] = market_context
    descriptor["created_date_time"] = created
    descriptor["event_status"] = event_status
    descriptor["test_event"] = test_event
    vc = _opt_text(desc, T_VTN_COMMENT)
    if vc is not None:
        descriptor["vtn_comment"] = vc

    # -- active period
    ap = _req(ei_event, T_EI_ACTIVE_PERIOD, epath)
    ppath = epath + "/eiActivePeriod/properties"
    props = _req(ap, T_PROPERTIES, epath + "/eiActivePeriod")
    start = _req_dtstart(props, ppath)
    active_period: dict[str, Any] = {
        "dtstart": start,
        "duration": _req_duration_prop(props, T_DURATION, ppath),
    }
    tol = _child(props, T_TOLERANCE)
    if tol is not None:
        tolerate = _child(tol, T_TOLERATE)
        if tolerate is not None:
            sa = _child(tolerate, T_STARTAFTER)
            if sa is not None:
                active_period["tolerance"] = {
                    "tolerate": {"startafter": _duration(_text(sa), ppath + "/tolerance/tolerate/startafter")}
                }
    for tag, key in ((T_X_NOTIFICATION, "notification"), (T_X_RAMP_UP, "ramp_up"), (T_X_RECOVERY, "recovery")):
        d = _opt_duration_prop(props, tag, ppath)
        if d is not None:
            active_period[key] = d

    # -- signals
    sigs = _req(ei_event, T_EI_EVENT_SIGNALS, epath)
    spath = epath + "/eiEventSignals/eiEventSignal["
    signals = [_event_signal(s, f"{spath}{i}]", start) for i, s in enumerate(sigs.iterchildren(T_EI_EVENT_SIGNAL), 1)]

    # -- targets
    tgt = _child(ei_event, T_EI_TARGET)
    if tgt is not None:
        targets, by_type = _targets(tgt, epath + "/eiTarget")
    else:
        targets, by_type = [], {}

    rr = _child(oadr_event, T_RESPONSE_REQUIRED)
    response_required = "always"
    if rr is not None:
        response_required = _text(rr)
        if response_required not in RESPONSE_REQUIRED:
            raise _bad("oadrResponseRequired", response_required, path + "/oadrResponseRequired")

    return {
        "event_id": event_id,
        "modification_number": modification_number,
        "event_status": event_status,
        "test_event": test_event,
        "market_context": market_context,
        "priority": priority,
        "event_descriptor": descriptor,
        "active_period": active_period,
        "event_signals": signals,
        "targets": targets,
        "targets_by_type": by_type,
        "response_required": response_required,
    }


def _event_signal(sig: _Element, path: str, start: datetime) -> dict[str, Any]:
    """One ``ei:eiEventSignal``; ``start`` is the event's active period start."""
    ivs = _req(sig, T_INTERVALS, path)
    ipath = path + "/intervals/interval["
    intervals: list[dict[str, Any]] = []
    offset = timedelta(0)
    for i, iv in enumerate(ivs.iterchildren(T_INTERVAL), 1):
        p = f"{ipath}{i}]"
        duration = _req_duration_prop(iv, T_DURATION, p)
        dts = _child(iv, T_DTSTART)
        if dts is not None:
            dtstart = _dtstart_of(dts, p + "/dtstart")
        else:
            try:
                dtstart = start + offset
            except OverflowError:
                raise _out_of_range(p + "/dtstart") from None
        interval: dict[str, Any] = {"dtstart": dtstart, "duration": duration}
        uid = _child(iv, T_UID)
        if uid is not None:
            interval["uid"] = _req_text(uid, T_TEXT, p + "/uid")
        interval["signal_payload"] = _payload_float(_req(iv, T_SIGNAL_PAYLOAD, p), p + "/signalPayload")
        intervals.append(interval)
        try:
            offset += duration
        except OverflowError:
            raise _out_of_range(p + "/duration") from None
    signal: dict[str, Any] = {
        "signal_name": _req_text(sig, T_SIGNAL_NAME, path),
        "signal_type": _req_text(sig, T_SIGNAL_TYPE, path),
        "signal_id": _req_text(sig, T_SIGNAL_ID, path),
    }
    cv = _child(sig, T_CURRENT_VALUE)
    if cv is not None:
        signal["current_value"] = _payload_float(cv, path + "/currentValue")
    signal["intervals"] = intervals
    meas = _opt_measurement(sig, path)
    if meas is not None:
        signal["measurement"] = meas
    tgt = _child(sig, T_EI_TARGET)
    if tgt is not None:
        signal["targets"], signal["targets_by_type"] = _targets(tgt, path + "/eiTarget")
    return signal


def _event_error(oadr_event: _Element, exc: MessageError, path: str) -> m.EventError:
    """The :class:`~fleetven.openadr.model.EventError` for an ``oadr:oadrEvent`` (at ``path``) that raised ``exc``.

    The event's ``eventID`` and ``modificationNumber`` are read again on their
    own, best-effort, from ``eiEvent/eventDescriptor``: ``None`` when absent
    (an empty ``eventID`` too) or, for the number, not an integer.
    """
    event_id: str | None = None
    modification_number: int | None = None
    ei_event = _child(oadr_event, T_EI_EVENT)
    desc = _child(ei_event, T_EVENT_DESCRIPTOR) if ei_event is not None else None
    if desc is not None:
        event_id = _opt_text(desc, T_EVENT_ID)
        mn = _child(desc, T_MODIFICATION_NUMBER)
        if mn is not None:
            try:
                modification_number = _int(_text(mn), path + "/eiEvent/eventDescriptor/modificationNumber")
            except InvalidValue:
                pass
    return m.EventError(
        response_code=exc.response_code,
        description=str(exc),
        path=exc.fields.get("path"),
        event_id=event_id,
        modification_number=modification_number,
    )


def _distribute_event(el: _Element, path: str) -> m.DistributeEvent:
    """``oadr:oadrDistributeEvent``; an event that cannot be read becomes an error, not a failure.

    A :class:`~fleetven.exceptions.MessageError` raised while reading one
    ``oadrEvent`` leaves that event out of ``events`` and appends an
    :class:`~fleetven.openadr.model.EventError` to ``errors`` (rules 19 and 48:
    the VEN answers each event with its own code). Errors outside the events
    (``requestID``, ``vtnID``, ``eiResponse``) fail the whole message.
    """
    r = _child(el, T_EI_RESPONSE)
    request_id = _req_text(el, T_REQUEST_ID, path)
    vtn_id = _req_text(el, T_VTN_ID, path)
    epath = path + "/oadrEvent["
    events: list[m.Event] = []
    errors: list[m.EventError] = []
    for i, ev in enumerate(el.iterchildren(T_OADR_EVENT), 1):
        p = f"{epath}{i}]"
        try:
            events.append(_event(ev, p))
        except MessageError as exc:
            errors.append(_event_error(ev, exc, p))
    return m.DistributeEvent(
        request_id=request_id,
        vtn_id=vtn_id,
        events=events,
        response=_response(r, path + "/eiResponse") if r is not None else None,
        errors=errors,
    )


def _request_event(el: _Element, path: str) -> m.RequestEvent:
    body = _req(el, T_EI_REQUEST_EVENT, path)
    path += "/eiRequestEvent"
    return m.RequestEvent(
        request_id=_req_text(body, T_REQUEST_ID, path),
        ven_id=_req_text(body, T_VEN_ID, path),
        reply_limit=_opt_int(body, T_REPLY_LIMIT, path),
    )


def _created_event(el: _Element, path: str) -> m.CreatedEvent:
    body = _req(el, T_EI_CREATED_EVENT, path)
    path += "/eiCreatedEvent"
    response = _ei_response(body, path)
    responses: list[m.EventResponse] = []
    ers = _child(body, T_EVENT_RESPONSES)
    if ers is not None:
        rpath = path + "/eventResponses/eventResponse["
        for i, er in enumerate(ers.iterchildren(T_EVENT_RESPONSE), 1):
            p = f"{rpath}{i}]"
            q = _req(er, T_QUALIFIED_EVENT_ID, p)
            qp = p + "/qualifiedEventID"
            opt_type = _req_text(er, T_OPT_TYPE, p)
            if opt_type not in OPT_TYPES:
                raise _bad("optType", opt_type, p + "/optType")
            responses.append(
                m.EventResponse(
                    response_code=_req_int(er, T_RESPONSE_CODE, p),
                    request_id=_req_text(er, T_REQUEST_ID, p),
                    event_id=_req_text(q, T_EVENT_ID, qp),
                    modification_number=_req_int(q, T_MODIFICATION_NUMBER, qp),
                    opt_type=opt_type,
                    response_description=_opt_text(er, T_RESPONSE_DESCRIPTION),
                )
            )
    return m.CreatedEvent(response=response, ven_id=_req_text(body, T_VEN_ID, path), event_responses=responses)


# ------------------------------------------------------------------ registration, poll, response


def _query_registration(el: _Element, path: str) -> m.QueryRegistration:
    return m.QueryRegistration(request_id=_req_text(el, T_REQUEST_ID, path))


def _create_party_registration(el: _Element, path: str) -> m.CreatePartyRegistration:
    pull = _opt_bool(el, T_HTTP_PULL_MODEL, path)
    return m.CreatePartyRegistration(
        request_id=_req_text(el, T_REQUEST_ID, path),
        registration_id=_opt_text(el, T_REGISTRATION_ID),
        ven_id=_opt_text(el, T_VEN_ID),
        profile_name=_req_text(el, T_PROFILE_NAME, path),
        transport_name=_req_text(el, T_TRANSPORT_NAME, path),
        transport_address=_opt_text(el, T_TRANSPORT_ADDRESS),
        report_only=_req_bool(el, T_REPORT_ONLY, path),
        xml_signature=_req_bool(el, T_XML_SIGNATURE, path),
        ven_name=_opt_text(el, T_VEN_NAME),
        http_pull_model=True if pull is None else pull,
    )


def _created_party_registration(el: _Element, path: str) -> m.CreatedPartyRegistration:
    response = _ei_response(el, path)
    profiles: list[m.Profile] = []
    ps = _child(el, T_PROFILES)
    if ps is not None:
        ppath = path + "/oadrProfiles/oadrProfile["
        for i, p in enumerate(ps.iterchildren(T_PROFILE), 1):
            pp = f"{ppath}{i}]"
            transports: list[str] = []
            ts = _child(p, T_TRANSPORTS)
            if ts is not None:
                tpath = pp + "/oadrTransports/oadrTransport["
                for j, t in enumerate(ts.iterchildren(T_TRANSPORT), 1):
                    transports.append(_req_text(t, T_TRANSPORT_NAME, f"{tpath}{j}]"))
            profiles.append(m.Profile(profile_name=_req_text(p, T_PROFILE_NAME, pp), transports=transports))
    return m.CreatedPartyRegistration(
        response=response,
        registration_id=_opt_text(el, T_REGISTRATION_ID),
        ven_id=_opt_text(el, T_VEN_ID),
        vtn_id=_req_text(el, T_VTN_ID, path),
        profiles=profiles,
        requested_oadr_poll_freq=_opt_duration_prop(el, T_POLL_FREQ, path),
    )


def _cancel_party_registration(el: _Element, path: str) -> m.CancelPartyRegistration:
    return m.CancelPartyRegistration(
        request_id=_req_text(el, T_REQUEST_ID, path),
        registration_id=_req_text(el, T_REGISTRATION_ID, path),
        ven_id=_req_text(el, T_VEN_ID, path),
    )


def _canceled_party_registration(el: _Element, path: str) -> m.CanceledPartyRegistration:
    return m.CanceledPartyRegistration(
        response=_ei_response(el, path),
        registration_id=_opt_text(el, T_REGISTRATION_ID),
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _request_reregistration(el: _Element, path: str) -> m.RequestReregistration:
    return m.RequestReregistration(ven_id=_req_text(el, T_VEN_ID, path))


def _poll(el: _Element, path: str) -> m.Poll:
    return m.Poll(ven_id=_req_text(el, T_VEN_ID, path))


def _response_message(el: _Element, path: str) -> m.ResponseMessage:
    return m.ResponseMessage(response=_ei_response(el, path), ven_id=_opt_text(el, T_VEN_ID))


# ------------------------------------------------------------------ reports


def _sampling_rate(el: _Element, path: str) -> m.SamplingRate:
    """``oadr:oadrSamplingRate``; ``path`` is ``el``'s path."""
    return m.SamplingRate(
        min_period=_duration(_req_text(el, T_MIN_PERIOD, path), path + "/oadrMinPeriod"),
        max_period=_duration(_req_text(el, T_MAX_PERIOD, path), path + "/oadrMaxPeriod"),
        on_change=_req_bool(el, T_ON_CHANGE, path),
    )


def _report_description(el: _Element, path: str) -> m.ReportDescription:
    subject: list[m.Target] = []
    source: list[m.Target] = []
    rs = _child(el, T_REPORT_SUBJECT)
    if rs is not None:
        subject = _targets(rs, path + "/reportSubject")[0]
    ds = _child(el, T_REPORT_DATA_SOURCE)
    if ds is not None:
        source = _targets(ds, path + "/reportDataSource")[0]
    sr = _child(el, T_SAMPLING_RATE)
    return m.ReportDescription(
        r_id=_req_text(el, T_R_ID, path),
        report_type=_req_text(el, T_REPORT_TYPE, path),
        reading_type=_req_text(el, T_READING_TYPE, path),
        report_subject=subject,
        report_data_source=source,
        market_context=_opt_text(el, T_MARKET_CONTEXT),
        measurement=_opt_measurement(el, path),
        sampling_rate=_sampling_rate(sr, path + "/oadrSamplingRate") if sr is not None else None,
    )


def _resource_status(el: _Element, path: str) -> m.ResourceStatus:
    """``oadr:oadrPayloadResourceStatus``; ``path`` is ``el``'s path."""
    lcs: dict[str, dict[str, float]] | None = None
    lc = _child(el, T_LOAD_CONTROL_STATE)
    if lc is not None:
        lcs = {}
        lpath = path + "/oadrLoadControlState/"
        for kind in LOAD_CONTROL_KINDS:
            k = _child(lc, _t(OADR, kind))
            if k is None:
                continue
            kpath = lpath + kind
            values: dict[str, float] = {}
            for vname in LOAD_CONTROL_VALUES:
                v = _child(k, _t(OADR, vname))
                if v is not None:
                    values[vname] = _float(_text(v), kpath + "/" + vname)
            if "oadrCurrent" not in values:
                raise _missing(kpath + "/oadrCurrent")
            lcs[kind] = values
    return m.ResourceStatus(
        online=_req_bool(el, T_ONLINE, path),
        manual_override=_req_bool(el, T_MANUAL_OVERRIDE, path),
        load_control_state=lcs,
    )


def _report_payload(el: _Element, path: str) -> m.ReportPayload:
    """``oadr:oadrReportPayload``; ``path`` is ``el``'s path."""
    r_id = _req_text(el, T_R_ID, path)
    value: float | m.ResourceStatus
    pf = _child(el, T_PAYLOAD_FLOAT)
    if pf is not None:
        value = _float(_req_text(pf, T_VALUE, path + "/payloadFloat"), path + "/payloadFloat/value")
    else:
        rs = _child(el, T_RESOURCE_STATUS)
        if rs is None:
            raise _missing(path + "/payloadFloat")
        value = _resource_status(rs, path + "/oadrPayloadResourceStatus")
    acc = _child(el, T_ACCURACY)
    return m.ReportPayload(
        r_id=r_id,
        value=value,
        confidence=_opt_int(el, T_CONFIDENCE, path),
        accuracy=_float(_text(acc), path + "/accuracy") if acc is not None else None,
        data_quality=_opt_text(el, T_DATA_QUALITY),
    )


def _report(el: _Element, path: str) -> m.Report:
    """``oadr:oadrReport``; ``path`` is ``el``'s path.

    An interval without its own ``dtstart`` starts at the report's ``dtstart``
    plus the durations of the intervals before it; when that cannot be
    computed (no report ``dtstart``, or an earlier interval without a
    duration) the interval's ``dtstart`` is missing.
    """
    dts = _child(el, T_DTSTART)
    dtstart = _dtstart_of(dts, path + "/dtstart") if dts is not None else None
    descriptions = [
        _report_description(d, f"{path}/oadrReportDescription[{i}]")
        for i, d in enumerate(el.iterchildren(T_REPORT_DESCRIPTION), 1)
    ]
    intervals: list[m.ReportInterval] = []
    ivs = _child(el, T_INTERVALS)
    if ivs is not None:
        ipath = path + "/intervals/interval["
        offset: timedelta | None = timedelta(0)
        for i, iv in enumerate(ivs.iterchildren(T_INTERVAL), 1):
            p = f"{ipath}{i}]"
            d = _child(iv, T_DTSTART)
            if d is not None:
                istart = _dtstart_of(d, p + "/dtstart")
            elif dtstart is not None and offset is not None:
                try:
                    istart = dtstart + offset
                except OverflowError:
                    raise _out_of_range(p + "/dtstart") from None
            else:
                raise _missing(p + "/dtstart")
            duration = _opt_duration_prop(iv, T_DURATION, p)
            if duration is None:
                offset = None
            elif offset is not None:
                try:
                    offset += duration
                except OverflowError:
                    raise _out_of_range(p + "/duration") from None
            uid = _child(iv, T_UID)
            payloads = [
                _report_payload(rp, f"{p}/oadrReportPayload[{j}]")
                for j, rp in enumerate(iv.iterchildren(T_REPORT_PAYLOAD), 1)
            ]
            intervals.append(
                m.ReportInterval(
                    dtstart=istart,
                    payloads=payloads,
                    duration=duration,
                    uid=_req_text(uid, T_TEXT, p + "/uid") if uid is not None else None,
                )
            )
    name = _opt_text(el, T_REPORT_NAME)
    return m.Report(
        report_specifier_id=_req_text(el, T_REPORT_SPECIFIER_ID, path),
        report_name=name if name is not None else "",
        created_date_time=_req_datetime(el, T_CREATED_DATE_TIME, path),
        report_request_id=_req_text(el, T_REPORT_REQUEST_ID, path),
        report_id=_opt_text(el, T_EI_REPORT_ID),
        dtstart=dtstart,
        duration=_opt_duration_prop(el, T_DURATION, path),
        report_descriptions=descriptions,
        intervals=intervals,
    )


def _reports(el: _Element, path: str) -> list[m.Report]:
    return [_report(r, f"{path}/oadrReport[{i}]") for i, r in enumerate(el.iterchildren(T_OADR_REPORT), 1)]


def _report_request(el: _Element, path: str) -> m.ReportRequest:
    """``oadr:oadrReportRequest``; ``path`` is ``el``'s path."""
    rrid = _req_text(el, T_REPORT_REQUEST_ID, path)
    spec = _req(el, T_REPORT_SPECIFIER, path)
    sp = path + "/reportSpecifier"
    start: datetime | None = None
    duration: timedelta | None = None
    ri = _child(spec, T_REPORT_INTERVAL)
    if ri is not None:
        rip = sp + "/reportInterval"
        props = _req(ri, T_PROPERTIES, rip)
        rip += "/properties"
        start = _req_dtstart(props, rip)
        duration = _opt_duration_prop(props, T_DURATION, rip)
    payloads: list[m.SpecifierPayload] = []
    for i, p in enumerate(spec.iterchildren(T_SPECIFIER_PAYLOAD), 1):
        pp = f"{sp}/specifierPayload[{i}]"
        payloads.append(
            m.SpecifierPayload(
                r_id=_req_text(p, T_R_ID, pp),
                reading_type=_req_text(p, T_READING_TYPE, pp),
                measurement=_opt_measurement(p, pp),
            )
        )
    return m.ReportRequest(
        report_request_id=rrid,
        report_specifier=m.ReportSpecifier(
            report_specifier_id=_req_text(spec, T_REPORT_SPECIFIER_ID, sp),
            granularity=_req_duration_prop(spec, T_GRANULARITY, sp),
            specifier_payloads=payloads,
            report_back_duration=_opt_duration_prop(spec, T_REPORT_BACK_DURATION, sp),
            report_interval_start=start,
            report_interval_duration=duration,
        ),
    )


def _report_requests(el: _Element, path: str) -> list[m.ReportRequest]:
    return [
        _report_request(r, f"{path}/oadrReportRequest[{i}]")
        for i, r in enumerate(el.iterchildren(T_REPORT_REQUEST), 1)
    ]


def _pending_reports(el: _Element, path: str) -> list[str]:
    pr = _req(el, T_PENDING_REPORTS, path)
    return [_text(r) for r in pr.iterchildren(T_REPORT_REQUEST_ID)]


def _register_report(el: _Element, path: str) -> m.RegisterReport:
    return m.RegisterReport(
        request_id=_req_text(el, T_REQUEST_ID, path),
        reports=_reports(el, path),
        ven_id=_opt_text(el, T_VEN_ID),
        report_request_id=_opt_text(el, T_REPORT_REQUEST_ID),
    )


def _registered_report(el: _Element, path: str) -> m.RegisteredReport:
    return m.RegisteredReport(
        response=_ei_response(el, path),
        report_requests=_report_requests(el, path),
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _create_report(el: _Element, path: str) -> m.CreateReport:
    return m.CreateReport(
        request_id=_req_text(el, T_REQUEST_ID, path),
        report_requests=_report_requests(el, path),
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _created_report(el: _Element, path: str) -> m.CreatedReport:
    return m.CreatedReport(
        response=_ei_response(el, path),
        pending_reports=_pending_reports(el, path),
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _update_report(el: _Element, path: str) -> m.UpdateReport:
    return m.UpdateReport(
        request_id=_req_text(el, T_REQUEST_ID, path),
        reports=_reports(el, path),
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _cancel_report(el: _Element, path: str) -> m.CancelReport:
    ids = [_text(r) for r in el.iterchildren(T_REPORT_REQUEST_ID)]
    if not ids:
        raise _missing(path + "/reportRequestID")
    return m.CancelReport(
        request_id=_req_text(el, T_REQUEST_ID, path),
        report_request_ids=ids,
        report_to_follow=_req_bool(el, T_REPORT_TO_FOLLOW, path),
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _updated_report(el: _Element, path: str) -> m.UpdatedReport:
    response = _ei_response(el, path)
    cr = _child(el, T_OADR_CANCEL_REPORT)
    return m.UpdatedReport(
        response=response,
        cancel_report=_cancel_report(cr, path + "/oadrCancelReport") if cr is not None else None,
        ven_id=_opt_text(el, T_VEN_ID),
    )


def _canceled_report(el: _Element, path: str) -> m.CanceledReport:
    return m.CanceledReport(
        response=_ei_response(el, path),
        pending_reports=_pending_reports(el, path),
        ven_id=_opt_text(el, T_VEN_ID),
    )


# ------------------------------------------------------------------ opt


def _create_opt(el: _Element, path: str) -> m.CreateOpt:
    opt_type = _req_text(el, T_OPT_TYPE, path)
    if opt_type not in OPT_TYPES:
        raise _bad("optType", opt_type, path + "/optType")
    windows: list[m.AvailableWindow] | None = None
    va = _child(el, T_VAVAILABILITY)
    if va is not None:
        vp = path + "/vavailability"
        comps = _req(va, T_COMPONENTS, vp)
        vp += "/components/available["
        windows = []
        for i, a in enumerate(comps.iterchildren(T_AVAILABLE), 1):
            ap = f"{vp}{i}]"
            props = _req(a, T_PROPERTIES, ap)
            ap += "/properties"
            windows.append(
                m.AvailableWindow(dtstart=_req_dtstart(props, ap), duration=_req_duration_prop(props, T_DURATION, ap))
            )
    event_id: str | None = None
    modification_number: int | None = None
    q = _child(el, T_QUALIFIED_EVENT_ID)
    if q is not None:
        qp = path + "/qualifiedEventID"
        event_id = _req_text(q, T_EVENT_ID, qp)
        modification_number = _req_int(q, T_MODIFICATION_NUMBER, qp)
    targets = _targets(_req(el, T_EI_TARGET, path), path + "/eiTarget")[0]
    mrid: str | None = None
    dc = _child(el, T_DEVICE_CLASS)
    if dc is not None:
        eda = _child(dc, T_END_DEVICE_ASSET)
        if eda is not None:
            mrid = _req_text(eda, T_MRID, path + "/oadrDeviceClass/endDeviceAsset[1]")
    return m.CreateOpt(
        opt_id=_req_text(el, T_OPT_ID, path),
        opt_type=opt_type,
        opt_reason=_req_text(el, T_OPT_REASON, path),
        ven_id=_req_text(el, T_VEN_ID, path),
        created_date_time=_req_datetime(el, T_CREATED_DATE_TIME, path),
        request_id=_req_text(el, T_REQUEST_ID, path),
        market_context=_opt_text(el, T_MARKET_CONTEXT),
        vavailability=windows,
        event_id=event_id,
        modification_number=modification_number,
        targets=targets,
        signal_target_mrid=mrid,
    )


def _created_opt(el: _Element, path: str) -> m.CreatedOpt:
    return m.CreatedOpt(response=_ei_response(el, path), opt_id=_req_text(el, T_OPT_ID, path))


def _cancel_opt(el: _Element, path: str) -> m.CancelOpt:
    return m.CancelOpt(
        request_id=_req_text(el, T_REQUEST_ID, path),
        opt_id=_req_text(el, T_OPT_ID, path),
        ven_id=_req_text(el, T_VEN_ID, path),
    )


def _canceled_opt(el: _Element, path: str) -> m.CanceledOpt:
    return m.CanceledOpt(response=_ei_response(el, path), opt_id=_req_text(el, T_OPT_ID, path))


# ------------------------------------------------------------------ dispatch

#: One extractor per message element tag. Each takes the message element and
#: its path (the message's local name) and returns the model object.
EXTRACTORS: dict[str, Callable[[_Element, str], Any]] = {
    _t(OADR, "oadrQueryRegistration"): _query_registration,
    _t(OADR, "oadrCreatePartyRegistration"): _create_party_registration,
    _t(OADR, "oadrCreatedPartyRegistration"): _created_party_registration,
    _t(OADR, "oadrCancelPartyRegistration"): _cancel_party_registration,
    _t(OADR, "oadrCanceledPartyRegistration"): _canceled_party_registration,
    _t(OADR, "oadrRequestReregistration"): _request_reregistration,
    _t(OADR, "oadrRequestEvent"): _request_event,
    _t(OADR, "oadrDistributeEvent"): _distribute_event,
    _t(OADR, "oadrCreatedEvent"): _created_event,
    _t(OADR, "oadrRegisterReport"): _register_report,
    _t(OADR, "oadrRegisteredReport"): _registered_report,
    _t(OADR, "oadrCreateReport"): _create_report,
    _t(OADR, "oadrCreatedReport"): _created_report,
    _t(OADR, "oadrUpdateReport"): _update_report,
    _t(OADR, "oadrUpdatedReport"): _updated_report,
    _t(OADR, "oadrCancelReport"): _cancel_report,
    _t(OADR, "oadrCanceledReport"): _canceled_report,
    _t(OADR, "oadrCreateOpt"): _create_opt,
    _t(OADR, "oadrCreatedOpt"): _created_opt,
    _t(OADR, "oadrCancelOpt"): _cancel_opt,
    _t(OADR, "oadrCanceledOpt"): _canceled_opt,
    _t(OADR, "oadrPoll"): _poll,
    _t(OADR, "oadrResponse"): _response_message,
}


def _describe(el: _Element) -> str:
    """A node's name for an error text: ``{ns}local`` for elements, else its kind."""
    tag = el.tag
    return tag if isinstance(tag, str) else type(el).__name__.lstrip("_")


def message_element(root: _Element) -> _Element:
    """The message element inside an ``oadrPayload`` root.

    :raises UnknownMessage: the root is not ``{oadr}oadrPayload``.
    :raises InvalidMessage: not exactly one ``oadrSignedObject``, or it does
        not hold exactly one element.
    """
    if root.tag != T_PAYLOAD:
        raise UnknownMessage(
            f"not an OpenADR 2.0b message: the root element is {_describe(root)}, expected {T_PAYLOAD}",
            path=_describe(root),
        )
    signed: _Element | None = None
    for c in root.iterchildren(T_SIGNED_OBJECT):
        if signed is not None:
            raise InvalidMessage("oadrPayload holds more than one oadrSignedObject",
                                 path="oadrPayload/oadrSignedObject")
        signed = c
    if signed is None:
        raise InvalidMessage("missing required element oadrPayload/oadrSignedObject",
                             path="oadrPayload/oadrSignedObject")
    msg: _Element | None = None
    n = 0
    for c in signed:
        if isinstance(c.tag, str):
            n += 1
            if msg is None:
                msg = c
    if msg is None:
        raise InvalidMessage("oadrSignedObject holds no message", path="oadrPayload/oadrSignedObject")
    if n > 1:
        raise InvalidMessage(
            f"oadrSignedObject holds {n} elements, expected exactly one message",
            path="oadrPayload/oadrSignedObject",
        )
    return msg


def extract(root: _Element) -> Any:
    """Turn a parsed ``oadrPayload`` element into its model object.

    :param root: the ``{http://openadr.org/oadr-2.0b/2012/07}oadrPayload``
        element, as :func:`fleetven.messages.parse.parse_document` returns it.
    :returns: one of the classes in :data:`fleetven.openadr.model.MESSAGE_TYPES`.
    :raises UnknownMessage: the root or the message element is not OpenADR 2.0b.
    :raises InvalidMessage: a required element is missing or misplaced.
    :raises InvalidValue: a value is not of its type.
    """
    el = message_element(root)
    tag: str = el.tag
    fn = EXTRACTORS.get(tag)
    if fn is None:
        raise UnknownMessage(f"unknown message element {tag} in oadrSignedObject", path="oadrPayload/oadrSignedObject",
                             message_type=_local(tag))
    return fn(el, _local(tag))
