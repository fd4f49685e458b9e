"""Sampling profiles of a running benchmark process, split by stage, with a flame graph.

:func:`record` runs py-spy (``--native``, so that time spent in the compiled extensions, lxml,
libc's system calls and uvloop is seen as such, not charged to the Python frame that called
them) against a process for a few seconds and keeps the collapsed stacks. :func:`stages`
charges every sample to one stage of a fleet's work, by its innermost frame that names one
(the leaf first: a sample in ``send`` called from the HTTP code is a system call, one in
``malloc`` called from the parser is the parser's):

* ``syscalls``: the kernel's doors (``epoll_wait``, ``recv``, ``send``, ``write``, ...);
* ``HTTP``: the transport and the answer parser (``fleetven/http``, ``_http_c``/``_http_py``);
* ``parse``: the OpenADR payload parser (``fleetven/messages``' parse, ``_extract_*``, lxml);
* ``build``: building payloads (``_build_*``, ``fleetven/messages``' build);
* ``sign``: signing and verifying (``fleetven/signing``, ``_sig_*``, cryptography, OpenSSL);
* ``store``: the state store (``fleetven/store``, orjson);
* ``wheel``: the shared timer wheel (``_wheel_*``, ``fleetven/timerwheel``);
* ``VEN decision``: the VEN's protocol machine, the fleet's driver and the handlers
  (``fleetven/ven``, ``fleetven/fleet``, the benchmark's handler);
* ``GC``: the cyclic garbage collector;
* ``loop``: uvloop and asyncio (their scheduling, callbacks, futures and tasks);
* ``bench``: the benchmark's own bookkeeping (reading ``/proc``, asking the VTN for its counts,
  the lag monitor), kept apart so that it is not taken for the fleet's;
* ``other``: the rest (the interpreter itself).

A sample whose leaf is the loop waiting in ``epoll_wait`` is *idle*: py-spy ``--native``
samples a waiting thread too; so is every sample of the thread that waits for py-spy itself.
The shares of the stages are of the busy samples; the idle share (of all samples) is given
beside them.

:func:`flamegraph_svg` draws the stacks as a flame graph (an SVG file any browser opens; each
frame's tooltip gives its samples and share), coloured by stage.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

STAGES = ("syscalls", "HTTP", "parse", "build", "sign", "store", "wheel", "VEN decision", "GC", "loop", "bench",
          "other")

_IDLE = re.compile(r"^(?:epoll_pwait|epoll_wait)$")
_SYSCALLS = re.compile(
    r"^(?:__libc_)?(?:epoll_wait|epoll_ctl|recv|recvfrom|recvmsg|send|sendto|sendmsg|write|writev|read|readv"
    r"|close|accept4?|connect|getsockopt|setsockopt|syscall|__GI___\w+|clock_gettime|__clock_gettime)\b"
)

#: (stage, pattern on a frame's text): the first rule that matches a frame names its stage.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GC", re.compile(r"^(?:gc_collect\w*|collect|_PyObject_GC_\w*Collect\w*|gc_collect_main)\b")),
    ("sign", re.compile(r"_sig_c|_sig_py|fleetven/signing|cryptography|libcrypto|libssl|_rust\.abi3|signxml")),
    ("parse", re.compile(r"_extract_c|_extract_py|fleetven/messages/parse|fleetven/messages/_parse|lxml|libxml2")),
    ("build", re.compile(r"_build_c|_build_py|fleetven/messages/build|fleetven/messages/_build")),
    ("HTTP", re.compile(r"_http_c|_http_py|fleetven/http/")),
    ("store", re.compile(r"fleetven/store|orjson")),
    ("wheel", re.compile(r"_wheel_c|_wheel_py|fleetven/timerwheel")),
    ("VEN decision", re.compile(r"fleetven/ven/|fleetven/fleet/|fleetven/openadr|fleetven/messages")),
    ("loop", re.compile(r"uvloop|asyncio/|_asynciomodule\.c|uv__"
                        r"|\((?:loop|core|linux|timer|stream|poll|idle|check)\.c:")),
)

_ADDRESS = re.compile(r"^0x[0-9a-f]+ \((.*)\)$")


def _frame_name(frame: str) -> str:
    """A frame's text without its address: ``0x7f.. (lxml/etree.so)`` becomes ``[lxml/etree.so]``."""
    match = _ADDRESS.match(frame)
    return f"[{match.group(1)}]" if match else frame


_FLEETVEN = re.compile(r"\(fleetven/")
_PROFILER = re.compile(r"\(bench/_profile\.py:")
_BENCH = re.compile(r"^(?P<name>[^ ]+) \(bench/bench_\w+\.py:\d+\)$")
#: The benchmark's frames every sample of its process runs under, and its handler: not bookkeeping.
_BENCH_ROOTS = frozenset(("<module>", "main", "worker_entry", "<lambda>"))


