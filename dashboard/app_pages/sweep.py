"""Sweep: the points of one `kernbench sweep` -- a metric against a swept parameter (a line
per value of another), a heat map over two parameters, the Pareto front of two columns.

Hovering a point shows its parameters; clicking it opens its Run page. Two points can be
opened side by side on Compare. Query parameters: sweep, metric, x, line, y, pa, pb
(the Pareto axes), point, point_b.
"""

import pandas as pd
import streamlit as st

from dashboard import sweep_figures, urlstate, widgets
from traces.sweeps import list_sweeps, sweep_metric_directions, sweep_table
from traces.views import open_store

NONE = "(none)"


@st.cache_data(show_spinner=False, max_entries=16)
def load_sweeps(store: str, fingerprint: str) -> pd.DataFrame:
    """Sweeps of the store, newest first (see traces.sweeps.list_sweeps)."""
    return list_sweeps(open_store(store)).to_pandas()


@st.cache_data(show_spinner=False, max_entries=32)
def load_points(store: str, fingerprint: str, sweep_id: str):
    """(points, swept parameters, metrics, metric directions) of one sweep (see
    traces.sweeps.sweep_table and sweep_metric_directions)."""
    source = open_store(store)
    table, swept, metrics = sweep_table(source, sweep_id)
    return table.to_pandas(), swept, metrics, sweep_metric_directions(source, sweep_id)


def _open_clicked(event, key: str) -> None:
    """Open the Run page of the point clicked in a chart (its run id is customdata[0])."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for point in points:
        custom = point.get("customdata")
        run_id = custom[0] if isinstance(custom, list | tuple) and custom else custom
        if isinstance(run_id, str) and run_id:
            urlstate.switch_page(widgets.PAGE_RUN, run=run_id)


def _chart(fig, key: str) -> None:
    event = st.plotly_chart(
        fig, key=key, on_select="rerun", selection_mode="points", width="stretch"
    )
    _open_clicked(event, key)


st.title("Sweep")
store, fingerprint, _runs = widgets.load_runs()
sweeps = load_sweeps(store, fingerprint)
if sweeps.empty:
    st.info(
        "No sweeps in this store yet. Run one, e.g. "
        "`kernbench sweep gemm_single_pe --grid M=256,512 --grid cube.hbm.bw_gbs=51.2,102.4`."
    )
    st.stop()
labels = {
    row.sweep_id: f"{row.sweep_id} · {row.workload} · {row.n_ok} ok"
    + (f", {row.n_failed} failed" if row.n_failed else "")
    for row in sweeps.itertuples()
}
sweep_id = widgets.synced_selectbox(
    "Sweep", list(labels), key="sweep_pick", param="sweep", format_func=labels.get,
    resolve=urlstate.resolve_prefix, what="Sweep",
)  # fmt: skip
points, swept, metrics, directions = load_points(store, fingerprint, sweep_id)
ok = points[points["status"] == "ok"]
failed = len(points) - len(ok)
swept_text = widgets.md_text(", ".join(swept)) if swept else "nothing"
st.caption(
    f"{len(points)} runs, {failed} failed; swept: {swept_text}."
    + (" Failed points have no metrics and are left out of the charts." if failed else "")
)
params = [c for c in points.columns if c not in ("run_id", "status", *metrics)]
numeric_metrics = [m for m in metrics if pd.api.types.is_numeric_dtype(points[m])]
if ok.empty or not numeric_metrics:
    st.warning("No successful point with metrics in this sweep yet.")
    st.stop()
axes = swept or [p for p in params if p != "topology"][:1] or ["topology"]

left, middle, right = st.columns(3)
with left:
    metric = widgets.synced_selectbox(
        "Metric", numeric_metrics, key="sweep_metric", param="metric", what="Metric",
        default=next((m for m in ("latency_ns", "kernel_ns") if m in numeric_metrics), None),
    )  # fmt: skip
with middle:
    x = widgets.synced_selectbox("Against", axes, key="sweep_x", param="x", what="Parameter")
with right:
    line_by = widgets.synced_selectbox(
        "A line per", [NONE, *[a for a in axes if a != x]], key="sweep_line", param="line",
        what="Parameter", default=next((a for a in axes if a != x), NONE),
    )  # fmt: skip
line_by = None if line_by == NONE else line_by
_chart(sweep_figures.metric_vs_param_figure(ok, metric, x, line_by, params), "sweep_line_chart")

if len(axes) >= 2:
    y = widgets.synced_selectbox(
        "Heat map rows", [a for a in axes if a != x], key="sweep_y", param="y", what="Parameter"
    )
    _chart(sweep_figures.heatmap_figure(ok, metric, x, y), "sweep_heatmap")

st.subheader("Pareto front")
numeric_params = [p for p in swept if p in ok and pd.api.types.is_numeric_dtype(ok[p])]
choices = numeric_metrics + [p for p in numeric_params if p not in numeric_metrics]
columns = st.columns(2)
with columns[0]:
    pareto_x = widgets.synced_selectbox(
        "Horizontal", choices, key="sweep_pareto_x", param="pa", what="Column",
        default=numeric_params[0] if numeric_params else None,
    )  # fmt: skip
with columns[1]:
    pareto_y = widgets.synced_selectbox(
        "Vertical", [c for c in choices if c != pareto_x] or choices, key="sweep_pareto_y",
        param="pb", what="Column", default=metric,
    )  # fmt: skip
better_x, better_y = (sweep_figures.column_better(c, directions) for c in (pareto_x, pareto_y))
st.caption(
    f"Better: {widgets.md_text(pareto_x)} {better_x}, {widgets.md_text(pareto_y)} {better_y} "
    "(metrics as their workload declares them; swept parameters lower, since less of a "
    "resource costs less)."
)
_chart(
    sweep_figures.pareto_figure(ok, pareto_x, pareto_y, better_x, better_y, params),
    "sweep_pareto",
)

st.subheader("Points")
table = points[["run_id", "status", *swept, *numeric_metrics]].copy()
table.insert(0, "open", [urlstate.link_url("run", run=r) for r in table["run_id"]])
st.dataframe(
    table,
    hide_index=True,
    column_config={"open": st.column_config.LinkColumn("open", display_text="Run page")},
)


def _point_label(run_id: str) -> str:
    row = points[points["run_id"] == run_id].iloc[0]
    values = ", ".join(f"{a}={row[a]}" for a in swept) or run_id
    return f"{values} ({row['status']})"


run_ids = list(points["run_id"])
pick = st.columns([2, 2, 1, 1])
with pick[0]:
    point_a = st.selectbox("Point", run_ids, key="sweep_point", format_func=_point_label)
with pick[1]:
    point_b = st.selectbox(
        "Second point (Compare)", run_ids, index=min(1, len(run_ids) - 1), key="sweep_point_b",
        format_func=_point_label,
    )  # fmt: skip
with pick[2]:
    if st.button("Open run", key="sweep_open"):
        urlstate.switch_page(widgets.PAGE_RUN, run=point_a)
with pick[3]:
    if st.button("Compare", key="sweep_compare", disabled=point_a == point_b):
        urlstate.switch_page(widgets.PAGE_COMPARE, mode="runs", a=point_a, b=point_b)
