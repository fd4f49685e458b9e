# The growable output buffer the compiled writers share (``include``d by ``_sig_c`` and ``_build_c``).

from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.string cimport memcpy, strlen


cdef struct Buf:
    char* data
    Py_ssize_t size
    Py_ssize_t cap
    bint ascii  # nothing but ASCII written so far: kept by the writers that decode the bytes as text (_build_c)


cdef int _buf_init(Buf* b, Py_ssize_t cap) except -1:
    b.data = <char*>PyMem_Malloc(cap)
    if b.data is NULL:
        raise MemoryError()
    b.size = 0
    b.cap = cap
    b.ascii = True
    return 0


cdef int _buf_grow(Buf* b, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = b.cap * 2
    while cap < b.size + need:
        cap *= 2
    cdef char* data = <char*>PyMem_Realloc(b.data, cap)
    if data is NULL:
        raise MemoryError()
    b.data = data
    b.cap = cap
    return 0


cdef inline int _put(Buf* b, const char* s, Py_ssize_t n) except -1:
    if b.size + n > b.cap:
        _buf_grow(b, n)
    memcpy(b.data + b.size, s, n)
    b.size += n
    return 0


cdef inline int _puts(Buf* b, const char* s) except -1:
    return _put(b, s, strlen(s))


cdef inline int _putc(Buf* b, char c) except -1:
    if b.size + 1 > b.cap:
        _buf_grow(b, 1)
    b.data[b.size] = c
    b.size += 1
    return 0
