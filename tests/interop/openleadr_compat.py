"""Compare fleetven's message model with what OpenLEADR 0.5.36 reads.

:func:`to_openleadr` turns one of our model objects into the dict that
``openleadr.messaging.parse_message`` returns for the same message (its
"normalized" shape: snake_case keys, ``targets`` as a list of one-key dicts,
``targets_by_type``, reports as ``reports``...), keeping our values as they
are (IDs stay ``str``). :func:`diff_openleadr` then compares that dict with
OpenLEADR's, allowing for OpenLEADR's quirks and nothing else, and
:func:`assert_same_content` fails with one line per difference.

OpenLEADR quirks allowed for (every one is applied in this module only, in
:func:`_leaf_candidates`, :func:`_absent_allowed`, :func:`_list_order_free`,
the singleton branch of :func:`_diff` and :func:`undo_openleadr_quirks`; our
names that merely differ from OpenLEADR's, such as ``p_node`` for its
``pnode``, are mapped by :func:`to_openleadr`):

Q1 numbers from strings
    ``utils.normalize_dict`` turns any text matching ``-?\\d+`` into ``int``
    and ``-?[\\d.]+`` into ``float``, and ``true``/``false`` into ``bool``:
    IDs such as ``"000123"`` come back as ``123`` and interval uids as ``0``.
    Inside ``pending_reports`` it then calls ``str()`` on the result, so
    ``"000123"`` comes back as ``"123"``.
Q2 empty elements
    xmltodict reads an empty element (``<requestID/>``, which OpenLEADR's own
    templates write) as ``None``; our ``""`` or ``None`` match it.
Q3 lone repeated elements
    xmltodict gives an element that may repeat but occurs once as a scalar or
    dict instead of a list (``cancel_report.report_request_id``,
    ``report_payload``, ``vavailability...available``, the values of
    ``report_data_source``); our one-element list matches it.
Q4 target order
    xmltodict groups repeated children by element name, so OpenLEADR's
    ``targets`` are ordered by target type, not document order; ``targets``
    lists are compared as multisets.
Q5 int vs float
    numbers are compared by value (``2 == 2.0``); a ``bool`` only matches a
    ``bool``.
Q6 interval start times
    OpenLEADR leaves an event interval without ``xcal:dtstart`` without a
    ``dtstart``; ours computes it from the event start and the preceding
    durations (checked separately by :func:`check_interval_starts`).
Q7 several payloads in one report interval
    ``normalize_dict`` only unwraps ``payloadFloat`` when an interval holds a
    single ``oadrReportPayload``; a list keeps ``{"payload_float": {"value": v}}``.
Q8 measurements left raw
    OpenLEADR turns ``power:powerReal`` & co. into a ``measurement`` dict only
    in report descriptions and event signals, and stops at the first one of
    those without a measurement (a ``break`` in ``normalize_dict``); elsewhere
    (``specifierPayload``) and after that the element stays raw
    (``{"powerReal": {"item_description": ..., "item_units": ..., "si_scale_code": ...}}``).
Q9 GML service areas and locations
    the GML namespace is missing from OpenLEADR's namespace map, so the
    polygon of ``serviceArea``/``serviceLocation`` comes out with
    namespace-qualified keys
    (``{"http://www.opengis.net/gml/3.2:feature_collection": {... "...:pos_list": "1.5 2.5"}}``)
    and, like every attribute, the ``gml:id`` attributes are dropped; it is
    read back into our ``{"pos_list": [...]}`` shape and our
    ``feature_collection_id``/``polygon_id`` may be absent from OpenLEADR's.

Shape differences that are no quirk, only two ways to say the same thing,
are mapped by :func:`to_openleadr`: our event dict's flat copies of the
descriptor are checked against the nested ``event_descriptor``
(:func:`check_flat_copies`) and then left out; ``p_node``/``aggregated_p_node``
are OpenLEADR's ``pnode``/``aggregated_pnode`` (the element names);
``Profile.transports`` become ``[{"transport_name": ...}]``;
``report_interval_start``/``_duration`` nest as ``report_interval``;
``CreateOpt.signal_target_mrid`` is ``device_class.end_device_asset.mrid``;
``vavailability`` nests as ``components.available[].properties``.

One difference is ours by design, not a quirk of OpenLEADR's:

D1 ``test_event`` always in the descriptor
    :data:`fleetven.openadr.model.EVENT_SHAPE` always carries
    ``event_descriptor["test_event"]`` (``False`` when the message has no
    ``ei:testEvent``); OpenLEADR leaves the key out then.

OpenLEADR also cannot read datetimes with ``+hh:mm`` offsets (it logs a warning
and leaves the string): the messages given to it never carry one; fleetven
always writes ``Z``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any

from fleetven.openadr import model as m
from fleetven.openadr.namespaces import GML

__all__ = (
    "OPENLEADR_MEASUREMENTS",
    "assert_same_content",
    "check_flat_copies",
    "check_interval_starts",
    "diff_openleadr",
    "event_to_openleadr",
    "openleadr_text",
    "to_openleadr",
    "undo_openleadr_quirks",
)

#: Measurement element names OpenLEADR knows (``openleadr.enums._MEASUREMENT_NAMESPACES``), written out here
#: so that this module reads OpenLEADR's output without importing its private tables.
OPENLEADR_MEASUREMENTS = frozenset(
    {
        "currency", "currencyPerWK", "currencyPerKWh", "currencyPerThm", "current", "energyApparent",
        "energyReactive", "energyReal", "frequency", "powerApparent", "powerReactive", "powerReal",
        "pulseCount", "temperature", "Therm", "voltage", "customUnit",
    }
)  # fmt: skip


# ------------------------------------------------------------------ model -> OpenLEADR's dict shape


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _response(r: m.Response | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return _drop_none(
        {"response_code": r.response_code, "response_description": r.response_description, "request_id": r.request_id}
    )


def _measurement(meas: m.Measurement | dict[str, Any] | None) -> dict[str, Any] | None:
    if meas is None:
        return None
    if isinstance(meas, dict):  # tolerate a parser that hands out dicts
        meas = m.Measurement(**meas)
    out: dict[str, Any] = {"name": meas.name, "description": meas.description, "unit": meas.unit}
    if meas.pulse_factor is not None:
        out["pulse_factor"] = meas.pulse_factor
    else:
        out["scale"] = meas.scale
    if meas.power_attributes is not None:
        out["power_attributes"] = dict(meas.power_attributes)
    return out


#: Our target type names that differ from OpenLEADR's mechanical snake_case of the element name
#: (``power:pnode`` gives ``pnode``, ``power:aggregatedPnode`` gives ``aggregated_pnode``).
_OPENLEADR_TARGET_NAMES = {"p_node": "pnode", "aggregated_p_node": "aggregated_pnode"}


def _target_type(name: str) -> str:
    return _OPENLEADR_TARGET_NAMES.get(name, name)


def _targets(targets: list[m.Target]) -> list[m.Target]:
    """A target list with OpenLEADR's names for the target types."""
    return [{_target_type(k): v for k, v in target.items()} for target in targets]


