"""Synthetic runs shaped like simulator runs, for tests, benchmarks and dashboard work.

A run holds host transfers, `n_launches` tiled kernels over `n_pes` PEs (each tile
pipelines load -> dot -> exp -> store over the four engines, in order per engine),
then optionally a ring all-reduce launch with 2(p-1) rounds and one straggling
rank, plus link totals and metrics. Timing numbers are arbitrary but seeded, so a
seed always gives the same rows. Nothing here models hardware.
"""

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traces.store import Store
from traces.writer import RunWriter


def new_synthetic_writer(
    store: Store,
    *,
    workload: str = "synthetic",
    params: dict[str, Any] | None = None,
    git: dict[str, Any] | None = None,
    writer_process: bool = False,
) -> RunWriter:
    """A RunWriter with placeholder run metadata, for hand-written test rows (written by
    a writer process with ``writer_process``, see Store.new_run).

    `git` overrides git facts of the runs row (git_commit, git_branch, git_dirty,
    commit_time, commit_message), so tests can fake a commit history.
    """
    unknown = set(git or ()) - {
        "git_commit",
        "git_branch",
        "git_dirty",
        "commit_time",
        "commit_message",
    }
    if unknown:
        raise ValueError(f"git overrides: unknown keys {sorted(unknown)}")
    topology_json = json.dumps({"name": "synthetic"})
    writer = store.new_run(
        workload=workload,
        params=params or {},
        topology="synthetic",
        topology_json=topology_json,
        topology_hash=hashlib.sha256(topology_json.encode()).hexdigest()[:16],
        verify_data=False,
        source_dir=None,
        sim_version="synthetic",
        writer_process=writer_process,
    )
    if git:
        writer._run_row.update(git)  # tests fake provenance; the simulator never does this
    return writer


@dataclass
class _Engines:
    """Time each engine of one PE becomes free, ns."""

    free_ns: dict[str, float] = field(default_factory=dict)

    def run(self, engine: str, ready_ns: float, duration_ns: float) -> tuple[float, float]:
        start = max(self.free_ns.get(engine, 0.0), ready_ns)
        end = start + duration_ns
        self.free_ns[engine] = end
        return start, end


