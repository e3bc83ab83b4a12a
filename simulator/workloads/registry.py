"""The workload registry: named, parameterised scenarios that return metrics.

A workload declares typed, documented parameters with defaults and a body
``run(runtime, params) -> WorkloadResult``. ``kernbench run NAME --set K=V`` converts
each value with the parameter's type; an unknown workload or parameter is an error that
lists the valid ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.engine.errors import type_phrase
from simulator.workloads.bounds import EFFICIENCY_TOLERANCE
from traces.better import BETTER

if TYPE_CHECKING:  # the simulator proper is imported by the workloads that use it
    from simulator.runtime.runtime import Runtime


class WorkloadError(ValueError):
    """An unknown workload or parameter, or a value that does not convert."""


@dataclass(frozen=True)
class Param:
    """One workload parameter: its type (int, float, bool, str), default and meaning."""

    name: str
    type: type
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    minimum: int | float | None = None  # smallest valid value (numbers only)

    def convert(self, text: Any) -> Any:
        """The value of ``text`` (a --set string or a Python value) as this type."""
        if not isinstance(text, str):
            value = text
        elif self.type is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise WorkloadError(
                    f"parameter {self.name}: {text!r} is not {type_phrase(bool)} "
                    "(true/false, yes/no, 1/0)"
                )
            value = lowered in ("true", "1", "yes")
        else:
            try:
                value = self.type(text)
            except ValueError:
                raise WorkloadError(
                    f"parameter {self.name}: {text!r} is not {type_phrase(self.type)}"
                ) from None
        if self.minimum is not None and value < self.minimum:
            raise WorkloadError(f"parameter {self.name}: {value!r} is below {self.minimum}")
        if self.choices is not None and value not in self.choices:
            valid = ", ".join(str(c) for c in self.choices)
            raise WorkloadError(f"parameter {self.name}: {value!r} is not one of {valid}")
        return value


@dataclass(frozen=True)
class Metric:
    """A named result with its unit (``tflops``, ``ns``, ``gbs``, ``ratio``...) and which
    way it improves (``better``: "lower" or "higher"; stored as ``metrics.better``)."""

    name: str
    value: float
    unit: str
    better: str


@dataclass
class WorkloadResult:
    """What a workload returns: metrics, and whether data was verified (None: not
    checked, e.g. verify_data off)."""

    metrics: list[Metric] = field(default_factory=list)
    verified: bool | None = None

    def add(self, name: str, value: float, unit: str, *, better: str) -> None:
        """Record metric `name` in `unit`; `better` ("lower" | "higher") says which way
        it improves, for every verdict on it (check, compare, dashboard, asv). Times and
        bounds are "lower"; throughput, bandwidth, utilisation, efficiency and `n_pes`
        (PEs put to work: losing parallelism is the regression) are "higher".

        Raises WorkloadError naming the metric when `better` is anything else.
        """
        if better not in BETTER:
            raise WorkloadError(
                f"metric {name!r}: better must be 'lower' or 'higher', got {better!r}"
            )
        self.metrics.append(Metric(name, float(value), unit, better))

    def add_bound(self, bound_ns: float, latency_ns: float) -> None:
        """Record the physics bound (``bound_ns``, from ``workloads/bounds.py``) of the
        latency ``latency_ns`` and ``efficiency = bound_ns / latency_ns``."""
        self.add("bound_ns", bound_ns, "ns", better="lower")
        efficiency = bound_ns / latency_ns if latency_ns > 0 else 0.0
        self.add("efficiency", efficiency, "ratio", better="higher")

    def physics_violation(self) -> str | None:
        """A message if the run beat its physics bound (efficiency above 1 beyond float
        tolerance), else None."""
        values = {m.name: m.value for m in self.metrics}
        efficiency = values.get("efficiency")
        if efficiency is None or efficiency <= 1.0 + EFFICIENCY_TOLERANCE:
            return None
        return (
            f"simulator beat physics: efficiency {efficiency:.6f} > 1 (bound_ns "
            f"{values.get('bound_ns', float('nan')):.1f} > simulated latency "
            f"{values.get('bound_ns', 0.0) / efficiency:.1f} ns); this is a modelling bug"
        )


@dataclass(frozen=True)
class Workload:
    """A registered scenario."""

    name: str
    doc: str
    params: tuple[Param, ...]
    body: Callable[[Runtime, dict[str, Any]], WorkloadResult]
    default_topology: str = "default"
    # Its kernels steer by loaded values (gathers, pointers loaded from memory): it runs
    # in data mode whatever the caller asked.
    needs_data: bool = False

    def resolve(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Defaults updated with ``overrides`` (converted); raises WorkloadError naming
        an unknown parameter and listing the valid ones."""
        known = {p.name: p for p in self.params}
        values = {p.name: p.default for p in self.params}
        for key, text in overrides.items():
            if key not in known:
                valid = ", ".join(known) or "(none)"
                raise WorkloadError(
                    f"workload {self.name!r} has no parameter {key!r}; valid: {valid}"
                )
            values[key] = known[key].convert(text)
        return values


WORKLOADS: dict[str, Workload] = {}


def parse_sets(items: list[str]) -> dict[str, str]:
    """``--set K=V`` items as {K: V} (text, stripped; the parameter converts it).

    Raises WorkloadError naming an item without ``=`` or without a key, or a key given
    twice.
    """
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkloadError(f"--set expects K=V, got {item!r}")
        if key in overrides:
            raise WorkloadError(
                f"--set {key} given twice ({overrides[key]!r} and {value.strip()!r}); "
                "give each key once"
            )
        overrides[key] = value.strip()
    return overrides


def workload(
    name: str,
    params: tuple[Param, ...] = (),
    default_topology: str = "default",
    needs_data: bool = False,
):
    """Register the decorated ``body(runtime, params)`` as workload ``name``
    (``needs_data``: it always runs in data mode)."""

    def register(body: Callable[[Runtime, dict[str, Any]], WorkloadResult]):
        WORKLOADS[name] = Workload(
            name, (body.__doc__ or "").strip(), params, body, default_topology, needs_data
        )
        return body

    return register


def get_workload(name: str) -> Workload:
    """The workload called ``name``; raises WorkloadError listing the valid names."""
    _load_all()
    if name not in WORKLOADS:
        raise WorkloadError(f"unknown workload {name!r}; valid: {', '.join(sorted(WORKLOADS))}")
    return WORKLOADS[name]


def list_workloads() -> list[Workload]:
    """Every registered workload, by name."""
    _load_all()
    return [WORKLOADS[n] for n in sorted(WORKLOADS)]


_discovered = False


def _load_all() -> None:
    """Import every module of the ``simulator.workloads`` package once: importing a
    module runs its ``@workload`` decorators, so a new workload is one new file."""
    global _discovered
    if _discovered:
        return
    package = importlib.import_module(__package__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = f"{__package__}.{info.name}"
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise WorkloadError(
                f"workload module {module} ({info.module_finder.path}/{info.name}.py) "
                f"failed to import: {type(exc).__name__}: {exc}"
            ) from exc
    _discovered = True
