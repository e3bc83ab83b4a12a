"""Trend queries (traces/trends.py) and the ops window and round deltas of traces/queries.py."""

from datetime import UTC, datetime

import pytest

from traces import queries, trends
from traces.store import Store
from traces.synthetic import new_synthetic_writer


def _run(store, *, commit, day, value, params=None, status="ok", workload="w", ops=()):
    """One run at `commit` (committed on January `day`) with metric lat_ns = value."""
    git = {
        "git_commit": commit,
        "commit_time": None if day is None else datetime(2026, 1, day, tzinfo=UTC),
        "commit_message": f"message {commit}",
        "git_branch": "main",
    }
    writer = new_synthetic_writer(store, workload=workload, params=params or {"n": 1}, git=git)
    for op_id, (pe, engine, lane, start, end) in enumerate(ops):
        writer.append("ops", op_id=op_id, launch_id=0, sip=0, cube=0, pe=pe, pe_global=pe,
                      engine=engine, op="op", issue_ns=start, start_ns=start, end_ns=end,
                      flops=0, bytes=64, lane=lane)  # fmt: skip
    writer.metric("lat_ns", value, "ns", "lower")
    writer.finish(status=status, sim_end_ns=1.0, n_events=1)
    return writer.run_id


@pytest.fixture
def history(tmp_path):
    """Commits c1 (Jan 1), c2 (Jan 2), c3 (Jan 3, failed only) of workload w; c2 has two
    runs with params n=1 (the newer wins) and c1 one more with n=2 (newest at c1)."""
    store = Store(tmp_path)
    ids = {
        "c2_old": _run(store, commit="c2", day=2, value=20.0),
        "c1": _run(store, commit="c1", day=1, value=10.0),
        "c2_new": _run(store, commit="c2", day=2, value=25.0),
        "c1_n2": _run(store, commit="c1", day=1, value=99.0, params={"n": 2}),
        "c3_failed": _run(store, commit="c3", day=3, value=1.0, status="failed"),
        "other": _run(store, commit="c1", day=1, value=5.0, workload="other"),
    }
    return store.connect(), ids


def test_workload_commits_newest_ok_run_per_commit(history):
    """Any params: the newest ok run at each commit, oldest commit first; failed runs skipped."""
    con, ids = history
    rows = trends.workload_commits(con, "w").to_pylist()
    assert [(r["commit"], r["run_id"], r["n_runs"]) for r in rows] == [
        ("c1", ids["c1_n2"], 2),
        ("c2", ids["c2_new"], 2),
    ]
    one_set = trends.workload_commits(con, "w", {"n": 1}).to_pylist()
    assert [(r["commit"], r["run_id"]) for r in one_set] == [
        ("c1", ids["c1"]),
        ("c2", ids["c2_new"]),
    ]


def test_metric_trend_values_per_commit(history):
    """The metric of each commit's newest ok run (of the parameter set, when given)."""
    con, ids = history
    rows = trends.metric_trend(con, "w", "lat_ns", '{"n":1}').to_pylist()
    assert [(r["commit"], r["value"], r["unit"]) for r in rows] == [
        ("c1", 10.0, "ns"),
        ("c2", 25.0, "ns"),
    ]
    any_params = trends.metric_trend(con, "w", "lat_ns").to_pylist()
    assert [r["value"] for r in any_params] == [99.0, 25.0]
    assert trends.metric_trend(con, "w", "no_such_metric").num_rows == 0


def test_param_sets_and_workload_metrics(history):
    """Parameter sets by commits seen; metric names with the runs recording them."""
    con, ids = history
    sets = trends.param_sets(con, "w").to_pylist()
    assert [(s["params"], s["n_runs"], s["n_commits"]) for s in sets] == [
        ('{"n":1}', 3, 2),
        ('{"n":2}', 1, 1),
    ]
    assert trends.workload_metrics(con, "w").to_pylist() == [
        {"name": "lat_ns", "unit": "ns", "better": "lower", "n_runs": 4}
    ]


def test_ops_window_bounds_pes_and_rows(tmp_path):
    """Only ops of the PE range, earliest first, at most `limit`, with the range's total."""
    store = Store(tmp_path)
    ops = [
        (0, "DMA_IN", 0, 0.0, 10.0),
        (0, "DMA_IN", 1, 2.0, 12.0),
        (1, "GEMM", 0, 5.0, 30.0),
        (2, "MATH", 0, 1.0, 3.0),
        (3, "GEMM", 0, 0.5, 9.0),
    ]
    run_id = _run(store, commit="c", day=1, value=1.0, ops=ops)
    rows = queries.ops_window(store.connect(), run_id, 0, 2, 3).to_pylist()
    assert [(r["pe_global"], r["engine"], r["lane"], r["start_ns"]) for r in rows] == [
        (0, "DMA_IN", 0, 0.0),
        (2, "MATH", 0, 1.0),
        (0, "DMA_IN", 1, 2.0),
    ]
    assert {r["total_ops"] for r in rows} == {4}
    assert rows[0]["duration_ns"] == 10.0


def _rounds_run(store, durations_ns):
    """A run whose collective 0 has, per round, ranks 0 and 1 taking these durations."""
    writer = new_synthetic_writer(store, workload="coll")
    rounds = writer.appender("collective_rounds")
    for round_, (rank0_ns, rank1_ns) in enumerate(durations_ns):
        rounds(0, 0, round_, "rs", "intra_cube", 1, 100, 0.0, rank0_ns)
        rounds(0, 1, round_, "rs", "intra_cube", 0, 100, 0.0, rank1_ns)
    writer.finish(sim_end_ns=1.0, n_events=1)
    return writer.run_id


def test_compare_rounds_matches_rounds_largest_change_first(tmp_path):
    """Rounds pair up by (coll_id, round); delta = b - a of the slowest rank's time."""
    store = Store(tmp_path)
    run_a = _rounds_run(store, [(10.0, 12.0), (20.0, 20.0)])
    run_b = _rounds_run(store, [(10.0, 13.0), (20.0, 50.0)])
    rows = queries.compare_rounds(store.connect(), run_a, run_b).to_pylist()
    assert [
        (r["round"], r["slowest_ns_a"], r["slowest_ns_b"], r["delta_slowest_ns"]) for r in rows
    ] == [
        (1, 20.0, 50.0, 30.0),
        (0, 12.0, 13.0, 1.0),
    ]
    assert rows[0]["slowest_rank_b"] == 1
    assert queries.compare_rounds(store.connect(), "nope", "nada").num_rows == 0
