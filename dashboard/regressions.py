"""The dashboard's verdicts on metric changes: traces.verdicts applied to data frames.

Which way is better comes from the metrics table (`better`, declared by the workload);
the verdict words and the default threshold are traces.verdicts', so the Compare page
and `kernbench check` judge the same pair of runs alike.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from traces import verdicts
from traces.verdicts import CHANGED, DEFAULT_THRESHOLD_PCT, GONE, IMPROVED, NEW, REGRESSED, SAME

# The page's names for the verdicts (same words as `kernbench check`).
REGRESSION = REGRESSED
IMPROVEMENT = IMPROVED
UNCHANGED = SAME
ONLY_A = GONE
ONLY_B = NEW

__all__ = [
    "CHANGED",
    "DEFAULT_THRESHOLD_PCT",
    "IMPROVEMENT",
    "ONLY_A",
    "ONLY_B",
    "REGRESSION",
    "UNCHANGED",
    "better_of",
    "with_verdicts",
]


def with_verdicts(
    deltas: pd.DataFrame, threshold_pct: float = DEFAULT_THRESHOLD_PCT
) -> pd.DataFrame:
    """`deltas` (traces.queries.compare_runs columns) with `better` ("lower", "higher" or
    "" when unknown) and `verdict` (traces.verdicts.verdict) columns."""
    table = pa.Table.from_pandas(deltas, preserve_index=False)
    out = verdicts.with_verdicts(table, threshold_pct).to_pandas()
    out["better"] = out["better"].fillna("")
    return out


def better_of(name: str, unit: str | None, stored: str | None) -> str:
    """The direction of metric `name` ("lower", "higher", or "" when unknown)."""
    return verdicts.stored_better(name, unit, stored) or ""
