"""The trace recorder: positional rows land in the schema's columns, ids and row counts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyarrow.dataset as ds
import pytest
import simpy
from interpreted import interpreted

from simulator.engine.recorder import (
    DEPS_COLUMNS,
    DMA_COLUMNS,
    OPS_COLUMNS,
    PE_EXEC_COLUMNS,
    DmaInfo,
    Recorder,
)
from simulator.hw import graph as g
from simulator.hw.links import Link, Route
from simulator.hw.network import Transfer
from simulator.hw.topology import load_topology
from simulator.runner import run_workload
from traces.runsink import KeyIndex
from traces.schema import TABLES


@pytest.fixture(scope="module")
def topology():
    return load_topology("default")


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("ops", OPS_COLUMNS),
        ("dma", DMA_COLUMNS),
        ("pe_exec", PE_EXEC_COLUMNS),
        ("deps", DEPS_COLUMNS),
    ],
)
def test_positional_columns_are_the_schema_order(table, columns):
    """Each hot-path appender's column tuple is the schema's order without run_id."""
    assert columns == tuple(TABLES[table].names[1:])


def _coord(topology, index=13):
    return topology.pe_coords()[index]


def test_op_row_puts_each_value_in_its_named_column(topology, list_writer):
    """An op with a distinct value per field gives a row whose names match those fields,
    and the deps row of its start (which rides on it) gets what the engine set (a fake
    op: the recorder's interpreted source, tests/interpreted.py)."""
    env = simpy.Environment()
    recorder = interpreted("simulator.engine.recorder").Recorder(env, topology, list_writer)
    coord = _coord(topology)
    env.run(until=7.5)
    op = SimpleNamespace(
        op_id=11, program=SimpleNamespace(launch_id=3, pe=SimpleNamespace(coord=coord)),
        engine=SimpleNamespace(name="GEMM", trace_site_keys={}), name="dot", issue_ns=1.25,
        start_ns=2.5, flops=4096, nbytes=640, lane=1, dep_key=recorder.op_dep_keys["input", "op"],
        dep_on_id=7, dep_ready_ns=2.25, dep_wait_ns=1.0,
    )  # fmt: skip
    recorder.op(op, env.now)
    (row,) = list_writer.rows["ops"]
    assert row == {
        "op_id": 11, "launch_id": 3, "sip": coord.sip, "cube": coord.cube, "pe": coord.pe,
        "pe_global": coord.pe_global, "engine": "GEMM", "op": "dot", "issue_ns": 1.25,
        "start_ns": 2.5, "end_ns": 7.5, "flops": 4096, "bytes": 640, "lane": 1,
    }  # fmt: skip
    assert list_writer.rows["deps"] == [
        {"item": "op", "item_id": 11, "cause": "input", "on_item": "op", "on_id": 7,
         "resource": None, "ready_ns": 2.25, "wait_ns": 1.0, "resource_kind": None}
    ]  # fmt: skip
    assert recorder.n_rows == 1


def test_dma_row_puts_each_value_in_its_named_column(topology, list_writer):
    """A transfer HBM -> other PE's TCM: ids, places, route level and times by name."""
    recorder = Recorder(simpy.Environment(), topology, list_writer)
    src_pe, dst_pe = _coord(topology, 1), _coord(topology, 12)
    links = (
        Link(0, "a", "x", "y", 1.0, 8.0, "cube"),
        Link(1, "b", "y", "z", 1.0, 8.0, "mesh"),
        Link(2, "c", "z", "w", 1.0, 8.0, "cube"),
    )
    src, dst = g.pe_hbm(src_pe), g.pe_tcm(dst_pe)
    route = Route(src, dst, (src, "y", "z", dst), links, 3.0, 8.0)
    transfer = Transfer(5, route, 512, 10.0, 13.0, 77.0, None)
    recorder.transfer(transfer, DmaInfo("send", 4, 9, 2))
    recorder.transfer(transfer, DmaInfo("load", 6, None, None))
    first, second = list_writer.rows["dma"]
    assert first == {
        "dma_id": 0, "launch_id": 4, "kind": "send", "src": src, "dst": dst,
        "src_space": "HBM", "dst_space": "TCM", "src_sip": src_pe.sip,
        "src_cube": src_pe.cube, "src_pe": src_pe.pe, "dst_sip": dst_pe.sip,
        "dst_cube": dst_pe.cube, "dst_pe": dst_pe.pe, "bytes": 512, "hops": 3,
        "level": "mesh", "issue_ns": 10.0, "start_ns": 13.0, "end_ns": 77.0, "coll_id": 9,
        "round": 2,
    }  # fmt: skip
    assert (second["dma_id"], second["kind"], second["coll_id"]) == (1, "load", None)
    assert recorder.next_dma_id == 2
    # Streaming 64 ns for 512 bytes at 8 GB/s (64 ns alone): carried by its narrowest
    # link, ready at issue, no wait.
    assert list_writer.rows["deps"] == [
        {"item": "dma", "item_id": dma_id, "cause": "carried", "on_item": None,
         "on_id": None, "resource": "a", "ready_ns": 10.0, "wait_ns": 0.0,
         "resource_kind": None}
        for dma_id in (0, 1)
    ]  # fmt: skip


def test_pe_exec_row_puts_each_value_in_its_named_column(topology, list_writer):
    """A finished program's launch, place and times land under their own names (a fake
    program: the recorder's interpreted source)."""
    recorder = interpreted("simulator.engine.recorder").Recorder(
        simpy.Environment(), topology, list_writer
    )
    coord = _coord(topology, 30)
    program = SimpleNamespace(
        launch_id=2, pe=SimpleNamespace(coord=coord), dispatch_ns=1.0, exec_start_ns=4.0,
        exec_end_ns=9.0,
    )  # fmt: skip
    recorder.pe_exec(program)
    assert list_writer.rows["pe_exec"] == [
        {"launch_id": 2, "sip": coord.sip, "cube": coord.cube, "pe": coord.pe,
         "pe_global": coord.pe_global, "dispatch_ns": 1.0, "exec_start_ns": 4.0,
         "exec_end_ns": 9.0}
    ]  # fmt: skip


def test_without_a_sink_ids_advance_and_no_rows_are_counted(topology):
    """Tracing off: launch, collective and DMA ids are the same, the row count stays 0."""
    recorder = Recorder(simpy.Environment(), topology, None)
    assert [recorder.new_launch_id() for _ in range(3)] == [0, 1, 2]
    assert [recorder.new_coll_id() for _ in range(2)] == [0, 1]
    route = Route("host", "host", ("host",), (), 0.0, float("inf"))
    recorder.transfer(Transfer(0, route, 8, 0.0, 0.0, 1.0, None), DmaInfo("copy", None, None, None))
    recorder.row("launches", launch_id=0)
    assert (recorder.next_dma_id, recorder.n_rows) == (1, 0)


def test_keyed_columns_stay_few_as_a_trace_grows(tmp_path, monkeypatch):
    """A simulated run with 4x the rows keys as many route, site and dependency
    combinations as the small one: keyed values do not grow with the trace (in the key
    index of whichever process buffers the rows)."""
    made: list = []
    real_init = KeyIndex.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(KeyIndex, "__init__", init)
    counts = []
    for n in (512, 2048):
        made.clear()
        outcome = run_workload("gemm", {"N": n}, store=tmp_path)
        assert outcome.status == "ok"
        rows = {k.table: _row_count(tmp_path, k.table, outcome.run_id) for k in made}
        # What the run reports simulating is what its trace holds (run --json n_ops, n_dmas).
        assert (outcome.n_ops, outcome.n_dmas) == (rows["ops"], rows["dma"])
        counts.append(({k.table: len(k.rows) for k in made}, rows))
    (small_keys, small_rows), (large_keys, large_rows) = counts
    assert sorted(small_keys) == ["deps", "dma", "ops"]
    assert all(large_rows[t] >= 3 * small_rows[t] for t in small_rows)
    assert large_keys == small_keys


def _row_count(store: Path, table: str, run_id: str) -> int:
    """Rows of ``table`` in run ``run_id`` of the store at ``store``."""
    dataset = ds.dataset(store / table, format="parquet", partitioning="hive")
    return dataset.count_rows(filter=ds.field("run_id") == run_id)
