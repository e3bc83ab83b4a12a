"""Component graph of a topology and its deterministic routing.

Nodes are components named only by the functions below (``pe_dma(c)`` ->
``"sip0.cube3.pe5.dma"``). Links are directed :class:`~simulator.hw.links.Link` edges,
one each way for every physical connection:

==========  ==============================================================  ==================
level       connection                                                       parameters
==========  ==============================================================  ==================
``pe``      pe_cpu <-> pe_dma                                                pe.cpu_dma_link
``pe``      pe_dma <-> own tcm; tcm <-> gemm; tcm <-> math                   0 ns, pe.tcm.bw_gbs
``pe``      pe_dma <-> own hbm slice (the fast path)                         0 ns, cube.hbm.bw_gbs
``cube``    pe_cpu <-> cube noc; pe_dma <-> cube noc                         cube.pe_link
``cube``    cube noc <-> every hbm slice of the cube                         0 ns, cube.hbm.bw_gbs
``cube``    cube noc <-> sram                                                0 ns, cube.sram.bw_gbs
``cube``    cube noc <-> m_cpu                                               cube.m_cpu_link
``mesh``    cube noc <-> N/S/E/W neighbour cube noc                          sip.mesh_link
``io``      io noc <-> io_cpu, host_port, sip_port                           sip.io_port_link
``io``      io noc <-> each cube noc of mesh row 0                           sip.io_link
``sip``     sip_port <-> switch                                              system.sip_link
``host``    host <-> host_port                                               system.host_link
==========  ==============================================================  ==================

Memories (each HBM slice, CUBE_SRAM, TCM, and the M_CPU and IO_CPU local memories,
held by the m_cpu and io_cpu nodes) are also listed as :class:`~simulator.hw.links.Memory`
capacities (:attr:`Graph.memories`): the network shares each one's ``bw_gbs`` among every
flow reading or writing it, through any port, while each link above carries its
bandwidth in each direction.

Links into a memory have no latency of their own: the memory's access ``latency_ns`` is
its node overhead, paid once on arrival (see the cost convention in ``links.py``).
Node overheads: host, switch, io_cpu, io_noc, m_cpu, cube noc and pe_cpu use their
``*_overhead_ns``; sram, hbm and tcm their ``latency_ns``; pe_dma, ports, gemm and math
0 (the per-DMA issue cost ``pe.dma_overhead_ns`` is charged by the engine once per DMA,
not per packet crossing the DMA).

Routing is explicit, not a shortest-path search, so ties can never flip:

1. Inside one PE the PE's links form a tree (cpu - dma - {tcm - {gemm, math}, own hbm});
   the route is the tree path and never touches the NoC.
2. Otherwise each end climbs to its hub (its cube NoC, its SIP's IO NoC, or the host /
   switch themselves), the hubs are joined, and the end descends from its hub.
3. Hubs in one SIP: cube to cube by dimension order over the mesh, X (column) first,
   then Y (row); a cube reaches the IO NoC along its own column to row 0.
4. Hubs in different SIPs: up to the source SIP's IO NoC, sip_port, switch, the target's
   sip_port and IO NoC, then down. The host enters and leaves a SIP through that SIP's
   host_port; traffic between the host and the switch uses SIP 0.
5. A node visited twice (a port climbing to its IO NoC and straight back) has the loop cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.hw.links import Link, Memory, Route
from simulator.hw.params import LinkParams
from simulator.hw.topology import PeCoord, Topology


class GraphError(ValueError):
    """A node name that is not in the graph."""


class RoutingError(GraphError):
    """No route between two nodes; the message names both."""


# --- node names: the only place they are spelled -------------------------------------------


def host() -> str:
    """The host CPU."""
    return "host"


def switch() -> str:
    """The system switch joining every SIP's sip_port."""
    return "switch"


def io_cpu(sip: int) -> str:
    """The IO_CPU of SIP ``sip`` (on its IOCHIPLET die)."""
    return f"sip{sip}.io_cpu"


def io_noc(sip: int) -> str:
    """The IO chiplet NoC of SIP ``sip``."""
    return f"sip{sip}.io_noc"


