"""Export one run as Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) opens.

Layout: one process per PE with a track (thread) per engine, a "launch" track
and a track per DMA kind the PE issued (load and an atomic's response -> the
destination PE; store, an atomic's request, send, copy -> the source PE); a "Host"
process for host transfers; one process per collective with a track per rank; a
"Links" process with one track per link holding a summary slice over the whole run;
flow arrows ("critical path") from each op of the run's critical path to the next (runs
with a ``deps`` table). Events that overlap on one track go to extra tracks
("GEMM #2"), so no two slices of a track overlap. Times are rounded to whole ns, written
in microseconds (`ts`, `dur`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from traces.atomic import atomic_write
from traces.views import open_connection

if TYPE_CHECKING:
    import duckdb

    from traces.views import Source

ENGINES = ("DMA_IN", "GEMM", "MATH", "DMA_WB")
_HOST_PID = 1
_LINKS_PID = 2
_PE_PID_BASE = 1000
_COLL_PID_BASE = 1_000_000
_FETCH_ROWS = 20_000


class _TraceFile:
    """Streams trace events into a JSON file and hands out non-overlapping tracks."""

    def __init__(self, out: IO[str]):
        self.out = out
        self.n_events = 0
        self.n_tids: dict[int, int] = {}
        self.processes: set[int] = set()
        # (pid, track name) -> [(tid, end_ns of its last slice)], one entry per lane
        self.lanes: dict[tuple[int, str], list[list[int]]] = {}

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(",\n" if self.n_events else "\n")
        self.out.write(json.dumps(event, separators=(",", ":")))
        self.n_events += 1

    def process(self, pid: int, name: str, sort_index: int) -> None:
        """Name process `pid` (once; later calls for the same pid do nothing)."""
        if pid in self.processes:
            return
        self.processes.add(pid)
        self.emit({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}})
        self.emit(
            {
                "ph": "M",
                "name": "process_sort_index",
                "pid": pid,
                "args": {"sort_index": sort_index},
            }
        )

    def _new_tid(self, pid: int, name: str) -> int:
        tid = self.n_tids.get(pid, 0) + 1
        self.n_tids[pid] = tid
        self.emit(
            {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}
        )
        self.emit(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": pid,
                "tid": tid,
                "args": {"sort_index": tid},
            }
        )
        return tid

    def track(self, pid: int, name: str) -> None:
        """Create track `name` now (fixes the track order), if it does not exist."""
        if (pid, name) not in self.lanes:
            self.lanes[(pid, name)] = [[self._new_tid(pid, name), -1]]

    def slice(
        self, pid: int, track: str, name: str, start_ns: float, end_ns: float, args: dict
    ) -> int:
        """A complete event on the first lane of `track` free at start_ns; returns its tid.

        Callers pass a track's slices in start order, so first-fit lanes never overlap.
        """
        start, end = round(start_ns), max(round(end_ns), round(start_ns))
        self.track(pid, track)
        lanes = self.lanes[(pid, track)]
        for lane in lanes:
            if lane[1] <= start:
                break
        else:
            lane = [self._new_tid(pid, f"{track} #{len(lanes) + 1}"), -1]
            lanes.append(lane)
        lane[1] = end
        self.emit(
            {
                "ph": "X",
                "name": name,
                "cat": track,
                "ts": start / 1000.0,
                "dur": (end - start) / 1000.0,
                "pid": pid,
                "tid": lane[0],
                "args": args,
            }
        )
        return lane[0]

    def flow(
        self, flow_id: int, start: tuple[int, int, float], end: tuple[int, int, float]
    ) -> None:
        """An arrow from the slice at (pid, tid, ts_ns) ``start`` to the one at ``end``."""
        for phase, (pid, tid, ts_ns) in (("s", start), ("f", end)):
            event = {"ph": phase, "id": flow_id, "name": "critical path", "cat": "critical_path",
                     "pid": pid, "tid": tid, "ts": round(ts_ns) / 1000.0}  # fmt: skip
            if phase == "f":
                event["bp"] = "e"  # bind to the slice enclosing ts, not the next one
            self.emit(event)


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> Iterator[tuple]:
    cursor = con.cursor()
    cursor.execute(query, params)
    while rows := cursor.fetchmany(_FETCH_ROWS):
        yield from rows


def _pe_index(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple, int]:
    """(sip, cube, pe) -> pe_global for every PE that ran a launch or an op."""
    query = """
        SELECT DISTINCT sip, cube, pe, pe_global FROM (
            SELECT sip, cube, pe, pe_global FROM pe_exec WHERE run_id = ?
            UNION ALL SELECT sip, cube, pe, pe_global FROM ops WHERE run_id = ?
        ) ORDER BY pe_global
    """
    return {(s, c, p): g for s, c, p, g in _rows(con, query, [run_id, run_id])}


def export_perfetto(store: Source, run_id: str, path: str | Path) -> int:
    """Write run `run_id` as trace-event JSON to `path`; returns the number of trace events
    written (slices and metadata). An unknown run gives an empty trace."""
    con = open_connection(store)
    pes = _pe_index(con, run_id)
    header = con.execute(
        "SELECT workload, params, sim_end_ns FROM runs WHERE run_id = ?", [run_id]
    ).fetchall()
    workload, params, sim_end_ns = header[0] if header else (None, None, None)
    with atomic_write(path) as out:  # a failure leaves no half-written file
        out.write('{"displayTimeUnit":"ns",')
        other = {"run_id": run_id, "workload": workload, "params": params}
        out.write(f'"otherData":{json.dumps(other)},"traceEvents":[')
        trace = _TraceFile(out)
        trace.process(_HOST_PID, "Host", 0)
        for (sip, cube, pe), pe_global in pes.items():
            pid = _PE_PID_BASE + pe_global
            trace.process(pid, f"PE {pe_global} (sip{sip} cube{cube} pe{pe})", 1 + pe_global)
            trace.track(pid, "launch")
        _write_launches(con, run_id, trace)
        path_ops = _critical_path_ops(con, run_id)
        placed = _write_ops(con, run_id, trace, set(path_ops))
        _write_path_arrows(trace, path_ops, placed)
        _write_dma(con, run_id, trace, pes)
        _write_collectives(con, run_id, trace)
        _write_links(con, run_id, trace, sim_end_ns)
        out.write("\n]}\n")
    return trace.n_events


def _write_launches(con: duckdb.DuckDBPyConnection, run_id: str, trace: _TraceFile) -> None:
    query = """
        SELECT p.pe_global, p.launch_id, l.kernel, p.dispatch_ns, p.exec_start_ns, p.exec_end_ns
        FROM pe_exec p LEFT JOIN (SELECT * FROM launches WHERE run_id = ?) l
             ON l.launch_id = p.launch_id
        WHERE p.run_id = ? AND p.exec_end_ns IS NOT NULL
        ORDER BY p.pe_global, p.exec_start_ns
    """
    for pe_global, launch_id, kernel, dispatch, start, end in _rows(con, query, [run_id, run_id]):
        args = {"launch_id": launch_id, "dispatch_ns": dispatch}
        trace.slice(
            _PE_PID_BASE + pe_global, "launch", kernel or f"launch {launch_id}", start, end, args
        )


def _critical_path_ops(con: duckdb.DuckDBPyConnection, run_id: str) -> list[int]:
    """Op ids along the run's critical path, in time order ([] for runs without deps)."""
    from traces.critical_path import critical_path  # it imports the views, as we do

    has_deps = con.sql("SELECT count(*) FROM deps WHERE run_id = ?", params=[run_id]).fetchall()
    if not has_deps[0][0]:
        return []
    path = critical_path(con, run_id)
    return [s.item_id for s in path.segments if s.item == "op"]


