"""The `kernbench` CLI as scripts meet it: one error path, JSON from every verb, a
sandboxed `sql`, `latest~N`, signals and pipes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.cli import main
from traces.store import Store
from traces.synthetic import write_synthetic_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path):
    """A store with two synthetic runs of different workloads."""
    store = Store(tmp_path / "store")
    write_synthetic_run(store, seed=0, n_pes=8, n_launches=2, workload="alpha")
    write_synthetic_run(store, seed=1, n_pes=8, n_launches=2, workload="beta")
    return store


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with its size and mtime: equal snapshots = store unchanged."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse exits for usage errors
        return int(exc.code)


MISTAKES = {
    "limit negative": ["runs", "--limit", "-1"],
    "limit not a number": ["runs", "--limit", "ten"],
    "store is a file (read)": ["runs", "--store", "{file}"],
    "store is a file (run)": ["run", "noop", "--store", "{file}"],
    "store below a file": ["run", "noop", "--store", "{file}/sub"],
    "store not creatable": ["run", "noop", "--store", "/proc/kernbench-store"],
    "repeated --set key": ["run", "noop", "--set", "launches=2", "--set", "launches=3"],
    "--set without =": ["run", "noop", "--set", "launches"],
    "unknown workload": ["run", "nosuch"],
    "unknown parameter": ["run", "noop", "--set", "bogus=1"],
    "bad parameter value": ["run", "noop", "--set", "launches=many"],
    "malformed topology YAML": ["run", "noop", "--topology", "{bad_yaml}"],
    "missing topology file": ["run", "noop", "--topology", "{missing_yaml}"],
    "unknown topology name": ["run", "noop", "--topology", "nosuch"],
    "unknown run": ["report", "nosuch"],
    "latest~N past the oldest": ["report", "latest~9"],
    "compare unknown run": ["compare", "latest", "nosuch"],
    "export unknown run": ["export", "nosuch", "--perfetto", "{tmp}/x.json"],
    "export into a missing folder": ["export", "latest", "--perfetto", "{tmp}/no/dir/x.json"],
    "sql write": ["sql", "DELETE FROM runs"],
    "sql bad syntax": ["sql", "SELEC 1"],
    "sql outside the store": ["sql", "SELECT * FROM read_text('/etc/hostname')"],
    "list unknown workload": ["list", "nosuch"],
    "dashboard bad port": ["dashboard", "--port", "70000"],
    "unknown verb": ["frobnicate"],
    "unknown option": ["runs", "--colour"],
}


@pytest.mark.parametrize("argv", list(MISTAKES.values()), ids=list(MISTAKES))
def test_user_mistakes_are_one_line_exit_2_and_leave_the_store(argv, store, tmp_path, capsys):
    """Each mistake: exit 2, exactly one `kernbench: error:` line, no traceback, and the
    store's files are untouched."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a store")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("cube: [unclosed\n  pe: {\n")
    values = {
        "file": str(a_file),
        "bad_yaml": str(bad_yaml),
        "missing_yaml": str(tmp_path / "missing.yaml"),
        "tmp": str(tmp_path),
    }
    argv = [arg.format(**values) for arg in argv]
    if "--store" not in argv and argv[0] not in ("frobnicate", "list"):
        argv += ["--store", str(store.root)]
    before = _snapshot(store.root)
    code = _main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("kernbench: error: "), lines[0]
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert _snapshot(store.root) == before
    assert a_file.read_text() == "not a store"


