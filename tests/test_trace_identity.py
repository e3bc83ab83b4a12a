"""Every trace table of the reference runs is identical to the golden digests.

Regenerate the goldens (only when numbers change on purpose) with
``.venv/bin/python tests/trace_identity.py --update``.
"""

from __future__ import annotations

from trace_identity import (
    CASES,
    compute,
    differences,
    golden_columns,
    load_golden,
    table_digest,
)


def test_reference_runs_match_golden_digests():
    """gemm, hierarchical all-reduce on 32 ranks, tp_mlp and a small gpt3_qkv: no row moved."""
    golden = load_golden()
    assert set(golden) == set(CASES)
    diff = differences(golden, compute(only=golden_columns(golden)))
    assert not diff, (
        "trace rows differ from tests/golden/trace_digests.json (if on purpose, run "
        "`.venv/bin/python tests/trace_identity.py --update`):\n" + "\n".join(diff)
    )


ROWS = [
    {"a": 1, "b": 2.5, "c": "x"},
    {"a": 2, "b": None, "c": "y"},
    {"a": 1, "b": 0.1 + 0.2, "c": "x"},
]


def test_digest_ignores_row_order():
    """The digest is a function of the row multiset, not of the order on disk."""
    assert table_digest(ROWS, ["a", "b", "c"]) == table_digest(ROWS[::-1], ["a", "b", "c"])


def test_digest_names_the_column_whose_value_moved():
    """A last-bit float change in one cell changes that column's digest only."""
    moved = [dict(r) for r in ROWS]
    moved[2]["b"] = 0.3  # 0.1 + 0.2 != 0.3 in float64
    before, after = table_digest(ROWS, ["a", "b", "c"]), table_digest(moved, ["a", "b", "c"])
    changed = [c for c in before["columns"] if before["columns"][c] != after["columns"][c]]
    assert changed == ["b"]


def test_digest_sees_values_swapped_between_rows():
    """Swapping values of one column between two rows is a different row set."""
    swapped = [dict(r) for r in ROWS]
    swapped[0]["c"], swapped[1]["c"] = swapped[1]["c"], swapped[0]["c"]
    assert table_digest(ROWS, ["a", "b", "c"]) != table_digest(swapped, ["a", "b", "c"])


def test_digest_types_are_distinct():
    """1, 1.0, True and "1" are different cells."""
    digests = {table_digest([{"a": v}], ["a"])["columns"]["a"] for v in (1, 1.0, True, "1", None)}
    assert len(digests) == 5


def test_new_columns_are_not_compared_until_regenerated():
    """A contract extension (a new column) does not change the digests of the old ones."""
    extended = [dict(r, d=i) for i, r in enumerate(ROWS)]
    golden = {"case": {"t": table_digest(ROWS, ["a", "b", "c"])}}
    actual = {"case": {"t": table_digest(extended, golden_columns(golden)["case"]["t"])}}
    assert differences(golden, actual) == []
    actual["case"]["t"]["rows"] = 4
    assert differences(golden, actual) == ["case.t: 4 rows, golden 3"]
