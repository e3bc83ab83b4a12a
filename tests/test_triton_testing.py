"""``triton.testing`` on the simulated device: ``do_bench`` gives the device time of the
launches a function makes (checked against those launches run on their own), leaves
autotuning out by its warm-up, and summarises as Triton's; ``perf_report`` tabulates,
prints and saves a sweep; ``assert_close`` compares as Triton's does."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_language_autotune import SPLITK_CONFIGS, splitk_grid
from test_language_triton import add_kernel

import simulator.triton as triton
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime, observe_launches
from simulator.triton.testing import summarize
from simulator.workloads.matmul_splitk import matmul_splitk_kernel


def vectors(rt: Runtime, n: int):
    x = rt.from_numpy(np.arange(n, dtype=np.float32))
    y = rt.from_numpy(np.ones(n, dtype=np.float32))
    return x, y, rt.empty((n,), "float32")


def add(x, y, out, block: int = 256):
    n = x.numel()
    return add_kernel[(triton.cdiv(n, block),)](x, y, out, n, BLOCK_SIZE=block)


def test_do_bench_is_the_device_time_of_the_launch():
    """The time of one call is its launch's end minus its programs' start, as that launch
    alone in a fresh runtime measures it; repeats take the same time."""
    alone = Runtime("default")
    launch = add(*vectors(alone, 8192))
    alone.wait(launch)
    expected_ms = (launch.end_ns - launch.target_start_ns) / 1e6
    rt = Runtime("default")
    x, y, out = vectors(rt, 8192)
    assert triton.testing.do_bench(lambda: add(x, y, out)) == pytest.approx(expected_ms, rel=1e-9)
    times = triton.testing.do_bench(lambda: add(x, y, out), n_repeat=3, return_mode="all")
    assert times == pytest.approx([expected_ms] * 3, rel=1e-9)
    # The host's launch path is not device time: the launch table has it apart.
    assert launch.target_start_ns > launch.host_issue_ns


def test_do_bench_spans_every_launch_of_the_call():
    """Two launches in one call: from the first one's start to the second one's end, which
    is both alone plus the second one's launch path (the stream issues it when the first
    ends)."""
    rt = Runtime("default")
    x, y, out = vectors(rt, 4096)
    small = add(x, y, out, block=128)
    rt.wait(small)
    big = add(x, y, out, block=1024)
    rt.wait(big)
    expected_ns = ((small.end_ns - small.target_start_ns) + (big.end_ns - big.target_start_ns)
                   + (big.target_start_ns - big.host_issue_ns))  # fmt: skip
    both_ms = triton.testing.do_bench(lambda: (add(x, y, out, 128), add(x, y, out, 1024)))
    assert both_ms * 1e6 == pytest.approx(expected_ns, rel=1e-9)


def test_do_bench_warm_up_leaves_autotuning_out():
    """An autotuned kernel: after the warm-up call tuned it, a call is the winner's launch
    alone; without a warm-up the one timed call holds every tuning launch too."""
    m, n, k = 64, 64, 256
    rng = np.random.default_rng(0)

    def operands(rt: Runtime):
        a = rt.from_numpy(rng.standard_normal((m, k)).astype(np.float16))
        b = rt.from_numpy(rng.standard_normal((k, n)).astype(np.float16))
        return a, b, rt.zeros((m, n), "float32")

    def call(kernel, a, b, c, **meta):
        return kernel[splitk_grid(m, n)](a, b, c, m, n, k, a.stride(0), a.stride(1),
                                         b.stride(0), b.stride(1), c.stride(0), c.stride(1),
                                         **meta)  # fmt: skip

    alone_ms = []
    for config in SPLITK_CONFIGS:
        rt = Runtime("default")
        operands_alone = operands(rt)
        alone_ms.append(triton.testing.do_bench(
            lambda ops=operands_alone, meta=config.kwargs: call(matmul_splitk_kernel, *ops,
                                                                **meta)))  # fmt: skip

    def tuned():
        return triton.autotune(configs=SPLITK_CONFIGS, key=["M", "N", "K"],
                               reset_to_zero=["c_ptr"])(matmul_splitk_kernel)  # fmt: skip

    rt = Runtime("default")
    warm_kernel, warm_operands = tuned(), operands(rt)
    warm_ms = triton.testing.do_bench(lambda: call(warm_kernel, *warm_operands))
    assert warm_ms == pytest.approx(min(alone_ms), rel=1e-9)
    rt = Runtime("default")
    cold_kernel, cold_operands = tuned(), operands(rt)
    cold_ms = triton.testing.do_bench(lambda: call(cold_kernel, *cold_operands), n_warmup=0)
    assert cold_ms > sum(alone_ms) + min(alone_ms)


@settings(max_examples=50, deadline=None)
@given(
    times=st.lists(st.floats(0.001, 1e3), min_size=1, max_size=20),
    quantiles=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
)
def test_summary_is_tritons(times, quantiles):
    """Quantiles interpolate linearly (torch.quantile's default); one quantile is a bare
    number; the modes are numpy's statistics; "all" is every time in order."""
    got = summarize(times, quantiles, "mean")
    ordered = sorted(times)
    expected = []
    for q in quantiles:
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        expected.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    if len(quantiles) == 1:
        assert isinstance(got, float)
        got = [got]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert summarize(times, None, "min") == min(times)
    assert summarize(times, None, "max") == max(times)
    assert summarize(times, None, "mean") == pytest.approx(sum(times) / len(times))
    assert summarize(times, None, "all") == times


def test_do_bench_refuses_what_it_cannot_time():
    rt = Runtime("default")
    x, y, out = vectors(rt, 1024)
    with pytest.raises(ValueError, match="launched no kernel"):
        triton.testing.do_bench(lambda: None)
    with pytest.raises(ValueError, match="return_mode 'p99'"):
        triton.testing.do_bench(lambda: add(x, y, out), return_mode="p99")
    with pytest.raises(ValueError, match=r"quantiles \[1.5\]"):
        triton.testing.do_bench(lambda: add(x, y, out), quantiles=[1.5])
    other = Runtime("default")
    x2, y2, out2 = vectors(other, 1024)
    with pytest.raises(ValueError, match="2 runtimes"):
        triton.testing.do_bench(lambda: (add(x, y, out), add(x2, y2, out2)))


def test_nested_observers_each_see_the_launches_of_their_block():
    """Two observers at once, both still empty (equal lists): each one leaves the
    registry as itself, so the outer one keeps observing after the inner one ends."""
    rt = Runtime("default")
    x, y, out = vectors(rt, 1024)
    with observe_launches() as outer:
        with observe_launches() as inner:
            pass
        first = add(x, y, out)
    assert inner == []
    assert [launch for _, launch in outer] == [first]


def test_perf_report_tabulates_prints_and_saves(tmp_path, capsys):
    """One row per x value (a tuple sets each x name), a column per line; a (y, min,
    max) return gives a band in the chart; the CSV holds the printed table."""
    calls = []

    @triton.testing.perf_report(
        triton.testing.Benchmark(
            x_names=["M", "N"], x_vals=[16, (32, 64)], line_arg="provider",
            line_vals=["a", "b"], line_names=["A", "B"], plot_name="sweep",
            args={"scale": 3}, styles=[("red", "--"), ("blue", "-")], ylabel="GB/s",
        )
    )  # fmt: skip
    def bench(M, N, provider, scale):  # noqa: N803
        calls.append((M, N, provider, scale))
        y = scale * (M + N) + (1 if provider == "b" else 0)
        return (y, y - 1, y + 1) if provider == "a" else y

    table = bench.run(print_data=True, save_path=str(tmp_path / "out"), return_df=True)
    assert calls == [(16, 16, "a", 3), (16, 16, "b", 3), (32, 64, "a", 3), (32, 64, "b", 3)]
    assert list(table.columns) == ["M", "N", "A", "B"]
    assert table.values.tolist() == [[16, 16, 96, 97], [32, 64, 288, 289]]
    printed = capsys.readouterr().out
    assert printed.startswith("sweep:\n") and "288" in printed
    saved = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert saved.values.tolist() == table.values.tolist()
    for name in ("sweep.html", "results.html", "plotly.min.js"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    fig = bench.figure(bench.benchmarks, bench._table(bench.benchmarks))
    bands = [trace for trace in fig.data if trace.fill == "toself"]
    assert len(bands) == 1 and list(bands[0].y) == [97, 289, 287, 95]
    assert [trace.line.dash for trace in fig.data if trace.name] == ["dash", "solid"]


def test_perf_report_refuses_a_ragged_x_value():
    bench = triton.testing.perf_report(triton.testing.Benchmark(
        x_names=["M", "N"], x_vals=[(1, 2, 3)], line_arg="p", line_vals=[0],
        line_names=["P"], plot_name="bad", args={}))(lambda **kw: 0)  # fmt: skip
    with pytest.raises(ValueError, match=r"x value \(1, 2, 3\) has 3 items for 2 x_names"):
        bench.run()


def test_assert_close_is_tritons():
    rt = Runtime("default", verify_data=True)
    x = rt.from_numpy(np.array([1.0, 2.0, np.nan], dtype=np.float32), Placement.single(0))
    triton.testing.assert_close(x, np.array([1.005, 2.0, np.nan]))  # atol 1e-2 by default
    with pytest.raises(AssertionError):
        triton.testing.assert_close(x, np.array([1.02, 2.0, np.nan]))
    triton.testing.assert_close(x, np.array([1.02, 2.0, np.nan]), atol=lambda dtype: 0.05)
    with pytest.raises(AssertionError, match="scalar 1.0 is not close to 1.5"):
        triton.testing.assert_close(1.0, 1.5, err_msg="scalar")


SWEEP_SCRIPT = """
import simulator.triton as triton
from simulator.runtime.runtime import Runtime

rt = Runtime("default")
Benchmark = triton.testing.Benchmark


@triton.testing.perf_report([
    Benchmark(x_names=["N"], x_vals=[1, 2], line_arg="p", line_vals=[1, 10],
              line_names=["a", "b"], plot_name="s", args={}, ylabel="TFLOPS"),
    Benchmark(x_names=["M", "K"], x_vals=[(3, 4)], line_arg="p", line_vals=[1],
              line_names=["a"], plot_name="t", args={}, ylabel="time (ms)"),
])
def bench(p, **sizes):
    return p * sum(sizes.values())


bench.run()
"""


def test_a_sweep_in_a_recorded_run_records_its_numbers_as_metrics(tmp_path):
    """``kernbench run script.py`` with a perf_report sweep: every y is a metric of the
    run, named by plot, line and x, in the y label's unit, lower-is-better for a time."""
    from simulator.runner import run_script

    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    outcome = run_script(script, store=tmp_path / "store")
    assert outcome.status == "ok", outcome.error
    got = {m.name: (m.value, m.unit, m.better) for m in outcome.metrics}
    assert got == {
        "s.a@N=1": (1.0, "TFLOPS", "higher"),
        "s.b@N=1": (10.0, "TFLOPS", "higher"),
        "s.a@N=2": (2.0, "TFLOPS", "higher"),
        "s.b@N=2": (20.0, "TFLOPS", "higher"),
        "t.a@M=3,K=4": (7.0, "time (ms)", "lower"),
    }
