"""Simulator speed in CPU instructions counted by valgrind, which busy machines do not move.

Wall and CPU seconds on a shared 2-core machine move by 5-10 % between back-to-back runs
of the same tree, more than most changes to the simulator's speed. The number of
instructions one process executes does not depend on what else the machine runs: valgrind's
callgrind counts it, the same to a few parts in ten thousand from run to run.

Method: the probe (this file run as a script) does one piece of work ``reps`` times in one
process. Valgrind counts the whole process, so the work's own count is the count at
``reps=2`` minus the count at ``reps=1``: the interpreter's start-up, imports and
first-use work cancel out. The two counts run side by side (two processes).

Kinds of work:

- ``bare N``: one SimPy process yielding ``N`` ``env.timeout(1.0)`` (SimPy's ceiling);
- ``case JSON``: an untraced simulation of ``[workload, params, topology]``;
- ``traced JSON``: the same simulation traced into a temporary store through the writer
  process. Valgrind follows only the simulating process (the writer process runs on the
  other core): its count is what tracing costs the simulation itself.

Instructions are not seconds (a cache miss costs more than an add), so these counts
complement the wall-time tracks in ``bench_speed.py``; they do not replace them. They
repeat exactly for one checkout; two checkouts of the same code in different folders
differed by 1.0 % (objects land at other addresses, and dict lookups of objects hashed by
address probe differently), so compare commits checked out in one place, as asv does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# What callgrind prints at exit: "==1234== Collected : 2623417143".
_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)\s*$", re.MULTILINE)
_ROOT = Path(__file__).resolve().parent.parent


def valgrind() -> str | None:
    """The valgrind command, or None where it is not installed."""
    return shutil.which("valgrind")


def collected_instructions(stderr: str) -> int:
    """The instruction count callgrind printed at exit. Raises RuntimeError (with the
    output) when there is none, e.g. the process died under valgrind."""
    found = _COLLECTED.findall(stderr)
    if not found:
        raise RuntimeError(f"valgrind printed no instruction count:\n{stderr[-2000:]}")
    return int(found[-1])


def _count(valgrind_path: str, work: list[str], reps: int) -> tuple[int, dict[str, Any]]:
    """(instructions of the whole probe process, what the probe printed) for ``reps``."""
    command = [
        valgrind_path, "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, str(Path(__file__).resolve()), "--reps", str(reps), *work,
    ]  # fmt: skip
    # A fixed hash seed: dict and set layouts, hence instruction counts, repeat.
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(_ROOT))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(work)} failed under valgrind:\n{done.stderr[-2000:]}")
    return collected_instructions(done.stderr), json.loads(done.stdout.splitlines()[-1])


def instructions(work: list[str]) -> tuple[int, dict[str, Any]]:
    """(instructions of one more ``work``, what the probe reports of it: ops, dmas).

    Raises RuntimeError when valgrind is missing or the probe fails.
    """
    valgrind_path = valgrind()
    if valgrind_path is None:
        raise RuntimeError("valgrind is not installed (Debian: apt-get install valgrind)")
    with ThreadPoolExecutor(max_workers=2) as pool:
        once, twice = pool.map(lambda reps: _count(valgrind_path, work, reps), (1, 2))
    return twice[0] - once[0], twice[1]


def per_timeout(n_timeouts: int = 20_000) -> float:
    """Instructions per bare SimPy ``env.timeout`` event."""
    count, _ = instructions(["bare", str(n_timeouts)])
    return count / n_timeouts


def per_sim_op(case: tuple[str, dict[str, Any], str], *, traced: bool = False) -> float:
    """Instructions of the simulating process per engine op plus DMA of ``case``."""
    count, report = instructions(["traced" if traced else "case", json.dumps(case)])
    return count / (report["ops"] + report["dmas"])


# -- the probe (what valgrind runs) -------------------------------------------------------
def _bare(n_timeouts: int) -> dict[str, Any]:
    import simpy

    env = simpy.Environment()

    def ticker(env: simpy.Environment):
        for _ in range(n_timeouts):
            yield env.timeout(1.0)

    env.process(ticker(env))
    env.run()
    return {"timeouts": n_timeouts}


def _simulate(case: list[Any], store: str | None) -> dict[str, Any]:
    from simulator.runner import run_workload

    workload, params, topology = case
    outcome = run_workload(workload, params, topology=topology, trace=store is not None,
                           store=store)  # fmt: skip
    if outcome.status != "ok":
        raise RuntimeError(f"{workload} {params} on {topology} failed: {outcome.error}")
    return {"ops": outcome.n_ops, "dmas": outcome.n_dmas}


def _probe(argv: list[str]) -> None:
    reps = 1
    if argv[:1] == ["--reps"]:
        reps, argv = int(argv[1]), argv[2:]
    kind, arg = argv
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kernbench-instructions-") as store:
        for _ in range(reps):
            if kind == "bare":
                report = _bare(int(arg))
            else:
                report = _simulate(json.loads(arg), store if kind == "traced" else None)
    print(json.dumps(report))


if __name__ == "__main__":
    _probe(sys.argv[1:])
