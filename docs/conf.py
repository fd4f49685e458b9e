"""Sphinx configuration for the fleetven documentation.

Build with ``make docs`` (``sphinx-build -W -b html docs docs/_build/html``);
any warning is an error, and a test (tests/test_package.py) builds it too.
No extension here reaches the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fleetven  # noqa: E402

project = "fleetven"
author = "fleetven developers"
copyright = "fleetven developers"
release = fleetven.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build"]
language = "en"
pygments_style = "sphinx"

autodoc_member_order = "bysource"
autodoc_default_options = {
    "show-inheritance": True,
}
autodoc_typehints = "signature"

html_theme = "alabaster"
html_title = f"fleetven {release}"


class EventShapeDirective(Directive):
    """``.. fleetven-event-shape::`` shows :data:`fleetven.openadr.model.EVENT_SHAPE`
    as a code block, straight from the code, so the page never goes stale."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from fleetven.openadr.model import EVENT_SHAPE

        text = EVENT_SHAPE.strip("\n")
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("fleetven-event-shape", EventShapeDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
