"""Durable state: what a fleet must remember across a crash, and where it keeps it.

A fleet writes to one :class:`Store` (``Fleet(store=...)``): per VEN (keyed by its name) the
registration, the events it knows with the decision sent for each, the ``oadrCreatedEvent``
not yet acknowledged by the VTN (the *outbox*), the opts created and not cancelled, the active
report requests and every report sample the VTN has not acknowledged. At start the fleet
reads it all back (:meth:`Store.load`) and its VENs resume where they stood.

Writes are cheap calls that queue a row in memory; a queued row replaces any earlier one with
the same key, and the whole queue is committed in **one transaction** by :meth:`Store.flush`,
which the first write of a loop iteration schedules with ``loop.call_soon`` (so one timer-wheel
tick costs one commit, however many VENs it touched). Where durability must come before the
network, the VEN calls :meth:`Store.flush` itself: a registration just received, a decision
about to be sent.

Two stores with the same behaviour:

* :class:`SQLiteStore`: a SQLite database file (WAL journal, ``synchronous=NORMAL``: a
  committed transaction survives the process being killed; a power cut may lose the last
  few). One store at a time opens a file: a second one, in any process, is refused
  (:class:`~fleetven.exceptions.StoreLocked`, from a lock on ``<file>.lock``). Its schema is
  versioned (table ``meta``, key ``schema_version``) and :data:`MIGRATIONS` bring an older
  database up to date when it is opened.
* :class:`MemoryStore`: the same rows in dicts; nothing survives the process (tests, load runs).

Values are serialised with orjson and an explicit, typed encoding of what JSON lacks
(datetimes, timedeltas, the message dataclasses of :mod:`fleetven.openadr.model`): see
:func:`encode` and :func:`decode`. Nothing is pickled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import orjson

from fleetven.exceptions import ConfigurationError, StoreError
from fleetven.openadr import model as m
from fleetven.store._filelock import FileLock

__all__ = (
    "SCHEMA_VERSION",
    "MIGRATIONS",
    "Store",
    "MemoryStore",
    "SQLiteStore",
    "VenState",
    "Sample",
    "open_store",
    "encode",
    "decode",
)

logger = logging.getLogger("fleetven.store")

UTC = timezone.utc

# ------------------------------------------------------------------ encoding

_TAG: Final = "$fv"
_MODEL_CLASSES: Final[dict[str, type]] = {
    name: obj for name in m.__all__
    if isinstance(obj := getattr(m, name), type) and dataclasses.is_dataclass(obj)
}
_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _MODEL_CLASSES.values()
}
_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            raise TypeError(f"a naive datetime cannot be stored: {obj!r}")
        return {_TAG: "dt", "v": obj.astimezone(UTC).isoformat()}
    if isinstance(obj, timedelta):
        return {_TAG: "td", "v": [obj.days, obj.seconds, obj.microseconds]}
    fields = _FIELDS.get(type(obj))
    if fields is not None:
        return {_TAG: "m", "c": type(obj).__name__, "f": {name: getattr(obj, name) for name in fields}}
    if isinstance(obj, (tuple, frozenset, set)):
        return list(obj)
    raise TypeError(f"cannot store a {type(obj).__name__}: {obj!r}")


def encode(value: Any) -> bytes:
    """Serialise ``value`` (JSON types, aware datetimes, timedeltas, the dataclasses of
    :mod:`fleetven.openadr.model`, nested freely) to bytes that :func:`decode` turns back into
    an equal value. Tuples and sets come back as lists.

    :raises StoreError: a value of another type, or a naive datetime.
    """
    try:
        data = orjson.dumps(value, default=_default, option=_OPTIONS)
    except TypeError as exc:
        why = exc.__cause__ if isinstance(exc.__cause__, TypeError) else exc
        raise StoreError(f"a value cannot be stored: {why}") from exc
    # orjson hands back a bytes object that keeps its whole output buffer (about 4 KB however
    # short the value): a store that holds one registration per VEN would hold 4 KB per VEN.
    # A copy of just the bytes (a few hundred) is what is kept; the buffer is freed at once.
    return bytes(memoryview(data))


def _revive(obj: Any) -> Any:
    if isinstance(obj, dict):
        tag = obj.get(_TAG)
        if tag is None:
            return {k: _revive(v) for k, v in obj.items()}
        if tag == "dt":
            return datetime.fromisoformat(obj["v"])
        if tag == "td":
            days, seconds, micro = obj["v"]
            return timedelta(days=days, seconds=seconds, microseconds=micro)
        if tag == "m":
            cls = _MODEL_CLASSES.get(obj["c"])
            if cls is None:
                raise StoreError(f"the store holds an unknown message class {obj['c']!r}")
            return cls(**{k: _revive(v) for k, v in obj["f"].items()})
        raise StoreError(f"the store holds a value with an unknown tag {tag!r}")
    if isinstance(obj, list):
        return [_revive(v) for v in obj]
    return obj


def decode(data: bytes | str) -> Any:
    """The value :func:`encode` serialised.

    :raises StoreError: the bytes are not an encoded value.
    """
    try:
        return _revive(orjson.loads(data))
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
        raise StoreError(f"the store holds an unreadable value: {exc}") from exc


def _micros(when: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (the samples' sort key)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _value_out(value: float | m.ResourceStatus) -> float | bytes:
    return value if type(value) is float else encode(value)


def _value_in(value: float | int | bytes | str) -> float | m.ResourceStatus:
    if isinstance(value, (bytes, str)):
        got = decode(value)
        if not isinstance(got, m.ResourceStatus):
            raise StoreError(f"the store holds a sample value that is neither a number nor a status: {got!r}")
        return got
    return float(value)


# ------------------------------------------------------------------ schema

#: The schema steps, one list of SQL statements per version: version ``n`` is reached by
#: running the first ``n`` lists in order. Append; never edit a released step.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 1: registrations, events, outbox, report requests, samples
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE vens (name TEXT PRIMARY KEY, data BLOB NOT NULL)",
        "CREATE TABLE events (ven TEXT NOT NULL, event_id TEXT NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (ven, event_id)) WITHOUT ROWID",
        "CREATE TABLE outbox (ven TEXT PRIMARY KEY, data BLOB NOT NULL)",
        "CREATE TABLE requests (ven TEXT NOT NULL, request_id TEXT NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (ven, request_id)) WITHOUT ROWID",
        "CREATE TABLE samples (ven TEXT NOT NULL, request_id TEXT NOT NULL, dtstart INTEGER NOT NULL,"
        " r_id TEXT NOT NULL, value NOT NULL, PRIMARY KEY (ven, request_id, dtstart, r_id)) WITHOUT ROWID",
    ),
    (  # 2: opts created and not cancelled; samples dropped at the cap, per request
        "CREATE TABLE opts (ven TEXT NOT NULL, opt_id TEXT NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (ven, opt_id)) WITHOUT ROWID",
        "ALTER TABLE requests ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0",
    ),
    (  # 3: each sample's per-VEN sequence number, and the last number each VEN gave
        "ALTER TABLE samples ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
        "CREATE TABLE seqs (ven TEXT PRIMARY KEY, data BLOB NOT NULL)",
    ),
)

#: The schema version this fleetven writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)


# ------------------------------------------------------------------ state


@dataclass(slots=True, frozen=True)
class Sample:
    """One report sample the VTN has not acknowledged: its natural key is
    ``(report_request_id, r_id, dtstart)``; ``seq`` is its number in the VEN's sequence of samples
    (sent as the interval's ``uid``; 0 for a sample kept by a fleetven that gave none)."""

    r_id: str
    dtstart: datetime
    value: float | m.ResourceStatus
    seq: int = 0


@dataclass(slots=True, kw_only=True)
class VenState:
    """What the store holds for one VEN (:meth:`Store.load`).

    :ivar registration: the registration dict the VEN wrote (venID, registrationID, vtnID,
        poll frequency, options), or ``None``.
    :ivar events: the event rows by eventID.
    :ivar outbox: the ``oadrCreatedEvent`` not yet acknowledged, or ``None``.
    :ivar opts: the opts created and not cancelled, by optID.
    :ivar requests: the report request rows by reportRequestID.
    :ivar dropped: samples dropped at the cap so far, by reportRequestID.
    :ivar samples: the samples not acknowledged, by reportRequestID, oldest first.
    :ivar last_seq: the highest sample sequence number the VEN gave (0: none yet).
    """

    registration: dict[str, Any] | None = None
    events: dict[str, Any] = field(default_factory=dict)
    outbox: m.CreatedEvent | None = None
    opts: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    last_seq: int = 0


# Keys of queued writes. Keyed tables: (table, ven, key) -> encoded bytes, or None to delete.
# Samples: ("samples", ven, request_id, micros, r_id) -> (stored value, seq), or None to delete.
_Key = tuple[Any, ...]
_KEYED: Final = ("vens", "events", "outbox", "opts", "requests", "seqs")
#: The keyed tables with one row per VEN (no key column after the VEN's).
_ONE_KEY: Final = frozenset(("vens", "outbox", "seqs"))


class Store:
    """The durable state of a fleet: the write queue and its batching; subclasses keep the rows.

    Every ``put_*``/``drop_*`` call queues a change (the latest one per key wins) and, inside a
    running event loop, schedules :meth:`flush` with ``loop.call_soon`` if none is scheduled;
    :meth:`flush` commits the queue in one transaction. Calls are made on the loop's thread.

    :ivar writes: rows written so far (after coalescing); :ivar flushes: transactions committed.
    """

    #: Whether what the store holds survives the process.
    durable: bool = False
    #: Whether several workers share the store, its VENs divided into slots: a fleet on it loads
    #: only the slots it is given (:meth:`fleetven.fleet.core.Fleet.start`), never the whole store.
    partitioned: bool = False

    def __init__(self) -> None:
        self._queue: dict[_Key, Any] = {}
        self._ranges: list[tuple[str, str, str | None]] = []  # (table, ven, request_id | None) deletes
        self._scheduled: asyncio.Handle | None = None
        self._closed = False
        self.writes = 0
        self.flushes = 0

    # ------------------------------------------------------------ writes

    def _put(self, key: _Key, value: Any) -> None:
        if self._closed:
            raise StoreError(f"{self!r} is closed; nothing more can be written")
        self._queue[key] = value
        if self._scheduled is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: the caller flushes
            self._scheduled = loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._scheduled = None
        if not self._closed:
            try:
                self.flush()
            except StoreError:
                logger.exception("the store could not commit; the changes stay queued and are retried")

    def put_registration(self, ven: str, registration: Mapping[str, Any] | None) -> None:
        """Keep ``ven``'s registration (a dict of JSON-able values); ``None`` forgets it."""
        self._put(("vens", ven, ""), None if registration is None else encode(registration))

    def put_event(self, ven: str, event_id: str, row: Mapping[str, Any]) -> None:
        """Keep one event of ``ven`` (the event dict, its decision, start offset, status...)."""
        self._put(("events", ven, event_id), encode(row))

    def drop_event(self, ven: str, event_id: str) -> None:
        """Forget one event of ``ven``."""
        self._put(("events", ven, event_id), None)

    def put_outbox(self, ven: str, message: m.CreatedEvent | None) -> None:
        """Keep the ``oadrCreatedEvent`` that ``ven`` must deliver; ``None`` once acknowledged."""
        self._put(("outbox", ven, ""), None if message is None else encode(message))

    def put_opt(self, ven: str, opt_id: str, row: Mapping[str, Any]) -> None:
        """Keep an opt ``ven`` created."""
        self._put(("opts", ven, opt_id), encode(row))

    def drop_opt(self, ven: str, opt_id: str) -> None:
        """Forget a cancelled opt."""
        self._put(("opts", ven, opt_id), None)

    def put_request(self, ven: str, request_id: str, row: Mapping[str, Any], *, dropped: int = 0) -> None:
        """Keep an active report request of ``ven`` and where it stands (``dropped``: samples
        dropped at the cap so far)."""
        self._put(("requests", ven, request_id), (encode(row), dropped))

    def drop_request(self, ven: str, request_id: str) -> None:
        """Forget a report request of ``ven`` and every sample it still holds."""
        self._drop_range("samples", ven, request_id)
        self._put(("requests", ven, request_id), None)

    def add_sample(self, ven: str, request_id: str, sample: Sample) -> None:
        """Keep one sample until :meth:`ack_samples`; a sample with the same key replaces it. Its
        ``seq`` becomes the VEN's last sequence number (:attr:`VenState.last_seq`) in the same commit."""
        self._put(("samples", ven, request_id, _micros(sample.dtstart), sample.r_id),
                  (_value_out(sample.value), sample.seq))
        if sample.seq:
            self._put(("seqs", ven, ""), b"%d" % sample.seq)

    def ack_samples(self, ven: str, request_id: str, samples: Iterable[Sample]) -> None:
        """Forget samples the VTN acknowledged (or that were dropped)."""
        for sample in samples:
            self._put(("samples", ven, request_id, _micros(sample.dtstart), sample.r_id), None)

    def forget_ven(self, ven: str) -> None:
        """Forget everything about ``ven`` (a VEN removed from the fleet for good)."""
        for table in (*_KEYED, "samples"):
            self._drop_range(table, ven, None)

    def _drop_range(self, table: str, ven: str, request_id: str | None) -> None:
        # Queued writes the range delete covers are superseded; later ones are applied after it.
        for key in [k for k in self._queue if k[0] == table and k[1] == ven
                    and (request_id is None or k[2] == request_id)]:
            del self._queue[key]
        self._ranges.append((table, ven, request_id))
        self._put(("", "", ""), None)  # schedule a flush; the placeholder key is skipped

    # ------------------------------------------------------------ commits

    @property
    def pending(self) -> int:
        """Changes queued and not yet committed."""
        return len(self._queue) + len(self._ranges)

    def flush(self) -> None:
        """Commit every queued change in one transaction (nothing to do: no transaction).

        :raises StoreError: the commit failed; the queue is kept for the next flush.
        """
        queue = self._queue
        ranges = self._ranges
        queue.pop(("", "", ""), None)
        if not queue and not ranges:
            return
        self._commit(ranges, queue)
        self.writes += len(queue)
        self.flushes += 1
        self._queue = {}
        self._ranges = []

    def _commit(self, ranges: list[tuple[str, str, str | None]], queue: dict[_Key, Any]) -> None:
        raise NotImplementedError

    async def commit(self) -> None:
        """Commit what is queued and return once it is durable: where a VEN must not go on before
        its state is safe (a registration received, a decision about to be sent), it awaits this.
        Here it is :meth:`flush`; a store that writes over the network waits for its transaction.

        :raises StoreError: the commit failed; the queue is kept.
        """
        self.flush()

    async def committed(self) -> None:
        """Return once every change queued so far is committed (or, on a store of slot leases,
        discarded because its slot was lost), without asking for a commit of its own: the caller
        joins the store's next batch. A VEN awaits this before it sends what it has just stored,
        so that nothing reaches the VTN that a restart (or the next owner) would not know of.
        Here the flush the first write scheduled has run by the time a task awaits this; a queue
        left behind is flushed now.

        :raises StoreError: the commit failed; the queue is kept.
        """
        self._queue.pop(("", "", ""), None)
        if self._queue or self._ranges:
            self.flush()

    async def run(self) -> None:
        """What the store runs in the background while a fleet runs (the fleet starts it as a task
        and cancels it when it stops): nothing here, as :meth:`flush` commits on the loop itself."""

    async def aload(self, slots: Sequence[int] | None = None) -> dict[str, VenState]:
        """:meth:`load` for a caller that also runs on a store read over the network.

        :param slots: the VENs of these slots only; a store of one process keeps no slots, so
            it must be ``None`` (every VEN) here.
        :raises StoreError: the store cannot be read, or ``slots`` were given.
        """
        if slots is not None:
            raise StoreError(f"{self!r} keeps one process's VENs and no slots: it is loaded whole (slots=None)")
        return self.load()

    async def aclose(self) -> None:
        """:meth:`close` for a caller that also runs on a store written over the network."""
        self.close()

    def load(self) -> dict[str, VenState]:
        """Everything the store holds, by VEN name (pending changes are committed first).

        :raises StoreError: the store cannot be read.
        """
        self.flush()
        return self._load()

    def _load(self) -> dict[str, VenState]:
        raise NotImplementedError

    def close(self) -> None:
        """Commit what is queued and close; further writes raise :class:`StoreError`. Idempotent."""
        if self._closed:
            return
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        try:
            self.flush()
        finally:
            self._closed = True
            self._close()

    def _close(self) -> None:
        pass

    def reopen(self) -> None:
        """Open a closed store again, with what it held (a fleet started again after it stopped).

        :raises StoreError: the database cannot be opened.
        """
        if self._closed:
            self._reopen()
            self._closed = False

    def _reopen(self) -> None:
        pass

    async def areopen(self) -> None:
        """:meth:`reopen` for a caller that also runs on a store opened over the network (what
        :meth:`fleetven.fleet.core.Fleet.start` calls for a store its last stop closed).

        :raises StoreError: the database cannot be opened.
        """
        self.reopen()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed


def _state(states: dict[str, VenState], ven: str) -> VenState:
    state = states.get(ven)
    if state is None:
        state = states[ven] = VenState()
    return state


def _fill(states: dict[str, VenState], table: str, ven: str, key: str, data: Any, extra: Any = None) -> None:
    state = _state(states, ven)
    if table == "vens":
        state.registration = decode(data)
    elif table == "events":
        state.events[key] = decode(data)
    elif table == "outbox":
        state.outbox = decode(data)
    elif table == "opts":
        state.opts[key] = decode(data)
    elif table == "requests":
        state.requests[key] = decode(data)
        if extra:
            state.dropped[key] = int(extra)
    elif table == "seqs":
        state.last_seq = int(decode(data))


#: The tables of one row per VEN: a :class:`MemoryStore` keys them by the VEN's name alone.
_ONE_ROW: Final = frozenset(("vens", "outbox", "seqs"))


class MemoryStore(Store):
    """A store in memory, with the same behaviour as :class:`SQLiteStore`; nothing survives the process.

    Rows are kept by VEN (a table of one row per VEN by the VEN's name alone, the others in a
    dict per VEN that has any), so that a VEN costs one dict entry per table it has a row in, and
    forgetting a VEN is a lookup, not a scan of every row (a million VENs on one store).
    """

    def __init__(self) -> None:
        super().__init__()
        self._tables: dict[str, dict[str, Any]] = {t: {} for t in _KEYED}
        self._samples: dict[str, dict[str, dict[tuple[int, str], Any]]] = {}

    def __repr__(self) -> str:
        return "<MemoryStore>"

    def _commit(self, ranges: list[tuple[str, str, str | None]], queue: dict[_Key, Any]) -> None:
        for table, ven, request_id in ranges:
            if table == "samples":
                requests = self._samples.get(ven)
                if requests is not None:
                    if request_id is None:
                        requests.clear()
                    else:
                        requests.pop(request_id, None)
                    if not requests:
                        del self._samples[ven]
            else:
                self._tables[table].pop(ven, None)
        for key, value in queue.items():
            table = key[0]
            if table == "samples":
                _, ven, request_id, micros, r_id = key
                requests = self._samples.get(ven)
                bucket = requests.get(request_id) if requests is not None else None
                if value is None:
                    if bucket is not None:
                        bucket.pop((micros, r_id), None)
                        if not bucket:
                            del requests[request_id]  # type: ignore[union-attr]
                            if not requests:
                                del self._samples[ven]
                else:
                    if requests is None:
                        requests = self._samples[ven] = {}
                    if bucket is None:
                        bucket = requests[request_id] = {}
                    bucket[(micros, r_id)] = value
                continue
            rows = self._tables[table]
            ven, sub = key[1], key[2]
            if table in _ONE_ROW:
                if value is None:
                    rows.pop(ven, None)
                else:
                    rows[ven] = value
            elif value is None:
                per = rows.get(ven)
                if per is not None:
                    per.pop(sub, None)
                    if not per:
                        del rows[ven]
            else:
                per = rows.get(ven)
                if per is None:
                    per = rows[ven] = {}
                per[sub] = value

    def _load(self) -> dict[str, VenState]:
        states: dict[str, VenState] = {}
        for table, rows in self._tables.items():
            for ven, held in rows.items():
                for key, value in ((("", held),) if table in _ONE_ROW else held.items()):
                    if table == "requests":
                        _fill(states, table, ven, key, value[0], value[1])
                    else:
                        _fill(states, table, ven, key, value)
        for ven, requests in self._samples.items():
            for request_id, bucket in requests.items():
                _state(states, ven).samples[request_id] = [
                    Sample(r_id, _from_micros(micros), _value_in(value), seq)
                    for (micros, r_id), (value, seq) in sorted(bucket.items())
                ]
        return states


_UPSERT: Final = {
    "vens": "INSERT OR REPLACE INTO vens (name, data) VALUES (?, ?)",
    "events": "INSERT OR REPLACE INTO events (ven, event_id, data) VALUES (?, ?, ?)",
    "outbox": "INSERT OR REPLACE INTO outbox (ven, data) VALUES (?, ?)",
    "opts": "INSERT OR REPLACE INTO opts (ven, opt_id, data) VALUES (?, ?, ?)",
    "requests": "INSERT OR REPLACE INTO requests (ven, request_id, data, dropped) VALUES (?, ?, ?, ?)",
    "samples": "INSERT OR REPLACE INTO samples (ven, request_id, dtstart, r_id, value, seq) VALUES (?, ?, ?, ?, ?, ?)",
    "seqs": "INSERT OR REPLACE INTO seqs (ven, data) VALUES (?, ?)",
}
_DELETE: Final = {
    "vens": "DELETE FROM vens WHERE name = ?",
    "events": "DELETE FROM events WHERE ven = ? AND event_id = ?",
    "outbox": "DELETE FROM outbox WHERE ven = ?",
    "opts": "DELETE FROM opts WHERE ven = ? AND opt_id = ?",
    "requests": "DELETE FROM requests WHERE ven = ? AND request_id = ?",
    "samples": "DELETE FROM samples WHERE ven = ? AND request_id = ? AND dtstart = ? AND r_id = ?",
    "seqs": "DELETE FROM seqs WHERE ven = ?",
}
_VEN_COLUMN: Final = {"vens": "name", "events": "ven", "outbox": "ven", "opts": "ven", "requests": "ven",
                      "samples": "ven", "seqs": "ven"}


class SQLiteStore(Store):
    """A store in a SQLite database file (WAL, ``synchronous=NORMAL``), created if missing and
    migrated to :data:`SCHEMA_VERSION` if older.

    One store at a time uses a database file: opening takes an exclusive lock on
    ``<path>.lock`` beside it (``flock(2)``, released by :meth:`close`, or by the kernel when the
    process ends), and a second store on the same file, in another process **or in this one**, is
    refused with :class:`~fleetven.exceptions.StoreLocked`. ``":memory:"`` is not locked.

    :param path: the database file.
    :raises StoreLocked: another store has the file open.
    :raises StoreError: the file is not a fleetven database, is from a newer fleetven, or cannot
        be opened.
    """

    durable = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = os.fspath(path)
        #: The lock file, ``<path>.lock`` (``None`` for an in-memory database).
        self.lock_path: str | None = None if self.path in ("", ":memory:") else self.path + ".lock"
        self._lock = None if self.lock_path is None else FileLock(self.lock_path, store_path=self.path)
        self._db = self._connect()

    def _reopen(self) -> None:
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._lock is not None:
            self._lock.acquire()  # before anything reads or migrates the file
        try:
            return self._open()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path!r}: {exc}", path=self.path) from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(db)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"cannot use the store {self.path!r}: {exc}", path=self.path) from exc
        except StoreError:
            db.close()
            raise
        return db

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path!r}>"

    @property
    def version(self) -> int:
        """The schema version of the database."""
        return self._version(self._db)

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        if has_meta is None:
            tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            return 0 if tables == 0 else -1
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row is not None else -1

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = self._version(db)
        if version < 0:
            raise StoreError(f"{self.path!r} is a SQLite database but not a fleetven store", path=self.path)
        if version > SCHEMA_VERSION:
            raise StoreError(f"the store {self.path!r} has schema version {version}, newer than this fleetven's "
                             f"{SCHEMA_VERSION}: use a newer fleetven or another file", path=self.path)
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for step in MIGRATIONS[version:]:
                for sql in step:
                    db.execute(sql)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if version:
            logger.info("store %s migrated from schema version %d to %d", self.path, version, SCHEMA_VERSION)

    def _commit(self, ranges: list[tuple[str, str, str | None]], queue: dict[_Key, Any]) -> None:
        upserts: dict[str, list[tuple[Any, ...]]] = {}
        deletes: dict[str, list[tuple[Any, ...]]] = {}
        for key, value in queue.items():
            table = key[0]
            ident = key[1:2] if table in _ONE_KEY else key[1:]
            if value is None:
                deletes.setdefault(table, []).append(ident)
            elif table in ("requests", "samples"):
                upserts.setdefault(table, []).append((*ident, *value))
            else:
                upserts.setdefault(table, []).append((*ident, value))
        db = self._db
        try:
            db.execute("BEGIN")
            try:
                for table, ven, request_id in ranges:
                    column = _VEN_COLUMN[table]
                    if request_id is None:
                        db.execute(f"DELETE FROM {table} WHERE {column} = ?", (ven,))
                    else:
                        db.execute(f"DELETE FROM {table} WHERE ven = ? AND request_id = ?", (ven, request_id))
                for table, rows in deletes.items():
                    db.executemany(_DELETE[table], rows)
                for table, rows in upserts.items():
                    db.executemany(_UPSERT[table], rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the store {self.path!r}: {exc}", path=self.path) from exc

    def _load(self) -> dict[str, VenState]:
        states: dict[str, VenState] = {}
        db = self._db
        try:
            for name, data in db.execute("SELECT name, data FROM vens"):
                _fill(states, "vens", name, "", data)
            for ven, event_id, data in db.execute("SELECT ven, event_id, data FROM events"):
                _fill(states, "events", ven, event_id, data)
            for ven, data in db.execute("SELECT ven, data FROM outbox"):
                _fill(states, "outbox", ven, "", data)
            for ven, opt_id, data in db.execute("SELECT ven, opt_id, data FROM opts"):
                _fill(states, "opts", ven, opt_id, data)
            for ven, request_id, data, dropped in db.execute("SELECT ven, request_id, data, dropped FROM requests"):
                _fill(states, "requests", ven, request_id, data, dropped)
            for ven, data in db.execute("SELECT ven, data FROM seqs"):
                _fill(states, "seqs", ven, "", data)
            for ven, request_id, micros, r_id, value, seq in db.execute(
                "SELECT ven, request_id, dtstart, r_id, value, seq FROM samples ORDER BY ven, request_id, dtstart, r_id"
            ):
                _state(states, ven).samples.setdefault(request_id, []).append(
                    Sample(r_id, _from_micros(micros), _value_in(value), seq))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path!r}: {exc}", path=self.path) from exc
        return states

    def _close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error as exc:  # pragma: no cover - closing a healthy handle does not fail
            raise StoreError(f"cannot close the store {self.path!r}: {exc}", path=self.path) from exc
        finally:
            if self._lock is not None:
                self._lock.release()


