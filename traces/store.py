"""A run store: a folder of Hive-partitioned Parquet tables, one partition per run.

See traces/layout.py for the folder layout and traces/writer.py for how a run's
files appear atomically.
"""

import difflib
import json
import os
import re
import shutil
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traces.gitinfo import git_info_in_background
from traces.layout import (
    DEFAULT_STORE,
    STORE_ENV,
    TMP_DIR,
    complete_run_ids,
    is_object_url,
    partition_dir,
    resolve_store,
)
from traces.runrow import SCHEMA_VERSION, canonical_params, new_run_id

if TYPE_CHECKING:  # DuckDB loads when a store is read, not to write a run
    import duckdb

    # pyarrow (schema, writer) loads when a run is written, not to read one.
    from traces.writer import RunWriter

__all__ = [
    "DEFAULT_STORE",
    "RunNotFoundError",
    "Store",
    "StoreError",
    "resolve_store",
    "store_location",
]

_ID_ATTEMPTS = 100
OWNER_FILE = "owner.json"  # in a run's temporary folder: the writing host and pid


class RunNotFoundError(LookupError):
    """A run reference (id, prefix, `latest` or `latest~N`) names no run, or several."""


class StoreError(ValueError):
    """The store path cannot be used: it is a file, or cannot be created or written."""


_LATEST = re.compile(r"^latest(?:~(\d+))?$")


