"""The two signature twins behave the same.

``fleetven._fast._sig_py`` (pure Python over lxml's API) is the specification;
``fleetven._fast._sig_c`` (Cython walking libxml2 nodes, assembling bytes in C)
must give the same bytes and the same :class:`Signed`, or raise the same
exception class with the same text and fields, for every input:

* :func:`c14n` over random trees: namespaces declared at several levels
  (default namespace, undeclaration with ``xmlns=""``, one URI under two
  prefixes, a prefix rebound), namespaced and plain attributes, text and
  values holding ``& < > " \\r \\t \\n`` and non-ASCII, nesting; and, where
  libxml2 can canonicalize the tree, equal to ``etree.tostring(method="c14n")``.
  Comments, processing instructions and ``xml:*`` attributes give the same error.
* :func:`seal` for random signed objects, timestamps, nonces and keys (a
  deterministic fake key), including texts that need escaping.
* :func:`inspect_signed` over mutations of a valid fleetven-signed message:
  elements dropped, duplicated, moved, renamed or wrapped; attributes changed
  or removed; comments, processing instructions and text added; base64 spoiled.

Under ``FLEETVEN_NO_EXTENSIONS`` the compiled twin is not built and the
comparisons are skipped.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven._fast import NO_EXTENSIONS
from fleetven._fast import _sig_py as pure
from fleetven.exceptions import FleetvenError, SignatureError
from fleetven.messages import build_signed_object, parse_document
from fleetven.openadr import model as m


def _compiled() -> ModuleType | None:
    """The compiled twin; ``None`` under FLEETVEN_NO_EXTENSIONS; its absence otherwise fails."""
    if NO_EXTENSIONS:
        return None
    try:
        return importlib.import_module("fleetven._fast._sig_c")
    except ImportError as exc:  # pragma: no cover - a broken build
        pytest.fail(f"the compiled signature twin fleetven._fast._sig_c does not import ({exc})", pytrace=False)


COMPILED = _compiled()
needs_c = pytest.mark.skipif(COMPILED is None, reason="FLEETVEN_NO_EXTENSIONS: no compiled twin")

#: A parser that keeps comments and processing instructions (parse_document drops them).
KEEP_ALL = etree.XMLParser(remove_comments=False, remove_pis=False, resolve_entities=False, no_network=True)

DS = pure.DS
OADR = pure.OADR


# ================================================================== comparing outcomes


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """``("ok", result, type)`` or ``("raise", class, text, fields)``; other exceptions propagate (bugs)."""
    try:
        result = fn(*args)
    except FleetvenError as exc:
        return ("raise", type(exc), str(exc), exc.fields)
    return ("ok", result, type(result))


def agree(name: str, *args: Any) -> tuple[Any, ...]:
    """Both twins' ``name`` on ``args``: the outcomes must be identical. Returns the pure one."""
    a = outcome(getattr(pure, name), *args)
    assert COMPILED is not None
    b = outcome(getattr(COMPILED, name), *args)
    assert a == b, f"twins disagree on {name}:\n  pure:     {a!r:.3000}\n  compiled: {b!r:.3000}"
    return a


# ================================================================== random trees for c14n

PREFIXES = [None, "a", "b", "zz"]
URIS = ["urn:x", "urn:y", "http://example.com/ns/z", "urn:%C3%A9"]
# refused by c14n (libxml2's parser lets only "&" through of the characters C14N would escape in a URI)
UNSAFE_URIS = ["urn:a&b", "urn:x&amp;y"]
LOCALS = ["r", "e", "Id", "x", "y", "é"]
TEXT_CHARS = "ab &<>\"'\r\t\nÆ中😀\u00a0="
XML_NS = "http://www.w3.org/XML/1998/namespace"


def _esc(text: str) -> str:
    """Character references for everything a parser would otherwise normalize or refuse."""
    out = []
    for ch in text:
        if ch in "&<>\"'\r\t\n":
            out.append(f"&#{ord(ch)};")
        else:
            out.append(ch)
    return "".join(out)


