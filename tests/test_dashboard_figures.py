"""The dashboard's figure builders: given small hand-made tables, the figures hold the
expected traces, values and axis titles."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard import figures
from dashboard.figures import MeshShape
from traces.changepoints import ChangePoint


def _annotation_texts(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def test_launch_spread_figure_plots_latency_and_both_spreads() -> None:
    """One latency bar per launch on top; start and dispatch spreads below, in ns."""
    spread = pd.DataFrame(
        {
            "launch_id": [0, 1],
            "kernel": ["gemm", "noop"],
            "latency_ns": [700.0, 650.0],
            "spread_ns": [0.0, 12.0],
            "dispatch_spread_ns": [15.0, 12.0],
        }
    )
    fig = figures.launch_spread_figure(spread)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"latency_ns", "spread_ns", "dispatch_spread_ns"}
    assert list(by_name["latency_ns"].x) == ["0: gemm", "1: noop"]
    assert list(by_name["latency_ns"].y) == [700.0, 650.0]
    assert list(by_name["spread_ns"].y) == [0.0, 12.0]
    assert list(by_name["dispatch_spread_ns"].y) == [15.0, 12.0]
    assert by_name["latency_ns"].yaxis == "y" and by_name["spread_ns"].yaxis == "y2"
    assert fig.layout.yaxis.title.text == "latency (ns)"
    assert fig.layout.yaxis2.title.text == "spread (ns)"


def test_long_launch_names_are_cut_on_the_axis_and_whole_in_the_hover() -> None:
    """An autotuner's launch names its config: the tick shows the kernel and the config's
    start on two lines of at most LAUNCH_LABEL_CHARS, the hover the whole name."""
    tuned = ("matmul_kernel_with_block_pointers (autotune 3/8: BLOCK_SIZE_M=128, "
             "BLOCK_SIZE_N=128, BLOCK_SIZE_K=32, GROUP_SIZE_M=8)")  # fmt: skip
    spread = pd.DataFrame({"launch_id": [2, 8], "kernel": [tuned, "a" * 60],
                           "latency_ns": [1.0, 2.0], "spread_ns": [0.0, 0.0],
                           "dispatch_spread_ns": [1.0, 1.0]})  # fmt: skip
    fig = figures.launch_spread_figure(spread)
    for trace in fig.data:
        assert list(trace.hovertext) == [f"2: {tuned}", "8: " + "a" * 60]
    first, second = fig.data[0].x
    kernel, config = first.split("<br>")
    assert kernel == "2: matmul_kernel_with_block_pointers"
    assert config.startswith("(autotune 3/8: BLOCK_SIZE_M=128") and config.endswith("…")
    assert len(config) == figures.LAUNCH_LABEL_CHARS
    assert second == "8: " + "a" * (figures.LAUNCH_LABEL_CHARS - 4) + "…"


def _pes() -> pd.DataFrame:
    """Two PEs of cube 0 and one of cube 3 (sip 0), with hand-picked busy times."""
    return pd.DataFrame(
        {
            "sip": [0, 0, 0],
            "cube": [0, 0, 3],
            "pe": [0, 1, 5],
            "pe_global": [0, 1, 29],
            "dma_in_busy_ns": [100.0, 80.0, 10.0],
            "gemm_busy_ns": [200.0, 150.0, 0.0],
            "math_busy_ns": [50.0, 0.0, 0.0],
            "dma_wb_busy_ns": [40.0, 20.0, 5.0],
            "busy_ns": [300.0, 200.0, 15.0],
            "makespan_ns": [400.0, 400.0, 400.0],
            "idle_ns": [100.0, 200.0, 385.0],
            "utilisation": [0.75, 0.5, 0.0375],
        }
    )


def test_pe_breakdown_figure_stacks_engines_and_idle() -> None:
    """Four engine traces and idle, stacked per PE, with the makespan as a dashed line."""
    fig = figures.pe_breakdown_figure(_pes())
    assert [t.name for t in fig.data] == [
        "DMA_IN busy",
        "GEMM busy",
        "MATH busy",
        "DMA_WB busy",
        "idle",
        "makespan 400 ns",  # the label sits in the legend, not on the bars
    ]
    assert not fig.layout.annotations
    assert fig.layout.barmode == "stack"
    assert list(fig.data[1].y) == [200.0, 150.0, 0.0]
    assert list(fig.data[4].y) == [100.0, 200.0, 385.0]
    assert list(fig.data[0].x) == [0, 1, 29]
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 400.0
    assert fig.layout.yaxis.title.text == "time (ns)"
    assert fig.layout.xaxis.title.text == "PE (pe_global)"


def test_mesh_shape_reads_the_topology_keys() -> None:
    """num_sips, cube_rows, cube_cols and PEs per cube come from the topology JSON."""
    topology = {
        "system": {"num_sips": 4},
        "sip": {"cube_rows": 2, "cube_cols": 3},
        "cube": {"pes": 8},
    }
    mesh = MeshShape.from_topology_json(json.dumps(topology), _pes())
    assert mesh == MeshShape(num_sips=4, cube_rows=2, cube_cols=3, pes_per_cube=8)
    # Rows: 4 SIPs x 2 cube rows + 3 gaps; columns: 3 cubes x 8 PEs + 2 gaps.
    assert (mesh.grid_rows, mesh.grid_cols) == (11, 26)
    # Cube 4 of SIP 1 is at mesh row 1, column 1: grid row 3 + 1, column 9 + pe.
    assert mesh.cell(1, 4, 2) == (4, 11)


def test_mesh_shape_without_topology_keys_fits_the_data() -> None:
    """A topology without the mesh keys gives one row of cubes holding every PE seen."""
    mesh = MeshShape.from_topology_json('{"name": "synthetic"}', _pes())
    assert mesh == MeshShape(num_sips=1, cube_rows=1, cube_cols=4, pes_per_cube=6)


def test_pe_mesh_heatmap_places_each_pe_where_the_hardware_has_it() -> None:
    """Utilisation lands in each PE's cell; unused PEs are only in the grey mesh layer;
    gaps between cubes are empty."""
    mesh = MeshShape(num_sips=1, cube_rows=2, cube_cols=2, pes_per_cube=8)
    fig = figures.pe_mesh_heatmap(_pes(), mesh)
    layout_layer, values = fig.data
    assert len(values.z) == 2 and len(values.z[0]) == 17
    assert values.z[0][0] == 0.75 and values.z[0][1] == 0.5
    # Cube 3 is at mesh row 1, column 1: grid column 9 + pe 5 = 14.
    assert values.z[1][14] == pytest.approx(0.0375)
    assert values.z[0][2] is None and layout_layer.z[0][2] == 0.0  # PE 2: not used
    assert values.z[0][8] is None and layout_layer.z[0][8] is None  # gap between cubes
    assert "not used" in layout_layer.text[0][2]
    assert (values.zmin, values.zmax) == (0.0, 1.0)
    assert list(fig.layout.yaxis.ticktext) == ["sip 0 · row 0", "sip 0 · row 1"]
    assert list(fig.layout.xaxis.ticktext) == ["cube column 0", "cube column 1"]


def test_pe_mesh_heatmap_diverging_centres_on_zero() -> None:
    """A delta heat map uses a diverging scale centred on 0."""
    mesh = MeshShape(num_sips=1, cube_rows=1, cube_cols=4, pes_per_cube=6)
    pes = _pes().assign(delta_busy_ns=[-10.0, 0.0, 25.0])
    fig = figures.pe_mesh_heatmap(pes, mesh, value_column="delta_busy_ns", diverging=True)
    values = fig.data[1]
    assert values.zmid == 0.0
    assert values.z[0][0] == -10.0 and values.z[0][3 * 7 + 5] == 25.0
    assert values.colorbar.title.text == "delta_busy_ns"


def test_engine_timeline_figure_has_one_row_per_pe_engine_and_lane() -> None:
    """Bars start at start_ns and last duration_ns; a second DMA lane gets its own row."""
    ops = pd.DataFrame(
        {
            "pe_global": [0, 0, 0, 1],
            "engine": ["DMA_IN", "DMA_IN", "GEMM", "GEMM"],
            "lane": [0, 1, 0, 0],
            "op": ["load", "load", "dot", "dot"],
            "launch_id": [0, 0, 0, 0],
            "start_ns": [10.0, 12.0, 30.0, 31.0],
            "end_ns": [20.0, 25.0, 60.0, 70.0],
            "duration_ns": [10.0, 13.0, 30.0, 39.0],
        }
    )
    fig = figures.engine_timeline_figure(ops)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"DMA_IN", "GEMM"}
    # Each op is one segment start_ns -> end_ns on its row, segments split by None.
    assert list(by_name["DMA_IN"].x) == [10.0, 20.0, None, 12.0, 25.0, None]
    assert list(by_name["DMA_IN"].y) == ["PE 0 DMA_IN 0"] * 2 + [None] + ["PE 0 DMA_IN 1"] * 2 + [
        None
    ]
    assert list(by_name["GEMM"].x) == [30.0, 60.0, None, 31.0, 70.0, None]
    assert list(by_name["GEMM"].y) == ["PE 0 GEMM"] * 2 + [None] + ["PE 1 GEMM"] * 2 + [None]
    assert all(t.type == "scatter" for t in fig.data)  # SVG: Streamlit's plotly.js draws it
    assert list(fig.layout.yaxis.categoryarray) == [
        "PE 0 DMA_IN 0",
        "PE 0 DMA_IN 1",
        "PE 0 GEMM",
        "PE 1 GEMM",
    ]
    assert fig.layout.xaxis.title.text == "simulated time (ns)"


def test_dma_bandwidth_figure_has_one_trace_per_level() -> None:
    """Bars of GB/s per kind, one trace per level."""
    dma = pd.DataFrame(
        {
            "kind": ["load", "store", "host_write"],
            "level": ["pe", "pe", "host"],
            "n": [4, 2, 1],
            "bytes": [4096, 2048, 8192],
            "busy_ns": [40.0, 20.0, 128.0],
            "avg_latency_ns": [50.0, 30.0, 200.0],
            "gbs": [102.4, 102.4, 64.0],
        }
    )
    fig = figures.dma_bandwidth_figure(dma)
    assert [t.name for t in fig.data] == ["level host", "level pe"]
    assert list(fig.data[1].x) == ["load", "store"] and list(fig.data[1].y) == [102.4, 102.4]
    assert fig.layout.yaxis.title.text == "bandwidth while busy (GB/s)"


def test_collective_rounds_figure_marks_the_slowest_rank() -> None:
    """Bars of the slowest rank's time labelled with that rank; median markers per round."""
    rounds = pd.DataFrame(
        {
            "coll_id": [0, 0],
            "round": [0, 1],
            "phase": ["reduce_scatter", "all_gather"],
            "level": ["intra_cube", "intra_cube"],
            "n_ranks": [8, 8],
            "slowest_rank": [3, 5],
            "slowest_ns": [300.0, 900.0],
            "median_ns": [290.0, 295.0],
            "straggle_ns": [10.0, 605.0],
        }
    )
    fig = figures.collective_rounds_figure(rounds)
    bars, medians = fig.data
    assert list(bars.text) == ["rank 3", "rank 5"]
    assert list(bars.y) == [300.0, 900.0]
    assert list(bars.x) == ["c0 r0", "c0 r1"]
    assert list(medians.y) == [290.0, 295.0]
    assert fig.layout.yaxis.title.text == "round time (ns)"


