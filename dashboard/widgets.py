"""Shared page helpers: the current store, run labels, value formatting, pickers kept
in step with the URL's query parameters, and the empty-store message."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from traces.layout import resolve_store

# Page scripts, relative to app.py (st.switch_page and AppTest.switch_page take these).
PAGE_RUNS = "app_pages/runs.py"
PAGE_RUN = "app_pages/run.py"
PAGE_COMPARE = "app_pages/compare.py"
PAGE_TRENDS = "app_pages/trends.py"

STORE_KEY = "store_path"
ASV_KEY = "asv_results_path"
ANY_PARAMS = "__any__"

# Metrics worth a column on the Runs page and a KPI on the Run page, in this order.
KEY_METRICS = (
    "tflops",
    "latency_ns",
    "kernel_ns",
    "utilisation",
    "launch_latency_ns",
    "spread_ns",
    "busbw_gbs",
    "allreduce_ns",
)


def _script_option(argv: Sequence[str], option: str) -> str | None:
    """The value of ``option`` among the app script's arguments, None when absent.

    `streamlit run app.py -- --store DIR` hands the script ["--store", "DIR"] as
    sys.argv[1:]; anything before a literal "--" is skipped, unknown arguments ignored.
    """
    argv = list(argv)
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument(option, dest="value", default=None)
    known, _ = parser.parse_known_args(argv)
    return known.value


def store_argument(argv: Sequence[str]) -> str | None:
    """The value of --store among the app script's arguments, None when absent."""
    return _script_option(argv, "--store")


def asv_results_argument(argv: Sequence[str]) -> str | None:
    """The value of --asv-results among the app script's arguments, None when absent."""
    return _script_option(argv, "--asv-results")


def current_store() -> Path:
    """The store chosen in the sidebar (app.py), else $KERNBENCH_STORE, else the default."""
    return resolve_store(st.session_state.get(STORE_KEY) or None)


def short_commit(commit: Any) -> str:
    """The first 8 characters of a commit hash, or "-" when unknown."""
    return str(commit)[:8] if isinstance(commit, str) and commit else "-"


def commit_label(commit: Any, message: Any, commit_time: Any) -> str:
    """`<short hash> · <subject> · <YYYY-MM-DD HH:MM>` (parts that are unknown left out)."""
    parts = [short_commit(commit)]
    if isinstance(message, str) and message:
        parts.append(message if len(message) <= 60 else message[:57] + "...")
    if commit_time is not None and not pd.isna(commit_time):
        parts.append(pd.Timestamp(commit_time).strftime("%Y-%m-%d %H:%M"))
    return " · ".join(parts)


def params_text(params_json: Any) -> str:
    """`k=v k=v` for a params JSON text ("(no parameters)" when empty)."""
    try:
        params = json.loads(params_json) if isinstance(params_json, str) else {}
    except json.JSONDecodeError:
        return str(params_json)
    if not params:
        return "(no parameters)"
    return " ".join(f"{k}={v}" for k, v in params.items())


