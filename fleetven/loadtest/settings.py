"""What a load test runs: :class:`LoadTestConfig` and the reports its VENs offer (plain data).

The fleet options among the settings (certificates, pool size, timeouts, ...) take their defaults
from their one declaration in :mod:`fleetven.loadtest.options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Final

from fleetven.exceptions import ConfigurationError
from fleetven.loadtest.options import FLEET_OPTIONS, FleetOption, option
from fleetven.loadtest.units import format_duration
from fleetven.openadr.timefmt import parse_seconds

__all__ = ("LoadTestConfig", "ReportOption", "parse_report_option", "REPORTS", "LOADTEST_FLEET_OPTIONS")

#: Report names ``--report`` accepts, with the measurement their synthetic callback reports.
REPORTS: Final[Mapping[str, str | None]] = MappingProxyType({"TELEMETRY_USAGE": "REAL_POWER", "TELEMETRY_STATUS": None})


@dataclass(frozen=True, slots=True)
class ReportOption:
    """A report every VEN offers (``--report NAME:INTERVAL``): ``name`` sampled every ``interval`` seconds."""

    name: str
    interval: float


def parse_report_option(text: str) -> ReportOption:
    """Parse ``NAME:INTERVAL`` (``TELEMETRY_USAGE:10s``).

    :raises ConfigurationError: an unknown report name or a bad interval.
    """
    name, sep, interval = text.partition(":")
    name = name.strip().upper()
    if name not in REPORTS:
        raise ConfigurationError(
            f"--report {text!r}: the report must be one of {', '.join(REPORTS)}", setting="--report"
        )
    seconds = parse_seconds(interval if sep else "10s", name=f"--report {text!r}")
    if seconds <= 0:
        raise ConfigurationError(f"--report {text!r}: the interval must be positive", setting="--report")
    return ReportOption(name, seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTestConfig:
    """What to run. Times in seconds.

    :param vtn_url: the VTN under test.
    :param vens: how many VENs.
    :param ramp: seconds over which the VENs are added (0: all at once).
    :param duration: seconds of the steady phase, after the ramp.
    :param poll_interval: poll every this many seconds whatever the VTN asks (``None``: as the VTN
        asks, or every 10 s when it names no frequency).
    :param reports: reports every VEN offers; the VTN decides whether to request them.
    :param cert: the fleet's client certificate (TLS and, unless ``disable_signature``, XML signatures).
    :param key: its private key.
    :param passphrase: the key's passphrase.
    :param ca_file: CA bundle for the VTN's TLS certificate (and, with ``require_vtn_signature``,
        the VTN's signing certificate).
    :param vtn_fingerprint: verify every VTN message's signature against this fingerprint.
    :param require_vtn_signature: require every VTN message to be signed by a certificate from ``ca_file``.
    :param check_hostname: check the VTN's certificate names its host.
    :param disable_signature: send unsigned messages even with ``cert``.
    :param tls_mode: ``"default"`` or ``"certification"``.
    :param max_connections: the fleet's connection pool size.
    :param request_timeout: time one request may take.
    :param timer_resolution: the fleet's timer wheel tick (default 10 ms, finer than a
        fleet's usual 100 ms: a request goes out at the first tick after it is due, and the
        latency measured from the due time includes that wait, so the tick bounds how much of
        a figure is the load tester's own scheduling).
    :param history_interval: the length of one row of ``stats_history.csv`` (and one progress update).
    :param late_slack: a request is *late* when sent more than one wheel tick plus this after it was due.
    :param max_error_rate: fail (exit status 1) when failures / requests exceeds this (0.01 = 1 %).
    :param max_p99: fail when the p99 latency over all requests exceeds this many seconds.
    :param seed: the fleet's random seed (poll phases, backoff jitter).
    :param freeze_gc: follow each full garbage collection with ``gc.freeze()`` (the fleet's
        default; see :mod:`fleetven.fleet.heap`); ``--no-freeze-gc`` leaves the collector alone.
    :param name_prefix: VEN names are this plus a 5-digit number.
    """

    vtn_url: str
    vens: int = 100
    ramp: float = 0.0
    duration: float = 60.0
    poll_interval: float | None = None
    reports: tuple[ReportOption, ...] = ()
    cert: str | None = option("cert").default
    key: str | None = option("key").default
    passphrase: str | None = field(default=option("passphrase").default, repr=False)
    ca_file: str | None = option("ca_file").default
    vtn_fingerprint: str | None = option("vtn_fingerprint").default
    require_vtn_signature: bool = option("require_vtn_signature").default
    check_hostname: bool = option("check_hostname").default
    disable_signature: bool = option("disable_signature").default
    tls_mode: str = option("tls_mode").default
    max_connections: int = option("max_connections").default
    request_timeout: float = option("request_timeout").default
    timer_resolution: float = option("timer_resolution").default
    history_interval: float = 1.0
    late_slack: float = 0.010
    max_error_rate: float | None = None
    max_p99: float | None = None
    seed: int | None = option("seed").default
    freeze_gc: bool = option("freeze_gc").default
    name_prefix: str = "loadtest-"

    def __post_init__(self) -> None:
        if not isinstance(self.vens, int) or self.vens < 1:
            raise ConfigurationError(f"--vens must be a positive number of VENs, not {self.vens!r}", setting="vens")
        for name in ("ramp", "duration"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"--{name} cannot be negative", setting=name)
        if self.ramp + self.duration <= 0:
            raise ConfigurationError("--ramp and --duration are both 0: nothing to run", setting="duration")
        if self.poll_interval is not None and self.poll_interval <= 0:
            raise ConfigurationError("--poll-interval must be positive", setting="poll_interval")
        if self.history_interval <= 0:
            raise ConfigurationError("--history-interval must be positive", setting="history_interval")
        if self.max_error_rate is not None and not 0 <= self.max_error_rate <= 1:
            raise ConfigurationError(
                f"--max-error-rate must be a fraction between 0 and 1 (0.01 = 1 %), not {self.max_error_rate!r}",
                setting="max_error_rate",
            )
        if self.max_p99 is not None and self.max_p99 <= 0:
            raise ConfigurationError("--max-p99 must be positive", setting="max_p99")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the passphrase left out)."""
        data = asdict(self)
        data.pop("passphrase", None)
        data["reports"] = [f"{r.name}:{format_duration(r.interval)}" for r in self.reports]
        return data

    @property
    def late_after(self) -> float:
        """Seconds after its due time past which a request counts as late: one wheel tick plus the slack."""
        return self.timer_resolution + self.late_slack


#: The fleet options a load test passes to its :class:`~fleetven.Fleet` from its
#: :class:`LoadTestConfig` (every declared option that is a field of it; ``poll_interval`` is
#: the load test's own: it overrides the VTN's frequency rather than stand in for it).
LOADTEST_FLEET_OPTIONS: Final[tuple[FleetOption, ...]] = tuple(
    o for o in FLEET_OPTIONS if o.name in LoadTestConfig.__dataclass_fields__ and o.name != "poll_interval"
)
