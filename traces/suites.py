"""Named workload suites: the standard cases, defined once in ``traces/suites.yaml``.

A suite is a list of entries (workload, the parameters it sets, topology). The demo
(`kernbench demo`), the smoke suite of `kernbench history`/`check`, and the asv
benchmarks' cases all come from that file. This module also finds the runs of a
suite's entries in a store (`find_suite_runs`) and reads their metrics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUITES_FILE = Path(__file__).with_name("suites.yaml")
DEFAULT_SUITE = "smoke"
DEFAULT_TOPOLOGY = "default"
_SHORT = 10  # characters of a commit hash in messages
_ENTRY_KEYS = ("workload", "params", "topology")


class SuiteError(Exception):
    """A bad suite file or suite name, or missing runs; the message says what to fix."""


class MissingRunsError(SuiteError):
    """The store lacks ok suite runs at a commit.

    ``missing`` lists (commit, entry, reason) for each absent run; reason is "missing"
    or "failed in run RUN_ID: ERROR".
    """

    def __init__(self, missing: list[tuple[str, SuiteEntry, str]]):
        self.missing = missing
        by_commit: dict[str, list[str]] = {}
        for commit, entry, reason in missing:
            by_commit.setdefault(commit, []).append(f"{entry.label} {reason}")
        parts = [f"at {commit[:_SHORT]}: {', '.join(runs)}" for commit, runs in by_commit.items()]
        super().__init__("no ok suite runs " + "; ".join(parts))


def _cli_value(value: Any) -> str:
    """A parameter value as `--set K=V` spells it (bools as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class SuiteEntry:
    """One run of a suite: a workload, the parameters it sets, and a topology."""

    workload: str
    params: dict[str, Any] = field(default_factory=dict)
    topology: str = DEFAULT_TOPOLOGY

    @property
    def params_text(self) -> str:
        """The set parameters as `K=V K=V` ("defaults" when none), plus a non-default topology."""
        text = " ".join(f"{k}={_cli_value(v)}" for k, v in self.params.items()) or "defaults"
        if self.topology != DEFAULT_TOPOLOGY:
            text += f" on {self.topology}"
        return text

    @property
    def label(self) -> str:
        """`workload (params)`, for messages."""
        return f"{self.workload} ({self.params_text})"

    def run_args(self) -> list[str]:
        """Arguments of `kernbench run` for this entry (without --json and --store)."""
        args = ["run", self.workload]
        for key, value in self.params.items():
            args += ["--set", f"{key}={_cli_value(value)}"]
        return [*args, "--topology", self.topology]

    def matches(self, workload: str, topology: str, params: dict[str, Any]) -> bool:
        """Whether a run of `workload` on `topology` with (resolved) `params` is this entry.

        Values compare as `--set` spells them, so `M: 256` matches a stored 256 or "256".
        """
        if workload != self.workload or topology != self.topology:
            return False
        return all(
            key in params and _cli_value(params[key]) == _cli_value(value)
            for key, value in self.params.items()
        )


def load_suites(path: str | Path = SUITES_FILE) -> dict[str, list[SuiteEntry]]:
    """Every suite of a suites YAML file, by name.

    Raises SuiteError naming the file, suite, entry and key of anything malformed.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(f"cannot read suites file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"suites file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise SuiteError(f"suites file {path}: expected a mapping of suite name -> suite")
    return {str(name): _parse_suite(path, str(name), suite) for name, suite in data.items()}


def _parse_suite(path: Path, name: str, suite: Any) -> list[SuiteEntry]:
    where = f"suites file {path}: suite {name!r}"
    if not isinstance(suite, dict) or not isinstance(suite.get("runs"), list) or not suite["runs"]:
        raise SuiteError(f"{where}: expected a mapping with a non-empty list 'runs'")
    unknown = set(suite) - {"description", "runs"}
    if unknown:
        raise SuiteError(f"{where}: unknown key {sorted(unknown)[0]!r}; valid: description, runs")
    entries = []
    for number, run in enumerate(suite["runs"], start=1):
        at = f"{where} run {number}"
        if not isinstance(run, dict) or not isinstance(run.get("workload"), str):
            raise SuiteError(f"{at}: expected a mapping with a string 'workload'")
        unknown = set(run) - set(_ENTRY_KEYS)
        if unknown:
            key = sorted(unknown)[0]
            raise SuiteError(f"{at}: unknown key {key!r}; valid: {', '.join(_ENTRY_KEYS)}")
        params = run.get("params") or {}
        if not isinstance(params, dict):
            raise SuiteError(f"{at}: 'params' must be a mapping of parameter -> value")
        for key, value in params.items():
            if not isinstance(value, str | int | float | bool):
                raise SuiteError(f"{at}: params.{key} must be a number, bool or string")
        topology = run.get("topology", DEFAULT_TOPOLOGY)
        if not isinstance(topology, str):
            raise SuiteError(f"{at}: 'topology' must be a topology name")
        entries.append(
            SuiteEntry(run["workload"], {str(k): v for k, v in params.items()}, topology)
        )
    return entries


def load_suite(name: str, path: str | Path = SUITES_FILE) -> list[SuiteEntry]:
    """The entries of suite `name`; raises SuiteError listing the suites that exist."""
    suites = load_suites(path)
    if name not in suites:
        raise SuiteError(f"no suite {name!r} in {path}; suites: {', '.join(sorted(suites))}")
    return suites[name]


@dataclass(frozen=True)
class SuiteRun:
    """The run chosen for one (commit, entry): see find_suite_runs."""

    run_id: str
    status: str
    error: str | None
    dirty: bool


def find_suite_runs(
    source: Any, entries: Sequence[SuiteEntry], commits: Sequence[str]
) -> dict[tuple[str, int], SuiteRun]:
    """The run of each (commit, entry index) in the store, where one exists.

    A run matches an entry when SuiteEntry.matches holds. Of several, the newest ok run
    of a clean tree wins, then the newest ok run of a dirty tree, then the newest failed
    run. `source` is a store path, Store or DuckDB connection with the trace views.
    """
    if not commits or not entries:
        return {}
    from traces.views import open_connection  # DuckDB only once a store is read

    rows = (
        open_connection(source)
        .sql(
            """
            SELECT run_id, workload, topology, params, git_commit, git_dirty, status, error
            FROM runs
            WHERE list_contains(?, workload) AND list_contains(?, git_commit)
            ORDER BY run_id
            """,
            params=[sorted({e.workload for e in entries}), list(commits)],
        )
        .fetchall()
    )
    best: dict[tuple[str, int], tuple[tuple[int, str], SuiteRun]] = {}
    for run_id, workload, topology, params_json, commit, dirty, status, error in rows:
        params = json.loads(params_json) if params_json else {}
        # Higher ranks first: ok beats failed, clean beats dirty, newer beats older.
        rank = ((2 if status == "ok" else 0) + (0 if dirty else 1), run_id)
        for index, entry in enumerate(entries):
            if not entry.matches(workload, topology, params):
                continue
            key = (commit, index)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, SuiteRun(run_id, status, error, bool(dirty)))
    return {key: run for key, (_, run) in best.items()}


def run_metric_values(
    source: Any, run_ids: Sequence[str]
) -> dict[str, dict[str, tuple[float, str, str | None]]]:
    """Metrics of each run: run id -> metric name -> (value, unit, better).

    `better` is the stored direction ("lower" | "higher"), None for runs recorded
    before the metrics table had one (traces.verdicts.stored_better decides those).
    """
    values: dict[str, dict[str, tuple[float, str, str | None]]] = {r: {} for r in run_ids}
    if not run_ids:
        return values
    from traces.views import open_connection  # DuckDB only once a store is read

    rows = (
        open_connection(source)
        .sql(
            "SELECT run_id, name, value, unit, better FROM metrics WHERE list_contains(?, run_id)",
            params=[list(run_ids)],
        )
        .fetchall()
    )
    for run_id, name, value, unit, better in rows:
        values[run_id][name] = (value, unit, better)
    return values
