"""``tp_mlp``: a Megatron-style tensor-parallel MLP run under ``multiprocessing.spawn``."""

from __future__ import annotations

import numpy as np

from simulator.runtime.tp.layers import ParallelMLP, mlp_reference
from simulator.workloads import bounds
from simulator.workloads.registry import Param, WorkloadResult, workload
from simulator.workloads.tensor_parallel import forward_on_ranks, span_ns


@workload(
    "tp_mlp",
    params=(
        Param("tokens", int, 256, "tokens in the batch (rows of X)", minimum=1),
        Param("hidden", int, 512, "model width", minimum=1),
        Param(
            "ffn", int, 2048, "MLP inner width (split over ranks by the column layer)", minimum=1
        ),
        Param("tp", int, 4, "tensor-parallel size = number of ranks (one PE each)", minimum=1),
        Param("block_m", int, 128, "tile rows", minimum=1),
        Param("block_n", int, 128, "tile columns", minimum=1),
        Param("block_k", int, 128, "tile depth", minimum=1),
        Param("algorithm", str, "ring", "all-reduce algorithm of the row layer (ccl.yaml)"),
        Param("seed", int, 0, "seed of weights and input"),
    ),
)
def tp_mlp(rt, p) -> WorkloadResult:
    """A 2-layer MLP (column-parallel -> GeLU -> row-parallel + all-reduce) over tp ranks."""
    blocks = {k: p[k] for k in ("block_m", "block_n", "block_k")}
    results = forward_on_ranks(
        rt, p["tp"], (p["tokens"], p["hidden"]),
        lambda runtime: ParallelMLP(p["hidden"], p["ffn"], runtime=runtime, seed=p["seed"],
                                    blocks=blocks),
        seed=p["seed"], algorithm=p["algorithm"],
    )  # fmt: skip
    latency = span_ns(results)
    flops = 2 * p["tokens"] * p["hidden"] * p["ffn"] * 2
    result = WorkloadResult()
    result.add("latency_ns", latency, "ns", better="lower")
    result.add("tflops", flops / latency / 1e3, "tflops", better="higher")
    result.add("n_pes", p["tp"], "count", better="higher")
    # Both GEMMs as one roofline, or the row layer's all-reduce, whichever is longer
    # (taking the larger, not the sum, keeps it a bound even if they overlapped).
    params, tokens, hidden, ffn = rt.topology.params, p["tokens"], p["hidden"], p["ffn"]
    mlp_bytes = (tokens * hidden + 2 * hidden * ffn + tokens * hidden) * 2
    compute_ns = bounds.roofline_ns(params, flops, mlp_bytes, p["tp"])
    reduce_ns = bounds.all_reduce_bound_ns(params, p["tp"], tokens * hidden * 2)
    result.add_bound(bounds.launch_path_ns(params, 0) + max(compute_ns, reduce_ns), latency)
    if rt.verify_data:
        expected = mlp_reference(results[0].x, results[0].layer).astype(np.float32)
        ys = [results[r].y for r in range(p["tp"])]
        agree = all(np.array_equal(ys[0], y) for y in ys[1:])
        # fp16 outputs after fp32 accumulation over hidden and ffn.
        close = np.allclose(ys[0].astype(np.float32), expected, rtol=2e-2, atol=2e-2)
        result.verified = bool(agree and close)
    return result
