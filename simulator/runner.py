"""Run a workload end to end: resolve it, simulate it, record its trace and outcome.

A run that raises is recorded with ``status='failed'`` and its error (the trace rows
written before the failure are kept); the store stays readable and other runs are
untouched.
"""

from __future__ import annotations

import gc
import hashlib
import runpy
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.engine.errors import SimulationError, debug_enabled, user_line
from simulator.hw.native import PACKAGE_ROOT, sim_version
from simulator.hw.topology import (
    Topology,
    TopologyError,
    apply_overrides,
    load_topology,
    parse_override_value,
    topology_from_dict,
)
from simulator.workloads.registry import Metric, get_workload
from traces.headline import headline_name

SOURCE_DIR = PACKAGE_ROOT  # the tree whose git facts (commit, dirty flag) runs record
_GC_YOUNG_THRESHOLD = 50_000


@dataclass
class RunOutcome:
    """What one run produced; ``run_id`` is None when tracing was off."""

    run_id: str | None
    workload: str
    params: dict[str, Any]
    topology: str
    status: str
    error: str | None
    sim_end_ns: float
    wall_s: float
    verified: bool | None
    n_events: int
    metrics: list[Metric] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    sweep_id: str | None = None
    n_ops: int = 0
    """Engine ops the simulation ran (traced or not)."""
    n_dmas: int = 0
    """DMA transfers it ran (kernel pieces, host copies, launch messages)."""

    def to_json(self) -> dict[str, Any]:
        """The ``run --json`` object."""
        return {
            "run_id": self.run_id,
            "workload": self.workload,
            "params": self.params,
            "topology": self.topology,
            "status": self.status,
            "error": self.error,
            "sim_end_ns": self.sim_end_ns,
            "wall_s": self.wall_s,
            "verified": self.verified,
            "n_events": self.n_events,
            "metrics": {
                m.name: {"value": m.value, "unit": m.unit, "better": m.better} for m in self.metrics
            },
            "overrides": self.overrides,
            "sweep_id": self.sweep_id,
            "n_ops": self.n_ops,
            "n_dmas": self.n_dmas,
        }


def headline_metric(metrics: list[Metric]) -> Metric | None:
    """The workload's own latency (not the simulated end, which includes setup and
    host copies); see traces.headline."""
    by_name = {m.name: m for m in metrics}
    name = headline_name(by_name, {m.name: m.unit for m in metrics})
    return by_name.get(name) if name is not None else None


