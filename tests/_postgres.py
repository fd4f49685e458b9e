"""A throwaway PostgreSQL server for the tests of the PostgreSQL store, the slot leases and the workers.

The server is :func:`fleetven.testing.postgres.throwaway_server` (Debian's ``initdb`` and
``pg_ctl`` in a temporary directory, as the ``postgres`` account when the tests run as root);
pytest-postgresql's janitor makes and drops each test's database. The server is started once per
test session, and only when a test asks for it (:func:`postgresql_server`); every test gets a
database of its own (:func:`pg_dsn`), dropped afterwards. Without any PostgreSQL binaries on the
machine those tests are skipped, saying why. (fleetven is imported only inside the fixtures:
conftest.py imports this module, and a fleetven that does not import must fail its tests, not the
collection of the whole suite.)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


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
    from port_for import get_port

    from fleetven.testing.postgres import PostgresUnavailable, throwaway_server

    base = Path(tempfile.mkdtemp(prefix="fleetven-pg-"))
    port = get_port(None)
    assert port is not None
    try:
        executor = throwaway_server(base, port)
    except PostgresUnavailable as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(str(exc))
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

