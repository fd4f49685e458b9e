"""fleetven.ven.reports: report specs, METADATA registration, requests, sampling and delivery."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _helpers import assert_valid_oadr
from lxml import etree

from fleetven.app.config import build_fleet, load_config
from fleetven.exceptions import ConfigurationError, StoreError, TransportError
from fleetven.messages import build_message, parse_message
from fleetven.openadr import model as m
from fleetven.store import MemoryStore, Store
from fleetven.timerwheel import TimerWheel
from fleetven.ven.reports import ReportEngine, ReportRuntime, ReportSpec, make_report_spec

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
OK = object()  # a scripted reply: oadrUpdatedReport 200


class Counter:
    """A sync callback returning 1.0, 2.0, 3.0, ... and remembering how often it ran."""

    def __init__(self, start: float = 0.0) -> None:
        self.value = start

    def __call__(self) -> float:
        self.value += 1.0
        return self.value


class Rig:
    """A ReportEngine on a manual wheel with a fake clock and a fake `send` that records and validates."""

    def __init__(self, specs: list[ReportSpec], schema: etree.XMLSchema, *, retry_delay: float = 10.0,
                 max_pending: int = 10_000, store: Store | None = None, **kw: Any) -> None:
        self.schema = schema
        self.wheel = TimerWheel.manual(start=0.0)
        self.sent: list[m.Message] = []
        self.replies: list[Any] = []  # scripted replies, in order; OK when empty
        self.runtime = ReportRuntime(wheel=self.wheel, clock=self.clock, logger=logging.getLogger("test.reports"),
                                     retry_delay=retry_delay, max_pending=max_pending, store=store)
        self.engine = ReportEngine(specs, runtime=self.runtime, send=self.send, ven_id="ven-1", name="ven-a", **kw)

    def clock(self) -> datetime:
        return T0 + timedelta(seconds=self.wheel.time())

    async def send(self, msg: m.Message) -> m.Message:
        data = build_message(msg)
        assert_valid_oadr(self.schema, data)
        self.sent.append(parse_message(data))  # what the VTN would read
        reply = self.replies.pop(0) if self.replies else OK
        if isinstance(reply, BaseException):
            raise reply
        if reply is OK:
            return m.UpdatedReport(response=m.Response(response_code=200, request_id=getattr(msg, "request_id", None)),
                                   ven_id="ven-1")
        assert isinstance(reply, (m.UpdatedReport, m.RegisteredReport, m.ResponseMessage))
        return reply

    async def advance(self, t: float, step: float = 1.0) -> None:
        """Advance the wheel to ``t`` step by step, letting tasks (async samples, sends) finish at each step."""
        now = self.wheel.time()
        while now < t:
            now = min(now + step, t)
            self.wheel.advance_to(now)
            await self.engine.drain()

    def updates(self) -> list[m.UpdateReport]:
        return [x for x in self.sent if isinstance(x, m.UpdateReport)]

    def points(self, msg: m.UpdateReport) -> list[tuple[float, str, Any]]:
        """(seconds after T0, rID, value) of every interval of an update."""
        (report,) = msg.reports
        return [((iv.dtstart - T0).total_seconds(), iv.payloads[0].r_id, iv.payloads[0].value)
                for iv in report.intervals]


def request(rid: str, spec: str, r_ids: list[str], *, gran: float, back: float | None,
            start: datetime | None = None, length: float | None = None) -> m.ReportRequest:
    return m.ReportRequest(report_request_id=rid, report_specifier=m.ReportSpecifier(
        report_specifier_id=spec, granularity=timedelta(seconds=gran),
        report_back_duration=None if back is None else timedelta(seconds=back),
        report_interval_start=start, report_interval_duration=None if length is None else timedelta(seconds=length),
        specifier_payloads=[m.SpecifierPayload(r_id=r, reading_type="Direct Read") for r in r_ids]))


def create(*requests: m.ReportRequest) -> m.CreateReport:
    return m.CreateReport(request_id="req-c", report_requests=list(requests), ven_id="ven-1")


def usage(callback: Callable[..., Any], r_id: str = "p1", resource: str = "meter-1", **kw: Any) -> ReportSpec:
    kw.setdefault("report_specifier_id", "usage")
    return make_report_spec(callback, resource, "voltage", r_id=r_id, report_duration=timedelta(hours=1),
                            report_dtstart=T0, **kw)


def status(callback: Callable[..., Any], r_id: str = "s1") -> ReportSpec:
    return make_report_spec(callback, "meter-1", report_name="TELEMETRY_STATUS", report_specifier_id="status",
                            r_id=r_id, report_duration=timedelta(hours=1), report_dtstart=T0)


# ------------------------------------------------------------------ specs


def test_make_report_spec_returns_ids_and_defaults_like_openleadr() -> None:
    a = make_report_spec(Counter(), "meter-1", "voltage", report_duration=timedelta(hours=1))
    assert a.report_name == "TELEMETRY_USAGE" and a.reading_type == "Direct Read" and a.report_type == "reading"
    assert a.report_specifier_id and a.r_id and a.report_specifier_id != a.r_id
    assert a.sampling_rate == m.SamplingRate(min_period=timedelta(seconds=10), max_period=timedelta(hours=1))
    assert a.measurement == m.Measurement(name="voltage", description="Voltage", unit="V", scale="none")
    assert a.report_data_source == ({"resource_id": "meter-1"},)
    # a second data point of the same report joins its specifier (OpenLEADR finds the report by name)
    b = make_report_spec(Counter(), "meter-2", "REAL_POWER", existing=[a], sampling_rate=timedelta(seconds=5),
                         report_duration=timedelta(hours=1), power_hertz=60, power_voltage=120)
    assert b.report_specifier_id == a.report_specifier_id and b.r_id != a.r_id
    assert b.sampling_rate.min_period == b.sampling_rate.max_period == timedelta(seconds=5)
    assert b.measurement is not None and b.measurement.name == "powerReal" and b.measurement.unit == "W"
    assert b.measurement.power_attributes == {"hertz": 60, "voltage": 120, "ac": True}
    st = make_report_spec(Counter(), "meter-1", report_name="TELEMETRY_STATUS", existing=[a, b],
                          report_duration=timedelta(hours=1))
    assert st.measurement is None and st.report_specifier_id != a.report_specifier_id


def test_make_report_spec_units_and_custom_measurements(caplog: pytest.LogCaptureFixture) -> None:
    f = make_report_spec(Counter(), "t", "temperature", unit="fahrenheit", scale="k", report_duration=timedelta(1))
    assert f.unit == "fahrenheit" and f.scale == "k"
    with caplog.at_level(logging.WARNING, logger="fleetven.reports"):
        v = make_report_spec(Counter(), "t", "voltage", unit="kV", report_duration=timedelta(1))
    assert v.unit == "V" and "kV" in caplog.text
    c = make_report_spec(Counter(), "t", "waterFlow", unit="l/min", report_duration=timedelta(1))
    assert c.measurement == m.Measurement(name="customUnit", description="waterFlow", unit="l/min")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"report_name": "TELEMETRY_NONSENSE"}, "report_name"),
    ({"reading_type": "Guessed"}, "reading_type"),
    ({"report_type": "vibes"}, "report_type"),
    ({"scale": "kilo"}, "scale"),
    ({"data_collection_mode": "sometimes"}, "data_collection_mode"),
    ({"data_collection_mode": "full"}, "callback"),
    ({"measurement": "waterFlow"}, "unit"),
    ({"measurement": None}, "measurement"),
    ({"sampling_rate": 10}, "sampling_rate"),
])
def test_make_report_spec_rejects_bad_arguments(kwargs: dict[str, Any], field: str) -> None:
    kwargs.setdefault("measurement", "voltage")
    with pytest.raises(ConfigurationError) as info:
        make_report_spec(Counter(), "meter-1", report_duration=timedelta(1), **kwargs)
    assert info.value.fields["field"] == field


def test_make_report_spec_rejects_taken_ids() -> None:
    a = usage(Counter())
    with pytest.raises(ConfigurationError, match="already used"):
        usage(Counter(), existing=[a])
    with pytest.raises(ConfigurationError, match="already names"):
        make_report_spec(Counter(), "m", report_name="TELEMETRY_STATUS", report_specifier_id="usage",
                         existing=[a], report_duration=timedelta(1))


# ------------------------------------------------------------------ metadata


def test_register_report_metadata_validates(oadr_schema: etree.XMLSchema) -> None:
    specs = [usage(Counter(), "p1"),
             make_report_spec(Counter(), "meter-2", "REAL_POWER", r_id="p2", report_specifier_id="usage",
                              report_duration=timedelta(hours=1), market_context="http://mc",
                              end_device_asset_mrid="Energy_Management_System"),
             make_report_spec(Counter(), "meter-2", "pulseCount", r_id="p3", report_specifier_id="usage",
                              report_duration=timedelta(hours=1)),
             make_report_spec(Counter(), "meter-2", "currencyPerKWh", unit="EUR", r_id="p4",
                              report_specifier_id="usage", report_duration=timedelta(hours=1)),
             make_report_spec(Counter(), "meter-2", "x", unit="x", r_id="p5", report_specifier_id="usage",
                              report_duration=timedelta(hours=1)),
             status(Counter())]
    rig = Rig(specs, oadr_schema)
    msg = rig.engine.register_report(ven_id="ven-9", request_id="r-1")
    data = build_message(msg)
    assert_valid_oadr(oadr_schema, data)
    back = parse_message(data)
    assert isinstance(back, m.RegisterReport) and back.ven_id == "ven-9" and back.request_id == "r-1"
    assert [r.report_name for r in back.reports] == ["METADATA_TELEMETRY_USAGE", "METADATA_TELEMETRY_STATUS"]
    assert [r.report_specifier_id for r in back.reports] == ["usage", "status"]
    assert all(r.report_request_id == "0" for r in back.reports)
    r_ids = [d.r_id for r in back.reports for d in r.report_descriptions]
    assert r_ids == ["p1", "p2", "p3", "p4", "p5", "s1"] and len(set(r_ids)) == len(r_ids)
    d1 = back.reports[0].report_descriptions[0]
    assert d1.report_data_source == [{"resource_id": "meter-1"}]
    assert d1.measurement == m.Measurement(name="voltage", description="Voltage", unit="V", scale="none")
    assert d1.sampling_rate == specs[0].sampling_rate
    assert back.reports[1].report_descriptions[0].measurement is None


def test_duplicate_r_id_in_engine_is_refused(oadr_schema: etree.XMLSchema) -> None:
    with pytest.raises(ConfigurationError, match="twice"):
        Rig([usage(Counter()), usage(Counter())], oadr_schema)


def test_make_report_spec_warn_false_logs_nothing_and_builds_the_same_spec(caplog: pytest.LogCaptureFixture) -> None:
    """``warn=False`` (a configuration being checked) says nothing and changes nothing else; by
    default each assumption is logged."""
    naive = datetime(2024, 5, 1, 12, 0)

    def history(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        return []

    calls: list[dict[str, Any]] = [
        {"callback": Counter(), "measurement": "voltage", "report_dtstart": T0},  # no report_duration
        {"callback": Counter(), "measurement": "voltage", "report_duration": timedelta(1), "report_dtstart": naive},
        {"callback": Counter(), "measurement": "voltage", "unit": "kV", "report_duration": timedelta(1),
         "report_dtstart": T0},
        {"callback": history, "measurement": "energyReal", "report_name": "HISTORY_USAGE",
         "report_duration": timedelta(1), "report_dtstart": T0},
    ]
    for kw in calls:
        with caplog.at_level(logging.DEBUG, logger="fleetven.reports"):
            caplog.clear()
            quiet = make_report_spec(resource_id="meter-1", warn=False, **kw)
            assert [r for r in caplog.records if r.name == "fleetven.reports"] == [], kw
            told = make_report_spec(resource_id="meter-1", **kw)
            assert len([r for r in caplog.records if r.name == "fleetven.reports"]) == 1, kw
        assert quiet == told


def test_load_config_checks_reports_without_logging_or_touching_a_logger(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The configuration check builds every report to check it, saying nothing and leaving every
    logger as it is (the callback module, imported during the check, sees the level the
    application set); the fleet built from it then logs the default duration once."""
    module = "report_cb_quiet_check"
    (tmp_path / f"{module}.py").write_text(
        "import logging\n"
        "LEVEL_AT_IMPORT = logging.getLogger('fleetven.reports').getEffectiveLevel()\n"
        "def power(ven):\n    return 1.0\n")
    (tmp_path / "fleet.toml").write_text(
        '[vtn]\nurl = "http://127.0.0.1:8080/OpenADR2/Simple/2.0b"\n\n'
        f'[[reports]]\ncallback = "{module}:power"\nresource_id = "meter"\nmeasurement = "voltage"\n\n'
        '[[vens.ven]]\nname = "v"\n')
    no_duration = "no report_duration given"
    try:
        with caplog.at_level(logging.INFO, logger="fleetven"):
            before = logging.getLogger("fleetven.reports").getEffectiveLevel()
            config = load_config(tmp_path / "fleet.toml")
            seen_by_callback = sys.modules[module].LEVEL_AT_IMPORT
            assert seen_by_callback == before
            assert logging.getLogger("fleetven.reports").getEffectiveLevel() == before
            assert not [r for r in caplog.records if no_duration in r.getMessage()]
            build_fleet(config)
        assert len([r for r in caplog.records if no_duration in r.getMessage()]) == 1
    finally:
        sys.modules.pop(module, None)


