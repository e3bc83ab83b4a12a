"""The writer of a run on an object store: it streams the run into a local temporary
folder, then uploads its table files and, last, its `runs` object (the commit marker).
Apart from the store (traces/objstore.py) so that only the process that writes the run
loads pyarrow: the trace writer process, or the simulating process when it writes its
own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from traces.writer import PARQUET_COMPRESSION, RunWriter, file_schema

if TYPE_CHECKING:
    from traces.s3 import S3Prefix

_UPLOAD_THREADS = 8


class ObjectRunWriter(RunWriter):
    """A RunWriter that streams into a local temporary folder and uploads on finish to
    ``prefix`` (an ObjectStore, or the bare prefix in the writer process), the `runs`
    object last (the commit marker)."""

    def __init__(
        self,
        prefix: S3Prefix,
        run_id: str,
        tmp_dir: Path,
        run_row: dict[str, Any],
        provenance: Callable[[], dict[str, Any]] | None = None,
    ):
        super().__init__(Path(tmp_dir), run_id, tmp_dir, run_row, provenance=provenance)
        self.prefix = prefix

    def _publish(self, run_row: dict[str, Any]) -> None:
        try:
            uploads = [
                (path, self.prefix.object_path(table, self.run_id, path.name))
                for table in self._buffers
                if (self.tmp_dir / table).is_dir()
                for path in sorted((self.tmp_dir / table).glob("*.parquet"))
            ]
            # Table objects go up in parallel (one PUT each, latency-bound); every one
            # must be done before the commit marker.
            with ThreadPoolExecutor(max_workers=_UPLOAD_THREADS) as pool:
                list(pool.map(lambda job: self.prefix.upload(*job), uploads))
            runs_file = self.tmp_dir / "runs-part-0.parquet"
            row = pa.Table.from_pylist([run_row], schema=file_schema("runs"))  # run_id: path
            pq.write_table(row, runs_file, compression=PARQUET_COMPRESSION)
            self._commit(runs_file)
        finally:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _commit(self, runs_file: Path) -> None:
        """Upload the runs row: from here on the run is visible to readers."""
        target = self.prefix.object_path("runs", self.run_id, "part-0.parquet")
        self.prefix.upload(runs_file, target)
