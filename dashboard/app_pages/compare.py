"""Compare: run b against baseline run a -- picked directly, or as the newest runs of one
workload (and parameter set) at two commits. Metric deltas with regressions
highlighted, per-PE and per-engine deltas, the critical paths' difference as a waterfall,
the launches and rounds that moved most. Query parameters: mode, a, b (runs mode),
workload, params, commit_a, commit_b (commits mode), judge, kernels (0: whole-run critical
paths), focus (`path`: the critical-path waterfall first, as Trends' change points link)."""

import pandas as pd
import streamlit as st

from dashboard import data, figures, overlay_figures, path_figures, regressions, urlstate, widgets

TOP_N = 10
# `?focus=path` shows the critical-path waterfall first, right under the two runs (the
# view Trends' change points link to); `#why-latency-moved` is its section anchor.
FOCUS = "focus"
FOCUS_PATH = "path"
PATH_ANCHOR = "why-latency-moved"
MODES = {
    "runs": "Two runs",
    "commits": "Two commits of a workload",
    "several": "Several runs or metrics on one chart",
}
VERDICT_STYLE = {
    regressions.REGRESSION: "background-color: #fbd5d5",
    regressions.IMPROVEMENT: "background-color: #d5f5dd",
    regressions.CHANGED: "background-color: #eeeeee",
}

st.title("Compare")
store, fingerprint, runs = widgets.load_runs()
ok_runs = runs[runs["status"] == "ok"]
mode = widgets.synced_selectbox(
    "Compare", list(MODES), key="compare_mode", param="mode", format_func=MODES.get, what="Mode"
)


def pick_two_runs() -> tuple[str | None, str | None]:
    """Runs mode: candidate b (by default the newest ok run) and a different baseline a (by
    default the previous run like b: same workload, parameters and topology)."""
    if len(runs) < 2:
        st.info("Compare needs two different runs; this store holds one. Make another run.")
        return None, None
    newest = (ok_runs if not ok_runs.empty else runs).iloc[0]
    left, right = st.columns(2)
    with right:
        run_b = widgets.pick_run("Run (b)", runs, key="compare_b", param="b",
                                 default=newest["run_id"])  # fmt: skip
    b_row = runs[runs["run_id"] == run_b].iloc[0]
    default_a = widgets.previous_like_run(runs, b_row)
    if default_a is None:
        same_workload = runs[(runs["workload"] == b_row["workload"]) & (runs["run_id"] != run_b)]
        default_a = same_workload["run_id"].iloc[0] if not same_workload.empty else None
    with left:
        run_a = widgets.pick_run(
            "Baseline run (a)", runs, key="compare_a", param="a", default=default_a, exclude=run_b
        )
    return run_a, run_b


def pick_two_commits() -> tuple[str | None, str | None]:
    """Commits mode: the newest ok runs of one workload (and parameter set) at two
    different commits."""
    columns = st.columns([1, 2])
    with columns[0]:
        workload = widgets.synced_selectbox(
            "Workload",
            sorted(ok_runs.loc[ok_runs["git_commit"].notna(), "workload"].unique()),
            key="compare_workload",
            param="workload",
            what="Workload",
        )
    if workload is None:
        st.info("No successful runs to compare yet.")
        return None, None
    with columns[1]:
        params_json = widgets.pick_param_set(store, fingerprint, workload, key="compare_params")
    commits = data.workload_commits(store, fingerprint, workload, params_json)
    if len(commits) < 2:
        st.info(
            f"{widgets.md_code(workload)} has ok runs at {len(commits)} known commit(s) with "
            "these parameters; comparing commits needs two. Run it at another commit, or "
            "compare two runs."
        )
        return None, None
    commit_labels = {
        row["commit"]: widgets.commit_label(
            row["commit"], row["commit_message"], row["commit_time"]
        )
        for row in commits.to_dict("records")
    }
    order = list(commits["commit"])
    left, right = st.columns(2)
    with right:
        commit_b = widgets.synced_selectbox(
            "Commit (b)",
            order,
            key="compare_commit_b",
            param="commit_b",
            default=order[-1],
            format_func=commit_labels.get,
            resolve=urlstate.resolve_prefix,
            what=f"Commit (`commit_b`) of {widgets.md_text(workload)}",
        )
    others = [c for c in order if c != commit_b]
    with left:
        commit_a = widgets.synced_selectbox(
            "Baseline commit (a)",
            others,
            key="compare_commit_a",
            param="commit_a",
            default=others[-1] if order.index(commit_b) == 0 else order[order.index(commit_b) - 1],
            format_func=commit_labels.get,
            resolve=urlstate.resolve_prefix,
            what=f"Commit (`commit_a`, not b's) of {widgets.md_text(workload)}",
        )
    run_of = dict(zip(commits["commit"], commits["run_id"], strict=True))
    return run_of[commit_a], run_of[commit_b]