def write_synthetic_run(
    store: Store,
    *,
    n_pes: int = 16,
    pes_per_cube: int = 8,
    n_launches: int = 3,
    tiles_per_pe: int = 4,
    barrier: bool = True,
    collective: bool = True,
    with_dma: bool = True,
    seed: int = 0,
    workload: str = "synthetic",
    params: dict[str, Any] | None = None,
    git: dict[str, Any] | None = None,
    tile_ns_scale: float = 1.0,
) -> str:
    """Write one synthetic run into `store`; returns its run id.

    `git` overrides git facts (see new_synthetic_writer); `tile_ns_scale`
    stretches every tile op's duration.
    """
    rng = random.Random(seed)
    run_params = params if params is not None else {"n_pes": n_pes, "tiles": tiles_per_pe}
    writer = new_synthetic_writer(store, workload=workload, params=run_params, git=git)
    with writer:
        add_op = writer.appender("ops")
        add_dma = writer.appender("dma") if with_dma else None
        counters = {"op": 0, "dma": 0, "flops": 0, "bytes": 0}
        tile_bytes = 64 * 1024

        def place(pe_global: int) -> tuple[int, int, int]:
            return 0, pe_global // pes_per_cube, pe_global % pes_per_cube

        def dma(launch_id, kind, src_pe, dst_pe, start, end, nbytes, coll_id=None, round_=None):
            if add_dma is None:
                return
            _, src_cube, src_local = place(src_pe) if src_pe is not None else (None, None, None)
            _, dst_cube, dst_local = place(dst_pe) if dst_pe is not None else (None, None, None)
            if kind == "load":
                src, dst = f"cube{dst_cube}.hbm{dst_local}", f"cube{dst_cube}.pe{dst_local}.tcm"
                spaces, level = ("HBM", "TCM"), "cube"
            elif kind == "store":
                src, dst = f"cube{src_cube}.pe{src_local}.tcm", f"cube{src_cube}.hbm{src_local}"
                spaces, level = ("TCM", "HBM"), "cube"
            elif kind == "send":
                src, dst = f"cube{src_cube}.pe{src_local}.tcm", f"cube{dst_cube}.pe{dst_local}.tcm"
                spaces = ("TCM", "TCM")
                level = "pe" if src_cube == dst_cube else "mesh"
            else:  # host_write
                src, dst = "host", f"cube{dst_cube}.hbm{dst_local}"
                spaces, level = ("HOST", "HBM"), "host"
            add_dma(
                counters["dma"], launch_id, kind, src, dst, *spaces,
                0 if src_pe is not None else None, src_cube, src_local,
                0 if dst_pe is not None else None, dst_cube, dst_local,
                nbytes, 1 if level in ("pe", "cube") else 3, level,
                start - 5.0, start, end, coll_id, round_,
            )  # fmt: skip
            counters["dma"] += 1

        now = 0.0
        for pe_global in range(n_pes):  # host uploads the inputs
            end = now + 1000.0 + 40.0 * pe_global
            dma(None, "host_write", None, pe_global, now, end, 4 * tile_bytes)
        now += 1000.0 + 40.0 * n_pes

        kernels = [f"gemm_tile_{i}" for i in range(n_launches)]
        if collective:
            kernels.append("ccl_ring_allreduce")
        for launch_id, kernel in enumerate(kernels):
            is_collective = kernel.startswith("ccl_")
            host_issue = now
            dispatch = {
                pe: host_issue + 200.0 + 50.0 * place(pe)[1] + 10.0 * place(pe)[2]
                for pe in range(n_pes)
            }
            target_start = max(dispatch.values()) + 10.0
            exec_end: dict[int, float] = {}
            for pe in range(n_pes):
                sip, cube, local = place(pe)
                exec_start = target_start if barrier else dispatch[pe]
                engines = _Engines()
                if is_collective:
                    exec_end[pe] = exec_start  # filled in by the rounds below
                    continue
                for _ in range(tiles_per_pe):
                    stages = (
                        ("DMA_IN", "load", 100.0, 0, tile_bytes),
                        ("GEMM", "dot", 150.0, 2 * 64 * 64 * 64, 0),
                        ("MATH", "exp", 60.0, 64 * 64, 0),
                        ("DMA_WB", "store", 90.0, 0, tile_bytes),
                    )
                    ready = exec_start
                    for engine, op, base_ns, flops, nbytes in stages:
                        duration = base_ns * tile_ns_scale * rng.uniform(0.8, 1.2)
                        start, end = engines.run(engine, ready, duration)
                        add_op(
                            counters["op"], launch_id, sip, cube, local, pe, engine, op,
                            exec_start, start, end, flops, nbytes,
                        )  # fmt: skip
                        counters["op"] += 1
                        counters["flops"] += flops
                        if op == "load":
                            dma(launch_id, "load", None, pe, start, end, nbytes)
                        elif op == "store":
                            dma(launch_id, "store", pe, None, start, end, nbytes)
                        ready = end
                exec_end[pe] = max(engines.free_ns.values())
            coll_id = None
            if is_collective:
                coll_id = 0
                exec_end = _ring_allreduce(
                    writer, rng, n_pes, place, target_start, launch_id, dma, add_op, counters
                )
            launch_end = max(exec_end.values()) + 150.0
            writer.append(
                "launches",
                launch_id=launch_id,
                kernel=kernel,
                grid=f"{n_pes}x1x1",
                n_pes=n_pes,
                barrier=barrier,
                host_issue_ns=host_issue,
                target_start_ns=target_start if barrier else None,
                end_ns=launch_end,
                coll_id=coll_id,
            )
            for pe in range(n_pes):
                sip, cube, local = place(pe)
                writer.append(
                    "pe_exec",
                    launch_id=launch_id,
                    sip=sip,
                    cube=cube,
                    pe=local,
                    pe_global=pe,
                    dispatch_ns=dispatch[pe],
                    exec_start_ns=target_start if barrier else dispatch[pe],
                    exec_end_ns=exec_end[pe],
                )
            now = launch_end + 100.0

        n_cubes = (n_pes + pes_per_cube - 1) // pes_per_cube
        for cube in range(n_cubes):
            for direction in ("in", "out"):
                busy_ns = now * rng.uniform(0.1, 0.6)
                writer.append(
                    "links",
                    link=f"cube{cube}.noc.{direction}",
                    src=f"cube{cube}" if direction == "out" else "mesh",
                    dst="mesh" if direction == "out" else f"cube{cube}",
                    level="mesh",
                    bw_gbs=256.0,
                    # What 256 GB/s can carry while busy, at most (check_run's physics).
                    bytes=int(256.0 * busy_ns * rng.uniform(0.3, 0.9)),
                    busy_ns=busy_ns,
                )
        writer.metric("sim_end_ns", now, "ns", "lower")
        writer.metric("flops", counters["flops"], "flop", "higher")
        writer.metric("tflops", counters["flops"] / now / 1000.0, "tflops", "higher")
        writer.finish(sim_end_ns=now, n_events=counters["op"] + counters["dma"])
    return writer.run_id


