"""``tl.dot``'s ``input_precision`` on float32 operands, checked on values whose exact
results are known: TF32 keeps 10 mantissa bits (a tensor core ignores the low 13),
3xTF32 and the bfloat16 splits recover what TF32 loses, and ``ieee`` (the default) is
float32's own product."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

N = 16
ULP_TF32 = 2.0**-10  # TF32's mantissa step at 1.0
# 1 + 2**-12 is no TF32 value (it truncates and rounds to 1.0); just under 1 + 2**-10,
# 1 + 2**-10 - 2**-20 truncates to 1.0 but rounds to nearest to 1 + 2**-10.
SMALL_STEP = 1.0 + 2.0**-12
UNDER_STEP = 1.0 + ULP_TF32 - 2.0**-20
# float32's last bit under 1 + 2**-10: its part below TF32's needs 12 bits, so 3xTF32 is
# exact only if its big part is rounded to nearest (the small part is then -2**-23).
LAST_BIT = 1.0 + ULP_TF32 - 2.0**-23


@tl.jit
def _product(a_ptr, b_ptr, c_ptr, PREC: tl.constexpr, N: tl.constexpr):  # noqa: N803
    offs = tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :]
    a, b = tl.load(a_ptr + offs), tl.load(b_ptr + offs)
    if PREC == "default":
        c = tl.dot(a, b)
    elif PREC == "allow_tf32":
        c = tl.dot(a, b, allow_tf32=True)
    else:
        c = tl.dot(a, b, input_precision=PREC)
    tl.store(c_ptr + offs, c)


def _dot(a: np.ndarray, precision: str) -> np.ndarray:
    """``a @ I`` on the device at ``precision`` (the identity is exact in every format,
    so the result is ``a`` as the precision reads it)."""
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(a, Placement.single(0))
    eye = rt.from_numpy(np.eye(N, dtype=a.dtype), Placement.single(0))
    out = rt.empty((N, N), "float32", Placement.single(0))
    _product[(1,)](x, eye, out, PREC=precision, N=N)
    return out.numpy()


def _filled(*values: float) -> np.ndarray:
    """An N x N float32 matrix whose rows cycle through ``values`` (and their negatives)."""
    row = np.array([v * s for v in values for s in (1, -1)], np.float32)
    return np.resize(row, (N, N)).astype(np.float32)


@pytest.mark.parametrize(
    ("precision", "small_step", "under_step", "last_bit"),
    [
        ("ieee", SMALL_STEP, UNDER_STEP, LAST_BIT),
        ("default", SMALL_STEP, UNDER_STEP, LAST_BIT),
        ("tf32", 1.0, 1.0, 1.0),  # the low 13 bits ignored: truncated toward zero
        ("allow_tf32", 1.0, 1.0, 1.0),  # Triton's deprecated spelling of tf32
        ("TF32X3", SMALL_STEP, UNDER_STEP, LAST_BIT),  # big (rounded) + small parts
        # Two bf16 parts of UNDER_STEP: 1.0 and 2**-10 - 2**-20 to bfloat16's 8 bits,
        # 2**-10: the two parts hold 16 bits, not the 21 the value needs.
        ("bf16x3", SMALL_STEP, 1.0 + ULP_TF32, 1.0 + ULP_TF32),
        ("bf16x6", SMALL_STEP, UNDER_STEP, LAST_BIT),
    ],
)
def test_each_precision_reads_float32_as_its_format_does(precision, small_step, under_step,
                                                         last_bit):  # fmt: skip
    a = _filled(SMALL_STEP, UNDER_STEP, LAST_BIT, 3.0)
    expected = _filled(small_step, under_step, last_bit, 3.0)
    np.testing.assert_array_equal(_dot(a, precision), expected)


def test_tf32x3_is_near_float32_and_tf32_is_not_on_random_matrices():
    """On random N(0, 1) matrices, against a float64 product: TF32's error is of the
    order of its 2**-11 rounding times sqrt(K), 3xTF32's and bf16x6's that of float32."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((N, N)).astype(np.float32)
    exact = a.astype(np.float64)  # a @ I
    errors = {p: np.abs(_dot(a, p) - exact).max() for p in ("ieee", "tf32", "tf32x3", "bf16x6")}
    assert errors["ieee"] == 0.0  # a @ I is exact in float32
    assert 2.0**-14 < errors["tf32"] <= ULP_TF32 * np.abs(a).max()
    assert errors["tf32x3"] <= 2.0**-20 * np.abs(a).max()
    assert errors["bf16x6"] <= 2.0**-20 * np.abs(a).max()


def test_the_default_follows_triton_f32_default(monkeypatch):
    monkeypatch.setenv("TRITON_F32_DEFAULT", "tf32")
    np.testing.assert_array_equal(_dot(_filled(SMALL_STEP), "default"), _filled(1.0))


def test_float16_operands_ignore_the_precision():
    a = _filled(1.0 + 2.0**-10).astype(np.float16)  # a float16 value, not a TF32 one
    np.testing.assert_array_equal(_dot(a, "tf32"), a.astype(np.float32))


@tl.jit
def _unknown_precision(x_ptr):
    a = tl.zeros((16, 16), tl.float32)
    tl.dot(a, a, input_precision="tf64")


@tl.jit
def _both_precisions(x_ptr):
    a = tl.zeros((16, 16), tl.float32)
    tl.dot(a, a, input_precision="tf32", allow_tf32=True)


def test_an_unknown_or_doubly_given_precision_is_refused():
    valid = "valid: ieee, tf32, tf32x3, bf16x3, bf16x6"
    fails_clearly(_unknown_precision, f"unknown input_precision 'tf64'; {valid}")
    fails_clearly(_both_precisions, "give input_precision or allow_tf32, not both")
