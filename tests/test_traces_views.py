"""Tests of the DuckDB views and read-only SQL (traces/views.py, traces/views.sql)."""

import shutil

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from traces.schema import TABLES
from traces.store import Store
from traces.synthetic import new_synthetic_writer, write_synthetic_run
from traces.views import VIEWS_SQL, shell_views_sql, sql


@pytest.fixture
def store(tmp_path):
    """A store with two small synthetic runs and one run still being written."""
    store = Store(tmp_path / "store")
    for seed in range(2):
        write_synthetic_run(store, seed=seed, n_pes=8, n_launches=1, tiles_per_pe=2)
    unfinished = new_synthetic_writer(store)
    unfinished.append("ops", op_id=1)
    unfinished._buffers["ops"].flush()
    return store


def _shell_connection(store_dir) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET VARIABLE store = ?", [str(store_dir)])
    con.execute(VIEWS_SQL.read_text())
    return con


def test_shipped_views_sql_is_generated():
    """views.sql in the package is exactly what shell_views_sql() generates."""
    assert VIEWS_SQL.read_text() == shell_views_sql()


def test_shell_views_match_python_views(store):
    """views.sql run through DuckDB gives the same rows as Store.connect(), table by table."""
    shell = _shell_connection(store.root)
    python = store.connect()
    for table in TABLES:
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert shell.sql(query).fetchall() == python.sql(query).fetchall(), table
    assert shell.execute("SELECT count(*) FROM runs").fetchall() == [(2,)]


def test_shell_views_on_a_run_without_rows(tmp_path):
    """views.sql works on a store whose only run has no trace rows: a file per table
    with its schema, so every view has every column and no rows."""
    new_synthetic_writer(Store(tmp_path)).finish(sim_end_ns=0.0, n_events=0)
    shell = _shell_connection(tmp_path)
    for table, schema in TABLES.items():
        expected = 1 if table == "runs" else 0
        assert shell.execute(f"SELECT count(*) FROM {table}").fetchall() == [(expected,)]
        assert [row[0] for row in shell.sql(f"DESCRIBE {table}").fetchall()] == schema.names


def test_old_files_without_new_columns_read_as_null(tmp_path):
    """Part files of an older schema (a column missing, another extra) mix with current ones."""
    store = Store(tmp_path)
    current = new_synthetic_writer(store)
    current.metric("y", 2.0, "ns", "lower")
    current.finish(sim_end_ns=1.0, n_events=0)
    writer = new_synthetic_writer(store)
    writer.finish(sim_end_ns=1.0, n_events=0)
    old = pa.table({"run_id": [writer.run_id], "name": ["x"], "value": [1.0], "legacy": [7]})
    folder = store.root / "metrics" / f"run_id={writer.run_id}"
    shutil.rmtree(folder)  # as an older writer left it: its own file, run_id inside
    folder.mkdir(parents=True)
    pq.write_table(old, folder / "part-0.parquet")
    for con in (store.connect(), _shell_connection(store.root)):
        rows = con.sql("SELECT name, value, unit, legacy FROM metrics ORDER BY name").fetchall()
        assert rows == [("x", 1.0, None, 7), ("y", 2.0, "ns", None)]
    (current.root / "metrics" / f"run_id={current.run_id}" / "part-0.parquet").unlink()
    rows = store.connect().sql("SELECT name, value, unit, legacy FROM metrics").fetchall()
    assert rows == [("x", 1.0, None, 7)]


def test_sql_allows_reads(store):
    """SELECT, WITH, DESCRIBE, SHOW, EXPLAIN and PRAGMA show_tables run; params are bound."""
    run_id = store.run_ids()[0]
    counted = sql(store, "SELECT count(*) AS n FROM launches WHERE run_id = ?", [run_id])
    assert counted.to_pylist() == [{"n": 2}]
    assert sql(store.root, "WITH r AS (SELECT * FROM runs) SELECT count(*) FROM r").num_rows == 1
    assert sql(str(store.root), "FROM runs SELECT run_id").num_rows == 2
    assert "bytes" in sql(store, "DESCRIBE dma").column(0).to_pylist()
    assert sql(store, "SHOW TABLES").num_rows == len(TABLES)
    assert sql(store, "EXPLAIN SELECT * FROM ops").num_rows >= 1
    assert sql(store, "PRAGMA show_tables").num_rows == len(TABLES)


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM runs",
        "CREATE TABLE t AS SELECT 1",
        "COPY (SELECT 1) TO 'out.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
        "SELECT 1; DROP VIEW runs",
        "ATTACH 'other.db'",
        "SET threads = 1",
        "INSTALL httpfs",
    ],
)
def test_sql_rejects_writes(store, query, tmp_path, monkeypatch):
    """Anything that could change state or write files is refused with ValueError."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="read-only|exactly one"):
        sql(store, query)
    assert not (tmp_path / "out.csv").exists()


def test_sql_bad_query_raises_duckdb_error(store):
    """Invalid SQL raises a duckdb.Error naming the problem."""
    with pytest.raises(duckdb.Error, match="nonexistent"):
        sql(store, "SELECT nonexistent FROM runs")
    with pytest.raises(duckdb.Error):
        sql(store, "SELEC 1")


def test_filter_on_run_id_prunes_files(store):
    """A run_id filter reads only that run's partition (Hive pruning)."""
    run_id = store.run_ids()[0]
    plan = store.connect().execute("EXPLAIN SELECT * FROM ops WHERE run_id = ?", [run_id])
    text = "\n".join(row[1] for row in plan.fetchall())
    assert "1/2" in text.replace(" ", "")  # "Scanning Files: 1/2"
