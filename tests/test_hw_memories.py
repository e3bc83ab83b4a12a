"""Memories as shared capacities: every flow reading or writing a memory shares its one
``bw_gbs`` (any port, both directions); links stay full-duplex.

Expectations are hand-computed from the topology numbers: flows that start streaming
at the same instant with equal sizes and a common bottleneck end together at
``start + k * n / bw`` when ``k`` of them share a capacity ``bw``.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from simulator.engine.machine import Machine
from simulator.hw import graph as g
from simulator.hw.links import Link, Memory, Route
from simulator.hw.network import Network
from simulator.hw.topology import load_topology, topology_from_dict
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

N_BYTES = 1 << 20
REL = 1e-9


def topo_with(**overrides):
    """``default`` with dotted-key overrides (``cube__sram__bw_gbs=100.0``)."""
    data = load_topology("default").to_dict()
    data["name"] = "default_mem_test"
    for key, value in overrides.items():
        *path, leaf = key.split("__")
        node = data
        for part in path:
            node = node[part]
        node[leaf] = value
    return topology_from_dict(data)


def run_together(machine: Machine, pairs: list[tuple[str, str]], n_bytes: int = N_BYTES):
    """Issue one DMA per (src, dst) so that all start streaming at the same instant;
    return (that instant, end times)."""
    routes = [machine.dma_route(src, dst) for src, dst in pairs]
    start_ns = max(route.latency_ns for route in routes)
    env = machine.env
    ends: list[float] = [0.0] * len(routes)

    def one(i, route):
        yield env.timeout(start_ns - route.latency_ns)
        transfer = yield machine.network.transfer(route, n_bytes)
        ends[i] = transfer.end_ns

    for i, route in enumerate(routes):
        env.process(one(i, route))
    env.run()
    return start_ns, ends


def test_two_readers_of_one_hbm_slice_through_different_ports_share_it():
    """PE0 reads its slice over its own port, PE8 (another cube) over the NoC port:
    together they get hbm.bw_gbs, each half of it."""
    topo = load_topology("default")
    m = Machine(topo)
    pe0, pe8 = topo.pe_coord(0), topo.pe_coord(8)
    bw = topo.params.cube.hbm.bw_gbs
    assert topo.params.sip.mesh_link.bw_gbs > bw / 2  # the slice, not a link, binds
    start, ends = run_together(m, [(g.pe_hbm(pe0), g.pe_tcm(pe0)), (g.pe_hbm(pe0), g.pe_tcm(pe8))])
    assert ends == pytest.approx([start + 2 * N_BYTES / bw] * 2, rel=REL)


def test_a_read_and_a_write_of_one_hbm_slice_share_it():
    topo = load_topology("default")
    m = Machine(topo)
    pe0 = topo.pe_coord(0)
    bw = topo.params.cube.hbm.bw_gbs
    start, ends = run_together(m, [(g.pe_hbm(pe0), g.pe_tcm(pe0)), (g.pe_tcm(pe0), g.pe_hbm(pe0))])
    assert ends == pytest.approx([start + 2 * N_BYTES / bw] * 2, rel=REL)


def test_hbm_read_write_turnaround_is_a_parameter():
    """With rw_mix_bw_fraction f, a read and a write together get f * bw in total; two
    reads still get all of it."""
    topo = topo_with(cube__hbm__rw_mix_bw_fraction=0.8)
    pe0, pe1 = topo.pe_coord(0), topo.pe_coord(1)
    bw = topo.params.cube.hbm.bw_gbs
    start, ends = run_together(
        Machine(topo), [(g.pe_hbm(pe0), g.pe_tcm(pe0)), (g.pe_tcm(pe0), g.pe_hbm(pe0))]
    )
    assert ends == pytest.approx([start + 2 * N_BYTES / (0.8 * bw)] * 2, rel=REL)
    start, ends = run_together(
        Machine(topo), [(g.pe_hbm(pe0), g.pe_tcm(pe0)), (g.pe_hbm(pe0), g.pe_tcm(pe1))]
    )
    assert ends == pytest.approx([start + 2 * N_BYTES / bw] * 2, rel=REL)


def test_readers_and_writers_of_one_sram_share_it():
    """Two PEs read the cube SRAM and one writes it: three flows, one 100 GB/s SRAM."""
    topo = topo_with(cube__sram__bw_gbs=100.0)
    m = Machine(topo)
    pes = [topo.pe_coord(i) for i in range(3)]
    sram = g.cube_sram(0, 0)
    pairs = [(sram, g.pe_tcm(pes[0])), (sram, g.pe_tcm(pes[1])), (g.pe_tcm(pes[2]), sram)]
    start, ends = run_together(m, pairs)
    assert ends == pytest.approx([start + 3 * N_BYTES / 100.0] * 3, rel=REL)


def test_a_load_into_and_a_send_out_of_one_tcm_share_it():
    """The TCM's DMA port and its NoC-bound traffic share one 100 GB/s TCM."""
    topo = topo_with(pe__tcm__bw_gbs=100.0)
    m = Machine(topo)
    pe0, pe1 = topo.pe_coord(0), topo.pe_coord(1)
    tcm0 = g.pe_tcm(pe0)
    start, ends = run_together(m, [(g.pe_hbm(pe0), tcm0), (tcm0, g.pe_tcm(pe1))])
    assert ends == pytest.approx([start + 2 * N_BYTES / 100.0] * 2, rel=REL)


