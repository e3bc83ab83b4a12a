"""Tests of the asv suite in benchmarks/: its track values, inputs, and that asv runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.hw.topology import load_topology
from simulator.runner import run_workload
from traces.schema import TABLES
from traces.views import open_connection

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.bench_simulated import (  # noqa: E402
    SimulatedAllReduce,
    SimulatedDma,
    SimulatedGemm,
    SimulatedLaunch,
    SimulatedTritonKernels,
)
from benchmarks.bench_traces import TraceWriter  # noqa: E402


def reported(case: common.Case, tmp_path: Path) -> dict[str, float]:
    """What `kernbench run` reports for a case (a traced run into a temporary store)."""
    workload, params, topology = case
    outcome = run_workload(workload, params, topology=topology, store=tmp_path / "store")
    assert outcome.status == "ok", outcome.error
    return {m.name: m.value for m in outcome.metrics}


def stored_better(tmp_path: Path) -> dict[str, str]:
    """metrics.better of every metric name in the temporary store (one value per name)."""
    rows = (
        open_connection(tmp_path / "store")
        .sql("SELECT DISTINCT name, better FROM metrics")
        .fetchall()
    )
    return dict(rows)


def test_gemm_tracks_equal_kernbench_run(tmp_path):
    """SimulatedGemm's track values are the metrics kernbench run reports for the same case."""
    bench = SimulatedGemm()
    cache = bench.setup_cache()
    for workload in bench.params:
        metrics = reported(common.small_case(workload), tmp_path)
        assert bench.track_latency_ns(cache, workload) == metrics["latency_ns"]
        assert bench.track_kernel_ns(cache, workload) == metrics["kernel_ns"]
        # Higher-is-better metrics are tracked as reciprocals: asv's regressions go up.
        assert bench.track_ps_per_flop(cache, workload) == 1.0 / metrics["tflops"]
        assert bench.track_peak_over_achieved(cache, workload) == 1.0 / metrics["utilisation"]


def test_gemm_single_pe_tflops_is_flops_over_kernel_time():
    """track_ps_per_flop of the 256^3 GEMM is kernel_ns * 1e3 / (2*M*N*K) (ps per FLOP)."""
    bench = SimulatedGemm()
    cache = bench.setup_cache()
    kernel_ns = bench.track_kernel_ns(cache, "gemm_single_pe")
    assert bench.track_ps_per_flop(cache, "gemm_single_pe") == pytest.approx(
        kernel_ns * 1e3 / (2 * 256**3)
    )


def test_launch_tracks_equal_kernbench_run_and_barrier_gives_zero_spread(tmp_path):
    """SimulatedLaunch matches kernbench run; with the barrier on, every PE starts together."""
    bench = SimulatedLaunch()
    cache = bench.setup_cache()
    for topology in bench.params[0]:
        for barrier in bench.params[1]:
            metrics = reported(common.launch_case(topology, barrier), tmp_path)
            assert bench.track_latency_ns(cache, topology, barrier) == metrics["launch_latency_ns"]
            assert bench.track_spread_ns(cache, topology, barrier) == metrics["spread_ns"]
        assert bench.track_spread_ns(cache, topology, True) == 0.0


def test_dma_bandwidth_track_is_the_topology_bottleneck(tmp_path):
    """The fitted own-HBM bandwidth is the HBM slice bandwidth of `default`, as in its YAML."""
    bench = SimulatedDma()
    cache = bench.setup_cache()
    hbm_gbs = load_topology("default").params.cube.hbm.bw_gbs
    assert bench.track_ns_per_byte(cache, "own_hbm") == pytest.approx(1.0 / hbm_gbs)
    metrics = reported(common.small_case("dma_sweep"), tmp_path)
    for path in bench.params:
        assert bench.track_ns_per_byte(cache, path) == 1.0 / metrics[f"dma.{path}.bw_gbs"]
        assert bench.track_alpha_ns(cache, path) == metrics[f"dma.{path}.alpha_ns"]


def test_triton_kernel_tracks_equal_kernbench_run(tmp_path):
    """SimulatedTritonKernels tracks kernel_ns and 1 / efficiency (the kernel's time over
    its bound) of what kernbench run reports for each case; a missing workload skips."""
    bench = SimulatedTritonKernels()
    cache = bench.setup_cache()
    for workload in bench.params:
        bench.setup(cache, workload)
        metrics = reported(common.small_case(workload), tmp_path)
        assert bench.track_kernel_ns(cache, workload) == metrics["kernel_ns"]
        assert bench.track_bound_over_achieved(cache, workload) == 1.0 / metrics["efficiency"]
        assert bench.track_bound_over_achieved(cache, workload) >= 1.0
    with pytest.raises(NotImplementedError, match="'attention' does not exist"):
        bench.setup({}, "attention")


