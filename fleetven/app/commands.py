"""The ``fleetven loadtest`` and ``fleetven vtn`` subcommands (plugged into :mod:`fleetven.app.cli`).

::

    fleetven loadtest --vtn-url URL --vens 5000 --ramp 60s --duration 10m [--poll-interval 10s]
                      [--report TELEMETRY_USAGE:10s] [--cert C --key K --ca-file CA --vtn-fingerprint FP]
                      [--max-error-rate 1% --max-p99 500ms] [--out DIR]
    fleetven vtn [--host 127.0.0.1] [--port 8080] [--poll-freq 10s] [--script vtn.toml]
                 [--cert C --key K [--ca-file CA]]

``loadtest`` exits with 0 when the VTN met the thresholds, 1 when it did not (or answered no
request at all), 2 on a usage or configuration error. ``vtn`` prints its URL as the first line of
its standard output and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from typing import TYPE_CHECKING, Any

from fleetven.exceptions import ConfigurationError, FleetvenError
from fleetven.loadtest.options import FLEET_OPTIONS
from fleetven.openadr.timefmt import parse_seconds

__all__ = ("add_loadtest", "add_vtn", "run_loadtest", "run_vtn", "EXIT_FAILED", "EXIT_USAGE")

#: The VTN failed a threshold, or answered nothing.
EXIT_FAILED = 1
#: A usage or configuration error.
EXIT_USAGE = 2

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _duration(text: str) -> float:
    """A duration flag's value (argparse names the flag in its message)."""
    try:
        return parse_seconds(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(exc.fields["problem"]) from None


def _rate(text: str) -> float:
    """``1%`` or ``0.01``."""
    try:
        value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate (try 1% or 0.01)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 100%")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _passphrase(env: str | None) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None:
        raise ConfigurationError(f"--passphrase-env {env}: no such environment variable", setting="passphrase_env")
    return value


# ------------------------------------------------------------------------------------------ loadtest

#: The fleet options ``fleetven loadtest`` has a flag for, from their one declaration.
_LOADTEST_FLAGS = tuple(o for o in FLEET_OPTIONS if o.flag is not None)


def add_loadtest(subparsers: Subparsers) -> None:
    """Add ``fleetven loadtest``."""
    p = subparsers.add_parser(
        "loadtest",
        help="load-test a VTN with a fleet of VENs",
        description=(
            "Ramp up a fleet of VENs against a VTN and measure every request's latency from the time it was "
            "due (so a slow VTN cannot hide its slowness), per message type, in a ramp and a steady phase. "
            "Prints progress and a summary; with --out writes summary.json, stats.csv, stats_history.csv, "
            "failures.csv and report.html. Exit status 1 when a threshold is exceeded."
        ),
    )
    p.add_argument("--vtn-url", required=True, help="the VTN's base URL, e.g. http://vtn:8080/OpenADR2/Simple/2.0b")
    p.add_argument("--vens", type=_positive_int, default=100, help="number of VENs (default 100)")
    p.add_argument("--ramp", type=_duration, default=0.0,
                   help="add the VENs at an even pace over this time (default 0: all at once)")
    p.add_argument("--duration", type=_duration, default=60.0,
                   help="length of the steady phase after the ramp (default 60s)")
    p.add_argument("--poll-interval", type=_duration, default=None,
                   help="make every VEN poll at this interval, overriding the oadrRequestedOadrPollFreq the VTN "
                        "asks for at registration (default: obey the VTN; 10s when it names none)")
    p.add_argument("--report", action="append", default=[], metavar="NAME:INTERVAL",
                   help="every VEN offers this report (TELEMETRY_USAGE or TELEMETRY_STATUS) sampled at INTERVAL; "
                        "the VTN decides whether to request it. Repeatable")
    groups = {"tls": p.add_argument_group("TLS and signatures"), "limits": p.add_argument_group("limits and output")}
    lim = groups["limits"]
    lim.add_argument("--max-error-rate", type=_rate, default=None, metavar="RATE",
                     help="fail when more than this fraction of requests fail (1%% or 0.01)")
    lim.add_argument("--max-p99", type=_duration, default=None, metavar="DURATION",
                     help="fail when the p99 latency of all requests exceeds this (e.g. 500ms)")
    lim.add_argument("--out", metavar="DIR", help="write the result files into DIR")
    for option in _LOADTEST_FLAGS:
        option.add_argument(groups[option.group])
    lim.add_argument("--history-interval", type=_duration, default=1.0,
                     help="length of one stats_history.csv row (default 1s)")
    lim.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=run_loadtest)


