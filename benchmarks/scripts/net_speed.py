"""Speed of the flow-level network model against bare SimPy (a plain script, not asv).

Measures in one run:

1. uncontended transfers on disjoint routes (one process per route, back to back);
2. ``--flows`` concurrent flows contending on a shared set of links (each process sends
   back to back over a window of consecutive links, so every start and end re-rates
   the whole set);
3. ring all-reduce steps over ``--ranks`` ranks: in each step every rank sends one chunk
   to its neighbour on a path of its own, all starting and ending at the same instants
   (lone flows: no filling needed), and again with each rank also loading two pieces
   from its HBM into the TCM the incoming chunk lands in (one small component per rank,
   all refilled at the same instants);
4. bare SimPy ``env.timeout`` events, as the ceiling for any SimPy model.

For each it prints simulated items per wall-second and SimPy events per item (counted
in a separate, identical run so counting does not slow the timed one).

    python benchmarks/scripts/net_speed.py [--transfers N] [--flows F] [--ranks P]
                                           [--timeouts N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import simpy

from simulator.hw.links import Link, Route
from simulator.hw.network import Network


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts every event it schedules."""

    def __init__(self) -> None:
        super().__init__()
        self.n_scheduled = 0

    def schedule(self, event, priority=1, delay=0) -> None:
        self.n_scheduled += 1
        super().schedule(event, priority, delay)


def make_route(links: list[Link], overhead_ns: float) -> Route:
    latency_ns = sum(link.latency_ns + overhead_ns for link in links)
    nodes = (links[0].src, *(link.dst for link in links))
    bottleneck = min(link.bw_gbs for link in links)
    return Route(links[0].src, links[-1].dst, nodes, tuple(links), latency_ns, bottleneck)


def senders_scenario(
    links: list[Link], routes: list[Route], sizes: list[int]
) -> Callable[[simpy.Environment], Network]:
    """One sender process per route, sending its share of ``sizes`` back to back."""

    def build(env: simpy.Environment) -> Network:
        net = Network(env, links)

        def sender(route: Route, my_sizes: list[int]):
            for n_bytes in my_sizes:
                yield net.transfer(route, n_bytes)

        for r, route in enumerate(routes):
            env.process(sender(route, sizes[r :: len(routes)]))
        return net

    return build


def disjoint_scenario(n_transfers: int, seed: int) -> Callable[[simpy.Environment], Network]:
    """16 disjoint 3-hop routes, one sender each, sizes 4 KiB..1 MiB."""
    n_routes, hops = 16, 3
    links = [
        Link(i, f"L{i}", f"n{i}", f"n{i}'", 5.0, 32.0 + 16.0 * (i % hops), "bench")
        for i in range(n_routes * hops)
    ]
    routes = [make_route(links[r * hops : (r + 1) * hops], 2.0) for r in range(n_routes)]
    rng = random.Random(seed)
    sizes = [rng.randrange(4096, 1 << 20) for _ in range(n_transfers)]

    return senders_scenario(links, routes, sizes)


def contended_scenario(
    n_transfers: int, n_flows: int, seed: int
) -> Callable[[simpy.Environment], Network]:
    """``n_flows`` senders over 8 links in a line, each on 1-3 consecutive links."""
    n_links = 8
    links = [
        Link(i, f"L{i}", f"n{i}", f"n{i + 1}", 5.0, (16.0, 32.0, 64.0)[i % 3], "bench")
        for i in range(n_links)
    ]
    rng = random.Random(seed)
    routes = []
    for _ in range(n_flows):
        first = rng.randrange(n_links)
        last = min(n_links - 1, first + rng.randrange(3))
        routes.append(make_route(links[first : last + 1], 2.0))
    sizes = [rng.randrange(4096, 1 << 20) for _ in range(n_transfers)]

    return senders_scenario(links, routes, sizes)


# Link bandwidths of the ring-step scenario, in GB/s (shaped like a PE's DMA paths).
RING_NOC_GBS = 128.0
RING_HBM_GBS = 102.4
RING_TCM_GBS = 128.0


