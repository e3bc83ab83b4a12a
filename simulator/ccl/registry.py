"""The CCL registry: ``ccl.yaml`` lists the collective algorithms.

Each algorithm entry names the module and kernel function that implement it, the
topology it requires (``any``; or ``levels``: ranks fill cubes evenly and cubes fill
SIPs evenly), its defaults (``subchunk_kib``: the pipeline grain) and optionally
``coarse_kernel``: the same algorithm on the coarse collective model
(:mod:`simulator.ccl.coarse`). Each op names its default algorithm and its default
``model`` (``fine`` or ``coarse``). Unknown names are errors that list the valid ones.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from simulator.engine.errors import SimulationError
from simulator.hw.topology import PeCoord

REGISTRY_PATH = Path(__file__).with_name("ccl.yaml")
TOPOLOGY_REQUIREMENTS = ("any", "levels")
# Collective models: ``fine`` moves every sub-chunk as its own DMA, MATH op and inbox
# slot; ``coarse`` runs the fine schedule on a sample and waits out the rest at its
# measured period (simulator/ccl/coarse.py).
MODELS = ("fine", "coarse")


class CclError(SimulationError, ValueError):
    """A bad ``ccl.yaml`` entry, an unknown algorithm, or ranks an algorithm cannot use."""


@dataclass(frozen=True)
class Algorithm:
    """One registered algorithm of one collective op."""

    name: str
    op: str
    module: str
    kernel_name: str
    topology: str
    doc: str
    defaults: dict[str, Any] = field(default_factory=dict)
    coarse_kernel_name: str | None = None

    def kernel(self, model: str = "fine") -> Callable[..., None]:
        """The kernel function of ``model`` (``fine`` or ``coarse``; imported on first
        use). Raises CclError for an unknown model or one this algorithm lacks."""
        if model not in MODELS:
            raise CclError(f"unknown collective model {model!r}; valid: {', '.join(MODELS)}")
        name, key = self.kernel_name, "kernel"
        if model == "coarse":
            if self.coarse_kernel_name is None:
                raise CclError(f"{self.op} algorithm {self.name!r} has no coarse model")
            name, key = self.coarse_kernel_name, "coarse_kernel"
        module = importlib.import_module(self.module)
        try:
            return getattr(module, name)
        except AttributeError:
            raise CclError(
                f"{REGISTRY_PATH.name}: {self.op}.algorithms.{self.name}.{key}: module "
                f"{self.module} has no function {name!r}"
            ) from None

    @property
    def subchunk_bytes(self) -> int:
        """Pipeline grain in bytes (``defaults.subchunk_kib``)."""
        return int(self.defaults["subchunk_kib"] * 1024)

    def check_ranks(self, pes: Sequence[PeCoord]) -> None:
        """Raise CclError when the ranks' PEs do not meet this algorithm's topology
        requirement (the message names the offending cubes or SIPs)."""
        if self.topology != "levels":
            return
        per_cube = Counter((c.sip, c.cube) for c in pes)
        if len(set(per_cube.values())) > 1:
            sizes = ", ".join(f"sip{s}.cube{k}: {n}" for (s, k), n in sorted(per_cube.items()))
            raise CclError(
                f"{self.name} {self.op} needs the same number of ranks in every cube it "
                f"uses; ranks per cube: {sizes}"
            )
        per_sip = Counter(s for s, _ in per_cube)
        if len(set(per_sip.values())) > 1:
            sizes = ", ".join(f"sip{s}: {n}" for s, n in sorted(per_sip.items()))
            raise CclError(
                f"{self.name} {self.op} needs the same number of cubes in every SIP it "
                f"uses; cubes per SIP: {sizes}"
            )


@dataclass(frozen=True)
class Registry:
    """The parsed ``ccl.yaml``."""

    defaults: dict[str, str]
    algorithms: dict[str, dict[str, Algorithm]]
    models: dict[str, str] = field(default_factory=dict)


class _Checker:
    """Builds CclErrors that name the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> CclError:
        return CclError(f"{self.path.name}: {key}: {message}")

    def positive(self, data: dict, key: str, where: str) -> float:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(f"{where}.{key}", f"must be a positive number, got {value!r}")
        return value


