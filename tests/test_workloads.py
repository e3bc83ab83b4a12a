"""Workloads end to end: verified data, roofline, launch spread, DMA fits, CLI errors."""

import json
import math

import numpy as np
import pytest

from simulator.cli import main
from simulator.hw import graph as g
from simulator.hw.topology import load_topology
from simulator.runner import run_workload
from simulator.runtime.runtime import Runtime
from simulator.workloads.registry import WorkloadError, get_workload, list_workloads


def metrics_of(outcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.metrics}


def test_registry_lists_every_workload_with_documented_params():
    """Each workload has a docstring and every parameter a type, default and doc."""
    names = {w.name for w in list_workloads()}
    assert {"noop", "dma_sweep", "gemm_single_pe", "gemm", "gpt3_qkv"} <= names
    for w in list_workloads():
        assert w.doc
        for p in w.params:
            assert p.doc and isinstance(p.convert(str(p.default)), p.type)


def test_unknown_workload_and_parameter_list_valid_ones():
    """Bad names are errors that list what is valid."""
    with pytest.raises(WorkloadError, match="valid: .*gemm_single_pe"):
        get_workload("gemmm")
    with pytest.raises(WorkloadError, match="no parameter 'Q'; valid: M, N, K"):
        get_workload("gemm").resolve({"Q": "1"})
    with pytest.raises(WorkloadError, match="'x' is not an integer"):
        get_workload("gemm").resolve({"M": "x"})


