"""``tl``: the Triton-shaped kernel language (user-facing builtins).

Kernels are plain Python functions (or ``@tl.jit`` ones) run once per program. Each
``tl`` op checks its arguments, then issues an op into one engine queue of the program's
PE and returns a :class:`tensor` (a future tile in TCM) without blocking. A kernel blocks
only where it must: when TCM is full until in-flight ops free space, and at its end until
all its ops are done.

Engines: ``load`` -> DMA_IN, ``dot`` -> GEMM, element-wise math, reductions and scans ->
MATH (``ceil(elements / pe.math.lanes) * pe.math.cycles_per_op[op]`` cycles), ``store`` ->
DMA_WB. Loads and stores take virtual addresses, translated by the MMU of the runtime
context that launched the kernel; :mod:`simulator.language.lowering` turns them into DMAs.

Values known when an op is issued -- ``tl.arange``, program ids, Python ints and what is
computed from them only (offsets, masks, pointers; not ``tl.zeros``/``tl.full`` tiles,
which are data in TCM) -- are *index values*: they are folded
at issue time, as address generation, and charged on no engine. Everything computed from
loaded data runs on an engine. Layout changes (``x[:, None]``, ``reshape``,
``broadcast_to``, ``expand_dims``) are free views of the same tile; ``trans`` moves the
tile through MATH.
"""

from __future__ import annotations

import builtins
import enum
import functools
import math
import operator
import typing
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import ml_dtypes
import numpy as np
from greenlet import greenlet
from mypy_extensions import mypyc_attr

from simulator.engine.ops import Block, Op, gemm_duration_ns, math_duration_ns
from simulator.engine.pe import Program
from simulator.language import dot_precision, lowering, scalar
from simulator.language.context import KernelUsageError, call_site, usage_error
from simulator.language.scalar import FloatScalar, IntScalar, LoopRange

# Names the hot paths call, Final: compiled, they are read from C statics rather than
# looked up in the module's dict at every use.
partial: Final = functools.partial
_getcurrent: Final = greenlet.getcurrent


def _program() -> Program:
    """The program of the kernel running now (its greenlet carries it as ``kb_program``)."""
    program = getattr(_getcurrent(), "kb_program", None)
    if program is None:
        raise KernelUsageError("tl ops can only be called inside a kernel launched by a Runtime")
    return program


float16: Final = np.dtype(np.float16)
# Triton's float types numpy lacks, as ml_dtypes' numpy dtypes: bfloat16, and float8 e4m3
# (bias 7, no infinities: Triton's "nv" variant, ml_dtypes' "fn") and e5m2 (bias 15).
bfloat16: Final = np.dtype(ml_dtypes.bfloat16)
float8e4nv: Final = np.dtype(ml_dtypes.float8_e4m3fn)
float8e5: Final = np.dtype(ml_dtypes.float8_e5m2)
# AMD's float8 (no negative zero, one NaN; "fnuz"): e4m3 with bias 8, e5m2 with bias 16.
float8e4b8: Final = np.dtype(ml_dtypes.float8_e4m3fnuz)
float8e5b16: Final = np.dtype(ml_dtypes.float8_e5m2fnuz)
float32: Final = np.dtype(np.float32)
float64: Final = np.dtype(np.float64)
int1: Final = np.dtype(np.bool_)
int8: Final = np.dtype(np.int8)
int16: Final = np.dtype(np.int16)
int32: Final = np.dtype(np.int32)
int64: Final = np.dtype(np.int64)
uint8: Final = np.dtype(np.uint8)
uint16: Final = np.dtype(np.uint16)
uint32: Final = np.dtype(np.uint32)
uint64: Final = np.dtype(np.uint64)
_INDEX: Final = np.dtype(np.int32)


def get_int_dtype(bitwidth: IntLike, signed: BoolLike) -> np.dtype:
    """The integer dtype of ``bitwidth`` (1, 8, 16, 32 or 64) bits, as Triton's
    ``core.get_int_dtype``."""
    bitwidth, signed = _unwrapped(bitwidth), _unwrapped(signed)
    if bitwidth == 1:
        return int1
    if bitwidth not in (8, 16, 32, 64):
        raise usage_error(f"get_int_dtype: no integer dtype of {bitwidth} bits")
    return np.dtype(f"{'i' if signed else 'u'}{bitwidth // 8}")


# Narrow floats: numpy mixes them with few other dtypes, so MATH computes on their values
# as float32 (see _evaluate).
_NARROW_FLOATS: Final = frozenset({bfloat16, float8e4nv, float8e5, float8e4b8, float8e5b16})
_FLOAT8: Final = frozenset({float8e4nv, float8e5, float8e4b8, float8e5b16})


