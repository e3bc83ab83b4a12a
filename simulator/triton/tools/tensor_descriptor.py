"""``from triton.tools.tensor_descriptor import TensorDescriptor``, over the simulator."""

from simulator.runtime.descriptor import TensorDescriptor

__all__ = ["TensorDescriptor"]
