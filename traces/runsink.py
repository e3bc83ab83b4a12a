"""What every run writer shares, free of pyarrow: row appenders generated over flat
lists, the index of keyed column values, and the writer's context-manager lifecycle.

traces/writer.py (Arrow and Parquet in this process) and traces/writer_process.py (rows
handed to a child process) buffer rows the same way: one flat list per table, row after
row, so that adding a row is one call (of a generated function, or of the compiled
``traces.row_buffer.RowAppender``) and one ``extend``; the writer process's buffers
are PackedRows where compiled (traces/packed_rows.py), called once per row.
"""

import functools
import types
from collections.abc import Callable, Iterable
from typing import Any

from traces.better import BETTER
from traces.columns import CATEGORY, FLOAT64, ID, INDEX, INT32, INT64, NS, TABLE_COLUMNS
from traces.packed_rows import is_packer

# Column types whose values a keyed appender can store as one key: dictionary, integer
# and floating ones.
KEYABLE_TYPES = frozenset((CATEGORY, ID, INDEX, NS, INT32, INT64, FLOAT64))


@functools.cache
def _compiled_row_appender() -> type | None:
    """``traces.row_buffer.RowAppender`` when it runs compiled (simulator.hw.native),
    else None: the compiled recorder calls it without an interpreted frame, where the
    generated function is faster interpreted. Imported at the first appender, when a
    simulation has installed the compiled modules' loader."""
    from traces.row_buffer import RowAppender

    return None if isinstance(RowAppender.__call__, types.FunctionType) else RowAppender


def appender_params(names: Iterable[str], optional: Iterable[str]) -> list[str]:
    """Parameters ``v0, v1, ...`` of a positional appender, one per column; the columns in
    ``optional`` (added to a table after it was first published) default to None."""
    optional = set(optional)
    return [f"v{i}=None" if name in optional else f"v{i}" for i, name in enumerate(names)]


def generated_appender(name: str, params: str, row: str, scope: dict[str, Any]) -> Callable:
    """``def name(params): add((row,)); full() once values reach limit``, compiled in
    ``scope`` (which gives ``add``, ``values``, ``limit`` and ``full``). Hot path, one
    call per trace row: a generated function takes its arguments positionally, with no
    ``*args`` tuple to unpack. The source is built from column counts only, never from
    input. Where no parameter has a default, the buffer itself where it is a PackedRows
    (traces/packed_rows.py: it takes a row's values as a call and calls ``full``), else
    ``RowAppender`` where it runs compiled (the same rows, without an interpreted frame
    per row)."""
    values = scope["values"]
    if params == row and is_packer(values):  # no defaults: it takes rows as they come
        values.limit, values.full = scope["limit"], scope["full"]
        return values
    row_appender = _compiled_row_appender()
    if params == row and row_appender is not None:
        return row_appender(values, scope["limit"], scope["full"])
    source = (
        f"def {name}({params}):\n    add(({row},))\n    if len(values) >= limit:\n        full()\n"
    )
    exec(source, scope)
    return scope[name]


def auto_keyed_appender(
    name: str, names: list[str], keyed: tuple[str, ...], params: list[str], scope: dict[str, Any]
) -> Callable[..., None]:
    """A positional appender (``params``: one per column of ``names``) that stores the
    ``keyed`` columns' values as their key, looked up with ``get`` and made with
    ``key_of`` (both in ``scope``, with ``add``, ``values``, ``limit`` and ``full``): a
    dict lookup per row instead of converting each of those values."""
    where = {column: f"v{i}" for i, column in enumerate(names)}
    key_values = ", ".join(where[column] for column in keyed)
    rest = ", ".join(where[column] for column in names if column not in keyed)
    source = (
        f"def {name}({', '.join(params)}):\n"
        f"    key = get(({key_values},))\n"
        f"    if key is None:\n        key = key_of({key_values})\n"
        f"    add((key, {rest}))\n"
        "    if len(values) >= limit:\n        full()\n"
    )
    exec(source, scope)  # source is built from column names only, never from input
    return scope[name]


@functools.cache
def column_types(table: str) -> dict[str, str]:
    """The columns of a trace table but run_id, in schema order, and their types
    (traces.columns). Raises KeyError for an unknown table."""
    return {name: kind for name, kind in TABLE_COLUMNS[table] if name != "run_id"}


def check_keyed_columns(table: str, types: dict[str, str], keyed: tuple[str, ...]) -> None:
    """Raise ValueError naming the table (and column) unless ``keyed`` are distinct columns
    of ``table`` (``types``: its columns without run_id and their traces.columns types)
    whose type can be keyed (KEYABLE_TYPES)."""
    if any(name not in types for name in keyed) or len(set(keyed)) != len(keyed):
        raise ValueError(
            f"trace table {table!r}: cannot key columns {', '.join(keyed)} "
            f"(columns: {', '.join(types)}, each at most once)"
        )
    for name in keyed:
        if types[name] not in KEYABLE_TYPES:
            raise ValueError(
                f"trace table {table!r} column {name!r} ({types[name]}) cannot be keyed "
                "(only dictionary, integer and floating columns)"
            )


