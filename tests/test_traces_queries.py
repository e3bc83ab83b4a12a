"""Tests of the canned analyses (traces/queries.py) against hand-computed expectations."""

from datetime import UTC, datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces import queries
from traces.schema import TABLES
from traces.store import RunNotFoundError, Store
from traces.synthetic import new_synthetic_writer
from traces.views import duckdb_type


def _write_hand_run(
    store: Store,
    *,
    pe1_gemm_end_ns: float = 450.0,
    launch0_end_ns: float = 500.0,
    metrics=(("latency_ns", 500.0, "ns"), ("tflops", 2.0, "tflops")),
    workload: str = "hand",
    params=None,
    git=None,
    status: str = "ok",
) -> str:
    """Two launches over PEs 0, 1 (cube 0) and 2 (cube 1); numbers chosen by hand."""
    writer = new_synthetic_writer(store, workload=workload, params=params or {"n": 1}, git=git)
    launch = dict(grid="2x1x1", n_pes=2)
    writer.append("launches", launch_id=0, kernel="k0", barrier=True, host_issue_ns=0.0,
                  target_start_ns=100.0, end_ns=launch0_end_ns, **launch)  # fmt: skip
    writer.append("launches", launch_id=1, kernel="k1", barrier=False, host_issue_ns=600.0,
                  target_start_ns=None, end_ns=1000.0, **launch)  # fmt: skip
    pe_exec = writer.appender("pe_exec")
    pe_exec(0, 0, 0, 0, 0, 80.0, 100.0, 400.0)
    pe_exec(0, 0, 0, 1, 1, 95.0, 100.0, 450.0)
    pe_exec(1, 0, 0, 0, 0, 650.0, 650.0, 900.0)
    pe_exec(1, 0, 1, 0, 2, 690.0, 690.0, 950.0)
    ops = writer.appender("ops")
    for op_id, (launch_id, pe, engine, start, end) in enumerate(
        [
            (0, 0, "DMA_IN", 100.0, 200.0),
            (0, 0, "GEMM", 150.0, 300.0),
            (0, 0, "MATH", 300.0, 350.0),
            (0, 0, "DMA_WB", 360.0, 400.0),
            (1, 0, "GEMM", 650.0, 700.0),
            (1, 0, "DMA_IN", 800.0, 900.0),
            (0, 1, "GEMM", 100.0, pe1_gemm_end_ns),
        ]
    ):
        ops(op_id, launch_id, 0, 0, pe, pe, engine, "op", start, start, end, 10, 20)
    for dma_id, (kind, level, nbytes, issue, start, end) in enumerate(
        [
            ("load", "cube", 1000, 90.0, 100.0, 200.0),
            ("load", "cube", 1000, 150.0, 150.0, 250.0),
            ("store", "cube", 500, 350.0, 360.0, 400.0),
            ("send", "mesh", 100, 0.0, 0.0, 10.0),
        ]
    ):
        writer.append("dma", dma_id=dma_id, launch_id=0, kind=kind, level=level, bytes=nbytes,
                      issue_ns=issue, start_ns=start, end_ns=end)  # fmt: skip
    writer.append("collectives", coll_id=0, op="all_reduce", algorithm="ring", world_size=3,
                  bytes=300, dtype="float16", start_ns=0.0, end_ns=45.0)  # fmt: skip
    rounds = writer.appender("collective_rounds")
    rounds(0, 0, 0, "rs", "intra_cube", 1, 100, 0.0, 10.0)
    rounds(0, 1, 0, "rs", "inter_cube", 2, 100, 0.0, 30.0)
    rounds(0, 2, 0, "rs", "inter_cube", 0, 100, 0.0, 20.0)
    rounds(0, 0, 1, "ag", "intra_cube", 1, 50, 40.0, 45.0)
    rounds(0, 1, 1, "ag", "intra_cube", 2, 50, 40.0, 45.0)
    for name, value, unit in metrics:
        writer.metric(name, value, unit, "lower" if unit == "ns" else "higher")
    writer.finish(status=status, sim_end_ns=1000.0, n_events=7)
    return writer.run_id


