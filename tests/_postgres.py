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
:class:`SyncPostgresStore` runs the synchronous Store tests on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetven.store import VenState
from fleetven.store.leases import Leases
from fleetven.store.postgres import PostgresStore

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

    def dsn(self, dbname: str) -> str:
        """A ``postgresql://`` URL for database ``dbname`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"


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
        yield Server(host="127.0.0.1", port=port, user="postgres")
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


# ------------------------------------------------------------------ stores for the synchronous tests

#: The slot count of the test fleets, and the slot of a VEN there (any stable function serves:
#: the store takes it as an argument).
TEST_SLOTS = 8


def test_slot_of(name: str) -> int:
    """A VEN's slot in the test fleets (CRC-32 of its name)."""
    return zlib.crc32(name.encode()) % TEST_SLOTS


test_slot_of.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


class SyncPostgresStore(PostgresStore):
    """A :class:`PostgresStore` driven to completion on a private event loop, so that the synchronous
    tests of the Store interface (tests/test_store.py) run on it unchanged: ``flush()`` awaits
    :meth:`~PostgresStore.commit`, ``load()`` :meth:`~PostgresStore.aload`, ``close()``
    :meth:`~PostgresStore.aclose`. The worker holds every slot of the test fleet."""

    loop: asyncio.AbstractEventLoop

    @classmethod
    def make(cls, dsn: str) -> SyncPostgresStore:
        loop = asyncio.new_event_loop()

        async def made() -> SyncPostgresStore:
            store = await cls.open(dsn, worker="w-sync", slot_of=test_slot_of)
            leases = Leases(dsn, lease=3600.0)
            await leases.create(TEST_SLOTS)
            for slot, epoch in (await leases.acquire("w-sync")).items():
                store.hold(slot, epoch)
            await leases.close()
            return store

        store = loop.run_until_complete(made())
        store.loop = loop
        return store

    def flush(self) -> None:
        self.loop.run_until_complete(self.commit())

    def load(self) -> dict[str, VenState]:
        return self.loop.run_until_complete(self.aload())

    def close(self) -> None:
        if not self.closed:
            try:
                self.loop.run_until_complete(self.aclose())
            finally:
                self.loop.close()
