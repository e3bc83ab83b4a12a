"""Python syntax with Triton's meaning in kernels: ``and``/``or``/``not`` of tiles are
element-wise, ``min``/``max`` of tiles are ``tl.minimum``/``tl.maximum`` and ``print``
of tiles is ``tl.device_print``; Python values keep Python's meaning (short-circuit)."""

from __future__ import annotations

import builtins
import inspect

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.language.syntax import KERNEL_BUILTINS, with_triton_syntax
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

N = 16
RNG = np.random.default_rng(11)
X = RNG.integers(-5, 6, N).astype(np.int32)
Y = RNG.integers(-5, 6, N).astype(np.int32)


def _run(kernel, n_out: int = N, dtype: str = "int32", **meta) -> np.ndarray:
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    x, y = rt.from_numpy(X, place), rt.from_numpy(Y, place)
    out = rt.zeros((n_out,), dtype, place)
    rt.launch(kernel, x, y, out, grid=(1,), pes=[0], **meta)
    rt.synchronize()
    return out.numpy()


def test_and_or_not_of_tiles_are_element_wise():
    """FlagGems' mask idiom ``rows < M and cols < N`` and its kin: against numpy's
    logical_and/or/not of the same comparisons; a non-bool tile counts non-zero as true."""

    @tl.jit
    def masks(x_ptr, y_ptr, out_ptr, LOW: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, 16)
        x, y = tl.load(x_ptr + offs), tl.load(y_ptr + offs)
        both = x > LOW and y > LOW
        either = x > LOW or y > LOW or x == y
        neither = not (x > LOW) and not y > LOW
        nonzero = x and y  # int tiles: non-zero is true
        code = both.to(tl.int32) + 2 * either.to(tl.int32) + 4 * neither.to(tl.int32)
        tl.store(out_ptr + offs, code + 8 * nonzero.to(tl.int32))

    got = _run(masks, LOW=0)
    both = (X > 0) & (Y > 0)
    either = (X > 0) | (Y > 0) | (X == Y)
    neither = ~(X > 0) & ~(Y > 0)
    nonzero = (X != 0) & (Y != 0)
    assert got.tolist() == (both + 2 * either + 4 * neither + 8 * nonzero).tolist()


def test_python_values_keep_python_s_short_circuit():
    """``None and ...`` does not evaluate its right side, and a constexpr flag chooses
    as Python does, so a kernel can test an optional argument before using it; a tile
    with a Python value is element-wise (``True and mask`` is the mask)."""

    @tl.jit
    def optional(x_ptr, y_ptr, out_ptr, bias_ptr, USE: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, 16)
        x = tl.load(x_ptr + offs)
        if bias_ptr is not None and USE:
            x += tl.load(bias_ptr + offs)
        keep = USE and x > 0
        tl.store(out_ptr + offs, tl.where(keep or not USE, x, 0))

    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    x, y = rt.from_numpy(X, place), rt.from_numpy(Y, place)
    outs = [rt.zeros((N,), "int32", place) for _ in range(3)]
    rt.launch(optional, x, y, outs[0], y, grid=(1,), pes=[0], USE=True)
    rt.launch(optional, x, y, outs[1], None, grid=(1,), pes=[0], USE=True)
    rt.launch(optional, x, y, outs[2], None, grid=(1,), pes=[0], USE=False)
    rt.synchronize()
    with_bias = X + Y
    assert outs[0].numpy().tolist() == np.where(with_bias > 0, with_bias, 0).tolist()
    assert outs[1].numpy().tolist() == np.where(X > 0, X, 0).tolist()
    assert outs[2].numpy().tolist() == X.tolist()


