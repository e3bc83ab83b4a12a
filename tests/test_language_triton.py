"""tl at Triton parity: grids, pointers with masks, broadcasting, clear errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_checks import fails_clearly

import simulator.language as tl
import simulator.triton as triton
from simulator.engine.errors import LaunchError
from simulator.engine.launch import grid_programs
from simulator.hw.topology import load_topology
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime


@tl.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):  # noqa: N803
    pid = tl.program_id(axis=0)
    offsets = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(output_ptr + offsets, x + y, mask=mask)


def test_vector_add_grid_with_ragged_tail_matches_numpy_and_moves_masked_bytes(list_writer):
    """n not a multiple of the block: values equal numpy, and the DMAs move exactly the
    bytes the masks let through (3 x n x 4), none for masked-off elements."""
    n, block = 1000, 128
    rng = np.random.default_rng(0)
    x_np, y_np = rng.random(n, np.float32), rng.random(n, np.float32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x, y = rt.from_numpy(x_np), rt.from_numpy(y_np)
    out = rt.zeros((n,), "float32")
    add_kernel[lambda meta: (tl.cdiv(meta["n_elements"], meta["BLOCK_SIZE"]),)](
        x, y, out, n, BLOCK_SIZE=block
    )
    np.testing.assert_array_equal(out.numpy(), x_np + y_np)
    launch_id = list_writer.rows["launches"][0]["launch_id"]
    dmas = [d for d in list_writer.rows["dma"] if d["launch_id"] == launch_id]
    loads = sum(d["bytes"] for d in dmas if d["kind"] == "load")
    stores = sum(d["bytes"] for d in dmas if d["kind"] == "store")
    assert (loads, stores) == (2 * n * 4, n * 4)
    ops = [o for o in list_writer.rows["ops"] if o["launch_id"] == launch_id]
    assert sum(o["bytes"] for o in ops if o["op"] == "load") == 2 * n * 4


def _record_ids(grid, n_pes=3):
    seen = []

    @tl.jit
    def who(x_ptr):
        seen.append(
            (tuple(tl.program_id(a) for a in range(3)), tuple(tl.num_programs(a) for a in range(3)))
        )

    rt = Runtime("default")
    x = rt.zeros((4,), "float32", Placement.single(0))
    launch = rt.launch(who, x, grid=grid, pes=list(range(n_pes)))
    rt.synchronize()
    return seen, launch


@pytest.mark.parametrize("grid", [(7,), (3, 5), (2, 3, 4)])
def test_program_ids_follow_the_grid_as_triton(grid):
    """1-D/2-D/3-D grids: every program id of the grid exactly once, num_programs = grid;
    programs run on PEs in Triton's linear order (axis 0 fastest), round-robin."""
    seen, launch = _record_ids(grid)
    full = (*grid, 1, 1)[:3]
    expected = {(x, y, z) for z in range(full[2]) for y in range(full[1]) for x in range(full[0])}
    assert sorted(pid for pid, _ in seen) == sorted(expected)
    assert {num for _, num in seen} == {full}
    for program in launch.programs:
        x, y, z = program.program_id
        linear = x + y * full[0] + z * full[0] * full[1]
        assert program.rank == linear
        assert program.pe.coord.pe_global == linear % 3


def test_grid_larger_than_pe_count_runs_every_program_once(list_writer):
    """A 100-program grid on 8 PEs: the programs table holds each program once, on PE
    ``linear % 8``, and each PE's pe_exec spans its programs."""
    rt = Runtime("default", writer=list_writer)
    x = rt.zeros((100 * 16,), "float32")
    out = rt.zeros((100 * 16,), "float32")
    rt.launch(add_kernel, x, x, out, 100 * 16, grid=(100,), pes=range(8), BLOCK_SIZE=16)
    rt.synchronize()
    rows = list_writer.rows["programs"]
    assert sorted(r["program"] for r in rows) == list(range(100))
    assert all(r["pe_global"] == r["program"] % 8 for r in rows)
    assert all(r["end_ns"] >= r["start_ns"] for r in rows)
    pe_exec = {r["pe_global"]: r for r in list_writer.rows["pe_exec"]}
    assert sorted(pe_exec) == list(range(8))
    for r in rows:
        assert pe_exec[r["pe_global"]]["exec_start_ns"] <= r["start_ns"]
        assert r["end_ns"] <= pe_exec[r["pe_global"]]["exec_end_ns"]
    (launch,) = list_writer.rows["launches"]
    assert launch["grid"] == "100x1x1" and launch["n_pes"] == 8


def test_grid_smaller_than_pe_count_uses_first_pes():
    assert grid_programs((2, 1, 1), 5) == [[(0, (0, 0, 0))], [(1, (1, 0, 0))]]


def test_callable_grid_sees_meta_parameters():
    """The grid callable gets every argument by name, constexprs included."""
    got = {}

    def grid(meta):
        got.update(meta)
        return (meta["n"] // meta["BLOCK"],)

    @tl.jit
    def k(x_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
        pass

    rt = Runtime("default")
    x = rt.zeros((64,), "float32", Placement.single(0))
    launch = k[grid](x, 64, BLOCK=16, num_warps=4)
    rt.synchronize()
    assert got["n"] == 64 and got["BLOCK"] == 16 and got["x_ptr"] is x
    assert len(launch.programs) == 4


def test_pointer_into_another_pes_shard_is_a_remote_dma(list_writer):
    """A tensor row-sharded over PEs 0 and 5 is one range of elements: a program on PE 0
    loading from the second half reads PE 5's HBM slice over the network."""
    rt = Runtime("default", verify_data=True, writer=list_writer)
    values = np.arange(256, dtype=np.float32).reshape(2, 128)
    x = rt.from_numpy(values, Placement(pes=(0, 5)))
    out = rt.zeros((128,), "float32", Placement.single(0))

    @tl.jit
    def copy_second_row(x_ptr, out_ptr):
        offs = tl.arange(0, 128)
        tl.store(out_ptr + offs, tl.load(x_ptr + 128 + offs))

    rt.launch(copy_second_row, x, out, grid=(1,), pes=[0])
    np.testing.assert_array_equal(out.numpy(), values[1])
    launch_id = list_writer.rows["launches"][-1]["launch_id"]
    (load,) = [
        d for d in list_writer.rows["dma"] if d["launch_id"] == launch_id and d["kind"] == "load"
    ]
    assert (load["src_pe"], load["dst_pe"], load["bytes"]) == (5, 0, 512)
    assert load["src_space"] == "HBM" and load["hops"] >= 2


def test_column_sharded_tensor_reads_row_major_across_shards():
    """Element numbering is row-major over the whole tensor whatever the placement."""
    rt = Runtime("default", verify_data=True)
    values = np.arange(4 * 64, dtype=np.float32).reshape(4, 64)
    x = rt.from_numpy(values, Placement(layout="col", pes=(0, 1, 2, 3)))
    out = rt.zeros((4, 64), "float32", Placement.single(0))

    @tl.jit
    def copy(x_ptr, out_ptr):
        r = tl.arange(0, 4)[:, None]
        c = tl.arange(0, 64)[None, :]
        tl.store(out_ptr + r * 64 + c, tl.load(x_ptr + r * 64 + c) * 2.0)

    rt.launch(copy, x, out, grid=(1,), pes=[7])
    np.testing.assert_array_equal(out.numpy(), values * 2)


def test_gather_of_scattered_elements_is_one_dma_per_run(list_writer):
    """Every other element: 16 runs of one element each -> 16 DMAs of 4 bytes."""
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(np.arange(64, dtype=np.float32), Placement.single(0))
    out = rt.zeros((16,), "float32", Placement.single(0))

    @tl.jit
    def strided(x_ptr, out_ptr):
        offs = tl.arange(0, 16)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs * 2))

    rt.launch(strided, x, out, grid=(1,), pes=[0])
    np.testing.assert_array_equal(out.numpy(), np.arange(0, 32, 2, dtype=np.float32))
    launch_id = list_writer.rows["launches"][-1]["launch_id"]
    loads = [
        d for d in list_writer.rows["dma"] if d["launch_id"] == launch_id and d["kind"] == "load"
    ]
    assert len(loads) == 16 and {d["bytes"] for d in loads} == {4}


# -- values against numpy on random shapes ------------------------------------------------
def _run_on_values(kernel, inputs, out_shape, out_dtype="float32"):
    rt = Runtime("default", verify_data=True)
    tensors = [rt.from_numpy(a, Placement.single(0)) for a in inputs]
    out = rt.zeros(out_shape, out_dtype, Placement.single(0))
    rt.launch(kernel, *tensors, out, grid=(1,), pes=[0])
    return out.numpy()


