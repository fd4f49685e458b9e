"""Helpers shared by the tests (import as ``from _helpers import ...``).

pytest puts ``tests/`` on ``sys.path`` (rootdir-relative "prepend" import
mode, no ``__init__.py``), so test modules import this file directly.
"""

from __future__ import annotations

from importlib import resources

from lxml import etree

__all__ = ("assert_valid_oadr", "load_oadr_schema", "oadr_errors")


def load_oadr_schema() -> etree.XMLSchema:
    """Load the official ``oadr_20b.xsd`` from the installed openleadr package.

    The schema includes and imports its sibling files, so it is parsed from a
    real path (``importlib.resources.as_file``), never copied into this repo.
    """
    xsd = resources.files("openleadr").joinpath("schema", "oadr_20b.xsd")
    with resources.as_file(xsd) as path:
        return etree.XMLSchema(etree.parse(str(path)))


def oadr_errors(schema: etree.XMLSchema, data: bytes) -> list[str]:
    """Return the schema's complaints about the document ``data`` (empty when valid)."""
    doc = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def assert_valid_oadr(schema: etree.XMLSchema, data: bytes) -> None:
    """Fail the test, listing every schema error, unless ``data`` validates against oadr_20b.xsd."""
    errors = oadr_errors(schema, data)
    if errors:
        shown = data.decode("utf-8", "replace")
        if len(shown) > 4000:
            shown = shown[:4000] + "..."
        raise AssertionError("not valid against oadr_20b.xsd:\n  " + "\n  ".join(errors) + "\n" + shown)
