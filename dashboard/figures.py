"""Plotly figures of the dashboard: pure functions, data in, figure out.

Each builder takes pandas DataFrames with the columns of the traces query named in
its docstring (plus what the page derived from them) and returns a
plotly.graph_objects.Figure. Nothing here queries, caches or touches Streamlit.
Times are ns of simulated time; axis titles carry the unit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.regressions import CHANGED, IMPROVEMENT, REGRESSION
from traces.changepoints import ChangePoint

ENGINES = ("DMA_IN", "GEMM", "MATH", "DMA_WB")
ENGINE_COLORS = {
    "DMA_IN": "#4c78a8",
    "GEMM": "#e45756",
    "MATH": "#54a24b",
    "DMA_WB": "#b279a2",
}
IDLE_COLOR = "#d9d9d9"
VERDICT_COLORS = {REGRESSION: "#d62728", IMPROVEMENT: "#2ca02c", CHANGED: "#7f7f7f"}
# PEs only one of two compared runs used: (z in the one-sided layer, cell label).
ONE_SIDED = {"only a": (0.0, "a only"), "only b": (1.0, "b only")}
ONE_SIDED_COLORS = ("#f2b134", "#9467bd")
LEVEL_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left"),
        height=height,
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1.0, xanchor="right"),
    )
    return fig


def _empty(title: str, message: str) -> go.Figure:
    """A blank figure saying why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=200)


# A value axis turns logarithmic ("auto") when its positive values span this factor.
LOG_SPAN_FACTOR = 100.0


def spans_orders_of_magnitude(values: Sequence[float] | np.ndarray) -> bool:
    """Whether the positive finite `values` span LOG_SPAN_FACTOR or more (max ÷ min)."""
    array = np.asarray(values, dtype=float)
    positive = array[np.isfinite(array) & (array > 0)]
    return positive.size >= 2 and positive.max() / positive.min() >= LOG_SPAN_FACTOR


def value_axes(fig: go.Figure, scale: str, values: Sequence[float] | np.ndarray) -> go.Figure:
    """`fig` with its value (y) axes logarithmic when `scale` is "log", or "auto" and
    `values` span orders of magnitude (spans_orders_of_magnitude); "(log)" is added to
    their titles. Otherwise unchanged."""
    if scale == "log" or (scale == "auto" and spans_orders_of_magnitude(values)):
        fig.update_yaxes(type="log")
        fig.for_each_yaxis(
            lambda axis: axis.update(title_text=f"{axis.title.text} (log)")
            if axis.title.text else None
        )  # fmt: skip
    return fig