def _ring_allreduce(writer, rng, n_pes, place, start_ns, launch_id, dma, add_op, counters):
    """Rounds of a ring all-reduce: 2(p-1) rounds, rank r sends to r+1; rank 1 straggles
    in round 1. Returns each PE's exec end."""
    chunk_bytes = 32 * 1024
    round_start = start_ns
    rank_end = {rank: start_ns for rank in range(n_pes)}
    n_rounds = 2 * (n_pes - 1)
    for round_ in range(n_rounds):
        phase = "reduce_scatter" if round_ < n_pes - 1 else "all_gather"
        round_end = round_start
        for rank in range(n_pes):
            peer = (rank + 1) % n_pes
            duration = 300.0 * rng.uniform(0.95, 1.05) + (700.0 if (rank, round_) == (1, 1) else 0)
            end = round_start + duration
            level = "intra_cube" if place(rank)[1] == place(peer)[1] else "inter_cube"
            writer.append(
                "collective_rounds",
                coll_id=0,
                rank=rank,
                round=round_,
                phase=phase,
                level=level,
                peer=peer,
                bytes=chunk_bytes,
                start_ns=round_start,
                end_ns=end,
            )
            dma(launch_id, "send", rank, peer, round_start, end, chunk_bytes, 0, round_)
            if phase == "reduce_scatter":
                sip, cube, local = place(peer)
                add_op(
                    counters["op"], launch_id, sip, cube, local, peer, "MATH", "add",
                    round_start, end, end + 20.0, chunk_bytes // 2, 0,
                )  # fmt: skip
                counters["op"] += 1
                end += 20.0
            rank_end[rank] = max(rank_end[rank], end)
            rank_end[peer] = max(rank_end[peer], end)
            round_end = max(round_end, end)
        round_start = round_end
    writer.append(
        "collectives",
        coll_id=0,
        op="all_reduce",
        algorithm="ring",
        world_size=n_pes,
        bytes=chunk_bytes * n_pes,
        dtype="float16",
        start_ns=start_ns,
        end_ns=round_start,
    )
    writer.metric("allreduce_ns", round_start - start_ns, "ns", "lower")
    return rank_end


def synthetic_store(root: Path, n_runs: int = 2, **run_args: Any) -> tuple[Store, list[str]]:
    """A store at `root` with `n_runs` synthetic runs (seeds 0..n-1); returns it and the ids."""
    store = Store(root)
    ids = [write_synthetic_run(store, seed=seed, **run_args) for seed in range(n_runs)]
    return store, ids
