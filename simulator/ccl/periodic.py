"""Block sampling for the ring kernels' coarse model: the fine schedule of a few blocks,
plus the rest at the measured period. (The seed's chains sample pieces until their
period converges instead: :mod:`simulator.ccl.chain_sampling`.)

The fine ring (:func:`simulator.ccl.ring.ring_steps`) moves a chunk in blocks of
``per_round`` sub-chunks, and each block goes through every round before the next one
starts (only its first sub-chunks overlap the previous block's last round). The blocks
repeat one schedule (each adds the same time to 0.0 % on one cube, to 0.3 % over the
mesh links of 32 ranks), so the fine latency is affine in the number of blocks ``N``::

    T(N) = T(blocks 0, 1, N - 2 and N - 1) + (N - 4) * period

where ``period`` is the time one block adds. The coarse ring kernels run exactly that:
the fine kernel over blocks ``0``, ``1``, ``N - 2`` and ``N - 1`` (the last one holds
the ragged tail; the one before it overlaps the tail's start in its last round, as in
the full run), ``period`` measured as the time between the ends of blocks 0 and 1 on
this rank (when it receives a block's last sub-chunk; block 1 is followed by a full
block, as in the full run), then a wait of ``(N - 4) * period`` after the ring's
traffic has drained. Cost: four blocks of fine traffic, whatever the size.
The error is how far the blocks' periods drift from the first one (contention that
settles over several blocks); ``tests/test_ccl_coarse.py`` measures it.

What the sampled run keeps of the fine one: every ``collective_rounds`` row, with the
skipped blocks' bytes added and its end moved by the wait (every round has traffic in
the last block); the DMA rows of the sampled blocks only; and the data (``--verify-data``):
the skipped blocks' elements are reduced with numpy from the members' buffers, once per
ring, by the first member to finish it (every member has started the ring by then, and
nothing touches those elements but this).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.ccl.coarse import REDUCE_NUMPY, launch_table
from simulator.language import comm, lowering
from simulator.language.core import _program

# Blocks run on the fine schedule: the first two (the period) and the last two (the
# ragged tail, and the block before it, whose last round overlaps the tail's start).
SAMPLED_BLOCKS = 4


@dataclass(frozen=True)
class Sampling:
    """Which blocks of a ring run (``blocks``, in order) and which are skipped."""

    blocks: tuple[int, ...]
    skipped: tuple[int, ...]


def sampling(n_blocks: int) -> Sampling | None:
    """The blocks to run of ``n_blocks``, or None when every block runs anyway."""
    if n_blocks <= SAMPLED_BLOCKS:
        return None
    return Sampling((0, 1, n_blocks - 2, n_blocks - 1), tuple(range(2, n_blocks - 2)))


def block_bytes(ring: Any, chunk: int, blocks: Sequence[int]) -> int:
    """Bytes of chunk ``chunk`` in ``blocks`` (sub-chunks of the real ring)."""
    isz = ring.view.dtype.itemsize
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


def timed(steps: Iterator[None], ring: Any, rs: bool, ag: bool, ends_ns: list[float]):
    """Re-yield ``steps`` (a sampled ring's), appending the time each block's last
    sub-chunk was received to ``ends_ns``."""
    env = _program().machine.env
    left = [recvs_per_block(ring, rs, ag, b) for b in range(ring.n_blocks())]
    block = 0
    while block < len(left) and left[block] == 0:
        block += 1
    for _ in steps:
        if block < len(left):
            left[block] -= 1
            if left[block] == 0:
                ends_ns.append(env.now)
                block += 1
        yield


def period_ns(ends_ns: list[float]) -> float:
    """The per-block period from the sampled blocks' end times (blocks 0 and 1)."""
    return ends_ns[1] - ends_ns[0] if len(ends_ns) >= 2 else 0.0


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


def register(ring: Any, key: tuple) -> dict:
    """This member's entry in the launch-wide table of sampled rings (for the data)."""
    program = _program()
    table = launch_table("sampled_rings")
    entry = table.setdefault(key, {"members": {}, "result": None})
    entry["members"][ring.pos] = (program, ring.view)
    return entry


@dataclass
class SampledRun:
    """One ring of this rank run on sampled blocks: what :func:`complete` needs."""

    ring: Any  # the real (unsampled) ring
    plan: Sampling
    first_round: int
    rs: bool
    ag: bool
    reduce: str
    entry: dict | None
    ends_ns: list[float]

    def wait_ns(self) -> float:
        """The skipped blocks' time: their count times the measured period."""
        return len(self.plan.skipped) * period_ns(self.ends_ns)


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
        p, pos = real.size, real.pos
        rounds = (2 if run.rs and run.ag else 1) * (p - 1)
        for r in range(rounds):
            stats = ep.rounds.get(run.first_round + r)
            if stats is None:
                continue
            send_chunk = pos - r if run.rs else pos + 1 - r
            if stats.sent_bytes:
                stats.sent_bytes += block_bytes(real, send_chunk, plan.skipped)
            if stats.recv_bytes:
                stats.recv_bytes += block_bytes(real, send_chunk - 1, plan.skipped)
            if id(stats) not in moved:
                moved.add(id(stats))
                stats.end_ns += wait_ns
        if machine.data is not None and run.entry is not None:
            _data(real, plan, run.rs, run.ag, run.reduce, run.entry)


def _data(ring: Any, plan: Sampling, rs: bool, ag: bool, reduce: str, entry: dict) -> None:
    """Give this member the fine result on the skipped blocks' elements."""
    p = ring.size
    if entry["result"] is None:  # the first member to finish computes every member's
        members = entry["members"]
        op = REDUCE_NUMPY[reduce]
        result: dict[int, list] = {pos: [] for pos in range(p)}
        for c in range(p):
            for b in plan.skipped:
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
        entry["result"] = result
    program, view = entry["members"][ring.pos]
    for lo, values in entry["result"][ring.pos]:
        lowering.write_run(program, view, lo, values)
