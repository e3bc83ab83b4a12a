"""Trace subcommands of the `kernbench` CLI: runs, report, sql, compare, export.

`register(subparsers)` adds them to the main parser (simulator/cli.py); each sets
`handler`, a function taking the parsed args and returning the exit code. Errors a
user can cause (unknown run, bad SQL, a read outside the store) print one line
`kernbench: error: ...` to stderr and return 2. Every verb takes `--json`: one JSON
document on stdout, raw numbers (ns, bytes, GB/s); the shapes are in each `--help`.
Tables show human units (traces.units).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from traces.headline import headline_name
from traces.likeness import run_differences
from traces.units import format_column, format_ns, format_value
from traces.verdicts import DEFAULT_THRESHOLD_PCT, with_verdicts

# DuckDB, pyarrow and the store are imported by the verbs that use them, not at
# import: `kernbench --help` and `kernbench list` must start fast.
if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from traces.store import Store

EXIT_USAGE = 2
_MAX_ROWS = 20  # rows per section of `report` / `compare`
_PIPE_WIDTH = 200  # console width when stdout is not a terminal
_RUNS_WIDTH = 100  # `runs` fits this many columns
_SHORT_ID_CHARS = 15  # `20261126-073012`: run ids are shown to the second, longer if needed
RUN_HELP = "run id, unique prefix, 'latest' or 'latest~N' (N runs before the latest)"

RUNS_JSON = (
    "--json prints a list, newest first, of {run_id, created_at, workload, params: {name: "
    "value}, topology, overrides: {dotted key: value}, sweep_id, git_commit, git_branch, "
    "git_dirty, status, error, sim_end_ns, wall_s, verified, metrics: {name: value}}."
)
REPORT_JSON = (
    "--json prints {run: {every runs column, params and overrides as objects}, headline: "
    "{name, value, unit} or null, metrics: [{name, value, unit}], launch_spread: [rows], "
    "engines: [rows], "
    "pe_summary: [rows], dma_bandwidth: [rows], collective_rounds: [rows], comm_compute: "
    "[rows], invariants: [the trace invariants it violates] (null for a failed run)}; rows "
    "are objects keyed by column name, times in ns."
)
SQL_JSON = "--json (= --format json) prints a list of row objects keyed by column name."
COMPARE_JSON = (
    "--json prints {run_a, run_b, differences: [text], metrics: [{name, unit, better, a, b, "
    "delta, pct, verdict}], engines: [rows], pes: [rows], launches: [rows]}; delta = b - a."
)
EXPORT_JSON = "--json prints {run_id, file, n_events}."


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add runs, report, sql, compare and export to an argparse subparsers object."""
    runs = subparsers.add_parser(
        "runs", help="list runs in the store, newest first", epilog=RUNS_JSON
    )
    _store_option(runs)
    runs.add_argument("--workload", help="only runs of this workload")
    runs.add_argument(
        "--sweep", metavar="SWEEP_ID", help="only runs of this sweep (its id or a prefix)"
    )
    runs.add_argument("--status", choices=("ok", "failed"), help="only runs that ended this way")
    runs.add_argument(
        "--limit", type=_non_negative_int, default=20, metavar="N", help="at most N runs (20)"
    )
    _json_option(runs)
    runs.set_defaults(handler=cmd_runs)

    report = subparsers.add_parser("report", help="summarise one run", epilog=REPORT_JSON)
    _store_option(report)
    report.add_argument("run", metavar="RUN", help=RUN_HELP)
    _json_option(report)
    report.set_defaults(handler=cmd_report)

    query = subparsers.add_parser(
        "sql",
        help="run a read-only SQL query over the trace views",
        description="Run one read-only SQL query over the trace views (runs, metrics, "
        "launches, pe_exec, programs, ops, dma, deps, collectives, collective_rounds, "
        "links). The query can read files only inside the store and cannot load "
        "extensions.",
        epilog=SQL_JSON,
    )
    _store_option(query)
    query.add_argument("query", metavar="QUERY", help='SQL, e.g. "SELECT * FROM runs"')
    query.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default table)",
    )
    query.add_argument(
        "--json", action="store_const", const="json", dest="format", help="same as --format json"
    )
    query.set_defaults(handler=cmd_sql)

    compare = subparsers.add_parser(
        "compare",
        help="compare two runs (b relative to a)",
        description="Compare two runs: metric, engine, PE and launch deltas (b - a). Warns "
        "when the runs differ in workload, parameters or topology.",
        epilog=COMPARE_JSON,
    )
    _store_option(compare)
    compare.add_argument("run_a", metavar="RUN_A", help="the reference run: " + RUN_HELP)
    compare.add_argument("run_b", metavar="RUN_B", help="the run compared with it")
    compare.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD_PCT,
        metavar="PCT",
        help="percent a metric must move to be regressed/improved "
        f"(default {DEFAULT_THRESHOLD_PCT:g})",
    )
    _json_option(compare)
    compare.set_defaults(handler=cmd_compare)

    export = subparsers.add_parser("export", help="export a run for Perfetto", epilog=EXPORT_JSON)
    _store_option(export)
    export.add_argument("run", metavar="RUN", help=RUN_HELP)
    export.add_argument(
        "--perfetto", metavar="FILE", required=True, help="write Chrome trace-event JSON here"
    )
    _json_option(export)
    export.set_defaults(handler=cmd_export)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR",
        default=None,
        help="run store (default: $KERNBENCH_STORE, else ./kernbench_store)",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document (shape below)")


