"""Book driver: execute every notebook with papermill, then build the Jupyter Book.

``build_book("cpu")`` runs ``notebooks/*.ipynb`` in name order with the parameters
``preset`` and ``results_dir`` (relative to the repository when inside it) into
``book/notebooks/``, collects failures (naming the notebook and the cell) and only then runs
``jupyter-book build`` with notebook execution off and warnings as errors. Each executed notebook
is prepared for the reader by ``stella.builder.pages.prepare_page`` (no progress bars, code folded
but the parameters, no absolute path); the book offers that file for download. While a notebook
runs, the terminal shows which run it asks of the store, trained or found, and the time
(``stella.progress``). ``stage=`` copies the book sources to another directory first, so a
smoke build (tests) never touches the real book; ``print_view=True`` adds the one-page build. After
the build, with a Chromium on PATH, it reports the tables that would scroll sideways at 1280 px.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from stella import progress as P
from stella.builder.checks import MIN_TEXT_PX, figure_text, leaked_paths, remote_assets, table_widths
from stella.builder.chromium import BrowserError, find_chromium
from stella.builder.consistency import book_findings
from stella.builder.pages import prepare_page
from stella.builder.prefetch import default_jobs, prefetch_runs
from stella.config import load_config
from stella.progress import duration
from stella.report import chapters  # noqa: F401  (declares every page: CHAPTERS)
from stella.report.chapter import CHAPTERS, unmet
from stella.store import atomic_write_bytes, atomic_write_json

REPO = Path(__file__).resolve().parents[2]
BOOK_SOURCES = ("_config.yml", "_toc.yml", "_static", "book", "references.bib")


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


class BookInputError(BookBuildError, ValueError):
    """A bad option of the build (``--only`` matching no notebook): ``stella book`` exits 2 on it."""


def notebook_paths(root: Path = REPO, only: list[str] | None = None) -> list[Path]:
    paths = sorted((root / "notebooks").glob("*.ipynb"))
    if only:
        wanted = [paths_ for paths_ in paths if any(o in paths_.stem for o in only)]
        missing = [o for o in only if not any(o in p.stem for p in paths)]
        if missing:
            raise BookInputError(f"--only: no notebook matches {missing} (have: {[p.stem for p in paths]})")
        paths = wanted
    return paths


def _kernel_config():
    """Kernels talk to the driver over IPC sockets: no TCP port, so no ipykernel transport warning.
    The sockets are named per driver process (jupyter_client's default, ``kernel-ipc-N`` in the
    working directory, is shared by kernels started side by side there)."""
    from traitlets.config import Config

    ip = os.path.join(tempfile.gettempdir(), f"stella-kernel-{os.getpid()}-ipc")
    return Config({"KernelManager": {"transport": "ipc", "ip": ip}})


@contextmanager
def _progress_channel(stem: str, bar, enabled: bool):
    """While a notebook runs: ``STELLA_PROGRESS_FILE`` names a fresh file that is tailed to the terminal."""
    lines = P.ProgressLines(stem, time.time())
    if not enabled:
        yield lines
        return
    fd, path = tempfile.mkstemp(prefix="stella-progress-", suffix=".jsonl")
    os.close(fd)
    before = os.environ.get(P.ENV)
    os.environ[P.ENV] = path

    live = sys.stderr.isatty()  # a terminal: the bar's clock ticks; a log file: only the lines

    def tick(ls: P.ProgressLines) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{stem} {ls.current}".strip(), refresh=live)

    try:
        with P.Follower(path, lines, tqdm.write, tick=tick):
            yield lines
    finally:
        if before is None:
            os.environ.pop(P.ENV, None)
        else:
            os.environ[P.ENV] = before
        os.unlink(path)


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def kernel_threads(preset: str) -> int:
    """Threads of a notebook kernel at ``preset``: ``run.num_threads`` (0: the libraries' default)."""
    return load_config(preset).run.num_threads


@contextmanager
def _thread_env(threads: int):
    """``OMP_NUM_THREADS`` & co. set to ``threads`` for the kernels started inside (0: left as they are).

    Kernels inherit the driver's environment; torch, MKL and OpenBLAS read these when they load, so
    the probes and figures of a chapter run on the threads the preset pins, like its runs (on a busy machine,
    two OpenMP threads of one kernel wait on each other at every parallel region of the probes' many small
    ops: the README's timings measure it)."""
    before = {v: os.environ.get(v) for v in THREAD_VARS}
    if threads:
        os.environ.update({v: str(threads) for v in THREAD_VARS})
    try:
        yield
    finally:
        for v, old in before.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


FINAL = ("09_what_reproduced", "index")     # read what the other chapters computed: executed last, in this order
HEAVY = ("03_efficiency", "08_downstream")  # the longest chapters of a first build (efficiency rounds, probes)


def execution_order(paths: list[Path], previous: dict[str, float] | None = None) -> list[Path]:
    """Longest first, so that parallel kernels finish together: by ``previous`` seconds per notebook
    (the last build's record) where known, else :data:`HEAVY` first; :data:`FINAL` always last."""
    previous = previous or {}

    def key(p: Path):
        if p.stem in FINAL:
            return (1, FINAL.index(p.stem), 0.0)
        return (0, 0, -previous.get(p.stem, 1e6 if p.stem in HEAVY else 0.0))

    return sorted(paths, key=key)


def _execute_one(nb: Path, out_dir: Path, parameters: dict, cwd: Path, results: Path, progress: bool,
                 threads: int, bar=None) -> tuple[NotebookFailure | None, float, str]:
    """Execute one notebook (a worker process of a parallel build, or the driver itself): its failure
    (None), its seconds and the summary of the runs it asked for."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    failure = None
    t0 = time.perf_counter()
    missing = unmet(nb.stem, parameters["preset"]) if nb.stem in CHAPTERS else []
    if missing:
        write_unavailable(nb, out_dir / nb.name, parameters["preset"], missing)
        return None, time.perf_counter() - t0, "not computed: the preset's data lacks what the page needs"
    with _progress_channel(nb.stem, bar, progress) as runs, _thread_env(threads):
        try:
            pm.execute_notebook(str(nb), str(out_dir / nb.name), parameters=parameters,
                                kernel_name="python3", cwd=str(cwd), progress_bar=False,
                                report_mode=False, log_output=False, config=_kernel_config())
        except PapermillExecutionError as e:
            failure = NotebookFailure(nb.name, e.exec_count, f"{e.ename}: {e.evalue}")
        except Exception as e:  # kernel died, bad JSON, missing parameters cell ...
            failure = NotebookFailure(nb.name, None, f"{type(e).__name__}: {e}")
    if (out_dir / nb.name).exists():
        _prepare_file(out_dir / nb.name, nb, parameters, cwd, results)
    return failure, time.perf_counter() - t0, runs.summary()


def write_unavailable(source: Path, out: Path, preset: str, missing: list[str]) -> None:
    """The page of a chapter whose data needs ``preset``'s data lacks: its title and introduction, then what it
    needs and where to find it (the notebook is not executed; its claims are left out of chapter 09)."""
    nb = json.loads(source.read_text())
    intro = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    data = load_config(preset).data.dataset
    note = ("**Not computed for this build.** This page needs " + " and ".join(missing) + f"; the `{data}` data of "
            f"the preset `{Path(str(preset)).stem}` has none, so its tables, figures and claims are left out (chapter "
            "09 counts only the chapters that ran). The procedural benchmark (`cpu`, `smoke`) has everything; the "
            "tuxpaint stamps (`--set data.dataset=tuxpaint`) have the ground truth.")
    nb["cells"] = [intro, {"cell_type": "markdown", "metadata": {}, "source": note}]
    atomic_write_bytes(out, json.dumps(nb, indent=1, ensure_ascii=False).encode())


def execute_notebooks(paths: list[Path], out_dir: Path, parameters: dict, cwd: Path, results: Path,
                      progress: bool = True, threads: int = 0, jobs: int = 1,
                      previous: dict[str, float] | None = None,
                      overrides: dict[str, dict] | None = None) -> tuple[list[NotebookFailure], dict[str, float]]:
    """Run each notebook with papermill into ``out_dir`` (each kernel with ``threads`` OpenMP / torch
    threads, 0: the default) and prepare it for the book (``pages.prepare_page``); return failures and
    seconds per notebook. ``overrides`` adds parameters to one notebook (``{stem: {name: value}}``),
    as ``papermill -p name value`` would; the page shows them in its injected-parameters cell.

    ``jobs`` > 1 executes that many notebooks at a time, one worker process each, longest first
    (:func:`execution_order`, from ``previous`` seconds); kernels then get ``threads`` or, when 0,
    the cores shared out. Chapters that compute the same table (a probe, the claims) do not compute it
    twice: :func:`stella.report.runs.cached_frame` holds a lock while it computes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    failures, seconds = [], {}
    params = {nb.stem: {**parameters, **(overrides or {}).get(nb.stem, {})} for nb in paths}
    jobs = max(1, min(int(jobs), len(paths)))

    def done(i: int, nb: Path, failure, secs: float, summary: str) -> None:
        if failure is not None:
            failures.append(failure)
        seconds[nb.stem] = secs
        if progress:
            tqdm.write(f"[{i}/{len(paths)}] {nb.stem}: {duration(secs)}, {summary}")

    if jobs == 1:
        bar = tqdm(paths, desc="notebooks", unit="nb", disable=not progress)
        for i, nb in enumerate(bar, 1):
            bar.set_postfix_str(nb.stem)
            done(i, nb, *_execute_one(nb, out_dir, params[nb.stem], cwd, results, progress, threads, bar))
        return failures, seconds

    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    order = execution_order(paths, previous)
    bar = tqdm(total=len(paths), desc=f"notebooks ({jobs} at a time)", unit="nb", disable=not progress)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_execute_one, nb, out_dir, params[nb.stem], cwd, results, progress, threads): nb
                   for nb in order}
        for i, fut in enumerate(as_completed(futures), 1):
            nb = futures[fut]
            try:
                done(i, nb, *fut.result())
            except Exception as e:  # the worker process died
                done(i, nb, NotebookFailure(nb.name, None, f"{type(e).__name__}: {e}"), 0.0, "")
            bar.update(1)
    bar.close()
    return failures, {p.stem: seconds[p.stem] for p in paths}


