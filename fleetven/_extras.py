"""The optional dependencies: parts of fleetven that import a package only an extra installs.

Such a part imports the package where it is first needed, and turns the ``ImportError`` into
one that says which extra installs it.
"""

from __future__ import annotations

__all__ = ("missing_extra",)


def missing_extra(feature: str, extra: str, exc: ImportError) -> ImportError:
    """Return the error for ``feature`` when importing its optional dependency failed with ``exc``.

    The message names the missing package (the top level of the module that failed) and
    the command that installs it, ``pip install 'fleetven[<extra>]'``; ``name`` is the
    missing module's, as in Python's own error.
    """
    module = exc.name.partition(".")[0] if exc.name else str(exc)
    return ImportError(
        f"{feature} needs {module}, which is not installed: pip install 'fleetven[{extra}]'", name=exc.name
    )
