"""Figures of a sweep (pure: a points table in, a plotly figure out) and the Pareto front.

A points table has one row per run: `run_id`, `status`, one column per parameter and one
per metric (see traces.sweeps.sweep_table). Every marker carries its run id as
customdata[0], so a click on it can open the Run page; its hover lists the parameters.
Data go in as plain lists, not numpy arrays (which plotly encodes as binary), so the
figure JSON stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

LOWER = "lower"
HIGHER = "higher"


def column_better(name: str, metric_directions: dict[str, str | None]) -> str:
    """Which way is better for a Pareto axis: a metric as its workload declared it
    (`metric_directions`, from traces.sweeps.sweep_metric_directions); a swept parameter,
    or a metric with no declared direction, is better lower (less of a resource is cheaper)."""
    return metric_directions.get(name) or LOWER


def pareto_front(points: pd.DataFrame, x: str, y: str, better_x: str, better_y: str) -> pd.Series:
    """Boolean mask of the rows no other row dominates on (x, y).

    A row dominates another when it is at least as good on both columns and strictly
    better on one ("good" per `better_*`, LOWER or HIGHER). Rows with a missing value are
    never on the front. O(n log n): sort by x (best first), keep rows whose y beats every
    y seen before.
    """
    sign_x = 1.0 if better_x == LOWER else -1.0
    sign_y = 1.0 if better_y == LOWER else -1.0
    keys = pd.DataFrame(
        {"x": sign_x * points[x].astype(float), "y": sign_y * points[y].astype(float)},
        index=points.index,
    ).dropna()
    on_front = pd.Series(False, index=points.index)
    best: tuple[float, float] | None = None  # (x, y) of the last row put on the front
    # Sort by x then y, both minimised: a row is on the front iff its y is strictly
    # below every y of the rows before it, or it equals the last front row exactly
    # (identical points do not dominate each other).
    for index, row in keys.sort_values(["x", "y"]).iterrows():
        point = (row["x"], row["y"])
        if best is None or point[1] < best[1] or point == best:
            on_front[index] = True
            best = point
    return on_front


def _hover(points: pd.DataFrame, params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    lines = []
    for _, row in points.iterrows():
        parts = [f"run {row['run_id']}"] + [f"{p} = {row[p]}" for p in params]
        parts += [f"{m} = {row[m]:.6g}" for m in metrics if pd.notna(row.get(m))]
        lines.append("<br>".join(parts))
    return lines


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title=title, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 50}, clickmode="event"
    )
    return fig


def metric_vs_param_figure(
    points: pd.DataFrame, metric: str, x: str, line_by: str | None, params: Sequence[str]
) -> go.Figure:
    """`metric` against parameter `x`, one line per value of `line_by` (None: one line)."""
    fig = go.Figure()
    groups = points.groupby(line_by, sort=True, dropna=False) if line_by else [(None, points)]
    for value, group in groups:
        group = group.sort_values(x)
        fig.add_trace(
            go.Scatter(
                x=group[x].tolist(),
                y=group[metric].tolist(),
                mode="lines+markers",
                name=f"{line_by} = {value}" if line_by else metric,
                customdata=group[["run_id"]].to_numpy().tolist(),
                hovertext=_hover(group, params, [metric]),
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title=x)
    fig.update_yaxes(title=metric)
    return _layout(fig, f"{metric} against {x}" + (f", a line per {line_by}" if line_by else ""))


def heatmap_figure(points: pd.DataFrame, metric: str, x: str, y: str) -> go.Figure:
    """`metric` over the (x, y) grid of two parameters (the mean where points repeat)."""
    grid = points.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
    runs = points.pivot_table(index=y, columns=x, values="run_id", aggfunc="first")
    runs = runs.reindex(index=grid.index, columns=grid.columns)
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy().tolist(),
            x=[str(c) for c in grid.columns],
            y=[str(i) for i in grid.index],
            customdata=runs.to_numpy()[..., None].tolist(),
            colorscale="Viridis",
            colorbar={"title": metric},
            texttemplate="%{z:.4g}",
            hovertemplate=f"{x} = %{{x}}<br>{y} = %{{y}}<br>{metric} = %{{z:.6g}}"
            "<br>run %{customdata[0]}<extra></extra>",
        )
    )
    fig.update_xaxes(title=x, type="category")
    fig.update_yaxes(title=y, type="category")
    return _layout(fig, f"{metric} over {x} x {y}")


def pareto_figure(
    points: pd.DataFrame,
    x: str,
    y: str,
    better_x: str,
    better_y: str,
    params: Sequence[str],
) -> go.Figure:
    """Every point on (x, y), the Pareto front drawn as a line through its points."""
    front = pareto_front(points, x, y, better_x, better_y)
    fig = go.Figure()
    for name, subset, marker in (
        ("dominated", points[~front], {"color": "#9aa5b1", "size": 8}),
        ("Pareto front", points[front].sort_values(x), {"color": "#d62728", "size": 11}),
    ):
        fig.add_trace(
            go.Scatter(
                x=subset[x].tolist(),
                y=subset[y].tolist(),
                mode="lines+markers" if name == "Pareto front" else "markers",
                name=name,
                marker=marker,
                customdata=subset[["run_id"]].to_numpy().tolist(),
                hovertext=_hover(subset, params, [c for c in (x, y) if c not in params]),
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title=f"{x} ({better_x} is better)")
    fig.update_yaxes(title=f"{y} ({better_y} is better)")
    return _layout(fig, f"Pareto front of {x} and {y}: {int(front.sum())} of {len(points)} points")
