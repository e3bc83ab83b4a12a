"""The greenlet bridge: tasks block on simulated time, the scheduler alone runs SimPy."""

import pytest
import simpy
from greenlet import greenlet

from simulator.engine.errors import DeadlockError
from simulator.engine.scheduler import Scheduler


def make():
    env = simpy.Environment()
    return env, Scheduler(env)


def test_task_sleeps_in_simulated_time():
    """A task that sleeps 10 ns twice finishes at t=20 and returns its value."""
    env, sched = make()

    def body(x):
        sched.sleep(10)
        sched.sleep(10)
        return x * 2

    task = sched.spawn(body, 21, name="t")
    assert sched.wait(task.process) == 42
    assert env.now == 20


def test_host_wait_runs_environment_until_event():
    """The scheduler blocks by running the environment only until its event fires."""
    env, sched = make()
    late = env.timeout(100)
    early = env.timeout(5, value="v")
    assert sched.wait(early) == "v"
    assert env.now == 5
    assert not late.processed


def test_nested_spawn_keeps_scheduler_parent():
    """Tasks spawned from tasks, at any depth, have the scheduler greenlet as parent."""
    env, sched = make()
    parents = []

    def leaf(depth):
        parents.append(greenlet.getcurrent().parent)
        sched.sleep(1)
        if depth < 3:
            child = sched.spawn(leaf, depth + 1, name=f"d{depth + 1}")
            sched.wait(child.process)
        return depth

    root = sched.spawn(leaf, 0, name="d0")
    sched.wait(root.process)
    assert len(parents) == 4
    assert all(p is sched.greenlet for p in parents)
    assert env.now == 4


def test_task_exception_propagates_to_waiter():
    """An exception raised in a task fails its process and reaches whoever waits on it."""
    env, sched = make()

    def bad():
        sched.sleep(3)
        raise ValueError("boom")

    task = sched.spawn(bad, name="bad")
    with pytest.raises(ValueError, match="boom"):
        sched.wait(task.process)


def test_failed_event_is_raised_inside_task():
    """A failed event a task waits on raises in that task, which may handle it."""
    env, sched = make()
    ev = env.event()

    def body():
        try:
            sched.wait(ev, "ev")
        except KeyError:
            return "handled"

    task = sched.spawn(body, name="t")
    env.process(_fail_later(env, ev))
    assert sched.wait(task.process) == "handled"


def _fail_later(env, ev):
    yield env.timeout(2)
    ev.fail(KeyError("x"))


def test_deadlock_lists_blocked_tasks():
    """Two tasks waiting on events nobody triggers give a DeadlockError naming both."""
    env, sched = make()
    never_a, never_b = env.event(), env.event()

    def waiter(ev, what):
        sched.sleep(7)
        sched.wait(ev, what)

    a = sched.spawn(waiter, never_a, "recv from E", name="rank0")
    b = sched.spawn(waiter, never_b, "recv from W", name="rank1")
    with pytest.raises(DeadlockError) as info:
        sched.wait(env.all_of([a.process, b.process]), "join")
    msg = str(info.value)
    assert "t=7.0 ns" in msg
    assert "rank0" in msg and "recv from E" in msg
    assert "rank1" in msg and "recv from W" in msg


def test_wait_outside_tasks_is_an_error():
    """A foreign greenlet cannot block: it gets a clear error instead of hanging."""
    env, sched = make()
    ev = env.timeout(1)
    foreign = greenlet(lambda: sched.wait(ev))
    with pytest.raises(RuntimeError, match="Scheduler.spawn"):
        foreign.switch()


_ELISION_SCRIPT = """
import numpy as np
from simulator.runtime.multiprocessing import spawn
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

rt = Runtime("default")

def rank_main(rank, rt):
    for i in range(3):
        t = rt.empty((512, 512), "float16", Placement.single(rank))
        # A >= 256 KiB temporary: NumPy's elision walks the C stack with backtrace().
        (np.random.default_rng(i).standard_normal((512, 512)) * 0.02).astype(np.float16)
        rt.copy_from_host(t, None)

spawn(rank_main, args=(rt,), nprocs=4)
print("survived")
"""


def test_numpy_temporary_elision_inside_tasks_does_not_crash():
    """Large numpy temporaries in tasks that blocked before do not crash the process."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _ELISION_SCRIPT], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "survived" in done.stdout


def test_block_returns_the_value_its_resume_gets_at_that_time():
    """A task that blocks itself runs again only when a callback resumes it (futile
    wake-ups that do not resume it cost no switch), with that event's value."""
    env, sched = make()
    runs, seen = [], []

    def wake(event):
        seen.append((event.value, env.now))
        if event.value >= 3:
            task.resume(event)

    def body():
        runs.append(env.now)
        value = sched.block(sched.current_task(), "ticks")
        runs.append(env.now)
        return value

    task = sched.spawn(body, name="t")
    for n in (1, 2, 3):
        env.timeout(5 * n, value=n).callbacks.append(wake)
    assert sched.wait(task.process) == 3
    assert runs == [0, 15]  # started once, resumed once
    assert seen == [(1, 5), (2, 10), (3, 15)]


def test_block_outside_its_own_task_is_an_error():
    env, sched = make()
    with pytest.raises(RuntimeError, match="use wait"):
        sched.block(None, "x")

    def body():
        return sched.block(other, "x")

    other = sched.spawn(lambda: sched.wait(env.timeout(1)), name="other")
    with pytest.raises(RuntimeError, match="use wait"):
        sched.wait(sched.spawn(body, name="t").process)


def test_deadlock_report_names_a_lazily_described_wait():
    """A wait described by a callable shows its text in the deadlock report."""
    env, sched = make()

    def body():
        sched.block(sched.current_task(), lambda: "TCM space on pe7 (64 bytes)")

    sched.spawn(body, name="kernel")
    with pytest.raises(DeadlockError, match=r"kernel waits on TCM space on pe7 \(64 bytes\)"):
        sched.wait(env.event(), "never")


def test_the_cyclic_collector_runs_less_often_only_while_simulating():
    """While the environment runs, the young generation is collected every RUN_GC_GEN0
    allocations; before and after (also when the run raises) the thresholds are the
    caller's."""
    import gc

    from simulator.engine.scheduler import RUN_GC_GEN0

    env, sched = make()
    caller = gc.get_threshold()
    gc.set_threshold(701, 11, 12)  # the caller's own settings
    before = gc.get_threshold()
    seen = []
    env.timeout(1).callbacks.append(lambda _e: seen.append(gc.get_threshold()))
    sched.wait(env.timeout(2))
    assert seen == [(RUN_GC_GEN0, *before[1:])] and gc.get_threshold() == before

    def boom(_event):
        raise ValueError("callback failed")

    env.timeout(1).callbacks.append(boom)
    with pytest.raises(ValueError):
        sched.wait(env.timeout(5))
    after = gc.get_threshold()
    gc.set_threshold(*caller)
    assert after == before
