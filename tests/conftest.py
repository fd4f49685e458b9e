"""Fixtures shared by the whole suite.

* ``extract_impl``: every test that takes it runs over the pure-Python twin
  ("py") and the compiled extractor ("c").
* ``sig_impl``: the same for the signature twins (``_sig_py`` / ``_sig_c``):
  the module, with ``c14n``, ``seal`` and ``inspect_signed``.
* every ``async def`` test runs on plain asyncio and on uvloop (the
  ``pytest_asyncio_loop_factories`` hook below).
* ``oadr_schema``: the official ``oadr_20b.xsd`` from the installed openleadr,
  for :func:`_helpers.assert_valid_oadr`.
* ``postgresql_server`` and ``pg_dsn``: a throwaway PostgreSQL server for the session and an
  empty database per test (:mod:`_postgres`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import uvloop
from _helpers import load_oadr_schema, load_twin
from _postgres import pg_dsn, postgresql_server
from lxml import etree

# Read the variable here rather than importing fleetven: a package that does
# not import must fail its tests, not the collection of the whole suite.
__all__ = ("pg_dsn", "postgresql_server")  # fixtures, re-exported for the whole suite

NO_EXTENSIONS = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))

ExtractFn = Callable[[Any], Any]


@pytest.fixture(params=["py", "c"])
def extract_impl(request: pytest.FixtureRequest) -> ExtractFn:
    """The ``extract`` function of the pure-Python twin, then of the compiled one (see :func:`load_twin`)."""
    module = load_twin("extract", request.param)
    fn: ExtractFn = module.extract
    return fn


@pytest.fixture(params=["py", "c"])
def sig_impl(request: pytest.FixtureRequest) -> Any:
    """The signature twin module (``c14n``, ``seal``, ``inspect_signed``): pure-Python, then compiled
    (see :func:`load_twin`)."""
    return load_twin("sig", request.param)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    """Run every asyncio test once on the stock event loop and once on uvloop.

    (pytest-asyncio >= 1.4 parametrizes each async test over these factories;
    overriding the ``event_loop_policy`` fixture is deprecated there.)
    """
    if item.get_closest_marker("one_loop") is not None:
        return {"asyncio": asyncio.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def oadr_schema() -> etree.XMLSchema:
    """The official OpenADR 2.0b schema, loaded once per session from openleadr."""
    return load_oadr_schema()
