"""Which way is better for a metric, and the verdict on a metric's change between runs.

Cases, by the metric's name and unit:

1. Times (name ends in `_ns`, or unit `ns`): lower is better.
2. Throughput and utilisation (unit or name ending in `tflops` or `gbs`, or a name
   containing `utilisation`/`utilization`): higher is better.
3. Anything else (counts, ratios without a direction): neither; a change is only
   "changed".
"""

from __future__ import annotations

import math

import pandas as pd

LOWER_IS_BETTER = -1
HIGHER_IS_BETTER = 1
NO_DIRECTION = 0

REGRESSION = "regression"
IMPROVEMENT = "improvement"
CHANGED = "changed"
UNCHANGED = ""
ONLY_A = "only in a"
ONLY_B = "only in b"

# Below this relative change two simulated values are the same number (float noise).
_SAME_REL = 1e-9


def better_direction(name: str, unit: str | None) -> int:
    """LOWER_IS_BETTER, HIGHER_IS_BETTER or NO_DIRECTION for metric `name` in `unit`."""
    unit = (unit or "").lower()
    lowered = name.lower()
    if lowered.endswith("_ns") or unit == "ns":
        return LOWER_IS_BETTER
    if any(lowered.endswith(s) or unit.endswith(s) for s in ("tflops", "gbs")):
        return HIGHER_IS_BETTER
    if "utilisation" in lowered or "utilization" in lowered:
        return HIGHER_IS_BETTER
    return NO_DIRECTION


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def verdict(
    name: str, unit: str | None, a: float | None, b: float | None, threshold_pct: float
) -> str:
    """The verdict on metric `name` going from `a` to `b`.

    A change counts when |b - a| exceeds `threshold_pct` percent of |a| (any change
    when a is 0). Returns REGRESSION / IMPROVEMENT for a counted change of a metric
    with a direction, CHANGED for one without, UNCHANGED otherwise, and ONLY_A /
    ONLY_B when one side lacks the metric.
    """
    if _missing(a) and _missing(b):
        return UNCHANGED
    if _missing(b):
        return ONLY_A
    if _missing(a):
        return ONLY_B
    delta = b - a
    scale = abs(a)
    if abs(delta) <= _SAME_REL * max(scale, abs(b)):
        return UNCHANGED
    if scale > 0 and 100.0 * abs(delta) / scale <= threshold_pct:
        return UNCHANGED
    direction = better_direction(name, unit)
    if direction == NO_DIRECTION:
        return CHANGED
    return IMPROVEMENT if delta * direction > 0 else REGRESSION


def with_verdicts(deltas: pd.DataFrame, threshold_pct: float) -> pd.DataFrame:
    """`deltas` (columns name, unit, a, b, ... as traces.queries.compare_runs gives) plus
    `better` ("lower", "higher" or "") and `verdict` columns."""
    out = deltas.copy()
    labels = {LOWER_IS_BETTER: "lower", HIGHER_IS_BETTER: "higher", NO_DIRECTION: ""}
    out["better"] = [
        labels[better_direction(n, u)] for n, u in zip(out["name"], out["unit"], strict=True)
    ]
    out["verdict"] = [
        verdict(n, u, _plain(a), _plain(b), threshold_pct)
        for n, u, a, b in zip(out["name"], out["unit"], out["a"], out["b"], strict=True)
    ]
    return out


def _plain(value: object) -> float | None:
    """A pandas cell as a float, or None when missing."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number
