"""``fleetven run``: end to end as a subprocess against OpenLEADR's VTN with 500 identities from a CSV
(registration, an event answered, Prometheus metrics scraped, JSON log lines, SIGTERM), and its parts:
the metrics observer, the live view, the loop lag monitor, JSON logging, configuration errors."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import signal
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _helpers import scrape_until, watch_metrics_port
from prometheus_client import REGISTRY, generate_latest
from rich.console import Console

from fleetven.app.cli import JSONLines, main
from fleetven.exceptions import SignatureError, TransportError
from fleetven.observe.live import LiveStats, LiveView, percentile
from fleetven.observe.metrics import FleetMetrics, LoopLag
from fleetven.testing.openleadr import OpenLEADRVTN

UTC = timezone.utc
VENS = 500
DEADLINE = 45.0


# ---------------------------------------------------------------------------------------- fakes


class FakeVen:
    """What observers read of a VEN: its name and state."""

    def __init__(self, name: str, state: str = "new") -> None:
        self.name = name
        self.state = state


@dataclass
class FakeFleet:
    vens: dict[str, FakeVen] = field(default_factory=dict)
    vtn_url: str = "http://vtn.example/OpenADR2/Simple/2.0b"

    def add(self, name: str, state: str) -> FakeVen:
        ven = self.vens[name] = FakeVen(name, state)
        return ven


def sample(metrics: FleetMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# -------------------------------------------------------------------------------------- metrics


def test_metrics_count_requests_states_events_and_samples() -> None:
    fleet = FakeFleet()
    a, b = fleet.add("a", "registered"), fleet.add("b", "registering")
    fleet.add("c", "new")
    metrics = FleetMetrics(fleet)  # type: ignore[arg-type]
    ven_a: Any = a
    ven_b: Any = b

    metrics.request_done(ven_a, "oadrPoll", due=10.0, sent=10.5, done=10.75, error=None)
    metrics.request_done(ven_a, "oadrPoll", due=20.0, sent=20.0, done=20.1, error=None)
    metrics.request_done(ven_b, "oadrCreatePartyRegistration", due=1.0, sent=1.0, done=2.0,
                         error=TransportError("refused"))
    assert sample(metrics, "fleetven_requests_total", message_type="oadrPoll", outcome="ok") == 2
    assert sample(metrics, "fleetven_requests_total", message_type="oadrCreatePartyRegistration",
                  outcome="TransportError") == 1
    assert sample(metrics, "fleetven_request_duration_seconds_count", message_type="oadrPoll") == 2
    assert sample(metrics, "fleetven_request_duration_seconds_sum", message_type="oadrPoll") == pytest.approx(0.35)
    assert sample(metrics, "fleetven_request_delay_seconds_sum", message_type="oadrPoll") == pytest.approx(0.5)
    # b failed its last request: it is backing off.
    assert sample(metrics, "fleetven_vens", state="registered") == 1
    assert sample(metrics, "fleetven_vens", state="backoff") == 1
    assert sample(metrics, "fleetven_vens", state="new") == 1
    assert sample(metrics, "fleetven_vens", state="registering") == 0
    metrics.request_done(ven_b, "oadrCreatePartyRegistration", due=3.0, sent=3.0, done=3.5, error=None)
    b.state = "registered"
    assert sample(metrics, "fleetven_vens", state="registered") == 2
    assert sample(metrics, "fleetven_vens", state="backoff") == 0
    # A VEN that stops is not backing off any more.
    metrics.request_done(ven_a, "oadrPoll", due=30.0, sent=30.0, done=30.2, error=TransportError("reset"))
    assert sample(metrics, "fleetven_vens", state="backoff") == 1
    a.state = "stopped"
    metrics.ven_state(ven_a, "registered", "stopped")
    assert sample(metrics, "fleetven_vens", state="backoff") == 0
    assert sample(metrics, "fleetven_vens", state="stopped") == 1

    metrics.event_status(ven_a, "e1", "near")
    metrics.event_status(ven_b, "e1", "near")
    metrics.event_status(ven_a, "e1", "active")
    assert sample(metrics, "fleetven_events", status="near") == 1
    assert sample(metrics, "fleetven_events", status="active") == 1
    metrics.event_status(ven_a, "e1", "completed")
    metrics.event_status(ven_b, "e1", "cancelled")
    assert sample(metrics, "fleetven_events", status="near") == 0
    assert sample(metrics, "fleetven_events", status="active") == 0
    assert sample(metrics, "fleetven_event_status_changes_total", status="near") == 2
    assert sample(metrics, "fleetven_event_status_changes_total", status="cancelled") == 1

    metrics.event_answer(ven_a, "e1", "optIn")
    metrics.event_answer(ven_b, "e1", "optOut")
    metrics.event_answer(ven_b, "e2", "optOut")
    assert sample(metrics, "fleetven_event_answers_total", opt="optOut") == 2
    metrics.signature_refused(ven_a, SignatureError("bad digest"))
    assert sample(metrics, "fleetven_signature_failures_total") == 1

    metrics.samples_pending(ven_a, 5)
    metrics.samples_pending(ven_b, 3)
    metrics.samples_pending(ven_a, 2)
    assert sample(metrics, "fleetven_report_samples_pending") == 5
    metrics.ven_state(ven_b, "registered", "cancelled")
    assert sample(metrics, "fleetven_report_samples_pending") == 2

    metrics.loop_lag(0.004)
    assert sample(metrics, "fleetven_loop_lag_seconds") == 0.004
    assert sample(metrics, "fleetven_loop_lag_distribution_seconds_count") == 1


def test_metrics_keep_out_of_the_global_registry() -> None:
    metrics = FleetMetrics(FakeFleet())  # type: ignore[arg-type]
    metrics.request_done(FakeVen("x"), "oadrPoll", 0.0, 0.0, 0.1, None)  # type: ignore[arg-type]
    assert b"fleetven_requests_total" in metrics.render()
    assert b"fleetven_" not in generate_latest(REGISTRY)
    # Two of them side by side do not clash.
    FleetMetrics(FakeFleet())  # type: ignore[arg-type]


async def test_metrics_are_served_over_http() -> None:
    fleet = FakeFleet()
    fleet.add("a", "registered")
    metrics = FleetMetrics(fleet)  # type: ignore[arg-type]
    port = await metrics.serve(host="127.0.0.1", port=0)
    try:
        assert port > 0
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await r.text()
        headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics",
                                                                   headers=headers) as r:
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await r.text()).endswith("# EOF\n")
    finally:
        await metrics.close()
    assert 'fleetven_vens{state="registered"} 1.0' in text


async def test_loop_lag_is_measured_until_stopped() -> None:
    seen: list[float] = []
    got = asyncio.Event()

    def record(lag: float) -> None:
        seen.append(lag)
        got.set()

    lag = LoopLag(interval=0.001, on_sample=record)
    lag.start()
    try:
        await asyncio.wait_for(got.wait(), DEADLINE)
    finally:
        await lag.stop()
    assert seen and all(x >= 0 for x in seen)
    assert lag.last == seen[-1] and lag.take_worst() == max(seen) and lag.worst == 0


# ------------------------------------------------------------------------------------ live view


def test_percentile_by_nearest_rank() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert percentile(ordered, 0.5) == 50 and percentile(ordered, 0.99) == 99 and percentile(ordered, 1.0) == 100
    assert percentile([], 0.5) == 0 and percentile([3.0], 0.01) == 3


def _rendered(stats: LiveStats) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(stats.render())
    out: Any = console.file
    return str(out.getvalue())


def test_live_stats_show_what_the_fleet_does() -> None:
    fleet = FakeFleet()
    a, b = fleet.add("a", "registered"), fleet.add("b", "registering")
    stats = LiveStats(fleet, span=10.0)  # type: ignore[arg-type]
    ven_a: Any = a
    ven_b: Any = b
    for i in range(1, 11):
        stats.request_done(ven_a, "oadrPoll", due=100.0 + i, sent=100.0 + i, done=100.0 + i + i / 100, error=None)
    stats.request_done(ven_b, "oadrQueryRegistration", 105.0, 105.0, 105.5, TransportError("connection refused"))
    stats.event_status(ven_a, "e1", "near")
    stats.event_answer(ven_a, "e1", "optIn")
    stats.signature_refused(ven_a, SignatureError("x"))
    stats.samples_pending(ven_a, 4)

    recent = stats.recent(now=110.5)
    assert recent["oadrPoll"][0] == pytest.approx(1.0)  # 10 polls in a 10 s window
    assert recent["oadrPoll"][2][-1] == pytest.approx(0.10)
    assert recent["oadrQueryRegistration"][1] == 1
    assert stats.states() == {"registered": 1, "backoff": 1}
    text = _rendered(stats)
    assert "1 / 2 registered, 1 backing off" in text
    assert re.search(r"oadrPoll\s+1\.0\s+10\s+0\s+50\.0 ms\s+90\.0 ms\s+100\.0 ms", text), text
    assert "1 near" in text and "1 optIn" in text and "signatures refused" in text and "samples pending" in text
    assert "last error: b oadrQueryRegistration: TransportError: connection refused" in text
    # Requests older than the window leave the rates.
    assert stats.recent(now=200.0)["oadrPoll"][0] == 0
    summary = stats.summary()
    assert summary.startswith("1/2 VENs registered, 1 backing off;") and "1 errors in all" in summary


async def test_live_view_redraws_until_cancelled() -> None:
    fleet = FakeFleet()
    fleet.add("a", "registered")
    buffer = io.StringIO()
    view = LiveView(LiveStats(fleet), console=Console(file=buffer, width=120, force_terminal=True),  # type: ignore[arg-type]
                    interval=0.001)
    task = asyncio.get_running_loop().create_task(view.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while buffer.getvalue().count("registered") < 2 and loop.time() < deadline:
        await asyncio.sleep(0.01)  # a deadline-bounded wait for the second frame, not a timing
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert buffer.getvalue().count("registered") >= 2
    assert "fleetven run: http://vtn.example" in buffer.getvalue()


# ---------------------------------------------------------------------------------- logging, CLI


def test_json_log_lines() -> None:
    formatter = JSONLines()
    record = logging.LogRecord("fleetven.ven", logging.WARNING, __file__, 1, "%s: refused %d", ("site-1", 3), None)
    record.metrics_port = 9464
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "fleetven.ven"
    assert entry["message"] == "site-1: refused 3" and entry["metrics_port"] == 9464
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(formatter.format(record))["exception"]


def _fleet_file(tmp_path: Path, url: str, *, extra: str = "") -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(textwrap.dedent(f"""\
        [vtn]
        url = "{url}"
        [vens]
        csv = "vens.csv"
        [logging]
        format = "text"
    """) + extra)
    return path


def test_configuration_mistakes_exit_2_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vens.csv").write_text("ven_name\nsite-1\nsite-1\n")
    path = _fleet_file(tmp_path, "htp://nowhere", extra="[fleet]\npoll_interval = 'often'\n")
    assert main(["run", str(path), "--no-live"]) == 2
    err = capsys.readouterr().err
    assert "3 mistakes" in err
    assert f"{path}:2: [vtn] url:" in err
    assert f"{path}:8: [fleet] poll_interval:" in err
    assert "vens.csv:3: ven_name: the VEN name 'site-1' is already used at vens.csv:2" in err


def test_check_only_builds_the_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vens.csv").write_text("ven_name\nsite-1\nsite-2\n")
    path = _fleet_file(tmp_path, "http://127.0.0.1:1/OpenADR2/Simple/2.0b")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    assert main(["run", "--check", str(path)]) == 0
    assert "OK: 2 VENs" in capsys.readouterr().out
    # main ran in this process: the logging it set up is undone (level, handlers)
    assert (root.level, root.handlers) == (level, handlers)


# ------------------------------------------------------------------------------------- end to end


def test_run_end_to_end_against_openleadr(tmp_path: Path) -> None:
    """500 identities from a CSV register with OpenLEADR's VTN, answer an event through a handler
    named in the file, show in the metrics; SIGTERM stops the process cleanly with status 0.

    A plain test running its own loop: the fleet under test runs on uvloop in the subprocess, and the
    VTN's loop need not run twice (as async tests do here, once per loop kind)."""
    asyncio.run(_end_to_end(tmp_path))


