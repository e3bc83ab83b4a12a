"""Trends: one metric of a workload (and parameter set) over commit history, with the
change points asv's step detection finds. Picking a commit opens Compare against the
commit before it; a change point (its marker, or its "why" link) opens Compare of the run
before and the run after the change on their critical-path waterfall."""

from pathlib import Path

import pandas as pd
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
            f"No asv results in {widgets.md_code(results_dir)} yet. Record some with `make "
            "bench` (every recent commit) or `asv run --python=same --set-commit-hash $(git "
            "rev-parse HEAD)`, then reload. Meanwhile, the simulator's wall time as the runs "
            "in the store recorded it:"
        )
        show_store_wall_time()
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


def show_store_wall_time() -> None:
    """The simulator's wall time (runs.wall_s) of one workload and parameter set over
    commits, from the run store: the newest ok run at each commit."""
    store, fingerprint, runs = widgets.load_runs()
    tracked = runs[(runs["status"] == "ok") & runs["git_commit"].notna()]
    if tracked.empty:
        st.caption("No ok run in the store records a commit either.")
        return
    left, right = st.columns([1, 2])
    with left:
        workload = widgets.synced_selectbox(
            "Workload", sorted(tracked["workload"].unique()), key="trends_wall_workload",
            param="workload", what="Workload",
        )  # fmt: skip
    with right:
        params_json = widgets.pick_param_set(store, fingerprint, workload, key="trends_wall_params")
    chosen = tracked[tracked["workload"] == workload]
    if params_json is not None:
        chosen = chosen[chosen["params"] == params_json]
    newest = (
        chosen.sort_values("run_id")
        .groupby("git_commit", as_index=False)
        .last()
        .sort_values(["commit_time", "run_id"], na_position="last")
    )
    history = pd.DataFrame(
        {
            "commit": newest["git_commit"],
            "commit_time": newest["commit_time"],
            "commit_message": newest["commit_message"],
            "run_id": newest["run_id"],
            "value": newest["wall_s"],
            "unit": "s",
            "params": newest["params"],
        }
    ).reset_index(drop=True)
    st.plotly_chart(
        figures.trend_figure(history, change_points(list(history["value"])), "wall_s", "s",
                             "lower"),
        key="trends_wall_chart",
    )  # fmt: skip
    st.caption(
        "Wall-clock seconds each run took on the machine that made it; runs from different "
        "machines or loads are not comparable."
    )
    st.dataframe(history, hide_index=True, key="trends_wall_table")


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

columns = st.columns([1, 2, 1, 1])
with columns[0]:
    workload = widgets.synced_selectbox(
        "Workload", sorted(tracked["workload"].unique()), key="trends_workload", param="workload",
        what="Workload",
    )  # fmt: skip
with columns[1]:
    params_json = widgets.pick_param_set(store, fingerprint, workload, key="trends_params")
with columns[3]:
    topology_hash = widgets.pick_topology(
        tracked[tracked["workload"] == workload], key="trends_topology"
    )
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
        what=f"Metric of {widgets.md_text(workload)}",
    )
if metric is None:
    st.info(f"Runs of {widgets.md_code(workload)} record no metrics.")
    st.stop()

history = data.metric_trend(store, fingerprint, workload, metric, params_json, topology_hash)
points = change_points(list(history["value"]))
unit = units.get(metric)
better = regressions.better_of(metric, unit, stored_better.get(metric))
commits = list(history["commit"])


def why_link(index: int) -> str:
    """The Compare URL of the run before and the run at commit `index` of the history,
    opened on their critical-path waterfall (what a change point's "why" links to)."""
    return urlstate.link_url("compare", **why_query(index))


def why_query(index: int) -> dict[str, str]:
    """Compare's query parameters for history points index-1 (a) and index (b): the two
    runs themselves, with the critical-path waterfall first (compare.py's `focus=path`)."""
    return {
        "mode": "runs",
        "a": str(history["run_id"].iloc[index - 1]),
        "b": str(history["run_id"].iloc[index]),
        "focus": "path",
    }


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
        # A change-point marker opens the two runs' critical-path diff; a point of the
        # line, the two commits.
        on_marker = selected[0].get("curve_number") == 1
        st.session_state[OPEN_KEY] = (commit, on_marker)


scale = widgets.synced_selectbox("Value axis", ["auto", "linear", "log"], key="trends_scale",
                                 param="scale", what="Axis scale")  # fmt: skip
st.plotly_chart(
    figures.value_axes(
        figures.trend_figure(history, points, metric, unit, better), scale, history["value"]
    ),
    key="trends_chart",
    on_select=_open_clicked,
    selection_mode="points",
)
st.caption(
    f"{len(history)} commit(s), oldest first; each point is the newest ok run at that commit. "
    "Click a point to compare it with the commit before it, a change point's diamond to "
    "see why it moved (the two runs' critical-path diff on Compare)."
)
if topology_hash is None and history["topology_hash"].nunique() > 1:
    st.warning(
        "These points come from different topologies (same name, other overrides count "
        "too); pick one above for a like-for-like history."
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
                "why": why_link(p.index),
            }
            for p in points
        ],
        hide_index=True,
        key="trends_change_points",
        column_config={
            "why": st.column_config.LinkColumn("why", display_text="critical path diff"),
        },
    )
    st.markdown(
        "Why did it move? "
        + " · ".join(
            f"[{widgets.md_text(widgets.short_commit(commits[p.index - 1]))} → "
            f"{widgets.md_text(widgets.short_commit(commits[p.index]))} ({p.change_pct:+.1f}%): "
            f"critical path diff]({why_link(p.index)})"
            for p in reversed(points)
        )
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
        st.session_state[OPEN_KEY] = (chosen, False)

if opened := st.session_state.pop(OPEN_KEY, None):
    commit, why = opened
    if why:
        urlstate.switch_page(widgets.PAGE_COMPARE, **why_query(commits.index(commit)))
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

# Overlay: other metrics of this workload, or this metric for other parameter sets.
st.subheader("Overlay")
overlay_left, overlay_right = st.columns(2)
with overlay_left:
    other_metrics = widgets.synced_multiselect(
        "Other metrics of this workload", [m for m in units if m != metric],
        key="trends_also", param="also", what="Metric to overlay",
    )  # fmt: skip
sets = data.param_sets(store, fingerprint, workload)
set_labels = {p: widgets.params_text(p) for p in sets["params"]}
with overlay_right:
    other_sets = widgets.synced_multiselect(
        f"{widgets.md_text(metric)} for other parameter sets",
        [p for p in set_labels if p != params_json],
        key="trends_vs", param="vs", what="Parameter set to overlay", format_func=set_labels.get,
        separator="|",
    )  # fmt: skip
if other_metrics or other_sets:
    lines = [(metric if not other_sets else f"{metric} · {widgets.params_text(params_json)}"
              if params_json else metric, history)]  # fmt: skip
    lines += [(name, data.metric_trend(store, fingerprint, workload, name, params_json,
               topology_hash)) for name in other_metrics]  # fmt: skip
    lines += [(f"{metric} · {set_labels[p]}", data.metric_trend(store, fingerprint, workload,
              metric, p, topology_hash)) for p in other_sets]  # fmt: skip
    same_unit = {units.get(name) for name in [metric, *other_metrics]}
    st.plotly_chart(
        figures.value_axes(
            figures.overlay_trend_figure(lines, unit if len(same_unit) == 1 else None), scale,
            [v for _, f in lines for v in f["value"]],
        ),
        key="trends_overlay_chart",
    )  # fmt: skip
else:
    st.caption("Pick other metrics or parameter sets to draw them on one chart with this one.")
