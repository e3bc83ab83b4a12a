"""``triton.runtime.driver.active`` over the simulated device.

Host code sizes persistent grids and checks limits with the GPU driver's answers::

    properties = triton.runtime.driver.active.utils.get_device_properties(0)
    NUM_SM = properties["multiprocessor_count"]

Here the device is the newest :class:`~simulator.runtime.runtime.Runtime`'s (or the
Runtime passed as ``device``), and each property is its counterpart in the topology: a
PE is a streaming multiprocessor and its TCM the shared memory. A property with no
counterpart (registers, warps) is one clear error naming those there are, not a made-up
number.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from simulator.engine.errors import SimulationError


class DriverError(SimulationError, KeyError):
    """A driver question the simulated device cannot answer."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class GPUTarget(NamedTuple):
    """What ``driver.active.get_current_target()`` names (Triton's ``GPUTarget``)."""

    backend: str
    arch: str
    warp_size: int


class DeviceProperties(dict):
    """The device's properties by Triton's names; an unknown name is a DriverError."""

    def __missing__(self, name: str) -> Any:
        raise DriverError(
            f"device property {name!r} has no counterpart on the simulated device (it has: "
            f"{', '.join(sorted(self))}); the simulator models no registers or warps"
        )


def _runtime(device: Any) -> Any:
    from simulator.runtime.runtime import Runtime, newest_runtime

    if isinstance(device, Runtime):
        return device
    runtime = newest_runtime()
    if runtime is None:
        raise DriverError("no simulated device yet: create a Runtime before asking the driver")
    return runtime


class _Utils:
    def get_device_properties(self, device: Any = None) -> DeviceProperties:
        """The properties of ``device`` (a Runtime; an index or None: the newest one):
        ``multiprocessor_count`` (its PEs), ``max_shared_mem`` (a PE's TCM bytes),
        ``sm_clock_rate`` (the PE clock, kHz) and ``num_sips``."""
        runtime = _runtime(device)
        pe = runtime.topology.params.pe
        return DeviceProperties(
            multiprocessor_count=len(runtime.device_pes),
            max_shared_mem=pe.tcm.capacity_kib * 1024,
            sm_clock_rate=round(pe.clock_ghz * 1e6),
            num_sips=len(runtime.sips),
        )


class _ActiveDriver:
    """``triton.runtime.driver.active``."""

    utils = _Utils()

    def get_current_device(self) -> int:
        """The device's index: its first SIP's."""
        return _runtime(None).sips[0]

    def set_current_device(self, device: int) -> None:
        """Accepted: the simulated device is the Runtime's (``Runtime(device=...)``)."""

    def get_current_stream(self, device: Any = None) -> int:
        """Stream 0: launches order as the Runtime's streams say, not by this handle."""
        return 0

    def get_current_target(self) -> GPUTarget:
        """The simulated target: backend ``kernbench``, arch its topology's name."""
        return GPUTarget("kernbench", _runtime(None).topology.name, 1)

    def get_active_torch_device(self) -> Any:
        raise DriverError(
            "get_active_torch_device: the simulator has no torch device; make tensors with "
            "rt.from_numpy / rt.empty (see the README's porting table)"
        )


class _Driver:
    """``triton.runtime.driver``: its ``active`` driver is the simulated device's."""

    active = _ActiveDriver()


driver = _Driver()
