"""Text from the store as Streamlit's own renderer draws it, in headless Chromium: names,
commit messages and an error that look like Markdown (and like Streamlit's LaTeX, colour
directives and emoji) read as they are on the Run and Compare pages."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from dashboard_fixtures import LOOKALIKE_ERROR, lookalike_store
from test_dashboard_browser import (  # noqa: F401 (fixtures)
    PAGE_LOAD_MS,
    _context,
    _wait_done,
    browser,
    server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The server's store (the `server` fixture serves `store.root`): lookalike_store."""
    root = tmp_path_factory.mktemp("lookalike") / "store"
    ok, failed = lookalike_store(root)
    return SimpleNamespace(root=root, ok=ok, failed=failed)


def _shown(page, selector: str, containing: str) -> tuple[str, set[str]]:
    """(text, element tags) of the first `selector` element whose text has `containing`,
    once the page shows it."""
    found = """([selector, containing]) => [...document.querySelectorAll(selector)]
        .find(e => e.innerText.includes(containing))"""
    page.wait_for_function(found, arg=[selector, containing], timeout=PAGE_LOAD_MS)
    element = page.evaluate_handle(found, [selector, containing])
    return element.inner_text(), set(re.findall(r"<(\w+)", element.inner_html()))


def test_names_messages_and_errors_read_as_they_are(server: str, browser, store) -> None:  # noqa: F811
    """The Run page's header shows the failed run's workload, params, commit message and
    branch character for character, in no markup but the page's own bold; its error is
    a code block of the error verbatim. Compare's line of each run reads as is too."""
    context = _context(browser)
    page = context.new_page()
    page.goto(f"{server}/run?run={store.failed}", timeout=PAGE_LOAD_MS)
    _wait_done(page)
    header, tags = _shown(page, "[data-testid='stCaptionContainer']", "topology")
    assert header.startswith(
        "my__kernel__[b] shape=[2]*3 · topology synthetic · commit c0ffee00 "
        "(fix __init__ for *args* ($x$, :red[r] :smile:)) on feat/*wip* · started "
    )
    assert tags == {"p", "strong"}
    error, _ = _shown(page, "[data-testid='stCode']", "Traceback")
    assert error.strip("\n") == LOOKALIKE_ERROR

    page.goto(f"{server}/compare?mode=runs&a={store.ok}&b={store.failed}", timeout=PAGE_LOAD_MS)
    _wait_done(page)
    line_a, tags = _shown(page, "[data-testid='stMarkdownContainer']", "a = ")
    assert line_a.endswith(" · k*2* n_pes=4 tiles=4 · synthetic · commit c0ffee00 [x](http://y)")
    assert tags == {"p", "strong", "a", "code"}  # the run id is a link, and no more
    line_b, _ = _shown(page, "[data-testid='stMarkdownContainer']", "b = ")
    assert line_b.endswith(
        " · my__kernel__[b] shape=[2]*3 · synthetic · commit c0ffee00 "
        "fix __init__ for *args* ($x$, :red[r] :smile:) · FAILED"
    )
    error, _ = _shown(page, "[data-testid='stCode']", "Traceback")
    assert error.strip("\n") == LOOKALIKE_ERROR
    assert not browser.outside_requests
    context.close()
