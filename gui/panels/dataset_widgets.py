"""Widgets the Dataset panel's tabs (and the robustness card) share: a tab's two-column page, the
split chooser and record limit, a result view behind a "what to do" text, a plot and a table cell
in the panel's style."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QScrollArea, QSpinBox,
                               QStackedWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from .file_combo import FileChoiceCombo

SPLITS = [("all", "All records"), ("paper-val", "Paper test split (10 %)"), ("paper-train", "Paper training split"),
          ("strat-val", "Stratified 10 % (seed 0)")]


def choose_list_file(parent: QWidget) -> str:
    """Ask for a record list file (one record name per line); '' when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, "Record list file", "",
                                          "Record lists (*.txt *.csv *.lst);;All files (*)")
    return path


class SplitCombo(FileChoiceCombo):
    """The named splits plus "Record list file…", which asks for a file of record names and adds
    it as an entry (its data is the path, which the engine's split selection reads)."""

    def __init__(self) -> None:
        super().__init__(prefix="List")
        for key, text in SPLITS:
            self.addItem(text, key)
        self.insertSeparator(self.count())
        self.add_chooser("Record list file…", lambda parent: choose_list_file(parent))  # looked up when asked
        self.setToolTip("Which records of the listed dataset to use: a named split or a text file\n"
                        "with one record name per line")

    def set_counts(self, counts: dict[str, int] | None) -> None:
        """Labelled records of the listed dataset in each named split (None: unknown). A split with
        none is greyed out ('none here'), and a choice that holds none moves to All records: on the
        bundled samples the paper's splits select nothing, and a default run failed at once."""
        names = dict(SPLITS)
        for i in range(self.count()):
            key = self.itemData(i)
            if key not in names:
                continue
            n = None if counts is None else counts.get(key)
            self.model().item(i).setEnabled(n != 0)  # a chosen split keeps its short text (no clipping)
            self.setItemText(i, f"{names[key]} · none here" if n == 0 else names[key])
            self.setItemData(i, None if n is None else f"{n} labelled records of the listed folder",
                             Qt.ItemDataRole.ToolTipRole)
        if counts is not None and counts.get(self.currentData()) == 0:
            self.setCurrentIndex(self.findData("all"))


class TabPage:
    """A Dataset tab's page: the controls in a column on the left (`form` first, then whatever is
    added to `left`), the result on the right at twice the width. Call :meth:`add_to` last."""

    def __init__(self) -> None:
        self.page = QWidget()
        self.row = QHBoxLayout(self.page)
        self.left = QVBoxLayout()
        self.form = QFormLayout()
        self.left.addLayout(self.form)

    def add_to(self, tabs: QTabWidget, title: str, result: QWidget, scroll: bool = False) -> None:
        """Close the left column, put `result` on the right, add the page to `tabs`. `scroll`: the
        column scrolls when it is taller than the dock (instead of squeezing the window)."""
        self.left.addStretch(1)
        if scroll:
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            inner = QWidget()
            inner.setLayout(self.left)
            area.setWidget(inner)
            self.row.addWidget(area, 1)
        else:
            self.row.addLayout(self.left, 1)
        self.row.addWidget(result, 2)
        tabs.addTab(self.page, title)


def limit_spin(value: int, tip: str) -> QSpinBox:
    """The "At most N records" box of a dataset run."""
    box = QSpinBox()
    box.setRange(1, 100000)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def table_item(text: str, align=Qt.AlignmentFlag.AlignCenter) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setTextAlignment(align)
    it.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    return it


def plot_widget(left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.showGrid(x=True, y=True, alpha=0.25)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.setMinimumHeight(160)
    for ax in ("left", "bottom"):
        w.getAxis(ax).setPen(pg.mkPen("#444"))
        w.getAxis(ax).setTextPen(pg.mkPen("#222"))
        w.getAxis(ax).enableAutoSIPrefix(False)
    return w


class Placeholder(QStackedWidget):
    """A result view (table or plot) behind a short "what to do" text until it has something to show."""

    def __init__(self, view: QWidget, hint: str) -> None:
        super().__init__()
        self.hint = QLabel(hint)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: #666; border: 1px dashed #bbb; padding: 12px;")
        self.view = view
        self.addWidget(self.hint)
        self.addWidget(view)

    def reveal(self) -> None:
        self.setCurrentWidget(self.view)

    def is_empty(self) -> bool:
        return self.currentWidget() is self.hint
