"""``matmul_splitk``: a split-K matmul as Triton users write it, partial tiles summed into C
with ``tl.atomic_add``."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@tl.jit
def matmul_splitk_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K,  # noqa: N803
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
    BLOCK_SIZE_K: tl.constexpr, SPLIT_K: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Program (pid, pid_k) computes its output tile over every SPLIT_K-th block of K and
    adds it into C atomically; C must start zeroed."""
    pid = tl.program_id(axis=0)
    pid_k = tl.program_id(axis=1)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    pid_m = pid // num_pid_n
    pid_n = pid % num_pid_n
    offs_m = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_n = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    offs_k = pid_k * BLOCK_SIZE_K + tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K * SPLIT_K)):
        k_remaining = K - k * (BLOCK_SIZE_K * SPLIT_K)
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_remaining),
                    other=0.0)  # fmt: skip
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_remaining) & (offs_n[None, :] < N),
                    other=0.0)  # fmt: skip
        accumulator += tl.dot(a, b)
        a_ptrs += BLOCK_SIZE_K * SPLIT_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * SPLIT_K * stride_bk
    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.atomic_add(c_ptrs, accumulator, mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


@workload(
    "matmul_splitk",
    params=(
        Param("M", int, 128, "rows of A and C", minimum=1),
        Param("N", int, 128, "columns of B and C", minimum=1),
        Param("K", int, 1024, "columns of A, rows of B", minimum=1),
        Param("block_m", int, 64, "BLOCK_SIZE_M", minimum=1),
        Param("block_n", int, 64, "BLOCK_SIZE_N", minimum=1),
        Param("block_k", int, 64, "BLOCK_SIZE_K", minimum=1),
        Param("split_k", int, 4, "SPLIT_K: programs sharing each output tile", minimum=1),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """C = A @ B (float16 in, float32 out): one program per output tile and K-split, A and
    B row-sharded over every PE, C zeroed first and summed into with atomic adds."""
    m, n, k = p["M"], p["N"], p["K"]
    bm, bn, bk, split = p["block_m"], p["block_n"], p["block_k"], p["split_k"]
    rng = np.random.default_rng(p["seed"])
    a_np = rng.standard_normal((m, k)).astype(np.float16)
    b_np = rng.standard_normal((k, n)).astype(np.float16)
    a, b = upload(rt, a_np, "a"), upload(rt, b_np, "b")
    c = rt.zeros((m, n), "float32", name="c")
    tiles_m, tiles_n = -(-m // bm), -(-n // bn)
    launch = matmul_splitk_kernel[(tiles_m * tiles_n, split)](
        a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
        c.stride(0), c.stride(1),
        BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn, BLOCK_SIZE_K=bk, SPLIT_K=split,
    )  # fmt: skip
    rt.synchronize()
    flops = 2 * m * n * k
    # Each output tile's programs read its rows of A and its columns of B once between
    # them; each adds its partial tile into C: the float32 operands go to the memory and
    # the old values come back (both pass through the memory holding C).
    read = (tiles_n * m * k + tiles_m * k * n) * 2
    atomic_traffic = 2 * split * m * n * 4
    result = kernel_result(rt, launch, read, atomic_traffic, len(a.shards), flops)
    if rt.verify_data:
        expected = a_np.astype(np.float32) @ b_np.astype(np.float32)
        result.verified = bool(np.allclose(c.peek(), expected, rtol=1e-3, atol=1e-3 * np.sqrt(k)))
    return result
