"""Report callbacks called as OpenLEADR 0.5.36 calls them (``fleetven.OpenADRClient`` as a drop-in).

Four cases, each driven as an OpenLEADR user's code reads, against :class:`fleetven.testing.TestVTN`,
with a ``Fleet`` twin checking that fleet users get the same behaviour (and that one VEN's bad
values never touch another VEN):

1. a ``HISTORY_USAGE`` or ``data_collection_mode="full"`` report, once the VTN requests it (at
   registration or by a polled ``oadrCreateReport``), delivers its data, with the default store
   and with a SQLite one (its request row has an aware base; the store refuses naive datetimes);
2. an incremental callback may return ``[(datetime, value), ...]`` as well as a number: each pair
   is sent at its own instant (a bad pair skips that pair only);
3. the ``data_collection_mode`` decides how a callback is called, whatever the report name:
   ``incremental`` with no arguments, ``full`` with the keywords ``date_from``, ``date_to``,
   ``sampling_interval`` (as openleadr/client.py ``update_report`` does);
4. naive datetimes (from callbacks, and ``add_report(report_dtstart=...)``) are local time, as
   OpenLEADR takes them (``astimezone(utc)``), with one warning per report request and data point.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from fleetven import OpenADRClient
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.openadr import model as m
from fleetven.store import SQLiteStore
from fleetven.testing import TestVTN
from fleetven.ven.reports import make_report_spec

UTC = timezone.utc
DEADLINE = 20.0
SECOND = timedelta(seconds=1)
#: A fixed instant for the pairs callbacks return (whole seconds: they go through xCal and back).
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CRASHES = ("poll cycle crashed", "registration crashed")


# ------------------------------------------------------------------ helpers


def report_request(rid: str, specifier: str, r_ids: list[str], *, gran: timedelta = SECOND,
                   back: timedelta = SECOND) -> m.ReportRequest:
    return m.ReportRequest(report_request_id=rid, report_specifier=m.ReportSpecifier(
        report_specifier_id=specifier, granularity=gran, report_back_duration=back,
        specifier_payloads=[m.SpecifierPayload(r_id=r, reading_type="Direct Read") for r in r_ids]))


def request_every(*names: str) -> Callable[[str, m.RegisterReport], list[m.ReportRequest]]:
    """An ``on_register_report`` asking for every offered report named ``METADATA_<name>``, 1 s / 1 s."""

    def on_register_report(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
        return [report_request(f"rr-{ven_id}-{i}", rep.report_specifier_id,
                               [d.r_id for d in rep.report_descriptions])
                for i, rep in enumerate(msg.reports) if rep.report_name in {"METADATA_" + n for n in names}]

    return on_register_report


def points(vtn: TestVTN, ven_id: str | None, r_id: str) -> list[tuple[datetime, Any]]:
    """(dtstart, value) of every interval the VTN received from ``ven_id`` for ``r_id``, in order."""
    return [(iv.dtstart, p.value) for who, rep in vtn.reports if who == ven_id for iv in rep.intervals
            for p in iv.payloads if p.r_id == r_id]


def crashes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if any(c in r.getMessage() for c in CRASHES)]


def naive_warnings(caplog: pytest.LogCaptureFixture, r_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
            and "naive datetime" in r.getMessage() and f"rID {r_id}," in r.getMessage()]


def errors(caplog: pytest.LogCaptureFixture, r_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and f"rID {r_id}," in r.getMessage()]


def fleet_for(vtn: TestVTN, **kw: Any) -> Fleet:
    return Fleet(vtn.url, seed=3, poll_interval=0.1, backoff_base=0.01, backoff_cap=0.05, request_timeout=5.0, **kw)


def ids(vens: list[Ven]) -> list[str]:
    return [v.ven_id for v in vens if v.ven_id is not None and v.registered]


@pytest.fixture
async def vtn() -> AsyncIterator[TestVTN]:
    async with TestVTN(poll_freq=SECOND) as v:
        yield v


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[timedelta]:
    """Local time is UTC+05:30 for the test (so that "taken as local" differs from "taken as UTC")."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    try:
        yield timedelta(hours=5, minutes=30)
    finally:
        monkeypatch.undo()
        time.tzset()


# ------------------------------------------------------------------ 1. full mode / HISTORY_USAGE requested


