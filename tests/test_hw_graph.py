"""Tests for simulator.hw.graph: node names, links and deterministic routing.

Expected latencies are hand-written sums of the YAML numbers (read straight from
default.yaml; sip4x4 and multi_sip change only sizes), per the cost convention: each
hop pays the link latency plus the overhead of the node it arrives at.
"""

from __future__ import annotations

import itertools
import math

import pytest
import yaml

from simulator.hw import graph as g
from simulator.hw.topology import TOPOLOGY_DIR, load_topology

Y = yaml.safe_load((TOPOLOGY_DIR / "default.yaml").read_text())
PE_LINK = Y["cube"]["pe_link"]
MESH = Y["sip"]["mesh_link"]
IO_LINK = Y["sip"]["io_link"]
IO_PORT = Y["sip"]["io_port_link"]
SIP_LINK = Y["system"]["sip_link"]
HOST_LINK = Y["system"]["host_link"]
NOC_NS = Y["cube"]["noc_overhead_ns"]
IO_NOC_NS = Y["sip"]["io_noc_overhead_ns"]
HBM = Y["cube"]["hbm"]
TCM = Y["pe"]["tcm"]


@pytest.fixture(scope="module")
def default():
    topo = load_topology("default")
    return topo, g.build_graph(topo)


@pytest.fixture(scope="module")
def sip4x4():
    topo = load_topology("sip4x4")
    return topo, g.build_graph(topo)


@pytest.fixture(scope="module")
def multi():
    topo = load_topology("multi_sip")
    return topo, g.build_graph(topo)


def test_node_names():
    """Node names are the dotted strings the engine and traces use."""
    c = load_topology("default").coord(0, 3, 5)
    assert g.pe_dma(c) == "sip0.cube3.pe5.dma"
    assert g.pe_hbm(c) == "sip0.cube3.pe5.hbm"
    assert g.cube_noc(1, 2) == "sip1.cube2.noc"
    assert g.io_cpu(2) == "sip2.io_cpu"
    assert (g.host(), g.switch()) == ("host", "switch")


def test_node_and_link_counts(default, multi):
    """Counts match the structure: 6 nodes and 8 connections per PE, both link directions."""
    # nodes: host, switch + per SIP 4 IO nodes + per cube (noc, m_cpu, sram + 8 PEs x 6)
    assert len(default[1].nodes) == 2 + 4 + 4 * (3 + 8 * 6)
    assert len(multi[1].nodes) == 2 + 4 * (4 + 4 * (3 + 8 * 6))
    # connections per SIP: PEs 32*8, cubes 4*2, mesh 2*1+2*1, io 3 + 2 row-0 cubes, host 1, sip 1
    per_sip = 32 * 8 + 4 * 2 + 4 + 5 + 1 + 1
    assert len(default[1].links) == 2 * per_sip
    assert len(multi[1].links) == 2 * 4 * per_sip


def test_links_dense_named_and_paired(multi):
    """Link indices are 0..n-1, names are src->dst, every link has its reverse."""
    graph = multi[1]
    ends = {(link.src, link.dst) for link in graph.links}
    for i, link in enumerate(graph.links):
        assert link.index == i
        assert link.name == f"{link.src}->{link.dst}"
        assert (link.dst, link.src) in ends
        assert link.level in {"pe", "cube", "mesh", "io", "sip", "host"}
        assert graph.link(link.src, link.dst) is link


def test_link_levels(default):
    """Levels follow the hierarchy: own HBM is pe, NoC ports cube, mesh mesh, and so on."""
    topo, graph = default
    c = topo.coord(0, 0, 0)
    assert graph.link(g.pe_dma(c), g.pe_hbm(c)).level == "pe"
    assert graph.link(g.pe_dma(c), g.pe_tcm(c)).level == "pe"
    assert graph.link(g.pe_dma(c), g.cube_noc(0, 0)).level == "cube"
    assert graph.link(g.cube_noc(0, 0), g.pe_hbm(c)).level == "cube"
    assert graph.link(g.cube_noc(0, 0), g.cube_noc(0, 1)).level == "mesh"
    assert graph.link(g.io_noc(0), g.cube_noc(0, 1)).level == "io"
    assert graph.link(g.sip_port(0), g.switch()).level == "sip"
    assert graph.link(g.host(), g.host_port(0)).level == "host"


def test_io_noc_attaches_only_to_row_0(sip4x4):
    """The IO NoC links to the cube NoCs of mesh row 0 only."""
    graph = sip4x4[1]
    attached = sorted(link.dst for link in graph.links if link.src == g.io_noc(0))
    row0 = sorted(g.cube_noc(0, k) for k in range(4))
    assert attached == sorted(row0 + [g.io_cpu(0), g.host_port(0), g.sip_port(0)])


