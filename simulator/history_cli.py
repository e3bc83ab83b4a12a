"""`kernbench history` and `kernbench check`: the suite over commits, and the regression gate.

``kernbench history REV_RANGE`` runs a named workload suite (``traces/suites.yaml``) at
every commit of a git revision range into a run store (simulator.history) and prints
the change points; ``kernbench check --baseline REV`` compares the suite's runs at two
commits (traces.verdicts) and exits non-zero when a metric regressed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from xml.etree import ElementTree

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.history import RUN_TIMEOUT_S, Attempt, run_history
from traces.atomic import atomic_write
from traces.changepoints import MetricChange, suite_change_points
from traces.gitinfo import GitError, commit_subjects, commits_in_range, resolve_commit
from traces.layout import resolve_store
from traces.suites import DEFAULT_SUITE, SUITES_FILE, MissingRunsError, SuiteError, load_suite
from traces.verdicts import DEFAULT_THRESHOLD_PCT, IMPROVED, REGRESSED, SAME, compare_suite

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2
_SHORT = 10  # characters of a commit hash in tables and messages
_PIPE_WIDTH = 200  # console width when stdout is not a terminal

HISTORY_JSON = (
    "--json prints {suite, store, commits: [{commit, subject, ok, skipped, failed}], "
    "attempts: [{commit, workload, params, topology, status, run_id, message}], "
    "change_points: [{workload, params, topology, metric, unit, commit, before, after, "
    "change_pct}]}; exit 1 if a run failed."
)
CHECK_JSON = (
    "--json prints {suite, baseline, head, threshold_pct, regressed, metrics: [{workload, "
    "params, topology, metric, unit, better, baseline, head, change_pct, verdict}]} (every "
    "metric, unchanged ones too); --junit FILE writes JUnit XML, one test case per metric, "
    "a failure per regression. Exit 1 on a regression, 2 when runs are missing."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `history` and `check` to an argparse subparsers object."""
    history = subparsers.add_parser(
        "history",
        help="run a workload suite at each commit of a git range into the store",
        epilog=HISTORY_JSON,
    )
    history.add_argument("rev_range", metavar="REV_RANGE", help="e.g. main~5..main, or C^! alone")
    _common_options(history)
    history.add_argument(
        "--jobs", type=int, default=1, metavar="N",
        help="suite runs at once, on a local Dask cluster of N workers when N > 1",
    )  # fmt: skip
    history.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask cluster, e.g. tcp://host:8786 (default: $KERNBENCH_SCHEDULER); "
        "its workers must see the repository and the store at the same paths",
    )
    history.add_argument(
        "--timeout",
        type=float,
        default=RUN_TIMEOUT_S,
        metavar="S",
        help=f"seconds one run may take (default {RUN_TIMEOUT_S:.0f})",
    )
    history.add_argument("--json", action="store_true", help="print one JSON document")
    # simulator.cli dispatches on `handler`, traces.cli on `func`: set both.
    history.set_defaults(func=cmd_history, handler=cmd_history)

    check = subparsers.add_parser(
        "check",
        help="fail when a suite metric regressed against a baseline commit",
        epilog=CHECK_JSON,
    )
    check.add_argument("--baseline", required=True, metavar="REV", help="commit to compare with")
    check.add_argument("--head", default="HEAD", metavar="REV", help="commit checked (HEAD)")
    check.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD_PCT,
        metavar="PCT",
        help=f"percent a metric may worsen before failing (default {DEFAULT_THRESHOLD_PCT:g})",
    )
    _common_options(check)
    check.add_argument("--all", action="store_true", help="list unchanged metrics too")
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument(
        "--junit", metavar="FILE", help="also write the verdicts as JUnit XML for CI systems"
    )
    check.set_defaults(func=cmd_check, handler=cmd_check)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suite", default=DEFAULT_SUITE, metavar="NAME", help=f"suite (default {DEFAULT_SUITE})"
    )
    parser.add_argument(
        "--suites-file",
        default=str(SUITES_FILE),
        metavar="FILE",
        help="YAML file of suites (default: the one shipped in traces/)",
    )
    parser.add_argument(
        "--store", metavar="DIR", default=None, help="run store (default: $KERNBENCH_STORE)"
    )
    parser.add_argument("--repo", metavar="DIR", default=".", help="git repository (default .)")


def _duckdb_error() -> type[Exception]:
    """duckdb.Error, imported when an error is handled (not at CLI start-up)."""
    import duckdb

    return duckdb.Error


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPE_WIDTH)
    return console


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.1f}"


