"""Per-event errors in ``oadrDistributeEvent`` (OpenADR rules 19 and 48).

An ``oadrEvent`` that cannot be read does not fail the message: it is left out
of ``events`` and reported in ``errors`` as an :class:`~fleetven.openadr.model.EventError`
(response code, error text, path, and the event's ``eventID`` /
``modificationNumber`` when those can be read), so that the VEN can answer
each event with its own code. Errors outside the events still fail the whole
message. Every test runs on both extractor twins.
"""

from __future__ import annotations

from typing import Any

import pytest
import samples

from fleetven.exceptions import InvalidMessage, InvalidValue
from fleetven.messages.build import build_message
from fleetven.messages.parse import parse_document
from fleetven.openadr import model as m

OPEN = "<oadr:oadrEvent>"
E = "oadrDistributeEvent/oadrEvent"
INTERVAL = "eiEvent/eiEventSignals/eiEventSignal[1]/intervals/interval[1]"


def distribute_xml(n: int = 3) -> str:
    """An ``oadrDistributeEvent`` document of ``n`` small events ``event-1``.. with modification numbers 11, 12, ..."""
    msg = m.DistributeEvent(
        request_id="req-de",
        vtn_id=samples.VTN_ID,
        events=[
            samples.event(f"event-{i}", n_signals=2, n_intervals=2, modification_number=10 + i,
                          start=samples.T0 + (i - 1) * samples.HOUR * 24)
            for i in range(1, n + 1)
        ],
    )
    return build_message(msg).decode()


def corrupt(xml: str, nth: int, old: str, new: str) -> str:
    """Replace the first ``old`` inside the ``nth`` (1-based) ``oadrEvent`` of ``xml`` by ``new``."""
    parts = xml.split(OPEN)
    assert len(parts) > nth, f"no oadrEvent[{nth}]"
    assert old in parts[nth], f"{old!r} not in oadrEvent[{nth}]"
    parts[nth] = parts[nth].replace(old, new, 1)
    return OPEN.join(parts)


def drop(xml: str, nth: int, element: str) -> str:
    """Remove the first element ``element`` (``prefix:local``) inside the ``nth`` ``oadrEvent`` of ``xml``."""
    parts = xml.split(OPEN)
    seg = parts[nth]
    start = seg.index(f"<{element}>")
    end = seg.index(f"</{element}>", start) + len(f"</{element}>")
    parts[nth] = seg[:start] + seg[end:]
    return OPEN.join(parts)


def extract(extract_impl: Any, xml: str) -> Any:
    return extract_impl(parse_document(xml.encode()))


def clean_events(extract_impl: Any, n: int = 3) -> list[m.Event]:
    msg = extract(extract_impl, distribute_xml(n))
    assert msg.errors == []
    assert [e["event_id"] for e in msg.events] == [f"event-{i}" for i in range(1, n + 1)]
    events: list[m.Event] = msg.events
    return events