@st.composite
def element_xml(draw: st.DrawFn, scope: dict[str | None, str], depth: int, extras: bool) -> str:
    """One element (and subtree) as XML source, well-formed in the namespace ``scope`` of its parent."""
    decls: dict[str | None, str] = {}
    uris = URIS + UNSAFE_URIS if extras else URIS
    for prefix in draw(st.lists(st.sampled_from(PREFIXES), max_size=3, unique=True)):
        if prefix is None:
            decls[None] = draw(st.sampled_from([*uris, ""]))  # "" undeclares the default namespace
        else:
            decls[prefix] = draw(st.sampled_from(uris))
    here = {**scope, **decls}
    prefixed = [p for p in here if p is not None]
    prefix = draw(st.sampled_from([None, *prefixed]))
    qname = (prefix + ":" if prefix else "") + draw(st.sampled_from(LOCALS))
    attrs: dict[tuple[str, str], str] = {}
    for _ in range(draw(st.integers(0, 3))):
        apfx = draw(st.sampled_from([None, *prefixed]))
        local = draw(st.sampled_from(LOCALS))
        uri = here[apfx] if apfx else ""
        if (uri, local) not in attrs:
            attrs[(uri, local)] = (apfx + ":" if apfx else "") + local + '="' + _esc(draw(st.text(TEXT_CHARS,
                                                                                                 max_size=6))) + '"'
    if extras and draw(st.integers(0, 9)) == 0:
        attrs[(XML_NS, "lang")] = 'xml:lang="en"'
    parts = ["<", qname]
    for p, uri in decls.items():
        parts.append((' xmlns="' if p is None else f' xmlns:{p}="') + _esc(uri) + '"')
    for text in attrs.values():
        parts.append(" " + text)
    parts.append(">")
    for _ in range(draw(st.integers(0, 3 if depth > 0 else 0))):
        kind = draw(st.sampled_from(["text", "child", "child", "comment", "pi"] if extras else ["text", "child"]))
        if kind == "text":
            parts.append(_esc(draw(st.text(TEXT_CHARS, min_size=1, max_size=8))))
        elif kind == "child":
            parts.append(draw(element_xml(here, depth - 1, extras)))
        elif kind == "comment":
            parts.append("<!-- c -->")
        else:
            parts.append("<?pi data?>")
    parts.append(f"</{qname}>")
    return "".join(parts)


def trees(extras: bool = False) -> st.SearchStrategy[etree._Element]:
    return element_xml({}, 4, extras).map(lambda xml: etree.fromstring(xml.encode("utf-8"), KEEP_ALL))


def _clean(el: etree._Element) -> bool:
    """No comment, PI, xml:* attribute or unsafe namespace URI in the subtree, no xml:* above (c14n accepts it)."""
    for node in el.iter():
        if not isinstance(node.tag, str):
            return False
        if any(uri in UNSAFE_URIS for uri in node.nsmap.values()):
            return False
        if any(k.startswith("{" + XML_NS + "}") for k in node.attrib):
            return False
    return not any(any(k.startswith("{" + XML_NS + "}") for k in a.attrib) for a in el.iterancestors())


def assert_canonical(el: etree._Element, got: bytes) -> None:
    """``got`` is what libxml2's C14N gives.

    For the root element libxml2 canonicalizes the parsed document itself. For
    a descendant, lxml's ``tostring(method="c14n")`` copies it into a fake
    document first and then gets ``xmlns=""`` wrong in some trees (it writes
    ``xmlns=""`` on an element whose default namespace is inherited from above
    the subset), so there the check is that the canonical form is a fixed point:
    libxml2 gives the same bytes back for it as a document of its own.
    """
    if el.getparent() is None:
        assert got == etree.tostring(el, method="c14n", with_comments=False)
    else:
        assert got == etree.tostring(etree.fromstring(got), method="c14n", with_comments=False)


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_c14n_twins_agree_and_match_libxml2(root: etree._Element) -> None:
    for el in root.iter():
        result = agree("c14n", el)
        assert result[0] == "ok"
        assert_canonical(el, result[1])


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(extras=True))
def test_c14n_twins_agree_on_comments_pis_and_xml_attributes(root: etree._Element) -> None:
    for el in root.iter():
        result = agree("c14n", el)
        if not isinstance(el.tag, str):
            assert result[0] == "raise"
        elif _clean(el):
            assert result[0] == "ok"
            assert_canonical(el, result[1])
        else:
            assert result[0] == "raise" and result[1] is SignatureError, result


