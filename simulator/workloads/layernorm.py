"""``layernorm`` and ``layernorm_backward``: Triton's fused layer-norm tutorial, one row
per program; the backward pass sums its weight and bias gradients under spin locks."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.triton import cdiv, next_power_of_2
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


@tl.jit
def _layer_norm_bwd_dx_fused(
    DX, DY, DW, DB, X, W, Mean, Rstd, Lock, stride, N,  # noqa: N803
    GROUP_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's tutorial kernel, unchanged but for its imports: dx of one row, and its
    share of dw and db added into one of GROUP_SIZE_M partial rows under that row's
    spin lock (the first program to take a lock stores, the others accumulate)."""
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_SIZE_N)
    mask = cols < N
    X += row * stride
    DY += row * stride
    DX += row * stride
    lock_id = row % GROUP_SIZE_M
    Lock += lock_id
    Count = Lock + GROUP_SIZE_M  # noqa: N806
    DW = DW + lock_id * N + cols
    DB = DB + lock_id * N + cols
    x = tl.load(X + cols, mask=mask, other=0).to(tl.float32)
    dy = tl.load(DY + cols, mask=mask, other=0).to(tl.float32)
    w = tl.load(W + cols, mask=mask).to(tl.float32)
    mean = tl.load(Mean + row)
    rstd = tl.load(Rstd + row)
    xhat = (x - mean) * rstd
    wdy = w * dy
    xhat = tl.where(mask, xhat, 0.0)
    wdy = tl.where(mask, wdy, 0.0)
    c1 = tl.sum(xhat * wdy, axis=0) / N
    c2 = tl.sum(wdy, axis=0) / N
    dx = (wdy - (xhat * c1 + c2)) * rstd
    tl.store(DX + cols, dx, mask=mask)
    partial_dw = (dy * xhat).to(w.dtype)
    partial_db = (dy).to(w.dtype)
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    if count == 0:
        tl.atomic_xchg(Count, 1)
    else:
        partial_dw += tl.load(DW, mask=mask)
        partial_db += tl.load(DB, mask=mask)
    tl.store(DW, partial_dw, mask=mask)
    tl.store(DB, partial_db, mask=mask)
    tl.debug_barrier()
    tl.atomic_xchg(Lock, 0)


