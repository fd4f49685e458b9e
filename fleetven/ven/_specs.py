"""Report specs: the data points a VEN offers, and the checks on OpenLEADR's ``add_report`` arguments.

:class:`ReportSpec` describes one data point; :func:`make_report_spec` validates the arguments
OpenLEADR users give to ``add_report`` and builds one. Specs are immutable and shared by every VEN
of a fleet. Everything here is re-exported by :mod:`fleetven.ven.reports`, the module to import.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from fleetven.exceptions import ConfigurationError
from fleetven.openadr import model as m

__all__ = (
    "REPORT_NAMES",
    "READING_TYPES",
    "REPORT_TYPES",
    "SCALES",
    "MEASUREMENTS",
    "ReportSpec",
    "make_report_spec",
    "is_history",
    "takes_range",
    "takes_full",
    "utc",
    "is_naive",
)

#: Where :func:`make_report_spec` logs what it assumed (unless ``warn=False``).
_log = logging.getLogger("fleetven.reports")

#: Standard report names (plus any name starting with ``x-``).
REPORT_NAMES = frozenset({
    "METADATA_HISTORY_USAGE", "HISTORY_USAGE", "METADATA_HISTORY_GREENBUTTON", "HISTORY_GREENBUTTON",
    "METADATA_TELEMETRY_USAGE", "TELEMETRY_USAGE", "METADATA_TELEMETRY_STATUS", "TELEMETRY_STATUS",
})
#: Reading types (plus any starting with ``x-``).
READING_TYPES = frozenset({
    "Direct Read", "Net", "Allocated", "Estimated", "Summed", "Derived", "Mean", "Peak", "Hybrid",
    "Contract", "Projected", "x-RMS", "x-notApplicable",
})
#: Report types (plus any starting with ``x-``).
REPORT_TYPES = frozenset({
    "reading", "usage", "demand", "setPoint", "deltaUsage", "deltaSetPoint", "deltaDemand", "baseline",
    "deviation", "avgUsage", "avgDemand", "operatingState", "upRegulationCapacityAvailable",
    "downRegulationCapacityAvailable", "regulationSetpoint", "storedEnergy", "targetEnergyStorage",
    "availableEnergyStorage", "price", "level", "powerFactor", "percentUsage", "percentDemand",
    "x-resourceStatus",
})
#: SI scale codes.
SCALES = frozenset({"p", "n", "micro", "m", "c", "d", "k", "M", "G", "T", "none"})

#: The namespace of the report ids :func:`make_report_spec` derives (uuid5).
_ID_SPACE = uuid.UUID("5b0f3c1e-8a47-4d2b-9c61-0f7e2d9a4b13")

# Measurement local name -> (item description fixed by the schema, accepted units; first is the default).
_ITEMS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType({
    "voltage": ("Voltage", ("V",)),
    "current": ("Current", ("A",)),
    "energyReal": ("RealEnergy", ("Wh",)),
    "energyReactive": ("ReactiveEnergy", ("VARh",)),
    "energyApparent": ("ApparentEnergy", ("VAh",)),
    "powerReal": ("RealPower", ("W",)),
    "powerReactive": ("ReactivePower", ("VAR",)),
    "powerApparent": ("ApparentPower", ("VA",)),
    "frequency": ("Frequency", ("Hz",)),
    "pulseCount": ("pulse count", ("count",)),
    "temperature": ("temperature", ("celsius", "fahrenheit")),
    "Therm": ("Therm", ("thm",)),
    "currency": ("currency", ()),
    "currencyPerKW": ("currencyPerKW", ()),
    "currencyPerKWh": ("currencyPerKWh", ()),
    "currencyPerThm": ("currency", ()),
})
_POWER = frozenset({"powerReal", "powerReactive", "powerApparent"})

#: The measurement names OpenLEADR users pass (``openleadr.enums.MEASUREMENTS`` members, any
#: case) mapped to the measurement element's local name.
MEASUREMENTS: Mapping[str, str] = MappingProxyType({
    "VOLTAGE": "voltage", "CURRENT": "current",
    "ENERGY_REAL": "energyReal", "REAL_ENERGY": "energyReal", "ACTIVE_ENERGY": "energyReal",
    "ENERGY_REACTIVE": "energyReactive", "REACTIVE_ENERGY": "energyReactive",
    "ENERGY_APPARENT": "energyApparent", "APPARENT_ENERGY": "energyApparent",
    "ACTIVE_POWER": "powerReal", "REAL_POWER": "powerReal", "POWER_REAL": "powerReal",
    "REACTIVE_POWER": "powerReactive", "POWER_REACTIVE": "powerReactive",
    "APPARENT_POWER": "powerApparent", "POWER_APPARENT": "powerApparent",
    "FREQUENCY": "frequency", "PULSE_COUNT": "pulseCount", "TEMPERATURE": "temperature", "THERM": "Therm",
    "CURRENCY": "currency", "CURRENCY_PER_KW": "currencyPerKW", "CURRENCY_PER_KWH": "currencyPerKWh",
    "CURRENCY_PER_THM": "currencyPerThm",
})


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSpec:
    """One data point a VEN offers (an ``oadrReportDescription``), with the callback that reads it.

    Build it with :func:`make_report_spec`. A spec is immutable and may be shared by every
    VEN of a fleet; with ``with_ven`` the callback receives the VEN as its first argument.

    Callback shapes, decided by ``data_collection_mode`` as in OpenLEADR (whatever the report
    name): ``incremental`` (the default) ``() -> float`` or ``() -> [(datetime, float), ...]``, each
    pair sent at its own instant; ``full`` ``(date_from=..., date_to=..., sampling_interval=...) ->
    [(datetime, float), ...]``, called with those keywords every ``reportBackDuration`` (or
    granularity) for the range since the last call. A naive datetime is taken as local time, as
    OpenLEADR takes it (one warning per report request and data point). fleetven's earlier
    ``HISTORY_USAGE`` form, an incremental callback that takes exactly ``(start, end)`` and cannot
    be called without them, is still given the range. ``TELEMETRY_STATUS``
    ``() -> ResourceStatus`` or a dict with the keys of :data:`STATUS_KEYS`:
    ``{"online": bool, "manual_override": bool, "load_control_state": {...}}``, the last
    optional and keyed as the schema names them (``{"oadrLevelOffset": {"oadrCurrent": 1.0,
    "oadrNormal": 0.0}}``: kinds ``oadrCapacity``, ``oadrLevelOffset``, ``oadrPercentOffset``,
    ``oadrSetPoint``; values ``oadrMin``, ``oadrMax``, ``oadrCurrent`` (required),
    ``oadrNormal``). Any of them may be a coroutine.

    A status callback may also return what OpenLEADR users return, a bool or a number: it is
    sent as ``oadrOnline`` (true when the number is not zero) with ``oadrManualOverride``
    false, and one warning naming the richer form is logged per report request and data
    point. A dict or ``ResourceStatus`` whose ``online`` or ``manual_override`` is missing or
    not a bool is sent with what can be read (a number counts as its truth value) and the
    defaults, ``online`` false (never claimed) and ``manual_override`` false; unknown keys, and
    load control states or values that are unknown, not numbers or lack ``oadrCurrent``, are
    left out; one warning per report request and data point says what was assumed. A value
    from which nothing can be read (a string, ``None``, NaN, a dict with none of the fields
    usable...) skips that sample only, logged at ERROR the first time per report request and
    data point and at DEBUG after that; the other samples and data points still go out.
    """

    callback: Callable[..., Any]
    resource_id: str
    r_id: str
    report_specifier_id: str
    report_name: str = "TELEMETRY_USAGE"
    reading_type: str = "Direct Read"
    report_type: str = "reading"
    measurement: m.Measurement | None = None
    sampling_rate: m.SamplingRate = field(
        default_factory=lambda: m.SamplingRate(min_period=timedelta(seconds=10), max_period=timedelta(hours=1))
    )
    market_context: str | None = None
    data_collection_mode: str = "incremental"
    report_duration: timedelta = timedelta(hours=1)
    report_dtstart: datetime | None = None
    report_data_source: tuple[m.Target, ...] = ()
    report_subject: tuple[m.Target, ...] = ()
    with_ven: bool = False

    @property
    def unit(self) -> str | None:
        """The unit of the measurement (``None`` for status reports)."""
        return None if self.measurement is None else self.measurement.unit

    @property
    def scale(self) -> str:
        """The SI scale code of the measurement (``"none"`` for status reports)."""
        return "none" if self.measurement is None else self.measurement.scale


def _named(value: str, known: frozenset[str], what: str) -> str:
    if not isinstance(value, str) or not (value in known or value.startswith("x-")):
        raise ConfigurationError(
            f"{value!r} is not a valid {what}; valid: {', '.join(sorted(known))} or a name starting with 'x-'",
            field=what,
        )
    return value


def _sampling_rate(value: Any) -> m.SamplingRate:
    if value is None:
        return m.SamplingRate(min_period=timedelta(seconds=10), max_period=timedelta(hours=1), on_change=False)
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ConfigurationError(f"sampling_rate must be positive, not {value}", field="sampling_rate")
        return m.SamplingRate(min_period=value, max_period=value, on_change=False)
    try:  # ours, OpenLEADR's objects.SamplingRate, or anything alike
        lo, hi, ch = value.min_period, value.max_period, bool(value.on_change)
    except AttributeError:
        raise ConfigurationError(
            f"sampling_rate must be a timedelta or a SamplingRate, not {type(value).__name__}", field="sampling_rate"
        ) from None
    if not (isinstance(lo, timedelta) and isinstance(hi, timedelta)) or lo > hi:
        raise ConfigurationError(f"sampling_rate periods are wrong: min {lo!r}, max {hi!r}", field="sampling_rate")
    return m.SamplingRate(min_period=lo, max_period=hi, on_change=ch)


def _measurement(measurement: Any, *, unit: str | None, scale: str | None, power_ac: bool,
                 power_hertz: float, power_voltage: float, warn: bool) -> m.Measurement:
    """Resolve OpenLEADR's ``measurement`` argument to a :class:`~fleetven.openadr.model.Measurement`."""
    if isinstance(measurement, m.Measurement):
        return m.Measurement(name=measurement.name, description=measurement.description, unit=measurement.unit,
                             scale=scale or measurement.scale, power_attributes=measurement.power_attributes,
                             pulse_factor=measurement.pulse_factor)
    if isinstance(measurement, dict):
        missing = [k for k in ("name", "description", "unit") if not isinstance(measurement.get(k), str)]
        if missing:
            raise ConfigurationError(f"a measurement dict needs str {', '.join(missing)}", field="measurement")
        pa = measurement.get("power_attributes")
        return m.Measurement(name=measurement["name"], description=measurement["description"],
                             unit=measurement["unit"], scale=scale or measurement.get("scale") or "none",
                             power_attributes=dict(pa) if pa else None)
    if not isinstance(measurement, str) or not measurement:
        raise ConfigurationError("measurement is required for this report (a name such as 'voltage' or "
                                 "'REAL_POWER', a Measurement or a dict)", field="measurement")
    name = MEASUREMENTS.get(measurement.upper()) or (measurement if measurement in _ITEMS else None)
    if name is None:  # a custom measurement: its name is the description
        if not unit:
            raise ConfigurationError(f"custom measurement {measurement!r} needs a unit", field="unit")
        return m.Measurement(name="customUnit", description=measurement, unit=unit, scale=scale or "none")
    description, units = _ITEMS[name]
    if not units:  # currencies: any ISO 4217 code
        chosen = unit or "USD"
    elif unit is None or unit == units[0]:
        chosen = units[0]
    elif unit in units:
        chosen = unit
    else:
        if warn:
            _log.warning("unit %r is not allowed for measurement %r; using %r (allowed: %s)",
                         unit, measurement, units[0], ", ".join(units))
        chosen = units[0]
    return m.Measurement(
        name=name, description=description, unit=chosen, scale=scale or "none",
        power_attributes={"hertz": power_hertz, "voltage": power_voltage, "ac": power_ac} if name in _POWER else None,
        pulse_factor=1000.0 if name == "pulseCount" else None,
    )