@needs_c
@pytest.mark.parametrize(
    "xml",
    [
        b'<a xmlns="urn:x"><b xmlns=""><c xmlns="urn:x"/></b></a>',
        b'<a xmlns:p="urn:x" xmlns:q="urn:x" q:x="1" p:y="2"><p:b q:z="&#13;&#9;&#10;"/>a&#13;b&gt;"</a>',
        b'<a xmlns:p="urn:x"><p:b xmlns:p="urn:y"><p:c xmlns:p="urn:x" p:i="1"/></p:b></a>',
        b"<a><![CDATA[<&>]]>t<b/>u<![CDATA[v]]></a>",
        b'<a xml:lang="en"><b/></a>',
        b"<a><b><!--c--></b></a>",
        b"<a><?p x?><b/></a>",
        b'<a xmlns:p="urn:a&amp;b" xmlns="urn:&amp;"><b xmlns:q="urn:&amp;q"/></a>',
        b'<a xmlns:p="urn:a&amp;b"><b xmlns:p="urn:ok" xml:lang="en"/></a>',
    ],
)
def test_c14n_twins_agree_on_corner_cases(xml: bytes) -> None:
    root = etree.fromstring(xml, etree.XMLParser(remove_comments=False, remove_pis=False, strip_cdata=False))
    for el in root.iter():
        agree("c14n", el)


@needs_c
def test_c14n_refuses_a_comment_passed_as_the_element() -> None:
    root = etree.fromstring(b"<a><!--c--></a>", KEEP_ALL)
    result = agree("c14n", root[0])
    assert result[:2] == ("raise", SignatureError)


# ================================================================== seal


class FakeKey:
    """Deterministic stand-in for a SigningKey."""

    def __init__(self, algorithm: Any, cert_b64: Any, size: int, kind: type = bytes) -> None:
        self.algorithm = algorithm
        self.cert_b64 = cert_b64
        self.size = size
        self.kind = kind
        self.signed: list[bytes] = []

    def sign(self, data: bytes) -> Any:
        self.signed.append(data)
        return self.kind((hashlib.sha512(data).digest() * 8)[: self.size])


ALGORITHMS = st.sampled_from(list(pure.SIGNATURE_METHODS)) | st.text(TEXT_CHARS, max_size=10)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    signed_object=st.binary(max_size=300) | st.sampled_from([build_signed_object(m.Poll(ven_id="ven-1"))]),
    timestamp=st.text(max_size=30) | st.just("2026-11-26T11:00:00.123456Z"),
    nonce=st.text(max_size=34) | st.binary(min_size=16, max_size=16).map(bytes.hex),
    algorithm=ALGORITHMS,
    cert=st.binary(max_size=200).map(base64.b64encode),
    size=st.integers(0, 520),
)
def test_seal_twins_write_the_same_bytes(
    signed_object: bytes, timestamp: str, nonce: str, algorithm: str, cert: bytes, size: int
) -> None:
    key_py, key_c = FakeKey(algorithm, cert, size), FakeKey(algorithm, cert, size)
    a = outcome(pure.seal, signed_object, key_py, timestamp, nonce)
    assert COMPILED is not None
    b = outcome(COMPILED.seal, signed_object, key_c, timestamp, nonce)
    assert a == b
    assert key_py.signed == key_c.signed and len(key_c.signed) == 1  # one sign call, over the same SignedInfo


