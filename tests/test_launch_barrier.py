"""The launch start barrier: every PE starts together, and no PE before its launch
message has reached it (a barrier at the fastest dispatch would still give spread 0)."""

import pytest

from simulator.runner import run_workload
from traces.store import Store


@pytest.mark.parametrize("topology", ["default", "multi_sip"])
def test_barrier_waits_for_the_slowest_dispatch(tmp_path, topology):
    """With the barrier on, each launch's target_start_ns is the latest dispatch_ns of its
    PEs, every PE starts exactly then, and so none starts before its message arrived."""
    outcome = run_workload("noop", {"launches": 2}, topology=topology, store=tmp_path)
    assert outcome.status == "ok", outcome.error
    con = Store(tmp_path).connect()
    rows = con.sql(
        """
        SELECT l.launch_id, l.target_start_ns, min(p.dispatch_ns), max(p.dispatch_ns),
               min(p.exec_start_ns), max(p.exec_start_ns), count(*)
        FROM launches l JOIN pe_exec p USING (run_id, launch_id)
        WHERE l.run_id = ? GROUP BY ALL ORDER BY l.launch_id
        """,
        params=[outcome.run_id],
    ).fetchall()
    assert len(rows) == 2
    for _, target_ns, first_dispatch_ns, last_dispatch_ns, first_ns, last_ns, n_pes in rows:
        assert n_pes > 1
        assert last_dispatch_ns > first_dispatch_ns  # the paths differ: min and max differ
        assert target_ns == last_dispatch_ns
        assert first_ns == last_ns == target_ns


def test_without_barrier_each_pe_starts_at_its_dispatch(tmp_path):
    """With the barrier off, every PE starts when its own launch message arrives."""
    outcome = run_workload("noop", {"barrier": False}, topology="default", store=tmp_path)
    assert outcome.status == "ok", outcome.error
    rows = (
        Store(tmp_path)
        .connect()
        .sql(
            "SELECT dispatch_ns, exec_start_ns FROM pe_exec WHERE run_id = ?",
            params=[outcome.run_id],
        )
        .fetchall()
    )
    assert len(rows) > 1 and len({d for d, _ in rows}) > 1
    assert all(start == dispatch for dispatch, start in rows)
