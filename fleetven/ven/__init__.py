"""One VEN: its registration, polling, event decisions, opt schedules and reports."""

from fleetven.ven.core import Ven

__all__ = ("Ven",)
