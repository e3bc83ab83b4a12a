"""The physics bound on every run: ``bound_ns`` from the YAML alone, ``efficiency <= 1``,
and a run that beats physics recorded as failed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.hw.topology import load_topology, topology_from_dict
from simulator.runner import run_workload
from simulator.workloads import bounds
from simulator.workloads.registry import list_workloads

# Small sizes of every workload (each runs in well under a second on `default`).
SMALL = {
    "attention": {"heads": 1, "n_ctx": 128},
    "axpy": {"elements": 16384},
    "ccl_allreduce": {"world_size": 4, "bytes": 16384},
    "dma_sweep": {"sizes": "1024,65536"},
    "dropout": {"n": 4096},
    "gemm": {"M": 256, "N": 128, "K": 128},
    "gemm_single_pe": {"M": 128, "N": 128, "K": 256},
    "gpt3_qkv": {"tokens": 128, "hidden": 128, "num_pes": 4},
    "grouped_gemm": {"groups": 3, "M": 64, "N": 64, "K": 64, "ragged": True},
    "layernorm": {"M": 32, "N": 256},
    "layernorm_backward": {"M": 32, "N": 128, "group_size_m": 4},
    "matmul": {"M": 128, "N": 128, "K": 128},
    "matmul_splitk": {"M": 64, "N": 64, "K": 256},
    "moe": {"tokens": 16, "hidden": 64, "ffn": 64, "experts": 4},
    "softmax": {"rows": 32, "cols": 128},
    "vector_add": {"n": 8192},
    "noop": {"launches": 2},
    "tp_mlp": {"tokens": 64, "hidden": 128, "ffn": 256, "tp": 2},
}


def metrics_of(outcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.metrics}


def test_every_workload_has_a_small_case():
    assert sorted(SMALL) == sorted(w.name for w in list_workloads())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_workload_records_bound_and_efficiency_at_most_one(name):
    outcome = run_workload(name, SMALL[name], topology="default", trace=False)
    assert outcome.status == "ok", outcome.error
    values = metrics_of(outcome)
    assert values["bound_ns"] > 0
    assert 0 < values["efficiency"] <= 1 + bounds.EFFICIENCY_TOLERANCE


def test_axpy_runs_just_above_bytes_over_hbm_bandwidth():
    """3 x 2 bytes per element through one HBM slice: kernel time in [1.00, 1.15] x
    bytes / hbm.bw_gbs (reads and writes share the slice)."""
    topo = load_topology("default")
    elements = 1 << 20
    outcome = run_workload("axpy", {"elements": elements}, topology=topo, trace=False)
    floor_ns = 3 * 2 * elements / topo.params.cube.hbm.bw_gbs
    ratio = metrics_of(outcome)["kernel_ns"] / floor_ns
    assert 1.0 <= ratio <= 1.15


def test_noop_bound_is_the_launch_path_from_the_yaml():
    """default: host link 500, two IO-port hops 2+10 / 2+50, IO link 20+5, one mesh hop
    10+5 (row 1), M_CPU link 2+20, back to the NoC 2+5, PE link 2+10."""
    params = load_topology("default").params
    by_hand = 500 + (2 + 10) + (2 + 50) + (2 + 10) + (20 + 5) + (10 + 5) + (2 + 20)
    by_hand += (2 + 5) + (2 + 10)
    assert bounds.launch_path_ns(params, 1) == by_hand
    outcome = run_workload("noop", {}, topology="default", trace=False)
    assert metrics_of(outcome)["bound_ns"] == by_hand


def test_a_run_that_beats_physics_is_recorded_as_failed(monkeypatch, tmp_path):
    """A bound above the simulated time (a planted modelling bug) fails the run with a
    message naming both numbers; nothing is reported as a result."""
    monkeypatch.setattr(bounds, "launch_bound_ns", lambda params, rows: 1e9)
    outcome = run_workload("noop", {}, topology="default", store=tmp_path)
    assert outcome.status == "failed"
    assert "beat physics" in outcome.error and "1000000000.0" in outcome.error


@st.composite
def random_topologies(draw) -> object:
    """`default` with bandwidths, latencies and mesh sizes drawn within the schema."""
    data = load_topology("default").to_dict()
    data["name"] = "random"
    bw = st.sampled_from([8.0, 25.0, 64.0, 128.0, 512.0])
    lat = st.sampled_from([0.0, 2.0, 20.0, 200.0])
    data["sip"]["cube_rows"] = draw(st.integers(1, 2))
    data["sip"]["cube_cols"] = draw(st.integers(1, 2))
    data["cube"]["pes"] = draw(st.sampled_from([2, 4]))
    data["cube"]["hbm"]["bw_gbs"] = draw(bw)
    data["cube"]["sram"]["bw_gbs"] = draw(bw)
    data["pe"]["tcm"]["bw_gbs"] = draw(bw)
    for section, key in (
        ("cube", "pe_link"),
        ("sip", "mesh_link"),
        ("sip", "io_link"),
        ("system", "host_link"),
    ):
        data[section][key] = {"latency_ns": draw(lat), "bw_gbs": draw(bw)}
    data["cube"]["hbm"]["latency_ns"] = draw(lat)
    data["pe"]["dma_overhead_ns"] = draw(lat)
    data["sip"]["io_cpu_overhead_ns"] = draw(lat)
    data["cube"]["m_cpu_overhead_ns"] = draw(lat)
    return topology_from_dict(data)


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topo=random_topologies(), name=st.sampled_from(sorted(SMALL)))
def test_property_efficiency_never_exceeds_one(topo, name):
    """Random topologies and every workload at small sizes: the simulator never beats
    its physics bound."""
    params = dict(SMALL[name])
    if name == "ccl_allreduce":
        params["world_size"] = min(4, topo.num_pes)
    if name == "gpt3_qkv":
        params["num_pes"] = min(4, topo.num_pes)
    if name == "tp_mlp":
        params["tp"] = min(2, topo.num_pes)
    outcome = run_workload(name, params, topology=topo, trace=False)
    assert outcome.status == "ok", outcome.error
    assert metrics_of(outcome)["efficiency"] <= 1 + bounds.EFFICIENCY_TOLERANCE


def test_dma_sweep_bound_on_one_cube_is_the_own_hbm_path():
    """With one cube the 'other cube' HBM is the initiator's own: its bound must not
    count the PE link, which that transfer never crosses (found by the property test)."""
    topo = load_topology(
        "default",
        overrides={"sip.cube_rows": 1, "sip.cube_cols": 1, "cube.pe_link.bw_gbs": 8.0},
    )
    params = {"sizes": "65536", "paths": "other_cube_hbm"}
    outcome = run_workload("dma_sweep", params, topology=topo, trace=False)
    assert outcome.status == "ok", outcome.error
    assert metrics_of(outcome)["efficiency"] <= 1.0
