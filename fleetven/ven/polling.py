"""The VEN's poll decisions (OadrPoll): pure functions, no I/O.

What to do after each answer to ``oadrPoll``:

* an ``oadrResponse`` (:func:`after_response`): ``200`` (nothing queued) →
  :data:`WAIT` a poll period; ``452``/``463`` → :data:`LOST`, the VTN does
  not know the VEN any more, which registers afresh (:func:`lost_delay`);
  any other code → :data:`WARN` and wait a period;
* any other message → :data:`AGAIN`: poll again at once, the VTN may have
  more queued (:func:`next_poll_delay`); the messages that need only an
  acknowledgement get it from :func:`acknowledgement`.

The answers are constant strings: deciding allocates nothing on the steady
poll path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fleetven.openadr import model as m

__all__ = ("AGAIN", "WAIT", "WARN", "LOST", "NOT_REGISTERED", "after_response", "next_poll_delay",
           "lost_delay", "acknowledgement")

#: Poll again at once.
AGAIN: Final = "again"
#: Wait one poll period.
WAIT: Final = "wait"
#: Wait one poll period after logging an unexpected response code.
WARN: Final = "warn"
#: The registration is gone: register again.
LOST: Final = "lost"

#: Response codes meaning "the VTN does not know this VEN" on a poll.
NOT_REGISTERED: Final = frozenset((452, 463))


def after_response(code: int) -> str:
    """What an ``oadrResponse`` with ``code`` answering a poll means: :data:`WAIT`, :data:`LOST` or :data:`WARN`."""
    if code == 200:
        return WAIT
    if code in NOT_REGISTERED:
        return LOST
    return WARN


def next_poll_delay(again: bool, poll_freq: float) -> float:
    """Seconds until the next poll: 0 after a non-empty reply, else the poll period."""
    return 0.0 if again else poll_freq


def lost_delay(refused_polls: int, backoff: Callable[[int], float]) -> float:
    """Seconds before registering again after the VTN said ``452``/``463`` to ``refused_polls``
    polls in a row before this one: at once the first time, then backing off."""
    return 0.0 if refused_polls == 0 else backoff(refused_polls - 1)


def acknowledgement(reply: m.Message, ven_id: str | None) -> m.Message | None:
    """The answer to a polled message that only needs acknowledging, or ``None`` for the others.

    ``oadrRegisterReport`` → ``oadrRegisteredReport``; ``oadrUpdateReport`` → ``oadrUpdatedReport``;
    ``oadrRequestReregistration`` → ``oadrResponse`` (then the VEN registers again), each ``200``.
    """
    if isinstance(reply, m.RegisterReport):
        return m.RegisteredReport(response=m.Response.ok(reply.request_id), ven_id=ven_id)
    if isinstance(reply, m.UpdateReport):
        return m.UpdatedReport(response=m.Response.ok(reply.request_id), ven_id=ven_id)
    if isinstance(reply, m.RequestReregistration):
        return m.ResponseMessage(response=m.Response.ok(), ven_id=ven_id)
    return None
