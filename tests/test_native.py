"""Compiled hot modules (simulator.hw.native): used only while they match their sources,
and the same traces compiled as interpreted."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from simulator.hw import native

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


@pytest.fixture()
def fake_build(tmp_path, monkeypatch):
    """A package ``simulator.fake`` with one module and a build of it recorded fresh."""
    monkeypatch.setattr(native, "_fresh_stamps", {})
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    source = tmp_path / "simulator" / "fake" / "mod.py"
    source.parent.mkdir(parents=True)
    source.write_text("VALUE = 1\n")
    native_dir = tmp_path / "simulator" / "_native"
    (native_dir / "simulator" / "fake").mkdir(parents=True)
    (native_dir / "simulator" / "fake" / f"mod{SUFFIX}").write_bytes(b"")
    stamp = {
        "ext_suffix": SUFFIX,
        "modules": ["simulator.fake.mod"],
        "sources": {"simulator/fake/mod.py": native.source_digest(source)},
    }
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp))
    return source, native_dir


def test_a_fresh_build_is_found_ahead_of_the_sources(fake_build):
    _, native_dir = fake_build
    finder = native.install(native_dir)
    try:
        assert sys.meta_path[0] is finder
        spec = finder.find_spec("simulator.fake.mod")
        assert spec.origin == str(native_dir / "simulator" / "fake" / f"mod{SUFFIX}")
        assert finder.find_spec("simulator.fake.other") is None  # not compiled: the source
    finally:
        sys.meta_path.remove(finder)


def test_an_edited_source_runs_interpreted(fake_build):
    source, native_dir = fake_build
    source.write_text("VALUE = 2\n")
    assert native.install(native_dir) is None


def test_an_edited_module_that_a_compiled_one_imports_runs_everything_interpreted(fake_build):
    """The stamp holds the sources a build's types came from; editing one is stale too."""
    source, native_dir = fake_build
    dep = source.with_name("dep.py")
    dep.write_text("class Dep:\n    n: int\n")
    stamp = json.loads((native_dir / native.STAMP_NAME).read_text())
    stamp["sources"]["simulator/fake/dep.py"] = native.source_digest(dep)
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp))
    dep.write_text("class Dep:\n    n: str\n")
    assert native.install(native_dir) is None