def show_overlay() -> None:
    """Several mode: any runs (any workload, parameters, topology) and any of their
    metrics on one chart -- several runs and one metric, or one run and several metrics.
    Query parameters: runs (run ids or unique prefixes, comma-separated), metrics
    (comma-separated), scale (auto, linear, log)."""
    labels = {row["run_id"]: widgets.run_label(row) for row in runs.to_dict("records")}
    chosen = widgets.synced_multiselect(
        "Runs", list(labels), key="compare_overlay_runs", param="runs", format_func=labels.get,
        resolve=urlstate.resolve_prefix, what="Run (`runs`)",
    )  # fmt: skip
    if not chosen:
        st.info("Pick one or more runs (any workload, parameters or topology) to chart.")
        return
    values = pd.concat(
        [data.run_metrics(store, run_id).assign(run_id=run_id) for run_id in chosen],
        ignore_index=True,
    )
    names = sorted(values["name"].unique())
    if st.query_params.get("metrics") is None and "compare_overlay_metrics" not in st.session_state:
        first = values[values["run_id"] == chosen[0]]
        st.session_state["compare_overlay_metrics"] = widgets.key_metrics(
            dict(zip(first["name"], first["value"], strict=True)), 1
        )
    left, right = st.columns([4, 1])
    with left:
        metrics = widgets.synced_multiselect(
            "Metrics", names, key="compare_overlay_metrics", param="metrics",
            what="Metric (`metrics`)",
        )  # fmt: skip
    with right:
        scale = widgets.synced_selectbox(
            "Value axis", ["auto", "linear", "log"], key="compare_overlay_scale", param="scale",
            what="Axis scale",
        )  # fmt: skip
    if not metrics:
        st.info("Pick one or more metrics of these runs.")
        return
    shown = values[values["name"].isin(metrics)]
    missing = [
        f"{widgets.md_code(run_id)} has no {widgets.md_code(name)}"
        for run_id in chosen
        for name in metrics
        if shown[(shown["run_id"] == run_id) & (shown["name"] == name)].empty
    ]
    if missing:
        st.warning("Not drawn: " + "; ".join(missing) + ".")
    if shown["run_id"].map(runs.set_index("run_id")["workload"]).nunique() > 1:
        st.caption("Runs of different workloads: values side by side, no verdicts.")
    st.plotly_chart(
        figures.value_axes(
            overlay_figures.overlay_runs_figure(shown, {r: labels[r] for r in chosen}), scale,
            shown["value"],
        ),
        key="compare_overlay_chart",
    )  # fmt: skip
    headers = runs.set_index("run_id")
    st.dataframe(
        pd.DataFrame(
            {
                "run_id": shown["run_id"],
                "workload": shown["run_id"].map(headers["workload"]),
                "params": shown["run_id"].map(headers["params"]).map(widgets.params_text),
                "topology": shown["run_id"].map(headers["topology"]),
                "metric": shown["name"],
                "shown": [
                    widgets.format_value(v, u)
                    for v, u in zip(shown["value"], shown["unit"], strict=True)
                ],
                "value": shown["value"],
                "unit": shown["unit"],
            }  # fmt: skip
        ),
        hide_index=True,
        key="compare_overlay_table",
    )


if mode == "several":
    show_overlay()
    st.stop()
run_a, run_b = pick_two_runs() if mode == "runs" else pick_two_commits()
if run_a is None or run_b is None:
    st.stop()
header_a, header_b = data.run_header(store, run_a), data.run_header(store, run_b)
if header_a is None or header_b is None:
    st.error("A chosen run is no longer in the store; reload the page.")
    st.stop()

# Who is who, and what differs besides the code. Names and messages are the store's text,
# shown as is (md_text), not read as Markdown.
left, right = st.columns(2)
for column, name, header in ((left, "a", header_a), (right, "b", header_b)):
    status = "" if header["status"] == "ok" else " · **FAILED**"
    about = (
        f"{header['workload']} {widgets.params_text(header['params'])} · {header['topology']}"
        f" · commit {widgets.short_commit(header['git_commit'])} {header['commit_message'] or ''}"
    )
    column.markdown(
        f"**{name}** = [{widgets.md_code(header['run_id'])}]"
        f"({urlstate.link_url('run', run=header['run_id'])}) · {widgets.md_text(about)}{status}"
    )