@pytest.fixture
def hand(tmp_path):
    """A store with run a (hand numbers) and run b (PE 1 GEMM and launch 0 longer)."""
    store = Store(tmp_path)
    run_a = _write_hand_run(store)
    run_b = _write_hand_run(
        store,
        pe1_gemm_end_ns=500.0,
        launch0_end_ns=550.0,
        metrics=(("latency_ns", 400.0, "ns"), ("tflops", 2.5, "tflops"), ("extra", 1.0, "x")),
    )
    return store.connect(), run_a, run_b


def test_launch_spread(hand):
    """Spread is max - min exec start over PEs; latency is end - host issue."""
    con, run_a, _ = hand
    rows = queries.launch_spread(con, run_a).to_pylist()
    picked = [
        {k: row[k] for k in ("launch_id", "kernel", "n_pes", "first_start_ns", "last_start_ns")}
        | {k: row[k] for k in ("spread_ns", "dispatch_spread_ns", "latency_ns")}
        for row in rows
    ]
    assert picked == [
        dict(launch_id=0, kernel="k0", n_pes=2, first_start_ns=100.0, last_start_ns=100.0,
             spread_ns=0.0, dispatch_spread_ns=15.0, latency_ns=500.0),
        dict(launch_id=1, kernel="k1", n_pes=2, first_start_ns=650.0, last_start_ns=690.0,
             spread_ns=40.0, dispatch_spread_ns=40.0, latency_ns=400.0),
    ]  # fmt: skip


def test_pe_breakdown(hand):
    """Busy is the union of op intervals (per PE and per engine); idle = makespan - busy."""
    con, run_a, _ = hand
    rows = {row["pe_global"]: row for row in queries.pe_breakdown(con, run_a).to_pylist()}
    assert sorted(rows) == [0, 1, 2]
    makespan = 950.0 - 100.0
    pe0 = rows[0]
    # [100,200] u [150,300] u [300,350] = [100,350]; + [360,400], [650,700], [800,900]
    assert pe0["busy_ns"] == pytest.approx(250 + 40 + 50 + 100)
    assert (pe0["dma_in_busy_ns"], pe0["gemm_busy_ns"]) == (200.0, 200.0)
    assert (pe0["math_busy_ns"], pe0["dma_wb_busy_ns"]) == (50.0, 40.0)
    assert pe0["makespan_ns"] == makespan
    assert pe0["idle_ns"] == pytest.approx(makespan - 440)
    assert pe0["utilisation"] == pytest.approx(440 / makespan)
    assert rows[1]["busy_ns"] == 350.0 and rows[1]["gemm_busy_ns"] == 350.0
    assert (rows[2]["sip"], rows[2]["cube"], rows[2]["pe"]) == (0, 1, 0)
    assert rows[2]["busy_ns"] == 0.0 and rows[2]["utilisation"] == 0.0


def test_dma_bandwidth(hand):
    """Per kind and level: count, bytes, busy as interval union, latency from issue, GB/s."""
    con, run_a, _ = hand
    rows = queries.dma_bandwidth(con, run_a).to_pylist()
    assert [(r["kind"], r["level"], r["n"], r["bytes"]) for r in rows] == [
        ("load", "cube", 2, 2000),
        ("send", "mesh", 1, 100),
        ("store", "cube", 1, 500),
    ]
    load = rows[0]
    assert load["busy_ns"] == 150.0  # [100,200] u [150,250]
    assert load["avg_latency_ns"] == pytest.approx((110 + 100) / 2)
    assert load["gbs"] == pytest.approx(2000 / 150)
    assert rows[2]["gbs"] == pytest.approx(500 / 40)


