"""A throwaway PostgreSQL server, for tests and benchmarks of a fleet on PostgreSQL.

:func:`throwaway_server` makes a :class:`~pytest_postgresql.executors.PostgreSQLExecutor`
(pytest-postgresql, a test dependency) that runs ``pg_ctl`` (``initdb``, ``start``, ``stop``) in a
temporary directory. It chooses what it runs:

* the ``pg_ctl`` of Debian's ``postgresql`` package (``/usr/lib/postgresql/<newest>/bin``), or the
  one named by ``FLEETVEN_PG_CTL``, or one on ``PATH``;
* as root, which ``initdb`` and ``postgres`` refuse to be, a small wrapper script that runs
  ``pg_ctl`` as the ``postgres`` account (``runuser -u postgres --``), in a directory handed to that
  account; as any other user, ``pg_ctl`` itself in a directory of the user's own.

The server trusts local connections (superuser ``postgres``), with ``fsync`` off: it is for tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
from pathlib import Path
from typing import Any

__all__ = ("PostgresUnavailable", "SERVER_ACCOUNT", "find_pg_ctl", "throwaway_server")

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


def _wrapper_as(account: str, pg_ctl: str, directory: Path) -> str:
    """A script that runs ``pg_ctl`` with its arguments as ``account`` (for a caller that is root)."""
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and there is no runuser to start PostgreSQL as another account")
    script = directory / "pg_ctl-as-postgres"
    script.write_text(f'#!/bin/sh\nexec {runuser} -u {account} -- {pg_ctl} "$@"\n')
    script.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return str(script)


def throwaway_server(base: Path, port: int) -> Any:
    """A pytest-postgresql executor for a server with its data in ``base`` (a new, empty directory),
    listening on 127.0.0.1:``port``; call its ``start()`` and ``stop()``.

    :raises PostgresUnavailable: no ``pg_ctl`` here, or root without a ``postgres`` account or ``runuser``.
    """
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (pg_ctl) on this machine: apt-get install "
                                  "postgresql (make test does), or set FLEETVEN_PG_CTL")
    from pytest_postgresql.executors import PostgreSQLExecutor

    executable = pg_ctl
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            raise PostgresUnavailable(f"running as root and there is no {SERVER_ACCOUNT!r} account to run "
                                      "PostgreSQL as") from None
        executable = _wrapper_as(SERVER_ACCOUNT, pg_ctl, base)
        base.chmod(0o755)
        os.chown(base, account.pw_uid, account.pw_gid)
    return PostgreSQLExecutor(
        executable=executable, host="127.0.0.1", port=port, datadir=str(base / "data"), unixsocketdir=str(base),
        logfile=str(base / "server.log"), startparams="-w", dbname="fleetven", user="postgres",
        # fsync off: a test server need not survive a power cut, and commits are much faster
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
    )