failed = [name for name, h in (("a", header_a), ("b", header_b)) if h["status"] != "ok"]
for name, header in (("a", header_a), ("b", header_b)):
    if header["status"] != "ok":
        st.error(
            f"Run {name} failed, so its metrics are missing or partial and no change below is "
            "a verdict on the code." + (" Its error:" if header["error"] else "")
        )
        if header["error"]:  # verbatim: tracebacks keep their lines and can be copied
            st.code(header["error"], language=None, wrap_lines=True)
notes = []
if header_a["workload"] != header_b["workload"]:
    notes.append(widgets.md_text(f"different workloads ({header_a['workload']} → "
                                 f"{header_b['workload']})"))  # fmt: skip
if changed := widgets.params_diff(header_a["params"], header_b["params"]):
    notes.append(widgets.md_text("parameters differ: " + "; ".join(changed)))
if header_a["topology_hash"] != header_b["topology_hash"]:
    notes.append(widgets.md_text(f"topologies differ ({header_a['topology']} → "
                                 f"{header_b['topology']})"))  # fmt: skip
like = not notes
colour_anyway = False
if not like:
    st.warning(
        "Not a like-for-like comparison: " + " · ".join(notes) + ". Differences are shown side "
        "by side, not judged as regressions or improvements."
    )
    colour_anyway = widgets.synced_checkbox(
        "Judge changes as regressions/improvements anyway",
        key="compare_verdicts",
        param="judge",
        help="Only meaningful when the difference between the runs is what you want to judge.",
    )
judged = like or colour_anyway


def show_critical_path() -> None:
    """Why the latency moved: the difference of the two critical paths by component, as
    a waterfall from latency a to latency b (of the kernels alone unless `?kernels=0`)."""
    st.subheader("Critical path: where the latency change comes from", anchor=PATH_ANCHOR)
    kernels_only = widgets.synced_checkbox(
        "Kernels only", key="compare_path_kernels", param="kernels", default=True,
        help="Compare the kernels' critical paths, without the host copies around them "
        "(`kernbench explain --kernels`); untick for the whole runs.",
    )  # fmt: skip
    explained = data.explain_diff(store, run_a, run_b, kernels_only)
    if explained is None:
        st.info(
            "A run has no dependency trace (recorded before it existed) or, for its kernels, "
            "no launch: no critical path."
        )
        return
    st.plotly_chart(path_figures.contributions_waterfall(explained), key="compare_path_waterfall")
    if (diverge := explained["diverge"]) is not None:
        seg = diverge["a"] or diverge["b"]
        command = f"kernbench explain {run_a} {run_b}{' --kernels' if kernels_only else ''}"
        st.caption(
            f"The paths first diverge at {seg['start_ns']:,.0f} ns"
            f"{' after the first launch' if kernels_only else ''} ({diverge['reason']}): "
            f"{widgets.md_text(seg['what'])} on {widgets.md_text(seg['where'])}. "
            f"{widgets.md_code(command)} prints this."
        )


path_first = st.query_params.get(FOCUS) == FOCUS_PATH
if path_first:
    show_critical_path()

# Metric deltas.
st.subheader("Metrics")
threshold_pct = st.number_input(
    "Count a change beyond (%)",
    min_value=0.0,
    value=regressions.DEFAULT_THRESHOLD_PCT,
    step=0.5,
    key="compare_threshold",
    help="The same default as `kernbench check`; smaller changes show as 'changed'.",
)
deltas = regressions.with_verdicts(data.compare_runs(store, run_a, run_b), threshold_pct)
if failed:
    deltas["verdict"] = f"run {' and '.join(failed)} failed"
elif not judged:
    directional = deltas["verdict"].isin([regressions.REGRESSION, regressions.IMPROVEMENT])
    deltas.loc[directional, "verdict"] = regressions.CHANGED
counts = deltas["verdict"].value_counts()
summary = st.columns(3)
if failed:
    summary[0].metric("status", f"run {' and '.join(failed)} failed")
    summary[1].metric("changes judged", "none")
