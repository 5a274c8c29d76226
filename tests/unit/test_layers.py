"""The package's imports run one way, handlers → logic → views → core, and form no cycle (TYPE_CHECKING imports and
imports inside functions included: a cycle postponed is still a cycle a reader must follow)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Installed, functions/ is headcount.functions (pyproject.toml); read it under that name.
SOURCES = {"headcount": REPO / "headcount", "headcount.functions": REPO / "functions"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            wanted |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            wanted.add(base)
            wanted |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return {m for m in wanted if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(GRAPH[module]):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_walk_sees_the_imports_it_must_judge() -> None:
    # Given modules known to import each other one way, the walk finds those imports (else it could pass on nothing)
    assert "headcount.logic.reads" in GRAPH["headcount.logic.serving"]
    assert "headcount.logic.reads" in GRAPH["headcount.logic.kpis"]
    assert "headcount.functions.serve.runtime" in GRAPH["headcount.functions.serve.metrics"]  # a relative import


def test_no_module_of_the_package_imports_one_that_imports_it_back() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_a_cycle_would_be_found() -> None:
    # Given the walk on a graph where kpis calls back into serving, as it once did
    GRAPH["headcount.logic.kpis"].add("headcount.logic.serving")
    try:
        found = _cycle()
    finally:
        GRAPH["headcount.logic.kpis"].discard("headcount.logic.serving")
    assert found is not None and "headcount.logic.kpis" in found


ENTRY_POINTS = ("headcount.functions", "headcount.local", "headcount.cli", "headcount.runtimes")
LOWER_LAYERS = {  # what a layer's modules may not import
    "headcount.core": ("headcount.views", "headcount.logic", "headcount.batch", *ENTRY_POINTS),
    "headcount.views": ("headcount.logic", "headcount.batch", *ENTRY_POINTS),
    "headcount.logic": ENTRY_POINTS,
    "headcount.batch": ENTRY_POINTS,
}


@pytest.mark.parametrize("layer", sorted(LOWER_LAYERS))
def test_imports_go_one_way(layer: str) -> None:
    wrong = {
        (module, dep)
        for module, deps in GRAPH.items()
        if module.startswith(layer + ".")
        for dep in deps
        if dep.startswith(LOWER_LAYERS[layer])
    }
    assert not wrong, sorted(wrong)