def _by_type(targets_by_type: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {_target_type(k): list(v) for k, v in targets_by_type.items()}


def _targets_grouped(targets: list[m.Target]) -> dict[str, list[Any]]:
    """Targets grouped by type, as in ``targets_by_type`` and in ``report_subject``/``report_data_source``."""
    grouped: dict[str, list[Any]] = {}
    for target in _targets(targets):
        for key, value in target.items():
            grouped.setdefault(key, []).append(value)
    return grouped


def check_flat_copies(event: m.Event) -> None:
    """Our event dict keeps flat copies of the descriptor: they must agree with it."""
    desc = event["event_descriptor"]
    for key in ("event_id", "modification_number", "event_status", "market_context", "priority"):
        assert event[key] == desc.get(key), f"event[{key!r}]={event[key]!r} but event_descriptor has {desc.get(key)!r}"
    assert event["test_event"] == desc.get("test_event", False), (
        f"event['test_event']={event['test_event']!r} but event_descriptor has {desc.get('test_event')!r}"
    )


def check_interval_starts(event: m.Event) -> None:
    """Each interval's ``dtstart`` is the event start plus the durations before it."""
    start = event["active_period"]["dtstart"]
    for s, signal in enumerate(event["event_signals"]):
        at = start
        for i, interval in enumerate(signal["intervals"]):
            assert interval["dtstart"] == at, f"event_signals[{s}].intervals[{i}].dtstart={interval['dtstart']} != {at}"
            at = at + interval["duration"]


def event_to_openleadr(event: m.Event) -> dict[str, Any]:
    """One event dict of ours in the shape OpenLEADR's ``parse_message`` gives it."""
    check_flat_copies(event)
    signals = []
    for signal in event["event_signals"]:
        out: dict[str, Any] = {
            "signal_name": signal["signal_name"],
            "signal_type": signal["signal_type"],
            "signal_id": signal["signal_id"],
            "intervals": [dict(interval) for interval in signal["intervals"]],
        }
        if signal.get("current_value") is not None:
            out["current_value"] = signal["current_value"]
        if signal.get("measurement") is not None:
            out["measurement"] = _measurement(signal["measurement"])
        if signal.get("targets"):
            out["targets"] = _targets(signal["targets"])
            out["targets_by_type"] = _by_type(signal.get("targets_by_type") or {})
        signals.append(out)
    return {
        "event_descriptor": dict(event["event_descriptor"]),
        "active_period": dict(event["active_period"]),
        "event_signals": signals,
        "targets": _targets(event["targets"]),
        "targets_by_type": _by_type(event["targets_by_type"]),
        "response_required": event["response_required"],
    }


def _report_description(d: m.ReportDescription) -> dict[str, Any]:
    out: dict[str, Any] = {"r_id": d.r_id, "report_type": d.report_type, "reading_type": d.reading_type}
    if d.report_subject:
        out["report_subject"] = _targets_grouped(d.report_subject)
    if d.report_data_source:
        out["report_data_source"] = _targets_grouped(d.report_data_source)
    if d.market_context is not None:
        out["market_context"] = d.market_context
    if d.measurement is not None:
        out["measurement"] = _measurement(d.measurement)
    if d.sampling_rate is not None:
        rate = d.sampling_rate
        out["sampling_rate"] = {
            "min_period": rate.min_period,
            "max_period": rate.max_period,
            "on_change": rate.on_change,
        }
    return out


def _snake(name: str) -> str:
    """OpenLEADR's key normalization: drop ``oadr``/``ei``, camelCase to snake_case."""
    if name.startswith("oadr"):
        name = name[4:]
    elif name.startswith("ei"):
        name = name[2:]
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).replace("-", "_").lower()


