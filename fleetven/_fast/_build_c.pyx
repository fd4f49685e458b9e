# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :mod:`fleetven._fast._build_py`.

The pure-Python twin is the specification: :func:`event` appends exactly the
text it appends, or raises the same error after appending the same pieces. It
writes the event into a C buffer (UTF-8) and appends it to ``out`` as one
``str`` only when the whole event is written; the common shapes are written in
C:

* exact ``dict`` events, descriptors, active periods, signals and intervals;
* datetimes that are exact ``datetime`` objects in ``timezone.utc`` without
  microseconds; durations that are exact, non-negative ``timedelta`` objects
  of whole seconds (written as :func:`~fleetven.openadr.timefmt.format_duration`
  writes them);
* exact ``str`` values of printable ASCII (tab and newline too) without
  ``&``, ``<``, ``>``; enumeration values of that kind found in their set;
* finite exact ``float`` numbers as ``repr`` writes them: a decimal of at
  most six places and 15 digits (a price, a set point) directly, any other by
  ``PyOS_double_to_string``; exact ``int`` numbers up to 18 digits;
* targets that are one-key dicts of the simple kinds (``ven_id``,
  ``group_id``, ...).

A value of another kind is written by the very helper of
:mod:`fleetven.openadr._text` that the pure twin calls for it (measurements
and other targets always are). Some shapes (an interval that is not a common
one, a ``tolerance``, a list or dict subclass) and every exception, whatever
raised it, make it drop the buffer and hand the event to the pure twin, which
then writes it or raises its error with ``out`` as the specification has it:
the C code has no error paths of its own.
"""

from cpython.datetime cimport (
    import_datetime, get_utc, datetime_tzinfo, datetime_year, datetime_month, datetime_day, datetime_hour,
    datetime_minute, datetime_second, datetime_microsecond, timedelta_days, timedelta_seconds,
    timedelta_microseconds, PyDateTime_CheckExact, PyDelta_CheckExact,
)
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.math cimport floor
from libc.string cimport memcpy, strlen

from fleetven._fast import _build_py as _py
from fleetven.openadr import model as _m
from fleetven.openadr._text import (
    _EVENT_STATUS,
    _MEASUREMENTS,
    _SCALES,
    _RESPONSE_REQUIRED,
    _SIGNAL_NAMES,
    _SIGNAL_TYPES,
    _dt,
    _dur,
    _enum,
    _f,
    _measurement,
    _s,
    _targets_body,
    _targets_of,
    _u,
)

import_datetime()

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_1BYTE_DATA(object o)
    PyObject* PyDict_GetItemWithError(object d, object key)
    bint PyDict_Next(object d, Py_ssize_t* pos, PyObject** key, PyObject** value)
    PyObject* PyErr_Occurred()
    void PyErr_Clear()
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1
    bint PyDict_CheckExact(object o)
    bint PyList_CheckExact(object o)
    bint PyTuple_CheckExact(object o)
    bint PyFloat_CheckExact(object o)
    bint PyLong_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    double PyFloat_AS_DOUBLE(object o)
    bint PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    void* PyUnicode_DATA(object o)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    int PySet_Contains(object s, object key) except -1
    Py_ssize_t PyDict_GET_SIZE(object d)
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0
    bint Py_IS_FINITE(double x)

__all__ = ("event",)

cdef object _UTC = get_utc()
cdef object _K_DTSTART = "dtstart"
cdef object _K_DURATION = "duration"
cdef object _K_UID = "uid"
cdef object _K_PAYLOAD = "signal_payload"
cdef object _py_event = _py.event
cdef object _Measurement = _m.Measurement

# Simple target types: key -> (rank in the schema's EiTargetType sequence, element, path of its text).
cdef dict _SIMPLE = {
    "group_id": (8, b"ei:groupID", "eiTarget/groupID"),
    "group_name": (9, b"ei:groupName", "eiTarget/groupName"),
    "resource_id": (10, b"ei:resourceID", "eiTarget/resourceID"),
    "ven_id": (11, b"ei:venID", "eiTarget/venID"),
    "party_id": (12, b"ei:partyID", "eiTarget/partyID"),
}


include "_buf.pxi"


cdef inline void _digits(char* p, long v, int width):
    """Write ``v`` (>= 0) as ``width`` decimal digits, zero-padded, at ``p``."""
    cdef int i
    for i in range(width - 1, -1, -1):
        p[i] = <char>(48 + v % 10)
        v //= 10


cdef int _num(Buf* b, long long v, char unit) except -1:
    """Write ``v`` (>= 0) in decimal, then ``unit``."""
    cdef char tmp[24]
    cdef int n = 0
    cdef int i
    if b.size + 24 > b.cap:
        _buf_grow(b, 24)
    if v == 0:
        tmp[0] = 48
        n = 1
    while v > 0:
        tmp[n] = <char>(48 + v % 10)
        v //= 10
        n += 1
    for i in range(n):
        b.data[b.size + i] = tmp[n - 1 - i]
    b.data[b.size + n] = unit
    b.size += n + 1
    return 0


cdef int _duration(Buf* b, object du) except -1:
    """``format_duration`` of an exact, non-negative timedelta of whole seconds; 1 if written, 0 if not."""
    cdef long days, hours, minutes, seconds, rest
    if not PyDelta_CheckExact(du) or timedelta_microseconds(du) != 0:
        return 0
    days = timedelta_days(du)
    if days < 0:
        return 0
    rest = timedelta_seconds(du)
    hours = rest // 3600
    rest -= hours * 3600
    minutes = rest // 60
    seconds = rest - minutes * 60
    _put(b, "P", 1)
    if days:
        _num(b, days, 68)  # D
    if hours or minutes or seconds or not days:
        _put(b, "T", 1)
        if hours:
            _num(b, hours, 72)  # H
        if minutes:
            _num(b, minutes, 77)  # M
        if seconds or not (days or hours or minutes):
            _num(b, seconds, 83)  # S
    return 1


cdef int _datetime(Buf* b, object ds) except -1:
    """An exact UTC datetime without microseconds as ``YYYY-MM-DDTHH:MM:SSZ``; 1 if written, 0 if not."""
    cdef char* p
    if not PyDateTime_CheckExact(ds) or datetime_tzinfo(ds) is not _UTC or datetime_microsecond(ds) != 0:
        return 0
    if b.size + 20 > b.cap:
        _buf_grow(b, 20)
    p = b.data + b.size
    _digits(p, datetime_year(ds), 4)
    p[4] = 45  # -
    _digits(p + 5, datetime_month(ds), 2)
    p[7] = 45
    _digits(p + 8, datetime_day(ds), 2)
    p[10] = 84  # T
    _digits(p + 11, datetime_hour(ds), 2)
    p[13] = 58  # :
    _digits(p + 14, datetime_minute(ds), 2)
    p[16] = 58
    _digits(p + 17, datetime_second(ds), 2)
    p[19] = 90  # Z
    b.size += 20
    return 1


cdef int _uid(Buf* b, object uid) except -1:
    """A uid ``_s`` writes as it is; 1 if written, 0 if not."""
    if not _plain(uid):
        return 0
    _puts(b, "<xcal:uid><xcal:text>")
    _put(b, <const char*>PyUnicode_DATA(uid), PyUnicode_GET_LENGTH(uid))
    _puts(b, "</xcal:text></xcal:uid>")
    return 1


cdef double[7] _POW10 = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
cdef long long[7] _IPOW10 = [1, 10, 100, 1000, 10000, 100000, 1000000]


cdef int _short_decimal(Buf* b, double x) except -1:
    """``repr(x)`` of a float that is a decimal with at most six places and 15 digits; 1 if written, 0 if not.

    Prices and set points are such numbers (0.1234, 250.5), and Python's shortest-repr algorithm
    spends most of its time on big-number arithmetic for them. For k = 0..6 places, the integer m
    nearest to |x|·10**k is the only candidate (|x|·10**k < 1e15 is off by far less than 0.5), and
    m / 10**k is correctly rounded in IEEE arithmetic, as reading the decimal is: when it gives |x|
    back, that decimal of at most 15 significant digits reads as x and no other decimal of as few
    places does, so the first k that works gives repr's digits. repr writes such numbers in fixed
    notation (1e-4 <= |x| < 1e16), with ".0" after an integer. Zero (signed) is left to repr.
    """
    cdef double a = -x if x < 0 else x
    cdef double m
    cdef long long n, whole, part
    cdef int k, i
    cdef char* p
    if not (1e-4 <= a < 1e15):
        return 0
    for k in range(7):
        m = floor(a * _POW10[k] + 0.5)
        if m >= 1e15:
            return 0
        if m / _POW10[k] == a:
            n = <long long>m
            whole = n // _IPOW10[k]
            part = n - whole * _IPOW10[k]
            if x < 0:
                _put(b, "-", 1)
            _num(b, whole, 46)  # "."
            if k == 0:
                _put(b, "0", 1)
                return 1
            if b.size + k > b.cap:
                _buf_grow(b, k)
            p = b.data + b.size
            for i in range(k - 1, -1, -1):
                p[i] = <char>(48 + part % 10)
                part //= 10
            b.size += k
            return 1
    return 0


cdef int _payload(Buf* b, object p) except -1:
    """A finite exact float as ``repr`` writes it, or an exact int; 1 if written, 0 if not."""
    cdef double x
    cdef char* s
    cdef long long v
    cdef int overflow = 0
    if PyFloat_CheckExact(p):
        x = PyFloat_AS_DOUBLE(p)
        if not Py_IS_FINITE(x):
            return 0
        if _short_decimal(b, x):
            return 1
        s = PyOS_double_to_string(x, 114, 0, Py_DTSF_ADD_DOT_0, NULL)  # 'r': the shortest repr
        try:
            _put(b, s, strlen(s))
        finally:
            PyMem_Free(s)
        return 1
    if PyLong_CheckExact(p):
        v = PyLong_AsLongLongAndOverflow(p, &overflow)
        if overflow or v < -999999999999999999 or v > 999999999999999999:
            return 0
        if v < 0:
            _put(b, "-", 1)
            v = -v
        _num(b, v, 0)
        b.size -= 1  # no unit
        return 1
    return 0


cdef int _put_str(Buf* b, str s) except -1:
    """A ``str`` from a helper, in UTF-8."""
    cdef Py_ssize_t n
    cdef const char* p = PyUnicode_AsUTF8AndSize(s, &n)
    if not PyUnicode_IS_ASCII(s):
        b.ascii = False
    return _put(b, p, n)


cdef inline bint _plain(object v):
    """An exact ASCII str that ``_s`` writes as it is (printable, tab, newline; no ``&``, ``<``, ``>``)."""
    cdef Py_ssize_t n, i
    cdef const unsigned char* s
    cdef unsigned char c
    if not PyUnicode_CheckExact(v) or not PyUnicode_IS_ASCII(v):
        return False
    n = PyUnicode_GET_LENGTH(v)
    s = <const unsigned char*>PyUnicode_DATA(v)
    for i in range(n):
        c = s[i]
        if c < 32:
            if c != 9 and c != 10:
                return False
        elif c > 126 or c == 38 or c == 60 or c == 62:
            return False
    return True


cdef int _text(Buf* b, object v, str where) except -1:
    """``_s(v, where)``."""
    if _plain(v):
        return _put(b, <const char*>PyUnicode_DATA(v), PyUnicode_GET_LENGTH(v))
    return _put_str(b, _s(v, where))


cdef int _choice(Buf* b, object v, str where, object allowed, bint extensible) except -1:
    """``_enum(v, where, allowed, extensible)``."""
    if _plain(v) and PySet_Contains(allowed, v):
        return _put(b, <const char*>PyUnicode_DATA(v), PyUnicode_GET_LENGTH(v))
    return _put_str(b, _enum(v, where, allowed, extensible))


cdef int _uint(Buf* b, object v, str where) except -1:
    """``_u(v, where)``."""
    cdef long long x
    cdef int overflow = 0
    if PyLong_CheckExact(v):
        x = PyLong_AsLongLongAndOverflow(v, &overflow)
        if not overflow and 0 <= x <= 4294967295:
            _num(b, x, 0)
            b.size -= 1  # no unit
            return 0
    return _put_str(b, _u(v, where))


cdef int _when(Buf* b, object v, str where) except -1:
    """``_dt(v, where)``."""
    if _datetime(b, v):
        return 0
    return _put_str(b, _dt(v, where))


cdef int _length(Buf* b, object v, str where) except -1:
    """``_dur(v, where)``."""
    if _duration(b, v):
        return 0
    return _put_str(b, _dur(v, where))


cdef int _number(Buf* b, object v, str where) except -1:
    """``_f(v, where)``."""
    if _payload(b, v):
        return 0
    return _put_str(b, _f(v, where))


cdef int _decimal(Buf* b, object v) except -1:
    """``_dec(v, ...)`` of an exact int or a finite exact float written without exponent; 1 if written."""
    cdef Py_ssize_t start = b.size
    cdef Py_ssize_t i
    if PyLong_CheckExact(v) or PyFloat_CheckExact(v):
        if not _payload(b, v):
            return 0
        for i in range(start, b.size):
            if b.data[i] == 101:  # e: _dec rewrites it without exponent
                b.size = start
                return 0
        return 1
    return 0


cdef int _measure(Buf* b, object v) except -1:
    """``_measurement(v, "")``: plain and power measurements in C, others by the helper."""
    cdef Py_ssize_t start = b.size
    cdef object name, spec, pa, ac
    cdef bytes prefix, tag
    if type(v) is _Measurement:
        name = v.name
        spec = _MEASUREMENTS.get(name) if PyUnicode_CheckExact(name) else None
        if spec is not None and (<tuple>spec)[1] != "pulse" and _plain(name):
            prefix = (<str>(<tuple>spec)[0]).encode()
            tag = prefix + b":" + (<str>name).encode()
            desc, unit, scale = v.description, v.unit, v.scale
            if _plain(desc) and _plain(unit) and _plain(scale) and PySet_Contains(_SCALES, scale):
                _put(b, "<", 1)
                _put(b, tag, len(tag))
                _put(b, "><", 2)
                _put(b, prefix, len(prefix))
                _puts(b, ":itemDescription>")
                _text(b, desc, "")
                _put(b, "</", 2)
                _put(b, prefix, len(prefix))
                _puts(b, ":itemDescription><")
                _put(b, prefix, len(prefix))
                _puts(b, ":itemUnits>")
                _text(b, unit, "")
                _put(b, "</", 2)
                _put(b, prefix, len(prefix))
                _puts(b, ":itemUnits><scale:siScaleCode>")
                _text(b, scale, "")
                _puts(b, "</scale:siScaleCode>")
                if (<tuple>spec)[1] == "plain":
                    _put(b, "</", 2)
                    _put(b, tag, len(tag))
                    _put(b, ">", 1)
                    return 0
                pa = v.power_attributes
                if PyDict_CheckExact(pa):
                    _puts(b, "<power:powerAttributes><power:hertz>")
                    if _decimal(b, (<dict>pa).get("hertz")):
                        _puts(b, "</power:hertz><power:voltage>")
                        if _decimal(b, (<dict>pa).get("voltage")):
                            ac = (<dict>pa).get("ac")
                            if ac is True or ac is False:
                                _puts(b, "</power:voltage><power:ac>")
                                _puts(b, "true" if ac is True else "false")
                                _puts(b, "</power:ac></power:powerAttributes></")
                                _put(b, tag, len(tag))
                                _put(b, ">", 1)
                                return 0
    b.size = start
    return _put_str(b, _measurement(v, ""))


cdef int _write_intervals(Buf* b, object items) except -1:
    """Write every interval; 1 if all were common shapes, 0 at the first that is not."""
    cdef PyObject* ds
    cdef PyObject* du
    cdef PyObject* uid
    cdef PyObject* p
    cdef PyObject* key
    cdef PyObject* value
    cdef PyObject* k_duration = <PyObject*>_K_DURATION
    cdef PyObject* k_payload = <PyObject*>_K_PAYLOAD
    cdef PyObject* k_dtstart = <PyObject*>_K_DTSTART
    cdef PyObject* k_uid = <PyObject*>_K_UID
    cdef Py_ssize_t pos
    cdef bint fast
    cdef object iv
    for iv in items:
        if not PyDict_CheckExact(iv):
            return 0
        # A small dict whose keys are these very (interned) strings is read in one pass, without lookups;
        # any other key (an extra one, an equal string that is another object) means lookups.
        ds = du = uid = p = NULL
        fast = PyDict_GET_SIZE(iv) <= 4
        if fast:
            pos = 0
            while PyDict_Next(iv, &pos, &key, &value):
                if key == k_duration:
                    du = value
                elif key == k_payload:
                    p = value
                elif key == k_dtstart:
                    ds = value
                elif key == k_uid:
                    uid = value
                else:
                    fast = False
                    break
            if fast and (du == NULL or p == NULL):
                return 0
        if not fast:
            # A lookup that raises (a key with a hostile __eq__) makes the pure twin raise it where it should.
            ds = PyDict_GetItemWithError(iv, _K_DTSTART)
            if ds == NULL and PyErr_Occurred() != NULL:
                PyErr_Clear()
                return 0
            du = PyDict_GetItemWithError(iv, _K_DURATION)
            if du == NULL:
                if PyErr_Occurred() != NULL:
                    PyErr_Clear()
                return 0
            uid = PyDict_GetItemWithError(iv, _K_UID)
            if uid == NULL and PyErr_Occurred() != NULL:
                PyErr_Clear()
                return 0
            p = PyDict_GetItemWithError(iv, _K_PAYLOAD)
            if p == NULL:
                if PyErr_Occurred() != NULL:
                    PyErr_Clear()
                return 0
        if ds == NULL or <object>ds is None:
            _puts(b, "<ei:interval><xcal:duration><xcal:duration>")
        else:
            _puts(b, "<ei:interval><xcal:dtstart><xcal:date-time>")
            if not _datetime(b, <object>ds):
                return 0
            _puts(b, "</xcal:date-time></xcal:dtstart><xcal:duration><xcal:duration>")
        if not _duration(b, <object>du):
            return 0
        _puts(b, "</xcal:duration></xcal:duration>")
        if uid != NULL and <object>uid is not None and not _uid(b, <object>uid):
            return 0
        _puts(b, "<ei:signalPayload><ei:payloadFloat><ei:value>")
        if not _payload(b, <object>p):
            return 0
        _puts(b, "</ei:value></ei:payloadFloat></ei:signalPayload></ei:interval>")
    return 1


cdef int _targets(Buf* b, object ev) except -1:
    """``_targets_body(_targets_of(ev), "eiTarget")``: simple one-key targets in C, others by the helpers."""
    cdef object targets = ev.get("targets")
    cdef Py_ssize_t n, i, j
    cdef long ranks[16]
    cdef Py_ssize_t order[16]
    cdef long r
    cdef Py_ssize_t o
    cdef list keys = []
    cdef list values = []
    cdef object t, spec
    cdef bytes tag
    if targets is None or not PyList_CheckExact(targets) or len(targets) > 16:
        return _put_str(b, _targets_body(_targets_of(ev), "eiTarget"))
    n = len(targets)
    for i in range(n):
        t = targets[i]
        if not PyDict_CheckExact(t) or PyDict_GET_SIZE(t) != 1:
            return _put_str(b, _targets_body(_targets_of(ev), "eiTarget"))
        for key, value in (<dict>t).items():
            spec = _SIMPLE.get(key) if PyUnicode_CheckExact(key) else None
            if spec is None or not _plain(value):
                return _put_str(b, _targets_body(_targets_of(ev), "eiTarget"))
            keys.append(spec)
            values.append(value)
        # insertion sort by rank, stable: document order kept within a type
        r = (<tuple>keys[i])[0]
        j = i
        while j > 0 and ranks[j - 1] > r:
            ranks[j] = ranks[j - 1]
            order[j] = order[j - 1]
            j -= 1
        ranks[j] = r
        order[j] = i
    for i in range(n):
        o = order[i]
        tag = (<tuple>keys[o])[1]
        _put(b, "<", 1)
        _put(b, tag, len(tag))
        _put(b, ">", 1)
        _text(b, values[o], (<tuple>keys[o])[2])
        _put(b, "</", 2)
        _put(b, tag, len(tag))
        _put(b, ">", 1)
    return 0


cdef int _write_event(Buf* b, object ev) except -1:
    """Write one event; 1 if written, 0 if the pure twin must."""
    cdef dict e, d, ap, sig
    cdef object v, signals, intervals
    if not PyDict_CheckExact(ev):
        return 0
    e = ev
    _puts(b, "<oadr:oadrEvent><ei:eiEvent><ei:eventDescriptor><ei:eventID>")
    # --- eventDescriptor
    v = e.get("event_descriptor")
    if v is None:
        d = e
    elif PyDict_CheckExact(v):
        d = v
    else:
        return 0
    _text(b, d.get("event_id"), "eventDescriptor/eventID")
    _puts(b, "</ei:eventID><ei:modificationNumber>")
    _uint(b, d.get("modification_number"), "eventDescriptor/modificationNumber")
    _puts(b, "</ei:modificationNumber>")
    v = d.get("modification_date_time")
    if v is not None:
        _puts(b, "<ei:modificationDateTime>")
        _when(b, v, "eventDescriptor/modificationDateTime")
        _puts(b, "</ei:modificationDateTime>")
    v = d.get("modification_reason")
    if v is not None:
        _puts(b, "<ei:modificationReason>")
        _text(b, v, "eventDescriptor/modificationReason")
        _puts(b, "</ei:modificationReason>")
    v = d.get("priority")
    if v is not None:
        _puts(b, "<ei:priority>")
        _uint(b, v, "eventDescriptor/priority")
        _puts(b, "</ei:priority>")
    _puts(b, "<ei:eiMarketContext><emix:marketContext>")
    _text(b, d.get("market_context"), "eventDescriptor/eiMarketContext/marketContext")
    _puts(b, "</emix:marketContext></ei:eiMarketContext><ei:createdDateTime>")
    _when(b, d.get("created_date_time"), "eventDescriptor/createdDateTime")
    _puts(b, "</ei:createdDateTime><ei:eventStatus>")
    _choice(b, d.get("event_status"), "eventDescriptor/eventStatus", _EVENT_STATUS, False)
    _puts(b, "</ei:eventStatus>")
    v = d.get("test_event")
    if v is not None:
        _puts(b, "<ei:testEvent>")
        if v is True:
            _puts(b, "true")
        elif v is False:
            _puts(b, "false")
        else:
            _text(b, v, "eventDescriptor/testEvent")
        _puts(b, "</ei:testEvent>")
    v = d.get("vtn_comment")
    if v is not None:
        _puts(b, "<ei:vtnComment>")
        _text(b, v, "eventDescriptor/vtnComment")
        _puts(b, "</ei:vtnComment>")
    _puts(b, "</ei:eventDescriptor>")
    # --- eiActivePeriod
    v = e.get("active_period")
    if not PyDict_CheckExact(v):
        return 0
    ap = v
    if ap.get("tolerance") is not None:
        return 0
    _puts(b, "<ei:eiActivePeriod><xcal:properties><xcal:dtstart><xcal:date-time>")
    _when(b, ap.get("dtstart"), "eiActivePeriod/properties/dtstart/date-time")
    _puts(b, "</xcal:date-time></xcal:dtstart><xcal:duration><xcal:duration>")
    _length(b, ap.get("duration"), "eiActivePeriod/properties/duration/duration")
    _puts(b, "</xcal:duration></xcal:duration>")
    v = ap.get("notification")
    if v is not None:
        _puts(b, "<ei:x-eiNotification><xcal:duration>")
        _length(b, v, "eiActivePeriod/properties/x-eiNotification/duration")
        _puts(b, "</xcal:duration></ei:x-eiNotification>")
    v = ap.get("ramp_up")
    if v is not None:
        _puts(b, "<ei:x-eiRampUp><xcal:duration>")
        _length(b, v, "eiActivePeriod/properties/x-eiRampUp/duration")
        _puts(b, "</xcal:duration></ei:x-eiRampUp>")
    v = ap.get("recovery")
    if v is not None:
        _puts(b, "<ei:x-eiRecovery><xcal:duration>")
        _length(b, v, "eiActivePeriod/properties/x-eiRecovery/duration")
        _puts(b, "</xcal:duration></ei:x-eiRecovery>")
    _puts(b, "</xcal:properties><xcal:components></xcal:components></ei:eiActivePeriod>")
    # --- eiEventSignals
    signals = e.get("event_signals")
    if not (PyList_CheckExact(signals) or PyTuple_CheckExact(signals)) or not signals:
        return 0
    _puts(b, "<ei:eiEventSignals>")
    for v in signals:
        if not PyDict_CheckExact(v):
            return 0
        sig = v
        intervals = sig.get("intervals")
        if not (PyList_CheckExact(intervals) or PyTuple_CheckExact(intervals)) or not intervals:
            return 0
        _puts(b, "<ei:eiEventSignal><strm:intervals>")
        if not _write_intervals(b, intervals):
            return 0
        _puts(b, "</strm:intervals>")
        if sig.get("targets") is not None or sig.get("targets_by_type") is not None:
            v = _targets_of(sig)
            if v is not None:
                _puts(b, "<ei:eiTarget>")
                _put_str(b, _targets_body(v, "eiTarget"))
                _puts(b, "</ei:eiTarget>")
        _puts(b, "<ei:signalName>")
        _choice(b, sig.get("signal_name"), "signalName", _SIGNAL_NAMES, True)
        _puts(b, "</ei:signalName><ei:signalType>")
        _choice(b, sig.get("signal_type"), "signalType", _SIGNAL_TYPES, False)
        _puts(b, "</ei:signalType><ei:signalID>")
        _text(b, sig.get("signal_id"), "signalID")
        _puts(b, "</ei:signalID>")
        v = sig.get("measurement")
        if v is not None:
            _measure(b, v)
        v = sig.get("current_value")
        if v is not None:
            _puts(b, "<ei:currentValue><ei:payloadFloat><ei:value>")
            _number(b, v, "currentValue/payloadFloat/value")
            _puts(b, "</ei:value></ei:payloadFloat></ei:currentValue>")
        _puts(b, "</ei:eiEventSignal>")
    _puts(b, "</ei:eiEventSignals>")
    # --- eiTarget, oadrResponseRequired
    _puts(b, "<ei:eiTarget>")
    _targets(b, e)
    _puts(b, "</ei:eiTarget></ei:eiEvent><oadr:oadrResponseRequired>")
    v = e.get("response_required")
    if v is None:
        _puts(b, "always")
    else:
        _choice(b, v, "oadrResponseRequired", _RESPONSE_REQUIRED, False)
    _puts(b, "</oadr:oadrResponseRequired></oadr:oadrEvent>")
    return 1


def event(ev, list out):
    """Append one ``oadr:oadrEvent`` element to ``out``.

    See :func:`fleetven._fast._build_py.event`, which this equals.
    """
    cdef Buf b
    cdef bint done = False
    cdef object text
    _buf_init(&b, 32768)
    try:
        try:
            done = _write_event(&b, ev)
        except Exception:  # the pure twin raises it, or its own error, with out as it has it
            done = False
        if done:
            if b.ascii:  # the common case: no need to decode
                text = PyUnicode_New(b.size, 127)
                memcpy(PyUnicode_1BYTE_DATA(text), b.data, b.size)
                out.append(text)
            else:
                out.append(PyUnicode_DecodeUTF8(b.data, b.size, NULL))
    finally:
        PyMem_Free(b.data)
    if not done:
        _py_event(ev, out)
