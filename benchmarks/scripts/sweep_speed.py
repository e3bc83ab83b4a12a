"""Sweep speed: a 32-point sweep of `gemm` on a local Dask cluster vs one run after another.

    python benchmarks/scripts/sweep_speed.py [--jobs 2]

Both write traced runs into fresh local stores. The sequential side calls run_workload in
this process point by point; the Dask side is `run_sweep` with a local cluster of `--jobs`
worker processes, its start-up and shutdown included. Prints both wall times and their
ratio. Timing only: it asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simulator.runner import run_workload
from simulator.sweep import expand, run_sweep

GRID = {
    "N": ["256", "512", "768", "1024"],
    "block_k": ["64", "128"],
    "cube.hbm.bw_gbs": ["51.2", "102.4", "204.8", "409.6"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    points = expand({}, GRID, ["default"])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for point in points:
            outcome = run_workload("gemm", point.values, store=Path(tmp) / "sequential")
            assert outcome.status == "ok", outcome.error
        sequential_s = time.perf_counter() - started
        started = time.perf_counter()
        result = run_sweep("gemm", points, store=str(Path(tmp) / "dask"), jobs=args.jobs)
        dask_s = time.perf_counter() - started
    assert result.ok, [r.error for r in result.results if r.status != "ok"]
    sim_s = sum(r.wall_s for r in result.results)
    print(f"{len(points)} points of gemm")
    print(f"one after another, one process: {sequential_s:7.2f} s")
    print(
        f"Dask, {args.jobs} local workers:       {dask_s:7.2f} s  (points' own wall {sim_s:.2f} s)"
    )
    print(f"speed-up: {sequential_s / dask_s:.2f}x")


if __name__ == "__main__":
    main()
