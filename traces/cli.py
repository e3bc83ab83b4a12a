"""Trace subcommands of the `kernbench` CLI: runs, report, sql, compare, export.

`register(subparsers)` adds them to the main parser (simulator/cli.py); each sets
`handler`, a function taking the parsed args and returning the exit code. Errors a
user can cause (unknown run, bad SQL) print one line `kernbench: error: ...` to
stderr and return 2.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from traces import queries
from traces.perfetto import export_perfetto
from traces.store import RunNotFoundError, open_store
from traces.verdicts import DEFAULT_THRESHOLD_PCT, with_verdicts
from traces.views import sql

EXIT_USAGE = 2
_MAX_ROWS = 20  # rows per section of `report` / `compare`
_PIPE_WIDTH = 200  # console width when stdout is not a terminal


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add runs, report, sql, compare and export to an argparse subparsers object."""
    runs = subparsers.add_parser("runs", help="list runs in the store, newest first")
    _store_option(runs)
    runs.add_argument("--workload", help="only runs of this workload")
    runs.add_argument("--limit", type=int, default=20, help="at most N runs (default 20)")
    runs.set_defaults(handler=cmd_runs)

    report = subparsers.add_parser("report", help="summarise one run")
    _store_option(report)
    report.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    report.set_defaults(handler=cmd_report)

    query = subparsers.add_parser("sql", help="run a read-only SQL query over the trace views")
    _store_option(query)
    query.add_argument("query", metavar="QUERY", help='SQL, e.g. "SELECT * FROM runs"')
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.set_defaults(handler=cmd_sql)

    compare = subparsers.add_parser("compare", help="compare two runs (b relative to a)")
    _store_option(compare)
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD_PCT,
        metavar="PCT",
        help="percent a metric must move to be regressed/improved "
        f"(default {DEFAULT_THRESHOLD_PCT:g})",
    )
    compare.set_defaults(handler=cmd_compare)

    export = subparsers.add_parser("export", help="export a run for Perfetto")
    _store_option(export)
    export.add_argument("run", metavar="RUN")
    export.add_argument(
        "--perfetto", metavar="FILE", required=True, help="write Chrome trace-event JSON here"
    )
    export.set_defaults(handler=cmd_export)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", metavar="DIR", default=None, help="run store (default: $KERNBENCH_STORE)"
    )


def _user_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Turn errors a user can cause into one stderr line and exit code 2."""

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (RunNotFoundError, ValueError, OSError, duckdb.Error) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"kernbench: error: {message}", file=sys.stderr)
            return EXIT_USAGE

    return wrapped


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPE_WIDTH)
    return console


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _table(data: pa.Table, title: str | None = None, max_rows: int | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name in data.column_names:
        numeric = pa.types.is_integer(data.schema.field(name).type) or pa.types.is_floating(
            data.schema.field(name).type
        )
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    shown = data if max_rows is None else data.slice(0, max_rows)
    for row in shown.to_pylist():
        table.add_row(*(_cell(row[name]) for name in data.column_names))
    if max_rows is not None and data.num_rows > max_rows:
        table.caption = f"{max_rows} of {data.num_rows} rows"
    return table


@_user_errors
def cmd_runs(args: argparse.Namespace) -> int:
    """List runs, newest first."""
    store = open_store(args.store)
    runs = queries.runs_table(store, workload=args.workload, limit=args.limit)
    console = _console()
    if runs.num_rows == 0:
        console.print(f"no runs in store {store.root}")
        return 0
    columns = ["run_id", "workload", "params", "topology", "git_commit", "git_branch", "status"]
    shown = runs.select([*columns, "sim_end_ns", "wall_s"]).to_pylist()
    for row in shown:
        row["git_commit"] = (row["git_commit"] or "")[:10]
    console.print(_table(pa.Table.from_pylist(shown), title=f"runs in {store.root}"))
    return 0


@_user_errors
def cmd_report(args: argparse.Namespace) -> int:
    """Print a run's header, metrics, launch spread, PE and engine summary, DMA, collectives."""
    store = open_store(args.store)
    run_id = store.resolve_run(args.run)
    con = store.connect()
    console = _console()
    header = queries.run_header(con, run_id).to_pylist()[0]
    facts = Table(show_header=False, title=f"run {run_id}", title_justify="left")
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    commit = header["git_commit"] or "unknown"
    if header["git_branch"]:
        commit += f" on {header['git_branch']}"
    if header["git_dirty"]:
        commit += " (dirty)"
    if header["commit_message"]:
        commit += f": {header['commit_message']}"
    for name, value in (
        ("workload", header["workload"]),
        ("params", header["params"]),
        ("topology", f"{header['topology']} ({header['topology_hash']})"),
        ("commit", commit),
        ("status", header["status"]),
        ("error", header["error"]),
        ("sim_end_ns", header["sim_end_ns"]),
        ("wall_s", header["wall_s"]),
        ("n_events", header["n_events"]),
        ("verified", header["verified"] if header["verify_data"] else "not verified"),
        ("created_at", header["created_at"]),
    ):
        if value is not None:
            facts.add_row(name, _cell(value))
    console.print(facts)

    sections = [
        ("metrics", queries.run_metrics(con, run_id)),
        (
            "launch spread",
            queries.launch_spread(con, run_id).select(
                ["launch_id", "kernel", "n_pes", "spread_ns", "dispatch_spread_ns", "latency_ns"]
            ),
        ),
        ("engines (all PEs)", queries.engine_summary(con, run_id)),
        ("PE utilisation", _pe_summary(con, run_id)),
        ("DMA bandwidth", queries.dma_bandwidth(con, run_id)),
        (
            "collective rounds",
            queries.collective_rounds(con, run_id).select(
                ["coll_id", "round", "phase", "level", "n_ranks", "bytes", "slowest_rank"]
                + ["slowest_ns", "median_ns", "straggle_ns"]
            ),
        ),
    ]
    overlap = queries.comm_compute(con, run_id)
    if overlap.num_rows and sum(overlap.column("comm_ns").to_pylist()) > 0:
        sections.append(("compute vs communication per PE", overlap))
    for title, data in sections:
        if data.num_rows:
            console.print(_table(data, title=title, max_rows=_MAX_ROWS))
    return 0


