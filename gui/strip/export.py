"""Export of the strip as ECG paper at true scale: PDF, PNG and SVG of the whole record
(or a chosen time range), drawn directly with QPainter — no screen grab, so no mouse
crosshair, and the same drawing on every device.

Paper: 25 mm per second, 10 mm per mV, rows of `seconds_per_row`, calibration pulse at
the start of every row (a record in mV only; another unit is named in the header) (and the perturbation lane's scale bar), every sample (vector);
a header on every page with the record, its time range, the paper scale and the
caller's ``header`` dict (record, model, attack, ε — ε shown in µV).  The PDF holds
`ROWS_PER_PAGE` rows a page; PNG and SVG are one sheet with every row (PNG at `dpi`,
300 by default, at most MAX_IMAGE_PIXELS).  Files are written to a temporary name
beside the target and renamed (engine.outputs.atomic_write).  The view as shown (axes,
legend) is still available from :func:`export_view_png` / :func:`export_view_svg`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
from PySide6 import QtCore, QtGui

from engine.errors import UserError
from engine.outputs import atomic_write

from .layers import ADVERSARIAL_RGB, LANE_BAR_PEN, LANE_ZERO_PEN, LAYER, LAYER_DECLS
from .painting import blend, device_dpmm, draw_text, mm_pen, painting, qpath
from .paper import (INK, LARGE_LINE, MM_PER_MV, MM_PER_S, PAPER_BG, ROW_MARGIN_S, SMALL_LINE,
                    calibration_pulse, format_time)
from .scale import amplitude_scale_text

__all__ = ["PaperTrace", "PaperSpec", "paper_spec", "export_png", "export_svg", "export_pdf", "write_paper_pdf",
           "write_paper_image", "write_paper_svg", "export_view_png", "export_view_svg", "header_text",
           "page_size_mm", "export_range", "export_problem", "ROWS_PER_PAGE", "MAX_PDF_SECONDS", "MAX_IMAGE_PIXELS", "DEFAULT_DPI"]

ROWS_PER_PAGE = 8
MAX_PDF_MEMBERS = 30
MAX_PDF_SECONDS = 3600.0       # one paper export covers at most an hour (45 pages of 8 rows of 10 s)
MAX_IMAGE_PIXELS = 120_000_000  # a PNG sheet (about 480 MB while drawn)
DEFAULT_DPI = 300
MEAN_BIN_MM = 0.5               # the perturbation's mean line: one point per this much paper
MARGIN_MM = 8.0
HEADER_MM = 16.0


@dataclass
class PaperTrace:
    """One thing to draw: data (n,) | (K, n) | (lo, hi); width in mm."""

    data: object
    colour: QtGui.QColor
    width_mm: float
    where: str          # "strip" | "lane"
    label: str          # layer key (gui.strip.layers); its paper_text is the legend entry
    kind: str = "line"  # "line" | "members" | "band" | "marks" (annotation labels)


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
    offset_mv: float = 0.0   # subtracted from strip traces (the record's median, see StripModel)
    header: dict = field(default_factory=dict)  # the caller's: record, model, attack, eps_mv ...
    units: str = "mV"        # the record's unit: no calibration pulse unless mV
    strip_scale: float = 1.0  # mV of paper per unit (gui.strip.model.unit_scale)


def _ensure_dir(path: str) -> str:
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    return path


def paper_spec(m, t0: float, t1: float, header: dict | None = None) -> PaperSpec:
    """What the paper exporter draws for record time [t0, t1] of model `m`
    (gui.strip.model.StripModel): every visible, exported layer (gui.strip.layers) in its
    export order, with its paper colour and width; strips of the asked-for height (not
    the height grown to fill the screen); `header` printed on every page."""
    lane = m.lane_on()
    traces = []
    for d in sorted(LAYER_DECLS, key=lambda d: d.export_z):
        if not (d.exported and m.visible[d.key]):
            continue
        if d.key == "annotations":  # labels, not a trace: (sample indices, labels)
            if m.has_layer("annotations"):
                traces.append(PaperTrace((m.ann_i, m.ann_text), QtGui.QColor(*d.paper_colour[:3]),
                                         d.export_width_mm, "strip", d.key, "marks"))
            continue
        # opaque colours: transparency makes QPdfWriter take minutes to finish the file
        colour = QtGui.QColor(*d.paper_colour[:3])
        kind = {"band": "band", "members": "members"}.get(d.key, "line")
        for where, keys in m.paper_sources(d.key, lane):
            if all(k in m.src for k in keys):
                data = tuple(m.src[k].data for k in keys) if len(keys) > 1 else m.src[keys[0]].data
                traces.append(PaperTrace(data, colour, d.export_width_mm, where, d.key, kind))
    return PaperSpec(name=m.name, fs=m.fs, t0=t0, t1=t1, seconds_per_row=m.spr, strip_mv=m.min_strip_mv,
                     lane_mv=m.lane_mv if lane else 0.0, gain=m.gain, traces=traces,
                     n_members=m.n_members_total, offset_mv=m.offset_mv, header=dict(header or {}),
                     units=getattr(m, "units", "mV"), strip_scale=getattr(m, "strip_scale", 1.0))


def export_range(m, t0: float | None, t1: float | None) -> tuple[float, float]:
    """The record time [t0, t1] (s) to export: the whole record by default; a given range
    is clipped to the record.  UserError for an empty or non-finite range."""
    if m.x is None:
        raise UserError("nothing to export: no record")
    dur = m.duration()
    a = 0.0 if t0 is None else float(t0)
    b = dur if t1 is None else float(t1)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise UserError(f"export range must be finite seconds, got {t0!r}..{t1!r}")
    a, b = max(0.0, min(a, dur)), max(0.0, min(b, dur))
    if b - a < 1.0 / m.fs:
        raise UserError(f"export range {a:g}..{b:g} s holds no samples (the record is {dur:g} s)")
    return a, b


def header_text(header: dict) -> str:
    """The caller's header as one line: "record A00001 · model default · attack PGD · ε 0.01 mV (10 µV)"
    (ε given as eps_mv or eps_uv: in mV like the window and the CLI, and in µV like the lane's bar)."""
    parts = []
    for k, v in header.items():
        if v is None or v == "":
            continue
        if k in ("eps_mv", "eps_uv", "eps"):
            uv = float(v) * (1.0 if k == "eps_uv" else 1000.0)
            parts.append(f"ε {uv / 1000.0:.3g} mV ({uv:.3g} µV)")
        else:
            parts.append(f"{k} {v}")
    return " · ".join(parts)


# ---------------------------------------------------------------- as shown
def export_view_png(view, path: str, width_px: int | None = None) -> str:
    """Render the plot as shown (axes, legend, overlays; no crosshair) to PNG.  With
    `width_px` the traces are re-decimated for that width before rendering."""
    import pyqtgraph.exporters as pge

    path = _ensure_dir(path)
    if width_px is None:
        with _NoCrosshair(view):
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
        with _NoItemCache(view), _NoCrosshair(view):  # cached pixmaps would be scaled up, blurred
            ex.export(path)
    finally:
        view._render_width = None
        view._refresh()
    if not os.path.isfile(path):
        raise OSError(f"cannot write {path}")
    return path


class _NoCrosshair:
    """Hide the mouse crosshair while the scene is rendered."""

    def __init__(self, view):
        self.lines = [ln for ln in (view.crosshair.vline, view.crosshair.hline) if ln.isVisible()]

    def __enter__(self):
        for ln in self.lines:
            ln.hide()

    def __exit__(self, *exc):
        for ln in self.lines:
            ln.show()


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


def export_view_svg(view, path: str) -> str:
    """The plot as shown (axes, legend, overlays; no crosshair), as vector SVG.

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
    with painting(gen, OSError(f"cannot write {path}")) as p, _NoItemCache(view), _NoCrosshair(view):
        p.fillRect(QtCore.QRectF(0, 0, src.width(), src.height()), QtGui.QColor("white"))
        item.scene().render(p, QtCore.QRectF(0, 0, src.width(), src.height()), src)
    return path


# ---------------------------------------------------------------- paper PDF
def page_size_mm(spec: PaperSpec, rows: int) -> tuple[float, float]:
    """(width, height) in mm of a page holding `rows` rows of the spec."""
    w = 2 * MARGIN_MM + (ROW_MARGIN_S + spec.seconds_per_row) * MM_PER_S
    pitch = (spec.strip_mv + spec.lane_mv) * MM_PER_MV
    h = 2 * MARGIN_MM + HEADER_MM + rows * pitch
    return w, h


def export_pdf(view, path: str, t0: float | None = None, t1: float | None = None,
               header: dict | None = None) -> str:
    """Record time [t0, t1] (default: the whole record) as paginated paper, see module doc."""
    a, b = export_range(view.model, t0, t1)
    return write_paper_pdf(path, paper_spec(view.model, a, b, header))


def export_png(view, path: str, width_px: int | None = None, t0: float | None = None,
               t1: float | None = None, dpi: float = DEFAULT_DPI, header: dict | None = None) -> str:
    """Record time [t0, t1] (default: the whole record) as one paper sheet in PNG at `dpi`
    (or, with `width_px`, at the dpi that makes the sheet that many pixels wide)."""
    a, b = export_range(view.model, t0, t1)
    spec = paper_spec(view.model, a, b, header)
    if width_px is not None:
        dpi = float(width_px) * 25.4 / page_size_mm(spec, 1)[0]
    return write_paper_image(path, spec, dpi)


def export_svg(view, path: str, t0: float | None = None, t1: float | None = None,
               header: dict | None = None) -> str:
    """Record time [t0, t1] (default: the whole record) as one paper sheet in SVG (mm)."""
    a, b = export_range(view.model, t0, t1)
    return write_paper_svg(path, paper_spec(view.model, a, b, header))


def _png_pixels(spec: PaperSpec, seconds: float, n_rows: int, dpi: float) -> tuple[int, int]:
    """(width, height) in pixels of a PNG sheet of `n_rows` rows at `dpi`; UserError for a dpi
    outside 30..2400 or a sheet larger than MAX_IMAGE_PIXELS."""
    if not (math.isfinite(dpi) and 30 <= dpi <= 2400):
        raise UserError(f"dpi must be within 30..2400, got {dpi!r}")
    w_mm, h_mm = page_size_mm(spec, n_rows)
    w_px, h_px = int(math.ceil(w_mm * dpi / 25.4)), int(math.ceil(h_mm * dpi / 25.4))
    if w_px * h_px > MAX_IMAGE_PIXELS:
        raise UserError(f"a {w_px}×{h_px} px image at {dpi:g} dpi is too large for "
                        f"{seconds / 60:.1f} min; choose a shorter range, a lower dpi or PDF")
    return w_px, h_px


def export_problem(view, ext: str, t0: float | None = None, t1: float | None = None,
                   dpi: float = DEFAULT_DPI) -> str:
    """Why the paper export of record time [t0, t1] as `ext` ("png", "svg" or "pdf"; PNG at `dpi`)
    would be refused, in one line, or "" when it would not: the writers' own checks, made
    without drawing (the export dialog asks before it closes)."""
    try:
        a, b = export_range(view.model, t0, t1)
        spec = paper_spec(view.model, a, b)
        a, b, rows = _rows(spec)
        if ext == "png":
            _png_pixels(spec, b - a, len(rows), dpi)
    except UserError as exc:
        return str(exc)
    return ""


def _rows(spec: PaperSpec) -> tuple[float, float, list[int]]:
    """(t0, t1, rows) of the spec; UserError when longer than MAX_PDF_SECONDS."""
    t0 = max(0.0, spec.t0)
    t1 = max(t0 + 1.0 / spec.fs, spec.t1)
    if t1 - t0 > MAX_PDF_SECONDS + 1e-9:
        raise UserError(f"the range ({(t1 - t0) / 60:.0f} min) is too long for a paper export "
                        f"(at most {MAX_PDF_SECONDS / 60:.0f} min); export a shorter range")
    T = spec.seconds_per_row
    r_first = int(t0 // T)
    r_last = max(r_first, int(math.ceil(t1 / T - 1e-9)) - 1)
    return t0, t1, list(range(r_first, r_last + 1))


def write_paper_image(path: str, spec: PaperSpec, dpi: float = DEFAULT_DPI) -> str:
    """The spec's time range as one PNG sheet (every row) at `dpi` (true scale when
    printed at that resolution); UserError when larger than MAX_IMAGE_PIXELS."""
    path = _ensure_dir(path)
    t0, t1, rows = _rows(spec)
    w_px, h_px = _png_pixels(spec, t1 - t0, len(rows), dpi)
    dpmm = dpi / 25.4
    img = QtGui.QImage(w_px, h_px, QtGui.QImage.Format.Format_RGB32)
    img.setDotsPerMeterX(int(round(dpi / 0.0254)))
    img.setDotsPerMeterY(int(round(dpi / 0.0254)))
    img.fill(QtGui.QColor("white"))
    with painting(img, UserError(f"cannot draw a {w_px}×{h_px} px image")) as painter:
        _draw_page(painter, dpmm, spec, rows, t0, t1, 1, 1)
    with atomic_write(path) as tmp:
        if not img.save(tmp, "PNG"):
            raise UserError(f"cannot write {path}")
    return path


def write_paper_svg(path: str, spec: PaperSpec) -> str:
    """The spec's time range as one SVG sheet, sized in mm (true scale)."""
    from PySide6 import QtSvg

    path = _ensure_dir(path)
    t0, t1, rows = _rows(spec)
    w_mm, h_mm = page_size_mm(spec, len(rows))
    res = 96.0
    dpmm = res / 25.4
    with atomic_write(path) as tmp:
        gen = QtSvg.QSvgGenerator()
        gen.setFileName(tmp)
        gen.setResolution(int(res))
        gen.setSize(QtCore.QSize(int(math.ceil(w_mm * dpmm)), int(math.ceil(h_mm * dpmm))))
        gen.setViewBox(QtCore.QRectF(0, 0, w_mm * dpmm, h_mm * dpmm))
        gen.setTitle(f"{spec.name or 'ECG'} strips")
        gen.setDescription("ECG strips at 25 mm/s, 10 mm/mV, exported by the ECG adversarial workbench")
        with painting(gen, UserError(f"cannot write {path}")) as p:
            _draw_page(p, dpmm, spec, rows, t0, t1, 1, 1)
    return path


