"""Run stores on S3-compatible object storage, against a real moto server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from s3_fixtures import BUCKET, apply_env, free_port, list_keys, moto_server, restore_env

from simulator.cli import main
from traces.cli import short_ids
from traces.columns import TABLE_COLUMNS
from traces.objstore import ObjectStore, object_runs_tmp_root
from traces.views import open_store

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def s3_env():
    """A moto S3 server for this module, with the AWS variables pointing at it."""
    with moto_server() as env:
        previous = apply_env(env)
        try:
            yield env
        finally:
            restore_env(previous)


@pytest.fixture
def url(s3_env, request):
    """A fresh prefix in the test bucket for each test."""
    return f"s3://{BUCKET}/{request.node.name}"


def _json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_open_store_picks_the_backend(s3_env, tmp_path, monkeypatch):
    """s3:// URLs (given or from $KERNBENCH_STORE) open an ObjectStore, folders a Store."""
    assert isinstance(open_store(f"s3://{BUCKET}/x/"), ObjectStore)
    assert open_store(f"s3://{BUCKET}/x/").root == f"s3://{BUCKET}/x"
    monkeypatch.setenv("KERNBENCH_STORE", f"s3://{BUCKET}/env")
    assert isinstance(open_store(None), ObjectStore)
    assert not isinstance(open_store(tmp_path), ObjectStore)


@pytest.mark.slow
def test_cli_verbs_work_on_an_s3_store(url, s3_env, capsys, tmp_path):
    """run, runs, report, sql, compare and export all work on s3://; objects land in the
    bucket under the store layout, the runs object with them."""
    assert main(["run", "gemm_single_pe", "--set", "M=64", "--store", url, "--json"]) == 0
    first = _json_out(capsys)["run_id"]
    assert main(["run", "gemm_single_pe", "--set", "M=128", "--store", url, "--json"]) == 0
    second = _json_out(capsys)["run_id"]
    prefix = url.split(BUCKET + "/", 1)[1]
    keys = list_keys(s3_env, prefix)
    assert f"{prefix}/runs/run_id={first}/part-0.parquet" in keys
    assert f"{prefix}/ops/run_id={second}/part-0.parquet" in keys

    assert main(["runs", "--store", url]) == 0
    out = capsys.readouterr().out
    short = short_ids([first, second])  # `runs` shows the shortest unique prefixes
    assert short[first] in out and short[second] in out
    query = "SELECT run_id, json_extract(params, '$.M')::INT AS m, count(*) OVER () AS n FROM runs"
    assert main(["sql", query, "--store", url, "--format", "json"]) == 0
    rows = {r["run_id"]: r for r in _json_out(capsys)}
    assert rows[first]["m"] == 64 and rows[second]["m"] == 128 and rows[first]["n"] == 2
    flops = "SELECT sum(flops)::BIGINT AS f FROM ops WHERE engine = 'GEMM'"
    assert main(["sql", flops, "--store", url, "--format", "json"]) == 0
    assert _json_out(capsys)[0]["f"] == 2 * (64 + 128) * 512 * 512  # 2MNK, N = K = 512
    assert main(["report", first[:18], "--store", url]) == 0
    assert f"run {first}" in capsys.readouterr().out
    assert main(["compare", first, second, "--store", url]) == 0
    assert "delta" in capsys.readouterr().out
    trace = tmp_path / "trace.json"
    assert main(["export", "latest", "--store", url, "--perfetto", str(trace)]) == 0
    assert json.loads(trace.read_text())["traceEvents"]


def test_unknown_run_on_s3_is_one_error(url, s3_env, capsys):
    """A run reference that matches nothing names the store URL."""
    assert main(["report", "nope", "--store", url]) == 2
    assert f"no runs in store {url}" in capsys.readouterr().err


def test_a_prefix_with_glob_characters_reads_back(s3_env, capsys):
    """A prefix holding ``[``, ``]``, ``*`` and ``?`` names its own objects only: DuckDB,
    which globs the paths it reads, neither misses them nor reads a neighbour's."""
    ours, neighbour = f"s3://{BUCKET}/glob[b]*?", f"s3://{BUCKET}/globb*?"
    for store in (neighbour, ours):
        assert main(["run", "noop", "--store", store, "--json"]) == 0
        run_id = _json_out(capsys)["run_id"]
    con = open_store(ours).connect()
    assert con.sql("SELECT run_id FROM runs").fetchall() == [(run_id,)]
    assert con.sql("SELECT DISTINCT run_id FROM launches").fetchall() == [(run_id,)]


