"""Host-side tensor descriptors: Triton's ``triton.tools.tensor_descriptor.TensorDescriptor``.

A :class:`TensorDescriptor` names a device tensor seen as ``shape`` with ``strides`` and
the ``block_shape`` a kernel's loads and stores move. Passed to a launch, each program
gets the device-side descriptor (:class:`simulator.language.descriptors.tensor_descriptor`)
over the tensor, built when the launch starts: an autotuning ``pre_hook`` may set
``block_shape`` for its config first, as Triton's tutorials do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.language.core import TensorView
from simulator.language.descriptors import make_tensor_descriptor, tensor_descriptor


@dataclass
class TensorDescriptor:
    """A device tensor ``base`` as ``shape`` with element ``strides`` (the last 1), moved
    in blocks of ``block_shape``; padding "zero" or "nan" where a block leaves it."""

    base: Any
    shape: list[int]
    strides: list[int]
    block_shape: list[int]
    padding: str = "zero"

    @staticmethod
    def from_tensor(tensor: Any, block_shape: list[int], padding: str = "zero") -> TensorDescriptor:
        """The descriptor of a whole tensor (its shape and strides)."""
        return TensorDescriptor(tensor, list(tensor.shape), list(tensor.stride()),
                                list(block_shape), padding)  # fmt: skip

    @property
    def runtime(self) -> Any:
        """The runtime of its tensor (how ``kernel[grid](desc, ...)`` finds where to run)."""
        return self.base.runtime

    def on_device(self, view: TensorView) -> tensor_descriptor:
        """The device-side descriptor over ``view`` (the tensor as a program sees it)."""
        return make_tensor_descriptor(view, self.shape, self.strides, self.block_shape,
                                      self.padding)  # fmt: skip