def launch_spread_figure(spread: pd.DataFrame) -> go.Figure:
    """Latency and start spread of each launch (traces.queries.launch_spread columns).

    Top: latency_ns (host issue to end) per launch. Bottom: spread_ns (last minus
    first PE exec start) and dispatch_spread_ns (last minus first arrival of the
    launch message at a PE). x: one category "<launch_id>: <kernel>" per launch.
    """
    title = "Launch latency and start spread across PEs"
    if spread.empty:
        return _empty(title, "no launches in this run")
    names = [f"{i}: {k}" for i, k in zip(spread["launch_id"], spread["kernel"], strict=True)]
    # Long names (an autotuner's launches carry their config) are cut on the axis, whole
    # in the hover and in the table below the chart.
    labels = [launch_label(name) for name in names]
    hover = "%{hovertext}<br>%{fullData.name}: %{y:,.0f} ns<extra></extra>"
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=("latency (host issue → end)", "start spread across the launch's PEs"),
    )
    fig.update_annotations(x=0.0, xanchor="left")  # the legend sits right, above the top one
    fig.add_trace(
        go.Bar(
            x=labels,
            y=spread["latency_ns"],
            name="latency_ns",
            hovertext=names,
            hovertemplate=hover,
            marker_color="#4c78a8",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=spread["spread_ns"],
            name="spread_ns",
            hovertext=names,
            hovertemplate=hover,
            marker_color="#e45756",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=spread["dispatch_spread_ns"],
            name="dispatch_spread_ns",
            hovertext=names,
            hovertemplate=hover,
            marker_color="#f58518",
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="latency (ns)", row=1, col=1)
    fig.update_yaxes(title_text="spread (ns)", row=2, col=1)
    fig.update_xaxes(title_text="launch", row=2, col=1)
    fig.update_layout(barmode="group")
    return _layout(fig, title, height=420)


def pe_breakdown_figure(pes: pd.DataFrame) -> go.Figure:
    """Per-PE busy time of each engine and idle time, stacked (traces.queries.pe_breakdown).

    One bar per PE (x: pe_global): the four <engine>_busy_ns then idle_ns. Engines
    overlap in time, so a bar can be taller than the makespan, drawn as a dashed line.
    """
    title = "Per-PE breakdown: busy time per engine and idle time"
    if pes.empty:
        return _empty(title, "no PE executed anything in this run")
    hover = [
        f"PE {g} (sip {s}, cube {c}, pe {p})"
        for g, s, c, p in zip(pes["pe_global"], pes["sip"], pes["cube"], pes["pe"], strict=True)
    ]
    fig = go.Figure()
    for engine in ENGINES:
        fig.add_trace(
            go.Bar(
                x=pes["pe_global"],
                y=pes[f"{engine.lower()}_busy_ns"],
                name=f"{engine} busy",
                marker_color=ENGINE_COLORS[engine],
                customdata=hover,
                hovertemplate="%{customdata}<br>" + engine + " busy %{y:,.1f} ns<extra></extra>",
            )
        )
    fig.add_trace(
        go.Bar(
            x=pes["pe_global"],
            y=pes["idle_ns"],
            name="idle",
            marker_color=IDLE_COLOR,
            customdata=hover,
            hovertemplate="%{customdata}<br>idle %{y:,.1f} ns<extra></extra>",
        )
    )
    makespan_ns = float(pes["makespan_ns"].max())
    if math.isfinite(makespan_ns):
        fig.add_hline(y=makespan_ns, line_dash="dash", line_color="#333333")
        # The label goes into the legend (a line-only trace), never on top of the bars.
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="lines", name=f"makespan {makespan_ns:,.0f} ns",
                line=dict(dash="dash", color="#333333"),
            )
        )  # fmt: skip
    fig.update_layout(barmode="stack", bargap=0.1)
    fig.update_xaxes(title_text="PE (pe_global)")
    fig.update_yaxes(title_text="time (ns)")
    return _layout(fig, title, height=380)


@dataclass(frozen=True)
class MeshShape:
    """How PEs are laid out: SIPs, each a cube_rows x cube_cols mesh of cubes, each
    cube a row of pes_per_cube PEs (they talk east/west). Cube k of a SIP sits at
    row k // cube_cols, column k % cube_cols."""

    num_sips: int
    cube_rows: int
    cube_cols: int
    pes_per_cube: int

    @classmethod
    def from_topology_json(cls, topology_json: str | None, pes: pd.DataFrame) -> MeshShape:
        """The shape in a runs row's topology_json (keys system.num_sips, sip.cube_rows,
        sip.cube_cols, cube.pes); where a key is missing, the smallest shape holding
        every (sip, cube, pe) of `pes`, with the cubes of a SIP in one row."""
        try:
            topology = json.loads(topology_json or "{}")
            return cls(
                num_sips=int(topology["system"]["num_sips"]),
                cube_rows=int(topology["sip"]["cube_rows"]),
                cube_cols=int(topology["sip"]["cube_cols"]),
                pes_per_cube=int(topology["cube"]["pes"]),
            )
        except (ValueError, KeyError, TypeError):
            pass

        def extent(column: str) -> int:
            return int(pes[column].max()) + 1 if not pes.empty else 1

        return cls(extent("sip"), 1, extent("cube"), extent("pe"))

    @property
    def grid_rows(self) -> int:
        """Heat map rows: each SIP's cube rows, one empty row between SIPs."""
        return self.num_sips * (self.cube_rows + 1) - 1

    @property
    def grid_cols(self) -> int:
        """Heat map columns: each cube column's PEs, one empty column between cubes."""
        return self.cube_cols * (self.pes_per_cube + 1) - 1

    def cell(self, sip: int, cube: int, pe: int) -> tuple[int, int]:
        """(row, column) of a PE in the heat map grid."""
        cube_row, cube_col = divmod(cube, self.cube_cols)
        return sip * (self.cube_rows + 1) + cube_row, cube_col * (self.pes_per_cube + 1) + pe


