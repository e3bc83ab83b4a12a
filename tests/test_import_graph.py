"""The import graph of the packages (stdlib ``ast``): layers point one way, no cycles.

Every ``import``/``from ... import`` counts wherever it sits (module level or inside a
function): a lazy import hides an arrow, it does not remove it. Imports under
``if TYPE_CHECKING:`` never run, so they are left out of the cycle check, but they still
may not point up a layer. Relative imports are resolved; ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module, else of ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("simulator", "traces", "dashboard")
# Layers of simulator/, lowest first: a module may import its own layer and those below.
SIMULATOR_LAYERS = ("hw", "engine", "language", "ccl", "runtime", "triton", "workloads")
# The top of the simulator (runner, CLI, package root) may import every layer.
SIMULATOR_TOP = len(SIMULATOR_LAYERS)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def find_modules() -> dict[str, Path]:
    """Every module of the packages: dotted name -> file."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _typing_only_nodes(tree: ast.Module) -> set[int]:
    """ids of the statements inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                inside.update(id(n) for n in ast.walk(stmt))
    return inside


def imports_of(
    name: str, path: Path, modules: dict[str, Path], *, typing_only: bool = True
) -> set[str]:
    """Modules of ``modules`` that module ``name`` imports, anywhere in its body
    (without the ``if TYPE_CHECKING:`` ones when ``typing_only`` is False)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # The closest enclosing module that exists (a name inside a module -> the module).
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    tree = ast.parse(path.read_text(), filename=str(path))
    skip = set() if typing_only else _typing_only_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in modules else base)
    return found


def import_graph(*, typing_only: bool = True) -> dict[str, set[str]]:
    """module -> the modules it imports (with or without ``if TYPE_CHECKING:`` ones)."""
    modules = find_modules()
    return {
        name: imports_of(name, path, modules, typing_only=typing_only)
        for name, path in modules.items()
    }


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Every import, type-only ones included."""
    return import_graph()


@pytest.fixture(scope="module")
def runtime_graph() -> dict[str, set[str]]:
    """The imports that execute (no ``if TYPE_CHECKING:`` ones)."""
    return import_graph(typing_only=False)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def simulator_layer(module: str) -> int | None:
    """Index of ``module``'s layer in SIMULATOR_LAYERS (SIMULATOR_TOP for the top);
    None outside simulator/."""
    parts = module.split(".")
    if parts[0] != "simulator":
        return None
    if len(parts) > 1 and parts[1] in SIMULATOR_LAYERS:
        return SIMULATOR_LAYERS.index(parts[1])
    return SIMULATOR_TOP


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """ "a -> b" for every simulator import of a higher layer than the importer's."""
    bad = []
    for module, targets in sorted(graph.items()):
        own = simulator_layer(module)
        if own is None:
            continue
        for target in sorted(targets):
            theirs = simulator_layer(target)
            if theirs is not None and theirs > own:
                bad.append(f"{module} -> {target}")
    return bad


def test_the_graph_sees_real_imports(graph, runtime_graph):
    """The walker finds known edges: absolute, from-package and lazy ones; type-only
    imports are in one graph only."""
    assert "simulator.engine.machine" in graph["simulator.engine.pe"]
    assert "simulator.engine.machine" not in runtime_graph["simulator.engine.pe"]
    assert "simulator.engine.scheduler" in graph["simulator.engine.machine"]
    assert (
        "simulator.hw.graph" in graph["simulator.engine.machine"]
    )  # from simulator.hw import graph
    assert "traces.schema" in graph["traces.writer"]
    assert "simulator.workloads.registry" in graph["simulator.runner"]
    assert "traces.opener" in runtime_graph["simulator.runner"]  # imported inside a function


def test_no_import_cycles(runtime_graph):
    """No two modules of simulator/, traces/ or dashboard/ import each other, even indirectly."""
    assert find_cycles(runtime_graph) == []


@pytest.mark.parametrize("package", ["traces", "dashboard"])
def test_traces_and_dashboard_never_import_the_simulator(graph, package):
    """dashboard -> traces <- simulator: the analysis side does not know the model."""
    bad = [
        f"{m} -> {t}"
        for m, targets in sorted(graph.items())
        if m.split(".")[0] == package
        for t in sorted(targets)
        if t.split(".")[0] == "simulator"
    ]
    assert bad == []


def test_dashboard_is_not_imported_by_traces(graph):
    """traces is below dashboard."""
    bad = [f"{m} -> {t}" for m, ts in graph.items() if m.startswith("traces") for t in ts
           if t.startswith("dashboard")]  # fmt: skip
    assert bad == []


def test_simulator_layers_point_down(graph):
    """hw < engine < language < ccl < runtime < triton < workloads < runner/cli: no arrow back up
    (engine and hw import nothing from language, ccl, runtime or workloads)."""
    assert upward_imports(graph) == []


def test_checks_catch_planted_knots():
    """The checks flag a two-module cycle, a longer one, and an upward import."""
    planted = {
        "simulator.engine.ipcq": {"simulator.ccl.registry"},
        "simulator.ccl.registry": {"simulator.engine.ipcq"},
        "traces.a": {"traces.b"},
        "traces.b": {"traces.c"},
        "traces.c": {"traces.a"},
        "simulator.runtime.x": {"simulator.hw.y"},
    }
    assert find_cycles(planted) == [
        ["simulator.ccl.registry", "simulator.engine.ipcq"],
        ["traces.a", "traces.b", "traces.c"],
    ]
    assert upward_imports(planted) == ["simulator.engine.ipcq -> simulator.ccl.registry"]


def test_layers_cover_every_simulator_package():
    """A new sub-package of simulator/ must be placed in SIMULATOR_LAYERS on purpose."""
    packages = {p.name for p in (ROOT / "simulator").iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(SIMULATOR_LAYERS), sorted(packages - set(SIMULATOR_LAYERS))


def graph_text() -> str:
    """The import edges, one per line (for eyeballing: python tests/test_import_graph.py)."""
    lines = []
    for module, targets in sorted(import_graph().items()):
        lines.extend(f"{module} -> {t}" for t in sorted(targets))
    return "\n".join(lines)


if __name__ == "__main__":
    print(graph_text())
    print("cycles:", find_cycles(import_graph(typing_only=False)))
    print("upward:", upward_imports(import_graph()))