def _store(args: argparse.Namespace) -> Store:
    """The store named by --store (a folder or s3:// URL); a local path that is a file
    is a clear error, not an empty store."""
    from traces.opener import open_store

    store = open_store(args.store)
    store.check_usable()
    return store


def _user_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Turn errors a user can cause into one stderr line and exit code 2."""

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:
            raise  # the caller (main) exits quietly
        except Exception as exc:
            import duckdb

            from traces.store import RunNotFoundError

            if not isinstance(exc, RunNotFoundError | ValueError | OSError | duckdb.Error):
                raise
            message = _one_line(str(exc)) or type(exc).__name__
            if isinstance(exc, duckdb.PermissionException):
                message = f"the query may read only the store's own files ({message})"
            print(f"kernbench: error: {message}", file=sys.stderr)
            return EXIT_USAGE

    return wrapped


def _one_line(message: str) -> str:
    """An error message as one line: its lines up to the first blank one or DuckDB's
    ``LINE n:`` excerpt of the query, joined (DuckDB puts "Did you mean" and candidate
    columns on lines of their own)."""
    kept = []
    for line in message.strip().splitlines():
        if not line.strip() or line.startswith("LINE "):
            break
        kept.append(line.strip())
    return " ".join(kept)


def _console(width: int | None = None) -> Console:
    """A console that prints strings as they are: what this module prints is data (store
    paths, query results, run facts), where ``[b]`` or ``[/x]`` is text, not markup."""
    console = Console(markup=False)
    if not console.is_terminal:
        console = Console(markup=False, width=width or _PIPE_WIDTH)
    return console


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy of a value from a result row (datetimes as ISO text, NaN null)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _rows(data: pa.Table) -> list[dict[str, Any]]:
    return [_jsonable(row) for row in data.to_pylist()]


def _print_json(document: Any) -> None:
    print(json.dumps(_jsonable(document), sort_keys=True))


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_column(column, value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _table(data: pa.Table, title: str | None = None, max_rows: int | None = None) -> Table:
    """A rich table of `data`; numbers in human units by column name (traces.units).

    A table with `value` and `unit` columns (metrics) shows each value in its unit.
    """
    import pyarrow as pa

    table = Table(title=title, title_justify="left")
    names = data.column_names
    for name in names:
        numeric = pa.types.is_integer(data.schema.field(name).type) or pa.types.is_floating(
            data.schema.field(name).type
        )
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    shown = data if max_rows is None else data.slice(0, max_rows)
    by_unit = "unit" in names
    for row in shown.to_pylist():
        cells = []
        for name in names:
            value = row[name]
            if by_unit and name in ("value", "a", "b", "delta") and value is not None:
                cells.append(format_value(value, row["unit"] or ""))
            else:
                cells.append(_cell(value, name))
        table.add_row(*cells)
    if max_rows is not None and data.num_rows > max_rows:
        table.caption = f"{max_rows} of {data.num_rows} rows"
    return table


def short_ids(ids: list[str], min_chars: int = _SHORT_ID_CHARS) -> dict[str, str]:
    """The shortest prefix (at least `min_chars`) of each id that no other id shares;
    any such prefix resolves to its run (Store.resolve_run)."""
    ordered = sorted(ids)
    short = {}
    for i, run_id in enumerate(ordered):
        need = min_chars
        for other in (ordered[i - 1] if i else None, ordered[i + 1] if i + 1 < len(ids) else None):
            if other is None:
                continue
            common = 0
            while common < min(len(run_id), len(other)) and run_id[common] == other[common]:
                common += 1
            need = max(need, common + 1)
        short[run_id] = run_id[: min(need, len(run_id))]
    return short


def _fold_params(text: str | None) -> str:
    try:
        params = json.loads(text or "{}")
    except ValueError:
        return text or ""
    if not isinstance(params, dict):
        return str(params)
    return " ".join(f"{k}={v}" for k, v in params.items())


def _params_object(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


@_user_errors
def _headline_text(row: dict[str, Any]) -> str:
    """The run's own latency metric in human units, or empty when it records none."""
    metrics = dict(row["metrics"] or {})
    lead = headline_name(metrics)
    return format_ns(metrics[lead]) if lead else ""


