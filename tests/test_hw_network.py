"""Tests for simulator.hw.network: flow-level, max-min fair link sharing."""

from __future__ import annotations

import random

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.hw.links import Link, Memory, Route
from simulator.hw.network import Network, Transfer

REL = 1e-9


def make_links(bws_gbs: list[float], latency_ns: float = 0.0) -> list[Link]:
    """Links 0..n-1 named L<i>, between nodes n<i> -> n<i+1>."""
    return [
        Link(i, f"L{i}", f"n{i}", f"n{i + 1}", latency_ns, bw, "test")
        for i, bw in enumerate(bws_gbs)
    ]


def make_route(links: list[Link], latency_ns: float, src: str = "a", dst: str = "b") -> Route:
    """A route over ``links`` with a given total latency (overheads included)."""
    bottleneck = min((link.bw_gbs for link in links), default=float("inf"))
    nodes = (src, *(link.dst for link in links)) if links else (src,)
    return Route(src, dst, nodes, tuple(links), latency_ns, bottleneck)


def run_transfers(net: Network, env: simpy.Environment, jobs) -> list[Transfer]:
    """Issue (issue_ns, route, n_bytes) jobs, run to the end, return Transfers in job order."""
    results: list[Transfer | None] = [None] * len(jobs)

    def job(i, issue_ns, route, n_bytes):
        yield env.timeout(issue_ns)
        results[i] = yield net.transfer(route, n_bytes, tag=i)

    for i, (issue_ns, route, n_bytes) in enumerate(jobs):
        env.process(job(i, issue_ns, route, n_bytes))
    env.run()
    return results


def end_times(transfers: list[Transfer]) -> list[float]:
    """The end_ns of each transfer, in order."""
    return [t.end_ns for t in transfers]


def test_uncontended_one_hop():
    """One hop: latency + n / bw."""
    env = simpy.Environment()
    links = make_links([4.0])
    net = Network(env, links)
    (t,) = run_transfers(net, env, [(0.0, make_route(links, 30.0), 1000)])
    assert t.end_ns == pytest.approx(30.0 + 1000 / 4.0, rel=REL)
    assert t.start_ns == 30.0 and t.issue_ns == 0.0 and t.tag == 0


def test_uncontended_three_hops_bottleneck():
    """Three hops with different bandwidths: latency + n / min(bw)."""
    env = simpy.Environment()
    links = make_links([16.0, 2.5, 8.0], latency_ns=7.0)
    net = Network(env, links)
    (t,) = run_transfers(net, env, [(100.0, make_route(links, 3 * 7.0 + 5.0), 12345)])
    assert t.end_ns - t.issue_ns == pytest.approx(26.0 + 12345 / 2.5, rel=REL)


def test_zero_bytes_and_empty_route_take_latency_only():
    """A zero-byte transfer and a route with no links both take the latency alone."""
    env = simpy.Environment()
    links = make_links([1.0])
    net = Network(env, links)
    zero, local = run_transfers(
        net, env, [(5.0, make_route(links, 40.0), 0), (5.0, make_route([], 3.0), 10**9)]
    )
    assert zero.end_ns == pytest.approx(45.0, rel=REL)
    assert local.end_ns == pytest.approx(8.0, rel=REL)
    assert net.link_bytes() == [0]
    assert net.link_busy_ns() == [0.0]


def test_two_equal_flows_share_a_link():
    """Two equal flows issued together on one link both end at latency + 2n/B."""
    env = simpy.Environment()
    links = make_links([10.0])
    net = Network(env, links)
    route = make_route(links, 50.0)
    a, b = run_transfers(net, env, [(0.0, route, 1000), (0.0, route, 1000)])
    assert a.end_ns == pytest.approx(50.0 + 2000 / 10.0, rel=REL)
    assert b.end_ns == pytest.approx(50.0 + 2000 / 10.0, rel=REL)
    assert net.n_rate_updates == 2  # one batched start, one batched end