def stage_of(frames: list[str]) -> str:
    """The stage a sample (its frames, outermost first) is charged to: ``"idle"`` for the loop
    waiting in ``epoll_wait`` and for the thread that runs py-spy itself, ``"bench"`` for the
    benchmark's own bookkeeping (reading ``/proc``, asking the VTN for its counts, the lag
    monitor), else the stage of the innermost frame that names one."""
    if frames and _IDLE.match(frames[-1].split(" (", 1)[0]):
        return "idle"
    for frame in frames:
        if _PROFILER.search(frame):
            return "idle"
    for frame in reversed(frames):
        if _FLEETVEN.search(frame) or any(stage != "loop" and rule.search(frame) for stage, rule in _RULES):
            break  # fleetven's own work, or a library's stage (a signature timed by a wrapper), whoever called it
        bench = _BENCH.match(frame)
        if bench is not None and bench.group("name").rsplit(".", 1)[-1] not in _BENCH_ROOTS:
            return "bench"
    for frame in reversed(frames):
        name = frame.split(" (", 1)[0]
        if _SYSCALLS.match(name):
            return "syscalls"
        for stage, pattern in _RULES:
            if pattern.search(frame):
                return stage
    return "other"


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's collapsed stacks (``--format raw``): frames outermost first, with their sample counts."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames: list[str] = []
            for frame in stack.split(";"):
                name = _frame_name(frame)
                if not frames or name != frames[-1] or not name.startswith("["):
                    frames.append(name)  # a run of anonymous frames in one library is one frame
            stacks[tuple(frames)] += int(count)
    return stacks


def stages(stacks: Counter[tuple[str, ...]]) -> dict[str, float]:
    """Each stage's share of the busy samples (0-1), in :data:`STAGES` order, then ``"idle"``:
    the idle samples' share of all."""
    by: Counter[str] = Counter()
    for frames, count in stacks.items():
        by[stage_of(list(frames))] += count
    total = sum(by.values()) or 1
    busy = total - by["idle"] or 1
    shares = {stage: by[stage] / busy for stage in STAGES}
    shares["idle"] = by["idle"] / total
    return shares


def record(pid: int, seconds: float, out: Path, *, rate: int = 100) -> Path | None:
    """Sample process ``pid`` for ``seconds`` with py-spy into ``out`` (collapsed stacks);
    ``None`` (and a line on stderr) when py-spy is not installed or cannot attach."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("profile: py-spy is not installed (it is in the test extra); no profile", file=sys.stderr)
        return None
    command = [exe, "record", "--pid", str(pid), "--native", "--rate", str(rate), "--format", "raw",
               "--duration", str(max(1, round(seconds))), "--output", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.exists():
        print(f"profile: py-spy failed ({proc.returncode}): {proc.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    return out


_COLOURS = {
    "syscalls": "#e8a33d", "HTTP": "#5b8fd6", "parse": "#d65b5b", "build": "#c77dd6", "sign": "#7a5bd6",
    "store": "#5bc7a1", "wheel": "#a1c75b", "VEN decision": "#d6c25b", "GC": "#888888", "loop": "#9fb8c8",
    "bench": "#e0c0a0", "other": "#cfcfcf", "idle": "#ffffff",
}


def flamegraph_svg(stacks: Counter[tuple[str, ...]], out: Path, title: str, *, width: int = 1200,
                   row: int = 16, min_share: float = 0.001) -> Path:
    """Draw ``stacks`` as a flame graph (root at the bottom) into the SVG file ``out``; frames
    narrower than ``min_share`` of the samples are left out. Each frame is coloured by the stage
    its innermost named frame would be charged to (:func:`stage_of` on the path to it)."""
    total = sum(stacks.values()) or 1
    tree: dict[str, Any] = {"n": 0, "kids": {}}
    for frames, count in stacks.items():
        node = tree
        node["n"] += count
        for frame in frames:
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += count
    rects: list[str] = []
    depth_max = 0

    def draw(node: dict[str, Any], path: list[str], x: float, depth: int) -> None:
        nonlocal depth_max
        for name, kid in sorted(node["kids"].items()):
            share = kid["n"] / total
            w = share * width
            if share >= min_share:
                depth_max = max(depth_max, depth)
                frames = [*path, name]
                stage = stage_of(frames)
                label = html.escape(name)
                tip = f"{label} — {kid['n']} samples, {share:.1%} ({stage})"
                text = html.escape(name[: max(0, int(w / 7) - 1)]) if w > 30 else ""
                rects.append(
                    f'<g><title>{tip}</title><rect x="{x:.2f}" y="{{y{depth}}}" width="{max(w - 0.5, 0.1):.2f}" '
                    f'height="{row - 1}" fill="{_COLOURS[stage]}"/>'
                    + (f'<text x="{x + 3:.2f}" y="{{t{depth}}}">{text}</text>' if text else "")
                    + "</g>"
                )
                draw(kid, frames, x, depth + 1)
            x += w

    draw(tree, [], 0.0, 0)
    top = 40
    height = top + (depth_max + 1) * row + 40
    body = "\n".join(rects)
    for depth in range(depth_max + 1):
        y = top + (depth_max - depth) * row
        body = body.replace(f"{{y{depth}}}", f"{y}").replace(f"{{t{depth}}}", f"{y + row - 4}")
    shares = stages(stacks)
    legend = " ".join(
        f'<tspan fill="{_COLOURS[s]}">■</tspan> {html.escape(s)} {shares[s]:.0%}' for s in STAGES if shares[s] >= 0.005
    ) + f" (of the busy samples; idle {shares['idle']:.0%} of all)"
    out.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" '
        f'font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="4" y="16" font-size="14">{html.escape(title)} ({total} samples)</text>\n'
        f'<text x="4" y="32">{legend}</text>\n{body}\n</svg>\n',
        encoding="utf-8",
    )
    return out
