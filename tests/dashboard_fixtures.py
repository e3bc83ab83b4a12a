"""A run store made by real simulator runs at two commits, shared by the dashboard tests.

Commit a (the parent of HEAD) and commit b (HEAD) each run noop, gemm_single_pe
(M=N=K=128), gemm (M=256) and dma_sweep (two small sizes); at commit b gemm uses
block_k=64, so its numbers move. Commit b also has one failed run (dma_sweep with an
invalid size) and one hierarchical all-reduce over 16 ranks (two cubes), so the
collective views have rows to show. After commit a's runs comes one noop with other
parameters (barrier=false), so the newest earlier noop of commit b's noop is not like it.

`lookalike_store` writes a small synthetic store whose names, commit messages and error
look like Markdown.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = PROJECT_ROOT / "dashboard" / "app.py"

# Used when the checkout has no two commits to record runs at (e.g. a shallow clone).
_FALLBACK_COMMITS = ("1" * 40, "2" * 40)

WORKLOADS = (
    ("noop", {}),
    ("gemm_single_pe", {"M": 128, "N": 128, "K": 128}),
    ("gemm", {"M": 256}),
    ("dma_sweep", {"sizes": "1024,65536"}),
)


@dataclass(frozen=True)
class FixtureStore:
    """The store folder, its two commits (oldest first), and run ids by (commit, workload)."""

    root: Path
    commits: tuple[str, str]
    runs: dict[tuple[str, str], str]
    failed_run: str
    collective_run: str
    other_params_run: str


def _two_commits() -> tuple[str, str]:
    """Full hashes of HEAD~1 and HEAD of this checkout, else two made-up hashes."""
    hashes = []
    for ref in ("HEAD~1", "HEAD"):
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        hashes.append(done.stdout.strip() if done.returncode == 0 else "")
    if all(hashes) and hashes[0] != hashes[1]:
        return hashes[0], hashes[1]
    return _FALLBACK_COMMITS


def build_fixture_store(root: Path) -> FixtureStore:
    """Write the fixture runs into `root` (see the module docstring)."""
    from simulator.runner import run_workload

    commits = _two_commits()
    runs: dict[tuple[str, str], str] = {}
    failed_run = other_params_run = ""
    with pytest.MonkeyPatch.context() as patch:
        for commit in commits:
            patch.setenv("KERNBENCH_COMMIT", commit)
            for name, overrides in WORKLOADS:
                if name == "gemm" and commit == commits[1]:
                    overrides = {**overrides, "block_k": 64}
                outcome = run_workload(name, overrides, store=root)
                assert outcome.status == "ok", outcome.error
                runs[(commit, name)] = outcome.run_id
            if commit == commits[0]:
                other = run_workload("noop", {"barrier": "false"}, store=root)
                assert other.status == "ok", other.error
                other_params_run = other.run_id
        failed = run_workload("dma_sweep", {"sizes": "1"}, store=root)
        assert failed.status == "failed"
        failed_run = failed.run_id
        collective = run_workload(
            "ccl_allreduce",
            {"algorithm": "hierarchical", "world_size": 16, "bytes": 65536},
            store=root,
        )
        assert collective.status == "ok", collective.error
        collective_run = collective.run_id
    return FixtureStore(root, commits, runs, failed_run, collective_run, other_params_run)


# Names, a commit message and an error that Markdown (with Streamlit's LaTeX, colour
# directives and emoji) would turn into bold, italics, links, maths and colour.
LOOKALIKE_ERROR = (
    "Traceback (most recent call last):\n"
    '  File "<module>", line 1, in __init__\n'
    "ValueError: *args* -> `[x](http://y)` costs $5 and $x$ :smile:"
)


def lookalike_store(root: Path) -> tuple[str, str]:
    """A store of an ok run of workload `k*2*` (commit message `[x](http://y)`) and a failed
    run of `my__kernel__[b]` (params shape=[2]*3, branch feat/*wip*, commit message
    `fix __init__ for *args* ($x$, :red[r] :smile:)`, error LOOKALIKE_ERROR); (ok, failed)
    run ids."""
    from traces.store import Store
    from traces.synthetic import new_synthetic_writer, write_synthetic_run

    store = Store(root)
    commit = {"git_commit": "c0ffee" + "0" * 34, "git_branch": "feat/*wip*"}
    ok = write_synthetic_run(store, n_pes=4, n_launches=1, workload="k*2*",
                             git=commit | {"commit_message": "[x](http://y)"})  # fmt: skip
    message = "fix __init__ for *args* ($x$, :red[r] :smile:)"
    writer = new_synthetic_writer(store, workload="my__kernel__[b]", params={"shape": "[2]*3"},
                                  git=commit | {"commit_message": message})  # fmt: skip
    writer.finish(status="failed", error=LOOKALIKE_ERROR, sim_end_ns=None, n_events=0)
    return ok, writer.run_id


_built: dict[str, FixtureStore] = {}


def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    """The session's fixture store, built on first use."""
    if "store" not in _built:
        _built["store"] = build_fixture_store(tmp_path_factory.mktemp("dashboard_store"))
    return _built["store"]


def env_without_store() -> dict[str, str]:
    """os.environ minus KERNBENCH_STORE / KERNBENCH_COMMIT (for a server subprocess)."""
    return {k: v for k, v in os.environ.items() if k not in ("KERNBENCH_STORE", "KERNBENCH_COMMIT")}
