"""Triton's fused-attention forward: numpy's attention, and the work its causal and full
variants do, read off the trace."""

from __future__ import annotations

import pytest

from simulator.runner import run_workload
from traces.views import open_store


@pytest.mark.parametrize("causal", [True, False])
def test_matches_numpy_and_does_the_blocks_it_should(causal, tmp_path):
    """2 x 2 heads of 128 tokens in blocks of 32, addressed through the 4-D strides of
    (Z, H, N_CTX, HEAD_DIM): verified against softmax(QK^T/sqrt(d))V; the dots do 4 * 32
    * 32 * d FLOPs per (query block, key block) pair it visits: all 16 pairs of a head,
    or the 10 on and below the diagonal when causal."""
    batch, n, d, block = 2, 128, 32, 32
    heads = batch * 2
    params = {"batch": batch, "heads": 2, "n_ctx": n, "head_dim": d, "block_m": block,
              "block_n": block, "causal": causal}  # fmt: skip
    outcome = run_workload("attention", params, verify_data=True, store=tmp_path)
    assert outcome.status == "ok" and outcome.verified, outcome.error
    con = open_store(tmp_path).connect()
    [(flops, dots)] = con.sql("SELECT sum(flops), count(*) FROM ops WHERE op = 'dot'").fetchall()
    pairs = (4 * 5 // 2 if causal else 4 * 4) * heads
    assert dots == 2 * pairs  # Q K^T and P V
    assert flops == pairs * 4 * block * block * d
    # K^T tiles through the column-major block pointer: each moves its block's bytes.
    [(loaded,)] = con.sql("SELECT sum(bytes) FROM ops WHERE op = 'load'").fetchall()
    assert loaded == heads * (n * d + pairs // heads * 2 * block * d) * 2
