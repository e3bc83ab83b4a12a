"""Cached loaders: traces queries as pandas DataFrames, cached per store and run.

A run's rows never change once it is published, so per-run results are keyed on
(store, run ids). Results over the whole store (runs table, history) are also keyed
on the store's fingerprint, which changes whenever a run appears. One DuckDB
connection per (store, fingerprint) is shared; each query uses its own cursor, so
sessions in different threads never share one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import streamlit as st

from traces import asv_results as asv
from traces import queries, trends
from traces.views import open_store


def store_fingerprint(store: str) -> str:
    """A short hash of the store's complete run ids (changes when a run appears or goes)."""
    ids = open_store(store).run_ids()
    digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:12]
    return f"{len(ids)}-{digest}"


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(store: str, fingerprint: str) -> duckdb.DuckDBPyConnection:
    """Views over the store as it was when it had `fingerprint`."""
    return open_store(store).connect()


def _cursor(store: str) -> duckdb.DuckDBPyConnection:
    return _connection(store, store_fingerprint(store)).cursor()


def _frame(query: Callable[..., pa.Table], store: str, *args: Any) -> pd.DataFrame:
    """Run a traces query on the store and convert its table to pandas."""
    cursor = _cursor(store)
    try:
        return query(cursor, *args).to_pandas()
    finally:
        cursor.close()


# Store-wide results: keyed on the fingerprint so new runs show up.


@st.cache_data(show_spinner=False, max_entries=16)
def runs(store: str, fingerprint: str) -> pd.DataFrame:
    """Every run, newest first: the runs columns except topology_json, and `metrics` as a
    dict name -> value (see traces.queries.runs_table)."""
    frame = _frame(queries.runs_table, store)
    frame = frame.drop(columns=["topology_json"])
    frame["metrics"] = [dict(m) if isinstance(m, list) else {} for m in frame["metrics"]]
    return frame


@st.cache_data(show_spinner=False, max_entries=64)
def param_sets(store: str, fingerprint: str, workload: str) -> pd.DataFrame:
    """traces.trends.param_sets."""
    return _frame(trends.param_sets, store, workload)


@st.cache_data(show_spinner=False, max_entries=64)
def workload_metrics(store: str, fingerprint: str, workload: str) -> pd.DataFrame:
    """traces.trends.workload_metrics."""
    return _frame(trends.workload_metrics, store, workload)


@st.cache_data(show_spinner=False, max_entries=64)
def workload_commits(
    store: str, fingerprint: str, workload: str, params_json: str | None
) -> pd.DataFrame:
    """traces.trends.workload_commits."""
    return _frame(trends.workload_commits, store, workload, params_json)


@st.cache_data(show_spinner=False, max_entries=64)
def metric_trend(
    store: str,
    fingerprint: str,
    workload: str,
    metric: str,
    params_json: str | None,
    topology_hash: str | None = None,
) -> pd.DataFrame:
    """traces.trends.metric_trend."""
    return _frame(trends.metric_trend, store, workload, metric, params_json, topology_hash)


# Per-run results: a published run never changes.


@st.cache_data(show_spinner=False, max_entries=256)
def run_header(store: str, run_id: str) -> dict[str, Any] | None:
    """The runs row of one run as a dict (topology_json included; missing values are
    None, not NaN/NaT), or None if unknown."""
    cursor = _cursor(store)
    try:
        rows = queries.run_header(cursor, run_id).to_pylist()
    finally:
        cursor.close()
    return rows[0] if rows else None


