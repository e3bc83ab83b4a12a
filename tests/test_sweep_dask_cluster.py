"""A sweep on a real Dask cluster: `dask scheduler` and two `dask worker` processes on
127.0.0.1, one of them killed while it runs a point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from s3_fixtures import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_TIMEOUT_S = 120.0


def _dask(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """`dask ARGS...` from this interpreter's environment, as its own process."""
    code = "import sys; from dask.__main__ import main; sys.argv[0] = 'dask'; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_workers(address: str, n: int):
    from distributed import Client

    client = Client(address, timeout="30s")
    client.wait_for_workers(n, timeout=_TIMEOUT_S)
    return client


@pytest.mark.slow
def test_sweep_survives_a_worker_killed_mid_point(tmp_path):
    """The killed worker's point is retried on the other worker; every point gets exactly
    one ok run, all with one sweep id, and the killed attempt leaves no visible run."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        # The scheduler's rule for points on dying workers: one retry, then failed.
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
    }
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                   env=env)]  # fmt: skip
    try:
        for _ in range(2):
            procs.append(
                _dask(
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    env=env,
                )  # fmt: skip
            )
        watcher = _wait_for_workers(address, 2)
        pids = watcher.run(os.getpid)  # worker address -> its process id
        store = tmp_path / "store"
        # Four points of ~1 s each: long enough to be caught running.
        argv = ["sweep", "gemm", "--grid", "N=2048,4096", "--grid", "block_k=64,128"]
        argv += ["--store", str(store), "--scheduler", address, "--json"]
        sweep = subprocess.Popen(
            [sys.executable, "-m", "simulator.cli", *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed_task = None  # the key of the point running when its worker was killed
        deadline = time.monotonic() + _TIMEOUT_S
        while killed_task is None:
            assert time.monotonic() < deadline and sweep.poll() is None, "no point ever ran"
            for addr, tasks in watcher.processing().items():
                running = [t for t in tasks if "kernbench-point" in str(t)]
                if running and addr in pids:
                    # Let the simulation get under way, then kill the worker outright.
                    time.sleep(0.3)
                    os.kill(pids[addr], signal.SIGKILL)
                    killed_task = running[0]
                    break
            time.sleep(0.02)
        out, err = sweep.communicate(timeout=_TIMEOUT_S)
        assert sum(proc.poll() is not None for proc in procs[1:]) == 1  # one worker is gone
        assert sweep.returncode == 0, err
        result = json.loads(out)
        assert (result["n_ok"], result["n_failed"]) == (4, 0)
        rows = duckdb.sql(
            f"SELECT run_id, sweep_id, status, params FROM read_parquet('{store}/runs/*/*.parquet')"
        ).fetchall()
        assert len(rows) == 4 and {r[1] for r in rows} == {result["sweep_id"]}
        assert {r[2] for r in rows} == {"ok"}
        points = {(json.loads(r[3])["N"], json.loads(r[3])["block_k"]) for r in rows}
        assert points == {(2048, 64), (2048, 128), (4096, 64), (4096, 128)}
        watcher.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