async def test_engines_on_one_runtime_share_it_and_keep_their_own_state(oadr_schema: etree.XMLSchema) -> None:
    """Every engine of a fleet is given the one runtime (wheel, clock, store, logger, settings) and
    one index of the same specs; each still runs its own requests, alone."""
    specs = [usage(Counter(), "p1"), usage(Counter(), "p2")]
    rig = Rig(specs, oadr_schema)
    runtime = rig.runtime
    assert runtime.catalog(specs) is runtime.catalog(specs)  # one index for every engine given these specs
    assert runtime.catalog(specs[:1]) is not runtime.catalog(specs)
    other_sent: list[m.Message] = []

    async def other_send(msg: m.Message) -> m.Message:
        other_sent.append(msg)
        return m.UpdatedReport(response=m.Response(response_code=200), ven_id="ven-2")

    other = ReportEngine(specs, runtime=runtime, send=other_send, ven_id="ven-2", name="ven-b")
    assert not hasattr(other, "__dict__") and not hasattr(rig.engine, "__dict__")  # slots only
    assert other.register_report(ven_id=None, request_id="x").reports == \
        rig.engine.register_report(ven_id=None, request_id="x").reports
    rig.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=0)))
    assert other.pending() == [] and rig.engine.pending() == ["rr"]
    other.on_create_report(create(request("rr2", "usage", ["p2"], gran=10, back=0)))
    await rig.advance(15)
    await other.drain()

    def sent(messages: list[m.Message]) -> set[tuple[str | None, str | None, str]]:
        return {(u.ven_id, u.reports[0].report_request_id, iv.payloads[0].r_id)
                for u in messages if isinstance(u, m.UpdateReport) for iv in u.reports[0].intervals}

    assert sent(rig.sent) == {("ven-1", "rr", "p1")}
    assert sent(other_sent) == {("ven-2", "rr2", "p2")}
    assert len([u for u in other_sent if isinstance(u, m.UpdateReport)]) == 2  # at 0 and 10 s


