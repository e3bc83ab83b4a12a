"""Triton's tensor descriptors: ``tl.make_tensor_descriptor`` and its ``load``/``store``
(also ``tl.load_tensor_descriptor``/``tl.store_tensor_descriptor``).

A descriptor names a tensor of 1 to 5 dims (shape, strides with the last one 1, block
shape); ``desc.load([m, n])`` is a block pointer's load of the block at those element
offsets with every dimension bounds-checked: what lies outside the tensor reads as the
descriptor's padding (zero, or NaN) and moves no bytes, and a store drops it. So a
descriptor costs what the same block pointer costs: one strided DMA per memory the tile
touches. Past two dims (``[Z, H, N_CTX, HEAD_DIM]``) each index of the block's leading
dims picks a matrix of the tensor (attention kernels take one head at a time, blocks
``[1, 1, BLOCK_M, D]``; a batched matmul several, ``[2, BLOCK_M, BLOCK_K]``), and the
block is that matrix's tile, all padding for an index outside the tensor: one DMA op
moves every matrix's tile.

``desc.atomic_add([m, n], value)`` (and ``atomic_min``, ``atomic_max``, ``atomic_and``,
``atomic_or``, ``atomic_xor``) reduces ``value`` into the block's elements inside the
tensor, as a TMA reduction does: the memory applies it as ``tl.atomic_add`` does, and it
is charged as that atomic's request alone (the operands travel as a store's would;
nothing comes back, and nothing is returned).
"""

from __future__ import annotations

import functools
import operator
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
    block_ptr_nd,
    load,
    load_matrices,
    make_block_ptr,
    matrix_block,
    pointer,
    reshape,
    store_matrices,
    tensor,
    usage_error,
)

# boundary_check of a descriptor's block pointer: every dim (one for a 1-D one).
_BOTH = {False: (0, 1), True: (0,)}

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
        if self._matrices():
            block_nd = block_ptr_nd(self.base, self.shape, self.strides, self._offsets(offsets),
                                    self.block_shape)  # fmt: skip
            return load_matrices(_program(), block_nd, range(len(self.shape)),
                                 self.padding_option)  # fmt: skip
        block = self._block(offsets)
        tile = load(block, boundary_check=_BOTH[block.one_d], padding_option=self.padding_option)
        return tile if len(self.shape) <= 2 else reshape(tile, self.block_shape)

    def store(self, offsets: Sequence[Any], value: Any) -> None:
        """Write ``value`` to the block at element ``offsets`` (inside the tensor only)."""
        if self._matrices():
            block_nd = block_ptr_nd(self.base, self.shape, self.strides, self._offsets(offsets),
                                    self.block_shape)  # fmt: skip
            store_matrices(_program(), block_nd, value, range(len(self.shape)))
            return
        block = self._block(offsets)
        if len(self.shape) > 2 and isinstance(value, tensor):
            if value.shape != self.block_shape:
                raise usage_error(f"tensor descriptor of {self.base.name}: value shape "
                                  f"{value.shape} != block shape {self.block_shape}")  # fmt: skip
            value = reshape(value, self.block_shape[-2:])
        _store(block, value, boundary_check=_BOTH[block.one_d])

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
        ranges = [start + np.arange(size) for start, size in
                  zip(starts, self.block_shape, strict=True)]  # fmt: skip
        index = np.ix_(*ranges)
        flat = sum(i * stride for i, stride in zip(index, self.strides, strict=True))
        keep = functools.reduce(operator.and_, [(i >= 0) & (i < n) for i, n in
                                                 zip(index, self.shape, strict=True)])  # fmt: skip
        flat, keep = np.broadcast_arrays(flat, keep)
        ptrs = pointer(self.base, np.where(keep, flat, 0).astype(np.int64))
        _atomic(kind, ptrs, (value,), _const(_program(), keep), None, None, returns_old=False)

    def _matrices(self) -> bool:
        """Whether a block spans several matrices (a leading dim of the block past 1)."""
        return any(size != 1 for size in self.block_shape[:-2])

    def _offsets(self, offsets: Sequence[Any]) -> tuple[int, ...]:
        offsets = tuple(int(getattr(o, "value", o)) for o in offsets)
        if len(offsets) != len(self.shape):
            raise usage_error(f"tensor descriptor of {self.base.name}: {len(offsets)} offsets "
                              f"for a {len(self.shape)}-D tensor")  # fmt: skip
        return offsets

    def _block(self, offsets: Sequence[Any]) -> block_ptr:
        offsets = self._offsets(offsets)
        if len(self.shape) <= 2:
            order = (0,) if len(self.shape) == 1 else (1, 0)
            return make_block_ptr(self.base, self.shape, self.strides, offsets,
                                  self.block_shape, order)  # fmt: skip
        # Past two dims: the matrix the leading offsets pick, or none (all padding).
        return matrix_block("tensor descriptor", self.base, self.shape, self.strides, offsets,
                            self.block_shape, range(len(self.shape)))  # fmt: skip

    def __repr__(self) -> str:
        return (f"tensor_descriptor({self.base.name}, shape={self.shape}, "
                f"block_shape={self.block_shape})")  # fmt: skip


def make_tensor_descriptor(base: Any, shape: Sequence[Any], strides: Sequence[Any],
                           block_shape: Sequence[Any],
                           padding_option: str = "zero") -> tensor_descriptor:  # fmt: skip
    """A descriptor of ``base`` (a tensor argument) seen as ``shape`` with ``strides`` (the
    last one 1), moved in blocks of ``block_shape``; 1 to 5 dims (past two, each index
    of the block's leading dims one matrix of the tensor)."""
    base = _base_view("tl.make_tensor_descriptor", base)
    dims = [tuple(int(getattr(v, "value", v)) for v in values)
            for values in (shape, strides, block_shape)]  # fmt: skip
    shape, strides, block_shape = dims
    if len({len(shape), len(strides), len(block_shape)}) != 1 or not 1 <= len(shape) <= 5:
        raise usage_error(f"tl.make_tensor_descriptor: shape {shape}, strides {strides} and "
                          f"block_shape {block_shape} must have one entry per dim, 1 to 5 "
                          "dims")  # fmt: skip
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