def test_a_traced_run_on_s3_is_written_by_the_writer_process(url, s3_env):
    """A run traced into an object store leaves Arrow, Parquet and the upload to the
    writer process, as a run into a folder does: the simulating process never loads
    pyarrow, and every event row it counted is in the bucket, the runs object with them."""
    code = (
        "import sys\n"
        "from simulator.runner import run_workload\n"
        f"outcome = run_workload('gemm', {{'N': '512'}}, store={url!r})\n"
        "print(outcome.status, outcome.run_id, outcome.n_events)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'pandas')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=PROJECT_ROOT, env=env)  # fmt: skip
    outcome, modules = done.stdout.strip().splitlines()
    status, run_id, n_events = outcome.split()
    assert (status, modules) == ("ok", "[]")
    store = open_store(url)
    assert store.run_ids() == [run_id]
    con = store.connect()
    events = sum(  # deps rows annotate events; metrics and runs are not events
        con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in TABLE_COLUMNS
        if table not in ("runs", "metrics", "deps")
    )
    assert events == int(n_events) > 0
    assert con.sql("SELECT status, n_events FROM runs").fetchall() == [("ok", int(n_events))]


def test_the_writer_process_reaches_s3_with_this_process_s_variables(url, s3_env, monkeypatch,
                                                                      capsys):  # fmt: skip
    """A writer process started while the AWS variables named another server and other
    keys uploads a later run with the variables the run was started under."""
    import traces.writer_process as writer_process_module

    writer_process_module.stop_writer_process()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-these-keys")
    writer_process_module.start_writer_process()
    child = writer_process_module.writer_process()
    try:
        for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
            monkeypatch.setenv(name, s3_env[name])
        assert main(["run", "gemm_single_pe", "--set", "M=64", "--store", url, "--json"]) == 0
        run_id = _json_out(capsys)["run_id"]
        assert writer_process_module.writer_process() is child  # that child wrote it
        assert child.process.poll() is None
        assert open_store(url).run_ids() == [run_id]
    finally:
        writer_process_module.stop_writer_process()


# Put on the path of a run's processes (both: the simulating one and its writer
# process), it stalls whichever uploads the run just before its commit marker.
_STALL_COMMIT = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from traces.objwriter import ObjectRunWriter

    def stall(self, runs_file):  # every table is uploaded; the commit marker is next
        Path(os.environ["STALL_FLAG"]).write_text(f"{self.run_id} {os.getpid()}")
        time.sleep(120)

    ObjectRunWriter._commit = stall
    """
)
_RUN = textwrap.dedent(
    """
    import sys
    import traces.writer_process
    from simulator.runner import run_workload

    if sys.argv[2] == "in-process":  # no writer process: the run falls back to this one
        def no_child(self):
            raise traces.writer_process.WriterProcessError("no writer process here")
        traces.writer_process.WriterProcess.__init__ = no_child
    run_workload("gemm_single_pe", {"M": 64}, store=sys.argv[1])
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["writer-process", "in-process"])
def test_run_killed_mid_upload_is_invisible(url, s3_env, tmp_path, writer, monkeypatch):
    """A writer killed after uploading its tables but before the runs object leaves a run
    that no reader sees, while its table objects are in the bucket: whether the writer
    process uploads the run or, without one, the simulating process. The next run on
    this host removes the local copy the dead writer left."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(_STALL_COMMIT)
    flag = tmp_path / "uploaded"
    path = os.pathsep.join([str(tmp_path / "hook"), str(PROJECT_ROOT)])
    local_tmp = tmp_path / "tmp"  # the system's temporary folder, for both processes
    local_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(local_tmp))
    env = {**os.environ, "PYTHONPATH": path, "STALL_FLAG": str(flag), "TMPDIR": str(local_tmp)}
    proc = subprocess.Popen([sys.executable, "-c", _RUN, url, writer], env=env)
    uploader = None
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() or not flag.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "writer never uploaded"
            time.sleep(0.05)
        run_id, uploader = flag.read_text().split()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if uploader is not None and int(uploader) != proc.pid:
            os.kill(int(uploader), signal.SIGKILL)
    # The path asked for is the path taken.
    assert (int(uploader) == proc.pid) == (writer == "in-process")
    prefix = url.split(BUCKET + "/", 1)[1]
    keys = list_keys(s3_env, prefix)
    assert f"{prefix}/ops/run_id={run_id}/part-0.parquet" in keys  # really mid-write
    assert not any(k.startswith(f"{prefix}/runs/") for k in keys)
    store = open_store(url)
    assert store.run_ids() == []
    con = store.connect()
    for table in ("runs", "ops", "metrics", "launches"):
        assert con.sql(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
    left = object_runs_tmp_root() / run_id
    assert left.is_dir()  # the dead writer's local copy of the run
    assert main(["run", "noop", "--store", url]) == 0
    assert not left.exists()
    assert [p.name for p in object_runs_tmp_root().iterdir()] == []
    assert len(open_store(url).run_ids()) == 1
    assert open_store(url).connect().sql(
        "SELECT count(DISTINCT run_id) FROM launches"
    ).fetchall() == [(1,)]


@pytest.mark.slow
def test_sweep_on_an_s3_store(url, s3_env, capsys):
    """Local Dask workers write their points straight into the bucket; one sweep id."""
    argv = ["sweep", "gemm_single_pe", "--grid", "M=64,128", "--set", "N=64", "--set", "K=64"]
    assert main([*argv, "--store", url, "--jobs", "2", "--json"]) == 0
    out = _json_out(capsys)
    store = open_store(url)
    assert sorted(p["run_id"] for p in out["points"]) == store.run_ids()
    rows = store.connect().sql("SELECT DISTINCT sweep_id FROM runs").fetchall()
    assert rows == [(out["sweep_id"],)]
    resume = ["sweep", "gemm_single_pe", "--store", url, "--resume", out["sweep_id"], "--json"]
    assert main(resume) == 0
    assert _json_out(capsys)["n_skipped"] == 2


@pytest.mark.slow
def test_run_page_reads_an_s3_store(url, s3_env, monkeypatch, capsys):
    """The dashboard's Run page shows a run of an s3:// store given in $KERNBENCH_STORE."""
    from streamlit.testing.v1 import AppTest

    assert main(["run", "gemm_single_pe", "--set", "M=64", "--store", url, "--json"]) == 0
    outcome = _json_out(capsys)
    monkeypatch.setenv("KERNBENCH_STORE", url)
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.run()
    at.query_params.update(run=outcome["run_id"])
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Run"
    assert any(url in c.value for c in at.sidebar.caption)
    kernel_ns = outcome["metrics"]["kernel_ns"]["value"]
    shown = next(m.value for m in at.metric if m.label == r"kernel\_ns")  # Markdown
    number, unit = shown.replace(",", "").split()[:2]
    scale = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    assert float(number) * scale == pytest.approx(kernel_ns, rel=1e-3)