def test_node_overheads(default):
    """Memories charge their access latency, routers and CPUs their overhead, DMA none."""
    topo, graph = default
    c = topo.coord(0, 1, 2)
    assert graph.node_overhead_ns(g.pe_hbm(c)) == HBM["latency_ns"]
    assert graph.node_overhead_ns(g.pe_tcm(c)) == TCM["latency_ns"]
    assert graph.node_overhead_ns(g.cube_sram(0, 1)) == Y["cube"]["sram"]["latency_ns"]
    assert graph.node_overhead_ns(g.cube_noc(0, 1)) == NOC_NS
    assert graph.node_overhead_ns(g.m_cpu(0, 1)) == Y["cube"]["m_cpu_overhead_ns"]
    assert graph.node_overhead_ns(g.io_cpu(0)) == Y["sip"]["io_cpu_overhead_ns"]
    assert graph.node_overhead_ns(g.host()) == Y["system"]["host_overhead_ns"]
    assert graph.node_overhead_ns(g.pe_dma(c)) == 0.0
    assert graph.node_overhead_ns(g.pe_gemm(c)) == 0.0
    with pytest.raises(g.GraphError, match="nowhere"):
        graph.node_overhead_ns("nowhere")


def test_own_hbm_and_tcm_are_direct(default):
    """A PE reaches its own HBM slice and TCM over one direct link, never the NoC."""
    topo, graph = default
    c = topo.coord(0, 2, 6)
    route = graph.route(g.pe_dma(c), g.pe_hbm(c))
    assert route.nodes == (g.pe_dma(c), g.pe_hbm(c))
    assert route.latency_ns == 0.0 + HBM["latency_ns"]
    assert route.bottleneck_bw_gbs == HBM["bw_gbs"]
    assert graph.path(g.pe_dma(c), g.pe_tcm(c)) == [g.pe_dma(c), g.pe_tcm(c)]
    assert graph.path_latency_ns(g.pe_dma(c), g.pe_tcm(c)) == TCM["latency_ns"]


def test_routes_inside_a_pe_never_use_the_noc(default):
    """Every route between two nodes of one PE stays inside the PE."""
    topo, graph = default
    c = topo.coord(0, 3, 1)
    nodes = [f(c) for f in (g.pe_cpu, g.pe_dma, g.pe_tcm, g.pe_hbm, g.pe_gemm, g.pe_math)]
    for a, b in itertools.permutations(nodes, 2):
        assert all(node in nodes for node in graph.path(a, b)), (a, b)
    assert graph.path(g.pe_gemm(c), g.pe_hbm(c)) == [
        g.pe_gemm(c),
        g.pe_tcm(c),
        g.pe_dma(c),
        g.pe_hbm(c),
    ]


def test_other_pe_tcm_same_cube(default):
    """To another PE's TCM in the cube: dma -> noc -> its dma -> its tcm."""
    topo, graph = default
    a, b = topo.coord(0, 1, 0), topo.coord(0, 1, 7)
    route = graph.route(g.pe_dma(a), g.pe_tcm(b))
    assert route.nodes == (g.pe_dma(a), g.cube_noc(0, 1), g.pe_dma(b), g.pe_tcm(b))
    expected = (PE_LINK["latency_ns"] + NOC_NS) + (PE_LINK["latency_ns"] + 0) + TCM["latency_ns"]
    assert route.latency_ns == pytest.approx(expected)
    assert route.bottleneck_bw_gbs == min(PE_LINK["bw_gbs"], TCM["bw_gbs"])


def test_other_pe_hbm_same_cube_goes_through_noc(default):
    """Another PE's HBM slice in the cube is reached through the NoC, slower than own."""
    topo, graph = default
    a, b = topo.coord(0, 0, 2), topo.coord(0, 0, 3)
    route = graph.route(g.pe_dma(a), g.pe_hbm(b))
    assert route.nodes == (g.pe_dma(a), g.cube_noc(0, 0), g.pe_hbm(b))
    assert route.latency_ns == pytest.approx(PE_LINK["latency_ns"] + NOC_NS + 0 + HBM["latency_ns"])


