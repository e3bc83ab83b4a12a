"""Tensor-parallel layers: Megatron's split rules, checked against numpy on every rank."""

import numpy as np
import pytest

from simulator.cli import main
from simulator.runner import run_workload
from simulator.runtime import dist
from simulator.runtime.multiprocessing import SpawnError, spawn
from simulator.runtime.runtime import Runtime
from simulator.runtime.tp import parallel_state as ps
from simulator.runtime.tp.layers import ColumnParallelLinear, ParallelMLP, RowParallelLinear

SMALL = {"block_m": 64, "block_n": 64, "block_k": 64}


def run_ranks(tp: int, body, topology: str = "default"):
    """Run ``body(rank, rt, x_host) -> result`` on tp ranks; returns (results, x_host)."""
    rt = Runtime(topology, verify_data=True)
    results: dict[int, object] = {}
    x_host = (np.random.default_rng(7).standard_normal((64, 128)) * 0.5).astype(np.float16)

    def rank_main(rank, runtime):
        dist.init_process_group()
        ps.initialize_model_parallel(tensor_model_parallel_size=tp)
        x = runtime.from_numpy(x_host, dist.get_placement(), name=f"x{rank}")
        results[rank] = body(rank, runtime, x)

    spawn(rank_main, args=(rt,), nprocs=tp)
    return results, x_host


def gelu(v):
    return 0.5 * v * (1.0 + np.tanh(0.7978845608028654 * (v + 0.044715 * v**3)))


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_mlp_matches_numpy_on_every_rank(tp):
    """Column -> GeLU -> Row equals the numpy MLP with the same weights; ranks agree."""
    layers = {}

    def body(rank, rt, x):
        mlp = ParallelMLP(128, 256, runtime=rt, seed=3, blocks=SMALL)
        layers[rank] = mlp
        return mlp(x).numpy()

    outs, x = run_ranks(tp, body)
    fc1, fc2 = layers[0].dense_h_to_4h, layers[0].dense_4h_to_h
    f32 = np.float32
    h = gelu(x.astype(f32) @ fc1.master_weight().astype(f32) + fc1.master_bias().astype(f32))
    expected = h.astype(np.float16).astype(f32) @ fc2.master_weight().astype(f32)
    expected += fc2.master_bias().astype(f32)
    for rank in range(tp):
        np.testing.assert_array_equal(outs[rank], outs[0])  # the all-reduce agrees exactly
    np.testing.assert_allclose(outs[0].astype(f32), expected, rtol=2e-2, atol=2e-2)


def test_row_parallel_equals_concatenated_full_matmul():
    """RowParallel over 4 ranks (input split inside) equals x @ W_full + b."""
    layers = {}

    def body(rank, rt, x):
        layer = RowParallelLinear(128, 96, input_is_parallel=False, runtime=rt, seed=11,
                                  blocks=SMALL)  # fmt: skip
        layers[rank] = layer
        assert layer.weight.shape == (32, 96)  # this rank's rows only
        return layer(x).numpy()

    outs, x = run_ranks(4, body)
    w, b = layers[0].master_weight(), layers[0].master_bias()
    expected = x.astype(np.float32) @ w.astype(np.float32) + b.astype(np.float32)
    for rank in range(4):
        np.testing.assert_array_equal(outs[rank], outs[0])
        np.testing.assert_allclose(outs[rank].astype(np.float32), expected, rtol=2e-2, atol=2e-2)


def test_column_parallel_slices_and_gathers():
    """Each rank computes its column slice; gather_output gives every rank the whole."""
    layers = {}

    def body(rank, rt, x):
        sliced = ColumnParallelLinear(128, 128, runtime=rt, seed=5, blocks=SMALL)
        gathered = ColumnParallelLinear(128, 128, gather_output=True, runtime=rt, seed=5,
                                        blocks=SMALL)  # fmt: skip
        layers[rank] = sliced
        return sliced(x).numpy(), gathered(x).numpy()

    outs, x = run_ranks(2, body)
    w, b = layers[0].master_weight(), layers[0].master_bias()
    full = x.astype(np.float32) @ w.astype(np.float32) + b.astype(np.float32)
    for rank in range(2):
        part, whole = outs[rank]
        assert part.shape == (64, 64)
        np.testing.assert_allclose(part, full[:, rank * 64 : (rank + 1) * 64], rtol=2e-2,
                                   atol=2e-2)  # fmt: skip
        np.testing.assert_allclose(whole, full, rtol=2e-2, atol=2e-2)


def test_parallel_state_errors_are_clear():
    """Using parallel_state before initialisation, or outside spawn, says what to do."""
    with pytest.raises(ps.ParallelStateError, match="spawn"):
        ps.get_tensor_model_parallel_rank()
    rt = Runtime("default")

    def too_early(rank, runtime):
        dist.init_process_group()
        ps.get_tensor_model_parallel_world_size()

    with pytest.raises(SpawnError, match="initialize_model_parallel"):
        spawn(too_early, args=(rt,), nprocs=2)

    def wrong_size(rank, runtime):
        dist.init_process_group()
        ps.initialize_model_parallel(tensor_model_parallel_size=2)

    with pytest.raises(SpawnError, match="tensor_model_parallel_size=2 but the world has 4"):
        spawn(wrong_size, args=(Runtime("default"),), nprocs=4)


def test_parallel_state_reports_rank_and_size():
    """Inside spawned ranks the TP rank and size follow the spawn."""
    seen = {}

    def body(rank, rt):
        dist.init_process_group()
        ps.initialize_model_parallel(tensor_model_parallel_size=4)
        seen[rank] = (ps.get_tensor_model_parallel_rank(),
                      ps.get_tensor_model_parallel_world_size(),
                      ps.get_tensor_model_parallel_group().ranks)  # fmt: skip
        ps.destroy_model_parallel()
        assert not ps.model_parallel_is_initialized()

    spawn(body, args=(Runtime("default"),), nprocs=4)
    assert seen == {r: (r, 4, (0, 1, 2, 3)) for r in range(4)}


def test_tp_mlp_scales_and_report_shows_exposed_communication(tmp_path, capsys):
    """tp_mlp verifies, gets faster with more ranks, and its report shows comm per PE."""
    params = {"tokens": 128, "hidden": 256, "ffn": 1024}
    latencies = []
    for tp in (2, 4):
        outcome = run_workload("tp_mlp", dict(params, tp=tp), verify_data=True, store=tmp_path)
        assert outcome.status == "ok" and outcome.verified is True
        latencies.append({m.name: m.value for m in outcome.metrics}["latency_ns"])
    assert latencies[1] < latencies[0]
    assert main(["report", "latest", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "compute vs communication per PE" in out and "exposed_share" in out
