"""Integer scalars as Triton types them.

``tl.program_id`` and ``tl.num_programs`` give int32 values, and Triton's tutorials widen
them before multiplying by a stride (``pid.to(tl.int64) * stride``), since an int32
product past 2**31 wraps into a wrong address. An :class:`IntScalar` is a Python int (it
indexes, ranges and compares as one) that carries its dtype through integer arithmetic:

- ``//`` truncates toward zero and ``%`` keeps the dividend's sign (C's rules, which
  Triton follows: ``-7 // 3 == -2``);
- int32 with int32 stays int32; with int64, or with a Python int outside int32, it is
  int64 (a Python int is weakly typed, as a literal is in Triton);
- a result outside its dtype's range is an error that names the operands: Triton would
  wrap it silently.

With a float (a number, or a float argument) the result is a float32
:class:`FloatScalar`, as Triton's int32 tensor with a float is float32, and so is
``/``: ``n / 4`` is a float32 division. Any other operand (a tile, a numpy value) gets
the plain int's behaviour: a tile combines with it as with a Python int, except that an
int64 scalar widens an integer tile to int64, as in Triton.

A :class:`FloatScalar` (a float kernel argument) computes with numbers and scalars in
float32 and stays one: ``scale * 2.0`` and ``1.0 / scale`` are float32 scalars, as
Triton's are (a Python float would be float64 and weakly typed).

A comparison of these scalars with a number or another scalar (``pid == 0``) is a
:class:`BoolScalar`: it branches as a bool, and is Triton's int1 value, so
``(pid == 0).to(tl.int32)`` and ``tl.where(pid == 0, a, b)`` work as in Triton.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.language.context import usage_error

_INT32 = np.dtype(np.int32)
_BOOL = np.dtype(np.bool_)
_INT_DTYPES = {np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64,
                                     np.uint8, np.uint16, np.uint32, np.uint64)}  # fmt: skip


def _truncated_div(a: int, b: int) -> int:
    """C's integer division: the quotient rounded toward zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _truncated_mod(a: int, b: int) -> int:
    """C's remainder: ``a - b * (a / b)`` with the truncated quotient (sign of ``a``)."""
    return a - b * _truncated_div(a, b)


def as_tile(value: np.ndarray) -> Any:
    """A 0-d value as a tile (``pid.to(tl.float32)``). Tiles live in core, which imports
    this module: core sets this function when it loads."""
    raise NotImplementedError


