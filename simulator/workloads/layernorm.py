"""``layernorm``: Triton's fused layer-norm tutorial (forward pass), one row per program."""

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

# The tutorial caps the block at 64 KB of one row.
MAX_FUSED_BYTES = 65536


@tl.jit
def _layer_norm_fwd_fused(
    X, Y, W, B, Mean, Rstd, stride, N, eps,  # noqa: N803
    BLOCK_SIZE: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's tutorial kernel, unchanged but for its imports."""
    row = tl.program_id(0)
    Y += row * stride
    X += row * stride
    mean = 0
    _mean = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        a = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        _mean += a
    mean = tl.sum(_mean, axis=0) / N
    _var = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        x = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        x = tl.where(cols < N, x - mean, 0.0)
        _var += x * x
    var = tl.sum(_var, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        mask = cols < N
        w = tl.load(W + cols, mask=mask)
        b = tl.load(B + cols, mask=mask)
        x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        x_hat = (x - mean) * rstd
        y = x_hat * w + b
        tl.store(Y + cols, y, mask=mask)


@workload(
    "layernorm",
    params=(
        Param("M", int, 256, "rows (one program each)", minimum=32),
        Param("N", int, 1000, "features per row (need not be a power of 2)", minimum=1),
        Param("block_size", int, 0, "columns per step (0: the tutorial's choice)", minimum=0),
        Param("eps", float, 1e-5, "added to the variance"),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """y = (x - mean) / sqrt(var + eps) * w + b per row of a float32 matrix, with the
    row means and reciprocal standard deviations stored beside it."""
    m, n, eps = p["M"], p["N"], p["eps"]
    rng = np.random.default_rng(p["seed"])
    x_np = rng.standard_normal((m, n)).astype(np.float32)
    w_np = rng.random(n, dtype=np.float32)
    b_np = rng.random(n, dtype=np.float32)
    x = upload(rt, x_np, "x")
    w = upload(rt, w_np, "w")
    b = upload(rt, b_np, "b")
    y = rt.empty((m, n), "float32", name="y")
    mean = rt.empty((m,), "float32", name="mean")
    rstd = rt.empty((m,), "float32", name="rstd")
    block = p["block_size"] or min(MAX_FUSED_BYTES // 4, next_power_of_2(n))
    launch = _layer_norm_fwd_fused[(m,)](
        x, y, w, b, mean, rstd, x.stride(0), n, eps, BLOCK_SIZE=block, num_warps=8
    )
    rt.synchronize()
    result = WorkloadResult()
    # Bytes the masks let through: x three times, w and b once per row, y, mean, rstd.
    read = (3 * m * n + 2 * m * n) * 4
    write = (m * n + 2 * m) * 4
    n_pes = min(len(rt.device_pes), m)
    timing_metrics(result, launch, roofline_ns(rt, read, write, len(x.shards), n_pes), read + write)
    if rt.verify_data:
        mu = x_np.mean(axis=1, keepdims=True)
        sd = 1 / np.sqrt(x_np.var(axis=1, keepdims=True) + eps)
        expected = (x_np - mu) * sd * w_np + b_np
        result.verified = bool(
            np.allclose(y.peek(), expected, rtol=1e-4, atol=1e-5)
            and np.allclose(mean.peek(), mu[:, 0], rtol=1e-5, atol=1e-6)
            and np.allclose(rstd.peek(), sd[:, 0], rtol=1e-4)
        )
    return result
