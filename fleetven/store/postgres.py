"""The fleet's durable state in PostgreSQL (asyncpg), shared by every worker of one fleet.

:class:`PostgresStore` holds what :class:`~fleetven.store.SQLiteStore` holds (per VEN, keyed by its
name: the registration, the events and their decisions, the outbox, the opts, the report requests
and the samples not acknowledged), with two columns more on every row: the VEN's **slot** and the
**epoch** of the slot lease it was written under (:mod:`fleetven.store.leases`). Report samples
keep the per-VEN sequence number the VEN gave them, ``seq``, and table ``seqs`` the last one each
VEN gave, so that the next owner of a VEN goes on numbering after it.

**How it maps onto the synchronous** :class:`~fleetven.store.Store` **interface.**

The ``put_*``/``drop_*``/``add_sample``/``ack_samples``/``forget_ven`` calls are the base class's:
they queue a change in memory, the latest per key wins, exactly as for SQLite. What differs is
when the queue reaches the database, since asyncpg is asynchronous and a VEN must never block its
event loop on a network round trip:

* :meth:`PostgresStore.commit` (``await``) commits everything queued so far in **one
  transaction** of a handful of statements (one ``unnest`` upsert and one ``unnest`` delete per
  table that changed, whatever the number of rows), and returns once it is durable.
* :meth:`PostgresStore.run` is the background task the fleet starts beside its VENs: it commits
  whenever changes are queued, at most every ``commit_interval`` seconds, so that many loop
  iterations of writes share one transaction.
* :meth:`~fleetven.store.Store.flush` (synchronous) cannot wait for the database: it asks the
  background task for a commit **now** (skipping the interval) and returns. Where the SQLite
  fleet calls ``flush()`` for durability before the network (a registration just received, a
  decision about to be sent), a fleet on PostgreSQL awaits :meth:`PostgresStore.commit` instead.
* :meth:`~fleetven.store.Store.load` and :meth:`~fleetven.store.Store.close` are replaced by
  their awaitable forms :meth:`PostgresStore.aload` (optionally only some slots: what a worker
  took over) and :meth:`PostgresStore.aclose`; the synchronous ones raise
  :class:`~fleetven.exceptions.StoreError` rather than lose or invent state.

A failed commit (the database unreachable, say) keeps the changes queued, in order, for the next.

**Fencing.**

The store writes only for slots whose lease it was told of (:meth:`PostgresStore.hold`, with the
epoch :meth:`~fleetven.store.leases.Leases.acquire` returned). Each commit first locks the
``slots`` rows of the slots it writes (``SELECT ... FOR KEY SHARE``), keeping only those whose
owner is this worker, whose epoch is still the one held and whose lease has not expired on the
database's clock; the writes of the others are discarded, counted in :attr:`PostgresStore.fenced`,
and reported by :class:`~fleetven.exceptions.FencedWrite` once the rest is committed. The lock is
held until the commit: a worker taking the slot over (``FOR UPDATE SKIP LOCKED``) cannot change the
epoch in between, so a write is either in the state the new owner loads or refused. The timing
argument that goes with it is in ``docs/leases.rst``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from fleetven._extras import missing_extra
from fleetven.exceptions import FencedWrite, StoreError
from fleetven.store import (
    _KEYED,
    _ONE_KEY,
    Sample,
    Store,
    VenState,
    _fill,
    _from_micros,
    _Key,
    _state,
    _value_in,
)

try:
    import asyncpg
except ImportError as _exc:  # pragma: no cover - the extra is installed wherever the tests run
    raise missing_extra("the PostgreSQL store", "postgresql", _exc) from None

__all__ = ("PG_MIGRATIONS", "PG_SCHEMA_VERSION", "SCHEMA", "PostgresStore", "migrate", "connect")

logger = logging.getLogger("fleetven.store.postgres")

# What a failed round trip to the database raises: no route or reset, a refusal, a closed connection.
_DB_ERRORS: Final = (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

#: The PostgreSQL schema (namespace) that holds fleetven's tables.
SCHEMA: Final = "fleetven"

#: The schema steps, one tuple of SQL statements per version (append; never edit a released step).
#: Version 1 holds the slot leases and worker heartbeats (:mod:`fleetven.store.leases`) and the
#: state tables of :class:`PostgresStore`; version 2 the VEN identities (:mod:`fleetven.store.identities`).
PG_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE TABLE fleetven.meta (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE fleetven.slots (slot integer PRIMARY KEY, owner text, epoch bigint NOT NULL DEFAULT 0,"
        " expires_at timestamptz NOT NULL DEFAULT '-infinity')",
        "CREATE TABLE fleetven.workers (worker text PRIMARY KEY, started_at timestamptz NOT NULL DEFAULT now(),"
        " seen_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE fleetven.vens (name text PRIMARY KEY, slot integer NOT NULL, epoch bigint NOT NULL,"
        " data bytea NOT NULL)",
        "CREATE TABLE fleetven.events (ven text NOT NULL, event_id text NOT NULL, slot integer NOT NULL,"
        " epoch bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (ven, event_id))",
        "CREATE TABLE fleetven.outbox (ven text PRIMARY KEY, slot integer NOT NULL, epoch bigint NOT NULL,"
        " data bytea NOT NULL)",
        "CREATE TABLE fleetven.opts (ven text NOT NULL, opt_id text NOT NULL, slot integer NOT NULL,"
        " epoch bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (ven, opt_id))",
        "CREATE TABLE fleetven.requests (ven text NOT NULL, request_id text NOT NULL, slot integer NOT NULL,"
        " epoch bigint NOT NULL, data bytea NOT NULL, dropped integer NOT NULL DEFAULT 0,"
        " PRIMARY KEY (ven, request_id))",
        "CREATE TABLE fleetven.samples (ven text NOT NULL, request_id text NOT NULL, dtstart bigint NOT NULL,"
        " r_id text NOT NULL, slot integer NOT NULL, epoch bigint NOT NULL, seq bigint NOT NULL,"
        " num double precision, status bytea, PRIMARY KEY (ven, request_id, dtstart, r_id))",
        "CREATE TABLE fleetven.sample_seq (ven text PRIMARY KEY, last bigint NOT NULL)",
        *(f"CREATE INDEX {t}_slot ON fleetven.{t} (slot)"
          for t in ("vens", "events", "outbox", "opts", "requests", "samples")),
    ),
    # Version 2: the fleet's VEN identities (``fleetven fleet import``), with their slot
    # (:mod:`fleetven.store.identities`).
    (
        "CREATE TABLE fleetven.identities (name text PRIMARY KEY, slot integer NOT NULL, ven_id text,"
        " cert text, key text)",
        "CREATE INDEX identities_slot ON fleetven.identities (slot)",
    ),
    # Version 3: the VEN numbers its samples itself (the number is on the wire, so it is committed
    # before the sample is sent): the last number of each VEN, written under the lease like the rest.
    (
        "DROP TABLE fleetven.sample_seq",
        "CREATE TABLE fleetven.seqs (ven text PRIMARY KEY, slot integer NOT NULL, epoch bigint NOT NULL,"
        " data bytea NOT NULL)",
        "CREATE INDEX seqs_slot ON fleetven.seqs (slot)",
    ),
)

#: The schema version this fleetven writes.
PG_SCHEMA_VERSION: Final = len(PG_MIGRATIONS)

# A lock number for pg_advisory_xact_lock: workers starting together migrate one at a time.
_MIGRATION_LOCK: Final = 0x666C_7665_6E00  # "flven\0"


async def migrate(conn: asyncpg.Connection[Any]) -> int:
    """Create fleetven's schema in the database ``conn`` is connected to, or bring it up to
    :data:`PG_SCHEMA_VERSION`; return the version found before. Safe to run from many workers at once.

    :raises StoreError: the database holds a newer schema than this fleetven's.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        has_meta = await conn.fetchval("SELECT to_regclass('fleetven.meta') IS NOT NULL")
        version = 0
        if has_meta:
            value = await conn.fetchval("SELECT value FROM fleetven.meta WHERE key = 'schema_version'")
            version = int(value) if value is not None else 0
        if version > PG_SCHEMA_VERSION:
            raise StoreError(f"the PostgreSQL store has schema version {version}, newer than this fleetven's "
                             f"{PG_SCHEMA_VERSION}: use a newer fleetven")
        for step in PG_MIGRATIONS[version:]:
            for sql in step:
                await conn.execute(sql)
        if version < PG_SCHEMA_VERSION:
            await conn.execute("INSERT INTO fleetven.meta (key, value) VALUES ('schema_version', $1)"
                               " ON CONFLICT (key) DO UPDATE SET value = excluded.value", str(PG_SCHEMA_VERSION))
    return version