def test_textbook_max_min_symmetric():
    """L1, L2 cap 1; A on both, B on L1, C on L2: each gets 0.5 at every instant."""
    env = simpy.Environment()
    links = make_links([1.0, 1.0])
    net = Network(env, links)
    rates = {}

    def probe():
        yield env.timeout(1.0)
        rates.update({i: net.rate_gbs(i) for i in net.streaming_transfer_ids()})

    env.process(probe())
    a, b, c = run_transfers(
        net,
        env,
        [
            (0.0, make_route(links, 0.0), 100),
            (0.0, make_route(links[:1], 0.0), 50),
            (0.0, make_route(links[1:], 0.0), 100),
        ],
    )
    assert rates == {0: 0.5, 1: 0.5, 2: 0.5}
    # B ends at 100; A stays bottlenecked on L2 with C at 0.5, so A and C end at 200.
    assert b.end_ns == pytest.approx(100.0, rel=REL)
    assert a.end_ns == pytest.approx(200.0, rel=REL)
    assert c.end_ns == pytest.approx(200.0, rel=REL)


def test_textbook_max_min_asymmetric_with_rate_increase():
    """L1 cap 10, L2 cap 4; A on both, B on L1, C on L2: A=2, C=2, B=8, then A rises to 4."""
    env = simpy.Environment()
    links = make_links([10.0, 4.0])
    net = Network(env, links)
    latency = 20.0
    samples = {}

    def probe(at_ns):
        yield env.timeout(at_ns)
        samples[at_ns] = {i: net.rate_gbs(i) for i in net.streaming_transfer_ids()}

    env.process(probe(latency + 1.0))
    env.process(probe(latency + 6.0))
    # A: 50 bytes, B: 76 bytes, C: 10 bytes.
    # [0, 5): A=2, B=8, C=2 -> C done at 5 (A left 40, B left 36).
    # [5, 11): L2 has only A -> A=4 (L2 cap), B=10-4=6 -> B done at 11 (A left 16).
    # [11, 15): A alone, still 4 (L2 cap) -> A done at 15.
    a, b, c = run_transfers(
        net,
        env,
        [
            (0.0, make_route(links, latency), 50),
            (0.0, make_route(links[:1], latency), 76),
            (0.0, make_route(links[1:], latency), 10),
        ],
    )
    assert samples[latency + 1.0] == {0: 2.0, 1: 8.0, 2: 2.0}
    assert samples[latency + 6.0] == {0: 4.0, 1: 6.0}
    assert c.end_ns == pytest.approx(latency + 5.0, rel=REL)
    assert b.end_ns == pytest.approx(latency + 11.0, rel=REL)
    assert a.end_ns == pytest.approx(latency + 15.0, rel=REL)


def test_flow_joins_halfway():
    """A alone for half its bytes, then B joins: A ends at L+1.5n/B, B at L+2n/B."""
    env = simpy.Environment()
    links = make_links([8.0])
    net = Network(env, links)
    n, latency = 800, 10.0
    route = make_route(links, latency)
    # A streams from 10 at 8 B/ns; at 60 it has 400 left and B starts: both at 4.
    # A ends at 60 + 100 = 160; B has 400 left, alone at 8: ends at 160 + 50 = 210.
    a, b = run_transfers(net, env, [(0.0, route, n), (n / 2 / 8.0, route, n)])
    assert a.end_ns == pytest.approx(latency + 1.5 * n / 8.0, rel=REL)
    assert b.end_ns == pytest.approx(latency + 2.0 * n / 8.0, rel=REL)
    assert b.end_ns == pytest.approx(210.0, rel=REL)


def test_disjoint_flows_keep_their_events():
    """A start on a disjoint link neither changes nor reschedules another flow."""
    env = simpy.Environment()
    links = make_links([2.0, 3.0])
    net = Network(env, links)
    a, b = run_transfers(
        net,
        env,
        [(0.0, make_route(links[:1], 0.0), 100), (10.0, make_route(links[1:], 0.0), 90)],
    )
    assert a.end_ns == pytest.approx(50.0, rel=REL)
    assert b.end_ns == pytest.approx(40.0, rel=REL)
    assert net.n_reschedules == 2  # one completion event per flow, none for contention
    assert net.n_transfers == 2


