"""Compiled hot modules (simulator.hw.native): used only while they match their sources,
and the same traces compiled as interpreted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from simulator.hw import native

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def fake_build(tmp_path, monkeypatch):
    """A package ``simulator.fake`` with one module and a build of it recorded fresh."""
    monkeypatch.setattr(native, "_fresh_by_root", {})
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    source = tmp_path / "simulator" / "fake" / "mod.py"
    source.parent.mkdir(parents=True)
    source.write_text("VALUE = 1\n")
    native_dir = tmp_path / "simulator" / "_native"
    (native_dir / "simulator" / "fake").mkdir(parents=True)
    stamp = {
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "modules": {"simulator.fake.mod": native.source_digest(source)},
    }
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp))
    return source, native_dir


def test_a_fresh_build_comes_first_on_the_package_path(fake_build):
    _, native_dir = fake_build
    path = ["/src/simulator/fake"]
    assert native.enable("simulator.fake", path, native_dir)
    assert path == [str(native_dir / "simulator" / "fake"), "/src/simulator/fake"]


def test_an_edited_source_runs_interpreted(fake_build):
    source, native_dir = fake_build
    source.write_text("VALUE = 2\n")
    path = ["/src/simulator/fake"]
    assert not native.enable("simulator.fake", path, native_dir)
    assert path == ["/src/simulator/fake"]


def test_a_build_for_another_interpreter_or_platform_is_not_used(fake_build):
    _, native_dir = fake_build
    stamp = json.loads((native_dir / native.STAMP_NAME).read_text())
    stamp["ext_suffix"] = ".cpython-311-aarch64-linux-gnu.so"
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp))
    assert not native.enable("simulator.fake", [], native_dir)


def test_no_build_or_a_broken_stamp_is_pure_python(fake_build, monkeypatch):
    _, native_dir = fake_build
    (native_dir / native.STAMP_NAME).write_text("{not json")
    assert not native.enable("simulator.fake", [], native_dir)
    monkeypatch.setattr(native, "_fresh_by_root", {})
    (native_dir / native.STAMP_NAME).unlink()
    assert not native.enable("simulator.fake", [], native_dir)


def test_the_switch_turns_a_fresh_build_off(fake_build, monkeypatch):
    _, native_dir = fake_build
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert not native.enable("simulator.fake", [], native_dir)


def test_the_compiled_modules_load_when_built():
    """``make test`` sets KERNBENCH_NATIVE=require after building: the network must then
    be the compiled module (elsewhere, only when a fresh build exists)."""
    import simulator.hw.network as network

    required = os.environ.get(native.ENV_SWITCH) == "require"
    if not native.is_fresh() and not required:
        pytest.skip("no fresh build of the compiled modules (make native)")
    assert native.is_fresh(), f"no fresh build in {native.NATIVE_DIR}: run `make native`"
    assert Path(network.__file__).suffix == ".so", network.__file__
    assert native.compiled_modules() == ["simulator.hw.network"]


@pytest.mark.slow
def test_interpreted_modules_give_the_golden_traces():
    """The reference runs with KERNBENCH_NATIVE=0 match the golden digests, which the
    in-process identity test checks for the modules as loaded (compiled after a build)."""
    env = dict(os.environ, **{native.ENV_SWITCH: "0"})
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.path[:0] = ['tests', '.']\n"
         "import simulator.hw.network as n, trace_identity as t\n"
         "assert n.__file__.endswith('.py'), n.__file__\n"
         "sys.exit(t.main([]))"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical to the golden digests" in done.stdout
