"""``tl.extra.cuda``: where Triton also keeps ``libdevice`` (``tl.extra.cuda.libdevice``),
and the programmatic dependent launch calls ``gdc_wait`` and ``gdc_launch_dependents``."""

from simulator.language.extra.cuda import libdevice

__all__ = ["gdc_launch_dependents", "gdc_wait", "libdevice"]


def gdc_wait() -> None:
    """Wait for the previous kernel on the stream (CUDA's programmatic dependent launch).
    A launch here starts after the stream's previous launch has ended, so there is
    nothing left to wait for: a no-op, as on a GPU without ``launch_pdl``."""


def gdc_launch_dependents() -> None:
    """Let the next kernel on the stream start early (CUDA's programmatic dependent
    launch). Launches here run one after another on a stream: a no-op, as Triton
    documents it when programmatic dependent launch is off."""
