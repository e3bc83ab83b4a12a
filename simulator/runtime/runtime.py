"""The host API, shaped like PyTorch: a Runtime makes tensors and launches kernels.

One in-order stream per host task (the host script, and each rank of a
``multiprocessing.spawn``): a launch returns at once when its stream is idle, and
otherwise the caller first waits for its previous launch (so a kernel sees the results
of the kernels launched before it on that stream); ranks' streams run concurrently.
Copies are synchronous for the caller. ``synchronize`` waits for the caller's stream
(from the host script: for every stream).
"""

from __future__ import annotations

import itertools
import linecache
import math
import operator
import re
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ml_dtypes  # noqa: F401 - makes "bfloat16", "float8_e4m3fn", "float8_e5m2" numpy dtypes
import numpy as np
import simpy

from simulator.engine.errors import LaunchError
from simulator.engine.launch import Launch, empty_launch
from simulator.engine.launch import launch as start_launch
from simulator.engine.machine import Machine
from simulator.engine.recorder import DmaInfo
from simulator.hw import graph as g
from simulator.hw.mmu import MMU
from simulator.hw.topology import PeCoord, Topology, load_topology
from simulator.language.autotune import KernelWrapper
from simulator.language.jit import (
    JITFunction,
    kernel_function,
    split_meta,
    typed_arguments,
    typed_keywords,
)
from simulator.runtime import recording
from simulator.runtime.descriptor import TensorDescriptor
from simulator.runtime.placement import Placement
from simulator.runtime.recording import Recording
from simulator.runtime.tensor import Shard, Tensor

# Virtual addresses start where their bits also read as a valid physical address (die 1,
# offset 0): a VA must always go through the MMU, never be decoded directly.
VA_BASE = 1 << 42
MEMORIES = ("hbm", "tcm", "sram", "mcpu_local", "iocpu_local")

# Lists each launch of any runtime is appended to, as (runtime, launch), while they are
# registered by `observe_launches`.
_launch_observers: list[list[tuple[Runtime, Launch]]] = []


@contextmanager
def observe_launches() -> Iterator[list[tuple[Runtime, Launch]]]:
    """Within the block, every launch started on any runtime (autotuning's too) is
    appended to the yielded list as ``(runtime, launch)``: how code that only holds a
    callable (``triton.testing.do_bench``) finds the launches it makes."""
    seen: list[tuple[Runtime, Launch]] = []
    _launch_observers.append(seen)
    try:
        yield seen
    finally:  # by identity: another observer's list may be equal to this one
        del _launch_observers[next(i for i, o in enumerate(_launch_observers) if o is seen)]


class DeviceError(ValueError):
    """An unknown device string."""


def parse_device(device: str | int, topology: Topology) -> list[int]:
    """SIP indices selected by ``"all"``, ``"sip0"``, ``"sip:0"`` or ``0``."""
    n = topology.num_sips
    valid = ["all"] + [f"sip{i}" for i in range(n)] + [f"sip:{i}" for i in range(n)]
    if device == "all":
        return list(range(n))
    text = str(device)
    digits = text.removeprefix("sip").removeprefix(":")
    if digits.isdigit() and int(digits) < n and (text.startswith("sip") or text.isdigit()):
        return [int(digits)]
    raise DeviceError(f"unknown device {device!r}; valid: {', '.join(valid)}")


# The newest Runtime, what Triton's driver calls the current device
# (simulator.triton.runtime.driver); weak, so it does not keep a machine alive.
_newest: weakref.ref[Runtime] | None = None


def newest_runtime() -> Runtime | None:
    """The Runtime created last that still exists, or None."""
    return _newest() if _newest is not None else None


