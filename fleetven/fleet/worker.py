"""One worker of a fleet run by several processes: it owns the slots it can lease, and runs their VENs.

A fleet on PostgreSQL (``fleetven fleet create`` and ``fleetven fleet import``) holds its slots,
its VEN identities and every VEN's durable state in the database. A :class:`Worker` joins it:

* every ``renew_every`` seconds its :class:`~fleetven.store.leases.LeaseKeeper` renews the
  leases it holds (which is also its heartbeat), and the worker **balances**: from the lease table
  and the workers seen lately it computes every live worker's fair share
  (:func:`~fleetven.fleet.slots.plan_handover`), takes free slots (and those of workers gone
  silent) up to its own, and hands back those over it;
* taking a slot is: acquire its lease (a new epoch), read its VENs' identities and state, and add
  them to the worker's :class:`~fleetven.fleet.core.Fleet`, which resumes them (no new
  registration) within ``resume_within`` seconds;
* handing a slot back is: close the gate for its VENs (nothing more is written to the VTN),
  wait for their requests in flight, drop them, commit their state, release the lease;
* every request a VEN makes passes the fleet's **gate**, which lets it go only while the worker
  holds the VEN's slot and its deadline (:meth:`~fleetven.store.leases.LeaseKeeper.may_act`) has
  not passed;
* when a deadline passes (the database is unreachable) the slot is **suspended**: the gate is
  closed, the VENs stay in memory and keep their report samples, their writes stay queued; if the
  worker gets the lease back at the very next epoch (no one owned it in between) they go on as if
  nothing happened, and otherwise they are dropped and their queued writes discarded;
* when a renewal or a write says that the slot is someone else's now, its VENs are dropped at once.

Why no VTN sees two workers act as one VEN is in ``docs/leases.rst``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from fleetven._version import __version__
from fleetven.exceptions import ConfigurationError, StoreError
from fleetven.fleet.core import Fleet
from fleetven.fleet.slots import plan_handover, slot_of
from fleetven.http.transport import Transport
from fleetven.store.identities import Identities, Identity
from fleetven.store.leases import LeaseKeeper, Leases
from fleetven.store.postgres import PostgresStore

__all__ = ("Worker", "WorkerStats", "FleetFactory", "default_worker_name")

logger = logging.getLogger("fleetven.worker")


class FleetFactory(Protocol):
    """Makes the worker's fleet (handlers and reports added, no VEN): called once, with the keyword
    arguments the worker needs it to take (``store``, ``gate``, ``transport_factory``)."""

    def __call__(self, **kwargs: Any) -> Fleet: ...


def default_worker_name() -> str:
    """``<host name>-<process id>``: distinct for every process of every machine."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(slots=True)
class WorkerStats:
    """What a worker did so far (its metrics).

    :ivar slots: slots held now. :ivar suspended: slots whose lease the worker cannot prove now.
    :ivar vens: VENs run now. :ivar gained: slots taken. :ivar handed_back: slots handed back
        gracefully. :ivar lost: slots lost (to another worker, or a fenced write).
    :ivar resumed: suspended slots taken back at the next epoch, their VENs kept.
    :ivar renewals: successful lease renewals. :ivar renewal_failures: failed ones.
    :ivar renewal_latency: seconds the last successful renewal took.
    :ivar fenced: queued writes refused or discarded because their slot's lease was not current.
    :ivar balances: balancing rounds run. :ivar balance_failures: rounds the database failed.
    :ivar statements: SQL statements sent to the database (state commits and lease statements).
    """

    slots: int = 0
    suspended: int = 0
    vens: int = 0
    gained: int = 0
    handed_back: int = 0
    lost: int = 0
    resumed: int = 0
    renewals: int = 0
    renewal_failures: int = 0
    renewal_latency: float = 0.0
    fenced: int = 0
    balances: int = 0
    balance_failures: int = 0
    statements: int = 0


