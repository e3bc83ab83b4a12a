"""IPCQ and tl.send / tl.recv: pairing, neighbour tables, cost, backpressure, deadlocks."""

from types import SimpleNamespace

import numpy as np
import pytest
from interpreted import interpreted

import simulator.language as tl
from simulator.engine.errors import DeadlockError
from simulator.engine.ipcq import IpcqConfig, IpcqError
from simulator.hw import graph as g
from simulator.hw.topology import load_topology
from simulator.runtime.runtime import Runtime


def run(kernel, pes, *, topology="default", writer=None, config=None, coll_id=None):
    """Launch ``kernel`` on global PEs ``pes`` in data mode; return (runtime, launch)."""
    rt = Runtime(topology, verify_data=True, writer=writer)
    if config is not None:
        rt.machine.ipcq.config = config
    launch = rt.launch(kernel, pes=list(pes), coll_id=coll_id)
    rt.synchronize()
    return rt, launch


def filled(value: float, n: int = 4) -> tl.tensor:
    return tl.zeros((1, n), tl.float32) + float(value)


def neighbours(coords, topology):
    """The neighbour tables of fake programs (only their coordinates): built by the
    interpreted source (tests/interpreted.py), since compiled code wants real ones."""
    programs = [SimpleNamespace(pe=SimpleNamespace(coord=c)) for c in coords]
    return interpreted("simulator.engine.ipcq").LaunchPeers(programs, topology)


def test_neighbour_tables_on_multi_sip():
    """E/W walk a cube's PEs, N/S the cube ring 0,1,3,2 of a 2x2 mesh, parent the SIPs."""
    topo = load_topology("multi_sip")
    coords = topo.pe_coords()
    peers = neighbours(coords, topo)
    rank = {(c.sip, c.cube, c.pe): i for i, c in enumerate(coords)}
    assert peers.send_peer(rank[0, 0, 7], "E") == rank[0, 0, 0]
    assert peers.send_peer(rank[0, 0, 0], "W") == rank[0, 0, 7]
    for a, b in [(0, 1), (1, 3), (3, 2), (2, 0)]:
        assert peers.send_peer(rank[1, a, 5], "N") == rank[1, b, 5]
        assert peers.recv_peer(rank[1, b, 5], "S") == rank[1, a, 5]
    assert peers.send_peer(rank[3, 2, 4], "parent") == rank[0, 2, 4]
    assert peers.recv_peer(rank[0, 2, 4], "parent") == rank[3, 2, 4]
    assert peers.position["E"][rank[2, 3, 6]] == (6, 8)
    assert peers.position["N"][rank[2, 3, 6]] == (2, 4)  # cube 3 is third on the ring
    assert peers.position["parent"][rank[2, 3, 6]] == (2, 4)


def test_two_member_ring_pairs_e_with_w_even_when_both_are_the_same_pe():
    """With two PEs, a send to E arrives at recv("W") and a send to W at recv("E")."""
    got = {}

    def kernel():
        r = tl.rank()
        to_e, to_w = filled(10 * r + 1), filled(10 * r + 2)
        if r == 0:
            tl.send(to_e, "E")
            tl.send(to_w, "W")
        else:  # the other order: pairing must not depend on it
            tl.send(to_w, "W")
            tl.send(to_e, "E")
        got[r, "W"] = float(tl.recv("W", (1, 4), tl.float32).data[0, 0])
        got[r, "E"] = float(tl.recv("E", (1, 4), tl.float32).data[0, 0])

    run(kernel, [0, 1])
    assert got == {(0, "W"): 11.0, (0, "E"): 12.0, (1, "W"): 1.0, (1, "E"): 2.0}