def host_port(sip: int) -> str:
    """SIP ``sip``'s PCIe port to the host."""
    return f"sip{sip}.host_port"


def sip_port(sip: int) -> str:
    """SIP ``sip``'s port to the system switch."""
    return f"sip{sip}.sip_port"


def m_cpu(sip: int, cube: int) -> str:
    """The M_CPU of a cube."""
    return f"sip{sip}.cube{cube}.m_cpu"


def cube_noc(sip: int, cube: int) -> str:
    """The NoC of a cube."""
    return f"sip{sip}.cube{cube}.noc"


def cube_sram(sip: int, cube: int) -> str:
    """The shared SRAM of a cube."""
    return f"sip{sip}.cube{cube}.sram"


def pe_cpu(c: PeCoord) -> str:
    """The PE_CPU of PE ``c``."""
    return f"sip{c.sip}.cube{c.cube}.pe{c.pe}.cpu"


def pe_dma(c: PeCoord) -> str:
    """The PE_DMA of PE ``c``."""
    return f"sip{c.sip}.cube{c.cube}.pe{c.pe}.dma"


def pe_tcm(c: PeCoord) -> str:
    """The TCM scratchpad of PE ``c``."""
    return f"sip{c.sip}.cube{c.cube}.pe{c.pe}.tcm"


def pe_hbm(c: PeCoord) -> str:
    """PE ``c``'s slice of its cube's HBM stack."""
    return f"sip{c.sip}.cube{c.cube}.pe{c.pe}.hbm"


def pe_gemm(c: PeCoord) -> str:
    """The GEMM engine of PE ``c``."""
    return f"sip{c.sip}.cube{c.cube}.pe{c.pe}.gemm"


