"""Overlay of arbitrary runs and metrics on one chart (pure: data in, plotly figure out).

Compare's "several runs or metrics" mode: any runs (any workload, parameters, topology)
and any of their metrics. Metrics of one unit share a panel and its value axis; each
other unit gets a panel of its own, side by side in the one figure.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from traces import units


def overlay_runs_figure(values: pd.DataFrame, run_labels: dict[str, str]) -> go.Figure:
    """Grouped bars of `values` (columns run_id, name, value, unit: one row per run and
    metric): a panel per unit, a bar group per metric, a bar per run (colour and legend
    entry per run, in `run_labels` order). Bar text: the value in human units."""
    title = "Runs × metrics"
    if values.empty:
        fig = go.Figure()
        fig.add_annotation(text="no values: pick runs and metrics", showarrow=False)
        return fig.update_layout(title=title, height=300)
    values = values.assign(unit=values["unit"].fillna(""))
    unit_order = list(dict.fromkeys(values["unit"]))
    fig = make_subplots(
        rows=1,
        cols=len(unit_order),
        subplot_titles=[unit or "(no unit)" for unit in unit_order],
        horizontal_spacing=0.08 if len(unit_order) > 1 else 0.0,
    )
    for col, unit in enumerate(unit_order, start=1):
        panel = values[values["unit"] == unit]
        for run_id, label in run_labels.items():
            rows = panel[panel["run_id"] == run_id]
            fig.add_trace(
                go.Bar(
                    x=list(rows["name"]),
                    y=list(rows["value"]),
                    name=label,
                    legendgroup=run_id,
                    showlegend=col == 1,
                    marker_color=_colour(list(run_labels).index(run_id)),
                    text=[units.format_value(v, unit, units.SCREEN) for v in rows["value"]],
                    textposition="outside",
                    hovertemplate=f"{label}<br>%{{x}} = %{{text}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(title_text=unit or "value", row=1, col=col)
    fig.update_layout(title=title, barmode="group", height=460, legend_title="run")
    return fig


_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d")


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]
