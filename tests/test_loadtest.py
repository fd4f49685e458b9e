"""``fleetven loadtest``: the recorder (latency from due time, late requests, phases, history),
the result files in Locust's columns, report.html rendered by headless Chromium, and the command
end to end against OpenLEADR's VTN and against ``fleetven vtn`` (one that stalls)."""

from __future__ import annotations

import ast
import csv
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fleetven
from fleetven import Fleet
from fleetven.app.cli import main
from fleetven.exceptions import ConfigurationError, HTTPStatusError
from fleetven.loadtest import LoadTest, LoadTestConfig, Recorder, parse_duration, parse_report_option
from fleetven.loadtest.monitor import Monitor
from fleetven.loadtest.options import FLEET_OPTIONS, option
from fleetven.loadtest.recorder import (
    HIGHEST_US,
    PERCENTILES,
    Tally,
    histogram_figures,
    new_histogram,
    record_latency,
)
from fleetven.loadtest.results import HISTORY_COLUMNS, STATS_COLUMNS
from fleetven.testing.openleadr import OpenLEADRVTN

CHROMIUM = "/usr/bin/chromium"
LOCUST_STATS = [
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
    "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
]
LOCUST_HISTORY = [
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
    "Total Request Count", "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
]


class FakeVen:
    def __init__(self, name: str = "loadtest-00001", poll_freq: float = 10.0) -> None:
        self.name = name
        self.poll_freq = poll_freq
        self.state = "registered"


# ------------------------------------------------------------------ units


def test_durations_and_report_options() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("5m") == 300 and parse_duration("PT10S") == 10 and parse_duration("1.5") == 1.5
    with pytest.raises(ConfigurationError, match="--ramp"):
        parse_duration("soon", name="--ramp")
    option = parse_report_option("telemetry_usage:5s")
    assert (option.name, option.interval) == ("TELEMETRY_USAGE", 5.0)
    with pytest.raises(ConfigurationError, match="HISTORY_USAGE"):
        parse_report_option("HISTORY_USAGE:5s")
    with pytest.raises(ConfigurationError, match="--max-error-rate"):
        LoadTestConfig(vtn_url="http://x", max_error_rate=5.0)


def test_histogram_figures_agree_with_hdrh() -> None:
    hist = new_histogram()
    for value in (*range(1, 2000, 7), 150_000, 3_000_000):
        hist.record_value(value)
    values, mean, low, high = histogram_figures(hist, (50, 90, 99, 100))
    for p in (50, 90, 99, 100):
        assert values[p] == hist.get_value_at_percentile(p)
    assert mean == pytest.approx(hist.get_mean_value())
    assert (low, high) == (hist.get_min_value(), hist.get_max_value())


def _old_walk(hist: Any, percentiles: tuple[float, ...]) -> tuple[dict[float, int], float, int, int]:
    """The bucket-by-bucket walk ``histogram_figures`` replaced: the reference it must agree with."""
    total = hist.get_total_count()
    counts = list(hist.counts[: hist._counts_index_for(hist.max_value) + 1])
    shift, half, unit = hist.sub_bucket_half_count_magnitude, hist.sub_bucket_half_count, hist.unit_magnitude
    wanted = sorted((max(int(p / 100.0 * total + 0.5), 1), p) for p in percentiles)
    out: dict[float, int] = {}
    seen = weighted = at = 0
    lowest = None
    for index, count in enumerate(counts):
        if not count:
            continue
        bucket, sub = (index >> shift) - 1, (index & (half - 1)) + half
        if bucket < 0:
            sub, bucket = sub - half, 0
        value, size = sub << (bucket + unit), 1 << (bucket + unit)
        lowest = value if lowest is None else lowest
        weighted += count * (value + (size >> 1))
        seen += count
        while at < len(wanted) and seen >= wanted[at][0]:
            out[wanted[at][1]] = value + size - 1
            at += 1
    for _, p in wanted[at:]:
        out[p] = hist.get_max_value()
    return out, weighted / total, lowest or 0, hist.get_max_value()


@pytest.mark.parametrize("seed", range(6))
def test_histogram_figures_agree_with_a_bucket_walk(seed: int) -> None:
    import random

    rng = random.Random(seed)
    hist = new_histogram()
    scale = (10, 1_000, 100_000, 10_000_000, 1_000_000_000, 50)[seed]
    for _ in range(rng.choice((1, 3, 500, 5000))):
        hist.record_value(min(int(rng.expovariate(1 / scale)) + 1, HIGHEST_US), rng.choice((1, 1, 4)))
    for percentiles in (PERCENTILES, (50,), (99.99, 0.5, 100)):
        assert histogram_figures(hist, percentiles) == _old_walk(hist, percentiles)


