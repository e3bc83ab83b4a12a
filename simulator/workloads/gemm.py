"""GEMM workloads: ``gemm_single_pe`` (one PE) and ``gemm`` (sharded over many PEs)."""

from __future__ import annotations

import numpy as np

from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime
from simulator.runtime.tensor import Tensor
from simulator.workloads import bounds
from simulator.workloads.kernels import gemm_kernel
from simulator.workloads.registry import Param, WorkloadResult, workload

TILE_PARAMS = (
    Param("block_m", int, 128, "tile rows of A and C", minimum=1),
    Param("block_n", int, 128, "tile columns of B and C", minimum=1),
    Param("block_k", int, 128, "tile depth (columns of A, rows of B)", minimum=1),
    Param("seed", int, 0, "random seed of the inputs (data mode)"),
)


def upload(rt: Runtime, shape, placement: Placement, rng: np.random.Generator, name: str) -> Tensor:
    """A float16 input tensor: random values in data mode, timing-only copy otherwise.

    Both modes pay the same host -> device DMAs, so simulated time is identical.
    """
    tensor = rt.empty(shape, "float16", placement, name)
    values = rng.standard_normal(shape).astype(np.float16) if rt.verify_data else None
    rt.copy_from_host(tensor, values)
    return tensor


def peak_flops_per_ns(rt: Runtime) -> float:
    """One PE's GEMM peak: 2 * rows * cols FLOPs per cycle at the PE clock."""
    pe = rt.topology.params.pe
    return 2 * pe.gemm.rows * pe.gemm.cols * pe.clock_ghz


def run_gemm(
    rt: Runtime, p: dict, a_place: Placement, b_place: Placement, c_place: Placement
) -> WorkloadResult:
    """Run ``C = A @ B`` with the given placements; metrics and (data mode) a check."""
    m, n, k = p["M"], p["N"], p["K"]
    rng = np.random.default_rng(p["seed"])
    a = upload(rt, (m, k), a_place, rng, "A")
    b = upload(rt, (k, n), b_place, rng, "B")
    c = rt.zeros((m, n), "float16", c_place, "C")
    launch = rt.launch(
        gemm_kernel, a, b, c, p["block_m"], p["block_n"], p["block_k"], pes=c.pes, name="gemm"
    )
    rt.synchronize()
    kernel_ns = launch.end_ns - launch.target_start_ns
    flops = 2 * m * n * k
    n_pes = len(launch.targets)
    result = WorkloadResult()
    result.add("kernel_ns", kernel_ns, "ns", better="lower")
    result.add("latency_ns", launch.end_ns - launch.host_issue_ns, "ns", better="lower")
    result.add("tflops", flops / kernel_ns / 1e3, "tflops", better="higher")
    result.add(
        "utilisation", flops / kernel_ns / (peak_flops_per_ns(rt) * n_pes), "ratio", better="higher"
    )
    result.add("n_pes", n_pes, "count", better="higher")
    params = rt.topology.params
    rows = [c.cube // rt.topology.cube_cols for c in launch.targets]
    bound_ns = bounds.launch_bound_ns(params, rows) + bounds.roofline_ns(
        params, flops, bounds.gemm_bytes(m, n, k, 2), n_pes
    )
    result.add_bound(bound_ns, launch.end_ns - launch.host_issue_ns)
    if rt.verify_data:
        a_host, b_host = a.peek(), b.peek()
        expected = (a_host.astype(np.float32) @ b_host.astype(np.float32)).astype(np.float16)
        got = c.peek()
        # fp16 output: compare with a tolerance scaled to the K-long fp32 accumulation.
        tol = 1e-2 * np.sqrt(k) + 1e-2
        result.verified = bool(
            np.allclose(got.astype(np.float32), expected.astype(np.float32), rtol=1e-2, atol=tol)
        )
    return result


@workload(
    "gemm_single_pe",
    params=(
        Param("M", int, 512, "rows of A and C", minimum=1),
        Param("N", int, 512, "columns of B and C", minimum=1),
        Param("K", int, 512, "columns of A, rows of B", minimum=1),
        *TILE_PARAMS,
        Param("pe", int, 0, "global index of the PE that runs it", minimum=0),
    ),
)
def gemm_single_pe(rt, p) -> WorkloadResult:
    """A tiled GEMM on one PE, operands in its own HBM slice: TFLOP/s and utilisation."""
    one = Placement.single(p["pe"])
    return run_gemm(rt, p, one, one, one)


@workload(
    "gemm",
    params=(
        Param("M", int, 2048, "rows of A and C (split over PEs)", minimum=1),
        Param("N", int, 512, "columns of B and C", minimum=1),
        Param("K", int, 512, "columns of A, rows of B", minimum=1),
        *TILE_PARAMS,
        Param("num_pes", int, 0, "PEs to shard over (0: every PE of the device)", minimum=0),
    ),
)
def gemm(rt, p) -> WorkloadResult:
    """The same GEMM sharded row-wise over many PEs: A and C by rows, B replicated."""
    num = p["num_pes"] or None
    rows = Placement.row_wise(num_pes=num)
    return run_gemm(rt, p, rows, Placement.replicate(num_pes=num), rows)
