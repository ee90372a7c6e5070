"""Checks over a built book: it works offline and carries no trace of the machine that built it.

``remote_assets(html_dir)`` lists every script, stylesheet, font or image that a page would fetch
from the network: ``<script src>``, resource ``<link href>`` (stylesheet, preload, icon ...),
``<img src>``, URLs inside inline scripts, and ``url()`` / ``@import`` in inline styles and in the
book's CSS files. ``leaked_paths(build_dir, paths)`` lists the pages and downloadable notebooks
that contain one of ``paths`` (the repository, the stage, the run store, the home directory).
``stella book`` runs both after every build.

``table_widths(html_dir)`` opens every page in a headless Chromium at 1280 px (every collapsed block
opened) and reports its widest table and the tables a reader would have to scroll sideways.
``figure_text(html_dir)`` measures, the same way, each figure's smallest text as displayed: the font size its
PNG records (:mod:`stella.report.figure_text`) times the PNG's dpi / 72 times the width the page shows it at
over its natural width; under :data:`MIN_TEXT_PX` a reader cannot read it.
``python -m stella.builder.checks book/_build/html [--screenshots DIR]`` prints both and the sentences
:mod:`stella.builder.consistency` finds unsupported by their tables.
"""
from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

from stella.builder.built_page import book_pages
from stella.report.figure_text import KEY, NO_TEXT, png_dpi, png_text, png_width

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)['"]""", re.IGNORECASE)
JS_URL = re.compile(r"""['"](https?://[^'"\s]+)['"]""")
RESOURCE_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch", "icon",
                 "shortcut", "apple-touch-icon", "manifest", "mask-icon"}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self._remote("<script src>", a["src"])
        elif tag == "link" and a.get("href") and RESOURCE_RELS & set((a.get("rel") or "").lower().split()):
            self._remote(f"<link rel={a.get('rel')}>", a["href"])
        elif tag in ("img", "iframe", "source", "audio", "video") and a.get("src"):
            self._remote(f"<{tag} src>", a["src"])
        if a.get("style"):
            self.found += [f"style attribute: {u}" for u in css_remote_urls(a["style"])]
        self._in = tag if tag in ("script", "style") and not a.get("src") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.found += [f"<style>: {u}" for u in css_remote_urls(data)]
        elif self._in == "script":
            self.found += [f"inline <script>: {u}" for u in JS_URL.findall(data)]

    def _remote(self, what: str, url: str) -> None:
        if REMOTE.match(url):
            self.found.append(f"{what}: {url}")


def css_remote_urls(css: str) -> list[str]:
    """The remote URLs a stylesheet's ``url()`` and ``@import`` would load."""
    return [u for pair in CSS_URL.findall(css) for u in pair if u and REMOTE.match(u)]


def remote_assets(html_dir: Path) -> list[str]:
    """``"page: what: url"`` for every remote asset referenced by a page or by the book's CSS."""
    html_dir = Path(html_dir)
    found = []
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Page()
        parser.feed(page.read_text(errors="replace"))
        found += [f"{page.relative_to(html_dir)}: {f}" for f in parser.found]
    for css in sorted(html_dir.rglob("*.css")):
        found += [f"{css.relative_to(html_dir)}: {u}" for u in css_remote_urls(css.read_text(errors="replace"))]
    return found


def leaked_paths(build_dir: Path, paths: list[str | Path]) -> list[str]:
    """``"file: path"`` for every page (.html), notebook (.ipynb) or search index that names one of ``paths``."""
    build_dir = Path(build_dir)
    needles = sorted({str(p) for p in paths if str(p) not in ("", "/")}, key=len, reverse=True)
    found = []
    for f in sorted(build_dir.rglob("*")):
        if f.suffix in (".html", ".ipynb") or f.name == "searchindex.js":
            text = f.read_text(errors="replace")
            found += [f"{f.relative_to(build_dir)}: {n}" for n in needles if n in text]
    return found


