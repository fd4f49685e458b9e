"""The ``fleetven fleet`` and ``fleetven worker`` subcommands: one fleet run by several processes.

::

    fleetven fleet create --store URL [--slots 1024] [--config fleet.toml]
    fleetven fleet import --store URL vens.csv
    fleetven fleet status --store URL [--json]
    fleetven worker --store URL [--config fleet.toml] [--name NAME] [--lease 15s] [--renew-every 3s]
                    [--margin 3s] [--statement-timeout 2s] [--metrics-port PORT] [--metrics-host HOST]

``--store`` defaults to the ``FLEETVEN_STORE`` environment variable. The configuration is a
``fleetven run`` TOML file (the VTN, TLS and signing, handlers, reports; its ``[store]`` and
``[vens]`` are not used): given to ``fleet create`` it is kept in the database for every worker,
given to ``worker`` it is used instead. Exit status: 0, 1 when the database cannot be reached, 2 on
a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fleetven.app.commands import EXIT_USAGE, _duration
from fleetven.exceptions import ConfigurationError, FleetvenError
from fleetven.store import POSTGRESQL_SCHEMES

if TYPE_CHECKING:
    from fleetven.app.config import FleetConfig
    from fleetven.fleet.worker import Worker

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ("add_fleet", "add_worker", "EXIT_STORE")

#: The fleet's database cannot be reached.
EXIT_STORE = 1

_log = logging.getLogger("fleetven.worker")


def _store_arg(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("FLEETVEN_STORE")
    parser.add_argument("--store", default=default, required=default is None, metavar="URL",
                        help="the fleet's PostgreSQL database, postgresql://... (default: $FLEETVEN_STORE)")


def _fail(command: str, exc: BaseException) -> int:
    print(f"fleetven {command}: {exc}", file=sys.stderr)
    return EXIT_USAGE if isinstance(exc, ConfigurationError) else EXIT_STORE


def _check_url(command: str, url: str) -> None:
    if not url.startswith(POSTGRESQL_SCHEMES):
        raise ConfigurationError(f"--store must be a postgresql:// URL (a fleet of several workers needs "
                                 f"PostgreSQL), not {url.split('://')[0] + '://...' if '://' in url else url!r}",
                                 setting="store")


# ------------------------------------------------------------------------------------------ fleet


async def _create(args: argparse.Namespace) -> int:
    from fleetven.app.config import load_config
    from fleetven.store.identities import Identities
    from fleetven.store.leases import Leases

    text = None
    if args.config is not None:
        load_config(args.config, need_vens=False)  # every mistake reported now, not by each worker later
        text = Path(args.config).read_text(encoding="utf-8")
    leases = Leases(args.store)
    try:
        added = await leases.create(args.slots)
    finally:
        await leases.close()
    if text is not None:
        ids = await Identities.open(args.store)
        try:
            await ids.put_config(str(Path(args.config).resolve()), text)
        finally:
            await ids.close()
    print(f"fleet of {args.slots} slots ({added} new)" + (f"; workers' configuration from {args.config}"
                                                          if text is not None else ""))
    return 0


async def _import(args: argparse.Namespace) -> int:
    from fleetven.app.config import read_identities
    from fleetven.fleet.slots import slot_of
    from fleetven.store.identities import Identities, Identity
    from fleetven.store.leases import Leases

    vens = read_identities(args.csv)
    leases = Leases(args.store)
    try:
        slots = await leases.count()
    finally:
        await leases.close()
    if not slots:
        raise ConfigurationError("the fleet has no slots: create it first (fleetven fleet create)", setting="slots")
    ids = await Identities.open(args.store)
    try:
        written = await ids.put(Identity(v.name, slot_of(v.name, slots), v.ven_id, v.cert, v.key) for v in vens)
        total = await ids.count()
    finally:
        await ids.close()
    print(f"{written} identities imported from {args.csv}; the fleet has {total} VENs in {slots} slots")
    return 0


async def _status(args: argparse.Namespace) -> int:
    from fleetven.store.identities import Identities

    ids = await Identities.open(args.store)
    try:
        status = await ids.status()
    finally:
        await ids.close()
    if args.json:
        print(json.dumps(status.as_dict(), indent=2, sort_keys=True))
        return 0
    print(f"{status.slots} slots, {status.vens} VENs; {status.free} slots free, {status.expired} expired "
          f"({status.unowned_vens} VENs run by no worker)")
    for name, w in status.workers.items():
        seen = "no heartbeat" if w.seen is None else f"seen {w.seen:.1f} s ago"
        print(f"  {name}: {w.slots} slots, {w.vens} VENs, {seen}")
    return 0


def _run_fleet(args: argparse.Namespace) -> int:
    try:
        _check_url(f"fleet {args.action}", args.store)
        return asyncio.run({"create": _create, "import": _import, "status": _status}[args.action](args))
    except (FleetvenError, OSError) as exc:
        return _fail(f"fleet {args.action}", exc)


def add_fleet(subparsers: Subparsers) -> None:
    """Add ``fleetven fleet create|import|status``."""
    parser = subparsers.add_parser("fleet", help="create a fleet on PostgreSQL, import its identities, show who "
                                   "owns what", description="Manage a fleet run by several workers "
                                   "(fleetven worker) from one PostgreSQL database.")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    create = actions.add_parser("create", help="create the fleet's slots (and keep the workers' configuration)")
    _store_arg(create)
    create.add_argument("--slots", type=int, default=1024, help="the fleet's slot count, fixed for its life "
                        "(default 1024)")
    create.add_argument("--config", metavar="FILE", help="a fleetven run TOML file (VTN, TLS, handlers, reports) "
                        "for every worker; checked now")
    imp = actions.add_parser("import", help="add or update VEN identities from a CSV (the format of fleetven run)")
    _store_arg(imp)
    imp.add_argument("csv", metavar="CSV", help="ven_name,ven_id,cert,key rows")
    status = actions.add_parser("status", help="slots and VENs per worker, free and expired slots")
    _store_arg(status)
    status.add_argument("--json", action="store_true", help="as JSON")
    parser.set_defaults(handler=_run_fleet)


# ----------------------------------------------------------------------------------------- worker


async def _worker_config(args: argparse.Namespace) -> FleetConfig:
    from fleetven.app.config import load_config
    from fleetven.store.identities import Identities

    if args.config is not None:
        config = load_config(args.config, need_vens=False)
    else:
        ids = await Identities.open(args.store)
        try:
            kept = await ids.config()
        finally:
            await ids.close()
        if kept is None:
            raise ConfigurationError("the fleet keeps no workers' configuration: give --config, or fleetven fleet "
                                     "create --config", setting="config")
        config = load_config(kept[0], text=kept[1], need_vens=False)
    if config.vens:
        _log.warning("%s: its %d [vens] are not used: a worker runs the fleet's imported identities",
                     config.path, len(config.vens))
    return dataclasses.replace(config, vens=(), store=None)


async def _serve_worker(args: argparse.Namespace) -> int:
    from fleetven.app.config import build_fleet
    from fleetven.fleet.worker import Worker
    from fleetven.observe.metrics import FleetMetrics, WorkerCollector

    configs: list[FleetConfig] = []
    # made first: a timing that cannot keep a lease is a usage error, found before anything connects
    worker = Worker(args.store, lambda **kw: build_fleet(configs[0], **kw), name=args.name, lease=args.lease,
                    renew_every=args.renew_every, margin=args.margin, statement_timeout=args.statement_timeout)
    configs.append(await _worker_config(args))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    fleet = await worker.open()
    metrics: FleetMetrics | None = None
    if args.metrics_port is not None:
        metrics = FleetMetrics(fleet)
        metrics.registry.register(WorkerCollector(worker))
        fleet.observer = metrics
        port = await metrics.serve(host=args.metrics_host or None, port=args.metrics_port)
        _log.info("metrics at http://%s:%d/metrics", args.metrics_host or "0.0.0.0", port,
                  extra={"metrics_port": port})
    summaries = loop.create_task(_summaries(worker, args.summary_interval))
    try:
        await worker.start()
        await stop.wait()
        _log.info("stopping: handing the slots back")
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal ends the process at once
            loop.remove_signal_handler(signum)
        await worker.stop()
        return 0
    finally:
        summaries.cancel()
        if metrics is not None:
            await metrics.close()


async def _summaries(worker: Worker, interval: float) -> None:
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        s = worker.refresh_stats()
        _log.info("worker %s: %d slots (%d suspended), %d VENs; gained %d, handed back %d, lost %d; %d renewals "
                  "(%d failed, last %.0f ms), %d fenced writes", worker.name, s.slots, s.suspended, s.vens, s.gained,
                  s.handed_back, s.lost, s.renewals, s.renewal_failures, s.renewal_latency * 1000, s.fenced)


def _run_worker(args: argparse.Namespace) -> int:
    from fleetven.app.logs import configure_logging

    undo = configure_logging(args.log_format, args.log_level)
    try:
        _check_url("worker", args.store)
        import uvloop

        return uvloop.run(_serve_worker(args))
    except (FleetvenError, OSError) as exc:
        return _fail("worker", exc)
    finally:
        undo()


def add_worker(subparsers: Subparsers) -> None:
    """Add ``fleetven worker``."""
    parser = subparsers.add_parser(
        "worker", help="run whatever slots of a PostgreSQL fleet this process can own, until SIGTERM",
        description="Join a fleet kept in PostgreSQL (fleetven fleet create/import): own a fair share of its "
                    "slots through leases, run their VENs, hand them over to the other workers when it stops or "
                    "when they join. See the 'scale-out' guide.")
    _store_arg(parser)
    parser.add_argument("--config", metavar="FILE", help="a fleetven run TOML file (default: the one kept by "
                        "fleetven fleet create --config)")
    parser.add_argument("--name", help="this worker's name, unique in the fleet (default: HOST-PID)")
    parser.add_argument("--lease", type=_duration, default=15.0, metavar="DURATION",
                        help="how long a slot lease lasts on the database's clock (default 15s)")
    parser.add_argument("--renew-every", type=_duration, default=3.0, metavar="DURATION",
                        help="renewal and balancing period (default 3s)")
    parser.add_argument("--margin", type=_duration, default=3.0, metavar="DURATION",
                        help="stop acting this long before a lease can expire (default 3s)")
    parser.add_argument("--statement-timeout", type=_duration, default=2.0, metavar="DURATION",
                        help="how long one lease statement may take (default 2s); renew-every + this must be "
                             "less than lease - margin")
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics (the fleet's "
                        "and the worker's) at http://HOST:PORT/metrics (0: a free port, logged)")
    parser.add_argument("--metrics-host", default="", metavar="HOST", help="the address metrics are served on")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="plain text or JSON lines")
    parser.add_argument("--log-level", type=str.upper, default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    parser.add_argument("--summary-interval", type=float, default=60.0, metavar="SECONDS",
                        help="log a summary line this often (0: never; default 60)")
    parser.set_defaults(handler=_run_worker)
