"""Ring all-reduce, and the ring steps every CCL algorithm is built from.

A ring of ``p`` members reduces an element range of each member's buffer: the range is
cut into ``p`` chunks; reduce-scatter takes ``p - 1`` rounds (in round ``t`` a member
sends chunk ``pos - t`` to the next member, receives chunk ``pos - t - 1`` from the
previous one and adds its own copy to it), after which member ``pos`` owns the reduced
chunk ``pos + 1``; all-gather takes ``p - 1`` more rounds passing the reduced chunks on.
Alpha-beta cost (Thakur, Rabenseifner, Gropp 2005): ``2(p-1)(alpha + n/(p B))``.

Pipelining, as NCCL does it: each chunk moves in sub-chunks of ``sub_elems`` elements,
so the MATH add of one sub-chunk hides behind the transfer of the next, and a round's
result goes on to the next member as soon as it is ready. The range is processed in
blocks of ``per_round`` sub-chunks per chunk, all rounds of a block before the next
block, so with ``per_round <= slots / 2`` an inbox holds about the round being consumed
and the next one, and the ring never fills up (a full ring of forwarding members would
deadlock). The next block's first sub-chunks go out one per sub-chunk received in the
last round, whose slots free locally (a store), keeping that bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields

import simulator.language as tl
from simulator.ccl import periodic
from simulator.language.core import TensorView, _program

REDUCE_SCATTER, ALL_GATHER = "reduce_scatter", "all_gather"

REDUCERS: dict[str, Callable[[tl.tensor, tl.tensor], tl.tensor]] = {
    "sum": lambda a, b: a + b,
    "product": lambda a, b: a * b,
    "max": tl.maximum,
    "min": tl.minimum,
}


def flat_view(view: TensorView) -> TensorView:
    """The whole shard as a 1-D view (row-major, so contiguous)."""
    n = 1
    for s in view.shape:
        n *= s
    return TensorView(view.va, (n,), view.element_dtype, view.name)


@dataclass(frozen=True)
class Ring:
    """One ring over an element range ``[lo, hi)`` of a 1-D buffer, seen by one member."""

    view: TensorView
    lo: int
    hi: int
    size: int
    pos: int
    send_to: str | int
    recv_from: str | int
    tag: int
    level: str | None
    sub_elems: int
    per_round: int
    reduce: Callable[[tl.tensor, tl.tensor], tl.tensor]

    def chunk(self, i: int) -> tuple[int, int]:
        """Element range of chunk ``i`` (nearly equal chunks, as numpy.array_split)."""
        base, extra = divmod(self.hi - self.lo, self.size)
        start = self.lo + i * base + min(i, extra)
        return start, start + base + (1 if i < extra else 0)

    def owned(self) -> tuple[int, int]:
        """The chunk this member holds reduced after reduce-scatter."""
        return self.chunk((self.pos + 1) % self.size)

    def n_blocks(self) -> int:
        longest = -(-(self.hi - self.lo) // self.size)
        return max(1, -(-longest // (self.sub_elems * self.per_round)))

    def subs(self, i: int, b: int) -> list[tuple[int, int]]:
        """Non-empty sub-chunk ranges of chunk ``i`` in block ``b``."""
        lo, hi = self.chunk(i)
        step = self.sub_elems
        start = lo + b * step * self.per_round
        end = min(hi, start + step * self.per_round)
        return [(s, min(s + step, end)) for s in range(start, end, step)]


def _row_view(view: TensorView) -> TensorView:
    """The 1-D ``view`` as the 1 x n view ``tl.make_block_ptr`` would build from it."""
    if len(view.shape) == 2:
        return view
    return TensorView(view.va, (1, view.shape[0]), view.element_dtype, view.name)


def _ptr(row: TensorView, lo: int, hi: int) -> tl.block_ptr:
    # Built directly on a prepared 1 x n view: make_block_ptr would rebuild that view
    # per sub-chunk (the bounds are still checked when the tile is loaded or stored).
    return tl.block_ptr(row, (0, lo), (1, hi - lo))


def ring_steps(ring: Ring, first_round: int, rs: bool, ag: bool) -> Iterator[None]:
    """Run reduce-scatter (``rs``) and/or all-gather (``ag``) on ``ring``; yields after
    each received sub-chunk so two rings can be interleaved.

    Rounds are numbered from ``first_round``: reduce-scatter uses ``p - 1`` of them, then
    all-gather ``p - 1``. All-gather alone starts from the owned chunk in the buffer.
    During a block's last round the next block's injected sub-chunks are loaded, and
    sent one per sub-chunk received, so the link stays busy across block boundaries.
    """
    p = ring.size
    if p == 1:
        return
    view, dtype, tag, level = _row_view(ring.view), ring.view.element_dtype, ring.tag, ring.level
    send_to, recv_from = ring.send_to, ring.recv_from
    ag_first = first_round + (p - 1 if rs else 0)

    def loads(chunk: int, b: int) -> list[tuple[int, int, tl.tensor]]:
        return [(lo, hi, tl.load(_ptr(view, lo, hi))) for lo, hi in ring.subs(chunk % p, b)]

    def first_loads(b: int) -> list:
        """Block ``b``'s injected sub-chunks, loaded."""
        return loads(ring.pos if rs else ring.pos + 1, b)

    inject_round = first_round if rs else ag_first
    inject_phase = REDUCE_SCATTER if rs else ALL_GATHER

    def send_one(pending: list) -> None:
        _, _, blk = pending.pop()
        with tl.round(inject_round, inject_phase, level):
            tl.send(blk, send_to, tag=tag)

    inject = first_loads(0)
    inject.reverse()
    b = 0
    # A sampled ring (SampledRing) learns how many blocks it runs as it runs them.
    while b < ring.n_blocks():
        last_block = b == ring.n_blocks() - 1
        while inject:  # what the previous block's last round did not send yet
            send_one(inject)
        if rs:
            for t in range(p - 1):
                last = t == p - 2
                operands = loads(ring.pos - t - 1, b)
                if last and not ag and not last_block:
                    inject = first_loads(b + 1)
                    inject.reverse()
                next_phase = ALL_GATHER if last else REDUCE_SCATTER
                operands.reverse()
                while operands:
                    lo, hi, mine = operands.pop()
                    with tl.round(first_round + t, REDUCE_SCATTER, level):
                        x = tl.recv(recv_from, (1, hi - lo), dtype, tag=tag)
                    y = ring.reduce(mine, x)
                    del x, mine  # the inbox slot frees once the add is done
                    if last:
                        tl.store(_ptr(view, lo, hi), y)
                    if not last or ag:
                        with tl.round(first_round + t + 1, next_phase, level):
                            tl.send(y, send_to, tag=tag)
                    elif inject:
                        send_one(inject)  # keeps the link busy across the block boundary
                    del y
                    yield
        if ag:
            for t in range(p - 1):
                last = t == p - 2
                if last and not last_block:
                    inject = first_loads(b + 1)
                    inject.reverse()
                for lo, hi in ring.subs((ring.pos - t) % p, b):
                    with tl.round(ag_first + t, ALL_GATHER, level):
                        x = tl.recv(recv_from, (1, hi - lo), dtype, tag=tag)
                    tl.store(_ptr(view, lo, hi), x)
                    if not last:
                        with tl.round(ag_first + t + 1, ALL_GATHER, level):
                            tl.send(x, send_to, tag=tag)
                    elif inject:
                        send_one(inject)  # keeps the link busy across the block boundary
                    del x
                    yield
        b += 1


