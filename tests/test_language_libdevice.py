"""Triton's libdevice math (``tl.extra.libdevice``): every function against Python's own
``math`` module element by element, its cost from the topology's cycles, and its misuse."""

from __future__ import annotations

import math
import struct
from decimal import ROUND_HALF_UP, Decimal
from statistics import NormalDist

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


NORMAL = NormalDist()


def _erfinv(y: float) -> float:
    return NORMAL.inv_cdf((y + 1) / 2) / math.sqrt(2)


def _bits(value: float | int, source: str, target: str) -> float | int:
    return struct.unpack(target, struct.pack(source, value))[0]


def _unsigned32(x: int) -> int:
    return x & 0xFFFFFFFF


def _brev32(x: int) -> int:
    reversed_bits = int(f"{_unsigned32(x):032b}"[::-1], 2)
    return reversed_bits - (1 << 32) if reversed_bits >= 1 << 31 else reversed_bits


# name: (Python reference of one element, argument domains)
POSITIVE, ANY, UNIT, ABOVE_ONE, SMALL = (
    (0.1, 8.0),
    (-8.0, 8.0),
    (-0.99, 0.99),
    (1.01, 8.0),
    (-3.0, 3.0),
)
INT32, INT64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)  # integer tiles of that range
# The dtype of the functions' tile arguments that are not float32.
ARGUMENT_DTYPES = {
    "double_as_longlong": "float64", "double2int_rn": "float64", "double2int_rz": "float64",
    "double2ll_rn": "float64", "int_as_float": "int32", "uint_as_float": "uint32",
    "longlong_as_double": "int64", "int2float_rn": "int32", "int2double_rn": "int32",
    "ll2float_rn": "int64", "ll2double_rn": "int64", "popc": "int32", "clz": "int32",
    "ffs": "int32", "brev": "int32", "mulhi": "int32", "hadd": "int32", "rhadd": "int32",
}  # fmt: skip
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
    "ilogb": (_ilogb, [POSITIVE]), "logb": (lambda x: float(_ilogb(x)), [POSITIVE]),
    "scalbn": (lambda x, n: math.ldexp(x, int(n)), [ANY, (-4, 4)]),
    "sinpi": (lambda x: math.sin(math.pi * x), [ANY]),
    "cospi": (lambda x: math.cos(math.pi * x), [ANY]),
    "rhypot": (lambda x, y: 1 / math.hypot(x, y), [ANY, ANY]),
    "erfinv": (_erfinv, [UNIT]), "erfcinv": (lambda x: _erfinv(1 - x), [(0.01, 1.99)]),
    "normcdf": (lambda x: math.erfc(-x / math.sqrt(2)) / 2, [ANY]),
    "normcdfinv": (NORMAL.inv_cdf, [(0.01, 0.99)]),
    "add_rn": (lambda x, y: x + y, [ANY, ANY]), "sub_rn": (lambda x, y: x - y, [ANY, ANY]),
    "mul_rn": (lambda x, y: x * y, [ANY, ANY]),
    "fma_rn": (lambda x, y, z: x * y + z, [ANY, ANY, ANY]), "sqrt_rn": (math.sqrt, [POSITIVE]),
    "llrint": (_rint, [ANY]), "llround": (_round_half_up, [ANY]),
    "float2int_rn": (_rint, [ANY]), "float2int_rz": (math.trunc, [ANY]),
    "float2int_rd": (math.floor, [ANY]), "float2int_ru": (math.ceil, [ANY]),
    "float2uint_rn": (_rint, [POSITIVE]), "float2uint_rz": (math.trunc, [POSITIVE]),
    "float2ll_rn": (_rint, [ANY]), "float2ll_rz": (math.trunc, [ANY]),
    "double2int_rn": (_rint, [ANY]), "double2int_rz": (math.trunc, [ANY]),
    "double2ll_rn": (_rint, [ANY]),
    "float_as_int": (lambda x: _bits(x, "<f", "<i"), [ANY]),
    "float_as_uint": (lambda x: _bits(x, "<f", "<I"), [ANY]),
    "double_as_longlong": (lambda x: _bits(x, "<d", "<q"), [ANY]),
    "int_as_float": (lambda x: _bits(int(x), "<i", "<f"), [INT32]),
    "uint_as_float": (lambda x: _bits(int(x), "<I", "<f"), [(0, 2**32 - 1)]),
    "longlong_as_double": (lambda x: _bits(int(x), "<q", "<d"), [INT64]),
    "int2float_rn": (float, [INT32]), "int2double_rn": (float, [INT32]),
    "ll2float_rn": (float, [INT64]), "ll2double_rn": (float, [INT64]),
    "popc": (lambda x: bin(_unsigned32(int(x))).count("1"), [INT32]),
    "clz": (lambda x: 32 - _unsigned32(int(x)).bit_length(), [INT32]),
    "ffs": (lambda x: (_unsigned32(int(x)) & -_unsigned32(int(x))).bit_length(), [INT32]),
    "brev": (lambda x: _brev32(int(x)), [INT32]),
    "mulhi": (lambda x, y: (int(x) * int(y)) >> 32, [INT32, INT32]),
    "hadd": (lambda x, y: (int(x) + int(y)) >> 1, [INT32, INT32]),
    "rhadd": (lambda x, y: (int(x) + int(y) + 1) >> 1, [INT32, INT32]),
}  # fmt: skip


