"""Security against OpenLEADR 0.5.36's own VTN: HTTPS with mutual TLS, XML signatures both ways.

Every test starts a real ``openleadr.OpenADRServer`` (through ``fleetven.testing.openleadr.OpenLEADRVTN``)
on a free port of 127.0.0.1, serving HTTPS with a server certificate, requiring client
certificates from the test CA, signing its own messages, and checking the signature of every VEN
message that carries a venID against the fingerprint it was told for that VEN. The certificates
and CAs are made by ``fleetven.testing.certs`` for this module. Nothing sleeps: each test waits on
what the VTN records, or on the fleet's log, with a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fleetven import OpenADRClient
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.openadr import model as m
from fleetven.signing import load_signing_key, sign_message
from fleetven.testing.certs import CertificateAuthority, Credentials
from fleetven.testing.openleadr import OpenLEADRVTN, ReceivedMessage

UTC = timezone.utc
DEADLINE = 30.0
VEN_NAMES = ("site-1", "site-2", "site-3")
_CERT_IN_BODY = re.compile(rb"<(?:[\w.-]+:)?X509Certificate>([^<]+)<")
_RESPONSE_CODE = re.compile(r"<(?:[\w.-]+:)?responseCode>\s*(\d+)\s*<")
_VEN_ID = re.compile(rb"<(?:[\w.-]+:)?venID>([^<]+)<")
_VEN_NAME = re.compile(rb"<(?:[\w.-]+:)?oadrVenName>([^<]+)<")


@dataclass(frozen=True)
class Pki:
    """Everything this module's tests need, made once."""

    ca: CertificateAuthority  # the CA of the VTN's TLS certificate and of every legitimate client
    vtn: Credentials  # the VTN's TLS server certificate; it signs the VTN's messages too
    vtn_ec: Credentials  # an ECDSA server certificate (for ECDHE-ECDSA-AES128-SHA256)
    vens: dict[str, Credentials]  # one client certificate per VEN name, RSA and ECDSA mixed
    unknown: Credentials  # issued by the CA, but not known to the VTN
    other_ca: CertificateAuthority  # another CA with the same name
    rogue: Credentials  # a client certificate of the other CA
    rogue_signer: Credentials  # a certificate of the other CA that a VTN may sign with


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create(root / "ca", key_type="rsa")
    other = CertificateAuthority.create(root / "other", key_type="rsa")  # same default name, other key
    return Pki(
        ca=ca,
        vtn=ca.issue_server("vtn"),
        vtn_ec=ca.issue_server("vtn-ec", key_type="ec"),
        vens={
            "site-1": ca.issue_client("site-1", key_type="rsa"),
            "site-2": ca.issue_client("site-2", key_type="ec"),
            "site-3": ca.issue_client("site-3", key_type="rsa", passphrase="s3cret"),
        },
        unknown=ca.issue_client("unknown"),
        other_ca=other,
        rogue=other.issue_client("rogue"),
        rogue_signer=other.issue_server("rogue-vtn"),
    )


def secure_vtn(pki: Pki, *, server: Credentials | None = None, signer: Credentials | None = None,
               **options: Any) -> OpenLEADRVTN:
    """OpenLEADR's VTN over mutual TLS, signing with ``signer`` (default: its TLS certificate) and
    knowing the fingerprints of the module's three VENs (and no other)."""
    server = server or pki.vtn
    signer = signer or server
    settings: dict[str, Any] = {
        "poll_freq": timedelta(seconds=1),
        "report_sampling": timedelta(seconds=1),
        "http_cert": server.cert,
        "http_key": server.key,
        "http_ca_file": pki.ca.cert,
        "cert": signer.cert,
        "key": signer.key,
        "ven_fingerprints": {name: c.fingerprint for name, c in pki.vens.items()},
    }
    settings.update(options)
    return OpenLEADRVTN(**settings)


