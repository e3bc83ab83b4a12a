"""The dashboard served by streamlit and driven in headless Chromium: every page loads,
draws its charts and shows no error. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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
def browser_page(server: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        yield page
        browser.close()


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

    text = _load(browser_page, f"{server}/run?run={gemm_b}", "run", n_charts=5)
    assert "No collectives in this run" in text

    _load(browser_page, f"{server}/run?run={store.collective_run}", "run_collectives", n_charts=6)

    text = _load(browser_page, f"{server}/compare?mode=runs&a={gemm_a}&b={gemm_b}", "compare", 3)
    assert "regressions" in text

    query = f"mode=commits&workload=gemm&commit_a={commit_a}&commit_b={commit_b}"
    _load(browser_page, f"{server}/compare?{query}", "compare_commits", n_charts=3)

    text = _load(browser_page, f"{server}/trends?workload=gemm&metric=kernel_ns", "trends", 1)
    assert "kernel_ns over commit history" in text
