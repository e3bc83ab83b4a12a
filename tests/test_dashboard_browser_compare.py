"""Compare, Trends, Overview and Sweep in headless Chromium: a Trends change point's link
leads to the Compare waterfall, Compare's waterfall of the kernels and of the whole runs
(`?kernels=0`), the Overview table and the Sweep charts. Screenshots land in
tests/artifacts/ (dashboard_*.png)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
import test_dashboard_browser as shared
from dashboard_fixtures import FixtureStore
from test_dashboard_browser import (
    ARTIFACTS,
    PAGE_LOAD_MS,
    _context,
    _expand_main_for_screenshot,
    _wait_done,
)

from traces.critical_path import critical_path, kernel_window, path_diff
from traces.views import open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# The served app, the browser and the helpers are the Run page browser tests' (module-scoped
# fixtures, shared by name: one streamlit server and one Chromium for this module).
server, browser, store = shared.server, shared.browser, shared.store

# The plotly charts on the page as (title, first trace's type, y values, top in px).
_CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => [
    JSON.stringify((p.layout.title && p.layout.title.text) || p.layout.title || ''),
    p.data.length ? p.data[0].type : '',
    p.data.length ? Array.from(p.data[0].y || []) : [],
    p.getBoundingClientRect().top])"""


def _charts(page) -> list[tuple[str, str, list, float]]:
    return [tuple(c) for c in page.evaluate(_CHARTS_JS)]


def _waterfall(page) -> tuple[str, str, list, float]:
    found = [c for c in _charts(page) if c[1] == "waterfall"]
    assert len(found) == 1, _charts(page)
    return found[0]


def _screenshot(page, name: str) -> None:
    page.wait_for_timeout(500)  # plotly transitions
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _expand_main_for_screenshot(page)
    page.screenshot(path=str(ARTIFACTS / f"dashboard_{name}.png"), full_page=True)


def _expected_diff(root: Path, run_a: str, run_b: str, kernels_only: bool) -> dict:
    con = open_store(root).connect()
    paths = [critical_path(con, r) for r in (run_a, run_b)]
    if kernels_only:
        paths = [
            p.within(*kernel_window(con, r)) for p, r in zip(paths, (run_a, run_b), strict=True)
        ]
    return path_diff(*paths)


