"""``triton.runtime``: the driver host code asks about the device
(``triton.runtime.driver.active``), answered by the simulated one."""

from simulator.triton.runtime.driver import driver

__all__ = ["driver"]