@pytest.fixture
async def vtn(pki: Pki) -> AsyncIterator[OpenLEADRVTN]:
    async with secure_vtn(pki) as v:
        yield v


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="fleetven")
    return caplog


def make_fleet(vtn: OpenLEADRVTN, pki: Pki, **options: Any) -> Fleet:
    """A fleet that trusts the test CA for TLS and pins the VTN's signing certificate."""
    settings: dict[str, Any] = {
        "ca_file": str(pki.ca.cert),
        "vtn_fingerprint": vtn.fingerprint,
        "seed": 3,
        "backoff_base": 0.05,
        "backoff_cap": 0.5,
        "request_timeout": 10.0,
    }
    settings.update(options)
    return Fleet(vtn.url, **settings)


def add_ven(fleet: Fleet, creds: Credentials, name: str | None = None) -> Ven:
    return fleet.add_ven(name or creds.name, cert=str(creds.cert), key=str(creds.key), passphrase=creds.passphrase)


def intervals(payload: float = 1.0) -> list[dict[str, Any]]:
    start = datetime.now(UTC) + timedelta(minutes=5)
    return [{"dtstart": start, "duration": timedelta(minutes=30), "signal_payload": payload}]


def signer_fingerprint(body: bytes) -> str | None:
    """The fingerprint of the certificate in a signed message's KeyInfo (None: unsigned)."""
    found = _CERT_IN_BODY.search(body)
    if found is None:
        return None
    der = base64.b64decode(b"".join(found.group(1).split()))
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()[-10:])


def response_codes(text: str | bytes) -> list[int]:
    if isinstance(text, bytes):
        text = text.decode()
    return [int(code) for code in _RESPONSE_CODE.findall(text)]


def warned(caplog: pytest.LogCaptureFixture, *words: str) -> Callable[[], bool]:
    """A predicate: some fleetven warning mentions every one of ``words``."""

    def check() -> bool:
        return any(
            r.levelno >= logging.WARNING and r.name.startswith("fleetven") and all(w in r.getMessage() for w in words)
            for r in caplog.records
        )

    return check


def from_cert(vtn: OpenLEADRVTN, creds: Credentials) -> list[ReceivedMessage]:
    return [r for r in vtn.received if r.fingerprint == creds.fingerprint]


# ------------------------------------------------------------------ the whole flow


async def test_vens_with_their_own_certificates_register_opt_in_and_report(vtn: OpenLEADRVTN, pki: Pki) -> None:
    """Three VENs (RSA, ECDSA, RSA with an encrypted key) with client certificates from one CA,
    mutual TLS and signatures both ways: registration, an event and its optIn, reports."""
    seen: list[tuple[str, str]] = []

    def on_event(ven: Ven, event: dict[str, Any]) -> str:
        seen.append((ven.name, event["event_id"]))
        return "optIn"

    readings = iter(range(10_000))
    fleet = make_fleet(vtn, pki)
    fleet.add_handler("on_event", on_event)
    fleet.add_report(lambda ven: float(next(readings)), "meter", "voltage", sampling_rate=timedelta(seconds=1))
    vens = {name: add_ven(fleet, pki.vens[name]) for name in VEN_NAMES}
    async with fleet:
        await vtn.wait_for(lambda: all(v.registered for v in vens.values()), timeout=DEADLINE)
        events = {}
        for name, ven in vens.items():
            assert ven.ven_id == vtn.registrations[name]
            events[name] = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level",
                                         intervals=intervals())
        await vtn.wait_for(
            lambda: len(vtn.opt_answers) == 3
            and {r.ven_id for r in vtn.reports} == set(vtn.registrations.values())
            and {r.fingerprint for r in vtn.received if r.message_type == "oadrPoll"}
            == {pki.vens[name].fingerprint for name in VEN_NAMES},
            timeout=DEADLINE,
        )

    assert {(a.ven_id, a.event_id, a.opt_type) for a in vtn.opt_answers} == {
        (vens[name].ven_id, events[name], "optIn") for name in VEN_NAMES
    }
    assert sorted(seen) == sorted(events.items())
    assert all(r.resource_id == "meter" for r in vtn.reports)
    assert {r.fingerprint for r in vtn.received} == {pki.vens[name].fingerprint for name in VEN_NAMES}
    for name in VEN_NAMES:
        creds = pki.vens[name]
        mine = from_cert(vtn, creds)
        # Every message over a connection with a VEN's certificate is that VEN's, and signed by it:
        # VENs with different certificates never share a connection.
        assert {v.decode() for r in mine for v in _VEN_ID.findall(r.body)} == {vens[name].ven_id}, name
        assert {v.decode() for r in mine for v in _VEN_NAME.findall(r.body)} == {name}, name
        assert {signer_fingerprint(r.body) for r in mine} == {creds.fingerprint}, name
        kinds = {r.message_type for r in mine}
        assert {"oadrQueryRegistration", "oadrCreatePartyRegistration", "oadrPoll", "oadrCreatedEvent",
                "oadrRegisterReport", "oadrUpdateReport"} <= kinds, (name, kinds)
    # OpenLEADR verified every signature and accepted every message.
    for r in vtn.received:
        assert r.status == 200, (r.message_type, r.status, r.answer)
        assert set(response_codes(r.answer)) <= {200}, (r.message_type, r.answer)
    assert vtn.refused == []


