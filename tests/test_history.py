"""Suites (traces.suites), the gate (traces.verdicts), change points, and the history
driver and verbs (simulator.history, simulator.history_cli)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simulator.history import commit_env, run_history, worktree_code_problem
from simulator.history_cli import main
from traces.changepoints import suite_change_points
from traces.gitinfo import GitError, commits_in_range
from traces.store import Store
from traces.suites import (
    SUITES_FILE,
    MissingRunsError,
    SuiteEntry,
    SuiteError,
    find_suite_runs,
    load_suite,
    load_suites,
)
from traces.synthetic import new_synthetic_writer
from traces.verdicts import MetricComparison, change_pct, compare_suite, legacy_better
from traces.views import open_connection

ROOT = Path(__file__).resolve().parent.parent
GIT_USER = ["-c", "user.name=kernbench test", "-c", "user.email=test@example.com"]
GIT_USER += ["-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *GIT_USER, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def empty_repo(path: Path, n_commits: int) -> list[str]:
    """A git repository at `path` with `n_commits` empty commits; their hashes, oldest first."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for number in range(1, n_commits + 1):
        git(path, "commit", "-q", "--allow-empty", "-m", f"commit {number}")
    return git(path, "rev-list", "--reverse", "HEAD").split()


def fake_run(
    store: Store,
    commit: str,
    workload: str,
    params: dict,
    metrics: dict[str, tuple[float, str]],
    *,
    status: str = "ok",
    dirty: bool = False,
) -> str:
    """Write a run with the given provenance and metrics (topology 'synthetic'); its id."""
    writer = new_synthetic_writer(
        store, workload=workload, params=params, git={"git_commit": commit, "git_dirty": dirty}
    )
    for name, (value, unit) in metrics.items():
        writer.metric(name, value, unit, "lower" if unit == "ns" else "higher")
    error = None if status == "ok" else "ValueError: boom"
    writer.finish(status=status, error=error, sim_end_ns=0.0, n_events=0)
    return writer.run_id


GEMM = SuiteEntry("gemm", {"M": 256}, "synthetic")
NOOP = SuiteEntry("noop", {}, "synthetic")


def write_suites(path: Path, suites: dict) -> Path:
    path.write_text(yaml.safe_dump(suites), encoding="utf-8")
    return path


# --- suites -----------------------------------------------------------------------------------


def test_shipped_smoke_suite_names_the_small_workloads():
    """The shipped smoke suite runs every workload family, small, on `default`."""
    entries = load_suite("smoke")
    assert [e.workload for e in entries] == [
        "noop", "gemm_single_pe", "gemm", "dma_sweep", "ccl_allreduce", "tp_mlp", "gpt3_qkv",
    ]  # fmt: skip
    assert all(e.topology == "default" for e in entries)
    assert entries[1].params == {"M": 256, "N": 256, "K": 256}


def test_demo_runs_the_demo_suite(monkeypatch, tmp_path):
    """`kernbench demo` runs exactly the entries of the `demo` suite, in order."""
    import simulator.cli as cli

    ran = []

    def fake_run(workload, params, *, topology, store):
        ran.append((workload, params, topology))
        from simulator.runner import RunOutcome

        return RunOutcome(None, workload, params, topology, "ok", None, 0.0, 0.0, None, 0)

    monkeypatch.setattr(cli, "run_workload", fake_run)
    assert cli.main(["demo", "--no-dashboard", "--store", str(tmp_path)]) == 0
    assert ran == [(e.workload, e.params, e.topology) for e in load_suite("demo")]


def test_demo_json_reports_every_run_and_the_failures(monkeypatch, tmp_path, capsys):
    """`kernbench demo --json` prints {store, failed, runs} with each run's `run --json`
    object in suite order, serves no dashboard, and exits 1 when a run failed."""
    import json

    import simulator.cli as cli
    from simulator.runner import RunOutcome

    entries = load_suite("demo")
    failing = entries[1].workload

    def fake_run(workload, params, *, topology, store):
        status = "failed" if workload == failing else "ok"
        return RunOutcome(None, workload, params, topology, status, None, 0.0, 0.0, None, 0)

    monkeypatch.setattr(cli, "run_workload", fake_run)
    monkeypatch.setattr(cli, "_serve_dashboard", lambda *a, **k: pytest.fail("served"))
    assert cli.main(["demo", "--json", "--store", str(tmp_path)]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"store", "failed", "runs"}
    assert printed["failed"] == sum(e.workload == failing for e in entries)
    assert [r["workload"] for r in printed["runs"]] == [e.workload for e in entries]
    assert set(printed["runs"][0]) >= {"run_id", "status", "metrics", "params", "topology"}


