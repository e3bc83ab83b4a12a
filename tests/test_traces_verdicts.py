"""traces.verdicts: the legacy direction of old runs, the verdict columns, and compare_suite
with metrics on one side only (cases found by mutation testing)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from traces.store import Store
from traces.suites import SuiteEntry
from traces.synthetic import new_synthetic_writer
from traces.verdicts import compare_suite, legacy_better, stored_better, verdict, with_verdicts


@pytest.mark.parametrize(
    ("name", "unit", "expected"),
    [
        ("dma.own_hbm.262144B.latency_ns", None, "lower"),
        ("t", "NS", "lower"),  # units compare case-insensitively
        ("t", "ns", "lower"),
        ("rate", "TFLOPS", "higher"),
        ("bus", "busbw_gbs", "higher"),
        ("gemm.Peak_TFLOPS", None, "higher"),
        ("a_utilization", None, "higher"),
        ("utilisation", "ratio", "higher"),
        ("a.utilisation.count", None, None),  # only the part after the last dot counts
        ("speedup", None, None),
        ("n_pes", "count", None),
    ],
)
def test_legacy_better_by_name_and_unit(name, unit, expected):
    """Runs recorded before metrics.better: the direction their name or unit implies."""
    assert legacy_better(name, unit) == expected


def test_stored_better_wins_and_falls_back_with_the_unit():
    """A stored direction is kept; a missing one comes from the name and the unit."""
    assert stored_better("odd_ns", "ns", "higher") == "higher"
    assert stored_better("t", "ns", None) == "lower"
    assert stored_better("t", None, None) is None


def test_verdict_from_zero_and_to_equal():
    """Equal values are 'same' whatever the threshold; a move from 0 always counts."""
    assert verdict("lower", 3.0, 3.0, 0.0) == "same"
    assert verdict("lower", 0.0, -1.0, 50.0) == "improved"


def _deltas(better: list | None) -> pa.Table:
    columns = {"name": ["t", "bw_gbs"], "unit": ["ns", "gbs"]}
    if better is not None:
        columns["better"] = pa.array(better, pa.string())
    columns |= {"a": [10.0, 10.0], "b": [20.0, 20.0], "delta": [10.0, 10.0]}
    return pa.table(columns)


@pytest.mark.parametrize("better", [None, [None, None]])
def test_with_verdicts_on_legacy_tables(better):
    """A compare_runs table without `better` (or with nulls) gets it after `unit`, from the
    name and unit, as strings, and a string `verdict` column at the end."""
    out = with_verdicts(_deltas(better), 1.0)
    assert out.column_names == ["name", "unit", "better", "a", "b", "delta", "verdict"]
    assert out.schema.field("better").type == pa.string()
    assert out.schema.field("verdict").type == pa.string()
    assert out.column("better").to_pylist() == ["lower", "higher"]
    assert out.column("verdict").to_pylist() == ["regressed", "improved"]


def test_with_verdicts_unknown_directions_stay_string_typed():
    """Metrics with no direction at all still get a string-typed, null `better`."""
    table = pa.table({"name": ["n"], "unit": ["count"], "a": [1.0], "b": [2.0]})
    out = with_verdicts(table, 1.0)
    assert out.schema.field("better").type == pa.string()
    assert out.column("better").to_pylist() == [None]
    assert out.column("verdict").to_pylist() == ["changed"]


def test_compare_suite_reports_new_and_gone_metrics_and_legacy_rows(tmp_path):
    """A metric at one commit only is 'new' or 'gone'; rows without a stored direction
    take it from their name and unit."""
    store = Store(tmp_path)
    base, head = "a" * 40, "b" * 40
    old = {"gone_ns": (1.0, "ns", "lower"), "t": (10.0, "ns", None)}
    new = {"new_gbs": (2.0, "gbs", "higher"), "t": (12.0, "ns", None)}
    for commit, metrics in ((base, old), (head, new)):
        writer = new_synthetic_writer(store, workload="w", params={}, git={"git_commit": commit})
        for name, (value, unit, better) in metrics.items():
            writer.metric(name, value, unit, better or "lower")
        writer.finish(sim_end_ns=1.0, n_events=1)
    # Store the legacy row of `t` without a direction, as schema 2 runs have it.
    for path in (tmp_path / "metrics").rglob("*.parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        better = [
            None if n == "t" else b
            for n, b in zip(
                table.column("name").to_pylist(), table.column("better").to_pylist(), strict=True
            )
        ]
        table = table.set_column(
            table.schema.get_field_index("better"), "better", pa.array(better, pa.string())
        )
        pq.write_table(table, path)
    rows = compare_suite(store, [SuiteEntry("w", {}, "synthetic")], base, head)
    got = {r.metric: (r.baseline, r.head, r.better, r.verdict(1.0)) for r in rows}
    assert got == {
        "gone_ns": (1.0, None, "lower", "gone"),
        "new_gbs": (None, 2.0, "higher", "new"),
        "t": (10.0, 12.0, "lower", "regressed"),
    }
