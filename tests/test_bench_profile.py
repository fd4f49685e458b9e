"""bench/_profile.py: how a sampled stack is charged to a stage, and the flame graph drawn from the stacks."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _profile

ROOT = "0x7f000404524a (libc.so.6);<module> (bench/bench_fleet.py:1215);run_forever (loop.c:33192);uv_run (core.c:452)"


def test_a_sample_is_charged_to_its_innermost_frame_that_names_a_stage() -> None:
    parse = [*ROOT.split(";"), "_poll (fleetven/fleet/driver.py:1069)",
             "parse_message (fleetven/messages/parse.py:224)",
             "xmlParseDocument (lxml/etree.cpython-311-x86_64-linux-gnu.so)", "malloc (libc.so.6)"]
    assert _profile.stage_of(parse) == "parse", "malloc is no stage: the parser that called it is charged"
    sent = [*ROOT.split(";"), "_on_poll_timer (fleetven/fleet/driver.py:856)",
            "Connection__send (fleetven/_fast/_http_c.pyx:168)", "UVStream__try_write (loop.c:106818)",
            "write (libc.so.6)"]
    assert _profile.stage_of(sent) == "syscalls"
    assert _profile.stage_of(sent[:-1]) == "loop", "uvloop's own code is the loop's"
    assert _profile.stage_of(sent[:-2]) == "HTTP"
    assert _profile.stage_of(sent[:-3]) == "VEN decision"
    assert _profile.stage_of([*ROOT.split(";"), "uv__io_poll (linux.c:1452)", "epoll_pwait (libc.so.6)"]) == "idle"
    assert _profile.stage_of(["<module> (x.py:1)", "sign (fleetven/signing/keys.py:3)",
                              "0x7f00 (cryptography/hazmat/bindings/_rust.abi3.so)"]) == "sign"
    assert _profile.stage_of(["<module> (x.py:1)", "put_event (fleetven/store/__init__.py:3)", "dumps (orjson)"]) \
        == "store"
    assert _profile.stage_of(["<module> (x.py:1)"]) == "other"


def test_the_benchmarks_own_work_and_the_profilers_thread_are_not_the_fleets() -> None:
    bench = [*ROOT.split(";"), "run_worker (bench/bench_fleet.py:789)", "_connections_to (bench/bench_fleet.py:150)",
             "read (libc.so.6)"]
    assert _profile.stage_of(bench) == "bench", "the benchmark reading /proc is not a fleet system call"
    started = [*ROOT.split(";"), "run_worker (bench/bench_fleet.py:760)", "start (bench/bench_fleet.py:600)",
               "Fleet.start (fleetven/fleet/core.py:540)", "malloc (libc.so.6)"]
    assert _profile.stage_of(started) == "VEN decision", "fleetven's work is its own, whoever called it"
    handler = [*ROOT.split(";"), "Ven._call_handler (fleetven/fleet/driver.py:1290)",
               "<lambda> (bench/bench_fleet.py:596)"]
    assert _profile.stage_of(handler) == "VEN decision"
    timed = [*ROOT.split(";"), "sign_message (fleetven/signing/sign.py:80)",
             "_CryptoClock.__init__.<locals>.sign (bench/bench_fleet.py:560)",
             "0x7f00 (cryptography/hazmat/bindings/_rust.abi3.so)"]
    assert _profile.stage_of(timed) == "sign", "a signature timed by the benchmark's wrapper is still a signature"
    waiting = ["_bootstrap (threading.py:1)", "work (bench/bench_fleet.py:690)", "record (bench/_profile.py:120)",
               "run (subprocess.py:550)", "poll (libc.so.6)"]
    assert _profile.stage_of(waiting) == "idle"


def test_stage_shares_are_of_the_busy_samples_and_idle_of_all(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        f"{ROOT};uv__io_poll (linux.c:1452);epoll_pwait (libc.so.6) 50\n"
        f"{ROOT};parse_message (fleetven/messages/parse.py:224);0x7f01 (lxml/etree.so);0x7f02 (lxml/etree.so) 30\n"
        f"{ROOT};post (fleetven/http/transport.py:427);send (libc.so.6) 20\n",
        encoding="utf-8",
    )
    stacks = _profile.read_stacks(raw)
    assert sum(stacks.values()) == 100
    frames = next(f for f in stacks if any("lxml" in x for x in f))
    assert frames[-1] == "[lxml/etree.so]" and frames[-2] != "[lxml/etree.so]", "a run of anonymous frames is one frame"
    shares = _profile.stages(stacks)
    assert shares["idle"] == 0.5
    assert shares["parse"] == 0.6 and shares["syscalls"] == 0.4
    assert sum(v for k, v in shares.items() if k != "idle") == 1.0


def test_the_flame_graph_has_a_frame_per_call_path_wide_as_its_samples(tmp_path: Path) -> None:
    stacks: Counter[tuple[str, ...]] = Counter({("main (a.py:1)", "parse_message (fleetven/messages/parse.py:2)"): 3,
                                                ("main (a.py:1)", "post (fleetven/http/transport.py:3)"): 1})
    svg = _profile.flamegraph_svg(stacks, tmp_path / "g.svg", "test", width=400)
    tree = ElementTree.parse(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    frames = {g.find("s:title", ns).text.split(" — ")[0]: g.find("s:rect", ns) for g in tree.iterfind(".//s:g", ns)}
    assert set(frames) == {"main (a.py:1)", "parse_message (fleetven/messages/parse.py:2)",
                           "post (fleetven/http/transport.py:3)"}
    width = {name: float(rect.get("width")) + 0.5 for name, rect in frames.items()}
    assert width["main (a.py:1)"] == 400
    assert width["parse_message (fleetven/messages/parse.py:2)"] == 300
    assert float(frames["main (a.py:1)"].get("y")) > float(frames["post (fleetven/http/transport.py:3)"].get("y"))


def test_growth_plots_draw_a_point_per_size_and_mark_a_capped_phase(tmp_path: Path) -> None:
    import json
    import subprocess

    def row(n: int, **figures: float | None) -> dict[str, object]:
        base = {"contender": "fleetven", "n": n, "cpu_per_poll_us": 20.0, "rss_per_ven_kb": 1.2, "registered": n,
                "register_s": n / 5000, "register_phase_s": n / 5000, "register_cpu_share": 0.9,
                "event_all_s": 11.0, "event_cap_s": 16.0, "event_phase_s": 11.0, "event_cpu_share": 0.5,
                "event_answered": n}
        base.update(figures)
        return base

    results = tmp_path / "fleet.json"
    results.write_text(json.dumps({"poll_s": 10, "rows": [row(1000), row(100_000, event_all_s=None),
                                                           {"contender": "openleadr", "n": 1000}]}))
    out = tmp_path / "growth"
    proc = subprocess.run([sys.executable, str(Path(_profile.__file__).with_name("plot_growth.py")), str(results),
                           "--out", str(out), "--json", str(tmp_path / "points.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    points = json.loads((tmp_path / "points.json").read_text())["plots"]
    assert points["fan-out"]["points"] == [[1000, 11.0, False], [100_000, 16.0, True]], "capped: drawn at the cap"
    assert points["registration"]["growth"] == 100.0
    assert points["cpu-per-registration"]["points"][0][1] == 180.0  # 0.9 * 0.2 s / 1000 VENs, in µs
    assert points["cpu-per-answer"]["points"][1][1] == 55.0  # 0.5 * 11 s / 100,000 answers, in µs
    tree = ElementTree.parse(out / "fan-out.svg")
    circles = list(tree.iterfind(".//{http://www.w3.org/2000/svg}circle"))
    assert [c.get("fill") for c in circles] == ["#3366cc", "white"]
