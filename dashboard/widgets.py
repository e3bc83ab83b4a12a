"""Shared page helpers: the current store, run labels, value formatting, pickers kept
in step with the URL's query parameters, and the empty-store message."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data, urlstate
from traces import units
from traces.layout import is_object_url, resolve_store
from traces.schema import canonical_params
from traces.store import store_spec

# Page scripts, relative to app.py (st.switch_page and AppTest.switch_page take these).
PAGE_RUNS = "app_pages/runs.py"
PAGE_RUN = "app_pages/run.py"
PAGE_COMPARE = "app_pages/compare.py"
PAGE_TRENDS = "app_pages/trends.py"
PAGE_OVERVIEW = "app_pages/overview.py"

STORE_KEY = "store_path"
ASV_KEY = "asv_results_path"
ANY_PARAMS = "__any__"

# Metrics worth a column on the Runs page and a KPI on the Run page, in this order.
KEY_METRICS = (
    "latency_ns",
    "tflops",
    "efficiency",
    "bound_ns",
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


def current_store() -> Path | str:
    """The store chosen in the sidebar (app.py), else $KERNBENCH_STORE, else the default:
    a folder, or an ``s3://bucket/prefix`` URL as text."""
    spec = store_spec(urlstate.chosen_store() or None)
    return spec if is_object_url(spec) else resolve_store(spec)


# ASCII punctuation, each of which CommonMark lets a backslash escape.
_MD_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
_LINE_END = re.compile(r"\r\n|\r|\n")
_LEADING_BLANKS = re.compile(r"^[ \t]+")


def md_text(text: Any) -> str:
    """`text` as Markdown that shows as `text` itself: for names, commit messages, params
    and other data inside the Markdown of st.markdown, st.caption, alerts, headings,
    metric and widget labels and help tooltips.

    Every ASCII punctuation character is backslash-escaped, so none of it is markup:
    emphasis (`__init__`, `*args`), links and images (`[x](y)`), HTML and autolinks
    (`<b>`), code (a backtick), headings, lists, quotes, tables and rules (`# h`, `1. a`),
    and Streamlit's own LaTeX (`$x$`), colour directives (`:red[r]`) and emoji shortcodes
    (`:smile:`, while the Markdown around it has none); a backslash stays a backslash. A
    line break stays a line break, and the blanks that start a line are character
    references, so no line becomes a code block.
    Unguarded, as Streamlit applies them to the parsed text, escaped or not: a spaced
    ` -> ` (`<-`, `--`, `>=`, ...) shows as one symbol, `:streamlit:` and `:material_x:`
    as a logo and an icon, and a bare URL or e-mail address becomes a link to itself.
    """
    lines = _LINE_END.split(str(text))
    return "  \n".join(
        _LEADING_BLANKS.sub(
            lambda blanks: "".join(f"&#{ord(c)};" for c in blanks[0]),
            _MD_PUNCTUATION.sub(r"\\\g<0>", line),
        )
        for line in lines
    )


