"""The speed benchmarks' inputs: what they ask `kernbench run` is the case they name."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_speed import GPT3_QKV_SMALL, _run_args, allreduce_128  # noqa: E402
from simulator.cli import build_parser  # noqa: E402
from simulator.workloads.registry import get_workload, parse_sets  # noqa: E402


def test_run_args_name_the_case():
    """The CLI arguments of a case parse back to its workload, topology and parameters."""
    for case in (allreduce_128(64 << 20), GPT3_QKV_SMALL):
        workload, params, topology = case
        args = build_parser().parse_args(["run", *_run_args(case), "--no-trace"])
        assert (args.workload, args.topology) == (workload, topology)
        spec = get_workload(workload)
        assert spec.resolve(parse_sets(args.set)) == spec.resolve(params)
        assert spec.resolve(parse_sets(args.set)) != spec.resolve({})  # not the defaults