def test_busy_ns_is_a_union_of_intervals():
    """Busy time counts overlapping flows once and excludes the latency phase."""
    env = simpy.Environment()
    links = make_links([1.0, 1.0])
    net = Network(env, links)
    l0 = make_route(links[:1], 0.0)
    # A: [0, 15] (shares from 5), B: [5, 20]; union [0, 20]. C: latency 6, streams [36, 40].
    a, b, c = run_transfers(
        net, env, [(0.0, l0, 10), (5.0, l0, 10), (30.0, make_route(links[:1], 6.0), 4)]
    )
    assert (a.end_ns, b.end_ns, c.end_ns) == pytest.approx((15.0, 20.0, 40.0), rel=REL)
    assert net.link_busy_ns() == pytest.approx([24.0, 0.0], rel=REL)
    assert net.link_bytes() == [24, 0]


def random_jobs(seed: int, links: list[Link], n_jobs: int):
    """Seeded (issue_ns, route over consecutive links, n_bytes) jobs."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(n_jobs):
        first = rng.randrange(len(links))
        last = rng.randrange(first, len(links))
        route = make_route(links[first : last + 1], rng.choice([0.0, 5.0, 12.5]))
        jobs.append((rng.choice([0.0, 3.0, 7.0, 20.0]), route, rng.randrange(0, 5000)))
    return jobs


def test_deterministic_and_bytes_conserved():
    """Same inputs give identical times, busy and bytes; sum(bytes*hops) == sum(link_bytes)."""
    outcomes = []
    for _ in range(2):
        env = simpy.Environment()
        links = make_links([4.0, 1.0, 2.5, 8.0])
        net = Network(env, links)
        jobs = random_jobs(7, links, 40)
        transfers = run_transfers(net, env, jobs)
        outcomes.append((end_times(transfers), net.link_busy_ns(), net.link_bytes()))
        assert sum(route.hops * n for _, route, n in jobs) == sum(net.link_bytes())
    assert outcomes[0] == outcomes[1]


def test_bad_input_names_the_route_or_link():
    """Negative sizes, foreign links and bad link lists raise clear ValueErrors."""
    env = simpy.Environment()
    links = make_links([1.0, 2.0])
    net = Network(env, links)
    with pytest.raises(ValueError, match=r"negative transfer size -1 bytes on route a -> b"):
        net.transfer(make_route(links, 0.0), -1)
    foreign = Link(1, "X", "p", "q", 0.0, 9.0, "test")
    with pytest.raises(ValueError, match=r"route a -> b uses link 'X'"):
        net.transfer(make_route([foreign], 0.0), 10)
    with pytest.raises(ValueError, match=r"route a -> b crosses a link more than once"):
        net.transfer(make_route([links[0], links[1], links[0]], 0.0), 10)
    with pytest.raises(ValueError, match=r"link 'L1' has index 1 but is at position 0"):
        Network(env, links[1:])
    with pytest.raises(ValueError, match=r"link 'L0' has bw_gbs 0.0"):
        Network(env, make_links([0.0]))
    with pytest.raises(ValueError, match=r"transfer 99 is not streaming"):
        net.rate_gbs(99)


def test_done_events_fire_once_in_completion_order():
    """Each transfer's event fires once, when its last byte arrives, in completion order."""
    env = simpy.Environment()
    links = make_links([1.0])
    net = Network(env, links)
    route = make_route(links, 0.0)
    done: list[int] = []
    for r, n_bytes in ((route, 30), (route, 10), (make_route([], 1.0), 5)):
        net.transfer(r, n_bytes).callbacks.append(lambda e: done.append(e.value.transfer_id))
    env.run()
    assert done == [2, 1, 0]


