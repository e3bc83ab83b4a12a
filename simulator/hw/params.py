"""Typed hardware parameter schema: every topology parameter is declared here, once.

Like gem5's ``Param`` declarations: each field has a type, its unit in its name
(``_ns``, ``_gbs``, ``_mib``, ``_kib``, ``_cycles``, ``_ghz``) and a one-line doc
in ``metadata["doc"]``. There are no defaults in this file: values come only from
the topology presets (``simulator/topologies/*.yaml``), which ``topology.py`` loads
and checks against this schema. Units: 1 GB/s = 1 byte/ns.

``metadata["check"]`` says which values are legal: ``"positive"`` (> 0, for counts,
bandwidths, capacities, clocks), ``"nonneg"`` (>= 0, for latencies, overheads and
fixed cycle terms), ``"fraction"`` (0 < value <= 1, for efficiencies) or a tuple of the
allowed values (a choice among names). Fields without a check (names, flags) take any
value of their type.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

POSITIVE = "positive"
NONNEG = "nonneg"
FRACTION = "fraction"


def param(doc: str, check: str | tuple[str, ...] | None = None) -> Any:
    """Declare one parameter: its one-line ``doc`` and its legal-value ``check``."""
    return field(metadata={"doc": doc, "check": check})


@dataclass(frozen=True, slots=True)
class LinkParams:
    """One physical connection; the graph makes a directed link each way."""

    latency_ns: float = param("wire + serdes latency of one crossing", NONNEG)
    bw_gbs: float = param("bandwidth of each direction (GB/s = bytes/ns)", POSITIVE)


@dataclass(frozen=True, slots=True)
class SramParams:
    """The cube's shared SRAM (CUBE_SRAM)."""

    capacity_mib: int = param("capacity of the cube SRAM", POSITIVE)
    latency_ns: float = param("access latency, paid on arrival at the SRAM", NONNEG)
    bw_gbs: float = param(
        "bandwidth of the SRAM, shared by every reader and writer (all ports, both ways)",
        POSITIVE,
    )


@dataclass(frozen=True, slots=True)
class HbmParams:
    """One PE's slice of the cube's HBM stack (the stack is cut into one slice per PE)."""

    slice_capacity_mib: int = param("capacity of one per-PE HBM slice", POSITIVE)
    latency_ns: float = param("DRAM access latency, paid on arrival at the slice", NONNEG)
    bw_gbs: float = param(
        "bandwidth of one slice, shared by every reader and writer (all ports, both ways)",
        POSITIVE,
    )
    rw_mix_bw_fraction: float = param(
        "fraction of bw_gbs left while the slice is read and written at once (bus "
        "turnaround); 1.0 = no loss",
        FRACTION,
    )


@dataclass(frozen=True, slots=True)
class TcmParams:
    """A PE's TCM scratchpad, where kernel blocks live."""

    capacity_kib: int = param("scratchpad capacity of one PE", POSITIVE)
    latency_ns: float = param("access latency, paid on arrival at the TCM", NONNEG)
    bw_gbs: float = param(
        "bandwidth of the TCM, shared by every DMA reading or writing it (both ways)",
        POSITIVE,
    )


@dataclass(frozen=True, slots=True)
class GemmParams:
    """The PE's systolic array: ``ceil(M/rows) * ceil(N/cols) * K + fill_drain_cycles``."""

    rows: int = param("systolic array rows (tile of M per pass)", POSITIVE)
    cols: int = param("systolic array columns (tile of N per pass)", POSITIVE)
    fill_drain_cycles: int = param("fixed cycles to fill and drain the array per op", NONNEG)


@dataclass(frozen=True, slots=True)
class MathParams:
    """The PE's vector engine: ``ceil(elements / lanes) * cycles_per_op[op]`` cycles."""

    lanes: int = param("elements processed per cycle", POSITIVE)
    cycles_per_op: dict[str, int] = param("cycles per lane-wide step, by op name", POSITIVE)


# Memories an IPCQ inbox can live in: the receiver's TCM, its HBM slice, or the cube SRAM.
INBOX_MEMORIES = ("tcm", "hbm", "sram")


@dataclass(frozen=True, slots=True)
class IpcqParams:
    """The inter-PE queues behind ``tl.send`` / ``tl.recv``: each PE's inbox has one
    channel per arrival direction (or sending peer), each with ``slots`` slots."""

    inbox: str = param("memory holding the inbox slots: tcm | hbm | sram", INBOX_MEMORIES)
    slots: int = param(
        "slots per channel; a full channel stalls the sender's send DMA until one frees",
        POSITIVE,
    )
    slot_kib: int = param("capacity of one slot: the largest block one tl.send may carry", POSITIVE)


