"""Cross-commit history of simulated metrics, and a regression gate on it.

``kernbench history REV_RANGE`` runs a named workload suite (``traces/suites.yaml``) at
every commit of a git revision range into a run store; ``kernbench check --baseline REV``
compares the suite's runs at two commits and exits non-zero when a metric regressed.

Each commit runs from its own git worktree (a detached checkout in a temporary folder)
with the current interpreter: ``python -m simulator.cli run ... --json --store STORE``
with ``cwd`` and ``PYTHONPATH`` set to the worktree and ``$KERNBENCH_COMMIT`` to the
commit, so the commit's own simulator runs (checked per commit before anything runs)
and its runs are recorded under that commit. ``traces`` never imports the simulator;
it only starts it.

One (commit, suite entry) ends in one of these states:

1. ``skipped``: an ok run of it is already in the store; nothing runs.
2. ``ok``: it ran and the run is in the store.
3. ``failed``: it ran and failed; the simulator recorded the failed run in the store.
4. ``error``: it could not run (the commit lacks the workload or a parameter, its code
   does not import, a timeout); nothing is in the store, the message says why.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from traces.changepoints import change_points
from traces.gitinfo import COMMIT_ENV
from traces.layout import STORE_ENV, resolve_store
from traces.views import open_connection

SUITES_FILE = Path(__file__).with_name("suites.yaml")
DEFAULT_SUITE = "smoke"
DEFAULT_TOPOLOGY = "default"
DEFAULT_THRESHOLD_PCT = 1.0
RUN_TIMEOUT_S = 900.0  # one suite run at one commit; suites are meant to be small
EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2
_SHORT = 10  # characters of a commit hash in tables and messages
_PIPE_WIDTH = 200  # console width when stdout is not a terminal
_ENTRY_KEYS = ("workload", "params", "topology")


class HistoryError(Exception):
    """Bad input a user can fix (suite file, revision, repository); the message says what."""


class MissingRunsError(HistoryError):
    """The store lacks ok suite runs at a commit.

    ``missing`` lists (commit, entry, reason) for each absent run; reason is "missing"
    or "failed in run RUN_ID: ERROR".
    """

    def __init__(self, missing: list[tuple[str, SuiteEntry, str]]):
        self.missing = missing
        by_commit: dict[str, list[str]] = {}
        for commit, entry, reason in missing:
            by_commit.setdefault(commit, []).append(f"{entry.label} {reason}")
        parts = [f"at {commit[:_SHORT]}: {', '.join(runs)}" for commit, runs in by_commit.items()]
        super().__init__("no ok suite runs " + "; ".join(parts))


# --- suites ------------------------------------------------------------------------------


def _cli_value(value: Any) -> str:
    """A parameter value as `--set K=V` spells it (bools as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class SuiteEntry:
    """One run of a suite: a workload, the parameters it sets, and a topology."""

    workload: str
    params: dict[str, Any] = field(default_factory=dict)
    topology: str = DEFAULT_TOPOLOGY

    @property
    def params_text(self) -> str:
        """The set parameters as `K=V K=V` ("defaults" when none), plus a non-default topology."""
        text = " ".join(f"{k}={_cli_value(v)}" for k, v in self.params.items()) or "defaults"
        if self.topology != DEFAULT_TOPOLOGY:
            text += f" on {self.topology}"
        return text

    @property
    def label(self) -> str:
        """`workload (params)`, for messages."""
        return f"{self.workload} ({self.params_text})"

    def run_args(self) -> list[str]:
        """Arguments of `kernbench run` for this entry (without --json and --store)."""
        args = ["run", self.workload]
        for key, value in self.params.items():
            args += ["--set", f"{key}={_cli_value(value)}"]
        return [*args, "--topology", self.topology]

    def matches(self, workload: str, topology: str, params: dict[str, Any]) -> bool:
        """Whether a run of `workload` on `topology` with (resolved) `params` is this entry.

        Values compare as `--set` spells them, so `M: 256` matches a stored 256 or "256".
        """
        if workload != self.workload or topology != self.topology:
            return False
        return all(
            key in params and _cli_value(params[key]) == _cli_value(value)
            for key, value in self.params.items()
        )


def load_suites(path: str | Path = SUITES_FILE) -> dict[str, list[SuiteEntry]]:
    """Every suite of a suites YAML file, by name.

    Raises HistoryError naming the file, suite, entry and key of anything malformed.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HistoryError(f"cannot read suites file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise HistoryError(f"suites file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise HistoryError(f"suites file {path}: expected a mapping of suite name -> suite")
    return {str(name): _parse_suite(path, str(name), suite) for name, suite in data.items()}


def _parse_suite(path: Path, name: str, suite: Any) -> list[SuiteEntry]:
    where = f"suites file {path}: suite {name!r}"
    if not isinstance(suite, dict) or not isinstance(suite.get("runs"), list) or not suite["runs"]:
        raise HistoryError(f"{where}: expected a mapping with a non-empty list 'runs'")
    unknown = set(suite) - {"description", "runs"}
    if unknown:
        raise HistoryError(f"{where}: unknown key {sorted(unknown)[0]!r}; valid: description, runs")
    entries = []
    for number, run in enumerate(suite["runs"], start=1):
        at = f"{where} run {number}"
        if not isinstance(run, dict) or not isinstance(run.get("workload"), str):
            raise HistoryError(f"{at}: expected a mapping with a string 'workload'")
        unknown = set(run) - set(_ENTRY_KEYS)
        if unknown:
            key = sorted(unknown)[0]
            raise HistoryError(f"{at}: unknown key {key!r}; valid: {', '.join(_ENTRY_KEYS)}")
        params = run.get("params") or {}
        if not isinstance(params, dict):
            raise HistoryError(f"{at}: 'params' must be a mapping of parameter -> value")
        for key, value in params.items():
            if not isinstance(value, str | int | float | bool):
                raise HistoryError(f"{at}: params.{key} must be a number, bool or string")
        topology = run.get("topology", DEFAULT_TOPOLOGY)
        if not isinstance(topology, str):
            raise HistoryError(f"{at}: 'topology' must be a topology name")
        entries.append(
            SuiteEntry(run["workload"], {str(k): v for k, v in params.items()}, topology)
        )
    return entries


def load_suite(name: str, path: str | Path = SUITES_FILE) -> list[SuiteEntry]:
    """The entries of suite `name`; raises HistoryError listing the suites that exist."""
    suites = load_suites(path)
    if name not in suites:
        raise HistoryError(f"no suite {name!r} in {path}; suites: {', '.join(sorted(suites))}")
    return suites[name]


# --- git -----------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    """stdout of a git command in `repo`; raises HistoryError with git's message."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise HistoryError(f"cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise HistoryError(f"git {args[0]} in {repo}: {message}")
    return done.stdout.strip()


def _reject_option(rev: str) -> None:
    if not rev or rev.startswith("-"):
        raise HistoryError(f"expected a git revision, got {rev!r}")


def resolve_commit(repo: str | Path, rev: str) -> str:
    """The full hash of revision `rev`; raises HistoryError if it names no commit."""
    _reject_option(rev)
    try:
        return _git(Path(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except HistoryError:
        raise HistoryError(f"revision {rev!r} names no commit in git repository {repo}") from None


def commits_in_range(repo: str | Path, rev_range: str) -> list[str]:
    """Full hashes of `git rev-list --reverse REV_RANGE`, oldest first.

    `A..B` is the commits after A up to B; `C^!` is C alone. Raises HistoryError for a
    bad range or an empty one.
    """
    _reject_option(rev_range)
    commits = _git(Path(repo), "rev-list", "--reverse", rev_range, "--").split()
    if not commits:
        raise HistoryError(f"revision range {rev_range!r} holds no commits")
    return commits


def commit_subjects(repo: str | Path, commits: Sequence[str]) -> dict[str, str]:
    """Subject line of each commit, by hash."""
    if not commits:
        return {}
    out = _git(Path(repo), "log", "--no-walk=unsorted", "--format=%H%x00%s", *commits)
    return dict(line.split("\x00", 1) for line in out.splitlines() if "\x00" in line)


@contextmanager
def worktree(repo: str | Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` in a temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="kernbench-history-") as tmp:
        path = Path(tmp) / commit[:12]
        _git(Path(repo), "worktree", "add", "--detach", str(path), commit)
        try:
            yield path
        finally:
            try:
                _git(Path(repo), "worktree", "remove", "--force", str(path))
            except HistoryError:  # the folder goes anyway; drop git's record of it
                subprocess.run(["git", "-C", str(repo), "worktree", "prune"], check=False)


# --- running one commit ---------------------------------------------------------------------


@dataclass
class Attempt:
    """What happened to one suite entry at one commit (see the module docstring)."""

    commit: str
    entry: SuiteEntry
    status: str  # skipped | ok | failed | error
    run_id: str | None = None
    message: str | None = None


def commit_env(tree: Path, commit: str) -> dict[str, str]:
    """Environment that runs `tree`'s code and records its runs under `commit`."""
    env = dict(os.environ)
    # Only the worktree: another tree on the path could shadow the commit's code.
    env["PYTHONPATH"] = str(tree)
    env[COMMIT_ENV] = commit
    env.pop(STORE_ENV, None)  # the store is always passed explicitly
    return env


_WHERE_IMPORTED = "import simulator, traces; print(simulator.__file__); print(traces.__file__)"


def worktree_code_problem(tree: Path, env: dict[str, str], python: str) -> str | None:
    """None when `python` in `tree` imports that tree's own simulator and traces, else why not.

    Without this check a commit lacking a package would silently run the editable
    install's copy instead of its own.
    """
    done = subprocess.run(
        [python, "-c", _WHERE_IMPORTED],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT_S,
    )
    if done.returncode != 0:
        return f"its code does not import: {_last_line(done.stderr)}"
    root = tree.resolve()
    for package, location in zip(("simulator", "traces"), done.stdout.splitlines(), strict=False):
        if not Path(location).resolve().is_relative_to(root):
            return f"it has no {package}/ package (Python would import {location})"
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    return lines[-1].removeprefix("kernbench: error: ")


def _last_json_object(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run_entry(
    tree: Path,
    commit: str,
    entry: SuiteEntry,
    store_root: Path,
    *,
    python: str = sys.executable,
    timeout_s: float = RUN_TIMEOUT_S,
) -> Attempt:
    """Run one suite entry with the code of worktree `tree` (at `commit`) into the store."""
    command = [python, "-m", "simulator.cli", *entry.run_args(), "--json"]
    command += ["--store", str(store_root)]
    try:
        done = subprocess.run(
            command,
            cwd=tree,
            env=commit_env(tree, commit),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return Attempt(commit, entry, "error", message=f"timed out after {timeout_s:.0f} s")
    outcome = _last_json_object(done.stdout)
    if outcome is None:
        return Attempt(commit, entry, "error", message=_last_line(done.stderr))
    status = "ok" if outcome.get("status") == "ok" else "failed"
    return Attempt(commit, entry, status, outcome.get("run_id"), outcome.get("error"))


# --- runs of a suite in the store -----------------------------------------------------------


@dataclass(frozen=True)
class SuiteRun:
    """The run chosen for one (commit, entry): see find_suite_runs."""

    run_id: str
    status: str
    error: str | None
    dirty: bool


def find_suite_runs(
    source: Any, entries: Sequence[SuiteEntry], commits: Sequence[str]
) -> dict[tuple[str, int], SuiteRun]:
    """The run of each (commit, entry index) in the store, where one exists.

    A run matches an entry when SuiteEntry.matches holds. Of several, the newest ok run
    of a clean tree wins, then the newest ok run of a dirty tree, then the newest failed
    run. `source` is a store path, Store or DuckDB connection with the trace views.
    """
    if not commits or not entries:
        return {}
    rows = (
        open_connection(source)
        .sql(
            """
            SELECT run_id, workload, topology, params, git_commit, git_dirty, status, error
            FROM runs
            WHERE list_contains(?, workload) AND list_contains(?, git_commit)
            ORDER BY run_id
            """,
            params=[sorted({e.workload for e in entries}), list(commits)],
        )
        .fetchall()
    )
    best: dict[tuple[str, int], tuple[tuple[int, str], SuiteRun]] = {}
    for run_id, workload, topology, params_json, commit, dirty, status, error in rows:
        params = json.loads(params_json) if params_json else {}
        # Higher ranks first: ok beats failed, clean beats dirty, newer beats older.
        rank = ((2 if status == "ok" else 0) + (0 if dirty else 1), run_id)
        for index, entry in enumerate(entries):
            if not entry.matches(workload, topology, params):
                continue
            key = (commit, index)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, SuiteRun(run_id, status, error, bool(dirty)))
    return {key: run for key, (_, run) in best.items()}


def run_metric_values(
    source: Any, run_ids: Sequence[str]
) -> dict[str, dict[str, tuple[float, str]]]:
    """Metrics of each run: run id -> metric name -> (value, unit)."""
    values: dict[str, dict[str, tuple[float, str]]] = {run_id: {} for run_id in run_ids}
    if not run_ids:
        return values
    rows = (
        open_connection(source)
        .sql(
            "SELECT run_id, name, value, unit FROM metrics WHERE list_contains(?, run_id)",
            params=[list(run_ids)],
        )
        .fetchall()
    )
    for run_id, name, value, unit in rows:
        values[run_id][name] = (value, unit)
    return values


# --- history ----------------------------------------------------------------------------------


def run_history(
    repo: str | Path,
    commits: Sequence[str],
    entries: Sequence[SuiteEntry],
    store_root: str | Path,
    *,
    jobs: int = 1,
    python: str = sys.executable,
    timeout_s: float = RUN_TIMEOUT_S,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> list[Attempt]:
    """Run `entries` at each commit (oldest first) into the store; one Attempt each.

    (commit, entry) pairs with an ok run in the store are skipped. A commit gets a
    worktree only when something must run there, and up to `jobs` of its entries run
    at once. A failure is recorded in its Attempt and the rest go on. Raises
    HistoryError only when git itself fails (e.g. a worktree cannot be made).
    """
    store_root = Path(store_root).resolve()
    report = on_attempt or (lambda attempt: None)
    have = find_suite_runs(store_root, entries, commits)
    attempts: list[Attempt] = []
    for commit in commits:
        todo = []
        for index, entry in enumerate(entries):
            run = have.get((commit, index))
            if run is not None and run.status == "ok":
                attempts.append(Attempt(commit, entry, "skipped", run.run_id))
                report(attempts[-1])
            else:
                todo.append(entry)
        if not todo:
            continue
        with worktree(repo, commit) as tree:
            problem = worktree_code_problem(tree, commit_env(tree, commit), python)
            if problem is not None:
                for entry in todo:
                    attempts.append(Attempt(commit, entry, "error", message=problem))
                    report(attempts[-1])
                continue

            def run_one(entry: SuiteEntry, tree: Path = tree, commit: str = commit) -> Attempt:
                attempt = run_entry(
                    tree, commit, entry, store_root, python=python, timeout_s=timeout_s
                )
                report(attempt)
                return attempt

            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                attempts.extend(pool.map(run_one, todo))
    order = {id(entry): index for index, entry in enumerate(entries)}
    position = {commit: index for index, commit in enumerate(commits)}
    return sorted(attempts, key=lambda a: (position[a.commit], order[id(a.entry)]))


@dataclass(frozen=True)
class MetricChange:
    """A change point of one metric of one suite entry: `commit` is the first at the new level."""

    entry: SuiteEntry
    metric: str
    unit: str
    commit: str
    before: float
    after: float

    @property
    def change_pct(self) -> float:
        """100 * (after - before) / |before| (inf when before is 0 and after is not)."""
        return change_pct(self.before, self.after)


def change_pct(before: float, after: float) -> float:
    """Relative change in percent; inf (signed) from 0 to non-zero, 0 from 0 to 0."""
    if before == 0:
        return 0.0 if after == 0 else math.copysign(math.inf, after)
    return 100.0 * (after - before) / abs(before)


def suite_change_points(
    source: Any, entries: Sequence[SuiteEntry], commits: Sequence[str]
) -> list[MetricChange]:
    """Change points (traces.changepoints) of every metric of every entry over `commits`.

    Each metric's series takes the value of the chosen ok run at each commit, in the
    order of `commits` (missing where a commit has none). Sorted by entry, metric, commit.
    """
    con = open_connection(source)
    runs = find_suite_runs(con, entries, commits)
    chosen = {key: run.run_id for key, run in runs.items() if run.status == "ok"}
    values = run_metric_values(con, sorted(set(chosen.values())))
    changes = []
    for index, entry in enumerate(entries):
        per_commit = [values.get(chosen.get((commit, index), ""), {}) for commit in commits]
        names = sorted({name for metrics in per_commit for name in metrics})
        for name in names:
            series = [m[name][0] if name in m else None for m in per_commit]
            unit = next(m[name][1] for m in per_commit if name in m)
            for point in change_points(series):
                changes.append(
                    MetricChange(entry, name, unit, commits[point.index], point.before, point.after)
                )
    return changes


# --- check -------------------------------------------------------------------------------------


def metric_direction(name: str) -> str | None:
    """Which way is better for a metric, by its name (the part after the last dot).

    1. `*_ns`: "lower".
    2. `tflops`, `*_gbs`, `utilisation`: "higher".
    3. anything else: None (reported, never a regression).
    """
    leaf = name.rsplit(".", 1)[-1]
    if leaf.endswith("_ns"):
        return "lower"
    if leaf.endswith("_gbs") or leaf in ("tflops", "utilisation"):
        return "higher"
    return None


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one suite entry at the baseline and the head (None: absent there)."""

    entry: SuiteEntry
    metric: str
    unit: str
    baseline: float | None
    head: float | None

    @property
    def direction(self) -> str | None:
        return metric_direction(self.metric)

    @property
    def change_pct(self) -> float | None:
        """Head relative to baseline in percent; None when a side lacks the metric."""
        if self.baseline is None or self.head is None:
            return None
        return change_pct(self.baseline, self.head)

    def regressed(self, threshold_pct: float) -> bool:
        """Whether it got worse by more than `threshold_pct` percent in its direction."""
        pct = self.change_pct
        if pct is None or self.direction is None:
            return False
        if self.direction == "lower":
            return pct > threshold_pct
        return pct < -threshold_pct

    def verdict(self, threshold_pct: float) -> str:
        """regressed | improved | changed | same | new | gone."""
        if self.baseline is None:
            return "new"
        if self.head is None:
            return "gone"
        if self.head == self.baseline:
            return "same"
        if self.regressed(threshold_pct):
            return "regressed"
        pct = self.change_pct or 0.0
        if self.direction == "lower" and pct < 0 or self.direction == "higher" and pct > 0:
            return "improved"
        return "changed"


def compare_suite(
    source: Any, entries: Sequence[SuiteEntry], baseline: str, head: str
) -> list[MetricComparison]:
    """Every metric of every entry at commit `baseline` against commit `head` (full hashes).

    Rows follow the suite order, then metric name. Raises MissingRunsError listing each
    entry without an ok run at either commit.
    """
    con = open_connection(source)
    commits = [baseline, head]
    runs = find_suite_runs(con, entries, commits)
    missing = []
    for commit in dict.fromkeys(commits):
        for index, entry in enumerate(entries):
            run = runs.get((commit, index))
            if run is None:
                missing.append((commit, entry, "missing"))
            elif run.status != "ok":
                missing.append((commit, entry, f"failed in run {run.run_id}: {run.error}"))
    if missing:
        raise MissingRunsError(missing)
    values = run_metric_values(con, sorted({run.run_id for run in runs.values()}))
    rows = []
    for index, entry in enumerate(entries):
        base = values[runs[(baseline, index)].run_id]
        new = values[runs[(head, index)].run_id]
        for name in sorted(set(base) | set(new)):
            unit = (base.get(name) or new[name])[1]
            rows.append(
                MetricComparison(
                    entry,
                    name,
                    unit,
                    base[name][0] if name in base else None,
                    new[name][0] if name in new else None,
                )
            )
    return rows


# --- CLI ----------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `history` and `check` to an argparse subparsers object."""
    history = subparsers.add_parser(
        "history", help="run a workload suite at each commit of a git range into the store"
    )
    history.add_argument("rev_range", metavar="REV_RANGE", help="e.g. main~5..main, or C^! alone")
    _common_options(history)
    history.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="suite runs at once per commit"
    )
    history.add_argument(
        "--timeout",
        type=float,
        default=RUN_TIMEOUT_S,
        metavar="S",
        help=f"seconds one run may take (default {RUN_TIMEOUT_S:.0f})",
    )
    # simulator.cli dispatches on `handler`, traces.cli on `func`: set both.
    history.set_defaults(func=cmd_history, handler=cmd_history)

    check = subparsers.add_parser(
        "check", help="fail when a suite metric regressed against a baseline commit"
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
                timeout_s=args.timeout,
                on_attempt=advance,
            )
        changes = suite_change_points(store_root, entries, commits)
    except (HistoryError, duckdb.Error, OSError) as exc:
        return _error(str(exc))

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
    problems = [a for a in attempts if a.status in ("failed", "error")]
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
        return _error(f"{exc}\nrun first:\n  " + "\n  ".join(commands))
    except (HistoryError, duckdb.Error, OSError) as exc:
        return _error(str(exc))

    threshold = args.threshold
    console = _console()
    shown = [r for r in rows if args.all or r.verdict(threshold) != "same"]
    title = f"suite {args.suite}: head {head[:_SHORT]} against baseline {baseline[:_SHORT]}"
    table = Table("workload", "params", "metric", "unit", "baseline", "head", "change %", "verdict")
    table.title = title
    table.title_justify = "left"
    for r in shown:
        verdict = r.verdict(threshold)
        style = {"regressed": "bold red", "improved": "green"}.get(verdict, "")
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
    regressions = [r for r in rows if r.regressed(threshold)]
    changed = sum(r.verdict(threshold) != "same" for r in rows)
    console.print(
        f"{len(rows)} metrics of {len(entries)} runs compared: {changed} changed, "
        f"{len(regressions)} regressed past {threshold:g}%"
    )
    if regressions:
        console.print(f"[bold red]REGRESSION[/bold red] against {baseline[:_SHORT]}")
        return EXIT_REGRESSION
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`python -m traces.history {history,check} ...`: these two verbs alone."""
    parser = argparse.ArgumentParser(prog="kernbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
