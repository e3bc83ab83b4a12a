"""dist and multiprocessing.spawn: ranks as tasks, rendezvous, host-read barrier, errors."""

import numpy as np
import pytest
from greenlet import greenlet

import simulator.runtime.dist as dist
import simulator.runtime.multiprocessing as mp
from simulator.engine.errors import DeadlockError
from simulator.runtime.runtime import Runtime


@pytest.fixture
def rt():
    return Runtime("default", verify_data=True)


def test_spawn_runs_every_rank_as_a_task_of_the_scheduler(rt):
    """fn(rank, *args) runs once per rank, in a greenlet whose parent is the scheduler."""
    seen = {}

    def fn(rank, runtime, tag):
        seen[rank] = (tag, greenlet.getcurrent().parent is runtime.machine.scheduler.greenlet)

    assert mp.spawn(fn, args=(rt, "x"), nprocs=4) is None
    assert seen == {r: ("x", True) for r in range(4)}


def test_spawn_needs_a_runtime_and_positive_nprocs(rt):
    """Without a Runtime in args (or runtime=) there is no machine to run on."""
    with pytest.raises(ValueError, match="spawn needs the Runtime"):
        mp.spawn(lambda rank: None, nprocs=2)
    with pytest.raises(ValueError, match="nprocs must be a positive int, got 0"):
        mp.spawn(lambda rank: None, nprocs=0, runtime=rt)


def test_all_reduce_gives_every_rank_the_sum(rt):
    """A blocking all_reduce leaves the element-wise sum in every rank's tensor."""
    out = {}

    def fn(rank):
        dist.init_process_group("ccl", world_size=8)
        assert (dist.get_rank(), dist.get_world_size()) == (rank, 8)
        x = rt.from_numpy(
            np.arange(100, dtype=np.float32) * (rank + 1), placement=dist.get_placement()
        )
        dist.all_reduce(x)
        out[rank] = x.numpy()

    mp.spawn(fn, nprocs=8, runtime=rt)
    expected = np.arange(100, dtype=np.float32) * 36
    for rank in range(8):
        np.testing.assert_array_equal(out[rank], expected)


def test_host_read_waits_for_a_joined_async_collective(rt):
    """numpy() right after an async all_reduce already sees the reduced values."""
    out = {}

    def fn(rank):
        dist.init_process_group(world_size=4, algorithm="hierarchical")
        x = rt.from_numpy(np.full(64, rank, np.float32), placement=dist.get_placement())
        work = dist.all_reduce(x, async_op=True)
        out[rank] = x.numpy()
        assert work.is_completed() and work.wait()
        out[rank, "alg"] = work.collective.algorithm

    mp.spawn(fn, nprocs=4, runtime=rt)
    assert all(np.all(out[r] == 6) for r in range(4))
    assert out[0, "alg"] == "hierarchical"


def test_host_read_never_waits_for_a_collective_the_reader_has_not_joined(rt):
    """Rank 3 reads a tensor while ranks 0-2 wait in an all_reduce it joins later."""
    order = []

    def fn(rank):
        dist.init_process_group()
        x = rt.from_numpy(np.ones(32, np.float32), placement=dist.get_placement())
        if rank == 3:
            rt.machine.scheduler.sleep(5_000)  # the others are in the all_reduce by now
            order.append(("read", x.numpy()[0]))
        dist.all_reduce(x)
        order.append((rank, x.numpy()[0]))

    mp.spawn(fn, nprocs=4, runtime=rt)
    assert order[0] == ("read", 1.0)
    assert sorted(order[1:]) == [(r, 4.0) for r in range(4)]


def test_outstanding_async_collectives_complete_in_call_order(rt):
    """Two async all_reduces per rank are two collectives, matched by call order."""
    out = {}

    def fn(rank):
        dist.init_process_group()
        a = rt.from_numpy(np.full(16, 1, np.float32), placement=dist.get_placement())
        b = rt.from_numpy(np.full(16, rank, np.float32), placement=dist.get_placement())
        works = [dist.all_reduce(a, async_op=True), dist.all_reduce(b, op="max", async_op=True)]
        for w in works:
            w.wait()
        out[rank] = (a.numpy()[0], b.numpy()[0])

    mp.spawn(fn, nprocs=4, runtime=rt)
    assert out == {r: (4.0, 3.0) for r in range(4)}


def test_barrier_releases_every_rank_at_the_same_time_after_the_last_arrives(rt):
    """Ranks arriving at different times all leave the barrier together."""
    left = {}

    def fn(rank):
        dist.init_process_group()
        rt.machine.scheduler.sleep(100.0 * rank)
        dist.barrier()
        left[rank] = rt.now_ns

    mp.spawn(fn, nprocs=8, runtime=rt)
    assert len(set(left.values())) == 1
    assert left[0] > 700.0