async def connect(dsn: str, *, timeout: float = 10.0) -> asyncpg.Connection[Any]:
    """One asyncpg connection to ``dsn`` with fleetven's schema in place (:func:`migrate`).

    :raises StoreError: the database cannot be reached or migrated.
    """
    try:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, timeout=timeout, command_timeout=timeout)
    except _DB_ERRORS as exc:
        raise StoreError(f"cannot connect to the PostgreSQL store: {exc}") from exc
    try:
        await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


# ------------------------------------------------------------------ statements

_COLUMNS: Final = {  # the key columns of each keyed table, after ven
    "vens": (), "events": ("event_id",), "outbox": (), "opts": ("opt_id",), "requests": ("request_id",),
    "seqs": (),
}
_VEN: Final = {"vens": "name", "events": "ven", "outbox": "ven", "opts": "ven", "requests": "ven", "samples": "ven",
               "seqs": "ven"}


def _upsert_sql(table: str) -> str:
    keys = _COLUMNS[table]
    ven = _VEN[table]
    cols = [ven, *keys, "slot", "epoch", "data", *(["dropped"] if table == "requests" else [])]
    types = ["text", *(["text"] * len(keys)), "integer", "bigint", "bytea",
             *(["integer"] if table == "requests" else [])]
    args = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    update = ", ".join(f"{c} = excluded.{c}" for c in cols[1 + len(keys):])
    return (f"INSERT INTO fleetven.{table} ({', '.join(cols)}) SELECT * FROM unnest({args})"
            f" ON CONFLICT ({', '.join([ven, *keys])}) DO UPDATE SET {update}")


