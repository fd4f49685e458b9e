"""``fleetven.OpenADRClient`` against OpenLEADR 0.5.36's own VTN, driven as OpenLEADR users drive
their client: the drop-in cases that break user code (see also ``tests/test_drop_in.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _helpers import Charger

from fleetven import OpenADRClient
from fleetven.testing.certs import CertificateAuthority, Credentials
from fleetven.testing.openleadr import OpenLEADRVTN

UTC = timezone.utc
DEADLINE = 30.0


def intervals() -> list[dict[str, Any]]:
    start = datetime.now(UTC) + timedelta(minutes=5)
    return [{"dtstart": start, "duration": timedelta(minutes=30), "signal_payload": 1.0}]


@pytest.fixture
async def vtn() -> AsyncIterator[OpenLEADRVTN]:
    async with OpenLEADRVTN(poll_freq=timedelta(seconds=1), report_sampling=None) as v:
        yield v


async def test_an_event_the_vtn_stops_listing_reaches_on_update_event_as_cancelled(vtn: OpenLEADRVTN) -> None:
    charger = Charger()
    client = OpenADRClient(ven_name="charger-1", vtn_url=vtn.url)
    client.add_handler("on_event", charger.on_event)
    client.add_handler("on_update_event", charger.on_update_event)
    await client.run()
    try:
        assert client.ven_id is not None
        first = vtn.add_event(client.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: len(vtn.opt_answers) == 1, timeout=DEADLINE)
        vtn.remove_event(client.ven_id, first)
        # OpenLEADR's VTN sends a distribution only while the VEN has some event: the next one
        # leaves the first out.
        second = vtn.add_event(client.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
        await vtn.wait_for(lambda: charger.updates and len(vtn.opt_answers) >= 2, timeout=DEADLINE)
    finally:
        await client.stop()
    assert charger.curtailing == {first: False, second: True}
    [update] = charger.updates
    assert update["event_descriptor"]["event_id"] == first
    assert update["event_descriptor"]["event_status"] == "cancelled"
    # The VTN asked nothing about the first event after it stopped listing it.
    assert [a.event_id for a in vtn.opt_answers] == [first] + [second] * (len(vtn.opt_answers) - 1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Credentials | CertificateAuthority]:
    root = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create(root / "ca", key_type="ec")
    other = CertificateAuthority.create(root / "other", key_type="ec")
    return {"ca": ca, "vtn": ca.issue_server("vtn"), "ven": ca.issue_client("ven-1"),
            "outside": other.issue_server("signer")}


@pytest.mark.parametrize("vtn_signs_with", ["nothing", "a certificate from another CA"])
async def test_cert_key_and_ca_file_without_vtn_fingerprint_register_as_with_openleadr(
    pki: dict[str, Any], vtn_signs_with: str
) -> None:
    """OpenLEADR's client checks VTN signatures only when given vtn_fingerprint; ca_file is the
    TLS trust anchor. The same options must register with fleetven."""
    signer = pki["outside"] if vtn_signs_with != "nothing" else None
    ven = pki["ven"]
    async with OpenLEADRVTN(
        poll_freq=timedelta(seconds=1), report_sampling=None,
        http_cert=pki["vtn"].cert, http_key=pki["vtn"].key, http_ca_file=pki["ca"].cert,
        cert=signer.cert if signer else None, key=signer.key if signer else None,
        ven_fingerprints={"signed-ven": ven.fingerprint},
    ) as vtn:
        client = OpenADRClient(ven_name="signed-ven", vtn_url=vtn.url, cert=str(ven.cert), key=str(ven.key),
                               ca_file=str(pki["ca"].cert), show_fingerprint=False)
        client.add_handler("on_event", lambda event: "optIn")
        await client.run()
        try:
            assert client.registration_id is not None, "the VEN did not register"
            assert client.ven_id == vtn.registrations["signed-ven"]
            event_id = vtn.add_event(client.ven_id, signal_name="simple", signal_type="level", intervals=intervals())
            await vtn.wait_for(lambda: vtn.opt_answers, timeout=DEADLINE)
        finally:
            await client.stop()
    assert [(a.event_id, a.opt_type) for a in vtn.opt_answers] == [(event_id, "optIn")]
