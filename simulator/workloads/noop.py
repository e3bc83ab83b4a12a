"""``noop``: an empty kernel on every PE; measures launch latency and start spread."""

from __future__ import annotations

from simulator.workloads import bounds
from simulator.workloads.kernels import noop_kernel
from simulator.workloads.registry import Param, WorkloadResult, workload


@workload(
    "noop",
    params=(
        Param("barrier", bool, True, "IO_CPU global start barrier (PEs start together)"),
        Param("launches", int, 1, "number of back-to-back launches", minimum=1),
    ),
)
def run(rt, p) -> WorkloadResult:
    """An empty kernel on every PE of the topology: launch latency and start spread."""
    result = WorkloadResult()
    latencies, spreads, late = [], [], 0
    for _ in range(p["launches"]):
        launch = rt.launch(noop_kernel, barrier=p["barrier"])
        rt.synchronize()
        starts = [prog.exec_start_ns for prog in launch.programs]
        latencies.append(launch.end_ns - launch.host_issue_ns)
        spreads.append(max(starts) - min(starts))
        late += launch.late_pes
    mean_ns = sum(latencies) / len(latencies)
    result.add("launch_latency_ns", mean_ns, "ns", better="lower")
    cols = rt.topology.cube_cols
    rows = [c.cube // cols for c in rt.device_pes]
    result.add_bound(bounds.launch_bound_ns(rt.topology.params, rows), mean_ns)
    result.add("spread_ns", max(spreads), "ns", better="lower")
    result.add("n_pes", len(rt.device_pes), "count", better="higher")
    result.add("late_pes", late, "count", better="lower")
    return result
