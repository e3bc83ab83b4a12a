"""The launch path: host -> IO_CPU -> M_CPU -> PE_CPU, and one program per target PE.

A KernelLaunchMsg (``launch.msg_bytes``) travels as network transfers (``dma`` rows of
kind ``launch_msg``): from the host to the IO_CPU of each target SIP, from there to the
M_CPU of each target cube, from there to each target PE_CPU. Each CPU is a server that
handles one message at a time; its ``*_overhead_ns`` is a service time:

1. Unicast fan-out (``launch.multicast: false``): a CPU spends one service time per
   message it sends below it, one after another (targets in launch order), so a launch
   to ``k`` cubes of ``m`` PEs pays ``(k-1)`` IO_CPU and ``(m-1)`` M_CPU service times
   more than one to a single PE.
2. Multicast: one service time, then every copy leaves at once.
3. A PE_CPU spends one service time on the message, then the program is dispatched.

A CPU busy with earlier launches queues the new message (FIFO). A message's transfer
pays the route's link latencies and the overheads of the nodes it crosses, but not the
receiving CPU's overhead: that is its service time, charged by the queue.

Barrier: the IO_CPU keeps the schedule of the CPUs below it (every message to them
passes through it), so it stamps ``target_start_ns`` from the worst dispatch time of the
launch it can know: path latencies, message streaming at the path's bottleneck, and the
fan-out and queue schedule. Every PE_CPU waits until then, so all programs start
together (spread 0). A message slowed by something the IO_CPU cannot see when it stamps
the launch (network contention: other traffic, the messages of launches on other
streams included, which share its links) can reach its PE after
``target_start_ns``: the PE then starts late, the launch counts it in ``late_pes`` and a
:class:`LateLaunchWarning` names it. With the
barrier off, each PE starts as soon as it is dispatched, and the start spread shows the
dispatch schedule.
"""

from __future__ import annotations

import builtins
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulator.engine.errors import KernelError, LaunchError, SimulationError, user_line
from simulator.engine.machine import Machine
from simulator.engine.pe import Program
from simulator.engine.recorder import DmaInfo
from simulator.hw import graph as g
from simulator.hw.links import Route
from simulator.hw.topology import PeCoord

# Relative slack before a dispatch counts as later than target_start_ns (float sums).
_LATE_TOLERANCE = 1e-9


class LateLaunchWarning(UserWarning):
    """A PE's launch message arrived after the launch's ``target_start_ns``."""


@dataclass
class Launch:
    """One kernel launch: its programs, timing and the event that fires when all end."""

    launch_id: int
    kernel_name: str
    targets: list[PeCoord]
    host_issue_ns: float
    target_start_ns: float
    barrier: bool
    done: simpy.Event
    coll_id: int | None = None
    end_ns: float | None = None
    programs: list[Program] = field(default_factory=list)
    grid: tuple[int, int, int] | None = None  # the grid of a grid launch
    late_pes: int = 0  # PEs dispatched after target_start_ns (barrier launches)
    # Physical layouts of the views its programs touched (see ``Program.layouts``).
    layouts: dict[int, Any] = field(default_factory=dict)