def test_mesh_route_x_then_y(sip4x4):
    """Cube 0 (0,0) to cube 10 (2,2): columns first (1, 2), then rows (6, 10): 4 mesh hops."""
    topo, graph = sip4x4
    a, b = topo.coord(0, 0, 0), topo.coord(0, 10, 4)
    route = graph.route(g.pe_dma(a), g.pe_hbm(b))
    nocs = [g.cube_noc(0, k) for k in (0, 1, 2, 6, 10)]
    assert route.nodes == (g.pe_dma(a), *nocs, g.pe_hbm(b))
    assert route.hops == 6
    assert [link.level for link in route.links] == ["cube"] + ["mesh"] * 4 + ["cube"]
    expected = (
        PE_LINK["latency_ns"] + NOC_NS + 4 * (MESH["latency_ns"] + NOC_NS) + 0 + HBM["latency_ns"]
    )
    assert route.latency_ns == pytest.approx(expected)
    assert route.bottleneck_bw_gbs == MESH["bw_gbs"]


def test_mesh_route_reverse_is_also_x_first(sip4x4):
    """Cube 10 (2,2) to cube 0: X first along row 2 (9, 8), then up column 0 (4, 0)."""
    topo, graph = sip4x4
    a, b = topo.coord(0, 10, 0), topo.coord(0, 0, 0)
    nocs = [n for n in graph.path(g.pe_dma(a), g.pe_tcm(b)) if n.endswith(".noc")]
    assert nocs == [g.cube_noc(0, k) for k in (10, 9, 8, 4, 0)]


def test_own_hbm_faster_than_crossing_the_mesh(sip4x4):
    """The PE's own HBM path beats any remote slice in latency and bandwidth."""
    topo, graph = sip4x4
    a = topo.coord(0, 5, 0)
    own = graph.route(g.pe_dma(a), g.pe_hbm(a))
    remote = graph.route(g.pe_dma(a), g.pe_hbm(topo.coord(0, 6, 0)))
    assert own.latency_ns < remote.latency_ns
    assert own.bottleneck_bw_gbs > remote.bottleneck_bw_gbs


def test_cross_sip_route(multi):
    """Across SIPs: up the column to the IO NoC, sip_port, switch, down the other SIP."""
    topo, graph = multi
    a, b = topo.coord(0, 3, 2), topo.coord(2, 1, 0)  # cube 3 = (1,1) -> row 0 is cube 1
    route = graph.route(g.pe_dma(a), g.pe_tcm(b))
    assert route.nodes == (
        g.pe_dma(a),
        g.cube_noc(0, 3),
        g.cube_noc(0, 1),
        g.io_noc(0),
        g.sip_port(0),
        g.switch(),
        g.sip_port(2),
        g.io_noc(2),
        g.cube_noc(2, 1),
        g.pe_dma(b),
        g.pe_tcm(b),
    )
    expected = (
        (PE_LINK["latency_ns"] + NOC_NS)
        + (MESH["latency_ns"] + NOC_NS)
        + (IO_LINK["latency_ns"] + IO_NOC_NS)
        + (IO_PORT["latency_ns"] + 0)
        + (SIP_LINK["latency_ns"] + Y["system"]["switch_overhead_ns"])
        + (SIP_LINK["latency_ns"] + 0)
        + (IO_PORT["latency_ns"] + IO_NOC_NS)
        + (IO_LINK["latency_ns"] + NOC_NS)
        + (PE_LINK["latency_ns"] + 0)
        + (0 + TCM["latency_ns"])
    )
    assert route.latency_ns == pytest.approx(expected)
    assert route.bottleneck_bw_gbs == SIP_LINK["bw_gbs"]


def test_inter_sip_link_is_slowest(multi):
    """The SIP link has the lowest bandwidth of all links."""
    graph = multi[1]
    slowest = min(link.bw_gbs for link in graph.links)
    assert slowest == SIP_LINK["bw_gbs"]
    assert {link.level for link in graph.links if link.bw_gbs == slowest} == {"sip"}


def test_host_to_pe_hbm(default):
    """Host -> host port -> IO NoC -> row-0 cube of the column -> down the mesh -> slice."""
    topo, graph = default
    c = topo.coord(0, 2, 1)  # cube 2 = row 1, column 0
    route = graph.route(g.host(), g.pe_hbm(c))
    assert route.nodes == (
        g.host(),
        g.host_port(0),
        g.io_noc(0),
        g.cube_noc(0, 0),
        g.cube_noc(0, 2),
        g.pe_hbm(c),
    )
    expected = (
        (HOST_LINK["latency_ns"] + 0)
        + (IO_PORT["latency_ns"] + IO_NOC_NS)
        + (IO_LINK["latency_ns"] + NOC_NS)
        + (MESH["latency_ns"] + NOC_NS)
        + (0 + HBM["latency_ns"])
    )
    assert route.latency_ns == pytest.approx(expected)
    assert route.bottleneck_bw_gbs == min(HOST_LINK["bw_gbs"], MESH["bw_gbs"], IO_LINK["bw_gbs"])


