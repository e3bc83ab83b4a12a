"""``grouped_gemm``: Triton's grouped-GEMM tutorial, a persistent kernel reading each
problem's matrices as pointers from memory."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
import simulator.triton as triton
from simulator.runtime.placement import Placement
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@triton.jit
def grouped_matmul_kernel(
    group_a_ptrs, group_b_ptrs, group_c_ptrs, group_gemm_sizes, g_lds, group_size,
    NUM_SM: tl.constexpr, BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
    BLOCK_SIZE_K: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's tutorial kernel, unchanged but for its imports: the problems' sizes,
    strides and matrices (as addresses) are loaded from memory, and each of NUM_SM
    programs walks the tiles of every problem, NUM_SM apart."""
    tile_idx = tl.program_id(0)
    last_problem_end = 0
    for g in range(group_size):
        gm = tl.load(group_gemm_sizes + g * 3)
        gn = tl.load(group_gemm_sizes + g * 3 + 1)
        gk = tl.load(group_gemm_sizes + g * 3 + 2)
        num_m_tiles = tl.cdiv(gm, BLOCK_SIZE_M)
        num_n_tiles = tl.cdiv(gn, BLOCK_SIZE_N)
        num_tiles = num_m_tiles * num_n_tiles
        while tile_idx >= last_problem_end and tile_idx < last_problem_end + num_tiles:
            k = gk
            lda = tl.load(g_lds + g * 3)
            ldb = tl.load(g_lds + g * 3 + 1)
            ldc = tl.load(g_lds + g * 3 + 2)
            a_ptr = tl.load(group_a_ptrs + g).to(tl.pointer_type(tl.float16))
            b_ptr = tl.load(group_b_ptrs + g).to(tl.pointer_type(tl.float16))
            c_ptr = tl.load(group_c_ptrs + g).to(tl.pointer_type(tl.float16))
            tile_idx_in_gemm = tile_idx - last_problem_end
            tile_m_idx = tile_idx_in_gemm // num_n_tiles
            tile_n_idx = tile_idx_in_gemm % num_n_tiles
            offs_am = tile_m_idx * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
            offs_bn = tile_n_idx * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
            offs_k = tl.arange(0, BLOCK_SIZE_K)
            a_ptrs = a_ptr + offs_am[:, None] * lda + offs_k[None, :]
            b_ptrs = b_ptr + offs_k[:, None] * ldb + offs_bn[None, :]
            accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
            for _kk in range(0, tl.cdiv(k, BLOCK_SIZE_K)):
                tl.multiple_of(a_ptrs, [16, 16])
                tl.multiple_of(b_ptrs, [16, 16])
                a = tl.load(a_ptrs)
                b = tl.load(b_ptrs)
                accumulator += tl.dot(a, b)
                a_ptrs += BLOCK_SIZE_K
                b_ptrs += BLOCK_SIZE_K * ldb
            c = accumulator.to(tl.float16)
            offs_cm = tile_m_idx * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
            offs_cn = tile_n_idx * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
            c_ptrs = c_ptr + ldc * offs_cm[:, None] + offs_cn[None, :]
            tl.store(c_ptrs, c)
            tile_idx += NUM_SM
        last_problem_end = last_problem_end + num_tiles