@pytest.mark.parametrize("report_name", ["HISTORY_USAGE", "TELEMETRY_USAGE"])
async def test_full_mode_report_requested_by_a_polled_create_report_reaches_the_vtn(
        vtn: TestVTN, report_name: str, caplog: pytest.LogCaptureFixture) -> None:
    asked: list[dict[str, Any]] = []

    def read_meter(date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[Any]:
        asked.append({"date_from": date_from, "date_to": date_to, "sampling_interval": sampling_interval})
        return [(date_from, 10.0 + len(asked))]

    client = OpenADRClient(ven_name="meter-1", vtn_url=vtn.url)
    specifier, r_id = client.add_report(callback=read_meter, resource_id="device001", measurement="energyReal",
                                        data_collection_mode="full", report_name=report_name,
                                        report_duration=timedelta(hours=1))
    with caplog.at_level(logging.INFO, logger="fleetven"):
        await client.run()
        try:
            vtn.request_report(client.ven_id, report_request("hist-1", specifier, [r_id]))
            await vtn.wait_for(lambda: len(points(vtn, client.ven_id, r_id)) >= 2, timeout=DEADLINE)
        finally:
            await client.stop()
    assert crashes(caplog) == []
    got = points(vtn, client.ven_id, r_id)
    assert [v for _, v in got] == [10.0 + i for i in range(1, len(got) + 1)]
    assert all(when.tzinfo is not None for when, _ in got)
    assert {rep.report_name for _, rep in vtn.reports} == {report_name}
    # the ranges follow each other; the sampling interval is the granularity
    assert all(a["sampling_interval"] == SECOND for a in asked)
    assert all(b["date_from"] == a["date_to"] for a, b in itertools.pairwise(asked))


async def test_history_requested_at_registration_registers_once_and_reaches_the_vtn(
        caplog: pytest.LogCaptureFixture) -> None:
    async with TestVTN(poll_freq=SECOND, on_register_report=request_every("HISTORY_USAGE")) as vtn:
        def history(date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[Any]:
            return [(date_from, 1.5), (date_from + (date_to - date_from) / 2, 2.5)]

        client = OpenADRClient(ven_name="meter-2", vtn_url=vtn.url, registration_timeout=10.0)
        _, r_id = client.add_report(history, "device001", "energyReal", "full", report_name="HISTORY_USAGE",
                                    report_duration=timedelta(hours=1))
        with caplog.at_level(logging.INFO, logger="fleetven"):
            await client.run()
            try:
                assert client.ven_id is not None
                await vtn.wait_for(lambda: len(points(vtn, client.ven_id, r_id)) >= 4, timeout=DEADLINE)
            finally:
                await client.stop()
        assert crashes(caplog) == []
        # registered once, not retried
        assert [rep.report_name for _, rep in vtn.registered_reports] == ["METADATA_HISTORY_USAGE"]
        values = [v for _, v in points(vtn, client.ven_id, r_id)]
        assert values[:4] == [1.5, 2.5, 1.5, 2.5]


async def test_fleet_history_with_a_sqlite_store_reaches_the_vtn_and_resumes(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "f.db"
    async with TestVTN(poll_freq=SECOND, on_register_report=request_every("HISTORY_USAGE")) as vtn:
        def history(ven: Ven, date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[Any]:
            return [(date_from, {"site-1": 1.0, "site-2": 2.0}[ven.name])]

        def make() -> tuple[Fleet, list[Ven], str]:
            fleet = fleet_for(vtn, store=path)
            _, r_id = fleet.add_report(history, "meter", "energyReal", data_collection_mode="full",
                                       report_name="HISTORY_USAGE", report_duration=timedelta(hours=1))
            return fleet, [fleet.add_ven(f"site-{i}") for i in (1, 2)], r_id

        fleet, vens, r_id = make()
        with caplog.at_level(logging.INFO, logger="fleetven"):
            async with fleet:
                await vtn.wait_for(lambda: len(ids(vens)) == 2, timeout=DEADLINE)
                one, two = ids(vens)
                await vtn.wait_for(lambda: all(len(points(vtn, v, r_id)) >= 2 for v in (one, two)),
                                   timeout=DEADLINE)
            assert crashes(caplog) == []
            assert {v for _, v in points(vtn, one, r_id)} == {1.0} and {v for _, v in points(vtn, two, r_id)} == {2.0}
            # what the store kept: each VEN's request, where it stands, with aware datetimes
            store = SQLiteStore(path)
            try:
                kept = store.load()
            finally:
                store.close()
            for name in ("site-1", "site-2"):
                (row,) = kept[name].requests.values()
                assert row["base_dt"].tzinfo is not None and row["cursor"].tzinfo is not None
            # a new process with the same store resumes the requests: more data, no new request needed
            before = {v: len(points(vtn, v, r_id)) for v in (one, two)}
            registrations = len(vtn.registered_reports)
            fleet, vens, r_id = make()
            async with fleet:
                await vtn.wait_for(lambda: all(len(points(vtn, v, r_id)) > before[v] + 1 for v in (one, two)),
                                   timeout=DEADLINE)
        assert crashes(caplog) == []
        assert len(vtn.registered_reports) == registrations  # resumed, not registered again
        assert {v for _, v in points(vtn, one, r_id)} == {1.0} and {v for _, v in points(vtn, two, r_id)} == {2.0}


# ------------------------------------------------------------------ 2. incremental: a number or pairs


async def test_incremental_callback_returning_pairs_sends_each_at_its_own_instant(
        vtn: TestVTN, caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def read_meter() -> list[Any]:  # as an OpenLEADR user may write it: a list of (datetime, value)
        nonlocal calls
        calls += 1
        at = T0 + timedelta(seconds=10 * calls)
        return [(at, float(calls)), (at + timedelta(seconds=5), calls + 0.5), ("garbage", 3.0), (at, "n/a")]

    def read_number() -> float:
        return 7.0

    client = OpenADRClient(ven_name="meter-3", vtn_url=vtn.url)
    specifier, pairs = client.add_report(read_meter, "device001", "voltage", report_duration=timedelta(hours=1),
                                         sampling_rate=SECOND)
    _, number = client.add_report(read_number, "device002", "voltage", report_duration=timedelta(hours=1),
                                  sampling_rate=SECOND)
    with caplog.at_level(logging.INFO, logger="fleetven"):
        await client.run()
        try:
            vtn.request_report(client.ven_id, report_request("inc-1", specifier, [pairs, number]))
            await vtn.wait_for(lambda: len(points(vtn, client.ven_id, pairs)) >= 6, timeout=DEADLINE)
        finally:
            await client.stop()
    got = points(vtn, client.ven_id, pairs)
    n = len(got) // 2
    assert got[:2 * n] == [pt for i in range(1, n + 1) for pt in
                           ((T0 + timedelta(seconds=10 * i), float(i)), (T0 + timedelta(seconds=10 * i + 5), i + 0.5))]
    assert {v for _, v in points(vtn, client.ven_id, number)} == {7.0}  # a number still works, next to it
    bad = errors(caplog, pairs)
    assert bad and all("skipped" in e and "meter-3" in e for e in bad)
    assert any("'garbage'" in e for e in bad) and any("'n/a'" in e for e in bad)
    assert not any("not a finite number" in e and "[(" in e for e in bad)  # never the whole list at once


async def test_fleet_pairs_from_one_ven_never_affect_another(vtn: TestVTN, caplog: pytest.LogCaptureFixture) -> None:
    async def read(ven: Ven) -> Any:
        if ven.name == "site-3":
            return [(None, 1.0), "broken"]
        return [(T0, {"site-1": 1.0, "site-2": 2.0}[ven.name]), (T0 + SECOND, 0.5)]

    fleet = fleet_for(vtn)
    specifier, r_id = fleet.add_report(read, "meter", "REAL_POWER", sampling_rate=SECOND,
                                       report_duration=timedelta(hours=1))
    vens = [fleet.add_ven(f"site-{i}") for i in (1, 2, 3)]
    with caplog.at_level(logging.INFO, logger="fleetven"):
        async with fleet:
            await vtn.wait_for(lambda: len(ids(vens)) == 3, timeout=DEADLINE)
            one, two, three = ids(vens)
            for v in (one, two, three):
                vtn.request_report(v, report_request(f"rr-{v}", specifier, [r_id]))
            await vtn.wait_for(lambda: all(len(points(vtn, v, r_id)) >= 4 for v in (one, two))
                               and len(errors(caplog, r_id)) >= 4, timeout=DEADLINE)
    assert crashes(caplog) == []
    assert set(points(vtn, one, r_id)) == {(T0, 1.0), (T0 + SECOND, 0.5)}
    assert set(points(vtn, two, r_id)) == {(T0, 2.0), (T0 + SECOND, 0.5)}
    assert points(vtn, three, r_id) == []
    assert {e.split(":")[0] for e in errors(caplog, r_id)} == {"VEN site-3"}


# ------------------------------------------------------------------ 3. the mode decides the call


async def test_incremental_history_usage_is_called_without_arguments(vtn: TestVTN,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def read_history(*args: Any, **kwargs: Any) -> float:  # OpenLEADR calls it as callback()
        calls.append((args, kwargs))
        return 3.25

    client = OpenADRClient(ven_name="meter-4", vtn_url=vtn.url)
    specifier, r_id = client.add_report(read_history, "device001", "energyReal", report_name="HISTORY_USAGE",
                                        report_duration=timedelta(hours=1), sampling_rate=SECOND)
    with caplog.at_level(logging.INFO, logger="fleetven"):
        await client.run()
        try:
            vtn.request_report(client.ven_id, report_request("h-1", specifier, [r_id]))
            await vtn.wait_for(lambda: len(points(vtn, client.ven_id, r_id)) >= 3, timeout=DEADLINE)
        finally:
            await client.stop()
    assert calls and set(map(repr, calls)) == {repr(((), {}))}
    assert {v for _, v in points(vtn, client.ven_id, r_id)} == {3.25}
    assert {rep.report_name for _, rep in vtn.reports} == {"HISTORY_USAGE"}
    assert crashes(caplog) == [] and errors(caplog, r_id) == []


async def test_full_mode_is_called_with_openleadrs_keywords_only(vtn: TestVTN) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def read(*args: Any, **kwargs: Any) -> list[Any]:  # fine for OpenLEADR, which calls it with keywords
        calls.append((args, kwargs))
        return [(kwargs["date_from"], 1.0)]

    client = OpenADRClient(ven_name="meter-5", vtn_url=vtn.url)
    specifier, r_id = client.add_report(read, "device001", "energyReal", "full", report_name="HISTORY_USAGE",
                                        report_duration=timedelta(hours=1))
    await client.run()
    try:
        vtn.request_report(client.ven_id, report_request("h-2", specifier, [r_id], gran=2 * SECOND,
                                                         back=2 * SECOND))
        await vtn.wait_for(lambda: len(points(vtn, client.ven_id, r_id)) >= 2, timeout=DEADLINE)
    finally:
        await client.stop()
    for args, kwargs in calls:
        assert args == () and set(kwargs) == {"date_from", "date_to", "sampling_interval"}
        assert kwargs["sampling_interval"] == 2 * SECOND
        assert kwargs["date_from"].tzinfo is not None and kwargs["date_from"] < kwargs["date_to"]


async def test_fleet_incremental_history_usage_gets_only_the_ven(vtn: TestVTN) -> None:
    calls: list[tuple[Any, ...]] = []

    def read(*args: Any) -> Any:
        calls.append(args)
        ven = args[0]
        return 1.0 if ven.name == "site-1" else [(T0, 2.0)]

    fleet = fleet_for(vtn)
    specifier, r_id = fleet.add_report(read, "meter", "energyReal", report_name="HISTORY_USAGE",
                                       sampling_rate=SECOND, report_duration=timedelta(hours=1))
    vens = [fleet.add_ven(f"site-{i}") for i in (1, 2)]
    async with fleet:
        await vtn.wait_for(lambda: len(ids(vens)) == 2, timeout=DEADLINE)
        one, two = ids(vens)
        for v in (one, two):
            vtn.request_report(v, report_request(f"rr-{v}", specifier, [r_id]))
        await vtn.wait_for(lambda: all(len(points(vtn, v, r_id)) >= 2 for v in (one, two)), timeout=DEADLINE)
    assert calls and all(len(c) == 1 and isinstance(c[0], Ven) for c in calls)
    assert {v for _, v in points(vtn, one, r_id)} == {1.0}
    assert set(points(vtn, two, r_id)) == {(T0, 2.0)}


# ------------------------------------------------------------------ 4. naive datetimes are local time


def test_naive_report_dtstart_is_local_time_with_one_warning(local_tz: timedelta,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    naive = datetime(2024, 5, 1, 12, 0, 0)
    with caplog.at_level(logging.WARNING, logger="fleetven"):
        spec = make_report_spec(lambda: 1.0, "device001", "voltage", report_duration=timedelta(hours=1),
                                report_dtstart=naive)
        client = OpenADRClient(ven_name="meter-6", vtn_url="http://127.0.0.1:9/OpenADR2/Simple/2.0b")
        client.add_report(lambda: 1.0, "device001", "voltage", report_duration=timedelta(hours=1),
                          report_dtstart=naive)
    assert spec.report_dtstart == datetime(2024, 5, 1, 6, 30, 0, tzinfo=UTC)
    warned = [r.getMessage() for r in caplog.records if "report_dtstart" in r.getMessage()]
    assert len(warned) == 2 and all("naive" in w and "local time" in w for w in warned)  # one per add_report


async def test_naive_datetimes_from_callbacks_are_local_time_with_one_warning(
        local_tz: timedelta, vtn: TestVTN, caplog: pytest.LogCaptureFixture) -> None:
    calls = {"full": 0, "inc": 0}

    def history(date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[Any]:
        calls["full"] += 1
        return [(datetime(2024, 5, 1, 12, 0, calls["full"]), float(calls["full"]))]

    def reading() -> list[Any]:
        calls["inc"] += 1
        return [(datetime(2024, 5, 1, 13, 0, calls["inc"]), float(calls["inc"]))]

    client = OpenADRClient(ven_name="meter-7", vtn_url=vtn.url)
    hist, full = client.add_report(history, "device001", "energyReal", "full", report_name="HISTORY_USAGE",
                                   report_duration=timedelta(hours=1),
                                   report_dtstart=datetime(2024, 5, 1, 12, 0, 0))
    usage, inc = client.add_report(reading, "device002", "voltage", report_duration=timedelta(hours=1),
                                   sampling_rate=SECOND)
    with caplog.at_level(logging.INFO, logger="fleetven"):
        await client.run()
        try:
            vtn.request_report(client.ven_id, report_request("n-full", hist, [full]),
                               report_request("n-inc", usage, [inc]))
            await vtn.wait_for(lambda: len(points(vtn, client.ven_id, full)) >= 3
                               and len(points(vtn, client.ven_id, inc)) >= 3, timeout=DEADLINE)
        finally:
            await client.stop()
    for r_id, hour in ((full, 12), (inc, 13)):
        got = points(vtn, client.ven_id, r_id)
        assert got
        for when, value in got:  # the naive wall time, taken as UTC+05:30
            assert when == datetime(2024, 5, 1, hour, 0, int(value), tzinfo=UTC) - local_tz
        assert len(naive_warnings(caplog, r_id)) == 1  # once per report request, not once per sample
        assert "local time" in naive_warnings(caplog, r_id)[0] and "meter-7" in naive_warnings(caplog, r_id)[0]
        assert errors(caplog, r_id) == []
    assert crashes(caplog) == []


async def test_fleet_naive_datetimes_warn_once_per_ven(local_tz: timedelta, vtn: TestVTN,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def history(ven: Ven, date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[Any]:
        if ven.name == "site-2":
            return [(datetime.max, 1.0), (datetime(2024, 5, 1, 12), 2.0)]  # out of range in UTC: that pair only
        return [(datetime(2024, 5, 1, 12), 1.0)]

    fleet = fleet_for(vtn)
    specifier, r_id = fleet.add_report(history, "meter", "energyReal", data_collection_mode="full",
                                       report_name="HISTORY_USAGE", report_duration=timedelta(hours=1))
    vens = [fleet.add_ven(f"site-{i}") for i in (1, 2)]
    with caplog.at_level(logging.INFO, logger="fleetven"):
        async with fleet:
            await vtn.wait_for(lambda: len(ids(vens)) == 2, timeout=DEADLINE)
            one, two = ids(vens)
            for v in (one, two):
                vtn.request_report(v, report_request(f"rr-{v}", specifier, [r_id]))
            await vtn.wait_for(lambda: all(len(points(vtn, v, r_id)) >= 3 for v in (one, two)), timeout=DEADLINE)
    expected = datetime(2024, 5, 1, 12, tzinfo=UTC) - local_tz
    assert set(points(vtn, one, r_id)) == {(expected, 1.0)} and set(points(vtn, two, r_id)) == {(expected, 2.0)}
    warned = naive_warnings(caplog, r_id)
    assert sorted(w.split(":")[0] for w in warned) == ["VEN site-1", "VEN site-2"]
    assert errors(caplog, r_id) and all(e.startswith("VEN site-2:") and "out of range" in e
                                        for e in errors(caplog, r_id))
    assert crashes(caplog) == []
