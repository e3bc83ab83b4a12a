"""The seed's hierarchical all-reduce (``hierarchical``): chain reduce of ceil((p-1)/2)
rounds per level towards a representative, then a chain broadcast back down."""

from __future__ import annotations

import math

import duckdb
import pytest
from test_ccl_fidelity import alpha_beta, latency_ns

from simulator.ccl.hierarchical_seed import chain_links, chain_round, chain_rounds
from simulator.hw.topology import load_topology
from simulator.runner import run_workload


@pytest.mark.parametrize("p", range(2, 10))
def test_chains_reach_the_representative_in_ceil_half_rounds(p):
    """Every member's partial sum reaches position 0 along exactly one chain, the
    representative hears from both sides (p > 2), and rounds count ceil((p-1)/2)."""
    prev = {pos: (pos - 1) % p for pos in range(p)}
    nxt = {pos: (pos + 1) % p for pos in range(p)}
    links = {pos: chain_links(pos, p, prev[pos], nxt[pos]) for pos in range(p)}
    assert links[0][0] is None and len(links[0][1]) == min(2, p - 1)
    for pos in range(1, p):
        hops, at = 0, pos
        while at != 0:
            at = links[at][0]
            hops += 1
        assert hops == chain_rounds(p) - chain_round(pos, p)  # sent hop by hop in time
        for child in links[pos][1]:
            assert links[child][0] == pos  # whoever it hears from sends to it
    assert chain_rounds(p) == math.ceil((p - 1) / 2)
    assert min(chain_round(pos, p) for pos in range(1, p)) == 0


@pytest.mark.parametrize("world", [8, 16, 32, 64, 128])
def test_verifies_on_multi_sip(world):
    outcome = run_workload(
        "ccl_allreduce",
        {"algorithm": "hierarchical", "world_size": world, "bytes": 8192},
        topology="multi_sip",
        verify_data=True,
        trace=False,
    )
    assert outcome.status == "ok", outcome.error
    assert outcome.verified is True


def test_round_count_per_level_is_ceil_half_plus_the_chain_broadcast(tmp_path):
    """128 ranks on multi_sip: 8 per cube, 4 cubes per SIP, 4 SIPs. Each level records
    ceil((p-1)/2) reduce rounds and as many broadcast rounds."""
    outcome = run_workload(
        "ccl_allreduce",
        {"algorithm": "hierarchical", "world_size": 128, "bytes": 4096},
        topology="multi_sip",
        store=tmp_path,
    )
    rounds = tmp_path / "collective_rounds" / f"run_id={outcome.run_id}"
    rows = duckdb.sql(
        f"SELECT level, phase, count(DISTINCT round) FROM read_parquet('{rounds}/*.parquet') "
        "GROUP BY level, phase"
    ).fetchall()
    got = {(level, phase): n for level, phase, n in rows}
    for level, p in (("intra_cube", 8), ("inter_cube", 4), ("inter_sip", 4)):
        assert got[(level, "reduce")] == math.ceil((p - 1) / 2)
        assert got[(level, "broadcast")] == math.ceil((p - 1) / 2)


def test_small_n_latency_follows_its_alpha_beta_formula():
    """One level of p ranks in a cube, n = 1 KiB: each extra round costs a reduce hop and
    a broadcast hop, 2 (alpha + n/B) plus the MATH add; with two chains (p > 2) the
    representative's one NoC port carries both sides' last message and both first
    broadcast copies (+2 n/B). Load and store costs are the same for every p, so the
    growth over p = 2 must match the formula within 5%."""
    topo = load_topology("default")
    params = topo.params
    n = 1024
    alpha, bw = alpha_beta(topo, 0, 1)
    add_ns = math.ceil(n / 4 / params.pe.math.lanes) * params.pe.math.cycles_per_op["add"]
    add_ns /= params.pe.clock_ghz
    per_round = 2 * (alpha + n / bw) + add_ns
    base = latency_ns(topo, "hierarchical", [0, 1], n)
    for p in (5, 7, 8):
        model = (chain_rounds(p) - 1) * per_round + 2 * n / bw
        grown = latency_ns(topo, "hierarchical", list(range(p)), n) - base
        assert grown == pytest.approx(model, rel=0.05), p