class Runtime:
    """A runtime context on one simulated machine: its tensors, MMU and streams."""

    _ids = itertools.count()

    def __init__(
        self,
        topology: str | Topology = "default",
        *,
        verify_data: bool = False,
        device: str | int = "all",
        writer: Any = None,
        machine: Machine | None = None,
        store: str | Path | None = None,
        name: str | None = None,
    ) -> None:
        # A run being recorded (``kernbench run script.py``, or our own with store/name)
        # gets this runtime's trace; see simulator.runtime.recording.
        self.recording: Recording | None = None
        if machine is None and writer is None:
            if store is not None or name is not None:
                self.recording = Recording(name or Path(sys.argv[0]).stem or "python", store)
                self.recording.owner = self
                self.recording.__enter__()
            else:
                self.recording = recording.active()
        if self.recording is not None:
            self.recording.attach(self)
            rec = self.recording
            if rec.topology is not None or rec.overrides:
                topology = load_topology(
                    rec.topology or (topology if isinstance(topology, str) else topology.name),
                    overrides=rec.overrides or None,
                )
            verify_data = verify_data or bool(rec.verify_data)
        if machine is None:
            topo = topology if isinstance(topology, Topology) else load_topology(topology)
            if self.recording is not None:
                writer = self.recording.open_writer(topo, verify_data)
            machine = Machine(topo, verify_data=verify_data, writer=writer)
        self.machine = machine
        self.topology = machine.topology
        self.verify_data = machine.data is not None
        self.sips = parse_device(device, self.topology)
        self.device_pes = [c for c in self.topology.pe_coords() if c.sip in self.sips]
        self.context_id = next(Runtime._ids)
        global _newest
        _newest = weakref.ref(self)
        self.page_bytes = machine.page_bytes
        self.mmu = MMU(page_bytes=self.page_bytes, name=f"ctx{self.context_id}")
        self._next_va = VA_BASE
        # One in-order stream per host task (each spawned rank; None = the host script):
        # the last launch issued on it.
        self._streams: dict[object, Launch] = {}
        self._tensor_ids = itertools.count()
        # Extra host-read barriers, called after synchronize (dist waits for collectives
        # the reading rank has joined).
        self.read_barriers: list[Callable[[], None]] = []

    # -- recording ---------------------------------------------------------------------
    def close(self, error: BaseException | None = None) -> str | None:
        """Finish the run this runtime records as its own (``store=``/``name=``): wait
        for its launches, publish it, return its run id. None for a runtime that records
        no run of its own (a script's run is finished by ``kernbench run``)."""
        rec = self.recording
        if rec is None or rec.owner is not self:
            return None
        if error is None:
            return rec.finish()
        return rec.finish("failed", recording.describe(error))

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)

    @property
    def now_ns(self) -> float:
        """Current simulated time."""
        return self.machine.env.now

    # -- tensors -----------------------------------------------------------------------
    def empty(
        self,
        shape: Sequence[int],
        dtype: str | np.dtype = "float16",
        placement: Placement | None = None,
        name: str | None = None,
        memory: str = "hbm",
    ) -> Tensor:
        """Allocate a tensor of any number of dims (contents unspecified) over
        ``placement`` (row-wise over every PE of the device by default, dim 0 split; a
        tensor of fewer rows than PEs, one row on each of the first PEs) in ``memory``:
        ``hbm`` (each PE's HBM slice),
        ``tcm`` (each PE's scratchpad, taken from its block budget), ``sram`` (the
        CUBE_SRAM of each PE's cube), ``mcpu_local`` (the M_CPU local memory of each PE's
        cube) or ``iocpu_local`` (the IO_CPU local memory of each PE's SIP).

        ``dtype`` is a numpy dtype or its name ("float16", "float32", "int32", ...);
        "bfloat16", "float8_e4m3fn" and "float8_e5m2" (kernels' ``tl.bfloat16``,
        ``tl.float8e4nv`` and ``tl.float8e5``) are ml_dtypes' numpy dtypes."""
        if memory not in MEMORIES:
            raise ValueError(f"unknown memory {memory!r}; valid: {', '.join(MEMORIES)}")
        shape = tuple(int(s) for s in shape)
        if not shape or any(s <= 0 for s in shape):
            raise ValueError(f"tensor shape must have positive sizes, got {shape}")
        dtype = host_dtype(dtype)
        if placement is None:
            placement = Placement()
            n_pes = len(placement.targets(self.topology, self.sips))
            if shape[0] < n_pes:  # too few rows to split over every PE: one per PE
                placement = Placement(num_pes=shape[0])
        targets = placement.targets(self.topology, self.sips)
        pieces = placement.split(shape, len(targets))
        shards = []
        for coord, (offset, sub) in zip(targets, pieces, strict=False):
            nbytes = math.prod(sub) * dtype.itemsize
            pa, node = self.machine.allocate(memory, coord, nbytes)
            mapped = -(-nbytes // self.page_bytes) * self.page_bytes
            va = self._next_va
            self._next_va += mapped
            self.mmu.map(va, pa, mapped)
            if self.machine.data is not None:
                self.machine.data.add(pa, mapped)
            shards.append(Shard(coord, offset, sub, va, pa, nbytes, node))
        name = name or _assigned_name() or f"t{next(self._tensor_ids)}"
        return Tensor(self, shape, dtype, placement, shards, name)

    def zeros(self, shape, dtype="float16", placement=None, name=None, memory="hbm") -> Tensor:
        """A tensor filled with zeros (memory is zero-filled at allocation)."""
        return self.empty(shape, dtype, placement, name, memory)

    def from_numpy(self, array: np.ndarray, placement=None, name=None) -> Tensor:
        """A device tensor holding ``array``, copied host -> device (synchronous)."""
        array = np.asarray(array)
        tensor = self.empty(array.shape, array.dtype, placement, name)
        self.copy_from_host(tensor, array)
        return tensor

    # -- copies ------------------------------------------------------------------------
    def _wait_all(self, events: list, what: str) -> None:
        env = self.machine.env
        self.machine.scheduler.wait(env.all_of(events), what)

    def copy_from_host(self, tensor: Tensor, array: np.ndarray | None) -> None:
        """Host -> device DMAs, one per shard, in parallel; the host waits for them.

        Each shard's bytes land when its DMA completes. ``array`` may be None when data
        is not simulated: the copy is then timed only.
        """
        self.wait_writes(tensor)
        events = []
        for shard in tensor.shards:
            part = None
            if self.machine.data is not None and array is not None:
                part = array[shard.slices]
            events.append(self._dma(g.host(), shard, shard.nbytes, "host_write", part, tensor))
        self._wait_all(events, f"host->device copy of {tensor.name}")

    def _dma(self, src: str, shard: Shard, nbytes: int, kind: str, values: np.ndarray | None,
             tensor: Tensor) -> simpy.Event:  # fmt: skip
        """A DMA into ``shard`` that writes ``values`` there when it completes."""
        machine = self.machine
        event = machine.transfer(src, shard.node, nbytes, DmaInfo(kind, None, None, None))
        if values is not None:
            data = np.ascontiguousarray(values, dtype=tensor.dtype)
            event.callbacks.append(lambda _event: machine.data.write(shard.pa, data))
        return event

    def host_read(self, tensor: Tensor) -> None:
        """Pay the HBM -> host DMAs of a host read of ``tensor``."""
        machine = self.machine
        shards = tensor.shards[:1] if tensor.placement.layout == "replicate" else tensor.shards
        events = [
            machine.transfer(s.node, g.host(), s.nbytes, DmaInfo("host_read", None, None, None))
            for s in shards
        ]
        self._wait_all(events, f"device->host read of {tensor.name}")

    def host_read_bytes(self, shard: Shard, nbytes: int, name: str) -> None:
        """Pay the DMA of a host read of ``nbytes`` of one shard (indexing)."""
        info = DmaInfo("host_read", None, None, None)
        event = self.machine.transfer(shard.node, g.host(), nbytes, info)
        self._wait_all([event], f"device->host read of {name}")

    def host_write_shards(
        self, updates: list[tuple[Shard, np.ndarray | None]], nbytes: int, tensor: Tensor
    ) -> None:
        """Host -> device DMAs of ``nbytes`` into each shard, writing the shard's new
        values (when given) as each completes; the host waits for all of them."""
        events = [
            self._dma(g.host(), shard, nbytes, "host_write", values, tensor)
            for shard, values in updates
        ]
        self._wait_all(events, f"host->device write of {tensor.name}")

    def copy_device(self, dst: Tensor, src: Tensor) -> None:
        """Device -> device copy, shard by overlapping shard, over the network; each
        destination shard gets its values when its last DMA completes."""
        self.wait_writes(dst)
        self.wait_writes(src)
        machine = self.machine
        values = src._gather() if machine.data is not None else None
        events = []
        for d in dst.shards:
            pieces = []
            for s in src.shards:
                overlap = _overlap(d, s)
                if overlap == 0:
                    continue
                nbytes = overlap * dst.dtype.itemsize
                pieces.append(machine.transfer(s.node, d.node, nbytes,
                                               DmaInfo("copy", None, None, None)))  # fmt: skip
                if src.placement.layout == "replicate":
                    break
            done = machine.env.all_of(pieces)
            if values is not None:
                part = np.ascontiguousarray(values[d.slices], dtype=dst.dtype)
                done.callbacks.append(lambda _event, d=d, part=part: machine.data.write(d.pa, part))
            events.append(done)
        self._wait_all(events, f"device copy {src.name} -> {dst.name}")

    def wait_writes(self, tensor: Tensor) -> None:
        """The host-read barrier: wait for every launch that may write ``tensor``, and
        for the collectives ``read_barriers`` report (``dist`` registers one)."""
        self.synchronize()
        for barrier in self.read_barriers:
            barrier()

    def reserve_va(self, nbytes: int) -> int:
        """Reserve ``nbytes`` (rounded up to pages) of this context's VA space, unmapped:
        the element numbering of a whole tensor in grid launches."""
        va = self._next_va
        self._next_va += -(-nbytes // self.page_bytes) * self.page_bytes
        return va

    # -- kernels -----------------------------------------------------------------------
    def launch(
        self,
        kernel: Callable[..., Any],
        *args: Any,
        grid: Any = None,
        pes: Placement | Sequence[int | PeCoord] | None = None,
        name: str | None = None,
        barrier: bool | None = None,
        coll_id: int | None = None,
        **meta: Any,
    ) -> Launch:
        """Launch ``kernel`` (a function or ``@tl.jit`` kernel); returns the
        :class:`Launch` at once. ``meta`` keywords (``tl.constexpr`` parameters) are
        passed to every program.

        Without ``grid``: one program per target PE, and tensors in ``args`` become
        per-PE :class:`TensorView` s of their local shard. Targets: ``pes`` (a Placement
        or a list of PEs); by default the PEs of the first sharded tensor argument, else
        every PE of the device.

        With ``grid`` (a tuple of up to 3 ints, or a callable of the meta-parameters as
        Triton's): the grid's programs are dealt round-robin over ``pes`` (by default every
        PE of the device; see ``engine.launch.grid_programs``), and each tensor argument
        is the whole tensor, one range of elements (Triton's pointer).
        """
        if isinstance(kernel, KernelWrapper):  # @triton.autotune, @triton.heuristics
            options = {"grid": grid, "pes": pes, "name": name, "barrier": barrier,
                       "coll_id": coll_id}  # fmt: skip
            return kernel.launch(self, args, options, meta)
        fn = kernel_function(kernel)
        name = name or getattr(fn, "__name__", "kernel")
        meta = typed_keywords(kernel, split_meta(kernel, meta))
        args = typed_arguments(kernel, args)
        if isinstance(kernel, JITFunction):
            kernel.check_arguments(args, meta)
        if grid is not None:
            return self._launch_grid(kernel, fn, args, grid, pes, name, barrier, coll_id, meta)
        fn, args, meta = _tensors_by_position(fn, args, meta)
        targets = self._targets(pes, args)
        views = [(i, a) for i, a in enumerate(args) if isinstance(a, _PER_PE)]
        for _, tensor in views:
            for coord in targets:
                _on_pe(tensor, coord, False)  # raise now, on the host, not inside a program

        def args_for(coord: PeCoord) -> tuple:
            out = list(args)
            for i, tensor in views:
                out[i] = _on_pe(tensor, coord, False)
            return tuple(out)

        if meta:
            body = fn

            def fn(*a: Any) -> Any:
                return body(*a, **meta)

            fn.__name__ = name
        return self._start(fn, targets, args_for, name, barrier, coll_id)

    def _launch_grid(self, kernel, fn, args, grid, pes, name, barrier, coll_id, meta) -> Launch:
        if callable(grid):
            named = kernel.meta_of(args, meta) if isinstance(kernel, JITFunction) else {}
            grid = grid({**named, **meta})
        grid = normalize_grid(grid, name)
        if 0 in grid:  # as Triton's launcher: an empty grid runs no program
            return self._observed(empty_launch(self.machine, name, grid, coll_id))
        fn, args, meta = _tensors_by_position(fn, args, meta)
        if pes is None:
            if not self.device_pes:
                raise LaunchError("the selected device has no PEs")
            targets = list(self.device_pes)
        else:
            targets = self._targets(pes, args)
        views = [(i, a) for i, a in enumerate(args) if isinstance(a, _PER_PE)]

        def args_for(coord: PeCoord) -> tuple:
            out = list(args)
            for i, tensor in views:
                out[i] = _on_pe(tensor, coord, True)
            return tuple(out)

        return self._start(fn, targets, args_for, name, barrier, coll_id, grid, meta)

    def _start(self, fn, targets, args_for, name, barrier, coll_id, grid=None, meta=None):
        """Wait for the stream's previous launch, then start this one on the machine."""

        stream = self.machine.scheduler.current_task()
        previous = self._streams.get(stream)
        if previous is not None and not previous.done.processed:
            self.machine.scheduler.wait(previous.done, "previous launch on the stream")
        barrier = self.topology.params.launch.barrier if barrier is None else barrier
        record = start_launch(
            self.machine,
            fn,
            targets,
            args_for,
            barrier=barrier,
            mmu=self.mmu,
            name=name,
            coll_id=coll_id,
            grid=grid,
            meta=meta,
        )
        self._streams[stream] = record
        return self._observed(record)

    def _observed(self, record: Launch) -> Launch:
        """``record``, after handing it to every ``observe_launches`` block and to the
        run this runtime records (its kernel_ns)."""
        for observer in _launch_observers:
            observer.append((self, record))
        rec = self.recording
        if rec is not None and not rec.finished:
            rec.launches.append(record)
        return record

    def _targets(self, pes: Any, args: tuple) -> list[PeCoord]:
        if isinstance(pes, Placement):
            return pes.targets(self.topology, self.sips)
        if pes is not None:
            return Placement(pes=tuple(pes)).targets(self.topology, self.sips)
        for a in args:
            if isinstance(a, Tensor) and len(a.shards) > 1:
                return a.pes
        if not self.device_pes:
            raise LaunchError("the selected device has no PEs")
        return list(self.device_pes)

    def wait(self, launch: Launch) -> Launch:
        """Block the caller until ``launch`` has finished (raises its error if it failed)."""
        if not launch.done.processed:
            self.machine.scheduler.wait(launch.done, f"launch of {launch.kernel_name}")
        return launch

    def synchronize(self) -> None:
        """Block the caller until its stream is idle (the host script: every stream)."""
        scheduler = self.machine.scheduler
        stream = scheduler.current_task()
        if stream is None:  # the host script waits for every stream
            pending = [r.done for r in self._streams.values() if not r.done.processed]
        else:
            own = self._streams.get(stream)
            pending = [own.done] if own is not None and not own.done.processed else []
        if pending:
            scheduler.wait(self.machine.env.all_of(pending), "synchronize")


# Arguments a program sees as its own view: tensors, and tensor descriptors over them.
_PER_PE = (Tensor, TensorDescriptor)


def _on_pe(value: Tensor | TensorDescriptor, coord: PeCoord, grid: bool) -> Any:
    """What a program on ``coord`` gets for a tensor (or a descriptor of one): the whole
    tensor in a grid launch, the PE's shard otherwise."""
    tensor = value.base if isinstance(value, TensorDescriptor) else value
    view = tensor.grid_view_for(coord) if grid else tensor.view_for(coord)
    return value.on_device(view) if isinstance(value, TensorDescriptor) else view


def _tensors_by_position(fn: Callable[..., Any], args: tuple, meta: dict[str, Any]):
    """(fn, args, meta) with the tensors (and descriptors) given by keyword moved to the
    end of ``args`` (where a launch makes each PE's view of them), and ``fn`` taking them
    back by name."""
    named = [name for name, value in meta.items() if isinstance(value, _PER_PE)]
    if not named:
        return fn, args, meta
    meta = dict(meta)
    n_positional = len(args)
    args = (*args, *(meta.pop(name) for name in named))
    body = fn

    def fn(*values: Any, **keywords: Any) -> Any:
        by_name = dict(zip(named, values[n_positional:], strict=True))
        return body(*values[:n_positional], **by_name, **keywords)

    fn.__name__ = getattr(body, "__name__", "kernel")
    return fn, args, meta


# Triton's names of the float8 dtypes (tl.float8e4nv...), as their numpy names.
_TRITON_DTYPE_NAMES = {
    "float8e4nv": "float8_e4m3fn",
    "float8e5": "float8_e5m2",
    "float8e4b8": "float8_e4m3fnuz",
    "float8e5b16": "float8_e5m2fnuz",
}


def host_dtype(dtype: Any) -> np.dtype:
    """A tensor's dtype from a numpy dtype or name ("float16", "bfloat16",
    "float8_e4m3fn") or Triton's name ("float8e4nv"); ValueError naming it otherwise."""
    try:
        return np.dtype(_TRITON_DTYPE_NAMES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    except TypeError:
        raise ValueError(
            f"unknown dtype {dtype!r}: give a numpy dtype or its name (float16, float32, "
            f"int32, bfloat16, ...) or one of Triton's ({', '.join(_TRITON_DTYPE_NAMES)})"
        ) from None


def normalize_grid(grid: Any, kernel_name: str) -> tuple[int, int, int]:
    """A grid as (x, y, z) ints >= 0 (a zero makes an empty grid, which launches
    nothing); raises LaunchError naming the kernel."""
    values = (
        (grid,)
        if isinstance(grid, int)
        else tuple(grid)
        if isinstance(grid, (tuple, list))
        else None
    )
    if values is None or not 1 <= len(values) <= 3:
        raise LaunchError(f"kernel {kernel_name!r}: grid must be 1 to 3 ints, got {grid!r}")
    try:
        ints = tuple(operator.index(v) for v in values)
    except TypeError:
        raise LaunchError(
            f"kernel {kernel_name!r}: grid must be 1 to 3 ints, got {grid!r}"
        ) from None
    if any(v < 0 for v in ints):
        raise LaunchError(f"kernel {kernel_name!r}: grid sizes must be >= 0, got {grid!r}")
    return (*ints, 1, 1)[:3]


def _overlap(a: Shard, b: Shard) -> int:
    count = 1
    for ao, asz, bo, bsz in zip(a.offset, a.shape, b.offset, b.shape, strict=True):
        lo, hi = max(ao, bo), min(ao + asz, bo + bsz)
        if hi <= lo:
            return 0
        count *= hi - lo
    return count


_RUNTIME_DIR = str(Path(__file__).resolve().parent)
_ASSIGNMENT = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")


def _assigned_name() -> str | None:
    """The variable the caller assigns the new tensor to (``x = rt.zeros(...)`` -> ``x``,
    ``self.weight = ...`` -> ``weight``),
    so errors name tensors as the user does; None when the line is not such an assignment.

    Looks at the first frame outside simulator/runtime, i.e. the user's (or workload's)
    line; costs one line lookup per tensor, never per op.
    """
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_RUNTIME_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    match = _ASSIGNMENT.match(linecache.getline(frame.f_code.co_filename, frame.f_lineno))
    return match.group(1) if match else None
