"""The critical-path waterfall: a pure figure, and its section on the Compare page."""

from __future__ import annotations

import json
import math

import pytest
from dashboard_fixtures import APP, FixtureStore, fixture_store
from streamlit.testing.v1 import AppTest

from dashboard.path_figures import contributions_waterfall
from traces.critical_path import critical_path, kernel_window, path_diff
from traces.views import open_store


def _diff(n: int) -> dict:
    deltas = [(-1) ** i * (i + 1) * 10.0 for i in range(n)]
    return {
        "latency_a": 1000.0,
        "latency_b": 1000.0 + sum(deltas),
        "delta_ns": sum(deltas),
        "contributions": [
            {"component": f"c{i}", "delta_ns": d, "share": 0.0} for i, d in enumerate(deltas)
        ],  # fmt: skip
    }


@pytest.mark.parametrize("n", [0, 3, 12])
def test_waterfall_walks_from_a_to_b(n):
    """Bars: latency a, one per shown component (the rest folded into one), latency b;
    a plus the relative bars lands exactly on b."""
    diff = _diff(n)
    trace = contributions_waterfall(diff, top=8).data[0]
    assert list(trace.measure) == ["absolute", *["relative"] * (len(trace.y) - 2), "total"]
    assert trace.x[0] == "latency a" and trace.x[-1] == "latency b"
    assert len(trace.y) == 2 + min(n, 8) + (1 if n > 8 else 0)
    assert math.fsum(trace.y[:-1]) == pytest.approx(trace.y[-1])
    assert trace.y[-1] == diff["latency_b"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return fixture_store(tmp_path_factory)


def test_compare_page_shows_the_path_waterfall(store, monkeypatch):
    """Two gemm runs: the Compare page's waterfall has the contributions traces computes."""
    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    run_a = store.runs[(store.commits[0], "gemm")]
    run_b = store.runs[(store.commits[1], "gemm")]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.query_params.update({"mode": "runs", "a": run_a, "b": run_b})
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    charts = [c for c in at.get("plotly_chart") if "compare_path_waterfall" in c.proto.id]
    assert len(charts) == 1
    shown = json.loads(charts[0].proto.spec)["data"][0]
    con = open_store(store.root).connect()
    kernels_a, kernels_b = (
        critical_path(con, r).within(*kernel_window(con, r)) for r in (run_a, run_b)
    )
    expected = path_diff(kernels_a, kernels_b)  # by default, the kernels alone
    assert shown["y"][0] == pytest.approx(expected["latency_a"])
    assert shown["y"][-1] == pytest.approx(expected["latency_b"])
    assert shown["x"][1:3] == [c["component"] for c in expected["contributions"][:2]]


def test_run_page_shows_the_critical_path(store, monkeypatch):
    """The Run page's critical-path chart has one bar per segment traces computes, and its
    component table sums to the latency: of the kernels alone by default (the span of the
    `launches` rows), of the whole run when "Kernels only" is unticked."""
    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    run_id = store.runs[(store.commits[0], "gemm")]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.query_params.update({"run": run_id, "view": "Critical path"})
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    con = open_store(store.root).connect()
    whole = critical_path(con, run_id)
    first_issue, last_end = con.execute(
        "SELECT min(host_issue_ns), max(end_ns) FROM launches WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    kernels = whole.within(first_issue, last_end)
    assert last_end - first_issue < whole.latency_ns  # host copies lie outside
    for path in (kernels, whole):
        charts = [c for c in at.get("plotly_chart") if "run_path_chart" in c.proto.id]
        assert len(charts) == 1
        bars = json.loads(charts[0].proto.spec)["data"]
        assert sum(len(b["y"]) for b in bars) == len(path.segments)  # y: plain text lists
        shown = [d.value for d in at.dataframe if "component" in d.value.columns]
        assert len(shown) == 1
        assert shown[0]["ns"].sum() == pytest.approx(path.latency_ns)
        at.checkbox(key="run_path_kernels").uncheck().run()
        assert not at.exception, [e.value for e in at.exception]
    # The unticked (non-default) state is in the URL, so a copied link reproduces it.
    assert at.query_params["kernels"] in ("0", ["0"])
    fresh = AppTest.from_file(str(APP), default_timeout=60)
    fresh.run()
    fresh.query_params.update({"run": run_id, "kernels": "0", "view": "Critical path"})
    fresh.switch_page("app_pages/run.py").run()
    shown = [d.value for d in fresh.dataframe if "component" in d.value.columns]
    assert shown[0]["ns"].sum() == pytest.approx(whole.latency_ns)


def test_a_trends_change_point_links_to_the_compare_waterfall(store, monkeypatch):
    """gemm's kernel_ns steps at commit b: the change point's "why" link names the run
    before and the run after the change and the waterfall view; Compare opened with it
    shows those two runs with the critical-path waterfall first, above the metrics."""
    from urllib.parse import parse_qs, urlsplit

    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    run_a = store.runs[(store.commits[0], "gemm")]
    run_b = store.runs[(store.commits[1], "gemm")]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.query_params.update({"workload": "gemm", "metric": "kernel_ns"})
    at.switch_page("app_pages/trends.py").run()
    assert not at.exception, [e.value for e in at.exception]
    steps = next(d.value for d in at.dataframe if "change_pct" in d.value.columns)
    assert len(steps) == 1
    link = urlsplit(steps["why"].iloc[0])
    assert link.path == "compare"
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query == {"mode": "runs", "a": run_a, "b": run_b, "focus": "path",
                     "store": str(store.root)}  # fmt: skip
    assert steps["why"].iloc[0] in " ".join(m.value for m in at.markdown)  # a plain link too

    at.query_params.clear()
    at.query_params.update(query)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    header = " ".join(m.value for m in at.markdown)
    assert f"**a** = [`{run_a}`]" in header and f"**b** = [`{run_b}`]" in header
    keys = [c.proto.id for c in at.get("plotly_chart")]
    waterfall = [i for i, k in enumerate(keys) if "compare_path_waterfall" in k]
    metrics = [i for i, k in enumerate(keys) if "compare_metric_chart" in k]
    assert len(waterfall) == 1 and len(metrics) == 1
    assert waterfall[0] < metrics[0]  # the view the link selects: the waterfall first
    con = open_store(store.root).connect()
    expected = path_diff(*(critical_path(con, r).within(*kernel_window(con, r))
                           for r in (run_a, run_b)))  # fmt: skip
    shown = json.loads(at.get("plotly_chart")[waterfall[0]].proto.spec)["data"][0]
    assert shown["y"][0] == pytest.approx(expected["latency_a"])
    assert shown["y"][-1] == pytest.approx(expected["latency_b"])
