"""Drop-in compatibility with OpenLEADR: :class:`~fleetven.compat.client.OpenADRClient`."""

from fleetven.compat.client import OpenADRClient

__all__ = ("OpenADRClient",)
