"""The layers of docs/ARCHITECTURE.md: core modules never import the book's package stella.report or the
book driver stella.builder; stella.report never imports the book driver."""
import ast
from pathlib import Path

STELLA = Path(__file__).resolve().parent.parent / "stella"
CORE = ["config.py", "store.py", "cli.py", "data", "models", "selection", "continual", "eval"]


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