def _prepare_file(path: Path, source: Path, parameters: dict, root: Path, results: Path) -> None:
    nb = prepare_page(json.loads(path.read_text()), source.stem, parameters, root, path.parent.parent.parent,
                      results)
    atomic_write_bytes(path, json.dumps(nb, indent=1, ensure_ascii=False).encode())


def run_jupyter_book(root: Path, builder: str = "html") -> Path:
    """``jupyter-book build`` (warnings as errors) with ``builder`` (html or singlehtml); its index.html."""
    exe = Path(sys.executable).with_name("jupyter-book")
    index = root / "book" / "_build" / builder / "index.html"
    if index.exists() and index.read_text(errors="replace").startswith('<meta http-equiv="Refresh"'):
        index.unlink()   # sphinx-external-toc writes its redirect to the root page only when none exists
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--path-output",
           str(root / "book"), "--builder", builder, "--warningiserror", "--keep-going", "--quiet"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BookBuildError(f"jupyter-book build --builder {builder} failed (exit {proc.returncode}):\n{tail}")
    if not index.exists():
        raise BookBuildError(f"jupyter-book build finished but {index} is missing")
    return index


def stage_sources(stage: Path, root: Path = REPO) -> Path:
    if stage.exists() and not stage.is_dir():
        raise BookBuildError(f"--stage {stage}: not a directory")
    stage.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, stage / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("_build", "notebooks"))
        elif src.exists():
            shutil.copy2(src, stage / name)
    return stage


