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

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import ml_dtypes
import numpy as np

from simulator.engine.machine import DmaInfo
from simulator.engine.ops import Block, Op
from simulator.engine.pe import Program
from simulator.hw.address_map import AddressError
from simulator.hw.mmu import MMUError

# Final module names are read from C statics when compiled; a plain one is looked up in
# the module's dict at every use (this one is used per tile).
bisect_right: Final = bisect.bisect_right

_TOKEN_DTYPE = np.dtype(np.uint8)
# The float8 dtypes, each with its largest finite value (where conversions saturate).
# Floats numpy computes on as float32 (ml_dtypes' kind "V").
_NARROW = frozenset(np.dtype(t) for t in (ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn,
                                          ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz,
                                          ml_dtypes.float8_e5m2fnuz))  # fmt: skip
_FLOAT8 = {np.dtype(t): float(ml_dtypes.finfo(t).max)
           for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz,
                     ml_dtypes.float8_e5m2fnuz)}  # fmt: skip


# -- addressing ------------------------------------------------------------------------
def va_ranges(view: Any, first_elem: int, n_elems: int) -> list[tuple[int, int]]:
    """``(va, nbytes)`` ranges of elements ``[first_elem, first_elem + n_elems)`` of
    ``view``, split where they cross from one shard (segment) to the next."""
    isz = view.element_dtype.itemsize
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
    layout = _layout(program, view)
    if layout is not None:
        pieces = layout.pieces(first_elem, n_elems)
        if pieces is not None:
            return [(pa, n) for pa, n, _node in pieces]
    return _physical_slow(program, view, first_elem, n_elems)


def _physical_slow(program: Program, view: Any, first_elem: int, n_elems: int):
    translate = program.mmu.translate_range
    out = []
    for va, nbytes in va_ranges(view, first_elem, n_elems):
        out.extend(translate(va, nbytes))
    return out


def physical_nodes(program: Program, view: Any, first_elem: int, n_elems: int):
    """Physical ``(pa, nbytes, node)`` pieces of a run of elements: ``physical`` with
    the graph node owning each piece's first byte (``Machine.node_of``)."""
    layout = _layout(program, view)
    if layout is not None:
        pieces = layout.pieces(first_elem, n_elems)
        if pieces is not None:
            node_of = program.machine.node_of
            return [(pa, n, node if node is not None else node_of(pa)) for pa, n, node in pieces]
    node_of = program.machine.node_of
    return [(pa, n, node_of(pa)) for pa, n in _physical_slow(program, view, first_elem, n_elems)]


