"""Engine ops and the blocks they produce, with the cost formula of each kind of op.

Lifecycle of an op: issued (queued on its engine, in program order) -> ready (every input
block is ready) -> running (its engine is free and it is at the head of the queue) ->
done (its output block is ready; in data mode its numpy result is computed now, so reads
see exactly the writes that finished before them).

Costs (all hardware numbers from the topology):

- GEMM on an R x C systolic array: ``ceil(M/R) * ceil(N/C) * K + fill_drain_cycles``
  cycles at ``pe.clock_ghz``; FLOPs = 2MNK.
- MATH: ``ceil(elements / lanes) * cycles_per_op[op]`` cycles.
- DMA: ``dma_overhead_ns`` + the source memory's access latency + the route's latency,
  then the bytes stream at the network's max-min fair rate (see ``hw.network``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from mypy_extensions import mypyc_attr

if TYPE_CHECKING:
    from simulator.engine.pe import PE, Program
    from simulator.hw.links import Route

ENGINES = ("DMA_IN", "GEMM", "MATH", "DMA_WB")


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled, while tl.tensor is a Block
class Block:
    """A tile in one PE's TCM: the future result of the op that produces it.

    States: pending -> ready. It holds ``nbytes`` of TCM from creation until the last
    reference to it is dropped (the kernel's variable and every queued op that reads it),
    which CPython's reference counting makes deterministic. ``data`` is a numpy array in
    data mode, else None.
    """

    __slots__ = ("shape", "valid", "dtype", "nbytes", "pe", "ready", "data", "waiters")

    def __init__(self, pe: PE, shape: tuple[int, ...], dtype: np.dtype, nbytes: int) -> None:
        self.shape = shape
        # The part holding real data (a tile clipped at a tensor's edge is zero-padded
        # past it): FLOPs count only this part, time covers the whole tile.
        self.valid = shape
        self.dtype = dtype
        self.nbytes = nbytes
        self.pe = pe
        self.ready = False
        self.data: Any = None  # an np.ndarray once computed, in data mode
        # Ops, and the kernel language's waiters that look like one (``pending_inputs``
        # and ``engine.try_start``): duck-typed, so Any.
        self.waiters: list[Any] = []

    def __del__(self) -> None:
        # try/except rather than contextlib.suppress: free when nothing is raised, and
        # this runs for every block.
        try:  # noqa: SIM105
            self.pe.tcm_used_bytes -= self.nbytes
        except AttributeError:  # __init__ interrupted (Ctrl-C) before it held any TCM
            pass

    def set_ready(self, cause: str = "input", by: Op | None = None) -> None:
        """Mark ready and let every op waiting on this block try to start.

        ``by`` is the op whose end made it ready and ``cause`` why its waiters waited
        (``traces.schema.DEPS``): they record it if this release starts them."""
        self.ready = True
        waiters, self.waiters = self.waiters, []
        for op in waiters:
            op.pending_inputs -= 1
            if op.pending_inputs == 0:
                op.engine.try_start(cause, by)


class Op:
    """One engine op. ``pieces`` (DMA only) lists ``(route, nbytes, tag)`` transfers."""

    __slots__ = (
        "op_id",
        "name",
        "engine",
        "program",
        "inputs",
        "output",
        "pending_inputs",
        "duration_ns",
        "pieces",
        "pieces_left",
        "execute",
        "flops",
        "nbytes",
        "issue_ns",
        "start_ns",
        "lane",
        "token",
        "done",
        # The deps row of what its start waited for, set by its engine when it starts
        # while tracing (unset otherwise): the key of its keyed columns, on_id,
        # ready_ns and wait_ns (simulator.engine.recorder.Recorder.op_dep_keys).
        "dep_key",
        "dep_on_id",
        "dep_ready_ns",
        "dep_wait_ns",
    )
    dep_key: int
    dep_on_id: int | None
    dep_ready_ns: float
    dep_wait_ns: float

    def __init__(
        self,
        name: str,
        program: Program,
        engine_name: str,
        inputs: tuple[Block, ...],
        output: Block | None,
        *,
        duration_ns: float = 0.0,
        pieces: list[tuple[Route, int, object]] | None = None,
        execute: Callable[[], None] | None = None,
        flops: int = 0,
        nbytes: int = 0,
    ) -> None:
        self.name = name
        self.program = program
        self.engine = program.pe.engines[engine_name]
        self.inputs = inputs
        self.output = output
        self.pending_inputs = 0
        self.duration_ns = duration_ns
        self.pieces = pieces
        self.pieces_left = 0
        self.execute = execute
        self.flops = flops
        self.nbytes = nbytes
        self.op_id = -1
        self.issue_ns = 0.0
        self.start_ns = 0.0
        self.lane = 0
        # A zero-byte block made ready when this op finishes, for ops that must wait
        # for it without consuming its output (memory ordering of loads and stores);
        # made on demand, when a later access must wait for this one.
        self.token: Block | None = None
        self.done = False


def gemm_duration_ns(
    m: int, n: int, k: int, rows: int, cols: int, fill_drain_cycles: int, clock_ghz: float
) -> float:
    """GEMM time on an R x C array: (ceil(M/R) * ceil(N/C) * K + fill/drain) / clock."""
    cycles = math.ceil(m / rows) * math.ceil(n / cols) * k + fill_drain_cycles
    return cycles / clock_ghz


def math_duration_ns(
    elements: int, lanes: int, cycles_per_element_op: int, clock_ghz: float
) -> float:
    """MATH time: ceil(elements / lanes) * cycles per op, at the PE clock."""
    return math.ceil(elements / lanes) * cycles_per_element_op / clock_ghz
