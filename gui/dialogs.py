"""Dialogs: error (one-line reason, expandable details), about box, file pickers, confirmations,
the strip export's range and resolution.

The main window calls these through the module (`dialogs.show_error(...)`), so tests can
monkeypatch them. Error and about boxes are shown non-blocking (`open()`): the app keeps working.
"""

from __future__ import annotations

import html

import platform
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QMessageBox, QTabWidget,
                               QTextBrowser, QVBoxLayout, QWidget)

_open_boxes: list[QWidget] = []  # keep non-blocking dialogs alive until closed


def _keep(box: QWidget) -> None:
    _open_boxes.append(box)
    box.finished.connect(lambda *_: _open_boxes.remove(box) if box in _open_boxes else None)


def show_error(parent: QWidget | None, message: str, details: str = "", title: str = "Error") -> QMessageBox:
    """A warning box with the one-line reason; the traceback or context under "Show Details…"."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details and details.strip() != message.strip():
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    _keep(box)
    box.open()
    return box


def confirm(parent: QWidget | None, question: str, title: str = "Confirm") -> bool:
    r = QMessageBox.question(parent, title, question,
                             QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                             QMessageBox.StandardButton.No)
    return r == QMessageBox.StandardButton.Yes


def ask_missing_weights(parent: QWidget | None, text: str, title: str = "No trained weights") -> bool:
    """A model's bundled weights are missing: True when the user wants to choose a weights file."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, parent)
    choose = box.addButton("Choose Weights File…", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(choose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.exec()
    return box.clickedButton() is choose


def ask_open_file(parent, title: str, folder: str, filters: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, filters)
    return path


def ask_directory(parent, title: str, folder: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, folder)


def ask_save_file(parent, title: str, path: str, filters: str) -> str:
    out, _ = QFileDialog.getSaveFileName(parent, title, path, filters)
    return out


class StripExportDialog(QDialog):
    """What part of the record a strip export covers (the whole record, the current view or a
    range in s) and, for PNG, its resolution in dpi. `options()` → {"t0", "t1", "dpi"} (t0/t1
    None for the whole record). `check(options)` says in one line why the export would be refused
    ("" when it would not): OK keeps the dialog open with that line, and when the whole record
    cannot be exported (a long record as PNG) the current view is chosen at first."""

    def __init__(self, parent: QWidget | None, ext: str, duration_s: float, view: tuple[float, float],
                 dpi: int = 300, check: Callable[[dict], str] | None = None) -> None:
        from PySide6.QtWidgets import QButtonGroup, QDoubleSpinBox, QFormLayout, QHBoxLayout, QRadioButton, QSpinBox

        super().__init__(parent)
        self.setWindowTitle("Export strip")
        self.duration_s = float(duration_s)
        lay = QVBoxLayout(self)
        where = "on every page" if ext == "pdf" else "above the strip"  # a PNG or SVG is one page
        intro = QLabel(f"ECG paper at true scale (25 mm/s, 10 mm/mV) as .{ext}; the header (record, model, "
                       f"attack, ε) is printed {where}.")
        self.setMinimumWidth(380)  # "10 mm/mV" was wrapped between 10 and mm/mV
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.whole = QRadioButton(f"Whole record (0–{self.duration_s:g} s)")
        v0, v1 = max(0.0, view[0]), min(self.duration_s, view[1])
        self.current = QRadioButton(f"Current view ({v0:.1f}–{v1:.1f} s)")
        self.custom = QRadioButton("Range")
        group = QButtonGroup(self)
        for b in (self.whole, self.current, self.custom):
            group.addButton(b)
            lay.addWidget(b)
        self.whole.setChecked(True)
        self.t0, self.t1 = QDoubleSpinBox(), QDoubleSpinBox()
        for box, v in ((self.t0, v0), (self.t1, v1)):
            box.setDecimals(1)
            box.setRange(0.0, self.duration_s)
            box.setSuffix(" s")
            box.setValue(v)
            box.setEnabled(False)
        self.custom.toggled.connect(lambda on: (self.t0.setEnabled(on), self.t1.setEnabled(on)))
        row = QHBoxLayout()
        row.addSpacing(20)
        row.addWidget(QLabel("from"))
        row.addWidget(self.t0)
        row.addWidget(QLabel("to"))
        row.addWidget(self.t1)
        row.addStretch(1)
        lay.addLayout(row)
        self._view = (v0, v1)
        form = QFormLayout()
        self.dpi = QSpinBox()
        self.dpi.setRange(72, 1200)
        self.dpi.setSingleStep(50)
        self.dpi.setValue(int(dpi))
        self.dpi.setSuffix(" dpi")
        self.dpi.setMaximumWidth(110)
        self.dpi.setToolTip("Print resolution of the PNG (300 dpi: print quality)")
        self.dpi.setEnabled(ext == "png")
        form.addRow("PNG resolution", self.dpi)
        lay.addLayout(form)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020;")
        lay.addWidget(self.error)
        self._check = check
        whole_problem = check(self.options()) if check is not None else ""
        if whole_problem:
            self.current.setChecked(True)
            self.error.setText(f"Whole record: {whole_problem}")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def options(self) -> dict:
        if self.whole.isChecked():
            t0 = t1 = None
        elif self.current.isChecked():
            t0, t1 = self._view
        else:
            t0, t1 = self.t0.value(), self.t1.value()
        return {"t0": t0, "t1": t1, "dpi": self.dpi.value()}

    def _accept(self) -> None:
        o = self.options()
        if o["t0"] is not None and not o["t1"] > o["t0"]:
            self.error.setText("The range must end after it starts.")
            return
        problem = self._check(o) if self._check is not None else ""
        if problem:
            self.error.setText(problem)
            return
        self.accept()


def ask_strip_export(parent: QWidget | None, ext: str, duration_s: float, view: tuple[float, float],
                     dpi: int = 300, check: Callable[[dict], str] | None = None) -> dict | None:
    """StripExportDialog, modal: its options, or None when cancelled."""
    dlg = StripExportDialog(parent, ext, duration_s, view, dpi, check)
    return dlg.options() if dlg.exec() == QDialog.DialogCode.Accepted else None


def _third_party() -> str:
    """Link to THIRD_PARTY_LICENSES.md: in the installed bundle (sys._MEIPASS) or the source tree."""
    import sys
    from pathlib import Path

    base = getattr(sys, "_MEIPASS", None) or Path(__file__).resolve().parent.parent / "packaging"
    path = Path(base) / "THIRD_PARTY_LICENSES.md"
    return f'<a href="{path.as_uri()}">THIRD_PARTY_LICENSES.md</a>' if path.is_file() else "THIRD_PARTY_LICENSES.md"


def about_html(version: str, model_name: str | None, device: str) -> str:
    """The About page; the loaded model's full card (engine.model_card) is on its own tab."""
    card = ""
    if model_name:
        card = f"<h3>Model in use</h3><p>{html.escape(model_name)} (its model card is on the next tab)</p>"
    try:
        import PySide6
        import pyqtgraph
        import torch
        libs = (f"PySide6 {PySide6.__version__}, pyqtgraph {pyqtgraph.__version__}, "
                f"PyTorch {torch.__version__}, Python {platform.python_version()}")
    except Exception:  # noqa: BLE001
        libs = f"Python {platform.python_version()}"
    return f"""
<h2>ECG Adversarial Workbench {version}</h2>
<p>Adversarial attacks on ECG rhythm classifiers: PGD and the smoothed attack (SAP), bands of
adversarial examples, ECG strips on calibrated paper. Reproduces Han X, Hu Y, Foschini L,
Chinitz L, Jankelson L, Ranganath R. <i>Deep learning models for electrocardiograms are
susceptible to adversarial attack.</i> Nature Medicine 26, 360–363 (2020),
doi:10.1038/s41591-020-0791-x.</p>
<p><b>For research and teaching only. Not a medical device; do not use for diagnosis.</b></p>
<p><b>Licence:</b> MIT (ECG Adversarial Workbench contributors). Built on Qt 6 / PySide6
(LGPL-3.0), PyTorch, NumPy, SciPy and pandas (BSD-3-Clause), wfdb and pyqtgraph (MIT),
safetensors (Apache-2.0), matplotlib (PSF-based) and Python (PSF). Full texts: {_third_party()}.</p>
<h3>Data</h3>
<p>Bundled sample records come from the PhysioNet/Computing in Cardiology Challenge 2017
(Open Access, physionet.org/content/challenge-2017, ODC-By 1.0 licence). Please cite: Clifford GD, Liu C, Moody B,
Lehman LH, Silva I, Li Q, Johnson AE, Mark RG. AF classification from a short single lead ECG
recording: the PhysioNet/Computing in Cardiology Challenge 2017. CinC 2017; 44 — and
Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215–e220 (2000).</p>
{card}
<h3>Compute</h3><p>Device: {device}<br>{libs}</p>
"""


def show_about(parent: QWidget | None, version: str, model_name: str | None, device: str,
               model_markdown: str | None = None) -> QDialog:
    """About box (non-blocking): version, licence, data attribution, device; the full model card
    (engine.model_card, Markdown) on a second tab when a model is loaded."""
    dlg = QDialog(parent)
    dlg.setWindowTitle("About ECG Adversarial Workbench")
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    lay = QVBoxLayout(dlg)
    tabs = QTabWidget(dlg)
    text = QTextBrowser(dlg)
    text.setOpenExternalLinks(True)
    text.setHtml(about_html(version, model_name, device))
    text.setMinimumSize(640, 480)
    tabs.addTab(text, "About")
    if model_markdown:
        card = QTextBrowser(dlg)
        card.setMarkdown(model_markdown)  # class names are code spans, so "~" is not strikethrough
        tabs.addTab(card, "Model card")
    dlg.tabs = tabs
    lay.addWidget(tabs)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dlg)
    buttons.rejected.connect(dlg.reject)
    buttons.accepted.connect(dlg.accept)
    lay.addWidget(buttons)
    _keep(dlg)
    dlg.open()
    return dlg


def info_label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setStyleSheet("color: palette(mid);")
    return lab
