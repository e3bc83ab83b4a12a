"""``gpt3_qkv``: the GPT-3 175B QKV projection, sharded over PEs or tensor-parallel ranks.

1. ``tp=0`` (default): X (tokens x hidden) replicated and W (hidden x 3*hidden)
   column-sharded over the PEs of SIP 0, one GEMM launch over all of them.
2. ``tp=N``: Megatron's column-parallel QKV under ``multiprocessing.spawn``: N ranks,
   one PE each, each holding W's column slice and computing its slice of Q, K and V.
"""

from __future__ import annotations

import numpy as np

from simulator.runtime.placement import Placement
from simulator.runtime.tp.layers import ColumnParallelLinear
from simulator.workloads import bounds
from simulator.workloads.gemm import TILE_PARAMS, peak_flops_per_ns, run_gemm
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tensor_parallel import forward_on_ranks, span_ns

_TILES = {p.name: p for p in TILE_PARAMS}


def _tensor_parallel(rt, p: dict) -> WorkloadResult:
    hidden = p["hidden"]
    blocks = {k: p[k] for k in ("block_m", "block_n", "block_k")}
    results = forward_on_ranks(
        rt, p["tp"], (p["tokens"], hidden),
        lambda runtime: ColumnParallelLinear(hidden, 3 * hidden, runtime=runtime,
                                             seed=p["seed"], blocks=blocks),
        seed=p["seed"],
    )  # fmt: skip
    latency = span_ns(results)
    flops = 2 * p["tokens"] * hidden * 3 * hidden
    result = WorkloadResult()
    result.add("latency_ns", latency, "ns", better="lower")
    result.add("tflops", flops / latency / 1e3, "tflops", better="higher")
    result.add(
        "utilisation", flops / latency / (peak_flops_per_ns(rt) * p["tp"]), "ratio", better="higher"
    )
    result.add("n_pes", p["tp"], "count", better="higher")
    params = rt.topology.params
    qkv_bytes = bounds.gemm_bytes(p["tokens"], 3 * hidden, hidden, 2)
    bound_ns = bounds.launch_path_ns(params, 0) + bounds.roofline_ns(
        params, flops, qkv_bytes, p["tp"]
    )
    result.add_bound(bound_ns, latency)
    if rt.verify_data:
        layer, f32 = results[0].layer, np.float32
        full = results[0].x.astype(f32) @ layer.master_weight().astype(f32)
        full += layer.master_bias().astype(f32)
        n = layer.output_size_per_partition
        result.verified = all(
            np.allclose(
                results[r].y.astype(f32), full[:, r * n : (r + 1) * n], rtol=2e-2, atol=2e-2
            )  # fmt: skip
            for r in range(p["tp"])
        )
    return result


@workload(
    "gpt3_qkv",
    params=(
        Param("tokens", int, 2048, "tokens in the batch (rows of X)", minimum=1),
        Param("hidden", int, 12288, "model width (GPT-3 175B: 12288)", minimum=1),
        Param("block_m", int, 256, _TILES["block_m"].doc, minimum=1),
        Param("block_n", int, 288, _TILES["block_n"].doc, minimum=1),
        Param("block_k", int, 256, _TILES["block_k"].doc, minimum=1),
        Param("seed", int, 0, _TILES["seed"].doc),
        Param(
            "num_pes", int, 0, "PEs of SIP 0 to shard over when tp=0 (0: all of them)", minimum=0
        ),
        Param(
            "tp",
            int,
            0,
            "tensor-parallel ranks (column-parallel QKV); 0: shard over PEs",
            minimum=0,
        ),
    ),
    default_topology="sip4x4",
)
def gpt3_qkv(rt, p) -> WorkloadResult:
    """Y = X @ W_qkv (GPT-3 175B sizes), PE-sharded or column-parallel over tp ranks."""
    if p["tp"]:
        return _tensor_parallel(rt, p)
    sip0 = [c.pe_global for c in rt.device_pes if c.sip == rt.sips[0]]
    pes = tuple(sip0[: p["num_pes"]] if p["num_pes"] else sip0)
    gemm_params = dict(p, M=p["tokens"], N=3 * p["hidden"], K=p["hidden"])
    return run_gemm(rt, gemm_params, Placement.replicate(pes=pes),
                    Placement.column_wise(pes=pes), Placement.column_wise(pes=pes))  # fmt: skip
