"""Values computed from loaded data steer a kernel in data mode, as in Triton's MoE and
sparse kernels: gathers at loaded indices, masks from loaded values, ``if`` and loop
bounds on loaded scalars. The program stalls until the value is ready, and the next op
records that wait as a ``value`` dependency; in timing mode each is one clear error."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.runner import run_workload
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime
from simulator.workloads.grouped_gemm import grouped_matmul_kernel


@tl.jit
def gather_rows_kernel(ids_ptr, a_ptr, out_ptr, n_ids, K: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    """vLLM's fused-MoE addressing: rows of A at loaded token ids, -1 padding masked."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    ids = tl.load(ids_ptr + offs, mask=offs < n_ids, other=-1)
    valid = ids >= 0
    cols = tl.arange(0, K)
    rows = tl.load(a_ptr + ids[:, None] * K + cols[None, :], mask=valid[:, None], other=0.0)
    tl.store(out_ptr + offs[:, None] * K + cols[None, :], rows * 2.0,
             mask=(offs < n_ids)[:, None])  # fmt: skip


def gathered(ids: np.ndarray, a: np.ndarray) -> np.ndarray:
    rows = np.where(ids[:, None] >= 0, a[np.maximum(ids, 0)], 0.0).astype(np.float32)
    return rows * np.float32(2.0)


