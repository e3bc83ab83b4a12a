"""Trends: one metric of a workload (and parameter set) over commit history, with the
change points asv's step detection finds. Picking a commit opens Compare against the
commit before it."""

from pathlib import Path

import streamlit as st

from dashboard import data, figures, regressions, urlstate, widgets
from traces.asv_results import resolve_asv_results, results_fingerprint
from traces.changepoints import change_points

OPEN_KEY = "trends_open_commit"


def show_asv_history() -> None:
    """asv's wall-time (and other) results for one benchmark over commits."""
    results_dir = Path(st.session_state.get(widgets.ASV_KEY) or resolve_asv_results())
    results = data.asv_results(str(results_dir), results_fingerprint(results_dir))
    if results.empty:
        st.info(
            f"No asv results in `{results_dir}` yet. Record some with `make bench` (every "
            "recent commit) or `asv run --python=same --set-commit-hash $(git rev-parse HEAD)`"
            ", then reload."
        )
        return
    left, right = st.columns(2)
    with left:
        benchmark = st.selectbox("Benchmark", sorted(results["benchmark"].unique()),
                                 key="trends_asv_benchmark")  # fmt: skip
    rows = results[results["benchmark"] == benchmark]
    with right:
        params = st.selectbox(
            "Parameters", sorted(rows["params"].unique()), key="trends_asv_params",
            format_func=lambda text: text or "(no parameters)",
        )  # fmt: skip
    rows = rows[rows["params"] == params]
    unit = next(iter(rows["unit"]), None)
    st.plotly_chart(figures.asv_trend_figure(rows, benchmark, unit), key="trends_asv_chart")
    shown = rows.sort_values("date")[["date", "commit", "machine", "value", "unit"]]
    st.dataframe(shown, hide_index=True, width="stretch")


st.title("Trends")
SOURCES = ("simulated metrics (run store)", "simulator speed (asv results)")
source = st.radio("History of", SOURCES, horizontal=True, key="trends_source")
if source == SOURCES[1]:
    show_asv_history()
    st.stop()
store, fingerprint, runs = widgets.load_runs()
tracked = runs[(runs["status"] == "ok") & runs["git_commit"].notna()]
if tracked.empty:
    st.info(
        "No successful run records a commit yet, so there is no history to plot. Runs made "
        "from a git checkout record their commit (or set KERNBENCH_COMMIT)."
    )
    st.stop()

columns = st.columns([1, 2, 1])
with columns[0]:
    workload = widgets.synced_selectbox(
        "Workload", sorted(tracked["workload"].unique()), key="trends_workload", param="workload",
        what="Workload",
    )  # fmt: skip
with columns[1]:
    params_json = widgets.pick_param_set(store, fingerprint, workload, key="trends_params")
metric_table = data.workload_metrics(store, fingerprint, workload)
units = dict(zip(metric_table["name"], metric_table["unit"], strict=True))
stored_better = dict(zip(metric_table["name"], metric_table["better"], strict=True))
with columns[2]:
    metric = widgets.synced_selectbox(
        "Metric",
        list(units),
        key="trends_metric",
        param="metric",
        default=next(iter(widgets.key_metrics(units, 1)), None),
        what=f"Metric of {workload}",
    )
if metric is None:
    st.info(f"Runs of `{workload}` record no metrics.")
    st.stop()

history = data.metric_trend(store, fingerprint, workload, metric, params_json)
points = change_points(list(history["value"]))
unit = units.get(metric)
better = regressions.better_of(metric, unit, stored_better.get(metric))
commits = list(history["commit"])


def _open_clicked() -> None:
    """Chart selection callback: remember the clicked commit (pages switch outside callbacks)."""
    selected = st.session_state["trends_chart"].selection.points
    if not selected:
        return
    # Both the line and the change-point markers carry the commit as customdata[0].
    custom = selected[0].get("customdata") or [None]
    commit = custom[0] if custom[0] in commits else None
    if commit is None and selected[0].get("curve_number") == 0:
        index = selected[0].get("point_index", 0)
        commit = commits[index] if 0 <= index < len(commits) else None
    if commit is not None and commits.index(commit) > 0:
        st.session_state[OPEN_KEY] = commit


st.plotly_chart(
    figures.trend_figure(history, points, metric, unit, better),
    key="trends_chart",
    on_select=_open_clicked,
    selection_mode="points",
)
st.caption(
    f"{len(history)} commit(s), oldest first; each point is the newest ok run at that commit. "
    "Click a point to compare it with the commit before it."
)
if params_json is None and history["params"].nunique() > 1:
    st.warning(
        "These points come from different parameter sets; pick one above for a like-for-like "
        "history."
    )

if points:
    st.dataframe(
        [
            {
                "commit": widgets.short_commit(commits[p.index]),
                "previous commit": widgets.short_commit(commits[p.index - 1]),
                "before": p.before,
                "after": p.after,
                "change_pct": p.change_pct,
                "message": history["commit_message"].iloc[p.index],
            }
            for p in points
        ],
        hide_index=True,
        key="trends_change_points",
    )
else:
    st.caption("No change points: the metric kept one level over these commits.")

if len(commits) >= 2:
    labels = {
        row["commit"]: widgets.commit_label(
            row["commit"], row["commit_message"], row["commit_time"]
        )
        for row in history.to_dict("records")
    }
    pick, go_button = st.columns([4, 1], vertical_alignment="bottom")
    newest_change = commits[points[-1].index] if points else commits[-1]
    chosen = pick.selectbox(
        "Commit to compare with the one before it",
        commits[1:],
        index=commits[1:].index(newest_change),
        format_func=labels.get,
        key="trends_pick",
    )
    if go_button.button("Compare", key="trends_compare"):
        st.session_state[OPEN_KEY] = chosen

if commit := st.session_state.pop(OPEN_KEY, None):
    previous = commits[commits.index(commit) - 1]
    query = {
        "mode": "commits",
        "workload": workload,
        "params": params_json or widgets.ANY_PARAMS,
        "commit_a": previous,
        "commit_b": commit,
    }
    urlstate.switch_page(widgets.PAGE_COMPARE, **query)

st.dataframe(
    history[["commit", "commit_time", "commit_message", "run_id", "value", "unit", "params"]],
    hide_index=True,
    key="trends_history",
)
