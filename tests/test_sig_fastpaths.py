"""The signing and verifying fast paths: ECDSA signature forms, timestamps, nonces, the fused walk.

* :func:`ecdsa_raw` / :func:`ecdsa_der`: the compiled twin parses and writes DER itself; it
  must agree with the pure one (``cryptography``'s encoder and decoder) on every input,
  malformed ones included.
* ``inspect_signed``'s compiled twin canonicalizes the ``oadrSignedObject`` while it walks
  the document for ids and signatures; when the canonicalization refuses the object, the walk
  goes on plainly and every error still comes in the pure twin's order.
* nonces are fresh: 32 hex digits, never repeated, and a forked child does not reuse its parent's.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven import signing
from fleetven._fast import NO_EXTENSIONS
from fleetven._fast import _sig_py as pure
from fleetven.exceptions import FleetvenError
from fleetven.messages import build_signed_object
from fleetven.openadr import model as m
from fleetven.signing import sign as signer

COMPILED: Any = None if NO_EXTENSIONS else importlib.import_module("fleetven._fast._sig_c")

needs_c = pytest.mark.skipif(COMPILED is None, reason="FLEETVEN_NO_EXTENSIONS: no compiled twin")

DS = pure.DS
OADR = pure.OADR
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """``("ok", result, type)`` or ``("raise", class, text[, fields])``."""
    try:
        result = fn(*args)
    except FleetvenError as exc:
        return ("raise", type(exc), str(exc), exc.fields)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        return ("raise", type(exc), str(exc))
    return ("ok", result, type(result))


def agree(name: str, *args: Any) -> tuple[Any, ...]:
    a = outcome(getattr(pure, name), *args)
    b = outcome(getattr(COMPILED, name), *args)
    assert a == b, f"twins disagree on {name}{args!r:.300}:\n  pure:     {a!r:.2000}\n  compiled: {b!r:.2000}"
    return a


class FakeKey:
    """Deterministic stand-in for a SigningKey."""

    algorithm = ECDSA_SHA256
    cert_b64 = base64.b64encode(b"\x30\x82certificate-der-bytes")

    def sign(self, data: bytes) -> bytes:
        return hashlib.sha512(data).digest()


# ================================================================== ECDSA signature forms


@needs_c
@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=250) | st.builds(lambda h, a, b: a + h + b, st.binary(min_size=1, max_size=66),
                                                st.sampled_from([b"", b"\x00", b"\x00\x00", b"\x80"]),
                                                st.sampled_from([b"", b"\x00", b"\xff"])))
def test_ecdsa_der_twins_agree(raw: bytes) -> None:
    result = agree("ecdsa_der", raw)
    if result[0] == "ok":
        half = len(raw) // 2
        for size in (half, 32, 66, 1, 0, -1):
            agree("ecdsa_raw", result[1], size)
        assert pure.ecdsa_raw(result[1], half) == raw


@needs_c
@settings(max_examples=500, deadline=None)
@given(
    r=st.integers(0, 2**528), s=st.integers(0, 2**528),
    edits=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(["set", "insert", "delete"]),
                             st.sampled_from([0, 1, 2, 0x30, 0x7f, 0x80, 0x81, 0x82, 0xff])), max_size=3),
    size=st.sampled_from([32, 48, 66, 1, 100]),
)
def test_ecdsa_raw_twins_agree_on_malformed_der(r: int, s: int, edits: list[tuple[int, str, int]], size: int) -> None:
    der = bytearray(encode_dss_signature(r, s))
    for at, op, byte in edits:
        at %= len(der) + 1
        if op == "insert":
            der.insert(at, byte)
        elif at < len(der):
            if op == "set":
                der[at] = byte
            else:
                del der[at]
    agree("ecdsa_raw", bytes(der), size)


@needs_c
@pytest.mark.parametrize("args", [("not bytes", 32), (bytearray(b"\x30\x06\x02\x01\x01\x02\x01\x01"), 32),
                                  (b"\x30\x06\x02\x01\x01\x02\x01\x01", True),
                                  (b"\x30\x06\x02\x01\x01\x02\x01\x01", 2**70)])
def test_ecdsa_raw_twins_agree_on_odd_arguments(args: tuple[Any, Any]) -> None:
    agree("ecdsa_raw", *args)


@needs_c
@pytest.mark.parametrize("curve,size", [(ec.SECP256R1(), 32), (ec.SECP384R1(), 48), (ec.SECP521R1(), 66)])
def test_ecdsa_forms_round_trip_real_signatures(curve: ec.EllipticCurve, size: int) -> None:
    key = ec.generate_private_key(curve)
    for i in range(50):
        der = key.sign(os.urandom(8) + bytes([i]), ec.ECDSA(hashes.SHA256()))
        raw = agree("ecdsa_raw", der, size)[1]
        assert len(raw) == 2 * size
        assert agree("ecdsa_der", raw)[1] == der


# ================================================================== the fused walk of inspect_signed


def _document() -> bytes:
    return pure.seal(build_signed_object(m.Poll(ven_id="ven-1")), FakeKey(), "2026-11-26T11:00:00.5Z", "ab" * 16)


def _parse(doc: bytes) -> Any:
    return etree.fromstring(doc, etree.XMLParser(remove_comments=False, remove_pis=False, resolve_entities=False))


def _spoil_object(doc: bytes, how: str) -> bytes:
    """Make the canonicalization refuse the oadrSignedObject (so the compiled twin abandons its fused pass)."""
    if how == "xml-attribute":
        return doc.replace(b"<oadr:oadrPoll", b'<oadr:oadrPoll xml:lang="en"')
    if how == "namespace":
        return doc.replace(b"<oadr:oadrPoll", b'<oadr:oadrPoll xmlns:u="urn:a&amp;b"')
    if how == "ancestor":
        return doc.replace(b"<oadr:oadrPayload", b'<oadr:oadrPayload xml:space="preserve"')
    return doc


LATER: dict[str, Callable[[bytes], bytes]] = {
    "nothing": lambda d: d,
    "comment after": lambda d: d.replace(b"</oadr:oadrPayload>", b"<!--x--></oadr:oadrPayload>"),
    "comment before": lambda d: d.replace(b"<ds:SignedInfo", b"<!--x--><ds:SignedInfo"),
    "comment inside": lambda d: d.replace(b"</oadr:oadrPoll>", b"<!--x--></oadr:oadrPoll>"),
    "pi inside": lambda d: d.replace(b"</oadr:oadrPoll>", b"<?pi x?></oadr:oadrPoll>"),
    "duplicate id inside": lambda d: d.replace(b"<oadr:oadrPoll", b'<oadr:oadrPoll Id="signature"'),
    "duplicate id after": lambda d: d.replace(b"</oadr:oadrPayload>", b'<x Id="replayProtect"/></oadr:oadrPayload>'),
    "second signature inside": lambda d: d.replace(
        b"</oadr:oadrPoll>", b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></oadr:oadrPoll>'),
    "second object": lambda d: d.replace(
        b"</oadr:oadrPayload>", b'<oadr:oadrSignedObject Id="o2"/></oadr:oadrPayload>'),
    "object first": lambda d: _swap(d),
}


def _swap(doc: bytes) -> bytes:
    root = _parse(doc)
    root.insert(0, root[1])
    return etree.tostring(root)


@needs_c
@pytest.mark.parametrize("spoil", ["none", "xml-attribute", "namespace", "ancestor"])
@pytest.mark.parametrize("later", list(LATER))
def test_inspect_signed_twins_agree_when_the_fused_pass_is_abandoned(spoil: str, later: str) -> None:
    doc = LATER[later](_spoil_object(_document(), spoil))
    result = agree("inspect_signed", _parse(doc))
    if spoil == "none" and later == "nothing":
        assert result[0] == "ok"
    else:
        assert result[0] == "raise"


@needs_c
def test_inspect_signed_twins_agree_on_a_deep_signed_object() -> None:
    # deeper than the compiled twin's stack of element names (256)
    deep = "".join(f"<oadr:d{i}>" for i in range(300)) + "t&amp;"
    deep += "".join(f"</oadr:d{i}>" for i in reversed(range(300)))
    so = build_signed_object(m.Poll(ven_id="ven-1")).replace(b"</oadr:oadrPoll>", deep.encode() + b"</oadr:oadrPoll>")
    doc = pure.seal(so, FakeKey(), "2026-11-26T11:00:00.5Z", "ab" * 16)
    root = etree.fromstring(doc, etree.XMLParser(huge_tree=True))  # libxml2 refuses 256 levels by default
    result = agree("inspect_signed", root)
    assert result[0] == "ok" and result[1].signed_object_c14n == so
    assert agree("c14n", root[1])[1] == so


@needs_c
def test_c14n_of_a_large_element_then_a_small_one() -> None:
    # a result larger than the reused output buffer keeps (1 MB), then small ones: each is its own bytes
    big = etree.fromstring(b"<r>" + b"<a>x&amp;y</a>" * 120_000 + b"</r>")
    small = etree.fromstring(b'<s b="1" a="2">t</s>')
    first = COMPILED.c14n(big)
    assert first == pure.c14n(big) and len(first) > 1 << 20
    assert COMPILED.c14n(small) == b'<s a="2" b="1">t</s>'
    assert COMPILED.c14n(big) == first
    assert COMPILED.c14n(small) == pure.c14n(small)


B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" + "=" * 8 + " \t\r\n" + "-_.é\u00a0"


@needs_c
@settings(max_examples=1000, deadline=None)
@given(text=st.text(B64_CHARS, max_size=40)
       | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
       | st.tuples(st.binary(min_size=1, max_size=40), st.integers(0, 60), st.sampled_from([" ", "\n", "\t", "\r\n"]))
       .map(lambda t: (lambda e: e[:t[1]] + t[2] + e[t[1]:])(base64.b64encode(t[0]).decode())))
def test_inspect_signed_twins_decode_base64_alike(text: str) -> None:
    root = _parse(_document())
    cert = root.find(f".//{{{DS}}}X509Certificate")
    assert cert is not None
    cert.text = text
    result = agree("inspect_signed", root)
    root[0][1].text = text  # SignatureValue
    agree("inspect_signed", root)
    if result[0] == "ok":
        assert result[1].certificate == base64.b64decode("".join(text.split()))


# ================================================================== timestamps


@needs_c
@settings(max_examples=2000, deadline=None)
@given(now=st.floats(allow_nan=True, allow_infinity=True)
       | st.floats(0, 4e9)
       | st.integers(0, 4_000_000_000).map(lambda s: s + 0.5e-6 * (s % 7 - 3))  # around half-microsecond ties
       | st.integers(-(2**70), 2**70)
       | st.sampled_from([0.0, -0.0, 0.9999996, 253402300799.0, 253402300798.9999999, 253402300800.0, -1.5]))
def test_timestamp_twins_agree(now: float) -> None:
    result = agree("timestamp", now)
    if result[0] == "ok":
        assert re.fullmatch(r"-?\d{1,}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", result[1]), result


_NOWS = (st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 4e9)
         | st.integers(0, 4_000_000_000).map(lambda s: s + 0.5e-6 * (s % 7 - 3))
         | st.sampled_from([0.0, -0.0, 0.9999996, 253402300799.0, 253402300800.0, -1.5]))


@needs_c
@settings(max_examples=500, deadline=None)
@given(nows=st.lists(_NOWS, max_size=8), texts=st.lists(st.text(max_size=30) | st.just("2026-11-26T11:00:00.5Z"),
                                                        max_size=4))
def test_stamps_twins_agree_with_each_other_and_the_stateless_functions(nows: list[float], texts: list[str]) -> None:
    """A Stamps object (its caches carried from call to call) gives what the stateless functions give."""
    stamps_py, stamps_c = pure.Stamps(), COMPILED.Stamps()
    texts = list(texts)
    for now in nows + nows[::-1]:
        a = outcome(stamps_py.timestamp, now)
        assert a == outcome(stamps_c.timestamp, now) == outcome(pure.timestamp, now), now
        if a[0] == "ok":
            texts.append(a[1])
    for text in texts + texts[::-1]:
        a = outcome(stamps_py.epoch, text)
        assert a == outcome(stamps_c.epoch, text) == outcome(pure.epoch, text), text


def test_a_pure_stamps_object_gives_the_stateless_texts() -> None:
    stamps = pure.Stamps()
    for now in (1764147218.8902675, 1764147218.95, 0.0, 1764147218.1):
        assert stamps.timestamp(now) == pure.timestamp(now)
        assert stamps.epoch(pure.timestamp(now)) == pure.epoch(pure.timestamp(now))


def test_timestamp_is_signings_replay_timestamp(tmp_path: Any) -> None:
    from fleetven.testing.certs import CertificateAuthority

    creds = CertificateAuthority.create(tmp_path, key_type="ec").issue_server("vtn", key_type="ec")
    key = signing.load_signing_key(creds.cert_pem, creds.key_pem)
    for now, text in ((1764147218.8902675, "2025-11-26T08:53:38.890268Z"), (0.0, "1970-01-01T00:00:00.000000Z")):
        assert key.stamps.timestamp(now) == text
        body = signing.sign_message(build_signed_object(m.Poll(ven_id="v")), key, now=now)
        assert b"<dsp:timestamp>" + text.encode() + b"</dsp:timestamp>" in body


# ================================================================== nonces


def test_nonces_are_fresh_hex() -> None:
    seen = {signer.nonce() for _ in range(3 * signer.NONCE_BATCH + 5)}
    assert len(seen) == 3 * signer.NONCE_BATCH + 5
    assert all(re.fullmatch("[0-9a-f]{32}", n) for n in seen)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_does_not_reuse_its_parents_nonces() -> None:
    signer.nonce()  # the parent holds a batch
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, signer.nonce().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert re.fullmatch("[0-9a-f]{32}", child)
    following = {signer.nonce() for _ in range(signer.NONCE_BATCH)}
    assert child not in following
