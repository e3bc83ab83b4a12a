"""A PE: four in-order engine queues, a TCM budget, and the programs running on it.

``tl`` calls never block: each issues an op into its engine's queue and returns the
op's future output block. An engine runs one op at a time, in issue order; an op starts
when its inputs are ready and its engine is free. A kernel that loops over tiles thus
pipelines DMA_IN -> GEMM -> MATH -> DMA_WB the way double-buffered hardware does.
"""

from __future__ import annotations

import functools
import heapq
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from simulator.engine.environment import Environment, LightEvent
from simulator.engine.errors import TcmOverflowError
from simulator.engine.ops import ENGINES, Op
from simulator.hw import graph as g
from simulator.hw.links import Route

if TYPE_CHECKING:
    import simpy

    from simulator.engine.machine import Machine
    from simulator.engine.scheduler import Task
    from simulator.hw.topology import PeCoord

# Final module names are read from C statics when compiled; a plain one is looked up in
# the module's dict at every use (these are used per op).
heappop: Final = heapq.heappop
heappush: Final = heapq.heappush
partial: Final = functools.partial


class Engine:
    """An in-order op queue served by one engine of one PE.

    Ops start in issue order, each once its inputs are ready and one of the engine's
    ``slots`` is free: compute engines run one op at a time; DMA engines keep up to
    ``pe.dma_queue_depth`` transfers in flight, so one transfer's fixed latency hides
    behind another's bytes, as a descriptor queue does.
    """

    __slots__ = (
        "name",
        "pe",
        "queue",
        "slots",
        "running",
        "free_lanes",
        "_env",
        "_network",
        "_recorder",
        "_tracing",
        "_on_end_cb",
        "trace_site_keys",
        "_dep_keys_after_op",
    )

    def __init__(self, name: str, pe: PE, slots: int) -> None:
        self.name = name
        self.pe = pe
        self.queue: deque[Op] = deque()
        self.slots = slots
        self.running = 0
        # Lanes not running an op, lowest first: each op runs on one lane, so ops of
        # one lane never overlap (the trace invariant) while lanes overlap each other.
        self.free_lanes = list(range(slots))
        self._env = pe.machine.env
        self._network = pe.machine.network
        self._recorder = pe.machine.recorder
        self._tracing = self._recorder.tracing
        # The callback of an op's end event, bound once (the event carries the op).
        self._on_end_cb = self._on_end
        self.trace_site_keys: dict[str, int] = {}
        """The recorder's key of this engine's ops-row site columns, by op name."""
        # The recorder's key of the deps row of an op started by another's end, by cause:
        # an exact dict (the recorder's are dict subclasses, looked up through the type).
        self._dep_keys_after_op: dict[str, int] = {}

    def try_start(self, cause: str = "issue", by: Op | None = None) -> None:
        """Start head ops while a slot is free and the head's inputs are ready.

        What called us released every op started here: ``by`` ended (``cause`` engine,
        input, order or slot), or the program just issued the head (``cause`` issue: the
        op then waited for what last resumed its program). Each start records that as
        the op's ``deps`` row."""
        queue = self.queue
        if not queue:
            return
        now: float = self._env._now  # hot path: the ``now`` property costs a call
        dep_keys = self._recorder.op_dep_keys
        while queue and self.running < self.slots:
            op = queue[0]
            if op.pending_inputs:
                return  # the last input's set_ready() calls us again
            queue.popleft()
            self.running += 1
            op.lane = heappop(self.free_lanes)
            op.start_ns = now
            # What it waited for (while tracing): its deps row, which rides on its ops row.
            if dep_keys is not None:
                if by is not None:
                    dep_key = self._dep_keys_after_op.get(cause)
                    if dep_key is None:
                        dep_key = dep_keys.on_op[cause]  # type: ignore[index]  # set with dep_keys
                        self._dep_keys_after_op[cause] = dep_key
                    op.dep_key = dep_key
                    op.dep_on_id = by.op_id
                    op.dep_ready_ns = now
                    op.dep_wait_ns = now - op.issue_ns
                elif cause == "issue":
                    why = op.program.resume  # (cause, on_item, on_id, ready_ns, wait_ns)
                    op.dep_key = dep_keys[why[0], why[1]]
                    op.dep_on_id = why[2]
                    op.dep_ready_ns = why[3]
                    op.dep_wait_ns = why[4]
                else:
                    op.dep_key = dep_keys[cause, None]
                    op.dep_on_id = None
                    op.dep_ready_ns = now
                    op.dep_wait_ns = now - op.issue_ns
            pieces = op.pieces
            if pieces is None:
                LightEvent(self._env, self._on_end_cb, op, op.duration_ns)
                continue
            op.pieces_left = len(pieces)
            # A direct call of the network's method: compiled, a bound method taken into a
            # local would be built and then called generically.
            network = self._network
            on_piece = partial(self._on_piece, op)
            for route, nbytes, tag in pieces:
                network.transfer(route, nbytes, tag).callbacks.append(on_piece)

    def _on_piece(self, op: Op, event: simpy.Event) -> None:
        transfer = event._value  # hot path: the property would cost a call per piece
        self._recorder.transfer(transfer, transfer.tag, op.op_id)
        op.pieces_left -= 1
        if op.pieces_left == 0:
            self._on_done(op, event)

    def _on_end(self, event: LightEvent) -> None:
        """The end of an op that moves no bytes: its end event's value is the op."""
        self._on_done(event._value, event)

    def _on_done(self, op: Op, _event: Any) -> None:
        recorder = self._recorder
        # TCM in use before its end drops its blocks: the PE learns whether it freed any.
        tcm_used_bytes = self.pe.tcm_used_bytes
        recorder.completing = op  # what an IPCQ slot freed while it ends waited for
        op.done = True
        if op.execute is not None:
            op.execute()
        output = op.output
        if output is not None:
            if output.waiters:
                output.set_ready("input", op)
            else:
                output.ready = True  # set_ready() with nobody to release (hot path)
        if op.token is not None:
            op.token.set_ready("order", op)
            op.token = None
        self.running -= 1
        heappush(self.free_lanes, op.lane)
        if self._tracing:  # untraced, the ops row would go nowhere
            recorder.op(op, self._env._now)
        # Drop references so finished inputs release their TCM now.
        op.inputs = ()
        op.output = None
        op.execute = None
        op.program.op_done(op.op_id)
        self.pe.op_done(op.op_id, tcm_used_bytes)
        recorder.completing = None
        self.try_start("engine", op)