def test_metric_delta_figure_colours_by_verdict_and_skips_unchanged() -> None:
    """Only changed metrics get a bar: red for a regression, green for an improvement."""
    deltas = pd.DataFrame(
        {
            "name": ["kernel_ns", "tflops", "n_pes"],
            "unit": ["ns", "tflops", "count"],
            "a": [100.0, 2.0, 32.0],
            "b": [120.0, 2.5, 32.0],
            "delta": [20.0, 0.5, 0.0],
            "pct": [20.0, 25.0, 0.0],
            "verdict": ["regressed", "improved", "same"],
        }
    )
    (bars,) = figures.metric_delta_figure(deltas).data
    assert list(bars.y) == ["kernel_ns", "tflops"]
    assert list(bars.x) == [20.0, 25.0]
    assert list(bars.marker.color) == ["#d62728", "#2ca02c"]


def test_engine_delta_figure_sets_a_beside_b() -> None:
    """Two traces, a and b, of busy time per engine."""
    engines = pd.DataFrame(
        {"engine": ["DMA_IN", "GEMM"], "busy_ns_a": [10.0, 20.0], "busy_ns_b": [12.0, 18.0]}
    )
    fig = figures.engine_delta_figure(engines, label_a="old", label_b="new")
    assert [t.name for t in fig.data] == ["old", "new"]
    assert list(fig.data[1].y) == [12.0, 18.0]
    assert fig.layout.barmode == "group"