def check_max_min(net: Network, routes: dict[int, Route], links: list[Link]) -> None:
    """Capacity holds on every link and every flow has a saturated bottleneck link."""
    ids = net.streaming_transfer_ids()
    rate = {i: net.rate_gbs(i) for i in ids}
    on_link = {link.index: [i for i in ids if link in routes[i].links] for link in links}
    load = {index: sum(rate[i] for i in flows) for index, flows in on_link.items()}
    for link in links:
        assert load[link.index] <= link.bw_gbs * (1 + 1e-9)
    for i in ids:
        assert rate[i] > 0.0
        assert any(
            load[link.index] >= link.bw_gbs * (1 - 1e-9)
            and all(rate[i] >= rate[j] * (1 - 1e-9) for j in on_link[link.index])
            for link in routes[i].links
        ), f"transfer {i} has no bottleneck link"


def reference_end_times(bws: list[float], jobs) -> list[float]:
    """End times from a from-scratch reference: after every start or end, water-fill all
    flows (raise every unfrozen rate together until a link saturates, freeze its flows)."""
    n = len(jobs)
    start = [issue + route.latency_ns for issue, route, _ in jobs]
    links = [[link.index for link in route.links] for _, route, _ in jobs]
    left = [float(n_bytes) for _, _, n_bytes in jobs]
    end: list[float | None] = [None] * n
    for i in range(n):
        if not links[i] or left[i] == 0.0:
            end[i] = start[i]
    now = 0.0
    while any(e is None for e in end):
        active = [i for i in range(n) if end[i] is None and start[i] <= now]
        rate = dict.fromkeys(active, 0.0)
        frozen: list[int] = []
        cap = list(bws)
        while len(frozen) < len(active):
            unfrozen = [i for i in active if i not in frozen]
            users = [[i for i in unfrozen if l in links[i]] for l in range(len(bws))]
            step = min(cap[l] / len(users[l]) for l in range(len(bws)) if users[l])
            for i in unfrozen:
                rate[i] += step
            for l in range(len(bws)):
                cap[l] -= step * len(users[l])
            for l in range(len(bws)):
                if users[l] and cap[l] <= 1e-12 * bws[l]:
                    frozen += [i for i in users[l] if i not in frozen]
        later_starts = [start[i] for i in range(n) if end[i] is None and start[i] > now]
        finishes = [now + left[i] / rate[i] for i in active]
        next_ns = min(later_starts + finishes)
        for i in active:
            left[i] -= rate[i] * (next_ns - now)
            if left[i] <= 1e-9 * jobs[i][2]:
                end[i] = next_ns
        now = next_ns
    return end


flow_spec = st.tuples(
    st.integers(0, 3),  # first link
    st.integers(0, 3),  # last link (clamped to >= first)
    st.sampled_from([0.0, 2.0, 4.0, 9.0]),  # issue_ns
    st.sampled_from([0.0, 1.0, 3.0]),  # latency_ns
    st.integers(0, 400),  # bytes
)


@settings(max_examples=60, deadline=None)
@given(
    bws=st.lists(st.sampled_from([1.0, 2.0, 3.0, 7.5]), min_size=4, max_size=4),
    specs=st.lists(flow_spec, min_size=1, max_size=10),
)
def test_property_max_min_fair(bws, specs):
    """Random flows: capacity and max-min hold at every settled instant, no flow beats
    its uncontended time, and end times match a from-scratch reference."""
    env = simpy.Environment()
    links = make_links(bws)
    net = Network(env, links)
    jobs = []
    for first, last, issue_ns, latency_ns, n_bytes in specs:
        last = max(first, last)
        jobs.append((issue_ns, make_route(links[first : last + 1], latency_ns), n_bytes))
    routes: dict[int, Route] = {}  # by transfer id, which follows issue order
    results: list[Transfer | None] = [None] * len(jobs)

    def job(i, issue_ns, route, n_bytes):
        yield env.timeout(issue_ns)
        done = net.transfer(route, n_bytes)
        routes[net.n_transfers - 1] = route
        results[i] = yield done

    for i, spec in enumerate(jobs):
        env.process(job(i, *spec))
    while env.peek() < float("inf"):
        env.step()
        if env.peek() > env.now:  # every event of this instant is processed
            check_max_min(net, routes, links)
    for (issue_ns, route, n_bytes), t in zip(jobs, results, strict=True):
        uncontended = route.latency_ns + n_bytes / route.bottleneck_bw_gbs
        assert t.end_ns - issue_ns >= uncontended * (1 - 1e-9)
    assert end_times(results) == pytest.approx(reference_end_times(bws, jobs), rel=1e-7)
    assert sum(route.hops * n for _, route, n in jobs) == sum(net.link_bytes())


