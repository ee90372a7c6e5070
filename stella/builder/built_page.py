"""A built page read back as a reader reads it: its tables (numbers, intervals, bold and underline, claims rows)
and its prose split into sentences, each marked computed or written.

``read_page(path)`` parses one page of ``book/_build/html`` (``html_dir`` relative ``name``):

- every ``<table>`` of the article becomes a :class:`Table`: one :class:`Cell` per body cell with its text, the
  numbers it shows (as printed, with their decimals), its interval ``[a, b]`` and the difference before it, and
  whether pandas' Styler marks it best (bold) or second (underlined), read from the page's ``<style>`` rules
  and ``style`` attributes; column labels join the header rows (``"avg / A"``), the row label is the first cell;
- a claims table (:func:`stella.report.display.show_claims`, class ``stella-claims``) also gives one
  :class:`ClaimRow` per comparison: claim, verdict, difference, interval, Holm p and the seeds it was judged on;
- the prose (paragraphs, list items, output text) becomes :class:`Sentence`\\ s in document order, each with its
  section, whether it is *computed* (a code cell's output, or a result the book driver pasted between the
  ``stella-computed`` markers of :mod:`stella.builder.pages`) and the pages its section links to.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from stella.builder.pages import COMPUTED_BEGIN, COMPUTED_END

MINUS = "\u2212"
# A number as printed: an optional sign, digits, optional decimals; not part of a word ("R@1", "am25", "889Hz")
# nor of a version or date ("0.3.0"). Allowed right after it: a unit the book prints (%, x, ×) or punctuation.
NUMBER = re.compile(r"(?<![\w@/.\d])(?<!\w-)([+\-\u2212]?)(\d+(?:\.\d+)?)(?![\d.]*\d)(?![A-Za-wyzµ])(?!-[A-Za-z])")  # not in "GPL-2.0-or-later"
SIGNED = r"[+\-\u2212]?(?:\d+(?:\.\d+)?|nan)"
INTERVAL = re.compile(rf"(?:({SIGNED})\s*(?:%p|%|x|×)?\s*)?\[\s*({SIGNED})\s*(?:%p|%)?\s*,\s*({SIGNED})\s*(?:%p|%)?\s*\]")
_SENTENCE_END = re.compile(r"(?<!Fig)(?<!Eq)(?<!e\.g)(?<!i\.e)(?<!\bal)(?<!vs)(?<=[.!?])\s+(?=[A-Z(])")
_BLOCKS = ("p", "li", "dd", "dt", "pre", "summary", "h1", "h2", "h3", "h4")


@dataclass(frozen=True)
class Num:
    """A number as printed: its value and its decimals (``"-8.33"`` -> -8.33, 2; ``"+0.155"`` signed)."""

    text: str
    value: float
    decimals: int
    signed: bool

    @classmethod
    def parse(cls, text: str) -> "Num":
        t = text.replace(MINUS, "-").strip()
        if t.lstrip("+-") == "nan":
            return cls(text, float("nan"), 0, t[:1] in "+-")
        d = Decimal(t)
        return cls(text, float(d), max(0, -d.as_tuple().exponent), t[:1] in "+-")

    def agrees(self, shown: "Num", signed: bool = True) -> bool:
        """Whether ``self`` (a sentence's number) is ``shown`` (a table's) at the precision shown or rounded to
        fewer decimals: ``6.7`` agrees with ``6.69``, not ``6.69`` with ``6.7``, ``0.155`` with ``0.15`` or
        ``6.7`` with ``7``. ``signed=False``: an unsigned ``self`` also agrees with ``-shown``."""
        if self.value != self.value or shown.value != shown.value or shown.decimals < self.decimals:
            return False
        half = 0.5 * 10.0 ** -self.decimals + 1e-9
        other = shown
        if abs(self.value - other.value) <= half:
            return True
        return not signed and not self.signed and abs(self.value + other.value) <= half


def numbers(text: str) -> list[Num]:
    return [Num.parse(s + n) for s, n in NUMBER.findall(text)]


@dataclass(frozen=True)
class Interval:
    """``difference [low, high]`` as printed (``difference`` None when no number stands right before it)."""

    low: Num
    high: Num
    difference: Num | None
    text: str

    def agrees(self, other: "Interval", flipped: bool = False) -> bool:
        """The same interval (and difference, where both print one); ``flipped``: as ``-other``."""
        neg = lambda n: Num(n.text, -n.value, n.decimals, True)
        lo, hi, d = (neg(other.high), neg(other.low), other.difference and neg(other.difference)) if flipped else (
            other.low, other.high, other.difference)
        same = self.low.agrees(lo) and self.high.agrees(hi)
        return same and (self.difference is None or d is None or self.difference.agrees(d))

    @property
    def is_nan(self) -> bool:
        return self.low.value != self.low.value or self.high.value != self.high.value


def intervals(text: str) -> list[Interval]:
    """The intervals printed in ``text``: ``[a, b]`` with a sign or ``nan`` at an end, or after a difference or
    the word interval / CI (``"beta values [0.4, 0.5]"`` and ``"seeds [2021, 2022]"`` are lists)."""
    out = []
    text = text.replace(MINUS, "-")
    for m in INTERVAL.finditer(text):
        d, lo, hi = m.groups()
        named = re.search(r"interval|CI\b", text[max(0, m.start() - 30):m.start()])
        if not (any(x[:1] in "+-" or x.endswith("nan") for x in (lo, hi)) or d or named):
            continue
        out.append(Interval(Num.parse(lo), Num.parse(hi), Num.parse(d) if d else None, m.group(0)))
    return out


@dataclass
class Cell:
    text: str
    column: str
    mark: str = ""                                      # "best" (bold), "second" (underlined) or ""

    @property
    def numbers(self) -> list[Num]:
        return numbers(self.text)

    @property
    def intervals(self) -> list[Interval]:
        return intervals(self.text)


@dataclass
class ClaimRow:
    """One comparison of a claims table: ``verdict`` as shown, ``why`` the text of a row without a difference."""

    family: str
    claim: str
    verdict: str
    interval: Interval | None
    p_holm: Num | None
    n_seeds: int | None
    why: str = ""


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    claims: list[ClaimRow] = field(default_factory=list)
    section: str = ""
    position: int = 0

    def row(self, label: str) -> list[Cell] | None:
        key = _norm(label)
        return next((r for r in self.rows if r and _norm(r[0].text) == key), None)


@dataclass
class Sentence:
    text: str
    computed: bool
    section: str
    position: int
    links: tuple[str, ...] = ()
    in_short: bool = False


@dataclass
class Page:
    name: str
    tables: list[Table]
    sentences: list[Sentence]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip().lower()


def _text(node: Tag) -> str:
    return re.sub(r"\s+", " ", node.get_text(" ")).replace(" ,", ",").replace("( ", "(").replace(" )", ")").strip()


def _marks(soup: BeautifulSoup) -> dict[str, str]:
    """Element id -> "best" / "second" from the Styler's ``<style>`` rules (``#T_x_row0_col1 {font-weight: bold}``)."""
    out = {}
    for style in soup.find_all("style"):
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", style.get_text()):
            mark = _mark_of(body)
            if mark:
                for sel in selectors.split(","):
                    if sel.strip().startswith("#"):
                        out.setdefault(sel.strip()[1:], mark)
    return out


