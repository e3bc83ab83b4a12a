"""Triton's reductions and scans with a combine function: ``tl.reduce`` and
``tl.associative_scan``.

``combine_fn`` is a ``@tl.jit`` function of two groups of tiles (``combine_fn(a, b)``,
or ``combine_fn(a0, a1, b0, b1)`` for a tuple of inputs) returning one group; it must be
associative. It runs as ``tl`` code, so each of its ops is issued and charged as it
costs anywhere:

- ``reduce``: a tree along the axis, ``log2(n)`` levels, each one call of ``combine_fn``
  on the even and the odd elements (neighbours, so the order of the elements is kept);
- ``associative_scan``: Hillis and Steele's inclusive scan, ``log2(n)`` levels, each one
  call of ``combine_fn`` on every element and the one ``2**level`` before it (after it,
  ``reverse``), then a ``tl.where`` keeping the elements that have no such partner.

Pairing elements up moves them across lanes: a ``shuffle`` op on MATH at
``cycles_per_op['trans']`` (the lane crossbar, as ``tl.trans``) for each element moved,
the odd elements of each reduce level and the whole shifted tile of each scan level, as
a GPU's warp shuffles do; folded for index values. The axis size must be a power of 2, as
Triton's shapes are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language.core import (
    _check_block,
    _const,
    _math_op,
    _program,
    _view,
    reshape,
    tensor,
    usage_error,
    where,
)


def reduce(input: Any, axis: Any, combine_fn: Callable[..., Any],  # noqa: A002 - Triton's name
           keep_dims: bool = False) -> Any:  # fmt: skip
    """Combine the elements of ``input`` (a tile or a tuple of tiles of one shape) along
    ``axis`` (all axes when None) with ``combine_fn``; one result per input."""
    values, is_tuple = _group("reduce", input)
    shape = values[0].shape
    if axis is None:
        values = [reshape(v, (math.prod(shape),)) for v in values]
        axis_index = 0
    else:
        axis_index = _axis("reduce", axis, shape)
    n = values[0].shape[axis_index]
    _power_of_two("reduce", n)
    while n > 1:
        evens = [_every_other(v, axis_index, 0) for v in values]
        odds = [_every_other(v, axis_index, 1) for v in values]
        values = _call("reduce", combine_fn, evens, odds, len(values))
        n //= 2
    if axis is None:
        out_shape = tuple(1 for _ in shape) if keep_dims else ()
    else:
        out_shape = tuple(1 if i == axis_index else s for i, s in enumerate(shape)
                          if keep_dims or i != axis_index)  # fmt: skip
    results = [reshape(v, out_shape) for v in values]
    return tuple(results) if is_tuple else results[0]


def associative_scan(input: Any, axis: Any, combine_fn: Callable[..., Any],  # noqa: A002
                     reverse: bool = False) -> Any:  # fmt: skip
    """The inclusive scan of ``input`` (a tile or a tuple of tiles of one shape) along
    ``axis`` with ``combine_fn``: element ``i`` combines elements ``0 .. i`` in order
    (``i .. n-1`` with ``reverse``, the later ones first)."""
    values, is_tuple = _group("associative_scan", input)
    shape = values[0].shape
    axis_index = _axis("associative_scan", axis, shape)
    n = shape[axis_index]
    _power_of_two("associative_scan", n)
    program = _program()
    position = np.arange(n).reshape([n if i == axis_index else 1 for i in range(len(shape))])
    step = 1
    while step < n:
        partners = [_shifted(v, axis_index, step, reverse) for v in values]
        combined = _call("associative_scan", combine_fn, partners, values, len(values))
        has_partner = position < n - step if reverse else position >= step
        keep = _const(program, np.broadcast_to(has_partner, shape))
        values = [where(keep, c, v) for c, v in zip(combined, values, strict=True)]
        step *= 2
    return tuple(values) if is_tuple else values[0]


def _group(name: str, input: Any) -> tuple[list[tensor], bool]:
    is_tuple = isinstance(input, (tuple, list))
    values = [_check_block(name, v) for v in (input if is_tuple else (input,))]
    if not values:
        raise usage_error(f"tl.{name}: no input tiles")
    if any(v.shape != values[0].shape for v in values):
        raise usage_error(f"tl.{name}: input tiles differ in shape: {[v.shape for v in values]}")
    if not values[0].shape:
        raise usage_error(f"tl.{name} needs tiles with an axis, got a scalar")
    return values, is_tuple


def _axis(name: str, axis: Any, shape: tuple[int, ...]) -> int:
    axis = getattr(axis, "value", axis)
    if (
        isinstance(axis, bool)
        or not isinstance(axis, (int, np.integer))
        or not (-len(shape) <= axis < len(shape))
    ):
        raise usage_error(f"tl.{name}: axis {axis!r} out of range for shape {shape}")
    return int(axis) % len(shape)


def _power_of_two(name: str, n: int) -> None:
    if n & (n - 1):
        raise usage_error(f"tl.{name}: the axis has {n} elements, not a power of 2")


def _every_other(x: tensor, axis: int, start: int) -> tensor:
    """Elements ``start, start + 2, ...`` along ``axis``: the even ones stay in their
    lanes (a free view), the odd ones move beside them (a shuffle)."""
    pick = tuple(slice(start, None, 2) if i == axis else slice(None) for i in range(len(x.shape)))
    shape = tuple(s // 2 if i == axis else s for i, s in enumerate(x.shape))
    if start == 0:
        return _view(x, shape, lambda a: a[pick])
    return _shuffle(x, shape, lambda a: a[pick])


def _shuffle(x: tensor, shape: tuple[int, ...], fn: Callable[[np.ndarray], np.ndarray]) -> tensor:
    """``fn`` of ``x``'s elements moved across lanes into a tile of ``shape``: one pass
    of its elements through the lane crossbar (MATH, ``cycles_per_op['trans']``)."""
    return _math_op("shuffle", (x,), shape, x.dtype, fn, cost_key="trans",
                    elements=math.prod(shape))  # fmt: skip


def _shifted(x: tensor, axis: int, step: int, reverse: bool) -> tensor:
    """Element ``i`` holds element ``i - step`` (``i + step`` with ``reverse``) where there
    is one, else itself (those places are not used): a shuffle of the whole tile."""

    def shift(a: np.ndarray) -> np.ndarray:
        n = a.shape[axis]
        if reverse:
            return np.concatenate([np.take(a, range(step, n), axis),
                                   np.take(a, range(n - step, n), axis)], axis)  # fmt: skip
        return np.concatenate([np.take(a, range(step), axis), np.take(a, range(n - step), axis)],
                              axis)  # fmt: skip

    return _shuffle(x, x.shape, shift)


def _call(name: str, combine_fn: Callable[..., Any], first: list[tensor], second: list[tensor],
          count: int) -> list[tensor]:  # fmt: skip
    """``combine_fn(*first, *second)`` as a list of ``count`` tiles."""
    out = combine_fn(*first, *second)
    results = list(out) if isinstance(out, (tuple, list)) else [out]
    if len(results) != count:
        raise usage_error(f"tl.{name}: combine_fn returned {len(results)} values for {count} "
                          "inputs")  # fmt: skip
    shape = first[0].shape
    fixed = []
    for value in results:
        if not isinstance(value, tensor):
            raise usage_error(f"tl.{name}: combine_fn must return tiles, got "
                              f"{type(value).__name__}")  # fmt: skip
        fixed.append(value if value.shape == shape else reshape(value, shape))
    return fixed
