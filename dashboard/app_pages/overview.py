"""Overview: every workload x metric over the last N commits of the store, with the
change points asv's step detection finds, biggest change first -- `kernbench check` for
the whole history. Query parameters: `n` (commits), `all` (show metrics without a
change point too)."""

import pandas as pd
import streamlit as st

from dashboard import data, urlstate, widgets
from traces import verdicts
from traces.changepoints import change_points

COMMIT_CHOICES = (5, 10, 20, 50, 100)

st.title("Overview")
store, fingerprint, runs = widgets.load_runs()
n_commits = widgets.synced_selectbox(
    "Last commits", list(COMMIT_CHOICES), key="overview_n", param="n", default=20,
    format_func=lambda n: f"{n} commits", what="Number of commits",
)  # fmt: skip
values = data.recent_commit_metrics(store, fingerprint, int(n_commits))
if values.empty:
    st.info(
        "No successful run records a commit yet, so there is no history. Runs made from a "
        "git checkout record their commit (or set KERNBENCH_COMMIT); `kernbench history` "
        "runs a suite at past commits."
    )
    st.stop()

# Compute: change points of each series (workload, params, topology, metric).
# A topology is its hash (overrides make another one); names that collide get it shown.
values["topology_hash"] = values["topology_hash"].fillna("")
topology_label = widgets.topology_labels(values["topology"], values["topology_hash"])
rows = []
keys = ["workload", "params", "topology", "topology_hash", "name"]
for (workload, params, _, topology_hash, name), series in values.groupby(
    keys, sort=True, dropna=False
):
    points = change_points(list(series["value"]))
    better = verdicts.stored_better(name, series["unit"].iloc[0], series["better"].iloc[0])
    base = {
        "workload": workload,
        "params": widgets.params_text(params),
        "topology": topology_label[topology_hash],
        "metric": name,
        "unit": series["unit"].iloc[0],
        "better": better or "",
        "commits": len(series),
        "trend": urlstate.link_url(
            "trends", workload=workload, params=params, metric=name, topology=topology_hash
        ),
    }
    for point in points:
        commit = series["commit"].iloc[point.index]
        rows.append(
            base
            | {
                "change_pct": point.change_pct,
                "verdict": verdicts.verdict(
                    better, point.before, point.after, verdicts.DEFAULT_THRESHOLD_PCT
                ),
                "before": point.before,
                "after": point.after,
                "at commit": widgets.short_commit(commit),
                "message": series["commit_message"].iloc[point.index],
                "change": f"{widgets.format_value(point.before, base['unit'])} → "
                f"{widgets.format_value(point.after, base['unit'])}",
                # The run before the step and the run at it, on Compare's waterfall.
                "why": urlstate.link_url(
                    "compare", mode="runs", a=series["run_id"].iloc[point.index - 1],
                    b=series["run_id"].iloc[point.index], focus="path",
                ),
            }
        )  # fmt: skip
    if not points:
        rows.append(base | {"change_pct": 0.0, "verdict": "steady", "before": None,
                            "after": series["value"].iloc[-1], "at commit": "",
                            "change": widgets.format_value(series["value"].iloc[-1],
                                                           base["unit"]), "why": None,
                            "message": ""})  # fmt: skip
table = pd.DataFrame(rows)
table = table.reindex(table["change_pct"].abs().sort_values(ascending=False, kind="stable").index)
changed = table[table["verdict"] != "steady"]
n_series = values.groupby(keys, dropna=False).ngroups
n_seen = values["commit"].nunique()
cards = st.columns(4)
cards[0].metric("commits", f"{n_seen:,}")
cards[1].metric("series", f"{n_series:,}", help="workload × params × topology × metric")
cards[2].metric("regressed", int((changed["verdict"] == verdicts.REGRESSED).sum()))
cards[3].metric("improved", int((changed["verdict"] == verdicts.IMPROVED).sum()))
show_all = widgets.synced_checkbox("Also list metrics without a change point", key="overview_all",
                                   param="all")  # fmt: skip
shown = table if show_all else changed
st.caption(
    f"Change points over the newest {n_seen} commit(s) with ok runs, largest change first; "
    "each value is the newest ok run of that workload, parameters and topology at a commit. "
    f"A change counts as regressed or improved beyond {verdicts.DEFAULT_THRESHOLD_PCT:g}%. "
    "Open a row's trend to see it over commits, or why it moved: the critical paths of the "
    "run before and the run at the change, compared."
)
if shown.empty:
    st.success("No metric changed level over these commits.")
VERDICT_STYLE = {
    verdicts.REGRESSED: "background-color: #fbd5d5",
    verdicts.IMPROVED: "background-color: #d5f5dd",
}
st.dataframe(
    shown[["verdict", "change_pct", "workload", "metric", "params", "topology", "change",
           "before", "after", "unit", "at commit", "message", "commits", "trend", "why"]]
    .style.apply(lambda row: [VERDICT_STYLE.get(row["verdict"], "")] * len(row), axis=1)
    .format({"change_pct": "{:+.2f}%", "before": "{:,.6g}", "after": "{:,.6g}"}, na_rep="–"),
    hide_index=True,
    key="overview_table",
    column_config={
        "trend": st.column_config.LinkColumn("trend", display_text="open trend"),
        "why": st.column_config.LinkColumn("why", display_text="critical path diff"),
        "change": st.column_config.TextColumn("change", help="before → after, human units"),
    },
)  # fmt: skip
