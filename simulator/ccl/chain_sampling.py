"""Adaptive sampling for the seed chains' coarse model: the fine schedule until its
per-piece period has converged, the rest at that period.

The seed's chains (:mod:`simulator.ccl.hierarchical_seed`) move the whole buffer at
each level as ``S`` pieces of ``sub_elems`` elements, pipelined along the chain; inbox
slots hold every sender to its receiver's pace, so after a transient (a few to some tens
of pieces: the chain fills, then the slots' backpressure settles) each member finishes
one piece every ``period``, and the fine latency of a level is affine in ``S``::

    T(S) = T(K + 1 pieces) + (S - 1 - K) * period

The coarse kernel runs exactly that: every member of a chain group (one level's
``p`` members, both sides of the representative, one phase: reduce or broadcast)
runs the fine loop piece by piece and notes when it finishes each piece, and its PE's
ops in flight and TCM in use then, in a table the group shares. Once the finish times
of its last receivers (the sinks) repeat, and their PEs' state with them
(:func:`cycle_period_ns`: a queue still filling can hold a steady-looking pace for
several pieces), the group decides ``K``: the first piece no member has
started yet. Each member then goes from piece ``K - 1`` straight to the last piece
(the ragged one), and after the level's fence waits ``(S - 1 - K) * period``. A group
that has not converged by ``max_sampled_pieces`` (``ccl.yaml``) runs every piece: the
fine kernel, exactly. The cost is the pieces to convergence, whatever the size.

The pieces started by then must all run, and a chain's members issue their loads and
sends far ahead of its sinks (in a cube's chain of four hops the farthest member is
~45 pieces ahead when the representative's period has converged). So while a group
samples, a lead gate holds every member at most ``lead`` pieces after its slowest
sink (:func:`simulator.ccl.hierarchical_seed.sampled_lead_pieces`: what the inboxes
buffer, or the pieces in flight along the chain if more): what the sinks receive keeps
its pace, and ``K`` is at most ``lead`` pieces past convergence. A gate too tight would
starve the sinks and change the period (16 members across a 4x4 mesh held to 8 pieces:
11 % slow); with that lead it is the fine period on every topology and parameter
measured (``tests/test_ccl_coarse.py``, README: "Collective models"). Where that lead
is more than the chain needs, its surplus shows as messages queued in front of the
sinks, and the gate shrinks by it (:meth:`Group.relax`), down to what the inboxes
buffer or 2 pieces a hop if more
(:func:`~simulator.ccl.hierarchical_seed.min_sampled_lead_pieces`): a cube's reduce,
whose representative adds two messages a piece, runs 8 pieces ahead of it rather than
12.

What the sampled run keeps of the fine one: every ``collective_rounds`` row, with its
bytes scaled to the whole message and its end moved by the wait; the DMA rows of the
sampled pieces only; and the data (``--verify-data``): at the end of a reduce level
the representative writes the skipped pieces' reduction of every member's buffer
(computed with numpy; no member writes those elements during the reduce), and at the
end of a broadcast level each member copies them from its representative (whose
buffer is final by then).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.ccl.coarse import REDUCE_NUMPY, launch_table
from simulator.language import lowering
from simulator.language.core import _program

# The steady state: a sink's cycle times repeat within PERIOD_RTOL (relative) over
# CONVERGED_PERIODS + 1 cycles (see cycle_period_ns).
CONVERGED_PERIODS = 1
PERIOD_RTOL = 1e-4
# The longest cycle (in pieces) a chain's steady schedule may repeat with (members
# that alternate between two pieces in flight repeat every two).
MAX_CYCLE = 4


@dataclass
class Group:
    """What the members of one chain group (level, phase) share."""

    members: int
    # rank -> finish times (ns) of its pieces in loop order.
    finished_ns: dict[int, list[float]] = field(default_factory=dict)
    # rank -> its PE's (ops in flight, TCM bytes in use) at each finish.
    states: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    # rank -> loop index of the piece it started last.
    started: dict[int, int] = field(default_factory=dict)
    # rank -> (program, view) of the member (the data mode).
    buffers: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    # Ranks whose pace is watched: the chain's last receivers (none: every member).
    sinks: set[int] = field(default_factory=set)
    first_skipped: int | None = None  # K: pieces K .. S-2 are skipped
    period_ns: float = 0.0
    # The lead gate: while the group samples, no member starts a piece more than
    # `lead` pieces after the one its slowest sink (of `n_sinks`) has started. It starts
    # at what covers the pipeline everywhere measured and shrinks towards `min_lead` by
    # what queues unused in front of the sinks (`relax`).
    n_sinks: int = 1
    lead: int = 1 << 30
    min_lead: int = 1 << 30
    # sink rank -> messages its slowest sender had ready for it when it last started a
    # piece (`ChainRun._queued`).
    queued: dict[int, int] = field(default_factory=dict)
    # A sink piece started before this one was gated by an older lead: the queues seen
    # then do not show the last shrink yet.
    settled_from: int = 0
    # Fired (and replaced) when a sink starts a piece or the group decides: what the
    # members held at the gate wait for.
    progress: Any = None

    def floor(self) -> int:
        """The piece the slowest sink has started (-1 until every sink has started)."""
        started = self.started
        if len(self.sinks) < self.n_sinks or not all(r in started for r in self.sinks):
            return -1
        return min(started[r] for r in self.sinks)

    def relax(self, rank: int, queued: int, piece: int) -> None:
        """Sink ``rank`` starts ``piece`` with ``queued`` messages ready for it from its
        slowest sender (delivered, or waiting for an inbox slot). While every sink has
        more than one waiting, the members ahead of them run further than they need to
        keep the sinks busy: cut the lead by the smallest such surplus (not below
        ``min_lead``), then wait until the pieces started under the new lead reach the
        sinks before judging again. A sink that waits for data keeps the lead as it is."""
        self.queued[rank] = queued
        if piece < self.settled_from or len(self.queued) < self.n_sinks:
            return
        surplus = min(self.queued.values()) - 1
        lead = max(self.min_lead, self.lead - surplus)
        if lead < self.lead:
            self.lead = lead
            self.settled_from = max(self.started.values()) + 1

    def notify(self) -> None:
        """Wake the members held at the lead gate (they check it again)."""
        if self.progress is not None:
            event, self.progress = self.progress, None
            event.succeed()

    def decide(self, n_pieces: int, cap: int) -> None:
        """Set ``first_skipped`` once every sink's schedule repeats (:func:`cycle_period_ns`)
        at one per-piece period (and there is a piece left to skip before the last)."""
        if self.first_skipped is not None or len(self.finished_ns) < self.members:
            return
        ranks = self.sinks or self.finished_ns.keys()
        periods, cycle = [], 1
        for rank in ranks:
            found = cycle_period_ns(self.finished_ns[rank], self.states[rank])
            if found is None:
                return
            cycle = math.lcm(cycle, found[0])
            periods.append(found[1])
        top = max(periods)
        if top <= 0 or top - min(periods) > PERIOD_RTOL * top:
            return
        first = max(self.started.values()) + 1
        # Skip whole cycles: the schedule then resumes where it would have been.
        first += (n_pieces - 1 - first) % cycle
        if first > cap or first >= n_pieces - 1:
            return
        self.first_skipped = first
        self.period_ns = sum(periods) / len(periods)
        self.notify()


def cycle_period_ns(
    times_ns: list[float], states: Sequence[Hashable] | None = None, rtol: float = PERIOD_RTOL
) -> tuple[int, float] | None:
    """(cycle, per-piece period in ns) of finish times ``times_ns`` once they repeat:
    the smallest cycle ``c <= MAX_CYCLE`` pieces such that the cycle times (a piece's
    finish minus that of the piece ``c`` before it) of the last
    ``c * (CONVERGED_PERIODS + 1) + 1`` pieces each equal the one ``c`` pieces before,
    within ``rtol`` of the last (each phase of the cycle keeps its own
    cycle time: the gaps inside a cycle may still shift linearly while its pieces
    overlap differently); the period is the phases' mean cycle time over ``c``. None
    before.

    ``states`` (one per finish time, when given) must repeat with the same cycle over
    those pieces too: equal gaps while a queue still fills or drains (the PE's ops in
    flight or TCM in use still growing or shrinking) are a transient that only looks
    periodic -- an engine's queue filling at one piece a cycle keeps the finish times
    at the arrivals' pace until it is full, then the pace changes.
    """
    for c in range(1, MAX_CYCLE + 1):
        need = c * (CONVERGED_PERIODS + 2) + 1
        if len(times_ns) < need:
            return None
        t = times_ns[-need:]
        cycle_ns = [t[j] - t[j - c] for j in range(c, need)]
        if cycle_ns[-1] <= 0:
            continue
        tol = rtol * cycle_ns[-1]
        if not all(abs(cycle_ns[j] - cycle_ns[j - c]) <= tol for j in range(c, len(cycle_ns))):
            continue
        if states is not None:
            s = states[-need:]
            if any(s[j] != s[j - c] for j in range(c, need)):
                continue
        return c, sum(cycle_ns[-c:]) / (c * c)
    return None


def call_index() -> int:
    """How many sampled collectives this rank has started in its launch before this one
    (part of a group's key: a kernel may run the collective more than once)."""
    program = _program()
    calls = launch_table("sampled_chain_calls")
    index = calls.get(program.rank, 0)
    calls[program.rank] = index + 1
    return index


def group(key: tuple, members: int, n_sinks: int, lead: int, min_lead: int) -> Group:
    """The launch-wide table entry of the chain group ``key`` (``members`` ranks, of
    which ``n_sinks`` are its last receivers; members lead them by ``lead`` pieces at
    most while the group samples, a lead that may shrink to ``min_lead``)."""
    table = launch_table("sampled_chains")
    entry = table.get(key)
    if entry is None:
        entry = table[key] = Group(
            members, n_sinks=n_sinks, lead=lead, min_lead=min(min_lead, lead)
        )
    return entry


class Pieces(Sequence[tuple[int, int]]):
    """The ``[lo, hi)`` element ranges of ``n`` elements cut in pieces of ``size`` (the
    last one ragged), made on demand: a sampled run of a large buffer touches few."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size
        self._count = -(-n // size)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, j: int) -> tuple[int, int]:  # type: ignore[override]
        if j < 0:
            j += self._count
        if not 0 <= j < self._count:
            raise IndexError(f"piece {j} of {self._count}")
        lo = j * self.size
        return lo, min(lo + self.size, self.n)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        n, size = self.n, self.size
        for lo in range(0, n, size):
            yield lo, min(lo + size, n)


class ChainRun:
    """One member's sampled loop over the ``S`` pieces of one chain group."""

    def __init__(
        self,
        entry: Group,
        pieces: Sequence[tuple[int, int]],
        cap: int,
        senders: Sequence[tuple[int, int]] = (),
    ) -> None:
        """``senders``: the (rank, tag) this member receives each piece from (a sink
        reports their queues to the lead gate)."""
        program = _program()
        self.program = program
        self.rank = program.rank
        self.env = program.machine.env
        self.entry = entry
        self.pieces = pieces
        self.cap = cap
        self.senders = tuple(senders)
        self.run: list[int] = []  # indices of the pieces run
        entry.finished_ns[self.rank] = []
        entry.states[self.rank] = []

    def __iter__(self):
        """Yield ``(lo, hi)`` of each piece to run, in order; note each one's finish."""
        n, entry, j = len(self.pieces), self.entry, 0
        sink = self.rank in entry.sinks
        pe = self.program.pe
        finished, states = entry.finished_ns[self.rank], entry.states[self.rank]
        while j < n:
            # The lead gate: only while the group may still decide to skip (undecided,
            # and not past the pieces it samples at most).
            while j > entry.lead and j <= self.cap and entry.first_skipped is None:
                if j <= entry.floor() + entry.lead:
                    break
                self._hold()
            if entry.first_skipped is not None and j == entry.first_skipped:
                j = n - 1
            entry.started[self.rank] = j
            if sink:
                if self.senders and entry.first_skipped is None:
                    entry.relax(self.rank, self._queued(), j)
                entry.notify()  # the floor may have risen: let held members check
            self.run.append(j)
            yield self.pieces[j]
            if j < n - 1:
                finished.append(self.env.now)
                states.append((pe.inflight_ops, pe.tcm_used_bytes))
                # Only the watched ranks' times decide (what else it checks only gets
                # further from deciding as members advance): the others need not ask.
                if sink or not entry.sinks:
                    entry.decide(n, self.cap)
            j += 1

    def _queued(self) -> int:
        """Messages from its slowest sender that wait for this member: delivered and not
        taken yet, or ready to go and held back for want of an inbox slot (not those
        still on their way: they are the pipeline, not a surplus)."""
        channels = self.program.machine.ipcq.endpoint(self.program).channels
        counts = []
        for rank, tag in self.senders:
            channel = channels.get(("rank", rank, tag))
            messages = () if channel is None else channel.messages
            counts.append(sum(1 for m in messages if m.delivered or m.credit is not None))
        return min(counts)

    def _hold(self) -> None:
        """Wait at the lead gate until a sink starts a piece or the group decides."""
        entry = self.entry
        if entry.progress is None:
            entry.progress = self.env.event()
        self.program.machine.scheduler.wait(
            entry.progress, f"the sampled chain's lead gate of rank {self.rank}"
        )

    def skipped(self) -> range:
        """Indices of the pieces this group skipped (empty when it ran them all)."""
        k = self.entry.first_skipped
        return range(0) if k is None else range(k, len(self.pieces) - 1)

    def wait_ns(self) -> float:
        """The skipped pieces' time: their count times the converged period."""
        return len(self.skipped()) * self.entry.period_ns

    def span(self) -> tuple[int, int]:
        """Elements ``[lo, hi)`` of the skipped pieces (contiguous)."""
        skipped = self.skipped()
        return self.pieces[skipped[0]][0], self.pieces[skipped[-1]][1]

    def scale_rounds(self, rounds: set[int]) -> None:
        """Give this rank's ``rounds`` the whole message's bytes and move their ends by
        the wait (call after it)."""
        if not self.skipped():
            return
        ep = self.program.machine.ipcq.endpoint(self.program)
        sampled = sum(self.pieces[j][1] - self.pieces[j][0] for j in self.run)
        whole = self.pieces[-1][1] - self.pieces[0][0]
        wait = self.wait_ns()
        for r in rounds:
            stats = ep.rounds.get(r)
            if stats is None:
                continue
            # Each message of the round carried the sampled pieces: scale to the whole.
            stats.sent_bytes = stats.sent_bytes // sampled * whole
            stats.recv_bytes = stats.recv_bytes // sampled * whole
            stats.end_ns += wait

    def reduce_data(self, view: Any, reduce: str) -> None:
        """(Representative, data mode) write the skipped elements' reduction over every
        member's buffer."""
        if self.program.machine.data is None or not self.skipped():
            return
        lo, hi = self.span()
        op = REDUCE_NUMPY[reduce]
        values = [
            np.array(lowering.read_run(program, v, lo, hi - lo))
            for _, (program, v) in sorted(self.entry.buffers.items())
        ]
        total = values[0]
        for v in values[1:]:
            total = op(total, v).astype(values[0].dtype, copy=False)
        lowering.write_run(self.program, view, lo, total)

    def copy_data(self, view: Any, rep: int) -> None:
        """(Broadcast member, data mode) copy the skipped elements from ``rep``."""
        if self.program.machine.data is None or not self.skipped():
            return
        lo, hi = self.span()
        program, rep_view = self.entry.buffers[rep]
        values = lowering.read_run(program, rep_view, lo, hi - lo)
        lowering.write_run(self.program, view, lo, values)
