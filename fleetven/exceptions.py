"""The whole fleetven error hierarchy.

Every exception fleetven raises on purpose derives from :class:`FleetvenError`.
Leaves also derive from the builtin whose meaning they share, so code that
catches ``ValueError`` or ``TimeoutError`` keeps working.

Protocol errors carry the OpenADR response code that a VEN or VTN answers
with when it meets them, as the class attribute :attr:`FleetvenError.response_code`.
"""

from __future__ import annotations

from typing import Any

__all__ = (
    "FleetvenError",
    "ConfigurationError",
    "SchedulerError",
    "MessageError",
    "MessageTooLarge",
    "UnsafeXML",
    "MalformedXML",
    "UnknownMessage",
    "InvalidMessage",
    "InvalidValue",
    "BuildError",
    "SignatureError",
    "ReplayError",
    "TransportError",
    "TransportTimeout",
    "HTTPStatusError",
    "NotOwner",
    "ProtocolError",
    "RegistrationRejected",
    "StoreError",
    "StoreLocked",
    "FencedWrite",
)


class FleetvenError(Exception):
    """Root of every error fleetven raises on purpose.

    Extra detail about the failure is kept in keyword fields, available as
    attributes (``err.message_type``, ``err.path``, ...), so that logs and
    handlers can use them without parsing the text.
    """

    #: The OpenADR response code that describes this error to a peer.
    response_code: int = 469

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields: dict[str, Any] = fields
        for name, value in fields.items():
            setattr(self, name, value)


class ConfigurationError(FleetvenError, ValueError):
    """A setting given to fleetven is wrong; raised before anything connects."""


class SchedulerError(FleetvenError, RuntimeError):
    """The timer wheel was used in a way it cannot serve: scheduling on a closed
    wheel, or driving it by hand from inside one of its own callbacks."""


class MessageError(FleetvenError, ValueError):
    """An OpenADR message could not be read or built.

    Keyword fields, when known: ``message_type`` (the OpenADR message name)
    and ``path`` (where in the document the problem is, as
    ``oadrDistributeEvent/oadrEvent[2]/eiEvent/eventDescriptor``).
    """

    response_code = 454


class MessageTooLarge(MessageError):
    """The message body is larger than the configured limit."""

    response_code = 454


class UnsafeXML(MessageError):
    """The document holds a DTD, an entity declaration or another construct
    that untrusted XML must not contain; it was refused before parsing."""

    response_code = 454


class MalformedXML(MessageError):
    """The bytes are not well-formed XML (or not XML at all)."""

    response_code = 454


class UnknownMessage(MessageError):
    """The document is well-formed but is not an OpenADR 2.0b message:
    wrong root, wrong namespace or an unknown message type."""

    response_code = 453


class InvalidMessage(MessageError):
    """An OpenADR message lacks a required element or has one in the wrong place."""

    response_code = 454


class InvalidValue(MessageError):
    """A value in an OpenADR message is not of its type: a bad datetime,
    duration, number, boolean or enumeration value."""

    response_code = 454


class BuildError(MessageError):
    """A model object cannot be turned into a valid OpenADR message."""

    response_code = 469


class SignatureError(MessageError):
    """A message's XML signature is missing, malformed, does not verify, or
    was made with a certificate that is not trusted (wrong fingerprint, not
    issued by the configured CA, expired). Field ``reason``: what failed."""

    response_code = 463


class ReplayError(SignatureError):
    """A signed message's ``ReplayProtect`` timestamp is outside the accepted
    window, or its nonce was seen before by the same VEN."""

    response_code = 463


class TransportError(FleetvenError, ConnectionError):
    """A request to the VTN failed on the way: connection refused or reset,
    TLS failure, a truncated answer. Keyword fields: ``ven`` (the VEN name),
    ``service`` (``OadrPoll``, ``EiEvent``, ...), ``url``."""

    response_code = 469


class TransportTimeout(TransportError, TimeoutError):
    """The VTN did not answer within the request timeout."""


class HTTPStatusError(TransportError):
    """The VTN answered with an HTTP status other than 200. Field: ``status``."""


class NotOwner(TransportError):
    """The transport's gate refused a request before it was written: this process may not act
    for the VEN now (a worker whose lease on the VEN's slot is not current). Nothing was sent;
    the VEN backs off and retries, and its worker stops it. Fields: ``ven``, ``service``, ``url``."""


class ProtocolError(FleetvenError):
    """The VTN answered with something the OpenADR protocol does not allow here,
    or with an error response code (kept in the ``response_code`` field when
    the VTN gave one)."""

    response_code = 469


class RegistrationRejected(ProtocolError):
    """The VTN refused a registration (its response code is ``response_code``)."""


class StoreError(FleetvenError, OSError):
    """The durable store (:mod:`fleetven.store`) could not be opened, read or written: a database
    file that is not ours, from a newer fleetven, unreadable, or a disk that refuses writes
    (the ``path`` field names the database)."""


class StoreLocked(StoreError):
    """A SQLite store is already open in another :class:`~fleetven.store.SQLiteStore`, in another
    process or in this one: one SQLite file serves one fleet at a time, so that no VEN runs twice.
    Fields: ``path`` (the database), ``lock_path`` (the lock file beside it, ``<database>.lock``)
    and ``pid`` (the process holding it, as it wrote itself into the lock file; ``None`` if
    unknown)."""


class FencedWrite(StoreError):
    """State writes were refused because the slot lease they were made under is no longer this
    worker's: the slot's epoch moved on (another worker took it), the lease expired, or the
    worker never held it. Nothing of those writes reached the database; writes of other slots in
    the same batch were committed. Fields: ``slots`` (the refused slot numbers, sorted) and
    ``rows`` (how many queued changes were discarded)."""
