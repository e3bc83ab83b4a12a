"""The Run page's engine timeline: the critical path drawn over it, the time axis it
covers, and only the open tab's sections sent to the browser."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
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


# A run above the page's MAX_TIMELINE_OPS (20,000) that simulates in about a second:
# gpt3_qkv at smaller sizes on the 32-PE default topology (25,600 ops).
LARGE_PARAMS = {"tokens": 2048, "hidden": 4096}


@pytest.fixture(scope="module")
def large_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimpleNamespace, str]:
    """(a store holding only the large run (`root`, as _run_page needs), its run id)."""
    from simulator.runner import run_workload

    root = tmp_path_factory.mktemp("large_run_store")
    outcome = run_workload("gpt3_qkv", LARGE_PARAMS, topology="default", store=root)
    assert outcome.status == "ok", outcome.error
    return SimpleNamespace(root=root), outcome.run_id


def _sent_images(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Collects the bytes of every media file the app sends (st.image's PNGs)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    sent: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):  # noqa: ANN001
        if isinstance(path_or_data, bytes):
            sent.append(path_or_data)
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return sent


def _reference_busy_ns(
    con, run_id: str, start_ns: float, end_ns: float, n_buckets: int
) -> dict[tuple[int, str], np.ndarray]:
    """Busy ns per (PE, engine) and time bucket from the ops table itself: the summed
    overlap of each op with each bucket (positive exactly where some op was busy)."""
    ops = con.execute(
        "SELECT pe_global, engine, start_ns, end_ns FROM ops WHERE run_id = ? "
        "AND end_ns > start_ns",
        [run_id],
    ).fetchall()
    width_ns = (end_ns - start_ns) / n_buckets
    edges = start_ns + width_ns * np.arange(n_buckets + 1)
    busy: dict[tuple[int, str], np.ndarray] = {}
    for pe_global, engine, s, e in ops:
        row = busy.setdefault((int(pe_global), engine), np.zeros(n_buckets))
        row += np.clip(np.minimum(e, edges[1:]) - np.maximum(s, edges[:-1]), 0.0, None)
    return busy


def test_large_run_timeline_is_one_image_covering_the_axis_busy_where_ops_ran(
    large_store, monkeypatch
):
    """A run above MAX_TIMELINE_OPS opens on one PNG and no plotly chart. Its pixel
    columns span the timeline's axis (the kernels and every op, as the plotly chart's),
    and each PE row of each engine panel is coloured exactly in the buckets where the
    ops table says that engine of that PE was busy (idle grey elsewhere)."""
    from dashboard.timeline_image import IDLE_RGB, TIMELINE_GEOMETRY_KEY, read_geometry

    store, run_id = large_store
    sent = _sent_images(monkeypatch)
    at = _run_page(store, monkeypatch, run=run_id)
    assert _charts(at) == {}
    timelines = [png for png in sent if TIMELINE_GEOMETRY_KEY.encode() in png]
    assert len(at.get("image")) == 1 and len(timelines) == 1  # (the others: the app's icon)
    pixels, geometry = read_geometry(timelines[0])

    con = open_store(store.root).connect()
    window = kernel_window(con, run_id)
    first_op, last_op = con.execute(
        "SELECT min(start_ns), max(end_ns) FROM ops WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    start_ns, end_ns = min(window[0], first_op), max(window[1], last_op)
    assert (geometry["start_ns"], geometry["end_ns"]) == pytest.approx((start_ns, end_ns))
    n = geometry["n_buckets"]
    left = geometry["plot_left_px"]
    assert left + n <= pixels.shape[1]

    busy = _reference_busy_ns(con, run_id, start_ns, end_ns, n)
    width_ns = (end_ns - start_ns) / n
    ((n_pes,),) = con.execute(
        "SELECT count(DISTINCT pe_global) FROM ops WHERE run_id = ?", [run_id]
    ).fetchall()
    assert {p["engine"] for p in geometry["panels"]} == {e for _, e in busy}
    checked = 0
    for panel in geometry["panels"]:
        assert len(panel["pes"]) == n_pes
        for i, pe_global in enumerate(panel["pes"]):
            y = panel["top_px"] + i * panel["row_px"]
            drawn_busy = np.any(pixels[y, left : left + n] != IDLE_RGB, axis=-1)
            expected = busy.get((pe_global, panel["engine"]), np.zeros(n))
            # Overlaps within rounding of a bucket edge may fall either way.
            clear = (expected == 0) | (expected > 1e-6 * width_ns)
            assert np.array_equal(drawn_busy[clear], expected[clear] > 0), (
                f"PE {pe_global} {panel['engine']}: buckets "
                f"{np.flatnonzero(drawn_busy[clear] != (expected[clear] > 0))[:10]} differ"
            )
            checked += int(drawn_busy.sum())
    assert checked > 0
    # The ops run to the end of the axis: the last pixel column is busy somewhere.
    assert any(row[-1] > 0 for row in busy.values())
    path = critical_path(con, run_id).within(*window)
    assert {lane["where"] for lane in geometry["path_lanes"]} == {
        s.where for s in path.segments if s.end_ns > s.start_ns
    }


def test_large_run_interactive_or_a_window_shows_the_plotly_chart(large_store, monkeypatch):
    """`interactive=1` or a chosen time window (t0, t1) show the plotly timeline (with
    the critical path), no image."""
    store, run_id = large_store
    con = open_store(store.root).connect()
    first_op, last_op = con.execute(
        "SELECT min(start_ns), max(end_ns) FROM ops WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    middle = (first_op + last_op) / 2
    for query in ({"interactive": "1"}, {"t0": str(middle), "t1": str(middle + 1000.0)}):
        at = _run_page(store, monkeypatch, run=run_id, **query)
        assert list(_charts(at)) == ["run_timeline_chart"], query
        assert len(at.get("image")) == 0, query
        assert _strip(_charts(at)["run_timeline_chart"])[0], query


def test_nice_ticks_are_round_and_inside_the_axis() -> None:
    """Ticks are multiples of one step of 1, 2 or 5 times a power of ten, inside the
    axis, about N_TICKS of them."""
    from dashboard.timeline_image import N_TICKS, nice_ticks

    for start, end in ((0.0, 1.0), (114_830_000.0, 116_370_000.0), (3.0, 3.7), (5e3, 9e9)):
        ticks = nice_ticks(start, end)
        assert start <= ticks[0] and ticks[-1] <= end
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0])
        mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9
        assert N_TICKS / 2.5 <= len(ticks) <= N_TICKS + 1


def test_timeline_image_colours_each_bucket_and_path_segment_where_it_belongs() -> None:
    """On made-up buckets and path: each (PE, engine, bucket) pixel has the colour of its
    busy fraction (Viridis, 100% its last colour), every other one is idle grey; each path
    segment fills the pixel columns of its time span on its place's lane, in its
    component's colour."""
    from plotly.colors import hex_to_rgb, sequential

    from dashboard.path_figures import PATH_COLORS
    from dashboard.timeline_image import IDLE_RGB, busy_colors, read_geometry, timeline_png

    n = 100
    buckets = pd.DataFrame(
        [(0, "GEMM", 0, 1.0), (0, "GEMM", n - 1, 0.5), (1, "MATH", 5, 0.25)],
        columns=["pe_global", "engine", "bucket", "utilisation"],
    )
    segments = pd.DataFrame(
        [(-50.0, 100.0, "host copy", "host"), (100.0, 1000.0, "GEMM", "sip0.cube0.pe1")],
        columns=["start_ns", "end_ns", "component", "where"],
    )
    pixels, geometry = read_geometry(timeline_png(buckets, [0, 1], 0.0, 1000.0, n, segments))
    left = geometry["plot_left_px"]
    assert tuple(busy_colors(np.array(1.0))) == tuple(hex_to_rgb(sequential.Viridis[-1]))
    assert tuple(busy_colors(np.array(0.0))) == IDLE_RGB
    expected = {("GEMM", 0, 0): 1.0, ("GEMM", 0, n - 1): 0.5, ("MATH", 1, 5): 0.25}
    assert [p["engine"] for p in geometry["panels"]] == ["GEMM", "MATH"]
    for panel in geometry["panels"]:
        for i, pe_global in enumerate(panel["pes"]):
            for dy in range(panel["row_px"]):
                row = pixels[panel["top_px"] + i * panel["row_px"] + dy, left : left + n]
                for b in range(n):
                    fraction = expected.get((panel["engine"], pe_global, b), 0.0)
                    assert (tuple(row[b]) == IDLE_RGB) == (fraction == 0.0)
                    assert tuple(row[b]) == tuple(busy_colors(np.array(fraction))), (
                        panel["engine"], pe_global, b,
                    )  # fmt: skip
    colours = dict(PATH_COLORS)
    lanes = {lane["where"]: lane["top_px"] for lane in geometry["path_lanes"]}
    assert list(lanes) == ["host", "sip0.cube0.pe1"]
    lane_px = lanes["sip0.cube0.pe1"] - lanes["host"]
    for where, colour, columns in (("host", colours["host"], range(0, 10)),
                                   ("sip0.cube0.pe1", colours["GEMM"], range(10, n))):  # fmt: skip
        row = pixels[lanes[where] + lane_px // 2, left : left + n]
        painted = [b for b in range(n) if tuple(row[b]) == tuple(hex_to_rgb(colour))]
        assert painted == list(columns), where