class Layout:
    """Where the elements of one view live physically, translated once per view.

    Per segment of the view (one for a shard's view), the physically contiguous pieces
    the MMU gives for the segment's whole VA range, each with its graph node when the
    whole piece belongs to one component. Translating a run of elements then intersects
    these pieces instead of walking the page table, which gives exactly the pieces
    :func:`_physical_slow` gives (a sub-range of a merged range splits only where the
    range does). Built only when every element of the view is mapped; stale once the
    MMU's mappings change (``MMU.generation``).
    """

    __slots__ = ("generation", "seg_starts", "seg_ends", "seg_pieces", "itemsize")

    def __init__(self, program: Program, view: Any) -> None:
        mmu = program.mmu
        machine = program.machine
        self.generation: int = mmu.generation
        isz = int(view.element_dtype.itemsize)
        self.itemsize = isz
        numel = int(math.prod(view.shape))
        if view.segments is None:
            segments = [(0, numel, view.va)]
        else:
            starts, vas = view.segments
            ends = [*starts[1:], numel]
            segments = list(zip(starts, ends, vas, strict=True))
        # Typed (Python ints, whatever the view holds), so that compiled code does native
        # integer arithmetic on them.
        self.seg_starts: list[int] = [int(lo) for lo, _hi, _va in segments]
        self.seg_ends: list[int] = [int(hi) for _lo, hi, _va in segments]
        # Per segment: (element offsets of its pieces, pieces (pa, nbytes, node|None)).
        self.seg_pieces: list[tuple[list[int], list[tuple[int, int, str | None]]]] = []
        for lo, hi, va in segments:
            offsets: list[int] = []
            pieces: list[tuple[int, int, str | None]] = []
            elem = int(lo)
            for pa, nbytes in mmu.translate_range(va, (hi - lo) * isz):
                offsets.append(elem)
                pieces.append((int(pa), int(nbytes), _node_of_whole(machine, pa, nbytes)))
                elem += int(nbytes) // isz
            self.seg_pieces.append((offsets, pieces))

    def pieces(self, first_elem: int, n_elems: int) -> list[tuple[int, int, str | None]] | None:
        """``(pa, nbytes, node or None)`` of elements ``[first_elem, first_elem +
        n_elems)``; None when the run reaches outside the view (the caller falls back to
        the page table, which raises the fault)."""
        if first_elem < 0 or n_elems <= 0:
            return None
        isz = self.itemsize
        end = first_elem + n_elems
        seg = bisect_right(self.seg_starts, first_elem) - 1
        if seg < 0:
            return None
        out: list[tuple[int, int, str | None]] = []
        elem = first_elem
        while elem < end:
            if seg >= len(self.seg_starts):
                return None
            seg_end = self.seg_ends[seg]
            stop = end if end < seg_end else seg_end
            if seg + 1 == len(self.seg_starts) and end > seg_end:
                return None
            offsets, pieces = self.seg_pieces[seg]
            i = bisect_right(offsets, elem) - 1
            while elem < stop:
                pa, nbytes, node = pieces[i]
                lo = elem - offsets[i]
                hi = nbytes // isz
                take = (stop - elem) if stop - elem < hi - lo else hi - lo
                out.append((pa + lo * isz, take * isz, node))
                elem += take
                i += 1
            seg += 1
        return out


def _node_of_whole(machine: Any, pa: int, nbytes: int) -> str | None:
    """The node owning every byte of ``[pa, pa + nbytes)`` if its first and last byte
    decode to the same component (address windows are intervals), else None."""
    try:
        node = machine.node_of(pa)
        return node if machine.node_of(pa + nbytes - 1) == node else None
    except AddressError:
        return None


def _layout(program: Program, view: Any) -> Layout | None:
    """The view's layout from the launch's cache (``Program.layouts``), built on first
    use; None when part of the view is unmapped (each run is then translated alone)."""
    cache = program.layouts
    entry = cache.get(id(view))
    if entry is not None and entry[0] is view:  # the view is kept, so its id stays its own
        layout = entry[1]
        if layout is None or layout.generation == program.mmu.generation:
            return layout
    try:
        layout = Layout(program, view)
    except MMUError:
        layout = None
    cache[id(view)] = (view, layout)
    return layout


# DmaInfo of each (kind, launch, collective, round) seen lately: one shared immutable
# record instead of a new one per DMA (bounded: cleared when full).
_DMA_INFOS_MAX = 4096
_DMA_INFOS: dict[tuple, DmaInfo] = {}


def dma_info(program: Program, kind: str) -> DmaInfo:
    key = (kind, program.launch_id, program.coll_id, program.round)
    info = _DMA_INFOS.get(key)
    if info is None:
        if len(_DMA_INFOS) >= _DMA_INFOS_MAX:
            _DMA_INFOS.clear()
        info = _DMA_INFOS[key] = DmaInfo(*key)
    return info


# -- block-pointer tiles -----------------------------------------------------------------
def tile_pieces(program: Program, view: Any, row_stride: int, region: tuple[int, int, int, int],
                to_tcm: bool, kind: str):  # fmt: skip
    """Network pieces of one 2-D tile transfer: one per physical memory the tile's span
    touches, sharing the tile's bytes in proportion to the span each holds.

    ``region`` is (first row, rows, first col, cols) already clipped to the tensor; the
    tile's rows are ``row_stride`` elements apart. Returns (pieces, tile bytes, VA span).
    """
    # Typed locals: compiled, the arithmetic below is then on machine integers.
    isz: int = view.element_dtype.itemsize
    va = int(view.va)
    r0, nr, c0, nc = region
    first = r0 * row_stride + c0
    span_elems = (nr - 1) * row_stride + nc
    span_bytes = span_elems * isz
    tile_bytes = nr * nc * isz
    phys = physical_nodes(program, view, first, span_elems)
    pe = program.pe
    info = dma_info(program, kind)
    first_va = va + first * isz
    if len(phys) == 1:  # hot path: the whole span in one physical piece
        route = pe.dma_route(phys[0][2], to_tcm)
        return [(route, tile_bytes, info)], tile_bytes, (first_va, first_va + span_bytes)
    pieces = []
    assigned = 0
    last = len(phys) - 1
    for i, (_pa, n, node) in enumerate(phys):
        share = tile_bytes - assigned if i == last else tile_bytes * n // span_bytes
        assigned += share
        pieces.append((pe.dma_route(node, to_tcm), share, info))
    return pieces, tile_bytes, (first_va, first_va + span_bytes)


