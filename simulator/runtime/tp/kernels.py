"""The ``tl`` kernels behind the tensor-parallel layers."""

from __future__ import annotations

import simulator.language as tl


def linear_kernel(
    x, w, bias, y, k_offset: int, n_offset: int, activation: str | None,
    block_m: int, block_n: int, block_k: int,
) -> None:  # fmt: skip
    """``y[:, n_offset:n_offset+N] = act(x[:, k_offset:k_offset+K] @ w + bias)`` on one PE.

    ``w`` is (K, N) fp16, ``x`` holds the K input columns from ``k_offset``, ``bias`` is
    (N,) or None, ``activation`` is None or ``"gelu"``. Accumulation is fp32 (GEMM); the
    bias add, activation and cast run on MATH; the result is cast to ``y``'s dtype.
    Tiles past K read whatever columns follow in ``x`` but meet zero-padded rows of
    ``w``, so they add nothing. Tiles past an edge clip (``boundary_check`` on both dims).
    """
    edges = (0, 1)
    m_total = x.shape[0]
    k_total, n_total = w.shape
    for m0 in range(0, m_total, block_m):
        for n0 in range(0, n_total, block_n):
            acc = None
            for k0 in range(0, k_total, block_k):
                a = tl.load(tl.make_block_ptr(x, offsets=(m0, k_offset + k0),
                                              block_shape=(block_m, block_k)),
                            boundary_check=edges)  # fmt: skip
                b = tl.load(tl.make_block_ptr(w, offsets=(k0, n0),
                                              block_shape=(block_k, block_n)),
                            boundary_check=edges)  # fmt: skip
                acc = tl.dot(a, b, acc)
            if bias is not None:
                acc = acc + tl.load(tl.make_block_ptr(bias, offsets=(0, n0),
                                                      block_shape=(1, block_n)),
                                    boundary_check=edges)  # fmt: skip
            if activation == "gelu":
                acc = tl.gelu(acc)
            out = tl.make_block_ptr(y, offsets=(m0, n_offset + n0), block_shape=(block_m, block_n))
            tl.store(out, acc.to(y.dtype.element_ty), boundary_check=edges)


def bias_kernel(y, bias, block_m: int, block_n: int) -> None:
    """``y += bias`` row-wise (MATH), in ``y``'s dtype; tiles past an edge clip."""
    edges = (0, 1)
    m_total, n_total = y.shape
    for m0 in range(0, m_total, block_m):
        for n0 in range(0, n_total, block_n):
            tile = tl.make_block_ptr(y, offsets=(m0, n0), block_shape=(block_m, block_n))
            b = tl.load(tl.make_block_ptr(bias, offsets=(0, n0), block_shape=(1, block_n)),
                        boundary_check=edges)  # fmt: skip
            tl.store(tile, (tl.load(tile, boundary_check=edges) + b).to(y.dtype.element_ty),
                     boundary_check=edges)  # fmt: skip
