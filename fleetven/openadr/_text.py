"""The value writers the ``oadrEvent`` builders share: checked, escaped XML text pieces.

:mod:`fleetven.messages.build` and both twins of its event builder (``fleetven._fast``'s ``build``)
write values with these functions, which raise :class:`_Bad` when a value cannot be
written; the builder turns that into a :class:`~fleetven.exceptions.BuildError` with the element path.
They live here, below :mod:`fleetven._fast`, so that no twin imports :mod:`fleetven.messages`.
Pure functions and read-only tables; internal to fleetven.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NoReturn

from fleetven.exceptions import InvalidValue
from fleetven.openadr import model as m
from fleetven.openadr.timefmt import format_duration

UTC = timezone.utc

# ------------------------------------------------------------------ checks


_UNSET: Any = object()  # a sentinel no value is identical to


class _Bad(Exception):
    """Internal: a value cannot be written. ``where`` is relative to the open elements."""

    __slots__ = ("where", "reason")

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason


# Characters XML 1.0 cannot carry: C0 controls other than \t \n \r, surrogate
# code points (a str holding one cannot be UTF-8 encoded), U+FFFE and U+FFFF.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NCNAME = re.compile(r"[A-Za-z_][\w.\-]*", re.ASCII)


def _wrong(v: Any, where: str, expected: str) -> NoReturn:
    if v is None:
        raise _Bad(where, "is missing (required)")
    raise _Bad(where, f"must be {expected}, not {type(v).__name__} {v!r:.60}")


def _s(v: Any, where: str) -> str:
    """A string, checked and escaped for element content."""
    if type(v) is not str:
        if not isinstance(v, str):
            _wrong(v, where, "a str")
        v = str.__str__(v)  # str enums and other subclasses: their plain value
    if not v.isprintable() and _BAD_CHARS.search(v) is not None:
        c = _BAD_CHARS.search(v).group()  # type: ignore[union-attr]
        raise _Bad(where, f"holds the character U+{ord(c):04X}, which XML 1.0 does not allow")
    text: str = v
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    return text


def _dt(v: Any, where: str) -> str:
    """An aware datetime, as UTC with ``Z``."""
    if not isinstance(v, datetime):
        _wrong(v, where, "a datetime")
    tz = v.tzinfo
    if tz is not UTC:
        if tz is None or v.utcoffset() is None:
            raise _Bad(where, f"is a naive datetime ({v!r}): give a timezone-aware datetime")
        v = v.astimezone(UTC)
    text: str = v.isoformat()
    return text[:-6] + "Z"


def _make_durations() -> dict[timedelta, str]:
    table = {timedelta(seconds=s): format_duration(timedelta(seconds=s)) for s in range(61)}
    for minutes in range(1, 24 * 60 + 1):
        td = timedelta(minutes=minutes)
        table[td] = format_duration(td)
    for days in range(1, 8):
        td = timedelta(days=days)
        table[td] = format_duration(td)
    return table


#: Formatted durations for whole seconds up to a minute, whole minutes up to
#: a day and whole days up to a week; read-only after import.
_DURATIONS: dict[timedelta, str] = _make_durations()


#: "HH:MM" by minute of the day, and ":SS" by second: the time of day of a
#: whole-second UTC datetime without formatting calls (read-only).
_HM: tuple[str, ...] = tuple(f"{h:02d}:{mi:02d}" for h in range(24) for mi in range(60))
_SS: tuple[str, ...] = tuple(f":{sec:02d}" for sec in range(60))


def _dur(v: Any, where: str) -> str:
    """A timedelta, as an ISO 8601 duration."""
    if type(v) is timedelta:
        s = _DURATIONS.get(v)
        if s is not None:
            return s
    elif not isinstance(v, timedelta):
        _wrong(v, where, "a timedelta")
    try:
        return format_duration(v)
    except InvalidValue:
        raise _Bad(where, f"duration {v!r} has a fraction of a second; OpenADR durations are whole seconds") from None


def _f(v: Any, where: str) -> str:
    """A number for an ``xs:float`` element."""
    t = type(v)
    if t is float:
        if v - v != 0.0:
            raise _Bad(where, f"must be a finite number, not {v!r}")
        return repr(v)
    if t is int:
        return int.__repr__(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _wrong(v, where, "a number (int or float)")
    if isinstance(v, int):
        return int.__repr__(int(v))
    return _f(float(v), where)


def _dec(v: Any, where: str) -> str:
    """A number for an ``xs:decimal`` element (no exponent)."""
    s = _f(v, where)
    if "e" in s:
        s = format(Decimal(s), "f")
    return s


def _u(v: Any, where: str, top: int = 4294967295) -> str:
    """An ``xs:unsignedInt`` (or a narrower range)."""
    if type(v) is not int:
        if isinstance(v, bool) or not isinstance(v, int):
            _wrong(v, where, "an int")
        v = int(v)
    if v < 0 or v > top:
        raise _Bad(where, f"must be between 0 and {top}, not {v}")
    return int.__repr__(v)


def _b(v: Any, where: str) -> str:
    """A boolean."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    _wrong(v, where, "a bool")


