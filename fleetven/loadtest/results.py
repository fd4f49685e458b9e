"""What a load test found: the verdict, the one-screen summary and the files of ``--out DIR``.

Files written by :meth:`Result.write`:

* ``summary.json``: settings, verdict, per message type and phase statistics, errors, the load
  tester's own health and warnings;
* ``stats.csv``: one row per message type and an ``Aggregated`` row, in Locust's columns
  (times in milliseconds; ``Type`` is the HTTP method, ``Name`` the OpenADR message type);
* ``stats_history.csv``: the same per history interval, in Locust's columns (the percentiles are
  those of the interval; the ``Total ...`` columns are cumulative);
* ``failures.csv``: Locust's ``Method, Name, Error, Occurrences``;
* ``report.html``: one self-contained page with the charts (see :mod:`.report`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fleetven._version import __version__
from fleetven.loadtest.recorder import AGGREGATED, PERCENTILES, PHASES, HistoryRow, Recorder, Tally
from fleetven.loadtest.report import render_report
from fleetven.loadtest.settings import LoadTestConfig
from fleetven.loadtest.units import format_duration, format_ms

__all__ = ("Result", "STATS_COLUMNS", "HISTORY_COLUMNS", "DOUBTFUL_LAG_MS", "DOUBTFUL_CPU_PERCENT")

_PCT_COLUMNS = tuple(f"{p:g}%" for p in PERCENTILES)
#: ``stats.csv`` columns: Locust's, then ``Late Count``.
STATS_COLUMNS = (
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
    "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
    *_PCT_COLUMNS, "Late Count",
)
#: ``stats_history.csv`` columns: Locust's, then ``Phase``, ``Registered VENs`` and ``Late Count``.
HISTORY_COLUMNS = (
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *_PCT_COLUMNS,
    "Total Request Count", "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
    "Phase", "Registered VENs", "Late Count",
)
#: Above this loop lag p99 the load tester's own delay shows in the latencies.
DOUBTFUL_LAG_MS = 50.0
#: Above this mean CPU (percent of the one core the loop runs on) the load tester may be the bottleneck.
DOUBTFUL_CPU_PERCENT = 85.0
#: Above this fraction of late requests the offered load was not the one asked for.
DOUBTFUL_LATE = 0.01
_METHOD = "POST"


def _num(value: float | None, digits: int = 2) -> float | str:
    return "N/A" if value is None else round(value, digits)


@dataclass(slots=True, kw_only=True)
class Result:
    """The outcome of :meth:`fleetven.loadtest.LoadTest.run`."""

    config: LoadTestConfig
    recorder: Recorder
    monitor: dict[str, Any]
    started: float
    elapsed: float
    vens_added: int
    interrupted: bool = False
    vtn_poll_freqs: dict[float, int] = field(default_factory=dict)
    _summary: dict[str, Any] | None = None

    # ------------------------------------------------------------- figures

    def phase_seconds(self, phase: str) -> float:
        """How long ``phase`` lasted."""
        ramp = min(self.config.ramp, self.elapsed)
        return ramp if phase == "ramp" else max(self.elapsed - ramp, 0.0)

    def tally(self, name: str | None = None, phases: tuple[str, ...] = PHASES) -> Tally:
        """Merged counts and histogram of a message type (``None``: all) over ``phases``."""
        return self.recorder.tally(name, phases)

    def threshold_failures(self) -> list[str]:
        """What failed the ``max_error_rate`` and ``max_p99`` thresholds (whole run, all message types);
        also a run in which not a single request succeeded."""
        cfg = self.config
        total = self.tally()
        out: list[str] = []
        if total.requests == 0 or total.failures == total.requests:
            out.append(f"no request to the VTN succeeded ({total.requests} tried)")
        rate = total.failures / total.requests if total.requests else 1.0
        if cfg.max_error_rate is not None and rate > cfg.max_error_rate:
            out.append(f"error rate {100 * rate:.2f}% > --max-error-rate {100 * cfg.max_error_rate:g}%")
        if cfg.max_p99 is not None and total.histogram.get_total_count():
            p99 = total.histogram.get_value_at_percentile(99) / 1e6
            if p99 > cfg.max_p99:
                out.append(f"p99 latency {format_ms(p99 * 1000)} > --max-p99 {format_ms(cfg.max_p99 * 1000)}")
        return out

    @property
    def passed(self) -> bool:
        """Whether the VTN met the thresholds (and answered at all)."""
        return not self.threshold_failures()

    def warnings(self) -> list[str]:
        """Reasons to doubt the figures: the load tester itself was slow."""
        out: list[str] = []
        lag = self.monitor["loop_lag_ms"]
        cpu = self.monitor["cpu_percent"]
        if lag["p99"] > DOUBTFUL_LAG_MS:
            out.append(
                f"the load tester's event loop lagged (p99 {lag['p99']:.0f} ms, max {lag['max']:.0f} ms): "
                f"latencies below about {lag['p99']:.0f} ms include its own delay; use fewer VENs per process"
            )
        if cpu["mean"] > DOUBTFUL_CPU_PERCENT:
            out.append(
                f"the load tester used {cpu['mean']:.0f}% of its core on average: it may be the bottleneck, "
                "not the VTN; use fewer VENs per process"
            )
        total = self.tally()
        if total.requests and total.late / total.requests > DOUBTFUL_LATE:
            out.append(
                f"{100 * total.late / total.requests:.1f}% of requests left later than "
                f"{1000 * self.config.late_after:.0f} ms after they were due: the offered load fell short"
            )
        if self.vens_added < self.config.vens:
            out.append(f"only {self.vens_added} of {self.config.vens} VENs were added (the test was cut short)")
        if self.interrupted:
            out.append("the test was interrupted: the figures cover the time it ran")
        return out

    def registration(self) -> dict[str, Any]:
        """The registration ramp: how many registered, and when."""
        times = self.recorder.registered_at
        every = len(times) >= self.config.vens
        return {
            "target": self.config.vens,
            "added": self.vens_added,
            "registered_once": len(times),
            "registered_at_end": self.recorder.states["registered"],
            "all_registered_after_s": times[-1] if every and times else None,
            "half_registered_after_s": times[(self.config.vens - 1) // 2] if len(times) * 2 >= self.config.vens
            else None,
        }

    # ------------------------------------------------------------- summary

    def summary(self) -> dict[str, Any]:
        """Everything in ``summary.json`` (computed once)."""
        if self._summary is not None:
            return self._summary
        rec = self.recorder
        seconds = {phase: self.phase_seconds(phase) for phase in PHASES}
        by_type: dict[str, Any] = {}
        for name in [*rec.message_types(), None]:
            entry: dict[str, Any] = {"all": self.tally(name).stats(self.elapsed)}
            for phase in PHASES:
                if seconds[phase] > 0:
                    entry[phase] = self.tally(name, (phase,)).stats(seconds[phase])
            by_type[AGGREGATED if name is None else name] = entry
        aggregated = by_type.pop(AGGREGATED)
        failures = self.threshold_failures()
        cfg = self.config
        self._summary = {
            "fleetven": __version__,
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            "elapsed_s": self.elapsed,
            "interrupted": self.interrupted,
            "settings": cfg.as_dict(),
            "phases_s": seconds,
            "passed": not failures,
            "threshold_failures": failures,
            "warnings": self.warnings(),
            "vens": self.registration(),
            "vtn_poll_freq_s": {f"{k:g}": v for k, v in sorted(self.vtn_poll_freqs.items())},
            "aggregated": aggregated,
            "by_type": by_type,
            "errors": [
                {"message_type": kind, "error": text, "count": count}
                for (kind, text), count in rec.errors.most_common()
            ],
            "events": {"answers": dict(rec.event_answers), "statuses": dict(rec.event_statuses)},
            "signatures_refused": rec.signatures_refused,
            "load_tester": {**self.monitor, "late_after_ms": 1000 * cfg.late_after},
        }
        return self._summary

    def render_summary(self, out_dir: str | os.PathLike[str] | None = None) -> str:
        """The one-screen text summary printed at the end."""
        s = self.summary()
        cfg = self.config
        poll = f"poll every {format_duration(cfg.poll_interval)}" if cfg.poll_interval else "poll as the VTN asks"
        lines = [
            f"fleetven loadtest: {cfg.vens} VENs against {cfg.vtn_url}",
            f"  ramp {format_duration(cfg.ramp)} + steady {format_duration(cfg.duration)} "
            f"(ran {format_duration(self.elapsed)}), {poll}",
        ]
        reg = s["vens"]
        after = reg["all_registered_after_s"]
        lines.append(
            f"  registered: {reg['registered_once']}/{reg['target']}"
            + (f", all within {after:.1f} s" if after is not None else "")
            + f"; {reg['registered_at_end']} registered at the end"
        )
        lines.append("")
        header = ("Message type", "Requests", "Failed", "Late", "req/s", "p50", "p90", "p99", "p99.9", "max")
        rows: list[tuple[str, ...]] = []
        for name, entry in [*s["by_type"].items(), (AGGREGATED, s["aggregated"])]:
            st = entry["all"]
            pct = st["percentiles_ms"]
            rows.append((
                str(name), str(st["requests"]), str(st["failures"]), str(st["late"]), f"{st['requests_per_s']:.1f}",
                format_ms(pct.get("50")), format_ms(pct.get("90")), format_ms(pct.get("99")),
                format_ms(pct.get("99.9")), format_ms(st["max_ms"]),
            ))
        lines.extend(_table(header, rows))
        phases = []
        for phase in PHASES:
            st = s["aggregated"].get(phase)
            if st and st["requests"]:
                phases.append(f"{phase} p99 {format_ms(st['percentiles_ms'].get('99'))} "
                              f"({st['requests']} requests, {st['failures']} failed)")
        if phases:
            lines.append("  by phase: " + "; ".join(phases))
        if s["errors"]:
            lines.append("")
            lines.append("Errors:")
            for err in s["errors"][:5]:
                lines.append(f"  {err['count']:>8}  {err['message_type']}: {err['error']}")
            if len(s["errors"]) > 5:
                lines.append(f"  ... and {len(s['errors']) - 5} more kinds (see summary.json)")
        lt = s["load_tester"]
        lines.append("")
        lines.append(
            f"Load tester: loop lag p99 {lt['loop_lag_ms']['p99']:.1f} ms (max {lt['loop_lag_ms']['max']:.0f} ms), "
            f"CPU {lt['cpu_percent']['mean']:.0f}% of one core (max {lt['cpu_percent']['max']:.0f}%)"
        )
        for warning in s["warnings"]:
            lines.append(f"  WARNING: {warning}")
        lines.append("")
        if s["passed"]:
            judged = [t for t in (cfg.max_error_rate, cfg.max_p99) if t is not None]
            lines.append("PASSED" + (" (every threshold met)" if judged else " (no thresholds given)"))
        else:
            lines.append("FAILED: " + "; ".join(s["threshold_failures"]))
        if out_dir is not None:
            lines.append(f"Results in {out_dir}/ (report.html, summary.json, stats.csv, stats_history.csv)")
        return "\n".join(lines)

    # ------------------------------------------------------------- files

    def stats_rows(self) -> list[list[Any]]:
        """``stats.csv`` rows (without the header), the ``Aggregated`` row last."""
        rows: list[list[Any]] = []
        for name in [*self.recorder.message_types(), None]:
            tally = self.tally(name)
            st = tally.stats(self.elapsed)
            pct = st["percentiles_ms"]
            rows.append([
                "" if name is None else _METHOD, AGGREGATED if name is None else name,
                st["requests"], st["failures"], _num(pct.get("50")), _num(st["mean_ms"]), _num(st["min_ms"]),
                _num(st["max_ms"]), 0, round(st["requests_per_s"], 3), round(st["failures_per_s"], 3),
                *(_num(pct.get(f"{p:g}")) for p in PERCENTILES), st["late"],
            ])
        return rows

    def history_rows(self) -> list[list[Any]]:
        """``stats_history.csv`` rows (without the header)."""
        return [_history_row(row) for row in self.recorder.history]

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write every result file into ``out_dir`` (created if needed); return their paths."""
        target = Path(out_dir)
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        path = target / "summary.json"
        path.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        paths.append(path)
        paths.append(_write_csv(target / "stats.csv", STATS_COLUMNS, self.stats_rows()))
        paths.append(_write_csv(target / "stats_history.csv", HISTORY_COLUMNS, self.history_rows()))
        failures = [[_METHOD, kind, text, count] for (kind, text), count in self.recorder.errors.most_common()]
        paths.append(_write_csv(target / "failures.csv", ["Method", "Name", "Error", "Occurrences"], failures))
        path = target / "report.html"
        path.write_text(render_report(self), encoding="utf-8")
        paths.append(path)
        return paths


def _history_row(row: HistoryRow) -> list[Any]:
    pct = row.percentiles_ms
    return [
        int(row.timestamp), row.vens, "" if row.name == AGGREGATED else _METHOD, row.name,
        round(row.requests / row.seconds, 3), round(row.failures / row.seconds, 3),
        *(_num(pct.get(f"{p:g}")) for p in PERCENTILES),
        row.total_requests, row.total_failures, _num(row.total_median_ms), _num(row.total_mean_ms),
        _num(row.total_min_ms), _num(row.total_max_ms), 0, row.phase, row.registered, row.late,
    ]


def _write_csv(path: Path, header: Sequence[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: tuple[str, ...]) -> str:
        return "  " + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(cells, widths))
        )

    return [line(header), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
