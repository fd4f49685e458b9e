"""What report callbacks return, read into what is sent: numbers, ``(datetime, value)`` pairs and
``TELEMETRY_STATUS`` statuses (rule 510), with what was assumed or left out.

Pure functions, no state; used by :class:`~fleetven.ven.reports.ReportEngine` at every sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from fleetven.openadr import model as m

__all__ = ("STATUS_KEYS", "RICHER", "BARE", "PARTIAL", "UNUSABLE", "read_status", "as_pairs", "finite_number")

#: The keys of the dict a ``TELEMETRY_STATUS`` callback may return (see :class:`~fleetven.ven.reports.ReportSpec`).
STATUS_KEYS = ("online", "manual_override", "load_control_state")
#: What a missing or unreadable ``online`` / ``manual_override`` is sent as.
_STATUS_DEFAULTS: Mapping[str, bool] = MappingProxyType({"online": False, "manual_override": False})
# The schema's oadrLoadControlStateType: its kinds, and the values each may hold (oadrCurrent required).
_LOAD_CONTROL_KINDS = ("oadrCapacity", "oadrLevelOffset", "oadrPercentOffset", "oadrSetPoint")
_LOAD_CONTROL_VALUES = ("oadrMin", "oadrMax", "oadrCurrent", "oadrNormal")
RICHER = ("a ResourceStatus or a dict {'online': bool, 'manual_override': bool, 'load_control_state': "
           "{...}} (fleetven.ven.reports.STATUS_KEYS)")

# What read_status found wrong with a value: a bare bool or number, a status with fields assumed or left
# out, or nothing usable at all. Each is logged once per report request and data point.
BARE, PARTIAL, UNUSABLE = "bare", "partial", "unusable"


def _flag(value: Any) -> bool | None:
    """A bool as it is, a finite number as its truth value, anything else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value != 0
    return None


def _load_control(state: Any, notes: list[str]) -> dict[str, dict[str, float]] | None:
    """The parts of a ``load_control_state`` the schema allows; what is left out goes into ``notes``."""
    if state is None:
        return None
    if not isinstance(state, Mapping):
        notes.append(f"load_control_state {state!r} is not a dict: left out")
        return None
    out: dict[str, dict[str, float]] = {}
    for kind, values in state.items():
        if kind not in _LOAD_CONTROL_KINDS:
            notes.append(f"load control state {kind!r} left out (known: {', '.join(_LOAD_CONTROL_KINDS)})")
            continue
        if not isinstance(values, Mapping):
            notes.append(f"load control state {kind} is {values!r}, not a dict: left out")
            continue
        kept: dict[str, float] = {}
        for key, x in values.items():
            number = finite_number(x)
            if key not in _LOAD_CONTROL_VALUES:
                notes.append(f"{kind} value {key!r} left out (known: {', '.join(_LOAD_CONTROL_VALUES)})")
            elif number is None:
                notes.append(f"{kind} {key} is {x!r}, not a finite number: left out")
            else:
                kept[key] = number
        if "oadrCurrent" not in kept:
            notes.append(f"load control state {kind} has no usable oadrCurrent (required): left out")
            continue
        out[kind] = {key: kept[key] for key in _LOAD_CONTROL_VALUES if key in kept}
    return out or None


def read_status(value: Any) -> tuple[m.ResourceStatus | None, str | None, str]:
    """Map what a ``TELEMETRY_STATUS`` callback returned to a status the schema accepts.

    :returns: ``(status, problem, detail)``: the status (a new object, ``None`` when nothing in
        ``value`` can be read), and ``None`` or one of ``BARE``, ``PARTIAL``, ``UNUSABLE``
        with what was assumed or left out (empty for ``BARE``; the rules are in :class:`ReportSpec`).
    """
    if isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return m.ResourceStatus(online=value != 0, manual_override=False), BARE, ""
    fields: Mapping[str, Any]
    if isinstance(value, m.ResourceStatus):
        fields = {"online": value.online, "manual_override": value.manual_override,
                  "load_control_state": value.load_control_state}
    elif isinstance(value, Mapping):
        fields = value
    else:
        return None, UNUSABLE, "not a status"
    notes: list[str] = []
    got: dict[str, bool] = {}
    for key, default in _STATUS_DEFAULTS.items():
        if key not in fields:
            notes.append(f"no {key}: taken as {default}")
            continue
        x = fields[key]
        flag = _flag(x)
        if flag is None:
            notes.append(f"{key} {x!r} is not a bool: taken as {default}")
            continue
        got[key] = flag
        if not isinstance(x, bool):
            notes.append(f"{key} {x!r} is not a bool: taken as {flag}")
    state = _load_control(fields.get("load_control_state"), notes)
    unknown = [k for k in fields if k not in STATUS_KEYS]
    if unknown:
        notes.append(f"unknown keys {', '.join(map(repr, unknown))} ignored (known: {', '.join(STATUS_KEYS)})")
    if not got and state is None:
        return None, UNUSABLE, "none of its fields can be read (" + "; ".join(notes) + ")"
    status = m.ResourceStatus(online=got.get("online", _STATUS_DEFAULTS["online"]),
                              manual_override=got.get("manual_override", _STATUS_DEFAULTS["manual_override"]),
                              load_control_state=state)
    return status, (PARTIAL if notes else None), "; ".join(notes)


def as_pairs(value: Any, *, status: bool) -> list[Any] | None:
    """The items of what an incremental callback returned when it is a list of ``(datetime, value)``
    pairs (OpenLEADR accepts those as well as a bare value); ``None`` when it is a bare value.

    For data reports any iterable but a string or a mapping counts (each item is checked on its own,
    so one bad pair skips that pair only). For ``TELEMETRY_STATUS``, only a non-empty iterable whose
    every item looks like a pair: anything else is a status value, read by the status rules.

    :raises Exception: whatever reading the iterable raised.
    """
    if value is None or isinstance(value, (bool, int, float)):  # the common case, at every sample: no ABC check
        return None
    if isinstance(value, (str, bytes, bytearray, Mapping, m.ResourceStatus)) or not isinstance(value, Iterable):
        return None
    items = list(value)  # may raise: user code (a generator); the caller logs it
    if status and not (items and all(isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], datetime)
                                     for x in items)):
        return None
    return items


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
