"""Design-space sweeps: the Cartesian product of parameter grids, one run per point, on Dask.

A sweep is a list of points; a point is a topology plus values for workload parameters
and topology overrides (keys with a dot). Every point is one run in the store, and all of
them share a `runs.sweep_id`.

Execution: points are Dask tasks on a distributed cluster, an existing one
(``scheduler`` address) or a local cluster of ``jobs`` worker processes started and stopped
for the sweep. A worker runs the simulator in its own process and writes the run into the
store itself; only the run id, status and metrics travel back (:func:`run_point`). A run is
published atomically, so a worker that dies mid-point leaves no partial run; the scheduler
then gives the point to another worker once (``allowed-failures = 1``), and a point whose
second worker dies too is recorded in the store as a failed run.

Lifecycle of a point: planned -> submitted -> ok | failed. ``resume`` skips the points that
already have an ok run in the sweep (a point is identified by its topology, resolved
workload params and topology overrides).

A sweep's target is a registered workload or a user's script (``my_kernel.py``, run as
``kernbench run`` runs it: its runs are named after the file). A script's parameters are
what it reads with ``kernbench.param``, known only once it runs, so its points are
checked for their topologies alone before anything runs, and a grid key the script never
reads fails each point. Without a topology a script's point runs on the one the script
asks for. A script point is identified by its topology, the values the sweep gives and
the script's contents (``script``: a point of an edited script runs again on resume).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.hw.topology import TopologyError, load_topology, parse_override_value
from simulator.runner import (
    SOURCE_DIR,
    describe_error,
    is_script,
    run_script,
    run_workload,
    scalar_value,
    script_identity,
    sim_version,
    split_overrides,
)
from simulator.workloads.registry import WorkloadError, get_workload
from traces.runrow import new_run_id
from traces.schema import canonical_params

SCHEDULER_ENV = "KERNBENCH_SCHEDULER"
# Times a point may be on a worker that dies before it is reported failed: run once,
# retried once.
ALLOWED_WORKER_DEATHS = 1


class SweepError(ValueError):
    """A sweep definition is invalid (grid syntax, unknown key, bad value, grid file)."""


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its topology and its values (workload params and dotted
    topology overrides, as given: strings from the command line or YAML scalars)."""

    index: int
    topology: str
    values: dict[str, Any]

    def label(self, keys: Sequence[str] | None = None) -> str:
        """``k=v`` of ``keys`` (default: all values), for tables and progress."""
        keys = list(self.values) if keys is None else keys
        shown = [f"{k}={self.values[k]}" for k in keys if k in self.values]
        return " ".join(shown) or "(defaults)"


@dataclass
class PointResult:
    """What came back for one point (the run itself lives in the store)."""

    point: Point
    run_id: str | None
    status: str  # "ok" | "failed" | "skipped" (resume: it already had an ok run)
    error: str | None = None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    wall_s: float = 0.0
    sim_end_ns: float | None = None  # the run's simulated end (None without a run)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.point.index,
            "topology": self.point.topology or None,  # None: the script's own
            "values": self.point.values,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "metrics": self.metrics,
            "sim_end_ns": self.sim_end_ns,
        }


