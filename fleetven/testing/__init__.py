"""A fast, scriptable, in-process OpenADR 2.0b VTN for tests and benchmarks.

:class:`TestVTN` speaks the simple-HTTP pull profile over plain HTTP (or
HTTPS), on a lean HTTP/1.1 server of its own (one :class:`asyncio.Protocol` per
connection) and fleetven's codec. It keeps every VEN's registration, events and
queue of messages in memory, answers each request with little work (read,
parse, a few dict lookups, build), records what it receives, and can be told to
misbehave (:class:`Faults`). An ``oadrPoll`` body that is byte for byte the one
fleetven's builder makes is recognised without the XML parser, and a VEN's
answer to a poll with nothing queued is built once; anything else is parsed in
full.

With ``log_senders=True`` it also keeps, per venID, who sent each request
(:class:`Sent`: the ``User-Agent`` and the peer address), so that a test of
several worker processes can show that no VEN was driven by two of them at once
(:meth:`TestVTN.overlaps`, :meth:`TestVTN.handover_gaps`).

::

    async with TestVTN(poll_freq=timedelta(seconds=1)) as vtn:
        ven = start_some_ven(vtn.url)              # vtn.url is the VEN's vtn_url
        await vtn.wait_for(lambda: vtn.vens, timeout=5)
        vtn.add_event("ven-1", event_dict)         # delivered on the VEN's next poll
        await vtn.wait_for(lambda: vtn.event_responses, timeout=5)

Services are ``POST {path}/EiRegisterParty``, ``/EiEvent``, ``/EiReport``,
``/EiOpt`` and ``/OadrPoll``; any other path gets HTTP 404. Any message is
accepted on any of these services. A body that cannot be read as an OpenADR
message gets an ``oadrResponse`` carrying the error's
:attr:`~fleetven.exceptions.FleetvenError.response_code` (HTTP 200, as
OpenADR peers do). A message from a venID that is not registered gets an
``oadrResponse`` with 463.

What the VTN answers:

==============================  ==============================================
received                        answered with
==============================  ==============================================
oadrQueryRegistration           oadrCreatedPartyRegistration (profiles, poll freq)
oadrCreatePartyRegistration     oadrCreatedPartyRegistration (venID, registrationID)
oadrCancelPartyRegistration     oadrCanceledPartyRegistration (452 if unknown)
oadrCanceledPartyRegistration   oadrResponse; the registration is forgotten
oadrPoll                        the VEN's next queued message, or oadrResponse 200
oadrRequestEvent                oadrDistributeEvent with all the VEN's events
oadrCreatedEvent                oadrResponse
oadrRegisterReport              oadrRegisteredReport (see ``on_register_report``)
oadrUpdateReport                oadrUpdatedReport
oadrCreatedReport               oadrResponse
oadrCanceledReport              oadrResponse
oadrResponse                    oadrResponse
oadrCreateOpt / oadrCancelOpt   oadrCreatedOpt / oadrCanceledOpt
==============================  ==============================================
"""

from fleetven.testing._records import (
    Faults,
    Receipt,
    Sent,
    VenRecord,
    handover_gap,
    overlapping_senders,
    sender_runs,
)
from fleetven.testing.vtn import SERVICES, TestVTN

__all__ = (
    "TestVTN",
    "Faults",
    "VenRecord",
    "Receipt",
    "Sent",
    "SERVICES",
    "sender_runs",
    "overlapping_senders",
    "handover_gap",
)
