"""``torch.distributed``, shaped for the simulator: collectives between spawned ranks.

Ranks come from :func:`simulator.runtime.multiprocessing.spawn` and share one Runtime.
A rank is one PE: rank ``r`` runs on ``pes[r]`` (default: the device's PEs in global
order). Its tensors live on that PE (``placement=dist.get_placement()``).

A collective is a rendezvous: the i-th collective call of every rank is one collective,
and when the last rank joins it becomes one kernel launch over all ranks' PEs (no
nested ``env.run``: waiting ranks are blocked tasks). ``all_reduce`` waits for the
result unless ``async_op=True`` (then ``Work.wait()`` does). A host read of a tensor
(``numpy()``, ``repr``, indexing) also waits for the collectives the reading rank has
joined -- never for one it has not joined, which could only finish after it did -- and
from the host (outside any rank) for every pending collective.

Algorithms come from ``ccl.yaml`` (``simulator.ccl.registry``) unless named.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.ccl.registry import get_algorithm
from simulator.engine.errors import SimulationError
from simulator.hw.topology import PeCoord, list_topologies, load_topology
from simulator.runtime import collectives
from simulator.runtime.multiprocessing import RankAbortedError, SpawnWorld, current_rank
from simulator.runtime.placement import Placement
from simulator.runtime.tensor import Tensor

if TYPE_CHECKING:
    import simpy

    from simulator.runtime.runtime import Runtime

BACKENDS = ("ccl",)


class DistError(SimulationError, RuntimeError):
    """A dist call that cannot work: no process group, mismatched collectives, too few
    PEs, a call from outside a spawned rank."""


class ReduceOp(enum.StrEnum):
    """How ``all_reduce`` combines the ranks' values (element-wise)."""

    SUM = "sum"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


@dataclass
class _Pending:
    """One collective call, joined by the ranks one by one."""

    seq: int
    kind: str
    signature: tuple
    done: simpy.Event
    tensors: dict[int, Tensor] = field(default_factory=dict)
    joined: set[int] = field(default_factory=set)
    collective: collectives.Collective | None = None


class Work:
    """Handle of an ``async_op=True`` collective (as ``torch.distributed.Work``)."""

    def __init__(self, group: ProcessGroup, entry: _Pending, rank: int) -> None:
        self._group = group
        self._entry = entry
        self._rank = rank

    def wait(self, timeout: Any = None) -> bool:
        """Block this rank until the collective has finished; raise its error if it
        failed (DeadlockError if it never can)."""
        entry = self._entry
        missing = sorted(set(range(self._group.world_size)) - entry.joined)
        shown = ", ".join(str(r) for r in missing[:8]) + (", ..." if len(missing) > 8 else "")
        what = f"{entry.kind} #{entry.seq} (rank {self._rank})"
        if missing:
            what += f", ranks {shown} not joined at t={self._group.runtime.now_ns:.1f} ns"
        self._group.runtime.machine.scheduler.wait(entry.done, what)
        return True

    def is_completed(self) -> bool:
        """True once the collective has finished (successfully or not)."""
        return self._entry.done.processed

    @property
    def collective(self) -> collectives.Collective | None:
        """The collective's record (ids, algorithm, start/end times) once launched."""
        return self._entry.collective