pow2 = st.sampled_from([1, 2, 4, 8, 16])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=pow2, n=pow2, seed=st.integers(0, 2**16), op=st.sampled_from(["add", "mul", "max"]))
def test_broadcasting_matches_numpy(m, n, seed, op):
    """(m, 1) with (1, n) via x[:, None] and y[None, :] broadcasts like numpy."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(m).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    fns = {"add": np.add, "mul": np.multiply, "max": np.maximum}
    tl_fns = {"add": lambda p, q: p + q, "mul": lambda p, q: p * q, "max": tl.maximum}

    def kernel(a_ptr, b_ptr, out_ptr):
        ra, rb = tl.arange(0, m), tl.arange(0, n)
        va, vb = tl.load(a_ptr + ra), tl.load(b_ptr + rb)
        res = tl_fns[op](va[:, None], vb[None, :])
        tl.store(out_ptr + ra[:, None] * n + rb[None, :], res)

    got = _run_on_values(kernel, [a, b], (m, n))
    np.testing.assert_array_equal(got, fns[op](a[:, None], b[None, :]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=pow2,
    n=pow2,
    axis=st.sampled_from([0, 1, None]),
    keep=st.booleans(),
    red=st.sampled_from(["sum", "max", "min", "argmax"]),
    seed=st.integers(0, 2**16),
)
def test_reductions_with_keep_dims_match_numpy(m, n, axis, keep, red, seed):
    """sum/max/min/argmax over an axis (or all), keep_dims or not: numpy's values and
    shapes; a kept axis broadcasts back against the tile (x - max(x, keep_dims))."""
    if red == "argmax" and axis is None:
        axis = 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, n)).astype(np.float32)
    ref_fn = {"sum": np.sum, "max": np.max, "min": np.min, "argmax": np.argmax}[red]
    ref = np.asarray(ref_fn(x, axis=axis, keepdims=keep))
    shapes = []

    def kernel(x_ptr, out_ptr):
        r, c = tl.arange(0, m)[:, None], tl.arange(0, n)[None, :]
        v = tl.load(x_ptr + r * n + c)
        res = getattr(tl, red)(v, axis=axis, keep_dims=keep)
        shapes.append(res.shape)
        if keep:
            res = v - res.to(tl.float32)  # broadcasts back to (m, n)
            tl.store(out_ptr + r * n + c, res)
        else:
            flat = tl.reshape(res.to(tl.float32), (max(1, math.prod(ref.shape)),))
            tl.store(out_ptr + tl.arange(0, flat.shape[0]), flat)

    out_shape = (m, n) if keep else (max(1, ref.size),)
    got = _run_on_values(kernel, [x], out_shape)
    assert shapes == [ref.shape]
    expected = x - ref if keep else ref.reshape(-1).astype(np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 64),
    limit=st.integers(0, 64),
    other=st.sampled_from([None, 0.0, -1.5, float("-inf")]),
    seed=st.integers(0, 2**16),
)
def test_masks_and_other_match_numpy(n, limit, other, seed):
    """Masked loads give ``other`` (0 when None) where the mask is off; masked stores
    leave the destination untouched there."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(np.float32)
    block = 1 << (n - 1).bit_length()

    def kernel(x_ptr, out_ptr):
        offs = tl.arange(0, block)
        keep = (offs < n) & (offs < limit)
        v = tl.load(x_ptr + offs, mask=keep, other=other)
        tl.store(out_ptr + offs, v, mask=offs < n)

    got = _run_on_values(kernel, [x], (n,))
    idx = np.arange(n)
    expected = np.where(idx < limit, x, np.float32(0.0 if other is None else other))
    np.testing.assert_array_equal(got, expected)


def test_where_trans_fma_and_math_match_numpy():
    rng = np.random.default_rng(3)
    x = rng.random((8, 16)).astype(np.float32) + 0.5

    def kernel(x_ptr, out_ptr):
        r, c = tl.arange(0, 8)[:, None], tl.arange(0, 16)[None, :]
        v = tl.load(x_ptr + r * 16 + c)
        w = tl.where(v > 1.0, tl.exp2(v), tl.log2(v)) + tl.rsqrt(v) + tl.sigmoid(-v)
        w = tl.fma(w, 2.0, tl.abs(v))
        t = tl.trans(w)  # (16, 8)
        tl.store(out_ptr + tl.arange(0, 16)[:, None] * 8 + tl.arange(0, 8)[None, :], t)

    got = _run_on_values(kernel, [x], (16, 8))
    w = np.where(x > 1, np.exp2(x), np.log2(x)) + 1 / np.sqrt(x) + 1 / (1 + np.exp(x))
    np.testing.assert_allclose(got, (w * 2 + x).T, rtol=1e-5)


def test_index_arithmetic_costs_no_engine_time(list_writer):
    """Offsets and masks from arange are folded at issue: only load, add, store ops."""
    rt = Runtime("default", writer=list_writer)
    x = rt.zeros((100,), "float32", Placement.single(0))
    rt.launch(add_kernel, x, x, x, 100, grid=(1,), pes=[0], BLOCK_SIZE=128)
    rt.synchronize()
    assert sorted(o["op"] for o in list_writer.rows["ops"]) == ["add", "load", "load", "store"]


# -- one clear message per misuse ---------------------------------------------------------
def test_unsupported_feature_names_feature_kernel_and_line():
    @tl.jit
    def inline_asm(x_ptr):
        tl.inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", [x_ptr], tl.int32, True, 1)

    fails_clearly(inline_asm, match=r"tl\.inline_asm_elementwise is not supported")


def test_unsupported_dtype_names_it():
    """float8e4b15 (e4m3 with exponent bias 15) has no ml_dtypes counterpart."""

    @tl.jit
    def fp8e4b15(x_ptr):
        tl.zeros((4,), tl.float8e4b15)

    fails_clearly(fp8e4b15, match=r"dtype tl\.float8e4b15 is not supported by this simulator")


def test_out_of_bounds_pointer_names_offset_and_tensor():
    @tl.jit
    def unmasked(x_ptr):
        tl.load(x_ptr + tl.arange(0, 128))

    text = fails_clearly(unmasked, match=r"element offset 100 \(VA 0x[0-9a-f]+\) is outside")
    assert "(100 elements" in text and "mask it off" in text


def test_arange_length_must_be_power_of_two():
    @tl.jit
    def bad_range(x_ptr):
        tl.arange(0, 100)

    fails_clearly(bad_range, match=r"the length 100 must be a power of 2")


def test_tile_element_index_is_rejected():
    @tl.jit
    def element(x_ptr):
        tl.load(x_ptr + tl.arange(0, 4))[0]

    fails_clearly(element, match=r"tile index 0: tiles take only None")


def test_program_id_axis_out_of_range():
    @tl.jit
    def axis3(x_ptr):
        tl.program_id(3)

    fails_clearly(axis3, match=r"program_id axis must be 0, 1 or 2, got 3")


def test_block_pointer_outside_the_tensor():
    @tl.jit
    def outside(x_ptr):
        tl.load(tl.make_block_ptr(x_ptr, (100,), (1,), (128,), (16,), (0,)))

    fails_clearly(outside, match=r"block at offsets \(128,\) with block_shape \(16,\) reaches "
                  r"past dim 0 of (x_ptr|x|t\d*) \(shape \(100,\)\), and "
                  r"boundary_check=\(\)")  # fmt: skip


@tl.jit
def edge_tile(x_ptr, out_ptr, CHECK: tl.constexpr, TRANSPOSED: tl.constexpr,  # noqa: N803
              ROW: tl.constexpr = 8):  # noqa: N803  # fmt: skip
    # x is 10 x 20; the 8 x 16 tile at (ROW, 8) reaches past columns (dim 1), and past
    # rows (dim 0) too at ROW 8
    if TRANSPOSED:  # the same tile seen as x^T (20 x 10): its dims are swapped
        ptr = tl.make_block_ptr(x_ptr, (20, 10), (1, 20), (8, ROW), (16, 8), (0, 1))
    else:
        ptr = tl.make_block_ptr(x_ptr, (10, 20), (20, 1), (ROW, 8), (8, 16), (1, 0))
    tile = tl.load(ptr, boundary_check=CHECK)
    tl.store(out_ptr + tl.arange(0, 128), tl.reshape(tile, (128,)))


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize(("check", "missing"), [((0, 1), None), ((1, 0), None), ((0,), 1),
                                                ((1,), 0), ((), 0)])  # fmt: skip
def test_boundary_check_clips_only_the_dims_it_lists(check, missing, transposed):
    """A tile past the tensor's edge along two dims loads (padded with zeros) when
    boundary_check lists both; a dim left out is an error naming it, as Triton would read
    out of bounds there. A transposed view's dims are the kernel's, not the memory's."""
    rt = Runtime("default", verify_data=True)
    x_np = np.arange(200, dtype=np.float32).reshape(10, 20)
    x = rt.from_numpy(x_np, Placement.single(0))
    out = rt.zeros((128,), "float32", Placement.single(0))
    if missing is not None:
        with pytest.raises(tl.KernelUsageError, match=rf"reaches past dim {missing} of .* does "
                           rf"not list {missing}: Triton would access memory out of "
                           r"bounds"):  # fmt: skip
            rt.launch(edge_tile, x, out, grid=(1,), pes=[0], CHECK=check, TRANSPOSED=transposed)
            rt.synchronize()
        return
    rt.launch(edge_tile, x, out, grid=(1,), pes=[0], CHECK=check, TRANSPOSED=transposed)
    rt.synchronize()
    expected = np.zeros((8, 16), np.float32)
    expected[:2, :12] = x_np[8:10, 8:20]
    np.testing.assert_array_equal(out.numpy(), (expected.T if transposed else expected).ravel())


@pytest.mark.parametrize("transposed", [False, True])
def test_boundary_check_of_the_one_dim_that_clips_is_enough(transposed):
    """A tile past x's columns only: listing that dim (1, or 0 in the transposed view)
    loads it; listing only the other is an error naming it."""
    rt = Runtime("default", verify_data=True)
    x_np = np.arange(200, dtype=np.float32).reshape(10, 20)
    x = rt.from_numpy(x_np, Placement.single(0))
    out = rt.zeros((128,), "float32", Placement.single(0))
    dim = 0 if transposed else 1
    rt.launch(edge_tile, x, out, grid=(1,), pes=[0], CHECK=(dim,), TRANSPOSED=transposed, ROW=0)
    rt.synchronize()
    expected = np.zeros((8, 16), np.float32)
    expected[:, :12] = x_np[0:8, 8:20]
    np.testing.assert_array_equal(out.numpy(), (expected.T if transposed else expected).ravel())
    with pytest.raises(tl.KernelUsageError, match=rf"reaches past dim {dim} of x"):
        rt.launch(edge_tile, x, out, grid=(1,), pes=[0], CHECK=(1 - dim,),
                  TRANSPOSED=transposed, ROW=0)  # fmt: skip
        rt.synchronize()


