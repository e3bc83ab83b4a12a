"""`kernbench sweep`: grid expansion, validation, and sweeps on a local Dask cluster."""

import json

import duckdb
import pytest

from simulator.cli import main
from simulator.sweep import (
    Point,
    SweepError,
    expand,
    load_grid_file,
    parse_grid,
    point_key,
    swept_keys,
    validate,
)


def test_expand_is_the_cartesian_product():
    """Topologies x every grid axis, fixed values in every point, grid keys win."""
    grid = {"M": ["128", "256"], "cube.hbm.bw_gbs": ["51.2", "102.4", "204.8"]}
    points = expand({"K": "64", "M": "1"}, grid, ["default", "sip4x4"])
    assert len(points) == 2 * 2 * 3
    assert [p.index for p in points] == list(range(12))
    combos = {(p.topology, p.values["M"], p.values["cube.hbm.bw_gbs"]) for p in points}
    assert len(combos) == 12
    assert all(p.values["K"] == "64" for p in points)
    assert swept_keys(points) == ["topology", "M", "cube.hbm.bw_gbs"]


def test_parse_grid_and_grid_file(tmp_path):
    """--grid K=V1,V2 and a YAML grid file give the same axes; bad syntax is a SweepError."""
    assert parse_grid(["M=128, 256", "cube.hbm.bw_gbs=51.2"]) == {
        "M": ["128", "256"],
        "cube.hbm.bw_gbs": ["51.2"],
    }
    path = tmp_path / "grid.yaml"
    path.write_text("M: [128, 256]\ncube.hbm.bw_gbs: 51.2\ntopology: [default]\n")
    assert load_grid_file(path) == {
        "M": [128, 256],
        "cube.hbm.bw_gbs": [51.2],
        "topology": ["default"],
    }
    for bad in ("M", "M=", "=1,2"):
        with pytest.raises(SweepError, match="--grid expects K=V1,V2"):
            parse_grid([bad])
    path.write_text("M: {a: 1}\n")
    with pytest.raises(SweepError, match="M must be a value or a non-empty list"):
        load_grid_file(path)


def test_point_key_matches_resolved_values():
    """A point given as strings and the same point as stored (typed, defaults filled) match."""
    given = point_key("gemm_single_pe", "default", {"M": "256", "cube.hbm.bw_gbs": "51.2"})
    stored = point_key("gemm_single_pe", "default", {"M": 256, "cube.hbm.bw_gbs": 51.2})
    other = point_key("gemm_single_pe", "default", {"M": 256, "cube.hbm.bw_gbs": 102.4})
    assert given == stored != other


def test_validate_names_the_point_and_key():
    """A misspelt key or bad value in any point fails the sweep before anything runs."""
    points = expand({}, {"cube.hbm.bw_gb": ["1", "2"]}, ["default"])
    with pytest.raises(SweepError, match=r"point 0 .*unknown topology key cube.hbm.bw_gb"):
        validate("noop", points)
    with pytest.raises(SweepError, match=r"point 1 \(M=abc\).*'abc' is not an integer"):
        validate(
            "gemm_single_pe", [Point(0, "default", {"M": "64"}), Point(1, "default", {"M": "abc"})]
        )


