"""The durable store (fleetven/store/__init__.py): encoding, batching, both stores alike, schema migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _store_ops import STORE_OPS, apply_store_op
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetven.exceptions import ConfigurationError, StoreError
from fleetven.openadr import model as m
from fleetven.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    MemoryStore,
    Sample,
    SQLiteStore,
    Store,
    decode,
    encode,
    open_store,
)

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Each store of the synchronous interface; PostgreSQL's through its test adapter (flush awaits
    the commit, load the async load: tests/_postgres.py)."""
    made: Store
    if request.param == "postgresql":
        from _pgsync import SyncPostgresStore

        made = SyncPostgresStore.make(request.getfixturevalue("pg_dsn"))
    else:
        made = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "fleet.db")
    yield made
    made.close()


@pytest.fixture(params=["memory", "sqlite"])
def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The stores that commit synchronously from the loop (PostgreSQL commits from its own task and
    is not reopened: tests/test_pgstore.py covers both)."""
    made: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "fleet.db")
    yield made
    made.close()


def _event(event_id: str = "ev-1", mod: int = 0) -> m.Event:
    return {
        "event_id": event_id, "modification_number": mod, "event_status": "far", "test_event": False,
        "market_context": "http://mc", "priority": 1,
        "event_descriptor": {"event_id": event_id, "modification_number": mod, "created_date_time": T0,
                             "event_status": "far", "test_event": False, "market_context": "http://mc"},
        "active_period": {"dtstart": T0 + timedelta(hours=1), "duration": timedelta(minutes=30),
                          "tolerance": {"tolerate": {"startafter": timedelta(minutes=5)}}},
        "event_signals": [{
            "signal_name": "SIMPLE", "signal_type": "level", "signal_id": "s1", "current_value": 0.0,
            "intervals": [{"dtstart": T0 + timedelta(hours=1), "duration": timedelta(minutes=30), "uid": "0",
                           "signal_payload": 1.0}],
            "measurement": m.Measurement(name="powerReal", description="RealPower", unit="W",
                                         power_attributes={"hertz": 50.0, "voltage": 230.0, "ac": True}),
        }],
        "targets": [{"ven_id": "ven-1"}], "targets_by_type": {"ven_id": ["ven-1"]},
        "response_required": "always",
    }


def _created(opt: str = "optIn") -> m.CreatedEvent:
    return m.CreatedEvent(
        response=m.Response(response_code=200, response_description="OK", request_id="req-1"), ven_id="ven-1",
        event_responses=[m.EventResponse(response_code=200, request_id="req-1", event_id="ev-1",
                                         modification_number=0, opt_type=opt, response_description="OK")])


def _request(rid: str = "rr-1") -> m.ReportRequest:
    return m.ReportRequest(report_request_id=rid, report_specifier=m.ReportSpecifier(
        report_specifier_id="spec-1", granularity=timedelta(seconds=10), report_back_duration=timedelta(seconds=30),
        report_interval_start=T0, report_interval_duration=timedelta(hours=2),
        specifier_payloads=[m.SpecifierPayload(r_id="r1", reading_type="Direct Read")]))


# ------------------------------------------------------------------ encoding

def test_event_and_messages_round_trip() -> None:
    for value in (_event(), _created(), _request(), {"request": _request(), "base": T0, "cursor": None},
                  m.ResourceStatus(online=True, manual_override=False)):
        again = decode(encode(value))
        assert again == value
        assert type(again) is type(value)


def test_datetimes_come_back_aware_and_equal() -> None:
    plus4 = datetime(2024, 5, 1, 16, 0, 0, 123456, tzinfo=timezone(timedelta(hours=4)))
    back = decode(encode([plus4, timedelta(days=-1, seconds=5, microseconds=7)]))
    assert back[0] == plus4 and back[0].tzinfo is not None
    assert back[1] == timedelta(days=-1, seconds=5, microseconds=7)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.datetimes(timezones=st.just(UTC))
    | st.timedeltas(min_value=timedelta(days=-999), max_value=timedelta(days=999)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
@settings(max_examples=200, deadline=None)
def test_any_storable_value_round_trips(value: Any) -> None:
    assert decode(encode(value)) == value


def test_what_cannot_be_stored_is_refused() -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        encode({"when": datetime(2024, 1, 1)})
    with pytest.raises(StoreError, match="cannot store a object"):
        encode(object())
    with pytest.raises(StoreError, match="unreadable"):
        decode(b"\x00not json")
    with pytest.raises(StoreError, match="unknown message class"):
        decode(b'{"$fv": "m", "c": "Pickle", "f": {}}')


# ------------------------------------------------------------------ both stores

def test_rows_come_back(store: Store) -> None:
    store.put_registration("site-1", {"ven_id": "ven-1", "registration_id": "reg-1", "vtn_id": "VTN",
                                      "poll_freq": 10.0, "complete": True})
    store.put_event("site-1", "ev-1", {"event": _event(), "opt": "optIn", "start_offset": 12.5, "status": "near"})
    store.put_outbox("site-1", _created())
    store.put_opt("site-1", "opt-1", {"opt_type": "optOut", "vavailability": [[T0, timedelta(hours=1)]]})
    store.put_request("site-1", "rr-1", {"request": _request(), "base_dt": T0}, dropped=3)
    store.add_sample("site-1", "rr-1", Sample("r1", T0 + timedelta(seconds=10), 2.5))
    store.add_sample("site-1", "rr-1", Sample("r1", T0, 1.5))
    store.add_sample("site-1", "rr-1", Sample("st", T0, m.ResourceStatus(online=True, manual_override=True)))
    state = store.load()["site-1"]
    assert state.registration is not None and state.registration["registration_id"] == "reg-1"
    assert state.events["ev-1"]["event"] == _event() and state.events["ev-1"]["start_offset"] == 12.5
    assert state.outbox == _created()
    assert state.opts["opt-1"]["vavailability"] == [[T0, timedelta(hours=1)]]
    assert state.requests["rr-1"]["request"] == _request() and state.dropped == {"rr-1": 3}
    # oldest first; one instant's samples by rID
    assert state.samples["rr-1"] == [Sample("r1", T0, 1.5),
                                     Sample("st", T0, m.ResourceStatus(online=True, manual_override=True)),
                                     Sample("r1", T0 + timedelta(seconds=10), 2.5)]


def test_deletes(store: Store) -> None:
    store.put_event("a", "e1", {"opt": "optIn"})
    store.put_event("a", "e2", {"opt": "optOut"})
    store.put_outbox("a", _created())
    store.put_opt("a", "o1", {})
    store.add_sample("a", "rr", Sample("r", T0, 1.0))
    store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=1), 2.0))
    store.flush()
    store.drop_event("a", "e1")
    store.put_outbox("a", None)
    store.drop_opt("a", "o1")
    store.ack_samples("a", "rr", [Sample("r", T0, 1.0)])
    state = store.load()["a"]
    assert list(state.events) == ["e2"] and state.outbox is None and state.opts == {}
    assert state.samples == {"rr": [Sample("r", T0 + timedelta(seconds=1), 2.0)]}


def test_dropping_a_request_drops_its_samples_but_not_later_ones(store: Store) -> None:
    store.put_request("a", "rr", {"n": 1})
    store.add_sample("a", "rr", Sample("r", T0, 1.0))
    store.add_sample("a", "other", Sample("r", T0, 9.0))
    store.flush()
    store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=1), 2.0))  # queued, superseded by the drop
    store.drop_request("a", "rr")
    store.put_request("a", "rr", {"n": 2})  # the same id, started again in the same tick
    store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=5), 3.0))
    state = store.load()["a"]
    assert state.requests == {"rr": {"n": 2}}
    assert state.samples == {"rr": [Sample("r", T0 + timedelta(seconds=5), 3.0)], "other": [Sample("r", T0, 9.0)]}


def test_forget_ven(store: Store) -> None:
    for ven in ("a", "b"):
        store.put_registration(ven, {"ven_id": ven})
        store.put_event(ven, "e", {})
        store.add_sample(ven, "rr", Sample("r", T0, 1.0))
    store.flush()
    store.forget_ven("a")
    assert set(store.load()) == {"b"}


def test_sample_numbers_and_the_last_one_outlive_their_samples(store: Store) -> None:
    store.add_sample("a", "rr", Sample("r", T0, 1.0, 1))
    store.add_sample("a", "other", Sample("r", T0, 2.0, 2))
    store.add_sample("b", "rr", Sample("r", T0, 3.0, 7))
    store.flush()
    state = store.load()["a"]
    assert [(s.seq, s.value) for s in state.samples["rr"] + state.samples["other"]] == [(1, 1.0), (2, 2.0)]
    assert state.last_seq == 2 and store.load()["b"].last_seq == 7
    store.ack_samples("a", "rr", [Sample("r", T0, 1.0)])
    store.ack_samples("a", "other", [Sample("r", T0, 2.0)])
    store.flush()
    state = store.load()["a"]
    assert state.samples == {} and state.last_seq == 2  # the VEN's next sample is number 3
    store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=1), 4.0, 3))
    store.add_sample("a", "rr", Sample("r", T0 + timedelta(seconds=2), 5.0, 4))  # one commit: the last wins
    assert store.load()["a"].last_seq == 4
    store.forget_ven("a")  # a VEN removed for good
    assert "a" not in store.load() and store.load()["b"].last_seq == 7


def test_writes_are_coalesced_and_committed_once(store: Store) -> None:
    for i in range(100):
        store.put_registration("a", {"i": i})
    for i in range(50):
        store.put_event("a", f"e{i}", {"i": i})
    assert store.pending == 51
    store.flush()
    assert store.flushes == 1 and store.writes == 51
    store.flush()  # nothing queued: no transaction
    assert store.flushes == 1
    assert store.load()["a"].registration == {"i": 99}


async def test_one_commit_per_loop_iteration(local_store: Store) -> None:
    store = local_store
    for i in range(20):
        store.put_event("a", f"e{i}", {"i": i})
    assert store.flushes == 0
    await asyncio.sleep(0)  # the flush scheduled with call_soon runs
    assert store.flushes == 1 and store.pending == 0
    store.put_event("a", "late", {})
    store.flush()  # a synchronous flush (durability first) leaves the scheduled one nothing to do
    await asyncio.sleep(0)
    assert store.flushes == 2


def test_closed_store(store: Store) -> None:
    store.put_event("a", "e", {})
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StoreError, match="closed"):
        store.put_event("a", "e2", {})


@given(STORE_OPS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_memory_and_sqlite_behave_alike(tmp_path: Path, ops: list[tuple[str, str, str, int]]) -> None:
    path = tmp_path / "alike.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    stores: list[Store] = [MemoryStore(), SQLiteStore(path)]
    try:
        for op, ven, key, n in ops:
            for s in stores:
                apply_store_op(s, op, ven, key, n)
        assert stores[0].load() == stores[1].load()
    finally:
        for s in stores:
            s.close()


# ------------------------------------------------------------------ SQLite file

def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    first = SQLiteStore(path)
    first.put_registration("a", {"ven_id": "v"})
    first.add_sample("a", "rr", Sample("r", T0, 4.0))
    first.close()  # close commits what is queued
    again = SQLiteStore(path)
    try:
        state = again.load()["a"]
        assert state.registration == {"ven_id": "v"} and state.samples["rr"] == [Sample("r", T0, 4.0)]
        assert again.version == SCHEMA_VERSION
        mode = again._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        again.close()


def test_a_version_1_database_opens_and_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    for sql in MIGRATIONS[0]:
        db.execute(sql)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO vens VALUES (?, ?)", ("site-1", encode({"ven_id": "ven-1", "registration_id": "r"})))
    db.execute("INSERT INTO requests VALUES (?, ?, ?)", ("site-1", "rr", encode({"request": _request()})))
    db.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", ("site-1", "rr", 1_714_564_800_000_000, "r1", 7.0))
    db.commit()
    db.close()
    store = SQLiteStore(path)
    try:
        assert store.version == SCHEMA_VERSION == 3
        state = store.load()["site-1"]
        assert state.registration == {"ven_id": "ven-1", "registration_id": "r"}
        assert state.requests["rr"]["request"] == _request() and state.dropped == {}
        assert state.samples["rr"] == [Sample("r1", T0, 7.0)]  # kept before numbering: seq 0
        assert state.samples["rr"][0].seq == 0 and state.last_seq == 0
        store.put_opt("site-1", "opt-1", {"opt_type": "optIn"})  # the table version 2 added
        store.put_request("site-1", "rr", {"request": _request()}, dropped=2)
        store.add_sample("site-1", "rr", Sample("r1", T0 + timedelta(seconds=1), 8.0, 1))  # version 3's seq
        state = store.load()["site-1"]
        assert state.opts == {"opt-1": {"opt_type": "optIn"}}
        assert state.dropped == {"rr": 2}
        assert [s.seq for s in state.samples["rr"]] == [0, 1] and state.last_seq == 1
    finally:
        store.close()


def test_foreign_and_newer_databases_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE things (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a fleetven store"):
        SQLiteStore(other)
    newer = tmp_path / "newer.db"
    SQLiteStore(newer).close()
    db = sqlite3.connect(newer)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99, newer"):
        SQLiteStore(newer)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        SQLiteStore(garbage)


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store(":memory:"), MemoryStore)
    mine = MemoryStore()
    assert open_store(mine) is mine
    made = open_store(tmp_path / "f.db")
    assert isinstance(made, SQLiteStore) and made.durable
    made.close()
    with pytest.raises(ConfigurationError, match="store"):
        open_store(42)  # type: ignore[arg-type]
    for url in ("postgresql://fleet:secret@db/fleet", "postgres://db/fleet"):
        with pytest.raises(ConfigurationError, match="runs as workers") as info:
            open_store(url)
        assert "secret" not in str(info.value)  # the password is not repeated


def test_reopen_after_close(local_store: Store) -> None:
    store = local_store
    store.put_event("a", "e", {"n": 1})
    store.close()
    store.reopen()
    assert store.load()["a"].events == {"e": {"n": 1}}
    store.put_event("a", "e", {"n": 2})
    assert store.load()["a"].events == {"e": {"n": 2}}


def test_encoded_rows_hold_no_spare_buffer() -> None:
    # orjson 3.13 hands back bytes that keep its whole ~4 KB output buffer; the in-memory store keeps
    # one encoded registration per VEN, so that buffer once cost 4 KB of RSS per idle VEN.
    import sys

    from fleetven.store import encode

    row = encode({"ven_id": "ven-00001", "registration_id": "reg-00001", "vtn_id": "VTN", "poll_freq": 10.0})
    assert sys.getsizeof(row) < len(row) + 64
