"""``tl`` communication: send and recv blocks between the programs of one launch.

A peer is a direction (``"E"``, ``"W"``, ``"N"``, ``"S"``, ``"parent"``: the rings of
:mod:`simulator.engine.ipcq`) or a rank (position in the launch's target list). Pairing
is explicit: a send to E is received with ``recv("W")``, N with ``recv("S")``,
``parent`` with ``recv("parent")``, a send to rank r with ``recv(<sender's rank>)`` on r.

1. ``send`` is fire-and-forget at the source: it issues a DMA (DMA_WB engine) from the
   block's TCM to the receiver's inbox and returns at once. The DMA starts once the block
   is ready, earlier DMA_WB ops have started, and a slot of the receiver's inbox is free
   (backpressure). Cost: the network route's latency (DMA overhead + hops) plus the bytes
   at the fair-share bandwidth.
2. ``recv`` blocks the kernel until the next message from that peer has drained into
   this PE's inbox, then returns it as a block. With a TCM inbox the block *is* the slot
   (no copy; the slot frees when the block is dropped); with an HBM or SRAM inbox a
   DMA_IN load brings it into TCM (the slot frees when the load is done).
3. ``round(index, phase, level)`` scopes collective traffic: DMAs issued inside carry the
   round, and the sends and recvs inside make the rank's ``collective_rounds`` row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from simulator.engine.ipcq import LEVELS, Channel, Ipcq, IpcqError
from simulator.engine.ops import Block, Op
from simulator.language.context import KernelUsageError
from simulator.language.core import IntLike, TileLike, _check_block, _new_block, _program, tensor
from simulator.language.lowering import dma_info


class _InboxBlock(tensor):
    """A received block that lives in its TCM inbox slot; dropping it frees the slot."""

    __slots__ = ("_ipcq", "_channel")
    _ipcq: Ipcq
    _channel: Channel

    def __del__(self) -> None:
        Block.__del__(self)
        self._ipcq.release(self._channel)


def send(value: TileLike, to: str | IntLike, *, tag: IntLike = 0) -> None:
    """Send ``value`` to the peer ``to`` (a direction or a rank); returns at once.

    ``tag`` selects one of several channels between the same pair (default 0). Raises
    KernelUsageError for a non-block, IpcqError for a bad peer, a block larger than an
    inbox slot, or a peer that has already finished.
    """
    program = _program()
    value = _check_block("send", value)
    to, tag = _peer("send", to), _tag("send", tag)
    ipcq: Ipcq = program.machine.ipcq
    nbytes = value.nbytes
    channel, message, credit = ipcq.post_send(program, to, tag, nbytes, value.shape, value.dtype)
    route = program.pe.dma_route(channel.node, to_tcm=False)
    info = dma_info(program, "send")
    # partial, not a nested function: compiled, that would hold ``value`` in a cycle
    execute = partial(_deliver, ipcq, program, channel, message, value)
    op = Op(
        "send",
        program,
        "DMA_WB",
        (value, credit),
        None,
        pieces=[(route, nbytes, info)],
        execute=execute,
        nbytes=nbytes,
    )
    program.issue(op)
    message.send_op_id = op.op_id  # a recv that waits for this message waited on this op


def _peer(what: str, peer: Any) -> str | int:
    """A peer as the IPCQ takes it: a direction, or a rank as a Python int."""
    if isinstance(peer, str):
        return peer
    rank = _as_int(peer)
    if rank is None:
        raise KernelUsageError(
            f"tl.{what}: the peer must be a direction (E, W, N, S, parent) or a rank, got {peer!r}"
        )
    return rank


def _tag(what: str, tag: Any) -> int:
    value = _as_int(tag)
    if value is None:
        raise KernelUsageError(f"tl.{what}: tag must be an int, got {tag!r}")
    return value


def _as_int(value: Any) -> int | None:
    """An integer (Python's or numpy's, not a bool) as a Python int; None otherwise."""
    if type(value) is int:  # hot path: what kernels mostly pass
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return None


def _deliver(ipcq: Ipcq, program: Any, channel: Channel, message: Any, value: tensor) -> None:
    """The send's DMA has landed: the message (with ``value``'s data) is in the inbox."""
    ipcq.deliver(program, channel, message, value.data)


def recv(frm: str | IntLike, shape: Sequence[IntLike], dtype: np.dtype | str, *,
         tag: IntLike = 0) -> tensor:  # fmt: skip
    """Block until the next message from ``frm`` has arrived; return it as a block of
    ``shape`` and ``dtype`` (which must match what was sent).

    Raises IpcqError for a bad peer or a size/dtype mismatch, DeadlockError when no send
    will ever match (listing every blocked rank, what it waits on and the time).
    """
    program = _program()
    frm, tag = _peer("recv", frm), _tag("recv", tag)
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    ipcq: Ipcq = program.machine.ipcq
    channel, message = ipcq.take(program, frm, tag)
    if nbytes != message.nbytes or dtype != message.dtype:
        if ipcq.config.inbox == "tcm":
            program.pe.tcm_used_bytes -= message.nbytes
        ipcq.release(channel)
        raise IpcqError(
            f"kernel {program.kernel_name!r} rank {program.rank}: recv from {channel.label} "
            f"expects {shape} {dtype} ({nbytes} bytes) but the message is {message.shape} "
            f"{message.dtype} ({message.nbytes} bytes)"
        )
    data = message.data
    if data is not None and data.shape != shape:
        data = data.reshape(shape)
    if ipcq.config.inbox == "tcm":
        out = _InboxBlock(program.pe, shape, dtype, nbytes)
        out._ipcq = ipcq
        out._channel = channel
        out.data = data
        out.ready = True
        return out
    return _load_from_inbox(program, ipcq, channel, shape, dtype, nbytes, data)


def _load_from_inbox(
    program, ipcq: Ipcq, channel: Channel, shape, dtype, nbytes: int, data: np.ndarray | None
) -> tensor:
    """DMA_IN the message from an HBM/SRAM inbox into a new TCM block; frees the slot."""
    out = _new_block(program, shape, dtype)
    route = program.pe.dma_route(channel.node, to_tcm=True)
    info = dma_info(program, "load")
    execute = partial(_landed_from_inbox, ipcq, channel, data, out)
    program.issue(
        Op(
            "recv",
            program,
            "DMA_IN",
            (),
            out,
            pieces=[(route, nbytes, info)],
            execute=execute,
            nbytes=nbytes,
        )
    )
    return out


def _landed_from_inbox(ipcq: Ipcq, channel: Channel, data: np.ndarray | None,
                       out: tensor) -> None:  # fmt: skip
    """The load from the inbox is done: ``out`` holds the message, its slot is free."""
    out.data = data
    ipcq.release(channel)


class round:  # noqa: N801 - a scope named like the trace column
    """``with tl.round(index, phase="reduce_scatter", level="intra_cube"):`` tags the
    sends and recvs inside with round ``index`` (on their DMA rows, and in this rank's
    ``collective_rounds`` row: first activity to last, bytes sent, peer). ``level`` is
    one of intra_cube, inter_cube, inter_sip, or None to derive it from the peer."""

    __slots__ = ("index", "phase", "level", "_program", "_endpoint", "_saved")

    def __init__(self, index: Any, phase: str = "", level: str | None = None) -> None:
        if level is not None and level not in LEVELS:
            raise KernelUsageError(f"tl.round: level {level!r} is not one of {', '.join(LEVELS)}")
        self.index = index
        self.phase = phase
        self.level = level

    def __enter__(self) -> round:
        program = _program()
        ep = program.machine.ipcq.endpoint(program)
        self._program = program
        self._endpoint = ep  # kept: exit restores the same endpoint without a lookup
        self._saved = (program.round, ep.phase, ep.level)
        program.round = self.index
        ep.phase = self.phase
        ep.level = self.level
        return self

    def __exit__(self, *exc: Any) -> None:
        ep = self._endpoint
        self._program.round, ep.phase, ep.level = self._saved


def rank() -> int:
    """This program's rank: its position in the launch's target list."""
    return _program().rank


def world_size() -> int:
    """Number of programs (ranks) in this launch."""
    program = _program()
    return len(program.launch.programs)


def ring_position(direction: str) -> tuple[int, int]:
    """(position, size) of this program on the ring that ``direction`` walks: ``E``/``W``
    the PEs of its cube, ``N``/``S`` its place in each cube of its SIP, ``parent`` its
    place in each SIP. Sending towards E, N or parent reaches position + 1."""
    program = _program()
    return program.machine.ipcq.ring_position(program, direction)


def ring_neighbours(direction: str) -> tuple[int, int]:
    """(previous rank, next rank) of this program on the ring ``direction`` walks (as in
    :func:`ring_position`); send and recv by rank reach them in either direction, also on
    the ``parent`` ring."""
    program = _program()
    return program.machine.ipcq.ring_neighbours(program, direction)


def fence() -> None:
    """Block until every op this program issued has finished (stores visible to later
    loads, sends delivered)."""
    _program().drain()
