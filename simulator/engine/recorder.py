"""The trace recorder: turns what the engine did into rows of the trace tables.

One :class:`Recorder` per simulated machine owns everything tracing needs: the fast
positional appenders of the hot tables (``ops``, ``dma``, ``pe_exec``), the id counters
(ops, DMAs, launches, collectives), the per-route column cache of DMA rows and the row
count. Components hold the recorder and call it; rows go to a :class:`TraceSink` (a
``traces`` RunWriter, or :class:`~traces.writer.NullWriter` when tracing is off, so no
call site checks whether tracing is on).

The positional appenders take values in the order of ``OPS_COLUMNS``, ``DMA_COLUMNS``
and ``PE_EXEC_COLUMNS``; ``tests/test_engine_recorder.py`` ties those tuples to
``traces/schema.py``, so a reordered schema column cannot silently shift values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from librt.strings import BytesWriter, write_f64_le, write_i64_le

from simulator.hw import graph as g
from simulator.hw.links import Link, Memory, Route
from simulator.hw.network import Network, Transfer
from simulator.hw.topology import Topology
from traces.nullwriter import NullWriter
from traces.row_buffer import (
    PACKED_INT_MAX,
    PACKED_INT_MIN,
    TAG_FLOAT,
    TAG_INT,
    TAG_NONE,
    PackedRows,
)
from traces.runsink import column_types

if TYPE_CHECKING:
    import simpy

    from simulator.engine.ops import Op

# Order of hierarchy levels: a route's level is the highest level of any link it crosses.
LEVEL_ORDER = {"pe": 0, "cube": 1, "mesh": 2, "io": 3, "sip": 4, "host": 5}
# Memory spaces by the kind of graph node that holds the bytes.
SPACE_HBM, SPACE_TCM, SPACE_SRAM, SPACE_HOST = "HBM", "TCM", "SRAM", "HOST"
SPACE_MCPU, SPACE_IOCPU, SPACE_PECPU = "MCPU_LOCAL", "IOCPU", "PE_CPU"
_NOWHERE = (None, None, None, None)
# A transfer streaming this much longer than alone (ns) shared bandwidth: below it is
# float rounding of the network's rate settlements.
_SHARED_MIN_NS: Final = 1e-6  # Final: compiled, a constant rather than a global's lookup

# A route's DMA columns: the key of its DMA_ROUTE_COLUMNS, its narrowest resource and
# its GB/s, the keys of the deps row of a DMA it carries alone (not of an op, of an op),
# and the route itself (see Recorder._columns_of).
_RoutePlaces = tuple[int, str | None, float, int, int, Route]
# Routes whose columns are kept by id (a bound for callers that never reuse one).
_ROUTES_BY_ID_MAX: Final = 65536

# Positional column order of the hot-path appenders (the schema order minus run_id).
OPS_COLUMNS = ("op_id", "launch_id", "sip", "cube", "pe", "pe_global", "engine", "op",
               "issue_ns", "start_ns", "end_ns", "flops", "bytes", "lane")  # fmt: skip
DMA_COLUMNS = ("dma_id", "launch_id", "kind", "src", "dst", "src_space", "dst_space",
               "src_sip", "src_cube", "src_pe", "dst_sip", "dst_cube", "dst_pe", "bytes",
               "hops", "level", "issue_ns", "start_ns", "end_ns", "coll_id",
               "round")  # fmt: skip
# The ops columns that depend only on where an op ran and what it is (PE, engine, op
# name, a bounded set): recorded as one key.
OPS_SITE_COLUMNS = ("sip", "cube", "pe", "pe_global", "engine", "op")
# The dma columns that depend only on the route: recorded as one key per route.
DMA_ROUTE_COLUMNS = ("src", "dst", "src_space", "dst_space", "src_sip", "src_cube", "src_pe",
                     "dst_sip", "dst_cube", "dst_pe", "hops", "level")  # fmt: skip
DEPS_COLUMNS = ("item", "item_id", "cause", "on_item", "on_id", "resource", "ready_ns",
                "wait_ns", "resource_kind")  # fmt: skip
# The deps columns stored as one key (few distinct combinations).
DEPS_KEYED_COLUMNS = ("item", "cause", "on_item", "resource", "resource_kind")
PE_EXEC_COLUMNS = ("launch_id", "sip", "cube", "pe", "pe_global", "dispatch_ns",
                   "exec_start_ns", "exec_end_ns")  # fmt: skip


class TraceSink(Protocol):
    """Where trace rows go (``traces.writer.RunWriter`` and ``NullWriter`` are sinks).

    ``append`` adds one row by column name; ``appender`` returns a function taking a
    row's values positionally, in the table's schema order without ``run_id``. A sink
    may also offer ``keyed_appender`` (see ``traces.writer.RunWriter``): the recorder
    then gives a DMA's route columns and an op's site columns as one key, and each of
    their ``deps`` rows rides on the row it annotates; a sink without one gets whole
    rows (:class:`KeysExpanded`).
    """

    def append(self, table: str, **columns: Any) -> None: ...

    def appender(self, table: str, keyed: tuple[str, ...] = ()) -> Callable[..., None]: ...


class KeysExpanded:
    """A sink without keyed appenders, given them: each key is expanded back into the
    values it stands for, and a rider's row into a row of its own table (for sinks that
    keep whole rows, such as the tests' in-memory one)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self._keyed: dict[str, tuple[str, ...]] = {}
        self._known: dict[str, list[tuple[Any, ...]]] = {}

    def append(self, table: str, **columns: Any) -> None:
        self.sink.append(table, **columns)

    def appender(self, table: str, keyed: tuple[str, ...] = ()) -> Callable[..., None]:
        """Whole rows, positionally: keyed columns come as values here anyway."""
        return self.sink.appender(table)

    def keyed_appender(
        self, table: str, keyed: tuple[str, ...], rider: str | None = None
    ) -> tuple[Callable[..., None], Callable[..., int]]:
        """(append(key, *others[, rider_key, *rider_others]), key_of(*keyed)) over the
        sink's positional appender; a ``rider``'s keyed columns must be declared first."""
        columns = list(column_types(table))
        append = self.sink.appender(table)
        where = [keyed.index(name) if name in keyed else None for name in columns]
        known = self._known.setdefault(table, [])
        self._keyed[table] = keyed
        n_others = len(columns) - len(keyed)
        append_rider = self.keyed_appender(rider, self._keyed[rider])[0] if rider else None

        def key_of(*values: Any) -> int:
            known.append(values)
            return len(known) - 1

        def append_keyed(key: int, *others: Any) -> None:
            rest = iter(others[:n_others])
            values = known[key]
            append(*(next(rest) if i is None else values[i] for i in where))
            if append_rider is not None:
                append_rider(*others[n_others:])

        return append_keyed, key_of


