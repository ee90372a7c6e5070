"""Does every sentence of the built book agree with the tables beside it?

``book_findings(html_dir)`` reads each page (:func:`stella.builder.built_page.read_page`) and returns one
:class:`Finding` (page, sentence, reason) for each sentence a table of the page does not support:

- **number**: a decimal number in a computed sentence (the "In short" block, a code cell's output, a pasted
  result) appears in no table of the page, at the precision shown or rounded to fewer decimals (never more);
  a signed number keeps its sign. A sentence whose section links to other pages of the book (the lab's
  exercises name their chapters) may also quote their tables. Not results: a number after an inequality sign
  (a threshold), and the difference or ratio of two numbers the sentence quotes (its arithmetic shown).
- **interval**: an interval ``d [a, b]`` in a computed sentence matches no table's interval (and difference);
  an interval of ``nan`` is never a result.
- **ordering**: "the highest / lowest / best X is M's (v / w)" where a column showing M's v marks another
  row best (bold) or another row is more extreme in the stated direction.
- **verdict**: a verdict next to an interval ("holds", "contradicted", "inconclusive", "below zero",
  "above zero", "not distinguishable from zero", "at chance") disagrees with the claims table (this page's,
  else another page's) that judges the same comparison (the same interval, either orientation); "X beats Y"
  or "X does not beat Y" while the page's claims on X beating Y are not all, or some are, "holds".
- **no interval**: a sentence says "without an interval" / "no interval" above a table of its section that
  shows intervals.
- **claims rule**: a claims table row judged "holds" or "contradicted" with a Holm p of 0.05 or more, judged at
  fewer than 2 paired seeds, or judged with a zero-width interval (a quantity that does not vary).

``python -m stella.builder.consistency book/_build/html`` prints them (exit 1 when there is one).
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from stella.builder.built_page import MINUS, Interval, Num, Page, Sentence, Table, book_pages, intervals, numbers, read_page

ORDER = re.compile(r"\b(highest|lowest|largest|smallest|best|most|least|fewest)\b(?P<what>[^;:()]*?)\b(?:is|are)\s+"
                   r"(?P<name>[^\s;,:()][^;,:()]*?)['\u2019]s?\s*\((?P<nums>[^)]*)\)", re.IGNORECASE)
HIGHER, LOWER = "higher", "lower"
DIRECTION = {"highest": HIGHER, "largest": HIGHER, "most": HIGHER, "lowest": LOWER, "smallest": LOWER,
             "least": LOWER, "fewest": LOWER, "best": None}
REFERENCE_ROWS = ("chance", "ceiling", "paper", "target", "random map", "random selection")
# A verdict as a sentence words it -> what the claims table must say: a verdict, or the side of zero the
# interval lies on in the sentence's orientation (+1 above, -1 below, 0 neither), or chance.
VERDICT_WORDS = [("not distinguishable from zero", ("side", 0)), ("not distinguishable from chance", ("chance", None)),
                 ("above zero", ("side", 1)), ("below zero", ("side", -1)), ("at chance", ("chance", None)),
                 ("not tested", ("verdict", "not tested")), ("inconclusive", ("verdict", "inconclusive")),
                 ("contradicted", ("verdict", "contradicted")), ("equivalent", ("verdict", "equivalent")),
                 ("holds", ("verdict", "holds")), ("hold", ("verdict", "holds"))]
VERDICT_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w, _ in VERDICT_WORDS) + r")\b", re.IGNORECASE)
BEATS = re.compile(r"(?P<x>(?:[\w+\-']+\s+){0,2}[\w+\-']+)\s+(?P<verb>does not beat|do not beat|doesn't beat|"
                   r"cannot beat|beats)\s+(?P<y>[\w+\-']+(?:\s+[\w+\-']+){0,2})", re.IGNORECASE)
NO_INTERVAL = re.compile(r"\bwithout (?:an? )?(?:confidence )?intervals?\b|\bno (?:confidence )?intervals?\b",
                         re.IGNORECASE)
STOP = {"the", "a", "an", "its", "their", "selection", "selections", "method", "map", "'s", "s"}


@dataclass(frozen=True)
class Finding:
    page: str
    sentence: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}: {self.reason}\n    \"{self.sentence}\""


def _support(page: Page, sentence: Sentence, pages: dict[str, Page]) -> list[Table]:
    linked = [pages[p] for p in sentence.links if p in pages and pages[p] is not page]
    return page.tables + [t for p in linked for t in p.tables]


def _has_number(tables: list[Table], n: Num) -> bool:
    return any(n.agrees(m, signed=False) for t in tables for r in t.rows for c in r for m in c.numbers)


def _has_interval(tables: list[Table], iv: Interval) -> bool:
    return any(iv.agrees(o) for t in tables for r in t.rows for c in r for o in c.intervals)


THRESHOLD = re.compile(r"(?:>=|<=|[<>≥≤])\s*$")


def _threshold(text: str, n: Num) -> bool:
    """Whether ``n`` follows an inequality sign ("binarisation min-max >= 0.5"): a setting, not a result."""
    return any(THRESHOLD.search(text[:m.start()]) for m in re.finditer(re.escape(n.text), text))


def _derived(n: Num, others: list[Num]) -> bool:
    """Whether ``n`` is the difference or the ratio of two other numbers of its sentence, within their rounding
    ("0.150 against 0.025: +0.125", "0.079, a random map's 0.087: 0.9x")."""
    half = lambda m: 0.5 * 10.0 ** -m.decimals
    for a in others:
        for b in others:
            if a is b or n is a or n is b or a.value != a.value or b.value != b.value:
                continue
            if abs(n.value - (a.value - b.value)) <= half(n) + half(a) + half(b) + 1e-9:
                return True
            if b.value and not n.signed and abs(n.value - a.value / b.value) <= half(n) + abs(a.value / b.value) * (
                    half(a) / max(abs(a.value), 1e-12) + half(b) / abs(b.value)) + 1e-9:
                return True
    return False


def number_findings(page: Page, pages: dict[str, Page]) -> list[Finding]:
    """Decimal numbers and intervals of computed sentences that no table supports."""
    out = []
    for s in page.sentences:
        if not s.computed:
            continue
        tables = _support(page, s, pages)
        text = s.text.replace(MINUS, "-")
        for iv in intervals(text):
            text = text.replace(iv.text, " ")
            if iv.is_nan:
                out.append(Finding(page.name, s.text, f"interval {iv.text}: an interval of nan is no result"))
            elif not _has_interval(tables, iv):
                out.append(Finding(page.name, s.text, f"interval {iv.text}: no table of the page shows it"))
        quoted = [n for n in numbers(text) if n.decimals and not _threshold(text, n)]
        missing = [n.text for n in quoted if not _has_number(tables, n) and not _derived(n, numbers(text))]
        if missing:
            out.append(Finding(page.name, s.text, f"number(s) {', '.join(missing)}: in no table of the page"))
    return out


def _measure(label: str) -> str | None:
    last = re.sub(r"\(.*?\)", "", label.split(" / ")[-1]).split()
    return "F" if "F" in last else "A" if "A" in last else None


def _value(cell) -> float | None:
    ns = [n for n in cell.numbers if n.value == n.value]
    return ns[0].value if ns else None


def _column_direction(table: Table, col: int, measure: str | None) -> str:
    """Which way the column is better: from its bold and underlined cells, else F / time / memory lower."""
    best = [_value(r[col]) for r in table.rows if col < len(r) and r[col].mark == "best"]
    second = [_value(r[col]) for r in table.rows if col < len(r) and r[col].mark == "second"]
    best, second = [v for v in best if v is not None], [v for v in second if v is not None]
    if best and second and best[0] != second[0]:
        return HIGHER if best[0] > second[0] else LOWER
    label = table.columns[col] if col < len(table.columns) else ""
    return LOWER if measure == "F" or re.search(r"time|memory|bytes|\(s\)|MiB|GB", label) else HIGHER


def _ordering_check(table: Table, row: list, col: int, direction: str | None, measure: str | None) -> str | None:
    """None when the column agrees that ``row`` is the most extreme in ``direction``; else what beats it."""
    mine = _value(row[col])
    better = _column_direction(table, col, measure)
    direction = direction or better
    others = [r for r in table.rows if r is not row and col < len(r) and _value(r[col]) is not None
              and not any(w in r[0].text.lower() for w in REFERENCE_ROWS)]
    label = table.columns[col] if col < len(table.columns) else f"column {col}"
    bold = [r for r in table.rows if col < len(r) and r[col].mark == "best"]
    if direction == better and bold:
        if row[col].mark == "best" or any(_value(r[col]) == mine for r in bold):
            return None
        r = bold[0]
        return f"'{label}' of \"{table.caption[:60]}\" marks {r[0].text}'s {r[col].text.split(' ')[0]} best"
    more = [r for r in others if (_value(r[col]) > mine if direction == HIGHER else _value(r[col]) < mine)]
    if not more:
        return None
    r = max(more, key=lambda r: _value(r[col])) if direction == HIGHER else min(more, key=lambda r: _value(r[col]))
    return f"'{label}' of \"{table.caption[:60]}\" shows {r[0].text}'s {r[col].text.split(' ')[0]}, {direction}"


def ordering_findings(page: Page) -> list[Finding]:
    """"The highest / lowest / best ... is M's (v / w)" against the columns that show M's v and w."""
    out = []
    for s in page.sentences:
        for m in ORDER.finditer(s.text):
            word, name = m.group(1).lower(), m.group("name").strip()
            quoted = m.group("nums")
            measure = "F" if re.match(r"\s*F\b", quoted) or "forget" in m.group("what").lower() else (
                "A" if re.search(r"\bA\b|accuracy|recall", m.group("what")) else None)
            for q in [n for n in numbers(quoted) if n.decimals]:
                verdicts = []
                for t in page.tables:
                    row = t.row(name)
                    if row is None:
                        continue
                    for col in range(1, len(row)):
                        label = t.columns[col] if col < len(t.columns) else ""
                        if row[col].numbers and q.agrees(row[col].numbers[0]) and (
                                measure is None or _measure(label) in (measure, None)):
                            verdicts.append(_ordering_check(t, row, col, DIRECTION[word], measure))
                if not verdicts:
                    out.append(Finding(page.name, s.text, f"ordering: no table of the page shows {name}'s {q.text}"))
                elif all(verdicts):
                    out.append(Finding(page.name, s.text, f"ordering: says the {word} is {name}'s ({q.text}), "
                                                          f"but {verdicts[0]}"))
    return out


