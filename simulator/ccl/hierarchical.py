"""Hierarchical all-reduce: reduce-scatter up the hierarchy, all-gather back down.

Levels, each a ring (see :mod:`simulator.ccl.ring`) along one IPCQ direction pair:

1. ``intra_cube``: the ranks of one cube, E/W;
2. ``inter_cube``: the ranks at the same place in each cube of a SIP, N/S (cubes in
   mesh-ring order, so each hop is one mesh link);
3. ``inter_sip``: the ranks at the same place in each SIP, ``parent``.

Reduce-scatter inside the cube leaves each rank one reduced ``1/p1`` of the data; the
cube level reduce-scatters that piece (``1/(p1 p2)`` left), the SIP level all-reduces
it, then the cube and cube-internal levels all-gather. Levels of size 1 are skipped, so
with one level left this is exactly the ring over that level. Cost: the sum over levels
of ``2(p_l - 1)(alpha_l + n_l/(p_l B_l))`` with ``n_l`` the bytes reaching that level.
"""

from __future__ import annotations

from collections.abc import Sequence

import simulator.language as tl
from simulator.ccl.ring import (
    REDUCERS,
    Ring,
    finish_sampled,
    flat_view,
    ring_steps,
    sampled_ring_steps,
)
from simulator.language import comm
from simulator.language.core import TensorView

# (level, send direction, recv direction) from the bottom of the hierarchy up.
LEVELS = (("intra_cube", "E", "W"), ("inter_cube", "N", "S"), ("inter_sip", "parent", "parent"))


def hierarchical_all_reduce(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int] = ()
) -> None:
    """All-reduce ``buf`` in place over every rank of the launch (``order`` unused)."""
    view = flat_view(buf)
    rings = _rings(view, reduce, sub_elems, per_round)
    if not rings:
        return
    first = 0
    for ring in rings[:-1]:  # up: reduce-scatter
        _run(ring_steps(ring, first, rs=True, ag=False))
        first += ring.size - 1
        comm.fence()  # the next level loads what this one stored
    top = rings[-1]
    _run(ring_steps(top, first, rs=True, ag=True))
    first += 2 * (top.size - 1)
    for ring in reversed(rings[:-1]):  # down: all-gather
        comm.fence()
        _run(ring_steps(ring, first, rs=False, ag=True))
        first += ring.size - 1


def _rings(view: TensorView, reduce: str, sub_elems: int, per_round: int) -> list[Ring]:
    """This rank's ring at each level of more than one member, bottom up, each over
    the piece the level below left it."""
    lo, hi = 0, view.shape[0]
    rings: list[Ring] = []
    for level, send_to, recv_from in LEVELS:
        pos, size = tl.ring_position(send_to)
        if size > 1:
            rings.append(
                Ring(
                    view,
                    lo,
                    hi,
                    size,
                    pos,
                    send_to,
                    recv_from,
                    0,
                    level,
                    sub_elems,
                    per_round,
                    REDUCERS[reduce],
                )
            )
            lo, hi = rings[-1].owned()
    return rings


def _run(steps) -> None:
    for _ in steps:
        pass


def hierarchical_all_reduce_coarse(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int] = ()
) -> None:
    """:func:`hierarchical_all_reduce` on the coarse model (:mod:`simulator.ccl.periodic`):
    every level's ring on sampled blocks, its skipped blocks waited out before the
    fence to the next level."""
    view = flat_view(buf)
    rings = _rings(view, reduce, sub_elems, per_round)
    if not rings:
        return
    first = 0
    for ring in rings[:-1]:  # up: reduce-scatter
        _run_sampled(ring, first, rs=True, ag=False)
        first += ring.size - 1
        comm.fence()
    top = rings[-1]
    _run_sampled(top, first, rs=True, ag=True)
    first += 2 * (top.size - 1)
    for ring in reversed(rings[:-1]):  # down: all-gather
        comm.fence()
        _run_sampled(ring, first, rs=False, ag=True)
        first += ring.size - 1


def _run_sampled(ring: Ring, first: int, rs: bool, ag: bool) -> None:
    steps, run = sampled_ring_steps(ring, first, rs, ag)
    _run(steps)
    finish_sampled([run])
