"""The VEN's registration decisions (EiRegisterParty): pure functions, no I/O.

The driver (:class:`fleetven.fleet.driver.Ven`) sends what these functions build
and feeds them what the VTN answers:

* :func:`create_registration`: the ``oadrCreatePartyRegistration`` to send;
  neither venID nor registrationID the first time (rule 404), both when
  registering again (``oadrRequestReregistration``), so the registrationID is
  kept.
* :func:`check_query`: the answer to ``oadrQueryRegistration`` must be an
  ``oadrCreatedPartyRegistration``.
* :func:`adopt`: the answer to ``oadrCreatePartyRegistration``: the VTN's
  venID, registrationID, vtnID and poll frequency (:class:`Registration`), or
  the error to retry after.
* :func:`answer_cancel`: the ``oadrCanceledPartyRegistration`` answering a
  VTN's ``oadrCancelPartyRegistration`` (``452`` for a registrationID that is
  not ours) and whether the registration is over.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import NamedTuple

from fleetven.exceptions import ProtocolError, RegistrationRejected
from fleetven.openadr import model as m

__all__ = ("Registration", "create_registration", "check_query", "adopt", "answer_cancel")


class Registration(NamedTuple):
    """What a VEN adopts from an accepted ``oadrCreatedPartyRegistration``.

    :ivar ven_id: the VTN's venID (the VEN's own when the VTN names none).
    :ivar registration_id: the registrationID.
    :ivar vtn_id: the vtnID (interned: the same VTN for the whole fleet, one string).
    :ivar poll_freq: seconds between polls (``oadrRequestedOadrPollFreq``, else the default).
    """

    ven_id: str
    registration_id: str
    vtn_id: str
    poll_freq: float


def create_registration(*, name: str, ven_id: str | None, registration_id: str | None, signed: bool,
                        request_id: str) -> m.CreatePartyRegistration:
    """The ``oadrCreatePartyRegistration`` of a VEN.

    A VEN holding a registrationID registers again with its venID and registrationID;
    otherwise it sends neither (rule 404), even when it was configured with a venID.

    :param name: the ``oadrVenName``.
    :param ven_id: the VEN's venID, if any.
    :param registration_id: its registrationID, ``None`` when not registered.
    :param signed: whether the VEN signs its messages (``oadrXmlSignature``).
    :param request_id: the ``requestID``.
    """
    again = registration_id is not None
    return m.CreatePartyRegistration(
        request_id=request_id,
        ven_name=name,
        ven_id=ven_id if again else None,
        registration_id=registration_id if again else None,
        profile_name="2.0b",
        transport_name="simpleHttp",
        report_only=False,
        xml_signature=signed,
        http_pull_model=True,
    )


def check_query(reply: m.Message, *, name: str) -> m.CreatedPartyRegistration:
    """The answer to ``oadrQueryRegistration``, when it is an ``oadrCreatedPartyRegistration``.

    :raises ProtocolError: any other message.
    """
    if not isinstance(reply, m.CreatedPartyRegistration):
        raise ProtocolError(f"{name}: oadrQueryRegistration answered with {reply.message_type}",
                            ven=name, message_type=reply.message_type)
    return reply


#: Every poll period adopted so far, kept once: 100,000 VENs polling every 10 s share one float
#: rather than hold 24 bytes each (bounded: a VTN naming ever new periods gets fresh floats).
_PERIODS: dict[float, float] = {}


def shared_period(seconds: float) -> float:
    """``seconds`` as the one float kept for that value (see :data:`_PERIODS`)."""
    kept = _PERIODS.get(seconds)
    if kept is None:
        if len(_PERIODS) >= 256:
            return seconds
        kept = _PERIODS[seconds] = seconds
    return kept


def adopt(reply: m.Message, *, name: str, ven_id: str | None, default_poll: float) -> Registration:
    """What to adopt from the answer to ``oadrCreatePartyRegistration``.

    :param reply: the VTN's answer.
    :param name: the VEN's name (for error messages).
    :param ven_id: the VEN's venID so far (kept when the VTN names none).
    :param default_poll: seconds between polls when the VTN names no (positive) frequency.
    :raises ProtocolError: not an ``oadrCreatedPartyRegistration``, or one without venID or registrationID.
    :raises RegistrationRejected: the VTN refused (field ``response_code``).
    """
    if not isinstance(reply, m.CreatedPartyRegistration):
        raise ProtocolError(f"{name}: oadrCreatePartyRegistration answered with {reply.message_type}",
                            ven=name, message_type=reply.message_type)
    code = reply.response.response_code
    if code != 200:
        raise RegistrationRejected(
            f"{name}: registration refused with {code} ({reply.response.response_description})",
            ven=name, response_code=code,
        )
    adopted = reply.ven_id or ven_id
    if not adopted or not reply.registration_id:
        raise ProtocolError(f"{name}: oadrCreatedPartyRegistration carries no venID or registrationID",
                            ven=name, message_type=reply.message_type)
    freq = reply.requested_oadr_poll_freq
    poll = freq.total_seconds() if freq is not None and freq > timedelta(0) else default_poll
    return Registration(adopted, reply.registration_id, sys.intern(reply.vtn_id), shared_period(poll))


def answer_cancel(msg: m.CancelPartyRegistration, *, registration_id: str | None,
                  ven_id: str | None) -> tuple[m.CanceledPartyRegistration, bool]:
    """The answer to a VTN's ``oadrCancelPartyRegistration``, and whether the registration is over.

    The registrationID must be the VEN's own, compared exactly; otherwise the answer is ``452``
    and the VEN keeps its registration.
    """
    accepted = msg.registration_id == registration_id
    if accepted:
        response = m.Response.ok(msg.request_id)
    else:
        response = m.Response(response_code=452, response_description="registrationID does not match",
                              request_id=msg.request_id)
    return m.CanceledPartyRegistration(response=response, registration_id=msg.registration_id,
                                       ven_id=ven_id), accepted
