"""Triton's libdevice math: ``from simulator.language.extra import libdevice`` (Triton's
``from triton.language.extra import libdevice``, or ``tl.extra.cuda.libdevice``).

The CUDA math library's functions by their Triton names, element-wise on float32 or
float64 tiles (Triton's rule: other floats are cast first), computed with numpy and run
on MATH at ``pe.math.cycles_per_op[key]`` cycles per lane-wide step. ``key`` is the
function's own name, or for a variant the function it is a variant of (``fast_expf`` and
``exp`` cost ``exp``; ``fmax`` costs ``max``): see ``FUNCTIONS``. Index values fold as
any index arithmetic. A float function's result has its float argument's dtype
(float64 if any is). Predicates (``isnan``, ``isinf``, ``isfinite``, ``signbit``) give
int32, as libdevice's do; ``ilogb`` gives int32. Conversions to integers (``llrint``,
``float2int_rn``...) saturate at the integer's range and give 0 for NaN, as the PTX
``cvt`` they lower to; the integer functions (``popc``, ``clz``, ``brev``, ``ffs``,
``mulhi``, ``hadd``, ``rhadd``) take int32 or int64 tiles, and the bit casts
(``float_as_int``, ``int_as_float``...) reinterpret the bits of one width.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language import lowering
from simulator.language.core import (
    _F32_F64,
    _check_float,
    _erf,
    _math_op,
    tensor,
    usage_error,
)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C's ``round``: halves away from zero (numpy's ``round`` goes to even)."""
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _ieee_remainder(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C's ``remainder``: ``x - n * y`` with ``n`` the quotient rounded to even."""
    return x - np.rint(x / y) * y


def _ilogb(x: np.ndarray) -> np.ndarray:
    return np.frexp(x)[1] - 1


def _rcbrt(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.cbrt(x)


def _exp10(x: np.ndarray) -> np.ndarray:
    return np.power(10.0, x)


def _fdim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(x - y, 0.0)


def _saturate(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def _as_int32(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def predicate(*values: np.ndarray) -> np.ndarray:
        return fn(*values).astype(np.int32)

    return predicate


def _erfinv(y: np.ndarray) -> np.ndarray:
    """The inverse of erf on (-1, 1) (±inf at ±1, NaN outside): Newton's method on
    ``math.erf`` in float64 from a logarithmic first guess, to float64 precision."""
    y = np.asarray(y, np.float64)
    inside = np.abs(y) < 1.0
    t = np.where(inside, y, 0.0)
    # Winitzki's approximation (a = 0.147), within 2e-3 of the root
    log_term = np.log((1.0 - t) * (1.0 + t))
    half = 2.0 / (math.pi * 0.147) + log_term / 2
    x = np.copysign(np.sqrt(np.sqrt(half * half - log_term / 0.147) - half), t)
    for _ in range(4):  # quadratic convergence: 4 steps reach float64's last bits
        x = x - (_erf(x) - t) / (2.0 / math.sqrt(math.pi) * np.exp(-x * x))
    edge = np.where(np.abs(y) == 1.0, np.copysign(np.inf, y), np.nan)
    return np.where(inside, x, edge)


def _normcdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-x / math.sqrt(2.0))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _to_integer(rounding: Callable[[np.ndarray], np.ndarray], dtype: Any):
    """A float to integer conversion as PTX ``cvt.<rounding>.<int>``: rounded, saturated
    at the integer's range, NaN to 0 (:func:`~simulator.language.lowering.float_to_integer`)."""
    return lambda x: lowering.float_to_integer(x, dtype, rounding)


def _bits(from_dtype: Any, to_dtype: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A bit cast: the values as ``from_dtype`` (exact for the argument's own dtype)
    reinterpreted as ``to_dtype`` of the same width."""
    return lambda x: np.asarray(x).astype(from_dtype).view(to_dtype)


def _unsigned(x: np.ndarray) -> tuple[np.ndarray, int]:
    """The bits of an int32 or int64 tile as unsigned values, and their width."""
    width = x.dtype.itemsize * 8
    return x.view(np.uint32 if width == 32 else np.uint64), width


def _popc(x: np.ndarray) -> np.ndarray:
    as_bytes = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, x.dtype.itemsize)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.int32)


def _clz(x: np.ndarray) -> np.ndarray:
    bits, width = _unsigned(x)
    length = np.zeros(bits.shape, np.int32)  # bit length, by halving the range
    for shift in (32, 16, 8, 4, 2, 1):
        if shift >= width:
            continue
        high = (bits >> bits.dtype.type(shift)) != 0
        length += np.where(high, shift, 0).astype(np.int32)
        bits = np.where(high, bits >> bits.dtype.type(shift), bits)
    return (width - length - (bits != 0)).astype(np.int32)


def _ffs(x: np.ndarray) -> np.ndarray:
    """Position (from 1) of the lowest set bit; 0 for 0."""
    bits, width = _unsigned(x)
    lowest = bits & (~bits + bits.dtype.type(1))
    return np.where(bits == 0, 0, width - _clz(lowest.view(x.dtype))).astype(np.int32)


def _brev(x: np.ndarray) -> np.ndarray:
    bits, width = _unsigned(x)
    out = np.zeros_like(bits)
    for i in range(width):
        out |= ((bits >> bits.dtype.type(i)) & bits.dtype.type(1)) << bits.dtype.type(width - 1 - i)
    return out.view(x.dtype)


def _mulhi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The high half of the signed double-width product."""
    if x.dtype.itemsize == 4:
        return ((x.astype(np.int64) * y.astype(np.int64)) >> 32).astype(np.int32)
    products = [(int(a) * int(b)) >> 64 for a, b in zip(x.ravel(), y.ravel(), strict=True)]
    return np.array(products, np.int64).reshape(x.shape)


def _hadd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x + y) >> 1 without overflow."""
    return (x >> 1) + (y >> 1) + (x & y & 1)


def _rhadd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x + y + 1) >> 1 without overflow."""
    return (x >> 1) + (y >> 1) + ((x | y) & 1)


_I32, _I64, _U32 = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint32)
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)

# name: (numpy function, cost key, result dtype: None for the float arguments' dtype)
FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], str, np.dtype | None]] = {
    # exponentials and logarithms
    "exp": (np.exp, "exp", None),
    "exp2": (np.exp2, "exp2", None),
    "exp10": (_exp10, "exp", None),
    "expm1": (np.expm1, "expm1", None),
    "fast_expf": (np.exp, "exp", None),
    "fast_exp10f": (_exp10, "exp", None),
    "log": (np.log, "log", None),
    "log2": (np.log2, "log2", None),
    "log10": (np.log10, "log", None),
    "log1p": (np.log1p, "log1p", None),
    "fast_logf": (np.log, "log", None),
    "fast_log2f": (np.log2, "log2", None),
    "fast_log10f": (np.log10, "log", None),
    "pow": (np.power, "pow", None),
    "powf": (np.power, "pow", None),
    "fast_powf": (np.power, "pow", None),
    "sqrt": (np.sqrt, "sqrt", None),
    "rsqrt": (lambda x: 1.0 / np.sqrt(x), "rsqrt", None),
    "cbrt": (np.cbrt, "cbrt", None),
    "rcbrt": (_rcbrt, "cbrt", None),
    "hypot": (np.hypot, "hypot", None),
    # trigonometric and hyperbolic
    "sin": (np.sin, "sin", None),
    "cos": (np.cos, "cos", None),
    "tan": (np.tan, "tan", None),
    "fast_sinf": (np.sin, "sin", None),
    "fast_cosf": (np.cos, "cos", None),
    "fast_tanf": (np.tan, "tan", None),
    "asin": (np.arcsin, "asin", None),
    "acos": (np.arccos, "acos", None),
    "atan": (np.arctan, "atan", None),
    "atan2": (np.arctan2, "atan2", None),
    "sinh": (np.sinh, "sinh", None),
    "cosh": (np.cosh, "cosh", None),
    "tanh": (np.tanh, "tanh", None),
    "asinh": (np.arcsinh, "asinh", None),
    "acosh": (np.arccosh, "acosh", None),
    "atanh": (np.arctanh, "atanh", None),
    # rounding and parts
    "floor": (np.floor, "floor", None),
    "ceil": (np.ceil, "ceil", None),
    "trunc": (np.trunc, "floor", None),
    "round": (_round_half_away, "floor", None),
    "rint": (np.rint, "floor", None),
    "nearbyint": (np.rint, "floor", None),
    "fmod": (np.fmod, "div", None),
    "remainder": (_ieee_remainder, "div", None),
    "fabs": (np.abs, "abs", None),
    "copysign": (np.copysign, "logic", None),
    "fmax": (np.fmax, "max", None),
    "fmin": (np.fmin, "min", None),
    "fdim": (_fdim, "sub", None),
    "saturatef": (_saturate, "clamp", None),
    "fast_dividef": (np.divide, "div", None),
    "div_rn": (np.divide, "div", None),
    "rcp_rn": (lambda x: 1.0 / x, "div", None),
    "fma": (lambda x, y, z: x * y + z, "fma", None),
    "nextafter": (np.nextafter, "logic", None),
    "ldexp": (np.ldexp, "mul", None),
    "erf": (_erf, "erf", None),
    "erfc": (np.vectorize(math.erfc, otypes=[np.float64]), "erf", None),
    "lgamma": (np.vectorize(math.lgamma, otypes=[np.float64]), "lgamma", None),
    "tgamma": (np.vectorize(math.gamma, otypes=[np.float64]), "lgamma", None),
    # predicates and exponents: int32, as libdevice's
    "isnan": (_as_int32(np.isnan), "cmp", _I32),
    "isinf": (_as_int32(np.isinf), "cmp", _I32),
    "isfinited": (_as_int32(np.isfinite), "cmp", _I32),
    "finitef": (_as_int32(np.isfinite), "cmp", _I32),
    "signbit": (_as_int32(np.signbit), "cmp", _I32),
    "ilogb": (_as_int32(_ilogb), "log2", _I32),
    "logb": (lambda x: _ilogb(x).astype(np.float64), "log2", None),
    "scalbn": (np.ldexp, "mul", None),
    "sinpi": (lambda x: np.sin(np.pi * x), "sin", None),
    "cospi": (lambda x: np.cos(np.pi * x), "cos", None),
    "rhypot": (lambda x, y: 1.0 / np.hypot(x, y), "hypot", None),
    "erfinv": (_erfinv, "erf", None),
    "erfcinv": (lambda x: _erfinv(1.0 - x), "erf", None),
    "normcdf": (_normcdf, "erf", None),
    "normcdfinv": (lambda p: math.sqrt(2.0) * _erfinv(2.0 * p - 1.0), "erf", None),
    # correctly rounded arithmetic: exact in float64, rounded once to the result's dtype
    "add_rn": (np.add, "add", None),
    "sub_rn": (np.subtract, "sub", None),
    "mul_rn": (np.multiply, "mul", None),
    "fma_rn": (lambda x, y, z: x * y + z, "fma", None),
    "sqrt_rn": (np.sqrt, "sqrt", None),
    # to integers: rounded, saturated, NaN to 0 (PTX cvt)
    "llrint": (_to_integer(np.rint, np.int64), "cast", _I64),
    "llround": (_to_integer(_round_half_away, np.int64), "cast", _I64),
    "float2int_rn": (_to_integer(np.rint, np.int32), "cast", _I32),
    "float2int_rz": (_to_integer(np.trunc, np.int32), "cast", _I32),
    "float2int_rd": (_to_integer(np.floor, np.int32), "cast", _I32),
    "float2int_ru": (_to_integer(np.ceil, np.int32), "cast", _I32),
    "float2uint_rn": (_to_integer(np.rint, np.uint32), "cast", _U32),
    "float2uint_rz": (_to_integer(np.trunc, np.uint32), "cast", _U32),
    "float2ll_rn": (_to_integer(np.rint, np.int64), "cast", _I64),
    "float2ll_rz": (_to_integer(np.trunc, np.int64), "cast", _I64),
    "double2int_rn": (_to_integer(np.rint, np.int32), "cast", _I32),
    "double2int_rz": (_to_integer(np.trunc, np.int32), "cast", _I32),
    "double2ll_rn": (_to_integer(np.rint, np.int64), "cast", _I64),
    # bit casts
    "float_as_int": (_bits(np.float32, np.int32), "copy", _I32),
    "float_as_uint": (_bits(np.float32, np.uint32), "copy", _U32),
    "double_as_longlong": (_bits(np.float64, np.int64), "copy", _I64),
    "int_as_float": (_bits(np.int32, np.float32), "copy", _F32),
    "uint_as_float": (_bits(np.uint32, np.float32), "copy", _F32),
    "longlong_as_double": (_bits(np.int64, np.float64), "copy", _F64),
    # from integers
    "int2float_rn": (lambda x: x.astype(np.float32), "cast", _F32),
    "int2double_rn": (lambda x: x.astype(np.float64), "cast", _F64),
    "ll2float_rn": (lambda x: x.astype(np.float32), "cast", _F32),
    "ll2double_rn": (lambda x: x.astype(np.float64), "cast", _F64),
    # integer functions: the same dtype, or int32 for counts
    "popc": (_popc, "logic", _I32),
    "clz": (_clz, "logic", _I32),
    "ffs": (_ffs, "logic", _I32),
    "brev": (_brev, "logic", "same"),
    "mulhi": (_mulhi, "mul", "same"),
    "hadd": (_hadd, "add", "same"),
    "rhadd": (_rhadd, "add", "same"),
}

