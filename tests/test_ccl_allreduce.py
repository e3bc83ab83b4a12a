"""All-reduce results, trace rows and bad input, for every registered algorithm."""

import numpy as np
import pytest

from simulator.ccl.registry import CclError, algorithm_names
from simulator.runner import run_workload
from simulator.runtime.collectives import all_reduce
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

ALGORITHMS = algorithm_names()


def rank_tensors(rt, world, n, dtype="float32", seed=0):
    """One tensor per rank on its own PE, holding small integers (sums stay exact)."""
    rng = np.random.default_rng(seed)
    values = [rng.integers(-4, 5, n).astype(dtype) for _ in range(world)]
    tensors = [
        rt.from_numpy(v, placement=Placement.single(pe))
        for v, pe in zip(values, rt.device_pes[:world], strict=False)
    ]
    return values, tensors


def test_registry_lists_the_three_algorithms():
    """ring, bidir_ring and hierarchical are registered under those names."""
    assert set(ALGORITHMS) >= {"ring", "bidir_ring", "hierarchical", "hierarchical_rsag"}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("world", [8, 16, 32])
def test_verify_data_every_rank_gets_the_numpy_sum(algorithm, world):
    """`run ccl_allreduce --verify-data` on default: every rank equals numpy's sum."""
    out = run_workload(
        "ccl_allreduce",
        {"algorithm": algorithm, "world_size": world, "bytes": 40_000},
        verify_data=True,
        trace=False,
    )
    assert out.status == "ok", out.error
    assert out.verified is True


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("topology", ["sip4x4", "multi_sip"])
@pytest.mark.parametrize("world", [64, 128])
def test_verify_data_at_64_and_128_ranks(algorithm, topology, world):
    """The same check on the 128-PE topologies."""
    out = run_workload(
        "ccl_allreduce",
        {"algorithm": algorithm, "world_size": world, "bytes": 24_000, "dtype": "float16"},
        topology=topology,
        verify_data=True,
        trace=False,
    )
    assert out.status == "ok", out.error
    assert out.verified is True


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("op,fn", [("max", np.max), ("min", np.min), ("product", np.prod)])
def test_other_reduce_ops(algorithm, op, fn):
    """max, min and product reduce element-wise like numpy."""
    rt = Runtime("default", verify_data=True)
    values, tensors = rank_tensors(rt, 8, 1000)
    values = [np.clip(v, -1, 2) for v in values]  # keep products small and exact
    for t, v in zip(tensors, values, strict=True):
        t.copy_(v)
    all_reduce(rt, tensors, algorithm=algorithm, op=op)
    rt.synchronize()
    expected = fn(np.array(values), axis=0)
    for t in tensors:
        np.testing.assert_array_equal(t.numpy(), expected)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tiny_buffers_with_fewer_elements_than_ranks(algorithm):
    """Chunks of zero elements are fine: 5 elements over 16 ranks."""
    rt = Runtime("default", verify_data=True)
    values, tensors = rank_tensors(rt, 16, 5)
    all_reduce(rt, tensors, algorithm=algorithm)
    rt.synchronize()
    for t in tensors:
        np.testing.assert_array_equal(t.numpy(), np.sum(values, axis=0))


def test_two_dimensional_tensors_are_reduced_whole():
    """A 2-D rank tensor is reduced element-wise over its whole shape."""
    rt = Runtime("default", verify_data=True)
    values = [np.full((3, 5), r, np.float32) for r in range(8)]
    tensors = [rt.from_numpy(v, placement=Placement.single(r)) for r, v in enumerate(values)]
    all_reduce(rt, tensors, algorithm="hierarchical_rsag")
    rt.synchronize()
    np.testing.assert_array_equal(tensors[5].numpy(), np.full((3, 5), 28, np.float32))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_simulated_time_is_identical_with_and_without_data(algorithm):
    """Data mode changes nothing about timing."""
    times = []
    for verify in (False, True):
        rt = Runtime("default", verify_data=verify)
        tensors = [rt.empty((30_000,), "float32", Placement.single(pe)) for pe in range(16)]
        coll = all_reduce(rt, tensors, algorithm=algorithm)
        rt.synchronize()
        times.append((coll.start_ns, coll.end_ns))
    assert times[0] == times[1]


def test_trace_rows_of_a_ring_all_reduce(list_writer):
    """One collectives row, 2(p-1) rounds rows per rank, sends tagged with coll_id/round."""
    p, n = 4, 8000
    rt = Runtime("default", writer=list_writer)
    tensors = [rt.empty((n,), "float32", Placement.single(pe)) for pe in range(p)]
    coll = all_reduce(rt, tensors, algorithm="ring")
    rt.synchronize()
    (row,) = list_writer.rows["collectives"]
    assert row == {
        "coll_id": coll.coll_id,
        "op": "all_reduce",
        "algorithm": "ring",
        "world_size": p,
        "bytes": n * 4,
        "dtype": "float32",
        "start_ns": coll.start_ns,
        "end_ns": coll.end_ns,
    }
    rounds = list_writer.rows["collective_rounds"]
    assert sorted((r["rank"], r["round"]) for r in rounds) == [
        (rank, rnd) for rank in range(p) for rnd in range(2 * (p - 1))
    ]
    for r in rounds:
        assert r["phase"] == ("reduce_scatter" if r["round"] < p - 1 else "all_gather")
        assert r["level"] == "intra_cube"
        assert r["peer"] == (r["rank"] + 1) % p
        assert r["bytes"] == n * 4 // p
        assert coll.start_ns <= r["start_ns"] < r["end_ns"] <= coll.end_ns
    sends = [d for d in list_writer.rows["dma"] if d["kind"] == "send"]
    assert {d["coll_id"] for d in sends} == {coll.coll_id}
    assert sum(d["bytes"] for d in sends) == p * 2 * (p - 1) * n * 4 // p
    (launch,) = list_writer.rows["launches"]
    assert launch["coll_id"] == coll.coll_id and launch["kernel"] == "all_reduce.ring"