#: The URL schemes of a PostgreSQL store (:mod:`fleetven.store.postgres`).
POSTGRESQL_SCHEMES: Final = ("postgresql://", "postgres://")


def open_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """The store ``Fleet(store=...)`` means: a :class:`Store` as is; ``None`` or ``":memory:"`` a new
    :class:`MemoryStore`; a path a :class:`SQLiteStore`.

    :raises ConfigurationError: another kind of value, or a ``postgresql://`` URL (a fleet on
        PostgreSQL runs as :class:`~fleetven.fleet.worker.Worker` processes).
    :raises StoreError: the database cannot be opened.
    """
    if store is None or store == ":memory:":
        return MemoryStore()
    if isinstance(store, Store):
        return store
    if isinstance(store, str) and store.startswith(POSTGRESQL_SCHEMES):
        raise ConfigurationError(
            f"store={store.split('@')[-1]!r}: a fleet on PostgreSQL runs as workers, which hold the leases "
            "of its slots: `fleetven worker --store postgresql://...` or fleetven.fleet.worker.Worker (a "
            "PostgresStore whose slot leases you hold may also be given as store=); one process keeps its "
            "state in a SQLite file", setting="store")
    if isinstance(store, (str, os.PathLike)):
        return SQLiteStore(store)
    raise ConfigurationError(f"Fleet store must be a path, ':memory:' or a Store, not {store!r}", setting="store")
