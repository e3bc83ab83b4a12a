"""All-reduce timing against the alpha-beta model (Thakur, Rabenseifner, Gropp 2005).

alpha and B come from the topology's neighbour path (graph route latency + DMA issue
overhead + source TCM latency; bottleneck bandwidth), never from a simulation.

Memories are shared capacities, so B is the slowest shared resource a rank's bytes go
through, not just the links: per rank a ring all-reduce of ``n`` bytes sends and
receives ``2(p-1)n/p`` bytes over its links, reads ``n`` from and writes ``n`` to its HBM
slice, and moves ``2n + 4(p-1)n/p`` bytes through its TCM (loads, stores, sends,
receives). In ``default`` the HBM slice binds (:func:`ring_resource_model_ns`); the
link-bound tests give HBM and TCM enough bandwidth that the links bind, as the plain
alpha-beta model assumes.
"""

import pytest

from simulator.hw import graph as g
from simulator.hw.topology import load_topology, topology_from_dict
from simulator.runtime.collectives import all_reduce
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

MIB = 1 << 20
LARGE_BYTES = 16 * MIB


def link_bound(**cube) -> object:
    """``default`` with HBM and TCM fast enough that the inter-PE links are the
    bottleneck (the TCM carries up to 4x the link bytes, see the module doc)."""
    data = load_topology("default").to_dict()
    data["name"] = "default_link_bound"
    fast_gbs = 8 * data["cube"]["pe_link"]["bw_gbs"]
    data["cube"]["hbm"]["bw_gbs"] = fast_gbs
    data["pe"]["tcm"]["bw_gbs"] = fast_gbs
    data["cube"].update(cube)
    return topology_from_dict(data)


def alpha_beta(topo, a: int, b: int) -> tuple[float, float]:
    """(alpha ns, B GB/s) of a send from PE ``a``'s TCM to PE ``b``'s TCM inbox."""
    graph = g.build_graph(topo)
    src, dst = g.pe_tcm(topo.pe_coord(a)), g.pe_tcm(topo.pe_coord(b))
    route = graph.route(src, dst)
    alpha = route.latency_ns + topo.params.pe.dma_overhead_ns + graph.node_overhead_ns(src)
    return alpha, route.bottleneck_bw_gbs


def ring_model_ns(alpha: float, bw: float, p: int, nbytes: int) -> float:
    return 2 * (p - 1) * (alpha + nbytes / (p * bw))


