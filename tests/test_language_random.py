"""tl random numbers: bit for bit what Triton's interpreter gave for the same kernel
(tests/golden/triton_random.json), sound statistics, costs from the YAML formula."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from kernel_checks import fails_clearly

import simulator.language as tl
from simulator.hw.topology import load_topology
from simulator.runner import run_workload
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

GOLDEN = json.loads((Path(__file__).parent / "golden" / "triton_random.json").read_text())
BLOCK = GOLDEN["block"]


@tl.jit
def streams(out_int, out_rand, out_randn, out_4x, out_wide, out_r7, seed, BLOCK: tl.constexpr):  # noqa: N803
    # The kernel of the golden file ("kernel"), as Triton ran it.
    offs = tl.arange(0, BLOCK)
    tl.store(out_int + offs, tl.randint(seed, offs))
    tl.store(out_rand + offs, tl.rand(seed, offs))
    tl.store(out_randn + offs, tl.randn(seed, offs))
    a, b, c, d = tl.randint4x(seed, offs + 1000)
    tl.store(out_4x + offs, a)
    tl.store(out_4x + BLOCK + offs, b)
    tl.store(out_4x + 2 * BLOCK + offs, c)
    tl.store(out_4x + 3 * BLOCK + offs, d)
    tl.store(out_wide + offs, tl.randint(seed, offs.to(tl.int64) + (1 << 33) + 5))
    tl.store(out_r7 + offs, tl.rand(seed, offs, n_rounds=7))


def test_the_golden_kernel_is_the_one_tested():
    """Every line of the kernel Triton ran for the golden file is a line of ours."""
    source = Path(__file__).read_text()
    for line in GOLDEN["kernel"].strip().splitlines()[1:]:
        assert line.strip() in source, line


@pytest.mark.parametrize("seed", sorted(GOLDEN["seeds"], key=int))
def test_streams_match_triton_bit_for_bit(seed):
    """randint, randint4x (offsets from 1000), 64-bit offsets past 2**32, rand with 10 and 7
    rounds: exactly Triton's numbers; randn to float32 rounding (libm's log, cos)."""
    expected = GOLDEN["seeds"][seed]
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    outs = [rt.zeros((BLOCK,), "uint32", place), rt.zeros((BLOCK,), "float32", place),
            rt.zeros((BLOCK,), "float32", place), rt.zeros((4 * BLOCK,), "uint32", place),
            rt.zeros((BLOCK,), "uint32", place), rt.zeros((BLOCK,), "float32", place)]  # fmt: skip
    rt.launch(streams, *outs, int(seed), grid=(1,), pes=[0], BLOCK=BLOCK)
    rt.synchronize()
    got = [out.numpy() for out in outs]
    assert got[0].tolist() == expected["randint"]
    assert got[1].tolist() == expected["rand"]
    np.testing.assert_allclose(got[2], expected["randn"], rtol=2e-6, atol=2e-6)
    assert got[3].tolist() == expected["randint4x"]
    assert got[4].tolist() == expected["randint_wide"]
    assert got[5].tolist() == expected["rand_7_rounds"]


@tl.jit
def sample(out_rand, out_randn, seed, BLOCK: tl.constexpr):  # noqa: N803
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_rand + offs, tl.rand(seed, offs))
    n1, n2, n3, n4 = tl.randn4x(seed, offs)
    tl.store(out_randn + offs, n1 + n2 + n3 + n4)


def test_uniforms_and_normals_have_the_right_moments():
    """2**16 draws: uniforms in [0, 1) with mean 1/2 and variance 1/12; the sum of four
    independent normals has mean 0 and variance 4 (5 standard errors of slack)."""
    n, block = 1 << 16, 4096
    rt = Runtime("default", verify_data=True)
    uniform, normal = rt.zeros((n,), "float32"), rt.zeros((n,), "float32")
    rt.launch(sample, uniform, normal, 2024, grid=(n // block,), BLOCK=block)
    rt.synchronize()
    u, s = uniform.numpy().astype(np.float64), normal.numpy().astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)  # var of U^2 terms
    assert abs(s.mean()) < 5 * math.sqrt(4 / n)
    assert abs(s.var() - 4) < 5 * math.sqrt(2 * 16 / n)
    assert len(np.unique(u)) > 0.99 * n  # not a short cycle


def test_costs_come_from_the_yaml_and_are_never_folded(list_writer):
    """tl.randn of 1024 offsets from tl.arange (index values, which arithmetic would fold)
    issues philox (n_rounds x philox_round), uniform (two words per element) and
    box_muller on MATH, each ceil(count / lanes) * cycles / clock, with each key
    overridden to a value no other key has."""
    keys = {"philox_round": 13, "uniform": 17, "box_muller": 19}
    defaults = load_topology("default").params.pe.math.cycles_per_op
    assert set(keys) <= set(defaults)
    overrides = {f"pe.math.cycles_per_op.{key}": value for key, value in keys.items()}
    rt = Runtime(load_topology("default", overrides=overrides), writer=list_writer)

    def kernel():
        tl.randn(7, tl.arange(0, 1024), n_rounds=6)

    rt.launch(kernel, pes=[0])
    rt.synchronize()
    pe = rt.topology.params.pe
    counts = {"philox": (1024 * 6, "philox_round"), "uniform": (2048, "uniform"),
              "box_muller": (1024, "box_muller")}  # fmt: skip
    rows = list_writer.rows["ops"]
    assert sorted(row["op"] for row in rows) == sorted(counts)
    for row in rows:
        count, key = counts[row["op"]]
        expected = math.ceil(count / pe.math.lanes) * keys[key] / pe.clock_ghz
        assert row["engine"] == "MATH"
        assert row["end_ns"] - row["start_ns"] == pytest.approx(expected, rel=1e-12)


def test_philox_of_counters_matches_randint4x():
    """tl.philox(seed, offsets, 0, 0, 0) is randint4x(seed, offsets), word for word."""

    @tl.jit
    def both(out, seed, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, BLOCK)
        zero = offs * 0
        words = tl.philox(seed, offs, zero, zero, zero)
        again = tl.randint4x(seed, offs)
        for i in tl.static_range(4):
            tl.store(out + i * BLOCK + offs, words[i])
            tl.store(out + (4 + i) * BLOCK + offs, again[i])

    rt = Runtime("default", verify_data=True)
    out = rt.zeros((8 * 32,), "uint32", Placement.single(0))
    rt.launch(both, out, 99, grid=(1,), pes=[0], BLOCK=32)
    rt.synchronize()
    values = out.numpy().reshape(8, 32)
    np.testing.assert_array_equal(values[:4], values[4:])
    assert len(np.unique(values[:4])) == 4 * 32


def test_misuse_is_one_clear_error():
    @tl.jit
    def float_seed(x_ptr):
        tl.rand(1.5, tl.arange(0, 4))

    @tl.jit
    def float_offsets(x_ptr):
        tl.rand(1, tl.load(x_ptr + tl.arange(0, 4)))

    @tl.jit
    def no_rounds(x_ptr):
        tl.randint(1, tl.arange(0, 4), n_rounds=0)

    @tl.jit
    def mixed_counters(x_ptr):
        c = tl.arange(0, 4)
        tl.philox(1, c.to(tl.int64), c, c, c)

    @tl.jit
    def float_words(x_ptr):
        tl.uint_to_uniform_float(tl.load(x_ptr + tl.arange(0, 4)))

    fails_clearly(float_seed, r"tl\.rand: seed must be an integer scalar .* got float")
    fails_clearly(float_offsets, r"tl\.rand: offsets must be an integer block, got float32")
    fails_clearly(no_rounds, r"tl\.randint: n_rounds must be a positive integer, got 0")
    fails_clearly(mixed_counters,
                  r"tl\.philox: counters must be all 32-bit or all 64-bit integers, got int64, "
                  r"int32")  # fmt: skip
    fails_clearly(float_words, r"tl\.uint_to_uniform_float takes 32- or 64-bit integers, got "
                  r"float32")  # fmt: skip


def test_a_seed_loaded_from_memory_is_the_seed_it_holds():
    """A per-row seed loaded from memory (the dropout tutorial's exercise, vLLM's seeded
    sampling) gives the stream of that seed passed as an argument; in timing mode its
    value is unknown, which is one clear error."""

    @tl.jit
    def per_row(seeds_ptr, out_ptr, SEED_ARG: tl.constexpr):  # noqa: N803
        row = tl.program_id(0)
        offs = tl.arange(0, 16)
        seed = tl.load(seeds_ptr + row) if SEED_ARG < 0 else SEED_ARG + row * 0
        tl.store(out_ptr + row * 16 + offs, tl.rand(seed, offs))

    seeds = np.array([7, 123456789, 2**31 - 1], np.int64)
    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    loaded = rt.zeros((48,), "float32", place)
    rt.launch(per_row, rt.from_numpy(seeds, place), loaded, grid=(3,), pes=[0], SEED_ARG=-1)
    for row, seed in enumerate(seeds):
        passed = rt.zeros((48,), "float32", place)
        rt.launch(per_row, rt.from_numpy(seeds, place), passed, grid=(3,), pes=[0],
                  SEED_ARG=int(seed))  # fmt: skip
        rt.synchronize()
        np.testing.assert_array_equal(loaded.numpy()[row * 16 : row * 16 + 16],
                                      passed.numpy()[row * 16 : row * 16 + 16])  # fmt: skip
    assert len(set(loaded.numpy().tolist())) == 48  # three different streams

    @tl.jit
    def timing_only(x_ptr):
        tl.rand(tl.load(x_ptr).to(tl.int32), tl.arange(0, 4))

    fails_clearly(timing_only, r"tl\.rand: the seed depends on loaded data")


# Random123's known answers for Philox-4x64 (kat_vectors): rounds, counter words c0..c3,
# key words k0, k1, then the four output words.
PHILOX4X64_KAT = [
    (7, [0] * 4, [0] * 2,
     [0x5DC8EE6268EC62CD, 0x139BC570B6C125A0, 0x84D6DEB4FB65F49E, 0xAFF7583376D378C2]),
    (10, [0] * 4, [0] * 2,
     [0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]),
    (10, [2**64 - 1] * 4, [2**64 - 1] * 2,
     [0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0]),
    (10, [0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89],
     [0x452821E638D01377, 0xBE5466CF34E90C6C],
     [0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6]),
]  # fmt: skip


@pytest.mark.parametrize(("rounds", "counter", "key", "expected"), PHILOX4X64_KAT)
def test_philox4x64_gives_random123s_known_answers(rounds, counter, key, expected):
    """The 64-bit rounds (numpy, whose products have no 128-bit type) against the
    published known-answer vectors of Philox-4x64."""
    from simulator.language.random import philox_words64

    words = [np.array([c], np.uint64) for c in counter]
    got = philox_words64(key[0], key[1], *words, n_rounds=rounds)
    assert [int(w[0]) for w in got] == expected


def _philox4x64_reference(seed: int, counters: list[int], n_rounds: int) -> list[int]:
    """Triton's philox_impl for uint64 counters, in Python integers: keys (seed, 0)."""
    mask = (1 << 64) - 1
    c0, c1, c2, c3 = (c & mask for c in counters)
    k0, k1 = seed & mask, 0
    for _ in range(n_rounds):
        a, b = 0xD2E7470EE14C6C93, 0xCA5A826395121157
        c0, c1, c2, c3 = ((b * c2) >> 64) ^ c1 ^ k0, (b * c2) & mask, \
            ((a * c0) >> 64) ^ c3 ^ k1, (a * c0) & mask  # fmt: skip
        k0, k1 = (k0 + 0x9E3779B97F4A7C15) & mask, (k1 + 0xBB67AE8584CAA73B) & mask
    return [c0, c1, c2, c3]