async def test_openadr_client_with_cert_key_and_fingerprint(vtn: OpenLEADRVTN, pki: Pki) -> None:
    """``fleetven.OpenADRClient`` used exactly as OpenLEADR's client, over mutual TLS and signing."""
    received: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> str:
        received.append(event)
        return "optIn"

    creds = pki.vens["site-2"]
    client = OpenADRClient(ven_name="site-2", vtn_url=vtn.url, cert=str(creds.cert), key=str(creds.key),
                           ca_file=str(pki.ca.cert), vtn_fingerprint=vtn.fingerprint, show_fingerprint=False)
    client.add_handler("on_event", on_event)
    client.add_report(callback=lambda: 230.0, resource_id="meter", measurement="voltage",
                      sampling_rate=timedelta(seconds=1))
    await client.run()
    try:
        assert client.ven_id == vtn.registrations["site-2"]
        event_id = vtn.add_event(client.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: vtn.opt_answers and vtn.reports, timeout=DEADLINE)
    finally:
        await client.stop()
    assert [(a.event_id, a.opt_type) for a in vtn.opt_answers] == [(event_id, "optIn")]
    assert received[0]["event_descriptor"]["event_id"] == event_id
    assert vtn.reports[0].value == 230.0
    assert {r.fingerprint for r in vtn.received} == {creds.fingerprint}
    assert {signer_fingerprint(r.body) for r in vtn.received} == {creds.fingerprint}
    assert all(r.status == 200 and set(response_codes(r.answer)) <= {200} for r in vtn.received)


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
async def test_certification_mode_with_a_ca_trusted_vtn_signature(pki: Pki, kind: str) -> None:
    """``tls_mode="certification"``: TLS 1.2 with one of the two OpenADR suites; the VTN's signing
    certificate is trusted because the CA file issued it (no fingerprint)."""
    if kind == "ecdsa":  # ECDHE-ECDSA-AES128-SHA256 needs an ECDSA server certificate
        server, ciphers, suite, creds = pki.vtn_ec, None, "ECDHE-ECDSA-AES128-SHA256", pki.vens["site-2"]
    else:  # AES128-SHA256 (RSA key exchange), which the server must be told to allow
        server, ciphers, suite, creds = pki.vtn, "AES128-SHA256", "AES128-SHA256", pki.vens["site-1"]
    async with secure_vtn(pki, server=server, ciphers=ciphers) as vtn:
        fleet = make_fleet(vtn, pki, vtn_fingerprint=None, tls_mode="certification")
        fleet.add_handler("on_event", lambda ven, event: "optIn")
        ven = add_ven(fleet, creds)
        async with fleet:
            await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
            assert ven.ven_id is not None
            event_id = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
            await vtn.wait_for(lambda: vtn.opt_answers, timeout=DEADLINE)
    assert [(a.ven_id, a.event_id, a.opt_type) for a in vtn.opt_answers] == [(ven.ven_id, event_id, "optIn")]
    assert {(r.tls_version, r.cipher) for r in vtn.received} == {("TLSv1.2", suite)}


