"""Topology overrides: dotted `--set` keys, `load_topology(..., overrides=...)`, runs.overrides."""

import json
import math

import duckdb
import pytest

from simulator.cli import main
from simulator.hw.topology import TopologyError, load_topology
from simulator.runner import run_workload, split_overrides


def test_override_changes_only_the_named_parameter():
    """An override replaces one value; every other value and the name stay the preset's."""
    base = load_topology("default")
    changed = load_topology("default", overrides={"cube.hbm.bw_gbs": "51.2", "sip.cube_rows": 4})
    assert changed.params.cube.hbm.bw_gbs == 51.2
    assert changed.cube_rows == 4 and changed.num_pes == 2 * base.num_pes
    assert changed.name == base.name and changed.hash != base.hash
    expected = base.to_dict()
    expected["cube"]["hbm"]["bw_gbs"] = 51.2
    expected["sip"]["cube_rows"] = 4
    assert changed.to_dict() == expected


def test_override_of_a_mapping_entry():
    """A key inside a mapping parameter (a MATH op's cycle cost) can be overridden alone."""
    topo = load_topology("default", overrides={"pe.math.cycles_per_op.exp": 7})
    base = load_topology("default").params.pe.math.cycles_per_op
    assert topo.params.pe.math.cycles_per_op == {**base, "exp": 7}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"cube.hbm.bw_gb": 1},
            "unknown topology key cube.hbm.bw_gb (did you mean cube.hbm.bw_gbs",
        ),
        ({"cube.hbm": 1}, "cube.hbm is a section"),
        ({"cube.hbm.bw_gbs": -1}, "cube.hbm.bw_gbs must be > 0, got -1.0"),
        ({"cube.hbm.bw_gbs": "fast"}, "cube.hbm.bw_gbs must be a number, got str 'fast'"),
        ({"sip.cube_rows": 2.5}, "sip.cube_rows must be an int"),
    ],
)
def test_bad_override_names_the_key(overrides, message):
    """A misspelt key, a section or a bad value is a TopologyError naming the dotted key."""
    with pytest.raises(TopologyError) as info:
        load_topology("default", overrides=overrides)
    assert message in str(info.value)
    assert str(info.value).startswith("default.yaml")


def test_split_overrides_by_dot():
    """Keys with a dot are topology parameters, the others workload parameters."""
    assert split_overrides({"M": "8", "cube.hbm.bw_gbs": "1"}) == (
        {"M": "8"},
        {"cube.hbm.bw_gbs": "1"},
    )


def test_cli_run_records_overrides(tmp_path, capsys):
    """`run --set cube.hbm.bw_gbs=51.2` stores the override and the resolved topology."""
    store = tmp_path / "store"
    argv = ["run", "gemm_single_pe", "--set", "M=128", "--set", "cube.hbm.bw_gbs=51.2"]
    assert main([*argv, "--store", str(store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overrides"] == {"cube.hbm.bw_gbs": 51.2}
    assert "cube.hbm.bw_gbs" not in out["params"]
    (row,) = duckdb.sql(
        "SELECT overrides, topology, topology_json, sweep_id "
        f"FROM read_parquet('{store}/runs/*/*.parquet')"
    ).fetchall()
    assert json.loads(row[0]) == {"cube.hbm.bw_gbs": 51.2}
    assert row[1] == "default" and row[3] is None
    assert json.loads(row[2])["cube"]["hbm"]["bw_gbs"] == 51.2


def test_cli_misspelt_topology_key_is_one_clear_error(tmp_path, capsys):
    """A misspelt topology key exits 2 with one line naming it, and records nothing."""
    store = tmp_path / "store"
    code = main(["run", "noop", "--set", "cube.hbm.bw_gb=51.2", "--store", str(store)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unknown topology key cube.hbm.bw_gb" in err and "cube.hbm.bw_gbs" in err
    assert not (store / "runs").exists()


def _memory_bound_ns(m: int, n: int, k: int, block: int, bw_gbs: float) -> float:
    """Bytes the tiled single-PE GEMM must move through its HBM slice, over its bandwidth."""
    moved = 2 * (m * k * math.ceil(n / block) + k * n * math.ceil(m / block) + m * n)
    return moved / bw_gbs


def test_halving_hbm_bandwidth_slows_gemm_by_the_bound_ratio():
    """A memory-bound 1024^3 GEMM at half the HBM bandwidth is slower by its bound's factor."""
    size = {"M": 1024, "N": 1024, "K": 1024}
    base = load_topology("default").params
    half_bw = base.cube.hbm.bw_gbs / 2
    runs = [
        run_workload("gemm_single_pe", dict(size), trace=False),
        run_workload("gemm_single_pe", {**size, "cube.hbm.bw_gbs": half_bw}, trace=False),
    ]
    kernel_ns = [next(m.value for m in r.metrics if m.name == "kernel_ns") for r in runs]
    compute_ns = 2 * 1024**3 / (2 * base.pe.gemm.rows * base.pe.gemm.cols * base.pe.clock_ghz)
    bounds = [
        max(compute_ns, _memory_bound_ns(1024, 1024, 1024, 128, bw))
        for bw in (min(base.cube.hbm.bw_gbs, base.pe.tcm.bw_gbs), half_bw)
    ]
    predicted = bounds[1] / bounds[0]
    assert predicted > 1.9  # memory-bound at both bandwidths: the test means something
    assert kernel_ns[1] / kernel_ns[0] == pytest.approx(predicted, rel=0.06)
