"""Seeded, cached inputs of the asv suite; nothing here is built at import time.

A workload case is (workload, params, topology), params as `kernbench run --set` takes
them, and every case is an entry of the `benchmarks` suite of traces/suites.yaml (the
one list of standard cases). Once a case has been published, never change it (its
history would stop being comparable): add a new case instead.
"""

from __future__ import annotations

import functools
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import simpy
import yaml

from simulator.hw.topology import load_topology
from simulator.runner import RunOutcome, run_workload
from simulator.runtime.runtime import Runtime
from simulator.workloads.registry import get_workload, list_workloads

Case = tuple[str, dict[str, Any], str]
Metrics = dict[str, tuple[float, str | None]]  # name -> (value, better)

# The one list of standard cases (suite `benchmarks`). Read here with plain YAML rather
# than traces.suites: asv runs these benchmarks against older commits, whose installed
# traces package may lack that module.
SUITES_FILE = Path(__file__).resolve().parent.parent / "traces" / "suites.yaml"
BENCH_SUITE = "benchmarks"
ALLREDUCE_ALGORITHMS = ("ring", "bidir_ring", "hierarchical")
ALLREDUCE_BYTES = 1 << 20
ALLREDUCE_WORLD_SIZE = 8
SMALL_WORKLOADS = ("noop", "gemm_single_pe", "gemm", "dma_sweep")
_ENGINE_OPS = (("DMA_IN", "load"), ("GEMM", "dot"), ("MATH", "exp"), ("DMA_WB", "store"))


@functools.cache
def suite_cases(suite: str = BENCH_SUITE) -> tuple[Case, ...]:
    """The (workload, params, topology) cases of a suite of traces/suites.yaml, in order."""
    runs = yaml.safe_load(SUITES_FILE.read_text(encoding="utf-8"))[suite]["runs"]
    return tuple(
        (run["workload"], dict(run.get("params") or {}), run.get("topology", "default"))
        for run in runs
    )


def bench_case(
    workload: str, params: dict[str, Any] | None = None, topology: str = "default"
) -> Case:
    """The case of the `benchmarks` suite with exactly this workload, params and topology.

    Raises KeyError when the suite does not list it: every benchmarked case is defined
    there, once.
    """
    case = (workload, dict(params or {}), topology)
    if case not in suite_cases():
        raise KeyError(f"{case} is not a case of suite {BENCH_SUITE!r} in {SUITES_FILE}")
    return case


def small_case(workload: str) -> Case:
    """The small case of `workload` (each simulates in well under a second): its first
    entry in the `benchmarks` suite."""
    return next(case for case in suite_cases() if case[0] == workload)


def rate_case() -> Case:
    """The default gemm: enough ops (~3k) for a stable ops-per-second figure."""
    return bench_case("gemm")


def launch_case(topology: str, barrier: bool) -> Case:
    """One `noop` launch on every PE of `topology`, with or without the start barrier."""
    return bench_case("noop", {"barrier": barrier}, topology)


def allreduce_case(algorithm: str) -> Case:
    """The small all-reduce case of one algorithm (1 MiB over 8 ranks on `default`)."""
    params = {"algorithm": algorithm, "world_size": ALLREDUCE_WORLD_SIZE, "bytes": ALLREDUCE_BYTES}
    return bench_case("ccl_allreduce", params)


def cost(metrics: Metrics, name: str) -> float:
    """Metric `name` as asv reads every `track_` value: lower is better.

    1. better "lower": the value itself;
    2. better "higher": its reciprocal (TFLOP/s -> ps per FLOP, GB/s -> ns per byte,
       utilisation -> peak over achieved), so a drop shows as an asv regression;
    3. no declared direction (a commit from before metrics.better): a time (`*_ns`)
       is its value; anything else raises NotImplementedError, which asv reports as
       skipped.
    """
    value, better = metrics[name]
    if better is None and name.endswith("_ns"):
        better = "lower"
    if better == "lower":
        return value
    if better == "higher":
        return 1.0 / value
    raise NotImplementedError(f"metric {name!r} declares no direction in this version")


@functools.cache
def available_workloads() -> frozenset[str]:
    """Names of the workloads the simulator under test registers."""
    return frozenset(w.name for w in list_workloads())


def require_workload(name: str) -> None:
    """Raise NotImplementedError (asv: skip the benchmark) when `name` is not registered."""
    if name not in available_workloads():
        raise NotImplementedError(f"workload {name!r} does not exist in this version")


