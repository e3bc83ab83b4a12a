"""``tl.extra.cuda.libdevice``: the same functions as :mod:`simulator.language.extra.libdevice`
(``from triton.language.extra.cuda.libdevice import tanh`` reads the same here)."""

from simulator.language.extra.libdevice import FUNCTIONS, __dir__, __getattr__

__all__ = ["FUNCTIONS", "__dir__", "__getattr__"]
