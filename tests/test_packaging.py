"""`pip install .` without extras gives a working `kernbench`; the lowest versions the
project claims (pyproject's lower bounds) install and pass a set of fast tests.

Both build a fresh venv from the local package index (slow: marked so; CI runs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "kernbench", "simulator", "traces", "dashboard")
# Fast tests that cover every package against the lowest dependency versions.
LOWER_BOUND_TESTS = (
    "tests/test_cli_contract.py",
    "tests/test_store_readers.py",
    "tests/test_traces_views.py",
    "tests/test_traces_writer.py",
    "tests/test_traces_queries.py",
    "tests/test_engine_pipeline.py",
    "tests/test_dashboard_figures.py",
    "tests/test_language_dtypes.py",
)


def _copy_sources(target: Path) -> Path:
    """The package's sources in a folder of their own (pip builds there, not in the repo)."""
    target.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin"


def _pip(bin_dir: Path, *args: str) -> None:
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", *args],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def lower_bounds(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """`name==X` for each runtime dependency declared as `name>=X`."""
    pins = []
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", requirement)
        assert match, f"runtime dependency without a lower bound: {requirement!r}"
        pins.append(f"{match.group(1)}=={match.group(3)}")
    return pins


@pytest.mark.slow
def test_pip_install_without_extras_gives_a_working_kernbench(tmp_path):
    """A fresh venv with `pip install .` (no dev extra) runs every everyday command."""
    bin_dir = _venv(tmp_path / "venv")
    _pip(bin_dir, str(_copy_sources(tmp_path / "src")))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["KERNBENCH_STORE"] = str(tmp_path / "store")

    def kernbench(*args: str) -> str:
        done = subprocess.run(
            [str(bin_dir / "kernbench"), *args],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"kernbench {' '.join(args)}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
        return done.stdout

    assert kernbench("--version").startswith("kernbench ")
    assert "noop" in kernbench("list")
    kernbench("run", "noop")
    runs = json.loads(kernbench("runs", "--json"))
    assert [r["workload"] for r in runs] == ["noop"]
    report = json.loads(kernbench("report", "latest", "--json"))
    assert report["run"]["run_id"] == runs[0]["run_id"]
    assert "--baseline" in kernbench("check", "--help")
    assert "REV_RANGE" in kernbench("history", "--help")
    # The dashboard's and the change points' imports resolve without dev tools.
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", "import traces.changepoints, dashboard.widgets, pandas"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_lowest_claimed_versions_pass_the_fast_tests(tmp_path):
    """pyproject's lower bounds, pinned exactly, install and pass a set of fast tests."""
    constraints = tmp_path / "lower.txt"
    constraints.write_text("\n".join(lower_bounds()) + "\n")
    bin_dir = _venv(tmp_path / "venv")
    project = _copy_sources(tmp_path / "project")
    # The runtime dependencies at their lower bounds; of the dev tools only what these
    # tests use (the whole dev extra needs newer versions of some runtime dependencies).
    test_tools = ("pytest", "hypothesis", "duckdb-cli")
    _pip(bin_dir, "--prefer-binary", "--constraint", str(constraints), str(project), *test_tools)
    shutil.copytree(REPO / "tests", project / "tests")  # laid out as in the repository
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-m", "not slow and not browser", *LOWER_BOUND_TESTS],
        capture_output=True, text=True, cwd=project, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
