"""Megatron-LM's ``parallel_state``: which tensor-parallel group a rank belongs to.

State lives with the ranks of one ``multiprocessing.spawn`` (they share Python globals,
being tasks of one process), so two spawns never see each other's groups. Only tensor
parallelism is modelled: the tensor-parallel size must equal the number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.engine.errors import SimulationError
from simulator.runtime import dist
from simulator.runtime.multiprocessing import current_rank


class ParallelStateError(SimulationError, RuntimeError):
    """Model-parallel state used before ``initialize_model_parallel`` or set up wrongly."""


@dataclass(frozen=True)
class TensorParallelGroup:
    """The ranks that split each layer's weights; ``ranks[i]`` has TP rank ``i``."""

    ranks: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.ranks)


def _world(call: str):
    ctx = current_rank()
    if ctx is None:
        raise ParallelStateError(
            f"parallel_state.{call} must be called from a rank started by "
            "simulator.runtime.multiprocessing.spawn"
        )
    return ctx


def initialize_model_parallel(tensor_model_parallel_size: int = 1) -> None:
    """Split the ranks into tensor-parallel groups of ``tensor_model_parallel_size``.

    Needs ``dist.init_process_group`` first. Raises ParallelStateError when the size
    is not the world size (data parallelism is not modelled).
    """
    ctx = _world("initialize_model_parallel")
    if not dist.is_initialized():
        raise ParallelStateError("initialize_model_parallel: call dist.init_process_group() first")
    world_size = dist.get_world_size()
    if tensor_model_parallel_size != world_size:
        raise ParallelStateError(
            f"tensor_model_parallel_size={tensor_model_parallel_size} but the world has "
            f"{world_size} ranks; only tensor parallelism over all ranks is modelled"
        )
    ctx.world.tp_group = TensorParallelGroup(tuple(range(world_size)))


def model_parallel_is_initialized() -> bool:
    """True once ``initialize_model_parallel`` ran for this spawn (and not destroyed)."""
    ctx = current_rank()
    return ctx is not None and getattr(ctx.world, "tp_group", None) is not None


def _group(call: str) -> tuple[int, TensorParallelGroup]:
    ctx = _world(call)
    group = getattr(ctx.world, "tp_group", None)
    if group is None:
        raise ParallelStateError(
            f"parallel_state.{call}: model parallel state is not initialized; call "
            "initialize_model_parallel(tensor_model_parallel_size=...) first"
        )
    return ctx.rank, group


def get_tensor_model_parallel_group() -> TensorParallelGroup:
    """This rank's tensor-parallel group."""
    return _group("get_tensor_model_parallel_group")[1]


def get_tensor_model_parallel_world_size() -> int:
    """Number of ranks in this rank's tensor-parallel group."""
    return _group("get_tensor_model_parallel_world_size")[1].size


def get_tensor_model_parallel_rank() -> int:
    """This rank's index within its tensor-parallel group."""
    rank, group = _group("get_tensor_model_parallel_rank")
    return group.ranks.index(rank)


def destroy_model_parallel() -> None:
    """Forget the groups (every rank of the spawn sees them gone)."""
    ctx = _world("destroy_model_parallel")
    ctx.world.tp_group = None