class _Keys(dict):
    """Keys of ``deps`` rows by what varies among them, each made at first use by
    ``make(what)`` (a dict lookup on the hot path, not a key function's call);
    ``on_op``: another such dict, if given."""

    def __init__(self, make: Callable[[Any], int], on_op: _Keys | None = None) -> None:
        super().__init__()
        self._make = make
        self.on_op = on_op

    def __missing__(self, what: Any) -> int:
        key = self[what] = self._make(what)
        return key


@dataclasses.dataclass(frozen=True, slots=True)
class DmaInfo:
    """What a DMA piece is, for its trace row (the route gives src and dst nodes)."""

    kind: str
    launch_id: int | None
    coll_id: int | None
    round: int | None
    # A launch message: what it forwards, (on_item, on_id, ready_ns) of its ``deps`` row
    # (the message it forwards, or the launch for the host's first), None otherwise.
    after: tuple[str, int, float] | None = None


def node_places(topology: Topology) -> dict[str, tuple[str, int | None, int | None, int | None]]:
    """(memory space, sip, cube, pe) of every graph node that holds bytes or receives
    them (a PE's CPU, where launch messages end)."""
    place: dict[str, tuple[str, int | None, int | None, int | None]] = {
        g.host(): (SPACE_HOST, None, None, None)
    }
    for c in topology.pe_coords():
        place[g.pe_hbm(c)] = (SPACE_HBM, c.sip, c.cube, c.pe)
        place[g.pe_tcm(c)] = (SPACE_TCM, c.sip, c.cube, c.pe)
        place[g.pe_cpu(c)] = (SPACE_PECPU, c.sip, c.cube, c.pe)  # launch messages end here
        place[g.cube_sram(c.sip, c.cube)] = (SPACE_SRAM, c.sip, c.cube, None)
        place[g.m_cpu(c.sip, c.cube)] = (SPACE_MCPU, c.sip, c.cube, None)
        place[g.io_cpu(c.sip)] = (SPACE_IOCPU, c.sip, None, None)
    return place