# ------------------------------------------------------------------ periodic


async def test_periodic_samples_at_granularity_and_sends_every_report_back_duration(
        oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(0), "p1"), usage(Counter(100), "p2", resource="meter-2")], oadr_schema)
    assert rig.engine.on_create_report(create(request("rr-1", "usage", ["p1", "p2"], gran=10, back=30))) == ["rr-1"]
    assert rig.engine.rejections == []
    await rig.advance(29)
    assert rig.updates() == []
    await rig.advance(95)
    ups = rig.updates()
    assert len(ups) == 3
    assert rig.points(ups[0]) == [(0, "p1", 1.0), (0, "p2", 101.0), (10, "p1", 2.0), (10, "p2", 102.0),
                                  (20, "p1", 3.0), (20, "p2", 103.0)]
    assert [p[:2] for p in rig.points(ups[1])] == [(30, "p1"), (30, "p2"), (40, "p1"), (40, "p2"), (50, "p1"),
                                                   (50, "p2")]
    assert [p[2] for p in rig.points(ups[2]) if p[1] == "p1"] == [7.0, 8.0, 9.0]
    report = ups[0].reports[0]
    assert report.report_request_id == "rr-1" and report.report_specifier_id == "usage"
    assert report.report_name == "TELEMETRY_USAGE" and ups[0].ven_id == "ven-1"
    assert report.intervals[0].duration == timedelta(seconds=10)
    assert rig.engine.pending() == ["rr-1"]
    rig.engine.close()
    assert len(rig.wheel) == 0


