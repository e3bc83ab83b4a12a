"""On-disk layout of a run store (contract).

    <store>/<table>/run_id=<run_id>/part-<n>.parquet   published runs
    <store>/_tmp/<run_id>/<table>/part-<n>.parquet     runs being written

A run is complete once its `runs` partition exists: the writer publishes it last.
"""

import os
from pathlib import Path

DEFAULT_STORE = "kernbench_store"
STORE_ENV = "KERNBENCH_STORE"
TMP_DIR = "_tmp"
PARTITION_PREFIX = "run_id="


def resolve_store(path: str | Path | None = None) -> Path:
    """The store folder: `path`, else $KERNBENCH_STORE, else DEFAULT_STORE (relative to cwd)."""
    if path is not None and str(path) != "":
        return Path(path)
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


OBJECT_SCHEMES = ("s3://",)


def is_object_url(spec: str | Path) -> bool:
    """Whether a store spec names an object-store prefix (``s3://bucket/prefix``)."""
    return isinstance(spec, str) and spec.startswith(OBJECT_SCHEMES)


def partition_dir(root: Path, table: str, run_id: str) -> Path:
    """Published folder of one table of one run."""
    return root / table / f"{PARTITION_PREFIX}{run_id}"


def run_id_of(partition: Path) -> str | None:
    """The run id of a `run_id=<id>` folder, or None for any other folder."""
    name = partition.name
    if not name.startswith(PARTITION_PREFIX) or name == PARTITION_PREFIX:
        return None
    return name[len(PARTITION_PREFIX) :]


def table_files(root: Path, table: str) -> dict[str, list[Path]]:
    """Parquet files of one table by run id (published partitions only, sorted)."""
    files: dict[str, list[Path]] = {}
    table_dir = root / table
    if not table_dir.is_dir():
        return files
    for partition in sorted(table_dir.iterdir()):
        run_id = run_id_of(partition)
        if run_id is None or not partition.is_dir():
            continue
        parts = sorted(partition.glob("*.parquet"))
        if parts:
            files[run_id] = parts
    return files


def complete_run_ids(root: Path) -> list[str]:
    """Ids of runs whose `runs` row is published, sorted (= by creation time)."""
    return sorted(table_files(root, "runs"))
