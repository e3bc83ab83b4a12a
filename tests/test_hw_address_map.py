"""Tests for simulator.hw.address_map: pa = die_id << 42 | local_offset."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.hw import graph as g
from simulator.hw.address_map import AddressError, AddressMap
from simulator.hw.topology import TOPOLOGY_DIR, load_topology

Y = yaml.safe_load((TOPOLOGY_DIR / "default.yaml").read_text())
TIB = 1 << 40
SLICE = Y["cube"]["hbm"]["slice_capacity_mib"] << 20
TCM = Y["pe"]["tcm"]["capacity_kib"] << 10
SRAM = Y["cube"]["sram"]["capacity_mib"] << 20
MCPU = Y["cube"]["m_cpu_local_kib"] << 10
IOCPU = Y["sip"]["io_cpu_local_mib"] << 20
PES = Y["cube"]["pes"]

MULTI = load_topology("multi_sip")  # 4 SIPs x 4 cubes: 5 dies per SIP, 20 dies
AMAP = AddressMap(MULTI)


def test_die_ids_by_hand():
    """die_id = sip * (1 + cubes_per_sip) + (0 for the IO die, 1 + cube)."""
    assert AMAP.num_dies == 20
    assert AMAP.die_id_of(0) == 0
    assert AMAP.die_id_of(0, 0) == 1
    assert AMAP.die_id_of(1, 2) == 8
    assert AMAP.die_id_of(3) == 15
    assert AMAP.die_id_of(3, 3) == 19


def test_bases_by_hand():
    """Unit bases: HBM slices from 0, PE_LOCAL at 1 TiB, MCPU at 2 TiB, SRAM at 3 TiB."""
    c = MULTI.coord(1, 2, 3)
    assert AMAP.hbm_base(c) == (8 << 42) | (3 * SLICE)
    assert AMAP.tcm_base(c) == (8 << 42) | (TIB + 3 * TCM)  # TCM is a power of two
    assert AMAP.m_cpu_base(1, 2) == (8 << 42) | (2 * TIB)
    assert AMAP.sram_base(1, 2) == (8 << 42) | (3 * TIB)
    assert AMAP.io_cpu_base(3) == 15 << 42
    assert AMAP.hbm_size_bytes == SLICE and AMAP.tcm_size_bytes == TCM


def test_decode_names_component():
    """Decoding names die, unit, coordinates, offset and the owning graph node."""
    c = MULTI.coord(1, 2, 3)
    d = AMAP.decode(AMAP.hbm_base(c) + 12345)
    assert (d.die_id, d.die_kind, d.unit, d.sip, d.cube, d.pe) == (8, "AHBM", "HBM", 1, 2, 3)
    assert d.offset == 12345 and d.node == g.pe_hbm(c)
    d = AMAP.decode(AMAP.tcm_base(c) + TCM - 1)
    assert (d.unit, d.pe, d.offset, d.node) == ("PE_LOCAL", 3, TCM - 1, g.pe_tcm(c))
    d = AMAP.decode(AMAP.sram_base(1, 2) + 7)
    assert (d.unit, d.pe, d.offset, d.node) == ("CUBE_SRAM", None, 7, g.cube_sram(1, 2))
    d = AMAP.decode(AMAP.m_cpu_base(1, 2))
    assert (d.unit, d.node) == ("MCPU_LOCAL", g.m_cpu(1, 2))
    d = AMAP.decode(AMAP.io_cpu_base(2) + 64)
    assert (d.die_kind, d.unit, d.sip, d.cube, d.pe) == ("IOCHIPLET", "IOCPU", 2, None, None)
    assert d.node == g.io_cpu(2)


def test_hbm_slices_contiguous():
    """The last byte of slice i and the first byte of slice i+1 are adjacent addresses."""
    a, b = MULTI.coord(0, 1, 4), MULTI.coord(0, 1, 5)
    end_of_a = AMAP.hbm_base(a) + AMAP.hbm_size_bytes - 1
    assert AMAP.decode(end_of_a).pe == 4
    assert AMAP.decode(end_of_a + 1).pe == 5
    assert end_of_a + 1 == AMAP.hbm_base(b)


@pytest.mark.parametrize(
    ("pa", "why"),
    [
        (-16, "-0x10 is negative"),
        (20 << 42, "die id 20 is past the last die 19"),
        ((1 << 42) | (PES * SLICE), "is unmapped"),  # just past the last HBM slice
        ((1 << 42) | (TIB + PES * TCM), "is unmapped"),  # just past the last TCM window
        ((1 << 42) | (2 * TIB + MCPU), "is unmapped"),
        ((1 << 42) | (3 * TIB + SRAM), "is unmapped"),
        ((0 << 42) | IOCPU, "is unmapped"),
        ((0 << 42) | TIB, "is unmapped"),  # past the IO die's 1 TiB IOCPU window
    ],
)
def test_bad_addresses_raise_with_hex(pa, why):
    """Negative, past-the-last-die and unmapped addresses raise naming the hex address."""
    with pytest.raises(AddressError) as info:
        AMAP.decode(pa)
    assert why in str(info.value)
    assert f"{pa:#x}" in str(info.value)


@pytest.mark.parametrize(
    ("die", "offset", "why"),
    [
        (-1, 0, "negative"),
        (0, -1, "negative"),
        (1, 1 << 42, "wider than 42 bits"),
        (20, 0, "past the last die"),
        (1, PES * SLICE, "unmapped"),
    ],
)
def test_encode_rejects(die, offset, why):
    """encode refuses negatives, offsets over 42 bits, missing dies and unmapped offsets."""
    with pytest.raises(AddressError, match=why):
        AMAP.encode(die, offset)


def test_windows_disjoint_and_inside_die():
    """Each die's windows are ordered, disjoint and inside the 4 TiB local space."""
    for die in (0, 1):
        windows = AMAP.windows(die)
        for a, b in zip(windows, windows[1:], strict=False):
            assert a.base + a.size_bytes <= b.base
        assert windows[-1].base + windows[-1].size_bytes <= 1 << 42
    assert [w.unit for w in AMAP.windows(0)] == ["IOCPU"]
    units = [w.unit for w in AMAP.windows(1)]
    assert units == ["HBM"] * PES + ["PE_LOCAL"] * PES + ["MCPU_LOCAL", "CUBE_SRAM"]


