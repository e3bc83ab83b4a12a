"""Dependencies in the trace and the critical path built from them.

Expectations are independent of the walk: deps rows must join to ops/dma/launches rows
and name a releaser that ended no later than the op started; the path's segments must
tile [0, sim_end_ns] (so components sum to the latency); the path must end with the
item that ended last; and on hand-checkable runs the path must be what the cost model
says (a single-PE GEMM spends its path on DMA_IN, GEMM, MATH and DMA_WB of that PE).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.runner import run_workload
from simulator.workloads.registry import list_workloads
from traces.critical_path import critical_path, kernel_window, path_diff
from traces.views import open_store

# Small cases of every workload (name -> overrides), fast enough for the default suite.
SMALL_CASES = {
    "noop": ("noop", {"launches": 2}),
    "dma_sweep": ("dma_sweep", {}),
    "gemm_single_pe": ("gemm_single_pe", {"M": 256, "N": 256, "K": 256}),
    "gemm": ("gemm", {"M": 512, "N": 256, "K": 256}),
    "gpt3_qkv": (
        "gpt3_qkv",
        {"tokens": 256, "hidden": 512, "block_m": 128, "block_n": 128, "block_k": 128},
    ),
    "allreduce_ring": ("ccl_allreduce", {"algorithm": "ring", "world_size": 8, "bytes": 1 << 16}),
    "allreduce_bidir": (
        "ccl_allreduce",
        {"algorithm": "bidir_ring", "world_size": 16, "bytes": 1 << 16},
    ),
    "allreduce_hier": (
        "ccl_allreduce",
        {"algorithm": "hierarchical", "world_size": 32, "bytes": 1 << 16},
    ),
    "tp_mlp": ("tp_mlp", {"tokens": 128, "hidden": 256, "ffn": 512, "tp": 4}),
}
# Every other registered workload runs with its defaults.
SMALL_CASES |= {
    name: (name, {})
    for name in (getattr(w, "name", w) for w in list_workloads())
    if name not in {workload for workload, _ in SMALL_CASES.values()}
}


def _run(store_path, workload, overrides) -> str:
    outcome = run_workload(workload, overrides, store=store_path)
    assert outcome.status == "ok", outcome.error
    return outcome.run_id


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return tmp_path_factory.mktemp("cp_store")


@pytest.fixture(scope="module")
def small_runs(store_path):
    return {name: _run(store_path, w, o) for name, (w, o) in SMALL_CASES.items()}


def _assert_tiles(path) -> None:
    """Segments are in time order, contiguous, from 0 to the latency, and the components
    sum to the latency within float rounding."""
    assert path.segments, "empty path"
    assert path.segments[0].start_ns == 0.0
    assert path.segments[-1].end_ns == pytest.approx(path.latency_ns, rel=1e-12)
    for before, after in zip(path.segments, path.segments[1:], strict=False):
        assert after.start_ns == before.end_ns, (before, after)
        assert after.end_ns > after.start_ns
    total = math.fsum(path.components().values())
    assert total == pytest.approx(path.latency_ns, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("case", sorted(SMALL_CASES))
def test_components_sum_to_latency_on_every_workload(store_path, small_runs, case):
    store = open_store(store_path)
    path = critical_path(store.connect(), small_runs[case])
    _assert_tiles(path)


@pytest.mark.parametrize("case", sorted(SMALL_CASES))
def test_deps_join_and_releasers_end_before_the_op_starts(store_path, small_runs, case):
    con = open_store(store_path).connect()
    run_id = small_runs[case]
    n_ops = con.execute("SELECT count(*) FROM ops WHERE run_id = ?", [run_id]).fetchone()[0]
    # One dependency row per op: the one that released it.
    per_op = con.execute(
        "SELECT count(*), count(DISTINCT item_id) FROM deps WHERE run_id = ? AND item = 'op'",
        [run_id],
    ).fetchone()
    assert per_op == (n_ops, n_ops)
    bad = con.execute(
        """
        SELECT d.item_id, d.cause, d.on_item, d.on_id, o.start_ns, p.end_ns, l.target_start_ns
        FROM deps d JOIN ops o ON o.run_id = d.run_id AND o.op_id = d.item_id
        LEFT JOIN ops p ON p.run_id = d.run_id AND d.on_item = 'op' AND p.op_id = d.on_id
        LEFT JOIN launches l ON l.run_id = d.run_id AND d.on_item = 'launch'
                             AND l.launch_id = d.on_id
        WHERE d.run_id = ? AND d.item = 'op' AND NOT (
            (d.on_item = 'op' AND p.end_ns IS NOT NULL AND p.end_ns <= o.start_ns + 1e-9)
            OR (d.on_item = 'launch' AND l.target_start_ns IS NOT NULL
                AND l.target_start_ns <= o.start_ns + 1e-9)
            OR (d.on_item IS NULL AND d.cause = 'slot'))
        """,
        [run_id],
    ).fetchall()
    assert bad == []
    # Every transfer of a kernel is carried by an op of the same launch (the launch's
    # own messages down the launch path are carried by no op).
    orphans = con.execute(
        """
        SELECT count(*) FROM dma d
        LEFT JOIN deps c ON c.run_id = d.run_id AND c.item = 'dma' AND c.on_item = 'op'
                         AND c.item_id = d.dma_id
        LEFT JOIN ops o ON o.run_id = d.run_id AND o.op_id = c.on_id
        WHERE d.run_id = ? AND d.launch_id IS NOT NULL AND d.kind <> 'launch_msg'
          AND (o.op_id IS NULL OR o.launch_id <> d.launch_id)
        """,
        [run_id],
    ).fetchone()[0]
    assert orphans == 0


def test_path_ends_with_the_item_that_ended_last(store_path, small_runs):
    con = open_store(store_path).connect()
    run_id = small_runs["gemm"]
    path = critical_path(con, run_id)
    last_op = con.execute("SELECT max(end_ns) FROM ops WHERE run_id = ?", [run_id]).fetchone()[0]
    last_op_segment = [s for s in path.segments if s.item == "op"][-1]
    assert last_op_segment.end_ns == last_op


def test_single_pe_gemm_path_is_that_pes_pipeline(store_path, small_runs):
    """gemm_single_pe runs on pe0 only: every op segment is on it, and GEMM time on the
    path is a whole number of the cost model's per-tile GEMM durations."""
    con = open_store(store_path).connect()
    run_id = small_runs["gemm_single_pe"]
    path = critical_path(con, run_id)
    op_segments = [s for s in path.segments if s.item == "op"]
    assert {s.where for s in op_segments} == {"sip0.cube0.pe0"}
    assert {s.component for s in op_segments} >= {"GEMM"}
    tile_ns = con.execute(
        "SELECT min(end_ns - start_ns) FROM ops WHERE run_id = ? AND engine = 'GEMM'", [run_id]
    ).fetchone()[0]
    gemm_ns = path.components()["GEMM"]
    assert gemm_ns / tile_ns == pytest.approx(round(gemm_ns / tile_ns), abs=1e-6)