class Store:
    """The run store at `root` (created on the first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

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
    ) -> "RunWriter":
        """Start writing a run; returns its writer (see RunWriter for its lifecycle).

        Git facts come from `source_dir` (see git_info). `overrides` are the topology
        overrides (dotted key -> value) and `sweep_id` the sweep the run belongs to.
        With `writer_process`, a child process converts, encodes and writes the rows
        (traces/writer_process.py: a simulation's default), else this process does; if
        that child cannot start, this process does.
        Raises ValueError for params that JSON cannot hold, OSError if the store folder
        cannot be written.
        """
        params_json = canonical_params(params)
        run_id, tmp_dir = self._new_run_folder()
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
        if writer_process:
            from traces.writer_process import ProcessRunWriter, WriterProcessError

            try:
                return ProcessRunWriter(self.root, run_id, tmp_dir, run_row, source_dir,
                                        store_environ=self._writer_environ())  # fmt: skip
            except WriterProcessError:
                pass  # this process writes the run itself
        return self._run_writer(run_id, tmp_dir, run_row, git_info_in_background(source_dir))

    def _new_run_folder(self) -> tuple[str, Path]:
        """A new run's id and the temporary folder it is written into, in the store (the
        rename that publishes it stays on one file system), owned by this process."""
        self.check_usable()
        self.remove_abandoned_runs()
        tmp_root = self.root / TMP_DIR
        try:
            tmp_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create run store {self.root}: {exc.strerror or exc}"
            ) from None
        if not os.access(tmp_root, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write to run store {self.root}: permission denied")
        return claim_run_folder(
            tmp_root, lambda run_id: partition_dir(self.root, "runs", run_id).exists()
        )

    def _writer_environ(self) -> dict[str, str] | None:
        """What the writer process needs of this process's environment to write a run
        here (see ProcessRunWriter): nothing for a folder."""
        return None

    def _run_writer(self, run_id: str, tmp_dir: Path, run_row: dict[str, Any],
                    provenance: Callable[[], dict[str, Any]]) -> "RunWriter":  # fmt: skip
        """The writer of a run this process writes itself."""
        from traces.writer import RunWriter

        return RunWriter(self.root, run_id, tmp_dir, run_row, provenance=provenance)

    def remove_abandoned_runs(self) -> list[str]:
        """Delete half-written runs whose writer died (a killed process on this host).

        Views already ignore them; this only frees their disk space. Runs written by a
        live process or on another host are left alone. Returns the removed run ids.
        """
        return remove_abandoned_folders(self.root / TMP_DIR)

    def check_usable(self) -> None:
        """Raise StoreError if the store path exists but is not a folder (or an
        ancestor is a file), so no command reads it as an empty store by mistake.
        Object stores (an s3:// root) have no such check."""
        if not isinstance(self.root, Path):
            return
        for path in (self.root, *self.root.parents):
            if path.exists():
                if not path.is_dir():
                    what = "the store" if path == self.root else f"{path} (in the store path)"
                    raise StoreError(f"run store {self.root} is not usable: {what} is a file")
                return

    def run_ids(self) -> list[str]:
        """Ids of complete runs (ok or failed), oldest first."""
        return complete_run_ids(self.root)

    def resolve_run(self, ref: str) -> str:
        """The run id for a full id, a unique prefix, `latest` or `latest~N` (the Nth
        run before the latest, as git's `HEAD~N`).

        Raises RunNotFoundError saying the store is empty, listing close matches,
        or naming the candidates of an ambiguous prefix.
        """
        self.check_usable()
        ids = self.run_ids()
        if not ids:
            raise RunNotFoundError(f"no runs in store {self.root}")
        latest = _LATEST.match(ref)
        if latest:
            back = int(latest.group(1) or 0)
            if back >= len(ids):
                raise RunNotFoundError(
                    f"no run {ref!r} in store {self.root}: it holds {len(ids)} runs "
                    f"(latest~{len(ids) - 1} is the oldest)"
                )
            return ids[-1 - back]
        if ref in ids:
            return ref
        matches = [run_id for run_id in ids if run_id.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise RunNotFoundError(
                f"run {ref!r} is ambiguous in store {self.root}: "
                f"{len(matches)} runs match ({shown})"
            )
        close = difflib.get_close_matches(ref, ids, n=3, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else f"; latest is {ids[-1]}"
        raise RunNotFoundError(f"no run {ref!r} in store {self.root}{hint}")

    def connect(self) -> "duckdb.DuckDBPyConnection":
        """A DuckDB connection with one view per table (a snapshot; see connect_views)."""
        from traces.tableviews import connect_views

        return connect_views(self.root)


def new_run_row(
    *,
    workload: str,
    params_json: str,
    topology: str,
    topology_json: str,
    topology_hash: str,
    verify_data: bool,
    sim_version: str,
    overrides: dict[str, Any] | None,
    sweep_id: str | None,
) -> dict[str, Any]:
    """The runs-row columns known when a run starts; the git facts (see
    git_info_in_background) and the outcome come at finish."""
    return {
        "created_at": datetime.now(UTC),
        "workload": workload,
        "params": params_json,
        "topology": topology,
        "topology_json": topology_json,
        "topology_hash": topology_hash,
        "sim_version": sim_version,
        "schema_version": SCHEMA_VERSION,
        "verify_data": verify_data,
        "host": socket.gethostname(),
        "overrides": canonical_params(overrides or {}),
        "sweep_id": sweep_id,
    }


def store_spec(path: str | Path | None = None) -> str:
    """The store as given: `path`, else $KERNBENCH_STORE, else the default folder."""
    if path is not None and str(path) != "":
        return str(path)
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


def store_location(path: str | Path | None = None) -> str:
    """Where a store lives, as text another process can open (see store_spec): an
    object-store URL as is, a local folder made absolute."""
    spec = store_spec(path)
    if is_object_url(spec):
        return spec.rstrip("/")
    return str(Path(spec).resolve())


def claim_run_folder(tmp_root: Path, taken: Callable[[str], bool]) -> tuple[str, Path]:
    """A new run id and its temporary folder ``tmp_root/<id>`` (which must exist), made
    exclusively and owned by this process: its owner file names this host and process,
    so that a later writer can remove the folder if this process dies
    (:func:`remove_abandoned_folders`). ``taken(run_id)``: whether the id is already
    published."""
    for _ in range(_ID_ATTEMPTS):
        run_id = new_run_id()
        if taken(run_id):
            continue
        try:
            (tmp_root / run_id).mkdir()  # exclusive: a concurrent writer got another id
        except FileExistsError:
            continue
        owner = {"host": socket.gethostname(), "pid": os.getpid()}
        (tmp_root / run_id / OWNER_FILE).write_text(json.dumps(owner))
        return run_id, tmp_root / run_id
    raise RuntimeError(f"could not allocate a run id in {tmp_root}")


def remove_abandoned_folders(tmp_root: Path) -> list[str]:
    """Delete the run folders in ``tmp_root`` whose owner (:func:`claim_run_folder`) was
    a process of this host that is gone; returns their run ids. Folders of a live
    process, of another host or without an owner file are left alone."""
    removed = []
    for folder in sorted(tmp_root.iterdir()) if tmp_root.is_dir() else []:
        try:
            owner = json.loads((folder / OWNER_FILE).read_text())
            host, pid = owner["host"], int(owner["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge (an old layout, or still being created)
        if host == socket.gethostname() and not _process_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
