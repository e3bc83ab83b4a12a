"""``gpt3_qkv``: the GPT-3 175B QKV projection sharded over the PEs of one SIP."""

from __future__ import annotations

from simulator.runtime.placement import Placement
from simulator.workloads.gemm import TILE_PARAMS, run_gemm
from simulator.workloads.registry import Param, WorkloadResult, workload

_TILES = {p.name: p for p in TILE_PARAMS}


@workload(
    "gpt3_qkv",
    params=(
        Param("tokens", int, 2048, "tokens in the batch (rows of X)"),
        Param("hidden", int, 12288, "model width (GPT-3 175B: 12288)"),
        Param("block_m", int, 256, _TILES["block_m"].doc),
        Param("block_n", int, 288, _TILES["block_n"].doc),
        Param("block_k", int, 256, _TILES["block_k"].doc),
        Param("seed", int, 0, _TILES["seed"].doc),
        Param("num_pes", int, 0, "PEs of SIP 0 to shard over (0: all of them)"),
    ),
    default_topology="sip4x4",
)
def gpt3_qkv(rt, p) -> WorkloadResult:
    """Y = X @ W_qkv with X (tokens x hidden) replicated and W (hidden x 3*hidden)
    column-sharded over the PEs of SIP 0 (each PE computes its slice of Q, K and V)."""
    sip0 = [c.pe_global for c in rt.device_pes if c.sip == rt.sips[0]]
    pes = tuple(sip0[: p["num_pes"]] if p["num_pes"] else sip0)
    gemm_params = dict(p, M=p["tokens"], N=3 * p["hidden"], K=p["hidden"])
    return run_gemm(
        rt,
        gemm_params,
        Placement.replicate(pes=pes),
        Placement.column_wise(pes=pes),
        Placement.column_wise(pes=pes),
    )
