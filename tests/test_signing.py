"""fleetven.signing and the pure signature twin: canonical bytes, keys, fingerprints, verification, replay guard."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import time
from typing import Any

import pytest
import samples
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven._fast import _sig_py
from fleetven._fast._sig_py import C14N10, c14n, inspect_signed, seal
from fleetven.exceptions import ConfigurationError, ReplayError, SignatureError
from fleetven.messages.build import PAYLOAD_CLOSE, PAYLOAD_OPEN, build_message, build_signed_object
from fleetven.messages.parse import parse_document
from fleetven.openadr import model as m
from fleetven.openadr.namespaces import NS
from fleetven.openadr.timefmt import format_datetime, parse_datetime
from fleetven.signing import (
    ECDSA_SHA256,
    RSA_SHA256,
    ReplayGuard,
    SigningKey,
    Verifier,
    fingerprint,
    load_signing_key,
    sign_message,
    verify_message,
)
from fleetven.signing.keys import KeyCache
from fleetven.testing.certs import CertificateAuthority, Credentials

UTC = dt.timezone.utc
NOW = time.time()
DS, DSP, OADR = NS["ds"], NS["dsp"], NS["oadr"]
MESSAGES = samples.rich_messages() + samples.minimal_messages()
MSG_IDS = [f"rich-{x.message_type}" for x in samples.rich_messages()] + [
    f"minimal-{x.message_type}" for x in samples.minimal_messages()
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("pki"), key_type="ec")


@pytest.fixture(scope="module")
def ec_cert(ca: CertificateAuthority) -> Credentials:
    return ca.issue_server("vtn-ec", key_type="ec")


@pytest.fixture(scope="module")
def rsa_cert(ca: CertificateAuthority) -> Credentials:
    return ca.issue_server("vtn-rsa", key_type="rsa")


@pytest.fixture(scope="module", params=["ec", "rsa"])
def cert(request: pytest.FixtureRequest, ec_cert: Credentials, rsa_cert: Credentials) -> Credentials:
    return ec_cert if request.param == "ec" else rsa_cert


@pytest.fixture(scope="module")
def key(cert: Credentials) -> SigningKey:
    return load_signing_key(cert.cert_pem, cert.key_pem)


def lxml_c14n(el: Any) -> bytes:
    out: bytes = etree.tostring(el, method="c14n")
    return out


def q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


# --------------------------------------------------------------------------- c14n against lxml


def assert_c14n_everywhere(doc: bytes) -> None:
    """c14n of every element of the document equals lxml's (libxml2's) canonical form."""
    root = etree.fromstring(doc)
    n = 0
    for el in root.iter():
        assert isinstance(el.tag, str)
        assert c14n(el) == lxml_c14n(el), el.tag
        n += 1
    assert n >= 4


@pytest.mark.parametrize("msg", MESSAGES, ids=MSG_IDS)
def test_c14n_matches_lxml_for_every_message_type(msg: m.Message) -> None:
    doc = build_message(msg)
    assert_c14n_everywhere(doc)
    # and build_signed_object is already canonical in its document
    so = etree.fromstring(doc)[0]
    assert c14n(so) == build_signed_object(msg)


@pytest.mark.parametrize("msg", MESSAGES, ids=MSG_IDS)
def test_c14n_matches_lxml_in_signed_documents(msg: m.Message, key: SigningKey) -> None:
    doc = sign_message(msg, key)
    assert_c14n_everywhere(doc)
    root = etree.fromstring(doc)
    sig, so = root
    si, _, _, obj = sig
    # the parts written in canonical form are byte-for-byte what lxml canonicalizes
    assert lxml_c14n(si) in doc and lxml_c14n(obj) in doc and lxml_c14n(so) in doc
    assert lxml_c14n(so) == build_signed_object(msg)


def test_c14n_matches_lxml_in_openleadr_signed_documents(ec_cert: Credentials, rsa_cert: Credentials) -> None:
    from openleadr.messaging import create_message

    for c in (ec_cert, rsa_cert):
        for name, kwargs in (
            ("oadrPoll", {"ven_id": "ven-1"}),
            ("oadrCreatedEvent", {"response": {"response_code": 200, "response_description": "OK", "request_id": "r"},
                                  "event_responses": [], "ven_id": "ven-1"}),
        ):
            doc = create_message(name, cert=c.cert_pem, key=c.key_pem, **kwargs).encode()
            assert_c14n_everywhere(doc)


def test_c14n_renders_ancestor_namespaces_as_the_spec_says() -> None:
    # Hand-checked against the C14N 1.0 rules (and libxml2 agrees): the apex gets every namespace in
    # scope, an empty default is not rendered on the apex, a descendant renders xmlns="" only when its
    # parent's default is not empty, redundant redeclarations are dropped, attributes sort by URI.
    doc = (b'<a xmlns="u:d" xmlns:p="u:p" xmlns:q="u:q"><p:b xmlns:q="u:q" xmlns:r="u:r">'
           b'<c xmlns="" z="1" p:y="2" a="3" q:a="4"><d xmlns:r="u:r2" xmlns="u:e"><e xmlns=""/></d></c></p:b></a>')
    root = etree.fromstring(doc)
    b = root[0]
    c = b[0]
    d = c[0]
    assert c14n(b) == (b'<p:b xmlns="u:d" xmlns:p="u:p" xmlns:q="u:q" xmlns:r="u:r"><c xmlns="" a="3" z="1" p:y="2"'
                       b' q:a="4"><d xmlns="u:e" xmlns:r="u:r2"><e xmlns=""></e></d></c></p:b>')
    assert c14n(c) == (b'<c xmlns:p="u:p" xmlns:q="u:q" xmlns:r="u:r" a="3" z="1" p:y="2" q:a="4">'
                       b'<d xmlns="u:e" xmlns:r="u:r2"><e xmlns=""></e></d></c>')
    assert c14n(d) == b'<d xmlns="u:e" xmlns:p="u:p" xmlns:q="u:q" xmlns:r="u:r2"><e xmlns=""></e></d>'
    for el in (root, b, c, d, d[0]):
        assert c14n(el) == lxml_c14n(el), (el.tag, c14n(el), lxml_c14n(el))


def test_c14n_escapes_text_and_attributes() -> None:
    root = etree.fromstring(b'<a x="&amp;&lt;&gt;&quot;&#9;&#10;&#13;\'">&amp;&lt;&gt;"\'&#13;\n\t\xc3\xa9</a>')
    assert c14n(root) == (b'<a x="&amp;&lt;>&quot;&#x9;&#xA;&#xD;\'">&amp;&lt;&gt;"\'&#xD;\n\t\xc3\xa9</a>')
    assert c14n(root) == lxml_c14n(root)


def test_c14n_attribute_prefix_when_two_prefixes_share_a_uri() -> None:
    root = etree.fromstring(b'<r xmlns:a="u:x" xmlns:b="u:x"><e b:k="1" a:j="2"/></r>')
    assert c14n(root[0]) == b'<e xmlns:a="u:x" xmlns:b="u:x" a:j="2" b:k="1"></e>'
    assert c14n(root[0]) == lxml_c14n(root[0])


@pytest.mark.parametrize("doc", [
    b"<a><b>x<!--c-->y</b></a>",
    b"<a><b>x<?pi y?></b></a>",
    b'<a><b xml:lang="en">x</b></a>',
    b'<a xml:space="preserve"><b>x</b></a>',
    # libxml2 writes this namespace URI unescaped (not even well-formed); C14N 1.0 section 2.3 escapes it
    b'<a xmlns:p="http://x/?a&amp;b"><b>x</b></a>',
    b'<a><b xmlns="http://x/?a&amp;b">x</b></a>',
])
def test_c14n_refuses_comments_pis_and_xml_attributes(doc: bytes) -> None:
    root = etree.fromstring(doc)
    with pytest.raises(SignatureError):
        c14n(root[0])


# A random document generator: elements with random prefixes, declarations (including undeclaring the
# default), qualified and unqualified attributes, and text with every character C14N escapes.
_PREFIXES = [None, "a", "b", "c"]
_URIS = ["u:1", "u:2", "http://x/y?a=b"]
_TEXT = st.text(alphabet=st.sampled_from(list("ab &<>\"'\t\n\r\u00e9\u4e2d")), max_size=6)


def _esc(s: str, attr: bool) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    if attr:
        s = s.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
    return s


def _element(data: st.DataObject, scope: dict[str | None, str], depth: int) -> str:
    decls: dict[str | None, str] = {}
    for p in _PREFIXES:
        if data.draw(st.integers(0, 3)) == 0:
            decls[p] = data.draw(st.sampled_from(_URIS + ([""] if p is None else [])))
    inner = {**scope, **decls}
    bound = [p for p, u in inner.items() if p is not None and u]
    prefix = data.draw(st.sampled_from([None, *bound]))
    name = (prefix + ":" if prefix else "") + data.draw(st.sampled_from(["e", "f"]))
    parts = [name]
    for p, u in sorted(decls.items(), key=lambda i: i[0] or ""):
        parts.append(f'xmlns{":" + p if p else ""}="{_esc(u, True)}"')
    used = set()
    for _ in range(data.draw(st.integers(0, 3))):
        ap = data.draw(st.sampled_from([None, *bound]))
        local = data.draw(st.sampled_from(["k", "l"]))
        ident = (inner[ap] if ap else "", local)
        if ident in used:
            continue
        used.add(ident)
        parts.append(f'{ap + ":" if ap else ""}{local}="{_esc(data.draw(_TEXT), True)}"')
    body = [_esc(data.draw(_TEXT), False)]
    if depth < 3:
        for _ in range(data.draw(st.integers(0, 3))):
            body.append(_element(data, inner, depth + 1))
            body.append(_esc(data.draw(_TEXT), False))
    return f"<{' '.join(parts)}>{''.join(body)}</{name}>"


def spec_c14n(el: Any) -> bytes:
    """A reference for c14n of a subtree, per the C14N 1.0 spec: libxml2's *whole-document* c14n of the
    subtree re-rooted with every namespace in scope declared on it.

    lxml's c14n of a subtree (``etree.tostring(el, method="c14n")`` on a non-root element) is wrong in one
    case: when the apex redeclares its parent's default namespace and a descendant sits under further
    redundant declarations, it writes ``xmlns=""`` on that descendant, moving it out of its namespace
    (see test_lxml_subtree_c14n_differs_from_the_spec). libxml2's whole-document c14n, and xmlsec1, follow
    the spec there (tests/interop/test_signature_peers.py checks xmlsec1 on such a document).
    """
    text = etree.tostring(el, with_tail=False)
    top = etree.fromstring(text)
    missing = [(p, u) for p, u in el.nsmap.items() if u and top.nsmap.get(p) != u]
    qname = (el.prefix + ":" if el.prefix else "") + el.tag.rpartition("}")[2]
    decls = "".join(f' xmlns{":" + p if p else ""}="{u}"' for p, u in missing)
    head = b"<" + qname.encode()
    assert text.startswith(head)
    out: bytes = etree.tostring(etree.ElementTree(etree.fromstring(head + decls.encode() + text[len(head):])),
                                method="c14n")
    return out


def test_lxml_subtree_c14n_differs_from_the_spec() -> None:
    doc = b'<e xmlns="u:1" xmlns:a="u:1"><e xmlns="u:1" xmlns:a="u:1"><e xmlns:b="u:1"><e xmlns:b="u:1"/></e></e></e>'
    el = etree.fromstring(doc)[0]
    assert c14n(el) == b'<e xmlns="u:1" xmlns:a="u:1"><e xmlns:b="u:1"><e></e></e></e>' == spec_c14n(el)
    assert lxml_c14n(el) == b'<e xmlns="u:1" xmlns:a="u:1"><e xmlns:b="u:1"><e xmlns=""></e></e></e>'


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_c14n_matches_the_spec_on_random_documents(data: st.DataObject) -> None:
    doc = _element(data, {}, 0).encode()
    note(repr(doc))
    try:
        root = etree.fromstring(doc)
    except etree.XMLSyntaxError:
        assume(False)
        raise
    for el in root.iter():
        assert c14n(el) == spec_c14n(el), (el.tag, c14n(el), spec_c14n(el))


# --------------------------------------------------------------------------- seal: the exact bytes


class _FixedKey:
    algorithm = RSA_SHA256
    cert_b64 = b"Q0VSVA=="

    def __init__(self) -> None:
        self.signed: list[bytes] = []

    def sign(self, data: bytes) -> bytes:
        self.signed.append(data)
        return b"SIG"


def test_seal_writes_the_contract_bytes() -> None:
    so = build_signed_object(samples.minimal_message("oadrPoll"))
    k = _FixedKey()
    doc = seal(so, k, "2026-11-26T12:00:00Z", "0" * 32)
    replay = (f'<ds:Object xmlns:ds="{DS}" xmlns:oadr="{OADR}" Id="replayProtect"><ds:SignatureProperties>'
              f'<ds:SignatureProperty Target="#signature"><dsp:ReplayProtect xmlns:dsp="{DSP}">'
              f'<dsp:timestamp>2026-11-26T12:00:00Z</dsp:timestamp><dsp:nonce>{"0" * 32}</dsp:nonce>'
              "</dsp:ReplayProtect></ds:SignatureProperty></ds:SignatureProperties></ds:Object>").encode()

    def ref(uri: str, digest: bytes) -> str:
        return (f'<ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{C14N10}"></ds:Transform>'
                '</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256">'
                f"</ds:DigestMethod><ds:DigestValue>{base64.b64encode(hashlib.sha256(digest).digest()).decode()}"
                "</ds:DigestValue></ds:Reference>")

    signed_info = (f'<ds:SignedInfo xmlns:ds="{DS}" xmlns:oadr="{OADR}"><ds:CanonicalizationMethod '
                   f'Algorithm="{C14N10}"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="{RSA_SHA256}">'
                   f"</ds:SignatureMethod>{ref('#oadrSignedObject', so)}{ref('#replayProtect', replay)}"
                   "</ds:SignedInfo>").encode()
    expected = (PAYLOAD_OPEN + f'<ds:Signature xmlns:ds="{DS}" Id="signature">'.encode() + signed_info
                + b"<ds:SignatureValue>U0lH</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
                + b"Q0VSVA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo>" + replay + b"</ds:Signature>"
                + so + PAYLOAD_CLOSE)
    assert doc == expected
    assert k.signed == [signed_info]
    # and each canonical part is what lxml canonicalizes in the parsed document
    root = etree.fromstring(doc)
    assert lxml_c14n(root[0][0]) == signed_info
    assert lxml_c14n(root[0][3]) == replay
    assert lxml_c14n(root[1]) == so


def test_inspect_signed_returns_the_parts(key: SigningKey, cert: Credentials) -> None:
    msg = samples.rich_message("oadrDistributeEvent")
    doc = sign_message(msg, key, now=NOW)
    s = inspect_signed(parse_document(doc))
    assert s.signed_object_c14n == build_signed_object(msg)
    assert s.object_digest == hashlib.sha256(s.signed_object_c14n).digest()
    assert s.replay_digest == hashlib.sha256(s.replay_c14n).digest()
    assert s.object_digest_method == s.replay_digest_method == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert s.signature_method == key.algorithm
    assert s.certificate == cert.cert_der
    assert s.timestamp == format_datetime(dt.datetime.fromtimestamp(NOW, UTC))
    assert re.fullmatch("[0-9a-f]{32}", s.nonce)
    assert s.signed_info_c14n in doc and s.replay_c14n in doc


def test_signature_value_format(ec_cert: Credentials, rsa_cert: Credentials) -> None:
    """RSA PKCS#1 v1.5 over the SignedInfo; ECDSA as raw r||s of 64 bytes for P-256 (not DER)."""
    for c, size in ((ec_cert, 64), (rsa_cert, 256)):
        k = load_signing_key(c.cert_pem, c.key_pem)
        s = inspect_signed(parse_document(sign_message(samples.minimal_message("oadrPoll"), k)))
        assert len(s.signature_value) == size
        pub: Any = c.certificate.public_key()
        if size == 64:
            der = encode_dss_signature(int.from_bytes(s.signature_value[:32], "big"),
                                       int.from_bytes(s.signature_value[32:], "big"))
            pub.verify(der, s.signed_info_c14n, ec.ECDSA(hashes.SHA256()))
        else:
            pub.verify(s.signature_value, s.signed_info_c14n, padding.PKCS1v15(), hashes.SHA256())


