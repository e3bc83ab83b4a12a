"""Streaming writer of one run's trace tables.

Lifecycle of a run: open (rows stream into `<store>/_tmp/<run_id>/`) -> finished
(each table folder renamed to `<store>/<table>/run_id=<run_id>/`, the `runs` row
last) or abandoned (process died: the temporary folder is ignored by every reader).
Rows are buffered per table as one flat python list, converted to Arrow in small chunks
and written every `batch_rows` rows as a row group of a zstd Parquet file, so memory
stays flat. Columns whose values repeat together (a DMA's route: its ends, their places,
its hops and level) can be recorded as one integer key instead (`keyed_appender`): their
values are stored once per key and expanded per row when a chunk is converted.

`run_id` lives only in the partition folder name (`run_id=<id>`), never as a column
inside the files, so every Arrow tool reads a table with Hive partitioning (a column
of the same name inside the files would clash with the partition key). Every table
gets a file for every run, empty when the run has no rows of it, so readers that
glob a table (the DuckDB shell) always find a file with its schema.
"""

import contextlib
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from traces.layout import partition_dir
from traces.nullwriter import NullWriter  # noqa: F401  (its historical home)
from traces.packed_rows import Taken, received
from traces.runrow import new_run_id  # noqa: F401  (its historical home)
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
from traces.schema import EXTENSION_COLUMNS, TABLES

BATCH_ROWS = 16384  # rows per Parquet row group
# Rows converted to Arrow at a time: few enough that their values are still cached.
CHUNK_ROWS = 1024
# Encoded batches waiting for the background writer, at most (memory stays flat).
MAX_PENDING_BATCHES = 2
PARQUET_COMPRESSION = "zstd"


