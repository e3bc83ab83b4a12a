"""``dropout``: Triton's low-memory dropout tutorial, a mask drawn with ``tl.rand`` from a
seed instead of stored."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.language.random import philox_words, uniform_values
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@tl.jit
def _seeded_dropout(
    x_ptr,
    output_ptr,
    n_elements,
    p,
    seed,
    BLOCK_SIZE: tl.constexpr,  # noqa: N803
):
    """Triton's tutorial kernel, unchanged but for its imports."""
    # compute memory offsets of elements handled by this instance
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    # load data from x
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    # randomly prune it
    random = tl.rand(seed, offsets)
    x_keep = random > p
    # write-back
    output = tl.where(x_keep, x / (1 - p), 0.0)
    tl.store(output_ptr + offsets, output, mask=mask)


@workload(
    "dropout",
    params=(
        Param("n", int, 98432, "elements (need not be a multiple of the block)", minimum=1),
        Param("p", float, 0.5, "probability of dropping an element", minimum=0.0),
        Param("dropout_seed", int, 123, "seed of the dropout mask (tl.rand)"),
        Param("block_size", int, 1024, "elements per program (a power of 2)", minimum=1),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """Dropout of a float32 vector sharded row-wise over every PE, one program per block;
    the same dropout_seed gives the same mask on any topology."""
    n, block, drop = p["n"], p["block_size"], p["p"]
    if drop >= 1.0:
        raise ValueError(f"dropout: p={drop} must be below 1 (kept elements are scaled by 1/(1-p))")
    x_np = np.random.default_rng(p["seed"]).standard_normal(n).astype(np.float32)
    x = upload(rt, x_np, "x")
    output = rt.empty((n,), "float32", name="output")
    grid = lambda meta: (tl.cdiv(n, meta["BLOCK_SIZE"]),)  # noqa: E731 - Triton's idiom
    launch = _seeded_dropout[grid](x, output, n, drop, p["dropout_seed"], BLOCK_SIZE=block)
    rt.synchronize()
    result = kernel_result(rt, launch, n * 4, n * 4, len(x.shards))
    if rt.verify_data:
        offsets = np.arange(n, dtype=np.int32)
        zero = np.zeros(n, np.uint32)
        words = philox_words(p["dropout_seed"], offsets.astype(np.uint32), zero, zero, zero)
        keep = uniform_values(words[0]) > np.float32(drop)
        expected = np.where(keep, x_np / np.float32(1 - drop), np.float32(0))
        result.verified = bool(np.allclose(output.peek(), expected, rtol=1e-6, atol=0))
    return result
