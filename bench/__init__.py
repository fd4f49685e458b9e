"""Benchmarks: each script generates its own inputs, times fleetven and its contenders in one run,
prints a table of medians and ratios and writes ``--json``. See ``docs/benchmarks.rst``."""
