"""The critical path of a run, and the difference of two runs' paths.

The path starts at the end of the run (``runs.sim_end_ns``, the latency) and walks back
through the items that set it, each reached from its successor by the dependency that
released it (``deps``):

- host level: the launch or host copy that ended last before the current time (the host
  is sequential: what ended last is what it waited for); before the first, host time;
- a launch: its op that ended last; from its first op back, the launch path (host issue
  to the program start barrier) through the launch messages that set it (``forward``
  deps rows: host -> IO_CPU -> M_CPU -> PE_CPU of the PE dispatched last, each message
  and each CPU's queue and service as its own segment);
- an op: its own run time, then the item its ``deps`` row names (the previous op of its
  engine lane, the producer of an input, an IPCQ send, the op that freed TCM, the launch
  barrier). A dependency without an item falls back to the latest op of the same PE
  that ended before it.

Each step moves the time boundary back from ``t`` to the item's start and charges
``[item end, t]`` to the wait that released the successor and ``[item start, item end]``
to the item's component, so the segments tile ``[0, latency]`` and the components sum
to the latency (up to float rounding). Components: ``GEMM``, ``MATH``, DMA ops (loads,
stores, sends) by the kind of resource that bound their last-ending transfer, its
route's narrowest link or memory (``DMA hbm``, ``DMA mesh_link``, ``DMA pe_link``: the
topology parameter to change; the segment's ``resource`` names the link or memory
itself), ``launch path``, ``collective wait`` (IPCQ messages and slots), ``TCM wait``,
``host copy <kind>`` (host copies, named the same way), ``host``. The narrowest
resource is what bounds a transfer streaming alone; one that shared bandwidth may have
been held back by a wider, busier resource instead (many host-copy pieces sharing the
host link), which the trace does not record yet. Runs traced before
``deps.resource_kind`` (schema < 8) name DMA by what moved instead (``DMA_IN HBM->TCM
via pe``: engine, memory spaces, highest link level crossed).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

# DuckDB and the store's views are imported where used: a local store's run is read
# straight from its files (see _RunTables).

if TYPE_CHECKING:
    from traces.views import Source

LAUNCH_PATH = "launch path"
HOST = "host"
# Components of the time between an item's end and the start of the item it released,
# by the cause of the dependency (traces.schema.DEPS).
_GAP_COMPONENT = {
    "ipcq": "collective wait",
    "slot": "collective wait",
    "tcm": "TCM wait",
    "barrier": LAUNCH_PATH,
    "launch": LAUNCH_PATH,
    HOST: HOST,
}
# Components of DMA ops before critical_path() adds what they moved.
_DMA_LABELS = frozenset({"DMA_IN", "DMA_WB", "send", "recv"})


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of the path: ``[start_ns, end_ns]`` charged to ``component``.

    ``item`` is ``op``, ``dma``, ``launch`` or ``wait`` (time between items), ``item_id``
    its id (op_id, dma_id, launch_id; the released item for a wait), ``where`` the PE
    (``sip0.cube1.pe3``) or ``host``, ``what`` a short description, ``resource`` the
    link or memory that bound a DMA op's transfer (``sip0.cube0.noc->sip0.cube1.noc``;
    empty for other segments).
    """

    start_ns: float
    end_ns: float
    component: str
    item: str
    item_id: int
    where: str
    what: str
    resource: str = ""

    @property
    def duration_ns(self) -> float:
        return self.end_ns - self.start_ns

    def signature(self) -> tuple[str, str, str, str]:
        """What the segment is, without its times (paths are compared by this)."""
        return (self.component, self.item, self.where, self.what)


