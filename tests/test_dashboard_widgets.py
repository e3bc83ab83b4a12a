"""The pure helpers of dashboard/widgets.py: store argument, labels and value formatting."""

import math

import pytest

from dashboard import widgets


@pytest.mark.parametrize(
    ("argv", "store"),
    [
        (["--store", "/data/s"], "/data/s"),
        (["--store=/data/s"], "/data/s"),
        (["-q", "tests/x.py"], None),
        (["--stor", "x"], None),  # no abbreviations
        (["--store", "a", "--", "--store", "b"], "b"),  # what follows "--" wins
    ],
)
def test_store_argument(argv, store) -> None:
    """--store is read from the script arguments; other arguments are ignored."""
    assert widgets.store_argument(argv) == store


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (275562.4583, "ns", "275,562.5 ns"),
        (0.0134352, "ratio", "1.34%"),
        (21.131797, "tflops", "21.132 TFLOP/s"),
        (102.4, "gbs", "102.40 GB/s"),
        (32.0, "count", "32"),
        (16908288.0, "flops", "16.91 M flops"),
        (math.nan, "ns", "n/a"),
        (None, "ns", "n/a"),
    ],
)
def test_format_value(value, unit, shown) -> None:
    """Values are shown with their unit as documented."""
    assert widgets.format_value(value, unit) == shown


def test_params_text_and_diff() -> None:
    """Parameters read as k=v; the diff lists each changed key as a → b."""
    a, b = '{"M":256,"block_k":128}', '{"M":256,"block_k":64,"seed":1}'
    assert widgets.params_text(a) == "M=256 block_k=128"
    assert widgets.params_text("{}") == "(no parameters)"
    assert widgets.params_diff(a, b) == ["block_k: 128 → 64", "seed: (unset) → 1"]


def test_key_metrics_prefers_the_known_ones() -> None:
    """KEY_METRICS come first in their order, then the rest by name."""
    metrics = {"zeta": 1.0, "latency_ns": 2.0, "alpha": 3.0, "tflops": 4.0}
    assert widgets.key_metrics(metrics, 3) == ["tflops", "latency_ns", "alpha"]


def test_short_commit_and_commit_label() -> None:
    """Commits show as 8 characters; unknown ones as a dash."""
    assert widgets.short_commit("0123456789abcdef") == "01234567"
    assert widgets.short_commit(None) == "-"
    assert widgets.commit_label("0123456789", "fix it", None) == "01234567 · fix it"


def test_key_metrics_prefer_fitted_summaries_over_per_size_rows() -> None:
    """A DMA sweep shows its fitted bandwidth and latency, not its smallest transfer."""
    metrics = {"dma.own_hbm.1024B.bw_gbs": 7.7, "dma.own_hbm.bw_gbs": 102.4,
               "dma.own_hbm.alpha_ns": 122.0, "dma.own_hbm.1024B.latency_ns": 132.0}  # fmt: skip
    assert widgets.key_metrics(metrics, 2) == ["dma.own_hbm.alpha_ns", "dma.own_hbm.bw_gbs"]
