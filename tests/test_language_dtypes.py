"""bfloat16 and float8 tiles (ml_dtypes' numpy dtypes): values against ml_dtypes and
float64 references, Triton's dtype rules, and the simulated cost of any dtype of their
size."""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

BF16 = np.dtype(ml_dtypes.bfloat16)
E4M3 = np.dtype(ml_dtypes.float8_e4m3fn)
E5M2 = np.dtype(ml_dtypes.float8_e5m2)
E4M3_FNUZ = np.dtype(ml_dtypes.float8_e4m3fnuz)  # AMD's: tl.float8e4b8
E5M2_FNUZ = np.dtype(ml_dtypes.float8_e5m2fnuz)  # tl.float8e5b16
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
BF16_ULP = 2.0**-7  # spacing of bfloat16 values in [1, 2): 7 stored mantissa bits


def _run(kernel, inputs, outputs):
    """``kernel(*inputs, *outputs)`` as one program on PE 0 with data simulated; the
    outputs, given as (shape, dtype), come back as host arrays."""
    rt = Runtime("default", verify_data=True)
    args = [rt.from_numpy(a, Placement.single(0)) for a in inputs]
    outs = [rt.zeros(shape, dtype, Placement.single(0)) for shape, dtype in outputs]
    rt.launch(kernel, *args, *outs, grid=(1,), pes=[0])
    return [o.numpy() for o in outs]


# -- values -------------------------------------------------------------------------------
def test_bf16_round_trip_matches_ml_dtypes_arithmetic_bit_for_bit():
    """Load bfloat16 tiles, compute on them (each op's result a bfloat16 tile), widen
    with .to(tl.float32), narrow back with .to(tl.bfloat16) and store: bit for bit what
    ml_dtypes' own bfloat16 arithmetic gives (it rounds each op's float32 result once,
    as the simulator does). The float32 output shows .to(tl.bfloat16) rounds."""
    m, n = 8, 32
    rng = np.random.default_rng(5)
    x = rng.uniform(-4, 4, (m, n)).astype(BF16)
    y = rng.uniform(0.5, 2, (m, n)).astype(BF16)
    dtypes = []

    def kernel(x_ptr, y_ptr, out_ptr, f32_ptr):
        offs = tl.arange(0, m)[:, None] * n + tl.arange(0, n)[None, :]
        a, b = tl.load(x_ptr + offs), tl.load(y_ptr + offs)
        s = a * b + a
        h = tl.maximum(s - 1.0, -a)
        wide = h.to(tl.float32) * 0.1
        narrow = wide.to(tl.bfloat16)
        dtypes.extend([a.dtype, s.dtype, h.dtype, wide.dtype, narrow.dtype])
        tl.store(out_ptr + offs, narrow)
        tl.store(f32_ptr + offs, narrow.to(tl.float32) * 3.0)

    got, got_f32 = _run(kernel, [x, y], [((m, n), "bfloat16"), ((m, n), "float32")])
    s = x * y + x  # ml_dtypes ufuncs on bfloat16 arrays: bfloat16 results
    h = np.maximum(s - BF16.type(1.0), -x)
    narrow = (h.astype(F32) * F32.type(0.1)).astype(BF16)
    # tl.maximum computes bfloat16 in float32, as Triton's (the maximum itself is exact).
    assert dtypes == [BF16, BF16, F32, F32, BF16]
    assert got.dtype == BF16
    np.testing.assert_array_equal(got.view(np.uint16), narrow.view(np.uint16))
    np.testing.assert_array_equal(got_f32, narrow.astype(F32) * F32.type(3.0))


def test_bf16_sum_where_full_and_softmax():
    """tl.sum of bfloat16 accumulates in float32 and rounds once (ml_dtypes' own sum
    rounds every partial sum to bfloat16 and stalls); tl.where with a number keeps
    bfloat16; tl.full/tl.zeros make bfloat16 tiles; tl.softmax takes bfloat16 and, as
    Triton's, gives float32."""
    n = 1024
    x = np.random.default_rng(8).uniform(0, 1, n).astype(BF16)
    dtypes = []

    def kernel(x_ptr, sum_ptr, where_ptr, fill_ptr, soft_ptr):
        offs = tl.arange(0, n)
        v = tl.load(x_ptr + offs)
        total = tl.sum(v)
        kept = tl.where(v > 0.5, v, 0.0)
        fill = tl.full((n,), 0.75, tl.bfloat16) + tl.zeros((n,), tl.bfloat16)
        soft = tl.softmax(v)
        dtypes.extend([total.dtype, kept.dtype, fill.dtype, soft.dtype])
        tl.store(sum_ptr + tl.arange(0, 1), tl.reshape(total, (1,)))
        tl.store(where_ptr + offs, kept)
        tl.store(fill_ptr + offs, fill)
        tl.store(soft_ptr + offs, soft)

    total, kept, fill, soft = _run(
        kernel, [x], [((1,), "float32"), ((n,), "bfloat16"), ((n,), "bfloat16"), ((n,), "float32")]
    )
    # Softmax's max widens bfloat16 to float32, as Triton's: the rest follows in float32.
    assert dtypes == [BF16, BF16, BF16, F32]
    x64 = x.astype(np.float64)
    # The exact sum, rounded to bfloat16: float32's pairwise sum is off by far less than
    # half a bfloat16 ulp, so at most one rounding step (one ulp) apart.
    np.testing.assert_allclose(total[0], np.float64(BF16.type(math.fsum(x64))), rtol=BF16_ULP)
    np.testing.assert_array_equal(kept, np.where(x > BF16.type(0.5), x, BF16.type(0)))
    np.testing.assert_array_equal(fill, np.full(n, 0.75, BF16))
    # The input is bfloat16 (half an ulp, relative 2**-8 at most); the steps after the
    # maximum are float32: within 4 * 2**-8 of the float64 softmax.
    exact = np.exp(x64 - x64.max()) / np.exp(x64 - x64.max()).sum()
    np.testing.assert_allclose(soft, exact, rtol=4 * 2.0**-8)


def _dot_in_two_steps(a: np.ndarray, b: np.ndarray):
    """tl.dot of a's and b's tiles accumulated over two halves of K in a float32
    accumulator, and in one call; both float32 results, and the tiles' dtypes."""
    (m, k), n = a.shape, b.shape[1]
    half = k // 2
    dtypes = []

    def kernel(a_ptr, b_ptr, acc_ptr, one_ptr):
        rm, cn = tl.arange(0, m)[:, None], tl.arange(0, n)[None, :]
        acc = tl.zeros((m, n), tl.float32)
        for k0 in (0, half):
            ta = tl.load(a_ptr + rm * k + k0 + tl.arange(0, half)[None, :])
            tb = tl.load(b_ptr + (k0 + tl.arange(0, half)[:, None]) * n + cn)
            acc = tl.dot(ta, tb, acc)
        whole_a = tl.load(a_ptr + rm * k + tl.arange(0, k)[None, :])
        whole_b = tl.load(b_ptr + tl.arange(0, k)[:, None] * n + cn)
        one = tl.dot(whole_a, whole_b)
        dtypes.extend([ta.dtype, tb.dtype, acc.dtype, one.dtype])
        tl.store(acc_ptr + rm * n + cn, acc)
        tl.store(one_ptr + rm * n + cn, one)

    acc, one = _run(kernel, [a, b], [((m, n), "float32"), ((m, n), "float32")])
    return acc, one, dtypes