def describe_error(exc: BaseException) -> str:
    """One line for the user: the message of our own errors, type and message otherwise."""
    if isinstance(exc, SimulationError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def split_overrides(overrides: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(workload params, topology overrides)``: a key with a dot is a topology parameter
    (``cube.hbm.bw_gbs``), any other key a workload parameter."""
    workload_params, topology_overrides = {}, {}
    for key, value in (overrides or {}).items():
        (topology_overrides if "." in key else workload_params)[key] = value
    return workload_params, topology_overrides


def resolve_topology(
    topology: str | Topology | None, default: str, overrides: dict[str, Any]
) -> Topology:
    """The topology of a run: a preset name or path (else ``default``) or a Topology, with
    the dotted-key ``overrides`` laid over it. Raises TopologyError naming a bad key."""
    if not isinstance(topology, Topology):
        return load_topology(topology or default, overrides=overrides)
    if not overrides:
        return topology
    raw = apply_overrides(topology.to_dict(), overrides, source=f"topology {topology.name!r}")
    return topology_from_dict(raw, source=f"topology {topology.name!r} with overrides")


def run_workload(
    name: str,
    overrides: dict[str, Any] | None = None,
    *,
    topology: str | Topology | None = None,
    verify_data: bool = False,
    store: str | Path | None = None,
    trace: bool = True,
    progress: bool = False,
    sweep_id: str | None = None,
) -> RunOutcome:
    """Simulate workload ``name`` and record it in ``store`` (unless ``trace`` is off).

    ``overrides`` maps keys to values (strings are converted): a key with a dot is a
    topology parameter (``cube.hbm.bw_gbs``), any other a workload parameter. The run
    records its topology overrides and ``sweep_id`` (the sweep it is a point of). A
    workload whose kernels steer by loaded values (``needs_data``) runs in data mode.
    Raises WorkloadError / TopologyError for bad names or parameters (nothing is
    recorded then); any failure during the simulation is recorded and returned as a
    ``failed`` outcome instead of raised.
    """
    workload = get_workload(name)
    verify_data = verify_data or workload.needs_data
    workload_params, topology_overrides = split_overrides(overrides)
    params = workload.resolve(workload_params)
    topo = resolve_topology(topology, workload.default_topology, topology_overrides)
    topology_overrides = {k: parse_override_value(v) for k, v in topology_overrides.items()}
    writer = None
    if trace:
        from traces.opener import open_store

        writer = open_store(store).new_run(
            workload=name,
            params=params,
            topology=topo.name,
            topology_json=topo.to_json(),
            topology_hash=topo.hash,
            verify_data=verify_data,
            source_dir=SOURCE_DIR,
            sim_version=sim_version(),
            overrides=topology_overrides,
            sweep_id=sweep_id,
            writer_process=True,  # Parquet work on another core
        )
    started = time.perf_counter()
    from simulator.runtime.runtime import Runtime  # numpy and the engine: only to simulate

    runtime = Runtime(topo, verify_data=verify_data, writer=writer)
    machine = runtime.machine
    status, error, result = "ok", None, None
    stop_progress = _start_progress(machine, name) if progress else None
    gc_thresholds = gc.get_threshold()
    # The simulation allocates millions of short-lived events and tuples; collecting the
    # youngest generation every 700 allocations costs ~5% of a run for no memory gain.
    gc.set_threshold(max(gc_thresholds[0], _GC_YOUNG_THRESHOLD), *gc_thresholds[1:])
    try:
        result = workload.body(runtime, params)
        runtime.synchronize()
        violation = result.physics_violation()
        if violation is not None:  # a failed check, never a result
            status, error = "failed", violation
    except Exception as exc:  # recorded, not raised: a failed run loses nothing else
        status, error = "failed", describe_error(exc)
        if debug_enabled():  # --debug / KERNBENCH_DEBUG=1: the whole story on stderr
            traceback.print_exception(exc)
    except BaseException:  # Ctrl-C: no partial run appears in the store
        if writer is not None:
            writer.discard()
        raise
    finally:
        gc.set_threshold(*gc_thresholds)
        if stop_progress:
            stop_progress()
    wall_s = time.perf_counter() - started
    metrics = result.metrics if result else []
    verified = result.verified if result else None
    if writer is not None:
        for m in metrics:
            writer.metric(m.name, m.value, m.unit, m.better)
        machine.recorder.links(machine.network, machine.graph.links)
        writer.finish(
            status=status,
            error=error,
            sim_end_ns=float(machine.env.now),
            verified=verified,
            n_events=machine.recorder.n_rows,
            wall_s=wall_s,
        )
    return RunOutcome(
        run_id=writer.run_id if writer is not None else None,
        workload=name,
        params=params,
        topology=topo.name,
        status=status,
        error=error,
        sim_end_ns=float(machine.env.now),
        wall_s=wall_s,
        verified=verified,
        n_events=machine.recorder.n_rows,
        metrics=metrics,
        overrides=topology_overrides,
        sweep_id=sweep_id,
        n_ops=machine.recorder.next_op_id,
        n_dmas=machine.recorder.next_dma_id,
    )


def _start_progress(machine, name: str):
    """A live line on stderr (simulated time, ops) while the run goes; returns stop()."""
    from rich.console import Console

    console = Console(stderr=True)
    status = console.status(f"{name}: starting")
    status.start()
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.25):
            status.update(
                f"{name}: t = {machine.env.now / 1e3:,.1f} us simulated, "
                f"{machine.recorder.next_op_id:,} ops, {machine.recorder.next_dma_id:,} DMAs"
            )

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join()
        status.stop()

    return stop


def is_script(target: str) -> bool:
    """Whether ``kernbench run TARGET`` names a Python script rather than a workload."""
    return target.endswith(".py")


def run_script(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    topology: str | None = None,
    verify_data: bool = False,
    store: str | Path | None = None,
    trace: bool = True,
    sweep_id: str | None = None,
) -> RunOutcome:
    """Run the user script at ``path`` as ``__main__`` and record it as a run named after
    the file (``my_kernel.py`` -> ``my_kernel``).

    The first ``Runtime`` the script creates is traced into ``store``; the script reads
    ``--set`` values with ``kernbench.param`` and records results with
    ``kernbench.metric``. ``topology`` and dotted ``overrides`` replace the topology the
    script asks for; ``verify_data`` forces data mode on; ``sweep_id`` is the sweep the
    run is a point of. A script that raises is recorded as failed, with its error, also
    when it raised before creating its Runtime (an import error): that run has no trace.
    Raises FileNotFoundError for a missing script.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"script {str(path)!r} not found")
    params, topology_overrides = split_overrides(overrides)
    params = {k: scalar_value(v) for k, v in params.items()}
    topology_overrides = {k: parse_override_value(v) for k, v in topology_overrides.items()}
    from simulator.runtime.recording import Recording

    rec = Recording(path.stem, store, params, topology, topology_overrides, verify_data or None,
                    trace, script=script_identity(path), sweep_id=sweep_id)  # fmt: skip
    status, error = "ok", None
    with rec:
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                status, error = "failed", f"script exited with status {exc.code}"
        except Exception as exc:  # recorded, not raised, as for workloads
            status, error = "failed", _script_error(exc)
    if getattr(rec.runtime, "machine", None) is None:  # none, or it failed to build one
        error = error or f"script {path.name} created no Runtime: nothing was simulated"
        run_id = rec.record_failed(error, _asked_topology(topology, topology_overrides))
        return RunOutcome(run_id, path.stem, params, topology or "-", "failed", error, 0.0,
                          time.perf_counter() - rec.started, None, 0,
                          overrides=topology_overrides, sweep_id=sweep_id)  # fmt: skip
    run_id = rec.finish(status, error)
    machine = rec.runtime.machine
    metrics = [Metric(m.name, m.value, m.unit, m.better) for m in rec.metrics]
    return RunOutcome(
        run_id=run_id,
        workload=path.stem,
        params=params,
        topology=rec.runtime.topology.name,
        status=rec.status,
        error=rec.error,
        sim_end_ns=float(machine.env.now),
        wall_s=time.perf_counter() - rec.started,
        verified=rec.verified,
        n_events=machine.recorder.n_rows,
        metrics=metrics,
        overrides=topology_overrides,
        sweep_id=sweep_id,
        n_ops=machine.recorder.next_op_id,
        n_dmas=machine.recorder.next_dma_id,
    )


def _asked_topology(name: str | None, overrides: dict[str, Any]) -> Topology | None:
    """The topology ``--topology`` asked for, for the record of a script that failed
    before creating its Runtime (None when it asked for none, or for a bad one)."""
    if name is None:
        return None
    try:
        return load_topology(name, overrides=overrides)
    except TopologyError:
        return None


def _script_error(exc: BaseException) -> str:
    """:func:`describe_error`, and for an error of the script's own code the line that
    raised it (ours name it in their message)."""
    text = describe_error(exc)
    if isinstance(exc, SimulationError):
        return text
    line = user_line(exc.__traceback__)
    return f"{text} (at {line})" if line else text


def script_identity(path: Path) -> str:
    """``path@sha`` of a script: its path as given and the first 12 hex digits of the
    SHA-256 of its contents (what a run of it records as its ``script`` parameter)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.as_posix()}@{digest}"


def scalar_value(text: Any) -> Any:
    """A --set value as int, float or bool when it reads as one, else the text."""
    if not isinstance(text, str):
        return text
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text