def test_allreduce_tracks_skip_or_match(tmp_path):
    """Without ccl_allreduce every case is skipped (NotImplementedError); with it, tracks match."""
    bench = SimulatedAllReduce()
    cache = bench.setup_cache()
    if "ccl_allreduce" not in common.available_workloads():
        with pytest.raises(NotImplementedError, match="ccl_allreduce"):
            bench.setup(cache, "ring")
        return
    for algorithm in bench.params:
        bench.setup(cache, algorithm)
        metrics = reported(common.allreduce_case(algorithm), tmp_path)
        assert bench.track_latency_ns(cache, algorithm) == metrics["latency_ns"]
        assert bench.track_bus_ns_per_byte(cache, algorithm) == 1.0 / metrics["busbw_gbs"]


def test_ops_rows_follow_the_ops_schema_and_the_seed():
    """ops_rows gives rows in the ops schema order, end after start, the same for one seed."""
    schema_columns = TABLES["ops"].names[1:]
    assert TABLES["ops"].names[0] == "run_id"
    rows = common.ops_rows(1000, seed=3)
    assert len(rows) == 1000 and all(len(row) == len(schema_columns) for row in rows)
    start, end = schema_columns.index("start_ns"), schema_columns.index("end_ns")
    engine = schema_columns.index("engine")
    assert all(row[end] > row[start] for row in rows)
    assert {row[engine] for row in rows} == {"DMA_IN", "GEMM", "MATH", "DMA_WB"}
    assert rows == common.ops_rows(1000, seed=3) != common.ops_rows(1000, seed=4)


def test_trace_writer_benchmark_publishes_every_row():
    """One TraceWriter pass publishes a run holding exactly the rows it appended."""
    bench = TraceWriter()
    bench.setup(5000)
    try:
        bench.time_append_ops(5000)
        count = open_connection(bench.store).sql("SELECT count(*) FROM ops").fetchall()[0][0]
        assert count == 5000
    finally:
        bench.teardown(5000)


def test_event_rates_are_positive_and_consistent():
    """simulator_ops_per_s and simpy_timeouts_per_s measure something, in one process."""
    assert common.simulator_ops_per_s(common.small_case("gemm"), repeats=1) > 0
    assert common.simpy_timeouts_per_s(n_timeouts=10_000, repeats=1) > 0