def test_same_run_explains_zero(store_path, small_runs):
    store = open_store(store_path)
    path = critical_path(store.connect(), small_runs["tp_mlp"])
    diff = path_diff(path, path)
    assert diff["delta_ns"] == 0.0 and diff["contributions"] == [] and diff["diverge"] is None


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    case=st.sampled_from(["gemm", "ring", "tp_mlp"]),
    scale=st.integers(min_value=1, max_value=3),
    pes=st.sampled_from([1, 2, 4, 8]),
)
def test_property_random_small_runs_tile_their_latency(tmp_path_factory, case, scale, pes):
    store_path = tmp_path_factory.mktemp("cp_prop")
    if case == "gemm":
        run = _run(store_path, "gemm", {"M": 128 * scale * pes, "N": 128 * scale,
                                        "K": 128 * (4 - scale), "num_pes": pes})  # fmt: skip
    elif case == "ring":
        run = _run(store_path, "ccl_allreduce", {"algorithm": "ring", "world_size": 2 * pes,
                                                 "bytes": 4096 * scale})  # fmt: skip
    else:
        run = _run(store_path, "tp_mlp", {"tokens": 64 * scale, "hidden": 128, "ffn": 256,
                                          "tp": min(pes, 4) if pes > 1 else 2})  # fmt: skip
    a = critical_path(open_store(store_path).connect(), run)
    _assert_tiles(a)
    # The diff of a path with itself reshuffled by nothing sums to zero; with another
    # run it sums to the latency difference.
    other = _run(store_path, "noop", {})
    b = critical_path(open_store(store_path).connect(), other)
    diff = path_diff(a, b)
    assert math.fsum(c["delta_ns"] for c in diff["contributions"]) == pytest.approx(
        diff["delta_ns"], rel=1e-9, abs=1e-6
    )