class LaunchPath:
    """The CPUs of the launch path as FIFO servers, and the messages between them.

    ``busy_until_ns`` is when each CPU (graph node) finishes the messages it has taken;
    ``planned_until_ns`` is the same as the IO_CPU plans it when it stamps a launch.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        params = machine.params
        self.msg_bytes = params.launch.msg_bytes
        self.multicast = params.launch.multicast
        self.busy_until_ns: dict[str, float] = defaultdict(float)
        self.planned_until_ns: dict[str, float] = defaultdict(float)
        self._routes: dict[tuple[str, str], tuple[Route, float]] = {}
        self._memory_gbs = {m.node: m.bw_gbs for m in machine.graph.memories}

    def leg(self, src: str, dst: str) -> tuple[Route, float]:
        """The route of a message ``src -> dst`` without the receiver's overhead (its
        service time, charged by the queue), and its uncontended duration in ns."""
        key = (src, dst)
        cached = self._routes.get(key)
        if cached is None:
            graph = self.machine.graph
            base = graph.route(src, dst)
            latency_ns = base.latency_ns - graph.node_overhead_ns(dst)
            route = Route(base.src, base.dst, base.nodes, base.links, latency_ns,
                          base.bottleneck_bw_gbs)  # fmt: skip
            inf = float("inf")
            bw = min(base.bottleneck_bw_gbs, self._memory_gbs.get(src, inf),
                     self._memory_gbs.get(dst, inf))  # fmt: skip
            stream_ns = self.msg_bytes / bw
            cached = self._routes[key] = (route, latency_ns + stream_ns, stream_ns)
        return cached[:2]

    def stream_ns(self, src: str, dst: str) -> float:
        """How long a message ``src -> dst`` occupies the sender's port (bytes / the
        slowest link or memory of the leg)."""
        self.leg(src, dst)
        return self._routes[(src, dst)][2]

    def serve(
        self, cpu: str, arrival_ns: float, streams_ns: list[float], busy: dict[str, float]
    ) -> list[float]:
        """Take a message arriving at ``arrival_ns`` at ``cpu`` that sends one message
        below it per entry of ``streams_ns`` (each occupying the CPU's port that long; none:
        a PE_CPU dispatching); return the times they leave (or the dispatch time),
        updating ``busy`` (the real or the planned schedule). The port sends one message
        at a time, so a launch's own messages never share a link."""
        overhead_ns = self.machine.graph.node_overhead_ns(cpu)
        start_ns = builtins.max(arrival_ns, busy[cpu])
        if not streams_ns:
            busy[cpu] = start_ns + overhead_ns
            return [busy[cpu]]
        n_out = len(streams_ns)
        if self.multicast:
            busy[cpu] = start_ns + overhead_ns
            ready = [busy[cpu]] * n_out
        else:
            busy[cpu] = start_ns + n_out * overhead_ns
            ready = [start_ns + (i + 1) * overhead_ns for i in range(n_out)]
        return self.send_times(cpu, ready, streams_ns, busy)

    @staticmethod
    def send_times(
        sender: str, ready_ns: list[float], streams_ns: list[float], busy: dict[str, float]
    ) -> list[float]:
        """When messages ready at ``ready_ns`` leave ``sender``'s port, one at a time."""
        port = sender + ".port"
        out = []
        for ready, stream in zip(ready_ns, streams_ns, strict=True):
            send_ns = builtins.max(ready, busy[port])
            busy[port] = send_ns + stream
            out.append(send_ns)
        return out


def _tree(targets: Sequence[PeCoord]) -> dict[int, dict[int, list[int]]]:
    """Target indices by SIP then cube, in launch order (the order messages are sent)."""
    tree: dict[int, dict[int, list[int]]] = {}
    for index, c in enumerate(targets):
        tree.setdefault(c.sip, {}).setdefault(c.cube, []).append(index)
    return tree


def _launch_path(machine: Machine) -> LaunchPath:
    path = machine.launch_path
    if path is None:
        path = machine.launch_path = LaunchPath(machine)
    return path


def plan_dispatch(machine: Machine, targets: Sequence[PeCoord], now: float) -> list[float]:
    """When each target's PE_CPU will dispatch a launch issued at ``now``, as the IO_CPU
    plans it (no network contention; the planned CPU schedule is updated)."""
    path = _launch_path(machine)
    busy = path.planned_until_ns
    # Plans may start from the real schedule where it is later (an earlier launch's
    # message that the network delayed).
    for cpu, until in path.busy_until_ns.items():
        if until > busy[cpu]:
            busy[cpu] = until
    out = [0.0] * len(targets)
    host = g.host()
    tree = _tree(targets)
    ios = [g.io_cpu(sip) for sip in tree]
    host_sends = path.send_times(host, [now] * len(ios),
                                 [path.stream_ns(host, io) for io in ios], busy)  # fmt: skip
    for host_send, (sip, cubes) in zip(host_sends, tree.items(), strict=True):
        io = g.io_cpu(sip)
        arrive_io = host_send + path.leg(host, io)[1]
        mcpus = [g.m_cpu(sip, cube) for cube in cubes]
        streams = [path.stream_ns(io, mcpu) for mcpu in mcpus]
        for send_ns, mcpu, indices in zip(path.serve(io, arrive_io, streams, busy), mcpus,
                                          cubes.values(), strict=True):  # fmt: skip
            arrive_m = send_ns + path.leg(io, mcpu)[1]
            cpus = [g.pe_cpu(targets[index]) for index in indices]
            streams = [path.stream_ns(mcpu, cpu) for cpu in cpus]
            for send_pe, cpu, index in zip(path.serve(mcpu, arrive_m, streams, busy), cpus,
                                           indices, strict=True):  # fmt: skip
                (out[index],) = path.serve(cpu, send_pe + path.leg(mcpu, cpu)[1], [], busy)
    return out


