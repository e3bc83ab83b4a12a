"""Tests of the traces package boundary: dependency direction and shipped files."""

import subprocess
import sys
from importlib import resources


def test_traces_never_imports_simulator_or_dashboard():
    """Importing every traces module pulls in neither the simulator nor the dashboard."""
    modules = [
        "traces",
        "traces.checks",
        "traces.cli",
        "traces.gitinfo",
        "traces.layout",
        "traces.perfetto",
        "traces.queries",
        "traces.schema",
        "traces.store",
        "traces.synthetic",
        "traces.views",
        "traces.writer",
    ]
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('simulator', 'dashboard')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_views_sql_ships_with_the_package():
    """views.sql is package data next to the modules."""
    assert (resources.files("traces") / "views.sql").is_file()