async def test_only_requested_r_ids_are_sampled_and_zero_back_sends_each_sample(oadr_schema: etree.XMLSchema) -> None:
    other = Counter()
    rig = Rig([usage(Counter(), "p1"), usage(other, "p2")], oadr_schema)
    rig.engine.on_create_report(create(request("rr-1", "usage", ["p1"], gran=5, back=0)))
    await rig.advance(12)
    assert [rig.points(u) for u in rig.updates()] == [[(0, "p1", 1.0)], [(5, "p1", 2.0)], [(10, "p1", 3.0)]]
    assert other.value == 0


async def test_one_shot_samples_once_sends_once_and_completes(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1"), usage(Counter(10), "p2")], oadr_schema)
    assert rig.engine.on_create_report(create(request("once", "usage", ["p1", "p2"], gran=0, back=0))) == ["once"]
    await rig.advance(100)
    (up,) = rig.updates()
    assert rig.points(up) == [(0, "p1", 1.0), (0, "p2", 11.0)]
    assert up.reports[0].intervals[0].duration is None
    assert rig.engine.pending() == []
    assert len(rig.wheel) == 0


async def test_report_interval_bounds_sampling_and_completes_at_its_end(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("win", "usage", ["p1"], gran=10, back=20,
                                               start=T0 + timedelta(seconds=100), length=50)))
    await rig.advance(99)
    assert rig.updates() == []
    await rig.advance(300)
    got = [p for u in rig.updates() for p in rig.points(u)]
    assert got == [(100, "p1", 1.0), (110, "p1", 2.0), (120, "p1", 3.0), (130, "p1", 4.0), (140, "p1", 5.0)]
    assert len(rig.updates()) == 3  # at 120, 140 and the end (150)
    assert rig.engine.pending() == [] and len(rig.wheel) == 0