# The coarse model's sampling knobs an algorithm's defaults may set (positive numbers).
SAMPLING_KEYS = {"max_sampled_pieces", "sampled_lead_per_slot", "sampled_lead_per_stage"}


@cache
def load_registry(path: Path = REGISTRY_PATH) -> Registry:
    """Parse and check ``ccl.yaml`` (cached). Raises CclError naming file and key."""
    check = _Checker(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise check.fail("(file)", f"cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise check.fail("(top)", "expected a mapping")
    if "ipcq" in data:
        raise check.fail("ipcq", "the IPCQ inbox is hardware: set it in the topology (pe.ipcq)")
    defaults, algorithms, models = {}, {}, {}
    for op, section in data.items():
        if not isinstance(section, dict) or not isinstance(section.get("algorithms"), dict):
            raise check.fail(op, "expected a mapping with 'default' and 'algorithms'")
        table = {}
        for name, entry in section["algorithms"].items():
            where = f"{op}.algorithms.{name}"
            if not isinstance(entry, dict):
                raise check.fail(where, "expected a mapping")
            for key in ("module", "kernel"):
                if not isinstance(entry.get(key), str):
                    raise check.fail(f"{where}.{key}", "missing (a string)")
            coarse = entry.get("coarse_kernel")
            if coarse is not None and not isinstance(coarse, str):
                raise check.fail(f"{where}.coarse_kernel", "must be a function name (a string)")
            topology = entry.get("topology", "any")
            if topology not in TOPOLOGY_REQUIREMENTS:
                raise check.fail(
                    f"{where}.topology",
                    f"{topology!r} is not one of {', '.join(TOPOLOGY_REQUIREMENTS)}",
                )
            entry_defaults = dict(entry.get("defaults") or {})
            check.positive(entry_defaults, "subchunk_kib", f"{where}.defaults")
            for key in SAMPLING_KEYS & entry_defaults.keys():
                check.positive(entry_defaults, key, f"{where}.defaults")
            table[name] = Algorithm(
                name,
                op,
                entry["module"],
                entry["kernel"],
                topology,
                " ".join(str(entry.get("doc", "")).split()),
                entry_defaults,
                coarse,
            )
        default = section.get("default")
        if default not in table:
            raise check.fail(f"{op}.default", f"{default!r} is not one of {', '.join(table)}")
        model = section.get("model", "fine")
        if model not in MODELS:
            raise check.fail(f"{op}.model", f"{model!r} is not one of {', '.join(MODELS)}")
        defaults[op] = default
        algorithms[op] = table
        models[op] = model
    return Registry(defaults, algorithms, models)


def algorithm_names(op: str = "all_reduce") -> list[str]:
    """Registered algorithm names of ``op``, in file order."""
    return list(_table(op))


def default_algorithm(op: str = "all_reduce") -> str:
    """The algorithm ``op`` uses when none is named."""
    _table(op)
    return load_registry().defaults[op]


def default_model(op: str = "all_reduce") -> str:
    """The collective model ``op`` uses when none is named (``ccl.yaml``: ``model``)."""
    _table(op)
    return load_registry().models[op]


def get_algorithm(name: str | None, op: str = "all_reduce") -> Algorithm:
    """The algorithm ``name`` of ``op`` (the default when None or empty).

    Raises CclError listing the valid names.
    """
    table = _table(op)
    name = name or load_registry().defaults[op]
    if name not in table:
        raise CclError(f"unknown {op} algorithm {name!r}; valid: {', '.join(table)}")
    return table[name]


def _table(op: str) -> dict[str, Algorithm]:
    algorithms = load_registry().algorithms
    if op not in algorithms:
        raise CclError(f"unknown collective {op!r}; valid: {', '.join(algorithms)}")
    return algorithms[op]
