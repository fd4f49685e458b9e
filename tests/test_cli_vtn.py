"""``fleetven vtn`` and its TOML scripts (fleetven.testing.script): parsing with line numbers, the
scripted VTN in process (events, report requests, faults, a stall), and the command as a process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetven.exceptions import ConfigurationError
from fleetven.fleet.core import Fleet
from fleetven.observe import Observer
from fleetven.testing.script import ScriptedVTN, load_script, parse_script

SCRIPT = """\
[vtn]
vtn_id = "SCRIPTED"
poll_freq = "1s"

[[events]]
at = "0.5s"
vens = "all"
start = "1m"
intervals = [ { duration = "5m", value = 1.0 }, { duration = "PT5M", value = 2 } ]

[[reports]]
names = ["TELEMETRY_USAGE"]
granularity = "2s"

[[faults]]
at = 30
duration = "5s"
status = 503
"""


# ------------------------------------------------------------------ parsing


def test_script_parses() -> None:
    script = parse_script(SCRIPT, source="vtn.toml")
    assert script.vtn_id == "SCRIPTED" and script.poll_freq == 1.0
    (event,) = script.events
    assert event.at == 0.5 and event.vens == "all" and event.intervals == ((300.0, 1.0), (300.0, 2.0))
    (report,) = script.reports
    assert report.at is None and report.names == ("TELEMETRY_USAGE",) and report.granularity == 2.0
    (fault,) = script.faults
    assert fault.at == 30.0 and fault.duration == 5.0 and fault.status == 503


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("[[events]]\nvens = 'all'\n", 1, "events[0].at"),  # no "at": the table's line
        ("[[events]]\nat = '1s'\n\n[[events]]\nat = 'soon'\n", 5, "events[1].at"),
        ("[[faults]]\nat = '1s'\nstatus = 200\n", 3, "faults[0].status"),
        ("[[faults]]\nat = '1s'\nduration = '2s'\n", 1, "faults[0]"),  # names no fault
        ("[[faults]]\nat = '1s'\nstall = true\n", 1, "faults[0].duration"),  # a stall needs a duration
        ("[vtn]\npoll_freq = '1s'\ncolour = 'red'\n", 3, "vtn.colour"),
        ("[[reports]]\nvens = -3\n", 2, "reports[0].vens"),
        ("[vtn]\npoll_freq = '0.5s'\n", 2, "vtn.poll_freq"),
    ],
)
def test_script_mistakes_name_their_line_and_key(text: str, line: int, key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_script(text, source="vtn.toml")
    assert info.value.line == line, str(info.value)
    assert info.value.key == key
    assert str(info.value).startswith(f"vtn.toml:{line}:")


def test_script_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML") as info:
        parse_script("[vtn\n", source="x.toml")
    assert info.value.line == 1
    with pytest.raises(ConfigurationError, match="cannot read the script"):
        load_script(tmp_path / "missing.toml")


# ------------------------------------------------------------------ in process


class _Requests(Observer):
    def __init__(self) -> None:
        self.done: list[tuple[str, float, float, BaseException | None]] = []

    def request_done(self, ven: Any, message_type: str, due: float, sent: float, done: float,
                     error: BaseException | None) -> None:
        self.done.append((message_type, due, done, error))


async def test_scripted_vtn_issues_events_and_requests_reports() -> None:
    script = parse_script(SCRIPT)
    async with ScriptedVTN(script=script) as vtn:
        answers: list[str] = []
        fleet = Fleet(vtn.url, seed=1)
        fleet.add_handler("on_event", lambda ven, event: answers.append(event["event_id"]) or "optIn")
        fleet.add_report(lambda ven: 42.0, "meter", "REAL_POWER", report_name="TELEMETRY_USAGE",
                         sampling_rate=timedelta(seconds=2), report_duration=timedelta(hours=1))
        for i in range(3):
            fleet.add_ven(f"site-{i}")
        async with fleet:
            await vtn.wait_for(lambda: len(vtn.event_responses) >= 3, timeout=20)
            await vtn.wait_for(lambda: len(vtn.reports) >= 1, timeout=20)
        assert vtn.vtn_id == "SCRIPTED" and vtn.poll_freq == timedelta(seconds=1)
        assert {er.event_id for _, er in vtn.event_responses} == {"script-event-1"}
        assert sorted(answers) == ["script-event-1"] * 3
        assert any("event script-event-1 issued to 3 VENs" in text for _, text in vtn.log)
        assert all(rep.report_name == "TELEMETRY_USAGE" for _, rep in vtn.reports)


async def test_scripted_fault_and_stall() -> None:
    script = parse_script(
        "[vtn]\npoll_freq = '1s'\n"
        "[[faults]]\nat = '0.6s'\nduration = '0.6s'\nstatus = 503\n"
        "[[faults]]\nat = '1.6s'\nduration = '2.5s'\nstall = true\n"
    )
    seen = _Requests()
    async with ScriptedVTN(script=script) as vtn:
        fleet = Fleet(vtn.url, seed=2, observer=seen, backoff_base=0.1, backoff_cap=0.2)
        fleet.add_ven("site-0")
        async with fleet:
            await vtn.wait_for(lambda: any("stall over" in text for _, text in vtn.log), timeout=20)
            await vtn.wait_for(lambda: len(vtn.log) >= 4 and vtn.polls > 0, timeout=20)
            await asyncio.wait_for(_until(lambda: any(done - due >= 0.9 for _, due, done, _ in seen.done)), 20)
    assert [text.split(" (")[0] for _, text in vtn.log] == [
        "fault HTTP 503 on", "fault HTTP 503 off", "stall for 2.5 s", "stall over"
    ]
    assert any(err is not None and "503" in str(err) for *_, err in seen.done), "the 503 fault was not seen"
    # polling every second through a 2.5 s stall, some poll is held for more than 1.5 s
    assert max(done - due for _, due, done, _ in seen.done) >= 0.9


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------ the command


@pytest.fixture
def vtn_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    script = tmp_path / "vtn.toml"
    script.write_text(SCRIPT, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetven", "vtn", "--port", "0", "--script", str(script), "--stats-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=20)  # also closes the pipes


async def test_vtn_command_serves_a_fleet_and_stops_on_sigterm(vtn_process: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = vtn_process
    answers: list[str] = []
    fleet = Fleet(url, seed=3)
    fleet.add_handler("on_event", lambda ven, event: answers.append(event["event_id"]) or "optIn")
    fleet.add_ven("site-a")
    async with fleet:
        await asyncio.wait_for(_until(lambda: answers), 20)
        ven = fleet.vens["site-a"]
        assert ven.registered and ven.poll_freq == 1.0  # the script's poll_freq
    assert answers == ["script-event-1"]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "1 VENs registered" in err


def test_vtn_command_refuses_a_bad_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[faults]]\nat = '1s'\nstatus = 200\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "fleetven", "vtn", "--port", "0", "--script", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{bad}:3:" in proc.stderr and "status" in proc.stderr
    assert proc.stdout == ""
