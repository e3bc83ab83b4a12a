"""Canned analyses over a run store: pure functions returning pyarrow Tables.

Each takes `store` first: a DuckDB connection with the trace views (reuse one
for several queries: see Store.connect), a Store, or a store path. Values are always bound as
parameters, never formatted into SQL. Times are ns of simulated time, sizes
bytes, bandwidths GB/s (= bytes/ns).

Busy times are lengths of unions of intervals, computed by a gaps-and-islands
sweep: order a group's intervals by start; an interval adds only the part of it
that ends past every interval started before it,
`max(0, end - max(start, running max of earlier ends))`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from traces.schema import canonical_params
from traces.store import RunNotFoundError
from traces.views import open_connection

if TYPE_CHECKING:
    from traces.views import Source

ENGINES = ("DMA_IN", "GEMM", "MATH", "DMA_WB")


def _fetch(store: Any, query: str, params: Sequence[Any] = ()) -> pa.Table:
    return open_connection(store).sql(query, params=list(params)).to_arrow_table()


def runs_table(
    store: Source,
    workload: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    sweep_id: str | None = None,
) -> pa.Table:
    """Runs, newest first: every runs column plus `metrics`, a MAP metric name -> value.

    Filters by workload, status ("ok"/"failed") and sweep (its id or a prefix of it) when
    given; at most `limit` rows.
    """
    where, params = [], []
    if workload is not None:
        where.append("r.workload = ?")
        params.append(workload)
    if sweep_id is not None:
        where.append("starts_with(r.sweep_id, ?)")
        params.append(sweep_id)
    if status is not None:
        where.append("r.status = ?")
        params.append(status)
    query = f"""
        WITH m AS (
            SELECT run_id, name, any_value(value) AS value FROM metrics GROUP BY run_id, name
        ),
        per_run AS (
            SELECT run_id, map(list(name ORDER BY name), list(value ORDER BY name)) AS metrics
            FROM m GROUP BY run_id
        )
        SELECT r.*, per_run.metrics
        FROM runs r LEFT JOIN per_run ON per_run.run_id = r.run_id
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY r.run_id DESC
        LIMIT ?
    """
    return _fetch(store, query, [*params, limit])


def run_metrics(store: Source, run_id: str) -> pa.Table:
    """Metrics of one run: name, value, unit (the unit names the value's unit). Sorted by name."""
    return _fetch(
        store,
        "SELECT name, value, unit FROM metrics WHERE run_id = ? ORDER BY name",
        [run_id],
    )


def run_header(store: Source, run_id: str) -> pa.Table:
    """The runs row of one run (all runs columns); zero rows for an unknown run."""
    return _fetch(store, "SELECT * FROM runs WHERE run_id = ?", [run_id])


_LAUNCH_SPREAD = """
    WITH p AS (
        SELECT launch_id,
               min(exec_start_ns) AS first_start_ns,
               max(exec_start_ns) AS last_start_ns,
               max(dispatch_ns) - min(dispatch_ns) AS dispatch_spread_ns
        FROM pe_exec WHERE run_id = ? GROUP BY launch_id
    )
    SELECT l.launch_id, l.kernel, l.grid, l.n_pes, l.barrier,
           p.first_start_ns, p.last_start_ns,
           p.last_start_ns - p.first_start_ns AS spread_ns,
           p.dispatch_spread_ns,
           l.end_ns - l.host_issue_ns AS latency_ns,
           l.host_issue_ns, l.target_start_ns, l.end_ns, l.coll_id
    FROM launches l LEFT JOIN p ON p.launch_id = l.launch_id
    WHERE l.run_id = ?
    ORDER BY l.launch_id
"""


def launch_spread(store: Source, run_id: str) -> pa.Table:
    """Start-time spread of each launch across its PEs, in launch order.

    Columns: launch_id, kernel, grid, n_pes, barrier; first_start_ns /
    last_start_ns (earliest / latest PE exec start); spread_ns (their difference,
    0 with the launch barrier); dispatch_spread_ns (max - min time the launch
    message reached a PE); latency_ns (end - host issue); host_issue_ns,
    target_start_ns, end_ns, coll_id.
    """
    return _fetch(store, _LAUNCH_SPREAD, [run_id, run_id])


# Union of one engine's intervals on a PE, per engine kind (names are constants).
_ENGINE_BUSY_SUMS = ",\n".join(
    "coalesce(sum(greatest(0.0, end_ns - greatest(start_ns, coalesce(engine_reach_ns, start_ns))))"
    f" FILTER (WHERE engine = '{engine}'), 0.0) AS {engine.lower()}_busy_ns"
    for engine in ENGINES
)
_ENGINE_BUSY_COLUMNS = ", ".join(
    f"coalesce(busy.{engine.lower()}_busy_ns, 0.0) AS {engine.lower()}_busy_ns"
    for engine in ENGINES
)

_ENGINE_UTILISATION_COLUMNS = ", ".join(
    f"coalesce(busy.{engine.lower()}_busy_ns, 0.0) / nullif(span.end_ns - span.start_ns, 0.0)"
    f" AS {engine.lower()}_utilisation"
    for engine in ENGINES
)

# Every `?` is the run id.
_PE_BREAKDOWN = f"""
    WITH o AS (
        SELECT sip, cube, pe, pe_global, engine, start_ns, end_ns FROM ops WHERE run_id = ?
    ),
    x AS (
        SELECT sip, cube, pe, pe_global, exec_start_ns, exec_end_ns
        FROM pe_exec WHERE run_id = ?
    ),
    swept AS (
        SELECT pe_global, engine, start_ns, end_ns,
               max(end_ns) OVER (PARTITION BY pe_global ORDER BY start_ns, end_ns
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pe_reach_ns,
               max(end_ns) OVER (PARTITION BY pe_global, engine ORDER BY start_ns, end_ns
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                   AS engine_reach_ns
        FROM o WHERE end_ns > start_ns
    ),
    busy AS (
        SELECT pe_global,
               sum(greatest(0.0, end_ns - greatest(start_ns, coalesce(pe_reach_ns, start_ns))))
                   AS busy_ns,
               {_ENGINE_BUSY_SUMS}
        FROM swept GROUP BY pe_global
    ),
    pes AS (
        SELECT pe_global, any_value(sip) AS sip, any_value(cube) AS cube, any_value(pe) AS pe
        FROM (
            SELECT sip, cube, pe, pe_global FROM x
            UNION ALL
            SELECT sip, cube, pe, pe_global FROM o
        ) GROUP BY pe_global
    ),
    span AS (
        SELECT least((SELECT min(exec_start_ns) FROM x), (SELECT min(start_ns) FROM o))
                   AS start_ns,
               greatest((SELECT max(exec_end_ns) FROM x), (SELECT max(end_ns) FROM o)) AS end_ns
    )
    SELECT pes.sip, pes.cube, pes.pe, pes.pe_global,
           {_ENGINE_BUSY_COLUMNS},
           coalesce(busy.busy_ns, 0.0) AS busy_ns,
           span.end_ns - span.start_ns AS makespan_ns,
           span.end_ns - span.start_ns - coalesce(busy.busy_ns, 0.0) AS idle_ns,
           coalesce(busy.busy_ns, 0.0) / nullif(span.end_ns - span.start_ns, 0.0) AS utilisation,
           {_ENGINE_UTILISATION_COLUMNS}
    FROM pes CROSS JOIN span LEFT JOIN busy ON busy.pe_global = pes.pe_global
    ORDER BY pes.pe_global
"""


def _bind_run(query: str, run_id: str) -> list[str]:
    """Parameters for a query whose every `?` is the run id."""
    return [run_id] * query.count("?")


def pe_breakdown(store: Source, run_id: str) -> pa.Table:
    """Per-PE busy and idle time of one run, by pe_global.

    Columns: sip, cube, pe, pe_global; dma_in_busy_ns, gemm_busy_ns,
    math_busy_ns, dma_wb_busy_ns (union of that engine's op intervals); busy_ns
    (union of all the PE's op intervals, so engines working in parallel count
    once); makespan_ns (the run's first PE exec start -- or op start -- to its last
    PE exec end -- or op end; the same for every PE); idle_ns = makespan_ns -
    busy_ns; utilisation = busy_ns / makespan_ns (0..1: "any engine" utilisation, see
    UTILISATION_DEFINITION); dma_in_utilisation, gemm_utilisation, math_utilisation,
    dma_wb_utilisation = that engine's busy time / makespan_ns. PEs that ran a launch but
    no op have busy 0.
    """
    return _fetch(store, _PE_BREAKDOWN, _bind_run(_PE_BREAKDOWN, run_id))


_ENGINE_SUMMARY = """
    WITH o AS (
        SELECT pe_global, engine, start_ns, end_ns, flops, bytes FROM ops WHERE run_id = ?
    ),
    swept AS (
        SELECT *, max(end_ns) OVER (PARTITION BY pe_global, engine ORDER BY start_ns, end_ns
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_ns
        FROM o
    )
    SELECT engine, count(*) AS n_ops,
           coalesce(sum(greatest(0.0, end_ns - greatest(start_ns, coalesce(reach_ns, start_ns)))),
                    0.0) AS busy_ns,
           sum(end_ns - start_ns) AS op_ns,
           CAST(coalesce(sum(flops), 0) AS BIGINT) AS flops,
           CAST(coalesce(sum(bytes), 0) AS BIGINT) AS bytes
    FROM swept GROUP BY engine
    ORDER BY list_position(['DMA_IN', 'GEMM', 'MATH', 'DMA_WB'], engine) NULLS LAST, engine
"""


def engine_summary(store: Source, run_id: str) -> pa.Table:
    """Totals per engine kind over all PEs of one run.

    Columns: engine, n_ops, busy_ns (sum over PEs of the union of that engine's op
    intervals), op_ns (sum of op durations), flops, bytes. Engine order: DMA_IN,
    GEMM, MATH, DMA_WB, then any other.
    """
    return _fetch(store, _ENGINE_SUMMARY, [run_id])


_DMA_BANDWIDTH = """
    WITH d AS (
        SELECT kind, level, bytes, issue_ns, start_ns, end_ns,
               max(end_ns) OVER (PARTITION BY kind, level ORDER BY start_ns, end_ns
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_ns
        FROM dma WHERE run_id = ? AND end_ns IS NOT NULL
    ),
    g AS (
        SELECT kind, level, count(*) AS n, CAST(coalesce(sum(bytes), 0) AS BIGINT) AS bytes,
               sum(greatest(0.0, end_ns - greatest(start_ns, coalesce(reach_ns, start_ns))))
                   AS busy_ns,
               avg(end_ns - issue_ns) AS avg_latency_ns
        FROM d GROUP BY kind, level
    )
    SELECT kind, level, n, bytes, busy_ns, avg_latency_ns, bytes / nullif(busy_ns, 0.0) AS gbs
    FROM g ORDER BY kind, level
"""


def dma_bandwidth(store: Source, run_id: str) -> pa.Table:
    """DMA traffic of one run by kind and level (the highest level the route crosses).

    Columns: kind, level, n (transfers), bytes; busy_ns (union of the transfers'
    start..end intervals: time at least one was moving); avg_latency_ns (mean of
    end - issue); gbs = bytes / busy_ns (GB/s achieved while busy).
    """
    return _fetch(store, _DMA_BANDWIDTH, [run_id])


_COLLECTIVE_ROUNDS = """
    WITH r AS (
        SELECT coll_id, round, rank, phase, level, bytes, start_ns, end_ns,
               end_ns - start_ns AS duration_ns,
               max(end_ns - start_ns) OVER (PARTITION BY coll_id, round) AS slowest_ns
        FROM collective_rounds WHERE run_id = ?
    ),
    g AS (
        SELECT coll_id, round,
               string_agg(DISTINCT phase, ',' ORDER BY phase) AS phase,
               string_agg(DISTINCT level, ',' ORDER BY level) AS level,
               count(DISTINCT rank) AS n_ranks,
               CAST(coalesce(sum(bytes), 0) AS BIGINT) AS bytes,
               min(start_ns) AS start_ns, max(end_ns) AS end_ns,
               min(rank) FILTER (WHERE duration_ns = slowest_ns) AS slowest_rank,
               max(duration_ns) AS slowest_ns,
               median(duration_ns) AS median_ns
        FROM r GROUP BY coll_id, round
    )
    SELECT g.coll_id, c.op, c.algorithm, g.round, g.phase, g.level, g.n_ranks, g.bytes,
           g.start_ns, g.end_ns, g.slowest_rank, g.slowest_ns, g.median_ns,
           g.slowest_ns - g.median_ns AS straggle_ns
    FROM g LEFT JOIN (SELECT * FROM collectives WHERE run_id = ?) c ON c.coll_id = g.coll_id
    ORDER BY g.coll_id, g.round
"""


def collective_rounds(store: Source, run_id: str) -> pa.Table:
    """Rounds of each collective of one run, with stragglers.

    Columns: coll_id, op, algorithm, round; phase, level (distinct values of the
    round's rows, comma-joined); n_ranks; bytes (sum over ranks); start_ns, end_ns
    (first start, last end); slowest_rank (lowest rank among those whose round
    took longest), slowest_ns (its end - start), median_ns (median end - start over
    ranks), straggle_ns = slowest_ns - median_ns.
    """
    return _fetch(store, _COLLECTIVE_ROUNDS, [run_id, run_id])


def compare_runs(store: Source, run_a: str, run_b: str) -> pa.Table:
    """Metric deltas from run a to run b, by name.

    Columns: name, unit, better ("lower" | "higher", b's or else a's; null in runs
    recorded before the column existed: traces.verdicts.stored_better decides those),
    a, b, delta = b - a, pct = 100 * delta / |a| (null when a is 0 or a side lacks
    the metric). traces.verdicts.with_verdicts adds the verdict.
    """
    query = """
        WITH a AS (SELECT name, any_value(unit) AS unit, any_value(better) AS better,
                          any_value(value) AS value
                   FROM metrics WHERE run_id = ? GROUP BY name),
             b AS (SELECT name, any_value(unit) AS unit, any_value(better) AS better,
                          any_value(value) AS value
                   FROM metrics WHERE run_id = ? GROUP BY name)
        SELECT coalesce(a.name, b.name) AS name, coalesce(b.unit, a.unit) AS unit,
               coalesce(b.better, a.better) AS better, a.value AS a, b.value AS b,
               b.value - a.value AS delta,
               100.0 * (b.value - a.value) / nullif(abs(a.value), 0.0) AS pct
        FROM a FULL OUTER JOIN b ON a.name = b.name
        ORDER BY name
    """
    return _fetch(store, query, [run_a, run_b])


def _deltas(
    a: pa.Table,
    b: pa.Table,
    keys: Sequence[str],
    values: Sequence[str],
    labels: Sequence[str] = (),
    order_by: str | None = None,
) -> pa.Table:
    """Full outer join of two result tables on `keys`.

    Each value column v becomes v_a, v_b and delta_v (= b - a); each label column
    l becomes l_a, l_b. Column names come from this module, never from input.
    """
    con = duckdb.connect()
    con.register("a", a)
    con.register("b", b)
    select = [f'coalesce(a."{k}", b."{k}") AS "{k}"' for k in keys]
    for label in labels:
        select += [f'a."{label}" AS "{label}_a"', f'b."{label}" AS "{label}_b"']
    for value in values:
        select += [
            f'a."{value}" AS "{value}_a"',
            f'b."{value}" AS "{value}_b"',
            f'b."{value}" - a."{value}" AS "delta_{value}"',
        ]
    join = " AND ".join(f'a."{k}" IS NOT DISTINCT FROM b."{k}"' for k in keys)
    order = order_by or ", ".join(f'"{k}"' for k in keys)
    joined = f"SELECT {', '.join(select)} FROM a FULL OUTER JOIN b ON {join}"
    return con.sql(f"SELECT * FROM ({joined}) ORDER BY {order}").to_arrow_table()


def compare_pes(store: Source, run_a: str, run_b: str) -> pa.Table:
    """Per-PE deltas of pe_breakdown from run a to run b, by pe_global.

    Columns: pe_global, sip/cube/pe of each side (sip_a, sip_b, ...), then for
    busy_ns, idle_ns, utilisation and each engine's *_busy_ns: <v>_a, <v>_b and
    delta_<v> (= b - a). A PE present in one run only has nulls on the other side.
    """
    con = open_connection(store)
    values = ["busy_ns", "idle_ns", "utilisation", *(f"{e.lower()}_busy_ns" for e in ENGINES)]
    return _deltas(
        pe_breakdown(con, run_a),
        pe_breakdown(con, run_b),
        keys=["pe_global"],
        values=values,
        labels=["sip", "cube", "pe"],
    )


def compare_engines(store: Source, run_a: str, run_b: str) -> pa.Table:
    """Per-engine deltas of engine_summary from run a to run b.

    Columns: engine; for n_ops, busy_ns, op_ns, flops, bytes: <v>_a, <v>_b, delta_<v>.
    """
    con = open_connection(store)
    return _deltas(
        engine_summary(con, run_a),
        engine_summary(con, run_b),
        keys=["engine"],
        values=["n_ops", "busy_ns", "op_ns", "flops", "bytes"],
        order_by="list_position(['DMA_IN', 'GEMM', 'MATH', 'DMA_WB'], engine) NULLS LAST, engine",
    )


def compare_launches(store: Source, run_a: str, run_b: str) -> pa.Table:
    """Launches matched by launch_id (order of launch), largest |latency delta| first.

    Columns: launch_id, kernel_a, kernel_b, then latency_ns and spread_ns as
    <v>_a, <v>_b, delta_<v> (= b - a).
    """
    con = open_connection(store)
    return _deltas(
        launch_spread(con, run_a),
        launch_spread(con, run_b),
        keys=["launch_id"],
        values=["latency_ns", "spread_ns"],
        labels=["kernel"],
        order_by="abs(delta_latency_ns) DESC NULLS LAST, launch_id",
    )


def latest_run_for_commit(
    store: Source, workload: str, params_json: str | dict, commit: str
) -> str | None:
    """Id of the newest ok run of `workload` with these params at `commit` (a hash or a
    prefix of one), or None."""
    query = """
        SELECT run_id FROM runs
        WHERE workload = ? AND params = ? AND starts_with(git_commit, ?) AND status = 'ok'
        ORDER BY run_id DESC LIMIT 1
    """
    found = _fetch(store, query, [workload, canonical_params(params_json), commit])
    return found.column("run_id")[0].as_py() if found.num_rows else None


def compare_commits(
    store: Source, workload: str, params_json: str | dict, commit_a: str, commit_b: str
) -> pa.Table:
    """compare_runs between the newest ok runs of `workload` at two commits.

    Raises RunNotFoundError naming the workload, params and commit lacking a run.
    """
    con = open_connection(store)
    run_ids = []
    for commit in (commit_a, commit_b):
        run_id = latest_run_for_commit(con, workload, params_json, commit)
        if run_id is None:
            raise RunNotFoundError(
                f"no ok run of workload {workload!r} with params "
                f"{canonical_params(params_json)} at commit {commit!r}"
            )
        run_ids.append(run_id)
    return compare_runs(con, run_ids[0], run_ids[1])


def metric_history(
    store: Source, workload: str, metric: str, params_json: str | dict | None = None
) -> pa.Table:
    """One metric of a workload across commits: the newest ok run per (commit, params).

    Columns: commit, commit_time, commit_message, run_id, value, unit, params,
    git_dirty. Ordered by commit_time (unknown last), then run_id. Runs without a
    known commit are left out; params_json None keeps every parameter set.
    """
    where = ["r.workload = ?", "r.status = 'ok'", "r.git_commit IS NOT NULL"]
    params: list[Any] = [metric, workload]
    if params_json is not None:
        where.append("r.params = ?")
        params.append(canonical_params(params_json))
    query = f"""
        WITH h AS (
            SELECT r.git_commit AS commit, r.commit_time, r.commit_message, r.run_id,
                   m.value, m.unit, r.params, r.git_dirty,
                   row_number() OVER (PARTITION BY r.git_commit, r.params
                                      ORDER BY r.run_id DESC) AS newest
            FROM runs r JOIN metrics m ON m.run_id = r.run_id AND m.name = ?
            WHERE {" AND ".join(where)}
        )
        SELECT commit, commit_time, commit_message, run_id, value, unit, params, git_dirty
        FROM h WHERE newest = 1
        ORDER BY commit_time NULLS LAST, run_id
    """
    return _fetch(store, query, params)


_COMM_COMPUTE = """
    WITH o AS (
        SELECT ops.sip, ops.cube, ops.pe, ops.pe_global, ops.engine, ops.start_ns, ops.end_ns,
               launches.coll_id IS NOT NULL AS is_comm
        FROM ops JOIN launches
          ON launches.run_id = ops.run_id AND launches.launch_id = ops.launch_id
        WHERE ops.run_id = ?
    ),
    kinds AS (
        SELECT *, CASE WHEN is_comm THEN 'comm'
                       WHEN engine IN ('GEMM', 'MATH') THEN 'compute' END AS kind
        FROM o
    ),
    swept AS (
        SELECT *, max(end_ns) OVER (PARTITION BY pe_global, kind ORDER BY start_ns, end_ns
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_ns
        FROM kinds WHERE kind IS NOT NULL
    ),
    marked AS (
        SELECT *, CASE WHEN reach_ns IS NULL OR start_ns > reach_ns THEN 1 ELSE 0 END AS new_island
        FROM swept
    ),
    numbered AS (
        SELECT *, sum(new_island) OVER (PARTITION BY pe_global, kind ORDER BY start_ns, end_ns
                                        ROWS UNBOUNDED PRECEDING) AS island
        FROM marked
    ),
    islands AS (
        SELECT pe_global, kind, island, min(start_ns) AS start_ns, max(end_ns) AS end_ns
        FROM numbered GROUP BY pe_global, kind, island
    ),
    totals AS (
        SELECT pe_global,
               coalesce(sum(end_ns - start_ns) FILTER (WHERE kind = 'compute'), 0.0)
                   AS compute_ns,
               coalesce(sum(end_ns - start_ns) FILTER (WHERE kind = 'comm'), 0.0) AS comm_ns
        FROM islands GROUP BY pe_global
    ),
    overlap AS (
        -- Islands of one kind are disjoint, so summing pairwise overlaps is exact.
        SELECT c.pe_global,
               sum(greatest(0.0, least(c.end_ns, m.end_ns) - greatest(c.start_ns, m.start_ns)))
                   AS overlap_ns
        FROM islands c JOIN islands m
          ON c.pe_global = m.pe_global AND c.kind = 'comm' AND m.kind = 'compute'
             AND c.start_ns < m.end_ns AND m.start_ns < c.end_ns
        GROUP BY c.pe_global
    ),
    pes AS (SELECT DISTINCT sip, cube, pe, pe_global FROM o)
    SELECT pes.sip, pes.cube, pes.pe, pes.pe_global,
           coalesce(t.compute_ns, 0.0) AS compute_ns,
           coalesce(t.comm_ns, 0.0) AS comm_ns,
           coalesce(v.overlap_ns, 0.0) AS overlap_ns,
           coalesce(t.comm_ns, 0.0) - coalesce(v.overlap_ns, 0.0) AS exposed_comm_ns,
           (coalesce(t.comm_ns, 0.0) - coalesce(v.overlap_ns, 0.0))
               / nullif(t.comm_ns, 0.0) AS exposed_share
    FROM pes LEFT JOIN totals t ON t.pe_global = pes.pe_global
             LEFT JOIN overlap v ON v.pe_global = pes.pe_global
    ORDER BY pes.pe_global
"""


def comm_compute(store: Source, run_id: str) -> pa.Table:
    """Compute versus communication time per PE, and how much communication is exposed.

    Communication is every op of a collective launch (``launches.coll_id`` set: its
    sends, receives and reductions); compute is every GEMM and MATH op of the other
    launches. Columns: sip, cube, pe, pe_global; compute_ns and comm_ns (lengths of the
    unions of those intervals); overlap_ns (time both run at once); exposed_comm_ns =
    comm_ns - overlap_ns (communication not hidden behind compute); exposed_share =
    exposed_comm_ns / comm_ns (0..1, null without communication).
    """
    return _fetch(store, _COMM_COMPUTE, [run_id])


def ops_window(source: Source, run_id: str, pe_first: int, pe_last: int, limit: int) -> pa.Table:
    """Engine ops of PEs pe_first..pe_last (inclusive) of one run, earliest first, at most
    `limit` rows.

    Columns: pe_global, sip, cube, pe, engine, lane (the engine lane that ran the op;
    0 for runs traced before lanes were recorded), op, launch_id, start_ns, end_ns,
    duration_ns (= end_ns - start_ns), flops, bytes, and total_ops: how many ops the
    PE range holds in all (the same on every row; more than the rows returned when
    the limit cut them). Order: start_ns, pe_global, engine, lane, op_id.
    """
    query = """
        SELECT pe_global, sip, cube, pe, engine, coalesce(lane, 0) AS lane, op, launch_id,
               start_ns, end_ns,
               end_ns - start_ns AS duration_ns, flops, bytes,
               count(*) OVER () AS total_ops
        FROM ops
        WHERE run_id = ? AND pe_global BETWEEN ? AND ?
        ORDER BY start_ns, pe_global, engine, lane, op_id
        LIMIT ?
    """
    return _fetch(source, query, [run_id, pe_first, pe_last, limit])


def compare_rounds(source: Source, run_a: str, run_b: str) -> pa.Table:
    """Collective rounds matched by (coll_id, round) from run a to run b, largest
    |slowest_ns delta| first.

    Columns: coll_id, round, phase_a, phase_b, level_a, level_b, slowest_rank_a,
    slowest_rank_b, then for slowest_ns, median_ns, straggle_ns and bytes: <v>_a, <v>_b,
    delta_<v> (= b - a); see traces.queries.collective_rounds. Empty when neither
    run has collectives.
    """
    con = open_connection(source)
    return _deltas(
        collective_rounds(con, run_a),
        collective_rounds(con, run_b),
        keys=["coll_id", "round"],
        values=["slowest_ns", "median_ns", "straggle_ns", "bytes"],
        labels=["phase", "level", "slowest_rank"],
        order_by="abs(delta_slowest_ns) DESC NULLS LAST, coll_id, round",
    )


# Utilisation, defined once: the fraction of a time span during which an engine of a PE
# was busy (the union of its ops' intervals, so overlapping lanes count once). "Any
# engine" is the union over the PE's four engines. pe_breakdown gives both over the
# run's makespan (utilisation and <engine>_utilisation); engine_busy_buckets gives them
# per time bucket.
UTILISATION_DEFINITION = (
    "busy time ÷ span: the union of the ops' intervals of one engine (or of any engine) "
    "of a PE, divided by the span (the run's makespan, or a time bucket)"
)

_OPS_SPAN = """
    SELECT min(start_ns) AS start_ns, max(end_ns) AS end_ns, count(*) AS n_ops,
           count(*) FILTER (WHERE pe_global BETWEEN $pe_first AND $pe_last
                            AND end_ns > $start_ns AND start_ns < $end_ns) AS n_ops_in_window
    FROM ops WHERE run_id = $run_id
"""


def ops_span(
    store: Source,
    run_id: str,
    pe_first: int = 0,
    pe_last: int = 2**62,
    start_ns: float = float("-inf"),
    end_ns: float = float("inf"),
) -> pa.Table:
    """One row: start_ns and end_ns of the run's engine ops (first start, last end; null
    without ops), n_ops, and n_ops_in_window: ops of PEs pe_first..pe_last overlapping
    [start_ns, end_ns)."""
    params = dict(run_id=run_id, pe_first=pe_first, pe_last=pe_last, start_ns=start_ns,
                  end_ns=end_ns)  # fmt: skip
    return open_connection(store).sql(_OPS_SPAN, params=params).to_arrow_table()


_ENGINE_BUSY_BUCKETS = """
    WITH o AS (
        SELECT pe_global, engine, greatest(start_ns, $start_ns) AS s,
               least(end_ns, $end_ns) AS e
        FROM ops
        WHERE run_id = $run_id AND pe_global BETWEEN $pe_first AND $pe_last
          AND end_ns > $start_ns AND start_ns < $end_ns AND end_ns > start_ns
    ),
    swept AS (
        SELECT pe_global, engine, s, e,
               max(e) OVER (PARTITION BY pe_global, engine ORDER BY s, e
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
        FROM o
    ),
    -- Disjoint pieces whose union is the union of the ops: each starts where the
    -- earlier ops of its engine stopped.
    pieces AS (
        SELECT pe_global, engine, greatest(s, coalesce(reach, s)) AS s, e
        FROM swept WHERE e > greatest(s, coalesce(reach, s))
    ),
    spread AS (
        SELECT pe_global, engine, s, e,
               unnest(range(
                   CAST(least($n - 1, floor((s - $start_ns) / $width_ns)) AS BIGINT),
                   CAST(least($n - 1, floor((e - $start_ns) / $width_ns)) AS BIGINT) + 1
               )) AS bucket
        FROM pieces
    )
    SELECT pe_global, engine, bucket,
           $start_ns + bucket * $width_ns AS bucket_start_ns,
           sum(greatest(0.0, least(e, $start_ns + (bucket + 1) * $width_ns)
                             - greatest(s, $start_ns + bucket * $width_ns))) AS busy_ns,
           sum(greatest(0.0, least(e, $start_ns + (bucket + 1) * $width_ns)
                             - greatest(s, $start_ns + bucket * $width_ns))) / $width_ns
               AS utilisation
    FROM spread
    GROUP BY pe_global, engine, bucket
    ORDER BY pe_global, engine, bucket
"""


def engine_busy_buckets(
    store: Source,
    run_id: str,
    start_ns: float,
    end_ns: float,
    n_buckets: int,
    pe_first: int = 0,
    pe_last: int = 2**62,
) -> pa.Table:
    """Engine utilisation per time bucket: [start_ns, end_ns) cut into n_buckets equal
    buckets; for each PE (pe_first..pe_last), engine and bucket its ops touch, busy_ns
    (length of the union of the engine's op intervals inside the bucket) and
    utilisation = busy_ns / bucket width (0..1; see UTILISATION_DEFINITION). Buckets in
    which an engine was idle have no row. Columns: pe_global, engine, bucket (0-based),
    bucket_start_ns, busy_ns, utilisation. Costs one row per op and bucket it touches,
    so a long run stays a small table."""
    if not end_ns > start_ns or n_buckets < 1:
        raise ValueError(
            f"engine_busy_buckets needs end_ns > start_ns and n_buckets >= 1, got "
            f"[{start_ns}, {end_ns}) in {n_buckets} buckets"
        )
    params = dict(run_id=run_id, start_ns=float(start_ns), end_ns=float(end_ns), n=n_buckets,
                  width_ns=(float(end_ns) - float(start_ns)) / n_buckets, pe_first=pe_first,
                  pe_last=pe_last)  # fmt: skip
    return open_connection(store).sql(_ENGINE_BUSY_BUCKETS, params=params).to_arrow_table()


_OPS_BETWEEN = """
    SELECT pe_global, sip, cube, pe, engine, coalesce(lane, 0) AS lane, op, launch_id,
           start_ns, end_ns, end_ns - start_ns AS duration_ns, flops, bytes
    FROM ops
    WHERE run_id = $run_id AND pe_global BETWEEN $pe_first AND $pe_last
      AND end_ns > $start_ns AND start_ns < $end_ns
    ORDER BY start_ns, pe_global, engine, lane, op_id
    LIMIT $limit
"""


def ops_between(
    store: Source,
    run_id: str,
    start_ns: float,
    end_ns: float,
    pe_first: int = 0,
    pe_last: int = 2**62,
    limit: int = 100_000,
) -> pa.Table:
    """Engine ops of PEs pe_first..pe_last that overlap [start_ns, end_ns), earliest
    first, at most `limit`. Columns: pe_global, sip, cube, pe, engine, lane (0 for runs
    traced before lanes were recorded), op, launch_id, start_ns, end_ns, duration_ns,
    flops, bytes."""
    params = dict(run_id=run_id, start_ns=float(start_ns), end_ns=float(end_ns),
                  pe_first=pe_first, pe_last=pe_last, limit=limit)  # fmt: skip
    return open_connection(store).sql(_OPS_BETWEEN, params=params).to_arrow_table()


_RECENT_COMMIT_METRICS = """
    WITH c AS (
        SELECT git_commit, min(commit_time) AS commit_time, any_value(commit_message) AS message,
               min(run_id) AS first_run_id
        FROM runs WHERE status = 'ok' AND git_commit IS NOT NULL
        GROUP BY git_commit
        ORDER BY commit_time DESC NULLS LAST, first_run_id DESC
        LIMIT $n_commits
    ),
    r AS (
        SELECT r.run_id, r.workload, r.params, r.topology, r.topology_hash, r.git_commit,
               row_number() OVER (PARTITION BY r.workload, r.params, r.topology,
                                               r.topology_hash, r.git_commit
                                  ORDER BY r.run_id DESC) AS newest
        FROM runs r JOIN c ON c.git_commit = r.git_commit
        WHERE r.status = 'ok'
    )
    SELECT r.workload, r.params, r.topology, r.git_commit AS commit, c.commit_time,
           c.message AS commit_message, r.run_id, m.name, m.unit, m.better, m.value,
           r.topology_hash
    FROM r JOIN c ON c.git_commit = r.git_commit JOIN metrics m ON m.run_id = r.run_id
    WHERE r.newest = 1
    ORDER BY r.workload, r.params, r.topology, r.topology_hash, m.name,
             c.commit_time NULLS LAST, c.first_run_id
"""


def recent_commit_metrics(store: Source, n_commits: int) -> pa.Table:
    """Every metric of every (workload, params, topology) at each of the newest
    `n_commits` commits that have an ok run: the value in the newest ok run of that
    combination at that commit. A topology is its name and hash: two topologies of one
    name (e.g. `default` with an override) are two combinations. Columns: workload,
    params, topology, commit, commit_time, commit_message, run_id, name, unit, better,
    value, topology_hash. Order: combination, metric, then commits oldest first
    (commit_time, unknown last, then first run id)."""
    return (
        open_connection(store)
        .sql(_RECENT_COMMIT_METRICS, params={"n_commits": int(n_commits)})
        .to_arrow_table()
    )
