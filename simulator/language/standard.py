"""``triton.language.standard``'s names, for code that imports them from there (ports of
Triton's own bitonic sort, FlagGems' top-k): the functions are ``tl``'s, and ``_log2`` and
``_is_power_of_two`` are the compile-time helpers Triton's module defines."""

from __future__ import annotations

from simulator.language.core import (
    argmax,
    argmin,
    cdiv,
    constexpr,
    cumprod,
    cumsum,
    max,
    min,
    sigmoid,
    softmax,
    sum,
    swizzle2d,
    usage_error,
    xor_sum,
    zeros,
    zeros_like,
)
from simulator.language.layout_ops import flip, interleave, ravel
from simulator.language.selection import sort, topk

__all__ = [
    "argmax", "argmin", "cdiv", "cumprod", "cumsum", "flip", "interleave", "max", "min",
    "ravel", "sigmoid", "softmax", "sort", "sum", "swizzle2d", "topk", "xor_sum", "zeros",
    "zeros_like",
]  # fmt: skip


def _log2(i: int) -> constexpr:
    """log2 of a power-of-2 ``tl.constexpr`` (0 for 1), at compile time."""
    n = int(getattr(i, "value", i))
    if n < 1 or n & (n - 1):
        raise usage_error(f"_log2: {n} is not a power of 2")
    return constexpr(n.bit_length() - 1)


def _is_power_of_two(i: int) -> constexpr:
    """Whether the ``tl.constexpr`` ``i`` is a power of 2, at compile time."""
    n = int(getattr(i, "value", i))
    return constexpr(n > 0 and n & (n - 1) == 0)
