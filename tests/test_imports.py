"""No import cycles in the package, function-level imports included (only ``if TYPE_CHECKING:`` ones, which
never run, are left out): a cycle hidden inside a function still ties two modules into one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trailduck

PACKAGE = Path(trailduck.__file__).parent


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, path: Path) -> list[str]:
    """Every name ``module`` imports at run time, wherever the import statement is."""
    names: list[str] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.extend(f"{base}.{alias.name}" for alias in node.names)  # a module, or a name in ``base``
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (a name resolves to the longest module it starts with)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        # A public name imported from the package's top (``from trailduck import ingest``) is its owner module:
        # the top imports it lazily, and it would otherwise hide behind the package itself.
        top, _, rest = name.partition(".")
        if top == "trailduck" and rest.split(".")[0] in trailduck._OWNERS:
            return trailduck._OWNERS[rest.split(".")[0]]
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in mods.items():
        targets = {resolve(n) for n in _imported(module, path) if n.split(".")[0] == "trailduck"}
        # A module's own packages are imported before it in any case: not an edge that can close a cycle.
        graph[module] = {t for t in targets if t and t != module and not module.startswith(f"{t}.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_through_the_public_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from trailduck import ingest`` inside the package is an import of ingest's module, for both checks."""
    graph = import_graph()
    assert graph["trailduck.cli.app"] >= {"trailduck.cli.console"}
    fake = {"trailduck.scanner.keys": PACKAGE / "scanner" / "keys.py"}
    monkeypatch.setattr(
        "tests.test_imports._imported", lambda module, path: ["trailduck.ingest"] if module in fake else []
    )
    assert import_graph()["trailduck.scanner.keys"] == {"trailduck.ingestion.run"}


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert "trailduck.scanner.s3" in graph["trailduck.scanner.locations"]  # imported inside open_source


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    shown = [
        " <-> ".join(c) + ": " + "; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c) for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(shown)


#: The layers of the package, lowest first: a module imports only from its own layer and the ones below.
#: Data walks scanner -> convert -> lake, where the checkpoint (state) records what the lake committed, so the
#: lake imports the state's types and never the reverse; the jobs (verify, ingestion) and the readers
#: (analysis) sit on top of the lake, the generator and demo on top of the jobs, the command on everything.
LAYERS = [
    ["trailduck.errors", "trailduck.fsutil", "trailduck.crashpoints", "trailduck.sql"],
    ["trailduck.scanner"],
    ["trailduck.convert"],
    ["trailduck.state"],
    ["trailduck.lake"],
    ["trailduck.integrity", "trailduck.ingestion", "trailduck.trail_setup"],
    ["trailduck.analysis", "trailduck.sigma"],
    ["trailduck.synthetic"],
    ["trailduck.cli", "trailduck.__main__"],
]


def layer_of(module: str) -> int:
    for rank, owners in enumerate(LAYERS):
        if any(module == o or module.startswith(f"{o}.") for o in owners):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to the README's layout)")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph.items()
        if module != "trailduck"  # the public API: everything, imported lazily
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def test_the_layer_check_finds_an_upward_import() -> None:
    assert upward_imports({"trailduck.scanner.keys": {"trailduck.lake.folder"}}) == [
        "trailduck.scanner.keys (layer 1) imports trailduck.lake.folder (layer 4)"
    ]


def test_no_layer_imports_a_higher_one() -> None:
    found = upward_imports(import_graph())
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_public_api_is_at_the_top_and_clashes_with_no_module() -> None:
    """Every public name resolves; none is also a subpackage's or module's name (``trailduck.ingest`` as both a
    function and a package breaks ``import trailduck.ingest.x as y`` once the function is bound)."""
    assert set(trailduck.__all__) == {*trailduck._OWNERS, "__version__"}
    # What the type checker sees (the imports under TYPE_CHECKING) is what the lazy lookup gives.
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    checked = {
        alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If) and _is_type_checking(block)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert checked == trailduck._OWNERS
    top = {name.split(".")[1] for name in modules() if name.count(".") >= 1}
    assert not top & set(trailduck.__all__)
    for name in trailduck.__all__:
        assert getattr(trailduck, name) is not None
    assert callable(trailduck.ingest) and callable(trailduck.verify) and callable(trailduck.compact)
