"""Simulator speed in one process: ops per wall-second beside bare SimPy timeouts/s.

    python benchmarks/scripts/sim_speed.py [--skip-gpt3] [--json]

Runs bare `env.timeout` events, then gpt3_qkv on sip4x4 (the real GPT-3 175B QKV
size), the default gemm, Triton's matmul in 64 x 32 tiles (a grid kernel whose remote
loads keep one large max-min component busy), and a 128-rank hierarchical all-reduce of
1 KiB and 16 MiB on multi_sip, untraced, all in one process, and prints one table (or,
with ``--json``, one
JSON object per case). ``vs_bare`` is the goal's ratio: simulated ops+DMAs per second
over bare timeouts per second; ``cpu_s`` is this process's CPU time, which the load of
other processes inflates less than ``wall_s``. Timing only: it asserts nothing (speed
targets live in the asv suite and in notes, not in tests).
"""

from __future__ import annotations

import argparse
import json
import time

import simpy

from simulator.hw.topology import load_topology
from simulator.runtime.runtime import Runtime
from simulator.workloads.registry import get_workload

CASES = (
    ("gpt3_qkv", {}, "sip4x4"),
    ("gemm", {}, "default"),
    ("matmul", {"block_m": 64, "block_n": 32, "block_k": 32}, "default"),
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
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    bare_per_s = bare_timeouts_per_s()
    if args.json:
        print(json.dumps({"case": "bare SimPy env.timeout", "events_per_s": bare_per_s}))
    else:
        print(f"bare SimPy env.timeout events per second: {bare_per_s:,.0f}")
        print(f"{'case':52} {'wall_s':>7} {'cpu_s':>7} {'ops':>9} {'DMAs':>9} "
              f"{'ops+DMAs/s':>11} {'vs_bare':>7}")  # fmt: skip
    for name, params, topology in CASES:
        if args.skip_gpt3 and name == "gpt3_qkv":
            continue
        workload = get_workload(name)
        runtime = Runtime(load_topology(topology))
        started, started_cpu = time.perf_counter(), time.process_time()
        workload.body(runtime, workload.resolve(params))
        runtime.synchronize()
        wall_s = time.perf_counter() - started
        cpu_s = time.process_time() - started_cpu
        machine = runtime.machine
        ops, dmas = machine.recorder.next_op_id, machine.recorder.next_dma_id
        rate = (ops + dmas) / wall_s
        if args.json:
            row = {"workload": name, "params": params, "topology": topology, "wall_s": wall_s,
                   "cpu_s": cpu_s, "ops": ops, "dmas": dmas, "ops_dmas_per_s": rate,
                   "vs_bare": rate / bare_per_s}  # fmt: skip
            print(json.dumps(row))
            continue
        label = f"{name} {params} on {topology}"
        print(f"{label[:52]:52} {wall_s:7.2f} {cpu_s:7.2f} {ops:9,} {dmas:9,} {rate:11,.0f} "
              f"{rate / bare_per_s:7.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
