"""Triton's ops that pick or count elements by value: ``tl.sort``, ``topk``, ``gather``
and ``histogram``.

Costs, on MATH: ``sort`` is a bitonic network along the last axis, ``log2(n) *
(log2(n) + 1) / 2`` compare-exchange stages over every element (``cycles_per_op['cmp']``
per element and stage), as Triton builds it; ``topk`` the stages of Triton's bitonic
top-k; ``gather`` a crossbar read per element it returns (``copy``); ``histogram`` a
counting pass over its input (``reduce`` per element). Index values fold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.language.context import KernelUsageError, call_site
from simulator.language.core import (
    _check_block,
    _const,
    _mask_values,
    _math_op,
    _program,
    int32,
    tensor,
    usage_error,
)


def sort(x: tensor, dim: Any = None, descending: Any = False) -> tensor:
    """``x`` sorted along its last axis (``dim`` must name it; its size a power of 2)."""
    x, n = _minor_axis("sort", x, dim)
    log_n = n.bit_length() - 1
    stages = log_n * (log_n + 1) // 2
    down = bool(getattr(descending, "value", descending))
    return _math_op("sort", (x,), x.shape, x.dtype, lambda v: _sorted(v, down),
                    cost_key="cmp", elements=math.prod(x.shape) * stages)  # fmt: skip


def topk(x: tensor, k: Any, dim: Any = None, descending: Any = True) -> tensor:
    """The ``k`` largest (``descending``) or smallest elements along the last axis, in
    that order (``k`` a power of 2 no larger than the axis)."""
    x, n = _minor_axis("topk", x, dim)
    k = int(getattr(k, "value", k))
    if k < 1 or k > n or k & (k - 1):
        raise usage_error(f"tl.topk: k={k} must be a power of 2 from 1 to {n}")
    log_n, log_k = n.bit_length() - 1, k.bit_length() - 1
    # Triton's bitonic top-k: sort runs of k, then per halving a max (or min) and a merge.
    stages = log_k * (log_k + 1) // 2 + (log_n - log_k) * (1 + log_k)
    down = bool(getattr(descending, "value", descending))
    shape = (*x.shape[:-1], k)
    return _math_op("topk", (x,), shape, x.dtype, lambda v: _sorted(v, down)[..., :k],
                    cost_key="cmp", elements=math.prod(x.shape) * stages)  # fmt: skip


def gather(src: tensor, index: tensor, axis: Any) -> tensor:
    """``out[i][j] = src[index[i][j]][j]`` for ``axis`` 0 (and so on): ``index`` has
    ``src``'s rank and gives the output's shape; indices must lie within ``axis``."""
    src, index = _check_block("gather", src), _check_block("gather", index)
    axis = int(getattr(axis, "value", axis))
    if axis not in range(-len(src.shape), len(src.shape)):
        raise usage_error(f"tl.gather: axis {axis} out of range for shape {src.shape}")
    axis %= len(src.shape)
    if index.dtype.kind not in "iu":
        raise usage_error(f"tl.gather: index must be integers, got {index.dtype}")
    if len(index.shape) != len(src.shape) or any(
        i != s for a, (i, s) in enumerate(zip(index.shape, src.shape, strict=True)) if a != axis
    ):
        raise usage_error(f"tl.gather: index shape {index.shape} must match source shape "
                          f"{src.shape} on every axis but {axis}")  # fmt: skip
    size = src.shape[axis]
    if index.const is not None:
        _check_indices(index.const, size, axis, None)
    place = _place() if _program().machine.data is not None else None  # for data indices

    def take(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        _check_indices(indices, size, axis, place)
        return np.take_along_axis(values, indices.astype(np.int64), axis)

    return _math_op("gather", (src, index), index.shape, src.dtype, take, cost_key="copy",
                    elements=math.prod(index.shape))  # fmt: skip


def histogram(input: tensor, num_bins: Any, mask: Any = None) -> tensor:  # noqa: A002
    """int32 counts of the values ``0 .. num_bins - 1`` in ``input`` (a 1-D integer tile)
    where ``mask`` lets them through; values outside that range are not counted."""
    x = _check_block("histogram", input)
    bins = int(getattr(num_bins, "value", num_bins))
    if bins < 1:
        raise usage_error(f"tl.histogram: num_bins must be positive, got {bins}")
    if len(x.shape) != 1 or x.dtype.kind not in "iu":
        raise usage_error(f"tl.histogram takes a 1-D integer tile, got {x.dtype} {x.shape}")
    inputs = [x]
    if isinstance(mask, tensor) and mask.const is None:
        inputs.append(mask)  # a mask computed from data: counted when it is ready
        keep = None
    else:
        keep = _mask_values(mask, x.shape, "histogram")
        if keep is not None:
            inputs.append(_const(_program(), keep))

    def count(values: np.ndarray, *masks: np.ndarray) -> np.ndarray:
        chosen = values[masks[0].astype(np.bool_)] if masks else values
        chosen = chosen[(chosen >= 0) & (chosen < bins)].astype(np.int64)
        return np.bincount(chosen, minlength=bins).astype(np.int32)

    return _math_op("histogram", tuple(inputs), (bins,), int32, count, cost_key="reduce",
                    elements=math.prod(x.shape))  # fmt: skip


def _minor_axis(name: str, x: Any, dim: Any) -> tuple[tensor, int]:
    """The tile and the size of its last axis, which ``dim`` (None or that axis) names
    and whose size is a power of 2 (Triton sorts only there)."""
    x = _check_block(name, x)
    if not x.shape:
        raise usage_error(f"tl.{name} needs a tile with an axis, got a scalar")
    last = len(x.shape) - 1
    dim = last if dim is None else int(getattr(dim, "value", dim))
    if dim % len(x.shape) != last:
        raise usage_error(f"tl.{name}: only the last axis ({last}) is supported, as in Triton; "
                          f"got dim={dim}")  # fmt: skip
    n = x.shape[last]
    if n & (n - 1):
        raise usage_error(f"tl.{name}: the last axis has size {n}, not a power of 2")
    return x, n


def _sorted(values: np.ndarray, descending: bool) -> np.ndarray:
    ordered = np.sort(values, axis=-1, kind="stable")
    return ordered[..., ::-1] if descending else ordered


def _place() -> str:
    """``kernel 'name', line file:line`` of the call being issued, for errors found when
    its data arrives."""
    return f"kernel {_program().kernel_name!r}, line {call_site()}"


def _check_indices(indices: np.ndarray, size: int, axis: int, place: str | None) -> None:
    bad = indices[(indices < 0) | (indices >= size)]
    if bad.size:
        message = f"tl.gather: index {int(bad.flat[0])} is outside axis {axis} of size {size}"
        if place is None:
            raise usage_error(message)
        raise KernelUsageError(f"{message} ({place})")
