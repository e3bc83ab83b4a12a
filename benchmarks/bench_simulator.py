"""Simulator speed and memory on small workloads: wall time, peak memory, event rates."""

from __future__ import annotations

from .common import (
    ALLREDUCE_ALGORITHMS,
    allreduce_case,
    best_wall_s,
    rate_case,
    require_workload,
    run_case,
    simpy_timeouts_per_s,
    simulator_ops_per_s,
    small_case,
)


class Launch:
    """`noop` launches on every PE: the launch path, barrier and per-PE bookkeeping."""

    params = (["default", "sip4x4"], [1, 8])
    param_names = ["topology", "launches"]

    def setup(self, topology: str, launches: int) -> None:
        self.case = ("noop", {"launches": launches}, topology)

    def time_noop(self, topology: str, launches: int) -> None:
        run_case(self.case)

    def peakmem_noop(self, topology: str, launches: int) -> None:
        run_case(self.case)


class Gemm:
    """Small tiled GEMMs, on one PE and sharded over the 32 PEs of `default`."""

    params = ["gemm_single_pe", "gemm"]
    param_names = ["workload"]

    def setup(self, workload: str) -> None:
        self.case = small_case(workload)

    def time_run(self, workload: str) -> None:
        run_case(self.case)

    def peakmem_run(self, workload: str) -> None:
        run_case(self.case)


class DmaSweep:
    """Transfers of three sizes over the four named paths of `dma_sweep`."""

    def setup(self) -> None:
        self.case = small_case("dma_sweep")

    def time_run(self) -> None:
        run_case(self.case)


class AllReduce:
    """A 1 MiB all-reduce over 8 ranks (skipped where `ccl_allreduce` does not exist)."""

    params = list(ALLREDUCE_ALGORITHMS)
    param_names = ["algorithm"]

    def setup(self, algorithm: str) -> None:
        require_workload("ccl_allreduce")
        self.case = allreduce_case(algorithm)

    def time_run(self, algorithm: str) -> None:
        run_case(self.case)

    def peakmem_run(self, algorithm: str) -> None:
        run_case(self.case)


class TraceOverhead:
    """How much recording the trace costs: wall time traced / untraced (best of 5 each)."""

    params = ["noop", "gemm"]
    param_names = ["workload"]
    timeout = 300

    def setup_cache(self) -> dict[str, float]:
        ratios = {}
        for workload in self.params:
            case = small_case(workload)
            traced_s = best_wall_s(case, trace=True, repeats=5)
            ratios[workload] = traced_s / best_wall_s(case, trace=False, repeats=5)
        return ratios

    def track_traced_over_untraced(self, ratios: dict[str, float], workload: str) -> float:
        return ratios[workload]

    track_traced_over_untraced.unit = "ratio"


class EventRate:
    """Simulator ops (engine ops + DMAs) per second against bare SimPy timeouts per
    second, both measured in one process so the machine's speed cancels in the ratio."""

    timeout = 300

    def setup_cache(self) -> dict[str, float]:
        return {
            "sim_ops_per_s": simulator_ops_per_s(rate_case()),
            "simpy_timeouts_per_s": simpy_timeouts_per_s(),
        }

    # asv reads every track_ value as lower-is-better, so rates are tracked as the time
    # per event (an asv regression is then a slower simulator).
    def track_wall_us_per_sim_op(self, rates: dict[str, float]) -> float:
        return 1e6 / rates["sim_ops_per_s"]

    track_wall_us_per_sim_op.unit = "us/op"

    def track_wall_us_per_simpy_timeout(self, rates: dict[str, float]) -> float:
        return 1e6 / rates["simpy_timeouts_per_s"]

    track_wall_us_per_simpy_timeout.unit = "us/timeout"

    def track_simpy_timeouts_per_sim_op(self, rates: dict[str, float]) -> float:
        """Wall time of one simulator op in bare SimPy timeouts (the machine's speed cancels)."""
        return rates["simpy_timeouts_per_s"] / rates["sim_ops_per_s"]

    track_simpy_timeouts_per_sim_op.unit = "timeouts/op"