def _code(v: Any, where: str) -> str:
    """A three-digit response code."""
    if type(v) is int and 100 <= v <= 999:
        return int.__repr__(v)
    if isinstance(v, bool):
        _wrong(v, where, "an int response code")
    if isinstance(v, int) and 0 <= v <= 999:
        return f"{int(v):03d}"
    if isinstance(v, str) and len(v) == 3 and v.isascii() and v.isdigit():
        return str.__str__(v)
    if isinstance(v, int):
        raise _Bad(where, f"must be a three-digit response code, not {v}")
    _wrong(v, where, "an int response code")


def _enum(v: Any, where: str, allowed: frozenset[str], extensible: bool) -> str:
    """A string from an enumeration; ``x-`` names too when ``extensible``."""
    s = _s(v, where)
    if s in allowed or (extensible and s.startswith("x-") and len(s) > 2 and not s[2].isspace()):
        return s
    raise _Bad(where, f"{s!r} is not one of {', '.join(sorted(allowed))}" + (" or an x- name" if extensible else ""))


def _seq(v: Any, where: str) -> list[Any] | tuple[Any, ...]:
    """A list (or tuple) of things; ``None`` is empty."""
    if type(v) is list or type(v) is tuple:
        return v
    if v is None:
        return ()
    if isinstance(v, (list, tuple)):
        return v
    raise _Bad(where, f"must be a list, not {type(v).__name__}")


def _dict(v: Any, where: str) -> dict[str, Any]:
    if type(v) is dict:
        return v
    if isinstance(v, dict):
        return v
    _wrong(v, where, "a dict")


_EVENT_STATUS = frozenset({"none", "far", "near", "active", "completed", "cancelled"})
_RESPONSE_REQUIRED = frozenset({"always", "never"})
_SIGNAL_TYPES = frozenset({
    "delta", "level", "multiplier", "price", "priceMultiplier", "priceRelative", "setpoint",
    "x-loadControlCapacity", "x-loadControlLevelOffset", "x-loadControlPercentOffset", "x-loadControlSetpoint",
})
_SIGNAL_NAMES = frozenset({
    "SIMPLE", "simple", "ELECTRICITY_PRICE", "ENERGY_PRICE", "DEMAND_CHARGE", "BID_PRICE", "BID_LOAD",
    "BID_ENERGY", "CHARGE_STATE", "LOAD_DISPATCH", "LOAD_CONTROL",
})
_OPT_TYPES = frozenset({"optIn", "optOut"})
_OPT_REASONS = frozenset({
    "economic", "emergency", "mustRun", "notParticipating", "outageRunStatus", "overrideStatus", "participating",
    "x-schedule",
})
_PROFILES = frozenset({"2.0a", "2.0b"})
_TRANSPORTS = frozenset({"simpleHttp", "xmpp"})
_SCALES = frozenset({"p", "n", "micro", "m", "c", "d", "k", "M", "G", "T", "none"})
_REPORT_NAMES = frozenset({
    "METADATA_HISTORY_USAGE", "HISTORY_USAGE", "METADATA_HISTORY_GREENBUTTON", "HISTORY_GREENBUTTON",
    "METADATA_TELEMETRY_USAGE", "TELEMETRY_USAGE", "METADATA_TELEMETRY_STATUS", "TELEMETRY_STATUS",
})
_REPORT_TYPES = frozenset({
    "reading", "usage", "demand", "setPoint", "deltaUsage", "deltaSetPoint", "deltaDemand", "baseline",
    "deviation", "avgUsage", "avgDemand", "operatingState", "upRegulationCapacityAvailable",
    "downRegulationCapacityAvailable", "regulationSetpoint", "storedEnergy", "targetEnergyStorage",
    "availableEnergyStorage", "price", "level", "powerFactor", "percentUsage", "percentDemand", "x-resourceStatus",
})
_READING_TYPES = frozenset({
    "Direct Read", "Net", "Allocated", "Estimated", "Summed", "Derived", "Mean", "Peak", "Hybrid", "Contract",
    "Projected", "x-RMS", "x-notApplicable",
})
_DATA_QUALITY = frozenset({
    "No Quality - No Value", "No New Value - Previous Value Used", "Quality Bad - Non Specific",
    "Quality Bad - Configuration Error", "Quality Bad - Not Connected", "Quality Bad - Device Failure",
    "Quality Bad - Sensor Failure", "Quality Bad - Last Known Value", "Quality Bad - Comm Failure",
    "Quality Bad - Out of Service", "Quality Uncertain - Non Specific", "Quality Uncertain - Last Usable Value",
    "Quality Uncertain - Sensor Not Accurate", "Quality Uncertain - EU Units Exceeded",
    "Quality Uncertain - Sub Normal", "Quality Good - Non Specific", "Quality Good - Local Override",
    "Quality Limit - Field/Not", "Quality Limit - Field/Low", "Quality Limit - Field/High",
    "Quality Limit - Field/Constant",
})