def test_perfetto_export_marks_the_path_with_flow_arrows(store_path, small_runs, tmp_path):
    """One arrow from each op of the path to the next: its start and finish sit inside the
    slices of those two ops (same pid/tid, ts within the slice)."""
    import json

    from traces.perfetto import export_perfetto

    run_id = small_runs["gemm"]
    path_ops = [s.item_id for s in critical_path(open_store(store_path), run_id).segments
                if s.item == "op"]  # fmt: skip
    out = tmp_path / "trace.json"
    export_perfetto(open_store(store_path), run_id, out)
    events = json.loads(out.read_text())["traceEvents"]
    op_slice = {e["args"]["op_id"]: e for e in events if e["ph"] == "X" and "op_id" in e["args"]}
    starts = sorted((e for e in events if e["ph"] == "s"), key=lambda e: e["id"])
    ends = sorted((e for e in events if e["ph"] == "f"), key=lambda e: e["id"])
    assert len(starts) == len(ends) == len(path_ops) - 1 > 0
    for k, (s, f) in enumerate(zip(starts, ends, strict=True)):
        for flow, op_id in ((s, path_ops[k]), (f, path_ops[k + 1])):
            target = op_slice[op_id]
            assert (flow["pid"], flow["tid"]) == (target["pid"], target["tid"])
            assert target["ts"] <= flow["ts"] <= target["ts"] + target["dur"]


