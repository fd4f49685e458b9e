# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :mod:`fleetven._fast._sig_py`: c14n, the signed document, the structure check of a signed one."""

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.string cimport strcmp, strlen, memcpy, memset

from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8

import base64
import hashlib

from fleetven._fast import _sig_py as _py

# The twin's tables, so that this module offers the whole of its API (fleetven.signing reads them here).
DIGEST_METHODS = _py.DIGEST_METHODS
SIGNATURE_METHODS = _py.SIGNATURE_METHODS
Signed = _py.Signed
C14N10 = _py.C14N10
C14N11 = _py.C14N11
from fleetven.exceptions import SignatureError

cetree.import_lxml__etree()

ctypedef tree.xmlNode Node
ctypedef tree.xmlNs Ns
ctypedef tree.xmlAttr Attr

cdef const char* XML_NS = b"http://www.w3.org/XML/1998/namespace"
cdef const char* EMPTY = b""


# --------------------------------------------------------------------------- output buffer

include "_buf.pxi"


# --------------------------------------------------------------------------- escaping

# Bytes that stop the copying of a run: the NUL terminator and what C14N escapes (1 in text, 2 in attributes).
cdef unsigned char _SPECIAL[256]
_SPECIAL[:] = [0] * 256
_SPECIAL[0] = 3
_SPECIAL[38] = 3  # &
_SPECIAL[60] = 3  # <
_SPECIAL[13] = 3  # CR
_SPECIAL[62] = 1  # > (text only)
_SPECIAL[34] = 2  # " (attributes only)
_SPECIAL[9] = 2  # tab
_SPECIAL[10] = 2  # LF


cdef int _put_escaped(Buf* b, const unsigned char* s, unsigned char mode) except -1:
    """C14N-escaped text content (``mode`` 1: & < > and carriage return) or attribute value
    (``mode`` 2: & < " tab newline carriage return); a character has the same escape in both."""
    cdef Py_ssize_t i = 0, start = 0
    cdef unsigned char c
    if s is NULL:
        return 0
    while True:
        while not (_SPECIAL[s[i]] & mode):
            i += 1
        if i > start:
            _put(b, <const char*>s + start, i - start)
        c = s[i]
        if c == 0:
            return 0
        if c == 38:
            _put(b, b"&amp;", 5)
        elif c == 60:
            _put(b, b"&lt;", 4)
        elif c == 62:
            _put(b, b"&gt;", 4)
        elif c == 34:
            _put(b, b"&quot;", 6)
        elif c == 9:
            _put(b, b"&#x9;", 5)
        elif c == 10:
            _put(b, b"&#xA;", 5)
        else:
            _put(b, b"&#xD;", 5)
        i += 1
        start = i


# --------------------------------------------------------------------------- namespaces and attributes

cdef inline bint _same_prefix(const unsigned char* a, const unsigned char* b) noexcept nogil:
    if a is NULL or b is NULL:
        return a is b
    return strcmp(<const char*>a, <const char*>b) == 0


cdef inline bint _is_xml_prefix(const unsigned char* p) noexcept nogil:
    return p is not NULL and strcmp(<const char*>p, b"xml") == 0


cdef Ns* _lookup(Node* n, const unsigned char* prefix) noexcept nogil:
    """The namespace in scope at element ``n`` for ``prefix`` (NULL: the default one), or NULL."""
    cdef Ns* ns
    while n is not NULL and n.type == tree.XML_ELEMENT_NODE:
        ns = n.nsDef
        while ns is not NULL:
            if _same_prefix(<const unsigned char*>ns.prefix, prefix):
                return ns
            ns = ns.next
        n = n.parent
    return NULL


cdef inline int _cmp_prefix(Ns* a, Ns* b) noexcept nogil:
    # The default namespace (no prefix) sorts first.
    if a.prefix is NULL:
        return 0 if b.prefix is NULL else -1
    if b.prefix is NULL:
        return 1
    return strcmp(<const char*>a.prefix, <const char*>b.prefix)


cdef inline int _cmp_attr(Attr* a, Attr* b) noexcept nogil:
    cdef const char* ua = EMPTY
    cdef const char* ub = EMPTY
    if a.ns is not NULL and a.ns.href is not NULL:
        ua = <const char*>a.ns.href
    if b.ns is not NULL and b.ns.href is not NULL:
        ub = <const char*>b.ns.href
    cdef int r = strcmp(ua, ub)
    if r != 0:
        return r
    return strcmp(<const char*>a.name, <const char*>b.name)


cdef struct PtrArray:
    void** items
    Py_ssize_t size
    Py_ssize_t cap
    void* local[32]


cdef inline void _arr_init(PtrArray* a) noexcept nogil:
    a.items = a.local
    a.size = 0
    a.cap = 32


cdef int _arr_push(PtrArray* a, void* p) except -1:
    cdef void** items
    if a.size == a.cap:
        if a.items is a.local:
            items = <void**>PyMem_Malloc(a.cap * 2 * sizeof(void*))
            if items is NULL:
                raise MemoryError()
            memcpy(items, a.local, a.size * sizeof(void*))
        else:
            items = <void**>PyMem_Realloc(a.items, a.cap * 2 * sizeof(void*))
            if items is NULL:
                raise MemoryError()
        a.items = items
        a.cap *= 2
    a.items[a.size] = p
    a.size += 1
    return 0


cdef inline void _arr_free(PtrArray* a) noexcept:
    if a.items is not a.local:
        PyMem_Free(a.items)
        a.items = a.local


ctypedef int (*_Cmp)(void* a, void* b) noexcept nogil


cdef int _cmp_ns_items(void* a, void* b) noexcept nogil:
    return _cmp_prefix(<Ns*>a, <Ns*>b)


cdef int _cmp_attr_items(void* a, void* b) noexcept nogil:
    return _cmp_attr(<Attr*>a, <Attr*>b)


cdef void _sort(PtrArray* a, _Cmp cmp) noexcept nogil:
    """Insertion sort (stable; the lists are a handful of namespaces or attributes)."""
    cdef Py_ssize_t i, j
    cdef void* x
    for i in range(1, a.size):
        x = a.items[i]
        j = i - 1
        while j >= 0 and cmp(a.items[j], x) > 0:
            a.items[j + 1] = a.items[j]
            j -= 1
        a.items[j + 1] = x


# --------------------------------------------------------------------------- canonicalization

cdef str _u(const unsigned char* s):
    if s is NULL:
        return ""
    return PyUnicode_DecodeUTF8(<const char*>s, strlen(<const char*>s), "replace")


cdef str _local(Node* n):
    """Local name of an element (the twin's ``_local(el.tag)``)."""
    return _u(n.name)


cdef inline bint _is_element_like(Node* n) noexcept nogil:
    """The nodes lxml exposes as children (``_isElement``): elements, comments, entity references, PIs."""
    return (n.type == tree.XML_ELEMENT_NODE or n.type == tree.XML_COMMENT_NODE
            or n.type == tree.XML_ENTITY_REF_NODE or n.type == tree.XML_PI_NODE)


cdef inline Node* _next_outside(Node* node, Node* top) noexcept nogil:
    """The next element-like node after ``node``'s subtree in document order, within ``top``; NULL at the end."""
    cdef Node* nxt
    while node is not top:
        nxt = node.next
        while nxt is not NULL and not _is_element_like(nxt):
            nxt = nxt.next
        if nxt is not NULL:
            return nxt
        node = node.parent
    return NULL


cdef int _refuse_node(Node* c, str where, cetree._Document doc) except -1:
    """The twin's ``_refuse_node``: raise for a comment, a processing instruction or another non-element node."""
    if c.type == tree.XML_COMMENT_NODE:
        raise SignatureError(f"comment in signed content (inside {where}): comments are not allowed",
                             reason="comment")
    if c.type == tree.XML_PI_NODE:
        raise SignatureError(f"processing instruction in signed content (inside {where}): not allowed",
                             reason="processing-instruction")
    name = type(cetree.elementFactory(doc, c)).__name__
    raise SignatureError(f"unexpected {name} node inside {where}: not allowed", reason="node")


