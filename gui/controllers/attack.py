"""Attacking the current record and expanding the band around a successful attack.

The jobs' results go into the Workbench session (`wb.set_attack`, `wb.set_band`); what the window
shows follows the session's events ("attack", "band", and "record"/"model", which drop them), so
one state change draws once, whoever made it.
"""

from __future__ import annotations

from engine.errors import UserError
from engine.workbench import jobs

from .. import format as fmt
from ..panels.band_panel import BOTH
from .needs import ready
from .records import show_on_strip


class AttackController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb
        self.band_options: dict = {}  # extra engine.band.BandParams fields (tests use small ones)
        self._reports: dict[int, dict] = {}  # id(BandResult) → both procedures' reports ("Both" runs)
        self.wb.subscribe(self._changed)

    def busy(self) -> bool:
        return bool(self.win.busy_kinds() & {"attack", "band"})

    def run_attack(self) -> None:
        w, wb = self.win, self.wb
        if not ready(w, wb, record=True):
            return
        if self.busy():
            return
        if not w.records.confirm_channel("attack"):
            return
        rec = wb.record
        method = w.attack_panel.method_key()
        try:
            params = w.attack_panel.params()
        except UserError as exc:  # a value the panel could not check as it was typed
            w.show_error(str(exc))
            return
        w.attack_panel.save(w.settings)
        job = wb.attack_job(method, params)
        wb.set_attack(None, None, None)  # the old result goes: the listener clears the view
        w.attack_panel.show_running(method)
        w.browser.update_row(rec.name, status="running", status_tip="", fooled=False)

        def done(res):
            r, p = res
            status, tip = fmt.attack_row_status(r, method, p.eps_mv)
            w.browser.update_row(rec.name, status=status, fooled=bool(r.success), status_tip=tip)
            if wb.record is rec:
                wb.set_attack(method, r, p)  # the "attack" event draws it

        def cancelled():
            w.browser.update_row(rec.name, status="cancelled")
            if wb.record is rec:
                w.attack_panel.clear("Attack cancelled.")

        def failed(one, details, exc=None):
            w.browser.update_row(rec.name, status="error", status_tip=one)
            if wb.record is rec:
                w.attack_panel.clear("Attack failed.")
            w.show_error(one, details)

        w.submit(job, f"{method.upper()} attack on {rec.name}", on_done=done, on_cancel=cancelled,
                 on_error=failed, kind="attack")

    def run_band(self) -> None:
        w, wb = self.win, self.wb
        r = wb.attack_result
        if r is None or not r.success:
            w.show_error("Expanding a band needs a successful attack on the current record.")
            return
        if self.busy():
            return
        trials, sd = w.band_panel.params()
        w.band_panel.save(w.settings)
        w.band_panel.clear()
        style = w.band_panel.style()
        if style == BOTH:  # both procedures side by side; the workbench band is drawn
            job = jobs.band_styles(wb.model, r, wb.params, trials, sd, seed=wb.params.seed, **self.band_options)
        else:
            job = wb.band_job(trials, sd, seed=wb.params.seed, style=style, **self.band_options)

        def done(out):
            if wb.attack_result is not r:
                return
            if style == BOTH:
                b = out["workbench"]["band"]
                self._reports = {id(b): {s: v["report"] for s, v in out.items()}}
            else:
                b = out
            wb.set_band(b)  # the "band" event draws it

        w.submit(job, f"Band around {wb.record.name}", on_done=done, kind="band")

    # ---- drawing what the session holds --------------------------------------------------------
    def _changed(self, event: str, value) -> None:
        if (event == "attack" and value is None) or event in ("record", "model"):
            self.clear_view()
        elif event == "attack":
            self.draw_attack(value)
        elif event == "band" and value is not None:
            self.draw_band(value)

    def draw_attack(self, r) -> None:
        """The session's attack result on the strip, in the panels and the header (staged: one piece
        per event-loop turn, so no single turn keeps the GUI thread busy for long)."""
        w, wb = self.win, self.wb
        rec, method, p = wb.record, wb.method, wb.params
        # a suggested gain (δ inside its ±1 mV lane) until the user picks one (gui.display.auto_gain)
        gain = 100 if p.eps_mv * 100 <= 1.0 + 1e-9 else 10

        def draw():
            if wb.attack_result is not r:
                return
            if r.fs != rec.fs or len(r.x0) != len(rec.x_mv):  # show both at the model's rate
                show_on_strip(w.strip, rec, r.x0, r.fs)
            w.strip.set_adversarial(r.x_adv)
            pl = r.placement
            if pl.n < len(r.x0):  # a long record: the model saw (and the attack changed) one window
                w.strip.set_view(pl.src_start / r.fs, (pl.src_start + pl.n) / r.fs)

        def panels():
            if wb.attack_result is not r:
                return
            w.attack_panel.show_result(r, method, p.eps_mv)
            w.model_panel.set_probs(r.orig_probs, r.adv_probs, rec.label)
            wb.set_prediction((r.orig_pred, r.orig_probs))
            w.refresh_header()
            w.attackFinished.emit(r)

        w.staged(lambda: w.display.auto_gain(gain), draw, panels)

    def draw_band(self, b) -> None:
        """The session's band on the strip (envelope, then members) and in the band panel."""
        w, wb = self.win, self.wb
        reports = self._reports.pop(id(b), None)
        self._reports.clear()

        def finish():
            if wb.band_result is not b:
                return
            if reports is not None:
                w.band_panel.show_both(reports)
            else:
                w.band_panel.show_result(b)
            w.bandFinished.emit(b)

        w.staged(lambda: wb.band_result is b and w.strip.set_band(b.lo, b.hi),
                 lambda: wb.band_result is b and w.strip.set_band_members(b.members), finish)

    def clear_view(self) -> None:
        """Panels back to 'no attack'; the strip back to the plain record, where the user was looking
        (unless a new record was drawn meanwhile)."""
        w, rec = self.win, self.wb.record
        strip = w.strip
        if rec is not None and (strip.has_layer("adversarial") or strip.has_layer("band")):
            def reset():
                if (self.wb.record is rec and self.wb.attack_result is None
                        and (strip.has_layer("adversarial") or strip.has_layer("band"))):
                    view = strip.view_range()
                    show_on_strip(strip, rec)
                    if view[1] > view[0]:
                        strip.set_view(*view)  # stay where the user was looking

            w.staged(reset)
        w.attack_panel.clear()
        w.band_panel.clear()
        pred = self.wb.prediction
        w.model_panel.set_probs(pred[1] if pred and rec else None, None, rec.label if pred and rec else None)
