"""Pure-Python XML signature machinery: canonicalization, sealing, structure checks.

This module is the **specification** of :func:`c14n`, :func:`seal` and
:func:`inspect_signed`; the compiled twin (``_sig_c.pyx``) must give the same
bytes and the same :class:`Signed` for every input, or raise the same
exception class with the same text.

The signature profile (OpenADR 2.0b, ``../shared/OPENADR.md``) is narrow, and
these functions accept exactly that profile and nothing more:

* :func:`c14n` is inclusive Canonical XML 1.0 without comments of one element
  taken as a document subset. Comments, processing instructions and ``xml:*``
  attributes (in the subtree, and ``xml:*`` on ancestors) are refused rather
  than handled: the profile never needs them, and refusing them closes the
  comment-truncation attack and makes C14N 1.0 and 1.1 give the same bytes.
* :func:`seal` writes a whole signed ``oadrPayload`` document from bytes alone
  (no parsing): the ``ds:SignedInfo`` and ``ds:Object`` are written exactly in
  their canonical form, so their digests and the signature are computed over
  the bytes that are sent.
* :func:`inspect_signed` checks the structure of a received signed document
  (one signature, two same-document references by id, allowed transforms and
  algorithms only, unique ids, one certificate) and returns the canonical
  bytes and values a verifier needs. It checks no digest and no signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from lxml import etree

from fleetven.exceptions import SignatureError
from fleetven.openadr.timefmt import parse_datetime

__all__ = (
    "Signed",
    "Stamps",
    "c14n",
    "seal",
    "ecdsa_raw",
    "ecdsa_der",
    "timestamp",
    "epoch",
    "inspect_signed",
    "C14N10",
    "C14N11",
    "DIGEST_METHODS",
    "SIGNATURE_METHODS",
)

DS = "http://www.w3.org/2000/09/xmldsig#"
DSP = "http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties"
OADR = "http://openadr.org/oadr-2.0b/2012/07"
XML_NS = "http://www.w3.org/XML/1998/namespace"

#: Inclusive Canonical XML 1.0 (without comments).
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#: Inclusive Canonical XML 1.1 (without comments): the same bytes as 1.0 here, since ``xml:*`` is refused.
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

#: Digest method URI -> hashlib name.
DIGEST_METHODS: dict[str, str] = {SHA256: "sha256", SHA384: "sha384", SHA512: "sha512"}
#: Signature method URI -> (key type, hashlib name).
SIGNATURE_METHODS: dict[str, tuple[str, str]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", "sha256"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", "sha384"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", "sha512"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ec", "sha256"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ec", "sha384"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ec", "sha512"),
}
_C14N_METHODS = frozenset((C14N10, C14N11))

_XML_PREFIX = "{" + XML_NS + "}"
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_B64_WS = re.compile(rb"[ \t\r\n]+")
_ID_NAMES = frozenset(("Id", "ID", "id"))
# libxml2 (lxml, xmlsec1, signxml) writes namespace URIs unescaped, against C14N 1.0 section 2.3: refuse them.
_NS_UNSAFE = re.compile('[&<"\t\n\r]')


class Signed(NamedTuple):
    """What :func:`inspect_signed` found in a signed document: canonical bytes and decoded values."""

    #: Canonical form of the ``oadrSignedObject`` element.
    signed_object_c14n: bytes
    #: DigestMethod URI of the reference to the ``oadrSignedObject``.
    object_digest_method: str
    #: Its DigestValue, base64-decoded.
    object_digest: bytes
    #: Canonical form of the element the replay-protection reference points at.
    replay_c14n: bytes
    #: DigestMethod URI of the replay-protection reference.
    replay_digest_method: str
    #: Its DigestValue, base64-decoded.
    replay_digest: bytes
    #: Canonical form of ``ds:SignedInfo``.
    signed_info_c14n: bytes
    #: SignatureMethod URI.
    signature_method: str
    #: SignatureValue, base64-decoded (r||s for ECDSA).
    signature_value: bytes
    #: The signer's certificate, DER.
    certificate: bytes
    #: Text of ``dsp:timestamp`` (stripped).
    timestamp: str
    #: Text of ``dsp:nonce`` (stripped).
    nonce: str


# --------------------------------------------------------------------------- c14n


#: C14N's escapes. Callers name ``&`` first, so that the ampersands of the others are not escaped again.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}


def _escape(s: str, chars: str) -> str:
    for c in chars:
        if c in s:
            s = s.replace(c, _ESCAPES[c])
    return s


def _esc_text(s: str) -> str:
    """Text content, C14N-escaped: & < > and carriage return."""
    return _escape(s, "&<>\r")


def _esc_attr(s: str) -> str:
    """Attribute value, C14N-escaped: & < " tab newline carriage return."""
    return _escape(s, '&<"\t\n\r')


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _refuse_node(node: Any, where: str) -> None:
    """Raise for a non-element node (comment, processing instruction, entity)."""
    if isinstance(node, etree._Comment):
        raise SignatureError(f"comment in signed content (inside {where}): comments are not allowed",
                             reason="comment")
    if isinstance(node, etree._ProcessingInstruction):
        raise SignatureError(f"processing instruction in signed content (inside {where}): not allowed",
                             reason="processing-instruction")
    raise SignatureError(f"unexpected {type(node).__name__} node inside {where}: not allowed",
                         reason="node")


