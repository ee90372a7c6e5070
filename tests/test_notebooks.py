"""The notebooks stay thin: parameters, calls into stella.report, display (docs/ARCHITECTURE.md)."""
import ast
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_CODE_LINES = 50


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _lines(cell: dict) -> list[str]:
    return [ln for ln in "".join(cell["source"]).splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_notebooks_define_no_functions_and_stay_short():
    paths = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert len(paths) >= 10
    for p in paths:
        cells = _code_cells(p)
        for c in cells:
            tree = ast.parse("".join(c["source"]))
            defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                                ast.Lambda))]
            assert not defs, f"{p.name}: a cell defines a function or class"
        n = sum(len(_lines(c)) for c in cells)
        assert n <= MAX_CODE_LINES, f"{p.name}: {n} code lines (at most {MAX_CODE_LINES})"


def test_first_cell_after_parameters_checks_them():
    for p in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = _code_cells(p)
        i = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
        assert f'notebook_setup("{p.stem}"' in "".join(cells[i + 1]["source"]), p.name
