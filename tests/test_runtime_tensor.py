"""Runtime tensors: placement, devices, copies, the host-read barrier, shard indexing."""

import numpy as np
import pytest

import simulator.language as tl
from simulator.hw.address_map import AddressMap
from simulator.runtime.placement import Placement, PlacementError
from simulator.runtime.runtime import DeviceError, Runtime, parse_device
from simulator.runtime.tensor import DataModeError, ShardError


def test_row_and_column_sharding_split_like_numpy():
    """Row-wise and column-wise shards cover the tensor like numpy.array_split."""
    rt = Runtime("default", verify_data=True)
    x = np.arange(10 * 6, dtype=np.float32).reshape(10, 6)
    rows = rt.from_numpy(x, Placement.row_wise(num_pes=4))
    cols = rt.from_numpy(x, Placement.column_wise(num_pes=3))
    assert [s.shape for s in rows.shards] == [a.shape for a in np.array_split(x, 4, axis=0)]
    assert [s.shape for s in cols.shards] == [a.shape for a in np.array_split(x, 3, axis=1)]
    np.testing.assert_array_equal(rows.numpy(), x)
    np.testing.assert_array_equal(cols.numpy(), x)


def test_num_cubes_and_explicit_pes():
    """num_cubes picks whole cubes; an explicit tuple picks exactly those PEs."""
    rt = Runtime("default")
    t = rt.empty((64, 8), placement=Placement.row_wise(num_cubes=2))
    assert {(s.coord.sip, s.coord.cube) for s in t.shards} == {(0, 0), (0, 1)}
    assert len(t.shards) == 16
    u = rt.empty((4, 8), placement=Placement.row_wise(pes=(5, 17, 30)))
    assert [s.coord.pe_global for s in u.shards] == [5, 17, 30]
    with pytest.raises(PlacementError, match="num_pes=99"):
        rt.empty((128, 8), placement=Placement.row_wise(num_pes=99))


def test_a_tensor_of_fewer_rows_than_pes_takes_one_row_per_pe():
    """By default a tensor is split row-wise over every PE; one of fewer rows (a bias, a
    scalar output) has one row on each of the first PEs, and reads back whole. Asked
    for explicitly, too many PEs is an error that says what to ask for instead."""
    rt = Runtime("default", verify_data=True)
    assert len(rt.device_pes) == 32
    x = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    t = rt.from_numpy(x)
    assert [s.coord.pe_global for s in t.shards] == [0, 1, 2, 3, 4]
    assert [s.shape for s in t.shards] == [(1, 3)] * 5
    np.testing.assert_array_equal(t.numpy(), x)
    assert len(rt.zeros((1,), "float32").shards) == 1
    assert len(rt.zeros((64,), "float32").shards) == 32
    hint = r"\(row-wise\); place it on fewer PEs \(Placement\(num_pes=5\)"
    with pytest.raises(PlacementError, match=r"cannot split dim 0 of size 5 over 8 PEs " + hint):
        rt.empty((5, 3), placement=Placement.row_wise(num_pes=8))


def test_device_selection_limits_allocation_to_selected_sips():
    """'sip1' / 'sip:1' place every shard on SIP 1; unknown devices list valid ones."""
    topo = "multi_sip"
    for device in ("sip1", "sip:1", 1):
        rt = Runtime(topo, device=device)
        t = rt.empty((256, 4))
        assert {s.coord.sip for s in t.shards} == {1}
        amap = AddressMap(rt.topology)
        assert {amap.decode(s.pa).sip for s in t.shards} == {1}
    assert len(Runtime(topo, device="all").device_pes) == 128
    with pytest.raises(DeviceError, match="valid: all, sip0"):
        parse_device("sip7", Runtime(topo).topology)
    with pytest.raises(PlacementError, match="outside the selected device"):
        Runtime(topo, device="sip0").empty((4,), placement=Placement.single(40))


