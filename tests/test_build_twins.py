"""The two ``build`` twins write the same ``oadrEvent`` elements.

``fleetven._fast._build_py.event`` (the code :mod:`fleetven.messages.build`
always had) is the specification; ``fleetven._fast._build_c.event`` (Cython,
writing the common shapes into a C buffer and handing anything else to the pure
twin) must append the same text to the same pieces, or raise the same error
after appending the same pieces, for every event:

* directly: the text appended, the exception class and its fields;
* through :func:`~fleetven.messages.build.build_signed_object` and
  :func:`~fleetven.messages.build.build_message` with each twin given as
  ``twin=``: the same bytes, or the same
  :class:`~fleetven.exceptions.BuildError` (text, ``path``, ``message_type``).

Events are generated with every optional field, odd values (negative, huge
and fractional durations, datetimes in other zones, naive ones, microseconds,
NaN and infinities, big ints, bools, floats written with an exponent), text
needing escaping or refused by XML 1.0, non-ASCII text, uid variants, targets
of every kind, measurements of every kind, and containers of the wrong type.

Under ``FLEETVEN_NO_EXTENSIONS`` the compiled twin is not in use and the
comparisons are skipped (the pure twin is what every other build test runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from _helpers import load_twin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fleetven._fast
import fleetven.messages.build as build
from fleetven._fast import NO_EXTENSIONS
from fleetven._fast import _build_py as pure
from fleetven.exceptions import BuildError
from fleetven.openadr import model as m
from fleetven.openadr.timefmt import format_datetime, format_duration

UTC = timezone.utc
PLUS2 = timezone(timedelta(hours=2))
MINUS5 = timezone(timedelta(hours=-5, minutes=-30))

EventFn = Callable[[Any, list[str]], None]


@pytest.fixture(scope="module")
def compiled() -> ModuleType:
    return load_twin("build", "c")


def test_build_uses_the_compiled_twin_unless_asked_not_to() -> None:
    if NO_EXTENSIONS:
        assert build.BUILD_COMPILED is False
        assert fleetven._fast.BUILD_COMPILED is False
        assert fleetven._fast.event is pure.event
    else:
        assert build.BUILD_COMPILED is True, "fleetven._fast._build_c is missing: build it (`make test`)"
        assert fleetven._fast.BUILD_COMPILED is True
        assert fleetven._fast.event.__module__ == "fleetven._fast._build_c"


# ---------------------------------------------------------------- outcomes


def _event_outcome(fn: EventFn, ev: Any) -> tuple[str, Any]:
    """What ``fn(ev, out)`` appends to ``out``, and what it raises: the class and, for the twins'
    "cannot write this value" error (``_Bad``), its ``where`` and ``reason``, else its text."""
    out = ["<oadr:oadrDistributeEvent>"]
    try:
        fn(ev, out)
    except Exception as exc:  # any error must be the same error
        if hasattr(exc, "where") and hasattr(exc, "reason"):
            return "".join(out), (type(exc).__name__, exc.where, exc.reason)
        return "".join(out), (type(exc).__name__, str(exc))
    return "".join(out), None


def _build_outcome(twin: ModuleType, msg: m.DistributeEvent) -> tuple[Any, Any]:
    """``build_signed_object`` and ``build_message`` of ``msg`` with ``twin`` writing its events."""
    results: list[Any] = []
    for builder in (build.build_signed_object, build.build_message):
        try:
            results.append(builder(msg, twin=twin))
        except BuildError as exc:
            results.append(("BuildError", str(exc), exc.path, exc.message_type))
    return results[0], results[1]


def assert_same(compiled: ModuleType, ev: Any) -> tuple[str, Any]:
    """Both twins append the same text or raise the same error, directly and through the builder."""
    expected = _event_outcome(pure.event, ev)
    assert _event_outcome(compiled.event, ev) == expected
    msg = m.DistributeEvent(request_id="req-1", vtn_id="vtn-1", events=[ev, ev])
    assert _build_outcome(compiled, msg) == _build_outcome(pure, msg)
    return expected


# -------------------------------------------------------------- strategies

plain_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
#: text written as it is (nothing to escape): what the compiled twin writes itself
safe_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="&<>"),
                    max_size=12)
any_text = st.one_of(
    plain_text,
    st.text(max_size=8),  # anything: controls, surrogates, non-ASCII, & < > \r
    st.sampled_from(["", "a&b", "<x>", "tab\there", "line\nbreak", "cr\r", "\x7f", "caf\u00e9", "\u4e2d",
                     "bad\x01", "\ud800", "\ufffe", " "]),
)
odd = st.sampled_from([None, 1, 1.5, True, b"bytes", ["list"], {"d": 1}])
text_value = st.one_of(plain_text, plain_text, any_text, odd)

finite = st.floats(allow_nan=False, allow_infinity=False)
number = st.one_of(
    finite,
    finite,
    st.sampled_from([0.0, -0.0, 0.1, 1e16, 1e-5, 1.5e300, 5e-324, -2.5e-7, 123456789.125, 1e22]),
    st.floats(),  # NaN, infinities
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([10**18 - 1, 10**18, -(10**18), 2**63, -(2**63) - 1, 10**40]),
    st.sampled_from([True, False, None, "1.5", 1j]),
)

naive = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
aware = st.one_of(
    naive.map(lambda d: d.replace(tzinfo=UTC)),
    naive.map(lambda d: d.replace(tzinfo=UTC, microsecond=0)),
    naive.map(lambda d: d.replace(tzinfo=UTC, microsecond=0)),
    naive.map(lambda d: d.replace(tzinfo=PLUS2)),
    naive.map(lambda d: d.replace(tzinfo=MINUS5, microsecond=0)),
)
when = st.one_of(aware, aware, naive, st.sampled_from([None, "2026-01-01T00:00:00Z", 0]))

durations = st.one_of(
    st.integers(min_value=0, max_value=10**7).map(lambda s: timedelta(seconds=s)),
    st.sampled_from([timedelta(hours=1), timedelta(minutes=15), timedelta(days=1), timedelta(0),
                     timedelta(days=3, seconds=7), timedelta(days=400)]),
    st.timedeltas(),  # negative, microseconds, huge
    st.sampled_from([None, 3600, "PT1H"]),
)

uid = st.one_of(st.none(), st.integers(min_value=0, max_value=99).map(str), text_value)


@st.composite
def interval(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "interval", ("t",)]))
    iv: dict[str, Any] = {}
    if draw(st.integers(0, 20)) != 0:
        iv["duration"] = draw(durations)
    if draw(st.booleans()):
        iv["dtstart"] = draw(when)
    if draw(st.booleans()):
        iv["uid"] = draw(uid)
    if draw(st.integers(0, 20)) != 0:
        iv["signal_payload"] = draw(number)
    return iv


target_keys = st.sampled_from(["ven_id", "group_id", "group_name", "resource_id", "party_id"])
target = st.one_of(
    st.builds(lambda k, v: {k: v}, target_keys, plain_text),
    st.builds(lambda k, v: {k: v}, target_keys, plain_text),
    st.builds(lambda k, v: {k: v}, target_keys, text_value),
    st.builds(lambda v: {"end_device_asset": {"mrid": v}}, plain_text),
    st.builds(lambda v: {"p_node": v}, plain_text),
    st.builds(lambda v: {"service_area": {"pos_list": [1.0, v]}}, finite),
    st.builds(lambda a, b: {"ven_id": a, "group_id": b}, plain_text, plain_text),
    st.sampled_from([{}, {"nonsense": "x"}, "ven", None, {1: "x"}]),
)
targets = st.one_of(st.none(), st.lists(target, max_size=5), st.lists(target, max_size=20),
                    st.sampled_from(["ven", ("x",), {"ven_id": "v"}]))

measurement = st.one_of(
    st.none(),
    st.builds(
        lambda name, desc, unit, scale: m.Measurement(name=name, description=desc, unit=unit, scale=scale),
        st.sampled_from(["currencyPerKWh", "energyReal", "voltage", "customUnit", "pulseCount", "nope", "Therm"]),
        text_value, text_value, st.one_of(st.sampled_from(["none", "k", "M", "micro", "x"]), text_value),
    ),
    st.builds(
        lambda name, scale, hz, volt, ac: m.Measurement(
            name=name, description="RealPower", unit="W", scale=scale,
            power_attributes={"hertz": hz, "voltage": volt, "ac": ac}),
        st.sampled_from(["powerReal", "powerApparent", "powerReactive"]),
        st.sampled_from(["k", "none", "bad"]), number, number, st.sampled_from([True, False, None, 1, "true"]),
    ),
    st.builds(
        lambda pa: m.Measurement(name="powerReal", description="d", unit="W", scale="k", power_attributes=pa),
        st.sampled_from([None, {}, [1], {"hertz": 60, "voltage": 240}]),
    ),
    st.builds(
        lambda pf: m.Measurement(name="pulseCount", description="p", unit="count", pulse_factor=pf), number),
    st.sampled_from(["energyReal", {"name": "energyReal"}]),
)

signal_names = st.one_of(st.sampled_from(["SIMPLE", "simple", "ELECTRICITY_PRICE", "LOAD_DISPATCH", "x-mine",
                                          "x-", "x- y", "nope"]), text_value)
signal_types = st.one_of(st.sampled_from(["level", "price", "setpoint", "delta", "x-loadControlCapacity",
                                          "x-other"]), text_value)


@st.composite
def signal(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 40)) == 0:
        return draw(st.sampled_from([None, [], "signal"]))
    sig: dict[str, Any] = {
        "signal_name": draw(signal_names),
        "signal_type": draw(signal_types),
        "signal_id": draw(st.one_of(plain_text, plain_text, text_value)),
    }
    ivs = draw(st.lists(interval(), min_size=1, max_size=6))
    kind = draw(st.integers(0, 12))
    sig["intervals"] = ivs if kind else draw(st.sampled_from([[], None, "x", tuple(ivs), {"a": 1}]))
    if draw(st.booleans()):
        sig["measurement"] = draw(measurement)
    if draw(st.booleans()):
        sig["current_value"] = draw(number)
    if draw(st.integers(0, 4)) == 0:
        sig["targets"] = draw(targets)
    if draw(st.integers(0, 8)) == 0:
        sig["targets_by_type"] = draw(st.sampled_from([{}, {"ven_id": ["v1", "v2"]}, {"group_id": ("g",)},
                                                       {"bogus": ["b"]}, "x"]))
    return sig


@st.composite
def event(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 60)) == 0:
        return draw(st.sampled_from([None, [], "event"]))
    desc: dict[str, Any] = {
        "event_id": draw(st.one_of(plain_text, plain_text, text_value)),
        "modification_number": draw(st.one_of(
            st.integers(0, 10), st.sampled_from([-1, 2**32 - 1, 2**32, 10**30, True, None, 1.0, "3"]))),
        "market_context": draw(st.one_of(st.just("http://mc.example.com/a?b=1&c=2"), plain_text, text_value)),
        "created_date_time": draw(when),
        "event_status": draw(st.one_of(st.sampled_from(["far", "near", "active", "completed", "cancelled", "none",
                                                        "x-far", "FAR"]), text_value)),
    }
    for key, strategy in (
        ("modification_date_time", when),
        ("modification_reason", text_value),
        ("priority", st.one_of(st.integers(0, 5), st.sampled_from([-3, 2**40, False, "1"]))),
        ("test_event", st.one_of(st.booleans(), text_value)),
        ("vtn_comment", text_value),
    ):
        if draw(st.booleans()):
            desc[key] = draw(strategy)
    ev: dict[str, Any]
    shape = draw(st.integers(0, 10))
    if shape == 0:
        ev = dict(desc)  # flat: the descriptor's fields on the event itself
    elif shape == 1:
        ev = {"event_descriptor": draw(st.sampled_from(["d", ["d"]]))}
    else:
        ev = {"event_descriptor": desc}
    ap: Any = {"dtstart": draw(when), "duration": draw(durations)}
    for key in ("notification", "ramp_up", "recovery"):
        if draw(st.integers(0, 3)) == 0:
            ap[key] = draw(durations)
    if draw(st.integers(0, 5)) == 0:
        ap["tolerance"] = draw(st.sampled_from([
            {"tolerate": {"startafter": timedelta(minutes=5)}}, {"startafter": timedelta(seconds=30)},
            {"tolerate": None}, {"tolerate": {}}, "x"]))
    if draw(st.integers(0, 30)) == 0:
        ap = draw(st.sampled_from([None, "ap", ["x"]]))
    ev["active_period"] = ap
    sigs = draw(st.lists(signal(), min_size=1, max_size=3))
    form = draw(st.integers(0, 15))
    ev["event_signals"] = sigs if form > 1 else tuple(sigs) if form == 1 else draw(st.sampled_from([[], None, "s"]))
    if draw(st.integers(0, 3)):
        ev["targets"] = draw(targets)
    if draw(st.integers(0, 6)) == 0:
        ev["targets_by_type"] = draw(st.sampled_from([{"ven_id": ["v1"], "group_id": ["g1", "g2"]}, {}, "x"]))
    if draw(st.booleans()):
        ev["response_required"] = draw(st.one_of(st.sampled_from(["always", "never", "sometimes"]), text_value))
    return ev


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ev=event())
def test_generated_events_are_built_alike(compiled: ModuleType, ev: Any) -> None:
    assert_same(compiled, ev)


@st.composite
def common_event(draw: st.DrawFn) -> Any:
    """Valid events of the common shapes: the compiled twin writes them without the pure one."""
    n = draw(st.integers(1, 30))
    start = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9998, 1, 1))).replace(
        tzinfo=UTC, microsecond=0)
    step = draw(st.integers(0, 10**6).map(lambda s: timedelta(seconds=s)))
    ivs: list[dict[str, Any]] = []
    for i in range(n):
        iv: dict[str, Any] = {"duration": draw(st.sampled_from([step, timedelta(days=i, seconds=i * 61)])),
                              "signal_payload": draw(st.one_of(finite, st.integers(-(10**17), 10**17)))}
        if draw(st.booleans()):
            iv["dtstart"] = start + i * step if i * step < timedelta(days=300) else start
        if draw(st.booleans()):
            iv["uid"] = draw(st.one_of(st.just(str(i)), safe_text))
        ivs.append(iv)
    power = {"hertz": draw(st.one_of(finite, st.integers())), "voltage": 240, "ac": draw(st.booleans())}
    return {
        "event_descriptor": {"event_id": draw(safe_text), "modification_number": draw(st.integers(0, 2**32 - 1)),
                             "market_context": draw(safe_text), "created_date_time": start,
                             "event_status": draw(st.sampled_from(["far", "near", "active"])),
                             "priority": draw(st.integers(0, 2**32 - 1)), "test_event": draw(st.booleans())},
        "active_period": {"dtstart": start, "duration": step},
        "event_signals": [{"signal_name": "SIMPLE", "signal_type": "level", "signal_id": draw(safe_text),
                           "intervals": ivs, "current_value": draw(finite),
                           "measurement": m.Measurement(name="powerReal", description="RealPower", unit="W",
                                                        scale="k", power_attributes=power)}],
        "targets": draw(st.lists(st.builds(lambda k, v: {k: v}, target_keys, safe_text), max_size=16)),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ev=common_event())
def test_common_events_are_built_alike(compiled: ModuleType, ev: Any) -> None:
    _, error = assert_same(compiled, ev)
    assert error is None
    out: list[str] = []
    compiled.event(ev, out)
    assert len(out) == 1, "the compiled twin handed a common event to the pure one"  # its one piece, from C


# ------------------------------------------------------- chosen examples


def _ev(**changes: Any) -> dict[str, Any]:
    """A valid event, with the interval fields (``iv_*``), descriptor fields (``d_*``) or event keys replaced."""
    iv: dict[str, Any] = {"duration": timedelta(hours=1), "signal_payload": 0.5, "uid": "0",
                          "dtstart": datetime(2026, 7, 1, tzinfo=UTC)}
    desc: dict[str, Any] = {"event_id": "e1", "modification_number": 0, "market_context": "http://mc",
                            "created_date_time": datetime(2026, 6, 30, 12, tzinfo=UTC), "event_status": "far"}
    ev: dict[str, Any] = {
        "event_descriptor": desc,
        "active_period": {"dtstart": datetime(2026, 7, 1, tzinfo=UTC), "duration": timedelta(days=1)},
        "event_signals": [{"signal_name": "SIMPLE", "signal_type": "level", "signal_id": "s1", "intervals": [iv]}],
        "targets": [{"ven_id": "ven-1"}],
    }
    for key, value in changes.items():
        if key.startswith("iv_"):
            iv[key[3:]] = value
        elif key.startswith("d_"):
            desc[key[2:]] = value
        else:
            ev[key] = value
    return ev


@pytest.mark.parametrize("value", [
    0.1, -0.0, 1e16, 1e-05, 123456789.125, 5e-324, 1.7976931348623157e308, 2.5e-7, 1e22, 100.0,
    7, -7, 0, 10**17, 10**18, 10**40, -(2**63),
])
def test_payload_numbers(compiled: ModuleType, value: float) -> None:
    text, error = assert_same(compiled, _ev(iv_signal_payload=value))
    assert error is None
    assert f"<ei:value>{value!r}</ei:value>" in text


# The compiled twin writes floats with at most six decimal places and 15 digits itself (the rest by
# Python's repr): these are its edges, and numbers just beside them that must go to repr.
_DECIMALS = [
    0.0001, -0.0001, 0.00012, 9.9e-05, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.005, 2.675, 4.35, 0.045, 250.5, -250.5,
    123456.123456, 123456.1234567, 999999999.999999, 999999999999999.0, 99999999999999.9, 999999999999999.9,
    1e15, 1e15 - 1, 1e14 + 0.5, 5e-324, 3.0, -3.0, 0.0, -0.0, 1.0, 123.0000001, 0.30000000000000004,
    math.nextafter(0.1234, 1.0), math.nextafter(0.1234, 0.0), math.nextafter(250.5, 1e3),
]


@pytest.mark.parametrize("value", _DECIMALS)
def test_short_decimals_are_written_as_repr(compiled: ModuleType, value: float) -> None:
    text, error = assert_same(compiled, _ev(iv_signal_payload=value))
    assert error is None
    assert f"<ei:value>{value!r}</ei:value>" in text


@settings(max_examples=300, deadline=None)
@given(places=st.integers(0, 8), whole=st.floats(-1e16, 1e16, allow_nan=False), nudge=st.integers(-2, 2))
def test_rounded_floats_are_written_as_repr(compiled: ModuleType, places: int, whole: float, nudge: int) -> None:
    value = round(whole / 10 ** (places % 5), places)
    for _ in range(abs(nudge)):  # a neighbour of a short decimal is not one: repr must write it
        value = math.nextafter(value, math.copysign(math.inf, nudge))
    text, error = assert_same(compiled, _ev(iv_signal_payload=value))
    assert error is None
    assert f"<ei:value>{value!r}</ei:value>" in text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, None, "1.5"])
def test_bad_payloads_fail_alike(compiled: ModuleType, value: Any) -> None:
    _, error = assert_same(compiled, _ev(iv_signal_payload=value))
    assert error is not None and error[0] == "_Bad"
    assert error[1] == "interval/signalPayload/payloadFloat/value"


@pytest.mark.parametrize("value", [
    timedelta(0), timedelta(seconds=59), timedelta(hours=25), timedelta(days=2, seconds=3661),
    timedelta(days=999999999, seconds=86399), timedelta(weeks=1),
])
def test_durations(compiled: ModuleType, value: timedelta) -> None:
    text, error = assert_same(compiled, _ev(iv_duration=value))
    assert error is None
    assert f"<xcal:duration>{format_duration(value)}</xcal:duration>" in text


@pytest.mark.parametrize("value", [timedelta(seconds=-5), timedelta(microseconds=5), None, 60])
def test_odd_durations(compiled: ModuleType, value: Any) -> None:
    assert_same(compiled, _ev(iv_duration=value))


@pytest.mark.parametrize("value", [
    datetime(2026, 7, 1, 0, 0, 0, 250000, tzinfo=UTC), datetime(2026, 7, 1, 2, 0, tzinfo=PLUS2),
    datetime(999, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, tzinfo=MINUS5),
])
def test_interval_datetimes(compiled: ModuleType, value: datetime) -> None:
    text, error = assert_same(compiled, _ev(iv_dtstart=value))
    assert error is None
    assert f"<xcal:date-time>{format_datetime(value)}</xcal:date-time>" in text


def test_naive_datetimes_fail_alike(compiled: ModuleType) -> None:
    _, error = assert_same(compiled, _ev(iv_dtstart=datetime(2026, 7, 1)))
    assert error is not None and error[:2] == ("_Bad", "interval/dtstart/date-time")
    _, error = assert_same(compiled, _ev(d_created_date_time=datetime(2026, 7, 1)))
    assert error is not None and error[:2] == ("_Bad", "eventDescriptor/createdDateTime")


@pytest.mark.parametrize("value", ["", "a b", "a&b", "<", "caf\u00e9", "\u00e9t\u00e9", "x\ty", "x\ry", "\x01",
                                   "\ud800", 5, None])
def test_uid_variants(compiled: ModuleType, value: Any) -> None:
    assert_same(compiled, _ev(iv_uid=value))


@pytest.mark.parametrize("field", ["event_id", "market_context", "vtn_comment", "modification_reason"])
@pytest.mark.parametrize("value", ["R&D <now>", "line\r\nbreak", "\u4e2d\u6587", "\x00", 12])
def test_descriptor_text_variants(compiled: ModuleType, field: str, value: Any) -> None:
    assert_same(compiled, _ev(**{f"d_{field}": value}))


def test_build_errors_are_the_same(compiled: ModuleType) -> None:
    msg = m.DistributeEvent(request_id="r", vtn_id="v", events=[_ev(), _ev(iv_signal_payload=math.nan)])
    outcomes = [_build_outcome(twin, msg) for twin in (pure, compiled)]
    assert outcomes[0] == outcomes[1]
    kind, _, path, message_type = outcomes[0][0]
    assert kind == "BuildError" and message_type == "oadrDistributeEvent"
    assert path == ("oadrDistributeEvent/oadrEvent[2]/eiEvent/eiEventSignals/eiEventSignal[1]/intervals/"
                    "interval[1]/signalPayload/payloadFloat/value")


def test_the_builder_writes_events_with_the_twin_it_is_given() -> None:
    """``twin=`` is what writes the events (so the comparisons above compare both twins), and
    without it the builder uses the twin :mod:`fleetven._fast` picked."""
    seen: list[Any] = []
    recording = ModuleType("recording")

    def event(ev: Any, out: list[str]) -> None:
        seen.append(ev)
        pure.event(ev, out)

    recording.event = event  # type: ignore[attr-defined]
    events = [_ev(), _ev(iv_uid="other")]
    msg = m.DistributeEvent(request_id="r", vtn_id="v", events=events)
    assert build.build_message(msg, twin=recording) == build.build_message(msg, twin=pure)
    assert build.build_signed_object(msg, twin=recording) == build.build_signed_object(msg, twin=pure)
    assert seen == events * 2


def test_a_hostile_key_fails_alike(compiled: ModuleType) -> None:
    class Key(str):
        __slots__ = ()

        def __hash__(self) -> int:
            return hash("uid")

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no comparing")

    # built in this order: inserting the key compares nothing, looking "uid" up then compares it
    interval = {Key("k"): 1, "duration": timedelta(hours=1), "signal_payload": 0.5}
    ev = _ev()
    ev["event_signals"][0]["intervals"] = [interval]
    outcome = _event_outcome(pure.event, ev)
    assert outcome[1] == ("RuntimeError", "no comparing")
    assert _event_outcome(compiled.event, ev) == outcome


def test_keys_that_are_not_the_interned_strings(compiled: ModuleType) -> None:
    def fresh(name: str) -> str:
        return "".join(list(name))  # an equal str, but another object than the literal

    interval = {fresh("duration"): timedelta(minutes=5), fresh("signal_payload"): 2.5, fresh("uid"): "u1",
                fresh("dtstart"): datetime(2026, 7, 1, 0, 5, tzinfo=UTC)}
    literal = "duration"
    assert not any(key is literal for key in interval)  # identity is the point
    ev = _ev()
    ev["event_signals"][0]["intervals"] = [interval, dict(interval, extra_key=1)]
    text, error = assert_same(compiled, ev)
    assert error is None and "<ei:value>2.5</ei:value>" in text and "<xcal:text>u1</xcal:text>" in text
    out: list[str] = []
    compiled.event(ev, out)
    assert len(out) == 1  # written by the compiled twin, with lookups