@_user_errors
def cmd_runs(args: argparse.Namespace) -> int:
    """List runs, newest first."""
    from traces import queries

    store = _store(args)
    runs = queries.runs_table(
        store, workload=args.workload, status=args.status, limit=args.limit, sweep_id=args.sweep
    )
    if args.json:
        keep = [
            "run_id", "created_at", "workload", "params", "topology", "overrides", "sweep_id",
            "git_commit", "git_branch", "git_dirty", "status", "error", "sim_end_ns", "wall_s",
            "verified", "metrics",
        ]  # fmt: skip
        rows = []
        for row in runs.select(keep).to_pylist():
            row["params"] = _params_object(row["params"])
            row["overrides"] = _params_object(row["overrides"])
            row["metrics"] = dict(row["metrics"] or {})
            rows.append(row)
        _print_json(rows)
        return 0
    console = _console(_RUNS_WIDTH)
    all_ids = store.run_ids()
    if runs.num_rows == 0:
        filters = [f"--{name} {value}" for name, value in (
            ("workload", args.workload), ("status", args.status), ("sweep", args.sweep),
            ("limit", args.limit if args.limit == 0 else None)) if value is not None]  # fmt: skip
        if all_ids and filters:  # say why the list is empty: the filters, not the store
            held = f"{len(all_ids)} run" + ("" if len(all_ids) == 1 else "s")
            console.print(f"no runs match {' '.join(filters)}; store {store.root} holds {held}")
        else:
            console.print(f"no runs in store {store.root}")
        return 0
    short = short_ids(all_ids)
    table = Table(
        title=f"runs in {store.root}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),  # two spaces between columns, none at the edges
        pad_edge=False,
        show_edge=False,
    )
    rows = runs.to_pylist()
    cells = [
        (
            short.get(row["run_id"], row["run_id"]),
            row["workload"],
            " ".join(filter(None, (_fold_params(row["params"]), _fold_params(row["overrides"])))),
            row["topology"],
            (row["git_commit"] or "")[:7] + ("+" if row["git_dirty"] else ""),
            row["status"],
            _headline_text(row),
            f"{row['wall_s']:.2f} s" if row["wall_s"] is not None else "",
        )
        for row in rows
    ]
    columns = (
        ("run", "left"), ("workload", "left"), ("params", "left"), ("topology", "left"),
        ("commit", "left"), ("status", "left"), ("latency", "right"), ("wall", "right"),
    )  # fmt: skip
    # A key=value is one token: the params column gets the width of the longest one
    # when the other columns leave room, so rich wraps between parameters, not inside.
    others_width = sum(
        max([len(name)] + [len(str(cell[i] or "")) for cell in cells]) + 2
        for i, (name, _) in enumerate(columns)
        if name != "params"
    )
    longest_token = max((len(t) for cell in cells for t in cell[2].split()), default=6)
    params_width = max(6, min(longest_token, console.width - others_width - 1))
    for name, justify in columns:
        no_wrap = name != "params"
        min_width = params_width if name == "params" else None
        table.add_column(
            name, justify=justify, no_wrap=no_wrap, overflow="fold", min_width=min_width
        )
    for cell in cells:
        table.add_row(*cell)
    table.caption = (
        "params: the workload's, then topology overrides (dotted keys); "
        "latency: the workload's own (latency_ns, kernel_ns...); commit + = dirty"
    )
    console.print(table)
    return 0


