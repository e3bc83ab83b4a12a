"""Ring orders over the hardware: which cube, PE or SIP follows which.

Collectives and the IPCQ's ``N``/``S`` direction walk the cubes of a SIP as a ring whose
consecutive members are mesh neighbours (one mesh hop apart), so a ring step crosses
one die-to-die link. These orders are a property of the mesh, not of any algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.hw.topology import PeCoord, Topology


def cube_ring_order(rows: int, cols: int) -> list[int]:
    """Cube indices (row-major) in ring order: consecutive cubes are mesh neighbours.

    1. Even rows (or even columns, by symmetry): a Hamiltonian cycle -- along row 0,
       snake through columns 1.. of the other rows, back up column 0 -- so the closing
       hop is one mesh hop too.
    2. Otherwise (both odd, or one row or column): a snake, whose closing hop is longer.
    """
    if rows >= 2 and cols >= 2 and (rows % 2 == 0 or cols % 2 == 0):
        if rows % 2 == 0:
            return _hamiltonian(rows, cols, lambda r, c: r * cols + c)
        return _hamiltonian(cols, rows, lambda r, c: c * cols + r)
    order = []
    for r in range(rows):
        cs = range(cols) if r % 2 == 0 else range(cols - 1, -1, -1)
        order += [r * cols + c for c in cs]
    return order


def _hamiltonian(rows: int, cols: int, index) -> list[int]:
    """A cycle on an even-row grid: row 0 left to right, snake the rest over columns
    1.., then up column 0."""
    cells = [(0, c) for c in range(cols)]
    for r in range(1, rows):
        cs = range(cols - 1, 0, -1) if r % 2 == 1 else range(1, cols)
        cells += [(r, c) for c in cs]
    cells += [(r, 0) for r in range(rows - 1, 0, -1)]
    return [index(r, c) for r, c in cells]


def flat_ring_order(topology: Topology, pes: Sequence[PeCoord]) -> tuple[int, ...]:
    """Ranks (indices into ``pes``) in ring order: by SIP, cubes in mesh-ring order
    (consecutive cubes are mesh neighbours), PEs by index."""
    position = {k: i for i, k in enumerate(cube_ring_order(topology.cube_rows, topology.cube_cols))}
    return tuple(
        sorted(range(len(pes)), key=lambda r: (pes[r].sip, position[pes[r].cube], pes[r].pe))
    )
