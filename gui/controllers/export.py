"""Writing the adversarial example and the band as WFDB records, and the strip as an image or PDF."""

from __future__ import annotations

import os

from engine.errors import UserError

from .. import dialogs


class ExportController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb

    def _ask_dir(self, title: str) -> str | None:
        s = self.win.settings
        out = dialogs.ask_directory(self.win, title, s.get("dirs/export") or os.path.expanduser("~"))
        if out:
            s.set("dirs/export", out)
        return out or None

    def export_adversarial(self, out_dir: str | None = None) -> None:
        w, wb = self.win, self.wb
        r = wb.attack_result
        if r is None:
            w.show_error("Nothing to export: run an attack first.")
            return
        out_dir = out_dir or self._ask_dir("Folder for the adversarial WFDB record")
        if not out_dir:
            return
        w.settings.set("dirs/export", out_dir)
        base = os.path.join(out_dir, f"{r.record}_{wb.method}")
        overwrite = False
        if os.path.exists(base + ".hea") or os.path.exists(base + ".dat"):
            if not dialogs.confirm(w, f"{base}.hea exists. Replace it?", "Replace record"):
                return
            overwrite = True

        def done(path):
            w.status_msg.setText(f"Wrote {path}.hea")
            w.remember(path + ".hea")
            w.exported.emit("adversarial", path)

        w.submit(wb.export_adversarial_job(out_dir, w.models.export_name(), overwrite=overwrite),
                 "Writing adversarial example", on_done=done, kind="export")

    def export_band(self, out_dir: str | None = None, members: int = 10) -> None:
        w, wb = self.win, self.wb
        b = wb.band_result
        if b is None:
            w.show_error("Nothing to export: expand a band first.")
            return
        out_dir = out_dir or self._ask_dir("Folder for the band WFDB records")
        if not out_dir:
            return
        w.settings.set("dirs/export", out_dir)
        base = os.path.join(out_dir, f"{b.record}_{wb.method}_band")
        overwrite = False
        if os.path.exists(base + ".hea"):
            if not dialogs.confirm(w, f"{base}.hea exists. Replace the band records?", "Replace records"):
                return
            overwrite = True

        def done(paths):
            w.status_msg.setText(f"Wrote {paths['band']}.hea and {len(paths['members'])} members")
            w.exported.emit("band", paths)

        w.submit(wb.export_band_job(out_dir, w.models.export_name(), members=members, overwrite=overwrite),
                 "Writing band", on_done=done, kind="export")

    def strip_header(self) -> dict:
        """What every page of a strip export names: record, model, attack and ε (mV; printed in µV)."""
        wb = self.wb
        return {"record": wb.record.name if wb.record else None,
                "model": self.win.models.export_name() if wb.model is not None else None,
                "attack": wb.method.upper() if wb.method and wb.attack_result is not None else None,
                "eps_mv": wb.params.eps_mv if wb.params is not None and wb.attack_result is not None else None}

    def export_strip(self, path: str | None = None, t0: float | None = None, t1: float | None = None,
                     dpi: int | None = None) -> None:
        """ECG paper at true scale as PNG, SVG or PDF, by the file's extension (.png when it has none):
        the whole record, or record time [t0, t1] s; PNG at `dpi` (300). Without `path` the user
        picks the file, then the range (whole record, current view or a range) and the dpi."""
        w = self.win
        rec = self.wb.record
        if rec is None:
            w.show_error("Nothing to export: open a record first.")
            return
        ask = not path
        if ask:
            suggestion = os.path.join(w.settings.get("dirs/export") or os.path.expanduser("~"), f"{rec.name}.png")
            path = dialogs.ask_save_file(w, "Export strip", suggestion,
                                         "PNG image (*.png);;SVG vector image (*.svg);;PDF at paper scale (*.pdf)")
        if not path:
            return
        if "." not in os.path.basename(path):
            path += ".png"
        ext = path.rsplit(".", 1)[-1].lower()
        writers = {"png": w.strip.export_png, "svg": w.strip.export_svg, "pdf": w.strip.export_pdf}
        if ext not in writers:
            w.show_error(f"cannot export the strip as .{ext}: use .png, .svg or .pdf")
            return
        if ask:
            opts = dialogs.ask_strip_export(w, ext, w.strip.duration(), w.strip.view_range(), dpi or 300)
            if opts is None:
                return
            t0, t1, dpi = opts["t0"], opts["t1"], opts["dpi"]
        w.settings.set("dirs/export", os.path.dirname(os.path.abspath(path)))
        header = self.strip_header()
        try:
            if ext == "png":
                w.strip.export_png(path, t0=t0, t1=t1, dpi=dpi or 300, header=header)
            else:
                writers[ext](path, t0=t0, t1=t1, header=header)
        except UserError as exc:
            w.show_error(str(exc))
            return
        except OSError as exc:
            w.show_error(f"cannot write {path}: {exc.strerror or exc}")
            return
        w.status_msg.setText(f"Wrote {path}")
        w.exported.emit("strip", path)