def params_diff(params_a: Any, params_b: Any) -> list[str]:
    """`key: a → b` for each parameter that differs between two params JSON texts."""
    a = json.loads(params_a) if isinstance(params_a, str) else {}
    b = json.loads(params_b) if isinstance(params_b, str) else {}
    return [
        f"{k}: {a.get(k, '(unset)')} → {b.get(k, '(unset)')}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def format_value(value: Any, unit: str | None) -> str:
    """A metric value for display: ns with thousands separators and 1 decimal, ratios as
    percentages, tflops with 3 decimals, GB/s with 2, counts as integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    unit = unit or ""
    if unit == "ns":
        return f"{value:,.1f} ns"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "tflops":
        return f"{value:,.3f} TFLOP/s"
    if unit.endswith("gbs"):
        return f"{value:,.2f} GB/s"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{_si(value)} {unit}".rstrip()


def _si(value: float) -> str:
    """4 significant digits with an SI prefix above a thousand: 16.91 M, 2.5 G."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.4g} {prefix}"
    return f"{value:.4g}"


def key_metrics(metrics: dict[str, float], limit: int = 3) -> list[str]:
    """Names of up to `limit` metrics worth showing first: KEY_METRICS order, then by name."""
    preferred = [m for m in KEY_METRICS if m in metrics]
    # Fitted summaries (e.g. dma_sweep's dma.<path>.bw_gbs / .alpha_ns) before per-size rows.
    fitted = sorted(
        m for m in metrics if m not in KEY_METRICS and m.endswith((".bw_gbs", ".alpha_ns"))
        and "B." not in m
    )  # fmt: skip
    rest = sorted(m for m in metrics if m not in KEY_METRICS and m not in fitted)
    return (preferred + fitted + rest)[:limit]


def run_label(run: pd.Series | dict) -> str:
    """`<workload> · <run id> · <commit> · <status>` for run pickers."""
    return (
        f"{run['workload']} · {run['run_id']} · {short_commit(run['git_commit'])}"
        f"{' · FAILED' if run['status'] != 'ok' else ''}"
    )


def show_empty_store(store: Path) -> None:
    """Explain that the store holds no runs and how to make a first one."""
    where = "does not exist yet" if not store.exists() else "holds no runs yet"
    st.info(
        f"The run store `{store}` {where}. Make a first run, then reload this page:\n\n"
        f"```\nkernbench run gemm --store {store}\n```\n\n"
        "or run the whole demo suite (it opens this dashboard when done):\n\n"
        "```\nmake demo\n```\n\n"
        "You can also point the sidebar's **Run store** at another folder."
    )


def load_runs() -> tuple[str, str, pd.DataFrame]:
    """(store, fingerprint, runs) of the current store; shows how to make a first run and
    stops the page when the store has none."""
    store = current_store()
    fingerprint = data.store_fingerprint(str(store))
    runs = data.runs(str(store), fingerprint)
    if runs.empty:
        show_empty_store(store)
        st.stop()
    return str(store), fingerprint, runs


def synced_selectbox(
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    param: str,
    default: Any = None,
    format_func: Callable[[Any], str] = str,
    help: str | None = None,
) -> Any:
    """A selectbox whose choice is mirrored in query parameter `param`, so a page opened
    with `?param=value` (st.switch_page(..., query_params=...)) starts there.

    Initial choice: the widget's own last choice, else the query parameter, else
    `default`, else the first option. Returns None when there are no options.
    """
    options = list(options)
    if not options:
        st.query_params.pop(param, None)
        return None
    candidates = (st.session_state.get(key), st.query_params.get(param), default)
    initial = next((c for c in candidates if c is not None and c in options), options[0])
    choice = st.selectbox(
        label,
        options,
        index=options.index(initial),
        key=key,
        format_func=format_func,
        help=help,
    )
    st.query_params[param] = str(choice)
    return choice


def pick_run(
    label: str, runs: pd.DataFrame, *, key: str, param: str, default: str | None = None
) -> str | None:
    """A run picker (see synced_selectbox) over `runs` (data.runs rows); returns a run id.

    A query parameter naming no run (or several, as a prefix) shows a warning and
    falls back to `default`.
    """
    ids = list(runs["run_id"])
    wanted = st.query_params.get(param)
    if wanted and wanted not in ids and st.session_state.get(key) not in ids:
        matches = [run_id for run_id in ids if run_id.startswith(wanted)]
        if len(matches) == 1:
            st.query_params[param] = matches[0]
        else:
            why = "matches several runs" if matches else "is not in this store"
            st.warning(f"Run `{wanted}` {why}; showing another run instead. Pick one below.")
            st.query_params.pop(param, None)
    labels = {row["run_id"]: run_label(row) for row in runs.to_dict("records")}
    return synced_selectbox(
        label, ids, key=key, param=param, default=default, format_func=lambda r: labels.get(r, r)
    )


def pick_param_set(store: str, fingerprint: str, workload: str, *, key: str) -> str | None:
    """A parameter-set picker for `workload` (query parameter `params`); returns the
    params JSON, or None for "any parameters (newest run at each commit)".

    Default: the parameter set seen at the most commits if that is two or more, else any.
    """
    sets = data.param_sets(store, fingerprint, workload)
    labels = {ANY_PARAMS: "any parameters (newest run at each commit)"}
    labels |= {
        p: f"{params_text(p)} ({c} commit{'s' if c != 1 else ''})"
        for p, c in zip(sets["params"], sets["n_commits"], strict=True)
    }
    multi = sets[sets["n_commits"] >= 2]
    chosen = synced_selectbox(
        "Parameter set",
        list(labels),
        key=key,
        param="params",
        default=multi["params"].iloc[0] if not multi.empty else ANY_PARAMS,
        format_func=labels.get,
    )
    return None if chosen == ANY_PARAMS else chosen
