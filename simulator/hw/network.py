"""Flow-level network model: transfers share links and memories max-min fairly (as
SimGrid does).

A transfer of ``n`` bytes over a :class:`~simulator.hw.links.Route` goes through three
states::

    issued --(route.latency_ns)--> streaming --(last byte through)--> done

While streaming, a transfer is a *flow* crossing all of its links at once at one rate.
Rates are the max-min fair allocation (progressive filling) over every streaming flow,
recomputed only when a flow starts streaming or ends. All starts and ends of one
simulated instant are batched into one recomputation, which fills each connected
component touched by a change (flows coupled through shared links) on its own; flows of
other components, and flows whose rate comes out the same, keep their completion times.
A flow that starts alone on all its links just takes its bottleneck bandwidth, and one
that ends alone on its links changes nobody: neither needs a filling. Uncontended, a
transfer takes ``route.latency_ns + n / bottleneck_bw_gbs`` (1 GB/s = 1 byte/ns). Bytes
are never split into packets or flits.

Cost of a recomputation: linear in the links and flow hops of the touched components,
plus, per component, its links times its filling steps; never links x components, so
lock-stepped ranks with one small component each cost linear in the number of ranks.

Completions: SimPy cannot cancel a timeout, so each flow carries a version; a rate
change bumps it and schedules the new completion, and stale completions do nothing.
Completions are kept in the network's own heap, with one SimPy timeout armed for the
earliest, so a reschedule costs a heap push rather than a SimPy event. A transfer costs
about three SimPy events (start, end, done) however many times contention re-rates it.

Memories are capacities alongside links: a transfer whose route starts at a memory's
node reads it, one whose route ends there writes it, and every flow touching a memory
shares its one ``bw_gbs`` (both directions, whichever port), while each link gives its
``bw_gbs`` per direction. Internally a memory is just one more capacity (a
:class:`_Resource`) after the links: resource ids ``0..n_links-1`` are links,
``n_links + i`` is memory ``i``, so the filling below treats both alike. While a memory whose
``rw_mix_bw_fraction`` is below 1 is read and written at once, its capacity is scaled by
that factor (the counts of its readers and writers are kept for this).

Special cases: a zero-byte transfer, or a route with no links (``src == dst``, infinite
bandwidth), completes after the route latency alone.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import simpy
from simpy.events import NORMAL, Event, EventPriority

from simulator.hw.links import Link, Memory, Route

# Final module names are read from C statics when compiled; a plain one is looked up in
# the module's dict at every use (these are used per op, flow or event).
heappop: Final = heapq.heappop
heappush: Final = heapq.heappush

# Batch wake-ups run after every normal-priority event of their instant, so all flow
# starts and ends at one simulated time are seen by a single rate recomputation.
_AFTER_NORMAL: Final = EventPriority(NORMAL + 1)
# Completion wake-ups run at SimPy's normal priority, as a Timeout would.
_NORMAL: Final = NORMAL

# Routes whose checked link ids are kept (a bound for callers that never reuse one).
_CHECKED_ROUTES_MAX: Final = 65536

# Components with more links than this are filled by `Network._fill_large` (a share list
# and C-level `min`) rather than a Python scan of every open link at every step.
_SCAN_MAX_LINKS: Final = 8

_INF: Final = float("inf")

# `_Flow.bound_id` of a flow not rated yet (not a resource id).
_UNBOUND: Final = -1

# A flow with at most this fraction of its bytes left is done: it absorbs the rounding
# of repeated `remaining -= rate * dt` settlements.
_DONE_FRACTION: Final = 1e-9


@dataclass(slots=True)
class Transfer:
    """One transfer, in flight or finished.

    ``issue_ns`` is when :meth:`Network.transfer` was called, ``start_ns`` when the
    first byte starts streaming (``issue_ns + route.latency_ns``), ``end_ns`` when the
    last byte arrived (``None`` while in flight). ``tag`` is the caller's payload,
    passed through untouched. ``bound_by`` is set when it ends: the link or memory
    whose saturation fixed its max-min rate for the longest time (its route's
    narrowest while it streamed alone); None if it never streamed.
    """

    transfer_id: int
    route: Route
    bytes: int
    issue_ns: float
    start_ns: float
    end_ns: float | None
    tag: Any  # (not `object`: mypyc's dataclasses cannot name it)
    bound_by: str | None = None


class _Resource:
    """One capacity of the network, a link or a memory (internal: one per resource id):
    its bandwidth, the flows streaming through it, its busy time, and the scratch state
    of a rate recomputation. Fields rather than lists indexed by id: compiled, reading
    or updating them needs no boxing of floats and integers (the filling does it for
    every flow hop at every step)."""

    __slots__ = (
        "resource_id",
        "bw_gbs",
        "rw_efficiency",
        "flows",
        "readers",
        "writers",
        "busy_ns",
        "busy_since_ns",
        "mark",
        "cap_left_gbs",
        "unfixed",
        "share_gbs",
    )

    def __init__(self, resource_id: int, bw_gbs: float, rw_efficiency: float = 1.0) -> None:
        self.resource_id = resource_id
        self.bw_gbs = bw_gbs
        # A memory's capacity factor while it is both read and written (1.0: none).
        self.rw_efficiency = rw_efficiency
        # Streaming flows in start order. A list: the walk of every recomputation
        # iterates it (a dict's keys cost ~100 instructions each, a list's items ~5),
        # and a removal's linear search costs less than the walk over the same flows
        # that a flow's end on a shared link triggers.
        self.flows: list[_Flow] = []
        # Streaming flows reading / writing it (kept only when some memory has a
        # read/write mix below 1).
        self.readers = 0
        self.writers = 0
        self.busy_ns = 0.0
        self.busy_since_ns = 0.0
        # Walk mark: `stamp * n_marks + group` when walked in recomputation `stamp`.
        self.mark = 0
        # The filling's capacity left, flows not fixed yet, and fair share.
        self.cap_left_gbs = 0.0
        self.unfixed = 0
        self.share_gbs = 0.0


# What a checked route holds: (route, resources, memory read, memory written, bottleneck
# bandwidth, byte counter shared by routes over the same resources, id of the
# narrowest resource).
_CheckedRoute = tuple[Route, tuple[_Resource, ...], _Resource, _Resource, float, list[int], int]


class _Flow(Event):
    """Streaming state of one transfer, and the event that succeeds with its
    :class:`Transfer` when the last byte arrives (internal: one object per transfer).

    ``remaining_bytes`` is exact as of ``last_update_ns``; it is settled only when the
    rate changes. ``version`` invalidates completions scheduled for older rates.
    ``resources`` are the resources it holds (links, then the memories it reads and
    writes); ``reads`` / ``writes`` are the memory it reads / writes (or the
    network's ``_no_memory`` placeholder). ``carried`` is the byte counter shared by every
    route over the same resources (per-link totals are summed from these on demand).
    ``bottleneck_gbs`` is the smallest capacity it holds (its rate when alone).
    """

    __slots__ = (
        "transfer",
        "resources",
        "reads",
        "writes",
        "carried",
        "bottleneck_gbs",
        "remaining_bytes",
        "done_tolerance_bytes",
        "rate_gbs",
        "new_rate_gbs",
        "last_update_ns",
        "version",
        "seen_stamp",
        "fixed_stamp",
        "narrowest_id",
        "bound_id",
        "new_bound_id",
        "bound_since_ns",
        "bound_ns",
    )

    def __init__(
        self,
        env: simpy.Environment,
        transfer: Transfer,
        checked: _CheckedRoute,
        n_bytes: int,
    ):
        # Event's own state, set here rather than by its __init__ (one call per transfer).
        self.env = env
        self.callbacks = []
        self.transfer = transfer
        (_, self.resources, self.reads, self.writes, self.bottleneck_gbs, self.carried,
         self.narrowest_id) = checked  # fmt: skip
        self.remaining_bytes = float(n_bytes)
        self.done_tolerance_bytes = _DONE_FRACTION * n_bytes
        self.rate_gbs = 0.0
        self.new_rate_gbs = 0.0
        self.last_update_ns = 0.0
        self.version = 0
        self.seen_stamp = 0
        self.fixed_stamp = 0
        # The resource whose saturation fixed the current rate (_UNBOUND: not rated
        # yet), since when, and ns per earlier binding resource.
        self.bound_id = _UNBOUND
        self.new_bound_id = _UNBOUND
        self.bound_since_ns = 0.0
        self.bound_ns: dict[int, float] | None = None


class _End:
    """A pending completion in ``Network._ends``: ``flow`` ends at ``end_ns`` if its rate
    is still the one of ``version`` (else the entry is stale). Ordered by (end_ns, seq),
    as a tuple of them would be, but with one compiled comparison (as tuples, the heap's
    comparisons took ~4 % of gpt3_qkv's instructions)."""

    __slots__ = ("end_ns", "seq", "flow", "version")

    def __init__(self, end_ns: float, seq: int, flow: _Flow, version: int) -> None:
        self.end_ns = end_ns
        self.seq = seq
        self.flow = flow
        self.version = version

    def __lt__(self, other: _End) -> bool:
        if self.end_ns == other.end_ns:
            return self.seq < other.seq
        return self.end_ns < other.end_ns


def _first_min(resources: list[_Resource]) -> _Resource:
    """The resource of ``resources`` with the smallest ``share_gbs``, the first of ties
    (``min`` over the shares and ``list.index`` in one pass, on unboxed floats when
    compiled: the filling of a large component runs it once per step, over all its
    links)."""
    best = resources[0]
    best_share = best.share_gbs
    for index in range(1, len(resources)):
        resource = resources[index]
        if resource.share_gbs < best_share:
            best_share = resource.share_gbs
            best = resource
    return best


def _rebind(flow: _Flow, bound_id: int, now: float) -> None:
    """Credit the time since ``flow.bound_since_ns`` to the resource that bound it, and
    make ``bound_id`` the binding one from ``now`` (rate changes only: rare per flow)."""
    if flow.bound_id != _UNBOUND:
        held = flow.bound_ns
        if held is None:
            held = flow.bound_ns = {}
        held[flow.bound_id] = held.get(flow.bound_id, 0.0) + (now - flow.bound_since_ns)
    flow.bound_id = bound_id
    flow.bound_since_ns = now


def _open(res: _Resource, n_flows: int, track_mix: bool) -> None:
    """Reset ``res`` for a filling: its whole capacity left (with the read/write
    turnaround applied to a memory both read and written now, when ``track_mix``), and
    ``n_flows`` flows to fix."""
    bw_gbs = res.bw_gbs
    if track_mix and res.rw_efficiency < 1.0 and res.readers and res.writers:
        bw_gbs *= res.rw_efficiency
    res.cap_left_gbs = bw_gbs
    res.unfixed = n_flows


class _Wakeup:
    """A wake-up the network schedules for itself: succeeds with ``value`` after
    ``delay_ns`` at ``priority`` and runs ``callback`` (the batch of flows starting at a
    time, or the earliest completion). Only the fields SimPy's event loop processes:
    compiled, it has no per-object dict and no interpreted ``__init__`` (as SimPy's
    ``Timeout`` has); nothing waits on it with ``yield``."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(
        self,
        env: simpy.Environment,
        delay_ns: float,
        value: Any,
        callback: Callable[[Any], None],
        priority: EventPriority,
    ) -> None:
        self.callbacks: list[Callable[[Any], None]] | None = [callback]
        self._ok = True
        self._value = value
        env.schedule(self, priority, delay_ns)  # type: ignore[arg-type]  # an event's fields


class Network:
    """Links and memories shared flow-level, max-min fairly, by every transfer in flight.

    ``links`` is the full link list in index order (``links[i].index == i``); per-link
    state lives in flat lists indexed the same way, followed by one entry per memory of
    ``memories`` (capacities shared by every flow reading or writing their node).

    Raises ``ValueError`` if a link's index does not match its position, or a link's or
    memory's bandwidth is not a positive finite number, or a latency is negative, or a
    memory node is listed twice or has a ``rw_mix_bw_fraction`` outside (0, 1].
    """

    def __init__(
        self,
        env: simpy.Environment,
        links: Sequence[Link],
        memories: Sequence[Memory] = (),
    ):
        for position, link in enumerate(links):
            if link.index != position:
                raise ValueError(
                    f"link {link.name!r} has index {link.index} but is at position "
                    f"{position} of the link list; indices must be 0..n_links-1 in order"
                )
            if not 0.0 < link.bw_gbs < float("inf"):
                raise ValueError(
                    f"link {link.name!r} has bw_gbs {link.bw_gbs}; "
                    "it must be a positive finite number"
                )
            if link.latency_ns < 0:
                raise ValueError(f"link {link.name!r} has negative latency_ns {link.latency_ns}")
        self._memory_id: dict[str, int] = {}
        for memory in memories:
            if not 0.0 < memory.bw_gbs < float("inf"):
                raise ValueError(
                    f"memory {memory.node!r} has bw_gbs {memory.bw_gbs}; "
                    "it must be a positive finite number"
                )
            if not 0.0 < memory.rw_mix_bw_fraction <= 1.0:
                raise ValueError(
                    f"memory {memory.node!r} has rw_mix_bw_fraction "
                    f"{memory.rw_mix_bw_fraction}; it must be in (0, 1]"
                )
            if memory.node in self._memory_id:
                raise ValueError(f"memory {memory.node!r} is listed twice")
            self._memory_id[memory.node] = len(links) + len(self._memory_id)
        self._env = env
        self._links = tuple(links)
        self._memories = tuple(memories)
        self._n_links = len(self._links)
        # Resource id -> name (links, then memory nodes), for `Transfer.bound_by`.
        self._resource_names = [link.name for link in self._links]
        self._resource_names += [memory.node for memory in self._memories]
        # From here on "link" in a state name means any resource: a link or a memory.
        self._resources = [_Resource(link.index, link.bw_gbs) for link in self._links]
        self._resources += [
            _Resource(self._n_links + index, memory.bw_gbs, memory.rw_mix_bw_fraction)
            for index, memory in enumerate(self._memories)
        ]
        # Read/write mix: only tracked when some memory loses bandwidth to it.
        self._track_mix = any(res.rw_efficiency < 1.0 for res in self._resources)
        # The memory a flow "reads" or "writes" when its end is not a memory: it counts
        # those flows, so updates need no test, and is never walked.
        self._no_memory = _Resource(len(self._resources), _INF)
        self._memory_of = {node: self._resources[index] for node, index in self._memory_id.items()}
        # Bytes carried, kept per resource-id tuple (one counter shared by every route
        # over the same resources) and summed per link only when asked for.
        self._carried: dict[tuple[int, ...], list[int]] = {}
        # Walk marks: `stamp * _n_marks + group` for a link walked in recomputation
        # `stamp` (groups are fewer than links).
        self._n_marks = len(self._resources) + 1
        # Resources of the flows started or ended since the last recomputation, one
        # group per flow in the order they changed: the seeds of the next one.
        self._dirty_groups: list[Sequence[_Resource]] = []
        self._stamp = 0
        # Flows that start streaming at a given time; one wake-up event per time.
        self._batches: dict[float, list[_Flow]] = {}
        self._streaming: dict[int, _Flow] = {}
        self._on_batch_cb = self._on_batch
        # id(route) -> what `_check_route` found, for every route checked.
        self._checked_routes: dict[int, _CheckedRoute] = {}
        # Pending completions (a heap); stale entries are skipped.
        self._ends: list[_End] = []
        self._end_seq = 0
        # The one live end wake-up: its target time and version (older ones are no-ops).
        self._armed_end_ns = float("inf")
        self._armed_version = 0
        self._on_end_wakeup_cb = self._on_end_wakeup
        self.n_transfers = 0
        """Transfers issued so far."""
        self.n_rate_updates = 0
        """Rate recomputations run so far: at most one per instant at which flows start
        or end on shared links (a flow alone on its links needs none); each fills every
        component touched at that instant."""
        self.n_reschedules = 0
        """Completions scheduled so far (one per flow start plus one per rate change)."""

    # -- public API ---------------------------------------------------------------------

    def transfer(self, route: Route, n_bytes: int, tag: object = None) -> Event:
        """Send ``n_bytes`` over ``route``; return an event that succeeds with the
        :class:`Transfer` when the last byte arrives.

        The transfer reads the memory at ``route.src`` and writes the one at
        ``route.dst`` (when those nodes are memories of this network), sharing their
        capacity with every other flow touching them.

        Raises ``ValueError`` (naming the route) for negative ``n_bytes``, a link that
        is not in this network's link list, or a link the route crosses twice.
        """
        if n_bytes < 0:
            raise ValueError(
                f"negative transfer size {n_bytes} bytes on route {route.src} -> {route.dst}"
            )
        # Routes are reused (the machine memoises them), so each is checked once. The
        # cache holds the route itself: its id cannot be reused while it is cached.
        checked = self._checked_routes.get(id(route))
        if checked is None or checked[0] is not route:
            checked = self._check_route(route)
        env = self._env
        now = env._now  # hot path: the property would cost a call per transfer
        latency_ns = route.latency_ns
        # Same float expression SimPy uses for the event time, so the key equals env.now then.
        start_ns = now + latency_ns
        transfer = Transfer(self.n_transfers, route, n_bytes, now, start_ns, None, tag)
        self.n_transfers += 1
        flow = _Flow(env, transfer, checked, n_bytes)
        batch = self._batches.get(start_ns)
        if batch is None:
            self._batches[start_ns] = [flow]
            _Wakeup(env, latency_ns, start_ns, self._on_batch_cb, _AFTER_NORMAL)
        else:
            batch.append(flow)
        return flow

    def link_bytes(self) -> list[int]:
        """Total bytes carried per link index (a transfer counts once it is done)."""
        return self._resource_bytes()[: self._n_links]

    def link_busy_ns(self) -> list[float]:
        """Time each link carried at least one streaming flow, up to now (a union of
        intervals, not a sum over flows), per link index."""
        return self._busy_ns(0, self._n_links)

    def memory_bytes(self) -> list[int]:
        """Total bytes read plus written per memory, in the order of ``memories``."""
        return self._resource_bytes()[self._n_links :]

    def _resource_bytes(self) -> list[int]:
        """Bytes carried per resource id (links, then memories), from the counters."""
        carried = [0] * len(self._resources)
        for resource_ids, counter in self._carried.items():
            for resource_id in resource_ids:
                carried[resource_id] += counter[0]
        return carried

    def memory_busy_ns(self) -> list[float]:
        """Time each memory had at least one streaming flow, up to now, in the order of
        ``memories``."""
        return self._busy_ns(self._n_links, len(self._resources))

    def _busy_ns(self, first: int, stop: int) -> list[float]:
        now = self._env.now
        busy = []
        for res in self._resources[first:stop]:
            busy.append(res.busy_ns + (now - res.busy_since_ns) if res.flows else res.busy_ns)
        return busy

    def rate_gbs(self, transfer_id: int) -> float:
        """Current rate (bytes/ns) of a streaming transfer.

        Raises ``ValueError`` if the transfer is not streaming (unknown, still paying
        its latency, or done).
        """
        flow = self._streaming.get(transfer_id)
        if flow is None:
            raise ValueError(f"transfer {transfer_id} is not streaming")
        return flow.rate_gbs

    def streaming_transfer_ids(self) -> list[int]:
        """Ids of the transfers streaming now, in start order."""
        return list(self._streaming)

    # -- event handlers -----------------------------------------------------------------

    def _on_batch(self, event: _Wakeup) -> None:
        """Start the flows due now, then recompute rates around every changed link."""
        now = self._env.now
        streaming = self._streaming
        track_mix = self._track_mix
        started: list[_Flow] = []
        for flow in self._batches.pop(event._value):  # hot path: no property call
            if not flow.resources or flow.remaining_bytes <= 0.0:
                self._complete(flow, now)
                continue
            streaming[flow.transfer.transfer_id] = flow
            flow.last_update_ns = now
            if track_mix:
                flow.reads.readers += 1
                flow.writes.writers += 1
            for res in flow.resources:
                flows = res.flows
                if not flows:
                    res.busy_since_ns = now
                flows.append(flow)
            started.append(flow)
        dirty_groups = self._dirty_groups
        for flow in started:
            for res in flow.resources:
                if len(res.flows) != 1:
                    break
            else:
                # Alone on all its links: its own component, so no filling is needed.
                self._set_rate(flow, flow.bottleneck_gbs, now)
                continue
            dirty_groups.append(flow.resources)
        if dirty_groups:
            self._dirty_groups = []
            self._recompute(dirty_groups, now)

    def _on_end_wakeup(self, event: _Wakeup) -> None:
        """Finish every flow due by the wake-up's target time, then arm the next one."""
        target_ns, version = event._value  # hot path: no property call
        if version != self._armed_version:
            return  # superseded by an earlier wake-up
        self._armed_end_ns = float("inf")
        now = self._env.now
        ends = self._ends
        dirty_groups = self._dirty_groups
        changed = False
        # Compare with the target, not env.now: the two may differ by rounding.
        while ends and ends[0].end_ns <= target_ns:
            end = heappop(ends)
            flow = end.flow
            if end.version != flow.version:
                continue  # stale: the rate changed after this completion was scheduled
            self._finish_streaming(flow, now)
            # Its links that other flows still use seed the next recomputation (in the
            # order they were freed: that order is the walk order, hence tie-breaks).
            group = [res for res in flow.resources if res.flows]
            if group:
                dirty_groups.append(group)
                changed = True
        if changed and now not in self._batches:
            self._batches[now] = []
            _Wakeup(self._env, 0.0, now, self._on_batch_cb, _AFTER_NORMAL)
        while ends and ends[0].version != ends[0].flow.version:
            heappop(ends)
        if ends:
            self._arm_end_wakeup(ends[0].end_ns, now)

    # -- internals ----------------------------------------------------------------------

    def _check_route(self, route: Route) -> _CheckedRoute:
        """Validate ``route`` against this network's links and cache (route, resource
        ids, read id, write id, bottleneck bandwidth, byte counter) for it. Raises ``ValueError`` as
        :meth:`transfer` says. A route with no links holds nothing (latency only)."""
        links = self._links
        link_ids: list[int] = []
        bottleneck_gbs = float("inf")
        narrowest_id = _UNBOUND
        for link in route.links:
            index = link.index
            if not (0 <= index < len(links) and (links[index] is link or links[index] == link)):
                raise ValueError(
                    f"route {route.src} -> {route.dst} uses link {link.name!r} "
                    f"(index {index}), which is not in this network's link list"
                )
            link_ids.append(index)
            if link.bw_gbs < bottleneck_gbs:
                bottleneck_gbs = link.bw_gbs
                narrowest_id = index
        if len(set(link_ids)) != len(link_ids):
            raise ValueError(f"route {route.src} -> {route.dst} crosses a link more than once")
        # Ids of the memories read and written; `_no_memory` when an end is not a
        # memory or the route has no links.
        reads = writes = self._no_memory
        if link_ids:
            for node, is_read in ((route.src, True), (route.dst, False)):
                memory = self._memory_of.get(node)
                if memory is None or memory.resource_id in link_ids:
                    continue
                link_ids.append(memory.resource_id)
                if memory.bw_gbs < bottleneck_gbs:
                    bottleneck_gbs = memory.bw_gbs
                    narrowest_id = memory.resource_id
                if is_read:
                    reads = memory
                else:
                    writes = memory
        if len(self._checked_routes) >= _CHECKED_ROUTES_MAX:
            self._checked_routes.clear()  # callers that build a fresh route per transfer
        resource_ids = tuple(link_ids)
        carried = self._carried.get(resource_ids)
        if carried is None:
            carried = self._carried[resource_ids] = [0]
        resources = tuple(self._resources[resource_id] for resource_id in resource_ids)
        checked = (route, resources, reads, writes, bottleneck_gbs, carried, narrowest_id)
        self._checked_routes[id(route)] = checked
        return checked

    def _finish_streaming(self, flow: _Flow, now: float) -> None:
        """Take a streaming flow off its links and complete it."""
        transfer = flow.transfer
        transfer_id = transfer.transfer_id
        for res in flow.resources:
            flows = res.flows
            flows.remove(flow)
            if not flows:
                res.busy_ns += now - res.busy_since_ns
        flow.carried[0] += transfer.bytes
        del self._streaming[transfer_id]
        if self._track_mix:
            flow.reads.readers -= 1
            flow.writes.writers -= 1
        flow.version += 1  # any completion still queued for it is now stale
        flow.remaining_bytes = 0.0
        flow.rate_gbs = 0.0
        bound_id = flow.bound_id
        if flow.bound_ns is not None:  # bound by several resources in turn: the longest
            _rebind(flow, _UNBOUND, now)
            held = flow.bound_ns
            bound_id = max(held, key=held.__getitem__)
        if bound_id >= 0:
            transfer.bound_by = self._resource_names[bound_id]
        # Complete: what Event.succeed does, without its checks (a flow ends once).
        transfer.end_ns = now
        flow._ok = True
        flow._value = transfer
        self._env.schedule(flow)

    def _complete(self, flow: _Flow, now: float) -> None:
        """Complete a flow that never streamed (no bytes, or no links)."""
        transfer = flow.transfer
        transfer.end_ns = now
        flow.succeed(transfer)

    def _set_rate(self, flow: _Flow, rate_gbs: float, now: float) -> None:
        """Settle the bytes sent at the old rate, then schedule completion at the new one."""
        if flow.rate_gbs > 0.0:
            left = flow.remaining_bytes - flow.rate_gbs * (now - flow.last_update_ns)
            flow.remaining_bytes = left if left > 0.0 else 0.0
        flow.last_update_ns = now
        flow.rate_gbs = rate_gbs
        flow.version += 1
        if flow.bound_id != flow.narrowest_id:  # alone: its narrowest resource binds it
            _rebind(flow, flow.narrowest_id, now)
        self.n_reschedules += 1
        end_ns = now + flow.remaining_bytes / rate_gbs
        self._end_seq += 1
        heappush(self._ends, _End(end_ns, self._end_seq, flow, flow.version))
        if end_ns < self._armed_end_ns:
            self._arm_end_wakeup(end_ns, now)

    def _arm_end_wakeup(self, end_ns: float, now: float) -> None:
        """Make the one live end wake-up fire at ``end_ns`` (any armed before is a no-op)."""
        self._armed_end_ns = end_ns
        self._armed_version += 1
        delay_ns = end_ns - now
        _Wakeup(
            self._env,
            delay_ns if delay_ns > 0.0 else 0.0,
            (end_ns, self._armed_version),
            self._on_end_wakeup_cb,
            _NORMAL,
        )

    def _open_links_by_component(
        self,
        walk_links: list[_Resource],
        group_parent: list[int],
        n_components: int,
        mark_base: int,
    ) -> list[list[_Resource]]:
        """The walked links that carry flows, one list per component (root group) in walk
        order, with their capacity left and unfixed-flow count reset for a filling.

        (A flow finished during the walk may have split a component; filling the parts
        together gives the same rates.)
        """
        track_mix = self._track_mix
        if n_components == 1:  # the common case when few links changed: no lookups
            open_links = []
            for res in walk_links:
                count = len(res.flows)
                if count:
                    _open(res, count, track_mix)
                    open_links.append(res)
            return [open_links]
        # Every group shares the list of its root.
        links_of_group: list[list[_Resource]] = [[] for _ in group_parent]
        components: list[list[_Resource]] = []
        for group, parent in enumerate(group_parent):
            if parent == group:
                components.append(links_of_group[group])
            else:
                while group_parent[parent] != parent:
                    parent = group_parent[parent]
                links_of_group[group] = links_of_group[parent]
        for res in walk_links:
            count = len(res.flows)
            if count:
                _open(res, count, track_mix)
                links_of_group[res.mark - mark_base].append(res)
        return components

    def _recompute(self, seed_groups: list[Sequence[_Resource]], now: float) -> None:
        """Max-min rates by progressive filling, separately in each connected component
        (flows coupled through shared links) touching the links of ``seed_groups`` (the
        links of each flow that started or ended, in that order).

        Flows whose rate changes are settled and get a new completion; the others keep
        theirs. Hot path: loops are written with locals for speed.
        """
        self.n_rate_updates += 1
        self._stamp += 1
        stamp = self._stamp

        # Walk the links and flows reachable from the seeds, breadth first in insertion
        # order (deterministic). Each seed opens a group; a walked link joins the group of
        # the link it was reached from, and a flow crossing two groups merges them
        # (union-find over `group_parent`), so in the end a group is a component. A flow
        # that rounding left a hair short of done is finished now instead of rated.
        # A walked link's mark is `mark_base + group` (earlier marks are all smaller), so
        # one comparison settles the common "walked, same group" case: a speed trick.
        # The seed links are walked first, in the order they changed; each seed group
        # opens one group for its links not seen yet (the links of a started flow are
        # one component; those of an ended one may not be, and filling the parts
        # together gives the same rates). A link emptied later in the same instant (its
        # last flows ended too) needs no filling.
        mark_base = stamp * self._n_marks
        group_parent: list[int] = []
        walk_links: list[_Resource] = []
        for seed_group in seed_groups:
            group_mark = 0
            for res in seed_group:
                if res.mark < mark_base and res.flows:
                    if not group_mark:
                        group_mark = mark_base + len(group_parent)
                        group_parent.append(len(group_parent))
                    res.mark = group_mark
                    walk_links.append(res)
        if not walk_links:
            return
        n_components = len(group_parent)
        live_flows: list[_Flow] = []
        done_flows: list[_Flow] = []
        for res in walk_links:  # grows while we walk it
            group = res.mark - mark_base
            while group_parent[group] != group:
                group_parent[group] = group_parent[group_parent[group]]  # path halving
                group = group_parent[group]
            group_mark = mark_base + group
            for flow in res.flows:
                if flow.seen_stamp == stamp:
                    continue
                flow.seen_stamp = stamp
                rate = flow.rate_gbs
                if (
                    rate > 0.0
                    and flow.remaining_bytes - rate * (now - flow.last_update_ns)
                    <= flow.done_tolerance_bytes
                ):
                    done_flows.append(flow)
                else:
                    live_flows.append(flow)
                for other_res in flow.resources:
                    if other_res.mark == group_mark:
                        continue
                    other = other_res.mark - mark_base
                    if other < 0:  # not walked yet
                        walk_links.append(other_res)
                    else:
                        while group_parent[other] != other:
                            group_parent[other] = group_parent[group_parent[other]]
                            other = group_parent[other]
                        if other != group:
                            group_parent[other] = group
                            n_components -= 1
                    other_res.mark = group_mark  # same component; fast case next time
        for flow in done_flows:
            self._finish_streaming(flow, now)

        components = self._open_links_by_component(
            walk_links, group_parent, n_components, mark_base
        )

        # Progressive filling, one component at a time: repeatedly saturate the link with
        # the smallest fair share (the first in walk order on ties) and fix the rate of
        # its unfixed flows. A link with unfixed flows keeps a positive capacity (every
        # share taken from it was at most its own fair share). Components share no link,
        # so the order they are filled in cannot change any rate.
        for open_links in components:
            if len(open_links) == 1:
                # One link: its flows cross no other, so one step fixes them all at the
                # same share the loop below would give (a fast path for the common case).
                best = open_links[0]
                best_share = best.cap_left_gbs / best.unfixed
                best_id = best.resource_id
                for flow in best.flows:
                    flow.fixed_stamp = stamp
                    flow.new_rate_gbs = best_share
                    flow.new_bound_id = best_id
                continue
            if len(open_links) > _SCAN_MAX_LINKS:
                self._fill_large(open_links, stamp)
                continue
            while open_links:
                best = open_links[0]
                best_share = best.cap_left_gbs / best.unfixed
                for res in open_links:
                    share = res.cap_left_gbs / res.unfixed
                    if share < best_share:
                        best_share = share
                        best = res
                best_id = best.resource_id
                for flow in best.flows:
                    if flow.fixed_stamp != stamp:
                        flow.fixed_stamp = stamp
                        flow.new_rate_gbs = best_share
                        flow.new_bound_id = best_id
                        for res in flow.resources:
                            res.cap_left_gbs -= best_share
                            res.unfixed -= 1
                open_links = [res for res in open_links if res.unfixed]

        # Reschedule only the flows whose rate changed, in walk order (what `_set_rate`
        # does, inlined: this runs for most flows of every recomputation).
        ends = self._ends
        n_changed = 0
        for flow in live_flows:
            rate_gbs = flow.new_rate_gbs
            old_rate_gbs = flow.rate_gbs
            if rate_gbs != old_rate_gbs:
                if old_rate_gbs > 0.0:
                    left = flow.remaining_bytes - old_rate_gbs * (now - flow.last_update_ns)
                    flow.remaining_bytes = left if left > 0.0 else 0.0
                flow.last_update_ns = now
                flow.rate_gbs = rate_gbs
                flow.version += 1
                if flow.new_bound_id != flow.bound_id:
                    _rebind(flow, flow.new_bound_id, now)
                n_changed += 1
                end_ns = now + flow.remaining_bytes / rate_gbs
                self._end_seq += 1
                heappush(ends, _End(end_ns, self._end_seq, flow, flow.version))
                if end_ns < self._armed_end_ns:
                    self._arm_end_wakeup(end_ns, now)
        self.n_reschedules += n_changed

    def _fill_large(self, open_links: list[_Resource], stamp: int) -> None:
        """The progressive filling of `_recompute` for one component with many links:
        the same steps on the same numbers, but each link's fair share is kept in its
        ``share_gbs`` and updated only where a step changed it, and the smallest is
        found in one pass (the first in walk order on ties: :func:`_first_min`). A
        closed link's share is infinite."""
        for res in open_links:
            res.share_gbs = res.cap_left_gbs / res.unfixed
        inf = _INF
        best = _first_min(open_links)
        best_share = best.share_gbs
        while best_share != inf:
            best_id = best.resource_id
            for flow in best.flows:
                if flow.fixed_stamp != stamp:
                    flow.fixed_stamp = stamp
                    flow.new_rate_gbs = best_share
                    flow.new_bound_id = best_id
                    for res in flow.resources:
                        left = res.cap_left_gbs - best_share
                        res.cap_left_gbs = left
                        count = res.unfixed - 1
                        res.unfixed = count
                        res.share_gbs = left / count if count else inf
            best = _first_min(open_links)
            best_share = best.share_gbs
