"""`kernbench explain` as a command: what it loads, its errors, its JSON shapes.

The path itself is pinned in tests/test_critical_path.py; here: reading one run straight
from its files gives the same path as the store's views, the command stays free of
pyarrow and pandas on a local store (start-up is most of its time), and a run without
``deps`` rows is one error line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.runner import run_workload
from traces.critical_path import critical_path
from traces.layout import partition_dir
from traces.opener import open_store

REPO = Path(__file__).resolve().parent.parent
CASES = {
    "gemm": ("gemm", {"M": 512, "N": 256, "K": 256}),
    "ring": ("ccl_allreduce", {"algorithm": "ring", "world_size": 8, "bytes": 1 << 16}),
    "noop": ("noop", {}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("explain_store")
    ids = {}
    for name, (workload, params) in CASES.items():
        outcome = run_workload(workload, params, store=root)
        assert outcome.status == "ok", outcome.error
        ids[name] = outcome.run_id
    return root, ids


@pytest.mark.parametrize("case", ["gemm", "ring"])
def test_run_files_and_store_views_give_the_same_path(runs, case):
    """The path read straight from a run's Parquet files equals the one read through the
    views of the whole store (a DuckDB connection), segment for segment."""
    root, ids = runs
    from_files = critical_path(open_store(root), ids[case])
    from_views = critical_path(open_store(root).connect(), ids[case])
    assert from_files.latency_ns == from_views.latency_ns
    assert from_files.segments == from_views.segments
    assert len(from_files.segments) > 3


def test_explain_loads_neither_pyarrow_nor_pandas(runs):
    """On a local store the command reads with DuckDB into numpy: pyarrow's and pandas'
    imports (a large part of its wall time) never happen."""
    root, ids = runs
    code = (
        "import sys\n"
        "from simulator.cli import main\n"
        f"code = main(['explain', {ids['gemm']!r}, '--store', {str(root)!r}, '--json'])\n"
        "print('RESULT', code, 'pyarrow' in sys.modules, 'pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "RESULT 0 False False"


def test_a_run_without_kernels_ops_explains(runs, capsys):
    """noop launches kernels without ops: no deps rows, and still a path (launch path
    and host time) that sums to its latency."""
    root, ids = runs
    assert main(["explain", ids["noop"], "--store", str(root), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert sum(c["ns"] for c in result["components"]) == pytest.approx(result["latency_ns"])


def test_a_run_without_deps_rows_is_one_error_line(runs, tmp_path, capsys):
    """A run traced before the deps table (its partition missing) is one error line
    naming the run, exit 2."""
    root, ids = runs
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    shutil.rmtree(partition_dir(copy, "deps", ids["gemm"]))
    assert main(["explain", ids["gemm"], "--store", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ids["gemm"] in err[0] and "no deps rows" in err[0], err


def _documented_shapes(text: str) -> list[set[str]]:
    """Key sets of every ``{key, key: ..., ...}`` object in a help text (nested ones too;
    commas inside brackets or parentheses do not separate keys)."""
    shapes = []
    for start, char in enumerate(text):
        if char != "{":
            continue
        depth, keys, part = 0, set(), ""
        for c in text[start + 1 :]:
            if c in "{[(":
                depth += 1
            elif c in "}])":
                if depth == 0:
                    break
                depth -= 1
            if depth == 0 and c == ",":
                keys.add(part.split(":")[0].strip())
                part = ""
            elif depth == 0 or c not in "}])":
                part += c
        keys.add(part.split(":")[0].strip())
        shapes.append(keys)
    return shapes


def _explain_help() -> str:
    import argparse

    from simulator.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return verbs.choices["explain"].format_help()


def test_json_of_a_run_and_of_a_pair_has_the_documented_keys(runs, capsys):
    """Every object `explain --json` prints, for one run and for two whose paths diverge,
    has exactly the keys of one object --help documents, and each documented shape
    appears."""
    import json

    root, ids = runs
    shapes = _documented_shapes(_explain_help())
    assert {"run_id", "latency_ns", "window", "window_start_ns", "n_segments", "summary",
            "components", "longest"} in shapes  # fmt: skip
    s = ["--store", str(root), "--json"]
    assert main(["explain", ids["ring"], *s]) == 0
    path = json.loads(capsys.readouterr().out)
    assert main(["explain", ids["gemm"], ids["ring"], *s]) == 0
    pair = json.loads(capsys.readouterr().out)
    assert pair["diverge"] is not None and pair["diverge"]["a"] is not None
    objects = [path, *path["components"], *path["longest"], pair, *pair["contributions"],
               pair["diverge"], pair["diverge"]["a"]]  # fmt: skip
    seen = []
    for obj in objects:
        assert set(obj) in shapes, sorted(obj)
        seen.append(set(obj))
    assert all(shape in seen for shape in shapes), [s for s in shapes if s not in seen]


def test_launch_explains_one_launch_and_says_where_its_window_starts(runs, capsys):
    """``--launch ID`` explains that launch alone (an autotuned kernel's chosen launch,
    without the tuning ones): its latency is the launch's end minus its host issue, and
    window_start_ns is that issue time, where the path's times count from. An unknown
    launch is one error naming the query that lists them."""
    import json

    import duckdb

    root = runs[0]
    outcome = run_workload("layernorm_backward", {"M": 32, "N": 64}, store=root)
    assert outcome.status == "ok", outcome.error
    run = outcome.run_id
    files = str(root / "launches" / f"run_id={run}" / "*.parquet")
    launches = duckdb.sql(f"SELECT launch_id, host_issue_ns, end_ns FROM read_parquet('{files}')"
                          " ORDER BY launch_id").fetchall()  # fmt: skip
    assert len(launches) > 1
    launch_id, issue_ns, end_ns = launches[-1]
    s = ["--store", str(root), "--json"]
    assert main(["explain", run, "--launch", str(launch_id), *s]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["window"] == f"launch {launch_id}" and one["window_start_ns"] == issue_ns
    assert one["latency_ns"] == pytest.approx(end_ns - issue_ns)
    assert sum(c["ns"] for c in one["components"]) == pytest.approx(one["latency_ns"])
    assert main(["explain", run, "--kernels", *s]) == 0
    kernels = json.loads(capsys.readouterr().out)
    assert kernels["window_start_ns"] == launches[0][1]
    assert kernels["latency_ns"] > one["latency_ns"]
    assert main(["explain", run, "--launch", "999", "--store", str(root)]) == 2
    assert "has no such launch: --launch 999" in capsys.readouterr().err


def test_dma_stretches_and_the_summary_name_what_bound_them(runs, capsys):
    """A DMA stretch names the PE that waited (where) and the link or memory that bound
    its transfers (resource: another PE's memory, say), as the path's segments have it;
    the summary sentence says it too."""
    import json

    root, ids = runs
    assert main(["explain", ids["gemm"], "--kernels", "--json", "--store", str(root)]) == 0
    result = json.loads(capsys.readouterr().out)
    path = critical_path(open_store(root), ids["gemm"])
    resources = {seg.resource for seg in path.segments if seg.component.startswith("DMA")}
    dma_rows = [row for row in result["longest"] if row["component"].startswith("DMA")]
    assert dma_rows and all(row["resource"] in resources - {""} for row in dma_rows)
    assert all(row["resource"] == "" for row in result["longest"]
               if row["component"] in ("GEMM", "MATH"))  # fmt: skip
    top = result["components"][0]["component"]
    assert (", bound by " in result["summary"]) == top.startswith(("DMA", "launch", "host copy"))


def test_explaining_two_runs_that_differ_says_how(runs, capsys):
    """As compare does, explain of two runs warns, one line each, of what differs besides
    the code (workload, parameters, topology)."""
    root, ids = runs
    assert main(["explain", ids["gemm"], ids["ring"], "--store", str(root)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("kernbench: warning: runs are not like for like: different "
                               "workloads (gemm -> ccl_allreduce)") for line in err)  # fmt: skip
    assert main(["explain", ids["gemm"], ids["gemm"], "--store", str(root)]) == 0
    assert "warning" not in capsys.readouterr().err
