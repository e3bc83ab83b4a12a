"""Which way is better for a metric, and the verdict on a change (dashboard/regressions.py)."""

import math

import pandas as pd
import pytest

from dashboard import regressions as r


@pytest.mark.parametrize(
    ("name", "unit", "direction"),
    [
        ("kernel_ns", "ns", r.LOWER_IS_BETTER),
        ("dma.own_hbm.alpha_ns", "ns", r.LOWER_IS_BETTER),
        ("tflops", "tflops", r.HIGHER_IS_BETTER),
        ("dma.own_hbm.bw_gbs", "gbs", r.HIGHER_IS_BETTER),
        ("busbw", "busbw_gbs", r.HIGHER_IS_BETTER),
        ("utilisation", "ratio", r.HIGHER_IS_BETTER),
        ("n_pes", "count", r.NO_DIRECTION),
        ("speedup", None, r.NO_DIRECTION),
    ],
)
def test_better_direction_by_name_and_unit(name, unit, direction) -> None:
    """Times are lower-is-better; tflops, GB/s and utilisation higher-is-better; others neither."""
    assert r.better_direction(name, unit) == direction


@pytest.mark.parametrize(
    ("name", "unit", "a", "b", "threshold", "expected"),
    [
        ("kernel_ns", "ns", 100.0, 120.0, 0.0, r.REGRESSION),
        ("kernel_ns", "ns", 100.0, 80.0, 0.0, r.IMPROVEMENT),
        ("tflops", "tflops", 2.0, 1.5, 0.0, r.REGRESSION),
        ("tflops", "tflops", 2.0, 2.5, 0.0, r.IMPROVEMENT),
        ("kernel_ns", "ns", 100.0, 104.0, 5.0, r.UNCHANGED),  # 4% is within 5%
        ("kernel_ns", "ns", 100.0, 106.0, 5.0, r.REGRESSION),
        ("kernel_ns", "ns", 100.0, 100.0 * (1 + 1e-12), 0.0, r.UNCHANGED),  # float noise
        ("spread_ns", "ns", 0.0, 15.0, 5.0, r.REGRESSION),  # from 0: any change counts
        ("n_pes", "count", 32.0, 16.0, 0.0, r.CHANGED),
        ("kernel_ns", "ns", 100.0, None, 0.0, r.ONLY_A),
        ("kernel_ns", "ns", math.nan, 5.0, 0.0, r.ONLY_B),
    ],
)
def test_verdict_cases(name, unit, a, b, threshold, expected) -> None:
    """Each documented case of verdict()."""
    assert r.verdict(name, unit, a, b, threshold) == expected


def test_with_verdicts_adds_direction_and_verdict_columns() -> None:
    """with_verdicts keeps the rows and adds `better` and `verdict` per metric."""
    deltas = pd.DataFrame(
        {"name": ["kernel_ns", "tflops", "n_pes"], "unit": ["ns", "tflops", "count"],
         "a": [100.0, 2.0, 32.0], "b": [120.0, 2.5, 32.0]}
    )  # fmt: skip
    out = r.with_verdicts(deltas, threshold_pct=0.0)
    assert list(out["better"]) == ["lower", "higher", ""]
    assert list(out["verdict"]) == [r.REGRESSION, r.IMPROVEMENT, r.UNCHANGED]
    assert "verdict" not in deltas.columns
