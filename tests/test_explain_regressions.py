"""Designed regressions: one topology override each, and `kernbench explain A B` must put
the latency change on the component the override slowed.

Each case runs a baseline and a changed run through the CLI (`kernbench run ... --set
KEY=VALUE --json`), then `kernbench explain A B --json`, and checks the contributions:
they sum to delta_ns, and the share on the components the change touches is >= 90%.
DMA components are named by the kind of resource that bound their transfers (``DMA
hbm``, ``DMA mesh_link``), so the share lands on the changed parameter's own name.
"""

from __future__ import annotations

import json
import math

import pytest

from simulator.cli import main


def _run(capsys, store, *args: str) -> str:
    assert main(["run", *args, "--store", str(store), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["run_id"]


def _explain(capsys, store, run_a: str, run_b: str) -> dict:
    assert main(["explain", run_a, run_b, "--store", str(store), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _share(diff: dict, touched) -> float:
    moved = sum(c["delta_ns"] for c in diff["contributions"] if touched(c["component"]))
    return moved / diff["delta_ns"]


def _check_sum(diff: dict) -> None:
    total = math.fsum(c["delta_ns"] for c in diff["contributions"])
    assert total == pytest.approx(diff["delta_ns"], rel=1e-9, abs=1e-6)
    assert diff["delta_ns"] == pytest.approx(diff["latency_b"] - diff["latency_a"])


# A GEMM whose tiles take longer to load than to multiply: K-deep tiles, many of them.
MEMORY_BOUND_GEMM = ("gemm_single_pe", "--set", "M=512", "--set", "N=128", "--set", "K=1024")
# A GEMM with many small multiplications (each paying the fill/drain term).
COMPUTE_BOUND_GEMM = ("gemm_single_pe", "--set", "M=512", "--set", "N=512", "--set", "K=512")


def test_halving_hbm_bandwidth_lands_on_hbm_transfers(tmp_path, capsys):
    a = _run(capsys, tmp_path, *MEMORY_BOUND_GEMM)
    b = _run(capsys, tmp_path, *MEMORY_BOUND_GEMM, "--set", "cube.hbm.bw_gbs=51.2")
    diff = _explain(capsys, tmp_path, a, b)
    _check_sum(diff)
    assert diff["delta_ns"] > 0
    # Named by the resource that bound the transfers: the HBM slices (kernel loads and
    # stores, and the host copies into HBM, which HBM now bounds instead of PCIe).
    assert _share(diff, lambda c: c in ("DMA hbm", "host copy hbm")) >= 0.9, diff["contributions"]
    assert diff["diverge"] is not None


# Many PEs' host copies share the host link: what bounds them is that link's share,
# not the HBM slice that is the narrowest resource of each copy's route.
SHARED_HOST_COPIES = ("gpt3_qkv", "--set", "tokens=256", "--set", "hidden=1024")


def test_halving_hbm_does_not_rename_host_copies_it_does_not_bind(tmp_path, capsys):
    """Halving HBM makes it each host copy's narrowest resource, but the copies share
    the host link and stay as slow as before: their time must not move from `host copy
    host_link` to `host copy hbm` (a false +x/-x pair dwarfing the real delta)."""
    a = _run(capsys, tmp_path, *SHARED_HOST_COPIES)
    b = _run(capsys, tmp_path, *SHARED_HOST_COPIES, "--set", "cube.hbm.bw_gbs=51.2")
    diff = _explain(capsys, tmp_path, a, b)
    _check_sum(diff)
    assert diff["delta_ns"] > 0
    for contribution in diff["contributions"]:
        assert abs(contribution["share"]) <= 1.5, diff["contributions"]
    assert _share(diff, lambda c: c in ("DMA hbm", "host copy hbm")) >= 0.9, diff["contributions"]


def test_doubling_gemm_fill_drain_lands_on_gemm(tmp_path, capsys):
    a = _run(capsys, tmp_path, *COMPUTE_BOUND_GEMM)
    fill = _fill_drain_cycles()
    b = _run(
        capsys, tmp_path, *COMPUTE_BOUND_GEMM, "--set", f"pe.gemm.fill_drain_cycles={2 * fill}"
    )
    diff = _explain(capsys, tmp_path, a, b)
    _check_sum(diff)
    assert diff["delta_ns"] > 0
    assert _share(diff, lambda c: c == "GEMM") >= 0.9, diff["contributions"]


@pytest.mark.slow  # two 32-rank all-reduces of 1 MiB
def test_halving_mesh_links_lands_on_mesh_transfers(tmp_path, capsys):
    ring = ("ccl_allreduce", "--set", "algorithm=ring", "--set", "world_size=32",
            "--set", "bytes=1048576")  # fmt: skip
    a = _run(capsys, tmp_path, *ring)
    b = _run(capsys, tmp_path, *ring, "--set", f"sip.mesh_link.bw_gbs={_mesh_bw_gbs() / 2}")
    diff = _explain(capsys, tmp_path, a, b)
    _check_sum(diff)
    assert diff["delta_ns"] > 0
    assert _share(diff, lambda c: c == "DMA mesh_link") >= 0.9, diff["contributions"]


def test_a_change_without_effect_explains_zero(tmp_path, capsys):
    """The inter-SIP link is not on any route of a one-SIP single-PE GEMM."""
    a = _run(capsys, tmp_path, *COMPUTE_BOUND_GEMM)
    b = _run(capsys, tmp_path, *COMPUTE_BOUND_GEMM, "--set", "system.sip_link.bw_gbs=12.5")
    diff = _explain(capsys, tmp_path, a, b)
    assert diff["delta_ns"] == 0.0
    assert all(abs(c["delta_ns"]) < 1e-6 for c in diff["contributions"])
    assert diff["diverge"] is None


def _topology():
    from simulator.hw.topology import load_topology

    return load_topology("default")


def _fill_drain_cycles() -> int:
    return _topology().params.pe.gemm.fill_drain_cycles


def _mesh_bw_gbs() -> float:
    return _topology().params.sip.mesh_link.bw_gbs
