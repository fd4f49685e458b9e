"""A throwaway PostgreSQL server, for tests and benchmarks of a fleet on PostgreSQL.

:func:`throwaway_server` makes a :class:`Server` that runs ``initdb`` and ``pg_ctl`` (``start``,
``stop``) in a temporary directory. It chooses what it runs:

* the ``pg_ctl`` of Debian's ``postgresql`` package (``/usr/lib/postgresql/<newest>/bin``), or the
  one named by ``FLEETVEN_PG_CTL``, or one on ``PATH`` (``initdb`` beside it);
* as root, which ``initdb`` and ``postgres`` refuse to be, both as the ``postgres`` account
  (``runuser -u postgres --``), in a directory handed to that account; as any other user, as the
  user, in a directory of the user's own.

The server trusts local connections (superuser ``postgres``), with ``fsync`` off: it is for tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

__all__ = ("PostgresUnavailable", "SERVER_ACCOUNT", "Server", "find_pg_ctl", "throwaway_server")

#: The account the server runs under when the caller is root.
SERVER_ACCOUNT = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started on this machine (the message says why)."""


def find_pg_ctl() -> str | None:
    """The ``pg_ctl`` to run, or ``None`` when this machine has no PostgreSQL server binaries."""
    named = os.environ.get("FLEETVEN_PG_CTL")
    if named:
        return named
    candidates = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    if candidates:
        return max(candidates, key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit()
                   else 0)
    return shutil.which("pg_ctl")


class Server:
    """A PostgreSQL server with its data in a directory of its own (see :func:`throwaway_server`).

    :ivar host: ``127.0.0.1``. :ivar port: its port. :ivar user: its superuser, ``postgres``.
    """

    def __init__(self, pg_ctl: str, base: Path, port: int, runas: list[str]) -> None:
        self.pg_ctl = pg_ctl
        self.base = base
        self.host = "127.0.0.1"
        self.port = port
        self.user = "postgres"
        self._runas = runas
        self._initialised = False

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._runas, *args], capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()}")

    def start(self) -> None:
        """Start the server (``initdb`` first, the first time); return once it accepts connections."""
        data = str(self.base / "data")
        if not self._initialised:
            initdb = str(Path(self.pg_ctl).with_name("initdb"))
            self._run(initdb, "-D", data, "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8")
            self._initialised = True
        options = (f"-h {self.host} -p {self.port} -k {self.base} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run(self.pg_ctl, "start", "-w", "-D", data, "-o", options, "-l", str(self.base / "server.log"))

    def stop(self) -> None:
        """Stop the server (fast shutdown: connections are cut); :meth:`start` brings it back with its data."""
        self._run(self.pg_ctl, "stop", "-w", "-D", str(self.base / "data"), "-m", "fast")


def throwaway_server(base: Path, port: int) -> Server:
    """A server with its data in ``base`` (a new, empty directory), on 127.0.0.1:``port``; not started.

    :raises PostgresUnavailable: no ``pg_ctl`` here, or root without a ``postgres`` account or ``runuser``.
    """
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (pg_ctl) on this machine: apt-get install "
                                  "postgresql (make test does), or set FLEETVEN_PG_CTL")
    runas: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            raise PostgresUnavailable(f"running as root and there is no {SERVER_ACCOUNT!r} account to run "
                                      "PostgreSQL as") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and there is no runuser to start PostgreSQL as another "
                                      "account")
        runas = [runuser, "-u", SERVER_ACCOUNT, "--"]
        base.chmod(0o755)
        os.chown(base, account.pw_uid, account.pw_gid)
    return Server(pg_ctl, base, port, runas)
