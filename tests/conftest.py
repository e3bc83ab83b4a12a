"""Shared fixtures: a writer that keeps trace rows in memory, for invariants over traces."""

from __future__ import annotations

from collections import defaultdict

import pytest

from traces.schema import TABLES


class ListWriter:
    """Collects trace rows per table (the RunWriter interface the simulator uses)."""

    run_id = "in-memory"

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = defaultdict(list)

    def append(self, table: str, **columns) -> None:
        self.rows[table].append(columns)

    def appender(self, table: str):
        names = [n for n in TABLES[table].names if n != "run_id"]
        rows = self.rows[table]
        # Trailing extension columns may be omitted by positional writers (null).
        return lambda *values: rows.append(dict(zip(names, values + (None,) * 8, strict=False)))

    def metric(self, name: str, value: float, unit: str) -> None:
        self.rows["metrics"].append({"name": name, "value": value, "unit": unit})

    def finish(self, **kw) -> None:
        self.rows["runs"].append(kw)


@pytest.fixture
def list_writer() -> ListWriter:
    return ListWriter()


@pytest.fixture
def new_list_writer():
    """A factory of fresh ListWriters (for tests that compare several runs)."""
    return ListWriter