@tl.jit
def shifted_copy(x_ptr, out_ptr, ROW: tl.constexpr, COL: tl.constexpr,  # noqa: N803
                 TRANSPOSED: tl.constexpr, CHECK: tl.constexpr):  # noqa: N803  # fmt: skip
    # An 8 x 8 tile of x (6 x 10) at (ROW, COL), possibly before its start, is loaded and
    # stored back at the same place of out; the transposed view sees x^T (10 x 6).
    if TRANSPOSED:
        src = tl.make_block_ptr(x_ptr, (10, 6), (1, 10), (COL, ROW), (8, 8), (0, 1))
        dst = tl.make_block_ptr(out_ptr, (10, 6), (1, 10), (COL, ROW), (8, 8), (0, 1))
    else:
        src = tl.make_block_ptr(x_ptr, (6, 10), (10, 1), (ROW, COL), (8, 8), (1, 0))
        dst = tl.make_block_ptr(out_ptr, (6, 10), (10, 1), (ROW, COL), (8, 8), (1, 0))
    tile = tl.load(src, boundary_check=CHECK, padding_option="nan")
    tl.store(dst, tl.where(tile != tile, -1.0, tile), boundary_check=CHECK)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize(("row", "col"), [(-3, -2), (-3, 5), (2, -7), (-8, 0), (-1, -1)])
def test_a_block_before_the_tensor_start_is_padded_under_boundary_check(
    row, col, transposed, list_writer
):
    """Triton checks ``0 <= index < shape`` per dim: a block at negative offsets loads
    the padding before the tensor's start as past its end, and stores only inside it.
    Against numpy: a padded copy of x; the DMAs move only the elements inside x."""
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x_np = np.arange(60, dtype=np.float32).reshape(6, 10)
    x = rt.from_numpy(x_np, Placement.single(0))
    out = rt.from_numpy(np.full((6, 10), 7.0, np.float32), Placement.single(0))
    launch = rt.launch(shifted_copy, x, out, grid=(1,), pes=[0], ROW=row, COL=col,
                       TRANSPOSED=transposed, CHECK=(0, 1))  # fmt: skip
    rt.synchronize()
    rows = slice(max(row, 0), max(0, min(row + 8, 6)))
    cols = slice(max(col, 0), max(0, min(col + 8, 10)))
    expected = np.full((6, 10), 7.0, np.float32)
    expected[rows, cols] = x_np[rows, cols]
    np.testing.assert_array_equal(out.numpy(), expected)
    inside = x_np[rows, cols].size
    dmas = [d for d in list_writer.rows["dma"] if d["launch_id"] == launch.launch_id]
    assert sum(d["bytes"] for d in dmas if d["kind"] == "load") == inside * 4
    assert sum(d["bytes"] for d in dmas if d["kind"] == "store") == inside * 4
    missing = (1 if transposed else 0) if row < 0 else (0 if transposed else 1)
    with pytest.raises(tl.KernelUsageError, match=rf"reaches before the start of dim {missing}"):
        rt.launch(shifted_copy, x, out, grid=(1,), pes=[0], ROW=row, COL=col,
                  TRANSPOSED=transposed, CHECK=(1 - missing,))  # fmt: skip
        rt.synchronize()


def test_a_1d_block_before_the_start_is_padded():
    """The same for a 1-D block pointer: elements -3..4 of a 5-element x."""

    @tl.jit
    def tail(x_ptr, out_ptr):
        block = tl.make_block_ptr(x_ptr, (5,), (1,), (-3,), (8,), (0,))
        tl.store(out_ptr + tl.arange(0, 8), tl.load(block, boundary_check=(0,)))

    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.arange(1, 6, dtype=np.float32), Placement.single(0))
    out = rt.zeros((8,), "float32", Placement.single(0))
    rt.launch(tail, x, out, grid=(1,), pes=[0])
    rt.synchronize()
    assert out.numpy().tolist() == [0, 0, 0, 1, 2, 3, 4, 5]


def test_a_1d_block_pointer_with_a_stride_walks_one_column(list_writer):
    """flash-linear-attention's idiom: a 1-D block pointer over head ``h`` of a (T, H)
    tensor, strides (H,), loaded and stored in chunks with boundary_check (the last chunk
    clipped, one chunk before the start padded), advanced along T; ``p.dtype.element_ty``
    types the store. Against numpy's column of the same array, and the loads move only
    the elements inside."""

    @tl.jit
    def scaled_column(x_ptr, out_ptr, T, H: tl.constexpr, BT: tl.constexpr):  # noqa: N803
        h = tl.program_id(0)
        p_x = tl.make_block_ptr(x_ptr + h, (T,), (H,), (-BT,), (BT,), (0,))
        p_o = tl.make_block_ptr(out_ptr + h, (T,), (H,), (-BT,), (BT,), (0,))
        for _ in range(tl.cdiv(T, BT) + 1):
            b = tl.load(p_x, boundary_check=(0,)).to(tl.float32) * 2 + 1
            tl.store(p_o, b.to(p_o.dtype.element_ty), boundary_check=(0,))
            p_x, p_o = tl.advance(p_x, (BT,)), tl.advance(p_o, (BT,))

    t_len, heads, bt = 13, 3, 4
    x_np = np.arange(t_len * heads, dtype=np.float16).reshape(t_len, heads)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(x_np, Placement.single(0))
    out = rt.from_numpy(np.full((t_len, heads), -7.0, np.float16), Placement.single(0))
    launch = rt.launch(scaled_column, x, out, t_len, H=heads, BT=bt, grid=(2,), pes=[0])
    rt.synchronize()
    dmas = [d for d in list_writer.rows["dma"] if d["launch_id"] == launch.launch_id]
    for kind in ("load", "store"):  # two columns of T float16 elements each way
        assert sum(d["bytes"] for d in dmas if d["kind"] == kind) == 2 * t_len * 2
    expected = np.full((t_len, heads), -7.0, np.float16)
    expected[:, :2] = (x_np[:, :2].astype(np.float32) * 2 + 1).astype(np.float16)
    np.testing.assert_array_equal(out.numpy(), expected)

    @tl.jit
    def unchecked(x_ptr):
        p = tl.make_block_ptr(x_ptr, (25,), (4,), (20,), (8,), (0,))
        tl.load(p)

    fails_clearly(unchecked, r"block at offsets \(20,\) with block_shape \(8,\) reaches past "
                  r"dim 0 .* does not list 0")  # fmt: skip


def test_where_selects_pointers_into_one_tensor():
    """tl.where of two blocks of pointers into one tensor selects addresses, by index
    values or (data mode) loaded data; against numpy's fancy indexing. Pointers into two
    tensors, or a pointer and a number, are one clear error."""

    @tl.jit
    def pick(a_ptr, out_ptr, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, BLOCK)
        ptrs = tl.where(offs % 3 == 0, a_ptr + offs, a_ptr + BLOCK + offs)
        v = tl.load(ptrs)
        first = tl.where(v > 10, a_ptr, a_ptr + 1)  # scalar pointers, a data condition
        tl.store(out_ptr + offs, v * 100 + tl.load(first))

    rt = Runtime("default", verify_data=True)
    a_np = np.arange(16, dtype=np.float32) * 3 % 17
    a = rt.from_numpy(a_np, Placement.single(0))
    out = rt.zeros((8,), "float32", Placement.single(0))
    pick[(1,)](a, out, BLOCK=8)
    rt.synchronize()
    offs = np.arange(8)
    v = a_np[np.where(offs % 3 == 0, offs, 8 + offs)]
    np.testing.assert_array_equal(out.numpy(), v * 100 + a_np[np.where(v > 10, 0, 1)])

    @tl.jit
    def with_number(x_ptr):
        offs = tl.arange(0, 4)
        tl.load(tl.where(offs < 2, x_ptr + offs, 0))

    fails_clearly(with_number, match=r"tl\.where: cannot select between a pointer and int")
    rt2 = Runtime("default")
    x, y = (rt2.zeros((4,), "float32", Placement.single(0)) for _ in range(2))

    @tl.jit
    def both(x_ptr, y_ptr):
        offs = tl.arange(0, 4)
        tl.load(tl.where(offs < 2, x_ptr + offs, y_ptr + offs))

    with pytest.raises(tl.KernelUsageError, match=r"tl\.where: pointers into two tensors"):
        rt2.launch(both, x, y, grid=(1,), pes=[0])
        rt2.synchronize()


