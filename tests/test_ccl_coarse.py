"""The coarse collective model against the fine one: latency, rounds, data and cost."""

from __future__ import annotations

import pytest

from simulator.ccl.registry import CclError, algorithm_names, get_algorithm
from simulator.runner import run_workload
from traces.views import open_connection

ALGORITHMS = algorithm_names()
KIB = 1024
MIB = 1024 * KIB
# How far the coarse latency may be from the fine one (relative). The goal is 0.01; the
# coarse model leaves out the fine schedule's backpressure and per-sub-chunk bubbles, and
# what it reaches today is this bound (README: "Collective models").
TOLERANCE = 0.20


def run(algorithm, world, nbytes, model, topology="default", store=None, verify=False, **sets):
    """One ccl_allreduce run; returns its outcome (asserting it succeeded)."""
    out = run_workload(
        "ccl_allreduce",
        {"algorithm": algorithm, "world_size": world, "bytes": nbytes,
         "collective_model": model, **sets},
        topology=topology,
        verify_data=verify,
        store=store,
        trace=store is not None,
    )  # fmt: skip
    assert out.status == "ok", out.error
    return out


def latency(out) -> float:
    return {m.name: m.value for m in out.metrics}["latency_ns"]


def test_every_algorithm_has_a_coarse_kernel():
    """ccl.yaml names a coarse kernel for every all-reduce algorithm, and asking for an
    unknown model is one clear error naming the valid ones."""
    for name in ALGORITHMS:
        assert callable(get_algorithm(name).kernel("coarse"))
    with pytest.raises(CclError, match="fine, coarse"):
        get_algorithm("ring").kernel("medium")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_one_subchunk_per_round_is_the_fine_model_exactly(algorithm):
    """With at most one sub-chunk per message the two models are the same model."""
    fine = latency(run(algorithm, 8, 4 * KIB, "fine"))
    assert latency(run(algorithm, 8, 4 * KIB, "coarse")) == fine


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("world", [8, 32])
def test_coarse_data_is_exact(algorithm, world):
    """--verify-data on the coarse model: every rank gets numpy's sum, several sub-chunks
    per round and a ragged tail (sizes not multiples of the ranks or the sub-chunk)."""
    out = run(algorithm, world, 3 * MIB + 4 * 37, "coarse", verify=True)
    assert out.verified is True


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("nbytes", [512 * KIB, 2 * MIB])
def test_coarse_latency_near_fine_on_default(algorithm, nbytes):
    """latency_ns of the coarse model within TOLERANCE of the fine one (8 ranks)."""
    fine = latency(run(algorithm, 8, nbytes, "fine"))
    coarse = latency(run(algorithm, 8, nbytes, "coarse"))
    assert coarse == pytest.approx(fine, rel=TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algorithm", "world", "topology", "nbytes", "sets"),
    [
        ("ring", 32, "default", 16 * MIB, {}),
        ("bidir_ring", 32, "default", 4 * MIB, {}),
        ("hierarchical", 32, "default", 16 * MIB, {}),
        ("hierarchical_rsag", 32, "default", 16 * MIB, {}),
        ("hierarchical", 128, "multi_sip", 4 * MIB, {}),
        ("ring", 32, "default", 4 * MIB, {"sip.mesh_link.bw_gbs": 8.0}),
        ("hierarchical", 32, "default", 4 * MIB, {"sip.mesh_link.bw_gbs": 8.0}),
    ],
)
def test_coarse_latency_near_fine_large(algorithm, world, topology, nbytes, sets):
    """The same bound at 4-16 MiB over 32 ranks, at 128 ranks on multi_sip, and with
    mesh links at 8 GB/s (the slowest link of the rings and chains)."""
    fine = latency(run(algorithm, world, nbytes, "fine", topology, **sets))
    coarse = latency(run(algorithm, world, nbytes, "coarse", topology, **sets))
    assert coarse == pytest.approx(fine, rel=TOLERANCE)


def rounds_and_dmas(store, out):
    """(collective_rounds rows without times, bytes sent by tl.send, dma rows) of the
    run ``out`` in ``store``."""
    con = open_connection(store)
    run_id = out.run_id
    rows = con.sql(
        "SELECT rank, round, phase, level, peer, bytes, start_ns <= end_ns FROM "
        "collective_rounds WHERE run_id = ? ORDER BY rank, round",
        params=[run_id],
    ).fetchall()
    sent, n_dma = con.sql(
        "SELECT sum(bytes) FILTER (kind = 'send'), count(*) FROM dma WHERE run_id = ?",
        params=[run_id],
    ).fetchall()[0]
    return rows, sent, n_dma


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_coarse_rounds_are_the_fine_rounds(tmp_path, algorithm):
    """Every round of every rank has its collective_rounds row in the coarse model, with
    the fine model's phase, level, peer and bytes, and start <= end; the bytes sent over
    the network are the fine model's."""
    store = tmp_path / "store"
    # 8 MiB over 16 ranks: 8 sub-chunks per ring round (more than the DMA queue holds,
    # so the coarse kernel runs).
    fine = run(algorithm, 16, 8 * MIB, "fine", store=store)
    coarse = run(algorithm, 16, 8 * MIB, "coarse", store=store)
    fine_rows, fine_sent, fine_dma = rounds_and_dmas(store, fine)
    coarse_rows, coarse_sent, coarse_dma = rounds_and_dmas(store, coarse)
    assert coarse_rows == fine_rows
    assert all(row[-1] for row in coarse_rows)
    assert coarse_sent == fine_sent
    assert coarse_dma < fine_dma


def test_coarse_cost_does_not_grow_with_bytes(tmp_path):
    """The coarse model moves a round as one flow: 16x the bytes, the same DMA rows."""
    store = tmp_path / "store"
    _, _, small = rounds_and_dmas(store, run("hierarchical", 32, MIB, "coarse", store=store))
    _, _, large = rounds_and_dmas(store, run("hierarchical", 32, 16 * MIB, "coarse", store=store))
    assert large == small
