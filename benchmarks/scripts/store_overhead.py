"""What writing a trace costs a run: traced against untraced, and an S3 store against a
local folder.

    python benchmarks/scripts/store_overhead.py tracing [--repeats 5] [--n 20480]
    python benchmarks/scripts/store_overhead.py s3 [--runs 20]

``tracing`` runs whole ``kernbench run`` processes (start-up and imports are part of
what a user waits for), alternating ``--no-trace`` and a traced run into a temporary
store, for ``noop`` and ``gemm --set N=<n>``. It prints, per workload, the shortest and
the median wall time and CPU time (user + system of the child process, which load from
other processes inflates less than wall time) of each mode, the traced/untraced ratio
and the traced-minus-untraced difference; then the peak RSS of a traced gemm with 10x
the events over the default one. The goals of issue 15 are a gemm ratio <= 1.05, a noop
difference <= 100 ms and an RSS ratio <= 1.2.

``s3`` runs ``noop`` and ``gemm`` (the default, ~10 k rows) ``--runs`` times into each
store in this process, alternating, and prints the mean wall time per run and the
difference. Needs moto[server] (a dev dependency).

Timing only: it asserts nothing. Report the load average beside its numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_speed import peak_rss_kib, user_environ  # noqa: E402 - after the path


def child_run(args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one ``python -m simulator ARGS`` (``kernbench ARGS``) process:
    its own resource usage, from wait4 (not its writer process's, which outlives it),
    with the byte code cache on, as an installed project runs (bench_speed.user_environ)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
        env=user_environ(),
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall_s = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return wall_s, usage.ru_utime + usage.ru_stime


def tracing(repeats: int, n: int) -> None:
    """Traced vs untraced whole-process wall and CPU of noop and gemm N=n."""
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    cases = {"noop": ["noop"], f"gemm N={n}": ["gemm", "--set", f"N={n}"]}
    with tempfile.TemporaryDirectory(prefix="kernbench-tracing-") as store:
        for name, args in cases.items():
            modes = {"untraced": [*args, "--no-trace"], "traced": [*args, "--store", store]}
            for mode_args in modes.values():  # warm-up: byte code, page cache
                child_run(["run", *mode_args])
            samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            for _ in range(repeats):
                for mode, mode_args in modes.items():
                    samples[mode].append(child_run(["run", *mode_args]))
            for i, what in enumerate(("wall", "cpu")):
                low = {m: min(s[i] for s in samples[m]) for m in modes}
                mid = {m: statistics.median(s[i] for s in samples[m]) for m in modes}
                print(
                    f"{name:11s} {what:4s}  untraced min {low['untraced']:6.3f} s "
                    f"median {mid['untraced']:6.3f} s  traced min {low['traced']:6.3f} s "
                    f"median {mid['traced']:6.3f} s  ratio(min) "
                    f"{low['traced'] / low['untraced']:5.3f}  ratio(median) "
                    f"{mid['traced'] / mid['untraced']:5.3f}  diff(min) "
                    f"{1e3 * (low['traced'] - low['untraced']):+6.0f} ms  diff(median) "
                    f"{1e3 * (mid['traced'] - mid['untraced']):+6.0f} ms"
                )
    # Peak RSS must stay flat as traces grow: 10x the events (gemm's M 10x) against
    # the default gemm, both traced (goal <= 1.2), in the simulating process and in the
    # writer process it hands its rows to.
    small = min(peak_rss_kib(["gemm"]) for _ in range(2))
    large = min(peak_rss_kib(["gemm", "--set", "M=20480"]) for _ in range(2))
    for i, who in enumerate(("simulating process", "writer process")):
        print(
            f"peak RSS, traced, {who}: gemm {small[i] / 1024:.0f} MiB, gemm M=20480 "
            f"(10x events) {large[i] / 1024:.0f} MiB, ratio {large[i] / small[i]:.3f}"
        )
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {repeats} runs each")


def s3(runs: int) -> None:
    """Per-run overhead of an S3 store (a local moto server) against a local folder."""
    sys.path.insert(0, str(ROOT / "tests"))
    from s3_fixtures import BUCKET, apply_env, moto_server

    from simulator.runner import run_workload

    with moto_server() as env, tempfile.TemporaryDirectory() as tmp:
        apply_env(env)
        stores = {"local": str(Path(tmp) / "store"), "s3": f"s3://{BUCKET}/bench"}
        for workload in ("noop", "gemm"):
            times: dict[str, list[float]] = {name: [] for name in stores}
            for store in stores.values():  # warm-up: imports, first connections
                run_workload(workload, {}, store=store)
            for _ in range(runs):
                for name, store in stores.items():
                    started = time.perf_counter()
                    run_workload(workload, {}, store=store)
                    times[name].append(time.perf_counter() - started)
            local, remote = (statistics.mean(times[n]) * 1e3 for n in ("local", "s3"))
            print(
                f"{workload:5s}: local {local:7.1f} ms/run, s3 {remote:7.1f} ms/run, "
                f"overhead {remote - local:+7.1f} ms/run ({remote / local:.2f}x), {runs} runs each"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    p_tracing = verbs.add_parser("tracing", help="traced vs --no-trace whole processes")
    p_tracing.add_argument("--repeats", type=int, default=5)
    p_tracing.add_argument("--n", type=int, default=20480, help="gemm's N")
    p_s3 = verbs.add_parser("s3", help="an S3 store (moto) vs a local folder")
    p_s3.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if args.verb == "tracing":
        tracing(args.repeats, args.n)
    else:
        s3(args.runs)


if __name__ == "__main__":
    main()