def test_record_latency_matches_hdrh_record_value() -> None:
    import random

    rng = random.Random(7)
    values = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 65_535, 65_536, HIGHEST_US - 1, HIGHEST_US]
    values += [rng.randint(1, HIGHEST_US) for _ in range(3000)]
    values += [int(rng.expovariate(1 / 20_000)) + 1 for _ in range(3000)]
    ours, theirs = new_histogram(), new_histogram()
    for value in values:
        record_latency(ours, value)
        theirs.record_value(value)
    assert list(ours.counts) == list(theirs.counts)
    assert (ours.total_count, ours.min_value, ours.max_value) == (theirs.total_count, theirs.min_value,
                                                                   theirs.max_value)


def test_the_installed_hdrhistogram_is_the_release_the_recorder_reads_the_fields_of() -> None:
    """The recorder reads hdrh's fields (bench/bench_histogram.py: its public API costs 3x per
    record and 60x per window read). This fails on a release it was not checked against, even if
    the pin in pyproject.toml is lifted by mistake: check the fields, then lift the pin."""
    import importlib.metadata

    from fleetven.loadtest import recorder

    version = importlib.metadata.version("hdrhistogram")
    assert version.startswith("0.10."), (
        f"hdrhistogram {version}: fleetven.loadtest.recorder reads the fields of 0.10 (counts, total_count, "
        "min_value, max_value, the sub-bucket layout); run tests/test_loadtest.py and bench/bench_histogram.py "
        "against it, then move the pin `hdrhistogram>=0.10,<0.11` in pyproject.toml")
    assert recorder.FAST_PATHS, "the import-time check found hdrh's fields changed: the public API is in use"


def test_the_fast_paths_check_notices_a_layout_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    from hdrh.histogram import HdrHistogram

    from fleetven.loadtest import recorder

    assert recorder._fast_paths_hold()
    original = HdrHistogram.record_value
    monkeypatch.setattr(HdrHistogram, "record_value", lambda self, value, count=1: original(self, value * 2, count))
    assert not recorder._fast_paths_hold()
    monkeypatch.undo()
    monkeypatch.setattr(HdrHistogram, "sub_bucket_half_count_magnitude", property(lambda self: 1 / 0), raising=False)
    assert not recorder._fast_paths_hold()


