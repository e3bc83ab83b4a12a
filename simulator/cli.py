"""The ``kernbench`` command line (contract: verbs and flags are only ever added).

``run``, ``list``, ``dashboard`` and ``demo`` live here; the trace verbs (``runs``,
``report``, ``sql``, ``compare``, ``export``) come from ``traces.cli``, ``history`` and
``check`` from ``traces.history``.

One error path, in :func:`main`: a mistake the user can fix prints one line
``kernbench: error: ...`` and exits 2; a warning prints one line ``kernbench: warning:
...``; Ctrl-C exits 130 without a traceback (a run being written is discarded); a closed
pipe (``kernbench sql ... | head -1``) exits 0 quietly; anything unexpected prints one
line naming the exception and exits 1. ``--debug`` (or ``KERNBENCH_DEBUG=1``) shows the
full traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simulator.history_cli import register as register_history_verbs
from simulator.hw.topology import TopologyError, list_topologies
from simulator.runner import headline_metric, is_script, run_script, run_workload, sim_version
from simulator.sweep_cli import register as register_sweep_verb
from simulator.workloads.registry import WorkloadError, get_workload, list_workloads
from simulator.workloads.registry import parse_sets as _parse_sets
from traces.cli import _non_negative_int
from traces.cli import register as register_trace_verbs
from traces.explain_cli import register as register_explain_verb
from traces.layout import is_object_url
from traces.store import store_spec
from traces.units import format_ns, format_value

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
DEMO_SUITE = "demo"  # the suite of traces/suites.yaml that `kernbench demo` runs
DEBUG_ENV = "KERNBENCH_DEBUG"  # set to 1 for full tracebacks, like --debug
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
DEFAULT_ADDRESS = "127.0.0.1"  # the dashboard listens on this host only unless told

# Exceptions that mean "the user asked for something that cannot be done": one line, exit 2.
USER_ERRORS: tuple[type[BaseException], ...] = (WorkloadError, TopologyError, ValueError, OSError)


def _user_errors() -> tuple[type[BaseException], ...]:
    """USER_ERRORS plus the store's and DuckDB's errors.

    Imported only when an error is being handled, so that start-up (``--help``,
    ``list``) does not pay for DuckDB and pyarrow.
    """
    import duckdb

    from traces.store import RunNotFoundError

    return (*USER_ERRORS, RunNotFoundError, duckdb.Error)


class UsageError(ValueError):
    """A command-line value that parses but cannot be used (a repeated --set key...)."""


def _error(message: str, code: int = EXIT_USAGE) -> int:
    print(f"kernbench: error: {message}", file=sys.stderr)
    return code


def _cmd_run(args: argparse.Namespace) -> int:
    if not args.no_trace and not is_object_url(store_spec(args.store)):
        from traces.writer_process import start_writer_process

        start_writer_process()  # its start-up overlaps the simulator's imports
    if is_script(args.workload):
        outcome = run_script(
            args.workload,
            _parse_sets(args.set),
            topology=args.topology,
            verify_data=args.verify_data,
            store=args.store,
            trace=not args.no_trace,
        )
    else:
        outcome = run_workload(
            args.workload,
            _parse_sets(args.set),
            topology=args.topology,
            verify_data=args.verify_data,
            store=args.store,
            trace=not args.no_trace,
            progress=sys.stderr.isatty() and not args.json,
        )
    if args.json:
        print(json.dumps(outcome.to_json(), sort_keys=True))
    else:
        _print_outcome(outcome)
    if outcome.status != "ok":
        if not args.json:
            print(f"kernbench: error: {outcome.error}", file=sys.stderr)
        return 1
    if outcome.verified is False:
        return 1
    return 0


def _print_outcome(outcome) -> None:
    """The run summary: the workload's own latency first, then what the rest means."""
    console = Console(markup=False)  # names, paths and errors are text, not markup
    verified = {None: "not checked", True: "yes", False: "NO"}[outcome.verified]
    headline = headline_metric(outcome.metrics)
    lead = Text.assemble((outcome.workload, "bold"), f" on {outcome.topology}: {outcome.status}")
    if headline is not None:
        lead.append(f", {headline.name} {format_value(headline.value, headline.unit)}")
    console.print(lead)
    console.print(
        f"  simulated end {format_ns(outcome.sim_end_ns)} (the whole run: host copies, "
        f"setup and every launch), {outcome.wall_s:.2f} s wall, verified: {verified}, "
        f"run {outcome.run_id or ('(not recorded)' if outcome.status != 'ok' else '(not traced)')}"
    )
    if outcome.metrics:
        table = Table("metric", "value")
        for m in outcome.metrics:
            table.add_row(m.name, format_value(m.value, m.unit))
        console.print(table)


