"""Streaming writer of one run's trace tables.

Lifecycle of a run: open (rows stream into `<store>/_tmp/<run_id>/`) -> finished
(each table folder renamed to `<store>/<table>/run_id=<run_id>/`, the `runs` row
last) or abandoned (process died: the temporary folder is ignored by every reader).
Rows are buffered per table as one python list per column and flushed every
`batch_rows` rows as a record batch into a zstd Parquet file, so memory stays flat.

`run_id` lives only in the partition folder name (`run_id=<id>`), never as a column
inside the files, so every Arrow tool reads a table with Hive partitioning (a column
of the same name inside the files would clash with the partition key). Every table
gets a file for every run, empty when the run has no rows of it, so readers that
glob a table (the DuckDB shell) always find a file with its schema.
"""

import contextlib
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from traces.layout import partition_dir
from traces.nullwriter import NullWriter  # noqa: F401  (its historical home)
from traces.schema import BETTER, EXTENSION_COLUMNS, TABLES

BATCH_ROWS = 16384
PARQUET_COMPRESSION = "zstd"

_id_lock = threading.Lock()
_last_id_us = 0


def new_run_id() -> str:
    """A run id like `20261126-073012-123456-3fa2`: UTC time to the microsecond + random hex.

    Ids sort by creation time; within one process they strictly increase. The
    random suffix separates processes; the store also creates the run's temporary
    folder exclusively, so a clash is retried, never shared.
    """
    global _last_id_us
    with _id_lock:
        now_us = max(time.time_ns() // 1000, _last_id_us + 1)
        _last_id_us = now_us
    seconds, micros = divmod(now_us, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{micros:06d}-{secrets.token_hex(2)}"


class _TableBuffer:
    """Buffered rows of one table and its Parquet file, opened at the first flush.

    Rows are kept as tuples (one list append per row, the cheapest thing Python can do
    on the simulator's hot path) and turned into columns at flush time.
    """

    def __init__(self, table: str, path: Path, run_id: str, batch_rows: int):
        self.table = table
        self.schema = file_schema(table)
        self.path = path
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.names = self.schema.names
        self.name_set = frozenset(self.names)
        self.rows: list[tuple[Any, ...]] = []
        self.writer: pq.ParquetWriter | None = None
        self.rows_written = 0

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, columns: dict[str, Any]) -> None:
        unknown = columns.keys() - self.name_set
        if unknown:
            raise ValueError(
                f"trace table {self.table!r} has no column {sorted(unknown)[0]!r} "
                f"(columns: {', '.join(self.names)})"
            )
        self.rows.append(tuple(columns.get(name) for name in self.names))
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def appender(self) -> Callable[..., None]:
        # Hot path (one call per engine op): a generated function that packs its
        # arguments into one tuple and appends it.
        optional = set(EXTENSION_COLUMNS.get(self.table, ()))
        args = [f"v{i}=None" if name in optional else f"v{i}" for i, name in enumerate(self.names)]
        values = ", ".join(f"v{i}" for i in range(len(args)))
        scope: dict[str, Any] = {
            "add": self.rows.append, "rows": self.rows, "limit": self.batch_rows,
            "flush": self.flush,
        }  # fmt: skip
        source = (
            f"def append_{self.table}({', '.join(args)}):\n"
            f"    add(({values},))\n"
            "    if len(rows) >= limit:\n        flush()\n"
        )
        exec(source, scope)  # source is built from column counts only, never from input
        return scope[f"append_{self.table}"]

    def flush(self) -> None:
        """Write the buffered rows as one record batch; the buffer is emptied even on error."""
        n_rows = len(self.rows)
        if n_rows == 0:
            return
        try:
            columns = zip(*self.rows, strict=True)
            arrays = []
            for name, column in zip(self.names, columns, strict=True):
                arrays.append(self._convert(name, list(column)))
        finally:
            self.rows.clear()  # in place: the appender holds this list
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self._open()
        self.writer.write_batch(batch)
        self.rows_written += n_rows

    def _open(self) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, self.schema, compression=PARQUET_COMPRESSION)

    def close(self) -> None:
        """Flush and close the file (an empty file with the schema if no row came)."""
        try:
            self.flush()
            self._open()
        finally:
            if self.writer is not None:
                self.writer.close()
                self.writer = None

    def _convert(self, name: str, column: list[Any]) -> pa.Array:
        field_type = self.schema.field(name).type
        try:
            if pa.types.is_dictionary(field_type):
                # Converting to string then encoding is ~10x faster than converting
                # straight to a dictionary type.
                return pa.array(column, pa.string()).dictionary_encode()
            return pa.array(column, field_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(
                f"trace table {self.table!r} column {name!r} ({field_type}): {exc}"
            ) from None


def file_schema(table: str) -> pa.Schema:
    """The schema of a table's Parquet files: the table's schema without `run_id`,
    which the partition folder name carries."""
    schema = TABLES[table]
    return schema.remove(schema.get_field_index("run_id"))


def skip_pandas_probe() -> None:
    """Tell pyarrow, before its first conversion, that pandas is not loaded.

    pyarrow's first ``pa.array`` imports pandas only to ask whether the value is a
    pandas object (ours are lists): about 0.3-1 s, most of the fixed cost of tracing a
    small run. Where pandas is not imported yet, its import is made to fail once while
    pyarrow asks, so pyarrow records "no pandas"; whatever later needs pandas from
    pyarrow (``to_pandas``, ``from_pandas``) imports it then, as pyarrow retries.
    """
    if "pandas" in sys.modules:
        return
    sys.meta_path.insert(0, _NO_PANDAS)
    try:
        pa.array([], pa.int64())
    finally:
        sys.meta_path.remove(_NO_PANDAS)


class _NoPandasFinder:
    """An import finder under which ``import pandas`` fails (see skip_pandas_probe)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not needed to write a trace", name=name)
        return None


_NO_PANDAS = _NoPandasFinder()


class RunWriter:
    """Writes one run; made by `Store.new_run`.

    States: open -> finished. `finish()` publishes the run; used as a context
    manager, an exception inside the block records the run as failed (error
    "ExcType: message") and propagates, and leaving without `finish()` records it
    as failed too. After `finish()` every write raises RuntimeError.
    """

    def __init__(
        self,
        root: Path,
        run_id: str,
        tmp_dir: Path,
        run_row: dict[str, Any],
        batch_rows: int = BATCH_ROWS,
    ):
        self.root = root
        self.run_id = run_id
        self.tmp_dir = tmp_dir
        self._run_row = run_row
        self._started = time.perf_counter()
        self._finished = False
        self._buffers = {
            table: _TableBuffer(table, tmp_dir / table / "part-0.parquet", run_id, batch_rows)
            for table in TABLES
            if table != "runs"
        }

    def _buffer(self, table: str) -> _TableBuffer:
        if self._finished:
            raise RuntimeError(f"run {self.run_id} is finished; no more rows can be written")
        buffer = self._buffers.get(table)
        if buffer is None:
            if table == "runs":
                raise ValueError("the runs row is written by RunWriter.finish(), not append()")
            raise ValueError(f"unknown trace table {table!r} (tables: {', '.join(self._buffers)})")
        return buffer

    def append(self, table: str, **columns: Any) -> None:
        """Add one row; missing columns are null.

        Raises ValueError naming an unknown table or column.
        """
        self._buffer(table).append(columns)

    def appender(self, table: str) -> Callable[..., None]:
        """Fast row adder: values positionally in the table's schema order, without run_id.

        Raises ValueError for an unknown table; the returned function raises
        TypeError for a wrong number of values.
        """
        return self._buffer(table).appender()

    def metric(self, name: str, value: float, unit: str, better: str) -> None:
        """Record one scalar result of the run, e.g. ("tflops", 12.5, "tflops", "higher").

        `better` is "lower" or "higher": which way the metric improves. Raises
        ValueError naming the metric for anything else.
        """
        if better not in BETTER:
            raise ValueError(f"metric {name!r}: better must be 'lower' or 'higher', got {better!r}")
        row = {"name": name, "value": value, "unit": unit, "better": better}
        self._buffer("metrics").append(row)

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
        """Flush every table and publish the run (runs row last).

        If a table cannot be written, the run is still published as failed with
        that error, and the error is raised. Raises RuntimeError if already finished
        and ValueError for a status other than "ok"/"failed".
        """
        if self._finished:
            raise RuntimeError(f"run {self.run_id} is already finished")
        if status not in ("ok", "failed"):
            raise ValueError(f"run status must be 'ok' or 'failed', got {status!r}")
        self._finished = True
        if wall_s is None:
            wall_s = time.perf_counter() - self._started
        row = dict(self._run_row, status=status, error=error, sim_end_ns=sim_end_ns)
        row.update(verified=verified, n_events=n_events, wall_s=wall_s)
        close_error: BaseException | None = None
        for buffer in self._buffers.values():
            try:
                buffer.close()
            except Exception as exc:  # a bad value in one table must not lose the run
                close_error = close_error or exc
        if close_error is not None:
            row.update(status="failed", error=_describe(close_error))
        self._publish(row)
        if close_error is not None:
            raise close_error

    def discard(self) -> None:
        """Drop the run: close its files and delete its temporary folder, publish nothing.

        For an interrupted run (Ctrl-C): the store is left as if it never started.
        """
        if self._finished:
            return
        self._finished = True
        for buffer in self._buffers.values():
            buffer.rows.clear()
            with contextlib.suppress(Exception):
                buffer.close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _publish(self, run_row: dict[str, Any]) -> None:
        for table in self._buffers:
            written = self.tmp_dir / table
            if written.is_dir():
                target = partition_dir(self.root, table, self.run_id)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(written, target)
        runs_tmp = self.tmp_dir / "runs"
        runs_tmp.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([run_row], schema=file_schema("runs"))
        pq.write_table(table, runs_tmp / "part-0.parquet", compression=PARQUET_COMPRESSION)
        target = partition_dir(self.root, "runs", self.run_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(runs_tmp, target)  # the run becomes visible here
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if not self._finished:
            if exc is not None:
                error = _describe(exc)
            else:
                error = "RuntimeError: run writer closed without finish()"
            try:
                self.finish(status="failed", error=error, sim_end_ns=None, n_events=None)
            except Exception:
                if exc is None:
                    raise
        return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