def _fence(text: str, shortest: int) -> str:
    """A run of backticks longer than any in `text` and at least `shortest` long."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(shortest, longest + 1)


def md_code(text: Any) -> str:
    """`text` as an inline Markdown code span that shows it as is (line breaks as spaces):
    fenced by more backticks than any run of them in `text`, and padded with a space
    where it starts or ends with a backtick (CommonMark strips one such space)."""
    text = _LINE_END.sub(" ", str(text))
    if not text:
        return ""
    fence = _fence(text, 1)
    edge = text[0] + text[-1]
    pad = "`" in edge or (text[0] == text[-1] == " " and text.strip(" "))
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def md_code_block(text: Any) -> str:
    """`text` as a fenced Markdown code block that shows it as is, line for line: its
    fence is longer than any run of backticks in `text`, so no line of it closes it."""
    text = str(text)
    fence = _fence(text, 3)
    return f"{fence}\n{text}\n{fence}"


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


def format_ns(value_ns: float) -> str:
    """A duration in ns in the largest unit that keeps it >= 1: "1.538 ms", "45.00 ns"
    (traces.units in the dashboard's notation)."""
    return units.format_ns(value_ns, units.SCREEN)


def metric_unit(name: str) -> str:
    """The unit a metric named `name` is recorded in, guessed from its name where no
    unit column is at hand (the runs list): *_ns ns, *_gbs gbs, tflops, utilisation and
    efficiency ratios, else ""."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf.endswith("_ns"):
        return "ns"
    if leaf.endswith("_gbs"):
        return "gbs"
    if leaf == "tflops":
        return "tflops"
    if leaf in ("utilisation", "efficiency"):
        return "ratio"
    return ""


def format_value(value: Any, unit: str | None) -> str:
    """A metric value for people (traces.units in the dashboard's notation): times in
    ns/µs/ms/s, ratios as percentages, TFLOP/s and GB/s with 4 significant digits, counts
    as integers, other numbers with an SI prefix, all with thousands separators."""
    if value is not None:
        value = float(value)
    return units.format_value(value, unit, units.SCREEN)


# What a KPI card of a workload metric shows, where its name alone could mislead.
METRIC_MEANINGS = {
    "latency_ns": (
        "latency",
        "The workload's latency as it records it (its kernels, not the host copies around them).",
    ),
    "utilisation": (
        "GEMM FLOP utilisation",
        "Achieved FLOP/s ÷ peak GEMM FLOP/s of the PEs used: the workload's compute "
        "utilisation. The PE heat map shows engine busy time ÷ makespan instead.",
    ),
    "efficiency": (
        "efficiency (bound ÷ latency)",
        "bound_ns ÷ latency_ns: how close the simulated latency comes to the first-principles "
        "bound computed from the topology alone (at most 100%).",
    ),
    "bound_ns": (
        "bound (first principles)",
        "Lower bound on latency computed from the topology's numbers alone.",
    ),
}


def metric_card(name: str, value: Any, unit: str | None) -> tuple[str, str, str | None]:
    """(label, shown value, help) of a KPI card for workload metric `name`; label and help
    are Markdown, as st.metric takes them."""
    label, meaning = METRIC_MEANINGS.get(name, (md_text(name), None))
    shown = format_value(value, unit)
    return label, shown, meaning if meaning else f"Metric {md_code(name)} ({md_text(unit)})."


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


def like_runs(runs: pd.DataFrame, run: pd.Series | dict) -> pd.DataFrame:
    """The ok runs of `runs` (data.runs rows, newest first) that are like `run`: the same
    workload, parameters and topology (by topology hash, so overrides count), other than
    `run` itself. Only such runs compare like for like."""
    same = (
        (runs["workload"] == run["workload"])
        & (runs["params"] == run["params"])
        & (runs["topology_hash"] == run["topology_hash"])
        & (runs["status"] == "ok")
        & (runs["run_id"] != run["run_id"])
    )
    return runs[same]


def previous_like_run(runs: pd.DataFrame, run: pd.Series | dict) -> str | None:
    """The newest ok run made before `run` with its workload, parameters and topology
    (see like_runs), or None when there is none."""
    like = like_runs(runs, run)
    earlier = like[like["run_id"] < run["run_id"]]
    return earlier["run_id"].iloc[0] if not earlier.empty else None


def is_like(header_a: dict, header_b: dict) -> bool:
    """Whether two runs (runs rows) compare like for like: same workload, parameters and
    topology hash."""
    return all(header_a[k] == header_b[k] for k in ("workload", "params", "topology_hash"))


def show_empty_store(store: Path) -> None:
    """Explain that the store holds no runs and how to make a first one."""
    where = "does not exist yet" if not store.exists() else "holds no runs yet"
    st.info(
        f"The run store {md_code(store)} {where}. Make a first run, then reload this page:"
        f"\n\n{md_code_block(f'kernbench run gemm --store {shlex.quote(str(store))}')}\n\n"
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


def _url_choice(
    key: str,
    param: str,
    options: Sequence[Any],
    resolve: Callable[[Sequence[Any], str], urlstate.Resolved],
    what: str,
) -> tuple[Any | None, str | None]:
    """The option query parameter `param` names, if the URL changed it from outside (a link,
    an edited or freshly opened URL) since widget `key` last wrote it; else None. Second:
    when the URL value named no option, a Markdown message naming it (the caller warns once
    it knows its fallback); `what` is Markdown too."""
    wanted = st.query_params.get(param)
    if wanted is None or wanted == st.session_state.get(f"kb_url_{key}"):
        return None, None
    resolved = resolve(options, wanted)
    if resolved.value is not None:
        return resolved.value, None
    return None, f"{what} {md_code(wanted)} from the link {md_text(resolved.problem)}"


def synced_selectbox(
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    param: str,
    default: Any = None,
    format_func: Callable[[Any], str] = str,
    help: str | None = None,
    resolve: Callable[[Sequence[Any], str], urlstate.Resolved] = urlstate.resolve_exact,
    what: str | None = None,
) -> Any:
    """A selectbox whose choice is mirrored in query parameter `param`, so a page opened
    with `?param=value` starts there and a copied URL reproduces the choice.

    Initial choice: the URL's value when the URL changed it from outside (resolved by
    `resolve`, e.g. urlstate.resolve_prefix for short hashes), else the widget's own last
    choice, else `default`, else the first option. A URL value that resolves to no option
    shows a warning naming it and what is shown instead (`what` names the choice there,
    in Markdown). Returns None without options.
    """
    options = list(options)
    if not options:
        st.query_params.pop(param, None)
        return None
    from_url, problem = _url_choice(key, param, options, resolve, what or param)
    current = st.session_state.get(key)
    initial = next(
        (c for c in (from_url, current, default) if c is not None and c in options), options[0]
    )
    if problem:
        st.warning(f"{problem}; showing {md_text(format_func(initial))} instead.")
    st.session_state[key] = initial
    choice = st.selectbox(label, options, key=key, format_func=format_func, help=help)
    st.query_params[param] = str(choice)
    st.session_state[f"kb_url_{key}"] = str(choice)
    return choice


def synced_checkbox(
    label: str, *, key: str, param: str, default: bool = False, help: str | None = None
) -> bool:
    """A checkbox mirrored in query parameter `param`: absent when it shows `default`,
    "1" when ticked and "0" when unticked otherwise, so a copied URL reproduces either."""
    wanted = st.query_params.get(param)
    if wanted != st.session_state.get(f"kb_url_{key}"):
        st.session_state[key] = default if wanted is None else wanted in ("1", "true", "yes")
    elif key not in st.session_state:
        st.session_state[key] = default
    ticked = st.checkbox(label, key=key, help=help)
    value = None if ticked == default else ("1" if ticked else "0")
    if value is None:
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = value
    st.session_state[f"kb_url_{key}"] = value
    return ticked


def synced_range(
    label: str,
    low: float,
    high: float,
    *,
    key: str,
    params: tuple[str, str],
    cast: Callable[[Any], Any] = float,
) -> tuple[Any, Any]:
    """A range slider over [low, high] mirrored in two query parameters (left out while
    the whole range is chosen). Values in the URL are clamped into the range; ones that
    are no numbers are warned about. Returns (low, high) unchanged when low == high."""
    low, high = cast(low), cast(high)
    if low >= high:
        return low, high
    wanted = tuple(st.query_params.get(p) for p in params)
    if any(w is not None for w in wanted) and wanted != st.session_state.get(f"kb_url_{key}"):
        try:
            first = cast(float(wanted[0])) if wanted[0] is not None else low
            last = cast(float(wanted[1])) if wanted[1] is not None else high
            st.session_state[key] = (max(low, min(first, last)), min(high, max(first, last)))
        except ValueError:
            st.warning(f"{label}: `{params[0]}`/`{params[1]}` from the link are not numbers "
                       f"({md_text(repr(wanted[0]))}, {md_text(repr(wanted[1]))}); showing the "
                       "whole range.")  # fmt: skip
            st.session_state[key] = (low, high)
    current = st.session_state.get(key)
    if not (isinstance(current, tuple | list) and len(current) == 2):
        current = (low, high)
    first, last = max(low, cast(current[0])), min(high, cast(current[1]))
    # One PE is a range; an empty time window is not.
    valid = first < last or (cast is int and first == last)
    st.session_state[key] = (first, last) if valid else (low, high)
    step = 1 if cast is int else (high - low) / 1000
    chosen = st.slider(label, low, high, key=key, step=step)
    if tuple(chosen) == (low, high):
        for p in params:
            st.query_params.pop(p, None)
        st.session_state[f"kb_url_{key}"] = (None, None)
    else:
        for p, v in zip(params, chosen, strict=True):
            st.query_params[p] = str(v)
        st.session_state[f"kb_url_{key}"] = tuple(str(v) for v in chosen)
    return tuple(chosen)


def ns_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """Column formats for st.dataframe: *_ns, *bytes* and count columns (also as a
    comparison's ``_a`` / ``_b`` pair) with thousands separators, utilisation and share
    columns as percentages."""
    config: dict[str, Any] = {}
    for name in frame.columns:
        base = name[:-2] if name.endswith(("_a", "_b")) else name
        if base.endswith(("_ns", "bytes", "gbs")) or base in ("n", "n_ops", "flops"):
            config[name] = st.column_config.NumberColumn(name, format="localized")
        elif "utilisation" in name or name.endswith("_share"):
            config[name] = st.column_config.NumberColumn(name, format="percent")
    return config


def number_table(frame: pd.DataFrame, key: str) -> None:
    """``frame`` as an index-free st.dataframe with :func:`ns_columns` formats."""
    st.dataframe(frame, hide_index=True, key=key, column_config=ns_columns(frame))


def synced_multiselect(
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    param: str,
    format_func: Callable[[Any], str] = str,
    resolve: Callable[[Sequence[Any], str], urlstate.Resolved] = urlstate.resolve_exact,
    what: str | None = None,
    container: Any = None,
    separator: str = urlstate.LIST_SEPARATOR,
) -> list[Any]:
    """A multiselect mirrored in query parameter `param` (values joined by `separator`),
    as synced_selectbox; values in the URL that resolve to no option are warned about."""
    options = list(options)
    place = container if container is not None else st
    wanted = st.query_params.get(param)
    if wanted is not None and wanted != st.session_state.get(f"kb_url_{key}"):
        chosen, unknown = [], []
        for value in urlstate.split_list(wanted, separator):
            resolved = resolve(options, value)
            if resolved.value is not None:
                chosen.append(resolved.value)
            else:
                problem = resolved.problem or "matches nothing here"
                unknown.append(f"{md_code(value)} {md_text(problem)}")
        if unknown:
            st.warning(
                f"{what or param} from the link left out of the filter: {'; '.join(unknown)}."
            )
        st.session_state[key] = [c for c in dict.fromkeys(chosen)]
    else:
        st.session_state[key] = [c for c in st.session_state.get(key, []) if c in options]
    choice = place.multiselect(label, options, key=key, format_func=format_func)
    text = separator.join(str(c) for c in choice)
    if text:
        st.query_params[param] = text
    else:
        st.query_params.pop(param, None)
    st.session_state[f"kb_url_{key}"] = text if text else None
    return choice


def pick_run(
    label: str,
    runs: pd.DataFrame,
    *,
    key: str,
    param: str,
    default: str | None = None,
    exclude: str | None = None,
) -> str | None:
    """A run picker (see synced_selectbox) over `runs` (data.runs rows), minus run
    `exclude`; returns a run id. The URL may name a run by a unique prefix of its id."""
    ids = [run_id for run_id in runs["run_id"] if run_id != exclude]
    labels = {row["run_id"]: run_label(row) for row in runs.to_dict("records")}
    return synced_selectbox(
        label,
        ids,
        key=key,
        param=param,
        default=default,
        format_func=lambda r: labels.get(r, r),
        resolve=urlstate.resolve_prefix,
        what=f"Run (`{param}`)" if exclude is None else f"Run (`{param}`, not the other run)",
    )


def resolve_params(options: Sequence[Any], wanted: str) -> urlstate.Resolved:
    """A params JSON from a URL as one of `options`, whatever its key order or spacing."""
    exact = urlstate.resolve_exact(options, wanted)
    if exact.value is not None:
        return exact
    try:
        return urlstate.resolve_exact(options, canonical_params(wanted))
    except (ValueError, TypeError):
        return urlstate.Resolved(None, "is not a JSON object of parameters")


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
        resolve=resolve_params,
        what=f"Parameter set of {md_text(workload)}",
    )
    return None if chosen == ANY_PARAMS else chosen


ANY_TOPOLOGY = "__any__"


def topology_labels(names: Sequence[Any], hashes: Sequence[Any]) -> dict[Any, str]:
    """A label per topology hash: its name, plus the short hash when another topology of
    that name is among them (e.g. `default` and `default` with `--set cube.hbm.bw_gbs=...`
    -> "default · 1a2b3c4d", "default · 5e6f7a8b")."""
    pairs = dict(zip(hashes, names, strict=True))
    counts = pd.Series(list(pairs.values()), dtype=object).value_counts()
    return {h: f"{n} · {str(h)[:8]}" if counts.get(n, 0) > 1 else str(n) for h, n in pairs.items()}


def pick_topology(runs: pd.DataFrame, *, key: str) -> str | None:
    """A topology picker over `runs` (data.runs rows) by topology hash (query parameter
    `topology`, a unique hash prefix resolves); returns the hash, or None for "any
    topology". Default: any when the runs have one topology, else the newest run's."""
    hashes = list(dict.fromkeys(runs["topology_hash"].dropna()))
    labels = {ANY_TOPOLOGY: "any topology"} | topology_labels(
        [runs.loc[runs["topology_hash"] == h, "topology"].iloc[0] for h in hashes], hashes
    )
    chosen = synced_selectbox(
        "Topology",
        list(labels),
        key=key,
        param="topology",
        default=hashes[0] if len(hashes) > 1 else ANY_TOPOLOGY,
        format_func=labels.get,
        resolve=urlstate.resolve_prefix,
        what="Topology (hash)",
        help="Runs of one topology: name and hash, so a `--set` override is another topology.",
    )
    return None if chosen == ANY_TOPOLOGY else chosen