def _param_json(param) -> dict:
    return {
        "name": param.name,
        "type": param.type.__name__,
        "default": param.default,
        "doc": param.doc,
        "choices": list(param.choices) if param.choices is not None else None,
        "minimum": param.minimum,
    }


def _workload_json(w) -> dict:
    return {
        "name": w.name,
        "doc": w.doc,
        "default_topology": w.default_topology,
        "params": [_param_json(p) for p in w.params],
    }


def _topologies_json() -> list[dict]:
    from simulator.hw.topology import load_topology

    rows = []
    for name in list_topologies():
        t = load_topology(name)
        rows.append(
            {
                "name": name,
                "num_sips": t.num_sips,
                "cube_rows": t.cube_rows,
                "cube_cols": t.cube_cols,
                "pes_per_cube": t.pes_per_cube,
                "num_pes": t.num_pes,
            }
        )
    return rows


def _cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if what not in ("workloads", "topologies", "all"):
        return _list_workload(get_workload(what), args.json)
    data: dict[str, list[dict]] = {}
    if what in ("workloads", "all"):
        data["workloads"] = [_workload_json(w) for w in list_workloads()]
    if what in ("topologies", "all"):
        data["topologies"] = _topologies_json()
    if args.json:
        print(json.dumps(data, sort_keys=True))
        return 0
    console = Console(markup=False)  # workload docs are text, not markup
    if "workloads" in data:
        table = Table(
            "workload", "parameters (default)", "description", title="workloads", min_width=60
        )
        for w in data["workloads"]:
            params = ", ".join(f"{p['name']}={p['default']}" for p in w["params"])
            table.add_row(w["name"], params, w["doc"].splitlines()[0] if w["doc"] else "")
        console.print(table)
        console.print("details of one workload: kernbench list WORKLOAD")
    if "topologies" in data:
        table = Table("topology", "SIPs", "cubes/SIP", "PEs/cube", "PEs", title="topologies")
        for t in data["topologies"]:
            table.add_row(
                t["name"],
                str(t["num_sips"]),
                f"{t['cube_rows']}x{t['cube_cols']}",
                str(t["pes_per_cube"]),
                str(t["num_pes"]),
            )
        console.print(table)
    return 0


def _list_workload(w, as_json: bool) -> int:
    """Every parameter of one workload with its type, default and doc, in full."""
    if as_json:
        print(json.dumps(_workload_json(w), sort_keys=True))
        return 0
    console = Console(markup=False)
    console.print(Text.assemble((w.name, "bold"), f" (default topology: {w.default_topology})"))
    if w.doc:
        console.print(w.doc, highlight=False)
    table = Table("parameter", "type", "default", "meaning", title="parameters")
    for p in w.params:
        doc = p.doc
        if p.choices is not None:
            doc += f" (one of: {', '.join(str(c) for c in p.choices)})"
        if p.minimum is not None:
            doc += f" (at least {p.minimum})"
        table.add_row(p.name, p.type.__name__, repr(p.default), doc)
    console.print(table)
    console.print(f"e.g. kernbench run {w.name} --set K=V")
    return 0


def _serve_dashboard(store: str | None, port: int, address: str = DEFAULT_ADDRESS) -> int:
    from traces.asv_results import resolve_asv_results
    from traces.store import store_location

    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--store",
        store_location(store),
        "--asv-results",
        str(resolve_asv_results().resolve()),
    ]
    if address != DEFAULT_ADDRESS:
        print(
            f"kernbench: warning: the dashboard listens on {address}: anyone who reaches "
            "this port can read the store",
            file=sys.stderr,
        )
    print(f"serving the dashboard on http://{address}:{port} (Ctrl-C to stop)", flush=True)
    return _run_forwarding_signals(cmd)


