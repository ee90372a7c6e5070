"""Checks over a built book: it works offline and carries no trace of the machine that built it.

``remote_assets(html_dir)`` lists every script, stylesheet, font or image that a page would fetch
from the network: ``<script src>``, resource ``<link href>`` (stylesheet, preload, icon ...),
``<img src>``, URLs inside inline scripts, and ``url()`` / ``@import`` in inline styles and in the
book's CSS files. ``leaked_paths(build_dir, paths)`` lists the pages and downloadable notebooks
that contain one of ``paths`` (the repository, the stage, the run store, the home directory).
``stella book`` runs both after every build.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

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
