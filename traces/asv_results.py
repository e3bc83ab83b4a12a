"""asv's benchmark results as a table, so wall-time history sits beside simulated metrics.

asv writes one JSON file per (machine, commit, environment) under its results folder
(``.asv/results/<machine>/<hash8>-<env>.json``, see ``asv.conf.json``) and the
benchmarks' units and parameter names in ``benchmarks.json`` beside the machine folders.
A parameterised benchmark stores one value per combination of its parameters, in the
order of ``itertools.product`` over ``params``.
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

DEFAULT_ASV_RESULTS = ".asv/results"
ASV_RESULTS_ENV = "KERNBENCH_ASV_RESULTS"

SCHEMA = pa.schema(
    [
        ("machine", pa.string()),
        ("commit", pa.string()),
        ("date", pa.timestamp("ms", tz="UTC")),
        ("benchmark", pa.string()),
        ("params", pa.string()),  # e.g. "topology='default', launches=1"; "" without params
        ("value", pa.float64()),
        ("unit", pa.string()),  # seconds, bytes, or a track_ benchmark's own unit
    ]
)


def resolve_asv_results(path: str | Path | None = None) -> Path:
    """The asv results folder: the argument, else ``$KERNBENCH_ASV_RESULTS``, else
    ``.asv/results`` in the working directory."""
    return Path(path or os.environ.get(ASV_RESULTS_ENV) or DEFAULT_ASV_RESULTS)


def results_fingerprint(results_dir: Path) -> str:
    """Changes whenever a result file is added or rewritten (for caches)."""
    files = sorted(results_dir.glob("*/*.json")) if results_dir.is_dir() else []
    return ";".join(f"{f.name}:{f.stat().st_mtime_ns}" for f in files)


def load_asv_results(results_dir: str | Path) -> pa.Table:
    """Every benchmark value of every result file, one row per parameter combination.

    Columns (see SCHEMA): machine, commit (full hash), date (the commit's date as asv
    recorded it), benchmark, params, value (None for a failed or skipped combination is
    dropped), unit. An absent folder gives an empty table; a file that is not asv JSON
    is skipped.
    """
    root = Path(results_dir)
    meta: dict[str, Any] = {}
    if (root / "benchmarks.json").is_file():
        meta = json.loads((root / "benchmarks.json").read_text())
    rows: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for path in sorted(root.glob("*/*.json")) if root.is_dir() else []:
        if path.name == "machine.json":
            continue
        try:
            result = json.loads(path.read_text())
            columns = result["result_columns"]
            commit, date = result["commit_hash"], result["date"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        when = datetime.fromtimestamp(date / 1000, tz=UTC)
        for benchmark, entry in result.get("results", {}).items():
            fields = dict(zip(columns, entry, strict=False))
            values = fields.get("result")
            if values is None:
                continue
            params = fields.get("params") or []
            names = meta.get(benchmark, {}).get("param_names", [])
            combos = list(itertools.product(*params)) if params else [()]
            for combo, value in zip(combos, values, strict=False):
                if value is None:
                    continue
                label = ", ".join(f"{n}={v}" for n, v in zip(names, combo, strict=False))
                rows["machine"].append(path.parent.name)
                rows["commit"].append(commit)
                rows["date"].append(when)
                rows["benchmark"].append(benchmark)
                rows["params"].append(label)
                rows["value"].append(float(value))
                rows["unit"].append(meta.get(benchmark, {}).get("unit", ""))
    return pa.table(rows, schema=SCHEMA)