# ------------------------------------------------------------------ refusals by the VTN


async def test_a_client_certificate_from_another_ca_is_refused(
    vtn: OpenLEADRVTN, pki: Pki, warnings_log: pytest.LogCaptureFixture
) -> None:
    fleet = make_fleet(vtn, pki)
    good = add_ven(fleet, pki.vens["site-1"])
    rogue = add_ven(fleet, pki.rogue, name="site-2")  # a name the VTN knows, with a certificate it cannot trust
    async with fleet:
        await vtn.wait_for(lambda: rogue.registered or (good.registered and warned(warnings_log, "site-2")()),
                           timeout=DEADLINE)
        assert not rogue.registered, "a client certificate of another CA got through"
        assert rogue.state == "registering"  # still trying, with backoff
    assert "site-2" not in vtn.registrations
    assert rogue.ven_id is None
    # The TLS handshake failed: no request from it reached the VTN at all.
    assert from_cert(vtn, pki.rogue) == []
    assert not [r for r in vtn.received if b"site-2" in r.body]
    assert {r.fingerprint for r in vtn.received} == {pki.vens["site-1"].fingerprint}


async def test_a_client_certificate_the_vtn_does_not_know_is_refused(vtn: OpenLEADRVTN, pki: Pki) -> None:
    fleet = make_fleet(vtn, pki)
    good = add_ven(fleet, pki.vens["site-1"])
    stranger = add_ven(fleet, pki.unknown, name="site-3")  # the CA's, but not site-3's certificate
    async with fleet:
        await vtn.wait_for(lambda: stranger.registered or (good.registered and vtn.refused.count("site-3") >= 2),
                           timeout=DEADLINE)
        assert not stranger.registered, "a client certificate the VTN does not know got through"
        assert stranger.state == "registering"  # refused, and retried
    assert "site-3" not in vtn.registrations
    assert stranger.ven_id is None
    attempts = from_cert(vtn, pki.unknown)
    assert attempts, "the stranger's registrations never reached the VTN"
    # It got as far as asking to register, no further; OpenLEADR answered without a venID.
    assert {r.message_type for r in attempts} <= {"oadrQueryRegistration", "oadrCreatePartyRegistration"}
    assert not [r.answer for r in attempts if _VEN_ID.search(r.answer.encode())]


# ------------------------------------------------------------------ refusals by the VEN


@pytest.mark.parametrize("trust", ["fingerprint", "ca_file"])
async def test_a_vtn_signing_with_another_certificate_is_refused_by_the_ven(
    pki: Pki, warnings_log: pytest.LogCaptureFixture, trust: str
) -> None:
    """The VTN's TLS certificate is fine, but it signs with a certificate the VEN does not trust:
    another fingerprint than the one configured, or (without a fingerprint) not issued by the CA file."""
    if trust == "fingerprint":
        vtn_cm = secure_vtn(pki)
        options: dict[str, Any] = {"vtn_fingerprint": pki.unknown.fingerprint}
    else:
        vtn_cm = secure_vtn(pki, signer=pki.rogue_signer)
        options = {"vtn_fingerprint": None, "require_vtn_signature": True}
    async with vtn_cm as vtn:
        fleet = make_fleet(vtn, pki, **options)
        ven = add_ven(fleet, pki.vens["site-1"])
        async with fleet:
            await vtn.wait_for(
                lambda: ven.registered or (
                    warned(warnings_log, "site-1", "not trusted")()
                    and len([r for r in vtn.received if r.message_type == "oadrQueryRegistration"]) >= 2
                ),
                timeout=DEADLINE,
            )
            assert not ven.registered, "the VEN accepted a VTN whose signing certificate it should not trust"
            assert ven.state == "registering"  # refused, and retried
        assert "site-1" not in vtn.registrations
        assert ven.ven_id is None
        # The VEN went no further than the query whose signed answer it refused.
        assert {r.message_type for r in vtn.received} == {"oadrQueryRegistration"}
        assert {r.fingerprint for r in vtn.received} == {pki.vens["site-1"].fingerprint}


