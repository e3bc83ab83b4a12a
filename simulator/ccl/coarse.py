"""The coarse collective model of the seed's chains: one flow per round and link instead
of one per sub-chunk. (The ring kernels' coarse model samples blocks instead:
:mod:`simulator.ccl.periodic`.)

The fine model moves a round's bytes as sub-chunks of ``sub_bytes`` (the IPCQ slot), each a
DMA, a MATH add and an inbox slot, so its cost in events grows with the size. Here a
round's whole bytes are one *stream*: one network flow per transfer (load, send, store),
one dataflow node per add, whatever the size. A stream is cut-through, as the fine
pipeline is: a consumer starts as soon as the producer's first sub-chunk is ready, and
finishes no earlier than one batch's stage after the producer's last byte. For a
stream of ``n`` bytes produced by ``input`` and moved over a route of latency ``a`` and
bottleneck bandwidth ``B`` (uncontended), with ``k`` the sub-chunks the stage's DMA
queue holds at once, ``k = pe.dma_queue_depth // r`` for ``r`` DMAs reading each
sub-chunk of the input on the same engine (a received sub-chunk that is stored and
sent: ``r = 2``), and batch ``= min(k * sub_bytes, n)``:

- head (first batch ready) = max(inputs' heads) + ``a + batch / B`` (fill: the queue's
  sub-chunks share the link, so the first arrives only when the whole batch does);
- done (last byte ready) = max(the flow's own end, max(inputs' done) + ``a + batch / B``)
  (drain), where the flow starts at the inputs' head and streams at its max-min fair
  share (steady state: the network solver shares links and memories as in the fine
  model, so the bottleneck sets the rate);
- an add: head = max(heads) + add(sub), done = max(max(dones) + add(sub),
  head + add(n) - add(sub)) (the MATH engine's throughput);
- a paced load (:meth:`Coarse.load`, ``paced``: the fine loop loads sub-chunk ``j``
  once it has received sub-chunk ``j - 1``): the first sub-chunk alone at once (the
  head), the rest as one flow from the paced stream's head, its last sub-chunk
  issued at ``paced.done - gap`` (``gap = (done - head) / (S - 1)``, the paced
  sub-chunks' spacing), so ``done >= paced.done - gap + a + sub_bytes / B``.

A pipeline of ``L`` stages over ``S`` sub-chunks then costs ``fill + (S - 1)`` times
the bottleneck stage plus the drain, analytically, with ``L + 2`` flows per round
instead of ``S``. A message of at most ``pe.dma_queue_depth`` sub-chunks has no such
pipeline (all of it is in flight at once): :func:`runs_fine` sends those to the fine
kernel, which then costs at most that many DMAs per message, and the models agree
exactly. What the stream model leaves out: inbox slots and TCM capacity
(backpressure, a sub-chunk at a time), engine queue order, and bubbles of the fine
schedule beyond the fill and drain above. Measured against the fine model it is off by
-3.5 % .. +4.7 % (within 1 % on one cube from 16 sub-chunks per message, not over 32
or 128 ranks: the README's "Collective models" table; ``tests/test_ccl_coarse.py``
bounds each case).

Rounds are recorded like the fine model's (``collective_rounds``: every round of every
rank with its start, end, bytes and peer), DMAs as one ``dma`` row per flow, and data
(``--verify-data``) is computed when a stream is done, so results are exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.engine.machine import DmaInfo
from simulator.engine.ops import math_duration_ns
from simulator.hw import graph as g
from simulator.language import lowering
from simulator.language.core import TensorView, _program

if TYPE_CHECKING:
    import simpy

    from simulator.engine.pe import Program
    from simulator.hw.links import Route

# Collective model names (``ccl.yaml``: all_reduce.model; the workload's
# ``collective_model`` parameter).
MODELS = ("fine", "coarse")

# The MATH op each reduce uses (cycles from the topology's pe.math.cycles_per_op).
REDUCE_MATH_OP = {"sum": "add", "product": "mul", "max": "max", "min": "min"}
REDUCE_NUMPY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "sum": np.add,
    "product": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}


def runs_fine(message_elems: int, sub_elems: int) -> bool:
    """Whether a stream-model kernel runs its fine twin instead: when the largest message
    has at most ``pe.dma_queue_depth`` sub-chunks, every sub-chunk of it is in flight
    at once, there is no pipeline to pay analytically, and the fine kernel costs at
    most that many DMAs per message (the two models then agree exactly)."""
    depth = _program().machine.params.pe.dma_queue_depth
    return message_elems <= sub_elems * depth


class Stream:
    """Bytes produced progressively: ``head`` fires when the first sub-chunk is ready,
    ``done`` when the last byte is (both SimPy events, simulated ns)."""

    __slots__ = ("nbytes", "head", "done", "data", "dma_users", "burst")

    def __init__(self, env: simpy.Environment, nbytes: int) -> None:
        self.nbytes = nbytes
        self.head = env.event()
        self.done = env.event()
        self.data: np.ndarray | None = None
        # DMA ops reading each sub-chunk of this stream on one engine (a store and a
        # send of a received sub-chunk share the DMA_WB queue).
        self.dma_users = 0
        # Sub-chunks of this stream a DMA reading it takes at once (None: as many as
        # the engine's queue gives each of its readers).
        self.burst: int | None = None


def _when_all(env: simpy.Environment, events: Sequence[simpy.Event], then: Callable) -> None:
    """Call ``then()`` once every event in ``events`` has been processed."""
    left = [len(events)]

    def one(_event: Any = None) -> None:
        left[0] -= 1
        if left[0] == 0:
            then()

    for event in events:
        if event.callbacks is None:
            one()
        else:
            event.callbacks.append(one)


def _fire_at(env: simpy.Environment, event: simpy.Event, delay_ns: float, before=None) -> None:
    """Succeed ``event`` ``delay_ns`` from now (after calling ``before()``)."""

    def go(_ev: Any = None) -> None:
        if before is not None:
            before()
        event.succeed(env.now)

    if delay_ns > 0:
        env.timeout(delay_ns).callbacks.append(go)
    else:
        go()


class _Mailboxes:
    """Messages of one launch, per (sender, receiver, tag), in send order: the k-th send
    and the k-th recv of a channel share one Stream, whichever comes first."""

    def __init__(self) -> None:
        self.sent: dict[tuple, deque] = {}
        self.taken: dict[tuple, deque] = {}

    def slot(self, key: tuple, env: simpy.Environment, nbytes: int, mine: str) -> Stream:
        other = self.taken if mine == "sent" else self.sent
        own = self.sent if mine == "sent" else self.taken
        queue = other.get(key)
        if queue:
            return queue.popleft()
        stream = Stream(env, nbytes)
        own.setdefault(key, deque()).append(stream)
        return stream


class Coarse:
    """One rank's coarse collective context: stream ops, round scope, fence."""

    def __init__(self, sub_bytes: int, reduce: str) -> None:
        program: Program = _program()
        self.program = program
        self.machine = machine = program.machine
        self.env = machine.env
        self.sub_bytes = sub_bytes
        self.reduce = reduce
        params = machine.params.pe
        self._math_cycles = params.math.cycles_per_op[REDUCE_MATH_OP[reduce]]
        self._lanes = params.math.lanes
        self._clock = params.clock_ghz
        self._hbm_gbs = machine.params.cube.hbm.bw_gbs
        # The fill/drain grain: a DMA engine keeps pe.dma_queue_depth sub-chunks in
        # flight, sharing the link, so the first of them arrives only when all do.
        self.depth = params.dma_queue_depth
        self.ipcq = machine.ipcq
        self.ep = self.ipcq.endpoint(program)
        # The launch's mailboxes live on its peer table, shared by its ranks and gone
        # with the launch (also when it fails).
        peers = self.ep.peers
        mail = getattr(peers, "coarse_mail", None)
        if mail is None:
            mail = peers.coarse_mail = _Mailboxes()
        self.mail: _Mailboxes = mail
        self.pending: list[simpy.Event] = []
        self.round: Any = None
        self.phase = ""
        self.level: str | None = None

    # -- scope -----------------------------------------------------------------------
    def at_round(self, index: Any, phase: str, level: str | None) -> Coarse:
        """Tag the next ops with round ``index`` (phase, level), as ``tl.round``."""
        self.round, self.phase, self.level = index, phase, level
        return self

    def _stats(self):
        ep = self.ep
        ep.phase, ep.level = self.phase, self.level
        return ep.stats(self.round, self.env.now)

    # -- costs -----------------------------------------------------------------------
    def _piece_ns(
        self, route: Route, nbytes: int, memory_gbs: float | None = None, users: int = 1
    ) -> float:
        """One sub-chunk's stage over ``route``: its latency plus the bytes at the
        narrowest capacity (uncontended)."""
        bw = route.bottleneck_bw_gbs if route.links else float("inf")
        if memory_gbs is not None:
            bw = min(bw, memory_gbs)
        depth = max(1, self.depth // max(1, users))
        piece = min(depth * self.sub_bytes, nbytes)
        return route.latency_ns + (piece / bw if bw != float("inf") else 0.0)

    def _add_ns(self, nbytes: int, itemsize: int) -> float:
        return math_duration_ns(nbytes // itemsize, self._lanes, self._math_cycles, self._clock)

    # -- the flow of one stream --------------------------------------------------------
    def _flow(
        self,
        inputs: Sequence[Stream],
        route: Route,
        nbytes: int,
        kind: str,
        out: Stream,
        memory_gbs: float | None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Move ``nbytes`` over ``route`` as one flow started at the inputs' head; set
        ``out``'s head and done by the cut-through rule (module docstring)."""
        env = self.env
        info = DmaInfo(kind, self.program.launch_id, self.program.coll_id, self.round)
        recorder = self.machine.recorder
        flow_done = env.event()
        piece = [-1.0]

        def piece_ns() -> float:
            # Computed when first needed: by then the kernel has issued every DMA that
            # reads the same input (they share the engine's queue).
            if piece[0] < 0:
                users = inputs[0].dma_users if inputs else 1
                burst = inputs[0].burst if inputs else None
                if burst is not None:
                    users = max(1, self.depth // burst)
                piece[0] = self._piece_ns(route, nbytes, memory_gbs, users)
            return piece[0]

        def start(_ev: Any = None) -> None:
            _fire_at(env, out.head, piece_ns())
            event = self.machine.network.transfer(route, nbytes, info)

            def ended(ev: simpy.Event) -> None:
                recorder.transfer(ev._value, info)
                flow_done.succeed(env.now)

            event.callbacks.append(ended)

        # Started from the event queue, not inline: the kernel issues the other readers
        # of the input first.
        _when_all(env, [s.head for s in inputs], lambda: env.timeout(0).callbacks.append(start))
        drained = env.event()
        _when_all(env, [s.done for s in inputs], lambda: _fire_at(env, drained, piece_ns()))
        _when_all(env, [flow_done, drained], lambda: _fire_at(env, out.done, 0.0, on_done))
        self.pending.append(out.done)

    # -- ops ---------------------------------------------------------------------------
    def load(
        self,
        view: TensorView,
        lo: int,
        hi: int,
        after: Sequence[simpy.Event] = (),
        paced: Stream | None = None,
    ) -> Stream:
        """Stream elements ``[lo, hi)`` of ``view`` from memory into the PE (DMA_IN),
        starting once every event in ``after`` has fired (the fine kernel issues a
        load only when it gets there: after the recvs before it in program order).

        ``paced``: the fine kernel loads sub-chunk ``j`` only once it has received
        sub-chunk ``j - 1`` of ``paced`` (a loop body that loads, then blocks in a recv).
        The first sub-chunk is loaded at once, alone; the rest streams from ``paced``'s
        head, and the last sub-chunk is issued when ``paced``'s next-to-last one
        arrives: ``done >= paced.done - gap + load(one sub-chunk)``, with ``gap`` the
        spacing of ``paced``'s sub-chunks, ``(done - head) / (S - 1)``."""
        program = self.program
        isz = view.dtype.itemsize
        nbytes = (hi - lo) * isz
        out = Stream(self.env, nbytes)
        phys = lowering.physical(program, view, lo, hi - lo)
        tcm = program.pe.tcm_node
        parts = []
        for pa, n in phys:
            route = self.machine.dma_route(self.machine.node_of(pa), tcm)
            parts.append((route, n))
        ready = Stream(self.env, 0)
        env = self.env

        def go() -> None:
            ready.head.succeed(env.now)
            ready.done.succeed(env.now)

        data_on = self.machine.data is not None

        def read() -> None:
            if data_on:
                out.data = lowering.read_run(program, view, lo, hi - lo)

        if paced is None or len(parts) != 1 or nbytes <= self.sub_bytes:
            _when_all(env, after, go) if after else go()
            self._parts(parts, ready, out, "load", read, self._hbm_gbs)
            return out
        self._paced_load(parts[0][0], nbytes, after, paced, out, read)
        return out

    def _paced_load(
        self,
        route: Route,
        nbytes: int,
        after: Sequence[simpy.Event],
        paced: Stream,
        out: Stream,
        read: Callable[[], None],
    ) -> None:
        """A load whose sub-chunk ``j`` is issued when ``paced``'s sub-chunk ``j - 1``
        arrives (:meth:`load`): two flows, the first sub-chunk alone (issued at once:
        ``out``'s head) and the rest from ``paced``'s head, each of its sub-chunks
        alone on the DMA queue (fill and drain one sub-chunk)."""
        env = self.env
        sub = self.sub_bytes
        subs = -(-paced.nbytes // sub)
        first_src = Stream(env, 0)
        first_src.burst = 1

        def issued() -> None:
            first_src.head.succeed(env.now)
            first_src.done.succeed(env.now)

        _when_all(env, after, issued) if after else issued()
        first = Stream(env, sub)
        self._flow([first_src], route, sub, "load", first, self._hbm_gbs)
        rest_src = Stream(env, 0)
        rest_src.burst = 1

        def last_issued() -> None:
            head_ns, done_ns = paced.head.value, paced.done.value
            gap_ns = (done_ns - head_ns) / (subs - 1) if subs > 1 else 0.0
            _fire_at(env, rest_src.done, max(0.0, done_ns - gap_ns - env.now))

        _when_all(env, [paced.head, first_src.head], lambda: rest_src.head.succeed(env.now))
        _when_all(env, [paced.done, first_src.head], last_issued)
        rest = Stream(env, nbytes - sub)
        self._flow([rest_src], route, nbytes - sub, "load", rest, self._hbm_gbs)
        _when_all(env, [first.head], lambda: out.head.succeed(env.now))
        _when_all(env, [first.done, rest.done], lambda: _fire_at(env, out.done, 0.0, read))
        self.pending.append(out.done)

    def store(self, value: Stream, view: TensorView, lo: int, hi: int) -> Stream:
        """Stream ``value`` into elements ``[lo, hi)`` of ``view`` (DMA_WB)."""
        program = self.program
        out = Stream(self.env, value.nbytes)
        value.dma_users += 1
        tcm = program.pe.tcm_node
        parts = []
        for pa, n in lowering.physical(program, view, lo, hi - lo):
            parts.append((self.machine.dma_route(tcm, self.machine.node_of(pa)), n))

        def write() -> None:
            if value.data is not None:
                lowering.write_run(program, view, lo, value.data)

        self._parts(parts, value, out, "store", write, self._hbm_gbs)
        return out

    def _parts(self, parts, source: Stream, out: Stream, kind: str, on_done, memory_gbs) -> None:
        """One flow per physical part (contiguous mappings are one part); ``out`` is
        ready when every part is."""
        if len(parts) == 1:
            route, n = parts[0]
            self._flow([source], route, n, kind, out, memory_gbs, on_done)
            return
        subs = []
        for route, n in parts:
            sub = Stream(self.env, n)
            self._flow([source], route, n, kind, sub, memory_gbs)
            subs.append(sub)
        env = self.env
        _when_all(env, [s.head for s in subs[:1]], lambda: _fire_at(env, out.head, 0.0))
        _when_all(env, [s.done for s in subs], lambda: _fire_at(env, out.done, 0.0, on_done))

    def add(self, a: Stream, b: Stream, itemsize: int) -> Stream:
        """The reduce of two streams on the MATH engine (cut-through, at its throughput)."""
        env = self.env
        out = Stream(env, a.nbytes)
        piece_ns = self._add_ns(min(self.sub_bytes, a.nbytes), itemsize)
        whole_ns = self._add_ns(a.nbytes, itemsize)
        op = REDUCE_NUMPY[self.reduce]
        head_at = [0.0]

        def head() -> None:
            head_at[0] = env.now + piece_ns
            _fire_at(env, out.head, piece_ns)

        def compute() -> None:
            if a.data is not None and b.data is not None:
                out.data = op(a.data, b.data).astype(a.data.dtype, copy=False)

        def done() -> None:
            at = max(env.now + piece_ns, head_at[0] + whole_ns - piece_ns)
            _fire_at(env, out.done, at - env.now, compute)

        _when_all(env, [a.head, b.head], head)
        _when_all(env, [a.done, b.done, out.head], done)
        self.pending.append(out.done)
        return out

    def send(self, value: Stream, to: int, tag: int) -> None:
        """Send ``value`` to rank ``to`` (its inbox), one flow; fire and forget."""
        program = self.program
        value.dma_users += 1
        peers = self.ep.peers
        dest = peers.programs[to]
        message = self.mail.slot((program.rank, to, tag), self.env, value.nbytes, "sent")
        route = self.machine.dma_route(program.pe.tcm_node, self._inbox_node(dest))
        stats = self._stats() if self.round is not None else None
        if stats is not None:
            if stats.peer is None:
                stats.peer = to
            stats.sent_bytes += value.nbytes

        def delivered() -> None:
            message.data = value.data
            if stats is not None and self.env.now > stats.end_ns:
                stats.end_ns = self.env.now

        self._flow([value], route, value.nbytes, "send", message, None, delivered)

    def recv(self, frm: int, nbytes: int, tag: int) -> Stream:
        """The next message from rank ``frm`` on ``tag`` (a stream; never blocks)."""
        program = self.program
        message = self.mail.slot((frm, program.rank, tag), self.env, nbytes, "taken")
        stats = self._stats() if self.round is not None else None
        if stats is not None:
            stats.recv_bytes += nbytes
            if stats.recv_peer is None:
                stats.recv_peer = frm

            def taken(_ev: Any) -> None:
                if self.env.now > stats.end_ns:
                    stats.end_ns = self.env.now

            message.done.callbacks.append(taken)
        if self.ipcq.config.inbox == "tcm":
            return message
        # An HBM or SRAM inbox: the message is loaded into TCM from there (DMA_IN).
        out = Stream(self.env, nbytes)
        route = self.machine.dma_route(self._inbox_node(program), program.pe.tcm_node)

        def copy() -> None:
            out.data = message.data

        self._flow([message], route, nbytes, "load", out, None, copy)
        return out

    def _inbox_node(self, program: Program) -> str:
        inbox = self.ipcq.config.inbox
        coord = program.pe.coord
        if inbox == "tcm":
            return g.pe_tcm(coord)
        if inbox == "hbm":
            return g.pe_hbm(coord)
        return g.cube_sram(coord.sip, coord.cube)

    def peer(self, peer: str | int, sending: bool) -> int:
        """The rank behind ``peer`` (a rank, or a direction as ``tl.send``/``tl.recv``
        take it)."""
        if isinstance(peer, str):
            peers, rank = self.ep.peers, self.program.rank
            return peers.send_peer(rank, peer) if sending else peers.recv_peer(rank, peer)
        return peer

    # -- synchronisation -----------------------------------------------------------------
    def fence(self) -> None:
        """Block until every stream this rank started is done."""
        pending, self.pending = self.pending, []
        pending = [e for e in pending if not e.processed]
        if not pending:
            return
        env = self.env
        all_done = env.event()
        _when_all(env, pending, lambda: all_done.succeed(env.now))
        what = f"coarse collective streams of rank {self.program.rank}"
        self.machine.scheduler.wait(all_done, what)

    def finish(self) -> None:
        """Block until every stream this rank started is done (the kernel's end)."""
        self.fence()