def _delete_sql(table: str) -> str:
    keys = _COLUMNS[table]
    ven = _VEN[table]
    names = ["ven", *keys]
    args = ", ".join(f"${i + 1}::text[]" for i in range(len(names)))
    match = " AND ".join(f"t.{ven if n == 'ven' else n} = d.{n}" for n in names)
    return f"DELETE FROM fleetven.{table} t USING unnest({args}) AS d({', '.join(names)}) WHERE {match}"


_UPSERT: Final = {t: _upsert_sql(t) for t in _KEYED}
_DELETE: Final = {t: _delete_sql(t) for t in _KEYED}
_UPSERT_SAMPLES: Final = (
    "INSERT INTO fleetven.samples (ven, request_id, dtstart, r_id, slot, epoch, seq, num, status)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::bigint[],"
    " $7::bigint[], $8::float8[], $9::bytea[])"
    " ON CONFLICT (ven, request_id, dtstart, r_id) DO UPDATE SET slot = excluded.slot, epoch = excluded.epoch,"
    " seq = excluded.seq, num = excluded.num, status = excluded.status"
)
_DELETE_SAMPLES: Final = (
    "DELETE FROM fleetven.samples t USING unnest($1::text[], $2::text[], $3::bigint[], $4::text[])"
    " AS d(ven, request_id, dtstart, r_id)"
    " WHERE t.ven = d.ven AND t.request_id = d.request_id AND t.dtstart = d.dtstart AND t.r_id = d.r_id"
)
_DROP_REQUEST_SAMPLES: Final = (
    "DELETE FROM fleetven.samples t USING unnest($1::text[], $2::text[]) AS d(ven, request_id)"
    " WHERE t.ven = d.ven AND t.request_id = d.request_id"
)
# The fence: the slots of this batch still leased to this worker at the epoch it holds, locked
# (FOR KEY SHARE) until the commit, so that no acquisition can move their epoch meanwhile.
_FENCE: Final = (
    "SELECT s.slot FROM fleetven.slots s JOIN unnest($1::integer[], $2::bigint[]) AS h(slot, epoch)"
    " ON s.slot = h.slot AND s.epoch = h.epoch"
    " WHERE s.owner = $3 AND s.expires_at > clock_timestamp() FOR KEY SHARE OF s"
)

