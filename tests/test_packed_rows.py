"""Trace row values packed into typed buffers (traces/row_buffer.py PackedRows, read back
by traces/packed_rows.py): what comes out, read back a column at a time, is exactly what
went in, whether added as a call or written in place by the compiled recorder, and the
writer makes the same Arrow columns from packed values as from a list."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator  # noqa: F401 - installs the compiled modules' loader, where built
from traces.packed_rows import PackedValues, received, row_packer_type, taken
from traces.writer import RunWriter

PackedRows = row_packer_type()
needs_packer = pytest.mark.skipif(
    PackedRows is None, reason="traces.row_buffer is not compiled (make native)"
)

# Values a trace row may carry: ints of any size (beyond int64 too), every kind of
# float, None, text, and types that must keep their type (bool, numpy scalars).
VALUES = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.text(max_size=3),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.floats(width=64).map(np.float64),
)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (NaN equals NaN; -0.0 differs from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and (
            a == b or (math.isnan(a) and math.isnan(b))
        )
    return a == b


def _as_python(column: Any) -> list[Any]:
    return column.tolist() if isinstance(column, np.ndarray) else column


@needs_packer
@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=5), st.data())
def test_packed_columns_read_back_every_value_as_it_went_in(width, data):
    rows = data.draw(st.lists(st.lists(VALUES, min_size=width, max_size=width), max_size=12))
    packer = PackedRows()
    flat: list[Any] = []
    for row in rows:
        packer(*row)
        flat.extend(row)
    assert len(packer) == len(flat)
    packed = PackedValues(packer.take())
    assert len(packer) == 0 and len(packed) == len(flat)
    for start in range(width):
        column = packed[start::width]
        expected = flat[start::width]
        got = _as_python(column)
        assert len(got) == len(expected)
        assert all(_same(a, b) for a, b in zip(got, expected, strict=True)), (got, expected)
        if isinstance(column, np.ndarray):  # typed only where every value is an int or a float
            kinds = {type(v) for v in expected}
            assert kinds in ({int}, {float}), kinds
            assert column.dtype == (np.int64 if kinds == {int} else np.float64)


@needs_packer
def test_ints_at_every_size_boundary_read_back_exactly():
    """One-digit ints are read from the object, larger ones converted, beyond 64 bits
    kept as objects: each side of each boundary comes back as it went in."""
    edges = [0, 1, -1, 2**30 - 1, 2**30, -(2**30) + 1, -(2**30), 2**62, 2**63 - 1]
    edges += [-(2**63), 2**63, -(2**63) - 1, 2**100]
    packer = PackedRows()
    packer.extend(edges)
    column = PackedValues(packer.take())[0::1]
    assert _as_python(column) == edges
    assert all(type(v) is int for v in _as_python(column))


@needs_packer
def test_a_packer_calls_full_at_its_limit_and_take_empties_it():
    fulls: list[int] = []
    packer = PackedRows(limit=6, full=lambda: fulls.append(len(packer)))
    packer(1, "a", None)
    assert (len(packer), fulls) == (3, [])
    packer(2.5, "b", 3)
    packer.extend((4, "c", 5))  # as list.extend: full() is the caller's to call
    assert fulls == [6] and len(packer) == 9
    n_values, tags, payload, objects = packer.take()
    assert (n_values, len(tags), len(payload), objects) == (9, 9, 72, ["a", "b", "c"])
    assert len(packer) == 0 and not packer
    packer(7)
    packer.clear()
    assert len(packer) == 0 and packer.take()[0] == 0
    with pytest.raises(TypeError):
        packer(1, x=2)  # values come positionally
    packer.full = None  # nothing to call: values are still added
    packer(*range(8))
    assert len(packer) == 8


def _written(values: list[Any] | Any) -> list[dict[str, Any]]:
    """The pe_exec rows a RunWriter writes from ``values`` given to ``extend``."""
    with tempfile.TemporaryDirectory() as store:
        writer = RunWriter(Path(store), "r1", Path(store) / "_tmp" / "r1", {})
        writer.extend("pe_exec", values)
        writer.finish(sim_end_ns=1.0, n_events=1)
        files = sorted(Path(store).glob("pe_exec/run_id=r1/*.parquet"))
        return [row for f in files for row in pq.read_table(f).to_pylist()]


@needs_packer
@pytest.mark.parametrize(
    "row",
    [
        (0, 0, 0, 1, 1, 0.5, 1.0, 2.0),  # every value typed as its column
        (None, 0, None, 1, 1, None, 1.0, 2.0),  # nulls
        (3, 0, 0, 1, 1, 1, 2, 3),  # ints in float columns: converted as Python's would be
        (3, 0, 0, 1, 1.5, 1.0, 2.0, 3.0),  # a float in an int column: as Python's too
    ],
)
def test_the_writer_makes_the_same_rows_from_packed_values_as_from_a_list(row):
    flat = list(row) * 3
    packer = PackedRows()
    packer.extend(flat)
    assert _written(taken(packer)) == _written(flat)


@needs_packer
def test_a_value_arrow_cannot_hold_fails_the_same_way_packed():
    """An int too large for its column is refused from a packed column as from a list."""
    flat = [0, 0, 0, 1, 2**40, 0.5, 1.0, 2.0]  # pe_global is an int32
    packer = PackedRows()
    packer.extend(flat)
    errors = []
    for values in (flat, taken(packer)):
        with pytest.raises(ValueError, match="'pe_global'") as failed:
            _written(values)
        errors.append(str(failed.value).split(":")[0])
    assert errors[0] == errors[1]


def test_lists_pass_through_unpacked():
    values = [1, 2.0, None]
    assert received(values) is values and taken(values) is values
    assert received(()) == []  # RunWriter.extend's default: no rows


class _Sink:
    """A trace sink whose keyed appenders are ``make()`` buffers (PackedRows, as a writer
    process's are where compiled, or a list's extend), with their keys counted."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.buffers: dict[str, Any] = {}

    def append(self, table: str, **columns: Any) -> None:
        pass

    def appender(self, table: str, keyed: tuple[str, ...] = ()) -> Any:
        return self.keyed_appender(table, keyed)[0]

    def keyed_appender(self, table: str, keyed: tuple[str, ...], rider: str | None = None):
        buffer = self.buffers.setdefault(table, self.make())
        keys: list[tuple[Any, ...]] = []

        def key_of(*values: Any) -> int:
            keys.append(values)
            return len(keys) - 1

        append = buffer if isinstance(buffer, PackedRows) else lambda *row: buffer.extend(row)
        return append, key_of


