"""Slots (fleetven/fleet/slots.py): the stable slot of a VEN's name, fair shares, hand-over plans."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetven.exceptions import ConfigurationError
from fleetven.fleet.slots import (
    DEFAULT_SLOTS,
    MAX_SLOTS,
    Handover,
    check_slots,
    fair_shares,
    plan_handover,
    slot_of,
)

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["site-0000", "site-0001", "é-ven", "x", "ven with spaces", "草-7", "a" * 300]


def _independent(name: str, slots: int) -> int:
    """The documented definition, written out again byte by byte (not by calling the module)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    value = 0
    for byte in digest[:8]:
        value = value * 256 + byte
    return value % slots


# ------------------------------------------------------------------ the hash

def test_the_default_slot_count_is_1024() -> None:
    assert DEFAULT_SLOTS == 1024
    assert slot_of("site-0000") == slot_of("site-0000", 1024)


@pytest.mark.parametrize("slots", [1, 2, 7, 1000, 1024, 65_536, MAX_SLOTS])
def test_slot_of_is_the_documented_definition(slots: int) -> None:
    for name in NAMES:
        assert slot_of(name, slots) == _independent(name, slots), (name, slots)


def test_the_values_the_docs_give() -> None:
    # docs/scale-out.rst and the module docstring print these (also checked against PostgreSQL's
    # sha256() with the SQL they give): a change of definition must change the docs too.
    assert [slot_of(n, 1024) for n in ("site-0000", "site-0001", "é-ven")] == [816, 995, 411]
    assert [slot_of(n, 1000) for n in ("site-0000", "site-0001", "é-ven", "x")] == [408, 659, 19, 876]


def test_the_name_is_not_normalised() -> None:
    # "é" precomposed and decomposed are different UTF-8 bytes, so (almost surely) different slots;
    # what matters is that each is the hash of its own bytes.
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert slot_of(composed, MAX_SLOTS) == _independent(composed, MAX_SLOTS)
    assert slot_of(decomposed, MAX_SLOTS) == _independent(decomposed, MAX_SLOTS)
    assert slot_of(composed, MAX_SLOTS) != slot_of(decomposed, MAX_SLOTS)


def test_the_slot_is_the_same_in_a_new_process_with_another_hash_seed() -> None:
    names = [*NAMES, *(f"site-{i:05d}" for i in range(200))]
    code = ("import json, sys\nfrom fleetven.fleet.slots import slot_of\n"
            "names = json.load(sys.stdin)\nprint(json.dumps([[slot_of(n, 1024), hash(n)] for n in names]))")
    here = [slot_of(n, 1024) for n in names]
    hashes = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(names), capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=60, check=True)
        got = json.loads(proc.stdout)
        assert [slot for slot, _ in got] == here
        hashes.append([h for _, h in got])
    # the two processes really had different hash() salts: the slot did not depend on it
    assert hashes[0] != hashes[1]


def _chi_square(counts: Counter[int], slots: int, total: int) -> float:
    expected = total / slots
    return sum((counts.get(s, 0) - expected) ** 2 / expected for s in range(slots))


