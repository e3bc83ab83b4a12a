"""Simulator speed in one process: ops per wall-second beside bare SimPy timeouts/s.

    python benchmarks/scripts/sim_speed.py [--skip-gpt3]

Runs gpt3_qkv on sip4x4 (the real GPT-3 175B QKV size), the default gemm, and a
128-rank hierarchical all-reduce of 1 KiB and 16 MiB on multi_sip, untraced, then
bare `env.timeout` events in the same process, and prints one table. Timing only: it
asserts nothing (speed targets live in the asv suite and in notes, not in tests).
"""

from __future__ import annotations

import argparse
import time

import simpy

from simulator.hw.topology import load_topology
from simulator.runtime.runtime import Runtime
from simulator.workloads.registry import get_workload

CASES = (
    ("gpt3_qkv", {}, "sip4x4"),
    ("gemm", {}, "default"),
    ("ccl_allreduce", {"world_size": 128, "algorithm": "hierarchical", "bytes": 1024}, "multi_sip"),
    ("ccl_allreduce", {"world_size": 128, "algorithm": "hierarchical", "bytes": 16 << 20},
     "multi_sip"),
)  # fmt: skip


def bare_timeouts_per_s(n: int = 300_000, processes: int = 16) -> float:
    """Plain SimPy: ``processes`` generators each yielding ``n / processes`` timeouts."""
    env = simpy.Environment()

    def proc(env: simpy.Environment):
        for _ in range(n // processes):
            yield env.timeout(1)

    for _ in range(processes):
        env.process(proc(env))
    started = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-gpt3", action="store_true", help="leave out the big GEMM")
    args = parser.parse_args()
    print(f"{'case':58} {'wall_s':>8} {'ops':>9} {'DMAs':>9} {'ops+DMAs/s':>11}")
    for name, params, topology in CASES:
        if args.skip_gpt3 and name == "gpt3_qkv":
            continue
        workload = get_workload(name)
        runtime = Runtime(load_topology(topology))
        started = time.perf_counter()
        workload.body(runtime, workload.resolve(params))
        runtime.synchronize()
        wall_s = time.perf_counter() - started
        machine = runtime.machine
        ops, dmas = machine.recorder.next_op_id, machine.recorder.next_dma_id
        label = f"{name} {params} on {topology}"
        print(f"{label[:58]:58} {wall_s:8.2f} {ops:9,} {dmas:9,} {(ops + dmas) / wall_s:11,.0f}")
    print(f"bare SimPy env.timeout events per second: {bare_timeouts_per_s():,.0f}")


if __name__ == "__main__":
    main()
