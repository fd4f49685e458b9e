"""Durations as people type them on a command line or in a TOML file, and their display."""

from __future__ import annotations

import re
from datetime import timedelta

from fleetven.exceptions import ConfigurationError, InvalidValue
from fleetven.openadr.timefmt import parse_duration as parse_iso_duration

__all__ = ("parse_duration", "format_duration", "format_ms")

_SIMPLE = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m|h|d)?", re.IGNORECASE)
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int | timedelta, *, name: str = "duration") -> float:
    """Seconds from ``"10s"``, ``"250ms"``, ``"5m"``, ``"1h"``, ``"2d"``, ISO 8601 ``"PT10S"``, a
    bare number of seconds (``"1.5"``, ``3``), or a :class:`~datetime.timedelta`.

    :param name: what the value is, for the error message (``"--ramp"``, ``"faults[2].at"``).
    :raises ConfigurationError: anything else, or a negative duration.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected a duration such as '10s', not {value!r}", setting=name)
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        match = _SIMPLE.fullmatch(text)
        if match is not None:
            seconds = float(match["number"]) * _SCALE[(match["unit"] or "s").lower()]
        elif text[:1] in ("P", "p", "-"):
            try:
                seconds = parse_iso_duration(text.upper()).total_seconds()
            except InvalidValue:
                raise ConfigurationError(
                    f"{name}: {value!r} is not a duration (try '10s', '5m', '1h' or 'PT10S')", setting=name
                ) from None
        else:
            raise ConfigurationError(
                f"{name}: {value!r} is not a duration (try '10s', '5m', '1h' or 'PT10S')", setting=name
            )
    else:
        raise ConfigurationError(f"{name}: expected a duration such as '10s', not {value!r}", setting=name)
    if seconds < 0 or seconds != seconds:
        raise ConfigurationError(f"{name}: a duration cannot be negative ({value!r})", setting=name)
    return seconds


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