@pytest.mark.parametrize(
    ("a_dtype", "b_dtype"),
    [(BF16, BF16), (E4M3, E4M3), (E5M2, E5M2), (E4M3, E5M2), (E4M3_FNUZ, E5M2_FNUZ)],
)
def test_dot_of_bf16_and_fp8_tiles_accumulates_in_float32(a_dtype, b_dtype):
    """bfloat16 and float8 tiles (two float8 dtypes may mix, as in Triton) multiply to
    float32, accumulating in float32 across calls: a.astype(float32) @ b.astype(float32)."""
    m, k, n = 32, 64, 16
    rng = np.random.default_rng(21)
    a = rng.standard_normal((m, k)).astype(a_dtype)
    b = rng.standard_normal((k, n)).astype(b_dtype)
    acc, one, dtypes = _dot_in_two_steps(a, b)
    assert dtypes == [a_dtype, b_dtype, F32, F32]
    a32, b32 = a.astype(F32), b.astype(F32)
    reference = a32 @ b32
    # Products of two 8-bit significands (4-bit for float8) are exact in float32; only
    # the float32 sums of k terms round, which the classic bound keeps within
    # k * eps32 * (|a| @ |b|). A result rounded to bfloat16 anywhere is off by about
    # 2**-9 of it, hundreds of times that bound.
    bound = k * np.finfo(F32).eps * (np.abs(a32) @ np.abs(b32))
    assert np.all(np.abs(acc - reference) <= bound)
    assert np.all(np.abs(one - reference) <= bound)


def test_int8_dot_accumulates_exactly_in_int32():
    """int8 x int8 sums in int32 across calls (Triton's integer dot): numpy's int32
    product exactly, at magnitudes where a float32 sum would round (> 2**24)."""
    m, k, n = 16, 2048, 16

    @tl.jit
    def int8_dot(a_ptr, b_ptr, c_ptr):
        rm, rk, rn = tl.arange(0, m), tl.arange(0, k // 2), tl.arange(0, n)
        a0 = tl.load(a_ptr + rm[:, None] * k + rk[None, :])
        a1 = tl.load(a_ptr + rm[:, None] * k + k // 2 + rk[None, :])
        b0 = tl.load(b_ptr + rk[:, None] * n + rn[None, :])
        b1 = tl.load(b_ptr + (k // 2 + rk[:, None]) * n + rn[None, :])
        acc = tl.dot(a0, b0)
        tl.static_assert(acc.dtype == tl.int32, "int8 x int8 gives int32")
        tl.store(c_ptr + rm[:, None] * n + rn[None, :], tl.dot(a1, b1, acc))

    rng = np.random.default_rng(8)
    a = rng.integers(100, 128, (m, k), dtype=np.int8)
    b = rng.integers(100, 128, (k, n), dtype=np.int8)
    (got,) = _run(int8_dot, [a, b], [((m, n), "int32")])
    expected = a.astype(np.int32) @ b.astype(np.int32)
    assert expected.max() > 2**24  # float32 could not hold these sums exactly
    np.testing.assert_array_equal(got, expected)


def test_integer_dot_misuse_is_one_clear_error():
    @tl.jit
    def mixed(x_ptr):
        tl.dot(tl.zeros((16, 16), tl.int8), tl.zeros((16, 16), tl.float16))

    @tl.jit
    def float_acc(x_ptr):
        tl.dot(tl.zeros((16, 16), tl.int8), tl.zeros((16, 16), tl.int8),
               tl.zeros((16, 16), tl.float32))  # fmt: skip

    fails_clearly(mixed, r"tl\.dot: integer operands must both be int8, as in Triton; got int8 "
                  r"and float16")  # fmt: skip
    fails_clearly(float_acc, r"int8 operands accumulate in int32; acc is float32")


# -- costs --------------------------------------------------------------------------------
def _costs(dtype: np.dtype, writer) -> dict:
    """One program loading n elements of a ``dtype`` tensor and a (32, 32) tile, then a
    dot of the tile with itself (timing only): the loads' DMA and op bytes, the loaded
    tiles' TCM bytes, and the load and dot durations."""
    n = 4096
    rt = Runtime("default", writer=writer)
    x = rt.empty((n,), dtype, Placement.single(0))
    a = rt.empty((32, 32), dtype, Placement.single(0))
    tcm = []

    def kernel(x_ptr, a_ptr):
        v = tl.load(x_ptr + tl.arange(0, n))
        t = tl.load(a_ptr + tl.arange(0, 32)[:, None] * 32 + tl.arange(0, 32)[None, :])
        tl.dot(t, t)
        tcm.extend([v.nbytes, t.nbytes])

    launch = rt.launch(kernel, x, a, grid=(1,), pes=[0])
    rt.synchronize()
    mine = launch.launch_id
    dmas = [d for d in writer.rows["dma"] if d["launch_id"] == mine and d["kind"] == "load"]
    ops = [o for o in writer.rows["ops"] if o["launch_id"] == mine]
    loads = [o for o in ops if o["op"] == "load"]
    (dot,) = [o for o in ops if o["op"] == "dot"]
    return {
        "dma_bytes": sum(d["bytes"] for d in dmas),
        "op_bytes": sum(o["bytes"] for o in loads),
        "tcm_bytes": sum(tcm),
        "load_ns": [o["end_ns"] - o["start_ns"] for o in loads],
        "dot_ns": dot["end_ns"] - dot["start_ns"],
        "elements": n + 32 * 32,
    }


def test_bf16_loads_cost_as_float16_and_fp8_loads_half_with_the_same_dot(new_list_writer):
    """Bytes follow the itemsize: a bfloat16 load moves (DMA rows and op bytes) and
    holds (TCM) what a float16 one does, taking as long; a float8 one half of that. A
    dot costs the same GEMM time whatever the dtype."""
    f16, bf16 = _costs(F16, new_list_writer()), _costs(BF16, new_list_writer())
    e4m3, e5m2 = _costs(E4M3, new_list_writer()), _costs(E5M2, new_list_writer())
    for costs, dtype in ((f16, F16), (bf16, BF16), (e4m3, E4M3), (e5m2, E5M2)):
        expected = costs["elements"] * dtype.itemsize
        assert (costs["dma_bytes"], costs["op_bytes"], costs["tcm_bytes"]) == (expected,) * 3
    for key in ("dma_bytes", "op_bytes", "tcm_bytes"):
        assert bf16[key] == f16[key]
        assert e4m3[key] == e5m2[key] == f16[key] * E4M3.itemsize // F16.itemsize
    assert bf16["load_ns"] == f16["load_ns"]
    assert f16["dot_ns"] == bf16["dot_ns"] == e4m3["dot_ns"] == e5m2["dot_ns"]


# -- host API -----------------------------------------------------------------------------
def test_host_tensors_of_bf16_and_fp8_by_name_and_from_numpy(list_writer):
    """rt.empty/zeros take the dtypes' names as they take "float16"; from_numpy of a
    bfloat16 array copies its bytes (as many as a float16 array's) and .numpy() gives
    it back as bfloat16."""
    rt = Runtime("default", verify_data=True, writer=list_writer)
    empty = rt.empty((64, 8), "bfloat16")  # row-wise over every PE, by default
    assert empty.dtype == tl.bfloat16 and empty.nbytes == 64 * 8 * BF16.itemsize
    for name, dtype in (("float8_e4m3fn", tl.float8e4nv), ("float8_e5m2", tl.float8e5)):
        zeros = rt.zeros((64,), name).numpy()
        assert zeros.dtype == dtype and not zeros.astype(F32).any()
    values = (np.arange(512, dtype=F32).reshape(64, 8) / 8).astype(BF16)
    tensor = rt.from_numpy(values)
    assert tensor.stride() == (8, 1)
    got = tensor.numpy()
    assert got.dtype == BF16
    np.testing.assert_array_equal(got.view(np.uint16), values.view(np.uint16))
    written = [d["bytes"] for d in list_writer.rows["dma"] if d["kind"] == "host_write"]
    assert sum(written) == values.size * F16.itemsize


# -- Triton's rules -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("bfloat16", "bfloat16", "bfloat16"),
        ("bfloat16", "float16", "float16"),
        ("bfloat16", "float32", "float32"),
        ("bfloat16", "int32", "float32"),
        ("float8e4nv", "float8e4nv", "float8e4nv"),
        ("float8e4nv", "float8e5", "float16"),
        ("float8e5", "bfloat16", "float32"),
        ("float8e5", "float16", "float16"),
    ],
)
def test_arithmetic_promotes_as_triton(left, right, expected):
    """Triton's promotion (computation_type_impl) of two tiles, either way round; a
    number does not take part, so a tile with a number keeps its dtype."""
    seen = []

    def kernel(x_ptr):
        v = tl.load(x_ptr + tl.arange(0, 4))
        a, b = v.to(getattr(tl, left)), v.to(getattr(tl, right))
        seen.extend([(a + b).dtype, (b * a).dtype, (a - 2.5).dtype, (3 * a).dtype])

    rt = Runtime("default")
    rt.launch(kernel, rt.zeros((4,), "float32", Placement.single(0)), grid=(1,), pes=[0])
    rt.synchronize()
    want, own = getattr(tl, expected), getattr(tl, left)
    assert seen == [want, want, own, own]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda v: v.to(tl.float8e4nv) + v.to(tl.int32),
         r"tl\.add: cannot combine float8_e4m3fn and int32 tiles"),
        (lambda v: tl.dot(v.to(tl.bfloat16), v.to(tl.float16)),
         r"tl\.dot: operands of dtypes bfloat16 and float16: both must have one dtype"),
        (lambda v: tl.dot(v.to(tl.bfloat16), v.to(tl.bfloat16), out_dtype=tl.bfloat16),
         r"tl\.dot: a bfloat16 result .* accumulate in float32 and cast"),
        (lambda v: tl.cos(v.to(tl.bfloat16)),
         r"tl\.cos takes float32 or float64 tensors, got bfloat16"),
        (lambda v: tl.dot(v.to(tl.float16), v),
         r"tl\.dot: operands of dtypes float16 and float32: both must have one dtype"),
        # Triton's `assert acc.type == ret_ty`: a float16 acc needs out_dtype=float16.
        (lambda v: tl.dot(v.to(tl.float16), v.to(tl.float16), v.to(tl.float16)),
         r"tl\.dot: acc is float16 but the product of float16 operands is float32.*"
         r"out_dtype=tl\.float16"),
        (lambda v: tl.dot(v, v, v.to(tl.float16), out_dtype=tl.float16),
         r"tl\.dot: acc is float16 but the product of float32 operands is float32"),
    ],
)  # fmt: skip
def test_narrow_float_misuse_fails_as_in_triton(call, match):
    """What Triton rejects for bfloat16 and float8 fails with one clear KernelUsageError
    naming the kernel and the line."""

    @tl.jit
    def misuse(x_ptr):
        call(tl.load(x_ptr + tl.arange(0, 4)[:, None] * 4 + tl.arange(0, 4)[None, :]))

    fails_clearly(misuse, match)


