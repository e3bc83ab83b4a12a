"""Figures of critical paths (pure: data in, plotly figure out)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go


def contributions_waterfall(diff: dict[str, Any], top: int = 8) -> go.Figure:
    """A waterfall from latency a to latency b through the per-component contributions
    of ``traces.critical_path.path_diff`` (largest ``top`` first, the rest as "other"),
    so the bars add up to b exactly as the contributions add up to delta_ns."""
    contributions = diff["contributions"]
    shown = contributions[:top]
    rest_ns = sum(c["delta_ns"] for c in contributions[top:])
    labels = ["latency a", *(c["component"] for c in shown)]
    values = [diff["latency_a"], *(c["delta_ns"] for c in shown)]
    if contributions[top:]:
        labels.append(f"other ({len(contributions) - top})")
        values.append(rest_ns)
    labels.append("latency b")
    values.append(diff["latency_b"])
    measure = ["absolute", *["relative"] * (len(values) - 2), "total"]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=measure,
            text=[
                f"{v:+,.0f} ns" if m == "relative" else f"{v:,.0f} ns"
                for v, m in zip(values, measure, strict=True)
            ],  # fmt: skip
            textposition="outside",
            connector={"line": {"width": 1}},
        )
    )
    fig.update_layout(
        title=f"critical path: {diff['delta_ns']:+,.0f} ns from a to b, by component",
        yaxis_title="ns on the critical path",
        showlegend=False,
        margin={"t": 50, "b": 10},
    )
    return fig


def path_timeline_figure(segments: pd.DataFrame) -> go.Figure:
    """The critical path over simulated time: one bar per segment (``start_ns``,
    ``end_ns``) on the row of where it ran (``where``: a PE or host), one colour per
    ``component``; hover shows ``what``."""
    fig = go.Figure()
    for component, rows in segments.groupby("component", sort=False):
        fig.add_trace(
            go.Bar(
                name=str(component),
                orientation="h",
                base=rows["start_ns"],
                x=rows["end_ns"] - rows["start_ns"],
                y=rows["where"],
                customdata=rows["what"],
                hovertemplate="%{customdata}<br>%{base:,.0f} ns + %{x:,.0f} ns<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="overlay",
        xaxis_title="simulated ns",
        yaxis={"categoryorder": "category ascending"},
        legend_title="component",
        margin={"t": 30, "b": 10},
    )
    return fig


# The critical-path strip above a timeline: one row per place the path passes through.
PATH_LANE_PX = 24
PATH_STRIP_GAP_PX = 40
PATH_LINE_PX = 9
# Components by prefix -> colour (engine colours where the component is an engine's op).
PATH_COLORS = (
    ("GEMM", "#e45756"),
    ("MATH", "#54a24b"),
    ("DMA_IN", "#4c78a8"),
    ("DMA_WB", "#b279a2"),
    ("DMA", "#4c78a8"),
    ("host", "#7f7f7f"),
    ("launch", "#f58518"),
)
PATH_OTHER_COLORS = ("#72b7b2", "#eeca3b", "#ff9da6", "#9d755d", "#bab0ac")


def path_color(component: str, others: dict[str, str]) -> str:
    """The colour of a path component: by prefix (PATH_COLORS), else the next of
    PATH_OTHER_COLORS, remembered in `others` so one component keeps one colour."""
    for prefix, color in PATH_COLORS:
        if component.startswith(prefix):
            return color
    return others.setdefault(component, PATH_OTHER_COLORS[len(others) % len(PATH_OTHER_COLORS)])


def overlay_critical_path(
    fig: go.Figure, segments: pd.DataFrame, start_ns: float, end_ns: float
) -> go.Figure:
    """`fig` (a timeline over simulated ns, one or more stacked subplots sharing x) with the
    critical path drawn above it, on the same time axis: one row per place the path
    passes through (``where``: host first, then PEs), each segment a thick line from
    ``start_ns`` to ``end_ns`` coloured by ``component``, and a thin black line following
    the path from segment to segment across the rows. Segments are clipped to
    [start_ns, end_ns]; `segments` has the columns of dashboard.data.critical_path.

    SVG lines (one path element per trace), not WebGL: a path has hundreds to a few
    thousand segments, and a WebGL context costs the browser more than that. The figure
    grows by the strip's height; the existing subplots keep their pixel size
    (their vertical domains and paper-anchored annotations are squeezed below the strip).
    The strip's rows do not zoom vertically; zooming in time moves both together."""
    if segments.empty:
        return fig
    inside = segments[(segments["end_ns"] > start_ns) & (segments["start_ns"] < end_ns)]
    inside = inside.assign(
        start_ns=inside["start_ns"].clip(lower=start_ns), end_ns=inside["end_ns"].clip(upper=end_ns)
    ).sort_values("start_ns", kind="stable")
    if inside.empty:
        return fig
    lanes = sorted(set(inside["where"]), key=lambda w: (w != "host", w))
    layout = fig.layout
    margin_px = (layout.margin.t or 0) + (layout.margin.b or 0)
    old_px = (layout.height or 450) - margin_px
    strip_px = PATH_STRIP_GAP_PX + PATH_LANE_PX * len(lanes)
    new_px = old_px + strip_px
    squeeze = old_px / new_px
    # Every y axis of the figure (the first one even when the layout does not name it).
    names = sorted({"yaxis", *(k for k in layout.to_plotly_json() if k.startswith("yaxis"))})
    for name in names:
        domain = layout[name].domain or (0.0, 1.0)
        layout[name].domain = (domain[0] * squeeze, domain[1] * squeeze)
    for annotation in layout.annotations or ():
        if annotation.yref == "paper" and annotation.y is not None:
            annotation.y = annotation.y * squeeze
    numbers = [int(n[5:]) if n[5:] else 1 for n in names] or [1]
    axis = f"y{max(numbers) + 1}"
    fig.update_layout(
        {
            f"yaxis{max(numbers) + 1}": dict(
                domain=((old_px + PATH_STRIP_GAP_PX) / new_px, 1.0),
                anchor="x",
                type="category",
                categoryorder="array",
                categoryarray=lanes,
                autorange="reversed",
                fixedrange=True,
                title_text="critical path",
            ),
            "height": (layout.height or 450) + strip_px,
        }
    )
    # The route across rows first, so the coloured segments draw over it.
    route_x: list[float] = []
    route_y: list[str] = []
    places = zip(inside["start_ns"], inside["end_ns"], inside["where"], strict=True)
    for start, end, where in places:
        route_x += [start, end]
        route_y += [where, where]
    fig.add_trace(
        go.Scatter(
            x=route_x, y=route_y, yaxis=axis, xaxis="x", mode="lines", name="critical path",
            legendgroup="critical path", line=dict(color="#222222", width=1), hoverinfo="skip",
        )
    )  # fmt: skip
    others: dict[str, str] = {}
    for component, rows in inside.groupby("component", sort=False):
        xs: list[float | None] = []
        ys: list[str | None] = []
        text: list[str | None] = []
        for start, end, where, what in zip(
            rows["start_ns"], rows["end_ns"], rows["where"], rows["what"], strict=True
        ):
            xs += [start, end, None]
            ys += [where, where, None]
            label = f"{what}<br>{start:,.0f} → {end:,.0f} ns ({end - start:,.0f} ns)"
            text += [label, label, None]
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, yaxis=axis, xaxis="x", mode="lines", name=f"path: {component}",
                legendgroup="critical path", connectgaps=False, text=text,
                line=dict(color=path_color(str(component), others), width=PATH_LINE_PX),
                hovertemplate=str(component) + "<br>%{text}<extra></extra>",
            )
        )  # fmt: skip
    return fig
