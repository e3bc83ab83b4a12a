"""Run: one run in depth -- KPIs, launch spread, per-PE breakdown and mesh heat map,
engine timeline, DMA bandwidth and collective rounds.

Only the open tab's sections run and reach the browser (tabs bound to `view`): the
timeline with the critical path drawn over it by default, the others on request. A
browser spends most of a page load setting up plotly charts, so the first view has one.

Query parameters besides `run`: `view` (the open tab: absent for Timeline, else its
label), `kernels` (0: the critical path and the timeline's time axis cover the whole run,
[0, simulated end], instead of the kernels alone), `path` (0: no critical path over the
timeline), `scale` (value axes: auto, linear, log), `util` (what the heat map shows: any
or an engine), `pe0`/`pe1` and `t0`/`t1` (the timeline's PE range and time window, ns),
`interactive` (1: the plotly chart even where the timeline would be an image).

The timeline of a run with more than MAX_TIMELINE_OPS ops, over its whole time axis, is
a server-rendered PNG (dashboard.timeline_image: busy fraction per PE, engine and time
bucket, the critical path above): no plotly chart on the first view, whose JavaScript
alone costs a browser seconds. Choosing a time window (slider or URL), or `interactive`,
shows the plotly chart as before: the ops themselves when at most MAX_TIMELINE_OPS, else
their utilisation per bucket."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data, figures, path_figures, timeline_image, urlstate, widgets

# The engine timeline draws the ops themselves up to this many (WebGL segments); beyond
# it, their utilisation per time bucket (level of detail), so any run is drawn whole.
MAX_TIMELINE_OPS = 20_000
TIMELINE_BUCKETS = 400
SCALES = {"auto": "auto (log when values span 100×)", "linear": "linear", "log": "log"}
UTILISATION_OF = {"any": "any engine", **{e: e for e in figures.ENGINES}}

st.title("Run")
store, fingerprint, runs = widgets.load_runs()
ok_ids = runs.loc[runs["status"] == "ok", "run_id"]
newest_ok = ok_ids.iloc[0] if not ok_ids.empty else None
run_id = widgets.pick_run("Run", runs, key="run_pick", param="run", default=newest_ok)
header = data.run_header(store, run_id)
if header is None:  # vanished between listing and loading: the store changed under us
    st.error(
        f"Run {widgets.md_code(run_id)} is no longer in store {widgets.md_code(store)}; "
        "reload the page."
    )
    st.stop()

# Header: what ran, where, from which source tree. Names and messages are the store's
# text, shown as is (md_text), not read as Markdown.
commit = widgets.md_text(widgets.short_commit(header["git_commit"]))
if header["commit_message"]:
    commit += f" ({widgets.md_text(header['commit_message'])})"
dirty = " + uncommitted changes" if header["git_dirty"] else ""
branch = widgets.md_text(header["git_branch"]) if header["git_branch"] else "no branch"
workload, params = header["workload"], widgets.params_text(header["params"])
# The time escaped too: its ":08:" would have Streamlit read emoji shortcodes in the rest.
started = widgets.md_text(f"{header['created_at']:%Y-%m-%d %H:%M:%S}")
st.caption(
    f"**{widgets.md_text(workload)}** {widgets.md_text(params)} · topology "
    f"**{widgets.md_text(header['topology'])}** · commit {commit}{dirty} on {branch} · "
    f"started {started} on {widgets.md_text(header['host'])}"
)
if header["status"] != "ok":
    # The error verbatim in a code block: tracebacks keep their lines and can be copied.
    if header["error"]:
        st.error("This run failed with this error:")
        st.code(header["error"], language=None, wrap_lines=True)
    else:
        st.error("This run failed; it recorded no error text.")
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
KPIS_PER_ROW = 4
for first in range(0, len(kpis), KPIS_PER_ROW):
    row = kpis[first : first + KPIS_PER_ROW]
    for column, (label, value, help_text) in zip(st.columns(KPIS_PER_ROW), row, strict=False):
        column.metric(label, value, help=help_text)
# Actions: compare, export, value axes.
previous = widgets.previous_like_run(runs, header)
actions = st.columns([2, 2, 2, 2], vertical_alignment="bottom")
if actions[0].button(
    "Compare with the previous run like this one",
    key="run_compare",
    disabled=previous is None,
    help="The newest earlier ok run with the same workload, parameters and topology"
    + ("" if previous is not None else " (there is none in this store)."),
):
    urlstate.switch_page(widgets.PAGE_COMPARE, mode="runs", a=previous, b=run_id)


def _perfetto_json() -> bytes:
    """The run as Chrome trace-event JSON (traces.perfetto), made when the button is used."""
    from traces.perfetto import export_perfetto

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        export_perfetto(store, run_id, path)
        return path.read_bytes()


actions[1].download_button(
    "Export for Perfetto",
    data=_perfetto_json,
    file_name=f"{run_id}.perfetto.json",
    mime="application/json",
    key="run_perfetto",
    help="Chrome trace-event JSON: open it in ui.perfetto.dev (one track per PE engine and link).",
)
with actions[2]:
    scale = widgets.synced_selectbox("Value axes", list(SCALES), key="run_scale", param="scale",
                                     format_func=SCALES.get, what="Axis scale")  # fmt: skip
with actions[3]:
    kernels_only = widgets.synced_checkbox(
        "Kernels only", key="run_path_kernels", param="kernels", default=True,
        help="The critical path and the timeline from the first launch's host issue to the "
        "last launch's end, without the host copies around the kernels (`kernbench explain "
        "--kernels`); untick for the whole run, from 0 to the simulated end.",
    )  # fmt: skip
path = data.critical_path(store, run_id, kernels_only)
window = data.kernel_window(store, run_id) if kernels_only else None
sim_end_ns = header["sim_end_ns"]
if window is None and sim_end_ns is not None and pd.notna(sim_end_ns):
    window = (0.0, float(sim_end_ns))

TABS = ("Timeline", "Critical path", "PEs", "Launches", "DMA and collectives", "All metrics")
tabs = dict(zip(TABS, st.tabs(TABS, key="view", bind="query-params"), strict=True))

with tabs["All metrics"]:
    if tabs["All metrics"].open:
        st.dataframe(metrics, hide_index=True, key="run_metrics")


def _timeline_window(span: dict) -> tuple[float, float]:
    """The timeline's whole time axis: the path's window (the kernels, or [0, simulated
    end]) widened to hold every op, so nothing the run did falls outside it."""
    lo, hi = span["start_ns"], span["end_ns"]
    if window is not None:
        lo, hi = min(lo, window[0]), max(hi, window[1])
    return float(lo), float(hi)


@st.cache_data(show_spinner=False, max_entries=32)
def _timeline_png(
    store: str, run_id: str, start_ns: float, end_ns: float, pe_first: int, pe_last: int,
    draw_path: bool, kernels_only: bool,
) -> bytes:  # fmt: skip
    """The whole-run timeline image (dashboard.timeline_image) of PEs pe_first..pe_last
    over [start_ns, end_ns): the same bucket query as the plotly level-of-detail chart, one
    bucket per pixel column; the critical path (of the kernels with `kernels_only`) above
    it when `draw_path`."""
    buckets = data.engine_busy_buckets(store, run_id, start_ns, end_ns,
                                       timeline_image.IMAGE_BUCKETS, pe_first, pe_last)  # fmt: skip
    pes = data.pe_breakdown(store, run_id)
    pe_list = [int(g) for g in pes["pe_global"] if pe_first <= g <= pe_last]
    found = data.critical_path(store, run_id, kernels_only) if draw_path else None
    segments = found["segments"] if found is not None else None
    return timeline_image.timeline_png(buckets, pe_list, start_ns, end_ns,
                                       timeline_image.IMAGE_BUCKETS, segments)  # fmt: skip


# Engine timeline: the ops themselves when few enough, else utilisation per time bucket
# (an image over the whole time axis, a plotly chart over a chosen window); the critical
# path drawn over it.
with tabs["Timeline"]:
    if tabs["Timeline"].open:
        if path is not None:
            st.markdown(widgets.md_text(path["summary"]))
        span = data.ops_span(store, run_id)
        pes = data.pe_breakdown(store, run_id)
        if pes.empty or span["n_ops"] == 0:
            st.info("No PE ran an op in this run.")
        else:
            first_ns, last_ns = _timeline_window(span)
            pe_min, pe_max = int(pes["pe_global"].min()), int(pes["pe_global"].max())
            controls = st.columns([3, 3, 1.1, 1.4], vertical_alignment="bottom")
            with controls[0]:
                pe_first, pe_last = widgets.synced_range(
                    "PEs (pe_global)", pe_min, pe_max, key="run_timeline_pes",
                    params=("pe0", "pe1"), cast=int,
                )  # fmt: skip
            with controls[1]:
                t_first, t_last = widgets.synced_range(
                    "Time window (simulated ns; or drag a box on the chart)", first_ns,
                    last_ns, key="run_timeline_window", params=("t0", "t1"), cast=float,
                )  # fmt: skip
            with controls[2]:
                draw_path = widgets.synced_checkbox(
                    "Critical path", key="run_timeline_path", param="path", default=True,
                    help="Draw the critical path above the timeline: the places it passes "
                    "through, each stretch coloured by what it was.",
                )  # fmt: skip
            with controls[3]:
                interactive = widgets.synced_checkbox(
                    "Interactive chart", key="run_timeline_interactive", param="interactive",
                    help=f"Over the whole time axis, a run of more than {MAX_TIMELINE_OPS:,} "
                    "ops is drawn as an image (fast to open); tick for the plotly chart "
                    "(hover, box zoom). A chosen time window always shows the plotly chart.",
                )  # fmt: skip
            n_ops = data.ops_count(store, run_id, pe_first, pe_last, t_first, t_last)
            pe_list = [int(g) for g in pes["pe_global"] if pe_first <= g <= pe_last]
            whole = (t_first, t_last) == (first_ns, last_ns)
            shown = (
                f"the whole {'span of the kernels' if kernels_only else 'run'} "
                f"({widgets.format_ns(first_ns)} → {widgets.format_ns(last_ns)})"
                if whole
                else f"{widgets.format_ns(t_first)} → {widgets.format_ns(t_last)}"
            )
            if n_ops > MAX_TIMELINE_OPS and whole and not interactive:
                png = _timeline_png(store, run_id, t_first, t_last, pe_first, pe_last,
                                    draw_path and path is not None, kernels_only)  # fmt: skip
                # Sent as made: "auto" would re-encode it as JPEG, blurring 1-px rows.
                st.image(png, width="stretch", output_format="PNG")
                st.caption(
                    f"{n_ops:,} ops of PEs {pe_first}–{pe_last} over {shown}, drawn as each "
                    f"engine's utilisation (busy time ÷ bucket width) per PE in "
                    f"{timeline_image.IMAGE_BUCKETS} buckets of "
                    f"{widgets.format_ns((t_last - t_first) / timeline_image.IMAGE_BUCKETS)}"
                    ". Choose a time window or tick *Interactive chart* for a zoomable chart; "
                    f"a window of at most {MAX_TIMELINE_OPS:,} ops shows the ops themselves."
                )
                figure = None
            elif n_ops > MAX_TIMELINE_OPS:
                buckets = data.engine_busy_buckets(store, run_id, t_first, t_last,
                                                   TIMELINE_BUCKETS, pe_first, pe_last)  # fmt: skip
                figure = figures.engine_utilisation_figure(
                    buckets, pe_list, t_first, t_last, TIMELINE_BUCKETS
                )
                st.caption(
                    f"{n_ops:,} ops of PEs {pe_first}–{pe_last} over {shown}, drawn as each "
                    f"engine's utilisation in {TIMELINE_BUCKETS} buckets of "
                    f"{widgets.format_ns((t_last - t_first) / TIMELINE_BUCKETS)}. Narrow the "
                    f"window or the PEs to at most {MAX_TIMELINE_OPS:,} ops to see the ops "
                    "themselves."
                )
            else:
                figure = figures.engine_timeline_figure(
                    data.ops_between(store, run_id, t_first, t_last, pe_first, pe_last)
                )
                st.caption(f"All {n_ops:,} ops of PEs {pe_first}–{pe_last} over {shown}.")
            if figure is not None:  # None: the image was drawn
                figure.update_xaxes(range=[t_first, t_last])
                if draw_path and path is not None:
                    figure = path_figures.overlay_critical_path(
                        figure, path["segments"], t_first, t_last
                    )

                def _zoom_to_box() -> None:
                    """Chart selection callback: a box dragged on the chart becomes the window."""
                    boxes = st.session_state["run_timeline_chart"].selection.get("box") or []
                    if boxes and len(boxes[0].get("x", [])) == 2:
                        x0, x1 = sorted(float(x) for x in boxes[0]["x"])
                        lo, hi = max(first_ns, x0), min(last_ns, x1)
                        if hi > lo:
                            st.session_state["run_timeline_window"] = (lo, hi)

                st.plotly_chart(figure, key="run_timeline_chart", on_select=_zoom_to_box,
                                selection_mode="box")  # fmt: skip

# The chain of waits that set the run's latency.
with tabs["Critical path"]:
    if tabs["Critical path"].open:
        if path is None:
            st.info(
                "This run has no dependency trace (recorded before it existed) or, for its "
                "kernels, no launch: no critical path."
            )
        else:
            st.markdown(widgets.md_text(path["summary"]))
            left, right = st.columns([1, 2])
            left.dataframe(path["components"], hide_index=True, key="run_path_components")
            with right:
                st.plotly_chart(path_figures.path_timeline_figure(path["segments"]),
                                key="run_path_chart")  # fmt: skip

# Per-PE breakdown and the hardware heat map.
with tabs["PEs"]:
    if tabs["PEs"].open:
        pes = data.pe_breakdown(store, run_id)
        st.plotly_chart(figures.pe_breakdown_figure(pes), key="run_pe_chart")
        st.caption(
            "Engines overlap in time, so a bar can rise above the makespan; idle is the time "
            "no engine of the PE was busy."
        )
        utilisation_of = widgets.synced_selectbox(
            "Utilisation of", list(UTILISATION_OF), key="run_util", param="util",
            format_func=UTILISATION_OF.get, what="Utilisation of",
            help="Utilisation = busy time ÷ makespan, for one engine or for any engine of the "
            "PE (the union of all its engines' busy time).",
        )  # fmt: skip
        column = (
            "utilisation" if utilisation_of == "any" else f"{utilisation_of.lower()}_utilisation"
        )
        mesh = figures.MeshShape.from_topology_json(header["topology_json"], pes)
        if not pes.empty:
            st.plotly_chart(
                figures.pe_mesh_heatmap(
                    pes, mesh, value_column=column,
                    title=f"PE utilisation of {UTILISATION_OF[utilisation_of]} (busy time ÷ "
                    f"makespan, mean {pes[column].mean():.0%}), laid out as the hardware",
                ),
                key="run_mesh_chart",
            )  # fmt: skip
        # A table drawn only when asked: a collapsed expander would still cost the browser.
        if st.toggle("Show the per-PE numbers", key="run_pe_numbers"):
            widgets.number_table(pes, "run_pe_table")

# Launch latency and spread.
with tabs["Launches"]:
    if tabs["Launches"].open:
        spread = data.launch_spread(store, run_id)
        st.plotly_chart(
            figures.value_axes(
                figures.launch_spread_figure(spread), scale, spread["latency_ns"].to_numpy()
            ),
            key="run_spread_chart",
        )
        if not spread.empty and spread["barrier"].fillna(False).all():
            st.caption("Every launch used the start barrier, so its PEs start together (spread 0).")
        widgets.number_table(
            spread[["launch_id", "kernel", "grid", "n_pes", "barrier", "latency_ns", "spread_ns",
                    "dispatch_spread_ns", "host_issue_ns", "end_ns"]],
            "run_spread_table",
        )  # fmt: skip

# DMA and collectives side by side, then communication against compute.
with tabs["DMA and collectives"]:
    if tabs["DMA and collectives"].open:
        left, right = st.columns(2)
        with left:
            st.subheader("DMA bandwidth")
            dma = data.dma_bandwidth(store, run_id)
            st.plotly_chart(
                figures.value_axes(figures.dma_bandwidth_figure(dma), scale,
                                   dma["gbs"].to_numpy()),
                key="run_dma_chart",
            )  # fmt: skip
            widgets.number_table(dma, "run_dma_table")
        with right:
            st.subheader("Collective rounds")
            rounds = data.collective_rounds(store, run_id)
            if rounds.empty:
                st.info("No collectives in this run.")
            else:
                st.plotly_chart(
                    figures.value_axes(figures.collective_rounds_figure(rounds), scale,
                                       rounds["slowest_ns"].to_numpy()),
                    key="run_rounds_chart",
                )  # fmt: skip
                widgets.number_table(rounds, "run_rounds_table")

        overlap = data.comm_compute(store, run_id)
        if not overlap.empty and overlap["comm_ns"].sum() > 0:
            st.subheader("Compute vs communication")
            exposed = overlap["exposed_comm_ns"].sum() / overlap["comm_ns"].sum()
            st.caption(
                f"Communication (every op of a collective launch) exposed, i.e. not overlapped "
                f"with compute (GEMM/MATH ops of other launches): {exposed:.0%} over all PEs."
            )
            st.plotly_chart(figures.comm_compute_figure(overlap), key="run_comm_chart")
            widgets.number_table(overlap, "run_comm_table")