# Measurements (emix:itemBase substitution group): local name -> (prefix, kind).
# kind "plain": itemDescription, itemUnits, scale:siScaleCode (in the prefix's namespace);
# "power": the same plus power:powerAttributes; "pulse": itemDescription, itemUnits, oadr:pulseFactor.
_MEASUREMENTS: dict[str, tuple[str, str]] = {
    "voltage": ("power", "plain"),
    "energyApparent": ("power", "plain"),
    "energyReactive": ("power", "plain"),
    "energyReal": ("power", "plain"),
    "powerApparent": ("power", "power"),
    "powerReactive": ("power", "power"),
    "powerReal": ("power", "power"),
    "customUnit": ("oadr", "plain"),
    "current": ("oadr", "plain"),
    "currency": ("oadr", "plain"),
    "currencyPerKWh": ("oadr", "plain"),
    "currencyPerKW": ("oadr", "plain"),
    "currencyPerThm": ("oadr", "plain"),
    "frequency": ("oadr", "plain"),
    "Therm": ("oadr", "plain"),
    "temperature": ("oadr", "plain"),
    "pulseCount": ("oadr", "pulse"),
}


def _measurement(v: Any, parent: str) -> str:
    """An ``emix:itemBase`` element for a :class:`~fleetven.openadr.model.Measurement`.

    ``parent`` is the relative path of the parent element, ending in ``/`` (or empty).
    """
    if type(v) is not m.Measurement:
        _wrong(v, parent + "itemBase", "a Measurement")
    name = v.name
    spec = _MEASUREMENTS.get(name) if type(name) is str else None
    if spec is None:
        raise _Bad(parent + "itemBase", f"unknown measurement {name!r}; known: {', '.join(sorted(_MEASUREMENTS))}")
    p, kind = spec
    w = parent + name
    desc = _s(v.description, f"{w}/itemDescription")
    unit = _s(v.unit, f"{w}/itemUnits")
    head = f"<{p}:{name}><{p}:itemDescription>{desc}</{p}:itemDescription><{p}:itemUnits>{unit}</{p}:itemUnits>"
    if kind == "pulse":
        return f"{head}<oadr:pulseFactor>{_f(v.pulse_factor, f'{w}/pulseFactor')}</oadr:pulseFactor></{p}:{name}>"
    scale = _enum(v.scale, f"{w}/siScaleCode", _SCALES, False)
    if kind == "plain":
        return f"{head}<scale:siScaleCode>{scale}</scale:siScaleCode></{p}:{name}>"
    pa = _dict(v.power_attributes, f"{w}/powerAttributes")
    return (
        f"{head}<scale:siScaleCode>{scale}</scale:siScaleCode><power:powerAttributes>"
        f"<power:hertz>{_dec(pa.get('hertz'), f'{w}/powerAttributes/hertz')}</power:hertz>"
        f"<power:voltage>{_dec(pa.get('voltage'), f'{w}/powerAttributes/voltage')}</power:voltage>"
        f"<power:ac>{_b(pa.get('ac'), f'{w}/powerAttributes/ac')}</power:ac>"
        f"</power:powerAttributes></{p}:{name}>"
    )


# Target types in the order of the schema's EiTargetType sequence.
_TARGET_ORDER: dict[str, int] = {
    name: rank
    for rank, name in enumerate((
        "aggregated_p_node", "end_device_asset", "meter_asset", "p_node", "service_area",
        "service_delivery_point", "service_location", "transport_interface", "group_id", "group_name",
        "resource_id", "ven_id", "party_id",
    ))
}
_SIMPLE_TARGETS = {
    "group_id": "ei:groupID", "group_name": "ei:groupName", "resource_id": "ei:resourceID",
    "ven_id": "ei:venID", "party_id": "ei:partyID",
}
_MRID_TARGETS = {"end_device_asset": "power:endDeviceAsset", "meter_asset": "power:meterAsset"}
_NODE_TARGETS = {
    "p_node": "power:pnode", "aggregated_p_node": "power:aggregatedPnode",
    "service_delivery_point": "power:serviceDeliveryPoint",
}
_GML_TARGETS = {"service_area": "emix:serviceArea", "service_location": "power:serviceLocation"}