@mypyc_attr(native_class=False)  # compiled, it stays a Python class: its operators are set below
class constexpr:  # noqa: N801 - Triton's name
    """Annotation of compile-time kernel parameters (``BLOCK: tl.constexpr``): they are
    passed by keyword at launch and seen by the kernel as plain Python values.

    Also a wrapped value, as Triton's (``MODE: tl.constexpr = tl.constexpr(0)`` at module
    level): it compares, hashes, converts and computes as its value does, so
    ``mode == MODE`` holds for ``mode = 0``, and ``x * SCALE`` works on a tile.
    """

    __slots__ = ("value",)
    value: Any

    def __init__(self, value: Any = None) -> None:
        self.value = value.value if isinstance(value, constexpr) else value

    def __repr__(self) -> str:
        return f"constexpr[{self.value!r}]"

    def __hash__(self) -> int:
        return hash(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __index__(self) -> int:
        return operator.index(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __neg__(self) -> Any:
        return -self.value

    def __invert__(self) -> Any:
        return ~self.value

    def __abs__(self) -> Any:
        return builtins.abs(self.value)


# What kernels pass to tl functions, which check it themselves and name what is wrong:
# Python's values, numpy's, a tl.constexpr of one, a number where a tile goes (Triton
# makes it a 0-d tile). Signatures say so with these names rather than int, bool or
# tensor, which compiled code (simulator.hw.native) would check at the call itself.
IntLike = Any
"""An int, a numpy integer or a ``tl.constexpr`` of one."""
BoolLike = Any
"""A bool, a numpy bool or a ``tl.constexpr`` of one."""
TileLike = Any
"""A tile (:class:`tensor`), or a number or scalar, which is a 0-d tile."""


def _is_bool(value: Any) -> bool:
    """A bool tile or number (two of them add and subtract in Triton's 1 bit, which
    wraps: an exclusive or, where numpy's add is a logical or)."""
    return (value.dtype == _BOOL if isinstance(value, tensor)
            else isinstance(value, (bool, np.bool_)))  # fmt: skip


def _unwrapped(value: Any) -> Any:
    return value.value if isinstance(value, constexpr) else value


def _constexpr_operators() -> None:
    """constexpr's comparisons and arithmetic: those of its value, with the other operand
    unwrapped too (a tile on the other side computes as with a number)."""
    names = ("eq", "ne", "lt", "le", "gt", "ge")
    arithmetic = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or",
                  "xor", "lshift", "rshift")  # fmt: skip
    for name in names + arithmetic:
        op = getattr(operator, name if name not in ("and", "or") else f"{name}_")

        def forward(self: constexpr, other: Any, op: Callable = op) -> Any:
            return op(self.value, _unwrapped(other))

        setattr(constexpr, f"__{name}__", forward)
        if name in arithmetic:

            def reflected(self: constexpr, other: Any, op: Callable = op) -> Any:
                return op(_unwrapped(other), self.value)

            setattr(constexpr, f"__r{name}__", reflected)


_constexpr_operators()


# -- kernel arguments ------------------------------------------------------------------
class const:  # noqa: N801 - Triton's name
    """Triton's annotation of a pointer parameter to read-only data (``x_ptr: tl.const``):
    accepted, and it changes nothing here."""


class pointer_type:  # noqa: N801 - Triton's name
    """The type of a pointer kernel argument, as Triton's: ``x_ptr.dtype`` and
    ``x_ptr.type`` are ``pointer<fp16>``, and ``x_ptr.dtype.element_ty`` is ``tl.float16``.

    It also stands for its element type where one is expected (numpy reads its
    ``dtype``; it compares and hashes equal to it; ``itemsize``, ``kind`` and ``name`` are
    the element's), so a kernel that writes ``x_ptr.dtype`` for the element type keeps
    working.
    """

    __slots__ = ("element_ty",)

    def __init__(self, element_ty: np.dtype | str) -> None:
        self.element_ty = np.dtype(element_ty)

    @property
    def dtype(self) -> np.dtype:
        """The element type: what numpy takes for a dtype-like object."""
        return self.element_ty

    @property
    def itemsize(self) -> int:
        return self.element_ty.itemsize

    @property
    def kind(self) -> str:
        return self.element_ty.kind

    @property
    def name(self) -> str:
        return self.element_ty.name

    def is_ptr(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        if isinstance(other, pointer_type):
            return self.element_ty == other.element_ty
        try:
            return self.element_ty == _unwrapped(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.element_ty)

    def __repr__(self) -> str:
        return f"pointer<{self.element_ty}>"


@dataclass(frozen=True, slots=True)
class TensorView:
    """What a kernel receives for a tensor: a range of elements at virtual addresses.

    Row-major: element (i, j) of a 2-D view is element ``i * shape[1] + j``. Without
    ``segments`` (a shard's view) element ``e`` lives at ``va + e * itemsize``. With
    them (a whole tensor, as grid launches pass it), ``segments = (starts, vas)`` say that
    elements from ``starts[k]`` on live at ``vas[k]`` (each shard's own VA range); ``va``
    then numbers the elements ``va + e * itemsize`` for pointer arithmetic and messages.

    Used as a pointer (Triton's ``x_ptr``): ``view + offsets`` is a :class:`pointer`, and
    its ``dtype`` is Triton's :class:`pointer_type` of ``element_dtype``.
    """

    va: int
    shape: tuple[int, ...]
    element_dtype: np.dtype
    name: str = "tensor"
    # Where this shard starts in the whole tensor (row, col); for kernels that need it.
    global_offset: tuple[int, ...] = (0, 0)
    segments: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def dtype(self) -> pointer_type:
        """Triton's type of the pointer: ``.element_ty`` is the element's dtype."""
        return pointer_type(self.element_dtype)

    @property
    def type(self) -> pointer_type:  # Triton's ``x_ptr.type.element_ty``
        return pointer_type(self.element_dtype)

    @property
    def strides(self) -> tuple[int, ...]:
        """Element strides (row-major)."""
        if len(self.shape) == 1:
            return (1,)
        return (self.shape[1], 1)

    def stride(self, dim: IntLike) -> int:
        """Element stride of dimension ``dim`` (as ``torch.Tensor.stride``)."""
        return self.strides[dim]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.element_dtype.itemsize

    def __add__(self, offsets: Any) -> pointer:
        return pointer(self, np.zeros((), np.int64)) + offsets

    def __radd__(self, offsets: Any) -> pointer:
        return pointer(self, np.zeros((), np.int64)) + offsets

    def __sub__(self, offsets: Any) -> pointer:
        return pointer(self, np.zeros((), np.int64)) - offsets

    def to(self, type_: Any, bitcast: BoolLike = False) -> pointer:
        """``x_ptr.to(tl.pointer_type(T))``: a pointer to element 0 of the same bytes
        read as ``T`` (see :meth:`pointer.to`)."""
        return pointer(self, np.zeros((), np.int64)).to(type_, bitcast)


class pointer:  # noqa: N801 - Triton's pointer blocks
    """A block of pointers into one tensor: ``base`` and element ``offsets`` (an int
    array, shape = the block's shape; ``()`` for a scalar pointer). Built by
    ``x_ptr + offsets``; loaded and stored with masks."""

    __slots__ = ("base", "offsets")

    def __init__(self, base: TensorView, offsets: np.ndarray | np.int64) -> None:
        self.base = base
        self.offsets = offsets

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.offsets.shape)

    @property
    def dtype(self) -> pointer_type:
        """Triton's pointer type (``.element_ty``: the element's dtype)."""
        return pointer_type(self.base.element_dtype)

    @property
    def type(self) -> pointer_type:
        return pointer_type(self.base.element_dtype)

    def __add__(self, other: Any) -> pointer:
        return pointer(self.base, self.offsets + _index_value("pointer +", other))

    def __radd__(self, other: Any) -> pointer:
        return pointer(self.base, self.offsets + _index_value("pointer +", other))

    def __sub__(self, other: Any) -> pointer:
        return pointer(self.base, self.offsets - _index_value("pointer -", other))

    def __getitem__(self, key: Any) -> pointer:
        return pointer(self.base, np.asarray(self.offsets)[_check_view_key(key, self.shape)])

    def to(self, type_: Any, bitcast: BoolLike = False) -> pointer:
        """Pointers to the same bytes read as another element type (Triton's pointer to
        pointer cast: ``W_ptr.to(tl.pointer_type(tl.int32))`` reads packed bytes as
        words); offsets count the new elements. Each address must start an element of
        the new type, and the tensor hold a whole number of them."""
        if not isinstance(type_, pointer_type):
            raise usage_error(f"a pointer casts only to a pointer type "
                              f"(tl.pointer_type(T)), not {type_!r}")  # fmt: skip
        old, new = self.base.element_dtype.itemsize, type_.element_ty.itemsize
        byte_offsets = self.offsets * old
        if np.any(byte_offsets % new):
            raise usage_error(f"pointer cast of {self.base.name} to {type_!r}: element offsets "
                              f"{self.offsets.ravel()[:4].tolist()} do not start {new}-byte "
                              "elements")  # fmt: skip
        return pointer(retyped_view(self.base, type_.element_ty), byte_offsets // new)

    def __repr__(self) -> str:
        return f"pointer({self.base.name}, shape={self.shape})"


_Pointer = pointer  # ``load``/``store`` name their first parameter ``pointer``, as Triton


def _index_value(what: str, value: Any) -> np.ndarray | np.int64:
    """The integer values of ``value`` (an int or an index tensor), for pointer math."""
    value = _unwrapped(value)
    if isinstance(value, tensor):
        if value.dtype.kind not in "iub":
            raise usage_error(f"{what}: pointer offsets must be integers, got {value.dtype}")
        if value.const is None:  # a gather: the addresses come from loaded data
            return _known_values(value, f"{what}: pointer offsets").astype(np.int64)
        return value.const.astype(np.int64)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return np.int64(value)
    raise usage_error(f"{what}: cannot offset a pointer by {type(value).__name__}")


class block_ptr(NamedTuple):  # noqa: N801 - named like Triton's
    """A tile of a tensor: ``offsets`` and ``block_shape`` in elements over ``shape``
    (the tensor's, by default) with element ``strides`` (row-major, by default).

    Immutable; a named tuple rather than a frozen dataclass because kernels make one
    per tile and a frozen dataclass costs about a microsecond to build."""

    base: TensorView
    offsets: tuple[int, int]
    block_shape: tuple[int, int]
    shape: tuple[int, int] | None = None
    row_stride: int | None = None
    one_d: bool = False  # built from 1-D shape/offsets/block_shape: loads give 1-D tiles
    # Built with order=(0, 1) (the block's columns contiguous in memory): the fields above
    # then describe the memory's rows (the block's columns), and loads and stores
    # transpose the tile between memory and TCM.
    transposed: bool = False

    @property
    def bounds(self) -> tuple[int, ...]:
        return self.shape if self.shape is not None else self.base.shape

    @property
    def dtype(self) -> pointer_type:
        """Triton's type of the block pointer's elements' pointer (``.element_ty``)."""
        return pointer_type(self.base.element_dtype)

    @property
    def type(self) -> pointer_type:
        return pointer_type(self.base.element_dtype)

    @property
    def stride(self) -> int:
        return self.row_stride if self.row_stride is not None else self.base.shape[1]


class block_ptr_nd(NamedTuple):  # noqa: N801 - named like Triton's
    """A block pointer of 3 to 5 dims (``(B, M, K)`` with block ``(BB, BM, BK)``): each
    index of the block's leading dims picks one matrix of the tensor, whose tile is a
    :class:`block_ptr`'s (see :func:`matrix_block`). Loads give tiles of
    ``block_shape``: one DMA_IN op moving every matrix's tile (a 3-D tile for a batched
    ``tl.dot``); stores write them back likewise."""

    base: TensorView
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offsets: tuple[int, ...]
    block_shape: tuple[int, ...]

    @property
    def dtype(self) -> pointer_type:
        return pointer_type(self.base.element_dtype)

    @property
    def type(self) -> pointer_type:
        return pointer_type(self.base.element_dtype)


def matrix_block(what: str, base: TensorView, shape: Sequence[IntLike], strides: Sequence[IntLike],
                 offsets: Sequence[IntLike], block_shape: Sequence[IntLike],
                 boundary_check: Sequence[IntLike]) -> block_ptr:  # fmt: skip
    """The 2-D block pointer of an N-D block whose leading dims are 1: the tile at
    ``offsets[-2:]`` of the matrix the leading offsets pick. A leading offset outside
    the tensor makes the whole block padding (a block past the matrix's rows) along a
    dim ``boundary_check`` lists, and is an error along another; so is a tile reaching
    past the matrix along an unlisted one (dims named as the kernel's)."""
    n = len(shape)
    checked = {int(_unwrapped(d)) for d in boundary_check}
    rows, cols = shape[-2], shape[-1]
    for dim, (offset, size, extent) in enumerate(zip(offsets, block_shape, shape, strict=True)):
        if (offset < 0 or offset + size > extent) and dim not in checked:
            side = "before the start of" if offset < 0 else "past"
            raise usage_error(
                f"{what}: block at offsets {tuple(offsets)} with block_shape "
                f"{tuple(block_shape)} reaches {side} dim {dim} of {base.name} (shape "
                f"{tuple(shape)}), and boundary_check={tuple(boundary_check)} does not list "
                f"{dim}: Triton would access memory out of bounds; add {dim} to "
                "boundary_check"
            )
    lead = offsets[: n - 2]
    if all(0 <= o < extent for o, extent in zip(lead, shape, strict=False)):
        first = builtins.sum(o * stride for o, stride in zip(lead, strides, strict=False))
        view = shifted_view(base, first) if first else base
        return typing.cast(block_ptr, make_block_ptr(view, (rows, cols), (strides[-2], 1),
                    tuple(offsets[-2:]), tuple(block_shape[-2:]), (1, 0)))  # fmt: skip
    return typing.cast(block_ptr, make_block_ptr(base, (rows, cols), (strides[-2], 1), (rows, 0),
                tuple(block_shape[-2:]), (1, 0)))  # all padding  # fmt: skip


def _nd_block_ptr(base: TensorView, shape: Any, strides: Any, offsets: Any, block_shape: Any,
                  order: Any) -> block_ptr_nd:  # fmt: skip
    """make_block_ptr of 3 to 5 dims (see :class:`block_ptr_nd`)."""
    dims = [tuple(int(_unwrapped(v)) for v in values) if values is not None else None
            for values in (shape, strides, offsets, block_shape, order)]  # fmt: skip
    shape, strides, offsets, block_shape, order = dims
    if (
        shape is None
        or strides is None
        or not (len(shape) == len(strides) == len(offsets) == len(block_shape) <= 5)
    ):
        raise usage_error(f"make_block_ptr: shape {shape}, strides {strides}, offsets "
                          f"{offsets} and block_shape {block_shape} need one entry per dim, "
                          "up to 5")  # fmt: skip
    if strides[-1] != 1 or (order is not None and order[0] != len(shape) - 1):
        fastest_first = tuple(range(len(shape) - 1, -1, -1))
        raise usage_error(f"make_block_ptr: a block pointer of {len(shape)} dims needs its "
                          f"last dim contiguous (strides[-1] == 1, order {fastest_first}), "
                          f"got strides {strides}, order {order}")  # fmt: skip
    if any(size < 1 for size in block_shape):
        raise usage_error(f"make_block_ptr: block_shape {block_shape} needs positive sizes")
    return block_ptr_nd(base, shape, strides, offsets, block_shape)


def make_block_ptr(
    base: TensorView | pointer,
    shape: Sequence[IntLike] | None = None,
    strides: Sequence[IntLike] | None = None,
    offsets: Sequence[IntLike] = (0, 0),
    block_shape: Sequence[IntLike] = (1, 1),
    order: Sequence[IntLike] | None = None,
) -> block_ptr | block_ptr_nd:
    """A block pointer with Triton's signature. ``shape`` and ``strides`` default to the
    view's own. Rows contiguous (``order=(1, 0)``, the innermost stride 1, or ``(0,)`` in
    1-D), or columns (``order=(0, 1)``, ``strides[0] == 1``: a transposed view, such as
    ``K^T`` of a row-major ``K``; its tiles move as the memory's rows do). 1-D block
    pointers load 1-D tiles."""
    if (
        shape is None and strides is None and order is None and type(base) is TensorView
        and type(offsets) is tuple and type(block_shape) is tuple and len(base.shape) == 2
        and len(offsets) == 2 and len(block_shape) == 2 and type(offsets[0]) is int
        and type(offsets[1]) is int and type(block_shape[0]) is int
        and type(block_shape[1]) is int
    ):  # fmt: skip
        # Hot path (a tile of a 2-D tensor, ints given): what the checks below give.
        return block_ptr(base, offsets, block_shape)
    base = _base_view("make_block_ptr", base)
    if len(tuple(block_shape)) > 2:
        return _nd_block_ptr(base, shape, strides, offsets, block_shape, order)
    one_d = len(tuple(block_shape)) == 1
    if one_d:
        if strides is not None and tuple(int(s) for s in strides) != (1,):
            return _strided_1d_block_ptr(base, shape, strides, offsets, block_shape)
        shape = None if shape is None else (1, int(shape[0]))
        strides = None if shape is None else (shape[1], 1)
        offsets = (0, int(offsets[0]))
        block_shape = (1, int(block_shape[0]))
        order = None if order is None or tuple(order) == (0,) else order
    view_shape = base.shape if len(base.shape) == 2 else (1, base.shape[0])
    view = base if len(base.shape) == 2 else shifted_view(base, 0)  # the 1 x n view
    if order is not None and tuple(order) not in ((1, 0), (0, 1)):
        raise usage_error(f"make_block_ptr: order={tuple(order)} is not (1, 0) or (0, 1)")
    if order is not None and tuple(order) == (0, 1):
        return _column_major_block_ptr(base, view, shape, strides, offsets, block_shape)
    bounds = tuple(int(s) for s in shape) if shape is not None else view_shape
    if len(bounds) != 2 or math.prod(bounds) > view.numel:
        raise usage_error(
            f"make_block_ptr: shape {bounds} does not fit {base.name} ({view.numel} elements)"
        )
    row_stride = view_shape[1]
    if strides is not None:
        strides = tuple(int(s) for s in strides)
        if len(strides) != 2 or strides[1] != 1:
            raise usage_error(f"make_block_ptr: strides {strides}: the innermost stride must be 1")
        row_stride = strides[0]
    if len(tuple(offsets)) != 2 or len(tuple(block_shape)) != 2:
        raise usage_error("make_block_ptr: offsets and block_shape need one entry per dim")
    custom = bounds != view_shape or row_stride != view_shape[1]
    return block_ptr(
        view,
        (int(offsets[0]), int(offsets[1])),
        (int(block_shape[0]), int(block_shape[1])),
        bounds if custom else None,
        row_stride if custom else None,
        one_d,
    )


def _strided_1d_block_ptr(base: TensorView, shape: Any, strides: Any, offsets: Sequence[IntLike],
                          block_shape: Sequence[IntLike]) -> block_ptr:  # fmt: skip
    """A 1-D block pointer whose elements are ``strides[0]`` apart (one head of a (T, H)
    tensor, as flash-linear-attention walks it): kept as a column of the memory's rows,
    one element wide, marked ``one_d`` and ``transposed`` (its tile is that column)."""
    if shape is None or len(tuple(shape)) != 1 or len(tuple(strides)) != 1:
        raise usage_error(f"make_block_ptr: a 1-D block pointer with strides {tuple(strides)} "
                          "needs its 1-D shape")  # fmt: skip
    if len(tuple(offsets)) != 1:
        raise usage_error("make_block_ptr: offsets and block_shape need one entry per dim")
    length, stride = int(shape[0]), int(tuple(strides)[0])
    view = base if len(base.shape) == 2 else shifted_view(base, 0)
    if stride < 1 or (length - 1) * stride + 1 > view.numel:
        raise usage_error(f"make_block_ptr: shape ({length},) with strides ({stride},) does "
                          f"not fit {base.name} ({view.numel} elements)")  # fmt: skip
    return block_ptr(view, (int(offsets[0]), 0), (int(block_shape[0]), 1), (length, 1), stride,
                     True, True)  # fmt: skip


def _column_major_block_ptr(
    base: TensorView,
    view: TensorView,
    shape: Any,
    strides: Any,
    offsets: Sequence[IntLike],
    block_shape: Sequence[IntLike],
) -> block_ptr:
    """A block pointer over a tensor whose first dimension is contiguous (``strides ==
    (1, s)``), kept as the memory sees it: rows ``s`` elements apart, offsets and block
    shape swapped, marked ``transposed``."""
    if shape is None or strides is None:
        raise usage_error("make_block_ptr: order=(0, 1) needs the shape and strides of the "
                          "transposed view, e.g. shape=(K, N), strides=(1, K)")  # fmt: skip
    bounds = tuple(int(s) for s in shape)
    strides = tuple(int(s) for s in strides)
    if len(bounds) != 2 or len(strides) != 2 or strides[0] != 1:
        raise usage_error(f"make_block_ptr: order=(0, 1) needs 2-D strides (1, s), got "
                          f"{strides}")  # fmt: skip
    if len(tuple(offsets)) != 2 or len(tuple(block_shape)) != 2:
        raise usage_error("make_block_ptr: offsets and block_shape need one entry per dim")
    memory_bounds = (bounds[1], bounds[0])
    if (memory_bounds[0] - 1) * strides[1] + memory_bounds[1] > view.numel:
        raise usage_error(f"make_block_ptr: shape {bounds} with strides {strides} does not "
                          f"fit {base.name} ({view.numel} elements)")  # fmt: skip
    return block_ptr(view, (int(offsets[1]), int(offsets[0])),
                     (int(block_shape[1]), int(block_shape[0])), memory_bounds, strides[1],
                     False, True)  # fmt: skip


def _base_view(what: str, base: Any) -> TensorView:
    """The tensor a block pointer or descriptor starts at: a tensor argument, or a scalar
    pointer into one (``Q + head_offset``, as Triton's tutorials write), seen as the view
    of its elements from there on."""
    if isinstance(base, TensorView):
        return base
    if isinstance(base, pointer) and base.offsets.ndim == 0:
        return shifted_view(base.base, int(base.offsets))
    raise usage_error(f"{what} needs a tensor argument or a scalar pointer into one, got "
                      f"{base!r}")  # fmt: skip


# Views shifted by an element offset, by (id of the view, offset); each entry keeps its
# view, so an id stays its own (bounded: cleared when full).
_SHIFTED_MAX: Final = 4096
_SHIFTED: dict[tuple[int, int], tuple[TensorView, TensorView]] = {}


# Views retyped to another element dtype, by (id of the view, dtype), as _SHIFTED.
_RETYPED: dict[tuple[int, np.dtype], tuple[TensorView, TensorView]] = {}


def retyped_view(view: TensorView, dtype: np.dtype) -> TensorView:
    """``view``'s bytes as a 1-D view of ``dtype`` elements (the same one for the same
    view and dtype, so its physical layout is translated once per launch)."""
    key = (id(view), dtype)
    entry = _RETYPED.get(key)
    if entry is not None and entry[0] is view:
        return entry[1]
    old, new = view.element_dtype.itemsize, dtype.itemsize
    total = view.numel * old
    starts = view.segments[0] if view.segments is not None else (0,)
    if total % new:
        raise usage_error(f"pointer cast of {view.name} ({view.numel} x {view.element_dtype}) "
                          f"to {dtype}: {total} bytes are not whole {dtype} elements")  # fmt: skip
    if any(start * old % new for start in starts):
        raise usage_error(f"pointer cast of {view.name} to {dtype}: its shards (one per PE) "
                          f"start inside {dtype} elements, which would span two memories; "
                          "place the tensor so each shard holds whole ones (e.g. "
                          "Placement.single(0))")  # fmt: skip
    segments = None
    if view.segments is not None:
        segments = (tuple(start * old // new for start in starts), view.segments[1])
    retyped = TensorView(view.va, (total // new,), dtype, view.name, view.global_offset,
                         segments)  # fmt: skip
    if len(_RETYPED) >= _SHIFTED_MAX:
        _RETYPED.clear()
    _RETYPED[key] = (view, retyped)
    return retyped


def shifted_view(view: TensorView, first: IntLike) -> TensorView:
    """``view``'s elements from element ``first`` on, as the 1 x n view a block pointer
    works on (the same one for the same view and offset, so its physical layout is
    translated once per launch)."""
    key = (id(view), first)
    entry = _SHIFTED.get(key)
    if entry is not None and entry[0] is view:
        return entry[1]
    numel = view.numel
    if not 0 <= first < numel:
        raise usage_error(f"pointer to element {first} is outside {view.name} ({numel} "
                          f"elements)")  # fmt: skip
    isz = view.element_dtype.itemsize
    segments = None
    if view.segments is not None:
        starts, vas = view.segments
        first_segment = bisect_right(starts, first) - 1
        later = range(first_segment + 1, len(starts))
        segments = ((0, *(starts[i] - first for i in later)),
                    (vas[first_segment] + (first - starts[first_segment]) * isz,
                     *(vas[i] for i in later)))  # fmt: skip
    shifted = TensorView(view.va + first * isz, (1, numel - first), view.element_dtype, view.name,
                         view.global_offset, segments)  # fmt: skip
    if len(_SHIFTED) >= _SHIFTED_MAX:
        _SHIFTED.clear()
    _SHIFTED[key] = (view, shifted)
    return shifted


def advance(ptr: block_ptr | block_ptr_nd, offsets: Sequence[IntLike]) -> block_ptr | block_ptr_nd:
    """The same block pointer moved by ``offsets`` elements."""
    if isinstance(ptr, block_ptr_nd):
        moved = tuple(int(_unwrapped(o)) for o in offsets)
        if len(moved) != len(ptr.shape):
            raise usage_error(f"tl.advance: {len(moved)} offsets for a block pointer of "
                              f"{len(ptr.shape)} dims")  # fmt: skip
        return ptr._replace(offsets=tuple(a + b for a, b in zip(ptr.offsets, moved, strict=True)))
    if not isinstance(ptr, block_ptr):
        raise usage_error(f"tl.advance needs a block pointer, got {type(ptr).__name__}")
    offsets = tuple(int(o) for o in offsets)
    if len(offsets) != len(ptr.block_shape) - ptr.one_d:
        raise usage_error(f"tl.advance: {len(offsets)} offsets for a block pointer of "
                          f"{len(ptr.block_shape) - ptr.one_d} dims")  # fmt: skip
    if ptr.one_d:
        offsets = (0, *offsets)
    if ptr.transposed:  # the block's dims are the memory's swapped
        offsets = offsets[::-1]
    return block_ptr(
        ptr.base,
        (ptr.offsets[0] + offsets[0], ptr.offsets[1] + offsets[1]),
        ptr.block_shape,
        ptr.shape,
        ptr.row_stride,
        ptr.one_d,
        ptr.transposed,
    )


# -- tensors (tiles in TCM) --------------------------------------------------------------
@mypyc_attr(allow_interpreted_subclasses=True)  # comm's inbox blocks
class tensor(Block):  # noqa: N801 - Triton's name for a kernel value
    """A tile in TCM, the future result of an op. Arithmetic issues MATH ops.

    ``const`` holds the values of an index value (known at issue time: ``tl.arange``
    and arithmetic on index values and ints), None otherwise. ``base`` keeps
    the tile a free view (``x[:, None]``) was made from, so its TCM stays held.
    """

    __slots__ = ("const", "base")

    def __init__(self, pe, shape, dtype, nbytes) -> None:
        # Block.__init__ inlined (one tensor per tl op): the same fields, then ours.
        self.shape = shape
        self.valid = shape
        self.dtype = dtype
        self.nbytes = nbytes
        self.pe = pe
        self.ready = False
        self.data = None
        self.waiters = []
        self.const: np.ndarray | None = None
        self.base: tensor | None = None

    def __hash__(self) -> int:  # by identity (``==`` compares elementwise)
        return object.__hash__(self)

    @property
    def numel(self) -> constexpr:
        """The number of elements, a ``tl.constexpr`` (``x.numel >> 1``), as Triton's."""
        return constexpr(math.prod(self.shape))

    def __add__(self, other: Any) -> tensor:
        # Two bools add in one bit (an exclusive or); the dtype test first: hot path.
        one_bit = self.dtype is _BOOL and _is_bool(other)
        return _binary("add", self, other, np.logical_xor if one_bit else np.add)

    def __radd__(self, other: Any) -> tensor:
        one_bit = self.dtype is _BOOL and _is_bool(other)
        return _binary("add", other, self, np.logical_xor if one_bit else np.add)

    def __sub__(self, other: Any) -> tensor:
        one_bit = self.dtype is _BOOL and _is_bool(other)
        return _binary("sub", self, other, np.logical_xor if one_bit else np.subtract)

    def __rsub__(self, other: Any) -> tensor:
        one_bit = self.dtype is _BOOL and _is_bool(other)
        return _binary("sub", other, self, np.logical_xor if one_bit else np.subtract)

    def __mul__(self, other: Any) -> tensor:
        return _binary("mul", self, other, np.multiply)

    def __rmul__(self, other: Any) -> tensor:
        return _binary("mul", other, self, np.multiply)

    def __truediv__(self, other: Any) -> tensor:
        return _true_divide(self, other)

    def __rtruediv__(self, other: Any) -> tensor:
        return _true_divide(other, self)

    def __floordiv__(self, other: Any) -> tensor:
        _check_integer_floordiv(self, other)
        return _binary("div", self, other, _floordiv)

    def __rfloordiv__(self, other: Any) -> tensor:
        _check_integer_floordiv(other, self)
        return _binary("div", other, self, _floordiv)

    def __mod__(self, other: Any) -> tensor:
        return _binary("div", self, other, _mod)

    def __rmod__(self, other: Any) -> tensor:
        return _binary("div", other, self, _mod)

    def __neg__(self) -> tensor:
        if self.dtype == _BOOL:  # 0 - x in one bit: x
            return _unary("neg", self, lambda a: a)
        return _unary("neg", self, np.negative)

    def __invert__(self) -> tensor:
        if self.dtype.kind not in "iub":
            raise usage_error(f"~ takes integer or bool tiles, got {self.dtype} (as in Triton)")
        return _unary("logic", self, np.invert)

    def __lt__(self, other: Any) -> tensor:
        return _binary("cmp", self, other, np.less, strong=True)

    def __le__(self, other: Any) -> tensor:
        return _binary("cmp", self, other, np.less_equal, strong=True)

    def __gt__(self, other: Any) -> tensor:
        return _binary("cmp", self, other, np.greater, strong=True)

    def __ge__(self, other: Any) -> tensor:
        return _binary("cmp", self, other, np.greater_equal, strong=True)

    def __eq__(self, other: Any) -> tensor:  # type: ignore[override]
        return _binary("cmp", self, other, np.equal, strong=True)

    def __ne__(self, other: Any) -> tensor:  # type: ignore[override]
        return _binary("cmp", self, other, np.not_equal, strong=True)

    def __and__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.bitwise_and)

    def __rand__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.bitwise_and)

    def __or__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.bitwise_or)

    def __ror__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.bitwise_or)

    def __xor__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.bitwise_xor)

    def __rxor__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.bitwise_xor)

    def __lshift__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.left_shift)

    def __rshift__(self, other: Any) -> tensor:
        return _binary("logic", self, other, np.right_shift)

    def __rlshift__(self, other: Any) -> tensor:
        return _binary("logic", other, self, np.left_shift)

    def __rrshift__(self, other: Any) -> tensor:
        return _binary("logic", other, self, np.right_shift)

    def __bool__(self) -> bool:
        """The truth of a 0-d value, for ``if`` and ``while``: an index value's at once,
        one computed from loaded data once it is ready (data mode only; the program
        stalls until then, see :func:`_known_values`). A tile of many values has none."""
        if self.const is not None and self.const.ndim == 0:
            return bool(self.const)
        if self.shape != ():
            raise usage_error(f"a tile of shape {self.shape} has no truth value inside a "
                              "kernel (only a scalar has one); use tl.where or a mask")  # fmt: skip
        return bool(_known_values(self, "a branch on this value"))

    def __index__(self) -> int:
        """A 0-d integer as a Python int (``range(tl.minimum(a, b))``,
        ``range(tl.load(n_ptr))``): an index value's at once, one loaded in data mode
        once it is ready."""
        if self.dtype.kind not in "iub" or self.shape != ():
            raise usage_error(f"a tile of shape {self.shape} and dtype {self.dtype} is not a "
                              "scalar integer")  # fmt: skip
        if self.const is not None:
            return int(self.const)
        return int(_known_values(self, "this integer"))

    def __getitem__(self, key: Any) -> tensor:
        """``x[:, None]``, ``x[None, :]``: a free view with a new axis of size 1."""
        key = _check_view_key(key, self.shape)
        shape = np.empty(self.shape, dtype=np.bool_)[key].shape
        return _view(self, tuple(shape), lambda a: a[key])

    def to(self, dtype: np.dtype | str | pointer_type, fp_downcast_rounding: str | None = None,
           bitcast: BoolLike = False) -> tensor | pointer:  # fmt: skip
        """Cast on the MATH engine (``cycles_per_op['cast']``); with ``bitcast`` the same
        bits read as ``dtype`` of the same size (a free view). A float narrowed to a
        smaller float rounds to nearest even, or toward zero with
        ``fp_downcast_rounding="rtz"`` (Triton's only other mode; either is an error for
        any other cast, as in Triton). To a :class:`pointer_type`: a scalar address loaded
        from memory becomes a pointer (:func:`_loaded_pointer`)."""
        if isinstance(dtype, pointer_type):
            return _loaded_pointer(self, dtype)
        dtype = _dtype(dtype)
        if fp_downcast_rounding not in (None, "rtne", "rtz"):
            raise usage_error(f"tensor.to: fp_downcast_rounding={fp_downcast_rounding!r} is "
                              "not rtne or rtz")  # fmt: skip
        if fp_downcast_rounding is not None and not (
            _is_float(self.dtype) and _is_float(dtype) and dtype.itemsize < self.dtype.itemsize
        ):
            raise usage_error(
                f"tensor.to: fp_downcast_rounding applies only to a float narrowed to a "
                f"smaller float, not {self.dtype} to {dtype} (as in Triton)"
            )
        if fp_downcast_rounding == "rtz":
            return _math_op("cast", (self,), self.shape, dtype,
                            lambda a: _round_toward_zero(a, dtype))  # fmt: skip
        if bitcast:
            # Widths in bits, as Triton's bitcast compares them: a bool is 1 bit.
            if (dtype.itemsize * 8 if dtype != _BOOL else 1) != (
                self.dtype.itemsize * 8 if self.dtype != _BOOL else 1
            ):
                raise usage_error(f"tensor.to(bitcast=True): {self.dtype} and {dtype} differ "
                                  "in size")  # fmt: skip
            out = _view(self, self.shape, lambda a: a.view(dtype))
            out.dtype = dtype
            return out
        if dtype in _FLOAT8 and self.dtype.kind in "iub":
            raise usage_error(f"tensor.to: cannot cast {self.dtype} to {dtype}; cast through "
                              "float16 or float32, as Triton requires")  # fmt: skip
        if (
            self.dtype != dtype
            and _is_float(self.dtype)
            and (dtype in _FLOAT8 or dtype.kind in "iu" or self.dtype == float64)
        ):  # float8 and integers saturate, float64 rounds once (see lowering.converted)
            return _math_op("cast", (self,), self.shape, dtype,
                            lambda a: lowering.converted(a, dtype))  # fmt: skip
        return _math_op("cast", (self,), self.shape, dtype, lambda a: a.astype(dtype))

    @property
    def T(self) -> tensor:  # noqa: N802 - numpy's name
        return trans(self)

    def __repr__(self) -> str:
        state = "ready" if self.ready else "pending"
        return f"tensor(shape={self.shape}, dtype={self.dtype}, {state})"


