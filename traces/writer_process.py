"""A run writer whose Arrow conversion, Parquet encoding and files live in a child process.

The simulating process only buffers rows, one flat run of values per table (packed into
typed buffers where they are built, traces/packed_rows.py), and hands each few hundred
rows, pickled, to one long-lived writer process. That process holds a
:class:`~traces.writer.RunWriter` per open run: it converts the rows to Arrow, encodes
and writes them, and publishes the run when told to finish. On a second core, that work
overlaps the simulation instead of adding to it, and the simulating process never
imports pyarrow.

Protocol, over the child's stdin and stdout: each message is an 8-byte little-endian
length and a pickle. The parent sends ``(kind, run_id, payload)`` tuples; the child replies
to each ``finish`` or ``discard``: None, or the exception that failed the run.

A value Arrow cannot hold fails the run when the child converts it, up to CHUNK_ROWS rows
after it was added: ``finish`` publishes the run as failed with that error and raises it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not on Windows: the pipe keeps its default size
    fcntl = None

from traces.columns import EXTENSION_COLUMNS, TABLE_COLUMNS
from traces.gitinfo import git_info_in_background
from traces.layout import is_object_url
from traces.packed_rows import row_buffer, taken
from traces.runsink import (
    KeyIndex,
    RunLifecycle,
    appender_params,
    attach_rider,
    auto_keyed_appender,
    check_keyed_columns,
    column_types,
    describe_error,
    generated_appender,
    metric_row,
    row_values,
)

# Rows per message to the writer process: enough that per-message costs are spread
# thin, few enough that the rows are still in the CPU caches when they are pickled
# (measured on gemm N=20480, alternating: pickling took 20 ms at 512 rows, 37-42 ms at
# 2048, and the traced run 50-80 ms less; 256 rows no better than 512).
CHUNK_ROWS = 512
# Bytes the pipe to the child holds (a few messages) where the system lets it be set.
PIPE_BYTES = 1 << 20
# The child polls the pipe this often while messages come (see _messages), and blocks
# once none came for IDLE_S.
POLL_S = 0.001
IDLE_S = 0.5
_HEADER = struct.Struct("<Q")
# The folder holding the ``traces`` package: the child imports it from there.
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


class WriterProcessError(OSError):
    """The writer process could not start, or exited: the run's rows are lost."""