@st.cache_data(show_spinner=False, max_entries=256)
def run_metrics(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.run_metrics."""
    return _frame(queries.run_metrics, store, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def launch_spread(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.launch_spread."""
    return _frame(queries.launch_spread, store, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def pe_breakdown(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.pe_breakdown."""
    return _frame(queries.pe_breakdown, store, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def engine_summary(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.engine_summary."""
    return _frame(queries.engine_summary, store, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def dma_bandwidth(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.dma_bandwidth."""
    return _frame(queries.dma_bandwidth, store, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def collective_rounds(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.collective_rounds."""
    return _frame(queries.collective_rounds, store, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def comm_compute(store: str, run_id: str) -> pd.DataFrame:
    """traces.queries.comm_compute."""
    return _frame(queries.comm_compute, store, run_id)


@st.cache_data(show_spinner=False, max_entries=64)
def ops_window(store: str, run_id: str, pe_first: int, pe_last: int, limit: int) -> pd.DataFrame:
    """traces.queries.ops_window."""
    return _frame(queries.ops_window, store, run_id, pe_first, pe_last, limit)


# Run-vs-run results.


@st.cache_data(show_spinner=False, max_entries=128)
def compare_runs(store: str, run_a: str, run_b: str) -> pd.DataFrame:
    """traces.queries.compare_runs."""
    return _frame(queries.compare_runs, store, run_a, run_b)


@st.cache_data(show_spinner=False, max_entries=128)
def compare_pes(store: str, run_a: str, run_b: str) -> pd.DataFrame:
    """traces.queries.compare_pes."""
    return _frame(queries.compare_pes, store, run_a, run_b)


@st.cache_data(show_spinner=False, max_entries=128)
def compare_engines(store: str, run_a: str, run_b: str) -> pd.DataFrame:
    """traces.queries.compare_engines."""
    return _frame(queries.compare_engines, store, run_a, run_b)


@st.cache_data(show_spinner=False, max_entries=128)
def compare_launches(store: str, run_a: str, run_b: str) -> pd.DataFrame:
    """traces.queries.compare_launches."""
    return _frame(queries.compare_launches, store, run_a, run_b)


@st.cache_data(show_spinner=False, max_entries=128)
def compare_rounds(store: str, run_a: str, run_b: str) -> pd.DataFrame:
    """traces.queries.compare_rounds."""
    return _frame(queries.compare_rounds, store, run_a, run_b)


@st.cache_data(show_spinner=False, max_entries=8)
def asv_results(results_dir: str, fingerprint: str) -> pd.DataFrame:
    """asv's benchmark results under ``results_dir`` (traces.asv_results columns); the
    fingerprint (traces.asv_results.results_fingerprint) changes with the files."""
    return asv.load_asv_results(results_dir).to_pandas()


# The engine timeline's level of detail.


@st.cache_data(show_spinner=False, max_entries=256)
def ops_span(store: str, run_id: str) -> dict[str, Any]:
    """start_ns, end_ns and n_ops of the run's engine ops (traces.queries.ops_span)."""
    cursor = _cursor(store)
    try:
        row = queries.ops_span(cursor, run_id).to_pylist()[0]
    finally:
        cursor.close()
    return {"start_ns": row["start_ns"], "end_ns": row["end_ns"], "n_ops": row["n_ops"]}


@st.cache_data(show_spinner=False, max_entries=256)
def ops_count(
    store: str, run_id: str, pe_first: int, pe_last: int, start_ns: float, end_ns: float
) -> int:
    """How many ops of PEs pe_first..pe_last overlap [start_ns, end_ns)."""
    cursor = _cursor(store)
    try:
        table = queries.ops_span(cursor, run_id, pe_first, pe_last, start_ns, end_ns)
    finally:
        cursor.close()
    return int(table.column("n_ops_in_window")[0].as_py())


@st.cache_data(show_spinner=False, max_entries=64)
def engine_busy_buckets(
    store: str,
    run_id: str,
    start_ns: float,
    end_ns: float,
    n_buckets: int,
    pe_first: int,
    pe_last: int,
) -> pd.DataFrame:
    """traces.queries.engine_busy_buckets."""
    return _frame(queries.engine_busy_buckets, store, run_id, start_ns, end_ns, n_buckets,
                  pe_first, pe_last)  # fmt: skip


@st.cache_data(show_spinner=False, max_entries=64)
def ops_between(
    store: str, run_id: str, start_ns: float, end_ns: float, pe_first: int, pe_last: int
) -> pd.DataFrame:
    """traces.queries.ops_between (no limit beyond the page's: it asks only when few)."""
    return _frame(queries.ops_between, store, run_id, start_ns, end_ns, pe_first, pe_last)


@st.cache_data(show_spinner=False, max_entries=64)
def explain_diff(
    store: str, run_a: str, run_b: str, kernels_only: bool = False
) -> dict[str, Any] | None:
    """``traces.critical_path.path_diff`` of two runs (of their kernels alone with
    `kernels_only`, as ``kernbench explain --kernels``); None if either has no ``deps``
    rows (traced before schema version 6) or, with `kernels_only`, no launch."""
    from traces.critical_path import path_diff

    cursor = _cursor(store)
    try:
        paths = [_path_of(cursor, run_id, kernels_only) for run_id in (run_a, run_b)]
    finally:
        cursor.close()
    if paths[0] is None or paths[1] is None:
        return None
    return path_diff(paths[0][0], paths[1][0])


def _path_of(cursor: Any, run_id: str, kernels_only: bool) -> tuple[Any, float] | None:
    """(critical path, its start in simulated ns) of a run: the whole run, or its kernels
    cut out by traces.critical_path.kernel_window (times shifted to start at 0); None
    without ``deps`` rows or, for kernels, without a launch."""
    from traces.critical_path import critical_path, kernel_window

    query = "SELECT count(*) FROM deps WHERE run_id = ?"
    if not cursor.sql(query, params=[run_id]).fetchall()[0][0]:
        return None
    path = critical_path(cursor, run_id)
    if not kernels_only:
        return path, 0.0
    window = kernel_window(cursor, run_id)
    return None if window is None else (path.within(*window), window[0])


@st.cache_data(show_spinner=False, max_entries=16)
def recent_commit_metrics(store: str, fingerprint: str, n_commits: int) -> pd.DataFrame:
    """traces.queries.recent_commit_metrics."""
    return _frame(queries.recent_commit_metrics, store, n_commits)


@st.cache_data(show_spinner=False, max_entries=64)
def critical_path(store: str, run_id: str, kernels_only: bool = False) -> dict[str, Any] | None:
    """A run's critical path (of its kernels alone with `kernels_only`): ``segments`` (a
    DataFrame of start_ns, end_ns in the run's simulated time, component, item, item_id,
    where, what), ``components`` (component, ns, share), ``latency_ns`` (the span the path
    covers) and ``summary`` (one sentence); None if the run has no ``deps`` rows or, for
    kernels, no launch."""
    from traces.critical_path import summary_sentence

    cursor = _cursor(store)
    try:
        found = _path_of(cursor, run_id, kernels_only)
    finally:
        cursor.close()
    if found is None:
        return None
    path, offset_ns = found
    latency = path.latency_ns
    components = pd.DataFrame(
        [
            {"component": c, "ns": ns, "share": ns / latency if latency else 0.0}
            for c, ns in path.components().items()
        ]  # fmt: skip
    )
    segments = pd.DataFrame(
        [{"start_ns": s.start_ns + offset_ns, "end_ns": s.end_ns + offset_ns,
          "component": s.component, "item": s.item, "item_id": s.item_id, "where": s.where,
          "what": s.what} for s in path.segments]
    )  # fmt: skip
    return {
        "segments": segments,
        "components": components,
        "latency_ns": latency,
        "summary": summary_sentence(path),
    }


@st.cache_data(show_spinner=False, max_entries=256)
def kernel_window(store: str, run_id: str) -> tuple[float, float] | None:
    """(first launch's host issue, last launch's end) in simulated ns, the span of the
    run's kernels (traces.critical_path.kernel_window); None without launches."""
    from traces.critical_path import kernel_window as window_of

    cursor = _cursor(store)
    try:
        return window_of(cursor, run_id)
    finally:
        cursor.close()