def test_a_build_stamps_what_its_modules_import_from_the_project(tmp_path):
    """Project imports (plain, from-imports of modules and of names, type-only ones) are
    stamped; the standard library and third-party packages are not."""
    package = tmp_path / "simulator" / "fake"
    package.mkdir(parents=True)
    (tmp_path / "simulator" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for name in ("a", "b", "c"):
        (package / f"{name}.py").write_text("X = 1\n")
    (package / "mod.py").write_text(
        "from __future__ import annotations\n"
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "import numpy as np\n"
        "import simulator.fake.a\n"
        "from simulator.fake import b\n"
        "if TYPE_CHECKING:\n"
        "    from simulator.fake.c import X\n"
    )
    found = native.imported_sources("simulator.fake.mod", tmp_path)
    assert found == {
        package / "a.py",
        package / "b.py",
        package / "c.py",
        package / "__init__.py",  # `from simulator.fake import b` reads it first
    }


def test_a_build_for_another_interpreter_or_platform_is_not_used(fake_build):
    _, native_dir = fake_build
    stamp = json.loads((native_dir / native.STAMP_NAME).read_text())
    stamp["ext_suffix"] = ".cpython-311-aarch64-linux-gnu.so"
    (native_dir / native.STAMP_NAME).write_text(json.dumps(stamp))
    assert native.install(native_dir) is None


def test_no_build_or_a_broken_stamp_is_pure_python(fake_build, monkeypatch):
    _, native_dir = fake_build
    (native_dir / native.STAMP_NAME).write_text("{not json")
    assert native.install(native_dir) is None
    monkeypatch.setattr(native, "_fresh_stamps", {})
    (native_dir / native.STAMP_NAME).unlink()
    assert native.install(native_dir) is None


def test_a_build_of_fewer_modules_loads_but_is_rebuilt(fake_build, monkeypatch):
    """A module joining COMPILED_MODULES makes ``build --if-stale`` compile again, while
    the build before it, true to its sources, still loads."""
    _, native_dir = fake_build
    monkeypatch.setattr(native, "COMPILED_MODULES", ("simulator.fake.mod",))
    assert native.is_current(native_dir.parents[1], native_dir)
    monkeypatch.setattr(native, "COMPILED_MODULES", ("simulator.fake.mod", "simulator.fake.b"))
    assert not native.is_current(native_dir.parents[1], native_dir)
    assert native.is_fresh(native_dir.parents[1], native_dir)


def test_a_build_missing_a_module_is_not_used(fake_build):
    _, native_dir = fake_build
    (native_dir / "simulator" / "fake" / f"mod{SUFFIX}").unlink()
    assert native.install(native_dir) is None


def test_the_switch_turns_a_fresh_build_off(fake_build, monkeypatch):
    _, native_dir = fake_build
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.install(native_dir) is None


def test_the_compiled_modules_load_when_built():
    """``make test`` sets KERNBENCH_NATIVE=require after building: the network must then
    be the compiled module (elsewhere, only when a fresh build exists)."""
    import simulator.hw.network as network

    switch = os.environ.get(native.ENV_SWITCH)
    if switch == "0":
        pytest.skip("KERNBENCH_NATIVE=0: the compiled modules are off")
    required = switch == "require"
    if not native.is_fresh() and not required:
        pytest.skip("no fresh build of the compiled modules (make native)")
    assert native.is_fresh(), f"no fresh build in {native.NATIVE_DIR}: run `make native`"
    assert Path(network.__file__).suffix == ".so", network.__file__
    for name in native.COMPILED_MODULES:
        importlib.import_module(name)
    assert native.compiled_modules() == list(native.COMPILED_MODULES)
    from traces.packed_rows import row_packer_type  # traces.row_buffer.PackedRows, compiled

    assert row_packer_type() is not None


# Classes the simulation makes per op, DMA, piece, message or access, as
# "module:Class" (a class made that often must not construct through the interpreter).
PER_OP_CLASSES = (
    "simulator.hw.network:Transfer", "simulator.hw.network:_Flow", "simulator.hw.network:_End",
    "simulator.hw.network:_Wakeup", "simulator.engine.ops:Op", "simulator.engine.ops:Block",
    "simulator.engine.environment:LightEvent", "simulator.engine.ipcq:Message",
    "simulator.language.lowering:Access", "simulator.language.core:tensor",
    "simulator.language.comm:round",
)  # fmt: skip


def test_per_op_classes_construct_in_compiled_code():
    """Compiled, each per-op class's ``__init__`` is compiled too: a ``dataclass``'s
    generated ``__init__`` is an interpreted function even in a compiled module (it cost
    ~2,000 instructions per DMA on the all-reduce), so these classes write theirs out."""
    import types

    if not native.is_fresh() or os.environ.get(native.ENV_SWITCH) == "0":
        pytest.skip("the compiled modules are not loaded")
    interpreted = []
    for spec in PER_OP_CLASSES:
        module_name, class_name = spec.split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        assert cls.__module__ == module_name, spec
        init = cls.__dict__.get("__init__")
        assert init is not None, f"{spec} defines no __init__ of its own"
        if isinstance(init, types.FunctionType):
            interpreted.append(spec)
    assert not interpreted, f"constructed by an interpreted __init__: {interpreted}"


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


def test_runs_record_whether_the_compiled_modules_ran(monkeypatch):
    """sim_version carries ``+mypyc`` exactly while a compiled-module finder is installed."""
    monkeypatch.setattr(
        sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, native.CompiledFinder)]
    )
    interpreted_version = native.sim_version()
    assert "+" not in interpreted_version
    monkeypatch.setattr(sys, "meta_path", [native.CompiledFinder({}), *sys.meta_path])
    assert native.sim_version() == f"{interpreted_version}+mypyc"


