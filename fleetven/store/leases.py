"""Slot leases in PostgreSQL: which worker owns which slot of a fleet, for how long, at which epoch.

A fleet has a fixed number of **slots** (:meth:`Leases.create`); a VEN belongs to one slot (a
stable hash of its name, computed by the fleet) and only the worker holding that slot's lease may
act as the VEN. One row of table ``fleetven.slots`` per slot holds the lease:

``owner``
    the worker holding it, or ``NULL``;
``epoch``
    a number that grows by one at every acquisition: every state write carries it, and
    :class:`~fleetven.store.postgres.PostgresStore` refuses writes made under an older one;
``expires_at``
    when the lease ends **on PostgreSQL's clock** (``clock_timestamp()``), unless renewed.

:class:`Leases` issues the statements (each one round trip, on a connection of its own, so that
a slow commit of state never delays a renewal); :class:`LeaseKeeper` is the worker's side: it
renews every ``renew_every`` seconds and, from its own monotonic clock, knows the latest moment
it may still act for each slot (:meth:`LeaseKeeper.deadline`) — measured from when it *sent* the
last renewal that succeeded, which is no later than when the server computed the expiry. When a
deadline passes without a renewal, it tells ``on_lost`` to stop all traffic for those slots
before the lease can expire on the server. The timing argument is in ``docs/leases.rst``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fleetven.exceptions import ConfigurationError, StoreError
from fleetven.store.postgres import _DB_ERRORS, connect

try:
    import asyncpg
except ImportError as _exc:  # pragma: no cover - postgres.py above raised already
    from fleetven._extras import missing_extra

    raise missing_extra("the slot leases", "postgresql", _exc) from None

__all__ = ("Leases", "LeaseKeeper", "SlotLease", "boottime")

logger = logging.getLogger("fleetven.store.leases")


def boottime() -> float:
    """Seconds on a clock that never goes back and, unlike ``time.monotonic()`` on Linux, keeps
    counting while the machine is suspended (``CLOCK_BOOTTIME``; ``time.monotonic`` elsewhere)."""
    return time.clock_gettime(_CLOCK)


_CLOCK: Final = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)

_ACQUIRE: Final = (
    "WITH hb AS (INSERT INTO fleetven.workers (worker) VALUES ($1)"
    " ON CONFLICT (worker) DO UPDATE SET seen_at = now()),"
    " free AS (SELECT slot FROM fleetven.slots"
    " WHERE (owner IS NULL OR expires_at <= clock_timestamp()) AND ($2::integer[] IS NULL OR slot = ANY($2))"
    " ORDER BY slot LIMIT $3 FOR UPDATE SKIP LOCKED)"
    " UPDATE fleetven.slots s SET owner = $1, epoch = s.epoch + 1,"
    " expires_at = clock_timestamp() + make_interval(secs => $4)"
    " FROM free WHERE s.slot = free.slot RETURNING s.slot, s.epoch"
)
_RENEW: Final = (
    "WITH hb AS (INSERT INTO fleetven.workers (worker) VALUES ($1)"
    " ON CONFLICT (worker) DO UPDATE SET seen_at = now())"
    " UPDATE fleetven.slots SET expires_at = clock_timestamp() + make_interval(secs => $2)"
    " WHERE owner = $1 AND expires_at > clock_timestamp() RETURNING slot, epoch"
)
_RELEASE: Final = (
    "UPDATE fleetven.slots SET owner = NULL, expires_at = clock_timestamp()"
    " WHERE owner = $1 AND slot = ANY($2::integer[]) RETURNING slot"
)


@dataclass(frozen=True, slots=True)
class SlotLease:
    """One slot's lease as the database holds it (:meth:`Leases.slots`).

    :ivar slot: the slot number.
    :ivar owner: the worker holding it, ``None`` when free (or released).
    :ivar epoch: acquisitions so far.
    :ivar remaining: seconds until it expires on the database's clock (negative: expired).
    """

    slot: int
    owner: str | None
    epoch: int
    remaining: float

    @property
    def held(self) -> bool:
        """Whether a worker holds it now (an owner, not expired)."""
        return self.owner is not None and self.remaining > 0


class Leases:
    """The lease statements, over one connection to the fleet's database (opened, and reopened
    after a failure, on first use).

    :param dsn: the ``postgresql://`` URL of the fleet's database.
    :param lease: seconds a lease lasts from its acquisition or last renewal, on the database's clock.
    :param timeout: seconds one statement may take; a statement that takes longer fails with
        :class:`~fleetven.exceptions.StoreError` and the connection is dropped (the next call opens
        another), since a connection that stalls is usually one the network lost.

    :ivar statements: statements sent (each one round trip).
    """

    def __init__(self, dsn: str, *, lease: float = 15.0, timeout: float = 2.0) -> None:
        if lease <= 0 or timeout <= 0:
            raise ConfigurationError(f"Leases: lease and timeout must be > 0 (got {lease}, {timeout})",
                                     setting="lease")
        self.dsn = dsn
        self.lease = float(lease)
        self.timeout = float(timeout)
        self._conn: asyncpg.Connection[Any] | None = None
        self._using = asyncio.Lock()
        self.statements = 0

    def __repr__(self) -> str:
        return f"<Leases lease={self.lease}s>"

    async def _call(self, method: str, sql: str, *args: Any) -> Any:
        async with self._using:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncio.wait_for(connect(self.dsn, timeout=self.timeout), self.timeout)
                self.statements += 1
                return await getattr(self._conn, method)(sql, *args, timeout=self.timeout)
            except (*_DB_ERRORS, StoreError) as exc:
                self._drop()
                if isinstance(exc, StoreError):
                    raise
                raise StoreError(f"slot leases: {type(exc).__name__}: {exc}") from exc
            except BaseException:
                self._drop()  # cancelled mid-statement: the connection's state is unknown
                raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def create(self, slots: int) -> int:
        """Make sure the fleet has slots ``0 .. slots - 1`` (free, epoch 0 for new ones); return how
        many were added. A fleet's slot count is fixed: asking for another count than the one it has
        is refused.

        :raises ConfigurationError: ``slots`` < 1, or the fleet already has another number of slots.
        :raises StoreError: the database cannot be reached.
        """
        if slots < 1:
            raise ConfigurationError(f"a fleet needs at least one slot, not {slots}", setting="slots")
        have = await self.count()
        if have and have != slots:
            raise ConfigurationError(f"the fleet has {have} slots; its slot count cannot change to {slots}",
                                     setting="slots")
        added: str = await self._call(
            "execute", "INSERT INTO fleetven.slots (slot) SELECT generate_series(0, $1 - 1) ON CONFLICT DO NOTHING",
            slots)
        return int(added.rsplit(" ", 1)[-1])

    async def count(self) -> int:
        """The fleet's number of slots (0 before :meth:`create`)."""
        return int(await self._call("fetchval", "SELECT count(*) FROM fleetven.slots"))

    async def acquire(self, worker: str, slots: Iterable[int] | None = None, *,
                      limit: int | None = None) -> dict[int, int]:
        """Take, for ``worker``, the free or expired slots among ``slots`` (all slots when ``None``),
        at most ``limit`` of them, lowest first; return the slots taken with their new epochs.

        Slots another transaction has locked (being taken or written) are skipped (``SKIP LOCKED``),
        never waited for; each taken slot's epoch grows by one. Also records ``worker``'s heartbeat.

        :raises StoreError: the database cannot be reached (nothing was taken then).
        """
        wanted = None if slots is None else sorted(set(slots))
        rows = await self._call("fetch", _ACQUIRE, worker, wanted, limit, self.lease)
        return {r[0]: r[1] for r in sorted(rows)}

    async def renew(self, worker: str) -> dict[int, int]:
        """Extend every unexpired lease of ``worker`` by the lease length from now (the database's
        clock); return the slots still held, with their epochs. An expired lease is not renewed, even
        if no one took it since: the worker must :meth:`acquire` it again, with a new epoch. Also
        records ``worker``'s heartbeat.

        :raises StoreError: the database cannot be reached (whether the renewal happened is unknown).
        """
        rows = await self._call("fetch", _RENEW, worker, self.lease)
        return {r[0]: r[1] for r in rows}

    async def release(self, worker: str, slots: Iterable[int]) -> list[int]:
        """Give up ``worker``'s leases of ``slots`` (after flushing their state and stopping their VENs);
        return the slots released. Another worker may take them at once.

        :raises StoreError: the database cannot be reached.
        """
        rows = await self._call("fetch", _RELEASE, worker, sorted(set(slots)))
        return sorted(r[0] for r in rows)

    async def slots(self) -> list[SlotLease]:
        """Every slot's lease, by slot number."""
        rows = await self._call(
            "fetch", "SELECT slot, owner, epoch, CASE WHEN isfinite(expires_at)"
                     " THEN extract(epoch FROM expires_at - clock_timestamp())::float8 END"
                     " FROM fleetven.slots ORDER BY slot")
        return [SlotLease(r[0], r[1], r[2], r[3] if r[3] is not None else float("-inf")) for r in rows]

    async def workers(self, within: float) -> list[str]:
        """The workers whose heartbeat (an acquisition or renewal) the database saw in the last ``within`` seconds."""
        rows = await self._call("fetch", "SELECT worker FROM fleetven.workers"
                                         " WHERE seen_at > now() - make_interval(secs => $1) ORDER BY worker",
                                float(within))
        return [r[0] for r in rows]

    async def close(self) -> None:
        """Close the connection (a later call opens another); one that does not answer within the
        statement timeout is dropped."""
        async with self._using:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    await conn.close(timeout=self.timeout)
                except _DB_ERRORS:
                    conn.terminate()


