"""``softmax``: Triton's fused softmax tutorial, one row per program."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.triton import next_power_of_2
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import (
    roofline_ns,
    timing_metrics,
    upload,
)


@tl.jit
def softmax_kernel(
    output_ptr, input_ptr, input_row_stride, output_row_stride, n_cols,
    BLOCK_SIZE: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's tutorial kernel (one row per program), unchanged but for its imports."""
    row_idx = tl.program_id(0)
    row_start_ptr = input_ptr + row_idx * input_row_stride
    col_offsets = tl.arange(0, BLOCK_SIZE)
    input_ptrs = row_start_ptr + col_offsets
    row = tl.load(input_ptrs, mask=col_offsets < n_cols, other=-float("inf"))
    row_minus_max = row - tl.max(row, axis=0)
    numerator = tl.exp(row_minus_max)
    denominator = tl.sum(numerator, axis=0)
    softmax_output = numerator / denominator
    output_row_start_ptr = output_ptr + row_idx * output_row_stride
    output_ptrs = output_row_start_ptr + col_offsets
    tl.store(output_ptrs, softmax_output, mask=col_offsets < n_cols)


@workload(
    "softmax",
    params=(
        Param("rows", int, 256, "rows (one program each)", minimum=32),
        Param("cols", int, 781, "columns (need not be a power of 2)", minimum=1),
        Param("seed", int, 0, "random seed of the input (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """Row-wise softmax of a float32 matrix sharded row-wise over every PE."""
    rows, cols = p["rows"], p["cols"]
    rng = np.random.default_rng(p["seed"])
    x_np = rng.standard_normal((rows, cols)).astype(np.float32)
    x = upload(rt, x_np, "x")
    y = rt.empty((rows, cols), "float32", name="y")
    block = next_power_of_2(cols)
    launch = softmax_kernel[(rows,)](
        y, x, x.stride(0), y.stride(0), cols, BLOCK_SIZE=block, num_warps=4
    )
    rt.synchronize()
    result = WorkloadResult()
    nbytes = 2 * rows * cols * 4
    n_pes = min(len(rt.device_pes), rows)
    timing_metrics(
        result, launch, roofline_ns(rt, nbytes // 2, nbytes // 2, len(x.shards), n_pes), nbytes
    )
    if rt.verify_data:
        z = np.exp(x_np - x_np.max(axis=1, keepdims=True))
        expected = z / z.sum(axis=1, keepdims=True)
        result.verified = bool(np.allclose(y.peek(), expected, rtol=1e-5, atol=1e-7))
    return result