def test_zeros_really_zero_and_replicas_agree():
    """zeros() reads back as zeros; a replicated tensor holds the same data on every PE."""
    rt = Runtime("default", verify_data=True)
    z = rt.zeros((8, 8), "float32", Placement.replicate(num_pes=4))
    np.testing.assert_array_equal(z.numpy(), np.zeros((8, 8), np.float32))
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    r = rt.from_numpy(x, Placement.replicate(num_pes=3))
    data = rt.machine.data
    for s in r.shards:
        np.testing.assert_array_equal(data.read(s.pa, s.nbytes).view(np.float32).reshape(4, 4), x)


def test_device_to_device_copy_reshards():
    """copy_ from a row-sharded tensor into a column-sharded one moves the right values."""
    rt = Runtime("default", verify_data=True)
    x = np.arange(12 * 8, dtype=np.float16).reshape(12, 8)
    src = rt.from_numpy(x, Placement.row_wise(num_pes=3))
    dst = rt.zeros((12, 8), "float16", Placement.column_wise(num_pes=4))
    start = rt.now_ns
    dst.copy_(src)
    assert rt.now_ns > start  # the copy took simulated time
    np.testing.assert_array_equal(dst.numpy(), x)


def test_host_read_waits_for_pending_kernel_writes():
    """numpy() after an async launch sees the kernel's writes (host-read barrier)."""
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((4, 4), "float32", Placement.single(0))

    def fill(o):
        tl.store(o, tl.zeros((4, 4), tl.float32) + 7.0)

    launch = rt.launch(fill, out, pes=[0])
    assert not launch.done.triggered
    np.testing.assert_array_equal(out.numpy(), np.full((4, 4), 7.0, np.float32))


def test_kernel_launched_from_a_task_runs():
    """A kernel launched from inside a spawned task runs and completes."""
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((2, 2), "float32", Placement.single(3))

    def kernel(o):
        tl.store(o, tl.zeros((2, 2), tl.float32) + 1.0)

    def rank_main():
        rt.launch(kernel, out, pes=[3])
        rt.synchronize()
        return rt.now_ns

    task = rt.machine.scheduler.spawn(rank_main, name="rank0")
    finished = rt.machine.scheduler.wait(task.process)
    assert finished > 0
    np.testing.assert_array_equal(out.numpy(), np.ones((2, 2), np.float32))


def test_shard_aligned_indexing_and_cross_shard_error():
    """Slices inside one shard read and write; a slice across shards points to copy_."""
    rt = Runtime("default", verify_data=True)
    x = np.arange(8 * 4, dtype=np.float32).reshape(8, 4)
    t = rt.from_numpy(x, Placement.row_wise(num_pes=2))
    np.testing.assert_array_equal(t[1:3], x[1:3])
    np.testing.assert_array_equal(t[5, 2], x[5, 2])
    t[4:6, :] = 0.5
    t[0] = np.array([9, 8, 7, 6], dtype=np.float32)
    expected = x.copy()
    expected[4:6, :] = 0.5
    expected[0] = [9, 8, 7, 6]
    np.testing.assert_array_equal(t.numpy(), expected)
    with pytest.raises(ShardError, match="crosses shard boundaries.*copy_"):
        t[3:5]


def test_values_need_data_mode():
    """Without verify_data, reading values is a clear error, and repr says data=N/A."""
    rt = Runtime("default")
    t = rt.zeros((4,), "float32", Placement.single(0))
    with pytest.raises(DataModeError, match="verify_data=True"):
        t.numpy()
    assert "data=N/A" in repr(t)


def test_virtual_addresses_are_translated_not_decoded():
    """Tensor VAs look like valid PAs, yet data lands at the MMU's PA, not the VA's."""
    rt = Runtime("default", verify_data=True)
    t = rt.from_numpy(np.ones(16, np.float32), Placement.single(9))
    shard = t.shards[0]
    amap = AddressMap(rt.topology)
    looks_like = amap.decode(shard.va)  # the VA's bits decode to some real place...
    assert looks_like.node != amap.decode(shard.pa).node  # ...but not where the data is
    assert rt.mmu.translate(shard.va) == shard.pa


