"""The Sweep page under streamlit's AppTest, on a store holding a real 2x2 sweep, and the
Pareto front against a brute-force reference."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.sweep_figures import HIGHER, LOWER, pareto_front
from simulator.runner import run_workload
from traces.sweeps import sweep_metric_directions
from traces.views import open_store

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PAGE_SWEEP = "app_pages/sweep.py"
SWEEP_ID = "20261126-000000-000000-5eed"
M_VALUES = (128, 256)
BW_VALUES = (51.2, 102.4)


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory) -> Path:
    """A store with a 2x2 sweep of gemm_single_pe (M x HBM bandwidth) and one plain run."""
    root = tmp_path_factory.mktemp("sweep_store") / "store"
    for m, bw in itertools.product(M_VALUES, BW_VALUES):
        values = {"M": m, "N": 128, "K": 128, "cube.hbm.bw_gbs": bw}
        outcome = run_workload("gemm_single_pe", values, store=root, sweep_id=SWEEP_ID)
        assert outcome.status == "ok"
    run_workload("noop", {}, store=root)
    return root


@pytest.fixture
def app(sweep_store, monkeypatch):
    monkeypatch.setenv("KERNBENCH_STORE", str(sweep_store))

    def make(**query: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        at.query_params.update(query)
        at.switch_page(PAGE_SWEEP).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make


def _points(root: Path) -> pd.DataFrame:
    """M, bandwidth and kernel_ns of every sweep run, straight from the Parquet files."""
    return duckdb.sql(
        f"""
        SELECT r.run_id, json_extract(r.params, '$.M')::INT AS m,
               json_extract(r.overrides, '$."cube.hbm.bw_gbs"')::DOUBLE AS bw, m.value AS kernel_ns
        FROM read_parquet('{root}/runs/*/*.parquet') r
        JOIN read_parquet('{root}/metrics/*/*.parquet') m
          ON m.run_id = r.run_id AND m.name = 'kernel_ns'
        WHERE r.sweep_id = '{SWEEP_ID}'
        """
    ).df()


def _chart(at: AppTest, key: str) -> dict:
    found = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert len(found) == 1, f"{len(found)} charts with key {key}"
    return json.loads(found[0].proto.spec)


def test_sweep_page_plots_the_metric_per_swept_parameter(app, sweep_store):
    """One line per bandwidth over M, heat map cells and table rows equal the stored metrics."""
    at = app(metric="kernel_ns", x="M", line="cube.hbm.bw_gbs")
    assert at.title[0].value == "Sweep"
    expected = _points(sweep_store)
    assert len(expected) == 4
    lines = _chart(at, "sweep_line_chart")["data"]
    assert {t["name"] for t in lines} == {f"cube.hbm.bw_gbs = {bw}" for bw in BW_VALUES}
    for trace in lines:
        bw = float(trace["name"].split("= ")[1])
        want = expected[expected["bw"] == bw].sort_values("m")
        assert list(trace["x"]) == list(want["m"])
        assert trace["y"] == pytest.approx(list(want["kernel_ns"]))
        assert all(f"cube.hbm.bw_gbs = {bw}" in text for text in trace["hovertext"])
    heat = _chart(at, "sweep_heatmap")["data"][0]
    assert heat["x"] == [str(m) for m in M_VALUES] and heat["y"] == [str(b) for b in BW_VALUES]
    for (i, bw), (j, m) in itertools.product(enumerate(BW_VALUES), enumerate(M_VALUES)):
        cell = expected[(expected["bw"] == bw) & (expected["m"] == m)]
        assert heat["z"][i][j] == pytest.approx(cell["kernel_ns"].item())
        assert heat["customdata"][i][j] == [cell["run_id"].item()]
    table = next(d.value for d in at.dataframe if "run_id" in d.value.columns)
    assert sorted(table["run_id"]) == sorted(expected["run_id"])


def test_sweep_page_pareto_front_of_bandwidth_and_latency(app, sweep_store):
    """Bandwidth (a swept resource: less is cheaper) against kernel_ns (declared lower is
    better): the front holds exactly the points no other point beats on both."""
    at = app(metric="kernel_ns", pa="cube.hbm.bw_gbs", pb="kernel_ns")
    traces = {t["name"]: t for t in _chart(at, "sweep_pareto")["data"]}
    expected = _points(sweep_store).reset_index(drop=True)
    front = _brute_front(list(expected["bw"]), list(expected["kernel_ns"]), LOWER, LOWER)
    # The fastest point at each bandwidth: the trade-off curve, not a single winner.
    assert len(front) == 2
    assert sorted(c[0] for c in traces["Pareto front"]["customdata"]) == sorted(
        expected.loc[sorted(front), "run_id"]
    )
    assert len(traces["dominated"]["x"]) == len(expected) - len(front)


def test_sweep_metric_directions_are_the_declared_ones(sweep_store):
    """The Sweep page judges each metric by the direction its workload stored."""
    stored = dict(
        duckdb.sql(
            f"""
            SELECT DISTINCT m.name, m.better
            FROM read_parquet('{sweep_store}/metrics/*/*.parquet', hive_partitioning=true) m
            JOIN read_parquet('{sweep_store}/runs/*/*.parquet', hive_partitioning=true) r
              ON r.run_id = m.run_id
            WHERE r.sweep_id = '{SWEEP_ID}'
            """
        ).fetchall()
    )
    assert {"lower", "higher"} <= set(stored.values())
    assert sweep_metric_directions(open_store(sweep_store), SWEEP_ID) == stored


def test_open_and_compare_points(app, sweep_store):
    """The point picker opens the Run page; two points open Compare in runs mode."""
    expected = _points(sweep_store).sort_values("run_id")
    first, second = expected["run_id"].iloc[0], expected["run_id"].iloc[1]
    at = app()
    at.selectbox(key="sweep_point").set_value(first)
    at.button(key="sweep_open").click().run()
    assert not at.exception
    assert at.title[0].value == "Run"
    assert at.query_params["run"] in (first, [first])
    at = app()
    at.selectbox(key="sweep_point").set_value(first)
    at.selectbox(key="sweep_point_b").set_value(second)
    at.button(key="sweep_compare").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare"
    assert at.query_params["a"] in (first, [first]) and at.query_params["b"] in (second, [second])


def _brute_front(xs, ys, better_x, better_y) -> set[int]:
    sx = 1 if better_x == LOWER else -1
    sy = 1 if better_y == LOWER else -1
    front = set()
    for i in range(len(xs)):
        dominated = any(
            sx * xs[j] <= sx * xs[i]
            and sy * ys[j] <= sy * ys[i]
            and (sx * xs[j] < sx * xs[i] or sy * ys[j] < sy * ys[i])
            for j in range(len(xs))
        )
        if not dominated:
            front.add(i)
    return front


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_matches_brute_force(seed):
    """The sorted sweep gives exactly the points no other point dominates (ties included)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    xs = rng.integers(0, 8, n).astype(float)  # few distinct values: many ties
    ys = rng.integers(0, 8, n).astype(float)
    better_x, better_y = (LOWER, HIGHER)[seed % 2], (LOWER, HIGHER)[(seed // 2) % 2]
    frame = pd.DataFrame({"a": xs, "b": ys})
    mask = pareto_front(frame, "a", "b", better_x, better_y)
    assert set(np.flatnonzero(mask.to_numpy())) == _brute_front(xs, ys, better_x, better_y)


@pytest.fixture(scope="module")
def sweep_server(sweep_store, tmp_path_factory):
    """The dashboard served over the sweep store (see test_dashboard_browser.server)."""
    import subprocess
    import sys
    import time
    import urllib.request

    from dashboard_fixtures import PROJECT_ROOT, env_without_store
    from s3_fixtures import free_port
    from test_dashboard_browser import _chromium_or_skip

    _chromium_or_skip()
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit_sweep") / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--", "--store", str(sweep_store),
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env_without_store()
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start; its log:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.browser
@pytest.mark.slow
def test_sweep_page_in_chromium_and_a_click_opens_the_run(sweep_server, sweep_store):
    """The Sweep page draws its three charts in Chromium; clicking a marker opens its Run."""
    from playwright.sync_api import sync_playwright
    from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, _load

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            url = f"{sweep_server}/sweep?sweep={SWEEP_ID}&metric=kernel_ns&x=M"
            text = _load(page, url, "sweep", n_charts=3)
            assert "Pareto front" in text and "Heat map rows" in text
            titles = page.eval_on_selector_all(
                ".js-plotly-plot .gtitle", "els => els.map(e => e.textContent)"
            )
            assert "kernel_ns against M, a line per cube.hbm.bw_gbs" in titles
            page.set_viewport_size(VIEWPORT)
            page.goto(url, wait_until="domcontentloaded")
            marker = page.locator(".js-plotly-plot .scatterlayer .point").first
            marker.wait_for(timeout=60_000)
            marker.click(force=True)
            page.wait_for_url("**/run?*", timeout=60_000)
            run_ids = set(_points(sweep_store)["run_id"])
            assert any(f"run={run_id}" in page.url for run_id in run_ids), page.url
        finally:
            browser.close()
