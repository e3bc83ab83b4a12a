"""`kernbench explain RUN [RUN_B] [--json]`: a run's critical path, or how two differ.

With one run: the components of its critical path with their share of the latency, the
longest stretches of the path, and one sentence. With two: latency_a, latency_b,
delta_ns and the per-component contributions to it (sorted by |delta_ns|, summing to
delta_ns), and where the two paths first diverge. Errors a user can cause (unknown run,
a run recorded before the ``deps`` table) print one ``kernbench: error:`` line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

# The trace verbs' shared conventions: --store, RUN references, the one-line error path.
from traces.cli import RUN_HELP, _store, _store_option, _user_errors

if TYPE_CHECKING:  # imported where used: numpy and DuckDB stay out of CLI start-up
    from traces.critical_path import CriticalPath

_PIPE_WIDTH = 200
# What "latency" spans, by --kernels.
_WINDOWS = {
    "run": "the whole run, host copies included; --kernels for the kernels alone",
    "kernels": "kernels only: first launch's host issue to last launch's end",
    "launch": "one launch: its host issue to its end",
}


# The --json documents, as --help shows them (tests/test_explain_cli.py holds the
# output to exactly these keys). Times in ns of simulated time, shares as fractions.
JSON_SHAPES = """\
--json, one run (times in ns, shares as fractions of latency_ns):
  {run_id, latency_ns, window, window_start_ns, n_segments, summary,
   components: [{component, ns, share}, ...]  (largest first, ns summing to latency_ns),
   longest: [{component, where, start_ns, end_ns, duration_ns, items, resource}, ...]}
  (start_ns and end_ns count from the window's start: add window_start_ns for the
  trace's own times)
--json with RUN_B (delta = b - a):
  {run_a, run_b, latency_a, latency_b, delta_ns, window,
   contributions: [{component, delta_ns, share}, ...]  (by |delta_ns|, summing to delta_ns),
   diverge: null | {index, reason, a: SEGMENT | null, b: SEGMENT | null}}
  SEGMENT: {start_ns, end_ns, duration_ns, component, item, item_id, where, what, resource}
window is 'run', 'kernels' (--kernels) or 'launch N' (--launch N). Components: GEMM,
MATH, DMA <kind> (the kind of link or memory that bound the transfer: hbm, tcm, sram,
pe_link, mesh_link, io_link, ...), host copy <kind>, launch path, collective wait, TCM
wait, host.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` verb to an argparse subparsers object."""
    explain = subparsers.add_parser(
        "explain",
        help="critical path of a run, or what changed it between two runs",
        description="The critical path of RUN (the chain of waits that set its latency) "
        "by component, or how RUN_B's differs from RUN's.",
        epilog=JSON_SHAPES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _store_option(explain)
    explain.add_argument("run", metavar="RUN", help=RUN_HELP)
    explain.add_argument(
        "run_b", metavar="RUN_B", nargs="?", help="second run: explain its latency minus RUN's"
    )
    explain.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (shapes below)",
    )
    explain.add_argument(
        "--kernels",
        action="store_true",
        help="explain only the kernels: the path from the first launch's host issue to the "
        "last launch's end, without the host copies before and after (latency_ns is then "
        "that span)",
    )
    explain.add_argument(
        "--launch",
        type=int,
        metavar="ID",
        help="explain one launch: the path from its host issue to its end (an autotuned "
        "kernel's chosen launch, say, without its tuning launches; ids in `kernbench sql "
        '"SELECT launch_id, kernel FROM launches"`)',
    )
    explain.add_argument(
        "--top", type=int, default=5, metavar="N", help="longest stretches shown (default 5)"
    )
    explain.set_defaults(handler=cmd_explain)


@_user_errors
def cmd_explain(args: argparse.Namespace) -> int:
    """Print the critical path of RUN, or the difference of RUN and RUN_B's paths."""
    store = _store(args)
    if args.launch is not None and args.kernels:
        raise ValueError("explain: give --kernels or --launch ID, not both")
    run_a = store.resolve_run(args.run)
    path_a, start_ns = _path(store, run_a, args.kernels, args.launch)
    if args.run_b is None:
        result = path_json(path_a, args.top)
        result["window_start_ns"] = start_ns
    else:
        from traces import queries
        from traces.critical_path import path_diff
        from traces.likeness import run_differences

        run_b = store.resolve_run(args.run_b)
        con = store.connect()
        headers = [queries.run_header(con, r).to_pylist()[0] for r in (run_a, run_b)]
        for note in run_differences(*headers):  # as compare warns
            print(f"kernbench: warning: runs are not like for like: {note}", file=sys.stderr)
        path_b, _ = _path(store, run_b, args.kernels, args.launch)
        result = path_diff(path_a, path_b)
    result["window"] = ("kernels" if args.kernels else "run" if args.launch is None
                        else f"launch {args.launch}")  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.run_b is None:
        _print_path(result)
    else:
        _print_diff(result)
    return 0


