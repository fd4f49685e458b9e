# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :mod:`fleetven._fast._extract_py`.

The pure-Python twin is the specification: for every input this module returns
equal objects (same classes, same dict keys in the same order, same value
types) or raises the same exception (class, text and fields). It is a
function-by-function port of it that walks libxml2 nodes directly through
lxml's C API instead of creating an element proxy per node:

* elements are matched by ``strcmp`` of their name and namespace URI against C
  string constants; the first matching child is the element, as in the twin;
* text is read from the ``content`` of the leading text and CDATA child nodes
  (exactly what lxml's ``.text`` collects) and converted in C; a Python ``str``
  is made only for values that are returned or for error texts;
* datetimes, durations, integers and floats are parsed in C from the bytes.
  Whenever the C fast path meets anything unusual (non-ASCII text, a value at
  the edge of its range, an error) it hands the text to the very function the
  twin uses (its ``_datetime``, ``_duration``, ``_int``), so that unusual
  results and error texts come from one place;
* paths for error texts (``oadrDistributeEvent/oadrEvent[2]/eiEvent/...``) are
  kept as a chain of C structs on the stack and rendered only when an error is
  raised;
* nothing recurses on the document: the depth of every walk is fixed by the
  message structure, and unknown subtrees are skipped, never entered.
"""

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from cpython.datetime cimport import_datetime, datetime_new, timedelta_new, get_utc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.long cimport PyLong_FromLongLong
from cpython.float cimport PyFloat_FromDouble
from cpython.object cimport PyObject
from libc.string cimport strcmp, strlen, memcmp

from fleetven._fast._extract_py import _datetime as _py_datetime
from fleetven._fast._extract_py import _duration as _py_duration
from fleetven._fast._extract_py import _int as _py_int
from fleetven._fast._extract_py import _out_of_range as _py_out_of_range
from fleetven._fast._extract_py import extract as _py_extract
from fleetven.exceptions import InvalidMessage, InvalidValue, MessageError, UnknownMessage
from fleetven.openadr import model as _m
from fleetven.openadr import timefmt as _timefmt

cetree.import_lxml__etree()
import_datetime()

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0

ctypedef tree.xmlNode Node

cdef object _UTC = get_utc()
cdef object _py_parse_datetime = _timefmt.parse_datetime
cdef object _py_parse_duration = _timefmt.parse_duration
cdef object _ZERO = timedelta_new(0, 0, 0)

cdef object Response = _m.Response
cdef object Profile = _m.Profile
cdef object QueryRegistration = _m.QueryRegistration
cdef object CreatePartyRegistration = _m.CreatePartyRegistration
cdef object CreatedPartyRegistration = _m.CreatedPartyRegistration
cdef object CancelPartyRegistration = _m.CancelPartyRegistration
cdef object CanceledPartyRegistration = _m.CanceledPartyRegistration
cdef object RequestReregistration = _m.RequestReregistration
cdef object RequestEvent = _m.RequestEvent
cdef object DistributeEvent = _m.DistributeEvent
cdef object EventError = _m.EventError
cdef object EventResponse = _m.EventResponse
cdef object CreatedEvent = _m.CreatedEvent
cdef object Measurement = _m.Measurement
cdef object SamplingRate = _m.SamplingRate
cdef object ReportDescription = _m.ReportDescription
cdef object ResourceStatus = _m.ResourceStatus
cdef object ReportPayload = _m.ReportPayload
cdef object ReportInterval = _m.ReportInterval
cdef object Report = _m.Report
cdef object SpecifierPayload = _m.SpecifierPayload
cdef object ReportSpecifier = _m.ReportSpecifier
cdef object ReportRequest = _m.ReportRequest
cdef object RegisterReport = _m.RegisterReport
cdef object RegisteredReport = _m.RegisteredReport
cdef object CreateReport = _m.CreateReport
cdef object CreatedReport = _m.CreatedReport
cdef object UpdateReport = _m.UpdateReport
cdef object UpdatedReport = _m.UpdatedReport
cdef object CancelReport = _m.CancelReport
cdef object CanceledReport = _m.CanceledReport
cdef object AvailableWindow = _m.AvailableWindow
cdef object CreateOpt = _m.CreateOpt
cdef object CreatedOpt = _m.CreatedOpt
cdef object CancelOpt = _m.CancelOpt
cdef object CanceledOpt = _m.CanceledOpt
cdef object Poll = _m.Poll
cdef object ResponseMessage = _m.ResponseMessage

# namespaces (fleetven.openadr.namespaces)
cdef const char* OADR = b"http://openadr.org/oadr-2.0b/2012/07"
cdef const char* EI = b"http://docs.oasis-open.org/ns/energyinterop/201110"
cdef const char* PYLD = b"http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
cdef const char* EMIX = b"http://docs.oasis-open.org/ns/emix/2011/06"
cdef const char* XCAL = b"urn:ietf:params:xml:ns:icalendar-2.0"
cdef const char* STRM = b"urn:ietf:params:xml:ns:icalendar-2.0:stream"
cdef const char* POWER = b"http://docs.oasis-open.org/ns/emix/2011/06/power"
cdef const char* SCALE = b"http://docs.oasis-open.org/ns/emix/2011/06/siscale"
cdef const char* GML = b"http://www.opengis.net/gml/3.2"

cdef str T_PAYLOAD = "{http://openadr.org/oadr-2.0b/2012/07}oadrPayload"

# --------------------------------------------------------------------------- text helpers


cdef inline bint _is_strip_space(unsigned char c) noexcept nogil:
    # The ASCII characters Python's str.strip() removes.
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef inline bint _strip(const unsigned char* s, Py_ssize_t n, Py_ssize_t* start, Py_ssize_t* end) noexcept nogil:
    """Strip ASCII whitespace; False when the text holds any non-ASCII byte (the caller then declines)."""
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] >= 0x80:
            return False
    cdef Py_ssize_t a = 0, b = n
    while a < b and _is_strip_space(s[a]):
        a += 1
    while b > a and _is_strip_space(s[b - 1]):
        b -= 1
    start[0] = a
    end[0] = b
    return True


cdef inline int _digits(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Digits from s[i] to s[i+n-1] as an int (caller checked they are digits)."""
    cdef int v = 0
    cdef Py_ssize_t k
    for k in range(i, i + n):
        v = v * 10 + (s[k] - 48)
    return v


cdef inline bint _all_digits(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(i, i + n):
        if not _is_digit(s[k]):
            return False
    return True


# --------------------------------------------------------------------------- datetimes

cdef int[13] _MDAYS
_MDAYS[:] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef inline int _days_in_month(int year, int month) noexcept nogil:
    if month == 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return 29
    return _MDAYS[month]


cdef object _datetime_fast(const unsigned char* s, Py_ssize_t n):
    """``timefmt.parse_datetime`` for the usual inputs; None to decline (the caller falls back)."""
    cdef Py_ssize_t a, b, i, fstart, flen
    cdef int year, month, day, hour, minute, second, micro, k, zh, zm, total, sign
    if not _strip(s, n, &a, &b):
        return None
    s = s + a
    n = b - a
    # YYYY-MM-DDTHH:MM:SS
    if n < 19:
        return None
    if not (_all_digits(s, 0, 4) and s[4] == 45 and _all_digits(s, 5, 2) and s[7] == 45 and _all_digits(s, 8, 2)
            and s[10] == 84 and _all_digits(s, 11, 2) and s[13] == 58 and _all_digits(s, 14, 2) and s[16] == 58
            and _all_digits(s, 17, 2)):
        return None
    year = _digits(s, 0, 4)
    month = _digits(s, 5, 2)
    day = _digits(s, 8, 2)
    hour = _digits(s, 11, 2)
    minute = _digits(s, 14, 2)
    second = _digits(s, 17, 2)
    i = 19
    micro = 0
    if i < n and s[i] == 46:  # '.'
        i += 1
        fstart = i
        while i < n and _is_digit(s[i]):
            i += 1
        flen = i - fstart
        if flen == 0:
            return None
        for k in range(6):
            micro = micro * 10 + ((s[fstart + k] - 48) if k < flen else 0)
    sign = 0
    zh = 0
    zm = 0
    if i < n:
        if s[i] == 90:  # 'Z'
            i += 1
        elif s[i] == 43 or s[i] == 45:  # '+' '-'
            if n - i != 6 or not (_all_digits(s, i + 1, 2) and s[i + 3] == 58 and _all_digits(s, i + 4, 2)):
                return None
            sign = 1 if s[i] == 43 else -1
            zh = _digits(s, i + 1, 2)
            zm = _digits(s, i + 4, 2)
            i += 6
        else:
            return None
    if i != n:
        return None
    if year < 1 or month < 1 or month > 12 or day < 1 or day > _days_in_month(year, month):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    if sign:
        if zh > 23 or zm > 59:
            return None
        # value - offset for '+', value + offset for '-'; the offset is under a day: at most one day's shift
        total = hour * 60 + minute - sign * (zh * 60 + zm)
        if total < 0:
            total += 1440
            day -= 1
            if day == 0:
                month -= 1
                if month == 0:
                    month = 12
                    year -= 1
                    if year == 0:
                        return None
                day = _days_in_month(year, month)
        elif total >= 1440:
            total -= 1440
            day += 1
            if day > _days_in_month(year, month):
                day = 1
                month += 1
                if month == 13:
                    month = 1
                    year += 1
                    if year > 9999:
                        return None
        hour = total // 60
        minute = total % 60
    return datetime_new(year, month, day, hour, minute, second, micro, _UTC)


# --------------------------------------------------------------------------- durations

cdef enum:
    _MAX_DELTA_DAYS = 999999999


cdef object _duration_fast(const unsigned char* s, Py_ssize_t n):
    """``timefmt.parse_duration`` for the usual inputs; None to decline (the caller falls back)."""
    cdef Py_ssize_t a, b, i, j, flen, k
    cdef long long years = 0, months = 0, days = 0, hours = 0, minutes = 0, seconds = 0, micro = 0
    cdef long long v, secs, us
    cdef int state
    cdef bint neg = False
    cdef unsigned char c
    if not _strip(s, n, &a, &b):
        return None
    s = s + a
    n = b - a
    if n == 0 or s[n - 1] == 80 or s[n - 1] == 84:  # endswith P or T: always an error
        return None
    i = 0
    if s[0] == 43 or s[0] == 45:
        neg = s[0] == 45
        i = 1
    if i >= n or s[i] != 80:  # 'P'
        return None
    i += 1
    state = 0  # 0: before Y, 1: after Y, 2: after M, 3: after D, 4: in T before H, 5: after H, 6: after M, 7: after S
    while i < n:
        c = s[i]
        if c == 84:  # 'T'
            if state >= 4:
                return None
            state = 4
            i += 1
            continue
        j = i
        while j < n and _is_digit(s[j]):
            j += 1
        if j == i or j == n or j - i > 9:
            return None
        v = _digits(s, i, j - i)
        c = s[j]
        if state < 4:
            if c == 87 and state == 0 and i == (2 if (s[0] == 43 or s[0] == 45) else 1) and j + 1 == n:  # 'W'
                days = 7 * v
                state = 3
            elif c == 89 and state < 1:
                years = v
                state = 1
            elif c == 77 and state < 2:
                months = v
                state = 2
            elif c == 68 and state < 3:
                days = v
                state = 3
            else:
                return None
            i = j + 1
        else:
            if c == 72 and state < 5:
                hours = v
                state = 5
                i = j + 1
            elif c == 77 and state < 6:
                minutes = v
                state = 6
                i = j + 1
            elif (c == 83 or c == 46) and state < 7:  # 'S' or '.'
                seconds = v
                i = j
                if c == 46:
                    i += 1
                    j = i
                    while j < n and _is_digit(s[j]):
                        j += 1
                    flen = j - i
                    if flen == 0 or j == n or s[j] != 83:
                        return None
                    for k in range(6):
                        micro = micro * 10 + ((s[i + k] - 48) if k < flen else 0)
                i = j + 1
                state = 7
            else:
                return None
    days = days + 30 * months + 365 * years
    secs = hours * 3600 + minutes * 60 + seconds
    days += secs // 86400
    secs = secs % 86400
    us = micro
    if neg:
        days = -days
        secs = -secs
        us = -us
        if us < 0:
            us += 1000000
            secs -= 1
        if secs < 0:
            secs += 86400
            days -= 1
    if days > _MAX_DELTA_DAYS or days < -_MAX_DELTA_DAYS:
        return None
    return timedelta_new(<int>days, <int>secs, <int>us)



# --------------------------------------------------------------------------- paths and errors


cdef struct Seg:
    # One step of an element path: ``name`` or ``name[index]`` (index > 0) under ``parent``.
    const Seg* parent
    const char* name
    int index


cdef inline Seg _sg(const Seg* parent, const char* name, int index) noexcept:
    cdef Seg s
    s.parent = parent
    s.name = name
    s.index = index
    return s


cdef str _render(const Seg* p):
    """The path text of ``p`` (``a/b[2]/c``)."""
    parts = []
    while p is not NULL:
        name = PyUnicode_DecodeUTF8(p.name, strlen(p.name), NULL)
        if p.index:
            name = f"{name}[{p.index}]"
        parts.append(name)
        p = p.parent
    parts.reverse()
    return "/".join(parts)


cdef object _missing_path(str path):
    return InvalidMessage(f"missing required element {path}", path=path, message_type=path.split("/", 1)[0])


cdef int _raise_missing(const Seg* parent, const char* name) except -1:
    cdef Seg s = _sg(parent, name, 0)
    raise _missing_path(_render(&s))


cdef int _raise_bad(str kind, const char* p, Py_ssize_t n, const Seg* path) except -1:
    text = PyUnicode_DecodeUTF8(p, n, NULL)
    raise _bad(kind, text, _render(path))


cdef object _bad(str kind, str text, str path):
    return InvalidValue(f"invalid {kind} {text!r} at {path}", path=path, value=text, message_type=path.split("/", 1)[0])


# --------------------------------------------------------------------------- nodes


cdef inline bint _is(const Node* n, const char* ns, const char* name) noexcept:
    """``n`` is the element ``{ns}name``."""
    return (n.type == tree.XML_ELEMENT_NODE and n.ns is not NULL and n.ns.href is not NULL
            and strcmp(<const char*>n.name, name) == 0 and strcmp(<const char*>n.ns.href, ns) == 0)


cdef inline bint _in_ns(const Node* n, const char* ns) noexcept:
    """``n`` is an element in namespace ``ns``."""
    return (n.type == tree.XML_ELEMENT_NODE and n.ns is not NULL and n.ns.href is not NULL
            and strcmp(<const char*>n.ns.href, ns) == 0)


cdef inline Node* _child(const Node* el, const char* ns, const char* name) noexcept:
    """The first child element ``{ns}name`` of ``el``, or NULL."""
    cdef Node* c = el.children
    while c is not NULL:
        if _is(c, ns, name):
            return c
        c = c.next
    return NULL


cdef inline Node* _next(const Node* after, const char* ns, const char* name) noexcept:
    """The next sibling element ``{ns}name`` after ``after``, or NULL."""
    cdef Node* c = after.next
    while c is not NULL:
        if _is(c, ns, name):
            return c
        c = c.next
    return NULL


cdef Node* _req(const Node* el, const char* ns, const char* name, const Seg* path) except NULL:
    """The first child element ``{ns}name`` of ``el`` (whose path is ``path``).

    :raises InvalidMessage: when there is none.
    """
    cdef Node* c = _child(el, ns, name)
    if c is NULL:
        _raise_missing(path, name)
    return c


# --------------------------------------------------------------------------- text


cdef struct Txt:
    const char* p
    Py_ssize_t n


cdef inline Node* _text_node(Node* c) noexcept:
    # lxml's _textNodeOrSkip: a text or CDATA node; XInclude markers are skipped; anything else ends the text.
    while c is not NULL:
        if c.type == tree.XML_TEXT_NODE or c.type == tree.XML_CDATA_SECTION_NODE:
            return c
        if c.type == tree.XML_XINCLUDE_START or c.type == tree.XML_XINCLUDE_END:
            c = c.next
            continue
        return NULL
    return NULL


cdef inline bint _xml_space(char c) noexcept:
    return c == 32 or c == 9 or c == 13 or c == 10


cdef object _text(const Node* el, Txt* t):
    """The element's text as lxml's ``.text`` gives it, XML whitespace stripped, into ``t``.

    Returns an object to keep alive while ``t`` is used (``None``, or the
    bytes joined from several text nodes).
    """
    cdef Node* first = _text_node(el.children)
    cdef Node* c
    cdef Node* only = NULL
    cdef int nonempty = 0
    cdef const char* p
    cdef Py_ssize_t a, b
    keep = None
    if first is NULL:
        t.p = b""
        t.n = 0
        return None
    c = first
    while c is not NULL:
        if c.content is not NULL and c.content[0] != 0:
            nonempty += 1
            only = c
        c = _text_node(c.next)
    if nonempty == 0:
        t.p = b""
        t.n = 0
        return None
    if nonempty == 1:
        p = <const char*>only.content
        b = strlen(p)
    else:
        joined = bytearray()
        c = first
        while c is not NULL:
            if c.content is not NULL:
                joined += (<const char*>c.content)[:strlen(<const char*>c.content)]
            c = _text_node(c.next)
        keep = bytes(joined)
        p = <const char*>keep
        b = len(keep)
    a = 0
    while a < b and _xml_space(p[a]):
        a += 1
    while b > a and _xml_space(p[b - 1]):
        b -= 1
    t.p = p + a
    t.n = b - a
    return keep


cdef inline str _tstr(const Txt* t):
    return PyUnicode_DecodeUTF8(t.p, t.n, NULL)


cdef str _text_str(const Node* el):
    cdef Txt t
    keep = _text(el, &t)
    return _tstr(&t)


cdef object _opt_text(const Node* el, const char* ns, const char* name):
    """Text of the first child ``{ns}name``, or None when absent or empty."""
    cdef Node* c = _child(el, ns, name)
    if c is NULL:
        return None
    return _text_str(c) or None


cdef str _req_text(const Node* el, const char* ns, const char* name, const Seg* path):
    return _text_str(_req(el, ns, name, path))


# --------------------------------------------------------------------------- values

cdef object _int_txt(const Txt* t, const Seg* path):
    """``_int``: optional sign, then ASCII digits."""
    cdef const char* p = t.p
    cdef Py_ssize_t n = t.n, i = 0, k
    cdef long long v = 0
    cdef bint neg = False
    if n > 0 and (p[0] == 43 or p[0] == 45):
        neg = p[0] == 45
        i = 1
    if i == n:
        _raise_bad("integer", p, n, path)
    for k in range(i, n):
        if not (48 <= p[k] <= 57):
            _raise_bad("integer", p, n, path)
    if n - i > 18:  # beyond a C long long: the specification's own function, whatever it does with it
        return _py_int(_tstr(t), _render(path))
    for k in range(i, n):
        v = v * 10 + (p[k] - 48)
    return PyLong_FromLongLong(-v if neg else v)


cdef inline bint _float_syntax(const char* p, Py_ssize_t n) noexcept:
    """``[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN`` in full."""
    cdef Py_ssize_t i = 0, d0
    cdef bint digits = False
    if n == 3 and memcmp(p, b"NaN", 3) == 0:
        return True
    if n > 0 and (p[0] == 43 or p[0] == 45):
        i = 1
    if n - i == 3 and memcmp(p + i, b"INF", 3) == 0:
        return True
    while i < n and 48 <= p[i] <= 57:
        i += 1
        digits = True
    if i < n and p[i] == 46:
        i += 1
        while i < n and 48 <= p[i] <= 57:
            i += 1
            digits = True
    if not digits:
        return False
    if i < n and (p[i] == 101 or p[i] == 69):
        i += 1
        if i < n and (p[i] == 43 or p[i] == 45):
            i += 1
        d0 = i
        while i < n and 48 <= p[i] <= 57:
            i += 1
        if i == d0:
            return False
    return i == n


cdef double[23] _POW10
_POW10[:] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
             1e18, 1e19, 1e20, 1e21, 1e22]


cdef inline bint _float_exact(const char* p, Py_ssize_t n, double* out) noexcept:
    """Clinger's fast path for a decimal that passed :func:`_float_syntax`: False to decline.

    With at most 15 significant digits the mantissa is an exact double, and so
    is 10**k for k <= 22: one multiplication or division, rounded once by IEEE
    754, gives the correctly rounded value -- what ``float()`` gives. Anything
    else (more digits, larger exponents, INF, NaN) is left to CPython's own
    ``PyOS_string_to_double``.
    """
    cdef Py_ssize_t i = 0
    cdef bint neg = False, eneg = False
    cdef long long mant = 0
    cdef int digits = 0, scale = 0, ex = 0, edigits = 0
    cdef double v
    if p[0] == 43 or p[0] == 45:
        neg = p[0] == 45
        i = 1
    if i < n and (p[i] == 73 or p[i] == 78):  # INF, NaN
        return False
    while i < n and 48 <= p[i] <= 57:
        if mant or p[i] != 48:
            mant = mant * 10 + (p[i] - 48)
            digits += 1
            if digits > 15:
                return False
        i += 1
    if i < n and p[i] == 46:
        i += 1
        while i < n and 48 <= p[i] <= 57:
            if mant or p[i] != 48:
                mant = mant * 10 + (p[i] - 48)
                digits += 1
                if digits > 15:
                    return False
            scale -= 1
            i += 1
    if i < n:  # exponent
        i += 1
        if p[i] == 43 or p[i] == 45:
            eneg = p[i] == 45
            i += 1
        while i < n:
            ex = ex * 10 + (p[i] - 48)
            edigits += 1
            if edigits > 4:
                return False
            i += 1
        scale += -ex if eneg else ex
    v = <double>mant
    if mant == 0:
        pass
    elif 0 <= scale <= 22:
        v = v * _POW10[scale]
    elif -22 <= scale < 0:
        v = v / _POW10[-scale]
    else:
        return False
    out[0] = -v if neg else v
    return True


cdef object _float_txt(const Txt* t, const Seg* path):
    """``_float``: the ``xs:float`` lexical form, converted as ``float()`` converts."""
    cdef char* end
    cdef double v
    if not _float_syntax(t.p, t.n):
        _raise_bad("float", t.p, t.n, path)
    if _float_exact(t.p, t.n, &v):
        return PyFloat_FromDouble(v)
    v = PyOS_string_to_double(t.p, &end, NULL)
    if end != t.p + t.n:  # not reached for text that passed the syntax check; be exact anyway
        return float(_tstr(t))
    return PyFloat_FromDouble(v)


cdef int _bool_txt(const Txt* t, const Seg* path) except -1:
    """``_bool``: ``true``/``1`` and ``false``/``0``."""
    if (t.n == 4 and memcmp(t.p, b"true", 4) == 0) or (t.n == 1 and t.p[0] == 49):
        return 1
    if (t.n == 5 and memcmp(t.p, b"false", 5) == 0) or (t.n == 1 and t.p[0] == 48):
        return 0
    _raise_bad("boolean", t.p, t.n, path)


cdef object _datetime_txt(const Txt* t, const Seg* path):
    value = _datetime_fast(<const unsigned char*>t.p, t.n)
    if value is not None:
        return value
    return _py_datetime(_tstr(t), _render(path))  # the unusual and the wrong: the specification's own function


cdef object _duration_txt(const Txt* t, const Seg* path):
    value = _duration_fast(<const unsigned char*>t.p, t.n)
    if value is not None:
        return value
    return _py_duration(_tstr(t), _render(path))  # the unusual and the wrong: the specification's own function


# element-level conversions; ``path`` is the path of the element holding the text

cdef object _int_of(const Node* el, const Seg* path):
    cdef Txt t
    keep = _text(el, &t)
    return _int_txt(&t, path)


cdef object _float_of(const Node* el, const Seg* path):
    cdef Txt t
    keep = _text(el, &t)
    return _float_txt(&t, path)


cdef int _bool_of(const Node* el, const Seg* path) except -1:
    cdef Txt t
    keep = _text(el, &t)
    return _bool_txt(&t, path)


cdef object _datetime_of(const Node* el, const Seg* path):
    cdef Txt t
    keep = _text(el, &t)
    return _datetime_txt(&t, path)


cdef object _duration_of_text(const Node* el, const Seg* path):
    cdef Txt t
    keep = _text(el, &t)
    return _duration_txt(&t, path)


# required / optional children; ``path`` is the parent's path

cdef object _req_int(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _req(el, ns, name, path)
    cdef Seg s = _sg(path, name, 0)
    return _int_of(c, &s)


cdef object _opt_int(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _child(el, ns, name)
    if c is NULL:
        return None
    cdef Seg s = _sg(path, name, 0)
    return _int_of(c, &s)


cdef bint _req_bool(const Node* el, const char* ns, const char* name, const Seg* path) except -1:
    cdef Node* c = _req(el, ns, name, path)
    cdef Seg s = _sg(path, name, 0)
    return _bool_of(c, &s)


cdef object _opt_bool(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _child(el, ns, name)
    if c is NULL:
        return None
    cdef Seg s = _sg(path, name, 0)
    return True if _bool_of(c, &s) else False


cdef object _req_datetime(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _req(el, ns, name, path)
    cdef Seg s = _sg(path, name, 0)
    return _datetime_of(c, &s)


cdef object _opt_datetime(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _child(el, ns, name)
    if c is NULL:
        return None
    cdef Seg s = _sg(path, name, 0)
    return _datetime_of(c, &s)


cdef object _dtstart_of(const Node* el, const Seg* path):
    """``el`` is an ``xcal:dtstart`` (at ``path``): its ``xcal:date-time`` child."""
    cdef Node* c = _req(el, XCAL, b"date-time", path)
    cdef Seg s = _sg(path, b"date-time", 0)
    return _datetime_of(c, &s)


cdef object _duration_of(const Node* el, const Seg* path):
    """``el`` is a ``DurationPropType`` element (at ``path``): its ``xcal:duration`` child."""
    cdef Node* c = _req(el, XCAL, b"duration", path)
    cdef Seg s = _sg(path, b"duration", 0)
    return _duration_of_text(c, &s)


cdef object _req_dtstart(const Node* el, const Seg* path):
    cdef Node* c = _req(el, XCAL, b"dtstart", path)
    cdef Seg s = _sg(path, b"dtstart", 0)
    return _dtstart_of(c, &s)


cdef object _req_duration_prop(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _req(el, ns, name, path)
    cdef Seg s = _sg(path, name, 0)
    return _duration_of(c, &s)


cdef object _opt_duration_prop(const Node* el, const char* ns, const char* name, const Seg* path):
    cdef Node* c = _child(el, ns, name)
    if c is NULL:
        return None
    cdef Seg s = _sg(path, name, 0)
    return _duration_of(c, &s)


cdef object _payload_float(const Node* el, const Seg* path):
    """``el`` (at ``path``) holds an ``ei:payloadFloat/ei:value``."""
    cdef Node* pf = _req(el, EI, b"payloadFloat", path)
    cdef Seg sp = _sg(path, b"payloadFloat", 0)
    cdef Node* v = _req(pf, EI, b"value", &sp)
    cdef Seg sv = _sg(&sp, b"value", 0)
    return _float_of(v, &sv)

# --------------------------------------------------------------------------- shared structures


cdef object _response(const Node* el, const Seg* path):
    """``ei:eiResponse`` at ``path``."""
    return Response(
        response_code=_req_int(el, EI, b"responseCode", path),
        response_description=_opt_text(el, EI, b"responseDescription"),
        request_id=_opt_text(el, PYLD, b"requestID"),
    )


cdef object _ei_response(const Node* parent, const Seg* path):
    """The required ``ei:eiResponse`` child of ``parent`` (at ``path``)."""
    cdef Node* r = _req(parent, EI, b"eiResponse", path)
    cdef Seg s = _sg(path, b"eiResponse", 0)
    return _response(r, &s)


cdef object _gml_id(Node* el):
    """``el.get("{gml}id")``: the attribute's value, or None (through lxml's own C API)."""
    return cetree.attributeValueFromNsName(el, <const tree.xmlChar*>GML, <const tree.xmlChar*>b"id")


cdef dict _area(const Node* el, const Seg* path):
    """``el`` (at ``path``) is ``emix:serviceArea`` or ``power:serviceLocation`` (a GML polygon).

    Returns ``{"pos_list": [float, ...]}`` plus ``"feature_collection_id"`` and
    ``"polygon_id"`` when the ``FeatureCollection`` / ``Polygon`` carry a ``gml:id``.
    """
    cdef Node* fc = _req(el, GML, b"FeatureCollection", path)
    cdef Seg s1 = _sg(path, b"FeatureCollection", 0)
    cdef Node* loc = _req(fc, GML, b"location", &s1)
    cdef Seg s2 = _sg(&s1, b"location", 0)
    cdef Node* poly = _req(loc, GML, b"Polygon", &s2)
    cdef Seg s3 = _sg(&s2, b"Polygon", 0)
    cdef Node* ext = _req(poly, GML, b"exterior", &s3)
    cdef Seg s4 = _sg(&s3, b"exterior", 0)
    cdef Node* ring = _req(ext, GML, b"LinearRing", &s4)
    cdef Seg s5 = _sg(&s4, b"LinearRing", 0)
    cdef Node* pl = _req(ring, GML, b"posList", &s5)
    cdef Seg s6 = _sg(&s5, b"posList", 0)
    cdef Txt t, tok
    cdef Py_ssize_t i = 0, j
    keep = _text(pl, &t)
    cdef list numbers = []
    while i < t.n:
        while i < t.n and _xml_space(t.p[i]):
            i += 1
        if i == t.n:
            break
        j = i
        while j < t.n and not _xml_space(t.p[j]):
            j += 1
        tok.p = t.p + i
        tok.n = j - i
        numbers.append(_float_txt(&tok, &s6))
        i = j
    value = {"pos_list": numbers}
    fc_id = _gml_id(fc)
    if fc_id is not None:
        value["feature_collection_id"] = fc_id
    poly_id = _gml_id(poly)
    if poly_id is not None:
        value["polygon_id"] = poly_id
    return value


# target kinds: 0 text, 1 mrid, 2 node, 3 transport interface, 4 GML area
cdef enum:
    N_TARGET_TYPES = 13
cdef const char* _TARGET_NS[N_TARGET_TYPES]
cdef const char* _TARGET_NAME[N_TARGET_TYPES]
cdef int _TARGET_KIND[N_TARGET_TYPES]
cdef list _TARGET_KEY = [
    "ven_id", "resource_id", "group_id", "group_name", "party_id", "end_device_asset", "meter_asset", "p_node",
    "aggregated_p_node", "service_delivery_point", "transport_interface", "service_area", "service_location",
]
_TARGET_NS[:] = [EI, EI, EI, EI, EI, POWER, POWER, POWER, POWER, POWER, POWER, EMIX, POWER]
_TARGET_NAME[:] = [b"venID", b"resourceID", b"groupID", b"groupName", b"partyID", b"endDeviceAsset", b"meterAsset",
                   b"pnode", b"aggregatedPnode", b"serviceDeliveryPoint", b"transportInterface", b"serviceArea",
                   b"serviceLocation"]
_TARGET_KIND[:] = [0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 4, 4]


cdef inline int _target_type(const Node* c) noexcept:
    """Index of ``c`` in the target tables, or -1."""
    cdef int k
    if c.type != tree.XML_ELEMENT_NODE or c.ns is NULL or c.ns.href is NULL:
        return -1
    for k in range(N_TARGET_TYPES):
        if strcmp(<const char*>c.name, _TARGET_NAME[k]) == 0:
            if strcmp(<const char*>c.ns.href, _TARGET_NS[k]) == 0:
                return k
            return -1
    return -1


cdef tuple _targets(const Node* el, const Seg* path):
    """An ``EiTargetType`` element at ``path``: (targets in document order, targets by type)."""
    cdef list targets = []
    cdef dict by_type = {}
    cdef int[N_TARGET_TYPES] counts
    cdef int k, kind
    cdef Node* c = el.children
    cdef Seg cs
    for k in range(N_TARGET_TYPES):
        counts[k] = 0
    while c is not NULL:
        k = _target_type(c)
        if k < 0:
            c = c.next
            continue
        key = _TARGET_KEY[k]
        counts[k] += 1
        kind = _TARGET_KIND[k]
        if kind == 0:
            value = _text_str(c)
        else:
            cs = _sg(path, <const char*>c.name, counts[k])
            if kind == 1:
                value = {"mrid": _req_text(c, POWER, b"mrid", &cs)}
            elif kind == 2:
                value = {"node": _req_text(c, POWER, b"node", &cs)}
            elif kind == 3:
                value = {
                    "point_of_receipt": _req_text(c, POWER, b"pointOfReceipt", &cs),
                    "point_of_delivery": _req_text(c, POWER, b"pointOfDelivery", &cs),
                }
            else:
                value = _area(c, &cs)
        targets.append({key: value})
        lst = by_type.get(key)
        if lst is None:
            by_type[key] = [value]
        else:
            (<list>lst).append(value)
        c = c.next
    return targets, by_type


cdef enum:
    N_POWER_ITEMS = 9
    N_OADR_ITEMS = 10
cdef const char* _POWER_ITEMS[N_POWER_ITEMS]
cdef const char* _OADR_ITEMS[N_OADR_ITEMS]
_POWER_ITEMS[:] = [b"voltage", b"energyItem", b"energyApparent", b"energyReactive", b"energyReal", b"powerItem",
                   b"powerApparent", b"powerReactive", b"powerReal"]
_OADR_ITEMS[:] = [b"customUnit", b"current", b"currency", b"currencyPerKWh", b"currencyPerKW", b"currencyPerThm",
                  b"frequency", b"Therm", b"temperature", b"pulseCount"]


cdef inline bint _is_item_base(const Node* c) noexcept:
    cdef int k
    if c.type != tree.XML_ELEMENT_NODE or c.ns is NULL or c.ns.href is NULL:
        return False
    if strcmp(<const char*>c.ns.href, POWER) == 0:
        for k in range(N_POWER_ITEMS):
            if strcmp(<const char*>c.name, _POWER_ITEMS[k]) == 0:
                return True
    elif strcmp(<const char*>c.ns.href, OADR) == 0:
        for k in range(N_OADR_ITEMS):
            if strcmp(<const char*>c.name, _OADR_ITEMS[k]) == 0:
                return True
    return False


cdef object _measurement(const Node* el, const Seg* path):
    """An ``emix:itemBase`` substitute at ``path``."""
    cdef const char* ns = <const char*>el.ns.href
    name = PyUnicode_DecodeUTF8(<const char*>el.name, strlen(<const char*>el.name), NULL)
    description = _req_text(el, ns, b"itemDescription", path)
    unit = _req_text(el, ns, b"itemUnits", path)
    scale = _opt_text(el, SCALE, b"siScaleCode")
    power_attributes = None
    cdef Node* pa = _child(el, POWER, b"powerAttributes")
    cdef Seg pap, s
    if pa is not NULL:
        pap = _sg(path, b"powerAttributes", 0)
        s = _sg(&pap, b"hertz", 0)
        hertz = _float_of(_req(pa, POWER, b"hertz", &pap), &s)
        s = _sg(&pap, b"voltage", 0)
        voltage = _float_of(_req(pa, POWER, b"voltage", &pap), &s)
        s = _sg(&pap, b"ac", 0)
        ac = _bool_of(_req(pa, POWER, b"ac", &pap), &s) == 1
        power_attributes = {"hertz": hertz, "voltage": voltage, "ac": ac}
    pulse_factor = None
    cdef Node* pf = _child(el, OADR, b"pulseFactor")
    if pf is not NULL:
        s = _sg(path, b"pulseFactor", 0)
        pulse_factor = _float_of(pf, &s)
    return Measurement(
        name=name,
        description=description,
        unit=unit,
        scale=scale if scale is not None else "none",
        power_attributes=power_attributes,
        pulse_factor=pulse_factor,
    )


cdef object _opt_measurement(const Node* el, const Seg* path):
    """The first ``emix:itemBase`` substitute child of ``el`` (at ``path``), or None."""
    cdef Node* c = el.children
    cdef Seg s
    while c is not NULL:
        if _is_item_base(c):
            s = _sg(path, <const char*>c.name, 0)
            return _measurement(c, &s)
        c = c.next
    return None

# --------------------------------------------------------------------------- events

cdef enum:
    N_EVENT_STATUSES = 6
cdef const char* _EVENT_STATUSES[N_EVENT_STATUSES]
_EVENT_STATUSES[:] = [b"none", b"far", b"near", b"active", b"completed", b"cancelled"]


cdef inline bint _txt_is(const Txt* t, const char* s) noexcept:
    cdef Py_ssize_t n = strlen(s)
    return t.n == n and memcmp(t.p, s, n) == 0


cdef object _event(const Node* oadr_event, const Seg* path):
    """One ``oadr:oadrEvent`` (at ``path``) as an event dict."""
    cdef Txt t
    cdef int k
    cdef Node* ei_event = _req(oadr_event, EI, b"eiEvent", path)
    cdef Seg ep = _sg(path, b"eiEvent", 0)

    # -- descriptor
    cdef Node* desc = _req(ei_event, EI, b"eventDescriptor", &ep)
    cdef Seg dp = _sg(&ep, b"eventDescriptor", 0)
    event_id = _req_text(desc, EI, b"eventID", &dp)
    modification_number = _req_int(desc, EI, b"modificationNumber", &dp)
    cdef Node* emc = _req(desc, EI, b"eiMarketContext", &dp)
    cdef Seg mp = _sg(&dp, b"eiMarketContext", 0)
    market_context = _req_text(emc, EMIX, b"marketContext", &mp)
    created = _req_datetime(desc, EI, b"createdDateTime", &dp)
    cdef Node* es = _req(desc, EI, b"eventStatus", &dp)
    keep = _text(es, &t)
    for k in range(N_EVENT_STATUSES):
        if _txt_is(&t, _EVENT_STATUSES[k]):
            break
    else:
        sp = _sg(&dp, b"eventStatus", 0)
        _raise_bad("eventStatus", t.p, t.n, &sp)
    event_status = _tstr(&t)
    cdef Node* te = _child(desc, EI, b"testEvent")
    test_event = False
    if te is not NULL:
        keep = _text(te, &t)
        test_event = not (_txt_is(&t, b"false") or _txt_is(&t, b"0"))
    descriptor = {"event_id": event_id, "modification_number": modification_number}
    mdt = _opt_datetime(desc, EI, b"modificationDateTime", &dp)
    if mdt is not None:
        descriptor["modification_date_time"] = mdt
    mr = _opt_text(desc, EI, b"modificationReason")
    if mr is not None:
        descriptor["modification_reason"] = mr
    priority = _opt_int(desc, EI, b"priority", &dp)
    if priority is not None:
        descriptor["priority"] = priority
    descriptor["market_context"] = market_context
    descriptor["created_date_time"] = created
    descriptor["event_status"] = event_status
    descriptor["test_event"] = test_event
    vc = _opt_text(desc, EI, b"vtnComment")
    if vc is not None:
        descriptor["vtn_comment"] = vc

    # -- active period
    cdef Node* ap = _req(ei_event, EI, b"eiActivePeriod", &ep)
    cdef Seg app = _sg(&ep, b"eiActivePeriod", 0)
    cdef Node* props = _req(ap, XCAL, b"properties", &app)
    cdef Seg pp = _sg(&app, b"properties", 0)
    start = _req_dtstart(props, &pp)
    active_period = {"dtstart": start, "duration": _req_duration_prop(props, XCAL, b"duration", &pp)}
    cdef Node* tol = _child(props, XCAL, b"tolerance")
    cdef Node* tolerate
    cdef Node* sa
    cdef Seg s1, s2, s3
    if tol is not NULL:
        tolerate = _child(tol, XCAL, b"tolerate")
        if tolerate is not NULL:
            sa = _child(tolerate, XCAL, b"startafter")
            if sa is not NULL:
                s1 = _sg(&pp, b"tolerance", 0)
                s2 = _sg(&s1, b"tolerate", 0)
                s3 = _sg(&s2, b"startafter", 0)
                active_period["tolerance"] = {"tolerate": {"startafter": _duration_of_text(sa, &s3)}}
    d = _opt_duration_prop(props, EI, b"x-eiNotification", &pp)
    if d is not None:
        active_period["notification"] = d
    d = _opt_duration_prop(props, EI, b"x-eiRampUp", &pp)
    if d is not None:
        active_period["ramp_up"] = d
    d = _opt_duration_prop(props, EI, b"x-eiRecovery", &pp)
    if d is not None:
        active_period["recovery"] = d

    # -- signals
    cdef Node* sigs = _req(ei_event, EI, b"eiEventSignals", &ep)
    cdef Seg sgp = _sg(&ep, b"eiEventSignals", 0)
    cdef Seg sigp
    signals = []
    cdef int i = 0
    cdef Node* sig = _child(sigs, EI, b"eiEventSignal")
    while sig is not NULL:
        i += 1
        sigp = _sg(&sgp, b"eiEventSignal", i)
        signals.append(_event_signal(sig, &sigp, start))
        sig = _next(sig, EI, b"eiEventSignal")

    # -- targets
    cdef Node* tgt = _child(ei_event, EI, b"eiTarget")
    cdef Seg tp
    if tgt is not NULL:
        tp = _sg(&ep, b"eiTarget", 0)
        targets, by_type = _targets(tgt, &tp)
    else:
        targets, by_type = [], {}

    cdef Node* rr = _child(oadr_event, OADR, b"oadrResponseRequired")
    response_required = "always"
    if rr is not NULL:
        keep = _text(rr, &t)
        if _txt_is(&t, b"always"):
            response_required = "always"
        elif _txt_is(&t, b"never"):
            response_required = "never"
        else:
            s1 = _sg(path, b"oadrResponseRequired", 0)
            _raise_bad("oadrResponseRequired", t.p, t.n, &s1)

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


cdef object _event_signal(const Node* sig, const Seg* path, object start):
    """One ``ei:eiEventSignal`` at ``path``; ``start`` is the event's active period start."""
    cdef Node* ivs = _req(sig, STRM, b"intervals", path)
    cdef Seg isp = _sg(path, b"intervals", 0)
    cdef Seg ip, s
    cdef list intervals = []
    cdef Node* iv = _child(ivs, EI, b"interval")
    cdef Node* dts
    cdef Node* uid
    cdef int i = 0
    offset = _ZERO
    while iv is not NULL:
        i += 1
        ip = _sg(&isp, b"interval", i)
        duration = _req_duration_prop(iv, XCAL, b"duration", &ip)
        dts = _child(iv, XCAL, b"dtstart")
        if dts is not NULL:
            s = _sg(&ip, b"dtstart", 0)
            dtstart = _dtstart_of(dts, &s)
        else:
            try:
                dtstart = start + offset
            except OverflowError:
                s = _sg(&ip, b"dtstart", 0)
                raise _py_out_of_range(_render(&s)) from None
        interval = {"dtstart": dtstart, "duration": duration}
        uid = _child(iv, XCAL, b"uid")
        if uid is not NULL:
            s = _sg(&ip, b"uid", 0)
            interval["uid"] = _req_text(uid, XCAL, b"text", &s)
        s = _sg(&ip, b"signalPayload", 0)
        interval["signal_payload"] = _payload_float(_req(iv, EI, b"signalPayload", &ip), &s)
        intervals.append(interval)
        try:
            offset = offset + duration
        except OverflowError:
            s = _sg(&ip, b"duration", 0)
            raise _py_out_of_range(_render(&s)) from None
        iv = _next(iv, EI, b"interval")
    signal = {
        "signal_name": _req_text(sig, EI, b"signalName", path),
        "signal_type": _req_text(sig, EI, b"signalType", path),
        "signal_id": _req_text(sig, EI, b"signalID", path),
    }
    cdef Node* cv = _child(sig, EI, b"currentValue")
    if cv is not NULL:
        s = _sg(path, b"currentValue", 0)
        signal["current_value"] = _payload_float(cv, &s)
    signal["intervals"] = intervals
    meas = _opt_measurement(sig, path)
    if meas is not None:
        signal["measurement"] = meas
    cdef Node* tgt = _child(sig, EI, b"eiTarget")
    if tgt is not NULL:
        s = _sg(path, b"eiTarget", 0)
        signal["targets"], signal["targets_by_type"] = _targets(tgt, &s)
    return signal


cdef object _event_error(const Node* oadr_event, object exc, const Seg* path):
    """``_event_error``: the EventError for the ``oadrEvent`` at ``path`` that raised ``exc``."""
    event_id = None
    modification_number = None
    cdef Node* desc = NULL
    cdef Node* mn
    cdef Seg ep, dp, mp
    cdef Node* ei_event = _child(oadr_event, EI, b"eiEvent")
    if ei_event is not NULL:
        desc = _child(ei_event, EI, b"eventDescriptor")
    if desc is not NULL:
        event_id = _opt_text(desc, EI, b"eventID")
        mn = _child(desc, EI, b"modificationNumber")
        if mn is not NULL:
            ep = _sg(path, b"eiEvent", 0)
            dp = _sg(&ep, b"eventDescriptor", 0)
            mp = _sg(&dp, b"modificationNumber", 0)
            try:
                modification_number = _int_of(mn, &mp)
            except InvalidValue:
                pass
    return EventError(
        response_code=exc.response_code,
        description=str(exc),
        path=exc.fields.get("path"),
        event_id=event_id,
        modification_number=modification_number,
    )


cdef object _distribute_event(const Node* el, const Seg* path):
    """``_distribute_event``: an ``oadrEvent`` that raises a MessageError becomes an EventError."""
    cdef Node* r = _child(el, EI, b"eiResponse")
    request_id = _req_text(el, PYLD, b"requestID", path)
    vtn_id = _req_text(el, EI, b"vtnID", path)
    cdef list events = []
    cdef list errors = []
    cdef Seg evp
    cdef int i = 0
    cdef Node* ev = _child(el, OADR, b"oadrEvent")
    while ev is not NULL:
        i += 1
        evp = _sg(path, b"oadrEvent", i)
        try:
            events.append(_event(ev, &evp))
        except MessageError as exc:
            errors.append(_event_error(ev, exc, &evp))
        ev = _next(ev, OADR, b"oadrEvent")
    cdef Seg rp = _sg(path, b"eiResponse", 0)
    return DistributeEvent(
        request_id=request_id,
        vtn_id=vtn_id,
        events=events,
        response=_response(r, &rp) if r is not NULL else None,
        errors=errors,
    )


cdef object _request_event(const Node* el, const Seg* path):
    cdef Node* body = _req(el, PYLD, b"eiRequestEvent", path)
    cdef Seg bp = _sg(path, b"eiRequestEvent", 0)
    return RequestEvent(
        request_id=_req_text(body, PYLD, b"requestID", &bp),
        ven_id=_req_text(body, EI, b"venID", &bp),
        reply_limit=_opt_int(body, PYLD, b"replyLimit", &bp),
    )


cdef object _created_event(const Node* el, const Seg* path):
    cdef Txt t
    cdef Node* body = _req(el, PYLD, b"eiCreatedEvent", path)
    cdef Seg bp = _sg(path, b"eiCreatedEvent", 0)
    response = _ei_response(body, &bp)
    cdef list responses = []
    cdef Node* ers = _child(body, EI, b"eventResponses")
    cdef Node* er
    cdef Node* q
    cdef Seg rsp, p, qp, s
    cdef int i = 0
    if ers is not NULL:
        rsp = _sg(&bp, b"eventResponses", 0)
        er = _child(ers, EI, b"eventResponse")
        while er is not NULL:
            i += 1
            p = _sg(&rsp, b"eventResponse", i)
            q = _req(er, EI, b"qualifiedEventID", &p)
            qp = _sg(&p, b"qualifiedEventID", 0)
            keep = _text(_req(er, EI, b"optType", &p), &t)
            if not (_txt_is(&t, b"optIn") or _txt_is(&t, b"optOut")):
                s = _sg(&p, b"optType", 0)
                _raise_bad("optType", t.p, t.n, &s)
            opt_type = _tstr(&t)
            responses.append(
                EventResponse(
                    response_code=_req_int(er, EI, b"responseCode", &p),
                    request_id=_req_text(er, PYLD, b"requestID", &p),
                    event_id=_req_text(q, EI, b"eventID", &qp),
                    modification_number=_req_int(q, EI, b"modificationNumber", &qp),
                    opt_type=opt_type,
                    response_description=_opt_text(er, EI, b"responseDescription"),
                )
            )
            er = _next(er, EI, b"eventResponse")
    return CreatedEvent(response=response, ven_id=_req_text(body, EI, b"venID", &bp), event_responses=responses)


# --------------------------------------------------------------------------- registration, poll, response


cdef object _query_registration(const Node* el, const Seg* path):
    return QueryRegistration(request_id=_req_text(el, PYLD, b"requestID", path))


cdef object _create_party_registration(const Node* el, const Seg* path):
    pull = _opt_bool(el, OADR, b"oadrHttpPullModel", path)
    return CreatePartyRegistration(
        request_id=_req_text(el, PYLD, b"requestID", path),
        registration_id=_opt_text(el, EI, b"registrationID"),
        ven_id=_opt_text(el, EI, b"venID"),
        profile_name=_req_text(el, OADR, b"oadrProfileName", path),
        transport_name=_req_text(el, OADR, b"oadrTransportName", path),
        transport_address=_opt_text(el, OADR, b"oadrTransportAddress"),
        report_only=_req_bool(el, OADR, b"oadrReportOnly", path),
        xml_signature=_req_bool(el, OADR, b"oadrXmlSignature", path),
        ven_name=_opt_text(el, OADR, b"oadrVenName"),
        http_pull_model=True if pull is None else pull,
    )


cdef object _created_party_registration(const Node* el, const Seg* path):
    response = _ei_response(el, path)
    cdef list profiles = []
    cdef Node* ps = _child(el, OADR, b"oadrProfiles")
    cdef Node* p
    cdef Node* ts
    cdef Node* tr
    cdef Seg psp, pp, tsp, tp
    cdef int i = 0, j
    if ps is not NULL:
        psp = _sg(path, b"oadrProfiles", 0)
        p = _child(ps, OADR, b"oadrProfile")
        while p is not NULL:
            i += 1
            pp = _sg(&psp, b"oadrProfile", i)
            transports = []
            ts = _child(p, OADR, b"oadrTransports")
            if ts is not NULL:
                tsp = _sg(&pp, b"oadrTransports", 0)
                j = 0
                tr = _child(ts, OADR, b"oadrTransport")
                while tr is not NULL:
                    j += 1
                    tp = _sg(&tsp, b"oadrTransport", j)
                    transports.append(_req_text(tr, OADR, b"oadrTransportName", &tp))
                    tr = _next(tr, OADR, b"oadrTransport")
            profiles.append(Profile(profile_name=_req_text(p, OADR, b"oadrProfileName", &pp), transports=transports))
            p = _next(p, OADR, b"oadrProfile")
    return CreatedPartyRegistration(
        response=response,
        registration_id=_opt_text(el, EI, b"registrationID"),
        ven_id=_opt_text(el, EI, b"venID"),
        vtn_id=_req_text(el, EI, b"vtnID", path),
        profiles=profiles,
        requested_oadr_poll_freq=_opt_duration_prop(el, OADR, b"oadrRequestedOadrPollFreq", path),
    )


cdef object _cancel_party_registration(const Node* el, const Seg* path):
    return CancelPartyRegistration(
        request_id=_req_text(el, PYLD, b"requestID", path),
        registration_id=_req_text(el, EI, b"registrationID", path),
        ven_id=_req_text(el, EI, b"venID", path),
    )


cdef object _canceled_party_registration(const Node* el, const Seg* path):
    return CanceledPartyRegistration(
        response=_ei_response(el, path),
        registration_id=_opt_text(el, EI, b"registrationID"),
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _request_reregistration(const Node* el, const Seg* path):
    return RequestReregistration(ven_id=_req_text(el, EI, b"venID", path))


cdef object _poll(const Node* el, const Seg* path):
    return Poll(ven_id=_req_text(el, EI, b"venID", path))


cdef object _response_message(const Node* el, const Seg* path):
    return ResponseMessage(response=_ei_response(el, path), ven_id=_opt_text(el, EI, b"venID"))

# --------------------------------------------------------------------------- reports

cdef enum:
    N_LOAD_KINDS = 4
    N_LOAD_VALUES = 4
cdef const char* _LOAD_KINDS[N_LOAD_KINDS]
cdef const char* _LOAD_VALUES[N_LOAD_VALUES]
_LOAD_KINDS[:] = [b"oadrCapacity", b"oadrLevelOffset", b"oadrPercentOffset", b"oadrSetPoint"]
_LOAD_VALUES[:] = [b"oadrMin", b"oadrMax", b"oadrCurrent", b"oadrNormal"]
cdef list _LOAD_KIND_KEYS = ["oadrCapacity", "oadrLevelOffset", "oadrPercentOffset", "oadrSetPoint"]
cdef list _LOAD_VALUE_KEYS = ["oadrMin", "oadrMax", "oadrCurrent", "oadrNormal"]


cdef object _sampling_rate(const Node* el, const Seg* path):
    cdef Seg s1 = _sg(path, b"oadrMinPeriod", 0)
    min_period = _duration_of_text(_req(el, OADR, b"oadrMinPeriod", path), &s1)
    cdef Seg s2 = _sg(path, b"oadrMaxPeriod", 0)
    max_period = _duration_of_text(_req(el, OADR, b"oadrMaxPeriod", path), &s2)
    return SamplingRate(
        min_period=min_period,
        max_period=max_period,
        on_change=_req_bool(el, OADR, b"oadrOnChange", path),
    )


cdef object _report_description(const Node* el, const Seg* path):
    subject = []
    source = []
    cdef Seg s
    cdef Node* rs = _child(el, EI, b"reportSubject")
    if rs is not NULL:
        s = _sg(path, b"reportSubject", 0)
        subject = _targets(rs, &s)[0]
    cdef Node* ds = _child(el, EI, b"reportDataSource")
    if ds is not NULL:
        s = _sg(path, b"reportDataSource", 0)
        source = _targets(ds, &s)[0]
    cdef Node* sr = _child(el, OADR, b"oadrSamplingRate")
    r_id = _req_text(el, EI, b"rID", path)
    report_type = _req_text(el, EI, b"reportType", path)
    reading_type = _req_text(el, EI, b"readingType", path)
    market_context = _opt_text(el, EMIX, b"marketContext")
    measurement = _opt_measurement(el, path)
    cdef Seg srp = _sg(path, b"oadrSamplingRate", 0)
    return ReportDescription(
        r_id=r_id,
        report_type=report_type,
        reading_type=reading_type,
        report_subject=subject,
        report_data_source=source,
        market_context=market_context,
        measurement=measurement,
        sampling_rate=_sampling_rate(sr, &srp) if sr is not NULL else None,
    )


cdef object _resource_status(const Node* el, const Seg* path):
    cdef Node* lc = _child(el, OADR, b"oadrLoadControlState")
    cdef Node* k
    cdef Node* v
    cdef Seg lp, kp, vp
    cdef int ki, vi
    lcs = None
    if lc is not NULL:
        lcs = {}
        lp = _sg(path, b"oadrLoadControlState", 0)
        for ki in range(N_LOAD_KINDS):
            k = _child(lc, OADR, _LOAD_KINDS[ki])
            if k is NULL:
                continue
            kp = _sg(&lp, _LOAD_KINDS[ki], 0)
            values = {}
            for vi in range(N_LOAD_VALUES):
                v = _child(k, OADR, _LOAD_VALUES[vi])
                if v is not NULL:
                    vp = _sg(&kp, _LOAD_VALUES[vi], 0)
                    values[_LOAD_VALUE_KEYS[vi]] = _float_of(v, &vp)
            if "oadrCurrent" not in values:
                _raise_missing(&kp, b"oadrCurrent")
            lcs[_LOAD_KIND_KEYS[ki]] = values
    return ResourceStatus(
        online=_req_bool(el, OADR, b"oadrOnline", path),
        manual_override=_req_bool(el, OADR, b"oadrManualOverride", path),
        load_control_state=lcs,
    )


cdef object _report_payload(const Node* el, const Seg* path):
    cdef Seg s, s2
    r_id = _req_text(el, EI, b"rID", path)
    cdef Node* pf = _child(el, EI, b"payloadFloat")
    cdef Node* rs
    if pf is not NULL:
        s = _sg(path, b"payloadFloat", 0)
        s2 = _sg(&s, b"value", 0)
        value = _float_of(_req(pf, EI, b"value", &s), &s2)
    else:
        rs = _child(el, OADR, b"oadrPayloadResourceStatus")
        if rs is NULL:
            _raise_missing(path, b"payloadFloat")
        s = _sg(path, b"oadrPayloadResourceStatus", 0)
        value = _resource_status(rs, &s)
    cdef Node* acc = _child(el, EI, b"accuracy")
    confidence = _opt_int(el, EI, b"confidence", path)
    accuracy = None
    if acc is not NULL:
        s = _sg(path, b"accuracy", 0)
        accuracy = _float_of(acc, &s)
    return ReportPayload(
        r_id=r_id,
        value=value,
        confidence=confidence,
        accuracy=accuracy,
        data_quality=_opt_text(el, OADR, b"oadrDataQuality"),
    )


cdef object _report(const Node* el, const Seg* path):
    cdef Seg s, isp, ip, pp
    cdef Node* dts = _child(el, XCAL, b"dtstart")
    dtstart = None
    if dts is not NULL:
        s = _sg(path, b"dtstart", 0)
        dtstart = _dtstart_of(dts, &s)
    cdef list descriptions = []
    cdef int i = 0, j
    cdef Node* d = _child(el, OADR, b"oadrReportDescription")
    while d is not NULL:
        i += 1
        s = _sg(path, b"oadrReportDescription", i)
        descriptions.append(_report_description(d, &s))
        d = _next(d, OADR, b"oadrReportDescription")
    cdef list intervals = []
    cdef Node* ivs = _child(el, STRM, b"intervals")
    cdef Node* iv
    cdef Node* uid
    cdef Node* rp
    if ivs is not NULL:
        isp = _sg(path, b"intervals", 0)
        offset = _ZERO
        i = 0
        iv = _child(ivs, EI, b"interval")
        while iv is not NULL:
            i += 1
            ip = _sg(&isp, b"interval", i)
            d = _child(iv, XCAL, b"dtstart")
            if d is not NULL:
                s = _sg(&ip, b"dtstart", 0)
                istart = _dtstart_of(d, &s)
            elif dtstart is not None and offset is not None:
                try:
                    istart = dtstart + offset
                except OverflowError:
                    s = _sg(&ip, b"dtstart", 0)
                    raise _py_out_of_range(_render(&s)) from None
            else:
                _raise_missing(&ip, b"dtstart")
            duration = _opt_duration_prop(iv, XCAL, b"duration", &ip)
            if duration is None:
                offset = None
            elif offset is not None:
                try:
                    offset = offset + duration
                except OverflowError:
                    s = _sg(&ip, b"duration", 0)
                    raise _py_out_of_range(_render(&s)) from None
            uid = _child(iv, XCAL, b"uid")
            payloads = []
            j = 0
            rp = _child(iv, OADR, b"oadrReportPayload")
            while rp is not NULL:
                j += 1
                pp = _sg(&ip, b"oadrReportPayload", j)
                payloads.append(_report_payload(rp, &pp))
                rp = _next(rp, OADR, b"oadrReportPayload")
            s = _sg(&ip, b"uid", 0)
            intervals.append(
                ReportInterval(
                    dtstart=istart,
                    payloads=payloads,
                    duration=duration,
                    uid=_req_text(uid, XCAL, b"text", &s) if uid is not NULL else None,
                )
            )
            iv = _next(iv, EI, b"interval")
    name = _opt_text(el, EI, b"reportName")
    return Report(
        report_specifier_id=_req_text(el, EI, b"reportSpecifierID", path),
        report_name=name if name is not None else "",
        created_date_time=_req_datetime(el, EI, b"createdDateTime", path),
        report_request_id=_req_text(el, EI, b"reportRequestID", path),
        report_id=_opt_text(el, EI, b"eiReportID"),
        dtstart=dtstart,
        duration=_opt_duration_prop(el, XCAL, b"duration", path),
        report_descriptions=descriptions,
        intervals=intervals,
    )


cdef list _reports(const Node* el, const Seg* path):
    cdef list out = []
    cdef Seg s
    cdef int i = 0
    cdef Node* r = _child(el, OADR, b"oadrReport")
    while r is not NULL:
        i += 1
        s = _sg(path, b"oadrReport", i)
        out.append(_report(r, &s))
        r = _next(r, OADR, b"oadrReport")
    return out


cdef object _report_request(const Node* el, const Seg* path):
    rrid = _req_text(el, EI, b"reportRequestID", path)
    cdef Node* spec = _req(el, EI, b"reportSpecifier", path)
    cdef Seg sp = _sg(path, b"reportSpecifier", 0)
    cdef Seg rip, ripp, pp
    start = None
    duration = None
    cdef Node* ri = _child(spec, EI, b"reportInterval")
    cdef Node* props
    if ri is not NULL:
        rip = _sg(&sp, b"reportInterval", 0)
        props = _req(ri, XCAL, b"properties", &rip)
        ripp = _sg(&rip, b"properties", 0)
        start = _req_dtstart(props, &ripp)
        duration = _opt_duration_prop(props, XCAL, b"duration", &ripp)
    payloads = []
    cdef int i = 0
    cdef Node* p = _child(spec, EI, b"specifierPayload")
    while p is not NULL:
        i += 1
        pp = _sg(&sp, b"specifierPayload", i)
        payloads.append(
            SpecifierPayload(
                r_id=_req_text(p, EI, b"rID", &pp),
                reading_type=_req_text(p, EI, b"readingType", &pp),
                measurement=_opt_measurement(p, &pp),
            )
        )
        p = _next(p, EI, b"specifierPayload")
    return ReportRequest(
        report_request_id=rrid,
        report_specifier=ReportSpecifier(
            report_specifier_id=_req_text(spec, EI, b"reportSpecifierID", &sp),
            granularity=_req_duration_prop(spec, XCAL, b"granularity", &sp),
            specifier_payloads=payloads,
            report_back_duration=_opt_duration_prop(spec, EI, b"reportBackDuration", &sp),
            report_interval_start=start,
            report_interval_duration=duration,
        ),
    )


cdef list _report_requests(const Node* el, const Seg* path):
    cdef list out = []
    cdef Seg s
    cdef int i = 0
    cdef Node* r = _child(el, OADR, b"oadrReportRequest")
    while r is not NULL:
        i += 1
        s = _sg(path, b"oadrReportRequest", i)
        out.append(_report_request(r, &s))
        r = _next(r, OADR, b"oadrReportRequest")
    return out


cdef list _texts_of(const Node* el, const char* ns, const char* name):
    """Texts of every child ``{ns}name`` of ``el``."""
    cdef list out = []
    cdef Node* c = _child(el, ns, name)
    while c is not NULL:
        out.append(_text_str(c))
        c = _next(c, ns, name)
    return out


cdef list _pending_reports(const Node* el, const Seg* path):
    cdef Node* pr = _req(el, OADR, b"oadrPendingReports", path)
    return _texts_of(pr, EI, b"reportRequestID")


cdef object _register_report(const Node* el, const Seg* path):
    return RegisterReport(
        request_id=_req_text(el, PYLD, b"requestID", path),
        reports=_reports(el, path),
        ven_id=_opt_text(el, EI, b"venID"),
        report_request_id=_opt_text(el, EI, b"reportRequestID"),
    )


cdef object _registered_report(const Node* el, const Seg* path):
    return RegisteredReport(
        response=_ei_response(el, path),
        report_requests=_report_requests(el, path),
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _create_report(const Node* el, const Seg* path):
    return CreateReport(
        request_id=_req_text(el, PYLD, b"requestID", path),
        report_requests=_report_requests(el, path),
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _created_report(const Node* el, const Seg* path):
    return CreatedReport(
        response=_ei_response(el, path),
        pending_reports=_pending_reports(el, path),
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _update_report(const Node* el, const Seg* path):
    return UpdateReport(
        request_id=_req_text(el, PYLD, b"requestID", path),
        reports=_reports(el, path),
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _cancel_report(const Node* el, const Seg* path):
    ids = _texts_of(el, EI, b"reportRequestID")
    if not ids:
        _raise_missing(path, b"reportRequestID")
    return CancelReport(
        request_id=_req_text(el, PYLD, b"requestID", path),
        report_request_ids=ids,
        report_to_follow=_req_bool(el, PYLD, b"reportToFollow", path),
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _updated_report(const Node* el, const Seg* path):
    response = _ei_response(el, path)
    cdef Node* cr = _child(el, OADR, b"oadrCancelReport")
    cdef Seg s = _sg(path, b"oadrCancelReport", 0)
    return UpdatedReport(
        response=response,
        cancel_report=_cancel_report(cr, &s) if cr is not NULL else None,
        ven_id=_opt_text(el, EI, b"venID"),
    )


cdef object _canceled_report(const Node* el, const Seg* path):
    return CanceledReport(
        response=_ei_response(el, path),
        pending_reports=_pending_reports(el, path),
        ven_id=_opt_text(el, EI, b"venID"),
    )


# --------------------------------------------------------------------------- opt


cdef object _create_opt(const Node* el, const Seg* path):
    cdef Txt t
    cdef Seg s, vp, cp, ap, app, qp
    keep = _text(_req(el, EI, b"optType", path), &t)
    if not (_txt_is(&t, b"optIn") or _txt_is(&t, b"optOut")):
        s = _sg(path, b"optType", 0)
        _raise_bad("optType", t.p, t.n, &s)
    opt_type = _tstr(&t)
    windows = None
    cdef Node* va = _child(el, XCAL, b"vavailability")
    cdef Node* comps
    cdef Node* a
    cdef Node* props
    cdef int i = 0
    if va is not NULL:
        vp = _sg(path, b"vavailability", 0)
        comps = _req(va, XCAL, b"components", &vp)
        cp = _sg(&vp, b"components", 0)
        windows = []
        a = _child(comps, XCAL, b"available")
        while a is not NULL:
            i += 1
            ap = _sg(&cp, b"available", i)
            props = _req(a, XCAL, b"properties", &ap)
            app = _sg(&ap, b"properties", 0)
            windows.append(
                AvailableWindow(dtstart=_req_dtstart(props, &app),
                                duration=_req_duration_prop(props, XCAL, b"duration", &app))
            )
            a = _next(a, XCAL, b"available")
    event_id = None
    modification_number = None
    cdef Node* q = _child(el, EI, b"qualifiedEventID")
    if q is not NULL:
        qp = _sg(path, b"qualifiedEventID", 0)
        event_id = _req_text(q, EI, b"eventID", &qp)
        modification_number = _req_int(q, EI, b"modificationNumber", &qp)
    cdef Node* tgt = _req(el, EI, b"eiTarget", path)
    s = _sg(path, b"eiTarget", 0)
    targets = _targets(tgt, &s)[0]
    mrid = None
    cdef Node* dc = _child(el, OADR, b"oadrDeviceClass")
    cdef Node* eda
    cdef Seg dcp, edap
    if dc is not NULL:
        eda = _child(dc, POWER, b"endDeviceAsset")
        if eda is not NULL:
            dcp = _sg(path, b"oadrDeviceClass", 0)
            edap = _sg(&dcp, b"endDeviceAsset", 1)
            mrid = _req_text(eda, POWER, b"mrid", &edap)
    return CreateOpt(
        opt_id=_req_text(el, EI, b"optID", path),
        opt_type=opt_type,
        opt_reason=_req_text(el, EI, b"optReason", path),
        ven_id=_req_text(el, EI, b"venID", path),
        created_date_time=_req_datetime(el, EI, b"createdDateTime", path),
        request_id=_req_text(el, PYLD, b"requestID", path),
        market_context=_opt_text(el, EMIX, b"marketContext"),
        vavailability=windows,
        event_id=event_id,
        modification_number=modification_number,
        targets=targets,
        signal_target_mrid=mrid,
    )


cdef object _created_opt(const Node* el, const Seg* path):
    return CreatedOpt(response=_ei_response(el, path), opt_id=_req_text(el, EI, b"optID", path))


cdef object _cancel_opt(const Node* el, const Seg* path):
    return CancelOpt(
        request_id=_req_text(el, PYLD, b"requestID", path),
        opt_id=_req_text(el, EI, b"optID", path),
        ven_id=_req_text(el, EI, b"venID", path),
    )


cdef object _canceled_opt(const Node* el, const Seg* path):
    return CanceledOpt(response=_ei_response(el, path), opt_id=_req_text(el, EI, b"optID", path))


# --------------------------------------------------------------------------- dispatch

ctypedef object (*Extractor)(const Node*, const Seg*)

cdef enum:
    N_MESSAGES = 23
cdef const char* _MESSAGE_NAMES[N_MESSAGES]
cdef Extractor _EXTRACTORS[N_MESSAGES]
_MESSAGE_NAMES[:] = [
    b"oadrQueryRegistration", b"oadrCreatePartyRegistration", b"oadrCreatedPartyRegistration",
    b"oadrCancelPartyRegistration", b"oadrCanceledPartyRegistration", b"oadrRequestReregistration",
    b"oadrRequestEvent", b"oadrDistributeEvent", b"oadrCreatedEvent", b"oadrRegisterReport", b"oadrRegisteredReport",
    b"oadrCreateReport", b"oadrCreatedReport", b"oadrUpdateReport", b"oadrUpdatedReport", b"oadrCancelReport",
    b"oadrCanceledReport", b"oadrCreateOpt", b"oadrCreatedOpt", b"oadrCancelOpt", b"oadrCanceledOpt", b"oadrPoll",
    b"oadrResponse",
]
_EXTRACTORS[:] = [
    _query_registration, _create_party_registration, _created_party_registration, _cancel_party_registration,
    _canceled_party_registration, _request_reregistration, _request_event, _distribute_event, _created_event,
    _register_report, _registered_report, _create_report, _created_report, _update_report, _updated_report,
    _cancel_report, _canceled_report, _create_opt, _created_opt, _cancel_opt, _canceled_opt, _poll,
    _response_message,
]


cdef str _tag(const Node* n):
    """lxml's ``.tag`` of an element: ``{uri}local`` or ``local``."""
    name = PyUnicode_DecodeUTF8(<const char*>n.name, strlen(<const char*>n.name), NULL)
    if n.ns is NULL or n.ns.href is NULL:
        return name
    href = PyUnicode_DecodeUTF8(<const char*>n.ns.href, strlen(<const char*>n.ns.href), NULL)
    return "{" + href + "}" + name


cdef Node* _message_element(object root) except NULL:
    cdef Node* r = (<cetree._Element>root)._c_node
    cdef Node* signed = NULL
    cdef Node* c
    cdef Node* msg = NULL
    cdef int n = 0
    if not _is(r, OADR, b"oadrPayload"):
        described = _tag(r) if r.type == tree.XML_ELEMENT_NODE else type(root).__name__.lstrip("_")
        raise UnknownMessage(
            f"not an OpenADR 2.0b message: the root element is {described}, expected {T_PAYLOAD}",
            path=described,
        )
    c = _child(r, OADR, b"oadrSignedObject")
    while c is not NULL:
        if signed is not NULL:
            raise InvalidMessage("oadrPayload holds more than one oadrSignedObject", path="oadrPayload/oadrSignedObject")
        signed = c
        c = _next(c, OADR, b"oadrSignedObject")
    if signed is NULL:
        raise InvalidMessage("missing required element oadrPayload/oadrSignedObject",
                             path="oadrPayload/oadrSignedObject")
    c = signed.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            n += 1
            if msg is NULL:
                msg = c
        c = c.next
    if msg is NULL:
        raise InvalidMessage("oadrSignedObject holds no message", path="oadrPayload/oadrSignedObject")
    if n > 1:
        raise InvalidMessage(
            f"oadrSignedObject holds {n} elements, expected exactly one message",
            path="oadrPayload/oadrSignedObject",
        )
    return msg


def extract(root):
    """Turn a parsed ``oadrPayload`` element into its model object.

    The compiled twin of :func:`fleetven._fast._extract_py.extract`: same
    results, same errors.

    :param root: the ``{http://openadr.org/oadr-2.0b/2012/07}oadrPayload``
        element, as :func:`fleetven.messages.parse.parse_document` returns it.
    :returns: one of the classes in :data:`fleetven.openadr.model.MESSAGE_TYPES`.
    :raises UnknownMessage: the root or the message element is not OpenADR 2.0b.
    :raises InvalidMessage: a required element is missing or misplaced.
    :raises InvalidValue: a value is not of its type.
    """
    if not isinstance(root, cetree._Element):
        return _py_extract(root)  # not an lxml element: whatever the specification does with it
    cdef Node* el = _message_element(root)
    cdef int k
    cdef Seg path
    if _in_ns(el, OADR):
        for k in range(N_MESSAGES):
            if strcmp(<const char*>el.name, _MESSAGE_NAMES[k]) == 0:
                path = _sg(NULL, _MESSAGE_NAMES[k], 0)
                return _EXTRACTORS[k](el, &path)
    tag = _tag(el)
    raise UnknownMessage(f"unknown message element {tag} in oadrSignedObject", path="oadrPayload/oadrSignedObject",
                         message_type=tag.rpartition("}")[2])


# --------------------------------------------------------------------------- test hooks


def _parse_datetime_fast_for_test(str text):
    """The C date-time fast path alone: a datetime, or None where it declines (tests only)."""
    cdef bytes data = text.encode("utf-8", "surrogatepass")
    return _datetime_fast(<const unsigned char*>(<const char*>data), len(data))


def _parse_duration_fast_for_test(str text):
    """The C duration fast path alone: a timedelta, or None where it declines (tests only)."""
    cdef bytes data = text.encode("utf-8", "surrogatepass")
    return _duration_fast(<const unsigned char*>(<const char*>data), len(data))


def _parse_float_for_test(str text):
    """What the extractor does with a float text (XML whitespace already stripped); tests only."""
    cdef bytes data = text.encode("utf-8", "surrogatepass")
    cdef Txt t
    cdef Seg path = _sg(NULL, b"value", 0)
    t.p = <const char*>data
    t.n = len(data)
    return _float_txt(&t, &path)


def _parse_int_for_test(str text):
    """What the extractor does with an integer text (XML whitespace already stripped); tests only."""
    cdef bytes data = text.encode("utf-8", "surrogatepass")
    cdef Txt t
    cdef Seg path = _sg(NULL, b"value", 0)
    t.p = <const char*>data
    t.n = len(data)
    return _int_txt(&t, &path)


def _parse_datetime_for_test(str text):
    """What the extractor does with a date-time text: the fast path, else ``timefmt.parse_datetime`` (tests only)."""
    cdef bytes data = text.encode("utf-8", "surrogatepass")
    value = _datetime_fast(<const unsigned char*>(<const char*>data), len(data))
    return _py_parse_datetime(text) if value is None else value


def _parse_duration_for_test(str text):
    """What the extractor does with a duration text: the fast path, else ``timefmt.parse_duration`` (tests only)."""
    cdef bytes data = text.encode("utf-8", "surrogatepass")
    value = _duration_fast(<const unsigned char*>(<const char*>data), len(data))
    return _py_parse_duration(text) if value is None else value