def _run_forwarding_signals(cmd: list[str]) -> int:
    """Run `cmd` as a child that shares our fate: SIGINT and SIGTERM sent to this process
    are passed on to it, and we exit when it does (so killing `kernbench dashboard` by its
    pid frees the port). Returns 0 after a forwarded signal, else the child's exit code."""
    import signal

    child = subprocess.Popen(cmd)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            code = child.wait()
        except KeyboardInterrupt:  # a second Ctrl-C before the handler was installed
            child.send_signal(signal.SIGINT)
            code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if received else code


def _cmd_dashboard(args: argparse.Namespace) -> int:
    return _serve_dashboard(args.store, args.port, args.address)


def _key_metrics(metrics, limit: int = 3) -> str:
    """A short text of a run's headline metrics (plain names first, then fitted ones)."""
    plain = [m for m in metrics if "." not in m.name]
    fitted = [
        m for m in metrics if m.name.endswith((".alpha_ns", ".bw_gbs")) and "B." not in m.name
    ]
    return ", ".join(f"{m.name}={format_value(m.value, m.unit)}" for m in (plain + fitted)[:limit])


def _cmd_demo(args: argparse.Namespace) -> int:
    from traces.store import resolve_store
    from traces.suites import load_suite

    outcomes = []
    for entry in load_suite(DEMO_SUITE):
        outcome = run_workload(
            entry.workload, entry.params, topology=entry.topology, store=args.store
        )
        outcomes.append((entry, outcome))
    failed = sum(outcome.status != "ok" for _, outcome in outcomes)
    store = resolve_store(args.store)
    if args.json:
        runs = [outcome.to_json() for _, outcome in outcomes]
        print(json.dumps({"store": str(store), "runs": runs, "failed": failed}, sort_keys=True))
        return 1 if failed else 0
    table = Table("workload", "topology", "status", "key metrics", title="demo suite")
    for entry, outcome in outcomes:
        label = entry.workload + "".join(f" {k}={v}" for k, v in entry.params.items())
        table.add_row(
            label,
            entry.topology,
            outcome.status,
            _key_metrics(outcome.metrics) or (outcome.error or ""),
        )
    console = Console(markup=False)  # errors and parameters are text, not markup
    console.print(table)
    console.print(f"runs stored in {store}; try: kernbench runs --store {store}")
    if args.no_dashboard:
        return 1 if failed else 0
    return _serve_dashboard(args.store, args.port)


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return value


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="run store folder (default: $KERNBENCH_STORE, else ./kernbench_store)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``kernbench: error: runs: argument --limit: ...``."""

    def error(self, message: str):
        verb = self.prog.removeprefix("kernbench").strip()
        where = f"{verb}: " if verb else ""
        hint = f"kernbench {verb} --help" if verb else "kernbench --help"
        self.exit(EXIT_USAGE, f"kernbench: error: {where}{message} (see {hint})\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kernbench",
        description="Simulate kernels and collectives on a multi-die accelerator, trace, compare.",
        epilog=f"Errors exit 2 (usage) or 1 (a failed run or check); Ctrl-C exits 130. "
        f"--debug or {DEBUG_ENV}=1 shows full tracebacks.",
    )
    parser.add_argument("--version", action="version", version=f"kernbench {sim_version()}")
    parser.add_argument(
        "--debug", action="store_true", help=f"full tracebacks on errors (or {DEBUG_ENV}=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="simulate a workload (or a script.py) and record its trace",
        description="Simulate a workload, or run a Python script whose Runtime is traced "
        "(run name = the script's file name), and record its trace in the store.",
        epilog="--json prints one object: {run_id, workload, params, topology, overrides, "
        "sweep_id, status, error, sim_end_ns, wall_s, verified, n_events, n_ops, n_dmas, "
        "metrics: {name: {value, unit}}}; "
        "exit 1 if the run failed or its data did not verify.",
    )
    run.add_argument(
        "workload",
        metavar="WORKLOAD",
        help="workload name (see kernbench list) or path of a script.py",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="K=V",
        help="set a workload parameter, or a topology parameter when K has a dot "
        "(e.g. cube.hbm.bw_gbs=51.2); repeatable, each key once",
    )
    run.add_argument("--topology", help="topology preset name or YAML path")
    run.add_argument(
        "--verify-data",
        action="store_true",
        help="simulate real data and check results against numpy",
    )
    _store_option(run)
    run.add_argument("--no-trace", action="store_true", help="do not record a trace")
    run.add_argument("--json", action="store_true", help="print one JSON object (shape below)")
    run.set_defaults(handler=_cmd_run)

    lst = sub.add_parser(
        "list",
        help="list workloads and topologies, or one workload's parameters",
        description="List workloads and topologies, or every parameter of one workload.",
        epilog="--json prints {workloads: [WORKLOAD], topologies: [{name, num_sips, cube_rows, "
        "cube_cols, pes_per_cube, num_pes}]} (only the part asked for); with a workload name, "
        "one WORKLOAD = {name, doc, default_topology, params: [{name, type, default, doc, "
        "choices, minimum}]}.",
    )
    lst.add_argument(
        "what",
        nargs="?",
        default="all",
        metavar="WHAT",
        help="workloads, topologies, all (default), or a workload name",
    )
    lst.add_argument("--json", action="store_true", help="print JSON (shape below)")
    lst.set_defaults(handler=_cmd_list)

    dash = sub.add_parser(
        "dashboard",
        help=f"serve the dashboard (on {DEFAULT_ADDRESS} unless --address)",
        description="Serve the Streamlit dashboard over the store.",
    )
    _store_option(dash)
    dash.add_argument("--port", type=_port, default=8501, help="TCP port (default 8501)")
    dash.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"address to listen on (default {DEFAULT_ADDRESS}: this machine only; "
        "0.0.0.0 opts in to remote access)",
    )
    dash.set_defaults(handler=_cmd_dashboard)

    demo = sub.add_parser(
        "demo",
        help="run the demo suite, print a summary, serve the dashboard",
        description="Run the demo suite into the store, print a summary, serve the dashboard.",
        epilog="--json prints {store, failed: number of failed runs, runs: [the run --json "
        "object of each run, in suite order]} and serves no dashboard; exit 1 if a run failed.",
    )
    _store_option(demo)
    demo.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    demo.add_argument("--port", type=_port, default=8501, help="dashboard TCP port (8501)")
    demo.add_argument(
        "--json", action="store_true", help="print one JSON object (shape below), no dashboard"
    )
    demo.set_defaults(handler=_cmd_demo)

    register_trace_verbs(sub)
    register_history_verbs(sub)
    register_sweep_verb(sub)
    register_explain_verb(sub)
    for verb in sub.choices.values():
        # `kernbench VERB ... --debug` works too; SUPPRESS keeps the global value.
        verb.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each: ``kernbench: warning: ...`` (no source path)."""
    text = " ".join(str(message).split())
    print(f"kernbench: warning: {text}", file=sys.stderr)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        yield


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return text.splitlines()[0] if text else type(exc).__name__


def _quiet_broken_pipe() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush
    # cannot fail a second time and print "Exception ignored ... BrokenPipeError".
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code (see the module doc)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if debug:
        os.environ[DEBUG_ENV] = "1"  # the runner and the scheduler keep full tracebacks
    with _one_line_warnings():
        try:
            code = args.handler(args)
            sys.stdout.flush()
            return code
        except KeyboardInterrupt:
            if debug:
                raise
            print("kernbench: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            _quiet_broken_pipe()
            return 0
        except Exception as exc:
            if debug:
                raise
            if isinstance(exc, _user_errors()):
                return _error(_first_line(exc))
            return _error(
                f"internal error {type(exc).__name__}: {_first_line(exc)} "
                f"(run with --debug or {DEBUG_ENV}=1 for the traceback)",
                code=1,
            )


if __name__ == "__main__":
    sys.exit(main())
