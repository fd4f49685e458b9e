"""The shortcuts of signature verification keep every check.

* ``Verifier`` compares a message's certificate with the last one it accepted before looking it
  up in its cache: a different certificate after a trusted one is still checked and refused.
* ``ReplayGuard.check`` stores the first nonce without a bucket walk: that nonce is still refused
  the second time, and old buckets still expire.
* The compiled ``inspect_signed`` compares ``Algorithm`` values in place and decodes base64 four
  characters at a time: near misses are refused as the pure twin refuses them.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import samples
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fleetven.exceptions import ReplayError, SignatureError
from fleetven.messages.parse import parse_document
from fleetven.signing import ECDSA_SHA256, ReplayGuard, SigningKey, Verifier, load_signing_key, sign_message
from fleetven.testing.certs import CertificateAuthority, Credentials

NOW = time.time()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("pki"), key_type="ec")


@pytest.fixture(scope="module")
def trusted(ca: CertificateAuthority) -> SigningKey:
    vtn: Credentials = ca.issue_server("vtn")
    return load_signing_key(vtn.cert_pem, vtn.key_pem)


@pytest.fixture(scope="module")
def stranger(ca: CertificateAuthority) -> SigningKey:
    other: Credentials = ca.issue_server("other")
    return load_signing_key(other.cert_pem, other.key_pem)


def _signed(key: SigningKey) -> Any:
    return parse_document(sign_message(samples.minimal_message("oadrPoll"), key, now=NOW))


# --------------------------------------------------------------------------- the last certificate


def test_another_certificate_after_the_trusted_one_is_refused(trusted: SigningKey, stranger: SigningKey) -> None:
    v = Verifier(fingerprint=trusted.fingerprint)
    for _ in range(2):
        v.verify(_signed(trusted), None, now=NOW)
        with pytest.raises(SignatureError) as info:
            v.verify(_signed(stranger), None, now=NOW)
        assert info.value.reason == "untrusted-certificate"


def test_the_untrusted_certificate_stays_refused_when_it_comes_twice(trusted: SigningKey,
                                                                     stranger: SigningKey) -> None:
    v = Verifier(fingerprint=trusted.fingerprint)
    for _ in range(3):
        with pytest.raises(SignatureError) as info:
            v.verify(_signed(stranger), None, now=NOW)
        assert info.value.reason == "untrusted-certificate"
    v.verify(_signed(trusted), None, now=NOW)


def test_the_last_certificate_is_still_checked_for_validity(trusted: SigningKey) -> None:
    v = Verifier(fingerprint=trusted.fingerprint)
    v.verify(_signed(trusted), None, now=NOW)
    with pytest.raises(SignatureError) as info:
        v.verify(_signed(trusted), None, now=trusted.not_after + 1)
    assert info.value.reason == "certificate-expired"


def test_the_last_certificate_must_fit_the_signature_method(trusted: SigningKey) -> None:
    assert trusted.algorithm == ECDSA_SHA256
    v = Verifier(fingerprint=trusted.fingerprint)
    v.verify(_signed(trusted), None, now=NOW)
    root = _signed(trusted)
    method = root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureMethod")
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    with pytest.raises(SignatureError) as info:
        v.verify(root, None, now=NOW)
    assert info.value.reason == "algorithm"


# --------------------------------------------------------------------------- the first nonce


def test_the_first_nonce_is_remembered() -> None:
    guard = ReplayGuard()
    guard.check("2026-01-01T00:00:00.5Z", "n1", now=1767225600.5)
    assert len(guard) == 1 and guard.bucket_count == 1
    with pytest.raises(ReplayError) as info:
        guard.check("2026-01-01T00:00:00.5Z", "n1", now=1767225600.6)
    assert info.value.reason == "nonce-replayed"
    guard.check("2026-01-01T00:00:00.7Z", "n2", now=1767225600.8)
    assert len(guard) == 2


def test_the_first_bucket_expires() -> None:
    guard = ReplayGuard(window=1.0, skew=0.0)
    guard.check("2026-01-01T00:00:00Z", "n1", now=1767225600.0)
    guard.check("2026-01-01T00:00:10Z", "n2", now=1767225610.0)
    assert len(guard) == 1


def test_a_stale_or_future_first_message_leaves_the_guard_empty() -> None:
    guard = ReplayGuard(window=1.0, skew=0.5)
    with pytest.raises(ReplayError, match="old"):
        guard.check("2026-01-01T00:00:00Z", "n1", now=1767225610.0)
    with pytest.raises(ReplayError, match="future"):
        guard.check("2026-01-01T00:00:20Z", "n1", now=1767225610.0)
    assert len(guard) == 0 and guard.bucket_count == 0


# --------------------------------------------------------------------------- compiled comparisons


@pytest.mark.parametrize("value", [
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha25",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha2566",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256 ",
    "",
])
def test_near_miss_algorithms_are_refused_alike(sig_impl: Any, trusted: SigningKey, value: str) -> None:
    root = _signed(trusted)
    root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureMethod").set("Algorithm", value)
    root = etree.fromstring(etree.tostring(root))
    with pytest.raises(SignatureError) as info:
        sig_impl.inspect_signed(root)
    assert info.value.reason == "algorithm"
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("where", [0, 4, 5, 40, -6, -2])
@pytest.mark.parametrize("insert", [" ", "\n", "*", "="])
def test_certificate_base64_with_a_character_inside_a_group(sig_impl: Any, trusted: SigningKey, where: int,
                                                            insert: str) -> None:
    root = _signed(trusted)
    el = root.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    text = el.text
    el.text = text[:where] + insert + text[where:]
    root = etree.fromstring(etree.tostring(root))
    if insert.isspace():
        assert sig_impl.inspect_signed(root).certificate == sig_impl.inspect_signed(_signed(trusted)).certificate
    else:
        with pytest.raises(SignatureError) as info:
            sig_impl.inspect_signed(root)
        assert info.value.reason == "base64"


# --------------------------------------------------------------------------- the ReplayProtect timestamp


def _compiled() -> Any:
    """The compiled twin, or a skip under ``FLEETVEN_NO_EXTENSIONS`` (as ``sig_impl`` does)."""
    from conftest import NO_EXTENSIONS

    if NO_EXTENSIONS:
        pytest.skip("FLEETVEN_NO_EXTENSIONS is set: pure build, no compiled signature twin")
    from fleetven._fast import _sig_c

    return _sig_c


def _epoch_outcome(fn: Any, text: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn(text))
    except Exception as exc:  # the twins must fail alike, whatever the failure
        return ("error", type(exc), str(exc))


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    """Timestamps near the usual form: valid ones, out-of-range fields, odd fractions and separators."""
    year = draw(st.integers(0, 9999))
    parts = [f"{year:04d}", "-", f"{draw(st.integers(0, 13)):02d}", "-", f"{draw(st.integers(0, 32)):02d}", "T",
             f"{draw(st.integers(0, 24)):02d}", ":", f"{draw(st.integers(0, 60)):02d}", ":",
             f"{draw(st.integers(0, 61)):02d}"]
    text = "".join(parts)
    fraction = draw(st.one_of(st.just(""), st.from_regex(r"\.[0-9]{0,12}", fullmatch=True),
                              st.text(alphabet="0123456789.٣Z +-:T", max_size=4)))
    text += fraction + draw(st.sampled_from(["Z", "", "+01:00", "z"]))
    if draw(st.booleans()):
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(["-", ":", "T", "x", "٣", " ", ""])) + text[i + 1:]
    return text


@settings(max_examples=600, deadline=None)
@given(_timestamps())
def test_epoch_twins_agree(text: str) -> None:
    from fleetven._fast import _sig_py

    _sig_c = _compiled()

    assert _epoch_outcome(_sig_c.epoch, text) == _epoch_outcome(_sig_py.epoch, text)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 253402300798.0))
def test_epoch_reads_the_timestamps_signing_writes(now: float) -> None:
    from fleetven._fast import _sig_py

    _sig_c = _compiled()

    text = _sig_py.timestamp(now)
    assert _sig_c.epoch(text) == _sig_py.epoch(text)
    assert abs(_sig_c.epoch(text) - now) < 1e-3


@pytest.mark.parametrize("text", [b"2026-01-01T00:00:00Z", 3, None, "2026-01-01T00:00:00\udcffZ"])
def test_epoch_twins_agree_on_odd_arguments(text: Any) -> None:
    from fleetven._fast import _sig_py

    _sig_c = _compiled()

    assert _epoch_outcome(_sig_c.epoch, text) == _epoch_outcome(_sig_py.epoch, text)
