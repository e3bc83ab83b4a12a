"""The simulated accelerator: one SimPy environment and every component built from a
topology.

A :class:`Machine` owns the clock (``env``), the scheduler that runs task greenlets, the
component graph and its network, the address map, the PEs, the physical allocators and,
in data mode, the bytes of memory. It is the one object the runtime and ``tl`` talk to.
Trace rows are not its business: components report to the machine's
:class:`~simulator.engine.recorder.Recorder`.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any

import simpy

from simulator.engine.environment import Environment
from simulator.engine.ipcq import Ipcq
from simulator.engine.memory import DataMemory, PhysicalAllocator
from simulator.engine.pe import PE
from simulator.engine.recorder import DmaInfo, Recorder, TraceSink
from simulator.engine.scheduler import Scheduler
from simulator.hw import graph as g
from simulator.hw.address_map import AddressError, AddressMap
from simulator.hw.links import Route
from simulator.hw.network import Network
from simulator.hw.resource_kinds import ResourceKinds
from simulator.hw.topology import PeCoord, Topology


class Machine:
    """Every component of one simulated accelerator.

    ``writer`` is the trace sink (a ``traces`` RunWriter), or None to trace nothing.
    """

    def __init__(
        self, topology: Topology, *, verify_data: bool = False, writer: TraceSink | None = None
    ):
        self.topology = topology
        self.params = topology.params
        self.verify_data = verify_data
        self.env = Environment()
        self.scheduler = Scheduler(self.env)
        self.graph = g.build_graph(topology)
        self.network = Network(self.env, self.graph.links, memories=self.graph.memories)
        self.address_map = AddressMap(topology)
        self.data = DataMemory() if verify_data else None
        self.recorder = Recorder(self.env, topology, writer, self.graph.memories,
                                 resource_kind=ResourceKinds(self.graph))  # fmt: skip
        # The launch path's CPU queues and message routes; engine/launch.py builds it on
        # the first launch (it imports this module, so it cannot be built here).
        self.launch_path: Any = None
        # Inter-PE queues behind tl.send / tl.recv.
        self.ipcq = Ipcq(self)
        # Tensors whose address the host handed out (``Tensor.data_ptr()``), sorted by
        # VA as (va, end_va, tensor): what a pointer a kernel loads from memory points into.
        self._addressable: list[tuple[int, int, Any]] = []

        pe_params = self.params.pe
        tcm_bytes = pe_params.tcm.capacity_kib * 1024
        self.pes = [PE(self, coord, tcm_bytes) for coord in topology.pe_coords()]
        self._routes: dict[tuple[str, str], Route] = {}
        self._page_node: dict[int, str] = {}
        self.page_bytes = self.params.system.page_kib * 1024

        amap = self.address_map
        page = self.page_bytes
        hbm_bytes = self.params.cube.hbm.slice_capacity_mib * 1024 * 1024
        self.hbm = [
            PhysicalAllocator(f"HBM slice of {pe.name}", amap.hbm_base(pe.coord), hbm_bytes, page)
            for pe in self.pes
        ]
        self.tcm = [
            PhysicalAllocator(f"TCM of {pe.name}", amap.tcm_base(pe.coord), tcm_bytes, page)
            for pe in self.pes
        ]
        sram_bytes = self.params.cube.sram.capacity_mib * 1024 * 1024
        self.sram = {
            (s, k): PhysicalAllocator(
                f"CUBE_SRAM of sip{s}.cube{k}", amap.sram_base(s, k), sram_bytes, page
            )
            for s in range(topology.num_sips)
            for k in range(topology.cubes_per_sip)
        }
        mcpu_bytes = self.params.cube.m_cpu_local_kib * 1024
        self.mcpu_local = {
            key: PhysicalAllocator(
                f"MCPU_LOCAL of sip{key[0]}.cube{key[1]}", amap.m_cpu_base(*key), mcpu_bytes, page
            )
            for key in self.sram
        }
        iocpu_bytes = self.params.sip.io_cpu_local_mib * 1024 * 1024
        self.iocpu_local = [
            PhysicalAllocator(
                f"IOCPU local memory of sip{s}", amap.io_cpu_base(s), iocpu_bytes, page
            )
            for s in range(topology.num_sips)
        ]

    def allocate(self, memory: str, coord: PeCoord, nbytes: int) -> tuple[int, str]:
        """Reserve ``nbytes`` in ``memory`` ("hbm", "tcm", "sram", "mcpu_local",
        "iocpu_local") near ``coord`` (its HBM slice or TCM, its cube's SRAM or M_CPU
        local memory, its SIP's IO_CPU local memory); returns (physical address, graph
        node). TCM taken here is no longer free for blocks."""
        if memory == "hbm":
            return self.hbm[coord.pe_global].alloc(nbytes), g.pe_hbm(coord)
        if memory == "tcm":
            pa = self.tcm[coord.pe_global].alloc(nbytes)
            self.pes[coord.pe_global].tcm_capacity_bytes -= nbytes
            return pa, g.pe_tcm(coord)
        if memory == "mcpu_local":
            pa = self.mcpu_local[(coord.sip, coord.cube)].alloc(nbytes)
            return pa, g.m_cpu(coord.sip, coord.cube)
        if memory == "iocpu_local":
            return self.iocpu_local[coord.sip].alloc(nbytes), g.io_cpu(coord.sip)
        return self.sram[(coord.sip, coord.cube)].alloc(nbytes), g.cube_sram(coord.sip, coord.cube)

    # -- places ------------------------------------------------------------------------
    def node_of(self, pa: int) -> str:
        """The graph node owning physical address ``pa`` (AddressError if unmapped).

        Cached per MMU page when the whole page belongs to one component (its first
        and last byte decode to the same node); DMAs call this once per transfer.
        """
        page = pa // self.page_bytes
        node = self._page_node.get(page)
        if node is None:
            amap = self.address_map
            node = amap.decode(pa).node
            first = page * self.page_bytes
            try:
                whole_page = amap.decode(first + self.page_bytes - 1).node == node
                whole_page = whole_page and amap.decode(first).node == node
            except AddressError:
                whole_page = False
            if whole_page:
                self._page_node[page] = node
        return node

    def pe_at(self, coord: PeCoord) -> PE:
        return self.pes[coord.pe_global]

    # -- addresses handed to the host ---------------------------------------------------
    def register_addressable(self, va: int, nbytes: int, tensor: Any) -> None:
        """Record that ``tensor``'s elements live at ``va .. va + nbytes`` for pointers
        loaded from memory (idempotent)."""
        entry = (va, va + nbytes, tensor)
        at = bisect.bisect_left(self._addressable, va, key=lambda e: e[0])
        if at < len(self._addressable) and self._addressable[at][0] == va:
            return
        self._addressable.insert(at, entry)

    def addressable_at(self, va: int) -> tuple[int, Any] | None:
        """``(base_va, tensor)`` of the registered tensor whose bytes hold ``va``."""
        at = bisect.bisect_right(self._addressable, va, key=lambda e: e[0]) - 1
        if at >= 0:
            base_va, end_va, tensor = self._addressable[at]
            if va < end_va:
                return base_va, tensor
        return None

    # -- DMA routes --------------------------------------------------------------------
    def dma_route(self, src: str, dst: str) -> Route:
        """The route a DMA from ``src`` to ``dst`` takes, with its fixed cost folded in:
        the DMA engine's issue overhead plus the source memory's access latency plus the
        route's own latency (hops' link latencies and arrival-node overheads)."""
        key = (src, dst)
        route = self._routes.get(key)
        if route is None:
            base = self.graph.route(src, dst)
            extra = self.params.pe.dma_overhead_ns + self.graph.node_overhead_ns(src)
            route = dataclasses.replace(base, latency_ns=base.latency_ns + extra)
            self._routes[key] = route
        return route

    def transfer(self, src: str, dst: str, nbytes: int, info: DmaInfo) -> simpy.Event:
        """A DMA outside any kernel (host copies): returns the network event and records
        its trace row when it completes."""
        event = self.network.transfer(self.dma_route(src, dst), nbytes, info)
        event.callbacks.append(self.recorder.transfer_done)
        return event
