"""The seed's hierarchical all-reduce: a bidirectional ring reduce at each level towards a
representative, then a chain broadcast back down.

Levels, bottom up: ``intra_cube`` (the ranks of a cube, E/W), ``inter_cube`` (one
representative per cube of a SIP, N/S, cubes in mesh-ring order), ``inter_sip`` (one
representative per SIP, via parent). At a level of ``p`` members on a ring, the member at
position 0 is the representative; the others form two chains towards it, one on each
side of the ring:

1. Reduce: positions ``1..L`` (``L = ceil((p-1)/2)``) pass towards position 0 going
   backwards, positions ``p-1..L+1`` going forwards; each member adds what it received
   from the member farther out to its own data and sends the sum on. The farthest member
   of the longer chain sends in round 0, so the reduce takes ``ceil((p-1)/2)`` rounds and
   the representative receives from both sides in the last one.
2. Only representatives go on to the level above; after the top level, each level
   broadcasts the result down its two chains (``ceil((p-1)/2)`` rounds again), top down.

Every message carries the whole buffer (in sub-chunks of ``sub_elems`` elements, which
pipeline along a chain), so a level costs about ``2 ceil((p-1)/2) (alpha + n / B)`` for
small ``n``: latency-optimal, not bandwidth-optimal (compare ``hierarchical_rsag``).
Messages go by rank on a separate tag per level; rounds are recorded per level with
phases ``reduce`` and ``broadcast``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import simulator.language as tl
from simulator.ccl.chain_sampling import ChainRun, Pieces, call_index, group
from simulator.ccl.periodic import settle
from simulator.ccl.registry import CclError, load_registry
from simulator.ccl.ring import REDUCERS, flat_view
from simulator.language.core import TensorView, _program

# (level, the direction whose ring it is), bottom up.
LEVELS = (("intra_cube", "E"), ("inter_cube", "N"), ("inter_sip", "parent"))
REDUCE, BROADCAST = "reduce", "broadcast"
# What each member of a chain does to a piece, one after the other: a piece in flight
# at each (the sampled chains' lead covers them, ``sampled_lead_pieces``).
STAGES_PER_HOP = {REDUCE: 3, BROADCAST: 2}  # receive, add, send / receive, send
# What a hop holds at least, a reduce's add aside: the piece that arrives while the
# member forwards the one before (the floor of a lead that shrinks, `relax`).
MIN_STAGES_PER_HOP = 2


def chain_rounds(p: int) -> int:
    """Rounds of one level's reduce (and of its broadcast): ``ceil((p - 1) / 2)``."""
    return p // 2


def chain_links(pos: int, p: int, prev_rank: int, next_rank: int) -> tuple[int | None, list[int]]:
    """(towards the representative, away from it) for the member at ``pos`` of ``p``:
    the rank it sends its partial sum to (None for the representative) and the ranks it
    receives partial sums from (none at the end of a chain)."""
    half = -(-(p - 1) // 2)  # L: the backward chain is positions 1..L
    if pos == 0:
        inward = []
        if p > 1:
            inward.append(next_rank)
        if p > 2:
            inward.append(prev_rank)
        return None, inward
    if pos <= half:  # backward chain: sends to pos - 1, hears from pos + 1
        return prev_rank, [next_rank] if pos < half else []
    # forward chain: sends to pos + 1 (pos p-1 sends to 0), hears from pos - 1
    return next_rank, [prev_rank] if pos > half + 1 else []


def chain_round(pos: int, p: int) -> int:
    """The round (0-based) in which the member at ``pos`` sends its reduce message;
    members nearer the representative send later."""
    half = -(-(p - 1) // 2)
    distance = pos if pos <= half else p - pos
    return chain_rounds(p) - distance


def seed_hierarchical_all_reduce(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int] = ()
) -> None:
    """All-reduce ``buf`` in place over every rank of the launch (``order`` and
    ``per_round`` unused: chains pipeline sub-chunk by sub-chunk)."""
    _chains(buf, reduce, sub_elems, sampled=False)


def seed_hierarchical_all_reduce_coarse(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int] = ()
) -> None:
    """The same algorithm on the coarse model (:mod:`simulator.ccl.chain_sampling`): each
    level's chains run the fine loop until their per-piece period has converged, then
    the last piece; the pieces between are waited out at that period. Same rounds,
    peers and bytes (``collective_rounds``) and data as the fine kernel."""
    _chains(buf, reduce, sub_elems, sampled=True)


