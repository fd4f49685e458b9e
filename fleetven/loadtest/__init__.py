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

from .driver import LoadTest, LoadTestConfig, ReportOption, parse_report_option
from .monitor import Monitor
from .recorder import AGGREGATED, PERCENTILES, HistoryRow, RampPoint, Recorder, Tally
from .report import render_report
from .results import Result
from .units import parse_duration

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
