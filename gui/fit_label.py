"""A one-line rich-text label that fits its width: it shows the first of its variants (full text
first, then shorter ones) whose natural width fits, and wraps the shortest only when none does.
The full text is always the tooltip. Used for the window's header lines (any screen size)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QSizePolicy


class FitLabel(QLabel):
    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.setMinimumWidth(100)
        self._variants: list[str] = []
        self.set_variants([text] if text else [])

    def set_variants(self, variants: list[str]) -> None:
        """The texts to choose from, longest (preferred) first."""
        self._variants = [v for v in variants if v is not None] or [""]
        self.setToolTip(self._variants[0] if len(self._variants) > 1 else "")
        self._fit()

    def full_text(self) -> str:
        return self._variants[0]

    def natural_width(self, html: str) -> float:
        doc = QTextDocument()
        doc.setDefaultFont(self.font())
        doc.setDocumentMargin(0)
        doc.setHtml(html)
        return doc.idealWidth()

    def _fit(self) -> None:
        avail = max(1, self.contentsRect().width())
        for v in self._variants:
            if self.natural_width(v) <= avail:
                self.setWordWrap(False)
                if v != self.text():
                    self.setText(v)
                return
        self.setWordWrap(True)  # nothing fits on one line: the shortest, wrapped
        if self._variants[-1] != self.text():
            self.setText(self._variants[-1])

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._fit()