def test_suite_workloads_exist_in_the_simulator():
    """Every workload of every shipped suite is registered in the simulator."""
    from simulator.workloads.registry import list_workloads

    registered = {w.name for w in list_workloads()}
    for name, entries in load_suites(SUITES_FILE).items():
        assert {e.workload for e in entries} <= registered, name


@pytest.mark.parametrize(
    ("suites", "message"),
    [
        ({"s": {"runs": [{"workload": "noop", "param": {}}]}}, "unknown key 'param'"),
        ({"s": {"runs": []}}, "non-empty list 'runs'"),
        ({"s": {"runs": [{"params": {"M": 1}}]}}, "string 'workload'"),
        ({"s": {"runs": [{"workload": "gemm", "params": {"M": [1]}}]}}, "params.M"),
        ({"s": {"runs": [{"workload": "noop"}], "extra": 1}}, "unknown key 'extra'"),
    ],
)
def test_malformed_suites_name_file_suite_and_key(tmp_path, suites, message):
    """A malformed suite file raises SuiteError naming the file, the suite and the key."""
    path = write_suites(tmp_path / "suites.yaml", suites)
    with pytest.raises(SuiteError, match=message) as info:
        load_suites(path)
    assert str(path) in str(info.value) and "'s'" in str(info.value)


def test_unknown_suite_lists_the_suites(tmp_path):
    """Asking for a suite that does not exist lists the ones that do."""
    path = write_suites(tmp_path / "suites.yaml", {"a": {"runs": [{"workload": "noop"}]}})
    with pytest.raises(SuiteError, match="no suite 'b'.*suites: a"):
        load_suite("b", path)


def test_entry_matches_resolved_params_as_cli_text():
    """An entry matches a run whose params contain its values, compared as --set spells them."""
    entry = SuiteEntry("noop", {"barrier": False, "launches": 2}, "default")
    assert entry.matches("noop", "default", {"barrier": False, "launches": 2, "extra": 1})
    assert entry.matches("noop", "default", {"barrier": "false", "launches": "2"})
    assert not entry.matches("noop", "default", {"barrier": True, "launches": 2})
    assert not entry.matches("noop", "sip4x4", {"barrier": False, "launches": 2})
    assert not entry.matches("noop", "default", {"barrier": False})
    assert not entry.matches("gemm", "default", {"barrier": False, "launches": 2})


def test_entry_run_args_are_kernbench_run_flags():
    """run_args spells the entry as `kernbench run` arguments."""
    entry = SuiteEntry("noop", {"barrier": False, "launches": 2}, "sip4x4")
    assert entry.run_args() == [
        "run",
        "noop",
        "--set",
        "barrier=false",
        "--set",
        "launches=2",
        "--topology",
        "sip4x4",
    ]


# --- direction and verdicts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("latency_ns", "lower"),
        ("dma.own_hbm.262144B.latency_ns", "lower"),
        ("busbw_gbs", "higher"),
        ("dma.own_hbm.bw_gbs", "higher"),
        ("tflops", "higher"),
        ("utilisation", "higher"),
        ("n_pes", None),
        ("ns_total", None),
    ],
)
def test_legacy_direction_follows_the_name(name, direction):
    """Runs without a stored direction: *_ns lower, tflops, *_gbs, utilisation higher."""
    assert legacy_better(name, None) == direction


@pytest.mark.parametrize(
    ("better", "baseline", "head", "verdict"),
    [
        ("lower", 100.0, 101.5, "regressed"),  # +1.5 % > 1 %
        ("lower", 100.0, 101.0, "changed"),  # exactly the threshold: not past it
        ("lower", 100.0, 100.5, "changed"),
        ("lower", 100.0, 99.5, "changed"),  # within the threshold either way
        ("lower", 100.0, 90.0, "improved"),
        ("higher", 100.0, 98.0, "regressed"),
        ("higher", 100.0, 99.0, "changed"),
        ("higher", 10.0, 12.0, "improved"),
        (None, 32.0, 64.0, "changed"),  # no direction: never fails
        ("lower", 5.0, 5.0, "same"),
        ("lower", 0.0, 3.0, "regressed"),  # from zero: infinitely worse
        ("higher", 0.0, 3.0, "improved"),
        ("lower", -10.0, -12.0, "improved"),  # negative baseline: -20 % is lower
        ("higher", -10.0, -12.0, "regressed"),
    ],
)
def test_verdict_against_a_one_percent_threshold(better, baseline, head, verdict):
    """Verdicts at the default threshold of 1 %, by hand-computed change."""
    row = MetricComparison(NOOP, "x", "u", baseline, head, better)
    assert row.verdict(1.0) == verdict
    assert row.regressed(1.0) == (verdict == "regressed")


