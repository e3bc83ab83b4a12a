"""Triton's tutorial kernels as workloads: numpy-verified at two sizes (one ragged), their
traces sound, and their DMAs moving exactly the bytes their masks let through."""

from __future__ import annotations

import math

import pytest

from simulator.runner import run_workload
from traces.checks import check_run
from traces.views import open_connection


def _vector_add_bytes(p):
    n = p["n"]
    return {"load": 2 * n * 4, "store": n * 4}


def _softmax_bytes(p):
    n = p["rows"] * p["cols"] * 4
    return {"load": n, "store": n}


def _layernorm_bytes(p):
    m, n = p["M"], p["N"]
    return {"load": 5 * m * n * 4, "store": (m * n + 2 * m) * 4}


def _matmul_bytes(p):
    m, n, k = p["M"], p["N"], p["K"]
    tiles_m, tiles_n = math.ceil(m / p["block_m"]), math.ceil(n / p["block_n"])
    return {"load": 2 * (tiles_n * m * k + tiles_m * k * n), "store": 2 * m * n}


CASES = [
    ("vector_add", {"n": 4096, "block_size": 1024}, _vector_add_bytes),
    ("vector_add", {"n": 1000, "block_size": 256}, _vector_add_bytes),
    ("softmax", {"rows": 64, "cols": 128}, _softmax_bytes),
    ("softmax", {"rows": 45, "cols": 781}, _softmax_bytes),
    ("layernorm", {"M": 32, "N": 256}, _layernorm_bytes),
    ("layernorm", {"M": 40, "N": 1000, "block_size": 256}, _layernorm_bytes),
    (
        "matmul",
        {"M": 256, "N": 256, "K": 256, "block_m": 128, "block_n": 128, "block_k": 64},
        _matmul_bytes,
    ),  # fmt: skip
    (
        "matmul",
        {"M": 300, "N": 200, "K": 130, "block_m": 128, "block_n": 128, "block_k": 64, "group_m": 2},
        _matmul_bytes,
    ),  # fmt: skip
]


@pytest.mark.parametrize(("name", "params", "expected_bytes"), CASES)
def test_tutorial_verifies_and_moves_the_masked_bytes(tmp_path, name, params, expected_bytes):
    outcome = run_workload(name, params, verify_data=True, store=tmp_path)
    assert outcome.status == "ok", outcome.error
    assert outcome.verified is True
    assert check_run(tmp_path, outcome.run_id) == []
    con = open_connection(tmp_path)
    by_kind = dict(
        con.execute(
            # The kernel's own bytes: launch messages travel too, but are not its data.
            "SELECT kind, sum(bytes) FROM dma WHERE run_id = ? AND launch_id IS NOT NULL "
            "AND kind != 'launch_msg' GROUP BY kind",
            [outcome.run_id],
        ).fetchall()
    )
    resolved = {**{p.name: p.default for p in _params(name)}, **params}
    assert by_kind == expected_bytes(resolved)
    metrics = {m.name: m.value for m in outcome.metrics}
    assert 0 < metrics["efficiency"] <= 1
    assert metrics["bound_ns"] <= metrics["kernel_ns"]
    programs = con.execute(
        "SELECT count(*), count(DISTINCT program) FROM programs WHERE run_id = ?",
        [outcome.run_id],
    ).fetchone()
    assert programs[0] == programs[1] == metrics["n_programs"]


def _params(name):
    from simulator.workloads.registry import get_workload

    return get_workload(name).params


def test_timing_is_identical_with_and_without_data():
    """Data mode changes no simulated time (ragged softmax)."""
    params = {"rows": 45, "cols": 781}
    with_data = run_workload("softmax", params, verify_data=True, trace=False)
    without = run_workload("softmax", params, verify_data=False, trace=False)
    assert with_data.sim_end_ns == without.sim_end_ns


def test_layernorm_backward_sums_its_gradients_under_the_tutorials_spin_locks(tmp_path):
    """The tutorial's backward, with 8 locks for 64 rows: dx, dw and db equal numpy's;
    the dx kernel moves exactly x, dy, w, mean, rstd and each lock's count in, dx and every
    row's partial sums out, and the partials back in for all but each lock's first row;
    it takes each lock once per row and sets each count once; and one lock for every row
    serialises the rows (slower) where a lock per row does not."""
    m, n, group = 64, 100, 8
    outcome = run_workload("layernorm_backward", {"M": m, "N": n, "group_size_m": group},
                           store=tmp_path)  # fmt: skip
    assert outcome.status == "ok", outcome.error
    assert outcome.verified is True
    assert check_run(tmp_path, outcome.run_id) == []
    con = open_connection(tmp_path)
    moved = dict(con.execute(
        "SELECT kind, sum(bytes) FROM dma WHERE run_id = ? AND launch_id = 0 "
        "AND kind IN ('load', 'store') GROUP BY kind", [outcome.run_id]).fetchall())  # fmt: skip
    assert moved == {"load": (3 * m * n + 2 * m + m + 2 * (m - group) * n) * 4,
                     "store": 3 * m * n * 4}  # fmt: skip
    xchg = con.execute("SELECT count(*) FROM ops WHERE run_id = ? AND launch_id = 0 AND "
                       "op = 'atomic_xchg' AND engine = 'DMA_WB'",
                       [outcome.run_id]).fetchone()  # fmt: skip
    assert xchg[0] == m + group

    def kernel_ns(locks: int) -> float:
        run = run_workload("layernorm_backward", {"M": m, "N": n, "group_size_m": locks},
                           trace=False)  # fmt: skip
        assert run.verified is True
        return {metric.name: metric.value for metric in run.metrics}["kernel_ns"]

    assert kernel_ns(1) > kernel_ns(m)
