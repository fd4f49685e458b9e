"""fleetven: a fleet of OpenADR 2.0b VENs in one process."""

from .exceptions import (
    BuildError,
    ConfigurationError,
    FleetvenError,
    InvalidMessage,
    InvalidValue,
    MalformedXML,
    MessageError,
    MessageTooLarge,
    UnknownMessage,
    UnsafeXML,
)

__version__ = "0.1.0"

__all__ = (
    "__version__",
    "FleetvenError",
    "ConfigurationError",
    "MessageError",
    "MessageTooLarge",
    "UnsafeXML",
    "MalformedXML",
    "UnknownMessage",
    "InvalidMessage",
    "InvalidValue",
    "BuildError",
)
