"""A hand-written asv results folder (two commits, one machine) for tests."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ["result", "params", "version", "started_at", "duration"]
COMMITS = ("a" * 40, "b" * 40)
DATES_MS = (1_790_000_000_000, 1_790_000_600_000)
# time_noop over topology x launches: product order (default,1) (default,8) (sip4x4,1) ...
NOOP = ([0.010, 0.020, None, 0.040], [0.011, 0.022, 0.033, 0.044])
TRACK = (5000.0, 5500.0)


def write_asv_results(root: Path) -> Path:
    """``root/results`` as asv writes it; returns the results folder."""
    results = root / "results"
    (results / "ci-box").mkdir(parents=True)
    (results / "ci-box" / "machine.json").write_text(json.dumps({"machine": "ci-box"}))
    (results / "benchmarks.json").write_text(json.dumps({
        "bench_simulator.Launch.time_noop": {
            "unit": "seconds", "param_names": ["topology", "launches"], "type": "time",
            "params": [["'default'", "'sip4x4'"], ["1", "8"]],
        },
        "bench_simulated.SimulatedGemm.track_latency_ns": {
            "unit": "ns", "param_names": [], "type": "track", "params": [],
        },
        "version": 2,
    }))  # fmt: skip
    for commit, date, noop, track in zip(COMMITS, DATES_MS, NOOP, TRACK, strict=True):
        payload = {
            "commit_hash": commit, "date": date, "result_columns": COLUMNS, "version": 2,
            "results": {
                "bench_simulator.Launch.time_noop": [
                    noop, [["'default'", "'sip4x4'"], ["1", "8"]], "v", date, 1.0
                ],
                "bench_simulated.SimulatedGemm.track_latency_ns": [[track], [], "v", date, 1.0],
            },
        }  # fmt: skip
        (results / "ci-box" / f"{commit[:8]}-virtualenv-py3.11.json").write_text(
            json.dumps(payload)
        )
    (results / "ci-box" / "not-asv.json").write_text("{}")  # skipped, not fatal
    return results