def test_change_pct_by_hand():
    """change_pct is 100 * (after - before) / |before|, with 0 -> 0 as 0 and 0 -> x as inf."""
    assert change_pct(200.0, 150.0) == -25.0
    assert change_pct(-4.0, -2.0) == 50.0
    assert change_pct(0.0, 0.0) == 0.0
    assert change_pct(0.0, 2.0) == math.inf


def test_missing_metric_is_reported_never_failing():
    """A metric present at one side only is 'new' or 'gone' and never a regression."""
    assert MetricComparison(NOOP, "x_ns", "ns", None, 1.0).verdict(1.0) == "new"
    assert MetricComparison(NOOP, "x_ns", "ns", 1.0, None).verdict(1.0) == "gone"
    assert not MetricComparison(NOOP, "x_ns", "ns", 1.0, None).regressed(0.0)


# --- the store lookup and the gate ----------------------------------------------------------


def test_find_suite_runs_prefers_ok_then_clean_then_newest(tmp_path):
    """Of an entry's runs at a commit, ok beats failed, clean beats dirty, newer beats older."""
    store = Store(tmp_path / "store")
    commit = "a" * 40
    fake_run(store, commit, "gemm", {"M": 256, "N": 1}, {})
    clean = fake_run(store, commit, "gemm", {"M": 256, "N": 2}, {})
    fake_run(store, commit, "gemm", {"M": 256}, {}, dirty=True)
    fake_run(store, commit, "gemm", {"M": 256}, {}, status="failed")
    fake_run(store, commit, "gemm", {"M": 512}, {})  # other params: not this entry
    fake_run(store, "b" * 40, "gemm", {"M": 256}, {})  # another commit
    runs = find_suite_runs(store, [GEMM], [commit])
    assert list(runs) == [(commit, 0)]
    assert runs[(commit, 0)].run_id == clean

    failed_only = find_suite_runs(store, [GEMM], ["c" * 40])
    assert failed_only == {}


def test_compare_suite_reports_each_metric(tmp_path):
    """compare_suite pairs each metric of each entry at baseline and head."""
    store = Store(tmp_path / "store")
    base, head = "a" * 40, "b" * 40
    fake_run(store, base, "gemm", {"M": 256}, {"latency_ns": (100.0, "ns"), "tflops": (4.0, "t")})
    fake_run(store, head, "gemm", {"M": 256}, {"latency_ns": (150.0, "ns"), "tflops": (4.0, "t")})
    fake_run(store, base, "noop", {}, {"spread_ns": (0.0, "ns")})
    fake_run(store, head, "noop", {}, {"spread_ns": (0.0, "ns")})
    rows = compare_suite(store, [GEMM, NOOP], base, head)
    table = {(r.entry.workload, r.metric): (r.baseline, r.head) for r in rows}
    assert table == {
        ("gemm", "latency_ns"): (100.0, 150.0),
        ("gemm", "tflops"): (4.0, 4.0),
        ("noop", "spread_ns"): (0.0, 0.0),
    }
    assert [r.metric for r in rows if r.regressed(1.0)] == ["latency_ns"]


def test_compare_suite_names_missing_and_failed_runs(tmp_path):
    """Missing or failed runs raise MissingRunsError naming the entry, commit and reason."""
    store = Store(tmp_path / "store")
    base, head = "a" * 40, "b" * 40
    fake_run(store, base, "gemm", {"M": 256}, {"latency_ns": (1.0, "ns")})
    fake_run(store, head, "gemm", {"M": 256}, {}, status="failed")
    with pytest.raises(MissingRunsError) as info:
        compare_suite(store, [GEMM], base, head)
    assert info.value.missing[0][0] == head
    assert "bbbbbbbbbb: gemm (M=256 on synthetic) failed in run" in str(info.value)
    with pytest.raises(MissingRunsError, match="aaaaaaaaaa: gemm .* missing"):
        compare_suite(Store(tmp_path / "empty"), [GEMM], base, base)