def test_arguments_may_be_given_by_name_as_triton_binds_them():
    """Tensors, ints and floats given by keyword (Liger's kernels name every argument)
    are the same arguments as positional ones: tensors become the launch's pointers (or
    a PE's shard without a grid), ints and numpy scalars typed scalars; through
    @triton.autotune too."""

    @tl.jit
    def axpy(x_ptr, y_ptr, out_ptr, n, alpha, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n.to(tl.int64)
        x = tl.load(x_ptr + offs, mask=mask)
        tl.store(out_ptr + offs, alpha * x + tl.load(y_ptr + offs, mask=mask), mask=mask)

    tuned = triton.autotune([triton.Config({"BLOCK": 8}), triton.Config({"BLOCK": 16})],
                            key=["n"])(axpy)  # fmt: skip
    rt = Runtime("default", verify_data=True)
    x_np, y_np = np.arange(20, dtype=np.float32), np.ones(20, np.float32)
    x, y = rt.from_numpy(x_np, Placement.single(0)), rt.from_numpy(y_np, Placement.single(0))
    outs = [rt.zeros((20,), "float32", Placement.single(0)) for _ in range(4)]
    axpy[(3,)](x_ptr=x, y_ptr=y, out_ptr=outs[0], n=20, alpha=2.0, BLOCK=8)
    axpy[(3,)](x, y_ptr=y, out_ptr=outs[1], n=np.int64(20), alpha=np.float32(2.0), BLOCK=8)
    tuned[lambda meta: (triton.cdiv(meta["n"], meta["BLOCK"]),)](
        x_ptr=x, y_ptr=y, out_ptr=outs[2], n=20, alpha=2.0
    )
    rt.launch(axpy, x, y, out_ptr=outs[3], n=20, alpha=2.0, BLOCK=32, pes=[0])  # no grid
    rt.synchronize()
    for out in outs:
        np.testing.assert_array_equal(out.numpy(), 2.0 * x_np + y_np)


def test_range_takes_triton_s_positional_arguments():
    """tl.range(start, end, step, num_stages, loop_unroll_factor) as Triton's signature
    (vLLM passes num_stages fourth): the loop runs start, start + step, ..."""
    seen = []

    @tl.jit
    def loops(x_ptr):
        seen.append(list(tl.range(2, 11, 3, 2)))
        seen.append(list(tl.range(1, 4, 1, 3, 2, flatten=True, warp_specialize=False)))
        seen.append(list(tl.range(3, num_stages=1)))

    rt = Runtime("default")
    rt.launch(loops, rt.zeros((4,), "float32", Placement.single(0)), grid=(1,), pes=[0])
    rt.synchronize()
    assert seen == [[2, 5, 8], [1, 2, 3], [0, 1, 2]]


def test_advance_needs_one_offset_per_dim():
    @tl.jit
    def short_advance(x_ptr):
        block = tl.make_block_ptr(x_ptr, (10, 10), (10, 1), (0, 0), (2, 2), (1, 0))
        tl.load(tl.advance(block, (1,)))

    fails_clearly(short_advance, match=r"tl\.advance: 1 offsets for a block pointer of 2 dims")


def test_static_assert_message():
    @tl.jit
    def asserted(x_ptr, BLOCK: tl.constexpr = 3):  # noqa: N803
        tl.static_assert(BLOCK % 2 == 0, "BLOCK must be even")

    fails_clearly(asserted, match=r"tl.static_assert failed: BLOCK must be even")


def test_bad_grid_is_a_launch_error():
    rt = Runtime("default")
    x = rt.zeros((4,), "float32", Placement.single(0))
    with pytest.raises(LaunchError, match=r"kernel 'add_kernel': grid sizes must be >= 0"):
        add_kernel[(2, -1)](x, x, x, 4, BLOCK_SIZE=4)
    with pytest.raises(LaunchError, match=r"grid must be 1 to 3 ints"):
        add_kernel[(1, 2, 3, 4)](x, x, x, 4, BLOCK_SIZE=4)


def test_empty_grid_runs_nothing_and_keeps_stream_order(list_writer):
    """A grid with a zero dimension (n = 0 elements, as a caller computes it) launches no
    program, as Triton's launcher skips it: nothing is loaded or stored, its launches row
    says n_pes 0 at the host's time, and the next launch still follows the one before."""
    rt = Runtime("default", verify_data=True, writer=list_writer)
    x = rt.from_numpy(np.arange(8, dtype=np.float32), Placement.single(0))
    out = rt.zeros((8,), "float32", Placement.single(0))
    first = add_kernel[(2,)](x, x, out, 8, BLOCK_SIZE=4)
    empty = add_kernel[lambda meta: (triton.cdiv(0, meta["BLOCK_SIZE"]), 4)](
        x, x, out, 0, BLOCK_SIZE=4
    )
    assert empty.done.triggered and not empty.programs
    last = add_kernel[(2,)](out, x, out, 8, BLOCK_SIZE=4)
    rt.synchronize()
    np.testing.assert_array_equal(out.numpy(), 3 * np.arange(8, dtype=np.float32))
    assert last.target_start_ns >= first.end_ns  # stream order kept past the empty one
    rows = {r["launch_id"]: r for r in list_writer.rows["launches"]}
    row = rows[empty.launch_id]
    assert (row["grid"], row["n_pes"]) == ("0x4x1", 0)
    assert row["host_issue_ns"] == row["target_start_ns"] == row["end_ns"] == empty.end_ns
    for table in ("ops", "dma", "pe_exec", "programs"):
        assert not [r for r in list_writer.rows[table] if r["launch_id"] == empty.launch_id]
    assert (
        triton.testing.do_bench(lambda: add_kernel[(0,)](x, x, out, 0, BLOCK_SIZE=4), n_warmup=0)
        == 0.0
    )


def test_device_print_shows_pe_program_and_time(capsys):
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.array([1.0, 2.0], np.float32), Placement.single(0))

    @tl.jit
    def show(x_ptr):
        tl.device_print("x =", tl.load(x_ptr + tl.arange(0, 2)))

    rt.launch(show, x, grid=(2,), pes=[3])
    rt.synchronize()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, pid in zip(lines, itertools.count(), strict=False):
        assert line.startswith(f"[sip0.cube0.pe3 program ({pid}, 0, 0) t=")
        assert line.endswith("x = [1. 2.]")


def test_unknown_tl_name_names_it_kernel_and_line():
    @tl.jit
    def unknown(x_ptr):
        tl.no_such_builtin(x_ptr)

    fails_clearly(unknown, match=r"tl\.no_such_builtin is not a feature of this simulator's tl")
    assert not hasattr(tl, "no_such_builtin")


@tl.jit
def matmul_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K,  # noqa: N803
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
    BLOCK_SIZE_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr,  # noqa: N803
):  # fmt: skip
    """Triton's pointer-arithmetic matmul tutorial, unchanged but for its imports."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in tl.range(0, tl.cdiv(K, BLOCK_SIZE_K), num_stages=3):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_SIZE_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_SIZE_K, other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk
    c = accumulator.to(tl.float16)
    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c, mask=c_mask)


def test_pointer_matmul_tutorial_matches_numpy_on_ragged_sizes():
    """Triton's pointer matmul (masks on K, wrapped rows, masked store) on 70 x 50 x 40."""
    m, n, k = 70, 50, 40
    rng = np.random.default_rng(5)
    a_np = rng.standard_normal((m, k)).astype(np.float16)
    b_np = rng.standard_normal((k, n)).astype(np.float16)
    rt = Runtime("default", verify_data=True)
    a, b = rt.from_numpy(a_np), rt.from_numpy(b_np)
    c = rt.zeros((m, n), "float16")
    grid = lambda meta: (  # noqa: E731
        tl.cdiv(m, meta["BLOCK_SIZE_M"]) * tl.cdiv(n, meta["BLOCK_SIZE_N"]),
    )
    matmul_kernel[grid](
        a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
        c.stride(0), c.stride(1),
        BLOCK_SIZE_M=32, BLOCK_SIZE_N=32, BLOCK_SIZE_K=16, GROUP_SIZE_M=2,
    )  # fmt: skip
    expected = a_np.astype(np.float32) @ b_np.astype(np.float32)
    np.testing.assert_allclose(c.numpy().astype(np.float32), expected, rtol=1e-2, atol=5e-2)


def test_block_pointer_padding_and_one_d_tiles_match_numpy():
    """A 2-D tile across the edge pads with nan when asked (zero by default); a 1-D
    block pointer loads a 1-D tile; a stored number broadcasts to the tile."""
    x_np = np.arange(5 * 6, dtype=np.float32).reshape(5, 6)

    def kernel(x_ptr, v_ptr, out_ptr):
        p = tl.make_block_ptr(x_ptr, (5, 6), (6, 1), (4, 4), (2, 4), (1, 0))
        nan_tile = tl.load(p, boundary_check=(0, 1), padding_option="nan")
        zero_tile = tl.load(p, boundary_check=(0, 1))
        row = tl.load(tl.make_block_ptr(v_ptr, (30,), (1,), (26,), (8,), (0,)),
                      boundary_check=(0,))  # fmt: skip
        o = tl.arange(0, 8)
        tl.store(out_ptr + o, tl.reshape(nan_tile, (8,)))
        tl.store(out_ptr + 8 + o, tl.reshape(zero_tile, (8,)))
        tl.store(out_ptr + 16 + o, row)
        tl.store(tl.make_block_ptr(out_ptr, (32,), (1,), (24,), (8,), (0,)), 7.0)

    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(x_np, Placement.single(0))
    v = rt.from_numpy(x_np.reshape(-1), Placement.single(0))
    out = rt.zeros((32,), "float32", Placement.single(0))
    rt.launch(kernel, x, v, out, grid=(1,), pes=[0])
    got = out.numpy()
    tile = np.full((2, 4), np.nan, np.float32)
    tile[:1, :2] = x_np[4:, 4:]
    np.testing.assert_array_equal(got[:8], tile.reshape(-1))
    np.testing.assert_array_equal(got[8:16], np.nan_to_num(tile).reshape(-1))
    np.testing.assert_array_equal(got[16:24], np.r_[x_np.reshape(-1)[26:], [0] * 4])
    np.testing.assert_array_equal(got[24:], np.full(8, 7.0))


