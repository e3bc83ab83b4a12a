"""Metrics over commit history: which parameter sets and metrics a workload has, its
newest run per commit, and one metric's value per commit (the Trends page's data).

Same conventions as traces/queries.py: each takes `source` first (a DuckDB connection with the trace
views, a Store, or a store path), binds every value as a parameter, and returns a
pyarrow Table. Times are ns of simulated time, sizes bytes.

"Newest" means the largest run id (run ids sort by creation time). A parameter
set is the canonical params JSON of a run (traces.schema.canonical_params).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from traces.queries import _fetch
from traces.schema import canonical_params

if TYPE_CHECKING:
    from traces.views import Source


def param_sets(source: Source, workload: str) -> pa.Table:
    """Parameter sets of a workload's ok runs, most commits first.

    Columns: params (canonical JSON), n_runs, n_commits (distinct known commits),
    newest_run_id. Ties: newest run first.
    """
    query = """
        SELECT params, count(*) AS n_runs, count(DISTINCT git_commit) AS n_commits,
               max(run_id) AS newest_run_id
        FROM runs WHERE workload = ? AND status = 'ok'
        GROUP BY params
        ORDER BY n_commits DESC, newest_run_id DESC
    """
    return _fetch(source, query, [workload])


def workload_metrics(source: Source, workload: str) -> pa.Table:
    """Metric names recorded by a workload's ok runs, by name.

    Columns: name, unit (one of its units), better ("lower" | "higher"; null when only
    runs older than the column recorded it), n_runs (runs that recorded it).
    """
    query = """
        SELECT m.name, any_value(m.unit) AS unit, any_value(m.better) AS better,
               count(DISTINCT m.run_id) AS n_runs
        FROM metrics m JOIN runs r ON r.run_id = m.run_id
        WHERE r.workload = ? AND r.status = 'ok'
        GROUP BY m.name ORDER BY m.name
    """
    return _fetch(source, query, [workload])


def _params_filter(
    params_json: str | dict | None, topology_hash: str | None = None
) -> tuple[str, list[Any]]:
    """SQL condition and parameters restricting runs to one parameter set and one
    topology (by hash, so overrides count); None: any."""
    condition, params = "", []
    if params_json is not None:
        condition, params = "AND r.params = ?", [canonical_params(params_json)]
    if topology_hash is not None:
        condition, params = f"{condition} AND r.topology_hash = ?", [*params, topology_hash]
    return condition, params


def workload_commits(
    source: Source, workload: str, params_json: str | dict | None = None
) -> pa.Table:
    """The newest ok run of `workload` at each known commit, oldest commit first.

    params_json restricts runs to one parameter set; None takes the newest run at
    each commit whatever its parameters. Columns: commit, commit_time,
    commit_message, git_branch, run_id, params, n_runs (ok runs at that commit).
    Order: commit_time (unknown last), then the commit's first run id.
    """
    condition, params = _params_filter(params_json)
    query = f"""
        WITH r AS (
            SELECT r.git_commit AS commit, r.commit_time, r.commit_message, r.git_branch,
                   r.run_id, r.params,
                   row_number() OVER (PARTITION BY r.git_commit ORDER BY r.run_id DESC) AS newest,
                   count(*) OVER (PARTITION BY r.git_commit) AS n_runs,
                   min(r.run_id) OVER (PARTITION BY r.git_commit) AS first_run_id
            FROM runs r
            WHERE r.workload = ? AND r.status = 'ok' AND r.git_commit IS NOT NULL {condition}
        )
        SELECT commit, commit_time, commit_message, git_branch, run_id, params, n_runs
        FROM r WHERE newest = 1
        ORDER BY commit_time NULLS LAST, first_run_id
    """
    return _fetch(source, query, [workload, *params])


def metric_trend(
    source: Source,
    workload: str,
    metric: str,
    params_json: str | dict | None = None,
    topology_hash: str | None = None,
) -> pa.Table:
    """One metric over commit history: its value in the newest ok run of `workload` at
    each commit (see workload_commits; runs lacking the metric are skipped), of one
    topology when `topology_hash` is given.

    Columns: commit, commit_time, commit_message, git_branch, run_id, params, value,
    unit, topology, topology_hash. Oldest commit first (commit_time, unknown last, then
    first run id).
    """
    condition, params = _params_filter(params_json, topology_hash)
    query = f"""
        WITH r AS (
            SELECT r.git_commit AS commit, r.commit_time, r.commit_message, r.git_branch,
                   r.run_id, r.params, m.value, m.unit, r.topology, r.topology_hash,
                   row_number() OVER (PARTITION BY r.git_commit ORDER BY r.run_id DESC) AS newest,
                   min(r.run_id) OVER (PARTITION BY r.git_commit) AS first_run_id
            FROM runs r JOIN metrics m ON m.run_id = r.run_id AND m.name = ?
            WHERE r.workload = ? AND r.status = 'ok' AND r.git_commit IS NOT NULL {condition}
        )
        SELECT commit, commit_time, commit_message, git_branch, run_id, params, value, unit,
               topology, topology_hash
        FROM r WHERE newest = 1
        ORDER BY commit_time NULLS LAST, first_run_id
    """
    return _fetch(source, query, [metric, workload, *params])
