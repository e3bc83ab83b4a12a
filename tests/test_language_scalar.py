"""Integer scalars as Triton types them: program ids are int32 values that widen with
``.to(tl.int64)``, divide with C's rules and refuse to overflow silently; checked against
numpy's int32/int64 arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.language.jit import typed_arguments
from simulator.language.scalar import IntScalar
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

INT32 = st.integers(-(2**31), 2**31 - 1)


@tl.jit
def copy_with_wide_offsets(x_ptr, y_ptr, offsets_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
    # as Triton's tutorials write it, so that pid * BLOCK cannot wrap at 2**31
    pid = tl.program_id(0).to(tl.int64)
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(y_ptr + offsets, tl.load(x_ptr + offsets, mask=mask), mask=mask)
    tl.store(offsets_ptr + offsets, offsets, mask=mask)


def test_a_program_id_widened_to_int64_indexes_as_triton_kernels_write_it():
    """``tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(...)`` is an int64 index
    tile: the copy is exact and the offsets stored are int64 values 0..n-1."""
    n, block = 300, 64
    x_np = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(x_np)
    y = rt.zeros((n,), "float32", Placement.single(0))
    offsets = rt.zeros((n,), "int64", Placement.single(0))
    rt.launch(copy_with_wide_offsets, x, y, offsets, n, grid=(5,), pes=[0, 1], BLOCK=block)
    rt.synchronize()
    np.testing.assert_array_equal(y.numpy(), x_np)
    np.testing.assert_array_equal(offsets.numpy(), np.arange(n, dtype=np.int64))


@tl.jit
def program_id_arithmetic(out_ptr, SHIFT: tl.constexpr, DIVISOR: tl.constexpr):  # noqa: N803
    pid = tl.program_id(0)
    shifted = pid - SHIFT
    tl.store(out_ptr + pid * 4, shifted // DIVISOR)
    tl.store(out_ptr + pid * 4 + 1, shifted % DIVISOR)
    tl.store(out_ptr + pid * 4 + 2, tl.cast(pid, tl.int64) * tl.num_programs(0))
    tl.store(out_ptr + pid * 4 + 3, (pid.to(tl.float32) * 0.5).to(tl.int32))


def test_program_id_arithmetic_divides_with_c_rules():
    """Negative program-id arithmetic truncates toward zero and keeps the dividend's
    sign, as Triton's int32 division does (numpy's fmod is C's remainder)."""
    programs, shift, divisor = 9, 5, 3
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((programs * 4,), "int32", Placement.single(0))
    rt.launch(program_id_arithmetic, out, grid=(programs,), pes=[0], SHIFT=shift,
              DIVISOR=divisor)  # fmt: skip
    rt.synchronize()
    got = out.numpy().reshape(programs, 4)
    shifted = np.arange(programs, dtype=np.int32) - shift
    remainder = np.fmod(shifted, divisor)
    np.testing.assert_array_equal(got[:, 1], remainder)
    np.testing.assert_array_equal(got[:, 0], (shifted - remainder) // divisor)
    assert got[:, 0].min() == -1  # -5 // 3 truncated, where Python's floor gives -2
    np.testing.assert_array_equal(got[:, 2], np.arange(programs) * programs)
    np.testing.assert_array_equal(got[:, 3], np.arange(programs) // 2)


@tl.jit
def offsets_past_int32(x_ptr):
    # (pid + 3) * 2**30 passes 2**31: Triton's int32 product would wrap
    tl.load(x_ptr + (tl.program_id(0) + 3) * 1073741824)


def test_an_int32_program_id_product_that_would_wrap_is_one_clear_error():
    text = fails_clearly(offsets_past_int32, r"int32 overflow: 3 \* 1073741824")
    assert "pid.to(tl.int64)" in text


@tl.jit
def widened_tile(out_ptr, BLOCK: tl.constexpr):  # noqa: N803
    index = tl.arange(0, BLOCK)
    wide = index + tl.program_id(0).to(tl.int64)
    narrow = index + tl.program_id(0)
    tl.static_assert(wide.dtype == tl.int64, "int64 scalar widens an int32 tile")
    tl.static_assert(narrow.dtype == tl.int32, "int32 scalar keeps an int32 tile")
    real = tl.program_id(0).to(tl.float32)
    tl.static_assert(real.dtype == tl.float32 and real.shape == (), "a 0-d float32 value")
    tl.store(out_ptr + index, wide)


def test_an_int64_scalar_widens_an_int32_tile_and_an_int32_one_does_not():
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((8,), "int64", Placement.single(0))
    rt.launch(widened_tile, out, grid=(1,), pes=[0], BLOCK=8)
    rt.synchronize()
    np.testing.assert_array_equal(out.numpy(), np.arange(8))


@given(INT32, INT32.filter(lambda b: b != 0))
def test_int32_scalar_division_is_numpys_int32_division_in_c_rules(a, b):
    """``//`` and ``%`` of int32 scalars against numpy's int32 ``fmod``; every result
    that fits int32 is exact, and the only one that does not (-2**31 // -1) is refused."""
    x, y = IntScalar(a), IntScalar(b)
    with np.errstate(all="ignore"):
        remainder = int(np.fmod(np.int32(a), np.int32(b)))
    quotient = (a - remainder) // b
    if quotient > 2**31 - 1:
        with pytest.raises(tl.KernelUsageError, match="int32 overflow"):
            x // y
        return
    assert (x // y, x % y) == (quotient, remainder)
    assert (x // y).dtype == tl.int32 and (x % y).dtype == tl.int32


@given(INT32, INT32, st.sampled_from(["+", "-", "*"]))
def test_int32_scalar_arithmetic_is_exact_or_refused(a, b, symbol):
    """Every int32 result that fits is the exact one; every one that does not is refused
    (Triton would wrap it); int64 holds the exact result either way."""
    exact = {"+": a + b, "-": a - b, "*": a * b}[symbol]
    operate = {"+": lambda u, v: u + v, "-": lambda u, v: u - v, "*": lambda u, v: u * v}
    wide = operate[symbol](IntScalar(a).to(tl.int64), IntScalar(b))
    assert wide == exact and wide.dtype == tl.int64
    if -(2**31) <= exact < 2**31:
        assert operate[symbol](IntScalar(a), IntScalar(b)) == exact
    else:
        with pytest.raises(tl.KernelUsageError, match="int32 overflow"):
            operate[symbol](IntScalar(a), IntScalar(b))


def test_python_ints_are_weak_and_int64_wins():
    pid = IntScalar(7)
    assert (pid + 1).dtype == tl.int32 and (1 + pid).dtype == tl.int32
    assert (pid + 2**40).dtype == tl.int64 and pid + 2**40 == 7 + 2**40
    assert (pid * IntScalar(2, tl.int64)).dtype == tl.int64
    assert (-pid, abs(-pid), -pid // 2) == (-7, 7, -3)
    assert pid.to(tl.int8) == 7 and IntScalar(300).to(tl.int8) == 44  # a C cast wraps
    assert IntScalar(-1).to(tl.uint32, bitcast=True) == 2**32 - 1
    assert list(range(pid)) == list(range(7)) and f"{pid}" == "7"
    assert isinstance(pid / 2, float)


@tl.jit
def rows_by_argument(x_ptr, n_rows, row_stride, COLS: tl.constexpr):  # noqa: N803
    row = tl.program_id(0)
    cols = tl.arange(0, COLS)
    # Triton's int arguments are int32 scalars: they widen and divide as program ids do
    base = row.to(tl.int64) * row_stride.to(tl.int64)
    tl.store(x_ptr + base + cols, tl.full((COLS,), n_rows // 2, tl.int32) + cols)
    tl.static_assert(COLS.bit_length() > 0 and type(COLS) is int, "constexpr stays a plain int")


def test_int_arguments_are_int32_scalars_and_constexpr_ones_plain_ints():
    rows, cols, stride = 3, 8, 16
    rt = Runtime("default", verify_data=True)
    x = rt.zeros((rows * stride,), "int32", Placement.single(0))
    rt.launch(rows_by_argument, x, rows, stride, grid=(rows,), pes=[0], COLS=cols)
    rt.synchronize()
    expected = np.zeros((rows, stride), np.int32)
    expected[:, :cols] = rows // 2 + np.arange(cols)
    np.testing.assert_array_equal(x.numpy().reshape(rows, stride), expected)


@tl.jit
def product_of_arguments(x_ptr, n, stride):
    tl.load(x_ptr + n * stride)


def test_an_int32_product_of_arguments_that_would_wrap_is_one_clear_error():
    rt = Runtime("default")
    x = rt.zeros((100,), "float32", Placement.single(0))
    with pytest.raises(tl.KernelUsageError, match=r"int32 overflow: 65536 \* 65536 .*line"):
        rt.launch(product_of_arguments, x, 65536, 65536, grid=(1,), pes=[0])
        rt.synchronize()


def test_a_launch_types_an_int_argument_past_int32_as_int64():
    args = typed_arguments(product_of_arguments, (None, 2**31 - 1, 2**31))
    assert [a.dtype for a in args[1:]] == [tl.int32, tl.int64]
    assert type(typed_arguments(rows_by_argument.fn, (None, 3))[1]) is int  # plain function


@tl.jit
def scalar_math(out_ptr, n):
    pid = tl.program_id(0)
    last = tl.minimum(pid + 2, n)  # two scalars: a 0-d int32 index value, as in Triton
    tl.static_assert(last.shape == () and last.dtype == tl.int32, "a 0-d int32 value")
    total = 0
    for i in range(last):  # it indexes
        total += i
    if tl.maximum(pid - 1, 0) > 0:  # and has a truth value, being known now
        total += 100
    tl.store(out_ptr + pid * 3, total)
    tl.store(out_ptr + pid * 3 + 1, tl.where(pid % 2 == 0, 7, 9))
    tl.store(out_ptr + pid * 3 + 2, tl.abs(pid - 2))


def test_scalar_math_gives_0d_index_values_that_index_and_have_a_truth_value():
    """tl.minimum, tl.maximum, tl.where and tl.abs of program-id scalars and numbers:
    0-d index values (folded, no op) that range() takes and `if` tests, as in Triton."""
    programs, n = 4, 3
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((programs * 3,), "int32", Placement.single(0))
    rt.launch(scalar_math, out, n, grid=(programs,), pes=[0])
    rt.synchronize()
    got = out.numpy().reshape(programs, 3).tolist()
    expected = []
    for pid in range(programs):
        total = sum(range(min(pid + 2, n))) + (100 if max(pid - 1, 0) > 0 else 0)
        expected.append([total, 7 if pid % 2 == 0 else 9, abs(pid - 2)])
    assert got == expected


def test_a_data_value_has_a_truth_value_only_with_data_and_only_as_a_scalar():
    @tl.jit
    def branch_on_data(x_ptr):
        if tl.load(x_ptr + 0) > 0:
            pass

    @tl.jit
    def branch_on_tile(x_ptr):
        if tl.load(x_ptr + tl.arange(0, 4)) > 0:
            pass

    fails_clearly(branch_on_data, r"a branch on this value depends on loaded data, which the "
                  r"simulator knows only in data mode")  # fmt: skip
    fails_clearly(branch_on_tile, r"a tile of shape \(4,\) has no truth value inside a "
                  r"kernel \(only a scalar has one\)")  # fmt: skip


MODE_NONE: tl.constexpr = tl.constexpr(-1)
MODE_SCALE: tl.constexpr = tl.constexpr(0)
SCALE: tl.constexpr = tl.constexpr(3.0)


@tl.jit
def scaled_by_mode(x_ptr, y_ptr, mode: tl.constexpr):
    offs = tl.arange(0, 8)
    x = tl.load(x_ptr + offs)
    if mode == MODE_SCALE:  # mode is a plain 0 here, as Liger's kernels pass it
        x = x * SCALE
    tl.store(y_ptr + offs + tl.constexpr(0), x)


@pytest.mark.parametrize(("mode", "factor"), [(0, 3.0), (-1, 1.0), (MODE_SCALE, 3.0)])
def test_module_level_constexprs_compare_and_compute_as_their_values(mode, factor):
    """``tl.constexpr(0)`` at module level equals a plain 0 passed as the mode (an
    identity comparison would silently take the other branch), multiplies a tile, and
    offsets a pointer, as in Triton."""
    rt = Runtime("default", verify_data=True)
    x_np = np.arange(8, dtype=np.float32)
    x = rt.from_numpy(x_np, Placement.single(0))
    y = rt.zeros((8,), "float32", Placement.single(0))
    rt.launch(scaled_by_mode, x, y, grid=(1,), pes=[0], mode=mode)
    rt.synchronize()
    np.testing.assert_array_equal(y.numpy(), x_np * factor)
    assert MODE_NONE != MODE_SCALE and hash(MODE_SCALE) == hash(0) and -MODE_NONE == 1


@given(
    st.floats(-1e6, 1e6, allow_nan=False, width=32),
    st.floats(-1e6, 1e6, allow_nan=False, width=32).filter(lambda v: v != 0),
    st.integers(-(2**31), 2**31 - 1),
)
def test_float_scalars_compute_in_float32_and_stay_float32(f, g, n):
    """Float arguments and program-id arithmetic with floats are Triton's float32
    scalars: ``f * g``, ``1 / f``, ``n / 4``, ``n * 1.5`` round to float32 (numpy's
    float32 arithmetic), and keep the dtype a float16 tile then promotes to."""
    from simulator.language.scalar import FloatScalar

    fs, gs, ns = FloatScalar(f), FloatScalar(g), IntScalar(n, np.dtype(np.int32))
    f32 = np.float32
    cases = [(fs * gs, f32(f) * f32(g)), (fs + 2.0, f32(f) + f32(2.0)),
             (1.0 / gs, f32(1) / f32(g)), (fs - ns, f32(f) - f32(n)), (ns / 4, f32(n) / f32(4)),
             (ns * 1.5, f32(n) * f32(1.5)), (gs % 3.0, np.fmod(f32(g), f32(3)))]  # fmt: skip
    if n:
        cases.append((7 / ns, f32(7) / f32(n)))
    for got, expected in cases:
        assert isinstance(got, FloatScalar) and got.dtype == np.float32
        assert np.float32(got) == expected


def test_a_float16_tile_with_float_scalar_arithmetic_is_float32():
    """x_f16 * (scale * 2.0) and x_f16 * (n / 4) are float32, as in Triton (they were
    float16 when the scalar arithmetic gave Python floats)."""
    seen = []

    @tl.jit
    def scaled(x_ptr, out_ptr, scale, n):
        offs = tl.arange(0, 4)
        x = tl.load(x_ptr + offs)
        seen.extend([(x * (scale * 2.0)).dtype, (x * (n / 4)).dtype])
        tl.store(out_ptr + offs, x * (n / 4))

    rt = Runtime("default", verify_data=True)
    x_np = np.array([1 + 2**-10, 2.0, -3.0, 0.5], np.float16)
    x = rt.from_numpy(x_np, Placement.single(0))
    out = rt.zeros((4,), "float32", Placement.single(0))
    rt.launch(scaled, x, out, 0.5, 3, grid=(1,), pes=[0])
    rt.synchronize()
    assert seen == [np.float32, np.float32]
    assert out.numpy().tolist() == (x_np.astype(np.float32) * np.float32(0.75)).tolist()


@tl.jit
def scalar_comparisons(out_ptr, scale, n):
    pid = tl.program_id(0)
    last = pid == tl.num_programs(0) - 1
    tl.store(out_ptr + pid * 5, (pid == 0).to(tl.int32))
    tl.store(out_ptr + pid * 5 + 1, tl.where(last, 7, 3))
    inside = (pid > 0) & (pid < n)
    tl.store(out_ptr + pid * 5 + 2, inside.to(tl.int32) + (~last).to(tl.int32) * 10)
    tl.store(out_ptr + pid * 5 + 3, (scale > 1.5).to(tl.int32) + (pid != 2) * 100)
    if pid >= 2:  # a comparison still branches
        tl.store(out_ptr + pid * 5 + 4, (last + last).to(tl.int32) - 5)


def test_scalar_comparisons_are_triton_bools():
    """``pid == 0`` is Triton's int1 value: ``.to(tl.int32)`` is 0 or 1, it selects in
    ``tl.where``, combines with ``&``/``~`` as a bool, is int32 with an int literal, adds
    with 1-bit wrap-around, and still branches; a float scalar's compares the same way.
    Expected values computed with Python's bools for 4 programs, n = 3, scale = 2.0."""
    programs, n, scale = 4, 3, 2.0
    rt = Runtime("default", verify_data=True)
    out = rt.zeros((programs * 5,), "int32", Placement.single(0))
    rt.launch(scalar_comparisons, out, scale, n, grid=(programs,), pes=[0])
    rt.synchronize()
    expected = []
    for pid in range(programs):
        last = pid == programs - 1
        expected += [int(pid == 0), 7 if last else 3, int(0 < pid < n) + int(not last) * 10,
                     int(scale > 1.5) + (pid != 2) * 100,
                     ((2 * last) % 2 - 5) if pid >= 2 else 0]  # fmt: skip
    np.testing.assert_array_equal(out.numpy(), expected)
    pid = IntScalar(3)
    assert (pid == 3).dtype == np.bool_ and repr(pid == 3) == "True" and (pid == 3) == 1
    assert (pid != 3) + 5 == 5 and ((pid < 4) * 100).dtype == np.int32
    assert {pid: "x"}[3] == "x" and (pid == np.int64(3)) is np.True_  # numpy keeps its own


@tl.jit
def arange_to_a_runtime_bound(x_ptr):
    n = tl.program_id(0) + 16
    tl.store(x_ptr + tl.arange(0, n), 1.0)


def test_an_arange_bound_known_only_at_run_time_is_refused_as_in_triton():
    """``tl.arange(0, n)`` with ``n`` a program id's arithmetic (or an int argument
    without ``tl.constexpr``) is a compile error in Triton; here one clear message."""
    fails_clearly(arange_to_a_runtime_bound, r"tl\.arange: end 16 is a runtime value; Triton "
                                             r"needs a tl\.constexpr")  # fmt: skip
