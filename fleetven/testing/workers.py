"""Worker processes of a fleet on PostgreSQL, for tests and benchmarks of fail-over.

:class:`WorkerProcesses` writes a fleet (slots, identities, a workers' configuration pointing at a
VTN) into a database with ``fleetven fleet create`` and ``fleetven fleet import``, and runs
``fleetven worker`` processes against it: real separate processes,
which a test can kill (``SIGKILL``), pause (``SIGSTOP``/``SIGCONT``), stop gracefully (``SIGTERM``)
or add while the others run. Each worker's requests carry ``worker=<name>`` in their
``User-Agent``, so a :class:`~fleetven.testing.TestVTN` made with ``log_senders=True`` tells them
apart (:meth:`~fleetven.testing.TestVTN.overlaps`, :meth:`~fleetven.testing.TestVTN.handover_gaps`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleetven.store.leases import Leases

__all__ = ("WorkerProcesses", "WorkerProcess")


@dataclass
class WorkerProcess:
    """One ``fleetven worker`` process: its name, the process, and its log file."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    signals: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def send(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the process (recorded in :attr:`signals`)."""
        self.signals.append(signum.name)
        self.process.send_signal(signum)

    def log_text(self) -> str:
        """What the worker logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class WorkerProcesses:
    """A fleet in PostgreSQL and the worker processes running it.

    :param dsn: the fleet's database (empty, or made by an earlier :meth:`create` with the same slots).
    :param vtn_url: the VTN the workers' VENs talk to.
    :param directory: where the configuration and the workers' logs go.
    :param slots: the fleet's slot count.
    :param lease: the workers' ``--lease``, in seconds; :param renew_every: ``--renew-every``;
        :param margin: ``--margin``; :param statement_timeout: ``--statement-timeout``.
    :param fleet_toml: more of the workers' TOML configuration (``[fleet]``, ``[[reports]]``...),
        appended after ``[vtn] url``.
    """

    def __init__(self, dsn: str, vtn_url: str, directory: Path, *, slots: int = 64, lease: float = 3.0,
                 renew_every: float = 0.5, margin: float = 1.0, statement_timeout: float = 0.4,
                 fleet_toml: str = "") -> None:
        self.dsn = dsn
        self.vtn_url = vtn_url
        self.directory = Path(directory)
        self.slots = slots
        self.lease = lease
        self.renew_every = renew_every
        self.margin = margin
        self.statement_timeout = statement_timeout
        self.fleet_toml = fleet_toml
        self.workers: dict[str, WorkerProcess] = {}

    async def create(self, names: Sequence[str]) -> Path:
        """Create the fleet's slots and import ``names`` as its VENs, with the workers' configuration,
        by running ``fleetven fleet create`` and ``fleetven fleet import``; return the configuration's path.

        :raises RuntimeError: a command failed (its output is in the message).
        """
        config = self.directory / "fleet.toml"
        config.write_text(f'[vtn]\nurl = "{self.vtn_url}"\n' + textwrap.dedent(self.fleet_toml))
        csv = self.directory / "fleet-vens.csv"
        csv.write_text("ven_name\n" + "".join(f"{n}\n" for n in names))
        for args in (("create", "--slots", str(self.slots), "--config", str(config)), ("import", str(csv))):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fleetven", "fleet", args[0], "--store", self.dsn, *args[1:],
                cwd=self.directory, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                text = out.decode(errors="replace")
                raise RuntimeError(f"fleetven fleet {args[0]} failed ({proc.returncode}): {text}")
        return config

    async def start(self, name: str, *extra: str) -> WorkerProcess:
        """Start the worker ``name`` (its output goes to ``<directory>/<name>.log``)."""
        log = self.directory / f"{name}.log"
        out = log.open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fleetven", "worker", "--store", self.dsn, "--name", name,
                "--lease", f"{self.lease}s", "--renew-every", f"{self.renew_every}s", "--margin", f"{self.margin}s",
                "--statement-timeout", f"{self.statement_timeout}s",
                "--summary-interval", "0", *extra, cwd=self.directory, stdout=out, stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            out.close()
        worker = self.workers[name] = WorkerProcess(name, process, log)
        return worker

    async def owners(self) -> dict[int, str | None]:
        """The owner of every slot whose lease has not expired (``None``: free or expired)."""
        leases = Leases(self.dsn)
        try:
            return {s.slot: (s.owner if s.remaining > 0 else None) for s in await leases.slots()}
        finally:
            await leases.close()

    async def held(self) -> dict[str, int]:
        """Slots held (unexpired) per worker."""
        out: dict[str, int] = {}
        for owner in (await self.owners()).values():
            if owner is not None:
                out[owner] = out.get(owner, 0) + 1
        return out

    async def stop(self, name: str, *, timeout: float = 30.0) -> int:
        """Stop worker ``name`` gracefully (``SIGTERM``) and return its exit status (killed after ``timeout``)."""
        worker = self.workers[name]
        if worker.process.returncode is None:
            worker.send(signal.SIGCONT)
            worker.send(signal.SIGTERM)
        try:
            return await asyncio.wait_for(worker.process.wait(), timeout)
        except TimeoutError:
            worker.send(signal.SIGKILL)
            return await worker.process.wait()

    async def close(self) -> None:
        """Stop every worker still running (``SIGKILL``: a test's end need not be graceful)."""
        for worker in self.workers.values():
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()

    async def __aenter__(self) -> WorkerProcesses:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