def ring_steps(n_transfers: int, n_ranks: int, with_loads: bool) -> tuple[int, int]:
    """(steps, transfers per step) of a ring-step run of about ``n_transfers``."""
    per_step = n_ranks * (3 if with_loads else 1)
    return max(1, n_transfers // per_step), per_step


def ring_step_scenario(
    n_transfers: int, n_ranks: int, with_loads: bool
) -> Callable[[simpy.Environment], Network]:
    """Lock-stepped ring all-reduce steps: rank i sends a 64 KiB chunk to rank i+1 over
    tcm(i)->dma(i)->noc(i)->dma(i+1)->tcm(i+1); ``with_loads`` adds two 32 KiB pieces
    per rank over hbm(i)->dma(i)->tcm(i), sharing the last link of the incoming chunk."""
    chunk_bytes, piece_bytes = 64 * 1024, 32 * 1024
    # Per rank: tcm->dma, dma->noc, noc->dma, dma->tcm, hbm->dma.
    kinds = (
        ("tcm_dma", RING_TCM_GBS),
        ("dma_noc", RING_NOC_GBS),
        ("noc_dma", RING_NOC_GBS),
        ("dma_tcm", RING_TCM_GBS),
        ("hbm_dma", RING_HBM_GBS),
    )
    links = [
        Link(
            r * len(kinds) + k, f"r{r}.{name}", f"r{r}.{name}.a", f"r{r}.{name}.b", 5.0, bw, "ring"
        )
        for r in range(n_ranks)
        for k, (name, bw) in enumerate(kinds)
    ]

    def link(rank: int, kind: int) -> Link:
        return links[(rank % n_ranks) * len(kinds) + kind]

    sends = [
        make_route([link(r, 0), link(r, 1), link(r + 1, 2), link(r + 1, 3)], 2.0)
        for r in range(n_ranks)
    ]
    loads = [make_route([link(r, 4), link(r, 3)], 2.0) for r in range(n_ranks)]
    n_steps, _ = ring_steps(n_transfers, n_ranks, with_loads)

    def build(env: simpy.Environment) -> Network:
        net = Network(env, links)

        def driver():
            for _ in range(n_steps):
                events = [net.transfer(route, chunk_bytes) for route in sends]
                if with_loads:
                    for route in loads:
                        events.append(net.transfer(route, piece_bytes))
                        events.append(net.transfer(route, piece_bytes))
                yield env.all_of(events)

        env.process(driver())
        return net

    return build


def bare_timeouts(n_timeouts: int) -> Callable[[simpy.Environment], None]:
    """16 processes each yielding ``env.timeout(1.0)`` in a loop."""
    n_procs = 16

    def build(env: simpy.Environment) -> None:
        def ticker(count: int):
            for _ in range(count):
                yield env.timeout(1.0)

        for p in range(n_procs):
            env.process(ticker(n_timeouts // n_procs + (p < n_timeouts % n_procs)))

    return build


def measure(build, n_items: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` wall time of a full run, plus event and network counters."""
    counting = CountingEnvironment()
    net = build(counting)
    counting.run()
    best_s = float("inf")
    for _ in range(repeats):
        env = simpy.Environment()
        build(env)
        t0 = time.perf_counter()
        env.run()
        best_s = min(best_s, time.perf_counter() - t0)
    row = {
        "items_per_s": n_items / best_s,
        "events_per_item": counting.n_scheduled / n_items,
        "wall_s": best_s,
    }
    if net is not None:
        row["rate_updates_per_item"] = net.n_rate_updates / n_items
        row["reschedules_per_item"] = net.n_reschedules / n_items
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=50_000, help="transfers per scenario")
    parser.add_argument("--flows", type=int, default=64, help="concurrent contending flows")
    parser.add_argument("--ranks", type=int, default=128, help="ranks of the ring steps")
    parser.add_argument("--timeouts", type=int, default=500_000, help="bare SimPy timeouts")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rows = [
        (
            "uncontended, disjoint routes",
            measure(disjoint_scenario(args.transfers, args.seed), args.transfers, args.repeats),
        ),
        (
            f"{args.flows} flows contending",
            measure(
                contended_scenario(args.transfers, args.flows, args.seed),
                args.transfers,
                args.repeats,
            ),
        ),
    ]
    for with_loads in (False, True):
        build = ring_step_scenario(args.transfers, args.ranks, with_loads)
        n_steps, per_step = ring_steps(args.transfers, args.ranks, with_loads)
        n_items = n_steps * per_step
        name = f"ring step, {args.ranks} ranks" + (" + loads" if with_loads else "")
        rows.append((name, measure(build, n_items, args.repeats)))
    timeouts = measure(bare_timeouts(args.timeouts), args.timeouts, args.repeats)
    rows.append(("bare env.timeout", timeouts))
    header = f"{'case':<34} {'items/s':>10} {'events/item':>12} {'updates/item':>13} "
    header += f"{'resched/item':>13} {'wall_s':>8}"
    print(header)
    print("-" * len(header))
    for name, row in rows:
        updates = row.get("rate_updates_per_item")
        resched = row.get("reschedules_per_item")
        print(
            f"{name:<34} {row['items_per_s']:>10,.0f} {row['events_per_item']:>12.2f} "
            f"{'-' if updates is None else f'{updates:.2f}':>13} "
            f"{'-' if resched is None else f'{resched:.2f}':>13} {row['wall_s']:>8.3f}"
        )
    timeout_rate = timeouts["items_per_s"]
    for name, row in rows[:-1]:
        print(f"{name}: {row['items_per_s'] / timeout_rate:.1%} of bare timeouts/s")


if __name__ == "__main__":
    main()