def _report_payload(p: m.ReportPayload) -> dict[str, Any]:
    out: dict[str, Any] = {"r_id": p.r_id}
    if isinstance(p.value, m.ResourceStatus):
        status: dict[str, Any] = {"online": p.value.online, "manual_override": p.value.manual_override}
        if p.value.load_control_state:
            status["load_control_state"] = {
                _snake(kind): {_snake(k): v for k, v in values.items()}
                for kind, values in p.value.load_control_state.items()
            }
        out["payload_resource_status"] = status
    else:
        out["value"] = p.value
    for key in ("confidence", "accuracy", "data_quality"):
        if getattr(p, key) is not None:
            out[key] = getattr(p, key)
    return out


def _report(r: m.Report) -> dict[str, Any]:
    out: dict[str, Any] = {
        "report_specifier_id": r.report_specifier_id,
        "report_name": r.report_name,
        "created_date_time": r.created_date_time,
        "report_request_id": r.report_request_id,
    }
    for key in ("report_id", "dtstart", "duration"):
        if getattr(r, key) is not None:
            out[key] = getattr(r, key)
    if r.report_descriptions:
        out["report_descriptions"] = [_report_description(d) for d in r.report_descriptions]
    if r.intervals:
        out["intervals"] = [
            _drop_none(
                {
                    "dtstart": i.dtstart,
                    "duration": i.duration,
                    "uid": i.uid,
                    "report_payload": [_report_payload(p) for p in i.payloads],
                }
            )
            for i in r.intervals
        ]
    return out