def test_collective_rounds(hand):
    """Per round: ranks, bytes, span, slowest rank, median and straggle of rank durations."""
    con, run_a, _ = hand
    rows = queries.collective_rounds(con, run_a).to_pylist()
    assert len(rows) == 2
    first, second = rows
    assert (first["op"], first["algorithm"], first["phase"]) == ("all_reduce", "ring", "rs")
    assert first["level"] == "inter_cube,intra_cube"
    assert (first["n_ranks"], first["bytes"], first["start_ns"], first["end_ns"]) == (
        3,
        300,
        0.0,
        30.0,
    )
    assert (first["slowest_rank"], first["slowest_ns"], first["median_ns"]) == (1, 30.0, 20.0)
    assert first["straggle_ns"] == 10.0
    assert (second["slowest_rank"], second["straggle_ns"], second["median_ns"]) == (0, 0.0, 5.0)


def test_compare_runs(hand):
    """Metric deltas are b - a with percent of |a|; one-sided metrics have nulls."""
    con, run_a, run_b = hand
    rows = {row["name"]: row for row in queries.compare_runs(con, run_a, run_b).to_pylist()}
    assert rows["latency_ns"] == {
        "name": "latency_ns",
        "unit": "ns",
        "better": "lower",
        "a": 500.0,
        "b": 400.0,
        "delta": -100.0,
        "pct": -20.0,
    }
    assert rows["tflops"]["pct"] == pytest.approx(25.0)
    assert (rows["extra"]["a"], rows["extra"]["delta"], rows["extra"]["pct"]) == (None, None, None)


def test_compare_runs_with_a_negative_baseline(tmp_path):
    """pct is relative to |a|: from -4 to -2 is +50 %, from -4 to -6 is -50 %, whatever the
    sign of a (a relative change must not flip direction with the baseline's sign)."""
    store = Store(tmp_path)
    run_a = _write_hand_run(store, metrics=(("up", -4.0, "x"), ("down", -4.0, "x")))
    run_b = _write_hand_run(store, metrics=(("up", -2.0, "x"), ("down", -6.0, "x")))
    rows = {r["name"]: r for r in queries.compare_runs(store.connect(), run_a, run_b).to_pylist()}
    assert (rows["up"]["delta"], rows["up"]["pct"]) == (2.0, 50.0)
    assert (rows["down"]["delta"], rows["down"]["pct"]) == (-2.0, -50.0)


def test_compare_pes_engines_launches(hand):
    """Per-PE, per-engine and per-launch deltas follow the changed PE 1 GEMM and launch 0."""
    con, run_a, run_b = hand
    pes = {row["pe_global"]: row for row in queries.compare_pes(con, run_a, run_b).to_pylist()}
    assert pes[1]["busy_ns_a"] == 350.0 and pes[1]["busy_ns_b"] == 400.0
    assert pes[1]["delta_busy_ns"] == 50.0 and pes[0]["delta_busy_ns"] == 0.0
    engines = {r["engine"]: r for r in queries.compare_engines(con, run_a, run_b).to_pylist()}
    assert list(engines) == ["DMA_IN", "GEMM", "MATH", "DMA_WB"]
    assert (engines["GEMM"]["busy_ns_a"], engines["GEMM"]["delta_busy_ns"]) == (550.0, 50.0)
    launches = queries.compare_launches(con, run_a, run_b).to_pylist()
    assert [row["launch_id"] for row in launches] == [0, 1]  # largest |delta| first
    assert launches[0]["delta_latency_ns"] == 50.0 and launches[0]["kernel_b"] == "k0"


def test_run_metrics_and_runs_table(hand):
    """run_metrics lists a run's metrics; runs_table filters and carries a metric map."""
    con, run_a, run_b = hand
    assert queries.run_metrics(con, run_a).to_pylist() == [
        {"name": "latency_ns", "value": 500.0, "unit": "ns"},
        {"name": "tflops", "value": 2.0, "unit": "tflops"},
    ]
    runs = queries.runs_table(con).to_pylist()
    assert [row["run_id"] for row in runs] == [run_b, run_a]  # newest first
    assert dict(runs[1]["metrics"]) == {"latency_ns": 500.0, "tflops": 2.0}
    assert queries.runs_table(con, workload="other").num_rows == 0
    assert queries.runs_table(con, status="ok", limit=1).column("run_id").to_pylist() == [run_b]


