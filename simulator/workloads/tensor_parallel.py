"""Running one tensor-parallel forward pass over spawned ranks, timed, for workloads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.runtime import dist
from simulator.runtime.multiprocessing import spawn
from simulator.runtime.runtime import Runtime
from simulator.runtime.tensor import Tensor
from simulator.runtime.tp import parallel_state as ps
from simulator.runtime.tp.layers import seeded_normal


@dataclass
class RankResult:
    """What one rank saw: its forward's start and end (ns), the layer it built, and in
    data mode its input and output values."""

    start_ns: float
    end_ns: float
    layer: Any
    x: np.ndarray | None
    y: np.ndarray | None


def forward_on_ranks(
    rt: Runtime,
    tp: int,
    input_shape: tuple[int, int],
    build: Callable[[Runtime], Callable[[Tensor], Tensor]],
    *,
    seed: int,
    algorithm: str | None = None,
) -> dict[int, RankResult]:
    """Spawn ``tp`` ranks; each builds a layer with ``build(rt)``, uploads the same seeded
    input of ``input_shape`` to its PE, waits at a barrier so all start together, and
    runs one forward pass. Returns each rank's :class:`RankResult`."""
    results: dict[int, RankResult] = {}

    def rank_main(rank: int, runtime: Runtime) -> None:
        dist.init_process_group(algorithm=algorithm)
        ps.initialize_model_parallel(tensor_model_parallel_size=tp)
        layer = build(runtime)
        x = runtime.empty(input_shape, "float16", dist.get_placement(), f"x{rank}")
        x_host = seeded_normal(seed + 100, input_shape, 1.0) if runtime.verify_data else None
        runtime.copy_from_host(x, x_host)
        dist.barrier()
        start_ns = runtime.now_ns
        y = layer(x)
        runtime.synchronize()
        y_host = y.peek() if runtime.verify_data else None
        results[rank] = RankResult(start_ns, runtime.now_ns, layer, x_host, y_host)
        ps.destroy_model_parallel()
        dist.destroy_process_group()

    spawn(rank_main, args=(rt,), nprocs=tp)
    return results


def span_ns(results: dict[int, RankResult]) -> float:
    """From the first rank's start to the last rank's end."""
    return max(r.end_ns for r in results.values()) - min(r.start_ns for r in results.values())
