"""Cost growth with the fleet's size: plots from ``bench/bench_fleet.py --json`` results.

Run from the repository root::

    python bench/plot_growth.py RESULTS.json [MORE.json ...] [--out DIR] [--contender fleetven] [--json PATH]

Every fleetven row of the given files (one row per size; of several rows at one size the last
file's wins) becomes one point of six plots, drawn as SVG files in DIR (default
``docs/_static/growth``): CPU per poll, RSS per VEN, time until every VEN registered and the
client's CPU per registration, time until every VEN answered the event and the client's CPU per
answer, each against N on a logarithmic axis. A cost that grows with
N is what the plots are for: the text output gives each figure's ratio from the smallest size to
the largest, and ``--json`` writes the points. A figure a run did not reach (a phase capped) is
drawn as an open circle at the cap, marked "capped"; a size run at another poll period than
most (``--poll``) has it written under its N.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import write_json

#: (file stem, title, unit, the row's figure, the row's cap when the figure was not reached).
PLOTS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("cpu-per-poll", "client CPU per poll", "µs", "cpu_per_poll_us", None),
    ("rss-per-ven", "RSS per registered VEN", "KB", "rss_per_ven_kb", None),
    ("registration", "time until every VEN registered", "s", "register_s", "register_phase_s"),
    ("cpu-per-registration", "client CPU per VEN registered", "µs", "cpu_per_registration_us", None),
    ("fan-out", "time until every VEN answered one event", "s", "event_all_s", "event_cap_s"),
    ("cpu-per-answer", "client CPU per event answer (polls included)", "µs", "cpu_per_answer_us", None),
)


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """Add the per-VEN costs of the two storms: the time a storm takes grows with N at a fixed
    cost per VEN, so the cost per VEN is the figure that must stay flat."""
    if row.get("register_cpu_share") is not None and row.get("registered"):
        row["cpu_per_registration_us"] = row["register_cpu_share"] * row["register_phase_s"] / row["registered"] * 1e6
    if row.get("event_cpu_share") is not None and row.get("event_phase_s") and row.get("event_answered"):
        row["cpu_per_answer_us"] = row["event_cpu_share"] * row["event_phase_s"] / row["event_answered"] * 1e6
    return row


def points(rows: list[dict[str, Any]], figure: str, cap: str | None) -> list[tuple[int, float, bool]]:
    """(N, value, capped) for each row, in order of N; a row without the figure is drawn at its cap."""
    out: list[tuple[int, float, bool]] = []
    for row in sorted(rows, key=lambda r: r["n"]):
        value = row.get(figure)
        if value is not None:
            out.append((row["n"], float(value), False))
        elif cap is not None and row.get(cap) is not None:
            out.append((row["n"], float(row[cap]), True))
    return out


def svg_plot(pts: list[tuple[int, float, bool]], title: str, unit: str, note: str = "",
             polls: dict[int, float] | None = None) -> str:
    """A line chart of ``pts`` (N on a log axis, the value on a linear one from 0)."""
    width, height, left, right, top, bottom = 560, 340, 64, 20, 40, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    ns = [p[0] for p in pts]
    lo, hi = math.log10(min(ns)), math.log10(max(ns))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    top_value = max(p[1] for p in pts) * 1.15 or 1.0

    def x(n: int) -> float:
        return left + (math.log10(n) - lo) / (hi - lo) * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / top_value * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14">{html.escape(title)} ({html.escape(unit)})</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>',
    ]
    for i in range(5):
        v = top_value * i / 4
        parts.append(f'<line x1="{left - 4}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    usual = max(set((polls or {}).values()), key=list((polls or {}).values()).count) if polls else None
    for n in ns:
        parts.append(f'<text x="{x(n):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{n:,}</text>')
        if polls and polls.get(n) != usual:  # a point at another poll period says so under its N
            parts.append(f'<text x="{x(n):.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="#666" '
                         f'font-size="10">poll {polls[n]:g} s</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">VENs in the fleet (N, log '
                 'scale)</text>')
    line = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v, _ in pts)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#3366cc" stroke-width="2"/>')
    for n, v, capped in pts:
        fill = "white" if capped else "#3366cc"
        label = f"{v:.3g}" + (" capped" if capped else "")
        parts.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="4" fill="{fill}" stroke="#3366cc" stroke-width="2">'
                     f'<title>N = {n:,}: {html.escape(label)} {html.escape(unit)}</title></circle>')
        parts.append(f'<text x="{x(n) + 6:.1f}" y="{y(v) - 8:.1f}">{html.escape(label)}</text>')
    if note:
        parts.append(f'<text x="{left + plot_w}" y="20" text-anchor="end" fill="#666">{html.escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="bench_fleet.py --json files")
    parser.add_argument("--out", type=Path, default=Path("docs/_static/growth"), help="where the SVG files go")
    parser.add_argument("--contender", default="fleetven", help="whose rows to plot (default fleetven)")
    parser.add_argument("--json", metavar="PATH", help="write the points as JSON to PATH")
    args = parser.parse_args(argv)
    by_n: dict[int, dict[str, Any]] = {}
    for path in args.results:
        data = json.loads(path.read_text(encoding="utf-8"))
        for row in data.get("rows", []):
            if row.get("contender") == args.contender and "error" not in row:
                row["poll"] = data.get("poll_s", row.get("poll"))
                by_n[row["n"]] = derive(row)
    if not by_n:
        parser.error(f"no {args.contender} rows in the given files")
    rows = list(by_n.values())
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"contender": args.contender, "sizes": sorted(by_n), "plots": {}}
    print(f"Cost growth of {args.contender} (bench/plot_growth.py), N = {', '.join(f'{n:,}' for n in sorted(by_n))}")
    for stem, title, unit, figure, cap in PLOTS:
        pts = points(rows, figure, cap)
        if not pts:
            continue
        path = args.out / f"{stem}.svg"
        polls = {r["n"]: float(r["poll"]) for r in rows if r.get("poll") is not None}
        path.write_text(svg_plot(pts, title, unit, polls=polls), encoding="utf-8")
        first, last = pts[0], pts[-1]
        growth = last[1] / first[1] if first[1] else float("nan")
        shown = ", ".join(f"{n:,}: {v:.3g}{' (capped)' if c else ''}" for n, v, c in pts)
        print(f"  {title} ({unit}): {shown}; x{growth:.2f} from N = {first[0]:,} to {last[0]:,}  -> {path}")
        result["plots"][stem] = {"title": title, "unit": unit, "points": pts, "growth": growth, "svg": str(path)}
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
