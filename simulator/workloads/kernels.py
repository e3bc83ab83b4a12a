"""Kernels shared by workloads and layers, written in ``tl``."""

from __future__ import annotations

import simulator.language as tl


def gemm_kernel(a, b, c, block_m: int, block_n: int, block_k: int) -> None:
    """``c = a @ b`` on one PE's shards: (M, K) x (K, N) -> (M, N), tiled.

    Each output tile accumulates in float32 over K (DMA_IN loads of both operands feed
    the GEMM engine), is cast to ``c``'s dtype on MATH, and is written back by DMA_WB.
    Tiles past the edges are zero-padded (``boundary_check`` on both dims), so any M, N,
    K work.
    """
    edges = (0, 1)
    m_total, k_total = a.shape
    n_total = b.shape[1]
    for m0 in range(0, m_total, block_m):
        for n0 in range(0, n_total, block_n):
            acc = None
            for k0 in range(0, k_total, block_k):
                x = tl.load(tl.make_block_ptr(a, offsets=(m0, k0), block_shape=(block_m, block_k)),
                            boundary_check=edges)  # fmt: skip
                y = tl.load(tl.make_block_ptr(b, offsets=(k0, n0), block_shape=(block_k, block_n)),
                            boundary_check=edges)  # fmt: skip
                acc = tl.dot(x, y, acc)
            out = tl.make_block_ptr(c, offsets=(m0, n0), block_shape=(block_m, block_n))
            tl.store(out, acc.to(c.dtype.element_ty), boundary_check=edges)


def noop_kernel() -> None:
    """An empty kernel: measures the launch path alone."""
