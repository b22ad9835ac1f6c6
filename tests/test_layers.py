"""The architecture, written down once: churnwatch's layers, and the imports that keep to them.

A module may import from its own layer or any layer below it, never above; and no two
modules import each other, directly or round a loop. Every import counts, including the
ones inside functions and under ``TYPE_CHECKING``: a lazy import is still a dependency.

The layers, from the bottom:

1. ``churnwatch.exceptions``: the root of every error churnwatch raises on purpose.
2. ``churnwatch.schemas``: the event contract, its decoding, the alert store's tables.
3. shared foundations: settings (default places), metrics (every series, one registry),
   probes (``/metrics``, ``/healthz``, ``/readyz``).
4. ``churnwatch.rules``: the rule language and its engine, a pure function.
5. ``churnwatch.notifiers``: routing, contact policy, templates, the channels.
6. ``churnwatch.followup``: the managers' side: links, pages, escalation, the report.
7. ``churnwatch.streams``: the drivers: replay, backtest, the Kafka worker, the
   synthetic bank.
8. ``churnwatch.cli``: the ``churnwatch`` command, which nothing imports.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("churnwatch", "churnwatch.exceptions"),
    ("churnwatch.schemas",),
    ("churnwatch.settings", "churnwatch.metrics", "churnwatch.probes"),
    ("churnwatch.rules",),
    ("churnwatch.notifiers",),
    ("churnwatch.followup",),
    ("churnwatch.streams",),
    ("churnwatch.cli", "churnwatch.__main__"),
)


def _build() -> dict[str, object]:
    build: dict[str, object] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    return build


def package_dirs() -> dict[str, Path]:
    """Each mapped package and its folder, as the build configuration says."""
    mapping = _build()["package-dir"]
    assert isinstance(mapping, dict)
    return {package: REPO / folder for package, folder in mapping.items()}


def modules() -> dict[str, Path]:
    """Every module of the churnwatch distribution, by dotted name."""
    found: dict[str, Path] = {}
    for package, folder in package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if "migrations" in parts:  # Alembic's scripts, run by Alembic, not imported
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            found.setdefault(name, path)
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The churnwatch modules ``name`` imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def layer_of(module: str) -> int:
    best, best_length = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imports(name, path, known)) for name, path in found.items()}


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = [
        f"{source} (layer {layer_of(source) + 1}) imports {target} (layer {layer_of(target) + 1})"
        for source, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]
    assert upward == []


def test_nothing_imports_the_command_line() -> None:
    top = len(LAYERS) - 1
    into_cli = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in targets
        if layer_of(target) == top and layer_of(source) != top
    ]
    assert into_cli == []


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other round a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_between_files() -> None:
    edges = graph()
    # A package's __init__ importing its own modules is not a cycle between files.
    cycles = [group for group in strongly_connected(edges) if len(group) > 1]
    assert cycles == []


def test_the_cycle_finder_finds_a_loop() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [g for g in strongly_connected(edges) if len(g) > 1] == [["a", "b", "c"]]


def test_every_package_folder_is_in_the_build() -> None:
    listed = _build()["packages"]
    assert isinstance(listed, list)
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages == set(listed)