def test_commit_queries(tmp_path):
    """latest_run_for_commit, compare_commits and metric_history follow commit order."""
    store = Store(tmp_path)
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    at_a = {"git_commit": "a" * 40, "commit_time": t1, "commit_message": "first"}
    at_b = {"git_commit": "b" * 40, "commit_time": t2, "commit_message": "second"}

    def run(git, latency, **kwargs):
        return _write_hand_run(store, git=git, metrics=(("latency_ns", latency, "ns"),), **kwargs)

    run(at_a, 900.0)
    newest_a = run(at_a, 800.0)
    run(at_a, 1.0, params={"n": 2})
    at_b_ok = run(at_b, 700.0)
    run(at_b, 5.0, status="failed")
    con = store.connect()
    assert queries.latest_run_for_commit(con, "hand", {"n": 1}, "aaaa") == newest_a
    assert queries.latest_run_for_commit(con, "hand", '{"n": 1}', "b" * 40) == at_b_ok
    assert queries.latest_run_for_commit(con, "hand", {"n": 1}, "cccc") is None
    (row,) = queries.compare_commits(con, "hand", {"n": 1}, "aaaa", "bbbb").to_pylist()
    assert (row["a"], row["b"], row["delta"]) == (800.0, 700.0, -100.0)
    with pytest.raises(RunNotFoundError, match="commit 'cccc'"):
        queries.compare_commits(con, "hand", {"n": 1}, "aaaa", "cccc")
    history = queries.metric_history(con, "hand", "latency_ns", {"n": 1}).to_pylist()
    assert [(h["commit"][0], h["value"], h["commit_message"]) for h in history] == [
        ("a", 800.0, "first"),
        ("b", 700.0, "second"),
    ]
    assert len(queries.metric_history(con, "hand", "latency_ns").to_pylist()) == 3


