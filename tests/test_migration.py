"""docs/migration.rst's promise: every row that says "same" is covered by a test.

:data:`COVERED` names, for each such row (by its first column), the tests that show
fleetven behaving as OpenLEADR 0.5.36 there; a test here checks that the table's "same"
rows and this map agree and that every named test exists. The rows with no other home
are tested here, with ``fleetven.OpenADRClient`` used exactly as OpenLEADR users use it.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _helpers import event_for

from fleetven import OpenADRClient
from fleetven.exceptions import ConfigurationError, SignatureError
from fleetven.signing import Verifier, fingerprint
from fleetven.testing import TestVTN
from fleetven.testing.certs import CertificateAuthority

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
DEADLINE = 15.0

#: "same" row (its first column, as written) -> the tests covering it ("file::name").
COVERED: dict[str, list[str]] = {
    "``ven_name``, ``vtn_url``": ["tests/interop/test_openleadr_fleet.py::test_openadr_client_is_a_drop_in"],
    "``cert``, ``key``, ``passphrase``": [
        "tests/interop/test_openleadr_drop_in.py::test_cert_key_and_ca_file_without_vtn_fingerprint_register_as_with_openleadr",
        "tests/interop/test_openleadr_security.py::test_a_vtn_signing_with_another_certificate_is_refused_by_the_ven",
    ],
    "``ca_file``": [
        "tests/test_drop_in.py::test_cert_key_and_ca_file_without_a_fingerprint_register_with_a_vtn_that_does_not_sign",
        "tests/interop/test_openleadr_drop_in.py::test_cert_key_and_ca_file_without_vtn_fingerprint_register_as_with_openleadr",
    ],
    "``vtn_fingerprint``": [
        "tests/test_drop_in.py::test_requiring_signed_replies_is_explicit_and_its_refusal_is_one_clear_error",
        "tests/interop/test_openleadr_security.py::test_a_vtn_signing_with_another_certificate_is_refused_by_the_ven",
    ],
    "``disable_signature``": ["tests/test_migration.py::test_disable_signature_and_show_fingerprint"],
    "``show_fingerprint``": ["tests/test_migration.py::test_disable_signature_and_show_fingerprint"],
    "``check_hostname``": ["tests/test_tls.py::test_check_hostname"],
    "``add_handler(\"on_event\" | \"on_update_event\", f)``": [
        "tests/interop/test_openleadr_fleet.py::test_openadr_client_is_a_drop_in",
        "tests/test_drop_in.py::test_implied_cancel_reaches_on_update_event_as_a_cancellation",
    ],
    "handlers by subclassing or assignment (``client.on_event = f``)": [
        "tests/test_drop_in.py::test_handlers_by_subclass_and_by_assignment"],
    "a handler that raises": ["tests/test_migration.py::test_a_raising_handler_answers_opt_out"],
    "an explicit cancellation (``eventStatus`` ``cancelled``, higher ``modificationNumber``)": [
        "tests/test_drop_in.py::test_implied_cancel_of_an_explicitly_cancelled_event_is_not_told_twice"],
    "``responseRequired`` ``never``": [
        "tests/test_migration.py::test_response_required_never_calls_the_handler_and_sends_nothing"],
    "the event dict: ``event_descriptor``, ``active_period``, ``event_signals``, ``targets``, ``targets_by_type``, "
    "``response_required``; timezone-aware UTC datetimes, ``timedelta`` durations, float payloads, ``measurement`` "
    "as a dict": [
        "tests/interop/test_openleadr_codec.py::test_openleadr_built_message_reads_the_same",
        "tests/test_drop_in.py::test_measurement_is_a_dict_as_in_openleadr",
        "tests/test_migration.py::test_the_handlers_event_has_openleadrs_keys_and_types",
    ],
    "``add_report`` arguments and its return value": [
        "tests/interop/test_openleadr_fleet.py::test_openadr_client_is_a_drop_in",
        "tests/test_migration.py::test_add_report_takes_openleadrs_positional_arguments",
    ],
    "a ``HISTORY_USAGE`` or ``data_collection_mode=\"full\"`` report the VTN requests": [
        "tests/test_report_dropin.py::test_full_mode_report_requested_by_a_polled_create_report_reaches_the_vtn",
        "tests/test_report_dropin.py::test_history_requested_at_registration_registers_once_and_reaches_the_vtn",
    ],
    "an incremental callback returning ``[(datetime, value), ...]``": [
        "tests/test_report_dropin.py::test_incremental_callback_returning_pairs_sends_each_at_its_own_instant"],
    "how a report callback is called": [
        "tests/test_report_dropin.py::test_incremental_history_usage_is_called_without_arguments",
        "tests/test_report_dropin.py::test_full_mode_is_called_with_openleadrs_keywords_only",
    ],
    "naive datetimes (report callback pairs, ``report_dtstart``)": [
        "tests/test_report_dropin.py::test_naive_report_dtstart_is_local_time_with_one_warning",
        "tests/test_report_dropin.py::test_naive_datetimes_from_callbacks_are_local_time_with_one_warning",
    ],
    "``create_opt`` arguments and return value; invalid ``opt_type``, ``opt_reason``, or not exactly one of "
    "``event_id`` and ``vavailability``": [
        "tests/test_drop_in.py::test_create_opt_refuses_bad_input_before_sending_and_cancel_opt_an_unknown_opt"],
    "``cancel_opt``": [
        "tests/test_drop_in.py::test_create_opt_refuses_bad_input_before_sending_and_cancel_opt_an_unknown_opt"],
    "``cancel_party_registration()``": [
        "tests/test_drop_in.py::test_cancel_party_registration_and_the_registration_log_line"],
    "``ven_id``, ``registration_id``, ``poll_frequency``, ``received_events``, ``responded_events``": [
        "tests/interop/test_openleadr_fleet.py::test_openadr_client_is_a_drop_in",
        "tests/test_drop_in.py::test_handlers_by_subclass_and_by_assignment",
        "tests/test_drop_in.py::test_implied_cancel_reaches_on_update_event_as_a_cancellation",
    ],
    "``oadrRequestReregistration``": ["tests/test_fleet.py::test_reregistration_requested"],
    "\"VEN is now registered with registration ID ... and venID ...\", \"The polling frequency is ...\"": [
        "tests/test_drop_in.py::test_cancel_party_registration_and_the_registration_log_line"],
}


def table_rows(text: str) -> list[list[str]]:
    """The rows of the page's list-table, each a list of its cells (lines joined by spaces)."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("   * - "):
            rows.append([line[len("   * - "):].strip()])
        elif line.startswith("     - ") and rows:
            rows[-1].append(line[len("     - "):].strip())
        elif line.startswith("       ") and rows and line.strip():
            rows[-1][-1] = (rows[-1][-1] + " " + line.strip()).strip()
    return rows


