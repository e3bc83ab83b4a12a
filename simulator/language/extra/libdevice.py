"""Triton's libdevice math: ``from simulator.language.extra import libdevice`` (Triton's
``from triton.language.extra import libdevice``, or ``tl.extra.cuda.libdevice``).

The CUDA math library's functions by their Triton names, element-wise on float32 or
float64 tiles (Triton's rule: other floats are cast first), computed with numpy and run
on MATH at ``pe.math.cycles_per_op[key]`` cycles per lane-wide step. ``key`` is the
function's own name, or for a variant the function it is a variant of (``fast_expf`` and
``exp`` cost ``exp``; ``fmax`` costs ``max``): see ``FUNCTIONS``. Index values fold as
any index arithmetic. Predicates (``isnan``, ``isinf``, ``isfinite``, ``signbit``) give
int32, as libdevice's do; ``ilogb`` gives int32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language.core import (
    _F32_F64,
    _check_float,
    _erf,
    _math_op,
    int32,
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


# name: (numpy function, cost key, result is int32)
FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], str, bool]] = {
    # exponentials and logarithms
    "exp": (np.exp, "exp", False),
    "exp2": (np.exp2, "exp2", False),
    "exp10": (_exp10, "exp", False),
    "expm1": (np.expm1, "expm1", False),
    "fast_expf": (np.exp, "exp", False),
    "fast_exp10f": (_exp10, "exp", False),
    "log": (np.log, "log", False),
    "log2": (np.log2, "log2", False),
    "log10": (np.log10, "log", False),
    "log1p": (np.log1p, "log1p", False),
    "fast_logf": (np.log, "log", False),
    "fast_log2f": (np.log2, "log2", False),
    "fast_log10f": (np.log10, "log", False),
    "pow": (np.power, "pow", False),
    "powf": (np.power, "pow", False),
    "fast_powf": (np.power, "pow", False),
    "sqrt": (np.sqrt, "sqrt", False),
    "rsqrt": (lambda x: 1.0 / np.sqrt(x), "rsqrt", False),
    "cbrt": (np.cbrt, "cbrt", False),
    "rcbrt": (_rcbrt, "cbrt", False),
    "hypot": (np.hypot, "hypot", False),
    # trigonometric and hyperbolic
    "sin": (np.sin, "sin", False),
    "cos": (np.cos, "cos", False),
    "tan": (np.tan, "tan", False),
    "fast_sinf": (np.sin, "sin", False),
    "fast_cosf": (np.cos, "cos", False),
    "fast_tanf": (np.tan, "tan", False),
    "asin": (np.arcsin, "asin", False),
    "acos": (np.arccos, "acos", False),
    "atan": (np.arctan, "atan", False),
    "atan2": (np.arctan2, "atan2", False),
    "sinh": (np.sinh, "sinh", False),
    "cosh": (np.cosh, "cosh", False),
    "tanh": (np.tanh, "tanh", False),
    "asinh": (np.arcsinh, "asinh", False),
    "acosh": (np.arccosh, "acosh", False),
    "atanh": (np.arctanh, "atanh", False),
    # rounding and parts
    "floor": (np.floor, "floor", False),
    "ceil": (np.ceil, "ceil", False),
    "trunc": (np.trunc, "floor", False),
    "round": (_round_half_away, "floor", False),
    "rint": (np.rint, "floor", False),
    "nearbyint": (np.rint, "floor", False),
    "fmod": (np.fmod, "div", False),
    "remainder": (_ieee_remainder, "div", False),
    "fabs": (np.abs, "abs", False),
    "copysign": (np.copysign, "logic", False),
    "fmax": (np.fmax, "max", False),
    "fmin": (np.fmin, "min", False),
    "fdim": (_fdim, "sub", False),
    "saturatef": (_saturate, "clamp", False),
    "fast_dividef": (np.divide, "div", False),
    "div_rn": (np.divide, "div", False),
    "rcp_rn": (lambda x: 1.0 / x, "div", False),
    "fma": (lambda x, y, z: x * y + z, "fma", False),
    "nextafter": (np.nextafter, "logic", False),
    "ldexp": (np.ldexp, "mul", False),
    "erf": (_erf, "erf", False),
    "erfc": (np.vectorize(math.erfc, otypes=[np.float64]), "erf", False),
    "lgamma": (np.vectorize(math.lgamma, otypes=[np.float64]), "lgamma", False),
    "tgamma": (np.vectorize(math.gamma, otypes=[np.float64]), "lgamma", False),
    # predicates and exponents: int32, as libdevice's
    "isnan": (_as_int32(np.isnan), "cmp", True),
    "isinf": (_as_int32(np.isinf), "cmp", True),
    "isfinited": (_as_int32(np.isfinite), "cmp", True),
    "finitef": (_as_int32(np.isfinite), "cmp", True),
    "signbit": (_as_int32(np.signbit), "cmp", True),
    "ilogb": (_as_int32(_ilogb), "log2", True),
}


# Arguments that are integers, by position (ldexp's exponent).
_INTEGER_ARGUMENTS = {"ldexp": (1,)}


def _call(name: str, *args: Any) -> tensor:
    """``FUNCTIONS[name]`` of tiles and numbers, broadcast as numpy does."""
    fn, key, integer = FUNCTIONS[name]
    tiles = [a for a in args if isinstance(a, tensor)]
    if not tiles:
        raise usage_error(f"libdevice.{name} needs a tensor argument")
    for a in args:
        if not isinstance(a, (tensor, int, float, np.number)):
            raise usage_error(f"libdevice.{name}: cannot take {type(a).__name__}")
    checked = [a for i, a in enumerate(args) if isinstance(a, tensor) and i not in
               _INTEGER_ARGUMENTS.get(name, ())]  # fmt: skip
    _check_float(f"extra.libdevice.{name}", _F32_F64, *checked)
    try:
        shape = tuple(np.broadcast_shapes(*(t.shape for t in tiles)))
    except ValueError:
        raise usage_error(f"libdevice.{name}: shapes {[t.shape for t in tiles]} do not "
                          "broadcast") from None  # fmt: skip
    dtype = int32 if integer else np.dtype(np.float32)
    slots = [i for i, a in enumerate(args) if isinstance(a, tensor)]

    def compute(*values: np.ndarray) -> np.ndarray:
        full = list(args)
        for i, value in zip(slots, values, strict=True):
            # in float64, rounded once to float32 at the end (integer arguments as given)
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