def test_bf16_and_fp8_are_exported_and_float8e4b15_stays_unsupported():
    """tl.bfloat16, tl.float8e4nv and tl.float8e5 are ml_dtypes' numpy dtypes with
    Triton's formats (e4m3 of bias 7 without infinities: largest 448; e5m2: 57344);
    tl.float8e4b15 (e4m3 of bias 15) has none, and naming it fails clearly."""
    for name in ("bfloat16", "float8e4nv", "float8e5", "float8e4b8", "float8e5b16"):
        assert name not in tl.UNSUPPORTED and name in tl.__all__, name
    assert (tl.bfloat16, tl.float8e4nv, tl.float8e5) == (BF16, E4M3, E5M2)
    assert (tl.float8e4b8, tl.float8e5b16) == (E4M3_FNUZ, E5M2_FNUZ)
    assert float(ml_dtypes.finfo(tl.float8e4nv).max) == 448.0
    assert float(ml_dtypes.finfo(tl.float8e5).max) == 57344.0
    # AMD's: bias 8 (largest 240) and 16 (largest 57344), no infinities
    assert float(ml_dtypes.finfo(tl.float8e4b8).max) == 240.0
    assert float(ml_dtypes.finfo(tl.float8e5b16).max) == 57344.0
    assert "float8e4b15" in tl.UNSUPPORTED
    with pytest.raises(tl.KernelUsageError, match=r"dtype tl\.float8e4b15 is not supported"):
        _ = tl.float8e4b15


# -- integers of both signednesses, and true division ---------------------------------------
@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("int32", "uint32", "uint32"),
        ("int8", "uint8", "uint8"),
        ("int16", "uint16", "uint16"),
        ("int64", "uint64", "uint64"),
        ("uint8", "int32", "int32"),
        ("uint32", "int64", "int64"),
        ("uint16", "int32", "int32"),
    ],
)
def test_integers_of_opposite_signedness_promote_as_c(left, right, expected):
    """Triton's integer_promote_impl (C's usual arithmetic conversions) for two tiles,
    either way round, in arithmetic, bitwise ops, shifts and tl.maximum: the unsigned
    type unless the signed one is wider."""
    seen = []

    def kernel(x_ptr):
        v = tl.load(x_ptr + tl.arange(0, 4))
        a, b = v.to(getattr(tl, left)), v.to(getattr(tl, right))
        seen.extend([(a + b).dtype, (b * a).dtype, (a ^ b).dtype, (b >> a).dtype,
                     tl.maximum(a, b).dtype, (a < b).dtype])  # fmt: skip

    rt = Runtime("default")
    rt.launch(kernel, rt.zeros((4,), "int32", Placement.single(0)), grid=(1,), pes=[0])
    rt.synchronize()
    want = getattr(tl, expected)
    assert seen == [want] * 5 + [tl.int1]


