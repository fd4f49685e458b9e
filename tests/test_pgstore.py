"""The PostgreSQL store (fleetven/store/postgres.py) on a real, throwaway PostgreSQL server:
the same state as SQLite for the same writes, batched commits, the background committer, a failed
commit kept queued, per-VEN sample sequence numbers, the schema."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from _pgsync import TEST_SLOTS, SyncPostgresStore, test_slot_of
from _store_ops import STORE_OP_VENS, STORE_OPS, apply_store_op
from hypothesis import HealthCheck, given, settings

from fleetven.exceptions import StoreError
from fleetven.store import Sample, SQLiteStore
from fleetven.store.leases import Leases
from fleetven.store.postgres import PG_SCHEMA_VERSION, PostgresStore, migrate
from fleetven.testing.proxy import FaultProxy

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def _owning_store(dsn: str, worker: str = "w1", **options: Any) -> PostgresStore:
    """A store whose worker holds every slot of the test fleet (the leases last an hour)."""
    store = await PostgresStore.open(dsn, worker=worker, slot_of=test_slot_of, **options)
    leases = Leases(dsn, lease=3600.0)
    await leases.create(TEST_SLOTS)
    for slot, epoch in (await leases.acquire(worker)).items():
        store.hold(slot, epoch)
    await leases.close()
    return store


# ------------------------------------------------------------------ the same state as SQLite

@pytest.fixture
def sync_pg(pg_dsn: str) -> Any:
    store = SyncPostgresStore.make(pg_dsn)
    yield store
    store.close()


@given(STORE_OPS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_postgresql_and_sqlite_hold_the_same_state(tmp_path: Path, sync_pg: SyncPostgresStore,
                                                   ops: list[tuple[str, str, str, int]]) -> None:
    path = tmp_path / "alike.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    sqlite = SQLiteStore(path)
    try:
        for ven in STORE_OP_VENS:  # each example starts from nothing
            sync_pg.forget_ven(ven)
        sync_pg.flush()
        for op, ven, key, n in ops:
            for s in (sqlite, sync_pg):
                apply_store_op(s, op, ven, key, n)
        assert sync_pg.load() == sqlite.load()
    finally:
        sqlite.close()


# ------------------------------------------------------------------ batching

async def test_a_batch_of_thousands_of_rows_is_a_few_statements(pg_dsn: str) -> None:
    store = await _owning_store(pg_dsn)
    try:
        for i in range(1000):
            ven = f"ven-{i:04d}"
            store.put_registration(ven, {"ven_id": ven})
            store.put_event(ven, "ev", {"opt": "optIn"})
            store.add_sample(ven, "rr", Sample("r", T0, float(i), 1))
        await store.commit()
        # BEGIN, the fence, 3 upserts (registrations, events, last sample numbers), the samples, COMMIT
        assert store.statements == 7 and store.flushes == 1 and store.writes == 4000
        before = store.statements
        for i in range(1000):
            store.ack_samples(f"ven-{i:04d}", "rr", [Sample("r", T0, 0.0)])
            store.drop_event(f"ven-{i:04d}", "ev")
        await store.commit()
        assert store.statements - before == 5  # BEGIN, fence, 2 deletes, COMMIT
        state = await store.aload()
        assert len(state) == 1000 and all(s.events == {} and s.samples == {} for s in state.values())
    finally:
        await store.aclose()


async def test_run_commits_in_the_background_and_flush_asks_for_it_now(pg_dsn: str) -> None:
    store = await _owning_store(pg_dsn, commit_interval=0.2)
    reader = await _owning_store(pg_dsn, worker="w1")
    task = asyncio.create_task(store.run())
    try:
        store.put_event("a", "e1", {"n": 1})
        store.put_event("a", "e2", {"n": 2})  # the same loop iteration: the same transaction
        await asyncio.sleep(0.6)
        assert store.pending == 0 and store.flushes == 1
        assert (await reader.aload())["a"].events == {"e1": {"n": 1}, "e2": {"n": 2}}
        # with a long interval, a write waits for it; flush() cuts it short
        store.commit_interval = 30.0
        store.put_event("a", "e3", {"n": 3})
        await asyncio.sleep(0.3)
        assert store.pending == 1
        store.flush()
        for _ in range(100):
            if store.pending == 0:
                break
            await asyncio.sleep(0.02)
        assert store.pending == 0 and store.flushes == 2
        assert "e3" in (await reader.aload())["a"].events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.aclose()
        await reader.aclose()


async def test_a_failed_commit_keeps_its_changes_queued_in_order(pg_dsn: str, postgresql_server: Any) -> None:
    async with FaultProxy(postgresql_server.host, postgresql_server.port) as proxy:
        proxied = pg_dsn.replace(f":{postgresql_server.port}/", f":{proxy.port}/")
        store = await _owning_store(proxied, timeout=0.5)
        try:
            store.put_request("a", "rr", {"n": 1})
            store.add_sample("a", "rr", Sample("r", T0, 1.0))
            store.put_event("a", "e", {"n": 1})
            proxy.set_mode("blackhole")  # the database stops answering: the commit hangs, then times out
            failing = asyncio.create_task(store.commit())
            await asyncio.sleep(0.2)
            # written while that commit hangs: a drop that covers its sample, a newer value of its event
            store.drop_request("a", "rr")
            store.put_event("a", "e", {"n": 2})
            store.put_event("a", "e2", {"n": 3})
            with pytest.raises(StoreError, match="cannot write"):
                await failing
            assert store.flushes == 0
            proxy.set_mode("refuse")  # unreachable: fails at once, and the queue stays as it is
            with pytest.raises(StoreError, match="cannot write"):
                await store.commit()
            proxy.set_mode("pass")
            await store.commit()
            state = (await store.aload())["a"]
            assert state.requests == {} and state.samples == {}
            assert state.events == {"e": {"n": 2}, "e2": {"n": 3}}
        finally:
            await store.aclose()


# ------------------------------------------------------------------ sample sequence numbers

async def test_sample_numbers_are_the_vens_and_the_next_owner_loads_the_last(pg_dsn: str) -> None:
    store = await _owning_store(pg_dsn)
    try:
        for i in range(5):
            store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=i), float(i), i + 1))
            store.add_sample("b", "rr", Sample("r", T0 + timedelta(seconds=i), float(i), i + 11))
        await store.commit()
        store.ack_samples("a", "rr", [Sample("r", T0 + timedelta(seconds=i), 0.0) for i in range(5)])
        await store.commit()
        store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=10), 10.0, 6))
        store.add_sample("a", "other", Sample("r", T0 + timedelta(seconds=11), 11.0, 7))
        await store.commit()
        assert [s[0] for s in await store.sequences("b")] == [11, 12, 13, 14, 15]
        assert [(s[0], s[1]) for s in await store.sequences("a")] == [(6, "rr"), (7, "other")]
    finally:
        await store.aclose()
    # another worker's store, after the VENs changed hands, loads what they had numbered
    leases = Leases(pg_dsn)
    assert await leases.release("w1", range(TEST_SLOTS)) == list(range(TEST_SLOTS))
    await leases.close()
    other = await _owning_store(pg_dsn, worker="w2")
    assert set(other.epochs.values()) == {2}
    try:
        states = await other.aload()
        assert states["a"].last_seq == 7 and states["b"].last_seq == 15
        assert [s.seq for s in states["a"].samples["rr"]] == [6]
        other.ack_samples("b", "rr", [Sample("r", T0 + timedelta(seconds=i), 0.0) for i in range(5)])
        await other.commit()
        assert (await other.aload())["b"].last_seq == 15  # every sample acknowledged: the number stays
    finally:
        await other.aclose()


# ------------------------------------------------------------------ committed(): joining the next batch

@asynccontextmanager
async def committing(store: PostgresStore) -> AsyncIterator[PostgresStore]:
    """The store with its background committer (:meth:`PostgresStore.run`) running; closed after."""
    runner = asyncio.create_task(store.run())
    try:
        yield store
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await store.aclose()


async def test_committed_waits_for_the_committers_next_batch_and_asks_for_none(pg_dsn: str) -> None:
    async with committing(await _owning_store(pg_dsn, commit_interval=0.3)) as store:
        await store.committed()  # nothing queued: at once
        store.add_sample("a", "rr", Sample("r", T0, 1.0, 1))
        waiters = [asyncio.create_task(store.committed()) for _ in range(20)]
        await asyncio.sleep(0.1)
        assert not any(w.done() for w in waiters) and store.flushes == 0  # within the commit interval
        await asyncio.wait_for(asyncio.gather(*waiters), 5.0)
        assert store.flushes == 1  # twenty waiters, one transaction
        assert [s[0] for s in await store.sequences("a")] == [1]


async def test_committed_waits_through_a_failed_commit(pg_dsn: str, postgresql_server: Any) -> None:
    async with FaultProxy(postgresql_server.host, postgresql_server.port) as proxy:
        proxied = pg_dsn.replace(f":{postgresql_server.port}/", f":{proxy.port}/")
        async with committing(await _owning_store(proxied, commit_interval=0.0, timeout=0.5)) as store:
            proxy.set_mode("blackhole")
            store.add_sample("a", "rr", Sample("r", T0, 1.0, 1))
            waiter = asyncio.create_task(store.committed())
            await asyncio.sleep(1.5)  # commits time out and are retried
            assert not waiter.done() and store.flushes == 0
            proxy.set_mode("pass")
            await asyncio.wait_for(waiter, 15.0)
            assert [s[0] for s in await store.sequences("a")] == [1]


async def test_committed_waits_for_a_suspended_slot_and_is_released_when_it_is_lost(pg_dsn: str) -> None:
    async with committing(await _owning_store(pg_dsn, commit_interval=0.0)) as store:
        slot_a, slot_b = test_slot_of("a"), test_slot_of("b")
        assert slot_a != slot_b
        epoch_a = store.epochs[slot_a]
        store.suspend([slot_a])
        store.add_sample("a", "rr", Sample("r", T0, 1.0, 1))
        first = asyncio.create_task(store.committed())
        await asyncio.sleep(0.2)
        assert not first.done()  # held back with its slot
        store.hold(slot_a, epoch_a)  # the lease turned out fine: what was kept is committed
        await asyncio.wait_for(first, 5.0)
        assert [s[0] for s in await store.sequences("a")] == [1]
        store.suspend([slot_a])
        store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=1), 2.0, 2))
        store.add_sample("b", "rr", Sample("r", T0, 1.0, 1))
        second = asyncio.create_task(store.committed())
        await asyncio.sleep(0.2)
        assert not second.done() and [s[0] for s in await store.sequences("b")] == [1]
        store.release([slot_a])  # lost: its change is discarded, and nobody waits for it any longer
        await asyncio.wait_for(second, 5.0)
        assert [s[0] for s in await store.sequences("a")] == [1]


async def test_committed_and_closing(pg_dsn: str) -> None:
    store = await _owning_store(pg_dsn, commit_interval=10.0)
    store.add_sample("a", "rr", Sample("r", T0, 1.0, 1))
    waiter = asyncio.create_task(store.committed())
    await asyncio.sleep(0)
    await store.aclose()  # its last commit settles the waiter
    await asyncio.wait_for(waiter, 5.0)
    with pytest.raises(StoreError, match="closed"):
        await store.committed()


async def test_a_closed_store_reopens_on_the_same_database_with_its_leases(pg_dsn: str) -> None:
    store = await _owning_store(pg_dsn)
    store.put_event("a", "e", {"n": 1})
    await store.aclose()
    with pytest.raises(StoreError, match="areopen"):
        store.reopen()
    await store.areopen()
    assert not store.closed and set(store.epochs.values()) == {1}
    store.put_event("a", "e2", {"n": 2})
    await store.commit()
    assert set((await store.aload())["a"].events) == {"e", "e2"}
    await store.aclose()
    bare = PostgresStore(await asyncpg.create_pool(pg_dsn, min_size=1, max_size=1), worker="w1",
                         slot_of=test_slot_of)  # made from a pool: no URL to connect to again
    await bare.aclose()
    with pytest.raises(StoreError, match="made from a pool"):
        await bare.areopen()


# ------------------------------------------------------------------ the interface's edges

async def test_the_synchronous_load_and_a_lossy_close_are_refused(pg_dsn: str) -> None:
    store = await _owning_store(pg_dsn)
    store.put_event("a", "e", {})
    with pytest.raises(StoreError, match="aload"):
        store.load()
    with pytest.raises(StoreError, match="aclose"):
        store.close()
    await store.aclose()
    assert store.closed
    with pytest.raises(StoreError, match="closed"):
        store.put_event("a", "e2", {})
    fenced: list[list[int]] = []
    again = await _owning_store(pg_dsn, on_fenced=fenced.append)
    try:
        assert (await again.aload())["a"].events == {"e": {}}  # aclose committed it
        # changes queued for a slot given up are refused, and the load of the others goes on
        gone = test_slot_of("lost-ven")
        again.release([gone])
        again.put_event("lost-ven", "e", {})
        assert "lost-ven" not in await again.aload()
        assert fenced == [[gone]] and again.fenced == 1
        assert list(await again.aload([test_slot_of("a")])) == ["a"]
        assert await again.aload([(test_slot_of("a") + 1) % TEST_SLOTS]) == {}
    finally:
        await again.aclose()


async def test_the_schema_is_made_once_and_a_newer_one_refused(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await migrate(conn) == 0
        assert await asyncio.gather(migrate(conn), return_exceptions=False) == [PG_SCHEMA_VERSION]
        await conn.execute("UPDATE fleetven.meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(StoreError, match="schema version 99, newer"):
            await migrate(conn)
    finally:
        await conn.close()


def test_two_workers_migrating_at_once_make_one_schema(pg_dsn: str) -> None:
    async def both() -> list[int]:
        conns = [await asyncpg.connect(pg_dsn) for _ in range(3)]
        try:
            return list(await asyncio.gather(*(migrate(c) for c in conns)))
        finally:
            for c in conns:
                await c.close()

    started = time.monotonic()
    assert sorted(asyncio.run(both())) == [0, PG_SCHEMA_VERSION, PG_SCHEMA_VERSION]
    assert time.monotonic() - started < 30
