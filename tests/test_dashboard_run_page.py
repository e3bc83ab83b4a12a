"""The Run page's engine timeline: the critical path drawn over it, the time axis it
covers, and only the open tab's sections sent to the browser."""

from __future__ import annotations

import json
import math

import pandas as pd
import plotly.graph_objects as go
import pytest
from dashboard_fixtures import APP, FixtureStore, fixture_store
from streamlit.testing.v1 import AppTest

from dashboard.path_figures import overlay_critical_path
from traces.critical_path import critical_path, kernel_window
from traces.views import open_store


def _pieces(traces: list[dict]) -> list[tuple[float, float, str]]:
    """(start, end, place) of every segment drawn by line traces whose points come in
    pairs separated by None (as the overlay draws them)."""
    found = []
    for trace in traces:
        xs, ys = list(trace["x"]), list(trace["y"])
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None]
        for (x0, y0), (x1, y1) in zip(points[::2], points[1::2], strict=True):
            assert y0 == y1, "a segment stays on its row"
            found.append((x0, x1, y0))
    return sorted(found)


def _strip(figure: dict) -> tuple[list[dict], list[dict]]:
    """(component traces, route traces) of the critical-path strip of a figure as JSON."""
    group = [t for t in figure["data"] if t.get("legendgroup") == "critical path"]
    return [t for t in group if t["name"] != "critical path"], [
        t for t in group if t["name"] == "critical path"
    ]


def test_overlay_draws_each_segment_on_its_place_clipped_to_the_window() -> None:
    """Segments land on their place's row, cut to the window; the route visits them in
    time order; the timeline below keeps its height in pixels."""
    base = go.Figure(go.Scatter(x=[0.0, 130.0], y=[0.0, 1.0]))
    base.update_layout(height=400, margin=dict(t=60, b=50))
    segments = pd.DataFrame(
        [
            (0.0, 40.0, "host copy", "host", "copy"),
            (40.0, 70.0, "GEMM", "sip0.cube0.pe1", "dot"),
            (70.0, 120.0, "DMA_IN HBM->TCM", "sip0.cube1.pe0", "load"),
            (120.0, 130.0, "GEMM", "sip0.cube0.pe1", "dot"),
        ],
        columns=["start_ns", "end_ns", "component", "where", "what"],
    )
    figure = json.loads(overlay_critical_path(base, segments, 10.0, 125.0).to_json())
    components, route = _strip(figure)
    assert _pieces(components) == [
        (10.0, 40.0, "host"),
        (40.0, 70.0, "sip0.cube0.pe1"),
        (70.0, 120.0, "sip0.cube1.pe0"),
        (120.0, 125.0, "sip0.cube0.pe1"),
    ]
    assert {t["name"] for t in components} == {"path: host copy", "path: GEMM",
                                               "path: DMA_IN HBM->TCM"}  # fmt: skip
    assert route[0]["x"] == [10.0, 40.0, 40.0, 70.0, 70.0, 120.0, 120.0, 125.0]
    layout = figure["layout"]
    assert layout["yaxis2"]["categoryarray"] == ["host", "sip0.cube0.pe1", "sip0.cube1.pe0"]
    assert all(t["yaxis"] == "y2" for t in components + route)
    plot_px = layout["height"] - 110
    assert layout["yaxis"]["domain"][1] * plot_px == pytest.approx(400 - 110)
    assert layout["yaxis2"]["domain"][0] > layout["yaxis"]["domain"][1]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return fixture_store(tmp_path_factory)


def _run_page(store: FixtureStore, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.query_params.update(query)
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly charts as JSON, by the key in their element id."""
    keys = ("run_timeline_chart", "run_path_chart", "run_pe_chart", "run_mesh_chart",
            "run_spread_chart", "run_dma_chart", "run_rounds_chart", "run_comm_chart")  # fmt: skip
    charts = {}
    for chart in at.get("plotly_chart"):
        key = next(k for k in keys if k in chart.proto.id)
        charts[key] = json.loads(chart.proto.spec)
    return charts


def test_timeline_shows_the_critical_path_of_the_kernels_over_their_span(store, monkeypatch):
    """By default the Run page sends one chart, the timeline; its time axis spans the
    kernels (and every op), and the path drawn over it is traces' path of the kernels,
    segment for segment, in the run's simulated time."""
    run_id = store.runs[(store.commits[0], "gemm")]
    at = _run_page(store, monkeypatch, run=run_id)
    charts = _charts(at)
    assert list(charts) == ["run_timeline_chart"]  # the other tabs' charts are not sent
    figure = charts["run_timeline_chart"]
    con = open_store(store.root).connect()
    window = kernel_window(con, run_id)
    path = critical_path(con, run_id).within(*window)
    expected = sorted(
        (s.start_ns + window[0], s.end_ns + window[0], s.where)
        for s in path.segments
        if s.end_ns > s.start_ns
    )
    components, route = _strip(figure)
    drawn = _pieces(components)
    assert [p[2] for p in drawn] == [p[2] for p in expected]
    assert [x for p in drawn for x in p[:2]] == pytest.approx([x for p in expected for x in p[:2]])
    assert len(route) == 1
    first_op, last_op = con.execute(
        "SELECT min(start_ns), max(end_ns) FROM ops WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    x_range = figure["layout"]["xaxis"]["range"]
    assert x_range == pytest.approx([min(window[0], first_op), max(window[1], last_op)])


def test_whole_run_timeline_spans_zero_to_the_simulated_end(store, monkeypatch):
    """With `kernels=0` the timeline's axis is [0, simulated end] and the path drawn over
    it tiles that span (host copies included); `path=0` draws no path."""
    run_id = store.runs[(store.commits[1], "gemm")]
    at = _run_page(store, monkeypatch, run=run_id, kernels="0")
    figure = _charts(at)["run_timeline_chart"]
    con = open_store(store.root).connect()
    ((sim_end_ns,),) = con.execute(
        "SELECT sim_end_ns FROM runs WHERE run_id = ?", [run_id]
    ).fetchall()
    assert figure["layout"]["xaxis"]["range"] == pytest.approx([0.0, sim_end_ns])
    drawn = _pieces(_strip(figure)[0])
    assert drawn[0][0] == 0.0 and drawn[-1][1] == pytest.approx(sim_end_ns)
    assert "host" in {p[2] for p in drawn}
    assert math.fsum(end - start for start, end, _ in drawn) == pytest.approx(sim_end_ns)

    at = _run_page(store, monkeypatch, run=run_id, kernels="0", path="0")
    assert _strip(_charts(at)["run_timeline_chart"]) == ([], [])
    assert at.query_params["path"] in ("0", ["0"])  # a copied link keeps it


def test_each_tab_sends_only_its_own_charts(store, monkeypatch):
    """`?view=` opens a tab; only that tab's charts are built and sent."""
    run_id = store.runs[(store.commits[1], "gemm")]
    at = _run_page(store, monkeypatch, run=run_id)
    views = {
        "Critical path": ["run_path_chart"],
        "PEs": ["run_mesh_chart", "run_pe_chart"],
        "Launches": ["run_spread_chart"],
        "DMA and collectives": ["run_dma_chart"],
        "All metrics": [],
    }
    for view, keys in views.items():
        at.query_params["view"] = view
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert sorted(_charts(at)) == keys, view