@st.composite
def _mapped(draw):
    die = draw(st.integers(0, AMAP.num_dies - 1))
    window = draw(st.sampled_from(AMAP.windows(die)))
    offset = draw(st.integers(0, window.size_bytes - 1))
    return die, window, offset


@settings(max_examples=300, deadline=None)
@given(_mapped())
def test_round_trip(case):
    """encode then decode returns the window's unit, PE, node and offset; and back again."""
    die, window, offset = case
    pa = AMAP.encode(die, window.base + offset)
    assert pa == (die << 42) | (window.base + offset)
    d = AMAP.decode(pa)
    assert (d.die_id, d.unit, d.pe, d.offset, d.node) == (
        die,
        window.unit,
        window.pe,
        offset,
        window.node,
    )
    assert AMAP.encode(d.die_id, pa & ((1 << 42) - 1)) == pa


# Unmapped local-offset gaps, from the YAML sizes and the documented region bases.
_AHBM_GAPS = [
    (PES * SLICE, TIB),
    (TIB + PES * TCM, 2 * TIB),
    (2 * TIB + MCPU, 3 * TIB),
    (3 * TIB + SRAM, 4 * TIB),
]
_IO_GAPS = [(IOCPU, 4 * TIB)]


@st.composite
def _unmapped(draw):
    die = draw(st.integers(0, AMAP.num_dies - 1))
    gaps = _IO_GAPS if die % 5 == 0 else _AHBM_GAPS
    lo, hi = draw(st.sampled_from(gaps))
    return die, draw(st.integers(lo, hi - 1))


@settings(max_examples=300, deadline=None)
@given(_unmapped())
def test_out_of_window_raises(case):
    """Offsets in the gaps between windows raise on encode and on decode."""
    die, local = case
    with pytest.raises(AddressError, match="unmapped"):
        AMAP.encode(die, local)
    with pytest.raises(AddressError, match="unmapped"):
        AMAP.decode((die << 42) | local)


def test_non_power_of_two_tcm_leaves_unmapped_slack(tmp_path):
    """A 768 KiB TCM gets a 1 MiB window; its last 256 KiB are unmapped."""
    path = tmp_path / "odd.yaml"
    path.write_text("base: default\npe:\n  tcm: {capacity_kib: 768}\n")
    topo = load_topology(path)
    amap = AddressMap(topo)
    c1 = topo.coord(0, 0, 1)
    assert amap.tcm_base(c1) == (1 << 42) | (TIB + (1 << 20))
    assert amap.decode(amap.tcm_base(c1) + 768 * 1024 - 1).pe == 1
    with pytest.raises(AddressError, match="unmapped"):
        amap.decode(amap.tcm_base(c1) + 768 * 1024)


def test_unit_outgrowing_its_region_is_an_error(tmp_path):
    """HBM slices that do not fit the 1 TiB HBM region are refused at construction."""
    path = tmp_path / "huge.yaml"
    path.write_text("base: default\ncube:\n  hbm: {slice_capacity_mib: 262144}\n")  # 8 x 256 GiB
    with pytest.raises(AddressError, match="HBM"):
        AddressMap(load_topology(path))
