"""Physical address map (contract): ``pa = die_id << 42 | local_offset``.

Die ids are global: per SIP, one IOCHIPLET die and then one AHBM die per cube,
``die_id = sip * (1 + cubes_per_sip) + (0 for the IO die | 1 + cube)``. Each die kind
has a table of sub-unit windows over its 42-bit local offset (4 TiB per die). Region
bases are fixed at 1 TiB boundaries so an address reads at a glance in hex; window sizes
come from the topology:

=========  ==========  ================  ==========================================
die kind   unit        region base       windows (one per PE where marked)
=========  ==========  ================  ==========================================
AHBM       HBM         0x000_0000_0000   per PE: ``cube.hbm.slice_capacity_mib``,
                                         contiguous (slice i at ``i * slice``)
AHBM       PE_LOCAL    0x100_0000_0000   per PE: stride = next power of two >= TCM;
                                         mapped = ``pe.tcm.capacity_kib`` from 0
AHBM       MCPU_LOCAL  0x200_0000_0000   ``cube.m_cpu_local_kib``
AHBM       CUBE_SRAM   0x300_0000_0000   ``cube.sram.capacity_mib``
IOCHIPLET  IOCPU       0x000_0000_0000   a 1 TiB window whose sub-unit table holds the
                                         IO_CPU local memory (``sip.io_cpu_local_mib``)
=========  ==========  ================  ==========================================

Everything else (window slack past a TCM, offsets between regions) is unmapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.hw import graph
from simulator.hw.topology import PeCoord, Topology

LOCAL_OFFSET_BITS = 42
LOCAL_OFFSET_LIMIT = 1 << LOCAL_OFFSET_BITS  # 4 TiB per die
REGION_BYTES = 1 << 40  # 1 TiB: one region per sub-unit kind, and the IOCPU window

KIB = 1 << 10
MIB = 1 << 20


class AddressError(ValueError):
    """An address that is negative, too wide, past the last die, or unmapped."""


@dataclass(frozen=True, slots=True)
class Window:
    """One mapped sub-unit window of a die: ``[base, base + size_bytes)`` of local offset."""

    unit: str
    pe: int | None
    base: int
    size_bytes: int
    node: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a physical address names.

    ``cube`` is None on the IO die; ``pe`` is None for units that are not per PE;
    ``offset`` is the byte offset inside the unit's window; ``node`` is the graph node
    that owns the byte (pe_hbm, pe_tcm, m_cpu, cube_sram or io_cpu).
    """

    pa: int
    die_id: int
    die_kind: str
    unit: str
    sip: int
    cube: int | None
    pe: int | None
    offset: int
    node: str


@dataclass(frozen=True, slots=True)
class _Region:
    """``count`` windows of ``size_bytes`` mapped bytes, ``stride_bytes`` apart, from ``base``."""

    unit: str
    base: int
    stride_bytes: int
    size_bytes: int
    count: int
    per_pe: bool


def _next_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


