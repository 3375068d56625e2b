"""Strip export (issue 14 §5): PNG, SVG and PDF cover the whole record (or a chosen range),
the PDF paginates at true paper scale with the caller's header on every page, the PNG is
at print resolution without the mouse crosshair; bad ranges get one-line errors.

Runs offscreen with pytest-qt.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

import gui  # noqa: F401  (PySide6 refcount workaround first)

from engine.errors import UserError

FS = 300.0
HEADER = {"record": "A00001", "model": "default", "attack": "PGD", "eps_mv": 0.01}


def _ecg(seconds) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (1.1 * np.exp(-((t % 0.8) - 0.3) ** 2 / 2e-4)).astype(np.float32)


@pytest.fixture
def view(qtbot):
    from gui_fixtures import shown_strip

    return shown_strip(qtbot, 1100, 700)


def _media_boxes_mm(path) -> list[tuple[float, float]]:
    raw = Path(path).read_bytes()
    assert raw.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", raw)
    return [((float(c) - float(a)) * 25.4 / 72, (float(d) - float(b)) * 25.4 / 72) for a, b, c, d in boxes]


def test_pdf_covers_the_whole_record_paginated_with_the_header_on_every_page(view, tmp_path, monkeypatch):
    from gui.strip import export as E

    x = _ecg(200)  # 20 rows of 10 s: pages of 8, 8, 4 rows
    view.set_record(x, FS, "long")
    view.set_adversarial(x + 0.01)
    view.set_mode("continuous")
    view.set_view(50, 52)  # the view shows 2 s: the export still covers the record
    texts = []
    real_text = E.draw_text
    monkeypatch.setattr(E, "draw_text", lambda p, x, y, t, *a, **k: (texts.append(t), real_text(p, x, y, t, *a, **k)))
    pdf = view.export_pdf(str(tmp_path / "long.pdf"), header=HEADER)
    boxes = _media_boxes_mm(pdf)
    spec = view.paper_spec()
    assert (spec.t0, spec.t1) == (0.0, 200.0)
    assert len(boxes) == 3
    for (w, h), rows in zip(boxes, (8, 8, 4)):
        ew, eh = E.page_size_mm(spec, rows)
        assert w == pytest.approx(ew, abs=0.5) and h == pytest.approx(eh, abs=0.5)
    # true scale: a row of 10 s is 250 mm (+ the pulse margin), a strip of 3 mV + lane 2 mV 50 mm
    assert E.page_size_mm(spec, 1)[0] == pytest.approx(2 * E.MARGIN_MM + (0.44 + 10) * 25)
    assert E.page_size_mm(spec, 2)[1] - E.page_size_mm(spec, 1)[1] == pytest.approx((3 + 2) * 10)
    head = "record A00001 · model default · attack PGD · ε 0.01 mV (10 µV)"
    assert texts.count(head) == 3  # once on every page
    assert sum("page " in t for t in texts) == 3


def test_a_chosen_range_and_bad_ranges(view, tmp_path):
    from gui.strip import export as E

    view.set_record(_ecg(60), FS, "range")
    pdf = view.export_pdf(str(tmp_path / "r.pdf"), t0=20, t1=40)
    (w, h), = _media_boxes_mm(pdf)
    assert h == pytest.approx(E.page_size_mm(view.paper_spec(20, 40), 2)[1], abs=0.5)
    spec = view.paper_spec(-5, 1e9)
    assert (spec.t0, spec.t1) == (0.0, 60.0)  # clipped to the record
    for t0, t1 in ((10, 10), (70, 80), (float("nan"), 5)):
        with pytest.raises(UserError):
            view.export_pdf(str(tmp_path / "bad.pdf"), t0=t0, t1=t1)
    assert not (tmp_path / "bad.pdf").exists()
    with pytest.raises(UserError, match="dpi"):
        view.export_png(str(tmp_path / "bad.png"), dpi=5)


def test_png_at_print_resolution_whole_record_no_crosshair(view, tmp_path, monkeypatch):
    from PySide6.QtGui import QImage

    from gui.strip import export as E

    view.set_record(_ecg(60), FS, "png")
    view.set_view(0, 5)
    view.crosshair.set_pos(2.0, view.model.baseline(0))
    assert view.crosshair.vline.isVisible()
    png = view.export_png(str(tmp_path / "s.png"), dpi=300, header=HEADER)
    img = QImage(png)
    w_mm, h_mm = E.page_size_mm(view.paper_spec(), 6)  # all 6 rows, not the 1 in view
    assert img.width() == pytest.approx(w_mm * 300 / 25.4, abs=2)
    assert img.height() == pytest.approx(h_mm * 300 / 25.4, abs=2)
    assert img.dotsPerMeterX() == pytest.approx(300 / 0.0254, abs=2)
    # the paper is drawn, not grabbed: no crosshair in it; the view-as-shown grab hides it too
    seen = []
    real_grab = view.plot.grab
    monkeypatch.setattr(view.plot, "grab", lambda *a: (seen.append(view.crosshair.vline.isVisible()), real_grab(*a))[1])
    view.export_view_png(str(tmp_path / "v.png"))
    assert seen == [False] and view.crosshair.vline.isVisible()
    # the old call still works: a sheet `width_px` wide
    assert QImage(view.export_png(str(tmp_path / "w.png"), width_px=1800)).width() == pytest.approx(1800, abs=2)
    # too large an image: one line, nothing written
    view.set_record(_ecg(3600), FS, "hour")
    with pytest.raises(UserError, match="too large"):
        view.export_png(str(tmp_path / "huge.png"), dpi=600)
    assert not (tmp_path / "huge.png").exists()


def test_svg_whole_record_in_millimetres(view, tmp_path):
    view.set_record(_ecg(30), FS, "svg")
    view.set_view(0, 2)
    svg = Path(view.export_svg(str(tmp_path / "s.svg"), header=HEADER)).read_text(errors="ignore")
    m = re.search(r'<svg[^>]*width="([\d.]+)mm"[^>]*height="([\d.]+)mm"', svg)
    from gui.strip import export as E

    w_mm, h_mm = E.page_size_mm(view.paper_spec(), 3)
    assert m, svg[:400]
    assert float(m.group(1)) == pytest.approx(w_mm, abs=1.0) and float(m.group(2)) == pytest.approx(h_mm, abs=1.0)


def test_record_longer_than_the_paper_limit_is_refused_with_one_line(view, tmp_path):
    from gui.strip import export as E

    x = np.zeros(int((E.MAX_PDF_SECONDS + 60) * 10), np.float32)
    view.set_record(x, 10.0, "toolong")
    with pytest.raises(UserError, match="too long") as ei:
        view.export_pdf(str(tmp_path / "x.pdf"))
    assert "\n" not in str(ei.value)
    # a range within the limit works
    assert os.path.getsize(view.export_pdf(str(tmp_path / "x.pdf"), t0=0, t1=30)) > 1000
