"""Shared pieces of the Triton tutorial workloads: inputs, a roofline bound, metrics.

The bound is a first-principles lower limit on the kernel's time from the topology
alone: every byte a kernel reads comes out of an HBM slice and every byte it writes goes
into one (``n_slices`` slices hold its tensors, each ``cube.hbm.bw_gbs``), every byte
enters or leaves a PE's TCM (``n_pes`` PEs run programs, each ``pe.tcm.bw_gbs``), and
GEMM FLOPs run at most at the arrays' peak (``2 * rows * cols * clock`` per PE). Reads
and writes of one memory share its bandwidth (memories are shared capacities), so
``bound_ns = max((read + write) / (n_slices * hbm_bw), (read + write) / (n_pes *
tcm_bw), flops / (n_pes * peak))`` and ``efficiency = bound_ns / kernel_ns <= 1``.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.launch import Launch
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime
from simulator.runtime.tensor import Tensor
from simulator.workloads.registry import WorkloadResult


def upload(rt: Runtime, values: np.ndarray, name: str,
           placement: Placement | None = None) -> Tensor:  # fmt: skip
    """A device tensor holding ``values``, over ``placement`` (by default row-wise over
    the device's PEs).

    Without verify_data only the DMAs are paid, so both modes take the same time.
    """
    tensor = rt.empty(values.shape, values.dtype, placement, name=name)
    rt.copy_from_host(tensor, values if rt.verify_data else None)
    return tensor


def roofline_ns(
    rt: Runtime, read_bytes: int, write_bytes: int, n_slices: int, n_pes: int, flops: int = 0
) -> float:
    """The lower bound on kernel time described in the module docstring."""
    p = rt.topology.params
    moved = read_bytes + write_bytes  # reads and writes share each memory
    peak_flops_per_ns = 2 * p.pe.gemm.rows * p.pe.gemm.cols * p.pe.clock_ghz
    return max(
        moved / (n_slices * p.cube.hbm.bw_gbs),
        moved / (n_pes * p.pe.tcm.bw_gbs),
        flops / (n_pes * peak_flops_per_ns),
    )


def timing_metrics(result: WorkloadResult, launch: Launch, bound_ns: float, nbytes: int) -> None:
    """kernel_ns (first program start -> last op end), latency_ns (host issue -> end),
    achieved bandwidth, the roofline bound and the efficiency against it."""
    kernel_ns = launch.end_ns - launch.target_start_ns
    result.add("kernel_ns", kernel_ns, "ns", better="lower")
    result.add("latency_ns", launch.end_ns - launch.host_issue_ns, "ns", better="lower")
    result.add("bw_gbs", nbytes / kernel_ns, "gbs", better="higher")
    result.add("bound_ns", bound_ns, "ns", better="lower")
    result.add("efficiency", bound_ns / kernel_ns, "ratio", better="higher")
    result.add("n_programs", len(launch.programs), "count", better="higher")


def kernel_result(rt: Runtime, launch: Launch, read_bytes: int, write_bytes: int, n_slices: int,
                  flops: int = 0) -> WorkloadResult:  # fmt: skip
    """A result holding the launch's timing metrics against its roofline bound (its
    programs on at most every PE) and, for a kernel doing ``flops`` GEMM FLOPs, its
    TFLOP/s."""
    result = WorkloadResult()
    n_pes = min(len(rt.device_pes), len(launch.programs))
    bound = roofline_ns(rt, read_bytes, write_bytes, n_slices, n_pes, flops)
    timing_metrics(result, launch, bound, read_bytes + write_bytes)
    if flops:
        kernel_ns = launch.end_ns - launch.target_start_ns
        result.add("tflops", flops / kernel_ns / 1e3, "tflops", better="higher")
    return result