cdef inline bint _is_xml_attr(Attr* a) noexcept nogil:
    return a.ns is not NULL and a.ns.href is not NULL and strcmp(<const char*>a.ns.href, XML_NS) == 0


cdef int _refuse_ancestor_xml_attrs(Node* apex) except -1:
    cdef Node* up = apex.parent
    cdef Attr* a
    while up is not NULL and up.type == tree.XML_ELEMENT_NODE:
        a = up.properties
        while a is not NULL:
            if _is_xml_attr(a):
                raise SignatureError(f"xml:{_u(a.name)} attribute on {_local(up)}, an ancestor of {_local(apex)}: "
                                     "xml:* attributes are not allowed", reason="xml-attribute")
            a = a.next
        up = up.parent
    return 0


cdef inline int _put_qname(Buf* b, const unsigned char* prefix, const unsigned char* name) except -1:
    if prefix is not NULL:
        _puts(b, <const char*>prefix)
        _putc(b, b":")
    _puts(b, <const char*>name)
    return 0


cdef int _put_ns(Buf* b, Ns* ns) except -1:
    if ns.prefix is NULL:
        _put(b, b' xmlns="', 8)
    else:
        _put(b, b" xmlns:", 7)
        _puts(b, <const char*>ns.prefix)
        _put(b, b'="', 2)
    _put_escaped(b, ns.href, 2)
    _putc(b, b'"')
    return 0


cdef inline const char* _or_empty(const unsigned char* s) noexcept nogil:
    return <const char*>s if s is not NULL else EMPTY


cdef inline bint _empty(const unsigned char* s) noexcept nogil:
    return s is NULL or s[0] == 0


cdef inline bint _ns_unsafe(const unsigned char* s) noexcept nogil:
    """The twin's ``_NS_UNSAFE``: a character C14N would escape in a namespace URI."""
    if s is NULL:
        return False
    # the characters an attribute value escapes are these six, and the NUL stops the scan
    while not (_SPECIAL[s[0]] & 2):
        s += 1
    return s[0] != 0


cdef int _refuse_unsafe_ns(Node* n, bint apex) except -1:
    """The twin's namespace check, in the order of lxml's ``nsmap`` (nearest declaration of each prefix first).

    A descendant can only bring in declarations of its own: an unsafe inherited
    URI was refused where its declaration was first rendered.
    """
    cdef Node* up = n
    cdef Ns* ns
    cdef Ns* first
    while up is not NULL and up.type == tree.XML_ELEMENT_NODE:
        ns = up.nsDef
        while ns is not NULL:
            if (ns.prefix is not NULL or ns.href is not NULL) and _ns_unsafe(ns.href):
                # in scope at n only if no nearer declaration binds the prefix
                first = _lookup(n, ns.prefix)
                if first is ns:
                    raise SignatureError(f"namespace URI {_u(ns.href)!r} holds a character C14N would escape "
                                         "(& < \" tab CR LF): canonicalizers disagree on it, so it is not allowed",
                                         reason="namespace")
            ns = ns.next
        if not apex:
            break
        up = up.parent
    return 0


cdef int _start_tag(Buf* b, Node* n, bint apex, PtrArray* arr, Py_ssize_t* qname) except -1:
    """Write the start tag of ``n``; ``qname`` gets the offset and length of its name in ``b``."""
    cdef Node* up
    cdef Ns* ns
    cdef Ns* outer
    cdef Attr* a
    cdef Py_ssize_t i
    cdef bint dup
    _refuse_unsafe_ns(n, apex)
    a = n.properties
    while a is not NULL:
        if _is_xml_attr(a):
            raise SignatureError(f"xml:{_u(a.name)} attribute on {_local(n)}: xml:* attributes are not allowed in "
                                 "signed content", reason="xml-attribute")
        a = a.next
    _putc(b, b"<")
    qname[0] = b.size
    _put_qname(b, n.ns.prefix if n.ns is not NULL else NULL, n.name)
    qname[1] = b.size - qname[0]
    arr.size = 0
    if apex:
        # every namespace in scope: the nearest declaration of each prefix, no empty default
        up = n
        while up is not NULL and up.type == tree.XML_ELEMENT_NODE:
            ns = up.nsDef
            while ns is not NULL:
                if not _is_xml_prefix(ns.prefix) and (ns.prefix is not NULL or ns.href is not NULL):
                    dup = False
                    for i in range(arr.size):
                        if _same_prefix((<Ns*>arr.items[i]).prefix, ns.prefix):
                            dup = True
                            break
                    if not dup:
                        _arr_push(arr, ns)
                ns = ns.next
            up = up.parent
        for i in range(arr.size):
            ns = <Ns*>arr.items[i]
            if ns.prefix is NULL and _empty(ns.href):
                arr.items[i] = arr.items[arr.size - 1]
                arr.size -= 1
                break
    else:
        # declarations that differ from the parent's in-scope ones
        ns = n.nsDef
        while ns is not NULL:
            if not _is_xml_prefix(ns.prefix) and (ns.prefix is not NULL or ns.href is not NULL):
                outer = _lookup(n.parent, ns.prefix)
                # a prefix the parent does not bind is new; the default namespace is "" when unbound
                if outer is NULL and ns.prefix is not NULL:
                    _arr_push(arr, ns)
                elif strcmp(_or_empty(ns.href), _or_empty(outer.href) if outer is not NULL else EMPTY) != 0:
                    _arr_push(arr, ns)
            ns = ns.next
    if arr.size:
        _sort(arr, _cmp_ns_items)
        for i in range(arr.size):
            _put_ns(b, <Ns*>arr.items[i])
        arr.size = 0
    a = n.properties
    if a is not NULL:
        while a is not NULL:
            _arr_push(arr, a)
            a = a.next
        _sort(arr, _cmp_attr_items)
        for i in range(arr.size):
            a = <Attr*>arr.items[i]
            _putc(b, b" ")
            _put_qname(b, a.ns.prefix if a.ns is not NULL else NULL, a.name)
            _put(b, b'="', 2)
            up = a.children
            while up is not NULL:
                if up.type == tree.XML_TEXT_NODE:
                    _put_escaped(b, up.content, 2)
                up = up.next
            _putc(b, b'"')
        arr.size = 0
    _putc(b, b">")
    return 0


cdef inline int _plain_start_tag(Buf* b, Node* n, Py_ssize_t* qname) except -1:
    """``<qname>`` of an element with no namespace declaration and no attribute."""
    cdef const char* prefix = <const char*>n.ns.prefix if n.ns is not NULL else NULL
    cdef Py_ssize_t lp = strlen(prefix) + 1 if prefix is not NULL else 0
    cdef Py_ssize_t ln = strlen(<const char*>n.name)
    cdef char* out
    if b.size + lp + ln + 2 > b.cap:
        _buf_grow(b, lp + ln + 2)
    out = b.data + b.size
    out[0] = b"<"
    out += 1
    if lp:
        memcpy(out, prefix, lp - 1)
        out[lp - 1] = b":"
        out += lp
    memcpy(out, n.name, ln)
    out[ln] = b">"
    qname[0] = b.size + 1
    qname[1] = lp + ln
    b.size += lp + ln + 2
    return 0


cdef inline int _end_tag(Buf* b, Py_ssize_t* qname) except -1:
    """``</qname>``, the name copied from where the start tag wrote it."""
    cdef Py_ssize_t n = qname[1]
    if b.size + n + 3 > b.cap:
        _buf_grow(b, n + 3)
    b.data[b.size] = b"<"
    b.data[b.size + 1] = b"/"
    memcpy(b.data + b.size + 2, b.data + qname[0], n)
    b.data[b.size + 2 + n] = b">"
    b.size += n + 3
    return 0


cdef inline int _walk_hook(Node* node, dict ids, list added, Py_ssize_t* n_signatures) except -1:
    """What ``inspect_signed``'s walk does at an element: count signatures, record ids (a duplicate is refused)."""
    if node.name[0] == b"S" and _is(node, DS, b"Signature"):
        n_signatures[0] += 1
    if node.properties is not NULL:
        _walk_ids(node, ids, added)
    return 0