def make_report_spec(
    callback: Callable[..., Any],
    resource_id: str,
    measurement: str | m.Measurement | dict[str, Any] | None = None,
    *,
    data_collection_mode: str = "incremental",
    report_specifier_id: str | None = None,
    r_id: str | None = None,
    report_name: str = "TELEMETRY_USAGE",
    reading_type: str = "Direct Read",
    report_type: str = "reading",
    report_duration: timedelta | None = None,
    report_dtstart: datetime | None = None,
    sampling_rate: timedelta | m.SamplingRate | None = None,
    data_source: object = None,
    scale: str | None = "none",
    unit: str | None = None,
    power_ac: bool = True,
    power_hertz: float = 50,
    power_voltage: float = 230,
    market_context: str | None = None,
    end_device_asset_mrid: str | None = None,
    report_data_source: m.Target | Sequence[m.Target] | None = None,
    existing: Iterable[ReportSpec] = (),
    with_ven: bool = False,
    warn: bool = True,
) -> ReportSpec:
    """Validate OpenLEADR ``add_report`` arguments and build a :class:`ReportSpec`.

    Defaults follow OpenLEADR 0.5.36: ``report_duration`` one hour, ``report_dtstart`` now (a
    naive one is taken as local time, as OpenLEADR does, with a warning),
    ``sampling_rate`` 10 s to 1 h (a timedelta means min = max). Unlike OpenLEADR's random
    ones, the default ``report_specifier_id`` and ``r_id`` are derived from the arguments
    (uuid5 of the report name; of the specifier, resource and measurement), so the same
    ``add_report`` calls give the same ids in every run: after a restart the VTN's report
    requests still name data points the VEN knows. A report with the same name as one in
    ``existing`` shares its specifier id. The caller returns
    ``(spec.report_specifier_id, spec.r_id)`` as OpenLEADR's ``add_report`` does.

    :param callback: reads the value (sync or coroutine function); see :class:`ReportSpec`.
    :param resource_id: the resource this data point belongs to (its ``reportDataSource``).
    :param measurement: an OpenLEADR measurement name (``"voltage"``, ``"REAL_POWER"``...), a
        :class:`~fleetven.openadr.model.Measurement`, a dict, or any other string for a custom
        unit; optional for ``TELEMETRY_STATUS``.
    :param data_collection_mode: ``"incremental"`` (sample every granularity: the callback takes
        no arguments and returns a value or ``[(datetime, value), ...]``) or ``"full"`` (callback
        takes ``date_from``, ``date_to`` and ``sampling_interval`` as keywords and returns pairs).
    :param scale: SI scale code; ``None`` means ``"none"``.
    :param unit: the unit; must be one the measurement allows (else a warning, and the default).
    :param power_ac: for power measurements: AC or DC.
    :param power_hertz: for power measurements: grid frequency.
    :param power_voltage: for power measurements: voltage.
    :param end_device_asset_mrid: put into ``reportSubject`` as an end device asset.
    :param report_data_source: target(s) for ``reportDataSource``; default ``{"resource_id": resource_id}``.
    :param existing: the specs already added to the same VEN (or fleet).
    :param with_ven: the callback takes the VEN as first argument (``fleet.add_report``).
    :param warn: log what was assumed (a default ``report_duration``, a naive ``report_dtstart``,
        a unit the measurement does not allow, the earlier ``HISTORY_USAGE`` form); ``False`` when
        the arguments are only being checked and the real call will log it (a configuration file).
    :param data_source: accepted for compatibility and ignored, as in OpenLEADR.
    :returns: the spec.
    :raises ConfigurationError: an argument is invalid or an id is already taken.
    """
    del data_source
    if not callable(callback):
        raise ConfigurationError("callback must be callable", field="callback")
    if not isinstance(resource_id, str) or not resource_id:
        raise ConfigurationError("resource_id must be a non-empty str", field="resource_id")
    _named(report_name, REPORT_NAMES, "report_name")
    if report_name.startswith("METADATA_"):
        raise ConfigurationError(f"report_name {report_name!r}: name the report itself; the engine "
                                 "advertises it as METADATA_*", field="report_name")
    _named(reading_type, READING_TYPES, "reading_type")
    _named(report_type, REPORT_TYPES, "report_type")
    if scale is not None and scale not in SCALES:
        raise ConfigurationError(f"{scale!r} is not a valid scale; valid: {', '.join(sorted(SCALES))}", field="scale")
    if data_collection_mode not in ("incremental", "full"):
        raise ConfigurationError("data_collection_mode must be 'incremental' or 'full'", field="data_collection_mode")
    if data_collection_mode == "full" and not takes_full(callback, with_ven=with_ven):
        raise ConfigurationError("with data_collection_mode 'full' the callback must accept date_from, "
                                 "date_to and sampling_interval (as keywords, the way OpenLEADR calls it)",
                                 field="callback")
    if report_duration is None:
        if warn:
            _log.warning("add_report: no report_duration given for %s/%s; using 3600 seconds", report_name, resource_id)
        report_duration = timedelta(seconds=3600)
    elif not isinstance(report_duration, timedelta):
        raise ConfigurationError("report_duration must be a timedelta", field="report_duration")
    if report_dtstart is None:
        report_dtstart = datetime.now(timezone.utc)
    elif not isinstance(report_dtstart, datetime):
        raise ConfigurationError(f"report_dtstart must be a datetime, not {type(report_dtstart).__name__}",
                                 field="report_dtstart")
    elif is_naive(report_dtstart):
        try:
            aware = utc(report_dtstart)
        except (OverflowError, ValueError):
            raise ConfigurationError(f"report_dtstart {report_dtstart!r} is out of range in UTC",
                                     field="report_dtstart") from None
        if warn:
            _log.warning("add_report: report_dtstart %s for %s/%s is a naive datetime: taken as local time, %s, "
                         "as OpenLEADR takes it; pass an aware datetime to say which time zone",
                         report_dtstart.isoformat(), report_name, resource_id, aware.isoformat())
        report_dtstart = aware
    rate = _sampling_rate(sampling_rate)
    item = None if report_name == "TELEMETRY_STATUS" else _measurement(
        measurement, unit=unit, scale=scale, power_ac=power_ac, power_hertz=power_hertz, power_voltage=power_voltage,
        warn=warn)

    specs = list(existing)
    if report_specifier_id is None:
        report_specifier_id = next((s.report_specifier_id for s in specs if s.report_name == report_name), None)
        report_specifier_id = report_specifier_id or uuid.uuid5(_ID_SPACE, f"specifier\0{report_name}").hex
    elif not isinstance(report_specifier_id, str) or not report_specifier_id or report_specifier_id == "METADATA":
        raise ConfigurationError(f"report_specifier_id {report_specifier_id!r} is not usable",
                                 field="report_specifier_id")
    for s in specs:
        if s.report_specifier_id == report_specifier_id and s.report_name != report_name:
            raise ConfigurationError(f"report_specifier_id {report_specifier_id!r} already names a {s.report_name} "
                                     f"report, not {report_name}", field="report_specifier_id")
    if r_id is None:
        what = "status" if item is None else f"{item.name}\0{item.description}\0{item.unit}"
        seed = f"rid\0{report_specifier_id}\0{resource_id}\0{what}"
        r_id = uuid.uuid5(_ID_SPACE, seed).hex
        n = 0
        while any(s.r_id == r_id and s.report_specifier_id == report_specifier_id for s in specs):
            n += 1
            r_id = uuid.uuid5(_ID_SPACE, f"{seed}\0{n}").hex
    elif not isinstance(r_id, str) or not r_id:
        raise ConfigurationError("r_id must be a non-empty str", field="r_id")
    if any(s.r_id == r_id and s.report_specifier_id == report_specifier_id for s in specs):
        raise ConfigurationError(f"r_id {r_id!r} is already used in report {report_specifier_id!r}", field="r_id")

    if report_data_source is None:
        sources: tuple[m.Target, ...] = ({"resource_id": resource_id},)
    elif isinstance(report_data_source, dict):
        sources = (report_data_source,)
    else:
        sources = tuple(report_data_source)
    subject: tuple[m.Target, ...] = (
        ({"end_device_asset": {"mrid": end_device_asset_mrid}},) if end_device_asset_mrid else ())
    spec = ReportSpec(
        callback=callback, resource_id=resource_id, r_id=r_id, report_specifier_id=report_specifier_id,
        report_name=report_name, reading_type=reading_type, report_type=report_type, measurement=item,
        sampling_rate=rate, market_context=market_context, data_collection_mode=data_collection_mode,
        report_duration=report_duration, report_dtstart=report_dtstart, report_data_source=sources,
        report_subject=subject, with_ven=with_ven,
    )
    if warn and data_collection_mode == "incremental" and report_name == "HISTORY_USAGE" and takes_range(spec):
        _log.info("add_report: the HISTORY_USAGE callback %s of %s takes (start, end) in incremental mode, "
                  "fleetven's earlier form, and is still given the range; OpenLEADR calls incremental callbacks "
                  "with no arguments: for code that runs on both, use data_collection_mode='full' and "
                  "date_from, date_to, sampling_interval", getattr(callback, "__qualname__", callback), resource_id)
    return spec


