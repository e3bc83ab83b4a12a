"""``axpy``: ``y = alpha * x + y`` on one PE, both tensors in its own HBM slice.

A memory-bound element-wise kernel: per element it reads ``x`` and ``y`` and writes
``y`` (3 x itemsize bytes through one HBM slice, whose reads and writes share its
``cube.hbm.bw_gbs``) for two cheap MATH ops. Its kernel time should sit just above
``bytes / hbm.bw_gbs``; the physics bound adds the launch path in front.
"""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.workloads import bounds
from simulator.workloads.registry import Param, WorkloadResult, workload

COLS = 1024  # elements per tensor row; tiles are whole rows


def axpy_kernel(x, y, alpha: float, block_rows: int) -> None:
    """``y = alpha * x + y`` over row tiles: two DMA_IN loads, MATH mul and add (fp32,
    cast back), one DMA_WB store per tile; tiles pipeline through the engine queues."""
    rows, cols = x.shape
    for r0 in range(0, rows, block_rows):
        xt = tl.load(tl.make_block_ptr(x, offsets=(r0, 0), block_shape=(block_rows, cols)),
                     boundary_check=(0,))  # fmt: skip
        yt = tl.load(tl.make_block_ptr(y, offsets=(r0, 0), block_shape=(block_rows, cols)),
                     boundary_check=(0,))  # fmt: skip
        out = tl.make_block_ptr(y, offsets=(r0, 0), block_shape=(block_rows, cols))
        tl.store(out, (xt * alpha + yt).to(y.dtype.element_ty), boundary_check=(0,))


@workload(
    "axpy",
    params=(
        Param("elements", int, 1 << 20, f"elements of x and y (a multiple of {COLS})", minimum=1),
        Param("alpha", float, 2.0, "the scalar a"),
        Param("block_rows", int, 16, f"rows of {COLS} elements per tile", minimum=1),
        Param("pe", int, 0, "global index of the PE (and HBM slice)", minimum=0),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def axpy(rt, p) -> WorkloadResult:
    """y = a*x + y in fp16 on one PE, x and y in its HBM slice: a memory-bound kernel."""
    elements = p["elements"]
    if elements % COLS:
        raise ValueError(f"parameter elements: {elements} is not a multiple of {COLS}")
    shape = (elements // COLS, COLS)
    place = Placement.single(p["pe"])
    rng = np.random.default_rng(p["seed"])
    x = rt.empty(shape, "float16", place, "x")
    y = rt.empty(shape, "float16", place, "y")
    x_host = y_host = None
    if rt.verify_data:
        x_host = rng.standard_normal(shape).astype(np.float16)
        y_host = rng.standard_normal(shape).astype(np.float16)
    rt.copy_from_host(x, x_host)
    rt.copy_from_host(y, y_host)
    launch = rt.launch(axpy_kernel, x, y, p["alpha"], p["block_rows"], pes=x.pes, name="axpy")
    rt.synchronize()
    params = rt.topology.params
    hbm_bytes = 3 * elements * 2
    kernel_ns = launch.end_ns - launch.target_start_ns
    latency_ns = launch.end_ns - launch.host_issue_ns
    result = WorkloadResult()
    result.add("kernel_ns", kernel_ns, "ns", better="lower")
    result.add("latency_ns", latency_ns, "ns", better="lower")
    result.add("hbm_gbs", hbm_bytes / kernel_ns, "gbs", better="higher")
    result.add("hbm_bytes", hbm_bytes, "bytes", better="lower")
    row = launch.targets[0].cube // rt.topology.cube_cols
    memory_ns = hbm_bytes / params.cube.hbm.bw_gbs
    result.add_bound(bounds.launch_path_ns(params, row) + memory_ns, latency_ns)
    if rt.verify_data:
        expected = (p["alpha"] * x_host.astype(np.float32) + y_host.astype(np.float32)).astype(
            np.float16
        )
        result.verified = bool(
            np.allclose(
                y.peek().astype(np.float32), expected.astype(np.float32), rtol=1e-3, atol=1e-3
            )  # fmt: skip
        )
    return result