def _mark_of(css: str) -> str:
    css = css.replace(" ", "").lower()
    if "font-weight:bold" in css or "font-weight:700" in css:
        return "best"
    return "second" if "text-decoration:underline" in css else ""


def _columns(table: Tag) -> list[str]:
    """Column labels: the header rows' cells spread over their colspan and joined per column ("avg / A")."""
    head = table.find("thead")
    levels: list[list[str]] = []
    for tr in head.find_all("tr") if head else []:
        level = []
        for th in tr.find_all(["th", "td"]):
            level += [_text(th)] * int(th.get("colspan", 1))
        levels.append(level)
    width = max((len(lv) for lv in levels), default=0)
    return [" / ".join(x for x in (lv[i] if i < len(lv) else "" for lv in levels) if x) for i in range(width)]


def _claims(table: Tag) -> list[ClaimRow]:
    """The comparisons of a ``stella-claims`` table (:func:`stella.report.display.show_claims`)."""
    caption = _text(table.caption) if table.caption else ""
    shared = re.search(r"\bn = (\d+)", caption)
    family, n_family, out = "", None, []
    for tr in table.find("tbody").find_all("tr"):
        if "stella-family" in (tr.get("class") or []):
            family = _text(tr)
            m = re.search(r"\bn = (\d+)", family)
            n_family = int(m.group(1)) if m else None
            continue
        tds = tr.find_all("td")
        if len(tds) < 4:
            continue
        claim = _text(tds[0])
        m = re.search(r"\bn = (\d+)", claim)
        n = int(m.group(1)) if m else n_family if n_family is not None else int(shared.group(1)) if shared else None
        found = intervals(_text(tds[3]))
        if not found:
            lone = numbers(_text(tds[3]))
            found = [Interval(Num.parse("nan"), Num.parse("nan"), lone[0], _text(tds[3]))] if len(tds) > 4 and lone \
                else []
        p = numbers(_text(tds[4]).split(" ")[0]) if len(tds) > 4 else []
        out.append(ClaimRow(family, claim, _text(tds[1]), found[0] if found else None, p[0] if p else None, n,
                            "" if len(tds) > 4 else _text(tds[3])))
    return out