def _pe_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
    """One row: PE count, makespan, min/mean/max utilisation and the busiest/idlest PE."""
    breakdown = queries.pe_breakdown(con, run_id)
    if breakdown.num_rows == 0:
        return breakdown
    local = duckdb.connect()
    local.register("breakdown", breakdown)
    return local.sql(
        """
        SELECT count(*) AS n_pes, any_value(makespan_ns) AS makespan_ns,
               min(utilisation) AS min_utilisation, avg(utilisation) AS mean_utilisation,
               max(utilisation) AS max_utilisation,
               arg_max(pe_global, utilisation) AS busiest_pe,
               arg_min(pe_global, utilisation) AS idlest_pe
        FROM breakdown
        """
    ).to_arrow_table()


@_user_errors
def cmd_sql(args: argparse.Namespace) -> int:
    """Run one read-only query and print the result as a table, CSV or JSON."""
    result = sql(open_store(args.store), args.query)
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.column_names)
        for row in result.to_pylist():
            writer.writerow([row[name] for name in result.column_names])
    elif args.format == "json":
        print(json.dumps(result.to_pylist(), default=str))
    else:
        _console().print(_table(result))
    return 0


@_user_errors
def cmd_compare(args: argparse.Namespace) -> int:
    """Print metric, engine, PE and launch deltas of run b relative to run a."""
    if not args.threshold >= 0:
        raise ValueError(f"--threshold must be a percentage >= 0, got {args.threshold}")
    store = open_store(args.store)
    run_a, run_b = store.resolve_run(args.run_a), store.resolve_run(args.run_b)
    con = store.connect()
    console = _console()
    console.print(f"a = {run_a}\nb = {run_b}  (delta = b - a)")
    pes = queries.compare_pes(con, run_a, run_b)
    local = duckdb.connect()
    local.register("pes", pes)
    pe_summary = local.sql(
        """
        SELECT count(*) AS n_pes, avg(utilisation_a) AS mean_utilisation_a,
               avg(utilisation_b) AS mean_utilisation_b,
               avg(delta_utilisation) AS mean_delta_utilisation,
               arg_max(pe_global, abs(delta_busy_ns)) AS most_changed_pe,
               max(abs(delta_busy_ns)) AS max_abs_delta_busy_ns
        FROM pes
        """
    ).to_arrow_table()
    engines = queries.compare_engines(con, run_a, run_b).select(
        ["engine", "n_ops_a", "n_ops_b", "busy_ns_a", "busy_ns_b", "delta_busy_ns"]
    )
    sections = [
        ("metrics", with_verdicts(queries.compare_runs(con, run_a, run_b), args.threshold)),
        ("engines (all PEs)", engines),
        ("PEs", pe_summary if pes.num_rows else pes),
        ("launches, largest latency change first", queries.compare_launches(con, run_a, run_b)),
    ]
    for title, data in sections:
        if data.num_rows:
            console.print(_table(data, title=title, max_rows=_MAX_ROWS))
    return 0


@_user_errors
def cmd_export(args: argparse.Namespace) -> int:
    """Write a run as Chrome trace-event JSON for Perfetto."""
    store = open_store(args.store)
    run_id = store.resolve_run(args.run)
    n_events = export_perfetto(store, run_id, args.perfetto)
    print(f"wrote {n_events} trace events of run {run_id} to {args.perfetto}")
    print("open it at https://ui.perfetto.dev")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m traces.cli ...`: the trace subcommands alone."""
    parser = argparse.ArgumentParser(prog="kernbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
