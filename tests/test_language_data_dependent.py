"""Values computed from loaded data steer a kernel in data mode, as in Triton's MoE and
sparse kernels: gathers at loaded indices, masks from loaded values, ``if`` and loop
bounds on loaded scalars. The program stalls until the value is ready, and the next op
records that wait; in timing mode each is one clear error."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime


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
    from the ids ended: its deps row names that op as the input it waited for."""
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
        assert (cause, on_item, by_id[on_id]["engine"]) == ("input", "op", "MATH")
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
