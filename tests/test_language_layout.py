"""tl layout, selection and bit ops (ravel, permute, join, split, interleave, cat, flip,
sort, topk, gather, histogram, umulhi, xor_sum, swizzle2d, device_assert, assume)
against numpy, with their MATH costs from the YAML formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
import simulator.triton as triton
from simulator.hw.topology import load_topology
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

ROWS, COLS = 4, 8
X = np.arange(ROWS * COLS, dtype=np.int32).reshape(ROWS, COLS)
RNG = np.random.default_rng(5)
Y = RNG.permutation(ROWS * COLS).astype(np.int32).reshape(ROWS, COLS) - 7


def _run(body, out_shape, out_dtype="int32", list_writer=None):
    """Launch a one-program kernel that loads X and Y (4 x 8 int32) as data tiles and stores
    ``body(x, y)`` into a tensor of ``out_shape``; returns the stored values."""
    n_out = math.prod(out_shape)

    @tl.jit
    def kernel(x_ptr, y_ptr, out_ptr):
        offs = tl.arange(0, ROWS)[:, None] * COLS + tl.arange(0, COLS)[None, :]
        x, y = tl.load(x_ptr + offs), tl.load(y_ptr + offs)
        result = body(x, y)
        tl.store(out_ptr + tl.arange(0, n_out), tl.reshape(result, (n_out,)))

    kwargs = {"writer": list_writer} if list_writer is not None else {}
    rt = Runtime("default", verify_data=True, **kwargs)
    place = Placement.single(0)
    x, y = rt.from_numpy(X.ravel(), placement=place), rt.from_numpy(Y.ravel(), placement=place)
    out = rt.zeros((n_out,), out_dtype, place)
    rt.launch(kernel, x, y, out, grid=(1,), pes=[0])
    rt.synchronize()
    return out.numpy().reshape(out_shape)


def _counts(values: np.ndarray, bins: int) -> list[int]:
    """How many of ``values`` equal each of 0 .. bins - 1 (others are not counted)."""
    return [int((values == b).sum()) for b in range(bins)]


CASES = {
    "ravel": (lambda x, y: tl.ravel(x), (32,), lambda: X.ravel()),
    "permute": (lambda x, y: tl.permute(x, 1, 0), (8, 4), lambda: X.T),
    "permute_tuple": (lambda x, y: tl.permute(x, (1, 0)), (8, 4), lambda: X.T),
    "join": (lambda x, y: tl.join(x, y), (4, 8, 2), lambda: np.stack([X, Y], -1)),
    "split": (lambda x, y: tl.split(tl.join(x, y))[1], (4, 8), lambda: Y),
    "interleave": (lambda x, y: tl.interleave(x, y), (4, 16),
                   lambda: np.stack([X, Y], -1).reshape(4, 16)),
    "cat": (lambda x, y: tl.cat(tl.ravel(x), tl.ravel(y), can_reorder=True), (64,),
            lambda: np.concatenate([X.ravel(), Y.ravel()])),
    "flip": (lambda x, y: tl.flip(y), (4, 8), lambda: Y[:, ::-1]),
    "flip_rows": (lambda x, y: tl.flip(y, 0), (4, 8), lambda: Y[::-1]),
    "sort": (lambda x, y: tl.sort(y), (4, 8), lambda: np.sort(Y, -1)),
    "sort_descending": (lambda x, y: tl.sort(y, descending=True), (4, 8),
                        lambda: np.sort(Y, -1)[:, ::-1]),
    "topk": (lambda x, y: tl.topk(y, 2), (4, 2), lambda: np.sort(Y, -1)[:, ::-1][:, :2]),
    "gather": (lambda x, y: tl.gather(x, (y + 7) % 4, 0), (4, 8),
               lambda: np.take_along_axis(X, (Y + 7) % 4, 0)),
    "histogram": (lambda x, y: tl.histogram(tl.reshape(y, (32,)) % 5, 8), (8,),
                  lambda: _counts(np.fmod(Y.ravel(), 5), 8)),  # C's %: some negative
    "xor_sum": (lambda x, y: tl.xor_sum(y, axis=1), (4,),
                lambda: np.bitwise_xor.reduce(Y, axis=1)),
    # Triton's umulhi takes its operands as unsigned (the interpreter, __nv_umulhi).
    "umulhi": (lambda x, y: tl.umulhi(y * 123456789, y - 99999),
               (4, 8), lambda: _unsigned_high((Y.astype(np.int64) * 123456789).astype(np.int32),
                                              Y - 99999)),
}  # fmt: skip


def _unsigned_high(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The high words of the products of ``a`` and ``b`` read as unsigned, in Python
    integers, back in their dtype."""
    bits = a.dtype.itemsize * 8
    high = [(int(p) % 2**bits) * (int(q) % 2**bits) >> bits
            for p, q in zip(a.ravel(), b.astype(a.dtype).ravel(), strict=True)]  # fmt: skip
    unsigned = np.array(high, dtype=f"u{a.dtype.itemsize}")
    return unsigned.view(a.dtype).reshape(a.shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_numpy(name):
    body, shape, expected = CASES[name]
    np.testing.assert_array_equal(_run(body, shape), expected())


COSTS = {
    # op name, cost key, elements charged
    "permute": (lambda x, y: tl.permute(x, 1, 0), "trans", "trans", 32),
    "join": (lambda x, y: tl.join(x, y), "join", "copy", 64),
    "cat": (lambda x, y: tl.cat(tl.ravel(x), tl.ravel(y), can_reorder=True), "cat", "copy", 64),
    "flip": (lambda x, y: tl.flip(x), "flip", "trans", 32),
    "sort": (lambda x, y: tl.sort(y), "sort", "cmp", 32 * 6),  # log2(8) = 3: 3 * 4 / 2 stages
    "topk": (lambda x, y: tl.topk(y, 2), "topk", "cmp", 32 * (1 + 2 * 2)),  # log_k = 1
    "gather": (lambda x, y: tl.gather(x, y % 4, 0), "gather", "copy", 32),
    "histogram": (lambda x, y: tl.histogram(tl.ravel(y) % 4, 4), "histogram", "reduce", 32),
    "xor_sum": (lambda x, y: tl.xor_sum(y), "xor_sum", "reduce", 32),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(COSTS))
def test_costs_lanes_times_cycles(name, list_writer):
    """The op runs on MATH for ceil(elements / lanes) * cycles_per_op[key] / clock, the key
    overridden to a value no other key has and the lanes to 8."""
    body, op, key, elements = COSTS[name]
    # 8 lanes: every element count here takes its own number of lane-wide steps.
    overrides = {f"pe.math.cycles_per_op.{key}": 13, "pe.math.lanes": 8}
    topology = load_topology("default", overrides=overrides)

    @tl.jit
    def kernel(x_ptr, y_ptr):
        offs = tl.arange(0, ROWS)[:, None] * COLS + tl.arange(0, COLS)[None, :]
        body(tl.load(x_ptr + offs), tl.load(y_ptr + offs))

    rt = Runtime(topology, writer=list_writer)
    x, y = (rt.zeros((32,), "int32", Placement.single(0)) for _ in range(2))
    rt.launch(kernel, x, y, grid=(1,), pes=[0])
    rt.synchronize()
    pe = rt.topology.params.pe
    rows = [r for r in list_writer.rows["ops"] if r["op"] == op]
    assert len(rows) == 1 and rows[0]["engine"] == "MATH"
    assert pe.math.lanes == 8
    expected = math.ceil(elements / pe.math.lanes) * 13 / pe.clock_ghz
    assert rows[0]["end_ns"] - rows[0]["start_ns"] == pytest.approx(expected, rel=1e-12)


def test_free_views_cost_nothing(list_writer):
    """ravel, split and the reshape of interleave add no op: only the join does."""
    _run(lambda x, y: tl.interleave(tl.split(tl.join(x, y))[0], tl.reshape(tl.ravel(y), (4, 8))),
         (4, 16), list_writer=list_writer)  # fmt: skip
    math_ops = [r["op"] for r in list_writer.rows["ops"] if r["engine"] == "MATH"]
    assert sorted(math_ops) == ["join", "join"]


def test_swizzle2d_is_triton_s_example():
    """Triton's docstring: a 4 x 4 matrix in groups of 2 rows becomes [[0, 2, 4, 6],
    [1, 3, 5, 7], [8, 10, 12, 14], [9, 11, 13, 15]] (element a goes to swizzle2d of its
    row and column), on ints and on index values alike."""
    seen = {}

    @tl.jit
    def kernel(x_ptr):
        i = tl.arange(0, 4)[:, None]
        j = tl.arange(0, 4)[None, :]
        new_i, new_j = tl.swizzle2d(i, j, 4, 4, 2)
        seen["tiles"] = (new_i.const, new_j.const)
        seen["ints"] = [tl.swizzle2d(a // 4, a % 4, 4, 4, 2) for a in range(16)]

    rt = Runtime("default")
    rt.launch(kernel, rt.zeros((4,), "float32", Placement.single(0)), grid=(1,), pes=[0])
    rt.synchronize()
    expected = [[0, 2, 4, 6], [1, 3, 5, 7], [8, 10, 12, 14], [9, 11, 13, 15]]
    # Element i * 4 + j of the row-major matrix moves to (new_i, new_j).
    moved = np.empty((4, 4), int)
    moved[seen["tiles"]] = np.arange(16).reshape(4, 4)
    assert moved.tolist() == expected
    by_ints = np.empty((4, 4), int)
    for a, (i, j) in enumerate(seen["ints"]):
        by_ints[i, j] = a
    assert by_ints.tolist() == expected


def test_device_assert_checks_index_values_and_assume_is_a_hint():
    @tl.jit
    def passes(x_ptr):
        offs = tl.arange(0, 8)
        tl.device_assert(offs < 8, "in range")
        tl.device_assert(offs < 4, "masked off", mask=offs < 4)
        tl.device_assert(tl.load(x_ptr + offs) > 1e9)  # data: no values to check here
        tl.assume(offs >= 0)

    @tl.jit
    def fails(x_ptr):
        tl.device_assert(tl.arange(0, 8) < 5, "offsets stay below 5")

    rt = Runtime("default")
    x = rt.zeros((100,), "float32", Placement.single(0))
    rt.launch(passes, x, grid=(1,), pes=[0])
    rt.synchronize()
    fails_clearly(fails, r"tl\.device_assert failed at element \(5,\): offsets stay below 5")


@tl.jit
def positive_inputs(x_ptr, y_ptr, CHECK: tl.constexpr, LIMIT: tl.constexpr):  # noqa: N803
    offs = tl.arange(0, 8)
    x = tl.load(x_ptr + offs)
    positive = x > 0  # a MATH op either way (the assert's own check is free)
    if CHECK:
        tl.device_assert(positive, "inputs are positive", mask=offs < LIMIT)
    tl.store(y_ptr + offs, tl.sqrt(x))


@pytest.mark.parametrize("limit", [8, 3])
def test_device_assert_checks_data_in_data_mode_at_no_cost(list_writer, new_list_writer, limit):
    """In data mode a data condition is checked when its tile is ready: element 3 is
    negative, so the assert fails naming it, the kernel and the line, unless the mask
    stops before it. A passing assert changes no op and no time."""
    x_np = np.array([1, 2, 3, -4, 5, 6, 7, 8], np.float32)

    def run(check: bool, writer):
        rt = Runtime("default", verify_data=True, writer=writer)
        x = rt.from_numpy(x_np, Placement.single(0))
        y = rt.zeros((8,), "float32", Placement.single(0))
        rt.launch(positive_inputs, x, y, grid=(1,), pes=[0], CHECK=check, LIMIT=limit)
        rt.synchronize()

    if limit == 8:
        with pytest.raises(tl.KernelUsageError, match=r"tl\.device_assert failed at element "
                           r"\(3,\): inputs are positive \(kernel 'positive_inputs', line "
                           r"test_language_layout\.py:\d+; checked on the data\)"):  # fmt: skip
            run(True, list_writer)
        return
    run(True, list_writer)
    plain = new_list_writer()
    run(False, plain)
    assert list_writer.rows["ops"] == plain.rows["ops"]


def test_gather_out_of_range_is_one_clear_error():
    """An index past the axis: at issue for index values, when the data arrives for data
    indices; both name the kernel and the line."""

    @tl.jit
    def const_index(x_ptr):
        x = tl.load(x_ptr + tl.arange(0, 4))
        tl.gather(x, tl.arange(0, 4) + 1, 0)

    fails_clearly(const_index, r"tl\.gather: index 4 is outside axis 0 of size 4")

    @tl.jit
    def data_index(x_ptr, i_ptr, out_ptr):
        offs = tl.arange(0, 4)
        tl.store(out_ptr + offs, tl.gather(tl.load(x_ptr + offs), tl.load(i_ptr + offs), 0))

    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    x = rt.from_numpy(np.arange(4, dtype=np.float32), placement=place)
    index = rt.from_numpy(np.array([0, 1, 9, 2], np.int32), placement=place)
    out = rt.zeros((4,), "float32", place)
    with pytest.raises(tl.KernelUsageError, match=r"index 9 is outside axis 0 of size 4 "
                       r"\(kernel 'data_index', line test_language_layout\.py:\d+\)"):  # fmt: skip
        rt.launch(data_index, x, index, out, grid=(1,), pes=[0])
        rt.synchronize()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: tl.permute(x, 0, 0), r"tl\.permute: dims \(0, 0\) are not a permutation"),
        (lambda x: tl.join(x, x.to(tl.float16)), r"tl\.join: both tiles must have one dtype"),
        (lambda x: tl.split(x), r"tl\.split: the last axis must have size 2"),
        (
            lambda x: tl.cat(x, tl.reshape(x, (2, 2)), can_reorder=True),
            r"tl\.cat: shapes \(4,\) and \(2, 2\): Triton's cat takes 1-D tiles",
        ),
        (lambda x: tl.cat(x, x), r"tl\.cat needs can_reorder=True, as in Triton"),
        (lambda x: tl.sort(tl.reshape(x, (2, 2)), dim=0), r"only the last axis \(1\)"),
        (lambda x: tl.topk(x, 3), r"tl\.topk: k=3 must be a power of 2 from 1 to 4"),
        (lambda x: tl.xor_sum(x), r"tl\.xor_sum takes integers, got float32"),
        (lambda x: tl.umulhi(x, 3), r"tl\.umulhi takes 32- or 64-bit integer tiles, got float32"),
        (lambda x: tl.histogram(x, 4), r"tl\.histogram takes a 1-D integer tile"),
    ],
)
def test_misuse_is_one_clear_error(call, match):
    @tl.jit
    def misuse(x_ptr):
        call(tl.load(x_ptr + tl.arange(0, 4)))

    fails_clearly(misuse, match=match)