# ------------------------------------------------------------------ cancel


async def test_cancel_without_report_to_follow_discards_and_stops(oadr_schema: etree.XMLSchema) -> None:
    cb = Counter()
    rig = Rig([usage(cb, "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("rr-1", "usage", ["p1"], gran=10, back=60)))
    await rig.advance(25)
    assert rig.engine.on_cancel_report(m.CancelReport(request_id="c", report_request_ids=["rr-1"])) == []
    await rig.advance(200)
    assert rig.updates() == [] and cb.value == 3 and len(rig.wheel) == 0


async def test_cancel_with_report_to_follow_sends_one_last_report(oadr_schema: etree.XMLSchema) -> None:
    cb = Counter()
    rig = Rig([usage(cb, "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("rr-1", "usage", ["p1"], gran=10, back=60),
                                       request("rr-2", "usage", ["p1"], gran=10, back=60)))
    await rig.advance(25)
    pending = rig.engine.on_cancel_report(m.CancelReport(request_id="c", report_request_ids=["rr-1"],
                                                         report_to_follow=True))
    assert pending == ["rr-2"]
    await rig.engine.drain()
    (last,) = rig.updates()
    assert last.reports[0].report_request_id == "rr-1"
    assert rig.points(last) == [(0, "p1", 1.0), (10, "p1", 3.0), (20, "p1", 5.0)]
    await rig.advance(59)
    assert len(rig.updates()) == 1  # rr-1 sends nothing more; rr-2 not due yet
    canceled = build_message(rig.engine.canceled_report(request_id="c"))
    assert_valid_oadr(oadr_schema, canceled)


async def test_updated_report_carrying_cancel_report_cancels(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("rr-1", "usage", ["p1"], gran=10, back=10)))
    rig.replies = [m.UpdatedReport(response=m.Response(response_code=200, request_id="x"),
                                   cancel_report=m.CancelReport(request_id="c", report_request_ids=["rr-1"]))]
    await rig.advance(100)
    assert len(rig.updates()) == 1 and rig.engine.pending() == [] and len(rig.wheel) == 0


async def test_implied_cancel_when_replacing_the_full_list(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("a", "usage", ["p1"], gran=10, back=10),
                                       request("b", "usage", ["p1"], gran=10, back=10)))
    assert rig.engine.on_create_report(create(request("b", "usage", ["p1"], gran=10, back=10)), replace=True) == ["b"]
    await rig.advance(30)
    assert {u.reports[0].report_request_id for u in rig.updates()} == {"b"}


# ------------------------------------------------------------------ METADATA, rejections


async def test_metadata_request_resends_register_report(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    rig.replies = [m.RegisteredReport(response=m.Response(response_code=200, request_id="rq"), ven_id="ven-1",
                                      report_requests=[request("new", "usage", ["p1"], gran=10, back=10)])]
    pending = rig.engine.on_create_report(create(request("meta", "METADATA", ["x"], gran=0, back=0)))
    assert pending == []
    await rig.engine.drain()
    register, created = rig.sent
    assert isinstance(register, m.RegisterReport) and register.ven_id == "ven-1"
    assert [r.report_name for r in register.reports] == ["METADATA_TELEMETRY_USAGE"]
    # the VTN's reply carried a request: it started, and the VEN said so
    assert isinstance(created, m.CreatedReport) and created.pending_reports == ["new"]
    assert rig.engine.pending() == ["new"]


async def test_unknown_specifier_or_r_id_is_rejected_and_others_kept(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    pending = rig.engine.on_create_report(create(request("bad-spec", "nope", ["p1"], gran=10, back=10),
                                                 request("good", "usage", ["p1"], gran=10, back=10),
                                                 request("bad-rid", "usage", ["p1", "zz"], gran=10, back=10)))
    assert pending == ["good"]
    assert [(r.report_request_id, r.response_code) for r in rig.engine.rejections] == [("bad-spec", 461),
                                                                                         ("bad-rid", 461)]
    created = rig.engine.created_report(request_id="req-c")
    assert created.response.response_code == 461 and created.pending_reports == ["good"]
    assert_valid_oadr(oadr_schema, build_message(created))
    rig.engine.on_create_report(create(request("good2", "usage", ["p1"], gran=10, back=10)))
    assert rig.engine.rejections == [] and rig.engine.created_report(request_id="x").response.response_code == 200


# ------------------------------------------------------------------ delivery failures


async def test_failed_sends_keep_samples_for_the_next_send(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=20)))
    rig.replies = [TransportError("down", ven="ven-a"),
                   m.UpdatedReport(response=m.Response(response_code=469, request_id="x")),
                   m.ResponseMessage(response=m.Response(response_code=200, request_id="x"))]
    await rig.advance(85)
    sent = [[p[2] for p in rig.points(u)] for u in rig.updates()]
    assert sent == [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]
    await rig.advance(105)
    assert [p[2] for p in rig.points(rig.updates()[-1])] == [9.0, 10.0]  # acknowledged ones never again


def numbers(msg: m.UpdateReport) -> list[str | None]:
    return [iv.uid for iv in msg.reports[0].intervals]


async def test_a_vens_samples_are_numbered_across_its_requests_and_resent_under_their_numbers(
        oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1"), usage(Counter(100.0), "p2", report_specifier_id="other")], oadr_schema)
    rig.engine.on_create_report(create(request("ra", "usage", ["p1"], gran=10, back=20),
                                       request("rb", "other", ["p2"], gran=10, back=20)))
    rig.replies = [TransportError("down", ven="ven-a")]  # the first update fails: sent again, same numbers
    await rig.advance(45)
    by_request = {}
    for u in rig.updates():
        by_request.setdefault(u.reports[0].report_request_id, []).append(numbers(u))
    # each instant's samples, every request together, take the next numbers of the VEN
    got = sorted(int(n) for lists in by_request.values() for ns in lists for n in ns if n is not None)
    assert sorted(set(got)) == list(range(1, 9)) and rig.engine.last_seq == 10  # (those at 40 s not sent yet)
    first = by_request[rig.updates()[0].reports[0].report_request_id]
    assert first[0] == first[1][:2]  # resent with the numbers it had


async def test_nothing_goes_out_before_the_store_holds_it(oadr_schema: etree.XMLSchema,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    class Failing(MemoryStore):
        down = True

        def _commit(self, ranges: Any, queue: Any) -> None:
            if self.down:
                raise StoreError("the disk is full")
            super()._commit(ranges, queue)

    store = Failing()
    rig = Rig([usage(Counter(), "p1")], oadr_schema, owner="ven-a", store=store)
    rig.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=0)))
    with caplog.at_level(logging.WARNING, logger="test.reports"):
        await rig.advance(25)
    assert rig.updates() == [] and rig.engine.held == 3  # sampled, kept in memory, never sent
    assert "the disk is full" in caplog.text
    store.down = False
    await rig.advance(35)
    assert [numbers(u) for u in rig.updates()] == [["1", "2", "3", "4"]]
    assert store.load() == {"ven-a": store.load()["ven-a"]} and store.load()["ven-a"].last_seq == 4
    assert store.load()["ven-a"].samples == {}  # acknowledged


async def test_a_restored_engine_resends_kept_samples_under_their_numbers_and_numbers_on(
        oadr_schema: etree.XMLSchema) -> None:
    store = MemoryStore()
    first = Rig([usage(Counter(), "p1")], oadr_schema, owner="ven-a", store=store)
    first.replies = [TransportError("down")] * 10
    first.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=20)))
    await first.advance(25)
    first.engine.close()
    state = store.load()["ven-a"]
    assert [s.seq for s in state.samples["rr"]] == [1, 2, 3] and state.last_seq == 3
    again = Rig([usage(Counter(50.0), "p1")], oadr_schema, owner="ven-a", store=store)
    again.wheel.advance_to(25)
    again.engine.last_seq = state.last_seq
    again.engine.restore(state.requests, state.samples, state.dropped)
    await again.advance(45)
    sent = [n for u in again.updates() for n in numbers(u)]
    assert sent[:3] == ["1", "2", "3"] and sent[3:] == [str(n) for n in range(4, 4 + len(sent) - 3)]
    assert len(sent) > 3


