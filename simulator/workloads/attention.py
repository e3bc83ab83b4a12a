"""``attention``: the forward pass of Triton's fused-attention tutorial (FlashAttention-2:
online softmax over K/V blocks, ``K^T`` through a column-major block pointer, causal
masking in two stages)."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@tl.jit
def _attn_fwd_inner(acc, l_i, m_i, q, K_block_ptr, V_block_ptr, start_m, qk_scale,  # noqa: N803
                    BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr,  # noqa: N803
                    STAGE: tl.constexpr, offs_m: tl.constexpr, offs_n: tl.constexpr,  # noqa: N803
                    N_CTX: tl.constexpr, fp8_v: tl.constexpr):  # noqa: N803  # fmt: skip
    """The tutorial's inner loop, unchanged: stage 1 the blocks left of the diagonal,
    stage 2 the diagonal block (masked), stage 3 every block (no mask)."""
    # range of values handled by this stage
    if STAGE == 1:
        lo, hi = 0, start_m * BLOCK_M
    elif STAGE == 2:
        lo, hi = start_m * BLOCK_M, (start_m + 1) * BLOCK_M
        lo = tl.multiple_of(lo, BLOCK_M)
    # causal = False
    else:
        lo, hi = 0, N_CTX
    K_block_ptr = tl.advance(K_block_ptr, (0, lo))  # noqa: N806
    V_block_ptr = tl.advance(V_block_ptr, (lo, 0))  # noqa: N806
    # loop over k, v and update accumulator
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        # -- compute qk ----
        k = tl.load(K_block_ptr)
        qk = tl.dot(q, k)
        if STAGE == 2:
            mask = offs_m[:, None] >= (start_n + offs_n[None, :])
            qk = qk * qk_scale + tl.where(mask, 0, -1.0e6)
            m_ij = tl.maximum(m_i, tl.max(qk, 1))
            qk -= m_ij[:, None]
        else:
            m_ij = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)
            qk = qk * qk_scale - m_ij[:, None]
        p = tl.math.exp2(qk)
        l_ij = tl.sum(p, 1)
        # -- update m_i and l_i
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + l_ij
        # -- update output accumulator --
        acc = acc * alpha[:, None]
        # update acc
        v = tl.load(V_block_ptr)
        if fp8_v:  # noqa: SIM108 - the tutorial's code
            p = p.to(tl.float8e5)
        else:
            p = p.to(tl.float16)
        acc = tl.dot(p, v, acc)
        # update m_i and l_i
        m_i = m_ij
        V_block_ptr = tl.advance(V_block_ptr, (BLOCK_N, 0))  # noqa: N806
        K_block_ptr = tl.advance(K_block_ptr, (0, BLOCK_N))  # noqa: N806
    return acc, l_i, m_i


@tl.jit
def _attn_fwd(Q, K, V, sm_scale, M, Out,  # noqa: N803
              stride_qz, stride_qh, stride_qm, stride_qk,  #
              stride_kz, stride_kh, stride_kn, stride_kk,  #
              stride_vz, stride_vh, stride_vk, stride_vn,  #
              stride_oz, stride_oh, stride_om, stride_on,  #
              Z, H, N_CTX,  # noqa: N803
              HEAD_DIM: tl.constexpr,  # noqa: N803
              BLOCK_M: tl.constexpr,  # noqa: N803
              BLOCK_N: tl.constexpr,  # noqa: N803
              STAGE: tl.constexpr  # noqa: N803
              ):  # fmt: skip
    """The tutorial's kernel, unchanged but for its imports."""
    tl.static_assert(BLOCK_N <= HEAD_DIM)
    start_m = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    qvk_offset = off_z.to(tl.int64) * stride_qz + off_h.to(tl.int64) * stride_qh

    # block pointers
    Q_block_ptr = tl.make_block_ptr(  # noqa: N806
        base=Q + qvk_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_qm, stride_qk),
        offsets=(start_m * BLOCK_M, 0),
        block_shape=(BLOCK_M, HEAD_DIM),
        order=(1, 0),
    )
    v_order: tl.constexpr = (0, 1) if V.dtype.element_ty == tl.float8e5 else (1, 0)
    V_block_ptr = tl.make_block_ptr(  # noqa: N806
        base=V + qvk_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_vk, stride_vn),
        offsets=(0, 0),
        block_shape=(BLOCK_N, HEAD_DIM),
        order=v_order,
    )
    K_block_ptr = tl.make_block_ptr(  # noqa: N806
        base=K + qvk_offset,
        shape=(HEAD_DIM, N_CTX),
        strides=(stride_kk, stride_kn),
        offsets=(0, 0),
        block_shape=(HEAD_DIM, BLOCK_N),
        order=(0, 1),
    )
    O_block_ptr = tl.make_block_ptr(  # noqa: N806
        base=Out + qvk_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_om, stride_on),
        offsets=(start_m * BLOCK_M, 0),
        block_shape=(BLOCK_M, HEAD_DIM),
        order=(1, 0),
    )
    # initialize offsets
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    # initialize pointer to m and l
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32) + 1.0
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    # load scales
    qk_scale = sm_scale
    qk_scale *= 1.44269504  # 1/log(2)
    # load q: it will stay in SRAM throughout
    q = tl.load(Q_block_ptr)
    # stage 1: off-band
    # For causal = True, STAGE = 3 and _attn_fwd_inner gets 1 as its STAGE
    # For causal = False, STAGE = 1, and _attn_fwd_inner gets 3 as its STAGE
    if STAGE & 1:
        acc, l_i, m_i = _attn_fwd_inner(acc, l_i, m_i, q, K_block_ptr, V_block_ptr,  #
                                        start_m, qk_scale,  #
                                        BLOCK_M, HEAD_DIM, BLOCK_N,  #
                                        4 - STAGE, offs_m, offs_n, N_CTX, V.dtype.element_ty == tl.float8e5  # noqa: E501
                                        )  # fmt: skip
    # stage 2: on-band
    if STAGE & 2:
        # barrier makes it easier for compielr to schedule the
        # two loops independently
        acc, l_i, m_i = _attn_fwd_inner(acc, l_i, m_i, q, K_block_ptr, V_block_ptr,  #
                                        start_m, qk_scale,  #
                                        BLOCK_M, HEAD_DIM, BLOCK_N,  #
                                        2, offs_m, offs_n, N_CTX, V.dtype.element_ty == tl.float8e5  # noqa: E501
                                        )  # fmt: skip
    # epilogue
    m_i += tl.math.log2(l_i)
    acc = acc / l_i[:, None]
    m_ptrs = M + off_hz * N_CTX + offs_m
    tl.store(m_ptrs, m_i)
    tl.store(O_block_ptr, acc.to(Out.type.element_ty))


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int, sm_scale: float,
              causal: bool) -> np.ndarray:  # fmt: skip
    """softmax(Q K^T * sm_scale [causal]) V per head, in float32."""
    n = q.shape[0] // heads
    out = np.empty(q.shape, np.float32)
    for h in range(heads):
        rows = slice(h * n, (h + 1) * n)
        qh, kh, vh = (m[rows].astype(np.float32) for m in (q, k, v))
        scores = qh @ kh.T * sm_scale
        if causal:
            scores = np.where(np.tril(np.ones((n, n), bool)), scores, -np.inf)
        weights = np.exp(scores - scores.max(1, keepdims=True))
        out[rows] = (weights / weights.sum(1, keepdims=True)) @ vh
    return out


