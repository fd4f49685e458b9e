"""Building ``oadrEvent`` elements, pure-Python twin: the specification.

:mod:`fleetven.messages.build` writes each ``oadrEvent`` of an
``oadrDistributeEvent`` with :func:`fleetven._fast.event`, this twin's
:func:`event` or the compiled one's. ``fleetven/_fast/_build_c.pyx`` is the compiled
twin and must append exactly the same text, or raise the same error after
appending the same pieces (the element path of a
:class:`~fleetven.exceptions.BuildError` is worked out from what was appended);
``tests/test_build_twins.py`` compares them on generated events.

The value writers it shares with :mod:`fleetven.messages.build` live below
both, in :mod:`fleetven.openadr._text`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fleetven.openadr._text import (
    _DURATIONS,
    _EVENT_STATUS,
    _HM,
    _RESPONSE_REQUIRED,
    _SIGNAL_NAMES,
    _SIGNAL_TYPES,
    _SS,
    _UNSET,
    UTC,
    _Bad,
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
)

__all__ = ("event",)


def event(ev: Any, out: list[str]) -> None:
    """Append one ``oadr:oadrEvent`` element (an event dict of
    :class:`~fleetven.openadr.model.DistributeEvent`) to ``out``.

    :param ev: the event: a dict as :class:`~fleetven.openadr.model.DistributeEvent` documents.
    :param out: the pieces of the message written so far.
    :raises fleetven.openadr._text._Bad: a value cannot be written (the caller
        turns it into a :class:`~fleetven.exceptions.BuildError`, with the path
        worked out from ``out``); other errors of a malformed value
        (``AttributeError``, ``TypeError``, ...) propagate likewise.
    """
    ev = _dict(ev, "oadrEvent")
    out.append("<oadr:oadrEvent><ei:eiEvent>")
    # --- eventDescriptor
    d = ev.get("event_descriptor")
    d = ev if d is None else _dict(d, "eventDescriptor")
    g = d.get
    w = "eventDescriptor/"
    eid = _s(g("event_id"), w + "eventID")
    mod = _u(g("modification_number"), w + "modificationNumber")
    mdt, mreason, prio, test, comment = (
        g("modification_date_time"), g("modification_reason"), g("priority"), g("test_event"), g("vtn_comment"))
    opt = ""
    if mdt is not None:
        opt = f"<ei:modificationDateTime>{_dt(mdt, w + 'modificationDateTime')}</ei:modificationDateTime>"
    if mreason is not None:
        opt += f"<ei:modificationReason>{_s(mreason, w + 'modificationReason')}</ei:modificationReason>"
    if prio is not None:
        opt += f"<ei:priority>{_u(prio, w + 'priority')}</ei:priority>"
    market = _s(g("market_context"), w + "eiMarketContext/marketContext")
    created = _dt(g("created_date_time"), w + "createdDateTime")
    status = _enum(g("event_status"), w + "eventStatus", _EVENT_STATUS, False)
    tail = ""
    if test is not None:
        test_s = "true" if test is True else "false" if test is False else _s(test, w + "testEvent")
        tail = f"<ei:testEvent>{test_s}</ei:testEvent>"
    if comment is not None:
        tail += f"<ei:vtnComment>{_s(comment, w + 'vtnComment')}</ei:vtnComment>"
    out.append(
        f"<ei:eventDescriptor><ei:eventID>{eid}</ei:eventID><ei:modificationNumber>{mod}</ei:modificationNumber>"
        f"{opt}<ei:eiMarketContext><emix:marketContext>{market}</emix:marketContext></ei:eiMarketContext>"
        f"<ei:createdDateTime>{created}</ei:createdDateTime><ei:eventStatus>{status}</ei:eventStatus>{tail}"
        "</ei:eventDescriptor>"
    )
    # --- eiActivePeriod
    ap = _dict(ev.get("active_period"), "eiActivePeriod")
    w = "eiActivePeriod/properties/"
    start = _dt(ap.get("dtstart"), w + "dtstart/date-time")
    duration = _dur(ap.get("duration"), w + "duration/duration")
    extra = ""
    tol = ap.get("tolerance")
    if tol is not None:
        tol = _dict(tol, w + "tolerance")
        tolerate = tol.get("tolerate", tol)
        startafter = None if tolerate is None else _dict(tolerate, w + "tolerance/tolerate").get("startafter")
        extra = (
            "<xcal:tolerance><xcal:tolerate>"
            + ("" if startafter is None else
               f"<xcal:startafter>{_dur(startafter, w + 'tolerance/tolerate/startafter')}</xcal:startafter>")
            + "</xcal:tolerate></xcal:tolerance>"
        )
    notification, ramp_up, recovery = ap.get("notification"), ap.get("ramp_up"), ap.get("recovery")
    if notification is not None:
        extra += (f"<ei:x-eiNotification><xcal:duration>{_dur(notification, w + 'x-eiNotification/duration')}"
                  "</xcal:duration></ei:x-eiNotification>")
    if ramp_up is not None:
        extra += (f"<ei:x-eiRampUp><xcal:duration>{_dur(ramp_up, w + 'x-eiRampUp/duration')}"
                  "</xcal:duration></ei:x-eiRampUp>")
    if recovery is not None:
        extra += (f"<ei:x-eiRecovery><xcal:duration>{_dur(recovery, w + 'x-eiRecovery/duration')}"
                  "</xcal:duration></ei:x-eiRecovery>")
    out.append(
        f"<ei:eiActivePeriod><xcal:properties><xcal:dtstart><xcal:date-time>{start}</xcal:date-time></xcal:dtstart>"
        f"<xcal:duration><xcal:duration>{duration}</xcal:duration></xcal:duration>{extra}</xcal:properties>"
        "<xcal:components></xcal:components></ei:eiActivePeriod>"
    )
    # --- eiEventSignals
    signals = _seq(ev.get("event_signals"), "eiEventSignals")
    if not signals:
        raise _Bad("eiEventSignals", "needs at least one event signal")
    out.append("<ei:eiEventSignals>")
    append = out.append
    durations, hm, ss = _DURATIONS, _HM, _SS
    last_o, last_d = -1, ""
    last_du: Any = _UNSET
    last_dus = ""
    for sig in signals:
        sig = _dict(sig, "eiEventSignal")
        intervals = _seq(sig.get("intervals"), "eiEventSignal/intervals")
        if not intervals:
            raise _Bad("eiEventSignal/intervals", "needs at least one interval")
        append("<ei:eiEventSignal><strm:intervals>")
        for iv in intervals:
            if type(iv) is not dict:
                iv = _dict(iv, "interval")
            ds = iv.get("dtstart")
            du = iv.get("duration")
            if du is last_du:  # intervals often share one timedelta object
                dus = last_dus
            else:
                found = durations.get(du) if type(du) is timedelta else None
                dus = _dur(du, "interval/duration/duration") if found is None else found
                last_du, last_dus = du, dus
            uid = iv.get("uid")
            if uid is None:
                uids = ""
            elif type(uid) is str and uid.isalnum():
                uids = f"<xcal:uid><xcal:text>{uid}</xcal:text></xcal:uid>"
            else:
                uids = f"<xcal:uid><xcal:text>{_s(uid, 'interval/uid/text')}</xcal:text></xcal:uid>"
            p = iv.get("signal_payload")
            if type(p) is float and p - p == 0.0:
                ps = repr(p)
            else:
                ps = _f(p, "interval/signalPayload/payloadFloat/value")
            if ds is None:
                append(
                    f"<ei:interval><xcal:duration><xcal:duration>{dus}</xcal:duration></xcal:duration>"
                    f"{uids}<ei:signalPayload><ei:payloadFloat>"
                    f"<ei:value>{ps}</ei:value></ei:payloadFloat></ei:signalPayload></ei:interval>"
                )
            else:
                if type(ds) is datetime and ds.tzinfo is UTC and not ds.microsecond:
                    o = ds.toordinal()
                    if o != last_o:
                        last_o, last_d = o, ds.date().isoformat()
                    dss = f"{last_d}T{hm[ds.hour * 60 + ds.minute]}{ss[ds.second]}Z"
                else:
                    dss = _dt(ds, "interval/dtstart/date-time")
                append(
                    f"<ei:interval><xcal:dtstart><xcal:date-time>{dss}"
                    f"</xcal:date-time></xcal:dtstart><xcal:duration><xcal:duration>{dus}</xcal:duration>"
                    f"</xcal:duration>{uids}<ei:signalPayload>"
                    f"<ei:payloadFloat><ei:value>{ps}</ei:value></ei:payloadFloat></ei:signalPayload></ei:interval>"
                )
        append("</strm:intervals>")
        sig_targets = _targets_of(sig)
        target = "" if sig_targets is None else f"<ei:eiTarget>{_targets_body(sig_targets, 'eiTarget')}</ei:eiTarget>"
        name = _enum(sig.get("signal_name"), "signalName", _SIGNAL_NAMES, True)
        stype = _enum(sig.get("signal_type"), "signalType", _SIGNAL_TYPES, False)
        sid = _s(sig.get("signal_id"), "signalID")
        meas = sig.get("measurement")
        item = "" if meas is None else _measurement(meas, "")
        cur = sig.get("current_value")
        current = ("" if cur is None else
                   f"<ei:currentValue><ei:payloadFloat><ei:value>{_f(cur, 'currentValue/payloadFloat/value')}"
                   "</ei:value></ei:payloadFloat></ei:currentValue>")
        append(
            f"{target}<ei:signalName>{name}</ei:signalName><ei:signalType>{stype}</ei:signalType>"
            f"<ei:signalID>{sid}</ei:signalID>{item}{current}</ei:eiEventSignal>"
        )
    append("</ei:eiEventSignals>")
    # --- eiTarget, oadrResponseRequired
    target = _targets_body(_targets_of(ev), "eiTarget")
    rr = ev.get("response_required")
    rr = "always" if rr is None else _enum(rr, "oadrResponseRequired", _RESPONSE_REQUIRED, False)
    append(
        f"<ei:eiTarget>{target}</ei:eiTarget></ei:eiEvent>"
        f"<oadr:oadrResponseRequired>{rr}</oadr:oadrResponseRequired></oadr:oadrEvent>"
    )