def test_the_public_api_fallback_gives_the_same_figures_and_clears(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from fleetven.loadtest import recorder

    rng = random.Random(11)
    for _ in range(20):
        hist = new_histogram()
        for _ in range(rng.randint(1, 400)):
            hist.record_value(min(int(rng.expovariate(1 / rng.choice([50, 5_000, 500_000]))) + 1, HIGHEST_US))
        fast = histogram_figures(hist, PERCENTILES)
        monkeypatch.setattr(recorder, "FAST_PATHS", False)
        public = histogram_figures(hist, PERCENTILES)
        monkeypatch.setattr(recorder, "FAST_PATHS", True)
        assert fast[0] == public[0] and fast[2:] == public[2:] and fast[1] == pytest.approx(public[1])
    monkeypatch.setattr(recorder, "FAST_PATHS", False)
    tally = Tally()
    tally.histogram.record_value(1234)
    tally.requests = 3
    tally.clear()
    assert tally.requests == 0 and tally.histogram.get_total_count() == 0 and not any(tally.histogram.counts)


def test_reused_windows_give_the_rows_of_fresh_ones() -> None:
    """Window tallies are emptied and reused from one interval to the next: the history must be
    what fresh tallies give (``Recorder(reuse_tallies=False)``)."""
    import random

    rng = random.Random(3)
    reused, fresh = Recorder(late_after=0.02), Recorder(late_after=0.02, reuse_tallies=False)
    for rec in (reused, fresh):
        rec.start(lambda: 0.0)
    ven = FakeVen()
    for second in range(1, 6):
        batch = [(rng.choice(("oadrPoll", "oadrPoll", "oadrUpdateReport")), rng.expovariate(1 / (0.01 * second)))
                 for _ in range(200 if second != 3 else 0)]
        for rec in (reused, fresh):
            for kind, latency in batch:
                rec.request_done(ven, kind, second - 1.0, second - 1.0, second - 1.0 + latency, None)
            rec.snapshot(float(second), vens=1, timestamp=float(second))
    assert reused.history == fresh.history
    assert [r.name for r in reused.history if r.t == 3.0] == ["Aggregated"]  # an idle type has no row


def test_monitor_probes_on_the_grid() -> None:
    """The lag probe is due on the multiples of its interval (the timer wheel's tick instants), one
    sample per instant at most, whatever the loop's lag."""
    import asyncio

    async def run() -> tuple[Monitor, float]:
        loop = asyncio.get_running_loop()
        monitor = Monitor(interval=0.01)
        began = loop.time()
        monitor.start()
        for _ in range(5):
            handle = monitor._handle
            assert handle is not None
            assert handle.when() == monitor._tick * 0.01 and handle.when() > began
            await asyncio.sleep(0.02)
        await monitor.stop()
        assert monitor._handle is None
        return monitor, loop.time() - began

    monitor, elapsed = asyncio.run(run())
    assert 1 <= monitor.lag.get_total_count() <= elapsed / 0.01 + 1
    assert monitor.steady_cpu() is None  # the steady phase never began


def test_recorder_measures_from_due_time_and_counts_late_requests() -> None:
    clock = [100.0]
    rec = Recorder(late_after=0.11)
    rec.start(lambda: clock[0])
    ven = FakeVen()
    # due at 100.0, sent at once, answered 50 ms later
    rec.request_done(ven, "oadrPoll", 100.0, 100.0, 100.05, None)
    # due at 100.0, sent 300 ms late (the load tester was behind), answered 10 ms after sending
    rec.request_done(ven, "oadrPoll", 100.0, 100.3, 100.31, None)
    rec.request_done(ven, "oadrUpdateReport", 100.0, 100.0, 100.002, HTTPStatusError("VTN answered HTTP 503",
                                                                                       status=503))
    clock[0] = 101.0
    rows = rec.snapshot(101.0, vens=1)
    assert [r.name for r in rows] == ["oadrPoll", "oadrUpdateReport", "Aggregated"]
    poll = rows[0]
    assert poll.requests == 2 and poll.late == 1 and poll.failures == 0
    # the late request's latency counts from its due time: 310 ms, not 10 ms
    assert poll.percentiles_ms["100"] == pytest.approx(310, rel=0.01)
    assert poll.percentiles_ms["50"] == pytest.approx(50, rel=0.01)
    assert rows[2].requests == 3 and rows[2].failures == 1 and rows[2].total_requests == 3
    assert rec.errors == {("oadrUpdateReport", "HTTPStatusError: HTTP 503"): 1}
    # the next phase starts empty; totals keep both
    rec.phase = "steady"
    rec.request_done(ven, "oadrPoll", 101.0, 101.0, 101.001, None)
    rec.snapshot(102.0, vens=1)
    assert rec.tally("oadrPoll", ("ramp",)).requests == 2
    assert rec.tally("oadrPoll", ("steady",)).requests == 1
    assert rec.tally().requests == 4


def test_recorder_adds_the_polls_a_stalled_ven_could_not_send() -> None:
    rec = Recorder()
    rec.start(lambda: 0.0)
    rec.request_done(FakeVen(poll_freq=1.0), "oadrPoll", 0.0, 0.0, 3.5, None)  # a 3.5 s stall, 1 s poll period
    rec.snapshot(4.0, vens=1)
    tally = rec.tally("oadrPoll")
    assert tally.requests == 1
    assert tally.histogram.get_total_count() == 4  # 3.5 s, and the polls due at 1, 2, 3 s: 2.5, 1.5, 0.5 s


def test_recorder_follows_ven_states() -> None:
    clock = [0.0]
    rec = Recorder()
    rec.start(lambda: clock[0])
    ven = FakeVen()
    ven.state = "registering"
    rec.ven_state(ven, "new", "registering")
    rec.request_done(ven, "oadrQueryRegistration", 0.0, 0.0, 0.1, ConnectionError("refused"))
    rec.snapshot(1.0, vens=1)
    assert rec.ramp[-1].backing_off == 1 and rec.ramp[-1].registering == 0
    clock[0] = 2.5
    rec.ven_state(ven, "registering", "registered")
    rec.snapshot(3.0, vens=1)
    assert rec.ramp[-1].registered == 1 and rec.ramp[-1].backing_off == 0
    assert rec.registered_at == [2.5]


# ------------------------------------------------------------------ end to end


def _check_outputs(out: Path, *, vens: int) -> dict[str, Any]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["vens"]["target"] == vens
    assert summary["vens"]["registered_once"] == vens
    assert "oadrPoll" in summary["by_type"] and summary["by_type"]["oadrPoll"]["all"]["requests"] > 0
    with (out / "stats.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][: len(LOCUST_STATS)] == LOCUST_STATS and tuple(rows[0]) == STATS_COLUMNS
    names = [r[1] for r in rows[1:]]
    assert "oadrPoll" in names and "oadrCreatePartyRegistration" in names and names[-1] == "Aggregated"
    agg = dict(zip(rows[0], rows[-1]))
    assert int(agg["Request Count"]) == summary["aggregated"]["all"]["requests"]
    assert float(agg["99%"]) >= float(agg["50%"]) > 0
    with (out / "stats_history.csv").open() as fh:
        history = list(csv.reader(fh))
    assert history[0][: len(LOCUST_HISTORY)] == LOCUST_HISTORY and tuple(history[0]) == HISTORY_COLUMNS
    assert len(history) > 4
    last_agg = [dict(zip(history[0], r)) for r in history[1:] if r[3] == "Aggregated"][-1]
    assert int(last_agg["Total Request Count"]) == summary["aggregated"]["all"]["requests"]
    assert int(last_agg["User Count"]) == vens
    html = (out / "report.html").read_text()
    assert "<script" not in html and "http://" not in html.replace(summary["settings"]["vtn_url"], "") \
        .replace("http://www.w3.org/2000/svg", "")
    return summary


async def test_loadtest_against_openleadr(tmp_path: Path) -> None:
    async with OpenLEADRVTN(poll_freq=__import__("datetime").timedelta(seconds=1),
                            report_sampling=__import__("datetime").timedelta(seconds=1)) as vtn:
        config = LoadTestConfig(vtn_url=vtn.url, vens=20, ramp=1.0, duration=3.0, seed=4,
                                reports=(parse_report_option("TELEMETRY_USAGE:1s"),), max_error_rate=0.05)
        result = await LoadTest(config, progress=None).run()
    assert len(vtn.registrations) == 20
    result.write(tmp_path)
    summary = _check_outputs(tmp_path, vens=20)
    assert summary["passed"], summary["threshold_failures"]
    assert summary["vtn_poll_freq_s"] == {"1": 20}
    assert "oadrUpdateReport" in summary["by_type"]  # OpenLEADR's VTN requests every TELEMETRY_USAGE report
    steady_cpu = summary["load_tester"]["steady_cpu"]  # the steady phase's CPU, counted from the end of the ramp
    assert steady_cpu["cpu_s"] > 0 and 2.5 < steady_cpu["seconds"] < summary["elapsed_s"] - 0.5
    text = result.render_summary(tmp_path)
    assert "PASSED" in text and "oadrPoll" in text


@pytest.fixture
def stalling_vtn(tmp_path: Path) -> Iterator[str]:
    """``fleetven vtn`` as a process, polled every second, stalling 2.5 s from t = 2 s."""
    script = tmp_path / "stall.toml"
    script.write_text("[vtn]\npoll_freq = '1s'\n\n[[faults]]\nat = '2s'\nduration = '2.5s'\nstall = true\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetven", "vtn", "--port", "0", "--script", str(script), "--stats-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read() if proc.stderr and proc.poll() is not None else url
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=20)  # also closes the pipes


def test_loadtest_command_shows_a_stall(stalling_vtn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = main([
        "loadtest", "--vtn-url", stalling_vtn, "--vens", "30", "--duration", "6s", "--max-p99", "500ms",
        "--out", str(out), "--quiet", "--seed", "5",
    ])
    text = capsys.readouterr().out
    assert status == 1, text  # the stall breaks the 500 ms p99 threshold
    assert "FAILED: p99 latency" in text
    summary = _check_outputs(out, vens=30)
    p99 = summary["by_type"]["oadrPoll"]["all"]["percentiles_ms"]["99"]
    assert p99 >= 2500 - 600, f"the 2.5 s stall does not show in the poll p99 ({p99} ms)"
    assert summary["aggregated"]["all"]["max_ms"] >= 2500 - 300
    assert summary["load_tester"]["steady_cpu"]["seconds"] > 5  # no ramp: all of the test is steady
    _render(out / "report.html", tmp_path)


def test_loadtest_command_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--vtn-url", "ftp://nowhere", "--vens", "1"]) == 2
    assert "fleetven loadtest:" in capsys.readouterr().err
    assert main(["loadtest", "--vtn-url", "http://127.0.0.1:1/x", "--ramp", "soon"]) == 2
    assert main(["loadtest", "--vtn-url", "http://127.0.0.1:1/x", "--report", "NOPE:1s"]) == 2


def test_loadtest_flags_come_from_the_fleet_options(capsys: pytest.CaptureFixture[str]) -> None:
    """Each declared fleet option with a flag is on the command line, with the declared default,
    and reaches the fleet the load test builds."""
    assert main(["loadtest", "--help"]) == 0
    usage = capsys.readouterr().out
    flagged = [o for o in FLEET_OPTIONS if o.flag is not None]
    assert {o.name for o in flagged} >= {"cert", "key", "passphrase", "ca_file", "vtn_fingerprint", "tls_mode",
                                         "require_vtn_signature", "check_hostname", "disable_signature",
                                         "max_connections", "request_timeout", "seed"}
    for o in flagged:
        assert o.flag in usage
        assert o.name in LoadTestConfig.__dataclass_fields__, f"{o.flag} has no LoadTestConfig field"
    config = LoadTestConfig(vtn_url="http://127.0.0.1:1/x")
    for o in FLEET_OPTIONS:
        if o.name in LoadTestConfig.__dataclass_fields__:
            assert getattr(config, o.name) == o.default, o.name
    fleet = LoadTest(LoadTestConfig(vtn_url="http://127.0.0.1:1/x", max_connections=7, seed=3,
                                    request_timeout=4.0), progress=None).build_fleet()
    assert fleet.max_connections == 7
    with pytest.raises(ConfigurationError, match="--max-connections: must be a positive integer"):
        option("max_connections").parse("0", text=True)
    assert main(["loadtest", "--vtn-url", "http://127.0.0.1:1/x", "--max-connections", "0"]) == 2
    assert "--max-connections: must be a positive integer, not 0" in capsys.readouterr().err


def test_fleet_options_are_fleet_keywords() -> None:
    params = inspect.signature(Fleet).parameters
    for o in FLEET_OPTIONS:
        assert params[o.name].kind is inspect.Parameter.KEYWORD_ONLY, o.name


def test_loadtest_and_the_test_kit_import_in_one_direction() -> None:
    """results and report depend on the recorder and plain settings, the driver on them; no module
    outside fleetven.app imports fleetven.testing, which imports nothing above the fleet's layers
    (TYPE_CHECKING and function-level imports included)."""
    root = Path(fleetven.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        name = ".".join(("fleetven", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d.startswith("fleetven.") and d != name}

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for dep in graph.get(todo.pop(), ()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    for name in graph:
        if name.startswith(("fleetven.loadtest.", "fleetven.app.", "fleetven.testing.")):
            assert name not in reach(name), f"{name} imports itself through others"
        for dep in graph[name]:
            if dep.startswith("fleetven.testing"):
                assert name.startswith(("fleetven.app", "fleetven.testing")), f"{name} imports {dep}"
            if name.startswith("fleetven.testing"):
                assert not dep.startswith(("fleetven.app", "fleetven.loadtest", "fleetven.fleet",
                                           "fleetven.compat")), f"{name} imports {dep}"


# ------------------------------------------------------------------ the report in a browser


def _render(report: Path, tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; the CI installs Debian's chromium (make test)")
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    profile = tmp_path / "chromium-profile"
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
    ]
    dom = subprocess.run([*args, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    charts = re.findall(r"<svg[^>]*class=\"chart\"", page)
    assert len(charts) >= 4, f"{len(charts)} charts rendered"
    assert page.count("<polyline") >= 4
    for title in ("Latency from due time, all messages", "Requests and failures per second",
                  "Registration ramp: VENs", "Load tester: loop lag"):
        assert title in page
    png = tmp_path / "report.png"
    shot = subprocess.run([*args, "--window-size=1000,1600", f"--screenshot={png}", report.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert shot.returncode == 0 and png.stat().st_size > 10_000, shot.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