def _attr_qname(el: Any, key: str, nsmap: dict[Any, str]) -> tuple[str, str, str]:
    """(namespace URI, local name, qualified name as written) of attribute ``key`` (Clark notation)."""
    if key[0] != "{":
        return "", key, key
    uri, _, local = key[1:].partition("}")
    prefixes = [p for p, u in nsmap.items() if u == uri and p is not None]
    if len(prefixes) == 1:
        return uri, local, prefixes[0] + ":" + local
    # Several prefixes bind this URI: ask libxml2 which one the attribute carries.
    name = el.xpath("name(@*[namespace-uri()=$u and local-name()=$l])", u=uri, l=local)
    return uri, local, str(name)


def _ns_decls(nsmap: dict[Any, str], parent: dict[Any, str] | None) -> list[tuple[str, str]]:
    """Namespace declarations to render: (attribute name, value), sorted by prefix, default first."""
    out: list[tuple[str, str]] = []
    for prefix, uri in nsmap.items():
        if _NS_UNSAFE.search(uri) is not None:
            raise SignatureError(f"namespace URI {uri!r} holds a character C14N would escape (& < \" tab CR LF): "
                                 "canonicalizers disagree on it, so it is not allowed", reason="namespace")
        if prefix is None:
            if parent is None:
                if uri:
                    out.append(("", uri))
            elif uri != (parent.get(None) or ""):
                out.append(("", uri))
        elif parent is None or parent.get(prefix) != uri:
            out.append((prefix, uri))
    out.sort()
    return out


def _render(el: Any, parent_ns: dict[Any, str] | None, out: list[str]) -> None:
    tag = el.tag
    if not isinstance(tag, str):
        _refuse_node(el, "the canonicalized element")
    nsmap = el.nsmap
    prefix = el.prefix
    local = _local(tag)
    qname = prefix + ":" + local if prefix else local
    out.append("<" + qname)
    for p, uri in _ns_decls(nsmap, parent_ns):
        out.append((' xmlns:' + p if p else " xmlns") + '="' + _esc_attr(uri) + '"')
    attrib = el.attrib
    if attrib:
        attrs = []
        for key, value in attrib.items():
            if key.startswith(_XML_PREFIX):
                raise SignatureError(f"xml:{key[len(_XML_PREFIX):]} attribute on {local}: xml:* attributes are "
                                     "not allowed in signed content", reason="xml-attribute")
            uri, alocal, aq = _attr_qname(el, key, nsmap)
            attrs.append((uri, alocal, aq, value))
        attrs.sort()
        for _uri, _alocal, aq, value in attrs:
            out.append(" " + aq + '="' + _esc_attr(value) + '"')
    out.append(">")
    text = el.text
    if text:
        out.append(_esc_text(text))
    for child in el:
        if not isinstance(child.tag, str):
            _refuse_node(child, local)
        _render(child, nsmap, out)
        tail = child.tail
        if tail:
            out.append(_esc_text(tail))
    out.append("</" + qname + ">")


