"""Every dashboard page under streamlit's AppTest, on a store of real simulator runs.

Numbers on screen are checked against DuckDB queries written here, straight over the
store's Parquet files (not through traces.queries)."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dashboard_fixtures import APP, LOOKALIKE_ERROR, FixtureStore, fixture_store, lookalike_store
from streamlit.testing.v1 import AppTest

PAGE_RUN = "app_pages/run.py"
PAGE_COMPARE = "app_pages/compare.py"
PAGE_TRENDS = "app_pages/trends.py"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return fixture_store(tmp_path_factory)


@pytest.fixture
def app(store: FixtureStore, monkeypatch: pytest.MonkeyPatch):
    """A factory of AppTests of the dashboard reading the fixture store via $KERNBENCH_STORE."""
    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))

    def make(page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.run()
        if page is not None:
            at.query_params.update(query)
            at.switch_page(page).run()
        _no_exception(at)
        return at

    return make


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _duck(root: Path, query: str, params: list | None = None) -> pd.DataFrame:
    """`query` over views of the store's Parquet files made here, independently of traces."""
    con = duckdb.connect()
    for table in ("runs", "metrics", "launches", "pe_exec", "ops", "dma", "collective_rounds"):
        files = str(root / table / "*" / "*.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}')")
    return con.execute(query, params or []).df()


