"""SimPy's environment, with the events due now kept in a FIFO beside its heap.

SimPy keeps every scheduled event in one heap of ``(time, priority, id, event)``
entries. Most of a simulation's events are due the moment they are scheduled (an op's
end waking a kernel, a DMA piece landing, a block becoming ready: ``Event.succeed``), so
most pushes and pops paid ~log2(heap) comparisons of those tuples (~8 % of gpt3_qkv's
instructions). Here they wait in a FIFO instead, already in their order; the
heap keeps the events of later times. Events leave in exactly SimPy's order (see
:meth:`Environment._pop`), so a simulation and its traces are the same event for event.

An event here is a ``simpy.Event`` or a light one: any object with the fields the
environment processes (``callbacks``, a list then None once processed; ``_ok``;
``_value``), for the simulator's own events that nothing else waits on
(:class:`LightEvent`: an op's end on its engine, a PE's TCM wake-up).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import simpy
from simpy.core import EmptySchedule, SimTime, StopSimulation
from simpy.events import NORMAL, EventPriority

_Entry = tuple[SimTime, EventPriority, int, Any]  # the event: see above

# Final module names are read from C statics when compiled; a plain one is looked up in
# the module's dict at every use (these are used per event).
heappop: Final = heapq.heappop
heappush: Final = heapq.heappush
_NORMAL: Final = NORMAL


class LightEvent:
    """An event that succeeds with ``value`` after ``delay_ns`` and runs ``callback``: one
    waiter, known when it is made (an op's end on its engine). Only the fields the
    environment processes, without a ``simpy.Event``'s per-object dict and interpreted
    ``__init__`` (compiled, it costs a fraction of a ``Timeout``); nothing can wait on
    it with ``yield``."""

    def __init__(self, env: Environment, callback: Callable[[Any], None], value: Any = None,
                 delay_ns: float = 0) -> None:  # fmt: skip
        self.callbacks: list[Callable[[Any], None]] | None = [callback]
        self._ok = True
        self._value = value
        env.schedule(self, _NORMAL, delay_ns)


class Environment(simpy.Environment):
    """``simpy.Environment`` whose events scheduled with no delay at NORMAL priority wait
    in a FIFO (``_due_now``) instead of the heap; everything else goes to the heap as
    in SimPy. A drop-in: ``timeout``, ``event``, ``process``, ``run``, ``peek`` and
    ``step`` behave as SimPy's."""

    # SimPy's own state, declared again so that compiled code reads it from the object's
    # fields, not its __dict__ (``_now`` is read by most hot paths).
    _now: SimTime
    _queue: list[_Entry]

    def __init__(self, initial_time: SimTime = 0) -> None:
        super().__init__(initial_time)
        self._due_now: deque[_Entry] = deque()
        self._next_eid = 0
        """The id of the next event scheduled (ties at one time and priority go by id)."""

    def schedule(self, event: Any, priority: EventPriority = NORMAL,
                 delay: SimTime = 0) -> None:  # fmt: skip
        """Schedule ``event`` with ``priority`` after ``delay`` (SimPy's signature)."""
        eid = self._next_eid  # SimPy's ``next(self._eid)``, as a plain counter
        self._next_eid = eid + 1
        if not delay and priority == _NORMAL:
            self._due_now.append((self._now, priority, eid, event))
        else:
            heappush(self._queue, (self._now + delay, priority, eid, event))

    def peek(self) -> SimTime:
        """The time of the next scheduled event, or ``simpy.core.Infinity`` if none."""
        if self._due_now:
            return self._now
        return super().peek()

    def _pop(self) -> _Entry:
        """Take the next entry in SimPy's order, (time, priority, id) ascending; raise
        IndexError when none is left.

        Every FIFO entry is due now (it was scheduled now, and time cannot pass it) with
        NORMAL priority, in id order. A heap entry goes first only when it is due now too
        and ranks before the FIFO's head: URGENT, or NORMAL and scheduled earlier.
        """
        due = self._due_now
        queue = self._queue
        if due:
            if queue:
                top = queue[0]
                if top[0] <= self._now and (
                    top[1] < _NORMAL or (top[1] == _NORMAL and top[2] < due[0][2])
                ):
                    return heappop(queue)
            return due.popleft()
        return heappop(queue)

    def step(self) -> None:
        """Process the next event (SimPy's ``step``, taking it with :meth:`_pop`).

        Raises ``simpy.core.EmptySchedule`` when no event is left."""
        try:
            entry = self._pop()
        except IndexError:
            raise EmptySchedule from None
        self._now = entry[0]
        event = entry[3]
        # Set the event's callbacks to None first, to prevent concurrent modifications.
        callbacks = event.callbacks
        event.callbacks = None  # type: ignore[assignment]  # processed (SimPy's mark)
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            # The remaining callbacks run first when the simulation resumes.
            event.callbacks = callbacks[callbacks.index(callback) + 1 :]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            # A failure nobody defused crashes the environment (a copy with a new
            # traceback, as in SimPy).
            value: Any = event._value
            exc = type(value)(*value.args)
            exc.__cause__ = value
            raise exc
