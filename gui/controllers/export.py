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

    def _wfdb_target(self, result, nothing: str, out_dir: str | None, title: str, suffix: str,
                     exts: tuple[str, ...], replace: str, replace_title: str) -> tuple[str, bool] | None:
        """The folder and the overwrite flag of a WFDB export, or None when there is nothing to
        write or the user cancels: `result` None shows `nothing`; without `out_dir` the user picks
        one; an existing <record>_<method>`suffix` + one of `exts` there is replaced only when the
        user agrees."""
        w = self.win
        if result is None:
            w.show_error(nothing)
            return None
        out_dir = out_dir or self._ask_dir(title)
        if not out_dir:
            return None
        w.settings.set("dirs/export", out_dir)
        path = os.path.join(out_dir, f"{result.record}_{self.wb.method}{suffix}")
        if any(os.path.exists(path + e) for e in exts):
            if not dialogs.confirm(w, f"{path}.hea exists. {replace}", replace_title):
                return None
            return out_dir, True
        return out_dir, False

    def export_adversarial(self, out_dir: str | None = None) -> None:
        w, wb = self.win, self.wb
        target = self._wfdb_target(wb.attack_result, "Nothing to export: run an attack first.", out_dir,
                                   "Folder for the adversarial WFDB record", "",
                                   (".hea", ".dat"), "Replace it?", "Replace record")
        if target is None:
            return
        out_dir, overwrite = target

        def done(path):
            w.status_msg.setText(f"Wrote {path}.hea")
            w.remember(path + ".hea")
            w.exported.emit("adversarial", path)

        w.submit(wb.export_adversarial_job(out_dir, w.models.export_name(), overwrite=overwrite),
                 "Writing adversarial example", on_done=done, kind="export")

    def export_band(self, out_dir: str | None = None, members: int = 10) -> None:
        w, wb = self.win, self.wb
        target = self._wfdb_target(wb.band_result, "Nothing to export: expand a band first.", out_dir,
                                   "Folder for the band WFDB records", "_band",
                                   (".hea",), "Replace the band records?", "Replace records")
        if target is None:
            return
        out_dir, overwrite = target

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
            opts = dialogs.ask_strip_export(
                w, ext, w.strip.duration(), w.strip.view_range(), dpi or 300,
                check=lambda o: w.strip.export_problem(ext, o["t0"], o["t1"], o["dpi"]))
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
