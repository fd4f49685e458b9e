"""``report.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched).

The charts are SVG drawn here from the history the recorder kept: latency percentiles over time
per message type (log scale), requests and failures per second, the registration ramp, and the
load tester's own loop lag and CPU. The page opens offline in any browser and prints well.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fleetven.loadtest.recorder import AGGREGATED, Recorder
from fleetven.loadtest.settings import LoadTestConfig
from fleetven.loadtest.units import format_duration, format_ms

__all__ = ("render_report", "ReportSource", "Series", "line_chart")


class ReportSource(Protocol):
    """What the page is drawn from: a :class:`~fleetven.loadtest.Result` (kept abstract here so that
    this module depends on the recorder and plain data only, and ``results`` on it)."""

    @property
    def config(self) -> LoadTestConfig: ...

    @property
    def recorder(self) -> Recorder: ...

    @property
    def elapsed(self) -> float: ...

    def summary(self) -> dict[str, Any]: ...

#: Colours of chart lines, in order (colour-blind friendly, after Okabe and Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#7f7f7f", "#000000")
_FAIL = "#d55e00"

Point = tuple[float, float | None]


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: ``(x, y)`` points, ``y`` ``None`` for a gap."""

    label: str
    points: Sequence[Point]
    color: str
    dashed: bool = False


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    if raw <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if mult * magnitude >= raw:
            return mult * magnitude
    return 10.0 * magnitude


def _fmt_tick(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:g} ms" if value < 1000 else f"{value / 1000:g} s"
    if unit == "s":
        return format_duration(value)
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_unit: str = "",
    log: bool = False,
    width: int = 920,
    height: int = 260,
    marks: Sequence[tuple[float, str]] = (),
    x_max: float | None = None,
) -> str:
    """An SVG line chart (a string), x in seconds since the start.

    :param y_unit: ``"ms"`` for latencies, ``"%"``, or ``""``.
    :param log: a logarithmic y axis (latencies spanning decades).
    :param marks: vertical lines ``(x, label)``, e.g. the end of the ramp.
    :param x_max: the right end of the x axis (default: the last point).
    """
    left, right, top, bottom = 64, 16, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None and (y > 0 or not log)]
    x1 = max([*xs, x_max or 0.0, 1.0])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{left}" y="18" class="ct">{html.escape(title)}</text>',
    ]
    if not ys:
        out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" class="empty">no data</text></svg>')
        return "".join(out)
    if log:
        lo = 10 ** math.floor(math.log10(max(min(ys), 1e-3)))
        hi = 10 ** math.ceil(math.log10(max(ys)))
        if hi <= lo:
            hi = lo * 10
        lg_lo, lg_hi = math.log10(lo), math.log10(hi)

        def ypos(v: float) -> float:
            v = max(v, lo)
            return top + plot_h - (math.log10(v) - lg_lo) / (lg_hi - lg_lo) * plot_h

        ticks = [10.0**e for e in range(round(lg_lo), round(lg_hi) + 1)]
    else:
        hi = max(ys)
        step = _nice_step(hi if hi > 0 else 1.0, 5)
        hi = step * math.ceil(hi / step) if hi > 0 else step

        def ypos(v: float) -> float:
            return top + plot_h - v / hi * plot_h

        ticks = [i * step for i in range(round(hi / step) + 1)]

    def xpos(x: float) -> float:
        return left + x / x1 * plot_w

    # grid and y labels
    for tick in ticks:
        y = ypos(tick)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        label = _fmt_tick(tick, y_unit) + ("%" if y_unit == "%" else "")
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="yl">{html.escape(label)}</text>')
    # x ticks
    step = _nice_step(x1, 8)
    x = 0.0
    while x <= x1 + 1e-9:
        px = xpos(x)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" class="axis"/>')
        out.append(f'<text x="{px:.1f}" y="{top + plot_h + 18}" class="xl">{format_duration(x)}</text>')
        x += step
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    for mx, label in marks:
        if 0 < mx < x1:
            px = xpos(mx)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{top + plot_h}" class="mark"/>')
            out.append(f'<text x="{px + 4:.1f}" y="{top + 12}" class="ml">{html.escape(label)}</text>')
    # lines
    for s in series:
        runs: list[list[str]] = [[]]
        for px_, py_ in s.points:
            if py_ is None or (log and py_ <= 0):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{xpos(px_):.1f},{ypos(py_):.1f}")
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{s.color}"/>')
            elif run:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.color}" stroke-width="1.6"{dash}>'
                    f"<title>{html.escape(s.label)}</title></polyline>"
                )
    # legend
    lx = left + 8
    for s in series:
        out.append(f'<rect x="{lx}" y="{top + plot_h + 26}" width="12" height="4" fill="{s.color}"/>')
        out.append(f'<text x="{lx + 16}" y="{top + plot_h + 32}" class="lg">{html.escape(s.label)}</text>')
        lx += 24 + 7 * len(s.label)
    out.append("</svg>")
    return "".join(out)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:960px;