def test_dot_out_dtype_and_acc():
    """dot(a, b, acc) accumulates in acc's dtype; out_dtype picks the result's."""
    rng = np.random.default_rng(9)
    a_np = rng.standard_normal((16, 16)).astype(np.float16)
    dtypes = []

    def kernel(a_ptr, out_ptr):
        r, c = tl.arange(0, 16)[:, None], tl.arange(0, 16)[None, :]
        a = tl.load(a_ptr + r * 16 + c)
        half = tl.dot(a, a, out_dtype=tl.float16)
        acc = tl.dot(a, a, acc=tl.zeros((16, 16), tl.float32) + 1.0)
        dtypes.extend([half.dtype, acc.dtype])
        tl.store(out_ptr + r * 16 + c, acc)
        tl.store(out_ptr + (r + 16) * 16 + c, half.to(tl.float32))

    got = _run_on_values(kernel, [a_np], (32, 16))
    assert dtypes == [np.float16, np.float32]
    product = a_np.astype(np.float32) @ a_np.astype(np.float32)
    np.testing.assert_allclose(got[:16], product + 1, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(got[16:], product.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("float64", "float64"), ("float32", "float32"), ("float16", "float16"), ("int32", "int32")],
)
def test_adding_two_tiles_alike_keeps_triton_dtype_rules(dtype, expected):
    """Two tiles of one shape and dtype add on MATH to that dtype (float64 too, as
    Triton's computation_type_impl keeps it). Values equal numpy's."""
    n = 64
    rng = np.random.default_rng(1)
    x_np = (rng.random(n) * 100).astype(dtype)
    y_np = (rng.random(n) * 100).astype(dtype)
    seen = []

    @tl.jit
    def add_tiles(x_ptr, y_ptr, out_ptr, BLOCK: tl.constexpr):  # noqa: N803
        offsets = tl.arange(0, BLOCK)
        total = tl.load(x_ptr + offsets) + tl.load(y_ptr + offsets)
        seen.append(total.dtype)
        tl.store(out_ptr + offsets, total)

    rt = Runtime("default", verify_data=True)
    x, y = rt.from_numpy(x_np), rt.from_numpy(y_np)
    out = rt.zeros((n,), expected)
    add_tiles[(1,)](x, y, out, BLOCK=n)
    reference = (x_np.astype(expected) + y_np.astype(expected)).astype(expected)
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-3)
    assert seen == [np.dtype(expected)]


# -- Triton's math, scans and softmax ------------------------------------------------------
# Names that were listed in tl.UNSUPPORTED before (tested here and in the other
# test_language_*.py files).
NOW_SUPPORTED = (
    "cos", "sin", "floor", "ceil", "erf", "clamp", "cumsum", "cumprod", "fdiv", "div_rn",
    "sqrt_rn", "debug_barrier", "atomic_add", "atomic_and", "atomic_cas", "atomic_max",
    "atomic_min", "atomic_or", "atomic_xchg", "atomic_xor", "rand", "randn", "randint",
    "randint4x", "philox", "sort", "histogram", "gather", "join", "split", "interleave",
    "permute", "cat", "flip", "ravel", "swizzle2d", "device_assert", "umulhi", "xor_sum",
    "assume", "reduce", "associative_scan", "make_tensor_descriptor", "load_tensor_descriptor",
    "store_tensor_descriptor", "tensor_descriptor",
)  # fmt: skip


def _erf_reference(a):
    """math.erf element by element, rounded to a's dtype."""
    return np.array([math.erf(v) for v in a.reshape(-1)]).reshape(a.shape).astype(a.dtype)


# name -> (tl function, independent reference, needs non-negative input)
ELEMENTWISE = {
    "cos": (lambda v: tl.cos(v), np.cos, False),
    "sin": (lambda v: tl.sin(v), np.sin, False),
    "floor": (lambda v: tl.floor(v), np.floor, False),
    "ceil": (lambda v: tl.ceil(v), np.ceil, False),
    "erf": (lambda v: tl.erf(v), _erf_reference, False),
    "sqrt_rn": (lambda v: tl.sqrt_rn(v), np.sqrt, True),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_math_matches_numpy_in_1d_with_mask_and_2d(name):
    """A masked 1-D load (tail = other) and a 2-D tile: the values numpy (math.erf for
    erf) gives, the dtype kept; the tail is f(other), so other flows through."""
    fn, reference, non_negative = ELEMENTWISE[name]
    rng = np.random.default_rng(11)
    n, block, other = 50, 64, 2.5
    x = rng.uniform(-6, 6, n).astype(np.float32)
    m = rng.uniform(-6, 6, (8, 16)).astype(np.float32)
    if non_negative:
        x, m = np.abs(x), np.abs(m)
    dtypes = []

    def kernel(x_ptr, m_ptr, out_ptr):
        offs = tl.arange(0, block)
        v = fn(tl.load(x_ptr + offs, mask=offs < n, other=other))
        r, c = tl.arange(0, 8)[:, None], tl.arange(0, 16)[None, :]
        w = fn(tl.load(m_ptr + r * 16 + c))
        dtypes.extend([v.dtype, w.dtype])
        tl.store(out_ptr + offs, v)
        tl.store(out_ptr + block + r * 16 + c, w)

    got = _run_on_values(kernel, [x, m], (block + 128,))
    padded = np.r_[x, np.full(block - n, other, np.float32)]
    np.testing.assert_allclose(got[:block], reference(padded), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[block:], reference(m).reshape(-1), rtol=1e-6, atol=1e-7)
    assert dtypes == [np.float32, np.float32]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda v: tl.cos(v.to(tl.float16)), r"tl\.cos takes float32 or float64 tensors, got "
         r"float16; cast with \.to\(tl\.float32\)"),
        (lambda v: tl.floor(v.to(tl.int32)), r"tl\.floor takes float32 or float64 .* int32"),
        (lambda v: tl.exp(v.to(tl.float16)), r"tl\.exp takes float32 or float64 .* float16"),
        (lambda v: tl.exp2(v.to(tl.int32)), r"tl\.exp2 takes float32 or float64 .* int32"),
        (lambda v: tl.log(v.to(tl.bfloat16)), r"tl\.log takes float32 or float64 .* bfloat16"),
        (lambda v: tl.log2(v.to(tl.float16)), r"tl\.log2 takes float32 or float64 .* float16"),
        (lambda v: tl.sqrt(v.to(tl.float16)), r"tl\.sqrt takes float32 or float64 .* float16"),
        (lambda v: tl.rsqrt(v.to(tl.int32)), r"tl\.rsqrt takes float32 or float64 .* int32"),
        (lambda v: tl.sigmoid(v.to(tl.float16)), r"tl\.sigmoid takes float32 or float64"),
        (lambda v: tl.maximum(v, v, propagate_nan=1), r"tl\.maximum: propagate_nan must"),
        (lambda v: tl.sqrt_rn(v.to(tl.float64)), r"tl\.sqrt_rn takes float32 tensors, got float64"),
        (lambda v: tl.div_rn(v.to(tl.float16), v), r"tl\.div_rn takes float32 tensors, got fl"),
        (lambda v: tl.fdiv(v, 2), r"tl\.fdiv: both operands must be floating point, got int"),
        (lambda v: tl.fdiv(v.to(tl.int32), 2.0), r"tl\.fdiv: both .* got int32"),
        (lambda v: tl.clamp(v.to(tl.int32), 0, 1), r"tl\.clamp: only floating-point clamp"),
        (lambda v: tl.clamp(v, 0.0, 1.0, propagate_nan=True), r"tl\.clamp: propagate_nan must"),
        (lambda v: tl.cumsum(v, axis=1), r"tl\.cumsum: axis 1 out of range for shape \(4,\)"),
        (lambda v: tl.cumprod(v, axis=None), r"tl\.cumprod: axis None out of range"),
        (lambda v: tl.softmax(v.to(tl.int32)), r"tl\.softmax takes a floating-point tile"),
        (lambda v: tl.softmax(tl.broadcast_to(v[:, None], (4, 8)), dim=1),
         r"tl\.softmax: dim=1 without keep_dims: statistics of shape \(4,\) do not "
         r"broadcast against \(4, 8\); pass keep_dims=True"),
    ],
)  # fmt: skip
def test_triton_math_rejects_what_triton_rejects(call, match):
    """Triton's dtype rules (libdevice math on float32/float64, div_rn and sqrt_rn on
    float32, fdiv and clamp floating point only), axes and NaN policies: one clear
    KernelUsageError naming the kernel and line."""

    @tl.jit
    def misuse(x_ptr):
        call(tl.load(x_ptr + tl.arange(0, 4)))

    fails_clearly(misuse, match=match)


@pytest.mark.parametrize(
    ("name", "call", "op", "cost_key"),
    [
        ("cos", lambda v: tl.cos(v), "cos", "cos"),
        ("sin", lambda v: tl.sin(v), "sin", "sin"),
        ("floor", lambda v: tl.floor(v), "floor", "floor"),
        ("ceil", lambda v: tl.ceil(v), "ceil", "ceil"),
        ("erf", lambda v: tl.erf(v), "erf", "erf"),
        ("clamp", lambda v: tl.clamp(v, -1.0, 1.0), "clamp", "clamp"),
        ("sqrt_rn", lambda v: tl.sqrt_rn(v), "sqrt", "sqrt"),
        ("fdiv", lambda v: tl.fdiv(v, v), "div", "div"),
        ("div_rn", lambda v: tl.div_rn(v, 2.0), "div", "div"),
        ("cumsum", lambda v: tl.cumsum(v, axis=1), "cumsum", "scan"),
        ("cumprod", lambda v: tl.cumprod(v, axis=0, reverse=True), "cumprod", "scan"),
    ],
)
def test_new_math_costs_lanes_times_its_cycles(name, call, op, cost_key, list_writer):
    """One MATH op over 1000 elements: ceil(1000 / lanes) * cycles_per_op[key] / clock.
    The key is in the default topology; its value is overridden to one no other key has,
    so the op must read its own."""
    assert cost_key in load_topology("default").params.pe.math.cycles_per_op
    topology = load_topology("default", overrides={f"pe.math.cycles_per_op.{cost_key}": 13})
    rt = Runtime(topology, writer=list_writer)

    def kernel():
        call(tl.zeros((10, 100), tl.float32))

    rt.launch(kernel, pes=[0])
    rt.synchronize()
    pe = rt.topology.params.pe
    assert pe.math.cycles_per_op[cost_key] == 13
    expected = math.ceil(1000 / pe.math.lanes) * pe.math.cycles_per_op[cost_key] / pe.clock_ghz
    (row,) = list_writer.rows["ops"]
    assert (row["op"], row["engine"]) == (op, "MATH")
    assert row["end_ns"] - row["start_ns"] == pytest.approx(expected, rel=1e-12)