def test_mixed_signedness_computes_in_the_common_type():
    """Values as C computes them: int32 -1 plus uint32 1 wraps to 0; -1 converts to
    2**32 - 1 before a comparison, a literal -1 too (a comparison's number is typed, as
    Triton's to_tensor makes it); int64 with uint64 stays exact past 2**53 (numpy alone
    would widen to int64 or go through float64)."""

    @tl.jit
    def mixed(i32_ptr, i64_ptr, u64_ptr, sums_ptr, less_ptr, below_ptr, wide_ptr):
        offs = tl.arange(0, 4)
        s = tl.load(i32_ptr + offs)
        u = s.to(tl.uint32, bitcast=True) * 0 + 1
        tl.store(sums_ptr + offs, s + u)
        tl.store(less_ptr + offs, (s < u).to(tl.int32))
        tl.store(below_ptr + offs, (s.to(tl.uint32, bitcast=True) < -1).to(tl.int32))
        tl.store(wide_ptr + offs, tl.load(i64_ptr + offs) + tl.load(u64_ptr + offs))

    signed = np.array([-1, 0, 5, -7], np.int32)
    i64 = np.array([2**62 + 1, -1, 3, 2**53 + 1], np.int64)
    u64 = np.array([2**62 + 3, 2, 2**63, 2**53], np.uint64)
    sums, less, below, wide = _run(
        mixed, [signed, i64, u64],
        [((4,), "uint32"), ((4,), "int32"), ((4,), "int32"), ((4,), "uint64")],
    )  # fmt: skip
    as_unsigned = signed.astype(np.int64) % 2**32
    assert sums.tolist() == ((as_unsigned + 1) % 2**32).tolist()
    assert less.tolist() == [int(v < 1) for v in as_unsigned]
    assert below.tolist() == [int(v < 2**32 - 1) for v in as_unsigned]
    assert wide.tolist() == [(int(a) + int(b)) % 2**64 for a, b in zip(i64, u64, strict=True)]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda v: v.to(tl.int32) // v.to(tl.uint32),
         r"tl\.div: cannot use /, // or % with int32 and uint32: they have different signedness"),
        (lambda v: v.to(tl.int8) + 1000, r"tl\.add: the number 1000 is out of range for int8"),
        (lambda v: v.to(tl.int32) * 2**40, r"tl\.mul: the number 1099511627776 is out of range"),
        (lambda v: v.to(tl.uint32) + (-1),
         r"tl\.add: cannot combine an unsigned uint32 tile with the negative number -1"),
        (lambda v: tl.where(v > 0, v.to(tl.int8), 300), r"tl\.where: the number 300 is out of"),
    ],
)  # fmt: skip
def test_integer_misuse_fails_as_in_triton(call, match):
    """What Triton's binary_op_type_checking_impl rejects (division across signedness, a
    number that does not fit the tile's integer type) fails with one clear error."""

    @tl.jit
    def misuse(x_ptr):
        call(tl.load(x_ptr + tl.arange(0, 4)))

    fails_clearly(misuse, match)


