"""Trace speed: canned DuckDB queries over a generated store, and the streaming writer."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .common import build_trace_store, ops_rows

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