def _scan_reference(x, axis, reverse, combine):
    """Inclusive scan by its definition: element i combines elements 0..i (i..n-1 when
    reversed) along axis."""
    moved = np.moveaxis(x, axis, 0)
    out = np.empty_like(moved)
    for i in range(moved.shape[0]):
        out[i] = combine.reduce(moved[i:] if reverse else moved[: i + 1], axis=0)
    return np.moveaxis(out, 0, axis)


@pytest.mark.parametrize("scan", ["cumsum", "cumprod"])
@pytest.mark.parametrize(("axis", "reverse"), [(0, False), (0, True), (1, False), (-1, True)])
def test_scans_match_their_definition_on_2d_tiles(scan, axis, reverse):
    """cumsum/cumprod over either axis (negative too), forwards and reversed."""
    rng = np.random.default_rng(12)
    x = rng.uniform(0.5, 1.5, (8, 16)).astype(np.float32)
    combine = {"cumsum": np.add, "cumprod": np.multiply}[scan]

    def kernel(x_ptr, out_ptr):
        r, c = tl.arange(0, 8)[:, None], tl.arange(0, 16)[None, :]
        v = tl.load(x_ptr + r * 16 + c)
        tl.store(out_ptr + r * 16 + c, getattr(tl, scan)(v, axis=axis, reverse=reverse))

    got = _run_on_values(kernel, [x], (8, 16))
    np.testing.assert_allclose(got, _scan_reference(x, axis, reverse, combine), rtol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_scans_of_a_masked_1d_load_see_other(reverse):
    """1-D, default axis 0: masked-off elements scan as other (0 for cumsum, 1 for
    cumprod), so the valid prefix (reversed: every element) is unchanged by the tail."""
    rng = np.random.default_rng(13)
    n, block = 40, 64
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)

    def kernel(x_ptr, out_ptr):
        offs = tl.arange(0, block)
        s = tl.cumsum(tl.load(x_ptr + offs, mask=offs < n, other=0.0), reverse=reverse)
        p = tl.cumprod(tl.load(x_ptr + offs, mask=offs < n, other=1.0), reverse=reverse)
        tl.store(out_ptr + offs, s)
        tl.store(out_ptr + block + offs, p)

    got = _run_on_values(kernel, [x], (2 * block,))
    zeros, ones = np.zeros(block - n, np.float32), np.ones(block - n, np.float32)
    expect_sum = _scan_reference(np.r_[x, zeros], 0, reverse, np.add)
    expect_prod = _scan_reference(np.r_[x, ones], 0, reverse, np.multiply)
    np.testing.assert_allclose(got[:block], expect_sum, rtol=1e-5)
    np.testing.assert_allclose(got[block:], expect_prod, rtol=1e-5)


def test_cumsum_of_integers_widens_as_triton_and_takes_dtype():
    """int8 accumulates in int32 (its running sums pass 127), int32 stays int32, and
    dtype=tl.float32 scans in float32; cumprod keeps int32."""
    rng = np.random.default_rng(14)
    x8 = rng.integers(50, 100, 64).astype(np.int8)
    x32 = rng.choice(np.array([-1, 1], np.int32), 64)
    x32[::8] *= 2  # running products stay within +-256
    dtypes = []

    def kernel(a_ptr, b_ptr, out_ptr):
        offs = tl.arange(0, 64)
        a, b = tl.load(a_ptr + offs), tl.load(b_ptr + offs)
        wide, same = tl.cumsum(a), tl.cumsum(b, reverse=True)
        as_float = tl.cumsum(b, dtype=tl.float32)
        prod = tl.cumprod(b)
        dtypes.extend([wide.dtype, same.dtype, as_float.dtype, prod.dtype])
        tl.store(out_ptr + offs, wide)
        tl.store(out_ptr + 64 + offs, same)
        tl.store(out_ptr + 128 + offs, as_float.to(tl.int32))
        tl.store(out_ptr + 192 + offs, prod)

    got = _run_on_values(kernel, [x8, x32], (256,), "int32")
    assert dtypes == [np.int32, np.int32, np.float32, np.int32]
    wide = _scan_reference(x8.astype(np.int64), 0, False, np.add)
    assert wide[-1] > 127
    np.testing.assert_array_equal(got[:64], wide)
    np.testing.assert_array_equal(got[64:128], _scan_reference(x32, 0, True, np.add))
    np.testing.assert_array_equal(got[128:192], _scan_reference(x32, 0, False, np.add))
    np.testing.assert_array_equal(got[192:], _scan_reference(x32, 0, False, np.multiply))


def _softmax_reference(x, axis):
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize(
    ("dim", "keep_dims", "axis"), [(None, False, 0), (0, True, 0), (1, True, 1), (-1, True, 1)]
)
def test_softmax_over_dim_with_keep_dims_matches_numpy(dim, keep_dims, axis):
    """dim None means 0 (Triton's default); keep_dims=True normalises along any dim."""
    rng = np.random.default_rng(15)
    x = (rng.standard_normal((8, 16)) * 3).astype(np.float32)

    def kernel(x_ptr, out_ptr):
        r, c = tl.arange(0, 8)[:, None], tl.arange(0, 16)[None, :]
        v = tl.load(x_ptr + r * 16 + c)
        tl.store(out_ptr + r * 16 + c, tl.softmax(v, dim=dim, keep_dims=keep_dims))

    got = _run_on_values(kernel, [x], (8, 16))
    np.testing.assert_allclose(got, _softmax_reference(x, axis), rtol=1e-5, atol=1e-7)


def test_softmax_of_a_masked_row_gives_zero_past_the_edge():
    """Masked-off elements loaded as -inf (the tutorial's row) get probability 0; the
    valid ones are numpy's softmax of the row."""
    rng = np.random.default_rng(16)
    n, block = 45, 64
    x = rng.standard_normal(n).astype(np.float32)

    def kernel(x_ptr, out_ptr):
        offs = tl.arange(0, block)
        row = tl.load(x_ptr + offs, mask=offs < n, other=-float("inf"))
        tl.store(out_ptr + offs, tl.softmax(row, ieee_rounding=True))

    got = _run_on_values(kernel, [x], (block,))
    np.testing.assert_allclose(got[:n], _softmax_reference(x, 0), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got[n:], np.zeros(block - n, np.float32))


def test_softmax_is_its_parts_on_math(list_writer):
    """softmax = max, sub, exp, sum, div: five MATH ops, each timed by its own key."""
    rt = Runtime("default", writer=list_writer)

    def kernel():
        tl.softmax(tl.zeros((16, 100), tl.float32), dim=1, keep_dims=True)

    rt.launch(kernel, pes=[0])
    rt.synchronize()
    pe = rt.topology.params.pe
    keys = {"max": "reduce", "sub": "sub", "exp": "exp", "sum": "reduce", "div": "div"}
    rows = list_writer.rows["ops"]
    assert [r["op"] for r in rows] == list(keys)
    assert {r["engine"] for r in rows} == {"MATH"}
    steps = math.ceil(16 * 100 / pe.math.lanes)
    for row in rows:
        expected = steps * pe.math.cycles_per_op[keys[row["op"]]] / pe.clock_ghz
        assert row["end_ns"] - row["start_ns"] == pytest.approx(expected, rel=1e-12)


def test_clamp_with_number_and_broadcast_tile_bounds_matches_numpy():
    """Number bounds on a masked 1-D load (the tail, other=5, clamps to the upper bound);
    (8, 1) and (1, 16) tile bounds broadcast against an (8, 16) tile, as np.clip."""
    rng = np.random.default_rng(17)
    n, block = 50, 64
    x = rng.uniform(-3, 3, n).astype(np.float32)
    m = rng.uniform(-3, 3, (8, 16)).astype(np.float32)
    lo = rng.uniform(-2, -0.5, 8).astype(np.float32)
    hi = rng.uniform(0.5, 2, 16).astype(np.float32)

    def kernel(x_ptr, m_ptr, lo_ptr, hi_ptr, out_ptr):
        offs = tl.arange(0, block)
        v = tl.clamp(tl.load(x_ptr + offs, mask=offs < n, other=5.0), -1.0, 1.5)
        r, c = tl.arange(0, 8), tl.arange(0, 16)
        tile = tl.load(m_ptr + r[:, None] * 16 + c[None, :])
        w = tl.clamp(tile, tl.load(lo_ptr + r)[:, None], tl.load(hi_ptr + c)[None, :])
        tl.store(out_ptr + offs, v)
        tl.store(out_ptr + block + r[:, None] * 16 + c[None, :], w)

    got = _run_on_values(kernel, [x, m, lo, hi], (block + 128,))
    np.testing.assert_array_equal(got[:n], np.clip(x, -1.0, 1.5))
    np.testing.assert_array_equal(got[n:block], np.full(block - n, 1.5, np.float32))
    expected = np.clip(m, lo[:, None], hi[None, :])
    np.testing.assert_array_equal(got[block:], expected.reshape(-1))