def test_min_max_of_tiles_are_minimum_maximum():
    """Python's ``max(x, 3)`` and ``min(x, y, 0)`` of tiles are tl.maximum/minimum, as
    Triton's builtin namespace has them; of Python values and iterables, Python's."""
    seen = []

    @tl.jit
    def bounded(x_ptr, y_ptr, out_ptr, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, BLOCK)
        x, y = tl.load(x_ptr + offs), tl.load(y_ptr + offs)
        seen.append((max(BLOCK, 4), min([3, 1, 2]), max(2.5, 1)))
        tl.store(out_ptr + offs, max(x, 3) * 100 + min(x, y, 0))

    got = _run(bounded, BLOCK=N)
    assert got.tolist() == (np.maximum(X, 3) * 100 + np.minimum(np.minimum(X, Y), 0)).tolist()
    assert seen == [(16, 1, 2.5)]


def test_print_of_a_tile_is_device_print(capsys):
    @tl.jit
    def show(x_ptr, y_ptr, out_ptr):
        offs = tl.arange(0, 4)
        print("x =", tl.load(x_ptr + offs))
        print("plain", 3)

    _run(show)
    out = capsys.readouterr().out
    assert "plain 3" in out
    [line] = [text for text in out.splitlines() if "x =" in text]
    assert "program (0, 0, 0)" in line and f"x = {np.array2string(X[:4])}" in line


def test_closures_defaults_lines_and_errors_are_the_kernel_s_own():
    """The remade kernel reads its closure's current values and the module's globals,
    keeps its defaults, and a misuse names the kernel's own file and line."""
    scale = 3

    @tl.jit
    def closure(x_ptr, y_ptr, out_ptr, SHIFT: tl.constexpr = 1):  # noqa: N803
        offs = tl.arange(0, 16)
        x = tl.load(x_ptr + offs)
        tl.store(out_ptr + offs, tl.where(x > 0 and x < 4, x * scale + SHIFT, N))

    assert _run(closure).tolist() == np.where((X > 0) & (X < 4), X * 3 + 1, N).tolist()
    scale = 5
    assert _run(closure).tolist() == np.where((X > 0) & (X < 4), X * 5 + 1, N).tolist()

    @tl.jit
    def misuse(x_ptr):
        offs = tl.arange(0, 4)
        ok = offs > 0 and offs < 3
        tl.load(x_ptr + offs, mask=ok, other=tl.arange(0, 8))

    lines, first = inspect.getsourcelines(misuse.fn)
    bad = first + next(i for i, text in enumerate(lines) if "tl.load" in text)
    text = fails_clearly(misuse, match=r"other")
    assert f"test_language_syntax.py:{bad}" in text


def test_a_function_without_source_gets_the_builtins_only():
    """Code made at run time (no source file to read) keeps Python's ``and`` but still
    finds Triton's ``max``."""
    namespace: dict = {}
    exec("def made(a, b):\n    return max(a, b), (a and b)", namespace)  # noqa: S102
    made = with_triton_syntax(namespace["made"])
    assert made(2, 5) == (5, 5) and made(0, 5) == (5, 0)
    assert made.__globals__ is namespace
    assert made.__builtins__["max"] is KERNEL_BUILTINS["max"] is not builtins.max


@pytest.mark.parametrize("expression", ["x and y", "x or y", "not x"])
def test_the_rewrite_changes_nothing_for_python_values(expression):
    """The rewritten operators give Python's results for Python values."""
    namespace: dict = {}
    exec(f"def f(x, y):\n    return {expression}", namespace)  # noqa: S102
    plain = namespace["f"]
    for x in (0, 1, None, "", "a", [], [1]):
        for y in (0, 2, None, "b"):
            assert _python_semantics(expression, x, y) == plain(x, y)


def _python_semantics(expression: str, x, y):
    from simulator.language.syntax import _kb_and, _kb_not, _kb_or

    if expression == "x and y":
        return _kb_and(x, lambda: y)
    if expression == "x or y":
        return _kb_or(x, lambda: y)
    return _kb_not(x)