def group_shapes(groups: int, m: int, n: int, k: int, block_m: int,
                 ragged: bool) -> list[tuple[int, int, int]]:  # fmt: skip
    """(M, N, K) of each problem: all ``m x n x k``, or with ``ragged`` problem ``g``
    taking ``(g + 1) / groups`` of the rows, rounded up to whole ``block_m`` tiles (the
    tutorial's kernel has no masks)."""
    if not ragged:
        return [(m, n, k)] * groups
    rows = [-(-m * (g + 1) // groups // block_m) * block_m for g in range(groups)]
    return [(rows_g, n, k) for rows_g in rows]


@workload(
    "grouped_gemm",
    params=(
        Param("groups", int, 4, "GEMM problems in the group", minimum=1),
        Param("M", int, 256, "rows of A and C (of the largest problem if ragged)", minimum=32),
        Param("N", int, 256, "columns of B and C", minimum=32),
        Param("K", int, 256, "columns of A, rows of B", minimum=32),
        Param("ragged", bool, False, "problem g has (g + 1) / groups of the M rows"),
        Param("num_sm", int, 0, "NUM_SM, the persistent programs (0: one per PE)", minimum=0),
        Param("block_m", int, 64, "BLOCK_SIZE_M", minimum=16),
        Param("block_n", int, 64, "BLOCK_SIZE_N", minimum=16),
        Param("block_k", int, 32, "BLOCK_SIZE_K", minimum=16),
        Param("seed", int, 0, "random seed of the inputs"),
    ),
    needs_data=True,
)
def run(rt, p) -> WorkloadResult:
    """C_g = A_g @ B_g for every problem g in float16 (float32 accumulation), one launch
    of the tutorial's persistent kernel; runs in data mode (the kernel reads its
    problems' addresses and sizes from memory). Sizes must be whole blocks."""
    bm, bn, bk = p["block_m"], p["block_n"], p["block_k"]
    shapes = group_shapes(p["groups"], p["M"], p["N"], p["K"], bm, p["ragged"])
    for m, n, k in shapes:
        if m % bm or n % bn or k % bk:
            raise ValueError(f"grouped_gemm: problem {m}x{n}x{k} is not whole blocks of "
                             f"{bm}x{bn}x{bk} (the tutorial's kernel has no masks)")  # fmt: skip
    rng = np.random.default_rng(p["seed"])
    inputs, tensors = [], []
    for g, (m, n, k) in enumerate(shapes):
        a_np = rng.standard_normal((m, k)).astype(np.float16)
        b_np = rng.standard_normal((k, n)).astype(np.float16)
        a, b = upload(rt, a_np, f"a{g}"), upload(rt, b_np, f"b{g}")
        inputs.append((a_np, b_np))
        tensors.append((a, b, rt.empty((m, n), "float16", name=f"c{g}")))

    def table(values: list[int], dtype: type, name: str):
        """A small table on the first PE (too few rows to spread over every PE)."""
        return upload(rt, np.array(values, dtype=dtype), name, Placement.single(0))

    a_ptrs = table([a.data_ptr() for a, _, _ in tensors], np.int64, "a_ptrs")
    b_ptrs = table([b.data_ptr() for _, b, _ in tensors], np.int64, "b_ptrs")
    c_ptrs = table([c.data_ptr() for _, _, c in tensors], np.int64, "c_ptrs")
    sizes = table([v for shape in shapes for v in shape], np.int32, "sizes")
    lds = table([v for a, b, c in tensors for v in (a.stride(0), b.stride(0), c.stride(0))],
                np.int32, "lds")  # fmt: skip
    num_sm = p["num_sm"] or len(rt.device_pes)
    launch = grouped_matmul_kernel[(num_sm,)](a_ptrs, b_ptrs, c_ptrs, sizes, lds, len(shapes),
                                              NUM_SM=num_sm, BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn,
                                              BLOCK_SIZE_K=bk)  # fmt: skip
    rt.synchronize()
    flops = sum(2 * m * n * k for m, n, k in shapes)
    # Each tile reads its row of A tiles and its column of B tiles once.
    read = sum((n // bn * m * k + m // bm * k * n) * 2 for m, n, k in shapes)
    write = sum(m * n * 2 for m, n, _ in shapes)
    result = kernel_result(rt, launch, read, write, len(tensors[0][0].shards), flops)
    result.verified = all(
        np.allclose(c.peek().astype(np.float32), a_np.astype(np.float32) @ b_np.astype(np.float32),
                    rtol=1e-2, atol=1e-2 * np.sqrt(a_np.shape[1]) + 1e-2)
        for (a_np, b_np), (_, _, c) in zip(inputs, tensors, strict=True)
    )  # fmt: skip
    return result