@pytest.mark.parametrize("policy", ["NONE", "ALL"])
def test_clamp_nan_follows_propagate_nan(policy):
    """A NaN x: PropagateNan.NONE gives the lower bound (maxNum(NaN, min) = min), ALL
    gives NaN; other values clamp alike. An int tile with float bounds clamps in float."""
    x = np.array([np.nan, -5.0, 0.25, 5.0], np.float32)
    dtypes = []

    nan_policy = getattr(tl.PropagateNan, policy)

    def kernel(x_ptr, k_ptr, out_ptr):
        offs = tl.arange(0, 4)
        v = tl.clamp(tl.load(x_ptr + offs), -1.0, 1.0, propagate_nan=nan_policy)
        k = tl.clamp(tl.load(k_ptr + offs), 0.5, 2.5)
        dtypes.append(k.dtype)
        tl.store(out_ptr + offs, v)
        tl.store(out_ptr + 4 + offs, k)

    got = _run_on_values(kernel, [x, np.arange(4, dtype=np.int32)], (8,))
    first = np.nan if policy == "ALL" else -1.0
    np.testing.assert_array_equal(got[:4], np.array([first, -1.0, 0.25, 1.0], np.float32))
    np.testing.assert_array_equal(got[4:], np.array([0.5, 1.0, 2.0, 2.5], np.float32))
    assert dtypes == [np.float32]


def test_fdiv_and_div_rn_divide_like_slash():
    """fdiv (both ieee_rounding settings) and div_rn equal ``/`` on tiles and numbers,
    broadcast; div_rn takes an int number as Triton does."""
    rng = np.random.default_rng(18)
    x = rng.uniform(-4, 4, (8, 16)).astype(np.float32)
    y = rng.uniform(0.5, 4, 16).astype(np.float32)

    def kernel(x_ptr, y_ptr, out_ptr):
        r, c = tl.arange(0, 8)[:, None], tl.arange(0, 16)[None, :]
        v, w = tl.load(x_ptr + r * 16 + c), tl.load(y_ptr + tl.arange(0, 16))[None, :]
        for i, res in enumerate(
            [tl.fdiv(v, w), tl.fdiv(3.0, w + v * 0, ieee_rounding=True), tl.div_rn(v, w),
             tl.div_rn(v, 4)]
        ):  # fmt: skip
            tl.store(out_ptr + (i * 8 + r) * 16 + c, res)

    got = _run_on_values(kernel, [x, y], (32, 16))
    for i, expected in enumerate([x / y, 3.0 / (y + x * 0), x / y, x / 4]):
        np.testing.assert_array_equal(got[i * 8 : (i + 1) * 8], expected.astype(np.float32))


def _barrier_times(list_writer, barrier):
    rt = Runtime("default", writer=list_writer, verify_data=True)
    a = rt.from_numpy(np.arange(4096, dtype=np.float32), Placement.single(0))
    out = rt.zeros((4096,), "float32", Placement.single(0))

    def kernel(a_ptr, out_ptr):
        first = tl.load(a_ptr + tl.arange(0, 2048))
        if barrier:
            tl.debug_barrier()
        second = tl.load(a_ptr + 2048 + tl.arange(0, 2048))
        tl.store(out_ptr + tl.arange(0, 2048), second)
        tl.store(out_ptr + 2048 + tl.arange(0, 2048), first)

    launch = rt.launch(kernel, a, out, grid=(1,), pes=[0])
    rt.synchronize()
    np.testing.assert_array_equal(out.numpy(), np.r_[np.arange(2048, 4096), np.arange(2048)])
    ops = [(o["op"], o["start_ns"], o["end_ns"]) for o in list_writer.rows["ops"]
           if o["launch_id"] == launch.launch_id]  # fmt: skip
    return ops


def test_debug_barrier_is_a_no_op_costing_no_time(new_list_writer):
    """The same kernel with and without tl.debug_barrier between two independent loads:
    the same ops at the same times (no op of its own, and unlike tl.fence the second
    load does not wait for the first). Outside a kernel it is an error like any tl op."""
    with_barrier = _barrier_times(new_list_writer(), barrier=True)
    without = _barrier_times(new_list_writer(), barrier=False)
    assert [o[0] for o in with_barrier] == ["load", "load", "store", "store"]
    assert with_barrier == without
    with pytest.raises(tl.KernelUsageError, match="only be called inside a kernel"):
        tl.debug_barrier()


@pytest.mark.parametrize("still_unsupported", ["inline_asm_elementwise"])
def test_names_now_supported_are_tl_functions_and_the_rest_still_fail(still_unsupported):
    """Each name taken off tl.UNSUPPORTED is a real function of tl (exported, in
    __all__), and softmax and PropagateNan too; what is still unsupported fails at its
    call, naming itself, the kernel and the line."""
    for name in (*NOW_SUPPORTED, "softmax", "PropagateNan"):
        assert name not in tl.UNSUPPORTED
        assert name in vars(tl) and name in tl.__all__, name
    assert still_unsupported in tl.UNSUPPORTED

    @tl.jit
    def unsupported(x_ptr):
        getattr(tl, still_unsupported)(x_ptr, 1.0)

    fails_clearly(unsupported, match=rf"tl\.{still_unsupported} is not supported by this simulator")


def test_integer_division_and_remainder_follow_c_as_triton_does():
    """Triton's // truncates toward zero and % takes the dividend's sign (C's, not
    Python's), on data tiles, floats and index values alike: the values Triton 3.8's
    interpreter gives for the same kernel."""

    @tl.jit
    def divide(x_ptr, q_ptr, r_ptr, f_ptr, i_ptr):
        offs = tl.arange(0, 8)
        x = tl.load(x_ptr + offs)
        tl.store(q_ptr + offs, x // 3)
        tl.store(r_ptr + offs, x % 3)
        tl.store(f_ptr + offs, x.to(tl.float32) % 3.0)
        tl.store(i_ptr + offs, (offs - 4) // 3)

    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    x = rt.from_numpy(np.array([-7, -6, -5, -1, 0, 1, 5, 7], np.int32), placement=place)
    q, r, i = (rt.zeros((8,), "int32", place) for _ in range(3))
    f = rt.zeros((8,), "float32", place)
    rt.launch(divide, x, q, r, f, i, grid=(1,), pes=[0])
    rt.synchronize()
    assert q.numpy().tolist() == [-2, -2, -1, 0, 0, 0, 1, 2]
    assert r.numpy().tolist() == [-1, 0, -2, -1, 0, 1, 2, 1]
    assert f.numpy().tolist() == [-1.0, -0.0, -2.0, -1.0, 0.0, 1.0, 2.0, 1.0]
    assert i.numpy().tolist() == [-1, -1, 0, 0, 0, 0, 0, 1]


def test_tl_math_names_the_tl_functions():
    """Kernels written for Triton call tl.math.exp2 and the like: the same functions."""
    assert tl.math.__all__
    for name in tl.math.__all__:
        assert getattr(tl.math, name) is getattr(tl, name), name


@tl.jit
def widen_then_narrow_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
    """Liger's and the tutorials' spellings of a pointer's element type."""
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask).to(tl.float32)
    acc = tl.zeros((BLOCK,), dtype=x_ptr.dtype.element_ty).to(tl.float32) + x * 3.0
    tl.store(out_ptr + offsets, acc.to(out_ptr.type.element_ty), mask=mask)


def test_pointer_types_are_tritons():
    """``x_ptr.dtype`` and ``.type`` are pointer<elem>, ``.element_ty`` the element's
    dtype (of a block of pointers too); the pointer type still stands for its element
    where a dtype is expected, as kernels written before it relied on."""
    seen = {}

    @tl.jit
    def probe(x_ptr, out_ptr):
        seen["dtype"], seen["type"] = x_ptr.dtype, out_ptr.type
        seen["block"] = (x_ptr + tl.arange(0, 4)).dtype
        seen["zeros"] = tl.zeros((4,), dtype=x_ptr.dtype).dtype

    rt = Runtime("default")
    x = rt.zeros((64,), "float16")
    out = rt.zeros((64,), "float32")
    rt.wait(probe[(1,)](x, out))
    assert repr(seen["dtype"]) == "pointer<float16>"
    assert seen["dtype"].element_ty == tl.float16 and seen["dtype"].element_ty != tl.float32
    assert isinstance(seen["dtype"].element_ty, np.dtype)
    assert seen["type"].element_ty == tl.float32 and seen["type"].is_ptr()
    assert seen["block"].element_ty == tl.float16
    assert seen["zeros"] == np.dtype(np.float16)
    assert seen["dtype"] == tl.float16 and tl.float16 == seen["dtype"]
    assert seen["dtype"] == tl.pointer_type(tl.float16) != tl.pointer_type(tl.float32)
    assert {seen["dtype"]: 1}[tl.float16] == 1
    assert np.zeros(2, seen["dtype"]).dtype == np.float16
    assert seen["dtype"].itemsize == 2 and seen["dtype"].kind == "f"


def test_element_types_from_pointers_cast_as_triton():
    """fp16 in, fp32 math, stored as the output pointer's element type (fp16), equal to
    numpy's same casts; the zeros take the input's element type."""
    n = 300
    x_np = np.random.default_rng(1).standard_normal(n).astype(np.float16)
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(x_np)
    out = rt.zeros((n,), "float16")
    rt.wait(widen_then_narrow_kernel[(triton.cdiv(n, 128),)](x, out, n, BLOCK=128))
    expected = (x_np.astype(np.float32) * np.float32(3.0)).astype(np.float16)
    np.testing.assert_array_equal(out.numpy(), expected)


@triton.jit
def _compute_pid(tile_id, num_pid_in_group, num_pid_m, GROUP_SIZE_M, NUM_SMS):  # noqa: N803
    group_id = tile_id // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + (tile_id % group_size_m)
    pid_n = (tile_id % num_pid_in_group) // group_size_m
    return pid_m, pid_n


@triton.jit
def matmul_kernel_persistent(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,  # noqa: N803
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_cn,
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,  # noqa: N803
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,  # noqa: N803
    NUM_SMS: tl.constexpr,
):  # noqa: N803
    """Triton's persistent-matmul tutorial kernel (09), unchanged."""
    start_pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    k_tiles = tl.cdiv(K, BLOCK_SIZE_K)
    num_tiles = num_pid_m * num_pid_n
    tile_id_c = start_pid - NUM_SMS
    offs_k_for_mask = tl.arange(0, BLOCK_SIZE_K)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    for tile_id in tl.range(start_pid, num_tiles, NUM_SMS, flatten=True):
        pid_m, pid_n = _compute_pid(tile_id, num_pid_in_group, num_pid_m, GROUP_SIZE_M, NUM_SMS)
        start_m = pid_m * BLOCK_SIZE_M
        start_n = pid_n * BLOCK_SIZE_N
        offs_am = start_m + tl.arange(0, BLOCK_SIZE_M)
        offs_bn = start_n + tl.arange(0, BLOCK_SIZE_N)
        offs_am = tl.where(offs_am < M, offs_am, 0)
        offs_bn = tl.where(offs_bn < N, offs_bn, 0)
        offs_am = tl.max_contiguous(tl.multiple_of(offs_am, BLOCK_SIZE_M), BLOCK_SIZE_M)
        offs_bn = tl.max_contiguous(tl.multiple_of(offs_bn, BLOCK_SIZE_N), BLOCK_SIZE_N)
        accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
        for ki in range(k_tiles):
            offs_k = ki * BLOCK_SIZE_K + tl.arange(0, BLOCK_SIZE_K)
            a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
            b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
            a = tl.load(a_ptrs, mask=offs_k_for_mask[None, :] < K - ki * BLOCK_SIZE_K, other=0.0)
            b = tl.load(b_ptrs, mask=offs_k_for_mask[:, None] < K - ki * BLOCK_SIZE_K, other=0.0)
            accumulator = tl.dot(a, b, accumulator)
        tile_id_c += NUM_SMS
        pid_m, pid_n = _compute_pid(tile_id_c, num_pid_in_group, num_pid_m, GROUP_SIZE_M, NUM_SMS)
        offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
        offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
        c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
        c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
        if c_ptr.dtype.element_ty == tl.float8e4nv:
            c = accumulator.to(tl.float8e4nv)
        else:
            c = accumulator.to(tl.float16)
        tl.store(c_ptrs, c, mask=c_mask)


@pytest.mark.parametrize("num_sms", [3, 8])
def test_persistent_matmul_tutorial_runs_unchanged(num_sms):
    """Tutorial 09's persistent kernel (tl.range with flatten, min of scalars, its
    epilogue's pointer element type): a ragged 200 x 160 x 96 product equals numpy's
    whatever the number of persistent programs."""
    m, n, k = 200, 160, 96
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((m, k)).astype(np.float16)
    b_np = rng.standard_normal((k, n)).astype(np.float16)
    rt = Runtime("default", verify_data=True)
    a, b = rt.from_numpy(a_np), rt.from_numpy(b_np)
    c = rt.empty((m, n), "float16")
    triton.set_allocator(lambda size, alignment, stream: None)  # TMA scratch: unused here

    def grid(meta):
        tiles = triton.cdiv(m, meta["BLOCK_SIZE_M"]) * triton.cdiv(n, meta["BLOCK_SIZE_N"])
        return (min(num_sms, tiles),)

    launch = matmul_kernel_persistent[grid](
        a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0),
        c.stride(1), BLOCK_SIZE_M=64, BLOCK_SIZE_N=64, BLOCK_SIZE_K=32, GROUP_SIZE_M=8,
        NUM_SMS=num_sms,
    )  # fmt: skip
    rt.wait(launch)
    assert len(launch.programs) == num_sms
    expected = a_np.astype(np.float32) @ b_np.astype(np.float32)
    np.testing.assert_allclose(c.numpy().astype(np.float32), expected, rtol=1e-2, atol=5e-2)