def send_launch_messages(
    machine: Machine, targets: Sequence[PeCoord], launch_id: int, coll_id: int | None
) -> list[simpy.Event]:
    """Send a launch's messages down the path now; returns, per target, an event that
    fires when its PE_CPU has dispatched it."""
    path = _launch_path(machine)
    env = machine.env
    network = machine.network
    recorder = machine.recorder
    busy = path.busy_until_ns
    dispatched = [env.event() for _ in targets]
    tree = _tree(targets)

    def send(src: str, dst: str, at_ns: float, after: tuple[str, int, float],
             on_arrival: Callable[[float, int], None]) -> None:  # fmt: skip
        """Send one message at ``at_ns``; ``after`` is what it forwards (its deps row);
        ``on_arrival(time, dma_id)`` runs once it is recorded."""
        info = DmaInfo("launch_msg", launch_id, coll_id, None, after)

        def go(_event=None) -> None:
            done = network.transfer(path.leg(src, dst)[0], path.msg_bytes, info)
            done.callbacks.append(recorder.transfer_done)
            # transfer_done (the callback before) gave this message the last DMA id.
            done.callbacks.append(lambda _ev: on_arrival(env.now, recorder.next_dma_id - 1))

        if at_ns > env.now:
            env.timeout(at_ns - env.now).callbacks.append(go)
        else:
            go()

    def at_pe(mcpu: str, index: int, arrival_ns: float, _msg_id: int) -> None:
        (dispatch_ns,) = path.serve(g.pe_cpu(targets[index]), arrival_ns, [], busy)
        env.timeout(dispatch_ns - env.now).callbacks.append(
            lambda _ev: dispatched[index].succeed(env.now)
        )

    def at_m_cpu(sip: int, cube: int, arrival_ns: float, msg_id: int) -> None:
        mcpu, indices = g.m_cpu(sip, cube), tree[sip][cube]
        cpus = [g.pe_cpu(targets[index]) for index in indices]
        streams = [path.stream_ns(mcpu, cpu) for cpu in cpus]
        for send_ns, cpu, index in zip(path.serve(mcpu, arrival_ns, streams, busy), cpus,
                                       indices, strict=True):  # fmt: skip
            send(mcpu, cpu, send_ns, ("dma", msg_id, arrival_ns),
                 lambda t, d, m=mcpu, i=index: at_pe(m, i, t, d))  # fmt: skip

    def at_io_cpu(sip: int, arrival_ns: float, msg_id: int) -> None:
        io, cubes = g.io_cpu(sip), tree[sip]
        streams = [path.stream_ns(io, g.m_cpu(sip, cube)) for cube in cubes]
        for send_ns, cube in zip(path.serve(io, arrival_ns, streams, busy), cubes,
                                 strict=True):  # fmt: skip
            send(io, g.m_cpu(sip, cube), send_ns, ("dma", msg_id, arrival_ns),
                 lambda t, d, s=sip, k=cube: at_m_cpu(s, k, t, d))  # fmt: skip

    host = g.host()
    ios = [g.io_cpu(sip) for sip in tree]
    host_sends = path.send_times(host, [env.now] * len(ios),
                                 [path.stream_ns(host, io) for io in ios], busy)  # fmt: skip
    for send_ns, sip, io in zip(host_sends, tree, ios, strict=True):
        send(host, io, send_ns, ("launch", launch_id, env.now),
             lambda t, d, s=sip: at_io_cpu(s, t, d))  # fmt: skip
    return dispatched


def dispatch_latency_ns(machine: Machine, coord: PeCoord) -> float:
    """Path latency of a launch message from the host to ``coord``'s PE_CPU."""
    graph = machine.graph
    io, mcpu = g.io_cpu(coord.sip), g.m_cpu(coord.sip, coord.cube)
    return (
        graph.path_latency_ns(g.host(), io)
        + graph.path_latency_ns(io, mcpu)
        + graph.path_latency_ns(mcpu, g.pe_cpu(coord))
    )