def test_cli_bad_grid_is_one_error_and_runs_nothing(tmp_path, capsys):
    """An unknown grid key exits 2 with one line naming it; the store stays empty."""
    store = tmp_path / "store"
    code = main(["sweep", "noop", "--grid", "cube.hbm.bw_gb=1,2", "--store", str(store)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "unknown topology key cube.hbm.bw_gb" in err
    assert not (store / "runs").exists()


def _runs(store):
    return duckdb.sql(
        "SELECT run_id, sweep_id, status, params, overrides "
        f"FROM read_parquet('{store}/runs/*/*.parquet') ORDER BY run_id"
    ).fetchall()


@pytest.mark.slow
def test_local_cluster_sweep_and_resume(tmp_path, capsys):
    """A 2x2 sweep on 2 local workers: 4 runs, one sweep id; resume reruns only the failure."""
    store = str(tmp_path / "store")
    # block_m = block_n = 512 needs a 1 MiB fp32 accumulator next to its input tiles:
    # more than the 1 MiB TCM, so exactly that point fails.
    argv = ["sweep", "gemm_single_pe", "--set", "M=512", "--set", "N=512", "--set", "K=128"]
    argv += ["--grid", "block_m=128,512", "--grid", "block_n=128,512"]
    argv += ["--store", store, "--jobs", "2", "--json"]
    assert main(argv) == 1  # one point failed
    out = json.loads(capsys.readouterr().out)
    rows = _runs(store)
    assert len(rows) == 4 and {r[1] for r in rows} == {out["sweep_id"]}
    assert sorted(p["run_id"] for p in out["points"]) == [r[0] for r in rows]
    statuses = {
        (p["values"]["block_m"], p["values"]["block_n"]): p["status"] for p in out["points"]
    }
    assert statuses == {
        ("128", "128"): "ok",
        ("128", "512"): "ok",
        ("512", "128"): "ok",
        ("512", "512"): "failed",
    }
    ok_point = next(p for p in out["points"] if p["status"] == "ok")
    assert ok_point["metrics"]["kernel_ns"]["unit"] == "ns"

    # Resume from the store alone: only the failed point runs again (and fails again).
    resume = ["sweep", "gemm_single_pe", "--store", store, "--jobs", "1", "--json"]
    assert main([*resume, "--resume", out["sweep_id"]]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["sweep_id"] == out["sweep_id"]
    assert (again["n_ok"], again["n_failed"], again["n_skipped"]) == (0, 1, 3)
    rows_after = _runs(store)
    new = [r for r in rows_after if r not in rows]
    assert len(new) == 1 and new[0][1] == out["sweep_id"] and new[0][2] == "failed"
    assert json.loads(new[0][3])["block_m"] == json.loads(new[0][3])["block_n"] == 512


# A user's script with two parameters; a BLOCK that is not a power of two fails its
# point (tl.arange, as in Triton).
_SCRIPT = """\
import numpy as np
import kernbench
import simulator.language as tl
from simulator.runtime.placement import Placement
from simulator.runtime.runtime import Runtime

@tl.jit
def scale(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 3.0, mask=offs < n)

n = kernbench.param("n", 4096)
block = kernbench.param("BLOCK", 256)
rt = Runtime("default", verify_data=True)
x = rt.from_numpy(np.ones(n, dtype=np.float32), Placement.single(0))
launch = scale[(tl.cdiv(n, block),)](x, n, BLOCK=block)
kernbench.verified(bool(np.all(x.numpy() == 3.0)))
kernbench.metric("kernel_ns", launch.end_ns - launch.target_start_ns, "ns")
"""


@pytest.mark.slow
def test_a_script_sweeps_resumes_and_reruns_when_edited(tmp_path, capsys):
    """`sweep script.py`: one run per point named after the script, each with the grid's
    values and the script's identity; a misspelt key or a bad topology key fails before
    or at each point with a clear message; resume reruns only the failed point, and every
    point of an edited script."""
    script = tmp_path / "scale.py"
    script.write_text(_SCRIPT)
    store = str(tmp_path / "store")
    grid = ["sweep", str(script), "--set", "n=3000", "--grid", "BLOCK=128,3,1024"]
    assert main([*grid, "--store", store, "--jobs", "2", "--json"]) == 1  # BLOCK=3 failed
    out = json.loads(capsys.readouterr().out)
    assert out["workload"] == "scale" and out["swept"] == ["BLOCK"]
    by_block = {p["values"]["BLOCK"]: p for p in out["points"]}
    assert {b: p["status"] for b, p in by_block.items()} == {
        "128": "ok", "3": "failed", "1024": "ok"}  # fmt: skip
    assert "power of 2" in by_block["3"]["error"]
    assert all(p["topology"] is None for p in out["points"])  # the script's own
    rows = duckdb.sql(
        "SELECT run_id, workload, topology, params, status, verified, sweep_id "
        f"FROM read_parquet('{store}/runs/*/*.parquet') ORDER BY run_id"
    ).fetchall()
    assert len(rows) == 3 and {r[6] for r in rows} == {out["sweep_id"]}
    assert {(r[1], r[2]) for r in rows} == {("scale", "default")}
    for run_id, _w, _t, params, status, verified, _s in rows:
        params = json.loads(params)
        block = params["BLOCK"]
        assert params["n"] == 3000 and params["script"].startswith(f"{script.as_posix()}@")
        assert status == by_block[str(block)]["status"]
        assert run_id == by_block[str(block)]["run_id"]
        assert verified is (True if status == "ok" else None)
    # The programs each run launched: cdiv(n, BLOCK), as the grid's values asked.
    for block, launched in ((128, 24), (1024, 3)):
        run_id = by_block[str(block)]["run_id"]
        ((count,),) = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{store}/programs/run_id={run_id}/*.parquet')"
        ).fetchall()
        assert count == launched

    resume = ["sweep", str(script), "--store", store, "--jobs", "1", "--json"]
    assert main([*resume, "--resume", out["sweep_id"]]) == 1
    again = json.loads(capsys.readouterr().out)
    assert (again["n_ok"], again["n_failed"], again["n_skipped"]) == (0, 1, 2)
    # An edited script is other code: every point runs again.
    script.write_text(_SCRIPT.replace("* 3.0", "* 3.0 + 0.0"))
    assert main([*grid, *resume[2:], "--resume", out["sweep_id"]]) == 1
    edited = json.loads(capsys.readouterr().out)
    assert (edited["n_ok"], edited["n_failed"], edited["n_skipped"]) == (2, 1, 0)

    assert main(["sweep", str(script), "--grid", "BLOK=1,2", "--store", store, "--json"]) == 1
    misspelt = json.loads(capsys.readouterr().out)
    assert all("never read a parameter of that name" in p["error"] for p in misspelt["points"])
    code = main(["sweep", str(script), "--grid", "cube.hbm.bw_gb=1,2", "--store", store])
    assert code == 2 and "unknown topology key cube.hbm.bw_gb" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "nope.py"), "--store", store]) == 2
    assert "script" in capsys.readouterr().err