def _round_toward_zero(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` (floats) rounded to the float ``dtype`` toward zero: the nearest value,
    one step nearer zero where that is farther from zero than the value; a finite value
    past the range gives the largest finite one, NaN and infinities stay."""
    values = np.asarray(values)
    exact = values.astype(np.float64)
    nearest = values.astype(dtype)
    stepped = np.nextafter(nearest, np.zeros_like(nearest))
    rounded = np.where(np.abs(nearest.astype(np.float64)) > np.abs(exact), stepped, nearest)
    largest = float(ml_dtypes.finfo(dtype).max)
    past_range = np.isfinite(exact) & (np.abs(exact) > largest)
    return np.where(past_range, np.copysign(largest, exact).astype(dtype), rounded)


def _loaded_pointer(address: tensor, type_: pointer_type) -> pointer:
    """``address.to(tl.pointer_type(T))``: the scalar int64 ``address`` (a host tensor's
    ``data_ptr()``, plus a byte offset, loaded from memory) as a pointer to that element
    of the tensor it falls in. In data mode the program waits for the value (see
    :func:`_known_values`); the tensor must have handed out its address and hold ``T``.
    """
    what = f"tensor.to({type_!r})"
    if address.shape != () or address.dtype.kind not in "iu" or address.dtype.itemsize != 8:
        raise usage_error(f"{what}: only a scalar int64 address becomes a pointer, got a "
                          f"tile of shape {address.shape} and dtype {address.dtype}")  # fmt: skip
    program = _program()
    values = address.const if address.const is not None else _known_values(address, what)
    va = int(values)
    found = program.machine.addressable_at(va)
    if found is None:
        raise usage_error(f"{what}: address {va:#x} is in no tensor whose data_ptr() the "
                          "host took; store tensor.data_ptr() values for the kernel to "
                          "load")  # fmt: skip
    base_va, target = found
    view = target.grid_view_for(program.pe.coord)
    if view.element_dtype != type_.element_ty:
        raise usage_error(f"{what}: address {va:#x} is in tensor {view.name!r} of "
                          f"{view.element_dtype}, not {type_.element_ty}")  # fmt: skip
    element, misaligned = divmod(va - base_va, view.element_dtype.itemsize)
    if misaligned:
        raise usage_error(f"{what}: address {va:#x} is {misaligned} bytes into an element of "
                          f"tensor {view.name!r}")  # fmt: skip
    return pointer(view, np.int64(element))


def _truediv(a, b):
    """``a / b`` of floats already in their computation dtype (a float32 quotient
    computed in float64 rounds to the same float32)."""
    return np.true_divide(a, b)


def _truediv_float32(a, b):
    """``a / b`` of two integers as Triton computes it: each cast to float32, then a
    float32 division."""
    return np.true_divide(np.asarray(a, np.float32), np.asarray(b, np.float32))


def _true_divide(a: Any, b: Any) -> tensor:
    """``a / b``: of two integers (tiles or numbers) a float32 quotient, as Triton's
    ``truediv`` casts both to float32 first (charged as the one division); else the
    division in the promoted dtype."""
    a, b = _unwrapped(a), _unwrapped(b)
    if not (_is_integer(a) and _is_integer(b)):
        return _binary("div", a, b, _truediv)
    _computation_dtype("div", a, b)  # Triton's checks: signedness, numbers in range
    if isinstance(a, tensor) and isinstance(b, tensor):
        try:
            shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        except ValueError:
            raise usage_error(f"tl.div: shapes {a.shape} and {b.shape} do not broadcast") from None
        return _math_op("div", (a, b), shape, float32, _truediv_float32)
    if isinstance(a, tensor):
        divisor = int(b)
        return _math_op("div", (a,), a.shape, float32, lambda x: _truediv_float32(x, divisor))
    dividend = int(a)
    return _math_op("div", (b,), b.shape, float32, lambda x: _truediv_float32(dividend, x))


def _is_integer(x: Any) -> bool:
    """An integer (or bool) tile or number."""
    if isinstance(x, tensor):
        return x.dtype.kind in "iub"
    return isinstance(x, (int, np.integer, np.bool_))


def _check_integer_floordiv(a: Any, b: Any) -> None:
    """``//`` takes integers only, as Triton's ``floordiv`` (a float raises there)."""
    for value in (a, b):
        dtype = value.dtype if isinstance(value, tensor) else None
        if isinstance(value, float) or (dtype is not None and _is_float(dtype)):
            what = dtype if dtype is not None else "a float"
            raise usage_error(f"//: {what} operand; // takes integers (as Triton's floordiv), "
                              "for floats write tl.floor(x / y)")  # fmt: skip


def _floordiv(a, b):
    """``a // b`` as Triton computes it: integer division truncates toward zero (C's, not
    Python's floor: -7 // 3 is -2)."""
    quotient = np.floor_divide(a, b)
    if np.result_type(a, b).kind in "iu":
        inexact = np.mod(a, b) != 0
        negative = (np.asarray(a) < 0) != (np.asarray(b) < 0)
        quotient = np.where(inexact & negative, quotient + 1, quotient)
    return quotient


def _mod(a, b):
    """``a % b`` as Triton computes it: the remainder takes the sign of ``a`` (C's fmod,
    not Python's: -7 % 3 is -1), for integers and floats alike."""
    return np.fmod(a, b)


def _check_view_key(key: Any, shape: tuple[int, ...]) -> tuple:
    """Only ``None`` (new axis) and ``:`` (whole axis) are valid tile indices."""
    key = key if isinstance(key, tuple) else (key,)
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if isinstance(k, slice) and k == slice(None):
            continue
        raise usage_error(
            f"tile index {k!r}: tiles take only None (new axis) and ':' (whole axis) as "
            f"indices, shape {shape}; slicing or element indexing is not supported"
        )
    extra = builtins.sum(1 for k in key if k is not None and k is not Ellipsis) - len(shape)
    if extra > 0 and Ellipsis not in key:
        # Triton walks the index: None adds an axis where it stands, ':' does nothing, and
        # ':' past the tile's axes is allowed (xformers writes x[:, :, None, :] of a 2-D
        # tile): drop the last of them, which numpy would refuse.
        key = list(key)
        for i in range(len(key) - 1, -1, -1):
            if extra and key[i] is not None:
                del key[i]
                extra -= 1
        key = tuple(key)
    elif extra > 0:
        raise usage_error(f"tile index {key!r} has more axes than the shape {shape}")
    return key


def _dtype(dtype: Any) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise usage_error(f"unknown dtype {dtype!r}") from None


def _is_float(dtype: np.dtype) -> bool:
    """A floating-point dtype, the narrow ones included (numpy's kind for bfloat16 and
    float8e4nv is "V")."""
    return dtype.kind == "f" or dtype in _NARROW_FLOATS


def _evaluate(fn: Callable[..., Any], values: Sequence[Any], dtype: np.dtype,
              shape: tuple[int, ...]) -> np.ndarray:  # fmt: skip
    """``fn`` of tile values as an array of ``dtype`` and ``shape``.

    Narrow floats (bfloat16, float8) enter as float32, which holds each of their values
    exactly, so the op computes in float32 and rounds once to ``dtype``: numpy cannot
    mix them with float16 or integers, and ml_dtypes' own sum rounds every partial sum.
    For an add, multiply, divide or square root that is the correctly rounded result a
    bfloat16 unit gives too; a reduction accumulates in float32, as numpy's does for
    float16.
    """
    for v in values:
        if v.dtype in _NARROW_FLOATS:
            values = [w.astype(np.float32) if w.dtype in _NARROW_FLOATS else w for w in values]
            break
    with np.errstate(all="ignore"):
        return np.asarray(fn(*values), dtype=dtype).reshape(shape)


def _new_block(program: Program, shape: tuple[int, ...], dtype: np.dtype) -> tensor:
    nbytes = math.prod(shape) * dtype.itemsize
    pe = program.pe
    if pe.tcm_used_bytes + nbytes <= pe.tcm_capacity_bytes:
        pe.tcm_used_bytes += nbytes  # PE.reserve_tcm when the block fits (hot path)
    else:
        pe.reserve_tcm(nbytes, program)
    return tensor(pe, shape, dtype, nbytes)


def _const(program: Program, value: np.ndarray, tcm: bool = False) -> tensor:
    """A tile whose values are known now (ready at once).

    ``tcm=False``: an index value, held in the address unit's registers; arithmetic on
    index values only is folded. ``tcm=True``: a filled data tile (``tl.zeros``,
    ``tl.full``) taking TCM; arithmetic on it runs on MATH like on any data tile.
    """
    value = np.asarray(value)
    if tcm:
        out = _new_block(program, value.shape, value.dtype)
    else:
        out = tensor(program.pe, value.shape, value.dtype, 0)
        out.const = value
    if program.machine.data is not None:
        out.data = value
    out.ready = True
    return out


def scalar_tile(value: np.ndarray) -> tensor:
    """A scalar as a 0-d index value (``pid.to(tl.float32)``): it folds like one."""
    return _const(_program(), np.asarray(value).reshape(()))


scalar.as_tile = scalar_tile


def _check_block(name: str, value: Any) -> tensor:
    """``value`` as a tile: a tile, or a number as a 0-d index value (Triton's scalars)."""
    if isinstance(value, tensor):
        return value
    if isinstance(value, _NUMBER):
        return number_tile(value)
    raise usage_error(f"tl.{name} expects a tensor, got {type(value).__name__}")


def number_tile(value: Any) -> tensor:
    """A number as the 0-d index value Triton makes of it: an int scalar in its dtype, a
    Python int as int32 (int64 past int32's range), a float as float32, a bool as a
    boolean."""
    if isinstance(value, IntScalar):
        dtype = value.dtype
    elif isinstance(value, (bool, np.bool_)):
        dtype = np.dtype(np.bool_)
    elif isinstance(value, (int, np.integer)):
        dtype = np.dtype(np.int32) if -(2**31) <= value < 2**31 else np.dtype(np.int64)
    elif isinstance(value, float):
        dtype = float32
    else:
        dtype = np.asarray(value).dtype
    return scalar_tile(np.asarray(int(value) if dtype.kind in "iu" else value, dtype))


class _ViewReady:
    """Makes a free view ready when the tile it views is: an item of that tile's
    ``waiters``, with the two attributes ``Block.set_ready`` uses on ops."""

    __slots__ = ("pending_inputs", "engine", "view", "source", "fn")

    def __init__(self, view: tensor, source: tensor, fn: Callable) -> None:
        self.pending_inputs = 1
        self.engine = self
        self.view, self.source, self.fn = view, source, fn

    def try_start(self, cause: str = "input", by: Any = None) -> None:
        if self.source.data is not None:
            self.view.data = self.fn(self.source.data)
        self.view.set_ready(cause, by)  # ops waiting on the view waited on its source's op
        self.view = self.source = self.fn = None  # type: ignore[assignment]


def _view(x: tensor, shape: tuple[int, ...], fn: Callable[[np.ndarray], np.ndarray]) -> tensor:
    """A free view of ``x`` with ``shape`` (no engine time, no new TCM)."""
    program = _program()
    if x.const is not None:
        return _const(program, np.ascontiguousarray(fn(x.const)))
    out = tensor(program.pe, shape, x.dtype, 0)
    out.base = x
    if len(shape) == len(x.valid):
        out.valid = x.valid
    if x.ready:
        if x.data is not None:
            out.data = fn(x.data)
        out.ready = True
    else:
        x.waiters.append(_ViewReady(out, x, fn))
    return out


# -- program identity ------------------------------------------------------------------
def program_id(axis: IntLike) -> IntScalar:
    """This program's index on ``axis`` (0, 1, 2), an int32 scalar as in Triton (widen it
    with ``.to(tl.int64)``). With a grid, its position in the grid as in Triton; without
    one, 0 = PE within its cube, 1 = cube, 2 = SIP (positions among the launch's target
    PEs)."""
    if axis not in (0, 1, 2):
        raise usage_error(f"program_id axis must be 0, 1 or 2, got {axis}")
    return IntScalar(_program().program_id[axis], int32)


def num_programs(axis: IntLike) -> IntScalar:
    """Number of programs along ``axis`` (see :func:`program_id`), an int32 scalar."""
    if axis not in (0, 1, 2):
        raise usage_error(f"num_programs axis must be 0, 1 or 2, got {axis}")
    return IntScalar(_program().num_programs[axis], int32)


# -- memory ----------------------------------------------------------------------------
def _tile_region(ptr: block_ptr, boundary_check: Sequence[IntLike]) -> tuple[int, int, int, int]:
    """(first row, rows, first col, cols) of the tile clipped to the tensor's bounds."""
    rows_total, cols_total = ptr.shape if ptr.shape is not None else ptr.base.shape
    r0, c0 = ptr.offsets
    br, bc = ptr.block_shape
    # max(0, min(block, total - offset)) per axis, without builtin calls (one per tile)
    nr = rows_total - r0
    nr = br if nr > br else (nr if nr > 0 else 0)
    nc = cols_total - c0
    nc = bc if nc > bc else (nc if nc > 0 else 0)
    # A clipped tile checked along both dims (the common case) needs no closer look.
    if r0 < 0 or c0 < 0 or ((nr < br or nc < bc) and boundary_check not in _BOTH_DIMS):
        _check_edges(ptr, boundary_check, nr < br or r0 < 0, nc < bc or c0 < 0)
        if r0 < 0:  # the rows before the tensor's first are padding too
            nr, r0 = builtins.max(0, builtins.min(br + r0, rows_total)), 0
        if c0 < 0:
            nc, c0 = builtins.max(0, builtins.min(bc + c0, cols_total)), 0
    return r0, nr, c0, nc


def _tile_skip(ptr: block_ptr) -> tuple[int, int]:
    """Where a clipped tile's first element in memory sits in the tile: (rows, cols)
    before the tensor's start, for a block at negative offsets (else (0, 0))."""
    r0, c0 = ptr.offsets
    return (-r0 if r0 < 0 else 0), (-c0 if c0 < 0 else 0)


_BOTH_DIMS: Final = ((0, 1), (1, 0))


def _check_edges(ptr: block_ptr, boundary_check: Sequence[IntLike], rows_clipped: bool,
                 cols_clipped: bool) -> None:  # fmt: skip
    """A tile reaching past the tensor's start or end clips along the dimensions
    ``boundary_check`` lists, as in Triton (whose check is ``0 <= index < shape``); along
    any other Triton would access memory out of bounds, so it is an error naming the
    dimension."""
    # The kernel's dim of the memory's rows and of its columns.
    rows_dim = 1 if ptr.transposed and not ptr.one_d else 0
    cols_dim = 0 if ptr.one_d or ptr.transposed else 1
    checked = {int(dim) for dim in boundary_check}
    for dim, clipped, axis in sorted(((rows_dim, rows_clipped, 0), (cols_dim, cols_clipped, 1))):
        if clipped and dim not in checked:
            side = "before the start of" if ptr.offsets[axis] < 0 else "past"
            where, block = _as_written(ptr, ptr.offsets), _as_written(ptr, ptr.block_shape)
            raise usage_error(
                f"block at offsets {where} with block_shape {block} reaches {side} dim {dim} of "
                f"{ptr.base.name} (shape {_as_written(ptr, ptr.bounds)}), and boundary_check="
                f"{tuple(boundary_check)} does not list {dim}: Triton would access memory "
                f"out of bounds; add {dim} to boundary_check"
            )


def _as_written(ptr: block_ptr, pair: tuple[int, ...]) -> tuple[int, ...]:
    """A pair of ``ptr``'s memory dims (rows, columns) in the kernel's dims."""
    if ptr.one_d:
        return (pair[0],) if ptr.transposed else (pair[1],)
    return pair[::-1] if ptr.transposed else tuple(pair)


def _as_ptr(target: Any, what: str) -> block_ptr:
    if isinstance(target, block_ptr):
        return target
    if isinstance(target, TensorView):
        shape = target.shape if len(target.shape) == 2 else (1, target.shape[0])
        return typing.cast(block_ptr, make_block_ptr(target, offsets=(0, 0), block_shape=shape))
    raise usage_error(
        f"tl.{what} expects a tensor argument, a block pointer or a block of pointers, "
        f"got {type(target).__name__}"
    )


def _padding(padding_option: str | None, dtype: np.dtype) -> float:
    if padding_option in ("", "zero", None):
        return 0
    if padding_option == "nan":
        if not _is_float(dtype):
            raise usage_error(f"padding_option='nan' needs a float tensor, not {dtype}")
        return np.nan
    raise usage_error(f"padding_option must be 'zero' or 'nan', got {padding_option!r}")


def load(
    pointer: Any,
    mask: Any = None,
    other: Any = None,
    boundary_check: Sequence[IntLike] = (),
    padding_option: str | None = "",
    cache_modifier: str = "",
    eviction_policy: str = "",
    volatile: BoolLike = False,
) -> tensor:
    """Load a tile (DMA_IN) from memory into TCM.

    1. A block of pointers (``x_ptr + offsets``) loads one element per pointer; where
       ``mask`` is False the element is ``other`` (0 by default) and moves no bytes.
       Each contiguous run of addresses is one DMA (see :mod:`~.lowering`).
    2. A block pointer loads its ``block_shape`` tile; past the tensor's edge along the
       dims ``boundary_check`` lists, elements read as ``padding_option`` (zero, or nan)
       and move no bytes; past it along a dim not listed is an error (Triton would read
       out of bounds).
    3. A tensor argument is a pointer to its element 0 in a grid launch, as in Triton
       (``tl.load(n_ptr)`` loads one scalar); in a launch without a grid, the tensor's
       shard on the PE, which it loads whole (a 1-D tensor becomes a 1-D tile).

    Within a program, memory follows program order: a load waits for this program's
    earlier stores to the same bytes; other PEs' writes need a synchronisation (the
    kernel's end, a collective, ``tl.fence``). Cache hints are accepted and ignored.

    Cost: DMA overhead + memory latency + route latency + bytes at the fair-share
    bandwidth. Raises KernelUsageError for an element or tile outside the tensor (naming
    kernel and line), PageFault for an unmapped address.
    """
    program = _program()
    if type(pointer) is block_ptr and mask is None and other is None:
        ptr = pointer  # the common case first: no conversions
        is_1d = ptr.one_d
    else:
        if isinstance(pointer, TensorView) and (
            mask is not None or other is not None or program.launch.grid is not None
        ):
            pointer = pointer + 0  # a scalar pointer to element 0
        if isinstance(pointer, _Pointer):
            return _load_pointers(program, pointer, mask, other)
        if mask is not None or other is not None:
            raise usage_error("tl.load: mask/other apply to blocks of pointers, not block pointers")
        if isinstance(pointer, block_ptr_nd):
            if any(size != 1 for size in pointer.block_shape[:-2]):
                return load_matrices(program, pointer, boundary_check, padding_option)
            block = matrix_block("tl.load", pointer.base, pointer.shape, pointer.strides,
                                 pointer.offsets, pointer.block_shape, boundary_check)  # fmt: skip
            tile = load(block, boundary_check=(0, 1), padding_option=padding_option)
            return reshape(tile, pointer.block_shape)
        ptr = _as_ptr(pointer, "load")
        is_1d = ptr.one_d or (isinstance(pointer, TensorView) and len(pointer.shape) == 1)
    view = ptr.base
    region = _tile_region(ptr, boundary_check)
    fill = _padding(padding_option, view.element_dtype) if padding_option else 0
    shape = (ptr.block_shape[1],) if is_1d else ptr.block_shape
    transposed = ptr.transposed
    if transposed:  # the tile is the memory's transpose (a 1-D one: its column)
        shape = (ptr.block_shape[0],) if is_1d else shape[::-1]
    out = _new_block(program, shape, view.element_dtype)
    out.valid = (region[3],) if is_1d else (region[1], region[3])
    if transposed:
        out.valid = (region[1],) if is_1d else out.valid[::-1]
    stride = ptr.row_stride if ptr.row_stride is not None else view.shape[1]
    empty = region[1] == 0 or region[3] == 0
    execute = None
    if program.machine.data is not None:
        execute = partial(_load_tile_data, program, ptr, stride, region, fill, out)
    if empty:  # the whole tile is padding: no DMA
        op = Op("load", program, "DMA_IN", (), out, execute=execute)
        program.pe.issue(op)
        return out
    pieces, tile_bytes, span = lowering.tile_pieces(program, view, stride, region, True, "load")
    access = lowering.Access(span[0], span[1], (view.va, stride), (region[0], region[0] +
                             region[1]), (region[2], region[2] + region[3]))  # fmt: skip
    inputs = lowering.ordered_after(program, access, False) if program.stores_in_flight else ()
    op = Op("load", program, "DMA_IN", inputs, out, pieces=pieces, execute=execute,
            nbytes=tile_bytes)  # fmt: skip
    lowering.track(program, op, access, is_store=False)
    program.pe.issue(op)
    return out


# Data mode's work of ops, run when they finish: module functions bound with ``partial``
# (a compiled nested function would keep its tiles alive in a reference cycle, holding
# their TCM until the garbage collector runs).
def _load_tile_data(program: Program, ptr: block_ptr, stride: int,
                    region: tuple[int, int, int, int], fill: float,
                    out: tensor) -> None:  # fmt: skip
    """``out``'s values: the tile of ``ptr`` (``region`` of it inside the tensor, the rest
    ``fill``), transposed for a transposed block pointer."""
    tile = np.full(ptr.block_shape, fill, dtype=ptr.base.element_dtype)
    if region[1] and region[3]:
        skip_r, skip_c = _tile_skip(ptr)
        inside = lowering.read_tile(program, ptr.base, stride, region)
        tile[skip_r : skip_r + region[1], skip_c : skip_c + region[3]] = inside
    out.data = (np.ascontiguousarray(tile.T).reshape(out.shape) if ptr.transposed
                else tile.reshape(out.shape))  # fmt: skip


def _mask_values(mask: Any, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    if mask is None:
        return None
    if isinstance(mask, (bool, np.bool_)):
        return np.full(shape, bool(mask))
    if not isinstance(mask, tensor):
        raise usage_error(
            f"tl.{what}: mask must be a tensor of booleans, got {type(mask).__name__}"
        )
    values = mask.const
    if values is None:  # computed from loaded data
        values = _known_values(mask, f"tl.{what}: the mask")
    try:
        return np.broadcast_to(values.astype(np.bool_), shape)
    except ValueError:
        raise usage_error(
            f"tl.{what}: mask of shape {mask.shape} does not broadcast to the pointers' "
            f"shape {shape}"
        ) from None


def _checked_offsets(ptr: pointer, mask: np.ndarray | None, what: str) -> np.ndarray:
    """Flat element offsets the mask lets through, checked against the tensor's size."""
    flat = ptr.offsets.reshape(-1)
    if mask is not None:
        flat = flat[mask.reshape(-1)]
    numel = ptr.base.numel
    bad = flat[(flat < 0) | (flat >= numel)]
    if bad.size:
        first = int(bad[0])
        va = ptr.base.va + first * ptr.base.element_dtype.itemsize
        raise usage_error(
            f"tl.{what}: element offset {first} (VA {va:#x}) is outside {ptr.base.name} "
            f"({numel} elements, shape {ptr.base.shape}); mask it off"
        )
    return flat


def _span_access(view: TensorView, flat: np.ndarray) -> lowering.Access:
    isz = view.element_dtype.itemsize
    lo = view.va + int(flat.min()) * isz
    hi = view.va + (int(flat.max()) + 1) * isz
    return lowering.Access(lo, hi, None)


def _load_pointers(program: Program, ptr: pointer, mask: Any, other: Any) -> tensor:
    view = ptr.base
    shape = ptr.shape
    keep = _mask_values(mask, shape, "load")
    flat = _checked_offsets(ptr, keep, "load")
    runs = lowering.runs_of(flat)
    nbytes = int(flat.size) * view.element_dtype.itemsize
    fill = _other_values(other, shape, view.element_dtype)
    out = _new_block(program, shape, view.element_dtype)
    execute = None
    if program.machine.data is not None:
        execute = partial(_load_pointers_data, program, view, runs, keep, fill, out)
    if not runs:  # everything masked off: no DMA
        waits = (other,) if isinstance(other, tensor) else ()
        op = Op("load", program, "DMA_IN", waits, out, execute=execute)
        program.issue(op)
        return out
    pieces = lowering.gather_pieces(program, view, runs, True, "load")
    access = _span_access(view, flat)
    inputs = lowering.ordered_after(program, access, is_store=False)
    if isinstance(other, tensor):
        inputs = (*inputs, other)
    op = Op("load", program, "DMA_IN", inputs, out, pieces=pieces, execute=execute,
            nbytes=nbytes)  # fmt: skip
    lowering.track(program, op, access, is_store=False)
    program.issue(op)
    return out


def _load_pointers_data(program: Program, view: TensorView, runs: list, keep: np.ndarray | None,
                        fill: Any, out: tensor) -> None:  # fmt: skip
    """``out``'s values: the elements of ``runs`` where ``keep`` (all when None) lets
    them through, ``fill`` (a tile or values) elsewhere."""
    values = np.concatenate(
        [lowering.read_run(program, view, first, n) for first, n in runs]
    ) if runs else np.empty(0, view.element_dtype)  # fmt: skip
    fills = fill.data if isinstance(fill, tensor) else fill
    with np.errstate(invalid="ignore", over="ignore"):
        result = np.array(np.broadcast_to(fills, out.shape)).astype(view.element_dtype)
    if keep is None:
        result = values.reshape(out.shape)
    else:
        result[keep] = values
    out.data = result


def _other_values(other: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    if other is None:
        return np.zeros((), dtype)
    if isinstance(other, tensor):
        if other.const is None:  # computed from data: read as the load executes (an input)
            try:
                np.broadcast_shapes(other.shape, shape)
            except ValueError:
                raise usage_error(
                    f"tl.load: other of shape {other.shape} does not broadcast to {shape}"
                ) from None
            return other
        value = other.const
    elif isinstance(other, (int, float, bool, np.number)):
        value = np.asarray(other)
    else:
        raise usage_error(f"tl.load: other= must be a number, got {type(other).__name__}")
    try:
        np.broadcast_to(value, shape)
    except ValueError:
        raise usage_error(
            f"tl.load: other of shape {np.shape(value)} does not broadcast to {shape}"
        ) from None
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(value).astype(dtype)


def store(pointer: Any, value: Any, mask: Any = None, boundary_check: Sequence[IntLike] = (),
          cache_modifier: str = "", eviction_policy: str = "") -> None:  # fmt: skip
    """Store a tile (DMA_WB) from TCM to memory, cast to the tensor's dtype.

    To a block of pointers: one element per pointer where ``mask`` lets it through (one
    DMA per contiguous run; masked-off elements move no bytes). To a block pointer: the
    part of the tile past the tensor's edge along the dims ``boundary_check`` lists is
    dropped (past it along another is an error, as for ``load``). To a tensor argument:
    its element 0 in a grid launch (Triton's scalar pointer), its whole shard otherwise.
    ``value`` broadcasts to the destination's shape (a number is allowed); a tile stored
    through a block pointer must already have its element dtype, as in Triton.
    """
    if isinstance(pointer, block_ptr_nd) and any(n != 1 for n in pointer.block_shape[:-2]):
        element = pointer.base.element_dtype
        if isinstance(value, tensor) and value.dtype != element:  # as Triton asserts it
            raise usage_error(
                f"tl.store: a {value.dtype} tile into a block pointer to {element} "
                f"({pointer.base.name}); cast it with .to() first, as Triton requires"
            )
        store_matrices(_program(), pointer, value, boundary_check)
        return
    if isinstance(pointer, block_ptr_nd):
        block = matrix_block("tl.store", pointer.base, pointer.shape, pointer.strides,
                             pointer.offsets, pointer.block_shape, boundary_check)  # fmt: skip
        if isinstance(value, tensor):
            value = reshape(broadcast_to(value, pointer.block_shape), pointer.block_shape[-2:])
        store(block, value, boundary_check=(0, 1))
        return
    if type(pointer) is block_ptr and isinstance(value, tensor):
        element = pointer.base.element_dtype
        if value.dtype != element:  # Triton asserts it (_store_block_pointer)
            raise usage_error(
                f"tl.store: a {value.dtype} tile into a block pointer to {element} "
                f"({pointer.base.name}); cast it with .to() first, as Triton requires"
            )
    _store(pointer, value, mask, boundary_check)


def _store(
    pointer: Any, value: Any, mask: Any = None, boundary_check: Sequence[IntLike] = ()
) -> None:
    """``tl.store`` without the block pointer's dtype check (a tensor descriptor's store
    casts, as Triton's ``descriptor_store`` does)."""
    program = _program()
    if type(pointer) is block_ptr and mask is None:
        ptr = pointer  # the common case first: no conversions
    else:
        if isinstance(pointer, TensorView) and (
            mask is not None or program.launch.grid is not None
        ):
            pointer = pointer + 0  # a scalar pointer to element 0
        if isinstance(pointer, _Pointer):
            _store_pointers(program, pointer, value, mask)
            return
        if mask is not None:
            raise usage_error("tl.store: mask applies to blocks of pointers, not block pointers")
        ptr = _as_ptr(pointer, "store")
    target = (ptr.block_shape[1],) if ptr.one_d or len(ptr.base.shape) == 1 else ptr.block_shape
    if isinstance(pointer, TensorView) and len(pointer.shape) == 1:
        target = (pointer.shape[0],)
    transposed = ptr.transposed
    if transposed:  # the tile is the memory's transpose (a 1-D one: its column)
        target = (ptr.block_shape[0],) if ptr.one_d else target[::-1]
    value = _stored_value(program, value, target)
    region = _tile_region(ptr, boundary_check)
    if region[1] == 0 or region[3] == 0:
        return  # the whole tile is past the edge: nothing to write
    stride = ptr.stride
    execute = None
    if program.machine.data is not None:
        execute = partial(_store_tile_data, program, ptr, stride, region, value, target)
    pieces, tile_bytes, span = lowering.tile_pieces(
        program, ptr.base, stride, region, False, "store"
    )
    access = _tile_access(ptr, span, region)
    inputs = (value, *lowering.ordered_after(program, access, is_store=True))
    op = Op("store", program, "DMA_WB", inputs, None, pieces=pieces, execute=execute,
            nbytes=tile_bytes)  # fmt: skip
    lowering.track(program, op, access, is_store=True)
    program.pe.issue(op)


def _store_tile_data(program: Program, ptr: block_ptr, stride: int,
                     region: tuple[int, int, int, int], value: tensor,
                     target: tuple[int, ...]) -> None:  # fmt: skip
    """Write ``value`` (broadcast to ``target``, the tile's shape in TCM) to the part of
    ``ptr``'s tile inside the tensor (``region``)."""
    data = np.broadcast_to(value.data, target)
    data = (data.T if ptr.transposed else data).reshape(ptr.block_shape)
    skip_r, skip_c = _tile_skip(ptr)
    lowering.write_tile(program, ptr.base, stride, region, data[skip_r:, skip_c:])


def _stored_value(program: Program, value: Any, target: tuple[int, ...]) -> tensor:
    """``value`` as a tensor that broadcasts to ``target`` (numbers become index values)."""
    if isinstance(value, (int, float, bool, np.number)):
        return _const(program, np.full(target, value))
    value = _check_block("store", value)
    if value.shape == target:
        return value  # the common case: a tile of the block's own shape
    if not broadcasts_to(value.shape, target):
        raise usage_error(f"tl.store: value shape {value.shape} != block shape {tuple(target)}")
    return value


def broadcasts_to(shape: tuple[int, ...], target: Sequence[IntLike]) -> bool:
    """Whether a tile of ``shape`` broadcasts to ``target`` (numpy's rules)."""
    try:
        return np.broadcast_shapes(shape, tuple(target)) == tuple(target)
    except ValueError:
        return False


def _store_pointers(program: Program, ptr: pointer, value: Any, mask: Any) -> None:
    view = ptr.base
    shape = ptr.shape
    value = _stored_value(program, value, shape)
    keep = _mask_values(mask, shape, "store")
    flat = _checked_offsets(ptr, keep, "store")
    runs = lowering.runs_of(flat)
    if not runs:
        return  # everything masked off: nothing moves
    nbytes = int(flat.size) * view.element_dtype.itemsize
    execute = None
    if program.machine.data is not None:
        execute = partial(_store_pointers_data, program, view, runs, keep, value, shape)
    pieces = lowering.gather_pieces(program, view, runs, False, "store")
    access = _span_access(view, flat)
    inputs = (value, *lowering.ordered_after(program, access, is_store=True))
    op = Op("store", program, "DMA_WB", inputs, None, pieces=pieces, execute=execute,
            nbytes=nbytes)  # fmt: skip
    lowering.track(program, op, access, is_store=True)
    program.issue(op)


def _store_pointers_data(program: Program, view: TensorView, runs: list,
                         keep: np.ndarray | None, value: tensor,
                         shape: tuple[int, ...]) -> None:  # fmt: skip
    """Write ``value`` (broadcast to ``shape``) where ``keep`` lets it through, run by
    run."""
    values = np.broadcast_to(value.data, shape)
    values = values.reshape(-1) if keep is None else values[keep]
    values = lowering.converted(values, view.element_dtype)
    done = 0
    for first, n in runs:
        lowering.write_run(program, view, first, values[done : done + n])
        done += n


def _matrix_tiles(what: str, pointer: block_ptr_nd, boundary_check: Sequence[IntLike]) -> list:
    """(leading index, 2-D block pointer, region) of each matrix an N-D block covers, in
    row-major order of its leading dims (checked as :func:`matrix_block` checks them)."""
    lead = pointer.block_shape[:-2]
    ones = (1,) * len(lead)
    tiles = []
    for index in np.ndindex(*lead):
        offsets = (*(o + i for o, i in zip(pointer.offsets, index, strict=False)),
                   *pointer.offsets[-2:])  # fmt: skip
        block = matrix_block(what, pointer.base, pointer.shape, pointer.strides, offsets,
                             (*ones, *pointer.block_shape[-2:]), boundary_check)  # fmt: skip
        tiles.append((index, block, _tile_region(block, (0, 1))))
    return tiles


def _matrices_valid(pointer: block_ptr_nd, tiles: list) -> tuple[int, ...]:
    """The valid extent of each dim of an N-D block: the leading dims' indices inside
    the tensor, and the rows and columns of a matrix tile inside it."""
    # Indices [o, o + n) of a leading dim of extent e: those in [0, e) are valid.
    lead = tuple(builtins.max(0, builtins.min(o + n, e) - builtins.max(o, 0))
                 for n, e, o in zip(pointer.block_shape[:-2], pointer.shape, pointer.offsets,
                                    strict=False))  # fmt: skip
    # A matrix inside the tensor has the tile's rows and columns (all padding: none).
    region = next((r for _, _, r in tiles if r[1] and r[3]), (0, 0, 0, 0))
    return (*lead, region[1], region[3])


def load_matrices(program: Program, pointer: block_ptr_nd, boundary_check: Sequence[IntLike],
                   padding_option: str | None) -> tensor:  # fmt: skip
    """``tl.load`` of an N-D block with leading dims > 1: one DMA_IN op whose pieces move
    every matrix's tile (padding past the tensor moves no bytes)."""
    tiles = _matrix_tiles("tl.load", pointer, boundary_check)
    view = pointer.base
    dtype = view.element_dtype
    fill = _padding(padding_option, dtype) if padding_option else 0
    out = _new_block(program, pointer.block_shape, dtype)
    out.valid = _matrices_valid(pointer, tiles)
    moved = [(index, block, region) for index, block, region in tiles
             if region[1] and region[3]]  # fmt: skip
    execute = None
    if program.machine.data is not None:
        execute = partial(_load_matrices_data, program, moved, fill, out)
    pieces, nbytes, accesses = _matrix_pieces(program, moved, to_tcm=True)
    inputs = ()
    if program.stores_in_flight:
        inputs = tuple(op for access in accesses
                       for op in lowering.ordered_after(program, access, False))  # fmt: skip
    op = Op("load", program, "DMA_IN", inputs, out, pieces=pieces or None, execute=execute,
            nbytes=nbytes)  # fmt: skip
    for access in accesses:
        lowering.track(program, op, access, is_store=False)
    program.pe.issue(op)
    return out


def _load_matrices_data(program: Program, moved: list, fill: float, out: tensor) -> None:
    """``out``'s values: each matrix's tile of ``moved`` (index, block, region), ``fill``
    past the tensor."""
    data = np.full(out.shape, fill, dtype=out.dtype)
    for index, block, region in moved:
        skip_r, skip_c = _tile_skip(block)
        data[index][skip_r : skip_r + region[1], skip_c : skip_c + region[3]] = lowering.read_tile(
            program, block.base, block.stride, region
        )
    out.data = data


def store_matrices(program: Program, pointer: block_ptr_nd, value: Any,
                    boundary_check: Sequence[IntLike]) -> None:  # fmt: skip
    """``tl.store`` through an N-D block with leading dims > 1: one DMA_WB op writing
    every matrix's tile inside the tensor."""
    tiles = _matrix_tiles("tl.store", pointer, boundary_check)
    value = _stored_value(program, value, pointer.block_shape)
    moved = [(index, block, region) for index, block, region in tiles
             if region[1] and region[3]]  # fmt: skip
    if not moved:
        return  # the whole block is past the edge: nothing to write
    execute = None
    if program.machine.data is not None:
        execute = partial(_store_matrices_data, program, moved, value, pointer.block_shape)
    pieces, nbytes, accesses = _matrix_pieces(program, moved, to_tcm=False)
    earlier = [op for access in accesses
               for op in lowering.ordered_after(program, access, is_store=True)]  # fmt: skip
    inputs = (value, *earlier)
    op = Op("store", program, "DMA_WB", inputs, None, pieces=pieces, execute=execute,
            nbytes=nbytes)  # fmt: skip
    for access in accesses:
        lowering.track(program, op, access, is_store=True)
    program.pe.issue(op)


def _store_matrices_data(program: Program, moved: list, value: tensor,
                         block_shape: tuple[int, ...]) -> None:  # fmt: skip
    """Write ``value`` (broadcast to ``block_shape``) to each matrix's tile of ``moved``."""
    data = np.broadcast_to(value.data, block_shape)
    for index, block, region in moved:
        skip_r, skip_c = _tile_skip(block)
        lowering.write_tile(program, block.base, block.stride, region,
                            data[index][skip_r:, skip_c:])  # fmt: skip


def _matrix_pieces(program: Program, moved: list, to_tcm: bool) -> tuple[list, int, list]:
    """(network pieces, bytes, accesses) of the matrix tiles of an N-D block."""
    pieces, nbytes, accesses = [], 0, []
    kind = "load" if to_tcm else "store"
    for _, block, region in moved:
        tile_pieces, tile_bytes, span = lowering.tile_pieces(
            program, block.base, block.stride, region, to_tcm, kind
        )
        pieces.extend(tile_pieces)
        nbytes += tile_bytes
        accesses.append(_tile_access(block, span, region))
    return pieces, nbytes, accesses


def _tile_access(ptr: block_ptr, span: tuple[int, int], region) -> lowering.Access:
    r0, nr, c0, nc = region
    return lowering.Access(span[0], span[1], (ptr.base.va, ptr.stride), (r0, r0 + nr),
                           (c0, c0 + nc))  # fmt: skip


# -- creating values ---------------------------------------------------------------------
def _shape_of(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def zeros(shape: Sequence[IntLike], dtype: np.dtype | str = float32) -> tensor:
    """A zero-filled tile (takes TCM; no engine time: registers clear in one cycle)."""
    return full(shape, 0, dtype)


def full(shape: Sequence[IntLike], value: Any, dtype: np.dtype | str = float32) -> tensor:
    """A tile filled with ``value`` (takes TCM; no engine time). An integer ``dtype``
    takes an integer ``value`` in its range."""
    program = _program()
    dtype = _dtype(dtype)
    value = _unwrapped(value)
    if dtype.kind in "iu":
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise usage_error(f"tl.full: {value!r} is not an integer for {dtype}")
        _check_literal("full", int(value), dtype)
    return _const(program, np.full(_shape_of(shape), value, dtype=dtype), tcm=True)


def zeros_like(x: TileLike) -> tensor:
    """Zeros of ``x``'s shape and dtype."""
    x = _check_block("zeros_like", x)
    return zeros(x.shape, x.dtype)


def full_like(x: TileLike, value: Any) -> tensor:
    """``value`` in ``x``'s shape and dtype."""
    x = _check_block("full_like", x)
    return full(x.shape, value, x.dtype)


def arange(start: IntLike, end: IntLike) -> tensor:
    """The int32 index value ``[start, end)``; as in Triton, ``start`` and ``end`` are
    compile-time values (constexprs, numbers) and ``end - start`` is a power of two."""
    for name, bound in (("start", start), ("end", end)):
        if isinstance(bound, (IntScalar, tensor)):  # a program id, an int argument...
            raise usage_error(
                f"tl.arange: {name} {bound} is a runtime value; Triton needs a tl.constexpr "
                "(declare the argument `: tl.constexpr`, or mask a constexpr-sized range)"
            )
    start, end = int(start), int(end)
    n = end - start
    if n <= 0 or n & (n - 1):
        raise usage_error(f"tl.arange({start}, {end}): the length {n} must be a power of 2")
    return _const(_program(), np.arange(start, end, dtype=_INDEX))


# The most elements a tile may hold (Triton's limit; ``tl.TRITON_MAX_TENSOR_NUMEL``).
TRITON_MAX_TENSOR_NUMEL = 1048576


def cdiv(a: Any, b: Any) -> Any:
    """Ceiling division ``(a + b - 1) // b`` (ints, or tensors element-wise)."""
    return (a + b - 1) // b


def swizzle2d(i: Any, j: Any, size_i: Any, size_j: Any, size_g: Any) -> tuple[Any, Any]:
    """Triton's ``swizzle2d``: indices ``(i, j)`` of a row-major ``size_i x size_j`` matrix
    mapped to a column-major order within each group of ``size_g`` rows (ints or index
    values, folded as address arithmetic)."""
    ij = i * size_j + j
    size_gj = size_g * size_j
    off_i = (ij // size_gj) * size_g
    rows = size_i - off_i
    if isinstance(rows, tensor) or isinstance(size_g, tensor):
        size_g = minimum(rows, size_g)
    else:
        size_g = builtins.min(rows, size_g)  # the last group may have fewer rows
    ij = ij % size_gj
    return off_i + ij % size_g, ij // size_g


def static_range(*args: int) -> range:
    """``range`` unrolled at compile time in Triton; a plain range here."""
    return range(*(int(a) for a in args))


def range_(arg1: IntLike, arg2: IntLike | None = None, step: IntLike | None = None,
           num_stages: IntLike | None = None, loop_unroll_factor: IntLike | None = None,
           *hints: Any, **keyword_hints: Any) -> LoopRange:  # fmt: skip
    """``tl.range(start, end, step, num_stages, loop_unroll_factor, ...)``, Triton's
    signature: a loop whose software pipelining Triton tunes (``num_stages``, unrolling,
    ``flatten``, ``warp_specialize``...). Here a plain range: the engine queues already
    overlap one iteration's loads with the previous one's compute."""
    bounds = (arg1,) if arg2 is None else (arg1, arg2) if step is None else (arg1, arg2, step)
    return LoopRange(*(int(a) for a in bounds))


def static_assert(condition: Any, message: str = "") -> None:
    """Fail the kernel with KernelUsageError when ``condition`` is false."""
    if not condition:
        raise usage_error(f"tl.static_assert failed: {message}" if message else
                          "tl.static_assert failed")  # fmt: skip


# (kernel, line, text) of every tl.static_print printed so far: once, as Triton prints
# it once when it compiles the kernel rather than once per program.
_STATIC_PRINTED: set[tuple[str, str, str]] = set()


def static_print(*values: Any, sep: str = " ", end: str = "\n") -> None:
    """Print ``values`` (compile-time values: constexprs, shapes, dtypes) once per
    kernel, line and text, as Triton prints them when it compiles the kernel."""
    program = _program()
    text = sep.join(str(_unwrapped(v)) for v in values)
    key = (program.kernel_name, call_site(), text)
    if key not in _STATIC_PRINTED:
        _STATIC_PRINTED.add(key)
        print(text, end=end)


def device_assert(cond: Any, msg: str = "", mask: Any = None) -> None:
    """Fail the kernel when ``cond`` is false where ``mask`` (an index value) lets it
    through. An index-value condition is checked at once; one computed from data is
    checked when its tile is ready, in data mode only (without data there are no values),
    as Triton's debug mode checks it on the device. It costs nothing and orders nothing:
    Triton compiles it away outside debug mode."""
    program = _program()
    if not isinstance(cond, tensor):
        if not cond:
            raise usage_error(f"tl.device_assert failed: {msg}" if msg else
                              "tl.device_assert failed")  # fmt: skip
        return
    keep = _mask_values(mask, cond.shape, "device_assert")
    if cond.const is not None:
        failed = _assert_failures(cond.const, keep)
        if failed is not None:
            raise usage_error(f"tl.device_assert failed at element {failed}: {msg}" if msg else
                              f"tl.device_assert failed at element {failed}")  # fmt: skip
        return
    if program.machine.data is None:
        return
    check = _AssertWhenReady(cond, keep, msg, f"kernel {program.kernel_name!r}, line "
                             f"{call_site()}")  # fmt: skip
    if cond.ready:
        check.try_start()
    else:
        cond.waiters.append(check)


def _assert_failures(values: np.ndarray, keep: np.ndarray | None) -> tuple[int, ...] | None:
    """The index of the first element of ``values`` that is false where ``keep`` lets it
    through, or None."""
    failed = ~np.asarray(values).astype(np.bool_)
    if keep is not None:
        failed &= keep
    if not failed.any():
        return None
    return tuple(int(i) for i in np.argwhere(failed)[0])


class _AssertWhenReady:
    """Checks a data condition of ``tl.device_assert`` when its tile is ready: an item of
    that tile's ``waiters`` (with the two attributes ``Block.set_ready`` uses on ops),
    which starts no op."""

    __slots__ = ("pending_inputs", "engine", "cond", "keep", "msg", "place")

    def __init__(self, cond: tensor, keep: np.ndarray | None, msg: str, place: str) -> None:
        self.pending_inputs = 1
        self.engine = self
        self.cond, self.keep, self.msg, self.place = cond, keep, msg, place

    def try_start(self, cause: str = "input", by: Any = None) -> None:
        failed = _assert_failures(self.cond.data, self.keep)
        self.cond = None  # type: ignore[assignment]
        if failed is not None:
            text = f": {self.msg}" if self.msg else ""
            raise KernelUsageError(f"tl.device_assert failed at element {failed}{text} "
                                   f"({self.place}; checked on the data)")  # fmt: skip


def assume(cond: Any) -> None:
    """A hint to Triton's compiler that ``cond`` holds: nothing to do here."""
    _program()


def debug_barrier() -> None:
    """Triton's barrier between the threads of one program: a no-op here, costing no
    simulated time.

    A program is one instruction stream whose ops already wait for the ops producing
    their inputs, and whose loads wait for its earlier stores to the same bytes, so there
    is nothing left to synchronise within it. It is not ``tl.fence``, which blocks
    until every op the program issued has finished (making its stores visible to other
    PEs): an ordering across programs that Triton's barrier does not give either.
    """
    _program()


def device_print(prefix: str, *args: Any, hex: BoolLike = False) -> None:  # noqa: A002
    """Print ``prefix`` and ``args`` with the PE, program id and simulated time.

    Tensors print their values in data mode (the program waits until they are ready) and
    their shape and dtype otherwise.
    """
    program = _program()
    parts = []
    for arg in args:
        if isinstance(arg, tensor):
            if arg.const is not None:
                parts.append(np.array2string(arg.const))
                continue
            if program.machine.data is None:
                parts.append(f"<tensor {arg.shape} {arg.dtype}>")
                continue
            _wait_ready(program, arg)
            parts.append(np.array2string(arg.data))
        else:
            parts.append(builtins.hex(arg) if hex and isinstance(arg, int) else str(arg))
    now = program.machine.env.now
    print(f"[{program.pe.name} program {program.program_id} t={now:.1f} ns] {prefix}",
          *parts)  # fmt: skip


def _known_values(x: tensor, what: str) -> np.ndarray:
    """The values of ``x``, computed from loaded data, when the program needs them to go
    on (addresses of a gather, a mask, a branch, a loop bound).

    In data mode the program stalls until ``x`` is ready, as a GPU's warp stalls at the
    first use of a load; the stall is the next op's ``value`` dependency on the op that
    made ``x``. Without data the values are unknown: a KernelUsageError naming ``what``.
    """
    program = _program()
    if program.machine.data is None:
        raise usage_error(
            f"{what} depends on loaded data, which the simulator knows only in data mode "
            "(Runtime(..., verify_data=True)); in timing mode, compute it from index values "
            "(tl.arange, program ids, ints) or run with data"
        )
    _wait_ready(program, x, what)
    return np.asarray(x.data)


class _EventOnReady:
    """Succeeds ``event`` when a tile is ready: an item of the tile's ``waiters``, with
    the two attributes ``Block.set_ready`` uses on ops."""

    __slots__ = ("pending_inputs", "engine", "event")

    def __init__(self, event: Any) -> None:
        self.pending_inputs = 1
        self.engine = self
        self.event = event

    def try_start(self, cause: str = "input", by: Any = None) -> None:
        self.event.succeed(by)


def _wait_ready(program: Program, x: tensor, what: str = "device_print") -> None:
    """Block the program until ``x`` is ready (``what`` waits, for deadlock reports)."""
    if x.ready:
        return
    event = program.machine.env.event()
    x.waiters.append(_EventOnReady(event))
    since = program.machine.env._now  # hot path: the ``now`` property costs a call
    by = program.machine.scheduler.wait(event, f"{what} of a pending tile in {program.kernel_name}")
    if by is not None:  # the program waited for the op producing the tile
        now = program.machine.env._now
        program.resume = ("value", "op", by.op_id, now, now - since)


def multiple_of(x: Any, values: Any) -> Any:
    """A compiler hint in Triton; returns ``x`` unchanged."""
    return x


def max_contiguous(x: Any, values: Any) -> Any:
    """A compiler hint in Triton; returns ``x`` unchanged."""
    return x


def max_constancy(x: Any, values: Any) -> Any:
    """A compiler hint in Triton; returns ``x`` unchanged."""
    return x


# -- compute ---------------------------------------------------------------------------
def dot(
    a: TileLike,
    b: TileLike,
    acc: TileLike | None = None,
    out_dtype: np.dtype | str = float32,
    input_precision: str | None = None,
    allow_tf32: BoolLike | None = None,
    max_num_imprecise_acc: IntLike | None = None,
) -> tensor:
    """``a @ b (+ acc)`` on the GEMM engine: (M, K) x (K, N) -> (M, N) in ``out_dtype``
    (float32 by default; ``acc``'s dtype when given), or batched as Triton's 3-D dot:
    (B, M, K) x (B, K, N) -> (B, M, N), the B products one after another.

    Inputs are float16, bfloat16, float8 (float8e4nv, float8e5, which may mix) or
    float32; accumulation is float32. Float32 operands multiply exactly unless
    ``input_precision`` (or ``allow_tf32``) asks for a GPU's ``tf32``, ``tf32x3``,
    ``bf16x3`` or ``bf16x6`` (:mod:`simulator.language.dot_precision`). int8 by int8
    accumulates exactly in int32 and returns int32, whatever ``out_dtype``, as in
    Triton. As in Triton, bfloat16 and float8 operands need one dtype (two float8 ones
    excepted) and a bfloat16 result is an error (accumulate in float32, then
    ``.to(tl.bfloat16)``). The cost is the same whatever the dtype and precision. Cost
    on an R x C array:
    ``ceil(M/R) * ceil(N/C) * K * B + fill_drain_cycles`` cycles for the whole tile (B = 1
    in 2-D); FLOPs = 2BMNK of its unpadded part (tiles loaded across a tensor's edge are
    zero-padded: that work takes time but does no useful arithmetic).
    """
    program = _program()
    # Typed locals: compiled, the tiles' fields are then read directly, not looked up.
    lhs = a if isinstance(a, tensor) else _check_block("dot", a)
    rhs = b if isinstance(b, tensor) else _check_block("dot", b)
    acc_tile = None if acc is None else _check_block("dot", acc)
    rank = len(lhs.shape)
    if (
        rank not in (2, 3) or len(rhs.shape) != rank or lhs.shape[-1] != rhs.shape[-2]
        or lhs.shape[:-2] != rhs.shape[:-2]
    ):  # fmt: skip
        raise usage_error(f"tl.dot: shapes {lhs.shape} and {rhs.shape} do not multiply (both "
                          "2-D, or both 3-D with one batch size)")  # fmt: skip
    if input_precision is None and allow_tf32 is None and lhs.dtype is not float32:
        precision = "ieee"  # hot path: only float32 operands have another precision
    else:
        precision = dot_precision.resolve(input_precision, allow_tf32)
    batch = lhs.shape[0] if rank == 3 else 1
    m, k = lhs.shape[-2:]
    n = rhs.shape[-1]
    out_shape = (*lhs.shape[:-2], m, n)
    if acc_tile is not None and acc_tile.shape != out_shape:
        raise usage_error(f"tl.dot: acc shape {acc_tile.shape} != {out_shape}")
    out_dtype = _dtype(out_dtype)
    integer = lhs.dtype.kind in "iub" or rhs.dtype.kind in "iub"
    if integer:
        out_dtype = _integer_dot_dtype(lhs.dtype, rhs.dtype, acc_tile)
    else:
        _check_dot_dtypes(lhs.dtype, rhs.dtype, out_dtype)
    if lhs.dtype in (float32, bfloat16):
        out_dtype = float32  # Triton's: out_dtype applies to float16 and float8 operands only
    wide = lhs.dtype == rhs.dtype == float64  # Triton's float64 dot: float64, computed so
    if wide:
        out_dtype = float64
    if acc_tile is not None and acc_tile.dtype != out_dtype:
        raise usage_error(
            f"tl.dot: acc is {acc_tile.dtype} but the product of {lhs.dtype} operands is "
            f"{out_dtype}, as in Triton; pass out_dtype=tl.{acc_tile.dtype} (float16 and "
            "float8 operands) or accumulate in the product's dtype"
        )
    pe = program.pe
    rows, cols, fill_drain_cycles = pe.gemm_array
    # The batch's products stream through the array back to back: B times the depth.
    duration = gemm_duration_ns(m, n, k * batch, rows, cols, fill_drain_cycles, pe.clock_ghz)
    out = _new_block(program, out_shape, out_dtype)
    # FLOPs of the unpadded part: rows of a, columns of b, and the depth both hold.
    valid_m, valid_n = lhs.valid[-2], rhs.valid[-1]
    valid_k = builtins.min(lhs.valid[-1], rhs.valid[-2])
    valid_batch = builtins.min(lhs.valid[0], rhs.valid[0]) if rank == 3 else 1
    out.valid = (valid_batch, valid_m, valid_n) if rank == 3 else (valid_m, valid_n)
    inputs = (lhs, rhs) if acc_tile is None else (lhs, rhs, acc_tile)
    execute = None
    if program.machine.data is not None:
        # int8 products sum exactly in int32
        compute = np.int32 if integer else np.float64 if wide else np.float32
        if precision == "ieee" or lhs.dtype != float32 or rhs.dtype != float32:
            precision = "ieee"  # only float32 operands have another precision

        execute = partial(_dot_data, lhs, rhs, acc_tile, compute, precision, out)

    pe.issue(
        Op(
            "dot",
            program,
            "GEMM",
            inputs,
            out,
            duration_ns=duration,
            execute=execute,
            flops=2 * valid_batch * valid_m * valid_n * valid_k,
        )
    )
    return out


def _dot_data(a: tensor, b: tensor, acc: tensor | None, compute: type, precision: str,
              out: tensor) -> None:  # fmt: skip
    """``out``'s values: ``a @ b (+ acc)`` computed in ``compute`` (at ``precision``)."""
    with np.errstate(all="ignore"):  # int32 sums wrap, as the hardware's do
        if precision == "ieee":
            result = a.data.astype(compute) @ b.data.astype(compute)
        else:
            result = dot_precision.product(a.data, b.data, precision)
        if acc is not None:
            result = result + acc.data.astype(compute)
    out.data = result.astype(out.dtype)


def _integer_dot_dtype(a: np.dtype, b: np.dtype, acc: tensor | None) -> np.dtype:
    """Triton's integer ``dot``: int8 by int8, accumulated and returned in int32."""
    if a != int8 or b != int8:
        raise usage_error(f"tl.dot: integer operands must both be int8, as in Triton; got {a} "
                          f"and {b} (cast with .to())")  # fmt: skip
    if acc is not None and acc.dtype != int32:
        raise usage_error(f"tl.dot: int8 operands accumulate in int32; acc is {acc.dtype}")
    return int32


def _check_dot_dtypes(a: np.dtype, b: np.dtype, out: np.dtype) -> None:
    """Triton's dtype rules of ``dot`` where bfloat16 or float8 takes part."""
    if out == bfloat16:
        raise usage_error(
            "tl.dot: a bfloat16 result (out_dtype or acc) is not supported, as in Triton; "
            "accumulate in float32 and cast with .to(tl.bfloat16)"
        )
    if a != b and not (a in _FLOAT8 and b in _FLOAT8):
        raise usage_error(
            f"tl.dot: operands of dtypes {a} and {b}: both must have one dtype (two float8 "
            "dtypes may mix), as in Triton; cast one with .to() first"
        )


def _math_op(
    name: str,
    inputs: tuple[tensor, ...],
    shape: tuple[int, ...],
    dtype: np.dtype,
    fn: Callable[..., np.ndarray],
    cost_key: str | None = None,
    elements: int | None = None,
    fold: bool = True,
) -> tensor:
    """Issue a MATH op (or, with ``fold``, fold it when every input is an index value;
    ``elements``: the count charged, the largest input's by default)."""
    program = _program()
    if fold:
        for x in inputs:
            if x.const is None:
                break
        else:  # every input is an index value: fold
            return _const(program, _evaluate(fn, [x.const for x in inputs], dtype, shape))
    pe = program.pe
    key = cost_key or name
    cycles = pe.math_cycles_per_op.get(key)
    if cycles is None:
        known = ", ".join(sorted(pe.math_cycles_per_op))
        raise usage_error(f"no MATH cost for op {key!r} in pe.math.cycles_per_op ({known})")
    if elements is not None:
        count = elements
    elif len(inputs) == 1:
        count = math.prod(inputs[0].shape)
    else:
        count = builtins.max(math.prod(x.shape) for x in inputs)
    duration = math_duration_ns(count, pe.math_lanes, cycles, pe.clock_ghz)
    out = _new_block(program, shape, dtype)
    execute = None
    if program.machine.data is not None:
        execute = partial(_math_data, fn, inputs, out)
    program.pe.issue(
        Op(name, program, "MATH", inputs, out, duration_ns=duration, execute=execute, flops=count)
    )
    return out


def _math_data(fn: Callable[..., Any], inputs: tuple[tensor, ...], out: tensor) -> None:
    """``out``'s values: ``fn`` of the inputs' values (see :func:`_evaluate`)."""
    out.data = _evaluate(fn, [x.data for x in inputs], out.dtype, out.shape)


_NUMBER: Final = (int, float, bool, np.number)


def _result_dtype(name: str, a: Any, b: Any, strong: bool = False) -> np.dtype:
    """The dtype of ``a <name> b`` (bool for ``cmp``): see :func:`_computation_dtype`."""
    compute = _computation_dtype(name, a, b, strong)
    return _BOOL if name == "cmp" else compute


def _computation_dtype(name: str, a: Any, b: Any, strong: bool = False) -> np.dtype:
    """The dtype both operands convert to before ``a <name> b``, by Triton's
    ``binary_op_type_checking_impl`` (``name`` "div": ``/``, ``//``, ``%``).

    Tiles, program ids and int and float kernel arguments are typed; a number (a literal) is
    too when ``strong`` (comparisons, ``maximum``: Triton makes it a tensor first), and
    is otherwise weak: of a kind (bool < integer < float) no higher than the tile's it
    takes the tile's dtype, and an integer one must fit it. Then: float64 wins, then
    float32, then float16 (float32 for a
    division), bfloat16 only with bfloat16, two float8 give theirs or float16; two
    integers take C's common type (the unsigned one unless the signed one is wider).
    Raises KernelUsageError where Triton raises.
    """
    da, a_literal = _operand_dtype(a, strong)
    db, b_literal = _operand_dtype(b, strong)
    division = name == "div"
    compute = None
    if a_literal != b_literal:
        literal, tile = (da, db) if a_literal else (db, da)
        if _KIND_RANK[_kind(literal)] <= _KIND_RANK[_kind(tile)]:
            compute = float32 if division and tile in (float16, bfloat16) else tile
    if compute is None:
        compute = _promoted(name, da, db, division)
    if compute.kind in "iub":
        for value, is_literal in ((a, a_literal), (b, b_literal)):
            if is_literal:
                _check_literal(name, _unwrapped(value), compute)
    return compute


_BOOL: Final = np.dtype(np.bool_)
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < float


def _kind(dtype: np.dtype) -> str:
    """Triton's kind of a dtype: "b" (int1), "u", "i" or "f" (every float)."""
    return "f" if _is_float(dtype) else dtype.kind


def _operand_dtype(x: Any, strong: bool) -> tuple[np.dtype, bool]:
    """(dtype, is a weak literal) of a binary operand, as Triton's ``to_tensor`` types a
    number: bool int1, int int32 (uint32, int64, uint64 past its range), float float32."""
    x = _unwrapped(x)
    if isinstance(x, (tensor, IntScalar, FloatScalar)):
        return np.dtype(x.dtype), False
    if isinstance(x, np.dtype):  # a dtype computed before (tl.clamp's three operands)
        return x, False
    dtype: np.dtype
    if isinstance(x, (bool, np.bool_)):
        dtype = _BOOL
    elif isinstance(x, (int, np.integer)):
        value = int(x)
        if -(2**31) <= value < 2**31:
            dtype = int32
        elif 2**31 <= value < 2**32:
            dtype = uint32
        elif -(2**63) <= value < 2**63:
            dtype = int64
        elif 2**63 <= value < 2**64:
            dtype = uint64
        else:
            raise usage_error(f"integer {value} does not fit in 64 bits (Triton cannot hold it)")
    else:
        dtype = float32
    return dtype, not strong


def _promoted(name: str, da: np.dtype, db: np.dtype, division: bool) -> np.dtype:
    """Triton's ``computation_type_impl`` of two typed operands."""
    pair = (da, db)
    if float64 in pair:
        return float64
    if float32 in pair:
        return float32
    if float16 in pair:
        return float32 if division else float16
    if da == db == bfloat16:
        return float32 if division else bfloat16
    if bfloat16 in pair:
        return float32
    if da in _FLOAT8 and db in _FLOAT8:
        return da if da == db else float16
    if da.kind not in "iub" or db.kind not in "iub":
        raise usage_error(
            f"tl.{name}: cannot combine {da} and {db} tiles (Triton cannot either); cast one "
            "with .to() first"
        )
    a_unsigned, b_unsigned = da.kind in "ub", db.kind in "ub"
    if division and a_unsigned != b_unsigned:
        raise usage_error(
            f"tl.{name}: cannot use /, // or % with {da} and {db}: they have different "
            "signedness (as in Triton); cast them to the same signedness"
        )
    a_bits = 1 if da.kind == "b" else da.itemsize * 8
    b_bits = 1 if db.kind == "b" else db.itemsize * 8
    if a_unsigned == b_unsigned:
        return da if a_bits > b_bits else db
    if a_unsigned:
        return da if a_bits >= b_bits else db
    return db if b_bits >= a_bits else da


def _check_literal(name: str, value: Any, dtype: np.dtype) -> None:
    """A literal operand of an integer operation must fit its type (Triton's checks)."""
    if isinstance(value, (float, np.floating)) or dtype.kind == "b":
        return
    value = int(value)
    if value < 0 and dtype.kind == "u":
        raise usage_error(
            f"tl.{name}: cannot combine an unsigned {dtype} tile with the negative number "
            f"{value} (as in Triton); cast one of them explicitly"
        )
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise usage_error(f"tl.{name}: the number {value} is out of range for {dtype}")


def _converter(compute: np.dtype) -> Callable[[Any], Any]:
    """What converts an operand's values to ``compute`` before the operation: nothing
    for narrow floats (computed in float32, rounded once: see _evaluate)."""
    if compute in _NARROW_FLOATS:
        return lambda v: v
    return lambda v: np.asarray(v).astype(compute, copy=False)


def _binary(name: str, a: Any, b: Any, fn: Callable[..., np.ndarray],
            strong: bool = False) -> tensor:  # fmt: skip
    """``fn(a, b)`` with numpy broadcasting, both operands first converted to their
    computation dtype (:func:`_computation_dtype`; ``strong``: numbers are typed
    operands): MATH, or folded for index values."""
    if (
        isinstance(a, tensor) and isinstance(b, tensor) and a.shape == b.shape
        and a.dtype == b.dtype and name != "cmp"
        and (name != "div" or a.dtype.kind in "iu" or a.dtype in _F32_F64)
    ):  # fmt: skip
        # Hot path (a reduction's add: two tiles alike, one of them often a received
        # block, a subclass): what the checks below give (a half-precision division
        # computes in float32).
        return _math_op(name, (a, b), a.shape, np.dtype(a.dtype), fn)
    a, b = _unwrapped(a), _unwrapped(b)
    for x in (a, b):
        if not isinstance(x, (tensor, *_NUMBER)):
            raise usage_error(f"tl.{name}: cannot combine a tensor with {type(x).__name__}")
    compute = _computation_dtype(name, a, b, strong)
    dtype = _BOOL if name == "cmp" else compute
    if not isinstance(a, tensor) and not isinstance(b, tensor):  # two scalars: a 0-d tile
        a = number_tile(a)
    convert = _converter(compute)
    if isinstance(a, tensor) and isinstance(b, tensor):
        try:
            shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        except ValueError:
            raise usage_error(
                f"tl.{name}: shapes {a.shape} and {b.shape} do not broadcast"
            ) from None
        if a.dtype == b.dtype == compute:
            return _math_op(name, (a, b), shape, dtype, fn)
        return _math_op(name, (a, b), shape, dtype, lambda x, y: fn(convert(x), convert(y)))
    tile, number = (a, b) if isinstance(a, tensor) else (b, a)
    # A number enters as the computation dtype's value (a float stays a Python float:
    # numpy then computes in the tile's float dtype, as the converted literal would).
    scalar: Any  # a Python float, or a numpy integer of the computation dtype
    if compute.kind == "f" or compute in _NARROW_FLOATS:
        scalar = float(number)
    else:
        scalar = convert(int(number))
    same = tile.dtype == compute or compute in _NARROW_FLOATS
    if tile is a:
        if same:
            return _math_op(name, (a,), a.shape, dtype, lambda x: fn(x, scalar))
        return _math_op(name, (a,), a.shape, dtype, lambda x: fn(convert(x), scalar))
    if same:
        return _math_op(name, (b,), b.shape, dtype, lambda x: fn(scalar, x))
    return _math_op(name, (b,), b.shape, dtype, lambda x: fn(scalar, convert(x)))


def _unary(name: str, a: Any, fn: Callable[[np.ndarray], np.ndarray], dtype=None) -> tensor:
    a = _check_block(name, a)
    return _math_op(name, (a,), a.shape, dtype or a.dtype, fn)


def _gelu(x: np.ndarray) -> np.ndarray:
    x32 = x.astype(np.float32)
    return 0.5 * x32 * (1.0 + np.tanh(0.7978845608028654 * (x32 + 0.044715 * x32**3)))


_F32_F64: Final = (float32, float64)


def _check_float(name: str, dtypes: tuple[np.dtype, ...], *values: Any) -> None:
    """Triton's dtype check of its libdevice math (``math._check_dtype``): every tensor
    argument is one of ``dtypes``; other floats must be cast first."""
    for value in values:
        if isinstance(value, tensor) and value.dtype not in dtypes:
            wanted = " or ".join(str(d) for d in dtypes)
            raise usage_error(
                f"tl.{name} takes {wanted} tensors, got {value.dtype}; cast with "
                ".to(tl.float32) first (as Triton requires)"
            )


def exp(x: TileLike) -> tensor:
    """Element-wise e**x (MATH, ``cycles_per_op['exp']``)."""
    _check_float("exp", _F32_F64, x)
    return _unary("exp", x, np.exp)


def exp2(x: TileLike) -> tensor:
    """Element-wise 2**x (MATH, ``cycles_per_op['exp2']``)."""
    _check_float("exp2", _F32_F64, x)
    return _unary("exp2", x, np.exp2)


def log(x: TileLike) -> tensor:
    """Element-wise natural log (MATH)."""
    _check_float("log", _F32_F64, x)
    return _unary("log", x, np.log)


def log2(x: TileLike) -> tensor:
    """Element-wise base-2 log (MATH, ``cycles_per_op['log2']``)."""
    _check_float("log2", _F32_F64, x)
    return _unary("log2", x, np.log2)


def sqrt(x: TileLike) -> tensor:
    """Element-wise square root (MATH)."""
    _check_float("sqrt", _F32_F64, x)
    return _unary("sqrt", x, np.sqrt)


def rsqrt(x: TileLike) -> tensor:
    """Element-wise 1 / sqrt(x) (MATH, ``cycles_per_op['rsqrt']``)."""
    _check_float("rsqrt", _F32_F64, x)
    return _unary("rsqrt", x, lambda v: 1.0 / np.sqrt(v))


def abs(x: TileLike) -> tensor:  # noqa: A001 - Triton's name
    """Element-wise absolute value (MATH)."""
    return _unary("abs", x, np.abs)


def relu(x: TileLike) -> tensor:
    """Element-wise max(x, 0) (MATH)."""
    return _unary("relu", x, lambda v: np.maximum(v, 0))


def sigmoid(x: TileLike) -> tensor:
    """Element-wise 1 / (1 + e**-x) (MATH)."""
    _check_float("sigmoid", _F32_F64, x)
    return _unary("sigmoid", x, lambda v: 1.0 / (1.0 + np.exp(-v)))


def gelu(x: TileLike) -> tensor:
    """Element-wise GeLU, tanh approximation as in Megatron-LM (MATH)."""
    return _unary("gelu", x, _gelu)


def cos(x: TileLike) -> tensor:
    """Element-wise cosine of a float32/float64 tile (MATH, ``cycles_per_op['cos']``)."""
    _check_float("cos", _F32_F64, x)
    return _unary("cos", x, np.cos)


def sin(x: TileLike) -> tensor:
    """Element-wise sine of a float32/float64 tile (MATH, ``cycles_per_op['sin']``)."""
    _check_float("sin", _F32_F64, x)
    return _unary("sin", x, np.sin)


def floor(x: TileLike) -> tensor:
    """Element-wise floor of a float32/float64 tile, same dtype (MATH,
    ``cycles_per_op['floor']``)."""
    _check_float("floor", _F32_F64, x)
    return _unary("floor", x, np.floor)


def ceil(x: TileLike) -> tensor:
    """Element-wise ceiling of a float32/float64 tile, same dtype (MATH,
    ``cycles_per_op['ceil']``)."""
    _check_float("ceil", _F32_F64, x)
    return _unary("ceil", x, np.ceil)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: TileLike) -> tensor:
    """Element-wise error function of a float32/float64 tile (MATH,
    ``cycles_per_op['erf']``)."""
    _check_float("erf", _F32_F64, x)
    return _unary("erf", x, _erf)


def sqrt_rn(x: TileLike) -> tensor:
    """Square root rounded to nearest, of a float32 tile: ``tl.sqrt`` here (numpy's is
    already correctly rounded), the same MATH op (``cycles_per_op['sqrt']``)."""
    _check_float("sqrt_rn", (float32,), _check_block("sqrt_rn", x))
    return _unary("sqrt", x, np.sqrt)


def _check_divide_operands(name: str, x: Any, y: Any) -> None:
    for v in (x, y):
        if not isinstance(v, (tensor, *_NUMBER)):
            raise usage_error(f"tl.{name}: cannot divide with {type(v).__name__}")
    if not isinstance(x, tensor) and not isinstance(y, tensor):
        raise usage_error(f"tl.{name} expects a tensor operand, got two numbers")


def fdiv(x: Any, y: Any, ieee_rounding: BoolLike = False) -> tensor:
    """``x / y`` of floating-point operands (tiles or Python floats), broadcast: the same
    MATH op as ``/`` (``cycles_per_op['div']``). Triton's fast division; numpy's division
    is correctly rounded, so ``ieee_rounding`` changes nothing here. As in Triton, an
    integer operand (a tile or a Python int) is an error."""
    _check_divide_operands("fdiv", x, y)
    for v in (x, y):
        dtype = v.dtype if isinstance(v, tensor) else np.asarray(v).dtype
        if not _is_float(dtype):
            got = dtype if isinstance(v, tensor) else type(v).__name__
            raise usage_error(f"tl.fdiv: both operands must be floating point, got {got}")
    return _binary("div", x, y, _truediv)


def div_rn(x: Any, y: Any) -> tensor:
    """``x / y`` rounded to nearest, of float32 tiles (or numbers), broadcast: the same
    MATH op as ``/`` (``cycles_per_op['div']``; numpy's division is already correctly
    rounded)."""
    _check_divide_operands("div_rn", x, y)
    _check_float("div_rn", (float32,), x, y)
    return _binary("div", x, y, _truediv)


class PropagateNan(enum.Enum):
    """Triton's NaN policy of ``tl.clamp``: NONE returns the bound a NaN ``x`` is
    compared with (IEEE maxNum/minNum, so the lower bound), ALL returns NaN."""

    NONE = 0x0000
    ALL = 0xFFFF


def clamp(x: Any, min: Any, max: Any,  # noqa: A002 - Triton's names
          propagate_nan: Any = PropagateNan.NONE) -> tensor:  # fmt: skip
    """``x`` clamped to ``[min, max]``, all three broadcast (tiles or numbers), as
    ``minNum(maxNum(x, min), max)``: one MATH op (``cycles_per_op['clamp']``).

    Floating point only (an integer ``x`` with float bounds computes in float), as in
    Triton; the result for ``min > max`` or a NaN bound is undefined there.
    ``propagate_nan=tl.PropagateNan.ALL`` makes a NaN in ``x`` give NaN.
    """
    if not isinstance(propagate_nan, PropagateNan):
        raise usage_error(
            f"tl.clamp: propagate_nan must be tl.PropagateNan.NONE or ALL, got {propagate_nan!r}"
        )
    values = (x, min, max)
    for v in values:
        if not isinstance(v, (tensor, *_NUMBER)):
            raise usage_error(f"tl.clamp: cannot clamp with {type(v).__name__}")
    tensors = tuple(v for v in values if isinstance(v, tensor))
    if not tensors:
        raise usage_error("tl.clamp expects a tensor operand, got three numbers")
    try:
        shape = tuple(np.broadcast_shapes(*(t.shape for t in tensors)))
    except ValueError:
        shapes = [v.shape if isinstance(v, tensor) else () for v in values]
        raise usage_error(f"tl.clamp: shapes {shapes} do not broadcast") from None
    # As Triton's: numbers are typed (a float is float32), bfloat16 computes in float32.
    dtype = _result_dtype("clamp", _result_dtype("clamp", x, min, strong=True), max,
                          strong=True)  # fmt: skip
    if dtype == bfloat16:
        dtype = float32
    if not _is_float(dtype):
        raise usage_error(f"tl.clamp: only floating-point clamp is supported, got {dtype}")
    propagate = propagate_nan is PropagateNan.ALL
    convert = _converter(dtype)

    def fn(*tv):
        it = iter(tv)
        xv, lo, hi = (convert(next(it) if isinstance(v, tensor) else v) for v in values)
        out = np.fmin(np.fmax(xv, lo), hi)
        return np.where(np.isnan(xv), np.nan, out) if propagate else out

    return _math_op("clamp", tensors, shape, dtype, fn)


def fma(x: TileLike, y: Any, z: Any) -> tensor:
    """Fused ``x * y + z``, one MATH op (``cycles_per_op['fma']``), in the three
    operands' promoted dtype (numbers typed, as Triton's ``to_tensor`` makes them). A
    float32 or float16 product is exact in float64, so adding there and rounding once
    gives the fused result (up to a rare double rounding of the sum)."""
    x = _check_block("fma", x)
    others = [v for v in (y, z) if isinstance(v, tensor)]
    try:
        shape = tuple(np.broadcast_shapes(x.shape, *(np.shape(v) if not isinstance(v, tensor)
                                                     else v.shape for v in (y, z))))  # fmt: skip
    except ValueError:
        raise usage_error("tl.fma: shapes do not broadcast") from None
    dtype = _result_dtype("fma", _result_dtype("fma", x, y, strong=True), z, strong=True)
    wide = np.float64 if dtype in (float16, float32) else None
    convert = _converter(dtype)
    ys, zs = y, z

    def fn(xv, *tv):
        it = iter(tv)
        yv = next(it) if isinstance(ys, tensor) else ys
        zv = next(it) if isinstance(zs, tensor) else zs
        xv, yv, zv = (convert(v) for v in (xv, yv, zv))
        if wide is not None:
            xv, yv, zv = (np.asarray(v, wide) for v in (xv, yv, zv))
        return xv * yv + zv

    return _math_op("fma", (x, *others), shape, dtype, fn)


def umulhi(x: Any, y: Any) -> tensor:
    """The high half of the double-width products of 32- or 64-bit integers, taken as
    unsigned (Triton's ``umulhi``: its interpreter and NVIDIA's ``__nv_umulhi``), in the
    operands' promoted dtype (MATH ``mul``)."""
    for v in (x, y):
        dtype = v.dtype if isinstance(v, tensor) else None
        if dtype is not None and (dtype.kind not in "iu" or dtype.itemsize not in (4, 8)):
            raise usage_error(f"tl.umulhi takes 32- or 64-bit integer tiles, got {dtype}")
        if dtype is None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool)):
            raise usage_error(f"tl.umulhi takes integers, got {type(v).__name__}")

    def high(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        dtype = np.result_type(a, b)  # both already in the promoted dtype (see _binary)
        unsigned = np.dtype(f"u{dtype.itemsize}")
        ua, ub = (np.asarray(v).astype(dtype).view(unsigned) for v in (a, b))
        if dtype.itemsize == 4:
            product = ua.astype(np.uint64) * ub.astype(np.uint64)
            return (product >> np.uint64(32)).astype(np.uint32).view(dtype)
        return _unsigned_high64(ua, ub).view(dtype)

    return _binary("mul", x, y, high)


def _unsigned_high64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The high 64 bits of the 128-bit products of uint64 values, from 32-bit halves."""
    low32, shift = np.uint64(0xFFFFFFFF), np.uint64(32)
    a_lo, a_hi, b_lo, b_hi = a & low32, a >> shift, b & low32, b >> shift
    lo_lo, hi_lo, lo_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi
    # Below 2**64: (2**32 - 1) + (2**32 - 1) + (2**32 - 1)**2.
    middle = (lo_lo >> shift) + (hi_lo & low32) + lo_hi
    return a_hi * b_hi + (hi_lo >> shift) + (middle >> shift)


def maximum(x: Any, y: Any, propagate_nan: Any = PropagateNan.NONE) -> tensor:
    """Element-wise maximum (MATH). As Triton's: numbers are typed operands (a float is
    float32), bfloat16 computes in float32, and a NaN loses to a number unless
    ``propagate_nan=tl.PropagateNan.ALL`` (IEEE maxNum)."""
    nan = _nan_policy("maximum", propagate_nan)
    x, y = _bf16_as_float32(x, y)
    return _binary("max", x, y, np.maximum if nan else np.fmax, strong=True)


def minimum(x: Any, y: Any, propagate_nan: Any = PropagateNan.NONE) -> tensor:
    """Element-wise minimum (MATH): as ``maximum``, with minNum."""
    nan = _nan_policy("minimum", propagate_nan)
    x, y = _bf16_as_float32(x, y)
    return _binary("min", x, y, np.minimum if nan else np.fmin, strong=True)


def _nan_policy(name: str, propagate_nan: Any) -> bool:
    """Whether a NaN propagates (``tl.PropagateNan.ALL``); anything else is an error."""
    propagate_nan = _unwrapped(propagate_nan)
    if not isinstance(propagate_nan, PropagateNan):
        raise usage_error(
            f"tl.{name}: propagate_nan must be tl.PropagateNan.NONE or ALL, got {propagate_nan!r}"
        )
    return propagate_nan is PropagateNan.ALL


def _bf16_as_float32(*values: Any) -> tuple[Any, ...]:
    """bfloat16 tiles as float32 (Triton's ``_promote_bfloat16_to_float32``)."""
    return tuple(v.to(float32) if isinstance(v, tensor) and v.dtype == bfloat16 else v
                 for v in values)  # fmt: skip


def where(condition: Any, x: Any, y: Any) -> tensor | pointer:
    """``x`` where ``condition`` else ``y``, broadcast (MATH ``cycles_per_op['where']``;
    folded when all three are index values)."""
    if isinstance(condition, (bool, np.bool_, IntScalar)):  # pid == 0, a typed scalar
        condition = number_tile(condition)
    if not isinstance(condition, tensor):
        raise usage_error(f"tl.where: condition must be a tensor, got {type(condition).__name__}")
    if isinstance(x, (_Pointer, TensorView)) or isinstance(y, (_Pointer, TensorView)):
        return _where_pointers(condition, x, y)
    for v in (x, y):
        if not isinstance(v, (tensor, *_NUMBER)):
            raise usage_error(f"tl.where: cannot select {type(v).__name__}")
    shapes = [v.shape if isinstance(v, tensor) else () for v in (condition, x, y)]
    try:
        shape = tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise usage_error(f"tl.where: shapes {shapes} do not broadcast") from None
    dtype = _result_dtype("where", x, y)
    tensors = [v for v in (condition, x, y) if isinstance(v, tensor)]
    xs, ys = x, y

    def fn(c, *tv):
        it = iter(tv)
        xv = next(it) if isinstance(xs, tensor) else xs
        yv = next(it) if isinstance(ys, tensor) else ys
        return np.where(c.astype(np.bool_), xv, yv)

    return _math_op("where", tuple(tensors), shape, dtype, fn)


def _where_pointers(condition: tensor, x: Any, y: Any) -> pointer:
    """``tl.where`` of two blocks of pointers into one tensor: the pointers ``x`` where
    ``condition`` else ``y`` (address arithmetic, which costs no op here as ``+`` does
    not). The condition's values are needed at issue: index values, or loaded data in
    data mode."""
    x, y = (v + 0 if isinstance(v, TensorView) else v for v in (x, y))
    if not (isinstance(x, _Pointer) and isinstance(y, _Pointer)):
        other = y if isinstance(x, _Pointer) else x
        raise usage_error(f"tl.where: cannot select between a pointer and {type(other).__name__}")
    if x.base is not y.base:
        raise usage_error(
            f"tl.where: pointers into two tensors ({x.base.name} and {y.base.name}) are not "
            "supported; select the offsets into one tensor, or load both and select the values"
        )
    values = condition.const
    if values is None:
        values = _known_values(condition, "tl.where of pointers: the condition")
    try:
        offsets = np.where(values.astype(np.bool_), x.offsets, y.offsets)
    except ValueError:
        shapes = [condition.shape, x.shape, y.shape]
        raise usage_error(f"tl.where: shapes {shapes} do not broadcast") from None
    return pointer(x.base, offsets)


def trans(x: TileLike, *dims: int) -> tensor:
    """Transpose a 2-D tile (MATH ``cycles_per_op['trans']``: the tile moves through the
    vector unit); with ``dims``, Triton's ``permute`` of a tile of any rank."""
    x = _check_block("trans", x)
    if dims and dims not in ((1, 0), ((1, 0),)):
        return permute(x, *dims)
    if len(x.shape) != 2:
        raise usage_error(f"tl.trans without dims needs a 2-D tile, got shape {x.shape}; "
                          "give the axes' order, as tl.permute takes it")  # fmt: skip
    out = _math_op("trans", (x,), (x.shape[1], x.shape[0]), x.dtype, lambda v: v.T)
    out.valid = tuple(reversed(x.valid)) if len(x.valid) == 2 else out.valid
    return out


def permute(x: TileLike, *dims: Any) -> tensor:
    """``x`` with its axes in the order ``dims`` (``permute(x, 1, 0)`` or
    ``permute(x, (1, 0))``): MATH ``trans`` per element unless the order is unchanged."""
    x = _check_block("permute", x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    order = tuple(int(getattr(d, "value", d)) for d in dims)
    if sorted(order) != list(range(len(x.shape))):
        raise usage_error(f"tl.permute: dims {order} are not a permutation of the axes of a "
                          f"{len(x.shape)}-D tile (shape {x.shape})")  # fmt: skip
    if order == tuple(range(len(order))):
        return x
    shape = tuple(x.shape[d] for d in order)
    out = _math_op("trans", (x,), shape, x.dtype, lambda v: np.transpose(v, order))
    if len(x.valid) == len(order):
        out.valid = tuple(x.valid[d] for d in order)
    return out


def _shape_args(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """A shape given as Triton takes it: ``f(x, 4, 8)`` or ``f(x, (4, 8))``."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return tuple(int(getattr(s, "value", s)) for s in shape)


def cast(input: TileLike, dtype: np.dtype | str | pointer_type,  # noqa: A002
         fp_downcast_rounding: str | None = None, bitcast: BoolLike = False) -> Any:  # fmt: skip
    """``input.to(dtype, ...)`` (a tile, or an integer scalar such as a program id): a
    tile, a scalar, or a pointer for a pointer type."""
    if isinstance(input, IntScalar):
        return input.to(dtype, fp_downcast_rounding, bitcast)
    if isinstance(input, (TensorView, pointer)):  # a pointer to another pointer type
        return input.to(dtype, bitcast)
    return _check_block("cast", input).to(dtype, fp_downcast_rounding, bitcast)


def reshape(x: TileLike, *shape: Any, can_reorder: BoolLike = False) -> tensor:
    """The same elements in a new shape, row-major (a free view); the shape as
    ``reshape(x, 4, 8)`` or ``reshape(x, (4, 8))``."""
    x = _check_block("reshape", x)
    shape = _shape_args(shape)
    if math.prod(shape) != math.prod(x.shape):
        raise usage_error(f"tl.reshape: cannot reshape {x.shape} to {shape}")
    return _view(x, shape, lambda a: a.reshape(shape))


view = reshape


def broadcast_to(x: TileLike, *shape: Any) -> tensor:
    """``x`` broadcast to ``shape`` (a free view)."""
    x = _check_block("broadcast_to", x)
    shape = _shape_args(shape)
    try:
        np.broadcast_to(np.empty(x.shape, np.bool_), shape)
    except ValueError:
        raise usage_error(f"tl.broadcast_to: cannot broadcast {x.shape} to {shape}") from None
    return _view(x, shape, lambda a: np.broadcast_to(a, shape))


def broadcast(x: Any, y: Any) -> tuple[Any, Any]:
    """``x`` and ``y`` broadcast to their common shape (free views), as Triton's
    ``tl.broadcast``; a number stays a number."""
    shapes = [v.shape if isinstance(v, tensor) else () for v in (x, y)]
    try:
        shape = tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise usage_error(f"tl.broadcast: shapes {shapes} do not broadcast") from None
    x, y = (broadcast_to(v, shape) if isinstance(v, tensor) and v.shape != shape else v
            for v in (x, y))  # fmt: skip
    return x, y


def expand_dims(x: TileLike, axis: int | Sequence[IntLike]) -> tensor:
    """``x`` with a new axis of size 1 at ``axis`` (or at each of a sequence of them), a
    free view."""
    x = _check_block("expand_dims", x)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(int(_unwrapped(a)) for a in axes)
    try:
        shape = np.expand_dims(np.empty(x.shape, np.bool_), axes).shape
    except (ValueError, np.exceptions.AxisError):
        raise usage_error(
            f"tl.expand_dims: axes {axes} are out of range or repeated for a "
            f"{len(x.shape)}-D tile (shape {x.shape})"
        ) from None
    return _view(x, tuple(shape), lambda a: np.expand_dims(a, axes))


def _reduce(
    name: str,
    x: TileLike,
    axis: IntLike | None,
    keep_dims: BoolLike,
    fn: Callable[..., np.ndarray],
    dtype: np.dtype | None = None,
) -> tensor:
    x = _check_block(name, x)
    axis, keep_dims = _unwrapped(axis), bool(keep_dims)  # numpy's keepdims takes a bool only
    if axis is None:
        shape: tuple[int, ...] = tuple(1 for _ in x.shape) if keep_dims else ()
    else:
        if not isinstance(axis, (int, np.integer)) or axis not in range(-len(x.shape),
                                                                         len(x.shape)):  # fmt: skip
            raise usage_error(f"tl.{name}: axis {axis} out of range for shape {x.shape}")
        axis = int(axis) % len(x.shape)
        kept = ((1 if keep_dims else None) if i == axis else s for i, s in enumerate(x.shape))
        shape = tuple(s for s in kept if s is not None)
    out_shape = shape

    def compute(v):
        return np.asarray(fn(v, axis=axis, keepdims=keep_dims)).reshape(out_shape)

    return _math_op(name, (x,), shape, dtype or x.dtype, compute, cost_key="reduce",
                    elements=math.prod(x.shape))  # fmt: skip


def sum(x: TileLike, axis: IntLike | None = None, keep_dims: BoolLike = False,  # noqa: A001
        dtype: Any = None) -> tensor:  # fmt: skip
    """Sum over ``axis`` (all elements when None) on MATH (``cycles_per_op['reduce']``),
    in ``dtype`` when given; else, as Triton's, integers narrower than 32 bits (and
    bool) in int32 (uint32 when unsigned), anything else in its own dtype."""
    x = _check_block("sum", x)
    out_dtype = _sum_dtype(x.dtype, dtype)

    # Integers and float64 accumulate in the output dtype; other floats in float32 (numpy
    # would round every partial sum of float16 to float16), rounded once to the output
    # dtype: Triton's ``dtype=tl.float32`` casts the input first, then reduces.
    accumulate = out_dtype if out_dtype.kind in "iub" or out_dtype == float64 else float32

    def total(v, axis, keepdims):
        return np.sum(v, axis=axis, keepdims=keepdims, dtype=accumulate)

    return _reduce("sum", x, axis, keep_dims, total, out_dtype)


def xor_sum(input: TileLike, axis: IntLike | None = None, keep_dims: BoolLike = False) -> tensor:  # noqa: A002
    """Bitwise xor over ``axis`` of an integer (or bool) tile, on MATH
    (``cycles_per_op['reduce']``)."""
    x = _check_block("xor_sum", input)
    if x.dtype.kind not in "iub":
        raise usage_error(f"tl.xor_sum takes integers, got {x.dtype}")
    return _reduce("xor_sum", x, axis, keep_dims, np.bitwise_xor.reduce)


def reduce_or(input: TileLike, axis: IntLike | None, keep_dims: BoolLike = False) -> tensor:  # noqa: A002
    """Bitwise or over ``axis`` of an integer (or bool) tile, on MATH
    (``cycles_per_op['reduce']``), as Triton's standard ``reduce_or``."""
    x = _check_block("reduce_or", input)
    if x.dtype.kind not in "iub":
        raise usage_error(f"tl.reduce_or takes integers, got {x.dtype}")
    return _reduce("reduce_or", x, axis, keep_dims, np.bitwise_or.reduce)


def max(input: TileLike, axis: IntLike | None = None, return_indices: BoolLike = False,  # noqa: A001, A002
        return_indices_tie_break_left: BoolLike = True,
        keep_dims: BoolLike = False) -> tensor | tuple[tensor, tensor]:  # fmt: skip
    """Maximum over ``axis`` on MATH, Triton's: a NaN loses to any number; bfloat16 and
    types narrower than 32 bits give float32 (floats) or int32 (integers); with
    ``return_indices``, (maximum, its index) in the input's dtype (bfloat16: float32)."""
    return _extremum("max", input, axis, return_indices, keep_dims, np.fmax.reduce, argmax)


def min(input: TileLike, axis: IntLike | None = None, return_indices: BoolLike = False,  # noqa: A001, A002
        return_indices_tie_break_left: BoolLike = True,
        keep_dims: BoolLike = False) -> tensor | tuple[tensor, tensor]:  # fmt: skip
    """Minimum over ``axis`` on MATH: as ``max``."""
    return _extremum("min", input, axis, return_indices, keep_dims, np.fmin.reduce, argmin)


def _extremum(name: str, x: TileLike, axis: IntLike | None, return_indices: BoolLike,
              keep_dims: BoolLike, reduce: Callable[..., np.ndarray],
              arg: Callable[..., tensor]) -> Any:  # fmt: skip
    x = _check_block(name, x)
    x = _bf16_as_float32(x)[0]
    if return_indices:
        values = _reduce(name, x, axis, keep_dims, _all_axes(reduce))
        return values, arg(x, axis, keep_dims=keep_dims)
    dtype = x.dtype
    if dtype.itemsize < 4:  # Triton's narrow widening
        dtype = float32 if _is_float(dtype) else int32
    return _reduce(name, x, axis, keep_dims, _all_axes(reduce), dtype)


def _all_axes(reduce: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """A ufunc's ``reduce`` over ``axis``, or every axis when None (what np.max takes)."""

    def over(v, axis, keepdims):
        return reduce(v, axis=tuple(range(v.ndim)) if axis is None else axis, keepdims=keepdims)

    return over


def _arg(fn):
    def reduce(v, axis, keepdims):
        if axis is None:
            return np.asarray(fn(v, axis=None), dtype=np.int32).reshape(
                (1,) * v.ndim if keepdims else ()
            )
        return fn(v, axis=axis, keepdims=keepdims)

    return reduce


def argmax(input: TileLike, axis: IntLike, tie_break_left: BoolLike = True,  # noqa: A002
           keep_dims: BoolLike = False) -> tensor:  # fmt: skip
    """Index of the maximum over ``axis`` (first one on ties), int32, on MATH."""
    return _reduce("argmax", input, axis, keep_dims, _arg(np.argmax), int32)


def argmin(input: TileLike, axis: IntLike, tie_break_left: BoolLike = True,  # noqa: A002
           keep_dims: BoolLike = False) -> tensor:  # fmt: skip
    """Index of the minimum over ``axis`` (first one on ties), int32, on MATH."""
    return _reduce("argmin", input, axis, keep_dims, _arg(np.argmin), int32)


def _sum_dtype(in_dtype: np.dtype, dtype: Any) -> np.dtype:
    """Triton's ``_pick_sum_dtype``: ``dtype`` when given, else integers narrower than
    32 bits widen to int32 (signed) or uint32 (unsigned, bool); others keep theirs."""
    if dtype is not None:
        return _dtype(dtype)
    if in_dtype.kind in "iub" and in_dtype.itemsize < 4:
        return int32 if in_dtype.kind == "i" else uint32
    return in_dtype


def _scan(
    name: str,
    x: TileLike,
    axis: IntLike,
    reverse: BoolLike,
    fn: Callable[..., np.ndarray],
    dtype: np.dtype,
) -> tensor:
    """An inclusive scan of ``x`` along ``axis`` (from the end when ``reverse``), computed
    in ``dtype``: one MATH op over every element (``cycles_per_op['scan']``)."""
    x = _check_block(name, x)
    if not x.shape:
        raise usage_error(f"tl.{name} needs a tile of at least one dimension, got a scalar")
    if (
        isinstance(axis, bool) or not isinstance(axis, (int, np.integer))
        or axis not in range(-len(x.shape), len(x.shape))
    ):  # fmt: skip
        raise usage_error(f"tl.{name}: axis {axis!r} out of range for shape {x.shape}")
    axis = int(axis) % len(x.shape)

    def compute(v):
        v = np.asarray(v).astype(dtype)
        if reverse:
            return np.flip(fn(np.flip(v, axis), axis=axis, dtype=dtype), axis)
        return fn(v, axis=axis, dtype=dtype)

    return _math_op(name, (x,), x.shape, dtype, compute, cost_key="scan",
                    elements=math.prod(x.shape))  # fmt: skip


def cumsum(input: TileLike, axis: IntLike = 0, reverse: BoolLike = False, dtype=None) -> tensor:  # noqa: A002
    """Inclusive running sum along ``axis`` (from the last element back when ``reverse``)
    in a tile of ``input``'s shape, on MATH (``cycles_per_op['scan']`` per lane-wide
    chunk).

    As in Triton, it accumulates in ``dtype`` when given; otherwise integers narrower than
    32 bits (and bool) in int32 (uint32 when unsigned), bfloat16 in float32, everything
    else in its own dtype.
    """
    input = _check_block("cumsum", input)
    in_dtype = float32 if input.dtype == bfloat16 else input.dtype  # Triton promotes bf16
    return _scan("cumsum", input, axis, reverse, np.cumsum, _sum_dtype(in_dtype, dtype))


def cumprod(input: TileLike, axis: IntLike = 0, reverse: BoolLike = False) -> tensor:  # noqa: A002
    """Inclusive running product along ``axis`` (from the last element back when
    ``reverse``) in a tile of ``input``'s shape and dtype, on MATH
    (``cycles_per_op['scan']`` per lane-wide chunk)."""
    input = _check_block("cumprod", input)
    dtype = float32 if input.dtype == bfloat16 else np.dtype(input.dtype)  # as cumsum
    return _scan("cumprod", input, axis, reverse, np.cumprod, dtype)


def softmax(x: TileLike, dim: IntLike | None = None, keep_dims: BoolLike = False,
            ieee_rounding: BoolLike = False) -> tensor:  # fmt: skip
    """Softmax along ``dim`` (0 when None), as Triton's ``standard.softmax`` computes it:
    ``z = x - max(x, dim, keep_dims)``, ``num = exp(z)``, ``den = sum(num, dim,
    keep_dims)``, ``fdiv(num, den)``: five MATH ops, each costing what it costs alone.

    ``keep_dims`` applies to both reductions, so without it the statistics broadcast back
    against ``x`` only along the leading axes: for ``dim=1`` of a 2-D tile pass
    ``keep_dims=True``. Otherwise, as in Triton, the shapes do not broadcast (an error) or,
    for a square tile, element ``(i, j)`` is normalised by row ``j``'s statistics.
    """
    x = _check_block("softmax", x)
    if not _is_float(x.dtype):
        raise usage_error(f"tl.softmax takes a floating-point tile, got {x.dtype}")
    axis = 0 if dim is None else dim
    if (
        isinstance(axis, bool) or not isinstance(axis, (int, np.integer))
        or axis not in range(-len(x.shape), len(x.shape))
    ):  # fmt: skip
        raise usage_error(f"tl.softmax: dim {dim!r} out of range for shape {x.shape}")
    if not keep_dims:
        reduced = tuple(s for i, s in enumerate(x.shape) if i != int(axis) % len(x.shape))
        try:
            np.broadcast_shapes(x.shape, reduced)
        except ValueError:
            raise usage_error(
                f"tl.softmax: dim={dim} without keep_dims: statistics of shape {reduced} do "
                f"not broadcast against {x.shape}; pass keep_dims=True"
            ) from None
    z = x - max(x, axis, keep_dims=keep_dims)
    num = exp(z)
    den = sum(num, axis, keep_dims=keep_dims)
    return fdiv(num, den, ieee_rounding)
