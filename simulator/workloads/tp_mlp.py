"""``tp_mlp``: a Megatron-style tensor-parallel MLP run under ``multiprocessing.spawn``."""

from __future__ import annotations

import numpy as np

from simulator.runtime import dist
from simulator.runtime.multiprocessing import spawn
from simulator.runtime.tp import parallel_state as ps
from simulator.runtime.tp.layers import ParallelMLP, mlp_reference, seeded_normal
from simulator.workloads.registry import Param, WorkloadResult, workload


def _rank_main(rank: int, rt, p: dict, out: dict) -> None:
    dist.init_process_group(algorithm=p["algorithm"])
    ps.initialize_model_parallel(tensor_model_parallel_size=p["tp"])
    blocks = {k: p[k] for k in ("block_m", "block_n", "block_k")}
    mlp = ParallelMLP(p["hidden"], p["ffn"], runtime=rt, seed=p["seed"], blocks=blocks)
    x = rt.empty((p["tokens"], p["hidden"]), "float16", dist.get_placement(), f"x{rank}")
    x_host = seeded_normal(p["seed"] + 100, x.shape, 1.0) if rt.verify_data else None
    rt.copy_from_host(x, x_host)
    dist.barrier()  # every rank starts the forward pass together
    start_ns = rt.now_ns
    y = mlp(x)
    rt.synchronize()
    out[rank] = {"start_ns": start_ns, "end_ns": rt.now_ns, "y": None, "mlp": mlp}
    if rt.verify_data:
        out[rank]["y"] = y.peek()
        out[rank]["x"] = x_host
    ps.destroy_model_parallel()
    dist.destroy_process_group()


@workload(
    "tp_mlp",
    params=(
        Param("tokens", int, 256, "tokens in the batch (rows of X)"),
        Param("hidden", int, 512, "model width"),
        Param("ffn", int, 2048, "MLP inner width (split over ranks by the column layer)"),
        Param("tp", int, 4, "tensor-parallel size = number of ranks (one PE each)"),
        Param("block_m", int, 128, "tile rows"),
        Param("block_n", int, 128, "tile columns"),
        Param("block_k", int, 128, "tile depth"),
        Param("algorithm", str, "ring", "all-reduce algorithm of the row layer (ccl.yaml)"),
        Param("seed", int, 0, "seed of weights and input"),
    ),
)
def tp_mlp(rt, p) -> WorkloadResult:
    """A 2-layer MLP (column-parallel -> GeLU -> row-parallel + all-reduce) over tp ranks."""
    out: dict[int, dict] = {}
    spawn(_rank_main, args=(rt, p, out), nprocs=p["tp"])
    start = min(r["start_ns"] for r in out.values())
    end = max(r["end_ns"] for r in out.values())
    tokens, hidden, ffn = p["tokens"], p["hidden"], p["ffn"]
    flops = 2 * tokens * hidden * ffn * 2
    result = WorkloadResult()
    result.add("latency_ns", end - start, "ns")
    result.add("tflops", flops / (end - start) / 1e3, "tflops")
    result.add("n_pes", p["tp"], "count")
    if rt.verify_data:
        expected = mlp_reference(out[0]["x"], out[0]["mlp"])
        ys = [out[r]["y"] for r in range(p["tp"])]
        agree = all(np.array_equal(ys[0], y) for y in ys[1:])
        # fp16 outputs after fp32 accumulation over hidden and ffn.
        close = np.allclose(ys[0].astype(np.float32), expected.astype(np.float32),
                            rtol=2e-2, atol=2e-2)  # fmt: skip
        result.verified = bool(agree and close)
    return result