class ProcessGroup:
    """The ranks of one spawn, their PEs, and their collectives in flight."""

    def __init__(
        self,
        world: SpawnWorld,
        backend: str,
        world_size: int,
        pes: Sequence[int | PeCoord] | None,
        algorithm: str | None,
        collective_model: str | None = None,
    ) -> None:
        runtime = world.runtime
        self.world = world
        self.runtime = runtime
        self.backend = backend
        self.world_size = world_size
        self.algorithm = get_algorithm(algorithm).name
        self.collective_model = collective_model
        if pes is None:
            device = runtime.device_pes
            if world_size > len(device):
                raise DistError(too_few_pes(world_size, runtime))
            self.pes = list(device[:world_size])
        else:
            if len(pes) != world_size:
                raise DistError(
                    f"init_process_group: {len(pes)} PEs for world_size "
                    f"{world_size}; give one PE per rank"
                )
            self.pes = Placement(pes=tuple(pes)).targets(runtime.topology, runtime.sips)
        get_algorithm(self.algorithm).check_ranks(self.pes)
        self.next_seq = [0] * world_size
        self.pending: dict[int, _Pending] = {}
        self.ended: dict[int, str] = {}
        self.destroyed: set[int] = set()
        runtime.read_barriers.append(self.read_barrier)
        world.on_rank_end.append(self.rank_ended)

    # -- rendezvous ----------------------------------------------------------------------
    def join(self, rank: int, kind: str, signature: tuple, tensor: Tensor | None) -> _Pending:
        """Add ``rank``'s call to its next collective; the last rank to join starts it.

        Raises DistError when the ranks' calls do not match (every rank sees it).
        """
        seq = self.next_seq[rank]
        self.next_seq[rank] += 1
        entry = self.pending.get(seq)
        if entry is None:
            entry = self.pending[seq] = _Pending(
                seq, kind, signature, self.runtime.machine.env.event()
            )
            entry.done.callbacks.append(lambda event, e=entry: self._finished(e, event))
            for gone, how in self.ended.items():
                self._abort(entry, gone, how)
        elif (kind, signature) != (entry.kind, entry.signature):
            error = DistError(
                f"collective #{seq} mismatch: rank {rank} called {kind}{_show(signature)} "
                f"but rank {min(entry.joined)} called {entry.kind}{_show(entry.signature)}"
            )
            self._fail(entry, error)
            raise error
        entry.joined.add(rank)
        if tensor is not None:
            entry.tensors[rank] = tensor
        if len(entry.joined) == self.world_size and not entry.done.triggered:
            self._start(entry)
        return entry

    def _start(self, entry: _Pending) -> None:
        try:
            if entry.kind == "all_reduce":
                _, _, op, algorithm = entry.signature
                tensors = [entry.tensors[r] for r in range(self.world_size)]
                coll = collectives.all_reduce(
                    self.runtime,
                    tensors,
                    pes=self.pes,
                    algorithm=algorithm,
                    op=op,
                    model=self.collective_model,
                )
            else:
                coll = collectives.barrier(self.runtime, self.pes)
        except Exception as exc:
            self._fail(entry, exc)
            raise
        entry.collective = coll
        coll.done.callbacks.append(lambda event: self._collective_done(entry, event))

    def _collective_done(self, entry: _Pending, event: simpy.Event) -> None:
        if event.ok:
            entry.done.succeed(entry.collective)
        else:
            event.defused = True
            self._fail(entry, event.value)

    def _fail(self, entry: _Pending, error: BaseException) -> None:
        if not entry.done.triggered:
            entry.done.fail(error)
            entry.done.defused = True  # each waiting rank raises it; no one else must

    def _finished(self, entry: _Pending, event: simpy.Event) -> None:
        if event.ok:
            self.pending.pop(entry.seq, None)

    def _abort(self, entry: _Pending, rank: int, how: str) -> None:
        if rank not in entry.joined:
            self._fail(
                entry,
                RankAbortedError(
                    f"{entry.kind} #{entry.seq} can never complete: rank {rank} {how} without "
                    "joining it"
                ),
            )

    def rank_ended(self, rank: int, error: BaseException | None) -> None:
        """A rank returned or failed: abort every collective it will never join."""
        how = "returned" if error is None else f"failed ({type(error).__name__})"
        self.ended[rank] = how
        for entry in list(self.pending.values()):
            self._abort(entry, rank, how)

    # -- host reads ----------------------------------------------------------------------
    def read_barrier(self) -> None:
        """Wait for the pending collectives the reader has joined (all of them when the
        reader is the host, not a rank)."""
        ctx = current_rank()
        mine = ctx is not None and ctx.world is self.world
        if ctx is not None and not mine:
            return
        for entry in list(self.pending.values()):
            if entry.done.triggered:
                continue
            if mine and ctx.rank not in entry.joined:
                continue
            Work(self, entry, ctx.rank if mine else -1).wait()


def _show(signature: tuple) -> str:
    if not signature:
        return "()"
    shape, dtype, op, algorithm = signature
    return f"({dtype}{list(shape)}, op={op}, algorithm={algorithm})"


def too_few_pes(world_size: int, runtime: Runtime) -> str:
    """The error text for a world larger than the device, naming topologies that fit."""
    fits = [name for name in list_topologies() if load_topology(name).num_pes >= world_size]
    hint = f"; use a topology with enough PEs ({', '.join(fits)})" if fits else ""
    return (
        f"world_size {world_size} needs {world_size} PEs but topology "
        f"{runtime.topology.name!r} has {len(runtime.device_pes)} on the selected "
        f"device{hint}"
    )


# -- the torch.distributed API ---------------------------------------------------------
def _rank_context(call: str):
    ctx = current_rank()
    if ctx is None:
        raise DistError(
            f"dist.{call} must be called from a rank started by "
            "simulator.runtime.multiprocessing.spawn"
        )
    return ctx


