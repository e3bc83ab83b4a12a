"""Simulated results (deterministic) as asv `track_*` values, so they get a history too.

Each value is exactly the metric `kernbench run` reports for the same case.
"""

from __future__ import annotations

from .common import (
    ALLREDUCE_ALGORITHMS,
    SMALL_CASES,
    allreduce_case,
    available_workloads,
    launch_case,
    simulated_metrics,
)

Metrics = dict[str, float]


class SimulatedLaunch:
    """`noop`: launch latency and start spread, with the IO_CPU barrier on and off."""

    params = (["default", "sip4x4", "multi_sip"], [True, False])
    param_names = ["topology", "barrier"]

    def setup_cache(self) -> dict[tuple[str, bool], Metrics]:
        topologies, barriers = self.params
        return {(t, b): simulated_metrics(launch_case(t, b)) for t in topologies for b in barriers}

    def track_latency_ns(self, metrics, topology: str, barrier: bool) -> float:
        return metrics[(topology, barrier)]["launch_latency_ns"]

    track_latency_ns.unit = "ns"

    def track_spread_ns(self, metrics, topology: str, barrier: bool) -> float:
        return metrics[(topology, barrier)]["spread_ns"]

    track_spread_ns.unit = "ns"


class SimulatedGemm:
    """Small GEMMs: latency, kernel time, TFLOP/s and utilisation of the GEMM arrays."""

    params = ["gemm_single_pe", "gemm"]
    param_names = ["workload"]

    def setup_cache(self) -> dict[str, Metrics]:
        return {workload: simulated_metrics(SMALL_CASES[workload]) for workload in self.params}

    def track_latency_ns(self, metrics, workload: str) -> float:
        return metrics[workload]["latency_ns"]

    track_latency_ns.unit = "ns"

    def track_kernel_ns(self, metrics, workload: str) -> float:
        return metrics[workload]["kernel_ns"]

    track_kernel_ns.unit = "ns"

    def track_tflops(self, metrics, workload: str) -> float:
        return metrics[workload]["tflops"]

    track_tflops.unit = "TFLOP/s"

    def track_utilisation(self, metrics, workload: str) -> float:
        return metrics[workload]["utilisation"]

    track_utilisation.unit = "ratio"


class SimulatedDma:
    """`dma_sweep`: fitted bandwidth and fixed latency (alpha) of each path."""

    params = ["own_hbm", "other_cube_hbm", "other_pe_tcm", "host_hbm"]
    param_names = ["path"]

    def setup_cache(self) -> Metrics:
        return simulated_metrics(SMALL_CASES["dma_sweep"])

    def track_bw_gbs(self, metrics, path: str) -> float:
        return metrics[f"dma.{path}.bw_gbs"]

    track_bw_gbs.unit = "GB/s"

    def track_alpha_ns(self, metrics, path: str) -> float:
        return metrics[f"dma.{path}.alpha_ns"]

    track_alpha_ns.unit = "ns"


class SimulatedAllReduce:
    """A 1 MiB all-reduce over 8 ranks: latency and bus bandwidth (nccl-tests busbw)."""

    params = list(ALLREDUCE_ALGORITHMS)
    param_names = ["algorithm"]

    def setup_cache(self) -> dict[str, Metrics]:
        if "ccl_allreduce" not in available_workloads():
            return {}  # setup() skips every case (asv does not pass a None cache on)
        return {
            algorithm: simulated_metrics(allreduce_case(algorithm)) for algorithm in self.params
        }

    def setup(self, metrics, algorithm: str) -> None:
        if not metrics:
            raise NotImplementedError("workload 'ccl_allreduce' does not exist in this version")

    def track_latency_ns(self, metrics, algorithm: str) -> float:
        return metrics[algorithm]["latency_ns"]

    track_latency_ns.unit = "ns"

    def track_busbw_gbs(self, metrics, algorithm: str) -> float:
        return metrics[algorithm]["busbw_gbs"]

    track_busbw_gbs.unit = "GB/s"