def c14n(element: Any) -> bytes:
    """Inclusive Canonical XML 1.0 (without comments) of ``element`` as a document subset.

    The apex renders every namespace in scope (ancestors' too) except an empty
    default; descendants render only declarations that differ from their
    parent's in-scope ones. Attributes are sorted by (namespace URI, local
    name), unqualified first; text and attribute values are escaped as C14N
    escapes them; empty elements are written as a start and an end tag.

    :param element: an lxml element of a parsed document.
    :returns: the canonical form, UTF-8.
    :raises SignatureError: a comment, a processing instruction or an ``xml:*``
        attribute in the subtree, or an ``xml:*`` attribute on an ancestor.
    """
    if not isinstance(element.tag, str):
        _refuse_node(element, "the document")
    for anc in element.iterancestors():
        for key in anc.attrib:
            if key.startswith(_XML_PREFIX):
                raise SignatureError(f"xml:{key[len(_XML_PREFIX):]} attribute on {_local(anc.tag)}, an ancestor of "
                                     f"{_local(element.tag)}: xml:* attributes are not allowed", reason="xml-attribute")
    out: list[str] = []
    _render(element, None, out)
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- seal

_PAYLOAD_OPEN = b'<?xml version="1.0" encoding="UTF-8"?>\n<oadr:oadrPayload xmlns:oadr="' + OADR.encode() + b'">'
_PAYLOAD_CLOSE = b"</oadr:oadrPayload>"
_SIG_OPEN = b'<ds:Signature xmlns:ds="' + DS.encode() + b'" Id="signature">'
_SIG_CLOSE = b"</ds:Signature>"
_REPLAY_1 = (
    b'<ds:Object xmlns:ds="' + DS.encode() + b'" xmlns:oadr="' + OADR.encode() + b'" Id="replayProtect">'
    b'<ds:SignatureProperties><ds:SignatureProperty Target="#signature">'
    b'<dsp:ReplayProtect xmlns:dsp="' + DSP.encode() + b'"><dsp:timestamp>'
)
_REPLAY_2 = b"</dsp:timestamp><dsp:nonce>"
_REPLAY_3 = b"</dsp:nonce></dsp:ReplayProtect></ds:SignatureProperty></ds:SignatureProperties></ds:Object>"
_C14N10_B = C14N10.encode()
_SI_1 = (
    b'<ds:SignedInfo xmlns:ds="' + DS.encode() + b'" xmlns:oadr="' + OADR.encode() + b'">'
    b'<ds:CanonicalizationMethod Algorithm="' + _C14N10_B + b'"></ds:CanonicalizationMethod>'
    b'<ds:SignatureMethod Algorithm="'
)
_SI_2 = (
    b'"></ds:SignatureMethod>'
    b'<ds:Reference URI="#oadrSignedObject"><ds:Transforms><ds:Transform Algorithm="' + _C14N10_B
    + b'"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="' + SHA256.encode()
    + b'"></ds:DigestMethod><ds:DigestValue>'
)
_SI_3 = (
    b"</ds:DigestValue></ds:Reference>"
    b'<ds:Reference URI="#replayProtect"><ds:Transforms><ds:Transform Algorithm="' + _C14N10_B
    + b'"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="' + SHA256.encode()
    + b'"></ds:DigestMethod><ds:DigestValue>'
)
_SI_4 = b"</ds:DigestValue></ds:Reference></ds:SignedInfo>"
_SV_1 = b"<ds:SignatureValue>"
_SV_2 = b"</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
_SV_3 = b"</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"


def _text_bytes(s: str) -> bytes:
    return _esc_text(s).encode("utf-8")