def pe_math(c: PeCoord) -> str:
    """The MATH engine of PE ``c``."""
    return f"sip{c.sip}.cube{c.cube}.pe{c.pe}.math"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node is and where: ``kind`` is the name of the function that names it.

    ``sip`` is None for host and switch; ``cube`` is None outside cubes; ``coord`` is
    set only for the nodes of a PE.
    """

    kind: str
    sip: int | None = None
    cube: int | None = None
    coord: PeCoord | None = None


# Parent of each PE node in the PE's internal tree (pe_dma is the root).
_PE_TREE_PARENT = {
    "pe_cpu": "pe_dma",
    "pe_tcm": "pe_dma",
    "pe_hbm": "pe_dma",
    "pe_gemm": "pe_tcm",
    "pe_math": "pe_tcm",
}
# PE nodes with their own link to the cube NoC.
_PE_NOC_PORTS = frozenset({"pe_cpu", "pe_dma", "pe_hbm"})
_PE_NODE_NAMERS = {
    "pe_cpu": pe_cpu,
    "pe_dma": pe_dma,
    "pe_tcm": pe_tcm,
    "pe_hbm": pe_hbm,
    "pe_gemm": pe_gemm,
    "pe_math": pe_math,
}


class Graph:
    """Nodes, directed links and cached deterministic routes of one topology."""

    def __init__(self, topo: Topology) -> None:
        self.topology = topo
        self._info: dict[str, NodeInfo] = {}
        self._overhead_ns: dict[str, float] = {}
        self._links: list[Link] = []
        self._memories: list[Memory] = []
        self._link_by_ends: dict[tuple[str, str], Link] = {}
        self._routes: dict[tuple[str, str], Route] = {}
        self._build()

    # --- public API ---------------------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        """Every node name, in build order (a new list)."""
        return list(self._info)

    @property
    def links(self) -> list[Link]:
        """Every directed link, in ``index`` order (do not mutate)."""
        return self._links

    @property
    def memories(self) -> list[Memory]:
        """Every memory as a shared capacity, in build order (do not mutate)."""
        return self._memories

    def node_info(self, node: str) -> NodeInfo:
        """Kind and location of ``node``; raises :class:`GraphError` if unknown."""
        info = self._info.get(node)
        if info is None:
            raise GraphError(f"unknown node {node!r} (name nodes with the functions in graph.py)")
        return info

    def node_overhead_ns(self, node: str) -> float:
        """Cost paid by anything arriving at ``node``; raises :class:`GraphError` if unknown."""
        self.node_info(node)
        return self._overhead_ns[node]

    def link(self, src: str, dst: str) -> Link:
        """The direct link ``src -> dst``; raises :class:`RoutingError` if there is none."""
        link = self._link_by_ends.get((src, dst))
        if link is None:
            raise RoutingError(f"no direct link from {src!r} to {dst!r}")
        return link

    def route(self, src: str, dst: str) -> Route:
        """The deterministic route ``src -> dst`` (cached; ``src == dst`` has no links).

        Raises :class:`RoutingError` naming both nodes if either is unknown.
        """
        route = self._routes.get((src, dst))
        if route is None:
            route = self._routes[(src, dst)] = self._make_route(src, dst)
        return route

    def path(self, src: str, dst: str) -> list[str]:
        """Node names visited from ``src`` to ``dst``, both included."""
        return list(self.route(src, dst).nodes)

    def path_latency_ns(self, src: str, dst: str) -> float:
        """Fixed latency of the route: per hop, link latency plus arrival-node overhead."""
        return self.route(src, dst).latency_ns

    # --- construction -------------------------------------------------------------------

    def _add_node(self, name: str, info: NodeInfo, overhead_ns: float) -> None:
        self._info[name] = info
        self._overhead_ns[name] = overhead_ns

    def _connect(self, a: str, b: str, latency_ns: float, bw_gbs: float, level: str) -> None:
        """Add the two directed links of one physical connection."""
        for src, dst in ((a, b), (b, a)):
            link = Link(len(self._links), f"{src}->{dst}", src, dst, latency_ns, bw_gbs, level)
            self._links.append(link)
            self._link_by_ends[(src, dst)] = link

    def _build(self) -> None:
        topo = self.topology
        sip, system = topo.params.sip, topo.params.system
        self._add_node(host(), NodeInfo("host"), system.host_overhead_ns)
        self._add_node(switch(), NodeInfo("switch"), system.switch_overhead_ns)
        for s in range(topo.num_sips):
            self._add_node(io_noc(s), NodeInfo("io_noc", s), sip.io_noc_overhead_ns)
            self._add_node(io_cpu(s), NodeInfo("io_cpu", s), sip.io_cpu_overhead_ns)
            self._add_node(host_port(s), NodeInfo("host_port", s), 0.0)
            self._add_node(sip_port(s), NodeInfo("sip_port", s), 0.0)
            self._memories.append(Memory(io_cpu(s), sip.io_cpu_local_bw_gbs, "iocpu_local"))
            for node in (io_cpu(s), host_port(s), sip_port(s)):
                self._connect(io_noc(s), node, *_lat_bw(sip.io_port_link), "io")
            self._connect(host(), host_port(s), *_lat_bw(system.host_link), "host")
            self._connect(sip_port(s), switch(), *_lat_bw(system.sip_link), "sip")
            for k in range(topo.cubes_per_sip):
                self._build_cube(s, k)
            ml, il = sip.mesh_link, sip.io_link
            for k in range(topo.cubes_per_sip):
                row, col = divmod(k, topo.cube_cols)
                if col + 1 < topo.cube_cols:
                    self._connect(cube_noc(s, k), cube_noc(s, k + 1), *_lat_bw(ml), "mesh")
                if row + 1 < topo.cube_rows:
                    south = k + topo.cube_cols
                    self._connect(cube_noc(s, k), cube_noc(s, south), *_lat_bw(ml), "mesh")
            for col in range(topo.cube_cols):  # row-0 cubes have index == column
                self._connect(io_noc(s), cube_noc(s, col), *_lat_bw(il), "io")

    def _build_cube(self, s: int, k: int) -> None:
        topo = self.topology
        pe, cube = topo.params.pe, topo.params.cube
        noc = cube_noc(s, k)
        self._add_node(noc, NodeInfo("cube_noc", s, k), cube.noc_overhead_ns)
        self._add_node(m_cpu(s, k), NodeInfo("m_cpu", s, k), cube.m_cpu_overhead_ns)
        self._add_node(cube_sram(s, k), NodeInfo("cube_sram", s, k), cube.sram.latency_ns)
        self._memories.append(Memory(m_cpu(s, k), cube.m_cpu_local_bw_gbs, "mcpu_local"))
        self._memories.append(Memory(cube_sram(s, k), cube.sram.bw_gbs, "sram"))
        self._connect(noc, m_cpu(s, k), *_lat_bw(cube.m_cpu_link), "cube")
        self._connect(noc, cube_sram(s, k), 0.0, cube.sram.bw_gbs, "cube")
        overhead_by_kind = {
            "pe_cpu": pe.cpu_overhead_ns,
            "pe_dma": 0.0,
            "pe_tcm": pe.tcm.latency_ns,
            "pe_hbm": cube.hbm.latency_ns,
            "pe_gemm": 0.0,
            "pe_math": 0.0,
        }
        for i in range(topo.pes_per_cube):
            c = topo.coord(s, k, i)
            for kind, namer in _PE_NODE_NAMERS.items():
                self._add_node(namer(c), NodeInfo(kind, s, k, c), overhead_by_kind[kind])
            self._memories.append(Memory(pe_tcm(c), pe.tcm.bw_gbs, "tcm"))
            hbm = cube.hbm
            self._memories.append(Memory(pe_hbm(c), hbm.bw_gbs, "hbm", hbm.rw_mix_bw_fraction))
            self._connect(pe_cpu(c), pe_dma(c), *_lat_bw(pe.cpu_dma_link), "pe")
            self._connect(pe_dma(c), pe_tcm(c), 0.0, pe.tcm.bw_gbs, "pe")
            self._connect(pe_dma(c), pe_hbm(c), 0.0, cube.hbm.bw_gbs, "pe")
            self._connect(pe_tcm(c), pe_gemm(c), 0.0, pe.tcm.bw_gbs, "pe")
            self._connect(pe_tcm(c), pe_math(c), 0.0, pe.tcm.bw_gbs, "pe")
            self._connect(pe_cpu(c), noc, *_lat_bw(cube.pe_link), "cube")
            self._connect(pe_dma(c), noc, *_lat_bw(cube.pe_link), "cube")
            self._connect(noc, pe_hbm(c), 0.0, cube.hbm.bw_gbs, "cube")

    # --- routing ------------------------------------------------------------------------

    def _make_route(self, src: str, dst: str) -> Route:
        for node in (src, dst):
            if node not in self._info:
                raise RoutingError(f"no route from {src!r} to {dst!r}: unknown node {node!r}")
        nodes = self._node_path(src, dst)
        links = []
        latency_ns = 0.0
        for a, b in zip(nodes, nodes[1:], strict=False):
            link = self._link_by_ends.get((a, b))
            if link is None:  # a routing-rule bug, not user input
                raise RoutingError(f"no route from {src!r} to {dst!r}: no link {a!r} -> {b!r}")
            links.append(link)
            latency_ns += link.latency_ns + self._overhead_ns[b]
        bottleneck = min((link.bw_gbs for link in links), default=math.inf)
        return Route(src, dst, tuple(nodes), tuple(links), latency_ns, bottleneck)

    def _node_path(self, src: str, dst: str) -> list[str]:
        if src == dst:
            return [src]
        a, b = self._info[src], self._info[dst]
        if a.coord is not None and a.coord == b.coord:
            return _pe_tree_path(a, b)
        up = self._climb(src)
        down = self._climb(dst)[::-1]
        path = up[:-1] + self._hub_path(up[-1], down[0]) + down[1:]
        return _cut_loops(path)

    def _climb(self, node: str) -> list[str]:
        """``node`` and the nodes above it up to its hub, in order."""
        info = self._info[node]
        if info.coord is not None:
            chain = [node]
            kind = info.kind
            while kind not in _PE_NOC_PORTS:
                kind = _PE_TREE_PARENT[kind]
                chain.append(_PE_NODE_NAMERS[kind](info.coord))
            chain.append(cube_noc(info.sip, info.cube))
            return chain
        if info.kind in ("cube_noc", "io_noc", "host", "switch"):
            return [node]
        if info.cube is not None:
            return [node, cube_noc(info.sip, info.cube)]
        return [node, io_noc(info.sip)]

    def _hub_path(self, h1: str, h2: str) -> list[str]:
        """Path between two hubs (cube NoC, IO NoC, host or switch), both included."""
        a, b = self._info[h1].sip, self._info[h2].sip
        if a is not None and a == b:
            return self._in_sip(h1, h2)
        # Leave h1's SIP through its IO NoC (or start outside), cross, enter h2's SIP.
        path = [h1] if a is None else self._in_sip(h1, io_noc(a))
        if a is None and b is None:  # host <-> switch: through SIP 0's IO chiplet
            return path + [_port(h1, 0), io_noc(0), _port(h2, 0), h2]
        if b is None:
            return path + [_port(h2, a), h2]
        if a is None:
            return path + [_port(h1, b)] + self._in_sip(io_noc(b), h2)
        return path + [sip_port(a), switch(), sip_port(b)] + self._in_sip(io_noc(b), h2)

    def _in_sip(self, h1: str, h2: str) -> list[str]:
        """Path between two hubs of one SIP: dimension order X then Y; IO via row 0."""
        i1, i2 = self._info[h1], self._info[h2]
        s = i1.sip
        cols = self.topology.cube_cols
        if i1.cube is None and i2.cube is None:
            return [h1]
        if i1.cube is None:  # IO NoC down to a cube: enter at row 0 of its column
            return [h1] + self._mesh_path(s, i2.cube % cols, i2.cube)
        if i2.cube is None:  # a cube up to the IO NoC: along its column to row 0
            return self._mesh_path(s, i1.cube, i1.cube % cols) + [h2]
        return self._mesh_path(s, i1.cube, i2.cube)

    def _mesh_path(self, s: int, k1: int, k2: int) -> list[str]:
        """Cube NoCs from cube ``k1`` to ``k2``: columns first (X), then rows (Y)."""
        cols = self.topology.cube_cols
        row, col = divmod(k1, cols)
        row2, col2 = divmod(k2, cols)
        path = [cube_noc(s, k1)]
        while col != col2:
            col += 1 if col2 > col else -1
            path.append(cube_noc(s, row * cols + col))
        while row != row2:
            row += 1 if row2 > row else -1
            path.append(cube_noc(s, row * cols + col))
        return path


def _lat_bw(link_params: LinkParams) -> tuple[float, float]:
    return link_params.latency_ns, link_params.bw_gbs


def _port(external: str, sip: int) -> str:
    """The port through which ``external`` (host or switch) reaches SIP ``sip``."""
    return host_port(sip) if external == host() else sip_port(sip)


def _pe_tree_path(a: NodeInfo, b: NodeInfo) -> list[str]:
    """Path between two nodes of one PE along its internal tree (never the NoC)."""

    def ancestors(kind: str) -> list[str]:
        chain = [kind]
        while chain[-1] in _PE_TREE_PARENT:
            chain.append(_PE_TREE_PARENT[chain[-1]])
        return chain

    up, down = ancestors(a.kind), ancestors(b.kind)
    meet = next(kind for kind in up if kind in down)
    kinds = up[: up.index(meet) + 1] + down[: down.index(meet)][::-1]
    return [_PE_NODE_NAMERS[kind](a.coord) for kind in kinds]


def _cut_loops(path: list[str]) -> list[str]:
    """``path`` with every revisit loop removed (a -> x -> a -> b becomes a -> b)."""
    out: list[str] = []
    position: dict[str, int] = {}
    for node in path:
        if node in position:
            for dropped in out[position[node] + 1 :]:
                del position[dropped]
            del out[position[node] + 1 :]
        else:
            position[node] = len(out)
            out.append(node)
    return out


_GRAPHS: dict[str, Graph] = {}


def build_graph(topo: Topology) -> Graph:
    """The component graph of ``topo`` (one per topology hash, built on first use)."""
    graph = _GRAPHS.get(topo.hash)
    if graph is None:
        graph = _GRAPHS[topo.hash] = Graph(topo)
    return graph