class IntScalar(int):
    """A Python int with an integer dtype (``tl.int32`` for program ids)."""

    dtype: np.dtype

    def __new__(cls, value: int, dtype: np.dtype = _INT32) -> IntScalar:
        self = super().__new__(cls, value)
        self.dtype = dtype
        return self

    def __repr__(self) -> str:
        return f"{int(self)} ({self.dtype})"

    __str__ = int.__repr__  # f-strings and messages print the number alone

    def to(self, dtype: Any, fp_downcast_rounding: str | None = None,
           bitcast: bool = False) -> Any:  # fmt: skip
        """The value as ``dtype``: an :class:`IntScalar` for an integer dtype (narrowed by
        wrapping, as a C cast does), a 0-d tile of that dtype otherwise; with
        ``bitcast`` the same bits read as ``dtype`` of the same size."""
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise usage_error(f"unknown dtype {dtype!r}") from None
        value = np.array(int(self)).astype(self.dtype)
        if bitcast:
            if target.itemsize != self.dtype.itemsize:
                raise usage_error(f"scalar.to(bitcast=True): {self.dtype} and {target} differ in "
                             "size")  # fmt: skip
            value = value.view(target)
        else:
            with np.errstate(all="ignore"):
                value = value.astype(target)
        if target in _INT_DTYPES:
            return IntScalar(int(value), target)
        return as_tile(value)

    def _combine(self, other: Any, symbol: str, fn: Callable[[int, int], int],
                 reflected: bool) -> Any:  # fmt: skip
        if isinstance(other, float) and symbol in _FLOAT_OPS:  # float32, as in Triton
            return _float32(self, other, _FLOAT_OPS[symbol], reflected)
        if not isinstance(other, int):
            return NotImplemented  # a tile or a numpy value: theirs to handle
        dtype = self.dtype
        if isinstance(other, IntScalar):
            dtype = np.promote_types(dtype, other.dtype)
        elif not isinstance(other, bool):
            if dtype == _BOOL:  # int1 with an int literal: the literal's int32, as Triton
                dtype = _INT32
            info = np.iinfo(dtype)
            if not info.min <= other <= info.max:
                dtype = np.dtype(np.int64)
        a, b = (int(other), int(self)) if reflected else (int(self), int(other))
        if symbol in ("//", "%") and b == 0:
            raise usage_error(f"integer {a} {symbol} 0: division by zero")
        result = fn(a, b)
        if dtype == _BOOL:  # two int1 values: 1-bit arithmetic wraps, as Triton's does
            return BoolScalar(result & 1)
        info = np.iinfo(dtype)
        if not info.min <= result <= info.max:
            raise usage_error(
                f"{dtype} overflow: {a} {symbol} {b} = {result} does not fit {dtype} "
                f"(Triton would wrap it); widen an operand first, e.g. "
                f"pid.to(tl.int64)"
            )
        return IntScalar(result, dtype)

    def __truediv__(self, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented
        return _float32(self, other, operator.truediv, False)

    def __rtruediv__(self, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented
        return _float32(self, other, operator.truediv, True)

    def __neg__(self) -> IntScalar:
        return self._combine(0, "-", operator.sub, True)

    def __pos__(self) -> IntScalar:
        return self

    def __abs__(self) -> IntScalar:
        return self if int(self) >= 0 else -self


class BoolScalar(IntScalar):
    """A comparison of scalars (``pid == 0``): an int 0 or 1, so it branches, counts
    and indexes as Python's bool does, typed int1 as Triton types it."""

    def __new__(cls, value: Any) -> BoolScalar:
        return super().__new__(cls, 1 if value else 0, _BOOL)

    def __repr__(self) -> str:
        return "True" if self else "False"

    __str__ = __repr__

    def __invert__(self) -> BoolScalar:  # int1's not, as ``~`` of a Triton bool
        return BoolScalar(not self)


def _comparison(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    """A scalar's comparison: a :class:`BoolScalar` with a number or scalar; anything
    else (a tile, a numpy value) compares as it would with a Python number."""

    def compare(self: Any, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented
        return BoolScalar(fn(self._number(self), other))

    return compare


class LoopIndex(int):
    """A ``for`` loop's variable in a kernel: an int (its arithmetic gives plain ints,
    at an int's speed) that Triton types as an int32 tensor, so ``i.to(tl.int64)`` works
    (flash-linear-attention writes it), and its comparisons are int1 values
    (:class:`BoolScalar`)."""

    __slots__ = ()

    @property
    def dtype(self) -> np.dtype:
        return _INT32 if -(2**31) <= self < 2**31 else np.dtype(np.int64)

    def to(self, dtype: Any, fp_downcast_rounding: str | None = None,
           bitcast: bool = False) -> Any:  # fmt: skip
        """As :meth:`IntScalar.to` of the index."""
        return IntScalar(int(self), self.dtype).to(dtype, fp_downcast_rounding, bitcast)


class LoopRange:
    """``range(...)`` in a kernel (and ``tl.range``): Python's range, whose loop variable
    is a :class:`LoopIndex`."""

    __slots__ = ("values",)

    def __init__(self, *args: Any) -> None:
        self.values = range(*args)

    def __iter__(self) -> Any:
        return map(LoopIndex, self.values)

    def __reversed__(self) -> Any:
        return map(LoopIndex, reversed(self.values))

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, value: Any) -> bool:
        return value in self.values

    def __getitem__(self, index: Any) -> Any:
        item = self.values[index]
        return LoopIndex(item) if isinstance(item, int) else item

    def __repr__(self) -> str:
        return repr(self.values)


class FloatScalar(float):
    """A float kernel argument as Triton passes it: a float32 scalar (its value rounded
    to float32), which takes part in a tile's promotion as a float32 operand
    (``x_f16 * scale`` is float32)."""

    dtype = np.dtype(np.float32)

    def __new__(cls, value: float) -> FloatScalar:
        return super().__new__(cls, float(np.float32(value)))

    def __repr__(self) -> str:
        return f"{float(self)} (float32)"

    __str__ = float.__repr__

    def to(self, dtype: Any, fp_downcast_rounding: str | None = None,
           bitcast: bool = False) -> Any:  # fmt: skip
        """The value as a 0-d tile of ``dtype`` (``bitcast``: its float32 bits)."""
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise usage_error(f"unknown dtype {dtype!r}") from None
        value = np.array(float(self), np.float32)
        if bitcast:
            if target.itemsize != 4:
                raise usage_error(f"scalar.to(bitcast=True): float32 and {target} differ in size")
            return as_tile(value.view(target))
        with np.errstate(all="ignore"):
            return as_tile(value.astype(target))


# Float scalars' operators, computed in float32 (``%`` as C's fmod, which Triton's frem is).
_FLOAT_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "%": np.fmod,
}  # fmt: skip


def _float32(scalar: Any, other: Any, fn: Callable[[Any, Any], Any], reflected: bool) -> Any:
    """``scalar fn other`` (``other fn scalar`` when ``reflected``) in float32: a
    :class:`FloatScalar`."""
    a, b = np.float32(scalar), np.float32(other)
    with np.errstate(all="ignore"):
        result = fn(b, a) if reflected else fn(a, b)
    return FloatScalar(result)


def _float_methods(fn: Callable[[Any, Any], Any]) -> tuple[Callable, Callable]:
    def method(self: FloatScalar, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented  # a tile: its promotion takes this as float32
        return _float32(self, other, fn, False)

    def reflected(self: FloatScalar, other: Any) -> Any:
        if not isinstance(other, (int, float)):
            return NotImplemented
        return _float32(self, other, fn, True)

    return method, reflected


for _name, _fn in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("mod", np.fmod)):  # fmt: skip
    _method, _reflected = _float_methods(_fn)
    setattr(FloatScalar, f"__{_name}__", _method)
    setattr(FloatScalar, f"__r{_name}__", _reflected)
for _scalar, _number in ((IntScalar, int), (FloatScalar, float), (LoopIndex, int)):
    _scalar._number = staticmethod(_number)  # its value as the plain number
    for _name, _fn in (("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt),
                       ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge)):  # fmt: skip
        setattr(_scalar, f"__{_name}__", _comparison(_fn))
    _scalar.__hash__ = _number.__hash__  # equal to the number it holds, as a dict key too
FloatScalar.__neg__ = lambda self: FloatScalar(-float(self))  # type: ignore[method-assign]
FloatScalar.__abs__ = lambda self: FloatScalar(abs(float(self)))  # type: ignore[method-assign]


def _binary_methods(symbol: str, fn: Callable[[int, int], int]) -> tuple[Callable, Callable]:
    def method(self: IntScalar, other: Any) -> Any:
        return self._combine(other, symbol, fn, False)

    def reflected(self: IntScalar, other: Any) -> Any:
        return self._combine(other, symbol, fn, True)

    return method, reflected


for _name, _symbol, _fn in (
    ("add", "+", operator.add),
    ("sub", "-", operator.sub),
    ("mul", "*", operator.mul),
    ("floordiv", "//", _truncated_div),
    ("mod", "%", _truncated_mod),
    ("lshift", "<<", operator.lshift),
    ("rshift", ">>", operator.rshift),
    ("and", "&", operator.and_),
    ("or", "|", operator.or_),
    ("xor", "^", operator.xor),
):
    _method, _reflected = _binary_methods(_symbol, _fn)
    setattr(IntScalar, f"__{_name}__", _method)
    setattr(IntScalar, f"__r{_name}__", _reflected)