def _group(call: str):
    ctx = _rank_context(call)
    group = ctx.world.group
    if group is None or ctx.rank in group.destroyed:
        raise DistError(f"dist.{call}: no process group; call dist.init_process_group first")
    return ctx, group


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: Any = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
    *,
    runtime: Runtime | None = None,
    algorithm: str | None = None,
    pes: Sequence[int | PeCoord] | None = None,
    collective_model: str | None = None,
) -> None:
    """Join this rank to the process group of its spawn (the first call creates it).

    ``world_size`` defaults to the spawn's ``nprocs`` and must equal it; ``rank``, if
    given, must be the spawned rank. Extensions: ``algorithm`` (default all-reduce
    algorithm, else ``ccl.yaml``'s), ``pes`` (one PE per rank), ``collective_model``
    (``fine`` or ``coarse``, else ``ccl.yaml``'s). ``init_method``,
    ``timeout``, ``store``, ``group_name``, ``pg_options`` and ``device_id`` are ignored.
    Raises DistError (bad backend, world size or rank, too few PEs: naming topologies
    that fit) or CclError (unknown algorithm, listing the valid ones).
    """
    ctx = _rank_context("init_process_group")
    world = ctx.world
    backend = backend or BACKENDS[0]
    if backend not in BACKENDS:
        raise DistError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if world_size == -1:
        world_size = world.nprocs
    if world_size != world.nprocs:
        raise DistError(
            f"init_process_group: world_size {world_size} but spawn started {world.nprocs} ranks"
        )
    if rank not in (-1, ctx.rank):
        raise DistError(f"init_process_group: rank={rank} called from spawned rank {ctx.rank}")
    if runtime is not None and runtime is not world.runtime:
        raise DistError("init_process_group: runtime differs from the one passed to spawn")
    group = world.group
    if group is None:
        world.group = ProcessGroup(world, backend, world_size, pes, algorithm, collective_model)
        return
    group.destroyed.discard(ctx.rank)
    if algorithm is not None and get_algorithm(algorithm).name != group.algorithm:
        raise DistError(
            f"init_process_group: rank {ctx.rank} asks for algorithm "
            f"{algorithm!r} but the group uses {group.algorithm!r}"
        )


def destroy_process_group(group: Any = None) -> None:
    """Leave the process group; once every rank has left it is gone."""
    ctx, pg = _group("destroy_process_group")
    pg.destroyed.add(ctx.rank)
    if len(pg.destroyed) == pg.world_size:
        pg.runtime.read_barriers.remove(pg.read_barrier)
        ctx.world.group = None


def is_initialized() -> bool:
    """True inside a rank whose process group exists."""
    ctx = current_rank()
    return bool(ctx and ctx.world.group is not None and ctx.rank not in ctx.world.group.destroyed)


def get_rank(group: Any = None) -> int:
    """This rank's index."""
    ctx, _ = _group("get_rank")
    return ctx.rank


def get_world_size(group: Any = None) -> int:
    """Number of ranks in the group."""
    _, pg = _group("get_world_size")
    return pg.world_size


def get_placement(rank: int | None = None) -> Placement:
    """Where a rank's tensors go: its own PE (this rank's by default)."""
    ctx, pg = _group("get_placement")
    rank = ctx.rank if rank is None else rank
    if not 0 <= rank < pg.world_size:
        raise DistError(f"get_placement: rank {rank} out of range 0..{pg.world_size - 1}")
    return Placement.single(pg.pes[rank])


def all_reduce(
    tensor: Tensor,
    op: ReduceOp | str = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    *,
    algorithm: str | None = None,
) -> Work | None:
    """Reduce ``tensor`` across all ranks, in place (every rank gets the result).

    Blocks this rank until done unless ``async_op`` (then returns a :class:`Work`).
    ``algorithm`` overrides the group's. Raises DistError for mismatched calls across
    ranks, CclError for an unknown algorithm or op; ranks waiting for a failed rank get
    RankAbortedError.
    """
    ctx, pg = _group("all_reduce")
    if not isinstance(tensor, Tensor):
        raise DistError(f"all_reduce expects a Tensor, got {type(tensor).__name__}")
    try:
        op_name = ReduceOp(op).value
    except ValueError:
        valid = ", ".join(o.value for o in ReduceOp)
        raise DistError(f"unknown reduce op {op!r}; valid: {valid}") from None
    name = get_algorithm(algorithm or pg.algorithm).name
    collectives.check_rank_tensors([tensor], "all_reduce")
    signature = (tensor.shape, str(tensor.dtype), op_name, name)
    entry = pg.join(ctx.rank, "all_reduce", signature, tensor)
    work = Work(pg, entry, ctx.rank)
    if async_op:
        return work
    work.wait()
    return None


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Wait until every rank has reached this barrier (one empty launch over their PEs)."""
    ctx, pg = _group("barrier")
    entry = pg.join(ctx.rank, "barrier", (), None)
    work = Work(pg, entry, ctx.rank)
    if async_op:
        return work
    work.wait()
    return None
