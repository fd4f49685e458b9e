"""fleetven: a fleet of OpenADR 2.0b VENs in one process."""

from .client import OpenADRClient
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
from .fleet import Fleet
from .ven import Ven

__version__ = "0.1.0"

__all__ = (
    "__version__",
    "Fleet",
    "Ven",
    "OpenADRClient",
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
