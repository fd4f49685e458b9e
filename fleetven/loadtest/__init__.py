"""``fleetven loadtest``: load-test a VTN with a fleet, with latency figures a slow VTN cannot hide.

An open model: each VEN's polls and reports fall due on the fleet's timer wheel, and every
request's latency is measured from its due time (:class:`Recorder`, an
:class:`~fleetven.observe.Observer`), into HdrHistograms per message type and phase. See
``docs/loadtest.rst`` for the guide.

::

    from fleetven.loadtest import LoadTest, LoadTestConfig
    result = await LoadTest(LoadTestConfig(vtn_url=url, vens=1000, ramp=30, duration=120)).run()
    result.write("out")
"""

from fleetven.loadtest.driver import LoadTest
from fleetven.loadtest.monitor import Monitor
from fleetven.loadtest.recorder import AGGREGATED, PERCENTILES, HistoryRow, RampPoint, Recorder, Tally
from fleetven.loadtest.report import render_report
from fleetven.loadtest.results import Result
from fleetven.loadtest.settings import LoadTestConfig, ReportOption, parse_report_option
from fleetven.loadtest.units import parse_duration

__all__ = (
    "LoadTest",
    "LoadTestConfig",
    "ReportOption",
    "Result",
    "Recorder",
    "Tally",
    "HistoryRow",
    "RampPoint",
    "Monitor",
    "AGGREGATED",
    "PERCENTILES",
    "parse_duration",
    "parse_report_option",
    "render_report",
)