def test_a_trends_change_point_leads_to_the_compare_waterfall(
    server: str, browser, store: FixtureStore
) -> None:
    """On Trends of gemm's kernel_ns, follow the change point's "critical path diff" link:
    Compare shows the run before and the run after the change, with the waterfall from
    latency a to latency b above the metrics."""
    commit_a, commit_b = store.commits
    run_a, run_b = store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")]
    context = _context(browser)
    page = context.new_page()
    page.goto(f"{server}/trends?workload=gemm&metric=kernel_ns", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    link = page.get_by_role("link", name="critical path diff")
    assert link.count() == 1
    href = link.get_attribute("href")
    # Streamlit opens markdown links in a new tab; follow it there.
    with context.expect_page(timeout=PAGE_LOAD_MS) as opened:
        link.click()
    page = opened.value
    page.wait_for_url("**/compare?**", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some("
        "p => p.data.length && p.data[0].type === 'waterfall')",
        timeout=PAGE_LOAD_MS,
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["a"] == [run_a] and query["b"] == [run_b] and query["focus"] == ["path"]
    linked = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
    assert linked["a"] == [run_a] and linked["b"] == [run_b]
    text = page.inner_text("body")
    assert f"a = {run_a}" in text and f"b = {run_b}" in text
    title, _, ys, top = _waterfall(page)
    expected = _expected_diff(store.root, run_a, run_b, kernels_only=True)
    assert ys[0] == pytest.approx(expected["latency_a"])
    assert ys[-1] == pytest.approx(expected["latency_b"])
    assert "critical path" in title
    others = [c[3] for c in _charts(page) if c[1] != "waterfall"]
    assert others and top < min(others)  # the view the link selects: the waterfall first
    _screenshot(page, "trends_to_compare_waterfall")
    assert browser.outside_requests == []
    context.close()


def test_compare_waterfall_of_the_whole_runs(server: str, browser, store: FixtureStore) -> None:
    """`?kernels=0`: the checkbox is unticked and the waterfall walks between the whole
    runs' critical-path latencies (host copies included), not the kernels'."""
    commit_a, commit_b = store.commits
    run_a, run_b = store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")]
    context = _context(browser)
    page = context.new_page()
    for kernels_only, extra in ((True, ""), (False, "&kernels=0")):
        url = f"{server}/compare?mode=runs&a={run_a}&b={run_b}{extra}"
        page.goto(url, timeout=PAGE_LOAD_MS)
        _wait_done(page, n_charts=3)
        box = page.get_by_role("checkbox", name="Kernels only")
        assert box.is_checked() is kernels_only
        _, _, ys, _ = _waterfall(page)
        expected = _expected_diff(store.root, run_a, run_b, kernels_only)
        assert ys[0] == pytest.approx(expected["latency_a"])
        assert ys[-1] == pytest.approx(expected["latency_b"])
        _screenshot(page, "compare_waterfall" if kernels_only else "compare_waterfall_whole")
    whole = _expected_diff(store.root, run_a, run_b, False)
    kernels = _expected_diff(store.root, run_a, run_b, True)
    assert whole["latency_a"] > kernels["latency_a"]  # the two views differ
    context.close()


@pytest.fixture(scope="module")
def history_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four commits of a synthetic workload whose tiles take twice as long from the third."""
    import datetime

    from traces.store import Store
    from traces.synthetic import write_synthetic_run

    store = Store(tmp_path_factory.mktemp("browser_history") / "store")
    for i in range(4):
        when = datetime.datetime(2026, 1, 1 + i, tzinfo=datetime.UTC)
        git = {"git_commit": f"{10 + i:x}" * 40, "commit_time": when, "commit_message": f"c{i}"}
        write_synthetic_run(store, git=git, tile_ns_scale=1.0 if i < 2 else 2.0, seed=1)
    return store.root


def test_overview_page_in_chromium(server: str, browser, history_store: Path) -> None:
    """Overview of a store (named in the URL) whose metrics step at the third commit:
    change points counted in the cards and listed in the table."""
    context = _context(browser)
    page = context.new_page()
    quoted = urllib.parse.quote(str(history_store), safe="")
    page.goto(f"{server}/overview?store={quoted}", timeout=PAGE_LOAD_MS)
    _wait_done(page)
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=PAGE_LOAD_MS)
    text = page.inner_text("body")
    assert "Change points over the newest 4 commit(s)" in text
    assert "No metric changed level" not in text
    cards = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    assert cards[0] == "4" and int(cards[2]) + int(cards[3]) > 0  # commits; regressed+improved
    assert page.locator("[data-testid='stException']").count() == 0
    _screenshot(page, "overview")
    context.close()


def test_overlay_of_several_runs_in_chromium(server: str, browser, store: FixtureStore) -> None:
    """Compare's several-runs mode from a URL: gemm at both commits and noop, two
    metrics, log axis: a bar per gemm run and metric; noop records neither, which the
    page says."""
    commit_a, commit_b = store.commits
    chosen = [store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")],
              store.runs[(commit_b, "noop")]]  # fmt: skip
    context = _context(browser)
    page = context.new_page()
    query = f"mode=several&runs={','.join(chosen)}&metrics=kernel_ns,latency_ns&scale=log"
    page.goto(f"{server}/compare?{query}", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    bars = page.evaluate(
        """() => document.querySelector('.js-plotly-plot').data.map(t => [t.name, t.x.length])"""
    )
    assert [n for _, n in bars] == [2, 2, 0]
    assert f"{chosen[2]}` has no `kernel_ns`".replace("`", "") in page.inner_text("body")
    assert page.evaluate("() => document.querySelector('.js-plotly-plot').layout.yaxis.type") == (
        "log"
    )
    _screenshot(page, "compare_overlay")
    context.close()


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2x2 sweep of a small gemm_single_pe (M x HBM bandwidth)."""
    from simulator.runner import run_workload

    root = tmp_path_factory.mktemp("browser_sweep") / "store"
    for m in (128, 256):
        for bw in (51.2, 102.4):
            values = {"M": m, "N": 128, "K": 128, "cube.hbm.bw_gbs": bw}
            outcome = run_workload("gemm_single_pe", values, store=root, sweep_id="sweep-b")
            assert outcome.status == "ok", outcome.error
    return root


def test_sweep_page_in_chromium(server: str, browser, sweep_store: Path) -> None:
    """The Sweep page of another store (named in the URL) draws the metric per parameter,
    the heat map and the Pareto front, each with the sweep's four points."""
    context = _context(browser)
    page = context.new_page()
    quoted = urllib.parse.quote(str(sweep_store), safe="")
    page.goto(f"{server}/sweep?store={quoted}&metric=kernel_ns", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=3)
    text = page.inner_text("body")
    assert "4 runs, 0 failed; swept: M, cube.hbm.bw_gbs" in text
    charts = page.evaluate(
        """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data.map(
            t => t.type === 'heatmap' ? (t.z || []).flat().filter(v => v !== null).length
                                      : (t.y || []).length))"""
    )
    assert len(charts) == 3
    assert sum(charts[0]) == 4  # a line per bandwidth, a point per M
    assert charts[1] == [4]  # heat map cells
    _screenshot(page, "sweep")
    context.close()
