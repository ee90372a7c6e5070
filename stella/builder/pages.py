"""What the book driver does to an executed notebook before the book renders it (and offers it).

``prepare_page`` turns the notebook dict papermill wrote into the one the book renders and offers:

- training progress bars leave the stream outputs (``strip_progress``), printed results stay;
- results first: every code cell gets Jupyter Book's ``hide-input`` tag (its code one click away)
  unless it is the ``parameters`` cell or carries ``show-input`` (or another visibility tag);
- a short markdown note before the ``parameters`` cell says how to rerun the page;
- the chapter's first table or figure is shown under its title and first sentence, before the
  opening prose and the parameters (``results_first``, by myst_nb's glue: the cells keep their order),
  whole: a figure with its caption, a table with its other halves (``first_result``), after the output
  of a cell tagged ``page-summary`` (the chapter's short summary, computed wherever the cell is);
- every result pasted by glue (``{glue}``, ``{glue:md}``: the summary, the first result, a page's computed text)
  sits between two empty ``<div>`` markers (``stella-computed-begin`` / ``-end``, :func:`mark_computed`), so a
  check of the built page tells computed sentences from written ones (:mod:`stella.builder.consistency`);
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

_SENTENCE_END = re.compile(r"(?<!Fig)(?<!Eq)(?<!e\.g)(?<!i\.e)(?<!\bal)(?<!vs)\.\s+(?=[A-Z*`(])")
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
    build = "the cell after it: what this build changed" if changed else "as this build used them"
    return (f"**Rerun this page:** `stella book --preset {preset} --only {stem}` (stored runs are reused), or edit "
            f"the defaults below ({build}) in `notebooks/{stem}.ipynb`. Other code is folded, one click away.")


COMPUTED_BEGIN, COMPUTED_END = "stella-computed-begin", "stella-computed-end"   # markers around pasted results
_GLUE_BLOCK = re.compile(r"^(`{3,}|:{3,})\{glue(?::\w+)?\}[^\n]*\n(?:(?!\1)[^\n]*\n)*?\1[ \t]*$", re.MULTILINE)
GLUE_PREFIX = "application/papermill.record/"      # myst_nb.glue's prefix: shown where pasted, not in its cell
SUMMARY_TAG = "page-summary"                        # a cell whose output is the chapter's summary, shown at the top


def _is_result(output: dict) -> bool:
    data = output.get("data", {})
    return "image/png" in data or "<table" in _text(data.get("text/html", ""))


_TH = re.compile(r"<th\b[^>]*>(.*?)</th>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _table_header(output: dict) -> tuple[str, ...] | None:
    """The column labels of an html table output (its ``<thead>``), None for anything else."""
    html = _text(output.get("data", {}).get("text/html", ""))
    head = html.split("<thead", 1)[1].split("</thead>", 1)[0] if "<thead" in html else ""
    cells = tuple(_TAG.sub("", c).strip() for c in _TH.findall(head))
    return cells or None


def first_result(outputs: list[dict], j: int) -> list[tuple[int, str]]:
    """``(output index, glue name)`` of the chapter's first result, ``outputs[j]``, made whole: a figure
    with the Markdown caption that follows it; a table with the tables that follow it in the same cell
    under the same column labels (its other halves: A→V then V→A, one clip set then another), each
    with what separates them (a printed line, a caption) left in place."""
    picked = [(j, "stella-first-result")]
    if "image/png" in outputs[j].get("data", {}):
        if j + 1 < len(outputs) and "text/markdown" in outputs[j + 1].get("data", {}):
            picked.append((j + 1, "stella-first-result-caption"))
        return picked
    header = _table_header(outputs[j])
    for k in range(j + 1, len(outputs)):
        if _is_result(outputs[k]):
            if header is None or _table_header(outputs[k]) != header:
                break
            picked.append((k, f"stella-first-result-{len(picked) + 1}"))
    return picked


def _glue(output: dict, name: str) -> None:
    """Turn ``output`` into a myst_nb glue record ``name``: the book shows it where it is pasted only."""
    output.setdefault("metadata", {})["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    output["data"] = {GLUE_PREFIX + k: v for k, v in output["data"].items()}


def results_first(nb: dict) -> bool:
    """Show the chapter's first table or figure (with its caption, or with the other halves of the table:
    :func:`first_result`) right under the title and the first sentence, before the opening prose, the
    rerun note and the parameters; True if moved. The outputs of cells tagged ``page-summary`` (the
    chapter's computed summary, wherever it is computed) come first, between the sentence and the result.

    The output moves by myst_nb's glue (computed in its cell, pasted at the top), so the cells keep their
    order and the offered notebook still runs top to bottom. The rest of the opening becomes "About
    this chapter"."""
    cells = nb.get("cells", [])
    if not cells or cells[0]["cell_type"] != "markdown":
        return False
    title, _, body = _text(cells[0]["source"]).partition("\n")
    where = next(((c, j) for c in cells if c["cell_type"] == "code"
                  for j, o in enumerate(c.get("outputs", [])) if _is_result(o)), None)
    if not title.startswith("#") or where is None:
        return False
    cell, j = where
    picked = first_result(cell["outputs"], j)
    for k, name in picked:
        _glue(cell["outputs"][k], name)
    summary = []
    for c in cells:
        if c["cell_type"] == "code" and SUMMARY_TAG in c.get("metadata", {}).get("tags", []):
            for out in c.get("outputs", []):
                if out.get("data") and not any(k.startswith(GLUE_PREFIX) for k in out["data"]):
                    summary.append(f"stella-summary-{len(summary) + 1}")
                    _glue(out, summary[-1])
    m = _SENTENCE_END.search(body.strip())
    lead, rest = (body.strip()[:m.start() + 1], body.strip()[m.end():]) if m else (body.strip(), "")
    pasted = "\n\n".join(f"```{{glue}} {name}\n```" for name in summary + [name for _, name in picked])
    head = [dict(cells[0], source=f"{title}\n\n{lead}\n"),
            {"cell_type": "markdown", "metadata": {}, "source": pasted + "\n"}]
    if rest.strip():
        head.append({"cell_type": "markdown", "metadata": {}, "source": f"## About this chapter\n\n{rest.strip()}\n"})
    if "id" in cells[0]:
        for k, c in enumerate(head[1:], 1):
            c["id"] = f"stella-results-first-{k}"
    nb["cells"] = head + cells[1:]
    return True


def mark_computed(nb: dict) -> int:
    """Put every glue directive of a markdown cell between the ``stella-computed`` markers (empty html blocks,
    so a pasted heading stays a heading); returns how many were marked."""
    marked = 0
    for cell in nb.get("cells", []):
        if cell["cell_type"] != "markdown":
            continue
        src = _text(cell["source"])
        new, n = _GLUE_BLOCK.subn(lambda m: f'<div class="{COMPUTED_BEGIN}"></div>\n\n{m.group(0)}\n\n'
                                            f'<div class="{COMPUTED_END}"></div>', src)
        if n:
            cell["source"] = new
            marked += n
    return marked


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
    if stem[:1].isdigit():                        # chapters; the landing page puts its summary first itself
        results_first(nb)
    mark_computed(nb)
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