@tl.jit
def apply(x_ptr, y_ptr, z_ptr, out_ptr, NAME: tl.constexpr, ARITY: tl.constexpr):  # noqa: N803
    offs = tl.arange(0, N)
    args = [tl.load(p + offs) for p in (x_ptr, y_ptr, z_ptr)[:ARITY]]
    if NAME == "ldexp" or NAME == "scalbn":  # the exponent is an integer tile
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
    dtype = np.dtype(ARGUMENT_DTYPES.get(name, "float32"))
    if dtype.kind in "iu":
        inputs = [rng.integers(lo, hi, N, dtype=dtype, endpoint=True) for lo, hi in domains]
    else:
        inputs = [rng.uniform(lo, hi, N).astype(dtype) for lo, hi in domains]
    if name in ("ldexp", "scalbn"):
        inputs[1] = np.round(inputs[1]).astype(np.float32)
    if name in ("isnan", "isinf", "isfinited", "finitef", "signbit", "round", "rint", "llrint",
                "llround", "float2int_rn", "float2ll_rn", "float_as_int"):  # fmt: skip
        # past int32's and int64's ranges too (conversions saturate there)
        inputs[0][:8] = [np.nan, np.inf, -np.inf, -0.0, 2.5, -3.5, 3e9, 2.0**63]
    if name in ("popc", "clz", "ffs", "brev"):
        inputs[0][:4] = [0, -1, -(2**31), 1]
    result = libdevice.FUNCTIONS[name][2]
    out_dtype = dtype if result == "same" else result or ("float64" if dtype == "float64" else
                                                           "float32")  # fmt: skip
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    args = [rt.from_numpy(a, place) for a in inputs]
    args += [args[0]] * (3 - len(args))
    out = rt.zeros((N,), str(np.dtype(out_dtype)), place)
    rt.launch(apply, *args, out, grid=(1,), pes=[0], NAME=name, ARITY=len(inputs))
    got = out.numpy()
    if name in ("llrint", "llround") or name.startswith(("float2", "double2")):
        expected = [_saturated(reference, got.dtype, *(a[i].item() for a in inputs))
                    for i in range(N)]  # fmt: skip
    else:
        expected = [reference(*(a[i].item() for a in inputs)) for i in range(N)]
    if got.dtype.kind in "iu":
        assert got.tolist() == expected
    elif name.endswith("_as_float") or name == "longlong_as_double":  # bits, NaNs included
        np.testing.assert_array_equal(got.view(inputs[0].dtype), inputs[0])
    else:
        np.testing.assert_allclose(got, np.array(expected, got.dtype), rtol=2e-6, atol=1e-30)


def _saturated(reference, dtype: np.dtype, *args: float | int) -> float | int:
    """The reference's value as PTX's cvt to an integer gives it: NaN is 0, and a value
    past the range is the range's end."""
    if any(isinstance(a, float) and math.isnan(a) for a in args):
        return 0
    info = np.iinfo(dtype)
    if any(isinstance(a, float) and math.isinf(a) for a in args):
        return info.max if reference(*args) > 0 else info.min
    return min(max(int(reference(*args)), int(info.min)), int(info.max))


def test_int64_and_float64_arguments_keep_their_width():
    """The integer functions on int64 tiles count 64 bits (popc, clz, ffs, brev; mulhi
    gives the high 64 of 128), and a float function of float64 tiles is float64 (its
    value to float64 precision), against Python integers and math."""

    @tl.jit
    def wide(i_ptr, j_ptr, f_ptr, ints_ptr, floats_ptr):
        offs = tl.arange(0, 8)
        i, j, f = tl.load(i_ptr + offs), tl.load(j_ptr + offs), tl.load(f_ptr + offs)
        counts = (libdevice.popc(i), libdevice.clz(i), libdevice.ffs(i))
        results = (*(c.to(tl.int64) for c in counts), libdevice.brev(i), libdevice.mulhi(i, j))
        for k, value in enumerate(results):
            tl.store(ints_ptr + k * 8 + offs, value)
        tl.static_assert(libdevice.erfinv(f).dtype == tl.float64)
        tl.store(floats_ptr + offs, libdevice.erfinv(f))
        tl.store(floats_ptr + 8 + offs, libdevice.sinpi(f))

    rng = np.random.default_rng(64)
    edges = [0, -1, -(2**63), 1]
    i = np.concatenate([edges, rng.integers(-(2**63), 2**63 - 1, 4)]).astype(np.int64)
    j = rng.integers(-(2**63), 2**63 - 1, 8, dtype=np.int64)
    f = rng.uniform(-0.999, 0.999, 8)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    ints, floats = rt.zeros((40,), "int64", place), rt.zeros((16,), "float64", place)
    rt.launch(wide, *(rt.from_numpy(a, place) for a in (i, j, f)), ints, floats, grid=(1,),
              pes=[0])  # fmt: skip
    bits = [int(v) & (2**64 - 1) for v in i]
    brev = [int(f"{b:064b}"[::-1], 2) for b in bits]
    expected = ([bin(b).count("1") for b in bits] + [64 - b.bit_length() for b in bits]
                + [(b & -b).bit_length() for b in bits]
                + [r - 2**64 if r >= 2**63 else r for r in brev]
                + [(int(a) * int(b)) >> 64 for a, b in zip(i, j, strict=True)])  # fmt: skip
    assert ints.numpy().tolist() == expected
    np.testing.assert_allclose(floats.numpy()[:8], [_erfinv(v) for v in f], rtol=1e-13)
    np.testing.assert_allclose(floats.numpy()[8:], [math.sin(math.pi * v) for v in f],
                               rtol=1e-13)  # fmt: skip


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
