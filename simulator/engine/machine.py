"""The simulated accelerator: one SimPy environment and every component built from a
topology, plus the trace recorder the components report to.

A :class:`Machine` owns the clock (``env``), the scheduler that runs task greenlets, the
component graph and its network, the address map, the PEs, the physical allocators and,
in data mode, the bytes of memory. It is the one object the runtime and ``tl`` talk to.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import simpy

from simulator.engine.ipcq import Ipcq
from simulator.engine.memory import DataMemory, PhysicalAllocator
from simulator.engine.ops import Op
from simulator.engine.pe import PE
from simulator.engine.scheduler import Scheduler
from simulator.hw import graph as g
from simulator.hw.address_map import AddressError, AddressMap
from simulator.hw.links import Route
from simulator.hw.network import Network, Transfer
from simulator.hw.topology import PeCoord, Topology

# Order of hierarchy levels: a route's level is the highest level of any link it crosses.
LEVEL_ORDER = {"pe": 0, "cube": 1, "mesh": 2, "io": 3, "sip": 4, "host": 5}
# Memory spaces by the kind of graph node that holds the bytes.
SPACE_HBM, SPACE_TCM, SPACE_SRAM, SPACE_HOST = "HBM", "TCM", "SRAM", "HOST"
_NOWHERE = (None, None, None, None)


@dataclasses.dataclass(frozen=True, slots=True)
class DmaInfo:
    """What a DMA piece is, for its trace row (the route gives src and dst nodes)."""

    kind: str
    launch_id: int | None
    coll_id: int | None
    round: int | None


class Machine:
    """Every component of one simulated accelerator, and the counters traces need."""

    def __init__(self, topology: Topology, *, verify_data: bool = False, writer: Any = None):
        self.topology = topology
        self.params = topology.params
        self.verify_data = verify_data
        self.env = simpy.Environment()
        self.scheduler = Scheduler(self.env)
        self.graph = g.build_graph(topology)
        self.network = Network(self.env, self.graph.links)
        self.address_map = AddressMap(topology)
        self.data = DataMemory() if verify_data else None
        # A traces RunWriter (or None when tracing is off).
        self.writer = writer
        self._append_op = writer.appender("ops") if writer is not None else None
        self._append_dma = writer.appender("dma") if writer is not None else None
        self._append_pe_exec = writer.appender("pe_exec") if writer is not None else None
        self._route_columns: dict[tuple[str, str], tuple[tuple, tuple]] = {}
        self.n_trace_rows = 0
        self.next_op_id = 0
        self.next_dma_id = 0
        self.next_launch_id = 0
        self.next_coll_id = 0
        # Inter-PE queues behind tl.send / tl.recv.
        self.ipcq = Ipcq(self)

        pe_params = self.params.pe
        tcm_bytes = pe_params.tcm.capacity_kib * 1024
        self.pes = [PE(self, coord, tcm_bytes) for coord in topology.pe_coords()]
        self._routes: dict[tuple[str, str], Route] = {}
        self._page_node: dict[int, str] = {}
        self.page_bytes = self.params.system.page_kib * 1024
        self._node_place: dict[str, tuple[str, int | None, int | None, int | None]] = {}
        self._index_nodes()

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

    def allocate(self, memory: str, coord: PeCoord, nbytes: int) -> tuple[int, str]:
        """Reserve ``nbytes`` in ``memory`` ("hbm", "tcm", "sram") near ``coord``; returns
        (physical address, graph node). TCM taken here is no longer free for blocks."""
        if memory == "hbm":
            return self.hbm[coord.pe_global].alloc(nbytes), g.pe_hbm(coord)
        if memory == "tcm":
            pa = self.tcm[coord.pe_global].alloc(nbytes)
            self.pes[coord.pe_global].tcm_capacity_bytes -= nbytes
            return pa, g.pe_tcm(coord)
        return self.sram[(coord.sip, coord.cube)].alloc(nbytes), g.cube_sram(coord.sip, coord.cube)

    # -- places ------------------------------------------------------------------------
    def _index_nodes(self) -> None:
        place = self._node_place
        place[g.host()] = (SPACE_HOST, None, None, None)
        for c in self.topology.pe_coords():
            place[g.pe_hbm(c)] = (SPACE_HBM, c.sip, c.cube, c.pe)
            place[g.pe_tcm(c)] = (SPACE_TCM, c.sip, c.cube, c.pe)
            place[g.cube_sram(c.sip, c.cube)] = (SPACE_SRAM, c.sip, c.cube, None)

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
        event.callbacks.append(self._record_host_dma)
        return event

    def _record_host_dma(self, event: simpy.Event) -> None:
        self.record_transfer(event.value, event.value.tag)

    # -- trace recording -----------------------------------------------------------------
    def record_op(self, op: Op) -> None:
        append = self._append_op
        if append is None:
            return
        prog = op.program
        c = prog.pe.coord
        # Positional, in the ops schema order: this runs once per engine op.
        append(
            op.op_id,
            prog.launch_id,
            c.sip,
            c.cube,
            c.pe,
            c.pe_global,
            op.engine.name,
            op.name,
            op.issue_ns,
            op.start_ns,
            self.env.now,
            op.flops,
            op.nbytes,
            op.lane,
        )
        self.n_trace_rows += 1

    def record_transfer(self, transfer: Transfer, info: DmaInfo) -> None:
        dma_id = self.next_dma_id
        self.next_dma_id += 1
        append = self._append_dma
        if append is None:
            return
        route = transfer.route
        # The columns that depend only on the route, computed once per (src, dst).
        places = self._route_columns.get((route.src, route.dst))
        if places is None:
            places = self._route_columns[(route.src, route.dst)] = self._columns_of(route)
        # Positional, in the dma schema order: this runs once per DMA.
        append(dma_id, info.launch_id, info.kind, *places[0], transfer.bytes, *places[1],
               transfer.issue_ns, transfer.start_ns, transfer.end_ns, info.coll_id,
               info.round)  # fmt: skip
        self.n_trace_rows += 1

    def _columns_of(self, route: Route) -> tuple[tuple, tuple]:
        """(src, dst, their spaces, src sip/cube/pe, dst sip/cube/pe), (hops, level)."""
        src = self._node_place.get(route.src, _NOWHERE)
        dst = self._node_place.get(route.dst, _NOWHERE)
        level = max((link.level for link in route.links), key=LEVEL_ORDER.__getitem__,
                    default="pe")  # fmt: skip
        ends = (route.src, route.dst, src[0], dst[0], *src[1:], *dst[1:])
        return ends, (len(route.links), level)

    def record_links(self) -> None:
        """Write one row per link that carried bytes (call once, at the end of a run)."""
        writer = self.writer
        if writer is None:
            return
        carried = self.network.link_bytes()
        busy = self.network.link_busy_ns()
        for link in self.graph.links:
            if carried[link.index] == 0:
                continue
            writer.append(
                "links",
                link=link.name,
                src=link.src,
                dst=link.dst,
                level=link.level,
                bw_gbs=link.bw_gbs,
                bytes=carried[link.index],
                busy_ns=busy[link.index],
            )
            self.n_trace_rows += 1

    def record_pe_exec(self, program: Any) -> None:
        """One pe_exec row for a finished program."""
        append = self._append_pe_exec
        if append is None:
            return
        c = program.pe.coord
        append(
            program.launch_id,
            c.sip,
            c.cube,
            c.pe,
            c.pe_global,
            program.dispatch_ns,
            program.exec_start_ns,
            program.exec_end_ns,
        )
        self.n_trace_rows += 1

    def record(self, table: str, **columns: Any) -> None:
        """Append one row to a trace table (no-op when tracing is off)."""
        if self.writer is not None:
            self.writer.append(table, **columns)
            self.n_trace_rows += 1