def latency_ns(topo, algorithm: str, pes: list[int], nbytes: int) -> float:
    """Simulated all-reduce time (common start to last end) of ``nbytes`` per rank."""
    rt = Runtime(topo)
    tensors = [rt.empty((nbytes // 4,), "float32", Placement.single(pe)) for pe in pes]
    coll = all_reduce(rt, tensors, pes=[topo.pe_coord(pe) for pe in pes], algorithm=algorithm)
    rt.synchronize()
    return coll.latency_ns


def ring_resource_model_ns(topo, alpha: float, p: int, nbytes: int) -> float:
    """2(p-1) alpha plus the busiest shared resource's time: the links, the HBM slice or
    the TCM of one rank (bytes per rank from the module doc)."""
    link_gbs = topo.params.cube.pe_link.bw_gbs
    hbm_gbs, tcm_gbs = topo.params.cube.hbm.bw_gbs, topo.params.pe.tcm.bw_gbs
    busy_ns = max(
        2 * (p - 1) * nbytes / (p * link_gbs),
        2 * nbytes / hbm_gbs,
        (2 * nbytes + 4 * (p - 1) * nbytes / p) / tcm_gbs,
    )
    return 2 * (p - 1) * alpha + busy_ns


@pytest.mark.parametrize("p", [2, 4, 8])
def test_ring_on_default_meets_its_slowest_shared_resource(p):
    """On ``default`` the HBM slice (read n, written n per rank) binds: within 5% of
    2(p-1) alpha + 2n / hbm.bw_gbs, and never faster."""
    topo = load_topology("default")
    alpha, _ = alpha_beta(topo, 0, 1)
    model = ring_resource_model_ns(topo, alpha, p, LARGE_BYTES)
    assert model > ring_model_ns(alpha, topo.params.cube.pe_link.bw_gbs, p, LARGE_BYTES)
    simulated = latency_ns(topo, "ring", list(range(p)), LARGE_BYTES)
    assert model <= simulated <= 1.05 * model


@pytest.mark.parametrize("p", [2, 4, 8])
def test_ring_matches_alpha_beta_model_at_large_n(p):
    """Ring all-reduce of 16 MiB within 3% of 2(p-1)(alpha + n/(pB))."""
    topo = link_bound()
    alpha, bw = alpha_beta(topo, 0, 1)
    model = ring_model_ns(alpha, bw, p, LARGE_BYTES)
    assert latency_ns(topo, "ring", list(range(p)), LARGE_BYTES) == pytest.approx(model, rel=0.03)


def test_ring_bus_bandwidth_reaches_the_link_bandwidth():
    """busbw = n/T * 2(p-1)/p is within 5% of the neighbour link's bandwidth."""
    topo = link_bound()
    _, bw = alpha_beta(topo, 0, 1)
    p = 8
    busbw = LARGE_BYTES / latency_ns(topo, "ring", list(range(p)), LARGE_BYTES) * 2 * (p - 1) / p
    assert busbw == pytest.approx(bw, rel=0.05)
    assert busbw <= bw


def test_bidirectional_ring_is_twice_as_fast_where_directions_use_separate_links():
    """One PE per cube around the 2x2 mesh: each direction has its own mesh links."""
    topo = link_bound(pes=1)
    one_way = latency_ns(topo, "ring", [0, 1, 2, 3], LARGE_BYTES)
    both_ways = latency_ns(topo, "bidir_ring", [0, 1, 2, 3], LARGE_BYTES)
    assert one_way / both_ways == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("pes_per_cube,world", [(8, 8), (1, 4)])
def test_hierarchical_with_one_real_level_equals_the_ring(pes_per_cube, world):
    """With every other level of size 1, hierarchical_rsag is the ring over that level."""
    topo = link_bound(pes=pes_per_cube)
    pes = list(range(world))
    assert latency_ns(topo, "hierarchical_rsag", pes, MIB) == latency_ns(topo, "ring", pes, MIB)


def test_hierarchical_matches_the_sum_of_its_levels():
    """16 ranks = 8 per cube x 2 cubes: intra-cube ring + inter-cube ring of n/8 bytes,
    whose mesh link is shared by the 8 rings of the cube."""
    topo = link_bound()
    n = LARGE_BYTES
    alpha1, bw1 = alpha_beta(topo, 0, 1)
    alpha2, mesh_bw = alpha_beta(topo, 0, 8)
    model = ring_model_ns(alpha1, bw1, 8, n) + ring_model_ns(alpha2, mesh_bw / 8, 2, n // 8)
    assert latency_ns(topo, "hierarchical_rsag", list(range(16)), n) == pytest.approx(
        model, rel=0.03
    )


def test_small_n_latency_grows_linearly_with_ring_size():
    """At 1 KiB the cost is 2(p-1) latency-bound rounds: equal slope from 2->4 and 4->8."""
    topo = link_bound()
    lat = {p: latency_ns(topo, "ring", list(range(p)), 1024) for p in (2, 4, 8)}
    slope_low = (lat[4] - lat[2]) / 2
    slope_high = (lat[8] - lat[4]) / 4
    assert slope_low > 0
    assert slope_high == pytest.approx(slope_low, rel=0.1)
    alpha, _ = alpha_beta(topo, 0, 1)
    assert slope_low >= 2 * alpha  # each extra rank adds two rounds of at least alpha