def _chains(buf: TensorView, reduce: str, sub_elems: int, sampled: bool) -> None:
    """The chain reduce and broadcast of every level, over every piece of the buffer or
    (``sampled``) over the pieces a :class:`ChainRun` picks, the rest waited out."""
    view = flat_view(buf)
    n = view.shape[0]
    row = TensorView(view.va, (1, n), view.element_dtype, view.name)
    pieces = Pieces(n, sub_elems)
    op = REDUCERS[reduce]
    dtype = view.element_dtype
    program = _program()
    # Every level of more than one member, with its reduce and broadcast round bases
    # (the same on every rank: ranks fill cubes and SIPs evenly).
    sizes = [(tag, level, direction, tl.ring_position(direction))
             for tag, (level, direction) in enumerate(LEVELS)]  # fmt: skip
    sizes = [entry for entry in sizes if entry[3][1] > 1]
    total_up = sum(chain_rounds(p) for *_, (_, p) in sizes)
    # (tag, level, pos, p, to, froms, reduce base, broadcast base, representative rank)
    levels = []
    up_base = 0
    for i, (tag, level, direction, (pos, p)) in enumerate(sizes):
        down_base = total_up + sum(chain_rounds(q) for *_, (_, q) in sizes[i + 1 :])
        prev_rank, next_rank = tl.ring_neighbours(direction)
        to, froms = chain_links(pos, p, prev_rank, next_rank)
        rep = _representative(program, direction, pos, p) if sampled else None
        levels.append((tag, level, pos, p, to, froms, up_base, down_base, rep))
        up_base += chain_rounds(p)
        if pos != 0:
            break  # only representatives go up

    if sampled:
        cap = max_sampled_pieces()
        call = call_index()

    def chain_of(
        tag: int, phase: str, rep: int | None, p: int, sink: bool, senders: list[int]
    ) -> ChainRun | None:
        """The sampled run of one level's chain on this rank, which receives each piece
        from ``senders`` (None: every piece runs)."""
        if not sampled:
            return None
        # The reduce's last receiver is the representative; the broadcast's are the
        # ends of its chains (one when the level has two members).
        n_sinks = 1 if phase == REDUCE or p == 2 else 2
        lead, min_lead = sampled_lead_pieces(p, phase), min_sampled_lead_pieces(p)
        entry = group((call, tag, phase, rep), p, n_sinks, lead, min_lead)
        entry.buffers[program.rank] = (program, view)
        if sink:
            entry.sinks.add(program.rank)
        return ChainRun(entry, pieces, cap, [(rank, tag) for rank in senders])

    for tag, level, pos, p, to, froms, base, _, rep in levels:  # up: chain reduce
        my_round = base + chain_round(pos, p) if to is not None else None
        recv_round = base + chain_rounds(p) - 1 if to is None else my_round - 1
        chain = chain_of(tag, REDUCE, rep, p, to is None, froms)
        for lo, hi in pieces if chain is None else chain:
            acc = tl.load(tl.block_ptr(row, (0, lo), (1, hi - lo)))
            for frm in froms:
                with tl.round(recv_round, REDUCE, level):
                    acc = op(acc, tl.recv(frm, (1, hi - lo), dtype, tag=tag))
            if to is None:
                tl.store(tl.block_ptr(row, (0, lo), (1, hi - lo)), acc)
            else:
                with tl.round(my_round, REDUCE, level):
                    tl.send(acc, to, tag=tag)
        if chain is not None:
            settle(chain.wait_ns(), f"the skipped pieces of {level}")
            sent = {my_round} if to is not None else set()
            chain.scale_rounds(sent | ({recv_round} if froms else set()))
            if to is None:
                chain.reduce_data(view, reduce)
        else:
            tl.fence()  # the level above loads what this one stored
    for tag, level, pos, p, to, froms, _, down_base, rep in reversed(levels):  # down: broadcast
        rounds = chain_rounds(p)
        # In the broadcast the chains run outwards: a member receives from `to` (towards
        # the representative) and sends to each of `froms`.
        distance = rounds - chain_round(pos, p) if to is not None else 0
        chain = chain_of(tag, BROADCAST, rep, p, not froms, [to] if to is not None else [])
        for lo, hi in pieces if chain is None else chain:
            ptr = tl.block_ptr(row, (0, lo), (1, hi - lo))
            if to is None:
                value = tl.load(ptr)
            else:
                with tl.round(down_base + distance - 1, BROADCAST, level):
                    value = tl.recv(to, (1, hi - lo), dtype, tag=tag)
                tl.store(ptr, value)
            for child in froms:
                with tl.round(down_base + distance, BROADCAST, level):
                    tl.send(value, child, tag=tag)
        if chain is not None:
            settle(chain.wait_ns(), f"the skipped pieces of {level}")
            sent = {down_base + distance} if froms else set()
            chain.scale_rounds(sent | ({down_base + distance - 1} if to is not None else set()))
            if to is not None:
                chain.copy_data(view, rep)
        else:
            tl.fence()