def test_lone_flows_need_no_filling():
    """Flows alone on their links, starting and ending together, run no filling at all."""
    env = simpy.Environment()
    links = make_links([4.0, 2.0, 8.0, 1.0, 5.0, 5.0])
    net = Network(env, links)
    # A ring step: three flows on disjoint two-hop paths, issued and sized alike.
    jobs = [(0.0, make_route(links[2 * i : 2 * i + 2], 10.0), 400) for i in range(3)]
    a, b, c = run_transfers(net, env, jobs)
    assert (a.end_ns, b.end_ns, c.end_ns) == pytest.approx((210.0, 410.0, 90.0), rel=REL)
    assert net.n_rate_updates == 0
    assert net.n_reschedules == 3  # one completion per flow, none re-rated


def test_unchanged_rates_keep_their_completions():
    """A flow joining a component re-rates only the flows whose max-min share moves."""
    env = simpy.Environment()
    links = make_links([2.0, 10.0])
    net = Network(env, links)
    # [0, 10): X, Y share L0 (1 each); Z gets the rest of L1 (9).
    # [10, 20): W joins L1: Z, W at 4.5; X and Y keep 1 and their completions.
    # [20, 25): W done, Z back to 9; at 25 Z is done. X and Y end at 100, untouched.
    x, y, z, w = run_transfers(
        net,
        env,
        [
            (0.0, make_route(links[:1], 0.0), 100),
            (0.0, make_route(links, 0.0), 100),
            (0.0, make_route(links[1:], 0.0), 180),
            (10.0, make_route(links[1:], 0.0), 45),
        ],
    )
    assert end_times([x, y, z, w]) == pytest.approx([100.0, 100.0, 25.0, 20.0], rel=REL)
    # Starts at 0 (3), W and Z at 10 (2), Z at 20 (1); nothing at 25 or 100.
    assert net.n_reschedules == 6
    # Recomputations at 0, 10, 20, 25 (Z leaves Y on L1) and 100 (X leaves Y on L0,
    # though Y ends in the same instant, so nothing is left to fill).
    assert net.n_rate_updates == 5


def two_component_jobs(links: list[Link]):
    """Jobs on L0-L1 (component A) and on L2-L3 (component B), with changes in both
    at shared instants and at instants of their own."""
    a = [
        (0.0, make_route(links[0:2], 3.0), 700),
        (0.0, make_route(links[1:2], 3.0), 300),
        (5.0, make_route(links[0:1], 1.0), 450),
        (40.0, make_route(links[0:2], 0.0), 123),
    ]
    b = [
        (0.0, make_route(links[2:4], 3.0), 900),
        (2.0, make_route(links[3:4], 1.0), 333),
        (5.0, make_route(links[2:3], 1.0), 10),
    ]
    return a, b


