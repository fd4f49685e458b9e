"""The fleet definition in PostgreSQL: the VEN identities of a fleet run by several workers.

A fleet on PostgreSQL keeps its VENs' identities in table ``fleetven.identities``, one row per VEN:
its name (the key), its **slot** (computed once, at import, from the name and the fleet's slot
count), and the venID, certificate and key files a ``fleetven run`` CSV gives for it. A worker
reads the rows of the slots it takes (:meth:`Identities.for_slots`); ``fleetven fleet import``
writes them (:meth:`Identities.put`) and ``fleetven fleet status`` counts them
(:meth:`Identities.status`).

The slot leases themselves are :mod:`fleetven.store.leases`'; this module only reads them to
report who owns what.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetven.exceptions import StoreError
from fleetven.store.postgres import _DB_ERRORS, connect

__all__ = ("Identity", "Identities", "FleetStatus", "WorkerStatus")


@dataclass(frozen=True, slots=True)
class Identity:
    """One VEN of the fleet, as imported.

    :ivar name: the VEN's name (unique in the fleet; its slot is computed from it).
    :ivar slot: its slot.
    :ivar ven_id: a venID to use until the VTN assigns one.
    :ivar cert: its own client certificate (PEM file path, on the workers' machines).
    :ivar key: the private key of ``cert``.
    """

    name: str
    slot: int
    ven_id: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """What one worker owns (:attr:`FleetStatus.workers`).

    :ivar slots: slots it holds (lease not expired).
    :ivar vens: VENs in those slots.
    :ivar seen: seconds since its last heartbeat (``None``: it holds slots but has no heartbeat row).
    """

    slots: int = 0
    vens: int = 0
    seen: float | None = None


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """Who owns what in a fleet (:meth:`Identities.status`).

    :ivar slots: the fleet's slot count.
    :ivar vens: VEN identities imported.
    :ivar free: slots no worker owns (never taken, or released).
    :ivar expired: slots whose owner's lease has expired (a dead or paused worker's, until taken).
    :ivar unowned_vens: VENs in free or expired slots (run by nobody now).
    :ivar workers: per worker seen (heartbeat) or holding slots, by name.
    """

    slots: int
    vens: int
    free: int
    expired: int
    unowned_vens: int
    workers: dict[str, WorkerStatus] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The status as plain JSON-ready values."""
        return {
            "slots": self.slots, "vens": self.vens, "free": self.free, "expired": self.expired,
            "unowned_vens": self.unowned_vens,
            "workers": {w: {"slots": s.slots, "vens": s.vens, "seen": s.seen} for w, s in self.workers.items()},
        }


_STATUS_SLOTS = (
    "SELECT s.owner, s.expires_at > clock_timestamp() AS held, count(*) AS slots,"
    " coalesce(sum(v.n), 0)::bigint AS vens"
    " FROM fleetven.slots s LEFT JOIN (SELECT slot, count(*) AS n FROM fleetven.identities GROUP BY slot) v"
    " ON v.slot = s.slot GROUP BY 1, 2"
)
_PUT = (
    "INSERT INTO fleetven.identities (name, slot, ven_id, cert, key)"
    " SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[])"
    " ON CONFLICT (name) DO UPDATE SET slot = excluded.slot, ven_id = excluded.ven_id, cert = excluded.cert,"
    " key = excluded.key"
)


class Identities:
    """The fleet definition's statements, over one connection (opened by :meth:`open`).

    :param conn: an asyncpg connection to the fleet's database, with fleetven's schema.
    :param timeout: seconds one statement may take.
    """

    def __init__(self, conn: Any, *, timeout: float = 10.0) -> None:
        self._conn = conn
        self.timeout = timeout

    @classmethod
    async def open(cls, dsn: str, *, timeout: float = 10.0) -> Identities:
        """Connect to ``dsn`` (creating or migrating fleetven's schema).

        :raises StoreError: the database cannot be reached.
        """
        return cls(await connect(dsn, timeout=timeout), timeout=timeout)

    async def _call(self, method: str, sql: str, *args: Any) -> Any:
        try:
            return await getattr(self._conn, method)(sql, *args, timeout=self.timeout)
        except _DB_ERRORS as exc:
            raise StoreError(f"the fleet's identities: {type(exc).__name__}: {exc}") from exc

    async def put(self, identities: Iterable[Identity]) -> int:
        """Add the identities, or update those already imported (by name); return how many were written."""
        rows = list(identities)
        if not rows:
            return 0
        columns: list[list[Any]] = [[r.name for r in rows], [r.slot for r in rows], [r.ven_id for r in rows],
                                    [r.cert for r in rows], [r.key for r in rows]]
        await self._call("execute", _PUT, *columns)
        return len(rows)

    async def for_slots(self, slots: Sequence[int]) -> list[Identity]:
        """The identities of the VENs of ``slots``, by name."""
        rows = await self._call("fetch", "SELECT name, slot, ven_id, cert, key FROM fleetven.identities"
                                         " WHERE slot = ANY($1::integer[]) ORDER BY name", list(slots))
        return [Identity(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def count(self) -> int:
        """VEN identities imported."""
        return int(await self._call("fetchval", "SELECT count(*) FROM fleetven.identities"))

    async def status(self) -> FleetStatus:
        """Slots and VENs per worker, free and expired slots."""
        per: dict[str, list[int]] = {}
        free = expired = unowned = total_slots = 0
        for owner, held, slots, vens in await self._call("fetch", _STATUS_SLOTS):
            total_slots += slots
            if owner is None:
                free += slots
                unowned += vens
            elif not held:
                expired += slots
                unowned += vens
            else:
                per[owner] = [slots, vens]
        seen = {r[0]: r[1] for r in await self._call(
            "fetch", "SELECT worker, extract(epoch FROM now() - seen_at)::float8 FROM fleetven.workers")}
        workers = {w: WorkerStatus(slots=per.get(w, [0, 0])[0], vens=per.get(w, [0, 0])[1], seen=seen.get(w))
                   for w in sorted(set(per) | set(seen))}
        return FleetStatus(slots=total_slots, vens=await self.count(), free=free, expired=expired,
                           unowned_vens=unowned, workers=workers)

    async def put_config(self, path: str, text: str) -> None:
        """Keep the workers' configuration (a ``fleetven run`` TOML file's text, and the absolute path
        it was read from: files it names are looked for relative to that directory on the workers)."""
        await self._call("execute", "INSERT INTO fleetven.meta (key, value) VALUES ('config_path', $1), "
                                    "('config_text', $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         path, text)

    async def config(self) -> tuple[str, str] | None:
        """The workers' configuration kept by :meth:`put_config`, as ``(path, text)``; ``None`` if none was."""
        rows = dict(await self._call("fetch", "SELECT key, value FROM fleetven.meta"
                                              " WHERE key IN ('config_path', 'config_text')"))
        if "config_text" not in rows:
            return None
        return rows.get("config_path", "fleet.toml"), rows["config_text"]

    async def forget_worker(self, worker: str) -> None:
        """Remove ``worker``'s heartbeat (it left gracefully): the others count it out of the fair shares at once."""
        await self._call("execute", "DELETE FROM fleetven.workers WHERE worker = $1", worker)

    async def close(self) -> None:
        """Close the connection."""
        try:
            await self._conn.close(timeout=self.timeout)
        except _DB_ERRORS:
            self._conn.terminate()
