"""Triton's atomics: ``tl.atomic_add``, ``atomic_max``, ``atomic_min``, ``atomic_and``,
``atomic_or``, ``atomic_xor``, ``atomic_xchg`` and ``atomic_cas`` on pointers.

Each is a read-modify-write done by the memory that holds the elements, and returns
the values the elements held before (a tile of the pointers' shape). It is charged as
the hardware carries it, in two DMA ops named after the atomic:

- the request, on DMA_WB: the operands (``val``; ``cmp`` and ``val`` for
  ``atomic_cas``) go from TCM to the memory over the routes a store of those elements
  takes, one element's operands per pointer the mask lets through (pointers to the same
  element each send theirs). When it ends, the memory has applied every update, in
  element order, at one instant: no other access comes between an element's read and
  its write, whichever programs race for it.
- the response, on DMA_IN, after the request: the old values come back to TCM over the
  routes a load of those elements takes.

So an atomic costs what a store of its operands and then a load of its results cost, on
the same routes and memories (no hardware number of its own). ``sem`` and ``scope`` are
checked and accepted: the simulator applies an atomic at one instant, which is as strong
as ``acq_rel`` at ``sys`` scope, and orders it after the program's earlier loads and
stores of the same bytes (and later ones after it) as a store is ordered.

Pointers: a block of pointers (``x_ptr + offsets``) or a tensor argument (its first
element), with index-value offsets and masks, as ``tl.load`` takes them. Block pointers
(``tl.make_block_ptr``) are refused, as Triton refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.engine.ops import Block, Op
from simulator.engine.pe import Program
from simulator.language import lowering
from simulator.language.core import (
    _NARROW_FLOATS,
    TensorView,
    _checked_offsets,
    _const,
    _mask_values,
    _new_block,
    _program,
    _span_access,
    bfloat16,
    block_ptr,
    broadcasts_to,
    pointer,
    tensor,
    usage_error,
)

SEMANTICS = ("acquire", "release", "acq_rel", "relaxed")
SCOPES = ("gpu", "cta", "sys")
_INTEGER_ONLY = ("and", "or", "xor")


def _exchange(_old: np.ndarray, val: np.ndarray) -> np.ndarray:
    return val


def _compare_and_swap(old: np.ndarray, cmp: np.ndarray, val: np.ndarray) -> np.ndarray:
    return np.where(old == cmp, val, old)


# New value of each element from its old value and the operands, by atomic kind.
_UPDATES: dict[str, Callable[..., np.ndarray]] = {
    "add": np.add,
    "max": np.maximum,
    "min": np.minimum,
    "and": np.bitwise_and,
    "or": np.bitwise_or,
    "xor": np.bitwise_xor,
    "xchg": _exchange,
    "cas": _compare_and_swap,
}


def atomic_add(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
               scope: str | None = None) -> tensor:  # fmt: skip
    """Add ``val`` to each element the pointers reach; returns the old values."""
    return _atomic("add", pointer, (val,), mask, sem, scope)


def atomic_max(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
               scope: str | None = None) -> tensor:  # fmt: skip
    """Set each element to the larger of it and ``val``; returns the old values."""
    return _atomic("max", pointer, (val,), mask, sem, scope)


def atomic_min(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
               scope: str | None = None) -> tensor:  # fmt: skip
    """Set each element to the smaller of it and ``val``; returns the old values."""
    return _atomic("min", pointer, (val,), mask, sem, scope)


def atomic_and(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
               scope: str | None = None) -> tensor:  # fmt: skip
    """Bitwise-and ``val`` into each (integer) element; returns the old values."""
    return _atomic("and", pointer, (val,), mask, sem, scope)


def atomic_or(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
              scope: str | None = None) -> tensor:  # fmt: skip
    """Bitwise-or ``val`` into each (integer) element; returns the old values."""
    return _atomic("or", pointer, (val,), mask, sem, scope)


def atomic_xor(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
               scope: str | None = None) -> tensor:  # fmt: skip
    """Bitwise-xor ``val`` into each (integer) element; returns the old values."""
    return _atomic("xor", pointer, (val,), mask, sem, scope)


def atomic_xchg(pointer: Any, val: Any, mask: Any = None, sem: str | None = None,
                scope: str | None = None) -> tensor:  # fmt: skip
    """Set each element to ``val``; returns the old values."""
    return _atomic("xchg", pointer, (val,), mask, sem, scope)


def atomic_cas(pointer: Any, cmp: Any, val: Any, sem: str | None = None,
               scope: str | None = None) -> tensor:  # fmt: skip
    """Set each element that equals ``cmp`` to ``val``; returns the old values (an
    element was swapped where its old value equals ``cmp``)."""
    return _atomic("cas", pointer, (cmp, val), None, sem, scope)


def _atomic(kind: str, target: Any, operands: tuple[Any, ...], mask: Any, sem: str | None,
            scope: str | None, returns_old: bool = True) -> tensor | None:  # fmt: skip
    """Issue the request and response ops of one atomic; returns the old values' tile.
    Without ``returns_old`` (a tensor descriptor's reduction) only the request is issued
    and nothing is returned."""
    name = f"atomic_{kind}"
    program = _program()
    if sem is not None and sem not in SEMANTICS:
        raise usage_error(f"tl.{name}: sem={sem!r} is not one of {', '.join(SEMANTICS)}")
    if scope is not None and scope not in SCOPES:
        raise usage_error(f"tl.{name}: scope={scope!r} is not one of {', '.join(SCOPES)}")
    ptr = _pointers(name, target)
    view, shape, dtype = ptr.base, ptr.shape, ptr.base.element_dtype
    if kind in _INTEGER_ONLY and dtype.kind not in "iu":
        raise usage_error(f"tl.{name}: {view.name} holds {dtype}; {name} needs integers")
    # Triton's atomic_add also takes bfloat16 (the sum rounds once per update).
    takes_narrow = ("xchg", "cas", "add") if dtype == bfloat16 else ("xchg", "cas")
    if dtype.kind == "b" or (dtype in _NARROW_FLOATS and kind not in takes_narrow):
        raise usage_error(f"tl.{name}: {view.name} holds {dtype}, which {name} does not take")
    values = tuple(_operand(name, program, value, shape, dtype) for value in operands)
    keep = _mask_values(mask, shape, name)
    flat = _checked_offsets(ptr, keep, name)
    if flat.size == 0 and not returns_old:
        return None
    out = _new_block(program, shape, dtype) if returns_old else None
    if flat.size == 0:  # every pointer masked off: nothing moves, nothing changes
        done = None
        if program.machine.data is not None:

            def done() -> None:
                out.data = np.zeros(shape, dtype)

        program.issue(Op(name, program, "DMA_IN", values, out, execute=done))
        return out
    # One run per contiguous stretch of the sorted offsets; a repeated element starts a
    # run of its own, so each pointer to it moves its own operands and old value.
    lane_runs = lowering.runs_of(np.sort(flat, kind="stable"))
    elements = np.unique(flat)
    element_runs = lowering.runs_of(elements)
    old_values: list[np.ndarray] = []
    apply = finish = None
    if program.machine.data is not None:
        update = _UPDATES[kind]

        def apply() -> None:
            current = np.concatenate(
                [lowering.read_run(program, view, first, n) for first, n in element_runs]
            )
            where = np.searchsorted(elements, flat)
            lanes = [np.broadcast_to(v.data, shape).reshape(-1) for v in values]
            if keep is not None:
                lanes = [lane[keep.reshape(-1)] for lane in lanes]
            lanes = [lane.astype(dtype) for lane in lanes]
            old = np.empty(flat.size, dtype)
            with np.errstate(all="ignore"):  # integers wrap, as the hardware's do
                if elements.size == flat.size:  # each element once: all at once
                    old[:] = current[where]
                    current[where] = update(old, *lanes).astype(dtype)
                else:  # an element several pointers reach: in element order
                    for lane, at in enumerate(where):
                        old[lane] = current[at]
                        args = [operand[lane] for operand in lanes]
                        current[at] = np.asarray(update(current[at], *args)).astype(dtype)
            done = 0
            for first, n in element_runs:
                lowering.write_run(program, view, first, current[done : done + n])
                done += n
            result = np.zeros(shape, dtype)
            if keep is None:
                result = old.reshape(shape)
            else:
                result[keep] = old
            old_values.append(result)

        def finish() -> None:
            out.data = old_values.pop()

    sent = len(operands)
    request = [(route, n * sent, info)
               for route, n, info in lowering.gather_pieces(program, view, lane_runs, False,
                                                            "atomic")]  # fmt: skip
    nbytes = int(flat.size) * dtype.itemsize
    access = _span_access(view, flat)
    applied = Block(program.pe, (), dtype, 0)  # ready when the memory has applied it
    inputs = (*values, *lowering.ordered_after(program, access, is_store=True))
    op = Op(name, program, "DMA_WB", inputs, applied, pieces=request, execute=apply,
            nbytes=nbytes * sent)  # fmt: skip
    lowering.track(program, op, access, is_store=True)
    program.issue(op)
    if not returns_old:
        return None
    response = lowering.gather_pieces(program, view, lane_runs, True, "atomic")
    program.issue(Op(name, program, "DMA_IN", (applied,), out, pieces=response,
                     execute=finish, nbytes=nbytes))  # fmt: skip
    return out


def _pointers(name: str, target: Any) -> pointer:
    """The block of pointers an atomic updates (a tensor argument: its first element)."""
    if isinstance(target, TensorView):
        return pointer(target, np.zeros((), np.int64))
    if isinstance(target, pointer):
        return target
    if isinstance(target, block_ptr):
        raise usage_error(
            f"tl.{name} takes a block of pointers (x_ptr + offsets), not a block pointer, "
            "as in Triton"
        )
    raise usage_error(f"tl.{name}: expected a pointer, got {type(target).__name__}")


def _operand(name: str, program: Program, value: Any, shape: tuple[int, ...],
             dtype: np.dtype) -> tensor:  # fmt: skip
    """An atomic's operand as a tile that broadcasts to the pointers' ``shape`` (a
    number becomes an index value of the tensor's dtype)."""
    if isinstance(value, (int, float, bool, np.number)):
        with np.errstate(all="ignore"):
            return _const(program, np.full(shape, value).astype(dtype))
    if not isinstance(value, tensor):
        raise usage_error(f"tl.{name}: operand must be a tensor or a number, "
                          f"got {type(value).__name__}")  # fmt: skip
    if not broadcasts_to(value.shape, shape):
        raise usage_error(f"tl.{name}: operand of shape {value.shape} does not broadcast to "
                          f"the pointers' shape {shape}")  # fmt: skip
    return value
