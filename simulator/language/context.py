"""The kernel a ``tl`` call runs in, and the error that names it.

Each program runs in its own greenlet, which carries the :class:`Program` as
``kb_program``; a ``tl`` call finds its program there (one attribute read, in
``core._program``) and, when its arguments are wrong, raises a :class:`KernelUsageError`
naming the kernel and the line of the user's code that made the call.
"""

from __future__ import annotations

import os
import sys

from greenlet import greenlet

from simulator.engine.errors import SimulationError

# The tl package's folder, with a separator: its modules and subpackages (extra/).
_LANG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class KernelUsageError(SimulationError):
    """A ``tl`` call got arguments it cannot use (shapes, dtypes, bad indices, outside a
    kernel) or asked for a Triton feature this simulator does not support."""


def call_site() -> str:
    """``file:line`` of the innermost caller outside the ``tl`` package (the kernel)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_LANG_DIR):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def usage_error(message: str) -> KernelUsageError:
    """A KernelUsageError naming the kernel and the line of the call."""
    program = getattr(greenlet.getcurrent(), "kb_program", None)
    kernel = f"kernel {program.kernel_name!r}, " if program is not None else ""
    return KernelUsageError(f"{message} ({kernel}line {call_site()})")
