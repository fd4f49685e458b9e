"""The safe front door for untrusted OpenADR XML.

:func:`parse_document` checks the bytes before any XML parser sees them, in
this order, and refuses with a specific
:class:`~fleetven.exceptions.MessageError` subclass:

1. the type (``bytes``, ``bytearray``, ``memoryview`` or ``str``) —
   :class:`~fleetven.exceptions.MessageError`;
2. the size, against ``max_size`` — :class:`~fleetven.exceptions.MessageTooLarge`;
3. an empty body — :class:`~fleetven.exceptions.MalformedXML`;
4. the encoding: a UTF-16/UTF-32 byte order mark, first bytes that libxml2
   would read as UTF-16, UCS-4 or EBCDIC, or an XML declaration naming an
   encoding other than UTF-8 or US-ASCII — :class:`~fleetven.exceptions.UnsafeXML`, because
   another encoding could hide the constructs of step 5 from a byte search;
5. ``<!DOCTYPE`` or ``<!ENTITY`` anywhere — :class:`~fleetven.exceptions.UnsafeXML`
   (no DTD ever reaches lxml, so no entity expansion, XXE or billion laughs);

then parses with a hardened lxml parser (no entity resolution, no network,
no DTD loading or validation, libxml2's default depth and size limits,
comments and processing instructions dropped) —
:class:`~fleetven.exceptions.MalformedXML` with line and column on a syntax
error — and checks that the root is ``oadr:oadrPayload``
(:class:`~fleetven.exceptions.UnknownMessage` otherwise) and that no DTD
survived (:class:`~fleetven.exceptions.UnsafeXML`).
"""

from __future__ import annotations

from typing import Any, Final

from lxml import etree

from fleetven._fast import extract
from fleetven.exceptions import MalformedXML, MessageError, MessageTooLarge, UnknownMessage, UnsafeXML
from fleetven.openadr.model import Message
from fleetven.openadr.namespaces import OADR

__all__ = ("DEFAULT_MAX_SIZE", "parse_document", "parse_message")

#: Largest body accepted by default, in bytes (2 MiB).
DEFAULT_MAX_SIZE = 2 * 1024 * 1024

_ROOT_TAG = "{" + OADR + "}oadrPayload"

#: Encodings an XML declaration may name (compared in lower case).
_ALLOWED_ENCODINGS = frozenset(("utf-8", "utf8", "us-ascii", "ascii"))

#: Leading bytes of UTF-32 and UTF-16 byte order marks (UTF-32 first: FF FE 00 00 starts with FF FE).
_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_UTF8_BOM = b"\xef\xbb\xbf"

#: First bytes of a document starting with "<" in the encodings libxml2 detects
#: without a byte order mark (its own autodetection table).
_SNIFFED = {
    b"\x00\x00\x00<": "UTF-32",
    b"<\x00\x00\x00": "UTF-32",
    b"\x00\x00<\x00": "UCS-4",
    b"\x00<\x00\x00": "UCS-4",
    b"\x4c\x6f\xa7\x94": "EBCDIC",
    b"\x00<": "UTF-16",
    b"<\x00": "UTF-16",
}


class _DenyResolver(etree.Resolver):
    """Answers every request for an external resource with an empty document.

    With ``load_dtd=False`` libxml2 still opens an external DTD named by a
    ``<!DOCTYPE ... SYSTEM "file:...">`` (lxml 6.1.3); the byte check refuses
    such documents first, and this resolver makes sure that, should anything
    get past it, nothing is read from disk or network.
    """

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        return self.resolve_string("", context, base_url=system_url)


def _new_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        recover=False,
    )
    parser.resolvers.add(_DenyResolver())
    return parser


#: The hardened parser, made once: a constant, configured at import and never changed. It holds no
#: per-document or per-VEN state between parses; lxml locks a parser while it parses, so another thread
#: using it waits rather than breaks (fleetven parses on the event loop thread).
_PARSER: Final = _new_parser()


def _parser() -> etree.XMLParser:
    """The hardened parser :func:`parse_document` uses."""
    return _PARSER


#: The XML declarations nearly every VTN writes: a document starting with one of them is UTF-8 by
#: every test below (no byte order mark, "<?" first, a declared UTF-8), so it is let through at once.
_COMMON_DECLARATIONS = (
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0" encoding="utf-8"?>',
    b"<?xml version='1.0' encoding='UTF-8'?>",
    b"<?xml version='1.0' encoding='utf-8'?>",
)


