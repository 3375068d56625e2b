"""Band panel: expand the current adversarial example into a band (noise, concatenation,
uniform sampling) and show the three fractions that stayed adversarial; with "Both" the two
procedures (engine.band.STYLES) side by side."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from .common import hline, muted, mv_spin

BOTH = "both"  # style_box data: both procedures side by side


class BandPanel(QWidget):
    runRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        self.trials = QSpinBox()
        from engine.band import BandParams  # the engine's defaults (the paper's values)

        band = BandParams()
        self.trials.setRange(1, 100000)
        self.trials.setValue(band.trials)
        self.trials.setToolTip(f"Noisy copies of the adversarial example to classify (paper: {band.trials})")
        self.noise = mv_spin(band.noise_sd_mv, 0.0, 1.0, 0.001,
                             f"Gaussian noise sd added before smoothing (paper: {band.noise_sd_mv:g} mV)")
        t, n = QLabel("Trials"), QLabel("Noise sd")
        t.setToolTip(self.trials.toolTip())
        n.setToolTip(self.noise.toolTip())
        grid.addWidget(t, 0, 0)
        grid.addWidget(self.trials, 0, 1)
        grid.addWidget(n, 0, 2)
        grid.addWidget(self.noise, 0, 3)
        self.hint = muted("Needs a successful attack.")
        self.run = QPushButton("Expand band")
        self.run.setToolTip("Find the band of adversarial examples around the current one (Ctrl+B)")
        self.run.setEnabled(False)
        self.run.clicked.connect(self.runRequested)
        self.style_box = QComboBox()
        self.style_box.addItem("Workbench (noise smoothed)", "workbench")
        self.style_box.addItem("Paper code (δ + noise smoothed)", "paper-code")
        self.style_box.addItem("Both (side by side)", BOTH)
        self.style_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.style_box.setMinimumContentsLength(12)
        self.style_box.setToolTip(
            "Workbench: only the noise is smoothed and added to the example; a trial counts if the\n"
            "diagnosis still differs from the original.\n"
            "Paper code: as the authors' scripts — the whole perturbation (δ + noise) is smoothed, so\n"
            "δ is smoothed twice; a trial counts only if it keeps the example's class; the band is\n"
            "the survivors only; uniform draws are smoothed as a whole with the 5-tap kernels.\n"
            "Both: the two procedures side by side (the workbench band is drawn).")
        s_lab = QLabel("Procedure")
        s_lab.setToolTip(self.style_box.toolTip())
        grid.addWidget(s_lab, 1, 0)
        grid.addWidget(self.style_box, 1, 1, 1, 3)
        grid.addWidget(self.hint, 2, 0, 1, 2)
        grid.addWidget(self.run, 2, 2, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        lay.addLayout(grid)
        lay.addWidget(hline())
        lay.addWidget(QLabel("Still adversarial after"))
        res = QGridLayout()
        res.setVerticalSpacing(2)
        self.values: dict[str, QLabel] = {}
        self.values2: dict[str, QLabel] = {}  # the paper-code column of "Both"
        self.col_heads = [QLabel("<b>workbench</b>"), QLabel("<b>paper code</b>")]
        for j, h in enumerate(self.col_heads):
            res.addWidget(h, 0, 1 + j)
            h.setVisible(False)
        for i, (key, text, tip) in enumerate((
                ("noise", "noise", "noisy, re-smoothed copies that keep the wrong diagnosis"),
                ("concat", "splicing", "splices of crossing band members (concatenation)"),
                ("uniform", "uniform", "samples drawn anywhere inside the band"),
                ("centre", "centre", "the band's centre ((min + max) / 2): adversarial or not, and its logit "
                                     "margin (> 0: adversarial)"))):
            v = QLabel("—")
            v.setToolTip(tip)
            v.setWordWrap(True)  # long outcomes wrap instead of widening the dock
            v2 = QLabel("—")
            v2.setToolTip(tip)
            v2.setWordWrap(True)
            v2.setVisible(False)
            q = QLabel(text)
            q.setToolTip(tip)
            q.setStyleSheet("color: #555;")
            res.addWidget(q, 1 + i, 0)
            res.addWidget(v, 1 + i, 1)
            res.addWidget(v2, 1 + i, 2)
            self.values[key] = v
            self.values2[key] = v2
            if key == "centre":
                self.centre_label = q
                q.setVisible(False)
                v.setVisible(False)
        res.setColumnStretch(1, 1)
        res.setColumnStretch(2, 1)
        lay.addLayout(res)
        self.width_label = muted("")
        lay.addWidget(self.width_label)

    def set_ready(self, ready: bool, hint: str = "") -> None:
        self.run.setEnabled(ready)
        self.hint.setText(hint)

    def clear(self) -> None:
        for v in (*self.values.values(), *self.values2.values()):
            v.setText("—")
        self.width_label.setText("")
        self._set_columns(False)

    def _set_columns(self, both: bool) -> None:
        """One value column, or two (workbench | paper code) with the centre row."""
        for w in (*self.col_heads, *self.values2.values(), self.centre_label, self.values["centre"]):
            w.setVisible(both)

    @staticmethod
    def _frac(d: dict, total_key: str, compact: bool = False) -> str:
        """'k / n  (x %)' and on a second line '95 % CI a–b %' of a band procedure's report (where
        the report has an interval); `compact`: 'k/n (x %, CI a–b)' (two columns)."""
        n = d.get(total_key) or 0
        k = d.get("adversarial") or 0
        f = d.get("fraction")
        if not n:
            return ("none" if compact else "no crossings") if total_key == "splices" else "—"
        ci = d.get("ci95")  # noise trials and uniform draws (independent draws), not the splices
        if f is None:
            return f"{k}/{n}" if compact else f"{k} / {n}"
        if compact:
            return f"{k}/{n} ({100 * f:.0f} %" + (f", CI {100 * ci[0]:.0f}–{100 * ci[1]:.0f})" if ci else ")")
        return f"{k} / {n}  ({100 * f:.1f} %)" + (f"\n95 % CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f} %" if ci else "")

    def show_result(self, b, members_drawn: int | None = None) -> None:
        self._set_columns(False)
        self.values["noise"].setText(self._frac(b.noise, "trials"))
        self.values["concat"].setText(self._frac(b.concat, "splices"))
        uni = self._frac(b.uniform, "trials")
        if b.uniform.get("centre_adversarial") is not None:
            uni += "; centre " + ("adversarial" if b.uniform["centre_adversarial"] else "not adversarial")
        self.values["uniform"].setText(uni)
        self.values["uniform"].setToolTip(
            "The uniform draws average out around the band's centre ((min + max) / 2), so the\n"
            "fraction is close to 100 % when the centre is adversarial and close to 0 % when not.")
        k = b.members.shape[0]
        if getattr(b, "style", "workbench") == "paper-code":
            n = b.noise.get("adversarial", 0)
            if not n:
                self.values["concat"].setText("— (no band)")
                self.values["uniform"].setText("— (no band)")
            self.width_label.setText(f"Paper-code band from {n} noisy survivors." if n else
                                     "Paper code: no noisy copy kept the adversarial class, so there is "
                                     "no band (the re-smoothed δ is no longer adversarial).")
        else:
            self.width_label.setText(f"Band from {k} members (the example and {k - 1} noisy survivors).")

    @staticmethod
    def _centre(rep: dict) -> str:
        m = rep.get("centre_margin")
        if m is None:
            return "no band"
        return f"{'adversarial' if m > 0 else 'not adv.'} (margin {m:+.2f})"  # a logit margin: named, no unit

    def show_both(self, reports: dict) -> None:
        """Both procedures side by side: reports {style: {"noise", "concat", "uniform", "centre_margin"}}
        (engine.workbench.jobs.band_styles)."""
        self._set_columns(True)
        for col, style in ((self.values, "workbench"), (self.values2, "paper-code")):
            rep = reports.get(style)
            if rep is None:
                continue
            no_band = rep.get("centre_margin") is None
            col["noise"].setText(self._frac(rep["noise"], "trials", compact=True))
            col["concat"].setText("no band" if no_band else self._frac(rep["concat"], "splices", compact=True))
            col["uniform"].setText("no band" if no_band else self._frac(rep["uniform"], "trials", compact=True))
            col["centre"].setText(self._centre(rep))
        self.width_label.setText("The workbench band is drawn. Paper code smooths δ again with the noise and "
                                 "keeps only the survivors.")

    def params(self) -> tuple[int, float]:
        """(trials, noise sd in mV), with a number typed but not yet committed (Ctrl+B) taken as shown."""
        for box in (self.trials, self.noise):
            box.interpretText()
        return self.trials.value(), self.noise.value()

    def style(self) -> str:
        """engine.band.BandParams.style ("workbench" or "paper-code"), or "both" (side by side)."""
        return self.style_box.currentData()

    def load(self, s) -> None:
        self.trials.setValue(s.get("band/trials"))
        self.noise.setValue(s.get("band/noise_sd_mv"))
        self.style_box.setCurrentIndex(max(0, self.style_box.findData(s.get("band/style"))))

    def save(self, s) -> None:
        s.set("band/trials", self.trials.value())
        s.set("band/noise_sd_mv", self.noise.value())
        s.set("band/style", self.style())