# Run in the page: open every collapsed block, then measure each table of the article against the box that
# holds it (a table scrolls when a box between it and the article is narrower than it and scrolls sideways)
# and against the article (a table overflows when it sticks out of the article's right edge).
_OPEN = """
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('.cell_input, .toggle').forEach(e => { e.style.display = ''; });"""
_MEASURE = """(() => {""" + _OPEN + """
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const box = article.getBoundingClientRect();
  const tables = [...article.querySelectorAll('table')].filter(t => t.getClientRects().length);
  return {content: Math.round(box.width), page: document.documentElement.scrollWidth, tables: tables.map(t => {
    const r = t.getBoundingClientRect();
    let scrolls = false;
    for (let e = t.parentElement; e && e !== article.parentElement; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX;
      if ((o === 'auto' || o === 'scroll') && e.scrollWidth > e.clientWidth + 1) { scrolls = true; break; }
    }
    const cap = t.querySelector('caption');
    const head = (cap ? cap.textContent : (t.rows[0] ? t.rows[0].textContent : '')).trim().replace(/\\s+/g, ' ');
    return {width: Math.ceil(Math.max(r.width, t.scrollWidth)), scrolls: scrolls,
            overflows: r.right > box.right + 1, what: head.slice(0, 80)};
  })};
})()"""


MIN_TEXT_PX = 9.0      # the smallest text a reader reads at arm's length on a laptop (CSS px)

# Run in the page: every figure of the article (collapsed blocks opened) with its natural and its displayed
# width, named by the "Figure." caption under it or else by the heading of its section.
_FIGURES = """(() => {""" + _OPEN + """
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  return [...article.querySelectorAll('img')].filter(i => i.getClientRects().length).map(i => {
    const out = i.closest('.cell_output') || i.parentElement;
    const cap = [...out.querySelectorAll('p')].map(p => p.textContent.trim()).find(t => t.startsWith('Figure.'));
    const sec = i.closest('section');
    const head = sec ? sec.querySelector('h1, h2, h3, h4') : null;
    const what = (cap || (head ? head.textContent : '') || i.alt || '').trim().replace(/\\s+/g, ' ').replace(/#$/, '');
    return {src: i.currentSrc || i.src, natural: i.naturalWidth, shown: i.getBoundingClientRect().width,
            what: what.slice(0, 90)};
  });
})()"""


def figure_text(html_dir: Path, width: int = 1280) -> list[dict]:
    """One dict per figure of the built book seen in a headless Chromium ``width`` px wide: ``page``,
    ``figure`` (its caption or section), ``image``, ``natural`` and ``shown`` width (px), ``pt`` (its smallest
    font size, None when its PNG records none), ``dpi`` and ``px`` (that text as displayed, CSS px; infinite for
    a figure without text, None when its PNG records no size). Raises ``BrowserError`` without a Chromium."""
    from stella.builder.chromium import Browser

    html_dir = Path(html_dir)
    rows = []
    with Browser(width=width) as browser:
        for page in book_pages(html_dir):
            browser.open(page.resolve().as_uri())
            for f in browser.evaluate(_FIGURES):
                url = urlparse(f["src"])
                path = Path(unquote(url.path)) if url.scheme == "file" else None
                data = path.read_bytes() if path is not None and path.suffix.lower() == ".png" and path.exists() else b""
                text = png_text(data).get(KEY) if data else None
                pt = None if text in (None, NO_TEXT) else float(text)
                dpi = png_dpi(data) if data else None
                natural = f["natural"] or (png_width(data) if data else 0)
                px = pt * dpi / 72 * f["shown"] / natural if pt and dpi and natural else (
                    float("inf") if text == NO_TEXT else None)
                rows.append({"page": str(page.relative_to(html_dir)), "figure": f["what"],
                             "image": path.name if path else f["src"][:60], "natural": natural,
                             "shown": round(f["shown"]), "pt": pt, "dpi": dpi and round(dpi), "px": px})
    return rows


