"""First-principles lower bounds on a workload's latency, from topology parameters alone.

Every workload records ``bound_ns`` (the time no correct machine with these parameters
can beat) and ``efficiency = bound_ns / latency_ns`` (at most 1). The formulas here
read only :class:`~simulator.hw.params.TopologyParams` fields; they never call the
graph, routing, network, engine or launch code, so a modelling bug in the simulator
cannot hide in its own bound. Each is deliberately simple and loose where the true
optimum is hard to state: a lower bound only has to be *lower*.

Terms (units: ns, bytes, GB/s = bytes/ns, FLOP/ns):

1. Launch path: host -> IO_CPU -> M_CPU -> PE_CPU. Per hop, the link's latency plus the
   arrival node's overhead (the cost convention of the YAML); message bytes and queueing
   are ignored (they only add time).
2. Roofline of one PE: ``max(flops / gemm_peak, bytes / hbm.bw_gbs)`` for compulsory HBM
   traffic (each operand read once, each result written once; reads and writes share
   the slice).
3. All-reduce of ``n`` bytes per rank over ``p`` ranks (no in-network reduction): each
   rank reads ``n`` from and writes ``n`` to its HBM slice (``2n / hbm``), must send and
   receive ``2(p-1)n/p`` bytes through its one NoC port (Chan et al. 2007's bandwidth
   bound), and the result depends on every input, so at least ``ceil(log2 p)`` messages
   of the cheapest PE-to-PE latency lie on its critical path. The bound is the largest
   of the three (they can overlap).
"""

from __future__ import annotations

import math

from simulator.hw.params import TopologyParams

# Relative slack before efficiency > 1 counts as beating physics: float rounding of
# sums taken in a different order, nothing more.
EFFICIENCY_TOLERANCE = 1e-9


def launch_path_ns(params: TopologyParams, cube_row: int) -> float:
    """Latency of a launch message from the host to a PE_CPU in a cube on mesh row
    ``cube_row`` (the IO chiplet attaches to row 0), without queueing or bytes."""
    sys, sip, cube, pe = params.system, params.sip, params.cube, params.pe
    to_io_cpu = (
        sys.host_link.latency_ns  # host -> host port (no overhead)
        + sip.io_port_link.latency_ns
        + sip.io_noc_overhead_ns  # host port -> IO NoC
        + sip.io_port_link.latency_ns
        + sip.io_cpu_overhead_ns  # IO NoC -> IO_CPU
    )
    to_m_cpu = (
        sip.io_port_link.latency_ns
        + sip.io_noc_overhead_ns  # IO_CPU -> IO NoC
        + sip.io_link.latency_ns
        + cube.noc_overhead_ns  # IO NoC -> row-0 cube NoC
        + cube_row * (sip.mesh_link.latency_ns + cube.noc_overhead_ns)  # down the column
        + cube.m_cpu_link.latency_ns
        + cube.m_cpu_overhead_ns  # cube NoC -> M_CPU
    )
    to_pe_cpu = (
        cube.m_cpu_link.latency_ns
        + cube.noc_overhead_ns  # M_CPU -> cube NoC
        + cube.pe_link.latency_ns
        + pe.cpu_overhead_ns  # cube NoC -> PE_CPU
    )
    return to_io_cpu + to_m_cpu + to_pe_cpu


def launch_bound_ns(params: TopologyParams, cube_rows: list[int]) -> float:
    """A launch ends no earlier than its message reaches the farthest target PE_CPU
    (``cube_rows``: the mesh row of each target's cube)."""
    return max(launch_path_ns(params, row) for row in cube_rows)


def gemm_peak_flops_per_ns(params: TopologyParams) -> float:
    """One PE's GEMM peak: 2 * rows * cols FLOPs per cycle at the PE clock."""
    pe = params.pe
    return 2 * pe.gemm.rows * pe.gemm.cols * pe.clock_ghz


def roofline_ns(params: TopologyParams, flops: float, hbm_bytes: float, n_pes: int) -> float:
    """Work spread evenly over ``n_pes`` PEs at best: ``max(flops / (n * peak),
    hbm_bytes / (n * hbm.bw_gbs))``."""
    compute_ns = flops / (n_pes * gemm_peak_flops_per_ns(params))
    memory_ns = hbm_bytes / (n_pes * params.cube.hbm.bw_gbs)
    return max(compute_ns, memory_ns)


def gemm_bytes(m: int, n: int, k: int, itemsize: int) -> int:
    """Compulsory HBM bytes of ``C = A @ B``: read A and B once, write C once."""
    return (m * k + k * n + m * n) * itemsize


def pe_message_min_ns(params: TopologyParams) -> float:
    """The cheapest PE-to-PE message: DMA issue, out of one PE's port, through its cube
    NoC, into a neighbour's port (memory latencies left out: a lower bound)."""
    cube = params.cube
    return params.pe.dma_overhead_ns + 2 * cube.pe_link.latency_ns + cube.noc_overhead_ns


def all_reduce_bound_ns(params: TopologyParams, world: int, nbytes: int) -> float:
    """Lower bound of an all-reduce of ``nbytes`` per rank over ``world`` ranks, one PE
    each, buffers in HBM (term 3 of the module doc)."""
    if world < 2:
        return 0.0
    port_gbs = min(params.cube.pe_link.bw_gbs, params.pe.tcm.bw_gbs)
    traffic_ns = 2 * (world - 1) * nbytes / (world * port_gbs)
    hbm_ns = 2 * nbytes / params.cube.hbm.bw_gbs
    latency_ns = math.ceil(math.log2(world)) * pe_message_min_ns(params)
    return max(traffic_ns, hbm_ns, latency_ns)


def dma_bound_ns(params: TopologyParams, nbytes: int, bw_gbs: list[float]) -> float:
    """One DMA of ``nbytes`` through resources of bandwidths ``bw_gbs``: its issue cost
    plus the bytes at the slowest of them."""
    return params.pe.dma_overhead_ns + nbytes / min(bw_gbs)