def _write_path_arrows(
    trace: _TraceFile, path_ops: list[int], placed: dict[int, tuple[int, int, float]]
) -> None:
    """Flow arrows from each op of the critical path to the next one."""
    steps = [placed[op_id] for op_id in path_ops if op_id in placed]
    for flow_id, (start, end) in enumerate(zip(steps, steps[1:], strict=False)):
        trace.flow(flow_id, start, end)


def _write_ops(
    con: duckdb.DuckDBPyConnection, run_id: str, trace: _TraceFile, marked: set[int]
) -> dict[int, tuple[int, int, float]]:
    """Write every op; returns (pid, tid, start_ns) of the ops in ``marked``."""
    placed: dict[int, tuple[int, int, float]] = {}
    query = """
        SELECT pe_global, engine, op, op_id, launch_id, issue_ns, start_ns, end_ns, flops, bytes
        FROM ops WHERE run_id = ? AND end_ns IS NOT NULL
        ORDER BY pe_global,
                 list_position(['DMA_IN', 'GEMM', 'MATH', 'DMA_WB'], engine) NULLS LAST,
                 engine, start_ns
    """
    for row in _rows(con, query, [run_id]):
        pe_global, engine, op, op_id, launch_id, issue, start, end, flops, nbytes = row
        pid = _PE_PID_BASE + pe_global
        args = {"op_id": op_id, "launch_id": launch_id, "issue_ns": issue}
        args.update(flops=flops, bytes=nbytes)
        tid = trace.slice(pid, engine, op, start, end, args)
        if op_id in marked:
            placed[op_id] = (pid, tid, start)
    return placed


