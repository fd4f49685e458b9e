"""xCal datetimes and ISO 8601 durations: the pure specification."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetven.exceptions import ConfigurationError, InvalidValue, MessageError
from fleetven.openadr.timefmt import format_datetime, format_duration, parse_datetime, parse_duration, parse_seconds

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T12:00:00Z", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26T12:00:00.5Z", datetime(2026, 11, 26, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-26T12:00:00.123456789Z", datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-26T12:00:00+04:00", datetime(2026, 11, 26, 8, tzinfo=UTC)),
        ("2026-11-26T00:30:00-05:30", datetime(2026, 11, 26, 6, 0, tzinfo=UTC)),
        ("2026-11-26T12:00:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        (" 2026-11-26T12:00:00Z\n", datetime(2026, 11, 26, 12, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    value = parse_datetime(text)
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["", "2026-11-26", "2026-11-26 12:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
     "2026-11-26T25:00:00Z", "2026-11-26T12:00:00+24:00", "2026-11-26T12:00:00.Z", "now",
     "2026-11-26T12:00:00ZZ", "٢٠٢٦-11-26T12:00:00Z"],
)
def test_parse_datetime_rejects(text: str) -> None:
    with pytest.raises(InvalidValue, match="date-time") as info:
        parse_datetime(text)
    assert isinstance(info.value, MessageError)
    assert info.value.value == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
        ("PT0S", timedelta(0)),
        ("P2W", timedelta(weeks=2)),
        ("-PT5M", -timedelta(minutes=5)),
        ("+PT5M", timedelta(minutes=5)),
        ("P1Y2M3DT4H5M6S", timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6)),
        ("PT1.25S", timedelta(seconds=1, microseconds=250000)),
        ("P0D", timedelta(0)),
        ("PT36H", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1H", "PT1D", "1H", "P1W2D", "PT-1S", "P1.5D", "pt1h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidValue, match="duration"):
        parse_duration(text)


def test_format_datetime_requires_aware() -> None:
    with pytest.raises(InvalidValue, match="naive"):
        format_datetime(datetime(2026, 1, 1))


def test_format_datetime_converts_to_utc() -> None:
    tz = timezone(timedelta(hours=4))
    assert format_datetime(datetime(2026, 1, 1, 4, tzinfo=tz)) == "2026-01-01T00:00:00Z"
    assert format_datetime(datetime(2026, 1, 1, 0, 0, 0, 1500, tzinfo=UTC)) == "2026-01-01T00:00:00.001500Z"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(hours=1), "PT1H"),
        (timedelta(days=1), "P1D"),
        (timedelta(days=1, minutes=30), "P1DT30M"),
        (timedelta(seconds=86399), "PT23H59M59S"),
        (-timedelta(minutes=5), "-PT5M"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_duration_refuses_fractions() -> None:
    with pytest.raises(InvalidValue, match="whole seconds"):
        format_duration(timedelta(milliseconds=1))


@given(st.datetimes(timezones=st.just(UTC)))
def test_datetime_round_trip(value: datetime) -> None:
    assert parse_datetime(format_datetime(value)) == value


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_duration_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


# ---------------------------------------------------------------- durations as people write them


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (10, 10.0), (0.5, 0.5), (timedelta(minutes=2), 120.0), ("10s", 10.0), ("250ms", 0.25), ("5m", 300.0),
        ("1h", 3600.0), ("1h30m", 5400.0), ("2d", 172800.0), ("1.5s", 1.5), (" 10 S ", 10.0), ("PT10S", 10.0),
        ("pt1m", 60.0), ("P1DT1S", 86401.0), ("+PT5S", 5.0), ("-PT0S", 0.0), ("1.5", 1.5), (".5", 0.5),
    ],
)
def test_parse_seconds_takes_every_spelling(value: object, seconds: float) -> None:
    assert parse_seconds(value) == seconds


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("soon", "not a duration"), ("10 sec", "not a duration"), ("-5s", "not a duration"), ("P", "not a duration"),
        ("", "empty"), (True, "not a boolean"), ([], "not list"), (-5, "negative"), (-timedelta(seconds=1), "negative"),
        (float("nan"), "finite"), (float("inf"), "finite"),
    ],
)
def test_parse_seconds_names_the_option(value: object, problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_seconds(value, name="--ramp")
    assert str(info.value).startswith("--ramp: ") and problem in str(info.value)
    assert info.value.fields == {"setting": "--ramp", "problem": str(info.value).removeprefix("--ramp: ")}


def test_parse_seconds_unit_and_zero_rules() -> None:
    with pytest.raises(ConfigurationError, match="not a duration"):
        parse_seconds("10", unitless=False)  # in a file, a string needs its unit
    assert parse_seconds(10, unitless=False) == 10.0
    assert parse_seconds("0s") == 0.0
    with pytest.raises(ConfigurationError, match="longer than zero"):
        parse_seconds("0s", name="[fleet] request_timeout", zero=False)
