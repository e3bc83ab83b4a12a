"""Topology presets: YAML files checked against the schema in ``params.py``.

A preset is a YAML mapping with the same tree as :class:`TopologyParams`. It may start
with ``base: <preset name or relative path>``: the base is loaded first and the file's
keys are deep-merged over it, so a preset only lists what it changes. ``name`` is never
inherited: a file that does not set it is named after its file stem.

Loading raises :class:`TopologyError` naming the file and the dotted key for an unknown
key, a missing key, a wrong type (a bool is not an int; an int is accepted for a float)
or an illegal value, and for YAML syntax errors and unknown preset names.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulator.hw.params import (
    FRACTION,
    NONNEG,
    POSITIVE,
    TopologyParams,
    field_types,
    is_params_class,
    schema_rows,
)

# libyaml's safe loader when present: ~10x faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOPOLOGY_DIR = Path(__file__).resolve().parent.parent / "topologies"
_SUFFIXES = (".yaml", ".yml")


class TopologyError(ValueError):
    """A topology file or name is invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True, order=True)
class PeCoord:
    """Where a PE sits: SIP, cube within the SIP, PE within the cube.

    Ordered sip-major, then cube, then PE (the same order as ``pe_global``). Made by
    :meth:`Topology.pe_coord` / :meth:`Topology.coord`, which fill the derived fields.
    """

    sip: int
    cube: int
    pe: int
    pe_global: int
    cube_row: int
    cube_col: int


def list_topologies() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in TOPOLOGY_DIR.glob("*.yaml"))