def write_paper_pdf(path: str, spec: PaperSpec, resolution: int = 600) -> str:
    """Write the spec's time range as ECG paper at 25 mm/s and 10 mm/mV, ROWS_PER_PAGE
    rows a page, the header on every page."""
    path = _ensure_dir(path)
    t0, t1, rows = _rows(spec)
    pages = [rows[i:i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)]
    with atomic_write(path) as tmp:
        _write_pdf(tmp, spec, pages, t0, t1, resolution)
    return path


def _write_pdf(path: str, spec: PaperSpec, pages: list, t0: float, t1: float, resolution: int) -> None:
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
    with painting(writer, UserError(f"cannot write {path}")) as painter:
        dpmm = writer.resolution() / 25.4  # device units per mm
        for pi, page_rows in enumerate(pages):
            if pi:
                set_page(len(page_rows))
                writer.newPage()
            _draw_page(painter, dpmm, spec, page_rows, t0, t1, pi + 1, len(pages))


def _draw_page(p: QtGui.QPainter, dpmm: float, spec: PaperSpec, rows, t0, t1, page, n_pages):
    """One page (or sheet) of `rows`, `dpmm` device units per mm."""
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
            f"{spec.fs:g} Hz   25 mm/s   {amplitude_scale_text(spec.units, spec.strip_scale)}")
    if spec.lane_mv:
        head += f"   perturbation lane ×{spec.gain}"
    if n_pages > 1:
        head += f"   page {page}/{n_pages}"
    draw_text(p, gx0, MARGIN_MM + 4.5, head, 9)
    if spec.header:
        draw_text(p, gx0, MARGIN_MM + 10.5, header_text(spec.header), 9)
    _draw_legend(p, spec, gx0 + gw, MARGIN_MM + 10.5)
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
        # calibration pulse (a record in mV only)
        cx, cy = calibration_pulse(0.0)
        if spec.units == "mV":
            p.setPen(mm_pen(INK, 0.3))
            p.drawPath(qpath(x_of(cx), base - cy * MM_PER_MV))
        if spec.lane_mv:
            p.setPen(mm_pen(QtGui.QColor(*LANE_ZERO_PEN.colour[:3]), 0.15, dash=True))
            p.drawLine(QtCore.QPointF(x_of(0), lane_base), QtCore.QPointF(x_of(T), lane_base))
            # scale bar: 1 mV of lane = 1000/gain µV of δ, under the calibration pulse
            xm = x_of(cx[0] + 0.16)
            p.setPen(mm_pen(QtGui.QColor(*LANE_BAR_PEN.colour[:3]), 0.3))
            p.drawLine(QtCore.QPointF(xm, lane_base), QtCore.QPointF(xm, lane_base - MM_PER_MV))
        strip_clip = max(spec.strip_mv + spec.lane_mv, 5.0)
        for tr in spec.traces:
            if tr.kind == "marks":  # after the row's last sample: the next row's first is not repeated
                _draw_marks(p, tr, i0, i1 - 1, spec.fs, rt0, x_of, row_top)
                continue
            lane = tr.where != "strip"
            y0 = lane_base if lane else base
            g = spec.gain if lane else spec.strip_scale
            bias = 0.0 if lane or tr.label == "difference" else spec.offset_mv
            clip = spec.lane_mv / 2 if lane else strip_clip
            _draw_trace(p, tr, i0, i1, spec.fs, rt0, x_of, y0, g, bias, clip)
        # labels last, on a paper-coloured patch so traces do not hide them
        draw_text(p, gx0 + 1.0, row_top + 3.2, _tlabel(rt0, t1), 6.5, QtGui.QColor(90, 90, 90), PAPER_BG)
        if spec.lane_mv:
            draw_text(p, x_of(0) + 1.0, row_top + spec.strip_mv * MM_PER_MV + 3.2,
                  f"δ = adv − orig ×{spec.gain} · bar {1000 / spec.gain:g} µV", 6.5,
                  QtGui.QColor(*ADVERSARIAL_RGB), PAPER_BG)
    p.restore()