def test_trend_figure_orders_commits_and_marks_change_points() -> None:
    """Commits in order on x (short hashes), hover data per commit, change points marked
    with their percentage and a dashed line before the new level."""
    history = pd.DataFrame(
        {
            "commit": ["a" * 40, "b" * 40, "c" * 40],
            "commit_time": pd.to_datetime(
                ["2026-01-01 10:00", "2026-01-02 11:00", "2026-01-03 12:00"], utc=True
            ),
            "commit_message": ["first", "second", "third"],
            "run_id": ["r1", "r2", "r3"],
            "value": [100.0, 100.0, 150.0],
        }
    )
    step = ChangePoint(index=2, before=100.0, after=150.0)
    fig = figures.trend_figure(history, [step], "kernel_ns", "ns", better="lower")
    line, marks = fig.data
    assert list(line.x) == [0, 1, 2] and list(line.y) == [100.0, 100.0, 150.0]
    assert list(fig.layout.xaxis.ticktext) == [
        "aaaaaaaa<br>2026-01-01<br>first",
        "bbbbbbbb<br>2026-01-02<br>second",
        "cccccccc<br>2026-01-03<br>third",
    ]
    assert tuple(line.customdata[1]) == ("b" * 40, "2026-01-02 11:00", "second", "r2")
    assert list(marks.x) == [2] and list(marks.text) == ["+50.0%"]
    (vline,) = fig.layout.shapes
    assert vline.x0 == 1.5
    assert fig.layout.yaxis.title.text == "kernel_ns (ns) — lower is better"