def test_signed_documents_are_schema_valid(key: SigningKey, oadr_schema: etree.XMLSchema) -> None:
    for msg in MESSAGES:
        doc = etree.fromstring(sign_message(msg, key))
        assert oadr_schema.validate(doc), (msg.message_type, oadr_schema.error_log)


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_matches_openleadr(ec_cert: Credentials) -> None:
    from openleadr.utils import certificate_fingerprint

    expected = certificate_fingerprint(ec_cert.cert_pem.decode())
    assert re.fullmatch("([0-9A-F]{2}:){9}[0-9A-F]{2}", expected)
    assert fingerprint(ec_cert.certificate) == expected
    assert fingerprint(ec_cert.cert_pem) == expected
    assert fingerprint(ec_cert.cert_pem.decode()) == expected
    assert fingerprint(ec_cert.cert_der) == expected
    assert fingerprint(str(ec_cert.cert)) == expected
    assert fingerprint(ec_cert.cert) == expected  # a Path


def test_fingerprint_of_unreadable_file(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.pem"):
        fingerprint(str(tmp_path / "nope.pem"))
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError, match=r"junk\.pem"):
        fingerprint(str(tmp_path / "junk.pem"))


# --------------------------------------------------------------------------- load_signing_key


def test_load_signing_key_caches_by_identity(ec_cert: Credentials) -> None:
    cp, kp = str(ec_cert.cert), str(ec_cert.key)
    keys = KeyCache()
    a = load_signing_key(cp, kp, cache=keys)
    assert load_signing_key(cp, kp, cache=keys) is a
    assert load_signing_key(ec_cert.cert_pem, ec_cert.key_pem, cache=keys) is a  # same identity, given as bytes
    assert len(keys) == 1
    assert a.algorithm == ECDSA_SHA256
    assert a.fingerprint == fingerprint(ec_cert.certificate)
    assert base64.b64decode(a.cert_b64) == ec_cert.cert_der and b"\n" not in a.cert_b64


