"""The one rule for "better", and the verdict on a metric's change between two runs.

A workload declares, for each metric it records, whether lower or higher is better
(`metrics.better`: "lower" | "higher"). `kernbench check`, `kernbench compare`, the
dashboard's Compare and Trends pages and the asv `track_` benchmarks all take the
direction from there, and judge a change with `verdict` and one default threshold.

Verdicts (one word each), for a metric going from `before` to `after`:

1. ``new`` / ``gone``: one side lacks the metric (never a regression).
2. ``same``: the two values are equal.
3. ``regressed`` / ``improved``: it moved in its worse / better direction by more than
   the threshold, in percent of |before| (any move counts from a `before` of 0).
4. ``changed``: it moved, but not past the threshold, or its direction is unknown
   (only runs recorded before `metrics.better` existed can lack one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traces.better import BETTER, HIGHER, LOWER
from traces.suites import MissingRunsError, SuiteEntry, find_suite_runs, run_metric_values

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_THRESHOLD_PCT = 1.0

REGRESSED = "regressed"
IMPROVED = "improved"
CHANGED = "changed"
SAME = "same"
NEW = "new"
GONE = "gone"
VERDICTS = (REGRESSED, IMPROVED, CHANGED, SAME, NEW, GONE)


def legacy_better(name: str, unit: str | None) -> str | None:
    """The direction of a metric recorded before `metrics.better` existed (schema 1).

    Only for old stores, from the metric's name and unit:

    1. a name ending in `_ns`, or unit `ns`: "lower";
    2. a name or unit ending in `tflops` or `gbs`, or `utilisation` in the name: "higher";
    3. anything else: None (no direction: a change is only "changed").
    """
    leaf = name.rsplit(".", 1)[-1].lower()
    unit = (unit or "").lower()
    if leaf.endswith("_ns") or unit == "ns":
        return LOWER
    if leaf.endswith(("tflops", "gbs")) or unit.endswith(("tflops", "gbs")):
        return HIGHER
    if "utilisation" in leaf or "utilization" in leaf:
        return HIGHER
    return None


def stored_better(name: str, unit: str | None, better: str | None) -> str | None:
    """The stored direction of a metric, or legacy_better for a row that has none."""
    return better if better in BETTER else legacy_better(name, unit)


def change_pct(before: float, after: float) -> float:
    """100 * (after - before) / |before|; inf (signed) from 0 to non-zero, 0 from 0 to 0."""
    if before == 0:
        return 0.0 if after == 0 else math.copysign(math.inf, after)
    return 100.0 * (after - before) / abs(before)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def verdict(
    better: str | None, before: float | None, after: float | None, threshold_pct: float
) -> str:
    """The verdict (see the module docstring) on a metric going from `before` to `after`.

    `better` is "lower", "higher" or None (unknown); `threshold_pct` >= 0. A move of
    exactly the threshold is not past it.
    """
    if _missing(before):
        return NEW
    if _missing(after):
        return GONE
    if after == before:
        return SAME
    pct = change_pct(before, after)
    if better is None or abs(pct) <= threshold_pct:
        return CHANGED
    got_lower = after < before
    return IMPROVED if got_lower == (better == LOWER) else REGRESSED


def with_verdicts(deltas: pa.Table, threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> pa.Table:
    """`deltas` (traces.queries.compare_runs columns: name, unit, better, a, b, ...) with
    `better` filled for legacy rows (stored_better) and a `verdict` column appended."""
    import pyarrow as pa

    names = deltas.column("name").to_pylist()
    units = deltas.column("unit").to_pylist()
    stored = (
        deltas.column("better").to_pylist()
        if "better" in deltas.column_names
        else [None] * len(names)
    )
    better = [stored_better(n, u, b) for n, u, b in zip(names, units, stored, strict=True)]
    befores, afters = deltas.column("a").to_pylist(), deltas.column("b").to_pylist()
    verdicts = [
        verdict(d, a, b, threshold_pct) for d, a, b in zip(better, befores, afters, strict=True)
    ]
    if "better" in deltas.column_names:
        deltas = deltas.drop_columns(["better"])
    index = deltas.column_names.index("unit") + 1
    deltas = deltas.add_column(index, "better", pa.array(better, pa.string()))
    return deltas.append_column("verdict", pa.array(verdicts, pa.string()))


# --- a suite at two commits ------------------------------------------------------------------


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one suite entry at the baseline and the head (None: absent there)."""

    entry: SuiteEntry
    metric: str
    unit: str
    baseline: float | None
    head: float | None
    better: str | None = None  # "lower" | "higher" | None (unknown)

    @property
    def change_pct(self) -> float | None:
        """Head relative to baseline in percent; None when a side lacks the metric."""
        if self.baseline is None or self.head is None:
            return None
        return change_pct(self.baseline, self.head)

    def verdict(self, threshold_pct: float) -> str:
        """The verdict (module docstring) from baseline to head."""
        return verdict(self.better, self.baseline, self.head, threshold_pct)

    def regressed(self, threshold_pct: float) -> bool:
        """Whether it got worse by more than `threshold_pct` percent in its direction."""
        return self.verdict(threshold_pct) == REGRESSED


def compare_suite(
    source: Any, entries: Sequence[SuiteEntry], baseline: str, head: str
) -> list[MetricComparison]:
    """Every metric of every entry at commit `baseline` against commit `head` (full hashes).

    Rows follow the suite order, then metric name; each takes its direction from the
    head's run (the baseline's when the head lacks the metric). Raises
    MissingRunsError listing each entry without an ok run at either commit.
    """
    from traces.views import open_connection  # DuckDB only once a store is read

    con = open_connection(source)
    commits = [baseline, head]
    runs = find_suite_runs(con, entries, commits)
    missing = []
    for commit in dict.fromkeys(commits):
        for index, entry in enumerate(entries):
            run = runs.get((commit, index))
            if run is None:
                missing.append((commit, entry, "missing"))
            elif run.status != "ok":
                missing.append((commit, entry, f"failed in run {run.run_id}: {run.error}"))
    if missing:
        raise MissingRunsError(missing)
    values = run_metric_values(con, sorted({run.run_id for run in runs.values()}))
    rows = []
    for index, entry in enumerate(entries):
        base = values[runs[(baseline, index)].run_id]
        new = values[runs[(head, index)].run_id]
        for name in sorted(set(base) | set(new)):
            _, unit, better = new.get(name) or base[name]
            better = stored_better(name, unit, better)
            rows.append(
                MetricComparison(
                    entry,
                    name,
                    unit,
                    base[name][0] if name in base else None,
                    new[name][0] if name in new else None,
                    better,
                )
            )
    return rows
