"""Compiled hot modules: the simulator's innermost loops built with mypyc, used only while
they match their sources.

The modules of ``COMPILED_MODULES`` are ordinary Python; ``python -m simulator.hw.compile``
(``make test`` and ``make demo`` run it) compiles them with mypyc into
``simulator/_native/`` beside their sources, with ``sources.json`` recording the SHA-256
of each source it compiled and of every project module those import (their types shaped
the compiled code), and the extension suffix of the interpreter and platform they were
built for (``.cpython-311-x86_64-linux-gnu.so``). ``simulator/__init__.py`` calls
:func:`install`: when every recorded source still has its digest (and this interpreter
and platform load that suffix), an import finder loads the compiled modules in place of
their sources; otherwise everything stays pure Python. An edited source therefore never
runs stale compiled code: it runs interpreted, the same simulation at the interpreter's
speed, until the next build.

Compiled and interpreted modules give the same trace, bit for bit
(``tests/test_native.py`` runs the trace-identity cases both ways): mypyc keeps Python's
float arithmetic (IEEE doubles, no fused multiply-add on the default x86-64 target) and
its order of operations.

``KERNBENCH_NATIVE=0`` turns the compiled modules off for a process (to compare, or to
profile Python lines). A machine without a C compiler or mypy keeps pure Python: the build
says why and exits 0.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

# Every process imports this module (simulator/__init__.py): what only a build needs
# (ast, shutil, subprocess, tempfile) is imported there, and the finder is a plain class
# (importlib.abc would import importlib.resources, ~9 ms).

# Modules compiled by mypyc, in one group: where a simulation spends its time per op
# (the network's max-min refill and completion heap, the engines' queues, the trace
# recorder, the task scheduler, the IPCQ channels of collectives, the lowering of tiles
# to DMA pieces, the kernel language's tiles, loads, dots and sends, and the appender
# of a traced run's rows).
COMPILED_MODULES = (
    "simulator.hw.network",
    "simulator.engine.ops",
    "simulator.engine.pe",
    "simulator.engine.recorder",
    "simulator.engine.scheduler",
    "simulator.engine.environment",
    "simulator.engine.ipcq",
    "simulator.language.lowering",
    "simulator.language.core",
    "simulator.language.comm",
    "traces.row_buffer",
)

# The packages the compiled modules import (their types decide the compiled code).
_TYPED_PACKAGES = ("simulator", "traces")

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``simulator`` package (a checkout, or site-packages)."""
NATIVE_DIR = PACKAGE_ROOT / "simulator" / "_native"
"""Where the compiled modules live, by package path (``simulator/hw/network.*.so``)."""
STAMP_NAME = "sources.json"
ENV_SWITCH = "KERNBENCH_NATIVE"

_fresh_stamps: dict[Path, dict[str, Any] | None] = {}


def source_path(module: str, root: Path = PACKAGE_ROOT) -> Path:
    """The source file of a module named in COMPILED_MODULES."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_digest(path: Path) -> str:
    """SHA-256 of a source file's bytes (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def imported_sources(module: str, root: Path = PACKAGE_ROOT) -> set[Path]:
    """The project source files ``module`` imports (``simulator`` and ``traces`` modules,
    ``if TYPE_CHECKING:`` imports included): the types its compiled code was built for."""
    import ast

    found: set[Path] = set()
    tree = ast.parse(source_path(module, root).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] not in _TYPED_PACKAGES:
                continue
            path = root.joinpath(*name.split("."))
            for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                if candidate.is_file():
                    found.add(candidate)
    return found


def fresh_stamp(root: Path = PACKAGE_ROOT, native_dir: Path | None = None) -> dict[str, Any] | None:
    """The stamp of the build in ``native_dir`` when it was made from the sources under
    ``root`` as they are now (every source it records), for this interpreter and
    platform; None otherwise. Read and checked once per process."""
    native_dir = native_dir if native_dir is not None else root / "simulator" / "_native"
    if native_dir in _fresh_stamps:
        return _fresh_stamps[native_dir]
    fresh: dict[str, Any] | None = None
    try:
        stamp = json.loads((native_dir / STAMP_NAME).read_text())
        if stamp["ext_suffix"] == sysconfig.get_config_var("EXT_SUFFIX") and all(
            source_digest(root / relative) == digest
            for relative, digest in stamp["sources"].items()
        ):
            fresh = stamp
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        fresh = None  # no build, or an unreadable one: pure Python
    _fresh_stamps[native_dir] = fresh
    return fresh


def is_fresh(root: Path = PACKAGE_ROOT, native_dir: Path | None = None) -> bool:
    """Whether ``native_dir`` holds a build true to the sources under ``root`` (see
    fresh_stamp)."""
    return fresh_stamp(root, native_dir) is not None


def is_current(root: Path = PACKAGE_ROOT, native_dir: Path | None = None) -> bool:
    """Whether the build is fresh and of today's COMPILED_MODULES: one made before a module
    joined the list still loads (it matches its sources), but ``build --if-stale`` makes
    a new one."""
    stamp = fresh_stamp(root, native_dir)
    return stamp is not None and stamp["modules"] == list(COMPILED_MODULES)