def _packed(append: Callable[..., None]) -> PackedRows | None:
    """The appender as the PackedRows it is, else None."""
    return append if isinstance(append, PackedRows) else None


# -- rows packed in place: the values of one ops or dma row, in the order its appender
# takes them, written into a PackedRows' tags and payload (traces/row_buffer.py) as
# unboxed ints and floats: compiled, each a few machine instructions, where a call with
# the row's values would box each of them and the packer unbox it again.
def _put_count(rows: PackedRows, tags: BytesWriter, payload: BytesWriter, count: int) -> None:
    """A count of bytes or flops: a user's sizes may take it beyond the packed range, where
    it is kept as the int it is (the writer then names the column it cannot hold)."""
    if PACKED_INT_MIN <= count <= PACKED_INT_MAX:
        tags.append(TAG_INT)
        write_i64_le(payload, count)
    else:
        rows.put_object(count)


def _put_id(tags: BytesWriter, payload: BytesWriter, value: int | None) -> None:
    """An id, a key or a round, where None means none."""
    if value is None:
        tags.append(TAG_NONE)
        write_i64_le(payload, 0)
    else:
        tags.append(TAG_INT)
        write_i64_le(payload, value)


def _pack_op_row(rows: PackedRows, key: int, op: Op, launch_id: int | None, end_ns: float) -> None:
    """The row Recorder.op appends: the site's key, OPS_COLUMNS without the site's, then
    the deps row of its start (key, item_id, on_id, ready_ns, wait_ns)."""
    tags, payload = rows.tags, rows.payload
    op_id = op.op_id
    tags.append(TAG_INT)
    write_i64_le(payload, key)
    tags.append(TAG_INT)
    write_i64_le(payload, op_id)
    _put_id(tags, payload, launch_id)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, op.issue_ns)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, op.start_ns)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, end_ns)
    _put_count(rows, tags, payload, op.flops)
    _put_count(rows, tags, payload, op.nbytes)
    tags.append(TAG_INT)
    write_i64_le(payload, op.lane)
    tags.append(TAG_INT)
    write_i64_le(payload, op.dep_key)
    tags.append(TAG_INT)
    write_i64_le(payload, op_id)
    _put_id(tags, payload, op.dep_on_id)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, op.dep_ready_ns)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, op.dep_wait_ns)
    rows.end_row()


def _pack_dma_row(rows: PackedRows, route_key: int, dma_id: int, info: DmaInfo,
                  transfer: Transfer, end_ns: float, dep_key: int, op_id: int | None,
                  ready_ns: float, wait_ns: float) -> None:  # fmt: skip
    """The row Recorder.transfer appends: the route's key, DMA_COLUMNS without the
    route's, then its deps row (key, item_id, on_id, ready_ns, wait_ns)."""
    tags, payload = rows.tags, rows.payload
    tags.append(TAG_INT)
    write_i64_le(payload, route_key)
    tags.append(TAG_INT)
    write_i64_le(payload, dma_id)
    _put_id(tags, payload, info.launch_id)
    rows.put(info.kind)
    _put_count(rows, tags, payload, transfer.bytes)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, transfer.issue_ns)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, transfer.start_ns)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, end_ns)
    _put_id(tags, payload, info.coll_id)
    _put_id(tags, payload, info.round)
    tags.append(TAG_INT)
    write_i64_le(payload, dep_key)
    tags.append(TAG_INT)
    write_i64_le(payload, dma_id)
    _put_id(tags, payload, op_id)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, ready_ns)
    tags.append(TAG_FLOAT)
    write_f64_le(payload, wait_ns)
    rows.end_row()