def test_change_points_land_on_the_commit_that_moved(tmp_path):
    """A metric at 10, 10, 20, 20 over four commits has one change point, at the third."""
    store = Store(tmp_path / "store")
    commits = [c * 40 for c in "abcd"]
    for commit, value in zip(commits, (10.0, 10.0, 20.0, 20.0), strict=True):
        fake_run(store, commit, "gemm", {"M": 256}, {"latency_ns": (value, "ns"), "n": (1.0, "")})
    changes = suite_change_points(store, [GEMM], commits)
    assert [(c.metric, c.commit, c.before, c.after) for c in changes] == [
        ("latency_ns", commits[2], 10.0, 20.0)
    ]
    assert changes[0].change_pct == 100.0


# --- git and the CLI on a small repository ----------------------------------------------------


def test_commits_in_range_oldest_first(tmp_path):
    """rev ranges resolve like git rev-list --reverse; C^! is one commit; bad ranges raise."""
    commits = empty_repo(tmp_path / "repo", 3)
    repo = tmp_path / "repo"
    assert commits_in_range(repo, "HEAD") == commits
    assert commits_in_range(repo, "HEAD~2..HEAD") == commits[1:]
    assert commits_in_range(repo, f"{commits[0]}^!") == commits[:1]
    with pytest.raises(GitError, match="git rev-list"):
        commits_in_range(repo, "nope..HEAD")
    with pytest.raises(GitError, match="holds no commits"):
        commits_in_range(repo, "HEAD..HEAD")
    with pytest.raises(GitError, match="expected a git revision"):
        commits_in_range(repo, "--all")


def test_check_cli_exit_codes(tmp_path, capsys):
    """check exits 0 when nothing regressed, 1 on a regression, 2 with the command to run."""
    repo = tmp_path / "repo"
    c1, c2, c3 = empty_repo(repo, 3)
    store = Store(tmp_path / "store")
    for commit, latency in ((c1, 100.0), (c2, 100.0)):
        fake_run(store, commit, "gemm", {"M": 256}, {"latency_ns": (latency, "ns")})
    fake_run(store, c3, "gemm", {"M": 256}, {"latency_ns": (130.0, "ns")})
    suites = write_suites(
        tmp_path / "suites.yaml",
        {"tiny": {"runs": [{"workload": "gemm", "params": {"M": 256}, "topology": "synthetic"}]}},
    )
    common = ["--suite", "tiny", "--suites-file", str(suites), "--store", str(store.root)]
    common += ["--repo", str(repo)]

    assert main(["check", "--baseline", c1, "--head", c2, *common]) == 0
    assert "0 regressed" in capsys.readouterr().out

    assert main(["check", "--baseline", "HEAD~1", *common]) == 1
    out = capsys.readouterr().out
    assert "latency_ns" in out and "+30.00%" in out and "regressed" in out
    assert main(["check", "--baseline", "HEAD~1", "--threshold", "50", *common]) == 0
    capsys.readouterr()

    fresh = ["--suite", "tiny", "--suites-file", str(suites), "--repo", str(repo)]
    assert main(["check", "--baseline", c1, "--store", str(tmp_path / "empty"), *fresh]) == 2
    err = capsys.readouterr().err
    assert f"kernbench history {c1[:10]}^! --suite tiny" in err
    assert main(["check", "--baseline", "nope", *common]) == 2
    assert "revision 'nope' names no commit" in capsys.readouterr().err


