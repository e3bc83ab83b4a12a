"""Errors from user kernels: one message naming kernel, program, PE, time and the user's
line, without the simulator's internal frames (full traceback with KERNBENCH_DEBUG=1);
tensors named as the user names them."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import simulator.language as tl
from simulator.engine.errors import DEBUG_ENV, KernelError
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime


def _faulty():
    if tl.program_id(0) == 1:
        raise ValueError("bad tile index")


@pytest.mark.parametrize("grid", [None, (2,)])
def test_kernel_error_names_the_users_line(monkeypatch, grid):
    """The message ends with `(at FILE:LINE: source)` of the raising line in the kernel,
    in a launch of one program per PE and in a grid launch."""
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    rt = Runtime("default")
    rt.launch(_faulty, pes=[0, 1], grid=grid)
    with pytest.raises(KernelError) as info:
        rt.synchronize()
    lines, first = inspect.getsourcelines(_faulty)
    raising = first + next(i for i, text in enumerate(lines) if "raise ValueError" in text)
    message = str(info.value)
    assert "'_faulty'" in message and "sip0.cube0.pe1" in message and "t=" in message
    assert message.endswith(f'(at {__file__}:{raising}: raise ValueError("bad tile index"))')
    # No SimPy, greenlet or scheduler frames behind it.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    frames = [frame.name for frame in info.traceback]
    assert "_drive" not in frames and "step" not in frames


SCRIPT = textwrap.dedent(
    """
    import simulator.language as tl
    from simulator.runtime.runtime import Runtime

    def scale(x):
        value = 1 / 0
        tl.store(x, value)

    rt = Runtime("default")
    x = rt.zeros((64, 64), "float16")
    rt.launch(scale, x, pes=[0])
    rt.synchronize()
    """
)


def _run_script(tmp_path, debug: bool) -> str:
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != DEBUG_ENV}
    if debug:
        env[DEBUG_ENV] = "1"
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    return done.stderr


def test_a_script_sees_a_short_traceback_and_the_full_one_with_debug(tmp_path):
    """A plain script's traceback has no SimPy/greenlet/scheduler-driver frames and ends
    with the one-line message; KERNBENCH_DEBUG=1 shows the whole chain."""
    short = _run_script(tmp_path, debug=False)
    assert "simpy" not in short and "_drive" not in short and "direct cause" not in short
    assert len(short.splitlines()) <= 15, short
    last = short.strip().splitlines()[-1]
    assert last.startswith("simulator.engine.errors.KernelError: kernel 'scale'")
    assert "ZeroDivisionError" in last and "user_script.py:6: value = 1 / 0" in last
    full = _run_script(tmp_path, debug=True)
    assert "_drive" in full and "direct cause" in full


def test_tensors_are_named_by_the_users_variable_or_name():
    """A load outside a tensor names it as the user did: `name=` first, else the variable
    the tensor was assigned to; never an internal `t0`."""
    rt = Runtime("default", verify_data=True)
    activations = rt.from_numpy(np.ones((64, 64), np.float16), Placement.single(0))
    named = rt.zeros((64, 64), "float16", Placement.single(0), name="kv_cache")
    assert activations.name == "activations" and named.name == "kv_cache"

    def past_the_end(x):
        tl.load(tl.make_block_ptr(x, offsets=(64, 0), block_shape=(64, 64)))

    rt.launch(past_the_end, activations, pes=[0])
    with pytest.raises(Exception, match=r"reaches past dim 0 of activations \(shape") as info:
        rt.synchronize()
    assert "t0" not in str(info.value)


def test_an_op_that_fails_as_it_runs_stops_the_device_and_says_so():
    """A tl.device_assert that fails on the data stops the device mid-step: the next
    launch says so, naming the first failure, instead of reporting a deadlock. A kernel
    whose own code raised leaves the machine whole: the next launch runs."""
    from simulator.engine.errors import DeviceFailedError

    @tl.jit
    def checked(x_ptr, out_ptr):
        offs = tl.arange(0, 4)
        x = tl.load(x_ptr + offs)
        tl.device_assert(x >= 0, "x must be non-negative")
        tl.store(out_ptr + offs, x)

    @tl.jit
    def raising(x_ptr, out_ptr):
        raise ValueError("a bad tile index")

    place = Placement.single(0)
    for first, error in ((raising, KernelError), (checked, tl.KernelUsageError)):
        rt = Runtime("default", verify_data=True)
        x = rt.from_numpy(np.array([1, -2, 3, 4], np.int32), place)
        out = rt.zeros((4,), "int32", place)
        with pytest.raises(error):
            rt.launch(first, x, out, grid=(1,), pes=[0])
            rt.synchronize()
        if first is raising:
            rt.launch(checked, out, out, grid=(1,), pes=[0])  # zeros: the assert holds
            rt.synchronize()
            continue
        with pytest.raises(DeviceFailedError, match=r"the simulated device stopped at t=[\d.]+ "
                           r"ns: tl\.device_assert failed at element \(1,\): x must be "
                           r"non-negative .* make a new Runtime"):  # fmt: skip
            rt.launch(checked, out, out, grid=(1,), pes=[0])
            rt.synchronize()


def test_a_failed_launch_keeps_its_launches_row(list_writer):
    """A launch whose kernel raised still has its launches row, ending when the failure
    stopped it, so a failed run's trace shows what was launched (explain --kernels has
    its window)."""

    @tl.jit
    def late_fault(x_ptr):
        if tl.program_id(0) == 3:
            raise ValueError("bad tile")
        tl.store(x_ptr + tl.program_id(0), 1.0)

    rt = Runtime("default", writer=list_writer)
    x = rt.zeros((8,), "float32", Placement.single(0))
    launch = rt.launch(late_fault, x, grid=(4,), pes=[0, 1])
    with pytest.raises(KernelError, match="bad tile"):
        rt.synchronize()
    (row,) = [r for r in list_writer.rows["launches"] if r["launch_id"] == launch.launch_id]
    assert row["kernel"] == "late_fault" and row["n_pes"] == 2
    assert row["host_issue_ns"] <= row["end_ns"] == launch.end_ns == rt.machine.env.now