@workload(
    "attention",
    params=(
        Param("batch", int, 1, "Z: batch size", minimum=1),
        Param("heads", int, 2, "H: heads (each batch x head is one grid row)", minimum=1),
        Param(
            "n_ctx", int, 256, "sequence length (a multiple of block_m and block_n)", minimum=16
        ),  # fmt: skip
        Param("head_dim", int, 64, "HEAD_DIM", choices=(16, 32, 64, 128)),
        Param("block_m", int, 64, "BLOCK_M (query rows per program)", minimum=16),
        Param("block_n", int, 64, "BLOCK_N (key rows per step)", minimum=16),
        Param("causal", bool, True, "mask keys after each query"),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
    ),
)
def run(rt, p) -> WorkloadResult:
    """Fused attention forward, float16 in and out: Q, K and V, (Z, H, N_CTX, HEAD_DIM)
    tensors held as (Z * H * N_CTX, HEAD_DIM) row-sharded over every PE and passed with
    the 4-D strides torch would give, one program per (query block, batch x head)."""
    z, h, n, d = p["batch"], p["heads"], p["n_ctx"], p["head_dim"]
    heads = z * h
    bm, bn, causal = p["block_m"], p["block_n"], p["causal"]
    if n % bm or n % bn or (causal and bm != bn):
        raise ValueError(f"attention: n_ctx={n} must be a multiple of block_m={bm} and "
                         f"block_n={bn}, which must be equal when causal")  # fmt: skip
    rng = np.random.default_rng(p["seed"])
    q_np, k_np, v_np = (rng.standard_normal((heads * n, d)).astype(np.float16) for _ in range(3))
    q, k, v = upload(rt, q_np, "q"), upload(rt, k_np, "k"), upload(rt, v_np, "v")
    out = rt.empty((heads * n, d), "float16", name="out")
    lse = rt.empty((heads * n,), "float32", name="lse")
    sm_scale = 1.0 / np.sqrt(d)
    strides = (h * n * d, n * d, d, 1)  # of a contiguous (Z, H, N_CTX, HEAD_DIM) tensor
    launch = _attn_fwd[(n // bm, heads)](q, k, v, sm_scale, lse, out, *strides, *strides,
                                         *strides, *strides, z, h, n, HEAD_DIM=d,
                                         BLOCK_M=bm, BLOCK_N=bn,
                                         STAGE=3 if causal else 1)  # fmt: skip
    rt.synchronize()
    blocks_m = n // bm
    # K/V blocks each program reads: all of them, or (causal) those up to its diagonal.
    kv_blocks = blocks_m * (blocks_m + 1) // 2 if causal else blocks_m * (n // bn)
    flops = heads * kv_blocks * 4 * bm * bn * d  # Q K^T and P V, per block pair
    read = heads * (n * d + kv_blocks * 2 * bn * d) * 2
    write = heads * n * (d * 2 + 4)  # the output and the log-sum-exp
    result = kernel_result(rt, launch, read, write, len(q.shards), flops)
    if rt.verify_data:
        expected = reference(q_np, k_np, v_np, heads, sm_scale, causal)
        result.verified = bool(np.allclose(out.peek().astype(np.float32), expected, atol=2e-2,
                                           rtol=2e-2))  # fmt: skip
    return result
