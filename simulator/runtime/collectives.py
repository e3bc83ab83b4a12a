"""Host side of a collective: one kernel launch over the ranks' PEs, and its trace row.

``all_reduce(runtime, tensors, pes=...)`` takes one tensor per rank (rank ``r`` runs on
``pes[r]``), picks the algorithm from ``ccl.yaml`` (or the one named), checks the ranks
meet its topology requirement, and launches its kernel with a fresh ``coll_id``. The
launch is asynchronous like any other; the returned :class:`Collective` has a ``done``
event that fires once the ``collectives`` row is written (start = the ranks' common
start, end = the last rank's end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from simulator.ccl.registry import CclError, default_model, get_algorithm
from simulator.ccl.ring import REDUCERS
from simulator.engine.launch import Launch
from simulator.hw.rings import flat_ring_order
from simulator.hw.topology import PeCoord
from simulator.language.core import TensorView
from simulator.runtime.tensor import Tensor

if TYPE_CHECKING:
    import simpy

    from simulator.runtime.runtime import Runtime


@dataclass
class Collective:
    """One collective call: what it was and when it ran (simulated ns)."""

    coll_id: int
    op: str
    algorithm: str
    world_size: int
    nbytes: int
    dtype: np.dtype | None
    launch: Launch
    done: simpy.Event
    start_ns: float | None = None
    end_ns: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def latency_ns(self) -> float:
        """From the ranks' common start to the last rank's end (after ``done``)."""
        if self.start_ns is None or self.end_ns is None:
            raise CclError(f"collective {self.coll_id} has not finished")
        return self.end_ns - self.start_ns


class _RankBuffers(Tensor):
    """Each rank's own tensor, passed as one kernel argument: the program on ``pes[r]``
    gets a view of ``tensors[r]``."""

    def __init__(self, tensors: Sequence[Tensor], pes: Sequence[PeCoord], name: str) -> None:
        first = tensors[0]
        super().__init__(
            first.runtime,
            first.shape,
            first.dtype,
            first.placement,
            [t.shards[0] for t in tensors],
            name,
        )
        self._tensor_on = dict(zip(pes, tensors, strict=True))

    def view_for(self, coord: PeCoord) -> TensorView:
        tensor = self._tensor_on[coord]
        return tensor.view_for(tensor.shards[0].coord)


def check_rank_tensors(tensors: Sequence[Tensor], op: str) -> None:
    """Raise CclError unless every rank has one single-shard tensor of one shape/dtype."""
    if not tensors:
        raise CclError(f"{op} needs at least one rank tensor")
    first = tensors[0]
    for rank, t in enumerate(tensors):
        if len(t.shards) != 1:
            raise CclError(
                f"{op}: rank {rank}'s tensor {t.name!r} has {len(t.shards)} shards; a rank "
                "tensor must live on one PE (create it with placement=dist.get_placement())"
            )
        if t.shape != first.shape or t.dtype != first.dtype:
            raise CclError(
                f"{op}: rank {rank}'s tensor {t.name!r} is {t.shape} {t.dtype} but rank 0's is "
                f"{first.shape} {first.dtype}"
            )


def all_reduce(
    runtime: Runtime,
    tensors: Sequence[Tensor],
    *,
    pes: Sequence[PeCoord] | None = None,
    algorithm: str | None = None,
    op: str = "sum",
    model: str | None = None,
) -> Collective:
    """Launch an in-place all-reduce of ``tensors`` (one per rank); returns at once.

    ``pes[r]`` runs rank ``r`` (default: where each tensor lives). ``model`` is the
    collective model, ``fine`` or ``coarse`` (default: ``ccl.yaml``'s). Raises CclError
    for an unknown algorithm, model or reduce op (listing the valid ones), ranks the
    algorithm's topology requirement rejects, or rank tensors that differ or span
    several PEs.
    """
    if op not in REDUCERS:
        raise CclError(f"unknown reduce op {op!r}; valid: {', '.join(REDUCERS)}")
    spec = get_algorithm(algorithm, "all_reduce")
    model = model or default_model("all_reduce")
    kernel = spec.kernel(model)
    check_rank_tensors(tensors, "all_reduce")
    pes = list(pes) if pes is not None else [t.shards[0].coord for t in tensors]
    if len(pes) != len(tensors) or len(set(pes)) != len(pes):
        raise CclError(
            f"all_reduce: need one distinct PE per rank, got {len(pes)} PEs for "
            f"{len(tensors)} rank tensors"
        )
    spec.check_ranks(pes)
    machine = runtime.machine
    config = machine.ipcq.config
    if config.slots < 2:
        raise CclError(
            f"topology pe.ipcq.slots is {config.slots}; the CCL algorithms need at "
            "least 2 (one round being consumed, the next arriving)"
        )
    first = tensors[0]
    itemsize = first.dtype.itemsize
    sub_elems = max(1, min(spec.subchunk_bytes, config.slot_bytes) // itemsize)
    per_round = config.slots // 2
    order = flat_ring_order(machine.topology, pes)
    coll_id = machine.recorder.new_coll_id()
    buffers = _RankBuffers(tensors, pes, f"all_reduce{coll_id}")
    launch = runtime.launch(
        kernel,
        buffers,
        op,
        sub_elems,
        per_round,
        order,
        pes=pes,
        name=f"all_reduce.{spec.name}" + (".coarse" if model == "coarse" else ""),
        coll_id=coll_id,
    )
    coll = Collective(
        coll_id,
        "all_reduce",
        spec.name,
        len(pes),
        first.nbytes,
        first.dtype,
        launch,
        machine.env.event(),
    )
    launch.done.callbacks.append(lambda event: _finish(runtime, coll, event))
    return coll


def _barrier_kernel() -> None:
    """Nothing to do: the launch's start barrier is the synchronisation."""


def barrier(runtime: Runtime, pes: Sequence[PeCoord]) -> Collective:
    """Launch an empty kernel over ``pes`` (every rank starts it together); returns at
    once. Recorded as a ``collectives`` row with op ``barrier`` and 0 bytes."""
    machine = runtime.machine
    coll_id = machine.recorder.new_coll_id()
    launch = runtime.launch(
        _barrier_kernel, pes=list(pes), name="barrier", barrier=True, coll_id=coll_id
    )
    coll = Collective(coll_id, "barrier", "launch", len(pes), 0, None, launch, machine.env.event())
    launch.done.callbacks.append(lambda event: _finish(runtime, coll, event))
    return coll


def _finish(runtime: Runtime, coll: Collective, event: simpy.Event) -> None:
    if not event.ok:
        # Reported through coll.done (and to whoever synchronizes on the launch).
        event.defused = True
        coll.done.fail(event.value)
        coll.done.defused = True
        return
    launch = coll.launch
    coll.start_ns = min(p.exec_start_ns for p in launch.programs)
    coll.end_ns = launch.end_ns
    runtime.machine.recorder.row(
        "collectives",
        coll_id=coll.coll_id,
        op=coll.op,
        algorithm=coll.algorithm,
        world_size=coll.world_size,
        bytes=coll.nbytes,
        dtype=None if coll.dtype is None else str(coll.dtype),
        start_ns=coll.start_ns,
        end_ns=coll.end_ns,
    )
    coll.done.succeed(coll)
