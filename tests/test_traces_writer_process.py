"""Tests of the writer process (traces/writer_process.py): a simulation hands its rows to
a child process that writes the run.

The writer's contract itself (rows, nulls, keys, failed runs, errors) is tested for both
writers in tests/test_traces_writer.py; here: what only a second process can get wrong.
"""

import itertools
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

import traces.writer_process as writer_process_module
from traces.schema import TABLES
from traces.store import Store
from traces.synthetic import new_synthetic_writer
from traces.writer_process import ProcessRunWriter, WriterProcessError, writer_process

ROOT = Path(__file__).resolve().parents[1]


def _read(store: Store, table: str, run_id: str) -> list[dict]:
    dataset = ds.dataset(store.root / table, format="parquet", partitioning="hive")
    return dataset.to_table(filter=ds.field("run_id") == run_id).to_pylist()


def _ops_row(i: int) -> tuple:
    """An ops row in schema order without run_id (lane left to its default)."""
    return (i, 0, 0, i % 4, i % 8, i % 32, "GEMM" if i % 2 else "MATH", "dot", 1.0 * i,
            1.0 * i + 0.5, 2.0 * i, 4096 * i, 64)  # fmt: skip


def _wait_for(condition, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_traced_simulation_never_loads_pyarrow(tmp_path):
    """A traced run's simulating process hands its rows over without importing pyarrow
    (its import and the Arrow conversion are the writer process's), and the run lands
    complete: every event row the run counted, and the runs row last."""
    code = (
        "import sys\n"
        "from simulator.runner import run_workload\n"
        f"outcome = run_workload('gemm', {{'N': '512'}}, store={str(tmp_path)!r})\n"
        "print(outcome.status, outcome.run_id, outcome.n_events)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'pandas')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    outcome, modules = done.stdout.strip().splitlines()
    status, run_id, n_events = outcome.split()
    assert (status, modules) == ("ok", "[]")
    store = Store(tmp_path)
    assert store.run_ids() == [run_id]
    # Every event row the recorder counted (deps rows annotate events; metrics and runs
    # are not events).
    tables = [t for t in TABLES if t not in ("runs", "metrics", "deps")]
    events = sum(len(_read(store, table, run_id)) for table in tables)
    assert events == int(n_events) > 0
    (row,) = _read(store, "runs", run_id)
    assert (row["status"], row["workload"], row["n_events"]) == ("ok", "gemm", int(n_events))


def test_two_runs_open_at_once_share_the_writer_process(tmp_path, monkeypatch):
    """Rows of two open runs interleave on one pipe and land in their own runs, in order,
    across many messages."""
    monkeypatch.setattr(writer_process_module, "CHUNK_ROWS", 3)
    store = Store(tmp_path)
    first = new_synthetic_writer(store, workload="first", writer_process=True)
    second = new_synthetic_writer(store, workload="second", writer_process=True)
    assert isinstance(first, ProcessRunWriter) and first.process is second.process
    add_first, add_second = first.appender("ops"), second.appender("ops")
    for i in range(20):
        add_first(*_ops_row(i))
        add_second(*_ops_row(100 + i))
    second.finish(sim_end_ns=2.0, n_events=20)
    first.finish(sim_end_ns=1.0, n_events=20)
    assert [r["op_id"] for r in _read(store, "ops", first.run_id)] == list(range(20))
    assert [r["op_id"] for r in _read(store, "ops", second.run_id)] == list(range(100, 120))
    assert [r["workload"] for r in _read(store, "runs", second.run_id)] == ["second"]


def test_the_writer_process_creates_a_runs_files_when_it_opens(tmp_path):
    """Every table's file exists in the run's folder before any row comes (finish then
    waits only for the last rows), and the published run has them all."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=True)
    folder = tmp_path / "_tmp" / writer.run_id
    tables = [table for table in TABLES if table != "runs"]
    _wait_for(lambda: all((folder / t / "part-0.parquet").exists() for t in tables), "files")
    writer.appender("ops")(*_ops_row(1))
    writer.finish(sim_end_ns=1.0, n_events=1)
    assert [row["op_id"] for row in _read(store, "ops", writer.run_id)] == [1]
    for table in tables:
        assert (tmp_path / table / f"run_id={writer.run_id}" / "part-0.parquet").exists()


def test_a_discarded_run_leaves_nothing(tmp_path):
    """discard() (Ctrl-C) publishes nothing and the child removes the run's folder."""
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=True)
    writer.appender("ops")(*_ops_row(1))
    writer.discard()
    assert store.run_ids() == []
    assert not (tmp_path / "_tmp" / writer.run_id).exists()
    writer.discard()  # a second discard is a no-op


def test_a_killed_writer_process_fails_the_run_clearly_and_the_next_run_gets_a_new_one(
    tmp_path, monkeypatch
):
    """If the writer process dies, the run's next hand-over and its finish raise
    WriterProcessError naming the process and how it ended; the next run starts a new
    writer process and lands."""
    monkeypatch.setattr(writer_process_module, "CHUNK_ROWS", 2)
    store = Store(tmp_path)
    writer = new_synthetic_writer(store, writer_process=True)
    add = writer.appender("ops")
    add(*_ops_row(0))
    dead = writer.process.process
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    with pytest.raises(WriterProcessError, match=rf"pid {dead.pid}\) exited with code -9"):
        for i in range(1, 200):  # the pipe takes a message or two before it breaks
            add(*_ops_row(i))
    with pytest.raises(WriterProcessError, match="the run is lost"):
        writer.finish(sim_end_ns=1.0, n_events=1)
    assert store.run_ids() == []
    again = new_synthetic_writer(store, writer_process=True)
    assert again.process.process.pid != dead.pid
    again.appender("ops")(*_ops_row(7))
    again.finish(sim_end_ns=1.0, n_events=1)
    assert [r["op_id"] for r in _read(store, "ops", again.run_id)] == [7]


def test_a_run_whose_process_died_is_dropped_by_the_writer_process(tmp_path):
    """A simulating process that dies mid-run (killed) closes the pipe: the writer
    process drops that run's folder and publishes nothing."""
    code = (
        "import os\n"
        "from traces.store import Store\n"
        "from traces.synthetic import new_synthetic_writer\n"
        f"writer = new_synthetic_writer(Store({str(tmp_path)!r}), writer_process=True)\n"
        "writer.append('ops', op_id=1)\n"
        "print(writer.run_id, writer.process.process.pid, flush=True)\n"
        "os._exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 3, done.stderr
    run_id, child_pid = done.stdout.split()

    def child_gone() -> bool:
        try:
            os.kill(int(child_pid), 0)
        except ProcessLookupError:
            return True
        return False

    _wait_for(child_gone, "the writer process to exit")
    assert not (tmp_path / "_tmp" / run_id).exists()
    assert Store(tmp_path).run_ids() == []


def test_the_writer_process_is_started_once_per_process():
    """Every run of a process shares one writer process; a fork gets its own."""
    first = writer_process()
    assert writer_process() is first
    assert first.process.poll() is None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked child: its own writer process, not its parent's pipe
        try:
            os.write(write, str(writer_process().process.pid).encode())
        finally:
            os._exit(0)
    os.close(write)
    forked_child_writer = int(os.read(read, 64))
    os.waitpid(pid, 0)
    os.close(read)
    assert forked_child_writer != first.process.pid


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps")
def test_the_writer_process_loads_arrow_as_it_starts_not_at_the_first_run():
    """A fresh writer process loads pyarrow (its ~0.1 s import) before any run opens, so
    that import overlaps what the simulating process does before its first run ends."""
    writer_process_module.stop_writer_process()
    child = writer_process()
    try:
        maps = Path(f"/proc/{child.process.pid}/maps")
        _wait_for(lambda: "libarrow" in maps.read_text(), "the child to load Arrow")
        assert child.process.poll() is None  # still waiting for its first message
    finally:
        writer_process_module.stop_writer_process()


def test_messages_are_read_whole_however_the_pipe_splits_them():
    """The writer process's reader (polling a non-blocking pipe) yields each message
    exactly, whatever sizes the writes come in: headers split, several messages in one
    write, a message larger than the pipe, pauses longer than its idle limit."""
    payloads = [b"", b"a", bytes(range(256)) * 40, os.urandom(3 << 20), b"last"]
    stream = b"".join(struct.pack("<Q", len(p)) + p for p in payloads)
    cuts = [0, 3, 5, 9, 10, 4000, 10_000, 10_013, len(stream) - 2, len(stream)]
    read_fd, write_fd = os.pipe()

    def write() -> None:
        for lo, hi in itertools.pairwise(cuts):
            _write_all(stream[lo:hi])
            time.sleep(0.6 if lo == 9 else 0.01)  # once past IDLE_S: the reader blocks
        os.close(write_fd)

    def _write_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(read_fd, "rb") as inbox:
        received = list(writer_process_module._messages(inbox))
    writer.join()
    assert received == payloads
