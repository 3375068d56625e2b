"""The strip's one-line info label (record, calibration, crosshair readout): it never widens the
window. Text longer than the label's width is drawn elided at the right ("…"), the full text in
its tooltip; ``text()`` is always the full text."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

MIN_WIDTH_PX = 60


class InfoLabel(QtWidgets.QLabel):
    """A plain-text QLabel without a minimum width of its text's length (horizontal policy
    Ignored): in a narrow window it elides instead of pushing the window past the screen."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.setStyleSheet("QLabel { color: #333; }")
        self.setContentsMargins(6, 1, 6, 1)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(MIN_WIDTH_PX)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt)
        return QtCore.QSize(MIN_WIDTH_PX, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """The text as drawn: the full text, or its elided start when it does not fit."""
        w = max(0, self.contentsRect().width())
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, w)

    def is_elided(self) -> bool:
        return self.shown_text() != self.text()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt)
        super().setText(text)
        self._sync_tip()

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(ev)
        self._sync_tip()

    def _sync_tip(self) -> None:
        self.setToolTip(self.text() if self.is_elided() else "")

    def paintEvent(self, _ev: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt)
        p = QtGui.QPainter(self)
        self.style().drawItemText(p, self.contentsRect(), int(self.alignment()), self.palette(), self.isEnabled(),
                                  self.shown_text(), self.foregroundRole())
        p.end()