cdef int _walk_ids(Node* node, dict ids, list added) except -1:
    cdef Attr* a
    cdef bytes value
    a = node.properties
    while a is not NULL:
        if _is_id_name(a.name):
            value = _attr_value(a)
            if value in ids:
                _bad(f"id {value.decode()!r} appears more than once in the document "
                     f"(on {_local(<Node*><size_t>ids[value])} and {_local(node)})", "duplicate-id")
            ids[value] = <size_t>node
            if added is not None:
                added.append(value)
        a = a.next
    return 0


DEF MAX_DEPTH = 256


cdef int _c14n_into(Buf* b, Node* apex, cetree._Document doc, dict ids, list added,
                    Py_ssize_t* n_signatures) except -1:
    """Append the canonical form of element ``apex`` and its subtree to ``b`` (no recursion).

    With ``ids`` (not None) this is also ``inspect_signed``'s walk over the subtree, fused with
    the rendering: each element goes through :func:`_walk_hook` and a node the walk refuses is
    refused as the walk refuses it. A reason the canonicalization itself refuses the subtree is
    then not raised: the return value 1 says the rendering was abandoned (the walk's work so far
    is listed in ``added``). Returns 0 when the canonical form is complete.
    """
    cdef Node* node = apex
    cdef Node* cur
    cdef PtrArray arr
    cdef Py_ssize_t depth = 0
    cdef Py_ssize_t qnames[2 * MAX_DEPTH]
    cdef Py_ssize_t deep[2]
    cdef bint walk = ids is not None
    if walk:
        _walk_hook(apex, ids, added, n_signatures)
        try:
            _refuse_ancestor_xml_attrs(apex)
        except SignatureError:
            return 1
    else:
        _refuse_ancestor_xml_attrs(apex)
    _arr_init(&arr)
    try:
        if walk:
            try:
                _start_tag(b, apex, True, &arr, &qnames[0])
            except SignatureError:
                return 1
        else:
            _start_tag(b, apex, True, &arr, &qnames[0])
        cur = apex.children
        while True:
            if cur is NULL:
                if depth < MAX_DEPTH:
                    _end_tag(b, &qnames[2 * depth])
                else:  # deeper than the stack of names: write it again
                    _put(b, b"</", 2)
                    _put_qname(b, node.ns.prefix if node.ns is not NULL else NULL, node.name)
                    _putc(b, b">")
                if node is apex:
                    return 0
                depth -= 1
                cur = node.next
                node = node.parent
                continue
            if cur.type == tree.XML_ELEMENT_NODE:
                depth += 1
                if cur.nsDef is NULL and cur.properties is NULL and depth < MAX_DEPTH:
                    # the usual element: nothing to declare, check or sort
                    if walk and cur.name[0] == b"S" and _is(cur, DS, b"Signature"):
                        n_signatures[0] += 1
                    _plain_start_tag(b, cur, &qnames[2 * depth])
                    node = cur
                    cur = cur.children
                    continue
                if walk:
                    _walk_hook(cur, ids, added, n_signatures)
                    try:
                        _start_tag(b, cur, False, &arr, &qnames[2 * depth] if depth < MAX_DEPTH else &deep[0])
                    except SignatureError:
                        return 1
                else:
                    _start_tag(b, cur, False, &arr, &qnames[2 * depth] if depth < MAX_DEPTH else &deep[0])
                node = cur
                cur = cur.children
                continue
            if cur.type == tree.XML_TEXT_NODE or cur.type == tree.XML_CDATA_SECTION_NODE:
                _put_escaped(b, cur.content, 1)
            elif _is_element_like(cur):
                _refuse_node(cur, "the document" if walk else _local(node), doc)
            cur = cur.next
    finally:
        _arr_free(&arr)


# One output buffer, reused: no allocation and no regrowth per call once it is big enough. It is taken out
# while in use (the GIL is held throughout; a re-entrant call, from a finalizer say, gets a buffer of its own).
cdef char* _scratch_data = NULL
cdef Py_ssize_t _scratch_cap = 0
cdef bint _scratch_busy = False
DEF SCRATCH_KEEP = 1 << 20  # a larger buffer is given back to the allocator after use


cdef bint _take(Buf* b) except -1:
    """Point ``b`` at the scratch buffer (True) or at a new one when the scratch is in use (False)."""
    global _scratch_data, _scratch_busy
    if _scratch_busy:
        _buf_init(b, 8192)
        return False
    if _scratch_data is NULL:
        _buf_init(b, 8192)
    else:
        b.data = _scratch_data
        b.cap = _scratch_cap
        b.size = 0
        _scratch_data = NULL
    _scratch_busy = True
    return True


cdef void _give_back(Buf* b, bint scratch) noexcept:
    global _scratch_data, _scratch_cap, _scratch_busy
    if scratch:
        _scratch_busy = False
        if b.cap <= SCRATCH_KEEP:
            _scratch_data = b.data
            _scratch_cap = b.cap
            return
    PyMem_Free(b.data)


cdef bytes _c14n_node(Node* n, cetree._Document doc):
    cdef Buf b
    cdef bint scratch = _take(&b)
    try:
        _c14n_into(&b, n, doc, None, None, NULL)
        return PyBytes_FromStringAndSize(b.data, b.size)
    finally:
        _give_back(&b, scratch)


cdef object _c14n_walked(Node* n, cetree._Document doc, dict ids, list added, Py_ssize_t* n_signatures):
    """The canonical form of ``n`` with ``inspect_signed``'s walk of its subtree, or None when abandoned."""
    cdef Buf b
    cdef bint scratch = _take(&b)
    try:
        if _c14n_into(&b, n, doc, ids, added, n_signatures):
            return None
        return PyBytes_FromStringAndSize(b.data, b.size)
    finally:
        _give_back(&b, scratch)


def c14n(element):
    """Inclusive Canonical XML 1.0 (without comments) of ``element`` as a document subset.

    Same bytes, or the same exception, as :func:`fleetven._fast._sig_py.c14n`.

    :param element: an lxml element of a parsed document.
    :returns: the canonical form, UTF-8.
    :raises SignatureError: a comment, a processing instruction or an ``xml:*``
        attribute in the subtree, or an ``xml:*`` attribute on an ancestor.
    """
    if not isinstance(element, cetree._Element):
        return _py.c14n(element)
    cdef cetree._Element el = element
    cdef Node* n = el._c_node
    if n is NULL or n.type != tree.XML_ELEMENT_NODE:
        if n is not NULL and _is_element_like(n):
            _refuse_node(n, "the document", el._doc)
        return _py.c14n(element)
    return _c14n_node(n, el._doc)


# --------------------------------------------------------------------------- sealing (the signing hot path)

# The fixed bytes of the document, from the twin (one definition of the profile's bytes).
cdef bytes REPLAY_A = _py._REPLAY_1
cdef bytes REPLAY_B = _py._REPLAY_2
cdef bytes REPLAY_C = _py._REPLAY_3
cdef bytes SI_A = _py._SI_1
cdef bytes SI_B = _py._SI_2
cdef bytes SI_C = _py._SI_3
cdef bytes SI_D = _py._SI_4
cdef bytes DOC_A = _py._PAYLOAD_OPEN + _py._SIG_OPEN
cdef bytes DOC_B = _py._SV_1
cdef bytes DOC_C = _py._SV_2
cdef bytes DOC_D = _py._SV_3
cdef bytes DOC_E = _py._SIG_CLOSE
cdef bytes DOC_F = _py._PAYLOAD_CLOSE

cdef object _sha256 = hashlib.sha256
cdef const char* _B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


cdef inline Py_ssize_t _b64_len(Py_ssize_t n) noexcept nogil:
    return (n + 2) // 3 * 4