# -- the parent's side ---------------------------------------------------------------------
class WriterProcess:
    """The writer child of this process: started once, shared by every run it writes.

    Messages are written straight to the child's stdin, whose pipe is widened to hold
    several of them where the system allows (Linux), so that the simulation blocks only
    when the child falls that far behind. No thread of ours writes them: one would
    contend with the simulation for the GIL at every message.
    """

    def __init__(self) -> None:
        code = f"import sys; sys.path.insert(0, {str(_PACKAGE_ROOT)!r}); "
        code += "from traces.writer_process import serve; serve()"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except OSError as exc:
            raise WriterProcessError(f"cannot start the trace writer process: {exc}") from None
        self.pid = os.getpid()  # a forked child of ours needs its own writer process
        self._broken: str | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
        if set_pipe_size is not None:
            with contextlib.suppress(OSError):  # above the system's limit: the default
                fcntl.fcntl(self.process.stdin.fileno(), set_pipe_size, PIPE_BYTES)

    def send(self, kind: str, run_id: str, payload: Any = None) -> None:
        """Send one message (pickled now: the caller may reuse its lists at once).
        Raises WriterProcessError if the child is gone."""
        if self._broken is not None:
            raise WriterProcessError(self._broken)
        data = pickle.dumps((kind, run_id, payload), pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:  # one message at a time on the pipe
                stdin = self.process.stdin
                stdin.write(_HEADER.pack(len(data)))  # not joined: a copy of the rows
                stdin.write(data)
                stdin.flush()
        except (OSError, ValueError):
            self._broken = self._exited()
            raise WriterProcessError(self._broken) from None

    def request(self, kind: str, run_id: str, payload: Any = None) -> Any:
        """Send one message and wait for the child's reply to it."""
        with self._lock:
            self.send(kind, run_id, payload)
            return self._reply()

    def close(self, wait: bool = False) -> None:
        """Let the child exit once it has written what it was sent (it drops any run
        still open); with ``wait``, wait for it to exit (its resource usage then counts
        among this process's children's)."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        if wait:
            self.process.wait()

    def _reply(self) -> Any:
        header = self.process.stdout.read(_HEADER.size)
        if len(header) < _HEADER.size:
            self._broken = self._exited()
            raise WriterProcessError(self._broken)
        return pickle.loads(self.process.stdout.read(_HEADER.unpack(header)[0]))

    def _exited(self) -> str:
        code = self.process.poll()
        how = "is gone" if code is None else f"exited with code {code}"
        return f"the trace writer process (pid {self.process.pid}) {how}: the run is lost"


_process: WriterProcess | None = None
_process_lock = threading.Lock()


def writer_process() -> WriterProcess:
    """This process's writer child, started at the first call (again after a fork, or
    after it exited). Raises WriterProcessError if it cannot start."""
    global _process
    with _process_lock:
        if (
            _process is None
            or _process.pid != os.getpid()
            or _process.process.poll() is not None
            or _process._broken is not None
        ):
            _process = WriterProcess()
        return _process


def stop_writer_process() -> None:
    """Close this process's writer child, if it runs, and wait for it to exit."""
    global _process
    with _process_lock:
        if _process is not None and _process.pid == os.getpid():
            _process.close(wait=True)
        _process = None


def start_writer_process() -> None:
    """Start this process's writer child now, if it is not running, so that its start-up
    (loading pyarrow, ~0.1 s) overlaps what this process does before its first run ends;
    a child that cannot start is left to the run to report."""
    with contextlib.suppress(WriterProcessError):
        writer_process()


