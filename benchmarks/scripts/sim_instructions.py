"""Simulator speed in instructions counted by valgrind: the same on a busy machine.

    python benchmarks/scripts/sim_instructions.py [--json]

For each case, the instructions the simulating process executes per engine op plus DMA
(``instr_per_op``), over those of one bare SimPy ``env.timeout`` (``timeouts_per_op``:
issue 15's ratio in instructions, goal <= 6.7), and, for a gemm, traced over untraced
(goal 1.05 in wall time). Each count is the difference of two processes under valgrind
(see ``benchmarks/instructions.py``), so start-up is left out; it repeats to a few parts
in ten thousand, where wall times here move by 5-10 %. Needs valgrind; takes ~3 minutes.
Instructions are not seconds: the simulator misses the caches more than the bare loop, so
its wall-time ratio (``sim_speed.py``) is lower than this one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import instructions  # noqa: E402 - after the path above
from benchmarks.bench_speed import GPT3_QKV_SMALL, INSTRUCTION_GEMM, allreduce_128  # noqa: E402

# (label, case, traced too): small enough for valgrind (~50x slower than native).
CASES = (
    ("gpt3_qkv small", GPT3_QKV_SMALL, False),
    ("128-rank hierarchical all-reduce, 1 KiB", allreduce_128(1024), False),
    ("gemm N=2048", INSTRUCTION_GEMM, True),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    if instructions.valgrind() is None:
        sys.exit("sim_instructions.py: valgrind is not installed (Debian: apt install valgrind)")
    per_timeout = instructions.per_timeout()
    if args.json:
        print(json.dumps({"case": "bare SimPy env.timeout", "instr_per_timeout": per_timeout}))
    else:
        print(f"bare SimPy env.timeout: {per_timeout:,.0f} instructions")
        print(f"{'case':42} {'instr_per_op':>12} {'timeouts_per_op':>15} {'traced/untraced':>15}")
    for label, case, traced in CASES:
        per_op = instructions.per_sim_op(case)
        ratio = instructions.per_sim_op(case, traced=True) / per_op if traced else None
        if args.json:
            print(json.dumps({"case": label, "instr_per_op": per_op,
                              "timeouts_per_op": per_op / per_timeout,
                              "traced_over_untraced": ratio}))  # fmt: skip
            continue
        shown = f"{ratio:15.3f}" if ratio is not None else f"{'-':>15}"
        print(f"{label:42} {per_op:12,.0f} {per_op / per_timeout:15.2f} {shown}")


if __name__ == "__main__":
    main()
