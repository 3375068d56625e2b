"""Record browser: the records of a folder or dataset in a table (name, duration, label, model
prediction, attack status), a class filter, a name search, and open / recent-file buttons.

Listing is instant (names only); durations and predictions arrive later in batches from the
worker (`update_rows`). The table is a model/view pair so 8528 records cost nothing to show.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QStyle,
                               QLineEdit, QMenu, QTableView, QToolButton, QVBoxLayout, QWidget)

from .common import BAD_COLOR, CLASS_NAMES, SHORT_NAMES

COLUMNS = ("Record", "Length", "Label", "Model", "Attack")
NAME, DURATION, LABEL, PRED, STATUS = range(5)


class RecordTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.data_: dict[str, dict] = {}
        self.row_of: dict[str, int] = {}

    def set_records(self, names: list[str], labels: dict[str, str]) -> None:
        self.beginResetModel()
        self.names = sorted(names)
        self.data_ = {n: {"label": labels.get(n)} for n in self.names}
        self.row_of = {n: i for i, n in enumerate(self.names)}
        self.endResetModel()

    def update(self, name: str, **fields) -> None:
        if name not in self.row_of:
            return
        self.data_[name].update(fields)
        r = self.row_of[name]
        self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))

    def update_many(self, items: dict[str, dict]) -> None:
        rows = []
        for name, fields in items.items():
            if name in self.row_of:
                self.data_[name].update(fields)
                rows.append(self.row_of[name])
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))

    def clear_column(self, *keys: str) -> None:
        for d in self.data_.values():
            for k in keys:
                d.pop(k, None)
        if self.names:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.names) - 1, len(COLUMNS) - 1))

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sort in Python with a key (fast for 8528 rows; a proxy would call data() per comparison)."""
        keys = {NAME: lambda n: n,
                DURATION: lambda n: self.data_[n].get("duration") or 0.0,
                LABEL: lambda n: (self.data_[n].get("label") or "~~", n),
                PRED: lambda n: (self.data_[n].get("pred") or "~~", n),
                STATUS: lambda n: (self.data_[n].get("status") or "~~", n)}
        self.layoutAboutToBeChanged.emit()
        self.names.sort(key=keys.get(column, keys[NAME]), reverse=order == Qt.SortOrder.DescendingOrder)
        self.row_of = {n: i for i, n in enumerate(self.names)}
        self.layoutChanged.emit()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.names)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return ("record name", "duration", "reference label (REFERENCE.csv)", "model prediction",
                    "attack outcome in this session")[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        name = self.names[index.row()]
        d = self.data_[name]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                return name
            if col == DURATION:
                dur = d.get("duration")
                if dur is None:
                    return ""
                return f"{dur:.1f} s" if dur < 10 else f"{dur:.0f} s" if dur < 120 else f"{dur / 60:.1f} min"
            if col == LABEL:
                return d.get("label") or ""
            if col == PRED:
                if d.get("error"):
                    return "error"
                return d.get("pred") or ""
            if col == STATUS:
                return d.get("status") or ""
        if role == Qt.ItemDataRole.UserRole:  # sort keys
            if col == DURATION:
                return d.get("duration") or 0.0
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == NAME:  # the column elides long names ("test01_0…")
                return name
            if d.get("error"):  # the engine's words, with the window's way of filling gaps
                return d["error"].replace("use --fill-gaps to interpolate", "open it to interpolate")
            if col in (LABEL, PRED):
                c = d.get("label" if col == LABEL else "pred")
                if c:
                    tip = CLASS_NAMES.get(c, c)
                    if col == PRED and d.get("probs"):
                        tip += " (" + ", ".join(f"{k} {v:.0%}" for k, v in d["probs"].items()) + ")"
                    return tip
            if col == STATUS:
                return d.get("status_tip") or None
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == PRED and d.get("pred") and d.get("label") and d["pred"] != d["label"]:
                return QBrush(QColor(BAD_COLOR))
            if col == PRED and d.get("error"):
                return QBrush(QColor("#999"))
            if col == STATUS and d.get("fooled"):
                return QBrush(QColor(BAD_COLOR))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (DURATION, LABEL, PRED):
            return int(Qt.AlignmentFlag.AlignCenter)
        return None


class RecordFilter(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.cls: str | None = None
        self.text = ""
        self.mismatch_only = False
        # filtering only when the filter changes (not on every background update of 8528 rows);
        # sorting is the source model's (RecordTableModel.sort), this proxy keeps its order
        self.setDynamicSortFilter(False)

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def set_filter(self, cls: str | None, text: str, mismatch_only: bool) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt ≥ 6.9
            self.beginFilterChange()
            self.cls, self.text, self.mismatch_only = cls, text.strip().lower(), mismatch_only
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.cls, self.text, self.mismatch_only = cls, text.strip().lower(), mismatch_only
            self.invalidateFilter()

    def filterAcceptsRow(self, row, parent) -> bool:  # noqa: N802
        m: RecordTableModel = self.sourceModel()
        name = m.names[row]
        d = m.data_[name]
        if self.text and self.text not in name.lower():
            return False
        if self.cls and d.get("label") != self.cls and (d.get("label") or d.get("pred") != self.cls):
            return False
        if self.mismatch_only and not (d.get("pred") and d.get("label") and d["pred"] != d["label"]):
            return False
        return True


class RecordBrowser(QWidget):
    recordActivated = Signal(str)  # record name in the listed folder
    openFileRequested = Signal()
    openFolderRequested = Signal()
    recentRequested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.folder: str | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.open_file = QToolButton()
        self.open_file.setText("Open record…")
        self.open_file.setToolTip("Open a WFDB record (.hea) (Ctrl+O)")
        self.open_folder = QToolButton()
        self.open_folder.setText("Open folder…")
        self.open_folder.setToolTip("List all records of a folder or a PhysioNet 2017 dataset (Ctrl+Shift+O)")
        self.recent = QToolButton()
        self.recent.setText("Recent ▾")
        self.recent.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")  # it overlapped the t
        self.recent.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent)
        self.recent.setMenu(self.recent_menu)
        for b in (self.open_file, self.open_folder, self.recent):
            top.addWidget(b)
        top.addStretch(1)
        lay.addLayout(top)
        self.source = QLabel("")
        self.source.setStyleSheet("color: #555;")
        self.source.setWordWrap(True)
        lay.addWidget(self.source)
        flt = QHBoxLayout()
        self.cls = QComboBox()
        self.cls.addItem("All classes", None)
        for c, name in CLASS_NAMES.items():
            self.cls.addItem(f"{c} · {SHORT_NAMES[c]}", c)
        self.cls.setToolTip("Show records of one class (reference label, or prediction when unlabelled)")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name")
        self.search.setClearButtonEnabled(True)
        self.mismatch = QCheckBox("Misclassified")
        self.mismatch.setToolTip("Only records where the model disagrees with the reference label")
        flt.addWidget(self.cls)
        flt.addWidget(self.search, 1)
        flt.addWidget(self.mismatch)
        lay.addLayout(flt)
        self.model = RecordTableModel(self)
        self.proxy = RecordFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.horizontalHeader().setSortIndicator(NAME, Qt.SortOrder.AscendingOrder)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        h = self.table.horizontalHeader()
        # fixed widths: ResizeToContents would measure every row on each update (8528 records)
        fm = self.table.fontMetrics()
        fixed = 0
        for c, sample in ((NAME, "A00000_s"), (DURATION, "30.1 min"), (LABEL, "Label"), (PRED, "Model")):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            h.resizeSection(c, fm.horizontalAdvance(sample) + 12)
            fixed += h.sectionSize(c)
        h.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        h.setMinimumSectionSize(24)
        # the Attack column keeps room for its header and a short status ("→ O", "held")
        bar = self.table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.table.setMinimumWidth(fixed + fm.horizontalAdvance("Attack") + 24 + bar + 2 * self.table.frameWidth())
        lay.addWidget(self.table, 1)
        self.count = QLabel("")
        self.count.setStyleSheet("color: #555;")
        self.count.setWordWrap(True)  # the empty list's hint must not widen the dock
        lay.addWidget(self.count)
        self.open_file.clicked.connect(self.openFileRequested)
        self.open_folder.clicked.connect(self.openFolderRequested)
        self.cls.currentIndexChanged.connect(self._refilter)
        self.search.textChanged.connect(self._refilter)
        self.mismatch.toggled.connect(self._refilter)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self._emit = True
        self._update_count()  # empty: what to do

    # ---- content -----------------------------------------------------------------------------
    def set_dataset(self, folder: str, names: list[str], labels: dict[str, str], label_file: str | None) -> None:
        self.folder = folder
        self._emit = False
        try:
            h = self.table.horizontalHeader()
            h.blockSignals(True)
            h.setSortIndicator(NAME, Qt.SortOrder.AscendingOrder)
            h.blockSignals(False)
            self.model.set_records(names, labels)
        finally:
            self._emit = True
        src = folder
        if label_file:
            src += f"  ·  labels: {os.path.basename(label_file)}"
        self.source.setText(src)
        self.source.setToolTip(folder)
        self._update_count()

    def update_rows(self, items: dict[str, dict]) -> None:
        self.model.update_many(items)
        self._update_count()

    def update_row(self, name: str, **fields) -> None:
        self.model.update(name, **fields)
        self._update_count()  # a classified record counts in "model predictions k/n"

    def clear_predictions(self) -> None:
        self.model.clear_column("pred", "probs")
        self._update_count()

    def names(self) -> list[str]:
        return list(self.model.names)

    def select(self, name: str, emit: bool = False) -> bool:
        r = self.model.row_of.get(name)
        if r is None:
            return False
        idx = self.proxy.mapFromSource(self.model.index(r, 0))
        if not idx.isValid():  # filtered out: show everything again
            self.cls.setCurrentIndex(0)
            self.search.clear()
            self.mismatch.setChecked(False)
            idx = self.proxy.mapFromSource(self.model.index(r, 0))
        self._emit = emit
        try:
            self.table.setCurrentIndex(idx)
            self.table.scrollTo(idx)
        finally:
            self._emit = True
        return True

    def current_name(self) -> str | None:
        idx = self.table.currentIndex()
        if not idx.isValid():
            return None
        return self.model.names[self.proxy.mapToSource(idx).row()]

    def visible_names(self) -> list[str]:
        return [self.model.names[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                for r in range(self.proxy.rowCount())]

    def set_recent(self, paths: list[str], on_clear) -> None:
        self.recent_menu.clear()
        for p in paths:
            act = QAction(os.path.basename(p) + "   " + os.path.dirname(p), self.recent_menu)
            act.setToolTip(p)
            act.triggered.connect(lambda _=False, p=p: self.recentRequested.emit(p))
            self.recent_menu.addAction(act)
        if paths:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear recent files")
            clear.triggered.connect(on_clear)
        else:
            self.recent_menu.addAction("(no recent files)").setEnabled(False)

    # ---- internals ---------------------------------------------------------------------------
    def _sort(self, column: int, order) -> None:
        cur = self.current_name()
        self.model.sort(column, order)
        self.proxy.invalidate()
        if cur:
            self.select(cur, emit=False)

    def _refilter(self) -> None:
        self.proxy.set_filter(self.cls.currentData(), self.search.text(), self.mismatch.isChecked())
        self._update_count()

    def _update_count(self) -> None:
        n = len(self.model.names)
        shown = self.proxy.rowCount()
        done = sum(1 for d in self.model.data_.values() if "pred" in d or "error" in d)
        txt = f"{shown} of {n} records shown" if shown != n else f"{n} records"
        if not n:
            txt = "No records listed: Open record… or Open folder… above"
        if n and done < n:
            txt += f" · model predictions {done}/{n}"
        self.count.setText(txt)

    def _current_changed(self, cur, _prev) -> None:
        if not self._emit or not cur.isValid():
            return
        self.recordActivated.emit(self.model.names[self.proxy.mapToSource(cur).row()])
