"""Invariants every trace must hold; `check_run` lists the ones a run violates."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from traces.views import open_connection

if TYPE_CHECKING:
    import duckdb

    from traces.views import Source

# (table, earlier column, later column): the later time never precedes the earlier.
ORDERED_TIMES = (
    ("launches", "host_issue_ns", "target_start_ns"),
    ("launches", "host_issue_ns", "end_ns"),
    ("pe_exec", "dispatch_ns", "exec_start_ns"),
    ("pe_exec", "exec_start_ns", "exec_end_ns"),
    ("ops", "issue_ns", "start_ns"),
    ("ops", "start_ns", "end_ns"),
    ("dma", "issue_ns", "start_ns"),
    ("dma", "start_ns", "end_ns"),
    ("collectives", "start_ns", "end_ns"),
    ("collective_rounds", "start_ns", "end_ns"),
)


def _count(con: duckdb.DuckDBPyConnection, query: str, run_id: str) -> int:
    return con.execute(query, [run_id] * query.count("?")).fetchall()[0][0]


def check_run(store: Source, run_id: str, allow_overlap: Collection[str] = ()) -> list[str]:
    """Violated invariants of run `run_id`, one message each; empty if the trace is sound.

    Checked: the run has a runs row; in every table, end times do not precede start
    times and starts do not precede issue times (ORDERED_TIMES); no two ops on one
    lane of one engine of one PE overlap (a DMA engine keeps one transfer per lane in
    flight; `allow_overlap` names engines to skip entirely); each launch has exactly one
    pe_exec row per target PE (n_pes rows, distinct PEs); ops and pe_exec rows name
    existing launches; no link or memory port carried more bytes than its bandwidth
    allows in the time it was busy, nor was busy longer than the run lasted (physics).
    """
    con = open_connection(store)
    if _count(con, "SELECT count(*) FROM runs WHERE run_id = ?", run_id) == 0:
        return [f"run {run_id}: no runs row (unknown or incomplete run)"]
    problems: list[str] = []
    for table, earlier, later in ORDERED_TIMES:
        # Identifiers come from ORDERED_TIMES above, never from input.
        query = f"SELECT count(*) FROM {table} WHERE run_id = ? AND {later} < {earlier}"
        n_bad = _count(con, query, run_id)
        if n_bad:
            problems.append(f"{table}: {n_bad} rows have {later} < {earlier}")

    overlap = con.execute(
        """
        WITH o AS (
            SELECT pe_global, engine, op_id, start_ns, end_ns,
                   max(end_ns) OVER (PARTITION BY pe_global, engine, coalesce(lane, 0)
                                     ORDER BY start_ns, end_ns
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                       AS busy_until_ns
            FROM ops WHERE run_id = ? AND NOT list_contains(?, engine)
        )
        SELECT count(*), arg_min(pe_global, start_ns), arg_min(engine, start_ns),
               arg_min(op_id, start_ns), min(start_ns), arg_min(busy_until_ns, start_ns)
        FROM o WHERE busy_until_ns > start_ns
        """,
        [run_id, list(allow_overlap)],
    ).fetchall()[0]
    if overlap[0]:
        n, pe_global, engine, op_id, start_ns, busy_until_ns = overlap
        problems.append(
            f"ops: {n} ops start before their engine lane is free (first: PE {pe_global} {engine} "
            f"op {op_id} starts at {start_ns} ns, engine busy until {busy_until_ns} ns)"
        )

    bad_launches = con.execute(
        """
        WITH p AS (
            SELECT launch_id, count(*) AS n_rows, count(DISTINCT pe_global) AS n_distinct
            FROM pe_exec WHERE run_id = ? GROUP BY launch_id
        )
        SELECT l.launch_id, l.n_pes, coalesce(p.n_rows, 0), coalesce(p.n_distinct, 0)
        FROM launches l LEFT JOIN p ON p.launch_id = l.launch_id
        WHERE l.run_id = ? AND (coalesce(p.n_rows, 0) <> l.n_pes OR p.n_distinct <> p.n_rows)
        ORDER BY l.launch_id
        """,
        [run_id, run_id],
    ).fetchall()
    for launch_id, n_pes, n_rows, n_distinct in bad_launches:
        problems.append(
            f"launches: launch {launch_id} targets {n_pes} PEs but has {n_rows} pe_exec rows "
            f"({n_distinct} distinct PEs)"
        )

    # Physics: a link streams at most bw_gbs bytes a ns while busy (a relative slack
    # for the float sums of the max-min rates; a byte for the integer count).
    too_fast = con.execute(
        """
        SELECT count(*), arg_max(link, bytes - bw_gbs * busy_ns),
               arg_max(bytes, bytes - bw_gbs * busy_ns),
               arg_max(busy_ns, bytes - bw_gbs * busy_ns),
               arg_max(bw_gbs, bytes - bw_gbs * busy_ns)
        FROM links WHERE run_id = ? AND bytes > bw_gbs * busy_ns * (1 + 1e-9) + 1
        """,
        [run_id],
    ).fetchall()[0]
    if too_fast[0]:
        n, link, n_bytes, busy_ns, bw_gbs = too_fast
        problems.append(
            f"links: {n} links carried more bytes than their bandwidth allows while busy "
            f"(worst: {link} carried {n_bytes} bytes in {busy_ns} ns at {bw_gbs} GB/s, at most "
            f"{bw_gbs * busy_ns:.0f})"
        )
    too_long = con.execute(
        """
        SELECT count(*), arg_max(l.link, l.busy_ns), max(l.busy_ns), any_value(r.sim_end_ns)
        FROM links l JOIN runs r ON r.run_id = l.run_id
        WHERE l.run_id = ? AND l.busy_ns > r.sim_end_ns * (1 + 1e-9)
        """,
        [run_id],
    ).fetchall()[0]
    if too_long[0]:
        n, link, busy_ns, sim_end_ns = too_long
        problems.append(
            f"links: {n} links were busy longer than the run lasted (worst: {link} busy "
            f"{busy_ns} ns in a run of {sim_end_ns} ns)"
        )

    for table in ("ops", "pe_exec"):
        query = f"""
            SELECT count(*) FROM {table} t
            WHERE t.run_id = ? AND t.launch_id IS NOT NULL AND t.launch_id NOT IN (
                SELECT launch_id FROM launches WHERE run_id = ? AND launch_id IS NOT NULL)
        """
        n_orphans = _count(con, query, run_id)
        if n_orphans:
            problems.append(f"{table}: {n_orphans} rows name a launch_id missing from launches")
    return problems
