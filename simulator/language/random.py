"""Triton's random numbers: ``tl.randint``, ``randint4x``, ``rand``, ``rand4x``, ``randn``,
``randn4x``, ``philox``, ``uint_to_uniform_float`` and ``pair_uniform_to_normal``, bit
for bit as ``triton.language.random`` computes them.

A stream is Philox-4x32 keyed by the seed (its low and high 32 bits), with each element's
offset as the counter (its low and high 32 bits; the other two words 0): ``randint``
is the first word, ``rand`` maps a word to a float32 in [0, 1) and ``randn`` maps two of
them to a normal with the Box-Muller transform. ``philox`` of 64-bit counters is
Philox-4x64, keyed by the seed and 0, as Triton's: four uint64 blocks. The same seed
and offsets give the same numbers in every program, as in Triton, so kernels such as the
seeded dropout of Triton's tutorial reproduce their masks.

Costs, on MATH (``pe.math.cycles_per_op``): the Philox rounds issue one op ``philox``
charged ``philox_round`` per round and element (``philox_round_64`` for 64-bit counters); turning
words into uniforms one op ``uniform`` (``uniform`` per word); and the Box-Muller
transform one op ``box_muller`` (``box_muller`` per normal). Unlike index arithmetic,
the numbers are never folded at issue: they are data the vector unit computes, even
when the offsets are ``tl.arange``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.language.core import (
    _const,
    _known_values,
    _math_op,
    _program,
    _unsigned_high64,
    _view,
    float32,
    tensor,
    uint32,
    uint64,
    usage_error,
)

N_ROUNDS_DEFAULT = 10  # Triton's default number of Philox rounds
# Philox-4x32 constants (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
_ROUND_A, _ROUND_B = 0xD2511F53, 0xCD9E8D57
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85
_WORD = 0xFFFFFFFF
# Philox-4x64 constants (the same paper; Triton's for 64-bit counters).
_ROUND_A64, _ROUND_B64 = 0xD2E7470EE14C6C93, 0xCA5A826395121157
_KEY_A64, _KEY_B64 = 0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B
_WORD64 = (1 << 64) - 1
# The largest scale with (2**31 - 1) * scale < 1 in float32 (Triton's uint_to_uniform_float).
_UNIFORM_SCALE = np.float32(4.6566127342e-10)
# The same for 64-bit words: (2**63 - 1) * scale < 1 in float32.
_UNIFORM_SCALE64 = np.float32(1.0842020432385337e-19)
_TWO_PI = np.float32(6.283185307179586)


def philox_words(seed: int, c0: np.ndarray, c1: np.ndarray, c2: np.ndarray, c3: np.ndarray,
                 n_rounds: int = N_ROUNDS_DEFAULT) -> tuple[np.ndarray, ...]:  # fmt: skip
    """``n_rounds`` Philox-4x32 rounds of the uint32 counters keyed by ``seed`` (taken
    modulo 2**64: its low word is the first key, its high word the second)."""
    seed %= 1 << 64
    k0, k1 = seed & _WORD, (seed >> 32) & _WORD
    c0, c1, c2, c3 = (np.asarray(c, np.uint32) for c in (c0, c1, c2, c3))
    for _ in range(n_rounds):
        product_a = c0.astype(np.uint64) * np.uint64(_ROUND_A)
        product_b = c2.astype(np.uint64) * np.uint64(_ROUND_B)
        c0, c1, c2, c3 = (
            (product_b >> np.uint64(32)).astype(np.uint32) ^ c1 ^ np.uint32(k0),
            product_b.astype(np.uint32),  # the low word of the product
            (product_a >> np.uint64(32)).astype(np.uint32) ^ c3 ^ np.uint32(k1),
            product_a.astype(np.uint32),
        )
        k0, k1 = (k0 + _KEY_A) & _WORD, (k1 + _KEY_B) & _WORD
    return c0, c1, c2, c3


def philox_words64(key0: int, key1: int, c0: np.ndarray, c1: np.ndarray, c2: np.ndarray,
                   c3: np.ndarray, n_rounds: int = N_ROUNDS_DEFAULT,
                   ) -> tuple[np.ndarray, ...]:  # fmt: skip
    """``n_rounds`` Philox-4x64 rounds of the uint64 counters keyed by (``key0``,
    ``key1``), each taken modulo 2**64 (Triton's 64-bit ``philox``: the seed and 0)."""
    k0, k1 = key0 & _WORD64, key1 & _WORD64
    c0, c1, c2, c3 = (np.asarray(c, np.uint64) for c in (c0, c1, c2, c3))
    for _ in range(n_rounds):
        c0, c1, c2, c3 = (
            _unsigned_high64(np.uint64(_ROUND_B64), c2) ^ c1 ^ np.uint64(k0),
            c2 * np.uint64(_ROUND_B64),  # the low word of the product (wraps)
            _unsigned_high64(np.uint64(_ROUND_A64), c0) ^ c3 ^ np.uint64(k1),
            c0 * np.uint64(_ROUND_A64),
        )
        k0, k1 = (k0 + _KEY_A64) & _WORD64, (k1 + _KEY_B64) & _WORD64
    return c0, c1, c2, c3


def uniform_values(words: np.ndarray) -> np.ndarray:
    """32- or 64-bit words as float32 in [0, 1): reinterpreted as signed, negatives
    bit-flipped, converted and scaled (Triton's ``uint_to_uniform_float``)."""
    words = np.asarray(words)
    if words.dtype.itemsize == 8:
        signed = words.astype(np.uint64).view(np.int64)
        scale = _UNIFORM_SCALE64
    else:
        signed = words.astype(np.uint32).view(np.int32)
        scale = _UNIFORM_SCALE
    signed = np.where(signed < 0, ~signed, signed)
    return signed.astype(np.float32) * scale


def normal_pair(u1: np.ndarray, u2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 normals from two uniforms (Box-Muller, ``u1`` kept above 1e-7)."""
    u1 = np.maximum(np.float32(1e-7), u1)
    theta = _TWO_PI * u2
    radius = np.sqrt(np.float32(-2.0) * np.log(u1))
    return radius * np.cos(theta), radius * np.sin(theta)


def randint4x(seed: Any, offset: Any, n_rounds: int = N_ROUNDS_DEFAULT) -> tuple[tensor, ...]:
    """Four blocks of random uint32 for the ``offset`` block (one Philox block each)."""
    words = _philox_of_offsets("randint4x", seed, offset, n_rounds)
    return tuple(_word(words, i) for i in range(4))


def randint(seed: Any, offset: Any, n_rounds: int = N_ROUNDS_DEFAULT) -> tensor:
    """A block of random uint32: ``randint4x``'s first."""
    return _word(_philox_of_offsets("randint", seed, offset, n_rounds), 0)


def rand(seed: Any, offset: Any, n_rounds: int = N_ROUNDS_DEFAULT) -> tensor:
    """A block of random float32, uniform in [0, 1)."""
    first = _word(_philox_of_offsets("rand", seed, offset, n_rounds), 0)
    return _math_op("uniform", (first,), first.shape, float32, uniform_values, fold=False)


def rand4x(seed: Any, offset: Any, n_rounds: int = N_ROUNDS_DEFAULT) -> tuple[tensor, ...]:
    """Four blocks of random float32, uniform in [0, 1)."""
    words = _philox_of_offsets("rand4x", seed, offset, n_rounds)
    uniforms = _math_op("uniform", (words,), words.shape, float32, uniform_values, fold=False)
    return tuple(_word(uniforms, i) for i in range(4))


def randn(seed: Any, offset: Any, n_rounds: int = N_ROUNDS_DEFAULT) -> tensor:
    """A block of random float32 from the standard normal (the first two words)."""
    words = _philox_of_offsets("randn", seed, offset, n_rounds)
    pair = _view(words, (2, *words.shape[1:]), lambda w: w[:2])
    uniforms = _math_op("uniform", (pair,), pair.shape, float32, uniform_values, fold=False)
    shape = words.shape[1:]
    return _math_op("box_muller", (uniforms,), shape, float32,
                    lambda u: normal_pair(u[0], u[1])[0], fold=False,
                    elements=math.prod(shape))  # fmt: skip


def randn4x(seed: Any, offset: Any, n_rounds: int = N_ROUNDS_DEFAULT) -> tuple[tensor, ...]:
    """Four blocks of random float32 from the standard normal (two Box-Muller pairs)."""
    words = _philox_of_offsets("randn4x", seed, offset, n_rounds)
    uniforms = _math_op("uniform", (words,), words.shape, float32, uniform_values, fold=False)

    def normals(u: np.ndarray) -> np.ndarray:
        return np.stack([*normal_pair(u[0], u[1]), *normal_pair(u[2], u[3])])

    both = _math_op("box_muller", (uniforms,), words.shape, float32, normals, fold=False)
    return tuple(_word(both, i) for i in range(4))


def philox(seed: Any, c0: Any, c1: Any, c2: Any, c3: Any,
           n_rounds: int = N_ROUNDS_DEFAULT) -> tuple[tensor, ...]:  # fmt: skip
    """``n_rounds`` Philox rounds of four 32-bit counter blocks (broadcast together),
    keyed by ``seed``: four uint32 blocks."""
    seed_value = _seed("philox", seed)
    rounds = _rounds("philox", n_rounds)
    counters = [_integers("philox", c) for c in (c0, c1, c2, c3)]
    widths = {c.dtype.itemsize for c in counters}
    if widths not in ({4}, {8}):
        raise usage_error(
            "tl.philox: counters must be all 32-bit or all 64-bit integers, got "
            f"{', '.join(str(c.dtype) for c in counters)}"
        )
    wide = widths == {8}
    try:
        shape = np.broadcast_shapes(*(c.shape for c in counters))
    except ValueError:
        raise usage_error(
            f"tl.philox: counter shapes {[c.shape for c in counters]} do not broadcast"
        ) from None

    def fn(*values: np.ndarray) -> np.ndarray:
        if wide:  # the counters' bits as uint64, keyed by the seed and 0
            words = [np.broadcast_to(v.astype(np.uint64), shape) for v in values]
            return np.stack(philox_words64(seed_value, 0, *words, n_rounds=rounds))
        words = [np.broadcast_to(v.astype(np.uint32), shape) for v in values]
        return np.stack(philox_words(seed_value, *words, n_rounds=rounds))

    words = _math_op("philox", tuple(counters), (4, *shape), uint64 if wide else uint32, fn,
                     cost_key="philox_round_64" if wide else "philox_round",
                     elements=math.prod(shape) * rounds, fold=False)  # fmt: skip
    return tuple(_word(words, i) for i in range(4))


def uint_to_uniform_float(x: Any) -> tensor:
    """Random 32- or 64-bit integers (``x``: a block of them) as float32 in [0, 1)."""
    if not isinstance(x, tensor) or x.dtype.kind not in "iu" or x.dtype.itemsize not in (4, 8):
        what = x.dtype if isinstance(x, tensor) else type(x).__name__
        raise usage_error(f"tl.uint_to_uniform_float takes 32- or 64-bit integers, got {what}")
    return _math_op("uniform", (x,), x.shape, float32, uniform_values, fold=False)


def pair_uniform_to_normal(u1: Any, u2: Any) -> tuple[tensor, tensor]:
    """Two blocks of standard normals from two of uniforms in [0, 1) (Box-Muller)."""
    blocks = []
    for u in (u1, u2):
        if not isinstance(u, tensor) or u.dtype != float32:
            what = u.dtype if isinstance(u, tensor) else type(u).__name__
            raise usage_error(f"tl.pair_uniform_to_normal takes float32 blocks, got {what}")
        blocks.append(u)
    try:
        shape = tuple(np.broadcast_shapes(u1.shape, u2.shape))
    except ValueError:
        raise usage_error(
            f"tl.pair_uniform_to_normal: shapes {u1.shape} and {u2.shape} do not broadcast"
        ) from None
    both = _math_op("box_muller", tuple(blocks), (2, *shape), float32,
                    lambda a, b: np.stack(normal_pair(a, b)), fold=False,
                    elements=2 * math.prod(shape))  # fmt: skip
    return _word(both, 0), _word(both, 1)


def _philox_of_offsets(name: str, seed: Any, offset: Any, n_rounds: Any) -> tensor:
    """One ``philox`` op: the four words of every element of the ``offset`` block, as a
    ``(4, *offset.shape)`` uint32 tile (counters: the offset's low and high words)."""
    seed_value = _seed(name, seed)
    rounds = _rounds(name, n_rounds)
    offsets = _integers(name, offset)

    def fn(values: np.ndarray) -> np.ndarray:
        low = values.astype(np.uint32)  # wraps, as Triton's .to(tl.uint32)
        zero = np.zeros_like(low)
        high = (values >> 32).astype(np.uint32) if values.dtype.itemsize > 4 else zero
        return np.stack(philox_words(seed_value, low, high, zero, zero, rounds))

    return _math_op("philox", (offsets,), (4, *offsets.shape), uint32, fn,
                    cost_key="philox_round", elements=math.prod(offsets.shape) * rounds,
                    fold=False)  # fmt: skip


def _word(words: tensor, index: int) -> tensor:
    """Row ``index`` of a ``(4, ...)`` tile, as a free view."""
    return _view(words, words.shape[1:], lambda w: w[index])


def _seed(name: str, seed: Any) -> int:
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    if isinstance(seed, tensor) and seed.shape == () and seed.dtype.kind in "iu":
        if seed.const is not None:
            return int(seed.const)
        # loaded from memory (a per-row seed): known in data mode, once it arrives
        return int(_known_values(seed, f"tl.{name}: the seed"))
    what = f"a {seed.dtype} tile of shape {seed.shape}" if isinstance(seed, tensor) else (
        type(seed).__name__)  # fmt: skip
    raise usage_error(f"tl.{name}: seed must be an integer scalar (a kernel argument, an index "
                      f"value or a loaded scalar), got {what}")  # fmt: skip


def _rounds(name: str, n_rounds: Any) -> int:
    value = getattr(n_rounds, "value", n_rounds)  # a tl.constexpr
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise usage_error(f"tl.{name}: n_rounds must be a positive integer, got {value!r}")
    return int(value)


def _integers(name: str, value: Any) -> tensor:
    """An integer block (an int becomes an index value)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return _const(_program(), np.asarray(value, np.int32 if -(2**31) <= value < 2**31
                                              else np.int64))  # fmt: skip
    if not isinstance(value, tensor) or value.dtype.kind not in "iu":
        what = value.dtype if isinstance(value, tensor) else type(value).__name__
        raise usage_error(f"tl.{name}: offsets must be an integer block, got {what}")
    return value
