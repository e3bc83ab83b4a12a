"""A user's own kernels are runs: `kernbench run script.py` and Runtime(store=, name=)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import kernbench
import simulator.language as tl
from simulator.cli import main
from simulator.runner import run_script
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

README = Path(__file__).resolve().parent.parent / "README.md"
APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def _readme_kernel() -> str:
    """The README's tutorial kernel block (the one with ``@tl.jit``), as a script."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if "@tl.jit" in b]
    return block


def _rows(store: Path, table: str, run_id: str, columns: str = "*") -> list[tuple]:
    files = [str(f) for f in (store / table / f"run_id={run_id}").glob("*.parquet")]
    return duckdb.sql(f"SELECT {columns} FROM read_parquet({files!r})").fetchall()


def test_readme_kernel_script_is_a_run_that_report_and_the_run_page_show(
    tmp_path, capsys, monkeypatch
):
    script = tmp_path / "add.py"
    script.write_text(_readme_kernel())
    store = tmp_path / "store"
    code = main(["run", str(script), "--set", "n=3000", "--store", str(store), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert (out["workload"], out["status"], out["params"]) == ("add", "ok", {"n": 3000})
    assert out["metrics"]["kernel_ns"]["value"] > 0
    run_id = out["run_id"]
    programs = _rows(store, "programs", run_id)
    assert len(programs) == 3  # cdiv(3000, 1024)
    assert main(["report", run_id, "--store", str(store)]) == 0
    report = capsys.readouterr().out
    assert "add_kernel" in report and "add" in report and "kernel_ns" in report
    monkeypatch.setenv("KERNBENCH_STORE", str(store))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.query_params.update(run=run_id)
    at.switch_page("app_pages/run.py").run()
    assert not at.exception
    shown = " ".join(str(e.value) for e in [*at.title, *at.markdown, *at.caption, *at.metric])
    assert run_id in shown or "add" in shown
    assert any(m.label == r"kernel\_ns" for m in at.metric)  # a label is Markdown


def test_python_api_records_a_run_with_its_metrics(tmp_path):
    store = tmp_path / "store"

    @tl.jit
    def double(x_ptr, n, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, BLOCK)
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 2.0, mask=offs < n)

    with Runtime("default", verify_data=True, store=store, name="api_double") as rt:
        x = rt.from_numpy(np.arange(100, dtype=np.float32), Placement.single(0))
        double[(1,)](x, 100, BLOCK=128)
        assert np.array_equal(x.numpy(), np.arange(100) * 2)
        kernbench.metric("answer", 42, "count", better="higher")
    (run_id,) = [p.name.removeprefix("run_id=") for p in (store / "runs").iterdir()]
    con = duckdb.connect()
    runs = con.sql(f"SELECT workload, status FROM '{store}/runs/*/*.parquet'").fetchall()
    assert runs == [("api_double", "ok")]
    metrics = _rows(store, "metrics", run_id, "name, value, better")
    ((span_ns,),) = _rows(store, "launches", run_id, "end_ns - target_start_ns")
    assert metrics == [("answer", 42.0, "higher"), ("kernel_ns", span_ns, "lower")]
    assert _rows(store, "launches", run_id, "kernel") == [("double",)]


def test_failing_script_is_recorded_as_failed(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text(
        "from simulator.runtime.runtime import Runtime\n"
        "rt = Runtime('default')\n"
        "raise ValueError('bad input size 7')\n"
    )
    outcome = run_script(script, store=tmp_path / "s")
    assert outcome.status == "failed"  # the error names the script's line that raised
    assert outcome.error == (f"ValueError: bad input size 7 (at {script}:3: "
                             "raise ValueError('bad input size 7'))")  # fmt: skip
    runs = _rows(tmp_path / "s", "runs", outcome.run_id)
    assert len(runs) == 1


def test_a_script_whose_name_looks_like_markup_is_named_as_is(tmp_path, capsys):
    """The run summary prints the script's name (the run's workload) and its error as
    they are, however many brackets they hold."""
    script = tmp_path / "k[b].py"
    script.write_text(
        "from simulator.runtime.runtime import Runtime\n"
        "rt = Runtime('default')\n"
        "raise ValueError('shape [/m] is not [n]')\n"
    )
    assert main(["run", str(script), "--store", str(tmp_path / "s")]) == 1
    out, err = capsys.readouterr()
    assert "k[b] on default: failed" in out
    assert "ValueError: shape [/m] is not [n]" in err


def test_script_without_runtime_and_missing_script_are_clear(tmp_path):
    """A script that fails before it has a Runtime (an import error, none at all) is a
    failed run in the store, with its error, parameters and the topology asked for."""
    empty = tmp_path / "empty.py"
    empty.write_text("import kernbench\nx = kernbench.param('x', 1)\n")
    outcome = run_script(empty, {"x": "2"}, store=tmp_path / "s")
    assert outcome.status == "failed" and "created no Runtime" in outcome.error
    broken = tmp_path / "broken_import.py"
    broken.write_text("import kernbench\nimport no_such_module_anywhere\n")
    failed = run_script(broken, {"cube.hbm.bw_gbs": "51.2"}, topology="sip4x4",
                        store=tmp_path / "s")  # fmt: skip
    assert failed.status == "failed" and "no_such_module_anywhere" in failed.error
    rows = duckdb.sql(
        "SELECT run_id, workload, topology, status, error, params, overrides "
        f"FROM read_parquet('{tmp_path / 's'}/runs/*/*.parquet') ORDER BY workload"
    ).fetchall()
    assert [r[:4] for r in rows] == [
        (failed.run_id, "broken_import", "sip4x4", "failed"),
        (outcome.run_id, "empty", "-", "failed"),
    ]
    assert rows[0][4] == failed.error and rows[1][4] == outcome.error
    assert json.loads(rows[1][5])["x"] == 2 and json.loads(rows[0][6]) == {"cube.hbm.bw_gbs": 51.2}
    with pytest.raises(FileNotFoundError, match="nope.py"):
        run_script(tmp_path / "nope.py")


def test_param_converts_set_values_to_the_default_type(tmp_path):
    script = tmp_path / "params.py"
    script.write_text(
        "import kernbench\n"
        "from simulator.runtime.runtime import Runtime\n"
        "rt = Runtime('default')\n"
        "assert kernbench.param('n', 1) == 12\n"
        "assert kernbench.param('scale', 1.0) == 2.5\n"
        "assert kernbench.param('fast', False) is True\n"
        "assert kernbench.param('absent', 'x') == 'x'\n"
    )
    outcome = run_script(script, {"n": "12", "scale": "2.5", "fast": "yes"}, trace=False)
    assert outcome.status == "ok", outcome.error


def test_metric_outside_a_run_warns_and_is_dropped():
    with pytest.warns(UserWarning, match="no run is being recorded"):
        kernbench.metric("x", 1.0)
    with pytest.raises(kernbench.RecordingError, match="better must be"):
        kernbench.metric("x", 1.0, better="up")


def test_a_scripts_run_records_its_defaults_and_source_and_refuses_unread_sets(tmp_path):
    """A script run records the defaults it read and which script ran (path and SHA-256
    prefix), so two scripts, or one edited, do not compare as like for like; a --set the
    script never read (a misspelt name) fails the run instead of being recorded as if
    applied; a bad topology key before the Runtime exists is one clear failure, recorded."""
    import hashlib

    from traces.likeness import run_differences

    script = tmp_path / "scaled.py"
    source = (
        "import kernbench\n"
        "from simulator.runtime.runtime import Runtime\n"
        "rt = Runtime('default')\n"
        "block = kernbench.param('BLOCK', 64)\n"
        "kernbench.metric('block', block)\n"
    )
    script.write_text(source)
    store = tmp_path / "s"
    first = run_script(script, store=store)
    script.write_text(source.replace("64", "128"))
    edited = run_script(script, store=store)
    (params_a,), (params_b,) = (_rows(store, "runs", r.run_id, "params")[0]
                                for r in (first, edited))  # fmt: skip
    sha = hashlib.sha256(source.encode()).hexdigest()[:12]
    assert json.loads(params_a) == {"BLOCK": 64, "script": f"{script.as_posix()}@{sha}"}
    notes = run_differences({"workload": "scaled", "params": params_a},
                            {"workload": "scaled", "params": params_b})  # fmt: skip
    assert notes and "BLOCK: 64 -> 128" in notes[0] and "script: " in notes[0]

    misspelt = run_script(script, {"BLOK": "512"}, store=store)
    assert misspelt.status == "failed"
    assert misspelt.error == ("--set BLOK: the script never read a parameter of that name "
                              "(it read: BLOCK); check the spelling")  # fmt: skip
    assert _rows(store, "runs", misspelt.run_id, "status") == [("failed",)]

    bad_key = run_script(script, {"cube.hbm.bw_gb": "51.2"}, store=store)
    assert bad_key.status == "failed"
    assert "unknown topology key cube.hbm.bw_gb (did you mean cube.hbm.bw_gbs" in bad_key.error
    assert _rows(store, "runs", bad_key.run_id, "status, error") == [("failed", bad_key.error)]


def test_a_script_reports_whether_its_results_checked_out(tmp_path):
    """``kernbench.verified(ok)`` is the run's verified column: True when every report
    was, False once one was not (it stays False)."""
    script = tmp_path / "checked.py"
    script.write_text(
        "import kernbench\n"
        "from simulator.runtime.runtime import Runtime\n"
        "rt = Runtime('default')\n"
        "for ok in kernbench.param('checks', 'yes').split(','):\n"
        "    kernbench.verified(ok == 'yes')\n"
    )
    store = tmp_path / "s"
    good = run_script(script, store=store, verify_data=True)
    bad = run_script(script, {"checks": "yes,no,yes"}, store=store, verify_data=True)
    assert (good.verified, bad.verified) == (True, False)
    assert _rows(store, "runs", good.run_id, "verified") == [(True,)]
    assert _rows(store, "runs", bad.run_id, "verified") == [(False,)]


def test_a_script_that_records_no_kernel_ns_gets_its_launches_span(tmp_path):
    """kernel_ns, the headline the sweep, compare and trends views use, is recorded for a
    script that reports none: its first launch's start to its last launch's end, as the
    trace's launches table gives them; a script's own kernel_ns is kept as it is."""
    source = (
        "import numpy as np\n"
        "import kernbench\n"
        "import simulator.language as tl\n"
        "from simulator.runtime.runtime import Runtime\n"
        "@tl.jit\n"
        "def twice(x_ptr, n, BLOCK: tl.constexpr):\n"
        "    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)\n"
        "    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 2, mask=offs < n)\n"
        "rt = Runtime('default')\n"
        "x = rt.from_numpy(np.ones(5000, np.float32))\n"
        "for _ in range(3):\n"
        "    twice[(tl.cdiv(5000, 256),)](x, 5000, BLOCK=256)\n"
        "if kernbench.param('own', False):\n"
        "    kernbench.metric('kernel_ns', 42.0)\n"
    )
    script = tmp_path / "three_launches.py"
    script.write_text(source)
    store = tmp_path / "s"
    outcome = run_script(script, store=store)
    assert outcome.status == "ok"
    ((first, last, n),) = _rows(store, "launches", outcome.run_id,
                                "min(target_start_ns), max(end_ns), count(*)")  # fmt: skip
    assert n == 3
    (kernel_ns,) = [m.value for m in outcome.metrics if m.name == "kernel_ns"]
    assert kernel_ns == pytest.approx(last - first) and kernel_ns > 0
    assert _rows(store, "metrics", outcome.run_id, "name, value") == [("kernel_ns", kernel_ns)]
    own = run_script(script, {"own": "yes"}, store=store)
    assert [(m.name, m.value) for m in own.metrics] == [("kernel_ns", 42.0)]