@needs_c
@pytest.mark.parametrize("sig_kind", [bytes, bytearray, memoryview, str])
@pytest.mark.parametrize("cert", [b"QUJD", bytearray(b"QUJD"), "QUJD", None])
def test_seal_twins_agree_on_odd_key_types(sig_kind: type, cert: Any) -> None:
    so = build_signed_object(m.Poll(ven_id="ven-1"))

    def run(fn: Callable[..., bytes]) -> tuple[Any, ...]:
        key = FakeKey("urn:alg", cert, 64,
                      (lambda b: "x" * len(b)) if sig_kind is str else sig_kind)  # type: ignore[arg-type]
        try:
            return ("ok", fn(so, key, "2026-11-26T11:00:00Z", "ab" * 16))
        except (TypeError, ValueError) as exc:
            return ("raise", type(exc), str(exc))

    assert COMPILED is not None
    assert run(pure.seal) == run(COMPILED.seal)


@needs_c
@pytest.mark.parametrize("args", [
    ("not bytes", "t", "n"),
    (bytearray(b"<x/>"), "t", "n"),
    (b"<x/>", 5, "n"),
    (b"<x/>", "t", b"n"),
    (b"<x/>", "\udc80", "n"),
    (b"<x/>", "&\udc80", "n"),
])
def test_seal_twins_agree_on_wrong_argument_types(args: tuple[Any, ...]) -> None:
    def run(fn: Callable[..., bytes]) -> tuple[Any, ...]:
        try:
            return ("ok", fn(args[0], FakeKey("urn:a", b"QUJD", 8), *args[1:]))
        except (TypeError, ValueError) as exc:
            return ("raise", type(exc), str(exc))

    assert COMPILED is not None
    assert run(pure.seal) == run(COMPILED.seal)


# ================================================================== inspect_signed over mutated documents


