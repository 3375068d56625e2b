"""Dataset actions on the listed folder: evaluate (metrics + confusion matrix), attack-eval
(success rate of the current attack over correctly classified records), robustness (success vs ε)
and training with a live loss / F1 curve."""

from __future__ import annotations

import json
import math
import os
from types import SimpleNamespace

import numpy as np

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QFrame, QLineEdit, QPushButton, QScrollArea, QSpinBox, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from engine.intervals import format_rate
from engine.errors import UserError
from engine.models import ARCHITECTURES, BUNDLED
from engine.models.checkpoint import installed_bundled
from engine.train_params import TRAIN_PARAMS, check_request, command_line
from engine.workbench import TrainRequest

from .common import ADVERSARIAL_COLOR, CLASS_NAMES, ORIGINAL_COLOR, muted
from .train_recipe import RecipeForm

SPLITS = [("all", "All records"), ("paper-val", "Paper test split (10 %)"), ("paper-train", "Paper training split"),
          ("strat-val", "Stratified 10 % (seed 0)")]


LIST_FILE = "\x00list-file"  # combo data of the "Record list file…" entry


def choose_list_file(parent: QWidget) -> str:
    """Ask for a record list file (one record name per line); '' when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, "Record list file", "",
                                          "Record lists (*.txt *.csv *.lst);;All files (*)")
    return path


class SplitCombo(QComboBox):
    """The named splits plus "Record list file…", which asks for a file of record names and adds
    it as an entry (its data is the path, which the engine's split selection reads)."""

    def __init__(self) -> None:
        super().__init__()
        for key, text in SPLITS:
            self.addItem(text, key)
        self.insertSeparator(self.count())
        self.addItem("Record list file…", LIST_FILE)
        self.setToolTip("Which records of the listed dataset to use: a named split or a text file\n"
                        "with one record name per line")
        self._last = 0
        self.activated.connect(self._on_activated)

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
            self._last = self.currentIndex()

    def _on_activated(self, i: int) -> None:
        if self.itemData(i) != LIST_FILE:
            self._last = i
            return
        path = choose_list_file(self)
        if not path:
            self.setCurrentIndex(self._last)  # cancelled: back to what was chosen before
            return
        j = self.findData(path)
        if j < 0:
            j = self.count() - 1  # just before "Record list file…"
            self.insertItem(j, f"List: {os.path.basename(path)}", path)
            self.setItemData(j, path, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(j)
        self._last = j


def _split_combo() -> QComboBox:
    return SplitCombo()


CHOOSE_FILE = "\x00choose-file"  # combo data of "Checkpoint file…" (Compare with)


def against_html(a: dict, model: str) -> str:
    """The Evaluate summary's comparison (jobs.evaluate's res["against"]): the other model's mean F1
    and the paired difference, in words a reader can act on."""
    cmp = a["paired"]
    lo, hi = cmp["ci95"]
    verdict = ("no difference shown on these records" if lo <= 0 <= hi else
               f"<b>{model}</b> is better" if lo > 0 else f"<b>{a['model']}</b> is better")
    return (f"<br><br>Against <b>{a['model']}</b>: mean F1 (N, A, O) {a['f1_mean_nao']:.3f}, accuracy "
            f"{a['accuracy']:.3f}<br>Difference {cmp['difference']:+.3f} (paired bootstrap 95 % {lo:+.3f} to "
            f"{hi:+.3f}): {verdict}")


def alpha_text(rule: str) -> str:
    """engine.robustness.alpha_rule's 'ratio:R' / 'fixed:A' in words."""
    kind, _, v = str(rule).partition(":")
    if kind == "ratio":
        return f"step α = {v} · ε at every ε"
    if kind == "fixed":
        return f"step α = {v} mV at every ε"
    return f"step rule {rule}"


def alpha_text_from(table: list[dict]) -> str:
    """The step rule read off a partial table (α / ε of its rows), or ''."""
    ratios = {round(r["alpha_mv"] / r["eps_mv"], 6) for r in table if r.get("alpha_mv") and r.get("eps_mv")}
    return alpha_text(f"ratio:{ratios.pop():g}") if len(ratios) == 1 else ""


def ci_text(ci) -> str:
    """A 95 % interval [lo, hi] (fractions) as '37.2–75.5 %', or '—'."""
    if not ci or ci[0] is None or ci[1] is None:
        return "—"
    return f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"


def _item(text: str, align=Qt.AlignmentFlag.AlignCenter) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setTextAlignment(align)
    it.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    return it


def _plot(left: str, bottom: str) -> pg.PlotWidget:
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


NO_DATASET = "No dataset listed: open a folder of records first (File ▸ Open Folder or Dataset…)."
NO_LABELS = ("No labelled records: the listed folder has no label file (REFERENCE.csv, record,label "
             "per line) or none of its records is in it.")


class DatasetPanel(QWidget):
    evaluateRequested = Signal(str, str)  # split, the model to compare with ('' none; a BUNDLED name or a file)
    attackEvalRequested = Signal(str, int)  # split, limit
    robustnessRequested = Signal(str, int, str)  # split, limit, ε list (mV, comma-separated)
    trainRequested = Signal(dict)  # TrainRequest fields, 'out' as typed (train_request())

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.source = muted(NO_DATASET)
        lay.addWidget(self.source)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)
        self._build_evaluate()
        self._build_attack_eval()
        self._build_robustness()
        self._build_train()
        self.set_source(None)

    # ---- evaluate ----------------------------------------------------------------------------
    def _build_evaluate(self) -> None:
        w = QWidget()
        lay = QHBoxLayout(w)
        left = QVBoxLayout()
        form = QFormLayout()
        self.eval_split = _split_combo()
        form.addRow("Records", self.eval_split)
        self.eval_against = QComboBox()
        self.eval_against.addItem("No other model", "")
        for name in installed_bundled():  # paper-cnn's weights come only from training it
            self.eval_against.addItem(BUNDLED[name].label, name)
        self.eval_against.addItem("Checkpoint file…", CHOOSE_FILE)
        self.eval_against.setToolTip("Also score this model on the same records: the difference in mean F1 "
                                     "(N, A, O) with a paired bootstrap 95 % interval (evaluate --against)")
        self.eval_against.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.eval_against.setMinimumContentsLength(12)
        self._against_last = 0
        self.eval_against.activated.connect(self._against_activated)
        form.addRow("Compare with", self.eval_against)
        left.addLayout(form)
        self.eval_run = QPushButton("Evaluate model")
        self.eval_run.clicked.connect(lambda: self.evaluateRequested.emit(self.eval_split.currentData(),
                                                                          self.eval_against.currentData()))
        left.addWidget(self.eval_run)
        self.eval_summary = QLabel("")
        self.eval_summary.setWordWrap(True)
        left.addWidget(self.eval_summary)
        left.addWidget(muted("Records the model was trained on give optimistic scores; the paper's figure "
                             "is on its 10 % test split."))
        left.addStretch(1)
        lay.addLayout(left, 1)
        self.confusion = QTableWidget(4, 4)
        self.confusion.setToolTip("Rows: reference label; columns: model prediction")
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_box = Placeholder(self.confusion, "Choose the records and press Evaluate model: the "
                                         "confusion matrix (reference label × model prediction) appears here.")
        lay.addWidget(self.confusion_box, 2)
        self.tabs.addTab(w, "Evaluate")

    def _against_activated(self, i: int) -> None:
        """'Checkpoint file…' asks for a file and adds it as an entry; cancelled, the last choice stays."""
        if self.eval_against.itemData(i) != CHOOSE_FILE:
            self._against_last = i
            return
        path, _ = QFileDialog.getOpenFileName(self, "Compare with checkpoint", "",
                                              "Checkpoints (*.safetensors *.pth *.pt)")
        if not path:
            self.eval_against.setCurrentIndex(self._against_last)
            return
        j = self.eval_against.findData(path)
        if j < 0:
            j = self.eval_against.count() - 1  # just before "Checkpoint file…"
            self.eval_against.insertItem(j, f"File: {os.path.basename(path)}", path)
            self.eval_against.setItemData(j, path, Qt.ItemDataRole.ToolTipRole)
        self.eval_against.setCurrentIndex(j)
        self._against_last = j

    def show_evaluation(self, res: dict) -> None:
        self.confusion_box.reveal()
        classes = list(res["f1"].keys())
        m = res["confusion"]
        self.confusion.setRowCount(len(classes))
        self.confusion.setColumnCount(len(classes))
        self.confusion.setHorizontalHeaderLabels([f"→ {c}" for c in classes])
        self.confusion.setVerticalHeaderLabels([f"{c} {CLASS_NAMES.get(c, '')}" for c in classes])
        peak = max(1, max(max(r) for r in m))
        for i, row in enumerate(m):
            for j, v in enumerate(row):
                it = _item(str(v))
                a = int(40 + 180 * v / peak) if v else 0
                col = QColor(43, 58, 85, a) if i == j else QColor(214, 39, 40, a)
                it.setBackground(QBrush(col))
                if a > 140:
                    it.setForeground(QBrush(QColor("white")))
                self.confusion.setItem(i, j, it)
        f1 = res["f1"]
        self.eval_summary.setText(
            f"<b>{res['model']}</b> on {res['n']} records ({res.get('split', '')})<br>"
            f"Accuracy <b>{res['accuracy']:.3f}</b><br>Mean F1 (N, A, O) <b>{res['f1_mean_nao']:.3f}</b>"
            + (" (95 % {:.3f}–{:.3f}, bootstrap over the records)".format(*res["f1_mean_nao_ci95"])
               if "f1_mean_nao_ci95" in res else "")
            + " — paper: 0.87 on its own split<br>F1: " + ", ".join(f"{c} {v:.3f}" for c, v in f1.items())
            + (against_html(res["against"], res["model"]) if res.get("against") else ""))

    # ---- attack-eval -------------------------------------------------------------------------
    def _build_attack_eval(self) -> None:
        w = QWidget()
        lay = QHBoxLayout(w)
        left = QVBoxLayout()
        form = QFormLayout()
        self.ae_split = _split_combo()
        self.ae_split.setCurrentIndex(1)
        self.ae_limit = QSpinBox()
        self.ae_limit.setRange(1, 100000)
        self.ae_limit.setValue(50)
        self.ae_limit.setToolTip("Use the first N labelled records of the split (attacks take ~1 s each on CPU)")
        form.addRow("Records", self.ae_split)
        form.addRow("At most", self.ae_limit)
        left.addLayout(form)
        left.addWidget(muted("Uses the method and parameters of the Attack panel; only records the model "
                             "classifies correctly are attacked (the paper's success rate)."))
        self.ae_run = QPushButton("Run attack evaluation")
        self.ae_run.clicked.connect(lambda: self.attackEvalRequested.emit(self.ae_split.currentData(),
                                                                          self.ae_limit.value()))
        left.addWidget(self.ae_run)
        self.ae_summary = QLabel("")
        self.ae_summary.setWordWrap(True)
        left.addWidget(self.ae_summary)
        left.addStretch(1)
        lay.addLayout(left, 1)
        self.ae_table = QTableWidget(0, 4)
        self.ae_table.setHorizontalHeaderLabels(["Attacked", "Fooled", "Success rate", "95 % CI"])
        self.ae_table.horizontalHeaderItem(3).setToolTip("Exact (Clopper–Pearson) 95 % confidence interval of the "
                                                         "success rate")
        self.ae_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.ae_box = Placeholder(self.ae_table, "Set the attack in the Attack panel, then press Run attack "
                                  "evaluation: the success rate per class appears here.")
        lay.addWidget(self.ae_box, 2)
        self.tabs.addTab(w, "Attack evaluation")

    def show_attack_eval(self, res: dict) -> None:
        self.ae_box.reveal()
        per = res.get("per_class") or {}
        rows = [(f"{c} {CLASS_NAMES.get(c, '')}", r) for c, r in per.items()]
        rows.append(("All correctly classified", {"attacked": res["attacked"], "success": res["success"],
                                                  "success_rate": res["success_rate"],
                                                  "success_ci95": res.get("success_ci95")}))
        mis = res.get("misclassified") or {}
        if mis.get("attacked"):
            rows.append(("Misclassified (flip rate)", mis))
        self.ae_table.setRowCount(len(rows))
        self.ae_table.setVerticalHeaderLabels([r[0] for r in rows])
        for i, (_, r) in enumerate(rows):
            rate = r.get("success_rate")
            self.ae_table.setItem(i, 0, _item(str(r.get("attacked", 0))))
            self.ae_table.setItem(i, 1, _item(str(r.get("success", 0))))
            self.ae_table.setItem(i, 2, _item("—" if rate is None else f"{100 * rate:.1f} %"))
            self.ae_table.setItem(i, 3, _item(ci_text(r.get("success_ci95"))))
        rate_s = format_rate(res["success"], res["attacked"])
        extra = []
        if res.get("mean_linf_mv") is not None:
            extra.append(f"mean L∞ {res['mean_linf_mv']:.4f} mV")
        if res.get("mean_square_wave") is not None:
            extra.append(f"mean share at ±ε {100 * res['mean_square_wave']:.1f} %")
        self.ae_summary.setText(
            f"<b>{res['method'].upper()}</b>, ε {res.get('eps_mv', 0):g} mV, {res.get('target', 'untargeted')}, "
            f"on {res['n']} records: "
            f"{res['correct']} correctly classified → success rate <b>{rate_s}</b> (paper, SAP: 74 %)" + ("<br>" + ", ".join(extra) if extra else ""))

    # ---- robustness --------------------------------------------------------------------------
    def _build_robustness(self) -> None:
        w = QWidget()
        lay = QHBoxLayout(w)
        left = QVBoxLayout()
        form = QFormLayout()
        self.rb_split = _split_combo()
        self.rb_split.setCurrentIndex(1)
        self.rb_limit = QSpinBox()
        self.rb_limit.setRange(1, 100000)
        self.rb_limit.setValue(20)
        self.rb_eps = QLineEdit("0.0025, 0.005, 0.01, 0.02, 0.05")
        self.rb_eps.setToolTip("ε values in mV, separated by commas")
        form.addRow("Records", self.rb_split)
        form.addRow("At most", self.rb_limit)
        form.addRow("ε (mV)", self.rb_eps)
        left.addLayout(form)
        self.rb_run = QPushButton("Run robustness curve")
        self.rb_run.clicked.connect(self._robustness_clicked)
        left.addWidget(self.rb_run)
        self.rb_summary = muted("")
        self.rb_summary.setTextFormat(Qt.TextFormat.RichText)
        left.addWidget(self.rb_summary)
        left.addStretch(1)
        lay.addLayout(left, 1)
        self.rb_plot = _plot("success rate (%)", "ε (mV, largest change per sample)")
        self.rb_plot.setYRange(0, 100)
        self.rb_plot.setLogMode(x=True, y=False)  # ε spans decades (as the CLI's PNG plot)
        # at log10(0.01 mV): on a log axis, lines are placed in view coordinates
        paper = pg.InfiniteLine(-2.0, angle=90, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine),
                                label="paper ε", labelOpts={"position": 0.92, "color": "#666"})
        self.rb_plot.addItem(paper)
        self.rb_curve = self.rb_plot.plot([], [], pen=pg.mkPen(ADVERSARIAL_COLOR, width=2), symbol="o",
                                          symbolBrush=ADVERSARIAL_COLOR, symbolSize=7)
        self.rb_errors = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), pen=pg.mkPen(ADVERSARIAL_COLOR, width=1))
        self.rb_errors.setToolTip("95 % Clopper–Pearson interval of each success rate")
        self.rb_plot.addItem(self.rb_errors)
        self.rb_box = Placeholder(self.rb_plot, "Enter the ε values and press Run robustness curve: the "
                                  "success rate against ε is drawn here as each ε finishes.")
        lay.addWidget(self.rb_box, 2)
        self.tabs.addTab(w, "Robustness")

    def _robustness_clicked(self) -> None:
        self.robustnessRequested.emit(self.rb_split.currentData(), self.rb_limit.value(), self.rb_eps.text())

    def show_robustness(self, table: list[dict], done: bool = False, alpha_rule: str | None = None,
                        stopped: str | None = None) -> None:
        """The success rate against ε (log axis) with 95 % intervals as error bars; the summary names
        each ε's rate (k/n, interval), the per-class rates (tooltip) and the step rule α; `stopped`
        ('cancelled', 'failed'): the job ended before its last ε (see robustness_stopped)."""
        self._rb_last = (table, alpha_rule)
        self.rb_box.reveal()
        rows = [r for r in table if r.get("success_rate") is not None and r.get("eps_mv", 0) > 0]
        self.rb_curve.setData([r["eps_mv"] for r in rows], [100 * r["success_rate"] for r in rows])
        # error bars: log10(ε) by hand (an ErrorBarItem does not follow the plot's log mode)
        with_ci = [r for r in rows if r.get("success_ci95")]
        if with_ci:
            x = np.array([math.log10(r["eps_mv"]) for r in with_ci])
            y = np.array([100 * r["success_rate"] for r in with_ci])
            lo = np.array([100 * r["success_ci95"][0] for r in with_ci])
            hi = np.array([100 * r["success_ci95"][1] for r in with_ci])
            self.rb_errors.setData(x=x, y=y, top=hi - y, bottom=y - lo, beam=0.03)
            self.rb_errors.show()
        else:
            self.rb_errors.hide()
        # ticks at the measured ε values (log axis: positions are log10 of mV)
        eps = sorted({r["eps_mv"] for r in table if r.get("eps_mv", 0) > 0})
        self.rb_plot.getAxis("bottom").setTicks([[(math.log10(e), f"{e:g}") for e in eps]] if eps else None)
        if not table:
            self.rb_summary.setText(f"{stopped} before the first ε finished" if stopped else "")
            self.rb_summary.setToolTip("")
            return
        state = f"{stopped}, the ε values finished: " if stopped else "" if done else "running… "
        lines = [state + "success rate of the correctly classified (95 % CI):"]
        lines += [f"ε {r['eps_mv']:g} mV: {format_rate(r['success'], r['attacked'])}" for r in table]
        rule = alpha_text(alpha_rule) if alpha_rule else alpha_text_from(table)
        if rule:
            lines.append(rule)
        self.rb_summary.setText("<br>".join(lines))
        tips = []
        for r in table:
            per = r.get("per_class") or {}
            if per:
                tips.append(f"ε {r['eps_mv']:g} mV: " + "; ".join(
                    f"{c} {format_rate(v.get('success', 0), v.get('attacked', 0))}" for c, v in per.items()))
        self.rb_summary.setToolTip("Per true class:\n" + "\n".join(tips) if tips else "")

    def robustness_stopped(self, why: str) -> None:
        """The curve's job ended early (`why`: 'cancelled' or 'failed'): the summary stops saying
        'running…' and keeps the ε values that finished."""
        table, rule = getattr(self, "_rb_last", ([], None))
        self.show_robustness(table, alpha_rule=rule, stopped=why)

    # ---- train ---------------------------------------------------------------------------------
    def _build_train(self) -> None:
        w = QWidget()
        lay = QHBoxLayout(w)
        left = QVBoxLayout()
        form = QFormLayout()
        self.tr_split = _split_combo()
        self.tr_split.setCurrentIndex(2)
        self.tr_arch = QComboBox()
        for name, arch in ARCHITECTURES.items():
            self.tr_arch.addItem(arch.label, name)
        self.tr_epochs = QSpinBox()
        self.tr_epochs.setRange(1, int(TRAIN_PARAMS["epochs"].hi))
        self.tr_epochs.setValue(ARCHITECTURES[self.tr_arch.currentData()].default_epochs)
        self.tr_epochs.setToolTip(TRAIN_PARAMS["epochs"].help + "; with a time budget, the most it may run")
        self.tr_minutes = QDoubleSpinBox()
        budget = TRAIN_PARAMS["max_minutes"]
        self.tr_minutes.setRange(0.0, budget.hi)
        self.tr_minutes.setDecimals(1)
        self.tr_minutes.setSpecialValueText("no limit")  # 0 shows as 'no limit': the epochs decide
        self.tr_minutes.setSuffix(" min")
        self.tr_minutes.setToolTip(budget.help[:1].upper() + budget.help[1:] + " (--max-minutes)")
        self.tr_out = QLineEdit("my-model.safetensors")
        self.tr_out.setToolTip("Checkpoint file to write (.safetensors); relative paths go to the dataset's "
                               "parent folder (the bundled samples': your home folder)")
        form.addRow("Records", self.tr_split)
        form.addRow("Architecture", self.tr_arch)
        form.addRow("Epochs", self.tr_epochs)
        form.addRow("Time budget", self.tr_minutes)
        form.addRow("Save as", self.tr_out)
        left.addLayout(form)
        self.tr_recipe_toggle = QToolButton()
        self.tr_recipe_toggle.setText("Recipe ▸")
        self.tr_recipe_toggle.setCheckable(True)
        self.tr_recipe_toggle.setAutoRaise(True)
        self.tr_recipe_toggle.setToolTip("Validation hold-out, seed, optimiser, regularisation, augmentation, "
                                         "adversarial training, fine-tuning")
        left.addWidget(self.tr_recipe_toggle)
        self.tr_recipe = RecipeForm()
        self.tr_recipe.setVisible(False)
        self.tr_recipe_toggle.toggled.connect(lambda on: (self.tr_recipe.setVisible(on),
                                                          self.tr_recipe_toggle.setText("Recipe ▾" if on else
                                                                                        "Recipe ▸")))
        left.addWidget(self.tr_recipe)
        self.tr_recipe.set_arch(self.tr_arch.currentData())
        self.tr_arch.currentIndexChanged.connect(self._train_arch_changed)
        self.tr_recipe.preset.activated.connect(lambda _i: self._apply_preset_outside())
        # one line that scrolls, not a wrapped label: wrapping broke the command at its hyphens
        self.tr_command = QLineEdit()
        self.tr_command.setReadOnly(True)
        self.tr_command.setStyleSheet("color: #444; font-family: monospace;")
        command = QFormLayout()
        command.addRow("Command", self.tr_command)
        left.addLayout(command)
        for sig in (self.tr_split.currentIndexChanged, self.tr_arch.currentIndexChanged,
                    self.tr_epochs.valueChanged, self.tr_minutes.valueChanged, self.tr_out.textChanged,
                    self.tr_recipe.changed):
            sig.connect(self._update_train_command)
        left.addWidget(muted("The epoch with the best validation mean F1 is kept. Training on CPU takes hours "
                             "for the full data; a time budget anneals the schedule to end in time."))
        self.tr_run = QPushButton("Train")
        self.tr_run.clicked.connect(lambda: self.trainRequested.emit(self.train_request()))
        left.addWidget(self.tr_run)
        self.tr_summary = muted("")
        left.addWidget(self.tr_summary)
        left.addStretch(1)
        # the open recipe is taller than the dock: it scrolls instead of squeezing the ECG strip
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        inner.setLayout(left)
        scroll.setWidget(inner)
        lay.addWidget(scroll, 1)
        self.tr_plot = _plot("loss / F1", "epoch")
        self.tr_plot.addLegend(offset=(-10, 10))
        self.tr_loss = self.tr_plot.plot([], [], pen=pg.mkPen(ORIGINAL_COLOR, width=2), name="training loss")
        self.tr_f1 = self.tr_plot.plot([], [], pen=pg.mkPen(ADVERSARIAL_COLOR, width=2), name="validation F1 (N,A,O)")
        self.tr_box = Placeholder(self.tr_plot, "Press Train: the training loss and the validation F1 are "
                                  "drawn here after each epoch.")
        lay.addWidget(self.tr_box, 2)
        self.tabs.addTab(w, "Train")
        self._epochs: list = []

    def train_request(self) -> dict:
        """The Train tab's TrainRequest fields ('out' as typed; the controller places a relative name)."""
        minutes = self.tr_minutes.value()
        return {"split": self.tr_split.currentData(), "arch": self.tr_arch.currentData(),
                "epochs": self.tr_epochs.value(), "max_minutes": minutes or None, "out": self.tr_out.text().strip(),
                **self.tr_recipe.values()}

    def save_train(self, s) -> None:
        """The Train tab's choices (train_request()) as one JSON setting, train/recipe."""
        s.set("train/recipe", json.dumps(self.train_request()))

    def load_train(self, s) -> None:
        """Restore train/recipe; a setting that is not a valid request (hand-edited, an older or
        newer app's) is ignored as a whole and the tab keeps its defaults."""
        try:
            fields = json.loads(str(s.get("train/recipe", "") or "{}"))
            fields = {k: v for k, v in fields.items() if k in TrainRequest.__dataclass_fields__}
            fields["augment"] = tuple(fields.get("augment", ()))
            out = str(fields.pop("out", "") or "my-model.safetensors")
            check_request(TrainRequest(dataset=None, out=out, **fields))
        except Exception:  # noqa: BLE001 - any damage: defaults
            return
        if "arch" in fields:
            self.tr_arch.setCurrentIndex(max(0, self.tr_arch.findData(fields["arch"])))
        i = self.tr_split.findData(fields.get("split"))
        if i >= 0 and self.tr_split.model().item(i).isEnabled():
            self.tr_split.setCurrentIndex(i)
        if fields.get("epochs"):
            self.tr_epochs.setValue(int(fields["epochs"]))
        self.tr_minutes.setValue(float(fields.get("max_minutes") or 0.0))
        self.tr_out.setText(out)
        self.tr_recipe.set_values(fields)

    def _train_arch_changed(self, _i: int) -> None:
        arch = self.tr_arch.currentData()
        self.tr_epochs.setValue(ARCHITECTURES[arch].default_epochs)  # each architecture's declared default
        self.tr_recipe.set_arch(arch)

    def _apply_preset_outside(self) -> None:
        """A preset's architecture and time budget, which sit above the recipe."""
        fields = self.tr_recipe.preset_fields()
        if "arch" in fields:
            self.tr_arch.setCurrentIndex(self.tr_arch.findData(fields["arch"]))
        self.tr_minutes.setValue(fields.get("max_minutes") or 0.0)
        self._update_train_command()

    def _update_train_command(self, *_a) -> None:
        """The equivalent `python main.py train ...` under the form (engine.train_params.command_line)."""
        fields = self.train_request()
        out = fields.pop("out") or "my-model.safetensors"
        folder = getattr(self, "_folder", None) or "DATASET"
        try:
            req = TrainRequest(dataset=SimpleNamespace(folder=folder), out=out, **fields)
            check_request(req)
            text = command_line(req)
            tip = f"The command that repeats this run headless; the model card keeps it:\n{text}"
        except UserError as exc:
            text, tip = f"not valid: {exc}", str(exc)
        self.tr_command.setText(text)
        self.tr_command.setCursorPosition(0)
        self.tr_command.setToolTip(tip)

    def reset_training(self) -> None:
        self._epochs = []
        self.tr_summary.setText("Training: the loss and the validation F1 appear as each epoch ends.")
        self.tr_loss.setData([], [])
        self.tr_f1.setData([], [])

    def add_epoch(self, r) -> None:
        self.tr_box.reveal()
        self._epochs.append(r)
        ep = [e.epoch for e in self._epochs]
        self.tr_loss.setData(ep, [e.train_loss for e in self._epochs])
        self.tr_f1.setData(ep, [e.val["f1_mean_nao"] for e in self._epochs])
        self.tr_summary.setText(f"epoch {r.epoch}/{r.epochs}: loss {r.train_loss:.3f}, validation F1 "
                                f"{r.val['f1_mean_nao']:.3f} (best {r.best_f1:.3f} at epoch {r.best_epoch}); "
                                f"about {r.eta_s / 60:.0f} min left")

    def training_stopped(self, out: str, how: str = "cancelled") -> None:
        """The training job ended early (`how`: 'cancelled' or 'failed'): say what is on disk instead of
        the last epoch's 'about N min left' (the engine saves the best epoch so far after each epoch)."""
        if self._epochs:
            r = self._epochs[-1]
            self.tr_summary.setText(f"Training {how} after epoch {r.epoch}/{r.epochs}: the best epoch so far "
                                    f"({r.best_epoch}, validation F1 {r.best_f1:.3f}) is saved in {out}.")
        else:
            self.tr_summary.setText(f"Training {how} before its first epoch finished: nothing saved.")

    def set_source(self, folder: str | None, n: int = 0, labelled: int = 0,
                   split_counts: dict[str, int] | None = None) -> None:
        """The listed dataset: its folder, records, labelled records, and the labelled records of
        each named split (SplitCombo.set_counts)."""
        self._folder, self._labelled = folder, labelled
        for combo in (self.eval_split, self.ae_split, self.rb_split, self.tr_split):
            combo.set_counts(split_counts)
        if not folder:
            self.source.setText(NO_DATASET)
        else:
            self.source.setText(f"Dataset: {folder} — {n} records, {labelled} labelled"
                                + ("" if labelled else " (every action here needs labels)"))
        self._update_train_command()
        self._update_enabled()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_enabled()

    def _update_enabled(self) -> None:
        """Each action needs labelled records and no dataset job running; a disabled one says why."""
        busy, folder, labelled = getattr(self, "_busy", False), getattr(self, "_folder", None), \
            getattr(self, "_labelled", 0)
        why = ("A dataset job is running (Cancel or Esc stops it)." if busy else NO_DATASET if not folder
               else NO_LABELS if not labelled else "")
        tips = {self.eval_run: "Evaluate the loaded model on the chosen records",
                self.ae_run: "Attack every correctly classified record of the choice",
                self.rb_run: "Attack success rate for each ε",
                self.tr_run: "Train a model on the chosen records"}
        for b, tip in tips.items():
            b.setEnabled(not why)
            b.setToolTip(why or tip)
