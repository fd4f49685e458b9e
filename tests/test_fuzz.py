"""Fuzz both extractor twins with mutated real messages.

The corpus is real documents: fleetven's samples of every message type (rich
and minimal, built with :func:`build_message`) and OpenLEADR 0.5.36's
``create_message`` output for every message type it has (the cases of
``tests/interop/test_openleadr_codec.py``, pretty-printed with whitespace
between elements). Hypothesis mutates them

* in the tree: drop, duplicate, move or swap elements, change an element's
  text (to values picked to hit every converter's edge: huge numbers, bad
  dates, NaN, CDATA, non-ASCII digits, ...), change its namespace or its
  name, add unknown elements, split text with comments and CDATA, add
  whitespace between elements;
* in the bytes: delete, insert or replace bytes, truncate;

and runs the result through :func:`parse_document` and both twins. Anything
but a :class:`~fleetven.exceptions.MessageError` (or a successful parse)
fails the test, and the twins must agree: both return the same object, or
both raise the same class with the same text and fields.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_twins import assert_twins_agree

from fleetven.exceptions import MessageError
from fleetven.messages import build_message, parse_document
from fleetven.openadr.namespaces import NS

NAMESPACES = sorted(set(NS.values()))

#: Texts that hit the edges of every converter (IDs, integers, floats, booleans, datetimes, durations, enums).
TEXTS = [
    "", " ", "\t\n", "0", "007", "-0", "+5", "-12", "1_000", "٣", "¹", "1e400", "-1e400", "1e-400", ".5", "5.", ".",
    "e5", "1e", "INF", "-INF", "+INF", "inf", "NaN", "nan", "+NaN", "0x10", "1.5.5", "true", "false", "1", "TRUE",
    "2026-11-26T12:00:00Z", "2026-11-26T12:00:00.123456789+04:00", "2026-02-30T00:00:00Z",
    "2026-11-26T24:00:00Z", "2026-11-26T12:00:00+24:00", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "2026-11-26 12:00:00", "PT1H", "-PT5M", "P", "PT", "P1DT", "P2W", "P1W1D", "PT1.5S",
    "P1Y2M3DT4H5M6S", "P99999D", "PT99999H", "far", "active", "cancelled", "always", "never", "optIn", "optOut",
    "x-custom", "Zürich & <Co>", "\u00a0ven\u00a0", "\r", "😀" * 3, "9" * 30,
    # past the ranges of datetime, timedelta and int(): each must still be a MessageError
    "P99999999999D", "PT99999999999999S", "P9999999D", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "9" * 5000,
]


def _samples() -> list[tuple[str, bytes]]:
    import samples

    out = []
    for kind, messages in (("rich", samples.rich_messages()), ("minimal", samples.minimal_messages())):
        out += [(f"{kind}:{msg.message_type}", build_message(msg)) for msg in messages]
    out.append(("distribute_event", build_message(samples.distribute_event(2, 3, 4, interval_dtstart=False))))
    out.append(("update_report", build_message(samples.update_report(3, rich=True))))
    return out


def _openleadr() -> list[tuple[str, bytes]]:
    from interop.test_openleadr_codec import OPENLEADR_CASES
    from openleadr.messaging import create_message

    out = []
    for name, case in OPENLEADR_CASES.items():
        mtype, payload = case()
        out.append((f"openleadr:{name}", create_message(mtype, **payload).encode("utf-8")))
    return out


@functools.cache
def corpus() -> tuple[tuple[str, bytes], ...]:
    """Every seed document, by a name; built once."""
    return tuple(_samples() + _openleadr())


def check(data: bytes) -> None:
    """The property: parse_document and both twins raise only MessageError, and the twins agree."""
    try:
        root = parse_document(data)
    except MessageError:
        return
    assert_twins_agree(root)  # re-raises anything that is not a MessageError


def test_corpus_is_extracted_identically() -> None:
    """The unmutated seeds: every one extracts, the same on both twins."""
    names = {name.split(":")[-1] for name, _ in corpus()}
    assert len(corpus()) > 40 and {"oadrDistributeEvent", "oadrUpdateReport", "oadrCreateOpt"} <= names
    for name, data in corpus():
        result = assert_twins_agree(parse_document(data))
        assert result[0] == "ok", (name, result)


# ------------------------------------------------------------------ tree mutations

Mutation = Callable[[st.DataObject, etree._Element], None]


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _is_leaf(el: etree._Element) -> bool:
    return not any(isinstance(c.tag, str) for c in el)


def _pick(data: st.DataObject, root: etree._Element, *, with_root: bool = False) -> etree._Element | None:
    """A random element of the tree (not the root unless ``with_root``), or None when there is none."""
    els = _elements(root)
    if not with_root:
        els = els[1:]
    return els[data.draw(st.integers(0, len(els) - 1))] if els else None  # an index: never sample lxml proxies


def _drop(data: st.DataObject, root: etree._Element) -> None:
    el = _pick(data, root)
    parent = None if el is None else el.getparent()
    if el is not None and parent is not None:
        parent.remove(el)


def _duplicate(data: st.DataObject, root: etree._Element) -> None:
    el = _pick(data, root)
    if el is not None:
        el.addnext(copy.deepcopy(el))


def _move(data: st.DataObject, root: etree._Element) -> None:
    el, target = _pick(data, root), _pick(data, root, with_root=True)
    if el is None or target is None or el is target or any(a is el for a in target.iterancestors()):
        return
    target.insert(data.draw(st.integers(0, len(target))), el)


def _swap(data: st.DataObject, root: etree._Element) -> None:
    a, b = _pick(data, root), _pick(data, root)
    if a is None or b is None or a is b:
        return
    if any(x is a for x in b.iterancestors()) or any(x is b for x in a.iterancestors()):
        return
    marker = etree.Element("marker")
    a.addprevious(marker)
    b.addprevious(a)
    marker.addprevious(b)
    parent = marker.getparent()
    assert parent is not None
    parent.remove(marker)


def _set_text(data: st.DataObject, root: etree._Element) -> None:
    el = _pick(data, root, with_root=True)
    assert el is not None
    value = data.draw(st.one_of(st.sampled_from(TEXTS), st.text(max_size=12).filter(_xml_ok)))
    if data.draw(st.booleans()):
        el.text = value
    else:
        el.text = etree.CDATA(value.replace("]]>", "")) if value else value


def _set_leaf_text(data: st.DataObject, root: etree._Element) -> None:
    leaves = [el for el in _elements(root) if _is_leaf(el)]
    if not leaves:
        return
    el = leaves[data.draw(st.integers(0, len(leaves) - 1))]
    el.text = data.draw(st.sampled_from(TEXTS))


def _retag_namespace(data: st.DataObject, root: etree._Element) -> None:
    el = _pick(data, root, with_root=True)
    assert el is not None
    local = etree.QName(el).localname
    ns = data.draw(st.sampled_from([*NAMESPACES, None, "urn:x"]))
    el.tag = local if ns is None else f"{{{ns}}}{local}"


def _rename(data: st.DataObject, root: etree._Element) -> None:
    names = sorted({etree.QName(el).localname for el in _elements(root)})
    el = _pick(data, root, with_root=True)
    assert el is not None
    q = etree.QName(el)
    el.tag = etree.QName(q.namespace, data.draw(st.sampled_from(names))).text


def _add_unknown(data: st.DataObject, root: etree._Element) -> None:
    parent = _pick(data, root, with_root=True)
    assert parent is not None
    ns = data.draw(st.sampled_from([*NAMESPACES, "urn:x"]))
    local = data.draw(st.sampled_from(["x-unknown", "venID", "eventID", "value", "oadrEvent", "interval"]))
    child = etree.Element(f"{{{ns}}}{local}")
    child.text = data.draw(st.sampled_from(TEXTS))
    parent.insert(data.draw(st.integers(0, len(parent))), child)


def _split_text(data: st.DataObject, root: etree._Element) -> None:
    leaves = [el for el in _elements(root) if _is_leaf(el) and el.text]
    if not leaves:
        return
    el = leaves[data.draw(st.integers(0, len(leaves) - 1))]
    old = el.text or ""
    cut = data.draw(st.integers(0, len(old)))
    head, tail = old[:cut], old[cut:]
    el.text = head
    node = etree.Comment("c") if data.draw(st.booleans()) else etree.ProcessingInstruction("pi", "x")
    el.append(node)
    node.tail = tail


def _whitespace(data: st.DataObject, root: etree._Element) -> None:
    ws = data.draw(st.sampled_from(["\n", "\n  ", "\t", " \r\n "]))
    for el in _elements(root):
        if len(el):
            el.text = (el.text or "") + ws if not (el.text or "").strip() else el.text
        if el.getparent() is not None and not (el.tail or "").strip():
            el.tail = ws


def _xml_ok(s: str) -> bool:
    return all(c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) > 0xFFFF for c in s)


TREE_MUTATIONS: list[Mutation] = [
    _drop, _duplicate, _move, _swap, _set_text, _set_leaf_text, _set_leaf_text, _retag_namespace, _rename,
    _add_unknown, _split_text, _whitespace,
]


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_tree_mutations(data: st.DataObject) -> None:
    """Structurally mutated real messages: MessageError or a result, and the twins agree."""
    _name, seed = data.draw(st.sampled_from(corpus()), label="seed")
    root = etree.fromstring(seed)
    for mutation in data.draw(st.lists(st.sampled_from(TREE_MUTATIONS), min_size=1, max_size=4), label="mutations"):
        mutation(data, root)
    check(etree.tostring(root, encoding="utf-8", xml_declaration=data.draw(st.booleans())))


# ------------------------------------------------------------------ byte mutations

_INSERTS = [b"<", b">", b"&", b"/", b'"', b"=", b" ", b"0", b"x", b"]]>", b"<![CDATA[", b"&#0;", b"&amp;", b"&lt;",
            b"\x00", b"\xff", b"\xc3", b"<!--", b"-->", b"<?", b"<!DOCTYPE x>", b"<!ENTITY", b"&e;", b"xmlns:a='b'",
            b"</oadr:oadrSignedObject>", b"<ei:venID>v</ei:venID>"]


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
    i = draw(st.integers(0, len(data)))
    if kind == "delete":
        return data[:i] + data[i + draw(st.integers(1, 16)):]
    if kind == "insert":
        return data[:i] + draw(st.one_of(st.sampled_from(_INSERTS), st.binary(min_size=1, max_size=4))) + data[i:]
    if kind == "replace":
        return data[:i] + draw(st.binary(min_size=1, max_size=2)) + data[i + 1:]
    return data[:i]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_byte_mutations(data: st.DataObject) -> None:
    """Byte-level damage to real messages: MessageError or a result, and the twins agree."""
    _name, body = data.draw(st.sampled_from(corpus()), label="seed")
    for _ in range(data.draw(st.integers(1, 3))):
        body = data.draw(byte_mutation(body), label="mutated")
    check(body)


@pytest.mark.parametrize("text", TEXTS, ids=[repr(t[:24]) + ("..." if len(t) > 24 else "") for t in TEXTS])
def test_every_edge_text_in_every_kind_of_leaf(text: str) -> None:
    """Each edge text in turn in the first leaf of every tag of the event and report messages."""
    for seed_name in ("rich:oadrDistributeEvent", "distribute_event", "rich:oadrUpdateReport",
                      "rich:oadrRegisterReport"):
        base = etree.fromstring(dict(corpus())[seed_name])
        seen: set[str] = set()
        for index, el in enumerate(_elements(base)):
            if len(el) or el.tag in seen:
                continue
            seen.add(el.tag)
            root = copy.deepcopy(base)
            _elements(root)[index].text = text
            check(etree.tostring(root))
