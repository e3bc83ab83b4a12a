"""Recording user code as runs: a script or a ``Runtime(store=..., name=...)`` traced into a
store like any workload, with metrics from :func:`metric`.

A :class:`Recording` is a run in the making. While one is active, the first
:class:`~simulator.runtime.runtime.Runtime` created without its own writer attaches to it:
its launches, ops and DMAs are traced into the recording's run. ``kernbench run
script.py`` makes one around the script (run name = the script's file name without
``.py``); ``Runtime(..., store=S, name=N)`` makes its own, finished by ``rt.close()`` or
the end of a ``with Runtime(...) as rt:`` block. Scripts read ``--set K=V`` values with
:func:`param` and report results with :func:`metric` (both also importable as
``kernbench.param`` and ``kernbench.metric``).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.engine.errors import SimulationError, type_phrase
from simulator.hw.native import PACKAGE_ROOT, sim_version
from traces.runrow import canonical_params

SOURCE_DIR = PACKAGE_ROOT  # the tree whose git facts (commit, dirty flag) runs record
BETTER = ("lower", "higher")


class RecordingError(SimulationError):
    """Misuse of the recording API (a metric outside a run, a bad ``better``...)."""


@dataclass
class RecordedMetric:
    name: str
    value: float
    unit: str
    better: str


@dataclass
class Recording:
    """One run of user code being recorded into ``store`` under ``name``.

    ``params`` are the run's parameters (``--set`` values), ``topology`` and
    ``overrides`` replace the script's own topology choice when given, ``verify_data``
    forces data mode on when True. ``trace=False`` runs untraced (metrics still collect).
    ``script`` names the code that ran (``path@sha256-prefix`` of a script): recorded
    among the parameters, so runs of two scripts, or of one edited, do not compare as
    like for like. ``sweep_id``: the sweep the run is a point of.
    """

    name: str
    store: str | Path | None = None
    params: dict[str, Any] = field(default_factory=dict)
    topology: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    verify_data: bool | None = None
    trace: bool = True
    metrics: list[RecordedMetric] = field(default_factory=list)
    writer: Any = None
    runtime: Any = None
    owner: Any = None  # the Runtime that made this recording (store=/name=), if any
    started: float = field(default_factory=time.perf_counter)
    finished: bool = False
    status: str = "ok"  # the run's outcome, set by finish()
    error: str | None = None
    script: str | None = None
    sweep_id: str | None = None
    # What the code reported of its results' check (verified()): None when it reported
    # nothing, else whether every check passed.
    verified: bool | None = None
    # The parameters the code read with param(), and their defaults.
    read: dict[str, Any] = field(default_factory=dict)
    # The Runtime's launches until the run finishes (its kernel_ns), as it starts them.
    launches: list[Any] = field(default_factory=list)

    # -- the active recording ----------------------------------------------------------
    def __enter__(self) -> Recording:
        _ACTIVE.append(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.deactivate()

    def deactivate(self) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    # -- called by Runtime -------------------------------------------------------------
    def attach(self, runtime: Any) -> None:
        """Make ``runtime`` the one this run records (its machine's writer is ours)."""
        if self.runtime is not None:
            raise RecordingError(
                f"run {self.name!r} already records a Runtime; a script run records one "
                "Runtime (pass store=/name= to record another as its own run)"
            )
        self.runtime = runtime

    def open_writer(self, topology: Any, verify_data: bool) -> Any:
        """The store writer of this run (None when untraced), made once the topology is
        known (when the Runtime is created)."""
        if not self.trace:
            return None
        self.writer = self._new_run(topology.name, topology.to_json(), topology.hash,
                                    verify_data, writer_process=True)  # fmt: skip
        return self.writer

    def record_failed(self, error: str, topology: Any | None) -> str | None:
        """Record the run as failed when the code failed before creating its Runtime
        (an import error, a bad parameter): its parameters, error and ``topology`` (the
        one asked for with ``--topology``, or None when unknown), without a trace.
        Returns the run id (None untraced)."""
        self.finished = True
        self.deactivate()
        self.status, self.error = "failed", error
        if not self.trace:
            return None
        if topology is not None:
            name, topology_json, topology_hash = topology.name, topology.to_json(), topology.hash
        else:  # the code never said which: nothing was simulated on any
            name, topology_json, topology_hash = "-", json.dumps({"name": "-"}), "-"
        self.writer = self._new_run(name, topology_json, topology_hash, bool(self.verify_data))
        self.writer.finish(status="failed", error=error, sim_end_ns=None, n_events=None,
                           wall_s=time.perf_counter() - self.started)  # fmt: skip
        return self.writer.run_id

    def _new_run(self, topology: str, topology_json: str, topology_hash: str,
                 verify_data: bool, writer_process: bool = False) -> Any:  # fmt: skip
        """A new run of this recording in its store (``writer_process``: Parquet work in
        the writer process, on another core)."""
        from traces.views import open_store

        return open_store(self.store).new_run(
            workload=self.name,
            params=self.recorded_params(),
            topology=topology,
            topology_json=topology_json,
            topology_hash=topology_hash,
            verify_data=verify_data,
            source_dir=SOURCE_DIR,
            sim_version=sim_version(),
            overrides=self.overrides,
            sweep_id=self.sweep_id,
            writer_process=writer_process,
        )

    def recorded_params(self) -> dict[str, Any]:
        """The run's parameters as recorded: the defaults of those the code read, the
        ``--set`` values, and the script that ran."""
        defaults = {k: v for k, v in self.read.items() if v is not None}
        return {**defaults, **self.params, **({"script": self.script} if self.script else {})}

    def unread_params(self) -> str | None:
        """The error of ``--set`` values the code never read (a misspelt name would
        otherwise be recorded as if it had been applied), or None."""
        unread = sorted(set(self.params) - set(self.read))
        if not unread:
            return None
        known = ", ".join(sorted(self.read)) or "none"
        return (f"--set {', '.join(unread)}: the script never read a parameter of that name "
                f"(it read: {known}); check the spelling")  # fmt: skip

    # -- results -----------------------------------------------------------------------
    def metric(self, name: str, value: float, unit: str = "", better: str = "lower") -> None:
        if better not in BETTER:
            raise RecordingError(
                f"metric {name!r}: better must be 'lower' or 'higher', got {better!r}"
            )
        self.metrics.append(RecordedMetric(name, float(value), unit, better))

    def finish(self, status: str = "ok", error: str | None = None) -> str | None:
        """Publish the run (metrics, links, runs row); returns its run id (None untraced).

        Waits for every launch first, so the trace holds the whole program.
        """
        if self.finished:
            return self.writer.run_id if self.writer is not None else None
        self.finished = True
        self.deactivate()
        runtime = self.runtime
        if runtime is not None and status == "ok":
            try:
                runtime.synchronize()
            except Exception as exc:  # recorded like any failure of the run
                status, error = "failed", describe(exc)
        unread = self.unread_params() if status == "ok" else None
        if unread is not None:
            status, error = "failed", unread
        if status == "ok":
            self._add_kernel_ns()
        self.status, self.error = status, error
        if self.writer is None:
            return None
        self.writer.update_run_row({"params": canonical_params(self.recorded_params())})
        for m in self.metrics:
            self.writer.metric(m.name, m.value, m.unit, m.better)
        machine = runtime.machine
        machine.recorder.links(machine.network, machine.graph.links)
        self.writer.finish(
            status=status,
            error=error,
            sim_end_ns=float(machine.env.now),
            verified=self.verified,
            n_events=machine.recorder.n_rows,
            wall_s=time.perf_counter() - self.started,
        )
        return self.writer.run_id

    def _add_kernel_ns(self) -> None:
        """Unless the code recorded one, the run's ``kernel_ns`` (its headline, as a
        workload's): from its Runtime's first launch's start to its last launch's end
        (autotuning's trial launches included: the device ran them)."""
        ours = [launch for launch in self.launches if launch.end_ns is not None]
        if not ours or any(m.name == "kernel_ns" for m in self.metrics):
            return
        span_ns = max(launch.end_ns for launch in ours) - min(
            launch.target_start_ns for launch in ours
        )
        self.metrics.append(RecordedMetric("kernel_ns", float(span_ns), "ns", "lower"))


_ACTIVE: list[Recording] = []


def active() -> Recording | None:
    """The innermost active recording, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


def metric(name: str, value: float, unit: str = "", better: str = "lower") -> None:
    """Record metric ``name`` = ``value`` (in ``unit``) in the run being recorded;
    ``better`` ("lower" | "higher") says which way it improves.

    Outside a recorded run (``kernbench run script.py`` or a ``Runtime(store=...,
    name=...)``) the value goes nowhere: a warning says so, and the script still runs
    (so one script works both ways). Raises RecordingError for a bad ``better``.
    """
    recording = active()
    if recording is None:
        if better not in BETTER:
            raise RecordingError(
                f"metric {name!r}: better must be 'lower' or 'higher', got {better!r}"
            )
        warnings.warn(
            f"kernbench.metric({name!r}): no run is being recorded (run the script with "
            "`kernbench run script.py` or create Runtime(..., store=..., name=...))",
            stacklevel=2,
        )
        return
    recording.metric(name, value, unit, better)


def verified(ok: bool) -> None:
    """Report whether the results the code checked (against numpy, say) are right: the
    run's ``verified`` is True only if every report was (a run shows "NO" once one was
    not). Outside a recorded run it does nothing."""
    recording = active()
    if recording is None:
        return
    recording.verified = bool(ok) and recording.verified is not False


def param(name: str, default: Any) -> Any:
    """The ``--set name=V`` value of the run, converted to ``default``'s type (bool
    accepts true/false/1/0/yes/no), else ``default``."""
    recording = active()
    if recording is not None:
        recording.read[name] = default
    if recording is None or name not in recording.params:
        return default
    value = recording.params[name]
    if isinstance(default, bool):
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise RecordingError(
                f"parameter {name}: {value!r} is not {type_phrase(bool)} (true/false, yes/no, 1/0)"
            )
        return text in ("true", "1", "yes")
    if default is None or isinstance(value, type(default)):
        return value
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        raise RecordingError(
            f"parameter {name}: {value!r} is not {type_phrase(type(default))}"
        ) from None


def describe(exc: BaseException) -> str:
    """One line for the user: our errors' message, type and message otherwise."""
    if isinstance(exc, SimulationError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