def test_failing_ranks_are_all_named_in_one_error(rt):
    """Two ranks raise different errors; the others, stuck in all_reduce, are aborted."""

    def fn(rank):
        dist.init_process_group()
        if rank == 2:
            raise ValueError("bad input on two")
        if rank == 5:
            raise KeyError("five")
        x = rt.zeros((8,), "float32", placement=dist.get_placement())
        dist.all_reduce(x)

    with pytest.raises(mp.SpawnError) as info:
        mp.spawn(fn, nprocs=8, runtime=rt)
    text = str(info.value)
    assert text.startswith("8 of 8 ranks failed:")
    assert "rank 2: ValueError: bad input on two" in text
    assert "rank 5: KeyError: 'five'" in text
    assert "ranks 0-1, 3-4, 6-7: all_reduce #0 can never complete: rank 2 failed" in text
    assert set(info.value.errors) == set(range(8))


def test_rank_returning_without_joining_aborts_the_collective(rt):
    """A rank that returns early makes the others' collective fail, not hang."""

    def fn(rank):
        dist.init_process_group()
        if rank == 1:
            return
        dist.barrier()

    with pytest.raises(mp.SpawnError, match="barrier #0 can never complete: rank 1 returned"):
        mp.spawn(fn, nprocs=3, runtime=rt)


def test_mismatched_collectives_are_reported_to_every_rank(rt):
    """Ranks calling different collectives at the same step all get one clear error."""

    def fn(rank):
        dist.init_process_group()
        x = rt.zeros((8 + rank,), "float32", placement=dist.get_placement())
        dist.all_reduce(x)

    with pytest.raises(mp.SpawnError) as info:
        mp.spawn(fn, nprocs=2, runtime=rt)
    assert "collective #0 mismatch: rank 1 called all_reduce(float32[9], op=sum, " in str(
        info.value
    )
    assert set(info.value.errors) == {0, 1}


def test_collective_that_can_never_match_is_a_deadlock(rt):
    """Ranks waiting on each other without failing end in a DeadlockError listing them."""

    def fn(rank):
        dist.init_process_group()
        if rank == 0:
            x = rt.zeros((8,), "float32", placement=dist.get_placement())
            dist.all_reduce(x)
        else:
            rt.machine.scheduler.wait(rt.machine.env.event(), "an event nobody fires")

    with pytest.raises(DeadlockError) as info:
        mp.spawn(fn, nprocs=2, runtime=rt)
    text = str(info.value)
    assert "rank0 [rank 0 of 2] waits on all_reduce #0 (rank 0), ranks 1 not joined" in text
    assert "rank1 [rank 1 of 2] waits on an event nobody fires" in text


def test_join_false_returns_a_context_to_join_later(rt):
    """spawn(join=False) returns at once; join() runs the ranks to the end."""
    done = []
    ctx = mp.spawn(lambda rank, r: done.append(rank), args=(rt,), nprocs=3, join=False)
    assert done == [] and ctx.pids() == [0, 1, 2]
    assert ctx.join() is True
    assert sorted(done) == [0, 1, 2]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: dist.init_process_group("nccl"), "unknown backend 'nccl'; valid: ccl"),
        (lambda: dist.init_process_group(world_size=3), "world_size 3 but spawn started 2"),
        (
            lambda: dist.init_process_group(algorithm="tree"),
            "unknown all_reduce algorithm 'tree'; valid: ring, bidir_ring, hierarchical, "
            "hierarchical_rsag",
        ),
        (lambda: dist.get_rank(), "no process group; call dist.init_process_group first"),
    ],
)
def test_bad_setup_is_a_clear_error(rt, call, match):
    """Bad backends, sizes and algorithms, and calls before init, are named."""

    def fn(rank):
        call()

    with pytest.raises(mp.SpawnError, match=match):
        mp.spawn(fn, nprocs=2, runtime=rt)


def test_world_larger_than_the_device_names_topologies_that_fit(rt):
    """40 ranks on default's 32 PEs: the error says which topologies have enough."""

    def fn(rank):
        dist.init_process_group()

    with pytest.raises(
        mp.SpawnError,
        match=r"world_size 40 needs 40 PEs but topology "
        r"'default' has 32 .*\(multi_sip, sip4x4\)",
    ):
        mp.spawn(fn, nprocs=40, runtime=rt)


def test_dist_outside_a_spawned_rank_is_an_error():
    """Host code is not a rank."""
    assert dist.is_initialized() is False
    with pytest.raises(dist.DistError, match="must be called from a rank started by"):
        dist.get_rank()


def test_destroy_process_group_then_init_again(rt):
    """After every rank destroys the group, a new init creates a fresh one."""
    seen = []

    def fn(rank):
        dist.init_process_group()
        first = mp.current_rank().world.group
        dist.barrier()
        dist.destroy_process_group()
        assert not dist.is_initialized()
        rt.machine.scheduler.sleep(10.0)  # every rank has destroyed it by now
        dist.init_process_group()
        seen.append(mp.current_rank().world.group is not first)
        dist.barrier()

    mp.spawn(fn, nprocs=3, runtime=rt)
    assert seen == [True, True, True]
