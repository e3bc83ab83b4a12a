"""Tests for simulator.hw.params and simulator.hw.topology."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import yaml

from simulator.hw import params
from simulator.hw.topology import (
    TOPOLOGY_DIR,
    PeCoord,
    TopologyError,
    list_topologies,
    load_topology,
    topology_from_dict,
)


def _raw_default() -> dict:
    return yaml.safe_load((TOPOLOGY_DIR / "default.yaml").read_text())


def _leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict) and key != "cycles_per_op":
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_presets_listed():
    """The three required presets ship and are listed by name."""
    assert {"default", "sip4x4", "multi_sip"} <= set(list_topologies())


@pytest.mark.parametrize(
    ("name", "sips", "rows", "cols", "pes_per_cube", "total"),
    [
        ("default", 1, 2, 2, 8, 32),
        ("sip4x4", 1, 4, 4, 8, 128),
        ("multi_sip", 4, 2, 2, 8, 128),
    ],
)
def test_preset_sizes(name, sips, rows, cols, pes_per_cube, total):
    """Each preset has the sizes DESIGN.md asks for."""
    topo = load_topology(name)
    assert topo.name == name
    assert (topo.num_sips, topo.cube_rows, topo.cube_cols) == (sips, rows, cols)
    assert topo.cubes_per_sip == rows * cols
    assert topo.pes_per_cube == pes_per_cube
    assert topo.num_pes == total


def test_every_schema_field_documented_without_default():
    """Every parameter has a one-line doc and no default (values live only in YAML)."""
    rows = params.schema_rows()
    assert len(rows) > 30
    for key, _type_name, doc in rows:
        assert doc and "\n" not in doc, key

    def walk(cls):
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING, f"{cls.__name__}.{f.name}"
            assert f.default_factory is dataclasses.MISSING, f"{cls.__name__}.{f.name}"
            if params.is_params_class(params.field_types(cls)[f.name]):
                walk(params.field_types(cls)[f.name])

    walk(params.TopologyParams)


def test_numeric_leaves_carry_units():
    """Float parameters name their unit in the key (ns, gbs, ghz, or a fraction)."""
    for key, type_name, _doc in params.schema_rows():
        if type_name == "float":
            assert key.endswith(("_ns", "_gbs", "_ghz", "_fraction")), key


def test_default_yaml_carries_every_key():
    """default.yaml lists exactly the schema's keys, so it is the one place defaults live."""
    schema_keys = {key for key, _, _ in params.schema_rows()}
    assert _leaf_keys(_raw_default()) == schema_keys


def test_other_presets_are_short_overrides_of_default():
    """sip4x4 and multi_sip use base: default and differ from it only where they say."""
    base = load_topology("default").to_dict()
    for name, changed in [
        ("sip4x4", {("sip", "cube_rows"): 4, ("sip", "cube_cols"): 4}),
        ("multi_sip", {("system", "num_sips"): 4}),
    ]:
        raw = yaml.safe_load((TOPOLOGY_DIR / f"{name}.yaml").read_text())
        assert raw["base"] == "default"
        got = load_topology(name).to_dict()
        for (section, key), value in changed.items():
            assert got[section][key] == value
            got[section][key] = base[section][key]
        got["name"], got["description"] = base["name"], base["description"]
        assert got == base


def test_values_match_yaml_and_ints_become_floats():
    """Loaded values equal the YAML; a float field given as int is stored as float."""
    raw = _raw_default()
    topo = load_topology("default")
    assert topo.params.cube.hbm.bw_gbs == raw["cube"]["hbm"]["bw_gbs"]
    assert topo.params.pe.math.cycles_per_op == raw["pe"]["math"]["cycles_per_op"]
    assert topo.params.launch.barrier is True
    assert isinstance(topo.params.pe.gemm.rows, int)


def test_to_json_canonical_and_hash(tmp_path):
    """to_json has sorted keys; hash is the first 16 hex chars of its sha256."""
    topo = load_topology("multi_sip")
    text = topo.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert "base" not in json.loads(text)
    assert topo.hash == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert len({load_topology(n).hash for n in ("default", "sip4x4", "multi_sip")}) == 3


def test_hash_ignores_int_vs_float_spelling(tmp_path):
    """Writing 64 or 64.0 for a bandwidth gives the same resolved JSON and hash."""
    path = _write(tmp_path, "default.yaml", "base: default\nsip:\n  mesh_link: {bw_gbs: 64}\n")
    assert load_topology(path).hash == load_topology("default").hash


def test_from_dict_round_trip():
    """A topology rebuilt from its JSON (as a trace stores it) is equal to the original."""
    topo = load_topology("sip4x4")
    again = topology_from_dict(json.loads(topo.to_json()))
    assert again == topo and again.hash == topo.hash


def test_base_merges_deeply_and_name_defaults_to_stem(tmp_path):
    """A file with base overrides one nested key; other keys come from the base."""
    path = _write(tmp_path, "mine.yaml", "base: default\ncube:\n  hbm: {bw_gbs: 50}\n")
    topo = load_topology(path)
    default = load_topology("default").params
    assert topo.name == "mine"
    assert topo.params.cube.hbm.bw_gbs == 50.0
    assert topo.params.cube.hbm.latency_ns == default.cube.hbm.latency_ns
    assert topo.params.pe == default.pe


def test_base_may_be_a_relative_file(tmp_path):
    """base can name a sibling YAML file, and chains resolve."""
    _write(tmp_path, "a.yaml", "base: default\ncube: {pes: 4}\n")
    path = _write(tmp_path, "b.yaml", "base: a.yaml\nsystem: {num_sips: 2}\n")
    topo = load_topology(path)
    assert (topo.num_sips, topo.pes_per_cube, topo.num_pes) == (2, 4, 2 * 4 * 4)


