"""Resource kinds: every link and memory is named after the parameter setting its bandwidth."""

from __future__ import annotations

import pytest

from simulator.hw.graph import build_graph
from simulator.hw.resource_kinds import ResourceKinds
from simulator.hw.topology import load_topology

# Kind -> the dotted topology key of its bandwidth (written from the YAML schema, not
# from resource_kinds' table).
BANDWIDTH_KEY = {
    "cpu_dma_link": "pe.cpu_dma_link.bw_gbs",
    "tcm": "pe.tcm.bw_gbs",
    "hbm": "cube.hbm.bw_gbs",
    "pe_link": "cube.pe_link.bw_gbs",
    "m_cpu_link": "cube.m_cpu_link.bw_gbs",
    "sram": "cube.sram.bw_gbs",
    "mesh_link": "sip.mesh_link.bw_gbs",
    "io_link": "sip.io_link.bw_gbs",
    "io_port_link": "sip.io_port_link.bw_gbs",
    "sip_link": "system.sip_link.bw_gbs",
    "host_link": "system.host_link.bw_gbs",
    "mcpu_local": "cube.m_cpu_local_bw_gbs",
    "iocpu_local": "sip.io_cpu_local_bw_gbs",
}
# A bandwidth no preset uses, so only the resources of the overridden kind carry it.
ODD_GBS = 12.345


def _resources(graph):
    return [(link.name, link.bw_gbs) for link in graph.links] + [
        (m.node, m.bw_gbs) for m in graph.memories
    ]


@pytest.mark.parametrize("topology", ["default", "sip4x4", "multi_sip"])
def test_every_link_and_memory_has_a_kind(topology):
    """No resource of a preset is left without a kind, and every kind is a known one."""
    graph = build_graph(load_topology(topology))
    kinds = ResourceKinds(graph)
    found = {kinds(name) for name, _ in _resources(graph)}
    assert found <= set(BANDWIDTH_KEY)
    # multi_sip has SIP links; every preset has the rest.
    assert found >= set(BANDWIDTH_KEY) - ({"sip_link"} if topology != "multi_sip" else set())


@pytest.mark.parametrize("kind", sorted(BANDWIDTH_KEY))
def test_a_kind_is_exactly_the_resources_its_parameter_sets(kind):
    """Overriding a kind's bandwidth key to an odd value changes exactly the links and
    memories of that kind (so a component named after the kind names what to change)."""
    graph = build_graph(load_topology("multi_sip", overrides={BANDWIDTH_KEY[kind]: ODD_GBS}))
    kinds = ResourceKinds(graph)
    for name, bw_gbs in _resources(graph):
        assert (bw_gbs == ODD_GBS) == (kinds(name) == kind), (name, bw_gbs, kinds(name))


def test_an_unknown_name_is_one_clear_error():
    """A name that is neither a memory nor a link of the graph names itself."""
    kinds = ResourceKinds(build_graph(load_topology("default")))
    with pytest.raises(KeyError, match="sip0.cube0.pe0.gemm"):
        kinds("sip0.cube0.pe0.gemm")