def _check_encoding(data: bytes) -> None:
    """Refuse anything but UTF-8 / US-ASCII, before any byte search relies on it."""
    if data.startswith(_COMMON_DECLARATIONS):
        return
    head = data[:4]
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise UnsafeXML(f"refused a {name} document (byte order mark): only UTF-8 is accepted", encoding=name)
    sniffed = _SNIFFED.get(head) or _SNIFFED.get(head[:2])
    if sniffed is not None:
        raise UnsafeXML(f"refused a {sniffed} document (detected from its first bytes): only UTF-8 is accepted",
                        encoding=sniffed)
    start = 3 if data.startswith(_UTF8_BOM) else 0
    if not data.startswith(b"<?xml", start):
        return
    end = data.find(b"?>", start)
    if end < 0:
        return  # an unterminated declaration: lxml reports the syntax error
    decl = data[start:end]
    pos = decl.find(b"encoding")
    if pos < 0:
        return
    rest = decl[pos + 8 :].lstrip(b" \t\r\n")
    if not rest.startswith(b"="):
        return  # not a real pseudo-attribute: lxml reports the syntax error
    rest = rest[1:].lstrip(b" \t\r\n")
    if not rest or rest[:1] not in (b'"', b"'"):
        return
    close = rest.find(rest[:1], 1)
    enc = (rest[1:close] if close > 0 else rest[1:]).decode("ascii", "replace")
    if enc.lower() not in _ALLOWED_ENCODINGS:
        raise UnsafeXML(f"refused a document declaring encoding {enc!r}: only UTF-8 or US-ASCII is accepted",
                        encoding=enc)


def _to_bytes(data: bytes | bytearray | memoryview | str, max_size: int) -> bytes:
    """Type and size checks; returns the body as ``bytes``."""
    if isinstance(data, bytes):
        body = data
    elif isinstance(data, str):
        if len(data) > max_size:  # every character is at least one UTF-8 byte
            raise MessageTooLarge(
                f"message of at least {len(data)} bytes is over the limit of {max_size} bytes",
                size=len(data),
                limit=max_size,
            )
        try:
            body = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedXML(f"message text cannot be encoded as UTF-8: {exc.reason} at index {exc.start}") from None
    elif isinstance(data, (bytearray, memoryview)):
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if size > max_size:
            raise MessageTooLarge(f"message of {size} bytes is over the limit of {max_size} bytes",
                                  size=size, limit=max_size)
        body = bytes(data)
    else:
        raise MessageError(f"message must be bytes or str, not {type(data).__name__}")
    if len(body) > max_size:
        raise MessageTooLarge(f"message of {len(body)} bytes is over the limit of {max_size} bytes",
                              size=len(body), limit=max_size)
    return body


def parse_document(data: bytes | bytearray | memoryview | str, *, max_size: int = DEFAULT_MAX_SIZE) -> etree._Element:
    """Parse untrusted bytes into the ``oadrPayload`` root element, safely.

    :param data: the body as received; ``str`` is encoded as UTF-8 first.
    :param max_size: the largest body accepted, in bytes.
    :returns: the root element, ``{http://openadr.org/oadr-2.0b/2012/07}oadrPayload``.
    :raises MessageError: ``data`` is not bytes or str.
    :raises MessageTooLarge: the body is over ``max_size`` (fields ``size`` and ``limit``).
    :raises UnsafeXML: a DTD, an entity declaration, or an encoding other than UTF-8/US-ASCII.
    :raises MalformedXML: empty, not well-formed or not XML (fields ``line`` and ``column``).
    :raises UnknownMessage: well-formed, but the root is not ``oadr:oadrPayload``.
    """
    body = _to_bytes(data, max_size)
    if not body or body.isspace():
        raise MalformedXML("empty message body: expected an oadrPayload document", line=0, column=0)
    _check_encoding(body)
    # Both constructs start with "<!": a one-byte search for "!" (memchr) clears
    # the common document at once; only a body holding a "!" pays the two
    # multi-byte searches.
    if body.find(b"!") >= 0:
        if body.find(b"<!DOCTYPE") >= 0:
            raise UnsafeXML("refused a document with a DTD (<!DOCTYPE): DTDs are not allowed in OpenADR messages",
                            construct="DOCTYPE")
        if body.find(b"<!ENTITY") >= 0:
            raise UnsafeXML("refused a document with an entity declaration (<!ENTITY)", construct="ENTITY")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise MalformedXML(f"malformed XML at line {line}, column {column}: {exc.msg}", line=line,
                           column=column) from None
    if root is None:  # pragma: no cover - lxml raises on an empty document
        raise MalformedXML("empty message body: expected an oadrPayload document", line=0, column=0)
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise UnsafeXML("refused a document with a DTD", construct="DOCTYPE")
    if root.tag != _ROOT_TAG:
        raise UnknownMessage(f"not an OpenADR 2.0b message: the root element is {root.tag}, expected {_ROOT_TAG}",
                             path=str(root.tag))
    return root


def parse_message(data: bytes | bytearray | memoryview | str, *, max_size: int = DEFAULT_MAX_SIZE) -> Message:
    """Parse untrusted bytes into a model object.

    :param data: the body as received.
    :param max_size: the largest body accepted, in bytes.
    :returns: one of the classes in :data:`fleetven.openadr.model.MESSAGE_TYPES`.
    :raises MessageError: a subclass saying what was wrong and where; see
        :func:`parse_document` and :func:`fleetven._fast.extract`.
    """
    msg: Message = extract(parse_document(data, max_size=max_size))
    return msg
