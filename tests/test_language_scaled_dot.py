"""``tl.dot_scaled``: block-scaled products of fp4/fp8/bf16/fp16 operands equal numpy's on
independently decoded values, cost what ``tl.dot`` of the unpacked shapes costs, and bad
formats, dtypes and shapes are one clear error."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

# OCP e2m1 by hand: the magnitudes of codes 0..7; bit 3 is the sign.
E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=np.float64)
M, N, K = 16, 32, 64


def fp4_values(codes: np.ndarray) -> np.ndarray:
    return np.where(codes & 8, -1.0, 1.0) * E2M1[codes & 7]


def pack_along(codes: np.ndarray, axis: int) -> np.ndarray:
    """Two fp4 codes per byte along ``axis``: the even element in the low nibble."""
    even = np.take(codes, range(0, codes.shape[axis], 2), axis=axis)
    odd = np.take(codes, range(1, codes.shape[axis], 2), axis=axis)
    return (even | (odd << 4)).astype(np.uint8)


@tl.jit
def scaled_kernel(
    a_ptr,
    sa_ptr,
    b_ptr,
    sb_ptr,
    c_ptr,
    LHS: tl.constexpr,  # noqa: N803
    RHS: tl.constexpr,
    SCALED: tl.constexpr,
):  # noqa: N803
    ka: tl.constexpr = K // 2 if LHS == "e2m1" else K
    kb: tl.constexpr = K // 2 if RHS == "e2m1" else K
    a = tl.load(a_ptr + tl.arange(0, M)[:, None] * ka + tl.arange(0, ka)[None, :])
    b = tl.load(b_ptr + tl.arange(0, kb)[:, None] * N + tl.arange(0, N)[None, :])
    groups = tl.arange(0, K // 32)
    sa = tl.load(sa_ptr + tl.arange(0, M)[:, None] * (K // 32) + groups[None, :])
    sb = tl.load(sb_ptr + tl.arange(0, N)[:, None] * (K // 32) + groups[None, :])
    if SCALED:
        c = tl.dot_scaled(a, sa, LHS, b, sb, RHS)
    else:
        c = tl.dot_scaled(a, None, LHS, b, None, RHS)
    tl.store(c_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], c)


@pytest.mark.parametrize(("lhs", "rhs", "scaled"), [
    ("e2m1", "e4m3", True), ("e4m3", "e2m1", True), ("e2m1", "e2m1", True),
    ("e5m2", "bf16", True), ("fp16", "e4m3", False),
])  # fmt: skip
def test_dot_scaled_equals_the_decoded_product(list_writer, lhs, rhs, scaled):
    rng = np.random.default_rng(11)
    rt = Runtime("default", verify_data=True, writer=list_writer)
    one = Placement.single(0)

    def operand(fmt: str, shape: tuple[int, int], k_axis: int):
        """(device tile values, their float64 meaning)."""
        if fmt == "e2m1":
            codes = rng.integers(0, 16, shape).astype(np.uint8)
            return pack_along(codes, k_axis), fp4_values(codes)
        dtype = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2,
                 "bf16": ml_dtypes.bfloat16, "fp16": np.float16}[fmt]  # fmt: skip
        values = rng.standard_normal(shape).astype(dtype)
        return values, values.astype(np.float64)

    a_dev, a_val = operand(lhs, (M, K), 1)
    b_dev, b_val = operand(rhs, (K, N), 0)
    sa = rng.integers(120, 134, (M, K // 32)).astype(np.uint8)
    sb = rng.integers(120, 134, (N, K // 32)).astype(np.uint8)
    if scaled:
        a_val = a_val * np.ldexp(1.0, np.repeat(sa.astype(int) - 127, 32, axis=1))
        b_val = b_val * np.ldexp(1.0, np.repeat(sb.astype(int) - 127, 32, axis=1)).T
    tensors = [rt.from_numpy(x, one) for x in (a_dev, sa, b_dev, sb)]
    c = rt.zeros((M, N), "float32", one)
    rt.wait(rt.launch(scaled_kernel, *tensors, c, LHS=lhs, RHS=rhs, SCALED=scaled,
                      grid=(1,), pes=[0]))  # fmt: skip
    np.testing.assert_allclose(c.numpy(), a_val @ b_val, rtol=1e-5, atol=1e-5)
    gemm = rt.topology.params.pe.gemm
    cycles = math.ceil(M / gemm.rows) * math.ceil(N / gemm.cols) * K + gemm.fill_drain_cycles
    (op,) = [row for row in list_writer.rows["ops"] if row["op"] == "dot_scaled"]
    assert op["end_ns"] - op["start_ns"] == pytest.approx(cycles / rt.topology.params.pe.clock_ghz)
    assert op["flops"] == 2 * M * N * K


def test_dot_scaled_refuses_what_does_not_fit():
    @tl.jit
    def bad_format(x_ptr):
        a = tl.zeros((16, 32), dtype=tl.uint8)
        tl.dot_scaled(a, None, "e3m2", a, None, "e2m1")

    @tl.jit
    def bad_dtype(x_ptr):
        a = tl.zeros((16, 32), dtype=tl.float16)
        tl.dot_scaled(a, None, "e4m3", a, None, "fp16")

    @tl.jit
    def bad_scale(x_ptr):
        a = tl.zeros((16, 32), dtype=tl.uint8)
        b = tl.zeros((64, 16), dtype=tl.float8e4nv)
        tl.dot_scaled(a, tl.zeros((16, 1), dtype=tl.uint8), "e2m1", b, None, "e4m3")

    fails_clearly(bad_format, r"lhs_format 'e3m2'; valid: e2m1, e4m3, e5m2, bf16, fp16")
    fails_clearly(bad_dtype, r"lhs in format e4m3 must be a float8_e4m3fn tile, got float16")

    @tl.jit
    def e4m3_scale_of_fp8(x_ptr):
        b = tl.zeros((64, 16), dtype=tl.float8e4nv)
        tl.dot_scaled(b.T, tl.zeros((16, 4), dtype=tl.float8e4nv), "e4m3", b, None, "e4m3")

    fails_clearly(bad_scale, r"lhs_scale must be a \(16, 2\) uint8 \(e8m0\) tile, or for e2m1 "
                  r"a \(16, 4\) float8e4nv \(nvfp4\) one, got \(16, 1\)")  # fmt: skip
    fails_clearly(e4m3_scale_of_fp8, r"lhs_scale must be a \(16, 2\) uint8 \(e8m0\) tile")


@tl.jit
def nvfp4_kernel(a_ptr, sa_ptr, b_ptr, sb_ptr, c_ptr):
    # Tutorial 10's nvfp4: e2m1 pairs along K, an e4m3 scale per 16 elements.
    a = tl.load(a_ptr + tl.arange(0, M)[:, None] * (K // 2) + tl.arange(0, K // 2)[None, :])
    b = tl.load(b_ptr + tl.arange(0, N)[:, None] * (K // 2) + tl.arange(0, K // 2)[None, :])
    groups = tl.arange(0, K // 16)
    sa = tl.load(sa_ptr + tl.arange(0, M)[:, None] * (K // 16) + groups[None, :])
    sb = tl.load(sb_ptr + tl.arange(0, N)[:, None] * (K // 16) + groups[None, :])
    c = tl.dot_scaled(a, sa, "e2m1", b.T, sb, "e2m1")
    tl.store(c_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], c)


def test_nvfp4_takes_an_e4m3_scale_per_16_elements():
    """NVIDIA's nvfp4 (tutorial 10's default): e2m1 operands with float8 e4m3 scales,
    one per 16 elements along K, against the decoded float64 product."""
    rng = np.random.default_rng(16)
    a_codes = rng.integers(0, 16, (M, K)).astype(np.uint8)
    b_codes = rng.integers(0, 16, (N, K)).astype(np.uint8)
    sa = (rng.random((M, K // 16)) * 4 + 0.25).astype(ml_dtypes.float8_e4m3fn)
    sb = (rng.random((N, K // 16)) * 4 + 0.25).astype(ml_dtypes.float8_e4m3fn)
    a_val = fp4_values(a_codes) * np.repeat(sa.astype(np.float64), 16, axis=1)
    b_val = fp4_values(b_codes) * np.repeat(sb.astype(np.float64), 16, axis=1)
    rt = Runtime("default", verify_data=True)
    one = Placement.single(0)
    args = [rt.from_numpy(x, one) for x in (pack_along(a_codes, 1), sa, pack_along(b_codes, 1),
                                            sb)]  # fmt: skip
    c = rt.zeros((M, N), "float32", one)
    rt.wait(rt.launch(nvfp4_kernel, *args, c, grid=(1,), pes=[0]))
    np.testing.assert_allclose(c.numpy(), a_val @ b_val.T, rtol=1e-5, atol=1e-5)