def test_static_print_prints_once_per_kernel_and_line(capsys):
    """Triton prints at compile time, once; here every program runs the line, and it is
    printed once all the same."""

    @tl.jit
    def shows(x_ptr, BLOCK: tl.constexpr):  # noqa: N803
        tl.static_print("BLOCK =", BLOCK)
        tl.store(x_ptr + tl.arange(0, BLOCK), 1.0)

    rt = Runtime("default")
    x = rt.zeros((64,), "float32", Placement.single(0))
    rt.wait(rt.launch(shows, x, BLOCK=16, grid=(4,)))
    rt.wait(rt.launch(shows, x, BLOCK=32, grid=(4,)))
    assert capsys.readouterr().out == "BLOCK = 16\nBLOCK = 32\n"


def test_run_launches_and_warmup_fails_clearly():
    """``kernel.run(*args, grid=..., warmup=False)`` is Triton's spelled-out launch;
    ``warmup`` (GPU compilation) is one clear error pointing at what to do instead."""
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.arange(8, dtype=np.float32), Placement.single(0))
    out = rt.zeros((8,), "float32", Placement.single(0))
    add_kernel.run(x, x, out, 8, grid=(2,), warmup=False, BLOCK_SIZE=4)
    rt.synchronize()
    np.testing.assert_array_equal(out.numpy(), 2 * np.arange(8, dtype=np.float32))
    with pytest.raises(tl.KernelUsageError, match=r"warmup\(\) compiles for a GPU.*"
                       r"len\(rt\.device_pes\)"):  # fmt: skip
        add_kernel.warmup(x, x, out, 8, grid=(1,), BLOCK_SIZE=4)


def test_programmatic_dependent_launch_calls_are_no_ops():
    """Tutorial 11's gdc_wait and gdc_launch_dependents (with launch_pdl=True) run: a
    launch here already follows the stream's previous one."""

    @tl.jit
    def pdl(x_ptr, out_ptr):
        tl.extra.cuda.gdc_wait()
        offs = tl.arange(0, 8)
        x = tl.load(x_ptr + offs)
        tl.extra.cuda.gdc_launch_dependents()
        tl.store(out_ptr + offs, x + 1)

    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.arange(8, dtype=np.float32), Placement.single(0))
    mid, out = (rt.zeros((8,), "float32", Placement.single(0)) for _ in range(2))
    pdl[(1,)](x, mid, launch_pdl=True)
    pdl[(1,)](mid, out, launch_pdl=True)
    rt.synchronize()
    np.testing.assert_array_equal(out.numpy(), np.arange(8) + 2)


def test_arguments_that_do_not_bind_and_float_floordiv_fail_clearly():
    """A missing constexpr (or an unknown keyword) is one error at launch, naming the
    kernel, not a TypeError inside a program; ``//`` of floats is refused, as Triton's
    floordiv refuses it."""
    rt = Runtime("default")
    x = rt.zeros((8,), "float32", Placement.single(0))
    with pytest.raises(tl.KernelUsageError, match=r"kernel 'add_kernel': missing a required "
                       r"argument: 'BLOCK_SIZE'"):  # fmt: skip
        add_kernel[(1,)](x, x, x, 8)
    with pytest.raises(tl.KernelUsageError, match=r"kernel 'add_kernel': got an unexpected "
                       r"keyword argument 'BLOCK'"):  # fmt: skip
        add_kernel[(1,)](x, x, x, 8, BLOCK_SIZE=8, BLOCK=8)

    @tl.jit
    def float_floordiv(x_ptr):
        tl.load(x_ptr + tl.arange(0, 4)) // 2

    fails_clearly(float_floordiv, r"//: float32 operand; // takes integers .* tl\.floor\(x / y\)")


def test_a_pointer_casts_to_another_pointer_type_over_the_same_bytes():
    """unsloth's NF4 dequant idiom: ``W_ptr.to(tl.pointer_type(tl.int32))`` reads packed
    bytes as words (offsets then count words), as does ``tl.cast`` and a cast of a block
    of pointers; against numpy's view of the same bytes. Offsets that do not start a word,
    and shards that split words between memories, are clear errors."""

    @tl.jit
    def as_words(x_ptr, out_ptr, VIA: tl.constexpr):  # noqa: N803
        if VIA == 0:
            words = x_ptr.to(tl.pointer_type(tl.int32))
        elif VIA == 1:
            words = tl.cast(x_ptr, tl.pointer_type(tl.int32))
        else:
            words = (x_ptr + tl.arange(0, 4) * 4).to(tl.pointer_type(tl.int32)) - tl.arange(0, 4)
        tl.store(out_ptr + tl.arange(0, 4), tl.load(words + tl.arange(0, 4)))

    x_np = np.arange(1, 17, dtype=np.uint8) * 13
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(x_np, Placement.single(0))
    for via in (0, 1, 2):
        out = rt.zeros((4,), "int32", Placement.single(0))
        rt.launch(as_words, x, out, grid=(1,), pes=[0], VIA=via)
        rt.synchronize()
        assert out.numpy().tolist() == x_np.view(np.int32).tolist(), via

    @tl.jit
    def misaligned(x_ptr):
        (x_ptr + 1).to(tl.pointer_type(tl.int64))  # x: float32, so 4 bytes in

    fails_clearly(misaligned, r"pointer cast of x.* element offsets \[1\] do not start 8-byte")
    spread = rt.from_numpy(x_np)  # one byte per PE: words would span memories
    with pytest.raises(tl.KernelUsageError, match=r"its shards \(one per PE\) start inside int32"):
        rt.launch(as_words, spread, rt.zeros((4,), "int32", Placement.single(0)), grid=(1,),
                  pes=[0], VIA=0)  # fmt: skip
        rt.synchronize()
