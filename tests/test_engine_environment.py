"""The simulator's environment processes events in exactly SimPy's order.

``simulator.engine.environment.Environment`` keeps the events due now in a FIFO beside
SimPy's heap; these tests run the same random event programs on it and on
``simpy.Environment`` and compare what ran, when, in which order.
"""

from __future__ import annotations

import random

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from simpy.events import NORMAL, URGENT

from simulator.engine.environment import Environment
from simulator.engine.scheduler import Scheduler

PRIORITIES = (URGENT, NORMAL, NORMAL, NORMAL, 2)
DELAYS = (0, 0, 0, 1, 2.5, 3)


def _run_program(env: simpy.Environment, seed: int, max_events: int) -> list:
    """Run a random event program on ``env``; return (time, label) in processing order.

    Each processed event draws, from one seeded stream, the events it schedules: raw
    events at any priority and delay, timeouts, ``succeed`` now, and extra callbacks
    on events already scheduled. Both environments consume the stream in their own
    processing order, so any difference in order changes everything after it.
    """
    rng = random.Random(seed)
    log: list = []
    scheduled: list[simpy.Event] = []
    counter = iter(range(10**9))

    def on_event(label: str, event: simpy.Event) -> None:
        log.append((env.now, label, event.value))
        if len(log) >= max_events:
            return
        for _ in range(rng.randrange(4)):
            kind = rng.randrange(4)
            new_label = f"e{next(counter)}"
            if kind == 0:
                new = simpy.Event(env)
                new._ok, new._value = True, new_label
                env.schedule(new, rng.choice(PRIORITIES), rng.choice(DELAYS))
            elif kind == 1:
                new = env.timeout(rng.choice(DELAYS), value=new_label)
            elif kind == 2:
                new = simpy.Event(env).succeed(new_label)
            else:
                pending = [e for e in scheduled if not e.processed]
                if pending:
                    rng.choice(pending).callbacks.append(
                        lambda e, label=new_label: log.append((env.now, label, "extra"))
                    )
                continue
            new.callbacks.append(lambda e, label=new_label: on_event(label, e))
            scheduled.append(new)

    for i in range(4):
        start = env.timeout(rng.choice(DELAYS), value=f"start{i}")
        start.callbacks.append(lambda e, label=f"start{i}": on_event(label, e))
        scheduled.append(start)
    env.run()
    return log


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_events=st.integers(1, 400))
def test_events_run_in_simpys_order(seed, max_events):
    """Random programs of raw events, timeouts and succeeds at every priority and delay
    (many due at the same instant) run in the same order at the same times."""
    expected = _run_program(simpy.Environment(), seed, max_events)
    got = _run_program(Environment(), seed, max_events)
    assert got == expected
    assert len(got) >= 4


BOTH = pytest.mark.parametrize("make_env", [simpy.Environment, Environment])


def _ready_event(env, priority, delay=0):
    """A triggered event scheduled by hand (as SimPy's own Initialize is)."""
    event = simpy.Event(env)
    event._ok, event._value = True, None
    env.schedule(event, priority, delay)
    return event


@BOTH
def test_urgent_and_earlier_heap_events_go_before_the_due_now_fifo(make_env):
    """At one instant: URGENT first, then NORMAL by scheduling order across heap and
    FIFO (a timeout that expires now was scheduled before events due now), then lower
    priorities; time advances only after."""
    env = make_env()
    order = []

    def mark(label):
        return lambda e: order.append((env.now, label))

    def at_5(_):
        order.append((env.now, "first@5"))
        simpy.Event(env).succeed().callbacks.append(mark("due-now"))
        _ready_event(env, URGENT).callbacks.append(mark("urgent"))
        env.timeout(0).callbacks.append(mark("timeout(0)"))

    env.timeout(5).callbacks.append(mark("timeout@5"))  # heap, NORMAL, scheduled first
    _ready_event(env, 2, 5).callbacks.append(mark("low@5"))
    _ready_event(env, URGENT, 5).callbacks.append(at_5)  # runs first at t=5
    env.timeout(6).callbacks.append(mark("timeout@6"))
    env.run()
    assert order == [
        (5, "first@5"),
        (5, "urgent"),
        (5, "timeout@5"),
        (5, "due-now"),
        (5, "timeout(0)"),
        (5, "low@5"),
        (6, "timeout@6"),
    ]


@BOTH
def test_run_until_stops_and_resumes_like_simpy(make_env):
    """``run(until=event)`` returns its value; a callback added to that event after the
    stop runs first when the environment resumes; ``peek`` sees events due now."""
    env = make_env()
    order = []
    target = env.timeout(3, value="v")
    assert env.run(until=target) == "v"
    assert env.now == 3
    stop = simpy.Event(env)
    stop.callbacks.append(lambda e: order.append("before"))
    env.process(_succeed_later(env, stop))
    env.timeout(1).callbacks.append(lambda e: order.append("later"))
    assert env.run(until=stop) == "done"
    stop.callbacks.append(lambda e: order.append("after stop"))
    simpy.Event(env).succeed()
    assert env.peek() == env.now == 3.5
    env.run()
    assert order == ["before", "after stop", "later"]


def _succeed_later(env, event):
    yield env.timeout(0.5)
    event.succeed("done")


@BOTH
def test_a_failure_nobody_defused_crashes_the_run(make_env):
    """An event that failed and nobody handled raises a copy of its error from ``run``,
    chained to the original, as in SimPy."""
    env = make_env()
    error = ValueError("bad op")
    simpy.Event(env).fail(error)
    with pytest.raises(ValueError, match="bad op") as raised:
        env.run()
    assert raised.value is not error and raised.value.__cause__ is error


@BOTH
def test_the_scheduler_stops_at_the_awaited_event(make_env):
    """The scheduler's own run loop returns the awaited task's value at its end and
    leaves later events scheduled, which a later run processes."""
    env = make_env()
    scheduler = Scheduler(env)

    def body():
        scheduler.sleep(2)
        scheduler.sleep(0)
        return env.now

    task = scheduler.spawn(body, name="t")
    late = env.timeout(10)
    assert scheduler.wait(task.process) == 2
    assert env.now == 2 and not late.processed
    assert scheduler.wait(late) is None and env.now == 10


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 1.0, 2.5, 7.0]), st.sampled_from([0, 1, 2])),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.booleans(), max_size=80),
)
def test_the_heap_pops_entries_as_heapq_pops_simpys_tuples(entries, pops):
    """The compiled heap of ``_Entry`` objects gives the entries in the order ``heapq``
    gives SimPy's ``(time, priority, id, event)`` tuples, however pushes and pops
    interleave (ties in time go by priority, then by id)."""
    import heapq

    from simulator.engine.environment import _Entry, _pop_first, _push

    heap: list = []
    reference: list = []
    ours, theirs = [], []
    steps = iter(pops)
    for eid, (time, priority) in enumerate(entries):
        _push(heap, _Entry(time, priority, eid, None))
        heapq.heappush(reference, (time, priority, eid))
        if next(steps, False):
            entry = _pop_first(heap)
            ours.append((entry.time, entry.priority, entry.eid))
            theirs.append(heapq.heappop(reference))
    while reference:
        entry = _pop_first(heap)
        ours.append((entry.time, entry.priority, entry.eid))
        theirs.append(heapq.heappop(reference))
    assert not heap
    assert ours == theirs
    with pytest.raises(IndexError):
        _pop_first(heap)