def _human_ns(value_ns: float) -> str:
    """A time as the dashboard shows it: 4 significant digits in ns, µs, ms or s."""
    scale, unit = next(
        ((f, u) for f, u in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")) if value_ns >= f), (1, "ns")
    )
    digits = 3 - len(str(int(value_ns / scale))) + 1
    return f"{value_ns / scale:,.{max(0, digits)}f} {unit}"


def _view(at: AppTest, tab: str) -> None:
    """Open a tab of the Run page (only the open tab's sections run), as `?view=` does."""
    at.query_params["view"] = tab
    at.run()
    _no_exception(at)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _dataframe(at: AppTest, column: str) -> pd.DataFrame:
    """The data of the one st.dataframe on the page that has `column`."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} dataframes have a column {column!r}"
    return found[0]


def test_empty_store_says_how_to_make_a_first_run(tmp_path: Path, monkeypatch) -> None:
    """An empty store shows the commands that make a first run, on every page; the run
    command names the store as a shell reads it, spaces and all."""
    store = tmp_path / "nothing here"
    monkeypatch.setenv("KERNBENCH_STORE", str(store))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    for page in (None, PAGE_RUN, PAGE_COMPARE, PAGE_TRENDS):
        if page is not None:
            at.switch_page(page).run()
        _no_exception(at)
        text = "\n".join(i.value for i in at.info)
        assert "make demo" in text
        (command,) = [line for line in text.splitlines() if line.startswith("kernbench run")]
        assert shlex.split(command) == ["kernbench", "run", "gemm", "--store", str(store)]


def test_sidebar_store_comes_from_the_environment_and_can_change(app, store, tmp_path) -> None:
    """The sidebar shows the store from $KERNBENCH_STORE; typing another one switches to it."""
    at = app()
    assert at.sidebar.text_input[0].value == str(store.root)
    at.sidebar.text_input[0].set_value(str(tmp_path)).run()
    _no_exception(at)
    assert "holds no runs yet" in " ".join(i.value for i in at.info)


def test_runs_page_lists_every_run_with_its_numbers(app, store) -> None:
    """The Runs table holds every run with the sim_end_ns and status DuckDB reads."""
    at = app()
    shown = _dataframe(at, "key metrics").set_index("run_id")
    expected = _duck(store.root, "SELECT run_id, status, sim_end_ns FROM runs").set_index("run_id")
    assert sorted(shown.index) == sorted(expected.index)
    for run_id, row in expected.iterrows():
        assert shown.loc[run_id, "status"] == row["status"]
        assert shown.loc[run_id, "sim_end_ns"] == pytest.approx(row["sim_end_ns"])


def test_runs_page_filters_by_workload_and_status(app, store) -> None:
    """Filtering keeps exactly the runs of the chosen workload, then status."""
    at = app()
    at.multiselect(key="runs_workload").set_value(["dma_sweep"]).run()
    shown = _dataframe(at, "key metrics")
    expected = _duck(store.root, "SELECT run_id FROM runs WHERE workload = 'dma_sweep'")
    assert sorted(shown["run_id"]) == sorted(expected["run_id"])
    at.multiselect(key="runs_status").set_value(["failed"]).run()
    assert list(_dataframe(at, "key metrics")["run_id"]) == [store.failed_run]


def test_opening_a_run_from_runs_shows_its_kpis_and_tables(app, store) -> None:
    """Picking a run on Runs opens Run with KPIs, launches and per-PE numbers from DuckDB."""
    run_id = store.runs[(store.commits[1], "gemm")]
    at = app()
    at.selectbox(key="runs_pick").set_value(run_id)
    at.button(key="runs_open").click().run()
    _no_exception(at)
    assert at.query_params["run"] == [run_id] or at.query_params["run"] == run_id
    assert at.title[0].value == "Run"
    header = _duck(store.root, "SELECT * FROM runs WHERE run_id = ?", [run_id]).iloc[0]
    metrics = _duck(store.root, "SELECT name, value FROM metrics WHERE run_id = ?", [run_id])
    values = dict(zip(metrics["name"], metrics["value"], strict=True))
    assert _metric(at, "simulated time (whole run)") == _human_ns(header["sim_end_ns"])
    assert _metric(at, "latency") == _human_ns(values["latency_ns"])
    assert at.metric[0].label == "latency"  # the workload's latency comes first
    assert _metric(at, "tflops") == f"{values['tflops']:,.4g} TFLOP/s"
    assert _metric(at, r"kernel\_ns") == _human_ns(values["kernel_ns"])  # labels are Markdown
    assert _metric(at, "GEMM FLOP utilisation") == f"{values['utilisation']:.2%}"
    ops = _duck(
        store.root,
        "SELECT count(*) AS n, max(pe_global) AS last FROM ops WHERE run_id = ?",
        [run_id],
    )
    captions = " ".join(c.value for c in at.caption)  # the Timeline tab opens first
    assert f"All {ops['n'][0]:,} ops of PEs 0–{ops['last'][0]} over the whole" in captions

    _view(at, "All metrics")
    all_metrics = _dataframe(at, "unit").set_index("name")["value"]
    assert all_metrics.to_dict() == pytest.approx(values)

    launches = _duck(
        store.root,
        "SELECT launch_id, end_ns - host_issue_ns AS latency_ns FROM launches WHERE run_id = ?",
        [run_id],
    )
    _view(at, "Launches")
    spread = _dataframe(at, "dispatch_spread_ns")
    assert list(spread["launch_id"]) == list(launches["launch_id"])
    assert list(spread["latency_ns"]) == pytest.approx(list(launches["latency_ns"]))

    pe_count = _duck(
        store.root, "SELECT count(DISTINCT pe_global) AS n FROM pe_exec WHERE run_id = ?", [run_id]
    )
    _view(at, "PEs")
    at.toggle(key="run_pe_numbers").set_value(True).run()
    assert len(_dataframe(at, "makespan_ns")) == pe_count["n"][0]
    n_pes = json.loads(header["params"])["num_pes"] or pe_count["n"][0]
    assert len(_dataframe(at, "makespan_ns")) == n_pes

    _view(at, "DMA and collectives")
    assert "no collectives in this run" in " ".join(i.value for i in at.info).lower()


def test_run_page_timeline_follows_the_pe_range(app, store) -> None:
    """Narrowing the timeline's PE range shows the op count of that range."""
    run_id = store.runs[(store.commits[0], "gemm")]
    at = app(PAGE_RUN, run=run_id)
    at.slider(key="run_timeline_pes").set_value((5, 5)).run()
    _no_exception(at)
    ops = _duck(
        store.root, "SELECT count(*) AS n FROM ops WHERE run_id = ? AND pe_global = 5", [run_id]
    )
    assert f"All {ops['n'][0]:,} ops of PEs 5–5" in " ".join(c.value for c in at.caption)


def test_failed_run_shows_its_error(app, store) -> None:
    """A failed run says so and shows its recorded error text verbatim, not an exception."""
    at = app(PAGE_RUN, run=store.failed_run)
    error = _duck(store.root, "SELECT error FROM runs WHERE run_id = ?", [store.failed_run])
    assert any("failed" in e.value for e in at.error)
    assert [c.value for c in at.code] == [error["error"][0]]


def _markdown_texts(at: AppTest) -> list[str]:
    """The Markdown sources of every element that renders Markdown, metric labels too."""
    elements = [*at.title, *at.markdown, *at.caption, *at.error, *at.warning, *at.info]
    return [e.value for e in elements] + [m.label for m in at.metric]


def test_run_page_shows_names_messages_and_errors_as_text(tmp_path: Path, monkeypatch) -> None:
    """The Run page of a failed run whose workload, params, branch, commit message and
    error look like Markdown: the header escapes every ASCII punctuation character of
    them, so each reads as itself; the error is shown verbatim as code, not as Markdown."""
    _, failed = lookalike_store(tmp_path / "store")
    monkeypatch.setenv("KERNBENCH_STORE", str(tmp_path / "store"))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.query_params.update(run=failed)
    at.switch_page(PAGE_RUN).run()
    _no_exception(at)
    caption = next(c.value for c in at.caption if "topology" in c.value)  # the header
    assert r"**my\_\_kernel\_\_\[b\]** shape\=\[2\]\*3 · topology **synthetic**" in caption
    message = r"fix \_\_init\_\_ for \*args\* \(\$x\$\, \:red\[r\] \:smile\:\)"
    assert f"commit c0ffee00 ({message}) on feat\\/\\*wip\\*" in caption
    # An unescaped `:word:` anywhere (a time's ":08:") has Streamlit replace emoji
    # shortcodes in all of the caption's text, the escaped ":smile:" too.
    assert not re.search(r"(?<!\\):\w+:", caption)
    assert [c.value for c in at.code] == [LOOKALIKE_ERROR]
    assert at.code[0].proto.wrap_lines
    assert any("This run failed" in e.value for e in at.error)
    assert not [text for text in _markdown_texts(at) if "__" in text or "*args*" in text]


def test_compare_shows_names_messages_and_errors_as_text(tmp_path: Path, monkeypatch) -> None:
    """Compare of the same two runs: each run's line and the unlike-runs warning escape
    the names and messages; the failed run's error is shown verbatim as code."""
    ok, failed = lookalike_store(tmp_path / "store")
    monkeypatch.setenv("KERNBENCH_STORE", str(tmp_path / "store"))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.query_params.update(mode="runs", a=ok, b=failed)
    at.switch_page(PAGE_COMPARE).run()
    _no_exception(at)
    lines = " ".join(m.value for m in at.markdown)
    assert r"k\*2\* n\_pes\=4 tiles\=4 · synthetic · commit c0ffee00 \[x\]\(http\:\/\/y\)" in lines
    assert r"my\_\_kernel\_\_\[b\] shape\=\[2\]\*3" in lines
    warnings = " ".join(w.value for w in at.warning)
    assert r"different workloads \(k\*2\* → my\_\_kernel\_\_\[b\]\)" in warnings
    assert [c.value for c in at.code] == [LOOKALIKE_ERROR]
    assert not [text for text in _markdown_texts(at) if "__" in text or "*args*" in text]


def test_a_link_value_is_named_in_one_code_span(app, store) -> None:
    """A run id from the URL with backticks and a link in it is named in one code span
    (a longer fence, padded), so the warning shows it as is and links nowhere."""
    at = app(PAGE_RUN, run="x`[y](http://z)`")
    assert any("`` x`[y](http://z)` `` from the link" in w.value for w in at.warning)


def test_unknown_run_warns_and_shows_another(app, store) -> None:
    """A run id that is not in the store gives a warning naming it, then the newest ok run."""
    at = app(PAGE_RUN, run="no-such-run")
    assert any("no-such-run" in w.value for w in at.warning)
    newest_ok = _duck(store.root, "SELECT max(run_id) AS r FROM runs WHERE status = 'ok'")
    assert at.selectbox(key="run_pick").value == newest_ok["r"][0]


def test_run_page_shows_collective_rounds_with_the_slowest_rank(app, store) -> None:
    """A run with a collective lists each round and its slowest rank, as DuckDB finds them."""
    at = app(PAGE_RUN, run=store.collective_run, view="DMA and collectives")
    rounds = _dataframe(at, "slowest_rank").set_index(["coll_id", "round"])
    expected = _duck(
        store.root,
        """SELECT coll_id, round, max(end_ns - start_ns) AS slowest_ns,
                  arg_min(rank, (-(end_ns - start_ns), rank)) AS slowest_rank
           FROM collective_rounds WHERE run_id = ? GROUP BY coll_id, round""",
        [store.collective_run],
    ).set_index(["coll_id", "round"])
    assert sorted(rounds.index) == sorted(expected.index)
    for key, row in expected.iterrows():
        assert rounds.loc[key, "slowest_ns"] == pytest.approx(row["slowest_ns"])
        assert rounds.loc[key, "slowest_rank"] == row["slowest_rank"]


def _expected_deltas(root: Path, run_a: str, run_b: str) -> pd.DataFrame:
    return _duck(
        root,
        """SELECT a.name, a.value AS a, b.value AS b
           FROM (SELECT * FROM metrics WHERE run_id = ?) a
           JOIN (SELECT * FROM metrics WHERE run_id = ?) b ON a.name = b.name""",
        [run_a, run_b],
    ).set_index("name")


def _check_metric_table(at: AppTest, expected: pd.DataFrame) -> pd.DataFrame:
    """The metric table holds a and b as DuckDB reads them, and shows each in its own
    unit for people (the styler's display values: traces.units in the SCREEN notation)."""
    import pyarrow as pa

    from traces import units

    table = next(d for d in at.dataframe if "verdict" in d.value.columns)
    shown = table.value.set_index("name")
    assert sorted(shown.index) == sorted(expected.index)
    styler = table.proto.arrow_data.styler
    displayed = pa.ipc.open_stream(styler.display_values).read_all().to_pandas()
    displayed = displayed.set_index(table.value["name"])
    for name, row in expected.iterrows():
        assert shown.loc[name, "a"] == pytest.approx(row["a"])
        assert shown.loc[name, "b"] == pytest.approx(row["b"])
        unit = shown.loc[name, "unit"]
        for side in ("a", "b"):
            human = units.format_value(float(row[side]), unit, units.SCREEN)
            assert displayed.loc[name, side] == human, (name, side)
    return shown


def _chart_colours(at: AppTest, key: str) -> set[str]:
    """Every marker colour of the plotly chart with widget key `key`."""
    found = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert len(found) == 1, f"{len(found)} charts with key {key}"
    colours: set[str] = set()
    for trace in json.loads(found[0].proto.spec)["data"]:
        colour = trace.get("marker", {}).get("color")
        colours |= set(colour) if isinstance(colour, list) else {colour}
    return colours - {None}


def test_compare_unlike_runs_judges_only_when_asked(app, store) -> None:
    """gemm at block_k=128 (a) and 64 (b) differ in parameters: values match DuckDB, the
    changes carry no regression colour until the user asks; then slower kernel_ns and
    lower tflops are regressions."""
    from dashboard.figures import VERDICT_COLORS

    run_a = store.runs[(store.commits[0], "gemm")]
    run_b = store.runs[(store.commits[1], "gemm")]
    at = app(PAGE_COMPARE, mode="runs", a=run_a, b=run_b)
    expected = _expected_deltas(store.root, run_a, run_b)
    shown = _check_metric_table(at, expected)
    kernel, tflops = expected.loc["kernel_ns"], expected.loc["tflops"]
    assert kernel["b"] > kernel["a"] and tflops["b"] < tflops["a"]  # the fixture's premise
    assert any(r"block\_k\: 128 → 64" in w.value for w in at.warning)  # Markdown
    assert not shown["verdict"].isin(["regressed", "improved"]).any()
    assert shown.loc["kernel_ns", "verdict"] == "changed"
    assert "regressions" not in [m.label for m in at.metric]
    assert _chart_colours(at, "compare_metric_chart") == {VERDICT_COLORS["changed"]}

    at.checkbox(key="compare_verdicts").check().run()
    _no_exception(at)
    shown = _check_metric_table(at, expected)
    assert shown.loc["kernel_ns", "verdict"] == "regressed"
    assert shown.loc["tflops", "verdict"] == "regressed"
    assert shown.loc["n_pes", "verdict"] == "same"
    n_regressions = (shown["verdict"] == "regressed").sum()
    assert _metric(at, "regressions") == str(n_regressions)
    assert VERDICT_COLORS["regressed"] in _chart_colours(at, "compare_metric_chart")
    assert at.query_params["judge"] in (["1"], "1")

    engines = _dataframe(at, "n_ops_a").set_index("engine")
    busy = _duck(
        store.root,
        "SELECT run_id, engine, count(*) AS n FROM ops WHERE run_id IN (?, ?) GROUP BY ALL",
        [run_a, run_b],
    )
    for row in busy.itertuples():
        side = "a" if row.run_id == run_a else "b"
        assert engines.loc[row.engine, f"n_ops_{side}"] == row.n


def test_compare_two_commits_uses_the_newest_runs_there(app, store) -> None:
    """Commits mode picks each commit's run: same params give zero deltas, gemm's move."""
    commit_a, commit_b = store.commits
    at = app(PAGE_COMPARE, mode="commits", commit_a=commit_a, commit_b=commit_b)
    at.selectbox(key="compare_workload").set_value("gemm_single_pe").run()
    _no_exception(at)
    run_a = store.runs[(commit_a, "gemm_single_pe")]
    run_b = store.runs[(commit_b, "gemm_single_pe")]
    shown = _check_metric_table(at, _expected_deltas(store.root, run_a, run_b))
    assert (shown["verdict"] == "same").all()  # same code, same params: deterministic

    at.selectbox(key="compare_workload").set_value("gemm").run()
    assert at.selectbox(key="compare_commit_a").value == commit_a
    assert at.selectbox(key="compare_commit_b").value == commit_b
    _no_exception(at)
    run_a, run_b = store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")]
    shown = _check_metric_table(at, _expected_deltas(store.root, run_a, run_b))
    # Any parameter set: block_k differs between the two runs, so changes are not judged.
    assert shown.loc["kernel_ns", "verdict"] == "changed"
    assert any(r"block\_k" in w.value for w in at.warning)


def test_trends_shows_history_and_opens_compare(app, store) -> None:
    """Trends plots kernel_ns per commit as DuckDB has it, marks the step, and its Compare
    button opens the commit against the one before."""
    commit_a, commit_b = store.commits
    at = app(PAGE_TRENDS)
    at.selectbox(key="trends_workload").set_value("gemm").run()
    at.selectbox(key="trends_metric").set_value("kernel_ns").run()
    _no_exception(at)
    history = _dataframe(at, "commit_message")
    expected = _duck(
        store.root,
        """SELECT r.git_commit, m.value FROM runs r JOIN metrics m USING (run_id)
           WHERE r.workload = 'gemm' AND m.name = 'kernel_ns' ORDER BY r.run_id""",
    )
    assert list(history["commit"]) == list(expected["git_commit"]) == [commit_a, commit_b]
    assert list(history["value"]) == pytest.approx(list(expected["value"]))
    steps = _dataframe(at, "change_pct")
    change = 100 * (expected["value"][1] - expected["value"][0]) / expected["value"][0]
    assert math.isclose(steps["change_pct"][0], change, rel_tol=1e-9)

    at.selectbox(key="trends_pick").set_value(commit_b)
    at.button(key="trends_compare").click().run()
    _no_exception(at)
    assert at.title[0].value == "Compare"
    assert at.selectbox(key="compare_commit_a").value == commit_a
    assert at.selectbox(key="compare_commit_b").value == commit_b
    run_a, run_b = store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")]
    _check_metric_table(at, _expected_deltas(store.root, run_a, run_b))


def test_trends_shows_asv_results_of_a_benchmark(app, tmp_path, monkeypatch) -> None:
    """The Trends page's asv view plots a benchmark's values per commit, as asv wrote them."""
    from asv_fixtures import COMMITS, NOOP, write_asv_results

    monkeypatch.setenv("KERNBENCH_ASV_RESULTS", str(write_asv_results(tmp_path)))
    at = app(PAGE_TRENDS)
    at.radio(key="trends_source").set_value("simulator speed (asv results)").run()
    _no_exception(at)
    at.selectbox(key="trends_asv_benchmark").set_value("bench_simulator.Launch.time_noop").run()
    at.selectbox(key="trends_asv_params").set_value("topology='default', launches=8").run()
    _no_exception(at)
    shown = _dataframe(at, "machine")
    assert list(shown["commit"]) == list(COMMITS)
    assert list(shown["value"]) == pytest.approx([NOOP[0][1], NOOP[1][1]])
    assert len(at.get("plotly_chart")) == 1


def test_run_page_shows_communication_per_pe(app, store) -> None:
    """For a collective run, each PE's communication time is the union of its collective
    ops' intervals (merged here in Python), all of it exposed (no compute beside it)."""
    at = app(PAGE_RUN, run=store.collective_run, view="DMA and collectives")
    shown = _dataframe(at, "exposed_comm_ns").set_index("pe_global")
    ops = _duck(
        store.root,
        """SELECT o.pe_global, o.start_ns, o.end_ns FROM ops o JOIN launches l
             ON l.run_id = o.run_id AND l.launch_id = o.launch_id
           WHERE o.run_id = ? AND l.coll_id IS NOT NULL ORDER BY o.pe_global, o.start_ns""",
        [store.collective_run],
    )
    for pe, rows in ops.groupby("pe_global"):
        union, reach = 0.0, float("-inf")
        for start, end in zip(rows["start_ns"], rows["end_ns"], strict=True):
            union += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        assert shown.loc[pe, "comm_ns"] == pytest.approx(union)
        assert shown.loc[pe, "exposed_comm_ns"] == pytest.approx(union)
    assert any("exposed" in c.value and "100%" in c.value for c in at.caption)


def test_compare_never_compares_a_run_with_itself(app, store) -> None:
    """A link naming the same run as a and b shows a warning and another baseline; the
    baseline picker does not offer b; a store of one run says two are needed."""
    run_b = store.runs[(store.commits[1], "gemm_single_pe")]
    at = app(PAGE_COMPARE, mode="runs", a=run_b, b=run_b)
    assert at.selectbox(key="compare_b").value == run_b
    assert at.selectbox(key="compare_a").value != run_b
    assert run_b not in at.selectbox(key="compare_a").options
    assert any(run_b in w.value for w in at.warning)
    # The default baseline is the previous run like b (same workload, params, topology).
    assert at.selectbox(key="compare_a").value == store.runs[(store.commits[0], "gemm_single_pe")]


def test_compare_opened_bare_never_compares_a_run_with_itself(app, store) -> None:
    """Compare opened without parameters shows two different runs."""
    at = app(PAGE_COMPARE)
    assert at.selectbox(key="compare_a").value != at.selectbox(key="compare_b").value


def test_compare_needs_two_runs(app, store, tmp_path, monkeypatch) -> None:
    """A store with a single run explains that Compare needs two."""
    from simulator.runner import run_workload

    one = tmp_path / "one_run"
    assert run_workload("noop", {}, store=one).status == "ok"
    at = app()
    at.sidebar.text_input[0].set_value(str(one)).run()
    at.switch_page(PAGE_COMPARE).run()
    _no_exception(at)
    assert any("two different runs" in i.value for i in at.info)


def test_previous_run_has_the_same_parameters(app, store) -> None:
    """Run's compare button takes the previous run with the same workload, parameters and
    topology, skipping a newer noop with other parameters; it is disabled without one."""
    noop_a, noop_b = (store.runs[(c, "noop")] for c in store.commits)
    runs = _duck(store.root, "SELECT run_id, params FROM runs WHERE workload = 'noop'")
    newest_earlier = runs[runs["run_id"] < noop_b]["run_id"].max()
    assert newest_earlier == store.other_params_run != noop_a  # the fixture's premise
    at = app(PAGE_RUN, run=noop_b)
    at.button(key="run_compare").click().run()
    _no_exception(at)
    assert at.title[0].value == "Compare"
    assert at.selectbox(key="compare_a").value == noop_a
    assert at.selectbox(key="compare_b").value == noop_b
    assert not any("Not a like-for-like" in w.value for w in at.warning)

    # gemm at commit b has other parameters than at commit a: no counterpart.
    at = app(PAGE_RUN, run=store.runs[(store.commits[1], "gemm")])
    assert at.button(key="run_compare").disabled


def test_compare_with_a_failed_run_says_it_failed(app, store) -> None:
    """Against a failed run Compare says so, judges nothing and never says "no change"."""
    ok_run = store.runs[(store.commits[1], "dma_sweep")]
    at = app(PAGE_COMPARE, mode="runs", a=ok_run, b=store.failed_run)
    error = _duck(store.root, "SELECT error FROM runs WHERE run_id = ?", [store.failed_run])
    assert any("Run b failed" in e.value for e in at.error)
    assert [c.value for c in at.code] == [error["error"][0]]
    assert _metric(at, "status") == "run b failed"
    shown = _dataframe(at, "verdict")
    assert (shown["verdict"] == "run b failed").all()
    text = " ".join(str(e.value) for e in [*at.info, *at.caption, *at.markdown])
    assert "no metric changed" not in text.lower()
    assert "regressions" not in [m.label for m in at.metric]


def test_compare_marks_pes_used_by_one_run_only(app, store) -> None:
    """Comparing gemm_single_pe (1 PE) with gemm (all PEs) marks every other PE "b only"."""
    run_a = store.runs[(store.commits[1], "gemm_single_pe")]
    run_b = store.runs[(store.commits[1], "gemm")]
    at = app(PAGE_COMPARE, mode="runs", a=run_a, b=run_b)
    used = _duck(
        store.root,
        "SELECT run_id, count(DISTINCT pe_global) AS n FROM pe_exec WHERE run_id IN (?, ?)"
        " GROUP BY run_id",
        [run_a, run_b],
    ).set_index("run_id")["n"]
    only_b = used[run_b] - used[run_a]
    assert only_b > 0
    assert any(f"by run b only: {only_b}" in c.value for c in at.caption)
    chart = next(c for c in at.get("plotly_chart") if "compare_pe_chart" in c.proto.id)
    layers = json.loads(chart.proto.spec)["data"]
    one_sided = [t for t in layers if t.get("name") == "used by one run only"]
    assert len(one_sided) == 1
    labels = [v for row in one_sided[0]["text"] for v in row if v]
    assert labels.count("b only") == only_b and "a only" not in labels
    # Every ns column of the per-PE, engine and launch tables has thousands separators.
    tables = {
        marker: next(d for d in at.dataframe if marker in d.value.columns)
        for marker in ("delta_busy_ns", "n_ops_a", "latency_ns_a")
    }
    for marker, table in tables.items():
        config = json.loads(table.proto.columns)
        ns_names = [name for name in table.value.columns if "_ns" in name]
        assert marker in ns_names or marker == "n_ops_a"
        for name in ns_names:
            assert "localized" in json.dumps(config.get(name)), (marker, name, config)


def test_short_commit_hashes_and_run_prefixes_in_the_url_resolve(app, store) -> None:
    """commit_a/commit_b given as 8-character hashes, and a run id prefix, open the runs
    they name."""
    commit_a, commit_b = store.commits
    at = app(PAGE_COMPARE, mode="commits", workload="gemm_single_pe", commit_a=commit_a[:8],
             commit_b=commit_b[:8])  # fmt: skip
    assert at.selectbox(key="compare_commit_a").value == commit_a
    assert at.selectbox(key="compare_commit_b").value == commit_b
    assert not at.warning
    run_id = store.collective_run
    prefix = run_id[: len(run_id) - 2]
    ids = _duck(store.root, "SELECT run_id FROM runs")["run_id"]
    assert sum(i.startswith(prefix) for i in ids) == 1  # the premise: the prefix is unique
    at = app(PAGE_RUN, run=prefix)
    assert at.selectbox(key="run_pick").value == run_id
    assert not at.warning


def test_unknown_values_in_the_url_are_warned_about(app, store) -> None:
    """An unknown workload or metric in the URL is named in a warning, never replaced
    silently."""
    at = app(PAGE_TRENDS, workload="no_such_workload", metric="no_such_metric")
    warnings = " ".join(w.value for w in at.warning)
    assert "no_such_workload" in warnings and "no_such_metric" in warnings


def test_links_carry_the_chosen_store(app, store, tmp_path) -> None:
    """A store named in the URL is the one every page reads, and links keep it."""
    import shutil

    other = tmp_path / "other_store"
    shutil.copytree(store.root, other)
    run_id = store.runs[(store.commits[1], "gemm_single_pe")]
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params["store"] = str(other)
    at.run()
    _no_exception(at)
    assert at.sidebar.text_input[0].value == str(other)
    at.selectbox(key="runs_pick").set_value(run_id)
    at.button(key="runs_open").click().run()
    _no_exception(at)
    assert at.title[0].value == "Run"
    assert at.query_params["store"] in ([str(other)], str(other))
    assert at.sidebar.text_input[0].value == str(other)


def test_heat_map_says_which_utilisation_it_shows(app, store) -> None:
    """The heat map shows "any engine" or one engine's busy time ÷ makespan, says which in
    its title, and its cells are that ratio as computed here from the ops."""
    run_id = store.runs[(store.commits[1], "gemm")]
    at = app(PAGE_RUN, run=run_id, util="GEMM", view="PEs")
    chart = next(c for c in at.get("plotly_chart") if "run_mesh_chart" in c.proto.id)
    spec = json.loads(chart.proto.spec)
    assert "utilisation of GEMM (busy time ÷ makespan" in spec["layout"]["title"]["text"]
    expected = _duck(
        store.root,
        """WITH o AS (SELECT pe_global, start_ns, end_ns,
                             max(end_ns) OVER (PARTITION BY pe_global ORDER BY start_ns, end_ns
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
                      FROM ops WHERE run_id = ? AND engine = 'GEMM'),
                span AS (SELECT min(exec_start_ns) AS s, max(exec_end_ns) AS e
                         FROM pe_exec WHERE run_id = ?)
           SELECT pe_global, sum(greatest(0, end_ns - greatest(start_ns, coalesce(reach,
                  start_ns)))) / any_value(span.e - span.s) AS u
           FROM o CROSS JOIN span GROUP BY pe_global""",
        [run_id, run_id],
    )
    values = sorted(v for row in spec["data"][1]["z"] for v in row if v is not None)
    assert values == pytest.approx(sorted(expected["u"]))
    assert max(values) < 1.0  # GEMM alone is not busy all the time; "any engine" can be


def test_overview_lists_change_points_biggest_first(tmp_path: Path, monkeypatch) -> None:
    """Four commits of a synthetic workload whose tiles take twice as long from the third
    on: the overview finds the step at the third commit for the metrics that moved, with
    the before/after values the store holds, sorted by size of change."""
    import datetime
    from urllib.parse import parse_qs, urlsplit

    from traces import units
    from traces.store import Store
    from traces.synthetic import write_synthetic_run

    store = Store(tmp_path / "history")
    commits = [f"{i:x}" * 40 for i in range(10, 14)]
    for i, commit in enumerate(commits):
        when = datetime.datetime(2026, 1, 1 + i, tzinfo=datetime.UTC)
        git = {"git_commit": commit, "commit_time": when, "commit_message": f"change {i}"}
        write_synthetic_run(store, git=git, tile_ns_scale=1.0 if i < 2 else 2.0, seed=1)
    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.switch_page("app_pages/overview.py").run()
    _no_exception(at)
    shown = _dataframe(at, "change_pct")
    values = _duck(
        store.root,
        """SELECT m.name, r.git_commit, m.value FROM metrics m JOIN runs r USING (run_id)
           ORDER BY r.commit_time""",
    )
    run_at = list(_duck(store.root, "SELECT run_id FROM runs ORDER BY commit_time")["run_id"])
    moved = {
        name: (rows["value"].iloc[1], rows["value"].iloc[2])
        for name, rows in values.groupby("name")
        if rows["value"].iloc[1] != rows["value"].iloc[2]
    }
    assert moved  # the fixture's premise: some metric steps at the third commit
    biggest = max(moved, key=lambda n: abs(moved[n][1] - moved[n][0]) / abs(moved[n][0]))
    assert biggest in set(shown["metric"]) <= set(moved)
    assert shown["metric"].iloc[0] == biggest
    for row in shown.to_dict("records"):
        before, after = moved[row["metric"]]
        assert row["before"] == pytest.approx(before) and row["after"] == pytest.approx(after)
        assert row["at commit"] == commits[2][:8]
        assert row["change_pct"] == pytest.approx(100 * (after - before) / abs(before))
        # Why it moved: Compare of the run before the step and the run at it, waterfall first.
        why = parse_qs(urlsplit(row["why"]).query)
        assert (why["a"], why["b"], why["focus"]) == ([run_at[1]], [run_at[2]], ["path"])
        assert row["change"] == (
            f"{units.format_value(before, row['unit'], units.SCREEN)} → "
            f"{units.format_value(after, row['unit'], units.SCREEN)}"
        )
    sizes = list(shown["change_pct"].abs())
    assert sizes == sorted(sizes, reverse=True)


def _chart_spec(at: AppTest, key: str) -> dict:
    found = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert len(found) == 1, f"{len(found)} charts with key {key}"
    return json.loads(found[0].proto.spec)


def test_trends_overlays_metrics_with_log_axis_and_commit_labels(app, store) -> None:
    """gemm_single_pe's kernel_ns with tflops overlaid: both lines, each relative to its
    first value (units differ); scale=log makes the axis logarithmic; the commit axis
    names each commit's hash and subject."""
    at = app(PAGE_TRENDS, workload="gemm_single_pe", metric="kernel_ns", also="tflops",
             scale="log")  # fmt: skip
    spec = _chart_spec(at, "trends_overlay_chart")
    names = [t["name"] for t in spec["data"]]
    assert names == ["kernel_ns", "tflops"]
    for trace in spec["data"]:
        assert trace["y"][0] == pytest.approx(100.0)  # relative to its first value
    assert spec["layout"]["yaxis"]["type"] == "log"
    main = _chart_spec(at, "trends_chart")
    assert main["layout"]["yaxis"]["type"] == "log"
    ticks = main["layout"]["xaxis"]["ticktext"]
    messages = _duck(
        store.root,
        "SELECT DISTINCT git_commit, commit_message FROM runs WHERE workload = 'gemm_single_pe'",
    )
    for commit, message in zip(messages["git_commit"], messages["commit_message"], strict=True):
        tick = next(t for t in ticks if t.startswith(commit[:8]))
        if isinstance(message, str) and message:
            assert message[:10] in tick


def test_trends_shows_wall_time_from_the_store_without_asv_results(
    app, store, tmp_path, monkeypatch
) -> None:
    """With no asv results, the simulator-speed view plots runs.wall_s per commit."""
    monkeypatch.setenv("KERNBENCH_ASV_RESULTS", str(tmp_path / "no_asv"))
    at = app(PAGE_TRENDS)
    at.radio(key="trends_source").set_value("simulator speed (asv results)").run()
    at.selectbox(key="trends_wall_workload").set_value("gemm_single_pe").run()
    _no_exception(at)
    shown = _dataframe(at, "run_id")
    expected = _duck(
        store.root,
        """SELECT git_commit, wall_s FROM runs
           WHERE workload = 'gemm_single_pe' AND status = 'ok' ORDER BY run_id""",
    )
    assert list(shown["commit"]) == list(expected["git_commit"])
    assert list(shown["value"]) == pytest.approx(list(expected["wall_s"]))


def test_overview_keeps_topologies_of_one_name_apart(tmp_path: Path, monkeypatch) -> None:
    """gemm_single_pe on `default` and on `default` with half the HBM bandwidth, at two
    commits: the Overview lists each metric once per topology hash (not mixed under the
    one name), labelled with name and short hash, each with its own runs' values; its
    trend link names the hash, and Trends opened with it plots that topology's runs."""
    from urllib.parse import parse_qs, urlsplit

    from simulator.runner import run_workload

    root = tmp_path / "topologies"
    values = {"M": 64, "N": 64, "K": 256}
    for commit in ("a" * 40, "b" * 40):
        monkeypatch.setenv("KERNBENCH_COMMIT", commit)
        for extra in ({}, {"cube.hbm.bw_gbs": 51.2}):
            assert run_workload("gemm_single_pe", values | extra, store=root).status == "ok"
    monkeypatch.delenv("KERNBENCH_COMMIT")
    monkeypatch.setenv("KERNBENCH_STORE", str(root))
    expected = _duck(
        root,
        """SELECT r.topology, r.topology_hash, m.value FROM runs r JOIN metrics m USING (run_id)
           WHERE m.name = 'kernel_ns' AND r.git_commit = ?""",
        ["b" * 40],
    )
    assert set(expected["topology"]) == {"default"} and expected["topology_hash"].nunique() == 2
    assert expected["value"].nunique() == 2  # the premise: the override moves kernel_ns
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.query_params.update({"all": "1"})
    at.switch_page("app_pages/overview.py").run()
    _no_exception(at)
    shown = _dataframe(at, "change_pct")
    kernel = shown[shown["metric"] == "kernel_ns"]
    assert sorted(kernel["topology"]) == sorted(
        f"default · {h[:8]}" for h in expected["topology_hash"]
    )
    for row in expected.to_dict("records"):
        mine = kernel[kernel["topology"] == f"default · {row['topology_hash'][:8]}"]
        assert list(mine["after"]) == pytest.approx([row["value"]])
        link = parse_qs(urlsplit(mine["trend"].iloc[0]).query)
        assert link["topology"] == [row["topology_hash"]]
        trend = AppTest.from_file(str(APP), default_timeout=30)
        trend.run()
        trend.query_params.update({k: v[0] for k, v in link.items()})
        trend.switch_page(PAGE_TRENDS).run()
        _no_exception(trend)
        history = _dataframe(trend, "commit_message")
        assert list(history["value"]) == pytest.approx([row["value"]] * 2)
        assert not [w.value for w in trend.warning if "topolog" in w.value]


def test_runs_page_filters_by_sweep(tmp_path: Path, monkeypatch) -> None:
    """Two sweeps and a single run: `?sweep=` with a unique prefix of a sweep id lists
    exactly that sweep's runs (as DuckDB reads runs.sweep_id); an unknown one warns."""
    from simulator.runner import run_workload

    root = tmp_path / "sweeps"
    for sweep_id, launches in (("20261126-1111-aaaa", (1, 2)), ("20261126-2222-bbbb", (3,))):
        for n in launches:
            outcome = run_workload("noop", {"launches": n}, store=root, sweep_id=sweep_id)
            assert outcome.status == "ok"
    assert run_workload("noop", {}, store=root).status == "ok"
    monkeypatch.setenv("KERNBENCH_STORE", str(root))
    expected = _duck(root, "SELECT run_id FROM runs WHERE sweep_id = '20261126-1111-aaaa'")
    assert len(expected) == 2
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params.update({"sweep": "20261126-1"})
    at.run()
    _no_exception(at)
    shown = _dataframe(at, "key metrics")
    assert sorted(shown["run_id"]) == sorted(expected["run_id"])
    assert set(shown["sweep"]) == {"20261126-1111-aaaa"}
    fresh = AppTest.from_file(str(APP), default_timeout=30)
    fresh.query_params.update({"sweep": "nope"})
    fresh.run()
    assert any("`nope`" in w.value for w in fresh.warning)
    assert len(_dataframe(fresh, "key metrics")) == 4


def test_runs_page_filters_by_topology_hash_not_name(tmp_path: Path, monkeypatch) -> None:
    """`default` and `default` with half the HBM bandwidth are two topologies of one name:
    `?topology=` with a prefix of one's hash lists exactly its runs (as DuckDB reads
    runs.topology_hash); the bare name, which names both, is a warning, not a filter."""
    from simulator.runner import run_workload

    root = tmp_path / "topologies"
    for extra in ({}, {"cube.hbm.bw_gbs": 51.2}, {"cube.hbm.bw_gbs": 51.2}):
        assert run_workload("noop", extra, store=root).status == "ok"
    monkeypatch.setenv("KERNBENCH_STORE", str(root))
    runs = _duck(root, "SELECT run_id, topology, topology_hash FROM runs")
    assert set(runs["topology"]) == {"default"} and runs["topology_hash"].nunique() == 2
    for topology_hash, mine in runs.groupby("topology_hash"):
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.query_params.update({"topology": topology_hash[:8]})
        at.run()
        _no_exception(at)
        shown = _dataframe(at, "key metrics")
        assert sorted(shown["run_id"]) == sorted(mine["run_id"])
        assert not [w.value for w in at.warning if "opolog" in w.value]
    by_name = AppTest.from_file(str(APP), default_timeout=30)
    by_name.query_params.update({"topology": "default"})
    by_name.run()
    assert any("names 2 topologies" in w.value for w in by_name.warning)
    assert len(_dataframe(by_name, "key metrics")) == 3


def test_compare_overlays_any_runs_and_metrics(app, store) -> None:
    """Several mode: gemm at both commits and noop (another workload), kernel_ns and
    latency_ns on a log axis: one bar per run and metric with the value DuckDB reads, a
    warning for a metric a run lacks; one run with metrics of two units: two panels."""
    commit_a, commit_b = store.commits
    chosen = [store.runs[(commit_a, "gemm")], store.runs[(commit_b, "gemm")],
              store.runs[(commit_b, "noop")]]  # fmt: skip
    at = app(PAGE_COMPARE, mode="several", runs=",".join(r[:-2] for r in chosen),
             metrics="kernel_ns,latency_ns", scale="log")  # fmt: skip
    spec = _chart_spec(at, "compare_overlay_chart")
    expected = _duck(
        store.root,
        """SELECT run_id, name, value FROM metrics
           WHERE run_id IN (?, ?, ?) AND name IN ('kernel_ns', 'latency_ns')""",
        chosen,
    )
    drawn = {
        (run_id, name): value
        for bar in spec["data"]
        for run_id in [next(r for r in chosen if r in bar["legendgroup"])]
        for name, value in zip(bar["x"], bar["y"], strict=True)
    }
    assert drawn == pytest.approx(
        {(r["run_id"], r["name"]): r["value"] for r in expected.to_dict("records")}
    )
    assert spec["layout"]["yaxis"]["type"] == "log"
    lacking = {(r, n) for r in chosen for n in ("kernel_ns", "latency_ns")} - set(drawn)
    assert lacking  # the premise: noop records no kernel_ns
    for run_id, name in lacking:
        assert any(f"`{run_id}` has no `{name}`" in w.value for w in at.warning)
    assert at.query_params["runs"] in (",".join(chosen), [",".join(chosen)])  # resolved ids

    one = app(PAGE_COMPARE, mode="several", runs=chosen[0], metrics="kernel_ns,tflops")
    spec = _chart_spec(one, "compare_overlay_chart")
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["ns", "tflops"]
    assert sorted(x for bar in spec["data"] for x in bar["x"]) == ["kernel_ns", "tflops"]
