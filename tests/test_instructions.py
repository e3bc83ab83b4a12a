"""Instruction counts under valgrind (benchmarks/instructions.py): the method leaves
start-up out, repeats exactly, and sees what tracing adds."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import instructions
from simulator.hw.topology import load_topology

needs_valgrind = pytest.mark.skipif(
    instructions.valgrind() is None, reason="valgrind is not installed"
)

CALLGRIND_EXIT = """==4242== Events    : Ir
==4242== Collected : 2623417143
==4242==
==4242== I   refs:      2,623,417,143
"""


def test_the_count_is_read_from_callgrinds_exit_line():
    assert instructions.collected_instructions(CALLGRIND_EXIT) == 2_623_417_143


def test_no_count_is_an_error_with_the_output():
    with pytest.raises(RuntimeError, match="(?s)no instruction count.*Segmentation"):
        instructions.collected_instructions("==1== Process terminating: Segmentation fault\n")


def test_the_probe_reports_what_it_simulated(capsys):
    """Without valgrind, the probe runs its work and prints what the ratio divides by:
    the run's engine ops and DMAs, which match the tiled kernel's own count."""
    instructions._probe(["--reps", "2", "case", json.dumps(["gemm", {"N": 256}, "default"])])
    report = json.loads(capsys.readouterr().out)
    # Default gemm: M=2048 rows split over every PE, K=512, 128-tiles. Each output tile
    # takes K/128 x (two loads and a dot), a cast and a store; each load and store is one
    # DMA, besides the host copies and launch messages.
    n_pes = len(list(load_topology("default").pe_coords()))
    tiles = n_pes * math.ceil(2048 / n_pes / 128) * (256 // 128)
    assert report["ops"] == tiles * (3 * 512 // 128 + 2)
    assert report["dmas"] > tiles * (2 * 512 // 128 + 1)


@pytest.mark.slow
@needs_valgrind
def test_start_up_cancels_and_counts_repeat():
    """Per bare timeout, 4000 and 8000 timeouts give the same count (start-up, ~1e9
    instructions, would make the smaller one ~50x larger), and a second measurement
    gives the same number to 0.01 %."""
    small = instructions.per_timeout(4000)
    large = instructions.per_timeout(8000)
    assert small == pytest.approx(large, rel=0.02)
    assert 500 < large < 50_000  # a SimPy event is ~1 us of Python, not ~1 ns nor ~1 ms
    assert instructions.per_timeout(8000) == pytest.approx(large, rel=1e-4)


@pytest.mark.slow
@needs_valgrind
def test_tracing_costs_the_simulating_process_instructions():
    """A traced run executes more instructions than the same untraced run (it builds a
    row per op and per DMA: ~1.18x here; two untraced runs differ by ~0.01 %), and not
    twice as many (the writer process converts and writes them)."""
    case = ("gemm", {"N": 256}, "default")
    untraced = instructions.per_sim_op(case)
    traced = instructions.per_sim_op(case, traced=True)
    assert 1.05 < traced / untraced < 1.5
