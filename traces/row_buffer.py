"""Appending a trace row to a flat buffer: the one call per row a traced simulation
makes, compiled with the simulator's hot modules (simulator.hw.native)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
