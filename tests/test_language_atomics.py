"""tl atomics: values against plain-Python and numpy references, racing programs that
lose no update, and the cost of a store of the operands then a load of the results."""

from __future__ import annotations

import json

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.runner import run_workload
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime
from traces.perfetto import export_perfetto
from traces.store import Store
from traces.views import open_store

KINDS = ("add", "max", "min", "and", "or", "xor", "xchg")
NUMPY_UPDATES = {
    "add": np.add, "max": np.maximum, "min": np.minimum, "and": np.bitwise_and,
    "or": np.bitwise_or, "xor": np.bitwise_xor, "xchg": lambda old, val: val,
}  # fmt: skip


@tl.jit
def partial_sums(x_ptr, total_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offsets, mask=offsets < n, other=0)
    tl.atomic_add(total_ptr, tl.sum(x, axis=0))


def test_programs_racing_on_one_element_lose_no_update(list_writer):
    """16 programs on 4 PEs each add their block's sum into one element: the total is
    the exact integer sum, and the updates really overlapped in time."""
    n, block = 1000, 64
    x_np = np.random.default_rng(1).integers(-1000, 1000, n, dtype=np.int32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(x_np)
    total = rt.zeros((1,), "int32", Placement.single(0))
    rt.launch(partial_sums, x, total, n, grid=(16,), pes=[0, 1, 2, 3], BLOCK=block)
    rt.synchronize()
    assert int(total.numpy()[0]) == int(x_np.sum())
    requests = [o for o in list_writer.rows["ops"] if o["op"] == "atomic_add"
                and o["engine"] == "DMA_WB"]  # fmt: skip
    assert len(requests) == 16
    spans = sorted((o["start_ns"], o["end_ns"]) for o in requests)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))  # they raced


@tl.jit
def repeated_elements(x_ptr, old_ptr, LANES: tl.constexpr, ELEMENTS: tl.constexpr):  # noqa: N803
    lanes = tl.arange(0, LANES)
    old = tl.atomic_add(x_ptr + lanes % ELEMENTS, lanes + 1)
    tl.store(old_ptr + lanes, old)


def test_pointers_to_one_element_each_apply_theirs_in_element_order(list_writer):
    """A histogram-style update (lane i adds i+1 to element i % 3): each lane's add
    counts, and each lane gets the value its element held just before it, as a plain
    loop over the lanes gives; each lane moves its own operand and old value."""
    lanes, elements = 8, 3
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.zeros((elements,), "int32", Placement.single(0))
    old = rt.zeros((lanes,), "int32", Placement.single(0))
    rt.launch(repeated_elements, x, old, grid=(1,), pes=[0], LANES=lanes, ELEMENTS=elements)
    rt.synchronize()
    expected_x, expected_old = [0] * elements, []
    for lane in range(lanes):
        expected_old.append(expected_x[lane % elements])
        expected_x[lane % elements] += lane + 1
    assert x.numpy().tolist() == expected_x
    assert old.numpy().tolist() == expected_old
    dmas = [d for d in list_writer.rows["dma"] if d["kind"] == "atomic"]
    assert sum(d["bytes"] for d in dmas) == 2 * lanes * 4  # operands there, old values back


