"""Triton's tensor descriptors: ``tl.make_tensor_descriptor`` and its ``load``/``store``
(also ``tl.load_tensor_descriptor``/``tl.store_tensor_descriptor``).

A descriptor names a 1-D or 2-D tensor (shape, strides with the last one 1, block shape);
``desc.load([m, n])`` is a block pointer's load of the block at those element offsets with
every dimension bounds-checked: what lies outside the tensor reads as the descriptor's
padding (zero, or NaN) and moves no bytes, and a store drops it. So a descriptor costs
what the same block pointer costs: one strided DMA per memory the tile touches.

``desc.atomic_add([m, n], value)`` (and ``atomic_min``, ``atomic_max``, ``atomic_and``,
``atomic_or``, ``atomic_xor``) reduces ``value`` into the block's elements inside the
tensor, as a TMA reduction does: the memory applies it as ``tl.atomic_add`` does, and it
is charged as that atomic's request alone (the operands travel as a store's would;
nothing comes back, and nothing is returned).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator.language.atomics import _atomic
from simulator.language.core import (
    TensorView,
    _base_view,
    _const,
    _program,
    _store,
    block_ptr,
    load,
    make_block_ptr,
    pointer,
    tensor,
    usage_error,
)

PADDINGS = ("zero", "nan")


class tensor_descriptor:  # noqa: N801 - Triton's name
    """A tensor, its strides and the block its loads and stores move (see the module)."""

    __slots__ = ("base", "shape", "strides", "block_shape", "padding_option")

    def __init__(self, base: TensorView, shape: tuple[int, ...], strides: tuple[int, ...],
                 block_shape: tuple[int, ...], padding_option: str) -> None:  # fmt: skip
        self.base = base
        self.shape = shape
        self.strides = strides
        self.block_shape = block_shape
        self.padding_option = padding_option

    @property
    def dtype(self) -> np.dtype:
        return self.base.element_dtype

    def load(self, offsets: Sequence[Any]) -> tensor:
        """The block at element ``offsets``, padded where it leaves the tensor."""
        return load(self._block(offsets), boundary_check=tuple(range(len(self.shape))),
                    padding_option=self.padding_option)  # fmt: skip

    def store(self, offsets: Sequence[Any], value: Any) -> None:
        """Write ``value`` to the block at element ``offsets`` (inside the tensor only)."""
        _store(self._block(offsets), value, boundary_check=tuple(range(len(self.shape))))

    def atomic_add(self, offsets: Sequence[Any], value: Any) -> None:
        """Add ``value`` into the block at ``offsets`` (inside the tensor only)."""
        self._reduce("add", offsets, value)

    def atomic_min(self, offsets: Sequence[Any], value: Any) -> None:
        """Lower the block's elements to ``value`` where it is smaller."""
        self._reduce("min", offsets, value)

    def atomic_max(self, offsets: Sequence[Any], value: Any) -> None:
        """Raise the block's elements to ``value`` where it is larger."""
        self._reduce("max", offsets, value)

    def atomic_and(self, offsets: Sequence[Any], value: Any) -> None:
        """Bitwise-and ``value`` into the block's (integer) elements."""
        self._reduce("and", offsets, value)

    def atomic_or(self, offsets: Sequence[Any], value: Any) -> None:
        """Bitwise-or ``value`` into the block's (integer) elements."""
        self._reduce("or", offsets, value)

    def atomic_xor(self, offsets: Sequence[Any], value: Any) -> None:
        """Bitwise-xor ``value`` into the block's (integer) elements."""
        self._reduce("xor", offsets, value)

    def _reduce(self, kind: str, offsets: Sequence[Any], value: Any) -> None:
        """The block's elements inside the tensor as a masked block of pointers, reduced
        by an atomic that returns nothing (see the module docstring)."""
        starts = self._offsets(offsets)
        index = [start + np.arange(size)
                 for start, size in zip(starts, self.block_shape, strict=True)]  # fmt: skip
        inside = [(i >= 0) & (i < n) for i, n in zip(index, self.shape, strict=True)]
        if len(index) == 2:
            flat = index[0][:, None] * self.strides[0] + index[1][None, :]
            keep = inside[0][:, None] & inside[1][None, :]
        else:
            flat, keep = index[0], inside[0]
        ptrs = pointer(self.base, np.where(keep, flat, 0).astype(np.int64))
        _atomic(kind, ptrs, (value,), _const(_program(), keep), None, None, returns_old=False)

    def _offsets(self, offsets: Sequence[Any]) -> tuple[int, ...]:
        offsets = tuple(int(getattr(o, "value", o)) for o in offsets)
        if len(offsets) != len(self.shape):
            raise usage_error(f"tensor descriptor of {self.base.name}: {len(offsets)} offsets "
                              f"for a {len(self.shape)}-D tensor")  # fmt: skip
        return offsets

    def _block(self, offsets: Sequence[Any]) -> block_ptr:
        offsets = self._offsets(offsets)
        order = (0,) if len(self.shape) == 1 else (1, 0)
        return make_block_ptr(self.base, self.shape, self.strides, offsets, self.block_shape,
                              order)  # fmt: skip

    def __repr__(self) -> str:
        return (f"tensor_descriptor({self.base.name}, shape={self.shape}, "
                f"block_shape={self.block_shape})")  # fmt: skip


def make_tensor_descriptor(base: Any, shape: Sequence[Any], strides: Sequence[Any],
                           block_shape: Sequence[Any],
                           padding_option: str = "zero") -> tensor_descriptor:  # fmt: skip
    """A descriptor of ``base`` (a tensor argument) seen as ``shape`` with ``strides`` (the
    last one 1), moved in blocks of ``block_shape``; 1-D or 2-D."""
    base = _base_view("tl.make_tensor_descriptor", base)
    dims = [tuple(int(getattr(v, "value", v)) for v in values)
            for values in (shape, strides, block_shape)]  # fmt: skip
    shape, strides, block_shape = dims
    if len({len(shape), len(strides), len(block_shape)}) != 1 or len(shape) not in (1, 2):
        raise usage_error(f"tl.make_tensor_descriptor: shape {shape}, strides {strides} and "
                          f"block_shape {block_shape} must all be 1-D or all 2-D here")  # fmt: skip
    if strides[-1] != 1:
        raise usage_error(f"tl.make_tensor_descriptor: the last stride must be 1, got {strides}")
    if padding_option not in PADDINGS:
        raise usage_error(f"tl.make_tensor_descriptor: padding_option {padding_option!r} is "
                          f"not one of {', '.join(PADDINGS)}")  # fmt: skip
    return tensor_descriptor(base, shape, strides, block_shape, padding_option)


def load_tensor_descriptor(desc: tensor_descriptor, offsets: Sequence[Any]) -> tensor:
    """``desc.load(offsets)``."""
    return _descriptor("load_tensor_descriptor", desc).load(offsets)


def store_tensor_descriptor(desc: tensor_descriptor, offsets: Sequence[Any], value: Any) -> None:
    """``desc.store(offsets, value)``."""
    _descriptor("store_tensor_descriptor", desc).store(offsets, value)


def _descriptor(name: str, desc: Any) -> tensor_descriptor:
    if not isinstance(desc, tensor_descriptor):
        raise usage_error(f"tl.{name} needs a tensor descriptor, got {type(desc).__name__}")
    return desc
