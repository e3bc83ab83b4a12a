"""tl.reduce and tl.associative_scan with combine functions: against numpy and plain loops
(order kept for combines that do not commute), and charged as the combine's own ops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.hw.topology import load_topology
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

ROWS, COLS = 4, 8
RNG = np.random.default_rng(11)
A = RNG.uniform(0.5, 1.5, (ROWS, COLS)).astype(np.float32)
B = RNG.integers(-3, 4, (ROWS, COLS)).astype(np.float32)


@tl.jit
def add(a, b):
    return a + b


@tl.jit
def first_nonzero(a, b):
    """Associative, not commutative: the earlier element unless it is 0."""
    return tl.where(a != 0, a, b)


@tl.jit
def affine(a1, b1, a2, b2):
    """Composition of h -> a1 h + b1, then h -> a2 h + b2 (a linear recurrence's step)."""
    return a1 * a2, b1 * a2 + b2


@tl.jit
def argmax_combine(v1, i1, v2, i2):
    """The larger value, the smaller index on ties."""
    take_first = (v1 > v2) | ((v1 == v2) & (i1 < i2))
    return tl.where(take_first, v1, v2), tl.where(take_first, i1, i2)


def _run(body, out_shape, list_writer=None, topology="default"):
    """One program loads A and B (4 x 8 float32) and stores ``body(a, b)`` (a tile or a
    tuple, stored one after the other) into a float32 tensor; returns its values."""
    n_out = math.prod(out_shape)

    @tl.jit
    def kernel(a_ptr, b_ptr, out_ptr):
        offs = tl.arange(0, ROWS)[:, None] * COLS + tl.arange(0, COLS)[None, :]
        result = body(tl.load(a_ptr + offs), tl.load(b_ptr + offs))
        parts = result if isinstance(result, tuple) else (result,)
        each = n_out // len(parts)
        for k, part in enumerate(parts):
            flat = tl.reshape(part.to(tl.float32), (each,))
            tl.store(out_ptr + k * each + tl.arange(0, each), flat)

    kwargs = {"writer": list_writer} if list_writer is not None else {}
    rt = Runtime(topology, verify_data=True, **kwargs)
    place = Placement.single(0)
    a, b = (rt.from_numpy(m.ravel(), placement=place) for m in (A, B))
    out = rt.zeros((n_out,), "float32", place)
    rt.launch(kernel, a, b, out, grid=(1,), pes=[0])
    rt.synchronize()
    return out.numpy().reshape(out_shape)


def _scan_loop(values, combine, reverse=False):
    """Inclusive scan along the last axis by its definition, one element at a time."""
    out = np.array(values, dtype=np.float64)
    order = range(out.shape[-1] - 2, -1, -1) if reverse else range(1, out.shape[-1])
    for j in order:
        partner = j + 1 if reverse else j - 1
        out[..., j] = combine(out[..., partner], out[..., j])
    return out


def test_reduce_matches_numpy_on_every_axis():
    np.testing.assert_allclose(_run(lambda a, b: tl.reduce(a, 1, add), (4,)), A.sum(1), rtol=1e-6)
    np.testing.assert_allclose(_run(lambda a, b: tl.reduce(a, 0, tl.maximum), (8,)), A.max(0))
    np.testing.assert_allclose(_run(lambda a, b: tl.reduce(a, None, add), (1,)), [A.sum()],
                               rtol=1e-5)  # fmt: skip
    kept = _run(lambda a, b: a.reduce(1, add, keep_dims=True), (4, 1))
    np.testing.assert_allclose(kept, A.sum(1, keepdims=True), rtol=1e-6)


def test_reduce_keeps_the_order_of_a_combine_that_does_not_commute():
    """first_nonzero over each row is the row's first nonzero element (0 if none)."""
    got = _run(lambda a, b: tl.reduce(b, 1, first_nonzero), (4,))
    expected = [next((v for v in row if v != 0), 0.0) for row in B]
    assert got.tolist() == expected


def test_reduce_of_a_tuple_is_argmax_with_its_index():
    b_with_ties = np.where(B > 1, 3.0, B)  # ties at the maximum: the first one wins

    def body(a, b):
        ties = tl.where(b > 1, 3.0, b)
        index = tl.broadcast_to(tl.arange(0, COLS)[None, :], (ROWS, COLS)).to(tl.float32)
        return tl.reduce((ties, index), 1, argmax_combine)

    got = _run(body, (2, 4))
    np.testing.assert_array_equal(got[0], b_with_ties.max(1))
    np.testing.assert_array_equal(got[1], b_with_ties.argmax(1))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_is_the_definition_for_sums_and_for_a_linear_recurrence(reverse):
    """Sums: the cumulative sum. (a, b) pairs under affine composition: h_j = a_j h_{j-1} +
    b_j from h = 0, which a plain loop gives (and, reversed, from the end)."""
    sums = _run(lambda a, b: tl.associative_scan(a, 1, add, reverse=reverse), (4, 8))
    np.testing.assert_allclose(sums, _scan_loop(A, np.add, reverse), rtol=1e-6)
    pairs = _run(lambda a, b: tl.associative_scan((a, b), 1, affine, reverse=reverse), (2, 4, 8))

    def compose(earlier, later):  # on (a, b) pairs stacked in the last axis
        return earlier * later

    expected_a = _scan_loop(A, compose, reverse)
    h = np.zeros(ROWS)
    expected_b = np.zeros((ROWS, COLS))
    for j in range(COLS - 1, -1, -1) if reverse else range(COLS):
        h = A[:, j] * h + B[:, j]
        expected_b[:, j] = h
    np.testing.assert_allclose(pairs[0], expected_a, rtol=1e-5)
    np.testing.assert_allclose(pairs[1], expected_b, rtol=1e-5, atol=1e-5)


def test_scan_keeps_the_order_of_a_combine_that_does_not_commute():
    got = _run(lambda a, b: b.associative_scan(1, first_nonzero), (4, 8))
    expected = _scan_loop(B, lambda earlier, later: np.where(earlier != 0, earlier, later))
    np.testing.assert_array_equal(got, expected)


def test_charged_as_the_combine_s_own_ops(list_writer):
    """A row reduction of 8 elements with an adding combine: three MATH adds over 16, 8 and
    4 elements, after shuffles of the odd 16, 8 and 4; a scan: three shuffles, adds and
    selects over all 32. Each takes ceil(elements / 8 lanes) * its cycles / clock (adds
    cycles_per_op['add'], shuffles the lane crossbar's 'trans')."""
    topology = load_topology("default", overrides={"pe.math.lanes": 8,
                                                   "pe.math.cycles_per_op.add": 13,
                                                   "pe.math.cycles_per_op.trans": 7})  # fmt: skip
    _run(lambda a, b: (tl.reduce(a, 1, add), tl.reduce(b, 1, add)), (2, 4), list_writer,
         topology)  # fmt: skip
    pe = topology.params.pe

    def durations(op: str) -> list[float]:
        return sorted(r["end_ns"] - r["start_ns"] for r in list_writer.rows["ops"] if r["op"] == op)

    steps = sorted(2 * [math.ceil(n / 8) for n in (16, 8, 4)])
    assert durations("add") == pytest.approx([s * 13 / pe.clock_ghz for s in steps], rel=1e-12)
    assert durations("shuffle") == pytest.approx([s * 7 / pe.clock_ghz for s in steps],
                                                 rel=1e-12)  # fmt: skip
    list_writer.rows.clear()
    _run(lambda a, b: tl.associative_scan(a, 1, add), (4, 8), list_writer, topology)
    ops = [r["op"] for r in list_writer.rows["ops"] if r["engine"] == "MATH"]
    assert sorted(ops) == ["add"] * 3 + ["cast"] + ["shuffle"] * 3 + ["where"] * 3
    assert durations("shuffle") == pytest.approx(3 * [4 * 7 / pe.clock_ghz], rel=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: tl.reduce((x, x), 0, lambda a0, a1, b0, b1: a0 + b0),
         r"combine_fn returned 1 values for 2 inputs"),
        (lambda x: tl.reduce(x, 2, add), r"tl\.reduce: axis 2 out of range for shape \(4,\)"),
        (lambda x: tl.associative_scan(tl.zeros((6,), tl.float32), 0, add),
         r"tl\.associative_scan: the axis has 6 elements, not a power of 2"),
        (lambda x: tl.reduce(x, 0, lambda a, b: 1.0), r"combine_fn must return tiles, got float"),
    ],
)  # fmt: skip
def test_misuse_is_one_clear_error(call, match):
    @tl.jit
    def misuse(x_ptr):
        call(tl.load(x_ptr + tl.arange(0, 4)))

    fails_clearly(misuse, match=match)


def test_a_combine_of_the_wrong_arity_fails_the_kernel_naming_its_call():
    @tl.jit
    def one_argument(x_ptr):
        tl.reduce(tl.load(x_ptr + tl.arange(0, 4)), 0, lambda a: a)

    rt = Runtime("default")
    x = rt.zeros((100,), "float32", Placement.single(0))
    with pytest.raises(Exception, match=r"takes 1 positional argument"):
        rt.launch(one_argument, x, grid=(1,), pes=[0])
        rt.synchronize()
