"""Which number leads a run's summary: the workload's own latency.

The simulated end time (`runs.sim_end_ns`) covers the whole run -- tensor setup, host
copies and every launch -- so it is not what a workload measures. Each workload
records its own latency as a metric; these are its names, most specific first.
"""

from __future__ import annotations

from collections.abc import Iterable

HEADLINE_METRICS = ("latency_ns", "kernel_ns", "launch_latency_ns")


def headline_name(names: Iterable[str], units: dict[str, str] | None = None) -> str | None:
    """The name of the headline metric among ``names``: the first of HEADLINE_METRICS
    present, else the first metric whose unit (``units[name]``) is ``ns``, else None."""
    names = list(names)
    for name in HEADLINE_METRICS:
        if name in names:
            return name
    units = units or {}
    return next((name for name in names if units.get(name) == "ns"), None)