def _kind(word: str) -> tuple[str, object]:
    return next(k for w, k in VERDICT_WORDS if w == word.lower())


def _agrees(kind: tuple[str, object], verdict: str, why: str, orientation: int) -> bool:
    what, value = kind
    v = verdict.lower()
    if what == "verdict":
        return v.startswith(value)
    if what == "chance":
        return "chance" in v or "chance" in why.lower()
    side = 1 if v.startswith("holds") else -1 if v.startswith("contradicted") else 0
    return value == side * orientation


def verdict_findings(page: Page, pages: dict[str, Page]) -> list[Finding]:
    """Verdict words next to an interval against the claims table that judges that interval; "X (does not)
    beat(s) Y" against the page's claims on it."""
    out = []
    own = [c for t in page.tables for c in t.claims]
    book = [(p.name, c) for p in pages.values() if p is not page for t in p.tables for c in t.claims]
    for s in page.sentences:
        found = list(intervals(s.text))
        text = s.text.replace("\u2212", "-")
        spans = [text.find(iv.text) for iv in found]
        for k, iv in enumerate(found):
            if iv.is_nan or spans[k] < 0:
                continue
            end = spans[k + 1] if k + 1 < len(found) and spans[k + 1] > 0 else len(text)
            word = VERDICT_RE.search(text[spans[k] + len(iv.text):end])
            if not word:
                continue
            matches = [(page.name, c, o) for c in own for o in (1, -1) if c.interval and iv.agrees(c.interval, o < 0)]
            matches = matches or [(n, c, o) for n, c in book for o in (1, -1)
                                  if c.interval and iv.agrees(c.interval, o < 0)]
            for where, c, o in matches:
                if not _agrees(_kind(word.group(1)), c.verdict, c.why, o):
                    p = f", Holm p {c.p_holm.text}" if c.p_holm else ""
                    out.append(Finding(page.name, s.text, f"verdict: says \"{word.group(1)}\" of {iv.text}, the claims "
                                                          f"table of {where} judges \"{c.claim}\" {c.verdict}{p}"))
                    break
        if s.computed:
            out += _beats_findings(page, s, own)
    return out


