"""Invariants over traces of real simulator runs (not synthetic ones)."""

import json
import math

import duckdb
import pytest

from simulator.hw.topology import load_topology
from simulator.runner import run_workload
from traces.checks import check_run
from traces.perfetto import export_perfetto
from traces.schema import TABLES
from traces.views import open_connection

GEMM = {"M": 512, "N": 384, "K": 256, "block_m": 128, "block_n": 128, "block_k": 128}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_store")
    runs = {
        "gemm": run_workload("gemm", GEMM, store=root),
        "noop": run_workload("noop", {}, topology="sip4x4", store=root),
        "dma_sweep": run_workload("dma_sweep", {"sizes": "4096,65536"}, store=root),
        "ccl": run_workload(
            "ccl_allreduce",
            {"world_size": 16, "bytes": 262144, "algorithm": "hierarchical"},
            store=root,
        ),  # fmt: skip
        "tp_mlp": run_workload(
            "tp_mlp", {"tokens": 128, "hidden": 256, "ffn": 512, "tp": 2}, store=root
        ),  # fmt: skip
        "vector_add": run_workload("vector_add", {"n": 1000, "block_size": 256}, store=root),
    }
    assert all(o.status == "ok" for o in runs.values()), {k: o.error for k, o in runs.items()}
    return root, {k: o.run_id for k, o in runs.items()}


def test_duckdb_alone_reads_every_table(store):
    """Plain DuckDB (no project code) reads every table of the store with hive partitions."""
    root, runs = store
    con = duckdb.connect()
    for table in TABLES:
        glob = str(root / table / "*" / "*.parquet")
        n = con.execute(
            f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
        ).fetchone()[0]
        assert n > 0, table
    ids = {r[0] for r in con.execute(f"SELECT run_id FROM '{root}/runs/*/*.parquet'").fetchall()}
    assert ids == set(runs.values())


def test_every_run_satisfies_the_trace_invariants(store):
    """No two ops on one engine lane overlap, end >= start, one pe_exec per target PE."""
    root, runs = store
    for name, run_id in runs.items():
        assert check_run(root, run_id) == [], name


def test_gemm_flops_and_bytes_match_the_workload(store):
    """GEMM flops sum to 2MNK; loads, stores and host writes move exactly the tiled bytes."""
    root, runs = store
    con = open_connection(root)
    run = runs["gemm"]
    m, n, k = GEMM["M"], GEMM["N"], GEMM["K"]
    flops = con.execute("SELECT sum(flops) FROM ops WHERE run_id = ? AND engine = 'GEMM'",
                    [run]).fetchone()[0]  # fmt: skip
    assert flops == 2 * m * n * k
    n_pes = 32
    m_local = m // n_pes  # rows of A and C per PE (row-wise sharding)
    bm, bn = GEMM["block_m"], GEMM["block_n"]
    loads = n_pes * 2 * (m_local * k * math.ceil(n / bn) + k * n * math.ceil(m_local / bm))
    stores = 2 * m * n
    host = 2 * (m * k + k * n * n_pes)  # A once, B replicated on every PE
    by_kind = dict(con.execute("SELECT kind, sum(bytes) FROM dma WHERE run_id = ? GROUP BY kind",
                           [run]).fetchall())  # fmt: skip
    # One launch: a message to the IO_CPU, to each of the 4 M_CPUs and to each PE.
    launch_msgs = (1 + 4 + n_pes) * load_topology("default").params.launch.msg_bytes
    assert by_kind == {"load": loads, "store": stores, "host_write": host,
                       "launch_msg": launch_msgs}  # fmt: skip


def test_link_bytes_equal_dma_bytes_times_hops(store):
    """Bytes are conserved: every DMA byte crosses each link of its route once."""
    root, runs = store
    con = open_connection(root)
    for run in runs.values():
        dma = con.execute("SELECT coalesce(sum(bytes * hops), 0) FROM dma WHERE run_id = ?",
                      [run]).fetchone()[0]  # fmt: skip
        links = con.execute("SELECT coalesce(sum(bytes), 0) FROM links WHERE run_id = ?",
                        [run]).fetchone()[0]  # fmt: skip
        assert dma == links


def test_collective_sends_cover_every_round(store):
    """Every collective round row has send DMAs tagged with its coll_id and round."""
    root, runs = store
    con = open_connection(root)
    missing = con.execute(
        """
        SELECT count(*) FROM (SELECT DISTINCT coll_id, round FROM collective_rounds
                              WHERE run_id = ? AND bytes > 0) r
        WHERE NOT EXISTS (SELECT 1 FROM dma d WHERE d.run_id = ? AND d.kind = 'send'
                          AND d.coll_id = r.coll_id AND d.round = r.round)
        """,
        [runs["ccl"], runs["ccl"]],
    ).fetchone()[0]
    assert missing == 0


def test_perfetto_export_of_a_real_gemm_run(store, tmp_path):
    """The Perfetto export of a gemm run is valid trace-event JSON, one X event per op."""
    root, runs = store
    path = tmp_path / "gemm.json"
    export_perfetto(root, runs["gemm"], path)
    trace = json.loads(path.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    n_ops = (
        open_connection(root)
        .execute("SELECT count(*) FROM ops WHERE run_id = ?", [runs["gemm"]])
        .fetchone()[0]
    )
    op_slices = [e for e in slices if "op_id" in e.get("args", {})]
    assert len(op_slices) == n_ops
    assert all({"ts", "dur", "pid", "tid", "name"} <= e.keys() for e in slices)
