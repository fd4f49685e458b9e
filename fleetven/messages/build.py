"""Turn model objects into OpenADR 2.0b XML, written directly in canonical form.

:func:`build_signed_object` writes the ``oadrSignedObject`` element in
Canonical XML 1.0 (inclusive, without comments) form, so that the signing
code can hash its bytes as they are:

* every namespace the message uses is declared once, on ``oadrSignedObject``,
  sorted by prefix as C14N sorts them; its only attribute is
  ``oadr:Id="oadrSignedObject"``; the message element carries
  ``ei:schemaVersion="2.0b"``;
* no whitespace between elements, no empty-element tags, text escaped as
  C14N escapes it (``&amp;``, ``&lt;``, ``&gt;``, ``&#xD;``).

:func:`build_message` wraps it in ``oadrPayload`` (see :func:`envelope`).
The ``oadrPayload`` element declares only the ``oadr`` namespace: anything
more would be inherited by ``oadrSignedObject`` in inclusive C14N.

Elements are written in the order of ``oadr_20b.xsd``. Values are checked
while they are written, cheaply: a required value that is missing, a value
of the wrong type, a string holding a character XML 1.0 cannot carry, a
naive datetime or a non-finite number raises :class:`~fleetven.exceptions.BuildError`
naming the message type and the element path
(``oadrDistributeEvent/oadrEvent[2]/eiEvent/eventDescriptor/eventID``).

Value conventions: datetimes are written in UTC with ``Z``; durations as
ISO 8601 (:func:`~fleetven.openadr.timefmt.format_duration`); floats with
:func:`repr` (shortest round trip), ints in decimal, booleans as
``true``/``false``. A :class:`~fleetven.openadr.model.Response` without a
``request_id`` is written with an empty ``requestID`` (the schema requires
the element, peers often leave it empty).

Targets are lists of one-key dicts (see :data:`~fleetven.openadr.model.Target`),
written in the order the schema's ``EiTargetType`` requires (grouped by type,
document order kept within a type). Service areas and service locations are
GML polygons in the schema: their value is ``{"pos_list": [float, ...]}``
with optional ``"feature_collection_id"`` and ``"polygon_id"`` (``gml:id``
values).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from fleetven._fast import BUILD_COMPILED as BUILD_COMPILED
from fleetven._fast import event as _event
from fleetven.exceptions import BuildError
from fleetven.openadr import model as m
from fleetven.openadr._text import (
    _DATA_QUALITY,
    _DURATIONS,
    _HM,
    _MEASUREMENTS,
    _OPT_REASONS,
    _OPT_TYPES,
    _PROFILES,
    _READING_TYPES,
    _REPORT_NAMES,
    _REPORT_TYPES,
    _SS,
    _TRANSPORTS,
    _UNSET,
    UTC,
    _b,
    _Bad,
    _code,
    _dict,
    _dt,
    _dur,
    _enum,
    _f,
    _measurement,
    _s,
    _seq,
    _targets_body,
    _targets_of,
    _u,
    _wrong,
)
from fleetven.openadr.namespaces import NS

__all__ = ("build_message", "build_signed_object", "envelope", "PAYLOAD_OPEN", "PAYLOAD_CLOSE")

# Each oadrEvent is written by ``fleetven._fast.event``: the compiled twin, or its pure-Python specification;
# ``BUILD_COMPILED`` (re-exported from fleetven._fast) says which. ``build_signed_object(..., twin=)`` and
# ``build_message(..., twin=)`` take another (a test running both twins passes each in turn).

#: Writes the ``oadrEvent`` elements of one event, appending to the pieces (``fleetven._fast.event``).
_EventWriter = Callable[[Any, list[str]], None]


#: The start of every ``oadrPayload`` document, up to where a ``ds:Signature``
#: (or the ``oadrSignedObject``) goes.
PAYLOAD_OPEN = b'<?xml version="1.0" encoding="UTF-8"?>\n<oadr:oadrPayload xmlns:oadr="' + NS["oadr"].encode() + b'">'
#: The end of every ``oadrPayload`` document.
PAYLOAD_CLOSE = b"</oadr:oadrPayload>"

_PAYLOAD_OPEN_STR = PAYLOAD_OPEN.decode()
_PAYLOAD_CLOSE_STR = PAYLOAD_CLOSE.decode()
_SIGNED_CLOSE = "</oadr:oadrSignedObject>"


def envelope(signed_object: bytes, signature: bytes | None = None) -> bytes:
    """Wrap an ``oadrSignedObject`` (from :func:`build_signed_object`) in an ``oadrPayload`` document.

    :param signed_object: the bytes of the ``oadrSignedObject`` element.
    :param signature: the bytes of a ``ds:Signature`` element to place before
        it, or ``None`` for an unsigned message. The signature must declare
        its own namespaces: ``oadrPayload`` declares only ``oadr``.
    :returns: the whole document, with its XML declaration, in UTF-8.
    """
    if signature is None:
        return b"".join((PAYLOAD_OPEN, signed_object, PAYLOAD_CLOSE))
    return b"".join((PAYLOAD_OPEN, signature, signed_object, PAYLOAD_CLOSE))


# ------------------------------------------------------------ common parts


def _response(r: Any, where: str = "eiResponse") -> str:
    if type(r) is not m.Response:
        _wrong(r, where, "a Response")
    code = _code(r.response_code, "eiResponse/responseCode")
    rid = r.request_id
    rid_s = "" if rid is None else _s(rid, "eiResponse/requestID")
    d = r.response_description
    if d is None:
        return (f"<ei:eiResponse><ei:responseCode>{code}</ei:responseCode><pyld:requestID>{rid_s}</pyld:requestID>"
                "</ei:eiResponse>")
    return (
        f"<ei:eiResponse><ei:responseCode>{code}</ei:responseCode>"
        f"<ei:responseDescription>{_s(d, 'eiResponse/responseDescription')}</ei:responseDescription>"
        f"<pyld:requestID>{rid_s}</pyld:requestID></ei:eiResponse>"
    )


def _opt_ven(v: Any) -> str:
    return "" if v is None else f"<ei:venID>{_s(v, 'venID')}</ei:venID>"


# ---------------------------------------------------------- registration


def _query_registration(msg: m.QueryRegistration, out: list[str]) -> None:
    out.append(f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>")


def _create_party_registration(msg: m.CreatePartyRegistration, out: list[str]) -> None:
    reg, ven, addr, name = msg.registration_id, msg.ven_id, msg.transport_address, msg.ven_name
    pull = msg.http_pull_model
    out.append(
        f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>"
        + ("" if reg is None else f"<ei:registrationID>{_s(reg, 'registrationID')}</ei:registrationID>")
        + _opt_ven(ven)
        + f"<oadr:oadrProfileName>{_enum(msg.profile_name, 'oadrProfileName', _PROFILES, False)}</oadr:oadrProfileName>"
        + f"<oadr:oadrTransportName>{_enum(msg.transport_name, 'oadrTransportName', _TRANSPORTS, False)}"
        "</oadr:oadrTransportName>"
        + ("" if addr is None else
           f"<oadr:oadrTransportAddress>{_s(addr, 'oadrTransportAddress')}</oadr:oadrTransportAddress>")
        + f"<oadr:oadrReportOnly>{_b(msg.report_only, 'oadrReportOnly')}</oadr:oadrReportOnly>"
        + f"<oadr:oadrXmlSignature>{_b(msg.xml_signature, 'oadrXmlSignature')}</oadr:oadrXmlSignature>"
        + ("" if name is None else f"<oadr:oadrVenName>{_s(name, 'oadrVenName')}</oadr:oadrVenName>")
        + ("" if pull is None else f"<oadr:oadrHttpPullModel>{_b(pull, 'oadrHttpPullModel')}</oadr:oadrHttpPullModel>")
    )


def _created_party_registration(msg: m.CreatedPartyRegistration, out: list[str]) -> None:
    reg, freq = msg.registration_id, msg.requested_oadr_poll_freq
    out.append(
        _response(msg.response)
        + ("" if reg is None else f"<ei:registrationID>{_s(reg, 'registrationID')}</ei:registrationID>")
        + _opt_ven(msg.ven_id)
        + f"<ei:vtnID>{_s(msg.vtn_id, 'vtnID')}</ei:vtnID>"
    )
    profiles = _seq(msg.profiles, "oadrProfiles")
    if not profiles:
        raise _Bad("oadrProfiles", "needs at least one Profile (the schema requires oadrProfile)")
    out.append("<oadr:oadrProfiles>")
    for profile in profiles:
        if type(profile) is not m.Profile:
            _wrong(profile, "oadrProfile", "a Profile")
        transports = _seq(profile.transports, "oadrProfile/oadrTransports")
        if not transports:
            raise _Bad("oadrProfile/oadrTransports", "needs at least one transport name")
        out.append(
            f"<oadr:oadrProfile><oadr:oadrProfileName>"
            f"{_enum(profile.profile_name, 'oadrProfile/oadrProfileName', _PROFILES, False)}</oadr:oadrProfileName>"
            "<oadr:oadrTransports>"
            + "".join([
                "<oadr:oadrTransport><oadr:oadrTransportName>"
                f"{_enum(t, 'oadrProfile/oadrTransports/oadrTransport/oadrTransportName', _TRANSPORTS, False)}"
                "</oadr:oadrTransportName></oadr:oadrTransport>"
                for t in transports
            ])
            + "</oadr:oadrTransports></oadr:oadrProfile>"
        )
    out.append("</oadr:oadrProfiles>")
    if freq is not None:
        out.append(
            f"<oadr:oadrRequestedOadrPollFreq><xcal:duration>{_dur(freq, 'oadrRequestedOadrPollFreq/duration')}"
            "</xcal:duration></oadr:oadrRequestedOadrPollFreq>"
        )


def _cancel_party_registration(msg: m.CancelPartyRegistration, out: list[str]) -> None:
    out.append(
        f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>"
        f"<ei:registrationID>{_s(msg.registration_id, 'registrationID')}</ei:registrationID>"
        f"<ei:venID>{_s(msg.ven_id, 'venID')}</ei:venID>"
    )


def _canceled_party_registration(msg: m.CanceledPartyRegistration, out: list[str]) -> None:
    reg = msg.registration_id
    out.append(
        _response(msg.response)
        + ("" if reg is None else f"<ei:registrationID>{_s(reg, 'registrationID')}</ei:registrationID>")
        + _opt_ven(msg.ven_id)
    )


def _request_reregistration(msg: m.RequestReregistration, out: list[str]) -> None:
    out.append(f"<ei:venID>{_s(msg.ven_id, 'venID')}</ei:venID>")


# ------------------------------------------------------------------ events


def _request_event(msg: m.RequestEvent, out: list[str]) -> None:
    limit = msg.reply_limit
    out.append(
        f"<pyld:eiRequestEvent><pyld:requestID>{_s(msg.request_id, 'eiRequestEvent/requestID')}</pyld:requestID>"
        f"<ei:venID>{_s(msg.ven_id, 'eiRequestEvent/venID')}</ei:venID>"
        + ("" if limit is None else f"<pyld:replyLimit>{_u(limit, 'eiRequestEvent/replyLimit')}</pyld:replyLimit>")
        + "</pyld:eiRequestEvent>"
    )


def _distribute_event(msg: m.DistributeEvent, out: list[str], event: _EventWriter = _event) -> None:
    if msg.response is not None:
        out.append(_response(msg.response))
    out.append(
        f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>"
        f"<ei:vtnID>{_s(msg.vtn_id, 'vtnID')}</ei:vtnID>"
    )
    for ev in _seq(msg.events, "oadrEvent"):
        event(ev, out)


def _created_event(msg: m.CreatedEvent, out: list[str]) -> None:
    out.append("<pyld:eiCreatedEvent>" + _response(msg.response))
    responses = _seq(msg.event_responses, "eventResponses")
    if responses:
        out.append("<ei:eventResponses>")
        append = out.append
        cls = m.EventResponse
        for r in responses:
            if type(r) is not cls:
                _wrong(r, "eventResponse", "an EventResponse")
            code, d, rid, eid, mod, opt = (
                r.response_code, r.response_description, r.request_id, r.event_id, r.modification_number, r.opt_type)
            if type(code) is not int or not 100 <= code <= 999:
                code = _code(code, "eventResponse/responseCode")  # type: ignore[assignment]
            desc = ("" if d is None else
                    f"<ei:responseDescription>{_s(d, 'eventResponse/responseDescription')}</ei:responseDescription>")
            if type(rid) is not str or not rid.isprintable() or "&" in rid or "<" in rid or ">" in rid:
                rid = _s(rid, "eventResponse/requestID")
            if type(eid) is not str or not eid.isprintable() or "&" in eid or "<" in eid or ">" in eid:
                eid = _s(eid, "eventResponse/qualifiedEventID/eventID")
            if type(mod) is not int or not 0 <= mod <= 4294967295:
                mod = _u(mod, "eventResponse/qualifiedEventID/modificationNumber")  # type: ignore[assignment]
            if type(opt) is not str or (opt != "optIn" and opt != "optOut"):
                opt = _enum(opt, "eventResponse/optType", _OPT_TYPES, False)
            append(
                f"<ei:eventResponse><ei:responseCode>{code}</ei:responseCode>{desc}<pyld:requestID>{rid}"
                f"</pyld:requestID><ei:qualifiedEventID><ei:eventID>{eid}</ei:eventID><ei:modificationNumber>{mod}"
                f"</ei:modificationNumber></ei:qualifiedEventID><ei:optType>{opt}</ei:optType></ei:eventResponse>"
            )
        out.append("</ei:eventResponses>")
    out.append(f"<ei:venID>{_s(msg.ven_id, 'eiCreatedEvent/venID')}</ei:venID></pyld:eiCreatedEvent>")


# ----------------------------------------------------------------- reports


def _report_payload(pl: Any) -> str:
    if type(pl) is not m.ReportPayload:
        _wrong(pl, "oadrReportPayload", "a ReportPayload")
    w = "oadrReportPayload/"
    head = f"<oadr:oadrReportPayload><ei:rID>{_s(pl.r_id, w + 'rID')}</ei:rID>"
    conf, acc, quality = pl.confidence, pl.accuracy, pl.data_quality
    if conf is not None:
        head += f"<ei:confidence>{_u(conf, w + 'confidence', 100)}</ei:confidence>"
    if acc is not None:
        head += f"<ei:accuracy>{_f(acc, w + 'accuracy')}</ei:accuracy>"
    v = pl.value
    if type(v) is float and v - v == 0.0:
        body = f"<ei:payloadFloat><ei:value>{v!r}</ei:value></ei:payloadFloat>"
    elif type(v) is m.ResourceStatus:
        body = _resource_status(v, w + "oadrPayloadResourceStatus/")
    else:
        body = f"<ei:payloadFloat><ei:value>{_f(v, w + 'payloadFloat/value')}</ei:value></ei:payloadFloat>"
    if quality is not None:
        quality = _enum(quality, w + "oadrDataQuality", _DATA_QUALITY, True)
        body += f"<oadr:oadrDataQuality>{quality}</oadr:oadrDataQuality>"
    return f"{head}{body}</oadr:oadrReportPayload>"


_LOAD_CONTROL_KINDS = ("oadrCapacity", "oadrLevelOffset", "oadrPercentOffset", "oadrSetPoint")
_LOAD_CONTROL_VALUES = ("oadrMin", "oadrMax", "oadrCurrent", "oadrNormal")


def _resource_status(v: m.ResourceStatus, w: str) -> str:
    out = (
        f"<oadr:oadrPayloadResourceStatus><oadr:oadrOnline>{_b(v.online, w + 'oadrOnline')}</oadr:oadrOnline>"
        f"<oadr:oadrManualOverride>{_b(v.manual_override, w + 'oadrManualOverride')}</oadr:oadrManualOverride>"
    )
    state = v.load_control_state
    if state is not None:
        ws = w + "oadrLoadControlState"
        state = _dict(state, ws)
        for kind in state:
            if kind not in _LOAD_CONTROL_KINDS:
                raise _Bad(ws, f"unknown load control state {kind!r}; known: {', '.join(_LOAD_CONTROL_KINDS)}")
        out += "<oadr:oadrLoadControlState>"
        for kind in _LOAD_CONTROL_KINDS:
            values = state.get(kind)
            if values is None:
                continue
            wk = f"{ws}/{kind}"
            values = _dict(values, wk)
            for key in values:
                if key not in _LOAD_CONTROL_VALUES:
                    raise _Bad(wk, f"unknown value {key!r}; known: {', '.join(_LOAD_CONTROL_VALUES)}")
            if values.get("oadrCurrent") is None:
                raise _Bad(wk + "/oadrCurrent", "is missing (required)")
            out += f"<oadr:{kind}>"
            for key in _LOAD_CONTROL_VALUES:
                x = values.get(key)
                if x is not None:
                    out += f"<oadr:{key}>{_f(x, f'{wk}/{key}')}</oadr:{key}>"
            out += f"</oadr:{kind}>"
        out += "</oadr:oadrLoadControlState>"
    return out + "</oadr:oadrPayloadResourceStatus>"


def _report_description(rd: Any) -> str:
    if type(rd) is not m.ReportDescription:
        _wrong(rd, "oadrReportDescription", "a ReportDescription")
    w = "oadrReportDescription/"
    out = f"<oadr:oadrReportDescription><ei:rID>{_s(rd.r_id, w + 'rID')}</ei:rID>"
    if rd.report_subject:
        out += f"<ei:reportSubject>{_targets_body(rd.report_subject, w + 'reportSubject')}</ei:reportSubject>"
    if rd.report_data_source:
        out += (f"<ei:reportDataSource>{_targets_body(rd.report_data_source, w + 'reportDataSource')}"
                "</ei:reportDataSource>")
    out += f"<ei:reportType>{_enum(rd.report_type, w + 'reportType', _REPORT_TYPES, True)}</ei:reportType>"
    if rd.measurement is not None:
        out += _measurement(rd.measurement, w)
    out += f"<ei:readingType>{_enum(rd.reading_type, w + 'readingType', _READING_TYPES, True)}</ei:readingType>"
    if rd.market_context is not None:
        out += f"<emix:marketContext>{_s(rd.market_context, w + 'marketContext')}</emix:marketContext>"
    sr = rd.sampling_rate
    if sr is not None:
        if type(sr) is not m.SamplingRate:
            _wrong(sr, w + "oadrSamplingRate", "a SamplingRate")
        ws = w + "oadrSamplingRate/"
        out += (
            f"<oadr:oadrSamplingRate><oadr:oadrMinPeriod>{_dur(sr.min_period, ws + 'oadrMinPeriod')}"
            f"</oadr:oadrMinPeriod><oadr:oadrMaxPeriod>{_dur(sr.max_period, ws + 'oadrMaxPeriod')}"
            f"</oadr:oadrMaxPeriod><oadr:oadrOnChange>{_b(sr.on_change, ws + 'oadrOnChange')}"
            "</oadr:oadrOnChange></oadr:oadrSamplingRate>"
        )
    return out + "</oadr:oadrReportDescription>"


def _report(rep: Any, out: list[str]) -> None:
    if type(rep) is not m.Report:
        _wrong(rep, "oadrReport", "a Report")
    append = out.append
    append("<oadr:oadrReport>")
    if rep.dtstart is not None:
        append(f"<xcal:dtstart><xcal:date-time>{_dt(rep.dtstart, 'dtstart/date-time')}</xcal:date-time></xcal:dtstart>")
    if rep.duration is not None:
        append(f"<xcal:duration><xcal:duration>{_dur(rep.duration, 'duration/duration')}"
               "</xcal:duration></xcal:duration>")
    intervals = _seq(rep.intervals, "intervals")
    if intervals:
        append("<strm:intervals>")
        durations, hm, ss, payload_cls = _DURATIONS, _HM, _SS, m.ReportPayload
        last_o, last_d = -1, ""
        last_du: Any = _UNSET
        last_dus = last_rid = ""
        for iv in intervals:
            if type(iv) is not m.ReportInterval:
                _wrong(iv, "interval", "a ReportInterval")
            payloads: Any = iv.payloads
            if type(payloads) is not list:
                payloads = _seq(payloads, "interval/oadrReportPayload")
            if not payloads:
                raise _Bad("interval", "needs at least one ReportPayload")
            ds: Any = iv.dtstart
            du, uid = iv.duration, iv.uid
            if ds is None:
                dss = ""
            elif type(ds) is datetime and ds.tzinfo is UTC and not ds.microsecond:
                o = ds.toordinal()
                if o != last_o:
                    last_o, last_d = o, ds.date().isoformat()
                dss = (f"<xcal:dtstart><xcal:date-time>{last_d}T{hm[ds.hour * 60 + ds.minute]}{ss[ds.second]}Z"
                       "</xcal:date-time></xcal:dtstart>")
            else:
                dss = (f"<xcal:dtstart><xcal:date-time>{_dt(ds, 'interval/dtstart/date-time')}"
                       "</xcal:date-time></xcal:dtstart>")
            if du is None:
                dus = ""
            elif du is last_du:  # intervals often share one timedelta object
                dus = last_dus
            else:
                dus = (durations.get(du) if type(du) is timedelta else None) or _dur(du, "interval/duration/duration")
                dus = f"<xcal:duration><xcal:duration>{dus}</xcal:duration></xcal:duration>"
                last_du, last_dus = du, dus
            uids = "" if uid is None else f"<xcal:uid><xcal:text>{_s(uid, 'interval/uid/text')}</xcal:text></xcal:uid>"
            if len(payloads) == 1:
                pl = payloads[0]
                if (type(pl) is payload_cls and pl.confidence is None and pl.accuracy is None
                        and pl.data_quality is None):
                    v, rid = pl.value, pl.r_id
                    if type(v) is float and v - v == 0.0 and (rid is last_rid or (
                            type(rid) is str and rid.isprintable() and "&" not in rid and "<" not in rid
                            and ">" not in rid)):
                        last_rid = rid
                        append(
                            f"<ei:interval>{dss}{dus}{uids}<oadr:oadrReportPayload><ei:rID>{rid}</ei:rID>"
                            f"<ei:payloadFloat><ei:value>{v!r}</ei:value></ei:payloadFloat></oadr:oadrReportPayload>"
                            "</ei:interval>"
                        )
                        continue
            append(f"<ei:interval>{dss}{dus}{uids}")
            for pl in payloads:
                append(_report_payload(pl))
            append("</ei:interval>")
        append("</strm:intervals>")
    if rep.report_id is not None:
        append(f"<ei:eiReportID>{_s(rep.report_id, 'eiReportID')}</ei:eiReportID>")
    for rd in _seq(rep.report_descriptions, "oadrReportDescription"):
        append(_report_description(rd))
    name = rep.report_name
    append(
        f"<ei:reportRequestID>{_s(rep.report_request_id, 'reportRequestID')}</ei:reportRequestID>"
        f"<ei:reportSpecifierID>{_s(rep.report_specifier_id, 'reportSpecifierID')}</ei:reportSpecifierID>"
        + ("" if name is None else f"<ei:reportName>{_enum(name, 'reportName', _REPORT_NAMES, True)}</ei:reportName>")
        + f"<ei:createdDateTime>{_dt(rep.created_date_time, 'createdDateTime')}</ei:createdDateTime>"
        "</oadr:oadrReport>"
    )


def _report_request(rr: Any, out: list[str]) -> None:
    if type(rr) is not m.ReportRequest:
        _wrong(rr, "oadrReportRequest", "a ReportRequest")
    out.append("<oadr:oadrReportRequest>")
    rs = rr.report_specifier
    if type(rs) is not m.ReportSpecifier:
        _wrong(rs, "reportSpecifier", "a ReportSpecifier")
    w = "reportSpecifier/"
    rid = _s(rr.report_request_id, "reportRequestID")
    back = rs.report_back_duration
    if back is None:
        raise _Bad(w + "reportBackDuration", "is missing (required by the schema)")
    text = (
        f"<ei:reportRequestID>{rid}</ei:reportRequestID><ei:reportSpecifier>"
        f"<ei:reportSpecifierID>{_s(rs.report_specifier_id, w + 'reportSpecifierID')}</ei:reportSpecifierID>"
        f"<xcal:granularity><xcal:duration>{_dur(rs.granularity, w + 'granularity/duration')}</xcal:duration>"
        f"</xcal:granularity><ei:reportBackDuration><xcal:duration>{_dur(back, w + 'reportBackDuration/duration')}"
        "</xcal:duration></ei:reportBackDuration>"
    )
    start, length = rs.report_interval_start, rs.report_interval_duration
    if start is not None or length is not None:
        wi = w + "reportInterval/properties/"
        text += (
            f"<ei:reportInterval><xcal:properties><xcal:dtstart><xcal:date-time>{_dt(start, wi + 'dtstart/date-time')}"
            f"</xcal:date-time></xcal:dtstart><xcal:duration><xcal:duration>{_dur(length, wi + 'duration/duration')}"
            "</xcal:duration></xcal:duration></xcal:properties></ei:reportInterval>"
        )
    payloads = _seq(rs.specifier_payloads, w + "specifierPayload")
    if not payloads:
        raise _Bad(w + "specifierPayload", "needs at least one SpecifierPayload")
    out.append(text)
    for sp in payloads:
        if type(sp) is not m.SpecifierPayload:
            _wrong(sp, w + "specifierPayload", "a SpecifierPayload")
        ws = w + "specifierPayload/"
        meas = sp.measurement
        out.append(
            f"<ei:specifierPayload><ei:rID>{_s(sp.r_id, ws + 'rID')}</ei:rID>"
            + ("" if meas is None else _measurement(meas, ws))
            + f"<ei:readingType>{_enum(sp.reading_type, ws + 'readingType', _READING_TYPES, True)}</ei:readingType>"
            "</ei:specifierPayload>"
        )
    out.append("</ei:reportSpecifier></oadr:oadrReportRequest>")


def _register_report(msg: m.RegisterReport, out: list[str]) -> None:
    out.append(f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>")
    for rep in _seq(msg.reports, "oadrReport"):
        _report(rep, out)
    rrid = msg.report_request_id
    out.append(
        _opt_ven(msg.ven_id)
        + ("" if rrid is None else f"<ei:reportRequestID>{_s(rrid, 'reportRequestID')}</ei:reportRequestID>")
    )


def _registered_report(msg: m.RegisteredReport, out: list[str]) -> None:
    out.append(_response(msg.response))
    for rr in _seq(msg.report_requests, "oadrReportRequest"):
        _report_request(rr, out)
    out.append(_opt_ven(msg.ven_id))


def _create_report(msg: m.CreateReport, out: list[str]) -> None:
    out.append(f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>")
    requests = _seq(msg.report_requests, "oadrReportRequest")
    if not requests:
        raise _Bad("oadrReportRequest", "needs at least one ReportRequest")
    for rr in requests:
        _report_request(rr, out)
    out.append(_opt_ven(msg.ven_id))


def _pending(pending: Any) -> str:
    ids = _seq(pending, "oadrPendingReports/reportRequestID")
    return (
        "<oadr:oadrPendingReports>"
        + "".join([
            f"<ei:reportRequestID>{_s(i, 'oadrPendingReports/reportRequestID')}</ei:reportRequestID>" for i in ids
        ])
        + "</oadr:oadrPendingReports>"
    )


def _created_report(msg: m.CreatedReport, out: list[str]) -> None:
    out.append(_response(msg.response) + _pending(msg.pending_reports) + _opt_ven(msg.ven_id))


def _update_report(msg: m.UpdateReport, out: list[str]) -> None:
    out.append(f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>")
    for rep in _seq(msg.reports, "oadrReport"):
        _report(rep, out)
    out.append(_opt_ven(msg.ven_id))


def _cancel_report_body(msg: Any, out: list[str]) -> None:
    ids = _seq(msg.report_request_ids, "reportRequestID")
    if not ids:
        raise _Bad("reportRequestID", "needs at least one report request ID")
    out.append(
        f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>"
        + "".join([f"<ei:reportRequestID>{_s(i, 'reportRequestID')}</ei:reportRequestID>" for i in ids])
        + f"<pyld:reportToFollow>{_b(msg.report_to_follow, 'reportToFollow')}</pyld:reportToFollow>"
        + _opt_ven(msg.ven_id)
    )


def _updated_report(msg: m.UpdatedReport, out: list[str]) -> None:
    out.append(_response(msg.response))
    cancel = msg.cancel_report
    if cancel is not None:
        if type(cancel) is not m.CancelReport:
            _wrong(cancel, "oadrCancelReport", "a CancelReport")
        out.append("<oadr:oadrCancelReport>")
        _cancel_report_body(cancel, out)
        out.append("</oadr:oadrCancelReport>")
    out.append(_opt_ven(msg.ven_id))


def _canceled_report(msg: m.CanceledReport, out: list[str]) -> None:
    out.append(_response(msg.response) + _pending(msg.pending_reports) + _opt_ven(msg.ven_id))


# --------------------------------------------------------------------- opt


def _create_opt(msg: m.CreateOpt, out: list[str]) -> None:
    market = msg.market_context
    out.append(
        f"<ei:optID>{_s(msg.opt_id, 'optID')}</ei:optID>"
        f"<ei:optType>{_enum(msg.opt_type, 'optType', _OPT_TYPES, False)}</ei:optType>"
        f"<ei:optReason>{_enum(msg.opt_reason, 'optReason', _OPT_REASONS, True)}</ei:optReason>"
        + ("" if market is None else f"<emix:marketContext>{_s(market, 'marketContext')}</emix:marketContext>")
        + f"<ei:venID>{_s(msg.ven_id, 'venID')}</ei:venID>"
    )
    if msg.vavailability is not None:
        windows = _seq(msg.vavailability, "vavailability")
        out.append("<xcal:vavailability><xcal:components>")
        for win in windows:
            if type(win) is not m.AvailableWindow:
                _wrong(win, "vavailability/components/available", "an AvailableWindow")
            w = "vavailability/components/available/properties/"
            start, length = _dt(win.dtstart, w + "dtstart/date-time"), _dur(win.duration, w + "duration/duration")
            out.append(
                f"<xcal:available><xcal:properties><xcal:dtstart><xcal:date-time>{start}</xcal:date-time>"
                f"</xcal:dtstart><xcal:duration><xcal:duration>{length}</xcal:duration></xcal:duration>"
                "</xcal:properties></xcal:available>"
            )
        out.append("</xcal:components></xcal:vavailability>")
    event_id, mrid = msg.event_id, msg.signal_target_mrid
    qualified = ""
    if event_id is not None or msg.modification_number is not None:
        qualified = (
            f"<ei:qualifiedEventID><ei:eventID>{_s(event_id, 'qualifiedEventID/eventID')}</ei:eventID>"
            f"<ei:modificationNumber>{_u(msg.modification_number, 'qualifiedEventID/modificationNumber')}"
            "</ei:modificationNumber></ei:qualifiedEventID>"
        )
    out.append(
        f"<ei:createdDateTime>{_dt(msg.created_date_time, 'createdDateTime')}</ei:createdDateTime>"
        f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>{qualified}"
        f"<ei:eiTarget>{_targets_body(msg.targets, 'eiTarget')}</ei:eiTarget>"
        + ("" if mrid is None else
           "<oadr:oadrDeviceClass><power:endDeviceAsset><power:mrid>"
           f"{_s(mrid, 'oadrDeviceClass/endDeviceAsset/mrid')}"
           "</power:mrid></power:endDeviceAsset></oadr:oadrDeviceClass>")
    )


def _created_opt(msg: m.CreatedOpt, out: list[str]) -> None:
    out.append(_response(msg.response) + f"<ei:optID>{_s(msg.opt_id, 'optID')}</ei:optID>")


def _cancel_opt(msg: m.CancelOpt, out: list[str]) -> None:
    out.append(
        f"<pyld:requestID>{_s(msg.request_id, 'requestID')}</pyld:requestID>"
        f"<ei:optID>{_s(msg.opt_id, 'optID')}</ei:optID><ei:venID>{_s(msg.ven_id, 'venID')}</ei:venID>"
    )


def _canceled_opt(msg: m.CanceledOpt, out: list[str]) -> None:
    opt_id = msg.opt_id
    out.append(_response(msg.response) + ("" if opt_id is None else f"<ei:optID>{_s(opt_id, 'optID')}</ei:optID>"))


# -------------------------------------------------------------- poll, misc


def _poll(msg: m.Poll, out: list[str]) -> None:
    out.append(f"<ei:venID>{_s(msg.ven_id, 'venID')}</ei:venID>")


def _response_message(msg: m.ResponseMessage, out: list[str]) -> None:
    out.append(_response(msg.response) + _opt_ven(msg.ven_id))


# ------------------------------------------------------------------ dispatch

_Builder = Callable[[Any, list[str]], None]

# A finder gets the message and the pieces of its element (it joins them if it must search the text).
_NsFinder = Callable[[Any, list[str]], tuple[str, ...]]

# Namespaces (prefixes) every message type uses; nested ones are found per message.
_BASE = ("ei", "oadr", "pyld")
_SMALL = ("ei", "oadr")
_NESTED_TAGS = tuple((p, f"<{p}:") for p in ("emix", "gml", "power", "scale", "strm", "xcal"))


def _ns_scan(msg: Any, pieces: list[str]) -> tuple[str, ...]:
    """The nested namespaces whose elements appear in the message (sorted)."""
    body = "".join(pieces)
    return tuple([p for p, tag in _NESTED_TAGS if tag in body])


# Searching a large body for an absent "<gml:" is slow ("<" and ":" are everywhere), so
# for events and reports the rare namespaces come from the model: targets and measurements.
_TARGET_NS: dict[str, tuple[str, ...]] = {
    "aggregated_p_node": ("power",), "end_device_asset": ("power",), "meter_asset": ("power",),
    "p_node": ("power",), "service_area": ("emix", "gml"), "service_delivery_point": ("power",),
    "service_location": ("gml", "power"), "transport_interface": ("power",),
}
_MEASUREMENT_NS: dict[str, tuple[str, ...]] = {
    name: ("power", "scale") if p == "power" else () if kind == "pulse" else ("scale",)
    for name, (p, kind) in _MEASUREMENTS.items()
}


def _add_target_ns(targets: Any, acc: set[str]) -> None:
    for target in targets or ():
        for key in target:
            acc.update(_TARGET_NS.get(key, ()))


def _sorted_ns(acc: set[str]) -> tuple[str, ...]:
    return tuple([p for p, _ in _NESTED_TAGS if p in acc])


def _ns_reports(msg: Any, pieces: list[str]) -> tuple[str, ...]:
    """Namespaces of ``oadrReport`` elements (only built messages come here)."""
    reports = msg.reports
    if not reports:
        return ()
    body = "".join(pieces)
    acc = {p for p in ("strm", "xcal") if f"<{p}:" in body}
    for rep in reports:
        for rd in rep.report_descriptions or ():
            _add_target_ns(rd.report_subject, acc)
            _add_target_ns(rd.report_data_source, acc)
            if rd.measurement is not None:
                acc.update(_MEASUREMENT_NS[rd.measurement.name])
            if rd.market_context is not None:
                acc.add("emix")
    return _sorted_ns(acc)


def _ns_events(msg: Any, pieces: list[str]) -> tuple[str, ...]:
    """Namespaces of ``oadrEvent`` elements (only built messages come here)."""
    events = msg.events
    if not events:
        return ()
    acc = {"emix", "strm", "xcal"}
    measurement_ns = _MEASUREMENT_NS
    for ev in events:
        _add_target_ns(_targets_of(ev), acc)
        for sig in ev["event_signals"]:
            meas = sig.get("measurement")
            if meas is not None:
                acc.update(measurement_ns[meas.name])
            if "targets" in sig or "targets_by_type" in sig:
                _add_target_ns(_targets_of(sig), acc)
    return _sorted_ns(acc)


_SPECS: dict[type, tuple[_Builder, tuple[str, ...], _NsFinder | None]] = {
    m.QueryRegistration: (_query_registration, _BASE, None),
    m.CreatePartyRegistration: (_create_party_registration, _BASE, None),
    m.CreatedPartyRegistration: (_created_party_registration, _BASE, _ns_scan),
    m.CancelPartyRegistration: (_cancel_party_registration, _BASE, None),
    m.CanceledPartyRegistration: (_canceled_party_registration, _BASE, None),
    m.RequestReregistration: (_request_reregistration, _SMALL, None),
    m.RequestEvent: (_request_event, _BASE, None),
    m.DistributeEvent: (_distribute_event, _BASE, _ns_events),
    m.CreatedEvent: (_created_event, _BASE, None),
    m.RegisterReport: (_register_report, _BASE, _ns_reports),
    m.RegisteredReport: (_registered_report, _BASE, _ns_scan),
    m.CreateReport: (_create_report, _BASE, _ns_scan),
    m.CreatedReport: (_created_report, _BASE, None),
    m.UpdateReport: (_update_report, _BASE, _ns_reports),
    m.UpdatedReport: (_updated_report, _BASE, None),
    m.CancelReport: (_cancel_report_body, _BASE, None),
    m.CanceledReport: (_canceled_report, _BASE, None),
    m.CreateOpt: (_create_opt, _BASE, _ns_scan),
    m.CreatedOpt: (_created_opt, _BASE, None),
    m.CancelOpt: (_cancel_opt, _BASE, None),
    m.CanceledOpt: (_canceled_opt, _BASE, None),
    m.Poll: (_poll, _SMALL, None),
    m.ResponseMessage: (_response_message, _BASE, None),
}


def _signed_open(prefixes: tuple[str, ...]) -> str:
    """The ``oadrSignedObject`` start tag declaring ``prefixes`` (sorted as C14N sorts them)."""
    decls = "".join([f' xmlns:{p}="{NS[p]}"' for p in sorted(prefixes)])
    return f'<oadr:oadrSignedObject{decls} oadr:Id="oadrSignedObject">'


def _all_signed_opens() -> dict[tuple[tuple[str, ...], tuple[str, ...]], str]:
    nested = [p for p, _ in _NESTED_TAGS]
    table: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    for base in (_BASE, _SMALL):
        for bits in range(1 << len(nested)):
            extra = tuple([p for i, p in enumerate(nested) if bits >> i & 1])
            table[base, extra] = _signed_open(base + extra)
    return table


#: The ``oadrSignedObject`` start tag by (base prefixes, nested prefixes); read-only.
_SIGNED_OPENS = _all_signed_opens()

# Per message type: (builder, message start tag, message end tag, nested-namespace finder,
# base prefixes, oadrSignedObject start tag without nested namespaces).
_DISPATCH: dict[type, tuple[_Builder, str, str, _NsFinder | None, tuple[str, ...], str]] = {
    cls: (
        fn,
        f'<oadr:{cls.message_type} ei:schemaVersion="2.0b">',  # type: ignore[attr-defined]
        f"</oadr:{cls.message_type}>",  # type: ignore[attr-defined]
        finder,
        base,
        _signed_open(base),
    )
    for cls, (fn, base, finder) in _SPECS.items()
}

_MESSAGE_TYPE_NAMES: dict[type, str] = {cls: cls.message_type for cls in _SPECS}  # type: ignore[attr-defined]
_REPEATED = frozenset({
    "oadrEvent", "eiEventSignal", "interval", "eventResponse", "oadrReport", "oadrReportDescription",
    "oadrReportPayload", "oadrReportRequest", "specifierPayload", "oadrProfile", "oadrTransport", "available",
    "reportRequestID",
})
_TAG = re.compile(r"<(/?)(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def _path(pieces: list[str], where: str) -> str:
    """The element path of a failure: the elements still open in ``pieces``, then ``where``."""
    stack: list[str] = []
    counts: list[dict[str, int]] = [{}]
    for mt in _TAG.finditer("".join(pieces)):
        if mt.group(1):
            stack.pop()
            counts.pop()
        else:
            name = mt.group(2)
            n = counts[-1].get(name, 0) + 1
            counts[-1][name] = n
            stack.append(f"{name}[{n}]" if name in _REPEATED else name)
            counts.append({})
    for i, name in enumerate(where.split("/") if where else ()):
        if name in _REPEATED:
            n = (counts[-1].get(name, 0) + 1) if i == 0 else 1
            name = f"{name}[{n}]"
        stack.append(name)
    return "/".join(stack)


def _build(msg: Any, twin: ModuleType | None) -> tuple[str, list[str]]:
    """Build a message: (the ``oadrSignedObject`` start tag, the pieces of the message element).
    ``twin``: the module whose ``event`` writes ``oadrEvent`` elements, ``None`` for the one in use.

    The pieces are returned, not joined, so that the caller joins the whole document once."""
    spec = _DISPATCH.get(type(msg))
    if spec is None:
        name = getattr(type(msg), "message_type", None)
        raise BuildError(
            f"cannot build a {type(msg).__name__}: not a message class of fleetven.openadr.model",
            message_type=name if isinstance(name, str) else None, path=None,
        )
    fn, open_tag, close_tag, finder, base, signed_open = spec
    out = [open_tag]
    try:
        if twin is None or fn is not _distribute_event:
            fn(msg, out)
        else:
            _distribute_event(msg, out, twin.event)
    except _Bad as exc:
        name = _MESSAGE_TYPE_NAMES[type(msg)]
        path = _path(out, exc.where)
        raise BuildError(f"cannot build {name}: {path} {exc.reason}", message_type=name, path=path) from None
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        name = _MESSAGE_TYPE_NAMES[type(msg)]
        path = _path(out, "")
        raise BuildError(f"cannot build {name}: at {path}: {type(exc).__name__}: {exc}",
                         message_type=name, path=path) from None
    out.append(close_tag)
    if finder is not None:
        nested = finder(msg, out)
        if nested:
            signed_open = _SIGNED_OPENS[base, nested]
    return signed_open, out


def build_signed_object(msg: m.Message, *, twin: ModuleType | None = None) -> bytes:
    """Build the ``oadrSignedObject`` element of a message, in Canonical XML 1.0 form.

    The bytes are exactly what inclusive C14N (without comments) gives for
    the ``oadrSignedObject`` element of :func:`build_message`'s document, so
    a signature can digest them as they are.

    :param msg: a message object of :mod:`fleetven.openadr.model`.
    :param twin: the module whose ``event`` writes the ``oadrEvent`` elements of an
        ``oadrDistributeEvent`` (``fleetven._fast._build_c`` or its pure twin ``_build_py``):
        by default the one :mod:`fleetven._fast` picked (:data:`BUILD_COMPILED` says which); a
        test running both twins passes each in turn.
    :returns: UTF-8 bytes of ``<oadr:oadrSignedObject ...>...</oadr:oadrSignedObject>``.
    :raises BuildError: a required value is missing, a value has the wrong type
        or cannot be written (naive datetime, non-finite number, a character
        XML 1.0 does not allow, an unknown measurement or target type); its
        ``message_type`` and ``path`` fields say where.
    """
    signed_open, out = _build(msg, twin)
    out[0] = signed_open + out[0]
    out.append(_SIGNED_CLOSE)
    return "".join(out).encode()


def build_message(msg: m.Message, *, twin: ModuleType | None = None) -> bytes:
    """Build a whole ``oadrPayload`` document (unsigned) for a message.

    Equal to ``envelope(build_signed_object(msg))``.

    :param msg: a message object of :mod:`fleetven.openadr.model`.
    :param twin: as :func:`build_signed_object`.
    :returns: UTF-8 bytes, starting with the XML declaration.
    :raises BuildError: as :func:`build_signed_object`.
    """
    signed_open, out = _build(msg, twin)
    out[0] = _PAYLOAD_OPEN_STR + signed_open + out[0]
    out.append(_SIGNED_CLOSE + _PAYLOAD_CLOSE_STR)
    return "".join(out).encode()