def read_tile(program: Program, view: Any, row_stride: int, region) -> np.ndarray:
    """The values of a clipped tile (data mode)."""
    r0, nr, c0, nc = region
    out = np.empty((nr, nc), dtype=view.element_dtype)
    for i in range(nr):
        out[i] = read_run(program, view, (r0 + i) * row_stride + c0, nc)
    return out


def converted(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` cast to ``dtype`` as the device converts them (Triton's NVIDIA
    conversions), where numpy's cast is undefined or differs:

    - a float narrowed to float8 rounds to nearest even and saturates
      (``cvt.rn.satfinite``): past its range (infinities too) it gives the largest
      finite value of that sign, where a plain cast gives NaN (e4m3) or infinity (e5m2);
      NaN stays NaN;
    - a float to an integer truncates toward zero and saturates (``cvt.rzi``): past the
      range (infinities too) it gives the range's end, NaN gives 0, and a negative value
      to an unsigned type 0 (:func:`float_to_integer`).
    """
    source = values.dtype
    if source == dtype:
        return values
    if dtype.kind in "iu" and (source.kind == "f" or source in _NARROW):
        return float_to_integer(values, dtype)
    if source == np.float64 and dtype in _NARROW:  # ml_dtypes would round twice
        values = _float32_round_to_odd(values)
    if dtype in _FLOAT8 and source.kind in "fV":
        largest = _FLOAT8[dtype]
        if source.kind == "V":  # another narrow float (ml_dtypes' kind): through float32
            values = values.astype(np.float32)
        return np.clip(values, -largest, largest).astype(dtype)
    return values.astype(dtype)


def _float32_round_to_odd(values: np.ndarray) -> np.ndarray:
    """float64 values as float32 rounded to odd (toward zero, the last bit set when
    inexact): rounding that once more to a format of fewer than 22 significand bits
    (bfloat16, float8) gives the float64 value's own nearest, where rounding to nearest
    twice may not (1 + 2**-8 + 2**-30 to bfloat16)."""
    narrow = values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        away = np.abs(narrow.astype(np.float64)) > np.abs(values)
    narrow = np.where(away, np.nextafter(narrow, np.float32(0)), narrow).astype(np.float32)
    inexact = narrow.astype(np.float64) != values
    return (narrow.view(np.uint32) | inexact.astype(np.uint32)).view(np.float32)


def float_to_integer(
    values: np.ndarray, dtype: Any, rounding: Callable[[np.ndarray], np.ndarray] = np.trunc
) -> np.ndarray:
    """Floats to the integer ``dtype`` as PTX ``cvt.<rounding>.<int>``: rounded (toward
    zero by default), saturated at the integer's range, NaN to 0."""
    info = np.iinfo(dtype)
    lowest, highest = float(info.min), float(info.max)
    rounded = rounding(np.asarray(values, np.float64))
    above, below = rounded >= highest, rounded <= lowest
    out = np.where(np.isnan(rounded) | above | below, 0.0, rounded).astype(dtype)
    out[above] = info.max
    out[below] = info.min
    return out


def write_tile(program: Program, view: Any, row_stride: int, region, values: np.ndarray) -> None:
    """Write a clipped tile's values (data mode), cast to the view's dtype."""
    r0, nr, c0, nc = region
    values = np.ascontiguousarray(converted(values[:nr, :nc], view.element_dtype))
    for i in range(nr):
        write_run(program, view, (r0 + i) * row_stride + c0, values[i])


def read_run(program: Program, view: Any, first_elem: int, n_elems: int) -> np.ndarray:
    data = program.machine.data
    assert data is not None, "data mode holds a DataMemory"
    raw = [data.read(pa, n) for pa, n in physical(program, view, first_elem, n_elems)]
    return np.concatenate(raw).view(view.element_dtype) if raw else np.empty(0, view.element_dtype)


def write_run(program: Program, view: Any, first_elem: int, values: np.ndarray) -> None:
    data = program.machine.data
    assert data is not None, "data mode holds a DataMemory"
    raw = np.ascontiguousarray(values, dtype=view.element_dtype).view(np.uint8).ravel()
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
    pe = program.pe
    info = dma_info(program, kind)
    isz = view.element_dtype.itemsize
    pieces = []
    for first, count in runs:
        for _pa, n, node in physical_nodes(program, view, first, count):
            pieces.append((pe.dma_route(node, to_tcm), n, info))
    assert sum(p[1] for p in pieces) == isz * sum(c for _, c in runs)
    return pieces


# -- program order ---------------------------------------------------------------------
@dataclass(slots=True)
class Access:
    """Where an in-flight load or store touches memory: its byte span, and the tile
    (rows, columns) of the view when it is one, so tiles of one matrix that share rows
    but not columns are told apart. ``view`` is None for spans compared as spans only.
    (Not frozen: a frozen dataclass costs a microsecond per access to build.)"""

    lo: int
    hi: int
    view: tuple[int, int] | None  # (base VA, row length in elements) of the view
    rows: tuple[int, int] = (0, 0)
    cols: tuple[int, int] = (0, 0)

    # Written out rather than generated by ``dataclass``: compiled, this one runs
    # natively (a generated ``__init__`` is interpreted, ~2,000 instructions per access).
    def __init__(
        self,
        lo: int,
        hi: int,
        view: tuple[int, int] | None,
        rows: tuple[int, int] = (0, 0),
        cols: tuple[int, int] = (0, 0),
    ) -> None:
        self.lo = lo
        self.hi = hi
        self.view = view
        self.rows = rows
        self.cols = cols

    def overlaps(self, other: Access) -> bool:
        if self.view is not None and self.view == other.view:  # one matrix: rectangles
            return (
                self.rows[0] < other.rows[1] and other.rows[0] < self.rows[1]
                and self.cols[0] < other.cols[1] and other.cols[0] < self.cols[1]
            )  # fmt: skip
        return self.lo < other.hi and other.lo < self.hi


def _token(op: Op) -> Block:
    """The zero-byte block ``op`` makes ready when it finishes (made on first use)."""
    token = op.token
    if token is None:
        token = op.token = Block(op.program.pe, (), _TOKEN_DTYPE, 0)
    return token


def ordered_after(program: Program, access: Access, is_store: bool) -> tuple:
    """Tokens of this program's in-flight accesses that must finish first: for a load,
    stores overlapping ``access`` (read after write); for a store, loads and stores
    overlapping it (write after read, write after write)."""
    stores = program.stores_in_flight
    tokens: tuple[Block, ...] = ()
    if stores:
        stores[:] = [entry for entry in stores if not entry[1].done]
        tokens = tuple(_token(op) for other, op in stores if access.overlaps(other))
    if is_store:
        loads = program.loads_in_flight
        loads[:] = [entry for entry in loads if not entry[1].done]
        tokens += tuple(_token(op) for other, op in loads if access.overlaps(other))
    return tokens


def track(program: Program, op: Op, access: Access, is_store: bool) -> None:
    """Remember ``op``'s access until it finishes (``op.done``)."""
    if is_store:
        program.stores_in_flight.append((access, op))
        return
    loads = program.loads_in_flight
    loads.append((access, op))
    if len(loads) > program.loads_prune_at:  # without stores: drop finished loads at
        loads[:] = [entry for entry in loads if not entry[1].done]  # doubling sizes
        program.loads_prune_at = max(64, 2 * len(loads))