def pe_mesh_heatmap(
    pes: pd.DataFrame,
    mesh: MeshShape,
    value_column: str = "utilisation",
    title: str = "PE utilisation (time any engine was busy ÷ makespan), laid out as the hardware",
    diverging: bool = False,
    used_by_column: str | None = None,
) -> go.Figure:
    """A heat map of `value_column` per PE, laid out as the hardware is (see MeshShape).

    With `used_by_column` (values "both", "only a", "only b", as the Compare page gives),
    PEs that only one run used get a cell of their own colour labelled "a only" or "b
    only" (a third trace) instead of a value: their change is no delta.

    `pes` needs sip, cube, pe, pe_global and the value column. Two traces: first the
    mesh itself (every PE cell, grey: PEs not in `pes` show through as "not used"),
    then the values (None where a PE is not in `pes`). Gaps between cubes and SIPs
    stay empty. `diverging` centres the colour scale on 0 (for deltas); otherwise a
    column named utilisation spans 0..1 and each cell shows its percentage.
    """
    mesh_z: list[list[float | None]] = [[None] * mesh.grid_cols for _ in range(mesh.grid_rows)]
    mesh_text: list[list[str]] = [[""] * mesh.grid_cols for _ in range(mesh.grid_rows)]
    for sip in range(mesh.num_sips):
        for cube in range(mesh.cube_rows * mesh.cube_cols):
            for pe in range(mesh.pes_per_cube):
                row, col = mesh.cell(sip, cube, pe)
                mesh_z[row][col] = 0.0
                mesh_text[row][col] = f"sip {sip} · cube {cube} · pe {pe}<br>not used"
    z: list[list[float | None]] = [[None] * mesh.grid_cols for _ in range(mesh.grid_rows)]
    text = [list(row) for row in mesh_text]
    for record in pes.itertuples(index=False):
        sip, cube, pe = int(record.sip), int(record.cube), int(record.pe)
        if not (
            0 <= sip < mesh.num_sips
            and 0 <= cube < mesh.cube_rows * mesh.cube_cols
            and 0 <= pe < mesh.pes_per_cube
        ):
            continue  # outside the described mesh: nothing sensible to draw
        value = getattr(record, value_column)
        value = None if value is None or pd.isna(value) else float(value)
        row, col = mesh.cell(sip, cube, pe)
        z[row][col] = value
        shown = "n/a" if value is None else f"{value:,.4g}"
        text[row][col] = (
            f"sip {sip} · cube {cube} · pe {pe} (PE {int(record.pe_global)})"
            f"<br>{value_column} {shown}"
        )
    only_z: list[list[float | None]] = [[None] * mesh.grid_cols for _ in range(mesh.grid_rows)]
    only_text: list[list[str]] = [[""] * mesh.grid_cols for _ in range(mesh.grid_rows)]
    if used_by_column is not None:
        for record in pes.itertuples(index=False):
            side = getattr(record, used_by_column)
            if side not in ONE_SIDED:
                continue
            row, col = mesh.cell(int(record.sip), int(record.cube), int(record.pe))
            if 0 <= row < mesh.grid_rows and 0 <= col < mesh.grid_cols:
                only_z[row][col] = ONE_SIDED[side][0]
                only_text[row][col] = ONE_SIDED[side][1]
                z[row][col] = None
    if diverging:
        scale = dict(colorscale="RdBu_r", zmid=0.0)
    elif value_column == "utilisation":
        scale = dict(colorscale="Viridis", zmin=0.0, zmax=1.0, texttemplate="%{z:.0%}")
    else:
        scale = dict(colorscale="Viridis")
    fig = go.Figure(
        [
            go.Heatmap(
                z=mesh_z,
                text=mesh_text,
                hovertemplate="%{text}<extra></extra>",
                colorscale=[[0.0, "#e6e6e6"], [1.0, "#e6e6e6"]],
                showscale=False,
                xgap=2,
                ygap=2,
                hoverongaps=False,
                name="mesh",
            ),
            go.Heatmap(
                z=z,
                text=text,
                hovertemplate="%{text}<extra></extra>",
                xgap=2,
                ygap=2,
                colorbar=dict(title=dict(text=value_column)),
                hoverongaps=False,
                name=value_column,
                **scale,
            ),
        ]
    )
    if any(v is not None for line in only_z for v in line):
        fig.add_trace(
            go.Heatmap(
                z=only_z,
                text=only_text,
                texttemplate="%{text}",
                hovertemplate="%{text}: used by one run only<extra></extra>",
                colorscale=[[0.0, ONE_SIDED_COLORS[0]], [1.0, ONE_SIDED_COLORS[1]]],
                zmin=0.0,
                zmax=1.0,
                showscale=False,
                xgap=2,
                ygap=2,
                hoverongaps=False,
                name="used by one run only",
            )
        )
    row_ticks = [
        (mesh.cell(sip, r * mesh.cube_cols, 0)[0], f"sip {sip} · row {r}")
        for sip in range(mesh.num_sips)
        for r in range(mesh.cube_rows)
    ]
    col_ticks = [
        (mesh.cell(0, c, 0)[1] + (mesh.pes_per_cube - 1) / 2, f"cube column {c}")
        for c in range(mesh.cube_cols)
    ]
    fig.update_yaxes(
        tickvals=[t[0] for t in row_ticks],
        ticktext=[t[1] for t in row_ticks],
        autorange="reversed",
        showgrid=False,
        zeroline=False,
    )
    fig.update_xaxes(
        tickvals=[t[0] for t in col_ticks],
        ticktext=[t[1] for t in col_ticks],
        title_text=f"PEs of each cube, west → east ({mesh.pes_per_cube} per cube)",
        showgrid=False,
        zeroline=False,
    )
    fig.update_layout(plot_bgcolor="rgba(0,0,0,0)")
    return _layout(fig, title, height=200 + 48 * mesh.grid_rows)


