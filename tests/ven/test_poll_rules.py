"""The VEN's poll decisions (fleetven.ven.polling), driven by plain calls: no socket, no loop."""

from __future__ import annotations

import pytest
import samples

from fleetven.openadr import model as m
from fleetven.ven import polling as pl


def test_nothing_queued_waits_a_poll_period() -> None:
    assert pl.after_response(200) is pl.WAIT
    assert pl.next_poll_delay(False, 30.0) == 30.0


def test_after_a_non_empty_reply_poll_again_at_once() -> None:
    assert pl.next_poll_delay(True, 30.0) == 0.0


@pytest.mark.parametrize("code", [452, 463])
def test_452_and_463_mean_the_registration_is_lost(code: int) -> None:
    assert pl.after_response(code) is pl.LOST


@pytest.mark.parametrize("code", [400, 450, 469, 500])
def test_other_codes_are_logged_and_wait(code: int) -> None:
    assert pl.after_response(code) is pl.WARN


def test_lost_registration_registers_at_once_then_backs_off() -> None:
    asked: list[int] = []

    def backoff(attempt: int) -> float:
        asked.append(attempt)
        return 1.5 * (attempt + 1)

    assert pl.lost_delay(0, backoff) == 0.0 and asked == []
    assert pl.lost_delay(1, backoff) == 1.5 and pl.lost_delay(3, backoff) == 4.5
    assert asked == [0, 2]


def test_polled_messages_that_need_only_an_acknowledgement() -> None:
    registered = pl.acknowledgement(samples.register_report(rich=False), "ven-1")
    assert isinstance(registered, m.RegisteredReport)
    assert registered.ven_id == "ven-1" and registered.response.response_code == 200
    assert registered.response.request_id == samples.register_report(rich=False).request_id
    updated = pl.acknowledgement(samples.update_report(1), "ven-1")
    assert isinstance(updated, m.UpdatedReport) and updated.response.response_code == 200
    rereg = pl.acknowledgement(m.RequestReregistration(ven_id="ven-1"), "ven-1")
    assert isinstance(rereg, m.ResponseMessage) and rereg.response.response_code == 200
    # the others need more than an acknowledgement (or nothing at all)
    assert pl.acknowledgement(samples.create_report(rich=False), "ven-1") is None
    assert pl.acknowledgement(m.ResponseMessage(response=m.Response(response_code=200)), "ven-1") is None