def test_gemm_single_pe_verifies_against_numpy(capsys):
    """The CLI's --verify-data --json run of a 256^3 GEMM reports verified true."""
    code = main(
        ["run", "gemm_single_pe", "--set", "M=256", "--set", "N=256", "--set", "K=256",
         "--verify-data", "--json", "--no-trace"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["status"] == "ok" and out["verified"] is True
    assert {"run_id", "sim_end_ns", "wall_s", "metrics"} <= set(out)
    assert out["metrics"]["tflops"]["unit"] == "tflops"


def test_gemm_sharded_verifies_and_uses_every_pe():
    """The sharded GEMM checks out against numpy and runs on all 32 PEs."""
    outcome = run_workload("gemm", {"M": 256, "N": 128, "K": 128}, verify_data=True, trace=False)
    assert outcome.status == "ok" and outcome.verified is True
    assert metrics_of(outcome)["n_pes"] == 32


@pytest.mark.slow
def test_large_single_pe_gemm_sits_just_above_roofline():
    """A 1024^3 GEMM lands within 10% above max(2MNK/peak, bytes/bw), never below."""
    m = n = k = 1024
    bm = bn = bk = 128
    outcome = run_workload("gemm_single_pe", {"M": m, "N": n, "K": k}, trace=False)
    topo = load_topology("default")
    pe, cube = topo.params.pe, topo.params.cube
    peak_flops_per_ns = 2 * pe.gemm.rows * pe.gemm.cols * pe.clock_ghz
    # Bytes the tiled kernel must move: A once per column of tiles, B once per row of
    # tiles, C written once; all through the PE's own HBM <-> TCM path.
    moved = 2 * (m * k * math.ceil(n / bn) + k * n * math.ceil(m / bm) + m * n)
    bw_gbs = min(cube.hbm.bw_gbs, pe.tcm.bw_gbs)
    roofline_ns = max(2 * m * n * k / peak_flops_per_ns, moved / bw_gbs)
    kernel_ns = metrics_of(outcome)["kernel_ns"]
    assert kernel_ns >= roofline_ns
    assert kernel_ns <= 1.10 * roofline_ns
    assert bm == bn == bk == get_workload("gemm_single_pe").resolve({})["block_m"]


def test_noop_barrier_gives_zero_spread_on_128_pes():
    """With the barrier every one of 128 PEs starts at the same time."""
    outcome = run_workload("noop", {}, topology="sip4x4", trace=False)
    got = metrics_of(outcome)
    assert got["n_pes"] == 128
    assert got["spread_ns"] == 0.0


def test_noop_without_barrier_spread_is_the_dispatch_schedule():
    """Without the barrier the spread is max - min of the dispatch times of the launch
    message model (path latencies plus the fan-out schedule), computed from the YAML."""
    from test_engine_launch_path import expected_dispatch_ns

    topo = load_topology("sip4x4")
    expected = expected_dispatch_ns(topo, list(topo.pe_coords()))
    outcome = run_workload("noop", {"barrier": "false"}, topology=topo, trace=False)
    spread = metrics_of(outcome)["spread_ns"]
    assert spread > 0
    assert spread == pytest.approx(max(expected) - min(expected), abs=1e-9)


def test_dma_sweep_fits_topology_alpha_and_bandwidth():
    """latency = alpha + n/B fits, with alpha and B from the topology's own-HBM path."""
    outcome = run_workload("dma_sweep", {"paths": "own_hbm,other_cube_hbm"}, trace=False)
    got = metrics_of(outcome)
    topo = load_topology("default")
    graph = g.build_graph(topo)
    p = topo.params
    first, last = topo.pe_coord(0), topo.pe_coords()[-1]
    last_cube_pe0 = topo.coord(last.sip, last.cube, 0)
    for path, src in (("own_hbm", first), ("other_cube_hbm", last_cube_pe0)):
        route = graph.route(g.pe_hbm(src), g.pe_tcm(first))
        alpha = p.pe.dma_overhead_ns + p.cube.hbm.latency_ns + route.latency_ns
        assert got[f"dma.{path}.alpha_ns"] == pytest.approx(alpha, rel=1e-6)
        assert got[f"dma.{path}.bw_gbs"] == pytest.approx(route.bottleneck_bw_gbs, rel=1e-6)
    assert got["dma.other_cube_hbm.alpha_ns"] > got["dma.own_hbm.alpha_ns"]


def test_simulated_time_identical_with_and_without_data(new_list_writer):
    """verify_data changes nothing in simulated time: every op row is identical."""
    rows = []
    for verify in (False, True):
        writer = new_list_writer()
        rt = Runtime("default", verify_data=verify, writer=writer)
        result = get_workload("gemm").body(rt, get_workload("gemm").resolve({"M": 256}))
        assert result.verified is (True if verify else None)
        rows.append((writer.rows["ops"], writer.rows["dma"], rt.now_ns))
    assert rows[0] == rows[1]


def test_same_run_twice_is_identical(new_list_writer):
    """Determinism: two runs of a GEMM and of an all-reduce give identical trace rows."""
    for name, params in (("gemm", {"M": 256}), ("ccl_allreduce", {"world_size": 16})):
        traces = []
        for _ in range(2):
            writer = new_list_writer()
            rt = Runtime("default", writer=writer)
            workload = get_workload(name)
            workload.body(rt, workload.resolve(params))
            rt.synchronize()
            traces.append({table: rows for table, rows in writer.rows.items()})
        assert traces[0] == traces[1]
        assert traces[0]["ops"] and traces[0]["dma"] and traces[0]["launches"]


def test_cli_bad_input_is_one_line(capsys):
    """Unknown workloads and topologies end in one 'kernbench: error:' line, exit 2."""
    assert main(["run", "nope", "--no-trace"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kernbench: error: unknown workload 'nope'")
    assert err.count("\n") == 1
    assert main(["run", "noop", "--topology", "missing_topo", "--no-trace"]) == 2
    assert "missing_topo" in capsys.readouterr().err


def test_failed_run_is_recorded_not_raised():
    """A workload that fails inside the simulation returns a failed outcome with the error."""
    outcome = run_workload(
        "gemm_single_pe",
        {"M": 4096, "N": 4096, "K": 8, "block_m": 1024, "block_n": 1024, "block_k": 8},
        trace=False,
    )
    assert outcome.status == "failed"
    assert "TCM overflow" in outcome.error and "requested" in outcome.error


def test_gpt3_qkv_small_variant_verifies():
    """The QKV projection's column sharding is right: a scaled-down version verifies."""
    outcome = run_workload(
        "gpt3_qkv",
        {"tokens": 64, "hidden": 128, "block_m": 64, "block_n": 64, "block_k": 64},
        topology="default",
        verify_data=True,
        trace=False,
    )
    assert outcome.status == "ok" and outcome.verified is True
    assert np.isclose(metrics_of(outcome)["n_pes"], 32)


def test_gpt3_qkv_tensor_parallel_mode_verifies_and_is_traced(tmp_path):
    """Column-parallel QKV over 4 ranks: each rank's slice equals numpy; launches and the
    start barrier are in the trace."""
    from traces.queries import launch_spread

    outcome = run_workload(
        "gpt3_qkv",
        {"tp": 4, "tokens": 64, "hidden": 128, "block_m": 64, "block_n": 64, "block_k": 64},
        topology="default",
        verify_data=True,
        store=tmp_path,
    )
    assert outcome.status == "ok" and outcome.verified is True
    kernels = launch_spread(tmp_path, outcome.run_id).column("kernel").to_pylist()
    assert kernels.count("column_parallel_linear") == 4
    assert "barrier" in kernels


def test_failed_run_lands_in_the_store_beside_good_ones(tmp_path):
    """A run that fails mid-simulation is stored as failed with its error; others stay."""
    from traces.queries import runs_table

    good = run_workload("noop", {}, store=tmp_path)
    too_big = {"M": 4096, "N": 4096, "K": 8, "block_m": 1024, "block_n": 1024, "block_k": 8}
    bad = run_workload("gemm_single_pe", too_big, store=tmp_path)
    rows = {r["run_id"]: r for r in runs_table(tmp_path).to_pylist()}
    assert rows[good.run_id]["status"] == "ok"
    assert rows[bad.run_id]["status"] == "failed"
    assert "TCM overflow" in rows[bad.run_id]["error"]
    assert main(["report", bad.run_id, "--store", str(tmp_path)]) == 0


def test_parameters_below_their_minimum_are_rejected_by_name():
    """Sizes that cannot work (zero tiles, no launches, one rank) name the parameter."""
    for workload, key, value in (("gemm_single_pe", "block_m", "0"), ("noop", "launches", "0"),
                                 ("ccl_allreduce", "world_size", "1")):  # fmt: skip
        with pytest.raises(WorkloadError, match=f"parameter {key}: {value} is below"):
            get_workload(workload).resolve({key: value})
