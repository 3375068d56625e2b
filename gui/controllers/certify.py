"""Attack ▸ Certify: randomised smoothing (engine.certify) on the current record.

Shows the smoothed prediction (or the abstention), the certified L2 radius and its L∞ bound, the
vote shares of the noise draws and the rate at which the noise draws disagree with the smoothed
class; the strip's "tube" layer draws record ± the L∞ bound over the samples the model saw.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QMessageBox

from engine.workbench import jobs

from .needs import ready

GUI_N0, GUI_N, GUI_BATCH = 100, 1000, 100  # interactive defaults (the CLI's n is 10,000)


def result_text(c, name: str) -> str:
    """The Certify dialog's text for an engine.certify.Certificate."""
    votes = ", ".join(f"{k} {100 * v / c.n:.1f}%" for k, v in c.counts.items())
    other = 1.0 - c.p_hat
    head = (f"{name}: smoothed prediction {c.pred}" if not c.abstained else
            f"{name}: ABSTAINS (top class {c.top}, but its lower bound {c.p_lower:.3f} < 0.5)")
    lines = [head,
             f"σ {c.sigma_mv:g} mV, n0 {c.n0}, n {c.n}, α {c.alpha:g}",
             f"certified L2 radius: {c.radius_mv:.4f} mV",
             f"as an L∞ bound over {c.d} samples: {c.linf_mv:.6f} mV "
             f"({'reaches' if c.certified_at() else 'below'} the paper's ε 0.01 mV)",
             f"noise draws: {votes}",
             f"draws disagreeing with {c.top}: {100 * other:.1f}% (p̂ {c.p_hat:.4f}, lower bound {c.p_lower:.4f})",
             f"abstention: {'yes' if c.abstained else 'no'} (abstains when the lower bound < 0.5); estimated "
             f"abstention rate at this n: {100 * c.abstention_rate:.1f}%"]
    return "\n".join(lines)


class CertifyController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb
        self.n0, self.n, self.batch_size, self.seed = GUI_N0, GUI_N, GUI_BATCH, 0
        self.last = None  # the last Certificate
        self.box: QMessageBox | None = None
        self.action = QAction("Certify (Randomised Smoothing)…", win)
        self.action.setToolTip("Smoothed prediction and certified radius of the current record (Cohen et al. 2019)")
        self.action.triggered.connect(lambda _=False: self.run())
        for a in win.menuBar().actions():  # Attack menu, after its other actions
            if a.menu() is not None and a.text().replace("&", "") == "Attack":
                a.menu().addAction(self.action)
        self.wb.subscribe(self._changed)

    def _changed(self, event: str, _value) -> None:
        if event in ("record", "model"):
            self.last = None
            self.win.strip.set_tube(None, None)

    def ask_sigma(self) -> float | None:
        s = self.win.settings
        try:
            start = float(s.get("certify/sigma") or 0.1)
        except (TypeError, ValueError):
            start = 0.1
        val, ok = QInputDialog.getDouble(self.win, "Certify", "Noise sd σ (mV):", start, 0.0001, 10.0, 4)
        return float(val) if ok else None

    def run(self, sigma_mv: float | None = None) -> None:
        """Certify the current record with noise sd `sigma_mv` (asked for when None)."""
        from engine.certify import SmoothParams
        from engine.errors import UserError

        w, wb = self.win, self.wb
        if not ready(w, wb, record=True):
            return
        if "certify" in w.busy_kinds():
            return
        sigma = sigma_mv if sigma_mv is not None else self.ask_sigma()
        if sigma is None:
            return
        try:
            params = SmoothParams(sigma_mv=float(sigma), n0=self.n0, n=self.n, batch_size=self.batch_size,
                                  seed=self.seed).check()
        except UserError as exc:
            w.show_error(str(exc))
            return
        w.settings.set("certify/sigma", float(sigma))
        rec, clf = wb.record, wb.model

        def done(c):
            if wb.record is not rec or wb.model is not clf:
                return  # the record or model changed meanwhile
            self.last = c
            self.draw_tube(c)
            self.show(result_text(c, rec.name))

        w.submit(jobs.certify(clf, rec, params), f"Certify {rec.name} (σ {sigma:g} mV)", on_done=done,
                 kind="certify")

    def draw_tube(self, c) -> None:
        """record ± the L∞ bound over the samples the model saw (nothing elsewhere)."""
        rec, clf = self.wb.record, self.wb.model
        x = np.asarray(rec.x_mv, dtype=np.float32)
        if c.abstained or x.size < 2:
            self.win.strip.set_tube(None, None)
            return
        n_model = int(math.floor(len(x) * clf.fs / rec.fs))
        wins = clf.windows(max(1, n_model))
        a = int(round(wins[0][0] / clf.fs * rec.fs))
        b = min(len(x), int(round(wins[-1][1] / clf.fs * rec.fs)))
        lo, hi = x.copy(), x.copy()
        lo[a:b] -= c.linf_mv
        hi[a:b] += c.linf_mv
        self.win.strip.set_tube(lo, hi)

    def show(self, text: str) -> None:
        if self.box is None:
            self.box = QMessageBox(QMessageBox.Icon.Information, "Certify", "", QMessageBox.StandardButton.Ok,
                                   self.win)
            self.box.setModal(False)
        self.box.setText(text)
        self.box.show()
