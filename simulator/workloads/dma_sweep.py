"""``dma_sweep``: transfers of growing size over named paths; latency and bandwidth.

Paths (PE 0 of cube 0 is the initiator):

1. ``own_hbm``: PE 0 loads from its own HBM slice.
2. ``other_cube_hbm``: PE 0 loads from the HBM slice of PE 0 in the last cube.
3. ``other_pe_tcm``: PE 0 loads from the TCM of PE 1 in its cube.
4. ``host_hbm``: the host writes into PE 0's HBM slice.

For each path the sweep fits ``latency = alpha + n / B`` by least squares over the
sizes and reports alpha and B beside the per-size numbers.
"""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.workloads import bounds
from simulator.workloads.registry import Param, WorkloadResult, workload

PATHS = ("own_hbm", "other_cube_hbm", "other_pe_tcm", "host_hbm")


def load_kernel(src) -> None:
    """Load the whole source tensor into TCM once (one DMA_IN op)."""
    tl.load(src)


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 2:
        raise ValueError(f"sizes must be comma-separated byte counts >= 2, got {text!r}")
    return sizes


@workload(
    "dma_sweep",
    params=(
        Param(
            "sizes", str, "1024,4096,16384,65536,262144", "transfer sizes in bytes, comma-separated"
        ),
        Param("paths", str, ",".join(PATHS), "paths to sweep, comma-separated"),
    ),
)
def dma_sweep(rt, p) -> WorkloadResult:
    """Transfers of growing size over named paths: latency, bandwidth, alpha-beta fit."""
    sizes = _sizes(p["sizes"])
    paths = [s.strip() for s in p["paths"].split(",") if s.strip()]
    for path in paths:
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; valid: {', '.join(PATHS)}")
    coords = rt.device_pes
    initiator = coords[0]
    last_cube = [c for c in coords if (c.sip, c.cube) == (coords[-1].sip, coords[-1].cube)][0]
    result = WorkloadResult()
    total_ns = bound_ns = 0.0
    for path in paths:
        latencies = []
        for size in sizes:
            elements = size // 2
            if path == "host_hbm":
                t = rt.empty((elements,), "float16", Placement.single(initiator))
                start = rt.now_ns
                rt.copy_from_host(t, np.zeros(elements, np.float16) if rt.verify_data else None)
                latency = rt.now_ns - start
            else:
                where = {
                    "own_hbm": (initiator, "hbm"),
                    "other_cube_hbm": (last_cube, "hbm"),
                    "other_pe_tcm": (coords[1], "tcm"),
                }[path]
                src = rt.empty((elements,), "float16", Placement.single(where[0]), memory=where[1])
                launch = rt.launch(load_kernel, src, pes=[initiator], name=f"load_{path}")
                rt.synchronize()
                program = launch.programs[0]
                latency = program.exec_end_ns - program.exec_start_ns
            latencies.append(latency)
            total_ns += latency
            bound_ns += _bound_ns(rt.topology.params, path, size)
            result.add(f"dma.{path}.{size}B.latency_ns", latency, "ns", better="lower")
            result.add(f"dma.{path}.{size}B.bw_gbs", size / latency, "gbs", better="higher")
        slope, alpha = np.polyfit(np.array(sizes, float), np.array(latencies, float), 1)
        result.add(f"dma.{path}.alpha_ns", alpha, "ns", better="lower")
        result.add(f"dma.{path}.bw_gbs", 1.0 / slope, "gbs", better="higher")
    result.add("latency_ns", total_ns, "ns", better="lower")
    result.add_bound(bound_ns, total_ns)
    return result


def _bound_ns(params, path: str, size: int) -> float:
    """Physics bound of one transfer of ``size`` bytes over ``path``: the bytes at the
    slowest resource they cross (plus the PE_DMA issue cost, or the host link's latency)."""
    cube, sip, tcm = params.cube, params.sip, params.pe.tcm.bw_gbs
    if path == "host_hbm":
        host_link = params.system.host_link
        slowest = min(host_link.bw_gbs, sip.io_port_link.bw_gbs, sip.io_link.bw_gbs,
                      cube.hbm.bw_gbs)  # fmt: skip
        return host_link.latency_ns + size / slowest
    crossed = {
        "own_hbm": [cube.hbm.bw_gbs, tcm],
        "other_pe_tcm": [tcm, cube.pe_link.bw_gbs],
        "other_cube_hbm": [cube.hbm.bw_gbs, sip.mesh_link.bw_gbs, cube.pe_link.bw_gbs, tcm],
    }[path]
    if path == "other_cube_hbm" and params.sip.cube_rows * params.sip.cube_cols == 1:
        # One cube: the last cube's first PE is the initiator, so this is its own HBM.
        crossed = [cube.hbm.bw_gbs, tcm]
    return bounds.dma_bound_ns(params, size, crossed)