def test_links_stay_full_duplex():
    """PE0 -> PE8 and PE8 -> PE0 cross one mesh link in opposite directions: each gets
    the whole mesh bandwidth (the TCMs at each end have room for both)."""
    topo = load_topology("default")
    m = Machine(topo)
    a, b = g.pe_tcm(topo.pe_coord(0)), g.pe_tcm(topo.pe_coord(8))
    bw = topo.params.sip.mesh_link.bw_gbs
    assert 2 * bw <= topo.params.pe.tcm.bw_gbs
    start, ends = run_together(m, [(a, b), (b, a)])
    assert ends == pytest.approx([start + N_BYTES / bw] * 2, rel=REL)


def test_memory_sharing_in_a_bare_network():
    """Two flows from memory M through separate 10 GB/s links: M (8 GB/s) binds, 4 each;
    a third flow on link 0 alone (not touching M) is not slowed by M."""
    env = simpy.Environment()
    links = [Link(i, f"L{i}", "M", f"x{i}", 0.0, 10.0, "test") for i in range(2)]
    net = Network(env, links, memories=[Memory("M", 8.0, "hbm")])
    routes = [Route("M", f"x{i}", ("M", f"x{i}"), (links[i],), 0.0, 10.0) for i in range(2)]
    done = [net.transfer(route, 400) for route in routes]
    env.run()
    assert [d.value.end_ns for d in done] == pytest.approx([100.0, 100.0], rel=REL)
    assert net.memory_bytes() == [800]
    assert net.link_bytes() == [400, 400]


def test_bad_memories_are_named():
    env = simpy.Environment()
    with pytest.raises(ValueError, match=r"memory 'M' has bw_gbs 0"):
        Network(env, [], memories=[Memory("M", 0.0, "hbm")])
    with pytest.raises(ValueError, match=r"memory 'M' is listed twice"):
        Network(env, [], memories=[Memory("M", 1.0, "hbm"), Memory("M", 1.0, "hbm")])


@pytest.mark.parametrize("memory", ["mcpu_local", "iocpu_local"])
def test_mcpu_and_iocpu_local_memories_are_allocatable(memory):
    """A tensor in M_CPU / IO_CPU local memory round-trips its data, and its copies are
    DMAs to the m_cpu / io_cpu node, paced by that memory's bandwidth."""
    topo = load_topology("default")
    rt = Runtime(topo, verify_data=True)
    data = np.arange(512, dtype=np.float32)
    tensor = rt.empty(data.shape, "float32", Placement.single(0), memory=memory)
    tensor.copy_(data)
    assert np.array_equal(tensor.numpy(), data)
    node = g.m_cpu(0, 0) if memory == "mcpu_local" else g.io_cpu(0)
    assert tensor.shards[0].node == node
