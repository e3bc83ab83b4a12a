"""A run store on S3-compatible object storage: ``s3://bucket/prefix``.

Same layout as a local store (``<prefix>/<table>/run_id=<id>/part-<n>.parquet``, see
traces/layout.py) and the same Store interface. Credentials come from the standard AWS
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_DEFAULT_REGION``/``AWS_REGION``); ``AWS_ENDPOINT_URL`` points at an S3-compatible
server (MinIO, Ceph, moto).

Object stores have no rename, so a run is written to a local temporary folder, then its
table files are uploaded and the `runs` object is uploaded last: it is the commit marker.
Readers list `runs` partitions first and only read tables of runs that have one, so a
run whose writer died mid-upload stays invisible.

Reading: pyarrow's S3 filesystem lists partitions; DuckDB reads the listed objects
through an fsspec filesystem (s3fs) registered on its connection, so it scans Parquet
on S3 directly (only the row groups and columns a query needs) without its httpfs
extension, which would have to be downloaded at run time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from traces.gitinfo import git_info_in_background
from traces.layout import PARTITION_PREFIX
from traces.schema import TABLES, canonical_params
from traces.store import Store, new_run_row
from traces.tableviews import view_sql
from traces.writer import PARQUET_COMPRESSION, RunWriter, file_schema, new_run_id

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
_REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
_DEFAULT_REGION = "us-east-1"
_COPY_CHUNK_BYTES = 8 << 20
_UPLOAD_THREADS = 8


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem from the AWS environment (endpoint, region, credentials)."""
    region = next((os.environ[v] for v in _REGION_ENVS if os.environ.get(v)), _DEFAULT_REGION)
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    return pafs.S3FileSystem(endpoint_override=endpoint, region=region)


def split_url(url: str) -> str:
    """``s3://bucket/prefix/`` -> ``bucket/prefix`` (the path pyarrow's filesystem takes).

    Raises ValueError for a URL without a bucket.
    """
    path = url.split("://", 1)[1].strip("/")
    if not path:
        raise ValueError(f"object store URL {url!r} names no bucket (expected s3://BUCKET/PREFIX)")
    return path


class ObjectRunWriter(RunWriter):
    """A RunWriter that streams into a local temporary folder and uploads on finish,
    the `runs` object last (the commit marker)."""

    def __init__(
        self,
        store: ObjectStore,
        run_id: str,
        tmp_dir: Path,
        run_row: dict[str, Any],
        provenance: Callable[[], dict[str, Any]] | None = None,
    ):
        super().__init__(Path(tmp_dir), run_id, tmp_dir, run_row, provenance=provenance)
        self.store = store

    def _publish(self, run_row: dict[str, Any]) -> None:
        try:
            uploads = [
                (path, self.store.object_path(table, self.run_id, path.name))
                for table in self._buffers
                if (self.tmp_dir / table).is_dir()
                for path in sorted((self.tmp_dir / table).glob("*.parquet"))
            ]
            # Table objects go up in parallel (one PUT each, latency-bound); every one
            # must be done before the commit marker.
            with ThreadPoolExecutor(max_workers=_UPLOAD_THREADS) as pool:
                list(pool.map(lambda job: self.store.upload(*job), uploads))
            runs_file = self.tmp_dir / "runs-part-0.parquet"
            row = pa.Table.from_pylist([run_row], schema=file_schema("runs"))  # run_id: path
            pq.write_table(row, runs_file, compression=PARQUET_COMPRESSION)
            self._commit(runs_file)
        finally:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _commit(self, runs_file: Path) -> None:
        """Upload the runs row: from here on the run is visible to readers."""
        self.store.upload(runs_file, self.store.object_path("runs", self.run_id, "part-0.parquet"))