def table_widths(html_dir: Path, width: int = 1280, screenshots: Path | None = None) -> list[dict]:
    """One dict per page of the built book, seen in a headless Chromium ``width`` px wide:
    ``page``, ``content`` (the article's width, px), ``tables``, ``widest`` (px, 0 without a table),
    ``scrolling`` (``"what: width px"`` for each table that scrolls sideways or sticks out of the
    article) and ``page_scrolls`` (the page itself is wider than the window). ``screenshots``: a PNG
    of each whole page there. Raises ``BrowserError`` without a Chromium."""
    from stella.builder.chromium import Browser

    html_dir = Path(html_dir)
    rows = []
    with Browser(width=width) as browser:
        for page in book_pages(html_dir):
            browser.open(page.resolve().as_uri())
            m = browser.evaluate(_MEASURE)
            name = str(page.relative_to(html_dir))
            rows.append({"page": name, "content": m["content"], "tables": len(m["tables"]),
                         "widest": max((t["width"] for t in m["tables"]), default=0),
                         "scrolling": [f"{t['what'] or 'table'}: {t['width']} px" for t in m["tables"]
                                       if t["scrolls"] or t["overflows"]],
                         "page_scrolls": m["page"] > width})
            if screenshots is not None:
                browser.screenshot(Path(screenshots) / (name.replace("/", "__").removesuffix(".html") + ".png"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m stella.builder.checks HTML_DIR``: each page's widest table at 1280 px, every figure whose
    text is under 9 px as shown, every sentence its tables do not support; exit 1 if any."""
    ap = argparse.ArgumentParser(prog="python -m stella.builder.checks", description=main.__doc__)
    ap.add_argument("html_dir", type=Path, help="a built book, e.g. book/_build/html")
    ap.add_argument("--width", type=int, default=1280, help="window width in CSS px (default 1280)")
    ap.add_argument("--screenshots", type=Path, help="write a PNG of each whole page into this directory")
    args = ap.parse_args(argv)
    if not (args.html_dir / "index.html").exists():
        print(f"{args.html_dir}: no index.html, not a built book", file=sys.stderr)
        return 2
    from stella.builder.chromium import BrowserError
    from stella.builder.consistency import book_findings

    try:
        rows = table_widths(args.html_dir, args.width, args.screenshots)
        figures = figure_text(args.html_dir, args.width)
    except BrowserError as e:
        print(f"table widths, figure text: {e}", file=sys.stderr)
        return 2
    print(f"{'page':<48} {'article px':>10} {'tables':>6} {'widest px':>9}  scrolling sideways")
    for r in rows:
        print(f"{r['page']:<48} {r['content']:>10} {r['tables']:>6} {r['widest']:>9}  "
              f"{len(r['scrolling'])}{' + the page itself' if r['page_scrolls'] else ''}")
        for s in r["scrolling"]:
            print(f"{'':<50}- {s}")
    small = [f for f in figures if f["px"] is None or f["px"] < MIN_TEXT_PX]
    print(f"\nfigures: {len(figures)}, {len(small)} with text under {MIN_TEXT_PX:g} px as shown (or unmeasured)")
    for f in small:
        size = "no text size recorded" if f["px"] is None else (
            f"{f['px']:.1f} px ({f['pt']:g} pt at {f['dpi']} dpi, {f['natural']} px shown at {f['shown']})")
        print(f"  {f['page']}: {f['figure']} [{f['image']}]: {size}")
    findings = book_findings(args.html_dir)
    print(f"\nsentences the tables beside them do not support: {len(findings)}")
    for f in findings:
        print(f"  {f}")
    return 1 if any(r["scrolling"] or r["page_scrolls"] for r in rows) or small or findings else 0


if __name__ == "__main__":
    sys.exit(main())
