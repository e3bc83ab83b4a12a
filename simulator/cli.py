"""The ``kernbench`` command line (contract: verbs and flags are only ever added).

``run`` and ``list`` live here; the trace verbs (``runs``, ``report``, ``sql``,
``compare``, ``export``) come from ``traces.cli``. Errors a user can cause print one
line, ``kernbench: error: ...``, and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simulator.history_cli import register as register_history_verbs
from simulator.hw.topology import TopologyError, list_topologies
from simulator.runner import run_workload
from simulator.sweep_cli import register as register_sweep_verb
from simulator.workloads.registry import WorkloadError, list_workloads
from traces.cli import register as register_trace_verbs

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
DEMO_SUITE = (
    ("noop", {}, "default"),
    ("noop", {"barrier": "false"}, "sip4x4"),
    ("dma_sweep", {}, "default"),
    ("gemm_single_pe", {"M": "256", "N": "256", "K": "256"}, "default"),
    ("gemm", {}, "default"),
    ("ccl_allreduce", {"algorithm": "hierarchical", "world_size": "32"}, "default"),
    ("ccl_allreduce", {"algorithm": "ring", "world_size": "8"}, "default"),
    ("tp_mlp", {}, "default"),
)


def _error(message: str, code: int = 2) -> int:
    print(f"kernbench: error: {message}", file=sys.stderr)
    return code


def _parse_sets(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WorkloadError(f"--set expects K=V, got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        outcome = run_workload(
            args.workload,
            _parse_sets(args.set),
            topology=args.topology,
            verify_data=args.verify_data,
            store=args.store,
            trace=not args.no_trace,
            progress=sys.stderr.isatty() and not args.json,
        )
    except (WorkloadError, TopologyError, ValueError) as exc:
        return _error(str(exc))
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
    console = Console()
    verified = {None: "not checked", True: "yes", False: "NO"}[outcome.verified]
    console.print(
        f"[bold]{outcome.workload}[/bold] on {outcome.topology}: {outcome.status}, "
        f"simulated {outcome.sim_end_ns:,.1f} ns in {outcome.wall_s:.2f} s wall, "
        f"verified: {verified}, run {outcome.run_id or '(not traced)'}"
    )
    if outcome.metrics:
        table = Table("metric", "value", "unit")
        for m in outcome.metrics:
            table.add_row(m.name, _number(m.value), m.unit)
        console.print(table)


def _cmd_list(args: argparse.Namespace) -> int:
    console = Console()
    if args.what in ("workloads", "all"):
        table = Table("workload", "parameters (default)", "description", title="workloads")
        for w in list_workloads():
            params = ", ".join(f"{p.name}={p.default}" for p in w.params)
            table.add_row(w.name, params, w.doc.splitlines()[0] if w.doc else "")
        console.print(table)
    if args.what in ("topologies", "all"):
        from simulator.hw.topology import load_topology

        table = Table("topology", "SIPs", "cubes/SIP", "PEs/cube", "PEs", title="topologies")
        for name in list_topologies():
            t = load_topology(name)
            table.add_row(
                name,
                str(t.num_sips),
                f"{t.cube_rows}x{t.cube_cols}",
                str(t.pes_per_cube),
                str(t.num_pes),
            )
        console.print(table)
    return 0


def _serve_dashboard(store: str | None, port: int) -> int:
    from traces.asv_results import resolve_asv_results
    from traces.store import store_location

    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.address",
        "127.0.0.1",
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
    print(f"serving the dashboard on http://127.0.0.1:{port} (Ctrl-C to stop)")
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    return _serve_dashboard(args.store, args.port)


def _key_metrics(metrics, limit: int = 3) -> str:
    """A short text of a run's headline metrics (plain names first, then fitted ones)."""
    plain = [m for m in metrics if "." not in m.name]
    fitted = [
        m for m in metrics if m.name.endswith((".alpha_ns", ".bw_gbs")) and "B." not in m.name
    ]
    return ", ".join(f"{m.name}={_number(m.value)} {m.unit}" for m in (plain + fitted)[:limit])


def _number(value: float) -> str:
    """Thousands separators for large values, 4 significant digits for small ones."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _cmd_demo(args: argparse.Namespace) -> int:
    from traces.store import resolve_store

    console = Console()
    failed = 0
    table = Table("workload", "topology", "status", "key metrics", title="demo suite")
    for name, overrides, topology in DEMO_SUITE:
        outcome = run_workload(name, overrides, topology=topology, store=args.store)
        failed += outcome.status != "ok"
        label = name + "".join(f" {k}={v}" for k, v in overrides.items())
        table.add_row(
            label, topology, outcome.status, _key_metrics(outcome.metrics) or (outcome.error or "")
        )
    console.print(table)
    store = resolve_store(args.store)
    console.print(f"runs stored in {store}; try: kernbench runs --store {store}")
    if args.no_dashboard:
        return 1 if failed else 0
    return _serve_dashboard(args.store, args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernbench",
        description="Simulate kernels and collectives on a multi-die accelerator, trace, compare.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate a workload and record its trace")
    run.add_argument("workload")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="K=V",
        help="set a workload parameter, or a topology parameter when K has a dot "
        "(e.g. cube.hbm.bw_gbs=51.2); repeatable",
    )
    run.add_argument("--topology", help="topology preset name or YAML path")
    run.add_argument(
        "--verify-data",
        action="store_true",
        help="simulate real data and check results against numpy",
    )
    run.add_argument(
        "--store", help="run store folder (default: $KERNBENCH_STORE or ./kernbench_store)"
    )
    run.add_argument("--no-trace", action="store_true", help="do not record a trace")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(handler=_cmd_run)

    lst = sub.add_parser("list", help="list workloads and topologies")
    lst.add_argument("what", nargs="?", default="all", choices=("workloads", "topologies", "all"))
    lst.set_defaults(handler=_cmd_list)

    dash = sub.add_parser("dashboard", help="serve the dashboard on 127.0.0.1")
    dash.add_argument("--store")
    dash.add_argument("--port", type=int, default=8501)
    dash.set_defaults(handler=_cmd_dashboard)

    demo = sub.add_parser("demo", help="run the demo suite, print a summary, serve the dashboard")
    demo.add_argument("--store")
    demo.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    demo.add_argument("--port", type=int, default=8501)
    demo.set_defaults(handler=_cmd_demo)

    register_trace_verbs(sub)
    register_history_verbs(sub)
    register_sweep_verb(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
