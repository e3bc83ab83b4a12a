"""Triton's libdevice math (``tl.extra.libdevice``): every function against Python's own
``math`` module element by element, its cost from the topology's cycles, and its misuse."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.hw.topology import load_topology
from simulator.language.extra import libdevice
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

N = 64


def _round_half_up(x: float) -> float:
    if not math.isfinite(x):
        return x
    return float(Decimal(x).copy_abs().quantize(Decimal(1), ROUND_HALF_UP)) * math.copysign(1, x)


def _rint(x: float) -> float:
    return float(round(x)) if math.isfinite(x) else x  # Python rounds halves to even, as rint


def _ilogb(x: float) -> int:
    return math.frexp(x)[1] - 1


# name: (Python reference of one element, argument domains)
POSITIVE, ANY, UNIT, ABOVE_ONE, SMALL = (
    (0.1, 8.0),
    (-8.0, 8.0),
    (-0.99, 0.99),
    (1.01, 8.0),
    (-3.0, 3.0),
)
REFERENCES = {
    "exp": (math.exp, [SMALL]), "exp2": (lambda x: 2.0**x, [SMALL]),
    "exp10": (lambda x: 10.0**x, [SMALL]), "expm1": (math.expm1, [SMALL]),
    "fast_expf": (math.exp, [SMALL]), "fast_exp10f": (lambda x: 10.0**x, [SMALL]),
    "log": (math.log, [POSITIVE]), "log2": (math.log2, [POSITIVE]),
    "log10": (math.log10, [POSITIVE]), "log1p": (math.log1p, [POSITIVE]),
    "fast_logf": (math.log, [POSITIVE]), "fast_log2f": (math.log2, [POSITIVE]),
    "fast_log10f": (math.log10, [POSITIVE]), "pow": (math.pow, [POSITIVE, SMALL]),
    "powf": (math.pow, [POSITIVE, SMALL]), "fast_powf": (math.pow, [POSITIVE, SMALL]),
    "sqrt": (math.sqrt, [POSITIVE]), "rsqrt": (lambda x: 1 / math.sqrt(x), [POSITIVE]),
    "cbrt": (math.cbrt, [ANY]), "rcbrt": (lambda x: 1 / math.cbrt(x), [POSITIVE]),
    "hypot": (math.hypot, [ANY, ANY]), "sin": (math.sin, [ANY]), "cos": (math.cos, [ANY]),
    "tan": (math.tan, [UNIT]), "fast_sinf": (math.sin, [ANY]), "fast_cosf": (math.cos, [ANY]),
    "fast_tanf": (math.tan, [UNIT]), "asin": (math.asin, [UNIT]), "acos": (math.acos, [UNIT]),
    "atan": (math.atan, [ANY]), "atan2": (math.atan2, [ANY, ANY]), "sinh": (math.sinh, [SMALL]),
    "cosh": (math.cosh, [SMALL]), "tanh": (math.tanh, [ANY]), "asinh": (math.asinh, [ANY]),
    "acosh": (math.acosh, [ABOVE_ONE]), "atanh": (math.atanh, [UNIT]),
    "floor": (math.floor, [ANY]), "ceil": (math.ceil, [ANY]), "trunc": (math.trunc, [ANY]),
    "round": (_round_half_up, [ANY]), "rint": (_rint, [ANY]), "nearbyint": (_rint, [ANY]),
    "fmod": (math.fmod, [ANY, POSITIVE]), "remainder": (math.remainder, [ANY, POSITIVE]),
    "fabs": (math.fabs, [ANY]), "copysign": (math.copysign, [ANY, ANY]),
    "fmax": (max, [ANY, ANY]), "fmin": (min, [ANY, ANY]),
    "fdim": (lambda x, y: max(x - y, 0.0), [ANY, ANY]),
    "saturatef": (lambda x: min(max(x, 0.0), 1.0), [SMALL]),
    "fast_dividef": (lambda x, y: x / y, [ANY, POSITIVE]),
    "div_rn": (lambda x, y: x / y, [ANY, POSITIVE]), "rcp_rn": (lambda x: 1 / x, [POSITIVE]),
    "fma": (lambda x, y, z: x * y + z, [ANY, ANY, ANY]),
    "nextafter": (math.nextafter, [ANY, ANY]),
    "ldexp": (lambda x, n: math.ldexp(x, int(n)), [ANY, (-4, 4)]),
    "erf": (math.erf, [SMALL]), "erfc": (math.erfc, [SMALL]), "lgamma": (math.lgamma, [POSITIVE]),
    "tgamma": (math.gamma, [POSITIVE]), "isnan": (math.isnan, [ANY]),
    "isinf": (math.isinf, [ANY]), "isfinited": (math.isfinite, [ANY]),
    "finitef": (math.isfinite, [ANY]), "signbit": (lambda x: math.copysign(1, x) < 0, [ANY]),
    "ilogb": (_ilogb, [POSITIVE]),
}  # fmt: skip


@tl.jit
def apply(x_ptr, y_ptr, z_ptr, out_ptr, NAME: tl.constexpr, ARITY: tl.constexpr):  # noqa: N803
    offs = tl.arange(0, N)
    args = [tl.load(p + offs) for p in (x_ptr, y_ptr, z_ptr)[:ARITY]]
    if NAME == "ldexp":  # the exponent is an integer tile
        args[1] = args[1].to(tl.int32)
    tl.store(out_ptr + offs, getattr(libdevice, NAME)(*args))


def test_every_function_has_a_reference():
    assert set(REFERENCES) == set(libdevice.FUNCTIONS)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_function_matches_pythons_math_element_by_element(name):
    """Float32 inputs (with NaN, infinities and signed zeros for the predicates), the
    function of each element by Python's math, to float32 rounding."""
    reference, domains = REFERENCES[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    inputs = [rng.uniform(lo, hi, N).astype(np.float32) for lo, hi in domains]
    if name == "ldexp":
        inputs[1] = np.round(inputs[1]).astype(np.float32)
    if name in ("isnan", "isinf", "isfinited", "finitef", "signbit", "round", "rint"):
        inputs[0][:6] = [np.nan, np.inf, -np.inf, -0.0, 2.5, -3.5]
    integer = libdevice.FUNCTIONS[name][2]
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    args = [rt.from_numpy(a, place) for a in inputs]
    args += [args[0]] * (3 - len(args))
    out = rt.zeros((N,), "int32" if integer else "float32", place)
    rt.launch(apply, *args, out, grid=(1,), pes=[0], NAME=name, ARITY=len(inputs))
    got = out.numpy()
    expected = np.array([reference(*(float(a[i]) for a in inputs)) for i in range(N)])
    if integer:
        np.testing.assert_array_equal(got, expected.astype(np.int32))
    else:
        np.testing.assert_allclose(got, expected.astype(np.float32), rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize(("name", "key"), [("tanh", "tanh"), ("fast_expf", "exp"),
                                           ("pow", "pow"), ("atan2", "atan2")])  # fmt: skip
def test_a_function_costs_its_keys_cycles_per_lane_wide_step(list_writer, name, key):
    arity = len(REFERENCES[name][1])
    rt = Runtime("default", writer=list_writer)
    place = Placement.single(0)
    x = rt.zeros((N,), "float32", place)
    rt.launch(apply, x, x, x, x, grid=(1,), pes=[0], NAME=name, ARITY=arity)
    rt.synchronize()
    [op] = [r for r in list_writer.rows["ops"] if r["op"] == name]
    pe = load_topology("default").params.pe
    cycles = math.ceil(N / pe.math.lanes) * pe.math.cycles_per_op[key]
    assert op["engine"] == "MATH"
    assert op["end_ns"] - op["start_ns"] == pytest.approx(cycles / pe.clock_ghz)


def test_misuse_is_one_clear_error():
    @tl.jit
    def half_tile(x_ptr):
        libdevice.tanh(tl.zeros((8,), tl.float16))

    @tl.jit
    def no_tile(x_ptr):
        libdevice.pow(2.0, 3.0)

    fails_clearly(half_tile, r"tl\.extra\.libdevice\.tanh takes float32 or float64 tensors, "
                  r"got float16; cast with \.to\(tl\.float32\) first")  # fmt: skip
    fails_clearly(no_tile, r"libdevice\.pow needs a tensor argument")
    with pytest.raises(AttributeError, match=r"libdevice\.j0 is not modelled"):
        libdevice.j0  # noqa: B018 - the attribute access is the test
    assert tl.extra.cuda.libdevice.tanh is libdevice.tanh


def test_every_import_triton_code_uses_finds_the_functions():
    """``from triton.language.extra.libdevice import rsqrt`` (as Liger's kernels write it),
    the cuda path, and the attribute chains, all the same functions."""
    from simulator.language.extra.cuda.libdevice import tanh
    from simulator.language.extra.libdevice import rsqrt

    assert rsqrt is libdevice.rsqrt and tanh is libdevice.tanh
    assert tl.extra.libdevice.pow is tl.extra.cuda.libdevice.pow is libdevice.pow