def _signed_document(n_events: int) -> bytes:
    if n_events == 0:
        msg: m.Message = m.Poll(ven_id="ven-1")
    else:
        import samples

        msg = samples.distribute_event(n_events, n_signals=1, n_intervals=2)
    key = FakeKey("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                  base64.b64encode(b"\x30\x82certificate-der-bytes"), 64)
    return pure.seal(build_signed_object(msg), key, "2026-11-26T11:00:00.5Z", "0123456789abcdef" * 2)


VALID = [_signed_document(0), _signed_document(1)]

ATTR_NAMES = ["Id", "ID", "id", "URI", "Algorithm", "Target", f"{{{OADR}}}Id", f"{{{DS}}}Id", "other"]
ATTR_VALUES = st.sampled_from([
    "oadrSignedObject", "replayProtect", "signature", "#oadrSignedObject", "#replayProtect", "#signature", "",
    "#", "#xpointer(/)", "http://example.com/x", "#a b", pure.C14N10, pure.C14N11,
    "http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "é", "#é",
]) | st.text(TEXT_CHARS, max_size=6)
TEXTS = st.sampled_from(["", "  \n\t ", "x", "QUJD", "QU JD\n", "QUJD=", "QUI=", "QQ==", "QR==", "QUJ", "====", "é",
                         "\u00a0", "2026-11-26T11:00:00Z"]) | st.text(TEXT_CHARS, max_size=8)
TAGS = st.sampled_from([
    f"{{{DS}}}Signature", f"{{{DS}}}SignedInfo", f"{{{DS}}}Reference", f"{{{DS}}}Transforms",
    f"{{{DS}}}Transform", f"{{{DS}}}Object", f"{{{DS}}}SignatureProperty", f"{{{DS}}}KeyInfo",
    f"{{{DS}}}X509Data", f"{{{DS}}}X509Certificate", f"{{{DS}}}DigestValue", f"{{{OADR}}}oadrSignedObject",
    f"{{{pure.DSP}}}ReplayProtect", f"{{{pure.DSP}}}nonce", "plain", "{urn:other}Signature",
])


@st.composite
def mutated(draw: st.DrawFn) -> etree._Element:
    """A valid signed document with one to three random mutations applied to its tree."""
    root = etree.fromstring(draw(st.sampled_from(VALID)), KEEP_ALL)
    for _ in range(draw(st.integers(1, 3))):
        elements = list(root.iter(tag=etree.Element))
        el = draw(st.sampled_from(elements))
        action = draw(st.sampled_from([
            "drop", "duplicate", "move", "set_attr", "del_attr", "comment", "pi", "text", "tail", "rename",
            "wrap", "xml_attr", "root_sibling", "swap", "reference", "reference", "leaf", "leaf",
        ]))
        parent = el.getparent()
        if action == "drop" and parent is not None:
            parent.remove(el)
        elif action == "duplicate" and parent is not None:
            el.addnext(copy.deepcopy(el))
        elif action == "move" and parent is not None:
            targets = [t for t in elements if t is not el and el not in list(t.iterancestors())]
            if targets:  # a mutated tree may leave nowhere to move to
                target = draw(st.sampled_from(targets))
                target.insert(draw(st.integers(0, len(target))), el)
        elif action == "set_attr":
            el.set(draw(st.sampled_from(ATTR_NAMES)), draw(ATTR_VALUES))
        elif action == "del_attr" and el.attrib:
            del el.attrib[draw(st.sampled_from(sorted(el.attrib)))]
        elif action == "comment":
            el.insert(draw(st.integers(0, len(el))), etree.Comment("c"))
        elif action == "pi":
            el.insert(draw(st.integers(0, len(el))), etree.ProcessingInstruction("pi", "x"))
        elif action == "text":
            el.text = draw(TEXTS)
        elif action == "tail" and parent is not None:
            el.tail = draw(TEXTS)
        elif action == "rename":
            el.tag = draw(TAGS)
        elif action == "wrap" and parent is not None:
            wrapper = etree.Element(draw(TAGS))
            el.addprevious(wrapper)
            wrapper.append(el)
        elif action == "reference":  # retarget one of the references, or one of the ids they point at
            refs = root.findall(f".//{{{DS}}}Reference") + root.findall(".//*[@Id]")
            if refs:
                target = draw(st.sampled_from(refs))
                target.set("URI" if target.tag.endswith("}Reference") else "Id", draw(ATTR_VALUES))
        elif action == "leaf":  # spoil a value: digest, certificate, signature value, timestamp, nonce
            leaves = [e for e in root.iter(tag=etree.Element) if len(e) == 0 and e.text]
            draw(st.sampled_from(leaves)).text = draw(TEXTS)
        elif action == "xml_attr":
            el.set(f"{{{XML_NS}}}lang", "en")
        elif action == "root_sibling":
            sibling = etree.Comment("s") if draw(st.booleans()) else etree.ProcessingInstruction("s")
            if draw(st.booleans()):
                root.addprevious(sibling)
            else:
                root.addnext(sibling)
        elif action == "swap" and parent is not None and len(parent) > 1:
            other = draw(st.sampled_from([c for c in parent if c is not el]))
            index = parent.index(other)
            parent.insert(parent.index(el), other)
            parent.insert(index, el)
    return root


def _reparsed(root: etree._Element) -> etree._Element:
    """The document as a parser gives it back (what a receiver sees), comments and PIs kept."""
    doc = root.getroottree()
    return etree.fromstring(etree.tostring(doc), KEEP_ALL)


@needs_c
@pytest.mark.parametrize("index", range(len(VALID)))
def test_inspect_signed_twins_agree_on_valid_documents(index: int) -> None:
    root = parse_document(VALID[index])
    result = agree("inspect_signed", root)
    assert result[0] == "ok" and type(result[1]) is pure.Signed
    signed = result[1]
    so = root[1]
    assert signed.signed_object_c14n == etree.tostring(so, method="c14n", with_comments=False)
    assert signed.signed_info_c14n == etree.tostring(root[0][0], method="c14n", with_comments=False)
    assert signed.replay_c14n == etree.tostring(root[0][3], method="c14n", with_comments=False)
    assert signed.nonce == "0123456789abcdef" * 2 and signed.timestamp == "2026-11-26T11:00:00.5Z"


@needs_c
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_inspect_signed_twins_agree_on_mutated_documents(root: etree._Element) -> None:
    agree("inspect_signed", root)
    reparsed = _reparsed(root)
    agree("inspect_signed", reparsed)
    for el in reparsed.iter():
        agree("c14n", el)


@needs_c
@pytest.mark.parametrize("text", ["QUJD", " Q U J D ", "QQ==", "QR==", "QUI=", "QUJ=", "QUJ", "Q", "QQ=", "=",
                                  "QUJD====", "QU=D", "Q\u00a0UJD", "QUJD\u3000", "", "  "])
def test_inspect_signed_twins_agree_on_base64_forms(text: str) -> None:
    root = etree.fromstring(VALID[0], KEEP_ALL)
    cert = root.find(f".//{{{DS}}}X509Certificate")
    assert cert is not None
    cert.text = text
    agree("inspect_signed", root)
    root[0][1].text = text  # SignatureValue
    agree("inspect_signed", root)


@needs_c
def test_inspect_signed_twins_agree_on_entity_references() -> None:
    root = etree.fromstring(VALID[0], KEEP_ALL)
    root[1].append(etree.Entity("amp"))
    result = agree("inspect_signed", root)
    assert result[:2] == ("raise", SignatureError)
    result = agree("c14n", root[1])
    assert result[:2] == ("raise", SignatureError)


# ================================================================== each twin on its own


@pytest.mark.parametrize("index", range(len(VALID)))
def test_seal_then_inspect_round_trips(sig_impl: ModuleType, index: int) -> None:
    """What a twin seals, the same twin inspects back: the digests are those of the canonical parts."""
    so = etree.tostring(etree.fromstring(VALID[index])[1], method="c14n")
    key = FakeKey("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", base64.b64encode(b"der"), 256)
    doc = sig_impl.seal(so, key, "2026-11-26T11:00:00Z", "ab" * 16)
    signed = sig_impl.inspect_signed(parse_document(doc))
    assert signed.signed_object_c14n == so
    assert signed.object_digest == hashlib.sha256(so).digest()
    assert signed.replay_digest == hashlib.sha256(signed.replay_c14n).digest()
    assert key.signed == [signed.signed_info_c14n]
    assert signed.signature_value == key.sign(signed.signed_info_c14n)
    assert (signed.certificate, signed.timestamp, signed.nonce) == (b"der", "2026-11-26T11:00:00Z", "ab" * 16)


@needs_c
@pytest.mark.parametrize("where", ["CanonicalizationMethod", "SignatureMethod", "Transform", "DigestMethod"])
@pytest.mark.parametrize("algorithm", [None, "urn:not-allowed", "keep"])
@pytest.mark.parametrize("content", ["child", "text", "comment", "none"])
def test_inspect_signed_twins_agree_on_algorithm_elements(where: str, algorithm: str | None, content: str) -> None:
    """Which fault of an algorithm element is reported first (its Algorithm, or what it holds) is the same."""
    root = etree.fromstring(VALID[0], KEEP_ALL)
    el = root.find(f".//{{{DS}}}{where}")
    assert el is not None
    if algorithm is None:
        del el.attrib["Algorithm"]
    elif algorithm != "keep":
        el.set("Algorithm", algorithm)
    if content == "child":
        etree.SubElement(el, f"{{{DS}}}XPath").text = "/"
    elif content == "text":
        el.text = "x"
    elif content == "comment":
        el.append(etree.Comment("c"))
    agree("inspect_signed", root)
    agree("inspect_signed", _reparsed(root))
