"""One VEN as a state machine without I/O: its state, registration, polling, event decisions and reports.

The driver that runs it against the fleet's transport, wheel and store is
:class:`fleetven.fleet.driver.Ven`.
"""

from fleetven.ven.machine import VenMachine
from fleetven.ven.record import VenRecord

__all__ = ("VenMachine", "VenRecord")
