"""Dataset actions on the listed folder: evaluate (metrics + confusion matrix), attack-eval
(success rate of the current attack over correctly classified records), robustness (success vs ε)
and training with a live loss / F1 curve."""

from __future__ import annotations

import math

import numpy as np

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
                               QTabWidget, QVBoxLayout, QWidget)

from engine.intervals import format_rate
from engine.metrics import f1_text
from engine.models import BUNDLED
from engine.models.checkpoint import installed_bundled

from .common import ADVERSARIAL_COLOR, CLASS_NAMES, muted
from .dataset_widgets import Placeholder, SplitCombo, TabPage, limit_spin, plot_widget, table_item
from .file_combo import FileChoiceCombo
from .train_tab import TrainTab



def choose_checkpoint(parent: QWidget) -> str:
    """Ask for a checkpoint to compare with; '' when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, "Compare with checkpoint", "",
                                          "Checkpoints (*.safetensors *.pth *.pt)")
    return path


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


NO_DATASET = "No dataset listed: open a folder of records first (File ▸ Open Folder or Dataset…)."
NO_LABELS = ("No labelled records: the listed folder has no label file (REFERENCE.csv, record,label "
             "per line) or none of its records is in it.")


class DatasetPanel(TrainTab, QWidget):
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
        tab = TabPage()
        form, left = tab.form, tab.left
        self.eval_split = SplitCombo()
        form.addRow("Records", self.eval_split)
        self.eval_against = FileChoiceCombo(prefix="File")
        self.eval_against.addItem("No other model", "")
        for name in installed_bundled():  # paper-cnn's weights come only from training it
            self.eval_against.addItem(BUNDLED[name].label, name)
        self.eval_against.add_chooser("Checkpoint file…", lambda parent: choose_checkpoint(parent))
        self.eval_against.setToolTip("Also score this model on the same records: the difference in mean F1 "
                                     "(N, A, O) with a paired bootstrap 95 % interval (evaluate --against)")
        self.eval_against.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.eval_against.setMinimumContentsLength(12)
        form.addRow("Compare with", self.eval_against)
        self.eval_run = QPushButton("Evaluate model")
        self.eval_run.clicked.connect(lambda: self.evaluateRequested.emit(self.eval_split.currentData(),
                                                                          self.eval_against.currentData()))
        left.addWidget(self.eval_run)
        self.eval_summary = QLabel("")
        self.eval_summary.setWordWrap(True)
        left.addWidget(self.eval_summary)
        left.addWidget(muted("Records the model was trained on give optimistic scores; the paper's figure "
                             "is on its 10 % test split."))
        self.confusion = QTableWidget(4, 4)
        self.confusion.setToolTip("Rows: reference label; columns: model prediction")
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_box = Placeholder(self.confusion, "Choose the records and press Evaluate model: the "
                                         "confusion matrix (reference label × model prediction) appears here.")
        tab.add_to(self.tabs, "Evaluate", self.confusion_box)

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
                it = table_item(str(v))
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
            + " — paper: 0.87 on its own split<br>F1: " + f1_text(f1, m)
            + (against_html(res["against"], res["model"]) if res.get("against") else ""))

    # ---- attack-eval -------------------------------------------------------------------------
    def _build_attack_eval(self) -> None:
        tab = TabPage()
        form, left = tab.form, tab.left
        self.ae_split = SplitCombo()
        self.ae_split.setCurrentIndex(1)
        self.ae_limit = limit_spin(50, "Use the first N labelled records of the split (attacks take ~1 s each on CPU)")
        form.addRow("Records", self.ae_split)
        form.addRow("At most", self.ae_limit)
        left.addWidget(muted("Uses the method and parameters of the Attack panel; only records the model "
                             "classifies correctly are attacked (the paper's success rate)."))
        self.ae_run = QPushButton("Run attack evaluation")
        self.ae_run.clicked.connect(lambda: self.attackEvalRequested.emit(self.ae_split.currentData(),
                                                                          self.ae_limit.value()))
        left.addWidget(self.ae_run)
        self.ae_summary = QLabel("")
        self.ae_summary.setWordWrap(True)
        left.addWidget(self.ae_summary)
        self.ae_table = QTableWidget(0, 4)
        self.ae_table.setHorizontalHeaderLabels(["Attacked", "Fooled", "Success rate", "95 % CI"])
        self.ae_table.horizontalHeaderItem(3).setToolTip("Exact (Clopper–Pearson) 95 % confidence interval of the "
                                                         "success rate")
        self.ae_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.ae_box = Placeholder(self.ae_table, "Set the attack in the Attack panel, then press Run attack "
                                  "evaluation: the success rate per class appears here.")
        tab.add_to(self.tabs, "Attack evaluation", self.ae_box)

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
            self.ae_table.setItem(i, 0, table_item(str(r.get("attacked", 0))))
            self.ae_table.setItem(i, 1, table_item(str(r.get("success", 0))))
            self.ae_table.setItem(i, 2, table_item("—" if rate is None else f"{100 * rate:.1f} %"))
            self.ae_table.setItem(i, 3, table_item(ci_text(r.get("success_ci95"))))
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
        tab = TabPage()
        form, left = tab.form, tab.left
        self.rb_split = SplitCombo()
        self.rb_split.setCurrentIndex(1)
        self.rb_limit = limit_spin(20, "Use the first N labelled records of the split")
        self.rb_eps = QLineEdit("0.0025, 0.005, 0.01, 0.02, 0.05")
        self.rb_eps.setToolTip("ε values in mV, separated by commas")
        form.addRow("Records", self.rb_split)
        form.addRow("At most", self.rb_limit)
        form.addRow("ε (mV)", self.rb_eps)
        self.rb_run = QPushButton("Run robustness curve")
        self.rb_run.clicked.connect(self._robustness_clicked)
        left.addWidget(self.rb_run)
        self.rb_summary = muted("")
        self.rb_summary.setTextFormat(Qt.TextFormat.RichText)
        left.addWidget(self.rb_summary)
        self.rb_plot = plot_widget("success rate (%)", "ε (mV, largest change per sample)")
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
        tab.add_to(self.tabs, "Robustness", self.rb_box)

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