def engine_timeline_figure(ops: pd.DataFrame) -> go.Figure:
    """Engine ops as horizontal segments over simulated time (traces.queries.ops_between).

    One row per (PE, engine, lane), labelled "PE <pe_global> <engine>", with " <lane>"
    appended where that engine of that PE used more than one lane (ops of one lane never
    overlap); one trace per engine, each op a segment start_ns -> end_ns at its row,
    segments separated by None.

    SVG lines (one path element per trace), not WebGL: the plotly.js that Streamlit ships
    draws no WebGL segment of this chart (seen in Chromium), and the page draws at most
    MAX_TIMELINE_OPS ops this way (more become an image or utilisation buckets).
    """
    title = "Engine timeline: every op"
    if ops.empty:
        return _empty(title, "no engine ops on these PEs in this window")
    frame = ops if "lane" in ops.columns else ops.assign(lane=0)
    frame = frame.assign(lane=frame["lane"].fillna(0).astype(int))
    n_lanes = frame.groupby(["pe_global", "engine"])["lane"].nunique().to_dict()

    def row_label(pe_global: int, engine: str, lane: int) -> str:
        label = f"PE {pe_global} {engine}"
        return f"{label} {lane}" if n_lanes[(pe_global, engine)] > 1 else label

    order = {engine: i for i, engine in enumerate(ENGINES)}
    rows = sorted(
        set(zip(frame["pe_global"], frame["engine"], frame["lane"], strict=True)),
        key=lambda r: (r[0], order.get(r[1], len(order)), r[1], r[2]),
    )
    labels = [row_label(g, e, lane) for g, e, lane in rows]
    present = set(frame["engine"])
    engines = [e for e in ENGINES if e in present] + sorted(present - set(ENGINES))
    height = min(1400, 140 + 22 * len(labels))
    row_px = (height - 110) / max(1, len(labels))
    fig = go.Figure()
    for engine in engines:
        part = frame[frame["engine"] == engine]
        xs: list[float | None] = []
        ys: list[str | None] = []
        custom: list[tuple | None] = []
        for g, lane, start, end, op, launch in zip(
            part["pe_global"], part["lane"], part["start_ns"], part["end_ns"], part["op"],
            part["launch_id"], strict=True,
        ):  # fmt: skip
            row = row_label(g, engine, lane)
            xs += [start, end, None]
            ys += [row, row, None]
            custom += [(op, launch, start, end)] * 2 + [None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=engine,
                line=dict(
                    color=ENGINE_COLORS.get(engine, "#888888"),
                    width=max(2.0, min(16.0, 0.7 * row_px)),
                ),  # fmt: skip
                customdata=custom,
                hovertemplate=(
                    "%{customdata[0]} (launch %{customdata[1]})<br>"
                    "%{customdata[2]:,.1f} → %{customdata[3]:,.1f} ns<extra></extra>"
                ),
                connectgaps=False,
            )
        )
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=labels, autorange="reversed",
        title_text=None,
    )  # fmt: skip
    fig.update_xaxes(title_text="simulated time (ns)")
    return _layout(fig, title, height=height)


# Up to this many PEs, the level-of-detail timeline has one heat-map row per PE; beyond,
# one line per engine (the mean over the PEs), which stays light however many PEs.
MAX_TIMELINE_PE_ROWS = 32