@dataclass(frozen=True, slots=True)
class PeParams:
    """One processing element: PE_CPU, PE_DMA, TCM, GEMM and MATH."""

    clock_ghz: float = param("PE clock; converts GEMM/MATH cycles to ns", POSITIVE)
    cpu_overhead_ns: float = param("PE_CPU handling cost of an arriving message", NONNEG)
    dma_overhead_ns: float = param("PE_DMA issue cost, charged once per DMA", NONNEG)
    dma_queue_depth: int = param(
        "transfers each PE_DMA engine (DMA_IN, DMA_WB) keeps in flight at once", POSITIVE
    )
    cpu_dma_link: LinkParams = param("PE_CPU <-> PE_DMA command port")
    tcm: TcmParams = param("TCM scratchpad")
    gemm: GemmParams = param("GEMM engine (systolic array)")
    math: MathParams = param("MATH engine (vector unit)")
    ipcq: IpcqParams = param("inter-PE queue inbox (tl.send / tl.recv)")


@dataclass(frozen=True, slots=True)
class CubeParams:
    """One AHBM die: M_CPU, CUBE_SRAM, an HBM stack cut into per-PE slices, a NoC and PEs."""

    pes: int = param("PEs per cube (also the number of HBM slices)", POSITIVE)
    m_cpu_overhead_ns: float = param("M_CPU handling cost of an arriving message", NONNEG)
    m_cpu_local_kib: int = param("M_CPU local memory (MCPU_LOCAL address window)", POSITIVE)
    m_cpu_local_bw_gbs: float = param(
        "bandwidth of the M_CPU local memory, shared by all its readers and writers", POSITIVE
    )
    noc_overhead_ns: float = param("cube NoC router cost per packet crossing it", NONNEG)
    pe_link: LinkParams = param("PE_CPU and PE_DMA <-> cube NoC")
    m_cpu_link: LinkParams = param("M_CPU <-> cube NoC")
    sram: SramParams = param("cube SRAM")
    hbm: HbmParams = param("one per-PE HBM slice")


@dataclass(frozen=True, slots=True)
class SipParams:
    """One SIP: an IOCHIPLET die plus a ``cube_rows x cube_cols`` mesh of cubes."""

    cube_rows: int = param("rows of the cube mesh (the IO chiplet attaches to row 0)", POSITIVE)
    cube_cols: int = param("columns of the cube mesh", POSITIVE)
    io_cpu_overhead_ns: float = param("IO_CPU handling cost of an arriving message", NONNEG)
    io_cpu_local_mib: int = param("IO_CPU local memory (IOCPU address window)", POSITIVE)
    io_cpu_local_bw_gbs: float = param(
        "bandwidth of the IO_CPU local memory, shared by all its readers and writers",
        POSITIVE,
    )
    io_noc_overhead_ns: float = param("IO chiplet NoC router cost per crossing", NONNEG)
    io_port_link: LinkParams = param("IO NoC <-> IO_CPU, host port and SIP port (on-die)")
    io_link: LinkParams = param("IO chiplet NoC <-> each row-0 cube NoC (die-to-die)")
    mesh_link: LinkParams = param("cube NoC <-> neighbouring cube NoC, N/S/E/W (die-to-die)")


@dataclass(frozen=True, slots=True)
class SystemParams:
    """The whole machine: a host and ``num_sips`` SIPs joined by a switch."""

    num_sips: int = param("number of SIPs", POSITIVE)
    host_overhead_ns: float = param("host driver cost of an arriving message", NONNEG)
    host_link: LinkParams = param("host <-> each SIP's host port (PCIe)")
    switch_overhead_ns: float = param("system switch cost per packet crossing it", NONNEG)
    sip_link: LinkParams = param("each SIP's IO chiplet port <-> the system switch")
    page_kib: int = param("MMU page size; allocations are rounded up to whole pages", POSITIVE)


@dataclass(frozen=True, slots=True)
class LaunchParams:
    """Kernel launch behaviour."""

    barrier: bool = param("IO_CPU global start barrier: every PE of a launch starts together")
    msg_bytes: int = param("size of one KernelLaunchMsg on the network", POSITIVE)
    multicast: bool = param(
        "fan-out policy: true = a CPU serves a launch once and sends every copy below it "
        "at once; false = it serves one unicast message per target below it, one at a time"
    )


@dataclass(frozen=True, slots=True)
class TopologyParams:
    """A full, resolved topology: what a preset YAML describes."""

    name: str = param("topology name (stored with every run)")
    description: str = param("one-line human description")
    system: SystemParams = param("system level: host, switch, SIP count")
    sip: SipParams = param("per-SIP: IO chiplet and cube mesh")
    cube: CubeParams = param("per-cube (AHBM die)")
    pe: PeParams = param("per-PE")
    launch: LaunchParams = param("kernel launch options")


def is_params_class(tp: Any) -> bool:
    """True when ``tp`` is one of the parameter dataclasses of this schema."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def field_types(cls: type) -> dict[str, Any]:
    """Resolved field annotations of a parameter class, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def schema_rows(cls: type = TopologyParams, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every leaf parameter as ``(dotted key, type name, doc)``, in declaration order."""
    rows: list[tuple[str, str, str]] = []
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = types[f.name]
        if is_params_class(tp):
            rows.extend(schema_rows(tp, prefix=f"{key}."))
        else:
            type_name = tp.__name__ if isinstance(tp, type) else str(tp)
            rows.append((key, type_name, f.metadata["doc"]))
    return rows