class Recorder:
    """Trace rows of one machine: ids, appenders, route-column cache and row count.

    ``sink`` None means tracing is off: rows go to a NullWriter and are still counted
    by the id counters (ids are part of the simulation, not of tracing), but not by
    ``n_rows``.
    """

    def __init__(
        self,
        env: simpy.Environment,
        topology: Topology,
        sink: TraceSink | None,
        memories: Iterable[Memory] = (),
        resource_kind: Callable[[str], str] | None = None,
    ):
        self.env = env
        self.tracing = sink is not None
        self.sink: TraceSink = sink if sink is not None else NullWriter()
        if not hasattr(self.sink, "keyed_appender"):
            self.sink = KeysExpanded(self.sink)
        # A deps row's categorical columns (item, cause, on_item, resource and its kind)
        # repeat together: stored as one key. Declared first: they ride on ops and dma.
        self._append_dep = self.sink.appender("deps", DEPS_KEYED_COLUMNS)
        self._dep_key = self.sink.keyed_appender("deps", DEPS_KEYED_COLUMNS)[1]
        # An ops row carries its site's key (OPS_SITE_COLUMNS), cached by its engine per
        # op name (Engine.trace_site_keys), and the deps row of what its start waited for.
        self._append_op, self._op_site_key = self.sink.keyed_appender(
            "ops", OPS_SITE_COLUMNS, rider="deps"
        )
        # Where the sink packs rows (a writer process's buffers, compiled), an ops or dma
        # row's values are written into them here, unboxed, not passed as a call.
        self._ops_rows = _packed(self._append_op)
        self.op_dep_keys: _Keys | None = None
        """Key of an op's start deps row by (cause, on_item), and by cause alone in
        ``op_dep_keys.on_op`` for on_item op (an op released by another's end); None
        when not tracing: engines then skip dependency bookkeeping entirely. An engine
        sets the op's ``dep_key``, ``dep_on_id``, ``dep_ready_ns`` and ``dep_wait_ns``
        when it starts; its ops row carries them."""
        if sink is not None:
            on_op = _Keys(lambda cause: self._dep_key("op", cause, "op", None, None))
            self.op_dep_keys = _Keys(lambda what: self._dep_key("op", *what, None, None), on_op)
        # A DMA row carries its route's key in place of the route's columns, and its deps
        # row: carried by the route's narrowest resource (keys per route), or bound by
        # a shared resource (keys per resource, for DMAs of an op and for the others).
        self._append_dma, self._dma_route_key = self.sink.keyed_appender(
            "dma", DMA_ROUTE_COLUMNS, rider="deps"
        )
        # (Two exact dicts, filled at first use: compiled, a pair indexed by "of an op"
        # would be built per DMA, and a dict subclass is looked up through its type.)
        self._dma_rows = _packed(self._append_dma)
        self._bandwidth_keys: dict[str | None, int] = {}
        self._bandwidth_op_keys: dict[str | None, int] = {}
        self._append_pe_exec = self.sink.appender("pe_exec")
        # Capacity of each memory node, for a transfer's narrowest resource (deps rows).
        self._memory_bw_gbs = {m.node: m.bw_gbs for m in memories}
        self._node_place = node_places(topology)
        # Kind of a link or memory by name (simulator.hw.resource_kinds), for deps rows.
        self._resource_kind = resource_kind
        self._kinds: dict[str, str | None] = {}
        self._route_columns: dict[tuple[str, str], _RoutePlaces] = {}
        # The same by id(route), each holding its route (so the id stays its own).
        self._route_places: dict[int, _RoutePlaces] = {}
        self._row_increment = 1 if self.tracing else 0
        self.n_rows = 0
        """Event rows handed to a real sink (0 when tracing is off; ``deps`` rows, which
        annotate events, are not counted)."""
        # The op whose end is being processed (None otherwise): a release that happens
        # inside it, such as an IPCQ slot freed by dropping its input, was waiting on it.
        self.completing: Op | None = None
        self.next_op_id = 0
        self.next_dma_id = 0
        self.next_launch_id = 0
        self.next_coll_id = 0

    # -- ids -----------------------------------------------------------------------------
    def new_launch_id(self) -> int:
        """The id of a new kernel launch (0, 1, ... in launch order)."""
        launch_id = self.next_launch_id
        self.next_launch_id += 1
        return launch_id

    def new_coll_id(self) -> int:
        """The id of a new collective (0, 1, ... in issue order)."""
        coll_id = self.next_coll_id
        self.next_coll_id += 1
        return coll_id

    # -- rows ------------------------------------------------------------------------------
    def op(self, op: Op, end_ns: float) -> None:
        """The ``ops`` row of an engine op that finished at ``end_ns`` (its ``op_id`` was
        set at issue; its engine reads the clock, which it holds typed)."""
        prog = op.program
        engine = op.engine
        # The site's key, kept by the engine per op name (an engine is one PE's).
        key = engine.trace_site_keys.get(op.name)
        if key is None:
            c = prog.pe.coord
            key = engine.trace_site_keys[op.name] = self._op_site_key(
                c.sip, c.cube, c.pe, c.pe_global, engine.name, op.name
            )
        # The site's key, then OPS_COLUMNS without OPS_SITE_COLUMNS, then the deps row of
        # its start (key, item_id, on_id, ready_ns, wait_ns): once per engine op.
        rows = self._ops_rows
        if rows is not None:
            _pack_op_row(rows, key, op, prog.launch_id, end_ns)
        else:
            op_id: object = op.op_id  # boxed once for both places it goes
            self._append_op(key, op_id, prog.launch_id, op.issue_ns, op.start_ns, end_ns,
                            op.flops, op.nbytes, op.lane, op.dep_key, op_id, op.dep_on_id,
                            op.dep_ready_ns, op.dep_wait_ns)  # fmt: skip
        self.n_rows += self._row_increment

    def transfer(self, transfer: Transfer, info: DmaInfo, op_id: int | None = None) -> None:
        """The ``dma`` row of a finished transfer, given the next DMA id, and its ``deps``
        row (``op_id`` is the DMA op carrying a kernel transfer, None for host copies and
        launch messages): cause ``bandwidth`` when it streamed slower than alone, naming
        the resource whose saturation bound it longest (``Transfer.bound_by``), else
        ``carried``, naming the route's narrowest resource; each with its kind."""
        dma_id = self.next_dma_id
        self.next_dma_id += 1
        if not self.tracing:  # the id still counts DMAs (run summary, launch messages)
            return
        route = transfer.route
        # The columns that depend only on the route, computed once per (src, dst) and
        # found by the route object's identity (no key to build per DMA).
        places = self._route_places.get(id(route))
        if places is None:
            places = self._places_of(route)
        after = info.after
        if after is not None:  # a launch message waited for what it forwards
            self._append_dep("dma", dma_id, "forward", after[0], after[1], None,
                             after[2], transfer.issue_ns - after[2])  # fmt: skip
        # Streaming slower than alone at its narrowest capacity: it shared bandwidth.
        end_ns: float = transfer.end_ns  # type: ignore[assignment]  # set: it finished
        shared_ns = end_ns - transfer.start_ns - transfer.bytes / places[2]
        of_op = op_id is not None
        if shared_ns > _SHARED_MIN_NS:
            # What bound it while sharing is what the max-min fill saturated, which
            # may be a wider but busier resource than the route's narrowest.
            bound_by = transfer.bound_by
            resource = places[1] if bound_by is None else bound_by
            keys = self._bandwidth_op_keys if of_op else self._bandwidth_keys
            found = keys.get(resource)
            if found is None:
                on_item = "op" if of_op else None
                found = keys[resource] = self._dma_dep_key("bandwidth", on_item, resource)
            dep_key = found
            ready_ns = transfer.start_ns
            wait_ns = shared_ns
        else:  # carried by the route's narrowest resource
            dep_key = places[4] if of_op else places[3]
            ready_ns = transfer.issue_ns
            wait_ns = 0.0
        # The route's key, then DMA_COLUMNS without DMA_ROUTE_COLUMNS, then its deps row
        # (key, item_id, on_id, ready_ns, wait_ns): once per DMA.
        rows = self._dma_rows
        if rows is not None:
            _pack_dma_row(rows, places[0], dma_id, info, transfer, end_ns, dep_key, op_id,
                          ready_ns, wait_ns)  # fmt: skip
        else:
            row_id: object = dma_id  # boxed once for the two places it goes
            self._append_dma(places[0], row_id, info.launch_id, info.kind, transfer.bytes,
                             transfer.issue_ns, transfer.start_ns, end_ns, info.coll_id,
                             info.round, dep_key, row_id, op_id, ready_ns, wait_ns)  # fmt: skip
        self.n_rows += 1

    def _dma_dep_key(self, cause: str, on_item: str | None, resource: str | None) -> int:
        """The key of a DMA's deps row: its cause, on_item and resource, with its kind."""
        return self._dep_key("dma", cause, on_item, resource, self._kind_of(resource))

    def _kind_of(self, resource: str | None) -> str | None:
        """The kind of a link or memory by name (None without a kind function or
        resource), asked once per resource."""
        if resource is None:
            return None
        kinds = self._kinds
        if resource not in kinds:
            kinds[resource] = (
                self._resource_kind(resource) if self._resource_kind is not None else None
            )
        return kinds[resource]

    def transfer_done(self, event: simpy.Event) -> None:
        """Event callback: the ``dma`` row of the transfer ``event`` carries (tag: DmaInfo)."""
        transfer = event._value  # hot path: the property would cost a call per piece
        self.transfer(transfer, transfer.tag)

    def _places_of(self, route: Route) -> _RoutePlaces:
        """A route's columns (see _columns_of), by its (src, dst), remembered by its id."""
        places = self._route_columns.get((route.src, route.dst))
        if places is None:
            places = self._route_columns[(route.src, route.dst)] = self._columns_of(route)
        if len(self._route_places) >= _ROUTES_BY_ID_MAX:
            self._route_places.clear()  # callers that build a fresh route per transfer
        places = self._route_places[id(route)] = (*places[:5], route)
        return places

    def _columns_of(self, route: Route) -> _RoutePlaces:
        """The key of the route's DMA_ROUTE_COLUMNS (src, dst, their spaces, src
        sip/cube/pe, dst sip/cube/pe, hops, level), the route's narrowest resource (link
        or memory read/written; None without links) and its GB/s, and the keys of the
        deps row of a DMA it carries alone: not of an op, and of an op; then the route."""
        src = self._node_place.get(route.src, _NOWHERE)
        dst = self._node_place.get(route.dst, _NOWHERE)
        level = max((link.level for link in route.links), key=LEVEL_ORDER.__getitem__,
                    default="pe")  # fmt: skip
        key = self._dma_route_key(route.src, route.dst, src[0], dst[0], *src[1:], *dst[1:],
                                  len(route.links), level)  # fmt: skip
        narrowest, narrowest_gbs = None, math.inf
        if route.links:  # a route without links holds no capacity (latency only)
            for link in route.links:
                if link.bw_gbs < narrowest_gbs:
                    narrowest, narrowest_gbs = link.name, link.bw_gbs
            for node in (route.src, route.dst):
                bw_gbs = self._memory_bw_gbs.get(node, math.inf)
                if bw_gbs < narrowest_gbs:
                    narrowest, narrowest_gbs = node, bw_gbs
        carried = (self._dma_dep_key("carried", None, narrowest),
                   self._dma_dep_key("carried", "op", narrowest))  # fmt: skip
        return key, narrowest, narrowest_gbs, *carried, route

    def pe_exec(self, program: Any) -> None:
        """The ``pe_exec`` row of a finished program (dispatch, start and end times)."""
        c = program.pe.coord
        # Positional, in PE_EXEC_COLUMNS order.
        self._append_pe_exec(program.launch_id, c.sip, c.cube, c.pe, c.pe_global,
                             program.dispatch_ns, program.exec_start_ns,
                             program.exec_end_ns)  # fmt: skip
        self.n_rows += self._row_increment

    def row(self, table: str, **columns: Any) -> None:
        """One row of ``table`` by column name (launches, collectives, rounds)."""
        self.sink.append(table, **columns)
        self.n_rows += self._row_increment

    def links(self, network: Network, links: Iterable[Link]) -> None:
        """One ``links`` row per link that carried bytes (once, at the end of a run)."""
        carried = network.link_bytes()
        busy = network.link_busy_ns()
        for link in links:
            if carried[link.index] == 0:
                continue
            self.row("links", link=link.name, src=link.src, dst=link.dst, level=link.level,
                     bw_gbs=link.bw_gbs, bytes=carried[link.index],
                     busy_ns=busy[link.index])  # fmt: skip
