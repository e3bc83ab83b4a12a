"""Triton's host-side names over the simulator: ``import simulator.triton as triton``
beside ``import simulator.language as tl`` and a Triton file runs unchanged otherwise.

``triton.jit``, ``triton.autotune``, ``triton.heuristics``, ``triton.Config``,
``triton.cdiv``, ``triton.next_power_of_2``, ``triton.language`` (the ``tl`` module),
``triton.testing`` (``do_bench``, ``perf_report``, ``Benchmark``, ``assert_close``),
``triton.tools.tensor_descriptor.TensorDescriptor`` and ``triton.runtime.driver`` (the
device's properties) are those of Triton; see
:mod:`simulator.language.autotune` for how autotuning runs on the simulated device and
:mod:`simulator.triton.testing` for how ``do_bench`` times it.
"""

from __future__ import annotations

from simulator import language
from simulator.language.autotune import Autotuner, Config, Heuristics, autotune, heuristics
from simulator.language.jit import JITFunction, jit
from simulator.triton import runtime, testing, tools

__all__ = ["Autotuner", "Config", "Heuristics", "JITFunction", "autotune", "cdiv",
           "heuristics", "jit", "language", "next_power_of_2", "runtime", "set_allocator",
           "testing", "tools"]  # fmt: skip


def cdiv(x: int, y: int) -> int:
    """Ceiling division of ints (``triton.cdiv``)."""
    return (x + y - 1) // y


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= ``n`` (``triton.next_power_of_2``)."""
    return 1 << (int(n) - 1).bit_length()


def set_allocator(allocator: object) -> None:
    """Triton's hook for the global scratch memory that device-side tensor descriptors
    need on a GPU (``triton.set_allocator(alloc_fn)``). Accepted and unused: a simulated
    descriptor needs no scratch, so a kernel using them runs without it too."""