def is_history(spec: ReportSpec) -> bool:
    """Whether the requests for ``spec`` fetch ranges from its callback instead of sampling it.

    The ``data_collection_mode`` decides, as in OpenLEADR: ``full`` fetches ranges, ``incremental``
    samples (the callback is called with no arguments, whatever the report name). The one exception
    keeps fleetven's earlier ``HISTORY_USAGE`` form working: an incremental ``HISTORY_USAGE``
    callback that cannot be called without arguments but takes two, ``(start, end)``, is still
    given the range (OpenLEADR could not call it at all).
    """
    return spec.data_collection_mode == "full" or (spec.report_name == "HISTORY_USAGE" and takes_range(spec))


def takes_range(spec: ReportSpec) -> bool:
    """The callback needs exactly the two positional arguments ``(start, end)`` (after the VEN)."""
    try:
        sig = inspect.signature(spec.callback)
    except (TypeError, ValueError):  # no signature to read (some builtins): called as OpenLEADR calls it
        return False
    lead: tuple[None, ...] = (None,) if spec.with_ven else ()
    try:
        sig.bind(*lead)
    except TypeError:
        pass
    else:
        return False  # callable with no arguments: OpenLEADR's convention
    try:
        sig.bind(*lead, None, None)
    except TypeError:
        return False
    return True


def takes_full(callback: Callable[..., Any], *, with_ven: bool) -> bool:
    """The callback can be called as OpenLEADR calls a ``full`` mode one: ``date_from``, ``date_to``
    and ``sampling_interval`` as keywords (after the VEN with ``with_ven``)."""
    try:
        sig = inspect.signature(callback)
    except (TypeError, ValueError):  # no signature to read (some builtins): let the call tell
        return True
    lead: tuple[None, ...] = (None,) if with_ven else ()
    try:
        sig.bind(*lead, date_from=None, date_to=None, sampling_interval=None)
    except TypeError:
        return False
    return True


def utc(when: datetime) -> datetime:
    """``when`` in UTC; a naive datetime is taken as local time, as OpenLEADR takes it.

    :raises OverflowError: the instant is out of range in UTC (``datetime.min`` east of UTC...).
    """
    return when.astimezone(timezone.utc)


def is_naive(when: datetime) -> bool:
    """Whether ``when`` has no time zone (taken as local time)."""
    return when.utcoffset() is None