def test_philox_of_64_bit_counters_is_triton_s_philox4x64_and_its_uniforms():
    """tl.philox of int64 counters (negative ones bit-cast, as Triton's .to(tl.uint64,
    bitcast=True)) gives four uint64 blocks equal to a Python-integer Philox-4x64 keyed
    by (seed, 0); tl.uint_to_uniform_float maps them to float32 in [0, 1) by the 64-bit
    scale, and pair_uniform_to_normal of two uniform blocks is randn's first normal."""
    block, seed, rounds = 16, 2**40 + 12345, 10

    @tl.jit
    def wide(out_words, out_uniform, out_normal, out_randn, seed, BLOCK: tl.constexpr):  # noqa: N803
        offs = tl.arange(0, BLOCK)
        c0 = offs.to(tl.int64) * 3_000_000_007 - 40
        c1 = offs.to(tl.int64) + (1 << 40)
        words = tl.philox(seed, c0, c1, c0 * 0, c1 * 0 - 1)
        for i in tl.static_range(4):
            tl.store(out_words + i * BLOCK + offs, words[i])
        tl.store(out_uniform + offs, tl.uint_to_uniform_float(words[0]))
        i1, i2, _, _ = tl.randint4x(seed, offs)
        n1, _ = tl.pair_uniform_to_normal(tl.uint_to_uniform_float(i1),
                                          tl.uint_to_uniform_float(i2))  # fmt: skip
        tl.store(out_normal + offs, n1)
        tl.store(out_randn + offs, tl.randn(seed, offs))

    rt = Runtime("default", verify_data=True)
    place = Placement.single(0)
    words = rt.zeros((4 * block,), "uint64", place)
    uniform, normal, randn = (rt.zeros((block,), "float32", place) for _ in range(3))
    rt.launch(wide, words, uniform, normal, randn, seed, grid=(1,), pes=[0], BLOCK=block)
    rt.synchronize()
    got = words.numpy().reshape(4, block)
    assert got.dtype == np.uint64
    for i in range(block):
        counters = [i * 3_000_000_007 - 40, i + (1 << 40), 0, -1]
        assert [int(w) for w in got[:, i]] == _philox4x64_reference(seed, counters, rounds)
    signed = [int(w) - (1 << 64) if w >= 1 << 63 else int(w) for w in got[0]]
    expected = [np.float32(np.float32(-v - 1 if v < 0 else v) * np.float32(1.0842020432385337e-19))
                for v in signed]  # fmt: skip
    assert uniform.numpy().tolist() == expected
    assert min(expected) >= 0.0 and max(expected) < 1.0
    np.testing.assert_array_equal(normal.numpy(), randn.numpy())


