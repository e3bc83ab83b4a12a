"""Tests of the trace subcommands (traces/cli.py), called through an argparse parser."""

import argparse
import csv
import io
import json

import pytest

from traces import cli
from traces.store import Store
from traces.synthetic import write_synthetic_run


@pytest.fixture
def parser():
    """A `kernbench`-like parser holding only the trace subcommands."""
    parser = argparse.ArgumentParser(prog="kernbench")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.fixture
def store(tmp_path):
    """A store with two synthetic runs (different workloads)."""
    store = Store(tmp_path / "store")
    write_synthetic_run(store, seed=0, n_pes=8, n_launches=2, workload="alpha")
    write_synthetic_run(store, seed=1, n_pes=8, n_launches=2, workload="beta")
    return store


def _run(parser, argv):
    args = parser.parse_args(argv)
    return args.handler(args)


def test_runs_lists_newest_first(parser, store, capsys):
    """`runs` prints every run id, newest first; --workload filters."""
    short = cli.short_ids(store.run_ids())
    older, newer = (short[run_id] for run_id in store.run_ids())
    assert _run(parser, ["runs", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert out.index(newer) < out.index(older)
    assert _run(parser, ["runs", "--store", str(store.root), "--workload", "alpha"]) == 0
    out = capsys.readouterr().out
    assert older in out and newer not in out


def test_runs_uses_env_store(parser, store, capsys, monkeypatch):
    """Without --store, $KERNBENCH_STORE names the store."""
    monkeypatch.setenv("KERNBENCH_STORE", str(store.root))
    assert _run(parser, ["runs", "--limit", "1"]) == 0
    assert cli.short_ids(store.run_ids())[store.run_ids()[-1]] in capsys.readouterr().out


def test_report_sections(parser, store, capsys):
    """`report latest` shows the header and every section of a run with a collective."""
    assert _run(parser, ["report", "latest", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert store.run_ids()[-1] in out
    for section in (
        "metrics",
        "launch spread",
        "engines",
        "PE utilisation",
        "DMA bandwidth",
        "collective rounds",
    ):
        assert section in out, section
    assert "ccl_ring_allreduce" in out


def test_report_checks_the_trace_and_flags_a_run_faster_than_its_bound(parser, tmp_path, capsys):
    """`report` runs the trace invariants (physics included) on an ok run: a sound one
    says so, a violated one lists each problem, and --json gives them as a list; an
    efficiency above 1 (faster than the run's physics bound) is called a bug."""
    from traces.synthetic import new_synthetic_writer

    store = Store(tmp_path / "store")
    write_synthetic_run(store, seed=0, n_pes=4, n_launches=1)
    assert _run(parser, ["report", "latest", "--store", str(store.root)]) == 0
    assert "sound: every invariant holds" in capsys.readouterr().out
    assert _run(parser, ["report", "latest", "--store", str(store.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["invariants"] == []

    writer = new_synthetic_writer(store)
    writer.append("links", link="l0", src="a", dst="b", level="mesh", bw_gbs=1.0, bytes=50,
                  busy_ns=10.0)  # fmt: skip
    writer.metric("latency_ns", 100.0, "ns", "lower")
    writer.metric("bound_ns", 120.0, "ns", "lower")
    writer.metric("efficiency", 1.2, "ratio", "higher")
    writer.finish(sim_end_ns=100.0, n_events=0)
    assert _run(parser, ["report", writer.run_id, "--store", str(store.root)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "faster than physics allows, a simulator bug" in out
    assert "1 invariants violated: links: 1 links carried more bytes" in out
    assert _run(parser, ["report", writer.run_id, "--store", str(store.root), "--json"]) == 0
    (problem,) = json.loads(capsys.readouterr().out)["invariants"]
    assert problem.startswith("links: 1 links carried more bytes")


def test_sql_formats(parser, store, capsys):
    """`sql` prints a table, CSV or JSON of the same result."""
    query = "SELECT workload, count(*) AS n FROM runs GROUP BY workload ORDER BY workload"
    base = ["sql", query, "--store", str(store.root)]
    assert _run(parser, [*base, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["workload", "n"], ["alpha", "1"], ["beta", "1"]]
    assert _run(parser, [*base, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"workload": "alpha", "n": 1},
        {"workload": "beta", "n": 1},
    ]
    assert _run(parser, base) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out


def test_compare(parser, store, capsys):
    """`compare A B` prints metric deltas between two runs given by prefix and `latest`."""
    older, newer = store.run_ids()
    assert _run(parser, ["compare", older[:-2], "latest", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert older in out and newer in out
    assert "tflops" in out and "delta" in out and "GEMM" in out


def test_export(parser, store, tmp_path, capsys):
    """`export RUN --perfetto FILE` writes the trace and says how many events."""
    target = tmp_path / "trace.json"
    argv = ["export", "latest", "--perfetto", str(target), "--store", str(store.root)]
    assert _run(parser, argv) == 0
    events = json.loads(target.read_text())["traceEvents"]
    assert f"wrote {len(events):,} trace events" in capsys.readouterr().out


def test_export_into_a_missing_folder_names_the_file(store, tmp_path, capsys):
    """An export that cannot be written is one error naming the file asked for (not the
    temporary file beside it), and leaves nothing behind."""
    from simulator.cli import main

    target = tmp_path / "missing" / "trace.json"
    argv = ["export", "latest", "--perfetto", str(target), "--store", str(store.root)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"No such file or directory: '{target}'" in err and ".tmp" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "nope"],
        ["compare", "latest", "nope"],
        ["export", "nope", "--perfetto", "x.json"],
        ["sql", "DELETE FROM runs"],
        ["sql", "SELECT nonexistent FROM runs"],
        ["sql", "SELEC 1"],
    ],
)
def test_user_errors_are_one_line(parser, store, capsys, argv):
    """Unknown runs and bad SQL print one `kernbench: error:` line and return 2."""
    assert _run(parser, [*argv, "--store", str(store.root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kernbench: error: ")


def test_empty_store(parser, tmp_path, capsys):
    """`runs` on an empty store says so; `report latest` fails cleanly."""
    empty = str(tmp_path / "empty")
    assert _run(parser, ["runs", "--store", empty]) == 0
    assert "no runs in store" in capsys.readouterr().out
    assert _run(parser, ["report", "latest", "--store", empty]) == 2
    assert "no runs in store" in capsys.readouterr().err


def test_text_that_looks_like_markup_prints_as_is(parser, tmp_path, capsys):
    """Store paths, workload names and query results print as they are: ``[b]`` is not
    bold (and lost), ``[/x]`` closes nothing (and fails no command)."""
    store = Store(tmp_path / "store[b]")
    write_synthetic_run(store, seed=0, n_pes=4, n_launches=1, workload="w[fix]")
    assert _run(parser, ["runs", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"runs in {store.root}" in out and "w[fix]" in out
    query = "SELECT '[/x] closes nothing' AS a, workload FROM runs"
    assert _run(parser, ["sql", query, "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "[/x] closes nothing" in out and "w[fix]" in out
    assert _run(parser, ["report", "latest", "--store", str(store.root)]) == 0
    assert "w[fix]" in capsys.readouterr().out


def test_runs_says_when_its_filters_hide_every_run(parser, store, tmp_path, capsys):
    """An empty list from filters names them and how many runs the store holds; an empty
    store says it is empty."""
    argv = ["runs", "--store", str(store.root), "--workload", "nope", "--status", "ok"]
    assert _run(parser, argv) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo the console's wrapping
    assert out == f"no runs match --workload nope --status ok; store {store.root} holds 2 runs"
    assert _run(parser, ["runs", "--store", str(tmp_path / "empty")]) == 0
    assert " ".join(capsys.readouterr().out.split()) == f"no runs in store {tmp_path / 'empty'}"


def test_sql_errors_are_one_line_with_what_to_query_instead(parser, store, capsys):
    """A query of a missing table names the views; DuckDB's hints (its guess, candidate
    columns), printed on lines of their own, stay on the one error line."""
    assert _run(parser, ["sql", "SELECT * FROM opz", "--store", str(store.root)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert 'Did you mean "ops"?' in line
    views = line.split("(views: ", 1)[1].rstrip(")").split(", ")
    assert {"runs", "ops", "dma", "deps", "metrics"} <= set(views)
    assert _run(parser, ["sql", "SELECT op_idd FROM ops", "--store", str(store.root)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "op_idd" in line and "Candidate bindings" in line and "LINE" not in line


def test_busiest_and_idlest_pe_break_ties_by_pe_number(monkeypatch):
    """Several PEs at the same utilisation: the busiest and idlest are the lowest
    numbered of them, every time (an arbitrary pick made report disagree with itself)."""
    import pyarrow as pa

    from traces import queries

    breakdown = pa.table({"pe_global": [4, 3, 1, 2, 0], "utilisation": [0.5, 0.2, 0.2, 0.9, 0.9],
                          "makespan_ns": [10.0] * 5})  # fmt: skip
    monkeypatch.setattr(queries, "pe_breakdown", lambda con, run_id: breakdown)
    picks = {tuple(cli._pe_summary(None, "r").select(["busiest_pe", "idlest_pe"]).to_pylist()[0]
                   .values()) for _ in range(20)}  # fmt: skip
    assert picks == {(0, 1)}


def test_sql_of_a_store_that_does_not_exist_is_an_error(parser, tmp_path, capsys):
    """A mistyped --store is an error, not empty tables."""
    missing = tmp_path / "no_such_store"
    assert _run(parser, ["sql", "SELECT count(*) FROM ops", "--store", str(missing)]) == 2
    assert f"run store {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()