# Triton's answers for a few dtypes (triton/language/core.py's dtype): is_floating,
# is_fp8, is_int_signed, is_int_unsigned, is_bool, primitive_bitwidth, and for floats
# (mantissa bits, exponent bias).
DTYPE_FACTS = {
    "float16": (True, False, False, False, False, 16, (10, 15)),
    "bfloat16": (True, False, False, False, False, 16, (7, 127)),
    "float8e4nv": (True, True, False, False, False, 8, (3, 7)),
    "float8e5": (True, True, False, False, False, 8, (2, 15)),
    "float8e4b8": (True, True, False, False, False, 8, (3, 8)),
    "float64": (True, False, False, False, False, 64, (52, 1023)),
    "int8": (False, False, True, False, False, 8, None),
    "uint32": (False, False, False, True, False, 32, None),
    "int1": (False, False, False, True, True, 1, None),
}


@tl.jit
def _facts_of(dtype: tl.constexpr):
    d = dtype.value  # FlagGems' helpers unwrap the constexpr
    floating = (d.fp_mantissa_width, d.exponent_bias) if d.is_floating() else None
    return (d.is_floating(), d.is_fp8(), d.is_int_signed(), d.is_int_unsigned(), d.is_bool(),
            d.primitive_bitwidth, floating)  # fmt: skip


@pytest.mark.parametrize("name", sorted(DTYPE_FACTS))
def test_dtypes_answer_triton_s_dtype_api_in_kernels(name):
    """``x.dtype.is_floating()``, ``p.dtype.element_ty.is_fp8()``, ``primitive_bitwidth``
    and the rest, and ``dtype.value`` of a dtype passed to a helper, as Triton's tl.dtype
    answers them; a pointer's type answers is_ptr()."""
    seen = []

    @tl.jit
    def ask(x_ptr, y_ptr, out_ptr, DTYPE: tl.constexpr):  # noqa: N803
        x = tl.load(x_ptr + tl.arange(0, 4)).to(tl.float32).to(DTYPE)
        seen.append(_facts_of(x.dtype))
        seen.append(x.dtype.is_int() == (x.dtype.is_int_signed() or x.dtype.is_int_unsigned()))
        seen.append((out_ptr.dtype.is_ptr(), out_ptr.dtype.element_ty.is_int32(),
                     out_ptr.dtype.is_floating()))  # fmt: skip

    _run(ask, DTYPE=getattr(tl, name))
    assert seen == [DTYPE_FACTS[name], True, (True, True, False)]


def test_loop_variables_are_int32_scalars():
    """``for i in range(n)`` and ``tl.range`` give Triton's int32 loop variable, so
    flash-linear-attention's ``i_t.to(tl.int64)`` works; the range is still Python's
    (len, reversed, slices, membership) and its variable an int."""
    seen = []

    @tl.jit
    def loops(x_ptr, y_ptr, out_ptr, N: tl.constexpr):  # noqa: N803
        total = tl.zeros((4,), tl.int64)
        for i in range(N):
            wide = i.to(tl.int64)
            seen.append((wide.dtype, i.dtype, isinstance(i, int), i * 2))
            total += wide * 2**34
        for j in tl.range(1, N, 2, num_stages=2):
            total += j.to(tl.int64)
            total += (j == 1).to(tl.int64) * 100  # a comparison of it is Triton's int1
        r = range(N)
        seen.append((len(r), list(reversed(r)), list(r[1:3]), 2 in r))
        tl.store(out_ptr + tl.arange(0, 4), total)

    assert _run(loops, n_out=4, dtype="int64", N=3).tolist() == [3 * 2**34 + 101] * 4
    assert seen[:3] == [(tl.int64, tl.int32, True, 2 * i) for i in range(3)]
    assert seen[3] == (3, [2, 1, 0], [1, 2], True)


# Loop-carried types (Triton compiles a loop once: a variable it carries keeps its type).
@tl.jit
def _int_accumulator(x_ptr):
    acc = 0
    for start in range(0, 64, 32):
        acc += tl.sum(tl.load(x_ptr + start + tl.arange(0, 32)))
    tl.store(x_ptr, acc)