@dataclasses.dataclass(frozen=True)
class CriticalPath:
    """A run's critical path: segments in time order tiling ``[0, latency_ns]``."""

    run_id: str
    latency_ns: float
    segments: list[Segment]

    def within(self, start_ns: float, end_ns: float) -> CriticalPath:
        """The part of the path inside ``[start_ns, end_ns]``, shifted to start at 0: a
        path of latency ``end_ns - start_ns`` whose segments still tile it (a segment
        across a boundary is cut there). The host is sequential, so the path through the
        item that ended last before ``end_ns`` is this one cut at ``end_ns``."""
        if not 0.0 <= start_ns <= end_ns <= self.latency_ns:
            raise ValueError(
                f"window [{start_ns}, {end_ns}] ns is not inside the path's "
                f"[0, {self.latency_ns}] ns"
            )
        segments = [
            dataclasses.replace(
                seg,
                start_ns=max(seg.start_ns, start_ns) - start_ns,
                end_ns=min(seg.end_ns, end_ns) - start_ns,
            )
            for seg in self.segments
            if seg.end_ns > start_ns and seg.start_ns < end_ns
        ]
        return CriticalPath(self.run_id, end_ns - start_ns, segments)

    def components(self) -> dict[str, float]:
        """ns per component, largest first; the values sum to ``latency_ns``."""
        totals: dict[str, float] = {}
        for seg in self.segments:
            totals[seg.component] = totals.get(seg.component, 0.0) + seg.duration_ns
        return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))

    def longest_stretches(self, limit: int = 5) -> list[dict[str, Any]]:
        """Runs of consecutive segments of one component at one place, longest first:
        component, where (the PE that waited), start_ns, end_ns, duration_ns, items, and
        resource: the link or memory that bound the stretch's transfers longest (a DMA's
        may be another PE's memory; empty for other components)."""
        runs: list[dict[str, Any]] = []
        bound_ns: list[dict[str, float]] = []
        for seg in self.segments:
            if seg.duration_ns <= 0:
                continue
            last = runs[-1] if runs else None
            if last and last["component"] == seg.component and last["where"] == seg.where:
                last["end_ns"] = seg.end_ns
                last["items"] += 1
            else:
                runs.append({"component": seg.component, "where": seg.where, "items": 1,
                             "start_ns": seg.start_ns, "end_ns": seg.end_ns})  # fmt: skip
                bound_ns.append({})
            if seg.resource:
                by = bound_ns[-1]
                by[seg.resource] = by.get(seg.resource, 0.0) + seg.duration_ns
        for run, by in zip(runs, bound_ns, strict=True):
            run["duration_ns"] = run["end_ns"] - run["start_ns"]
            run["resource"] = max(by.items(), key=lambda kv: kv[1])[0] if by else ""
        runs.sort(key=lambda r: (-r["duration_ns"], r["start_ns"]))
        return runs[:limit]


# The tables the walk reads.
_TABLES = ("runs", "launches", "ops", "deps", "dma", "pe_exec")


class _RunTables:
    """One run's tables as SQL relations, for queries with ``{ops}``-style placeholders.

    A local store is read straight from the run's Parquet files (``read_parquet`` of a
    bound file list): no views over the whole store and no footer checks, which is most
    of what ``explain`` would otherwise spend on a large run. A DuckDB connection (views
    assumed), an object store, or a run missing one of the tables (recorded before the
    ``deps`` table) goes through the views, filtered by run id.
    """

    def __init__(self, source: Source, run_id: str) -> None:
        self.run_id = run_id
        self._columns: dict[str, list[str]] = {}
        files = _local_files(source, run_id)
        if files is None:
            from traces.views import open_connection

            self.con = open_connection(source)
            self._from = {t: f"(SELECT * FROM {t} WHERE run_id = $run_id)" for t in _TABLES}
            self._params = {t: {"run_id": run_id} for t in _TABLES}
        else:
            import duckdb

            self.con = duckdb.connect()
            # One thread: each query reads a few MB; threads only add start-up cost and
            # contend with other processes on a loaded machine.
            self.con.execute("SET threads TO 1")
            self._from = {t: f"read_parquet(${t}_files)" for t in _TABLES}
            self._params = {t: {f"{t}_files": files[t]} for t in _TABLES}

    def has_column(self, table: str, column: str) -> bool:
        """Whether this run's ``table`` has ``column`` (older runs lack new columns)."""
        columns = self._columns.get(table)
        if columns is None:
            columns = self._columns[table] = self.sql(
                "SELECT * FROM {" + table + "} LIMIT 0"
            ).columns
        return column in columns

    def sql(self, query: str, **params: Any) -> Any:
        """Run ``query`` with its ``{table}`` placeholders bound to this run's rows."""
        used = [t for t in _TABLES if "{" + t + "}" in query]
        bound = dict(params)
        for table in used:
            bound |= self._params[table]
        return self.con.sql(query.format(**self._from), params=bound)


