"""``triton.tools``: the host-side tensor descriptor (``triton.tools.tensor_descriptor``)."""

from simulator.triton.tools import tensor_descriptor

__all__ = ["tensor_descriptor"]