def test_a_64_bit_round_costs_philox_round_64(list_writer):
    """tl.philox of 64-bit counters is one philox op of n_rounds x elements at
    philox_round_64 cycles each (overridden to a value no other key has)."""
    overrides = {"pe.math.cycles_per_op.philox_round_64": 23}
    rt = Runtime(load_topology("default", overrides=overrides), writer=list_writer)

    def kernel():
        c = tl.arange(0, 256).to(tl.int64)
        tl.philox(5, c, c, c, c, n_rounds=3)

    rt.launch(kernel, pes=[0])
    rt.synchronize()
    pe = rt.topology.params.pe
    (row,) = [row for row in list_writer.rows["ops"] if row["op"] == "philox"]
    expected = math.ceil(256 * 3 / pe.math.lanes) * 23 / pe.clock_ghz
    assert row["end_ns"] - row["start_ns"] == pytest.approx(expected, rel=1e-12)


def _dropout(n: int, p: float, dropout_seed: int) -> np.ndarray:
    """The output of Triton's dropout tutorial kernel on x = 1, 2, ..., n."""
    from simulator.workloads.dropout import _seeded_dropout

    rt = Runtime("default", verify_data=True)
    x, out = rt.from_numpy(np.arange(1, n + 1, dtype=np.float32)), rt.zeros((n,), "float32")
    _seeded_dropout[(-(-n // 256),)](x, out, n, p, dropout_seed, BLOCK_SIZE=256)
    rt.synchronize()
    return out.numpy()


def test_dropout_tutorial_keeps_a_seeded_fraction_and_scales_it():
    """Every element is 0 or x / (1 - p); about 1 - p of them are kept (5 standard
    errors); the same seed gives the same mask, another seed another one."""
    n, p = 5000, 0.3
    out = _dropout(n, p, dropout_seed=7)
    x = np.arange(1, n + 1, dtype=np.float32)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / np.float32(1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_array_equal(_dropout(n, p, dropout_seed=7), out)
    assert (_dropout(n, p, dropout_seed=8) != 0).tolist() != kept.tolist()


def test_dropout_workload_verifies():
    outcome = run_workload("dropout", {"n": 3000, "p": 0.25}, verify_data=True, trace=False)
    assert outcome.status == "ok" and outcome.verified, outcome.error
