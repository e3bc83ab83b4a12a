"""The launch path: host -> IO_CPU -> M_CPU -> PE_CPU, and one program per target PE.

A KernelLaunchMsg travels from the host to the IO_CPU of each target SIP, then to the
M_CPU of each target cube, then to each target PE_CPU, paying each leg's path latency
(link latencies plus arrival-node overheads, from the topology). With the barrier on, the
IO_CPU stamps ``target_start_ns = host_issue_ns + max(dispatch latency over targets)``
and every PE_CPU waits until then, so all programs start at the same simulated time.
With it off, each PE starts as soon as its message arrives, and the start spread shows
the dispatch path lengths.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulator.engine.errors import KernelError, LaunchError, SimulationError
from simulator.engine.machine import Machine
from simulator.engine.pe import Program
from simulator.hw import graph as g
from simulator.hw.topology import PeCoord


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
    latencies = [dispatch_latency_ns(machine, c) for c in targets]
    target_start_ns = now + max(latencies)
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
    for rank, (coord, latency, pid) in enumerate(zip(targets, latencies, ids, strict=True)):
        program = Program(machine, machine.pe_at(coord), kernel_name, launch_id, pid, grid, rank)
        program.coll_id = coll_id
        program.mmu = mmu
        program.launch = record
        record.programs.append(program)
        start_ns = target_start_ns if barrier else now + latency
        task = machine.scheduler.spawn(
            _run_program,
            machine,
            program,
            kernel,
            args_for(coord),
            now + latency,
            start_ns,
            name=f"{kernel_name}[{pid[0]},{pid[1]},{pid[2]}]",
        )
        task.describe = f"PE {program.pe.name}"
        task.context = program
        task.greenlet.kb_program = program  # how tl finds its program: one attribute read
        processes.append(task.process)
    env.all_of(processes).callbacks.append(lambda ev: _finish(machine, record, ev))
    return record


def _finish(machine: Machine, record: Launch, event: simpy.Event) -> None:
    if not event.ok:
        event.defused = True
        record.done.fail(event.value)
        return
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
    )
    record.done.succeed(record)


def _run_program(
    machine: Machine,
    program: Program,
    kernel: Callable[..., Any],
    args: tuple,
    dispatch_ns: float,
    start_ns: float,
) -> None:
    env = machine.env
    machine.scheduler.sleep(start_ns - env.now, "launch barrier")
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
        raise KernelError(
            f"kernel {program.kernel_name!r} program {program.program_id} on PE "
            f"{program.pe.name} raised at t={env.now:.1f} ns: {type(exc).__name__}: {exc}"
        ) from exc
    program.exec_end_ns = env.now
    machine.recorder.pe_exec(program)


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
    latencies = [dispatch_latency_ns(machine, c) for c in targets]
    target_start_ns = now + max(latencies)
    record = Launch(launch_id, kernel_name, targets, now, target_start_ns, barrier,
                    done=env.event(), coll_id=coll_id, grid=grid)  # fmt: skip
    processes = []
    for coord, latency, programs_of_pe in zip(targets, latencies, per_pe, strict=True):
        pe = machine.pe_at(coord)
        programs = []
        for linear, pid in programs_of_pe:
            program = Program(machine, pe, kernel_name, launch_id, pid, grid, linear)
            program.coll_id = coll_id
            program.mmu = mmu
            program.launch = record
            program.dispatch_ns = now + latency
            programs.append(program)
            record.programs.append(program)
        start_ns = target_start_ns if barrier else now + latency
        task = machine.scheduler.spawn(
            _run_grid_programs, machine, programs, kernel, args_for(coord), meta,
            _PeRun(pe, launch_id, now + latency), start_ns,
            name=f"{kernel_name}@{pe.name}",
        )  # fmt: skip
        task.describe = f"PE {pe.name}"
        task.context = programs[0]
        processes.append(task.process)
    env.all_of(processes).callbacks.append(lambda ev: _finish(machine, record, ev))
    return record


def _run_grid_programs(machine: Machine, programs: list[Program], kernel, args: tuple,
                       meta: dict, pe_run: _PeRun, start_ns: float) -> None:  # fmt: skip
    env = machine.env
    machine.scheduler.sleep(start_ns - env.now, "launch barrier")
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
            raise KernelError(
                f"kernel {program.kernel_name!r} program {program.program_id} on PE "
                f"{program.pe.name} raised at t={env.now:.1f} ns: {type(exc).__name__}: {exc}"
            ) from exc
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