def _report_request(rr: m.ReportRequest) -> dict[str, Any]:
    spec = rr.report_specifier
    out: dict[str, Any] = {"report_specifier_id": spec.report_specifier_id, "granularity": spec.granularity}
    if spec.report_back_duration is not None:
        out["report_back_duration"] = spec.report_back_duration
    if spec.report_interval_start is not None or spec.report_interval_duration is not None:
        out["report_interval"] = _drop_none(
            {"dtstart": spec.report_interval_start, "duration": spec.report_interval_duration}
        )
    payloads = []
    for p in spec.specifier_payloads:
        payload: dict[str, Any] = {"r_id": p.r_id, "reading_type": p.reading_type}
        if p.measurement is not None:
            payload["measurement"] = _measurement(p.measurement)
        payloads.append(payload)
    if payloads:
        out["specifier_payloads"] = payloads
    return {"report_request_id": rr.report_request_id, "report_specifier": out}


def _cancel_report(c: m.CancelReport) -> dict[str, Any]:
    return _drop_none(
        {
            "request_id": c.request_id,
            "report_request_id": list(c.report_request_ids),
            "report_to_follow": c.report_to_follow,
            "ven_id": c.ven_id,
        }
    )


def to_openleadr(msg: m.Message) -> tuple[str, dict[str, Any]]:
    """Our model object as ``(message_type, payload)``, in the shape of OpenLEADR's ``parse_message``.

    Values keep our types (IDs are ``str``); :func:`diff_openleadr` allows for
    the ways OpenLEADR changes them.

    :param msg: a model object from :mod:`fleetven.openadr.model`.
    :returns: the message type and the payload dict.
    """
    mtype: str = msg.message_type
    out: dict[str, Any]
    if isinstance(msg, m.CreatedPartyRegistration):
        out = {
            "response": _response(msg.response),
            "registration_id": msg.registration_id,
            "ven_id": msg.ven_id,
            "vtn_id": msg.vtn_id,
            "profiles": [
                {"profile_name": p.profile_name, "transports": [{"transport_name": t} for t in p.transports]}
                for p in msg.profiles
            ],
            "requested_oadr_poll_freq": msg.requested_oadr_poll_freq,
        }
    elif isinstance(msg, m.DistributeEvent):
        out = {
            "response": _response(msg.response),
            "request_id": msg.request_id,
            "vtn_id": msg.vtn_id,
            "events": [event_to_openleadr(e) for e in msg.events],
        }
    elif isinstance(msg, m.CreatedEvent):
        out = {
            "response": _response(msg.response),
            "ven_id": msg.ven_id,
            "event_responses": [_drop_none(dataclasses.asdict(r)) for r in msg.event_responses],
        }
    elif isinstance(msg, (m.RegisterReport, m.UpdateReport)):
        out = {"request_id": msg.request_id, "ven_id": msg.ven_id, "reports": [_report(r) for r in msg.reports]}
        if isinstance(msg, m.RegisterReport):
            out["report_request_id"] = msg.report_request_id
    elif isinstance(msg, (m.RegisteredReport, m.CreateReport)):
        out = {"ven_id": msg.ven_id, "report_requests": [_report_request(rr) for rr in msg.report_requests]}
        if isinstance(msg, m.RegisteredReport):
            out["response"] = _response(msg.response)
        else:
            out["request_id"] = msg.request_id
    elif isinstance(msg, (m.CreatedReport, m.CanceledReport)):
        out = {
            "response": _response(msg.response),
            "ven_id": msg.ven_id,
            "pending_reports": [{"report_request_id": rid} for rid in msg.pending_reports],
        }
    elif isinstance(msg, m.CancelReport):
        out = _cancel_report(msg)
    elif isinstance(msg, m.UpdatedReport):
        out = {
            "response": _response(msg.response),
            "ven_id": msg.ven_id,
            "cancel_report": _cancel_report(msg.cancel_report) if msg.cancel_report is not None else None,
        }
    elif isinstance(msg, m.CreateOpt):
        out = {
            "opt_id": msg.opt_id,
            "opt_type": msg.opt_type,
            "opt_reason": msg.opt_reason,
            "market_context": msg.market_context,
            "ven_id": msg.ven_id,
            "created_date_time": msg.created_date_time,
            "request_id": msg.request_id,
            "event_id": msg.event_id,
            "modification_number": msg.modification_number,
            "targets": _targets(msg.targets),
            "targets_by_type": _targets_grouped(msg.targets),
        }
        if msg.vavailability is not None:
            out["vavailability"] = {
                "components": {
                    "available": [
                        {"properties": {"dtstart": w.dtstart, "duration": w.duration}} for w in msg.vavailability
                    ]
                }
            }
        if msg.signal_target_mrid is not None:
            out["device_class"] = {"end_device_asset": {"mrid": msg.signal_target_mrid}}
    else:
        # every other message: a flat dict of its fields, the Response nested
        out = {}
        for f in dataclasses.fields(msg):
            value = getattr(msg, f.name)
            out[f.name] = _response(value) if isinstance(value, m.Response) else value
    return mtype, _drop_none(out)