def program_grid(
    targets: Sequence[PeCoord],
) -> tuple[list[tuple[int, int, int]], tuple[int, int, int]]:
    """Program ids and grid size for a launch over ``targets``.

    Axis 0 is the PE's position among the targets of its cube, axis 1 the cube's position
    among the target cubes of its SIP, axis 2 the SIP's position among target SIPs.
    """
    sips = sorted({c.sip for c in targets})
    cubes_of: dict[int, list[int]] = {}
    pes_of: dict[tuple[int, int], list[int]] = {}
    for c in sorted(targets):
        cubes = cubes_of.setdefault(c.sip, [])
        if c.cube not in cubes:
            cubes.append(c.cube)
        pes_of.setdefault((c.sip, c.cube), []).append(c.pe)
    ids = [
        (
            pes_of[(c.sip, c.cube)].index(c.pe),
            cubes_of[c.sip].index(c.cube),
            sips.index(c.sip),
        )
        for c in targets
    ]
    grid = (
        max(len(v) for v in pes_of.values()),
        max(len(v) for v in cubes_of.values()),
        len(sips),
    )
    return ids, grid


def grid_programs(
    grid: tuple[int, int, int], n_targets: int
) -> list[list[tuple[int, tuple[int, int, int]]]]:
    """Programs of a grid launch per target PE: ``(linear id, (x, y, z))`` lists.

    Policy: programs are numbered as Triton does (axis 0 fastest: ``linear = x + y * X +
    z * X * Y``) and dealt round-robin in that order over the targets, so program
    ``linear`` runs on target ``linear % n_targets``. A grid smaller than the target list
    uses only its first PEs.
    """
    gx, gy, gz = grid
    per_pe: list[list[tuple[int, tuple[int, int, int]]]] = [
        [] for _ in range(min(n_targets, gx * gy * gz))
    ]
    for linear in range(gx * gy * gz):
        pid = (linear % gx, (linear // gx) % gy, linear // (gx * gy))
        per_pe[linear % n_targets].append((linear, pid))
    return per_pe


def launch(
    machine: Machine,
    kernel: Callable[..., Any],
    targets: Sequence[PeCoord],
    args_for: Callable[[PeCoord], tuple],
    *,
    barrier: bool,
    mmu: Any = None,
    name: str | None = None,
    coll_id: int | None = None,
    grid: tuple[int, int, int] | None = None,
    meta: dict[str, Any] | None = None,
) -> Launch:
    """Start ``kernel`` on every PE of ``targets``; returns at once.

    ``args_for(coord)`` gives the program's arguments on that PE; ``mmu`` translates the
    virtual addresses its loads and stores use. The returned
    :class:`Launch` has a ``done`` event that succeeds when every program has finished
    (including its outstanding ops) or fails with the first program's error.
    Raises LaunchError for an empty or duplicated target list.

    With ``grid`` (x, y, z), the grid's programs are dealt over the targets
    (:func:`grid_programs`); each PE runs its programs one after another in program
    order, in one task: a program's ops may still be in flight when the next program
    starts issuing (the engine queues pipeline across programs, as a persistent kernel
    would), and the PE ends when the last op of its last program has finished. Each
    program gets ``program_id``/``num_programs`` from the grid, and ``meta`` as keywords.
    """
    if not targets:
        raise LaunchError("launch needs at least one target PE")
    if len(set(targets)) != len(targets):
        raise LaunchError("launch target PEs must be distinct")
    if grid is not None:
        return _launch_grid(machine, kernel, targets, args_for, barrier=barrier, mmu=mmu,
                            name=name, coll_id=coll_id, grid=grid, meta=meta or {})  # fmt: skip
    env = machine.env
    kernel_name = name or getattr(kernel, "__name__", "kernel")
    launch_id = machine.recorder.new_launch_id()
    now = env.now
    planned = plan_dispatch(machine, targets, now)
    target_start_ns = max(planned)
    dispatched = send_launch_messages(machine, targets, launch_id, coll_id)
    ids, grid = program_grid(targets)
    processes = []
    record = Launch(
        launch_id,
        kernel_name,
        list(targets),
        now,
        target_start_ns,
        barrier,
        done=env.event(),
        coll_id=coll_id,
    )
    for rank, (coord, event, pid) in enumerate(zip(targets, dispatched, ids, strict=True)):
        program = Program(machine, machine.pe_at(coord), kernel_name, launch_id, pid, grid, rank)
        program.coll_id = coll_id
        program.mmu = mmu
        program.launch = record
        program.layouts = record.layouts
        record.programs.append(program)
        task = machine.scheduler.spawn(
            _run_program,
            machine,
            program,
            kernel,
            args_for(coord),
            event,
            record,
            name=f"{kernel_name}[{pid[0]},{pid[1]},{pid[2]}]",
        )
        task.describe = f"PE {program.pe.name}"
        task.context = program
        task.greenlet.kb_program = program  # how tl finds its program: one attribute read
        processes.append(task.process)
    env.all_of(processes).callbacks.append(lambda ev: _finish(machine, record, ev))
    return record


def empty_launch(
    machine: Machine, kernel_name: str, grid: tuple[int, int, int], coll_id: int | None = None
) -> Launch:
    """A launch over a grid with a zero dimension: as Triton's launcher skips it, no
    message is sent and no program runs. Its ``launches`` row (``n_pes`` 0, every time
    the host's issue time) shows it was asked for; it is done at once, and the stream's
    order is untouched (nothing waited for it, and it waits for nothing)."""
    now = machine.env.now
    record = Launch(machine.recorder.new_launch_id(), kernel_name, [], now, now,
                    barrier=False, done=machine.env.event(), coll_id=coll_id,
                    grid=grid)  # fmt: skip
    _finish(machine, record, None)
    return record


def _finish(machine: Machine, record: Launch, event: simpy.Event | None) -> None:
    """Record the launch's row and fire ``done`` (``event``: its programs' all_of, None
    for a launch without programs). A launch that failed has its row too, ending when
    the failure stopped it, so a failed run's trace shows what was launched."""
    record.end_ns = machine.env.now
    grid = record.grid or record.programs[0].num_programs
    grid_text = "x".join(str(n) for n in grid)
    machine.recorder.row(
        "launches",
        launch_id=record.launch_id,
        kernel=record.kernel_name,
        grid=grid_text,
        n_pes=len(record.targets),
        barrier=record.barrier,
        host_issue_ns=record.host_issue_ns,
        target_start_ns=record.target_start_ns,
        end_ns=record.end_ns,
        coll_id=record.coll_id,
        late_pes=record.late_pes,
    )
    if event is not None and not event.ok:
        event.defused = True
        record.done.fail(event.value)
        return
    record.done.succeed(record)


def _await_start(machine: Machine, record: Launch, dispatched: simpy.Event, pe_name: str) -> float:
    """Block until the PE is dispatched, then (barrier) until ``target_start_ns``; a
    dispatch after ``target_start_ns`` is counted and warned about. Returns the
    dispatch time."""
    env = machine.env
    dispatch_ns = machine.scheduler.wait(dispatched, f"launch message to {pe_name}")
    if not record.barrier:
        return dispatch_ns
    start_ns = record.target_start_ns
    if dispatch_ns > start_ns + _LATE_TOLERANCE * builtins.max(1.0, start_ns):
        record.late_pes += 1
        warnings.warn(
            f"launch {record.launch_id} ({record.kernel_name}): the launch message reached PE "
            f"{pe_name} at {dispatch_ns:.1f} ns, after target_start_ns {start_ns:.1f} ns; "
            "it starts late",
            LateLaunchWarning,
            stacklevel=2,
        )
    elif start_ns > env.now:
        machine.scheduler.sleep(start_ns - env.now, "launch barrier")
    return dispatch_ns


def _run_program(
    machine: Machine,
    program: Program,
    kernel: Callable[..., Any],
    args: tuple,
    dispatched: simpy.Event,
    record: Launch,
) -> None:
    env = machine.env
    dispatch_ns = _await_start(machine, record, dispatched, program.pe.name)
    exec_start_ns = env.now
    program.resume = ("barrier", "launch", program.launch_id, exec_start_ns,
                      exec_start_ns - dispatch_ns)  # fmt: skip
    program.dispatch_ns = dispatch_ns
    program.exec_start_ns = exec_start_ns
    try:
        kernel(*args)
        program.drain()
        machine.ipcq.close(program)
    except SimulationError:
        raise
    except Exception as exc:
        raise _kernel_error(program, env.now, exc) from exc
    program.exec_end_ns = env.now
    machine.recorder.pe_exec(program)


def _kernel_error(program: Program, now_ns: float, exc: Exception) -> KernelError:
    """A Python error the kernel's code raised, naming its kernel, program, PE, time and
    the user's line that raised it."""
    line = user_line(exc.__traceback__)
    return KernelError(
        f"kernel {program.kernel_name!r} program {program.program_id} on PE "
        f"{program.pe.name} raised at t={now_ns:.1f} ns: {type(exc).__name__}: {exc}"
        + (f" (at {line})" if line else "")
    )


@dataclass
class _PeRun:
    """What a PE's pe_exec row reports for a grid launch (all its programs together)."""

    pe: Any
    launch_id: int
    dispatch_ns: float = 0.0
    exec_start_ns: float = 0.0
    exec_end_ns: float | None = None


def _launch_grid(machine, kernel, targets, args_for, *, barrier, mmu, name, coll_id, grid,
                 meta) -> Launch:  # fmt: skip
    env = machine.env
    kernel_name = name or getattr(kernel, "__name__", "kernel")
    launch_id = machine.recorder.new_launch_id()
    now = env.now
    per_pe = grid_programs(grid, len(targets))
    targets = list(targets)[: len(per_pe)]
    planned = plan_dispatch(machine, targets, now)
    target_start_ns = max(planned)
    dispatched = send_launch_messages(machine, targets, launch_id, coll_id)
    record = Launch(launch_id, kernel_name, targets, now, target_start_ns, barrier,
                    done=env.event(), coll_id=coll_id, grid=grid)  # fmt: skip
    processes = []
    for coord, event, programs_of_pe in zip(targets, dispatched, per_pe, strict=True):
        pe = machine.pe_at(coord)
        programs = []
        for linear, pid in programs_of_pe:
            program = Program(machine, pe, kernel_name, launch_id, pid, grid, linear)
            program.coll_id = coll_id
            program.mmu = mmu
            program.launch = record
            program.layouts = record.layouts
            programs.append(program)
            record.programs.append(program)
        task = machine.scheduler.spawn(
            _run_grid_programs, machine, programs, kernel, args_for(coord), meta,
            _PeRun(pe, launch_id), event, record,
            name=f"{kernel_name}@{pe.name}",
        )  # fmt: skip
        task.describe = f"PE {pe.name}"
        task.context = programs[0]
        processes.append(task.process)
    env.all_of(processes).callbacks.append(lambda ev: _finish(machine, record, ev))
    return record


def _run_grid_programs(machine: Machine, programs: list[Program], kernel, args: tuple,
                       meta: dict, pe_run: _PeRun, dispatched: simpy.Event,
                       record: Launch) -> None:  # fmt: skip
    env = machine.env
    pe_run.dispatch_ns = _await_start(machine, record, dispatched, pe_run.pe.name)
    for program in programs:
        program.dispatch_ns = pe_run.dispatch_ns
    pe_run.exec_start_ns = env.now
    current = machine.scheduler.current_task()
    for program in programs:
        program.exec_start_ns = env.now
        current.greenlet.kb_program = program
        current.context = program
        try:
            kernel(*args, **meta)
        except SimulationError:
            raise
        except Exception as exc:
            raise _kernel_error(program, env.now, exc) from exc
        program.body_end_ns = env.now
    for program in programs:
        program.drain()
        machine.ipcq.close(program)
        program.exec_end_ns = builtins.max(program.body_end_ns, program.idle_ns)
    pe_run.exec_end_ns = env.now
    machine.recorder.pe_exec(pe_run)
    c = pe_run.pe.coord
    for program in programs:
        machine.recorder.row("programs", launch_id=program.launch_id, program=program.rank,
                       pid_x=program.program_id[0], pid_y=program.program_id[1],
                       pid_z=program.program_id[2], sip=c.sip, cube=c.cube, pe=c.pe,
                       pe_global=c.pe_global, start_ns=program.exec_start_ns,
                       end_ns=program.exec_end_ns)  # fmt: skip