@pytest.mark.parametrize(
    "topology,pes,send,recv",
    [
        ("default", [0, 8], "N", "S"),
        ("default", [0, 8], "S", "N"),
        ("multi_sip", [0, 32], "parent", "parent"),
    ],
)
def test_cross_cube_and_cross_sip_pairs(topology, pes, send, recv):
    """N pairs with S across cubes, parent with parent across SIPs."""
    got = {}

    def kernel():
        r = tl.rank()
        tl.send(filled(r + 1), send)
        got[r] = float(tl.recv(recv, (1, 4), tl.float32).data[0, 0])

    run(kernel, pes, topology=topology)
    assert got == {0: 2.0, 1: 1.0}


def test_send_by_rank_and_tags_keep_channels_apart():
    """Messages by rank arrive in send order per (sender, tag) channel."""
    got = []

    def kernel():
        if tl.rank() == 0:
            for i in range(3):
                tl.send(filled(i), 2, tag=i % 2)
        elif tl.rank() == 2:
            got.append(float(tl.recv(0, (1, 4), tl.float32, tag=1).data[0, 0]))
            got.append(float(tl.recv(0, (1, 4), tl.float32).data[0, 0]))
            got.append(float(tl.recv(0, (1, 4), tl.float32).data[0, 0]))

    run(kernel, [3, 9, 20])
    assert got == [1.0, 0.0, 2.0]


