"""Change points of a metric's history, found with asv's own step detection.

``asv.step_detect.detect_steps`` fits a piecewise-constant function to a series (an L1
Potts model with an automatically chosen penalty); each new segment starts at a change
point. Simulated metrics are deterministic, so any step it finds is a real change.
`suite_change_points` applies it to every metric of a suite's runs over commits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from traces.suites import SuiteEntry, find_suite_runs, run_metric_values
from traces.verdicts import change_pct


@dataclass(frozen=True)
class ChangePoint:
    """A level change: ``index`` is the first point of the new level."""

    index: int
    before: float
    after: float

    @property
    def change_pct(self) -> float:
        """100 * (after - before) / |before| (traces.verdicts.change_pct)."""
        return change_pct(self.before, self.after)


def change_points(values: Sequence[float | None]) -> list[ChangePoint]:
    """Change points of ``values`` in order (None / NaN are missing points)."""
    series = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values
    ]
    if sum(v is not None for v in series) < 2:
        return []
    from asv.step_detect import detect_steps  # asv is slow to import: only when used

    steps = detect_steps(series)
    return [
        ChangePoint(index=right[0], before=left[2], after=right[2])
        for left, right in zip(steps, steps[1:], strict=False)
    ]


@dataclass(frozen=True)
class MetricChange:
    """A change point of one metric of one suite entry: `commit` is the first at the new level."""

    entry: SuiteEntry
    metric: str
    unit: str
    commit: str
    before: float
    after: float

    @property
    def change_pct(self) -> float:
        """100 * (after - before) / |before| (traces.verdicts.change_pct)."""
        return change_pct(self.before, self.after)


def suite_change_points(
    source: Any, entries: Sequence[SuiteEntry], commits: Sequence[str]
) -> list[MetricChange]:
    """Change points (traces.changepoints) of every metric of every entry over `commits`.

    Each metric's series takes the value of the chosen ok run at each commit, in the
    order of `commits` (missing where a commit has none). Sorted by entry, metric, commit.
    """
    from traces.views import open_connection  # DuckDB only once a store is read

    con = open_connection(source)
    runs = find_suite_runs(con, entries, commits)
    chosen = {key: run.run_id for key, run in runs.items() if run.status == "ok"}
    values = run_metric_values(con, sorted(set(chosen.values())))
    changes = []
    for index, entry in enumerate(entries):
        per_commit = [values.get(chosen.get((commit, index), ""), {}) for commit in commits]
        names = sorted({name for metrics in per_commit for name in metrics})
        for name in names:
            series = [m[name][0] if name in m else None for m in per_commit]
            unit = next(m[name][1] for m in per_commit if name in m)
            for point in change_points(series):
                changes.append(
                    MetricChange(entry, name, unit, commits[point.index], point.before, point.after)
                )
    return changes