color:#1b1f24;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.sub{color:#57606a;margin:0 0 12px}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:600;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;margin:6px 0;border-radius:4px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 9px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}th{background:#f6f8fa}
td:first-child,th:first-child{text-align:left}
.chart{display:block;margin:8px 0;max-width:100%;height:auto}
.chart text{font:11px system-ui,sans-serif;fill:#57606a}.chart .ct{font-size:13px;font-weight:600;fill:#1b1f24}
.chart .yl{text-anchor:end}.chart .xl{text-anchor:middle}.chart .grid{stroke:#eaeef2}
.chart .axis{stroke:#8c959f}.chart .frame{fill:none;stroke:#8c959f}.chart .mark{stroke:#8c959f;stroke-dasharray:3 3}
.chart .empty{text-anchor:middle}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}dt{color:#57606a}dd{margin:0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _stats_table(summary: dict[str, Any]) -> str:
    head = ("Message type", "Requests", "Failed", "Late", "req/s", "mean", "p50", "p90", "p99", "p99.9", "max")
    rows = []
    entries = [*summary["by_type"].items(), (AGGREGATED, summary["aggregated"])]
    for name, entry in entries:
        for phase in ("all", "ramp", "steady"):
            st = entry.get(phase)
            if st is None or (phase != "all" and not st["requests"]):
                continue
            pct = st["percentiles_ms"]
            label = name if phase == "all" else f"&nbsp;&nbsp;{phase}"
            cells = [
                label if phase != "all" else _e(label), st["requests"], st["failures"], st["late"],
                f"{st['requests_per_s']:.1f}", format_ms(st["mean_ms"]), format_ms(pct.get("50")),
                format_ms(pct.get("90")), format_ms(pct.get("99")), format_ms(pct.get("99.9")),
                format_ms(st["max_ms"]),
            ]
            tag = "th" if name == AGGREGATED and phase == "all" else "td"
            rows.append("<tr>" + "".join(f"<{tag}>{c if i == 0 else _e(c)}</{tag}>" for i, c in enumerate(cells))
                        + "</tr>")
    return (
        '<table class="stats"><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
    )


def render_report(result: ReportSource) -> str:
    """The HTML page of a load test result (a :class:`~fleetven.loadtest.Result`)."""
    summary = result.summary()
    cfg = result.config
    rec = result.recorder
    history = rec.history
    marks = [(cfg.ramp, "end of ramp")] if 0 < cfg.ramp < result.elapsed else []
    x_max = result.elapsed

    names = [AGGREGATED, *rec.message_types()]
    latency_charts = []
    for name in names:
        rows = [r for r in history if r.name == name]
        if not any(r.requests for r in rows):
            continue
        series = []
        for i, (key, label) in enumerate((("50", "p50"), ("90", "p90"), ("99", "p99"), ("100", "max"))):
            points: list[Point] = [(r.t, r.percentiles_ms.get(key)) for r in rows]
            series.append(Series(label, points, PALETTE[i], dashed=key == "100"))
        title = "Latency from due time, all messages" if name == AGGREGATED else f"Latency from due time: {name}"
        latency_charts.append(line_chart(title, series, y_unit="ms", log=True, marks=marks, x_max=x_max))

    rate_series = []
    for i, name in enumerate(names):
        rows = [r for r in history if r.name == name]
        rate_series.append(Series(
            "all requests" if name == AGGREGATED else name, [(r.t, r.requests / r.seconds) for r in rows],
            PALETTE[i % len(PALETTE)],
        ))
    agg_rows = [r for r in history if r.name == AGGREGATED]
    rate_series.append(Series("failures", [(r.t, r.failures / r.seconds) for r in agg_rows], _FAIL, dashed=True))
    rate_chart = line_chart("Requests and failures per second", rate_series, marks=marks, x_max=x_max)

    ramp = rec.ramp
    ramp_chart = line_chart(
        "Registration ramp: VENs",
        [
            Series("added", [(p.t, p.vens) for p in ramp], PALETTE[6], dashed=True),
            Series("registered", [(p.t, p.registered) for p in ramp], PALETTE[2]),
            Series("registering", [(p.t, p.registering) for p in ramp], PALETTE[0]),
            Series("backing off", [(p.t, p.backing_off) for p in ramp], _FAIL),
        ],
        marks=marks, x_max=x_max,
    )
    health_chart = line_chart(
        "Load tester: loop lag (largest per interval) and CPU",
        [
            Series("loop lag (ms)", [(p.t, p.lag_max_ms) for p in ramp], PALETTE[3]),
            Series("CPU (% of one core)", [(p.t, p.cpu_percent) for p in ramp], PALETTE[0]),
        ],
        marks=marks, x_max=x_max,
    )

    verdict = (
        '<span class="verdict pass">PASSED</span>' if summary["passed"]
        else '<span class="verdict fail">FAILED</span> ' + _e("; ".join(summary["threshold_failures"]))
    )
    warnings = "".join(f'<div class="warn">{_e(w)}</div>' for w in summary["warnings"])
    reg = summary["vens"]
    lt = summary["load_tester"]
    facts = {
        "VTN": cfg.vtn_url,
        "Started": summary["started"],
        "VENs": f"{reg['target']} ({reg['registered_once']} registered; "
        + (f"all within {reg['all_registered_after_s']:.1f} s)" if reg["all_registered_after_s"] is not None
           else "not all)"),
        "Phases": f"ramp {format_duration(cfg.ramp)}, steady {format_duration(cfg.duration)}; "
        f"ran {format_duration(result.elapsed)}",
        "Poll": f"every {format_duration(cfg.poll_interval)} (imposed)" if cfg.poll_interval
        else "as the VTN asks: " + (", ".join(f"{k} s ({v} VENs)" for k, v in summary["vtn_poll_freq_s"].items())
                                    or "-"),
        "Reports offered": ", ".join(summary["settings"]["reports"]) or "none",
        "Thresholds": ", ".join(
            t for t in (
                f"error rate ≤ {100 * cfg.max_error_rate:g}%" if cfg.max_error_rate is not None else "",
                f"p99 ≤ {format_ms(cfg.max_p99 * 1000)}" if cfg.max_p99 is not None else "",
            ) if t
        ) or "none",
        "Load tester": f"loop lag p99 {lt['loop_lag_ms']['p99']:.1f} ms, max {lt['loop_lag_ms']['max']:.0f} ms; "
        f"CPU {lt['cpu_percent']['mean']:.0f}% of one core (max {lt['cpu_percent']['max']:.0f}%); "
        f"late means sent over {lt['late_after_ms']:.0f} ms after due",
        "fleetven": summary["fleetven"],
    }
    errors = summary["errors"]
    error_table = (
        "<table><tr><th>Message type</th><th>Error</th><th>Count</th></tr>"
        + "".join(f"<tr><td>{_e(e['message_type'])}</td><td style='text-align:left'>{_e(e['error'])}</td>"
                  f"<td>{e['count']}</td></tr>" for e in errors[:50])
        + "</table>"
    ) if errors else "<p>None.</p>"

    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>fleetven load test: {_e(cfg.vtn_url)}</title><style>{_CSS}</style></head><body>",
        f"<h1>fleetven load test</h1><p class='sub'>{_e(cfg.vens)} VENs against {_e(cfg.vtn_url)}</p>",
        f"<p>{verdict}</p>{warnings}",
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items()) + "</dl>",
        "<h2>Requests</h2>",
        "<p class='sub'>Latency is measured from the time each request was due by the VEN's schedule, "
        "so a slow VTN cannot hide behind the requests it delayed (no coordinated omission). "
        "Times in milliseconds unless marked.</p>",
        _stats_table(summary),
        "<h2>Latency over time</h2>",
        *latency_charts,
        "<h2>Throughput</h2>",
        rate_chart,
        "<h2>Registration ramp</h2>",
        ramp_chart,
        "<h2>Errors</h2>",
        error_table,
        "<h2>The load tester itself</h2>",
        health_chart,
        "</body></html>\n",
    ])
