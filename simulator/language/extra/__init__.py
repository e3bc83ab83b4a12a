"""``tl.extra``: Triton's extra namespaces, so ``from triton.language.extra import
libdevice`` reads ``from simulator.language.extra import libdevice``."""

from simulator.language.extra import cuda, libdevice

__all__ = ["cuda", "libdevice"]
