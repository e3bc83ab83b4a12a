"""ccl.yaml: the algorithm registry and its errors; the IPCQ inbox comes from the topology."""

import pytest
import yaml

from simulator.ccl.registry import (
    REGISTRY_PATH,
    CclError,
    default_algorithm,
    get_algorithm,
    load_registry,
)
from simulator.hw.topology import load_topology
from simulator.runtime.runtime import Runtime

GOOD = {
    "all_reduce": {
        "default": "ring",
        "algorithms": {
            "ring": {
                "module": "simulator.ccl.ring",
                "kernel": "ring_all_reduce",
                "topology": "any",
                "defaults": {"subchunk_kib": 4},
            },
        },
    },
}


def write(tmp_path, data, name="ccl.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_registry_matches_its_yaml():
    """The parsed default and algorithms come straight from the shipped file."""
    raw = yaml.safe_load(REGISTRY_PATH.read_text())
    assert default_algorithm() == raw["all_reduce"]["default"]
    for name, entry in raw["all_reduce"]["algorithms"].items():
        algo = get_algorithm(name)
        assert callable(algo.kernel())
        assert algo.subchunk_bytes == entry["defaults"]["subchunk_kib"] * 1024


def test_a_custom_file_is_parsed(tmp_path):
    """Values of another file are read, not defaulted."""
    reg = load_registry(write(tmp_path, GOOD))
    assert reg.defaults == {"all_reduce": "ring"}
    assert reg.algorithms["all_reduce"]["ring"].subchunk_bytes == 4096


@pytest.mark.parametrize(
    "edit,match",
    [
        (
            lambda d: d.update(ipcq={"inbox": "tcm", "slots": 4, "slot_kib": 64}),
            r"bad\.yaml: ipcq: the IPCQ inbox is hardware: set it in the topology \(pe\.ipcq\)",
        ),
        (
            lambda d: d["all_reduce"].update(default="tree"),
            r"all_reduce\.default: 'tree' is not one of ring",
        ),
        (
            lambda d: d["all_reduce"]["algorithms"]["ring"].update(topology="torus"),
            r"all_reduce\.algorithms\.ring\.topology: 'torus' is not one of any, levels",
        ),
        (
            lambda d: d["all_reduce"]["algorithms"]["ring"].pop("module"),
            r"all_reduce\.algorithms\.ring\.module: missing",
        ),
        (
            lambda d: d["all_reduce"]["algorithms"]["ring"]["defaults"].pop("subchunk_kib"),
            r"ring\.defaults\.subchunk_kib: must be a positive number, got None",
        ),
        (
            lambda d: d["all_reduce"]["algorithms"]["ring"]["defaults"].update(
                sampled_lead_per_slot=0
            ),
            r"ring\.defaults\.sampled_lead_per_slot: must be a positive number, got 0",
        ),
    ],
)
def test_bad_entries_name_file_and_key(tmp_path, edit, match):
    """Every bad value is a CclError naming the file and the dotted key."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    edit(data)
    with pytest.raises(CclError, match=match):
        load_registry(write(tmp_path, data, "bad.yaml"))


def test_missing_kernel_function_is_named(tmp_path):
    """A module without the named kernel fails when the kernel is looked up."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["all_reduce"]["algorithms"]["ring"]["kernel"] = "nope"
    algo = load_registry(write(tmp_path, data)).algorithms["all_reduce"]["ring"]
    with pytest.raises(CclError, match="module simulator.ccl.ring has no function 'nope'"):
        algo.kernel()


def test_unknown_collective_lists_known_ones():
    """Asking for an op the registry lacks names the ones it has."""
    with pytest.raises(CclError, match="unknown collective 'all_gather'; valid: all_reduce"):
        get_algorithm(None, "all_gather")


def test_levels_requirement_accepts_full_cubes_and_sips():
    """hierarchical accepts 8 ranks in a cube, 32 in a SIP, 128 over 4 SIPs."""
    algo = get_algorithm("hierarchical")
    coords = load_topology("multi_sip").pe_coords()
    for world in (1, 8, 16, 32, 64, 128):
        algo.check_ranks(coords[:world])
    with pytest.raises(CclError, match=r"cubes per SIP: sip0: 4, sip1: 1"):
        algo.check_ranks(coords[:40])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ("tcm", 4, 64 * 1024)),
        ({"pe.ipcq.inbox": "hbm", "pe.ipcq.slot_kib": 8}, ("hbm", 4, 8192)),
    ],
)
def test_ipcq_inbox_comes_from_the_topology(overrides, expected):
    """The machine's inbox, slots and slot size are the topology's pe.ipcq values."""
    topo = load_topology("default", overrides=overrides)
    raw = yaml.safe_load((REGISTRY_PATH.parent.parent / "topologies" / "default.yaml").read_text())
    assert raw["pe"]["ipcq"] == {"inbox": "tcm", "slots": 4, "slot_kib": 64}
    config = Runtime(topo).machine.ipcq.config
    assert (config.inbox, config.slots, config.slot_bytes) == expected