class _TableBuffer:
    """Buffered rows of one table and its Parquet file, opened at the first flush.

    Rows are kept in one flat list, row after row (one ``extend`` per row: the cheapest
    thing Python can do on the simulator's hot path, and no per-row object for the
    garbage collector to track). Every ``chunk_rows`` rows the list is sliced into
    columns and converted to Arrow, while its values are still in the CPU caches (kept
    longer, the simulator's own objects get evicted: slower); every ``batch_rows`` rows
    the converted chunks are written as one row group, encoded by the run's background
    writer.
    """

    def __init__(self, table: str, path: Path, run_id: str, batch_rows: int,
                 background: "_BackgroundWrites") -> None:  # fmt: skip
        self.table = table
        self.schema = file_schema(table)
        self.path = path
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.names = self.schema.names
        self.name_set = frozenset(self.names)
        self.types = [field.type for field in self.schema]
        self.values: list[Any] = []
        """Buffered values, row-major: ``len(names)`` per row."""
        self.keyed: _KeyedColumns | None = None
        """The columns recorded as one key (``keyed_appender``), None until asked for."""
        self.keyed_values: list[Any] = []
        """Buffered keyed rows, row-major: the key, then each column not in ``keyed``, then
        the keyed row of the rider table, if any (see keyed_appender)."""
        self.rider: _TableBuffer | None = None
        """The table whose keyed rows ride on this table's (``keyed_appender``), if any."""
        self.carrier: str | None = None  # the table this one rides on, if any
        self.chunks: list[pa.RecordBatch] = []
        """Converted rows not written yet."""
        self.keyed_chunks: list[tuple[np.ndarray, list[pa.Array]]] = []
        """Converted keyed rows not written yet: their keys and their other columns."""
        self.chunked_rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.rows_written = 0
        self._background = background

    def __len__(self) -> int:
        """Rows not handed to the Parquet file yet."""
        return len(self.values) // len(self.names) + self._keyed_rows() + self.chunked_rows

    def _keyed_rows(self) -> int:
        """Keyed rows buffered and not converted yet."""
        if self.keyed is None:
            return 0
        return len(self.keyed_values) // self._keyed_width()

    def _keyed_width(self) -> int:
        """Values of one buffered keyed row: its own, then its rider's."""
        rider_width = self.rider.keyed.row_width if self.rider is not None else 0
        return self.keyed.row_width + rider_width

    def _chunk_limit(self) -> int:
        """Length of ``values`` at which they are converted."""
        return min(CHUNK_ROWS, self.batch_rows) * len(self.names)

    def append(self, columns: dict[str, Any]) -> None:
        self.values.extend(row_values(self.table, self.names, self.name_set, columns))
        if len(self.values) >= self._chunk_limit():
            self.convert()

    def appender(self, keyed: tuple[str, ...] = ()) -> Callable[..., None]:
        """A function adding one row from every column's value in schema order; with
        ``keyed`` columns, it stores those as one key (see keyed_appender)."""
        # Hot path (one call per engine op): a generated function that adds its
        # arguments to the flat buffer in one call.
        args = appender_params(self.names, EXTENSION_COLUMNS.get(self.table, ()))
        if keyed:
            return self._auto_keyed_appender(self._keyed_group(keyed), args)
        values = ", ".join(f"v{i}" for i in range(len(args)))
        scope: dict[str, Any] = {
            "add": self.values.extend, "values": self.values,
            "limit": self._chunk_limit(), "full": self.convert,
        }  # fmt: skip
        return generated_appender(f"append_{self.table}", ", ".join(args), values, scope)

    def keyed_appender(
        self, keyed: tuple[str, ...], rider: "_TableBuffer | None" = None
    ) -> tuple[Callable[..., None], Callable[..., int]]:
        """(append, key_of) for rows whose ``keyed`` columns are given as one key.

        ``key_of(*values)`` takes the values of the ``keyed`` columns in that order and
        returns their key (the same values, the same key); ``append(key, *values)`` adds a
        row from a key and the values of the other columns in schema order, then (with a
        ``rider``) one keyed row of the rider table. Raises ValueError naming an unknown
        column, a column that cannot be keyed, a second set of keyed columns or another
        rider for the table, or a rider that cannot ride (runsink.attach_rider).
        """
        group = self._keyed_group(keyed, rider)
        width = self._keyed_width()
        values = ", ".join(f"v{i}" for i in range(width - 1))
        scope: dict[str, Any] = {
            "add": self.keyed_values.extend, "values": self.keyed_values,
            "limit": min(CHUNK_ROWS, self.batch_rows) * width,
            "full": self.convert,
        }  # fmt: skip
        append = generated_appender(
            f"append_{self.table}_keyed", f"key, {values}", f"key, {values}", scope
        )
        return append, group.key_of

    def _keyed_group(
        self, keyed: tuple[str, ...], rider: "_TableBuffer | None" = None
    ) -> "_KeyedColumns":
        """The table's keyed columns (and rider), made at the first call; the same after."""
        if self.keyed is None:
            attach_rider(self, rider, first=True)
            self.keyed = _KeyedColumns(self.table, self.schema, keyed)
        else:
            self.keyed.check_names(keyed)
            attach_rider(self, rider, first=False)
        return self.keyed

    def _auto_keyed_appender(self, group: "_KeyedColumns", args: list[str]) -> Callable[..., None]:
        """A positional appender (``args``: one per column) that looks up the key of the
        keyed columns' values itself: a dict lookup instead of converting each of them."""
        scope: dict[str, Any] = {
            "add": self.keyed_values.extend, "values": self.keyed_values,
            "limit": min(CHUNK_ROWS, self.batch_rows) * group.row_width,
            "full": self.convert, "get": group.index.get, "key_of": group.key_of,
        }  # fmt: skip
        return auto_keyed_appender(f"append_{self.table}", self.names, group.names, args, scope)

    def convert(self, values: Any = None, keyed_values: Any = None) -> None:
        """Convert the buffered values to Arrow chunks, or the rows given (flat, row after
        row, as the buffers hold them: lists, or PackedValues from a writer process);
        the buffers are emptied even on error. Write the chunks once they make a batch."""
        values = self.values if values is None else values
        keyed_values = self.keyed_values if keyed_values is None else keyed_values
        try:
            if len(keyed_values):
                self._convert_keyed(keyed_values)
            n_columns = len(self.names)
            n_rows = len(values) // n_columns
            if n_rows:
                arrays = [
                    self._convert(name, field_type, values[i::n_columns])
                    for i, (name, field_type) in enumerate(zip(self.names, self.types, strict=True))
                ]
                self.chunks.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
                self.chunked_rows += n_rows
        finally:
            self.values.clear()  # in place: the appenders hold these lists
            self.keyed_values.clear()
        if self.chunked_rows >= self.batch_rows:
            self.flush()

    def _convert_keyed(self, values: Any) -> None:
        """Convert keyed rows' keys to numpy and their other columns to Arrow (the keyed
        columns are expanded once per batch, in ``_keyed_table``); the rider's rows go to
        the rider table as converted chunks."""
        width = self._keyed_width()
        self._take_keyed(values, 0, width)
        if self.rider is not None:
            self.rider._take_keyed(values, self.keyed.row_width, width)
            if self.rider.chunked_rows >= self.rider.batch_rows:
                self.rider.flush()

    def _take_keyed(self, values: Any, start: int, width: int) -> None:
        """Convert this table's keyed rows held in ``values`` from ``start``, every
        ``width`` values (its own buffer, or a table it rides on), as one chunk."""
        keys = np.array(values[start::width], dtype=np.intp)
        arrays = [
            self._convert(name, field_type, values[start + j :: width])
            for j, (name, field_type) in enumerate(self.keyed.others, start=1)
        ]
        self.keyed_chunks.append((keys, arrays))
        self.chunked_rows += len(keys)

    def _keyed_table(self) -> pa.Table:
        """The converted keyed rows as one table: each keyed column expanded from all
        their keys at once (per-call costs of Arrow dominate small chunks)."""
        keyed = self.keyed
        keys = np.concatenate([chunk[0] for chunk in self.keyed_chunks])
        others = {
            name: pa.chunked_array([chunk[1][j] for chunk in self.keyed_chunks], field_type)
            for j, (name, field_type) in enumerate(keyed.others)
        }
        columns = [
            others[name] if name in others else keyed.column(name, keys) for name in self.names
        ]
        return pa.Table.from_arrays(columns, schema=self.schema)

    def flush(self) -> None:
        """Hand every buffered row to the background writer as one row group."""
        if self.values or self.keyed_values:
            self.convert()  # flushes again once converted, if it makes a batch
        if not self.chunks and not self.keyed_chunks:
            return
        tables = []
        if self.chunks:
            tables.append(pa.Table.from_batches(self.chunks, schema=self.schema))
        if self.keyed_chunks:
            tables.append(self._keyed_table())
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        n_rows = self.chunked_rows
        self.chunks, self.keyed_chunks, self.chunked_rows = [], [], 0
        self._open()
        self._background.submit(partial(self.writer.write_table, table, row_group_size=n_rows))
        self.rows_written += n_rows

    def _open(self) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(
                self.path,
                self.schema,
                compression=PARQUET_COMPRESSION,
                # Dictionary pages only where values repeat (names, kinds): trying them
                # on times and ids costs more than the rest of the encoding and grows
                # the file.
                use_dictionary=[f.name for f in self.schema if pa.types.is_dictionary(f.type)],
            )

    def close(self) -> None:
        """Flush, wait for the background writes and close the file (an empty file
        with the schema if no row came)."""
        try:
            self.flush()
            self._open()
            self._background.wait()
        finally:
            if self.writer is not None:
                self.writer.close()
                self.writer = None

    def _convert(
        self, name: str, field_type: pa.DataType, column: list[Any] | np.ndarray
    ) -> pa.Array:
        try:
            if isinstance(column, np.ndarray) and not _numpy_holds(column, field_type):
                column = column.tolist()  # e.g. ints for a float column: as Python's
            # Straight to the field's type, dictionaries included: no pyarrow.compute
            # (tens of ms to import) and no second pass over the strings.
            return pa.array(column, field_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(
                f"trace table {self.table!r} column {name!r} ({field_type}): {exc}"
            ) from None


class _KeyedColumns(KeyIndex):
    """The values of a table's keyed columns, once per distinct combination (a key).

    Rows carry the key; a chunk of rows gets each keyed column by indexing a per-key
    array with the keys (numpy), and a dictionary column by indexing the codes of its
    values into one dictionary of every value seen. That costs a few ns per value
    instead of the Python-object conversion of every value of every row.
    """

    def __init__(self, table: str, schema: pa.Schema, names: tuple[str, ...]) -> None:
        super().__init__(table, names)
        check_keyed_columns(table, column_types(table), self.names)
        self.types = [schema.field(name).type for name in self.names]
        self.positions = {name: i for i, name in enumerate(self.names)}
        self.others = [(f.name, f.type) for f in schema if f.name not in self.positions]
        """(name, type) of the columns not keyed, in schema order."""
        self.row_width = 1 + len(schema.names) - len(self.names)  # the key + the others
        # Per keyed column: (kind, per-key values or dictionary codes, per-key null
        # flags or None without nulls, Arrow type); the dictionary of each string column.
        self._columns: dict[str, tuple[str, np.ndarray, np.ndarray | None, pa.DataType]] = {}
        self._dictionaries: dict[str, pa.Array] = {}
        self._built_keys = -1

    def column(self, name: str, keys: np.ndarray) -> pa.Array:
        """Column ``name`` of the rows whose keys are ``keys``."""
        if self._built_keys != len(self.rows):
            self._build()
        kind, values, nulls, field_type = self._columns[name]
        # Built from buffers: ``values`` already has the column's numpy dtype (no cast)
        # and dictionary codes are valid by construction; pa.array(ndarray) would also
        # import numpy.ma (~8 ms) to ask whether the array is masked.
        validity = None
        if nulls is not None:  # most columns have no null: no mask to compute
            validity = pa.py_buffer(np.packbits(~nulls[keys], bitorder="little"))
        buffers = [validity, pa.py_buffer(values[keys])]
        if kind == "dictionary":
            return pa.DictionaryArray.from_buffers(
                field_type, len(keys), buffers, self._dictionaries[name]
            )
        return pa.Array.from_buffers(field_type, len(keys), buffers)

    def _build(self) -> None:
        """Per-key arrays of every keyed column (again when keys were added)."""
        for i, (name, field_type) in enumerate(zip(self.names, self.types, strict=True)):
            values = [row[i] for row in self.rows]
            try:
                nulls = np.array([v is None for v in values], dtype=bool)
                if pa.types.is_dictionary(field_type):
                    words: dict[Any, int] = {}
                    codes = [0 if v is None else words.setdefault(v, len(words)) for v in values]
                    self._dictionaries[name] = pa.array(list(words), field_type.value_type)
                    kind, dense = "dictionary", np.array(codes, _numpy_dtype(field_type.index_type))
                else:
                    # Arrow checks each value (a wrong type or out-of-range value fails
                    # here); a null's slot holds 0 and is masked. Not Array.to_numpy():
                    # it imports pandas.
                    filled = [0 if v is None else v for v in values]
                    pa.array(filled, field_type)
                    kind, dense = "plain", np.array(filled, _numpy_dtype(field_type))
                self._columns[name] = (kind, dense, nulls if nulls.any() else None, field_type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise ValueError(
                    f"trace table {self.table!r} column {name!r} ({field_type}): {exc}"
                ) from None
        self._built_keys = len(self.rows)


def _numpy_holds(column: np.ndarray, field_type: pa.DataType) -> bool:
    """Whether Arrow converts a packed column (int64 or float64, traces/packed_rows.py)
    to ``field_type`` as it converts the same Python ints or floats: ints to an integer
    type, floats to a floating one (anything else goes as Python values)."""
    if column.dtype.kind == "i":
        return pa.types.is_integer(field_type)
    return column.dtype.kind == "f" and pa.types.is_floating(field_type)


def _numpy_dtype(field_type: pa.DataType) -> np.dtype:
    """The numpy dtype of an Arrow integer or floating type."""
    if pa.types.is_floating(field_type):
        letter = "f"
    else:
        letter = "i" if pa.types.is_signed_integer(field_type) else "u"
    return np.dtype(f"{letter}{field_type.bit_width // 8}")


class _BackgroundWrites:
    """Runs write jobs in order on one daemon thread, so that Parquet encoding and
    compression (which release the GIL) overlap the simulation.

    At most ``max_pending`` jobs wait (``submit`` blocks beyond), so memory stays flat
    however fast rows come. The first failing job's exception is raised by the next
    ``submit`` or ``wait``; jobs after it are skipped (the run is failed anyway).
    """

    def __init__(self, max_pending: int) -> None:
        self._jobs: queue.Queue[Callable[[], Any] | None] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, job: Callable[[], Any]) -> None:
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def wait(self) -> None:
        """Return once every submitted job has run; raise the first job error."""
        if self._thread is not None:
            self._jobs.join()
        self._raise()

    def stop(self) -> None:
        """Wait for the submitted jobs and end the thread (errors are left to wait())."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    job()
            except BaseException as exc:  # handed to the submitting thread
                self._error = exc
            finally:
                self._jobs.task_done()


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


class RunWriter(RunLifecycle):
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
        provenance: Callable[[], dict[str, Any]] | None = None,
    ):
        self.root = root
        self.run_id = run_id
        self.tmp_dir = tmp_dir
        self._run_row = run_row
        # Runs-row columns still being found out (git facts), asked for at finish; the
        # row's own values win.
        self._provenance = provenance
        self._started = time.perf_counter()
        self._finished = False
        skip_pandas_probe()  # rows are lists: pyarrow need not import pandas to ask
        self._background = _BackgroundWrites(MAX_PENDING_BATCHES)
        self._buffers = {
            table: _TableBuffer(
                table, tmp_dir / table / "part-0.parquet", run_id, batch_rows, self._background
            )
            for table in TABLES
            if table != "runs"
        }

    def open_files(self) -> None:
        """Create every table's Parquet file now rather than at its first batch or at
        ``finish`` (a writer process does it while the simulation runs: a run's end
        then waits only for its last rows)."""
        for buffer in self._buffers.values():
            buffer._open()

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

    def appender(self, table: str, keyed: tuple[str, ...] = ()) -> Callable[..., None]:
        """Fast row adder: values positionally in the table's schema order, without run_id.

        With ``keyed`` columns (values that repeat together, such as a dependency's
        cause, resource and kinds), the adder stores their combination as one key, as
        ``keyed_appender`` does, looking the key up itself. Raises ValueError for an
        unknown table or a bad keyed set (see keyed_appender); the returned function
        raises TypeError for a wrong number of values.
        """
        return self._buffer(table).appender(tuple(keyed))

    def keyed_appender(
        self, table: str, keyed: tuple[str, ...], rider: str | None = None
    ) -> tuple[Callable[..., None], Callable[..., int]]:
        """Fast row adder for rows whose ``keyed`` columns repeat together (a DMA's route).

        Returns ``(append, key_of)``: ``key_of(*values)`` gives the key of values of the
        ``keyed`` columns (in that order; the same values, the same key) and
        ``append(key, *values)`` adds a row from a key and the other columns' values in
        schema order, without run_id. Readers see the same rows as if every value had
        been appended.

        A ``rider`` table, whose keyed columns were declared first, rides on each row:
        ``append`` then also takes one row of it (its key from the rider's ``key_of``,
        then its other columns), which the rider table gets when the rows are
        converted. One call adds both rows: an op and what it waited for (``deps``).

        Raises ValueError for an unknown table or column, a column that is not
        dictionary, integer or floating, another keyed set or rider for the table, or
        a rider that cannot ride (see traces.runsink.attach_rider).
        """
        rider_buffer = self._buffer(rider) if rider is not None else None
        return self._buffer(table).keyed_appender(tuple(keyed), rider_buffer)

    def update_run_row(self, columns: dict[str, Any]) -> None:
        """Set runs-row columns known only at the end (a writer process receives the
        whole row with ``finish``); the outcome that finish() takes still wins."""
        self._run_row.update(columns)

    def key_columns(self, table: str, keyed: tuple[str, ...], rider: str | None = None) -> None:
        """Declare ``table``'s keyed columns and rider (see keyed_appender) for rows
        added with ``extend``. Raises ValueError as keyed_appender does."""
        rider_buffer = self._buffer(rider) if rider is not None else None
        self._buffer(table)._keyed_group(tuple(keyed), rider_buffer)

    def extend(
        self,
        table: str,
        values: list[Any] | Taken | tuple[()],
        new_keys: list[tuple[Any, ...]] = (),
        keyed_values: list[Any] | Taken | tuple[()] = (),
    ) -> None:
        """Add rows as flat lists (or values packed by a PackedRows, traces/packed_rows.py),
        as a writer process receives them: ``values`` holds whole rows in schema order
        (without run_id), ``keyed_values`` rows of the keyed columns' key and the other
        columns (and the rider's row, see keyed_appender);
        ``new_keys`` are the keyed values of the keys first used by those rows, in key
        order (key_columns declared them).
        Raises ValueError naming the table and column of a value Arrow cannot hold."""
        buffer = self._buffer(table)
        for key_values in new_keys:
            buffer.keyed.key_of(*key_values)
        if buffer.values or buffer.keyed_values:  # rows appended here first keep their place
            buffer.convert()
        buffer.convert(received(values), received(keyed_values))

    def metric(self, name: str, value: float, unit: str, better: str) -> None:
        """Record one scalar result of the run, e.g. ("tflops", 12.5, "tflops", "higher").

        `better` is "lower" or "higher": which way the metric improves. Raises
        ValueError naming the metric for anything else.
        """
        self._buffer("metrics").append(metric_row(name, value, unit, better))

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
        self._finishing(status)
        if wall_s is None:
            wall_s = time.perf_counter() - self._started
        row = self._provenance() if self._provenance is not None else {}
        row.update(self._run_row, status=status, error=error, sim_end_ns=sim_end_ns)
        row.update(verified=verified, n_events=n_events, wall_s=wall_s)
        close_error: BaseException | None = None
        # Every table's last batch first, so that converting one overlaps encoding another.
        for buffer in self._buffers.values():
            try:
                buffer.flush()
            except Exception as exc:  # a bad value in one table must not lose the run
                close_error = close_error or exc
        for buffer in self._buffers.values():
            try:
                buffer.close()
            except Exception as exc:
                close_error = close_error or exc
        self._background.stop()
        if close_error is not None:
            row.update(status="failed", error=describe_error(close_error))
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
            buffer.values.clear()
            buffer.keyed_values.clear()
            with contextlib.suppress(Exception):
                buffer.close()
        self._background.stop()
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
