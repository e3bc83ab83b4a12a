"""How long each dashboard page takes to render on a store of about 100 runs.

Not an asv benchmark (nothing here is named time_*/track_*): run it by hand,

    python benchmarks/scripts/dashboard_speed.py [--store DIR] [--commits 50] [--repeat 3]

It fills DIR (default: a temporary folder) with `--commits` fake commits x (noop,
gemm M=256) unless DIR already holds runs, then renders every page with streamlit's
AppTest: cold (caches cleared just before the page) and warm (the same page again).
Prints seconds per page; the goal is under 2 s each. (Streamlit warns about its
"bare mode" on stderr while doing this; add 2>/dev/null to hide that.)

With `--browser` it times the Run page of gpt3_qkv on sip4x4 (128 PEs, ~150 k ops) in
headless Chromium (/usr/bin/chromium, via Playwright) instead: it adds that run to DIR
unless DIR has one, serves the dashboard, and loads the page cold (new server), then
`--repeat` times warm in a fresh browser context (server caches kept) and in one shared
context (the browser's HTTP and code caches kept too). Each load counts until the
timeline chart is drawn; it prints the wall time and the CPU time of the page's renderer
main thread (Chrome's ThreadTime, less sensitive to machine load), with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = PROJECT_ROOT / "dashboard" / "app.py"
PAGES = {
    "runs": None,
    "run": "app_pages/run.py",
    "compare": "app_pages/compare.py",
    "trends": "app_pages/trends.py",
}
RUNS_PER_COMMIT = (("noop", {}), ("gemm", {"M": 256}))


def build_store(root: Path, n_commits: int) -> int:
    """Write n_commits x RUNS_PER_COMMIT runs into `root` (unless it has runs); returns
    the number of runs in it."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from simulator.runner import run_workload
    from traces.store import Store

    if not Store(root).run_ids():
        for i in range(n_commits):
            os.environ["KERNBENCH_COMMIT"] = f"{i:040x}"
            for name, overrides in RUNS_PER_COMMIT:
                run_workload(name, overrides, store=root)
        os.environ.pop("KERNBENCH_COMMIT", None)
    return len(Store(root).run_ids())


def render_seconds(root: Path, page: str, query: dict[str, str], cold: bool) -> float:
    """Seconds one script run of `page` takes (after an untimed run of the Runs page)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["KERNBENCH_STORE"] = str(root)
    at = AppTest.from_file(str(APP), default_timeout=120)
    if PAGES[page] is None:
        if cold:
            st.cache_data.clear()
            st.cache_resource.clear()
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
    else:
        at.run()
        if cold:
            st.cache_data.clear()
            st.cache_resource.clear()
        at.query_params.update(query)
        at.switch_page(PAGES[page])
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"page {page} raised: {at.exception[0].value}")
    return elapsed


CHROMIUM = "/usr/bin/chromium"
# Done: the script run finished and the page shows its title and at least n timelines:
# plotly charts drawn or images decoded (the Run page draws a large run's as an image).
PAGE_DONE_JS = """n => document.querySelector("[data-testid='stException']") || (
    document.querySelector("[data-testid='stApp'] h1")
    && !document.querySelector("[data-testid='stStatusWidget']")
    && document.querySelectorAll('.js-plotly-plot .main-svg').length
       + [...document.querySelectorAll("[data-testid='stImage'] img")]
           .filter(i => i.complete && i.naturalWidth > 0).length >= n)"""


def large_run(root: Path) -> str:
    """The run id of a gpt3_qkv run on sip4x4 in `root`, made if there is none."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from simulator.runner import run_workload
    from traces.store import Store

    for run_id in reversed(Store(root).run_ids()):
        if _workload(root, run_id) == "gpt3_qkv":
            return run_id
    outcome = run_workload("gpt3_qkv", {}, topology="sip4x4", store=root)
    if outcome.status != "ok":
        raise RuntimeError(f"gpt3_qkv on sip4x4 failed: {outcome.error}")
    return outcome.run_id


def browser_seconds(
    root: Path, run_id: str, repeat: int, interactive: bool = False
) -> dict[str, list[tuple[float, float]]]:
    """(wall s, renderer main-thread CPU s) of Run page loads by kind: cold, warm (fresh
    browser context), warm same browser (one context for all); with `interactive`, of the
    page with its plotly timeline (`interactive=1`) instead of the image."""
    import socket
    import subprocess
    import urllib.parse
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "KERNBENCH_STORE"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--", "--store", str(root)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/run?run={run_id}&store={urllib.parse.quote(str(root))}"
    if interactive:
        url += "&interactive=1"
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            shared = browser.new_context(viewport={"width": 1500, "height": 1000})
            plan = [("cold", None)] + [("warm", None)] * repeat
            plan += [("warm same browser", shared)] * (repeat + 1)
            for kind, context in plan:
                own = context is None
                context = context or browser.new_context(viewport={"width": 1500, "height": 1000})
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                started = time.perf_counter()
                page.goto(url, wait_until="domcontentloaded", timeout=300_000)
                page.wait_for_function(PAGE_DONE_JS, arg=1, timeout=300_000)
                wall = time.perf_counter() - started
                metrics = cdp.send("Performance.getMetrics")["metrics"]
                cpu = next(m["value"] for m in metrics if m["name"] == "ThreadTime")
                results.setdefault(kind, []).append((wall, cpu))
                page.close()
                if own:
                    context.close()
            # The shared context's first load filled its caches: not a warm load.
            results["warm same browser"] = results["warm same browser"][1:]
            browser.close()
    finally:
        server.terminate()
        server.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--browser", action="store_true",
                        help="time the Run page of gpt3_qkv on sip4x4 in Chromium")  # fmt: skip
    parser.add_argument("--interactive", action="store_true",
                        help="with --browser: its plotly timeline, not the image")  # fmt: skip
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="kernbench_dashboard_speed_"))
    if args.browser:
        run_id = large_run(root)
        results = browser_seconds(root, run_id, args.repeat, args.interactive)
        shown = "plotly timeline" if args.interactive else "timeline image"
        print(f"Run page of {run_id} ({shown}) in Chromium (load average "
              f"{os.getloadavg()[0]:.1f}):")  # fmt: skip
        print(f"{'load':<20} {'wall s (median)':>16} {'renderer CPU s':>16}")
        for kind, values in results.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            print(f"{kind:<20} {wall:>16.2f} {cpu:>16.2f}")
        return
    started = time.perf_counter()
    n_runs = build_store(root, args.commits)
    print(f"store {root}: {n_runs} runs ({time.perf_counter() - started:.1f} s to prepare)")

    from traces.store import Store

    newest_gemm = next(r for r in reversed(Store(root).run_ids()) if "gemm" in _workload(root, r))
    queries = {
        "runs": {},
        "run": {"run": newest_gemm},
        "compare": {},
        "trends": {"workload": "gemm", "metric": "kernel_ns"},
    }
    print(f"{'page':<8} {'cold s (median)':>16} {'warm s (median)':>16}")
    for page, query in queries.items():
        cold = [render_seconds(root, page, query, cold=True) for _ in range(args.repeat)]
        warm = [render_seconds(root, page, query, cold=False) for _ in range(args.repeat)]
        print(f"{page:<8} {statistics.median(cold):>16.3f} {statistics.median(warm):>16.3f}")


def _workload(root: Path, run_id: str) -> str:
    from traces import queries

    return queries.run_header(root, run_id).column("workload")[0].as_py()


if __name__ == "__main__":
    main()