elif judged:
    summary[0].metric("regressions", int(counts.get(regressions.REGRESSION, 0)))
    summary[1].metric("improvements", int(counts.get(regressions.IMPROVEMENT, 0)))
else:
    summary[0].metric("metrics that differ", int(counts.get(regressions.CHANGED, 0)))
    summary[1].metric("changes judged", "none (unlike runs)")
summary[2].metric("metrics compared", len(deltas))
if not failed:
    st.plotly_chart(figures.metric_delta_figure(deltas), key="compare_metric_chart")
table = deltas[["name", "unit", "better", "a", "b", "delta", "pct", "verdict"]]
styled = table.style.format({"pct": "{:+.2f}%"}, na_rep="–")
# a, b and delta in each row's own unit, for people (the values underneath stay numbers).
for unit, rows in table.groupby("unit", dropna=False).groups.items():
    unit_name = None if pd.isna(unit) else unit
    styled = styled.format(
        lambda v, u=unit_name: widgets.format_value(v, u), subset=(rows, ["a", "b"]), na_rep="–"
    )
    styled = styled.format(
        lambda v, u=unit_name: ("+" if v > 0 else "") + widgets.format_value(v, u),
        subset=(rows, ["delta"]),
        na_rep="–",
    )
if judged and not failed:
    styled = styled.apply(lambda row: [VERDICT_STYLE.get(row["verdict"], "")] * len(row), axis=1)
st.dataframe(styled, hide_index=True, key="compare_metrics_table")

# Per-PE deltas on the hardware layout (b's), and the PEs that moved most.
st.subheader("PEs")
pes = data.compare_pes(store, run_a, run_b)
if pes.empty:
    st.info("Neither run executed anything on a PE.")
else:
    located = pes.assign(
        sip=pes["sip_b"].fillna(pes["sip_a"]),
        cube=pes["cube_b"].fillna(pes["cube_a"]),
        pe=pes["pe_b"].fillna(pes["pe_a"]),
        used_by=[
            "only a" if pd.isna(b) else "only b" if pd.isna(a) else "both"
            for a, b in zip(pes["sip_a"], pes["sip_b"], strict=True)
        ],
    )
    pes_b = located[["sip", "cube", "pe"]].dropna()
    mesh = figures.MeshShape.from_topology_json(header_b["topology_json"], pes_b)
    st.plotly_chart(
        figures.pe_mesh_heatmap(
            located,
            mesh,
            value_column="delta_busy_ns",
            title="Per-PE change in busy time, b − a (ns; red: busier in b)",
            diverging=True,
            used_by_column="used_by",
        ),
        key="compare_pe_chart",
    )
    one_sided = located["used_by"].value_counts()
    if (one_sided.drop("both", errors="ignore") > 0).any():
        st.caption(
            f"PEs used by run a only: {int(one_sided.get('only a', 0))}, by run b only: "
            f'{int(one_sided.get("only b", 0))} (marked "a only" / "b only" on the map; '
            "their change is not a delta)."
        )
    moved = located.reindex(located["delta_busy_ns"].abs().sort_values(ascending=False).index)
    st.caption(f"PEs whose busy time changed most (top {TOP_N})")
    top_pes = moved.head(TOP_N)[
            [
                "pe_global",
                "sip",
                "cube",
                "pe",
                "used_by",
                "busy_ns_a",
                "busy_ns_b",
                "delta_busy_ns",
                "utilisation_a",
                "utilisation_b",
                "delta_utilisation",
            ]
        ]  # fmt: skip
    widgets.number_table(top_pes, "compare_pe_table")

if not path_first:
    show_critical_path()

# Per-engine deltas.
st.subheader("Engines")
engines = data.compare_engines(store, run_a, run_b)
st.plotly_chart(
    figures.engine_delta_figure(engines, label_a=f"a {run_a}", label_b=f"b {run_b}"),
    key="compare_engine_chart",
)
widgets.number_table(engines, "compare_engine_table")

# Launches and collective rounds that changed most.
left, right = st.columns(2)
with left:
    st.subheader("Launches that changed most")
    launches = data.compare_launches(store, run_a, run_b)
    if launches.empty:
        st.info("No launches in either run.")
    else:
        widgets.number_table(launches.head(TOP_N), "compare_launch_table")
with right:
    st.subheader("Collective rounds that changed most")
    rounds = data.compare_rounds(store, run_a, run_b)
    if rounds.empty:
        st.info("No collectives in either run.")
    else:
        widgets.number_table(rounds.head(TOP_N), "compare_round_table")
