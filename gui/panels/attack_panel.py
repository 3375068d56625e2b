"""Attack panel: an attack of engine.attacks.registry with its declared parameters (ε and α in mV,
steps, seed, ...), the target → Run, and the outcome: did the diagnosis change, how large and how
smooth the perturbation is."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QGridLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from engine.attacks.params import AttackParams
from engine.attacks.registry import ATTACKS, DEFAULT_METHOD, all_params, spec

from .common import BAD_COLOR, CLASS_NAMES, OK_COLOR, class_text, hline
from .params import param_widget, set_value, value_of

PAPER_PROTOCOL = "paper"  # combo data of the paper-protocol entry (AF → N, others untargeted)


class AttackPanel(QWidget):
    """Method and parameters, generated from engine.attacks.registry (one widget per declared
    parameter; those the chosen attack does not read are disabled)."""

    runRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        self.method = QComboBox()
        for key, s in ATTACKS.items():
            self.method.addItem(s.label, key)
        self.method.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(16)
        self.method.setToolTip("\n".join(f"{s.label}: {s.help}" for s in ATTACKS.values()))
        self.params_decl = all_params()
        self.fields: dict[str, QWidget] = {p.attr: param_widget(p) for p in self.params_decl}
        self.target = QComboBox()
        self.target.addItem("untargeted (any other class)", "")
        self.target.addItem("paper protocol (AF → Normal, others untargeted)", PAPER_PROTOCOL)
        for c, name in CLASS_NAMES.items():
            self.target.addItem(f"towards {c} · {name}", c)
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(18)  # long entries elide instead of widening the dock
        self.target.setToolTip("Untargeted: any change of diagnosis counts. Paper protocol: records the\n"
                               "model calls AF are pushed toward Normal, all others untargeted.")

        def lab(text, w):
            q = QLabel(text)
            q.setToolTip(w.toolTip())
            q.setBuddy(w)
            return q

        grid.addWidget(lab("Method", self.method), 0, 0)
        grid.addWidget(self.method, 0, 1, 1, 3)
        self._labels: dict[str, QWidget] = {}
        for i, p in enumerate(self.params_decl):  # two parameters a row: label, input, label, input
            row, col = 1 + i // 2, 2 * (i % 2)
            w = self.fields[p.attr]
            if isinstance(w, QCheckBox):  # a check box carries its own label
                self._labels[p.attr] = w
                grid.addWidget(w, row, col, 1, 2)
                continue
            self._labels[p.attr] = lab(p.label, w)
            grid.addWidget(self._labels[p.attr], row, col)
            grid.addWidget(w, row, col + 1)
        row = 2 + (len(self.params_decl) - 1) // 2
        grid.addWidget(lab("Target", self.target), row, 0)
        grid.addWidget(self.target, row, 1, 1, 3)
        row += 1
        self.run = QPushButton("Run attack")
        self.run.setToolTip("Run the attack on the current record (Ctrl+R)")
        self.run.clicked.connect(self.runRequested)
        grid.addWidget(self.run, row, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        lay.addLayout(grid)
        lay.addWidget(hline())
        self.verdict = QLabel("No attack run yet.")
        self.verdict.setWordWrap(True)
        lay.addWidget(self.verdict)
        res = QGridLayout()
        res.setHorizontalSpacing(8)
        res.setVerticalSpacing(2)
        self.values: dict[str, QLabel] = {}
        for i, (key, text, tip) in enumerate((
                ("linf_mv", "max |δ|", "largest change at any sample (L∞), in mV like ε"),
                ("snr_db", "SNR", "ECG power over perturbation power; higher is less visible"),
                ("l2_mv", "‖δ‖₂", "Euclidean norm of the perturbation over the record"),
                ("prd", "PRD", "percent root-mean-square difference"),
                ("smoothness", "roughness", "variance of sample-to-sample differences of δ (lower is smoother)"),
                ("square_wave", "at ±ε", "share of samples sitting at ±ε: PGD's square-wave signature"))):
            v = QLabel("—")
            v.setToolTip(tip)
            q = QLabel(text)
            q.setToolTip(tip)
            q.setStyleSheet("color: #555;")
            r, c = divmod(i, 2)
            res.addWidget(q, r, 2 * c)
            res.addWidget(v, r, 2 * c + 1)
            self.values[key] = v
        res.setColumnStretch(1, 1)
        res.setColumnStretch(3, 1)
        lay.addLayout(res)
        self.method.currentIndexChanged.connect(self._method_changed)
        self._method_changed()

    def _method_changed(self) -> None:
        reads = {p.attr for p in spec(self.method_key()).params}
        for attr, w in self.fields.items():
            w.setEnabled(attr in reads)
            self._labels[attr].setEnabled(attr in reads)

    def field(self, attr: str) -> QWidget:
        """The input of declared parameter `attr` (e.g. 'eps_mv')."""
        return self.fields[attr]

    # ---- parameters -------------------------------------------------------------------------
    def method_key(self) -> str:
        return self.method.currentData() or DEFAULT_METHOD

    def params(self) -> dict:
        """engine.attacks.AttackParams fields as a plain dict, plus "paper_protocol" (the worker
        builds the object, see engine.workbench.jobs.attack_params). A value typed as text (a
        parameter kind without its own input) is checked here: UserError names the allowed range."""
        for w in self.fields.values():  # a number typed but not yet committed (Enter, focus out): Ctrl+R
            if isinstance(w, QAbstractSpinBox):  # or the toolbar's Run Attack keeps the box's focus
                w.interpretText()
        choice = self.target.currentData() or None
        paper = choice == PAPER_PROTOCOL
        builtin = set(AttackParams.__dataclass_fields__)
        values = {}
        for p in self.params_decl:
            w = self.fields[p.attr]
            values[p.attr] = p.check(value_of(w)) if isinstance(w, QLineEdit) and w.isEnabled() else value_of(w)
        out = {k: v for k, v in values.items() if k in builtin}
        options = tuple((k, v) for k, v in values.items() if k not in builtin)
        if options:
            out["options"] = options
        return {**out, "target": None if paper else choice, "paper_protocol": paper}

    def load(self, s) -> None:
        """Saved settings (gui.settings: attack/<attr> for every declared parameter)."""
        i = self.method.findData(s.get("attack/method"))
        self.method.setCurrentIndex(max(i, 0))
        for p in self.params_decl:
            v = s.get(f"attack/{p.attr}", p.default)
            try:
                set_value(self.fields[p.attr], p.check(v))
            except Exception:  # noqa: BLE001 - a bad saved value: keep the declared default
                set_value(self.fields[p.attr], p.default)
        i = self.target.findData(s.get("attack/target"))
        self.target.setCurrentIndex(max(i, 0))

    def save(self, s) -> None:
        s.set("attack/method", self.method_key())
        for p in self.params_decl:
            s.set(f"attack/{p.attr}", value_of(self.fields[p.attr]))
        s.set("attack/target", self.target.currentData() or "")

    # ---- results ----------------------------------------------------------------------------
    def clear(self, text: str = "No attack run yet.") -> None:
        self.verdict.setText(text)
        self.verdict.setStyleSheet("")
        for v in self.values.values():
            v.setText("—")

    def show_running(self, method: str) -> None:
        self.clear(f"{method.upper()} attack running…")

    def show_result(self, r, method: str, eps_mv: float) -> None:
        if r.success is None:
            text = f"Already predicted as the target ({class_text(r.orig_pred)}); nothing to do."
            color = "#555"
        elif r.success:
            text = (f"<b>Diagnosis changed</b>: {class_text(r.orig_pred)} → <b>{class_text(r.adv_pred)}</b> "
                    f"({method.upper()}, ε {eps_mv:g} mV)")
            color = BAD_COLOR
        else:
            text = (f"<b>Not fooled</b>: still {class_text(r.adv_pred)} "
                    f"({method.upper()}, ε {eps_mv:g} mV). Try a larger ε or more steps.")
            color = OK_COLOR
        self.verdict.setText(text)
        self.verdict.setStyleSheet(f"color: {color};")
        m = r.measures
        fmt = {"linf_mv": lambda v: f"{v:.4f} mV",  # the unit and decimals of the ε box
               "l2_mv": lambda v: f"{v:.3f} mV",
               "snr_db": lambda v: f"{v:.1f} dB",
               "prd": lambda v: f"{v:.2f} %",
               "smoothness": lambda v: f"{v:.1e} mV²",
               "square_wave": lambda v: f"{100 * v:.1f} %"}
        for k, lab in self.values.items():
            v = m.get(k)
            lab.setText("—" if v is None else fmt[k](v))
