"""Tests for simulator.hw.mmu: range-based page tables."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.hw.address_map import AddressMap
from simulator.hw.mmu import MMU, MMUError, PageFault
from simulator.hw.topology import load_topology

PAGE = 4096


def test_translate_inside_mapping():
    """A VA inside a mapping translates to the same offset from the PA base."""
    mmu = MMU()
    mmu.map(0x10000, 0x7000000, 3 * PAGE)
    assert mmu.translate(0x10000) == 0x7000000
    assert mmu.translate(0x10000 + 2 * PAGE + 17) == 0x7000000 + 2 * PAGE + 17


def test_size_rounds_up_to_pages():
    """A 100-byte mapping covers its whole page and nothing past it."""
    mmu = MMU()
    mmu.map(0, 0x5000, 100)
    assert mmu.translate(PAGE - 1) == 0x5000 + PAGE - 1
    with pytest.raises(PageFault):
        mmu.translate(PAGE)


def test_page_fault_names_va_and_context():
    """A fault message carries the VA in hex and the context name."""
    mmu = MMU(name="rank3")
    with pytest.raises(PageFault) as info:
        mmu.translate(0xDEAD000)
    assert "0xdead000" in str(info.value) and "rank3" in str(info.value)
    assert isinstance(info.value, MMUError)


def test_overlap_names_both_ranges():
    """Mapping over an existing range fails and names both ranges in hex."""
    mmu = MMU()
    mmu.map(0x4000, 0x100000, 2 * PAGE)
    with pytest.raises(MMUError) as info:
        mmu.map(0x5000, 0x200000, 2 * PAGE)
    assert "[0x5000, 0x7000)" in str(info.value)
    assert "[0x4000, 0x6000)" in str(info.value)
    with pytest.raises(MMUError):
        mmu.map(0x2000, 0x200000, 3 * PAGE)  # ends inside the existing mapping
    mmu.map(0x6000, 0x300000, PAGE)  # adjacent is fine
    mmu.map(0x2000, 0x300000, 2 * PAGE)  # adjacent below, aliasing PA is allowed


@pytest.mark.parametrize(
    ("va", "pa", "size", "why"),
    [
        (0x1001, 0, PAGE, "VA 0x1001 is not aligned"),
        (0x1000, 0x10, PAGE, "PA 0x10 is not aligned"),
        (0x1000, 0, 0, "size must be > 0"),
        (-PAGE, 0, PAGE, "negative"),
    ],
)
def test_bad_map_requests(va, pa, size, why):
    """Misaligned, empty or negative mappings are refused with the reason."""
    with pytest.raises(MMUError, match=why):
        MMU().map(va, pa, size)


def test_page_size_must_be_power_of_two():
    """A page size that is not a power of two is refused."""
    with pytest.raises(MMUError, match="power of two"):
        MMU(page_bytes=3000)


def test_unmap_whole_and_partial():
    """Unmapping the middle of a mapping keeps both ends mapped to the right PAs."""
    mmu = MMU()
    mmu.map(0, 0x100000, 4 * PAGE)
    mmu.unmap(PAGE, 2 * PAGE)
    assert mmu.translate(0) == 0x100000
    assert mmu.translate(3 * PAGE + 5) == 0x100000 + 3 * PAGE + 5
    for va in (PAGE, 2 * PAGE + 100):
        with pytest.raises(PageFault):
            mmu.translate(va)
    assert len(mmu) == 2
    mmu.unmap(0, PAGE)
    mmu.unmap(3 * PAGE, PAGE)
    assert len(mmu) == 0


def test_unmap_across_mappings_and_of_holes():
    """Unmap can span adjacent mappings but not a hole."""
    mmu = MMU()
    mmu.map(0, 0x100000, PAGE)
    mmu.map(PAGE, 0x900000, PAGE)
    mmu.map(3 * PAGE, 0x500000, PAGE)
    with pytest.raises(MMUError, match="0x2000 is not mapped"):
        mmu.unmap(0, 4 * PAGE)
    assert len(mmu) == 3  # a failed unmap changes nothing
    mmu.unmap(0, 2 * PAGE)
    assert [m.va for m in mmu.mappings()] == [3 * PAGE]


def test_translate_range_merges_physically_contiguous():
    """Pieces are merged where PA is contiguous and split where it is not."""
    mmu = MMU()
    mmu.map(0, 0x100000, 2 * PAGE)
    mmu.map(2 * PAGE, 0x100000 + 2 * PAGE, PAGE)  # continues the PA run
    mmu.map(3 * PAGE, 0x900000, PAGE)  # jumps elsewhere
    assert mmu.translate_range(100, 3 * PAGE - 100) == [(0x100000 + 100, 3 * PAGE - 100)]
    assert mmu.translate_range(PAGE, 3 * PAGE) == [
        (0x100000 + PAGE, 2 * PAGE),
        (0x900000, PAGE),
    ]
    assert mmu.translate_range(5, 0) == []


def test_translate_range_faults_at_first_hole():
    """A range crossing unmapped VA faults naming the first unmapped VA."""
    mmu = MMU()
    mmu.map(0, 0x100000, PAGE)
    mmu.map(2 * PAGE, 0x200000, PAGE)
    with pytest.raises(PageFault, match="0x1000"):
        mmu.translate_range(0, 3 * PAGE)


def test_huge_mapping_is_one_range():
    """A 1 TiB mapping is stored as one range, not 2^28 pages."""
    mmu = MMU()
    size = 1 << 40
    mmu.map(1 << 44, 1 << 46, size)
    assert len(mmu) == 1
    assert mmu.translate((1 << 44) + size - 1) == (1 << 46) + size - 1
    assert mmu.translate_range(1 << 44, size) == [(1 << 46, size)]


def test_va_is_translated_even_when_it_looks_like_a_pa():
    """A VA whose bits decode as a valid PA still goes through the table."""
    topo = load_topology("default")
    amap = AddressMap(topo)
    a, b = topo.coord(0, 0, 0), topo.coord(0, 3, 5)
    va = amap.hbm_base(a)  # these bits would decode as PE 0's HBM slice
    mmu = MMU()
    mmu.map(va, amap.hbm_base(b), PAGE)
    pa = mmu.translate(va + 8)
    assert pa == amap.hbm_base(b) + 8 and pa != va + 8
    assert amap.decode(pa).pe == 5 and amap.decode(pa).cube == 3
    # An unmapped VA faults even though its bits are a valid PA (PE 1's TCM).
    looks_valid = amap.tcm_base(topo.coord(0, 1, 1))
    assert amap.decode(looks_valid).unit == "PE_LOCAL"
    with pytest.raises(PageFault, match=f"{looks_valid:#x}"):
        mmu.translate(looks_valid)


_OPS = st.lists(
    st.tuples(st.booleans(), st.integers(0, 31), st.integers(0, 63), st.integers(1, 4)),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(_OPS, st.integers(0, 40 * 16 - 1), st.integers(0, 64))
def test_matches_page_dict_reference(ops, probe, length):
    """Against a one-entry-per-page dict, translate and translate_range agree after any ops."""
    page = 16
    mmu = MMU(page_bytes=page)
    ref: dict[int, int] = {}  # VA page number -> PA page number
    for is_map, va_page, pa_page, npages in ops:
        pages = range(va_page, va_page + npages)
        if is_map:
            if any(p in ref for p in pages):
                with pytest.raises(MMUError):
                    mmu.map(va_page * page, pa_page * page, npages * page)
                continue
            mmu.map(va_page * page, pa_page * page, npages * page)
            ref.update({p: pa_page + i for i, p in enumerate(pages)})
        else:
            if not all(p in ref for p in pages):
                with pytest.raises(MMUError):
                    mmu.unmap(va_page * page, npages * page)
                continue
            mmu.unmap(va_page * page, npages * page)
            for p in pages:
                del ref[p]
    expected_bytes = []
    for va in range(probe, probe + length):
        if va // page not in ref:
            with pytest.raises(PageFault):
                mmu.translate_range(probe, length)
            break
        expected_bytes.append(ref[va // page] * page + va % page)
    else:
        pieces = mmu.translate_range(probe, length)
        got = [pa + i for pa, n in pieces for i in range(n)]
        assert got == expected_bytes
        for (pa, n), (next_pa, _) in zip(pieces, pieces[1:], strict=False):
            assert pa + n != next_pa  # contiguous pieces would have been merged
    for va in range(probe, probe + length):
        if va // page in ref:
            assert mmu.translate(va) == ref[va // page] * page + va % page
        else:
            with pytest.raises(PageFault):
                mmu.translate(va)