def test_components_are_isolated():
    """Two components in one network get bit-identical times, and as many reschedules,
    as each does in a network of its own."""
    bws = [3.0, 7.0, 2.5, 6.0]
    alone = []
    for part in range(2):
        env = simpy.Environment()
        links = make_links(bws)
        net = Network(env, links)
        transfers = run_transfers(net, env, two_component_jobs(links)[part])
        alone.append((end_times(transfers), net.n_reschedules))
    env = simpy.Environment()
    links = make_links(bws)
    net = Network(env, links)
    a_jobs, b_jobs = two_component_jobs(links)
    together = end_times(run_transfers(net, env, a_jobs + b_jobs))
    assert together == alone[0][0] + alone[1][0]
    assert net.n_reschedules == alone[0][1] + alone[1][1]


def test_routes_are_checked_every_time_until_valid():
    """A reused route is checked once; a bad route raises on every use."""
    env = simpy.Environment()
    links = make_links([1.0, 2.0])
    net = Network(env, links)
    foreign = make_route([Link(0, "X", "p", "q", 0.0, 9.0, "test")], 0.0)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"route a -> b uses link 'X'"):
            net.transfer(foreign, 10)
    route = make_route(links, 0.0)
    transfers = run_transfers(net, env, [(0.0, route, 10), (0.0, route, 10), (1.0, route, 5)])
    # Both at 0.5 until C joins at 1; all at 1/3 until C is done at 16; then 0.5 again.
    assert end_times(transfers) == pytest.approx([25.0, 25.0, 16.0], rel=REL)


link_set_spec = st.tuples(
    st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True),  # links, any order
    st.sampled_from([0.0, 2.0, 4.0]),  # issue_ns
    st.sampled_from([0.0, 1.0, 3.0]),  # latency_ns
    st.integers(0, 400),  # bytes
)


@settings(max_examples=40, deadline=None)
@given(
    bws=st.lists(st.sampled_from([1.0, 2.0, 3.0, 7.5]), min_size=6, max_size=6),
    specs=st.lists(link_set_spec, min_size=1, max_size=12),
)
def test_property_scattered_routes_match_reference(bws, specs):
    """Flows on arbitrary link sets (components that merge and split) match the
    from-scratch water-filling reference and conserve bytes."""
    env = simpy.Environment()
    links = make_links(bws)
    net = Network(env, links)
    jobs = [
        (issue_ns, make_route([links[i] for i in link_ids], latency_ns), n_bytes)
        for link_ids, issue_ns, latency_ns, n_bytes in specs
    ]
    transfers = run_transfers(net, env, jobs)
    assert end_times(transfers) == pytest.approx(reference_end_times(bws, jobs), rel=1e-7)
    assert sum(route.hops * n for _, route, n in jobs) == sum(net.link_bytes())


def test_one_shared_link_drains_flows_in_size_order():
    """Three flows alone on one link of bandwidth B: B/3 each, then B/2, then B."""
    env = simpy.Environment()
    links = make_links([4.0])
    net = Network(env, links)
    route = make_route(links, 10.0)
    small, middle, large = run_transfers(
        net, env, [(0.0, route, 1000), (0.0, route, 2000), (0.0, route, 3000)]
    )
    # 1000 bytes each at 4/3 B/ns, then 1000 each at 2, then the last 1000 at 4.
    assert small.end_ns == pytest.approx(10.0 + 3000 / 4.0, rel=REL)
    assert middle.end_ns == pytest.approx(10.0 + 3000 / 4.0 + 2000 / 4.0, rel=REL)
    assert large.end_ns == pytest.approx(10.0 + 6000 / 4.0, rel=REL)
    assert net.link_bytes() == [6000]


def reference_end_times_with_memories(bws, mem_bws, node_memory, jobs) -> list[float]:
    """The from-scratch reference over links and memories: a flow holds its links plus
    the memories at its route's two ends; memory ``j`` is capacity ``len(bws) + j``."""
    n_links = len(bws)
    held = []
    for _, route, _ in jobs:
        ids = [link.index for link in route.links]
        if ids:
            for node in (route.src, route.dst):
                if node in node_memory and n_links + node_memory[node] not in ids:
                    ids.append(n_links + node_memory[node])
        held.append(ids)
    # Re-express each job over pseudo-links so the link-only reference can fill them.
    pseudo = [Link(i, f"R{i}", "p", "q", 0.0, bw, "test") for i, bw in enumerate(bws + mem_bws)]
    pseudo_jobs = [
        (issue, make_route([pseudo[i] for i in ids], route.latency_ns), n)
        for (issue, route, n), ids in zip(jobs, held, strict=True)
    ]
    return reference_end_times(bws + mem_bws, pseudo_jobs)


