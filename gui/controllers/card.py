"""Robustness card actions (the Dataset dock's Robustness card tab): build the loaded model's card as a
Workbench job (engine.workbench.jobs.robustness_card) in the worker thread, save it as HTML."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from engine.errors import UserError

from .needs import ready


class CardController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb
        self.panel = None

    def connect(self, panel) -> None:
        self.panel = panel
        panel.buildRequested.connect(self.build)
        panel.saveRequested.connect(self.ask_save)

    def build(self, split: str, limit: int, values: dict) -> None:
        from engine.card.build import settings_from_values
        from engine.workbench import jobs

        w = self.win
        if not ready(w, self.wb, dataset=True):
            return
        try:
            settings = settings_from_values(values)
        except UserError as exc:
            w.show_error(str(exc))
            return
        job = jobs.robustness_card(self.wb.dataset, split, self.wb.model, settings, limit)
        w.submit(job, f"Robustness card of {self.wb.model.name}",
                 on_done=lambda res: self.panel.show_card(res["doc"], res["html"]), kind="dataset")

    def ask_save(self) -> None:
        if self.panel is None or self.panel.doc is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.win, "Save robustness card",
                                              f"card_{self.panel.doc['model']}.html", "HTML (*.html *.htm)")
        if path:
            self.save(path)

    def save(self, path: str) -> str | None:
        """Write the shown card to `path` (the file dialog has asked before replacing a file)."""
        from engine.outputs import write_text_atomic

        try:
            if not path.lower().endswith((".html", ".htm")):
                path += ".html"
            return write_text_atomic(path, self.panel.html, overwrite=True)
        except (UserError, OSError) as exc:
            self.win.show_error(f"cannot save the card: {exc}")
            return None