class _Outbox:
    """The buffered rows of one table of one run, sent to the child every CHUNK_ROWS."""

    def __init__(self, writer: ProcessRunWriter, table: str):
        self.writer = writer
        self.table = table
        self.types = column_types(table)
        self.names = list(self.types)
        self.optional = EXTENSION_COLUMNS.get(table, ())
        self.name_set = frozenset(self.names)
        # Flat, row after row: a PackedRows where compiled (traces/packed_rows.py).
        self.values: Any = row_buffer()
        self.keyed: KeyIndex | None = None
        self.keyed_values: Any = row_buffer()
        self.keys_sent = 0
        self.rider: _Outbox | None = None
        """The table whose keyed rows ride on this one's (see RunWriter.keyed_appender)."""
        self.carrier: str | None = None  # the table this one rides on, if any

    def append(self, columns: dict[str, Any]) -> None:
        self.values.extend(row_values(self.table, self.names, self.name_set, columns))
        if len(self.values) >= CHUNK_ROWS * len(self.names):
            self.send()

    def appender(self, keyed: tuple[str, ...]) -> Callable[..., None]:
        """A positional appender (see RunWriter.appender)."""
        params = appender_params(self.names, self.optional)
        if keyed:
            group = self._keyed_group(keyed)
            scope = self._scope(self.keyed_values, self._row_width())
            scope.update(get=group.index.get, key_of=group.key_of)
            return auto_keyed_appender(f"append_{self.table}", self.names, group.names, params,
                                       scope)  # fmt: skip
        row = ", ".join(f"v{i}" for i in range(len(params)))
        scope = self._scope(self.values, len(self.names))
        return generated_appender(f"append_{self.table}", ", ".join(params), row, scope)

    def keyed_appender(
        self, keyed: tuple[str, ...], rider: _Outbox | None = None
    ) -> tuple[Callable[..., None], Callable[..., int]]:
        """(append, key_of) for rows whose ``keyed`` columns come as one key, each
        carrying a keyed row of ``rider`` (see RunWriter.keyed_appender)."""
        group = self._keyed_group(keyed, rider)
        width = self._keyed_width()
        row = ", ".join(["key", *(f"v{i}" for i in range(width - 1))])
        scope = self._scope(self.keyed_values, width)
        return generated_appender(f"append_{self.table}_keyed", row, row, scope), group.key_of

    def _scope(self, values: Any, width: int) -> dict[str, Any]:
        return {"add": values.extend, "values": values, "limit": CHUNK_ROWS * width,
                "full": self.send}  # fmt: skip

    def _keyed_group(self, keyed: tuple[str, ...], rider: _Outbox | None = None) -> KeyIndex:
        if self.keyed is None:
            check_keyed_columns(self.table, self.types, keyed)
            attach_rider(self, rider, first=True)
            self.keyed = KeyIndex(self.table, keyed)
            rider_table = rider.table if rider is not None else None
            self.writer.process.send("keyed", self.writer.run_id, (self.table, keyed, rider_table))
        else:
            self.keyed.check_names(keyed)
            attach_rider(self, rider, first=False)
        return self.keyed

    def _row_width(self) -> int:
        """Values of one keyed row of this table: the key and the columns not keyed."""
        return 1 + len(self.names) - len(self.keyed.names)

    def _keyed_width(self) -> int:
        """Values of one buffered keyed row: its own, then its rider's."""
        rider_width = self.rider._row_width() if self.rider is not None else 0
        return self._row_width() + rider_width

    def send(self) -> None:
        """Hand the buffered rows (and the keys they use first) to the child."""
        if not self.values and not self.keyed_values:
            return
        if self.rider is not None and len(self.rider.keyed.rows) > self.rider.keys_sent:
            self.rider.send_keys()  # the child needs the rider's keys with its rows
        new_keys = []
        if self.keyed is not None:
            new_keys = self.keyed.rows[self.keys_sent :]
            self.keys_sent = len(self.keyed.rows)
        try:
            rows = (self.table, taken(self.values), new_keys, taken(self.keyed_values))
            self.writer.process.send("rows", self.writer.run_id, rows)
        finally:
            self.values.clear()  # in place: the appenders hold these lists
            self.keyed_values.clear()

    def send_keys(self) -> None:
        """Hand the keys not sent yet to the child, without rows."""
        new_keys = self.keyed.rows[self.keys_sent :]
        self.keys_sent = len(self.keyed.rows)
        self.writer.process.send("rows", self.writer.run_id, (self.table, [], new_keys, []))


