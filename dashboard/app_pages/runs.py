"""Runs: every run in the store, filtered by workload, topology, parameters, commit,
branch, status and sweep (each filter is a query parameter, so a filtered list is a link:
workload, topology, where, commit, branch, status, sweep).

Selecting a row (or picking a run below the table) opens it on the Run page, in the
same store.
"""

import json

import pandas as pd
import streamlit as st

from dashboard import urlstate, widgets

OPEN_KEY = "runs_open_run"
# Parameter filters are "key=value" texts; values may hold commas, so they join with this.
PARAM_SEPARATOR = ";"

st.title("Runs")
store, fingerprint, runs = widgets.load_runs()
if "sweep_id" not in runs:  # a store older than sweeps
    runs = runs.assign(sweep_id=None)


def _pairs(params_json: object) -> set[str]:
    """The "key=value" texts of a params JSON (none when it does not parse)."""
    try:
        params = json.loads(params_json) if isinstance(params_json, str) else {}
    except json.JSONDecodeError:
        return set()
    return {f"{k}={v}" for k, v in params.items()} if isinstance(params, dict) else set()


# Compute: filter options come from the runs themselves.
run_pairs = [_pairs(p) for p in runs["params"]]
commit_labels = {
    c: f"{widgets.short_commit(c)} {m or ''}".strip()
    for c, m in zip(runs["git_commit"], runs["commit_message"], strict=True)
    if isinstance(c, str)
}
top, bottom = st.columns(3), st.columns(4)
workloads = widgets.synced_multiselect(
    "Workload", sorted(runs["workload"].unique()), key="runs_workload", param="workload",
    what="Workload", container=top[0],
)  # fmt: skip
# A topology is its hash (an override makes another one under the same name).
topology_of = dict(
    runs.dropna(subset=["topology_hash"])
    .drop_duplicates("topology_hash")[["topology_hash", "topology"]]
    .itertuples(index=False)
)
topology_label = widgets.topology_labels(list(topology_of.values()), list(topology_of))


def _resolve_topology(options, wanted: str) -> urlstate.Resolved:
    """A hash or a unique prefix of one, else a name that only one topology has."""
    by_hash = urlstate.resolve_prefix(options, wanted)
    if by_hash.value is not None:
        return by_hash
    named = [h for h in options if topology_of.get(h) == wanted]
    if len(named) == 1:
        return urlstate.Resolved(named[0])
    if named:
        return urlstate.Resolved(None, f"names {len(named)} topologies; pick one by its hash")
    return by_hash


topologies = widgets.synced_multiselect(
    "Topology", sorted(topology_label, key=topology_label.get), key="runs_topology",
    param="topology", what="Topology", container=top[1], format_func=topology_label.get,
    resolve=_resolve_topology,
)  # fmt: skip
pairs = widgets.synced_multiselect(
    "Parameters (runs having all of)", sorted(set().union(*run_pairs)), key="runs_params",
    param="where", what="Parameter", container=top[2], separator=PARAM_SEPARATOR,
)  # fmt: skip
commits = widgets.synced_multiselect(
    "Commit", list(commit_labels), format_func=lambda c: commit_labels[c], key="runs_commit",
    param="commit", what="Commit", container=bottom[0], resolve=urlstate.resolve_prefix,
)  # fmt: skip
branches = widgets.synced_multiselect(
    "Branch", sorted(runs["git_branch"].dropna().unique()), key="runs_branch", param="branch",
    what="Branch", container=bottom[1],
)  # fmt: skip
statuses = widgets.synced_multiselect(
    "Status", sorted(runs["status"].unique()), key="runs_status", param="status",
    what="Status", container=bottom[2],
)  # fmt: skip
sweeps = widgets.synced_multiselect(
    "Sweep", sorted(runs["sweep_id"].dropna().unique(), reverse=True), key="runs_sweep",
    param="sweep", what="Sweep", container=bottom[3], resolve=urlstate.resolve_prefix,
)  # fmt: skip

keep = pd.Series(True, index=runs.index)
if workloads:
    keep &= runs["workload"].isin(workloads)
if topologies:
    keep &= runs["topology_hash"].isin(topologies)
if pairs:
    keep &= pd.Series([set(pairs) <= have for have in run_pairs], index=runs.index)
if commits:
    keep &= runs["git_commit"].isin(commits)
if branches:
    keep &= runs["git_branch"].isin(branches)
if statuses:
    keep &= runs["status"].isin(statuses)
if sweeps:
    keep &= runs["sweep_id"].isin(sweeps)
shown = runs[keep]
# Topologies of one name (an override makes another) are told apart by their short hash.
topology_label = widgets.topology_labels(runs["topology"], runs["topology_hash"])

table = pd.DataFrame(
    {
        "run_id": shown["run_id"],
        "workload": shown["workload"],
        "status": shown["status"],
        "commit": [widgets.short_commit(c) for c in shown["git_commit"]],
        "branch": shown["git_branch"],
        "dirty": shown["git_dirty"],
        "key metrics": [
            " · ".join(
                f"{name} {widgets.format_value(m[name], widgets.metric_unit(name))}"
                for name in widgets.key_metrics(m)
            )
            for m in shown["metrics"]
        ],
        "sim_end_ns": shown["sim_end_ns"],
        "wall_s": shown["wall_s"],
        "topology": [topology_label[h] for h in shown["topology_hash"]],
        "params": [widgets.params_text(p) for p in shown["params"]],
        "created_at": shown["created_at"],
        "sweep": shown["sweep_id"],
    }
).reset_index(drop=True)

st.caption(
    f"{len(table):,} of {len(runs):,} runs, newest first. Select a row to open the run; "
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
        "sim_end_ns": st.column_config.NumberColumn("sim_end_ns", format="localized"),
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
    urlstate.switch_page(widgets.PAGE_RUN, run=run_to_open)
