"""Appending a trace row to a flat buffer, or packing its values into typed bytes
(PackedRows, read back by traces/packed_rows.py): the per-row work of a traced
simulation, compiled with the simulator's hot modules (simulator.hw.native)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, final

from librt.strings import BytesWriter, write_f64_le, write_i64_le


class RowAppender:
    """``append(*row)``: extend ``values`` by the row's values (a flat list, row after
    row), then call ``full()`` once it holds ``limit`` values or more.

    A compiled object rather than a function: the compiled recorder calls it without
    an interpreted frame, and its ``*row`` is the tuple ``extend`` takes."""

    __slots__ = ("values", "limit", "full")

    def __init__(self, values: list[Any], limit: int, full: Callable[[], None]) -> None:
        self.values = values
        self.limit = limit
        self.full = full

    def __call__(self, *row: Any) -> None:
        values = self.values
        values.extend(row)
        if len(values) >= self.limit:
            self.full()


# The tags of a packed value (traces/packed_rows.py reads them back).
TAG_NONE: Final = 0
TAG_INT: Final = 1
TAG_FLOAT: Final = 2
TAG_OBJECT: Final = 3
# Ints packed as numbers: compiled, the range of an unboxed int, so that the check is
# two machine compares (any other int is kept as the object it is, as exactly).
PACKED_INT_MIN: Final = -(1 << 62)
PACKED_INT_MAX: Final = (1 << 62) - 1


@final
class PackedRows:
    """A table's row values packed as they are added, row after row: one tag byte in
    ``tags`` and eight bytes in ``payload`` per value (an exact int within
    PACKED_INT_MIN..MAX as int64, an exact float's bits, zeros for None, or the index
    in ``objects`` of any other value: text, bools, numpy scalars, bigger ints).

    ``rows(*values)`` adds one row and calls ``full()`` once ``limit`` values or more
    are held (as a list appender would); ``extend`` adds values without that check.
    The compiled recorder writes its hot rows into ``tags`` and ``payload`` itself
    (simulator/engine/recorder.py), then calls ``end_row``.
    """

    def __init__(self, limit: int = 1 << 62, full: Callable[[], None] | None = None) -> None:
        self.tags = BytesWriter()
        self.payload = BytesWriter()
        self.objects: list[Any] = []
        self.limit = limit
        self.full = full

    def put(self, value: object) -> None:
        """Add one value of any kind."""
        if value is None:
            self.tags.append(TAG_NONE)
            write_i64_le(self.payload, 0)
        elif type(value) is int and PACKED_INT_MIN <= value <= PACKED_INT_MAX:
            self.tags.append(TAG_INT)
            write_i64_le(self.payload, value)
        elif type(value) is float:
            self.tags.append(TAG_FLOAT)
            write_f64_le(self.payload, value)
        else:
            self.put_object(value)

    def put_object(self, value: object) -> None:
        """Add one value as itself (its index in ``objects``)."""
        self.tags.append(TAG_OBJECT)
        write_i64_le(self.payload, len(self.objects))
        self.objects.append(value)

    def end_row(self) -> None:
        """Call ``full()`` if ``limit`` values or more are held."""
        if len(self.tags) >= self.limit and self.full is not None:
            self.full()

    def __call__(self, *row: object) -> None:
        for value in row:
            self.put(value)
        self.end_row()

    def extend(self, values: Iterable[object]) -> None:
        for value in values:
            self.put(value)

    def take(self) -> tuple[int, bytes, bytes, list[Any]]:
        """(number of values, tag bytes, payload bytes, objects), emptying the buffer."""
        taken = (len(self.tags), self.tags.getvalue(), self.payload.getvalue(), self.objects)
        self.clear()
        return taken

    def clear(self) -> None:
        self.tags.truncate(0)
        self.payload.truncate(0)
        self.objects = []

    def __len__(self) -> int:
        return len(self.tags)