def test_check_json_and_junit_report_every_metric(tmp_path, capsys):
    """check --json lists every metric with its verdict and the documented keys; --junit
    writes one test case per metric with a <failure> exactly for the regressed ones."""
    import json
    from xml.etree import ElementTree

    repo = tmp_path / "repo"
    c1, c2 = empty_repo(repo, 2)
    store = Store(tmp_path / "store")
    fake_run(
        store, c1, "gemm", {"M": 256}, {"latency_ns": (100.0, "ns"), "tflops": (10.0, "tflops")}
    )
    fake_run(
        store, c2, "gemm", {"M": 256}, {"latency_ns": (130.0, "ns"), "tflops": (10.0, "tflops")}
    )
    suites = write_suites(
        tmp_path / "suites.yaml",
        {"tiny": {"runs": [{"workload": "gemm", "params": {"M": 256}, "topology": "synthetic"}]}},
    )
    common = ["--suite", "tiny", "--suites-file", str(suites), "--store", str(store.root)]
    common += ["--repo", str(repo), "--baseline", c1, "--head", c2]
    junit = tmp_path / "check.xml"
    assert main(["check", "--json", "--junit", str(junit), *common]) == 1
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"suite", "baseline", "head", "threshold_pct", "regressed", "metrics"}
    assert (document["baseline"], document["head"], document["regressed"]) == (c1, c2, True)
    by_name = {m["metric"]: m for m in document["metrics"]}
    assert set(by_name) == {"latency_ns", "tflops"}
    keys = {"workload", "params", "topology", "metric", "unit", "better", "baseline", "head"}
    assert all(set(m) == keys | {"change_pct", "verdict"} for m in document["metrics"])
    assert by_name["latency_ns"]["change_pct"] == pytest.approx(30.0)
    assert by_name["latency_ns"]["verdict"] == "regressed"
    assert by_name["tflops"]["verdict"] == "same"

    root = ElementTree.parse(junit).getroot()
    (suite,) = root.iter("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"latency_ns", "tflops"}
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert cases["latency_ns"].find("failure") is not None
    assert cases["tflops"].find("failure") is None
    assert not list(tmp_path.glob(".check.xml*"))  # the temporary file was renamed


def test_worktree_code_check_refuses_a_tree_without_its_own_packages(tmp_path):
    """A tree lacking traces/ is refused (Python would import another copy); a full one passes."""
    tree = tmp_path / "tree"
    (tree / "simulator").mkdir(parents=True)
    (tree / "simulator" / "__init__.py").write_text("")
    problem = worktree_code_problem(tree, commit_env(tree, "c" * 40), sys.executable)
    assert problem is not None and "no traces/ package" in problem
    (tree / "traces").mkdir()
    (tree / "traces" / "__init__.py").write_text("")
    assert worktree_code_problem(tree, commit_env(tree, "c" * 40), sys.executable) is None


# --- history over a throwaway copy of the project -----------------------------------------------


def project_repo(path: Path) -> list[str]:
    """A git repository with the project's code committed 4 times; commit 3 halves the HBM
    slice bandwidth of the default topology, commits 2 and 4 only touch a comment."""
    path.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("simulator", "traces"):
        shutil.copytree(ROOT / folder, path / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", path / "pyproject.toml")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "c1: the project")
    init = path / "simulator" / "__init__.py"
    init.write_text(init.read_text() + "\n# a comment\n")
    git(path, "commit", "-q", "-am", "c2: a comment")
    topology = path / "simulator" / "topologies" / "default.yaml"
    data = yaml.safe_load(topology.read_text())
    hbm_gbs = data["cube"]["hbm"]["bw_gbs"]
    text = topology.read_text()
    assert text.count(f"bw_gbs: {hbm_gbs}") == 1  # the HBM slice line, edited in place
    topology.write_text(text.replace(f"bw_gbs: {hbm_gbs}", f"bw_gbs: {hbm_gbs / 2}"))
    git(path, "commit", "-q", "-am", "c3: halve the HBM slice bandwidth")
    init.write_text(init.read_text() + "# another comment\n")
    git(path, "commit", "-q", "-am", "c4: another comment")
    return git(path, "rev-list", "--reverse", "HEAD").split()


@pytest.mark.slow
def test_history_and_check_over_a_throwaway_repository(tmp_path, capsys):
    """history runs the smoke suite once per commit from each commit's own code, skips what
    it has, and check and the change points pin the slowdown on the commit that made it."""
    repo = tmp_path / "repo"
    c1, c2, c3, c4 = project_repo(repo)
    store = tmp_path / "store"
    base = ["--store", str(store), "--repo", str(repo)]
    hbm_gbs = yaml.safe_load((ROOT / "simulator/topologies/default.yaml").read_text())["cube"][
        "hbm"
    ]["bw_gbs"]

    assert main(["history", "HEAD", "--jobs", "2", *base]) == 0
    out = capsys.readouterr().out
    assert "c3: halve the HBM slice bandwidth" in out
    # Again with --json: everything is in the store already, so every attempt is skipped.
    assert main(["history", "HEAD", "--json", *base]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"suite", "store", "commits", "attempts", "change_points"}
    assert [c["commit"] for c in document["commits"]] == [c1, c2, c3, c4]
    assert {a["status"] for a in document["attempts"]} == {"skipped"}
    assert {c["commit"] for c in document["change_points"]} == {c3}

    entries = load_suite("smoke")
    runs = open_connection(store).sql("SELECT git_commit, workload, status FROM runs").fetchall()
    assert len(runs) == 4 * len(entries)
    assert {(c, w) for c, w, _ in runs} == {
        (c, e.workload) for c in (c1, c2, c3, c4) for e in entries
    }
    assert {s for _, _, s in runs} == {"ok"}

    # The worktree's code ran, not the editable install: the halved bandwidth shows at c3.
    found = find_suite_runs(store, entries, [c1, c3])
    dma = entries.index(next(e for e in entries if e.workload == "dma_sweep"))
    con = open_connection(store)
    own_hbm = "SELECT value FROM metrics WHERE run_id = ? AND name = 'dma.own_hbm.bw_gbs'"
    at_c1 = con.sql(own_hbm, params=[found[(c1, dma)].run_id]).fetchall()[0][0]
    at_c3 = con.sql(own_hbm, params=[found[(c3, dma)].run_id]).fetchall()[0][0]
    assert at_c1 == pytest.approx(hbm_gbs)
    assert at_c3 == pytest.approx(hbm_gbs / 2)

    # A second pass finds every run in the store and runs nothing.
    attempts = run_history(repo, [c1, c2, c3, c4], entries, store)
    assert {a.status for a in attempts} == {"skipped"}

    # Change points: every moved metric moved at c3, including the GEMM's kernel time.
    changes = suite_change_points(store, entries, [c1, c2, c3, c4])
    assert changes and {c.commit for c in changes} == {c3}
    assert any(c.entry.workload == "gemm_single_pe" and c.metric == "kernel_ns" for c in changes)

    assert main(["check", "--baseline", c1, "--head", c2, *base]) == 0
    assert main(["check", "--baseline", c2, "--head", c3, *base]) == 1
    assert main(["check", "--baseline", c3, *base]) == 0  # HEAD = c4 is level with c3
    out = capsys.readouterr().out
    assert "gemm_single_pe" in out and "regressed" in out

    # A failing entry is reported and the others still run.
    broken = [SuiteEntry("no_such_workload"), entries[0]]
    attempts = run_history(repo, [c4], broken, tmp_path / "store2")
    assert [a.status for a in attempts] == ["error", "ok"]
    assert "unknown workload 'no_such_workload'" in attempts[0].message


def test_change_point_pct_with_a_negative_baseline():
    """A level going from -4 to -2 rose by 50 % of |-4|; from -4 to -6 fell by 50 %."""
    from traces.changepoints import ChangePoint, change_points

    assert ChangePoint(2, -4.0, -2.0).change_pct == 50.0
    assert ChangePoint(2, -4.0, -6.0).change_pct == -50.0
    (point,) = change_points([-4.0, -4.0, -4.0, -2.0, -2.0, -2.0])
    assert (point.index, point.change_pct) == (3, 50.0)


def test_change_points_skip_missing_values_and_report_levels():
    """None and NaN are missing points; two values suffice; a level is the segment's
    middle value (asv's), not its minimum."""
    from traces.changepoints import change_points

    assert [(p.index, p.before, p.after) for p in change_points([10.0, 20.0])] == [(1, 10.0, 20.0)]
    assert change_points([10.0, None, math.nan]) == []
    (point,) = change_points([10.0, math.nan, 10.0, None, 20.0, 20.0])
    assert (point.index, point.before, point.after) == (4, 10.0, 20.0)
    (point,) = change_points([10.0, 10.2, 10.1, 10.2, 30.0, 30.2, 30.1, 30.2])
    assert (point.before, point.after) == pytest.approx((10.15, 30.15))


def test_suite_change_points_with_a_commit_missing_its_run(tmp_path):
    """A commit without a run is a gap in the series; each change carries its entry and unit."""
    store = Store(tmp_path / "store")
    commits = [c * 40 for c in "abcde"]
    for commit, value in zip(commits, (10.0, 10.0, None, 20.0, 20.0), strict=True):
        if value is not None:
            fake_run(store, commit, "gemm", {"M": 256}, {"latency_ns": (value, "ns")})
    (change,) = suite_change_points(store, [GEMM], commits)
    assert (change.entry, change.metric, change.unit) == (GEMM, "latency_ns", "ns")
    assert (change.commit, change.before, change.after) == (commits[3], 10.0, 20.0)
