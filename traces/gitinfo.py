"""Git facts: which source tree produced a run, and the commits a revision names.

`git_info` (commit, branch, dirty flag, commit time and message of a run's tree) never
raises; the revision helpers (`resolve_commit`, `commits_in_range`, `commit_subjects`)
raise GitError with git's own message.
"""

import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COMMIT_ENV = "KERNBENCH_COMMIT"
_GIT_TIMEOUT_S = 10.0


class GitError(Exception):
    """A git command failed or a revision names no commit; the message says which."""


def git_info(source_dir: Path | None) -> dict[str, Any]:
    """Git facts of the tree at `source_dir`, for the runs table.

    Returns git_commit (full hash), git_branch (None when detached), git_dirty
    (tracked files modified), commit_time (aware UTC datetime) and commit_message
    (subject line). Outside a git checkout, or without git, everything is None and
    git_dirty False. $KERNBENCH_COMMIT overrides the commit; its time and message
    are looked up when it resolves in the tree. Never raises.
    """
    info: dict[str, Any] = {
        "git_commit": None,
        "git_branch": None,
        "git_dirty": False,
        "commit_time": None,
        "commit_message": None,
    }
    try:
        # One git call for commit, branch and dirty flag (each git process costs ms on
        # every traced run). Untracked files (stores, venvs) do not change what the
        # simulator runs. It fails outside a work tree.
        status = None
        if source_dir is not None:
            status = _git(
                source_dir, "status", "--porcelain=v2", "--branch", "--untracked-files=no"
            )
        in_tree = status is not None
        if in_tree:
            for line in status.splitlines():
                if line.startswith("# branch.oid ") and line != "# branch.oid (initial)":
                    info["git_commit"] = line.removeprefix("# branch.oid ")
                elif line.startswith("# branch.head ") and line != "# branch.head (detached)":
                    info["git_branch"] = line.removeprefix("# branch.head ")
                elif line and not line.startswith("#"):
                    info["git_dirty"] = True
        override = os.environ.get(COMMIT_ENV, "").strip()
        if override:
            resolved = None
            if in_tree:
                resolved = _git(source_dir, "rev-parse", "--verify", "-q", f"{override}^{{commit}}")
            info["git_commit"] = resolved or override
            if resolved is None:
                return info
        if in_tree and info["git_commit"]:
            log = _git(source_dir, "log", "-1", "--format=%cI%x00%s", info["git_commit"])
            if log and "\x00" in log:
                when, message = log.split("\x00", 1)
                info["commit_time"] = datetime.fromisoformat(when).astimezone(UTC)
                info["commit_message"] = message
    except Exception:  # provenance is best effort; a run must never fail on it
        pass
    return info


def git_info_in_background(source_dir: Path | None) -> Callable[[], dict[str, Any]]:
    """Start `git_info(source_dir)` on a thread; returns a function that waits for it.

    A traced run asks git while it simulates: git runs as a child process, so its time
    overlaps the simulation instead of adding to the run. Where this process asked
    early (`ask_git_early`), the first run from that tree takes that answer instead.
    """
    with _early_lock:
        early = _early.pop(source_dir, None)
    if early is not None:
        return early
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(git_info(source_dir)), name="git-info", daemon=True
    )
    thread.start()

    def wait() -> dict[str, Any]:
        thread.join()
        return dict(result) if result else git_info(None)

    return wait


def ask_git_early(source_dir: Path | None) -> None:
    """Start asking git for `source_dir`'s facts now, for this process's next run from
    that tree to take (`git_info_in_background`; later runs ask again).

    A traced ``kernbench run`` asks as it starts, so that git's processes (~15 ms)
    overlap its imports rather than its simulation, or the end of a short run, which
    otherwise waits for them.
    """
    with _early_lock:
        if source_dir in _early:
            return
    wait = git_info_in_background(source_dir)
    with _early_lock:
        _early.setdefault(source_dir, wait)


# Answers asked for early (ask_git_early), by source tree, each taken by one run.
_early: dict[Path | None, Callable[[], dict[str, Any]]] = {}
_early_lock = threading.Lock()


def _git(source_dir: Path, *args: str) -> str | None:
    """stdout of one git command in source_dir, stripped; None if it fails."""
    try:
        done = subprocess.run(
            # --no-optional-locks: concurrent runs must not fight over .git/index.lock
            ["git", "--no-optional-locks", "-C", str(source_dir), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()


# --- revisions ---------------------------------------------------------------------------


def git_output(repo: Path, *args: str) -> str:
    """stdout of a git command in `repo`, stripped; raises GitError with git's message."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise GitError(f"git {args[0]} in {repo}: {message}")
    return done.stdout.strip()


def _reject_option(rev: str) -> None:
    if not rev or rev.startswith("-"):
        raise GitError(f"expected a git revision, got {rev!r}")


def resolve_commit(repo: str | Path, rev: str) -> str:
    """The full hash of revision `rev`; raises GitError if it names no commit."""
    _reject_option(rev)
    try:
        return git_output(Path(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitError:
        raise GitError(f"revision {rev!r} names no commit in git repository {repo}") from None


def commits_in_range(repo: str | Path, rev_range: str) -> list[str]:
    """Full hashes of `git rev-list --reverse REV_RANGE`, oldest first.

    `A..B` is the commits after A up to B; `C^!` is C alone. Raises GitError for a
    bad range or an empty one.
    """
    _reject_option(rev_range)
    commits = git_output(Path(repo), "rev-list", "--reverse", rev_range, "--").split()
    if not commits:
        raise GitError(f"revision range {rev_range!r} holds no commits")
    return commits


def commit_subjects(repo: str | Path, commits: Sequence[str]) -> dict[str, str]:
    """Subject line of each commit, by hash."""
    if not commits:
        return {}
    out = git_output(Path(repo), "log", "--no-walk=unsorted", "--format=%H%x00%s", *commits)
    return dict(line.split("\x00", 1) for line in out.splitlines() if "\x00" in line)