def notebook_parameters(preset: str, results: Path, root: Path = REPO) -> dict:
    """Papermill parameters; ``results_dir`` relative to the repository (the kernels' cwd) when inside it."""
    results = results.resolve()
    try:
        shown = str(results.relative_to(root.resolve()))
    except ValueError:
        shown = str(results)
    return {"preset": preset, "results_dir": shown}


def build_book(preset: str = "cpu", root: Path = REPO, stage: Path | None = None,
               results_dir: str | Path | None = None, only: list[str] | None = None,
               progress: bool = True, print_view: bool = False, jobs: int | None = None,
               overrides: dict[str, dict] | None = None) -> Path:
    """Execute all notebooks at ``preset`` and build the book; return the path of index.html.

    Every kernel runs on the preset's ``run.num_threads`` (:func:`kernel_threads`). The runs the
    notebooks will ask for are trained first, ``jobs`` at a time
    (:func:`stella.builder.prefetch.prefetch_runs`; default: one per core for a preset that pins
    ``run.num_threads``, else 1), except with ``only``; then the notebooks execute ``jobs`` at a time
    (:func:`execute_notebooks`, longest first by the last build's record). ``print_view`` also builds the whole book as one page (``book/_build/singlehtml/index.html``)
    for printing or saving as PDF from a browser. ``overrides``: extra parameters of single notebooks
    (:func:`execute_notebooks`)."""
    paths = notebook_paths(root, only)                 # a bad --only fails before anything is staged
    build_root = stage_sources(Path(stage), root) if stage else root
    results = Path(results_dir) if results_dir else root / "results"
    if not paths:
        raise BookBuildError(f"{root / 'notebooks'}: no notebooks to execute")

    jobs = default_jobs(preset) if jobs is None else jobs
    timings = {"preset": preset, "jobs": jobs, "only": only, "phases": {}, "notebooks": {}, "runs": {}}
    t_build = time.perf_counter()
    if not only and jobs > 1:
        prefetch_runs(preset, results, jobs, timings=timings)
    t0 = time.perf_counter()
    failures, seconds = execute_notebooks(paths, build_root / "book" / "notebooks",
                                          notebook_parameters(preset, results, root), cwd=root,
                                          results=results, progress=progress, threads=kernel_threads(preset),
                                          jobs=jobs, previous=previous_seconds(build_root, preset),
                                          overrides=overrides)
    wall = time.perf_counter() - t0
    print(f"{len(seconds)} notebook(s) executed in {duration(wall)}"
          + (f" ({jobs} at a time; {duration(sum(seconds.values()))} one after another)" if jobs > 1 else ""))
    timings["notebooks"] = {k: round(v, 2) for k, v in seconds.items()}
    timings["phases"]["notebooks"] = round(wall, 2)
    if failures:
        raise BookBuildError("notebook(s) failed:\n" + "\n".join(f"  {f}" for f in failures))
    if only:
        write_timings(build_root, timings, t_build)
        return build_root / "book" / "notebooks"
    t0 = time.perf_counter()
    index = run_jupyter_book(build_root)
    timings["phases"]["jupyter-book build"] = round(time.perf_counter() - t0, 2)
    write_timings(build_root, timings, t_build)
    machine = [str(p) for d in (root, build_root, results) for p in {d.absolute(), d.resolve()}] + [f"{Path.home()}/"]
    check_built(index.parent, machine)
    report_table_widths(index.parent)
    if print_view:
        page = build_print_view(build_root, machine)
        print(f"print view: {page}")
        pdf = print_to_pdf(page, build_root / "book" / "_build" / "pdf" / "stella-book.pdf")
        print(f"pdf: {pdf}" if pdf else "pdf: not built, no Chromium on PATH (Debian: apt-get install chromium)")
    return index


