"""``tl.dot_scaled``: Triton's block-scaled (microscaling, OCP MX) matrix product.

Each operand is in one of the formats ``e2m1`` (fp4, two values packed per uint8 byte
along K, the first in the low nibble), ``e4m3``, ``e5m2`` (fp8), ``bf16`` or ``fp16``;
each may carry a scale per 32 consecutive elements along K, an unsigned 8-bit exponent
(e8m0, in a uint8 tile: the factor is ``2 ** (s - 127)``, 255 is NaN), or, for e2m1
(NVIDIA's nvfp4), a float8 e4m3 factor per 16 elements. ``lhs`` is ``(M, K)``
(``(M, K/2)`` packed) with ``lhs_scale`` ``(M, K/32)`` (``(M, K/16)``); ``rhs`` is
``(K, N)`` (``(K/2, N)`` packed) with ``rhs_scale`` ``(N, K/32)``, as Triton lays them
out.

Cost: the GEMM engine's, as ``tl.dot`` of the unpacked ``(M, K) x (K, N)`` (the array
applies the scales as it multiplies); FLOPs ``2MNK``.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from simulator.engine.ops import Op, gemm_duration_ns
from simulator.language.core import (
    _check_block,
    _dtype,
    _new_block,
    _program,
    bfloat16,
    float8e4nv,
    float8e5,
    float16,
    float32,
    tensor,
    uint8,
    usage_error,
)

# Elements along K sharing one scale: the OCP MX block size (e8m0 scales), and nvfp4's
# (e4m3 scales of e2m1 operands).
SCALE_BLOCK = 32
NVFP4_SCALE_BLOCK = 16
# Each format and the dtype its operand tile holds (e2m1: packed pairs in uint8).
FORMATS: dict[str, np.dtype] = {
    "e2m1": uint8,
    "e4m3": float8e4nv,
    "e5m2": float8e5,
    "bf16": bfloat16,
    "fp16": float16,
}
_FP4 = np.dtype(ml_dtypes.float4_e2m1fn)
_E8M0 = np.dtype(ml_dtypes.float8_e8m0fnu)


def dot_scaled(
    lhs: tensor,
    lhs_scale: tensor | None,
    lhs_format: str,
    rhs: tensor,
    rhs_scale: tensor | None,
    rhs_format: str,
    acc: tensor | None = None,
    fast_math: bool = False,
    lhs_k_pack: bool = True,
    rhs_k_pack: bool = True,
    out_dtype: np.dtype | str = float32,
) -> tensor:
    """``(lhs * 2**(lhs_scale-127)) @ (rhs * 2**(rhs_scale-127)) (+ acc)`` on the GEMM
    engine, in ``out_dtype`` (float32; ``acc``'s dtype when given), as Triton's
    ``tl.dot_scaled`` (see the module docstring for formats and layouts). ``fast_math``
    is accepted (the products are exact here either way); fp4 packed along M or N
    (``lhs_k_pack``/``rhs_k_pack`` False) is not supported.
    Raises KernelUsageError naming the operand for a format, dtype or shape that does
    not fit.
    """
    program = _program()
    lhs, rhs = _check_block("dot_scaled", lhs), _check_block("dot_scaled", rhs)
    if not (lhs_k_pack and rhs_k_pack):
        raise usage_error("tl.dot_scaled: fp4 packed along M or N (k_pack=False) is not "
                          "supported; pack e2m1 pairs along K")  # fmt: skip
    m, k = _logical_shape("lhs", lhs, lhs_format, k_axis=1)
    k_rhs, n = _logical_shape("rhs", rhs, rhs_format, k_axis=0)
    if k != k_rhs:
        raise usage_error(f"tl.dot_scaled: lhs has K={k} ({lhs_format}, tile {lhs.shape}) but "
                          f"rhs has K={k_rhs} ({rhs_format}, tile {rhs.shape})")  # fmt: skip
    checked = (_checked_scale("lhs_scale", lhs_scale, m, k, lhs_format),
               _checked_scale("rhs_scale", rhs_scale, n, k, rhs_format))  # fmt: skip
    scales = [scale for scale in checked if scale is not None]
    if acc is not None and _check_block("dot_scaled", acc).shape != (m, n):
        raise usage_error(f"tl.dot_scaled: acc shape {acc.shape} != ({m}, {n})")
    out_dtype = acc.dtype if acc is not None else _dtype(out_dtype)
    gemm = program.machine.params.pe.gemm
    duration = gemm_duration_ns(m, n, k, gemm.rows, gemm.cols, gemm.fill_drain_cycles,
                                program.machine.params.pe.clock_ghz)  # fmt: skip
    out = _new_block(program, (m, n), out_dtype)
    inputs = (lhs, rhs, *scales) if acc is None else (lhs, rhs, *scales, acc)
    execute = None
    if program.machine.data is not None:

        def execute() -> None:
            a = _decoded(lhs.data, lhs_format, k_axis=1) * _factors(lhs_scale, k)
            b = _decoded(rhs.data, rhs_format, k_axis=0) * _factors(rhs_scale, k).T
            with np.errstate(all="ignore"):
                result = a @ b
                if acc is not None:
                    result = result + acc.data.astype(np.float32)
            out.data = result.astype(out_dtype)

    program.pe.issue(Op("dot_scaled", program, "GEMM", inputs, out, duration_ns=duration,
                        execute=execute, flops=2 * m * n * k))  # fmt: skip
    return out


def _logical_shape(name: str, x: tensor, fmt: str, k_axis: int) -> tuple[int, int]:
    """The operand's unpacked (rows, cols), after checking its format and dtype."""
    dtype = FORMATS.get(fmt)
    if dtype is None:
        raise usage_error(f"tl.dot_scaled: {name}_format {fmt!r}; valid: {', '.join(FORMATS)}")
    if len(x.shape) != 2:
        raise usage_error(f"tl.dot_scaled: {name} must be 2-D, got shape {x.shape}")
    if x.dtype != dtype:
        raise usage_error(f"tl.dot_scaled: {name} in format {fmt} must be a {dtype} tile, "
                          f"got {x.dtype}")  # fmt: skip
    shape = list(x.shape)
    if fmt == "e2m1":
        shape[k_axis] *= 2  # two fp4 values per byte along K
    return shape[0], shape[1]


def _checked_scale(name: str, scale: Any, rows: int, k: int, fmt: str) -> tensor | None:
    """The scale tile, after checking it is (rows, K/32) of uint8 (e8m0), or for e2m1
    (rows, K/16) of float8 e4m3 (nvfp4); None: unscaled."""
    if scale is None:
        return None
    scale = _check_block("dot_scaled", scale)
    block = NVFP4_SCALE_BLOCK if scale.dtype == float8e4nv and fmt == "e2m1" else SCALE_BLOCK
    if k % block:
        raise usage_error(f"tl.dot_scaled: K={k} is not a multiple of the scale block "
                          f"{block}")  # fmt: skip
    want = (rows, k // block)
    if (
        scale.shape != want
        or scale.dtype not in (uint8, float8e4nv)
        or (scale.dtype == float8e4nv and fmt != "e2m1")
    ):
        raise usage_error(f"tl.dot_scaled: {name} must be a {(rows, k // SCALE_BLOCK)} uint8 "
                          f"(e8m0) tile, or for e2m1 a {(rows, k // NVFP4_SCALE_BLOCK)} "
                          f"float8e4nv (nvfp4) one, got {scale.shape} {scale.dtype}")  # fmt: skip
    return scale


def _decoded(values: np.ndarray, fmt: str, k_axis: int) -> np.ndarray:
    """An operand's values as float32; fp4 pairs unpacked along K (low nibble first)."""
    if fmt != "e2m1":
        return values.astype(np.float32)
    low, high = values & 0x0F, values >> 4
    codes = np.stack([low, high], axis=k_axis + 1)  # pairs side by side along K
    shape = list(values.shape)
    shape[k_axis] *= 2
    return codes.reshape(shape).astype(np.uint8).view(_FP4).astype(np.float32)


def _factors(scale: tensor | None, k: int) -> np.ndarray:
    """Each element's scale factor along K, as (rows, K): ``2 ** (s - 127)`` of an e8m0
    scale, an e4m3 one's value; a 1 x 1 one without scales."""
    if scale is None:
        return np.ones((1, 1), np.float32)
    if scale.dtype == float8e4nv:  # nvfp4: the e4m3 value itself, per 16 elements
        return np.repeat(scale.data.astype(np.float32), NVFP4_SCALE_BLOCK, axis=1)[:, :k]
    factors = scale.data.astype(np.uint8).view(_E8M0).astype(np.float32)
    return np.repeat(factors, SCALE_BLOCK, axis=1)[:, :k]
