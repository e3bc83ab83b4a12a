"""Ring orders over the mesh: cube rings of mesh neighbours, flat rank rings."""

import pytest

from simulator.hw.rings import cube_ring_order, flat_ring_order
from simulator.hw.topology import load_topology


@pytest.mark.parametrize("rows,cols", [(2, 2), (4, 4), (2, 3), (3, 2), (3, 3), (1, 4)])
def test_cube_ring_order_visits_every_cube_through_mesh_neighbours(rows, cols):
    """The cube ring is a permutation whose consecutive cubes are one mesh hop apart."""
    order = cube_ring_order(rows, cols)
    assert sorted(order) == list(range(rows * cols))
    closed = rows % 2 == 0 or cols % 2 == 0
    pairs = list(zip(order, order[1:] + order[:1], strict=True))
    if not (closed and rows > 1 and cols > 1):
        pairs = pairs[:-1]  # no Hamiltonian cycle: only the open path is one hop a step
    for a, b in pairs:
        (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
        assert abs(ra - rb) + abs(ca - cb) == 1


def test_flat_ring_order_goes_by_sip_then_cube_ring_then_pe():
    """Ranks given in reverse come back ordered by SIP, the 2x2 cube ring 0,1,3,2, then PE."""
    topo = load_topology("multi_sip")
    pes = [c for c in topo.pe_coords() if c.pe in (2, 5)][::-1]
    order = flat_ring_order(topo, pes)
    walked = [(pes[r].sip, pes[r].cube, pes[r].pe) for r in order]
    expected = [(s, k, p) for s in range(4) for k in (0, 1, 3, 2) for p in (2, 5)]
    assert walked == expected