class ObjectStore(Store):
    """The run store at ``s3://bucket/prefix`` (Store interface; ``root`` is the URL)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.root = self.url  # type: ignore[assignment]  # messages name the URL
        self.base = split_url(self.url)
        self._fs: pafs.S3FileSystem | None = None

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    @property
    def fs(self) -> pafs.S3FileSystem:
        if self._fs is None:
            self._fs = s3_filesystem()
        return self._fs

    def object_path(self, table: str, run_id: str, name: str) -> str:
        """Filesystem path of one published file."""
        return f"{self.base}/{table}/{PARTITION_PREFIX}{run_id}/{name}"

    def upload(self, local: Path, path: str) -> None:
        """Copy a local file to ``path`` in the bucket (one PUT)."""
        with open(local, "rb") as src, self.fs.open_output_stream(path) as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)

    def new_run(
        self,
        *,
        workload: str,
        params: dict[str, Any],
        topology: str,
        topology_json: str,
        topology_hash: str,
        verify_data: bool,
        source_dir: Path | None,
        sim_version: str,
        overrides: dict[str, Any] | None = None,
        sweep_id: str | None = None,
        writer_process: bool = False,
    ) -> RunWriter:
        """Start writing a run (see Store.new_run); it is uploaded when it finishes.
        This process writes it (``writer_process`` is for local stores only)."""
        params_json = canonical_params(params)
        run_id = new_run_id()  # time + random suffix: unique without a shared folder
        tmp_dir = Path(tempfile.mkdtemp(prefix=f"kernbench-{run_id}-"))
        run_row = new_run_row(
            workload=workload,
            params_json=params_json,
            topology=topology,
            topology_json=topology_json,
            topology_hash=topology_hash,
            verify_data=verify_data,
            sim_version=sim_version,
            overrides=overrides,
            sweep_id=sweep_id,
        )
        provenance = git_info_in_background(source_dir)
        return ObjectRunWriter(self, run_id, tmp_dir, run_row, provenance)

    def remove_abandoned_runs(self) -> list[str]:
        """Nothing to do: unpublished runs live in their writer's local temporary folder."""
        return []

    def table_files(self, table: str) -> dict[str, list[str]]:
        """Parquet objects of one table by run id (published partitions only, sorted)."""
        return self._listing(f"{self.base}/{table}").get(table, {})

    def _listing(self, under: str) -> dict[str, dict[str, list[str]]]:
        """Parquet objects below ``under`` as {table: {run id: sorted paths}}: one
        recursive LIST (paginated by the server) instead of one per table."""
        selector = pafs.FileSelector(under, recursive=True, allow_not_found=True)
        found: dict[str, dict[str, list[str]]] = {}
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
                continue
            parts = info.path[len(self.base) + 1 :].split("/")
            if len(parts) != 3 or not parts[1].startswith(PARTITION_PREFIX):
                continue
            run_id = parts[1][len(PARTITION_PREFIX) :]
            if run_id:
                found.setdefault(parts[0], {}).setdefault(run_id, []).append(info.path)
        return {
            table: {run_id: sorted(paths) for run_id, paths in sorted(runs.items())}
            for table, runs in found.items()
        }

    def run_ids(self) -> list[str]:
        """Ids of complete runs (their runs object exists), oldest first."""
        return list(self.table_files("runs"))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table over the objects of complete runs.

        A snapshot of the objects listed now. DuckDB reads ``s3://`` paths through an
        fsspec filesystem (s3fs) registered on the connection, so cursors see it too.
        """
        import s3fs

        con = duckdb.connect()
        con.register_filesystem(s3fs.S3FileSystem())
        # Runs first: a runs object is uploaded after its tables, so every run listed
        # here has all its table objects in the listing that follows.
        complete = set(self.run_ids())
        listing = self._listing(self.base)
        for table in TABLES:
            paths = [
                f"s3://{path}"
                for run_id, run_paths in listing.get(table, {}).items()
                if run_id in complete
                for path in run_paths
            ]
            files_sql = "[" + ", ".join(_sql_string(p) for p in paths) + "]" if paths else None
            con.execute(view_sql(table, files_sql, complete_only=False, allow_empty=False))
        return con


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