def test_literals_and_kernel_integers_promote_as_triton():
    """A number of a higher kind (bool < integer < float) than the tile takes part (bool
    + 1 is int32, int32 + 2.5 float32); of the same or a lower kind it takes the tile's
    type (uint8 + 1 and uint8 // 10 stay uint8, int8 + 1 int8, float16 * 2.0 float16);
    a program id is a typed int32 (int8 + pid is int32); float16 divides in float32;
    tl.where of two numbers is int32."""
    seen = []

    def kernel(x_ptr):
        v = tl.load(x_ptr + tl.arange(0, 4))
        u8, i8, h = v.to(tl.uint8), v.to(tl.int8), v.to(tl.float16)
        pid = tl.program_id(0)
        seen.extend([(u8 + 1).dtype, (u8 // 10).dtype, ((v > 0) + 1).dtype, (v + 2.5).dtype,
                     (i8 + 1).dtype, (h * 2.0).dtype, (i8 + pid).dtype, (h / 3.0).dtype,
                     (h % h).dtype, tl.where(v > 0, 1, 2).dtype, tl.maximum(i8, 0).dtype,
                     tl.maximum(h, 0.0).dtype])  # fmt: skip

    rt = Runtime("default")
    rt.launch(kernel, rt.zeros((4,), "int32", Placement.single(0)), grid=(1,), pes=[0])
    rt.synchronize()
    assert seen == [tl.uint8, tl.uint8, tl.int32, tl.float32, tl.int8, tl.float16, tl.int32,
                    tl.float32, tl.float32, tl.int32, tl.int32, tl.float32]  # fmt: skip


def test_true_division_of_integers_is_float32():
    """``/`` of two integer tiles, or of one and an int, casts both to float32 as
    Triton's truediv does; ``//`` stays an integer division."""

    @tl.jit
    def divide(a_ptr, b_ptr, tiles_ptr, by_int_ptr, of_int_ptr, floor_ptr):
        offs = tl.arange(0, 4)
        a, b = tl.load(a_ptr + offs), tl.load(b_ptr + offs)
        tl.static_assert((a / b).dtype == tl.float32)
        tl.store(tiles_ptr + offs, a / b)
        tl.store(by_int_ptr + offs, a / 3)
        tl.store(of_int_ptr + offs, 7 / b)
        tl.store(floor_ptr + offs, a // b)

    a = np.array([1, -7, 2**24 + 1, 10], np.int32)
    b = np.array([3, 2, 3, -4], np.int32)
    tiles, by_int, of_int, floor = _run(
        divide, [a, b], [((4,), "float32"), ((4,), "float32"), ((4,), "float32"), ((4,), "int32")]
    )
    f32 = np.float32
    assert tiles.tolist() == [f32(f32(x) / f32(y)) for x, y in zip(a, b, strict=True)]
    assert by_int.tolist() == [f32(f32(x) / f32(3)) for x in a]
    assert of_int.tolist() == [f32(f32(7) / f32(y)) for y in b]
    assert floor.tolist() == [0, -3, (2**24 + 1) // 3, -2]  # C's truncation toward zero


def test_uint16_and_uint64_bitcasts_give_the_bits():
    """``x.to(tl.uint16, bitcast=True)`` of float16 values is their bit pattern, and a
    uint64 tile round-trips the bits of float64-sized int64 values."""

    @tl.jit
    def bits(h_ptr, i_ptr, h_bits_ptr, i_bits_ptr):
        offs = tl.arange(0, 4)
        tl.store(h_bits_ptr + offs, tl.load(h_ptr + offs).to(tl.uint16, bitcast=True))
        tl.store(i_bits_ptr + offs, tl.load(i_ptr + offs).to(tl.uint64, bitcast=True))

    halves = np.array([1.0, -2.5, 65504.0, 2.0**-24], np.float16)
    ints = np.array([-1, 0, 2**63 - 1, -(2**63)], np.int64)
    h_bits, i_bits = _run(bits, [halves, ints], [((4,), "uint16"), ((4,), "uint64")])
    assert h_bits.tolist() == halves.view(np.uint16).tolist()
    assert i_bits.tolist() == ints.view(np.uint64).tolist()


def test_reductions_follow_triton_s_dtypes_signature_and_nan_rule():
    """tl.sum of integers narrower than 32 bits (and bool) sums in int32 / uint32; max and
    min widen them to int32 (float16 to float32); a NaN loses to any number in max, min
    and tl.maximum unless propagate_nan=ALL; tl.max(x, 0, True) returns (values,
    indices) and argmax's third argument is tie_break_left, as in Triton."""
    seen = {}

    @tl.jit
    def reduce(i8_ptr, f_ptr, sums_ptr, maxes_ptr, idx_ptr, pair_ptr):
        offs = tl.arange(0, 4)
        i8 = tl.load(i8_ptr + offs)
        f = tl.load(f_ptr + offs)
        total, count = tl.sum(i8), tl.sum(i8 < 0)
        seen["sum"] = (total.dtype, count.dtype, tl.max(i8).dtype, tl.min(f.to(tl.float16)).dtype)
        tl.store(sums_ptr + tl.arange(0, 2), tl.join(total, count.to(tl.int32)))
        values, indices = tl.max(f, 0, True)
        nan = tl.maximum(f, 0.0, propagate_nan=tl.PropagateNan.ALL)
        tl.store(maxes_ptr + tl.arange(0, 2), tl.join(tl.max(f), tl.min(f)))
        tl.store(idx_ptr + tl.arange(0, 2), tl.join(indices, tl.argmax(f, 0, True)))
        tl.store(pair_ptr + offs, tl.maximum(f, 0.0))
        tl.store(pair_ptr + 4 + offs, nan)

    i8 = np.array([100, 100, 100, -128], np.int8)
    f = np.array([1.0, np.nan, 3.0, 2.0], np.float32)
    sums, maxes, idx, pair = _run(
        reduce, [i8, f], [((2,), "int32"), ((2,), "float32"), ((2,), "int32"), ((8,), "float32")]
    )
    assert seen["sum"] == (tl.int32, tl.uint32, tl.int32, tl.float32)
    assert sums.tolist() == [172, 1]
    assert maxes.tolist() == [3.0, 1.0]
    assert pair[:4].tolist() == [1.0, 0.0, 3.0, 2.0]
    assert np.isnan(pair[5]) and pair[[4, 6, 7]].tolist() == [1.0, 3.0, 2.0]
    assert idx[0] == idx[1]  # the same argmax either way


def test_comparisons_type_their_numbers_and_shifts_take_a_number_on_the_left():
    """A comparison makes its number a float32 / int32 operand first (Triton's
    to_tensor): a float16 0.1 is below float32 0.1, and an int32 holding 2**24 + 1
    equals the float32 it rounds to; ``1 << x`` shifts a number by a tile."""

    @tl.jit
    def compare(h_ptr, i_ptr, out_ptr, shifted_ptr):
        offs = tl.arange(0, 4)
        h, i = tl.load(h_ptr + offs), tl.load(i_ptr + offs)
        tl.store(out_ptr + offs, (h < 0.1).to(tl.int32))
        tl.store(out_ptr + 4 + offs, (i == i.to(tl.float32)).to(tl.int32))
        tl.store(shifted_ptr + offs, 1 << i % 8)

    h = np.array([0.1, 0.2, 0.0999, -1.0], np.float16)
    i = np.array([2**24 + 1, 3, 5, 7], np.int32)
    out, shifted = _run(compare, [h, i], [((8,), "int32"), ((4,), "int32")])
    below = [int(np.float32(v) < np.float32(0.1)) for v in h]
    assert below[0] == 1  # float16(0.1) < float32(0.1)
    assert out[:4].tolist() == below
    assert out[4:].tolist() == [1, 1, 1, 1]
    assert shifted.tolist() == [1 << (int(v) % 8) for v in i]


def test_a_float_kernel_argument_is_a_float32_operand():
    """A float argument is Triton's float32 scalar: float16 * scale computes in float32
    (60000 * 2 does not overflow to inf), while a float literal keeps float16."""
    seen = []

    @tl.jit
    def scaled(h_ptr, out_ptr, scale):
        offs = tl.arange(0, 4)
        h = tl.load(h_ptr + offs)
        seen.extend([(h * scale).dtype, (h * 2.0).dtype])
        tl.store(out_ptr + offs, h * scale)

    rt = Runtime("default", verify_data=True)
    h = rt.from_numpy(np.array([60000.0, 1.5, -2.0, 0.1], np.float16), Placement.single(0))
    out = rt.zeros((4,), "float32", Placement.single(0))
    rt.launch(scaled, h, out, 2.0, grid=(1,), pes=[0])
    rt.synchronize()
    assert seen == [tl.float32, tl.float16]
    expected = np.array([60000.0, 1.5, -2.0, 0.1], np.float16).astype(np.float32) * 2
    assert out.numpy().tolist() == expected.tolist()


def test_round_toward_zero_downcasts_as_triton():
    """.to(float16 / bfloat16, fp_downcast_rounding="rtz"): float16 against the largest
    float16 not above |x| (all finite float16 values, searched), bfloat16 against the
    float32 bits with their low 16 cut off; NaN and infinities stay. Rounding given for
    a cast that does not narrow a float is an error, as in Triton."""

    @tl.jit
    def rtz(x_ptr, h_ptr, b_ptr):
        offs = tl.arange(0, 16)
        x = tl.load(x_ptr + offs)
        tl.store(h_ptr + offs, x.to(tl.float16, fp_downcast_rounding="rtz"))
        tl.store(b_ptr + offs, x.to(tl.bfloat16, fp_downcast_rounding="rtz"))

    rng = np.random.default_rng(3)
    x = np.concatenate([
        np.array([1 + 0.75 * 2**-10, -(1 + 0.75 * 2**-10), 65535.0, -70000.0, 1e-8, 0.0,
                  np.inf, -np.inf], np.float32),
        rng.uniform(-300, 300, 8).astype(np.float32),
    ])  # fmt: skip
    h, b = _run(rtz, [x], [((16,), "float16"), ((16,), "bfloat16")])
    finite = np.arange(2**16, dtype=np.uint16).view(np.float16)
    positive = np.unique(finite[np.isfinite(finite) & (finite >= 0)].astype(np.float64))
    for value, got in zip(x, h, strict=True):
        if not np.isfinite(value):
            assert got == value
            continue
        below = positive[np.searchsorted(positive, abs(float(value)), side="right") - 1]
        assert float(got) == math.copysign(below, value), value
    truncated = (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    assert b.astype(np.float32).tolist() == truncated.tolist()

    @tl.jit
    def to_e4m3(x_ptr, out_ptr):
        offs = tl.arange(0, 4)
        tl.store(
            out_ptr + offs, tl.load(x_ptr + offs).to(tl.float8e4nv, fp_downcast_rounding="rtz")
        )

    # e4m3 has no infinity: past its range (448) toward zero is 448, not NaN.
    wide = np.array([1000.0, -1e30, 440.0, 0.3], np.float32)
    (e4m3,) = _run(to_e4m3, [wide], [((4,), E4M3)])
    assert e4m3.astype(np.float32).tolist() == [448.0, -448.0, 416.0, 0.28125]

    @tl.jit
    def widening(x_ptr):
        tl.load(x_ptr + tl.arange(0, 4)).to(tl.float64, fp_downcast_rounding="rtz")

    fails_clearly(widening, r"fp_downcast_rounding applies only to a float narrowed to a "
                            r"smaller float, not float32 to float64")  # fmt: skip


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda v: tl.full((4,), 2**40, tl.int32), r"tl\.full: the number 1099511627776 is out "
                                                   r"of range for int32"),
        (lambda v: tl.full((4,), -1, tl.uint8), r"tl\.full: cannot combine an unsigned uint8"),
        (lambda v: tl.full((4,), 2.5, tl.int32), r"tl\.full: 2\.5 is not an integer for int32"),
        (lambda v: ~v, r"~ takes integer or bool tiles, got float32"),
        (lambda v: (v > 0).to(tl.int8, bitcast=True),
         r"bitcast=True\): bool and int8 differ"),  # 1 bit against 8, as Triton counts
    ],
)  # fmt: skip
def test_fills_and_inversions_that_cannot_hold_fail_clearly(call, match):
    """tl.full of a number its integer dtype cannot hold, and ~ of a float tile, fail with
    one clear error (not numpy's, and in timing mode too)."""

    @tl.jit
    def misuse(x_ptr):
        call(tl.load(x_ptr + tl.arange(0, 4)))

    fails_clearly(misuse, match)


def test_scans_of_bfloat16_and_dots_of_float32_give_float32():
    """As Triton's: cumsum and cumprod promote bfloat16 to float32; tl.dot of float32 or
    bfloat16 operands is float32 whatever out_dtype says (out_dtype applies to float16
    and float8 ones)."""
    seen = []

    def kernel(x_ptr):
        offs = tl.arange(0, 16)
        v = tl.load(x_ptr + offs[:, None] * 16 + offs[None, :])
        b, h = v.to(tl.bfloat16), v.to(tl.float16)
        seen.extend([tl.cumsum(b, 0).dtype, tl.cumprod(b, 1).dtype,
                     tl.dot(v, v, out_dtype=tl.float16).dtype,
                     tl.dot(h, h, out_dtype=tl.float16).dtype])  # fmt: skip

    rt = Runtime("default")
    rt.launch(kernel, rt.zeros((256,), "float32", Placement.single(0)), grid=(1,), pes=[0])
    rt.synchronize()
    assert seen == [tl.float32, tl.float32, tl.float32, tl.float16]


def test_clamp_and_fma_type_their_numbers_and_fma_rounds_once():
    """tl.clamp and tl.fma make their numbers float32 operands and bfloat16 float32, as
    Triton's (a float16 clamped by 0.1 is float32, bounded by float32's 0.1); fma rounds
    the exact x * y + z once: (1 + 2**-23)(1 - 2**-23) - 1 is -2**-46, not 0."""
    seen = []

    @tl.jit
    def kernel(h_ptr, x_ptr, clamped_ptr, fused_ptr):
        offs = tl.arange(0, 4)
        h = tl.load(h_ptr + offs)
        x = tl.load(x_ptr + offs)
        clamped = tl.clamp(h, 0.1, 1.0)
        fused = tl.fma(x, 1 - 2.0**-23, -1.0)
        seen.extend([clamped.dtype, tl.clamp(h.to(tl.bfloat16), 0.0, 1.0).dtype,
                     tl.fma(h, 2.0, 1.0).dtype, fused.dtype])  # fmt: skip
        tl.store(clamped_ptr + offs, clamped)
        tl.store(fused_ptr + offs, fused)

    h = np.array([0.0, 0.1, 0.5, 3.0], np.float16)
    x = np.full(4, 1 + 2.0**-23, np.float32)
    clamped, fused = _run(kernel, [h, x], [((4,), "float32"), ((4,), "float32")])
    assert seen == [tl.float32, tl.float32, tl.float32, tl.float32]
    low = np.float32(0.1)
    assert clamped.tolist() == [low, max(np.float32(h[1]), low), 0.5, 1.0]
    assert fused.tolist() == [-(2.0**-46)] * 4


def test_load_other_may_be_a_tile_of_loaded_data():
    """tl.load(..., other=t) with t computed from loaded data: masked-off elements take
    t's values (in the pointer's dtype), also when the mask keeps nothing, as Triton's."""

    @tl.jit
    def fallback(x_ptr, y_ptr, out_ptr, none_ptr, n):
        offs = tl.arange(0, 8)
        y = tl.load(y_ptr + offs) * 2
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n, other=y))
        tl.store(none_ptr + offs, tl.load(x_ptr + offs, mask=offs < 0, other=y + 1))

    x = np.arange(8, dtype=np.float32)
    y = np.arange(100, 108, dtype=np.int32)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    xs, ys = rt.from_numpy(x, place), rt.from_numpy(y, place)
    out, none = rt.zeros((8,), "float32", place), rt.zeros((8,), "float32", place)
    rt.launch(fallback, xs, ys, out, none, 5, grid=(1,), pes=[0])
    rt.synchronize()
    assert out.numpy().tolist() == [0, 1, 2, 3, 4, 210, 212, 214]
    assert none.numpy().tolist() == (2 * y + 1).astype(np.float32).tolist()
    timing = Runtime("default")  # no values: the load only waits for the other tile
    args = [timing.zeros((8,), dtype, place) for dtype in ("float32", "int32", "float32",
                                                          "float32")]  # fmt: skip
    timing.launch(fallback, *args, 5, grid=(1,), pes=[0])
    timing.synchronize()


