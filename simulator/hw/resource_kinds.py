"""What kind of resource a link or memory is, named after the parameter setting its bandwidth.

A transfer's time is bound by its route's narrowest link or memory; traces name that
resource (``deps.resource``) and its kind (``deps.resource_kind``), so an analysis can
say "DMA bound by mesh_link" and a user knows which topology key moves it
(``sip.mesh_link.bw_gbs``). Kinds:

==================  ==================================================  =====================
kind                links (either direction) and memories               bandwidth parameter
==================  ==================================================  =====================
``cpu_dma_link``    pe_cpu <-> pe_dma                                   pe.cpu_dma_link
``tcm``             pe_dma <-> tcm, tcm <-> gemm / math; the TCM        pe.tcm
``hbm``             pe_dma or cube noc <-> hbm slice; the HBM slice     cube.hbm
``pe_link``         pe_cpu or pe_dma <-> cube noc                       cube.pe_link
``m_cpu_link``      cube noc <-> m_cpu                                  cube.m_cpu_link
``sram``            cube noc <-> cube sram; the CUBE_SRAM               cube.sram
``mesh_link``       cube noc <-> neighbour cube noc                     sip.mesh_link
``io_link``         io noc <-> cube noc (mesh row 0)                    sip.io_link
``io_port_link``    io noc <-> io_cpu, host_port, sip_port              sip.io_port_link
``sip_link``        sip_port <-> switch                                 system.sip_link
``host_link``       host <-> host_port                                  system.host_link
``mcpu_local``      the M_CPU's local memory                            cube.m_cpu_local_bw_gbs
``iocpu_local``     the IO_CPU's local memory                           sip.io_cpu_local_bw_gbs
==================  ==================================================  =====================
"""

from __future__ import annotations

from simulator.hw.graph import Graph

# Link kind by the kinds of its two end nodes (graph.NodeInfo.kind), in either order.
_LINK_KINDS: dict[frozenset[str], str] = {
    frozenset({"pe_cpu", "pe_dma"}): "cpu_dma_link",
    frozenset({"pe_dma", "pe_tcm"}): "tcm",
    frozenset({"pe_tcm", "pe_gemm"}): "tcm",
    frozenset({"pe_tcm", "pe_math"}): "tcm",
    frozenset({"pe_dma", "pe_hbm"}): "hbm",
    frozenset({"cube_noc", "pe_hbm"}): "hbm",
    frozenset({"pe_cpu", "cube_noc"}): "pe_link",
    frozenset({"pe_dma", "cube_noc"}): "pe_link",
    frozenset({"cube_noc", "m_cpu"}): "m_cpu_link",
    frozenset({"cube_noc", "cube_sram"}): "sram",
    frozenset({"cube_noc"}): "mesh_link",
    frozenset({"io_noc", "cube_noc"}): "io_link",
    frozenset({"io_noc", "io_cpu"}): "io_port_link",
    frozenset({"io_noc", "host_port"}): "io_port_link",
    frozenset({"io_noc", "sip_port"}): "io_port_link",
    frozenset({"sip_port", "switch"}): "sip_link",
    frozenset({"host", "host_port"}): "host_link",
}
_LINK_SEPARATOR = "->"


class ResourceKinds:
    """Kinds of a graph's links (by name, ``src->dst``) and memories (by node name).

    Raises KeyError naming the resource for a name that is neither.
    """

    def __init__(self, graph: Graph) -> None:
        self._graph = graph
        self._memory_kind = {m.node: m.kind for m in graph.memories}
        self._cache: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        """The kind of the link or memory called ``name`` (see the module table)."""
        kind = self._cache.get(name)
        if kind is None:
            kind = self._cache[name] = self._kind(name)
        return kind

    def _kind(self, name: str) -> str:
        memory = self._memory_kind.get(name)
        if memory is not None:
            return memory
        src, sep, dst = name.partition(_LINK_SEPARATOR)
        if sep:
            ends = frozenset({self._graph.node_info(src).kind, self._graph.node_info(dst).kind})
            kind = _LINK_KINDS.get(ends)
            if kind is not None:
                return kind
        raise KeyError(f"no resource kind for {name!r}: neither a memory nor a known link")