class CompiledFinder:
    """A meta path finder (importlib.abc.MetaPathFinder's protocol): finds the compiled
    build of a module of a fresh build (``modules``: name -> the extension file), ahead
    of its source."""

    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        compiled = self.modules.get(fullname)
        if compiled is None:
            return None
        return importlib.util.spec_from_file_location(fullname, compiled)


def install(native_dir: Path = NATIVE_DIR) -> CompiledFinder | None:
    """Make ``import`` load the compiled modules when the build in ``native_dir`` is fresh
    and ``KERNBENCH_NATIVE`` is not ``0`` (``simulator/__init__.py`` calls this before
    any of them is imported). Returns the finder it installed, or None (pure Python).

    All or nothing: one stale source leaves every module interpreted, since the modules
    of one mypyc group call each other's compiled code directly.
    """
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None
    stamp = fresh_stamp(native_dir.parents[1], native_dir)
    if stamp is None:
        return None
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    modules = {}
    for module in stamp["modules"]:
        compiled = native_dir.joinpath(*module.split(".")).with_name(
            module.rpartition(".")[2] + suffix
        )
        if not compiled.is_file():
            return None
        modules[module] = compiled
    if str(native_dir) not in sys.path:
        sys.path.append(str(native_dir))  # a group's shared library is a top-level module
    finder = CompiledFinder(modules)
    sys.meta_path.insert(0, finder)
    return finder


def installed() -> bool:
    """Whether this process loads the compiled modules (install() found a fresh build)."""
    return any(isinstance(finder, CompiledFinder) for finder in sys.meta_path)


def sim_version() -> str:
    """The installed kernbench version as runs record it (``unknown`` from a bare
    checkout), with the PEP 440 local label ``+mypyc`` when the compiled modules run:
    wall times of the two differ by ~1.7x, and the label says which a run's is."""
    version = _installed_version()
    return f"{version}+mypyc" if installed() else version


@functools.cache
def _installed_version() -> str:
    """The installed kernbench's version (``unknown`` from a bare checkout): read once per
    process (its metadata is parsed anew by each lookup, ~1 ms)."""
    from importlib import metadata  # ~30 ms: only runs ask, not every CLI start-up

    try:
        return metadata.version("kernbench")
    except metadata.PackageNotFoundError:
        return "unknown"


def compiled_modules() -> list[str]:
    """The modules of COMPILED_MODULES loaded compiled in this process (imported ones)."""
    return [
        name
        for name in COMPILED_MODULES
        if name in sys.modules
        and not str(getattr(sys.modules[name], "__file__", "")).endswith(".py")
    ]


def build(root: Path = PACKAGE_ROOT, *, if_stale: bool = False) -> bool:
    """Compile COMPILED_MODULES of the sources under ``root`` into its
    ``simulator/_native``; returns whether compiled modules are now in place.

    The sources are copied first, so an edit during the build cannot leave a stamp that
    does not describe the compiled code. Without mypy or a C compiler it prints why
    and leaves the previous build, if any, untouched (a stale one is not used).
    """
    import shutil
    import subprocess
    import tempfile

    native_dir = root / "simulator" / "_native"
    if if_stale and is_current(root, native_dir):
        return True
    try:
        import mypyc  # noqa: F401 - only to say clearly that it is missing
    except ImportError:
        print("simulator.hw.native: mypy is not installed; the simulator runs as pure Python")
        return False
    with tempfile.TemporaryDirectory(prefix="kernbench-native-") as tmp:
        work = Path(tmp)
        for package in _TYPED_PACKAGES:  # what the compiled modules' types come from
            shutil.copytree(
                root / package,
                work / package,
                ignore=shutil.ignore_patterns("__pycache__", "_native", "*.so", "*.pyc"),
            )
        sources = [str(source_path(module, work).relative_to(work)) for module in COMPILED_MODULES]
        command = [sys.executable, "-m", "mypyc", "--follow-imports=silent",
                   "--ignore-missing-imports", *sources]  # fmt: skip
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(
                "simulator.hw.native: mypyc could not compile "
                f"{', '.join(COMPILED_MODULES)}; the simulator runs as pure Python:\n"
                + (done.stdout + done.stderr)[-3000:]
            )
            return False
        stamped: set[Path] = set()
        for module in COMPILED_MODULES:
            stamped |= {source_path(module, work), *imported_sources(module, work)}
        stamp = {
            "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
            "modules": list(COMPILED_MODULES),
            "sources": {
                str(path.relative_to(work)): source_digest(path) for path in sorted(stamped)
            },
        }
        shutil.rmtree(native_dir, ignore_errors=True)
        for built in work.rglob("*.so"):
            if "build" in built.relative_to(work).parts[:1]:
                continue  # mypyc's intermediate copies
            target = native_dir / built.relative_to(work)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, target)
        (native_dir / STAMP_NAME).write_text(json.dumps(stamp, indent=1) + "\n")
    _fresh_stamps.pop(native_dir, None)
    print(f"simulator.hw.native: compiled {', '.join(COMPILED_MODULES)} into {native_dir}")
    return True
