"""Sweeps in a store: the runs that share a `runs.sweep_id`, and their swept parameters.

Pure `store -> table` analyses like `traces.queries` (values bound, never formatted).
A sweep point's parameters are the run's workload params and its topology overrides
(dotted keys) together; `sweep_table` flattens them to one column per key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from traces.verdicts import stored_better
from traces.views import open_connection

if TYPE_CHECKING:
    from traces.views import Source


def list_sweeps(store: Source) -> pa.Table:
    """Sweeps, newest first. Columns: sweep_id, workload, n_runs, n_ok, n_failed,
    first_run_id, last_run_id (ids sort by creation time)."""
    return (
        open_connection(store)
        .sql(
            """
            SELECT sweep_id, any_value(workload) AS workload, count(*) AS n_runs,
                   count(*) FILTER (WHERE status = 'ok') AS n_ok,
                   count(*) FILTER (WHERE status <> 'ok') AS n_failed,
                   min(run_id) AS first_run_id, max(run_id) AS last_run_id
            FROM runs WHERE sweep_id IS NOT NULL
            GROUP BY sweep_id ORDER BY max(run_id) DESC
            """
        )
        .to_arrow_table()
    )


def sweep_runs(store: Source, sweep_id: str) -> pa.Table:
    """Runs of one sweep, oldest first. Columns: run_id, workload, topology, params (JSON),
    overrides (JSON, may be null), status, error, sim_end_ns, wall_s, and `metrics`, a
    MAP metric name -> value."""
    return (
        open_connection(store)
        .sql(
            """
            WITH per_run AS (
                SELECT run_id, map(list(name ORDER BY name), list(value ORDER BY name)) AS metrics
                FROM metrics GROUP BY run_id
            )
            SELECT r.run_id, r.workload, r.topology, r.params, r.overrides, r.status, r.error,
                   r.sim_end_ns, r.wall_s, per_run.metrics
            FROM runs r LEFT JOIN per_run ON per_run.run_id = r.run_id
            WHERE r.sweep_id = ? ORDER BY r.run_id
            """,
            params=[sweep_id],
        )
        .to_arrow_table()
    )


def point_values(params_json: str | None, overrides_json: str | None) -> dict[str, Any]:
    """A run's parameters as one mapping: workload params, then topology overrides."""
    values: dict[str, Any] = dict(json.loads(params_json or "{}"))
    values.update(json.loads(overrides_json or "{}"))
    return values


def sweep_table(store: Source, sweep_id: str) -> tuple[pa.Table, list[str], list[str]]:
    """One row per run of a sweep: run_id, status, topology, one column per parameter,
    one column per metric (its name; values in the metric's own unit).

    Returns (table, swept, metrics): `swept` names the parameter columns whose value
    differs between runs (topology included when it varies), `metrics` the metric columns.
    """
    runs = sweep_runs(store, sweep_id).to_pylist()
    rows: list[dict[str, Any]] = []
    param_names: list[str] = []
    metric_names: list[str] = []
    for run in runs:
        values = point_values(run["params"], run["overrides"])
        metrics = dict(run["metrics"] or {})
        for name in values:
            if name not in param_names:
                param_names.append(name)
        for name in metrics:
            if name not in metric_names:
                metric_names.append(name)
        rows.append({"run_id": run["run_id"], "status": run["status"], **values, **metrics})
        rows[-1]["topology"] = run["topology"]
    metric_names = [m for m in sorted(metric_names) if m not in param_names]
    columns: dict[str, list[Any]] = {"run_id": [], "status": [], "topology": []}
    for name in [*param_names, *metric_names]:
        columns.setdefault(name, [])
    for row in rows:
        for name, column in columns.items():
            column.append(row.get(name))
    table = pa.table(columns) if rows else pa.table({name: [] for name in columns})
    swept = [
        name
        for name in ["topology", *param_names]
        if len({json.dumps(v, sort_keys=True) for v in columns[name]}) > 1
    ]
    return table, swept, metric_names


def sweep_metric_directions(store: Source, sweep_id: str) -> dict[str, str | None]:
    """Which way each metric of a sweep improves: metric name -> "lower" | "higher" | None,
    as the workload declared it (`metrics.better`; traces.verdicts.legacy_better for rows
    recorded before the column existed)."""
    rows = (
        open_connection(store)
        .sql(
            """
            SELECT m.name, any_value(m.unit) AS unit, any_value(m.better) AS better
            FROM metrics m JOIN runs r ON r.run_id = m.run_id
            WHERE r.sweep_id = ? GROUP BY m.name ORDER BY m.name
            """,
            params=[sweep_id],
        )
        .fetchall()
    )
    return {name: stored_better(name, unit, better) for name, unit, better in rows}