@pytest.mark.parametrize(
    ("builder", "frame"),
    [
        (figures.launch_spread_figure, pd.DataFrame()),
        (figures.pe_breakdown_figure, pd.DataFrame()),
        (figures.engine_timeline_figure, pd.DataFrame()),
        (figures.dma_bandwidth_figure, pd.DataFrame()),
        (figures.collective_rounds_figure, pd.DataFrame()),
        (figures.engine_delta_figure, pd.DataFrame()),
    ],
)
def test_empty_tables_give_a_figure_that_says_so(builder, frame) -> None:
    """No rows: no traces, and an annotation saying what is missing."""
    fig = builder(frame)
    assert len(fig.data) == 0
    assert _annotation_texts(fig) and _annotation_texts(fig)[0].startswith("no ")


def test_asv_trend_figure_has_one_line_per_machine_in_date_order():
    """asv results: a line per machine, points in commit-date order, hover with the commit."""
    import pandas as pd

    from dashboard.figures import asv_trend_figure

    frame = pd.DataFrame({
        "machine": ["m1", "m1", "m2"], "commit": ["c2", "c1", "c1"],
        "date": pd.to_datetime(["2026-01-02", "2026-01-01", "2026-01-01"], utc=True),
        "benchmark": ["b.time_x"] * 3, "params": [""] * 3, "value": [2.0, 1.0, 5.0],
        "unit": ["seconds"] * 3,
    })  # fmt: skip
    fig = asv_trend_figure(frame, "b.time_x", "seconds")
    assert [t.name for t in fig.data] == ["m1", "m2"]
    assert list(fig.data[0].y) == [1.0, 2.0]
    assert [c[0] for c in fig.data[0].customdata] == ["c1", "c2"]
    assert fig.layout.yaxis.title.text == "time_x (seconds)"


