"""``triton.runtime.driver.active``: the device's properties as the topology gives them,
for host code that sizes a persistent grid as Triton's tutorials do."""

from __future__ import annotations

import numpy as np
import pytest

import simulator.language as tl
import simulator.triton as triton
from simulator.hw.topology import load_topology
from simulator.runtime import runtime as runtime_module
from simulator.runtime.runtime import Runtime
from simulator.triton.runtime import driver
from simulator.triton.runtime.driver import DriverError


@triton.jit
def _persistent_scale(x_ptr, y_ptr, n_tiles, NUM_SM: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    for tile in tl.range(tl.program_id(0), n_tiles, NUM_SM):
        offs = tile * BLOCK + tl.arange(0, BLOCK)
        tl.store(y_ptr + offs, tl.load(x_ptr + offs) * 2.0)


@pytest.mark.parametrize(("topology", "device"), [("default", "all"), ("multi_sip", "sip1")])
def test_device_properties_are_the_topologys(topology, device):
    """A PE is a multiprocessor and its TCM the shared memory: counted from the YAML for
    the Runtime's device (its SIPs), and the newest Runtime is the current device."""
    topo = load_topology(topology)
    p = topo.params
    sips = p.system.num_sips if device == "all" else 1
    rt = Runtime(topology, device=device)
    props = triton.runtime.driver.active.utils.get_device_properties(0)
    assert props == {
        "multiprocessor_count": sips * p.sip.cube_rows * p.sip.cube_cols * p.cube.pes,
        "max_shared_mem": p.pe.tcm.capacity_kib * 1024,
        "sm_clock_rate": round(p.pe.clock_ghz * 1e6),
        "num_sips": sips,
    }
    assert driver.active.utils.get_device_properties(rt) == props
    assert driver.active.get_current_device() == (0 if device == "all" else 1)
    assert driver.active.get_current_target() == ("kernbench", topo.name, 1)


def test_a_persistent_grid_sized_by_the_driver_covers_every_tile():
    """Tutorial-style host code: NUM_SM programs walk the tiles NUM_SM apart."""
    rt = Runtime("default", verify_data=True)
    num_sm = driver.active.utils.get_device_properties(0)["multiprocessor_count"]
    block, n_tiles = 64, 3 * num_sm + 5
    x_np = np.random.default_rng(1).standard_normal(block * n_tiles).astype(np.float32)
    x = rt.from_numpy(x_np)
    y = rt.empty(x.shape, "float32")
    _persistent_scale[(num_sm,)](x, y, n_tiles, NUM_SM=num_sm, BLOCK=block)
    np.testing.assert_array_equal(y.numpy(), x_np * 2)


def test_what_the_device_cannot_answer_is_one_clear_error(monkeypatch):
    rt = Runtime("default")
    props = driver.active.utils.get_device_properties()
    assert props["multiprocessor_count"] == len(rt.device_pes)
    with pytest.raises(DriverError, match=r"'max_num_regs' has no counterpart .*\(it has: "
                                          r"max_shared_mem, multiprocessor_count"):  # fmt: skip
        props["max_num_regs"]
    with pytest.raises(DriverError, match="no torch device"):
        driver.active.get_active_torch_device()
    monkeypatch.setattr(runtime_module, "_newest", None)
    with pytest.raises(DriverError, match="create a Runtime before asking the driver"):
        driver.active.utils.get_device_properties(0)