@_user_errors
def cmd_report(args: argparse.Namespace) -> int:
    """Print a run's header, metrics, launch spread, PE and engine summary, DMA, collectives."""
    from traces import queries
    from traces.checks import check_run

    store = _store(args)
    run_id = store.resolve_run(args.run)
    con = store.connect()
    header = queries.run_header(con, run_id).to_pylist()[0]
    metrics = queries.run_metrics(con, run_id)
    metric_rows = metrics.to_pylist()
    units = {m["name"]: m["unit"] for m in metric_rows}
    lead_name = headline_name(units, units)
    lead = next((m for m in metric_rows if m["name"] == lead_name), None)
    sections = [
        ("metrics", "metrics", metrics),
        (
            "launch spread",
            "launch_spread",
            queries.launch_spread(con, run_id).select(
                ["launch_id", "kernel", "n_pes", "spread_ns", "dispatch_spread_ns", "latency_ns"]
            ),
        ),
        ("engines (all PEs)", "engines", queries.engine_summary(con, run_id)),
        ("PE utilisation (any engine: busy ÷ makespan)", "pe_summary", _pe_summary(con, run_id)),
        ("DMA bandwidth", "dma_bandwidth", queries.dma_bandwidth(con, run_id)),
        (
            "collective rounds",
            "collective_rounds",
            queries.collective_rounds(con, run_id).select(
                ["coll_id", "round", "phase", "level", "n_ranks", "bytes", "slowest_rank"]
                + ["slowest_ns", "median_ns", "straggle_ns"]
            ),
        ),
    ]
    overlap = queries.comm_compute(con, run_id)
    has_comm = overlap.num_rows and sum(overlap.column("comm_ns").to_pylist()) > 0
    sections.append(
        ("compute vs communication per PE", "comm_compute", overlap if has_comm else overlap[:0])
    )
    # The trace's invariants (traces/checks.py), physics included; a failed run stopped
    # mid-launch, so its trace is partial by design.
    problems = check_run(store, run_id) if header["status"] == "ok" else None
    if args.json:
        run = dict(header, params=_params_object(header["params"]),
                   overrides=_params_object(header["overrides"]))  # fmt: skip
        document: dict[str, Any] = {"run": run, "headline": lead}
        document.update({key: _rows(data) for _, key, data in sections})
        document["invariants"] = problems
        _print_json(document)
        return 0

    console = _console()
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
    if lead is not None:
        facts.add_row(lead["name"], format_value(lead["value"], lead["unit"]))
    values = {m["name"]: m["value"] for m in metric_rows}
    if "bound_ns" in values and "efficiency" in values:
        bound = f"{format_ns(values['bound_ns'])} (efficiency {values['efficiency']:.3f})"
        if values["efficiency"] > 1.0 + 1e-9:
            bound += ": faster than physics allows, a simulator bug"
        facts.add_row("physics bound", bound)
    if problems is not None:
        soundness = f"{len(problems)} invariants violated: " + "; ".join(problems)
        facts.add_row("trace", soundness if problems else "sound: every invariant holds")
    sim_end = header["sim_end_ns"]
    for name, value in (
        ("workload", header["workload"]),
        ("params", _fold_params(header["params"])),
        ("topology", f"{header['topology']} ({header['topology_hash']})"),
        ("overrides", _fold_params(header["overrides"]) or None),
        ("commit", commit),
        ("status", header["status"]),
        ("error", header["error"]),
        (
            "simulated end",
            f"{format_ns(sim_end)} (the whole run: setup, host copies, every launch)"
            if sim_end is not None
            else None,
        ),
        ("wall", f"{header['wall_s']:.2f} s" if header["wall_s"] is not None else None),
        ("trace rows", header["n_events"]),
        ("verified", header["verified"] if header["verify_data"] else "not verified"),
        ("created_at", header["created_at"]),
    ):
        if value is not None:
            facts.add_row(name, _cell(value))
    console.print(facts)
    for title, _, data in sections:
        if data.num_rows:
            console.print(_table(data, title=title, max_rows=_MAX_ROWS))
    return 0