def load_topology(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> Topology:
    """Load a preset by bare name (``"default"``) or a YAML file by path.

    A string without a path separator and without a ``.yaml``/``.yml`` suffix is a
    preset name. ``overrides`` maps dotted parameter keys (``"cube.hbm.bw_gbs"``) to
    values laid over the file (see :func:`apply_overrides`); the schema checks them like
    YAML values. Raises :class:`TopologyError` on any problem.
    """
    path, label = _resolve(name_or_path)
    raw = _load_merged(path, label, seen=())
    if overrides:
        raw = apply_overrides(raw, overrides, source=label)
        label = f"{label} with overrides"
    return topology_from_dict(raw, source=label)


def parse_override_value(text: Any) -> Any:
    """A command-line override value as YAML reads it: ``"51.2"`` -> 51.2, ``"4"`` -> 4,
    ``"false"`` -> False; anything that is not a string is returned unchanged."""
    if not isinstance(text, str):
        return text
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return text  # the schema check then names the key and the bad value


def apply_overrides(
    raw: dict[str, Any], overrides: Mapping[str, Any], source: str = "<dict>"
) -> dict[str, Any]:
    """``raw`` (a merged topology mapping) with each dotted key of ``overrides`` replaced.

    Keys must name a schema parameter: a leaf (``"cube.hbm.bw_gbs"``) or one entry of a
    mapping parameter (``"pe.math.cycles_per_op.exp"``). String values are parsed as
    YAML scalars (:func:`parse_override_value`). Raises :class:`TopologyError` naming the
    key for an unknown key (with the closest valid keys) or a whole section.
    """
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        parts = str(key).split(".")
        cls: Any = TopologyParams
        node = out
        for depth, part in enumerate(parts):
            here = ".".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            if is_params_class(cls):
                types = field_types(cls)
                if part not in types:
                    raise TopologyError(f"{source}: override {key}: {_unknown_key_hint(here)}")
                cls = types[part]
            elif typing.get_origin(cls) is dict:
                cls = typing.get_args(cls)[1]
            else:
                raise TopologyError(f"{source}: override {key}: {here} is not a section")
            if last:
                if is_params_class(cls):
                    leaves = ", ".join(k for k, _, _ in schema_rows(cls, prefix=f"{here}.")[:4])
                    raise TopologyError(
                        f"{source}: override {key}: {here} is a section, set one of its "
                        f"parameters (e.g. {leaves})"
                    )
                node[part] = parse_override_value(value)
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return out


def _unknown_key_hint(key: str) -> str:
    """``unknown key K`` plus the closest valid dotted keys of the schema."""
    valid = [k for k, _, _ in schema_rows()]
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    if not close:
        prefix = key.rsplit(".", 1)[0] + "."
        close = [k for k in valid if k.startswith(prefix)][:6]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown topology key {key}{hint}"


def topology_from_dict(data: dict[str, Any], source: str = "<dict>") -> Topology:
    """Build a topology from a fully resolved mapping (e.g. a trace's ``topology_json``).

    ``source`` names the origin in error messages. Raises :class:`TopologyError`.
    """
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    params = _build(TopologyParams, data, source, prefix="")
    return Topology(params)


def _resolve(name_or_path: str | Path) -> tuple[Path, str]:
    """The file to read and the label errors use for it."""
    text = str(name_or_path)
    is_name = (
        not isinstance(name_or_path, Path)
        and "/" not in text
        and "\\" not in text
        and not text.endswith(_SUFFIXES)
    )
    if is_name:
        path = TOPOLOGY_DIR / f"{text}.yaml"
        if not path.is_file():
            valid = ", ".join(list_topologies())
            raise TopologyError(f"unknown topology {text!r} (valid: {valid}; or a path to a YAML)")
        return path, path.name
    path = Path(name_or_path)
    if not path.is_file():
        raise TopologyError(f"topology file not found: {text}")
    return path, text


def _load_merged(path: Path, label: str, seen: tuple[Path, ...]) -> dict[str, Any]:
    """Read one YAML file and deep-merge it over its ``base`` chain."""
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(p.name for p in (*seen, resolved))
        raise TopologyError(f"{label}: base chain loops: {chain}")
    try:
        data = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError(f"{label}: invalid YAML{where}: {problem}") from None
    except OSError as exc:
        raise TopologyError(f"{label}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise TopologyError(f"{label}: top level must be a mapping, got {got}")
    base = data.pop("base", None)
    if "name" not in data:
        data["name"] = path.stem
    if base is None:
        return data
    if not isinstance(base, str):
        raise TopologyError(f"{label}: base must be a preset name or a path, got {base!r}")
    if "/" in base or base.endswith(_SUFFIXES):
        base_path, base_label = path.parent / base, base
        if not base_path.is_file():
            raise TopologyError(f"{label}: base file not found: {base}")
    else:
        try:
            base_path, base_label = _resolve(base)
        except TopologyError as exc:
            raise TopologyError(f"{label}: base: {exc}") from None
    merged = _load_merged(base_path, base_label, seen=(*seen, resolved))
    return _deep_merge(merged, data)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it; nested mappings merge key by key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    """Check ``data`` against parameter class ``cls`` and construct it."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: {where} must be a mapping, got {_show(data)}")
    types = field_types(cls)
    unknown = sorted(set(data) - set(types), key=str)
    if unknown:
        valid = ", ".join(types)
        raise TopologyError(f"{source}: unknown key {prefix}{unknown[0]} (valid here: {valid})")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if f.name not in data:
            raise TopologyError(f"{source}: missing key {key}")
        tp = types[f.name]
        if is_params_class(tp):
            values[f.name] = _build(tp, data[f.name], source, prefix=f"{key}.")
        else:
            values[f.name] = _check_leaf(tp, data[f.name], f.metadata.get("check"), source, key)
    return cls(**values)


def _check_leaf(
    tp: Any, value: Any, check: str | tuple[str, ...] | None, source: str, key: str
) -> Any:
    """Type-check and range-check one leaf value; return it normalised (int -> float)."""
    if typing.get_origin(tp) is dict:
        key_tp, value_tp = typing.get_args(tp)
        if not isinstance(value, dict) or not value:
            raise TopologyError(f"{source}: {key} must be a non-empty mapping, got {_show(value)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, key_tp):
                raise TopologyError(f"{source}: {key} keys must be {key_tp.__name__}, got {k!r}")
            out[k] = _check_leaf(value_tp, v, check, source, f"{key}.{k}")
        return out
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TopologyError(f"{source}: {key} must be a number, got {_show(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise TopologyError(f"{source}: {key} must be finite, got {value}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TopologyError(f"{source}: {key} must be an int, got {_show(value)}")
    elif not isinstance(value, tp) or (tp is not bool and isinstance(value, bool)):
        raise TopologyError(f"{source}: {key} must be a {tp.__name__}, got {_show(value)}")
    if check == POSITIVE and not value > 0:
        raise TopologyError(f"{source}: {key} must be > 0, got {value}")
    if check == NONNEG and not value >= 0:
        raise TopologyError(f"{source}: {key} must be >= 0, got {value}")
    if check == FRACTION and not 0 < value <= 1:
        raise TopologyError(f"{source}: {key} must be in (0, 1], got {value}")
    if isinstance(check, tuple) and value not in check:
        raise TopologyError(f"{source}: {key} must be one of {', '.join(check)}, got {value!r}")
    return value


def _show(value: Any) -> str:
    """A value and its YAML-visible type, for error messages."""
    return f"{type(value).__name__} {value!r}"


@dataclass(frozen=True, eq=False)
class Topology:
    """A validated topology: its parameters plus sizes and PE coordinates derived from them.

    Immutable. Two topologies are equal when their canonical JSON is equal.
    """

    params: TopologyParams

    def __post_init__(self) -> None:
        # Derived once here: the engine asks for the hash and coordinates often.
        text = json.dumps(dataclasses.asdict(self.params), sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "_json", text)
        object.__setattr__(self, "_hash", hashlib.sha256(text.encode()).hexdigest()[:16])
        coords = []
        for sip in range(self.num_sips):
            for cube in range(self.cubes_per_sip):
                row, col = divmod(cube, self.cube_cols)
                for pe in range(self.pes_per_cube):
                    coords.append(PeCoord(sip, cube, pe, len(coords), row, col))
        object.__setattr__(self, "_coords", tuple(coords))

    def __repr__(self) -> str:
        return f"Topology({self.name!r}, {self.num_pes} PEs, hash={self.hash})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Topology) and self._json == other._json

    def __hash__(self) -> int:
        return hash(self._json)

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def num_sips(self) -> int:
        return self.params.system.num_sips

    @property
    def cube_rows(self) -> int:
        return self.params.sip.cube_rows

    @property
    def cube_cols(self) -> int:
        return self.params.sip.cube_cols

    @property
    def cubes_per_sip(self) -> int:
        return self.cube_rows * self.cube_cols

    @property
    def pes_per_cube(self) -> int:
        return self.params.cube.pes

    @property
    def pes_per_sip(self) -> int:
        return self.cubes_per_sip * self.pes_per_cube

    @property
    def num_pes(self) -> int:
        """Total PEs in the system."""
        return self.num_sips * self.pes_per_sip

    @property
    def hash(self) -> str:
        """First 16 hex chars of the sha256 of :meth:`to_json`."""
        return self._hash

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved parameter tree as plain dicts (no ``base``)."""
        return dataclasses.asdict(self.params)

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict`: sorted keys, no whitespace."""
        return self._json

    def pe_coord(self, pe_global: int) -> PeCoord:
        """Coordinates of global PE ``pe_global``; raises ``ValueError`` if out of range."""
        if isinstance(pe_global, bool) or not isinstance(pe_global, int):
            raise ValueError(f"pe_global must be an int, got {pe_global!r}")
        if not 0 <= pe_global < self.num_pes:
            raise ValueError(
                f"pe_global {pe_global} out of range 0..{self.num_pes - 1} "
                f"for topology {self.name!r}"
            )
        return self._coords[pe_global]

    def coord(self, sip: int, cube: int, pe: int) -> PeCoord:
        """Coordinates of PE ``pe`` of cube ``cube`` of SIP ``sip``; ``ValueError`` if absent."""
        for what, value, count in (
            ("sip", sip, self.num_sips),
            ("cube", cube, self.cubes_per_sip),
            ("pe", pe, self.pes_per_cube),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
                raise ValueError(
                    f"{what} {value!r} out of range 0..{count - 1} for topology {self.name!r}"
                )
        return self._coords[(sip * self.cubes_per_sip + cube) * self.pes_per_cube + pe]

    def pe_coords(self) -> list[PeCoord]:
        """Every PE in global order: sip-major, then cube, then PE."""
        return list(self._coords)