def test_every_same_row_is_covered_by_tests_that_exist() -> None:
    rows = table_rows((ROOT / "docs" / "migration.rst").read_text())
    assert rows[0] == ["argument or behaviour", "OpenLEADR 0.5.36", "fleetven", "why"]
    assert all(len(r) in (3, 4) for r in rows), [r for r in rows if len(r) not in (3, 4)]
    same = {r[0] for r in rows[1:] if re.match(r"same\b", r[2])}
    assert same == set(COVERED), (sorted(same - set(COVERED)), sorted(set(COVERED) - same))
    defined: dict[str, set[str]] = {}
    for tests in COVERED.values():
        for ref in tests:
            path, name = ref.split("::")
            if path not in defined:
                tree = ast.parse((ROOT / path).read_text())
                defined[path] = {n.name for n in ast.walk(tree)
                                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert name in defined[path], f"{ref} does not exist"


def test_the_coverage_check_can_fail() -> None:
    text = "   * - ``x``\n     - a\n     - same\n     -\n"
    assert {r[0] for r in table_rows(text) if re.match(r"same\b", r[2])} == {"``x``"}
    assert "``x``" not in COVERED


# ------------------------------------------------------------ rows tested here


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=timedelta(seconds=1)) as v:
        yield v


async def test_a_raising_handler_answers_opt_out(vtn: TestVTN, caplog: pytest.LogCaptureFixture) -> None:
    def on_event(event: dict[str, Any]) -> str:
        raise RuntimeError("the charger is unreachable")

    client = OpenADRClient(ven_name="raising", vtn_url=vtn.url)
    client.add_handler("on_event", on_event)
    with caplog.at_level(logging.ERROR, logger="fleetven"):
        await client.run()
        try:
            assert client.ven_id is not None
            vtn.add_event(client.ven_id, event_for("ev-1"))
            await vtn.wait_for(lambda: vtn.event_responses, timeout=DEADLINE)
        finally:
            await client.stop()
    assert [r.opt_type for _, r in vtn.event_responses] == ["optOut"]
    assert any("raised" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_response_required_never_calls_the_handler_and_sends_nothing(vtn: TestVTN) -> None:
    seen: list[str] = []
    client = OpenADRClient(ven_name="quiet", vtn_url=vtn.url)
    client.add_handler("on_event", lambda event: seen.append(event["event_descriptor"]["event_id"]) or "optIn")
    await client.run()
    try:
        assert client.ven_id is not None
        vtn.add_event(client.ven_id, event_for("ev-never", response_required="never"))
        vtn.add_event(client.ven_id, event_for("ev-always"))
        await vtn.wait_for(lambda: vtn.event_responses and len(seen) == 2, timeout=DEADLINE)
    finally:
        await client.stop()
    assert sorted(seen) == ["ev-always", "ev-never"]
    assert {r.event_id for _, r in vtn.event_responses} == {"ev-always"}


async def test_the_handlers_event_has_openleadrs_keys_and_types(vtn: TestVTN) -> None:
    seen: list[dict[str, Any]] = []
    client = OpenADRClient(ven_name="shape", vtn_url=vtn.url)
    client.add_handler("on_event", lambda event: seen.append(event) or "optIn")
    await client.run()
    try:
        assert client.ven_id is not None
        vtn.add_event(client.ven_id, event_for("ev-1"))
        await vtn.wait_for(lambda: seen, timeout=DEADLINE)
    finally:
        await client.stop()
    [event] = seen
    assert {"event_descriptor", "active_period", "event_signals", "targets", "targets_by_type",
            "response_required"} <= set(event)
    descriptor = event["event_descriptor"]
    assert isinstance(descriptor["modification_number"], int) and isinstance(descriptor["event_id"], str)
    assert descriptor["created_date_time"].tzinfo is not None
    period = event["active_period"]
    assert period["dtstart"].utcoffset() == timedelta(0) and isinstance(period["duration"], timedelta)
    interval = event["event_signals"][0]["intervals"][0]
    assert isinstance(interval["signal_payload"], float) and isinstance(interval["duration"], timedelta)


def test_add_report_takes_openleadrs_positional_arguments() -> None:
    client = OpenADRClient("positional", "http://127.0.0.1:9/OpenADR2/Simple/2.0b")
    by_position = client.add_report(lambda: 1.0, "meter-1", "voltage", "incremental", "spec-1", "r-1")
    assert by_position == ("spec-1", "r-1")
    with pytest.raises(ConfigurationError, match="two values for 'r_id'"):
        client.add_report(lambda: 1.0, "meter-1", "voltage", "incremental", "spec-2", "r-2", r_id="r-3")


async def test_disable_signature_and_show_fingerprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = CertificateAuthority.create(tmp_path, key_type="ec")
    ven = ca.issue_client("ven-1")
    signing = OpenADRClient("signing", "http://127.0.0.1:9/x", cert=str(ven.cert), key=str(ven.key))
    assert fingerprint(str(ven.cert)) in capsys.readouterr().out
    plain = OpenADRClient("plain", "http://127.0.0.1:9/x", cert=str(ven.cert), key=str(ven.key),
                          disable_signature=True, show_fingerprint=False)
    assert capsys.readouterr().out == ""
    assert signing.ven.signer is not None and plain.ven.signer is None
    # The VTN demands signatures: the unsigned client's messages are refused, the signed one's taken.
    async with TestVTN(poll_freq=timedelta(seconds=1), verifier=Verifier(ca_file=ca.cert)) as vtn:
        unsigned = OpenADRClient("unsigned", vtn.url, cert=str(ven.cert), key=str(ven.key), disable_signature=True,
                                 show_fingerprint=False, registration_timeout=0.5)
        signed = OpenADRClient("signed", vtn.url, cert=str(ven.cert), key=str(ven.key), show_fingerprint=False)
        await unsigned.run()
        await signed.run()
        try:
            assert unsigned.registration_id is None and signed.registration_id is not None
        finally:
            await unsigned.stop()
            await signed.stop()
    assert vtn.errors and all(isinstance(err, SignatureError) for _, err in vtn.errors)