def asv(config: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run asv with its own HOME (the machine file lives there) from the venv's bin."""
    env = dict(os.environ, HOME=str(home))
    command = [str(Path(sys.executable).parent / "asv"), *args, "--config", str(config)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def asv_config(tmp_path: Path) -> tuple[Path, Path]:
    """(config, HOME) for running asv on this checkout with every output under tmp_path."""
    config = json.loads((ROOT / "asv.conf.json").read_text())
    config.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        env_dir=str(tmp_path / "env"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
    )
    config_path = tmp_path / "asv.conf.json"
    config_path.write_text(json.dumps(config))
    home = tmp_path / "home"
    home.mkdir()
    return config_path, home


@pytest.mark.slow
def test_asv_check_and_a_quick_run_pass(tmp_path):
    """`asv check` finds no problems and a quick run of a subset succeeds (results in tmp)."""
    config_path, home = asv_config(tmp_path)

    done = asv(config_path, home, "check", "--python=same")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout

    done = asv(config_path, home, "machine", "--yes", "--machine", "kernbench-test")
    assert done.returncode == 0, done.stdout + done.stderr
    subset = "SimulatedLaunch|SimulatedGemm|Gemm.time_run|TraceWriter.time_append_ops"
    done = asv(
        config_path,
        home,
        "run",
        "--python=same",
        "--quick",
        "--show-stderr",
        "--machine",
        "kernbench-test",
        "--bench",
        subset,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed" not in done.stdout
    assert "SimulatedGemm.track_ps_per_flop" in done.stdout


def test_track_values_are_costs_by_the_declared_direction(tmp_path):
    """Every simulated track_ value is its metric when the workload declares lower is
    better and the reciprocal when higher: a better result always tracks lower."""
    assert common.cost({"t_ns": (4.0, "lower")}, "t_ns") == 4.0
    assert common.cost({"bw": (4.0, "higher")}, "bw") == 0.25
    assert common.cost({"t_ns": (4.0, None)}, "t_ns") == 4.0  # a commit before `better`
    with pytest.raises(NotImplementedError, match="'bw'"):
        common.cost({"bw": (4.0, None)}, "bw")
    metrics = reported(common.small_case("gemm"), tmp_path)
    better = stored_better(tmp_path)
    assert better["tflops"] == "higher" and better["latency_ns"] == "lower"
    gemm = SimulatedGemm()
    cache = gemm.setup_cache()
    assert gemm.track_ps_per_flop(cache, "gemm") * metrics["tflops"] == pytest.approx(1.0)


def test_every_benchmark_case_is_in_the_benchmarks_suite():
    """The cases the benchmarks run are entries of traces/suites.yaml's `benchmarks` suite,
    the same list traces.suites reads; asking for any other case is an error."""
    from traces.suites import load_suite

    entries = load_suite("benchmarks")
    listed = [(e.workload, e.params, e.topology) for e in entries]
    assert list(common.suite_cases()) == listed
    used = [common.small_case(w) for w in common.SMALL_WORKLOADS] + [common.rate_case()]
    used += [common.launch_case(t, b) for t in SimulatedLaunch.params[0] for b in (True, False)]
    used += [common.allreduce_case(a) for a in common.ALLREDUCE_ALGORITHMS]
    assert all(case in listed for case in used)
    with pytest.raises(KeyError, match="not a case of suite 'benchmarks'"):
        common.bench_case("gemm", {"M": 7})


@pytest.mark.slow
def test_asv_runs_the_allreduce_scaling_tracks(tmp_path):
    """asv runs AllReduceScaling end to end (a quick run; results in tmp) and reports its
    three wall ratios."""
    config_path, home = asv_config(tmp_path)
    done = asv(config_path, home, "machine", "--yes", "--machine", "kernbench-test")
    assert done.returncode == 0, done.stdout + done.stderr
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    done = asv(config_path, home, "run", "--python=same", "--quick", "--set-commit-hash",
               commit, "--machine", "kernbench-test", "--bench", "AllReduceScaling")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed" not in done.stdout
    (results_file,) = (tmp_path / "results" / "kernbench-test").glob(f"{commit[:8]}-*.json")
    results = json.loads(results_file.read_text())["results"]
    for track in ("64mib_over_1kib", "coarse_16mib_over_1kib", "fine_1mib_over_1kib"):
        ((value,),) = results[f"bench_speed.AllReduceScaling.track_{track}_wall"][:1]
        assert value > 0


def test_coarse_error_track_is_the_percent_latency_gap_on_a_sampled_case(tmp_path):
    """CoarseModelError tracks |coarse / fine - 1| in % of each model's own latency_ns
    (taken from kernbench runs here), on a case where coarse really samples: its
    trace has a fraction of the fine run's rows."""
    from benchmarks.bench_speed import CoarseModelError, coarse_error_case

    bench = CoarseModelError()
    bench.params = ["bidir_ring"]  # the one case whose gap is not exactly zero today
    tracked = bench.track_latency_error_pct(bench.setup_cache(), "bidir_ring")
    latency, events = _fine_and_coarse(coarse_error_case, "bidir_ring", tmp_path)
    assert tracked == pytest.approx(
        100 * abs(latency["coarse"] - latency["fine"]) / latency["fine"]
    )
    assert 0 < tracked < 1
    assert events["coarse"] * 4 < events["fine"]


@pytest.mark.slow
def test_coarse_ring_cost_cases_sample_and_stay_within_one_percent(tmp_path):
    """CoarseRingCost's ring case on the coarse model really skips blocks (well under
    half the fine run's trace rows) and stays within 1 % of the fine latency_ns: the
    ratio it tracks is the price of a model that holds."""
    from benchmarks.bench_speed import coarse_ring_case

    latency, events = _fine_and_coarse(coarse_ring_case, "ring", tmp_path)
    assert latency["coarse"] == pytest.approx(latency["fine"], rel=0.01)
    assert events["coarse"] * 2 < events["fine"]


def _fine_and_coarse(case_of, algorithm: str, store) -> tuple[dict, dict]:
    """latency_ns and trace events of ``case_of(algorithm, model)`` on each model."""
    latency, events = {}, {}
    for model in ("fine", "coarse"):
        workload, params, topology = case_of(algorithm, model)
        out = run_workload(workload, params, topology=topology, trace=True, store=store)
        latency[model] = {m.name: m.value for m in out.metrics}["latency_ns"]
        events[model] = out.n_events
    return latency, events
