"""The launch path as queued messages: host -> IO_CPU -> M_CPU -> PE_CPU.

Expectations are computed here from the YAML alone (link latencies, node overheads,
message size over the slowest link or memory of each leg, CPU service times in fan-out
order), never from the simulator's routes or schedule.
"""

from __future__ import annotations

import warnings

import pytest

from simulator.engine.launch import LateLaunchWarning, launch
from simulator.engine.recorder import DmaInfo
from simulator.hw import graph as g
from simulator.hw.topology import load_topology, topology_from_dict
from simulator.runner import run_workload
from simulator.runtime.runtime import Runtime
from simulator.workloads.kernels import noop_kernel


def legs_ns(params, cube_row: int) -> tuple[float, float, float]:
    """Uncontended time of each message leg (host->IO_CPU, IO_CPU->M_CPU, M_CPU->PE_CPU),
    without the receiving CPU's own service time."""
    sys_, sip, cube = params.system, params.sip, params.cube
    n = params.launch.msg_bytes
    host_io = (
        sys_.host_link.latency_ns + sip.io_port_link.latency_ns + sip.io_noc_overhead_ns
        + sip.io_port_link.latency_ns
        + n / min(sys_.host_link.bw_gbs, sip.io_port_link.bw_gbs, sip.io_cpu_local_bw_gbs)
    )  # fmt: skip
    io_m = (
        sip.io_port_link.latency_ns + sip.io_noc_overhead_ns + sip.io_link.latency_ns
        + cube.noc_overhead_ns + cube_row * (sip.mesh_link.latency_ns + cube.noc_overhead_ns)
        + cube.m_cpu_link.latency_ns
        + n / min(sip.io_port_link.bw_gbs, sip.io_link.bw_gbs, cube.m_cpu_link.bw_gbs,
                  sip.io_cpu_local_bw_gbs, cube.m_cpu_local_bw_gbs,
                  *([sip.mesh_link.bw_gbs] if cube_row else []))
    )  # fmt: skip
    m_pe = (
        cube.m_cpu_link.latency_ns + cube.noc_overhead_ns + cube.pe_link.latency_ns
        + n / min(cube.m_cpu_link.bw_gbs, cube.pe_link.bw_gbs, cube.m_cpu_local_bw_gbs)
    )  # fmt: skip
    return host_io, io_m, m_pe


def stream_ns(params) -> float:
    """How long one message occupies a sender's port: every leg of ``default``-derived
    topologies streams at 32 GB/s (the CPU-local memories and the M_CPU link)."""
    return params.launch.msg_bytes / 32.0


