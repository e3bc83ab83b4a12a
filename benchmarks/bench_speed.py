"""The speed goals as ratios measured in one asv job, so they hold on any machine.

asv reads every ``track_`` value as lower-is-better, so each goal is expressed as a cost:

- bare SimPy timeouts per simulated op+DMA (goal <= 1/0.15 = 6.7), on a small gpt3_qkv
  and on a 128-rank hierarchical all-reduce;
- traced over untraced whole-process wall of ``kernbench run gemm --set N=20480``
  (goal <= 1.05) and the fixed cost of tracing ``noop`` in ms (goal <= 100);
- wall of a 128-rank all-reduce of 64 MiB over that of 1 KiB (goal <= 10, ideally 1.5),
  and the coarse collective model's latency error against the fine model in % (goal <= 1);
- ``kernbench --help`` and ``kernbench list`` start-up in seconds (goal < 0.5);
- peak RSS of a traced run with 10x the events over the small one (goal <= 1.2);
- the first two again in instructions counted by valgrind (``SimOpInstructions``,
  ``TracingInstructions``): deterministic, so a change of 1 % shows where wall times on a
  shared machine move by 5-10 %; skipped where valgrind is not installed.

Whole-process figures run the environment's ``kernbench`` command in a subprocess (the
commits before it had one: ``python -m simulator.cli``): start-up and imports are part of
what a user waits for. They run with Python's byte code cache on, as an installed project
runs (see ``user_environ``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import instructions
from .common import Case, simpy_timeouts_per_s, simulated_metrics, simulator_ops_per_s

# gpt3_qkv at small sizes (the trace-identity case): every engine and the MMU, ~1 s.
GPT3_QKV_SMALL: Case = (
    "gpt3_qkv",
    {"tokens": 256, "hidden": 512, "block_m": 128, "block_n": 128, "block_k": 128},
    "sip4x4",
)
# Triton's matmul in 64 x 32 tiles: ~270 remote loads stream at once, coupled through the
# mesh and HBM into one max-min component that is refilled at every start and end (most
# of the time goes there, not to the ops).
MATMUL_SMALL_TILES: Case = ("matmul", {"block_m": 64, "block_n": 32, "block_k": 32}, "default")
ALLREDUCE_RANKS = 128
# The gemm whose tracing cost is counted in instructions (valgrind: ~25 s a process).
INSTRUCTION_GEMM: Case = ("gemm", {"N": 2048}, "default")


def allreduce_128(n_bytes: int, model: str | None = None) -> Case:
    """A hierarchical all-reduce of ``n_bytes`` over 128 ranks of multi_sip, on the
    collective ``model`` (``fine`` or ``coarse``; None: ccl.yaml's default)."""
    params = {"world_size": ALLREDUCE_RANKS, "algorithm": "hierarchical", "bytes": n_bytes}
    if model is not None:
        params["collective_model"] = model
    return ("ccl_allreduce", params, "multi_sip")


def user_environ() -> dict[str, str]:
    """This environment for a measured ``kernbench`` process, without
    PYTHONDONTWRITEBYTECODE: a shell that sets it makes every process compile every
    module from source (the simulator's, and pyarrow's in a traced run's writer process,
    which then starts ~0.1 s later), a cost an installed project does not pay and that
    would blur the ratios of what tracing adds."""
    environ = dict(os.environ)
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return environ


def kernbench_command() -> list[str]:
    """The ``kernbench`` command of this environment, what users run; ``python -m
    simulator.cli`` where the project installed no such script."""
    script = Path(sys.executable).with_name("kernbench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "simulator.cli"]


def process_wall_s(args: list[str], repeats: int) -> float:
    """Shortest whole-process wall time of ``kernbench ARGS``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [*kernbench_command(), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=user_environ(),
        )
        best = min(best, time.perf_counter() - started)
    return best


def run_wall_s(args: list[str], *, trace: bool, repeats: int) -> float:
    """process_wall_s of ``run ARGS``, traced into a temporary store or --no-trace."""
    return run_wall_cpu_s(args, trace=trace, repeats=repeats)[0]


def run_wall_cpu_s(args: list[str], *, trace: bool, repeats: int) -> tuple[float, float]:
    """Shortest whole-process wall and shortest CPU (user + system, child processes
    such as git included; the trace's writer process, not waited for, is not) of
    ``kernbench run ARGS``, in seconds, traced into a temporary store or --no-trace. CPU
    time is what other processes' load inflates least."""
    wall, cpu = float("inf"), float("inf")
    with tempfile.TemporaryDirectory(prefix="kernbench-asv-") as store:
        flags = ["--store", store] if trace else ["--no-trace"]
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = min(wall, process_wall_s(["run", *args, *flags], 1))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            cpu = min(cpu, used)
    return wall, cpu


def run_json_wall_s(args: list[str], repeats: int) -> float:
    """Shortest ``wall_s`` (the simulation's own wall time, in seconds) that
    ``kernbench run ARGS --no-trace --json`` reports, each run in a fresh process."""
    best = float("inf")
    for _ in range(repeats):
        done = subprocess.run(
            [*kernbench_command(), "run", *args, "--no-trace", "--json"],
            check=True,
            capture_output=True,
            text=True,
            env=user_environ(),
        )
        report = json.loads(done.stdout)
        if report["status"] != "ok":
            raise RuntimeError(f"kernbench run {' '.join(args)}: {report['error']}")
        best = min(best, report["wall_s"])
    return best


_PEAK_RSS = """
import contextlib, io, json, resource, sys
import simulator.cli
from traces.writer_process import stop_writer_process
with contextlib.redirect_stdout(io.StringIO()):
    code = simulator.cli.main(sys.argv[1:])
stop_writer_process()  # waited for: its peak is the largest child's
self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([code, self_kib, children_kib]))
"""


def peak_rss_kib(args: list[str]) -> tuple[int, int]:
    """Peak resident set (KiB) of one traced ``kernbench run ARGS`` in a fresh process,
    and of the writer process it handed its rows to (the largest of its children: git's
    are smaller)."""
    with tempfile.TemporaryDirectory(prefix="kernbench-asv-") as store:
        done = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, "run", *args, "--store", store],
            check=True,
            capture_output=True,
            text=True,
            env=user_environ(),
        )
    code, rss_kib, writer_rss_kib = json.loads(done.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(f"kernbench run {' '.join(args)} exited {code}")
    return rss_kib, writer_rss_kib


class SimOpRate:
    """Bare SimPy timeouts per simulated op+DMA: how far the simulator is from SimPy's
    ceiling (goal <= 6.7, i.e. >= 0.15 of bare timeouts/s); both rates in one process."""

    params = ["gpt3_qkv_small", "allreduce_128x1KiB", "matmul_small_tiles"]
    param_names = ["case"]
    timeout = 600

    def setup_cache(self) -> dict[str, float]:
        cases = {"gpt3_qkv_small": GPT3_QKV_SMALL, "allreduce_128x1KiB": allreduce_128(1024),
                 "matmul_small_tiles": MATMUL_SMALL_TILES}  # fmt: skip
        bare = simpy_timeouts_per_s()
        return {name: bare / simulator_ops_per_s(case, repeats=1) for name, case in cases.items()}

    def track_bare_timeouts_per_sim_op(self, ratios: dict[str, float], case: str) -> float:
        return ratios[case]

    track_bare_timeouts_per_sim_op.unit = "timeouts/op"


class AllReduceScaling:
    """Wall of a 128-rank hierarchical all-reduce of 64 MiB over that of 1 KiB
    (goal <= 10, ideally 1.5): the cost of a collective should not grow with its size.

    Walls are the runs' own ``wall_s`` (simulation, without interpreter start-up), each
    the best of ``repeats`` fresh processes. The 64 MiB case runs the coarse collective
    model (each chain's pieces until its period converges, the rest waited out); the
    fine model is tracked at 1 MiB, which keeps the suite cheap (its 64 MiB run takes
    about a minute).
    """

    timeout = 1800

    def setup_cache(self) -> dict[str, float]:
        def wall(n_bytes: int, model: str) -> float:
            return run_json_wall_s(_run_args(allreduce_128(n_bytes, model)), repeats=2)

        coarse_small = wall(1024, "coarse")
        fine_small = wall(1024, "fine")
        return {
            "coarse_64mib": wall(64 << 20, "coarse") / coarse_small,
            "coarse_16mib": wall(16 << 20, "coarse") / coarse_small,
            "fine_1mib": wall(1 << 20, "fine") / fine_small,
        }

    def track_64mib_over_1kib_wall(self, ratios: dict[str, float]) -> float:
        """Coarse model, 64 MiB over 1 KiB; goal <= 10 (ideally 1.5)."""
        return ratios["coarse_64mib"]

    track_64mib_over_1kib_wall.unit = "ratio"

    def track_coarse_16mib_over_1kib_wall(self, ratios: dict[str, float]) -> float:
        """Coarse model, 16 MiB over 1 KiB."""
        return ratios["coarse_16mib"]

    track_coarse_16mib_over_1kib_wall.unit = "ratio"

    def track_fine_1mib_over_1kib_wall(self, ratios: dict[str, float]) -> float:
        """Fine model, 1 MiB over 1 KiB: what the coarse model saves grows from here."""
        return ratios["fine_1mib"]

    track_fine_1mib_over_1kib_wall.unit = "ratio"


class CoarseRingCost:
    """Wall of a ring all-reduce on the coarse collective model over the fine one's
    (lower is better): 32 ranks on the default topology at 128 MiB, 32 blocks per ring
    chunk, of which the coarse rings run those until their period repeats plus the last
    two. Each wall is the best of two fresh processes' ``wall_s``."""

    params = ["ring", "hierarchical_rsag"]
    param_names = ["algorithm"]
    timeout = 1800

    def setup_cache(self) -> dict[str, float]:
        walls = on_both_models(
            self.params, lambda a, m: run_json_wall_s(_run_args(coarse_ring_case(a, m)), 2)
        )
        return {algorithm: wall["coarse"] / wall["fine"] for algorithm, wall in walls.items()}

    def track_coarse_over_fine_wall(self, ratios: dict[str, float], algorithm: str) -> float:
        return ratios[algorithm]

    track_coarse_over_fine_wall.unit = "ratio"


def on_both_models(
    algorithms: list[str], measure: Callable[[str, str], float]
) -> dict[str, dict[str, float]]:
    """``measure(algorithm, model)`` of every algorithm on the fine and coarse models."""
    return {a: {model: measure(a, model) for model in ("fine", "coarse")} for a in algorithms}


def coarse_ring_case(algorithm: str, model: str) -> Case:
    """The ``CoarseRingCost`` case of ``algorithm`` on the collective ``model``."""
    return allreduce_default(32, 128 << 20, algorithm, model)


def allreduce_default(world: int, n_bytes: int, algorithm: str, model: str) -> Case:
    """An all-reduce of ``n_bytes`` over ``world`` ranks of the default topology."""
    params = {"world_size": world, "algorithm": algorithm, "bytes": n_bytes,
              "collective_model": model}  # fmt: skip
    return ("ccl_allreduce", params, "default")


class CoarseModelError:
    """How far the coarse collective model's ``latency_ns`` is from the fine model's, in
    percent of the fine one (goal <= 1): the price of its speed. One case per sampled
    kernel, large enough that coarse samples (8 ranks, 64 MiB on the default topology:
    the rings skip blocks, the seed's chains pieces; coarse runs ~12x faster there)."""

    params = ["ring", "bidir_ring", "hierarchical_rsag", "hierarchical"]
    param_names = ["algorithm"]
    timeout = 900

    def setup_cache(self) -> dict[str, float]:
        latencies = on_both_models(
            self.params, lambda a, m: simulated_metrics(coarse_error_case(a, m))["latency_ns"][0]
        )
        return {
            algorithm: 100.0 * abs(latency["coarse"] / latency["fine"] - 1.0)
            for algorithm, latency in latencies.items()
        }

    def track_latency_error_pct(self, errors: dict[str, float], algorithm: str) -> float:
        return errors[algorithm]

    track_latency_error_pct.unit = "%"


def coarse_error_case(algorithm: str, model: str) -> Case:
    """The ``CoarseModelError`` case of ``algorithm`` on the collective ``model``."""
    return allreduce_default(8, 64 << 20, algorithm, model)


class _NeedsValgrind:
    """Tracks counted by valgrind (benchmarks/instructions.py): skipped without it."""

    def setup(self, *_params: object) -> None:
        if instructions.valgrind() is None:
            raise NotImplementedError("valgrind is not installed")


class SimOpInstructions(_NeedsValgrind):
    """SimOpRate in instructions: those of one simulated op+DMA over those of one bare
    SimPy timeout (goal <= 6.7). Deterministic where the wall-time ratio moves 5-10 %
    between jobs; higher than it, since the simulator misses the caches more."""

    params = ["gpt3_qkv_small", "allreduce_128x1KiB"]
    param_names = ["case"]
    timeout = 1800

    def setup_cache(self) -> dict[str, float]:
        if instructions.valgrind() is None:
            return {}
        cases = {"gpt3_qkv_small": GPT3_QKV_SMALL, "allreduce_128x1KiB": allreduce_128(1024)}
        per_timeout = instructions.per_timeout()
        return {name: instructions.per_sim_op(case) / per_timeout for name, case in cases.items()}

    def track_bare_timeouts_per_sim_op_instructions(
        self, ratios: dict[str, float], case: str
    ) -> float:
        return ratios[case]

    track_bare_timeouts_per_sim_op_instructions.unit = "timeouts/op"


class TracingInstructions(_NeedsValgrind):
    """Instructions of the simulating process of a traced gemm over an untraced one: the
    part of tracing's cost the simulation pays itself (the writer process runs on another
    core). Deterministic, unlike TracingCost."""

    timeout = 900

    def setup_cache(self) -> dict[str, float]:
        if instructions.valgrind() is None:
            return {}
        traced = instructions.per_sim_op(INSTRUCTION_GEMM, traced=True)
        return {"gemm": traced / instructions.per_sim_op(INSTRUCTION_GEMM)}

    def track_gemm_traced_over_untraced_instructions(self, ratios: dict[str, float]) -> float:
        return ratios["gemm"]

    track_gemm_traced_over_untraced_instructions.unit = "ratio"


class TracingCost:
    """What recording a trace adds to a whole `kernbench run` process."""

    timeout = 900

    def setup_cache(self) -> dict[str, float]:
        gemm = ["gemm", "--set", "N=20480"]
        noop = ["noop"]
        # Shortest of 3: one sample moved the ratio by +-0.05 between jobs.
        gemm_traced = run_wall_cpu_s(gemm, trace=True, repeats=3)
        gemm_untraced = run_wall_cpu_s(gemm, trace=False, repeats=3)
        noop_traced = run_wall_cpu_s(noop, trace=True, repeats=3)
        noop_untraced = run_wall_cpu_s(noop, trace=False, repeats=3)
        return {
            "gemm_ratio": gemm_traced[0] / gemm_untraced[0],
            "gemm_cpu_ratio": gemm_traced[1] / gemm_untraced[1],
            "noop_ms": 1e3 * (noop_traced[0] - noop_untraced[0]),
            "noop_cpu_ms": 1e3 * (noop_traced[1] - noop_untraced[1]),
        }

    def track_gemm_traced_over_untraced_wall(self, costs: dict[str, float]) -> float:
        """Goal <= 1.05."""
        return costs["gemm_ratio"]

    track_gemm_traced_over_untraced_wall.unit = "ratio"

    def track_noop_tracing_fixed_ms(self, costs: dict[str, float]) -> float:
        """Traced minus untraced process wall of `noop`; goal <= 100 ms."""
        return costs["noop_ms"]

    track_noop_tracing_fixed_ms.unit = "ms"

    def track_gemm_traced_over_untraced_cpu(self, costs: dict[str, float]) -> float:
        """The gemm ratio in process CPU time (user + system): steadier than wall on a
        shared machine. It counts the simulating process (and git), not the writer process
        it hands its rows to, which outlives it (traces/writer_process.py)."""
        return costs["gemm_cpu_ratio"]

    track_gemm_traced_over_untraced_cpu.unit = "ratio"

    def track_noop_tracing_fixed_cpu_ms(self, costs: dict[str, float]) -> float:
        """Traced minus untraced process CPU time of `noop`."""
        return costs["noop_cpu_ms"]

    track_noop_tracing_fixed_cpu_ms.unit = "ms"


class CliStartUp:
    """Whole-process wall of `kernbench --help` and `kernbench list` (goal < 0.5 s)."""

    params = ["--help", "list"]
    param_names = ["command"]
    timeout = 300

    def setup_cache(self) -> dict[str, float]:
        return {command: process_wall_s([command], repeats=3) for command in self.params}

    def track_start_up_s(self, walls: dict[str, float], command: str) -> float:
        return walls[command]

    track_start_up_s.unit = "s"


class TraceMemory:
    """Peak RSS of a traced gemm with 10x the events over the default one (goal <= 1.2),
    of the simulating process and of its writer process: rows stream to Parquet in
    batches, so memory must not grow with the trace in either."""

    timeout = 900

    def setup_cache(self) -> dict[str, float]:
        small = peak_rss_kib(["gemm"])
        large = peak_rss_kib(["gemm", "--set", "M=20480"])  # 10x the rows of A: 10x tiles
        return {"simulation": large[0] / small[0], "writer": large[1] / small[1]}

    def track_peak_rss_10x_events_ratio(self, ratios: dict[str, float]) -> float:
        """The simulating process's."""
        return ratios["simulation"]

    track_peak_rss_10x_events_ratio.unit = "ratio"

    def track_writer_peak_rss_10x_events_ratio(self, ratios: dict[str, float]) -> float:
        """The writer process's (traces/writer_process.py)."""
        return ratios["writer"]

    track_writer_peak_rss_10x_events_ratio.unit = "ratio"


def _run_args(case: Case) -> list[str]:
    """`kernbench run` arguments of a case."""
    workload, params, topology = case
    sets = [f"{key}={value}" for key, value in params.items()]
    return [workload, "--topology", topology, *(arg for s in sets for arg in ("--set", s))]
