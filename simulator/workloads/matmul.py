"""``matmul``: Triton's block-pointer matmul tutorial, grouped program ordering."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
import simulator.triton as triton
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@tl.jit
def matmul_kernel_with_block_pointers(
    a_ptr, b_ptr, c_ptr, M, N, K,  # noqa: N803
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
    BLOCK_SIZE_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's tutorial kernel, unchanged but for its imports: programs walk the output
    tiles in groups of GROUP_SIZE_M rows (better reuse of B), block pointers with
    boundary_check cover ragged M, N and K."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + (pid % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    a_block_ptr = tl.make_block_ptr(
        base=a_ptr, shape=(M, K), strides=(stride_am, stride_ak),
        offsets=(pid_m * BLOCK_SIZE_M, 0), block_shape=(BLOCK_SIZE_M, BLOCK_SIZE_K), order=(1, 0),
    )  # fmt: skip
    b_block_ptr = tl.make_block_ptr(
        base=b_ptr, shape=(K, N), strides=(stride_bk, stride_bn),
        offsets=(0, pid_n * BLOCK_SIZE_N), block_shape=(BLOCK_SIZE_K, BLOCK_SIZE_N), order=(1, 0),
    )  # fmt: skip
    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for _k in range(0, K, BLOCK_SIZE_K):
        a = tl.load(a_block_ptr, boundary_check=(0, 1))
        b = tl.load(b_block_ptr, boundary_check=(0, 1))
        accumulator += tl.dot(a, b)
        a_block_ptr = tl.advance(a_block_ptr, (0, BLOCK_SIZE_K))
        b_block_ptr = tl.advance(b_block_ptr, (BLOCK_SIZE_K, 0))
    c = accumulator.to(tl.float16)
    c_block_ptr = tl.make_block_ptr(
        base=c_ptr, shape=(M, N), strides=(stride_cm, stride_cn),
        offsets=(pid_m * BLOCK_SIZE_M, pid_n * BLOCK_SIZE_N),
        block_shape=(BLOCK_SIZE_M, BLOCK_SIZE_N), order=(1, 0),
    )  # fmt: skip
    tl.store(c_block_ptr, c, boundary_check=(0, 1))


def tutorial_configs() -> list[triton.Config]:
    """The fp16 configs of the tutorial's ``get_cuda_autotune_config``."""
    shapes = [(128, 256, 64, 3, 8), (64, 256, 32, 4, 4), (128, 128, 32, 4, 4),
              (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (128, 32, 32, 4, 4),
              (64, 32, 32, 5, 2), (32, 64, 32, 5, 2)]  # fmt: skip
    return [triton.Config({"BLOCK_SIZE_M": m, "BLOCK_SIZE_N": n, "BLOCK_SIZE_K": k,
                           "GROUP_SIZE_M": 8}, num_stages=stages, num_warps=warps)
            for m, n, k, stages, warps in shapes]  # fmt: skip


# The tutorial's autotuned kernel: the fastest of its configs at each (M, N, K).
matmul_kernel_autotuned = triton.autotune(configs=tutorial_configs(), key=["M", "N", "K"])(
    matmul_kernel_with_block_pointers
)


@workload(
    "matmul",
    params=(
        Param("M", int, 512, "rows of A and C", minimum=32),
        Param("N", int, 512, "columns of B and C", minimum=1),
        Param("K", int, 512, "columns of A, rows of B", minimum=32),
        Param("block_m", int, 128, "BLOCK_SIZE_M", minimum=1),
        Param("block_n", int, 128, "BLOCK_SIZE_N", minimum=1),
        Param("block_k", int, 64, "BLOCK_SIZE_K", minimum=1),
        Param("group_m", int, 8, "GROUP_SIZE_M (rows of tiles per group)", minimum=1),
        Param(
            "autotune",
            bool,
            False,
            "@triton.autotune picks the blocks among the "
            "tutorial's 8 configs (block_* and group_m unused); its tuning launches run "
            "first, the metrics are the winner's",
        ),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """C = A @ B in float16 (float32 accumulation); A and B row-sharded over every PE,
    one program per output tile."""
    m, n, k = p["M"], p["N"], p["K"]
    rng = np.random.default_rng(p["seed"])
    a_np = rng.standard_normal((m, k)).astype(np.float16)
    b_np = rng.standard_normal((k, n)).astype(np.float16)
    a, b = upload(rt, a_np, "a"), upload(rt, b_np, "b")
    c = rt.empty((m, n), "float16", name="c")
    grid = lambda meta: (  # noqa: E731 - Triton's idiom
        tl.cdiv(m, meta["BLOCK_SIZE_M"]) * tl.cdiv(n, meta["BLOCK_SIZE_N"]),
    )
    args = (a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
            c.stride(0), c.stride(1))  # fmt: skip
    if p["autotune"]:
        launch = matmul_kernel_autotuned[grid](*args)
        blocks = matmul_kernel_autotuned.best_config.kwargs
        bm, bn = blocks["BLOCK_SIZE_M"], blocks["BLOCK_SIZE_N"]
    else:
        bm, bn = p["block_m"], p["block_n"]
        launch = matmul_kernel_with_block_pointers[grid](
            *args, BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn, BLOCK_SIZE_K=p["block_k"],
            GROUP_SIZE_M=p["group_m"],
        )  # fmt: skip
    rt.synchronize()
    flops = 2 * m * n * k
    tiles_m, tiles_n = -(-m // bm), -(-n // bn)
    # Each program reads its row of A tiles and its column of B tiles once.
    read = (tiles_n * m * k + tiles_m * k * n) * 2
    write = m * n * 2
    result = kernel_result(rt, launch, read, write, len(a.shards), flops)
    if rt.verify_data:
        expected = a_np.astype(np.float32) @ b_np.astype(np.float32)
        tol = 1e-2 * np.sqrt(k) + 1e-2
        result.verified = bool(
            np.allclose(c.peek().astype(np.float32), expected, rtol=1e-2, atol=tol)
        )
    return result