def test_load_signing_key_without_a_cache_loads_afresh(ec_cert: Credentials) -> None:
    a = load_signing_key(ec_cert.cert_pem, ec_cert.key_pem)
    b = load_signing_key(ec_cert.cert_pem, ec_cert.key_pem)
    assert a is not b and a.fingerprint == b.fingerprint  # nothing is kept between calls without a cache


def test_key_caches_are_separate_and_bounded(ec_cert: Credentials, rsa_cert: Credentials) -> None:
    one, two = KeyCache(), KeyCache()
    a = load_signing_key(ec_cert.cert_pem, ec_cert.key_pem, cache=one)
    assert load_signing_key(ec_cert.cert_pem, ec_cert.key_pem, cache=two) is not a  # another owner's cache
    small = KeyCache(size=1)
    e = load_signing_key(ec_cert.cert_pem, ec_cert.key_pem, cache=small)
    load_signing_key(rsa_cert.cert_pem, rsa_cert.key_pem, cache=small)
    assert len(small) == 1
    assert load_signing_key(ec_cert.cert_pem, ec_cert.key_pem, cache=small) is not e  # evicted, loaded again


def test_load_signing_key_rsa_and_curves(ca: CertificateAuthority) -> None:
    rsa3072 = ca.issue_client("r3", key_type="rsa", key_size=3072)
    assert load_signing_key(rsa3072.cert_pem, rsa3072.key_pem).algorithm == RSA_SHA256
    for size in (384, 521):
        c = ca.issue_client(f"e{size}", key_type="ec", key_size=size)
        k = load_signing_key(c.cert_pem, c.key_pem)
        assert k.algorithm == ECDSA_SHA256
        s = inspect_signed(parse_document(sign_message(samples.minimal_message("oadrPoll"), k)))
        assert len(s.signature_value) == 2 * ((size + 7) // 8)
        Verifier(fingerprint=k.fingerprint).verify(parse_document(sign_message(
            samples.minimal_message("oadrPoll"), k)), None)


def test_load_signing_key_encrypted(ca: CertificateAuthority) -> None:
    enc = ca.issue_client("enc", key_type="ec", passphrase="s3cret")
    cp, kp = str(enc.cert), str(enc.key)
    keys = KeyCache()
    k = load_signing_key(cp, kp, passphrase="s3cret", cache=keys)
    assert load_signing_key(cp, kp, passphrase=b"s3cret", cache=keys) is k
    with pytest.raises(ConfigurationError, match=r"enc\.key.*(passphrase|encrypted)"):
        load_signing_key(cp, kp)
    with pytest.raises(ConfigurationError, match=r"enc\.key"):
        load_signing_key(cp, kp, passphrase="wrong")


def test_load_signing_key_errors(ca: CertificateAuthority, ec_cert: Credentials, rsa_cert: Credentials,
                                 tmp_path: Any) -> None:
    cp, kp = str(ec_cert.cert), str(ec_cert.key)
    with pytest.raises(ConfigurationError, match=r"missing\.key"):
        load_signing_key(cp, str(tmp_path / "missing.key"))
    with pytest.raises(ConfigurationError, match=r"missing\.crt"):
        load_signing_key(str(tmp_path / "missing.crt"), kp)
    (tmp_path / "garbage.key").write_bytes(b"not a key")
    with pytest.raises(ConfigurationError, match=r"garbage\.key"):
        load_signing_key(cp, str(tmp_path / "garbage.key"))
    # a key that is not the certificate's
    other_key = str(rsa_cert.key)
    with pytest.raises(ConfigurationError, match="does not belong"):
        load_signing_key(cp, other_key)
    # expired, and not yet valid
    old = ca.issue_client("old", not_valid_before=dt.datetime.now(UTC) - dt.timedelta(days=10),
                          valid_for=dt.timedelta(days=1))
    with pytest.raises(ConfigurationError, match="expired"):
        load_signing_key(old.cert_pem, old.key_pem)
    future = ca.issue_client("future", not_valid_before=dt.datetime.now(UTC) + dt.timedelta(days=2))
    with pytest.raises(ConfigurationError, match="not valid before"):
        load_signing_key(future.cert_pem, future.key_pem)


@pytest.mark.parametrize(("key_type", "size", "text"), [("rsa", 1024, "RSA-1024"), ("ec", 192, "P-256")])
def test_load_signing_key_refuses_weak_keys(ca: CertificateAuthority, key_type: str, size: int, text: str) -> None:
    # keys that fleetven.testing.certs refuses to generate, made here and certified by the CA
    weak_key = (rsa.generate_private_key(public_exponent=65537, key_size=size) if key_type == "rsa"
                else ec.generate_private_key({192: ec.SECP192R1()}[size]))
    weak = ca.issue_client(f"weak-{key_type}", private_key=weak_key)
    with pytest.raises(ConfigurationError, match=text):
        load_signing_key(weak.cert_pem, weak.key_pem)


# --------------------------------------------------------------------------- sign / verify round trips


@pytest.mark.parametrize("msg", MESSAGES, ids=MSG_IDS)
def test_every_message_type_round_trips(msg: m.Message, key: SigningKey, ca: CertificateAuthority) -> None:
    doc = sign_message(msg, key, now=NOW)
    plain = parse_document(build_message(msg))
    from fleetven._fast import extract

    expected = extract(plain)
    assert verify_message(doc, Verifier(fingerprint=key.fingerprint), ReplayGuard(), now=NOW) == expected
    assert verify_message(doc, Verifier(ca_file=str(ca.cert)), ReplayGuard(), now=NOW + 1) == expected


def test_sign_message_accepts_signed_object_bytes_and_uses_fresh_nonces(key: SigningKey) -> None:
    so = build_signed_object(samples.minimal_message("oadrPoll"))
    docs = [sign_message(so, key, now=NOW) for _ in range(3)]
    nonces = {inspect_signed(parse_document(d)).nonce for d in docs}
    assert len(nonces) == 3
    assert all(so in d for d in docs)


def test_verifier_needs_a_trust_anchor(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError):
        Verifier()
    with pytest.raises(ConfigurationError, match="fingerprint"):
        Verifier(fingerprint="not-a-fingerprint")
    with pytest.raises(ConfigurationError, match=r"nothing\.pem"):
        Verifier(ca_file=str(tmp_path / "nothing.pem"))


def test_verifier_accepts_fingerprint_in_lower_case(key: SigningKey) -> None:
    doc = sign_message(samples.minimal_message("oadrPoll"), key, now=NOW)
    verify_message(doc, Verifier(fingerprint=key.fingerprint.lower()), None, now=NOW)


def test_verifier_caches_certificates(key: SigningKey) -> None:
    v = Verifier(fingerprint=key.fingerprint)
    for i in range(5):
        verify_message(sign_message(samples.minimal_message("oadrPoll"), key, now=NOW), v, None, now=NOW + i)
    assert len(v._cache) == 1


def test_verifier_ca_bundle_with_several_cas(ca: CertificateAuthority, ec_cert: Credentials, tmp_path: Any) -> None:
    other = CertificateAuthority.create(tmp_path / "other", name="other CA", key_type="ec")
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(other.cert.read_bytes() + ca.cert.read_bytes())
    k = load_signing_key(ec_cert.cert_pem, ec_cert.key_pem)
    verify_message(sign_message(samples.minimal_message("oadrPoll"), k, now=NOW), Verifier(ca_file=str(bundle)),
                   None, now=NOW)


# --------------------------------------------------------------------------- ReplayGuard


def ts(t: float) -> str:
    return format_datetime(dt.datetime.fromtimestamp(t, UTC))


def test_replay_guard_window_and_skew() -> None:
    g = ReplayGuard(window=5.0, skew=1.0)
    g.check(ts(NOW - 5.9), "a", NOW)
    g.check(ts(NOW + 0.9), "b", NOW)
    with pytest.raises(ReplayError, match="old"):
        g.check(ts(NOW - 6.1), "c", NOW)
    with pytest.raises(ReplayError, match="future"):
        g.check(ts(NOW + 1.1), "d", NOW)
    with pytest.raises(ReplayError, match="seen before"):
        g.check(ts(NOW), "a", NOW)
    with pytest.raises(SignatureError, match="date-time"):
        g.check("yesterday", "e", NOW)
    with pytest.raises(SignatureError, match="nonce"):
        g.check(ts(NOW), "", NOW)


def test_replay_guard_forgets_nonces_that_cannot_come_back() -> None:
    g = ReplayGuard(window=5.0, skew=1.0)
    g.check(ts(NOW), "a", NOW)
    assert len(g) == 1
    g.check(ts(NOW + 100), "b", NOW + 100)
    assert len(g) == 1 and g.bucket_count == 1
    # "a" is gone, but its message could not be accepted anyway: its timestamp is too old
    with pytest.raises(ReplayError, match="old"):
        g.check(ts(NOW), "a", NOW + 100)


def test_replay_guard_is_tiny_when_empty() -> None:
    g = ReplayGuard()
    assert not hasattr(g, "__dict__")
    assert len(g) == 0 and g.bucket_count == 0


def test_replay_guard_storage_is_bounded_by_the_window() -> None:
    """A million nonces spread over time keep as few entries as ten: the cost per check stays flat."""
    window, skew, rate = 5.0, 1.0, 10  # ten messages a second
    g = ReplayGuard(window=window, skew=skew)
    bound = rate * (window + 2 * skew + 2 * (window + 2 * skew) / ReplayGuard.SLICES) + rate
    stamps: dict[int, str] = {}
    start = 1_800_000_000
    max_entries = max_buckets = 0
    for i in range(1_000_000):
        t = start + i // rate
        s = stamps.get(t)
        if s is None:
            stamps.clear()
            s = stamps[t] = ts(t)
        g.check(s, f"{i:x}", t + 0.5)
        if i % 997 == 0:
            max_entries = max(max_entries, len(g))
            max_buckets = max(max_buckets, g.bucket_count)
    assert 0 < max_entries <= bound
    assert max_buckets <= ReplayGuard.SLICES + 3

    small = ReplayGuard(window=window, skew=skew)
    for i in range(10):
        small.check(ts(start + i / rate), f"{i:x}", start + i / rate + 0.5)
    assert small.bucket_count <= ReplayGuard.SLICES + 3
    # the big guard holds no more buckets than a guard that saw ten nonces could hold at most
    assert g.bucket_count <= ReplayGuard.SLICES + 3


def test_replay_guards_are_independent(key: SigningKey) -> None:
    doc = sign_message(samples.minimal_message("oadrPoll"), key, now=NOW)
    v = Verifier(fingerprint=key.fingerprint)
    a, b = ReplayGuard(), ReplayGuard()
    verify_message(doc, v, a, now=NOW)
    verify_message(doc, v, b, now=NOW)  # another VEN: no shared nonce cache
    with pytest.raises(ReplayError):
        verify_message(doc, v, a, now=NOW)


def test_a_shared_guard_keeps_each_scope_apart(key: SigningKey) -> None:
    doc = sign_message(samples.minimal_message("oadrPoll"), key, now=NOW)
    v = Verifier(fingerprint=key.fingerprint)
    shared = ReplayGuard()
    verify_message(doc, v, shared, now=NOW, scope="ven-a")
    verify_message(doc, v, shared, now=NOW, scope="ven-b")  # another VEN of the same fleet
    with pytest.raises(ReplayError):
        verify_message(doc, v, shared, now=NOW, scope="ven-a")
    with pytest.raises(ReplayError):
        verify_message(doc, v, shared, now=NOW + 1, scope="ven-b")
    assert len(shared) == 2
    verify_message(doc, v, shared, now=NOW, scope="")  # no scope: its own key space too
    with pytest.raises(ReplayError):
        verify_message(doc, v, shared, now=NOW)


def test_pure_module_is_the_twin_spec() -> None:
    assert set(_sig_py.__all__) >= {"Signed", "c14n", "seal", "inspect_signed"}
    assert _sig_py.Signed._fields == (
        "signed_object_c14n", "object_digest_method", "object_digest", "replay_c14n", "replay_digest_method",
        "replay_digest", "signed_info_c14n", "signature_method", "signature_value", "certificate", "timestamp",
        "nonce",
    )


@pytest.mark.parametrize("now", [0.0, 1.5, 1764147218.8902675, 1764147218.9999996, 1764147219.0000004, 951782400.25])
def test_timestamp_fast_path_matches_the_codec(now: float) -> None:
    from fleetven._fast import sig  # the twin signing uses

    stamps = sig.Stamps()
    for _ in range(2):  # the second time from the object's once-per-second caches
        text = stamps.timestamp(now)
        assert text == sig.timestamp(now)
        expected = format_datetime(dt.datetime.fromtimestamp(now, UTC))
        assert text.split(".")[0] == expected.split(".")[0].rstrip("Z")
        assert abs(stamps.epoch(text) - now) < 1e-6
        assert stamps.epoch(text) == sig.epoch(text) == parse_datetime(text).timestamp()