async def _end_to_end(tmp_path: Path) -> None:
    (tmp_path / "e2e_handlers.py").write_text(textwrap.dedent("""
        def on_event(ven, event):
            return "optIn"

        def power(ven):
            return 42.0
    """))
    (tmp_path / "vens.csv").write_text(
        "ven_name,ven_id,cert,key\n" + "".join(f"site-{i:04d},,,\n" for i in range(VENS))
    )
    async with OpenLEADRVTN(poll_freq=timedelta(seconds=3), report_sampling=None) as vtn:
        path = _fleet_file(tmp_path, vtn.url, extra=textwrap.dedent("""
            [fleet]
            backoff_base = "200ms"
            backoff_cap = "2s"
            request_timeout = "20s"
            [handlers]
            on_event = "e2e_handlers:on_event"
            [[reports]]
            callback = "e2e_handlers:power"
            resource_id = "meter"
            measurement = "power_real"
            sampling_rate = "10s"
            report_duration = "1h"
        """))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleetven", "run", str(path), "--metrics-port", "0", "--metrics-host", "127.0.0.1",
            "--log-format", "json", "--no-live", cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        assert proc.stderr is not None
        reader, port, lines = watch_metrics_port(proc.stderr)
        try:
            metrics_port = await asyncio.wait_for(port, DEADLINE)
            await vtn.wait_for(lambda: len(vtn.registrations) == VENS, timeout=DEADLINE)
            assert sorted(vtn.registrations) == [f"site-{i:04d}" for i in range(VENS)]
            # The report of the file is offered by every VEN (just after it registers).
            await vtn.wait_for(lambda: len(vtn.offered_reports) == VENS, timeout=DEADLINE)
            assert {r["resource_id"] for offered in vtn.offered_reports.values() for r in offered} == {"meter"}

            start = datetime.now(UTC) + timedelta(minutes=5)
            chosen = {vtn.registrations[f"site-{i:04d}"] for i in (0, 123, 499)}
            events = {
                ven_id: vtn.add_event(ven_id, signal_name="simple", signal_type="level",
                                      intervals=[{"dtstart": start, "duration": timedelta(minutes=10),
                                                  "signal_payload": 1.0}])
                for ven_id in chosen
            }
            await vtn.wait_for(lambda: len(vtn.opt_answers) >= len(chosen), timeout=DEADLINE)
            assert {(a.ven_id, a.event_id, a.opt_type) for a in vtn.opt_answers} == {
                (ven_id, event_id, "optIn") for ven_id, event_id in events.items()
            }

            text = await scrape_until(metrics_port, 'fleetven_vens{state="registered"} 500.0', timeout=DEADLINE)
            assert 'fleetven_requests_total{message_type="oadrCreatePartyRegistration",outcome="ok"} 500.0' in text
            assert 'fleetven_event_answers_total{opt="optIn"} 3.0' in text
            assert 'fleetven_request_duration_seconds_bucket{le="+Inf",message_type="oadrRegisterReport"} 500.0' in text
            assert "fleetven_loop_lag_seconds " in text and "fleetven_signature_failures_total 0.0" in text

            proc.send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(proc.wait(), DEADLINE)
            await asyncio.wait_for(reader, DEADLINE)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            reader.cancel()
    log = [json.loads(line) for line in lines]  # every line of the log is a JSON object
    assert status == 0, b"".join(lines).decode(errors="replace")
    messages = [entry["message"] for entry in log]
    assert f"fleet started: {VENS} VENs against {vtn.url}" in messages
    assert messages.index("SIGTERM received: stopping the fleet") < messages.index("fleet stopped")
    assert messages[-1] == "fleet stopped"
    assert not [entry for entry in log if entry["level"] in ("ERROR", "CRITICAL")]
    assert all(set(entry) >= {"time", "level", "logger", "message"} for entry in log)
    assert proc.stdout is not None and await proc.stdout.read() == b""  # no live view without a terminal
