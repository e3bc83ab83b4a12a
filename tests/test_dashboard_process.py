"""`kernbench dashboard` and its Streamlit child live and die together: killing the
command by its pid (SIGTERM or SIGINT) stops the server and frees its port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dashboard_fixtures import PROJECT_ROOT, env_without_store

START_S = 60.0
STOP_S = 20.0

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_killing_kernbench_dashboard_frees_the_port(tmp_path: Path, signum: int) -> None:
    """Start `kernbench dashboard`, wait until it serves, signal its pid: the command exits
    and nothing listens on the port any more."""
    port = _free_port()
    log = tmp_path / "dashboard.log"
    command = [sys.executable, "-m", "simulator.cli", "dashboard", "--store", str(tmp_path),
               "--port", str(port)]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env_without_store()
        )
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start; its log:\n{log.read_text()}")
            time.sleep(0.2)
        process.send_signal(signum)
        process.wait(timeout=STOP_S)
        deadline = time.monotonic() + STOP_S
        while _port_taken(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _port_taken(port), f"port {port} still served; log:\n{log.read_text()}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
