"""Run: one run in depth -- KPIs, launch spread, per-PE breakdown and mesh heat map,
engine timeline, DMA bandwidth and collective rounds."""

import pandas as pd
import streamlit as st

from dashboard import data, figures, urlstate, widgets

# The engine timeline fetches at most this many ops, so large runs stay fast.
MAX_TIMELINE_OPS = 5000
DEFAULT_TIMELINE_PES = 4

st.title("Run")
store, fingerprint, runs = widgets.load_runs()
ok_ids = runs.loc[runs["status"] == "ok", "run_id"]
newest_ok = ok_ids.iloc[0] if not ok_ids.empty else None
run_id = widgets.pick_run("Run", runs, key="run_pick", param="run", default=newest_ok)
header = data.run_header(store, run_id)
if header is None:  # vanished between listing and loading: the store changed under us
    st.error(f"Run `{run_id}` is no longer in store `{store}`; reload the page.")
    st.stop()

# Header: what ran, where, from which source tree.
commit = widgets.short_commit(header["git_commit"])
if header["commit_message"]:
    commit += f" ({header['commit_message']})"
dirty = " + uncommitted changes" if header["git_dirty"] else ""
branch = header["git_branch"] or "no branch"
st.caption(
    f"**{header['workload']}** {widgets.params_text(header['params'])} · topology "
    f"**{header['topology']}** · commit {commit}{dirty} on {branch} · "
    f"started {header['created_at']:%Y-%m-%d %H:%M:%S} on {header['host']}"
)
if header["status"] != "ok":
    st.error(f"This run failed: {header['error'] or 'no error text recorded'}")
    st.caption("What it traced before failing is shown below.")

# KPIs: the workload's latency first, then its key metrics, then facts of the run.
metrics = data.run_metrics(store, run_id)
units = dict(zip(metrics["name"], metrics["unit"], strict=True))
values = dict(zip(metrics["name"], metrics["value"], strict=True))
sim_end = ("simulated time (whole run)", widgets.format_value(header["sim_end_ns"], "ns"),
           "Simulated end of the run, host copies included.")  # fmt: skip
kpis = [
    widgets.metric_card(name, values[name], units[name]) for name in widgets.key_metrics(values, 6)
]
if "latency_ns" not in values:
    kpis.insert(0, sim_end)
else:
    kpis.append(sim_end)
kpis += [
    ("wall time", f"{header['wall_s']:,.3f} s" if pd.notna(header["wall_s"]) else "n/a",
     "Wall-clock time the simulator took."),
    ("trace rows", f"{header['n_events']:,}" if pd.notna(header["n_events"]) else "n/a",
     "Rows written to the trace tables."),
]  # fmt: skip
KPIS_PER_ROW = 5
for first in range(0, len(kpis), KPIS_PER_ROW):
    row = kpis[first : first + KPIS_PER_ROW]
    for column, (label, value, help_text) in zip(st.columns(KPIS_PER_ROW), row, strict=False):
        column.metric(label, value, help=help_text)
with st.expander(f"All {len(metrics)} metrics", expanded=False):
    st.dataframe(metrics, hide_index=True, key="run_metrics")

# Launch latency and spread.
st.subheader("Launches")
spread = data.launch_spread(store, run_id)
st.plotly_chart(figures.launch_spread_figure(spread), key="run_spread_chart")
if not spread.empty and spread["barrier"].fillna(False).all():
    st.caption("Every launch used the start barrier, so its PEs start together (spread 0).")
st.dataframe(
    spread[
        [
            "launch_id",
            "kernel",
            "grid",
            "n_pes",
            "barrier",
            "latency_ns",
            "spread_ns",
            "dispatch_spread_ns",
            "host_issue_ns",
            "end_ns",
        ]
    ],
    hide_index=True,
    key="run_spread_table",
)

# Per-PE breakdown and the hardware heat map.
st.subheader("PEs")
pes = data.pe_breakdown(store, run_id)
st.plotly_chart(figures.pe_breakdown_figure(pes), key="run_pe_chart")
st.caption(
    "Engines overlap in time, so a bar can rise above the makespan; idle is the time no "
    "engine of the PE was busy."
)
mesh = figures.MeshShape.from_topology_json(header["topology_json"], pes)
st.plotly_chart(figures.pe_mesh_heatmap(pes, mesh), key="run_mesh_chart")
with st.expander("Per-PE numbers"):
    st.dataframe(pes, hide_index=True, key="run_pe_table")

# Engine timeline for a bounded PE range.
st.subheader("Engine timeline")
if pes.empty:
    st.info("No PE ran an op in this run.")
else:
    pe_min, pe_max = int(pes["pe_global"].min()), int(pes["pe_global"].max())
    if pe_min == pe_max:
        pe_first = pe_last = pe_min
    else:
        pe_first, pe_last = st.slider(
            "PEs (pe_global)",
            pe_min,
            pe_max,
            (pe_min, min(pe_max, pe_min + DEFAULT_TIMELINE_PES - 1)),
            key="run_timeline_pes",
        )
    ops = data.ops_window(store, run_id, pe_first, pe_last, MAX_TIMELINE_OPS)
    total = int(ops["total_ops"].iloc[0]) if not ops.empty else 0
    if total > len(ops):
        st.warning(
            f"Showing the first {len(ops):,} of {total:,} ops of PEs {pe_first}–{pe_last} "
            f"(by start time; the timeline fetches at most {MAX_TIMELINE_OPS:,}). "
            "Narrow the PE range to see later ops."
        )
    else:
        st.caption(f"All {total:,} ops of PEs {pe_first}–{pe_last}.")
    st.plotly_chart(figures.engine_timeline_figure(ops), key="run_timeline_chart")

# DMA and collectives side by side.
left, right = st.columns(2)
with left:
    st.subheader("DMA bandwidth")
    dma = data.dma_bandwidth(store, run_id)
    st.plotly_chart(figures.dma_bandwidth_figure(dma), key="run_dma_chart")
    st.dataframe(dma, hide_index=True, key="run_dma_table")
with right:
    st.subheader("Collective rounds")
    rounds = data.collective_rounds(store, run_id)
    if rounds.empty:
        st.info("No collectives in this run.")
    else:
        st.plotly_chart(figures.collective_rounds_figure(rounds), key="run_rounds_chart")
        st.dataframe(rounds, hide_index=True, key="run_rounds_table")

overlap = data.comm_compute(store, run_id)
if not overlap.empty and overlap["comm_ns"].sum() > 0:
    st.subheader("Compute vs communication")
    exposed = overlap["exposed_comm_ns"].sum() / overlap["comm_ns"].sum()
    st.caption(
        f"Communication (every op of a collective launch) exposed, i.e. not overlapped with "
        f"compute (GEMM/MATH ops of other launches): {exposed:.0%} over all PEs."
    )
    st.plotly_chart(figures.comm_compute_figure(overlap), key="run_comm_chart")
    st.dataframe(overlap, hide_index=True, key="run_comm_table")

# Baseline for "compare": the previous ok run like this one (workload, params, topology).
previous = widgets.previous_like_run(runs, header)
if st.button(
    "Compare with the previous run like this one",
    key="run_compare",
    disabled=previous is None,
    help="The newest earlier ok run with the same workload, parameters and topology"
    + ("" if previous is not None else " (there is none in this store)."),
):
    urlstate.switch_page(widgets.PAGE_COMPARE, mode="runs", a=previous, b=run_id)
