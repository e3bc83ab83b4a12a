"""Trace identity: a canonical digest of every trace table of a few reference runs.

A refactor that must not change any simulated number compares the digests of these
runs with the golden ones in ``tests/golden/trace_digests.json``
(``tests/test_trace_identity.py``). A change that moves numbers on purpose
regenerates the goldens, in the same commit, with:

    .venv/bin/python tests/trace_identity.py --update

Canonical form of a table: its rows as tuples of the compared columns, values in exact
text form (floats by ``repr``, which round-trips float64), sorted; then one SHA-256
per column over that row order. Row order on disk, run ids, wall times and the run's
provenance (git, host, clock, version, the resolved topology) are ignored. Columns a
newer schema adds (contract extensions) are not compared until the goldens are
regenerated, so adding a column never breaks this check; changing a value does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

GOLDEN_PATH = Path(__file__).resolve().parent / "golden" / "trace_digests.json"

# name -> (workload, overrides, topology or None for the workload's default)
CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "gemm": ("gemm", {"M": 512, "N": 256, "K": 256}, None),
    "ccl_allreduce_hierarchical_32": (
        "ccl_allreduce",
        {"algorithm": "hierarchical", "world_size": 32, "bytes": 1 << 18},
        None,
    ),
    "tp_mlp": ("tp_mlp", {"tokens": 128, "hidden": 256, "ffn": 512, "tp": 4}, None),
    "gpt3_qkv_small": (
        "gpt3_qkv",
        {"tokens": 256, "hidden": 512, "block_m": 128, "block_n": 128, "block_k": 128},
        None,
    ),
}

# Columns of the runs table that describe where, when and how a run was made rather
# than what it simulated.
RUN_METADATA = frozenset(
    {
        "run_id",
        "created_at",
        "git_commit",
        "git_branch",
        "git_dirty",
        "commit_time",
        "commit_message",
        "sim_version",
        "wall_s",
        "host",
        "topology_json",
        "topology_hash",
    }
)


def _text(value: Any) -> str:
    """Exact, type-tagged text of one cell (floats round-trip through repr)."""
    if value is None:
        return "~"
    if isinstance(value, float):
        return "f" + repr(value)
    if isinstance(value, bool):
        return "b" + str(value)
    if isinstance(value, int):
        return "i" + str(value)
    return "s" + str(value)


def table_digest(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    """{"rows": n, "columns": {column: sha256}} of ``rows`` over ``columns``.

    Rows are sorted by their canonical text over exactly ``columns`` (taken in name
    order), so the digest is a function of the row multiset and does not depend on any
    other column nor on the order ``columns`` are given in.
    """
    columns = sorted(columns)
    lines = sorted("\x1f".join(_text(row.get(c)) for c in columns) + "\x1e" for row in rows)
    digests: dict[str, str] = {}
    for i, column in enumerate(columns):
        h = hashlib.sha256()
        for line in lines:
            h.update(line[:-1].split("\x1f")[i].encode())
            h.update(b"\x1e")
        digests[column] = h.hexdigest()
    return {"rows": len(rows), "columns": digests}


def read_table(store: Path, table: str, run_id: str) -> list[dict[str, Any]]:
    """Every row of ``table`` of one published run (empty if the run wrote none)."""
    from traces.layout import partition_dir

    folder = partition_dir(store, table, run_id)
    if not folder.is_dir():
        return []
    rows: list[dict[str, Any]] = []
    for part in sorted(folder.glob("*.parquet")):
        rows.extend(pq.read_table(part).to_pylist())
    return rows


def run_digests(store: Path, run_id: str, only: dict[str, list[str]] | None = None) -> dict:
    """Digest of every trace table of one run: {table: table_digest}.

    ``only`` restricts each table to the given columns (the goldens' columns), so
    columns added later are ignored.
    """
    from traces.schema import TABLES

    out: dict[str, Any] = {}
    for table, schema in TABLES.items():
        rows = read_table(store, table, run_id)
        columns = [n for n in schema.names if n != "run_id"]
        if table == "runs":
            columns = [n for n in columns if n not in RUN_METADATA]
        if only is not None and table in only:
            columns = only[table]
        out[table] = table_digest(rows, columns)
    return out


def compute(
    cases: dict[str, tuple[str, dict[str, Any], str | None]] = CASES,
    only: dict[str, dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    """Run every case into a temporary store and digest its tables: {case: digests}."""
    from simulator.runner import run_workload

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kernbench-identity-") as tmp:
        for case, (workload, overrides, topology) in cases.items():
            outcome = run_workload(workload, overrides, topology=topology, store=Path(tmp))
            if outcome.status != "ok":
                raise RuntimeError(f"identity case {case} failed: {outcome.error}")
            columns = None if only is None else only.get(case)
            results[case] = run_digests(Path(tmp), outcome.run_id, columns)
    return results


def golden_columns(golden: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """{case: {table: [columns]}} stored in a golden file."""
    return {
        case: {table: list(d["columns"]) for table, d in tables.items()}
        for case, tables in golden.items()
    }


def differences(golden: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """One line per case, table or column whose digest differs (empty: identical)."""
    lines: list[str] = []
    for case in sorted(golden.keys() | actual.keys()):
        if case not in actual or case not in golden:
            lines.append(f"{case}: only in {'golden' if case in golden else 'this run'}")
            continue
        for table in sorted(golden[case].keys() | actual[case].keys()):
            want, got = golden[case].get(table), actual[case].get(table)
            if want is None or got is None:
                lines.append(f"{case}.{table}: table only in {'golden' if want else 'this run'}")
                continue
            if want["rows"] != got["rows"]:
                lines.append(f"{case}.{table}: {got['rows']} rows, golden {want['rows']}")
            for column, digest in want["columns"].items():
                if got["columns"].get(column) != digest:
                    lines.append(f"{case}.{table}.{column}: values differ from golden")
    return lines


def load_golden(path: Path = GOLDEN_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the golden digests")
    args = parser.parse_args(argv)
    if args.update:
        digests = compute()
        GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_PATH.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN_PATH}")
        return 0
    golden = load_golden()
    diff = differences(golden, compute(only=golden_columns(golden)))
    print("\n".join(diff) or "identical to the golden digests")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