def test_numpy_integers_from_a_kernel_reach_the_compiled_modules_as_ints():
    """Compiled code refuses a numpy integer where it declares ``int``; a kernel's numpy
    sizes, strides and offsets (constexprs and block pointers) still run, as interpreted."""
    import numpy as np

    import simulator.language as tl
    from simulator.runtime.runtime import Runtime

    i64 = np.int64

    @tl.jit
    def copy_tile(a_ptr, c_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
        shape, strides, at = (M, N), (N, i64(1)), (i64(0), i64(0))
        tile = tl.load(
            tl.make_block_ptr(a_ptr, shape, strides, at, (BM, BN), (1, 0)), boundary_check=(0, 1)
        )
        flat = tl.reshape(tile + tl.zeros((BM, BN), tl.float32), (BM * BN,))
        out = tl.make_block_ptr(c_ptr, shape, strides, at, (BM, BN), (1, 0))
        tl.store(out, tl.reshape(flat, (BM, BN)), boundary_check=(0, 1))

    rt = Runtime("default", verify_data=True)
    a = rt.from_numpy(np.arange(48 * 40, dtype=np.float32).reshape(48, 40))
    c = rt.from_numpy(np.zeros((48, 40), np.float32))
    copy_tile[(1,)](a, c, i64(48), i64(40), BM=i64(32), BN=i64(64))
    rt.synchronize()
    want = np.zeros((48, 40), np.float32)
    want[:32] = a.numpy()[:32]
    np.testing.assert_array_equal(c.numpy(), want)


def test_numpy_and_constexpr_arguments_of_tl_functions_run_as_interpreted():
    """The language checks what kernels pass it itself; compiled, a signature's ``int``,
    ``bool`` or ``tensor`` would refuse a numpy value, a ``tl.constexpr`` or a number
    before that (a bare TypeError). Each call below gives numpy's or a constexpr."""
    import numpy as np

    import simulator.language as tl
    from simulator.runtime.runtime import Runtime

    i64, yes = np.int64, np.True_

    @tl.jit
    def kernel(x_ptr, out_ptr, N: tl.constexpr):
        offsets = tl.arange(i64(0), N)
        x = tl.load(x_ptr + offsets)
        grid = tl.reshape(x, (i64(4), N // 4))
        rows = tl.sum(grid, axis=tl.constexpr(1), keep_dims=yes)  # (4, 1)
        top, where = tl.max(grid, i64(1), return_indices=yes)
        scan = tl.cumsum(grid, axis=i64(1), reverse=np.False_)
        assert tl.sum(grid, axis=i64(0)).shape == (N // 4,)
        total = tl.sum(rows, axis=None) + tl.sum(top) + tl.sum(where.to(tl.float32))
        total += tl.sum(scan) + tl.maximum(tl.program_id(i64(0)), 1.5)
        tl.store(out_ptr + tl.arange(0, 1), tl.reshape(tl.exp(0.0) * total, (1,)))

    rt = Runtime("default", verify_data=True)
    values = np.arange(16, dtype=np.float32)
    x, out = rt.from_numpy(values), rt.from_numpy(np.zeros(1, np.float32))
    kernel[(1,)](x, out, N=i64(16))
    rt.synchronize()
    grid = values.reshape(4, 4)
    want = grid.sum() + grid.max(1).sum() + 3 * 4 + np.cumsum(grid, 1).sum() + 1.5
    assert out.numpy()[0] == pytest.approx(want)


def test_finished_tiles_free_their_tcm_without_the_garbage_collector():
    """A tile's TCM is freed when the last reference to it goes, at once: data mode's
    work of an op holds its tiles in no reference cycle (a compiled nested function
    would), which would keep them until the collector ran and overflow TCM meanwhile."""
    import gc

    import numpy as np

    import simulator.language as tl
    from simulator.runtime.runtime import Runtime

    @tl.jit
    def kernel(a_ptr, p_ptr, c_ptr, N: tl.constexpr):
        a = tl.load(tl.make_block_ptr(a_ptr, offsets=(0, 0), block_shape=(N, N)))
        b = tl.load(p_ptr + tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :])
        c = tl.dot(a, b) + 1.0
        tl.store(tl.make_block_ptr(c_ptr, offsets=(0, 0), block_shape=(N, N)), c)
        tl.store(p_ptr + tl.arange(0, N), tl.sum(c, axis=1))

    rt = Runtime("default", verify_data=True)
    a = rt.from_numpy(np.eye(32, dtype=np.float32))
    p = rt.from_numpy(np.ones((32, 32), np.float32))
    c = rt.from_numpy(np.zeros((32, 32), np.float32))
    gc.collect()
    gc.disable()
    try:
        kernel[(1,)](a, p, c, N=32)
        rt.synchronize()
        held = {pe.name: pe.tcm_used_bytes for pe in rt.machine.pes if pe.tcm_used_bytes}
    finally:
        gc.enable()
    assert held == {}
    np.testing.assert_array_equal(c.numpy(), np.full((32, 32), 2.0, np.float32))


def test_sent_and_received_tiles_free_their_tcm_without_the_garbage_collector():
    """The same for send and recv (TCM and HBM inboxes), with a rank and a tag given as
    numpy integers: every PE's TCM is free when the launch ends."""
    import gc

    import numpy as np

    import simulator.language as tl
    from simulator.runtime.runtime import Runtime

    got = {}

    def kernel():
        r = tl.rank()
        tl.send(tl.zeros((1, 256), tl.float32) + float(r + 1), np.int64(1 - r), tag=np.int64(1))
        tile = tl.recv(np.int64(1 - r), (1, 256), tl.float32, tag=np.int64(1))
        tl.fence()  # from an HBM inbox the tile is a load, done by now
        got[r] = float(tile.data[0, 0])

    for inbox in ("tcm", "hbm"):
        rt = Runtime("default", verify_data=True)
        rt.machine.ipcq.config = dataclasses.replace(rt.machine.ipcq.config, inbox=inbox)
        gc.collect()
        gc.disable()
        try:
            rt.launch(kernel, pes=[0, 1])
            rt.synchronize()
            held = {pe.name: pe.tcm_used_bytes for pe in rt.machine.pes if pe.tcm_used_bytes}
        finally:
            gc.enable()
        assert (inbox, held, got) == (inbox, {}, {0: 2.0, 1: 1.0})
