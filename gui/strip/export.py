"""Export of the strip: PNG and SVG as shown, PDF as print-ready paper at true scale.

The PDF is drawn directly with QPainter on a QPdfWriter whose page is sized to the
strips: 25 mm per second, 10 mm per mV, rows of `seconds_per_row`, calibration pulse
at the start of every row, full sample resolution (vector), several pages when the
visible range holds more than `ROWS_PER_PAGE` rows.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
from PySide6 import QtCore, QtGui

from .layers import ADVERSARIAL_RGB, LANE_ZERO_PEN, LAYER, LAYER_DECLS
from .paper import (INK, LARGE_LINE, MM_PER_MV, MM_PER_S, PAPER_BG, ROW_MARGIN_S, SMALL_LINE,
                    calibration_pulse, format_time)

__all__ = ["PaperTrace", "PaperSpec", "paper_spec", "export_png", "export_svg", "export_pdf", "write_paper_pdf",
           "page_size_mm", "ROWS_PER_PAGE", "MAX_PDF_SECONDS"]

ROWS_PER_PAGE = 8
MAX_PDF_MEMBERS = 30
MAX_PDF_SECONDS = 3600.0
MARGIN_MM = 8.0
HEADER_MM = 12.0


@dataclass
class PaperTrace:
    """One thing to draw: data (n,) | (K, n) | (lo, hi); width in mm."""

    data: object
    colour: QtGui.QColor
    width_mm: float
    where: str          # "strip" | "lane"
    label: str          # layer key (gui.strip.layers); its paper_text is the legend entry
    kind: str = "line"  # "line" | "members" | "band"


@dataclass
class PaperSpec:
    name: str
    fs: float
    t0: float
    t1: float
    seconds_per_row: float
    strip_mv: float
    lane_mv: float      # 0: no lane
    gain: int
    traces: list = field(default_factory=list)
    n_members: int = 0


def _ensure_dir(path: str) -> str:
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    return path


def paper_spec(m, t0: float, t1: float) -> PaperSpec:
    """What the paper exporter draws for record time [t0, t1] of model `m`
    (gui.strip.model.StripModel): every visible, exported layer (gui.strip.layers) in its
    export order, with its paper colour and width."""
    lane = m.lane_on()
    traces = []
    for d in sorted(LAYER_DECLS, key=lambda d: d.export_z):
        if not (d.exported and m.visible[d.key]):
            continue
        # opaque colours: transparency makes QPdfWriter take minutes to finish the file
        colour = QtGui.QColor(*d.paper_colour[:3])
        kind = {"band": "band", "members": "members"}.get(d.key, "line")
        for where, keys in m.paper_sources(d.key, lane):
            if all(k in m.src for k in keys):
                data = tuple(m.src[k].data for k in keys) if len(keys) > 1 else m.src[keys[0]].data
                traces.append(PaperTrace(data, colour, d.export_width_mm, where, d.key, kind))
    return PaperSpec(name=m.name, fs=m.fs, t0=t0, t1=t1, seconds_per_row=m.spr, strip_mv=m.strip_mv,
                     lane_mv=m.lane_mv if lane else 0.0, gain=m.gain, traces=traces,
                     n_members=m.n_members_total)


# ---------------------------------------------------------------- as shown
def export_png(view, path: str, width_px: int | None = None) -> str:
    """Render the plot (axes, legend, overlays) to PNG.  With `width_px` the traces are
    re-decimated for that width before rendering (pyqtgraph ImageExporter)."""
    import pyqtgraph.exporters as pge

    path = _ensure_dir(path)
    if width_px is None:
        pix = view.plot.grab()
        if not pix.save(path, "PNG"):
            raise OSError(f"cannot write {path}")
        return path
    width_px = int(width_px)
    scale = width_px / max(1.0, view.plot_item.sceneBoundingRect().width())
    view._render_width = view._vb.width() * scale
    try:
        view._refresh()
        ex = pge.ImageExporter(view.plot_item)
        ex.parameters()["width"] = width_px
        with _NoItemCache(view):  # cached pixmaps would be scaled up, blurred
            ex.export(path)
    finally:
        view._render_width = None
        view._refresh()
    if not os.path.isfile(path):
        raise OSError(f"cannot write {path}")
    return path


class _NoItemCache:
    """Render cached items (the legend is cached as a pixmap for speed) as vectors."""

    def __init__(self, view):
        self.items = [it for it in view.plot_item.scene().items()
                      if it.cacheMode() != it.CacheMode.NoCache]

    def __enter__(self):
        self.modes = [it.cacheMode() for it in self.items]
        for it in self.items:
            it.setCacheMode(it.CacheMode.NoCache)

    def __exit__(self, *exc):
        for it, mode in zip(self.items, self.modes):
            it.setCacheMode(mode)


def export_svg(view, path: str) -> str:
    """The plot as shown (axes, legend, overlays), as vector SVG.

    Rendered with QSvgGenerator from the scene: pyqtgraph's SVGExporter cannot parse the
    path data Qt 6.12 writes (ValueError in SVGExporter.correctCoordinates)."""
    from PySide6 import QtSvg

    path = _ensure_dir(path)
    item = view.plot_item
    src = item.sceneBoundingRect()
    gen = QtSvg.QSvgGenerator()
    gen.setFileName(path)
    gen.setSize(QtCore.QSize(int(src.width()), int(src.height())))
    gen.setViewBox(QtCore.QRectF(0, 0, src.width(), src.height()))
    # the axes replay QPictures recorded at the screen's DPI: render at the same DPI
    gen.setResolution(view.plot.logicalDpiX())
    gen.setTitle(f"{view.model.name or 'ECG'} strip")
    gen.setDescription("ECG strip exported by the ECG adversarial workbench")
    p = QtGui.QPainter()
    if not p.begin(gen):
        raise OSError(f"cannot write {path}")
    try:
        with _NoItemCache(view):
            p.fillRect(QtCore.QRectF(0, 0, src.width(), src.height()), QtGui.QColor("white"))
            item.scene().render(p, QtCore.QRectF(0, 0, src.width(), src.height()), src)
    finally:
        p.end()
    return path


# ---------------------------------------------------------------- paper PDF
def page_size_mm(spec: PaperSpec, rows: int) -> tuple[float, float]:
    """(width, height) in mm of a page holding `rows` rows of the spec."""
    w = 2 * MARGIN_MM + (ROW_MARGIN_S + spec.seconds_per_row) * MM_PER_S
    pitch = (spec.strip_mv + spec.lane_mv) * MM_PER_MV
    h = 2 * MARGIN_MM + HEADER_MM + rows * pitch
    return w, h


def export_pdf(view, path: str) -> str:
    spec = view.paper_spec()
    return write_paper_pdf(path, spec)


def write_paper_pdf(path: str, spec: PaperSpec, resolution: int = 600) -> str:
    """Write the spec's time range as ECG paper at 25 mm/s and 10 mm/mV."""
    path = _ensure_dir(path)
    t0 = max(0.0, spec.t0)
    t1 = max(t0 + 1.0 / spec.fs, spec.t1)
    if t1 - t0 > MAX_PDF_SECONDS:
        raise ValueError(f"the visible range ({(t1 - t0) / 60:.0f} min) is too long for a paper "
                         f"export (at most {MAX_PDF_SECONDS / 60:.0f} min); zoom in first")
    T = spec.seconds_per_row
    r_first = int(t0 // T)
    r_last = max(r_first, int(math.ceil(t1 / T - 1e-9)) - 1)
    rows = list(range(r_first, r_last + 1))
    pages = [rows[i:i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)]

    writer = QtGui.QPdfWriter(path)
    writer.setResolution(resolution)
    writer.setCreator("ECG adversarial workbench")
    writer.setTitle(f"{spec.name} ECG strips")
    writer.setPageMargins(QtCore.QMarginsF(0, 0, 0, 0))

    def set_page(n_rows):
        w, h = page_size_mm(spec, n_rows)
        writer.setPageSize(QtGui.QPageSize(QtCore.QSizeF(w, h), QtGui.QPageSize.Unit.Millimeter,
                                           "strip", QtGui.QPageSize.SizeMatchPolicy.ExactMatch))
        writer.setPageMargins(QtCore.QMarginsF(0, 0, 0, 0))

    set_page(len(pages[0]))
    painter = QtGui.QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write {path}")
    try:
        for pi, page_rows in enumerate(pages):
            if pi:
                set_page(len(page_rows))
                writer.newPage()
            _draw_page(painter, writer, spec, page_rows, t0, t1, pi + 1, len(pages))
    finally:
        painter.end()
    return path


def _draw_page(p: QtGui.QPainter, writer, spec: PaperSpec, rows, t0, t1, page, n_pages):
    dpmm = writer.resolution() / 25.4  # device units per mm
    w_mm, h_mm = page_size_mm(spec, len(rows))
    p.save()
    p.scale(dpmm, dpmm)  # from here on: millimetres
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
    p.fillRect(QtCore.QRectF(0, 0, w_mm, h_mm), QtGui.QColor("white"))
    T = spec.seconds_per_row
    pitch_mv = spec.strip_mv + spec.lane_mv
    gx0 = MARGIN_MM                               # left edge of the paper area
    gy0 = MARGIN_MM + HEADER_MM
    gw = (ROW_MARGIN_S + T) * MM_PER_S
    gh = len(rows) * pitch_mv * MM_PER_MV
    # header
    font = QtGui.QFont("Helvetica")
    font.setPointSizeF(9)
    p.setFont(font)
    p.setPen(QtGui.QPen(QtGui.QColor(40, 40, 40)))
    head = (f"{spec.name}   {_tlabel(t0, t1)} – {_tlabel(t1, t1)}   "
            f"{spec.fs:g} Hz   25 mm/s   10 mm/mV")
    if spec.lane_mv:
        head += f"   perturbation lane ×{spec.gain}"
    if n_pages > 1:
        head += f"   page {page}/{n_pages}"
    _text(p, gx0, MARGIN_MM + 7.5, head, 9)
    _draw_legend(p, spec, gx0 + gw, MARGIN_MM + 7.5)
    # paper
    p.fillRect(QtCore.QRectF(gx0, gy0, gw, gh), PAPER_BG)
    pen_s = QtGui.QPen(SMALL_LINE, 0.1)
    pen_l = QtGui.QPen(LARGE_LINE, 0.2)
    nx = int(round(gw))   # 1 mm = one small square
    ny = int(round(gh))
    small, large = [], []
    for i in range(nx + 1):
        (large if i % 5 == 0 else small).append(QtCore.QLineF(gx0 + i, gy0, gx0 + i, gy0 + gh))
    for j in range(ny + 1):
        (large if j % 5 == 0 else small).append(QtCore.QLineF(gx0, gy0 + j, gx0 + gw, gy0 + j))
    p.setPen(pen_s)
    p.drawLines(small)
    p.setPen(pen_l)
    p.drawLines(large)

    x_of = lambda t_row: gx0 + (t_row + ROW_MARGIN_S) * MM_PER_S  # row-relative s -> mm
    for k, r in enumerate(rows):
        row_top = gy0 + k * pitch_mv * MM_PER_MV
        base = row_top + spec.strip_mv / 2 * MM_PER_MV
        lane_base = row_top + (spec.strip_mv + spec.lane_mv / 2) * MM_PER_MV
        rt0 = r * T
        a, b = max(t0, rt0), min(t1, rt0 + T)
        i0, i1 = int(math.floor(a * spec.fs)), int(math.ceil(b * spec.fs)) + 1
        # calibration pulse
        cx, cy = calibration_pulse(0.0)
        p.setPen(_pen(INK, 0.3))
        p.drawPath(_path(x_of(cx), base - cy * MM_PER_MV))
        if spec.lane_mv:
            p.setPen(_pen(QtGui.QColor(*LANE_ZERO_PEN.colour[:3]), 0.15, dash=True))
            p.drawLine(QtCore.QPointF(x_of(0), lane_base), QtCore.QPointF(x_of(T), lane_base))
        for tr in spec.traces:
            y0 = base if tr.where == "strip" else lane_base
            g = 1.0 if tr.where == "strip" else spec.gain
            _draw_trace(p, tr, i0, i1, spec.fs, rt0, x_of, y0, g)
        # labels last, on a paper-coloured patch so traces do not hide them
        _text(p, gx0 + 1.0, row_top + 3.2, _tlabel(rt0, t1), 6.5, QtGui.QColor(90, 90, 90), PAPER_BG)
        if spec.lane_mv:
            _text(p, x_of(0) + 1.0, row_top + spec.strip_mv * MM_PER_MV + 3.2,
                  f"perturbation ×{spec.gain}", 6.5, QtGui.QColor(*ADVERSARIAL_RGB), PAPER_BG)
    p.restore()


def _draw_trace(p, tr: PaperTrace, i0, i1, fs, rt0, x_of, y0, gain):
    if tr.kind == "band":
        lo, hi = tr.data
        n = lo.shape[-1]
        i1 = min(i1, n)
        if i1 - i0 < 2:
            return
        t = np.arange(i0, i1) / fs - rt0
        xs = x_of(t)
        top = y0 - hi[i0:i1] * gain * MM_PER_MV
        bot = y0 - lo[i0:i1] * gain * MM_PER_MV
        path = _path(np.concatenate([xs, xs[::-1]]), np.concatenate([top, bot[::-1]]))
        path.closeSubpath()
        p.fillPath(path, _blend(tr.colour, PAPER_BG, 0.3))  # opaque: see _blend
        return
    data = tr.data
    n = data.shape[-1]
    i1 = min(i1, n)
    if i1 - i0 < 2:
        return
    t = np.arange(i0, i1) / fs - rt0
    xs = x_of(t)
    p.setPen(_pen(tr.colour, tr.width_mm))
    rows = data[None, :] if data.ndim == 1 else data[:MAX_PDF_MEMBERS]
    for row in rows:
        p.drawPath(_path(xs, y0 - row[i0:i1] * gain * MM_PER_MV))


def _draw_legend(p, spec, right, baseline):
    items = []
    seen = set()
    for tr in spec.traces:
        if tr.label in seen:
            continue
        seen.add(tr.label)
        d = LAYER.get(tr.label)
        name = d.paper_text(spec.gain, spec.n_members) if d is not None else tr.label
        items.append((name, tr.colour))
    x = right
    font = QtGui.QFont("Helvetica")
    font.setPointSizeF(7)
    fm = QtGui.QFontMetricsF(font, p.device())
    for name, colour in reversed(items):
        w = fm.horizontalAdvance(name) / _dpmm(p) + 8  # device units -> mm
        x -= w
        c = QtGui.QColor(colour)
        c.setAlpha(255)
        p.setPen(_pen(c, 0.6))
        p.drawLine(QtCore.QPointF(x, baseline - 1.2), QtCore.QPointF(x + 5, baseline - 1.2))
        _text(p, x + 6, baseline, name, 7, QtGui.QColor(40, 40, 40))


def _blend(fg: QtGui.QColor, bg: QtGui.QColor, alpha: float) -> QtGui.QColor:
    """`fg` at `alpha` over `bg`, as an opaque colour.  QPdfWriter needs minutes to close a
    file with many semi-transparent paths, so the PDF uses no transparency."""
    f, b = QtGui.QColor(fg), QtGui.QColor(bg)
    mix = lambda a, c: int(round(c + (a - c) * alpha))
    return QtGui.QColor(mix(f.red(), b.red()), mix(f.green(), b.green()), mix(f.blue(), b.blue()))


def _pen(colour, width_mm, dash=False):
    pen = QtGui.QPen(QtGui.QColor(colour), width_mm)
    pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(QtCore.Qt.PenJoinStyle.RoundJoin)
    if dash:
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


def _path(x, y) -> QtGui.QPainterPath:
    import pyqtgraph as pg

    return pg.functions.arrayToQPath(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                     connect="all", finiteCheck=False)


def _tlabel(t: float, span: float) -> str:
    return f"{t:.1f} s" if span < 60 else format_time(t, 1, span)


def _dpmm(p) -> float:
    return p.device().logicalDpiX() / 25.4


def _text(p, x_mm, y_mm, text, size_pt, colour=None, background=None):
    """Draw text with its baseline at (x_mm, y_mm), size in points, in a mm-scaled painter."""
    p.save()
    p.translate(x_mm, y_mm)
    s = 1.0 / _dpmm(p)  # back to device units, where point sizes are right
    p.scale(s, s)
    font = QtGui.QFont("Helvetica")
    font.setPointSizeF(size_pt)
    p.setFont(font)
    if background is not None:
        fm = QtGui.QFontMetricsF(font, p.device())
        r = fm.boundingRect(text)
        p.fillRect(r.adjusted(-fm.height() * 0.15, 0, fm.height() * 0.15, 0), background)
    if colour is not None:
        p.setPen(QtGui.QPen(colour))
    p.drawText(QtCore.QPointF(0, 0), text)
    p.restore()