def _draw_marks(p, tr: PaperTrace, i0, i1, fs, rt0, x_of, top) -> None:
    """Annotation labels of samples [i0, i1) (tr.data: sorted sample indices, labels), centred
    over their time and hanging from the row's top `top` (mm), over the trace (which stays visible)."""
    idx, labels = tr.data
    a, b = np.searchsorted(idx, [i0, i1])
    font = QtGui.QFont("Helvetica")
    font.setPointSizeF(6)
    fm = QtGui.QFontMetricsF(font, p.device())
    dpmm = device_dpmm(p)
    for k in range(int(a), int(b)):
        w = fm.horizontalAdvance(labels[k]) / dpmm
        draw_text(p, x_of(idx[k] / fs - rt0) - w / 2, top + 2.6, labels[k], 6, tr.colour)  # no patch: the trace shows


def _draw_trace(p, tr: PaperTrace, i0, i1, fs, rt0, x_of, y0, gain, bias=0.0, clip=None):
    """Samples [i0, i1) of a trace on its baseline y0 (mm): (value − bias) × gain, kept
    within ±clip mV of the baseline."""
    def ys(v):
        v = (v.astype(np.float64) - bias) * gain
        if clip is not None:
            np.clip(v, -clip, clip, out=v)
        return y0 - v * MM_PER_MV

    if tr.kind == "band":
        lo, hi = tr.data
        n = lo.shape[-1]
        i1 = min(i1, n)
        if i1 - i0 < 2:
            return
        t = np.arange(i0, i1) / fs - rt0
        xs = x_of(t)
        top = ys(hi[i0:i1])
        bot = ys(lo[i0:i1])
        path = qpath(np.concatenate([xs, xs[::-1]]), np.concatenate([top, bot[::-1]]))
        path.closeSubpath()
        p.fillPath(path, blend(tr.colour, PAPER_BG, 0.3))  # opaque: see painting.blend
        return
    data = tr.data
    n = data.shape[-1]
    i1 = min(i1, n)
    if i1 - i0 < 2:
        return
    t = np.arange(i0, i1) / fs - rt0
    xs = x_of(t)
    if tr.label == "perturbation" and data.ndim == 1:
        # as on screen: the samples pale (PGD's sample-rate sign flips are a solid block at
        # 25 mm/s), their mean over MEAN_BIN_MM of paper on top (the sign structure)
        p.setPen(mm_pen(blend(tr.colour, PAPER_BG, 0.35), tr.width_mm))
        p.drawPath(qpath(xs, ys(data[i0:i1])))
        k = max(1, int(round(fs * MEAN_BIN_MM / MM_PER_S)))
        m = (i1 - i0) // k
        if k > 1 and m >= 2:
            means = data[i0:i0 + m * k].astype(np.float64).reshape(m, k).mean(axis=1)
            p.setPen(mm_pen(tr.colour, tr.width_mm))
            p.drawPath(qpath(xs[:m * k].reshape(m, k).mean(axis=1), ys(means)))
        return
    p.setPen(mm_pen(tr.colour, tr.width_mm))
    rows = data[None, :] if data.ndim == 1 else data[:MAX_PDF_MEMBERS]
    for row in rows:
        p.drawPath(qpath(xs, ys(row[i0:i1])))


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
        w = fm.horizontalAdvance(name) / device_dpmm(p) + 8  # device units -> mm
        x -= w
        c = QtGui.QColor(colour)
        c.setAlpha(255)
        p.setPen(mm_pen(c, 0.6))
        p.drawLine(QtCore.QPointF(x, baseline - 1.2), QtCore.QPointF(x + 5, baseline - 1.2))
        draw_text(p, x + 6, baseline, name, 7, QtGui.QColor(40, 40, 40))


def _tlabel(t: float, span: float) -> str:
    return f"{t:.1f} s" if span < 60 else format_time(t, 1, span)
