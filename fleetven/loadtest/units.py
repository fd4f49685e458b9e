"""Durations as people type them on a command line or in a TOML file, and their display."""

from __future__ import annotations

from fleetven.openadr.timefmt import parse_seconds

__all__ = ("parse_duration", "format_duration", "format_ms")

#: Seconds from ``"10s"``, ``"250ms"``, ``"5m"``, ``"1h30m"``, ISO 8601 ``"PT10S"``, a number of
#: seconds or a :class:`~datetime.timedelta`: :func:`fleetven.openadr.timefmt.parse_seconds`, the
#: one duration reader of every option, under the name the load tester has always exported.
parse_duration = parse_seconds


def format_duration(seconds: float) -> str:
    """``"45s"``, ``"2m30s"``, ``"1h05m"``: short, for progress lines and summaries."""
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_ms(ms: float | None) -> str:
    """A latency in milliseconds, with the precision it deserves (``"0.42 ms"``, ``"12.3 ms"``, ``"3.05 s"``)."""
    if ms is None:
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"
