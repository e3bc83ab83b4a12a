"""How fast the trace store writes and answers per-run queries (a plain script, not asv).

Builds a store of N runs x M ops rows with the streaming writer, copies the same
rows into one flat Parquet file per table, then times launch_spread and
pe_breakdown for one run on both layouts and prints flat / partitioned. Also
measures the writer's `appender` rows/s on a tight loop.

    python benchmarks/scripts/trace_query_speed.py [--runs 20] [--ops-per-run 500000] [--dir DIR]
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy

from traces import queries
from traces.store import Store
from traces.synthetic import new_synthetic_writer, write_synthetic_run

N_PES = 32
N_LAUNCHES = 4
OPS_PER_TILE = 4  # load, dot, exp, store
QUERY_TABLES = ("launches", "pe_exec", "ops")


def measure_appender(store: Store, n_rows: int) -> float:
    """Rows/s of RunWriter.appender("ops") including flushes and finish()."""
    writer = new_synthetic_writer(store, workload="appender_speed")
    add = writer.appender("ops")
    started = time.perf_counter()
    for i in range(n_rows):
        start_ns = i * 1.5
        add(i, 0, 0, 1, 2, 10, "GEMM", "dot", start_ns, start_ns, start_ns + 1.0, 1024, 2048)
    writer.finish(sim_end_ns=float(n_rows), n_events=n_rows)
    return n_rows / (time.perf_counter() - started)


def build_store(root: Path, n_runs: int, ops_per_run: int) -> tuple[Store, float]:
    """Write n_runs synthetic runs of about ops_per_run ops each; returns the store and seconds."""
    store = Store(root)
    tiles = max(1, round(ops_per_run / (N_LAUNCHES * N_PES * OPS_PER_TILE)))
    started = time.perf_counter()
    for seed in range(n_runs):
        write_synthetic_run(
            store,
            seed=seed,
            n_pes=N_PES,
            n_launches=N_LAUNCHES,
            tiles_per_pe=tiles,
            collective=False,
            with_dma=False,
            workload="query_speed",
        )
    return store, time.perf_counter() - started


def flat_connection(store: Store, flat_dir: Path) -> duckdb.DuckDBPyConnection:
    """Copy each queried table into one Parquet file (sorted by run) and view it."""
    flat_dir.mkdir(parents=True, exist_ok=True)
    source = store.connect()
    con = duckdb.connect()
    for table in QUERY_TABLES:
        path = flat_dir / f"{table}.parquet"
        source.execute(
            f"COPY (SELECT * FROM {table} ORDER BY run_id) TO '{path}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    return con


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm the OS page cache and DuckDB's metadata cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ops-per-run", type=int, default=500_000)
    parser.add_argument("--appender-rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.dir or Path(tmp)
        rows_per_s = measure_appender(Store(work / "appender_store"), args.appender_rows)
        print(f"appender: {rows_per_s:,.0f} rows/s ({args.appender_rows:,} ops rows, 13 columns)")

        store, build_s = build_store(work / "store", args.runs, args.ops_per_run)
        con = store.connect()
        n_ops = con.execute("SELECT count(*) FROM ops").fetchall()[0][0]
        print(
            f"store: {args.runs} runs, {n_ops:,} ops rows, built in {build_s:.1f} s "
            f"({n_ops / build_s:,.0f} rows/s incl. synthetic generation)"
        )
        flat = flat_connection(store, work / "flat")
        run_id = store.run_ids()[len(store.run_ids()) // 2]
        # Same answer from both layouts (sums may differ in the last bits: order of addition).
        busy = [queries.pe_breakdown(c, run_id).column("busy_ns").to_numpy() for c in (con, flat)]
        assert numpy.allclose(*busy, rtol=1e-12), "layouts disagree"

        print(f"{'query (one run)':<18}{'store ms':>10}{'flat ms':>10}{'flat/store':>12}")
        for name, query in (
            ("launch_spread", queries.launch_spread),
            ("pe_breakdown", queries.pe_breakdown),
        ):
            store_ms = median_ms(lambda q=query: q(con, run_id), args.repeats)
            flat_ms = median_ms(lambda q=query: q(flat, run_id), args.repeats)
            print(f"{name:<18}{store_ms:>10.1f}{flat_ms:>10.1f}{flat_ms / store_ms:>12.2f}")
        connect_ms = median_ms(store.connect, args.repeats)
        print(f"Store.connect(): {connect_ms:.1f} ms ({args.runs} runs)")


if __name__ == "__main__":
    main()