def attach_rider(carrier: Any, rider: Any, first: bool) -> None:
    """Check that ``rider`` (None for none) may ride on ``carrier``'s keyed rows, and at
    their ``first`` declaration attach it. Both are table buffers (``table``, ``keyed``,
    ``rider``, ``carrier``: the table each rides on). Raises ValueError naming the
    tables for a rider that is the table itself, has no keyed columns yet or carries a
    rider, for a carrier that rides itself, and for another rider than the first."""
    asked = rider.table if rider is not None else None
    if rider is not None and (
        rider is carrier or rider.keyed is None or rider.rider is not None
        or carrier.carrier is not None
    ):  # fmt: skip
        raise ValueError(
            f"trace table {asked!r} cannot ride on {carrier.table!r}: a rider is another "
            "table whose keyed columns were declared first; riders carry no riders"
        )
    if first:
        carrier.rider = rider
        if rider is not None:
            rider.carrier = carrier.table
        return
    declared = carrier.rider.table if carrier.rider is not None else None
    if declared != asked:
        raise ValueError(
            f"trace table {carrier.table!r} already has rider {declared!r}, not {asked!r}"
        )


def row_values(
    table: str, names: list[str], name_set: frozenset[str], columns: dict[str, Any]
) -> list[Any]:
    """A row given by column name as its values in ``names`` order (missing: None);
    ``name_set`` is ``names`` as a set. Raises ValueError naming the table and the first
    unknown column."""
    unknown = columns.keys() - name_set
    if unknown:
        raise ValueError(
            f"trace table {table!r} has no column {sorted(unknown)[0]!r} "
            f"(columns: {', '.join(names)})"
        )
    return [columns.get(name) for name in names]


class KeyIndex:
    """The distinct combinations of a table's keyed columns' values, each a key (0, 1,
    ... in order of first sight): rows then carry the key instead of the values."""

    def __init__(self, table: str, names: tuple[str, ...]) -> None:
        self.table = table
        self.names = tuple(names)
        self.index: dict[tuple[Any, ...], int] = {}
        self.rows: list[tuple[Any, ...]] = []
        """Values of the keyed columns per key (key = position)."""

    def key_of(self, *values: Any) -> int:
        """The key of these keyed-column values (in ``names`` order), new if unseen.

        Raises ValueError naming the table when the number of values is wrong.
        """
        key = self.index.get(values)
        if key is None:
            if len(values) != len(self.names):
                raise ValueError(
                    f"trace table {self.table!r}: {len(values)} keyed values for "
                    f"{len(self.names)} columns ({', '.join(self.names)})"
                )
            key = self.index[values] = len(self.rows)
            self.rows.append(values)
        return key

    def check_names(self, keyed: tuple[str, ...]) -> None:
        """Raise ValueError unless ``keyed`` are this index's columns (a table has one
        set of keyed columns)."""
        if self.names != tuple(keyed):
            raise ValueError(
                f"trace table {self.table!r} already has keyed columns "
                f"{', '.join(self.names)}, not {', '.join(keyed)}"
            )


def metric_row(name: str, value: float, unit: str, better: str) -> dict[str, Any]:
    """The ``metrics`` row of one scalar result. Raises ValueError naming the metric
    unless ``better`` is "lower" or "higher"."""
    if better not in BETTER:
        raise ValueError(f"metric {name!r}: better must be 'lower' or 'higher', got {better!r}")
    return {"name": name, "value": value, "unit": unit, "better": better}


def describe_error(exc: BaseException) -> str:
    """A run's ``error`` column for an exception: "ExcType: message"."""
    return f"{type(exc).__name__}: {exc}"


class RunLifecycle:
    """The context-manager half of a run writer (states: open -> finished).

    Leaving the block with an exception records the run as failed (error "ExcType:
    message") and lets the exception propagate; leaving without ``finish()`` records it
    as failed too. Subclasses provide ``finish`` and ``_finished``.
    """

    _finished: bool
    run_id: str

    def finish(self, **outcome: Any) -> None:
        raise NotImplementedError

    def _finishing(self, status: str) -> None:
        """Check a finish() call and mark the run finished. Raises RuntimeError if it
        already is, ValueError for a status other than "ok"/"failed"."""
        if self._finished:
            raise RuntimeError(f"run {self.run_id} is already finished")
        if status not in ("ok", "failed"):
            raise ValueError(f"run status must be 'ok' or 'failed', got {status!r}")
        self._finished = True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if not self._finished:
            if exc is not None:
                error = describe_error(exc)
            else:
                error = "RuntimeError: run writer closed without finish()"
            try:
                self.finish(status="failed", error=error, sim_end_ns=None, n_events=None)
            except Exception:
                if exc is None:
                    raise
        return False
