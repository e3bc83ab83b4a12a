"""``tl.extra.cuda``: where Triton also keeps ``libdevice`` (``tl.extra.cuda.libdevice``)."""

from simulator.language.extra.cuda import libdevice

__all__ = ["libdevice"]