def _pe_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
    """One row: PE count, makespan, min/mean/max utilisation and the busiest/idlest PE."""
    import duckdb

    from traces import queries

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
               first(pe_global ORDER BY utilisation DESC, pe_global) AS busiest_pe,
               first(pe_global ORDER BY utilisation, pe_global) AS idlest_pe
        FROM breakdown
        """
    ).to_arrow_table()


@_user_errors
def cmd_sql(args: argparse.Namespace) -> int:
    """Run one read-only query (confined to the store) and print it as a table, CSV or JSON."""
    from pathlib import Path

    from traces.store import StoreError
    from traces.views import sql

    store = _store(args)
    if isinstance(store.root, Path) and not store.root.exists():
        raise StoreError(f"run store {store.root} does not exist: there is nothing to query "
                         "(pass --store DIR, or run a workload into it first)")  # fmt: skip
    result = sql(store, args.query)
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.column_names)
        for row in result.to_pylist():
            writer.writerow([row[name] for name in result.column_names])
    elif args.format == "json":
        print(json.dumps(_rows(result), default=str))
    else:
        _console().print(_table(result))
    return 0


@_user_errors
def cmd_compare(args: argparse.Namespace) -> int:
    """Print metric, engine, PE and launch deltas of run b relative to run a."""
    import duckdb

    from traces import queries

    if not args.threshold >= 0:
        raise ValueError(f"--threshold must be a percentage >= 0, got {args.threshold}")
    store = _store(args)
    run_a, run_b = store.resolve_run(args.run_a), store.resolve_run(args.run_b)
    con = store.connect()
    header_a = queries.run_header(con, run_a).to_pylist()[0]
    header_b = queries.run_header(con, run_b).to_pylist()[0]
    differences = run_differences(header_a, header_b)
    for note in differences:
        print(f"kernbench: warning: runs are not like for like: {note}", file=sys.stderr)
    pes = queries.compare_pes(con, run_a, run_b)
    local = duckdb.connect()
    local.register("pes", pes)
    pe_summary = local.sql(
        """
        SELECT count(*) AS n_pes, avg(utilisation_a) AS mean_utilisation_a,
               avg(utilisation_b) AS mean_utilisation_b,
               avg(delta_utilisation) AS mean_delta_utilisation,
               first(pe_global ORDER BY abs(delta_busy_ns) DESC, pe_global) AS most_changed_pe,
               max(abs(delta_busy_ns)) AS max_abs_delta_busy_ns
        FROM pes
        """
    ).to_arrow_table()
    engines = queries.compare_engines(con, run_a, run_b).select(
        ["engine", "n_ops_a", "n_ops_b", "busy_ns_a", "busy_ns_b", "delta_busy_ns"]
    )
    metrics = with_verdicts(queries.compare_runs(con, run_a, run_b), args.threshold)
    launches = queries.compare_launches(con, run_a, run_b)
    if args.json:
        _print_json(
            {
                "run_a": run_a,
                "run_b": run_b,
                "differences": differences,
                "metrics": _rows(metrics),
                "engines": _rows(engines),
                "pes": _rows(pes),
                "launches": _rows(launches),
            }
        )
        return 0
    console = _console()
    console.print(f"a = {run_a}\nb = {run_b}  (delta = b - a)")
    sections = [
        ("metrics", metrics),
        ("engines (all PEs)", engines),
        ("PEs", pe_summary if pes.num_rows else pes),
        ("launches, largest latency change first", launches),
    ]
    for title, data in sections:
        if data.num_rows:
            console.print(_table(data, title=title, max_rows=_MAX_ROWS))
    return 0


@_user_errors
def cmd_export(args: argparse.Namespace) -> int:
    """Write a run as Chrome trace-event JSON for Perfetto (atomically: tmp + rename)."""
    from traces.perfetto import export_perfetto

    store = _store(args)
    run_id = store.resolve_run(args.run)
    n_events = export_perfetto(store, run_id, args.perfetto)
    if args.json:
        _print_json({"run_id": run_id, "file": str(args.perfetto), "n_events": n_events})
        return 0
    print(f"wrote {n_events:,} trace events of run {run_id} to {args.perfetto}")
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
