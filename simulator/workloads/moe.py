"""``moe``: a mixture-of-experts layer's grouped expert GEMM as fused-MoE Triton kernels
write it: tokens sorted by expert into blocks, each program gathering its block's token
rows by loaded ids and multiplying them by its expert's weights."""

from __future__ import annotations

import numpy as np

import simulator.language as tl
import simulator.triton as triton
from simulator.runtime.placement import Placement
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tutorial_common import kernel_result, upload


@triton.jit
def fused_moe_kernel(
    a_ptr, b_ptr, c_ptr, topk_weights_ptr, sorted_token_ids_ptr, expert_ids_ptr,
    num_tokens_post_padded_ptr, N, K, EM, num_valid_tokens,  # noqa: N803
    stride_am, stride_ak, stride_be, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr, BLOCK_SIZE_K: tl.constexpr,  # noqa: N803
    GROUP_SIZE_M: tl.constexpr, MUL_ROUTED_WEIGHT: tl.constexpr, top_k: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """One BLOCK_SIZE_M x BLOCK_SIZE_N tile of C for one expert's block of (token, slot)
    ids: A's rows gathered at the loaded ids (padding ids masked off), the expert's
    weights at its loaded id, the product scaled by each slot's routing weight."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(EM, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    num_tokens_post_padded = tl.load(num_tokens_post_padded_ptr)
    if pid_m * BLOCK_SIZE_M >= num_tokens_post_padded:
        return
    offs_token_id = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_token = tl.load(sorted_token_ids_ptr + offs_token_id)
    token_mask = offs_token < num_valid_tokens
    off_experts = tl.load(expert_ids_ptr + pid_m)
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + (offs_token[:, None] // top_k * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = (b_ptr + off_experts * stride_be
              + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn))  # fmt: skip
    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        k_left = K - k * BLOCK_SIZE_K
        a = tl.load(a_ptrs, mask=token_mask[:, None] & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < k_left, other=0.0)
        accumulator += tl.dot(a, b)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk
    if MUL_ROUTED_WEIGHT:
        moe_weight = tl.load(topk_weights_ptr + offs_token, mask=token_mask, other=0)
        accumulator = accumulator * moe_weight[:, None]
    accumulator = accumulator.to(c_ptr.dtype.element_ty)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + stride_cm * offs_token[:, None] + stride_cn * offs_cn[None, :]
    c_mask = token_mask[:, None] & (offs_cn[None, :] < N)
    tl.store(c_ptrs, accumulator, mask=c_mask)


def align_block_size(topk_ids: np.ndarray, n_experts: int,
                     block_m: int) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """The routing as the kernel reads it (fused-MoE's ``moe_align_block_size``): the
    (token, slot) ids ``t * top_k + j`` sorted by expert, each expert's run padded to
    whole blocks with the id ``tokens * top_k`` (masked off); the expert of each block;
    and the padded length."""
    flat = topk_ids.reshape(-1)
    padding_id = flat.size
    sorted_ids, block_experts = [], []
    for expert in range(n_experts):
        ids = np.flatnonzero(flat == expert)
        if ids.size == 0:
            continue
        blocks = -(-ids.size // block_m)
        padded = np.full(blocks * block_m, padding_id, dtype=np.int32)
        padded[: ids.size] = ids
        sorted_ids.append(padded)
        block_experts += [expert] * blocks
    sorted_all = np.concatenate(sorted_ids)
    return sorted_all, np.array(block_experts, dtype=np.int32), sorted_all.size


@workload(
    "moe",
    params=(
        Param("tokens", int, 64, "tokens routed", minimum=1),
        Param("hidden", int, 256, "K: features of a token", minimum=16),
        Param("ffn", int, 256, "N: outputs of an expert", minimum=16),
        Param("experts", int, 8, "experts (each a hidden x ffn weight)", minimum=1),
        Param("top_k", int, 2, "experts per token", minimum=1),
        Param("block_m", int, 16, "BLOCK_SIZE_M: (token, slot) ids per block", minimum=16),
        Param("block_n", int, 64, "BLOCK_SIZE_N", minimum=16),
        Param("block_k", int, 64, "BLOCK_SIZE_K", minimum=16),
        Param("group_m", int, 8, "GROUP_SIZE_M (rows of tiles per group)", minimum=1),
        Param("seed", int, 0, "random seed of the inputs and the routing"),
    ),
    needs_data=True,
)
def run(rt, p) -> WorkloadResult:
    """C[t * top_k + j] = w[t, j] * (A[t] @ W[e[t, j]]) for each token t and each of its
    top_k experts e[t, j] (random routing), in float16 with float32 accumulation; one
    launch of the fused kernel. Runs in data mode: the kernel gathers by loaded ids."""
    tokens, k, n = p["tokens"], p["hidden"], p["ffn"]
    n_experts, top_k, bm = p["experts"], p["top_k"], p["block_m"]
    if top_k > n_experts:
        raise ValueError(f"moe: top_k {top_k} is more than the {n_experts} experts")
    rng = np.random.default_rng(p["seed"])
    a_np = rng.standard_normal((tokens, k)).astype(np.float16)
    w_np = (rng.standard_normal((n_experts, k, n)) / np.sqrt(k)).astype(np.float16)
    topk_ids = np.argsort(rng.random((tokens, n_experts)), axis=1)[:, :top_k].astype(np.int32)
    topk_weights = rng.random((tokens, top_k)).astype(np.float32)
    topk_weights /= topk_weights.sum(axis=1, keepdims=True)
    sorted_ids, block_experts, n_padded = align_block_size(topk_ids, n_experts, bm)

    one_pe = Placement.single(0)

    def spread(rows: int) -> Placement | None:
        """Row-wise over every PE (the default), or on one PE when too few rows."""
        return None if rows >= len(rt.device_pes) else one_pe

    a = upload(rt, a_np, "a", spread(tokens))
    # The experts' weights stacked by rows: expert e's are rows e * hidden on.
    w = upload(rt, w_np.reshape(n_experts * k, n), "w", spread(n_experts * k))
    c = rt.zeros((tokens * top_k, n), "float16", spread(tokens * top_k), name="c")
    weights = upload(rt, topk_weights.reshape(-1), "topk_weights", one_pe)
    ids = upload(rt, sorted_ids, "sorted_token_ids", one_pe)
    experts = upload(rt, block_experts, "expert_ids", one_pe)
    padded = upload(rt, np.array([n_padded], np.int32), "num_tokens_post_padded", one_pe)
    bn = p["block_n"]
    grid = (triton.cdiv(n_padded, bm) * triton.cdiv(n, bn),)
    launch = fused_moe_kernel[grid](
        a, w, c, weights, ids, experts, padded, n, k, n_padded, tokens * top_k,
        a.stride(0), a.stride(1), k * n, w.stride(0), w.stride(1), c.stride(0), c.stride(1),
        BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn, BLOCK_SIZE_K=p["block_k"], GROUP_SIZE_M=p["group_m"],
        MUL_ROUTED_WEIGHT=True, top_k=top_k,
    )  # fmt: skip
    rt.synchronize()
    routed = tokens * top_k
    active = len(set(block_experts.tolist()))
    # At least: each routed token's row of A, each used expert's weights once, C's rows.
    read = (routed * k + active * k * n) * 2
    write = routed * n * 2
    result = kernel_result(rt, launch, read, write, len(a.shards), 2 * routed * k * n)
    result.add("padding", 1 - routed / n_padded, "ratio", better="lower")
    expected = np.einsum("tk,tjkn->tjn", a_np.astype(np.float32),
                         w_np[topk_ids].astype(np.float32)) * topk_weights[:, :, None]  # fmt: skip
    result.verified = bool(np.allclose(c.peek().astype(np.float32), expected.reshape(routed, n),
                                       rtol=2e-2, atol=2e-2))  # fmt: skip
    return result