async def test_final_report_is_retried_until_acknowledged(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema, retry_delay=15.0)
    rig.replies = [TransportError("down"), TransportError("down")]
    rig.engine.on_create_report(create(request("once", "usage", ["p1"], gran=0, back=0)))
    await rig.advance(1)
    assert len(rig.updates()) == 1
    await rig.advance(40)
    assert [rig.points(u) for u in rig.updates()] == [[(0, "p1", 1.0)]] * 3
    await rig.advance(100)
    assert len(rig.updates()) == 3 and len(rig.wheel) == 0


async def test_close_cancels_timers_and_retries(oadr_schema: etree.XMLSchema) -> None:
    rig = Rig([usage(Counter(), "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=30)))
    await rig.advance(15)
    assert len(rig.wheel) > 0
    rig.engine.close()
    assert len(rig.wheel) == 0 and rig.engine.pending() == []
    await rig.advance(100)
    assert rig.updates() == []


# ------------------------------------------------------------------ callbacks


async def test_raising_or_bad_callback_is_logged_and_skipped(oadr_schema: etree.XMLSchema,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    calls = {"n": 0}

    def flaky() -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("sensor unplugged")
        if calls["n"] == 3:
            return "12"
        return float(calls["n"])

    rig = Rig([usage(flaky, "p1"), usage(Counter(100), "p2")], oadr_schema)
    rig.engine.on_create_report(create(request("rr", "usage", ["p1", "p2"], gran=10, back=40)))
    with caplog.at_level(logging.ERROR, logger="test.reports"):
        await rig.advance(45)
    (up,) = rig.updates()
    assert rig.points(up) == [(0, "p1", 1.0), (0, "p2", 101.0), (10, "p2", 102.0), (20, "p2", 103.0),
                              (30, "p1", 4.0), (30, "p2", 104.0)]
    errors = [r.getMessage() for r in caplog.records if r.name == "test.reports"]
    assert len(errors) == 2
    assert all("ven-a" in e and "TELEMETRY_USAGE" in e and "p1" in e for e in errors)
    assert "sensor unplugged" in errors[0] and "'12'" in errors[1]


async def test_async_callback_and_ven_argument(oadr_schema: etree.XMLSchema) -> None:
    seen: list[object] = []

    async def read(ven: object) -> float:
        seen.append(ven)
        return 42.5

    spec = make_report_spec(read, "meter-1", "powerReal", r_id="p1", report_specifier_id="usage", with_ven=True,
                            report_duration=timedelta(hours=1))
    wheel_owner = object()
    rig = Rig([spec], oadr_schema, ven_arg=wheel_owner)
    rig.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=20)))
    await rig.advance(25)
    (up,) = rig.updates()
    assert rig.points(up) == [(0, "p1", 42.5), (10, "p1", 42.5)]
    assert seen == [wheel_owner, wheel_owner, wheel_owner]


async def test_async_callback_one_shot(oadr_schema: etree.XMLSchema) -> None:
    async def read() -> int:
        return 7

    rig = Rig([usage(read, "p1")], oadr_schema)
    rig.engine.on_create_report(create(request("once", "usage", ["p1"], gran=0, back=0)))
    await rig.advance(5)
    (up,) = rig.updates()
    assert rig.points(up) == [(0, "p1", 7.0)] and rig.engine.pending() == []


async def test_telemetry_status_payloads(oadr_schema: etree.XMLSchema, caplog: pytest.LogCaptureFixture) -> None:
    states: list[Any] = [
        {"online": True, "manual_override": False},
        m.ResourceStatus(online=False, manual_override=True,
                         load_control_state={"oadrLevelOffset": {"oadrCurrent": 1.0, "oadrNormal": 0.0}}),
        "n/a",  # not a status: skipped (a bare number is sent as oadrOnline: see test_status_reports.py)
    ]
    rig = Rig([status(lambda: states.pop(0))], oadr_schema)
    rig.engine.on_create_report(create(request("st", "status", ["s1"], gran=10, back=30)))
    with caplog.at_level(logging.ERROR, logger="test.reports"):
        await rig.advance(35)
    (up,) = rig.updates()  # built and validated by the rig
    assert up.reports[0].report_name == "TELEMETRY_STATUS"
    values = [p[2] for p in rig.points(up)]
    assert values[0] == m.ResourceStatus(online=True, manual_override=False)
    assert values[1].online is False and values[1].manual_override is True
    assert values[1].load_control_state == {"oadrLevelOffset": {"oadrCurrent": 1.0, "oadrNormal": 0.0}}
    assert len(values) == 2 and "TELEMETRY_STATUS" in caplog.text


# ------------------------------------------------------------------ HISTORY_USAGE


def history(callback: Callable[..., Any], **kw: Any) -> ReportSpec:
    return make_report_spec(callback, "meter-1", "energyReal", report_name="HISTORY_USAGE",
                            report_specifier_id="hist", r_id="h1", report_duration=timedelta(days=1), **kw)


async def test_history_usage_past_interval_is_one_report(oadr_schema: etree.XMLSchema) -> None:
    asked: list[tuple[datetime, datetime]] = []

    def read(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        asked.append((start, end))
        return [(start + timedelta(minutes=15 * i), float(i)) for i in range(4)]

    rig = Rig([history(read)], oadr_schema)
    begin = T0 - timedelta(hours=2)
    pending = rig.engine.on_create_report(create(request("h", "hist", ["h1"], gran=900, back=0, start=begin,
                                                         length=3600)))
    assert pending == ["h"] and rig.engine.rejections == []
    await rig.advance(10)
    assert asked == [(begin, begin + timedelta(hours=1))]
    (up,) = rig.updates()
    assert up.reports[0].report_name == "HISTORY_USAGE"
    assert [p[2] for p in rig.points(up)] == [0.0, 1.0, 2.0, 3.0]
    assert rig.points(up)[1][0] == -7200 + 900
    assert rig.engine.pending() == [] and len(rig.wheel) == 0


async def test_history_full_mode_collects_each_report_back_duration(oadr_schema: etree.XMLSchema) -> None:
    asked: list[tuple[float, float, timedelta]] = []

    async def read(date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[Any]:
        asked.append(((date_from - T0).total_seconds(), (date_to - T0).total_seconds(), sampling_interval))
        return [(date_from, 1.0), (date_to - timedelta(seconds=1), 2)]

    spec = make_report_spec(read, "meter-1", "voltage", data_collection_mode="full", report_specifier_id="u",
                            r_id="v1", report_duration=timedelta(hours=1))
    rig = Rig([spec], oadr_schema)
    rig.engine.on_create_report(create(request("f", "u", ["v1"], gran=10, back=60)))
    await rig.advance(125)
    assert asked == [(0, 60, timedelta(seconds=10)), (60, 120, timedelta(seconds=10))]
    assert [rig.points(u) for u in rig.updates()] == [[(0, "v1", 1.0), (59, "v1", 2.0)],
                                                      [(60, "v1", 1.0), (119, "v1", 2.0)]]


async def test_samples_past_the_cap_drop_the_oldest_counted_and_logged(oadr_schema: etree.XMLSchema,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    pending: list[int] = []
    rig = Rig([usage(Counter(), "p1")], oadr_schema, max_pending=3, on_pending=pending.append)
    rig.engine.on_create_report(create(request("rr", "usage", ["p1"], gran=10, back=10)))
    rig.replies = [TransportError("down", ven="ven-a")] * 5  # the VTN is down for five sends
    with caplog.at_level(logging.WARNING, logger="test.reports"):
        await rig.advance(55)
    # samples 1..5 were taken; the cap keeps the newest three, the two oldest are dropped and counted
    assert rig.engine.dropped >= 2
    assert any("the cap" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
    await rig.advance(65)  # the VTN is back: what is kept goes out, oldest first, and nothing dropped twice
    last = [p[2] for p in rig.points(rig.updates()[-1])]
    assert last == sorted(last) and last[-1] == 6.0 and len(last) <= 3 + 1
    assert 1.0 not in last and 2.0 not in last
    # the observer's count never passed the cap (plus the one sample taken while a batch was away), and fell
    # once the VTN acknowledged what was kept
    assert pending and max(pending) <= 3 + 1 and pending[-1] < max(pending)