# ------------------------------------------------------------------ tampered messages


async def test_a_tampered_vtn_message_reaches_no_handler(
    vtn: OpenLEADRVTN, pki: Pki, warnings_log: pytest.LogCaptureFixture
) -> None:
    """OpenLEADR signs an oadrDistributeEvent, then the payload is changed: the VEN refuses it."""
    tampered: list[bool] = []  # one per oadrDistributeEvent: whether it was signed and could be altered

    def tamper(message_type: str, text: str) -> str:
        if message_type != "oadrDistributeEvent":
            return text
        changed = text.replace("<ei:value>1.0</ei:value>", "<ei:value>9.0</ei:value>")
        tampered.append(changed != text and "SignatureValue" in text)
        return changed

    seen: list[tuple[str, Any]] = []

    def on_event(ven: Ven, event: dict[str, Any]) -> str:
        seen.append((event["event_id"], event["event_signals"][0]["intervals"][0]["signal_payload"]))
        return "optIn"

    fleet = make_fleet(vtn, pki)
    fleet.add_handler("on_event", on_event)
    fleet.add_handler("on_update_event", on_event)
    ven = add_ven(fleet, pki.vens["site-2"])
    async with fleet:
        # Registered and polling: from now on the VTN's events come in answer to a poll.
        await vtn.wait_for(lambda: ven.registered and [r for r in from_cert(vtn, pki.vens["site-2"])
                                                       if r.message_type == "oadrPoll"], timeout=DEADLINE)
        assert ven.ven_id is not None
        vtn.rewrite_outgoing = tamper
        first = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals(1.0))
        await vtn.wait_for(
            lambda: False in tampered or (
                warned(warnings_log, "site-2", "digest")()
                and any(463 in response_codes(r.body) for r in from_cert(vtn, pki.vens["site-2"])
                        if r.message_type == "oadrResponse")
            ),
            timeout=DEADLINE,
        )
        assert tampered and all(tampered), "OpenLEADR's oadrDistributeEvent was unsigned or had no value 1.0"
        assert seen == [] and first not in ven.events and vtn.opt_answers == []
        # Untampered again: the next oadrDistributeEvent (OpenLEADR sends every event of the VEN) is taken.
        vtn.rewrite_outgoing = None
        second = vtn.add_event(ven.ven_id, signal_name="simple", signal_type="level", intervals=intervals(1.0))
        await vtn.wait_for(lambda: {a.event_id for a in vtn.opt_answers} == {first, second}, timeout=DEADLINE)
    assert sorted(seen) == sorted([(first, 1.0), (second, 1.0)])  # 9.0 never reached a handler
    assert ven.registered


