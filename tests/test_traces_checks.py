"""Tests of the trace invariant checks (traces/checks.py)."""

from traces.checks import check_run
from traces.store import Store
from traces.synthetic import new_synthetic_writer, write_synthetic_run


def test_synthetic_run_is_sound(tmp_path):
    """A well-formed synthetic run violates no invariant."""
    store = Store(tmp_path)
    run_id = write_synthetic_run(store, n_pes=8, n_launches=2)
    assert check_run(store, run_id) == []


def test_unknown_run(tmp_path):
    """A run without a runs row is reported as such."""
    problems = check_run(Store(tmp_path), "20260101-000000-000000-abcd")
    assert len(problems) == 1 and "no runs row" in problems[0]


def test_injected_violations_are_found(tmp_path):
    """Overlapping ops, end before start, a missing pe_exec row and orphan ops are reported."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    writer.append("launches", launch_id=0, n_pes=2, host_issue_ns=0.0, end_ns=500.0)
    writer.append("pe_exec", launch_id=0, pe_global=0, dispatch_ns=0.0, exec_start_ns=10.0,
                  exec_end_ns=400.0)  # fmt: skip
    ops = writer.appender("ops")
    ops(0, 0, 0, 0, 3, 3, "GEMM", "dot", 0.0, 100.0, 200.0, 0, 0)
    ops(1, 0, 0, 0, 3, 3, "GEMM", "dot", 0.0, 150.0, 250.0, 0, 0)  # overlaps op 0
    ops(2, 0, 0, 0, 3, 3, "MATH", "exp", 0.0, 150.0, 250.0, 0, 0)  # other engine: fine
    ops(3, 7, 0, 0, 3, 3, "DMA_IN", "load", 0.0, 300.0, 290.0, 0, 0)  # ends early, no launch 7
    writer.append("dma", dma_id=0, issue_ns=50.0, start_ns=40.0, end_ns=60.0)
    writer.finish(sim_end_ns=500.0, n_events=0)
    problems = check_run(store, writer.run_id)
    text = "\n".join(problems)
    assert "ops: 1 ops start before their engine lane is free" in text
    assert "PE 3 GEMM op 1 starts at 150.0 ns, engine busy until 200.0 ns" in text
    assert "ops: 1 rows have end_ns < start_ns" in text
    assert "dma: 1 rows have start_ns < issue_ns" in text
    assert "launch 0 targets 2 PEs but has 1 pe_exec rows" in text
    assert "ops: 1 rows name a launch_id missing from launches" in text
    assert len(problems) == 5


def test_duplicate_pe_exec_rows(tmp_path):
    """Two pe_exec rows for one PE of a launch are reported even when the count matches."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    writer.append("launches", launch_id=0, n_pes=2)
    writer.append("pe_exec", launch_id=0, pe_global=1)
    writer.append("pe_exec", launch_id=0, pe_global=1)
    writer.finish(sim_end_ns=0.0, n_events=0)
    assert check_run(store, writer.run_id) == [
        "launches: launch 0 targets 2 PEs but has 2 pe_exec rows (1 distinct PEs)"
    ]


def test_allow_overlap_on_named_engines(tmp_path):
    """Engines named in allow_overlap may run ops concurrently; others may not."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    ops = writer.appender("ops")
    ops(0, None, 0, 0, 0, 0, "DMA_IN", "load", 0.0, 0.0, 100.0, 0, 64)
    ops(1, None, 0, 0, 0, 0, "DMA_IN", "load", 0.0, 0.0, 100.0, 0, 64)
    writer.finish(sim_end_ns=100.0, n_events=0)
    assert len(check_run(store, writer.run_id)) == 1
    assert check_run(store, writer.run_id, allow_overlap=["DMA_IN"]) == []


def test_a_link_faster_than_its_bandwidth_or_busier_than_the_run_is_reported(tmp_path):
    """Physics: 100 GB/s busy 10 ns carries at most 1000 bytes, and no link is busy
    longer than the run (500 ns); a link at exactly its bandwidth is fine."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    links = dict(src="a", dst="b", level="mesh", bw_gbs=100.0)
    writer.append("links", link="exact", bytes=1000, busy_ns=10.0, **links)
    writer.append("links", link="too_fast", bytes=1500, busy_ns=10.0, **links)
    writer.append("links", link="too_long", bytes=0, busy_ns=600.0, **links)
    writer.finish(sim_end_ns=500.0, n_events=0)
    assert check_run(store, writer.run_id) == [
        "links: 1 links carried more bytes than their bandwidth allows while busy (worst: "
        "too_fast carried 1500 bytes in 10.0 ns at 100.0 GB/s, at most 1000)",
        "links: 1 links were busy longer than the run lasted (worst: too_long busy 600.0 ns "
        "in a run of 500.0 ns)",
    ]