def test_uncontended_send_costs_route_latency_plus_bytes_over_bandwidth(list_writer):
    """A lone send: DMA overhead + TCM latency + route latency + n / bottleneck bw."""
    n = 16 * 1024

    def kernel():
        if tl.rank() == 0:
            tl.send(tl.zeros((1, n // 4), tl.float32), "E")
        else:
            tl.recv("W", (1, n // 4), tl.float32)

    rt, launch = run(kernel, [0, 1], writer=list_writer)
    topo = rt.topology
    graph = g.build_graph(topo)
    src, dst = topo.pe_coord(0), topo.pe_coord(1)
    route = graph.route(g.pe_tcm(src), g.pe_tcm(dst))
    alpha = route.latency_ns + topo.params.pe.dma_overhead_ns + topo.params.pe.tcm.latency_ns
    (row,) = [r for r in list_writer.rows["dma"] if r["kind"] == "send"]
    assert row["issue_ns"] == pytest.approx(launch.target_start_ns)
    assert row["end_ns"] - row["issue_ns"] == pytest.approx(alpha + n / route.bottleneck_bw_gbs)
    (program,) = [p for p in launch.programs if p.rank == 1]
    assert program.exec_end_ns == pytest.approx(row["end_ns"])


@pytest.mark.parametrize("slots", [1, 2])
def test_full_inbox_stalls_the_senders_dma_until_a_slot_frees(list_writer, slots):
    """With one slot, the second send starts only when the receiver takes the first."""
    delay_ns = 10_000.0

    def kernel(rt):
        if tl.rank() == 0:
            tl.send(tl.zeros((1, 1024), tl.float32), "E")
            tl.send(tl.zeros((1, 1024), tl.float32), "E")
        else:
            rt.machine.scheduler.sleep(delay_ns)
            first = tl.recv("W", (1, 1024), tl.float32)
            del first  # frees its slot
            tl.recv("W", (1, 1024), tl.float32)

    rt = Runtime("default", verify_data=True, writer=list_writer)
    rt.machine.ipcq.config = IpcqConfig("tcm", slots, 64 * 1024)
    launch = rt.launch(kernel, rt, pes=[0, 1])
    rt.synchronize()
    t0 = launch.target_start_ns
    first, second = sorted(
        (r for r in list_writer.rows["dma"] if r["kind"] == "send"), key=lambda r: r["dma_id"]
    )
    assert first["issue_ns"] == pytest.approx(t0)
    expected = t0 + delay_ns if slots == 1 else t0
    assert second["issue_ns"] == pytest.approx(expected)


@pytest.mark.parametrize("inbox", ["tcm", "hbm", "sram"])
def test_bytes_sent_equal_bytes_received_for_every_inbox(list_writer, inbox):
    """Every byte sent is delivered and received; HBM/SRAM inboxes add a load per recv."""
    sizes = [256, 1024, 4096]

    def kernel():
        for n in sizes:
            tl.send(filled(n, n), "E")
        for n in sizes:
            got = tl.recv("W", (1, n), tl.float32)
            assert got.shape == (1, n)

    rt, _ = run(kernel, range(4), writer=list_writer, config=IpcqConfig(inbox, 2, 16384))
    ipcq = rt.machine.ipcq
    total = 4 * sum(sizes) * 4
    assert ipcq.sent_bytes == ipcq.delivered_bytes == ipcq.received_bytes == total
    dma = list_writer.rows["dma"]
    assert sum(r["bytes"] for r in dma if r["kind"] == "send") == total
    inbox_loads = [r for r in dma if r["kind"] == "load"]
    assert len(inbox_loads) == (0 if inbox == "tcm" else 12)


def test_tcm_inbox_holds_the_message_bytes_until_the_block_is_dropped():
    """A received block lives in the TCM inbox slot: its bytes count as used TCM."""
    used = {}

    def kernel(rt):
        pe = rt.machine.pes[1]
        if tl.rank() == 0:
            tl.send(filled(1, 4096), "E")
        else:
            got = tl.recv("W", (1, 4096), tl.float32)
            used["held"] = pe.tcm_used_bytes
            del got
            used["after"] = pe.tcm_used_bytes

    rt = Runtime("default", verify_data=True)
    assert rt.machine.pes[1].tcm_used_bytes == 0
    rt.launch(kernel, rt, pes=[0, 1])
    rt.synchronize()
    assert used == {"held": 4096 * 4, "after": 0}


def test_recv_that_no_send_matches_deadlocks_naming_rank_direction_round_and_time():
    """A recv with no matching send ends in a DeadlockError describing the wait."""

    def kernel():
        if tl.rank() == 0:
            with tl.round(3):
                tl.recv("W", (1, 4), tl.float32)

    with pytest.raises(DeadlockError) as info:
        run(kernel, [0, 1])
    text = str(info.value)
    assert "PE sip0.cube0.pe0" in text
    assert "recv from W (rank 1) (rank 0, round 3) since t=" in text
    assert text.startswith("deadlock at t=")


def test_cyclic_recv_before_send_lists_every_blocked_rank():
    """Both ranks waiting to receive first is a cycle: both appear in the report."""

    def kernel():
        x = tl.recv("W", (1, 4), tl.float32)
        tl.send(x, "E")

    with pytest.raises(DeadlockError) as info:
        run(kernel, [0, 1])
    text = str(info.value)
    assert "recv from W (rank 1) (rank 0," in text
    assert "recv from W (rank 0) (rank 1," in text


def test_send_waiting_for_a_slot_appears_in_the_deadlock_report():
    """A sender stuck on a full inbox is reported with the rank it waits for."""

    def kernel():
        if tl.rank() == 0:
            tl.send(filled(1), "E")
            tl.send(filled(2), "E")
        else:
            kept = tl.recv("W", (1, 4), tl.float32)
            tl.recv(0, (1, 4), tl.float32)  # never sent: the sender used a direction
            del kept

    with pytest.raises(DeadlockError) as info:
        run(kernel, [0, 1], config=IpcqConfig("tcm", 1, 1024))
    text = str(info.value)
    assert "its send to rank 1 (round None) waits for a free inbox slot" in text
    assert "recv from rank 0 (rank 1, round None)" in text


def test_message_never_received_is_an_error_at_program_end():
    """A program that ends with an undelivered or unreceived message raises IpcqError."""

    def kernel():
        if tl.rank() == 0:
            tl.send(filled(1), "E")

    with pytest.raises(IpcqError, match=r"messages never received: 1 from W \(rank 0\)"):
        run(kernel, [0, 1])


@pytest.mark.parametrize(
    "body,match",
    [
        (lambda: tl.send(filled(1), "NE"), "neither a direction"),
        (lambda: tl.send(filled(1), 7), r"nor a rank 0\.\.1"),
        (lambda: tl.send(filled(1, 512), "E"), "exceeds the inbox slot of 1024 bytes"),
    ],
)
def test_bad_sends_are_clear_errors(body, match):
    """Unknown directions, ranks out of range and oversize blocks are rejected."""

    def kernel():
        if tl.rank() == 0:
            body()

    with pytest.raises(IpcqError, match=match):
        run(kernel, [0, 1], config=IpcqConfig("tcm", 2, 1024))


def test_recv_of_the_wrong_size_names_both_shapes():
    """recv must ask for what was sent: the error names both shapes and byte counts."""

    def kernel():
        if tl.rank() == 0:
            tl.send(filled(1, 8), "E")
        else:
            tl.recv("W", (1, 4), tl.float32)

    with pytest.raises(
        IpcqError,
        match=r"expects \(1, 4\) float32 \(16 bytes\) but the "
        r"message is \(1, 8\) float32 \(32 bytes\)",
    ):
        run(kernel, [0, 1])


def test_round_scope_tags_dma_rows_and_writes_one_row_per_rank_and_round(list_writer):
    """Sends in a round carry it on their DMA rows; each rank gets a rounds row per round."""

    def kernel():
        for rnd in range(2):
            with tl.round(rnd, "reduce_scatter"):
                tl.send(filled(rnd, 256), "E")
                tl.recv("W", (1, 256), tl.float32)

    run(kernel, [0, 1, 8], writer=list_writer, coll_id=5)
    sends = [r for r in list_writer.rows["dma"] if r["kind"] == "send"]
    assert sorted((r["coll_id"], r["round"]) for r in sends) == [(5, 0)] * 3 + [(5, 1)] * 3
    rows = list_writer.rows["collective_rounds"]
    assert len(rows) == 6
    by_rank = {(r["rank"], r["round"]): r for r in rows}
    assert {r["phase"] for r in rows} == {"reduce_scatter"}
    assert all(r["bytes"] == 1024 and r["end_ns"] > r["start_ns"] for r in rows)
    assert by_rank[0, 0]["peer"] == 1 and by_rank[0, 0]["level"] == "intra_cube"
    assert by_rank[2, 0]["peer"] == 2 and by_rank[2, 0]["level"] == "intra_cube"  # alone


def test_ring_position_reports_place_and_size_of_each_ring():
    """tl.ring_position gives (position, size) along E, N and parent."""
    seen = {}

    def kernel():
        seen[tl.rank()] = (
            tl.ring_position("E"),
            tl.ring_position("N"),
            tl.ring_position("parent"),
            tl.world_size(),
        )

    run(kernel, [0, 1, 8, 9, 24, 25])
    assert seen[0] == ((0, 2), (0, 3), (0, 1), 6)
    assert seen[3] == ((1, 2), (1, 3), (0, 1), 6)  # cube 1
    assert seen[5] == ((1, 2), (2, 3), (0, 1), 6)  # cube 3 follows cube 1 on the ring


def test_send_outside_a_kernel_is_a_usage_error():
    """tl.send needs a running kernel."""
    with pytest.raises(tl.KernelUsageError):
        tl.send(np.zeros(4), "E")


def test_unreceived_tagged_sends_name_their_channels():
    """Channels first made by a send are named by direction or rank, and by tag."""

    def kernel():
        if tl.rank() == 0:
            tl.send(filled(1), "E", tag=3)
            tl.send(filled(2), 1, tag=2)

    with pytest.raises(IpcqError) as info:
        run(kernel, [0, 1])
    text = str(info.value)
    assert "1 from W (rank 0), tag 3 (round None)" in text
    assert "1 from rank 0, tag 2 (round None)" in text