def _key(words: str, last: bool) -> str | None:
    ws = [w.lower().strip("'") for w in words.split() if w.lower().strip("'") not in STOP]
    return (ws[-1] if last else ws[0]) if ws else None


def _beats_findings(page: Page, s: Sentence, claims: list) -> list[Finding]:
    out = []
    outside = re.sub(r"\([^()]*\)", "", s.text)
    for m in BEATS.finditer(outside):
        start = max(outside.rfind(";", 0, m.start()), 0)
        end = min([i for i in (outside.find(";", m.end()), outside.find(" but ", m.end())) if i >= 0] or [len(outside)])
        named = [d for d in ("A→V", "V→A") if d in outside[start:end]]
        direction = named[0] if len(named) == 1 else None
        x, y = _key(m.group("x"), last=True), _key(m.group("y"), last=False)
        negated = not m.group("verb").lower().startswith("beats")
        if not x or not y:
            continue
        rows = [c for c in claims if c.verdict != "not tested" and (direction is None or direction in c.claim)
                and re.search(rf"\b{re.escape(x)}\b.*\bbeats?\b.*\b{re.escape(y)}", c.claim.lower())]
        bad = [c for c in rows if (c.verdict.startswith("holds") if negated else not c.verdict.startswith("holds"))]
        if bad:
            c = bad[0]
            iv = f" ({c.interval.difference.text if c.interval.difference else ''} [{c.interval.low.text}, " \
                 f"{c.interval.high.text}])" if c.interval else ""
            out.append(Finding(page.name, s.text, f"verdict: says \"{m.group(0).strip()}\", the claims table judges "
                                                  f"\"{c.claim}\" {c.verdict}{iv}"))
    return out