def run_case(case: Case, *, trace: bool = False, store: str | Path | None = None) -> RunOutcome:
    """Simulate a case; returns the RunOutcome. Raises RuntimeError if the run failed."""
    workload, params, topology = case
    outcome = run_workload(workload, params, topology=topology, trace=trace, store=store)
    if outcome.status != "ok":
        raise RuntimeError(f"{workload} {params} on {topology} failed: {outcome.error}")
    return outcome


def simulated_metrics(case: Case) -> Metrics:
    """Metric name -> (value, better) of one untraced run of `case` (simulated results
    are deterministic, so one run is the answer); better is None at commits whose
    metrics do not declare it."""
    return {m.name: (m.value, getattr(m, "better", None)) for m in run_case(case).metrics}


def best_wall_s(case: Case, *, trace: bool, repeats: int) -> float:
    """Shortest wall time of `repeats` runs of `case`, in seconds (traced runs go to a
    temporary store, so writing Parquet is part of the time)."""
    best = float("inf")
    with tempfile.TemporaryDirectory(prefix="kernbench-asv-") as store:
        for _ in range(repeats):
            started = time.perf_counter()
            run_case(case, trace=trace, store=store)
            best = min(best, time.perf_counter() - started)
    return best


def simulator_ops_per_s(case: Case, repeats: int = 3) -> float:
    """Engine ops plus DMA transfers the simulator completes per wall second on `case`
    (best of `repeats` untraced runs)."""
    workload, params, topology = case
    spec = get_workload(workload)
    resolved = spec.resolve(params)
    topo = load_topology(topology)
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        runtime = Runtime(topo)
        spec.body(runtime, resolved)
        runtime.synchronize()
        wall_s = time.perf_counter() - started
        machine = runtime.machine
        best = max(best, (machine.recorder.next_op_id + machine.recorder.next_dma_id) / wall_s)
    return best


def simpy_timeouts_per_s(n_timeouts: int = 200_000, repeats: int = 3) -> float:
    """Bare SimPy `env.timeout` events processed per wall second (best of `repeats`):
    the ceiling for any SimPy model."""
    best = 0.0
    for _ in range(repeats):
        env = simpy.Environment()

        def ticker(env: simpy.Environment = env):
            for _ in range(n_timeouts):
                yield env.timeout(1.0)

        env.process(ticker())
        started = time.perf_counter()
        env.run()
        best = max(best, n_timeouts / (time.perf_counter() - started))
    return best


def build_trace_store(root: Path, n_runs: int, n_pes: int, tiles_per_pe: int) -> list[str]:
    """Write `n_runs` synthetic runs (seeds 0..n-1) into a store at `root`; their ids."""
    from traces.synthetic import synthetic_store

    _, run_ids = synthetic_store(root, n_runs=n_runs, n_pes=n_pes, tiles_per_pe=tiles_per_pe)
    return run_ids


def ops_columns() -> tuple[str, ...]:
    """Columns of the `ops` trace table in schema order, without run_id (what `appender` takes)."""
    # traces imports stay inside functions: simulator benchmarks must still import at
    # commits whose traces package differs.
    from traces.schema import TABLES

    return tuple(name for name in TABLES["ops"].names if name != "run_id")


def ops_rows(n_rows: int, seed: int = 0) -> list[tuple]:
    """`n_rows` rows of the ops table (ops_columns() order) shaped like a tiled kernel on
    32 PEs, from a seeded generator; columns it does not know are null."""
    rng = random.Random(seed)
    columns = ops_columns()
    rows = []
    now_ns = [0.0] * 32
    for op_id in range(n_rows):
        pe_global = op_id % 32
        engine, op = _ENGINE_OPS[(op_id // 32) % 4]
        start_ns = now_ns[pe_global] + rng.uniform(0.0, 20.0)
        end_ns = start_ns + rng.uniform(50.0, 500.0)
        now_ns[pe_global] = end_ns
        row = {
            "op_id": op_id,
            "launch_id": op_id // 4096,
            "sip": 0,
            "cube": pe_global // 8,
            "pe": pe_global % 8,
            "pe_global": pe_global,
            "engine": engine,
            "op": op,
            "issue_ns": start_ns - 5.0,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "flops": 2 * 128**3 if engine == "GEMM" else 0,
            "bytes": 32768,
            "lane": 0,
        }
        rows.append(tuple(row.get(name) for name in columns))
    return rows
