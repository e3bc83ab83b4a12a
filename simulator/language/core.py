"""``tl``: the Triton-shaped kernel language.

Kernels are plain Python functions run once per target PE (a "program"). Each ``tl`` op
checks its arguments, then issues an op into one engine queue of the program's PE and
returns a :class:`block` (a future tile in TCM) without blocking. A kernel blocks only
where it must: when TCM is full until in-flight ops free space, and at its end until all
its ops are done.

Engines: ``load`` -> DMA_IN, ``dot`` -> GEMM, element-wise math and reductions -> MATH,
``store`` -> DMA_WB. Loads and stores take virtual addresses, translated by the MMU of
the runtime context that launched the kernel.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from greenlet import greenlet

from simulator.engine.errors import SimulationError
from simulator.engine.machine import DmaInfo
from simulator.engine.ops import Block, Op, gemm_duration_ns, math_duration_ns
from simulator.engine.pe import Program

_TOKEN_DTYPE = np.dtype(np.uint8)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
int32 = np.dtype(np.int32)
int8 = np.dtype(np.int8)


class KernelUsageError(SimulationError):
    """A ``tl`` call got arguments it cannot use (shapes, dtypes, outside a kernel)."""


def _program() -> Program:
    program = getattr(greenlet.getcurrent(), "kb_program", None)
    if program is None:
        raise KernelUsageError("tl ops can only be called inside a kernel launched by a Runtime")
    return program


# -- kernel arguments ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TensorView:
    """What a kernel receives for a tensor: one shard's virtual address, shape and dtype.

    Row-major and contiguous: element (i, j) of a 2-D view lives at
    ``va + (i * shape[1] + j) * dtype.itemsize``.
    """

    va: int
    shape: tuple[int, ...]
    dtype: np.dtype
    name: str = "tensor"
    # Where this shard starts in the whole tensor (row, col); for kernels that need it.
    global_offset: tuple[int, ...] = (0, 0)

    @property
    def strides(self) -> tuple[int, ...]:
        """Element strides (row-major)."""
        if len(self.shape) == 1:
            return (1,)
        return (self.shape[1], 1)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


@dataclass(frozen=True, slots=True)
class block_ptr:  # noqa: N801 - named like Triton's
    """A 2-D tile of a tensor view: ``offsets`` and ``block_shape`` in elements."""

    base: TensorView
    offsets: tuple[int, int]
    block_shape: tuple[int, int]


def make_block_ptr(
    base: TensorView,
    shape: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
    offsets: Sequence[int] = (0, 0),
    block_shape: Sequence[int] = (1, 1),
    order: Sequence[int] = (1, 0),
) -> block_ptr:
    """A block pointer as in Triton. ``shape``/``strides`` default to the view's own and
    must match it when given; only row-major ``order=(1, 0)`` is supported."""
    if not isinstance(base, TensorView):
        raise KernelUsageError(f"make_block_ptr needs a tensor argument, got {type(base).__name__}")
    view_shape = base.shape if len(base.shape) == 2 else (1, base.shape[0])
    view = base if len(base.shape) == 2 else TensorView(base.va, view_shape, base.dtype, base.name)
    if shape is not None and tuple(shape) != view_shape:
        raise KernelUsageError(f"make_block_ptr: shape {tuple(shape)} != {base.name} {view_shape}")
    if strides is not None and tuple(strides) != view.strides:
        raise KernelUsageError(
            f"make_block_ptr: strides {tuple(strides)} != {base.name} strides {view.strides}"
        )
    if tuple(order) != (1, 0):
        raise KernelUsageError(f"make_block_ptr: only order=(1, 0) is supported, got {order}")
    return block_ptr(
        view, (int(offsets[0]), int(offsets[1])), (int(block_shape[0]), int(block_shape[1]))
    )


def advance(ptr: block_ptr, offsets: Sequence[int]) -> block_ptr:
    """The same block pointer moved by ``offsets`` elements."""
    return block_ptr(
        ptr.base,
        (ptr.offsets[0] + int(offsets[0]), ptr.offsets[1] + int(offsets[1])),
        ptr.block_shape,
    )


# -- blocks ----------------------------------------------------------------------------
class block(Block):  # noqa: N801 - named like triton.language.tensor's role
    """A tile in TCM, the future result of an op. Arithmetic issues MATH ops."""

    __slots__ = ()

    def __add__(self, other: Any) -> block:
        return _binary("add", self, other, np.add)

    __radd__ = __add__

    def __sub__(self, other: Any) -> block:
        return _binary("sub", self, other, np.subtract)

    def __rsub__(self, other: Any) -> block:
        return _binary("sub", self, other, lambda a, b: np.subtract(b, a))

    def __mul__(self, other: Any) -> block:
        return _binary("mul", self, other, np.multiply)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> block:
        return _binary("div", self, other, np.divide)

    def __neg__(self) -> block:
        return _unary("neg", self, np.negative)

    def to(self, dtype: np.dtype | str) -> block:
        """Cast on the MATH engine."""
        dtype = np.dtype(dtype)
        return _math_op("cast", (self,), self.shape, dtype, lambda a: a.astype(dtype))

    def __repr__(self) -> str:
        state = "ready" if self.ready else "pending"
        return f"block(shape={self.shape}, dtype={self.dtype}, {state})"


def _new_block(program: Program, shape: tuple[int, ...], dtype: np.dtype) -> block:
    nbytes = math.prod(shape) * dtype.itemsize
    program.pe.reserve_tcm(nbytes, program)
    return block(program.pe, shape, dtype, nbytes)


def _check_block(name: str, value: Any) -> block:
    if not isinstance(value, block):
        raise KernelUsageError(f"tl.{name} expects a block, got {type(value).__name__}")
    return value


# -- program identity ------------------------------------------------------------------
def program_id(axis: int) -> int:
    """This program's index on ``axis``: 0 = PE within its cube, 1 = cube, 2 = SIP
    (positions among the launch's target PEs)."""
    if axis not in (0, 1, 2):
        raise KernelUsageError(f"program_id axis must be 0, 1 or 2, got {axis}")
    return _program().program_id[axis]


def num_programs(axis: int) -> int:
    """Number of programs along ``axis`` (see :func:`program_id`)."""
    if axis not in (0, 1, 2):
        raise KernelUsageError(f"num_programs axis must be 0, 1 or 2, got {axis}")
    return _program().num_programs[axis]


# -- memory ----------------------------------------------------------------------------
def _tile_region(ptr: block_ptr) -> tuple[int, int, int, int]:
    """(first row, rows, first col, cols) of the tile clipped to the view's bounds."""
    rows_total, cols_total = ptr.base.shape
    r0, c0 = ptr.offsets
    br, bc = ptr.block_shape
    if r0 < 0 or c0 < 0 or r0 >= rows_total or c0 >= cols_total:
        raise KernelUsageError(
            f"block at offsets {ptr.offsets} is outside {ptr.base.name} of shape {ptr.base.shape}"
        )
    return r0, builtins.min(br, rows_total - r0), c0, builtins.min(bc, cols_total - c0)


def _as_ptr(target: TensorView | block_ptr) -> block_ptr:
    if isinstance(target, block_ptr):
        return target
    if isinstance(target, TensorView):
        shape = target.shape if len(target.shape) == 2 else (1, target.shape[0])
        return make_block_ptr(target, offsets=(0, 0), block_shape=shape)
    raise KernelUsageError(
        f"expected a tensor argument or block pointer, got {type(target).__name__}"
    )


def _pieces(program: Program, ptr: block_ptr, to_tcm: bool, kind: str):
    """Network pieces of one tile transfer: one per physical memory the tile touches."""
    machine = program.machine
    view = ptr.base
    isz = view.dtype.itemsize
    r0, nr, c0, nc = _tile_region(ptr)
    row_elems = view.shape[1]
    first_va = view.va + (r0 * row_elems + c0) * isz
    span_bytes = ((nr - 1) * row_elems + nc) * isz
    tile_bytes = nr * nc * isz
    phys = program.mmu.translate_range(first_va, span_bytes)
    tcm = program.pe.tcm_node
    info = DmaInfo(kind, program.launch_id, program.coll_id, program.round)
    pieces = []
    assigned = 0
    for i, (pa, n) in enumerate(phys):
        node = machine.node_of(pa)
        share = tile_bytes - assigned if i == len(phys) - 1 else tile_bytes * n // span_bytes
        assigned += share
        route = machine.dma_route(node, tcm) if to_tcm else machine.dma_route(tcm, node)
        pieces.append((route, share, info))
    return pieces, tile_bytes, (r0, nr, c0, nc), (first_va, first_va + span_bytes)


def _read_tile(program: Program, view: TensorView, region) -> np.ndarray:
    r0, nr, c0, nc = region
    isz = view.dtype.itemsize
    out = np.empty((nr, nc), dtype=view.dtype)
    data, mmu = program.machine.data, program.mmu
    for i in range(nr):
        va = view.va + ((r0 + i) * view.shape[1] + c0) * isz
        pieces, row = mmu.translate_range(va, nc * isz), []
        for pa, n in pieces:
            row.append(data.read(pa, n))
        out[i] = np.concatenate(row).view(view.dtype)
    return out


def _write_tile(program: Program, view: TensorView, region, values: np.ndarray) -> None:
    r0, nr, c0, nc = region
    isz = view.dtype.itemsize
    data, mmu = program.machine.data, program.mmu
    values = np.ascontiguousarray(values[:nr, :nc].astype(view.dtype))
    for i in range(nr):
        raw = values[i].view(np.uint8)
        va = view.va + ((r0 + i) * view.shape[1] + c0) * isz
        done = 0
        for pa, n in mmu.translate_range(va, nc * isz):
            data.write(pa, raw[done : done + n])
            done += n


def load(pointer: TensorView | block_ptr) -> block:
    """Load a tile (DMA_IN) from memory into TCM.

    Within a program, memory follows program order: a load waits for this program's
    earlier stores to the same bytes; other PEs' writes need a synchronisation (the
    kernel's end, a collective, ``tl.fence``).

    1. A block pointer loads its ``block_shape`` tile; rows and columns past the tensor's
       edge read as zeros and move no bytes.
    2. A tensor argument loads the whole shard (a 1-D tensor becomes a 1 x n tile).

    Cost: DMA overhead + memory latency + route latency + bytes at the fair-share
    bandwidth. Raises KernelUsageError for a tile outside the tensor, PageFault for an
    unmapped address.
    """
    program = _program()
    ptr = _as_ptr(pointer)
    pieces, tile_bytes, region, span = _pieces(program, ptr, to_tcm=True, kind="load")
    view = ptr.base
    is_1d = isinstance(pointer, TensorView) and len(pointer.shape) == 1
    shape = (ptr.block_shape[1],) if is_1d else ptr.block_shape
    out = _new_block(program, shape, view.dtype)
    out.valid = (region[3],) if is_1d else (region[1], region[3])
    execute = None
    if program.machine.data is not None:

        def execute() -> None:
            tile = np.zeros(ptr.block_shape, dtype=view.dtype)
            tile[: region[1], : region[3]] = _read_tile(program, view, region)
            out.data = tile.reshape(shape)

    access = _access(ptr, span, region)
    op = Op("load", program, "DMA_IN", _ordered_after(program, access, is_store=False), out,
            pieces=pieces, execute=execute, nbytes=tile_bytes)  # fmt: skip
    _track(program, op, access, is_store=False)
    program.issue(op)
    return out


def store(pointer: TensorView | block_ptr, value: block) -> None:
    """Store a tile (DMA_WB) from TCM to memory, cast to the tensor's dtype; the part of
    the tile past the tensor's edge is dropped."""
    program = _program()
    value = _check_block("store", value)
    ptr = _as_ptr(pointer)
    row_of_1d = ptr.block_shape[0] == 1 and tuple(value.shape) == ptr.block_shape[1:]
    if tuple(value.shape) != tuple(ptr.block_shape) and not row_of_1d:
        raise KernelUsageError(
            f"tl.store: value shape {value.shape} != block shape {ptr.block_shape}"
        )
    pieces, tile_bytes, region, span = _pieces(program, ptr, to_tcm=False, kind="store")
    execute = None
    if program.machine.data is not None:

        def execute() -> None:
            _write_tile(program, ptr.base, region, value.data.reshape(ptr.block_shape))

    access = _access(ptr, span, region)
    inputs = (value, *_ordered_after(program, access, is_store=True))
    op = Op("store", program, "DMA_WB", inputs, None, pieces=pieces, execute=execute,
            nbytes=tile_bytes)  # fmt: skip
    _track(program, op, access, is_store=True)
    program.issue(op)


@dataclass(frozen=True, slots=True)
class _Access:
    """Where an in-flight load or store touches memory: its byte span, and the tile
    (rows, columns) of the view when it is one, so tiles of one matrix that share rows
    but not columns are told apart."""

    lo: int
    hi: int
    view: tuple[int, int]  # (base VA, row length in elements) of the view
    rows: tuple[int, int]
    cols: tuple[int, int]

    def overlaps(self, other: _Access) -> bool:
        if self.view == other.view:  # the same matrix: compare rectangles
            return (
                self.rows[0] < other.rows[1] and other.rows[0] < self.rows[1]
                and self.cols[0] < other.cols[1] and other.cols[0] < self.cols[1]
            )  # fmt: skip
        return self.lo < other.hi and other.lo < self.hi


def _access(ptr: block_ptr, span: tuple[int, int], region: tuple[int, int, int, int]) -> _Access:
    r0, nr, c0, nc = region
    return _Access(span[0], span[1], (ptr.base.va, ptr.base.shape[1]), (r0, r0 + nr),
                   (c0, c0 + nc))  # fmt: skip


def _ordered_after(program: Program, access: _Access, is_store: bool) -> tuple:
    """Tokens of this program's in-flight accesses that must finish first: for a load,
    stores overlapping ``access`` (read after write); for a store, loads and stores
    overlapping it (write after read, write after write)."""
    program.accesses = [a for a in program.accesses if not a[1].ready]
    return tuple(
        token
        for other, token, was_store in program.accesses
        if (was_store or is_store) and access.overlaps(other)
    )


def _track(program: Program, op: Op, access: _Access, is_store: bool) -> None:
    op.token = Block(program.pe, (), _TOKEN_DTYPE, 0)
    program.accesses.append((access, op.token, is_store))


def zeros(shape: Sequence[int], dtype: np.dtype | str = float32) -> block:
    """A zero-filled tile (takes TCM; no engine time: registers clear in one cycle)."""
    program = _program()
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    out = _new_block(program, shape, dtype)
    if program.machine.data is not None:
        out.data = np.zeros(shape, dtype=dtype)
    out.ready = True
    return out


# -- compute ---------------------------------------------------------------------------
def dot(a: block, b: block, acc: block | None = None) -> block:
    """``a @ b (+ acc)`` on the GEMM engine: (M, K) x (K, N) -> (M, N) float32.

    Inputs are float16 (or float32), accumulation is float32. Cost on an R x C array:
    ``ceil(M/R) * ceil(N/C) * K + fill_drain_cycles`` cycles for the whole tile;
    FLOPs = 2MNK of its unpadded part (tiles loaded across a tensor's edge are
    zero-padded: that work takes time but does no useful arithmetic).
    """
    program = _program()
    a, b = _check_block("dot", a), _check_block("dot", b)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise KernelUsageError(f"tl.dot: shapes {a.shape} and {b.shape} do not multiply")
    m, k = a.shape
    n = b.shape[1]
    if acc is not None and (_check_block("dot", acc).shape != (m, n)):
        raise KernelUsageError(f"tl.dot: acc shape {acc.shape} != ({m}, {n})")
    gemm = program.machine.params.pe.gemm
    clock = program.machine.params.pe.clock_ghz
    duration = gemm_duration_ns(m, n, k, gemm.rows, gemm.cols, gemm.fill_drain_cycles, clock)
    out = _new_block(program, (m, n), float32)
    # FLOPs of the unpadded part: rows of a, columns of b, and the depth both hold.
    valid_m, valid_n = a.valid[0], b.valid[-1]
    valid_k = builtins.min(a.valid[-1], b.valid[0])
    out.valid = (valid_m, valid_n)
    inputs = (a, b) if acc is None else (a, b, acc)
    execute = None
    if program.machine.data is not None:

        def execute() -> None:
            result = a.data.astype(np.float32) @ b.data.astype(np.float32)
            out.data = result if acc is None else result + acc.data.astype(np.float32)

    program.issue(
        Op(
            "dot",
            program,
            "GEMM",
            inputs,
            out,
            duration_ns=duration,
            execute=execute,
            flops=2 * valid_m * valid_n * valid_k,
        )
    )
    return out


def _math_op(
    name: str,
    inputs: tuple[block, ...],
    shape: tuple[int, ...],
    dtype: np.dtype,
    fn: Callable[..., np.ndarray],
    cost_key: str | None = None,
    elements: int | None = None,
) -> block:
    program = _program()
    params = program.machine.params.pe
    key = cost_key or name
    cycles = params.math.cycles_per_op.get(key)
    if cycles is None:
        known = ", ".join(sorted(params.math.cycles_per_op))
        raise KernelUsageError(f"no MATH cost for op {key!r} in pe.math.cycles_per_op ({known})")
    count = elements if elements is not None else builtins.max(math.prod(x.shape) for x in inputs)
    duration = math_duration_ns(count, params.math.lanes, cycles, params.clock_ghz)
    out = _new_block(program, shape, dtype)
    execute = None
    if program.machine.data is not None:

        def execute() -> None:
            out.data = np.asarray(fn(*(x.data for x in inputs)), dtype=dtype).reshape(shape)

    program.issue(
        Op(name, program, "MATH", inputs, out, duration_ns=duration, execute=execute, flops=count)
    )
    return out


def _binary(name: str, a: block, b: Any, fn: Callable[..., np.ndarray]) -> block:
    if isinstance(b, block):
        try:
            shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        except ValueError:
            raise KernelUsageError(
                f"tl.{name}: shapes {a.shape} and {b.shape} do not broadcast"
            ) from None
        dtype = np.promote_types(a.dtype, b.dtype)
        return _math_op(name, (a, b), shape, dtype, fn)
    if isinstance(b, (int, float)):
        scalar = b
        return _math_op(name, (a,), a.shape, a.dtype, lambda x: fn(x, scalar))
    raise KernelUsageError(f"tl.{name}: cannot combine a block with {type(b).__name__}")


def _unary(name: str, a: block, fn: Callable[[np.ndarray], np.ndarray]) -> block:
    a = _check_block(name, a)
    return _math_op(name, (a,), a.shape, a.dtype, fn)


def _gelu(x: np.ndarray) -> np.ndarray:
    x32 = x.astype(np.float32)
    return 0.5 * x32 * (1.0 + np.tanh(0.7978845608028654 * (x32 + 0.044715 * x32**3)))


def exp(x: block) -> block:
    """Element-wise e**x (MATH, ``cycles_per_op['exp']``)."""
    return _unary("exp", x, np.exp)


def log(x: block) -> block:
    """Element-wise natural log (MATH)."""
    return _unary("log", x, np.log)


def sqrt(x: block) -> block:
    """Element-wise square root (MATH)."""
    return _unary("sqrt", x, np.sqrt)


def abs(x: block) -> block:  # noqa: A001 - Triton's name
    """Element-wise absolute value (MATH)."""
    return _unary("abs", x, np.abs)


def relu(x: block) -> block:
    """Element-wise max(x, 0) (MATH)."""
    return _unary("relu", x, lambda v: np.maximum(v, 0))


def sigmoid(x: block) -> block:
    """Element-wise 1 / (1 + e**-x) (MATH)."""
    return _unary("sigmoid", x, lambda v: 1.0 / (1.0 + np.exp(-v)))


def gelu(x: block) -> block:
    """Element-wise GeLU, tanh approximation as in Megatron-LM (MATH)."""
    return _unary("gelu", x, _gelu)


def maximum(a: block, b: Any) -> block:
    """Element-wise maximum (MATH)."""
    return _binary("max", _check_block("maximum", a), b, np.maximum)


def minimum(a: block, b: Any) -> block:
    """Element-wise minimum (MATH)."""
    return _binary("min", _check_block("minimum", a), b, np.minimum)


def _reduce(name: str, x: block, axis: int | None, fn: Callable[..., np.ndarray]) -> block:
    x = _check_block(name, x)
    if axis is None:
        shape: tuple[int, ...] = (1,)
    else:
        if axis not in range(-len(x.shape), len(x.shape)):
            raise KernelUsageError(f"tl.{name}: axis {axis} out of range for shape {x.shape}")
        shape = tuple(s for i, s in enumerate(x.shape) if i != axis % len(x.shape))
    return _math_op(name, (x,), shape, x.dtype, lambda v: fn(v, axis=axis), cost_key="reduce")


def sum(x: block, axis: int | None = None) -> block:  # noqa: A001 - Triton's name
    """Sum over ``axis`` (all elements when None) on MATH (``cycles_per_op['reduce']``)."""
    return _reduce("sum", x, axis, np.sum)


def max(x: block, axis: int | None = None) -> block:  # noqa: A001 - Triton's name
    """Maximum over ``axis`` on MATH."""
    return _reduce("max", x, axis, np.max)


def min(x: block, axis: int | None = None) -> block:  # noqa: A001 - Triton's name
    """Minimum over ``axis`` on MATH."""
    return _reduce("min", x, axis, np.min)
