"""Triton's tile layout ops: ``tl.ravel``, ``permute`` (in core, beside ``trans``), ``join``,
``split``, ``interleave``, ``cat`` and ``flip``.

What stays in place is a free view (``ravel``, ``split``, ``interleave`` after its
join), as ``tl.reshape`` is; what moves elements between lanes runs on MATH, as
``tl.trans`` does: ``permute`` and ``flip`` through the lane crossbar
(``cycles_per_op['trans']`` per element), ``join`` and ``cat`` as copies into a new tile
(``cycles_per_op['copy']`` per element written). Index values fold, as always.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.language.core import (
    _check_block,
    _math_op,
    _result_dtype,
    _view,
    permute,  # noqa: F401 - with trans in core; named here as one of the layout ops
    reshape,
    tensor,
    usage_error,
)


def ravel(x: tensor, can_reorder: bool = False) -> tensor:
    """The elements of ``x`` as one row, in row-major order (a free view)."""
    x = _check_block("ravel", x)
    return reshape(x, (math.prod(x.shape),), can_reorder=can_reorder)


def join(a: Any, b: Any) -> tensor:
    """``a`` and ``b`` (broadcast together, one dtype) side by side in a new minor axis of
    size 2: MATH ``copy`` per element written."""
    a, b = _check_block("join", a), _check_block("join", b)
    if a.dtype != b.dtype:
        raise usage_error(f"tl.join: both tiles must have one dtype, got {a.dtype} and {b.dtype}")
    try:
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise usage_error(f"tl.join: shapes {a.shape} and {b.shape} do not broadcast") from None

    def stack(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.stack(np.broadcast_arrays(u, v), axis=-1)

    return _math_op("join", (a, b), (*shape, 2), a.dtype, stack, cost_key="copy",
                    elements=2 * math.prod(shape))  # fmt: skip


def split(a: tensor) -> tuple[tensor, tensor]:
    """The two halves of ``a``'s minor axis, which must have size 2 (free views)."""
    a = _check_block("split", a)
    if not a.shape or a.shape[-1] != 2:
        raise usage_error(f"tl.split: the last axis must have size 2, got shape {a.shape}")
    shape = a.shape[:-1]
    return (_view(a, shape, lambda v: v[..., 0]), _view(a, shape, lambda v: v[..., 1]))


def interleave(a: Any, b: Any) -> tensor:
    """The values of ``a`` and ``b`` alternating along their last axis (``join`` then a
    free reshape)."""
    joined = join(a, b)
    if len(joined.shape) == 1:
        return joined  # two scalars
    return reshape(joined, (*joined.shape[:-2], 2 * joined.shape[-2]))


def cat(input: Any, other: Any, can_reorder: bool = False) -> tensor:  # noqa: A002 - Triton's name
    """``input`` then ``other``, two 1-D tiles: MATH ``copy`` per element written. As in
    Triton, only with ``can_reorder=True`` (Triton may give the elements in any order,
    so a kernel may use the result only where order does not matter, a reduction say);
    here they come in order."""
    a, b = _check_block("cat", input), _check_block("cat", other)
    if not getattr(can_reorder, "value", can_reorder):
        raise usage_error(
            "tl.cat needs can_reorder=True, as in Triton (its cat may reorder the elements); "
            "to keep an order, use tl.join and tl.reshape"
        )
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise usage_error(f"tl.cat: shapes {a.shape} and {b.shape}: Triton's cat takes 1-D "
                          "tiles (tl.reshape them first)")  # fmt: skip
    shape = (a.shape[0] + b.shape[0], *a.shape[1:])
    dtype = _result_dtype("cat", a, b)
    return _math_op("cat", (a, b), shape, dtype, lambda u, v: np.concatenate([u, v]),
                    cost_key="copy", elements=math.prod(shape))  # fmt: skip


def flip(x: tensor, dim: Any = None) -> tensor:
    """``x`` reversed along ``dim`` (the last axis when None; its size a power of 2, as in
    Triton): MATH ``trans`` per element."""
    x = _check_block("flip", x)
    dim = len(x.shape) - 1 if dim is None else int(getattr(dim, "value", dim))
    if not x.shape or dim not in range(-len(x.shape), len(x.shape)):
        raise usage_error(f"tl.flip: dim {dim} out of range for shape {x.shape}")
    axis = dim % len(x.shape)
    size = x.shape[axis]
    if size & (size - 1):
        raise usage_error(f"tl.flip: axis {axis} has size {size}, not a power of 2")
    return _math_op("flip", (x,), x.shape, x.dtype, lambda v: np.flip(v, axis),
                    cost_key="trans")  # fmt: skip
