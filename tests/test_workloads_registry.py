"""Workload registration discovers every module of simulator/workloads/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import simulator.workloads as package
import simulator.workloads.registry as registry
from simulator.workloads.registry import WorkloadError, list_workloads

PACKAGE_DIR = Path(package.__file__).parent


def declared_workloads() -> set[str]:
    """Names given to ``@workload("name", ...)`` in the package's files, read from source."""
    names = set()
    for path in PACKAGE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "workload"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_every_declared_workload_is_registered():
    """A workload is one file: its decorator registers it without any list to edit."""
    declared = declared_workloads()
    assert {"gemm", "ccl_allreduce", "tp_mlp"} <= declared
    assert {w.name for w in list_workloads()} == declared


def test_a_broken_workload_file_is_named(tmp_path, monkeypatch):
    """A workload module that fails to import gives one message naming the module."""
    (tmp_path / "zz_broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_discovered", False)
    with pytest.raises(
        WorkloadError, match=r"simulator\.workloads\.zz_broken .*RuntimeError: boom"
    ):
        list_workloads()
