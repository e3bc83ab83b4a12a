"""The PE op pipeline: cost formulas, in-order engines, overlap, TCM accounting."""

import math

import numpy as np
import pytest

import simulator.language as tl
from simulator.engine.errors import KernelError, TcmOverflowError
from simulator.engine.pe import Program
from simulator.hw import graph as g
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime


def run_kernel(kernel, *args, topology="default", verify_data=False, writer=None, pes=(0,)):
    rt = Runtime(topology, verify_data=verify_data, writer=writer)
    tensors = [a(rt) if callable(a) else a for a in args]
    launch = rt.launch(kernel, *tensors, pes=list(pes))
    rt.synchronize()
    return rt, launch, tensors


def test_dot_costs_the_systolic_formula(list_writer):
    """One dot takes (ceil(M/R)*ceil(N/C)*K + fill_drain) / clock, as in the topology."""

    def kernel():
        a = tl.zeros((200, 64), tl.float16)
        b = tl.zeros((64, 300), tl.float16)
        tl.dot(a, b)

    rt, _, _ = run_kernel(kernel, writer=list_writer)
    pe = rt.topology.params.pe
    cycles = math.ceil(200 / pe.gemm.rows) * math.ceil(300 / pe.gemm.cols) * 64
    expected = (cycles + pe.gemm.fill_drain_cycles) / pe.clock_ghz
    (op,) = list_writer.rows["ops"]
    assert op["engine"] == "GEMM" and op["flops"] == 2 * 200 * 300 * 64
    assert op["end_ns"] - op["start_ns"] == pytest.approx(expected, rel=1e-12)


def test_math_costs_lanes_times_cycles(list_writer):
    """exp over 1000 elements takes ceil(1000/lanes) * cycles_per_op['exp'] cycles."""

    def kernel():
        tl.exp(tl.zeros((10, 100), tl.float32))

    rt, _, _ = run_kernel(kernel, writer=list_writer)
    pe = rt.topology.params.pe
    expected = math.ceil(1000 / pe.math.lanes) * pe.math.cycles_per_op["exp"] / pe.clock_ghz
    (op,) = list_writer.rows["ops"]
    assert op["engine"] == "MATH"
    assert op["end_ns"] - op["start_ns"] == pytest.approx(expected, rel=1e-12)