def _table(table: Tag, marks: dict[str, str], section: str, position: int) -> Table:
    columns = _columns(table)
    rows = []
    body = table.find("tbody") or table
    for tr in body.find_all("tr", recursive=False):
        cells = tr.find_all(["td", "th"], recursive=False)
        if not cells or (len(cells) == 1 and int(cells[0].get("colspan", 1)) > 1):
            continue
        row, col = [], 0
        for c in cells:
            mark = marks.get(c.get("id", ""), "") or _mark_of(c.get("style", ""))
            if not mark and c.find(["strong", "b"]) and _text(c.find(["strong", "b"])) == _text(c):
                mark = "best"
            row.append(Cell(_text(c), columns[col] if col < len(columns) else "", mark))
            col += int(c.get("colspan", 1))
        rows.append(row)
    claims = _claims(table) if "stella-claims" in (table.get("class") or []) else []
    return Table(_text(table.caption) if table.caption else "", columns, rows, claims, section, position)


def read_page(path: Path, name: str | None = None) -> Page:
    """The tables and sentences of one built page (module docstring)."""
    soup = BeautifulSoup(Path(path).read_text(errors="replace"), "html.parser")
    article = soup.select_one("article.bd-article") or soup.body or soup
    marks = _marks(soup)
    tables, sentences = [], []
    computed = 0
    position = 0
    for node in article.descendants:
        if not isinstance(node, Tag):
            continue
        classes = node.get("class") or []
        if COMPUTED_BEGIN in classes:
            computed += 1
        elif COMPUTED_END in classes:
            computed = max(0, computed - 1)
        if node.name == "table":
            position += 1
            tables.append(_table(node, marks, _section(node), position))
            continue
        if node.name not in _BLOCKS or node.find_parent("table") or node.find(_BLOCKS) \
                or node.find_parent(class_="cell_input"):
            continue
        text = _text(node)
        if not text:
            continue
        position += 1
        out = node.find_parent(class_="cell_output") is not None
        block = node.find_parent("section") or node
        block_links = tuple(dict.fromkeys(Path(a["href"].split("#")[0]).name for a in block.find_all("a", href=True)
                                          if a["href"].split("#")[0].endswith(".html")))
        item = node if node.name == "li" else node.find_parent("li")
        in_short = item is not None and _follows_in_short(item)
        lines = node.get_text().splitlines() if node.name == "pre" else [text]
        for s in (s for line in lines for s in _SENTENCE_END.split(re.sub(r"\s+", " ", line).strip()) if s):
            sentences.append(Sentence(s, bool(computed) or out, _section(node), position, block_links, in_short))
    return Page(name or Path(path).name, tables, sentences)


def book_pages(html_dir: Path) -> list[Path]:
    """The book's pages: every .html but Sphinx's index, search and source pages and its redirects."""
    html_dir = Path(html_dir)
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return [p for p in sorted(html_dir.rglob("*.html"))
            if p.name not in skip and not {"_static", "_sources", "_images"} & set(p.relative_to(html_dir).parts)
            and not p.read_text(errors="replace").startswith('<meta http-equiv="Refresh"')]


def _section(node: Tag) -> str:
    sec = node.find_parent("section")
    return sec.get("id", "") if sec else ""


def _follows_in_short(li: Tag) -> bool:
    ul = li.find_parent(["ul", "ol"])
    prev = ul.find_previous_sibling() if ul else None
    return prev is not None and _text(prev).startswith("In short")

