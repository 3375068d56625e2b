"""Attack panel: PGD or the smoothed SAP with ε and step in mV, steps, target, seed → Run, and the
outcome: did the diagnosis change, how large and how smooth the perturbation is."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from .common import BAD_COLOR, CLASS_NAMES, OK_COLOR, class_text, hline, mv_spin

METHODS = [("sap", "SAP — smoothed (paper)"), ("pgd", "PGD — L∞, square-wave")]


PAPER_PROTOCOL = "paper"  # combo data of the paper-protocol entry (AF → N, others untargeted)

class AttackPanel(QWidget):
    runRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        self.method = QComboBox()
        for key, text in METHODS:
            self.method.addItem(text, key)
        self.method.setToolTip("SAP smooths the PGD perturbation with 25 Gaussian kernels so it has no "
                               "square-wave edges; PGD is plain projected gradient ascent.")
        self.eps = mv_spin(0.01, 0.0001, 5.0, 0.001, "ε: largest change allowed at any sample (L∞ bound). "
                           "Paper: 0.01 mV (10 ADC units at 1000/mV)")
        self.alpha = mv_spin(0.001, 0.0001, 1.0, 0.0005, "Step α of each gradient step. Paper: 0.001 mV")
        self.steps = QSpinBox()
        self.steps.setRange(0, 10000)
        self.steps.setValue(20)
        self.steps.setToolTip("PGD steps (SAP starts from this PGD result). Paper: 20")
        self.sap_steps = QSpinBox()
        self.sap_steps.setRange(0, 10000)
        self.sap_steps.setValue(40)
        self.sap_steps.setToolTip("Smoothed steps after PGD. Paper: 40")
        self.target = QComboBox()
        self.target.addItem("untargeted (any other class)", "")
        self.target.addItem("paper protocol (AF → Normal, others untargeted)", PAPER_PROTOCOL)
        for c, name in CLASS_NAMES.items():
            self.target.addItem(f"towards {c} · {name}", c)
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(18)  # long entries elide instead of widening the dock
        self.target.setToolTip("Untargeted: any change of diagnosis counts. Paper protocol: records the\n"
                               "model calls AF are pushed toward Normal, all others untargeted.")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setToolTip("Random seed (random start, band noise)")

        def lab(text, w):
            q = QLabel(text)
            q.setToolTip(w.toolTip())
            q.setBuddy(w)
            return q

        grid.addWidget(lab("Method", self.method), 0, 0)
        grid.addWidget(self.method, 0, 1, 1, 3)
        grid.addWidget(lab("ε", self.eps), 1, 0)
        grid.addWidget(self.eps, 1, 1)
        grid.addWidget(lab("Step α", self.alpha), 1, 2)
        grid.addWidget(self.alpha, 1, 3)
        grid.addWidget(lab("PGD steps", self.steps), 2, 0)
        grid.addWidget(self.steps, 2, 1)
        grid.addWidget(lab("SAP steps", self.sap_steps), 2, 2)
        grid.addWidget(self.sap_steps, 2, 3)
        grid.addWidget(lab("Target", self.target), 3, 0)
        grid.addWidget(self.target, 3, 1, 1, 3)
        grid.addWidget(lab("Seed", self.seed), 4, 0)
        grid.addWidget(self.seed, 4, 1)
        self.run = QPushButton("Run attack")
        self.run.setToolTip("Run the attack on the current record (Ctrl+R)")
        self.run.clicked.connect(self.runRequested)
        grid.addWidget(self.run, 4, 2, 1, 2)
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
                ("linf_mv", "max |δ|", "largest change at any sample (L∞)"),
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
        self.sap_steps.setEnabled(self.method.currentData() == "sap")

    # ---- parameters -------------------------------------------------------------------------
    def method_key(self) -> str:
        return self.method.currentData()

    def params(self) -> dict:
        """engine.attacks.AttackParams fields as a plain dict, plus "paper_protocol" (the worker
        builds the object, see gui.jobs.attack_params)."""
        choice = self.target.currentData() or None
        paper = choice == PAPER_PROTOCOL
        return {"eps_mv": self.eps.value(), "alpha_mv": self.alpha.value(), "steps": self.steps.value(),
                "sap_steps": self.sap_steps.value(), "target": None if paper else choice,
                "paper_protocol": paper, "seed": self.seed.value()}

    def load(self, s) -> None:
        i = self.method.findData(s.get("attack/method"))
        self.method.setCurrentIndex(max(i, 0))
        self.eps.setValue(s.get("attack/eps_mv"))
        self.alpha.setValue(s.get("attack/alpha_mv"))
        self.steps.setValue(s.get("attack/steps"))
        self.sap_steps.setValue(s.get("attack/sap_steps"))
        i = self.target.findData(s.get("attack/target"))
        self.target.setCurrentIndex(max(i, 0))
        self.seed.setValue(s.get("attack/seed"))

    def save(self, s) -> None:
        s.set("attack/method", self.method_key())
        s.set("attack/eps_mv", self.eps.value())
        s.set("attack/alpha_mv", self.alpha.value())
        s.set("attack/steps", self.steps.value())
        s.set("attack/sap_steps", self.sap_steps.value())
        s.set("attack/target", self.target.currentData() or "")
        s.set("attack/seed", self.seed.value())

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
        fmt = {"linf_mv": lambda v: f"{v * 1000:.0f} µV",
               "l2_mv": lambda v: f"{v:.3f} mV",
               "snr_db": lambda v: f"{v:.1f} dB",
               "prd": lambda v: f"{v:.2f} %",
               "smoothness": lambda v: f"{v:.1e} mV²",
               "square_wave": lambda v: f"{100 * v:.1f} %"}
        for k, lab in self.values.items():
            v = m.get(k)
            lab.setText("—" if v is None else fmt[k](v))