def engine_busy_grids(
    buckets: pd.DataFrame, pes: Sequence[int], n_buckets: int
) -> dict[str, np.ndarray]:
    """Busy fraction per engine as a (PE, bucket) array, rows in the order of `pes`, from
    traces.queries.engine_busy_buckets rows (buckets without a row are 0); engines in
    ENGINES order, then any others. Rows of PEs outside `pes` and buckets outside
    [0, n_buckets) are left out."""
    present = set(buckets["engine"].unique()) if not buckets.empty else set()
    engines = [e for e in ENGINES if e in present] + sorted(present - set(ENGINES))
    # Vectorised (a 128-PE run has ~10^5 bucket rows): the row of each bucket's PE, -1
    # for PEs outside `pes`.
    pe_rows = pd.Index([int(g) for g in pes])
    grids = {}
    for engine in engines:
        z = np.zeros((len(pes), n_buckets))
        part = buckets[buckets["engine"] == engine]
        rows = pe_rows.get_indexer(part["pe_global"].astype("int64"))
        cols = part["bucket"].to_numpy().astype(int)
        keep = (rows >= 0) & (cols >= 0) & (cols < n_buckets)
        z[rows[keep], cols[keep]] = part["utilisation"].to_numpy()[keep]
        grids[engine] = z
    return grids


def engine_utilisation_figure(
    buckets: pd.DataFrame, pes: Sequence[int], start_ns: float, end_ns: float, n_buckets: int
) -> go.Figure:
    """Level-of-detail timeline for many ops: engine utilisation per time bucket.

    `buckets`: traces.queries.engine_busy_buckets rows for [start_ns, end_ns) in
    `n_buckets` buckets (x = bucket centre, ns; utilisation = busy time ÷ bucket width,
    buckets without a row are 0). Up to MAX_TIMELINE_PE_ROWS PEs: one heat map per engine
    (stacked, sharing the time axis), a row per PE of `pes` in order. More PEs: one line
    per engine, its utilisation averaged over the PEs `pes`.
    """
    title = "Engine timeline: utilisation per time bucket (busy time ÷ bucket width)"
    if len(pes) == 0 or not end_ns > start_ns:
        return _empty(title, "no engine ops on these PEs in this window")
    width_ns = (end_ns - start_ns) / n_buckets
    centres = [start_ns + (i + 0.5) * width_ns for i in range(n_buckets)]
    grids = engine_busy_grids(buckets, pes, n_buckets)
    engines = list(grids)
    if not engines:
        return _empty(title, "no engine ops on these PEs in this window")
    if len(pes) > MAX_TIMELINE_PE_ROWS:
        fig = go.Figure()
        for engine in engines:
            fig.add_trace(
                go.Scatter(
                    x=centres,
                    y=grids[engine].mean(axis=0),
                    mode="lines",
                    line=dict(color=ENGINE_COLORS.get(engine, "#888888"), width=1.5, shape="hvh"),
                    name=engine,
                    hovertemplate=engine + " %{x:,.0f} ns: %{y:.0%} busy<extra></extra>",
                )
            )
        fig.update_yaxes(title_text=f"busy, mean of {len(pes)} PEs", tickformat=".0%",
                         range=[0, 1.05])  # fmt: skip
        fig.update_xaxes(title_text="simulated time (ns)", range=[start_ns, end_ns])
        return _layout(fig, title + f" — mean over {len(pes)} PEs", height=380)
    fig = make_subplots(rows=len(engines), cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=engines)  # fmt: skip
    for k, engine in enumerate(engines):
        fig.add_trace(
            go.Heatmap(
                z=grids[engine],
                x=centres,
                y=[f"PE {g}" for g in pes],
                zmin=0.0,
                zmax=1.0,
                colorscale="Viridis",
                showscale=k == 0,
                colorbar=dict(title=dict(text="busy"), tickformat=".0%"),
                name=engine,
                hovertemplate="%{y} " + engine + "<br>%{x:,.0f} ns: busy %{z:.0%}<extra></extra>",
            ),
            row=k + 1,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=k + 1, col=1)
    fig.update_xaxes(title_text="simulated time (ns)", row=len(engines), col=1)
    per_engine_px = max(70, min(260, 8 * len(pes)))
    return _layout(fig, title, height=110 + per_engine_px * len(engines))