class ProcessRunWriter(RunLifecycle):
    """A run writer (the API of traces.writer.RunWriter) whose rows a writer process
    converts and writes; made by ``Store.new_run(..., writer_process=True)``.

    States: open -> finished. Raises WriterProcessError when the writer process cannot
    start or dies (the run is then lost, not published).
    """

    def __init__(self, root: Path | str, run_id: str, tmp_dir: Path, run_row: dict[str, Any],
                 source_dir: Path | None, store_environ: dict[str, str] | None = None,
                 ) -> None:  # fmt: skip
        """``root``: a store folder, or an object store's URL (traces/objstore.py), which
        the child reaches with the AWS variables ``store_environ``."""
        self.process = writer_process()
        self.run_id = run_id
        self._run_row = run_row  # sent at finish, with the outcome
        self._started = time.perf_counter()
        self._finished = False
        self._outboxes: dict[str, _Outbox] = {}
        # Git runs beside the simulation here: the child may still be starting.
        self._provenance = git_info_in_background(source_dir)
        self.process.send("open", run_id, (str(root), str(tmp_dir), store_environ))

    def _outbox(self, table: str) -> _Outbox:
        if self._finished:
            raise RuntimeError(f"run {self.run_id} is finished; no more rows can be written")
        outbox = self._outboxes.get(table)
        if outbox is None:
            if table == "runs":
                raise ValueError("the runs row is written by RunWriter.finish(), not append()")
            if table not in TABLE_COLUMNS:
                tables = ", ".join(name for name in TABLE_COLUMNS if name != "runs")
                raise ValueError(f"unknown trace table {table!r} (tables: {tables})")
            outbox = self._outboxes[table] = _Outbox(self, table)
        return outbox

    def append(self, table: str, **columns: Any) -> None:
        """Add one row; missing columns are null (see RunWriter.append)."""
        self._outbox(table).append(columns)

    def appender(self, table: str, keyed: tuple[str, ...] = ()) -> Callable[..., None]:
        """Fast row adder, values positionally (see RunWriter.appender)."""
        return self._outbox(table).appender(tuple(keyed))

    def keyed_appender(
        self, table: str, keyed: tuple[str, ...], rider: str | None = None
    ) -> tuple[Callable[..., None], Callable[..., int]]:
        """Fast row adder for rows whose ``keyed`` columns repeat together, each with a
        row of ``rider`` riding on it (see RunWriter.keyed_appender)."""
        rider_outbox = self._outbox(rider) if rider is not None else None
        return self._outbox(table).keyed_appender(tuple(keyed), rider_outbox)

    def metric(self, name: str, value: float, unit: str, better: str) -> None:
        """Record one scalar result of the run (see RunWriter.metric)."""
        self.append("metrics", **metric_row(name, value, unit, better))

    def update_run_row(self, columns: dict[str, Any]) -> None:
        """Set runs-row columns known only at the end (see RunWriter.update_run_row)."""
        self._run_row.update(columns)

    def finish(
        self,
        *,
        status: str = "ok",
        error: str | None = None,
        sim_end_ns: float | None,
        verified: bool | None = None,
        n_events: int | None,
        wall_s: float | None = None,
    ) -> None:
        """Send the last rows and have the child publish the run (see RunWriter.finish):
        a value the child could not convert publishes it as failed and is raised here."""
        self._finishing(status)
        if wall_s is None:
            wall_s = time.perf_counter() - self._started
        for outbox in self._outboxes.values():
            outbox.send()
        outcome = {"status": status, "error": error, "sim_end_ns": sim_end_ns,
                   "verified": verified, "n_events": n_events, "wall_s": wall_s}  # fmt: skip
        row = {**self._provenance(), **self._run_row}
        failure = self.process.request("finish", self.run_id, (row, outcome))
        if failure is not None:
            raise failure

    def discard(self) -> None:
        """Drop the run: the child deletes its temporary folder and publishes nothing."""
        if self._finished:
            return
        self._finished = True
        for outbox in self._outboxes.values():
            outbox.values.clear()
            outbox.keyed_values.clear()
        # The child gone, the store removes the folder of a dead writer.
        with contextlib.suppress(WriterProcessError):
            self.process.request("discard", self.run_id)