_Ranges = list[tuple[str, str, str | None]]


def _covered(key: _Key, table: str, ven: str, request_id: str | None) -> bool:
    return key[0] == table and key[1] == ven and (request_id is None or key[2] == request_id)


class PostgresStore(Store):
    """The durable state of a fleet in PostgreSQL, written under slot leases (see the module docstring).

    Make one with :meth:`open`; start :meth:`run` as a task beside the VENs; tell it the leases the
    worker holds with :meth:`hold` and :meth:`release`; :meth:`aclose` at the end.

    :param pool: an asyncpg pool to a database with fleetven's schema (:func:`migrate`).
    :param worker: this worker's name, the ``owner`` of its slot leases.
    :param slot_of: the slot of a VEN, by its name (the fleet's stable hash with its slot count).
    :param commit_interval: the least time, in seconds, between two commits of :meth:`run` (unless
        :meth:`~fleetven.store.Store.flush` asks for one now).
    :param timeout: seconds one commit or load may take before it fails.
    :param on_fenced: called with the slot numbers whose writes were refused by a commit of
        :meth:`run` (the fleet stops those slots' VENs).

    :ivar fenced: queued changes discarded because their slot's lease was not current (only grows).
    :ivar refusals: commits that discarded some changes so.
    :ivar statements: SQL statements sent by commits, ``BEGIN`` and ``COMMIT`` included.
    """

    durable = True
    partitioned = True

    def __init__(self, pool: asyncpg.Pool[Any], *, worker: str, slot_of: Callable[[str], int],
                 commit_interval: float = 0.05, timeout: float = 10.0,
                 on_fenced: Callable[[list[int]], None] | None = None) -> None:
        super().__init__()
        self._pool = pool
        self.worker = worker
        self.slot_of = slot_of
        self.commit_interval = commit_interval
        self.timeout = timeout
        self.on_fenced = on_fenced
        self._epochs: dict[int, int] = {}
        self._suspended: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._now = asyncio.Event()
        self.fenced = 0
        self.refusals = 0
        self.statements = 0
        # Batches: the number of queues commit() has taken, and the latest one after which nothing
        # taken so far is left uncommitted (what committed() waits for).
        self._batches = 0
        self._settled = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._dsn: str | None = None  # (made by open(): areopen() connects again)
        self._pool_size = 2

    @classmethod
    async def open(cls, dsn: str, *, worker: str, slot_of: Callable[[str], int], pool_size: int = 2,
                   **options: Any) -> PostgresStore:
        """Connect to ``dsn`` (a ``postgresql://`` URL), create or migrate the schema, and return the store.

        :param pool_size: connections kept open (commits use one at a time; loads another).
        :param options: the other keyword arguments of :class:`PostgresStore`.
        :raises StoreError: the database cannot be reached or migrated.
        """
        timeout = float(options.get("timeout", 10.0))
        conn = await connect(dsn, timeout=timeout)
        await conn.close()
        store = cls(await _create_pool(dsn, pool_size, timeout), worker=worker, slot_of=slot_of, **options)
        store._dsn, store._pool_size = dsn, pool_size
        return store

    def __repr__(self) -> str:
        return f"<PostgresStore worker={self.worker!r} slots={len(self._epochs)}>"

    # ------------------------------------------------------------ leases

    def hold(self, slot: int, epoch: int) -> bool:
        """Write ``slot``'s VENs under lease epoch ``epoch`` from now on (the worker acquired it).

        For a slot suspended (:meth:`suspend`) at epoch ``epoch`` (its lease turned out never to have
        expired) or ``epoch - 1`` (acquired again, and no one owned it in between) the changes kept
        since are committed under ``epoch``, and ``True`` is returned: the worker's
        VENs of the slot may go on as they are. For one suspended at any other epoch those changes
        are discarded (another worker owned the slot meanwhile; they are counted in :attr:`fenced`)
        and ``False`` is returned, as for a slot that was not suspended.
        """
        was = self._suspended.pop(slot, None)
        if was is not None and epoch not in (was, was + 1):
            self._discard({slot})
            was = None
        self._epochs[slot] = epoch
        if was is not None:
            self._wake.set()  # what was kept for the slot is committed soon
        return was is not None

    def suspend(self, slots: Iterable[int]) -> None:
        """Stop committing for ``slots`` but keep what is queued for them, and what the worker's VENs
        of those slots queue from now on (the worker cannot prove its leases: the database is
        unreachable). :meth:`hold` at the next epoch commits it all; :meth:`release` discards it."""
        for slot in slots:
            epoch = self._epochs.pop(slot, None)
            if epoch is not None:
                self._suspended[slot] = epoch

    @property
    def suspended(self) -> Mapping[int, int]:
        """The slots suspended (:meth:`suspend`), with the epoch each was held at."""
        return dict(self._suspended)

    def release(self, slots: Iterable[int]) -> int:
        """Stop writing for ``slots`` (the worker gave them up or lost them): the changes queued for
        them and not committed are discarded (counted in :attr:`fenced`; returned), and later ones are
        refused. Taking a slot again later must not commit what was queued under the lease that ended.
        A worker handing a slot over gracefully awaits :meth:`commit` first."""
        gone = set(slots)
        for slot in gone:
            self._epochs.pop(slot, None)
            self._suspended.pop(slot, None)
        return self._discard(gone)

    def _discard(self, gone: set[int]) -> int:
        """Drop the changes queued for the slots ``gone``; count and return them."""
        slot_of = self.slot_of
        stale = [k for k in self._queue if k[0] and slot_of(k[1]) in gone]
        for key in stale:
            del self._queue[key]
        ranges = [r for r in self._ranges if slot_of(r[1]) not in gone]
        discarded = len(stale) + len(self._ranges) - len(ranges)
        self._ranges = ranges
        self.fenced += discarded
        if not self._queue and not ranges and not self._lock.locked():
            self._settle(self._batches)  # what was held back for these slots will never be committed
        return discarded

    @property
    def epochs(self) -> Mapping[int, int]:
        """The slots this store writes for, with the lease epoch of each."""
        return dict(self._epochs)

    # ------------------------------------------------------------ commits

    def flush(self) -> None:
        """Ask :meth:`run` to commit what is queued now, without waiting (see the module docstring)."""
        self._queue.pop(("", "", ""), None)
        if self._queue or self._ranges:
            self._now.set()
            self._wake.set()

    def _flush_soon(self) -> None:
        # the base class's call_soon hook after the first write of a loop iteration: a commit soon
        self._scheduled = None
        if self._queue or self._ranges:
            self._wake.set()

    async def run(self) -> None:
        """Commit queued changes until cancelled or closed: at most every ``commit_interval`` seconds,
        at once after :meth:`~fleetven.store.Store.flush`. A refused write is passed to ``on_fenced``;
        a failed commit is logged and retried (the changes stay queued)."""
        delay = 0.0
        while not self._closed:
            await self._wake.wait()
            if self.commit_interval > 0 and not self._now.is_set():
                try:
                    await asyncio.wait_for(self._now.wait(), self.commit_interval)
                except TimeoutError:
                    pass
            self._wake.clear()
            self._now.clear()
            try:
                await self.commit()
                delay = 0.0
            except FencedWrite as exc:
                if self.on_fenced is not None:
                    self.on_fenced(list(exc.fields["slots"]))
            except StoreError:
                delay = min(max(delay * 2, 0.1), 5.0)
                logger.exception("the PostgreSQL store could not commit; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                self._wake.set()

    async def committed(self) -> None:
        """Return once every change queued so far is committed, or discarded because its slot was
        lost, by the commits :meth:`run` makes anyway (this asks for none of its own, so that many
        VENs waiting share one transaction). Changes of a suspended slot are waited for until the
        slot is held again (or lost).

        :raises StoreError: the store is closed (or closes while waiting).
        """
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        self._queue.pop(("", "", ""), None)
        target = self._batches + (1 if self._queue or self._ranges else 0)
        if target <= self._settled:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self._wake.set()
        await waiter

    def _settle(self, batch: int) -> None:
        """Everything taken up to ``batch`` is committed or discarded: release who waits for it."""
        if batch <= self._settled:
            return
        self._settled = batch
        waiting = []
        for target, waiter in self._waiters:
            if target <= batch:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    def _fail_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(StoreError(f"{self!r} closed before the changes were committed"))

    async def commit(self) -> None:
        """Commit every change queued so far in one transaction; return when it is durable.

        :raises FencedWrite: changes of slots whose lease is not current were discarded (the others
            were committed).
        :raises StoreError: the commit failed; the changes stay queued for the next.
        """
        async with self._lock:
            self._queue.pop(("", "", ""), None)
            queue, ranges = self._queue, self._ranges
            if not queue and not ranges:
                self._settle(self._batches)
                return
            self._queue, self._ranges = {}, []
            self._batches += 1
            batch = self._batches
            held_back = False  # changes of suspended slots kept queued: this batch does not settle them
            if self._suspended:
                queue, ranges = self._hold_back(queue, ranges)
                held_back = bool(self._queue or self._ranges)
                if not queue and not ranges:
                    return
            slots = {self.slot_of(key[1]) for key in queue} | {self.slot_of(r[1]) for r in ranges}
            held = {s: self._epochs[s] for s in slots if s in self._epochs}
            try:
                written, refused = await self._write(queue, ranges, held)
            except _DB_ERRORS as exc:
                self._requeue(ranges, queue)
                raise StoreError(f"cannot write to the PostgreSQL store: {exc}") from exc
            except BaseException:
                self._requeue(ranges, queue)
                raise
            self.writes += written
            if held:
                self.flushes += 1
            if not held_back:
                self._settle(batch)
            lost = sorted(refused | (slots - set(held)))
            if lost:
                rows = len(queue) + len(ranges) - written
                self.fenced += rows
                self.refusals += 1
                self.release(refused)
                raise FencedWrite(f"{rows} changes refused: this worker does not hold the current lease of slots "
                                  f"{lost}", slots=lost, rows=rows)

    def _hold_back(self, queue: dict[_Key, Any], ranges: _Ranges) -> tuple[dict[_Key, Any], _Ranges]:
        """Keep the changes of suspended slots queued; return the rest, to commit now."""
        suspended, slot_of = self._suspended, self.slot_of
        now: dict[_Key, Any] = {}
        for key, value in queue.items():
            (self._queue if slot_of(key[1]) in suspended else now)[key] = value
        self._ranges = [r for r in ranges if slot_of(r[1]) in suspended]
        return now, [r for r in ranges if slot_of(r[1]) not in suspended]

    def _requeue(self, ranges: _Ranges, queue: dict[_Key, Any]) -> None:
        """Put a batch that failed back in front of what was queued since, keeping the order of effects."""
        newer_ranges, newer = self._ranges, self._queue
        for table, ven, request_id in newer_ranges:
            for key in [k for k in queue if _covered(k, table, ven, request_id)]:
                del queue[key]
        queue.update(newer)
        self._queue = queue
        self._ranges = ranges + newer_ranges

    async def _write(self, queue: dict[_Key, Any], ranges: _Ranges, held: dict[int, int]) -> tuple[int, set[int]]:
        """Write the batch for the slots in ``held`` that the fence lets through; return the number of
        changes written and the slots the fence refused."""
        if not held:
            return 0, set()
        async with self._pool.acquire() as conn, conn.transaction():
            self.statements += 2  # BEGIN, COMMIT
            rows = await conn.fetch(_FENCE, list(held), list(held.values()), self.worker, timeout=self.timeout)
            self.statements += 1
            valid = {r[0] for r in rows}
            refused = set(held) - valid
            slot_of = self.slot_of
            written = 0
            # range deletes first (forget_ven, drop_request), then deletes, then upserts: the base
            # class removed the queued changes a range covers, so this order is the order of the calls
            forget: dict[str, list[str]] = {}
            drop_req: tuple[list[str], list[str]] = ([], [])
            for table, ven, request_id in ranges:
                if slot_of(ven) not in valid:
                    continue
                written += 1
                if request_id is None:
                    forget.setdefault(table, []).append(ven)
                else:
                    drop_req[0].append(ven)
                    drop_req[1].append(request_id)
            for table, vens in forget.items():
                await conn.execute(f"DELETE FROM fleetven.{table} WHERE {_VEN[table]} = ANY($1::text[])", vens,
                                   timeout=self.timeout)
                self.statements += 1
            if drop_req[0]:
                await conn.execute(_DROP_REQUEST_SAMPLES, *drop_req, timeout=self.timeout)
                self.statements += 1
            upserts: dict[str, list[list[Any]]] = {}
            deletes: dict[str, list[list[Any]]] = {}
            new_samples: list[tuple[_Key, Any, int]] = []
            for key, value in queue.items():
                slot = slot_of(key[1])
                if slot not in valid:
                    continue
                written += 1
                table = key[0]
                ident = key[1:2] if table in _ONE_KEY else key[1:]
                if value is None:
                    for column, item in zip(_columns(deletes, table, len(ident)), ident):
                        column.append(item)
                elif table == "samples":
                    new_samples.append((key, value, slot))
                else:
                    extra = list(value) if table == "requests" else [value]
                    cells = [*ident, slot, held[slot], *extra]
                    for column, item in zip(_columns(upserts, table, len(cells)), cells):
                        column.append(item)
            for table, columns in deletes.items():
                await conn.execute(_DELETE_SAMPLES if table == "samples" else _DELETE[table], *columns,
                                   timeout=self.timeout)
                self.statements += 1
            for table, columns in upserts.items():
                await conn.execute(_UPSERT[table], *columns, timeout=self.timeout)
                self.statements += 1
            if new_samples:
                rows_out: list[list[Any]] = [[] for _ in range(9)]
                for key, (value, seq), slot in new_samples:
                    num, status = (value, None) if isinstance(value, float) else (None, value)
                    for column, item in zip(rows_out, (key[1], key[2], key[3], key[4], slot, held[slot], seq, num,
                                                       status)):
                        column.append(item)
                await conn.execute(_UPSERT_SAMPLES, *rows_out, timeout=self.timeout)
                self.statements += 1
        return written, refused

    # ------------------------------------------------------------ reads

    def _load(self) -> dict[str, VenState]:
        raise StoreError("a PostgresStore is read with `await store.aload(slots)`, not store.load()")

    async def aload(self, slots: Sequence[int] | None = None) -> dict[str, VenState]:
        """What the database holds for the VENs of ``slots`` (every slot when ``None``), by VEN name,
        after committing what is queued. The same :class:`~fleetven.store.VenState` as
        :meth:`SQLiteStore.load <fleetven.store.Store.load>` gives for the same writes.

        Changes queued for slots no longer held are refused as by :meth:`commit` (and passed to
        ``on_fenced``), and the load goes on: taking slots over must not fail because others were lost.

        :raises StoreError: the database cannot be read or written.
        """
        try:
            await self.commit()
        except FencedWrite as exc:
            if self.on_fenced is not None:
                self.on_fenced(list(exc.fields["slots"]))
        where, args = ("", ()) if slots is None else (" WHERE slot = ANY($1::integer[])", (list(slots),))
        states: dict[str, VenState] = {}
        try:
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                for name, data in await conn.fetch(f"SELECT name, data FROM fleetven.vens{where}", *args):
                    _fill(states, "vens", name, "", data)
                for ven, event_id, data in await conn.fetch(f"SELECT ven, event_id, data FROM fleetven.events{where}",
                                                            *args):
                    _fill(states, "events", ven, event_id, data)
                for ven, data in await conn.fetch(f"SELECT ven, data FROM fleetven.outbox{where}", *args):
                    _fill(states, "outbox", ven, "", data)
                for ven, opt_id, data in await conn.fetch(f"SELECT ven, opt_id, data FROM fleetven.opts{where}", *args):
                    _fill(states, "opts", ven, opt_id, data)
                for ven, request_id, data, dropped in await conn.fetch(
                        f"SELECT ven, request_id, data, dropped FROM fleetven.requests{where}", *args):
                    _fill(states, "requests", ven, request_id, data, dropped)
                for ven, data in await conn.fetch(f"SELECT ven, data FROM fleetven.seqs{where}", *args):
                    _fill(states, "seqs", ven, "", data)
                for ven, request_id, micros, r_id, num, status, seq in await conn.fetch(
                        f"SELECT ven, request_id, dtstart, r_id, num, status, seq FROM fleetven.samples{where}"
                        ' ORDER BY ven, request_id, dtstart, r_id COLLATE "C"', *args):
                    _state(states, ven).samples.setdefault(request_id, []).append(
                        Sample(r_id, _from_micros(micros), _value_in(status if num is None else num), seq))
        except _DB_ERRORS as exc:
            raise StoreError(f"cannot read the PostgreSQL store: {exc}") from exc
        return states

    async def sequences(self, ven: str) -> list[tuple[int, str, int, str]]:
        """The samples of ``ven`` the database holds, as ``(seq, request_id, dtstart_micros, r_id)``
        in the order of their sequence numbers (what a test reads to prove none lost or doubled).

        :raises StoreError: the database cannot be read.
        """
        try:
            rows = await self._pool.fetch("SELECT seq, request_id, dtstart, r_id FROM fleetven.samples"
                                          " WHERE ven = $1 ORDER BY seq", ven)
        except _DB_ERRORS as exc:
            raise StoreError(f"cannot read the PostgreSQL store: {exc}") from exc
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Close at once when nothing is queued; with changes queued, raise rather than lose them.

        :raises StoreError: changes are queued: ``await store.aclose()`` commits them first.
        """
        if self._closed:
            return
        self._queue.pop(("", "", ""), None)
        if self._queue or self._ranges:
            raise StoreError(f"{self!r} has {self.pending} changes queued: close it with `await store.aclose()`")
        self._closed = True
        self._fail_waiters()
        self._wake.set()
        self._pool.terminate()

    async def aclose(self) -> None:
        """Commit what is queued (for the slots still held), then close the connections. Idempotent.

        :raises FencedWrite: see :meth:`commit`; the store is closed all the same.
        :raises StoreError: the last commit failed; the store is closed all the same.
        """
        if self._closed:
            return
        try:
            await self.commit()  # (a flush the base class scheduled only wakes run(): no need to cancel it)
        finally:
            self._closed = True
            self._fail_waiters()
            self._wake.set()
            await self._pool.close()

    def _reopen(self) -> None:
        raise StoreError("a closed PostgresStore is reopened with `await store.areopen()`")

    async def areopen(self) -> None:
        """Open a closed store again (a new pool to the same database; the leases it was told of
        stay as they were): a fleet stopped and started again on it goes on.

        :raises StoreError: the database cannot be reached, or the store was made from a pool
            (not :meth:`open`), so there is nothing to connect to again.
        """
        if not self._closed:
            return
        if self._dsn is None:
            raise StoreError("this PostgresStore was made from a pool: it cannot reopen; open a new one with "
                             "PostgresStore.open()")
        self._pool = await _create_pool(self._dsn, self._pool_size, self.timeout)
        self._closed = False
        self._wake.clear()
        self._now.clear()


async def _create_pool(dsn: str, size: int, timeout: float) -> asyncpg.Pool[Any]:
    try:
        return await asyncpg.create_pool(dsn, min_size=1, max_size=size, timeout=timeout, command_timeout=timeout)
    except _DB_ERRORS as exc:
        raise StoreError(f"cannot connect to the PostgreSQL store: {exc}") from exc


def _columns(into: dict[str, list[list[Any]]], table: str, width: int) -> list[list[Any]]:
    columns = into.get(table)
    if columns is None:
        columns = into[table] = [[] for _ in range(width)]
    return columns
