"""``triton.testing`` over the simulator: ``do_bench`` times what a function launches in
simulated time, ``perf_report`` and ``Benchmark`` sweep it into a table and a chart, and
``assert_close`` compares results, as Triton's tutorials use them.

    import simulator.triton as triton

    ms, min_ms, max_ms = triton.testing.do_bench(lambda: matmul(a, b), quantiles=[0.5, 0.2, 0.8])

What differs from a GPU: a simulated launch takes the same time every time it is repeated
on the same state, so ``do_bench`` runs ``fn`` once to warm up (autotuning, first
touches) and then ``n_repeat`` times (default 1) rather than for ``rep`` milliseconds;
its quantiles, min and max differ only where the repeats do (other streams running
beside them). Charts are plotly HTML, not matplotlib PNGs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simulator.runtime import recording
from simulator.runtime.runtime import observe_launches

# What `do_bench`'s `return_mode` may name (Triton's set), and the numpy reduction of each.
RETURN_MODES: dict[str, Callable[[np.ndarray], Any]] = {
    "min": np.min,
    "max": np.max,
    "mean": np.mean,
    "median": np.median,
}


def call_ms(fn: Callable[[], Any]) -> float:
    """Simulated milliseconds of one call of ``fn``: from the first program start of the
    launches it makes (their ``target_start_ns``) to the end of the last, waited for.

    That is the device's time, as CUDA events around ``fn`` measure it on a GPU; the host's
    launch path before the first start is not in it (the launch table has it).
    Raises ValueError if ``fn`` launches nothing, or launches on two runtimes (two
    simulated machines, whose clocks do not compare).
    """
    with observe_launches() as launches:
        fn()
    if not launches:
        raise ValueError(
            "do_bench: fn launched no kernel, so there is nothing to time; pass a function "
            "that launches one, e.g. lambda: kernel[grid](x, y, n)"
        )
    runtimes = {id(runtime) for runtime, _ in launches}
    if len(runtimes) > 1:
        raise ValueError(
            f"do_bench: fn launched on {len(runtimes)} runtimes; their simulated clocks "
            "do not compare, so time each one's launches in its own call"
        )
    for runtime, launch in launches:
        runtime.wait(launch)
    # A launch of an empty grid runs nothing and takes no device time.
    timed = [launch for _, launch in launches if launch.targets] or [launches[0][1]]
    start_ns = min(launch.target_start_ns for launch in timed)
    end_ns = max(launch.end_ns for launch in timed)
    return (end_ns - start_ns) / 1e6


def summarize(
    times_ms: Sequence[float], quantiles: Sequence[float] | None, return_mode: str
) -> float | list[float]:
    """Triton's summary of a list of times: the ``quantiles`` (linear interpolation, a
    bare number for one), else the ``return_mode`` statistic, or every time for "all"."""
    times = np.asarray(times_ms, dtype=np.float64)
    if quantiles is not None:
        values = np.quantile(times, np.asarray(quantiles, dtype=np.float64)).tolist()
        return values[0] if len(values) == 1 else values
    if return_mode == "all":
        return times.tolist()
    return float(RETURN_MODES[return_mode](times))


def do_bench(
    fn: Callable[[], Any],
    warmup: float = 25,
    rep: float = 100,
    grad_to_none: Any = None,
    quantiles: Sequence[float] | None = None,
    return_mode: str = "mean",
    *,
    n_warmup: int = 1,
    n_repeat: int = 1,
) -> float | list[float]:
    """Simulated milliseconds ``fn`` takes (:func:`call_ms`), as Triton's ``do_bench``
    reports them: the ``return_mode`` statistic ("min", "max", "mean", "median" or
    "all") or, given ``quantiles``, those quantiles of the repeats.

    ``fn`` runs ``n_warmup`` times untimed, so autotuning's tuning launches and other
    first-call work are left out, then ``n_repeat`` times timed. ``warmup`` and ``rep``
    (GPU milliseconds in Triton) and ``grad_to_none`` (there is no autograd here) are
    accepted for compatibility and unused.
    Raises ValueError for an unknown ``return_mode``, a quantile outside [0, 1] or a
    count below its minimum (0 warm-ups, 1 repeat).
    """
    del warmup, rep, grad_to_none
    if return_mode not in (*RETURN_MODES, "all"):
        raise ValueError(
            f"do_bench: return_mode {return_mode!r}; valid: {', '.join(RETURN_MODES)}, all"
        )
    if quantiles is not None and not all(0.0 <= q <= 1.0 for q in quantiles):
        raise ValueError(f"do_bench: quantiles {list(quantiles)} must lie in [0, 1]")
    if n_warmup < 0 or n_repeat < 1:
        raise ValueError(
            f"do_bench: n_warmup={n_warmup}, n_repeat={n_repeat}; "
            "need n_warmup >= 0 and n_repeat >= 1"
        )
    for _ in range(n_warmup):
        call_ms(fn)
    times_ms = [call_ms(fn) for _ in range(n_repeat)]
    return summarize(times_ms, quantiles, return_mode)


def do_bench_cudagraph(
    fn: Callable[[], Any],
    rep: float = 20,
    grad_to_none: Any = None,
    quantiles: Sequence[float] | None = None,
    return_mode: str = "mean",
) -> float | list[float]:
    """Triton's CUDA-graph variant: here the same as :func:`do_bench` (a simulated
    launch has no CPU launch overhead to hide)."""
    return do_bench(fn, rep=rep, grad_to_none=grad_to_none, quantiles=quantiles,
                    return_mode=return_mode)  # fmt: skip


def as_numpy(value: Any) -> np.ndarray:
    """A device tensor's data (``.numpy()``), or any array-like, as a numpy array;
    bfloat16 widened to float32 (numpy's comparisons do not take it)."""
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    array = np.asarray(array)
    if array.dtype.name == "bfloat16":
        array = array.astype(np.float32)
    return array


def assert_close(
    x: Any, y: Any, atol: float | Callable[[np.dtype], float] | None = None,
    rtol: float | Callable[[np.dtype], float] | None = None, err_msg: str = "",
) -> None:  # fmt: skip
    """Triton's ``assert_close``: ``|x - y| <= atol + rtol * |y|`` elementwise, NaNs equal
    where both are NaN; ``atol`` defaults to 1e-2 and ``rtol`` to 0, and either may be a
    function of ``x``'s dtype. Device tensors are read with ``.numpy()``.
    Raises AssertionError naming the mismatched elements."""
    x_np, y_np = as_numpy(x), as_numpy(y)
    atol = 1e-2 if atol is None else atol
    rtol = 0.0 if rtol is None else rtol
    atol = atol(x_np.dtype) if callable(atol) else atol
    rtol = rtol(x_np.dtype) if callable(rtol) else rtol
    if x_np.size > 1 or y_np.size > 1:
        np.testing.assert_allclose(x_np, y_np, atol=atol, rtol=rtol, equal_nan=True,
                                   err_msg=err_msg)  # fmt: skip
        return
    if not np.allclose(x_np, y_np, atol=atol, rtol=rtol, equal_nan=True):
        raise AssertionError(f"{err_msg} {x_np} is not close to {y_np} (atol={atol}, rtol={rtol})")


class Benchmark:
    """One sweep of :func:`perf_report`: the function is called once per x value and line
    value, with ``x_names`` set to the x value (or to its items, one per name),
    ``line_arg`` to the line value and ``args`` fixed. It returns a number or
    ``(y, y_min, y_max)``. Triton's arguments; ``styles`` are (color, dash) pairs with
    matplotlib's dash names ("-", "--", ":", "-.") or plotly's.

    In a recorded run (``kernbench run script.py``) each y is also a metric of the run
    (see :meth:`Mark.run`), in ``ylabel``'s unit; ``better`` ("lower" or "higher") says
    which way it improves, by default "lower" when ``ylabel`` names a time (ms, us, ns,
    s, time, latency) and "higher" otherwise (TFLOPS, GB/s).
    """

    def __init__(
        self,
        x_names: Sequence[str],
        x_vals: Sequence[Any],
        line_arg: str,
        line_vals: Sequence[Any],
        line_names: Sequence[str],
        plot_name: str,
        args: dict[str, Any],
        xlabel: str = "",
        ylabel: str = "",
        x_log: bool = False,
        y_log: bool = False,
        styles: Sequence[tuple[str, str]] | None = None,
        better: str | None = None,
    ):
        if len(line_names) != len(line_vals):
            raise ValueError(
                f"Benchmark {plot_name!r}: {len(line_vals)} line_vals but "
                f"{len(line_names)} line_names; give one name per line"
            )
        self.x_names = list(x_names)
        self.x_vals = list(x_vals)
        self.line_arg = line_arg
        self.line_vals = list(line_vals)
        self.line_names = list(line_names)
        self.plot_name = plot_name
        self.args = dict(args)
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.x_log = x_log
        self.y_log = y_log
        self.styles = styles
        words = set(ylabel.lower().replace("(", " ").replace(")", " ").split())
        self.better = better or ("lower" if words & _TIME_WORDS else "higher")


# Words of a y label that name a time, whose values improve downwards.
_TIME_WORDS = frozenset({"ms", "us", "ns", "s", "time", "latency"})


# matplotlib's line styles, as the tutorials write them, in plotly's names.
_DASHES = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot"}


class Mark:
    """A function marked by :func:`perf_report`; ``run`` sweeps it."""

    def __init__(self, fn: Callable[..., Any], benchmarks: Benchmark | Sequence[Benchmark]):
        self.fn = fn
        self.benchmarks = benchmarks

    def _table(self, bench: Benchmark, **kwargs: Any):
        """The sweep's results: one row per x value, columns the x names, then each line's
        y, y-min and y-max (a pandas DataFrame, as Triton's)."""
        import pandas as pd

        rows = []
        for x in bench.x_vals:
            xs = list(x) if isinstance(x, list | tuple) else [x] * len(bench.x_names)
            if len(xs) != len(bench.x_names):
                raise ValueError(
                    f"Benchmark {bench.plot_name!r}: x value {x!r} has {len(xs)} items "
                    f"for {len(bench.x_names)} x_names {bench.x_names}"
                )
            x_args = dict(zip(bench.x_names, xs, strict=True))
            means, mins, maxes = [], [], []
            for line in bench.line_vals:
                ret = self.fn(**x_args, **{bench.line_arg: line}, **bench.args, **kwargs)
                y, y_min, y_max = ret if isinstance(ret, list | tuple) else (ret, None, None)
                means.append(y)
                mins.append(y_min)
                maxes.append(y_max)
            rows.append(xs + means + mins + maxes)
            _record_metrics(bench, xs, means)
        columns = (bench.x_names + bench.line_names + [f"{n}-min" for n in bench.line_names]
                   + [f"{n}-max" for n in bench.line_names])  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def figure(self, bench: Benchmark, table):
        """The plotly chart of one sweep: a line per line value over the first x name,
        with a band from its min to its max where the function returned them."""
        import plotly.graph_objects as go

        x_name = bench.x_names[0]
        fig = go.Figure()
        for i, name in enumerate(bench.line_names):
            color, dash = bench.styles[i] if bench.styles else (None, None)
            line = {"color": color, "dash": _DASHES.get(dash, dash)}
            low, high = table[f"{name}-min"], table[f"{name}-max"]
            if low.notna().all() and high.notna().all():
                band_x = list(table[x_name]) + list(table[x_name])[::-1]
                band_y = list(high) + list(low)[::-1]
                fig.add_trace(go.Scatter(x=band_x, y=band_y, fill="toself", opacity=0.15,
                                         line={"width": 0, "color": color}, hoverinfo="skip",
                                         showlegend=False, legendgroup=name))  # fmt: skip
            fig.add_trace(go.Scatter(x=table[x_name], y=table[name], name=name, line=line,
                                     mode="lines+markers", legendgroup=name))  # fmt: skip
        fig.update_layout(
            title=bench.plot_name,
            xaxis_title=bench.xlabel or " = ".join(bench.x_names),
            yaxis_title=bench.ylabel,
            xaxis_type="log" if bench.x_log else "linear",
            yaxis_type="log" if bench.y_log else "linear",
        )
        return fig

    def run(
        self,
        show_plots: bool = False,
        print_data: bool = False,
        save_path: str = "",
        return_df: bool = False,
        save_precision: int = 6,
        **kwargs: Any,
    ):
        """Sweep every benchmark (in a recorded run, each y is also one of its metrics,
        :func:`metric_name`). ``print_data`` prints each table; ``save_path`` writes,
        per benchmark, ``<plot_name>.csv`` (Triton's file) and ``<plot_name>.html`` (its
        plotly chart), and ``results.html`` with every chart (``plotly.min.js`` beside
        them: it opens offline); ``show_plots`` opens the charts; ``return_df`` returns
        the table (a list of them for several benchmarks). ``kwargs`` go to the function.
        """
        single = isinstance(self.benchmarks, Benchmark)
        benchmarks = [self.benchmarks] if single else list(self.benchmarks)
        tables, figures = [], []
        for bench in benchmarks:
            table = self._table(bench, **kwargs)
            fig = self.figure(bench, table)
            tables.append(table[bench.x_names + bench.line_names])
            figures.append(fig)
            if show_plots:
                fig.show()
            if print_data:
                print(f"{bench.plot_name}:")
                print(tables[-1].to_string())
        if save_path:
            os.makedirs(save_path, exist_ok=True)
            parts = []
            for bench, table, fig in zip(benchmarks, tables, figures, strict=True):
                stem = os.path.join(save_path, bench.plot_name)
                table.to_csv(f"{stem}.csv", float_format=f"%.{save_precision}f", index=False)
                fig.write_html(f"{stem}.html", include_plotlyjs="directory")
                parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
            with open(os.path.join(save_path, "results.html"), "w", encoding="utf-8") as html:
                html.write('<html><head><meta charset="utf-8"><script src="plotly.min.js">'
                           "</script></head><body>\n")  # fmt: skip
                html.write("\n".join(parts))
                html.write("\n</body></html>\n")
        if return_df:
            return tables[0] if single else tables
        return None


def metric_name(bench: Benchmark, xs: Sequence[Any], line_name: str) -> str:
    """``<plot_name>.<line>@<x names>=<x>``: ``sweep.Triton@M=N=K=256`` when the x names
    share a value, ``sweep.Triton@M=256,N=128`` otherwise."""
    if len(xs) > 1 and all(x == xs[0] for x in xs):
        where = "=".join(bench.x_names) + f"={xs[0]}"
    else:
        where = ",".join(f"{name}={x}" for name, x in zip(bench.x_names, xs, strict=True))
    return f"{bench.plot_name}.{line_name}@{where}"


def _record_metrics(bench: Benchmark, xs: Sequence[Any], ys: Sequence[Any]) -> None:
    """Each line's y at this x as a metric of the run being recorded, if one is (so a
    sweep's numbers are tracked across commits like a workload's)."""
    if recording.active() is None:
        return
    for name, y in zip(bench.line_names, ys, strict=True):
        if y is not None:
            recording.metric(metric_name(bench, xs, name), float(y), bench.ylabel,
                             bench.better)  # fmt: skip


def perf_report(benchmarks: Benchmark | Sequence[Benchmark]) -> Callable[[Callable], Mark]:
    """Mark a function for sweeping over ``benchmarks``; ``.run(...)`` on the result
    runs them (Triton's decorator)."""
    return lambda fn: Mark(fn, benchmarks)