# ------------------------------------------------------------------ comparison, and the quirks


_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?[\d.]+")


def openleadr_text(value: str) -> Any:
    """What OpenLEADR makes of an element's text (Q1)."""
    if value in ("true", "false"):
        return value == "true"
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, dict)) and not value)


_GML_FEATURE_COLLECTION = f"{GML}:feature_collection"
_INTERVAL_DTSTART = re.compile(r"events\[\d+\]\.event_signals\[\d+\]\.intervals\[\d+\]\.dtstart$")


def _absent_allowed(path: str, ours: Any) -> bool:
    """A key we have that OpenLEADR's dict may lack (Q6, Q9, D1)."""
    if path.endswith("event_descriptor.test_event"):  # D1
        return ours is False
    return bool(_INTERVAL_DTSTART.search(path)) or path.endswith((".feature_collection_id", ".polygon_id"))


def _list_order_free(path: str) -> bool:
    """Lists compared as multisets (Q4)."""
    return path.endswith("targets")


def _leaf_candidates(ours: Any, path: str) -> list[Any]:
    """The values OpenLEADR may show for our leaf value (Q1, Q2)."""
    candidates = [ours]
    if isinstance(ours, str):
        coerced = openleadr_text(ours)
        candidates.append(coerced)
        if ".pending_reports[" in path:
            candidates.append(str(coerced))
        if ours == "":
            candidates.append(None)
    return candidates


