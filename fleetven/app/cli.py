"""The ``fleetven`` command.

Thin on purpose: it parses arguments and calls the library. Each subcommand is one function that
adds its parser to the subcommand table (:data:`COMMANDS`) and sets ``handler`` to the function that
runs it; ``run``, ``loadtest`` and ``vtn`` plug in the same way.

::

    fleetven --version
    fleetven fingerprint CERT [CERT ...]     # OpenLEADR's fingerprint format, PEM or DER
    python -m fleetven fingerprint vtn.pem
    fleetven run fleet.toml [--metrics-port N] [--log-format json] [--no-live] [--check]

Exit status: 0 on success, 2 on a usage error, a file that cannot be read as a certificate, or a
mistake in a ``run`` configuration file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from cryptography import x509

from fleetven._version import __version__
from fleetven.app.logs import JSONLines, configure_logging
from fleetven.observe import Observer, Observers
from fleetven.signing import fingerprint

if TYPE_CHECKING:
    from fleetven.fleet.core import Fleet

__all__ = ("COMMANDS", "JSONLines", "build_parser", "main")

#: Exit status for a usage error or unusable input (as argparse uses).
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]

_run_log = logging.getLogger("fleetven.run")


# ----------------------------------------------------------------------------------------- fingerprint


def _read_certificate(name: str, stdin: TextIO) -> x509.Certificate:
    """The (first) certificate in file ``name`` (``-``: standard input), PEM or DER.

    :raises OSError: the file cannot be read.
    :raises ValueError: it holds no PEM or DER certificate.
    """
    if name == "-":
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    else:
        with open(name, "rb") as fh:
            data = fh.read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _run_fingerprint(args: argparse.Namespace) -> int:
    status = 0
    several = len(args.certs) > 1
    for name in args.certs:
        try:
            cert = _read_certificate(name, sys.stdin)
        except OSError as exc:
            print(f"fleetven fingerprint: cannot read {name!r}: {exc.strerror or exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        except ValueError:
            print(f"fleetven fingerprint: {name!r} holds no PEM or DER X.509 certificate", file=sys.stderr)
            status = EXIT_USAGE
            continue
        fp = fingerprint(cert)
        print(f"{fp}  {name}" if several else fp)
    return status


def add_fingerprint(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleetven fingerprint``."""
    parser = subparsers.add_parser(
        "fingerprint",
        help="print certificate fingerprints as OpenLEADR does",
        description=(
            "Print the fingerprint of each certificate in OpenLEADR's format: the last 10 bytes of the "
            "SHA-256 of the certificate's DER, as colon-separated upper-case hex. This is the string a "
            "VTN is told about a VEN (and a VEN's vtn_fingerprint about its VTN). With one certificate "
            "only the fingerprint is printed; with several, each line is 'FINGERPRINT  FILE'."
        ),
    )
    parser.add_argument(
        "certs", metavar="CERT", nargs="+", help="certificate file, PEM or DER (the first of a PEM bundle); - for stdin"
    )
    parser.set_defaults(handler=_run_fingerprint)


# ------------------------------------------------------------------------------------------------ run






