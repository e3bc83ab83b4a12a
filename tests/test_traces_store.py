"""Tests of the run store (traces/store.py): lookup, crash safety, concurrency, corruption."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from traces.layout import DEFAULT_STORE, resolve_store
from traces.schema import TABLES
from traces.store import RunNotFoundError, Store
from traces.synthetic import new_synthetic_writer, write_synthetic_run
from traces.views import CorruptTraceWarning

# A child process writing a big run through the public API, for crash and concurrency tests.
_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from traces.store import Store
    from traces.synthetic import new_synthetic_writer

    store_dir, n_rows, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    writer = new_synthetic_writer(Store(store_dir), workload=label)
    print(writer.run_id, flush=True)
    add = writer.appender("ops")
    for i in range(n_rows):
        add(i, 0, 0, 0, 0, i % 8, "GEMM", "dot", 0.0, float(i), i + 0.5, 1, 1)
    writer.metric("rows", n_rows, "rows", "higher")
    writer.finish(sim_end_ns=float(n_rows), n_events=n_rows)
    """
)


def _spawn_writer(store_dir: Path, n_rows: int, label: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER_SCRIPT, str(store_dir), str(n_rows), label],
        stdout=subprocess.PIPE,
        text=True,
    )


def _small_run(store: Store, workload: str = "w") -> str:
    writer = new_synthetic_writer(store, workload=workload)
    writer.append("ops", op_id=1, engine="GEMM", start_ns=0.0, end_ns=1.0)
    writer.finish(sim_end_ns=1.0, n_events=1)
    return writer.run_id


def test_resolve_store_precedence(monkeypatch):
    """The argument wins, then $KERNBENCH_STORE, then the default folder."""
    monkeypatch.setenv("KERNBENCH_STORE", "from_env")
    assert resolve_store("given") == Path("given")
    assert resolve_store(None) == Path("from_env")
    monkeypatch.delenv("KERNBENCH_STORE")
    assert resolve_store(None) == Path(DEFAULT_STORE) == Path("kernbench_store")


def test_run_ids_only_complete_runs(tmp_path):
    """run_ids() lists finished runs, oldest first, and skips runs still being written."""
    store = Store(tmp_path)
    first = _small_run(store)
    open_writer = new_synthetic_writer(store)
    open_writer.append("ops", op_id=1)
    second = _small_run(store)
    assert store.run_ids() == [first, second]
    open_writer.finish(sim_end_ns=0.0, n_events=0)
    assert store.run_ids() == sorted([first, second, open_writer.run_id])


def test_resolve_run(tmp_path):
    """Full ids, unique prefixes and `latest` resolve; errors explain themselves."""
    store = Store(tmp_path)
    with pytest.raises(RunNotFoundError, match="no runs in store"):
        store.resolve_run("latest")
    ids = [_small_run(store) for _ in range(3)]
    assert store.resolve_run("latest") == ids[-1]
    assert store.resolve_run(ids[1]) == ids[1]
    assert store.resolve_run(ids[0][:-3]) == ids[0]  # the random suffix tells them apart
    with pytest.raises(RunNotFoundError, match="ambiguous.*3 runs match"):
        store.resolve_run(ids[0][:8])
    with pytest.raises(RunNotFoundError, match="close matches") as info:
        store.resolve_run(ids[2][:-1] + "z")
    assert ids[2] in str(info.value)
    with pytest.raises(RunNotFoundError, match="no run 'zzz'"):
        store.resolve_run("zzz")


def test_fresh_store_views_are_empty_with_columns(tmp_path):
    """A store with no runs (or no folder at all) serves empty views with typed columns."""
    con = Store(tmp_path / "missing").connect()
    for table, schema in TABLES.items():
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
        assert [name for name, *_ in con.sql(f"DESCRIBE {table}").fetchall()] == schema.names
    described = {name: kind for name, kind, *_ in con.sql("DESCRIBE dma").fetchall()}
    assert described["bytes"] == "BIGINT" and described["end_ns"] == "DOUBLE"


def test_views_hide_runs_without_runs_row(tmp_path):
    """Table files of a run with no runs row (crash during publish) are not visible."""
    store = Store(tmp_path)
    kept = _small_run(store)
    orphan = new_synthetic_writer(store)
    orphan.append("ops", op_id=99)
    orphan._buffers["ops"].close()
    (store.root / "ops" / f"run_id={orphan.run_id}").parent.mkdir(exist_ok=True)
    os.replace(orphan.tmp_dir / "ops", store.root / "ops" / f"run_id={orphan.run_id}")
    con = store.connect()
    assert con.sql("SELECT DISTINCT run_id FROM ops").fetchall() == [(kept,)]


