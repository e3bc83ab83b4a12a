"""The pure helpers of dashboard/widgets.py: store argument, labels and value formatting."""

import html
import math
import re

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
        (275562.4583, "ns", "275.6 µs"),
        (1538307.67, "ns", "1.538 ms"),
        (116359693.7, "ns", "116.4 ms"),
        (2.5e9, "ns", "2.500 s"),
        (45.0, "ns", "45.00 ns"),
        (0.0134352, "ratio", "1.34%"),
        (21.131797, "tflops", "21.13 TFLOP/s"),
        (1206.686351, "tflops", "1,207 TFLOP/s"),
        (13107.2, "gbs", "13,107 GB/s"),
        (102.4, "gbs", "102.4 GB/s"),
        (32.0, "count", "32"),
        (51994.7917, "", "51.99 k"),
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
    assert widgets.key_metrics(metrics, 3) == ["latency_ns", "tflops", "alpha"]


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


def test_url_values_resolve_by_exact_value_or_unique_prefix() -> None:
    """Short hashes and run-id prefixes resolve when unique; otherwise the problem says why."""
    from dashboard import urlstate

    commits = ["64c71fd7963bbded", "553a028aa", "553a0f1bb"]
    assert urlstate.resolve_prefix(commits, "64c71fd").value == commits[0]
    assert urlstate.resolve_prefix(commits, "64C71FD").value == commits[0]
    assert urlstate.resolve_prefix(commits, "553a028aa").value == commits[1]
    ambiguous = urlstate.resolve_prefix(commits, "553a0")
    assert ambiguous.value is None and "matches 2" in ambiguous.problem
    missing = urlstate.resolve_prefix(commits, "ffff")
    assert missing.value is None and "none" in missing.problem
    assert urlstate.resolve_exact(["gemm", "noop"], "gem").value is None
    assert widgets.resolve_params(['{"K":1,"M":2}'], '{"M": 2, "K": 1}').value == '{"K":1,"M":2}'
    assert widgets.resolve_params(['{"K":1}'], "not json").value is None


def test_like_runs_share_workload_params_and_topology() -> None:
    """previous_like_run skips newer runs whose params or topology differ, and failures."""
    import pandas as pd

    runs = pd.DataFrame(
        {
            "run_id": ["5", "4", "3", "2", "1"],  # newest first, as data.runs gives them
            "workload": ["w", "w", "w", "w", "w"],
            "params": ['{"n":1}', '{"n":1}', '{"n":2}', '{"n":1}', '{"n":1}'],
            "topology_hash": ["t", "t", "t", "u", "t"],
            "status": ["ok", "failed", "ok", "ok", "ok"],
        }
    )
    assert widgets.previous_like_run(runs, runs.iloc[0]) == "1"
    assert widgets.previous_like_run(runs, runs.iloc[4]) is None


@pytest.mark.parametrize(
    ("value", "unit", "text", "screen"),
    [
        (1_520_000.0, "ns", "1.52 ms", "1.520 ms"),
        (45.0, "ns", "45 ns", "45.00 ns"),
        (2500.0, "ns", "2.5 us", "2.500 µs"),
        (13107.2, "gbs", "13.11 TB/s", "13,107 GB/s"),
        (0.0134352, "ratio", "1.344 %", "1.34%"),
        (21.131797, "tflops", "21.13 tflops", "21.13 TFLOP/s"),
        (1_048_576.0, "bytes", "1 MiB", "1.000 MiB"),
        (51994.7917, "", "51,995", "51.99 k"),
        (16908288.0, "flops", "16,908,288 flops", "16.91 M flops"),
        (None, "ns", "-", "n/a"),
        (math.nan, "", "nan", "n/a"),
    ],
)
def test_one_units_module_in_two_notations(value, unit, text, screen) -> None:
    """traces.units writes terminal text (TEXT) and the dashboard's cards (SCREEN) by the
    same rules; the dashboard's format_value is its SCREEN notation."""
    from traces import units

    assert units.format_value(value, unit) == text
    assert units.format_value(value, unit, units.SCREEN) == screen
    assert widgets.format_value(value, unit) == screen
    if unit == "ns" and value is not None:
        assert widgets.format_ns(value) == screen


# Text that Markdown (and Streamlit's extensions of it) would read as markup.
MARKDOWN_LOOKALIKES = [
    "__init__",
    "fix __init__ for *args*",
    "my_kernel[b].py",
    "[x](http://y)",
    "![i](x.png)",
    "`tick`",
    "``two`` and `",
    "$x$ and $$y$$",
    ":red[r] :smile: :material/home:",
    "# h",
    "1. a",
    "- a",
    "> q",
    "a\\b",
    "a\\",
    "<b>bold</b> <http://x.y> &amp; &#42;",
    "~~gone~~ | a | b |",
    "***",
    "a\n===",
    "line one\n    line two\n\n    after a blank line",
    "\tstarts with a tab",
    "".join(chr(c) for c in range(33, 127)),  # every printable ASCII character
]


def _markdown_it():
    """CommonMark with GFM's tables and strikethrough, plus $...$ math when
    mdit-py-plugins is installed: a Markdown reader independent of the dashboard."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    try:
        from mdit_py_plugins.dollarmath import dollarmath_plugin
    except ImportError:
        return md
    return md.use(dollarmath_plugin)


def _reads(markdown: str) -> tuple[str, str]:
    """(HTML, the text a reader sees) of `markdown`: tags dropped, entities decoded,
    paragraphs one line apart."""
    rendered = _markdown_it().render(markdown)
    text = html.unescape(re.sub(r"<[^>]*>", "", rendered))
    return rendered, re.sub(r"\n+", "\n", text).strip("\n")


@pytest.mark.parametrize("text", MARKDOWN_LOOKALIKES)
def test_md_text_reads_as_the_text_itself(text) -> None:
    """md_text(text) renders as `text`: nothing turns into markup (no element but
    paragraphs and line breaks), no character is lost, every line break is kept."""
    rendered, seen = _reads(widgets.md_text(text))
    assert seen == text.replace("\n\n", "\n")
    assert set(re.findall(r"<(\w+)", rendered)) <= {"p", "br"}, rendered
    # In a sentence too, between markup of our own.
    rendered, seen = _reads(f"**name** {widgets.md_text(text)} · *end*")
    assert seen == f"name {text} · end".replace("\n\n", "\n")


@pytest.mark.parametrize("text", [*MARKDOWN_LOOKALIKES, " lead", "trail ", " both ", "   ", "``"])
def test_md_code_is_one_code_span_of_the_text(text) -> None:
    """md_code(text) is one inline code span showing `text`, line breaks as spaces,
    whatever backticks and spaces it holds."""
    rendered, _ = _reads(f"see {widgets.md_code(text)} here")
    assert rendered.count("<code>") == 1, rendered
    shown = html.unescape(re.search(r"<code>(.*)</code>", rendered, re.S)[1])
    assert shown == text.replace("\n", " ")


@pytest.mark.parametrize("text", ["kernbench run gemm --store /x/`y`", "a\n```\n[x](y)\n````"])
def test_md_code_block_shows_every_line(text) -> None:
    """md_code_block(text) is one code block holding `text` line for line."""
    rendered, seen = _reads(f"Run this:\n\n{widgets.md_code_block(text)}\n\nthen reload.")
    assert rendered.count("<pre><code>") == 1, rendered
    assert seen == f"Run this:\n{text}\nthen reload."