#: (name, corruption of the second event, error text, path under oadrEvent[2], modification number read, class)
ONE_BAD: list[tuple[str, Any, str, str, int | None, type[Exception]]] = [
    ("bad-duration",
     lambda x: corrupt(x, 2, "<xcal:duration>PT1H</xcal:duration>", "<xcal:duration>1 hour</xcal:duration>"),
     "invalid duration '1 hour' at {path}", f"{INTERVAL}/duration/duration", 12, InvalidValue),
    ("missing-signalPayload",
     lambda x: drop(x, 2, "ei:signalPayload"),
     "missing required element {path}", f"{INTERVAL}/signalPayload", 12, InvalidMessage),
    ("bad-modificationNumber",
     lambda x: corrupt(x, 2, "<ei:modificationNumber>12<", "<ei:modificationNumber>twelve<"),
     "invalid integer 'twelve' at {path}", "eiEvent/eventDescriptor/modificationNumber", None, InvalidValue),
    ("bad-eventStatus",
     lambda x: corrupt(x, 2, "<ei:eventStatus>far<", "<ei:eventStatus>FAR<"),
     "invalid eventStatus 'FAR' at {path}", "eiEvent/eventDescriptor/eventStatus", 12, InvalidValue),
    ("bad-date-time",
     lambda x: corrupt(x, 2, "<xcal:date-time>2026-11-27T12:00:00Z<", "<xcal:date-time>2026-02-30T12:00:00Z<"),
     "invalid date-time '2026-02-30T12:00:00Z' at {path}", "eiEvent/eiActivePeriod/properties/dtstart/date-time",
     12, InvalidValue),
    ("bad-payload",
     lambda x: corrupt(x, 2, "<ei:value>0.1<", "<ei:value>one<"),
     "invalid float 'one' at {path}", f"{INTERVAL}/signalPayload/payloadFloat/value", 12, InvalidValue),
    ("bad-oadrResponseRequired",
     lambda x: corrupt(x, 2, ">always<", ">sometimes<"),
     "invalid oadrResponseRequired 'sometimes' at {path}", "oadrResponseRequired", 12, InvalidValue),
]


@pytest.mark.parametrize(("corruption", "text", "sub", "mod", "cls"), [c[1:] for c in ONE_BAD],
                         ids=[c[0] for c in ONE_BAD])
def test_one_bad_event_among_three(extract_impl: Any, corruption: Any, text: str, sub: str, mod: int | None,
                                   cls: type[Exception]) -> None:
    clean = clean_events(extract_impl)
    msg = extract(extract_impl, corruption(distribute_xml()))
    assert isinstance(msg, m.DistributeEvent)
    assert (msg.request_id, msg.vtn_id, msg.response) == ("req-de", samples.VTN_ID, None)
    assert msg.events == [clean[0], clean[2]]
    path = f"{E}[2]/{sub}"
    assert msg.errors == [
        m.EventError(response_code=454, description=text.format(path=path), path=path, event_id="event-2",
                     modification_number=mod)
    ]
    assert msg.errors[0].response_code == cls.response_code  # type: ignore[attr-defined]


def test_missing_event_id_gives_none(extract_impl: Any) -> None:
    msg = extract(extract_impl, drop(distribute_xml(), 2, "ei:eventID"))
    path = f"{E}[2]/eiEvent/eventDescriptor/eventID"
    assert [e["event_id"] for e in msg.events] == ["event-1", "event-3"]
    assert msg.errors == [
        m.EventError(response_code=454, description=f"missing required element {path}", path=path, event_id=None,
                     modification_number=12)
    ]


def test_empty_event_id_of_a_bad_event_gives_none(extract_impl: Any) -> None:
    xml = corrupt(distribute_xml(), 3, "<ei:eventID>event-3<", "<ei:eventID> <")
    xml = corrupt(xml, 3, "<ei:value>0.1<", "<ei:value>x<")
    msg = extract(extract_impl, xml)
    assert [e["event_id"] for e in msg.events] == ["event-1", "event-2"]
    assert [(e.event_id, e.modification_number, e.path) for e in msg.errors] == [
        (None, 13, f"{E}[3]/{INTERVAL}/signalPayload/payloadFloat/value")
    ]


def test_missing_descriptor_or_ei_event_gives_neither_id_nor_number(extract_impl: Any) -> None:
    xml = drop(drop(distribute_xml(), 1, "ei:eventDescriptor"), 3, "ei:eiEvent")
    msg = extract(extract_impl, xml)
    assert [e["event_id"] for e in msg.events] == ["event-2"]
    p1 = f"{E}[1]/eiEvent/eventDescriptor"
    p3 = f"{E}[3]/eiEvent"
    assert msg.errors == [
        m.EventError(response_code=454, description=f"missing required element {p1}", path=p1),
        m.EventError(response_code=454, description=f"missing required element {p3}", path=p3),
    ]