def test_comm_compute_figure_stacks_hidden_and_exposed_communication():
    """Compute is one bar; communication stacks hidden (overlap) under exposed."""
    import pandas as pd

    from dashboard.figures import comm_compute_figure

    per_pe = pd.DataFrame({
        "pe_global": [0, 1], "compute_ns": [15.0, 7.0], "comm_ns": [18.0, 0.0],
        "overlap_ns": [3.0, 0.0], "exposed_comm_ns": [15.0, 0.0],
    })  # fmt: skip
    fig = comm_compute_figure(per_pe)
    compute, hidden, exposed = fig.data
    assert list(compute.y) == [15.0, 7.0]
    assert list(hidden.y) == [3.0, 0.0]
    assert list(exposed.y) == [15.0, 0.0] and list(exposed.base) == [3.0, 0.0]


def test_engine_utilisation_figure_puts_each_bucket_where_it_belongs() -> None:
    """One heat map per engine; row = PE in the given order, column = bucket; idle is 0."""
    buckets = pd.DataFrame(
        {
            "pe_global": [3, 3, 7],
            "engine": ["GEMM", "GEMM", "DMA_IN"],
            "bucket": [0, 3, 1],
            "utilisation": [0.25, 1.0, 0.5],
        }
    )
    fig = figures.engine_utilisation_figure(buckets, [3, 7], 100.0, 500.0, 4)
    assert [t.name for t in fig.data] == ["DMA_IN", "GEMM"]
    dma, gemm = fig.data
    assert list(gemm.x) == [150.0, 250.0, 350.0, 450.0]  # bucket centres, 100 ns wide
    assert [list(row) for row in gemm.z] == [[0.25, 0, 0, 1.0], [0, 0, 0, 0]]
    assert [list(row) for row in dma.z] == [[0, 0, 0, 0], [0, 0.5, 0, 0]]
    assert list(gemm.y) == ["PE 3", "PE 7"]
    assert (gemm.zmin, gemm.zmax) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("scale", "values", "log"),
    [
        ("auto", [64.0, 13107.2], True),
        ("auto", [64.0, 128.0], False),
        ("auto", [0.0, 5.0], False),
        ("log", [64.0, 128.0], True),
        ("linear", [1.0, 1e6], False),
    ],
)
def test_value_axes_turn_log_when_values_span_orders_of_magnitude(scale, values, log) -> None:
    """DMA bandwidths of 64 and 13,107 GB/s get a log axis on "auto"; the title says so."""
    dma = pd.DataFrame(
        {"kind": ["load", "send"], "level": ["cube", "sip"], "n": [1, 1], "bytes": [1, 1],
         "busy_ns": [1.0, 1.0], "avg_latency_ns": [1.0, 1.0], "gbs": values}
    )  # fmt: skip
    fig = figures.value_axes(figures.dma_bandwidth_figure(dma), scale, dma["gbs"])
    assert (fig.layout.yaxis.type == "log") is log
    assert fig.layout.yaxis.title.text.endswith("(log)") is log


def test_engine_utilisation_figure_over_many_pes_draws_the_mean_per_engine() -> None:
    """Beyond MAX_TIMELINE_PE_ROWS PEs: one line per engine, the mean over the PEs (idle
    PEs count as 0), at the bucket centres."""
    pes = list(range(figures.MAX_TIMELINE_PE_ROWS + 8))
    buckets = pd.DataFrame(
        {"pe_global": [0, 1, 5], "engine": ["GEMM", "GEMM", "GEMM"], "bucket": [1, 1, 0],
         "utilisation": [1.0, 0.5, 0.8]}
    )  # fmt: skip
    fig = figures.engine_utilisation_figure(buckets, pes, 0.0, 20.0, 2)
    (line,) = fig.data
    assert line.name == "GEMM" and line.type == "scatter"
    assert list(line.x) == [5.0, 15.0]
    assert list(line.y) == pytest.approx([0.8 / len(pes), 1.5 / len(pes)])