def test_a_3d_dot_is_a_batch_of_products(list_writer):
    """tl.dot of (B, M, K) and (B, K, N) tiles, plus a (B, M, N) acc: numpy's batched
    matmul in float32; one GEMM op of ceil(M/R) * ceil(N/C) * K * B + fill_drain cycles
    and 2BMNK FLOPs; a 2-D with a 3-D operand is an error."""
    batch, m, k, n = 4, 16, 32, 8

    @tl.jit
    def batched(a_ptr, b_ptr, c_ptr, out_ptr):
        ib, im, ik, i_n = (tl.arange(0, s) for s in (batch, m, k, n))
        a = tl.load(a_ptr + ib[:, None, None] * m * k + im[None, :, None] * k + ik[None, None, :])
        b = tl.load(b_ptr + ib[:, None, None] * k * n + ik[None, :, None] * n + i_n[None, None, :])
        c_offs = ib[:, None, None] * m * n + im[None, :, None] * n + i_n[None, None, :]
        tl.store(out_ptr + c_offs, tl.dot(a, b, acc=tl.load(c_ptr + c_offs)))

    rng = np.random.default_rng(11)
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, k, n)).astype(np.float32)
    c = rng.standard_normal((batch, m, n)).astype(np.float32)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    place = Placement.single(0)
    args = [rt.from_numpy(v.ravel(), place) for v in (a, b, c)]
    out = rt.zeros((batch * m * n,), "float32", place)
    rt.launch(batched, *args, out, grid=(1,), pes=[0])
    rt.synchronize()
    np.testing.assert_allclose(out.numpy().reshape(batch, m, n), a @ b + c, rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    (row,) = [r for r in list_writer.rows["ops"] if r["op"] == "dot"]
    pe = rt.topology.params.pe
    cycles = math.ceil(m / pe.gemm.rows) * math.ceil(n / pe.gemm.cols) * k * batch
    expected = (cycles + pe.gemm.fill_drain_cycles) / pe.clock_ghz
    assert row["end_ns"] - row["start_ns"] == pytest.approx(expected, rel=1e-12)
    assert row["flops"] == 2 * batch * m * n * k

    @tl.jit
    def mixed(x_ptr):
        v = tl.load(x_ptr + tl.arange(0, 16)[:, None] * 0 + tl.arange(0, 16)[None, :])
        tl.dot(tl.reshape(v, (1, 16, 16)), v)

    fails_clearly(mixed, r"tl\.dot: shapes \(1, 16, 16\) and \(16, 16\) do not multiply \(both")


def test_a_block_pointer_store_needs_the_element_dtype_and_a_descriptor_casts():
    """Storing a float32 tile through a block pointer to float16 is an error, as
    Triton's _store_block_pointer asserts; a tensor descriptor's store casts, as
    Triton's descriptor_store does."""

    @tl.jit
    def through_block(x_ptr):
        ptr = tl.make_block_ptr(x_ptr, (16,), (1,), (0,), (16,), (0,))
        tl.store(ptr, tl.full((16,), 7.5, tl.float32))

    rt = Runtime("default")
    wanted = r"tl\.store: a float32 tile into a block pointer to float16 .* cast it with \.to"
    with pytest.raises(tl.KernelUsageError, match=wanted):
        rt.launch(through_block, rt.zeros((16,), "float16", Placement.single(0)), grid=(1,),
                  pes=[0])  # fmt: skip
        rt.synchronize()

    @tl.jit
    def through_descriptor(x_ptr):
        desc = tl.make_tensor_descriptor(x_ptr, shape=[16, 16], strides=[16, 1],
                                         block_shape=[16, 16])  # fmt: skip
        desc.store([0, 0], tl.full((16, 16), 7.5, tl.float32))

    (out,) = _run(through_descriptor, [], [((16, 16), "float16")])
    assert out.tolist() == np.full((16, 16), 7.5, np.float16).tolist()


def test_bool_arithmetic_is_one_bit_and_wraps():
    """Two bools add and subtract in Triton's 1 bit (an exclusive or: True + True is
    False), where numpy's add is a logical or; with an int the bool takes part as 0/1."""

    @tl.jit
    def one_bit(a_ptr, b_ptr, sum_ptr, diff_ptr, mixed_ptr):
        offs = tl.arange(0, 4)
        a, b = tl.load(a_ptr + offs) != 0, tl.load(b_ptr + offs) != 0
        tl.static_assert((a + b).dtype == tl.int1)
        tl.store(sum_ptr + offs, (a + b).to(tl.int32))
        tl.store(diff_ptr + offs, (a - b).to(tl.int32) + (True - a).to(tl.int32) * 2)
        tl.store(mixed_ptr + offs, a + 1 + b)

    a = np.array([0, 0, 1, 1], np.int32)
    b = np.array([0, 1, 0, 1], np.int32)
    sums, diffs, mixed = _run(one_bit, [a, b], [((4,), "int32")] * 3)
    assert sums.tolist() == [x ^ y for x, y in zip(a, b, strict=True)]
    assert diffs.tolist() == [(x ^ y) + (1 ^ x) * 2 for x, y in zip(a, b, strict=True)]
    assert mixed.tolist() == (a + 1 + b).tolist()


def test_int_arguments_are_typed_by_range_as_triton():
    """An int argument is int32 if it fits, else int64, else uint64 (2**63 .. 2**64-1,
    carried exactly); wider is one clear error naming the parameter."""
    seen = []

    @tl.jit
    def typed(out_ptr, small, big, huge):
        seen.extend([small.dtype, big.dtype, huge.dtype])
        tl.store(out_ptr + tl.arange(0, 1), tl.full((1,), huge, tl.uint64))

    rt = Runtime("default", verify_data=True)
    out = rt.zeros((1,), "uint64", Placement.single(0))
    rt.launch(typed, out, -5, 2**40, 2**64 - 3, grid=(1,), pes=[0])
    rt.synchronize()
    assert seen == [tl.int32, tl.int64, tl.uint64]
    assert int(out.numpy()[0]) == 2**64 - 3
    with pytest.raises(tl.KernelUsageError, match=rf"kernel 'typed': argument huge = {2**64} does"):
        rt.launch(typed, out, 1, 1, 2**64, grid=(1,), pes=[0])


def test_sum_in_a_wider_dtype_accumulates_in_it():
    """tl.sum(x_f16, dtype=tl.float32) casts first and sums in float32, as Triton's: 1024
    x 64 is 65536 (not float16's inf) and 2048 + 7 x 1 is 2055 (float16 partial sums
    would stop at 2048 + 2 + 2 + 2 + ...)."""

    @tl.jit
    def sums(big_ptr, fine_ptr, out_ptr):
        big = tl.load(big_ptr + tl.arange(0, 1024))
        fine = tl.load(fine_ptr + tl.arange(0, 8))
        totals = tl.join(tl.sum(big, axis=0, dtype=tl.float32),
                         tl.sum(fine, axis=0, dtype=tl.float32))  # fmt: skip
        tl.store(out_ptr + tl.arange(0, 2), totals)

    big = np.full(1024, 64.0, np.float16)
    fine = np.array([2048.0] + [1.0] * 7, np.float16)
    (out,) = _run(sums, [big, fine], [((2,), "float32")])
    assert out.tolist() == [big.astype(np.float32).sum(), fine.astype(np.float32).sum()]
    assert out.tolist() == [65536.0, 2055.0]


@tl.jit
def cast_and_store(x_ptr, cast_ptr, stored_ptr, N: tl.constexpr):  # noqa: N803
    """x cast to the outputs' dtype, and x stored there as it is (the store casts)."""
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(cast_ptr + offs, x.to(cast_ptr.dtype.element_ty))
    tl.store(stored_ptr + offs, x)


def _cast_and_stored(x: np.ndarray, target: Any) -> list[np.ndarray]:
    """(cast, stored) of ``x`` to ``target`` by :func:`cast_and_store`."""
    n = len(x)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    outs = [rt.zeros((n,), target, place) for _ in range(2)]
    rt.launch(cast_and_store, rt.from_numpy(x, place), *outs, grid=(1,), pes=[0], N=n)
    return [o.numpy() for o in outs]


@pytest.mark.parametrize("source", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("target", [E4M3, E5M2, E4M3_FNUZ, E5M2_FNUZ])
def test_float8_casts_and_stores_saturate(source, target):
    """A float cast or stored to float8 saturates at the largest finite value (infinities
    too), as Triton's NVIDIA conversions (cvt.rn.satfinite); in range it rounds to
    nearest even as ml_dtypes does; NaN stays NaN."""

    values = np.array([500.0, -1000.0, 60000.0, np.inf, -np.inf, np.nan, 1.0, -0.3], np.float32)
    x = values.astype(ml_dtypes.bfloat16 if source == "bfloat16" else source)
    cast, stored = _cast_and_stored(x, target)
    largest = float(ml_dtypes.finfo(target).max)
    exact = x.astype(np.float64)
    expected = np.where(np.isnan(exact), np.nan, np.clip(exact, -largest, largest))
    expected = np.where(np.abs(exact) <= largest, exact.astype(np.float32).astype(target),
                        expected)  # in range: numpy/ml_dtypes' nearest even  # fmt: skip
    for got in (cast, stored):
        np.testing.assert_array_equal(got.astype(np.float64), expected.astype(np.float64))
    assert cast.astype(np.float64)[2:5].tolist() == [largest, largest, -largest]


@pytest.mark.parametrize("target", ["int8", "uint8", "int16", "int32", "uint32", "int64"])
@pytest.mark.parametrize("source", ["float32", "float16", "bfloat16", "float64"])
def test_float_to_integer_truncates_and_saturates(source, target):
    """A float cast (or stored) to an integer truncates toward zero and saturates, as
    NVIDIA's cvt.rzi that Triton's fptosi/fptoui lower to: past the range (infinities
    too) the range's end, NaN 0, a negative to unsigned 0; numpy's own cast is
    undefined there. Against Python's int() clamped by hand."""

    values = [3e9, -3e9, np.inf, -np.inf, np.nan, -1.0, 300.0, -2.5, 2.5, 127.9, -128.9,
              65504.0, 1e19, -0.7, 0.0, 255.5]  # fmt: skip
    with np.errstate(over="ignore"):  # 3e9 is infinity in float16
        x = np.array(values).astype(ml_dtypes.bfloat16 if source == "bfloat16" else source)
    cast, stored = _cast_and_stored(x, target)
    info = np.iinfo(target)

    def expected(v: float) -> int:
        if math.isnan(v):
            return 0
        if math.isinf(v):
            return int(info.max) if v > 0 else int(info.min)
        return min(max(int(v), int(info.min)), int(info.max))

    reference = [expected(float(v)) for v in x.astype(np.float64)]
    assert cast.tolist() == reference and stored.tolist() == reference


def test_casts_to_float8_follow_triton_s_rules():
    """An integer to float8 is an error (Triton converts integers only to and from
    fp16, bf16, fp32 and fp64); a float8 tile cast to its own dtype is unchanged, its
    infinities too (Triton returns the input)."""

    @tl.jit
    def same(x_ptr, out_ptr):
        offs = tl.arange(0, 4)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs).to(tl.float8e5))

    x = np.array([np.inf, -np.inf, 1.5, -57344.0], np.float32).astype(E5M2)
    (out,) = _run(same, [x], [((4,), E5M2)])
    assert out.astype(np.float64).tolist() == [np.inf, -np.inf, 1.5, -57344.0]

    @tl.jit
    def from_int(x_ptr):
        tl.arange(0, 4).to(tl.float8e4nv)

    fails_clearly(from_int, r"tensor\.to: cannot cast int32 to float8_e4m3fn; cast through "
                  r"float16 or float32")  # fmt: skip