class AddressMap:
    """Encode and decode physical addresses of one topology.

    Raises :class:`AddressError` at construction if a unit outgrows its 1 TiB region.
    """

    def __init__(self, topo: Topology) -> None:
        self.topology = topo
        p = topo.params
        pes = topo.pes_per_cube
        self.hbm_size_bytes = p.cube.hbm.slice_capacity_mib * MIB
        self.tcm_size_bytes = p.pe.tcm.capacity_kib * KIB
        self.m_cpu_size_bytes = p.cube.m_cpu_local_kib * KIB
        self.sram_size_bytes = p.cube.sram.capacity_mib * MIB
        self.io_cpu_size_bytes = p.sip.io_cpu_local_mib * MIB
        self.num_dies = topo.num_sips * (1 + topo.cubes_per_sip)
        self._owners: dict[tuple[str, int, int | None, int | None], str] = {}
        pe_local_stride = _next_pow2(self.tcm_size_bytes)
        # The sub-unit tables (see the module docstring).
        self._ahbm_regions = (
            _Region("HBM", 0, self.hbm_size_bytes, self.hbm_size_bytes, pes, True),
            _Region("PE_LOCAL", REGION_BYTES, pe_local_stride, self.tcm_size_bytes, pes, True),
            _Region("MCPU_LOCAL", 2 * REGION_BYTES, REGION_BYTES, self.m_cpu_size_bytes, 1, False),
            _Region("CUBE_SRAM", 3 * REGION_BYTES, REGION_BYTES, self.sram_size_bytes, 1, False),
        )
        self._io_regions = (_Region("IOCPU", 0, REGION_BYTES, self.io_cpu_size_bytes, 1, False),)
        for region in (*self._ahbm_regions, *self._io_regions):
            used = region.stride_bytes * (region.count - 1) + region.size_bytes
            if used > REGION_BYTES:
                raise AddressError(
                    f"topology {topo.name!r}: {region.unit} needs {used:#x} bytes of local "
                    f"offset, more than its {REGION_BYTES:#x}-byte region"
                )

    # --- die ids ------------------------------------------------------------------------

    def die_id_of(self, sip: int, cube: int | None = None) -> int:
        """Die id of SIP ``sip``'s IO die (``cube=None``) or of its cube ``cube``."""
        topo = self.topology
        if not 0 <= sip < topo.num_sips:
            raise AddressError(f"sip {sip} out of range 0..{topo.num_sips - 1}")
        if cube is None:
            return sip * (1 + topo.cubes_per_sip)
        if not 0 <= cube < topo.cubes_per_sip:
            raise AddressError(f"cube {cube} out of range 0..{topo.cubes_per_sip - 1}")
        return sip * (1 + topo.cubes_per_sip) + 1 + cube

    def _die_place(self, die_id: int) -> tuple[int, int | None]:
        """(sip, cube) of a valid die id; cube is None for the IO die."""
        sip, slot = divmod(die_id, 1 + self.topology.cubes_per_sip)
        return sip, (None if slot == 0 else slot - 1)

    # --- encode / decode ----------------------------------------------------------------

    def encode(self, die_id: int, local_offset: int) -> int:
        """The physical address of ``local_offset`` on die ``die_id``.

        Raises :class:`AddressError` if the die does not exist, the offset is negative or
        wider than 42 bits, or it falls outside every window of the die.
        """
        if die_id < 0 or local_offset < 0:
            raise AddressError(
                f"cannot encode die {die_id}, local offset {local_offset:#x}: negative"
            )
        if local_offset >= LOCAL_OFFSET_LIMIT:
            raise AddressError(
                f"cannot encode die {die_id}, local offset {local_offset:#x}: "
                f"wider than {LOCAL_OFFSET_BITS} bits"
            )
        pa = (die_id << LOCAL_OFFSET_BITS) | local_offset
        self.decode(pa)  # checks the die and the window
        return pa

    def decode(self, pa: int) -> Decoded:
        """What physical address ``pa`` names; raises :class:`AddressError` if unmapped."""
        if isinstance(pa, bool) or not isinstance(pa, int):
            raise AddressError(f"physical address must be an int, got {pa!r}")
        if pa < 0:
            raise AddressError(f"address {pa:#x} is negative")
        die_id = pa >> LOCAL_OFFSET_BITS
        local = pa & (LOCAL_OFFSET_LIMIT - 1)
        if die_id >= self.num_dies:
            raise AddressError(
                f"address {pa:#x}: die id {die_id} is past the last die {self.num_dies - 1} "
                f"of topology {self.topology.name!r}"
            )
        sip, cube = self._die_place(die_id)
        regions = self._io_regions if cube is None else self._ahbm_regions
        for region in regions:
            end = region.base + region.stride_bytes * region.count
            if region.base <= local < end:
                index, offset = divmod(local - region.base, region.stride_bytes)
                if offset >= region.size_bytes:
                    break
                pe = index if region.per_pe else None
                kind = "IOCHIPLET" if cube is None else "AHBM"
                node = self._owner(region.unit, sip, cube, pe)
                return Decoded(pa, die_id, kind, region.unit, sip, cube, pe, offset, node)
        where = "IOCHIPLET die" if cube is None else f"AHBM die (sip {sip} cube {cube})"
        raise AddressError(
            f"address {pa:#x}: local offset {local:#x} of {where} {die_id} is unmapped"
        )

    def _owner(self, unit: str, sip: int, cube: int | None, pe: int | None) -> str:
        """The graph node owning a window (memoised: decode is on the DMA path)."""
        key = (unit, sip, cube, pe)
        node = self._owners.get(key)
        if node is None:
            node = self._owners[key] = self._owner_name(unit, sip, cube, pe)
        return node

    def _owner_name(self, unit: str, sip: int, cube: int | None, pe: int | None) -> str:
        if unit == "HBM":
            return graph.pe_hbm(self.topology.coord(sip, cube, pe))
        if unit == "PE_LOCAL":
            return graph.pe_tcm(self.topology.coord(sip, cube, pe))
        if unit == "MCPU_LOCAL":
            return graph.m_cpu(sip, cube)
        if unit == "CUBE_SRAM":
            return graph.cube_sram(sip, cube)
        return graph.io_cpu(sip)

    def windows(self, die_id: int) -> list[Window]:
        """Every mapped window of die ``die_id``, in local-offset order."""
        if not 0 <= die_id < self.num_dies:
            raise AddressError(f"die id {die_id} out of range 0..{self.num_dies - 1}")
        sip, cube = self._die_place(die_id)
        regions = self._io_regions if cube is None else self._ahbm_regions
        out = []
        for region in regions:
            for index in range(region.count):
                pe = index if region.per_pe else None
                base = region.base + index * region.stride_bytes
                node = self._owner(region.unit, sip, cube, pe)
                out.append(Window(region.unit, pe, base, region.size_bytes, node))
        return out

    # --- base addresses -----------------------------------------------------------------

    def hbm_base(self, c: PeCoord) -> int:
        """Physical address of byte 0 of PE ``c``'s HBM slice (``hbm_size_bytes`` long)."""
        die_id = self.die_id_of(c.sip, c.cube)
        return (die_id << LOCAL_OFFSET_BITS) | (c.pe * self.hbm_size_bytes)

    def tcm_base(self, c: PeCoord) -> int:
        """Physical address of byte 0 of PE ``c``'s TCM (``tcm_size_bytes`` long)."""
        die_id = self.die_id_of(c.sip, c.cube)
        region = self._ahbm_regions[1]
        return (die_id << LOCAL_OFFSET_BITS) | (region.base + c.pe * region.stride_bytes)

    def m_cpu_base(self, sip: int, cube: int) -> int:
        """Physical address of byte 0 of a cube's M_CPU local memory."""
        return (self.die_id_of(sip, cube) << LOCAL_OFFSET_BITS) | self._ahbm_regions[2].base

    def sram_base(self, sip: int, cube: int) -> int:
        """Physical address of byte 0 of a cube's SRAM (``sram_size_bytes`` long)."""
        return (self.die_id_of(sip, cube) << LOCAL_OFFSET_BITS) | self._ahbm_regions[3].base

    def io_cpu_base(self, sip: int) -> int:
        """Physical address of byte 0 of SIP ``sip``'s IO_CPU local memory."""
        return (self.die_id_of(sip) << LOCAL_OFFSET_BITS) | self._io_regions[0].base
