"""The OpenADR 2.0b message model and codec. No I/O happens here.

:func:`parse_message` turns bytes from a peer into a model object, refusing
anything unsafe or invalid with a :class:`~fleetven.exceptions.MessageError`;
:func:`build_message` turns a model object into the bytes of an
``oadrPayload``.
"""

from fleetven.messages.build import build_message, build_signed_object
from fleetven.messages.parse import DEFAULT_MAX_SIZE, parse_document, parse_message
from fleetven.openadr.model import *  # noqa: F403
from fleetven.openadr.model import __all__ as _model_all

__all__ = (
    "parse_message",
    "parse_document",
    "build_message",
    "build_signed_object",
    "DEFAULT_MAX_SIZE",
    *_model_all,
)
