"""One scheduler greenlet drives SimPy; user code that blocks runs in task greenlets.

Lifecycle of a task: created -> running (in its greenlet) -> blocked (a callback on the
event it waits on will switch back in) -> running -> done (or failed, with the exception
raised through its process event). Rules, which rule out nested-greenlet hangs and orphaned tasks:

1. Only the scheduler greenlet (the one that built the :class:`Scheduler`) calls
   ``env.run``.
2. Every task greenlet is created with ``parent=`` the scheduler greenlet, whoever spawns
   it and however deep.
3. ``wait(event)`` from a task hands the event to the scheduler (the wrapping process
   yields it); from the scheduler itself it runs the environment until the event fires.

If the environment runs dry while the scheduler waits, :class:`DeadlockError` lists each
blocked task, what it waits on and the simulated time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial
from typing import Any

import simpy
from greenlet import greenlet
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import URGENT

from simulator.engine.errors import (
    DeadlockError,
    DeviceFailedError,
    SimulationError,
    debug_enabled,
)

# NumPy's temporary elision (``a * 2.0`` on a >= 256 KiB temporary) walks the C stack
# with glibc's backtrace() for 10 frames. Inside a greenlet that walk can run past the
# greenlet's first frame into stack memory now owned by other code and crash the
# process. Entering user code through a few C-level calls keeps those 10 frames inside
# the task's own stack.
_C_LEVELS = 3

# Allocations between young-generation collections while the environment runs (see
# Scheduler._run_until; Python's default is 700).
RUN_GC_GEN0 = 50_000


def _far_from_stack_base(fn: Callable[..., Any], levels: int, *args: Any) -> Any:
    """Call ``fn(*args)`` under ``levels`` nested C -> Python calls (see _C_LEVELS)."""
    if levels == 0:
        return fn(*args)
    return next(map(_far_from_stack_base, (fn,), (levels - 1,), *([a] for a in args)))


class Task:
    """A greenlet running user code; ``process`` is the event its end triggers."""

    __slots__ = ("name", "greenlet", "process", "waiting_on", "describe", "context", "resume")

    def __init__(self, name: str, glet: greenlet) -> None:
        self.name = name
        self.greenlet = glet
        self.process: simpy.Event | None = None
        # What the task is blocked on, for deadlock reports (None while running): a
        # string, a callable giving one (formatted only for a report), or the event.
        self.waiting_on: Any = None
        # Extra context for reports (e.g. the PE a kernel runs on).
        self.describe: str = ""
        # What the task runs for (a kernel Program, a host rank), for ``tl`` and reports.
        self.context: object = None
        # The callback that switches back into the task when the event it waits on fires.
        self.resume: Callable[[Any], None] | None = None


class Scheduler:
    """Owns the SimPy environment and the task greenlets that block on it.

    A task is driven by callbacks rather than by a SimPy process generator, for speed:
    an URGENT start event switches into its greenlet (when a SimPy process would start),
    and each event it waits on gets a callback that switches back in (where the process
    would resume). Its ``process`` event succeeds with the task's return value or fails
    with its exception, scheduled as a SimPy process's end is.
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.greenlet = greenlet.getcurrent()
        self._task_of: dict[greenlet, Task] = {}
        self.failure: tuple[float, SimulationError] | None = None
        """(time, error) of an error that stopped the device mid-step (see _run_until)."""

    # -- tasks -------------------------------------------------------------------------
    def spawn(self, fn: Callable[..., Any], *args: Any, name: str) -> Task:
        """Start ``fn(*args)`` as a task; returns at once (the task runs on the next step).

        The task's process event succeeds with ``fn``'s return value or fails with the
        exception it raised.
        """
        glet = greenlet(partial(_far_from_stack_base, fn, _C_LEVELS), parent=self.greenlet)
        task = Task(name, glet)
        self._task_of[glet] = task
        env = self.env
        task.process = simpy.Event(env)
        task.resume = partial(self._resume, task)
        start = simpy.Event(env)  # as SimPy's Initialize: already ok, URGENT
        start._ok = True
        start._value = None
        start.callbacks.append(partial(self._drive, task, glet.switch, args))
        env.schedule(start, URGENT)
        return task

    def _resume(self, task: Task, event: Any) -> None:
        """Callback of the event ``task`` waits on (a ``simpy.Event``, or a light event:
        see ``simulator.engine.environment``): switch into it with the value, or throw in
        a copy of the failure (as a SimPy process does)."""
        task.waiting_on = None
        if event._ok:
            self._drive(task, task.greenlet.switch, (event._value,))
            return
        event._defused = True
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        self._drive(task, task.greenlet.throw, (exc,))

    def _drive(self, task: Task, enter: Callable[..., Any], args: tuple, _event=None) -> None:
        """Run ``task`` (``enter(*args)`` switches into it) until it blocks or ends."""
        try:
            result = enter(*args)
        except BaseException as exc:
            del self._task_of[task.greenlet]
            task.resume = None  # no cycle task -> callback -> task left for the collector
            task.process.fail(exc)  # type: ignore[union-attr, arg-type]  # set by spawn
            return
        if task.greenlet.dead:
            del self._task_of[task.greenlet]
            task.resume = None
            task.process.succeed(result)  # type: ignore[union-attr]  # set by spawn
        # else the task blocked: wait() has hooked task.resume to the event it waits on

    def current_task(self) -> Task | None:
        """The task running now, or None when called from the scheduler itself."""
        return self._task_of.get(greenlet.getcurrent())

    def live_tasks(self) -> list[Task]:
        """Tasks that have started and not finished, in creation order."""
        return list(self._task_of.values())

    # -- blocking ----------------------------------------------------------------------
    def wait(self, event: simpy.Event, what: str | Callable[[], str] = "") -> Any:
        """Block until ``event`` fires and return its value (raise if it failed).

        ``what`` describes the wait for deadlock reports ("recv from E, round 3"), or is
        a callable giving that text (formatted only if a report needs it).
        Raises DeadlockError if the scheduler waits and nothing can fire the event.
        """
        if event.processed:  # no switch needed (typed a list, callbacks is None then)
            if not event.ok:
                raise event.value  # type: ignore[misc]  # a failed event's value: its error
            return event.value
        current = greenlet.getcurrent()
        if current is self.greenlet:
            return self._run_until(event, what() if callable(what) else what)
        task = self._task_of.get(current)
        if task is None:
            raise RuntimeError(
                "wait() called from a greenlet that is neither the scheduler nor one of its "
                "tasks; create blocking code with Scheduler.spawn"
            )
        task.waiting_on = what or event
        event.callbacks.append(task.resume)  # type: ignore[arg-type]  # set while it runs
        return self.greenlet.switch()

    def block(self, task: Task | None, what: str | Callable[[], str]) -> Any:
        """Switch out of ``task`` (the current one) until a callback resumes it with
        ``task.resume(event)``; return that event's value. For waits whose wake-ups a
        component drives itself (a kernel waiting for TCM space), without an event of
        their own. ``what`` is as for :meth:`wait`. Raises RuntimeError outside a task.
        """
        if task is None or task.greenlet is not greenlet.getcurrent():
            raise RuntimeError("block() is for a task blocking itself; use wait() elsewhere")
        task.waiting_on = what
        return self.greenlet.switch()

    def sleep(self, delay_ns: float, what: str = "sleep") -> None:
        """Block for ``delay_ns`` of simulated time."""
        self.wait(self.env.timeout(delay_ns), what)

    def _run_until(self, event: simpy.Event, what: str) -> Any:
        # The simulator's objects are freed by reference counting (TCM accounting relies
        # on it); the cyclic collector only ever finds dead tasks. Its young generation
        # is collected every RUN_GC_GEN0 allocations instead of 700 while SimPy runs, so
        # it stops re-scanning the in-flight ops, blocks and events (~8% of the work).
        if self.failure is not None:
            at_ns, failure = self.failure
            first = str(failure).splitlines()[0]
            raise DeviceFailedError(
                f"the simulated device stopped at t={at_ns:.1f} ns: {first}; the programs "
                "running then cannot finish, so nothing after can run (as a GPU context is "
                "lost after a device assert): make a new Runtime"
            )
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], RUN_GC_GEN0), *thresholds[1:])
        try:
            return self._run_env(event)
        except SimulationError as exc:
            # Raised by the awaited event itself (a failed launch: its programs ended),
            # the machine is whole; raised from inside another event's callbacks (an op
            # that failed as it ran), that step was cut short and the device stops.
            if not (event.triggered and not event.ok and event.value is exc):
                self.failure = (self.env.now, exc)
            if debug_enabled():
                raise
            # The message names kernel, PE, time and the user's line: drop the SimPy,
            # greenlet and scheduler frames (KERNBENCH_DEBUG=1 keeps them).
            # `from None` spelled out: mypyc's compiled raise keeps the cause.
            exc.__cause__ = None
            raise exc.with_traceback(None) from None
        except RuntimeError as exc:
            if "No scheduled events left" not in str(exc):
                raise
            deadlock = DeadlockError(self.deadlock_report(what))
            deadlock.__cause__ = None  # `from None`, as above
            raise deadlock from None
        finally:
            gc.set_threshold(*thresholds)

    def _run_env(self, until: simpy.Event) -> Any:
        """``env.run(until=until)`` in compiled code (the loop that runs every event of
        a simulation): the same steps, the same stop at ``until`` and the same
        RuntimeError when no event is left."""
        env = self.env
        if until.processed:
            return until.value
        until.callbacks.append(StopSimulation.callback)
        step = env.step
        try:
            while True:
                step()
        except StopSimulation as stop:
            return stop.args[0]  # until's value
        except EmptySchedule:
            pass
        raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}')

    def deadlock_report(self, what: str = "") -> str:
        """A message listing every blocked task, what it waits on, and the time."""
        lines = [f"deadlock at t={self.env.now:.1f} ns: no event can fire"]
        if what:
            lines[0] += f" (the host waits on {what})"
        blocked = [t for t in self.live_tasks() if t.waiting_on is not None]
        if not blocked:
            lines.append("  no task is blocked; the awaited event is never triggered")
        for task in blocked:
            where = f" [{task.describe}]" if task.describe else ""
            waiting_on = task.waiting_on
            if isinstance(waiting_on, simpy.Event):
                waiting_on = repr(waiting_on)
            elif callable(waiting_on):
                waiting_on = waiting_on()
            lines.append(f"  {task.name}{where} waits on {waiting_on}")
        return "\n".join(lines)
