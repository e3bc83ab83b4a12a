"""``ccl_allreduce``: an in-place all-reduce across ``world_size`` ranks, one PE each.

Ranks are spawned with ``multiprocessing.spawn``; each uploads its buffer to its own PE
and calls ``dist.all_reduce`` once. Metrics follow nccl-tests: ``algbw_gbs`` = bytes /
latency, ``busbw_gbs`` = algbw x 2(p-1)/p (the per-link bandwidth a ring needs).
``latency_ns`` runs from the ranks' common kernel start to the last rank's end.

Inputs are small integers, so every rank's sum is exact in float16 too and the data
check (``--verify-data``) is an exact comparison with numpy's sum.
"""

from __future__ import annotations

import numpy as np

import simulator.runtime.dist as dist
import simulator.runtime.multiprocessing as mp
from simulator.ccl.registry import MODELS, algorithm_names, default_algorithm, default_model
from simulator.runtime.runtime import Runtime
from simulator.workloads import bounds
from simulator.workloads.registry import Param, WorkloadError, WorkloadResult, workload

DTYPES = ("float32", "float16")
# Inputs are integers in [-VALUE_RANGE, VALUE_RANGE]: sums over 128 ranks stay exact.
VALUE_RANGE = 4


@workload(
    "ccl_allreduce",
    params=(
        Param(
            "algorithm",
            str,
            default_algorithm(),
            "all-reduce algorithm (ccl.yaml)",
            choices=tuple(algorithm_names()),
        ),
        Param(
            "world_size",
            int,
            8,
            "ranks, one PE each (2..128; above 32 use sip4x4 or multi_sip)",
            minimum=2,
        ),
        Param("bytes", int, 1 << 20, "bytes of each rank's buffer", minimum=1),
        Param("dtype", str, "float32", "element type", choices=DTYPES),
        Param("seed", int, 0, "random seed of the inputs (data mode)"),
        Param(
            "collective_model",
            str,
            default_model(),
            "fine: one DMA/add per sub-chunk (cost grows with bytes); coarse: cost "
            "independent of bytes -- rings run blocks and the seed's chains pieces until "
            "their period repeats, and wait out the rest at that period (ccl.yaml)",
            choices=MODELS,
        ),
    ),
)
def run(rt: Runtime, p: dict) -> WorkloadResult:
    """All-reduce of `bytes` per rank over `world_size` ranks: latency, algbw, busbw."""
    world, nbytes, dtype = p["world_size"], p["bytes"], np.dtype(p["dtype"])
    if world > len(rt.device_pes):
        raise WorkloadError(dist.too_few_pes(world, rt))
    if nbytes < dtype.itemsize or nbytes % dtype.itemsize:
        raise WorkloadError(
            f"parameter bytes: {nbytes} is not a positive multiple of the "
            f"{dtype} element size ({dtype.itemsize} bytes)"
        )
    n = nbytes // dtype.itemsize
    rng = np.random.default_rng(p["seed"])
    inputs = (
        [rng.integers(-VALUE_RANGE, VALUE_RANGE + 1, n).astype(dtype) for _ in range(world)]
        if rt.verify_data
        else None
    )
    works: dict[int, dist.Work] = {}
    outputs: dict[int, np.ndarray] = {}

    def rank_main(rank: int) -> None:
        dist.init_process_group(
            "ccl",
            world_size=world,
            algorithm=p["algorithm"],
            collective_model=p["collective_model"],
        )
        buf = rt.empty((n,), dtype, dist.get_placement(), name=f"buf{rank}")
        rt.copy_from_host(buf, None if inputs is None else inputs[rank])
        works[rank] = dist.all_reduce(buf, async_op=True)
        works[rank].wait()
        if inputs is not None:
            outputs[rank] = buf.numpy()

    mp.spawn(rank_main, nprocs=world, runtime=rt)
    coll = works[0].collective
    latency = coll.latency_ns
    algbw = nbytes / latency
    result = WorkloadResult()
    result.add("latency_ns", latency, "ns", better="lower")
    result.add("algbw_gbs", algbw, "gbs", better="higher")
    result.add("busbw_gbs", algbw * 2 * (world - 1) / world, "gbs", better="higher")
    result.add_bound(bounds.all_reduce_bound_ns(rt.topology.params, world, nbytes), latency)
    if inputs is not None:
        expected = np.sum(np.array(inputs, dtype=np.float64), axis=0).astype(dtype)
        result.verified = all(np.array_equal(outputs[r], expected) for r in range(world))
    return result
