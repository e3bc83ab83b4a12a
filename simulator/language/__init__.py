"""``import simulator.language as tl``: the Triton-shaped kernel language.

Names of Triton's language that this simulator does not model resolve to a function
that raises :class:`KernelUsageError` naming the feature, the kernel and the line when it
is called (or, for dtypes, when it is used).

Dtypes are numpy dtypes: ``tl.bfloat16``, ``tl.float8e4nv`` (e4m3, bias 7) and
``tl.float8e5`` (e5m2) are ml_dtypes' ``bfloat16``, ``float8_e4m3fn`` and ``float8_e5m2``;
AMD's ``tl.float8e4b8`` and ``tl.float8e5b16`` are its ``float8_e4m3fnuz`` and
``float8_e5m2fnuz``.
"""

import functools as _functools
import types as _types
from typing import Any

import numpy as _np

from simulator.language import core as _core
from simulator.language import extra, math, standard
from simulator.language import syntax as _syntax
from simulator.language.atomics import (
    atomic_add,
    atomic_and,
    atomic_cas,
    atomic_max,
    atomic_min,
    atomic_or,
    atomic_xchg,
    atomic_xor,
)
from simulator.language.combine import associative_scan, reduce
from simulator.language.comm import (
    fence,
    rank,
    recv,
    ring_neighbours,
    ring_position,
    round,
    send,
    world_size,
)
from simulator.language.context import KernelUsageError
from simulator.language.core import (
    TRITON_MAX_TENSOR_NUMEL,
    PropagateNan,
    TensorView,
    abs,
    advance,
    arange,
    argmax,
    argmin,
    assume,
    bfloat16,
    block_ptr,
    broadcast,
    broadcast_to,
    cast,
    cdiv,
    ceil,
    clamp,
    const,
    constexpr,
    cos,
    cumprod,
    cumsum,
    debug_barrier,
    device_assert,
    device_print,
    div_rn,
    dot,
    erf,
    exp,
    exp2,
    expand_dims,
    fdiv,
    float8e4b8,
    float8e4nv,
    float8e5,
    float8e5b16,
    float16,
    float32,
    float64,
    floor,
    fma,
    full,
    full_like,
    gelu,
    int1,
    int8,
    int16,
    int32,
    int64,
    load,
    log,
    log2,
    make_block_ptr,
    max,
    max_constancy,
    max_contiguous,
    maximum,
    min,
    minimum,
    multiple_of,
    num_programs,
    pointer,
    pointer_type,
    program_id,
    range_,
    reduce_or,
    relu,
    reshape,
    rsqrt,
    sigmoid,
    sin,
    softmax,
    sqrt,
    sqrt_rn,
    static_assert,
    static_print,
    static_range,
    store,
    sum,
    swizzle2d,
    tensor,
    trans,
    uint8,
    uint16,
    uint32,
    uint64,
    umulhi,
    view,
    where,
    xor_sum,
    zeros,
    zeros_like,
)
from simulator.language.descriptors import (
    load_tensor_descriptor,
    make_tensor_descriptor,
    store_tensor_descriptor,
    tensor_descriptor,
)
from simulator.language.jit import JITFunction, jit
from simulator.language.layout_ops import cat, flip, interleave, join, permute, ravel, split
from simulator.language.random import (
    pair_uniform_to_normal,
    philox,
    rand,
    rand4x,
    randint,
    randint4x,
    randn,
    randn4x,
    uint_to_uniform_float,
)
from simulator.language.scaled_dot import dot_scaled
from simulator.language.selection import gather, histogram, sort, topk

range = range_  # noqa: A001 - Triton's name (tl.range)

# Triton's ``tl.dtype``: the class of every dtype here (``isinstance(t, tl.dtype)``).
dtype = _np.dtype