def _write_dma(
    con: duckdb.DuckDBPyConnection, run_id: str, trace: _TraceFile, pes: dict[tuple, int]
) -> None:
    # The PE that drives a transfer: the reader for loads and for an atomic's response
    # (old values into TCM), the writer otherwise.
    reader = "kind = 'load' OR (kind = 'atomic' AND dst_space = 'TCM')"
    query = f"""
        SELECT kind, dma_id, src, dst, level, bytes, hops, issue_ns, start_ns, end_ns,
               coll_id, round,
               CASE WHEN {reader} THEN dst_sip ELSE coalesce(src_sip, dst_sip) END,
               CASE WHEN {reader} THEN dst_cube ELSE coalesce(src_cube, dst_cube) END,
               CASE WHEN {reader} THEN dst_pe ELSE coalesce(src_pe, dst_pe) END
        FROM dma WHERE run_id = ? AND end_ns IS NOT NULL
    """
    rows = sorted(
        _rows(con, query, [run_id]),
        key=lambda r: (_dma_owner(r, pes), r[0], r[8]),
    )
    for row in rows:
        kind, dma_id, src, dst, level, nbytes, hops, issue, start, end, coll_id, round_ = row[:12]
        pid = _dma_owner(row, pes)
        sip, cube, pe = row[12:]
        trace.process(pid, f"DMA of sip{sip} cube{cube} pe{pe}", pid)
        args = {"dma_id": dma_id, "src": src, "dst": dst, "level": level, "bytes": nbytes}
        args.update(hops=hops, issue_ns=issue, coll_id=coll_id, round=round_)
        trace.slice(pid, f"dma {kind}", f"{kind} {src} -> {dst}", start, end, args)


def _dma_owner(row: tuple, pes: dict[tuple, int]) -> int:
    """pid of the process a DMA row is drawn in."""
    kind, owner = row[0], row[12:]
    if kind in ("host_write", "host_read") or owner[2] is None:
        return _HOST_PID
    if owner in pes:
        return _PE_PID_BASE + pes[owner]
    # A PE that ran no op: its own process, after every known PE.
    sip, cube, pe = (v or 0 for v in owner)
    return _PE_PID_BASE + 100_000 + (sip * 1000 + cube) * 1000 + pe


def _write_collectives(con: duckdb.DuckDBPyConnection, run_id: str, trace: _TraceFile) -> None:
    query = """
        SELECT r.coll_id, c.op, c.algorithm, r.rank, r.round, r.phase, r.level, r.peer,
               r.bytes, r.start_ns, r.end_ns
        FROM collective_rounds r
        LEFT JOIN (SELECT * FROM collectives WHERE run_id = ?) c ON c.coll_id = r.coll_id
        WHERE r.run_id = ? AND r.end_ns IS NOT NULL
        ORDER BY r.coll_id, r.rank, r.start_ns
    """
    for row in _rows(con, query, [run_id, run_id]):
        coll_id, op, algorithm, rank, round_, phase, level, peer, nbytes, start, end = row
        pid = _COLL_PID_BASE + coll_id
        trace.process(pid, f"collective {coll_id}: {op} ({algorithm})", pid)
        args = {"round": round_, "phase": phase, "level": level, "peer": peer, "bytes": nbytes}
        trace.slice(pid, f"rank {rank}", f"round {round_} {phase or ''}", start, end, args)


def _write_links(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    trace: _TraceFile,
    sim_end_ns: float | None,
) -> None:
    query = """
        SELECT link, src, dst, level, bw_gbs, bytes, busy_ns FROM links WHERE run_id = ?
        ORDER BY link
    """
    rows = list(_rows(con, query, [run_id]))
    if not rows:
        return
    trace.process(_LINKS_PID, "Links", _COLL_PID_BASE * 2)
    end_ns = sim_end_ns or max((row[6] or 0.0) for row in rows)
    for link, src, dst, level, bw_gbs, nbytes, busy_ns in rows:
        utilisation = (busy_ns or 0.0) / end_ns if end_ns else 0.0
        args = {"src": src, "dst": dst, "level": level, "bw_gbs": bw_gbs, "bytes": nbytes}
        args.update(busy_ns=busy_ns, utilisation=utilisation)
        trace.slice(_LINKS_PID, link, f"busy {utilisation:.0%}", 0.0, end_ns, args)