memory_flow_spec = st.tuples(
    st.lists(st.integers(0, 3), min_size=0, max_size=3, unique=True),  # links
    st.sampled_from(["m0", "m1", "x"]),  # source node (x: not a memory)
    st.sampled_from(["m0", "m1", "y"]),  # destination node
    st.sampled_from([0.0, 2.0, 4.0]),  # issue_ns
    st.sampled_from([0.0, 1.0]),  # latency_ns
    st.integers(0, 300),  # bytes
)


@settings(max_examples=60, deadline=None)
@given(
    bws=st.lists(st.sampled_from([1.0, 2.0, 3.0, 7.5]), min_size=4, max_size=4),
    mem_bws=st.lists(st.sampled_from([1.5, 2.0, 5.0]), min_size=2, max_size=2),
    specs=st.lists(memory_flow_spec, min_size=1, max_size=10),
)
def test_property_memories_are_shared_capacities(bws, mem_bws, specs):
    """Flows reading and writing two memories over random links match the from-scratch
    water-filling reference in which each memory is one more shared capacity."""
    env = simpy.Environment()
    links = make_links(bws)
    memories = [Memory(f"m{j}", bw, "test") for j, bw in enumerate(mem_bws)]
    net = Network(env, links, memories=memories)
    jobs = [
        (issue_ns, make_route([links[i] for i in link_ids], latency_ns, src, dst), n_bytes)
        for link_ids, src, dst, issue_ns, latency_ns, n_bytes in specs
        if src != dst
    ]
    if not jobs:
        return
    transfers = run_transfers(net, env, jobs)
    expected = reference_end_times_with_memories(bws, mem_bws, {"m0": 0, "m1": 1}, jobs)
    assert end_times(transfers) == pytest.approx(expected, rel=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    bws=st.lists(st.sampled_from([1.0, 2.0, 3.0, 7.5]), min_size=10, max_size=10),
    specs=st.lists(
        st.tuples(
            st.sets(st.integers(0, 9), min_size=1, max_size=5).map(sorted),
            st.sampled_from([0.0, 2.0, 4.0]),  # issue_ns
            st.sampled_from([0.0, 1.0]),  # latency_ns
            st.integers(1, 400),  # bytes
        ),
        min_size=2,
        max_size=16,
    ),
)
def test_property_large_component_filling_is_bit_identical(bws, specs):
    """The share-list filling of components with many links gives exactly (bit for bit)
    the end times, in the same order, of the per-step scan used for small components:
    equal bandwidths make many tied fair shares, so the tie-break order is exercised."""
    import simulator.hw.network as network_module

    def run(scan_max_links: int) -> list[tuple[float, int]]:
        saved = network_module._SCAN_MAX_LINKS
        network_module._SCAN_MAX_LINKS = scan_max_links
        try:
            return ends_in_order()
        finally:
            network_module._SCAN_MAX_LINKS = saved

    def ends_in_order() -> list[tuple[float, int]]:
        env = simpy.Environment()
        links = make_links(bws)
        net = Network(env, links)
        order: list[tuple[float, int]] = []
        jobs = [
            (issue_ns, make_route([links[i] for i in ids], latency_ns), n_bytes)
            for ids, issue_ns, latency_ns, n_bytes in specs
        ]
        for i, (issue_ns, route, n_bytes) in enumerate(jobs):

            def issue(_event, route=route, n_bytes=n_bytes, i=i):
                done = net.transfer(route, n_bytes)
                done.callbacks.append(lambda ev: order.append((ev.value.end_ns, i)))

            env.timeout(issue_ns).callbacks.append(issue)
        env.run()
        return order

    assert run(0) == run(1000)