@tl.jit
def _tile_reduced_to_a_scalar(x_ptr):
    acc = tl.zeros([32], tl.float32)
    i = 0
    while i < 2:
        acc = tl.sum(acc + tl.load(x_ptr + tl.arange(0, 32)))
        i += 1


@tl.jit
def _float16_then_float32(x_ptr):
    acc = tl.zeros([32], tl.float16)
    for _ in range(2):
        if True:
            acc += tl.load(x_ptr + tl.arange(0, 32))


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (_int_accumulator, r"loop-carried variable acc has initial type int32 but is "
                           r"re-assigned to fp32 in the loop; Triton refuses this"),
        (_tile_reduced_to_a_scalar, r"acc has initial type <\[32\], fp32> but is re-assigned "
                                    r"to fp32"),
        (_float16_then_float32, r"acc has initial type <\[32\], fp16> but is re-assigned to "
                                r"<\[32\], fp32>"),
    ],
)  # fmt: skip
def test_a_loop_carried_type_change_is_triton_s_compile_error(kernel, message):
    """The error Triton's code generator gives, naming the variable, both types and the
    loop's line (the kernels above would not compile for a GPU)."""
    text = fails_clearly(kernel, message)
    line = inspect.getsource(kernel.fn).splitlines()
    loop = next(i for i, source in enumerate(line) if "for " in source or "while " in source)
    assert f":{kernel.fn.__code__.co_firstlineno + loop}" in text


@tl.jit
def _type_stable_loops(x_ptr, out_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
    acc = 0.0  # float32, as tl.sum of float32 tiles
    total = tl.zeros([BLOCK], tl.float32)
    count = 0
    ptrs = x_ptr + tl.arange(0, BLOCK)
    block = tl.make_block_ptr(x_ptr, (n,), (1,), (0,), (BLOCK,), (0,))
    for start in range(0, n, BLOCK):
        mask = start + tl.arange(0, BLOCK) < n
        values = tl.load(ptrs, mask=mask, other=0.0)  # first assigned here: not carried
        acc += tl.sum(values)
        total += tl.load(block, boundary_check=(0,), padding_option="zero")
        ptrs += BLOCK
        block = tl.advance(block, (BLOCK,))
        count += 1
        for _ in range(2):  # a nested loop carrying the outer one's counter
            count += 0
    while count > 0:
        count -= 1
    tl.store(out_ptr, acc)
    tl.store(out_ptr + 1 + tl.arange(0, BLOCK), total)


def test_type_stable_loops_run_as_before():
    """Counters, float accumulators, pointers and block pointers advanced in a loop, a
    nested loop and a while loop keep their types: the kernel runs, checked against
    numpy (sum of 100 values, and the per-lane sums of 4 blocks of 32)."""
    n, block = 100, 32
    x_np = np.arange(n, dtype=np.float32)
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(x_np, Placement.single(0))
    out = rt.zeros((1 + block,), "float32", Placement.single(0))
    rt.launch(_type_stable_loops, x, out, n, grid=(1,), pes=[0], BLOCK=block)
    padded = np.zeros(4 * block, np.float32)
    padded[:n] = x_np
    np.testing.assert_array_equal(out.numpy(), [x_np.sum(), *padded.reshape(4, block).sum(0)])


def test_static_range_loops_are_unrolled_so_their_types_may_change():
    """tl.static_range is unrolled by Triton: ``acc = 0`` may become a float32 tile in
    its first iteration (no loop-carried check); values checked against numpy."""

    @tl.jit
    def unrolled(x_ptr):
        acc = 0
        for _ in tl.static_range(3):
            acc += tl.load(x_ptr + tl.arange(0, 4))
        tl.store(x_ptr + tl.arange(0, 4), acc)

    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.arange(4, dtype=np.float32), Placement.single(0))
    rt.launch(unrolled, x, grid=(1,), pes=[0])
    np.testing.assert_array_equal(x.numpy(), np.arange(4, dtype=np.float32) * 3)