def _sub(v: Any, key: str, where: str) -> Any:
    """``v[key]`` for a structured target value; a bare str is taken as that value."""
    if isinstance(v, str):
        return v
    return _dict(v, where).get(key)


def _gml_id(v: Any, where: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str) or _NCNAME.fullmatch(v) is None:
        raise _Bad(where, f"gml:id must be an XML name (NCName), not {v!r}")
    return f' gml:id="{v}"'


def _target_item(key: str, v: Any, where: str) -> str:
    tag = _SIMPLE_TARGETS.get(key)
    if tag is not None:
        return f"<{tag}>{_s(v, f'{where}/{tag[3:]}')}</{tag}>"
    tag = _MRID_TARGETS.get(key)
    if tag is not None:
        w = f"{where}/{tag[6:]}"
        return f"<{tag}><power:mrid>{_s(_sub(v, 'mrid', w), f'{w}/mrid')}</power:mrid></{tag}>"
    tag = _NODE_TARGETS.get(key)
    if tag is not None:
        w = f"{where}/{tag[6:]}"
        return f"<{tag}><power:node>{_s(_sub(v, 'node', w), f'{w}/node')}</power:node></{tag}>"
    tag = _GML_TARGETS.get(key)
    if tag is not None:
        w = f"{where}/{tag.partition(':')[2]}"
        d = _dict(v, w)
        pos = d.get("pos_list")
        if pos is None:
            raise _Bad(w, f"needs a GML polygon: give {{'pos_list': [float, ...]}} (got keys {sorted(d)})")
        if isinstance(pos, str):
            pos_s = _s(pos, f"{w}/FeatureCollection/location/Polygon/exterior/LinearRing/posList")
        else:
            wp = f"{w}/FeatureCollection/location/Polygon/exterior/LinearRing/posList"
            pos_s = " ".join([_f(x, wp) for x in _seq(pos, wp)])
        fc_id = _gml_id(d.get("feature_collection_id"), f"{w}/FeatureCollection")
        poly_id = _gml_id(d.get("polygon_id"), f"{w}/FeatureCollection/location/Polygon")
        return (
            f"<{tag}><gml:FeatureCollection{fc_id}><gml:location><gml:Polygon{poly_id}><gml:exterior>"
            f"<gml:LinearRing><gml:posList>{pos_s}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
            f"</gml:location></gml:FeatureCollection></{tag}>"
        )
    if key == "transport_interface":
        w = f"{where}/transportInterface"
        d = _dict(v, w)
        return (
            f"<power:transportInterface>"
            f"<power:pointOfReceipt>{_s(d.get('point_of_receipt'), f'{w}/pointOfReceipt')}</power:pointOfReceipt>"
            f"<power:pointOfDelivery>{_s(d.get('point_of_delivery'), f'{w}/pointOfDelivery')}</power:pointOfDelivery>"
            f"</power:transportInterface>"
        )
    raise _Bad(where, f"unknown target type {key!r}; known: {', '.join(sorted(_TARGET_ORDER))}")


def _targets_body(targets: Any, where: str) -> str:
    """The children of an ``EiTargetType`` element, in schema order."""
    targets = _seq(targets, where)
    if not targets:
        return ""
    if len(targets) == 1:
        t = _dict(targets[0], where)
        if len(t) == 1:
            for key, value in t.items():
                return _target_item(key, value, where)
    items: list[tuple[int, str, Any]] = []
    order = _TARGET_ORDER
    for t in targets:
        for key, value in _dict(t, where).items():
            rank = order.get(key)
            if rank is None:
                raise _Bad(where, f"unknown target type {key!r}; known: {', '.join(sorted(order))}")
            items.append((rank, key, value))
    items.sort(key=_first)
    return "".join([_target_item(key, value, where) for _, key, value in items])


def _first(item: tuple[int, str, Any]) -> int:
    return item[0]


def _targets_of(d: dict[str, Any]) -> Any:
    """A target list from an event (or signal) dict: ``targets``, else ``targets_by_type``."""
    targets = d.get("targets")
    if targets is None:
        by_type = d.get("targets_by_type")
        if by_type:
            targets = [{key: value} for key, values in _dict(by_type, "eiTarget").items() for value in values]
    return targets