class PE:
    """One processing element: engines by name, TCM accounting, in-flight op count."""

    def __init__(self, machine: Machine, coord: PeCoord, tcm_capacity_bytes: int) -> None:
        self.machine = machine
        self.recorder = machine.recorder
        self.coord = coord
        self.name = f"sip{coord.sip}.cube{coord.cube}.pe{coord.pe}"
        self.tcm_node = g.pe_tcm(coord)
        """Graph node of this PE's TCM (where its DMAs start or end)."""
        # Routes of this PE's DMAs by the node at their other end, into and out of its TCM.
        self._routes_in: dict[str, Route] = {}
        self._routes_out: dict[str, Route] = {}
        pe_params = machine.params.pe
        # Read once from the topology's parameters: every tl.dot and MATH op needs them.
        self.clock_ghz: float = pe_params.clock_ghz
        self.gemm_array: tuple[int, int, int] = (
            pe_params.gemm.rows, pe_params.gemm.cols, pe_params.gemm.fill_drain_cycles
        )  # fmt: skip
        """The GEMM array's rows, columns and fill/drain cycles."""
        self.math_cycles_per_op: dict[str, int] = pe_params.math.cycles_per_op
        self.math_lanes: int = pe_params.math.lanes
        depth = pe_params.dma_queue_depth
        self.engines = {
            name: Engine(name, self, depth if name.startswith("DMA") else 1) for name in ENGINES
        }
        self.tcm_capacity_bytes = tcm_capacity_bytes
        self.tcm_used_bytes = 0
        self.inflight_ops = 0
        self.tcm_freed_by: int | None = None
        """The last op whose end freed TCM here (what a kernel waiting for space waited
        for: the op that woke it may have freed nothing)."""
        # Callbacks of the next op end (kernels and IPCQ grants waiting for TCM space).
        self._space_waiters: list[Callable[[Any], None]] = []

    def dma_route(self, node: str, to_tcm: bool) -> Route:
        """The route of a DMA between graph node ``node`` and this PE's TCM, into the TCM
        when ``to_tcm``: ``Machine.dma_route``'s (its fixed costs folded in), kept here so
        that a tile's lowering finds it without a call into the machine."""
        routes = self._routes_in if to_tcm else self._routes_out
        route = routes.get(node)
        if route is None:
            machine = self.machine
            tcm = self.tcm_node
            route = machine.dma_route(node, tcm) if to_tcm else machine.dma_route(tcm, node)
            routes[node] = route
        return route

    def issue(self, op: Op) -> None:
        """Give ``op`` an id and queue it on its engine, waiting on unready inputs."""
        recorder = self.recorder
        op.op_id = recorder.next_op_id
        recorder.next_op_id += 1
        op.issue_ns = recorder.env._now  # hot path: the ``now`` property costs a call
        for block in op.inputs:
            if not block.ready:
                op.pending_inputs += 1
                block.waiters.append(op)
        self.inflight_ops += 1
        op.program.pending_ops += 1
        engine = op.engine  # queue it; this runs once per op, so no helper call
        engine.queue.append(op)
        if engine.running < engine.slots:
            engine.try_start()

    def reserve_tcm(self, nbytes: int, program: Program) -> None:
        """Account ``nbytes`` of TCM for a new block, blocking the kernel's task while
        in-flight ops may free space.

        Raises TcmOverflowError (naming kernel, PE, requested and free bytes) when the
        block cannot fit even after every in-flight op on this PE has finished.
        """
        env = self.machine.env
        scheduler = self.machine.scheduler
        while self.tcm_used_bytes + nbytes > self.tcm_capacity_bytes:
            if self.inflight_ops == 0:
                free = self.tcm_capacity_bytes - self.tcm_used_bytes
                raise TcmOverflowError(
                    f"kernel {program.kernel_name!r} (program {program.program_id}) on PE "
                    f"{self.name}: TCM overflow at t={env.now:.1f} ns: requested "
                    f"{nbytes} bytes, {free} of {self.tcm_capacity_bytes} bytes free"
                )
            task = scheduler.current_task()
            wait = _TcmWait(self, nbytes, env._now, task)
            self._space_waiters.append(wait)
            scheduler.block(task, lambda: f"TCM space on {self.name} ({nbytes} bytes)")
            now = env._now
            freed_by = wait.freed_by
            program.resume = ("tcm", None if freed_by is None else "op", freed_by, now,
                              now - wait.since_ns)  # fmt: skip
        self.tcm_used_bytes += nbytes

    def on_space(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(event)`` once, as the callback of an event fired when the next
        op on this PE finishes (TCM may be free); the event's ``_value`` is that op's id
        (a light event: see :class:`_SpaceWake`)."""
        self._space_waiters.append(callback)

    def op_done(self, op_id: int, tcm_used_bytes: int) -> None:
        """Op ``op_id`` ended (``tcm_used_bytes`` were in use as it began to end): wake
        whoever waits for TCM space (with that id)."""
        self.inflight_ops -= 1
        if self.tcm_used_bytes < tcm_used_bytes:
            self.tcm_freed_by = op_id
        if self._space_waiters:
            waiters, self._space_waiters = self._space_waiters, []
            env = self.machine.env
            for waiter in waiters:
                _SpaceWake(env, waiter, op_id, self.tcm_used_bytes)


class _SpaceWake(LightEvent):
    """The event of an op's end that wakes one waiter for TCM space: triggered with the
    op's id and scheduled now, at normal priority, as ``Event.succeed`` would (one
    object per wake-up, its callback already in place). ``tcm_used_bytes``: in use
    right after that end (other ends in the same instant may free more before the
    waiter runs). A light event: as a ``simpy.Event``, its per-object dict made a
    wake-up cost ~3,000 instructions."""

    def __init__(self, env: Environment, waiter: Callable[[Any], None], op_id: int,
                 tcm_used_bytes: int) -> None:  # fmt: skip
        self.tcm_used_bytes = tcm_used_bytes
        super().__init__(env, waiter, op_id)


class _TcmWait:
    """A kernel task blocked since ``since_ns`` until ``nbytes`` fit in its PE's TCM: the
    callback of every wake-up while it waits. It waits on while the block still does not
    fit and an op in flight may free space; otherwise it resumes the task (which raises
    the overflow when nothing is in flight). Hot path: a kernel ahead of its engines is
    woken by every op that ends, mostly to find no room."""

    __slots__ = ("pe", "nbytes", "since_ns", "task", "freed_by")

    def __init__(self, pe: PE, nbytes: int, since_ns: float, task: Task | None) -> None:
        self.pe = pe
        self.nbytes = nbytes
        self.since_ns = since_ns
        self.task = task
        self.freed_by: int | None = None
        """The op whose end made room (set when it resumes the task)."""

    def __call__(self, wake: _SpaceWake) -> None:
        pe = self.pe
        capacity = pe.tcm_capacity_bytes
        if pe.tcm_used_bytes + self.nbytes > capacity and pe.inflight_ops:
            pe._space_waiters.append(self)
            return
        # The waking op made room if its end alone did; else an end later in this
        # instant did (the last one here that freed TCM).
        if wake.tcm_used_bytes + self.nbytes <= capacity:
            self.freed_by = wake._value
        else:
            self.freed_by = pe.tcm_freed_by
        # A blocked task has its resume callback (typed optional: None once it ends).
        self.task.resume(wake)  # type: ignore[union-attr, misc]


class Program:
    """One kernel program instance on one PE (the ``tl`` context of a task)."""

    def __init__(
        self,
        machine: Machine,
        pe: PE,
        kernel_name: str,
        launch_id: int,
        program_id: tuple[int, int, int],
        num_programs: tuple[int, int, int],
        rank: int,
    ) -> None:
        self.machine = machine
        self.pe = pe
        self.kernel_name = kernel_name
        self.launch_id = launch_id
        self.program_id = program_id
        self.num_programs = num_programs
        self.rank = rank
        self.pending_ops = 0
        # When the last issued op finished and when the kernel body returned (grid
        # launches run several programs per PE and report each one's end).
        self.idle_ns = 0.0
        self.body_end_ns = 0.0
        self._drained: simpy.Event | None = None
        # Loads and stores that may still be in flight, as (where, op), so a load waits
        # for an earlier store to the same bytes and a store for earlier loads and
        # stores of them (program order, as on one core); see ``language.lowering``.
        self.loads_in_flight: list[tuple[Any, Op]] = []
        self.stores_in_flight: list[tuple[Any, Op]] = []
        self.loads_prune_at = 64
        # Collective context (coll_id, round) stamped on DMAs; set by the CCL scope.
        self.coll_id: int | None = None
        self.round: int | None = None
        # Timeline of this program (simulated ns), filled by the launch path.
        self.dispatch_ns = 0.0
        self.exec_start_ns = 0.0
        self.exec_end_ns: float | None = None
        # The MMU of the runtime context that launched the kernel (VA -> PA).
        self.mmu: Any = None
        # Physical layouts of the views this program's loads and stores touched, by
        # view id (``language.lowering``); the launch shares one table over its programs.
        self.layouts: dict[int, Any] = {}
        # The Launch this program belongs to (IPCQ finds its peers there).
        self.launch: Any = None
        # What last resumed this program, as the tail of a ``deps`` row (cause, on,
        # on_id, ready_ns, wait_ns): ops that start as soon as it issues them waited
        # for it. The launch barrier until the program first blocks.
        self.resume: tuple = ("barrier", "launch", launch_id, 0.0, 0.0)

    def issue(self, op: Op) -> None:
        self.pe.issue(op)

    def op_done(self, op_id: int) -> None:
        """Op ``op_id`` of this program ended (the last one wakes a drain, with its id)."""
        self.pending_ops -= 1
        if self.pending_ops == 0:
            self.idle_ns = self.machine.env._now  # hot path: no property call
            if self._drained is not None:
                self._drained.succeed(op_id)
                self._drained = None

    def drain(self) -> None:
        """Block until every op this program issued has finished."""
        if self.pending_ops == 0:
            return
        self._drained = self.machine.env.event()
        what = f"{self.pending_ops} outstanding ops of {self.kernel_name}"
        since = self.machine.env._now
        last_op_id = self.machine.scheduler.wait(
            self._drained, what + self.machine.ipcq.blocked_note(self)
        )
        now = self.machine.env._now
        self.resume = ("drain", "op", last_op_id, now, now - since)
