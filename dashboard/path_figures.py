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
