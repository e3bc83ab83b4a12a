"""`kernbench --help` and `kernbench list` start fast: heavy libraries load only where used.

Each check runs in a fresh interpreter and looks at ``sys.modules`` afterwards, so it holds
whatever this test process has already imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Libraries that take a large share of start-up and that --help and list never need.
HEAVY = ("duckdb", "pyarrow", "pandas", "dask", "distributed", "streamlit", "plotly", "asv")


def heavy_modules_after(code: str) -> list[str]:
    """The HEAVY top-level modules loaded after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import simulator.cli",
        "import simulator.cli\nsimulator.cli.build_parser()",
        "import contextlib, io, simulator.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert simulator.cli.main(['list']) == 0",
        "import contextlib, io, simulator.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert simulator.cli.main(['list', '--json']) == 0",
    ],
    ids=["import", "parser", "list", "list-json"],
)
def test_cli_start_up_imports_no_heavy_library(code):
    """Importing the CLI, building its parser (--help) and `list` load none of HEAVY."""
    assert heavy_modules_after(code) == []


def test_numpy_stays_out_of_help():
    """--help builds the parser without the simulator proper (numpy and the engine)."""
    code = "import simulator.cli\nsimulator.cli.build_parser()\nimport sys\n"
    code += "assert 'numpy' not in sys.modules, 'numpy imported'"
    assert heavy_modules_after(code) == []


def test_probe_sees_a_heavy_import():
    """The probe itself works: importing duckdb is reported."""
    assert heavy_modules_after("import duckdb") == ["duckdb"]


def test_traced_run_loads_neither_pandas_nor_duckdb(tmp_path):
    """A traced `kernbench run` leaves Parquet to its writer process: the simulating
    process loads neither pyarrow nor pandas nor DuckDB."""
    code = (
        "import contextlib, io, simulator.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert simulator.cli.main(['run', 'noop', '--store', {str(tmp_path)!r}]) == 0"
    )
    assert heavy_modules_after(code) == []
    assert list((tmp_path / "runs").glob("run_id=*/*.parquet")), "the run was not written"


def test_pandas_still_works_after_the_probe_is_skipped():
    """After skip_pandas_probe, pyarrow still converts to and from pandas on demand."""
    code = (
        "import pyarrow as pa\n"
        "from traces.writer import skip_pandas_probe\n"
        "skip_pandas_probe()\n"
        "import sys\n"
        "assert 'pandas' not in sys.modules\n"
        "frame = pa.table({'a': [1.5, None]}).to_pandas()\n"
        "assert frame['a'].isna().tolist() == [False, True]\n"
        "assert pa.Table.from_pandas(frame).column('a').null_count == 1"
    )
    assert heavy_modules_after(code) == ["pandas", "pyarrow"]


@pytest.mark.parametrize(
    ("argv", "traced"),
    [
        (["run", "gemm"], True),
        (["run", "gemm", "--store", "some/folder"], True),
        (["run", "gemm", "--no-trace"], False),
        (["run", "--help"], False),
        (["run", "gemm", "--store", "s3://bucket/prefix"], False),
        (["run", "gemm", "--store=s3://bucket/prefix"], False),
        (["list"], False),
        ([], False),
    ],
)
def test_the_command_starts_a_writer_process_only_for_a_traced_local_run(argv, traced, monkeypatch):
    """`kernbench` starts the trace writer process early for `run` into a local store only."""
    from simulator.__main__ import _traced_run
    from traces.layout import STORE_ENV

    monkeypatch.delenv(STORE_ENV, raising=False)
    assert _traced_run(argv) is traced
    monkeypatch.setenv(STORE_ENV, "s3://bucket/prefix")
    assert _traced_run(argv) is False


def test_python_m_simulator_is_the_kernbench_command(tmp_path):
    """`python -m simulator` runs the CLI: a traced run lands in the store, and `--help`
    starts no writer process (nor loads pyarrow)."""
    command = [sys.executable, "-m", "simulator"]
    done = subprocess.run(
        [*command, "run", "noop", "--store", str(tmp_path), "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert json.loads(done.stdout)["status"] == "ok"
    assert list((tmp_path / "runs").glob("run_id=*/*.parquet"))
    code = "import sys; sys.argv = ['kernbench', '--help']\nimport simulator.__main__ as m\n"
    code += "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    code += "    try:\n        m.main()\n    except SystemExit:\n        pass\n"
    code += "import traces.writer_process as w\nassert w._process is None, 'a writer started'"
    assert heavy_modules_after(code) == []
