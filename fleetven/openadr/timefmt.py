"""xCal datetimes and ISO 8601 durations, both ways.

Parsing is lenient where peers differ (``Z`` or ``+hh:mm``, any number of
fractional digits, no zone at all meaning UTC) and strict about everything
else; formatting always writes UTC with ``Z``, as the 2.0b schema requires.

The compiled extractor in :mod:`fleetven._fast` has its own C versions of
:func:`parse_datetime` and :func:`parse_duration`; these are the specification
they are tested against.

:func:`parse_seconds` is the one reader of durations as people write them (command-line
options, configuration keys, API arguments): ISO 8601, ``30s``/``5m``/``1h30m``/``250ms``, a
number of seconds or a :class:`~datetime.timedelta`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from fleetven.exceptions import ConfigurationError, InvalidValue

__all__ = (
    "parse_datetime", "parse_duration", "parse_seconds", "format_datetime", "format_duration", "MONTH", "YEAR",
)

UTC = timezone.utc

#: How long a month (``M`` in the date part) and a year (``Y``) of an ISO 8601
#: duration are taken to be, since a ``timedelta`` has no calendar. The same
#: convention as OpenLEADR.
MONTH = timedelta(days=30)
YEAR = timedelta(days=365)

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_DURATION = re.compile(
    r"([+-])?P(?:(\d+)W|(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?)?)",
    re.ASCII,
)


def parse_datetime(text: str) -> datetime:
    """Parse an xCal ``date-time`` into an aware UTC :class:`~datetime.datetime`.

    Accepts ``2026-11-26T12:00:00Z``, fractional seconds of any length
    (kept to the microsecond, extra digits dropped), a numeric offset
    (``+04:00``) and no zone at all (taken as UTC, as the schema's pattern
    makes ``Z`` optional). Surrounding whitespace is ignored.

    :raises InvalidValue: anything else, naming the text.
    """
    m = _DATETIME.fullmatch(text.strip())
    if m is None:
        raise InvalidValue(f"invalid date-time {text!r}", value=text)
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidValue(f"invalid date-time {text!r}: {exc}", value=text) from None
    if zone and zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise InvalidValue(f"invalid date-time {text!r}: bad offset", value=text)
        offset = timedelta(hours=hours, minutes=minutes)
        try:
            value = value - offset if zone[0] == "+" else value + offset
        except OverflowError:
            raise InvalidValue(f"invalid date-time {text!r}: out of range in UTC", value=text) from None
    return value


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 / RFC 5545 duration into a :class:`~datetime.timedelta`.

    Accepts every form the 2.0b schema allows (``PT1H``, ``P1D``, ``PT0S``,
    ``P2W``, ``-PT5M``, ``P1Y2M3DT4H5M6S``) plus fractional seconds. Years and
    months count as :data:`YEAR` and :data:`MONTH`.

    :raises InvalidValue: anything else (including a bare ``P`` or a ``T``
        with nothing after it), naming the text.
    """
    s = text.strip()
    m = _DURATION.fullmatch(s)
    if m is None or s.endswith(("P", "T")):
        raise InvalidValue(f"invalid duration {text!r}", value=text)
    sign, weeks, years, months, days, hours, minutes, seconds, frac = m.groups()
    try:
        if weeks is not None:
            value = timedelta(weeks=int(weeks))
        else:
            value = timedelta(
                days=int(days or 0) + 30 * int(months or 0) + 365 * int(years or 0),
                hours=int(hours or 0),
                minutes=int(minutes or 0),
                seconds=int(seconds or 0),
                microseconds=int(frac[:6].ljust(6, "0")) if frac else 0,
            )
    except (OverflowError, ValueError):  # beyond timedelta's range, or more digits than int() takes
        raise InvalidValue(f"invalid duration {text!r}: out of range", value=text) from None
    return -value if sign == "-" else value


_UNITS = MappingProxyType({"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0})
_COMPACT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)\s*", re.ASCII | re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+", re.ASCII)
_HINT = "use '10s', '5m', '1h', '1h30m', '250ms' or 'PT10S'"


