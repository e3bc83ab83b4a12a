"""Trace row values packed into typed buffers, from the simulating process to the writer
process.

A traced run's hot tables (ops, dma, their deps riders) are buffered as one flat run of
values per table, row after row. Where the compiled modules are built
(simulator/hw/native.py), that buffer is a ``traces.row_buffer.PackedRows``: each value
is packed as it is added into one tag byte and eight payload bytes (an exact int, a
float's bits, nothing for None, or the index of any other value in a side list; the
compiled recorder writes its ops and dma rows' numbers there unboxed), and a chunk of
rows goes to the writer process as two bytes objects, which pickle as one copy, instead
of a list pickled value by value (~160 instructions each).
The writer process reads them back a column at a time with numpy (:class:`PackedValues`):
exactly the values that went in, so the trace is the same either way. Elsewhere the
buffer is a plain list (:func:`row_buffer`).

Free of pyarrow (the simulating process imports this module); numpy only where packed
values are read.
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

from traces.row_buffer import TAG_FLOAT, TAG_INT, TAG_OBJECT

if TYPE_CHECKING:
    import numpy as np


Taken = tuple[int, bytes, bytes, list[Any]]
"""A PackedRows' values as its ``take()`` returns them, sent to the writer process as
this plain tuple (a named one pickles through an interpreted reduce): the number of
values, one tag byte per value, eight payload bytes per value (an int64, a float64, or
an index into the last item), and the values of tag OBJECT in order. Rows as a list are
never a tuple, so a tuple is packed rows (an empty one: none)."""


@functools.cache
def row_packer_type() -> type | None:
    """``traces.row_buffer.PackedRows`` where this process runs it compiled, else None
    (interpreted, a list and a generated appender are faster than packing in Python)."""
    from traces.row_buffer import PackedRows

    return None if isinstance(PackedRows.put, types.FunctionType) else PackedRows


def row_buffer() -> Any:
    """A new buffer of a table's row values: a PackedRows where compiled, else a list.
    Both take ``extend``, ``len`` and ``clear``; hand one over with :func:`taken`."""
    packer = row_packer_type()
    return packer() if packer is not None else []


def is_packer(buffer: Any) -> bool:
    """Whether a row buffer is a PackedRows (not a list)."""
    return not isinstance(buffer, list)


def taken(buffer: Any) -> list[Any] | Taken:
    """The values of a row buffer, to send: a PackedRows' as its ``take()`` (emptying
    it), a list as itself (the caller clears it once sent)."""
    return buffer.take() if is_packer(buffer) else buffer


def received(values: list[Any] | Taken | tuple[()]) -> list[Any] | PackedValues:
    """Sent row values as the writer reads them: a list as itself, packed ones as a
    PackedValues (an empty tuple, the default of ``RunWriter.extend``, as no rows)."""
    if isinstance(values, tuple):
        return PackedValues(values) if values else []
    return values


class PackedValues:
    """Row values packed by a PackedRows, read as a flat list is read: ``len`` counts
    values, and ``values[start::step]`` is one column (a table's rows are ``step``
    values wide). A column is a numpy array where its values are all ints or all floats
    (int64 or float64, the same numbers), else a list of the values themselves."""

    def __init__(self, taken: Taken) -> None:
        import numpy as np

        n_values, tags, payload, objects = taken
        self._n_values = n_values
        self._tags = np.frombuffer(tags, np.uint8)
        self._ints = np.frombuffer(payload, "<i8")
        self._floats = np.frombuffer(payload, "<f8")
        self._objects = objects

    def __len__(self) -> int:
        return self._n_values

    def __getitem__(self, where: slice) -> np.ndarray | list[Any]:
        import numpy as np

        tags, ints, floats = self._tags[where], self._ints[where], self._floats[where]
        if len(tags) and (tags == tags[0]).all():
            if tags[0] == TAG_INT:
                return np.ascontiguousarray(ints)
            if tags[0] == TAG_FLOAT:
                return np.ascontiguousarray(floats)
        column = np.full(len(tags), None, dtype=object)
        for tag, numbers in ((TAG_INT, ints), (TAG_FLOAT, floats)):
            are = tags == tag
            column[are] = numbers[are].astype(object)  # Python ints and floats
        for i in np.flatnonzero(tags == TAG_OBJECT):
            column[i] = self._objects[ints[i]]
        return column.tolist()