def test_sigkill_mid_write_leaves_store_readable(tmp_path):
    """A writer killed with SIGKILL mid-run leaves no visible trace; other runs are intact."""
    store = Store(tmp_path)
    kept = _small_run(store)
    child = _spawn_writer(tmp_path, 50_000_000, "killed")
    try:
        killed_id = child.stdout.readline().strip()
        part = tmp_path / "_tmp" / killed_id / "ops" / "part-0.parquet"
        deadline = time.monotonic() + 60
        while not part.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert part.exists(), "the child never flushed a batch"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert store.run_ids() == [kept]
    con = store.connect()
    assert con.sql("SELECT run_id FROM runs").fetchall() == [(kept,)]
    assert con.execute("SELECT count(*), min(run_id) FROM ops").fetchall() == [(1, kept)]
    assert _small_run(store) in store.run_ids()  # the store still takes new runs


def test_two_processes_write_at_once(tmp_path):
    """Two processes writing runs into one store at the same time both land, complete."""
    children = [_spawn_writer(tmp_path, 200_000, label) for label in ("one", "two")]
    try:
        codes = [child.wait(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
            child.stdout.close()
    assert codes == [0, 0]
    store = Store(tmp_path)
    assert len(store.run_ids()) == 2
    con = store.connect()
    rows = con.sql(
        "SELECT r.workload, count(*) FROM ops o JOIN runs r USING (run_id) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert rows == [("one", 200_000), ("two", 200_000)]


def test_corrupt_file_is_skipped_with_warning(tmp_path):
    """A damaged part file is named in a warning; the other runs still query."""
    store = Store(tmp_path)
    runs = [write_synthetic_run(store, seed=seed, n_pes=8, n_launches=1) for seed in range(3)]
    truncated = store.root / "ops" / f"run_id={runs[0]}" / "part-0.parquet"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    overwritten = store.root / "runs" / f"run_id={runs[1]}" / "part-0.parquet"
    data = bytearray(overwritten.read_bytes())
    data[-12:] = b"\xff" * 12  # footer length and magic
    overwritten.write_bytes(bytes(data))
    with pytest.warns(CorruptTraceWarning) as caught:
        con = store.connect()
    messages = " ".join(str(w.message) for w in caught)
    assert str(truncated) in messages and str(overwritten) in messages
    assert [r for (r,) in con.sql("SELECT run_id FROM runs ORDER BY 1").fetchall()] == [
        runs[0],
        runs[2],
    ]
    per_run = dict(con.sql("SELECT run_id, count(*) FROM ops GROUP BY run_id").fetchall())
    assert set(per_run) == {runs[2]}  # runs[0] lost its ops file, runs[1] its runs row
    launches = con.execute("SELECT count(*) FROM launches WHERE run_id = ?", [runs[0]]).fetchall()
    assert launches == [(2,)]


def test_new_run_removes_runs_abandoned_by_dead_writers(tmp_path):
    """A killed writer's temporary folder is deleted by the next run on this host; folders
    of live writers and of other hosts stay."""
    import json
    import socket

    from traces.layout import TMP_DIR
    from traces.store import OWNER_FILE

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    owners = {
        "dead": {"host": socket.gethostname(), "pid": dead_pid},
        "alive": {"host": socket.gethostname(), "pid": os.getpid()},
        "elsewhere": {"host": "another-host", "pid": dead_pid},
    }
    tmp_root = tmp_path / TMP_DIR
    for name, owner in owners.items():
        (tmp_root / name / "ops").mkdir(parents=True)
        (tmp_root / name / OWNER_FILE).write_text(json.dumps(owner))
    store = Store(tmp_path)
    writer = store.new_run(workload="w", params={}, topology="t", topology_json="{}",
                           topology_hash="h", verify_data=False, source_dir=None,
                           sim_version="x")  # fmt: skip
    left = {p.name for p in tmp_root.iterdir()}
    assert left == {"alive", "elsewhere", writer.run_id}
    writer.finish(sim_end_ns=0.0, n_events=0)
    assert {p.name for p in tmp_root.iterdir()} == {"alive", "elsewhere"}