@pytest.mark.parametrize("case", ["gemm_single_pe", "gpt3_qkv", "allreduce_ring", "tp_mlp"])
def test_kernel_window_leaves_out_the_host_copies(store_path, small_runs, case):
    """--kernels: the path from the first launch's host issue to the last launch's end
    tiles that span (read straight from `launches`) and holds no host copy, while the
    whole run's path does."""
    con = open_store(store_path).connect()
    run_id = small_runs[case]
    first_issue, last_end = con.execute(
        "SELECT min(host_issue_ns), max(end_ns) FROM launches WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    assert kernel_window(con, run_id) == (first_issue, last_end)
    whole = critical_path(con, run_id)
    kernels = whole.within(first_issue, last_end)
    assert kernels.latency_ns == pytest.approx(last_end - first_issue, rel=1e-12)
    _assert_tiles(kernels)
    assert any(c.startswith("host copy") for c in whole.components())
    assert not any(c.startswith("host copy") for c in kernels.components())
    # Cutting keeps every op inside the window as it was, shifted by the window's start.
    ops_in = {(s.item_id, s.start_ns + first_issue) for s in kernels.segments if s.item == "op"}
    ops_whole = {
        (s.item_id, s.start_ns) for s in whole.segments
        if s.item == "op" and s.start_ns >= first_issue and s.end_ns <= last_end
    }  # fmt: skip
    assert {i for i, _ in ops_whole} <= {i for i, _ in ops_in}


def test_explain_kernels_json(store_path, small_runs, capsys):
    """`kernbench explain RUN --kernels --json`: latency is the kernels' span."""
    from simulator.cli import main

    run_id = small_runs["gemm_single_pe"]
    assert main(["explain", run_id, "--kernels", "--json", "--store", str(store_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    con = open_store(store_path).connect()
    span = con.execute(
        "SELECT max(end_ns) - min(host_issue_ns) FROM launches WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]
    assert result["window"] == "kernels"
    assert result["latency_ns"] == pytest.approx(span)
    assert math.fsum(c["ns"] for c in result["components"]) == pytest.approx(span)
    assert main(["explain", run_id, "--json", "--store", str(store_path)]) == 0
    assert json.loads(capsys.readouterr().out)["window"] == "run"


@pytest.mark.parametrize("case", ["gemm", "allreduce_hier", "tp_mlp", "gpt3_qkv", "dma_sweep"])
def test_every_transfer_names_the_resource_that_bounds_it(store_path, small_runs, case):
    """Each transfer has one deps row naming a resource and its kind; a transfer that
    streamed alone ('carried') streamed at exactly the bandwidth the run's topology gives
    that kind (the key named in BANDWIDTH_KEY), one that shared bandwidth slower."""
    from test_resource_kinds import BANDWIDTH_KEY

    con = open_store(store_path).connect()
    run_id = small_runs[case]
    topology = json.loads(
        con.execute("SELECT topology_json FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    )

    def bandwidth(kind: str) -> float:
        value = topology
        for key in BANDWIDTH_KEY[kind].split("."):
            value = value[key]
        return value

    rows = con.execute(
        """
        SELECT d.dma_id, d.hops, c.cause, c.resource, c.resource_kind, d.bytes,
               d.end_ns - d.start_ns, count(c.item_id) OVER (PARTITION BY d.dma_id)
        FROM dma d LEFT JOIN deps c ON c.run_id = d.run_id AND c.item = 'dma'
                                   AND c.item_id = d.dma_id
                                   AND c.cause IN ('carried', 'bandwidth')
        WHERE d.run_id = ?
        """,
        [run_id],
    ).fetchall()
    assert rows
    for dma_id, hops, cause, resource, kind, nbytes, stream_ns, n_deps in rows:
        assert n_deps == 1, dma_id
        if hops == 0:
            continue  # a route without links holds no capacity: latency only
        assert resource and kind in BANDWIDTH_KEY, (dma_id, resource, kind)
        rate = nbytes / stream_ns
        if cause == "carried":
            assert rate == pytest.approx(bandwidth(kind), rel=1e-9), (dma_id, resource)
        else:
            assert cause == "bandwidth" and rate < bandwidth(kind), (dma_id, resource)
    path = critical_path(open_store(store_path), run_id)
    dma = [s for s in path.segments if s.item == "op" and s.component.startswith("DMA")]
    for seg in dma:
        assert seg.component.removeprefix("DMA ") in BANDWIDTH_KEY and seg.resource, seg


@pytest.mark.parametrize("case", ["gemm", "allreduce_hier", "noop"])
def test_launch_messages_chain_back_to_their_launch(store_path, small_runs, case):
    """Every launch message has one ``forward`` row: the host's first waits on its
    launch from the host issue, every other on the message it forwards, released when
    that one arrived and sent no earlier; the launch path on the critical path is such a
    chain, ending at the PE_CPU dispatched last (the start barrier's PE)."""
    con = open_store(store_path).connect()
    run_id = small_runs[case]
    rows = con.execute(
        """
        SELECT m.dma_id, m.src, f.on_item, f.ready_ns, f.wait_ns, m.issue_ns,
               coalesce(p.end_ns, l.host_issue_ns), count(f.item_id) OVER (PARTITION BY m.dma_id)
        FROM dma m
        LEFT JOIN deps f ON f.run_id = m.run_id AND f.item = 'dma' AND f.item_id = m.dma_id
                         AND f.cause = 'forward'
        LEFT JOIN dma p ON p.run_id = m.run_id AND f.on_item = 'dma' AND p.dma_id = f.on_id
        LEFT JOIN launches l ON l.run_id = m.run_id AND f.on_item = 'launch'
                             AND l.launch_id = f.on_id AND l.launch_id = m.launch_id
        WHERE m.run_id = ? AND m.kind = 'launch_msg'
        """,
        [run_id],
    ).fetchall()
    assert rows
    for dma_id, src, on_item, ready, wait, issue, released, n in rows:
        assert n == 1 and released is not None, dma_id
        assert on_item == ("launch" if src == "host" else "dma"), (dma_id, src, on_item)
        assert ready == released and wait == pytest.approx(issue - ready, abs=1e-9)
        assert wait >= 0.0
    path = critical_path(open_store(store_path), run_id)
    messages = [s for s in path.segments if s.component == "launch path" and s.item == "dma"]
    assert messages, "the launch path is not followed through its messages"
    assert messages[0].what.split("message ")[1].startswith("host->")
    dispatch = [s for s in path.segments if s.what.endswith("cpu dispatch")]
    last = con.execute(
        "SELECT max(dispatch_ns) FROM pe_exec p JOIN launches l USING (run_id, launch_id) "
        "WHERE run_id = ? AND l.barrier GROUP BY launch_id",
        [run_id],
    ).fetchall()
    assert {s.end_ns for s in dispatch} <= {row[0] for row in last}
