"""The OpenADR 2.0b simple-HTTP services, and which service each VEN-to-VTN message goes to.

Vocabulary only: :mod:`fleetven.http.transport` posts to these names, and the VEN's
state machine (:mod:`fleetven.ven.machine`) names them in the messages it asks to send.
"""

from __future__ import annotations

from typing import Final

from fleetven.openadr import model as m

__all__ = ("EI_REGISTER_PARTY", "EI_EVENT", "EI_REPORT", "EI_OPT", "OADR_POLL", "SERVICES", "SERVICE_OF")

EI_REGISTER_PARTY: Final = "EiRegisterParty"
EI_EVENT: Final = "EiEvent"
EI_REPORT: Final = "EiReport"
EI_OPT: Final = "EiOpt"
OADR_POLL: Final = "OadrPoll"

#: The OpenADR 2.0b simple-HTTP services, appended to the VTN URL.
SERVICES: Final[tuple[str, ...]] = (EI_REGISTER_PARTY, EI_EVENT, EI_REPORT, EI_OPT, OADR_POLL)

#: The service each VEN-to-VTN message is posted to. ``oadrResponse``
#: (:class:`~fleetven.openadr.model.ResponseMessage`) is absent: it goes to the
#: service of the message it answers, which the caller passes explicitly.
SERVICE_OF: Final[dict[type, str]] = {
    m.QueryRegistration: EI_REGISTER_PARTY,
    m.CreatePartyRegistration: EI_REGISTER_PARTY,
    m.CancelPartyRegistration: EI_REGISTER_PARTY,
    m.CanceledPartyRegistration: EI_REGISTER_PARTY,
    m.RequestEvent: EI_EVENT,
    m.CreatedEvent: EI_EVENT,
    m.RegisterReport: EI_REPORT,
    m.RegisteredReport: EI_REPORT,
    m.CreatedReport: EI_REPORT,
    m.UpdateReport: EI_REPORT,
    m.CanceledReport: EI_REPORT,
    m.CreateReport: EI_REPORT,
    m.CancelReport: EI_REPORT,
    m.UpdatedReport: EI_REPORT,
    m.CreateOpt: EI_OPT,
    m.CancelOpt: EI_OPT,
    m.Poll: OADR_POLL,
}
