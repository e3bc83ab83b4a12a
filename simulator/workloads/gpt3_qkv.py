"""``gpt3_qkv``: the GPT-3 175B QKV projection, sharded over PEs or tensor-parallel ranks.

1. ``tp=0`` (default): X (tokens x hidden) replicated and W (hidden x 3*hidden)
   column-sharded over the PEs of SIP 0, one GEMM launch over all of them.
2. ``tp=N``: Megatron's column-parallel QKV under ``multiprocessing.spawn``: N ranks,
   one PE each, each holding W's column slice and computing its slice of Q, K and V.
"""

from __future__ import annotations

from simulator.runtime import dist
from simulator.runtime.multiprocessing import spawn
from simulator.runtime.placement import Placement
from simulator.runtime.tp import parallel_state as ps
from simulator.runtime.tp.layers import ColumnParallelLinear, seeded_normal
from simulator.workloads.gemm import TILE_PARAMS, peak_flops_per_ns, run_gemm
from simulator.workloads.registry import Param, WorkloadResult, workload

_TILES = {p.name: p for p in TILE_PARAMS}


def _tp_rank(rank: int, rt, p: dict, out: dict) -> None:
    dist.init_process_group()
    ps.initialize_model_parallel(tensor_model_parallel_size=p["tp"])
    hidden = p["hidden"]
    blocks = {k: p[k] for k in ("block_m", "block_n", "block_k")}
    qkv = ColumnParallelLinear(hidden, 3 * hidden, runtime=rt, seed=p["seed"], blocks=blocks)
    x = rt.empty((p["tokens"], hidden), "float16", dist.get_placement(), f"x{rank}")
    x_host = seeded_normal(p["seed"] + 100, x.shape, 1.0) if rt.verify_data else None
    rt.copy_from_host(x, x_host)
    dist.barrier()
    start_ns = rt.now_ns
    y = qkv(x)
    rt.synchronize()
    out[rank] = {"start_ns": start_ns, "end_ns": rt.now_ns, "layer": qkv, "x": x_host,
                 "y": y.peek() if rt.verify_data else None}  # fmt: skip
    ps.destroy_model_parallel()
    dist.destroy_process_group()


def _tensor_parallel(rt, p: dict) -> WorkloadResult:
    import numpy as np

    out: dict[int, dict] = {}
    spawn(_tp_rank, args=(rt, p, out), nprocs=p["tp"])
    start = min(r["start_ns"] for r in out.values())
    latency = max(r["end_ns"] for r in out.values()) - start
    flops = 2 * p["tokens"] * p["hidden"] * 3 * p["hidden"]
    result = WorkloadResult()
    result.add("latency_ns", latency, "ns")
    result.add("tflops", flops / latency / 1e3, "tflops")
    result.add("utilisation", flops / latency / (peak_flops_per_ns(rt) * p["tp"]), "ratio")
    result.add("n_pes", p["tp"], "count")
    if rt.verify_data:
        layer = out[0]["layer"]
        f32 = np.float32
        full = out[0]["x"].astype(f32) @ layer.master_weight().astype(f32)
        full += layer.master_bias().astype(f32)
        n = layer.output_size_per_partition
        result.verified = all(
            np.allclose(
                out[r]["y"].astype(f32), full[:, r * n : (r + 1) * n], rtol=2e-2, atol=2e-2
            )  # fmt: skip
            for r in range(p["tp"])
        )
    return result


@workload(
    "gpt3_qkv",
    params=(
        Param("tokens", int, 2048, "tokens in the batch (rows of X)"),
        Param("hidden", int, 12288, "model width (GPT-3 175B: 12288)"),
        Param("block_m", int, 256, _TILES["block_m"].doc),
        Param("block_n", int, 288, _TILES["block_n"].doc),
        Param("block_k", int, 256, _TILES["block_k"].doc),
        Param("seed", int, 0, _TILES["seed"].doc),
        Param("num_pes", int, 0, "PEs of SIP 0 to shard over when tp=0 (0: all of them)"),
        Param("tp", int, 0, "tensor-parallel ranks (column-parallel QKV); 0: shard over PEs"),
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
