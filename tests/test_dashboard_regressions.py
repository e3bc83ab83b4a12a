"""The dashboard's verdict columns (dashboard/regressions.py over traces.verdicts)."""

import math

import pandas as pd
import pytest

from dashboard import regressions as r


def _deltas(better, a, b, name="m"):
    return pd.DataFrame({"name": [name], "unit": ["u"], "better": [better], "a": [a], "b": [b]})


@pytest.mark.parametrize(
    ("better", "a", "b", "threshold", "expected"),
    [
        ("lower", 100.0, 120.0, 0.0, r.REGRESSION),
        ("lower", 100.0, 80.0, 0.0, r.IMPROVEMENT),
        ("higher", 2.0, 1.5, 0.0, r.REGRESSION),
        ("higher", 2.0, 2.5, 0.0, r.IMPROVEMENT),
        ("lower", 100.0, 104.0, 5.0, r.CHANGED),  # 4 % is within 5 %
        ("lower", 100.0, 105.0, 5.0, r.CHANGED),  # exactly the threshold: not past it
        ("lower", 100.0, 105.0000001, 5.0, r.REGRESSION),  # just past it
        ("higher", 100.0, 95.0, 5.0, r.CHANGED),
        ("higher", 100.0, 94.9999999, 5.0, r.REGRESSION),
        ("lower", 100.0, 100.0, 0.0, r.UNCHANGED),
        ("lower", 0.0, 15.0, 5.0, r.REGRESSION),  # from 0: any change counts
        ("lower", 100.0, None, 0.0, r.ONLY_A),
        ("lower", math.nan, 5.0, 0.0, r.ONLY_B),
    ],
)
def test_verdict_cases(better, a, b, threshold, expected) -> None:
    """Each documented case of the verdict, through the page's frame helper."""
    out = r.with_verdicts(_deltas(better, a, b), threshold)
    assert list(out["verdict"]) == [expected]


def test_with_verdicts_keeps_rows_and_fills_legacy_directions() -> None:
    """with_verdicts adds `verdict`; rows stored without a direction (schema 1) get the
    legacy one from their name, and an unknown one is ""."""
    deltas = pd.DataFrame(
        {"name": ["kernel_ns", "tflops", "count_x"], "unit": ["ns", "tflops", "count"],
         "better": [None, None, None], "a": [100.0, 2.0, 32.0], "b": [120.0, 2.5, 16.0]}
    )  # fmt: skip
    out = r.with_verdicts(deltas, threshold_pct=0.0)
    assert list(out["better"]) == ["lower", "higher", ""]
    assert list(out["verdict"]) == [r.REGRESSION, r.IMPROVEMENT, r.CHANGED]
    assert "verdict" not in deltas.columns


def test_stored_direction_wins_over_the_name() -> None:
    """A stored `better` decides even where the name suggests the other way."""
    out = r.with_verdicts(_deltas("higher", 100.0, 120.0, name="odd_ns"), 1.0)
    assert list(out["verdict"]) == [r.IMPROVEMENT]
