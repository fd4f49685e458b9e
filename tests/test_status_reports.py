"""TELEMETRY_STATUS reports (issue 14, case 2): whatever shape the callback returns, the VTN gets a
conformant ``oadrPayloadResourceStatus``.

OpenLEADR users return a bool or a number from a status callback, as for any other report. Each
sample must still go out as ``oadrOnline`` / ``oadrManualOverride``, with one warning per report
request and data point (not one per sample); a partial dict gets the defaults; a value from which
nothing can be read skips that sample only. Checked on the report engine (a manual wheel, every
message built, validated against ``oadr_20b.xsd`` and read back by both extractor twins), then
end to end: ``fleetven.OpenADRClient`` used as an OpenLEADR user would against the TestVTN and
against OpenLEADR's own VTN, and the Fleet API with several VENs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from _helpers import assert_valid_oadr
from aiohttp import web
from lxml import etree

from fleetven import OpenADRClient
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven
from fleetven.messages import build_message, parse_message
from fleetven.messages.parse import parse_document
from fleetven.openadr import model as m
from fleetven.testing import TestVTN
from fleetven.testing.openleadr import OpenLEADRVTN
from fleetven.timerwheel import TimerWheel
from fleetven.ven import reports
from fleetven.ven.reports import ReportEngine, ReportRuntime, ReportSpec, make_report_spec

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
DEADLINE = 30.0
ENGINE_LOG = "test.status"
OADR = "http://openadr.org/oadr-2.0b/2012/07"
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
LEVEL = {"oadrLevelOffset": {"oadrCurrent": 1.0, "oadrNormal": 0.0}}


# ------------------------------------------------------------------ the engine rig


class Rig:
    """A ReportEngine on a manual wheel; every message it sends is built, validated against
    oadr_20b.xsd and read back with the extractor twin under test (what a VTN would read)."""

    def __init__(self, specs: list[ReportSpec], schema: etree.XMLSchema, extract: Callable[[Any], Any]) -> None:
        self.schema = schema
        self.extract = extract
        self.wheel = TimerWheel.manual(start=0.0)
        self.sent: list[m.Message] = []
        runtime = ReportRuntime(wheel=self.wheel, clock=self.clock, logger=logging.getLogger(ENGINE_LOG))
        self.engine = ReportEngine(specs, runtime=runtime, send=self.send, ven_id="ven-1", name="ven-a")

    def clock(self) -> datetime:
        return T0 + timedelta(seconds=self.wheel.time())

    async def send(self, msg: m.Message) -> m.Message:
        data = build_message(msg)
        assert_valid_oadr(self.schema, data)
        self.sent.append(self.extract(parse_document(data)))
        return m.UpdatedReport(response=m.Response(response_code=200, request_id=getattr(msg, "request_id", None)),
                               ven_id="ven-1")

    def request(self, rid: str, r_ids: list[str], *, gran: float = 10, back: float = 0) -> None:
        self.engine.on_create_report(m.CreateReport(request_id="c-" + rid, ven_id="ven-1", report_requests=[
            m.ReportRequest(report_request_id=rid, report_specifier=m.ReportSpecifier(
                report_specifier_id="status", granularity=timedelta(seconds=gran),
                report_back_duration=timedelta(seconds=back),
                specifier_payloads=[m.SpecifierPayload(r_id=r, reading_type="Direct Read") for r in r_ids]))]))

    async def advance(self, t: float, step: float = 10.0) -> None:
        now = self.wheel.time()
        while now < t:
            now = min(now + step, t)
            self.wheel.advance_to(now)
            await self.engine.drain()

    def values(self, r_id: str) -> list[Any]:
        """Every value sent for ``r_id``, in order, as the VTN read them."""
        return [p.value for msg in self.sent if isinstance(msg, m.UpdateReport) for rep in msg.reports
                for iv in rep.intervals for p in iv.payloads if p.r_id == r_id]


def status_spec(callback: Callable[..., Any], r_id: str = "s1", **kw: Any) -> ReportSpec:
    return make_report_spec(callback, f"res-{r_id}", report_name="TELEMETRY_STATUS", report_specifier_id="status",
                            r_id=r_id, report_duration=timedelta(hours=1), report_dtstart=T0, **kw)


def status(online: bool, manual_override: bool, load_control_state: Any = None) -> m.ResourceStatus:
    return m.ResourceStatus(online=online, manual_override=manual_override, load_control_state=load_control_state)


def logged(caplog: pytest.LogCaptureFixture, r_id: str, level: int = logging.WARNING) -> list[str]:
    """The messages logged at ``level`` (exactly) about data point ``r_id``'s callback."""
    return [r.getMessage() for r in caplog.records
            if r.levelno == level and f"rID {r_id}," in r.getMessage() and "callback returned" in r.getMessage()]


