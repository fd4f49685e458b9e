"""Build fleetven's compiled hot paths.

Every ``fleetven/_fast/*.pyx`` becomes the extension module
``fleetven._fast.<stem>``. The extensions cimport lxml's C API, so they are
compiled against the headers of the installed lxml (``lxml.get_include()``).

``FLEETVEN_NO_EXTENSIONS=1`` (any non-empty value) builds no extension: a pure
Python build, whose import uses the pure-Python twins.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
NO_EXTENSIONS = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))


def extensions() -> list[Extension]:
    """Return the extension modules to build (none for a pure build)."""
    if NO_EXTENSIONS:
        return []
    sources = sorted((HERE / "fleetven" / "_fast").glob("*.pyx"))
    if not sources:
        return []

    import lxml
    from Cython.Build import cythonize

    include_dirs = [d for d in lxml.get_include() if not d.endswith("__pycache__")]
    modules = [
        Extension(
            f"fleetven._fast.{src.stem}",
            sources=[str(src.relative_to(HERE))],
            include_dirs=include_dirs,
        )
        for src in sources
    ]
    compiled: list[Extension] = cythonize(
        modules,
        include_path=include_dirs,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
        },
    )
    return compiled


setup(ext_modules=extensions())
