"""``vector_add``: Triton's first tutorial, ``output = x + y`` over a 1-D grid."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@tl.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):  # noqa: N803
    """Triton's tutorial kernel, unchanged but for its imports."""
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    output = x + y
    tl.store(output_ptr + offsets, output, mask=mask)


@workload(
    "vector_add",
    params=(
        Param("n", int, 98432, "elements (need not be a multiple of the block)", minimum=32),
        Param("block_size", int, 1024, "elements per program (a power of 2)", minimum=1),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """x + y for float32 vectors sharded row-wise over every PE, one program per block."""
    n, block = p["n"], p["block_size"]
    rng = np.random.default_rng(p["seed"])
    x_np = rng.random(n, dtype=np.float32)
    y_np = rng.random(n, dtype=np.float32)
    x, y = upload(rt, x_np, "x"), upload(rt, y_np, "y")
    output = rt.empty((n,), "float32", name="output")
    grid = lambda meta: (tl.cdiv(n, meta["BLOCK_SIZE"]),)  # noqa: E731 - Triton's idiom
    launch = add_kernel[grid](x, y, output, n, BLOCK_SIZE=block)
    rt.synchronize()
    result = kernel_result(rt, launch, 2 * n * 4, n * 4, len(x.shards))
    if rt.verify_data:
        result.verified = bool(np.array_equal(output.peek(), x_np + y_np))
    return result
