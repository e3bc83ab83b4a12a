"""`kernbench check` and the dashboard's Compare page give the same verdict per metric
for the same pair of runs (one rule for "better", one default threshold, one word)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from dashboard_fixtures import APP
from streamlit.testing.v1 import AppTest

from simulator.history_cli import main
from traces.store import Store
from traces.synthetic import new_synthetic_writer

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]

# metric -> (value at the baseline, at the head, unit, better) and the verdict by hand at
# the default 1 % threshold.
METRICS = {
    "latency_ns": (100.0, 130.0, "ns", "lower"),  # +30 %, lower is better
    "tflops": (4.0, 5.0, "tflops", "higher"),  # +25 %, higher is better
    "bw_gbs": (100.0, 100.5, "gbs", "higher"),  # -> within 1 %: changed
    "n_pes": (8.0, 8.0, "count", "higher"),
}
EXPECTED = {"latency_ns": "regressed", "tflops": "improved", "bw_gbs": "changed", "n_pes": "same"}


def _commits(repo: Path) -> list[str]:
    repo.mkdir()
    subprocess.run([*GIT, "-C", str(repo), "init", "-q"], check=True)
    for message in ("baseline", "head"):
        subprocess.run(
            [*GIT, "-C", str(repo), "commit", "-q", "--allow-empty", "-m", message], check=True
        )
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--reverse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def _run(store: Store, commit: str, side: int) -> str:
    writer = new_synthetic_writer(
        store, workload="gemm", params={"M": 256}, git={"git_commit": commit}
    )
    for name, (*values, unit, better) in METRICS.items():
        writer.metric(name, values[side], unit, better)
    writer.finish(sim_end_ns=1.0, n_events=1)
    return writer.run_id


def test_check_and_compare_page_agree(tmp_path, capsys, monkeypatch):
    """On a store where one metric regressed, one improved, one moved within the threshold
    and one stayed, `check` (exit 1) and the Compare page show the same four verdicts."""
    repo, store = tmp_path / "repo", Store(tmp_path / "store")
    baseline, head = _commits(repo)
    run_a, run_b = _run(store, baseline, 0), _run(store, head, 1)
    suites = tmp_path / "suites.yaml"
    entry = {"workload": "gemm", "params": {"M": 256}, "topology": "synthetic"}
    suites.write_text(yaml.safe_dump({"one": {"runs": [entry]}}), encoding="utf-8")

    args = ["check", "--baseline", baseline, "--head", head, "--all", "--suite", "one"]
    args += ["--suites-file", str(suites), "--store", str(store.root), "--repo", str(repo)]
    assert main(args) == 1
    lines = capsys.readouterr().out.splitlines()
    from_check = {}
    for name in METRICS:
        (line,) = [line for line in lines if f" {name} " in line]
        (from_check[name],) = [word for word in line.split() if word in set(EXPECTED.values())]
    assert from_check == EXPECTED

    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    at.query_params.update({"mode": "runs", "a": run_a, "b": run_b})
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [d.value for d in at.dataframe if "verdict" in d.value.columns]
    from_page = dict(zip(table["name"], table["verdict"], strict=True))
    assert from_page == from_check


@pytest.mark.parametrize("better", ["lower", "higher"])
def test_stored_direction_decides_not_the_name(tmp_path, capsys, better):
    """The same +30 % of one metric is regressed or improved by its stored `better` alone."""
    repo, store = tmp_path / "repo", Store(tmp_path / "store")
    baseline, head = _commits(repo)
    for commit, value in ((baseline, 100.0), (head, 130.0)):
        writer = new_synthetic_writer(store, workload="gemm", params={}, git={"git_commit": commit})
        writer.metric("odd_ns", value, "ns", better)
        writer.finish(sim_end_ns=1.0, n_events=1)
    suites = tmp_path / "suites.yaml"
    suites.write_text(
        yaml.safe_dump({"one": {"runs": [{"workload": "gemm", "topology": "synthetic"}]}}),
        encoding="utf-8",
    )
    args = ["check", "--baseline", baseline, "--head", head, "--suite", "one"]
    args += ["--suites-file", str(suites), "--store", str(store.root), "--repo", str(repo)]
    assert main(args) == (1 if better == "lower" else 0)
    assert ("regressed" if better == "lower" else "improved") in capsys.readouterr().out
