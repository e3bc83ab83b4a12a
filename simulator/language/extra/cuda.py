"""``tl.extra.cuda``: where older Triton kept ``libdevice`` (``tl.extra.cuda.libdevice``)."""

from simulator.language import libdevice

__all__ = ["libdevice"]