def test_host_uses_the_target_sips_port(multi):
    """The host enters SIP 3 through SIP 3's own host port, not through the switch."""
    topo, graph = multi
    path = graph.path(g.host(), g.pe_cpu(topo.coord(3, 0, 0)))
    assert path[:3] == [g.host(), g.host_port(3), g.io_noc(3)]
    assert g.switch() not in path


def test_ports_go_straight_out(multi):
    """A port's route to its outside neighbour is the single direct link."""
    graph = multi[1]
    assert graph.path(g.host_port(2), g.host()) == [g.host_port(2), g.host()]
    assert graph.path(g.host(), g.host_port(2)) == [g.host(), g.host_port(2)]
    assert graph.path(g.sip_port(1), g.switch()) == [g.sip_port(1), g.switch()]
    assert graph.path(g.switch(), g.sip_port(1)) == [g.switch(), g.sip_port(1)]


def test_launch_path_io_cpu_to_pe_cpu(default):
    """IO_CPU reaches a PE_CPU through the IO NoC, the mesh and the cube NoC."""
    topo, graph = default
    c = topo.coord(0, 3, 5)
    assert graph.path(g.io_cpu(0), g.pe_cpu(c)) == [
        g.io_cpu(0),
        g.io_noc(0),
        g.cube_noc(0, 1),
        g.cube_noc(0, 3),
        g.pe_cpu(c),
    ]


def test_same_node_route_is_empty(default):
    """A route from a node to itself has no links, latency 0 and infinite bandwidth."""
    graph = default[1]
    route = graph.route(g.host(), g.host())
    assert route.links == () and route.nodes == (g.host(),)
    assert route.latency_ns == 0.0 and math.isinf(route.bottleneck_bw_gbs)


def test_unknown_node_names_both(default):
    """RoutingError names both ends."""
    graph = default[1]
    with pytest.raises(g.RoutingError) as info:
        graph.route(g.host(), "sip9.io_cpu")
    assert "'host'" in str(info.value) and "'sip9.io_cpu'" in str(info.value)


def _check_route(graph, route):
    assert route.nodes[0] == route.src and route.nodes[-1] == route.dst
    assert len(set(route.nodes)) == len(route.nodes)
    for i, link in enumerate(route.links):
        assert (link.src, link.dst) == (route.nodes[i], route.nodes[i + 1])
    expected = sum(link.latency_ns + graph.node_overhead_ns(link.dst) for link in route.links)
    assert route.latency_ns == pytest.approx(expected)


def test_every_node_reachable_from_every_dma(default):
    """From every PE DMA there is a simple, well-formed route to every node and back."""
    topo, graph = default
    for c in topo.pe_coords():
        for node in graph.nodes:
            _check_route(graph, graph.route(g.pe_dma(c), node))
            _check_route(graph, graph.route(node, g.pe_dma(c)))


def test_multi_sip_routes_well_formed(multi):
    """On multi_sip, routes between a sample of nodes of every kind are simple paths."""
    topo, graph = multi
    sample = [g.host(), g.switch()]
    for s in range(topo.num_sips):
        sample += [g.io_cpu(s), g.host_port(s), g.sip_port(s), g.m_cpu(s, 3), g.cube_sram(s, 2)]
        c = topo.coord(s, s % 4, s)
        sample += [f(c) for f in (g.pe_cpu, g.pe_dma, g.pe_tcm, g.pe_hbm, g.pe_gemm, g.pe_math)]
    for a, b in itertools.product(sample, repeat=2):
        _check_route(graph, graph.route(a, b))


def test_routes_symmetric_in_hop_count(sip4x4, multi):
    """route(a, b) and route(b, a) cross the same number of links."""
    for topo, graph in (sip4x4, multi):
        picks = [topo.pe_coord(i) for i in range(0, topo.num_pes, 7)]
        nodes = [g.host(), g.switch(), g.io_cpu(0), g.m_cpu(0, topo.cubes_per_sip - 1)]
        for c in picks:
            nodes += [g.pe_dma(c), g.pe_hbm(c), g.pe_cpu(c), g.pe_gemm(c)]
        for a, b in itertools.combinations(nodes, 2):
            assert graph.route(a, b).hops == graph.route(b, a).hops, (a, b)


def test_routes_cached_and_graph_cached(default):
    """The same Route object is returned again, and build_graph reuses a graph per topology."""
    topo, graph = default
    c = topo.coord(0, 0, 0)
    assert graph.route(g.host(), g.pe_dma(c)) is graph.route(g.host(), g.pe_dma(c))
    assert g.build_graph(load_topology("default")) is graph
