"""Per-run overhead of an S3 store (a local moto server) against a local folder store.

    python benchmarks/scripts/store_overhead.py [--runs 20]

Runs `noop` (a few hundred trace rows) and `gemm` (the default, ~10 k rows) `--runs`
times into each store, alternating, and prints the mean wall time per run and the
difference. Needs moto[server] (a dev dependency). Timing only: it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from s3_fixtures import BUCKET, apply_env, moto_server  # noqa: E402

from simulator.runner import run_workload  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with moto_server() as env, tempfile.TemporaryDirectory() as tmp:
        apply_env(env)
        stores = {"local": str(Path(tmp) / "store"), "s3": f"s3://{BUCKET}/bench"}
        for workload in ("noop", "gemm"):
            times: dict[str, list[float]] = {name: [] for name in stores}
            for store in stores.values():  # warm-up: imports, first connections
                run_workload(workload, {}, store=store)
            for _ in range(args.runs):
                for name, store in stores.items():
                    started = time.perf_counter()
                    run_workload(workload, {}, store=store)
                    times[name].append(time.perf_counter() - started)
            local, s3 = (statistics.mean(times[n]) * 1e3 for n in ("local", "s3"))
            print(
                f"{workload:5s}: local {local:7.1f} ms/run, s3 {s3:7.1f} ms/run, "
                f"overhead {s3 - local:+7.1f} ms/run ({s3 / local:.2f}x), {args.runs} runs each"
            )


if __name__ == "__main__":
    main()
