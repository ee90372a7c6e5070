"""Book driver: execute every notebook with papermill, then build the Jupyter Book.

``build_book("cpu")`` runs ``notebooks/*.ipynb`` in name order with the parameters
``preset`` and ``results_dir`` into ``book/notebooks/``, collects failures (naming the
notebook and the cell) and only then runs ``jupyter-book build`` with notebook execution
off and warnings as errors. Training progress bars show while a notebook runs; the copy
the book renders keeps every output but those bars (``strip_progress``).
``stage=`` copies the book sources to another directory first,
so a smoke build (tests) never touches the real book.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BOOK_SOURCES = ("_config.yml", "_toc.yml", "book", "references.bib")


@dataclass
class NotebookFailure:
    notebook: str
    cell: int | None
    error: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "before execution"
        return f"{self.notebook}: failed at {where}: {self.error}"


class BookBuildError(RuntimeError):
    pass


def notebook_paths(root: Path = REPO, only: list[str] | None = None) -> list[Path]:
    paths = sorted((root / "notebooks").glob("*.ipynb"))
    if only:
        wanted = [paths_ for paths_ in paths if any(o in paths_.stem for o in only)]
        missing = [o for o in only if not any(o in p.stem for p in paths)]
        if missing:
            raise BookBuildError(f"--only: no notebook matches {missing} (have: {[p.stem for p in paths]})")
        paths = wanted
    return paths


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
                text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
                lines = collapse_carriage_returns(text).split("\n")
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


def _strip_progress_file(path: Path) -> None:
    from stella.store import atomic_write_bytes

    nb = json.loads(path.read_text())
    if strip_progress(nb):
        atomic_write_bytes(path, json.dumps(nb, indent=1, ensure_ascii=False).encode())


def execute_notebooks(paths: list[Path], out_dir: Path, parameters: dict, cwd: Path,
                      progress: bool = True) -> tuple[list[NotebookFailure], dict[str, float]]:
    """Run each notebook with papermill into ``out_dir``; return failures and seconds per notebook."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    failures, seconds = [], {}
    bar = tqdm(paths, desc="notebooks", unit="nb", disable=not progress)
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(out_dir / nb.name), parameters=parameters,
                                kernel_name="python3", cwd=str(cwd), progress_bar=False,
                                report_mode=False, log_output=False)
        except PapermillExecutionError as e:
            failures.append(NotebookFailure(nb.name, e.exec_count, f"{e.ename}: {e.evalue}"))
        except Exception as e:  # kernel died, bad JSON, missing parameters cell ...
            failures.append(NotebookFailure(nb.name, None, f"{type(e).__name__}: {e}"))
        if (out_dir / nb.name).exists():
            _strip_progress_file(out_dir / nb.name)
        seconds[nb.stem] = time.perf_counter() - t0
    return failures, seconds


def run_jupyter_book(root: Path) -> Path:
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--path-output",
           str(root / "book"), "--warningiserror", "--keep-going", "--quiet"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BookBuildError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    index = root / "book" / "_build" / "html" / "index.html"
    if not index.exists():
        raise BookBuildError(f"jupyter-book build finished but {index} is missing")
    return index


def stage_sources(stage: Path, root: Path = REPO) -> Path:
    stage.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, stage / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("_build", "notebooks"))
        elif src.exists():
            shutil.copy2(src, stage / name)
    return stage


def build_book(preset: str = "cpu", root: Path = REPO, stage: Path | None = None,
               results_dir: str | Path | None = None, only: list[str] | None = None,
               progress: bool = True) -> Path:
    """Execute all notebooks at ``preset`` and build the book; return the path of index.html."""
    build_root = stage_sources(Path(stage), root) if stage else root
    results = Path(results_dir) if results_dir else root / "results"
    params = {"preset": preset, "results_dir": str(results.resolve())}
    paths = notebook_paths(root, only)
    if not paths:
        raise BookBuildError(f"{root / 'notebooks'}: no notebooks to execute")
    failures, seconds = execute_notebooks(paths, build_root / "book" / "notebooks", params, cwd=root,
                                          progress=progress)
    for name, s in seconds.items():
        print(f"  {name}: {s:.1f} s")
    if failures:
        raise BookBuildError("notebook(s) failed:\n" + "\n".join(f"  {f}" for f in failures))
    if only:
        return build_root / "book" / "notebooks"
    return run_jupyter_book(build_root)
