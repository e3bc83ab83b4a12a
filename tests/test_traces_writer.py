"""Tests of the streaming run writer (traces/writer.py)."""

import re

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from traces.schema import SCHEMA_VERSION, TABLES
from traces.store import Store
from traces.synthetic import new_synthetic_writer
from traces.writer import NullWriter, RunWriter, new_run_id


@pytest.fixture(params=["this process", "writer process"])
def writer_process(request) -> bool:
    """Whether the run is written by this process (traces/writer.py) or handed to a
    writer process (traces/writer_process.py): both keep the writer's contract."""
    return request.param == "writer process"


def _read(store: Store, table: str, run_id: str):
    """Rows of one run, read as any Arrow tool does: run_id from the Hive partition."""
    dataset = ds.dataset(store.root / table, format="parquet", partitioning="hive")
    return dataset.to_table(filter=ds.field("run_id") == run_id).to_pylist()


def test_run_id_format_and_order():
    """Run ids look like 20261126-073012-123456-3fa2, are unique and sort by creation."""
    ids = [new_run_id() for _ in range(2000)]
    assert all(re.fullmatch(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{4}", run_id) for run_id in ids)
    assert len(set(ids)) == len(ids)
    assert [run_id[:22] for run_id in ids] == sorted(run_id[:22] for run_id in ids)


def test_append_and_appender_round_trip(writer_process, tmp_path):
    """Rows written with append() and appender() read back with run_id and nulls filled."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    writer.append("ops", op_id=1, engine="GEMM", start_ns=10.0, end_ns=25.5)
    add = writer.appender("ops")
    add(2, 0, 0, 1, 3, 11, "MATH", "exp", 1.0, 30.0, 31.0, 4096, 0)
    writer.finish(sim_end_ns=31.0, n_events=2)
    rows = _read(store, "ops", writer.run_id)
    assert rows[0]["run_id"] == writer.run_id
    assert (rows[0]["op_id"], rows[0]["engine"], rows[0]["end_ns"]) == (1, "GEMM", 25.5)
    assert rows[0]["launch_id"] is None and rows[0]["flops"] is None
    assert rows[1] == {
        "run_id": writer.run_id,
        "op_id": 2,
        "launch_id": 0,
        "sip": 0,
        "cube": 1,
        "pe": 3,
        "pe_global": 11,
        "engine": "MATH",
        "op": "exp",
        "issue_ns": 1.0,
        "start_ns": 30.0,
        "end_ns": 31.0,
        "flops": 4096,
        "bytes": 0,
        "lane": None,  # an extension column: positional writers may omit it
    }


def test_runs_row_and_metrics(writer_process, tmp_path):
    """finish() writes one runs row with status, metadata and schema version; metrics land."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(
        store, workload="gemm", params={"m": 64, "a": [1, 2]}, writer_process=writer_process
    )
    writer.metric("tflops", 12.5, "tflops", "higher")
    writer.finish(sim_end_ns=1234.0, n_events=99, verified=True, wall_s=0.5)
    (row,) = _read(store, "runs", writer.run_id)
    assert row["workload"] == "gemm"
    assert row["params"] == '{"a":[1,2],"m":64}'
    assert (row["status"], row["error"], row["verified"]) == ("ok", None, True)
    assert (row["sim_end_ns"], row["n_events"], row["wall_s"]) == (1234.0, 99, 0.5)
    assert row["schema_version"] == SCHEMA_VERSION
    assert row["created_at"].tzinfo is not None
    assert _read(store, "metrics", writer.run_id) == [
        {
            "run_id": writer.run_id,
            "name": "tflops",
            "value": 12.5,
            "unit": "tflops",
            "better": "higher",
        }
    ]


def test_unknown_table_and_column_errors(writer_process, tmp_path):
    """Unknown tables and columns raise ValueError naming them; runs is not appendable."""
    writer = new_synthetic_writer(Store(tmp_path), writer_process=writer_process)
    with pytest.raises(ValueError, match="'opz'"):
        writer.append("opz", op_id=1)
    with pytest.raises(ValueError, match="'start'"):
        writer.append("ops", start=1.0)
    with pytest.raises(ValueError, match="'nope'"):
        writer.appender("nope")
    with pytest.raises(ValueError, match="finish"):
        writer.append("runs", status="ok")
    with pytest.raises(TypeError):
        writer.appender("ops")(1, 2, 3)


def test_batches_flush_and_preserve_rows(tmp_path):
    """With small batches, rows stream as several row groups and all come back in order."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    for buffer in writer._buffers.values():
        buffer.batch_rows = 100
    add = writer.appender("ops")
    for i in range(1050):
        add(i, 0, 0, 0, 0, 0, "GEMM", "dot", 0.0, float(i), float(i) + 1, 0, 0)
    assert len(writer._buffers["ops"]) == 50  # 1000 rows already flushed
    writer.finish(sim_end_ns=1.0, n_events=0)
    path = next((store.root / "ops" / f"run_id={writer.run_id}").glob("*.parquet"))
    assert pq.ParquetFile(path).metadata.num_row_groups == 11
    assert [row["op_id"] for row in _read(store, "ops", writer.run_id)] == list(range(1050))


def test_every_table_gets_a_file_without_run_id_inside(writer_process, tmp_path):
    """Each table gets a partition for every run (empty when it had no rows), and no
    file holds run_id as a column: it is only the Hive partition key."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    writer.append("launches", launch_id=0, n_pes=1)
    writer.finish(sim_end_ns=0.0, n_events=0)
    for table, schema in TABLES.items():
        (path,) = (store.root / table / f"run_id={writer.run_id}").glob("*.parquet")
        inside = pq.read_schema(path)
        assert "run_id" not in inside.names, table
        assert inside.names == [name for name in schema.names if name != "run_id"], table
        expected_rows = {"runs": 1, "launches": 1}.get(table, 0)
        assert pq.read_metadata(path).num_rows == expected_rows, table


def test_nothing_visible_before_finish(tmp_path):
    """Until finish(), rows live under _tmp and the run is not listed."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    writer.append("ops", op_id=1)
    writer._buffers["ops"].flush()
    assert store.run_ids() == []
    assert not (store.root / "ops").exists()
    assert list((store.root / "_tmp" / writer.run_id / "ops").glob("*.parquet"))
    writer.finish(sim_end_ns=1.0, n_events=1)
    assert store.run_ids() == [writer.run_id]
    assert not (store.root / "_tmp" / writer.run_id).exists()


def test_exception_records_failed_run(writer_process, tmp_path):
    """An exception inside the with-block publishes a failed run with the error and re-raises."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    with pytest.raises(KeyError), writer:
        writer.append("ops", op_id=7)
        raise KeyError("pe 3")
    (row,) = _read(store, "runs", writer.run_id)
    assert row["status"] == "failed"
    assert row["error"] == "KeyError: 'pe 3'"
    assert len(_read(store, "ops", writer.run_id)) == 1


def test_leaving_without_finish_records_failed(writer_process, tmp_path):
    """Leaving the with-block without finish() records the run as failed."""
    store = Store(tmp_path)
    with new_synthetic_writer(store, writer_process=writer_process) as writer:
        pass
    (row,) = _read(store, "runs", writer.run_id)
    assert row["status"] == "failed"
    assert "without finish" in row["error"]


def test_finish_twice_and_write_after_finish(writer_process, tmp_path):
    """A finished run refuses further writes and a second finish()."""
    writer = new_synthetic_writer(Store(tmp_path), writer_process=writer_process)
    writer.finish(sim_end_ns=0.0, n_events=0)
    with pytest.raises(RuntimeError, match="finished"):
        writer.finish(sim_end_ns=0.0, n_events=0)
    with pytest.raises(RuntimeError, match="finished"):
        writer.append("ops", op_id=1)


def test_bad_value_fails_run_and_names_column(writer_process, tmp_path):
    """A value of the wrong type raises ValueError naming table and column; the run is failed."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    writer.append("ops", op_id=1, flops="many")
    with pytest.raises(ValueError, match="'ops' column 'flops'"):
        writer.finish(sim_end_ns=1.0, n_events=1)
    (row,) = _read(store, "runs", writer.run_id)
    assert row["status"] == "failed"
    assert "flops" in row["error"]


def test_invalid_status_and_params(writer_process, tmp_path):
    """finish() rejects unknown statuses; new_run rejects params JSON cannot hold."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    with pytest.raises(ValueError, match="'done'"):
        writer.finish(status="done", sim_end_ns=0.0, n_events=0)
    with pytest.raises(ValueError, match="params"):
        new_synthetic_writer(store, params={"f": object()}, writer_process=writer_process)


def test_null_writer_is_inert(tmp_path):
    """NullWriter takes the whole API, writes nothing and has run_id None."""
    writer = NullWriter()
    with writer:
        writer.append("ops", op_id=1)
        writer.appender("ops")(1, 2, 3)
        writer.metric("x", 1.0, "ns", "lower")
        writer.finish(sim_end_ns=1.0, n_events=1)
    assert writer.run_id is None
    assert list(tmp_path.iterdir()) == []


def test_run_writer_public_api_matches_null_writer():
    """NullWriter and the writer process's ProcessRunWriter offer every public method of
    RunWriter but the four a writer process hands a run over with."""
    from traces.writer_process import ProcessRunWriter

    public = {name for name in vars(RunWriter) if not name.startswith("_")}
    public -= {"extend", "key_columns", "update_run_row", "open_files"}
    assert public <= set(dir(NullWriter))
    assert public <= set(dir(ProcessRunWriter))


def test_runs_row_is_published_after_every_data_table(tmp_path, monkeypatch):
    """finish() moves each data table into the store before the runs partition, so a
    reader that sees the runs row (the commit marker) finds the whole run."""
    import os

    import traces.writer as writer_module

    store = Store(tmp_path)
    writer = new_synthetic_writer(store, workload="w", params={"n": 1})
    writer.metric("x", 1.0, "ns", "lower")
    writer.append("launches", launch_id=0, kernel="k", grid="1x1x1", n_pes=1, barrier=True,
                  host_issue_ns=0.0, target_start_ns=0.0, end_ns=1.0)  # fmt: skip
    moved: list[str] = []
    seen_when_runs_published: set[str] = set()
    real_replace = os.replace

    def replace(src, dst):
        table = os.path.basename(os.path.dirname(dst))
        if table == "runs":
            seen_when_runs_published.update(
                name for name in ("metrics", "launches")
                if (tmp_path / name / f"run_id={writer.run_id}").is_dir()
            )  # fmt: skip
        moved.append(table)
        return real_replace(src, dst)

    monkeypatch.setattr(writer_module.os, "replace", replace)
    writer.finish(sim_end_ns=1.0, n_events=1)
    assert moved[-1] == "runs" and moved.count("runs") == 1
    assert {"metrics", "launches"} <= set(moved[:-1])
    assert seen_when_runs_published == {"metrics", "launches"}


def test_chunks_of_rows_make_one_row_group_per_batch(tmp_path, monkeypatch):
    """Rows converted in small chunks (each with its own string dictionary) are written
    as one row group per batch, every row once, in order, strings intact."""
    import traces.writer as writer_module

    monkeypatch.setattr(writer_module, "CHUNK_ROWS", 7)
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    writer._buffers["ops"].batch_rows = 100
    add = writer.appender("ops")
    engines = ["DMA_IN", "GEMM", "MATH", "DMA_WB"]
    for i in range(250):
        add(i, 0, 0, 0, 0, 0, engines[(i // 7) % 4], f"op{i % 3}", 0.0, float(i), i + 1.0, 0, 0)
    # A batch goes out at the first whole chunk that reaches 100 rows: 15 chunks of 7.
    assert len(writer._buffers["ops"]) == 250 - 2 * 105
    writer.finish(sim_end_ns=1.0, n_events=0)
    path = next((store.root / "ops" / f"run_id={writer.run_id}").glob("*.parquet"))
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [105, 105, 40]
    rows = _read(store, "ops", writer.run_id)
    assert [r["op_id"] for r in rows] == list(range(250))
    assert [r["engine"] for r in rows] == [engines[(i // 7) % 4] for i in range(250)]
    assert [r["op"] for r in rows] == [f"op{i % 3}" for i in range(250)]


def test_a_failed_background_write_fails_the_run(tmp_path, monkeypatch):
    """An error while a batch is encoded off the simulating thread is not lost: finish()
    publishes the run as failed with that error and raises it."""
    import traces.writer as writer_module

    real_write = writer_module.pq.ParquetWriter.write_table

    def broken_write(self, table, row_group_size=None):
        if "op_id" in table.schema.names:  # the ops table's batch, not the runs row
            raise OSError("No space left on device")
        return real_write(self, table, row_group_size=row_group_size)

    monkeypatch.setattr(writer_module.pq.ParquetWriter, "write_table", broken_write)
    store = Store(tmp_path)
    writer = new_synthetic_writer(store)
    writer.append("ops", op_id=1)
    with pytest.raises(OSError, match="No space left"):
        writer.finish(sim_end_ns=1.0, n_events=1)
    (row,) = _read(store, "runs", writer.run_id)
    assert row["status"] == "failed"
    assert "No space left" in row["error"]


def test_writing_a_run_imports_no_pyarrow_compute(tmp_path):
    """Dictionary and keyed columns are converted without pyarrow.compute, pandas or
    numpy.ma (tens of ms to import, paid by every traced run)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import numpy\n"
        "lazy_ma = 'numpy.ma' not in sys.modules  # numpy < 2 imports numpy.ma itself\n"
        "from traces.writer import skip_pandas_probe\n"
        "skip_pandas_probe()\n"
        "from traces.store import Store\n"
        "from traces.synthetic import new_synthetic_writer\n"
        f"writer = new_synthetic_writer(Store({str(tmp_path)!r}))\n"
        "writer.append('ops', op_id=1, engine='GEMM', op='dot')\n"
        "writer.append('dma', dma_id=1, kind='load', src='a', dst='b')\n"
        "append, key_of = writer.keyed_appender('dma', ('src', 'src_pe'))\n"
        "append(key_of('c', None), *[2] + [None] * 18)\n"
        "writer.finish(sim_end_ns=1.0, n_events=3)\n"
        "late = {'numpy.ma'} if lazy_ma else set()\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.startswith(('pyarrow.compute', 'pandas')) or m in late))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert len(_read(Store(tmp_path), "ops", _only_run(tmp_path))) == 1
    assert [r["dma_id"] for r in _read(Store(tmp_path), "dma", _only_run(tmp_path))] == [1, 2]


def _only_run(root) -> str:
    (run_dir,) = (root / "runs").iterdir()
    return run_dir.name.removeprefix("run_id=")


def test_keyed_rows_read_back_as_if_every_value_was_appended(writer_process, tmp_path, monkeypatch):
    """Rows given as a key of their route columns (nulls, new keys in later chunks) read
    back with every column's own value, in order, beside rows appended plainly."""
    _small_chunks(monkeypatch, writer_process, chunk_rows=7)
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    if not writer_process:
        writer._buffers["dma"].batch_rows = 20
    keyed = ("src", "dst", "src_pe", "hops", "level")
    append, key_of = writer.keyed_appender("dma", keyed)
    routes = [(f"n{i}", f"m{i % 3}", None if i % 4 == 0 else i, i % 5, "mesh" if i % 2 else None)
              for i in range(9)]  # fmt: skip
    expected = []
    for i in range(60):
        route = routes[(i * 7) % (3 + i // 10)]  # more routes appear as rows go on
        others = {name: _dma_value(name, i) for name in DMA_NAMES if name not in keyed}
        append(key_of(*route), *others.values())
        expected.append(dict(zip(keyed, route, strict=True)) | others)
    writer.append("dma", dma_id=60, kind="copy", src="host")
    plain = {"dma_id": 60, "kind": "copy", "src": "host"}
    expected.append(dict.fromkeys(DMA_NAMES) | plain)
    writer.finish(sim_end_ns=1.0, n_events=61)
    rows = _read(store, "dma", writer.run_id)
    assert sorted((r for r in rows), key=lambda r: r["dma_id"]) == [
        {"run_id": writer.run_id} | row for row in expected
    ]
    assert key_of(*routes[0]) == key_of(*routes[0]) != key_of(*routes[1])


def test_row_appender_extends_the_buffer_and_calls_full_at_the_limit():
    """The compiled row appender (traces.row_buffer): each call adds its values in order;
    ``full`` runs on the call that brings the buffer to ``limit`` values, and after."""
    from traces.row_buffer import RowAppender

    values: list = []
    fulls = []
    append = RowAppender(values, 6, lambda: fulls.append(len(values)))
    append(1, "a", None)
    assert (values, fulls) == ([1, "a", None], [])
    append(2.5, "b", 3)
    append(4, "c", 5)
    assert values == [1, "a", None, 2.5, "b", 3, 4, "c", 5] and fulls == [6, 9]


DMA_NAMES = [n for n in TABLES["dma"].names if n != "run_id"]
DEPS_NAMES = [n for n in TABLES["deps"].names if n != "run_id"]
DEPS_KEYED = ("item", "cause", "on_item", "resource", "resource_kind")


def test_rider_rows_land_in_their_own_table(writer_process, tmp_path, monkeypatch):
    """A deps row riding on each dma row reads back as a deps row of its own, value for
    value, beside deps rows appended plainly; new rider keys in later chunks and rider
    batches written before the run ends included."""
    _small_chunks(monkeypatch, writer_process, chunk_rows=7)
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    if not writer_process:
        writer._buffers["deps"].batch_rows = 20
    append_dep = writer.appender("deps", DEPS_KEYED)
    dep_key = writer.keyed_appender("deps", DEPS_KEYED)[1]
    keyed = ("src", "dst")
    append, key_of = writer.keyed_appender("dma", keyed, rider="deps")
    expected_dma, expected_deps = [], []
    for i in range(60):
        route = (f"n{i % 3}", f"m{i % 5}")
        others = {name: _dma_value(name, i) for name in DMA_NAMES if name not in keyed}
        cause = ("dma", "carried" if i % 3 else "bandwidth", None if i % 4 else "op",
                 f"link{i % (2 + i // 10)}", "mesh_link")  # fmt: skip
        dep = {"item_id": i, "on_id": None if i % 4 else i + 100, "ready_ns": i * 0.5,
               "wait_ns": float(i % 2)}  # fmt: skip
        append(key_of(*route), *others.values(), dep_key(*cause), *dep.values())
        expected_dma.append(dict(zip(keyed, route, strict=True)) | others)
        expected_deps.append(dict(zip(DEPS_KEYED, cause, strict=True)) | dep)
        if i % 25 == 0:  # plain rows of the rider's table between riding ones
            append_dep("op", i, "engine", "op", i - 1, None, 1.0, 2.0, None)
            expected_deps.append(dict(zip(DEPS_NAMES, ("op", i, "engine", "op", i - 1, None,
                                                       1.0, 2.0, None), strict=True)))  # fmt: skip
    writer.finish(sim_end_ns=1.0, n_events=60)

    def ordered(rows, *by):
        return sorted(rows, key=lambda row: tuple(row[name] for name in by))

    assert ordered(_read(store, "dma", writer.run_id), "dma_id") == [
        {"run_id": writer.run_id} | row for row in expected_dma
    ]
    assert ordered(_read(store, "deps", writer.run_id), "item", "item_id") == ordered(
        [{"run_id": writer.run_id} | {name: row[name] for name in DEPS_NAMES}
         for row in expected_deps], "item", "item_id"
    )  # fmt: skip


def test_rider_keys_reach_a_writer_process_before_a_rider_batch_is_written(tmp_path):
    """Rows whose riders use keys made at the start, and no plain row of the rider's
    table: the child still knows those keys when it writes a full batch of rider rows
    (more than BATCH_ROWS of them) long before the run ends."""
    from traces.writer import BATCH_ROWS

    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=True)
    dep_key = writer.keyed_appender("deps", DEPS_KEYED)[1]
    append, key_of = writer.keyed_appender("dma", ("src", "dst"), rider="deps")
    route, carried = key_of("a", "b"), dep_key("dma", "carried", None, "link", "mesh_link")
    n = BATCH_ROWS + 100
    for i in range(n):
        append(route, i, *[None] * 18, carried, i, None, 0.5 * i, 0.0)
    writer.finish(sim_end_ns=1.0, n_events=n)
    deps = _read(store, "deps", writer.run_id)
    assert len(deps) == n
    assert {(r["cause"], r["resource"], r["resource_kind"]) for r in deps} == {
        ("carried", "link", "mesh_link")
    }


def test_rider_errors_name_the_tables(writer_process, tmp_path):
    """A rider without keyed columns, riding on itself or carrying a rider, and rows of
    a table with a rider that would not carry it: one clear message each."""
    writer = new_synthetic_writer(Store(tmp_path), writer_process=writer_process)
    with pytest.raises(ValueError, match=r"'deps' cannot ride on 'dma'"):
        writer.keyed_appender("dma", ("src",), rider="deps")  # deps has no keyed columns
    writer.keyed_appender("deps", DEPS_KEYED)
    with pytest.raises(ValueError, match=r"'deps' cannot ride on 'deps'"):
        writer.keyed_appender("deps", DEPS_KEYED, rider="deps")
    writer.keyed_appender("dma", ("src",), rider="deps")
    with pytest.raises(ValueError, match=r"'dma' already has rider 'deps', not None"):
        writer.keyed_appender("dma", ("src",))
    with pytest.raises(ValueError, match=r"'dma' already has rider 'deps', not None"):
        writer.appender("dma", ("src",))  # its rows must carry their riders
    with pytest.raises(ValueError, match=r"'dma' cannot ride on 'ops'"):
        writer.keyed_appender("ops", ("engine",), rider="dma")  # dma carries a rider
    with pytest.raises(ValueError, match=r"'pe_exec' cannot ride on 'deps'"):
        writer.keyed_appender("deps", DEPS_KEYED, rider="pe_exec")  # deps rides on dma
    writer.finish(sim_end_ns=1.0, n_events=0)


def _small_chunks(monkeypatch, writer_process: bool, chunk_rows: int) -> None:
    """Convert (this process) or send (to a writer process) every ``chunk_rows`` rows, so
    that keys first seen in later chunks are exercised."""
    if writer_process:
        import traces.writer_process as module
    else:
        import traces.writer as module
    monkeypatch.setattr(module, "CHUNK_ROWS", chunk_rows)


def _dma_value(name: str, i: int):
    """A value of dma column ``name`` for row ``i`` (some null, some repeated)."""
    if name == "dma_id":
        return i
    if i % 6 == 0 and name != "bytes":
        return None
    if name.endswith("_ns"):
        return i * 1.5
    if name in ("kind", "src_space", "dst_space", "src", "dst", "level"):
        return f"{name}{i % 4}"
    return i % 11


def test_keyed_appender_errors_name_the_table_and_column(writer_process, tmp_path):
    """Unknown or unkeyable columns, a second keyed set and a bad keyed value: one clear
    message each (a bad value fails the run, naming its column)."""
    writer = new_synthetic_writer(Store(tmp_path), writer_process=writer_process)
    with pytest.raises(ValueError, match=r"'dma'.*cannot key columns nope"):
        writer.keyed_appender("dma", ("nope",))
    with pytest.raises(ValueError, match=r"'launches' column 'barrier' \(bool\) cannot be keyed"):
        writer.keyed_appender("launches", ("barrier",))
    append, key_of = writer.keyed_appender("dma", ("src", "hops"))
    with pytest.raises(ValueError, match=r"already has keyed columns src, hops, not src"):
        writer.keyed_appender("dma", ("src",))
    with pytest.raises(ValueError, match=r"1 keyed values for 2 columns"):
        key_of("a")
    append(key_of("a", "three"), *[None] * 19)
    with pytest.raises(ValueError, match=r"'dma' column 'hops' \(int32\)"):
        writer.finish(sim_end_ns=1.0, n_events=1)


def test_positional_appender_with_keyed_columns_reads_back_every_value(
    writer_process, tmp_path, monkeypatch
):
    """appender(table, keyed) takes whole rows (trailing extension column omitted) and
    stores the keyed columns as one key: rows read back exactly as given."""
    _small_chunks(monkeypatch, writer_process, chunk_rows=5)
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=writer_process)
    if not writer_process:
        writer._buffers["deps"].batch_rows = 12
    add = writer.appender("deps", ("item", "cause", "on_item", "resource", "resource_kind"))
    causes = ["engine", "input", "carried", "bandwidth"]
    expected = []
    for i in range(40):
        resource = None if i % 4 < 2 else f"link{i % 5}"
        kind = None if i % 7 else "hbm"
        on_item = None if i % 3 == 0 else "op"
        item = "op" if i % 2 else "dma"
        row = (item, i, causes[i % 4], on_item, i // 2, resource, i * 0.5, i * 0.25, kind)
        if row[-1] is None and i % 2:
            add(*row[:-1])  # the extension column defaults to null
        else:
            add(*row)
        expected.append(dict(zip(DEPS_NAMES, row, strict=True)))
    writer.finish(sim_end_ns=1.0, n_events=40)
    rows = _read(store, "deps", writer.run_id)
    assert sorted(rows, key=lambda r: r["item_id"]) == [
        {"run_id": writer.run_id} | row for row in expected
    ]


DEPS_NAMES = [n for n in TABLES["deps"].names if n != "run_id"]
