"""Per-context page tables: virtual -> physical translation for DMAs.

Kernels and the host use virtual addresses; every DMA translates them here, so a VA is
never decoded as a PA even when its bits would decode. Mappings are stored as ranges
(sorted VA starts + bisect), not one entry per page: the cost of mapping a 1 GB tensor
does not depend on its size, a lookup is a bisect, and translating a range costs one
step per mapping it crosses.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass


class MMUError(ValueError):
    """A bad map/unmap request (misaligned, overlapping, not mapped)."""


class PageFault(MMUError):
    """A translation of a VA that no mapping covers; the message names the VA and context."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """VA ``[va, va + size_bytes)`` maps to PA ``[pa, pa + size_bytes)``."""

    va: int
    pa: int
    size_bytes: int

    @property
    def va_end(self) -> int:
        return self.va + self.size_bytes


def _span(start: int, size_bytes: int) -> str:
    return f"[{start:#x}, {start + size_bytes:#x})"


class MMU:
    """The page table of one runtime context ``name`` with ``page_bytes`` pages.

    Raises :class:`MMUError` if ``page_bytes`` is not a positive power of two.
    """

    def __init__(self, page_bytes: int = 4096, name: str = "ctx0") -> None:
        if page_bytes <= 0 or page_bytes & (page_bytes - 1):
            raise MMUError(f"{name}: page size must be a power of two, got {page_bytes}")
        self.page_bytes = page_bytes
        self.name = name
        self._starts: list[int] = []  # sorted VA starts, parallel to the mappings below
        self._by_start: dict[int, Mapping] = {}
        # Bumped by every map and unmap: translations cached by callers are stale once
        # it moves.
        self.generation = 0

    def __len__(self) -> int:
        """Number of mappings (ranges, not pages)."""
        return len(self._starts)

    def mappings(self) -> list[Mapping]:
        """Every mapping in VA order."""
        return [self._by_start[va] for va in self._starts]

    def _round_up(self, size_bytes: int) -> int:
        return -(-size_bytes // self.page_bytes) * self.page_bytes

    def _check_aligned(self, what: str, addr: int) -> None:
        if addr < 0:
            raise MMUError(f"{self.name}: {what} {addr:#x} is negative")
        if addr % self.page_bytes:
            raise MMUError(
                f"{self.name}: {what} {addr:#x} is not aligned to the {self.page_bytes}-byte page"
            )

    def map(self, va: int, pa: int, size_bytes: int) -> None:
        """Map VA ``[va, va + size_bytes)`` to PA ``[pa, ...)``; the size rounds up to pages.

        Raises :class:`MMUError` if ``va`` or ``pa`` is negative or not page aligned, the size
        is not positive, or the range overlaps an existing mapping (both ranges in hex).
        """
        self._check_aligned("VA", va)
        self._check_aligned("PA", pa)
        if size_bytes <= 0:
            raise MMUError(f"{self.name}: mapping size must be > 0, got {size_bytes}")
        size_bytes = self._round_up(size_bytes)
        end = va + size_bytes
        i = bisect_right(self._starts, va)
        for j in (i - 1, i):  # only the neighbours on each side can overlap
            if 0 <= j < len(self._starts):
                other = self._by_start[self._starts[j]]
                if other.va < end and va < other.va_end:
                    raise MMUError(
                        f"{self.name}: mapping VA {_span(va, size_bytes)} overlaps existing "
                        f"VA {_span(other.va, other.size_bytes)}"
                    )
        insort(self._starts, va)
        self._by_start[va] = Mapping(va, pa, size_bytes)
        self.generation += 1

    def unmap(self, va: int, size_bytes: int) -> None:
        """Remove VA ``[va, va + size_bytes)`` (size rounds up to pages).

        The range may cover several mappings or part of one (the rest stays mapped).
        Raises :class:`MMUError` if it is misaligned or any page of it is not mapped.
        """
        self._check_aligned("VA", va)
        if size_bytes <= 0:
            raise MMUError(f"{self.name}: unmap size must be > 0, got {size_bytes}")
        end = va + self._round_up(size_bytes)
        covered = self._covering(va, end - va, for_unmap=True)
        self.generation += 1
        for m in covered:
            self._starts.remove(m.va)
            del self._by_start[m.va]
        # Keep the parts of the first and last mappings that lie outside the range.
        first, last = covered[0], covered[-1]
        if first.va < va:
            self._insert(Mapping(first.va, first.pa, va - first.va))
        if last.va_end > end:
            self._insert(Mapping(end, last.pa + (end - last.va), last.va_end - end))

    def _insert(self, mapping: Mapping) -> None:
        insort(self._starts, mapping.va)
        self._by_start[mapping.va] = mapping

    def _covering(self, va: int, size_bytes: int, for_unmap: bool = False) -> list[Mapping]:
        """The mappings covering VA ``[va, va + size_bytes)`` in order, with no gap."""
        end = va + size_bytes
        i = bisect_right(self._starts, va) - 1
        out: list[Mapping] = []
        cursor = va
        while cursor < end:
            mapping = self._by_start[self._starts[i]] if 0 <= i < len(self._starts) else None
            if mapping is None or not mapping.va <= cursor < mapping.va_end:
                if for_unmap:
                    raise MMUError(
                        f"{self.name}: cannot unmap VA {_span(va, size_bytes)}: "
                        f"VA {cursor:#x} is not mapped"
                    )
                raise PageFault(
                    f"{self.name}: page fault at VA {cursor:#x} (in VA range "
                    f"{_span(va, size_bytes)}): not mapped"
                )
            out.append(mapping)
            cursor = mapping.va_end
            i += 1
        return out

    def translate(self, va: int) -> int:
        """The PA of VA ``va``; raises :class:`PageFault` (VA in hex, context) if unmapped."""
        i = bisect_right(self._starts, va) - 1
        if i >= 0 and va >= 0:
            mapping = self._by_start[self._starts[i]]
            if va < mapping.va_end:
                return mapping.pa + (va - mapping.va)
        raise PageFault(f"{self.name}: page fault at VA {va:#x}: not mapped")

    def translate_range(self, va: int, size_bytes: int) -> list[tuple[int, int]]:
        """Physical ``(pa, nbytes)`` pieces of VA ``[va, va + size_bytes)``, in VA order.

        Pieces that are physically contiguous are merged, so a range inside one mapping is
        one piece. ``size_bytes == 0`` gives ``[]``. Raises :class:`PageFault` at the first
        unmapped VA, and :class:`MMUError` for a negative size.
        """
        if size_bytes < 0:
            raise MMUError(f"{self.name}: range size must be >= 0, got {size_bytes}")
        if size_bytes == 0:
            return []
        if va < 0:
            raise PageFault(f"{self.name}: page fault at VA {va:#x}: negative")
        end = va + size_bytes
        # Fast path (every tile DMA calls this): the range lies inside one mapping.
        i = bisect_right(self._starts, va) - 1
        if i >= 0:
            mapping = self._by_start[self._starts[i]]
            if end <= mapping.va + mapping.size_bytes:
                return [(mapping.pa + (va - mapping.va), size_bytes)]
        pieces: list[tuple[int, int]] = []
        for m in self._covering(va, size_bytes):
            lo, hi = max(va, m.va), min(end, m.va_end)
            pa, nbytes = m.pa + (lo - m.va), hi - lo
            if pieces and pieces[-1][0] + pieces[-1][1] == pa:
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + nbytes)
            else:
                pieces.append((pa, nbytes))
        return pieces