def test_indexing_a_replicated_tensor_writes_every_replica_and_costs_time():
    """t[i] = v on a replicated tensor updates every PE's copy; reads and writes by index
    pay a DMA of the slice's bytes (and the same time without data)."""
    times = []
    for verify in (True, False):
        rt = Runtime("default", verify_data=verify)
        r = rt.zeros((4,), "float32", Placement.replicate(num_pes=3))
        start = rt.now_ns
        r[1] = 9.0
        times.append(rt.now_ns - start)
        if verify:
            data = rt.machine.data
            for s in r.shards:
                values = data.read(s.pa, s.nbytes).view(np.float32)
                np.testing.assert_array_equal(values, [0, 9, 0, 0])
            before = rt.now_ns
            assert r[1] == 9.0
            assert rt.now_ns > before
    assert times[0] > 0 and times[0] == times[1]


def test_kernel_on_a_replica_sees_an_indexed_write():
    """After r[2] = 5, a kernel on the second replica's PE reads 5 there."""
    rt = Runtime("default", verify_data=True)
    r = rt.zeros((4,), "float32", Placement.replicate(pes=(0, 1)))
    out = rt.zeros((4,), "float32", Placement.single(1))
    r[2] = 5.0

    def kernel(src, dst):
        tl.store(dst, tl.load(src))

    rt.launch(kernel, r, out, pes=[1])
    np.testing.assert_array_equal(out.numpy(), [0, 0, 5, 0])


def test_fill_zero_and_triton_s_dtype_names():
    """``fill_`` and ``zero_`` set every element (autotune hooks write
    ``nargs["DQ"].zero_()``); dtypes may be named as tl names them ("float8e4nv"), and
    an unknown name is one clear ValueError."""
    rt = Runtime("default", verify_data=True)
    t = rt.from_numpy(np.arange(12, dtype=np.float32).reshape(6, 2))
    assert t.fill_(2.5) is t
    np.testing.assert_array_equal(t.numpy(), np.full((6, 2), 2.5, np.float32))
    t.zero_()
    np.testing.assert_array_equal(t.numpy(), np.zeros((6, 2), np.float32))
    assert rt.empty((4,), "float8e4nv").dtype == tl.float8e4nv
    assert rt.zeros((4,), "float8e5").dtype == tl.float8e5
    assert rt.zeros((4,), "float8e4b8").dtype == tl.float8e4b8
    with pytest.raises(ValueError, match=r"unknown dtype 'fp17': give a numpy dtype"):
        rt.empty((4,), "fp17")


@tl.jit
def _batched_scale(x_ptr, y_ptr, M, N, sxb, sxm, sxn, BLOCK_M: tl.constexpr,  # noqa: N803
                   BLOCK_N: tl.constexpr):  # noqa: N803  # fmt: skip
    b = tl.program_id(0)
    rm = tl.arange(0, BLOCK_M)[:, None]
    rn = tl.arange(0, BLOCK_N)[None, :]
    mask = (rm < M) & (rn < N)
    x = tl.load(x_ptr + b * sxb + rm * sxm + rn * sxn, mask=mask)
    tl.store(y_ptr + b * sxb + rm * sxm + rn * sxn, x * (b + 1), mask=mask)


@tl.jit
def _heads_plus_one(x, y, Z, H, N_CTX, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):  # noqa: N803
    z, h = tl.program_id(0), tl.program_id(1)
    strides = [H * N_CTX * HEAD_DIM, N_CTX * HEAD_DIM, HEAD_DIM, 1]
    src = tl.make_tensor_descriptor(x, shape=[Z, H, N_CTX, HEAD_DIM], strides=strides,
                                    block_shape=[1, 1, BLOCK_N, HEAD_DIM])  # fmt: skip
    dst = tl.make_tensor_descriptor(y, shape=[Z, H, N_CTX, HEAD_DIM], strides=strides,
                                    block_shape=[1, 1, BLOCK_N, HEAD_DIM])  # fmt: skip
    for start in range(0, N_CTX, BLOCK_N):
        dst.store([z, h, start, 0], src.load([z, h, start, 0]) + 1.0)


