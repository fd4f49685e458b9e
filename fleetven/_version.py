"""The package version, in one place (read by setuptools and by the User-Agent header)."""

__version__ = "0.1.0"