cdef char* _b64_into(char* out, const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """Write standard base64 (padded, no newlines) of ``s[:n]`` at ``out``; returns the end."""
    cdef Py_ssize_t i = 0
    cdef unsigned int v
    while i + 3 <= n:
        v = (s[i] << 16) | (s[i + 1] << 8) | s[i + 2]
        out[0] = _B64[v >> 18]
        out[1] = _B64[(v >> 12) & 63]
        out[2] = _B64[(v >> 6) & 63]
        out[3] = _B64[v & 63]
        out += 4
        i += 3
    if n - i == 1:
        v = s[i] << 16
        out[0] = _B64[v >> 18]
        out[1] = _B64[(v >> 12) & 63]
        out[2] = b"="
        out[3] = b"="
        out += 4
    elif n - i == 2:
        v = (s[i] << 16) | (s[i + 1] << 8)
        out[0] = _B64[v >> 18]
        out[1] = _B64[(v >> 12) & 63]
        out[2] = _B64[(v >> 6) & 63]
        out[3] = b"="
        out += 4
    return out


cdef inline char* _cat(char* out, bytes part) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(part)
    memcpy(out, PyBytes_AS_STRING(part), n)
    return out + n


cdef inline char* _cat_raw(char* out, const char* s, Py_ssize_t n) noexcept nogil:
    memcpy(out, s, n)
    return out + n


cdef Py_ssize_t _esc_len(const char* s, Py_ssize_t n, bint attr) noexcept nogil:
    """Length of ``s[:n]`` once escaped as text (``attr`` False) or as an attribute value."""
    cdef Py_ssize_t i, size = n
    cdef char c
    for i in range(n):
        c = s[i]
        if c == b"&" or c == b"\r" or (c == b"\t" and attr) or (c == b"\n" and attr):
            size += 4
        elif c == b"<" or (c == b">" and not attr):
            size += 3
        elif c == b'"' and attr:
            size += 5
    return size


cdef char* _esc_copy(char* out, const char* s, Py_ssize_t n, bint attr) noexcept nogil:
    cdef Py_ssize_t i
    cdef char c
    for i in range(n):
        c = s[i]
        if c == b"&":
            out = _cat_raw(out, b"&amp;", 5)
        elif c == b"<":
            out = _cat_raw(out, b"&lt;", 4)
        elif c == b"\r":
            out = _cat_raw(out, b"&#xD;", 5)
        elif c == b">" and not attr:
            out = _cat_raw(out, b"&gt;", 4)
        elif c == b'"' and attr:
            out = _cat_raw(out, b"&quot;", 6)
        elif c == b"\t" and attr:
            out = _cat_raw(out, b"&#x9;", 5)
        elif c == b"\n" and attr:
            out = _cat_raw(out, b"&#xA;", 5)
        else:
            out[0] = c
            out += 1
    return out


cdef object _b64encode = base64.b64encode


def seal(signed_object, key, timestamp, nonce):
    """Write the whole signed ``oadrPayload`` document around a canonical ``oadrSignedObject``.

    Same bytes, or the same exception, as :func:`fleetven._fast._sig_py.seal`;
    ``key.sign`` is called once, with the canonical ``ds:SignedInfo``.

    :param signed_object: canonical bytes of an ``oadrSignedObject``.
    :param key: a signing key (``algorithm``, ``cert_b64``, ``sign(data)``).
    :param timestamp: the ``dsp:timestamp`` text.
    :param nonce: the ``dsp:nonce`` text.
    :returns: the document, UTF-8, starting with the XML declaration.
    """
    cdef Py_ssize_t ts_n, nonce_n, alg_n, ts_e, nonce_e, alg_e, sig_n
    cdef const char* ts
    cdef const char* nc
    cdef const char* alg
    cdef bytes so, digest, replay, signed_info, doc, alg_b
    cdef object sig, cert
    cdef bint encoded
    cdef char* out
    cdef char[44] so_b64
    cdef char[44] replay_b64

    if type(signed_object) is bytes:
        so = signed_object
    else:
        return _py.seal(signed_object, key, timestamp, nonce)
    if type(timestamp) is not str or type(nonce) is not str:
        return _py.seal(signed_object, key, timestamp, nonce)
    try:
        ts = PyUnicode_AsUTF8AndSize(timestamp, &ts_n)
        nc = PyUnicode_AsUTF8AndSize(nonce, &nonce_n)
    except UnicodeEncodeError:
        return _py.seal(signed_object, key, timestamp, nonce)
    ts_e = _esc_len(ts, ts_n, False)
    nonce_e = _esc_len(nc, nonce_n, False)

    replay = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(REPLAY_A) + ts_e + PyBytes_GET_SIZE(REPLAY_B)
                                       + nonce_e + PyBytes_GET_SIZE(REPLAY_C))
    out = PyBytes_AS_STRING(replay)
    out = _cat(out, REPLAY_A)
    out = _esc_copy(out, ts, ts_n, False)
    out = _cat(out, REPLAY_B)
    out = _esc_copy(out, nc, nonce_n, False)
    _cat(out, REPLAY_C)

    algorithm = key.algorithm
    if type(algorithm) is str:
        alg = PyUnicode_AsUTF8AndSize(algorithm, &alg_n)
        alg_e = _esc_len(alg, alg_n, True)
    else:  # whatever the twin does with it (str subclasses work, anything else fails the same way)
        alg_b = _py._esc_attr(algorithm).encode()
        alg = PyBytes_AS_STRING(alg_b)
        alg_n = alg_e = PyBytes_GET_SIZE(alg_b)

    digest = _sha256(so).digest()
    _b64_into(so_b64, <const unsigned char*>PyBytes_AS_STRING(digest), 32)
    digest = _sha256(replay).digest()
    _b64_into(replay_b64, <const unsigned char*>PyBytes_AS_STRING(digest), 32)

    signed_info = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(SI_A) + alg_e + PyBytes_GET_SIZE(SI_B) + 44
                                            + PyBytes_GET_SIZE(SI_C) + 44 + PyBytes_GET_SIZE(SI_D))
    out = PyBytes_AS_STRING(signed_info)
    out = _cat(out, SI_A)
    if alg_e == alg_n:
        out = _cat_raw(out, alg, alg_n)
    else:
        out = _esc_copy(out, alg, alg_n, True)
    out = _cat(out, SI_B)
    out = _cat_raw(out, so_b64, 44)
    out = _cat(out, SI_C)
    out = _cat_raw(out, replay_b64, 44)
    _cat(out, SI_D)

    sig = key.sign(signed_info)
    encoded = type(sig) is not bytes
    if encoded:
        sig = _b64encode(sig)  # any other bytes-like object, or the twin's TypeError
        sig_n = PyBytes_GET_SIZE(sig)
    else:
        sig_n = _b64_len(PyBytes_GET_SIZE(sig))
    cert = key.cert_b64
    if type(cert) is not bytes:
        # the twin's join, item for item (a TypeError names the same item)
        return b"".join((_py._PAYLOAD_OPEN, _py._SIG_OPEN, signed_info, DOC_B, sig if encoded else _b64encode(sig),
                         DOC_C, cert, DOC_D, replay, DOC_E, so, DOC_F))

    doc = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(DOC_A) + PyBytes_GET_SIZE(signed_info)
                                    + PyBytes_GET_SIZE(DOC_B) + sig_n
                                    + PyBytes_GET_SIZE(DOC_C) + PyBytes_GET_SIZE(cert) + PyBytes_GET_SIZE(DOC_D)
                                    + PyBytes_GET_SIZE(replay) + PyBytes_GET_SIZE(DOC_E) + PyBytes_GET_SIZE(so)
                                    + PyBytes_GET_SIZE(DOC_F))
    out = PyBytes_AS_STRING(doc)
    out = _cat(out, DOC_A)
    out = _cat(out, signed_info)
    out = _cat(out, DOC_B)
    if encoded:
        out = _cat(out, sig)
    else:
        out = _b64_into(out, <const unsigned char*>PyBytes_AS_STRING(sig), PyBytes_GET_SIZE(sig))
    out = _cat(out, DOC_C)
    out = _cat(out, cert)
    out = _cat(out, DOC_D)
    out = _cat(out, replay)
    out = _cat(out, DOC_E)
    out = _cat(out, so)
    _cat(out, DOC_F)
    return doc


# --------------------------------------------------------------------------- ReplayProtect timestamp

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct tm:
        pass
    tm* gmtime_r(const time_t* timer, tm* result)
    size_t strftime(char* s, size_t maxsize, const char* fmt, const tm* t)

