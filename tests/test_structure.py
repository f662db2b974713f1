"""The package's shape: small modules and dependencies that point one way."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "oversample"
MAX_LINES = 310


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """Package modules that `name` imports anywhere (top level, functions,
    TYPE_CHECKING blocks): every one is a dependency."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1]]
                    + ([base] if base else [])
                )
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def test_no_module_is_long():
    lengths = {
        name: len(path.read_text().splitlines()) for name, path in _modules().items()
    }
    assert {n: k for n, k in lengths.items() if k > MAX_LINES} == {}


def test_no_import_circle():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # A package imports its own submodules; only circles between modules count.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, str] = {}
    circles = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == [], circles


def test_the_core_imports_no_tensorflow_module():
    modules = _modules()
    core = {
        n for n in modules if not n.startswith("oversample._tf") and n != "oversample"
    }
    core -= {"oversample.tfdata", "oversample.cli", "oversample.demo"}
    core -= {"oversample.beam"}  # a Beam pipeline that reads TFRecords
    core -= {n for n in modules if n.startswith("oversample.datasets")}
    for name in sorted(core):
        reached = _imports(name, modules[name], set(modules))
        assert not any(r.startswith("oversample._tf") for r in reached), name
