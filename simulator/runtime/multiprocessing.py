"""``torch.multiprocessing.spawn``, with ranks as cooperative tasks of the simulator.

``spawn(fn, args=(), nprocs=n)`` runs ``fn(rank, *args)`` for every rank, each in its
own task greenlet whose parent is the scheduler, all sharing one :class:`Runtime` (found
among ``args``, or passed as ``runtime=``). A rank blocks only on simulated events
(copies, launches, collectives), so the others run meanwhile; nothing is a real process.

Lifecycle of a rank: spawned -> running -> done or failed. When ranks fail, ``join``
raises one :class:`SpawnError` naming every failing rank and its error; ranks that were
waiting in a collective for a failed rank are aborted and listed too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.engine.errors import DeadlockError, SimulationError
from simulator.runtime.runtime import Runtime

if TYPE_CHECKING:
    import simpy


class SpawnError(SimulationError):
    """One or more spawned ranks raised; ``errors`` maps each failed rank to its error."""

    def __init__(self, message: str, errors: dict[int, BaseException]) -> None:
        super().__init__(message)
        self.errors = errors


class RankAbortedError(SimulationError):
    """A rank gave up waiting for a rank that had already failed or returned."""


@dataclass
class SpawnWorld:
    """What the ranks of one ``spawn`` share: the runtime, the process group (set by
    ``dist.init_process_group``), and how each rank ended."""

    runtime: Runtime
    nprocs: int
    all_done: simpy.Event
    group: Any = None
    errors: dict[int, BaseException] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    # Called with (rank, error or None) when a rank ends; dist aborts collectives here.
    on_rank_end: list[Callable[[int, BaseException | None], None]] = field(default_factory=list)

    def rank_ended(self, rank: int, event: simpy.Event) -> None:
        error = None
        if not event.ok:
            event.defused = True  # reported by join, not raised out of the scheduler
            error = self.errors[rank] = event.value
        self.finished.add(rank)
        for hook in self.on_rank_end:
            hook(rank, error)
        if len(self.finished) == self.nprocs:
            self.all_done.succeed()


@dataclass(frozen=True)
class RankContext:
    """What a rank's task knows about itself (``dist`` reads it)."""

    rank: int
    world: SpawnWorld


def current_rank() -> RankContext | None:
    """The rank context of the running task, or None outside spawned ranks."""
    from greenlet import greenlet

    return getattr(greenlet.getcurrent(), "kb_rank", None)


class ProcessContext:
    """Handle of a ``spawn(..., join=False)``: ``join()`` waits for every rank."""

    def __init__(self, world: SpawnWorld) -> None:
        self.world = world

    def pids(self) -> list[int]:
        """The ranks (there are no OS processes)."""
        return list(range(self.world.nprocs))

    def join(self, timeout: float | None = None) -> bool:
        """Block until every rank has ended; True when all succeeded.

        Raises SpawnError naming every failed rank and its error (DeadlockError, with
        the failures listed, when the remaining ranks can never finish).
        """
        world = self.world
        scheduler = world.runtime.machine.scheduler
        try:
            scheduler.wait(world.all_done, f"{world.nprocs} spawned ranks")
        except DeadlockError as exc:
            if world.errors:
                raise DeadlockError(f"{describe_failures(world)}\n{exc}") from None
            raise
        if world.errors:
            raise SpawnError(describe_failures(world), dict(world.errors))
        return True


def describe_failures(world: SpawnWorld) -> str:
    """One line per distinct error, root causes first, aborted ranks last."""
    groups: dict[tuple[bool, str], list[int]] = {}
    for rank, exc in sorted(world.errors.items()):
        text = str(exc) if isinstance(exc, SimulationError) else f"{type(exc).__name__}: {exc}"
        groups.setdefault((isinstance(exc, RankAbortedError), text), []).append(rank)
    lines = [f"{len(world.errors)} of {world.nprocs} ranks failed:"]
    for (_, text), ranks in sorted(groups.items(), key=lambda item: (item[0][0], item[1])):
        label = "rank" if len(ranks) == 1 else "ranks"
        lines.append(f"  {label} {_ranges(ranks)}: {text}")
    return "\n".join(lines)


def _ranges(ranks: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    parts = []
    start = prev = ranks[0]
    for rank in ranks[1:] + [None]:
        if rank is not None and rank == prev + 1:
            prev = rank
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = rank
    return ", ".join(parts)


def spawn(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
    *,
    runtime: Runtime | None = None,
) -> ProcessContext | None:
    """Run ``fn(rank, *args)`` for ranks ``0..nprocs-1`` as cooperative tasks.

    With ``join`` (the default) returns None once every rank has ended, else a
    :class:`ProcessContext` at once. ``daemon`` and ``start_method`` are accepted for
    PyTorch compatibility and ignored. Raises ValueError without a Runtime or with
    ``nprocs < 1``; SpawnError (from join) when ranks fail.
    """
    if runtime is None:
        runtime = next((a for a in args if isinstance(a, Runtime)), None)
    if runtime is None:
        raise ValueError("spawn needs the Runtime its ranks share: pass it in args or as runtime=")
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn: nprocs must be a positive int, got {nprocs!r}")
    scheduler = runtime.machine.scheduler
    world = SpawnWorld(runtime, nprocs, runtime.machine.env.event())
    for rank in range(nprocs):
        task = scheduler.spawn(fn, rank, *args, name=f"rank{rank}")
        context = RankContext(rank, world)
        task.context = context
        task.describe = f"rank {rank} of {nprocs}"
        task.greenlet.kb_rank = context  # how dist finds its rank: one attribute read
        task.process.callbacks.append(lambda event, r=rank: world.rank_ended(r, event))
    context = ProcessContext(world)
    if not join:
        return context
    context.join()
    return None