def make_ring(
    view: TensorView,
    order: Sequence[int],
    reverse: bool,
    lo: int,
    hi: int,
    reduce: str,
    sub_elems: int,
    per_round: int,
    tag: int,
) -> Ring:
    """This rank's member view of the ring through ``order`` (ranks), forwards or
    reversed, over ``[lo, hi)``."""
    ranks = list(order)[::-1] if reverse else list(order)
    p = len(ranks)
    pos = ranks.index(tl.rank())
    return Ring(
        view,
        lo,
        hi,
        p,
        pos,
        ranks[(pos + 1) % p],
        ranks[pos - 1],
        tag,
        None,
        sub_elems,
        per_round,
        REDUCERS[reduce],
    )


def ring_all_reduce(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int]
) -> None:
    """All-reduce ``buf`` in place around the ring of ranks ``order``."""
    view = flat_view(buf)
    ring = make_ring(view, order, False, 0, view.shape[0], reduce, sub_elems, per_round, 0)
    for _ in ring_steps(ring, 0, rs=True, ag=True):
        pass


@dataclass(frozen=True)
class SampledRing(Ring):
    """``Ring`` running only some of its blocks (:mod:`simulator.ccl.periodic`): block
    ``b`` of this ring is block ``plan.block(b)`` of the real one."""

    plan: periodic.BlockPlan | None = None

    def n_blocks(self) -> int:
        return self.plan.length()

    def subs(self, i: int, b: int) -> list[tuple[int, int]]:
        return Ring.subs(self, i, self.plan.block(b))