def expected_dispatch_ns(topo, targets) -> list[float]:
    """Unicast fan-out: the host sends the SIPs' messages one after another (each
    occupies its port one stream time), the i-th cube of a SIP leaves the IO_CPU after
    (i+1) IO_CPU service times, the j-th PE of a cube leaves its M_CPU after (j+1) M_CPU
    service times; the PE_CPU then serves the message once."""
    p = topo.params
    sips = sorted({c.sip for c in targets}, key=[c.sip for c in targets].index)
    cubes_of: dict[int, list[int]] = {}
    pes_of: dict[tuple[int, int], list[int]] = {}
    for c in targets:
        if c.cube not in cubes_of.setdefault(c.sip, []):
            cubes_of[c.sip].append(c.cube)
        pes_of.setdefault((c.sip, c.cube), []).append(c.pe)
    out = []
    for c in targets:
        host_io, io_m, m_pe = legs_ns(p, c.cube // topo.cube_cols)
        i = cubes_of[c.sip].index(c.cube)
        j = pes_of[(c.sip, c.cube)].index(c.pe)
        out.append(
            sips.index(c.sip) * stream_ns(p) + host_io + (i + 1) * p.sip.io_cpu_overhead_ns + io_m
            + (j + 1) * p.cube.m_cpu_overhead_ns + m_pe + p.pe.cpu_overhead_ns
        )  # fmt: skip
    return out


def run_noop(topo, pes=None):
    rt = Runtime(topo)
    record = rt.launch(noop_kernel, pes=pes)
    rt.synchronize()
    return record


@pytest.mark.parametrize(
    "pes",
    [[0], list(range(8)), [0, 8, 16, 24], list(range(32)), [31, 0, 9]],
    ids=["one_pe", "one_cube", "one_pe_per_cube", "all", "unordered"],
)
def test_noop_latency_follows_the_message_model(pes):
    """Latency = the worst dispatch of the fan-out schedule; every PE starts then."""
    topo = load_topology("default")
    record = run_noop(topo, pes)
    coords = [topo.pe_coord(pe) for pe in pes]
    expected = expected_dispatch_ns(topo, coords)
    assert record.target_start_ns - record.host_issue_ns == pytest.approx(max(expected), rel=1e-12)
    assert record.end_ns - record.host_issue_ns == pytest.approx(max(expected), rel=1e-12)
    assert {prog.exec_start_ns for prog in record.programs} == {record.target_start_ns}
    dispatch = [prog.dispatch_ns - record.host_issue_ns for prog in record.programs]
    assert dispatch == pytest.approx(expected, rel=1e-12)
    assert record.late_pes == 0


def test_launch_latency_grows_with_cubes_and_pes():
    """Each extra target cube costs one IO_CPU service, each extra PE of a cube one M_CPU
    service: 1 PE < 8 PEs of a cube < 32 PEs, by exactly those amounts (same cube row)."""
    topo = load_topology("default")
    p = topo.params
    one = run_noop(topo, [24])  # cube 3: the farthest row
    cube = run_noop(topo, list(range(24, 32)))
    every = run_noop(topo, list(range(32)))
    lat = [r.end_ns - r.host_issue_ns for r in (one, cube, every)]
    assert lat[1] - lat[0] == pytest.approx(7 * p.cube.m_cpu_overhead_ns)
    assert lat[2] - lat[1] == pytest.approx(3 * p.sip.io_cpu_overhead_ns)


def test_multi_sip_launch_fans_out_per_sip():
    """128 PEs over 4 SIPs: each SIP's IO_CPU serves only its own 4 cubes, in parallel."""
    topo = load_topology("multi_sip")
    record = run_noop(topo)
    expected = expected_dispatch_ns(topo, list(topo.pe_coords()))
    assert record.end_ns - record.host_issue_ns == pytest.approx(max(expected), rel=1e-12)
    assert {prog.exec_start_ns for prog in record.programs} == {record.target_start_ns}


def test_multicast_serves_each_cpu_once():
    data = load_topology("default").to_dict()
    data["launch"]["multicast"] = True
    topo = topology_from_dict(data)
    record = run_noop(topo)
    host_io, io_m, m_pe = legs_ns(topo.params, 1)
    p = topo.params
    one_each = host_io + io_m + m_pe + p.sip.io_cpu_overhead_ns + p.cube.m_cpu_overhead_ns
    # The copies leave each port one after another: 3 more to cubes, 7 more to PEs.
    one_each += (3 + 7) * stream_ns(p)
    assert record.end_ns - record.host_issue_ns == pytest.approx(one_each + p.pe.cpu_overhead_ns)


def test_launch_messages_are_in_the_trace(tmp_path):
    """One launch_msg DMA per target SIP, cube and PE, each of msg_bytes."""
    import duckdb

    outcome = run_workload("noop", {}, topology="default", store=tmp_path)
    dma = tmp_path / "dma" / f"run_id={outcome.run_id}"
    rows = duckdb.sql(
        f"SELECT dst, bytes, src_space, dst_space, dst_sip, dst_cube, dst_pe "
        f"FROM read_parquet('{dma}/*.parquet') WHERE kind = 'launch_msg'"
    ).fetchall()
    topo = load_topology("default")
    assert len(rows) == 1 + 4 + 32
    assert {r[1] for r in rows} == {topo.params.launch.msg_bytes}
    assert sum(r[0] == g.io_cpu(0) for r in rows) == 1
    assert sum(r[0].endswith(".m_cpu") for r in rows) == 4
    # Each leg names where it starts and ends: host -> IO_CPU -> M_CPU -> PE_CPU, and
    # the PE a message to a PE's CPU reaches.
    spaces = sorted((r[2], r[3]) for r in rows)
    assert spaces == sorted([("HOST", "IOCPU")] + [("IOCPU", "MCPU_LOCAL")] * 4
                            + [("MCPU_LOCAL", "PE_CPU")] * 32)  # fmt: skip
    to_pes = {r[0]: r[4:] for r in rows if r[3] == "PE_CPU"}
    assert to_pes == {g.pe_cpu(c): (c.sip, c.cube, c.pe) for c in topo.pe_coords()}


def test_back_to_back_launches_queue_at_the_io_cpu():
    """A second launch issued at the same instant waits one IO_CPU service behind the
    first; the IO_CPU plans it, so it is not late and its spread is 0."""
    topo = load_topology("default")
    rt = Runtime(topo)
    machine = rt.machine
    targets = [topo.pe_coord(0)]
    a = launch(machine, noop_kernel, targets, lambda c: (), barrier=True)
    b = launch(machine, noop_kernel, targets, lambda c: (), barrier=True)
    machine.env.run()
    assert b.target_start_ns - a.target_start_ns == pytest.approx(
        topo.params.sip.io_cpu_overhead_ns
    )
    assert b.programs[0].exec_start_ns == b.target_start_ns
    assert a.late_pes == b.late_pes == 0


def test_a_message_delayed_by_contention_is_a_visible_late_start():
    """A big host write into the IO_CPU's local memory shares that memory with the launch
    message: the message arrives after target_start_ns, which the launch counts and
    warns about (the IO_CPU could not plan for it)."""
    topo = load_topology("default")
    rt = Runtime(topo)
    machine = rt.machine
    pe0 = topo.pe_coord(0)
    info = DmaInfo("host_write", None, None, None)
    machine.transfer(g.host(), g.io_cpu(0), 1 << 20, info)
    machine.env.run(until=2000.0)  # the write is streaming now
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = launch(machine, noop_kernel, [pe0], lambda c: (), barrier=True)
        machine.env.run()
    assert record.late_pes == 1
    assert any(issubclass(w.category, LateLaunchWarning) for w in caught)
    assert "after target_start_ns" in str(caught[0].message)
    assert record.programs[0].exec_start_ns > record.target_start_ns