def _same_leaf(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b  # Q5
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.tzinfo is not None and b.tzinfo is not None and a == b
    if isinstance(a, timedelta) or isinstance(b, timedelta):
        return type(a) is type(b) and a == b
    return type(a) is type(b) and a == b


def _sort_key(value: Any) -> str:
    if isinstance(value, dict):
        return repr(sorted((k, _sort_key(v)) for k, v in value.items()))
    if isinstance(value, str):
        value = openleadr_text(value)
    return f"{type(value).__name__}:{value!r}"


def _diff(ours: Any, theirs: Any, path: str, out: list[str]) -> None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            sub = f"{path}.{key}" if path else key
            if key not in theirs:
                if not _is_empty(ours[key]) and not _absent_allowed(sub, ours[key]):
                    out.append(f"{sub}: missing from OpenLEADR's dict (ours: {ours[key]!r})")
            elif key not in ours:
                if not _is_empty(theirs[key]):
                    out.append(f"{sub}: only in OpenLEADR's dict ({theirs[key]!r}), missing from ours")
            else:
                _diff(ours[key], theirs[key], sub, out)
        return
    if isinstance(ours, list):
        if not isinstance(theirs, list):
            if len(ours) == 1:  # Q3
                _diff(ours[0], theirs, f"{path}[0]", out)
            elif not (ours == [] and theirs is None):
                out.append(f"{path}: ours is a list of {len(ours)} ({ours!r}), OpenLEADR's is {theirs!r}")
            return
        if len(ours) != len(theirs):
            out.append(f"{path}: ours has {len(ours)} items, OpenLEADR's {len(theirs)} ({ours!r} vs {theirs!r})")
            return
        if _list_order_free(path):
            ours, theirs = sorted(ours, key=_sort_key), sorted(theirs, key=_sort_key)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _diff(a, b, f"{path}[{i}]", out)
        return
    if isinstance(ours, dict) or isinstance(theirs, (dict, list)):
        out.append(f"{path}: ours {ours!r}, OpenLEADR's {theirs!r}")
        return
    if not any(_same_leaf(candidate, theirs) for candidate in _leaf_candidates(ours, path)):
        out.append(f"{path}: ours {ours!r} ({type(ours).__name__}), OpenLEADR's {theirs!r} ({type(theirs).__name__})")


def undo_openleadr_quirks(value: Any) -> Any:
    """Bring OpenLEADR's half-normalized parts into its own normal shape (Q7, Q8). Returns a new object."""
    if isinstance(value, list):
        return [undo_openleadr_quirks(v) for v in value]
    if not isinstance(value, dict):
        return value
    if _GML_FEATURE_COLLECTION in value:  # Q9
        ring = value[_GML_FEATURE_COLLECTION]
        for step in ("location", "polygon", "exterior", "linear_ring", "pos_list"):
            ring = ring[f"{GML}:{step}"]
        return {"pos_list": [float(x) for x in ring.split()]}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in OPENLEADR_MEASUREMENTS and isinstance(item, dict) and "measurement" not in value:  # Q8
            raw = dict(item)
            meas: dict[str, Any] = {"name": key}
            meas["description"] = raw.pop("item_description", None)
            meas["unit"] = raw.pop("item_units", None)
            if "si_scale_code" in raw:
                meas["scale"] = raw.pop("si_scale_code")
            meas.update(raw)
            out["measurement"] = meas
            continue
        if key == "report_payload" and isinstance(item, list):  # Q7
            fixed = []
            for payload in item:
                payload = dict(payload)
                if isinstance(payload.get("payload_float"), dict) and "value" in payload["payload_float"]:
                    payload["value"] = float(payload.pop("payload_float")["value"])
                fixed.append(payload)
            item = fixed
        out[key] = undo_openleadr_quirks(item)
    return out


def diff_openleadr(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Differences between :func:`to_openleadr`'s payload and OpenLEADR's, the quirks allowed for.

    :returns: one readable line per difference, with its path; empty when the content is the same.
    """
    out: list[str] = []
    _diff(ours, undo_openleadr_quirks(theirs), "", out)
    return out


def assert_same_content(msg: m.Message, openleadr_result: tuple[str, dict[str, Any]]) -> None:
    """Fail unless OpenLEADR's ``(message_type, payload)`` carries the same content as our ``msg``."""
    mtype, ours = to_openleadr(msg)
    theirs_type, theirs = openleadr_result
    assert theirs_type == mtype, f"message type: ours {mtype}, OpenLEADR's {theirs_type}"
    diffs = diff_openleadr(ours, theirs)
    assert not diffs, f"{mtype}: {len(diffs)} difference(s) from OpenLEADR:\n  " + "\n  ".join(diffs)