def _percent(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 0.005:  # deterministic: even rounding noise is shown
        return f"{value:+.1e}%"
    return f"{value:+.2f}%"


def _error(message: str) -> int:
    print(f"kernbench: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_history(args: argparse.Namespace) -> int:
    """Run the suite over REV_RANGE, print what ran and the change points; 1 if any run failed."""
    try:
        entries = load_suite(args.suite, args.suites_file)
        commits = commits_in_range(args.repo, args.rev_range)
        subjects = commit_subjects(args.repo, commits)
        store_root = resolve_store(args.store).resolve()
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with progress:
            task = progress.add_task("history", total=len(commits) * len(entries))

            def advance(attempt: Attempt) -> None:
                done = f"{attempt.commit[:_SHORT]} {attempt.entry.workload}: {attempt.status}"
                progress.update(task, advance=1, description=done)

            attempts = run_history(
                args.repo,
                commits,
                entries,
                store_root,
                jobs=args.jobs,
                scheduler=args.scheduler,
                timeout_s=args.timeout,
                on_attempt=advance,
            )
        changes = suite_change_points(store_root, entries, commits)
    except (GitError, SuiteError, _duckdb_error(), OSError) as exc:
        return _error(str(exc))

    problems = [a for a in attempts if a.status in ("failed", "error")]
    if args.json:
        _print_json(_history_json(args.suite, store_root, commits, subjects, attempts, changes))
        return 1 if problems else EXIT_OK
    console = _console()
    table = Table("commit", "subject", "ran", "skipped", "failed", title=f"suite {args.suite}")
    table.title_justify = "left"
    for commit in commits:
        mine = [a for a in attempts if a.commit == commit]
        count = {s: sum(a.status == s for a in mine) for s in ("ok", "skipped", "failed", "error")}
        table.add_row(
            commit[:_SHORT],
            escape(subjects.get(commit, "")),
            str(count["ok"]),
            str(count["skipped"]),
            str(count["failed"] + count["error"]),
        )
    console.print(table)
    if problems:
        failed = Table("commit", "workload", "params", "status", "message", title="failures")
        failed.title_justify = "left"
        for a in problems:
            failed.add_row(
                a.commit[:_SHORT],
                a.entry.workload,
                escape(a.entry.params_text),
                a.status,
                escape(a.message or ""),
            )
        console.print(failed)
    _print_change_points(console, changes, subjects, len(commits))
    console.print(f"store: {escape(str(store_root))}")
    return 1 if problems else EXIT_OK


def _print_change_points(
    console: Console, changes: list[MetricChange], subjects: dict[str, str], n_commits: int
) -> None:
    if not changes:
        console.print(f"no change points over {n_commits} commits")
        return
    table = Table(
        "workload",
        "params",
        "metric",
        "commit",
        "before",
        "after",
        "change %",
        title="change points",
    )
    table.title_justify = "left"
    for c in changes:
        subject = subjects.get(c.commit, "")
        table.add_row(
            c.entry.workload,
            escape(c.entry.params_text),
            escape(c.metric),
            escape(f"{c.commit[:_SHORT]} {subject}".strip()),
            _number(c.before),
            _number(c.after),
            _percent(c.change_pct),
        )
    console.print(table)


def cmd_check(args: argparse.Namespace) -> int:
    """Compare the suite at --head with --baseline; 1 on a regression, 2 on missing runs."""
    if not args.threshold >= 0:
        return _error(f"--threshold must be a percentage >= 0, got {args.threshold}")
    try:
        entries = load_suite(args.suite, args.suites_file)
        baseline = resolve_commit(args.repo, args.baseline)
        head = resolve_commit(args.repo, args.head)
        store_root = resolve_store(args.store).resolve()
        rows = compare_suite(store_root, entries, baseline, head)
    except MissingRunsError as exc:
        commits = dict.fromkeys(commit for commit, _, _ in exc.missing)
        commands = [
            f"kernbench history {commit[:_SHORT]}^! --suite {args.suite} --store {store_root}"
            + ("" if args.repo == "." else f" --repo {args.repo}")
            for commit in commits
        ]
        return _error(f"{exc}; run first: " + "; ".join(commands))
    except (GitError, SuiteError, _duckdb_error(), OSError) as exc:
        return _error(str(exc))

    threshold = args.threshold
    regressions = [r for r in rows if r.regressed(threshold)]
    document = _check_json(args.suite, baseline, head, threshold, rows)
    if args.junit:
        _write_junit(args.junit, document)
    if args.json:
        _print_json(document)
        return EXIT_REGRESSION if regressions else EXIT_OK
    console = _console()
    shown = [r for r in rows if args.all or r.verdict(threshold) != SAME]
    title = f"suite {args.suite}: head {head[:_SHORT]} against baseline {baseline[:_SHORT]}"
    table = Table("workload", "params", "metric", "unit", "baseline", "head", "change %", "verdict")
    table.title = title
    table.title_justify = "left"
    for r in shown:
        verdict = r.verdict(threshold)
        style = {REGRESSED: "bold red", IMPROVED: "green"}.get(verdict, "")
        table.add_row(
            r.entry.workload,
            escape(r.entry.params_text),
            escape(r.metric),
            escape(r.unit),
            _number(r.baseline),
            _number(r.head),
            _percent(r.change_pct),
            f"[{style}]{verdict}[/{style}]" if style else verdict,
        )
    if shown:
        console.print(table)
    changed = sum(r.verdict(threshold) != SAME for r in rows)
    console.print(
        f"{len(rows)} metrics of {len(entries)} runs compared: {changed} changed, "
        f"{len(regressions)} regressed past {threshold:g}%"
    )
    if regressions:
        console.print(f"[bold red]REGRESSION[/bold red] against {baseline[:_SHORT]}")
        return EXIT_REGRESSION
    return EXIT_OK


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _print_json(document: object) -> None:
    print(json.dumps(document, sort_keys=True))


def _history_json(suite, store_root, commits, subjects, attempts, changes) -> dict:
    """The `history --json` document (HISTORY_JSON)."""
    per_commit = []
    for commit in commits:
        mine = [a for a in attempts if a.commit == commit]
        per_commit.append(
            {
                "commit": commit,
                "subject": subjects.get(commit, ""),
                "ok": sum(a.status == "ok" for a in mine),
                "skipped": sum(a.status == "skipped" for a in mine),
                "failed": sum(a.status in ("failed", "error") for a in mine),
            }
        )
    return {
        "suite": suite,
        "store": str(store_root),
        "commits": per_commit,
        "attempts": [
            {
                "commit": a.commit,
                "workload": a.entry.workload,
                "params": a.entry.params,
                "topology": a.entry.topology,
                "status": a.status,
                "run_id": a.run_id,
                "message": a.message,
            }
            for a in attempts
        ],
        "change_points": [
            {
                "workload": c.entry.workload,
                "params": c.entry.params,
                "topology": c.entry.topology,
                "metric": c.metric,
                "unit": c.unit,
                "commit": c.commit,
                "before": c.before,
                "after": c.after,
                "change_pct": _finite(c.change_pct),
            }
            for c in changes
        ],
    }


def _check_json(suite: str, baseline: str, head: str, threshold: float, rows) -> dict:
    """The `check --json` document (CHECK_JSON)."""
    return {
        "suite": suite,
        "baseline": baseline,
        "head": head,
        "threshold_pct": threshold,
        "regressed": any(r.regressed(threshold) for r in rows),
        "metrics": [
            {
                "workload": r.entry.workload,
                "params": r.entry.params,
                "topology": r.entry.topology,
                "metric": r.metric,
                "unit": r.unit,
                "better": r.better,
                "baseline": r.baseline,
                "head": r.head,
                "change_pct": _finite(r.change_pct),
                "verdict": r.verdict(threshold),
            }
            for r in rows
        ],
    }


def _write_junit(path: str, document: dict) -> None:
    """JUnit XML of a check: one test case per metric, a <failure> per regression.

    Written atomically (a CI system never reads half a file).
    """
    metrics = document["metrics"]
    failures = [m for m in metrics if m["verdict"] == REGRESSED]
    suite = ElementTree.Element(
        "testsuite",
        name=f"kernbench check {document['suite']}",
        tests=str(len(metrics)),
        failures=str(len(failures)),
        errors="0",
        skipped="0",
    )
    properties = ElementTree.SubElement(suite, "properties")
    for key in ("baseline", "head", "threshold_pct"):
        ElementTree.SubElement(properties, "property", name=key, value=str(document[key]))
    for m in metrics:
        params = " ".join(f"{k}={v}" for k, v in m["params"].items()) or "defaults"
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"{m['workload']}[{params} on {m['topology']}]",
            name=m["metric"],
        )
        text = (
            f"{m['metric']}: {m['baseline']} -> {m['head']} {m['unit']} "
            f"({m['change_pct']:+.3f}% , better: {m['better']})"
            if m["change_pct"] is not None
            else f"{m['metric']}: {m['baseline']} -> {m['head']} {m['unit']}"
        )
        if m["verdict"] == REGRESSED:
            failure = ElementTree.SubElement(
                case, "failure", message=f"regressed past {document['threshold_pct']:g}%"
            )
            failure.text = text
        else:
            ElementTree.SubElement(case, "system-out").text = f"{m['verdict']}: {text}"
    tree = ElementTree.ElementTree(ElementTree.Element("testsuites"))
    tree.getroot().append(suite)
    ElementTree.indent(tree)
    with atomic_write(path) as out:
        tree.write(out, encoding="unicode", xml_declaration=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulator.history_cli {history,check} ...`: these two verbs alone."""
    parser = argparse.ArgumentParser(prog="kernbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