# -- the child's side ----------------------------------------------------------------------
class _ChildRun:
    """One open run in the writer process and the first error its rows raised."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.error: BaseException | None = None


def _messages(inbox: IO[bytes]) -> Iterator[bytes]:
    """The parent's messages as they arrive, until it closes the pipe.

    While messages come, the pipe is polled every POLL_S without blocking: a read that
    blocks is woken by each write as a synchronous wake-up, and Linux then runs the
    woken reader on the writer's core, where converting a message preempts the
    simulation (measured: ~0.5 ms a message) while the other core idles. Idle for
    IDLE_S (between runs), it blocks until the next message instead of polling.
    """
    fd = inbox.fileno()
    try:
        os.set_blocking(fd, False)
    except OSError:  # a pipe that cannot be non-blocking: plain blocking reads
        while len(header := inbox.read(_HEADER.size)) == _HEADER.size:
            yield inbox.read(_HEADER.unpack(header)[0])
        return
    buffer = bytearray()
    idle_since = time.monotonic()
    while True:
        try:
            chunk = os.read(fd, PIPE_BYTES)
        except BlockingIOError:
            if time.monotonic() - idle_since > IDLE_S:
                select.select([fd], [], [])
                idle_since = time.monotonic()
            else:
                time.sleep(POLL_S)
            continue
        if not chunk:
            return
        idle_since = time.monotonic()
        buffer += chunk
        start = 0
        while len(buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
            end = start + _HEADER.size + size
            if len(buffer) < end:
                break
            yield bytes(buffer[start + _HEADER.size : end])
            start = end
        del buffer[:start]


def serve(inbox: IO[bytes] | None = None, outbox: IO[bytes] | None = None) -> None:
    """The writer process's loop: read messages until the parent closes the pipe, then
    drop the runs still open (their parent died: nothing of theirs is published)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    inbox = inbox if inbox is not None else sys.stdin.buffer
    outbox = outbox if outbox is not None else sys.stdout.buffer
    sys.stdout = sys.stderr  # the replies' pipe carries replies only
    # pyarrow loads now (~0.1 s), and what its first conversions import, while the parent
    # is still starting, not when its first run opens and the parent may soon wait for it
    # (numpy.ma, ~10 ms: pyarrow's first numpy array, as packed rows' columns are, asks).
    import numpy.ma  # noqa: F401

    import traces.writer

    traces.writer.skip_pandas_probe()

    def reply(value: Any) -> None:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        outbox.write(_HEADER.pack(len(data)))
        outbox.write(data)
        outbox.flush()

    runs: dict[str, _ChildRun] = {}
    for message in _messages(inbox):
        kind, run_id, payload = pickle.loads(message)
        if kind == "open":
            run = runs[run_id] = _ChildRun(_open_writer(run_id, *payload))
            try:
                run.writer.open_files()
            except Exception as exc:  # a store it cannot write to fails the run at finish
                run.error = exc
        elif kind == "finish":
            reply(_finish(runs.pop(run_id), payload))
        elif kind == "discard":
            runs.pop(run_id).writer.discard()
            reply(None)
        else:  # "keyed" or "rows"
            run = runs[run_id]
            if run.error is None:  # after an error the run is failed: its rows are dropped
                try:
                    if kind == "keyed":
                        run.writer.key_columns(*payload)
                    else:
                        run.writer.extend(*payload)
                except Exception as exc:
                    run.error = exc
    for run in runs.values():
        run.writer.discard()


def _open_writer(run_id: str, root: str, tmp_dir: str, store_environ: dict[str, str] | None) -> Any:
    """The writer of a run opened in the child: into a store folder, or, for an object
    store's URL, into ``tmp_dir`` and then uploaded with ``store_environ``'s AWS
    variables (see traces/objstore.py)."""
    if is_object_url(root):
        from traces.objwriter import ObjectRunWriter
        from traces.s3 import S3Prefix

        return ObjectRunWriter(S3Prefix(root, store_environ), run_id, Path(tmp_dir), {})
    from traces.writer import RunWriter

    return RunWriter(Path(root), run_id, Path(tmp_dir), {})


def _finish(run: _ChildRun, payload: tuple[dict[str, Any], dict[str, Any]]) -> BaseException | None:
    """Publish a run with its runs-row columns and outcome; the error that failed it
    (None if none), to raise in the parent."""
    row, outcome = payload
    run.writer.update_run_row(row)
    failure = run.error
    if failure is not None and outcome["status"] == "ok":
        outcome = {**outcome, "status": "failed", "error": describe_error(failure)}
    try:
        run.writer.finish(**outcome)
    except Exception as exc:
        failure = failure or exc
    if failure is None:
        return None
    try:
        pickle.dumps(failure)
    except Exception:
        return WriterProcessError(describe_error(failure))
    return failure