REDUCE_NAMES = {fn: name for name, fn in REDUCERS.items()}


def sampled_ring_steps(
    ring: Ring, first_round: int, rs: bool, ag: bool, order: Sequence[int] | None = None
) -> tuple[Iterator[None], periodic.SampledRun | None]:
    """:func:`ring_steps` on the coarse model: its blocks until their period repeats,
    then the last two (all of them when there are few, or the period does not settle),
    with what :func:`periodic.settle` and :func:`periodic.complete` need for the rest
    (None when every block runs anyway). ``order``: the ring's ranks by position, if it
    was built from them."""
    if ring.n_blocks() <= periodic.MIN_SAMPLED_BLOCKS or ring.size == 1:
        return ring_steps(ring, first_round, rs, ag), None
    plan = periodic.plan_of(ring, order, periodic.MAX_SAMPLED_BLOCKS)
    program = _program()
    if program.machine.data is not None:
        plan.buffers[ring.pos] = (program, ring.view)
    sampled = SampledRing(*(getattr(ring, f.name) for f in fields(Ring)), plan=plan)
    run = periodic.SampledRun(ring, plan, first_round, rs, ag, REDUCE_NAMES[ring.reduce])
    return periodic.timed(ring_steps(sampled, first_round, rs, ag), sampled, rs, ag, plan), run


def finish_sampled(runs: Sequence[periodic.SampledRun | None]) -> None:
    """Wait out the skipped blocks of ``runs`` and complete their rounds and data.

    Rings in flight together wait once: until the latest of their sampled ends plus
    their own waits (they may have sampled different numbers of blocks, so the ring that
    ran more blocks has fewer left to wait)."""
    done = [run for run in runs if run is not None]
    if not done:
        return
    last_ns = max(run.last_end_ns() for run in done)
    wait_ns = max(run.last_end_ns() + run.wait_ns() for run in done) - last_ns
    periodic.settle(wait_ns, "the sampled-out ring blocks")
    periodic.complete(done, wait_ns)


def ring_all_reduce_coarse(
    buf: TensorView, reduce: str, sub_elems: int, per_round: int, order: Sequence[int]
) -> None:
    """:func:`ring_all_reduce` on the coarse model (:mod:`simulator.ccl.periodic`)."""
    view = flat_view(buf)
    ring = make_ring(view, order, False, 0, view.shape[0], reduce, sub_elems, per_round, 0)
    steps, run = sampled_ring_steps(ring, 0, True, True, order)
    for _ in steps:
        pass
    finish_sampled([run])
