"""Run a workload suite at past commits: one git worktree per commit, the simulator of
that commit, results into a run store.

Each commit runs from its own git worktree (a detached checkout in a temporary folder)
with the current interpreter: ``python -m simulator.cli run ... --json --store STORE``
with ``cwd`` and ``PYTHONPATH`` set to the worktree and ``$KERNBENCH_COMMIT`` to the
commit, so the commit's own simulator runs (checked per commit before anything runs)
and its runs are recorded under that commit. Reading the results back (suites, the
gate, change points) is `traces`' job; this driver is the only part that starts
simulators for other commits.

One (commit, suite entry) ends in one of these states:

1. ``skipped``: an ok run of it is already in the store; nothing runs.
2. ``ok``: it ran and the run is in the store.
3. ``failed``: it ran and failed; the simulator recorded the failed run in the store.
4. ``error``: it could not run (the commit lacks the workload or a parameter, its code
   does not import, a timeout); nothing is in the store, the message says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traces.gitinfo import COMMIT_ENV, GitError, git_output
from traces.layout import STORE_ENV
from traces.suites import SuiteEntry, find_suite_runs

RUN_TIMEOUT_S = 900.0  # one suite run at one commit; suites are meant to be small


@contextmanager
def worktree(repo: str | Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` in a temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="kernbench-history-") as tmp:
        path = Path(tmp) / commit[:12]
        git_output(Path(repo), "worktree", "add", "--detach", str(path), commit)
        try:
            yield path
        finally:
            try:
                git_output(Path(repo), "worktree", "remove", "--force", str(path))
            except GitError:  # the folder goes anyway; drop git's record of it
                subprocess.run(["git", "-C", str(repo), "worktree", "prune"], check=False)


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


def run_history(
    repo: str | Path,
    commits: Sequence[str],
    entries: Sequence[SuiteEntry],
    store_root: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    python: str = sys.executable,
    timeout_s: float = RUN_TIMEOUT_S,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> list[Attempt]:
    """Run `entries` at each commit (oldest first) into the store; one Attempt each.

    (commit, entry) pairs with an ok run in the store are skipped. A commit gets a
    worktree only when something must run there. The runs are scheduled like a sweep's
    points (simulator/sweep.py): on the Dask cluster at `scheduler` (or
    $KERNBENCH_SCHEDULER), else on a local cluster of `jobs` worker processes when
    `jobs` > 1, else one after another in this process. Workers must see the worktrees
    and the store at the same paths (a local cluster does). A failure is recorded in its
    Attempt and the rest go on; a run whose worker dies is retried once, then an error.
    Raises GitError only when git itself fails (e.g. a worktree cannot be made).
    """
    store_root = Path(store_root).resolve()
    report = on_attempt or (lambda attempt: None)
    have = find_suite_runs(store_root, entries, commits)
    attempts: list[Attempt] = []
    pending: list[tuple[str, Path, SuiteEntry]] = []
    with ExitStack() as trees:
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
            tree = trees.enter_context(worktree(repo, commit))
            problem = worktree_code_problem(tree, commit_env(tree, commit), python)
            for entry in todo:
                if problem is not None:
                    attempts.append(Attempt(commit, entry, "error", message=problem))
                    report(attempts[-1])
                else:
                    pending.append((commit, tree, entry))
        run_args = {"store_root": store_root, "python": python, "timeout_s": timeout_s}
        attempts.extend(_run_pending(pending, run_args, jobs, scheduler, report))
    order = {id(entry): index for index, entry in enumerate(entries)}
    position = {commit: index for index, commit in enumerate(commits)}
    return sorted(attempts, key=lambda a: (position[a.commit], order[id(a.entry)]))


def _run_pending(
    pending: Sequence[tuple[str, Path, SuiteEntry]],
    run_args: dict[str, Any],
    jobs: int,
    scheduler: str | None,
    report: Callable[[Attempt], None],
) -> list[Attempt]:
    """Run each (commit, worktree, entry): on Dask (see run_history), else in turn."""
    from simulator.sweep import SCHEDULER_ENV, dask_client

    if not pending:
        return []
    if not (scheduler or os.environ.get(SCHEDULER_ENV)) and jobs <= 1:
        attempts = []
        for commit, tree, entry in pending:
            attempts.append(run_entry(tree, commit, entry, **run_args))
            report(attempts[-1])
        return attempts
    from distributed import as_completed

    attempts = []
    with dask_client(scheduler, min(max(1, jobs), len(pending))) as client:
        futures = {
            client.submit(run_entry, tree, commit, entry, pure=False, **run_args): (commit, entry)
            for commit, tree, entry in pending
        }
        for future in as_completed(futures):
            commit, entry = futures[future]
            try:
                attempt = future.result()
                attempt.entry = entry  # the caller's object: results are ordered by identity
            except Exception as exc:  # its workers died: nothing was recorded
                message = f"worker lost running this entry twice: {type(exc).__name__}: {exc}"
                attempt = Attempt(commit, entry, "error", message=message)
            attempts.append(attempt)
            report(attempt)
    return attempts