def _interval_con(ops: list[tuple[int, str, float, float]]) -> duckdb.DuckDBPyConnection:
    """In-memory tables named like the views, holding only the given ops of run 'r'."""
    con = duckdb.connect()
    for table in ("ops", "pe_exec"):
        columns = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in TABLES[table])
        con.execute(f"CREATE TABLE {table} ({columns})")
    if ops:
        con.executemany(
            "INSERT INTO ops (run_id, pe_global, sip, cube, pe, engine, start_ns, end_ns) "
            "VALUES ('r', ?, 0, 0, ?, ?, ?, ?)",
            [(pe, pe, engine, start, end) for pe, engine, start, end in ops],
        )
    return con


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """Reference: merge sorted intervals and sum their lengths."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


_ops = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["DMA_IN", "GEMM", "MATH", "DMA_WB"]),
        st.integers(0, 1000),
        st.integers(0, 300),
    ).map(lambda t: (t[0], t[1], float(t[2]), float(t[2] + t[3]))),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(_ops)
def test_busy_is_interval_union(ops):
    """pe_breakdown busy times equal a python interval merge, per PE and per engine."""
    rows = queries.pe_breakdown(_interval_con(ops), "r").to_pylist()
    makespan = max(end for *_, end in ops) - min(start for _, _, start, _ in ops)
    assert sorted(row["pe_global"] for row in rows) == sorted({pe for pe, *_ in ops})
    for row in rows:
        mine = [op for op in ops if op[0] == row["pe_global"]]
        assert row["busy_ns"] == pytest.approx(_union_length([(s, e) for *_, s, e in mine]))
        for engine in ("DMA_IN", "GEMM", "MATH", "DMA_WB"):
            expected = _union_length([(s, e) for _, eng, s, e in mine if eng == engine])
            assert row[f"{engine.lower()}_busy_ns"] == pytest.approx(expected)
        assert row["makespan_ns"] == makespan
        assert row["idle_ns"] == pytest.approx(makespan - row["busy_ns"])


def test_comm_compute_exposed_share(tmp_path):
    """Exposed communication = comm union minus its overlap with the compute union."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, workload="tp", params={"n": 1})
    common = dict(grid="1x1x1", n_pes=1, barrier=True, host_issue_ns=0.0, target_start_ns=0.0)
    writer.append("launches", launch_id=0, kernel="gemm", end_ns=15.0, **common)
    writer.append("launches", launch_id=1, kernel="ring", end_ns=30.0, coll_id=0, **common)
    ops = writer.appender("ops")
    # compute on PE 0: GEMM [0, 10] and MATH [5, 15] -> union 15 ns; a DMA_IN does not count.
    ops(0, 0, 0, 0, 0, 0, "GEMM", "dot", 0.0, 0.0, 10.0, 0, 0)
    ops(1, 0, 0, 0, 0, 0, "MATH", "add", 0.0, 5.0, 15.0, 0, 0)
    ops(2, 0, 0, 0, 0, 0, "DMA_IN", "load", 0.0, 0.0, 40.0, 0, 64)
    # communication on PE 0: [12, 20] and [18, 30] -> union 18 ns, overlapping compute 3 ns.
    ops(3, 1, 0, 0, 0, 0, "DMA_WB", "send", 12.0, 12.0, 20.0, 0, 64)
    ops(4, 1, 0, 0, 0, 0, "MATH", "add", 18.0, 18.0, 30.0, 0, 0)
    # PE 1 only computes.
    ops(5, 0, 0, 0, 1, 1, "GEMM", "dot", 0.0, 0.0, 7.0, 0, 0)
    writer.finish(sim_end_ns=40.0, n_events=6)
    rows = queries.comm_compute(store, writer.run_id).to_pylist()
    assert [r["pe_global"] for r in rows] == [0, 1]
    pe0, pe1 = rows
    assert (pe0["compute_ns"], pe0["comm_ns"], pe0["overlap_ns"]) == (15.0, 18.0, 3.0)
    assert pe0["exposed_comm_ns"] == 15.0
    assert pe0["exposed_share"] == pytest.approx(15.0 / 18.0)
    assert (pe1["compute_ns"], pe1["comm_ns"], pe1["exposed_share"]) == (7.0, 0.0, None)


@settings(max_examples=40, deadline=None)
@given(_ops)
def test_engine_summary_busy_is_union_per_pe(ops):
    """engine_summary busy_ns = sum over PEs of the union of that engine's intervals (DMA
    lanes overlap, so a plain sum of op times overstates it); op_ns is the plain sum."""
    rows = {r["engine"]: r for r in queries.engine_summary(_interval_con(ops), "r").to_pylist()}
    assert set(rows) == {engine for _, engine, *_ in ops}
    for engine, row in rows.items():
        mine = [op for op in ops if op[1] == engine]
        expected = sum(
            _union_length([(s, e) for pe_, _, s, e in mine if pe_ == pe])
            for pe in {op[0] for op in mine}
        )
        assert row["busy_ns"] == pytest.approx(expected)
        assert row["op_ns"] == pytest.approx(sum(e - s for *_, s, e in mine))
        assert row["n_ops"] == len(mine)


def test_engine_summary_overlapping_lanes_by_hand():
    """Two DMA_IN lanes of PE 0 overlapping [0, 10] and [5, 20]: busy 20 ns, op time 25 ns."""
    con = _interval_con([(0, "DMA_IN", 0.0, 10.0), (0, "DMA_IN", 5.0, 20.0)])
    (row,) = queries.engine_summary(con, "r").to_pylist()
    assert (row["busy_ns"], row["op_ns"]) == (20.0, 25.0)
