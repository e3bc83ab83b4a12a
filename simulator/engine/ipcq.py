"""IPCQ: the inter-PE queues behind ``tl.send`` / ``tl.recv``.

Every program of a launch can send blocks to another program of the same launch, by
direction or by peer rank (rank = position in the launch's target list):

1. ``E`` / ``W``: the launch's PEs of one cube, by PE index (E = next, W = previous).
2. ``N`` / ``S``: the PEs at the same place in each cube of one SIP, cubes in mesh-ring
   order (:func:`simulator.hw.rings.cube_ring_order`: neighbours are one mesh hop apart).
3. ``parent``: the PEs at the same place in each SIP, by SIP; a send goes to the next
   SIP through the IO chiplets, a recv takes from the previous one.

Pairing is explicit: a send to E is received by the peer's ``recv("W")``, N by ``S``,
``parent`` by ``parent`` -- also in 2-member rings where E and W are the same PE, so
the two directions never mix. A send by rank goes to the peer's channel for the sender's
rank. ``tag`` separates further channels between the same pair.

Lifecycle of a message: sent (queued at the receiver's channel, in send order) ->
granted (a free inbox slot is reserved; without one the sender's DMA waits: backpressure)
-> delivered (the DMA's last byte has drained into the inbox) -> received (``recv``
returned it) -> released (its slot is free again). The inbox lives where the topology's
``pe.ipcq.inbox`` says (``tcm``, ``hbm`` or ``sram``), with ``pe.ipcq.slots`` slots of
``pe.ipcq.slot_kib`` each per channel. A TCM inbox takes the message's bytes from the
receiver's TCM while the slot is held (the grant waits for TCM space if needed).

When a program ends, its channels must be empty; otherwise :class:`IpcqError` names the
unreceived messages.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.engine.errors import SimulationError
from simulator.engine.ops import Block
from simulator.hw import graph as g
from simulator.hw.params import INBOX_MEMORIES
from simulator.hw.rings import cube_ring_order

if TYPE_CHECKING:
    import simpy

    from simulator.engine.machine import Machine
    from simulator.engine.pe import Program
    from simulator.hw.topology import Topology

DIRECTIONS = ("E", "W", "N", "S", "parent")
# The channel a send in each direction arrives on at the receiver.
ARRIVES_ON = {"E": "W", "W": "E", "N": "S", "S": "N", "parent": "parent"}
INBOXES = INBOX_MEMORIES
LEVELS = ("intra_cube", "inter_cube", "inter_sip")
_TOKEN_DTYPE = np.dtype(np.uint8)


class IpcqError(SimulationError):
    """A send or recv that cannot be matched (bad direction or rank, size mismatch,
    unreceived messages at program end)."""


@dataclass(frozen=True, slots=True)
class IpcqConfig:
    """Inbox settings (the topology's ``pe.ipcq``, slot size in bytes)."""

    inbox: str
    slots: int
    slot_bytes: int


class LaunchPeers:
    """Neighbour tables of one launch: who each rank reaches in each direction.

    ``next[axis][rank]`` / ``prev[axis][rank]`` for axis ``E`` (intra-cube ring), ``N``
    (cube ring) and ``parent`` (SIP ring); ``position[axis][rank]`` = (position, size).
    """

    def __init__(self, programs: list[Program], topology: Topology) -> None:
        self.programs = programs
        self.open_endpoints = len(programs)
        # What the coarse collective kernels of this launch share, by name
        # (``simulator.ccl.coarse.launch_table``): it goes with the launch.
        self.launch_tables: dict[str, dict[Any, Any]] = {}
        n = len(programs)
        coords = [p.pe.coord for p in programs]
        self.next = {axis: [0] * n for axis in ("E", "N", "parent")}
        self.prev = {axis: [0] * n for axis in ("E", "N", "parent")}
        self.position = {axis: [(0, 1)] * n for axis in ("E", "N", "parent")}
        cubes: dict[tuple[int, int], list[int]] = defaultdict(list)
        for rank, c in enumerate(coords):
            cubes[(c.sip, c.cube)].append(rank)
        for members in cubes.values():
            self._ring("E", sorted(members, key=lambda r: coords[r].pe))
        ring_pos = {
            k: i for i, k in enumerate(cube_ring_order(topology.cube_rows, topology.cube_cols))
        }
        columns: dict[tuple[int, int], list[int]] = defaultdict(list)
        for rank, c in enumerate(coords):
            columns[(c.sip, self.position["E"][rank][0])].append(rank)
        for members in columns.values():
            self._ring("N", sorted(members, key=lambda r: ring_pos[coords[r].cube]))
        places: dict[tuple[int, int], list[int]] = defaultdict(list)
        for rank in range(n):
            places[(self.position["N"][rank][0], self.position["E"][rank][0])].append(rank)
        for members in places.values():
            self._ring("parent", sorted(members, key=lambda r: coords[r].sip))

    def _ring(self, axis: str, members: list[int]) -> None:
        size = len(members)
        for i, rank in enumerate(members):
            self.next[axis][rank] = members[(i + 1) % size]
            self.prev[axis][rank] = members[i - 1]
            self.position[axis][rank] = (i, size)

    def send_peer(self, rank: int, direction: str) -> int:
        """The rank a send from ``rank`` in ``direction`` goes to."""
        if direction == "E":
            return self.next["E"][rank]
        if direction == "W":
            return self.prev["E"][rank]
        if direction == "N":
            return self.next["N"][rank]
        if direction == "S":
            return self.prev["N"][rank]
        return self.next["parent"][rank]

    def recv_peer(self, rank: int, direction: str) -> int:
        """The rank whose sends ``rank`` receives with ``recv(direction)``."""
        if direction == "W":
            return self.prev["E"][rank]
        if direction == "E":
            return self.next["E"][rank]
        if direction == "S":
            return self.prev["N"][rank]
        if direction == "N":
            return self.next["N"][rank]
        return self.prev["parent"][rank]


class Message:
    """One block in flight from a sender to a receiver channel."""

    __slots__ = (
        "nbytes",
        "shape",
        "dtype",
        "data",
        "round",
        "src_rank",
        "sent_ns",
        "delivered",
        "credit",
        "send_op_id",
    )

    def __init__(
        self,
        nbytes: int,
        shape: tuple[int, ...],
        dtype: np.dtype,
        round_: Any,
        src_rank: int,
        sent_ns: float,
        credit: Block,
    ) -> None:
        self.nbytes = nbytes
        self.shape = shape
        self.dtype = dtype
        self.data: np.ndarray | None = None
        self.round = round_
        self.src_rank = src_rank
        self.sent_ns = sent_ns
        self.delivered = False
        # The slot credit while the message waits for a slot; None once granted.
        self.credit: Block | None = credit
        # The send op carrying it (set when issued): a recv waiting for it waited on it.
        self.send_op_id = -1


class Channel:
    """The receiver side of one queue: messages from one source, in send order."""

    __slots__ = (
        "endpoint",
        "label",
        "src_rank",
        "node",
        "messages",
        "free_slots",
        "waiting",
        "recv_waiter",
        "space_wait",
    )

    def __init__(
        self, endpoint: Endpoint, label: str, src_rank: int, node: str, slots: int
    ) -> None:
        self.endpoint = endpoint
        self.label = label
        self.src_rank = src_rank
        self.node = node  # graph node of the inbox memory
        self.messages: deque[Message] = deque()  # sent, not yet received
        self.free_slots = slots
        self.waiting: deque[Message] = deque()  # sent, waiting for a slot
        self.recv_waiter: simpy.Event | None = None
        self.space_wait = False


class RoundStats:
    """What one rank did in one round (for a ``collective_rounds`` row)."""

    __slots__ = (
        "phase",
        "level",
        "peer",
        "recv_peer",
        "sent_bytes",
        "recv_bytes",
        "start_ns",
        "end_ns",
    )

    def __init__(self, phase: str, level: str | None, now: float) -> None:
        self.phase = phase
        self.level = level
        self.peer: int | None = None
        self.recv_peer: int | None = None
        self.sent_bytes = 0
        self.recv_bytes = 0
        self.start_ns = now
        self.end_ns = now


class Endpoint:
    """A program's IPCQ state: its receive channels, round scope and round stats."""

    __slots__ = (
        "program",
        "peers",
        "channels",
        "closed",
        "phase",
        "level",
        "rounds",
        "send_channels",
    )

    def __init__(self, program: Program, peers: LaunchPeers) -> None:
        self.program = program
        self.peers = peers
        self.channels: dict[tuple, Channel] = {}
        self.closed = False
        self.phase = ""
        self.level: str | None = None
        self.rounds: dict[Any, RoundStats] = {}
        # Receiver channels this program has sent into (for deadlock reports).
        self.send_channels: dict[int, Channel] = {}

    def stats(self, round_: Any, now: float) -> RoundStats:
        """The stats of ``round_`` (created with the current phase and level)."""
        stats = self.rounds.get(round_)
        if stats is None:
            stats = self.rounds[round_] = RoundStats(self.phase, self.level, now)
        return stats


class Ipcq:
    """Every IPCQ endpoint and channel of one machine, and the traffic counters."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._config: IpcqConfig | None = None
        self._endpoints: dict[Program, Endpoint] = {}
        self._peers: dict[int, LaunchPeers] = {}
        self.sent_bytes = 0
        self.delivered_bytes = 0
        self.received_bytes = 0

    @property
    def config(self) -> IpcqConfig:
        """Inbox settings; the topology's ``pe.ipcq`` unless set (tests set smaller ones)."""
        if self._config is None:
            p = self.machine.params.pe.ipcq
            self._config = IpcqConfig(p.inbox, p.slots, p.slot_kib * 1024)
        return self._config

    @config.setter
    def config(self, value: IpcqConfig) -> None:
        if value.inbox not in INBOXES:
            raise IpcqError(f"unknown inbox {value.inbox!r}; valid: {', '.join(INBOXES)}")
        if value.slots < 1 or value.slot_bytes < 1:
            raise IpcqError(f"inbox needs slots >= 1 and slot_bytes >= 1, got {value}")
        self._config = value

    # -- endpoints -----------------------------------------------------------------------
    def endpoint(self, program: Program) -> Endpoint:
        """The endpoint of ``program`` (created on first use)."""
        ep = self._endpoints.get(program)
        if ep is None:
            launch = program.launch
            if launch is None:
                raise IpcqError(f"kernel {program.kernel_name!r}: send/recv need a launch")
            peers = self._peers.get(program.launch_id)
            if peers is None:
                peers = LaunchPeers(launch.programs, self.machine.topology)
                self._peers[program.launch_id] = peers
            ep = self._endpoints[program] = Endpoint(program, peers)
        return ep

    def ring_neighbours(self, program: Program, direction: str) -> tuple[int, int]:
        """(previous rank, next rank) of ``program`` on the ring ``direction`` walks."""
        axis = _axis(direction)
        peers = self.endpoint(program).peers
        return peers.prev[axis][program.rank], peers.next[axis][program.rank]

    def ring_position(self, program: Program, direction: str) -> tuple[int, int]:
        """(position, size) of ``program`` on the ring ``direction`` walks."""
        axis = _axis(direction)
        return self.endpoint(program).peers.position[axis][program.rank]

    def _channel(self, ep: Endpoint, key: tuple, label: str, src_rank: int) -> Channel:
        channel = ep.channels.get(key)
        if channel is None:
            config = self.config
            coord = ep.program.pe.coord
            if config.inbox == "tcm":
                node = g.pe_tcm(coord)
            elif config.inbox == "hbm":
                node = g.pe_hbm(coord)
            else:
                node = g.cube_sram(coord.sip, coord.cube)
            channel = ep.channels[key] = Channel(ep, label, src_rank, node, config.slots)
        return channel

    # -- send ----------------------------------------------------------------------------
    def post_send(
        self,
        program: Program,
        to: str | int,
        tag: int,
        nbytes: int,
        shape: tuple[int, ...],
        dtype: np.dtype,
    ) -> tuple[Channel, Message, Block]:
        """Queue a message of ``nbytes`` for the peer ``to`` and ask for a slot.

        Returns the receiver channel, the message and its credit: a zero-byte block that
        is ready once a slot is granted. The caller's DMA takes the credit as an input
        and calls :meth:`deliver` when its last byte arrives. Raises IpcqError for a bad
        peer, a block larger than a slot, or a peer that has already finished.
        """
        ep = self.endpoint(program)
        peers = ep.peers
        rank = program.rank
        if isinstance(to, str):
            if to not in DIRECTIONS:
                raise IpcqError(_bad_peer("send", program, to, len(peers.programs)))
            dest_rank = peers.send_peer(rank, to)
            key: tuple = (ARRIVES_ON[to], tag)
        else:
            dest_rank = _check_rank("send", program, to, len(peers.programs))
            key = ("rank", rank, tag)
        config = self.config
        if nbytes > config.slot_bytes:
            raise IpcqError(
                f"kernel {program.kernel_name!r} rank {rank}: tl.send of {nbytes} bytes "
                f"exceeds the inbox slot of {config.slot_bytes} bytes (topology pe.ipcq.slot_kib)"
            )
        dest = peers.programs[dest_rank]
        dest_ep = self.endpoint(dest)
        if dest_ep.closed or dest.exec_end_ns is not None:
            raise IpcqError(
                f"kernel {program.kernel_name!r} rank {rank}: send to {to!r} at "
                f"t={self.machine.env.now:.1f} ns, but rank {dest_rank} (PE {dest.pe.name}) "
                "has already finished: no recv will ever take it"
            )
        channel = dest_ep.channels.get(key)
        if channel is None:  # the label is built only here: formatting it per send is slow
            label = f"{key[0]} (rank {rank})" if isinstance(to, str) else f"rank {rank}"
            if tag:
                label += f", tag {tag}"
            channel = self._channel(dest_ep, key, label, rank)
        now = self.machine.env._now  # hot path: the ``now`` property costs a call
        credit = Block(program.pe, (), _TOKEN_DTYPE, 0)
        message = Message(nbytes, shape, dtype, program.round, rank, now, credit)
        channel.messages.append(message)
        channel.waiting.append(message)
        self.sent_bytes += nbytes
        self._grant(channel)
        if not credit.ready:
            ep.send_channels[id(channel)] = channel
        if program.round is not None:
            stats = ep.stats(program.round, now)
            if stats.peer is None:
                stats.peer = dest_rank
            stats.sent_bytes += nbytes
        return channel, message, credit

    def deliver(
        self, program: Program, channel: Channel, message: Message, data: np.ndarray | None
    ) -> None:
        """The send DMA's last byte has drained into the inbox: the message is
        receivable now."""
        message.delivered = True
        message.data = data
        self.delivered_bytes += message.nbytes
        now = self.machine.env._now
        ep = self._endpoints.get(program)
        if ep is not None and message.round is not None:
            stats = ep.rounds.get(message.round)
            if stats is not None and now > stats.end_ns:
                stats.end_ns = now
        waiter = channel.recv_waiter
        if waiter is not None and channel.messages[0].delivered:
            channel.recv_waiter = None
            waiter.succeed()

    def _grant(self, channel: Channel) -> None:
        """Give free slots to waiting messages, in send order (TCM inboxes also need the
        message's bytes of TCM; without them, retry when an op on the PE finishes)."""
        waiting = channel.waiting
        tcm = self.config.inbox == "tcm"
        while waiting and channel.free_slots > 0:
            message = waiting[0]
            if tcm:
                pe = channel.endpoint.program.pe
                if pe.tcm_used_bytes + message.nbytes > pe.tcm_capacity_bytes:
                    if not channel.space_wait:
                        channel.space_wait = True
                        pe.on_space(partial(self._retry_grant, channel))
                    return
                pe.tcm_used_bytes += message.nbytes
            waiting.popleft()
            channel.free_slots -= 1
            credit = message.credit
            assert credit is not None, "a waiting message holds its credit until granted"
            message.credit = None
            if credit.waiters:
                # The op ending now (if any) freed the slot: the receiver's use of it.
                credit.set_ready("slot", self.machine.recorder.completing)
            else:
                credit.ready = True

    def _retry_grant(self, channel: Channel, _event: Any = None) -> None:
        channel.space_wait = False
        self._grant(channel)

    def release(self, channel: Channel) -> None:
        """A received message gave its slot back (its TCM is returned by its block)."""
        channel.free_slots += 1
        if channel.waiting:
            self._grant(channel)

    # -- recv ----------------------------------------------------------------------------
    def take(self, program: Program, frm: str | int, tag: int) -> tuple[Channel, Message]:
        """Block until the next message from ``frm`` has been delivered; return it (its
        slot stays held until the caller calls :meth:`release`).

        Raises IpcqError for a bad direction or rank; DeadlockError (from the scheduler)
        when no send will ever come.
        """
        ep = self.endpoint(program)
        peers = ep.peers
        rank = program.rank
        if isinstance(frm, str):
            if frm not in DIRECTIONS:
                raise IpcqError(_bad_peer("recv", program, frm, len(peers.programs)))
            src = peers.recv_peer(rank, frm)
            key: tuple = (frm, tag)
        else:
            src = _check_rank("recv", program, frm, len(peers.programs))
            key = ("rank", src, tag)
        channel = ep.channels.get(key)
        if channel is None:  # the label is built only here, as in post_send
            label = f"{frm} (rank {src})" if isinstance(frm, str) else f"rank {src}"
            if tag:
                label += f", tag {tag}"
            channel = self._channel(ep, key, label, src)
        env = self.machine.env
        round_ = program.round
        # ``env._now``: the ``now`` property costs a call, several per receive.
        stats = ep.stats(round_, env._now) if round_ is not None else None
        messages = channel.messages
        if not (messages and messages[0].delivered):
            since = env._now
            # Formatted only for a deadlock report (most receives wait).
            what = partial(_recv_waits_on, channel.label, rank, round_, since)
            while not (messages and messages[0].delivered):
                channel.recv_waiter = env.event()
                self.machine.scheduler.wait(channel.recv_waiter, what)
            now = env._now
            program.resume = ("ipcq", "op", messages[0].send_op_id, now, now - since)
        message = messages.popleft()
        self.received_bytes += message.nbytes
        if stats is not None:
            stats.recv_bytes += message.nbytes
            if stats.recv_peer is None:
                stats.recv_peer = src
            if env._now > stats.end_ns:
                stats.end_ns = env._now
        return channel, message

    # -- end of a program ----------------------------------------------------------------
    def blocked_note(self, program: Program) -> str:
        """Sends of ``program`` still waiting for an inbox slot, for deadlock reports."""
        ep = self._endpoints.get(program)
        if ep is None:
            return ""
        rank = program.rank
        waits = [
            (ch, m) for ch in ep.send_channels.values() for m in ch.waiting if m.src_rank == rank
        ]
        if not waits:
            return ""
        channel, message = waits[0]
        receiver = channel.endpoint.program
        more = f" (+{len(waits) - 1} more)" if len(waits) > 1 else ""
        return (
            f"; its send to rank {receiver.rank} (round {message.round}) waits for a "
            f"free inbox slot since t={message.sent_ns:.1f} ns{more}"
        )

    def close(self, program: Program) -> None:
        """End ``program``'s endpoint: write its ``collective_rounds`` rows and check that
        nothing was left unreceived (raises IpcqError naming the messages)."""
        ep = self._endpoints.pop(program, None)
        if ep is None:
            return
        ep.closed = True
        peers = ep.peers
        peers.open_endpoints -= 1
        if peers.open_endpoints <= 0:
            self._peers.pop(program.launch_id, None)
        if program.coll_id is not None:
            self._record_rounds(ep)
        left = [(ch, len(ch.messages)) for ch in ep.channels.values() if ch.messages]
        if left:
            what = ", ".join(
                f"{n} from {ch.label} (round {ch.messages[0].round})" for ch, n in left
            )
            raise IpcqError(
                f"kernel {program.kernel_name!r} rank {program.rank} (PE {program.pe.name}) "
                f"ended at t={self.machine.env.now:.1f} ns with messages never received: "
                f"{what}"
            )

    def _record_rounds(self, ep: Endpoint) -> None:
        program = ep.program
        coords = [p.pe.coord for p in ep.peers.programs]
        me = program.pe.coord
        for round_, s in ep.rounds.items():
            peer = s.peer if s.peer is not None else s.recv_peer
            level = s.level
            if level is None and peer is not None:
                other = coords[peer]
                if other.sip != me.sip:
                    level = "inter_sip"
                elif other.cube != me.cube:
                    level = "inter_cube"
                else:
                    level = "intra_cube"
            self.machine.recorder.row(
                "collective_rounds",
                coll_id=program.coll_id,
                rank=program.rank,
                round=round_,
                phase=s.phase,
                level=level,
                peer=peer,
                bytes=s.sent_bytes or s.recv_bytes,
                start_ns=s.start_ns,
                end_ns=s.end_ns,
            )


def _axis(direction: str) -> str:
    if direction in ("E", "W"):
        return "E"
    if direction in ("N", "S"):
        return "N"
    if direction == "parent":
        return "parent"
    raise IpcqError(f"unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")


def _bad_peer(what: str, program: Program, peer: Any, world: int) -> str:
    return (
        f"kernel {program.kernel_name!r} rank {program.rank}: tl.{what} peer {peer!r} is "
        f"neither a direction ({', '.join(DIRECTIONS)}) nor a rank 0..{world - 1}"
    )


def _recv_waits_on(label: str, rank: int | None, round_: int | None, since_ns: float) -> str:
    """What a receive waits on, for a deadlock report."""
    return f"recv from {label} (rank {rank}, round {round_}) since t={since_ns:.1f} ns"


def _check_rank(what: str, program: Program, peer: Any, world: int) -> int:
    if isinstance(peer, bool) or not isinstance(peer, (int, np.integer)):
        raise IpcqError(_bad_peer(what, program, peer, world))
    if not 0 <= peer < world:
        raise IpcqError(_bad_peer(what, program, peer, world))
    return int(peer)
