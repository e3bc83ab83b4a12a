"""``tl.dot``'s ``input_precision`` for float32 operands, as Triton's GPU backends compute it.

The GEMM array multiplies float32 exactly (``ieee``), which is what a dot without
``input_precision`` does here (``TRITON_F32_DEFAULT`` names another default, as it does
for Triton). Asked for, the others give the numbers a GPU gives:

- ``tf32``: each operand keeps 10 of float32's 23 mantissa bits. A tensor core reads a
  float32 register as TF32, ignoring its low 13 bits, so they are dropped (truncated
  toward zero).
- ``tf32x3``: Triton's 3xTF32 (its ``F32DotTC`` pass, after CUTLASS): ``big = tf32(x)``
  (``cvt.rna.tf32.f32``: to nearest, ties away from zero) and ``small = x - big`` of
  each operand; ``small_a @ big_b + big_a @ small_b`` (NaN there taken as 0) is added to
  ``big_a @ big_b``, every product on TF32: close to float32's accuracy.
- ``bf16x3`` and ``bf16x6`` (AMD's): each operand split into two or three bfloat16 parts
  (``hi = bf16(x)``, ``lo = bf16(x - hi)``, ...) and the products of the parts whose
  ranks add up to at most 1 (three products) or 2 (six) summed, smallest first.

The cost on the array is the same whatever the precision (a modelling choice: the
simulated GEMM engine has one rate for float32).
"""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np

from simulator.language.context import usage_error

PRECISIONS = ("ieee", "tf32", "tf32x3", "bf16x3", "bf16x6")
# Triton's environment variable for the default of a float32 dot.
DEFAULT_ENV = "TRITON_F32_DEFAULT"

_TF32_KEEP = np.uint32(0xFFFFE000)  # sign, exponent and the 10 high mantissa bits
_TF32_HALF = np.uint32(0x1000)  # half a unit in TF32's last place
_EXPONENT = np.uint32(0x7F800000)
_BF16 = np.dtype(ml_dtypes.bfloat16)


def resolve(input_precision: object, allow_tf32: object) -> str:
    """The precision a dot runs at: ``input_precision`` (any case), or Triton's deprecated
    ``allow_tf32`` (True: ``tf32``, False: ``ieee``), else ``$TRITON_F32_DEFAULT``, else
    ``ieee``. Raises KernelUsageError for an unknown name or for both given."""
    if input_precision is not None and allow_tf32 is not None:
        raise usage_error("tl.dot: give input_precision or allow_tf32, not both (as in Triton)")
    if input_precision is None:
        if allow_tf32 is not None:
            return "tf32" if allow_tf32 else "ieee"
        input_precision = os.environ.get(DEFAULT_ENV) or "ieee"
    name = str(input_precision).lower()
    if name not in PRECISIONS:
        raise usage_error(
            f"tl.dot: unknown input_precision {input_precision!r}; valid: {', '.join(PRECISIONS)}"
        )
    return name


def product(a: np.ndarray, b: np.ndarray, precision: str) -> np.ndarray:
    """``a @ b`` of float32 arrays (2-D or batched 3-D) at ``precision``, in float32."""
    a, b = a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)
    if precision == "ieee":
        return a @ b
    if precision == "tf32":
        return tf32_truncated(a) @ tf32_truncated(b)
    if precision == "tf32x3":
        big_a, big_b = tf32_rounded(a), tf32_rounded(b)
        small_a, small_b = tf32_truncated(a - big_a), tf32_truncated(b - big_b)
        small = small_a @ big_b + big_a @ small_b
        small[np.isnan(small)] = 0.0
        return big_a @ big_b + small
    parts_a = _bf16_parts(a, 3 if precision == "bf16x6" else 2)
    parts_b = _bf16_parts(b, len(parts_a))
    most = len(parts_a) - 1  # bf16x3: ranks 0+0, 0+1, 1+0; bf16x6: up to 2
    total = np.zeros((*a.shape[:-1], b.shape[-1]), np.float32)
    for rank in range(most, -1, -1):  # the smallest products first
        for i in range(rank + 1):
            total = total + parts_a[i] @ parts_b[rank - i]
    return total


def tf32_truncated(x: np.ndarray) -> np.ndarray:
    """float32 ``x`` with its low 13 mantissa bits cleared (what a tensor core reads)."""
    return (x.view(np.uint32) & _TF32_KEEP).view(np.float32)


def tf32_rounded(x: np.ndarray) -> np.ndarray:
    """float32 ``x`` rounded to TF32, to nearest with ties away from zero
    (``cvt.rna.tf32.f32``); infinities and NaNs are kept."""
    bits = x.view(np.uint32)
    finite = (bits & _EXPONENT) != _EXPONENT
    rounded = np.where(finite, (bits + _TF32_HALF) & _TF32_KEEP, bits)
    return rounded.astype(np.uint32).view(np.float32)


def _bf16_parts(x: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` bfloat16 parts of ``x`` (as float32), largest first, that sum to it
    as closely as ``count`` bfloat16 values can."""
    parts, rest = [], x
    for _ in range(count):
        part = rest.astype(_BF16).astype(np.float32)
        parts.append(part)
        rest = rest - part
    return parts
