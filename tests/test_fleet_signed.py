"""A fleet that signs what it sends and verifies what the VTN sends, against the TestVTN doing
the same with real certificates from a test CA (both loops)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import samples

from fleetven.exceptions import ConfigurationError, ReplayError, SignatureError
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.openadr import model as m
from fleetven.signing import Verifier, fingerprint
from fleetven.testing import TestVTN
from fleetven.testing.certs import CertificateAuthority, Credentials
from fleetven.ven.events import OPT_IN

DEADLINE = 15.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create(directory, key_type="ec")
    other = CertificateAuthority.create(directory / "other", key_type="ec")
    return {
        "ca": ca,
        "vtn": ca.issue_server("vtn"),
        "fleet": ca.issue_client("fleet-default"),
        "ven_ec": ca.issue_client("ven-ec"),
        "ven_rsa": ca.issue_client("ven-rsa", key_type="rsa"),
        "stranger": other.issue_server("stranger"),
    }


@pytest.fixture
async def vtn(pki: dict[str, Any]) -> AsyncIterator[TestVTN]:
    creds: Credentials = pki["vtn"]
    verifier = Verifier(ca_file=pki["ca"].cert)
    async with TestVTN(poll_freq=datetime.timedelta(0), cert=str(creds.cert), key=str(creds.key),
                       verifier=verifier) as v:
        yield v


def make_fleet(vtn: TestVTN, pki: dict[str, Any], **options: Any) -> Fleet:
    settings: dict[str, Any] = {
        "seed": 3,
        "poll_interval": 0.1,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "request_timeout": 5.0,
        "cert": str(pki["fleet"].cert),
        "key": str(pki["fleet"].key),
        "vtn_fingerprint": pki["vtn"].fingerprint,
    }
    settings.update(options)
    return Fleet(vtn.url, **settings)


def registered(fleet: Fleet) -> bool:
    return all(v.state == "registered" for v in fleet.vens.values())


def event(event_id: str) -> m.Event:
    ev = samples.minimal_event(event_id)
    ev["response_required"] = "always"
    ev["active_period"] = {"dtstart": datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
                           "duration": datetime.timedelta(hours=1)}
    return ev


async def test_signed_both_ways_with_own_identities(vtn: TestVTN, pki: dict[str, Any]) -> None:
    fleet = make_fleet(vtn, pki)
    seen: list[tuple[str, str]] = []

    def on_event(ven: Ven, ev: m.Event) -> str:
        seen.append((ven.name, ev["event_id"]))
        return OPT_IN

    fleet.add_handler("on_event", on_event)
    shared = fleet.add_ven("shared-identity")
    ec = fleet.add_ven("own-ec", cert=str(pki["ven_ec"].cert), key=str(pki["ven_ec"].key))
    rsa = fleet.add_ven("own-rsa", cert=str(pki["ven_rsa"].cert), key=str(pki["ven_rsa"].key))
    # Each VEN signs with its own identity; the fleet's identity is loaded once and shared.
    assert shared.signer is not None and shared.signer.fingerprint == pki["fleet"].fingerprint
    assert ec.signer is not None and ec.signer.fingerprint == pki["ven_ec"].fingerprint
    assert rsa.signer is not None and rsa.signer.fingerprint == pki["ven_rsa"].fingerprint
    assert fleet.add_ven("shared-2").signer is shared.signer
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        for ven in fleet.vens.values():
            assert ven.ven_id is not None
            vtn.add_event(ven.ven_id, event(f"ev-{ven.name}"))
        await vtn.wait_for(lambda: len(vtn.event_responses) >= len(fleet.vens), timeout=DEADLINE)
    assert sorted(seen) == sorted((name, f"ev-{name}") for name in fleet.vens)
    assert {r.opt_type for _, r in vtn.event_responses} == {OPT_IN}
    assert vtn.errors == []  # every request the VTN got was signed and verified


async def test_wrong_vtn_fingerprint_is_refused(vtn: TestVTN, pki: dict[str, Any],
                                                caplog: pytest.LogCaptureFixture) -> None:
    fleet = make_fleet(vtn, pki, vtn_fingerprint=pki["stranger"].fingerprint)
    ven = fleet.add_ven("pinned")
    with caplog.at_level(logging.WARNING, logger="fleetven"):
        async with fleet:
            queries = lambda: sum(isinstance(r.message, m.QueryRegistration) for r in vtn.received)  # noqa: E731
            await vtn.wait_for(lambda: queries() >= 3, timeout=DEADLINE)
            assert ven.state == "registering" and ven.registration_id is None
    assert not any(isinstance(r.message, m.CreatePartyRegistration) for r in vtn.received)
    refusals = [r.getMessage() for r in caplog.records if "refused a VTN message" in r.getMessage()]
    assert refusals and all("pinned" in text and "not trusted" in text for text in refusals)


async def test_unsigned_poll_reply_refused_and_answered_463(vtn: TestVTN, pki: dict[str, Any]) -> None:
    fleet = make_fleet(vtn, pki)
    seen: list[str] = []
    fleet.add_handler("on_event", lambda ven, ev: seen.append(ev["event_id"]) or OPT_IN)
    ven = fleet.add_ven("victim")
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        vtn.signer = None  # from now on the VTN's answers are unsigned
        assert ven.ven_id is not None
        vtn.add_event(ven.ven_id, event("ev-unsigned"))

        def refused() -> list[m.Response]:
            return [r.message.response for r in vtn.received
                    if isinstance(r.message, m.ResponseMessage) and r.message.response.response_code == 463]

        await vtn.wait_for(lambda: len(refused()) >= 1, timeout=DEADLINE)
    assert seen == []  # no handler saw the unverified event
    assert not vtn.event_responses
    assert "signature refused" in (refused()[0].response_description or "")


async def test_replayed_reply_refused_by_the_same_ven_only(vtn: TestVTN, pki: dict[str, Any]) -> None:
    fleet = make_fleet(vtn, pki)
    one, two = fleet.add_ven("one"), fleet.add_ven("two")
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
        assert vtn.signer is not None
        from fleetven.signing import sign_message

        body = sign_message(m.ResponseMessage(response=m.Response(response_code=200, response_description="OK"),
                                              ven_id=one.ven_id), vtn.signer)
        guard = one._shared.replay_guard()
        kept = len(guard)  # the nonces of the VTN's answers so far (no await until the count below)
        one._decode(body, 1 << 20)
        with pytest.raises(ReplayError):
            one._decode(body, 1 << 20)
        two._decode(body, 1 << 20)  # nonces are kept per VEN, never shared
        # ... in one guard for the fleet, where each VEN checks in its own scope
        assert guard is two._shared.replay_guard() and len(guard) == kept + 2
        with pytest.raises(SignatureError):
            one._decode(body.replace(b">200<", b">201<"), 1 << 20)


def test_disable_signature_sends_unsigned(pki: dict[str, Any]) -> None:
    fleet = Fleet("http://127.0.0.1:9/x", cert=str(pki["fleet"].cert), key=str(pki["fleet"].key),
                  disable_signature=True)
    assert fleet.add_ven("plain").signer is None
    assert fleet.verifier is None


def test_a_fleet_loads_each_identity_once_and_keeps_its_keys_to_itself(pki: dict[str, Any]) -> None:
    cert, key = str(pki["ven_ec"].cert), str(pki["ven_ec"].key)
    fleet = Fleet("https://127.0.0.1:9/x", cert=str(pki["fleet"].cert), key=str(pki["fleet"].key))
    a = fleet.add_ven("a", cert=cert, key=key).signer
    assert a is not None and fleet.add_ven("b", cert=cert, key=key).signer is a  # one load for both VENs
    other = Fleet("https://127.0.0.1:9/x", cert=str(pki["fleet"].cert), key=str(pki["fleet"].key))
    b = other.add_ven("a", cert=cert, key=key).signer
    assert b is not None and b is not a and b.fingerprint == a.fingerprint  # no cache shared between fleets


def test_ca_file_alone_asks_for_no_signatures_require_vtn_signature_does(pki: dict[str, Any]) -> None:
    ca = str(pki["ca"].cert)
    # As in OpenLEADR: ca_file is the TLS trust anchor; signing VENs do not make VTN replies need signatures.
    signing = Fleet("https://127.0.0.1:9/x", cert=str(pki["fleet"].cert), key=str(pki["fleet"].key), ca_file=ca)
    signing.add_ven("own", cert=str(pki["ven_ec"].cert), key=str(pki["ven_ec"].key))
    assert signing.verifier is None
    required = Fleet("https://127.0.0.1:9/x", ca_file=ca, require_vtn_signature=True)
    assert required.verifier is not None and required.verifier.ca_file == ca
    pinned = Fleet("https://127.0.0.1:9/x", ca_file=ca, vtn_fingerprint=pki["vtn"].fingerprint)
    assert pinned.verifier is not None and pinned.verifier.fingerprint == pki["vtn"].fingerprint
    with pytest.raises(ConfigurationError, match="require_vtn_signature needs vtn_fingerprint or ca_file"):
        Fleet("https://127.0.0.1:9/x", require_vtn_signature=True)


def test_unreadable_or_expired_certificate_fails_at_start_up(pki: dict[str, Any], tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        Fleet("http://127.0.0.1:9/x", cert=str(tmp_path / "missing.pem"), key=str(pki["fleet"].key))
    old = pki["ca"].issue_client(
        "old", valid_for=datetime.timedelta(days=1),
        not_valid_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3),
    )
    fleet = Fleet("http://127.0.0.1:9/x")
    with pytest.raises(ConfigurationError, match="expired"):
        fleet.add_ven("old", cert=str(old.cert), key=str(old.key))
    assert "old" not in fleet.vens


def test_certificate_about_to_expire_warns_naming_the_ven(pki: dict[str, Any],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    soon = pki["ca"].issue_client("soon", valid_for=datetime.timedelta(days=3))
    fleet = Fleet("http://127.0.0.1:9/x")
    with caplog.at_level(logging.WARNING, logger="fleetven"):
        fleet.add_ven("site-soon", cert=str(soon.cert), key=str(soon.key))
    assert any("site-soon" in r.getMessage() and "expire" in r.getMessage() for r in caplog.records)


def test_fingerprint_shown_by_openadr_client(pki: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from fleetven import OpenADRClient

    OpenADRClient("ven", "http://127.0.0.1:9/x", cert=str(pki["fleet"].cert), key=str(pki["fleet"].key))
    assert fingerprint(pki["fleet"].cert.read_bytes()) in capsys.readouterr().out


async def test_verifying_vtn_refuses_unsigned_requests(vtn: TestVTN, pki: dict[str, Any]) -> None:
    fleet = make_fleet(vtn, pki, disable_signature=True)
    ven = fleet.add_ven("unsigned")
    async with fleet:
        await vtn.wait_for(lambda: len(vtn.errors) >= 2, timeout=DEADLINE)
        assert ven.state == "registering"
    assert all(isinstance(err, SignatureError) for _, err in vtn.errors)
    assert not vtn.registrations


async def test_registration_announces_xml_signature(vtn: TestVTN, pki: dict[str, Any]) -> None:
    fleet = make_fleet(vtn, pki)
    fleet.add_ven("announcer")
    async with fleet:
        await vtn.wait_for(lambda: registered(fleet), timeout=DEADLINE)
    assert [reg.xml_signature for _, reg in vtn.registrations] == [True]
