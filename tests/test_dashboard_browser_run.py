"""The Run page in headless Chromium: a large run's page (its load time recorded, the
timeline over the whole span with the critical path, a narrow window showing the ops
themselves) and the Perfetto download. Screenshots and timings land in tests/artifacts/."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import duckdb
import pytest
from dashboard_fixtures import FixtureStore
from test_dashboard_browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    PAGE_LOAD_MS,
    _context,
    _expand_main_for_screenshot,
    _wait_done,
    browser,
    server,
    store,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The engine timeline draws the ops themselves up to this many, and a run with more as an
# image over its whole time axis (dashboard/app_pages/run.py).
MAX_TIMELINE_OPS = 20_000

_TIMELINE = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const timeline = plots.find(p => JSON.stringify(p.layout.title || '')
        .includes('Engine timeline'));
    if (!timeline) return null;
    const path = timeline.data.filter(t => t.legendgroup === 'critical path');
    // What is really drawn: per trace name, its line segments of non-zero width in the SVG.
    const drawn = {};
    for (const group of timeline.querySelectorAll('.scatterlayer .trace')) {
        const cd = group.__data__;
        if (!(cd && cd[0] && cd[0].trace)) continue;
        drawn[cd[0].trace.name] = [...group.querySelectorAll('path.js-line')]
            .filter(line => line.getBBox().width > 0).length;
    }
    return {title: timeline.layout.title.text, range: timeline.layout.xaxis.range,
            n_traces: timeline.data.length, n_path_traces: path.length, n_plots: plots.length,
            drawn: drawn};
}"""


# The timeline image: its pixels decoded (complete, with a natural width), and no plotly.
_IMAGE = """() => {
    const images = [...document.querySelectorAll("[data-testid='stImage'] img")];
    return {n_images: images.length,
            loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
            natural_width: images.length ? images[0].naturalWidth : 0,
            shown_width: images.length ? images[0].getBoundingClientRect().width : 0,
            n_plots: document.querySelectorAll('.js-plotly-plot').length};
}"""


def _wait_image(page) -> None:
    """Wait until the script run finished and the page shows one decoded image."""
    _wait_done(page, n_charts=0)
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stImage'] img")]
            .some(i => i.complete && i.naturalWidth > 0)""",
        timeout=PAGE_LOAD_MS,
    )


def _renderer_cpu_s(cdp) -> float:
    """CPU seconds the page's renderer main thread used so far (Chrome's ThreadTime)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "ThreadTime")