def parse_seconds(value: object, *, name: str = "duration", unitless: bool = True,
                  zero: bool = True) -> float:
    """Seconds from a duration as people write one: ISO 8601 (``"PT10S"``, ``"-PT0S"``, any case),
    a number with units (``"10s"``, ``"250ms"``, ``"5m"``, ``"1h30m"``, ``"2d"``), a number of
    seconds (``3``, ``1.5``, and with ``unitless`` the string ``"1.5"``) or a
    :class:`~datetime.timedelta`.

    Every command-line option, configuration key and API argument that takes a duration reads it
    here, so they all accept the same spellings and fail with the same message.

    :param value: the duration; anything else is refused with a message saying what it is.
    :param name: the option, key or argument, for the message (``"--ramp"``, ``"[fleet] poll_interval"``).
    :param unitless: whether a string without a unit is a number of seconds (yes on a command line,
        where everything is a string; no in a TOML file, where a number is written as a number).
    :param zero: whether a zero duration is allowed.
    :raises ConfigurationError: a value that is not a duration, or is negative, infinite or (without
        ``zero``) zero; the message is ``"{name}: {problem}"``, the ``problem`` field the part after
        the name, and ``setting`` is ``name``.
    """
    seconds = _seconds(value, unitless)
    if isinstance(seconds, str):
        raise ConfigurationError(f"{name}: {seconds}", setting=name, problem=seconds)
    problem = None
    if not math.isfinite(seconds):
        problem = f"{value!r} is not a finite duration"
    elif seconds < 0:
        problem = f"{value!r} is negative"
    elif seconds == 0 and not zero:
        problem = "must be longer than zero"
    if problem is not None:
        raise ConfigurationError(f"{name}: {problem}", setting=name, problem=problem)
    return seconds


def _seconds(value: object, unitless: bool) -> float | str:
    """The seconds of ``value``, or what is wrong with it."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        return "a duration is a number of seconds or a string like '10s', not a boolean"
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return f"a duration is a number of seconds or a string like '10s', not {type(value).__name__}"
    text = value.strip()
    if not text:
        return "an empty string is not a duration"
    if text[:1] in ("P", "p", "-", "+") and "P" in text.upper():
        try:
            return parse_duration(text.upper()).total_seconds()
        except InvalidValue:
            return f"{value!r} is not a duration ({_HINT})"
    if unitless and _NUMBER.fullmatch(text):
        return float(text)
    pos, total = 0, 0.0
    while pos < len(text):
        match = _COMPACT.match(text, pos)
        if match is None:
            return f"{value!r} is not a duration ({_HINT})"
        total += float(match.group(1)) * _UNITS[match.group(2).lower()]
        pos = match.end()
    return total


def format_datetime(value: datetime) -> str:
    """Format an aware datetime as UTC with ``Z`` (``2026-11-26T12:00:00Z``).

    Microseconds are written only when not zero (``...:00.250000Z``).

    :raises InvalidValue: for a naive datetime, since its instant is unknown.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"naive datetime {value!r}: give a timezone-aware datetime", value=value)
    v = value.astimezone(UTC)
    if v.microsecond:
        return (
            f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f".{v.microsecond:06d}Z"
        )
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def format_duration(value: timedelta) -> str:
    """Format a timedelta as an ISO 8601 duration (``PT1H``, ``P1DT30M``, ``PT0S``, ``-PT5M``).

    :raises InvalidValue: for a fraction of a second, which the 2.0b schema's
        duration pattern cannot express.
    """
    if value.microseconds:
        raise InvalidValue(f"duration {value!r} has a fraction of a second; OpenADR durations are whole seconds",
                           value=value)
    if value < timedelta(0):
        return "-" + format_duration(-value)
    days = value.days
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ["P"]
    if days:
        out.append(f"{days}D")
    if hours or minutes or seconds or not days:
        out.append("T")
        if hours:
            out.append(f"{hours}H")
        if minutes:
            out.append(f"{minutes}M")
        if seconds or not (days or hours or minutes):
            out.append(f"{seconds}S")
    return "".join(out)