cdef extern from "<math.h>" nogil:
    double nearbyint(double x)

DEF LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


cdef object _timestamp(object now, long long* cached_second, char* cached_text):
    """The text of :func:`timestamp`; ``cached_text`` holds the 19 characters of ``cached_second[0]``
    ("YYYY-MM-DDThh:mm:ss"), reused when ``now`` falls in that second and updated when not."""
    cdef double x
    cdef long long second, micros
    cdef time_t t
    cdef tm parts
    cdef char[32] out
    cdef int i
    if type(now) is not float:
        return _py.timestamp(now)
    x = now
    if not (0.0 <= x < <double>LAST_SECOND):  # NaN too
        return _py.timestamp(now)
    second = <long long>x  # towards zero; x - second is exact
    micros = <long long>nearbyint((x - <double>second) * 1e6)  # half to even, as Python's round()
    if micros >= 1000000:
        second += 1
        micros -= 1000000
    elif micros < 0:
        second -= 1
        micros += 1000000
    if second != cached_second[0]:
        if second > LAST_SECOND:
            return _py.timestamp(now)
        t = <time_t>second
        if gmtime_r(&t, &parts) is NULL or strftime(cached_text, 32, b"%Y-%m-%dT%H:%M:%S", &parts) != 19:
            cached_second[0] = -1  # the buffer may hold anything now
            return _py.timestamp(now)
        cached_second[0] = second
    memcpy(out, cached_text, 19)
    out[19] = b"."
    for i in range(25, 19, -1):
        out[i] = <char>(48 + micros % 10)
        micros //= 10
    out[26] = b"Z"
    return PyUnicode_DecodeASCII(out, 27, NULL)


def timestamp(now):
    """``now`` (POSIX seconds) as an xCal UTC date-time with microseconds: the same text, or the same
    exception, as :func:`fleetven._fast._sig_py.timestamp`. Stateless (:meth:`Stamps.timestamp` caches)."""
    cdef long long second = -1
    cdef char[32] text
    return _timestamp(now, &second, text)


cdef class Stamps:
    """The compiled twin of :class:`fleetven._fast._sig_py.Stamps`: the same texts and values, or the
    same exceptions; the date part of the last second signed is kept in the object, in C."""

    cdef long long _second
    cdef char[32] _text  # "YYYY-MM-DDThh:mm:ss" of _second

    def __cinit__(self):
        self._second = -1

    def timestamp(self, now):
        """:func:`timestamp` of ``now``, the part up to the seconds formatted once per second."""
        return _timestamp(now, &self._second, self._text)

    def epoch(self, text):
        """:func:`epoch` of ``text`` (read in C, with no cache to keep)."""
        return epoch(text)



cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, object overflow_exception) except? -1.0


cdef inline int _digits(const char* s, int n) noexcept nogil:
    """The value of ``n`` ASCII digits at ``s``, or -1."""
    cdef int v = 0, i
    for i in range(n):
        if not (48 <= s[i] <= 57):
            return -1
        v = v * 10 + (s[i] - 48)
    return v


cdef inline bint _leap(long long y) noexcept nogil:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


cdef int[13] _MONTH_DAYS
_MONTH_DAYS[:] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def epoch(text):
    """A ``ReplayProtect`` timestamp as POSIX seconds: the same value, or the same exception, as
    :func:`fleetven._fast._sig_py.epoch`. The usual form (``YYYY-MM-DDThh:mm:ss[.f]Z``, ASCII
    digits, a valid date and time) is read here; anything else by the twin."""
    cdef const char* s
    cdef Py_ssize_t n, i
    cdef int year, month, day, hour, minute, second, dim
    cdef long long y, m, era, yoe, doy, doe, days
    cdef double whole, fraction
    cdef char* end
    if type(text) is not str:
        return _py.epoch(text)
    try:
        s = PyUnicode_AsUTF8AndSize(text, &n)
    except UnicodeEncodeError:
        return _py.epoch(text)
    if n < 20 or s[n - 1] != b"Z" or s[4] != b"-" or s[7] != b"-" or s[10] != b"T" or s[13] != b":" or s[16] != b":":
        return _py.epoch(text)
    if n > 20:
        if n == 21 or s[19] != b".":
            return _py.epoch(text)
        for i in range(20, n - 1):
            if not (48 <= s[i] <= 57):
                return _py.epoch(text)
    year = _digits(s, 4)
    month = _digits(s + 5, 2)
    day = _digits(s + 8, 2)
    hour = _digits(s + 11, 2)
    minute = _digits(s + 14, 2)
    second = _digits(s + 17, 2)
    if year < 1 or not 1 <= month <= 12 or day < 1 or hour < 0 or hour > 23 or minute < 0 or minute > 59 \
            or second < 0 or second > 59:
        return _py.epoch(text)
    dim = 29 if month == 2 and _leap(year) else _MONTH_DAYS[month]
    if day > dim:
        return _py.epoch(text)
    # days since 1970-01-01 in the proleptic Gregorian calendar (the civil-from-days inverse)
    y = year - (1 if month <= 2 else 0)
    m = month
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    whole = <double>(days * 86400 + hour * 3600 + minute * 60 + second)
    if n == 20:
        return whole + 0.0
    fraction = PyOS_string_to_double(s + 19, &end, None)  # ".f" up to the Z, read as float() reads it
    if end != s + n - 1:  # pragma: no cover - digits only, checked above
        return _py.epoch(text)
    return whole + fraction

# --------------------------------------------------------------------------- ECDSA signature forms

cdef inline Py_ssize_t _der_int(const unsigned char* s, Py_ssize_t n, Py_ssize_t* start) noexcept nogil:
    """Bounds of a minimal non-negative DER INTEGER's content at ``s[:n]`` (tag, short length):
    the magnitude starts at ``start`` (after a sign byte); returns the TLV's length, or -1."""
    cdef Py_ssize_t length
    if n < 3 or s[0] != 2:
        return -1
    length = s[1]
    if length == 0 or length > 127 or 2 + length > n:
        return -1
    if s[2] & 0x80:
        return -1  # negative
    if s[2] == 0 and length > 1 and not (s[3] & 0x80):
        return -1  # not minimal
    start[0] = 2
    while start[0] < 2 + length - 1 and s[start[0]] == 0:
        start[0] += 1
    return 2 + length


def ecdsa_raw(der, size):
    """An ECDSA signature from DER to XML-DSig's ``r || s``: the same bytes, or the same exception,
    as :func:`fleetven._fast._sig_py.ecdsa_raw`."""
    cdef const unsigned char* s
    cdef Py_ssize_t n, body, pos, a, b, la, lb, ra, rb
    cdef bytes out
    cdef char* o
    cdef Py_ssize_t sz
    if type(der) is not bytes or type(size) is not int or not 0 < size <= 4096:
        return _py.ecdsa_raw(der, size)
    sz = size
    s = <const unsigned char*>PyBytes_AS_STRING(der)
    n = PyBytes_GET_SIZE(der)
    if n < 8 or s[0] != 0x30:
        return _py.ecdsa_raw(der, size)
    if s[1] < 0x80:
        body, pos = s[1], 2
    elif s[1] == 0x81 and n > 2 and s[2] >= 0x80:
        body, pos = s[2], 3
    else:
        return _py.ecdsa_raw(der, size)
    if pos + body != n:
        return _py.ecdsa_raw(der, size)
    la = _der_int(s + pos, n - pos, &a)
    if la < 0:
        return _py.ecdsa_raw(der, size)
    lb = _der_int(s + pos + la, n - pos - la, &b)
    if lb < 0 or pos + la + lb != n:
        return _py.ecdsa_raw(der, size)
    ra = la - a  # magnitude lengths (at least one byte)
    rb = lb - b
    if (ra == 1 and s[pos + a] == 0):
        ra = 0
    if (rb == 1 and s[pos + la + b] == 0):
        rb = 0
    if ra > sz or rb > sz:
        return _py.ecdsa_raw(der, size)
    out = PyBytes_FromStringAndSize(NULL, 2 * sz)
    o = PyBytes_AS_STRING(out)
    memset(o, 0, 2 * sz)
    memcpy(o + sz - ra, s + pos + la - ra, ra)
    memcpy(o + 2 * sz - rb, s + pos + la + lb - rb, rb)
    return out