@dataclass
class SweepResult:
    """A finished sweep: its id and one result per point, in point order."""

    sweep_id: str
    workload: str
    results: list[PointResult]
    swept: list[str]
    wall_s: float

    @property
    def ok(self) -> bool:
        """Whether every point has a successful run."""
        return all(r.status in ("ok", "skipped") for r in self.results)

    def to_json(self) -> dict[str, Any]:
        counts = {s: sum(r.status == s for r in self.results) for s in ("ok", "failed", "skipped")}
        return {
            "sweep_id": self.sweep_id,
            "workload": self.workload,
            "swept": self.swept,
            "ok": self.ok,
            **{f"n_{k}": v for k, v in counts.items()},
            "wall_s": self.wall_s,
            "points": [r.to_json() for r in self.results],
        }


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["M=128,256", "cube.hbm.bw_gbs=51.2,102.4"]`` -> ``{key: [values]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not sep or not key.strip() or not values:
            raise SweepError(f"--grid expects K=V1,V2,..., got {item!r}")
        grid[key.strip()] = values
    return grid


def load_grid_file(path: str | Path) -> dict[str, list[Any]]:
    """A YAML mapping of key -> list of values (a scalar is a one-value axis);
    ``topology`` may list presets. Raises SweepError naming the file and key."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SweepError(f"cannot read grid file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise SweepError(f"{path}: a grid file is a mapping of key -> list of values")
    grid: dict[str, list[Any]] = {}
    for key, values in data.items():
        values = values if isinstance(values, list) else [values]
        if not values or any(isinstance(v, dict | list) for v in values):
            raise SweepError(f"{path}: {key} must be a value or a non-empty list of values")
        grid[str(key)] = values
    return grid


def expand(
    fixed: Mapping[str, Any], grid: Mapping[str, Sequence[Any]], topologies: Sequence[str]
) -> list[Point]:
    """The Cartesian product: topologies first, then the grid keys in order; ``fixed``
    values are in every point (a grid key wins over a fixed one)."""
    keys = list(grid)
    points = []
    for topology in topologies:
        for combo in itertools.product(*(grid[k] for k in keys)):
            values = {k: v for k, v in fixed.items() if k not in grid}
            values.update(zip(keys, combo, strict=True))
            points.append(Point(len(points), topology, values))
    return points


def run_name(workload: str) -> str:
    """The runs' ``workload`` of a sweep's target: a workload's name, or a script's file
    name without ``.py``."""
    return Path(workload).stem if is_script(workload) else workload


def default_topology(workload: str) -> str:
    """The topology of a point that names none: the workload's default; for a script,
    "" (the one the script asks for)."""
    return "" if is_script(workload) else get_workload(workload).default_topology


def run_params(workload: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a run of ``workload`` records for a point's ``params``: resolved
    with the workload's defaults, or for a script the values given (as ``--set`` reads
    them) and the script's identity. Raises WorkloadError for a bad workload parameter."""
    if not is_script(workload):
        return get_workload(workload).resolve(dict(params))
    values = {k: scalar_value(v) for k, v in params.items()}
    return {**values, "script": script_identity(Path(workload))}


def point_key(workload: str, topology: str, values: Mapping[str, Any]) -> tuple[str, str, str]:
    """What identifies a point: topology, canonical resolved params, canonical overrides.

    Raises WorkloadError for a bad workload parameter.
    """
    params, overrides = split_overrides(dict(values))
    parsed = {k: parse_override_value(v) for k, v in overrides.items()}
    return topology, canonical_params(run_params(workload, params)), canonical_params(parsed)


def validate(workload: str, points: Sequence[Point]) -> None:
    """Check every point before anything runs: workload params and topology overrides
    (a script's parameters are checked when it runs; its overrides on ``default`` when
    its point names no topology).

    Raises SweepError naming the point and the bad key or value.
    """
    default = default_topology(workload) or "default"
    checked: set[tuple[str, str]] = set()
    for point in points:
        params, overrides = split_overrides(point.values)
        try:
            run_params(workload, params)
            key = (point.topology, canonical_params(overrides))
            if key not in checked:
                load_topology(point.topology or default, overrides=overrides)
                checked.add(key)
        except (WorkloadError, TopologyError) as exc:
            raise SweepError(f"point {point.index} ({point.label()}): {exc}") from None


def run_point(
    workload: str,
    topology: str,
    values: dict[str, Any],
    store: str,
    sweep_id: str,
    verify_data: bool = False,
) -> dict[str, Any]:
    """Run one point and write it into ``store``; runs inside a Dask worker.

    Returns only run_id, status, error, metrics ({name: {value, unit}}), sim_end_ns and
    wall_s: the trace stays in the store. Never raises for a failing simulation (the run is
    recorded failed); a bad parameter is returned as a failed point without a run.
    """
    started = time.perf_counter()
    try:
        run = run_script if is_script(workload) else run_workload
        outcome = run(
            workload,
            values,
            topology=topology or None,  # a script's point without one: the script's own
            verify_data=verify_data,
            store=store,
            sweep_id=sweep_id,
        )
    except (WorkloadError, TopologyError, ValueError, OSError) as exc:
        return {"run_id": None, "status": "failed", "error": str(exc), "metrics": {}}
    status = outcome.status
    if status == "ok" and outcome.verified is False:
        status = "failed"
    return {
        "run_id": outcome.run_id,
        "status": status,
        "error": outcome.error,
        "metrics": {m.name: {"value": m.value, "unit": m.unit} for m in outcome.metrics},
        "sim_end_ns": outcome.sim_end_ns if outcome.run_id is not None else None,
        "wall_s": time.perf_counter() - started,
    }


def record_failed_point(
    workload: str, point: Point, store: str, sweep_id: str, error: str
) -> str | None:
    """Write a failed run for a point that produced none (its workers died); its id."""
    from traces.views import open_store

    params, overrides = split_overrides(point.values)
    try:
        resolved = run_params(workload, params)
        topo = load_topology(point.topology or "default", overrides=overrides)
    except (WorkloadError, TopologyError, OSError):
        return None
    writer = open_store(store).new_run(
        workload=run_name(workload),
        params=resolved,
        topology=topo.name,
        topology_json=topo.to_json(),
        topology_hash=topo.hash,
        verify_data=False,
        source_dir=SOURCE_DIR,
        sim_version=sim_version(),
        overrides={k: parse_override_value(v) for k, v in overrides.items()},
        sweep_id=sweep_id,
    )
    writer.finish(status="failed", error=error, sim_end_ns=None, n_events=None)
    return writer.run_id


def completed_keys(
    workload: str, store: str, sweep_id: str, points: Sequence[Point] = ()
) -> set[tuple[str, str, str]]:
    """Keys of the points of ``sweep_id`` that already have an ok run in ``store``.

    A script's run records the defaults it read beside the values given: its key keeps
    only the parameters ``points`` give (and ``script``), and its topology only where
    they name one."""
    from traces.sweeps import sweep_runs

    script = is_script(workload)
    given = {k for p in points for k in split_overrides(p.values)[0]} | {"script"}
    any_topology = script and not any(p.topology for p in points)
    keys = set()
    for run in sweep_runs(store, sweep_id).to_pylist():
        if run["status"] == "ok" and run["workload"] == run_name(workload):
            overrides = canonical_params(run["overrides"] or "{}")
            params = json.loads(run["params"] or "{}")
            if script:
                params = {k: v for k, v in params.items() if k in given}
            topology = "" if any_topology else run["topology"]
            keys.add((topology, canonical_params(params), overrides))
    return keys


def stored_points(workload: str, store: str, sweep_id: str) -> list[Point]:
    """The distinct points of an existing sweep, from its runs (ok or failed); a script's
    with every parameter it read, on the topology it ran on."""
    from traces.sweeps import point_values, sweep_runs

    seen: dict[tuple[str, str, str], Point] = {}
    for run in sweep_runs(store, sweep_id).to_pylist():
        if run["workload"] != run_name(workload):
            continue
        key = (run["topology"], canonical_params(run["params"]), run["overrides"] or "{}")
        if key not in seen:
            values = point_values(run["params"], run["overrides"])
            if is_script(workload):
                values.pop("script", None)  # the script that runs now is the one asked for
            topology = "" if run["topology"] == "-" else run["topology"]
            seen[key] = Point(len(seen), topology, values)
    return list(seen.values())


def new_sweep_id() -> str:
    """A sweep id: like a run id (UTC time + random hex), sorts by creation time."""
    return new_run_id()


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, jobs: int | None = None) -> Iterator[Any]:
    """A Dask client: on the cluster at ``scheduler`` (else ``$KERNBENCH_SCHEDULER``), or on
    a local cluster of ``jobs`` single-threaded worker processes (default: the machine's
    cores), started here and stopped on exit."""
    import dask
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address:
        with Client(address, timeout="30s") as client:
            yield client
        return
    n_workers = jobs or os.cpu_count() or 1
    config = {
        "distributed.scheduler.allowed-failures": ALLOWED_WORKER_DEATHS,
        "distributed.worker.daemon": False,
        "distributed.logging.distributed": "error",
    }
    with (
        dask.config.set(config),
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


ProgressHook = Callable[[PointResult, int, int, int], None]  # (result, done, failed, total)


def run_sweep(
    workload: str,
    points: Sequence[Point],
    *,
    store: str,
    sweep_id: str | None = None,
    resume: bool = False,
    scheduler: str | None = None,
    jobs: int | None = None,
    verify_data: bool = False,
    on_result: ProgressHook | None = None,
) -> SweepResult:
    """Run every point on Dask into ``store``; a failing point is recorded and the rest go on.

    ``resume``: ``sweep_id`` names an existing sweep whose points with an ok run are
    skipped. Raises SweepError for an invalid point (before anything runs).
    """
    from distributed import as_completed

    started = time.perf_counter()
    validate(workload, points)
    sweep_id = sweep_id or new_sweep_id()
    done_keys = completed_keys(workload, store, sweep_id, points) if resume else set()
    results: dict[int, PointResult] = {}
    todo = []
    for point in points:
        if point_key(workload, point.topology, point.values) in done_keys:
            results[point.index] = PointResult(point, None, "skipped")
        else:
            todo.append(point)
    n_done = n_failed = 0
    if todo:
        with dask_client(scheduler, min(jobs or os.cpu_count() or 1, len(todo))) as client:
            futures = {}
            for point in todo:
                future = client.submit(
                    run_point,
                    workload,
                    point.topology,
                    point.values,
                    store,
                    sweep_id,
                    verify_data,
                    key=f"kernbench-point-{sweep_id}-{point.index}",
                    pure=False,
                )
                futures[future] = point
            for future in as_completed(futures):
                point = futures[future]
                try:
                    out = future.result()
                    result = PointResult(
                        point,
                        out["run_id"],
                        out["status"],
                        out["error"],
                        out["metrics"],
                        out.get("wall_s", 0.0),
                        out.get("sim_end_ns"),
                    )
                except Exception as exc:  # the workers running it died: recorded as failed
                    error = f"worker lost running this point twice: {describe_error(exc)}"
                    run_id = record_failed_point(workload, point, store, sweep_id, error)
                    result = PointResult(point, run_id, "failed", error)
                results[point.index] = result
                n_done += 1
                n_failed += result.status != "ok"
                if on_result is not None:
                    on_result(result, n_done, n_failed, len(todo))
    swept = swept_keys(points)
    ordered = [results[p.index] for p in points]
    return SweepResult(sweep_id, run_name(workload), ordered, swept, time.perf_counter() - started)


def swept_keys(points: Sequence[Point]) -> list[str]:
    """Keys whose value differs between points (``topology`` first when it does)."""
    keys: list[str] = []
    if len({p.topology for p in points}) > 1:
        keys.append("topology")
    for point in points:
        for key in point.values:
            if key not in keys and len({str(p.values.get(key)) for p in points}) > 1:
                keys.append(key)
    return keys
