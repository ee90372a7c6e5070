"""The layers of docs/ARCHITECTURE.md: core modules never import the book's package stella.report or the
book driver stella.builder; stella.report never imports the book driver."""
import ast
from pathlib import Path

STELLA = Path(__file__).resolve().parent.parent / "stella"
CORE = ["config.py", "overrides.py", "atomic.py", "store_protocol.py", "store.py", "cli.py", "data", "models", "selection", "continual", "eval"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_core_never_imports_the_report_package():
    files = [p for c in CORE for p in ([STELLA / c] if c.endswith(".py") else sorted((STELLA / c).rglob("*.py")))]
    assert len(files) > 20
    bad = {str(p.relative_to(STELLA)): sorted(n for n in _imports(p) if n.startswith("stella.report"))
           for p in files}
    assert not {k: v for k, v in bad.items() if v}, f"core modules import stella.report: {bad}"


def test_the_check_sees_an_import_of_report(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from stella import report\n    from stella.report.claims import book_claims\n")
    assert {"stella.report", "stella.report.claims"} <= _imports(f)


def test_core_and_report_never_import_the_book_driver():
    layers = [c for c in CORE if c != "cli.py"] + ["report"]
    files = [p for c in layers for p in ([STELLA / c] if c.endswith(".py") else sorted((STELLA / c).rglob("*.py")))]
    bad = {str(p.relative_to(STELLA)): sorted(n for n in _imports(p) if n.startswith("stella.builder"))
           for p in files}
    assert not {k: v for k, v in bad.items() if v}, f"modules below the book driver import it: {bad}"


def _module_graph() -> dict[str, set[str]]:
    """stella module -> the stella modules it imports anywhere in its file (function-level imports
    too); ``from stella.report import claims`` counts as an import of ``stella.report.claims``."""
    modules = {}
    for p in sorted(STELLA.rglob("*.py")):
        rel = p.relative_to(STELLA.parent).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        modules[".".join(parts)] = p
    graph = {}
    for name, p in modules.items():
        deps = set()
        for n in _imports(p):
            if n in modules:
                deps.add(n)
            elif n.rsplit(".", 1)[0] in modules:      # `from package import name` where name is not a module
                deps.add(n.rsplit(".", 1)[0])
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_anywhere_in_the_package():
    """Parse every module of stella/ (imports inside functions included): no two modules import each
    other, directly or through others; package __init__ files that re-export their submodules count
    as a module of their own, and a submodule importing its parent package is ignored."""
    graph = _module_graph()
    assert len(graph) > 60
    for name in graph:      # a submodule's import of its own package (e.g. stella.continual) is Python's, not a circle
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    assert _cycles(graph) == []


def test_the_circle_check_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# stella's folders and top-level modules from the bottom up: each imports only those below it (or itself)
LAYERS = ("overrides", "config", "progress", "atomic", "store_protocol", "store", "data", "models", "selection", "eval", "continual", "report", "builder", "cli")


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else module


def test_no_arrow_runs_back_up_between_folders():
    """Every import between two of stella's folders (or top-level modules) points down :data:`LAYERS`."""
    graph = _module_graph()
    rank = {name: i for i, name in enumerate(LAYERS)}
    top = {_layer(m) for m in graph if m != "stella"} - {"__main__", "__init__"}
    assert top <= set(rank), f"folders missing from LAYERS: {sorted(top - set(rank))}"
    up = sorted((m, d) for m, deps in graph.items() for d in deps
                if m != "stella" and d != "stella" and rank[_layer(d)] > rank[_layer(m)])
    assert up == [], f"imports that run back up: {up}"


def test_shared_report_modules_never_import_a_chapter():
    """stella/report/*.py is what the chapters share: none imports stella.report.chapters (importing one chapter
    module runs the package's __init__, which imports every chapter), except the two that read every page's
    record: the notebooks' parameters and the run plan."""
    readers = {"parameters.py", "plan.py"}
    bad = {p.name: sorted(n for n in _imports(p) if n.startswith("stella.report.chapters"))
           for p in sorted((STELLA / "report").glob("*.py")) if p.name not in readers}
    assert not {k: v for k, v in bad.items() if v}, bad
