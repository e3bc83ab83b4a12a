"""Tests of git provenance (traces/gitinfo.py)."""

import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from traces.gitinfo import git_info

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git(repo, *args, when="2026-01-02T03:04:05+00:00"):
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git repo on branch main with two commits."""
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first commit", when="2026-01-01T00:00:00+00:00")
    (tmp_path / "a.txt").write_text("2")
    _git(tmp_path, "commit", "-q", "-am", "second commit")
    return tmp_path


def test_clean_checkout(repo, monkeypatch):
    """Commit, branch, time and subject of HEAD; clean tree is not dirty."""
    monkeypatch.delenv("KERNBENCH_COMMIT", raising=False)
    info = git_info(repo)
    assert info["git_commit"] == _git(repo, "rev-parse", "HEAD")
    assert info["git_branch"] == "main"
    assert info["git_dirty"] is False
    assert info["commit_time"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert info["commit_message"] == "second commit"


def test_dirty_and_untracked(repo, monkeypatch):
    """Modified tracked files make the tree dirty; untracked files do not."""
    monkeypatch.delenv("KERNBENCH_COMMIT", raising=False)
    (repo / "new.txt").write_text("x")
    assert git_info(repo)["git_dirty"] is False
    (repo / "a.txt").write_text("3")
    assert git_info(repo)["git_dirty"] is True


def test_env_override_resolves(repo, monkeypatch):
    """KERNBENCH_COMMIT (a short hash) overrides the commit; its time and message follow."""
    first = _git(repo, "rev-parse", "HEAD~1")
    monkeypatch.setenv("KERNBENCH_COMMIT", first[:8])
    info = git_info(repo)
    assert info["git_commit"] == first
    assert info["commit_message"] == "first commit"
    assert info["commit_time"] == datetime(2026, 1, 1, tzinfo=UTC)


def test_env_override_unknown_commit(repo, monkeypatch):
    """An override that does not resolve is kept as given, with unknown time and message."""
    monkeypatch.setenv("KERNBENCH_COMMIT", "deadbeef")
    info = git_info(repo)
    assert info["git_commit"] == "deadbeef"
    assert info["commit_time"] is None and info["commit_message"] is None


def test_outside_checkout(tmp_path, monkeypatch):
    """Outside a git checkout (or with no dir) everything is None and not dirty."""
    monkeypatch.delenv("KERNBENCH_COMMIT", raising=False)
    empty = {
        "git_commit": None,
        "git_branch": None,
        "git_dirty": False,
        "commit_time": None,
        "commit_message": None,
    }
    assert git_info(tmp_path) == empty
    assert git_info(None) == empty
    assert git_info(tmp_path / "missing") == empty


def test_detached_head(repo, monkeypatch):
    """A detached HEAD (as in a worktree at a past commit) has no branch."""
    monkeypatch.delenv("KERNBENCH_COMMIT", raising=False)
    _git(repo, "checkout", "-q", "--detach", "HEAD~1")
    info = git_info(repo)
    assert info["git_branch"] is None
    assert info["commit_message"] == "first commit"


def test_git_info_in_background_gives_the_same_facts(repo, monkeypatch):
    """The facts a traced run asks for while it simulates are git_info's."""
    from traces.gitinfo import git_info_in_background

    monkeypatch.delenv("KERNBENCH_COMMIT", raising=False)
    (repo / "a.txt").write_text("dirty")
    wait = git_info_in_background(repo)
    assert wait() == git_info(repo)
    assert wait()["git_dirty"] is True


def test_an_early_answer_is_taken_by_the_next_run_only(tmp_path, monkeypatch):
    """A process that asked git early (a traced ``kernbench run`` at start-up) gives that
    answer to its next run from the tree, once: the run after asks again."""
    import itertools

    from traces import gitinfo

    asked = itertools.count()
    monkeypatch.setattr(gitinfo, "git_info", lambda source_dir: {"answer": next(asked)})
    gitinfo.ask_git_early(tmp_path)
    gitinfo.ask_git_early(tmp_path)  # asked twice: one answer, for one run
    assert gitinfo.git_info_in_background(tmp_path)() == {"answer": 0}
    assert gitinfo.git_info_in_background(tmp_path)() == {"answer": 1}