def timings_path(root: Path, preset: str) -> Path:
    """Where :func:`build_book` records its phases: ``book/_build/timings-<preset>.json``."""
    return root / "book" / "_build" / f"timings-{preset}.json"


def previous_seconds(root: Path, preset: str) -> dict[str, float]:
    """Seconds per notebook of the last build at ``preset`` ({} when none is recorded or it does not parse)."""
    try:
        return {k: float(v) for k, v in json.loads(timings_path(root, preset).read_text())["notebooks"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_timings(root: Path, timings: dict, t_build: float) -> None:
    """Record the build's phases (seconds: pre-training stages, runs, notebooks, jupyter-book; each
    notebook; each run the prefetch trained) for ``benchmarks/bench_book.py``."""
    timings["phases"]["total"] = round(time.perf_counter() - t_build, 2)
    timings["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    path = timings_path(root, timings["preset"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, timings)


def build_print_view(root: Path, machine: list[str]) -> Path:
    """The whole book on one page, for a browser's print or save-as-PDF: ``singlehtml/index.html``.

    Sphinx writes the single page at the root document's path (``_toc.yml``'s ``root``, e.g.
    ``book/notebooks/index.html``) with links relative to the build's top, where ``_static`` and ``_images``
    are; moving it to the top (over the redirect Sphinx leaves there) makes those links right."""
    page = run_jupyter_book(root, "singlehtml").parent
    index = page / "index.html"
    (page / f"{yaml.safe_load((root / '_toc.yml').read_text())['root']}.html").replace(index)
    check_built(page, machine)
    return index


CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def print_to_pdf(page: Path, pdf: Path, timeout: float = 600) -> Path | None:
    """Print ``page`` to ``pdf`` with a headless Chromium from PATH (MathJax typeset first); None without one.

    Jupyter Book's own ``pdfhtml`` builder downloads a Chromium through pyppeteer, which an offline
    machine cannot; ``pdflatex`` drops the HTML tables. The system's Chromium needs no network."""
    exe = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
    if exe is None:
        return None
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--no-pdf-header-footer",
           "--virtual-time-budget=30000", f"--print-to-pdf={pdf}", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise BookBuildError(f"{exe}: printing {page} to {pdf} failed (exit {proc.returncode}):\n{tail}")
    return pdf


def report_table_widths(html: Path) -> None:
    """Print what a reader would stumble on, a report, not a failure: every sentence its tables do not support
    (:func:`stella.builder.consistency.book_findings`) and, when a Chromium is on PATH, which pages have a table
    that scrolls sideways at 1280 px (:func:`stella.builder.checks.table_widths`) and every figure whose text is
    under 9 px as shown (:func:`stella.builder.checks.figure_text`). ``python -m stella.builder.checks`` prints the
    same."""
    findings = book_findings(html)
    print(f"sentences their tables do not support: {len(findings)}" + "".join(f"\n  {f}" for f in findings))
    if find_chromium() is None:
        return
    try:
        rows = table_widths(html)
        small = [f for f in figure_text(html) if f["px"] is None or f["px"] < MIN_TEXT_PX]
    except BrowserError as e:
        print(f"table widths, figure text: not measured ({e})")
        return
    wide = [f"{r['page']}: {s}" for r in rows for s in r["scrolling"]]
    print(f"tables at 1280 px: {len(rows)} pages, widest {max((r['widest'] for r in rows), default=0)} px, "
          f"{len(wide)} scroll sideways" + "".join(f"\n  {w}" for w in wide))
    print(f"figures with text under {MIN_TEXT_PX:g} px as shown: {len(small)}"
          + "".join(f"\n  {f['page']}: {f['figure']}" for f in small))


def check_built(html: Path, machine: list[str]) -> None:
    """Fail the build if a page fetches anything from the network or names a path in ``machine``."""
    problems = remote_assets(html) + leaked_paths(html, machine)
    if problems:
        raise BookBuildError(f"{html}: the built book is not self-contained:\n  " + "\n  ".join(problems[:20]))
