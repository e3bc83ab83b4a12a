"""A run store on S3-compatible object storage: ``s3://bucket/prefix``.

Same layout as a local store (``<prefix>/<table>/run_id=<id>/part-<n>.parquet``, see
traces/layout.py) and the same Store interface. Credentials come from the standard AWS
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_DEFAULT_REGION``/``AWS_REGION``); ``AWS_ENDPOINT_URL`` points at an S3-compatible
server (MinIO, Ceph, moto).

Object stores have no rename, so a run is written to a local temporary folder, then its
table files are uploaded and the `runs` object is uploaded last: it is the commit marker
(traces/objwriter.py). A simulation's run is written and uploaded by its trace writer
process (traces/writer_process.py), which gets the AWS variables with the run.
Readers list `runs` partitions first and only read tables of runs that have one, so a
run whose writer died mid-upload stays invisible.

Reading: pyarrow's S3 filesystem lists partitions; DuckDB reads the listed objects
through an fsspec filesystem (s3fs) registered on its connection, so it scans Parquet
on S3 directly (only the row groups and columns a query needs) without its httpfs
extension, which would have to be downloaded at run time.
"""

from __future__ import annotations

import glob
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traces.columns import TABLE_COLUMNS
from traces.layout import PARTITION_PREFIX
from traces.s3 import S3Prefix, aws_environment
from traces.store import Store, claim_run_folder, remove_abandoned_folders

if TYPE_CHECKING:  # pyarrow and DuckDB load where they are used: a simulating process
    import duckdb  # whose writer process writes its run needs neither

    from traces.writer import RunWriter


def object_runs_tmp_root() -> Path:
    """The local folder of this host where runs bound for object stores are written
    before their upload: ``kernbench-object-runs`` in the system's temporary folder
    (``TMPDIR``)."""
    return Path(tempfile.gettempdir()) / "kernbench-object-runs"


class ObjectStore(S3Prefix, Store):
    """The run store at ``s3://bucket/prefix`` (Store interface; ``root`` is the URL)."""

    def __init__(self, url: str, environ: Mapping[str, str] | None = None):
        """``environ``: the AWS variables to reach it with (see traces.s3.s3_filesystem); None:
        this process's environment when the store is first used."""
        super().__init__(url, environ)
        self.root = self.url  # type: ignore[assignment]  # messages name the URL

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    # A run is written into a local temporary folder (by the writer process, or by this
    # process if that cannot start: Store.new_run) and uploaded when it finishes.
    def _new_run_folder(self) -> tuple[str, Path]:
        # Owned by this process, as a local store's are, so that a writer killed before
        # it uploaded leaves nothing behind once a later run on this host sees it gone.
        local_root = object_runs_tmp_root()
        remove_abandoned_folders(local_root)
        local_root.mkdir(parents=True, exist_ok=True)
        # The id is time + a random suffix: unique without asking the bucket.
        return claim_run_folder(local_root, lambda run_id: False)

    def _writer_environ(self) -> dict[str, str]:
        # The writer process may predate this process's AWS variables: they go with the run.
        return aws_environment()

    def _run_writer(self, run_id: str, tmp_dir: Path, run_row: dict[str, Any],
                    provenance: Callable[[], dict[str, Any]]) -> RunWriter:  # fmt: skip
        from traces.objwriter import ObjectRunWriter

        return ObjectRunWriter(self, run_id, tmp_dir, run_row, provenance)

    def remove_abandoned_runs(self) -> list[str]:
        """Delete the local copies of runs (of any object store) whose writer died on this
        host before it uploaded them; returns their run ids. Nothing of a dead writer is
        visible in the bucket: the runs object, the commit marker, goes up last."""
        return remove_abandoned_folders(object_runs_tmp_root())

    def table_files(self, table: str) -> dict[str, list[str]]:
        """Parquet objects of one table by run id (published partitions only, sorted)."""
        return self._listing(f"{self.base}/{table}").get(table, {})

    def _listing(self, under: str) -> dict[str, dict[str, list[str]]]:
        """Parquet objects below ``under`` as {table: {run id: sorted paths}}: one
        recursive LIST (paginated by the server) instead of one per table."""
        import pyarrow.fs as pafs

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
        import duckdb
        import s3fs

        from traces.tableviews import view_sql

        con = duckdb.connect()
        con.register_filesystem(s3fs.S3FileSystem())
        # Runs first: a runs object is uploaded after its tables, so every run listed
        # here has all its table objects in the listing that follows.
        complete = set(self.run_ids())
        listing = self._listing(self.base)
        for table in TABLE_COLUMNS:
            # DuckDB globs each path: a prefix's own ``[``, ``*`` or ``?`` must match as is.
            paths = [
                f"s3://{glob.escape(path)}"
                for run_id, run_paths in listing.get(table, {}).items()
                if run_id in complete
                for path in run_paths
            ]
            files_sql = "[" + ", ".join(_sql_string(p) for p in paths) + "]" if paths else None
            con.execute(view_sql(table, files_sql, complete_only=False, allow_empty=False))
        return con


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
