"""The queries behind the Run page's level-of-detail timeline, against plain Python over
the ops rows of a real run."""

from __future__ import annotations

import duckdb
import pytest
from dashboard_fixtures import FixtureStore, fixture_store

from traces import queries


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return fixture_store(tmp_path_factory)


def _ops(store: FixtureStore, run_id: str) -> list[tuple]:
    files = str(store.root / "ops" / f"run_id={run_id}" / "*.parquet")
    return duckdb.sql(
        "SELECT pe_global, engine, start_ns, end_ns FROM read_parquet(?) ORDER BY start_ns",
        params=[files],
    ).fetchall()


def _union_inside(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of `intervals` clipped to [lo, hi)."""
    clipped = sorted((max(s, lo), min(e, hi)) for s, e in intervals if e > lo and s < hi)
    total, reach = 0.0, lo
    for s, e in clipped:
        total += max(0.0, e - max(s, reach))
        reach = max(reach, e)
    return total


@pytest.mark.parametrize("workload", ["gemm", "dma_sweep"])
def test_engine_busy_buckets_is_the_union_of_ops_per_bucket(store: FixtureStore, workload) -> None:
    """busy_ns of each (PE, engine, bucket) is the union of that engine's op intervals
    inside the bucket; summed over buckets it is the engine's busy time in pe_breakdown."""
    run_id = store.runs[(store.commits[1], workload)]
    ops = _ops(store, run_id)
    start = min(o[2] for o in ops)
    end = max(o[3] for o in ops)
    n = 37  # not a divisor of anything in particular
    got = queries.engine_busy_buckets(store.root, run_id, start, end, n).to_pylist()
    width = (end - start) / n
    by_key: dict[tuple, list] = {}
    for pe, engine, s, e in ops:
        by_key.setdefault((pe, engine), []).append((s, e))
    expected = {}
    for (pe, engine), intervals in by_key.items():
        for b in range(n):
            busy = _union_inside(intervals, start + b * width, start + (b + 1) * width)
            if busy > 0:
                expected[(pe, engine, b)] = busy
    shown = {(r["pe_global"], r["engine"], r["bucket"]): r["busy_ns"] for r in got}
    assert {k for k, v in shown.items() if v > 1e-9} == set(expected)
    for key, busy in expected.items():
        assert shown[key] == pytest.approx(busy, rel=1e-9, abs=1e-6)
        assert 0.0 <= shown[key] / width <= 1.0 + 1e-12

    breakdown = queries.pe_breakdown(store.root, run_id).to_pylist()
    for row in breakdown:
        for engine in ("DMA_IN", "GEMM", "MATH", "DMA_WB"):
            total = sum(
                v for (pe, e, _), v in shown.items() if pe == row["pe_global"] and e == engine
            )
            assert total == pytest.approx(row[f"{engine.lower()}_busy_ns"], rel=1e-9, abs=1e-6)
            makespan = row["makespan_ns"]
            assert row[f"{engine.lower()}_utilisation"] == pytest.approx(
                row[f"{engine.lower()}_busy_ns"] / makespan
            )


def test_ops_span_and_ops_between_count_the_window(store: FixtureStore) -> None:
    """ops_span gives the ops' first start and last end; a window's count and rows are
    the ops that overlap it."""
    run_id = store.runs[(store.commits[1], "gemm")]
    ops = _ops(store, run_id)
    span = queries.ops_span(store.root, run_id).to_pylist()[0]
    assert span["start_ns"] == min(o[2] for o in ops)
    assert span["end_ns"] == max(o[3] for o in ops)
    assert span["n_ops"] == len(ops)
    lo = span["start_ns"] + 0.3 * (span["end_ns"] - span["start_ns"])
    hi = span["start_ns"] + 0.6 * (span["end_ns"] - span["start_ns"])
    inside = [o for o in ops if 2 <= o[0] <= 9 and o[3] > lo and o[2] < hi]
    window = queries.ops_span(store.root, run_id, 2, 9, lo, hi).to_pylist()[0]
    assert window["n_ops_in_window"] == len(inside) > 0
    rows = queries.ops_between(store.root, run_id, lo, hi, 2, 9).to_pylist()
    assert sorted((r["pe_global"], r["start_ns"]) for r in rows) == sorted(
        (o[0], o[2]) for o in inside
    )
