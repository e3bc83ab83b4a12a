"""Simulated results (deterministic) as asv `track_*` values, so they get a history too.

asv reads every track_ value as lower-is-better. Each value here is the metric
`kernbench run` reports for the same case, passed through `common.cost`: as it is when
the workload declares lower is better, its reciprocal when higher is better (TFLOP/s
becomes ps per FLOP, GB/s ns per byte, utilisation peak over achieved). So an asv
regression is always a real one.
"""

from __future__ import annotations

from .common import (
    ALLREDUCE_ALGORITHMS,
    Metrics,
    allreduce_case,
    available_workloads,
    cost,
    launch_case,
    simulated_metrics,
    small_case,
)


class SimulatedLaunch:
    """`noop`: launch latency and start spread, with the IO_CPU barrier on and off."""

    params = (["default", "sip4x4", "multi_sip"], [True, False])
    param_names = ["topology", "barrier"]

    def setup_cache(self) -> dict[tuple[str, bool], Metrics]:
        topologies, barriers = self.params
        return {(t, b): simulated_metrics(launch_case(t, b)) for t in topologies for b in barriers}

    def track_latency_ns(self, metrics, topology: str, barrier: bool) -> float:
        return cost(metrics[(topology, barrier)], "launch_latency_ns")

    track_latency_ns.unit = "ns"

    def track_spread_ns(self, metrics, topology: str, barrier: bool) -> float:
        return cost(metrics[(topology, barrier)], "spread_ns")

    track_spread_ns.unit = "ns"


class SimulatedGemm:
    """Small GEMMs: latency, kernel time, time per FLOP and how far from peak the arrays run."""

    params = ["gemm_single_pe", "gemm"]
    param_names = ["workload"]

    def setup_cache(self) -> dict[str, Metrics]:
        return {workload: simulated_metrics(small_case(workload)) for workload in self.params}

    def track_latency_ns(self, metrics, workload: str) -> float:
        return cost(metrics[workload], "latency_ns")

    track_latency_ns.unit = "ns"

    def track_kernel_ns(self, metrics, workload: str) -> float:
        return cost(metrics[workload], "kernel_ns")

    track_kernel_ns.unit = "ns"

    def track_ps_per_flop(self, metrics, workload: str) -> float:
        """1 / tflops (1 TFLOP/s is one FLOP per ps)."""
        return cost(metrics[workload], "tflops")

    track_ps_per_flop.unit = "ps/FLOP"

    def track_peak_over_achieved(self, metrics, workload: str) -> float:
        """1 / utilisation of the GEMM arrays (1 at peak)."""
        return cost(metrics[workload], "utilisation")

    track_peak_over_achieved.unit = "ratio"


class SimulatedDma:
    """`dma_sweep`: fitted time per byte (1 / bandwidth) and fixed latency (alpha) of each path."""

    params = ["own_hbm", "other_cube_hbm", "other_pe_tcm", "host_hbm"]
    param_names = ["path"]

    def setup_cache(self) -> Metrics:
        return simulated_metrics(small_case("dma_sweep"))

    def track_ns_per_byte(self, metrics, path: str) -> float:
        """1 / bw_gbs (1 GB/s is one byte per ns)."""
        return cost(metrics, f"dma.{path}.bw_gbs")

    track_ns_per_byte.unit = "ns/B"

    def track_alpha_ns(self, metrics, path: str) -> float:
        return cost(metrics, f"dma.{path}.alpha_ns")

    track_alpha_ns.unit = "ns"


class SimulatedAllReduce:
    """A 1 MiB all-reduce over 8 ranks: latency and time per byte of bus bandwidth."""

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
        return cost(metrics[algorithm], "latency_ns")

    track_latency_ns.unit = "ns"

    def track_bus_ns_per_byte(self, metrics, algorithm: str) -> float:
        """1 / busbw_gbs (nccl-tests' bus bandwidth)."""
        return cost(metrics[algorithm], "busbw_gbs")

    track_bus_ns_per_byte.unit = "ns/B"


class SimulatedTritonKernels:
    """Kernels written as Triton users write them: kernel time and how far from its
    roofline bound each runs (1 / efficiency), skipped at commits without the workload."""

    params = ["matmul_splitk", "dropout", "attention", "grouped_gemm", "layernorm_backward", "moe"]
    param_names = ["workload"]

    def setup_cache(self) -> dict[str, Metrics]:
        return {
            workload: simulated_metrics(small_case(workload))
            for workload in self.params
            if workload in available_workloads()
        }

    def setup(self, metrics, workload: str) -> None:
        if workload not in metrics:
            raise NotImplementedError(f"workload {workload!r} does not exist in this version")

    def track_kernel_ns(self, metrics, workload: str) -> float:
        return cost(metrics[workload], "kernel_ns")

    track_kernel_ns.unit = "ns"

    def track_bound_over_achieved(self, metrics, workload: str) -> float:
        """1 / efficiency: the kernel's time over its roofline bound from the YAML."""
        return cost(metrics[workload], "efficiency")

    track_bound_over_achieved.unit = "ratio"