class Worker:
    """A worker process's share of a fleet on PostgreSQL (see the module docstring).

    :param dsn: the ``postgresql://`` URL of the fleet's database (``fleetven fleet create`` made it).
    :param fleet_factory: makes the worker's :class:`~fleetven.fleet.core.Fleet` (the VTN, TLS and
        signing, handlers and reports; no VENs): called as ``fleet_factory(store=..., gate=...,
        transport_factory=...)``.
    :param name: this worker's name, unique among the fleet's workers (:func:`default_worker_name`).
    :param lease: seconds a lease lasts on the database's clock (15).
    :param renew_every: seconds between renewals, and between balancing rounds (3).
    :param margin: seconds the worker stops acting before the earliest moment its lease can expire
        on the server (3); see :class:`~fleetven.store.leases.LeaseKeeper`.
    :param statement_timeout: seconds one lease statement may take (2).
    :param resume_within: the VENs of a slot taken over resume within this many seconds (1, or the
        renewal period if shorter).
    :param drain_timeout: seconds a graceful hand-back waits for the slot's requests in flight
        (the fleet's request timeout by default).
    :raises ConfigurationError: timings that cannot keep a lease.
    """

    def __init__(self, dsn: str, fleet_factory: FleetFactory, *, name: str | None = None, lease: float = 15.0,
                 renew_every: float = 3.0, margin: float = 3.0, statement_timeout: float = 2.0,
                 resume_within: float | None = None, drain_timeout: float | None = None) -> None:
        self.dsn = dsn
        self.name = name or default_worker_name()
        self.fleet_factory = fleet_factory
        self.leases = Leases(dsn, lease=lease, timeout=statement_timeout)
        self.keeper = LeaseKeeper(self.leases, self.name, on_lost=self._on_lost, on_expired=self._on_expired,
                                  on_regained=self._on_regained, renew_every=renew_every, margin=margin)
        self.resume_within = min(1.0, renew_every) if resume_within is None else float(resume_within)
        self.drain_timeout = drain_timeout
        self.slots = 0
        self.stats = WorkerStats()
        self._slot_of: Callable[[str], int] | None = None
        self._fleet: Fleet | None = None
        self._store: PostgresStore | None = None
        self._identities: Identities | None = None
        self._ven_slot: dict[str, int] = {}  # every VEN run, with its slot
        self._by_slot: dict[int, set[str]] = {}
        self._draining: set[int] = set()
        self._suspended: dict[int, int] = {}  # slot -> the epoch it was held at
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = asyncio.Lock()  # one balancing round or hand-back at a time
        self._reachable_since: float | None = None  # since when balancing rounds succeed
        self._started = False

    def __repr__(self) -> str:
        return f"<Worker {self.name!r} slots={len(self.keeper.held)} vens={len(self._ven_slot)}>"

    # ------------------------------------------------------------------ what it runs

    @property
    def fleet(self) -> Fleet:
        """The worker's fleet (after :meth:`start`)."""
        if self._fleet is None:
            raise RuntimeError("the worker has not started")
        return self._fleet

    @property
    def store(self) -> PostgresStore:
        """The worker's PostgreSQL store (after :meth:`start`)."""
        if self._store is None:
            raise RuntimeError("the worker has not started")
        return self._store

    @property
    def held(self) -> dict[int, int]:
        """The slots held now, with their lease epochs."""
        return dict(self.keeper.held)

    @property
    def suspended(self) -> dict[int, int]:
        """The slots whose lease the worker cannot prove now, with the epoch each was held at."""
        return dict(self._suspended)

    def slot_of(self, ven: str) -> int:
        """The slot of the VEN named ``ven`` in this fleet."""
        if self._slot_of is None:
            raise RuntimeError("the worker has not started")
        return self._slot_of(ven)

    def refresh_stats(self) -> WorkerStats:
        """:attr:`stats`, with the figures read from the lease keeper and the store brought up to date."""
        stats, keeper = self.stats, self.keeper
        stats.slots = len(keeper.held)
        stats.suspended = len(self._suspended)
        stats.vens = len(self._ven_slot)
        stats.renewals = keeper.renewals
        stats.renewal_failures = keeper.failures
        stats.renewal_latency = keeper.latency
        stats.statements = self.leases.statements
        if self._store is not None:
            stats.fenced = self._store.fenced
            stats.statements += self._store.statements
        return stats

    def _gate(self, ven: str | None) -> bool:
        slot = self._ven_slot.get(ven) if ven is not None else None
        return slot is not None and slot not in self._draining and self.keeper.may_act(slot)

    # ------------------------------------------------------------------ running

    async def open(self) -> Fleet:
        """Connect to the fleet's database and make the worker's fleet (holding no slot yet); return
        the fleet (to observe it before :meth:`start`). :meth:`start` calls it if need be.

        :raises ConfigurationError: the fleet was not created (no slots in the database).
        :raises StoreError: the database cannot be reached.
        """
        if self._fleet is not None:
            return self._fleet
        slots = await self.leases.count()
        if slots == 0:
            await self.leases.close()
            raise ConfigurationError("the fleet has no slots: create it first (fleetven fleet create)",
                                     setting="slots")
        self.slots = slots
        self._slot_of = functools.partial(slot_of, slots=slots)
        self._identities = await Identities.open(self.dsn, timeout=self.leases.timeout * 5)
        self._store = await PostgresStore.open(self.dsn, worker=self.name, slot_of=self._slot_of,
                                               on_fenced=self._on_fenced)
        agent = f"fleetven/{__version__} worker={self.name} pid={os.getpid()}"
        self._fleet = self.fleet_factory(store=self._store, gate=self._gate,
                                         transport_factory=functools.partial(Transport, user_agent=agent))
        if self.drain_timeout is None:
            self.drain_timeout = self._fleet.request_timeout
        return self._fleet

    async def start(self) -> None:
        """Join the fleet: :meth:`open`, then take a first share of slots and start renewing and
        balancing. Returns once the first balancing round is done (or failed: it is tried again).

        :raises ConfigurationError: the fleet was not created (no slots in the database).
        :raises StoreError: the database cannot be reached.
        """
        if self._started:
            return
        fleet = await self.open()
        await fleet.start(slots=())
        self._started = True
        logger.info("worker %s joins a fleet of %d slots", self.name, self.slots)
        try:
            await self.balance()
        except StoreError as exc:
            logger.warning("worker %s: the first balancing round failed: %s", self.name, exc)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.keeper.run()), loop.create_task(self._balancing())]

    async def _balancing(self) -> None:
        while True:
            await asyncio.sleep(self.keeper.renew_every)
            try:
                await self.balance()
            except StoreError as exc:
                self.stats.balance_failures += 1
                logger.warning("worker %s: balancing failed: %s", self.name, exc)

    async def stop(self, *, hand_back: bool = True) -> None:
        """Leave the fleet: hand every slot back (their VENs stop, their state is committed, the
        leases are released, so that other workers take them at once), then stop the fleet and close.

        :param hand_back: ``False`` stops at once without releasing (the leases then expire).
        """
        if not self._started:
            return
        self._started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if hand_back:
            try:
                await self.hand_back(sorted(self.keeper.held))
            except StoreError as exc:
                logger.warning("worker %s: handing its slots back failed (they will expire): %s", self.name, exc)
        self.keeper.close()
        for name in list(self._ven_slot):
            self._drop_ven(name)
        fleet = self.fleet
        await fleet.stop()
        if hand_back and self._identities is not None:
            try:
                await self._identities.forget_worker(self.name)
            except StoreError as exc:
                logger.debug("worker %s: removing its heartbeat failed: %s", self.name, exc)
        if self._identities is not None:
            await self._identities.close()
        await self.leases.close()
        logger.info("worker %s left the fleet", self.name)

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ balancing

    async def balance(self) -> None:
        """One balancing round: read the lease table and the live workers, take the slots of this
        worker's fair share (its own suspended ones first), hand back those over it.

        A worker that could not reach the database (a round failed) takes only free slots and its
        own back for two renewal periods once it can again, not those whose owner's lease expired:
        after an outage of the database every worker's leases expired together, and each must get
        its own back (with the VENs and samples it kept) before anyone takes another's.
        """
        loop = asyncio.get_running_loop()
        try:
            async with self._busy:
                await self._balance(settled=self._reachable_since is not None and
                                    loop.time() - self._reachable_since >= 2 * self.keeper.renew_every)
        except StoreError:
            self._reachable_since = None
            raise
        if self._reachable_since is None:
            self._reachable_since = loop.time()
        self.stats.balances += 1

    async def _balance(self, *, settled: bool = True) -> None:
        leases = self.leases
        table = await leases.slots()
        live = set(await leases.workers(within=leases.lease))
        live.add(self.name)
        held = self.keeper.held
        current: dict[int, str | None] = {}
        taken = [lease.slot for lease in table if lease.slot in self._suspended and lease.owner != self.name]
        if taken:  # suspended slots another worker owns now: ours are stale
            self.keeper.forget(taken)
            self._on_lost(taken)
        for lease in table:
            owner = lease.owner
            if owner == self.name:
                # held, suspended (ours to take back at the next epoch), or about to expire
                current[lease.slot] = owner if (lease.slot in held or lease.slot in self._suspended
                                                or lease.remaining > 0) else None
            elif owner is not None and (lease.remaining > 0 or owner in live or not settled):
                current[lease.slot] = owner  # a live worker's expired slot: its to take back first
            else:
                current[lease.slot] = None
        plan = plan_handover(current, live, self.slots)
        mine = plan.release.get(self.name, ())
        if mine:
            await self.hand_back(list(mine))
        wanted = [s for s in self._suspended if s not in held]
        wanted += plan.take.get(self.name, ())
        if wanted:
            await self._take(wanted)

    async def _take(self, slots: Iterable[int]) -> None:
        got = await self.keeper.acquire(sorted(set(slots)))
        if not got:
            return
        store, fleet = self.store, self.fleet
        fresh: list[int] = []
        for slot, epoch in got.items():
            was = self._suspended.pop(slot, None)
            if store.hold(slot, epoch):
                self.stats.resumed += 1
                logger.info("worker %s: slot %d back at epoch %d; its %d VENs go on", self.name, slot, epoch,
                            len(self._by_slot.get(slot, ())))
                continue
            if was is not None:
                logger.info("worker %s: slot %d was owned by another worker meanwhile; its VENs restart from "
                            "the store", self.name, slot)
            self._drop_slot(slot)  # what was kept in memory is stale
            fresh.append(slot)
        self.stats.gained += len(got)
        if not fresh:
            return
        try:
            states = await store.aload(fresh)
            identities = await self._identities_of(fresh)
        except StoreError:
            # The VENs cannot be loaded now: give the slots up again rather than hold them idle.
            for slot in fresh:
                store.release([slot])
            self.keeper.forget(fresh)
            raise
        for ident in identities:
            if ident.slot not in got or ident.name in fleet.vens:
                continue
            try:
                fleet.add_ven(ident.name, ident.ven_id, ident.cert, ident.key, state=states.get(ident.name),
                              resume_within=self.resume_within)
            except Exception as exc:  # a bad certificate of one VEN must not stop the others
                logger.error("worker %s: VEN %r of slot %d cannot run: %s", self.name, ident.name, ident.slot, exc)
                continue
            self._ven_slot[ident.name] = ident.slot
            self._by_slot.setdefault(ident.slot, set()).add(ident.name)
        logger.info("worker %s took slots %s (%d VENs)", self.name, _ranges(fresh),
                    sum(len(self._by_slot.get(s, ())) for s in fresh))

    async def _identities_of(self, slots: list[int]) -> list[Identity]:
        assert self._identities is not None
        identities = await self._identities.for_slots(slots)
        check = self.slot_of
        bad = [i.name for i in identities if check(i.name) != i.slot]
        if bad:
            raise StoreError(f"identities stored in the wrong slot (was the slot count changed?): {bad[:5]}")
        return identities

    async def hand_back(self, slots: list[int]) -> None:
        """Give ``slots`` back gracefully: close the gate for their VENs, wait (at most
        ``drain_timeout``) for their requests in flight, drop them, commit their state, release
        the leases.

        :raises StoreError: the state could not be committed or the release failed (the slots are
            dropped here all the same; their leases then expire).
        """
        slots = [s for s in slots if s in self.keeper.held]
        if not slots:
            return
        self._draining.update(slots)
        try:
            names = [n for s in slots for n in self._by_slot.get(s, ())]
            vens = self.fleet.vens
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self.drain_timeout or 0.0)
            while any(vens[n].busy for n in names if n in vens) and loop.time() < deadline:
                await asyncio.sleep(0.05)
            for slot in slots:
                self._drop_slot(slot)
            try:
                await self.store.commit()
            finally:
                self.store.release(slots)
                await self.keeper.release(slots)
        finally:
            self._draining.difference_update(slots)
        self.stats.handed_back += len(slots)
        logger.info("worker %s handed back slots %s (%d VENs)", self.name, _ranges(slots), len(names))

    # ------------------------------------------------------------------ losing slots

    def _drop_ven(self, name: str) -> None:
        slot = self._ven_slot.pop(name, None)
        if slot is not None:
            self._by_slot.get(slot, set()).discard(name)
        if self._fleet is not None and name in self._fleet.vens:
            self._fleet.drop_ven(name)

    def _drop_slot(self, slot: int) -> None:
        for name in list(self._by_slot.pop(slot, ())):
            self._drop_ven(name)

    def _on_expired(self, epochs: dict[int, int]) -> None:
        """Deadlines passed: the gate is closed for those slots already (the keeper no longer holds them)."""
        self._suspended.update(epochs)
        if self._store is not None:
            self._store.suspend(epochs)
        logger.warning("worker %s cannot prove its leases of slots %s: their VENs wait", self.name,
                       _ranges(sorted(epochs)))

    def _on_regained(self, epochs: dict[int, int]) -> None:
        """Suspended slots whose lease a renewal found never expired: their VENs go on."""
        for slot, epoch in epochs.items():
            self._suspended.pop(slot, None)
            if self._store is not None:
                self._store.hold(slot, epoch)
        self.stats.resumed += len(epochs)
        logger.info("worker %s proves its leases of slots %s again", self.name, _ranges(sorted(epochs)))

    def _on_lost(self, slots: list[int]) -> None:
        """Slots someone else may own now: stop their VENs at once, discard their queued writes."""
        self.stats.lost += len(slots)
        for slot in slots:
            self._suspended.pop(slot, None)
            self._drop_slot(slot)
        if self._store is not None:
            self._store.release(slots)
        logger.warning("worker %s lost slots %s", self.name, _ranges(slots))

    def _on_fenced(self, slots: list[int]) -> None:
        """A commit found slots whose lease is not current: they are someone else's."""
        self.keeper.forget(slots)
        self._on_lost(slots)


def _ranges(slots: Iterable[int]) -> str:
    """``0-3,7,9-10``: slot numbers, compactly."""
    out: list[str] = []
    run: list[int] = []
    for slot in sorted(slots):
        if run and slot == run[-1] + 1:
            run.append(slot)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [slot]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out) or "none"
