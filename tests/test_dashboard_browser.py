"""The dashboard served by streamlit and driven in headless Chromium: every page loads,
draws its charts and shows no error. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_fixtures import APP, PROJECT_ROOT, FixtureStore, env_without_store, fixture_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
SERVER_START_S = 60.0
PAGE_LOAD_MS = 60_000
VIEWPORT = {"width": 1500, "height": 1000}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chromium_or_skip() -> None:
    """Skip without Chromium, unless on CI ($CI set), where its absence is a failure."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return fixture_store(tmp_path_factory)


@pytest.fixture(scope="module")
def server(store: FixtureStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless streamlit server on a free port; yields its base URL, stops it after."""
    _chromium_or_skip()
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--", "--store", str(store.root),
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env_without_store()
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start; its log:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator:
    """One Chromium for the module (Playwright's sync API allows one at a time). Requests
    that _context refuses (to any host but the server) are recorded in
    browser.outside_requests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        instance.outside_requests = []
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def browser_page(browser) -> Iterator:
    context = _context(browser)
    yield context.new_page()
    context.close()


def _load(page, url: str, name: str, n_charts: int) -> str:
    """Open `url`, wait for the script run to finish and `n_charts` plotly charts, check for
    errors, save a full-page screenshot; returns the page's text."""
    page.set_viewport_size(VIEWPORT)  # the previous page's screenshot made it taller
    page.goto(url, wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
    # Done when the script run has finished (no status widget) and the page shows its
    # title and charts -- or as soon as it shows an exception.
    page.wait_for_function(
        """n => document.querySelector("[data-testid='stException']") || (
            document.querySelector("[data-testid='stApp'] h1")
            && !document.querySelector("[data-testid='stStatusWidget']")
            && document.querySelectorAll('.js-plotly-plot .main-svg').length >= n)""",
        arg=n_charts,
        timeout=PAGE_LOAD_MS,
    )
    page.wait_for_timeout(500)  # let plotly finish its transitions before the screenshot
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _expand_main_for_screenshot(page)
    page.screenshot(path=str(ARTIFACTS / f"dashboard_{name}.png"), full_page=True)
    text = page.inner_text("body")
    assert page.locator("[data-testid='stException']").count() == 0, text
    assert "Traceback" not in text
    return text


def _expand_main_for_screenshot(page) -> None:
    """Let the page grow to its content height, so a full-page screenshot shows everything
    (streamlit scrolls inside its own container)."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('section, div')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(800)


def test_every_page_renders_in_chromium(server: str, browser_page, store: FixtureStore) -> None:
    """Runs, Run, Compare and Trends load in a real browser with charts and no error."""
    commit_a, commit_b = store.commits
    gemm_a, gemm_b = store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")]

    text = _load(browser_page, f"{server}/", "runs", n_charts=0)
    n_runs = len(store.runs) + 3  # plus the failed, the collective and the other-params run
    assert f"{n_runs} of {n_runs} runs" in text

    _load(browser_page, f"{server}/run?run={gemm_b}", "run", n_charts=1)  # the timeline tab
    text = _load(browser_page, f"{server}/run?run={gemm_b}&view=PEs", "run_pes", n_charts=2)
    assert "Engines overlap in time" in text

    view = "view=DMA%20and%20collectives"
    text = _load(browser_page, f"{server}/run?run={gemm_b}&{view}", "run_dma", n_charts=1)
    assert "No collectives in this run" in text
    url = f"{server}/run?run={store.collective_run}&{view}"
    _load(browser_page, url, "run_collectives", n_charts=3)

    text = _load(browser_page, f"{server}/compare?mode=runs&a={gemm_a}&b={gemm_b}", "compare", 3)
    assert "regressions" in text

    query = f"mode=commits&workload=gemm&commit_a={commit_a}&commit_b={commit_b}"
    _load(browser_page, f"{server}/compare?{query}", "compare_commits", n_charts=3)

    text = _load(browser_page, f"{server}/trends?workload=gemm&metric=kernel_ns", "trends", 1)
    assert "kernel_ns over commit history" in text


# ----- State in the URL, honest links, speed and no outside requests (issue: dashboard) ----


def _wait_done(page, n_charts: int = 0) -> None:
    """Wait until the script run finished, the page has its title and `n_charts` charts."""
    page.wait_for_function(
        """n => document.querySelector("[data-testid='stException']") || (
            document.querySelector("[data-testid='stApp'] h1")
            && !document.querySelector("[data-testid='stStatusWidget']")
            && document.querySelectorAll('.js-plotly-plot .main-svg').length >= n)""",
        arg=n_charts,
        timeout=PAGE_LOAD_MS,
    )


@pytest.fixture(scope="module")
def other_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A second, small store (one noop run) that is not the server's --store."""
    from simulator.runner import run_workload

    root = tmp_path_factory.mktemp("other_store")
    outcome = run_workload("noop", {"launches": 2}, store=root)
    assert outcome.status == "ok", outcome.error
    return root, outcome.run_id


def _context(browser):
    """A fresh browser context (no cookies, no storage) that refuses outside requests."""
    context = browser.new_context(viewport=VIEWPORT)

    def guard(route) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            browser.outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context


def test_run_opened_from_the_runs_table_stays_in_the_chosen_store(
    server: str, browser, store: FixtureStore, other_store: tuple[Path, str]
) -> None:
    """Choose another store in the sidebar, click the first row of the Runs table: the Run
    page shows that store's run, and its URL names the store and the run."""
    root, run_id = other_store
    context = _context(browser)
    page = context.new_page()
    page.goto(f"{server}/", wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
    _wait_done(page)
    box = page.locator("input[aria-label='Run store']")
    box.fill(str(root))
    box.press("Enter")
    page.wait_for_function(
        "() => document.body.innerText.includes('1 of 1 runs')", timeout=PAGE_LOAD_MS
    )
    _wait_done(page)
    grid = page.locator("[data-testid='stDataFrame']").first.bounding_box()
    # The row-selection column is the first one; the header row is ~35 px tall.
    page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)
    page.wait_for_url("**/run?**", timeout=PAGE_LOAD_MS)
    # A noop run has no engine ops: its Run page opens on a timeline tab without a chart.
    page.wait_for_function(
        """() => document.body.innerText.includes('No PE ran an op')
                 && document.body.innerText.includes('noop barrier=True launches=2')""",
        timeout=PAGE_LOAD_MS,
    )
    _wait_done(page)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["store"] == [str(root)]
    assert query["run"] == [run_id]
    text = page.inner_text("body")
    assert f"1 run in {root}" in text  # the sidebar still reads the chosen store
    assert "noop barrier=True launches=2" in text  # the header of that store's run
    assert "not in this store" not in text
    page.screenshot(path=str(ARTIFACTS / "dashboard_run_other_store.png"), full_page=True)
    context.close()


def test_a_copied_compare_url_shows_the_same_runs_elsewhere(
    server: str, browser, store: FixtureStore
) -> None:
    """Compare two runs, copy the URL the page ends on, open it in a fresh context: the
    same two runs are compared."""
    run_a = store.runs[(store.commits[0], "gemm_single_pe")]
    run_b = store.runs[(store.commits[1], "gemm_single_pe")]
    first = _context(browser)
    page = first.new_page()
    page.goto(f"{server}/compare?mode=runs&a={run_a}&b={run_b}", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    copied = page.url
    first.close()
    assert f"store={urllib.parse.quote(str(store.root), safe='')}" in copied.replace("%2F", "%2F")
    fresh = _context(browser)
    page = fresh.new_page()
    page.goto(copied, timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    text = page.inner_text("body")
    assert f"a = {run_a}" in text and f"b = {run_b}" in text
    fresh.close()


def test_a_short_commit_hash_in_the_url_resolves(server: str, browser, store: FixtureStore) -> None:
    """commit_a/commit_b given as 7-character hashes compare the runs at those commits."""
    commit_a, commit_b = store.commits
    context = _context(browser)
    page = context.new_page()
    query = f"mode=commits&workload=gemm_single_pe&commit_a={commit_a[:7]}&commit_b={commit_b[:7]}"
    page.goto(f"{server}/compare?{query}", timeout=PAGE_LOAD_MS)
    _wait_done(page, n_charts=1)
    text = page.inner_text("body")
    run_a = store.runs[(commit_a, "gemm_single_pe")]
    run_b = store.runs[(commit_b, "gemm_single_pe")]
    assert f"a = {run_a}" in text and f"b = {run_b}" in text
    assert "from the link" not in text  # no unresolved-value warning
    context.close()