def test_gather_at_loaded_indices_matches_numpy_and_waits_for_them(list_writer):
    """Each program's gather reads the rows its loaded ids name (-1: none; no bytes for
    them). It is issued only after the id load ended, when the op computing its addresses
    from the ids ended: its deps row names that op as the value its program waited for."""
    rng = np.random.default_rng(3)
    n_rows, k, n_ids, block = 40, 16, 24, 8
    a_np = rng.standard_normal((n_rows, k)).astype(np.float32)
    ids_np = rng.integers(-1, n_rows, n_ids).astype(np.int32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    single = Placement.single(0)
    ids, a = rt.from_numpy(ids_np, single), rt.from_numpy(a_np, single)
    out = rt.zeros((n_ids, k), "float32", single)
    rt.wait(gather_rows_kernel[(n_ids // block,)](ids, a, out, n_ids, K=k, BLOCK=block))
    np.testing.assert_array_equal(out.numpy(), gathered(ids_np, a_np))

    ops = list_writer.rows["ops"]
    loads = [op for op in ops if op["op"] == "load" and op["engine"].startswith("DMA")]
    id_loads = [op for op in loads if op["bytes"] == block * 4]
    row_loads = [op for op in loads if op not in id_loads]
    assert len(id_loads) == n_ids // block == len(row_loads)
    assert sum(op["bytes"] for op in row_loads) == int((ids_np >= 0).sum()) * k * 4
    by_id = {op["op_id"]: op for op in ops}
    waited_on = {dep["item_id"]: (dep["cause"], dep["on_item"], dep["on_id"])
                 for dep in list_writer.rows["deps"] if dep["item"] == "op"}  # fmt: skip
    for id_load, row_load in zip(id_loads, row_loads, strict=True):
        assert row_load["issue_ns"] >= id_load["end_ns"] > id_load["issue_ns"]
        cause, on_item, on_id = waited_on[row_load["op_id"]]
        assert (cause, on_item, by_id[on_id]["engine"]) == ("value", "op", "MATH")
        assert row_load["issue_ns"] == by_id[on_id]["end_ns"]


@tl.jit
def branch_and_loop_kernel(counts_ptr, out_ptr):
    """A loop bound and an early exit read from memory (a persistent kernel's work list)."""
    pid = tl.program_id(0)
    count = tl.load(counts_ptr + pid)
    if count < 0:
        tl.store(out_ptr + pid, -1.0)
        return
    total = tl.zeros((), dtype=tl.float32)
    for i in range(count):
        total += i
    tl.store(out_ptr + pid, total)


def test_branches_and_loop_bounds_on_loaded_scalars_match_python():
    counts_np = np.array([3, -2, 0, 7, 1, -1], dtype=np.int32)
    rt = Runtime("default", verify_data=True)
    counts = rt.from_numpy(counts_np, Placement.single(0))
    out = rt.zeros((len(counts_np),), "float32", Placement.single(0))
    rt.wait(rt.launch(branch_and_loop_kernel, counts, out, grid=(len(counts_np),), pes=[0]))
    expected = [-1.0 if c < 0 else float(sum(range(c))) for c in counts_np]
    assert out.numpy().tolist() == expected


def test_data_dependence_without_data_is_one_clear_error():
    """Timing mode knows no data: a gather, a mask and a loop bound from loaded values
    each name what needed them."""

    @tl.jit
    def gather(x_ptr):
        idx = tl.load(x_ptr + tl.arange(0, 4)).to(tl.int32)
        tl.load(x_ptr + idx)

    @tl.jit
    def masked(x_ptr):
        tl.store(x_ptr + tl.arange(0, 4), 1.0, mask=tl.load(x_ptr + tl.arange(0, 4)) > 0)

    @tl.jit
    def loop(x_ptr):
        for _ in range(tl.load(x_ptr + 0).to(tl.int32)):
            pass

    data_mode = r"depends on loaded data, which the simulator knows only in data mode"
    fails_clearly(gather, r"pointer \+: pointer offsets " + data_mode)
    fails_clearly(masked, r"tl\.store: the mask " + data_mode)
    fails_clearly(loop, r"this integer " + data_mode)


def test_float_offsets_stay_an_error_with_data():
    @tl.jit
    def float_gather(x_ptr):
        tl.load(x_ptr + tl.load(x_ptr + tl.arange(0, 4)))

    rt = Runtime("default", verify_data=True)
    x = rt.zeros((100,), "float32", Placement.single(0))
    with pytest.raises(tl.KernelUsageError, match="pointer offsets must be integers, got float32"):
        rt.wait(rt.launch(float_gather, x, grid=(1,), pes=[0]))


def test_grouped_gemm_tutorial_with_pointers_loaded_from_memory():
    """Three GEMMs of different sizes in one launch, their matrices named by data_ptr()
    values in a device tensor: each C equals numpy's product."""
    rng = np.random.default_rng(7)
    sizes = [(64, 32, 48), (32, 64, 32), (96, 32, 64)]
    rt = Runtime("default", verify_data=True)
    single = Placement.single(0)
    operands, results = [], []
    for m, n, k in sizes:
        a_np = rng.standard_normal((m, k)).astype(np.float16)
        b_np = rng.standard_normal((k, n)).astype(np.float16)
        a, b = rt.from_numpy(a_np), rt.from_numpy(b_np)  # row-sharded: remote loads too
        c = rt.zeros((m, n), "float16")
        operands.append((a_np, b_np))
        results.append((a, b, c))

    def table(values, dtype):
        return rt.from_numpy(np.array(values, dtype=dtype), single)

    a_ptrs = table([a.data_ptr() for a, _, _ in results], np.int64)
    b_ptrs = table([b.data_ptr() for _, b, _ in results], np.int64)
    c_ptrs = table([c.data_ptr() for _, _, c in results], np.int64)
    gemm_sizes = table([v for size in sizes for v in size], np.int32)
    lds = table([v for a, b, c in results for v in (a.stride(0), b.stride(0), c.stride(0))],
                np.int32)  # fmt: skip
    num_sm = 4
    rt.wait(grouped_matmul_kernel[(num_sm,)](a_ptrs, b_ptrs, c_ptrs, gemm_sizes, lds, len(sizes),
                                             NUM_SM=num_sm, BLOCK_SIZE_M=16, BLOCK_SIZE_N=16,
                                             BLOCK_SIZE_K=16))  # fmt: skip
    for (a_np, b_np), (_, _, c) in zip(operands, results, strict=True):
        expected = a_np.astype(np.float32) @ b_np.astype(np.float32)
        np.testing.assert_allclose(c.numpy().astype(np.float32), expected, rtol=1e-2, atol=2e-2)


def test_a_loaded_pointer_must_name_a_tensor_of_its_type():
    """An address loaded from memory reaches the element it names (data_ptr() plus a
    byte offset); one outside every tensor whose address the host took, inside an
    element, or into a tensor of another dtype is one error naming the address."""
    rt = Runtime("default", verify_data=True)
    single = Placement.single(0)
    x = rt.from_numpy(np.arange(16, dtype=np.float32) * 10, single)

    @tl.jit
    def deref(addr_ptr, out_ptr):
        p = tl.load(addr_ptr + 0).to(tl.pointer_type(tl.float32))
        tl.store(out_ptr + 0, tl.load(p + 1))

    def run(address: int) -> float:
        addr = rt.from_numpy(np.array([address], dtype=np.int64), single)
        out = rt.zeros((1,), "float32", single)
        rt.wait(rt.launch(deref, addr, out, grid=(1,), pes=[0]))
        return float(out.numpy()[0])

    base = x.data_ptr()
    assert run(base + 4 * 5) == 60.0
    with pytest.raises(tl.KernelUsageError, match=rf"address {base + 2:#x} is 2 bytes into"):
        run(base + 2)
    with pytest.raises(tl.KernelUsageError, match=r"is in no tensor whose data_ptr\(\) the host"):
        run(base + 4 * 16)
    halves = rt.zeros((16,), "float16", single)
    with pytest.raises(tl.KernelUsageError, match=r"of float16, not float32"):
        run(halves.data_ptr())


@tl.jit
def locked_add_kernel(lock_ptr, acc_ptr, BLOCK: tl.constexpr, LOCKED: tl.constexpr):  # noqa: N803
    """Stream-K's fix-up pattern: a spin lock (atomic_cas until it reads 0) around a
    non-atomic read-modify-write of a shared accumulator."""
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    while LOCKED and tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    acc = tl.load(acc_ptr + offs)
    tl.store(acc_ptr + offs, acc + pid + 1)
    if LOCKED:
        tl.atomic_xchg(lock_ptr, 0)


def test_a_spin_lock_on_loaded_values_serialises_its_critical_sections():
    """Eight programs on eight PEs add pid + 1 to one tile. Under the lock every update
    lands (1 + ... + 8); without it the reads race and updates are lost, so the lock is
    what makes it exact, and waiting for it takes time."""
    programs, block = 8, 16

    def run(locked: bool) -> tuple[np.ndarray, float]:
        rt = Runtime("default", verify_data=True)
        single = Placement.single(0)
        lock = rt.zeros((1,), "int32", single)
        acc = rt.zeros((block,), "float32", single)
        launch = rt.launch(locked_add_kernel, lock, acc, BLOCK=block, LOCKED=locked,
                           grid=(programs,))  # fmt: skip
        rt.wait(launch)
        return acc.numpy(), launch.end_ns - launch.target_start_ns

    locked, locked_ns = run(True)
    racing, racing_ns = run(False)
    assert locked.tolist() == [float(sum(range(1, programs + 1)))] * block
    assert racing[0] < locked[0]
    assert locked_ns > racing_ns


def test_grouped_gemm_workload_runs_in_data_mode_and_verifies():
    """The workload asks for data mode itself (its kernel reads addresses from memory):
    a run without --verify still has the data, checks it, and stays within its bound."""
    outcome = run_workload("grouped_gemm", {"groups": 3, "M": 128, "N": 64, "K": 64,
                                            "ragged": True}, trace=False)  # fmt: skip
    assert outcome.status == "ok", outcome.error
    assert outcome.verified is True
    values = {m.name: m.value for m in outcome.metrics}
    assert 0 < values["efficiency"] <= 1


def test_a_tensor_argument_of_a_grid_launch_is_a_scalar_pointer():
    """In a grid launch ``tl.load(n_ptr)`` is one element, as in Triton (a loop bound
    here); ``tl.store(out_ptr, v)`` writes one."""

    @tl.jit
    def count_up(n_ptr, out_ptr):
        total = tl.zeros((), dtype=tl.int32)
        for i in range(tl.load(n_ptr)):
            total += i
        tl.store(out_ptr, total)

    rt = Runtime("default", verify_data=True)
    single = Placement.single(0)
    n = rt.from_numpy(np.array([5, 100, 100], dtype=np.int32), single)
    out = rt.zeros((3,), "int32", single)
    rt.wait(count_up[(1,)](n, out))
    assert out.numpy().tolist() == [sum(range(5)), 0, 0]


def test_moe_workload_gathers_by_routing_and_moves_what_it_routes(tmp_path):
    """The fused-MoE workload: C equals numpy's routed product (checked by the workload),
    its padding is what the routing leaves, and its loads move exactly each block's
    routed rows of A, its expert's weights, the routing tables' entries it reads."""
    from simulator.workloads.moe import align_block_size
    from traces.views import open_connection

    p = {"tokens": 24, "hidden": 64, "ffn": 128, "experts": 4, "top_k": 2, "block_m": 16,
         "block_n": 64, "block_k": 32, "seed": 3}  # fmt: skip
    outcome = run_workload("moe", p, store=tmp_path)
    assert outcome.status == "ok", outcome.error
    assert outcome.verified is True
    # The routing the workload draws (same seed, same draws, in the same order).
    rng = np.random.default_rng(p["seed"])
    rng.standard_normal((p["tokens"], p["hidden"]))
    rng.standard_normal((p["experts"], p["hidden"], p["ffn"]))
    topk = np.argsort(rng.random((p["tokens"], p["experts"])), axis=1)[:, : p["top_k"]]
    sorted_ids, _, n_padded = align_block_size(topk, p["experts"], p["block_m"])
    routed = p["tokens"] * p["top_k"]
    metrics = {m.name: m.value for m in outcome.metrics}
    assert metrics["padding"] == pytest.approx(1 - routed / n_padded)
    assert (sorted_ids < routed).sum() == routed
    blocks_m, blocks_n = n_padded // p["block_m"], p["ffn"] // p["block_n"]
    k, bn, bm = p["hidden"], p["block_n"], p["block_m"]
    per_program = k * bn * 2 + bm * 4 + 4 + 4  # B's tile, the block's ids, expert, length
    expected_load = blocks_n * (routed * k * 2 + routed * 4) + blocks_m * blocks_n * per_program
    con = open_connection(tmp_path)
    moved = dict(con.execute(
        "SELECT kind, sum(bytes) FROM dma WHERE run_id = ? AND launch_id IS NOT NULL "
        "AND kind IN ('load', 'store') GROUP BY kind", [outcome.run_id]).fetchall())  # fmt: skip
    assert moved == {"load": expected_load, "store": routed * p["ffn"] * 2}