def test_ten_thousand_names_spread_evenly_over_1024_slots() -> None:
    total, slots = 10_000, 1024
    counts = Counter(slot_of(f"site-{i:06d}", slots) for i in range(total))
    # chi-square with 1023 degrees of freedom: mean 1023, standard deviation about 45.
    chi2 = _chi_square(counts, slots, total)
    assert 1023 - 5 * 45 < chi2 < 1023 + 5 * 45, chi2
    assert max(counts.values()) <= 30
    assert len(counts) >= 1000  # about 0.06 % of slots are expected to be empty at 9.8 names each
    # the same check refuses a skewed spread (half the slots unused), so it can fail
    skewed = Counter(slot_of(f"site-{i:06d}", slots) // 2 * 2 for i in range(total))
    assert _chi_square(skewed, slots, total) > 1023 + 5 * 45


@pytest.mark.parametrize("slots", [0, -1, MAX_SLOTS + 1, 1.0, 1024.0, "1024", True, None])
def test_a_bad_slot_count_is_refused(slots: object) -> None:
    with pytest.raises(ConfigurationError, match="slot count") as info:
        check_slots(slots)
    assert info.value.fields == {"setting": "slots"}
    with pytest.raises(ConfigurationError, match="slot count"):
        slot_of("site-0000", slots)  # type: ignore[arg-type]


def test_the_bounds_are_valid_slot_counts() -> None:
    assert check_slots(1) == 1
    assert check_slots(MAX_SLOTS) == MAX_SLOTS == 1_048_576


@pytest.mark.parametrize("name", ["", b"site-0000", None, 7, "bad-\ud800"])
def test_a_bad_name_is_refused(name: object) -> None:
    with pytest.raises(ConfigurationError, match="VEN name"):
        slot_of(name, 1024)  # type: ignore[arg-type]


# ------------------------------------------------------------------ fair shares

@given(slots=st.integers(1, 5000), workers=st.integers(1, 64))
def test_fair_shares_add_up_and_are_within_one(slots: int, workers: int) -> None:
    names = [f"w{i}" for i in range(workers)]
    shares = fair_shares(slots, names)
    assert sorted(shares) == sorted(names)
    assert sum(shares.values()) == slots
    assert all(abs(share - slots / workers) < 1 for share in shares.values())


def test_the_extra_slot_goes_to_who_holds_most_then_by_name() -> None:
    assert fair_shares(10, ["c", "a", "b"]) == {"a": 4, "b": 3, "c": 3}
    assert fair_shares(10, ["a", "b", "c"], holding={"c": 4, "b": 3, "a": 3}) == {"a": 3, "b": 3, "c": 4}
    assert fair_shares(1024, ["a", "b", "c"], holding={"a": 341, "b": 341, "c": 342}) == {
        "a": 341, "b": 341, "c": 342}


@pytest.mark.parametrize("workers", [[], ["a", "a"], ["a", ""], ["a", 3]])
def test_fair_shares_refuse_a_bad_worker_list(workers: list[object]) -> None:
    with pytest.raises(ConfigurationError):
        fair_shares(1024, workers)  # type: ignore[arg-type]


# ------------------------------------------------------------------ hand-over plans

def _apply(owners: dict[int, str | None], plan: Handover) -> int:
    """Carry out one plan the way cooperating workers would; the number of slots that moved."""
    moved = 0
    for worker, slots in plan.release.items():
        for slot in slots:
            assert owners.get(slot) == worker, "a worker was told to release a slot it does not own"
            owners[slot] = None
            moved += 1
    for worker, slots in plan.take.items():
        for slot in slots:
            assert owners.get(slot) is None, "a slot still owned was offered"
            owners[slot] = worker
    return moved


def _settle(owners: dict[int, str | None], workers: list[str], slots: int) -> tuple[int, int]:
    """Apply plans until one is settled: (plans that changed something, slots released)."""
    steps = released = 0
    while True:
        plan = plan_handover(owners, workers, slots)
        offered = [s for got in plan.take.values() for s in got]
        assert len(offered) == len(set(offered)), "a slot was offered to two workers"
        if plan.settled:
            return steps, released
        released += _apply(owners, plan)
        steps += 1
        assert steps <= 2, "the plan did not settle within two steps"


def _counts(owners: dict[int, str | None]) -> Counter[str]:
    return Counter(o for o in owners.values() if o is not None)


def test_a_new_fleet_is_shared_out_in_one_step() -> None:
    owners: dict[int, str | None] = {}
    assert _settle(owners, ["w1", "w2", "w3"], 1024) == (1, 0)
    assert _counts(owners) == {"w1": 342, "w2": 341, "w3": 341}


def test_a_joining_worker_gets_its_share_and_only_that_moves() -> None:
    owners: dict[int, str | None] = {}
    _settle(owners, ["w1", "w2", "w3"], 1024)
    before = dict(owners)
    steps, released = _settle(owners, ["w1", "w2", "w3", "w4"], 1024)
    assert steps == 2 and released == 256  # the least that can move: exactly the newcomer's share
    assert _counts(owners) == {"w1": 256, "w2": 256, "w3": 256, "w4": 256}
    assert sum(before[s] != owners[s] for s in range(1024)) == 256


def test_a_leaving_workers_slots_are_shared_once_its_lease_lapses() -> None:
    owners: dict[int, str | None] = {}
    _settle(owners, ["w1", "w2", "w3"], 1024)
    survivors = ["w1", "w3"]
    # while w2's leases have not expired its slots are neither offered nor released
    plan = plan_handover(owners, survivors, 1024)
    assert plan.settled and plan.targets == {"w1": 512, "w3": 512}
    for slot, owner in owners.items():
        if owner == "w2":
            owners[slot] = None
    assert _settle(owners, survivors, 1024) == (1, 0)
    assert _counts(owners) == {"w1": 512, "w3": 512}


def test_an_over_share_worker_releases_its_highest_slots() -> None:
    owners: dict[int, str | None] = dict.fromkeys(range(8), "a")
    plan = plan_handover(owners, ["a", "b"], 8)
    assert plan.release == {"a": (4, 5, 6, 7)} and plan.take == {}
    _apply(owners, plan)
    plan = plan_handover(owners, ["a", "b"], 8)
    assert plan.release == {} and plan.take == {"b": (4, 5, 6, 7)}


def test_plan_refuses_a_slot_out_of_range() -> None:
    with pytest.raises(ConfigurationError, match="slot 8"):
        plan_handover({8: "a"}, ["a"], 8)
    with pytest.raises(ConfigurationError, match="slot -1"):
        plan_handover({-1: "a"}, ["a"], 8)


@settings(max_examples=200, deadline=None)
@given(slots=st.integers(1, 300), live=st.integers(1, 12), gone=st.integers(0, 3), seed=st.integers(0, 2**32))
def test_any_ownership_settles_within_one_of_the_fair_share(slots: int, live: int, gone: int, seed: int) -> None:
    rng = random.Random(seed)
    workers = [f"w{i}" for i in range(live)]
    departed = [f"gone{i}" for i in range(gone)]
    owners: dict[int, str | None] = {s: rng.choice([None, *workers, *departed]) for s in range(slots)}
    held_by_departed = {s for s, o in owners.items() if o in departed}
    _settle(owners, workers, slots)
    # slots of departed workers are left alone until their leases lapse ...
    assert {s for s, o in owners.items() if o in departed} == held_by_departed
    counts = _counts(owners)
    assert all(counts[w] <= share for w, share in fair_shares(slots, workers, holding=counts).items())
    # ... and once they have, every live worker ends within one of the fair share
    for slot in held_by_departed:
        owners[slot] = None
    _settle(owners, workers, slots)
    counts = _counts(owners)
    assert sum(counts.values()) == slots
    assert all(abs(counts[w] - slots / live) < 1 for w in workers), counts