def test_base_loop_is_an_error(tmp_path):
    """A base chain that returns to itself is reported, not recursed forever."""
    _write(tmp_path, "a.yaml", "base: b.yaml\n")
    path = _write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(TopologyError, match="loops"):
        load_topology(path)


def test_unknown_topology_lists_valid_names():
    """An unknown preset name lists the valid ones."""
    with pytest.raises(TopologyError) as info:
        load_topology("nope")
    assert "'nope'" in str(info.value)
    for name in ("default", "multi_sip", "sip4x4"):
        assert name in str(info.value)


def test_missing_file_is_an_error(tmp_path):
    """A path that does not exist names the path."""
    with pytest.raises(TopologyError, match="not found"):
        load_topology(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "base: default\ncube:\n  hbm: {bw_gbs: -1.0}\n",
            "bad.yaml: cube.hbm.bw_gbs must be > 0, got -1.0",
        ),
        ("base: default\ncube: {pes: 0}\n", "bad.yaml: cube.pes must be > 0, got 0"),
        (
            "base: default\nsip:\n  mesh_link: {latency_ns: -2}\n",
            "bad.yaml: sip.mesh_link.latency_ns must be >= 0, got -2.0",
        ),
        (
            "base: default\ncube:\n  hbm: {bandwidth: 3}\n",
            "bad.yaml: unknown key cube.hbm.bandwidth",
        ),
        ("base: default\nrack: 1\n", "bad.yaml: unknown key rack"),
        ("base: default\ncube: {pes: true}\n", "bad.yaml: cube.pes must be an int, got bool True"),
        ("base: default\ncube: {pes: 8.0}\n", "bad.yaml: cube.pes must be an int, got float 8.0"),
        (
            "base: default\npe: {clock_ghz: fast}\n",
            "bad.yaml: pe.clock_ghz must be a number, got str 'fast'",
        ),
        (
            "base: default\nlaunch: {barrier: 1}\n",
            "bad.yaml: launch.barrier must be a bool, got int 1",
        ),
        (
            "base: default\npe:\n  math:\n    cycles_per_op: {exp: 0}\n",
            "bad.yaml: pe.math.cycles_per_op.exp must be > 0, got 0",
        ),
        ("base: default\ncube: 3\n", "bad.yaml: cube must be a mapping, got int 3"),
        (
            "base: default\npe:\n  ipcq: {inbox: dram}\n",
            "bad.yaml: pe.ipcq.inbox must be one of tcm, hbm, sram, got 'dram'",
        ),
        (
            "base: default\npe:\n  ipcq: {slots: 0}\n",
            "bad.yaml: pe.ipcq.slots must be > 0, got 0",
        ),
        ("base: default\nsip:\n  io_link: {bw_gbs: .nan}\n", "bad.yaml: sip.io_link.bw_gbs"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, body, message):
    """Each kind of bad value raises TopologyError naming the file and dotted key."""
    path = _write(tmp_path, "bad.yaml", body)
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert message in str(info.value)


def test_missing_key_named(tmp_path):
    """A file without base that omits a key names the dotted key."""
    raw = _raw_default()
    del raw["cube"]["sram"]["latency_ns"]
    path = _write(tmp_path, "full.yaml", yaml.safe_dump(raw))
    with pytest.raises(TopologyError, match=r"full\.yaml: missing key cube\.sram\.latency_ns"):
        load_topology(path)


@pytest.mark.parametrize("body", ["cube: [1, 2\n", "a: b: c\n", "", "- 1\n- 2\n"])
def test_syntax_and_shape_errors_name_file(tmp_path, body):
    """YAML syntax errors and non-mapping documents are TopologyErrors naming the file."""
    path = _write(tmp_path, "broken.yaml", body)
    with pytest.raises(TopologyError, match="broken.yaml"):
        load_topology(path)


def test_pe_coords_global_order():
    """pe_coords is sip-major, then cube, then PE, and pe_global counts 0..N-1."""
    topo = load_topology("multi_sip")
    coords = topo.pe_coords()
    assert [c.pe_global for c in coords] == list(range(128))
    assert coords == sorted(coords)
    # 37 = 1 SIP of 32 PEs + cube 0 + PE 5
    assert topo.pe_coord(37) == PeCoord(sip=1, cube=0, pe=5, pe_global=37, cube_row=0, cube_col=0)
    assert topo.coord(1, 0, 5) == topo.pe_coord(37)


def test_pe_coord_mesh_position():
    """cube index = row * cube_cols + col on the 4x4 mesh."""
    topo = load_topology("sip4x4")
    c = topo.pe_coord(100)  # 100 // 8 = cube 12 = row 3, col 0; PE 4
    assert (c.sip, c.cube, c.pe, c.cube_row, c.cube_col) == (0, 12, 4, 3, 0)
    c = topo.coord(0, 6, 7)  # cube 6 = row 1, col 2
    assert (c.pe_global, c.cube_row, c.cube_col) == (6 * 8 + 7, 1, 2)


@pytest.mark.parametrize("bad", [-1, 32, True])
def test_pe_coord_out_of_range(bad):
    """An out-of-range global PE index names the valid range."""
    with pytest.raises(ValueError, match="pe_global"):
        load_topology("default").pe_coord(bad)


def test_topology_is_immutable():
    """Topology and its params are frozen."""
    topo = load_topology("default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        topo.params = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        topo.params.cube.pes = 2
