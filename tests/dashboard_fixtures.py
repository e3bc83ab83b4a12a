"""A run store made by real simulator runs at two commits, shared by the dashboard tests.

Commit a (the parent of HEAD) and commit b (HEAD) each run noop, gemm_single_pe
(M=N=K=128), gemm (M=256) and dma_sweep (two small sizes); at commit b gemm uses
block_k=64, so its numbers move. Commit b also has one failed run (dma_sweep with an
invalid size) and one hierarchical all-reduce over 16 ranks (two cubes), so the
collective views have rows to show. After commit a's runs comes one noop with other
parameters (barrier=false), so the newest earlier noop of commit b's noop is not like it.
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


_built: dict[str, FixtureStore] = {}


def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    """The session's fixture store, built on first use."""
    if "store" not in _built:
        _built["store"] = build_fixture_store(tmp_path_factory.mktemp("dashboard_store"))
    return _built["store"]


def env_without_store() -> dict[str, str]:
    """os.environ minus KERNBENCH_STORE / KERNBENCH_COMMIT (for a server subprocess)."""
    return {k: v for k, v in os.environ.items() if k not in ("KERNBENCH_STORE", "KERNBENCH_COMMIT")}
