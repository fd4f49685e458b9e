"""Slot leases (fleetven/store/leases.py) and the fencing of the PostgreSQL store, on a real
PostgreSQL server: acquisition, renewal, release; competing workers (tasks and processes) never
holding one slot at once; an expired lease taken over, with the old owner's writes refused; the
keeper stopping a slot before the server can expire it when its renewals cannot get through."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from _pgsync import test_slot_of

from fleetven.exceptions import ConfigurationError, FencedWrite
from fleetven.store import Sample
from fleetven.store.leases import LeaseKeeper, Leases, boottime
from fleetven.store.postgres import _FENCE, PostgresStore, migrate
from fleetven.testing.proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[1]


async def _leases(dsn: str, slots: int = 8, **options: Any) -> Leases:
    leases = Leases(dsn, **options)
    await leases.create(slots)
    return leases


async def test_acquire_renew_release(pg_dsn: str) -> None:
    one = await _leases(pg_dsn, lease=30.0)
    two = Leases(pg_dsn, lease=30.0)
    try:
        assert await one.count() == 8
        assert await one.create(8) == 0  # idempotent
        with pytest.raises(ConfigurationError, match="cannot change"):
            await one.create(16)
        assert await one.acquire("w1", limit=3) == {0: 1, 1: 1, 2: 1}
        assert await two.acquire("w2", [2, 3, 4]) == {3: 1, 4: 1}  # 2 is w1's
        assert await two.acquire("w2") == {5: 1, 6: 1, 7: 1}
        assert await one.acquire("w1") == {}  # nothing left
        assert await one.renew("w1") == {0: 1, 1: 1, 2: 1}
        assert await one.release("w1", [1, 5]) == [1]  # 5 is not w1's to release
        assert await two.acquire("w2") == {1: 2}  # the epoch grows at every acquisition
        table = {s.slot: s for s in await one.slots()}
        assert [table[s].owner for s in range(8)] == ["w1", "w2", "w1", "w2", "w2", "w2", "w2", "w2"]
        assert all(s.held and 25 < s.remaining <= 30 for s in table.values())
        assert await one.workers(within=60) == ["w1", "w2"]
        assert one.statements == 12  # one round trip per call above (create: count and insert)
    finally:
        await one.close()
        await two.close()


async def test_an_expired_lease_is_not_renewed_and_goes_to_another_worker(pg_dsn: str) -> None:
    one = await _leases(pg_dsn, slots=2, lease=0.5)
    two = Leases(pg_dsn, lease=5.0)
    try:
        assert await one.acquire("w1") == {0: 1, 1: 1}
        assert await two.acquire("w2") == {}
        await asyncio.sleep(0.7)
        assert await one.renew("w1") == {}  # expired: a renewal does not bring it back
        assert await two.acquire("w2", [1]) == {1: 2}
        assert await one.acquire("w1") == {0: 2}  # w1 must take 0 again, at a new epoch
    finally:
        await one.close()
        await two.close()


async def test_competing_tasks_never_get_the_same_lease(pg_dsn: str) -> None:
    await (await _leases(pg_dsn, slots=16, lease=0.3)).close()
    taken: list[tuple[int, int, str]] = []

    async def worker(name: str) -> None:
        leases = Leases(pg_dsn, lease=0.3)
        try:
            for i in range(15):
                got = await leases.acquire(name, limit=3)
                taken.extend((slot, epoch, name) for slot, epoch in got.items())
                if i % 3 == 0:
                    await leases.release(name, list(got)[:1])
                await asyncio.sleep(0.03)
        finally:
            await leases.close()

    await asyncio.gather(*(worker(f"w{i}") for i in range(6)))
    pairs = [(slot, epoch) for slot, epoch, _ in taken]
    assert len(pairs) == len(set(pairs)), "one lease (slot, epoch) was handed to two acquisitions"
    assert len(taken) > 16  # slots did change hands (expiries and releases)
    for slot in range(16):  # each slot's epochs are exactly 1, 2, 3, ...: no acquisition lost or doubled
        epochs = sorted(e for s, e, _ in taken if s == slot)
        assert epochs == list(range(1, len(epochs) + 1))


_COMPETITOR = textwrap.dedent("""
    import asyncio, json, random, sys, time
    from fleetven.store.leases import LeaseKeeper, Leases, boottime

    async def main(dsn, name, seed, stall):
        rng = random.Random(seed)
        leases = Leases(dsn, lease=1.0, timeout=0.25)
        held = {}  # slot -> [epoch, start, end bound]
        log = []
        def lost(slots):
            for s in slots:
                epoch, start, end = held.pop(s)
                log.append([s, epoch, start, min(end, boottime())])
        keeper = LeaseKeeper(leases, name, renew_every=0.2, margin=0.3, on_lost=lost)
        def bounds():
            for s, (epoch, start, _) in list(held.items()):
                held[s] = [epoch, start, keeper.deadline(s)]
        stop = boottime() + 3.5
        stalled = False
        while boottime() < stop:
            try:
                for s, e in (await keeper.acquire(limit=rng.randint(1, 4))).items():
                    held[s] = [e, boottime(), keeper.deadline(s)]
                await keeper.renew()
                bounds()
            except Exception as exc:
                print("error", exc, file=sys.stderr)
            if rng.random() < 0.2 and held:
                gone = rng.sample(sorted(held), 1)
                for s in gone:
                    epoch, start, end = held.pop(s)
                    log.append([s, epoch, start, min(end, boottime())])
                await keeper.release(gone)
            if stall and not stalled and boottime() > stop - 2.5:
                stalled = True
                time.sleep(1.4)  # paused past the lease: its timers and renewals come late
                for s in sorted(held):  # the first thing it does on waking: ask, as before a request
                    if keeper.may_act(s):
                        print("acted", s, file=sys.stderr)
            await asyncio.sleep(0.05)
        for s in sorted(held):
            epoch, start, end = held.pop(s)
            log.append([s, epoch, start, min(end, boottime())])
        keeper.close()
        await leases.close()
        print(json.dumps(log))

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"))
""")


def test_two_worker_processes_never_hold_one_slot_at_the_same_time(pg_dsn: str) -> None:
    async def prepare() -> None:
        await (await _leases(pg_dsn, slots=6, lease=1.0)).close()

    asyncio.run(prepare())
    procs = [subprocess.Popen([sys.executable, "-c", _COMPETITOR, pg_dsn, f"w{i}", str(i), "1" if i == 0 else "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for i in range(2)]
    windows: list[tuple[int, int, float, float, str]] = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "acted" not in err
        windows.extend((s, e, start, end, f"w{i}") for s, e, start, end in json.loads(out))
    assert {w[4] for w in windows} == {"w0", "w1"}
    handovers = 0
    for slot in range(6):
        mine = sorted((w for w in windows if w[0] == slot), key=lambda w: w[2])
        for before, after in itertools.pairwise(mine):
            # the times are CLOCK_BOOTTIME, one clock for both processes of this machine
            assert before[3] <= after[2], f"slot {slot}: {before[4]} could act until {before[3]:.3f}, " \
                                          f"{after[4]} from {after[2]:.3f}"
            assert after[1] > before[1]
            handovers += before[4] != after[4]
    assert handovers >= 2  # the slots did move between the workers (the stall makes w0 lose its)


# ------------------------------------------------------------------ fencing

async def test_the_old_owners_writes_are_refused_after_a_takeover(pg_dsn: str) -> None:
    slot_a, slot_b = test_slot_of("a"), test_slot_of("b")
    assert slot_a != slot_b
    one = await _leases(pg_dsn, lease=0.5)
    two = Leases(pg_dsn, lease=30.0)
    old = await PostgresStore.open(pg_dsn, worker="w1", slot_of=test_slot_of)
    new = await PostgresStore.open(pg_dsn, worker="w2", slot_of=test_slot_of)
    try:
        got = await one.acquire("w1", [slot_a, slot_b])
        for slot, epoch in got.items():
            old.hold(slot, epoch)
        old.put_event("a", "e", {"by": "w1"})
        await old.commit()
        await asyncio.sleep(0.6)  # w1 paused past its lease; w2 takes slot a over
        taken = await two.acquire("w2", [slot_a])
        assert taken == {slot_a: got[slot_a] + 1}
        new.hold(slot_a, taken[slot_a])
        assert (await new.aload([slot_a]))["a"].events == {"e": {"by": "w1"}}  # what w1 committed in time
        new.put_event("a", "e", {"by": "w2"})
        await new.commit()
        # w1 wakes and writes for a (taken) and b (expired, not taken): both refused, nothing written
        old.put_event("a", "e", {"by": "w1 again"})
        old.add_sample("a", "rr", Sample("r", datetime.now(timezone.utc), 1.0))
        old.put_event("b", "e", {"by": "w1 again"})
        with pytest.raises(FencedWrite, match="refused") as info:
            await old.commit()
        assert info.value.fields["slots"] == sorted([slot_a, slot_b]) and info.value.fields["rows"] == 3
        assert old.fenced == 3 and old.refusals == 1 and old.epochs == {}
        state = await new.aload()
        assert state["a"].events == {"e": {"by": "w2"}} and state["a"].samples == {} and "b" not in state
        # refused once, refused for good: the store no longer writes for those slots
        old.put_event("b", "e", {"by": "w1"})
        with pytest.raises(FencedWrite):
            await old.commit()
        assert old.fenced == 4
    finally:
        await old.aclose()
        await new.aclose()
        await one.close()
        await two.close()


async def test_writes_under_an_ended_lease_are_refused_even_when_the_worker_holds_the_slot_again(
        pg_dsn: str) -> None:
    slot = test_slot_of("a")
    leases = await _leases(pg_dsn, lease=0.4)
    store = await PostgresStore.open(pg_dsn, worker="w1", slot_of=test_slot_of)
    try:
        store.hold(slot, (await leases.acquire("w1", [slot]))[slot])
        await asyncio.sleep(0.5)
        # the lease ended and the same worker took the slot again, at a new epoch, which the store
        # was not told of: what it still writes under the old epoch is refused
        assert await leases.acquire("w1", [slot]) == {slot: 2}
        store.put_event("a", "e", {"epoch": 1})
        with pytest.raises(FencedWrite):
            await store.commit()
        # told of the new lease after losing the old one, it commits nothing queued under the old one
        store.hold(slot, 1)
        store.put_event("a", "stale", {"epoch": 1})
        assert store.release([slot]) == 1 and store.pending == 0
        store.hold(slot, 2)
        store.put_event("a", "fresh", {"epoch": 2})
        await store.commit()
        assert (await store.aload())["a"].events == {"fresh": {"epoch": 2}}
        assert store.fenced == 2
    finally:
        await store.aclose()
        await leases.close()


async def test_a_batch_commits_the_slots_still_held_and_refuses_the_others(pg_dsn: str) -> None:
    slot_a, slot_b = test_slot_of("a"), test_slot_of("b")
    leases = await _leases(pg_dsn, lease=30.0)
    fenced: list[list[int]] = []
    store = await PostgresStore.open(pg_dsn, worker="w1", slot_of=test_slot_of, commit_interval=0.0,
                                     on_fenced=fenced.append)
    task = asyncio.create_task(store.run())
    try:
        store.hold(slot_a, (await leases.acquire("w1", [slot_a]))[slot_a])
        store.put_event("a", "e", {})
        store.put_event("b", "e", {})  # slot b was never acquired
        for _ in range(100):
            if fenced:
                break
            await asyncio.sleep(0.02)
        assert fenced == [[slot_b]]
        assert list(await store.aload()) == ["a"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.aclose()
        await leases.close()


async def test_a_write_in_progress_holds_off_the_takeover(pg_dsn: str) -> None:
    # The fence locks the slot row until the write commits: an acquisition meanwhile skips the slot,
    # so the epoch cannot change under a write that the fence let through.
    leases = await _leases(pg_dsn, slots=1, lease=0.4)
    other = Leases(pg_dsn, lease=5.0)
    writer = await asyncpg.connect(pg_dsn)
    try:
        assert await leases.acquire("w1") == {0: 1}
        tx = writer.transaction()
        await tx.start()
        assert [r[0] for r in await writer.fetch(_FENCE, [0], [1], "w1")] == [0]
        await asyncio.sleep(0.5)  # the lease expires while the write is still open
        assert await other.acquire("w2") == {}  # skipped, not waited for
        await tx.commit()
        assert await other.acquire("w2") == {0: 2}
    finally:
        await writer.close()
        await leases.close()
        await other.close()


# ------------------------------------------------------------------ the keeper

def test_the_keeper_refuses_timings_that_cannot_keep_a_lease() -> None:
    leases = Leases("postgresql://nowhere/x", lease=10.0, timeout=2.0)
    with pytest.raises(ConfigurationError, match="renew_every"):
        LeaseKeeper(leases, "w", renew_every=6.0, margin=2.5, on_lost=print)  # 6 + 2 >= 10 - 2.5
    with pytest.raises(ConfigurationError):
        LeaseKeeper(leases, "w", renew_every=1.0, margin=0.0, on_lost=print)
    LeaseKeeper(leases, "w", renew_every=3.0, margin=2.0, on_lost=print)


async def test_the_keeper_renews_and_keeps_its_slots(pg_dsn: str) -> None:
    await (await _leases(pg_dsn, slots=4)).close()
    lost: list[list[int]] = []
    keeper = LeaseKeeper(Leases(pg_dsn, lease=1.0, timeout=0.3), "w1", renew_every=0.2, margin=0.3,
                         on_lost=lost.append)
    sent = boottime()
    assert await keeper.acquire(limit=2) == {0: 1, 1: 1}
    first = keeper.deadline(0)
    assert first is not None and sent + 0.7 - 0.05 < first <= boottime() + 0.7
    task = asyncio.create_task(keeper.run())
    try:
        await asyncio.sleep(1.5)  # longer than the lease: only renewals keep it
        assert lost == [] and keeper.held == {0: 1, 1: 1} and keeper.renewals >= 5 and keeper.gained == 2
        assert keeper.may_act(0) and not keeper.may_act(2)
        later = keeper.deadline(0)
        assert later is not None and later > first + 0.5
        assert await keeper.release([1]) == [1]
        assert keeper.held == {0: 1} and not keeper.may_act(1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        keeper.close()
        await keeper.leases.close()


@pytest.mark.parametrize("fault", ["blackhole", "refuse"])
async def test_the_keeper_stops_before_the_server_can_expire_the_lease(
        pg_dsn: str, postgresql_server: Any, fault: str) -> None:
    await (await _leases(pg_dsn, slots=4)).close()
    lease, margin = 1.5, 0.4
    async with FaultProxy(postgresql_server.host, postgresql_server.port) as proxy:
        proxied = pg_dsn.replace(f":{postgresql_server.port}/", f":{proxy.port}/")
        lost_at: dict[int, float] = {}

        def on_lost(slots: list[int]) -> None:
            for s in slots:
                lost_at[s] = boottime()

        keeper = LeaseKeeper(Leases(proxied, lease=lease, timeout=0.3), "w1", renew_every=0.3, margin=margin,
                             on_lost=on_lost)
        watcher = Leases(pg_dsn, lease=5.0)  # straight to the server, past the proxy
        task = asyncio.create_task(keeper.run())
        try:
            assert await keeper.acquire([0, 1]) == {0: 1, 1: 1}
            await asyncio.sleep(0.5)
            proxy.set_mode(fault)  # the worker's connection to PostgreSQL hangs, or is cut off
            before = boottime()
            remaining = {s.slot: s.remaining for s in await watcher.slots()}
            # the last renewal that got through set these; the server can expire them no earlier
            expiry = {s: before + remaining[s] for s in (0, 1)}
            for _ in range(300):
                if len(lost_at) == 2:
                    break
                await asyncio.sleep(0.01)
            assert sorted(lost_at) == [0, 1] and keeper.held == {} and not keeper.may_act(0)
            for s in (0, 1):
                assert lost_at[s] < expiry[s], f"slot {s} dropped at {lost_at[s]:.3f}, its lease expired at " \
                                               f"{expiry[s]:.3f}"
                assert expiry[s] - lost_at[s] > margin / 4  # and well before, not by luck
            assert keeper.failures >= 1
            # the server does expire them: another worker takes them over, at the next epoch
            await asyncio.sleep(max(0.0, max(expiry.values()) - boottime()) + 0.05)
            assert await watcher.acquire("w2", [0, 1]) == {0: 2, 1: 2}
            proxy.set_mode("pass")  # healed: w1's renewal finds nothing of its own
            assert await keeper.renew() == {}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            keeper.close()
            await keeper.leases.close()
            await watcher.close()


async def test_a_renewal_that_finds_a_slot_taken_drops_it_at_once(pg_dsn: str) -> None:
    leases = await _leases(pg_dsn, slots=2, lease=1.0, timeout=0.3)
    lost: list[list[int]] = []
    keeper = LeaseKeeper(leases, "w1", renew_every=0.2, margin=0.3, on_lost=lost.append)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await migrate(conn)
        assert await keeper.acquire() == {0: 1, 1: 1}
        # an operator (or a bug) hands slot 1 to someone else: the next renewal tells
        await conn.execute("UPDATE fleetven.slots SET owner = 'w9', epoch = epoch + 1 WHERE slot = 1")
        assert await keeper.renew() == {0: 1}
        assert lost == [[1]] and keeper.lost == 1
    finally:
        keeper.close()
        await conn.close()
        await leases.close()