def dma_bandwidth_figure(dma: pd.DataFrame) -> go.Figure:
    """Achieved DMA bandwidth by kind (x) and level (one trace each), in GB/s while busy
    (traces.queries.dma_bandwidth)."""
    title = "DMA bandwidth by kind and level"
    if dma.empty:
        return _empty(title, "no DMA transfers in this run")
    fig = go.Figure()
    for i, level in enumerate(sorted(dma["level"].dropna().unique())):
        part = dma[dma["level"] == level]
        fig.add_trace(
            go.Bar(
                x=part["kind"],
                y=part["gbs"],
                name=f"level {level}",
                marker_color=LEVEL_COLORS[i % len(LEVEL_COLORS)],
                customdata=list(
                    zip(
                        part["n"],
                        part["bytes"],
                        part["busy_ns"],
                        part["avg_latency_ns"],
                        strict=True,
                    )
                ),
                hovertemplate=(
                    "%{x} at level " + str(level) + ": %{y:,.2f} GB/s<br>"
                    "%{customdata[0]} transfers, %{customdata[1]:,} bytes<br>"
                    "busy %{customdata[2]:,.1f} ns, mean latency %{customdata[3]:,.1f} ns"
                    "<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="transfer kind")
    fig.update_yaxes(title_text="bandwidth while busy (GB/s)")
    return _layout(fig, title)


def collective_rounds_figure(rounds: pd.DataFrame) -> go.Figure:
    """Time of each collective round, one trace per level, the slowest rank marked
    (traces.queries.collective_rounds).

    Bars: slowest_ns per round, labelled "rank <slowest_rank>"; markers: median_ns.
    x: "c<coll_id> r<round>".
    """
    title = "Collective rounds per level (bar: slowest rank, marker: median rank)"
    if rounds.empty:
        return _empty(title, "no collectives in this run")
    frame = rounds.assign(
        label=[f"c{c} r{r}" for c, r in zip(rounds["coll_id"], rounds["round"], strict=True)]
    )
    fig = go.Figure()
    for i, level in enumerate(sorted(frame["level"].fillna("?").unique())):
        part = frame[frame["level"].fillna("?") == level]
        fig.add_trace(
            go.Bar(
                x=part["label"],
                y=part["slowest_ns"],
                name=f"{level} (slowest)",
                marker_color=LEVEL_COLORS[i % len(LEVEL_COLORS)],
                text=[f"rank {r}" for r in part["slowest_rank"]],
                textposition="outside",
                customdata=list(
                    zip(part["phase"], part["n_ranks"], part["straggle_ns"], strict=True)
                ),
                hovertemplate=(
                    "%{x} (%{customdata[0]}): slowest %{text}, %{y:,.1f} ns<br>"
                    "%{customdata[1]} ranks, straggle %{customdata[2]:,.1f} ns<extra></extra>"
                ),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=frame["label"],
            y=frame["median_ns"],
            mode="markers",
            name="median rank",
            marker=dict(symbol="line-ew-open", size=18, color="#222222", line=dict(width=2)),
        )
    )
    fig.update_xaxes(
        title_text="collective / round", categoryorder="array", categoryarray=list(frame["label"])
    )
    fig.update_yaxes(title_text="round time (ns)")
    return _layout(fig, title)


def metric_delta_figure(deltas: pd.DataFrame) -> go.Figure:
    """Relative change of each changed metric, coloured by verdict.

    `deltas`: traces.queries.compare_runs columns plus `verdict`
    (dashboard.regressions.with_verdicts). One horizontal bar per metric whose
    verdict is regression, improvement or changed and whose pct is known.
    """
    title = "Metric changes, b relative to a (%)"
    shown = deltas[deltas["verdict"].isin(list(VERDICT_COLORS)) & deltas["pct"].notna()]
    if shown.empty:
        return _empty(title, "no metric changed beyond the threshold")
    fig = go.Figure(
        go.Bar(
            y=shown["name"],
            x=shown["pct"],
            orientation="h",
            marker_color=[VERDICT_COLORS[v] for v in shown["verdict"]],
            text=[f"{p:+.2f}% ({v})" for p, v in zip(shown["pct"], shown["verdict"], strict=True)],
            textposition="auto",
            customdata=list(zip(shown["a"], shown["b"], shown["unit"], strict=True)),
            hovertemplate="%{y}: %{customdata[0]:,.4g} → %{customdata[1]:,.4g} %{customdata[2]}"
            "<extra></extra>",
            name="pct",
        )
    )
    fig.update_xaxes(title_text="change (%)", zeroline=True, zerolinecolor="#333333")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(220, 120 + 28 * len(shown)))


def engine_delta_figure(engines: pd.DataFrame, label_a: str = "a", label_b: str = "b") -> go.Figure:
    """Busy time per engine kind in runs a and b, side by side
    (traces.queries.compare_engines: busy_ns_a, busy_ns_b)."""
    title = "Engine busy time (summed over PEs)"
    if engines.empty:
        return _empty(title, "no engine ops in either run")
    fig = go.Figure(
        [
            go.Bar(
                x=engines["engine"], y=engines["busy_ns_a"], name=label_a, marker_color="#9ecae1"
            ),
            go.Bar(
                x=engines["engine"], y=engines["busy_ns_b"], name=label_b, marker_color="#3182bd"
            ),
        ]
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="engine")
    fig.update_yaxes(title_text="busy time (ns)")
    return _layout(fig, title)


# Subjects on the commit axis are cut to this many characters (the hover has them whole).
TICK_SUBJECT_CHARS = 22
# Launch names on the launch axis likewise.
LAUNCH_LABEL_CHARS = 36


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def launch_label(name: str) -> str:
    """A launch's tick label: its name, cut to LAUNCH_LABEL_CHARS; a long name with a
    parenthesis (an autotuner's launch and its config) on two lines, each cut."""
    if len(name) <= LAUNCH_LABEL_CHARS or " (" not in name:
        return cut(name, LAUNCH_LABEL_CHARS)
    kernel, detail = name.split(" (", 1)
    return f"{cut(kernel, LAUNCH_LABEL_CHARS)}<br>{cut('(' + detail, LAUNCH_LABEL_CHARS)}"


def commit_ticks(commits: Sequence, times: Sequence, messages: Sequence) -> list[str]:
    """Tick labels of a commit axis: short hash, date and the subject's start, one per
    line, so the chart itself says which change each point is."""
    ticks = []
    for commit, when, message in zip(commits, times, messages, strict=True):
        date = "" if when is None or pd.isna(when) else pd.Timestamp(when).strftime("%Y-%m-%d")
        subject = cut(message if isinstance(message, str) else "", TICK_SUBJECT_CHARS)
        ticks.append("<br>".join(part for part in (str(commit)[:8], date, subject) if part))
    return ticks


def overlay_trend_figure(lines: Sequence[tuple[str, pd.DataFrame]], unit: str | None) -> go.Figure:
    """Several series over one commit axis (each a traces.trends.metric_trend table with a
    label): several metrics, or one metric of several parameter sets.

    The commit axis is the union of the series' commits, ordered by commit time (unknown
    last). With `unit` None (the series' units differ) each series is drawn relative to
    its first value (100 = that value), so shapes compare; otherwise in `unit`.
    """
    title = "Overlay over commit history" + ("" if unit else " (each relative to its first value)")
    frames = [f for _, f in lines if not f.empty]
    if not frames:
        return _empty(title, "no runs with these metrics at known commits")
    order = (
        pd.concat(frames)[["commit", "commit_time", "commit_message"]]
        .drop_duplicates("commit")
        .sort_values("commit_time", na_position="last", kind="stable")
    )
    position = {c: i for i, c in enumerate(order["commit"])}
    fig = go.Figure()
    for i, (label, frame) in enumerate(lines):
        if frame.empty:
            continue
        y = frame["value"].astype(float)
        if unit is None and y.iloc[0] != 0:
            y = 100.0 * y / abs(y.iloc[0])
        fig.add_trace(
            go.Scatter(
                x=[position[c] for c in frame["commit"]],
                y=list(y),
                mode="lines+markers",
                name=label,
                line=dict(color=LEVEL_COLORS[i % len(LEVEL_COLORS)]),
                customdata=list(zip(frame["commit"], frame["value"], strict=True)),
                hovertemplate=label
                + "<br>%{customdata[0]}<br>%{customdata[1]:,.6g}<extra></extra>",
            )
        )
    fig.update_xaxes(
        tickvals=list(position.values()),
        ticktext=commit_ticks(order["commit"], order["commit_time"], order["commit_message"]),
        title_text="commit (oldest → newest)",
        range=[-0.5, len(position) - 0.5],
    )
    fig.update_yaxes(title_text=f"value ({unit})" if unit else "% of the first value")
    return _layout(fig, title, height=440)


def trend_figure(
    history: pd.DataFrame,
    change_points: Sequence[ChangePoint],
    metric: str,
    unit: str | None,
    better: str = "",
) -> go.Figure:
    """A metric over commits in order (traces.trends.metric_trend columns).

    x: position of the commit (ticks: short hashes); hover: commit, date, message
    and run id; customdata[0] is the full commit hash. Change points (index = first
    commit of a new level) get a dashed line before them and a labelled marker.
    `better` ("lower"/"higher") goes into the axis title.
    """
    axis = f"{metric} ({unit})" if unit else metric
    title = f"{metric} over commit history"
    if history.empty:
        return _empty(title, "no runs with this metric at a known commit")
    positions = list(range(len(history)))
    dates = [
        "" if pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d %H:%M")
        for t in history["commit_time"]
    ]
    messages = [m if isinstance(m, str) else "" for m in history["commit_message"]]
    custom = list(zip(history["commit"], dates, messages, history["run_id"], strict=True))
    fig = go.Figure(
        go.Scatter(
            x=positions,
            y=history["value"],
            mode="lines+markers",
            name=metric,
            customdata=custom,
            marker=dict(size=9, color="#4c78a8"),
            line=dict(color="#4c78a8"),
            hovertemplate=(
                "%{customdata[0]}<br>%{customdata[1]}  %{customdata[2]}<br>"
                "run %{customdata[3]}<br>" + metric + " = %{y:,.6g}<extra></extra>"
            ),
        )
    )
    values = list(history["value"])
    if change_points:
        marks_x = [cp.index for cp in change_points]
        fig.add_trace(
            go.Scatter(
                x=marks_x,
                y=[values[i] for i in marks_x],
                mode="markers+text",
                name="change point",
                marker=dict(symbol="diamond", size=15, color="#d62728"),
                text=[f"{cp.change_pct:+.1f}%" for cp in change_points],
                textposition="top center",
                customdata=[custom[i] for i in marks_x],
                hovertemplate="change point at %{customdata[0]}<br>%{text}<extra></extra>",
            )
        )
        for cp in change_points:
            fig.add_vline(x=cp.index - 0.5, line_dash="dash", line_color="#d62728")
    fig.update_xaxes(
        tickvals=positions,
        ticktext=commit_ticks(history["commit"], history["commit_time"], history["commit_message"]),
        title_text="commit (oldest → newest)",
        range=[-0.5, len(positions) - 0.5],
    )
    better_text = f" — {better} is better" if better else ""
    fig.update_yaxes(title_text=axis + better_text)
    return _layout(fig, title, height=420)


def asv_trend_figure(results: pd.DataFrame, benchmark: str, unit: str | None) -> go.Figure:
    """One asv benchmark (one parameter combination) over commits, by commit date.

    ``results`` has traces.asv_results columns for that benchmark and combination; one
    line per machine (asv results are only comparable within one machine). Hover shows
    the commit and its date.
    """
    title = f"{benchmark} over commit history (asv)"
    if results.empty:
        return _empty(title, "no asv results for this benchmark")
    fig = go.Figure()
    for machine, rows in results.sort_values("date").groupby("machine", sort=True):
        dates = [pd.Timestamp(t).strftime("%Y-%m-%d %H:%M") for t in rows["date"]]
        fig.add_trace(
            go.Scatter(
                x=list(rows["date"]),
                y=list(rows["value"]),
                mode="lines+markers",
                name=str(machine),
                customdata=list(zip(rows["commit"], dates, strict=True)),
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>%{y:,.6g}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="commit date",
        yaxis_title=f"{benchmark.rsplit('.', 1)[-1]} ({unit})" if unit else "value",
        legend_title="machine",
    )
    return fig


def comm_compute_figure(per_pe: pd.DataFrame) -> go.Figure:
    """Per PE: compute time, communication hidden behind it, and exposed communication.

    ``per_pe`` has traces.queries.comm_compute columns; bars are stacked so a PE's
    communication reads as overlap (hidden) + exposed.
    """
    title = "Compute vs communication per PE"
    if per_pe.empty:
        return _empty(title, "no ops")
    pes = [str(p) for p in per_pe["pe_global"]]
    fig = go.Figure(
        [
            go.Bar(x=pes, y=list(per_pe["compute_ns"]), name="compute", offsetgroup="compute",
                   marker_color="#4c78a8"),
            go.Bar(x=pes, y=list(per_pe["overlap_ns"]), name="communication hidden by compute",
                   offsetgroup="comm", marker_color="#72b7b2"),
            go.Bar(x=pes, y=list(per_pe["exposed_comm_ns"]), name="exposed communication",
                   offsetgroup="comm", base=list(per_pe["overlap_ns"]), marker_color="#e45756"),
        ]
    )  # fmt: skip
    fig.update_layout(title=title, xaxis_title="PE (pe_global)", yaxis_title="time (ns)",
                      barmode="group")  # fmt: skip
    return fig
