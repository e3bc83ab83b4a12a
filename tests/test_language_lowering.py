"""Tests for simulator.language.lowering: view layouts give the page table's pieces.

The programs here are fakes holding only what lowering reads, so the tests run its
interpreted source (tests/interpreted.py); the reference runs cover the compiled one."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interpreted import interpreted

from simulator.hw.address_map import AddressError
from simulator.hw.mmu import MMU, PageFault
from simulator.language.core import TensorView

lowering = interpreted("simulator.language.lowering")

PAGE = 4096
WINDOW = 3 * PAGE  # the fake address map's components: windows of three pages


def _node_of(pa: int) -> str:
    """A fake ``Machine.node_of``: one component per window, a hole in window 5."""
    if pa // WINDOW == 5:
        raise AddressError(f"address {pa:#x} is unmapped")
    return f"w{pa // WINDOW}"


def _program(mmu: MMU) -> SimpleNamespace:
    """What lowering reads of a program: its MMU, layout table and machine.node_of."""
    return SimpleNamespace(mmu=mmu, layouts={}, machine=SimpleNamespace(node_of=_node_of))


def _slow(program, view, first: int, n: int) -> list[tuple[int, int, str]]:
    """The reference: translate each segment's VA range through the page table."""
    pieces = lowering._physical_slow(program, view, first, n)
    return [(pa, nbytes, _node_of(pa)) for pa, nbytes in pieces]


@st.composite
def mapped_views(draw):
    """An MMU whose pages map to shuffled, partly contiguous physical pages, and a view
    (one range, or segments) over the mapped VA range."""
    n_pages = draw(st.integers(1, 12))
    order = draw(st.permutations(range(n_pages + 4)))[:n_pages]
    # Runs of consecutive physical pages, so some mappings merge and some do not.
    pas, page = [], 0
    for i in range(n_pages):
        page = page + 1 if i and draw(st.booleans()) else order[i] * 2
        pas.append(page)
    mmu = MMU(PAGE)
    va0 = 0x40000
    for i, pa_page in enumerate(pas):
        mmu.map(va0 + i * PAGE, pa_page * PAGE, PAGE)
    itemsize = draw(st.sampled_from([1, 2, 4, 8]))
    numel = n_pages * PAGE // itemsize
    if draw(st.booleans()):
        return mmu, TensorView(va0, (numel,), np.dtype(f"u{itemsize}"))
    # Segments: consecutive element runs, each at its own VA range (a sharded tensor).
    cuts = sorted(draw(st.sets(st.integers(1, numel - 1), max_size=4))) if numel > 1 else []
    starts = (0, *cuts)
    lengths = [b - a for a, b in zip(starts, (*cuts, numel), strict=True)]
    order = draw(st.permutations(range(len(starts))))
    # Place segment k's bytes at a shuffled position of the mapped range.
    offsets, at = {}, 0
    for k in order:
        offsets[k] = at
        at += lengths[k] * itemsize
    vas = tuple(va0 + offsets[k] for k in range(len(starts)))
    view = TensorView(va0, (numel,), np.dtype(f"u{itemsize}"), segments=(starts, vas))
    return mmu, view


@settings(max_examples=300, deadline=None)
@given(mapped_views(), st.data())
def test_layout_pieces_are_the_page_tables_pieces(case, data):
    """For any run of elements, the cached layout gives exactly the pieces (and nodes)
    that walking the page table gives, including splits at segments and mappings."""
    mmu, view = case
    program = _program(mmu)
    numel = view.numel
    first = data.draw(st.integers(0, numel - 1))
    n = data.draw(st.integers(1, numel - first))
    try:
        want = _slow(program, view, first, n)
    except AddressError:
        with pytest.raises(AddressError):
            lowering.physical_nodes(program, view, first, n)
        return
    assert lowering.physical_nodes(program, view, first, n) == want
    assert lowering.physical(program, view, first, n) == [(pa, b) for pa, b, _ in want]
    assert program.layouts[id(view)][1] is not None  # the layout was built and used


def test_unmapped_part_of_a_view_falls_back_to_the_page_table():
    """A view whose tail is unmapped has no layout: a run in the mapped part still
    translates, one in the hole faults naming its VA."""
    mmu = MMU(PAGE)
    mmu.map(0x10000, 0x100000, PAGE)
    program = _program(mmu)
    view = TensorView(0x10000, (2 * PAGE,), np.dtype(np.uint8))
    assert lowering.physical(program, view, 16, 32) == [(0x100000 + 16, 32)]
    assert program.layouts[id(view)][1] is None
    with pytest.raises(PageFault, match="0x11000"):
        lowering.physical(program, view, PAGE, 8)


def test_a_run_past_the_view_is_translated_by_the_page_table():
    """The layout covers the view only: a run past its end goes to the page table."""
    mmu = MMU(PAGE)
    mmu.map(0x10000, 0x100000, 2 * PAGE)
    program = _program(mmu)
    view = TensorView(0x10000, (PAGE,), np.dtype(np.uint8))
    assert lowering.physical(program, view, PAGE - 4, 8) == [(0x100000 + PAGE - 4, 8)]


def test_unmapping_makes_a_cached_layout_stale():
    """After the MMU unmaps part of a view, a run there faults instead of reusing the
    translation cached before."""
    mmu = MMU(PAGE)
    mmu.map(0x10000, 0x100000, 2 * PAGE)
    program = _program(mmu)
    view = TensorView(0x10000, (2 * PAGE,), np.dtype(np.uint8))
    assert lowering.physical(program, view, PAGE, 8) == [(0x100000 + PAGE, 8)]
    mmu.unmap(0x11000, PAGE)
    with pytest.raises(PageFault, match="0x11000"):
        lowering.physical(program, view, PAGE, 8)
    mmu.map(0x11000, 0x300000, PAGE)  # remapped elsewhere: the new mapping is used
    assert lowering.physical(program, view, PAGE, 8) == [(0x300000, 8)]


def test_a_piece_spanning_two_components_is_named_by_its_first_byte():
    """A physically contiguous piece crossing a component boundary keeps the node of its
    first byte, as ``Machine.node_of`` of the piece's address does."""
    mmu = MMU(PAGE)
    mmu.map(0x10000, 2 * PAGE, 2 * PAGE)  # pages 2 and 3: windows w0 and w1
    program = _program(mmu)
    view = TensorView(0x10000, (2 * PAGE,), np.dtype(np.uint8))
    assert lowering.physical_nodes(program, view, PAGE - 8, 16) == [(3 * PAGE - 8, 16, "w0")]
    assert lowering.physical_nodes(program, view, PAGE + 8, 16) == [(3 * PAGE + 8, 16, "w1")]