def ecdsa_der(raw):
    """An XML-DSig ECDSA ``r || s`` to DER: the same bytes, or the same exception, as
    :func:`fleetven._fast._sig_py.ecdsa_der`."""
    cdef const unsigned char* s
    cdef Py_ssize_t n, half, a, b, la, lb, body, i
    cdef bint pa, pb
    cdef bytes out
    cdef unsigned char* o
    if type(raw) is not bytes:
        return _py.ecdsa_der(raw)
    s = <const unsigned char*>PyBytes_AS_STRING(raw)
    n = PyBytes_GET_SIZE(raw)
    if n == 0 or n % 2 or n > 240:
        return _py.ecdsa_der(raw)
    half = n // 2
    a = 0
    while a < half - 1 and s[a] == 0:
        a += 1
    b = half
    while b < n - 1 and s[b] == 0:
        b += 1
    pa = (s[a] & 0x80) != 0
    pb = (s[b] & 0x80) != 0
    la = half - a + pa
    lb = n - b + pb
    body = 4 + la + lb
    out = PyBytes_FromStringAndSize(NULL, body + (3 if body > 127 else 2))
    o = <unsigned char*>PyBytes_AS_STRING(out)
    o[0] = 0x30
    if body > 127:
        o[1] = 0x81
        o[2] = <unsigned char>body
        o += 3
    else:
        o[1] = <unsigned char>body
        o += 2
    o[0] = 2
    o[1] = <unsigned char>la
    o += 2
    if pa:
        o[0] = 0
        o += 1
    memcpy(o, s + a, half - a)
    o += half - a
    o[0] = 2
    o[1] = <unsigned char>lb
    o += 2
    if pb:
        o[0] = 0
        o += 1
    memcpy(o, s + b, n - b)
    return out


# --------------------------------------------------------------------------- inspect_signed

cdef const char* DS = b"http://www.w3.org/2000/09/xmldsig#"
cdef const char* DSP = b"http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties"
cdef const char* OADR = b"http://openadr.org/oadr-2.0b/2012/07"

cdef object _Signed = _py.Signed
cdef object _tuple_new = tuple.__new__
cdef object _py_b64 = _py._b64

# The allowed algorithm URIs, from the twin (the one place they are listed): (bytes to compare, str to return).
cdef list _C14N_ALLOWED = [(u.encode(), u) for u in (_py.C14N10, _py.C14N11)]
cdef list _SIG_ALLOWED = [(u.encode(), u) for u in _py.SIGNATURE_METHODS]
cdef list _DIGEST_ALLOWED = [(u.encode(), u) for u in _py.DIGEST_METHODS]

# Expected children, as (namespace, local name) pairs, NULL-terminated.
cdef const char* E_PAYLOAD[5]
E_PAYLOAD[:] = [DS, b"Signature", OADR, b"oadrSignedObject", NULL]
cdef const char* E_SIGNATURE[9]
E_SIGNATURE[:] = [DS, b"SignedInfo", DS, b"SignatureValue", DS, b"KeyInfo", DS, b"Object", NULL]
cdef const char* E_SIGNED_INFO[9]
E_SIGNED_INFO[:] = [DS, b"CanonicalizationMethod", DS, b"SignatureMethod", DS, b"Reference", DS, b"Reference", NULL]
cdef const char* E_REFERENCE[5]
E_REFERENCE[:] = [DS, b"DigestMethod", DS, b"DigestValue", NULL]
cdef const char* E_OBJECT[3]
E_OBJECT[:] = [DS, b"SignatureProperties", NULL]
cdef const char* E_PROPS[3]
E_PROPS[:] = [DS, b"SignatureProperty", NULL]
cdef const char* E_PROP[3]
E_PROP[:] = [DSP, b"ReplayProtect", NULL]
cdef const char* E_REPLAY[5]
E_REPLAY[:] = [DSP, b"timestamp", DSP, b"nonce", NULL]
cdef const char* E_KEY_INFO[3]
E_KEY_INFO[:] = [DS, b"X509Data", NULL]
cdef const char* E_X509_DATA[3]
E_X509_DATA[:] = [DS, b"X509Certificate", NULL]

cdef signed char[256] _B64_VALUE
cdef int _k
for _k in range(256):
    _B64_VALUE[_k] = -1
for _k in range(64):
    _B64_VALUE[<unsigned char>_B64[_k]] = _k


cdef inline bint _is(Node* n, const char* ns, const char* name) noexcept nogil:
    return (n.type == tree.XML_ELEMENT_NODE and n.ns is not NULL and n.ns.href is not NULL
            and strcmp(<const char*>n.name, name) == 0 and strcmp(<const char*>n.ns.href, ns) == 0)


cdef inline bint _xml_space(unsigned char c) noexcept nogil:
    return c == 32 or c == 9 or c == 13 or c == 10


cdef inline bint _space_only(const unsigned char* s) noexcept nogil:
    if s is NULL:
        return True
    while s[0] != 0:
        if not _xml_space(s[0]):
            return False
        s += 1
    return True


cdef inline bint _is_id_name(const unsigned char* name) noexcept nogil:
    return (name[0] == b"I" and (name[1] == b"d" or name[1] == b"D") and name[2] == 0) or (
        name[0] == b"i" and name[1] == b"d" and name[2] == 0)


cdef int _bad(str text, str reason) except -1:
    raise SignatureError(text, reason=reason)


cdef int _children(Node* el, str name, PtrArray* out, cetree._Document doc) except -1:
    """The twin's ``_children``: element children; other nodes refused, text must be whitespace."""
    cdef Node* c = el.children
    out.size = 0
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            _arr_push(out, c)
        elif c.type == tree.XML_TEXT_NODE or c.type == tree.XML_CDATA_SECTION_NODE:
            if not _space_only(c.content):
                _bad(f"unexpected text inside {name}", "structure")
        elif _is_element_like(c):
            _refuse_node(c, name, doc)
        c = c.next
    return 0


cdef int _expect(PtrArray* kids, const char** spec, str name) except -1:
    """The twin's ``_expect``: the children are exactly the (namespace, name) pairs of ``spec``."""
    cdef Py_ssize_t i = 0
    cdef bint ok = True
    while spec[2 * i] is not NULL:
        if i >= kids.size or not _is(<Node*>kids.items[i], spec[2 * i], spec[2 * i + 1]):
            ok = False
            break
        i += 1
    if ok and i == kids.size:
        return 0
    want = []
    i = 0
    while spec[2 * i] is not NULL:
        want.append(spec[2 * i + 1].decode())
        i += 1
    have = [_local(<Node*>kids.items[i]) for i in range(kids.size)]
    _bad(f"{name} must hold exactly {', '.join(want) or 'nothing'}; it holds {', '.join(have) or 'nothing'}",
         "structure")


cdef int _no_child_elements(Node* el, str name, cetree._Document doc) except -1:
    cdef Node* c = el.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            _bad(f"{name} must not have child elements (found {_local(c)})", "structure")
        if _is_element_like(c):
            _refuse_node(c, name, doc)
        c = c.next
    return 0


cdef bytes _leaf_text(Node* el, str name, cetree._Document doc):
    """The twin's ``_leaf_text``, as UTF-8: no child elements; the text stripped of XML whitespace."""
    cdef Node* c
    cdef Node* only = NULL
    cdef Py_ssize_t n_text = 0, a, b
    cdef const unsigned char* s
    cdef bytes joined
    _no_child_elements(el, name, doc)
    c = el.children
    while c is not NULL:
        if (c.type == tree.XML_TEXT_NODE or c.type == tree.XML_CDATA_SECTION_NODE) and c.content is not NULL:
            only = c
            n_text += 1
        c = c.next
    if n_text == 0:
        return b""
    if n_text == 1:
        s = only.content
        b = strlen(<const char*>s)
    else:
        parts = []
        c = el.children
        while c is not NULL:
            if (c.type == tree.XML_TEXT_NODE or c.type == tree.XML_CDATA_SECTION_NODE) and c.content is not NULL:
                parts.append(<bytes>(<const char*>c.content))
            c = c.next
        joined = b"".join(parts)
        s = <const unsigned char*>PyBytes_AS_STRING(joined)
        b = PyBytes_GET_SIZE(joined)
    a = 0
    while a < b and _xml_space(s[a]):
        a += 1
    while b > a and _xml_space(s[b - 1]):
        b -= 1
    return PyBytes_FromStringAndSize(<const char*>s + a, b - a)


