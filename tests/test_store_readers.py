"""Any Arrow tool reads a run store: pyarrow datasets, DuckDB's read_parquet and the
DuckDB shell with the README's own command line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from simulator.runner import run_workload
from traces.schema import TABLES
from traces.store import Store
from traces.synthetic import write_synthetic_run

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with a real noop run (few tables used) and two synthetic runs (all used)."""
    root = tmp_path_factory.mktemp("readers") / "kernbench_store"
    run_workload("noop", store=root)
    store = Store(root)
    write_synthetic_run(store, seed=0, n_pes=8, n_launches=2, workload="alpha")
    write_synthetic_run(store, seed=1, n_pes=8, n_launches=1, workload="beta")
    return store


def _expected_counts(store: Store) -> dict[str, dict[str, int]]:
    """Rows per run of every table, through the project's own views."""
    con = store.connect()
    return {
        table: dict(con.sql(f"SELECT run_id, count(*) FROM {table} GROUP BY 1").fetchall())
        for table in TABLES
    }


def test_pyarrow_dataset_reads_every_table_with_hive_partitioning(store):
    """`pyarrow.dataset.dataset(store/table, partitioning="hive")` opens every table; its
    run_id column (from the folder names) has the rows the views have."""
    expected = _expected_counts(store)
    for table, schema in TABLES.items():
        data = ds.dataset(store.root / table, format="parquet", partitioning="hive").to_table()
        assert set(data.column_names) == set(schema.names), table
        counts: dict[str, int] = {}
        for run_id in data.column("run_id").to_pylist():
            counts[run_id] = counts.get(run_id, 0) + 1
        assert counts == expected[table], table
        assert set(data.column("run_id").to_pylist()) <= set(store.run_ids())


def test_duckdb_read_parquet_with_hive_partitioning(store):
    """Plain DuckDB (no project code) reads every table with hive_partitioning=true."""
    expected = _expected_counts(store)
    for table in TABLES:
        pattern = f"{store.root}/{table}/*/*.parquet"
        rows = duckdb.sql(
            "SELECT run_id, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY 1",
            params=[pattern],
        ).fetchall()
        assert {run_id: n for run_id, n in rows if n} == expected[table], table


def _readme_shell_command() -> str:
    """The DuckDB-shell command line the README gives (continuation lines joined)."""
    text = README.read_text()
    match = re.search(r"^(\.venv/bin/duckdb .*?)(?<!\\)\n", text, re.M | re.S)
    assert match, "the README gives no .venv/bin/duckdb command"
    return match.group(1).replace("\\\n", " ")


def test_duckdb_shell_runs_the_readme_command(store, tmp_path):
    """The README's `duckdb -cmd ... -cmd '.read traces/views.sql'` works with the shell
    from PyPI (duckdb-cli) on a store, from a folder laid out like the repository."""
    duckdb_bin = Path(sys.executable).with_name("duckdb")
    assert duckdb_bin.exists(), "duckdb-cli (dev extra) is not installed in this venv"
    (tmp_path / "traces").symlink_to(REPO / "traces")
    (tmp_path / "kernbench_store").symlink_to(store.root)
    argv = shlex.split(_readme_shell_command())
    argv[0] = str(duckdb_bin)
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for workload in ("noop", "alpha", "beta"):
        assert workload in done.stdout
    assert "Error" not in done.stderr
    # Every view answers in the shell, with the views' row counts.
    expected = _expected_counts(store)
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    argv = [
        str(duckdb_bin), "-csv", "-noheader",
        "-cmd", "SET VARIABLE store = 'kernbench_store'", "-cmd", ".read traces/views.sql",
        "-c", query,
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    counts = dict(line.split(",") for line in done.stdout.split())
    assert {t: int(n) for t, n in counts.items()} == {t: sum(expected[t].values()) for t in TABLES}
