"""Every metric of every registered workload is stored with its direction (metrics.better)."""

from __future__ import annotations

import pytest

from simulator.runner import run_workload
from simulator.workloads.registry import WorkloadError, WorkloadResult, list_workloads
from traces.store import Store
from traces.suites import load_suite

_SMOKE = {entry.workload: entry for entry in reversed(load_suite("smoke"))}  # first wins


@pytest.mark.parametrize("workload", [w.name for w in list_workloads()])
def test_every_metric_is_stored_with_better(tmp_path, workload):
    """A run of each workload (its smoke-suite case, else its defaults) stores "lower" or
    "higher" in metrics.better for every metric it records, as its outcome reports."""
    entry = _SMOKE.get(workload)
    params, topology = (entry.params, entry.topology) if entry else ({}, None)
    outcome = run_workload(workload, params, topology=topology, store=tmp_path)
    assert outcome.status == "ok", outcome.error
    rows = (
        Store(tmp_path)
        .connect()
        .sql("SELECT name, better FROM metrics WHERE run_id = ?", params=[outcome.run_id])
        .fetchall()
    )
    assert rows, f"{workload} recorded no metric"
    assert {better for _, better in rows} <= {"lower", "higher"}
    assert dict(rows) == {m.name: m.better for m in outcome.metrics}


def test_recording_a_metric_requires_a_direction():
    """WorkloadResult.add takes better= "lower" | "higher" and names the metric otherwise."""
    result = WorkloadResult()
    result.add("latency_ns", 5, "ns", better="lower")
    assert result.metrics[0].better == "lower"
    with pytest.raises(WorkloadError, match="metric 'x_ns'.*'sideways'"):
        result.add("x_ns", 1.0, "ns", better="sideways")
    with pytest.raises(TypeError):
        result.add("x_ns", 1.0, "ns")  # type: ignore[call-arg]
