"""What differs between two runs besides the code: workload, parameters, topology.

A comparison of two runs is like-for-like only when these match; the CLI's `compare`
warns with each difference (one line each), as the dashboard's Compare page notes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _params(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"(params)": text}
    return value if isinstance(value, dict) else {"(params)": value}


def param_changes(params_a: str | None, params_b: str | None) -> list[str]:
    """``key: a -> b`` for each parameter that differs between two params JSON texts."""
    a, b = _params(params_a), _params(params_b)
    missing = "(unset)"
    return [
        f"{key}: {a.get(key, missing)} -> {b.get(key, missing)}"
        for key in sorted(a.keys() | b.keys())
        if a.get(key, missing) != b.get(key, missing)
    ]


def run_differences(header_a: Mapping[str, Any], header_b: Mapping[str, Any]) -> list[str]:
    """One sentence per way the two runs rows differ in workload, params or topology.

    Empty when the runs are like for like. Topologies differ when their names or
    their resolved hashes (`topology_hash`, which overrides change) differ.
    """
    notes = []
    if header_a.get("workload") != header_b.get("workload"):
        notes.append(
            f"different workloads ({header_a.get('workload')} -> {header_b.get('workload')})"
        )
    changed = param_changes(header_a.get("params"), header_b.get("params"))
    if changed:
        notes.append("parameters differ: " + "; ".join(changed))
    topo_a, topo_b = header_a.get("topology"), header_b.get("topology")
    if topo_a != topo_b:
        notes.append(f"topologies differ ({topo_a} -> {topo_b})")
    elif header_a.get("topology_hash") != header_b.get("topology_hash"):
        notes.append(
            f"topology {topo_a} differs in its parameters (hash "
            f"{header_a.get('topology_hash')} -> {header_b.get('topology_hash')})"
        )
    return notes
