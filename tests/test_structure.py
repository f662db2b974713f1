"""The package's shape: dependencies that point one way, the plan's rule view
as the only interface to a plan, and a docstring for every module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "oversample"


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


CORE = "oversample.core"
EXECUTORS = ("oversample.tf", "oversample.py", "oversample.index", "oversample.ray")
# NOTE: a plan (and a Sampler) renders its summary, plot and HTML view through
# the report (and its plots).
VIEWS = {"oversample", "oversample.report", "oversample.plots"}
SOURCE_KINDS = {"oversample.shards"}  # `ovs.Shards`, read by every executor


def _room(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2])


def _reached(room: str) -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: _imports(name, modules[name], set(modules))
        for name in modules
        if _room(name) == room
    }


def test_the_layout_has_the_core_and_one_folder_per_executor():
    rooms = {_room(name) for name in _modules()}
    assert {CORE, *EXECUTORS} <= rooms


def test_the_core_imports_only_the_core():
    for name, reached in _reached(CORE).items():
        outside = {r for r in reached if _room(r) != CORE} - VIEWS
        assert outside == set(), name


def test_an_executor_imports_only_the_core_and_itself():
    for room in EXECUTORS:
        for name, reached in _reached(room).items():
            outside = {r for r in reached if _room(r) not in (CORE, room)}
            assert outside - SOURCE_KINDS - VIEWS == set(), name


def test_only_the_tf_executor_the_registry_and_the_faces_import_its_modules():
    modules = _modules()
    faces = {
        "oversample.cli",
        "oversample.cli_output",
        "oversample.cli_tfds",
        "oversample.demo",
        "oversample.beam",
        "oversample.sources",  # the registry of executors, each loaded on use
    }
    for name in sorted(modules):
        if _room(name) in ("oversample.tf", "oversample.datasets") or name in faces:
            continue
        reached = _imports(name, modules[name], set(modules))
        assert not any(_room(r) == "oversample.tf" for r in reached), name


def test_every_module_says_what_it_is_for():
    missing = [
        name
        for name, path in _modules().items()
        if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert missing == []


def _private_plan_names() -> set[str]:
    """The private attributes and methods of `Plan` (fields and functions
    whose name starts with one underscore)."""
    tree = ast.parse((PACKAGE / "core" / "plan.py").read_text())
    plan = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "Plan"
    )
    names = set()
    for node in plan.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_module_but_the_plan_reads_a_private_attribute_of_a_plan():
    private = _private_plan_names()
    assert {"_counts", "_codes", "_targets_of"} <= private
    reads = []
    for name, path in _modules().items():
        if name == "oversample.core.plan":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            receiver = getattr(node, "value", None)
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and not (
                    isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")
                )
            ):
                reads.append(f"{name}:{node.lineno} .{node.attr}")
    assert reads == []


def test_no_two_modules_of_a_folder_share_a_name_but_for_a_plural():
    for folder in {path.parent for path in _modules().values()}:
        stems = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
        near = [
            (a, b)
            for a in stems
            for b in stems
            if a < b and a.rstrip("s") == b.rstrip("s")
        ]
        assert near == [], folder