def ecdsa_raw(der: bytes, size: int) -> bytes:
    """An ECDSA signature from DER (what ``cryptography`` makes) to XML-DSig's ``r || s``.

    :param der: the DER ``SEQUENCE`` of the two integers.
    :param size: the curve's size in bytes (32 for P-256): each half is zero-padded to it.
    :raises ValueError: ``der`` is not a DER ECDSA signature.
    :raises OverflowError: an integer does not fit in ``size`` bytes.
    """
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def ecdsa_der(raw: bytes) -> bytes:
    """An XML-DSig ECDSA ``SignatureValue`` (``r || s``, two equal halves) to DER, as ``cryptography`` verifies it.

    :param raw: the decoded ``SignatureValue``, of even length.
    :raises ValueError: ``raw`` is empty or of odd length.
    """
    n = len(raw)
    if n == 0 or n % 2:
        raise ValueError(f"an ECDSA r || s value has an even, non-zero length (got {n} bytes)")
    half = n // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def _split(now: float) -> tuple[int, int]:
    """(whole second, microseconds) of ``now``, rounded as :meth:`datetime.datetime.fromtimestamp` rounds."""
    second = int(now)  # towards zero, as math.modf; now - second is exact
    micros = round((now - second) * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    return second, micros


def _seconds_text(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _is_usual(text: str) -> bool:
    """``YYYY-MM-DDThh:mm:ss[.f]Z`` in shape (what :meth:`Stamps.epoch` reads by its seconds part)."""
    n = len(text)
    return n >= 20 and text[-1] == "Z" and text[10] == "T" and (
        n == 20 or (text[19] == "." and text[20:-1].isdigit()))


def timestamp(now: float) -> str:
    """``now`` (POSIX seconds) as an xCal UTC date-time with microseconds, ``2026-11-26T08:50:20.936910Z``.

    The ``ReplayProtect`` timestamp of a message signed at ``now``. The microseconds are rounded
    as :meth:`datetime.datetime.fromtimestamp` rounds them (half to even). Stateless: a signer
    that stamps many messages uses :meth:`Stamps.timestamp`, which formats the seconds once per second.

    :param now: POSIX seconds.
    :raises OverflowError: ``now`` is out of the platform's range.
    """
    second, micros = _split(now)
    return f"{_seconds_text(second)}.{micros:06d}Z"


def epoch(text: str) -> float:
    """A ``ReplayProtect`` timestamp as POSIX seconds.

    The usual form, ``YYYY-MM-DDThh:mm:ss[.f]Z``, is the seconds part plus the fraction read as
    a float; anything else goes through :func:`fleetven.openadr.timefmt.parse_datetime`.
    Stateless: :meth:`Stamps.epoch` gives the same value and converts the seconds part once per second.

    :param text: the ``dsp:timestamp`` text.
    :raises ValueError: the text is not an xCal date-time.
    """
    if _is_usual(text):
        return parse_datetime(text[:19] + "Z").timestamp() + (float(text[19:-1]) if len(text) > 20 else 0.0)
    return parse_datetime(text).timestamp()


class Stamps:
    """The ``ReplayProtect`` timestamp conversions of one owner, with their once-per-second caches.

    :meth:`timestamp` and :meth:`epoch` give exactly what the module's :func:`timestamp` and
    :func:`epoch` give; each remembers its last second, so a signer or a verifier that handles
    many messages a second formats or reads the date part once. Its owner makes one and keeps
    it (a :class:`fleetven.signing.SigningKey` for signing, a :class:`fleetven.signing.Verifier`
    for verifying); nothing here is shared between owners. Each cache is one tuple, replaced
    whole, so threads never see half of it.
    """

    __slots__ = ("_stamp", "_epoch")

    def __init__(self) -> None:
        self._stamp: tuple[int | None, str] = (None, "")  # (second, its text); None: no second yet
        self._epoch: tuple[str, float] = ("", 0.0)  # (seconds part, its POSIX time)

    def timestamp(self, now: float) -> str:
        """:func:`timestamp` of ``now``, the part up to the seconds formatted once per second.

        :raises OverflowError: ``now`` is out of the platform's range.
        """
        second, micros = _split(now)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, _seconds_text(second))
        return f"{stamp[1]}.{micros:06d}Z"

    def epoch(self, text: str) -> float:
        """:func:`epoch` of ``text``, the seconds part converted once per second.

        :raises ValueError: the text is not an xCal date-time.
        """
        if _is_usual(text):
            prefix = text[:19]
            cache = self._epoch
            if cache[0] != prefix:
                cache = self._epoch = (prefix, parse_datetime(prefix + "Z").timestamp())
            return cache[1] + (float(text[19:-1]) if len(text) > 20 else 0.0)  # ".f" reads as 0.f
        return parse_datetime(text).timestamp()


def seal(signed_object: bytes, key: Any, timestamp: str, nonce: str) -> bytes:
    """Write the whole signed ``oadrPayload`` document around a canonical ``oadrSignedObject``.

    :param signed_object: from :func:`fleetven.messages.build.build_signed_object` (canonical bytes,
        ``oadr:Id="oadrSignedObject"``).
    :param key: a :class:`fleetven.signing.SigningKey` (``algorithm``, ``cert_b64``, ``sign(data)``).
    :param timestamp: the ``dsp:timestamp`` text (UTC, ``Z``).
    :param nonce: the ``dsp:nonce`` text (fresh per message).
    :returns: the document, UTF-8, starting with the XML declaration.
    """
    replay = b"".join((_REPLAY_1, _text_bytes(timestamp), _REPLAY_2, _text_bytes(nonce), _REPLAY_3))
    algorithm = _esc_attr(key.algorithm).encode()
    so = signed_object
    object_digest = base64.b64encode(hashlib.sha256(so).digest())
    signed_info = b"".join((
        _SI_1, algorithm, _SI_2,
        object_digest, _SI_3,
        base64.b64encode(hashlib.sha256(replay).digest()), _SI_4,
    ))
    value = base64.b64encode(key.sign(signed_info))
    return b"".join((
        _PAYLOAD_OPEN, _SIG_OPEN, signed_info, _SV_1, value, _SV_2, key.cert_b64, _SV_3, replay, _SIG_CLOSE,
        so, _PAYLOAD_CLOSE,
    ))


# --------------------------------------------------------------------------- inspect_signed

_T_SIGNATURE = "{" + DS + "}Signature"
_T_SIGNED_INFO = "{" + DS + "}SignedInfo"
_T_C14N_METHOD = "{" + DS + "}CanonicalizationMethod"
_T_SIG_METHOD = "{" + DS + "}SignatureMethod"
_T_REFERENCE = "{" + DS + "}Reference"
_T_TRANSFORMS = "{" + DS + "}Transforms"
_T_TRANSFORM = "{" + DS + "}Transform"
_T_DIGEST_METHOD = "{" + DS + "}DigestMethod"
_T_DIGEST_VALUE = "{" + DS + "}DigestValue"
_T_SIG_VALUE = "{" + DS + "}SignatureValue"
_T_KEY_INFO = "{" + DS + "}KeyInfo"
_T_X509_DATA = "{" + DS + "}X509Data"
_T_X509_CERT = "{" + DS + "}X509Certificate"
_T_OBJECT = "{" + DS + "}Object"
_T_PROPS = "{" + DS + "}SignatureProperties"
_T_PROP = "{" + DS + "}SignatureProperty"
_T_REPLAY = "{" + DSP + "}ReplayProtect"
_T_TIMESTAMP = "{" + DSP + "}timestamp"
_T_NONCE = "{" + DSP + "}nonce"
_T_SIGNED_OBJECT = "{" + OADR + "}oadrSignedObject"
_SO_ID_KEYS = frozenset(("{" + OADR + "}Id", "Id"))


def _bad(text: str, reason: str) -> SignatureError:
    return SignatureError(text, reason=reason)


def _is_space(s: str | None) -> bool:
    return not s or not s.strip(" \t\r\n")


def _children(el: Any, name: str) -> list[Any]:
    """Element children of a structural element; refuse other nodes and non-whitespace text."""
    if not _is_space(el.text):
        raise _bad(f"unexpected text inside {name}", "structure")
    out = []
    for child in el:
        if not isinstance(child.tag, str):
            _refuse_node(child, name)
        if not _is_space(child.tail):
            raise _bad(f"unexpected text inside {name}", "structure")
        out.append(child)
    return out


def _expect(children: list[Any], tags: tuple[str, ...], name: str) -> None:
    got = tuple(c.tag for c in children)
    if got != tags:
        want = ", ".join(_local(t) for t in tags) or "nothing"
        have = ", ".join(_local(str(t)) for t in got) or "nothing"
        raise _bad(f"{name} must hold exactly {want}; it holds {have}", "structure")


def _leaf_text(el: Any, name: str) -> str:
    """Text of an element that must have no element children."""
    for child in el:
        if not isinstance(child.tag, str):
            _refuse_node(child, name)
        raise _bad(f"{name} must not have child elements (found {_local(child.tag)})", "structure")
    return (el.text or "").strip(" \t\r\n")


def _algorithm(el: Any, name: str, allowed: Any, reason: str) -> str:
    alg = el.get("Algorithm")
    if alg is None:
        raise _bad(f"{name} has no Algorithm attribute", "structure")
    if alg not in allowed:
        raise _bad(f"{name} Algorithm {alg!r} is not allowed", reason)
    _leaf_empty(el, name)
    return str(alg)


def _leaf_empty(el: Any, name: str) -> None:
    if _leaf_text(el, name):
        raise _bad(f"unexpected text inside {name}", "structure")


def _b64(text: str, name: str) -> bytes:
    data = _B64_WS.sub(b"", text.encode("utf-8", "replace"))
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{name} is not valid base64", "base64") from None


def _reference(ref: Any, n: int) -> tuple[str, str, bytes]:
    """(target id, digest method URI, digest value) of one ds:Reference."""
    name = f"Reference[{n}]"
    uri = ref.get("URI")
    if uri is None:
        raise _bad(f"{name} has no URI: only same-document references by id are allowed", "reference")
    if not (uri.startswith("#") and _NCNAME.fullmatch(uri, 1)):
        raise _bad(f"{name} URI {uri!r} is not allowed: only '#id' same-document references are accepted", "reference")
    kids = _children(ref, name)
    if kids and kids[0].tag == _T_TRANSFORMS:
        transforms = _children(kids[0], name + "/Transforms")
        if len(transforms) != 1 or transforms[0].tag != _T_TRANSFORM:
            raise _bad(f"{name}/Transforms must hold exactly one Transform (a canonicalization); "
                       f"it holds {len(transforms)} element(s)", "transform")
        _algorithm(transforms[0], name + "/Transform", _C14N_METHODS, "transform")
        kids = kids[1:]
    _expect(kids, (_T_DIGEST_METHOD, _T_DIGEST_VALUE), name)
    method = _algorithm(kids[0], name + "/DigestMethod", DIGEST_METHODS, "algorithm")
    value = _b64(_leaf_text(kids[1], name + "/DigestValue"), name + "/DigestValue")
    return uri[1:], method, value


def inspect_signed(root: Any) -> Signed:
    """Check a signed ``oadrPayload`` against the profile and return what a verifier needs.

    :param root: the ``oadrPayload`` element of a parsed document.
    :returns: canonical bytes and decoded values; no digest or signature is checked here.
    :raises SignatureError: the document differs from the profile's structure in any way;
        ``reason`` says how (``missing``, ``structure``, ``comment``, ``duplicate-id``,
        ``reference``, ``transform``, ``algorithm``, ``keyinfo``, ``base64``, ...).
    """
    # One walk over the whole document: nodes, signatures, ids.
    ids: dict[str, Any] = {}
    n_signatures = 0
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):
            _refuse_node(el, "the document")
        if tag == _T_SIGNATURE:
            n_signatures += 1
        for key, value in el.attrib.items():
            if _local(key) in _ID_NAMES:
                if value in ids:
                    raise _bad(f"id {value!r} appears more than once in the document "
                               f"(on {_local(ids[value].tag)} and {_local(tag)})", "duplicate-id")
                ids[value] = el
    for sib in root.itersiblings(preceding=True):
        _refuse_node(sib, "the document")
    for sib in root.itersiblings():
        _refuse_node(sib, "the document")
    if n_signatures == 0:
        raise _bad("the message is not signed: no ds:Signature", "missing")
    if n_signatures > 1:
        raise _bad(f"the document holds {n_signatures} ds:Signature elements; exactly one is allowed", "structure")

    kids = _children(root, "oadrPayload")
    _expect(kids, (_T_SIGNATURE, _T_SIGNED_OBJECT), "oadrPayload")
    signature, signed_object = kids
    so_ids = [(k, v) for k, v in signed_object.attrib.items() if _local(k) in _ID_NAMES]
    if len(so_ids) != 1 or so_ids[0][0] not in _SO_ID_KEYS:
        raise _bad("oadrSignedObject must carry exactly one id attribute (oadr:Id or Id)", "structure")
    so_id = so_ids[0][1]

    sig_kids = _children(signature, "Signature")
    _expect(sig_kids, (_T_SIGNED_INFO, _T_SIG_VALUE, _T_KEY_INFO, _T_OBJECT), "Signature")
    signed_info, sig_value_el, key_info, obj = sig_kids

    si_kids = _children(signed_info, "SignedInfo")
    _expect(si_kids, (_T_C14N_METHOD, _T_SIG_METHOD, _T_REFERENCE, _T_REFERENCE), "SignedInfo")
    _algorithm(si_kids[0], "CanonicalizationMethod", _C14N_METHODS, "algorithm")
    sig_method = _algorithm(si_kids[1], "SignatureMethod", SIGNATURE_METHODS, "algorithm")
    refs = [_reference(si_kids[2], 1), _reference(si_kids[3], 2)]

    obj_kids = _children(obj, "Object")
    _expect(obj_kids, (_T_PROPS,), "Object")
    props = obj_kids[0]
    props_kids = _children(props, "SignatureProperties")
    _expect(props_kids, (_T_PROP,), "SignatureProperties")
    prop = props_kids[0]
    replay_kids = _children(prop, "SignatureProperty")
    _expect(replay_kids, (_T_REPLAY,), "SignatureProperty")
    rp_kids = _children(replay_kids[0], "ReplayProtect")
    _expect(rp_kids, (_T_TIMESTAMP, _T_NONCE), "ReplayProtect")
    timestamp = _leaf_text(rp_kids[0], "ReplayProtect/timestamp")
    nonce = _leaf_text(rp_kids[1], "ReplayProtect/nonce")

    replay_ids = {el.get(k): el for el in (obj, props, prop) for k in el.attrib if _local(k) in _ID_NAMES}
    object_ref = replay_ref = None
    for target, method, value in refs:
        if target == so_id and object_ref is None:
            object_ref = (method, value)
        elif target in replay_ids and replay_ref is None:
            replay_ref = (method, value, replay_ids[target])
        elif target not in ids:
            raise _bad(f"a Reference points at #{target}, which no element carries", "reference")
        else:
            raise _bad(f"a Reference points at #{target} ({_local(ids[target].tag)}): references must point at the "
                       "oadrSignedObject and at the ReplayProtect signature property, once each", "reference")
    if object_ref is None or replay_ref is None:  # pragma: no cover - two refs, two distinct targets
        raise _bad("the references must cover the oadrSignedObject and the ReplayProtect property", "reference")

    ki_kids = _children(key_info, "KeyInfo")
    _expect(ki_kids, (_T_X509_DATA,), "KeyInfo")
    xd_kids = _children(ki_kids[0], "X509Data")
    _expect(xd_kids, (_T_X509_CERT,), "X509Data")
    certificate = _b64(_leaf_text(xd_kids[0], "X509Certificate"), "X509Certificate")
    if not certificate:
        raise _bad("X509Certificate is empty", "keyinfo")
    signature_value = _b64(_leaf_text(sig_value_el, "SignatureValue"), "SignatureValue")
    if not signature_value:
        raise _bad("SignatureValue is empty", "base64")

    return Signed(
        c14n(signed_object), object_ref[0], object_ref[1],
        c14n(replay_ref[2]), replay_ref[0], replay_ref[1],
        c14n(signed_info), sig_method, signature_value,
        certificate, timestamp, nonce,
    )
