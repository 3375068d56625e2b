"""The reviewer's ECG strips: gui.strip.StripView with only the trace on calibrated paper
(`TraceView`), and two or more of them stacked at exactly equal sizes (`EqualStack`)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from gui.strip import StripView

log = logging.getLogger("gui.reviewer")


class TraceView(QWidget):
    """One labelled ECG strip for the reviewer: gui.strip.StripView without toolbar, legend,
    overview or record information — only the trace on calibrated paper, in rows."""

    def __init__(self, label: str, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.label = QLabel(label)
        self.label.setObjectName("trace")
        lay.addWidget(self.label)
        self.strip = StripView(self, toolbar=False)
        self._quiet()
        lay.addWidget(self.strip, 1)
        self._calipers = False

    def _quiet(self) -> None:
        """No focus stealing, no overview bar, no name/rate line, no legend."""
        self.strip.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for w in self.strip.findChildren(QWidget):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for name in ("overview", "info", "toolbar"):
            w = getattr(self.strip, name, None)
            if isinstance(w, QWidget):
                w.setVisible(False)
        legend = getattr(self.strip, "legend", None)
        if legend is not None:
            legend.setVisible(False)

    def _call(self, name: str, *args):
        fn = getattr(self.strip, name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - a missing strip feature must not stop a review
            log.warning("reviewer: strip %s%s failed: %s", name, args, exc)
            return None

    def viewbox(self):
        return self.strip.plot.getViewBox()

    def show_trace(self, x_mv, fs: float, seconds_per_row: float, row_height_mv: float) -> None:
        self.strip.set_record(x_mv, fs, "")
        for layer in ("adversarial", "perturbation", "band", "members", "difference"):
            self._call("set_layer_visible", layer, False)
        self._call("set_layer_visible", "original", True)
        self._call("set_real_size", False)
        self._call("set_mode", "rows")
        self._call("set_row_heights", row_height_mv)
        self._call("set_seconds_per_row", seconds_per_row)
        self._quiet()
        self.fit()
        if self._calipers:
            self.set_calipers(False)
            self.set_calipers(True)

    def fit(self) -> None:
        """The whole ECG in view."""
        self._call("set_view", 0.0, float(self._call("duration") or 0.0))

    def zoom(self, factor: float) -> None:
        self._call("zoom", factor)

    def pan(self, fraction: float) -> None:
        self._call("pan", fraction)

    def scroll_rows(self, k: int) -> None:
        self._call("scroll_rows", k)

    def set_calipers(self, on: bool) -> None:
        self._calipers = bool(on)
        self._call("set_calipers_visible", bool(on))


class EqualStack(QWidget):
    """The strips one above the other with exactly equal sizes (a box layout may give one of
    them a pixel more, and the two traces must be drawn alike)."""

    GAP = 12

    def __init__(self, views: list[QWidget], parent=None) -> None:
        super().__init__(parent)
        self.views = views
        for v in views:
            v.setParent(self)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.relayout()

    def relayout(self) -> None:
        shown = [v for v in self.views if not v.isHidden()]
        if not shown:
            return
        h = (self.height() - self.GAP * (len(shown) - 1)) // len(shown)
        for k, v in enumerate(shown):
            v.setGeometry(0, k * (h + self.GAP), self.width(), h)
