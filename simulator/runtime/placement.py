"""Placement policies: which PEs hold a tensor and how it is cut into shards.

A policy picks target PEs on the selected device (``num_cubes`` first cubes, then the
first ``num_pes`` PEs of those, or an explicit tuple of PEs) and a layout:

1. ``row``: dim 0 is split into nearly equal contiguous chunks, one per PE (as
   ``numpy.array_split``).
2. ``col``: dim 1 is split likewise (a 1-D tensor splits its only dim; a tensor of 3+
   dims cannot be split so).
3. ``replicate``: every PE holds the whole tensor.
4. ``single``: the whole tensor on the first target PE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.hw.topology import PeCoord, Topology

LAYOUTS = ("row", "col", "replicate", "single")


class PlacementError(ValueError):
    """A placement asks for PEs or a split the device cannot give."""


@dataclass(frozen=True)
class Placement:
    """Where a tensor lives. ``pes`` entries are global PE indices or PeCoords."""

    layout: str = "row"
    num_pes: int | None = None
    num_cubes: int | None = None
    pes: tuple[int | PeCoord, ...] | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise PlacementError(f"unknown layout {self.layout!r}; valid: {', '.join(LAYOUTS)}")

    @classmethod
    def row_wise(cls, **kw) -> Placement:
        return cls("row", **kw)

    @classmethod
    def column_wise(cls, **kw) -> Placement:
        return cls("col", **kw)

    @classmethod
    def replicate(cls, **kw) -> Placement:
        return cls("replicate", **kw)

    @classmethod
    def single(cls, pe: int | PeCoord = 0) -> Placement:
        return cls("single", pes=(pe,))

    def targets(self, topology: Topology, sips: Sequence[int]) -> list[PeCoord]:
        """The target PEs, in global order, restricted to the selected SIPs."""
        allowed = [c for c in topology.pe_coords() if c.sip in sips]
        if self.pes is not None:
            chosen = []
            for p in self.pes:
                coord = p if isinstance(p, PeCoord) else _coord(topology, p)
                if coord.sip not in sips:
                    raise PlacementError(
                        f"PE {coord.pe_global} is on sip{coord.sip}, outside the selected "
                        f"device (sips {list(sips)})"
                    )
                chosen.append(coord)
            if len(set(chosen)) != len(chosen):
                raise PlacementError(f"placement lists a PE twice: {self.pes}")
            return chosen
        if self.num_cubes is not None:
            cubes = sorted({(c.sip, c.cube) for c in allowed})
            if not 1 <= self.num_cubes <= len(cubes):
                raise PlacementError(
                    f"num_cubes={self.num_cubes} but the device has {len(cubes)} cubes"
                )
            keep = set(cubes[: self.num_cubes])
            allowed = [c for c in allowed if (c.sip, c.cube) in keep]
        if self.num_pes is not None:
            if not 1 <= self.num_pes <= len(allowed):
                raise PlacementError(f"num_pes={self.num_pes} but only {len(allowed)} PEs fit")
            allowed = allowed[: self.num_pes]
        return allowed

    def split(
        self, shape: tuple[int, ...], n: int
    ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(offset, shape) of each of ``n`` shards of a tensor of ``shape``."""
        if self.layout in ("replicate", "single"):
            count = 1 if self.layout == "single" else n
            return [((0,) * len(shape), shape)] * count
        if self.layout == "col" and len(shape) > 2:
            raise PlacementError(
                f"a tensor of shape {shape} cannot be split column-wise (its dim-1 pieces "
                "would not be contiguous); place it row-wise, replicated or on one PE"
            )
        dim = 0 if self.layout == "row" or len(shape) == 1 else 1
        size = shape[dim]
        if size < n:
            raise PlacementError(
                f"cannot split dim {dim} of size {size} over {n} PEs ({self.layout}-wise); "
                f"place it on fewer PEs (Placement(num_pes={size}) or Placement.single(0))"
            )
        base, extra = divmod(size, n)
        out, start = [], 0
        for i in range(n):
            length = base + (1 if i < extra else 0)
            offset = [0] * len(shape)
            offset[dim] = start
            sub = list(shape)
            sub[dim] = length
            out.append((tuple(offset), tuple(sub)))
            start += length
        return out


def _coord(topology: Topology, pe_global: int) -> PeCoord:
    if not 0 <= pe_global < topology.num_pes:
        raise PlacementError(f"PE {pe_global} does not exist (0..{topology.num_pes - 1})")
    return topology.pe_coord(pe_global)