def _loadtest_config(args: argparse.Namespace) -> Any:
    from fleetven.loadtest.settings import LoadTestConfig, parse_report_option

    if (args.cert is None) != (args.key is None):
        raise ConfigurationError("--cert and --key go together")
    fleet: dict[str, Any] = {
        o.name: _passphrase(getattr(args, f"{o.name}_env")) if o.kind == "secret" else getattr(args, o.name)
        for o in _LOADTEST_FLAGS
    }
    return LoadTestConfig(
        vtn_url=args.vtn_url,
        vens=args.vens,
        ramp=args.ramp,
        duration=args.duration,
        poll_interval=args.poll_interval,
        reports=tuple(parse_report_option(r) for r in args.report),
        history_interval=args.history_interval,
        max_error_rate=args.max_error_rate,
        max_p99=args.max_p99,
        **fleet,
    )


def run_loadtest(args: argparse.Namespace) -> int:
    """Run ``fleetven loadtest``; return the exit status."""
    import uvloop

    from fleetven.loadtest.driver import LoadTest
    from fleetven.loadtest.results import Result

    try:
        config = _loadtest_config(args)
        test = LoadTest(config, progress=None if args.quiet else sys.stderr)
        test.build_fleet()  # every setting, certificate and key checked before anything connects
    except (FleetvenError, OSError) as exc:
        print(f"fleetven loadtest: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def main() -> Result:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, test.interrupt)
        return await test.run()

    result = uvloop.run(main())
    paths = None
    if args.out:
        try:
            result.write(args.out)
            paths = args.out
        except OSError as exc:
            print(f"fleetven loadtest: cannot write the results into {args.out!r}: {exc}", file=sys.stderr)
    print(result.render_summary(paths))
    return 0 if result.passed else EXIT_FAILED


# ----------------------------------------------------------------------------------------------- vtn


def add_vtn(subparsers: Subparsers) -> None:
    """Add ``fleetven vtn``."""
    p = subparsers.add_parser(
        "vtn",
        help="serve fleetven's test VTN (scriptable: events, reports, faults)",
        description=(
            "Serve fleetven.testing's VTN: simple-HTTP pull, every registration accepted, answers fast. "
            "A TOML --script makes it issue events, request reports and misbehave (stall, delay, HTTP errors, "
            "dropped connections) at given times. Prints its URL as the first line of standard output and "
            "serves until SIGINT or SIGTERM."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--path", default="/OpenADR2/Simple/2.0b", help="URL path of the services")
    p.add_argument("--vtn-id", default=None, help="the vtnID it announces (default TEST-VTN, or the script's)")
    p.add_argument("--poll-freq", type=_duration, default=None,
                   help="the oadrRequestedOadrPollFreq it asks VENs for (default 10s, or the script's)")
    p.add_argument("--script", metavar="FILE", help="a TOML script of events, report requests and faults")
    p.add_argument("--cert", help="the VTN's certificate (PEM): serve HTTPS with it and sign every answer")
    p.add_argument("--key", help="the private key of --cert")
    p.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the key's passphrase")
    p.add_argument("--ca-file", help="require VEN client certificates from this CA, and signed VEN messages")
    p.add_argument("--no-sign", action="store_true", help="with --cert: do not sign answers")
    p.add_argument("--http", action="store_true", help="with --cert: serve plain HTTP (signatures only)")
    p.add_argument("--stats-interval", type=_duration, default=10.0,
                   help="print request counts to standard error this often (default 10s; 0: never)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(handler=run_vtn)


def _server_context(cert: str, key: str, passphrase: str | None, ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key, password=passphrase)
        if ca_file is not None:
            ctx.load_verify_locations(cafile=ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot use the TLS certificate {cert!r} / key {key!r}: {exc}") from None
    # The OpenADR 2.0b TLS 1.2 suites, on top of Python's defaults.
    try:
        ctx.set_ciphers("DEFAULT:ECDHE-ECDSA-AES128-SHA256:AES128-SHA256:@SECLEVEL=1")
    except ssl.SSLError:
        pass
    return ctx


def _build_vtn(args: argparse.Namespace) -> Any:
    from datetime import timedelta

    from fleetven.signing import Verifier
    from fleetven.testing.script import ScriptedVTN, load_script

    if (args.cert is None) != (args.key is None):
        raise ConfigurationError("--cert and --key go together")
    if args.ca_file and args.cert is None:
        raise ConfigurationError("--ca-file needs --cert and --key (client certificates are checked over HTTPS)")
    script = load_script(args.script) if args.script else None
    passphrase = _passphrase(args.passphrase_env)
    options: dict[str, Any] = {"host": args.host, "port": args.port, "path": args.path,
                               "access_log": args.access_log}
    if args.vtn_id:
        options["vtn_id"] = args.vtn_id
    if args.poll_freq is not None and (args.poll_freq < 1 or args.poll_freq != int(args.poll_freq)):
        raise ConfigurationError("--poll-freq must be a whole number of seconds, at least 1 (OpenADR durations)")
    if args.poll_freq:
        options["poll_freq"] = timedelta(seconds=args.poll_freq)
    if args.cert is not None:
        if not args.http:
            options["ssl"] = _server_context(args.cert, args.key, passphrase, args.ca_file)
        if not args.no_sign:
            options.update(cert=args.cert, key=args.key, passphrase=passphrase)
        if args.ca_file:
            options["verifier"] = Verifier(ca_file=args.ca_file)
    return ScriptedVTN(script=script, **options)


def run_vtn(args: argparse.Namespace) -> int:
    """Run ``fleetven vtn`` until SIGINT or SIGTERM; return the exit status."""
    import uvloop

    try:
        vtn = _build_vtn(args)
    except (FleetvenError, OSError) as exc:
        print(f"fleetven vtn: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await vtn.start()
        except OSError as exc:
            print(f"fleetven vtn: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        print(vtn.url, flush=True)
        t0 = loop.time()
        last_polls = 0
        try:
            while not stop.is_set():
                try:
                    async with asyncio.timeout(args.stats_interval or None):
                        await stop.wait()
                except TimeoutError:
                    counts = vtn.trim()
                    polls = vtn.polls
                    registered = sum(1 for rec in vtn.vens.values() if rec.registration_id is not None)
                    print(f"fleetven vtn: {loop.time() - t0:7.0f} s  registered {registered}  polls {polls} "
                          f"({(polls - last_polls) / args.stats_interval:.0f}/s)  other requests "
                          f"{sum(counts.values()) - polls}", file=sys.stderr, flush=True)
                    last_polls = polls
        finally:
            await vtn.stop()
        counts = vtn.trim()
        registered = sum(1 for rec in vtn.vens.values() if rec.registration_id is not None)
        print(f"fleetven vtn: stopped after {loop.time() - t0:.0f} s; {registered} VENs registered, "
              f"{vtn.polls} polls, {sum(counts.values()) - vtn.polls} other requests", file=sys.stderr, flush=True)
        return 0

    return uvloop.run(main())