def no_interval_findings(page: Page) -> list[Finding]:
    """"Without an interval" above a table of the same section that shows intervals."""
    out = []
    for s in page.sentences:
        if not NO_INTERVAL.search(s.text):
            continue
        for t in page.tables:
            shown = [iv for r in t.rows for c in r for iv in c.intervals if not iv.is_nan]
            if t.section == s.section and t.position > s.position and shown:
                out.append(Finding(page.name, s.text, f"no interval: says so above \"{t.caption[:70]}\", which shows "
                                                      f"intervals ({shown[0].text})"))
                break
    return out


def claims_rule_findings(page: Page) -> list[Finding]:
    """Claims rows whose verdict the rule does not allow (module docstring)."""
    out = []
    for t in page.tables:
        for c in t.claims:
            v = c.verdict.lower()
            judged = v.split()[0] in ("holds", "contradicted", "inconclusive", "equivalent") if v else False
            if c.p_holm is None or not judged:
                continue
            if v.startswith(("holds", "contradicted")) and c.p_holm.value >= 0.05:
                out.append(Finding(page.name, c.claim, f"claims rule: {c.verdict} with Holm p {c.p_holm.text} >= 0.05"))
            if c.n_seeds is not None and c.n_seeds < 2:
                out.append(Finding(page.name, c.claim, f"claims rule: {c.verdict} from a t-test at n = {c.n_seeds}"))
            iv = c.interval
            if iv is not None and not iv.is_nan and iv.low.value == iv.high.value:
                out.append(Finding(page.name, c.claim, f"claims rule: {c.verdict} with a zero-width interval "
                                                       f"[{iv.low.text}, {iv.high.text}] (a quantity that does not vary)"))
    return out


def page_findings(page: Page, pages: dict[str, Page]) -> list[Finding]:
    return (number_findings(page, pages) + ordering_findings(page) + verdict_findings(page, pages)
            + no_interval_findings(page) + claims_rule_findings(page))


def read_book(html_dir: Path) -> dict[str, Page]:
    """Every page of a built book by its file name (what a page's links name), each named by its path."""
    html_dir = Path(html_dir)
    return {p.name: read_page(p, str(p.relative_to(html_dir))) for p in book_pages(html_dir)}


def book_findings(html_dir: Path) -> list[Finding]:
    pages = read_book(html_dir)
    return [f for p in pages.values() for f in page_findings(p, pages)]


def main(argv: list[str] | None = None) -> int:
    """``python -m stella.builder.consistency HTML_DIR``: each sentence a table of its page does not support."""
    ap = argparse.ArgumentParser(prog="python -m stella.builder.consistency", description=main.__doc__)
    ap.add_argument("html_dir", type=Path, help="a built book, e.g. book/_build/html")
    args = ap.parse_args(argv)
    if not (args.html_dir / "index.html").exists():
        print(f"{args.html_dir}: no index.html, not a built book", file=sys.stderr)
        return 2
    found = book_findings(args.html_dir)
    for f in found:
        print(f)
    print(f"{len(found)} sentence(s) that the tables beside them do not support")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
