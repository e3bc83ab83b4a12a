"""How long each dashboard page takes to render on a store of about 100 runs.

Not an asv benchmark (nothing here is named time_*/track_*): run it by hand,

    python benchmarks/scripts/dashboard_speed.py [--store DIR] [--commits 50] [--repeat 3]

It fills DIR (default: a temporary folder) with `--commits` fake commits x (noop,
gemm M=256) unless DIR already holds runs, then renders every page with streamlit's
AppTest: cold (caches cleared just before the page) and warm (the same page again).
Prints seconds per page; the goal is under 2 s each. (Streamlit warns about its
"bare mode" on stderr while doing this; add 2>/dev/null to hide that.)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="kernbench_dashboard_speed_"))
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