@tl.jit
def _layer_norm_bwd_dwdb(
    DW, DB, FINAL_DW, FINAL_DB, M, N,  # noqa: N803
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's tutorial kernel, unchanged but for its imports: the partial rows summed
    into dw and db."""
    pid = tl.program_id(0)
    cols = pid * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    dw = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    db = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for i in range(0, M, BLOCK_SIZE_M):
        rows = i + tl.arange(0, BLOCK_SIZE_M)
        mask = (rows[:, None] < M) & (cols[None, :] < N)
        offs = rows[:, None] * N + cols[None, :]
        dw += tl.load(DW + offs, mask=mask, other=0.0)
        db += tl.load(DB + offs, mask=mask, other=0.0)
    sum_dw = tl.sum(dw, axis=0)
    sum_db = tl.sum(db, axis=0)
    tl.store(FINAL_DW + cols, sum_dw, mask=cols < N)
    tl.store(FINAL_DB + cols, sum_db, mask=cols < N)


def layer_norm_grads(x: np.ndarray, w: np.ndarray, dy: np.ndarray, eps: float):
    """numpy's dx, dw, db of y = (x - mean) * rstd * w + b, row-wise, and the mean and
    rstd the forward pass stores."""
    mean = x.mean(axis=1, keepdims=True)
    rstd = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    wdy = w * dy
    c1 = (xhat * wdy).mean(axis=1, keepdims=True)
    c2 = wdy.mean(axis=1, keepdims=True)
    dx = (wdy - (xhat * c1 + c2)) * rstd
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0), mean[:, 0], rstd[:, 0]


@workload(
    "layernorm_backward",
    params=(
        Param("M", int, 256, "rows (one program each)", minimum=32),
        Param("N", int, 1000, "features per row (need not be a power of 2)", minimum=1),
        Param(
            "group_size_m",
            int,
            0,
            "GROUP_SIZE_M, locked partial rows (0: the tutorial's choice)",
            minimum=0,
        ),  # fmt: skip
        Param("eps", float, 1e-5, "added to the variance"),
        Param("seed", int, 0, "random seed of the inputs"),
    ),
    needs_data=True,
)
def run_backward(rt, p) -> WorkloadResult:
    """dx, dw and db of layer norm (the tutorial's backward), from x, w, dy and the
    forward's mean and rstd; runs in data mode (its spin locks branch on loaded values).
    kernel_ns is the dx kernel's, lock waits included; dwdb_ns the final sum's."""
    m, n, eps = p["M"], p["N"], p["eps"]
    rng = np.random.default_rng(p["seed"])
    x_np = rng.standard_normal((m, n)).astype(np.float32)
    w_np = rng.random(n, dtype=np.float32)
    dy_np = rng.standard_normal((m, n)).astype(np.float32)
    dx_ref, dw_ref, db_ref, mean_np, rstd_np = layer_norm_grads(x_np, w_np, dy_np, eps)
    # The tutorial's choice of lock count by row length.
    group = p["group_size_m"] or (256 if n <= 1024 else 128 if n <= 4096 else 96 if n <= 8192
                                  else 64)  # fmt: skip
    block = min(MAX_FUSED_BYTES // 4, next_power_of_2(n))
    x, dy = upload(rt, x_np, "x"), upload(rt, dy_np, "dy")
    w = upload(rt, w_np, "w")
    mean, rstd = upload(rt, mean_np.astype(np.float32), "mean"), upload(rt, rstd_np.astype(
        np.float32), "rstd")  # fmt: skip
    one_pe = Placement.single(0)
    locks = rt.zeros((2 * group,), "int32", one_pe, name="locks")
    partial_dw = rt.zeros((group, n), "float32", one_pe, name="_dw")
    partial_db = rt.zeros((group, n), "float32", one_pe, name="_db")
    dx = rt.empty((m, n), "float32", name="dx")
    dw = rt.empty((n,), "float32", one_pe, name="dw")
    db = rt.empty((n,), "float32", one_pe, name="db")
    launch = _layer_norm_bwd_dx_fused[(m,)](
        dx, dy, partial_dw, partial_db, x, w, mean, rstd, locks, x.stride(0), n,
        BLOCK_SIZE_N=block, GROUP_SIZE_M=group, num_warps=8,
    )  # fmt: skip
    reduce = _layer_norm_bwd_dwdb[(cdiv(n, 128),)](
        partial_dw, partial_db, dw, db, min(group, m), n, BLOCK_SIZE_M=32, BLOCK_SIZE_N=128
    )
    rt.synchronize()
    result = WorkloadResult()
    # x, dy and w per row, mean and rstd; dx, and each row's partial dw and db stored,
    # loaded back by every row after the first of its lock.
    accumulating = max(m - group, 0)
    read = (3 * m * n + 2 * m + 2 * accumulating * n) * 4
    write = (m * n + 2 * m * n) * 4
    n_pes = min(len(rt.device_pes), m)
    timing_metrics(result, launch, roofline_ns(rt, read, write, len(x.shards), n_pes), read + write)
    result.add("dwdb_ns", reduce.end_ns - reduce.target_start_ns, "ns", better="lower")
    result.verified = bool(
        np.allclose(dx.peek(), dx_ref, rtol=1e-4, atol=1e-4)
        and np.allclose(dw.peek(), dw_ref, rtol=1e-4, atol=1e-3)
        and np.allclose(db.peek(), db_ref, rtol=1e-4, atol=1e-3)
    )
    return result
