"""fleetven: a fleet of OpenADR 2.0b VENs in one process."""

from fleetven._version import __version__
from fleetven.compat.client import OpenADRClient
from fleetven.exceptions import (
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
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import Ven

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
