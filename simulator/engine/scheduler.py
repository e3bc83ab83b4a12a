"""One scheduler greenlet drives SimPy; user code that blocks runs in task greenlets.

Lifecycle of a task: created -> running (in its greenlet) -> blocked (its SimPy process
yields the event it waits on) -> running -> done (or failed, with the exception raised
through its process). Rules, which rule out nested-greenlet hangs and orphaned tasks:

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

from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import simpy
from greenlet import greenlet

from simulator.engine.errors import DeadlockError, SimulationError, debug_enabled

# NumPy's temporary elision (``a * 2.0`` on a >= 256 KiB temporary) walks the C stack
# with glibc's backtrace() for 10 frames. Inside a greenlet that walk can run past the
# greenlet's first frame into stack memory now owned by other code and crash the
# process. Entering user code through a few C-level calls keeps those 10 frames inside
# the task's own stack.
_C_LEVELS = 3


def _far_from_stack_base(fn: Callable[..., Any], levels: int, *args: Any) -> Any:
    """Call ``fn(*args)`` under ``levels`` nested C -> Python calls (see _C_LEVELS)."""
    if levels == 0:
        return fn(*args)
    return next(map(_far_from_stack_base, (fn,), (levels - 1,), *([a] for a in args)))


class Task:
    """A greenlet running user code, wrapped in a SimPy process."""

    __slots__ = ("name", "greenlet", "process", "waiting_on", "describe", "context")

    def __init__(self, name: str, glet: greenlet) -> None:
        self.name = name
        self.greenlet = glet
        self.process: simpy.Process | None = None
        # What the task is blocked on, for deadlock reports (None while running).
        self.waiting_on: str | None = None
        # Extra context for reports (e.g. the PE a kernel runs on).
        self.describe: str = ""
        # What the task runs for (a kernel Program, a host rank), for ``tl`` and reports.
        self.context: object = None


class Scheduler:
    """Owns the SimPy environment and the task greenlets that block on it."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.greenlet = greenlet.getcurrent()
        self._task_of: dict[greenlet, Task] = {}

    # -- tasks -------------------------------------------------------------------------
    def spawn(self, fn: Callable[..., Any], *args: Any, name: str) -> Task:
        """Start ``fn(*args)`` as a task; returns at once (the task runs on the next step).

        The task's process event succeeds with ``fn``'s return value or fails with the
        exception it raised.
        """
        glet = greenlet(partial(_far_from_stack_base, fn, _C_LEVELS), parent=self.greenlet)
        task = Task(name, glet)
        self._task_of[glet] = task
        task.process = self.env.process(self._drive(task, args))
        return task

    def _drive(self, task: Task, args: tuple) -> Generator[simpy.Event, Any, Any]:
        glet = task.greenlet
        try:
            request = glet.switch(*args)
            while not glet.dead:
                try:
                    value = yield request
                except BaseException as exc:  # the awaited event failed: raise it in the task
                    task.waiting_on = None
                    request = glet.throw(exc)
                else:
                    task.waiting_on = None
                    request = glet.switch(value)
            return request
        finally:
            del self._task_of[glet]

    def current_task(self) -> Task | None:
        """The task running now, or None when called from the scheduler itself."""
        return self._task_of.get(greenlet.getcurrent())

    def live_tasks(self) -> list[Task]:
        """Tasks that have started and not finished, in creation order."""
        return list(self._task_of.values())

    # -- blocking ----------------------------------------------------------------------
    def wait(self, event: simpy.Event, what: str = "") -> Any:
        """Block until ``event`` fires and return its value (raise if it failed).

        ``what`` describes the wait for deadlock reports ("recv from E, round 3").
        Raises DeadlockError if the scheduler waits and nothing can fire the event.
        """
        if event.callbacks is None:  # already processed: no switch needed
            if not event.ok:
                raise event.value
            return event.value
        current = greenlet.getcurrent()
        if current is self.greenlet:
            return self._run_until(event, what)
        task = self._task_of.get(current)
        if task is None:
            raise RuntimeError(
                "wait() called from a greenlet that is neither the scheduler nor one of its "
                "tasks; create blocking code with Scheduler.spawn"
            )
        task.waiting_on = what or repr(event)
        return self.greenlet.switch(event)

    def sleep(self, delay_ns: float, what: str = "sleep") -> None:
        """Block for ``delay_ns`` of simulated time."""
        self.wait(self.env.timeout(delay_ns), what)

    def _run_until(self, event: simpy.Event, what: str) -> Any:
        try:
            return self.env.run(until=event)
        except SimulationError as exc:
            if debug_enabled():
                raise
            # The message names kernel, PE, time and the user's line: drop the SimPy,
            # greenlet and scheduler frames (KERNBENCH_DEBUG=1 keeps them).
            raise exc.with_traceback(None) from None
        except RuntimeError as exc:
            if "No scheduled events left" not in str(exc):
                raise
            raise DeadlockError(self.deadlock_report(what)) from None

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
            lines.append(f"  {task.name}{where} waits on {task.waiting_on}")
        return "\n".join(lines)
