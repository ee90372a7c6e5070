"""What the book driver does to an executed notebook before the book renders it (and offers it).

``prepare_page`` turns the notebook dict papermill wrote into the one the book renders and offers:

- training progress bars leave the stream outputs (``strip_progress``), printed results stay;
- results first: every code cell gets Jupyter Book's ``hide-input`` tag (its code one click away)
  unless it is the ``parameters`` cell or carries ``show-input`` (or another visibility tag);
- a short markdown note before the ``parameters`` cell says how to rerun the page;
- papermill's ``injected-parameters`` cell keeps only the values that differ from the
  notebook's defaults, or goes when none do;
- no absolute path of the building machine remains in any string of the notebook (sources,
  outputs, metadata): the repository and stage prefixes become relative paths, a run store
  outside the repository becomes ``<results_dir>``, the home directory ``~``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

VISIBILITY_TAGS = {"show-input", "hide-input", "remove-input", "hide-cell", "remove-cell"}
OUTSIDE = "<results_dir>"

_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+\s*\[")


def collapse_carriage_returns(text: str) -> str:
    """What a terminal shows: on every line only the text after its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def strip_progress(nb: dict) -> int:
    """Remove tqdm progress-bar lines from the stream outputs of a notebook dict (in place).

    Streams are first collapsed as a terminal would (``\r`` overwrites), then lines that are a
    tqdm bar (``NN%|...| n/N [``) are dropped and emptied stream outputs removed. Returns the
    number of lines removed. Nothing else is touched: printed results, tables, figures stay."""
    removed = 0
    for cell in nb.get("cells", []):
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines = collapse_carriage_returns(_text(out["text"])).split("\n")
                keep = [ln for ln in lines if not _BAR.search(ln)]
                removed += len(lines) - len(keep)
                text = "\n".join(keep)
                if not text.strip():
                    continue
                out["text"] = text
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept
    return removed


def fold_code(nb: dict) -> int:
    """Tag every code cell ``hide-input`` but the parameters cell and cells tagged otherwise; count them."""
    folded = 0
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if cell["cell_type"] != "code" or {"parameters", "injected-parameters"} & set(tags):
            continue
        if not VISIBILITY_TAGS & set(tags):
            tags.append("hide-input")
            folded += 1
    return folded


def rerun_note(stem: str, preset: str, changed: bool) -> str:
    """The markdown shown before the parameters cell: how to rerun this page."""
    build = ("the cell after it, what this build changed" if changed else "this build used them as they are")
    return (f"**Rerun this page.** The next cell holds its parameters and their defaults; {build}. "
            f"`stella book --preset {preset} --only {stem}` reruns this page with papermill (runs already "
            f"in the run store are reused), or open `notebooks/{stem}.ipynb` in Jupyter, edit the cell and "
            f"run all. The code of the other cells is folded: results first, code one click away.")


def public_value(value: Any, root: Path) -> tuple[Any, bool]:
    """(value as a page may show it, whether it is shown): paths outside ``root`` are not shown."""
    if isinstance(value, (str, Path)) and Path(value).is_absolute():
        try:
            return str(Path(value).resolve().relative_to(root.resolve())), True
        except ValueError:
            return str(value), False
    return value, True


def parameter_defaults(nb: dict) -> dict[str, Any]:
    """``name -> value`` of the literal assignments in the notebook's ``parameters`` cell."""
    cell = next((c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    values = {}
    for node in ast.parse(_text(cell["source"])).body if cell else []:
        if isinstance(node, ast.Assign):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            values.update({t.id: value for t in node.targets if isinstance(t, ast.Name)})
    return values


def injected_source(params: dict, defaults: dict[str, Any], root: Path) -> str | None:
    """Source of papermill's injected cell with only the values that differ from ``defaults``
    (``parameter_defaults``); None when nothing differs."""
    from papermill.translators import PythonTranslator

    lines = []
    for name, value in params.items():
        shown, visible = public_value(value, root)
        if not visible:
            lines.append(f"# {name}: a path outside the repository, not shown")
        elif name not in defaults or shown != defaults[name]:
            lines.append(f"{name} = {PythonTranslator.translate(shown)}")
    if not lines:
        return None
    return "# Parameters of this build (papermill) where they differ from the defaults above\n" + "\n".join(lines)


def path_replacements(root: Path, stage: Path, results: Path) -> list[tuple[str, str]]:
    """(absolute prefix, what replaces it), longest prefix first."""
    pairs = {}
    if public_value(results, root)[1] is False:
        pairs[str(results)] = OUTSIDE
        pairs[str(results.resolve())] = OUTSIDE
    for d in {root, root.resolve(), stage, stage.resolve()}:
        pairs[f"{d}/"] = ""
        pairs[str(d)] = "."
    home = Path.home()
    if str(home) not in ("/", ""):
        pairs[f"{home}/"] = "~/"
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def scrub_paths(obj: Any, replacements: list[tuple[str, str]]) -> Any:
    """``obj`` (a notebook's JSON) with every absolute prefix in ``replacements`` replaced."""
    if isinstance(obj, str):
        for old, new in replacements:
            if old in obj:
                obj = obj.replace(old, new)
        return obj
    if isinstance(obj, list):
        return [scrub_paths(x, replacements) for x in obj]
    if isinstance(obj, dict):
        return {k: scrub_paths(v, replacements) for k, v in obj.items()}
    return obj


def prepare_page(nb: dict, stem: str, params: dict, root: Path, stage: Path, results: Path) -> dict:
    """The notebook as the book shows and offers it (see the module docstring); returns the new dict."""
    defaults = parameter_defaults(nb)
    strip_progress(nb)
    fold_code(nb)
    injected = injected_source(params, defaults, root)
    cells = []
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            if injected is None:
                continue
            cell["source"] = injected
        if "parameters" in tags:
            note = {"cell_type": "markdown", "metadata": {},
                    "source": rerun_note(stem, str(params["preset"]), injected is not None)}
            if "id" in cell:
                note["id"] = "stella-rerun-note"
            cells.append(note)
        cells.append(cell)
    nb["cells"] = cells
    return scrub_paths(nb, path_replacements(root, stage, results))


def _text(t: str | list[str]) -> str:
    return t if isinstance(t, str) else "".join(t)