@tl.jit
def _loop_with_break(x_ptr):
    for i in range(4):
        if i == 2:
            break
        tl.store(x_ptr + i, 1.0)


@tl.jit
def _loop_with_continue(x_ptr):
    for i in range(4):
        if i == 2:
            continue
        tl.store(x_ptr + i, 1.0)


@tl.jit
def _loop_with_return(x_ptr):
    i = 0
    while i < 4:
        if i == 2:
            return
        tl.store(x_ptr + i, 1.0)
        i += 1


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (_loop_with_break, r"`break` at .*test_language_syntax.py:\d+: Triton's compiler does "
                           r"not support it \(unsupported AST node type: Break\)"),
        (_loop_with_continue, r"`continue` at .*: Triton's compiler does not support it"),
        (_loop_with_return, r"`return` at .*: Triton cannot have `return` statements inside "
                            r"`while` or `for` statements"),
    ],
)  # fmt: skip
def test_break_continue_and_return_in_a_loop_are_refused_as_in_triton(kernel, message):
    """What Triton's code generator refuses fails at launch with one clear message
    naming the kernel and the statement's line."""
    text = fails_clearly(kernel, message)
    lines = inspect.getsource(kernel.fn).splitlines()
    keyword = message.split("`")[1]
    offset = next(i for i, line in enumerate(lines) if line.strip() == keyword)
    assert f":{kernel.fn.__code__.co_firstlineno + offset}:" in text


# A run-time `if` keeps each variable's type (Triton builds both branches and types them).
@tl.jit
def _then_casts(x_ptr):
    x = tl.load(x_ptr + tl.arange(0, 4))
    if tl.program_id(0) == 0:
        x = x.to(tl.float16)
    tl.store(x_ptr + tl.arange(0, 4), x)


@tl.jit
def _else_reduces(x_ptr, n):
    x = tl.load(x_ptr + tl.arange(0, 4))
    if n > 100:
        x = x * 2
    elif n > 50:
        x = x + 1
    else:
        x = tl.sum(x)
    tl.store(x_ptr + tl.arange(0, 4), x)


def test_a_run_time_if_that_changes_a_type_is_triton_s_compile_error():
    """A branch of an ``if`` on a run-time value (a program id, an int argument) that
    changes a variable's dtype or shape fails as Triton's code generator fails."""
    fails_clearly(_then_casts, r"initial value for `x` is of type <\[4\], fp32>, but a "
                               r"branch of this if redefines it as <\[4\], fp16>")  # fmt: skip
    rt = Runtime("default")
    x = rt.zeros((4,), "float32", Placement.single(0))
    with pytest.raises(tl.KernelUsageError, match=r"redefines it as fp32"):
        rt.launch(_else_reduces, x, 10, grid=(1,), pes=[0])  # the else branch
        rt.synchronize()


def test_constexpr_ifs_and_type_stable_branches_run():
    """An ``if`` on a constexpr is static (its branch may change types, as Triton's
    does); a run-time one whose branches keep the types runs: against numpy."""

    @tl.jit
    def branches(x_ptr, n, CAST: tl.constexpr):  # noqa: N803
        x = tl.load(x_ptr + tl.arange(0, 4))
        if CAST:
            x = x.to(tl.float16)
        if n > 2:
            x = x * 2
        elif n > 1:
            x = x + 1
        else:
            x = x - 1
        tl.store(x_ptr + tl.arange(0, 4), x)

    rt = Runtime("default", verify_data=True)
    values = np.arange(4, dtype=np.float32)
    for n, expected in ((3, values * 2), (2, values + 1), (1, values - 1)):
        x = rt.from_numpy(values, Placement.single(0))
        rt.launch(branches, x, n, grid=(1,), pes=[0], CAST=True)
        np.testing.assert_array_equal(x.numpy(), expected)


def test_a_refused_if_is_refused_at_every_launch():
    """The check that failed is not marked done: launching the kernel again fails again."""
    for _ in range(2):
        fails_clearly(_then_casts, r"initial value for `x` is of type")
