"""Attacking the current record and expanding the band around a successful attack."""

from __future__ import annotations

from .. import format as fmt


class AttackController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb
        self.band_options: dict = {}  # extra engine.band.BandParams fields (tests use small ones)
        self.wb.subscribe(self._changed)

    def busy(self) -> bool:
        return bool(self.win.busy_kinds() & {"attack", "band"})

    def run_attack(self) -> None:
        w, wb = self.win, self.wb
        if wb.record is None:
            w.show_error("Open a record first.")
            return
        if wb.model is None:
            w.show_error("No model loaded: choose one in the Model panel (or load a checkpoint).")
            return
        if self.busy():
            return
        if not w.records.confirm_channel("attack"):
            return
        rec = wb.record
        method = w.attack_panel.method_key()
        params = w.attack_panel.params()
        w.attack_panel.save(w.settings)
        job = wb.attack_job(method, params)
        wb.set_attack(None, None, None)  # the old result goes: the listener clears the view
        w.attack_panel.show_running(method)
        w.browser.update_row(rec.name, status="running", status_tip="", fooled=False)

        def done(res):
            r, p = res
            status, tip = fmt.attack_row_status(r, method, p.eps_mv)
            w.browser.update_row(rec.name, status=status, fooled=bool(r.success), status_tip=tip)
            if wb.record is not rec:
                return
            wb.set_attack(method, r, p)
            gain = 100 if p.eps_mv * 100 <= 1.0 + 1e-9 else 10  # keep the ×gain trace inside its ±1 mV lane

            def draw():
                if wb.attack_result is not r:
                    return
                if r.fs != rec.fs or len(r.x0) != len(rec.x_mv):  # show both at the model's rate
                    w.strip.set_record(r.x0, r.fs, rec.name)
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
                w.update_enabled()
                w.attackFinished.emit(r)

            # one piece per event-loop turn, so no single turn keeps the GUI thread busy for long
            w.staged(lambda: w.display.auto_gain(gain), draw, panels)

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
        r, rec = wb.attack_result, wb.record
        if r is None or not r.success:
            w.show_error("Expanding a band needs a successful attack on the current record.")
            return
        if self.busy():
            return
        trials, sd = w.band_panel.params()
        w.band_panel.save(w.settings)
        w.band_panel.clear()
        options = {"style": w.band_panel.style(), **self.band_options}
        job = wb.band_job(trials, sd, seed=wb.params.seed, **options)

        def done(b):
            if wb.attack_result is not r:
                return
            wb.set_band(b)

            def finish():
                if wb.band_result is not b:
                    return
                w.band_panel.show_result(b)
                w.refresh_header()
                w.update_enabled()
                w.bandFinished.emit(b)

            w.staged(lambda: wb.band_result is b and w.strip.set_band(b.lo, b.hi),
                     lambda: wb.band_result is b and w.strip.set_band_members(b.members), finish)

        w.submit(job, f"Band around {rec.name}", on_done=done, kind="band")

    # ---- the session dropped the attack (new record, new model, new attack) ---------------------
    def _changed(self, event: str, value) -> None:
        if (event == "attack" and value is None) or event in ("record", "model"):
            self.clear_view()

    def clear_view(self) -> None:
        """Panels back to 'no attack'; the strip back to the plain record, where the user was looking."""
        w, rec = self.win, self.wb.record
        strip = w.strip
        if rec is not None and (strip.has_layer("adversarial") or strip.has_layer("band")):
            view = strip.view_range()

            def reset():
                if self.wb.record is rec and self.wb.attack_result is None:
                    strip.set_record(rec.x_mv, rec.fs, rec.name)

            def restore():
                if self.wb.record is rec and self.wb.attack_result is None and view[1] > view[0]:
                    strip.set_view(*view)  # stay where the user was looking

            w.staged(reset, restore)
        w.attack_panel.clear()
        w.band_panel.clear()
        pred = self.wb.prediction
        w.model_panel.set_probs(pred[1] if pred and rec else None, None, rec.label if pred and rec else None)
        w.update_enabled()