METHOD_CASES = {
    "reshape": (lambda x: x.reshape(8, 4), lambda x: tl.reshape(x, (8, 4)), (8, 4)),
    "view": (lambda x: x.view((32,)), lambda x: tl.view(x, 32), (32,)),
    "ravel": (lambda x: x.ravel(), lambda x: tl.ravel(x), (32,)),
    "sum": (lambda x: x.sum(axis=0), lambda x: tl.sum(x, 0), (8,)),
    "max": (lambda x: x.max(1), lambda x: tl.max(x, axis=1), (4,)),
    "permute": (lambda x: x.permute(1, 0), lambda x: tl.permute(x, (1, 0)), (8, 4)),
    "trans": (lambda x: x.trans(), lambda x: tl.trans(x), (8, 4)),
    "flip": (lambda x: x.flip(0), lambda x: tl.flip(x, 0), (4, 8)),
    "cumsum": (lambda x: x.cumsum(1), lambda x: tl.cumsum(x, axis=1), (4, 8)),
    "sort": (lambda x: x.sort(), lambda x: tl.sort(x), (4, 8)),
    "broadcast_to": (lambda x: x.sum(0).broadcast_to(4, 8),
                     lambda x: tl.broadcast_to(tl.sum(x, 0), (4, 8)), (4, 8)),
    "cast": (lambda x: x.cast(tl.float32).exp().to(tl.int32),
             lambda x: tl.exp(tl.cast(x, tl.float32)).to(tl.int32), (4, 8)),
    "bitcast": (lambda x: x.to(tl.uint32, bitcast=True),
                lambda x: tl.cast(x, tl.uint32, bitcast=True), (4, 8)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(METHOD_CASES))
def test_tensor_methods_are_the_tl_functions(name, new_list_writer):
    """``x.name(...)`` gives what ``tl.name(x, ...)`` gives, values and ops alike."""
    method, function, shape = METHOD_CASES[name]
    dtype = "uint32" if name == "bitcast" else "int32"
    by_method, by_function = new_list_writer(), new_list_writer()
    got = _run(lambda x, y: method(y % 7), shape, dtype, list_writer=by_method)
    want = _run(lambda x, y: function(y % 7), shape, dtype, list_writer=by_function)
    np.testing.assert_array_equal(got, want)
    ops = [[(r["op"], r["engine"]) for r in w.rows["ops"]] for w in (by_method, by_function)]
    assert ops[0] == ops[1]


def test_bitcast_is_a_free_view_of_the_same_bits(list_writer):
    """-1 read as uint32 is 2**32 - 1; a bitcast adds no op; sizes must match."""
    got = _run(lambda x, y: (y - y - 1).to(tl.uint32, bitcast=True), (4, 8), "uint32",
               list_writer=list_writer)  # fmt: skip
    assert (got == 2**32 - 1).all()
    assert [r["op"] for r in list_writer.rows["ops"] if r["engine"] == "MATH"] == ["sub", "sub"]

    @tl.jit
    def wrong_size(x_ptr):
        tl.load(x_ptr + tl.arange(0, 4)).to(tl.float16, bitcast=True)

    fails_clearly(wrong_size, r"bitcast=True\): float32 and float16 differ in size")


@tl.jit
def linear(
    x_ptr,
    w_ptr,
    y_ptr,
    M,
    N,
    K,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,  # noqa: N803
    BLOCK_K: tl.constexpr,
):  # noqa: N803
    """y = x @ w^T (nn.Linear): w is N x K row-major, read through a column-major block
    pointer as its K x N transpose."""
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    x_block = tl.make_block_ptr(x_ptr, shape=(M, K), strides=(K, 1),
                                offsets=(pid_m * BLOCK_M, 0), block_shape=(BLOCK_M, BLOCK_K),
                                order=(1, 0))  # fmt: skip
    wt_block = tl.make_block_ptr(w_ptr, shape=(K, N), strides=(1, K),
                                 offsets=(0, pid_n * BLOCK_N), block_shape=(BLOCK_K, BLOCK_N),
                                 order=(0, 1))  # fmt: skip
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for _ in range(0, K, BLOCK_K):
        acc += tl.dot(tl.load(x_block, boundary_check=(0, 1)),
                      tl.load(wt_block, boundary_check=(0, 1)))  # fmt: skip
        x_block = tl.advance(x_block, (0, BLOCK_K))
        wt_block = tl.advance(wt_block, (BLOCK_K, 0))
    yt_block = tl.make_block_ptr(y_ptr, shape=(N, M), strides=(1, N),
                                 offsets=(pid_n * BLOCK_N, pid_m * BLOCK_M),
                                 block_shape=(BLOCK_N, BLOCK_M), order=(0, 1))  # fmt: skip
    tl.store(yt_block, tl.trans(acc), boundary_check=(0, 1))  # y^T's column-major view is y


def test_column_major_block_pointers_read_and_write_transposes(list_writer):
    """nn.Linear's y = x @ w^T with w^T read, and y written, through order=(0, 1) block
    pointers over row-major tensors (ragged M, N and K): numpy's values; each w^T tile
    moves as the rows of w it holds (one DMA per memory, the tile's bytes)."""
    m, n, k, bm, bn, bk = 40, 24, 48, 16, 16, 32
    rng = np.random.default_rng(3)
    x_np, w_np = (rng.standard_normal(s).astype(np.float32) for s in ((m, k), (n, k)))
    rt = Runtime("default", verify_data=True, writer=list_writer)
    place = Placement.single(0)
    x, w = rt.from_numpy(x_np, placement=place), rt.from_numpy(w_np, placement=place)
    y = rt.zeros((m, n), "float32", place)
    rt.launch(linear, x, w, y, m, n, k, grid=(3, 2), pes=[0],
              BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk)  # fmt: skip
    rt.synchronize()
    np.testing.assert_allclose(y.numpy(), x_np @ w_np.T, rtol=1e-5, atol=1e-5)
    loads = [r for r in list_writer.rows["ops"] if r["op"] == "load"]
    # Per program: 2 K-steps, each an x tile and a w^T tile, clipped at the edges.
    expected = sum(min(bm, m - i * bm) * min(bk, k - s * bk) * 4
                   + min(bn, n - j * bn) * min(bk, k - s * bk) * 4
                   for i in range(3) for j in range(2) for s in range(2))  # fmt: skip
    assert sum(r["bytes"] for r in loads) == expected


def test_column_major_block_pointer_needs_its_strides():
    @tl.jit
    def no_strides(x_ptr):
        tl.make_block_ptr(x_ptr, shape=(10, 10), offsets=(0, 0), block_shape=(4, 4),
                          order=(0, 1))  # fmt: skip

    @tl.jit
    def rows_contiguous(x_ptr):
        tl.make_block_ptr(x_ptr, shape=(10, 10), strides=(10, 1), offsets=(0, 0),
                          block_shape=(4, 4), order=(0, 1))  # fmt: skip

    fails_clearly(no_strides, r"order=\(0, 1\) needs the shape and strides")
    fails_clearly(rows_contiguous, r"order=\(0, 1\) needs 2-D strides \(1, s\), got \(10, 1\)")


@tl.jit
def inplace_abs(in_out_ptr, M, N, M_BLOCK: tl.constexpr, N_BLOCK: tl.constexpr):  # noqa: N803
    """The example of Triton's make_tensor_descriptor docstring."""
    desc = tl.make_tensor_descriptor(
        in_out_ptr,
        shape=[M, N],
        strides=[N, 1],
        block_shape=[M_BLOCK, N_BLOCK],
    )

    moffset = tl.program_id(0) * M_BLOCK
    noffset = tl.program_id(1) * N_BLOCK

    value = desc.load([moffset, noffset])
    desc.store([moffset, noffset], tl.abs(value))


def test_tensor_descriptors_are_bounds_checked_block_pointers(new_list_writer):
    """Triton's example on a ragged 40 x 24 tensor in 16 x 16 blocks: numpy's abs; the
    same loads and stores, bytes and times as the block pointers with every dimension
    bounds-checked."""

    @tl.jit
    def with_block_pointers(x_ptr, M, N, M_BLOCK: tl.constexpr, N_BLOCK: tl.constexpr):  # noqa: N803
        offsets = (tl.program_id(0) * M_BLOCK, tl.program_id(1) * N_BLOCK)
        block = tl.make_block_ptr(x_ptr, (M, N), (N, 1), offsets, (M_BLOCK, N_BLOCK), (1, 0))
        tl.store(block, tl.abs(tl.load(block, boundary_check=(0, 1))), boundary_check=(0, 1))

    m, n = 40, 24
    x_np = np.random.default_rng(4).standard_normal((m, n)).astype(np.float32)
    rows = []
    for kernel in (inplace_abs, with_block_pointers):
        writer = new_list_writer()
        rt = Runtime("default", verify_data=True, writer=writer)
        x = rt.from_numpy(x_np, placement=Placement.single(0))
        rt.launch(kernel, x, m, n, grid=(3, 2), pes=[0], M_BLOCK=16, N_BLOCK=16)
        rt.synchronize()
        np.testing.assert_array_equal(x.numpy(), np.abs(x_np))
        rows.append(
            [(r["op"], r["bytes"], r["end_ns"] - r["start_ns"]) for r in writer.rows["ops"]]
        )
    assert rows[0] == rows[1]
    assert sum(b for op, b, _ in rows[0] if op == "load") == m * n * 4


@tl.jit
def add_blocks(x_ptr, M, N, BLOCK: tl.constexpr):  # noqa: N803
    desc = tl.make_tensor_descriptor(x_ptr, shape=[M, N], strides=[N, 1],
                                     block_shape=[BLOCK, BLOCK])  # fmt: skip
    rows = tl.program_id(0) * BLOCK
    cols = tl.program_id(1) * BLOCK
    value = tl.full((BLOCK, BLOCK), 1, tl.int32) * (tl.program_id(2) + 1)
    returned = desc.atomic_add([rows, cols], value)
    tl.static_assert(returned is None, "a descriptor's reduction returns nothing")


@tl.jit
def max_tail(x_ptr, BLOCK: tl.constexpr):  # noqa: N803
    desc = tl.make_tensor_descriptor(x_ptr, [10], [1], [BLOCK])
    desc.atomic_max([tl.program_id(0) * BLOCK], tl.arange(0, BLOCK) * 2 - 3)


def test_descriptor_reductions_update_the_block_inside_the_tensor(list_writer):
    """Three splits of each 16 x 16 block of a ragged 40 x 24 int32 tensor add 1, 2 and 3
    into it: every element gains 6, racing splits lose nothing, nothing outside moves;
    each reduction is one request op (its operands' bytes, inside the tensor) and no
    response. atomic_max of a 1-D descriptor past the end keeps the larger values."""
    m, n, block, splits = 40, 24, 16, 3
    x_np = np.arange(m * n, dtype=np.int32).reshape(m, n)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(x_np, placement=Placement.single(0))
    rt.launch(add_blocks, x, m, n, grid=(3, 2, splits), pes=[0, 1], BLOCK=block)
    rt.synchronize()
    np.testing.assert_array_equal(x.numpy(), x_np + sum(range(1, splits + 1)))
    atomics = [r for r in list_writer.rows["ops"] if r["op"] == "atomic_add"]
    assert {r["engine"] for r in atomics} == {"DMA_WB"} and len(atomics) == 3 * 2 * splits
    assert sum(r["bytes"] for r in atomics) == splits * m * n * 4

    y = rt.from_numpy(np.full(10, 4, np.int32), placement=Placement.single(0))
    rt.launch(max_tail, y, grid=(2,), pes=[0], BLOCK=8)
    rt.synchronize()
    lanes = np.tile(np.arange(8) * 2 - 3, 2)
    np.testing.assert_array_equal(y.numpy(), np.maximum(4, lanes[:10]))


def test_descriptor_padding_and_misuse():
    """A 1-D descriptor past the end reads its padding (NaN here); misuse is one error."""

    @tl.jit
    def tail(x_ptr, out_ptr):
        desc = tl.make_tensor_descriptor(x_ptr, [10], [1], [8], padding_option="nan")
        tl.store(out_ptr + tl.arange(0, 8), tl.load_tensor_descriptor(desc, [8]))

    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    x = rt.from_numpy(np.arange(10, dtype=np.float32), placement=place)
    out = rt.zeros((8,), "float32", place)
    rt.launch(tail, x, out, grid=(1,), pes=[0])
    rt.synchronize()
    got = out.numpy()
    assert got[:2].tolist() == [8.0, 9.0] and np.isnan(got[2:]).all()

    @tl.jit
    def strided_rows(x_ptr):
        tl.make_tensor_descriptor(x_ptr, [10, 10], [1, 10], [4, 4])

    @tl.jit
    def wrong_offsets(x_ptr):
        tl.make_tensor_descriptor(x_ptr, [10, 10], [10, 1], [4, 4]).load([0])

    fails_clearly(strided_rows, r"the last stride must be 1, got \(1, 10\)")
    fails_clearly(wrong_offsets, r"tensor descriptor of x: 1 offsets for a 2-D tensor")


@tl.jit
def heads_scaled(q_ptr, o_ptr, acc_ptr, Z, H, N_CTX, D: tl.constexpr,  # noqa: N803
                 BLOCK_M: tl.constexpr):  # noqa: N803  # fmt: skip
    # Attention's [Z, H, N_CTX, D] descriptors, one head per program on axis 1.
    start_m, off_hz = tl.program_id(0), tl.program_id(1)
    z, h = off_hz // H, off_hz % H
    shape, strides = [Z, H, N_CTX, D], [H * N_CTX * D, N_CTX * D, D, 1]
    desc_q = tl.make_tensor_descriptor(q_ptr, shape, strides, [1, 1, BLOCK_M, D])
    desc_o = tl.make_tensor_descriptor(o_ptr, shape, strides, [1, 1, BLOCK_M, D])
    desc_acc = tl.make_tensor_descriptor(acc_ptr, [Z * H, N_CTX, D], [N_CTX * D, D, 1],
                                         [1, BLOCK_M, D])  # fmt: skip
    q = desc_q.load([z, h, start_m * BLOCK_M, 0]).reshape(BLOCK_M, D)
    desc_o.store([z, h, start_m * BLOCK_M, 0], (q * 2 + 1).reshape(1, 1, BLOCK_M, D))
    desc_acc.atomic_add([off_hz, start_m * BLOCK_M, 0], q.reshape(1, BLOCK_M, D))
    beyond = desc_q.load([Z, h, 0, 0])  # a head past the tensor: all padding
    tl.device_assert(tl.sum(tl.abs(beyond.reshape(BLOCK_M * D))) == 0)


def test_descriptors_of_more_than_two_dims_take_one_matrix_at_a_time(list_writer):
    """4-D and 3-D descriptors with blocks [1, 1, BLOCK_M, D]: each program loads its
    head's rows (the last block of each head clipped at N_CTX, not spilling into the
    next head), stores and atomically adds them, against numpy; the DMAs move only the
    elements inside; leading block dims past 1 are one clear error."""
    z_len, heads, n_ctx, d, block_m = 2, 3, 10, 8, 4
    q_np = np.arange(z_len * heads * n_ctx * d, dtype=np.float32).reshape(-1, d)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    place = Placement.single(0)
    q = rt.from_numpy(q_np, place)
    o = rt.from_numpy(np.full(q_np.shape, -1.0, np.float32), place)
    acc = rt.from_numpy(np.ones(q_np.shape, np.float32), place)
    launch = rt.launch(heads_scaled, q, o, acc, z_len, heads, n_ctx, D=d, BLOCK_M=block_m,
                       grid=(3, z_len * heads), pes=[0, 1])  # fmt: skip
    rt.synchronize()
    np.testing.assert_array_equal(o.numpy(), q_np * 2 + 1)
    np.testing.assert_array_equal(acc.numpy(), q_np + 1)
    dmas = [r for r in list_writer.rows["dma"] if r["launch_id"] == launch.launch_id]
    assert sum(r["bytes"] for r in dmas if r["kind"] == "load") == q_np.nbytes
    assert sum(r["bytes"] for r in dmas if r["kind"] == "store") == q_np.nbytes


@tl.jit
def batched_matmul(a_ptr, b_ptr, c_ptr, B, M, N, K, BM: tl.constexpr,  # noqa: N803
                   BN: tl.constexpr, BK: tl.constexpr):  # noqa: N803  # fmt: skip
    # 3-D block pointers over (B, M, K) x (B, K, N), one (batch, M tile, N tile) per program.
    pid_m, pid_n, batch = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    a = tl.make_block_ptr(a_ptr, (B, M, K), (M * K, K, 1), (batch, pid_m * BM, 0),
                          (1, BM, BK), (2, 1, 0))  # fmt: skip
    b = tl.make_block_ptr(b_ptr, (B, K, N), (K * N, N, 1), (batch, 0, pid_n * BN),
                          (1, BK, BN), (2, 1, 0))  # fmt: skip
    acc = tl.zeros((BM, BN), tl.float32)
    for _ in range(tl.cdiv(K, BK)):
        a_tile = tl.load(a, boundary_check=(1, 2)).reshape(BM, BK)
        acc += tl.dot(a_tile, tl.load(b, boundary_check=(1, 2)).reshape(BK, BN))
        a, b = tl.advance(a, (0, 0, BK)), tl.advance(b, (0, BK, 0))
    c = tl.make_block_ptr(c_ptr, (B, M, N), (M * N, N, 1), (batch, pid_m * BM, pid_n * BN),
                          (1, BM, BN), (2, 1, 0))  # fmt: skip
    tl.store(c, acc.reshape(1, BM, BN), boundary_check=(0, 1, 2))
    beyond = tl.load(tl.advance(c, (B, 0, 0)), boundary_check=(0, 1, 2))  # past the batches
    tl.device_assert(tl.sum(tl.abs(beyond.reshape(BM * BN))) == 0)


def test_block_pointers_of_three_dims_take_one_matrix_at_a_time():
    """A batched matmul through 3-D block pointers (blocks (1, BM, BK)), ragged in M, N
    and K, advanced along K: against numpy's batched matmul; a block past the batches
    reads as padding; an unlisted dim and leading block dims past 1 fail clearly."""
    batches, m, n, k = 3, 20, 12, 40
    rng = np.random.default_rng(3)
    a_np = rng.standard_normal((batches, m, k)).astype(np.float32)
    b_np = rng.standard_normal((batches, k, n)).astype(np.float32)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    a, b = rt.from_numpy(a_np.reshape(-1, k), place), rt.from_numpy(b_np.reshape(-1, n), place)
    c = rt.zeros((batches * m, n), "float32", place)
    rt.launch(batched_matmul, a, b, c, batches, m, n, k, BM=16, BN=8, BK=16,
              grid=(2, 2, batches), pes=[0, 1])  # fmt: skip
    rt.synchronize()
    np.testing.assert_allclose(c.numpy().reshape(batches, m, n), a_np @ b_np, rtol=1e-5,
                               atol=1e-5)  # fmt: skip

    @tl.jit
    def unlisted(x_ptr):
        p = tl.make_block_ptr(x_ptr, (2, 5, 10), (50, 10, 1), (0, 4, 0), (1, 4, 8), (2, 1, 0))
        tl.load(p, boundary_check=(0, 2))

    fails_clearly(unlisted, r"tl\.load: block at offsets \(0, 4, 0\) with block_shape "
                  r"\(1, 4, 8\) reaches past dim 1 of x")  # fmt: skip


@tl.jit
def batched_tiles(a_ptr, b_ptr, c_ptr, d_ptr, B, M, N, K, BB: tl.constexpr,  # noqa: N803
                  BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):  # noqa: N803  # fmt: skip
    # (BB, BM, BK) blocks: BB matrices a program, multiplied by a batched (3-D) tl.dot.
    first = tl.program_id(0) * BB
    a = tl.make_block_ptr(a_ptr, (B, M, K), (M * K, K, 1), (first, 0, 0), (BB, BM, BK),
                          (2, 1, 0))  # fmt: skip
    b = tl.make_block_ptr(b_ptr, (B, K, N), (K * N, N, 1), (first, 0, 0), (BB, BK, BN),
                          (2, 1, 0))  # fmt: skip
    acc = tl.zeros((BB, BM, BN), tl.float32)
    for _ in range(tl.cdiv(K, BK)):
        acc = tl.dot(tl.load(a, boundary_check=(0, 1, 2), padding_option="zero"),
                     tl.load(b, boundary_check=(0, 1, 2), padding_option="zero"), acc)  # fmt: skip
        a, b = tl.advance(a, (0, 0, BK)), tl.advance(b, (0, BK, 0))
    c = tl.make_block_ptr(c_ptr, (B, M, N), (M * N, N, 1), (first, 0, 0), (BB, BM, BN),
                          (2, 1, 0))  # fmt: skip
    tl.store(c, acc, boundary_check=(0, 1, 2))
    desc = tl.make_tensor_descriptor(d_ptr, [B, M, N], [M * N, N, 1], [BB, BM, BN])
    desc.store([first, 0, 0], desc.load([first, 0, 0]) + acc)  # d + a @ b, cast to fp16


def test_blocks_of_several_matrices_load_and_store_every_matrix_tile(list_writer):
    """Blocks (2, 32, 16) over 5 batches of ragged 20 x 40 by 40 x 12 matrices: each
    program's batched dot of 2 matrices matches numpy, the third program's second matrix
    (batch 5) is padding and is not stored, a descriptor's block of 2 matrices loads and
    stores (casting to float16); each load is one op moving exactly the bytes inside the
    tensor."""
    batches, m, n, k = 5, 20, 12, 40
    rng = np.random.default_rng(11)
    a_np = rng.standard_normal((batches, m, k)).astype(np.float32)
    b_np = rng.standard_normal((batches, k, n)).astype(np.float32)
    d_np = rng.standard_normal((batches, m, n)).astype(np.float16)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    place = Placement.single(0)
    a, b = rt.from_numpy(a_np, place), rt.from_numpy(b_np, place)
    c, d = rt.zeros((batches, m, n), "float32", place), rt.from_numpy(d_np, place)
    launch = rt.launch(batched_tiles, a, b, c, d, batches, m, n, k, BB=2, BM=32, BN=16, BK=16,
                       grid=(3,), pes=[0, 1])  # fmt: skip
    rt.synchronize()
    product = a_np @ b_np
    np.testing.assert_allclose(c.numpy(), product, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d.numpy(), (d_np + product).astype(np.float16), rtol=2e-3,
                               atol=2e-3)  # fmt: skip
    ops = [r for r in list_writer.rows["ops"] if r["launch_id"] == launch.launch_id]
    # One load op per block: a and b at 3 K steps in 3 programs, the descriptor's once.
    assert sum(r["op"] == "load" for r in ops) == 3 * 3 * 2 + 3
    assert sum(r["op"] == "store" for r in ops) == 3 + 3
    dmas = [r for r in list_writer.rows["dma"] if r["launch_id"] == launch.launch_id]
    loaded = sum(r["bytes"] for r in dmas if r["kind"] == "load")
    stored = sum(r["bytes"] for r in dmas if r["kind"] == "store")
    assert loaded == a_np.nbytes + b_np.nbytes + d_np.nbytes  # padding moves nothing
    assert stored == product.nbytes + d_np.nbytes


@tl.jit
def matmul_tma(a_desc, b_desc, c_desc, M, N, K, BLOCK_M: tl.constexpr,  # noqa: N803
               BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # noqa: N803  # fmt: skip
    # Tutorial 09's shape: descriptors built on the host, their blocks set by a pre_hook.
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = a_desc.load([pid_m * BLOCK_M, k * BLOCK_K])
        b = b_desc.load([k * BLOCK_K, pid_n * BLOCK_N])
        acc = tl.dot(a, b, acc)
    c_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(tl.float16))


def _set_blocks(nargs):
    """Tutorial 09's pre_hook: each config sets the descriptors' block shapes."""
    bm, bn, bk = nargs["BLOCK_M"], nargs["BLOCK_N"], nargs["BLOCK_K"]
    nargs["a_desc"].block_shape = [bm, bk]
    nargs["b_desc"].block_shape = [bk, bn]
    nargs["c_desc"].block_shape = [bm, bn]


def test_host_tensor_descriptors_passed_to_an_autotuned_kernel():
    """``TensorDescriptor.from_tensor`` (triton.tools.tensor_descriptor) passed to an
    autotuned matmul whose pre_hook sets each config's block shapes, ragged in M, N, K:
    against numpy; each program sees the descriptor over the whole tensor."""
    from simulator.triton.tools.tensor_descriptor import TensorDescriptor

    configs = [triton.Config({"BLOCK_M": bm, "BLOCK_N": 16, "BLOCK_K": 16}, pre_hook=_set_blocks)
               for bm in (16, 32)]  # fmt: skip
    tuned = triton.autotune(configs, key=["M", "N", "K"])(matmul_tma)
    m, n, k = 40, 24, 56
    rng = np.random.default_rng(9)
    a_np = rng.standard_normal((m, k)).astype(np.float16)
    b_np = rng.standard_normal((k, n)).astype(np.float16)
    rt = Runtime("default", verify_data=True)
    a, b = rt.from_numpy(a_np), rt.from_numpy(b_np)
    c = rt.zeros((m, n), "float16")
    dummy = [1, 1]
    descs = [TensorDescriptor(t, list(t.shape), list(t.stride()), dummy) for t in (a, b, c)]
    assert descs[0] == TensorDescriptor.from_tensor(a, dummy)
    tuned[lambda meta: (triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(n, meta["BLOCK_N"]))](
        *descs, m, n, k
    )
    rt.synchronize()
    expected = (a_np.astype(np.float32) @ b_np.astype(np.float32)).astype(np.float16)
    np.testing.assert_allclose(c.numpy().astype(np.float32), expected.astype(np.float32),
                               rtol=2e-2, atol=2e-2)  # fmt: skip
    assert descs[0].block_shape == [tuned.best_config.kwargs["BLOCK_M"], 16]


@tl.jit
def rows_from_pointer(x_ptr, y_ptr, N, stride, BLOCK: tl.constexpr, BASE: tl.constexpr):  # noqa: N803
    row = tl.program_id(0)
    if BASE:  # Triton's tutorials: a block pointer at the row's first element
        src = tl.make_block_ptr(base=x_ptr + row * stride, shape=(2, N), strides=(stride, 1),
                                offsets=(0, 0), block_shape=(2, BLOCK), order=(1, 0))  # fmt: skip
        dst = tl.make_tensor_descriptor(y_ptr + row * stride, shape=[2, N], strides=[stride, 1],
                                        block_shape=[2, BLOCK])  # fmt: skip
        dst.store([0, 0], tl.load(src, boundary_check=(0, 1)) * 2)
    else:  # the same tile addressed from the tensor's start
        src = tl.make_block_ptr(base=x_ptr, shape=(row + 2, N), strides=(stride, 1),
                                offsets=(row, 0), block_shape=(2, BLOCK), order=(1, 0))  # fmt: skip
        dst = tl.make_block_ptr(base=y_ptr, shape=(row + 2, N), strides=(stride, 1),
                                offsets=(row, 0), block_shape=(2, BLOCK), order=(1, 0))  # fmt: skip
        tl.store(dst, tl.load(src, boundary_check=(0, 1)) * 2, boundary_check=(0, 1))


def test_block_pointers_and_descriptors_start_at_a_scalar_pointer(new_list_writer):
    """``make_block_ptr(base=x_ptr + row * stride, ...)`` and a descriptor at ``y_ptr + row
    * stride`` over a tensor sharded on 8 PEs (so the pair of rows may span two shards):
    the values numpy gives, and the same ops, bytes and times as the same tiles addressed
    from the tensor's first element."""
    rows, n, block = 64, 48, 64
    x_np = np.random.default_rng(5).standard_normal((rows, n)).astype(np.float32)
    traces = []
    for base in (True, False):
        writer = new_list_writer()
        rt = Runtime("default", verify_data=True, writer=writer)
        place = Placement(pes=tuple(range(8)))
        x = rt.from_numpy(x_np, placement=place)
        y = rt.zeros((rows, n), "float32", place)
        rt.launch(rows_from_pointer, x, y, n, n, grid=(rows - 1,), pes=[0, 3], BLOCK=block,
                  BASE=base)  # fmt: skip
        rt.synchronize()
        np.testing.assert_array_equal(y.numpy(), 2 * x_np)
        traces.append(
            [(r["op"], r["bytes"], r["start_ns"], r["end_ns"]) for r in writer.rows["ops"]]
        )
        traces.append(sorted((r["src"], r["dst"], r["bytes"]) for r in writer.rows["dma"]
                             if r["kind"] != "launch_msg"))  # fmt: skip
    assert traces[0] == traces[2] and traces[1] == traces[3]


def test_a_block_pointer_base_must_be_one_pointer_inside_the_tensor():
    @tl.jit
    def block_of_pointers(x_ptr):
        tl.make_block_ptr(x_ptr + tl.arange(0, 4), (4,), (1,), (0,), (4,), (0,))

    @tl.jit
    def past_the_end(x_ptr):
        tl.make_block_ptr(x_ptr + 100, (4,), (1,), (0,), (4,), (0,))

    fails_clearly(block_of_pointers, r"make_block_ptr needs a tensor argument or a scalar "
                  r"pointer into one, got pointer\(.*shape=\(4,\)\)")  # fmt: skip
    fails_clearly(past_the_end, r"pointer to element 100 is outside .* \(100 elements\)")


def test_umulhi_of_64_bit_integers_is_the_unsigned_high_word():
    """tl.umulhi of int64 and uint64 tiles: the high 64 bits of the 128-bit unsigned
    products (Python integers), in the tiles' dtype."""

    @tl.jit
    def high(a_ptr, b_ptr, ua_ptr, out_ptr, uout_ptr):
        offs = tl.arange(0, 4)
        tl.store(out_ptr + offs, tl.umulhi(tl.load(a_ptr + offs), tl.load(b_ptr + offs)))
        tl.store(uout_ptr + offs, tl.umulhi(tl.load(ua_ptr + offs), 0xD2E7470EE14C6C93))

    a = np.array([-1, 2**62 + 12345, -(2**63), 7], np.int64)
    b = np.array([-1, 2**40 + 3, 3, -5], np.int64)
    ua = np.array([2**64 - 1, 2**63, 12345, 0], np.uint64)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    args = [rt.from_numpy(v, place) for v in (a, b, ua)]
    out, uout = rt.zeros((4,), "int64", place), rt.zeros((4,), "uint64", place)
    rt.launch(high, *args, out, uout, grid=(1,), pes=[0])
    rt.synchronize()
    assert out.numpy().tolist() == _unsigned_high(a, b).tolist()
    expected = [int(v) * 0xD2E7470EE14C6C93 >> 64 for v in ua]
    assert uout.numpy().tolist() == expected


def test_trans_with_dims_is_permute_and_expand_dims_takes_axes():
    """tl.trans(x, 2, 0, 1) of a 3-D tile is tl.permute's (numpy's transpose), and
    tl.expand_dims takes a tuple of axes; out-of-range or repeated axes and a 3-D trans
    without dims fail clearly."""

    @tl.jit
    def shapes(x_ptr, out_ptr, flat_ptr):
        offs = tl.arange(0, 2)[:, None, None] * 16 + tl.arange(0, 4)[None, :, None] * 4
        x = tl.load(x_ptr + offs + tl.arange(0, 4)[None, None, :])
        t = tl.trans(x, 2, 0, 1)
        tl.store(out_ptr + tl.arange(0, 32), tl.reshape(t, (32,)))
        wide = tl.expand_dims(tl.arange(0, 4), (0, 2))
        tl.static_assert(wide.shape == (1, 4, 1))
        tl.store(flat_ptr + tl.arange(0, 4), tl.reshape(wide, (4,)))

    x = np.arange(32, dtype=np.float32)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    out, flat = rt.zeros((32,), "float32", place), rt.zeros((4,), "int32", place)
    rt.launch(shapes, rt.from_numpy(x, place), out, flat, grid=(1,), pes=[0])
    rt.synchronize()
    assert out.numpy().tolist() == np.transpose(x.reshape(2, 4, 4), (2, 0, 1)).ravel().tolist()
    assert flat.numpy().tolist() == [0, 1, 2, 3]

    @tl.jit
    def repeated(x_ptr):
        tl.expand_dims(tl.arange(0, 4), (0, 0))

    @tl.jit
    def beyond(x_ptr):
        tl.expand_dims(tl.arange(0, 4), 5)

    @tl.jit
    def bare(x_ptr):
        tl.trans(tl.reshape(tl.arange(0, 8), (2, 2, 2)))

    fails_clearly(repeated, r"tl\.expand_dims: axes \(0, 0\) are out of range or repeated")
    fails_clearly(beyond, r"tl\.expand_dims: axes \(5,\) are out of range or repeated")
    fails_clearly(bare, r"tl\.trans without dims needs a 2-D tile, got shape \(2, 2, 2\)")


def test_broadcast_gives_both_tiles_at_their_common_shape():
    """tl.broadcast(a, b), as Triton's: a column and a row become two 4 x 8 tiles (numpy's
    broadcast_arrays); a number stays a number; shapes that do not broadcast fail
    clearly. The dtypes are instances of tl.dtype."""

    def body(x, y):
        column, row = tl.broadcast(tl.sum(x, axis=1)[:, None], tl.max(y, axis=0)[None, :])
        same, number = tl.broadcast(x, 3)
        assert column.shape == row.shape == (ROWS, COLS) and number == 3 and same is x
        assert isinstance(column.dtype, tl.dtype)
        return column * 1000 + row

    column, row = np.broadcast_arrays(X.sum(axis=1)[:, None], Y.max(axis=0)[None, :])
    np.testing.assert_array_equal(_run(body, (ROWS, COLS)), column * 1000 + row)

    @tl.jit
    def mismatched(x_ptr):
        tl.broadcast(tl.arange(0, 4), tl.arange(0, 8))

    fails_clearly(mismatched, match=r"tl\.broadcast: shapes \[\(4,\), \(8,\)\] do not broadcast")


def test_numel_get_int_dtype_and_the_standard_module_as_triton_s():
    """What ports of Triton's own library code use: ``x.numel`` is a constexpr (shapes
    computed from it), ``core.get_int_dtype`` names integer dtypes by width for bitcasts,
    and ``tl.standard`` has ``_log2`` and the reductions."""
    from simulator.language import core
    from simulator.language.standard import _is_power_of_two, _log2, zeros_like
    from simulator.language.standard import sum as standard_sum

    def body(x, y):
        n_outer: tl.constexpr = x.numel >> _log2(COLS)
        assert n_outer == ROWS and isinstance(x.numel, tl.constexpr)
        assert _is_power_of_two(COLS) and not _is_power_of_two(6)
        pairs = tl.reshape(y, (x.numel // 2, 2))
        bits = core.get_int_dtype(bitwidth=32, signed=False)
        as_float = x.to(tl.float32).to(bits, bitcast=True)  # float32 bits, by width
        halves = standard_sum(pairs, axis=1) + zeros_like(tl.sum(pairs, axis=1))
        high = tl.reshape((as_float >> 16).to(tl.int32), (ROWS, 2, COLS // 2)).sum(1)
        return tl.join(tl.reshape(halves, (ROWS, COLS // 2)), high)

    halves = Y.reshape(-1, 2).sum(axis=1).reshape(ROWS, COLS // 2)
    high = (X.astype(np.float32).view(np.uint32) >> 16).astype(np.int32)
    expected = np.stack([halves, high.reshape(ROWS, 2, COLS // 2).sum(axis=1)], axis=-1)
    np.testing.assert_array_equal(_run(body, (ROWS, COLS // 2, 2)), expected)
    widths = ((1, True), (8, True), (16, False), (64, True))
    assert [core.get_int_dtype(w, s) for w, s in widths] == [tl.int1, tl.int8, tl.uint16, tl.int64]


def test_reduce_or_xor_sum_of_bools_and_the_cdiv_method():
    """tl.reduce_or and tl.xor_sum (of int and bool tiles, as Triton's standard takes
    them) against numpy's bitwise reductions; ``x.cdiv(3)`` is Triton's ceiling
    division member."""

    def body(x, y):
        ors = tl.reduce_or(x & 0xF0, axis=1)
        parity = (y > 0).xor_sum(axis=1).to(tl.int32)
        ceil = tl.sum(tl.abs(x).cdiv(3), axis=1)
        return tl.join(ors + parity * 1000, ceil)

    ors = np.bitwise_or.reduce(X & 0xF0, axis=1)
    parity = np.bitwise_xor.reduce(Y > 0, axis=1).astype(np.int32)
    ceil = (-(-np.abs(X) // 3)).sum(axis=1)
    expected = np.stack([ors + parity * 1000, ceil], axis=-1)
    np.testing.assert_array_equal(_run(body, (ROWS, 2)), expected)
    assert tl.TRITON_MAX_TENSOR_NUMEL == 2**20


def test_an_index_with_more_colons_than_axes_walks_as_triton_s():
    """Triton's tile index adds an axis at each None and lets ':' past the tile's axes
    be (xformers' ``x[:, :, None, :] >> shifts`` of a 2-D tile): shape (R, C, 1)."""

    def body(x, y):
        widened = x[:, :, None, :]
        assert widened.shape == (ROWS, COLS, 1)
        return tl.reshape(widened + y[:, :, None], (ROWS, COLS))

    np.testing.assert_array_equal(_run(body, (ROWS, COLS)), X + Y)


def test_a_block_of_matrices_before_the_tensor_counts_only_the_matrices_inside(list_writer):
    """A (2, 16, 16) block at batch offset -1 of a 1-matrix tensor: the first matrix is
    padding, the second the tensor's; the batched dot's FLOPs are those of the one
    matrix inside (2 * 16**3) and its product is numpy's, after a zero matrix."""

    @tl.jit
    def square(x_ptr, y_ptr):
        x = tl.make_block_ptr(x_ptr, (1, 16, 16), (256, 16, 1), (-1, 0, 0), (2, 16, 16),
                              (2, 1, 0))  # fmt: skip
        tile = tl.load(x, boundary_check=(0, 1, 2), padding_option="zero")
        product = tl.dot(tile, tile)
        tl.store(y_ptr + tl.arange(0, 512), tl.reshape(product, (512,)))

    rng = np.random.default_rng(5)
    x_np = rng.standard_normal((1, 16, 16)).astype(np.float32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(x_np, Placement.single(0))
    y = rt.zeros((512,), "float32", Placement.single(0))
    rt.launch(square, x, y, grid=(1,), pes=[0])
    out = y.numpy().reshape(2, 16, 16)
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_allclose(out[1], x_np[0] @ x_np[0], rtol=1e-5, atol=1e-5)
    (dot,) = [r for r in list_writer.rows["ops"] if r["op"] == "dot"]
    assert dot["flops"] == 2 * 16**3
