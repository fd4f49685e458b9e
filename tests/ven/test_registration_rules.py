"""The VEN's registration decisions (fleetven.ven.registration), driven by plain calls: no socket, no loop."""

from __future__ import annotations

from datetime import timedelta

import pytest
import samples

from fleetven.exceptions import ProtocolError, RegistrationRejected
from fleetven.openadr import model as m
from fleetven.ven import registration as regn


def created(code: int = 200, *, ven_id: str | None = "ven-VTN-1", registration_id: str | None = "reg-1",
            freq: timedelta | None = timedelta(seconds=30)) -> m.CreatedPartyRegistration:
    return m.CreatedPartyRegistration(response=m.Response(response_code=code, request_id="r"),
                                      vtn_id=samples.VTN_ID, ven_id=ven_id, registration_id=registration_id,
                                      requested_oadr_poll_freq=freq)


def test_rule_404_first_registration_names_no_ids() -> None:
    msg = regn.create_registration(name="site-1", ven_id="configured-id", registration_id=None, signed=False,
                                   request_id="r1")
    assert msg.ven_id is None and msg.registration_id is None
    assert msg.ven_name == "site-1" and msg.request_id == "r1"
    assert (msg.profile_name, msg.transport_name, msg.http_pull_model, msg.report_only) == ("2.0b", "simpleHttp",
                                                                                          True, False)
    assert msg.xml_signature is False
    assert regn.create_registration(name="s", ven_id=None, registration_id=None, signed=True,
                                    request_id="r").xml_signature is True


def test_reregistration_keeps_the_registration_id() -> None:
    msg = regn.create_registration(name="site-1", ven_id="ven-VTN-1", registration_id="reg-1", signed=False,
                                   request_id="r2")
    assert msg.ven_id == "ven-VTN-1" and msg.registration_id == "reg-1"


def test_adopts_the_vtns_ven_id_registration_id_and_poll_frequency() -> None:
    adopted = regn.adopt(created(), name="site-1", ven_id="configured-id", default_poll=10.0)
    assert adopted == regn.Registration("ven-VTN-1", "reg-1", samples.VTN_ID, 30.0)
    # IDs are strings kept exactly (never coerced)
    assert regn.adopt(created(ven_id="000123"), name="s", ven_id=None, default_poll=10.0).ven_id == "000123"


def test_default_poll_period_without_a_positive_frequency() -> None:
    assert regn.adopt(created(freq=None), name="s", ven_id=None, default_poll=10.0).poll_freq == 10.0
    assert regn.adopt(created(freq=timedelta(0)), name="s", ven_id=None, default_poll=7.0).poll_freq == 7.0


def test_keeps_its_own_ven_id_when_the_vtn_names_none() -> None:
    assert regn.adopt(created(ven_id=None), name="s", ven_id="mine", default_poll=10.0).ven_id == "mine"
    with pytest.raises(ProtocolError, match="no venID or registrationID"):
        regn.adopt(created(ven_id=None), name="s", ven_id=None, default_poll=10.0)
    with pytest.raises(ProtocolError, match="no venID or registrationID"):
        regn.adopt(created(registration_id=None), name="s", ven_id=None, default_poll=10.0)


def test_refusal_and_wrong_answers_are_errors_to_retry_after() -> None:
    with pytest.raises(RegistrationRejected) as info:
        regn.adopt(created(463), name="site-1", ven_id=None, default_poll=10.0)
    assert info.value.response_code == 463 and "site-1" in str(info.value)
    wrong = m.ResponseMessage(response=m.Response(response_code=200))
    with pytest.raises(ProtocolError, match="oadrCreatePartyRegistration answered with oadrResponse"):
        regn.adopt(wrong, name="s", ven_id=None, default_poll=10.0)
    with pytest.raises(ProtocolError, match="oadrQueryRegistration answered with oadrResponse"):
        regn.check_query(wrong, name="s")
    query = created()
    assert regn.check_query(query, name="s") is query


def test_cancel_with_our_registration_id_is_accepted() -> None:
    msg = m.CancelPartyRegistration(request_id="c1", registration_id="reg-1", ven_id="ven-VTN-1")
    answer, accepted = regn.answer_cancel(msg, registration_id="reg-1", ven_id="ven-VTN-1")
    assert accepted
    assert isinstance(answer, m.CanceledPartyRegistration)
    assert (answer.response.response_code, answer.response.request_id) == (200, "c1")
    assert answer.registration_id == "reg-1" and answer.ven_id == "ven-VTN-1"  # venID mandatory


@pytest.mark.parametrize("theirs", ["reg-2", "REG-1"])  # compared exactly, case-sensitively
def test_cancel_with_a_wrong_registration_id_is_answered_452(theirs: str) -> None:
    msg = m.CancelPartyRegistration(request_id="c2", registration_id=theirs, ven_id="ven-VTN-1")
    answer, accepted = regn.answer_cancel(msg, registration_id="reg-1", ven_id="ven-VTN-1")
    assert not accepted
    assert (answer.response.response_code, answer.response.request_id) == (452, "c2")
    assert answer.registration_id == theirs and answer.ven_id == "ven-VTN-1"
