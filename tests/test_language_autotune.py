"""``@triton.autotune`` and ``@triton.heuristics`` on the simulated device: the tuner keeps
the config that independent runs of each config find fastest, tunes once per key, and
keeps results exact with ``reset_to_zero`` and ``restore_value``."""

from __future__ import annotations

import numpy as np
import pytest

import simulator.language as tl
import simulator.triton as triton
from simulator.runner import run_workload
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime
from simulator.workloads.matmul_splitk import matmul_splitk_kernel
from traces.views import open_connection

SPLITK_CONFIGS = [
    triton.Config({"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "SPLIT_K": 1}),
    triton.Config(
        {"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "SPLIT_K": 4}, num_warps=8
    ),  # fmt: skip
    triton.Config({"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 64, "SPLIT_K": 2}),
]


def splitk_grid(m: int, n: int):
    return lambda meta: (
        triton.cdiv(m, meta["BLOCK_SIZE_M"]) * triton.cdiv(n, meta["BLOCK_SIZE_N"]),
        meta["SPLIT_K"],
    )


def launch_splitk(rt: Runtime, kernel, m: int, n: int, k: int, seed: int = 0, **meta):
    rng = np.random.default_rng(seed)
    a_np = rng.standard_normal((m, k)).astype(np.float16)
    b_np = rng.standard_normal((k, n)).astype(np.float16)
    a, b = rt.from_numpy(a_np), rt.from_numpy(b_np)
    c = rt.zeros((m, n), "float32", Placement.single(0))
    launch = kernel[splitk_grid(m, n)](a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0),
                                       b.stride(1), c.stride(0), c.stride(1), **meta)  # fmt: skip
    rt.synchronize()
    return launch, c, a_np.astype(np.float32) @ b_np.astype(np.float32)


def test_autotune_keeps_the_config_independent_runs_find_fastest(list_writer):
    """Each config's tuning time is its kernel_ns run alone in a fresh runtime; the
    winner is the least of them; C is exact only because reset_to_zero zeroed it before
    every tuning launch; the trace names every tuning launch and then the winner's."""
    m, n, k = 64, 64, 512
    alone = {}
    for config in SPLITK_CONFIGS:
        launch, _, _ = launch_splitk(Runtime("default"), matmul_splitk_kernel, m, n, k,
                                     **config.kwargs)  # fmt: skip
        alone[str(config)] = launch.end_ns - launch.target_start_ns
    tuned = triton.autotune(configs=SPLITK_CONFIGS, key=["M", "N", "K"],
                            reset_to_zero=["c_ptr"])(matmul_splitk_kernel)  # fmt: skip
    rt = Runtime("default", verify_data=True, writer=list_writer)
    launch, c, expected = launch_splitk(rt, tuned, m, n, k)
    timings = {str(config): ns for config, ns in tuned.configs_timings.items()}
    assert timings == pytest.approx(alone, rel=1e-12)
    assert len(set(alone.values())) == len(alone)  # the configs really differ
    assert str(tuned.best_config) == min(alone, key=alone.__getitem__)
    assert launch.kernel_name == "matmul_splitk_kernel"
    np.testing.assert_allclose(c.numpy(), expected, rtol=1e-3, atol=1e-3)
    names = [row["kernel"] for row in list_writer.rows["launches"]]
    assert names == [
        f"matmul_splitk_kernel (autotune {i + 1}/3: "
        + ", ".join(f"{key}={value}" for key, value in config.kwargs.items())
        + ")"
        for i, config in enumerate(SPLITK_CONFIGS)
    ] + ["matmul_splitk_kernel"]


def test_autotune_tunes_once_per_key():
    """A second launch with the same sizes reuses the winner (one launch more); new sizes
    tune again (one per config, then the winner)."""
    tuned = triton.autotune(configs=SPLITK_CONFIGS, key=["M", "N", "K"],
                            reset_to_zero=["c_ptr"])(matmul_splitk_kernel)  # fmt: skip
    rt = Runtime("default")
    first, _, _ = launch_splitk(rt, tuned, 64, 64, 256)
    again, _, _ = launch_splitk(rt, tuned, 64, 64, 256)
    assert again.launch_id == first.launch_id + 1
    other, _, _ = launch_splitk(rt, tuned, 64, 64, 128)
    assert other.launch_id == again.launch_id + len(SPLITK_CONFIGS) + 1
    assert len(tuned.cache) == 2


def test_autotune_without_reset_accumulates_every_tuning_launch():
    """The atomic adds of each tuning launch land in C: without reset_to_zero, C holds
    (configs + 1) times the product, as on a GPU (so reset_to_zero is what keeps it)."""
    tuned = triton.autotune(configs=SPLITK_CONFIGS, key=["M"])(matmul_splitk_kernel)
    _, c, expected = launch_splitk(Runtime("default", verify_data=True), tuned, 32, 32, 128)
    np.testing.assert_allclose(c.numpy(), (len(SPLITK_CONFIGS) + 1) * expected, rtol=1e-3,
                               atol=1e-2)  # fmt: skip


@triton.autotune(configs=[triton.Config({"BLOCK": 16}), triton.Config({"BLOCK": 64})],
                 key=["n"], restore_value=["x_ptr"])  # fmt: skip
@triton.jit
def increment_in_place(x_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(x_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + 1, mask=mask)


def test_restore_value_gives_the_winner_the_original_input():
    n = 200
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.arange(n, dtype=np.float32))
    increment_in_place[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](x, n)
    rt.synchronize()
    np.testing.assert_array_equal(x.numpy(), np.arange(n) + 1)


@triton.heuristics({"EVEN": lambda args: args["n"] % args["BLOCK"] == 0,
                    "HALF": lambda args: args["BLOCK"] // 2})  # fmt: skip
@triton.jit
def flags(out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr, HALF: tl.constexpr):  # noqa: N803
    tl.store(out_ptr, n * 0 + EVEN)
    tl.store(out_ptr + 1, n * 0 + HALF)


@pytest.mark.parametrize(("n", "even"), [(256, 1), (250, 0)])
@pytest.mark.parametrize(
    "launch_options",
    [{}, {"num_warps": 4, "num_stages": 2}, {"launch_pdl": True, "debug": False,
                                             "waves_per_eu": 2, "kpack": 1}],
)  # fmt: skip
def test_heuristics_compute_meta_parameters_from_the_arguments(n, even, launch_options):
    """Heuristics see the kernel's arguments by name; Triton's launch options (NVIDIA's
    and AMD's) pass through to the launch, which has nothing of them to model."""
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((2,), "int32", Placement.single(0))
    flags[(1,)](out, n, BLOCK=64, **launch_options)
    rt.synchronize()
    assert out.numpy().tolist() == [even, 32]


def test_pruning_runs_only_the_configs_left():
    """early_config_prune drops a config; perf_model with top_k keeps the best estimate,
    which is still tuned (one tuning launch), as Triton benchmarks every pruned config."""
    seen = []

    def early(configs, named):
        seen.append(sorted(named))
        return [c for c in configs if c.kwargs["SPLIT_K"] != 1]

    def model(**kwargs):
        return -kwargs["BLOCK_SIZE_M"]  # the biggest tile is estimated fastest

    tuned = triton.autotune(configs=SPLITK_CONFIGS, key=["M"], reset_to_zero=["c_ptr"],
                            prune_configs_by={"early_config_prune": early,
                                              "perf_model": model, "top_k": 1})(
        matmul_splitk_kernel)  # fmt: skip
    launch, _, _ = launch_splitk(Runtime("default"), tuned, 32, 32, 128)
    assert tuned.best_config is SPLITK_CONFIGS[2] and launch.launch_id == 1  # one tuning run
    assert "M" in seen[0] and "a_ptr" in seen[0]


def test_misuse_is_one_clear_error():
    with pytest.raises(tl.KernelUsageError, match="'L' is not an argument"):
        triton.autotune(configs=SPLITK_CONFIGS, key=["L"])(matmul_splitk_kernel)
    with pytest.raises(tl.KernelUsageError, match="wraps a @tl.jit kernel"):
        triton.autotune(configs=SPLITK_CONFIGS, key=[])(lambda x: x)
    tuned = triton.autotune(configs=SPLITK_CONFIGS, key=["M"])(matmul_splitk_kernel)
    with pytest.raises(tl.KernelUsageError, match=r"\['SPLIT_K'\] are given at launch"):
        launch_splitk(Runtime("default"), tuned, 32, 32, 128, SPLIT_K=2)


def test_hooks_run_around_tuning_launches_and_a_configs_own_before_each_of_its_launches():
    calls = []
    configs = [triton.Config(dict(c.kwargs), pre_hook=lambda named, i=i: calls.append(f"c{i}"))
               for i, c in enumerate(SPLITK_CONFIGS[:2])]  # fmt: skip
    tuned = triton.autotune(
        configs=configs, key=["M"], pre_hook=lambda named: calls.append("pre"),
        post_hook=lambda named, exception: calls.append(f"post{named['SPLIT_K']}"),
    )(matmul_splitk_kernel)  # fmt: skip
    rt = Runtime("default")
    launch_splitk(rt, tuned, 32, 32, 128)
    winner = f"c{configs.index(tuned.best_config)}"
    assert calls == ["pre", "c0", "post1", "pre", "c1", "post4", winner]
    launch_splitk(rt, tuned, 32, 32, 128)
    assert calls[7:] == [winner]


def test_matmul_workload_autotuned_reports_the_fastest_tuning_launch(tmp_path):
    """``kernbench run matmul --set autotune=true``: eight tuning launches then the
    winner, whose kernel_ns (the metric) is the least of theirs and whose DMAs repeat
    its tuning launch's; the product verifies and stays within its bound."""
    outcome = run_workload("matmul", {"M": 128, "N": 192, "K": 96, "autotune": True},
                           verify_data=True, store=tmp_path)  # fmt: skip
    assert outcome.status == "ok", outcome.error
    assert outcome.verified is True
    con = open_connection(tmp_path)
    launches = con.execute(
        "SELECT launch_id, kernel, end_ns - target_start_ns, "
        "(SELECT sum(bytes) FROM dma d WHERE d.run_id = l.run_id AND d.launch_id = l.launch_id "
        " AND kind = 'load') FROM launches l WHERE run_id = ? ORDER BY launch_id",
        [outcome.run_id],
    ).fetchall()
    tuning, final = launches[:-1], launches[-1]
    assert len(tuning) == 8 and all("(autotune " in row[1] for row in tuning)
    assert final[1] == "matmul_kernel_with_block_pointers"
    fastest = min(tuning, key=lambda row: row[2])
    metrics = {m.name: m.value for m in outcome.metrics}
    assert metrics["kernel_ns"] == final[2] == pytest.approx(fastest[2], rel=1e-12)
    assert final[3] == fastest[3]
    assert 0 < metrics["efficiency"] <= 1


def test_autotune_over_heuristics_computes_them_from_each_configs_meta():
    """Triton's stacking (autotune, then heuristics, then jit): the heuristics see each
    config's BLOCK, so the winner's flags follow the winner's BLOCK."""
    tuned = triton.autotune(configs=[triton.Config({"BLOCK": 96}), triton.Config({"BLOCK": 64})],
                            key=["n"])(flags)  # fmt: skip
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((2,), "int32", Placement.single(0))
    tuned[(1,)](out, 128)
    rt.synchronize()
    block = tuned.best_config.kwargs["BLOCK"]
    assert out.numpy().tolist() == [int(128 % block == 0), block // 2]
    assert len(tuned.configs_timings) == 2


def test_pruned_to_one_config_still_resets_what_tuning_touched():
    """Pruning leaves one config: it is tuned all the same, so reset_to_zero zeroes the
    accumulator its tuning launch added into (Triton's run benchmarks every pruned config
    when there was more than one)."""

    @tl.jit
    def bump(acc_ptr, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, BLOCK)
        tl.store(acc_ptr + offs, tl.load(acc_ptr + offs) + 1.0)

    configs = [triton.Config({"BLOCK": 4}), triton.Config({"BLOCK": 8})]
    tuned = triton.autotune(configs=configs, key=[], reset_to_zero=["acc_ptr"],
                            prune_configs_by={"early_config_prune": lambda c, n, **k: c[:1]})(
        bump)  # fmt: skip
    rt = Runtime("default", verify_data=True)
    acc = rt.from_numpy(np.full(8, 5.0, np.float32), Placement.single(0))
    tuned[(1,)](acc)
    rt.synchronize()
    assert acc.numpy().tolist() == [1.0] * 4 + [0.0] * 4


def test_an_autotuned_kernels_fn_launches_with_pinned_meta_parameters():
    """``tuned.fn[grid](..., BLOCK=...)`` launches the wrapped kernel without tuning, as
    Triton's Autotuner.fn is the wrapped kernel (w8a8 benchmarks pin configs so); and a
    ``tl.const`` pointer annotation is accepted."""

    @triton.autotune([triton.Config({"BLOCK": 8}), triton.Config({"BLOCK": 16})], key=["n"])
    @triton.jit
    def scale(x_ptr: tl.const, out_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 2, mask=offs < n)

    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.arange(20, dtype=np.float32), Placement.single(0))
    out = rt.zeros((20,), "float32", Placement.single(0))
    launch = scale.fn[(3,)](x, out, 20, BLOCK=8)
    rt.synchronize()
    np.testing.assert_array_equal(out.numpy(), 2 * np.arange(20, dtype=np.float32))
    assert launch.launch_id == 0 and scale.best_config is None  # one launch, no tuning
