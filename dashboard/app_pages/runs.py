"""Runs: every run in the store, filtered by workload, commit, branch and status.

Selecting a row (or picking a run below the table) opens it on the Run page.
"""

import pandas as pd
import streamlit as st

from dashboard import widgets

OPEN_KEY = "runs_open_run"

st.title("Runs")
store, fingerprint, runs = widgets.load_runs()

# Compute: filter options come from the runs themselves.
commit_labels = {
    c: f"{widgets.short_commit(c)} {m or ''}".strip()
    for c, m in zip(runs["git_commit"], runs["commit_message"], strict=True)
    if isinstance(c, str)
}
filters = st.columns(4)
workloads = filters[0].multiselect(
    "Workload", sorted(runs["workload"].unique()), key="runs_workload"
)
commits = filters[1].multiselect(
    "Commit", list(commit_labels), format_func=lambda c: commit_labels[c], key="runs_commit"
)
branches = filters[2].multiselect(
    "Branch", sorted(runs["git_branch"].dropna().unique()), key="runs_branch"
)
statuses = filters[3].multiselect("Status", sorted(runs["status"].unique()), key="runs_status")

shown = runs
if workloads:
    shown = shown[shown["workload"].isin(workloads)]
if commits:
    shown = shown[shown["git_commit"].isin(commits)]
if branches:
    shown = shown[shown["git_branch"].isin(branches)]
if statuses:
    shown = shown[shown["status"].isin(statuses)]

table = pd.DataFrame(
    {
        "run_id": shown["run_id"],
        "workload": shown["workload"],
        "status": shown["status"],
        "commit": [widgets.short_commit(c) for c in shown["git_commit"]],
        "branch": shown["git_branch"],
        "dirty": shown["git_dirty"],
        "key metrics": [
            " · ".join(f"{name} {m[name]:,.4g}" for name in widgets.key_metrics(m))
            for m in shown["metrics"]
        ],
        "sim_end_ns": shown["sim_end_ns"],
        "wall_s": shown["wall_s"],
        "topology": shown["topology"],
        "params": [widgets.params_text(p) for p in shown["params"]],
        "created_at": shown["created_at"],
    }
).reset_index(drop=True)

st.caption(
    f"{len(table)} of {len(runs)} runs, newest first. Select a row to open the run; "
    "times are simulated ns (sim_end_ns) and wall-clock seconds (wall_s)."
)


def _open_selected() -> None:
    """Row selection callback: remember the run to open (pages switch outside callbacks)."""
    rows = st.session_state["runs_table"].selection.rows
    if rows:
        st.session_state[OPEN_KEY] = table["run_id"][rows[0]]


st.dataframe(
    table,
    key="runs_table",
    on_select=_open_selected,
    selection_mode="single-row",
    hide_index=True,
    column_config={
        "sim_end_ns": st.column_config.NumberColumn("sim_end_ns", format="%.1f"),
        "wall_s": st.column_config.NumberColumn("wall_s", format="%.3f"),
        "created_at": st.column_config.DatetimeColumn("created_at", format="YYYY-MM-DD HH:mm:ss"),
    },
)

if failed := int((shown["status"] != "ok").sum()):
    st.warning(f"{failed} run{'s' if failed != 1 else ''} failed; open one to see its error.")

pick, open_button = st.columns([4, 1], vertical_alignment="bottom")
labels = {row["run_id"]: widgets.run_label(row) for row in shown.to_dict("records")}
chosen = pick.selectbox(
    "Open a run",
    list(labels),
    format_func=lambda r: labels[r],
    key="runs_pick",
    placeholder="choose a run",
)
if open_button.button("Open run", key="runs_open", disabled=chosen is None):
    st.session_state[OPEN_KEY] = chosen

if run_to_open := st.session_state.pop(OPEN_KEY, None):
    st.switch_page(widgets.PAGE_RUN, query_params={"run": run_to_open})