def test_all_events_bad(extract_impl: Any) -> None:
    xml = distribute_xml()
    xml = corrupt(xml, 1, "<xcal:duration>PT1H</xcal:duration>", "<xcal:duration>P</xcal:duration>")
    xml = drop(xml, 2, "ei:signalPayload")
    xml = corrupt(xml, 3, "<ei:modificationNumber>13<", "<ei:modificationNumber>1.0<")
    msg = extract(extract_impl, xml)
    assert isinstance(msg, m.DistributeEvent)
    assert msg.events == []
    assert [(e.event_id, e.modification_number, e.path, e.response_code) for e in msg.errors] == [
        ("event-1", 11, f"{E}[1]/{INTERVAL}/duration/duration", 454),
        ("event-2", 12, f"{E}[2]/{INTERVAL}/signalPayload", 454),
        ("event-3", None, f"{E}[3]/eiEvent/eventDescriptor/modificationNumber", 454),
    ]
    assert msg.errors[2].description == f"invalid integer '1.0' at {E}[3]/eiEvent/eventDescriptor/modificationNumber"


def test_document_order_is_kept_among_the_valid_events(extract_impl: Any) -> None:
    clean = clean_events(extract_impl, 5)
    xml = distribute_xml(5)
    for nth in (2, 4):
        xml = corrupt(xml, nth, "<ei:value>0.1<", "<ei:value>NaNa<")
    msg = extract(extract_impl, xml)
    assert msg.events == [clean[0], clean[2], clean[4]]
    assert [(e.event_id, e.path) for e in msg.errors] == [
        ("event-2", f"{E}[2]/{INTERVAL}/signalPayload/payloadFloat/value"),
        ("event-4", f"{E}[4]/{INTERVAL}/signalPayload/payloadFloat/value"),
    ]


def test_the_second_error_in_one_event_is_not_reported(extract_impl: Any) -> None:
    """One error per event: the first the extractor meets, as when the event was read alone."""
    xml = corrupt(distribute_xml(), 2, "<ei:eventStatus>far<", "<ei:eventStatus>soon<")
    xml = corrupt(xml, 2, "<ei:value>0.1<", "<ei:value>x<")
    msg = extract(extract_impl, xml)
    assert [e.path for e in msg.errors] == [f"{E}[2]/eiEvent/eventDescriptor/eventStatus"]


@pytest.mark.parametrize(
    ("old", "new", "cls", "path"),
    [
        ("<ei:vtnID>VTN-Alpha</ei:vtnID>", "", InvalidMessage, "oadrDistributeEvent/vtnID"),
        ("<pyld:requestID>req-de</pyld:requestID>", "", InvalidMessage, "oadrDistributeEvent/requestID"),
        ("<pyld:requestID>", "<ei:eiResponse><ei:responseCode>OK</ei:responseCode></ei:eiResponse><pyld:requestID>",
         InvalidValue, "oadrDistributeEvent/eiResponse/responseCode"),
    ],
    ids=["vtnID", "requestID", "eiResponse"],
)
def test_an_error_outside_the_events_still_fails_the_message(extract_impl: Any, old: str, new: str,
                                                             cls: type[Exception], path: str) -> None:
    xml = distribute_xml()
    assert xml.count(old) == 1
    xml = xml.replace(old, new)
    # a bad event as well: the message-level error wins, whatever the order
    xml = corrupt(xml, 2, "<ei:value>0.1<", "<ei:value>x<")
    with pytest.raises(cls) as info:
        extract(extract_impl, xml)
    assert info.value.path == path  # type: ignore[attr-defined]
    assert info.value.message_type == "oadrDistributeEvent"  # type: ignore[attr-defined]


def test_a_valid_message_has_no_errors(extract_impl: Any) -> None:
    msg = extract(extract_impl, distribute_xml())
    assert msg.errors == []
    assert len(msg.events) == 3