@tl.jit
def masked_update(x_ptr, val_ptr, old_ptr, n, KIND: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    offsets = tl.arange(0, BLOCK)
    mask = (offsets < n) & (offsets % 3 != 1)
    val = tl.load(val_ptr + offsets, mask=mask)
    update = getattr(tl, f"atomic_{KIND}")
    old = update(x_ptr + offsets, val, mask=mask, sem="acq_rel", scope="gpu")
    tl.store(old_ptr + offsets, old)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_matches_numpy_and_leaves_masked_elements_alone(kind, list_writer):
    """Loaded operands, a mask with holes that cuts the block at n: the elements it lets
    through become numpy's update of old and val, the rest keep their values and move no
    bytes; the old values come back (0 in masked-off lanes)."""
    n, block = 45, 64
    rng = np.random.default_rng(2)
    x_np = rng.integers(-50, 50, block, dtype=np.int32)
    val_np = rng.integers(-50, 50, block, dtype=np.int32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x, val = rt.from_numpy(x_np), rt.from_numpy(val_np)
    old = rt.zeros((block,), "int32")
    rt.launch(masked_update, x, val, old, n, grid=(1,), pes=[0], KIND=kind, BLOCK=block)
    rt.synchronize()
    lanes = np.arange(block)
    mask = (lanes < n) & (lanes % 3 != 1)
    expected = np.where(mask, NUMPY_UPDATES[kind](x_np, val_np), x_np)
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(old.numpy(), np.where(mask, x_np, 0))
    moved = sum(d["bytes"] for d in list_writer.rows["dma"] if d["kind"] == "atomic")
    assert moved == 2 * int(mask.sum()) * 4


@tl.jit
def compare_and_swap(x_ptr, old_ptr, BLOCK: tl.constexpr):  # noqa: N803
    offsets = tl.arange(0, BLOCK)
    old = tl.atomic_cas(x_ptr + offsets, 0, 5)
    tl.store(old_ptr + offsets, old)


def test_compare_and_swap_swaps_where_equal_and_sends_both_operands(list_writer):
    x_np = np.array([0, 1, 0, 7, 0, 0, 2, 0], np.int32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(x_np, placement=Placement.single(0))
    old = rt.zeros((8,), "int32", Placement.single(0))
    rt.launch(compare_and_swap, x, old, grid=(1,), pes=[0], BLOCK=8)
    rt.synchronize()
    np.testing.assert_array_equal(x.numpy(), np.where(x_np == 0, 5, x_np))
    np.testing.assert_array_equal(old.numpy(), x_np)
    request, response = (o for o in list_writer.rows["ops"] if o["op"] == "atomic_cas")
    assert (request["engine"], request["bytes"]) == ("DMA_WB", 2 * 8 * 4)  # cmp and val
    assert (response["engine"], response["bytes"]) == ("DMA_IN", 8 * 4)


@tl.jit
def add_then_load(x_ptr, out_ptr, BLOCK: tl.constexpr):  # noqa: N803
    offsets = tl.arange(0, BLOCK)
    tl.atomic_add(x_ptr + offsets, 2.0)
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets))


@tl.jit
def add_alone(x_ptr, BLOCK: tl.constexpr):  # noqa: N803
    tl.atomic_add(x_ptr + tl.arange(0, BLOCK), 2.0)


@tl.jit
def store_then_load(x_ptr, BLOCK: tl.constexpr):  # noqa: N803
    offsets = tl.arange(0, BLOCK)
    tl.store(x_ptr + offsets, 2.0)
    tl.store(x_ptr + offsets, tl.load(x_ptr + offsets) + 1.0)


def _launch_ops(rows, launch_id):
    return {(o["op"], o["engine"]): o for o in rows["ops"] if o["launch_id"] == launch_id}


def _took(op):
    return op["end_ns"] - op["start_ns"]


def test_an_atomic_costs_a_store_of_its_operands_then_a_load_of_its_results(list_writer):
    """On the same elements and PE, each alone on the network: the request takes what a
    store of them takes, the response what a load takes, and starts when the request
    ends."""
    block = 256
    rt = Runtime("default", writer=list_writer)
    x = rt.zeros((block,), "float32", Placement.single(0))
    rt.launch(add_alone, x, grid=(1,), pes=[0], BLOCK=block)
    rt.launch(store_then_load, x, grid=(1,), pes=[0], BLOCK=block)
    rt.synchronize()
    first, second = (row["launch_id"] for row in list_writer.rows["launches"][-2:])
    atomic, plain = _launch_ops(list_writer.rows, first), _launch_ops(list_writer.rows, second)
    request, response = atomic["atomic_add", "DMA_WB"], atomic["atomic_add", "DMA_IN"]
    assert _took(request) == pytest.approx(_took(plain["store", "DMA_WB"]), rel=1e-12)
    assert _took(response) == pytest.approx(_took(plain["load", "DMA_IN"]), rel=1e-12)
    assert response["start_ns"] >= request["end_ns"]
    assert request["bytes"] == response["bytes"] == block * 4


def test_a_later_load_waits_for_the_update_and_reads_it(list_writer):
    block = 64
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(np.ones(block, np.float32), placement=Placement.single(0))
    out = rt.zeros((block,), "float32", Placement.single(0))
    rt.launch(add_then_load, x, out, grid=(1,), pes=[0], BLOCK=block)
    rt.synchronize()
    ops = _launch_ops(list_writer.rows, list_writer.rows["launches"][-1]["launch_id"])
    assert ops["load", "DMA_IN"]["start_ns"] >= ops["atomic_add", "DMA_WB"]["end_ns"]
    np.testing.assert_array_equal(out.numpy(), np.full(block, 3.0, np.float32))


def test_cost_is_charged_without_data(list_writer):
    """Timing mode (no data): the same two ops and DMA bytes are charged."""
    rt = Runtime("default", writer=list_writer)
    x = rt.zeros((8,), "int32", Placement.single(0))
    old = rt.zeros((8,), "int32", Placement.single(0))
    rt.launch(compare_and_swap, x, old, grid=(1,), pes=[0], BLOCK=8)
    rt.synchronize()
    ops = sorted((o["engine"], o["bytes"]) for o in list_writer.rows["ops"]
                 if o["op"] == "atomic_cas")  # fmt: skip
    assert ops == [("DMA_IN", 32), ("DMA_WB", 64)]


def test_misuse_is_one_clear_error():
    @tl.jit
    def on_block_pointer(x_ptr):
        ptr = tl.make_block_ptr(x_ptr, (100,), (1,), (0,), (16,), (0,))
        tl.atomic_add(ptr, 1.0)

    @tl.jit
    def bitwise_on_floats(x_ptr):
        tl.atomic_or(x_ptr + tl.arange(0, 4), 1)

    @tl.jit
    def bad_sem(x_ptr):
        tl.atomic_max(x_ptr, 1.0, sem="sequential")

    @tl.jit
    def bad_shape(x_ptr):
        tl.atomic_xchg(x_ptr + tl.arange(0, 4), tl.zeros((8,), tl.float32))

    @tl.jit
    def outside(x_ptr):
        tl.atomic_min(x_ptr + tl.arange(0, 128), 0.0)

    fails_clearly(on_block_pointer, "takes a block of pointers .* not a block pointer")
    fails_clearly(bitwise_on_floats, r"tl\.atomic_or: x holds float32; atomic_or needs integers")
    fails_clearly(bad_sem, r"sem='sequential' is not one of acquire, release, acq_rel")
    fails_clearly(bad_shape, r"operand of shape \(8,\) does not broadcast .* \(4,\)")
    fails_clearly(outside, r"tl\.atomic_min: element offset 100 .* outside")


def test_split_k_matmul_workload_matches_numpy_with_its_atomic_traffic(tmp_path):
    """matmul_splitk with ragged sizes: C verified against numpy, and the atomic DMAs
    move its float32 partial tiles there and the old values back, once per K-split."""
    m, n, k, split = 33, 70, 300, 3
    outcome = run_workload("matmul_splitk", {"M": m, "N": n, "K": k, "split_k": split},
                           verify_data=True, store=tmp_path)  # fmt: skip
    assert outcome.status == "ok" and outcome.verified, outcome.error
    con = open_store(tmp_path).connect()
    [(moved,)] = con.sql("SELECT sum(bytes) FROM dma WHERE kind = 'atomic'").fetchall()
    assert moved == 2 * split * m * n * 4


def test_perfetto_draws_both_halves_under_the_pe_that_issued_them(tmp_path):
    """A program on PE 0 updates a tensor in PE 5's HBM: the request (PE 0's TCM -> PE 5's
    HBM) and the response (back) are both in PE 0's process, not the memory's PE's."""
    store = Store(tmp_path / "store")
    with Runtime("default", store=store.root, name="atomics") as rt:
        x = rt.zeros((8,), "int32", Placement.single(5))
        old = rt.zeros((8,), "int32", Placement.single(0))
        rt.launch(compare_and_swap, x, old, grid=(1,), pes=[0], BLOCK=8)
        rt.synchronize()
    path = tmp_path / "trace.json"
    export_perfetto(store, store.resolve_run("latest"), path)
    events = json.loads(path.read_text())["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    drawn = {(e["name"].split()[1], names[e["pid"]]) for e in events
             if e["ph"] == "X" and e["name"].startswith("atomic ")}  # fmt: skip
    assert drawn == {("sip0.cube0.pe0.tcm", "PE 0 (sip0 cube0 pe0)"),
                     ("sip0.cube0.pe5.hbm", "PE 0 (sip0 cube0 pe0)")}  # fmt: skip


def test_atomic_add_takes_bfloat16_and_rounds_each_update():
    """tl.atomic_add on a bfloat16 tensor, as Triton's: each update is one bfloat16 add
    (ml_dtypes' rounding), applied in element order; other kinds on bfloat16 still fail
    clearly."""

    @tl.jit
    def accumulate(acc_ptr, x_ptr):
        offs = tl.arange(0, 8)
        tl.atomic_add(acc_ptr + offs % 2, tl.load(x_ptr + offs))

    bf16 = np.dtype(tl.bfloat16)
    x = np.array([1.0, 0.5, 2.0**-8, 3.0, 2.0**-8, 0.25, 100.0, 0.125], bf16)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    acc = rt.from_numpy(np.array([1.0, 0.0], bf16), place)
    rt.launch(accumulate, acc, rt.from_numpy(x, place), grid=(1,), pes=[0])
    rt.synchronize()
    expected = np.array([1.0, 0.0], bf16)
    for i, value in enumerate(x):  # element order, each sum rounded to bfloat16
        expected[i % 2] = expected[i % 2] + value
    assert acc.numpy().tolist() == expected.tolist()
    assert expected[0] != np.float32(2.0) + 2 * 2.0**-8 + 100.0  # bfloat16 dropped the 2**-8s

    @tl.jit
    def bf16_max(acc_ptr, x_ptr):
        tl.atomic_max(acc_ptr + tl.arange(0, 2), 1.0)

    rt2 = Runtime("default")
    with pytest.raises(tl.KernelUsageError, match=r"tl\.atomic_max: .* holds bfloat16, which "
                                                  r"atomic_max does not take"):  # fmt: skip
        rt2.launch(bf16_max, rt2.zeros((2,), "bfloat16", place), None, grid=(1,), pes=[0])
        rt2.synchronize()
