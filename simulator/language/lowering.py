"""Lowering of ``tl`` memory accesses: addresses -> DMA pieces, bytes, and program order.

:mod:`simulator.language.core` holds the user-facing builtins (argument checks, op
construction); this module does the memory work below them:

- **Addressing.** A :class:`TensorView` is a range of elements at virtual addresses. A
  view of one shard (a launch without a grid) is one contiguous VA range. A view of a
  whole tensor (a grid launch, as Triton passes pointers) numbers the tensor's elements
  row-major, ``global VA + i * itemsize``, whatever its placement; its ``segments`` table
  says where each run of elements lives (which shard's VA), so a pointer may reach
  another PE's shard: that access is a remote DMA over the network, paid as such.
- **DMA pieces.** A block-pointer tile is one 2-D (strided) DMA per physical memory it
  touches, moving only the bytes inside the tensor. A block of pointers is cut into
  contiguous runs of addresses, in block order, after dropping masked-off elements: one
  DMA per run, split further where the run crosses a shard or a physical mapping (the
  MMU merges contiguous pages). A gather of ``k`` scattered elements therefore costs
  ``k`` DMAs, each paying the DMA overhead, memory latency and route latency (they are
  in flight together: the latency is paid once per op, but every piece is a trace row and
  a network flow); masked-off elements move no bytes.
- **Program order.** Loads and stores of one program follow program order on
  overlapping bytes (:class:`Access`): a load waits for earlier stores to its bytes, a
  store for earlier loads and stores of them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.engine.machine import DmaInfo
from simulator.engine.ops import Block, Op
from simulator.engine.pe import Program

_TOKEN_DTYPE = np.dtype(np.uint8)


# -- addressing ------------------------------------------------------------------------
def va_ranges(view: Any, first_elem: int, n_elems: int) -> list[tuple[int, int]]:
    """``(va, nbytes)`` ranges of elements ``[first_elem, first_elem + n_elems)`` of
    ``view``, split where they cross from one shard (segment) to the next."""
    isz = view.dtype.itemsize
    segments = view.segments
    if segments is None:
        return [(view.va + first_elem * isz, n_elems * isz)]
    starts, vas = segments
    out = []
    elem, end = first_elem, first_elem + n_elems
    i = bisect_right(starts, elem) - 1
    while elem < end:
        seg_end = starts[i + 1] if i + 1 < len(starts) else end
        take = min(end, seg_end) - elem
        out.append((vas[i] + (elem - starts[i]) * isz, take * isz))
        elem += take
        i += 1
    return out


def physical(program: Program, view: Any, first_elem: int, n_elems: int):
    """Physical ``(pa, nbytes)`` pieces of a run of elements (PageFault if unmapped)."""
    translate = program.mmu.translate_range
    out = []
    for va, nbytes in va_ranges(view, first_elem, n_elems):
        out.extend(translate(va, nbytes))
    return out


def dma_info(program: Program, kind: str) -> DmaInfo:
    return DmaInfo(kind, program.launch_id, program.coll_id, program.round)


# -- block-pointer tiles -----------------------------------------------------------------
def tile_pieces(program: Program, view: Any, row_stride: int, region, to_tcm: bool, kind: str):
    """Network pieces of one 2-D tile transfer: one per physical memory the tile's span
    touches, sharing the tile's bytes in proportion to the span each holds.

    ``region`` is (first row, rows, first col, cols) already clipped to the tensor; the
    tile's rows are ``row_stride`` elements apart. Returns (pieces, tile bytes, VA span).
    """
    machine = program.machine
    isz = view.dtype.itemsize
    r0, nr, c0, nc = region
    first = r0 * row_stride + c0
    span_elems = (nr - 1) * row_stride + nc
    span_bytes = span_elems * isz
    tile_bytes = nr * nc * isz
    phys = physical(program, view, first, span_elems)
    tcm = program.pe.tcm_node
    info = dma_info(program, kind)
    pieces = []
    assigned = 0
    for i, (pa, n) in enumerate(phys):
        node = machine.node_of(pa)
        share = tile_bytes - assigned if i == len(phys) - 1 else tile_bytes * n // span_bytes
        assigned += share
        route = machine.dma_route(node, tcm) if to_tcm else machine.dma_route(tcm, node)
        pieces.append((route, share, info))
    first_va = view.va + first * isz
    return pieces, tile_bytes, (first_va, first_va + span_bytes)


def read_tile(program: Program, view: Any, row_stride: int, region) -> np.ndarray:
    """The values of a clipped tile (data mode)."""
    r0, nr, c0, nc = region
    out = np.empty((nr, nc), dtype=view.dtype)
    for i in range(nr):
        out[i] = read_run(program, view, (r0 + i) * row_stride + c0, nc)
    return out


def write_tile(program: Program, view: Any, row_stride: int, region, values: np.ndarray) -> None:
    """Write a clipped tile's values (data mode), cast to the view's dtype."""
    r0, nr, c0, nc = region
    values = np.ascontiguousarray(values[:nr, :nc].astype(view.dtype))
    for i in range(nr):
        write_run(program, view, (r0 + i) * row_stride + c0, values[i])


def read_run(program: Program, view: Any, first_elem: int, n_elems: int) -> np.ndarray:
    data = program.machine.data
    raw = [data.read(pa, n) for pa, n in physical(program, view, first_elem, n_elems)]
    return np.concatenate(raw).view(view.dtype) if raw else np.empty(0, view.dtype)


def write_run(program: Program, view: Any, first_elem: int, values: np.ndarray) -> None:
    data = program.machine.data
    raw = np.ascontiguousarray(values, dtype=view.dtype).view(np.uint8).ravel()
    done = 0
    for pa, n in physical(program, view, first_elem, len(values)):
        data.write(pa, raw[done : done + n])
        done += n


# -- blocks of pointers ------------------------------------------------------------------
def runs_of(flat_offsets: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs ``(first element, count)`` of element offsets, in block order."""
    if flat_offsets.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(flat_offsets) != 1) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [flat_offsets.size]))
    return [(int(flat_offsets[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def gather_pieces(program: Program, view: Any, runs, to_tcm: bool, kind: str) -> list:
    """One network piece per physical piece of each run (a run crossing a shard or a
    non-contiguous mapping splits there)."""
    machine = program.machine
    tcm = program.pe.tcm_node
    info = dma_info(program, kind)
    isz = view.dtype.itemsize
    pieces = []
    for first, count in runs:
        for pa, n in physical(program, view, first, count):
            node = machine.node_of(pa)
            route = machine.dma_route(node, tcm) if to_tcm else machine.dma_route(tcm, node)
            pieces.append((route, n, info))
    assert sum(p[1] for p in pieces) == isz * sum(c for _, c in runs)
    return pieces


# -- program order ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Access:
    """Where an in-flight load or store touches memory: its byte span, and the tile
    (rows, columns) of the view when it is one, so tiles of one matrix that share rows
    but not columns are told apart. ``view`` is None for spans compared as spans only."""

    lo: int
    hi: int
    view: tuple[int, int] | None  # (base VA, row length in elements) of the view
    rows: tuple[int, int] = (0, 0)
    cols: tuple[int, int] = (0, 0)

    def overlaps(self, other: Access) -> bool:
        if self.view is not None and self.view == other.view:  # one matrix: rectangles
            return (
                self.rows[0] < other.rows[1] and other.rows[0] < self.rows[1]
                and self.cols[0] < other.cols[1] and other.cols[0] < self.cols[1]
            )  # fmt: skip
        return self.lo < other.hi and other.lo < self.hi


def ordered_after(program: Program, access: Access, is_store: bool) -> tuple:
    """Tokens of this program's in-flight accesses that must finish first: for a load,
    stores overlapping ``access`` (read after write); for a store, loads and stores
    overlapping it (write after read, write after write)."""
    program.accesses = [a for a in program.accesses if not a[1].ready]
    return tuple(
        token
        for other, token, was_store in program.accesses
        if (was_store or is_store) and access.overlaps(other)
    )


def track(program: Program, op: Op, access: Access, is_store: bool) -> None:
    """Remember ``op``'s access until it finishes (its token becomes ready then)."""
    op.token = Block(program.pe, (), _TOKEN_DTYPE, 0)
    program.accesses.append((access, op.token, is_store))
