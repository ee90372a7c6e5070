"""Figure text a reader can read: each PNG records its smallest font size (stella.report.figure_text) and the built
book's check measures it at the width the page shows the figure (stella.builder.checks.figure_text)."""
import base64
import io
import shutil
from functools import partial
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from IPython.core.formatters import PNGFormatter  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from stella.report import figure_text as T  # noqa: E402
from stella.report.figures import png  # noqa: E402


def _figure(width: float, pt: float, axis: bool = True) -> Figure:
    fig, ax = plt.subplots(figsize=(width, width / 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title", fontsize=pt + 3)
    ax.tick_params(labelsize=pt)
    if not axis:
        ax.set_axis_off()
    return fig


def _png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def test_the_png_records_the_smallest_text_it_draws():
    fig = _figure(6, 7)
    raw = _png(fig, dpi=150)
    tagged = T.tag_png(fig, raw)
    assert T.png_text(tagged)[T.KEY] == "7" and T.png_text(raw).get(T.KEY) is None
    assert T.png_dpi(tagged) == pytest.approx(150, abs=0.1) and T.png_width(tagged) == T.png_width(raw)
    assert T.tag_png(fig, tagged) == tagged                               # tagged once
    off = _figure(6, 5, axis=False)
    _png(off)
    assert T.smallest_text_pt(off) == 8                                   # hidden tick labels are not drawn
    blank = plt.figure()
    blank.add_subplot().set_axis_off()
    assert T.png_text(T.tag_png(blank, _png(blank)))[T.KEY] == T.NO_TEXT
    assert T.png_text(png(_figure(6, 9)).data)[T.KEY] == "9"              # the landing page's own renderer
    plt.close("all")


def test_record_in_tags_what_the_kernels_formatter_renders():
    formatter = PNGFormatter()
    formatter.for_type(Figure, partial(print_figure, fmt="png", base64=True))
    shell = SimpleNamespace(display_formatter=SimpleNamespace(formatters={"image/png": formatter}))
    T.record_in(shell)
    T.record_in(shell)                                                    # twice: wrapped once
    T.record_in(None)
    data = base64.b64decode(formatter(_figure(5, 6)))
    assert T.png_text(data)[T.KEY] == "6" and data.count(T.KEY.encode()) == 1
    plt.close("all")


@pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                    reason="no Chromium on PATH")
def test_figure_text_measures_the_text_as_the_page_shows_it(tmp_path):
    from stella.builder.checks import MIN_TEXT_PX, figure_text, main

    images = tmp_path / "_images"
    images.mkdir()
    wide, narrow = _figure(12, 7), _figure(5, 10)
    (images / "wide.png").write_bytes(T.tag_png(wide, _png(wide)))       # ~1200 px shown at 676: 7 pt -> ~5.5 px
    (images / "narrow.png").write_bytes(T.tag_png(narrow, _png(narrow)))  # ~500 px shown as is: 10 pt -> ~13.9 px
    (images / "plain.png").write_bytes(_png(narrow))                      # records no size
    page = ("<html><body><article class='bd-article' style='width:676px'>{}</article></body></html>")
    img = "<img src='_images/{}' style='max-width:100%'>"
    (tmp_path / "index.html").write_text(page.format(img.format("narrow.png")))
    (tmp_path / "wide.html").write_text(page.format(
        "<details><summary>more</summary>" + img.format("wide.png") + "<p>Figure. The wide one.</p></details>"
        + img.format("plain.png")))
    rows = {(r["page"], r["image"]): r for r in figure_text(tmp_path)}
    assert rows[("index.html", "narrow.png")]["px"] == pytest.approx(10 * 100 / 72, rel=0.02)
    w = rows[("wide.html", "wide.png")]
    assert w["shown"] == 676 and w["figure"] == "Figure. The wide one."   # the closed <details> opened
    assert w["px"] == pytest.approx(7 * 100 / 72 * 676 / w["natural"], rel=0.01) and w["px"] < MIN_TEXT_PX
    assert rows[("wide.html", "plain.png")]["px"] is None
    assert main([str(tmp_path)]) == 1
    (tmp_path / "wide.html").unlink()
    assert main([str(tmp_path)]) == 0
    plt.close("all")