def _local_files(source: Source, run_id: str) -> dict[str, list[str]] | None:
    """The Parquet files of each table of ``run_id`` when ``source`` is a local store
    (a Store, or a path) holding all of _TABLES for it; else None."""
    from pathlib import Path

    from traces.layout import is_object_url, partition_dir

    if isinstance(source, str | Path):
        if is_object_url(str(source)):
            return None
        root = Path(source)
    else:
        root = getattr(source, "root", None)
        if not isinstance(root, Path) or not callable(getattr(source, "resolve_run", None)):
            return None  # a DuckDB connection, or an object store
    files = {}
    for table in _TABLES:
        parts = sorted(str(p) for p in partition_dir(root, table, run_id).glob("*.parquet"))
        if not parts:
            return None
        files[table] = parts
    return files


class _RunData:
    """The columns of one run the walk needs, as numpy arrays indexed by row.

    Text columns arrive as small integer codes into name lists (``engines``, ``op_names``,
    ``causes``, ``on_items``): fetching 150 k Python strings per column would cost more
    than the rest of the load.
    """

    def __init__(self, tables: _RunTables) -> None:
        def fetch(query: str, **params: Any) -> dict[str, np.ndarray]:
            return tables.sql(query, **params).fetchnumpy()

        runs = fetch("SELECT sim_end_ns FROM {runs}")
        if len(runs["sim_end_ns"]) == 0:
            from traces.store import RunNotFoundError

            raise RunNotFoundError(f"run {tables.run_id!r} is not in the store")
        self.latency_ns = float(runs["sim_end_ns"][0])
        self.launches = fetch(
            "SELECT launch_id, kernel::VARCHAR AS kernel, host_issue_ns, target_start_ns, "
            "end_ns, barrier FROM {launches} ORDER BY launch_id"
        )
        self._load_launch_messages(tables)
        names = tables.sql(
            "SELECT (SELECT coalesce(list(DISTINCT engine::VARCHAR), []) FROM {ops}), "
            "(SELECT coalesce(list(DISTINCT op::VARCHAR), []) FROM {ops}), "
            "(SELECT coalesce(list(DISTINCT cause::VARCHAR), []) FROM {deps} "
            "WHERE item = 'op'), "
            "(SELECT coalesce(list(DISTINCT on_item::VARCHAR), []) FROM {deps} "
            "WHERE item = 'op' AND on_item IS NOT NULL)"
        ).fetchall()[0]
        self.engines, self.op_names, self.causes, self.on_items = (list(n) for n in names)
        # Codes are 1-based positions in the name lists (0: none).
        self.ops = fetch(
            "SELECT op_id, launch_id, sip, cube, pe, pe_global, "
            "list_position($engines, engine::VARCHAR)::INTEGER AS engine, "
            "list_position($op_names, op::VARCHAR)::INTEGER AS op, start_ns, end_ns "
            "FROM {ops}",
            engines=self.engines,
            op_names=self.op_names,
        )
        deps = fetch(
            "SELECT item_id, list_position($causes, cause::VARCHAR)::INTEGER AS cause, "
            "coalesce(list_position($on_items, on_item::VARCHAR), 0)::INTEGER AS on_item, "
            "coalesce(on_id, -1) AS on_id FROM {deps} WHERE item = 'op'",
            causes=self.causes,
            on_items=self.on_items,
        )
        # Host copies with the kind of resource that bound them (schema >= 8).
        kind = "c.resource_kind" if tables.has_column("deps", "resource_kind") else "NULL"
        self.host_dma = fetch(
            "SELECT d.dma_id, d.kind::VARCHAR AS kind, d.src_space::VARCHAR AS src_space, "
            "d.dst_space::VARCHAR AS dst_space, d.level::VARCHAR AS level, d.issue_ns, "
            f"d.end_ns, {kind}::VARCHAR AS resource_kind, c.resource::VARCHAR AS resource "
            "FROM {dma} d LEFT JOIN (SELECT * FROM {deps} WHERE item = 'dma') c "
            "ON c.item_id = d.dma_id WHERE d.launch_id IS NULL"
        )
        ops = self.ops
        n_ops = len(ops["op_id"])
        size = int(ops["op_id"].max()) + 1 if n_ops else 0
        self.op_row = np.full(size, -1, dtype=np.int64)
        self.op_row[ops["op_id"]] = np.arange(n_ops)
        # Each op's releasing dependency, by row (cause 0: none recorded).
        self.cause = np.zeros(n_ops, dtype=np.int64)
        self.on_item = np.zeros(n_ops, dtype=np.int64)
        self.on_id = np.full(n_ops, -1, dtype=np.int64)
        item = deps["item_id"]
        inside = (item >= 0) & (item < size)
        rows = self.op_row[item[inside]]
        found = rows >= 0
        for column, target in (("cause", self.cause), ("on_item", self.on_item),
                               ("on_id", self.on_id)):  # fmt: skip
            target[rows[found]] = deps[column][inside][found]
        self.launch_row = {int(lid): i for i, lid in enumerate(self.launches["launch_id"])}
        # Ops sorted by end within each launch and within each PE, for "the op of this
        # launch / PE that ended last before t".
        self._by_launch = _grouped_by_end(ops["launch_id"], ops["end_ns"])
        self._by_pe = _grouped_by_end(ops["pe_global"], ops["end_ns"])
        # Host-level items (launches and host copies) sorted by end.
        kinds = np.concatenate([np.full(len(self.launches["launch_id"]), 2),
                                np.full(len(self.host_dma["dma_id"]), 1)])  # fmt: skip
        rows = np.concatenate([np.arange(len(self.launches["launch_id"])),
                               np.arange(len(self.host_dma["dma_id"]))])  # fmt: skip
        ends = np.concatenate([self.launches["end_ns"].astype(float),
                               self.host_dma["end_ns"].astype(float)])  # fmt: skip
        order = np.lexsort((kinds, ends))  # equal ends: the launch is the later item
        self.host_kind, self.host_rows, self.host_ends = kinds[order], rows[order], ends[order]

    def _load_launch_messages(self, tables: _RunTables) -> None:
        """Each launch's messages (dma kind launch_msg) with what each forwards (deps
        cause ``forward``, schema >= 8), and when each PE was dispatched."""
        # One pass over deps, for the few rows of launch messages.
        messages = tables.sql(
            "WITH m AS (SELECT dma_id, launch_id, src::VARCHAR AS src, dst::VARCHAR AS dst, "
            "dst_sip, dst_cube, dst_pe, issue_ns, end_ns FROM {dma} "
            "WHERE kind = 'launch_msg'), "
            "f AS (SELECT item_id, "
            "any_value(on_item::VARCHAR) FILTER (WHERE cause = 'forward') AS on_item, "
            "any_value(on_id) FILTER (WHERE cause = 'forward') AS on_id, "
            "any_value(resource::VARCHAR) FILTER (WHERE cause <> 'forward') AS resource "
            "FROM {deps} WHERE item = 'dma' AND item_id IN (SELECT dma_id FROM m) "
            "GROUP BY item_id) "
            "SELECT m.*, f.on_item, f.on_id, f.resource FROM m "
            "LEFT JOIN f ON f.item_id = m.dma_id"
        ).fetchall()
        self.messages = {row[0]: row for row in messages}
        # (launch_id, destination node) -> dma_id of the message that reached it.
        self.message_to = {(row[1], row[3]): row[0] for row in messages}
        dispatch = tables.sql(
            "SELECT launch_id, sip, cube, pe, dispatch_ns FROM {pe_exec} "
            "WHERE dispatch_ns IS NOT NULL"
        ).fetchall()
        # launch_id -> [(dispatch_ns, sip, cube, pe)], and each PE's dispatch.
        self.dispatches: dict[int, list[tuple[float, int, int, int]]] = {}
        for launch_id, sip, cube, pe, dispatch_ns in dispatch:
            self.dispatches.setdefault(launch_id, []).append((dispatch_ns, sip, cube, pe))

    def engine(self, row: int) -> str:
        """The engine of the op at ``row``."""
        return self.engines[self.ops["engine"][row] - 1]

    def op_name(self, row: int) -> str:
        """The op name of the op at ``row``."""
        return self.op_names[self.ops["op"][row] - 1]

    def dependency(self, row: int) -> tuple[str | None, str | None, int]:
        """(cause, on_item, on_id) of the dependency that released the op at ``row``;
        (None, None, -1) when none was recorded."""
        cause, on_item = int(self.cause[row]), int(self.on_item[row])
        return (self.causes[cause - 1] if cause else None,
                self.on_items[on_item - 1] if on_item else None,
                int(self.on_id[row]))  # fmt: skip

    def last_op_before(self, group: str, key: int, t_ns: float) -> int:
        """Row of the op of launch/PE ``key`` that ended last at or before ``t_ns``; -1."""
        index = self._by_launch if group == "launch" else self._by_pe
        found = index.get(int(key))
        if found is None:
            return -1
        rows, ends = found
        i = int(np.searchsorted(ends, t_ns, side="right")) - 1
        return int(rows[i]) if i >= 0 else -1

    def last_host_item_before(self, t_ns: float) -> tuple[int, int]:
        """(kind, row) of the host-level item that ended last at or before ``t_ns``
        (kind 2: launch, 1: host copy); (0, -1) if none."""
        i = int(np.searchsorted(self.host_ends, t_ns, side="right")) - 1
        if i < 0:
            return 0, -1
        return int(self.host_kind[i]), int(self.host_rows[i])


