"""The record's reference annotations on the strip: beat symbols and rhythm changes at the top
of each row (the "annotations" layer of :mod:`gui.strip.layers`).

:func:`annotation_marks` says where each visible annotation goes (pure numpy, testable
headless); :class:`MarkLabels` draws them all in one item, in screen pixels, and where two
would overlap it keeps the rarer one: a ventricular beat "V" or a rhythm change among normal
beats is never hidden behind an "N" when the view is zoomed out.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from .model import Segment, StripModel

__all__ = ["annotation_marks", "MarkLabels", "COMMON"]

COMMON = frozenset({"N", "·"})  # labels drawn only where nothing rarer needs the room
GAP_PX = 3.0                    # least room between two labels on one row
BUCKET_PX = 6.0                 # at most one label kept per this many pixels of a row


def annotation_marks(m: StripModel, segs: list[Segment]) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(x s, y mV, labels, row) of the annotations in the visible row pieces `segs`, in view
    coordinates: x the row's time, y the top of the row's strip.  Each annotation appears once,
    on the row that holds its time (not also at the join with the next row)."""
    if m.ann_i is None or not segs:
        return np.empty(0), np.empty(0), [], np.empty(0, dtype=np.int64)
    xs, ys, labels, rows = [], [], [], []
    row_samples = m.row_len() * m.fs
    for s in segs:
        hi = min(s.i1, int(round(s.row_t0 * m.fs + row_samples)))
        a, b = np.searchsorted(m.ann_i, [s.i0, hi])
        if b <= a:
            continue
        xs.append(m.ann_i[a:b] / m.fs - s.row_t0)
        ys.append(np.full(b - a, m.row_top(s.row)))
        labels.extend(m.ann_text[a:b])
        rows.append(np.full(b - a, s.row, dtype=np.int64))
    if not xs:
        return np.empty(0), np.empty(0), [], np.empty(0, dtype=np.int64)
    return np.concatenate(xs), np.concatenate(ys), labels, np.concatenate(rows)


class MarkLabels(pg.GraphicsObject):
    """Text labels at view points, drawn in device pixels (the font does not scale with zoom),
    centred on x, hanging below y (clamped to the view's top); overlapping labels are thinned,
    the labels in COMMON first."""

    def __init__(self, colour: QtGui.QColor, point_size: float = 8.0):
        super().__init__()
        self.colour = colour
        self.font = QtGui.QFont()
        self.font.setPointSizeF(point_size)
        self.font.setBold(True)
        self._x = np.empty(0)
        self._y = np.empty(0)
        self._rows = np.empty(0, dtype=np.int64)
        self._labels: list[str] = []
        self._order = np.empty(0, dtype=np.int64)  # drawing order: rare labels first, then COMMON
        self._rect = QtCore.QRectF()
        self.drawn = 0  # labels drawn by the last paint (the rest overlapped)

    def set_marks(self, x: np.ndarray, y: np.ndarray, labels: list[str], rows: np.ndarray,
                  view_rect: QtCore.QRectF, width_px: float) -> None:
        """Labels `labels` at (x, y); `rows` their row (thinned per row); `view_rect` the visible
        rect, drawn `width_px` wide.  At most one label per BUCKET_PX pixels of a row is kept
        (a rare one before a common one), so a zoomed-out day of beats costs what a screen does."""
        self.prepareGeometryChange()
        common = np.fromiter((lab in COMMON for lab in labels), dtype=bool, count=len(labels))
        if len(labels) > 1:
            px = (np.asarray(x) - view_rect.left()) * (width_px / max(1e-12, view_rect.width()))
            bucket = np.asarray(rows, dtype=np.int64) * (1 << 32) + np.floor(px / BUCKET_PX).astype(np.int64)
            order = np.lexsort((common, bucket))  # by bucket, rare first within one
            _, first = np.unique(bucket[order], return_index=True)
            keep = np.sort(order[first])
            x, y, rows = np.asarray(x)[keep], np.asarray(y)[keep], np.asarray(rows)[keep]
            labels = [labels[k] for k in keep]
            common = common[keep]
        self._x, self._y, self._labels, self._rows = x, y, labels, rows
        self._order = np.concatenate([np.flatnonzero(~common), np.flatnonzero(common)])
        self._rect = QtCore.QRectF(view_rect) if len(labels) else QtCore.QRectF()
        self.update()

    def count(self) -> int:
        return len(self._labels)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt)
        return self._rect

    def paint(self, p: QtGui.QPainter, *_args) -> None:
        self.drawn = 0
        if not self._labels:
            return
        tr = p.transform()  # view coordinates -> device pixels
        top_px = tr.map(QtCore.QPointF(0.0, self._rect.bottom())).y()  # y grows upwards in the view
        p.save()
        p.resetTransform()
        p.setFont(self.font)
        p.setPen(QtGui.QPen(self.colour))
        fm = QtGui.QFontMetricsF(self.font)
        h = fm.height()
        taken: dict[int, list[tuple[float, float]]] = {}
        for i in self._order:
            lab = self._labels[i]
            pt = tr.map(QtCore.QPointF(float(self._x[i]), float(self._y[i])))
            w = fm.horizontalAdvance(lab)
            x0 = pt.x() - w / 2
            spans = taken.setdefault(int(self._rows[i]), [])
            if any(x0 - GAP_PX < b and a < x0 + w + GAP_PX for a, b in spans):
                continue
            spans.append((x0, x0 + w))
            y0 = max(pt.y(), top_px) + 1.0
            p.drawText(QtCore.QRectF(x0, y0, w + 1, h), QtCore.Qt.AlignmentFlag.AlignCenter, lab)
            self.drawn += 1
        p.restore()
