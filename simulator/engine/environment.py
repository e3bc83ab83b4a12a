"""SimPy's environment, with the events due now kept in a FIFO beside its heap.

SimPy keeps every scheduled event in one heap of ``(time, priority, id, event)``
entries. Most of a simulation's events are due the moment they are scheduled (an op's
end waking a kernel, a DMA piece landing, a block becoming ready: ``Event.succeed``), so
most pushes and pops paid ~log2(heap) comparisons of those tuples (~8 % of gpt3_qkv's
instructions). Here they wait in a FIFO instead, already in their order; the
heap keeps the events of later times. Events leave in exactly SimPy's order (see
:meth:`Environment._pop`), so a simulation and its traces are the same event for event.
An entry is an :class:`_Entry` object rather than a tuple, and the heap compares entries
in compiled code (:func:`_push`, :func:`_pop_first`): ``heapq`` would compare tuples
item by item through the interpreter's rich comparison (~4 % of gpt3_qkv).

An event here is a ``simpy.Event`` or a light one: any object with the fields the
environment processes (``callbacks``, a list then None once processed; ``_ok``;
``_value``), for the simulator's own events that nothing else waits on
(:class:`LightEvent`: an op's end on its engine, a PE's TCM wake-up).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

import simpy
from simpy.core import EmptySchedule, Infinity, SimTime, StopSimulation
from simpy.events import NORMAL, EventPriority

# A Final module name is read from a C static when compiled; a plain one is looked up in
# the module's dict at every use (this one is used per event).
_NORMAL: Final = NORMAL


class _Entry:
    """A scheduled event (see above): due at ``time`` with ``priority``; ``eid`` is its
    scheduling order. Entries leave by (time, priority, eid), as SimPy's tuples do."""

    __slots__ = ("time", "priority", "eid", "event")

    def __init__(self, time: float, priority: int, eid: int, event: Any) -> None:
        self.time = time
        self.priority = priority
        self.eid = eid
        self.event = event


def _before(first: _Entry, second: _Entry) -> bool:
    """Whether ``first`` leaves before ``second``: (time, priority, eid) ascending."""
    if first.time != second.time:
        return first.time < second.time
    if first.priority != second.priority:
        return first.priority < second.priority
    return first.eid < second.eid


def _push(heap: list[_Entry], entry: _Entry) -> None:
    """``heapq.heappush`` over :func:`_before`."""
    heap.append(entry)
    position = len(heap) - 1
    while position > 0:
        parent_position = (position - 1) >> 1
        parent = heap[parent_position]
        if not _before(entry, parent):
            break
        heap[position] = parent
        position = parent_position
    heap[position] = entry


def _pop_first(heap: list[_Entry]) -> _Entry:
    """``heapq.heappop`` over :func:`_before`: the first entry to leave. Raises
    IndexError when the heap is empty."""
    last = heap.pop()
    if not heap:
        return last
    first = heap[0]
    size = len(heap)
    position = 0
    child_position = 1
    while child_position < size:  # move the earlier child up until `last` fits
        child = heap[child_position]
        right_position = child_position + 1
        if right_position < size and _before(heap[right_position], child):
            child_position = right_position
            child = heap[child_position]
        if not _before(child, last):
            break
        heap[position] = child
        position = child_position
        child_position = 2 * position + 1
    heap[position] = last
    return first


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
    in a FIFO (``_due_now``) instead of the heap; everything else goes to the heap
    (``_heap``, of :class:`_Entry`; SimPy's own ``_queue`` of tuples stays empty). A
    drop-in: ``timeout``, ``event``, ``process``, ``run``, ``peek`` and ``step`` behave as
    SimPy's."""

    # SimPy's own state, declared again so that compiled code reads it from the object's
    # fields, not its __dict__ (``_now`` is read by most hot paths).
    _now: SimTime

    def __init__(self, initial_time: SimTime = 0) -> None:
        super().__init__(initial_time)
        self._heap: list[_Entry] = []
        self._due_now: deque[_Entry] = deque()
        self._next_eid = 0
        """The id of the next event scheduled (ties at one time and priority go by id)."""

    def schedule(self, event: Any, priority: EventPriority = NORMAL,
                 delay: SimTime = 0) -> None:  # fmt: skip
        """Schedule ``event`` with ``priority`` after ``delay`` (SimPy's signature)."""
        eid = self._next_eid  # SimPy's ``next(self._eid)``, as a plain counter
        self._next_eid = eid + 1
        if not delay and priority == _NORMAL:
            self._due_now.append(_Entry(self._now, priority, eid, event))
        else:
            _push(self._heap, _Entry(self._now + delay, priority, eid, event))

    def peek(self) -> SimTime:
        """The time of the next scheduled event, or ``simpy.core.Infinity`` if none."""
        if self._due_now:
            return self._now
        return self._heap[0].time if self._heap else Infinity

    def _pop(self) -> _Entry:
        """Take the next entry in SimPy's order, (time, priority, id) ascending; raise
        IndexError when none is left.

        Every FIFO entry is due now (it was scheduled now, and time cannot pass it) with
        NORMAL priority, in id order. A heap entry goes first only when it is due now too
        and ranks before the FIFO's head: URGENT, or NORMAL and scheduled earlier.
        """
        due = self._due_now
        queue = self._heap
        if due:
            if queue:
                top = queue[0]
                if top.time <= self._now and (
                    top.priority < _NORMAL or (top.priority == _NORMAL and top.eid < due[0].eid)
                ):
                    return _pop_first(queue)
            return due.popleft()
        return _pop_first(queue)

    def step(self) -> None:
        """Process the next event (SimPy's ``step``, taking it with :meth:`_pop`).

        Raises ``simpy.core.EmptySchedule`` when no event is left."""
        try:
            entry = self._pop()
        except IndexError:
            raise EmptySchedule from None
        self._now = entry.time
        event = entry.event
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