__all__ = [
    "TRITON_MAX_TENSOR_NUMEL",
    "reduce_or",
    "rank",
    "recv",
    "ring_neighbours",
    "ring_position",
    "round",
    "send",
    "world_size",
    "fence",
    "JITFunction",
    "jit",
    "KernelUsageError",
    "PropagateNan",
    "TensorView",
    "abs",
    "advance",
    "arange",
    "argmax",
    "argmin",
    "atomic_add",
    "atomic_and",
    "atomic_cas",
    "atomic_max",
    "atomic_min",
    "atomic_or",
    "atomic_xchg",
    "atomic_xor",
    "bfloat16",
    "block_ptr",
    "broadcast",
    "broadcast_to",
    "cdiv",
    "ceil",
    "clamp",
    "const",
    "constexpr",
    "cos",
    "cumprod",
    "cumsum",
    "debug_barrier",
    "device_print",
    "dtype",
    "div_rn",
    "dot",
    "dot_scaled",
    "erf",
    "exp",
    "exp2",
    "expand_dims",
    "fdiv",
    "float8e4nv",
    "float8e5",
    "float8e4b8",
    "float8e5b16",
    "float16",
    "float32",
    "float64",
    "floor",
    "fma",
    "full",
    "full_like",
    "gelu",
    "int1",
    "int8",
    "int16",
    "int32",
    "int64",
    "load",
    "log",
    "log2",
    "make_block_ptr",
    "max",
    "max_constancy",
    "max_contiguous",
    "maximum",
    "min",
    "minimum",
    "multiple_of",
    "num_programs",
    "pair_uniform_to_normal",
    "philox",
    "pointer",
    "pointer_type",
    "program_id",
    "rand",
    "rand4x",
    "randint",
    "randint4x",
    "randn",
    "randn4x",
    "range",
    "relu",
    "reshape",
    "rsqrt",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "sqrt_rn",
    "static_assert",
    "static_print",
    "static_range",
    "store",
    "sum",
    "tensor",
    "trans",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uint_to_uniform_float",
    "view",
    "where",
    "zeros",
    "zeros_like",
    "assume",
    "device_assert",
    "swizzle2d",
    "umulhi",
    "xor_sum",
    "cat",
    "flip",
    "interleave",
    "join",
    "permute",
    "ravel",
    "split",
    "gather",
    "histogram",
    "sort",
    "topk",
    "cast",
    "associative_scan",
    "reduce",
    "math",
    "extra",
    "standard",
    "load_tensor_descriptor",
    "make_tensor_descriptor",
    "store_tensor_descriptor",
    "tensor_descriptor",
]

# Triton's tensor methods (``x.sum(axis=0)``, ``x.reshape(4, 8)``, ``x.exp()``...): the tl
# function of that name with the tensor as its first argument, as triton.language has them.
TENSOR_METHODS = (
    "abs", "argmax", "argmin", "associative_scan", "broadcast_to", "cast", "cdiv", "ceil", "cos",
    "cumprod", "cumsum", "erf", "exp", "exp2", "expand_dims", "flip", "floor", "gather",
    "histogram", "log", "log2", "max", "min", "permute", "ravel", "reduce", "reduce_or",
    "reshape", "rsqrt", "sigmoid", "sin", "softmax", "sort", "split", "sqrt", "sqrt_rn", "sum",
    "trans", "view", "xor_sum",
)  # fmt: skip


def _as_method(function: Any) -> Any:
    """``function`` as a method of ``tensor``: a compiled function (simulator.hw.native)
    is not a descriptor, so it would not receive the tensor as its first argument."""
    if isinstance(function, _types.FunctionType):
        return function

    @_functools.wraps(function)
    def method(self: tensor, *args: Any, **kwargs: Any) -> Any:
        return function(self, *args, **kwargs)

    return method


for _method in TENSOR_METHODS:
    setattr(tensor, _method, _as_method(globals()[_method]))
# A compiled class gets no ``__index__`` slot from its method (``range(n)`` of a 0-d
# tile); setting the method on the class again has CPython fill the slot.
tensor.__index__ = tensor.__index__
# What ``a and b``, ``a or b`` and ``not a`` of tiles call in Triton (see syntax.py).
tensor.logical_and = _syntax.logical_and
tensor.logical_or = _syntax.logical_or
tensor.__not__ = _syntax.logical_not

# Triton language features this simulator does not model: each fails at its call.
UNSUPPORTED = frozenset(
    {
        "inline_asm_elementwise",
        # e4m3 with exponent bias 15: ml_dtypes has no such dtype (its e4m3b11fnuz has 11)
        "float8e4b15",
    }
)  # fmt: skip


def _unsupported(name: str):
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise _core.usage_error(f"tl.{name} is not supported by this simulator")

    fail.__name__ = name
    return fail


class UnsupportedFeatureError(KernelUsageError, AttributeError):
    """A ``tl`` name Triton may have but this simulator does not (an AttributeError too,
    so ``hasattr(tl, name)`` stays False)."""


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'simulator.language' has no attribute {name!r}")
    if name in UNSUPPORTED:
        if name.startswith(("float8", "bfloat")):
            raise _core.usage_error(f"dtype tl.{name} is not supported by this simulator")
        return _unsupported(name)
    error = _core.usage_error(f"tl.{name} is not a feature of this simulator's tl")
    raise UnsupportedFeatureError(str(error))