cdef bint _leaf_blank(Node* el, str name, cetree._Document doc) except -1:
    _no_child_elements(el, name, doc)
    cdef Node* c = el.children
    while c is not NULL:
        if c.type == tree.XML_TEXT_NODE or c.type == tree.XML_CDATA_SECTION_NODE:
            if not _space_only(c.content):
                return False
        c = c.next
    return True


cdef Attr* _no_ns_attr(Node* el, const char* name) noexcept nogil:
    cdef Attr* a = el.properties
    while a is not NULL:
        if a.ns is NULL and strcmp(<const char*>a.name, name) == 0:
            return a
        a = a.next
    return NULL


cdef bytes _attr_value(Attr* a):
    cdef Node* c = a.children
    if c is not NULL and c.next is NULL and c.type == tree.XML_TEXT_NODE:
        return <bytes>(<const char*>c.content) if c.content is not NULL else b""
    parts = []
    while c is not NULL:
        if c.type == tree.XML_TEXT_NODE and c.content is not NULL:
            parts.append(<bytes>(<const char*>c.content))
        c = c.next
    return b"".join(parts)


cdef str _algorithm(Node* el, str name, list allowed, str reason, cetree._Document doc):
    """The twin's ``_algorithm``: an Algorithm that is one of ``allowed``, on an empty leaf; the URI."""
    cdef Attr* a = _no_ns_attr(el, b"Algorithm")
    if a is NULL:
        _bad(f"{name} has no Algorithm attribute", "structure")
    cdef Node* c = a.children
    cdef const char* text
    cdef bytes value
    cdef bytes raw
    uri = None
    if c is not NULL and c.next is NULL and c.type == tree.XML_TEXT_NODE and c.content is not NULL:
        # the usual value, one text node: compared in place, no bytes made
        text = <const char*>c.content
        for raw, found in allowed:
            if strcmp(text, PyBytes_AS_STRING(raw)) == 0:
                uri = found
                break
    if uri is None:
        value = _attr_value(a)
        for raw, found in allowed:
            if value == raw:
                uri = found
                break
        else:
            _bad(f"{name} Algorithm {value.decode()!r} is not allowed", reason)
    if not _leaf_blank(el, name, doc):
        _bad(f"unexpected text inside {name}", "structure")
    return uri


cdef bytes _b64(bytes text, str name):
    """The twin's ``_b64``: decoded in C, in one pass, when the text is plain canonical base64 (XML
    whitespace anywhere, ``=`` padding only at the end, zero unused bits), else by the twin itself."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(text)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(text), i = 0, size = 0, k = 0, pad = 0
    cdef unsigned char* out
    cdef unsigned int v = 0
    cdef signed char d, d0, d1, d2, d3
    cdef unsigned char c
    if n == 0:
        return b""
    out = <unsigned char*>PyMem_Malloc(n // 4 * 3 + 3)
    if out is NULL:
        raise MemoryError()
    try:
        # whole groups of four base64 characters (the usual text: one line, no whitespace)
        while i + 4 <= n:
            d0 = _B64_VALUE[s[i]]
            d1 = _B64_VALUE[s[i + 1]]
            d2 = _B64_VALUE[s[i + 2]]
            d3 = _B64_VALUE[s[i + 3]]
            if (d0 | d1 | d2 | d3) < 0:
                break  # whitespace, padding or a stray character: the loop below takes it from here
            v = (<unsigned int>d0 << 18) | (<unsigned int>d1 << 12) | (<unsigned int>d2 << 6) | <unsigned int>d3
            out[size] = (v >> 16) & 255
            out[size + 1] = (v >> 8) & 255
            out[size + 2] = v & 255
            size += 3
            i += 4
        v = 0
        while i < n:
            c = s[i]
            i += 1
            d = _B64_VALUE[c]
            if d >= 0:
                v = (v << 6) | <unsigned int>d
                k += 1
                if k == 4:
                    out[size] = (v >> 16) & 255
                    out[size + 1] = (v >> 8) & 255
                    out[size + 2] = v & 255
                    size += 3
                    k = 0
                    v = 0
            elif c == b"=":
                pad = 1
                break
            elif not _xml_space(c):
                return _py_b64(text.decode(), name)
        if pad:
            # "xx==" or "xxx=" closes the text; then only whitespace
            if k == 2:
                while i < n and _xml_space(s[i]):
                    i += 1
                if i >= n or s[i] != b"=":
                    return _py_b64(text.decode(), name)
                i += 1
                if v & 15:
                    return _py_b64(text.decode(), name)
                out[size] = (v >> 4) & 255
                size += 1
            elif k == 3:
                if v & 3:
                    return _py_b64(text.decode(), name)
                out[size] = (v >> 10) & 255
                out[size + 1] = (v >> 2) & 255
                size += 2
            else:
                return _py_b64(text.decode(), name)
            while i < n:
                if not _xml_space(s[i]):
                    return _py_b64(text.decode(), name)
                i += 1
        elif k != 0 or size == 0:
            return _py_b64(text.decode(), name)
        return PyBytes_FromStringAndSize(<const char*>out, size)
    finally:
        PyMem_Free(out)


cdef bint _ncname_ref(bytes uri) noexcept:
    """``#`` followed by an ASCII NCName (the twin's ``_NCNAME``)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(uri)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(uri), i
    cdef unsigned char c
    if n < 2 or s[0] != b"#":
        return False
    c = s[1]
    if not ((65 <= c <= 90) or (97 <= c <= 122) or c == 95):
        return False
    for i in range(2, n):
        c = s[i]
        if not ((65 <= c <= 90) or (97 <= c <= 122) or (48 <= c <= 57) or c == 95 or c == 46 or c == 45):
            return False
    return True


cdef tuple _reference(Node* ref, tuple names, cetree._Document doc):
    """The twin's ``_reference``: (target id as UTF-8, digest method URI, digest value).

    ``names`` are the names its messages use (:data:`_REF_NAMES`), made once.
    """
    cdef str name = names[0]
    cdef PtrArray kids
    cdef PtrArray transforms
    cdef Attr* a = _no_ns_attr(ref, b"URI")
    cdef Node* first
    cdef bytes uri
    cdef Py_ssize_t skip = 0
    if a is NULL:
        _bad(f"{name} has no URI: only same-document references by id are allowed", "reference")
    uri = _attr_value(a)
    if not _ncname_ref(uri):
        _bad(f"{name} URI {uri.decode()!r} is not allowed: only '#id' same-document references are accepted",
             "reference")
    _arr_init(&kids)
    _arr_init(&transforms)
    try:
        _children(ref, name, &kids, doc)
        if kids.size and _is(<Node*>kids.items[0], DS, b"Transforms"):
            _children(<Node*>kids.items[0], names[1], &transforms, doc)
            if transforms.size != 1 or not _is(<Node*>transforms.items[0], DS, b"Transform"):
                _bad(f"{name}/Transforms must hold exactly one Transform (a canonicalization); "
                     f"it holds {transforms.size} element(s)", "transform")
            _algorithm(<Node*>transforms.items[0], names[2], _C14N_ALLOWED, "transform", doc)
            # drop the Transforms element
            for skip in range(1, kids.size):
                kids.items[skip - 1] = kids.items[skip]
            kids.size -= 1
        _expect(&kids, E_REFERENCE, name)
        method = _algorithm(<Node*>kids.items[0], names[3], _DIGEST_ALLOWED, "algorithm", doc)
        value = _b64(_leaf_text(<Node*>kids.items[1], names[4], doc), names[4])
        return uri[1:], method, value
    finally:
        _arr_free(&kids)
        _arr_free(&transforms)


