"""Errors a simulation raises for problems the user can cause.

Each carries the facts that locate the problem (kernel, PE, sizes, simulated time) in its
message, so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from pathlib import Path
from types import TracebackType

DEBUG_ENV = "KERNBENCH_DEBUG"  # set (not "0") to keep full tracebacks of simulation errors

_SIMULATOR = Path(__file__).resolve().parent.parent
# The simulator's machinery: frames in here are never "the user's line". Kernels
# (workloads/, ccl/ algorithms) are user code as far as an error report goes.
_MACHINERY = tuple(str(_SIMULATOR / part) for part in ("engine", "language", "runtime", "hw"))
_LIBRARIES = tuple(
    str(Path(path).resolve())
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


# How a message names the type a value should have had ("'x' is not an integer").
_TYPE_PHRASES = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}


def type_phrase(kind: type) -> str:
    """``kind`` as an error message says it: "an integer", "a number", else "a NAME"."""
    return _TYPE_PHRASES.get(kind, f"a {kind.__name__}")


def debug_enabled() -> bool:
    """Whether full tracebacks were asked for (``--debug`` or KERNBENCH_DEBUG=1)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def user_line(tb: TracebackType | None) -> str | None:
    """``file:line: source`` of the innermost frame of ``tb`` in the user's code (not the
    simulator's machinery, the standard library or an installed package), or None."""
    found = None
    for frame in traceback.extract_tb(tb):
        path = str(Path(frame.filename).resolve())
        if (
            path.startswith(_MACHINERY)
            or path.startswith(_LIBRARIES)
            or frame.filename.startswith("<")
        ):
            continue
        found = frame
    if found is None:
        return None
    where = f"{found.filename}:{found.lineno}"
    return f"{where}: {found.line.strip()}" if found.line else where


class SimulationError(Exception):
    """Base class of every user-facing simulation error."""


class DeadlockError(SimulationError):
    """Every live task is blocked and no simulated event is pending."""


class DeviceFailedError(SimulationError):
    """The simulated device stopped at an error raised while an op ran (a failed
    ``tl.device_assert``, a page fault): the programs then running cannot finish, so
    nothing after can run on that machine."""


class KernelError(SimulationError):
    """A kernel program raised; the message names kernel, program id, PE, time and the
    line of the user's kernel that raised."""


class TcmOverflowError(SimulationError):
    """A block does not fit in a PE's TCM even after every in-flight op has finished."""


class LaunchError(SimulationError):
    """A launch or its arguments are invalid (bad target PEs, missing shard, ...)."""
