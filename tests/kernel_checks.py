"""A check the kernel-language tests share: a misused ``tl`` call is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime


def fails_clearly(kernel: tl.JITFunction, match: str) -> str:
    """Launch ``kernel(x)`` (x: 100 float32 values on PE 0) as one program and check that
    it raises a KernelUsageError matching ``match`` that names the kernel and the file of
    its line; returns the message."""
    rt = Runtime("default")
    x = rt.zeros((100,), "float32", Placement.single(0))
    with pytest.raises(tl.KernelUsageError, match=match) as info:
        rt.launch(kernel, x, grid=(1,), pes=[0])
        rt.synchronize()
    text = str(info.value)
    kernel_file = Path(kernel.fn.__code__.co_filename).name
    assert f"kernel {kernel.__name__!r}" in text and f"{kernel_file}:" in text
    return text
