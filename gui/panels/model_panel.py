"""Model panel: which classifier (an architecture's bundled weights or a checkpoint file), the compute device, and
the class probabilities of the original and the adversarial ECG as paired bars."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from engine.datasets import CLASSES
from engine.models import BUNDLED

from .common import ADVERSARIAL_COLOR, CLASS_NAMES, ORIGINAL_COLOR, muted
from .file_combo import FileChoiceCombo


class ProbabilityBars(QWidget):
    """One row per class: the original probability (dark) over the adversarial one (red)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.classes = list(CLASSES)
        self.orig: dict | None = None
        self.adv: dict | None = None
        self.true: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(220)

    def sizeHint(self) -> QSize:
        return QSize(260, 18 + 34 * len(self.classes))

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def set_classes(self, classes) -> None:
        self.classes = list(classes)
        self.updateGeometry()
        self.update()

    def set_probs(self, orig: dict | None, adv: dict | None = None, true: str | None = None) -> None:
        self.orig, self.adv, self.true = orig, adv, true
        self.update()

    def paintEvent(self, _ev) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        base = QFont(p.font())  # every row's label in this font (the painter's changes for the % texts)
        bold = QFont(base)
        bold.setBold(True)
        label_w = max(QFontMetrics(bold).horizontalAdvance(CLASS_NAMES.get(c, c)) for c in self.classes) + 12
        pct_w = fm.horizontalAdvance("100.0%") + 6
        x0 = label_w
        bar_w = max(20, self.width() - x0 - pct_w - 4)
        row_h = 34
        y = 4
        small = QFont(p.font())
        small.setPointSizeF(max(7.0, p.font().pointSizeF() - 1))
        best_o = max(self.orig, key=self.orig.get) if self.orig else None
        best_a = max(self.adv, key=self.adv.get) if self.adv else None
        for c in self.classes:
            name = CLASS_NAMES.get(c, c)
            f = QFont(base)
            f.setBold(c in (best_o, best_a))
            p.setFont(f)
            p.setPen(QColor("#222"))
            p.drawText(QRectF(0, y, label_w - 6, row_h - 6),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, name)
            p.setFont(small)
            for k, (probs, color) in enumerate(((self.orig, ORIGINAL_COLOR), (self.adv, ADVERSARIAL_COLOR))):
                by = y + 2 + k * 13
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(QColor("#ececec"))
                p.drawRect(QRectF(x0, by, bar_w, 11))
                if probs is None or c not in probs:
                    continue
                v = max(0.0, min(1.0, float(probs[c])))
                p.setBrush(QColor(color))
                p.drawRect(QRectF(x0, by, bar_w * v, 11))
                p.setPen(QColor(color))
                p.drawText(QRectF(x0 + bar_w + 4, by - 2, pct_w, 14),
                           Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, f"{100 * v:.1f}%")
            if self.true == c:
                p.setPen(QPen(QColor("#444"), 1, Qt.PenStyle.DashLine))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(x0 - 2, y, bar_w + 4, 28))
            y += row_h
        p.end()


class ModelPanel(QWidget):
    modelRequested = Signal(str)  # an architecture of engine.models.ARCHITECTURES or a checkpoint path
    browseRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        row = QGridLayout()
        self.combo = FileChoiceCombo(prefix="File")
        for name, m in BUNDLED.items():  # the bundled weights: each architecture's, then trained variants
            self.combo.addItem(m.label, name)
            self.combo.setItemData(self.combo.count() - 1, m.help, Qt.ItemDataRole.ToolTipRole)
        self.combo.setToolTip("Classifier to explain and attack")
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Load a checkpoint file (.safetensors or a paper-code .pth state_dict)")
        row.addWidget(QLabel("Model"), 0, 0)
        row.addWidget(self.combo, 0, 1)
        row.addWidget(self.browse, 0, 2)
        row.setColumnStretch(1, 1)
        lay.addLayout(row)
        self.info = muted("no model loaded")
        lay.addWidget(self.info)
        self.device = muted("")
        lay.addWidget(self.device)
        legend = QLabel(f"<span style='color:{ORIGINAL_COLOR}'>■</span> original &nbsp;&nbsp;"
                        f"<span style='color:{ADVERSARIAL_COLOR}'>■</span> adversarial &nbsp;&nbsp;"
                        "<span style='color:#444'>┄</span> reference label")
        lay.addWidget(legend)
        self.bars = ProbabilityBars()
        lay.addWidget(self.bars)
        self._block = False
        self.combo.activated.connect(self._activated)
        self.browse.clicked.connect(self.browseRequested)

    def _activated(self, _i: int) -> None:
        if not self._block:
            self.modelRequested.emit(self.combo.currentData())

    def set_spec(self, spec: str) -> None:
        """Select `spec` in the combo (adding an entry for a checkpoint file)."""
        self._block = True
        try:
            self.combo.select_file(spec)
        finally:
            self._block = False

    def spec(self) -> str:
        return self.combo.currentData()

    def set_model_info(self, clf, device_text: str) -> None:
        if clf is None:
            self.info.setText(device_text or "no model loaded")
            self.device.setText("")
            return
        meta = clf.meta
        val = (meta.get("metrics") or {}).get("validation") or {}
        f1 = val.get("f1_mean_nao")
        acc = val.get("accuracy")
        span = (f"whole record ≤ {clf.length / clf.fs:g} s (longer: windows)" if getattr(clf, "whole", False)
                else f"{clf.length / clf.fs:g} s input")
        parts = [f"{meta.get('arch')} · {clf.fs:g} Hz · {span}"]
        if f1 is not None:
            parts.append(f"validation F1 (N,A,O) {f1:.2f}" + (f", accuracy {acc:.2f}" if acc is not None else ""))
        self.info.setText("\n".join(parts))
        self.device.setText(f"Device: {device_text}")
        self.bars.set_classes(clf.classes)

    def set_probs(self, orig, adv=None, true=None) -> None:
        self.bars.set_probs(orig, adv, true)