# The tile dtypes a function takes when not float32 or float64, by name.
_ARGUMENT_DTYPES: dict[str, tuple[np.dtype, ...]] = {
    "float_as_int": (_F32,), "float_as_uint": (_F32,), "double_as_longlong": (_F64,),
    "float2int_rn": (_F32,), "float2int_rz": (_F32,), "float2int_rd": (_F32,),
    "float2int_ru": (_F32,), "float2uint_rn": (_F32,), "float2uint_rz": (_F32,),
    "float2ll_rn": (_F32,), "float2ll_rz": (_F32,), "double2int_rn": (_F64,),
    "double2int_rz": (_F64,), "double2ll_rn": (_F64,), "sqrt_rn": (_F32, _F64),
    "int_as_float": (_I32,), "uint_as_float": (_U32,), "longlong_as_double": (_I64,),
    "int2float_rn": (_I32,), "int2double_rn": (_I32,), "ll2float_rn": (_I64,),
    "ll2double_rn": (_I64,),
    **{name: (_I32, _I64) for name in ("popc", "clz", "ffs", "brev", "mulhi", "hadd", "rhadd")},
}  # fmt: skip


# Arguments that are integers, by position (ldexp's exponent).
_INTEGER_ARGUMENTS = {"ldexp": (1,), "scalbn": (1,)}


