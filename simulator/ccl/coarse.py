"""The coarse collective model: what ``collective_model=coarse`` runs, and what its
kernels share.

The fine model moves every sub-chunk as its own DMA, MATH op and inbox slot, so its cost
grows with the bytes. The coarse kernels run the fine schedule on a sample and wait out
the rest at the measured period, so their cost stops growing once the schedule repeats:

- the rings (``ring``, ``bidir_ring``, ``hierarchical_rsag``): the blocks of every
  chunk until their period repeats, then the last two (:mod:`simulator.ccl.periodic`);
- the seed's chains (``hierarchical``): the pieces of each message until the chain's
  per-piece period has converged, then the last (:mod:`simulator.ccl.chain_sampling`).

Both keep every ``collective_rounds`` row (the skipped bytes added, ends moved by the
wait), the DMA rows of the sampled traffic only, and exact data (``--verify-data``: the
skipped elements are computed with numpy). ``tests/test_ccl_coarse.py`` holds each
against the fine model (within 1 % of ``latency_ns``; README: "Collective models").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language.core import _program

# The reduce ops, as numpy computes the skipped elements.
REDUCE_NUMPY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "sum": np.add,
    "product": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}


def launch_table(name: str) -> dict[Any, Any]:
    """The launch-wide table ``name`` of what the coarse kernels of one launch share
    (sampled rings and chains, per-rank call counts), made on first use. It lives on the
    launch's IPCQ peer table, so it goes with the launch."""
    program = _program()
    tables = program.machine.ipcq.endpoint(program).peers.launch_tables
    table = tables.get(name)
    if table is None:
        table = tables[name] = {}
    return table
