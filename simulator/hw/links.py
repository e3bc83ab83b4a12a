"""Links and routes: the two shapes the graph and the network model share.

A :class:`Link` is one directed edge of the component graph. A :class:`Memory` is a
node whose bandwidth is one capacity shared by every flow that reads or writes it,
through any of its ports and in both directions (links, by contrast, are full-duplex:
one bandwidth per direction). A :class:`Route` is the ordered list of links a transfer
crosses from a source node to a destination node, with its fixed latency already summed.

Cost convention (used by ``graph.route`` and charged by ``network.Network``): each
hop pays the latency of the link it crosses plus the overhead of the node it arrives
at, so ``Route.latency_ns = sum(link.latency_ns + overhead(link.dst))``. An
uncontended transfer of ``n`` bytes takes ``latency_ns + n / bottleneck_bw_gbs``
(1 GB/s = 1 byte/ns).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Link:
    """One directed link of the component graph.

    ``index`` is dense (0..n_links-1) so per-link state can live in flat lists.
    ``level`` names the part of the hierarchy it belongs to (for example ``memory``,
    ``cube``, ``mesh``, ``io``, ``sip``, ``host``) and is what traces group by.
    """

    index: int
    name: str
    src: str
    dst: str
    latency_ns: float
    bw_gbs: float
    level: str


@dataclass(frozen=True, slots=True)
class Memory:
    """One memory as a shared capacity of the network model.

    ``node`` is the graph node holding the bytes; a transfer reads the memory when the
    node is its route's source and writes it when the node is its destination. The sum
    of the rates of all flows touching the memory never exceeds ``bw_gbs`` (whatever
    port they come through), and while it is both read and written it gives only
    ``rw_mix_bw_fraction * bw_gbs`` (bus turnaround; 1.0 keeps the plain rule).
    ``kind`` names the memory (``hbm``, ``tcm``, ``sram``, ``mcpu_local``, ``iocpu_local``).
    """

    node: str
    bw_gbs: float
    kind: str
    rw_mix_bw_fraction: float = 1.0


@dataclass(frozen=True, slots=True)
class Route:
    """The links from ``src`` to ``dst`` in order, and their fixed cost.

    ``latency_ns`` is the sum over hops of link latency plus arrival-node overhead;
    ``bottleneck_bw_gbs`` is the smallest link bandwidth on the route (``inf`` for a
    route with no links, i.e. ``src == dst``).
    """

    src: str
    dst: str
    nodes: tuple[str, ...]
    links: tuple[Link, ...]
    latency_ns: float
    bottleneck_bw_gbs: float

    @property
    def hops(self) -> int:
        """Number of links crossed."""
        return len(self.links)