# What the messages about ds:Reference number n call it and its parts (no string is built per message).
cdef tuple _REF_NAMES = tuple(
    (f"Reference[{n}]", f"Reference[{n}]/Transforms", f"Reference[{n}]/Transform", f"Reference[{n}]/DigestMethod",
     f"Reference[{n}]/DigestValue")
    for n in (1, 2)
)


cdef inline Node* _only(PtrArray* kids) noexcept nogil:
    return <Node*>kids.items[0]


def inspect_signed(root):
    """Check a signed ``oadrPayload`` against the profile and return what a verifier needs.

    Same :class:`~fleetven._fast._sig_py.Signed`, or the same exception, as
    :func:`fleetven._fast._sig_py.inspect_signed`.

    :param root: the ``oadrPayload`` element of a parsed document.
    :returns: canonical bytes and decoded values; no digest or signature is checked here.
    :raises SignatureError: the document differs from the profile's structure in any way.
    """
    if not isinstance(root, cetree._Element):
        return _py.inspect_signed(root)
    cdef cetree._Element proxy = root
    cdef cetree._Document doc = proxy._doc
    cdef Node* top = proxy._c_node
    cdef Node* node
    cdef Node* nxt
    cdef Node* signature
    cdef Node* signed_object
    cdef Node* signed_info
    cdef Node* sig_value_el
    cdef Node* key_info
    cdef Node* obj
    cdef Node* props
    cdef Node* prop
    cdef Node* replay_el = NULL
    cdef Node* trio[3]
    cdef int i
    cdef Attr* a
    cdef Attr* so_id_attr = NULL
    cdef Py_ssize_t n_signatures = 0, n_so_ids = 0
    cdef PtrArray kids
    cdef dict ids = {}
    cdef bytes value
    cdef Node* candidate = NULL
    cdef Py_ssize_t before = 0
    cdef object fused = None
    cdef list added

    if top is NULL or not _is_element_like(top):
        return _py.inspect_signed(root)

    # One walk over the whole subtree in document order: nodes, signatures, ids. The first
    # oadrSignedObject under the root is canonicalized as it is walked (the same nodes in the same
    # order): when it is the one the structure checks settle on, its canonical form is ready.
    node = top
    while True:
        if node.type != tree.XML_ELEMENT_NODE:
            _refuse_node(node, "the document", doc)
        if (fused is None and candidate is NULL and node.parent is top
                and _is(node, OADR, b"oadrSignedObject")):
            candidate = node
            before = n_signatures
            added = []
            fused = _c14n_walked(node, doc, ids, added, &n_signatures)
            if fused is not None:  # its subtree is walked: go on after it
                node = _next_outside(node, top)
                if node is NULL:
                    break
                continue
            # abandoned (the canonicalization refuses it; the error comes in its turn): walk it plainly
            n_signatures = before
            for value in added:
                del ids[value]
        _walk_hook(node, ids, None, &n_signatures)
        # next element-like node in document order
        nxt = node.children if node.type == tree.XML_ELEMENT_NODE else NULL
        while nxt is not NULL and not _is_element_like(nxt):
            nxt = nxt.next
        if nxt is NULL:
            nxt = _next_outside(node, top)
            if nxt is NULL:
                break
        node = nxt
    node = top.prev
    while node is not NULL:
        if _is_element_like(node):
            _refuse_node(node, "the document", doc)
        node = node.prev
    node = top.next
    while node is not NULL:
        if _is_element_like(node):
            _refuse_node(node, "the document", doc)
        node = node.next
    if n_signatures == 0:
        _bad("the message is not signed: no ds:Signature", "missing")
    if n_signatures > 1:
        _bad(f"the document holds {n_signatures} ds:Signature elements; exactly one is allowed", "structure")

    _arr_init(&kids)
    try:
        _children(top, "oadrPayload", &kids, doc)
        _expect(&kids, E_PAYLOAD, "oadrPayload")
        signature = <Node*>kids.items[0]
        signed_object = <Node*>kids.items[1]
        a = signed_object.properties
        while a is not NULL:
            if _is_id_name(a.name):
                n_so_ids += 1
                so_id_attr = a
            a = a.next
        if n_so_ids != 1 or strcmp(<const char*>so_id_attr.name, b"Id") != 0 or not (
                so_id_attr.ns is NULL or (so_id_attr.ns.href is not NULL
                                          and strcmp(<const char*>so_id_attr.ns.href, OADR) == 0)):
            _bad("oadrSignedObject must carry exactly one id attribute (oadr:Id or Id)", "structure")
        so_id = _attr_value(so_id_attr)

        _children(signature, "Signature", &kids, doc)
        _expect(&kids, E_SIGNATURE, "Signature")
        signed_info = <Node*>kids.items[0]
        sig_value_el = <Node*>kids.items[1]
        key_info = <Node*>kids.items[2]
        obj = <Node*>kids.items[3]

        _children(signed_info, "SignedInfo", &kids, doc)
        _expect(&kids, E_SIGNED_INFO, "SignedInfo")
        _algorithm(<Node*>kids.items[0], "CanonicalizationMethod", _C14N_ALLOWED, "algorithm", doc)
        sig_method = _algorithm(<Node*>kids.items[1], "SignatureMethod", _SIG_ALLOWED, "algorithm", doc)
        ref2 = <Node*>kids.items[3]
        refs = (_reference(<Node*>kids.items[2], _REF_NAMES[0], doc), _reference(ref2, _REF_NAMES[1], doc))

        _children(obj, "Object", &kids, doc)
        _expect(&kids, E_OBJECT, "Object")
        props = _only(&kids)
        _children(props, "SignatureProperties", &kids, doc)
        _expect(&kids, E_PROPS, "SignatureProperties")
        prop = _only(&kids)
        _children(prop, "SignatureProperty", &kids, doc)
        _expect(&kids, E_PROP, "SignatureProperty")
        _children(_only(&kids), "ReplayProtect", &kids, doc)
        _expect(&kids, E_REPLAY, "ReplayProtect")
        timestamp = _leaf_text(<Node*>kids.items[0], "ReplayProtect/timestamp", doc).decode()
        nonce = _leaf_text(<Node*>kids.items[1], "ReplayProtect/nonce", doc).decode()

        replay_ids = {}
        trio[0] = obj
        trio[1] = props
        trio[2] = prop
        for i in range(3):
            node = trio[i]
            a = node.properties
            while a is not NULL:
                if _is_id_name(a.name):
                    replay_ids[_attr_value(a)] = <size_t>node
                a = a.next
        object_ref = replay_ref = None
        for target, method, digest in refs:
            if target == so_id and object_ref is None:
                object_ref = (method, digest)
            elif target in replay_ids and replay_ref is None:
                replay_ref = (method, digest)
                replay_el = <Node*><size_t>replay_ids[target]
            elif target not in ids:
                _bad(f"a Reference points at #{target.decode()}, which no element carries", "reference")
            else:
                _bad(f"a Reference points at #{target.decode()} ({_local(<Node*><size_t>ids[target])}): references "
                     "must point at the oadrSignedObject and at the ReplayProtect signature property, once each",
                     "reference")

        _children(key_info, "KeyInfo", &kids, doc)
        _expect(&kids, E_KEY_INFO, "KeyInfo")
        _children(_only(&kids), "X509Data", &kids, doc)
        _expect(&kids, E_X509_DATA, "X509Data")
        certificate = _b64(_leaf_text(_only(&kids), "X509Certificate", doc), "X509Certificate")
        if not certificate:
            _bad("X509Certificate is empty", "keyinfo")
        signature_value = _b64(_leaf_text(sig_value_el, "SignatureValue", doc), "SignatureValue")
        if not signature_value:
            _bad("SignatureValue is empty", "base64")
    finally:
        _arr_free(&kids)

    return _tuple_new(_Signed, (
        fused if fused is not None and signed_object is candidate else _c14n_node(signed_object, doc),
        object_ref[0], object_ref[1],
        _c14n_node(replay_el, doc), replay_ref[0], replay_ref[1],
        _c14n_node(signed_info, doc), sig_method, signature_value,
        certificate, timestamp, nonce,
    ))