def test_float64_stays_float64_in_arithmetic_and_dot():
    """As Triton's computation_type_impl and dot: float64 with float32 computes in
    float64, and a dot of float64 tiles is float64, computed so (1 + 2**-40 survives,
    which float32 would round to 1)."""
    seen = []

    @tl.jit
    def wide(a_ptr, b_ptr, out_ptr):
        rows = tl.arange(0, 16)[:, None] * 16 + tl.arange(0, 16)[None, :]
        a, b = tl.load(a_ptr + rows), tl.load(b_ptr + rows)
        product = tl.dot(a, b)
        mixed = a + b.to(tl.float32)
        seen.extend([product.dtype, mixed.dtype, (a / 3).dtype])
        tl.store(out_ptr + rows, product + mixed)

    rng = np.random.default_rng(64)
    a = np.eye(16) * (1 + 2.0**-40) + rng.standard_normal((16, 16)) * 2.0**-20
    b = rng.standard_normal((16, 16))
    (out,) = _run(wide, [a, b], [((16, 16), "float64")])
    assert seen == [tl.float64, tl.float64, tl.float64]
    np.testing.assert_allclose(out, a @ b + (a + b.astype(np.float32)), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("target", [BF16, E4M3, E5M2])
def test_float64_narrowed_to_a_short_float_rounds_once(target):
    """float64 cast or stored to bfloat16 or float8 rounds once to the nearest value
    (ties to even), as one fptrunc does: checked just above and below the midpoints
    between neighbours, where rounding through float32 first lands on the wrong side.
    The reference picks the nearest among all of the target's finite values."""

    codes = np.arange(2 ** (8 * target.itemsize), dtype=np.uint16 if target.itemsize == 2
                      else np.uint8)  # fmt: skip
    with np.errstate(invalid="ignore"):  # the NaN codes
        table = codes.view(target).astype(np.float64)
    finite = np.isfinite(table)
    order = np.argsort(table[finite], kind="stable")
    values, value_codes = table[finite][order], codes[finite][order]
    rng = np.random.default_rng(8)
    picks = rng.integers(1, len(values) // 2 - 2, 32) + len(values) // 2  # positive ones
    middles = (values[picks] + values[picks + 1]) / 2
    x = np.concatenate([middles * (1 + 2.0**-40), middles * (1 - 2.0**-40)])

    def nearest(v: float) -> float:
        i = np.searchsorted(values, v)
        below, above = values[i - 1], values[i]
        if v - below != above - v:
            return below if v - below < above - v else above
        return below if value_codes[i - 1] % 2 == 0 else above  # a tie: the even code

    cast, stored = _cast_and_stored(x, target)
    expected = [nearest(v) for v in x]
    assert cast.astype(np.float64).tolist() == expected
    assert stored.astype(np.float64).tolist() == expected
