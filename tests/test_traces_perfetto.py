"""Tests of the Perfetto (Chrome trace-event JSON) export (traces/perfetto.py)."""

import json
from collections import defaultdict

import pytest

from traces.perfetto import export_perfetto
from traces.store import Store
from traces.synthetic import new_synthetic_writer, write_synthetic_run


@pytest.fixture
def exported(tmp_path):
    """A synthetic run plus overlapping DMAs and two overlapping ops on one engine, exported."""
    store = Store(tmp_path / "store")
    run_id = write_synthetic_run(store, n_pes=8, n_launches=2, tiles_per_pe=3)
    con = store.connect()
    counts = {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("ops", "dma", "pe_exec", "collective_rounds", "links")
    }
    path = tmp_path / "trace.json"
    n_events = export_perfetto(store, run_id, path)
    return json.loads(path.read_text()), n_events, counts


def test_valid_chrome_trace(exported):
    """The file is a trace-event JSON object in ns display units; the count matches."""
    trace, n_events, _ = exported
    assert trace["displayTimeUnit"] == "ns"
    assert len(trace["traceEvents"]) == n_events
    assert {event["ph"] for event in trace["traceEvents"]} == {"X", "M"}


def test_every_row_is_one_complete_event(exported):
    """Each op, DMA, PE execution, collective round and link gives one X event with ts/dur."""
    trace, _, counts = exported
    slices = [event for event in trace["traceEvents"] if event["ph"] == "X"]
    assert len(slices) == sum(counts.values())
    for event in slices:
        assert {"ts", "dur", "pid", "tid", "name"} <= set(event)
        assert event["dur"] >= 0


def test_no_overlap_within_a_track(exported):
    """No two slices on one (pid, tid) overlap."""
    trace, _, _ = exported
    tracks = defaultdict(list)
    for event in trace["traceEvents"]:
        if event["ph"] == "X":
            tracks[(event["pid"], event["tid"])].append((event["ts"], event["ts"] + event["dur"]))
    for spans in tracks.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end - 1e-9


def test_tracks_are_named(exported):
    """Every pid has a process name and every used (pid, tid) a thread name; engines appear."""
    trace, _, _ = exported
    events = trace["traceEvents"]
    processes = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    used = {(e["pid"], e["tid"]) for e in events if e["ph"] == "X"}
    assert used <= set(threads)
    assert {pid for pid, _ in used} <= processes
    names = set(threads.values())
    assert {"DMA_IN", "GEMM", "MATH", "DMA_WB", "launch", "dma load", "rank 0"} <= names


def test_overlaps_go_to_extra_tracks(tmp_path):
    """Overlapping ops on one engine and overlapping DMAs land on separate numbered tracks."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    add = writer.appender("ops")
    add(0, 0, 0, 0, 0, 0, "GEMM", "dot", 0.0, 0.0, 100.0, 1, 0)
    add(1, 0, 0, 0, 0, 0, "GEMM", "dot", 0.0, 50.0, 150.0, 1, 0)
    add(2, 0, 0, 0, 0, 0, "GEMM", "dot", 0.0, 100.0, 120.0, 1, 0)
    for dma_id in range(3):
        writer.append("dma", dma_id=dma_id, kind="load", dst_sip=0, dst_cube=0, dst_pe=0,
                      issue_ns=0.0, start_ns=10.0 * dma_id, end_ns=100.0)  # fmt: skip
    writer.finish(sim_end_ns=150.0, n_events=0)
    path = tmp_path / "t.json"
    export_perfetto(store, writer.run_id, path)
    events = json.loads(path.read_text())["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    tracks = defaultdict(list)
    for event in events:
        if event["ph"] == "X":
            tracks[names[(event["pid"], event["tid"])]].append(event["args"].get("op_id"))
    assert tracks["GEMM"] == [0, 2] and tracks["GEMM #2"] == [1]
    assert len(tracks["dma load"]) == len(tracks["dma load #2"]) == len(tracks["dma load #3"]) == 1


def test_unknown_run_gives_empty_trace(tmp_path):
    """Exporting a run id with no rows writes a valid trace with no slices."""
    path = tmp_path / "t.json"
    export_perfetto(Store(tmp_path / "store"), "nope", path)
    events = json.loads(path.read_text())["traceEvents"]
    assert [e for e in events if e["ph"] == "X"] == []
