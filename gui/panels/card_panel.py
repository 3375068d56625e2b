"""Robustness card tab: build the current model's card on the listed dataset (a Workbench job in the
worker thread, with progress and cancel in the status bar), show it, save it as HTML, and compare
two cards' key figures side by side. No engine work here: the panel emits requests and shows
documents (engine.card)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QFrame, QHBoxLayout, QHeaderView, QLineEdit, QPushButton,
                               QScrollArea, QSpinBox, QStyle, QTableWidget, QTableWidgetItem, QTabWidget,
                               QTextBrowser, QVBoxLayout, QWidget)

from engine.attacks.registry import CARD_METHODS

from .common import muted
from .dataset_widgets import SplitCombo


class CardPanel(QWidget):
    buildRequested = Signal(str, int, dict)  # split, at most N records, settings (plain values)
    saveRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.doc: dict | None = None  # the card shown
        self.html: str = ""
        self.pinned: dict | None = None  # the card kept for comparison
        lay = QHBoxLayout(self)
        left = QVBoxLayout()
        form = QFormLayout()
        self.split = SplitCombo()
        self.split.setCurrentIndex(3)  # stratified 10 %
        self.limit = QSpinBox()
        self.limit.setRange(1, 1_000_000)
        self.limit.setValue(20)
        self.attacks = QLineEdit(", ".join(CARD_METHODS))
        self.attacks.setToolTip("attacks swept over the ε values (comma-separated)")
        self.eps = QLineEdit("0.005, 0.01, 0.02, 0.05")
        self.eps.setToolTip("ε values in mV for the attack sweep")
        self.ens_eps = QLineEdit("0.01, 0.02, 0.05")
        self.ens_eps.setToolTip("ε values in mV for the ensemble's robust accuracy (empty: none)")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 100_000)
        self.iterations.setValue(50)
        self.queries = QSpinBox()
        self.queries.setRange(1, 10_000_000)
        self.queries.setValue(250)  # engine.card.build.CARD_QUERIES
        self.universal = QCheckBox("Universal perturbation (fitted on the training half)")
        self.universal.setChecked(True)
        for label, w in (("Records", self.split), ("At most", self.limit), ("Attacks", self.attacks),
                         ("ε (mV)", self.eps), ("Ensemble ε (mV)", self.ens_eps),
                         ("APGD iterations", self.iterations), ("Square queries", self.queries)):
            form.addRow(label, w)
        left.addLayout(form)
        left.addWidget(self.universal)
        self.run = QPushButton("Build robustness card")
        self.run.clicked.connect(self._build_clicked)
        left.addWidget(self.run)
        row = QHBoxLayout()
        self.save = QPushButton("Save HTML…")
        self.save.clicked.connect(self.saveRequested.emit)
        self.pin = QPushButton("Keep for comparison")
        self.pin.setToolTip("Keep this card; build another model's card to see both side by side")
        self.pin.clicked.connect(self.pin_current)
        row.addWidget(self.save)
        row.addWidget(self.pin)
        left.addLayout(row)
        self.summary = muted("Builds the card of the loaded model: clean metrics, success vs ε per attack, "
                             "robust accuracy under the ensemble, perceptibility, the universal perturbation.")
        self.summary.setWordWrap(True)
        left.addWidget(self.summary)
        left.addStretch(1)
        lay.addWidget(_scrolled(left), 1)  # the settings scroll: the Dataset dock stays low, the strip visible
        self.views = QTabWidget()
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setPlaceholderText("Choose the records and press Build robustness card (left): the loaded "
                                        "model's card appears here.")
        self.views.addTab(self.browser, "Card")
        self.compare = QTableWidget(0, 3)
        self.compare.setHorizontalHeaderLabels(["Figure", "This card", "Kept card"])
        self.compare.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.compare.horizontalHeader().setStretchLastSection(True)
        self.views.addTab(self.compare, "Compare")
        lay.addWidget(self.views, 3)
        self._busy = False
        self._update_enabled()

    # ---- requests --------------------------------------------------------------------------
    def settings(self) -> dict:
        """The panel's choices as plain values (checked by the engine when the card is built)."""
        return {"attacks": self.attacks.text(), "eps": self.eps.text(), "ensemble_eps": self.ens_eps.text(),
                "iterations": self.iterations.value(), "queries": self.queries.value(),
                "universal": self.universal.isChecked()}

    def _build_clicked(self) -> None:
        self.buildRequested.emit(self.split.currentData(), self.limit.value(), self.settings())

    # ---- showing ---------------------------------------------------------------------------
    def show_card(self, doc: dict, html_text: str) -> None:
        from engine.card.render import key_figures

        self.doc, self.html = doc, html_text
        self.browser.setHtml(html_text)
        k = key_figures(doc)
        self.summary.setText(f"{doc['model']}: clean accuracy {k['Clean accuracy']}; built in "
                             f"{doc['provenance']['seconds']:.0f} s")
        self.show_comparison()
        self._update_enabled()

    def pin_current(self) -> None:
        if self.doc is not None:
            self.pinned = self.doc
            self.show_comparison()
            self.views.setCurrentWidget(self.compare)

    def show_comparison(self) -> None:
        """Key figures of the shown card and the kept one, row by row."""
        from engine.card.render import compare_rows, key_figures

        if self.doc is None:
            return
        if self.pinned is None:
            rows = [(k, v, "–") for k, v in key_figures(self.doc).items()]
            right = "Kept card"
        else:
            rows = compare_rows(self.doc, self.pinned)
            right = f"Kept: {self.pinned['model']} ({self.pinned['model_sha'][:8]})"
        self.compare.setHorizontalHeaderLabels(["Figure", f"{self.doc['model']} ({self.doc['model_sha'][:8]})",
                                                right])
        self.compare.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.compare.setItem(i, j, item)

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_enabled()

    def _update_enabled(self) -> None:
        self.run.setEnabled(not self._busy)
        self.run.setToolTip("A dataset job is running (Cancel or Esc stops it)." if self._busy
                            else "Build the loaded model's robustness card on the chosen records")
        self.save.setEnabled(self.doc is not None)
        self.pin.setEnabled(self.doc is not None)


def _scrolled(layout) -> QScrollArea:
    """`layout` in a frameless vertical scroll area as wide as its contents (no minimum height)."""
    inner = QWidget()
    inner.setLayout(layout)
    scroll = QScrollArea()
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidgetResizable(True)
    scroll.setWidget(inner)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    bar = scroll.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
    scroll.setMinimumWidth(inner.minimumSizeHint().width() + bar)
    return scroll


__all__ = ["CardPanel"]