async def _serve(fleet: Fleet, args: argparse.Namespace, live: bool) -> int:
    """Run ``fleet`` until SIGTERM or SIGINT (or until it is stopped), with metrics and live view."""
    from fleetven.observe.live import LiveStats, LiveView
    from fleetven.observe.metrics import FleetMetrics, LoopLag

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        _run_log.info("%s received: stopping the fleet", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    lag = LoopLag()
    stats = LiveStats(fleet, lag=lag)
    observers: list[Observer] = [stats]
    metrics: FleetMetrics | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        if args.metrics_port is not None:
            metrics = FleetMetrics(fleet)
            observers.append(metrics)
            lag.add_callback(metrics.loop_lag)
            try:
                port = await metrics.serve(host=args.metrics_host or None, port=args.metrics_port)
            except OSError as exc:
                _run_log.error("cannot serve metrics on port %d: %s", args.metrics_port, exc.strerror or exc)
                return EXIT_USAGE
            _run_log.info("metrics at http://%s:%d/metrics", args.metrics_host or "0.0.0.0", port,
                          extra={"metrics_port": port})
        fleet.observer = Observers(observers) if len(observers) > 1 else stats
        lag.start()
        if live:
            tasks.append(loop.create_task(LiveView(stats).run()))
        elif args.summary_interval > 0:
            tasks.append(loop.create_task(_summaries(stats, args.summary_interval)))
        await fleet.start()
        stopped = loop.create_task(fleet.wait_stopped())
        signalled = loop.create_task(stop.wait())
        await asyncio.wait((stopped, signalled), return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, signalled):
            task.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal ends the process at once
            loop.remove_signal_handler(signum)
        _run_log.info("%s", stats.summary())
        await fleet.stop()
        return 0
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await lag.stop()
        if metrics is not None:
            await metrics.close()


async def _summaries(stats: Any, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        _run_log.info("%s", stats.summary())


def _run_run(args: argparse.Namespace) -> int:
    from fleetven.app.config import build_fleet, load_config
    from fleetven.exceptions import ConfigurationError

    try:
        config = load_config(args.config)
    except ConfigurationError as exc:
        print(f"fleetven run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    undo_logging = configure_logging(args.log_format or config.log_format, args.log_level or config.log_level)
    try:
        try:
            fleet = build_fleet(config)
        except ConfigurationError as exc:
            print(f"fleetven run: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if args.check:
            print(f"{args.config}: OK: {len(fleet.vens)} VENs, {len(config.handlers)} handlers, "
                  f"{len(config.reports)} reports, against {config.vtn_url}")
            return 0
        live = not args.no_live and sys.stdout.isatty()
        import uvloop

        return uvloop.run(_serve(fleet, args, live))
    finally:
        undo_logging()


def add_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleetven run``."""
    parser = subparsers.add_parser(
        "run",
        help="run a fleet of VENs from a TOML file until SIGTERM or SIGINT",
        description=(
            "Run the fleet a TOML file describes (the VTN, TLS and signing, handlers, reports, identities "
            "inline or from a CSV) until SIGTERM or SIGINT, then stop it cleanly. Every mistake in the file "
            "is reported with its line and key before anything connects (exit status 2). "
            "See the 'fleetven run' guide for the file's format."
        ),
    )
    parser.add_argument("config", metavar="FILE", help="the fleet's TOML file")
    parser.add_argument("--check", action="store_true", help="check the file (and build the fleet), then exit")
    parser.add_argument("--log-format", choices=("text", "json"), help="plain text or JSON lines (overrides "
                        "[logging] format)")
    parser.add_argument("--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                        help="overrides [logging] level")
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics at "
                        "http://HOST:PORT/metrics (0: a free port, logged)")
    parser.add_argument("--metrics-host", default="", metavar="HOST", help="the address metrics are served on "
                        "(default: every interface)")
    parser.add_argument("--no-live", action="store_true", help="no live view, even on a terminal")
    parser.add_argument("--summary-interval", type=float, default=60.0, metavar="SECONDS",
                        help="without the live view, log a summary line this often (0: never; default 60)")
    parser.set_defaults(handler=_run_run)


# ------------------------------------------------------------------------------------- loadtest, vtn


def add_loadtest(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleetven loadtest`` (implemented in :mod:`fleetven.app.commands`)."""
    from fleetven.app.commands import add_loadtest as add

    add(subparsers)


def add_vtn(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleetven vtn`` (implemented in :mod:`fleetven.app.commands`)."""
    from fleetven.app.commands import add_vtn as add

    add(subparsers)


def add_fleet(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleetven fleet`` (implemented in :mod:`fleetven.app.workers`)."""
    from fleetven.app.workers import add_fleet as add

    add(subparsers)


def add_worker(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleetven worker`` (implemented in :mod:`fleetven.app.workers`)."""
    from fleetven.app.workers import add_worker as add

    add(subparsers)


# ---------------------------------------------------------------------------------------------- parser

#: The subcommands, in the order ``--help`` lists them: each adds its parser and sets ``handler``.
COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    add_fingerprint,
    add_run,
    add_loadtest,
    add_vtn,
    add_fleet,
    add_worker,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``fleetven`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="fleetven", description="Run fleets of OpenADR 2.0b VENs, and tools around them."
    )
    parser.add_argument("--version", action="version", version=f"fleetven {__version__}")
    parser.set_defaults(handler=None)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fleetven`` command.

    :param argv: the arguments after the program name; ``sys.argv[1:]`` when ``None``.
    :returns: the exit status (argparse's own exits, ``--help``, ``--version`` and usage errors,
        are returned rather than raised).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    handler: Handler | None = args.handler
    if handler is None:
        parser.print_usage(sys.stderr)
        print("fleetven: error: a command is required (see fleetven --help)", file=sys.stderr)
        return EXIT_USAGE
    return handler(args)
