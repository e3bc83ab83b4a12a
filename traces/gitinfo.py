"""Which source tree produced a run: commit, branch, dirty flag, commit time and message."""

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COMMIT_ENV = "KERNBENCH_COMMIT"
_GIT_TIMEOUT_S = 10.0


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
        in_tree = source_dir is not None and _git(source_dir, "rev-parse", "--is-inside-work-tree")
        if in_tree == "true":
            info["git_commit"] = _git(source_dir, "rev-parse", "--verify", "-q", "HEAD")
            info["git_branch"] = _git(source_dir, "symbolic-ref", "--short", "-q", "HEAD")
            # Untracked files (stores, venvs) do not change what the simulator runs.
            status = _git(source_dir, "status", "--porcelain", "--untracked-files=no")
            info["git_dirty"] = bool(status)
        override = os.environ.get(COMMIT_ENV, "").strip()
        if override:
            resolved = None
            if in_tree == "true":
                resolved = _git(source_dir, "rev-parse", "--verify", "-q", f"{override}^{{commit}}")
            info["git_commit"] = resolved or override
            if resolved is None:
                return info
        if in_tree == "true" and info["git_commit"]:
            log = _git(source_dir, "log", "-1", "--format=%cI%x00%s", info["git_commit"])
            if log and "\x00" in log:
                when, message = log.split("\x00", 1)
                info["commit_time"] = datetime.fromisoformat(when).astimezone(UTC)
                info["commit_message"] = message
    except Exception:  # provenance is best effort; a run must never fail on it
        pass
    return info


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