def _representative(program, direction: str, pos: int, p: int) -> int:
    """The rank at position 0 of this rank's ring in ``direction`` (``p`` members, this
    rank at ``pos``)."""
    peers = program.machine.ipcq.endpoint(program).peers
    walk = [program.rank]
    for _ in range(p - 1):
        walk.append(peers.send_peer(walk[-1], direction))
    return walk[(p - pos) % p]


def sampled_lead_pieces(p: int, phase: str) -> int:
    """How many pieces the members of a sampled chain of a ``p``-member level may run
    ahead of its last receivers at first: enough for what its pipeline holds at full
    pace, the larger of ``ccl.yaml``'s ``hierarchical.defaults.sampled_lead_per_slot``
    times the topology's ``pe.ipcq.slots`` (what the inboxes buffer) and
    ``sampled_lead_per_stage`` times the pieces in flight along the chain: its hops
    (``chain_rounds(p)``) times the ``phase``'s stages at each (``STAGES_PER_HOP``),
    rounded up. (A 16-member chain across a 4x4 mesh, 8 hops, held to two slots' lead
    of 8 pieces ran 11 % slow; its reduce at 2 pieces a hop with slower mesh links,
    1.4-2.2 %.)"""
    return _lead_pieces(p, STAGES_PER_HOP[phase])


def min_sampled_lead_pieces(p: int) -> int:
    """The least lead of a sampled chain of a ``p``-member level, which its gate shrinks
    to while messages queue unused in front of the chain's last receivers: as
    :func:`sampled_lead_pieces` with ``MIN_STAGES_PER_HOP`` stages a hop (a reduce's
    add may then wait; with 1.5 a hop a cube's reduce ran 0.55 % fast, and a lead of
    two inbox slots, 4 pieces, in 16-member chains with 2 slots 0.23 % slow)."""
    return _lead_pieces(p, MIN_STAGES_PER_HOP)


def _lead_pieces(p: int, stages_per_hop: int) -> int:
    """The larger of the inboxes' term and the chain's ``stages_per_hop`` term."""
    slots = _program().machine.ipcq.config.slots
    return max(
        math.ceil(_coarse_default("sampled_lead_per_slot") * slots),
        math.ceil(_coarse_default("sampled_lead_per_stage") * chain_rounds(p) * stages_per_hop),
    )


def max_sampled_pieces() -> int:
    """Pieces a chain group runs at most before it gives up sampling (``ccl.yaml``:
    ``hierarchical.defaults.max_sampled_pieces``)."""
    return int(_coarse_default("max_sampled_pieces"))


def _coarse_default(key: str) -> float:
    """``ccl.yaml``'s ``hierarchical.defaults.<key>``, a knob of the coarse model (the
    registry checks it is positive where given; a CclError names it when missing)."""
    defaults = load_registry().algorithms["all_reduce"]["hierarchical"].defaults
    if key not in defaults:
        raise CclError(
            f"ccl.yaml: all_reduce.algorithms.hierarchical.defaults.{key}: missing "
            "(the coarse model of the seed's chains needs it)"
        )
    return float(defaults[key])
