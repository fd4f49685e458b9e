"""The fleet's Observer hook: what it is told, and that a failing observer harms nothing."""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import samples

from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.observe import Observer
from fleetven.testing import TestVTN
from fleetven.ven.events import OPT_IN

DEADLINE = 15.0
UTC = datetime.timezone.utc


class Recorder(Observer):
    __slots__ = ("requests", "states", "answers", "statuses", "refused")

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, float, float, float, BaseException | None]] = []
        self.states: list[tuple[str, str, str]] = []
        self.answers: list[tuple[str, str, str]] = []
        self.statuses: list[tuple[str, str, str]] = []
        self.refused: list[tuple[str, BaseException]] = []

    def request_done(self, ven: Ven, message_type: str, due: float, sent: float, done: float,
                     error: BaseException | None) -> None:
        self.requests.append((ven.name, message_type, due, sent, done, error))

    def ven_state(self, ven: Ven, old: str, new: str) -> None:
        self.states.append((ven.name, old, new))

    def event_answer(self, ven: Ven, event_id: str, opt: str) -> None:
        self.answers.append((ven.name, event_id, opt))

    def event_status(self, ven: Ven, event_id: str, status: str) -> None:
        self.statuses.append((ven.name, event_id, status))


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=datetime.timedelta(0)) as v:
        yield v


def make_fleet(vtn: TestVTN, **options: Any) -> Fleet:
    return Fleet(vtn.url, seed=5, poll_interval=0.1, backoff_base=0.01, backoff_cap=0.05, request_timeout=5.0,
                 **options)


async def test_observer_sees_requests_states_and_answers(vtn: TestVTN) -> None:
    rec = Recorder()
    fleet = make_fleet(vtn, observer=rec)
    fleet.add_handler("on_event", lambda ven, event: OPT_IN)
    ven = fleet.add_ven("watched")
    async with fleet:
        await vtn.wait_for(lambda: ven.state == "registered", timeout=DEADLINE)
        assert ven.ven_id is not None
        event = samples.minimal_event("ev-watched")
        event["response_required"] = "always"
        event["active_period"] = {"dtstart": datetime.datetime.now(UTC) - datetime.timedelta(seconds=1),
                                  "duration": datetime.timedelta(hours=1)}
        vtn.add_event(ven.ven_id, event)
        await vtn.wait_for(lambda: bool(vtn.event_responses), timeout=DEADLINE)
        await vtn.wait_for(lambda: ("watched", "ev-watched", "active") in rec.statuses, timeout=DEADLINE)
    types = [r[1] for r in rec.requests]
    assert types[:2] == ["oadrQueryRegistration", "oadrCreatePartyRegistration"]
    assert "oadrCreatedEvent" in types
    assert "oadrPoll" in types  # reported from the task-free poll path too
    assert all(due <= sent <= done for _, _, due, sent, done, _ in rec.requests)
    assert all(error is None for *_, error in rec.requests)
    assert rec.states[:2] == [("watched", "new", "registering"), ("watched", "registering", "registered")]
    assert rec.states[-1] == ("watched", "registered", "stopped")
    assert rec.answers == [("watched", "ev-watched", OPT_IN)]


async def test_failed_requests_are_reported_with_their_error(vtn: TestVTN) -> None:
    rec = Recorder()
    vtn.faults.status = 503
    vtn.faults.count = 2
    fleet = make_fleet(vtn, observer=rec)
    ven = fleet.add_ven("retrying")
    async with fleet:
        await vtn.wait_for(lambda: ven.state == "registered", timeout=DEADLINE)
    failed = [r for r in rec.requests if r[5] is not None]
    assert len(failed) == 2 and {r[1] for r in failed} == {"oadrQueryRegistration"}


async def test_a_raising_observer_is_logged_once_and_harms_nothing(vtn: TestVTN,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Observer):
        __slots__ = ()

        def request_done(self, *args: Any) -> None:
            raise RuntimeError("observer bug")

    fleet = make_fleet(vtn)
    fleet.observer = Broken()
    vens = [fleet.add_ven(f"v{i}") for i in range(3)]
    with caplog.at_level(logging.ERROR, logger="fleetven"):
        async with fleet:
            await vtn.wait_for(lambda: all(v.state == "registered" for v in vens), timeout=DEADLINE)
    assert sum("observer failed" in r.getMessage() for r in caplog.records) == 1
    assert isinstance(fleet.observer, Broken)
    assert vtn.polls > 0  # the fleet went on polling after the failures


def test_observers_fan_out_to_each_in_order() -> None:
    from fleetven.observe import Observers

    calls: list[tuple[str, str]] = []

    class Named(Observer):
        __slots__ = ("name",)

        def __init__(self, name: str) -> None:
            self.name = name

        def ven_state(self, ven: Ven, old: str, new: str) -> None:
            calls.append((self.name, new))

        def samples_pending(self, ven: Ven, count: int) -> None:
            calls.append((self.name, str(count)))

    both = Observers([Named("a"), Named("b")])
    both.ven_state(None, "new", "registering")  # type: ignore[arg-type]
    both.samples_pending(None, 3)  # type: ignore[arg-type]
    both.event_answer(None, "e", OPT_IN)  # type: ignore[arg-type]  # the base's no-op
    assert calls == [("a", "registering"), ("b", "registering"), ("a", "3"), ("b", "3")]