@needs_packer
@pytest.mark.parametrize("nbytes", [512, 2**62 - 1, 2**62, 2**63 - 1, 2**70])
@pytest.mark.parametrize(("launch_id", "coll_id", "op_id"), [(4, 9, 17), (None, None, None)])
def test_the_recorder_packs_a_dma_row_in_place_as_a_call_would(nbytes, launch_id, coll_id, op_id):
    """The compiled recorder writes a DMA's row into packed rows itself (unboxed); read
    back, each value is the one the same row passed as a call gives, type included:
    nulls, ids, times, and byte counts beyond the packed range (kept as the int)."""
    import simpy

    from simulator.engine.recorder import DmaInfo, Recorder
    from simulator.hw.links import Link, Route
    from simulator.hw.network import Transfer
    from simulator.hw.topology import load_topology

    topology = load_topology("default")
    link = Link(0, "a", "x", "y", 1.0, 8.0, "cube")
    route = Route("x", "y", ("x", "y"), (link,), 1.0, 8.0)
    rows = {}
    for kind, make in (("packed", PackedRows), ("call", list)):
        sink = _Sink(make)
        recorder = Recorder(simpy.Environment(), topology, sink)
        for end_ns in (77.0, 1e30):  # carried alone, then slower than alone: shared
            transfer = Transfer(5, route, nbytes, 10.0, 13.0, end_ns, None)
            recorder.transfer(transfer, DmaInfo("send", launch_id, coll_id, 2), op_id)
        buffer = sink.buffers["dma"]
        rows[kind] = buffer if kind == "call" else PackedValues(buffer.take())
    assert len(rows["packed"]) == len(rows["call"]) > 0
    packed = _as_python(rows["packed"][0::1])
    assert all(_same(a, b) for a, b in zip(packed, rows["call"], strict=True)), packed
