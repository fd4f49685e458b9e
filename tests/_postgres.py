"""A throwaway PostgreSQL server for the tests of the PostgreSQL store and the slot leases.

pytest-postgresql's :class:`~pytest_postgresql.executors.PostgreSQLExecutor` runs ``pg_ctl``
(``initdb``, ``start``, ``stop``) in a temporary directory; this module only chooses what it runs:

* the ``pg_ctl`` of Debian's ``postgresql`` package (``/usr/lib/postgresql/<newest>/bin``), or the
  one named by ``FLEETVEN_PG_CTL``, or one on ``PATH``;
* as root, which ``initdb`` and ``postgres`` refuse to be, a small wrapper script that runs
  ``pg_ctl`` as the ``postgres`` account (``runuser -u postgres --``), in a directory handed to that
  account; as any other user, ``pg_ctl`` itself in a directory of the user's own.

The server is started once per test session, and only when a test asks for it
(:func:`postgresql_server`); every test gets a database of its own (:func:`pg_dsn`), dropped
afterwards. Without any PostgreSQL binaries on the machine those tests are skipped, saying why.
(Nothing here imports fleetven: conftest.py imports this module, and a fleetven that does not
import must fail its tests, not the collection of the whole suite.)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: The account the server runs under when the tests run as root.
SERVER_ACCOUNT = "postgres"


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


def _wrapper_as(account: str, pg_ctl: str, directory: Path) -> str:
    """A script that runs ``pg_ctl`` with its arguments as ``account`` (for a test run as root)."""
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("the tests run as root and there is no runuser to start PostgreSQL as another account")
    script = directory / "pg_ctl-as-postgres"
    script.write_text(f'#!/bin/sh\nexec {runuser} -u {account} -- {pg_ctl} "$@"\n')
    script.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return str(script)


@dataclass(frozen=True, slots=True)
class Server:
    """The running throwaway server: where to connect, as its superuser (trust authentication)."""

    host: str
    port: int
    user: str
    executor: Any = field(default=None, compare=False, repr=False)

    def dsn(self, dbname: str) -> str:
        """A ``postgresql://`` URL for database ``dbname`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        """Stop the server (fast shutdown: connections are cut); :meth:`start` brings it back with its data."""
        self.executor.stop()

    def start(self) -> None:
        """Start the server stopped by :meth:`stop` again, on the same port and data."""
        self.executor.start()


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[Server]:
    """Start a PostgreSQL server in a temporary directory for the session (see the module docstring)."""
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl) on this machine: apt-get install postgresql "
                    "(make test does), or set FLEETVEN_PG_CTL")
    from port_for import get_port
    from pytest_postgresql.executors import PostgreSQLExecutor

    base = Path(tempfile.mkdtemp(prefix="fleetven-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            pytest.skip(f"the tests run as root and there is no {SERVER_ACCOUNT!r} account to run PostgreSQL as")
        executable = _wrapper_as(SERVER_ACCOUNT, pg_ctl, base)
        base.chmod(0o755)
        os.chown(base, account.pw_uid, account.pw_gid)
    port = get_port(None)
    assert port is not None
    executor = PostgreSQLExecutor(
        executable=executable, host="127.0.0.1", port=port, datadir=str(base / "data"), unixsocketdir=str(base),
        logfile=str(base / "server.log"), startparams="-w", dbname="fleetven", user="postgres",
        # fsync off: a test server need not survive a power cut, and commits are much faster
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
    executor.start()
    try:
        yield Server(host="127.0.0.1", port=port, user="postgres", executor=executor)
    finally:
        try:
            executor.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_dsn(postgresql_server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A ``postgresql://`` URL of a new, empty database for this test, dropped afterwards."""
    from pytest_postgresql.janitor import DatabaseJanitor

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40] + f"_{os.getpid()}"
    with DatabaseJanitor(user=postgresql_server.user, host=postgresql_server.host, port=postgresql_server.port,
                         dbname=name):
        yield postgresql_server.dsn(name)

