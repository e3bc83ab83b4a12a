"""Errors a simulation raises for problems the user can cause.

Each carries the facts that locate the problem (kernel, PE, sizes, simulated time) in its
message, so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations


class SimulationError(Exception):
    """Base class of every user-facing simulation error."""


class DeadlockError(SimulationError):
    """Every live task is blocked and no simulated event is pending."""


class KernelError(SimulationError):
    """A kernel program raised; the message names kernel, program id, PE and time."""


class TcmOverflowError(SimulationError):
    """A block does not fit in a PE's TCM even after every in-flight op has finished."""


class LaunchError(SimulationError):
    """A launch or its arguments are invalid (bad target PEs, missing shard, ...)."""
