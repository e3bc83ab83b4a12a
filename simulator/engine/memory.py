"""Physical memory: allocators over address windows and, in data mode, real bytes.

An allocator hands out physical addresses inside one window (an HBM slice, a CUBE_SRAM)
with a bump pointer; freeing is not modelled because tensors live for a whole run.
:class:`DataMemory` holds the bytes of every allocation when ``verify_data`` is on.
"""

from __future__ import annotations

import bisect

import numpy as np

from simulator.engine.errors import SimulationError


class OutOfMemoryError(SimulationError):
    """An allocation does not fit in its memory window."""


class PhysicalAllocator:
    """Bump allocator over ``[base_pa, base_pa + size_bytes)`` of one memory."""

    def __init__(self, name: str, base_pa: int, size_bytes: int, align_bytes: int) -> None:
        self.name = name
        self.base_pa = base_pa
        self.size_bytes = size_bytes
        self.align_bytes = align_bytes
        self.used_bytes = 0

    def alloc(self, nbytes: int) -> int:
        """Reserve ``nbytes`` (rounded up to the alignment); return the physical address."""
        size = -(-max(nbytes, 1) // self.align_bytes) * self.align_bytes
        if self.used_bytes + size > self.size_bytes:
            free = self.size_bytes - self.used_bytes
            raise OutOfMemoryError(
                f"{self.name}: cannot allocate {nbytes} bytes, {free} of "
                f"{self.size_bytes} bytes free"
            )
        pa = self.base_pa + self.used_bytes
        self.used_bytes += size
        return pa


class DataMemory:
    """The bytes behind every allocation, found by physical address (data mode only)."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._buffers: list[np.ndarray] = []

    def add(self, base_pa: int, nbytes: int) -> None:
        """Back ``[base_pa, base_pa + nbytes)`` with zeroed bytes."""
        i = bisect.bisect(self._bases, base_pa)
        self._bases.insert(i, base_pa)
        self._buffers.insert(i, np.zeros(nbytes, dtype=np.uint8))

    def _locate(self, pa: int, nbytes: int) -> tuple[np.ndarray, int]:
        i = bisect.bisect(self._bases, pa) - 1
        if i >= 0:
            buf = self._buffers[i]
            offset = pa - self._bases[i]
            if offset + nbytes <= buf.size:
                return buf, offset
        raise SimulationError(f"no data memory backs 0x{pa:x}..0x{pa + nbytes:x}")

    def read(self, pa: int, nbytes: int) -> np.ndarray:
        """A copy of ``nbytes`` bytes at ``pa``."""
        buf, offset = self._locate(pa, nbytes)
        return buf[offset : offset + nbytes].copy()

    def write(self, pa: int, data: np.ndarray) -> None:
        """Write ``data`` (any dtype, taken as raw bytes) at ``pa``."""
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        buf, offset = self._locate(pa, raw.size)
        buf[offset : offset + raw.size] = raw
