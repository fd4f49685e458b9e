"""Many VENs in one process and the runtime they share: loop, timer wheel, pool, keys, store."""

from fleetven.fleet.core import Fleet

__all__ = ("Fleet",)
