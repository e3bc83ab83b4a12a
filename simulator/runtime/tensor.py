"""Device tensors: shards in HBM slices, reached through virtual addresses.

A tensor is cut into shards by its :class:`Placement`; each shard is a contiguous
row-major block in one PE's HBM slice, mapped at its own virtual address range. A kernel
receives, on each PE, a :class:`TensorView` of the shard on that PE (or of the only shard
when the tensor is not sharded).

Host-visible reads (``numpy``, ``repr``, indexing) first wait for every pending write to
the tensor (the host-read barrier), then pay a device-to-host DMA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from simulator.engine.errors import LaunchError, SimulationError
from simulator.hw.topology import PeCoord
from simulator.language.core import TensorView
from simulator.runtime.placement import Placement

if TYPE_CHECKING:
    from simulator.engine.machine import Machine


class TensorHost(Protocol):
    """What a tensor asks of the runtime that made it (``Runtime`` is one): the host-read
    barrier, host <-> device DMAs and VA space. Declared here so that ``tensor`` does not
    import ``runtime``, which imports ``tensor``."""

    machine: Machine

    def wait_writes(self, tensor: Tensor) -> None: ...

    def host_read(self, tensor: Tensor) -> None: ...

    def host_read_bytes(self, shard: Shard, nbytes: int, name: str) -> None: ...

    def host_write_shards(
        self, updates: list[tuple[Shard, np.ndarray | None]], nbytes: int, tensor: Tensor
    ) -> None: ...

    def copy_device(self, dst: Tensor, src: Tensor) -> None: ...

    def copy_from_host(self, tensor: Tensor, array: np.ndarray | None) -> None: ...

    def reserve_va(self, nbytes: int) -> int: ...


class DataModeError(SimulationError):
    """Tensor values were asked for while the runtime does not simulate data."""


class ShardError(SimulationError, IndexError):
    """An index or slice does not fall inside one shard."""


@dataclass(frozen=True, slots=True)
class Shard:
    """One piece of a tensor on one PE: where it sits in the tensor and in memory."""

    coord: PeCoord
    offset: tuple[int, ...]
    shape: tuple[int, ...]
    va: int
    pa: int
    nbytes: int
    node: str  # the graph node of the memory holding it (an HBM slice, a TCM, a CUBE_SRAM)

    @property
    def slices(self) -> tuple[slice, ...]:
        """Where this shard sits in the whole tensor, as numpy index slices."""
        return tuple(slice(o, o + n) for o, n in zip(self.offset, self.shape, strict=True))


class Tensor:
    """A tensor on the device, made by ``Runtime.zeros / empty / from_numpy``."""

    def __init__(
        self,
        runtime: TensorHost,
        shape: tuple[int, ...],
        dtype: np.dtype,
        placement: Placement,
        shards: list[Shard],
        name: str,
    ) -> None:
        self.runtime = runtime
        self.shape = shape
        self.dtype = dtype
        self.placement = placement
        self.shards = shards
        self.name = name
        self._shard_on = {s.coord: s for s in shards}
        self._grid_view: TensorView | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of one logical copy of the tensor."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def pes(self) -> list[PeCoord]:
        """The PEs holding shards, in shard order."""
        return [s.coord for s in self.shards]

    def view_for(self, coord: PeCoord) -> TensorView:
        """The kernel argument for a program on ``coord``."""
        shard = self._shard_on.get(coord)
        if shard is None:
            if len(self.shards) != 1:
                raise LaunchError(
                    f"tensor {self.name!r} has no shard on PE {coord.pe_global} "
                    f"(sip{coord.sip}.cube{coord.cube}.pe{coord.pe}); its shards are on PEs "
                    f"{[s.coord.pe_global for s in self.shards]}"
                )
            shard = self.shards[0]
        if len(shard.offset) == 2:
            offset = shard.offset
        elif len(shard.offset) == 1:  # its one row
            offset = (0, shard.offset[0])
        else:  # its first row of the (rows, last dim) matrix (row-wise: dim 0 is split)
            offset = (shard.offset[0] * _inner_rows(self.shape), 0)
        return TensorView(shard.va, kernel_shape(shard.shape), self.dtype, self.name, offset)

    def data_ptr(self) -> int:
        """The virtual address of element 0 (``torch.Tensor.data_ptr``), in the element
        numbering grid launches use. Stored in a device tensor (int64), a kernel turns it
        back into a pointer: ``tl.load(ptrs + g).to(tl.pointer_type(tl.float16))``, as
        Triton's grouped-GEMM tutorial does."""
        if self.placement.layout == "replicate":
            va = self.shards[0].va
        else:
            va = self.grid_view_for(self.shards[0].coord).va
        self.runtime.machine.register_addressable(va, self.nbytes, self)
        return va

    def stride(self, dim: int | None = None) -> int | tuple[int, ...]:
        """Element strides of the whole tensor, row-major (as ``torch.Tensor.stride``)."""
        strides = tuple(math.prod(self.shape[i + 1 :]) for i in range(len(self.shape)))
        return strides if dim is None else strides[dim]

    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def grid_view_for(self, coord: PeCoord) -> TensorView:
        """The kernel argument of a grid launch on ``coord``: the whole tensor as one
        range of elements (Triton's pointer). A replicated tensor gives each PE its own
        replica (a PE without one gets the first); otherwise the elements are numbered
        row-major over every shard, at a VA range reserved for the tensor, and the
        view's segment table maps each run of elements to its shard's VA."""
        if self.placement.layout == "replicate":
            shard = self._shard_on.get(coord, self.shards[0])
            return TensorView(shard.va, kernel_shape(shard.shape), self.dtype, self.name)
        if self._grid_view is None:
            self._grid_view = self._whole_view()
        return self._grid_view

    def _whole_view(self) -> TensorView:
        isz = self.dtype.itemsize
        row_elems = math.prod(self.shape[1:])  # elements of one index of dim 0
        segments: list[tuple[int, int]] = []
        for shard in self.shards:
            if shard.shape[1:] == self.shape[1:]:  # whole rows (row-wise): one segment
                segments.append((shard.offset[0] * row_elems, shard.va))
                continue
            cols = self.shape[1]  # a 2-D tensor's column shard
            row0, col0 = shard.offset
            width = shard.shape[1]
            for r in range(shard.shape[0]):  # a column shard: one segment per row
                segments.append(((row0 + r) * cols + col0, shard.va + r * width * isz))
        segments.sort()
        va = self.runtime.reserve_va(self.nbytes)
        starts = tuple(s for s, _ in segments)
        vas = tuple(v for _, v in segments)
        return TensorView(va, kernel_shape(self.shape), self.dtype, self.name, (0, 0),
                          (starts, vas))  # fmt: skip

    # -- host reads and writes ---------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The tensor's values, after every pending write to it (host-read barrier).

        Raises DataModeError when the runtime runs without ``verify_data``.
        """
        rt = self.runtime
        rt.wait_writes(self)
        if rt.machine.data is None:
            raise DataModeError(
                f"tensor {self.name!r}: values are not simulated; create the Runtime with "
                "verify_data=True"
            )
        rt.host_read(self)
        return self._gather()

    def peek(self) -> np.ndarray:
        """The values after every pending write, without simulating a device -> host
        transfer: for checking results without moving the simulated timeline."""
        rt = self.runtime
        rt.wait_writes(self)
        if rt.machine.data is None:
            raise DataModeError(f"tensor {self.name!r}: values are not simulated")
        return self._gather()

    def _gather(self) -> np.ndarray:
        data = self.runtime.machine.data
        out = np.empty(self.shape, dtype=self.dtype)
        for shard in self.shards:
            values = data.read(shard.pa, shard.nbytes).view(self.dtype).reshape(shard.shape)
            out[shard.slices] = values
            if self.placement.layout == "replicate":
                break
        return out

    def copy_(self, src: np.ndarray | Tensor) -> Tensor:
        """Copy ``src`` (a host array or another device tensor of the same shape) into
        this tensor; host->device or device->device DMAs, synchronous for the host."""
        shape = tuple(src.shape)
        if shape != self.shape:
            raise ValueError(f"copy_: source shape {shape} != {self.name!r} shape {self.shape}")
        if isinstance(src, Tensor):
            self.runtime.copy_device(self, src)
        else:
            self.runtime.copy_from_host(self, np.asarray(src))
        return self

    def fill_(self, value: float) -> Tensor:
        """Set every element to ``value`` (as ``torch.Tensor.fill_``): a host->device copy,
        synchronous for the host."""
        return self.copy_(np.full(self.shape, value, self.dtype))

    def zero_(self) -> Tensor:
        """Set every element to zero (as ``torch.Tensor.zero_``; autotune hooks write
        ``nargs["DQ"].zero_()``)."""
        return self.fill_(0)

    # -- shard-aligned indexing ----------------------------------------------------------
    def _shard_for(self, key: Any) -> tuple[Shard, tuple[slice, ...]]:
        """The shard holding ``key`` and the key in that shard's local coordinates."""
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > len(self.shape):
            raise ShardError(f"too many indices for {self.name!r} of shape {self.shape}")
        key = key + (slice(None),) * (len(self.shape) - len(key))
        bounds = []
        for dim, (k, size) in enumerate(zip(key, self.shape, strict=True)):
            if isinstance(k, (int, np.integer)):
                i = int(k) + (size if k < 0 else 0)
                if not 0 <= i < size:
                    raise ShardError(f"index {k} out of range for dim {dim} of size {size}")
                bounds.append((i, i + 1, True))
            elif isinstance(k, slice):
                start, stop, step = k.indices(size)
                if step != 1:
                    raise ShardError("only contiguous slices (step 1) are supported")
                bounds.append((start, max(stop, start), False))
            else:
                raise ShardError(f"unsupported index {k!r}: use ints and slices")
        for shard in self.shards:
            inside = all(
                o <= lo and hi <= o + s
                for (lo, hi, _), o, s in zip(bounds, shard.offset, shard.shape, strict=True)
            )
            if inside:
                local = tuple(
                    (lo - o) if scalar else slice(lo - o, hi - o)
                    for (lo, hi, scalar), o in zip(bounds, shard.offset, strict=True)
                )
                return shard, local
        spans = ", ".join(f"{lo}:{hi}" for lo, hi, _ in bounds)
        raise ShardError(
            f"slice [{spans}] of {self.name!r} crosses shard boundaries "
            f"({self.placement.layout}-wise over {len(self.shards)} PEs); read or write each "
            "shard separately, or use copy_ for whole-tensor copies"
        )

    def __getitem__(self, key: Any) -> np.ndarray:
        """Read a slice that lies inside one shard: the host-read barrier, then a
        device -> host DMA of the slice's bytes."""
        shard, local = self._shard_for(key)
        rt = self.runtime
        rt.wait_writes(self)
        if rt.machine.data is None:
            raise DataModeError(f"tensor {self.name!r}: values are not simulated")
        values = self._shard_values(shard)[local].copy()
        rt.host_read_bytes(shard, values.nbytes, self.name)
        return values

    def __setitem__(self, key: Any, value: Any) -> None:
        """Write a scalar or an array into a slice inside one shard (into every replica
        of a replicated tensor): host -> device DMAs of the slice's bytes, the values
        landing when each completes. Costs the same simulated time without data."""
        shard, local = self._shard_for(key)
        targets = self.shards if self.placement.layout == "replicate" else [shard]
        rt = self.runtime
        rt.wait_writes(self)
        nbytes = int(np.zeros(shard.shape, self.dtype)[local].nbytes)
        updates = []
        for target in targets:
            values = None
            if rt.machine.data is not None:
                values = self._shard_values(target).copy()
                values[local] = value
            updates.append((target, values))
        rt.host_write_shards(updates, nbytes, self)

    def _shard_values(self, shard: Shard) -> np.ndarray:
        data = self.runtime.machine.data.read(shard.pa, shard.nbytes)
        return data.view(self.dtype).reshape(shard.shape)

    def __repr__(self) -> str:
        head = f"Tensor(name={self.name!r}, shape={self.shape}, dtype={self.dtype}, "
        head += f"{self.placement.layout} over {len(self.shards)} PEs"
        if self.runtime.machine.data is None:
            return head + ", data=N/A)"
        values = self.numpy()
        return head + f", sum={float(values.astype(np.float64).sum()):.6g})"


def kernel_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a kernel's view of a tensor has: its own for 1-D and 2-D, and for more
    dims the (rows, last dim) matrix of the same row-major elements (kernels index such
    tensors with their strides, as Triton's do)."""
    if len(shape) <= 2:
        return shape
    return (math.prod(shape[:-1]), shape[-1])


def _inner_rows(shape: tuple[int, ...]) -> int:
    """Rows of the (rows, last dim) matrix per index of dim 0 of a 3-D+ tensor."""
    return math.prod(shape[1:-1])