class LeaseKeeper:
    """One worker's leases: acquired through it, renewed by :meth:`run`, and given up in time.

    For every slot it holds it keeps a **deadline** on the worker's monotonic clock (``clock``):
    ``sent + lease - margin``, where ``sent`` is when the last successful acquisition or renewal of
    that slot was *sent*. At the deadline the slot is dropped and ``on_lost`` is called with it
    (from a timer of the event loop): the worker must then stop all VTN traffic for the slot's VENs,
    in-flight requests included. Before every request the worker asks :meth:`may_act`, which reads
    the clock itself, so that a process that was paused (and whose timers run late) never sends on
    a lease past its deadline.

    :param leases: the lease statements.
    :param worker: this worker's name.
    :param renew_every: seconds between renewals (from the sending of one to the next); 3 by default.
    :param margin: seconds the deadline keeps before the earliest moment the server can expire the
        lease (3 by default): it must cover the network transit of a request already on its way, the
        event loop's lag, and the drift of the worker's clock against the database's over one lease.
    :param on_lost: called with the slots (sorted) that were dropped: a renewal answered that they
        are no longer held (another worker may own them now), or their deadline passed and there is
        no ``on_expired``.
    :param on_expired: called instead of ``on_lost`` with the slots whose deadline passed, with the
        epoch each was held at: the worker can no longer prove it owns them, but no one else may have
        taken them yet (the database was unreachable). It must stop acting for them at once; if it
        acquires one again at exactly the next epoch, no one owned it in between.
    :param on_regained: called with slots passed to ``on_expired`` that a later renewal found still
        leased to this worker at the same epoch (their lease never expired on the server, so no one
        else can have owned them): held again from that renewal on, with a new deadline.
    :param clock: the monotonic clock, in seconds (:func:`boottime` by default).
    :raises ConfigurationError: the timing cannot keep a lease: ``renew_every + leases.timeout`` must
        be below ``leases.lease - margin`` (one renewal must be able to fail and the next still land
        in time), and ``margin`` must be positive.

    :ivar renewals: renewals that succeeded; :ivar failures: renewals that failed;
        :ivar gained: slots acquired; :ivar lost: slots dropped (deadline or refused);
        :ivar latency: seconds the last successful renewal took.
    """

    def __init__(self, leases: Leases, worker: str, *, on_lost: Callable[[list[int]], None],
                 on_expired: Callable[[dict[int, int]], None] | None = None,
                 on_regained: Callable[[dict[int, int]], None] | None = None,
                 renew_every: float = 3.0, margin: float = 3.0, clock: Callable[[], float] = boottime) -> None:
        if margin <= 0 or renew_every <= 0 or renew_every + leases.timeout >= leases.lease - margin:
            raise ConfigurationError(
                f"LeaseKeeper: renew_every ({renew_every}) + the statement timeout ({leases.timeout}) must be less "
                f"than the lease ({leases.lease}) - margin ({margin}), and margin must be > 0", setting="renew_every")
        self.leases = leases
        self.worker = worker
        self.renew_every = float(renew_every)
        self.margin = float(margin)
        self.on_lost = on_lost
        self.on_expired = on_expired
        self.on_regained = on_regained
        self._expired: dict[int, int] = {}  # slots dropped at their deadline, with their epochs
        self.clock = clock
        self._epochs: dict[int, int] = {}
        self._deadlines: dict[int, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.renewals = 0
        self.failures = 0
        self.gained = 0
        self.lost = 0
        self.latency = 0.0

    def __repr__(self) -> str:
        return f"<LeaseKeeper {self.worker!r} slots={len(self._epochs)}>"

    # ------------------------------------------------------------ what is held

    @property
    def held(self) -> Mapping[int, int]:
        """The slots held now, with their epochs."""
        return dict(self._epochs)

    def deadline(self, slot: int) -> float | None:
        """The moment, on :attr:`clock`, after which the worker must not act for ``slot``; ``None``: not held."""
        return self._deadlines.get(slot)

    def may_act(self, slot: int) -> bool:
        """Whether the worker may send a request for a VEN of ``slot`` now (held, and before its deadline)."""
        deadline = self._deadlines.get(slot)
        if deadline is None:
            return False
        if self.clock() < deadline:
            return True
        self._expire()
        return False

    # ------------------------------------------------------------ acquiring and releasing

    def _hold(self, got: Mapping[int, int], sent: float) -> None:
        deadline = sent + self.leases.lease - self.margin
        for slot, epoch in got.items():
            self._epochs[slot] = epoch
            self._deadlines[slot] = deadline
        self._arm()

    async def acquire(self, slots: Iterable[int] | None = None, *, limit: int | None = None) -> dict[int, int]:
        """Take free or expired slots (see :meth:`Leases.acquire`) and keep them; return those taken with their epochs.

        :raises StoreError: the database cannot be reached.
        """
        sent = self.clock()
        got = await self.leases.acquire(self.worker, slots, limit=limit)
        self.gained += len(got)
        for slot in got:
            self._expired.pop(slot, None)
        self._hold(got, sent)
        return got

    async def release(self, slots: Sequence[int]) -> list[int]:
        """Stop holding ``slots`` now and give their leases back (the worker has stopped their VENs and
        flushed their state). They are dropped here even if the release statement fails: they then
        expire on the server.

        :raises StoreError: the database cannot be reached.
        """
        for slot in slots:
            self._epochs.pop(slot, None)
            self._deadlines.pop(slot, None)
            self._expired.pop(slot, None)
        self._arm()
        return await self.leases.release(self.worker, slots)

    # ------------------------------------------------------------ renewing

    async def renew(self) -> dict[int, int]:
        """Renew once; return the slots still held. Slots the renewal did not return (or returned at
        another epoch) are dropped and passed to ``on_lost``; on failure nothing changes (the deadlines
        stand, and the timer drops the slots when they pass).

        :raises StoreError: the renewal failed.
        """
        sent = self.clock()
        try:
            got = await self.leases.renew(self.worker)
        except StoreError:
            self.failures += 1
            raise
        self.renewals += 1
        self.latency = self.clock() - sent
        gone = sorted(s for s, e in self._epochs.items() if got.get(s) != e)
        kept = {s: e for s, e in got.items() if self._epochs.get(s) == e}
        back = {s: e for s, e in got.items() if s not in kept and self._expired.get(s) == e}
        strays = sorted(s for s in got if s not in kept and s not in back)
        if self.on_regained is None:
            strays += sorted(back)
            back = {}
        for slot in back:
            del self._expired[slot]
        self._hold({**kept, **back}, sent)
        self._drop(gone)
        self._expire()  # a renewal that came back too late extends nothing that had already passed
        back = {s: e for s, e in back.items() if s in self._epochs}
        if back and self.on_regained is not None:
            self.on_regained(back)
        if strays:  # leased to this worker on the server but not held here (a release that failed)
            try:
                await self.leases.release(self.worker, strays)
            except StoreError as exc:
                logger.debug("worker %s: releasing stray leases %s failed: %s", self.worker, strays, exc)
        return dict(self._epochs)

    async def run(self) -> None:
        """Renew every ``renew_every`` seconds until cancelled; a failed renewal is logged and the
        next one is tried on time."""
        while True:
            started = self.clock()
            try:
                await self.renew()
            except StoreError as exc:
                logger.warning("worker %s: lease renewal failed: %s", self.worker, exc)
            await asyncio.sleep(max(0.0, started + self.renew_every - self.clock()))

    def close(self) -> None:
        """Stop the deadline timer (the slots stay listed as held until their deadlines: call
        :meth:`release` to give them back)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------ deadlines

    def forget(self, slots: Iterable[int]) -> None:
        """Stop holding ``slots`` without telling the database or ``on_lost`` (the worker learnt
        otherwise that they are not its own: a write of theirs was fenced)."""
        for slot in slots:
            if self._epochs.pop(slot, None) is not None:
                self.lost += 1
            self._deadlines.pop(slot, None)
            self._expired.pop(slot, None)
        self._arm()

    def _drop(self, slots: list[int], *, expired: bool = False) -> None:
        if not slots:
            return
        epochs = {slot: self._epochs.pop(slot) for slot in slots}
        for slot in slots:
            self._deadlines.pop(slot, None)
        self.lost += len(slots)
        self._arm()
        if expired and self.on_expired is not None:
            self._expired.update(epochs)
            self.on_expired(epochs)
        else:
            self.on_lost(slots)

    def _expire(self) -> None:
        now = self.clock()
        self._drop(sorted(s for s, d in self._deadlines.items() if d <= now), expired=True)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._deadlines:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(max(0.0, min(self._deadlines.values()) - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._expire()
        if self._timer is None:
            self._arm()