def _path(store: Any, run_id: str, kernels_only: bool = False,
          launch_id: int | None = None) -> tuple[CriticalPath, float]:  # fmt: skip
    """The run's critical path within the window asked for, and where that window starts
    (ns of simulated time: the path's times count from there)."""
    from traces.critical_path import critical_path, kernel_window

    path = critical_path(store, run_id)
    if not kernels_only and launch_id is None:
        return path, 0.0
    window = kernel_window(store, run_id, launch_id)
    if window is None:
        what = "--kernels" if launch_id is None else f"--launch {launch_id}"
        raise ValueError(f"run {run_id} has no such launch: {what} has nothing to explain "
                         "(its launches: kernbench sql \"SELECT launch_id, kernel FROM "
                         "launches\")")  # fmt: skip
    return path.within(*window), window[0]


def path_json(path: CriticalPath, top: int = 5) -> dict[str, Any]:
    """The JSON form of a path: run_id, latency_ns, components [{component, ns, share}]
    (largest first), longest stretches, the sentence and the number of segments."""
    from traces.critical_path import summary_sentence

    latency = path.latency_ns
    return {
        "run_id": path.run_id,
        "latency_ns": latency,
        "components": [
            {"component": c, "ns": ns, "share": ns / latency if latency else 0.0}
            for c, ns in path.components().items()
        ],
        "longest": path.longest_stretches(top),
        "summary": summary_sentence(path),
        "n_segments": len(path.segments),
    }


def _console() -> Console:
    """Strings print as they are (names and paths are data, not markup)."""
    console = Console(markup=False)
    return console if console.is_terminal else Console(markup=False, width=_PIPE_WIDTH)


def _ns(value: float) -> str:
    return f"{value:,.1f}"


def _print_path(result: dict[str, Any]) -> None:
    console = _console()
    console.print(
        f"run {result['run_id']}: latency {_ns(result['latency_ns'])} ns "
        f"({_WINDOWS[result['window'].split()[0]]})"
    )
    if result["window_start_ns"]:
        console.print(f"times below count from the window's start, "
                      f"{_ns(result['window_start_ns'])} ns into the run")  # fmt: skip
    table = Table(title="critical path by component", title_justify="left")
    for name, justify in (("component", "left"), ("ns", "right"), ("share", "right")):
        table.add_column(name, justify=justify)
    for row in result["components"]:
        table.add_row(row["component"], _ns(row["ns"]), f"{100 * row['share']:.1f}%")
    console.print(table)
    longest = Table(title="longest stretches", title_justify="left")
    for name in ("component", "where", "bound by", "start_ns", "end_ns", "duration_ns", "items"):
        left = name in ("component", "where", "bound by")
        longest.add_column(name, justify="left" if left else "right")
    for row in result["longest"]:
        longest.add_row(row["component"], row["where"], row["resource"], _ns(row["start_ns"]),
                        _ns(row["end_ns"]), _ns(row["duration_ns"]), str(row["items"]))  # fmt: skip
    console.print(longest)
    console.print(result["summary"])


def _print_diff(result: dict[str, Any]) -> None:
    console = _console()
    console.print(f"a = {result['run_a']}\nb = {result['run_b']}  (delta = b - a)")
    console.print(f"latency: {_WINDOWS[result['window'].split()[0]]}")
    console.print(
        f"latency a {_ns(result['latency_a'])} ns, b {_ns(result['latency_b'])} ns, "
        f"delta {_ns(result['delta_ns'])} ns"
    )
    table = Table(title="contributions to delta_ns", title_justify="left")
    for name, justify in (("component", "left"), ("delta_ns", "right"), ("share", "right")):
        table.add_column(name, justify=justify)
    for row in result["contributions"]:
        table.add_row(row["component"], _ns(row["delta_ns"]), f"{100 * row['share']:.1f}%")
    console.print(table)
    diverge = result["diverge"]
    if diverge is None:
        console.print("the two paths are the same item for item")
        return
    parts = []
    for side in ("a", "b"):
        seg = diverge[side]
        if seg is not None:
            parts.append(
                f"{side}: {seg['what']} on {seg['where']} at {_ns(seg['start_ns'])} ns "
                f"({_ns(seg['duration_ns'])} ns)"
            )
    console.print(f"paths first diverge ({diverge['reason']}): " + "; ".join(parts))