def test_tensors_of_three_and_four_dims_as_kernels_index_them():
    """A 3-D tensor splits row-wise along dim 0 as numpy.array_split does, reports
    PyTorch's shape and strides, and a kernel indexing it with those strides reads and
    writes the right elements; a 4-D [Z, H, N, D] tensor works with 4-D tensor
    descriptors, from the host (TensorDescriptor) and in the kernel; indexing inside one
    shard and copies keep the shape. Checked against numpy."""
    from simulator.triton.tools.tensor_descriptor import TensorDescriptor

    rng = np.random.default_rng(3)
    rt = Runtime("default", verify_data=True)
    a = rng.standard_normal((5, 6, 7)).astype(np.float32)
    x = rt.from_numpy(a, Placement.row_wise(num_pes=3))
    assert (x.shape, x.stride(), x.dim(), x.numel()) == ((5, 6, 7), (42, 7, 1), 3, 210)
    assert [s.shape for s in x.shards] == [p.shape for p in np.array_split(a, 3, axis=0)]
    y = rt.empty(a.shape, "float32")
    _batched_scale[(5,)](x, y, 6, 7, *x.stride(), BLOCK_M=8, BLOCK_N=8)
    np.testing.assert_array_equal(y.numpy(), a * np.arange(1, 6, dtype=np.float32)[:, None, None])
    np.testing.assert_array_equal(x[2, 1:3], a[2, 1:3])
    # Without a grid, each PE's program gets its shard: as a tile, its (rows, 7) matrix.
    halved = rt.empty(a.shape, "float32", Placement.row_wise(num_pes=3))

    def shard_half(src, dst):
        tl.store(dst, tl.load(src) * 0.5)

    rt.launch(shard_half, x, halved, pes=x.pes)
    np.testing.assert_array_equal(halved.numpy(), a * np.float32(0.5))
    x[0, 0, 0] = 9.0
    assert x.numpy()[0, 0, 0] == 9.0 and x.numpy().shape == (5, 6, 7)

    z, h, n, d = 2, 3, 64, 16
    q_np = rng.standard_normal((z, h, n, d)).astype(np.float32)
    q = rt.from_numpy(q_np)
    out, doubled = rt.empty(q.shape, "float32"), rt.empty(q.shape, "float32")
    _heads_plus_one[(z, h)](q, out, z, h, n, BLOCK_N=32, HEAD_DIM=d)
    np.testing.assert_array_equal(out.numpy(), q_np + 1)

    @tl.jit
    def double_heads(src, dst, N_CTX, BLOCK_N: tl.constexpr):  # noqa: N803
        zi, hi = tl.program_id(0), tl.program_id(1)
        for start in range(0, N_CTX, BLOCK_N):
            dst.store([zi, hi, start, 0], src.load([zi, hi, start, 0]) * 2.0)

    src = TensorDescriptor(q, list(q.shape), list(q.stride()), [1, 1, 32, d])
    dst = TensorDescriptor(doubled, list(q.shape), list(q.stride()), [1, 1, 32, d])
    double_heads[(z, h)](src, dst, n, BLOCK_N=32)
    np.testing.assert_array_equal(doubled.numpy(), q_np * 2)
    copy = rt.empty(q.shape, "float32", Placement.single(5))
    copy.copy_(q)
    np.testing.assert_array_equal(copy.numpy(), q_np)
    with pytest.raises(PlacementError, match=r"\(2, 3, 64, 16\) cannot be split column-wise"):
        rt.empty(q.shape, "float32", Placement.column_wise(num_pes=2))
