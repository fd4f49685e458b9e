"""``fleetven.OpenADRClient`` driven exactly as OpenLEADR 0.5.36 users drive their client.

Each test is written the way an OpenLEADR user's code reads (the handler takes the event
dict, the options are OpenLEADR's), against :class:`fleetven.testing.TestVTN`; the same
cases against OpenLEADR's own VTN are in ``tests/interop/test_openleadr_drop_in.py``. The
``Fleet`` twins check that fleet users get the same behaviour through their handlers.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _helpers import Charger, event_for

from fleetven import OpenADRClient
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.openadr import model as m
from fleetven.signing import Verifier
from fleetven.testing import TestVTN
from fleetven.testing.certs import CertificateAuthority, Credentials

UTC = timezone.utc
DEADLINE = 15.0


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(seconds=1)) as v:
        yield v


def answers(vtn: TestVTN, event_id: str) -> list[m.EventResponse]:
    return [r for _, r in vtn.event_responses if r.event_id == event_id]


# ------------------------------------------------------- 1. implied cancellation


async def test_implied_cancel_reaches_on_update_event_as_a_cancellation(vtn: TestVTN) -> None:
    """OpenLEADR user code: a charger curtails on optIn and stops when the event is cancelled."""
    charger = Charger()
    client = OpenADRClient(ven_name="charger-1", vtn_url=vtn.url)
    client.add_handler("on_event", charger.on_event)
    client.add_handler("on_update_event", charger.on_update_event)
    await client.run()
    try:
        ven_id = client.ven_id
        assert ven_id is not None and client.registration_id is not None
        vtn.add_event(ven_id, event_for("ev-a"))
        vtn.add_event(ven_id, event_for("ev-b"))
        await vtn.wait_for(lambda: answers(vtn, "ev-a") and answers(vtn, "ev-b"), timeout=DEADLINE)
        assert charger.curtailing == {"ev-a": True, "ev-b": True}
        sent = len(vtn.event_responses)
        vtn.remove_event(ven_id, "ev-a")  # the 2.0b way to cancel: leave it out (rule 61)
        await vtn.wait_for(lambda: charger.updates, timeout=DEADLINE)
        await vtn.wait_for(lambda: "ev-a" not in {e["event_descriptor"]["event_id"] for e in client.received_events},
                           timeout=DEADLINE)
    finally:
        await client.stop()
    assert charger.curtailing == {"ev-a": False, "ev-b": True}
    [update] = charger.updates
    assert update["event_descriptor"]["event_status"] == "cancelled"
    assert update["event_descriptor"]["event_id"] == "ev-a"
    assert update["event_descriptor"]["modification_number"] == 0
    assert update["event_status"] == "cancelled"
    # The same dict shape as the event had (and as an explicit cancellation carries).
    [first] = [e for e in charger.firsts if e["event_descriptor"]["event_id"] == "ev-a"]
    assert set(update) == set(first) and set(update["event_descriptor"]) == set(first["event_descriptor"])
    assert first["event_descriptor"]["event_status"] != "cancelled"  # the first copy is left as it was
    # The VTN asked nothing: the handler's answer went nowhere (ev-b is answered again, as always).
    assert [r.event_id for _, r in vtn.event_responses[sent:]] == ["ev-b"] * (len(vtn.event_responses) - sent)


async def test_implied_cancel_of_an_explicitly_cancelled_event_is_not_told_twice(vtn: TestVTN) -> None:
    statuses: list[str] = []

    def on_update_event(event: dict[str, Any]) -> str:
        statuses.append(event["event_descriptor"]["event_status"])
        return "optOut"

    client = OpenADRClient(ven_name="charger-2", vtn_url=vtn.url)
    client.add_handler("on_event", lambda event: "optIn")
    client.add_handler("on_update_event", on_update_event)
    await client.run()
    try:
        assert client.ven_id is not None
        vtn.add_event(client.ven_id, event_for("ev-a"))
        vtn.add_event(client.ven_id, event_for("ev-b"))
        await vtn.wait_for(lambda: answers(vtn, "ev-a"), timeout=DEADLINE)
        vtn.cancel_event(client.ven_id, "ev-a")
        await vtn.wait_for(lambda: [r for r in answers(vtn, "ev-a") if r.modification_number == 1],
                           timeout=DEADLINE)
        vtn.remove_event(client.ven_id, "ev-a")
        await vtn.wait_for(lambda: len(client.received_events) == 1, timeout=DEADLINE)
    finally:
        await client.stop()
    assert statuses == ["cancelled"]


async def test_an_event_that_ended_and_is_dropped_is_not_a_cancellation(vtn: TestVTN) -> None:
    told: list[str] = []
    client = OpenADRClient(ven_name="charger-3", vtn_url=vtn.url)
    client.add_handler("on_event", lambda event: "optIn")
    client.add_handler("on_update_event", lambda event: told.append(event["event_descriptor"]["event_id"]) or "optIn")
    await client.run()
    try:
        assert client.ven_id is not None
        past = datetime.now(UTC) - timedelta(hours=2)
        vtn.add_event(client.ven_id, event_for("ev-old", start=past, duration=timedelta(minutes=30)))
        vtn.add_event(client.ven_id, event_for("ev-b"))
        await vtn.wait_for(lambda: len(client.received_events) == 2, timeout=DEADLINE)
        vtn.remove_event(client.ven_id, "ev-old")
        await vtn.wait_for(lambda: len(client.received_events) == 1, timeout=DEADLINE)
    finally:
        await client.stop()
    assert told == []


async def test_fleet_on_update_event_hears_of_implied_cancels_and_a_raising_one_harms_nobody(
    vtn: TestVTN, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = Fleet(vtn.url, seed=1, backoff_base=0.01, backoff_cap=0.05, handler_timeout=5.0)
    told: list[tuple[str, str, str]] = []
    statuses: list[tuple[str, str]] = []

    def on_update_event(ven: Ven, event: m.Event) -> str:
        told.append((ven.name, event["event_id"], event["event_status"]))
        if ven.name == "site-bad":
            raise RuntimeError("charger unreachable")
        return "optIn"

    fleet.add_handler("on_event", lambda ven, event: "optIn")
    fleet.add_handler("on_update_event", on_update_event)
    fleet.add_handler("on_event_status", lambda ven, event, status: statuses.append((ven.name, status)))
    good, bad = fleet.add_ven("site-good"), fleet.add_ven("site-bad")
    async with fleet:
        await vtn.wait_for(lambda: good.registered and bad.registered, timeout=DEADLINE)
        for ven in (good, bad):
            assert ven.ven_id is not None
            vtn.add_event(ven.ven_id, event_for("ev-a"))
        await vtn.wait_for(lambda: len(answers(vtn, "ev-a")) == 2, timeout=DEADLINE)
        with caplog.at_level(logging.ERROR, logger="fleetven"):
            for ven in (good, bad):
                assert ven.ven_id is not None
                vtn.remove_event(ven.ven_id, "ev-a")
            await vtn.wait_for(lambda: len(statuses) == 2, timeout=DEADLINE)
        assert good.state == bad.state == "registered"
    assert sorted(told) == [("site-bad", "ev-a", "cancelled"), ("site-good", "ev-a", "cancelled")]
    assert sorted(statuses) == [("site-bad", "cancelled"), ("site-good", "cancelled")]
    [record] = [r for r in caplog.records if "implied cancellation" in r.getMessage()]
    assert "site-bad" in record.getMessage() and record.exc_info is not None


# ------------------------------------------------------- 3. signing options


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Credentials | CertificateAuthority]:
    ca = CertificateAuthority.create(tmp_path_factory.mktemp("pki"), key_type="ec")
    return {"ca": ca, "vtn": ca.issue_server("vtn"), "ven": ca.issue_client("ven-1")}


def server_context(pki: dict[str, Any]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["vtn"].cert, pki["vtn"].key)
    ctx.load_verify_locations(cafile=pki["ca"].cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def tls_options(pki: dict[str, Any]) -> dict[str, Any]:
    """What an OpenLEADR user passes for a VEN that signs over mutual TLS, without vtn_fingerprint."""
    return {"cert": str(pki["ven"].cert), "key": str(pki["ven"].key), "ca_file": str(pki["ca"].cert),
            "show_fingerprint": False}


async def test_cert_key_and_ca_file_without_a_fingerprint_register_with_a_vtn_that_does_not_sign(
    pki: dict[str, Any]
) -> None:
    verifier = Verifier(ca_file=pki["ca"].cert)  # the VTN checks the VEN's signatures; it signs nothing itself
    async with TestVTN(poll_freq=timedelta(seconds=1), ssl=server_context(pki), verifier=verifier) as vtn:
        client = OpenADRClient(ven_name="signed-ven", vtn_url=vtn.url, **tls_options(pki))
        client.add_handler("on_event", lambda event: "optIn")
        await client.run()
        try:
            assert client.registration_id is not None, "the VEN did not register"
            assert client.ven_id is not None
            vtn.add_event(client.ven_id, event_for("ev-1"))
            await vtn.wait_for(lambda: answers(vtn, "ev-1"), timeout=DEADLINE)
        finally:
            await client.stop()
    assert vtn.errors == []  # every VEN message was signed, and verified by the VTN
    assert [r.opt_type for r in answers(vtn, "ev-1")] == ["optIn"]


async def test_requiring_signed_replies_is_explicit_and_its_refusal_is_one_clear_error(
    pki: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with TestVTN(poll_freq=timedelta(seconds=1), ssl=server_context(pki)) as vtn:
        client = OpenADRClient(ven_name="strict-ven", vtn_url=vtn.url, registration_timeout=0.5,
                               vtn_fingerprint=pki["vtn"].fingerprint, backoff_base=0.01, backoff_cap=0.02,
                               **tls_options(pki))
        with caplog.at_level(logging.DEBUG, logger="fleetven"):
            await client.run()
            try:
                await vtn.wait_for(lambda: len([r for r in vtn.received
                                                if isinstance(r.message, m.QueryRegistration)]) >= 5,
                                   timeout=DEADLINE)
            finally:
                await client.stop()
    assert client.registration_id is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("fleetven")]
    [error] = errors  # once per cause, however often it is retried
    text = error.getMessage()
    assert "strict-ven" in text and "not signed" in text and "vtn_fingerprint" in text
    noisy = [r for r in caplog.records if r.levelno == logging.WARNING and "registration failed" in r.getMessage()]
    assert noisy == []  # not an endless loop of warnings that look like a network problem


def test_fleet_and_client_give_the_signing_options_the_same_meaning(pki: dict[str, Any]) -> None:
    options = {k: v for k, v in tls_options(pki).items() if k != "show_fingerprint"}
    for require in (False, True):
        fleet = Fleet("https://127.0.0.1:9/x", require_vtn_signature=require, **options)
        client = OpenADRClient("v", "https://127.0.0.1:9/x", require_vtn_signature=require, show_fingerprint=False,
                               **options)
        fleet_verifier, client_verifier = fleet.verifier, client.fleet.verifier
        assert (fleet_verifier is None) == (client_verifier is None) == (not require)


# ------------------------------------------------------- the rest of the surface


class SubclassedClient(OpenADRClient):
    """OpenLEADR users may define the handlers as methods of a subclass."""

    seen: list[str]

    async def on_event(self, event: dict[str, Any]) -> str:  # type: ignore[override]
        self.seen.append(event["event_descriptor"]["event_id"])
        return "optIn"


async def test_handlers_by_subclass_and_by_assignment(vtn: TestVTN) -> None:
    subclassed = SubclassedClient(ven_name="sub", vtn_url=vtn.url)
    subclassed.seen = []
    assigned = OpenADRClient(ven_name="assigned", vtn_url=vtn.url)
    got: list[str] = []
    assigned.on_event = lambda event: got.append(event["event_descriptor"]["event_id"]) or "optIn"
    assert assigned.on_event is not None
    for client in (subclassed, assigned):
        await client.run()
    try:
        for client in (subclassed, assigned):
            assert client.ven_id is not None
            vtn.add_event(client.ven_id, event_for(f"ev-{client.ven_name}"))
        await vtn.wait_for(lambda: answers(vtn, "ev-sub") and answers(vtn, "ev-assigned"), timeout=DEADLINE)
        assert subclassed.responded_events == {"ev-sub": "optIn"}
    finally:
        for client in (subclassed, assigned):
            await client.stop()
    assert subclassed.seen == ["ev-sub"] and got == ["ev-assigned"]
    assert [r.opt_type for r in answers(vtn, "ev-sub") + answers(vtn, "ev-assigned")] == ["optIn", "optIn"]


async def test_events_for_a_declared_group_or_a_reported_resource_reach_on_event(vtn: TestVTN) -> None:
    seen: list[str] = []
    client = OpenADRClient(ven_name="grouped", vtn_url=vtn.url, group_ids=["north"])
    client.add_handler("on_event", lambda event: seen.append(event["event_descriptor"]["event_id"]) or "optIn")
    client.add_report(callback=lambda: 1.0, resource_id="charger-7", measurement="voltage")
    await client.run()
    try:
        assert client.ven_id is not None
        for event_id, target in (("ev-group", {"group_id": "north"}), ("ev-res", {"resource_id": "charger-7"}),
                                 ("ev-other", {"group_id": "south"})):
            event = event_for(event_id)
            event["targets"] = [target]
            event["targets_by_type"] = {k: [v] for k, v in target.items()}
            vtn.add_event(client.ven_id, event)
        await vtn.wait_for(lambda: all(answers(vtn, e) for e in ("ev-group", "ev-res", "ev-other")), timeout=DEADLINE)
    finally:
        await client.stop()
    assert sorted(seen) == ["ev-group", "ev-res"]
    assert answers(vtn, "ev-other")[0].response_code == 462  # not for this VEN (rule 22)


async def test_measurement_is_a_dict_as_in_openleadr(vtn: TestVTN) -> None:
    seen: list[dict[str, Any]] = []
    client = OpenADRClient(ven_name="priced", vtn_url=vtn.url)
    client.add_handler("on_event", lambda event: seen.append(event) or "optIn")
    await client.run()
    try:
        assert client.ven_id is not None
        event = event_for("ev-price")
        event["event_signals"][0]["measurement"] = m.Measurement(name="currency", description="currency",
                                                                 unit="USD", scale="none")
        vtn.add_event(client.ven_id, event)
        await vtn.wait_for(lambda: seen, timeout=DEADLINE)
        assert client.received_events[0]["event_signals"][0]["measurement"]["unit"] == "USD"
    finally:
        await client.stop()
    measurement = seen[0]["event_signals"][0]["measurement"]
    assert isinstance(measurement, dict) and measurement["unit"] == "USD" and measurement["name"] == "currency"


async def test_create_opt_refuses_bad_input_before_sending_and_cancel_opt_an_unknown_opt(vtn: TestVTN) -> None:
    client = OpenADRClient(ven_name="opting", vtn_url=vtn.url)
    await client.run()
    try:
        window = {"components": [{"dtstart": datetime.now(UTC), "duration": timedelta(hours=1)}]}
        with pytest.raises(ValueError, match="opt_type"):
            await client.create_opt("maybe", "economic", vavailability=window)
        with pytest.raises(ValueError, match="opt_reason"):
            await client.create_opt("optOut", "because", vavailability=window)
        with pytest.raises(ValueError, match="either event_id"):
            await client.create_opt("optOut", "economic")
        assert vtn.opts == []
        assert await client.cancel_opt("never-made") is False
        assert vtn.opts == []
        opt_id = await client.create_opt("optOut", "economic", vavailability=window)
        assert isinstance(opt_id, str)
        assert await client.cancel_opt(opt_id) is True
    finally:
        await client.stop()
    assert [type(o).__name__ for _, o in vtn.opts] == ["CreateOpt", "CancelOpt"]


async def test_cancel_party_registration_and_the_registration_log_line(
    vtn: TestVTN, caplog: pytest.LogCaptureFixture
) -> None:
    client = OpenADRClient(ven_name="leaving", vtn_url=vtn.url)
    with caplog.at_level(logging.INFO, logger="fleetven.client"):
        await client.run()
        registration_id, ven_id = client.registration_id, client.ven_id
        try:
            await client.cancel_party_registration()
            assert client.registration_id is None and client.ven.state == "cancelled"
        finally:
            await client.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "fleetven.client"]
    assert lines[0] == f"VEN is now registered with registration ID {registration_id} and venID {ven_id}."
    assert lines[1] == "The polling frequency is 0:00:01"
    assert "VEN successfully un-registered" in lines