def _two_over_a_shared_link(
    bytes_a: int, bytes_b: int
) -> tuple[Transfer, Transfer, Network, simpy.Environment]:
    """Transfers a and b, both issued at 0, each over its own 8 GB/s link (L1, L2: the
    narrowest of its route) and a shared 10 GB/s link L0, run to the end."""
    env = simpy.Environment()
    shared, private_a, private_b = make_links([10.0, 8.0, 8.0])
    net = Network(env, [shared, private_a, private_b])
    jobs = [
        (0.0, make_route([private_a, shared], 0.0), bytes_a),
        (0.0, make_route([private_b, shared], 0.0), bytes_b),
    ]
    a, b = run_transfers(net, env, jobs)
    return a, b, net, env


def test_bound_by_names_the_saturated_resource_not_the_narrowest():
    """Two transfers whose private 8 GB/s links are their routes' narrowest share a
    10 GB/s link: max-min gives each 5 GB/s, fixed by the shared link, so that link is
    what bound them (`bound_by`), though it is wider than either private link."""
    a, b, _, _ = _two_over_a_shared_link(4000, 4000)
    assert end_times([a, b]) == pytest.approx([4000 / 5.0] * 2, rel=REL)
    assert a.bound_by == b.bound_by == "L0"


def test_bound_by_is_what_bound_the_transfer_longest():
    """A long transfer shares the wide link with a short one for 20 ns and then streams
    alone for ~1240 ns: its own narrowest link bound it longest; the short one was bound
    by the shared link all its life. Alone all its life: its narrowest."""
    long, short, net, env = _two_over_a_shared_link(10_000, 100)
    assert short.end_ns == pytest.approx(100 / 5.0, rel=REL)
    assert long.end_ns == pytest.approx(20.0 + (10_000 - 100) / 8.0, rel=REL)
    assert short.bound_by == "L0"
    assert long.bound_by == "L1"
    shared, private_a = long.route.links[1], long.route.links[0]
    (alone,) = run_transfers(net, env, [(0.0, make_route([shared, private_a], 0.0), 800)])
    assert alone.bound_by == "L1"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(float("inf")), st.sampled_from([0.5, 1.0, 2.0, 3.0])),
                min_size=1, max_size=40))  # fmt: skip
def test_first_min_is_min_then_index(values):
    """The filling's smallest share and its position are ``min`` and ``list.index`` of the
    shares: the first of equal shares wins (walk order), infinite shares last."""
    from simulator.hw.network import _first_min, _Resource

    resources = [_Resource(index, f"r{index}", 1.0) for index in range(len(values))]
    for res, share in zip(resources, values, strict=True):
        res.share_gbs = share
    best = _first_min(resources)
    assert (best.share_gbs, best.resource_id) == (min(values), values.index(min(values)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([1.0, 2.0, 2.5, 7.0]), min_size=1, max_size=60), st.randoms())
def test_pending_completions_pop_in_end_then_sequence_order(end_times, rng):
    """The network's heap of pending completions pops by end time, then by the order they
    were scheduled (``seq``), whatever the order they were pushed in: the order tuples of
    (end, seq) sort in."""
    import heapq

    from simulator.hw.network import _End

    env = simpy.Environment()
    links = make_links([4.0])
    flow = Network(env, links).transfer(make_route(links, 0.0), 8)  # any flow: not compared
    entries = [_End(end, seq, flow, 0) for seq, end in enumerate(end_times)]
    rng.shuffle(entries)
    heap: list = []
    for entry in entries:
        heapq.heappush(heap, entry)
    popped = [(e.end_ns, e.seq) for e in (heapq.heappop(heap) for _ in range(len(heap)))]
    assert popped == sorted((end, seq) for seq, end in enumerate(end_times))
