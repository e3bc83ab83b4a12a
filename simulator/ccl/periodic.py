"""Block sampling for the ring kernels' coarse model: the fine schedule of the blocks
until their period repeats, plus the rest at that period. (The seed's chains sample
pieces the same way: :mod:`simulator.ccl.chain_sampling`.)

The fine ring (:func:`simulator.ccl.ring.ring_steps`) moves a chunk in blocks of
``per_round`` sub-chunks, and each block goes through every round before the next one
starts (only its first sub-chunks overlap the previous block's last round). After a
transient of a block or two the blocks repeat one schedule, or a cycle of two or three
(a level above or below taking turns), so the fine latency is affine in the number of
blocks ``N``::

    T(N) = T(blocks 0 .. K - 1, N - 2 and N - 1) + (N - 2 - K) * period

where ``period`` is the time one block adds. The coarse ring kernels run exactly that:
every member notes when it receives each block's last sub-chunk in a plan the ring's
members share (:class:`BlockPlan`). When a member first needs block ``K``'s sub-chunks
and every member's block ends repeat with one cycle (:func:`chain_sampling.cycle_period_ns`
within ``BLOCK_PERIOD_RTOL``: unlike the chains' pieces, blocks jitter, and so does the
PE's state where a block ends), the plan skips from ``K`` (whole cycles): that sampled
block runs block ``N - 2`` (the block before the ragged tail, which its last round
overlaps) and the next one block ``N - 1``; after the ring's traffic has drained each
member waits ``(N - 2 - K) * period``. Rings in flight together (``bidir_ring``) decide
together (:func:`run_together`), so neither runs its last blocks alone. A ring whose
blocks do not repeat by ``MAX_SAMPLED_BLOCKS`` runs every block: the fine kernel,
exactly. Cost: the blocks to convergence (six or more, plus the last two), whatever the
size.

(Taking the period from blocks 0 and 1 alone was up to 3 % off: a first block that
runs faster, and levels whose blocks alternate in a cycle of two or three.)

What the sampled run keeps of the fine one: every ``collective_rounds`` row, with the
skipped blocks' bytes added and its end moved by the wait (every round has traffic in
the last block); the DMA rows of the sampled blocks only; and the data (``--verify-data``):
the skipped blocks' elements are reduced with numpy from the members' buffers, once per
ring, by the first member to finish it (every member has started the ring by then, and
nothing touches those elements but this).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.ccl.chain_sampling import CONVERGED_PERIODS, MAX_CYCLE, cycle_period_ns
from simulator.ccl.coarse import REDUCE_NUMPY, launch_table
from simulator.language import comm, lowering
from simulator.language.core import _program

# Rings of at most this many blocks run every block (nothing would be left to skip).
MIN_SAMPLED_BLOCKS = 4
# A ring whose block period has not repeated by this sampled block runs every block.
MAX_SAMPLED_BLOCKS = 32
# A ring's block period has converged when its members' mean block ends repeat within
# this (relative; the chains' pieces, which repeat exactly, use 1e-4).
BLOCK_PERIOD_RTOL = 2e-3


@dataclass
class BlockPlan:
    """Which blocks the members of one sampled ring run, decided while they run (they
    must all run the same ones): sampled block ``b`` is real block ``block(b)``."""

    n_blocks: int  # N, of the real ring
    members: int
    cap: int  # blocks sampled at most before giving up (running every block)
    # position -> end times (ns) of its blocks.
    ends_ns: dict[int, list[float]] = field(default_factory=dict)
    # The sampled block that runs block N - 2 (blocks tail .. N - 3 are skipped).
    tail: int | None = None
    period_ns: float = 0.0
    asked: int = 0  # the highest sampled block asked for so far
    gave_up: bool = False  # every block runs
    # The plans of the rings in flight with this one (itself included), which decide
    # together: a ring that ran fewer blocks would leave the other its engines and links
    # alone. Empty: it runs alone.
    partners: list[BlockPlan] = field(default_factory=list)
    # position -> (program, view) of the member, and the skipped elements' result
    # (the data mode).
    buffers: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    result: dict[int, list] | None = None

    def block(self, b: int) -> int:
        """The real block of sampled block ``b`` (the first ask of a block past the
        ones asked for may decide the plan)."""
        if b > self.asked:
            self.asked = b
            if self.tail is None and not self.gave_up:
                self._decide(b)
        tail = self.tail
        if tail is None or b < tail:
            return b
        return self.n_blocks - 2 + b - tail

    def length(self) -> int:
        """How many blocks the members run (N until the plan skips)."""
        return self.n_blocks if self.tail is None else self.tail + 2

    def skipped(self) -> range:
        """The real blocks waited out (empty while every block runs)."""
        return range(0) if self.tail is None else range(self.tail, self.n_blocks - 2)

    def converged(self) -> tuple[int, float] | None:
        """(cycle, per-block period in ns) once the members' mean block ends repeat at
        one period; None before. (Each member's own ends jitter by up to ~0.4 % as its
        flows share links at shifting offsets; the mean over the ring's members, who all
        run at the ring's pace, keeps a transient or a cycle but not that noise.)"""
        if len(self.ends_ns) < self.members:
            return None
        n_ends = min(len(ends) for ends in self.ends_ns.values())
        last = min(n_ends, MAX_CYCLE * (CONVERGED_PERIODS + 2) + 1)
        if last == 0:
            return None
        mean_ns = [
            sum(ends[b] for ends in self.ends_ns.values()) / self.members
            for b in range(n_ends - last, n_ends)
        ]
        found = cycle_period_ns(mean_ns, rtol=BLOCK_PERIOD_RTOL)
        if found is None:
            return None
        # The mean over the whole cycles checked.
        span = found[0] * (CONVERGED_PERIODS + 2)
        return found[0], (mean_ns[-1] - mean_ns[-1 - span]) / span

    def _decide(self, b: int) -> None:
        """Skip from sampled block ``b`` on (or the first one after it that keeps whole
        cycles, and that no partner has asked for yet) once every ring of the group has
        converged; give up past ``cap`` or when nothing would be left to skip."""
        group = self.partners or [self]
        if b > self.cap or any(b > plan.n_blocks - 3 for plan in group):
            for plan in group:
                plan.gave_up = True
            return
        found = [plan.converged() for plan in group]
        if None in found:
            return
        cycle = math.lcm(*(cycle for cycle, _ in found))
        tail = max([b] + [plan.asked + 1 for plan in group if plan is not self])
        tail += (self.n_blocks - 2 - tail) % cycle  # skip whole cycles
        if any(tail > plan.n_blocks - 3 for plan in group):
            return
        for plan, (_, period_ns) in zip(group, found, strict=True):
            plan.tail, plan.period_ns = tail, period_ns


def run_together(runs: Sequence[SampledRun | None]) -> None:
    """Make the sampled rings of ``runs`` (in flight together on every member) decide
    their blocks together."""
    plans = [run.plan for run in runs if run is not None]
    if len(plans) > 1:
        for plan in plans:
            plan.partners = plans


def plan_of(ring: Any, order: Sequence[int] | None, cap: int) -> BlockPlan:
    """The launch-wide plan this member shares with the rest of ``ring`` (keyed by the
    ring, and by how often this rank ran that ring before in the launch)."""
    key = (ring.tag, ring.level, ring.lo, ring.hi, members_of(ring, order))
    calls = launch_table("sampled_ring_calls")
    index = calls.get((_program().rank, key), 0)
    calls[(_program().rank, key)] = index + 1
    table = launch_table("sampled_rings")
    plan = table.get((key, index))
    if plan is None:
        plan = table[(key, index)] = BlockPlan(ring.n_blocks(), ring.size, cap)
    return plan


def block_bytes(ring: Any, chunk: int, blocks: Sequence[int]) -> int:
    """Bytes of chunk ``chunk`` in ``blocks`` (sub-chunks of the real ring)."""
    isz = ring.view.element_dtype.itemsize
    return sum(hi - lo for b in blocks for lo, hi in ring.subs(chunk % ring.size, b)) * isz


def recvs_per_block(ring: Any, rs: bool, ag: bool, block: int) -> int:
    """Sub-chunks this member receives in ``block`` (the fine kernel yields after each)."""
    p, pos = ring.size, ring.pos
    chunks = []
    if rs:
        chunks += [pos - t - 1 for t in range(p - 1)]
    if ag:
        chunks += [pos - t for t in range(p - 1)]
    return sum(len(ring.subs(c % p, block)) for c in chunks)


def timed(steps: Iterator[None], ring: Any, rs: bool, ag: bool, plan: BlockPlan):
    """Re-yield ``steps`` (a sampled ring's), noting in ``plan`` when each block's last
    sub-chunk was received."""
    env = _program().machine.env
    ends = plan.ends_ns.setdefault(ring.pos, [])
    block = 0
    left = recvs_per_block(ring, rs, ag, 0)
    while left == 0 and block + 1 < ring.n_blocks():
        block += 1
        left = recvs_per_block(ring, rs, ag, block)
    for _ in steps:
        if left > 0:
            left -= 1
            if left == 0:
                ends.append(env.now)
                # Its next block's sub-chunks were asked for in this one's last round.
                block += 1
                if block < ring.n_blocks():
                    left = recvs_per_block(ring, rs, ag, block)
        yield


def members_of(ring: Any, order: Sequence[int] | None = None) -> tuple[int, ...]:
    """The ranks of ``ring`` by position: ``order`` when the ring was built from one
    (already in ring direction), else walked along its send direction."""
    if order is not None:
        return tuple(order)
    program = _program()
    peers = program.machine.ipcq.endpoint(program).peers
    walk = [program.rank]
    for _ in range(ring.size - 1):
        walk.append(peers.send_peer(walk[-1], ring.send_to))
    return tuple(walk[(i - ring.pos) % ring.size] for i in range(ring.size))


@dataclass
class SampledRun:
    """One ring of this rank run on sampled blocks: what :func:`complete` needs."""

    ring: Any  # the real (unsampled) ring
    plan: BlockPlan
    first_round: int
    rs: bool
    ag: bool
    reduce: str

    def wait_ns(self) -> float:
        """The skipped blocks' time: their count times the converged period."""
        return len(self.plan.skipped()) * self.plan.period_ns

    def last_end_ns(self) -> float:
        """When this member received its last sampled block (0 before any)."""
        ends = self.plan.ends_ns.get(self.ring.pos)
        return ends[-1] if ends else 0.0


def settle(wait_ns: float, what: str) -> None:
    """Drain this rank's traffic, then wait ``wait_ns`` (the skipped blocks)."""
    program = _program()
    comm.fence()
    if wait_ns > 0:
        machine = program.machine
        machine.scheduler.wait(machine.env.timeout(wait_ns), f"{what} of rank {program.rank}")


def complete(runs: Sequence[SampledRun], wait_ns: float) -> None:
    """After :func:`settle`: add the skipped blocks' bytes to this rank's rounds, move
    their ends by ``wait_ns`` (once, also for rounds two rings share), and (data mode)
    write the skipped blocks' elements."""
    program = _program()
    machine = program.machine
    ep = machine.ipcq.endpoint(program)
    moved: set = set()
    for run in runs:
        real, plan = run.ring, run.plan
        skipped = plan.skipped()
        if not skipped:
            continue
        p, pos = real.size, real.pos
        rounds = (2 if run.rs and run.ag else 1) * (p - 1)
        for r in range(rounds):
            stats = ep.rounds.get(run.first_round + r)
            if stats is None:
                continue
            send_chunk = pos - r if run.rs else pos + 1 - r
            if stats.sent_bytes:
                stats.sent_bytes += block_bytes(real, send_chunk, skipped)
            if stats.recv_bytes:
                stats.recv_bytes += block_bytes(real, send_chunk - 1, skipped)
            if id(stats) not in moved:
                moved.add(id(stats))
                stats.end_ns += wait_ns
        if machine.data is not None:
            _data(real, plan, run.rs, run.ag, run.reduce)


def _data(ring: Any, plan: BlockPlan, rs: bool, ag: bool, reduce: str) -> None:
    """Give this member the fine result on the skipped blocks' elements."""
    p = ring.size
    if plan.result is None:  # the first member to finish computes every member's
        members = plan.buffers
        op = REDUCE_NUMPY[reduce]
        result: dict[int, list] = {pos: [] for pos in range(p)}
        for c in range(p):
            for b in plan.skipped():
                for lo, hi in ring.subs(c, b):
                    values = [
                        np.array(lowering.read_run(members[m][0], members[m][1], lo, hi - lo))
                        for m in range(p)
                    ]
                    if rs:
                        total = values[0]
                        for v in values[1:]:
                            total = op(total, v).astype(values[0].dtype, copy=False)
                        # Reduce-scatter alone leaves it with the owner (pos + 1 = c).
                        targets = range(p) if ag else [(c - 1) % p]
                        for m in targets:
                            result[m].append((lo, total))
                    else:  # all-gather only: every member gets the owner's
                        owner = values[(c - 1) % p]
                        for m in range(p):
                            result[m].append((lo, owner))
        plan.result = result
    program, view = plan.buffers[ring.pos]
    for lo, values in plan.result[ring.pos]:
        lowering.write_run(program, view, lo, values)