async def test_a_tampered_ven_message_is_refused_by_the_vtn(vtn: OpenLEADRVTN, pki: Pki) -> None:
    """A fleetven-signed oadrCreatedEvent whose signed object is changed after signing: OpenLEADR refuses it."""
    creds = pki.vens["site-1"]
    fleet = make_fleet(vtn, pki)
    ven = add_ven(fleet, creds)
    async with fleet:
        await vtn.wait_for(lambda: ven.registered, timeout=DEADLINE)
    ven_id = ven.ven_id
    assert ven_id is not None
    # Two events the VEN never saw (the fleet has stopped); we answer them ourselves, as site-1.
    genuine = vtn.add_event(ven_id, signal_name="simple", signal_type="level", intervals=intervals())
    altered = vtn.add_event(ven_id, signal_name="simple", signal_type="level", intervals=intervals())
    key = load_signing_key(str(creds.cert), str(creds.key), creds.passphrase)

    def created_event(event_id: str) -> bytes:
        msg = m.CreatedEvent(
            response=m.Response(response_code=200, response_description="OK", request_id="req-1"),
            ven_id=ven_id,
            event_responses=[m.EventResponse(response_code=200, request_id="req-1", event_id=event_id,
                                             modification_number=0, opt_type="optIn")],
        )
        return sign_message(msg, key)

    good = created_event(genuine)
    bad = created_event(altered)
    assert bad.count(b"optIn") == 1
    bad = bad.replace(b"optIn", b"optOut")  # inside oadrSignedObject, after signing

    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(creds.cert), str(creds.key), creds.passphrase)
    async with aiohttp.ClientSession() as session:

        async def post(body: bytes) -> tuple[int, str]:
            async with session.post(f"{vtn.url}/EiEvent", data=body, ssl=context,
                                    headers={"Content-Type": "application/xml"}) as reply:
                return reply.status, await reply.text()

        status, answer = await post(good)
        assert status == 200 and response_codes(answer) == [200], answer
        await vtn.wait_for(lambda: vtn.opt_answers, timeout=DEADLINE)
        status, answer = await post(bad)

    assert status != 200 or set(response_codes(answer)) - {200}, f"OpenLEADR accepted a tampered message: {answer}"
    assert [(a.event_id, a.opt_type) for a in vtn.opt_answers] == [(genuine, "optIn")]


# ------------------------------------------------------------------ the certificate helper


def test_certificate_helper_makes_what_openleadr_and_fleetven_read(pki: Pki, tmp_path: Path) -> None:
    """``fleetven.testing.certs``: fingerprints as OpenLEADR computes them, a chain to the CA,
    the VTN's names, encrypted keys, and RSA and ECDSA keys of the sizes asked for."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from openleadr.utils import certificate_fingerprint

    from fleetven.signing import fingerprint

    for creds in (pki.vtn, pki.vtn_ec, *pki.vens.values(), pki.unknown):
        pem = creds.cert.read_text()
        assert creds.fingerprint == certificate_fingerprint(pem) == fingerprint(str(creds.cert))
        creds.certificate.verify_directly_issued_by(pki.ca.certificate)
        with pytest.raises(InvalidSignature):  # same CA name, other key
            creds.certificate.verify_directly_issued_by(pki.other_ca.certificate)
    names = pki.vtn.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert isinstance(pki.vens["site-1"].certificate.public_key(), rsa.RSAPublicKey)
    assert isinstance(pki.vens["site-2"].certificate.public_key(), ec.EllipticCurvePublicKey)
    assert b"ENCRYPTED" in pki.vens["site-3"].key.read_bytes()
    # What ssl reads: the encrypted key with its passphrase, and a server context for the VTN.
    ssl.create_default_context().load_cert_chain(str(pki.vens["site-3"].cert), str(pki.vens["site-3"].key), "s3cret")
    with pytest.raises(ssl.SSLError):
        ssl.create_default_context().load_cert_chain(str(pki.vens["site-3"].cert), str(pki.vens["site-3"].key), "no")
    big = CertificateAuthority.create(tmp_path, key_type="ec", key_size=384).issue_client("x", key_type="rsa",
                                                                                         key_size=3072)
    assert big.certificate.public_key().key_size == 3072  # type: ignore[union-attr]
    assert oct(big.key.stat().st_mode & 0o777) == "0o600"