def test_load_costs_latency_plus_bytes_over_bandwidth(list_writer):
    """A lone load from the PE's own HBM slice: dma overhead + HBM latency + n/B."""
    n_bytes = 64 * 1024

    def kernel(src):
        tl.load(src)

    rt, _, _ = run_kernel(
        kernel,
        lambda rt: rt.empty((n_bytes // 2,), "float16", Placement.single(0)),
        writer=list_writer,
    )
    p = rt.topology.params
    c = rt.topology.pe_coord(0)
    route = rt.machine.graph.route(g.pe_hbm(c), g.pe_tcm(c))
    expected = p.pe.dma_overhead_ns + p.cube.hbm.latency_ns + route.latency_ns
    expected += n_bytes / min(p.cube.hbm.bw_gbs, p.pe.tcm.bw_gbs)
    (op,) = list_writer.rows["ops"]
    assert op["engine"] == "DMA_IN" and op["bytes"] == n_bytes
    assert op["end_ns"] - op["start_ns"] == pytest.approx(expected, rel=1e-9)


def test_engines_overlap_but_each_engine_is_in_order(list_writer):
    """A tiled loop overlaps DMA_IN with GEMM; ops of one compute engine never overlap."""

    def kernel(a, b):
        acc = None
        for k0 in range(0, 512, 128):
            x = tl.load(tl.make_block_ptr(a, offsets=(0, k0), block_shape=(128, 128)))
            y = tl.load(tl.make_block_ptr(b, offsets=(k0, 0), block_shape=(128, 128)))
            acc = tl.dot(x, y, acc)

    one = Placement.single(0)
    run_kernel(
        kernel,
        lambda rt: rt.empty((128, 512), "float16", one),
        lambda rt: rt.empty((512, 128), "float16", one),
        writer=list_writer,
    )
    ops = list_writer.rows["ops"]
    gemm = sorted((o for o in ops if o["engine"] == "GEMM"), key=lambda o: o["start_ns"])
    loads = [o for o in ops if o["engine"] == "DMA_IN"]
    for earlier, later in zip(gemm, gemm[1:], strict=False):
        assert later["start_ns"] >= earlier["end_ns"]
    assert [o["op_id"] for o in gemm] == sorted(o["op_id"] for o in gemm)  # issue order
    # Some load runs while a dot runs: the pipeline overlaps engines.
    assert any(
        ld["start_ns"] < d["end_ns"] and d["start_ns"] < ld["end_ns"] for ld in loads for d in gemm
    )
    # Each dot starts only after both of its loads finished.
    by_id = {o["op_id"]: o for o in ops}
    for d in gemm:
        prior_loads = [by_id[i] for i in by_id if i < d["op_id"] and by_id[i]["engine"] == "DMA_IN"]
        assert d["start_ns"] >= max(o["end_ns"] for o in prior_loads[-2:])


def test_dma_engine_keeps_at_most_queue_depth_in_flight(list_writer):
    """No more than pe.dma_queue_depth loads of one PE are in flight at any time."""

    def kernel(a):
        for r0 in range(0, 64, 4):
            tl.load(tl.make_block_ptr(a, offsets=(r0, 0), block_shape=(4, 1024)))

    rt, _, _ = run_kernel(
        kernel, lambda rt: rt.empty((64, 1024), "float16", Placement.single(0)), writer=list_writer
    )
    depth = rt.topology.params.pe.dma_queue_depth
    loads = list_writer.rows["ops"]
    for t in sorted({o["start_ns"] for o in loads}):
        in_flight = sum(1 for o in loads if o["start_ns"] <= t < o["end_ns"])
        assert in_flight <= depth


def test_tcm_overflow_names_kernel_pe_and_sizes():
    """A block bigger than the whole TCM is a TcmOverflowError with the numbers."""

    def big_kernel():
        tl.zeros((1024, 1024), tl.float32)

    with pytest.raises(TcmOverflowError) as info:
        run_kernel(big_kernel)
    msg = str(info.value)
    assert "big_kernel" in msg and "sip0.cube0.pe0" in msg
    assert "requested 4194304 bytes" in msg and "of 1048576 bytes free" in msg


def test_tcm_pressure_waits_instead_of_failing(list_writer):
    """Loads that together exceed TCM wait for earlier blocks to be freed."""

    def kernel(a):
        for r0 in range(0, 512, 64):
            blk = tl.load(tl.make_block_ptr(a, offsets=(r0, 0), block_shape=(64, 2048)))
            tl.store(tl.make_block_ptr(a, offsets=(r0, 0), block_shape=(64, 2048)), blk)
            del blk

    rt, launch, _ = run_kernel(
        kernel,
        lambda rt: rt.empty((512, 2048), "float16", Placement.single(0)),
        writer=list_writer,
    )
    # 8 tiles of 256 KiB = 2 MiB through a 1 MiB TCM.
    assert len([o for o in list_writer.rows["ops"] if o["engine"] == "DMA_WB"]) == 8
    assert rt.machine.pes[0].tcm_used_bytes == 0
    # The kernel waited for space: each wait ended when an op whose end freed TCM (a
    # store: its tile's last holder) ended, at that op's end.
    ops = {o["op_id"]: o for o in list_writer.rows["ops"]}
    waits = [d for d in list_writer.rows["deps"] if d["cause"] == "tcm"]
    for d in waits:
        freed_by = ops[d["on_id"]]
        assert d["on_item"] == "op" and freed_by["engine"] == "DMA_WB"
        assert d["ready_ns"] == freed_by["end_ns"] == ops[d["item_id"]]["issue_ns"]
    # A wait lasted from when the kernel blocked (it had just issued its previous op:
    # kernel code takes no time) to then, however many op ends (loads, which free
    # nothing) woke it in between. The ops issued after the first one in a resume
    # carry the same wait (what last resumed the program).
    blocked_ns = {d["item_id"]: ops[d["item_id"] - 1]["issue_ns"] for d in waits}
    firsts = [d for d in waits if blocked_ns[d["item_id"]] < d["ready_ns"]]
    assert firsts
    for d in firsts:
        assert d["wait_ns"] == pytest.approx(d["ready_ns"] - blocked_ns[d["item_id"]])


@pytest.mark.parametrize(
    ("frees", "freed_by"),
    [
        ((0, 4096), 8),  # the waking op freed nothing; the next end, same instant, did
        ((4096, 4096), 7),  # the waking op's end alone made room
    ],
)
def test_tcm_wait_names_the_op_whose_end_made_room(frees, freed_by):
    """A kernel blocked on a full TCM since t=0 is woken at t=5 by an op end that frees
    nothing, then at t=10 by two op ends in one instant: it resumes at t=10, having
    waited 10 ns (not 5: the futile wake-up does not restart the wait), for the op
    whose end made room for its block."""
    rt = Runtime("default")
    machine = rt.machine
    pe, env = machine.pes[0], machine.env
    program = Program(machine, pe, "k", 0, (0, 0, 0), (1, 1, 1), 0)
    pe.tcm_used_bytes, pe.inflight_ops = pe.tcm_capacity_bytes, 3

    def body():
        pe.reserve_tcm(1024, program)
        return program.resume

    def op_end(at_ns: float, op_id: int, freed_bytes: int) -> None:
        def end(_event) -> None:
            used_bytes = pe.tcm_used_bytes
            pe.tcm_used_bytes -= freed_bytes
            pe.op_done(op_id, used_bytes)

        env.timeout(at_ns).callbacks.append(end)

    task = machine.scheduler.spawn(body, name="k")
    op_end(5.0, 6, 0)
    op_end(10.0, 7, frees[0])
    op_end(10.0, 8, frees[1])
    assert machine.scheduler.wait(task.process) == ("tcm", "op", freed_by, 10.0, 10.0)
    pe.tcm_used_bytes = 0  # the blocks these fake ends stood for


def test_kernel_exception_names_kernel_program_pe_and_time():
    """A kernel that raises becomes a KernelError naming kernel, program id, PE, time."""

    def faulty():
        if tl.program_id(0) == 3:
            raise ValueError("bad tile index")

    with pytest.raises(KernelError) as info:
        run_kernel(faulty, pes=range(8))
    msg = str(info.value)
    assert "'faulty'" in msg and "(3, 0, 0)" in msg and "sip0.cube0.pe3" in msg
    assert "t=" in msg and "ValueError: bad tile index" in msg


def test_unmapped_virtual_address_faults_with_hex_address():
    """Loading through a VA the MMU does not map names the VA in hex."""
    bogus = tl.TensorView(0xDEAD0000, (16, 16), np.dtype("float16"), "bogus")

    def kernel(view):
        tl.load(view)

    with pytest.raises(KernelError, match="0xdead0000"):
        run_kernel(kernel, bogus)


def test_dot_data_matches_numpy():
    """tl.dot in data mode equals the numpy fp32 product of fp16 inputs, plus acc."""
    rng = np.random.default_rng(1)
    a_np = rng.standard_normal((64, 32)).astype(np.float16)
    b_np = rng.standard_normal((32, 48)).astype(np.float16)

    def kernel(a, b, c):
        acc = tl.dot(tl.load(a), tl.load(b))
        acc = tl.dot(tl.load(a), tl.load(b), acc)
        tl.store(c, acc)

    one = Placement.single(0)
    rt, _, (a, b, c) = run_kernel(
        kernel,
        lambda rt: rt.from_numpy(a_np, one),
        lambda rt: rt.from_numpy(b_np, one),
        lambda rt: rt.zeros((64, 48), "float32", one),
        verify_data=True,
    )
    expected = 2 * (a_np.astype(np.float32) @ b_np.astype(np.float32))
    np.testing.assert_allclose(c.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_elementwise_and_reductions_match_numpy():
    """Block arithmetic, gelu, casts and reductions give numpy's values."""
    rng = np.random.default_rng(2)
    x_np = rng.standard_normal((8, 16)).astype(np.float32)

    def kernel(x, out_rows, out_all):
        v = tl.load(x)
        y = tl.gelu(v * 2.0 + 1.0) - tl.exp(v) / 4.0
        y = tl.maximum(y, -0.5)
        tl.store(out_rows, tl.sum(y, axis=1).to(tl.float32))
        tl.store(out_all, tl.max(y))

    one = Placement.single(0)
    rt, _, (_, rows, total) = run_kernel(
        kernel,
        lambda rt: rt.from_numpy(x_np, one),
        lambda rt: rt.zeros((8,), "float32", one),
        lambda rt: rt.zeros((1,), "float32", one),
        verify_data=True,
    )
    z = 2 * x_np + 1
    gelu = 0.5 * z * (1 + np.tanh(0.7978845608028654 * (z + 0.044715 * z**3)))
    y = np.maximum(gelu - np.exp(x_np) / 4, -0.5)
    np.testing.assert_allclose(rows.numpy(), y.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(total.numpy(), [y.max()], rtol=1e-6)


def test_memory_follows_program_order_within_a_kernel():
    """A load sees this program's earlier store to the same bytes (read after write), and
    a later store does not overwrite bytes before an earlier load read them."""
    one = Placement.single(0)

    def kernel(x, scratch, out, later):
        tl.store(scratch, tl.load(x) + 1.0)
        seen = tl.load(scratch)  # must see x + 1
        tl.store(out, seen)
        tl.store(scratch, tl.zeros((4, 4), tl.float32))  # must wait for the load above
        tl.store(later, tl.load(scratch))  # must see the zeros

    rt, _, (_, scratch, out, later) = run_kernel(
        kernel,
        lambda rt: rt.from_numpy(np.ones((4, 4), np.float32), one),
        lambda rt: rt.zeros((4, 4), "float32", one),
        lambda rt: rt.zeros((4, 4), "float32", one),
        lambda rt: rt.from_numpy(np.full((4, 4), 5.0, np.float32), one),
        verify_data=True,
    )
    np.testing.assert_array_equal(out.numpy(), np.full((4, 4), 2.0, np.float32))
    np.testing.assert_array_equal(later.numpy(), np.zeros((4, 4), np.float32))
    np.testing.assert_array_equal(scratch.numpy(), np.zeros((4, 4), np.float32))


def test_independent_loads_and_stores_still_overlap(list_writer):
    """Ordering applies only to overlapping bytes: a store to another tensor does not hold
    back loads."""
    one = Placement.single(0)

    def kernel(a, b):
        for r0 in range(0, 64, 16):
            tile = tl.load(tl.make_block_ptr(a, offsets=(r0, 0), block_shape=(16, 256)))
            tl.store(tl.make_block_ptr(b, offsets=(r0, 0), block_shape=(16, 256)), tile)

    run_kernel(kernel, lambda rt: rt.empty((64, 256), "float16", one),
               lambda rt: rt.empty((64, 256), "float16", one), writer=list_writer)  # fmt: skip
    ops = list_writer.rows["ops"]
    loads = [o for o in ops if o["engine"] == "DMA_IN"]
    stores = [o for o in ops if o["engine"] == "DMA_WB"]
    # All four loads are issued at once and start before the first store ends.
    assert max(ld["start_ns"] for ld in loads) < min(st["end_ns"] for st in stores)


def test_node_of_is_right_when_windows_are_smaller_than_a_page():
    """With a 1 KiB TCM, two PEs' TCM windows share a 4 KiB page: node_of still tells them
    apart (the page cache only holds pages owned by one component)."""
    from simulator.engine.machine import Machine
    from simulator.hw.address_map import AddressMap
    from simulator.hw.topology import load_topology, topology_from_dict

    data = load_topology("default").to_dict()
    data["pe"]["tcm"]["capacity_kib"] = 1
    topo = topology_from_dict(data)
    machine = Machine(topo)
    amap = AddressMap(topo)
    for pe in (0, 1, 2, 0, 1):  # repeated: the second lookups hit any cache
        c = topo.pe_coord(pe)
        assert machine.node_of(amap.tcm_base(c)) == g.pe_tcm(c)
        assert machine.node_of(amap.tcm_base(c) + 1023) == g.pe_tcm(c)


def test_tiles_that_share_rows_but_not_columns_are_independent(list_writer):
    """In-place tile updates of one matrix: the next column tile's load does not wait for
    the previous tile's store (their byte spans interleave, their bytes do not overlap)."""

    def kernel(y):
        for n0 in range(0, 512, 128):
            tile = tl.make_block_ptr(y, offsets=(0, n0), block_shape=(64, 128))
            tl.store(tile, tl.load(tile) + 1.0)

    run_kernel(kernel, lambda rt: rt.empty((64, 512), "float16", Placement.single(0)),
               writer=list_writer)  # fmt: skip
    ops = list_writer.rows["ops"]
    loads = sorted((o for o in ops if o["engine"] == "DMA_IN"), key=lambda o: o["op_id"])
    stores = sorted((o for o in ops if o["engine"] == "DMA_WB"), key=lambda o: o["op_id"])
    assert loads[1]["start_ns"] < stores[0]["end_ns"]


def test_a_block_whose_init_was_interrupted_is_freed_quietly(monkeypatch):
    """Ctrl-C can land inside a block's __init__ before it holds TCM: freeing that
    half-made block raises nothing (no 'Exception ignored in __del__' after
    `kernbench: interrupted`)."""
    import sys

    from simulator.engine.ops import Block
    from simulator.language.core import tensor

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    for cls in (Block, tensor):
        half_made = cls.__new__(cls)
        del half_made
    assert unraisable == []