# ------------------------------------------------------------------ bare values


@pytest.mark.parametrize(("value", "online"), [
    (True, True), (False, False), (1, True), (0, False), (1.0, True), (0.0, False), (3.5, True), (-2, True),
])
async def test_bare_bool_or_number_is_sent_as_online_with_one_warning(
        value: Any, online: bool, oadr_schema: etree.XMLSchema, extract_impl: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig([status_spec(lambda: value)], oadr_schema, extract_impl)
    rig.request("rr", ["s1"])
    with caplog.at_level(logging.DEBUG, logger=ENGINE_LOG):
        await rig.advance(495)  # 50 samples, each sent on its own
    assert rig.values("s1") == [status(online, False)] * 50
    (warning,) = logged(caplog, "s1")
    assert "ven-a" in warning and "TELEMETRY_STATUS" in warning and "rr" in warning
    assert f"oadrOnline={str(online).lower()}" in warning and "oadrManualOverride=false" in warning
    assert "ResourceStatus" in warning and "'manual_override'" in warning  # names the richer form
    assert not logged(caplog, "s1", logging.ERROR)


async def test_bare_value_warning_is_once_per_report_request_and_data_point(
        oadr_schema: etree.XMLSchema, extract_impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig([status_spec(lambda: 1, "s1"), status_spec(lambda: True, "s2")], oadr_schema, extract_impl)
    rig.request("first", ["s1", "s2"], gran=10, back=30)
    rig.request("second", ["s1"], gran=5, back=0)
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOG):
        await rig.advance(300)
    assert len(rig.values("s1")) > 60 and set(map(repr, rig.values("s1"))) == {repr(status(True, False))}
    s1, s2 = logged(caplog, "s1"), logged(caplog, "s2")
    assert sorted("first" if "request first" in w else "second" for w in s1) == ["first", "second"]
    assert len(s2) == 1 and "request first" in s2[0]


# ------------------------------------------------------------------ the richer forms


@pytest.mark.parametrize("value", [
    {"online": True, "manual_override": True},
    {"online": False, "manual_override": False, "load_control_state": LEVEL},
    status(False, True, LEVEL),
    status(True, False),
], ids=["dict", "dict-with-load-control", "resource-status-with-load-control", "resource-status"])
async def test_full_dict_or_resource_status_fills_every_field_without_a_warning(
        value: Any, oadr_schema: etree.XMLSchema, extract_impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig([status_spec(lambda: value)], oadr_schema, extract_impl)
    rig.request("rr", ["s1"], gran=10, back=30)
    with caplog.at_level(logging.DEBUG, logger=ENGINE_LOG):
        await rig.advance(75)  # 8 samples, sent in threes at 30 and 60
    fields = value if isinstance(value, dict) else {"online": value.online, "manual_override": value.manual_override,
                                                    "load_control_state": value.load_control_state}
    assert set(fields) <= set(reports.STATUS_KEYS)  # the documented keys
    expected = status(fields["online"], fields["manual_override"], fields.get("load_control_state"))
    assert rig.values("s1") == [expected] * 6
    assert not [r for r in caplog.records if r.name == ENGINE_LOG]


@pytest.mark.parametrize(("value", "expected", "says"), [
    ({"online": True}, status(True, False), "no manual_override: taken as False"),
    ({"manual_override": True}, status(False, True), "no online: taken as False"),
    ({"online": 1, "manual_override": 0}, status(True, False), "online 1 is not a bool: taken as True"),
    ({"online": "yes", "manual_override": True}, status(False, True), "online 'yes' is not a bool"),
    ({"online": None, "manual_override": False}, status(False, False), "online None is not a bool"),
    ({"online": True, "manual_override": math.nan}, status(True, False), "manual_override nan is not a bool"),
    ({"online": True, "manual_override": False, "onlin": False}, status(True, False), "unknown keys 'onlin'"),
    ({"online": True, "manual_override": False, "load_control_state": {"oadrLevelOffset": {"oadrCurrent": "x"}}},
     status(True, False), "oadrLevelOffset oadrCurrent is 'x', not a finite number"),
    ({"online": True, "manual_override": False,
      "load_control_state": {"oadrSetPoint": {"oadrCurrent": 21, "oadrMax": True, "oadrBest": 1.0},
                             "oadrMood": {"oadrCurrent": 1.0}, "oadrCapacity": {"oadrMin": 1.0}}},
     status(True, False, {"oadrSetPoint": {"oadrCurrent": 21.0}}), "load control state 'oadrMood' left out"),
    ({"load_control_state": LEVEL}, status(False, False, LEVEL), "no online"),
    (status(1, None), status(True, False), "online 1 is not a bool"),  # type: ignore[arg-type]
    (status(True, False, "low"), status(True, False), "state 'low' is not a dict"),  # type: ignore[arg-type]
], ids=["no-override", "no-online", "numbers", "string-online", "none-online", "nan-override", "unknown-key",
        "bad-load-value", "partly-bad-load-control", "only-load-control", "status-wrong-types",
        "status-bad-load-control"])
async def test_partial_or_mistyped_status_gets_the_defaults_and_one_warning(
        value: Any, expected: m.ResourceStatus, says: str, oadr_schema: etree.XMLSchema, extract_impl: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig([status_spec(lambda: value)], oadr_schema, extract_impl)
    rig.request("rr", ["s1"])
    with caplog.at_level(logging.DEBUG, logger=ENGINE_LOG):
        await rig.advance(195)
    assert rig.values("s1") == [expected] * 20
    (warning,) = logged(caplog, "s1")
    assert says in warning and "sent with the rest" in warning
    assert len(logged(caplog, "s1", logging.DEBUG)) == 19


# ------------------------------------------------------------------ values that cannot be mapped


@pytest.mark.parametrize("value", [
    "online", "", None, math.nan, math.inf, [True], (T0, True), {}, {"status": "ok"},
    {"online": "yes", "manual_override": "no"}, object(),
], ids=["str", "empty-str", "none", "nan", "inf", "list", "tuple", "empty-dict", "unknown-dict", "string-fields",
        "object"])
async def test_unmappable_value_skips_only_that_sample_and_is_logged_once(
        value: Any, oadr_schema: etree.XMLSchema, extract_impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    readings = iter([value, True, value, False, value] + [value] * 20)
    rig = Rig([status_spec(lambda: next(readings), "bad"), status_spec(lambda: 0, "good")], oadr_schema,
              extract_impl)
    rig.request("rr", ["bad", "good"])
    with caplog.at_level(logging.DEBUG, logger=ENGINE_LOG):
        await rig.advance(245)
    assert rig.values("bad") == [status(True, False), status(False, False)]  # the two readable samples
    assert rig.values("good") == [status(False, False)] * 25  # the other data point never misses a report
    (error,) = logged(caplog, "bad", logging.ERROR)
    assert "skipped" in error and "no status can be read" in error and "ResourceStatus" in error
    assert "ven-a" in error and "request rr" in error
    assert len([d for d in logged(caplog, "bad", logging.DEBUG) if "skipped" in d]) == 22  # the later ones
    assert len(logged(caplog, "bad")) == 1  # the bare True and False: one warning


async def test_async_and_full_mode_status_callbacks_are_mapped_the_same(
        oadr_schema: etree.XMLSchema, extract_impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    async def read() -> Any:
        return 1

    def history(date_from: datetime, date_to: datetime, sampling_interval: timedelta) -> list[tuple[datetime, Any]]:
        return [(date_from, True), (date_from + timedelta(seconds=5), {"online": False, "manual_override": True}),
                (date_from + timedelta(seconds=6), "garbage")]

    rig = Rig([status_spec(read, "a"), status_spec(history, "h", data_collection_mode="full")], oadr_schema,
              extract_impl)
    rig.request("ra", ["a"])
    rig.engine.on_create_report(m.CreateReport(request_id="c-h", ven_id="ven-1", report_requests=[
        m.ReportRequest(report_request_id="rh", report_specifier=m.ReportSpecifier(
            report_specifier_id="status", granularity=timedelta(seconds=10), report_back_duration=timedelta(seconds=30),
            specifier_payloads=[m.SpecifierPayload(r_id="h", reading_type="Direct Read")]))]))
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOG):
        await rig.advance(95)
    assert rig.values("a") == [status(True, False)] * 10
    assert rig.values("h") == [status(True, False), status(False, True)] * 3
    assert len(logged(caplog, "a")) == len(logged(caplog, "h")) == len(logged(caplog, "h", logging.ERROR)) == 1


# ------------------------------------------------------------------ end to end: the TestVTN


def request_every_status_report(ven_id: str, msg: m.RegisterReport) -> list[m.ReportRequest]:
    """The TestVTN's answer to oadrRegisterReport: every TELEMETRY_STATUS data point, sampled and sent each second."""
    return [m.ReportRequest(
        report_request_id=f"status-{ven_id}-{i}",
        report_specifier=m.ReportSpecifier(
            report_specifier_id=rep.report_specifier_id, granularity=timedelta(seconds=1),
            report_back_duration=timedelta(0),
            specifier_payloads=[m.SpecifierPayload(r_id=d.r_id, reading_type="Direct Read")
                                for d in rep.report_descriptions]))
        for i, rep in enumerate(msg.reports) if rep.report_name == "METADATA_TELEMETRY_STATUS"]


class Recorded:
    """A TestVTN behind a recording HTTP relay on a free loopback port: the VENs talk to
    :attr:`url`, and the body of every ``oadrUpdateReport`` they send is kept, as sent."""

    def __init__(self, vtn: TestVTN) -> None:
        self.vtn = vtn
        self.bodies: list[bytes] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert self._runner.addresses
        port = self._runner.addresses[0][1]
        self.url = self.vtn.url.replace(f":{self.vtn.port}", f":{port}", 1)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _relay(self, request: web.Request) -> web.Response:
        body = await request.read()
        if isinstance(parse_message(body), m.UpdateReport):
            self.bodies.append(body)
        assert self._session is not None
        upstream = self.vtn.url.rsplit(self.vtn.path, 1)[0] + request.path
        async with self._session.post(upstream, data=body, headers={"Content-Type": "application/xml"}) as reply:
            return web.Response(body=await reply.read(), status=reply.status,
                                content_type=reply.content_type)

    def values(self, ven_id: str, r_id: str) -> list[Any]:
        return [p.value for who, rep in self.vtn.reports if who == ven_id for iv in rep.intervals
                for p in iv.payloads if p.r_id == r_id]


@pytest.fixture
async def vtn() -> AsyncIterator[Recorded]:
    async with TestVTN(poll_freq=timedelta(seconds=1), on_register_report=request_every_status_report) as v:
        recorded = Recorded(v)
        await recorded.start()
        try:
            yield recorded
        finally:
            await recorded.stop()


def xml_statuses(body: bytes) -> dict[str, list[tuple[str, str]]]:
    """rID -> the (oadrOnline, oadrManualOverride) texts of every oadrPayloadResourceStatus in a body."""
    out: dict[str, list[tuple[str, str]]] = {}
    ns = {"oadr": OADR, "ei": EI}
    for payload in etree.fromstring(body).iterfind(".//oadr:oadrReportPayload", ns):
        r_id = payload.findtext("ei:rID", namespaces=ns)
        assert r_id is not None
        st = payload.find("oadr:oadrPayloadResourceStatus", ns)
        assert st is not None, "a TELEMETRY_STATUS payload that is not an oadrPayloadResourceStatus"
        out.setdefault(r_id, []).append((st.findtext("oadr:oadrOnline", namespaces=ns) or "",
                                         st.findtext("oadr:oadrManualOverride", namespaces=ns) or ""))
    return out


async def test_openadr_client_status_callbacks_reach_the_test_vtn(
        vtn: Recorded, oadr_schema: etree.XMLSchema, caplog: pytest.LogCaptureFixture) -> None:
    """Used exactly as OpenLEADR's client, with what OpenLEADR users return from status callbacks."""
    client = OpenADRClient(ven_name="status-ven", vtn_url=vtn.url)
    shapes: dict[str, tuple[Any, m.ResourceStatus | None]] = {
        "device001": (1, status(True, False)),
        "device002": (False, status(False, False)),
        "device003": (0.0, status(False, False)),
        "device004": ({"online": True, "manual_override": True}, status(True, True)),
        "device005": (status(False, True, LEVEL), status(False, True, LEVEL)),
        "device006": ({"online": True}, status(True, False)),
        "device007": ("n/a", None),
    }
    r_ids = {}
    for resource, (value, _) in shapes.items():
        _, r_ids[resource] = client.add_report(callback=lambda value=value: value, resource_id=resource,
                                               measurement=None, report_name="TELEMETRY_STATUS")
    with caplog.at_level(logging.WARNING, logger="fleetven"):
        await client.run()
        try:
            ven_id = client.ven_id
            assert ven_id is not None
            first = r_ids["device001"]
            await vtn.vtn.wait_for(lambda: len(vtn.values(ven_id, first)) >= 3, timeout=DEADLINE)
        finally:
            await client.stop()
    for resource, (_, expected) in shapes.items():
        got = vtn.values(ven_id, r_ids[resource])
        assert (got == [expected] * len(got) and len(got) >= 3) if expected else got == [], resource
    assert len(vtn.bodies) >= 3
    for body in vtn.bodies:
        assert_valid_oadr(oadr_schema, body)
        found = xml_statuses(body)
        assert set(found[r_ids["device001"]]) == {("true", "false")} and r_ids["device007"] not in found
        assert set(found[r_ids["device004"]]) == {("true", "true")}
    # one log line per data point for the whole run, not one per sample
    for resource in ("device001", "device002", "device003", "device006"):
        assert len(logged(caplog, r_ids[resource])) == 1, resource
    assert len(logged(caplog, r_ids["device007"], logging.ERROR)) == 1
    assert not logged(caplog, r_ids["device004"]) and not logged(caplog, r_ids["device005"])


# ------------------------------------------------------------------ end to end: OpenLEADR's VTN


async def test_openadr_client_status_report_reaches_openleadr_vtn(oadr_schema: etree.XMLSchema) -> None:
    """Against OpenLEADR 0.5.36's VTN, which requests every TELEMETRY_STATUS report it is offered.

    (That VTN cannot read an ``oadrPayloadResourceStatus``: its report service looks for a
    ``payloadFloat`` value and answers HTTP 500, so fleetven keeps the samples and sends them
    again with the next report. What arrives is checked here from the bodies it received.)
    """
    async with OpenLEADRVTN(poll_freq=timedelta(seconds=1), report_sampling=timedelta(seconds=1)) as vtn:
        client = OpenADRClient(ven_name="status-ven", vtn_url=vtn.url)
        _, online = client.add_report(callback=lambda: 1, resource_id="device001", measurement=None,
                                      report_name="TELEMETRY_STATUS")
        _, offline = client.add_report(callback=lambda: False, resource_id="device002", measurement=None,
                                       report_name="TELEMETRY_STATUS")
        _, override = client.add_report(callback=lambda: {"online": True, "manual_override": True},
                                        resource_id="device003", measurement=None, report_name="TELEMETRY_STATUS")

        def updates() -> list[bytes]:
            return [r.body for r in vtn.received if r.message_type == "oadrUpdateReport"]

        await client.run()
        try:
            await vtn.wait_for(lambda: len(updates()) >= 2, timeout=DEADLINE)
        finally:
            await client.stop()
        assert [d["measurement"] for d in vtn.offered_reports[str(client.ven_id)]] == ["Status"] * 3
    for body in updates():
        assert_valid_oadr(oadr_schema, body)
        found = xml_statuses(body)
        assert found and set(found) == {online, offline, override}
        assert set(found[online]) == {("true", "false")} and set(found[offline]) == {("false", "false")}
        assert set(found[override]) == {("true", "true")}
        msg = parse_message(body)
        assert isinstance(msg, m.UpdateReport) and msg.reports[0].report_name == "TELEMETRY_STATUS"


# ------------------------------------------------------------------ the Fleet API


async def test_fleet_status_reports_per_ven_never_affect_each_other(
        vtn: Recorded, oadr_schema: etree.XMLSchema, caplog: pytest.LogCaptureFixture) -> None:
    def shared(ven: Ven) -> Any:
        return {"site-1": True, "site-2": 0, "site-3": "broken"}[ven.name]

    fleet = Fleet(vtn.url, seed=5, poll_interval=0.1, backoff_base=0.01, backoff_cap=0.05, request_timeout=5.0)
    _, r_shared = fleet.add_report(shared, "inverter", report_name="TELEMETRY_STATUS",
                                   report_duration=timedelta(hours=1))
    vens = [fleet.add_ven(f"site-{i}") for i in (1, 2, 3)]
    _, r_own = vens[2].add_report(lambda: {"online": True, "manual_override": True}, "battery",
                                  report_name="TELEMETRY_STATUS", report_duration=timedelta(hours=1))

    def ids() -> list[str]:
        return [v.ven_id for v in vens if v.ven_id is not None and v.registered]

    with caplog.at_level(logging.WARNING, logger="fleetven"):
        async with fleet:
            await vtn.vtn.wait_for(lambda: len(ids()) == 3, timeout=DEADLINE)
            one, two, three = ids()
            await vtn.vtn.wait_for(lambda: all(len(vtn.values(v, r_shared)) >= 3 for v in (one, two))
                                   and len(vtn.values(three, r_own)) >= 3, timeout=DEADLINE)
    assert set(map(repr, vtn.values(one, r_shared))) == {repr(status(True, False))}
    assert set(map(repr, vtn.values(two, r_shared))) == {repr(status(False, False))}
    assert vtn.values(three, r_shared) == []  # site-3's broken reading is skipped ...
    assert set(map(repr, vtn.values(three, r_own))) == {repr(status(True, True))}  # ... its other data point is not
    for body in vtn.bodies:
        assert_valid_oadr(oadr_schema, body)
    warnings = logged(caplog, r_shared)
    assert len(warnings) == 2 and {w.split(":")[0] for w in warnings} == {"VEN site-1", "VEN site-2"}
    (error,) = logged(caplog, r_shared, logging.ERROR)
    assert error.startswith("VEN site-3:") and "'broken'" in error