def _grouped_by_end(keys: np.ndarray, ends: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """key -> (rows sorted by end, their ends)."""
    if len(keys) == 0:
        return {}
    order = np.lexsort((ends, keys))
    sorted_keys = keys[order]
    bounds = np.flatnonzero(np.diff(sorted_keys)) + 1
    groups = {}
    for rows in np.split(order, bounds):
        groups[int(keys[rows[0]])] = (rows, ends[rows].astype(float))
    return groups


class NoDepsError(ValueError):
    """A run with ops but no ``deps`` rows (traced before schema version 6): its path
    cannot be followed."""


def critical_path(store: Source, run_id: str) -> CriticalPath:
    """The critical path of run ``run_id`` (see the module docstring).

    ``store``: a Store, a store path or URL, or a DuckDB connection with the views.
    Raises RunNotFoundError for a run that is not in the store and NoDepsError for a run
    whose ops have no ``deps`` rows.
    """
    tables = _RunTables(store, run_id)
    data = _RunData(tables)
    if len(data.ops["op_id"]) and not data.causes:
        raise NoDepsError(
            f"run {run_id} has no deps rows (recorded before schema version 6): "
            "re-run it to explain it"
        )
    segments = _walk(data)
    dma_ops = {s.item_id for s in segments if s.item == "op" and s.component in _DMA_LABELS}
    if dma_ops:
        segments = _name_dma_ops(tables, segments, sorted(dma_ops))
    return CriticalPath(run_id, data.latency_ns, segments)


def _name_dma_ops(tables: _RunTables, segments: list[Segment], op_ids: list[int]) -> list[Segment]:
    """Segments of DMA ops named by what bound their last-ending transfer: component
    ``DMA <kind>`` (the kind of its route's narrowest link or memory: ``DMA hbm``,
    ``DMA mesh_link``, ...), ``resource`` that link or memory, and ``what`` saying what
    moved. Runs traced before deps.resource_kind (schema < 8) keep the older name, by
    engine and what moved (``DMA_IN HBM->TCM via pe``). Asked for only the ops given,
    as the path holds few of a run's ops."""
    has_kind = tables.has_column("deps", "resource_kind")
    kind = "c.resource_kind::VARCHAR" if has_kind else "NULL::VARCHAR"
    bound = dict(
        tables.sql(
            "SELECT c.on_id, arg_max(struct_pack(moved := coalesce(d.src_space, d.src) || "
            "'->' || coalesce(d.dst_space, d.dst) || ' via ' || d.level, "
            f"kind := {kind}, resource := c.resource::VARCHAR), d.end_ns) "
            "FROM {deps} c JOIN {dma} d ON d.dma_id = c.item_id "
            "WHERE c.item = 'dma' AND c.on_item = 'op' "
            "AND list_contains($path_ops, c.on_id) GROUP BY c.on_id",
            path_ops=op_ids,
        ).fetchall()
    )
    named = []
    for seg in segments:
        found = bound.get(seg.item_id) if seg.item == "op" else None
        if found is None or seg.component not in _DMA_LABELS:
            named.append(seg)
            continue
        resource = found["resource"] or ""
        what = f"{seg.what}: {found['moved']}" + (f", bound by {resource}" if resource else "")
        component = f"DMA {found['kind']}" if found["kind"] else f"{seg.component} {found['moved']}"
        named.append(dataclasses.replace(seg, component=component, what=what, resource=resource))
    return named


def kernel_window(
    store: Source, run_id: str, launch_id: int | None = None
) -> tuple[float, float] | None:
    """(start_ns, end_ns) of a run's kernels: from the first launch's host issue to the
    last launch's end, leaving out host copies before and after (with ``launch_id``, that
    launch's own); None without launches (or that launch)."""
    tables = _RunTables(store, run_id)
    where = "" if launch_id is None else f" WHERE launch_id = {int(launch_id)}"
    row = tables.sql(f"SELECT min(host_issue_ns), max(end_ns) FROM {{launches}}{where}").fetchall()[
        0
    ]
    return None if row[0] is None else (float(row[0]), float(row[1]))


def _op_where(data: _RunData, row: int) -> str:
    ops = data.ops
    return f"sip{ops['sip'][row]}.cube{ops['cube'][row]}.pe{ops['pe'][row]}"


def _op_pe(data: _RunData, row: int) -> tuple[int, int, int]:
    ops = data.ops
    return int(ops["sip"][row]), int(ops["cube"][row]), int(ops["pe"][row])


def _launch_path(
    data: _RunData, lrow: int, issue: float, target: float, pe: tuple[int, int, int] | None
) -> list[tuple]:
    """Segments (charge() arguments) tiling ``[issue, target]`` of launch row ``lrow``,
    all ``launch path``: the chain of launch messages (host -> IO_CPU -> M_CPU ->
    PE_CPU) that reached the PE that set the start -- with the start barrier (or no
    ``pe``), the PE dispatched last; without, ``pe`` -- each message, the queue and
    service of the CPU that forwarded it, the PE_CPU's dispatch, then the barrier's
    wait. One segment when the run has no ``forward`` deps rows (schema < 8) or the
    chain does not fit."""
    launches = data.launches
    launch_id = int(launches["launch_id"][lrow])
    label = f"launch {launch_id} ({launches['kernel'][lrow]})"
    whole = [(issue, target, LAUNCH_PATH, "launch", launch_id, HOST, label)]
    dispatches = data.dispatches.get(launch_id)
    if not dispatches:
        return whole
    if pe is None or bool(launches["barrier"][lrow]):
        dispatch_ns, *coords = max(d for d in dispatches if d[0] <= target + 1e-9)
    else:
        found = [d for d in dispatches if tuple(d[1:]) == pe]
        if not found:
            return whole
        dispatch_ns, *coords = found[0]
    where = f"sip{coords[0]}.cube{coords[1]}.pe{coords[2]}"
    # A PE_CPU node is named after its PE (graph.pe_cpu: "sip0.cube1.pe3.cpu").
    msg = data.message_to.get((launch_id, f"{where}.cpu"))
    steps: list[tuple] = []
    t = min(dispatch_ns, target)
    steps.append((t, target, LAUNCH_PATH, "wait", launch_id, where,
                  f"{label}: start barrier after the last dispatch"))  # fmt: skip
    while msg is not None:
        dma_id, _, src, dst, *_, issue_ns, end_ns, on_item, on_id, resource = data.messages[msg]
        if not issue <= issue_ns <= end_ns <= t + 1e-9:
            return whole
        at_pe = len(steps) == 1  # the first message back is the PE_CPU's
        after = "dispatch" if at_pe else "queue and service"
        steps.append((end_ns, t, LAUNCH_PATH, "launch", launch_id, where if at_pe else HOST,
                      f"{label}: {dst} {after}"))  # fmt: skip
        steps.append((issue_ns, end_ns, LAUNCH_PATH, "dma", dma_id, HOST,
                      f"{label}: message {src}->{dst}", resource or ""))  # fmt: skip
        t = issue_ns
        if on_item != "dma":
            break
        msg = on_id if on_id in data.messages else None
    else:
        return whole  # the chain broke before reaching the host's first message
    steps.append((issue, t, LAUNCH_PATH, "launch", launch_id, HOST, f"{label}: host issue"))
    return steps


def _op_component(data: _RunData, row: int) -> str:
    engine = data.engine(row)
    if engine in ("GEMM", "MATH"):
        return engine
    name = data.op_name(row)
    return name if name in ("send", "recv") else engine  # critical_path() adds the route


def _walk(data: _RunData) -> list[Segment]:
    """Segments from the end of the run back to 0, returned in time order."""
    segments: list[Segment] = []
    t = data.latency_ns
    ops, launches, host_dma = data.ops, data.launches, data.host_dma
    # The current item: ("host", -1) looks for the host item before t; ("op", row);
    # ("launch", row) enters a launch from its end.
    kind, row = "host", -1
    gap = HOST  # component of the time between the next item's end and t
    released_id, released = -1, "run end"
    guard = 4 * (len(ops["op_id"]) + len(launches["launch_id"]) + len(host_dma["dma_id"])) + 8

    def charge(start: float, end: float, component: str, item: str, item_id: int,
               where: str, what: str, resource: str = "") -> None:  # fmt: skip
        if end > start:
            segments.append(Segment(start, end, component, item, item_id, where, what,
                                    resource))  # fmt: skip

    while guard > 0:
        guard -= 1
        if kind == "host":
            host_kind, hrow = data.last_host_item_before(t)
            if hrow < 0:
                charge(0.0, t, gap, "wait", released_id, HOST, f"before {released}")
                break
            if host_kind == 1:
                end = min(float(host_dma["end_ns"][hrow]), t)
                start = min(float(host_dma["issue_ns"][hrow]), end)
                charge(end, t, gap, "wait", released_id, HOST, f"before {released}")
                dma_id = int(host_dma["dma_id"][hrow])
                moved = (f"{host_dma['src_space'][hrow]}->{host_dma['dst_space'][hrow]} "
                         f"via {host_dma['level'][hrow]}")  # fmt: skip
                what = f"{host_dma['kind'][hrow]} dma {dma_id}: {moved}"
                resource = host_dma["resource"][hrow] or ""
                if resource:
                    what += f", bound by {resource}"
                # Named by the kind of resource that bound it (schema >= 8), else by
                # what it moved.
                name = host_dma["resource_kind"][hrow] or moved
                charge(start, end, f"host copy {name}", "dma", dma_id, HOST, what, resource)
                t, gap, released_id, released = start, HOST, dma_id, what
                continue
            kind, row = "launch", hrow
        if kind == "launch":
            launch_id = int(launches["launch_id"][row])
            what = f"launch {launch_id} ({launches['kernel'][row]})"
            end = min(float(launches["end_ns"][row]), t)
            charge(end, t, gap, "wait", released_id, HOST, f"before {released}")
            t = end
            op_row = data.last_op_before("launch", launch_id, t)
            if op_row >= 0:
                # Program exit and completion back to the host, after the last op.
                op_end = float(ops["end_ns"][op_row])
                charge(op_end, t, LAUNCH_PATH, "launch", launch_id, HOST, what + " end")
                t, kind, row, gap = op_end, "op", op_row, LAUNCH_PATH
                released_id, released = launch_id, what
                continue
            # A launch without ops: its programs ran from the start to their exit.
            target = min(float(launches["target_start_ns"][row]), t)
            charge(target, t, LAUNCH_PATH, "launch", launch_id, HOST, what + " end")
            start = min(float(launches["host_issue_ns"][row]), target)
            for seg in _launch_path(data, row, start, target, None):
                charge(*seg)
            t, kind, gap, released_id, released = start, "host", HOST, launch_id, what
            continue
        # An op: the time after it until what it released, then its own run time.
        op_id = int(ops["op_id"][row])
        where = _op_where(data, row)
        end = min(float(ops["end_ns"][row]), t)
        start = min(float(ops["start_ns"][row]), end)
        charge(end, t, gap, "wait", released_id, where, f"before {released}")
        what = f"{data.engine(row)} {data.op_name(row)} op {op_id}"
        charge(start, end, _op_component(data, row), "op", op_id, where, what)
        t, released_id, released = start, op_id, what
        cause, on, on_id = data.dependency(row)
        if cause is None:  # no dependency recorded: treat as its engine's order
            cause, on = "engine", None
        gap = _GAP_COMPONENT.get(cause, f"wait ({cause})")
        if on == "launch" and on_id in data.launch_row:
            lrow = data.launch_row[on_id]
            target = min(float(launches["target_start_ns"][lrow]), t)
            charge(target, t, LAUNCH_PATH, "wait", op_id, where, f"before {what}")
            issue = min(float(launches["host_issue_ns"][lrow]), target)
            lwhat = f"launch {on_id} ({launches['kernel'][lrow]})"
            for seg in _launch_path(data, lrow, issue, target, _op_pe(data, row)):
                charge(*seg)
            t, kind, gap, released_id, released = issue, "host", HOST, on_id, lwhat
            continue
        next_row = -1
        if on == "op" and 0 <= on_id < len(data.op_row):
            next_row = int(data.op_row[on_id])
            if next_row >= 0 and float(ops["end_ns"][next_row]) > t:
                next_row = -1  # not a releaser that ended in time: fall back
        if next_row < 0:
            next_row = data.last_op_before("pe", int(ops["pe_global"][row]), t)
            if next_row == row:
                next_row = -1
        if next_row < 0:
            # Nothing on this PE before it: back to its launch's start.
            lrow = data.launch_row.get(int(ops["launch_id"][row]))
            if lrow is None:
                kind = "host"
                continue
            target = min(float(launches["target_start_ns"][lrow]), t)
            charge(target, t, gap, "wait", op_id, where, f"before {what}")
            issue = min(float(launches["host_issue_ns"][lrow]), target)
            lwhat = f"launch {launches['launch_id'][lrow]} ({launches['kernel'][lrow]})"
            for seg in _launch_path(data, lrow, issue, target, _op_pe(data, row)):
                charge(*seg)
            t, kind, gap = issue, "host", HOST
            released_id, released = int(launches["launch_id"][lrow]), lwhat
            continue
        kind, row = "op", next_row
    else:
        raise RuntimeError(f"critical path walk did not reach t=0 (stopped at t={t} ns)")
    segments.reverse()
    return segments


def path_diff(a: CriticalPath, b: CriticalPath) -> dict[str, Any]:
    """How path ``b`` differs from path ``a``.

    Returns latency_a, latency_b, delta_ns (b - a), ``contributions`` -- one
    {component, delta_ns, share} per component whose time changed, sorted by
    |delta_ns|, summing to delta_ns (share = delta_ns / total delta, 0 when nothing
    moved) -- and ``diverge``: where the two paths, walked from the start, first differ
    (a different item, or the same item taking a different time), with each side's
    time and item; None when they are the same.
    """
    comp_a, comp_b = a.components(), b.components()
    delta_ns = b.latency_ns - a.latency_ns
    deltas = {c: comp_b.get(c, 0.0) - comp_a.get(c, 0.0) for c in set(comp_a) | set(comp_b)}
    contributions = [
        {"component": c, "delta_ns": d, "share": d / delta_ns if delta_ns else 0.0}
        for c, d in sorted(deltas.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        if d != 0.0
    ]
    return {
        "run_a": a.run_id,
        "run_b": b.run_id,
        "latency_a": a.latency_ns,
        "latency_b": b.latency_ns,
        "delta_ns": delta_ns,
        "contributions": contributions,
        "diverge": _first_divergence(a, b),
    }


def _first_divergence(a: CriticalPath, b: CriticalPath) -> dict[str, Any] | None:
    for i, (sa, sb) in enumerate(zip(a.segments, b.segments, strict=False)):
        same_item = sa.signature() == sb.signature()
        if same_item and np.isclose(sa.duration_ns, sb.duration_ns, rtol=1e-9, atol=1e-6):
            continue
        return {
            "index": i,
            "reason": "same item, different time" if same_item else "different item",
            "a": _segment_json(sa),
            "b": _segment_json(sb),
        }
    if len(a.segments) != len(b.segments):
        i = min(len(a.segments), len(b.segments))
        longer = a if len(a.segments) > len(b.segments) else b
        return {"index": i, "reason": "one path is longer",
                "a": _segment_json(a.segments[i]) if longer is a else None,
                "b": _segment_json(b.segments[i]) if longer is b else None}  # fmt: skip
    return None


def _segment_json(seg: Segment) -> dict[str, Any]:
    return dataclasses.asdict(seg) | {"duration_ns": seg.duration_ns}


def summary_sentence(path: CriticalPath, store: Source | None = None) -> str:
    """One sentence: the largest component's share and where, and how much of the path
    the GEMM engines spend off it ("78% of latency is DMA_IN HBM->TCM via pe on
    sip0.cube0.pe0; GEMM is on the path 12% of it")."""
    comps = path.components()
    if not comps or path.latency_ns <= 0:
        return "the run took no simulated time"
    top, top_ns = next(iter(comps.items()))
    where_ns: dict[str, float] = {}
    resource_ns: dict[str, float] = {}
    for seg in path.segments:
        if seg.component == top:
            where_ns[seg.where] = where_ns.get(seg.where, 0.0) + seg.duration_ns
            if seg.resource:
                resource_ns[seg.resource] = resource_ns.get(seg.resource, 0.0) + seg.duration_ns
    where = max(where_ns.items(), key=lambda kv: kv[1])[0]
    # The PE that waited, and what bound its transfers (another PE's memory, a link).
    bound = max(resource_ns.items(), key=lambda kv: kv[1])[0] if resource_ns else None
    gemm_share = comps.get("GEMM", 0.0) / path.latency_ns
    return (
        f"{100 * top_ns / path.latency_ns:.0f}% of latency is {top}"
        f"{'' if where == HOST else ' on ' + where}"
        f"{', bound by ' + bound if bound else ''}; GEMM is idle "
        f"{100 * (1 - gemm_share):.0f}% of the path"
    )
