"""The ``kernbench sweep`` verb: a grid of runs on Dask, a progress bar, a summary table.

Exit codes: 0 every point has an ok run, 1 some point failed, 2 a usage error (bad grid,
unknown key or value, unknown workload or missing script), printed as one ``kernbench:
error: ...`` line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from simulator.hw.topology import TopologyError
from simulator.workloads.registry import WorkloadError, get_workload, parse_sets

if TYPE_CHECKING:  # the sweep machinery is imported by the verb, not at CLI start-up
    from simulator.sweep import PointResult, SweepResult

_HEADLINE_METRICS = 3  # metrics per point in the summary table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweep`` to the main parser's subcommands."""
    sweep = subparsers.add_parser(
        "sweep",
        help="run a workload or a script over the Cartesian product of parameter grids (on Dask)",
        description="Run a workload, or a script.py (its kernbench.param values), once per "
        "point of the grid; every run goes into the store with the sweep's id.",
    )
    sweep.add_argument(
        "workload",
        metavar="WORKLOAD",
        help="workload name (see kernbench list) or path of a script.py",
    )
    sweep.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="K=V",
        help="a value for every point (a key with a dot is a topology parameter); repeatable",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="K=V1,V2,...",
        help="an axis of the grid (workload or dotted topology key); repeatable",
    )
    sweep.add_argument("--grid-file", metavar="FILE.yaml", help="axes as a YAML mapping")
    sweep.add_argument("--topology", help="topology presets or YAML paths, comma-separated")
    sweep.add_argument("--store", help="run store folder or s3://bucket/prefix")
    sweep.add_argument("--jobs", type=int, help="local worker processes (default: cores)")
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler to use, e.g. tcp://host:8786 (default: $KERNBENCH_SCHEDULER, "
        "else a local cluster)",
    )
    sweep.add_argument(
        "--resume", metavar="SWEEP_ID", help="run only the points of this sweep without an ok run"
    )
    sweep.add_argument("--verify-data", action="store_true", help="simulate real data")
    sweep.add_argument("--json", action="store_true", help="print one JSON object")
    sweep.set_defaults(handler=cmd_sweep)


def _error(message: str) -> int:
    print(f"kernbench: error: {message}", file=sys.stderr)
    return 2


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan the points, run them, print a summary (or JSON); exit 0 only if all are ok."""
    from simulator.runner import is_script
    from simulator.sweep import (
        SweepError,
        default_topology,
        expand,
        load_grid_file,
        parse_grid,
        run_name,
        run_sweep,
        stored_points,
    )
    from traces.store import store_location

    try:
        target = args.workload
        if is_script(target):
            if not Path(target).is_file():
                raise SweepError(f"script {target!r} not found")
        else:
            get_workload(target)  # an unknown name fails here, listing the known ones
        if args.jobs is not None and args.jobs < 1:
            raise SweepError(f"--jobs must be >= 1, got {args.jobs}")
        store = store_location(args.store)
        grid = load_grid_file(args.grid_file) if args.grid_file else {}
        grid.update(parse_grid(args.grid))
        topologies = [t.strip() for t in (args.topology or "").split(",") if t.strip()]
        topologies = [str(t) for t in grid.pop("topology", [])] or topologies
        fixed = parse_sets(args.set)
        if args.resume and not grid and not fixed and not topologies:
            points = stored_points(target, store, args.resume)
            if not points:
                raise SweepError(f"no runs of {run_name(target)} in sweep {args.resume} in {store}")
        else:
            points = expand(fixed, grid, topologies or [default_topology(target)])
        progress = _Progress(enabled=not args.json and sys.stderr.isatty(), total=len(points))
        with progress:
            result = run_sweep(
                target,
                points,
                store=store,
                sweep_id=args.resume,
                resume=bool(args.resume),
                scheduler=args.scheduler,
                jobs=args.jobs,
                verify_data=args.verify_data,
                on_result=progress.update,
            )
    except (SweepError, WorkloadError, TopologyError, OSError) as exc:
        return _error(str(exc))
    if args.json:
        print(json.dumps(result.to_json(), sort_keys=True, default=str))
    else:
        _print_summary(result, store)
    return 0 if result.ok else 1


class _Progress:
    """A rich progress bar on stderr: points done / failed / left and an ETA."""

    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("sweep"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} done, {task.fields[failed]} failed"),
            TextColumn("{task.fields[left]} left"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.progress.add_task("sweep", total=total, failed=0, left=total)
        self.total = total

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, result: PointResult, done: int, failed: int, total: int) -> None:
        # Skipped points (resume) are not submitted: the bar counts only submitted ones.
        self.progress.update(self.task, completed=done, total=total, failed=failed)
        self.progress.update(self.task, left=total - done)


def _print_summary(result: SweepResult, store: str) -> None:
    console = Console(markup=False)  # parameter values and errors are text, not markup
    if not console.is_terminal:
        console = Console(markup=False, width=200)
    keys = result.swept or sorted({k for r in result.results for k in r.point.values})
    table = Table("#", *keys, "status", "run", "headline metrics", title=f"sweep {result.sweep_id}")
    for r in result.results:
        cells = [
            r.point.topology if k == "topology" else str(r.point.values.get(k, "")) for k in keys
        ]
        metrics = [(n, m) for n, m in r.metrics.items() if "." not in n][:_HEADLINE_METRICS]
        shown = ", ".join(f"{n}={_number(m['value'])} {m['unit']}" for n, m in metrics)
        if not shown and r.status == "ok" and r.sim_end_ns is not None:  # a script's, say
            shown = f"simulated end {_number(r.sim_end_ns)} ns"
        run = r.run_id or ""
        table.add_row(str(r.point.index), *cells, r.status, run, shown or (r.error or ""))
    console.print(table)
    counts = result.to_json()
    console.print(
        f"{counts['n_ok']} ok, {counts['n_failed']} failed, {counts['n_skipped']} skipped "
        f"(already ok) in {result.wall_s:.1f} s; runs in {store}, sweep id {result.sweep_id}"
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
