"""The smallest text of a figure, written into its PNG so the built book can check it at its displayed size.

A figure's text is ``pt`` points high at ``dpi`` dots per inch: ``pt * dpi / 72`` pixels of the PNG, and on
the page ``pt * dpi / 72 * shown / natural`` CSS px when the book shrinks the PNG from its natural width to
the width it is shown at (:func:`stella.builder.checks.figure_text`). matplotlib writes the dpi into the
PNG's ``pHYs`` chunk; :func:`tag_png` adds the smallest font size in points as a ``tEXt`` chunk
(:data:`KEY`).

:func:`record_in` makes every figure a notebook shows through IPython's PNG formatter (``plt.show()`` in
the inline backend, ``display(fig)``) carry it; :func:`stella.report.figures.png` tags the figures it
renders itself.
"""
from __future__ import annotations

import base64
import struct
import zlib

import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.text import Text

COLUMN_PX = 676         # the widest a figure is shown in the book (CSS px at a 1280 px window)
MAX_WIDTH = 9.0         # inches: a figure no wider shows 9 pt text at 9.4 px (9 * 676 / (72 * 9))
KEY = "stella:smallest-text-pt"
NO_TEXT = "none"
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def smallest_text_pt(fig: Figure) -> float | None:
    """The smallest font size (points) of the figure's drawn, non-empty text; None without text."""
    sizes = [t.get_fontsize() for t in _drawn_texts(fig) if t.get_text().strip()]
    return min(sizes) if sizes else None


def _drawn_texts(artist: Artist):
    """The Text artists under ``artist`` that are drawn: every artist above them visible, and no axis of
    an Axes turned off (``set_axis_off`` hides its tick and axis labels, not its title)."""
    if not artist.get_visible():
        return
    if isinstance(artist, Text):
        yield artist
    children = artist.get_children()
    if isinstance(artist, Axes) and not artist.axison:
        children = [c for c in children if not isinstance(c, Axis)]
    for c in children:
        yield from _drawn_texts(c)


def _chunks(png: bytes):
    """(type, data, start, end) of each chunk of a PNG."""
    if not png.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    i = len(SIGNATURE)
    while i + 8 <= len(png):
        n, kind = struct.unpack(">I4s", png[i:i + 8])
        yield kind, png[i + 8:i + 8 + n], i, i + 12 + n
        i += 12 + n


def png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG as ``{keyword: text}``."""
    out = {}
    for kind, data, _, _ in _chunks(png):
        if kind == b"tEXt" and b"\0" in data:
            k, v = data.split(b"\0", 1)
            out[k.decode("latin-1")] = v.decode("latin-1")
    return out


def png_dpi(png: bytes) -> float | None:
    """Dots per inch from the PNG's ``pHYs`` chunk (unit: metre), None without one."""
    for kind, data, _, _ in _chunks(png):
        if kind == b"pHYs" and len(data) == 9 and data[8] == 1:
            return struct.unpack(">I", data[:4])[0] * 0.0254
    return None


def png_width(png: bytes) -> int:
    """The PNG's width in pixels (its ``IHDR``)."""
    kind, data, _, _ = next(_chunks(png))
    return struct.unpack(">I", data[:4])[0]


def tag_png(fig: Figure, png: bytes) -> bytes:
    """``png`` (``fig`` rendered) with :data:`KEY` = the figure's smallest font size in points (:data:`NO_TEXT`
    for a figure without text), after ``IHDR``."""
    if KEY in png_text(png):
        return png
    pt = smallest_text_pt(fig)
    data = KEY.encode("latin-1") + b"\0" + (NO_TEXT if pt is None else f"{pt:g}").encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    _, _, _, end = next(_chunks(png))
    return png[:end] + chunk + png[end:]


def record_in(shell) -> None:
    """Make ``shell``'s PNG formatter tag every Figure it renders (:func:`tag_png`); a shell without one (none
    outside IPython), nothing."""
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return
    plt.close(plt.figure())        # pyplot loads its backend lazily; the inline one registers its formatter then
    formatter = formatters["image/png"]
    try:
        render = formatter.lookup_by_type(Figure)
    except KeyError:
        return
    if getattr(render, "tags_text", False):
        return

    def tagged(fig):
        data = render(fig)
        if data is None:
            return data
        raw = base64.b64decode(data) if isinstance(data, str) else data
        out = tag_png(fig, raw)
        return base64.b64encode(out).decode("ascii") if isinstance(data, str) else out

    tagged.tags_text = True
    formatter.for_type(Figure, tagged)