def test_run_page_of_a_large_run(
    server: str,  # noqa: F811
    browser,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """gpt3_qkv on sip4x4 (128 PEs, ~150 k ops): the Run page opens on its timeline as one
    image (no plotly chart), over the kernels and every op; `interactive=1` shows the plotly
    chart instead, whose time axis spans the same, with the critical path drawn over it; a
    window of at most MAX_TIMELINE_OPS ops in the URL (t0, t1) shows those ops themselves,
    counted as DuckDB counts them. No request leaves the machine. Load times (to the image
    decoded) and the renderer's CPU time go to tests/artifacts/run_page_timing.txt: cold
    (new server cache and browser), warm (cached on the server, new browser context) and
    warm in the same browser context (its HTTP and code caches kept): reported, not
    asserted."""
    from simulator.runner import run_workload

    root = tmp_path_factory.mktemp("large_store")
    outcome = run_workload("gpt3_qkv", {}, topology="sip4x4", store=root)
    assert outcome.status == "ok", outcome.error
    con = duckdb.connect()
    ops_files = str(root / "ops" / "*" / "*.parquet")
    launch_files = str(root / "launches" / "*" / "*.parquet")
    ((first_op, last_op, n_ops),) = con.execute(
        "SELECT min(start_ns), max(end_ns), count(*) FROM read_parquet(?)", [ops_files]
    ).fetchall()
    ((first_issue, last_end),) = con.execute(
        "SELECT min(host_issue_ns), max(end_ns) FROM read_parquet(?)", [launch_files]
    ).fetchall()
    url = f"{server}/run?run={outcome.run_id}&store={urllib.parse.quote(str(root))}"
    timings: dict[str, tuple[float, float]] = {}
    shared = _context(browser)
    for name in ("cold", "warm", "warm again", "warm, same browser", "warm, same browser again"):
        context = shared if "same browser" in name else _context(browser)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        began = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
        _wait_image(page)
        timings[name] = (time.perf_counter() - began, _renderer_cpu_s(cdp))
        text = page.inner_text("body")
        assert "Traceback" not in text
        if name == "cold":
            image = page.evaluate(_IMAGE)
            page.wait_for_timeout(500)
            _expand_main_for_screenshot(page)
            page.screenshot(path=str(ARTIFACTS / "dashboard_run_large.png"), full_page=True)
        page.close()
        if context is not shared:
            context.close()
    assert f"{n_ops:,} ops of PEs 0–127 over the whole span of the kernels" in text
    assert image["n_plots"] == 0 and image["n_images"] == image["loaded"] == 1, image
    assert image["shown_width"] > 0.5 * image["natural_width"], image  # page-wide

    # The interactive chart on request: the same axis, the critical path over it.
    page = shared.new_page()
    page.goto(f"{url}&interactive=1", wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    timeline = page.evaluate(_TIMELINE)
    page.close()
    assert timeline["n_plots"] == 1  # the other tabs' charts are not drawn
    assert "utilisation per time bucket" in timeline["title"]
    assert timeline["range"] == pytest.approx([min(first_issue, first_op), max(last_end, last_op)])
    assert timeline["n_path_traces"] >= 2  # the route and at least one component

    # A window holding fewer than MAX_TIMELINE_OPS ops: the ops themselves.
    t0 = first_op + (last_op - first_op) * 0.5
    t1 = t0 + (last_op - first_op) * 0.02
    ((in_window,),) = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE end_ns > ? AND start_ns < ?",
        [ops_files, t0, t1],
    ).fetchall()
    assert 0 < in_window <= MAX_TIMELINE_OPS  # the premise of this check
    page = shared.new_page()
    page.goto(f"{url}&t0={t0}&t1={t1}", wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    assert f"All {in_window:,} ops of PEs 0–127" in page.inner_text("body")
    zoomed = page.evaluate(_TIMELINE)
    assert "every op" in zoomed["title"]
    assert zoomed["range"] == pytest.approx([t0, t1])
    # Every op of the window is drawn: one segment per op that lasts (WebGL drew none).
    lasting = dict(con.execute(
        "SELECT engine, count(*) FROM read_parquet(?) WHERE end_ns > ? AND start_ns < ? "
        "AND end_ns > start_ns GROUP BY engine", [ops_files, t0, t1],
    ).fetchall())  # fmt: skip
    assert {e: zoomed["drawn"].get(e) for e in lasting} == lasting
    assert zoomed["n_path_traces"] >= 1
    page.wait_for_timeout(500)
    _expand_main_for_screenshot(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard_run_large_zoomed.png"), full_page=True)
    shared.close()
    assert browser.outside_requests == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = "\n".join(
        f"  {name}: {wall:.2f} s to the timeline image, renderer main thread {cpu:.2f} s CPU"
        for name, (wall, cpu) in timings.items()
    )
    (ARTIFACTS / "run_page_timing.txt").write_text(
        f"Run page of gpt3_qkv on sip4x4 ({n_ops:,} ops), load to the timeline drawn:\n{report}\n"
    )
    print(report)


def test_perfetto_export_downloads_the_runs_trace(
    server: str,  # noqa: F811
    browser,  # noqa: F811
    store: FixtureStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    """ "Export for Perfetto" on the Run page downloads `<run>.perfetto.json`: valid JSON,
    the same trace events `kernbench export --perfetto` writes for that run."""
    from traces.perfetto import export_perfetto

    run_id = store.runs[(store.commits[1], "gemm")]
    context = _context(browser)
    page = context.new_page()
    page.goto(f"{server}/run?run={run_id}", wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    with page.expect_download(timeout=PAGE_LOAD_MS) as download:
        page.get_by_role("button", name="Export for Perfetto").click()
    assert download.value.suggested_filename == f"{run_id}.perfetto.json"
    saved = tmp_path / "downloaded.json"
    download.value.save_as(saved)
    context.close()
    downloaded = json.loads(saved.read_text())
    expected_path = tmp_path / "expected.json"
    export_perfetto(store.root, run_id, expected_path)
    expected = json.loads(expected_path.read_text())
    assert downloaded["otherData"]["run_id"] == run_id
    assert downloaded["traceEvents"] == expected["traceEvents"]
    assert any(e.get("ph") == "X" for e in downloaded["traceEvents"])
