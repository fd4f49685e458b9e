"""A VEN's state as one plain record (fleetven.ven.record.VenRecord): a snapshot the VEN gives and takes
back (VenMachine.record, VenMachine.load), built, filled and read with plain calls, no socket, no event loop."""

from __future__ import annotations

import pickle
import random

import samples

from fleetven.fleet.driver import Shared, Ven
from fleetven.openadr import model as m
from fleetven.store import VenState
from fleetven.ven import events as ev
from fleetven.ven.record import VenRecord


def shared() -> Shared:
    return Shared(rng=random.Random(1), poll_interval=10.0, handler_timeout=1.0, backoff_base=0.1, backoff_cap=1.0)


def test_a_new_ven_holds_a_fresh_record() -> None:
    ven = Ven(shared(), "site-1", ven_id="configured")
    rec = ven.record
    assert isinstance(rec, VenRecord)
    assert (rec.name, rec.ven_id, rec.registration_id, rec.vtn_id, rec.poll_freq, rec.state) == (
        "site-1", "configured", None, None, 10.0, "new")
    assert rec.book == {} and rec.opts is None and rec.outbox is None and not rec.complete
    assert not hasattr(rec, "__dict__")  # slotted


def test_the_record_is_a_snapshot_of_the_vens_attributes() -> None:
    ven = Ven(shared(), "site-1")
    ven.ven_id, ven.registration_id, ven.vtn_id, ven.poll_freq = "v", "r", samples.VTN_ID, 30.0
    rec = ven.record
    assert (rec.ven_id, rec.registration_id, rec.vtn_id, rec.poll_freq) == ("v", "r", samples.VTN_ID, 30.0)
    rec.registration_id = None
    rec.book["e9"] = ev.EventRecord(event=samples.minimal_event("e9"), event_id="e9", modification_number=0)
    assert ven.registered and ven.registration_id == "r" and "e9" not in ven.events  # the VEN's own are untouched
    ven.registration_id = None
    assert rec.registration_id is None and ven.record.registration_id is None and not ven.registered


def test_a_record_loads_into_another_ven_as_it_was_taken() -> None:
    ven = Ven(shared(), "site-1")
    ven.ven_id, ven.registration_id, ven.vtn_id, ven.poll_freq = "v", "r", samples.VTN_ID, 30.0
    ven.book = {"e1": ev.EventRecord(event=samples.minimal_event("e1"), event_id="e1", modification_number=2,
                                     opt=ev.OPT_IN, start_offset=3.0)}
    moved = pickle.loads(pickle.dumps(ven.record))
    other = Ven(shared(), "site-1")
    other.load(moved)
    assert other.record == ven.record
    assert other.answers == {"e1": ev.OPT_IN} and other.registered and other.state == "new"
    ven.state = "cancelled"
    other.load(ven.record)
    assert other.state == "cancelled"


def test_restore_fills_the_record_and_it_survives_a_trip_between_processes() -> None:
    ven = Ven(shared(), "site-1")
    event = samples.minimal_event("e1")
    outbox = m.CreatedEvent(response=m.Response(response_code=200, request_id="d"), ven_id="v", event_responses=[])
    ven.restore(VenState(
        registration={"ven_id": "v", "registration_id": "r", "vtn_id": samples.VTN_ID, "poll_freq": 20.0,
                      "complete": True},
        events={"e1": {"event": event, "modification_number": 0, "opt": ev.OPT_IN, "start_offset": 1.5,
                       "status": "near"}},
        outbox=outbox,
    ))
    rec = ven.record
    assert (rec.ven_id, rec.registration_id, rec.vtn_id, rec.poll_freq, rec.complete) == (
        "v", "r", samples.VTN_ID, 20.0, True)
    assert ven.answers == {"e1": ev.OPT_IN} and ven.events == {"e1": event} and ven.answer_pending
    copy = pickle.loads(pickle.dumps(rec))
    assert copy == rec and copy is not rec
    assert copy.book["e1"].start_offset == 1.5 and copy.outbox == outbox