def _call(name: str, *args: Any) -> tensor:
    """``FUNCTIONS[name]`` of tiles and numbers, broadcast as numpy does."""
    fn, key, result = FUNCTIONS[name]
    tiles = [a for a in args if isinstance(a, tensor)]
    if not tiles:
        raise usage_error(f"libdevice.{name} needs a tensor argument")
    for a in args:
        if not isinstance(a, (tensor, int, float, np.number)):
            raise usage_error(f"libdevice.{name}: cannot take {type(a).__name__}")
    accepted = _ARGUMENT_DTYPES.get(name, _F32_F64)
    checked = [a for i, a in enumerate(args) if isinstance(a, tensor) and i not in
               _INTEGER_ARGUMENTS.get(name, ())]  # fmt: skip
    if accepted[0].kind == "f":
        _check_float(f"extra.libdevice.{name}", accepted, *checked)
    else:
        for tile in checked:
            if tile.dtype not in accepted or (result == "same" and tile.dtype != checked[0].dtype):
                wanted = " or ".join(str(d) for d in accepted)
                raise usage_error(f"libdevice.{name} takes {wanted} tensors of one dtype, got "
                                  f"{', '.join(str(t.dtype) for t in checked)}")  # fmt: skip
    try:
        shape = tuple(np.broadcast_shapes(*(t.shape for t in tiles)))
    except ValueError:
        raise usage_error(f"libdevice.{name}: shapes {[t.shape for t in tiles]} do not "
                          "broadcast") from None  # fmt: skip
    if result is None:  # a float function: float64 if any float argument is
        dtype = _F64 if any(t.dtype == _F64 for t in checked) else _F32
    else:
        dtype = checked[0].dtype if result == "same" else result
    slots = [i for i, a in enumerate(args) if isinstance(a, tensor)]

    def compute(*values: np.ndarray) -> np.ndarray:
        full = list(args)
        for i, value in zip(slots, values, strict=True):
            # in float64, rounded once at the end (integer arguments as given)
            full[i] = value if value.dtype.kind in "iu" else value.astype(np.float64)
        return fn(*full)

    return _math_op(name, tuple(tiles), shape, dtype, compute, cost_key=key)


def _function(name: str) -> Callable[..., tensor]:
    def libdevice_function(*args: Any) -> tensor:
        return _call(name, *args)

    libdevice_function.__name__ = libdevice_function.__qualname__ = name
    libdevice_function.__doc__ = (f"libdevice's ``{name}``, element-wise on MATH (cost key "
                                  f"``{FUNCTIONS[name][1]}``).")  # fmt: skip
    return libdevice_function


_BOUND = {name: _function(name) for name in FUNCTIONS}


def __getattr__(name: str) -> Callable[..., tensor]:
    """``libdevice.tanh`` and the rest of ``FUNCTIONS``; another name is one clear error."""
    function = _BOUND.get(name)
    if function is None:
        raise AttributeError(f"libdevice.{name} is not modelled by this simulator (known: "
                             f"{', '.join(sorted(FUNCTIONS))})")  # fmt: skip
    return function


def __dir__() -> list[str]:
    return sorted([*FUNCTIONS, "FUNCTIONS"])
