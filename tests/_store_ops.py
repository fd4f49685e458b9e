"""Random sequences of store writes, applied alike to several stores (tests/test_store.py compares
memory and SQLite, tests/test_pgstore.py SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from fleetven.openadr import model as m
from fleetven.store import Sample, Store

__all__ = ("STORE_OPS", "STORE_OP_VENS", "apply_store_op")

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

#: The VEN names the operations write for.
STORE_OP_VENS = ("a", "b", "site-7")

#: Lists of ``(operation, ven, key, n)`` for :func:`apply_store_op`.
STORE_OPS = st.lists(st.tuples(
    st.sampled_from(["reg", "no_reg", "event", "drop_event", "outbox", "no_outbox", "opt", "drop_opt", "request",
                     "drop_request", "sample", "status", "ack", "forget", "flush"]),
    st.sampled_from(STORE_OP_VENS), st.sampled_from(["k1", "k2"]), st.integers(0, 3)), max_size=40)

_CREATED = m.CreatedEvent(
    response=m.Response(response_code=200, response_description="OK", request_id="req-1"), ven_id="ven-1",
    event_responses=[m.EventResponse(response_code=200, request_id="req-1", event_id="ev-1", modification_number=0,
                                     opt_type="optIn", response_description="OK")])


def apply_store_op(s: Store, op: str, ven: str, key: str, n: int) -> None:
    """Make the write ``op`` on store ``s`` (``flush``: commit what is queued)."""
    when = T0 + timedelta(seconds=n)
    r_id = "r" if n % 2 else "R"  # two rIDs, whose order differs between byte order and most collations
    if op == "reg":
        s.put_registration(ven, {"n": n, "at": when})
    elif op == "no_reg":
        s.put_registration(ven, None)
    elif op == "event":
        s.put_event(ven, key, {"n": n})
    elif op == "drop_event":
        s.drop_event(ven, key)
    elif op == "outbox":
        s.put_outbox(ven, _CREATED)
    elif op == "no_outbox":
        s.put_outbox(ven, None)
    elif op == "opt":
        s.put_opt(ven, key, {"n": n})
    elif op == "drop_opt":
        s.drop_opt(ven, key)
    elif op == "request":
        s.put_request(ven, key, {"n": n}, dropped=n)
    elif op == "drop_request":
        s.drop_request(ven, key)
    elif op == "sample":
        s.add_sample(ven, key, Sample(r_id, when, float(n), n))  # seq 0 too: a sample kept before seqs
    elif op == "status":
        s.add_sample(ven, key, Sample("st", when, m.ResourceStatus(online=bool(n % 2), manual_override=False),
                                      n + 10))
    elif op == "ack":
        s.ack_samples(ven, key, [Sample(r_id, when, 0.0)])
    elif op == "forget":
        s.forget_ven(ven)
    else:
        s.flush()