def test_sql_refuses_reads_outside_the_store(store, tmp_path, capsys):
    """A query reading a file outside the store is refused by DuckDB's own settings,
    and cannot switch them back or load an extension; reading the store works."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\nsecret-value-7f3a\n")
    for query in (
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM read_text('{store.root}/../secret.csv')",
        "SELECT * FROM glob('/*')",
        "SELECT current_setting('enable_external_access'), * FROM read_text('/etc/hostname')",
    ):
        assert _main(["sql", query, "--store", str(store.root)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("kernbench: error: the query may read only the store's own files")
        assert "secret-value-7f3a" not in err
    assert (
        _main(["sql", "SELECT count(*) AS n FROM runs", "--json", "--store", str(store.root)]) == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"n": 2}]


def test_sql_cannot_unlock_its_sandbox(store):
    """The configuration is locked: SET and extension loading fail inside `sql`."""
    import duckdb

    from traces.views import sql

    with pytest.raises((duckdb.Error, ValueError)):
        sql(store.root, "SET enable_external_access = true")
    with pytest.raises((duckdb.Error, ValueError)):
        sql(store.root, "LOAD httpfs")
    with pytest.raises(duckdb.PermissionException):
        sql(store.root, "SELECT * FROM read_text('/etc/hostname')")


def test_latest_n_counts_back_from_the_newest(store, capsys):
    """latest~0 is latest, latest~1 the run before it (git's HEAD~N)."""
    older, newer = store.run_ids()
    assert store.resolve_run("latest~0") == newer == store.resolve_run("latest")
    assert store.resolve_run("latest~1") == older
    assert _main(["report", "latest~1", "--json", "--store", str(store.root)]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["run_id"] == older


def _keys_of(document: dict, keys: set[str]) -> None:
    assert set(document) == keys, sorted(set(document) ^ keys)


def test_every_verb_prints_json_with_its_documented_keys(store, tmp_path, capsys):
    """`--json` on runs, report, compare, sql, export and list parses and has the keys
    each verb's --help documents."""
    s = ["--store", str(store.root)]
    older, newer = store.run_ids()

    assert _main(["runs", "--json", *s]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs] == [newer, older]
    run_keys = {"run_id", "created_at", "workload", "params", "topology", "git_commit"}
    run_keys |= {"git_branch", "git_dirty", "status", "error", "sim_end_ns", "wall_s"}
    for row in runs:
        _keys_of(row, run_keys | {"verified", "metrics", "overrides", "sweep_id"})
        assert isinstance(row["params"], dict) and isinstance(row["metrics"], dict)
        assert isinstance(row["overrides"], dict)

    assert _main(["report", "latest", "--json", *s]) == 0
    report = json.loads(capsys.readouterr().out)
    sections = {"metrics", "launch_spread", "engines", "pe_summary", "dma_bandwidth"}
    sections |= {"collective_rounds", "comm_compute"}
    _keys_of(report, {"run", "headline", "invariants"} | sections)
    assert report["invariants"] == []  # a sound synthetic run
    assert report["run"]["run_id"] == newer and report["run"]["workload"] == "beta"
    assert {m["name"] for m in report["metrics"]} >= {"tflops"}
    assert all(set(m) == {"name", "value", "unit"} for m in report["metrics"])
    n_launches = store.connect().sql(f"SELECT count(*) FROM launches WHERE run_id = '{newer}'")
    assert len(report["launch_spread"]) == n_launches.fetchall()[0][0]

    assert _main(["compare", older, "latest", "--json", *s]) == 0
    compare = json.loads(capsys.readouterr().out)
    _keys_of(compare, {"run_a", "run_b", "differences", "metrics", "engines", "pes", "launches"})
    assert (compare["run_a"], compare["run_b"]) == (older, newer)
    assert any("different workloads" in d for d in compare["differences"])
    for m in compare["metrics"]:
        _keys_of(m, {"name", "unit", "better", "a", "b", "delta", "pct", "verdict"})

    target = tmp_path / "trace.json"
    assert _main(["export", "latest", "--perfetto", str(target), "--json", *s]) == 0
    export = json.loads(capsys.readouterr().out)
    _keys_of(export, {"run_id", "file", "n_events"})
    assert export["n_events"] == len(json.loads(target.read_text())["traceEvents"])

    assert _main(["sql", "SELECT run_id FROM runs ORDER BY run_id", "--json", *s]) == 0
    assert json.loads(capsys.readouterr().out) == [{"run_id": older}, {"run_id": newer}]

    assert _main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    _keys_of(listing, {"workloads", "topologies"})
    noop = next(w for w in listing["workloads"] if w["name"] == "noop")
    _keys_of(noop, {"name", "doc", "default_topology", "params"})
    for param in noop["params"]:
        _keys_of(param, {"name", "type", "default", "doc", "choices", "minimum"})
    for topology in listing["topologies"]:
        _keys_of(
            topology, {"name", "num_sips", "cube_rows", "cube_cols", "pes_per_cube"} | {"num_pes"}
        )
    assert _main(["list", "gemm", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "gemm"


def test_run_json_and_summary_lead_with_the_workload_latency(tmp_path, capsys):
    """`run --json` has the documented keys; the text summary leads with the workload's
    own latency and says what the simulated end includes."""
    s = ["--store", str(tmp_path / "s")]
    assert _main(["run", "noop", "--json", *s]) == 0
    outcome = json.loads(capsys.readouterr().out)
    keys = {"run_id", "workload", "params", "topology", "status", "error", "sim_end_ns"}
    keys |= {"wall_s", "verified", "n_events", "metrics", "overrides", "sweep_id"}
    _keys_of(outcome, keys | {"n_ops", "n_dmas"})
    assert _main(["run", "noop", *s]) == 0
    out = capsys.readouterr().out
    first, second = out.splitlines()[:2]
    latency = outcome["metrics"]["launch_latency_ns"]["value"]
    assert f"launch_latency_ns {latency:.0f} ns" in first
    assert "simulated end" in second and "host copies" in second


def test_list_workload_shows_every_parameter_in_full(capsys):
    """`list WORKLOAD` prints each parameter's name, type, default and whole doc."""
    from simulator.workloads.registry import get_workload

    assert _main(["list", "gemm"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for param in get_workload("gemm").params:
        assert param.name in out
        assert " ".join(param.doc.split()) in out, param.doc
        assert repr(param.default) in out


def _runs_piped_at_100_columns(store: Store) -> list[str]:
    """The lines `kernbench runs` prints into a pipe at COLUMNS=100 (none longer)."""
    env = dict(os.environ, COLUMNS="100")
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "runs", "--store", str(store.root)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    return lines


def test_runs_fits_100_columns_with_short_ids(tmp_path):
    """`runs` piped at 100 columns: no line longer, each run's short id whole on a line."""
    store = Store(tmp_path / "store")
    for seed in range(3):
        write_synthetic_run(store, seed=seed, n_pes=8, n_launches=1, workload="gemm_single_pe")
    lines = _runs_piped_at_100_columns(store)
    from traces.cli import short_ids

    for short in short_ids(store.run_ids()).values():
        assert sum(short in line for line in lines) == 1
        assert len(short) < 27


def test_runs_wraps_params_between_parameters_not_inside_one(tmp_path):
    """A long key=value stays whole on one line of `runs` at 100 columns, and the
    columns after params (latency, wall) are still printed."""
    store = Store(tmp_path / "store")
    params = {"algorithm": "hierarchical", "bytes": 1048576, "dtype": "float32", "world_size": 8}
    write_synthetic_run(store, n_pes=8, n_launches=1, workload="ccl_allreduce", params=params)
    lines = _runs_piped_at_100_columns(store)
    for key, value in params.items():
        assert sum(f"{key}={value}" in line for line in lines) == 1, lines
    header = next(line for line in lines if line.startswith("run "))
    assert header.split()[-2:] == ["latency", "wall"]


def test_runs_filters_by_sweep_and_status_and_shows_overrides(tmp_path, capsys):
    """`runs --sweep PREFIX` lists that sweep's runs only, `--status` filters by outcome,
    and a run's topology overrides appear beside its params as dotted key=value."""
    from simulator.runner import run_workload

    store = str(tmp_path / "store")
    for bw in (100, 200):
        run_workload("noop", {"cube.hbm.bw_gbs": bw}, store=store, sweep_id="sweep-aaa-1")
    plain = run_workload("noop", store=store)
    s = ["--store", store]
    assert _main(["runs", "--sweep", "sweep-aaa", "--json", *s]) == 0
    swept = json.loads(capsys.readouterr().out)
    assert len(swept) == 2 and {r["sweep_id"] for r in swept} == {"sweep-aaa-1"}
    assert plain.run_id not in {r["run_id"] for r in swept}
    assert _main(["runs", "--status", "failed", "--json", *s]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert _main(["runs", "--sweep", "sweep-aaa", *s]) == 0
    out = capsys.readouterr().out
    assert "cube.hbm.bw_gbs=100" in out and "cube.hbm.bw_gbs=200" in out
    # report shows a run's overrides too: in its header, and in --json as an object
    latest_swept = swept[0]["run_id"]
    assert _main(["report", latest_swept, *s]) == 0
    assert re.search(r"overrides\s+.\s+cube\.hbm\.bw_gbs=(100|200)", capsys.readouterr().out)
    assert _main(["report", latest_swept, "--json", *s]) == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert run["overrides"] == swept[0]["overrides"] and isinstance(run["overrides"], dict)


def test_warnings_are_one_line_each(store, capsys):
    """A corrupt store file is announced as `kernbench: warning: ...` on one line, not in
    Python's warnings format with a source path."""
    older, _ = store.run_ids()
    part = next((store.root / "ops" / f"run_id={older}").glob("*.parquet"))
    part.write_bytes(b"garbage")
    assert _main(["runs", "--store", str(store.root)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("kernbench: warning: ") for line in err)
    assert any(str(part) in line for line in err)
    assert not any(".py:" in line for line in err)


def test_compare_warns_on_unlike_runs(store, capsys):
    """compare prints one warning line per difference; like runs print none."""
    assert _main(["compare", "latest~1", "latest", "--store", str(store.root)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("kernbench: warning: runs are not like") for line in err)
    assert any("alpha -> beta" in line for line in err)
    assert _main(["compare", "latest", "latest", "--store", str(store.root)]) == 0
    assert capsys.readouterr().err == ""


def test_closed_pipe_exits_quietly(store):
    """`kernbench sql ... | head -1`: exit 0, nothing on stderr."""
    query = "SELECT * FROM range(200000)"
    command = [sys.executable, "-m", "simulator.cli", "sql", query, "--format", "csv"]
    with subprocess.Popen(
        [*command, "--store", str(store.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, as `head -1` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert code == 0, err
    assert err == ""


def test_ctrl_c_exits_130_without_traceback_or_partial_run(tmp_path):
    """SIGINT during a run: exit 130, one line, and the store holds no run or temp folder."""
    root = tmp_path / "store"
    command = [sys.executable, "-m", "simulator.cli", "run", "noop", "--set", "launches=100000"]
    with subprocess.Popen(
        [*command, "--store", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        deadline = time.monotonic() + 60
        while not (root / "_tmp").is_dir() or not any((root / "_tmp").iterdir()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the simulation
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "kernbench: interrupted"
    assert Store(root).run_ids() == []
    assert not any((root / "_tmp").iterdir())


def test_version_and_help_on_every_option(capsys):
    """--version prints the package version; every option of every verb has help text."""
    from simulator.cli import build_parser
    from simulator.runner import sim_version

    assert _main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kernbench {sim_version()}"
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    for name, verb in verbs.items():
        for action in verb._actions:
            if action.help is None:
                pytest.fail(f"kernbench {name} {action.option_strings or action.dest}: no help")