def test_hierarchical_rounds_name_their_levels(list_writer):
    """On multi_sip every level appears, each with both phases except the top."""
    rt = Runtime("multi_sip", writer=list_writer)
    tensors = [rt.empty((4096,), "float32", Placement.single(pe)) for pe in range(128)]
    all_reduce(rt, tensors, algorithm="hierarchical_rsag")
    rt.synchronize()
    seen = {(r["level"], r["phase"]) for r in list_writer.rows["collective_rounds"]}
    assert seen == {
        (lvl, ph)
        for lvl in ("intra_cube", "inter_cube", "inter_sip")
        for ph in ("reduce_scatter", "all_gather")
    }


def test_unknown_algorithm_lists_the_valid_ones():
    """A bad name is a CclError naming every registered algorithm."""
    rt = Runtime("default")
    tensors = [rt.empty((8,), "float32", Placement.single(pe)) for pe in range(2)]
    with pytest.raises(
        CclError,
        match="unknown all_reduce algorithm 'tree'; valid: ring, bidir_ring, hierarchical, "
        "hierarchical_rsag",
    ):
        all_reduce(rt, tensors, algorithm="tree")


def test_hierarchical_needs_evenly_filled_cubes():
    """Ranks spread 8 + 3 over two cubes cannot form equal levels."""
    rt = Runtime("default")
    tensors = [rt.empty((8,), "float32", Placement.single(pe)) for pe in range(11)]
    with pytest.raises(CclError, match=r"ranks per cube: sip0\.cube0: 8, sip0\.cube1: 3"):
        all_reduce(rt, tensors, algorithm="hierarchical_rsag")


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda rt: [rt.empty((64,), "float32"), rt.empty((64,), "float32")], "has 32 shards"),
        (
            lambda rt: [
                rt.empty((8,), "float32", Placement.single(0)),
                rt.empty((9,), "float32", Placement.single(1)),
            ],
            r"rank 1's tensor 't1' is \(9,\) float32 but rank 0's is \(8,\) float32",
        ),
    ],
)
def test_bad_rank_tensors_are_named(make, match):
    """Rank tensors must each sit on one PE and agree in shape and dtype."""
    rt = Runtime("default")
    with pytest.raises(CclError, match=match):
        all_reduce(rt, make(rt))


def test_unknown_reduce_op_lists_the_valid_ones():
    """Only sum, product, max and min exist."""
    rt = Runtime("default")
    tensors = [rt.empty((8,), "float32", Placement.single(pe)) for pe in range(2)]
    with pytest.raises(CclError, match="valid: sum, product, max, min"):
        all_reduce(rt, tensors, op="avg")


def test_workload_metrics_follow_nccl_tests_definitions():
    """algbw = bytes / latency and busbw = algbw * 2(p-1)/p."""
    out = run_workload("ccl_allreduce", {"world_size": 8, "bytes": 1 << 20}, trace=False)
    m = {x.name: x.value for x in out.metrics}
    assert m["algbw_gbs"] == pytest.approx((1 << 20) / m["latency_ns"])
    assert m["busbw_gbs"] == pytest.approx(m["algbw_gbs"] * 2 * 7 / 8)


def test_workload_says_which_topologies_are_big_enough():
    """128 ranks on default (32 PEs) fails, naming sip4x4 and multi_sip."""
    out = run_workload("ccl_allreduce", {"world_size": 128}, trace=False)
    assert out.status == "failed"
    assert "world_size 128 needs 128 PEs but topology 'default' has 32" in out.error
    assert "multi_sip" in out.error and "sip4x4" in out.error


# ccl.yaml: 64 KiB sub-chunks, 4 inbox slots -> 2 sub-chunks per round: a pipeline block
# of a chunk is 128 KiB. 4 ranks x 2.5 blocks per chunk, plus 3 elements so that the
# chunks differ in length: every chunk spans several blocks and ends in a partial one.
_BLOCK_BYTES = 2 * 64 * 1024
_SEVERAL_BLOCKS_BYTES = 4 * (_BLOCK_BYTES * 5 // 2) + 3 * 4


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_chunks_of_several_blocks_with_a_tail_are_reduced_whole(algorithm):
    """Each rank's chunk spans 2.5 pipeline blocks: the partial last block is reduced and
    gathered too (every rank equals numpy's sum, checked element by element)."""
    out = run_workload(
        "ccl_allreduce",
        {"algorithm": algorithm, "world_size": 4, "bytes": _SEVERAL_BLOCKS_BYTES},
        verify_data=True,
        trace=False,
    )
    assert out.status == "ok", out.error
    assert out.verified is True
