"""Bidirectional ring all-reduce: two rings in opposite directions, half the data each.

The first half of the buffer goes around the ring forwards (to the next rank), the
second half backwards, on separate channels (tags 0 and 1). The kernel alternates one
received sub-chunk of each ring, so both stay busy. Where the two directions use
different links (for example one rank per cube around the cube mesh), each carries half
the bytes and the all-reduce takes about half the time of the one-way ring; where they
share a link (the PE's port into its cube NoC) there is no gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest

from simulator.ccl import periodic
from simulator.ccl.ring import (
    finish_sampled,
    flat_view,
    make_ring,
    ring_steps,
    sampled_ring_steps,
)
from simulator.language.core import TensorView


def bidir_ring_all_reduce(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int]
) -> None:
    """All-reduce ``buf`` in place: ``[0, n/2)`` along ``order``, the rest against it."""
    view = flat_view(buf)
    n = view.shape[0]
    half = n // 2
    forwards = make_ring(view, order, False, 0, half, reduce, sub_elems, per_round, 0)
    backwards = make_ring(view, order, True, half, n, reduce, sub_elems, per_round, 1)
    for _ in zip_longest(ring_steps(forwards, 0, True, True), ring_steps(backwards, 0, True, True)):
        pass


def bidir_ring_all_reduce_coarse(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int]
) -> None:
    """:func:`bidir_ring_all_reduce` on the coarse model (:mod:`simulator.ccl.periodic`):
    both rings on sampled blocks, interleaved as in the fine kernel."""
    view = flat_view(buf)
    n = view.shape[0]
    half = n // 2
    forwards = make_ring(view, order, False, 0, half, reduce, sub_elems, per_round, 0)
    backwards = make_ring(view, order, True, half, n, reduce, sub_elems, per_round, 1)
    ahead, run_a = sampled_ring_steps(forwards, 0, True, True, list(order))
    behind, run_b = sampled_ring_steps(backwards, 0, True, True, list(order)[::-1])
    periodic.run_together([run_a, run_b])
    for _ in zip_longest(ahead, behind):
        pass
    finish_sampled([run_a, run_b])
