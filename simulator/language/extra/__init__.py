"""``tl.extra``: Triton's extra namespaces, so ``from triton.language.extra import
libdevice`` reads ``from simulator.language.extra import libdevice``."""

from simulator.language import libdevice
from simulator.language.extra import cuda

__all__ = ["cuda", "libdevice"]
