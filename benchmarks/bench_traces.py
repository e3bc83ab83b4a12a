"""Trace speed: canned DuckDB queries over a generated store, the streaming writer, and
`kernbench explain` on a large simulated run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .common import bench_case, build_trace_store, ops_rows, run_case

# traces is imported in setup, never at import time: asv discovers the whole suite in one
# go, and the simulator benchmarks must still load at commits whose traces differs.

# Generated store: 8 runs x 64 PEs x 3 launches x 64 tiles x 4 engine ops ~ 400k ops rows.
STORE_RUNS, STORE_PES, STORE_TILES_PER_PE = 8, 64, 64


class TraceQuery:
    """Canned queries (traces.queries) on one run of an 8-run store of ~50k ops each."""

    params = ["launch_spread", "pe_breakdown", "engine_summary", "dma_bandwidth"]
    param_names = ["query"]
    timeout = 300

    def setup_cache(self) -> tuple[str, list[str]]:
        # asv runs setup_cache and the benchmarks in one scratch folder: build the store there.
        root = Path("trace_store").resolve()
        run_ids = build_trace_store(root, STORE_RUNS, STORE_PES, STORE_TILES_PER_PE)
        return str(root), run_ids

    def setup(self, store: tuple[str, list[str]], query: str) -> None:
        from traces import queries
        from traces.views import open_connection

        root, run_ids = store
        self.con = open_connection(Path(root))
        self.run_id = run_ids[-1]
        self.query = getattr(queries, query)

    def time_query(self, store: tuple[str, list[str]], query: str) -> None:
        self.query(self.con, self.run_id)


class TraceWriter:
    """Streaming `ops` rows through a RunWriter appender, then publishing the run."""

    params = [10_000, 200_000]
    param_names = ["rows"]

    def setup(self, rows: int) -> None:
        from traces.store import Store
        from traces.synthetic import new_synthetic_writer

        self.new_writer = new_synthetic_writer
        self.rows = ops_rows(rows, seed=0)
        self.tmp = tempfile.TemporaryDirectory(prefix="kernbench-asv-")
        self.store = Store(self.tmp.name)

    def teardown(self, rows: int) -> None:
        self.tmp.cleanup()

    def _write(self) -> None:
        writer = self.new_writer(self.store, workload="writer_benchmark")
        add = writer.appender("ops")
        for row in self.rows:
            add(*row)
        writer.finish(sim_end_ns=None, n_events=len(self.rows))

    def time_append_ops(self, rows: int) -> None:
        self._write()

    def peakmem_append_ops(self, rows: int) -> None:
        self._write()


class Explain:
    """`kernbench explain` of gpt3_qkv on sip4x4 (~150k ops): the whole command in
    process (store, run lookup, load, walk, JSON), imports excepted (asv repeats the
    call); ``pair`` explains the run against itself, so it loads and walks two paths
    and diffs them."""

    params = ["run", "pair"]
    param_names = ["what"]
    timeout = 900  # setup_cache simulates the run: ~15 s alone, minutes on a loaded host

    def setup_cache(self) -> tuple[str, str]:
        root = Path("explain_store").resolve()
        outcome = run_case(bench_case("gpt3_qkv", {}, "sip4x4"), trace=True, store=root)
        return str(root), outcome.run_id

    def setup(self, cache: tuple[str, str], what: str) -> None:
        from simulator.cli import main

        root, run_id = cache
        runs = [run_id] if what == "run" else [run_id, run_id]
        self.argv = ["explain", *runs, "--store", root, "--json"]
        self.main = main
        self.time_explain(cache, what)  # warm: imports and the OS file cache

    def time_explain(self, cache: tuple[str, str], what: str) -> None:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            if self.main(self.argv) != 0:
                raise RuntimeError(f"kernbench {' '.join(self.argv)} failed")
