"""Loading the classifier (bundled architecture weights or a checkpoint file)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt

from engine.models import BUNDLED

from .. import dialogs
from ..panels.common import BAD_COLOR


def missing_weights(spec: str) -> str | None:
    """For a bundled architecture whose weights file is absent: a message naming the path the app
    loads them from and how to get them; else None."""
    from engine.models import BUNDLED
    from engine.models.checkpoint import BUILTIN

    if spec not in BUNDLED or BUILTIN[spec].is_file():
        return None
    path = BUILTIN[spec]
    rel = f"resources/models/{path.name}"
    return (f"No trained weights for {spec} are installed.\n\nThe app loads them from\n{path}\n"
            f"which does not exist. Choose a weights file (.safetensors checkpoint or a paper-code .pth "
            f"state_dict), or train them and save them there:\n"
            f".venv/bin/python main.py train DATASET --arch {BUNDLED[spec].arch} --out {rel}")


class ModelController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb
        self.spec: str | None = None  # what the loaded model was asked for

    def load_model(self, spec: str, quiet: bool = False) -> None:
        """Load `spec` in the worker; on failure the previous model stays (`quiet`: no dialog)."""
        w, wb = self.win, self.wb
        w.model_panel.set_spec(spec)
        w.model_panel.info.setText(f"Loading {spec}…")

        def done(res):
            clf, dev = res
            self.spec = spec
            w.sync_model_menu(spec)
            w.settings.set("model/spec", spec)
            w.model_panel.set_model_info(clf, dev)
            w.job_status.set_device(dev, w.threads.current)
            wb.set_model(clf, dev)  # drops the attack: listeners reset their views
            w.browser.clear_predictions()
            w.records.start_fill()
            if wb.record is not None:
                w.records.classify_current()
            w.modelLoaded.emit(clf)

        def failed(one, details, exc=None):
            w.sync_model_menu(self.spec)  # the model still loaded (or none)
            if wb.model is None:
                w.model_panel.info.setText(f"<span style='color:{BAD_COLOR}'>No model: {one}</span>")
                w.model_panel.info.setTextFormat(Qt.TextFormat.RichText)
            else:
                w.model_panel.set_spec(self.spec)
                w.model_panel.set_model_info(wb.model, wb.device_text)
            missing = missing_weights(spec)
            if quiet:
                w.note_error(one if missing is None else
                             f"No trained weights for {spec}: see Model ▸ {BUNDLED[spec].label}")
            elif missing is not None:
                w.errors.append(missing)
                w.errorShown.emit(missing)
                if dialogs.ask_missing_weights(w, missing):
                    self.ask_open_model()
            else:
                w.show_error(one, details)

        w.submit(wb.load_model_job(spec), f"Loading model {os.path.basename(spec)}", on_done=done,
                 on_error=failed, kind="model")

    def ask_open_model(self) -> None:
        w = self.win
        path = dialogs.ask_open_file(w, "Load model checkpoint", w.settings.get("dirs/model"),
                                     "Model checkpoints (*.safetensors *.pth *.pt);;All files (*)")
        if path:
            w.settings.set("dirs/model", os.path.dirname(path))
            self.load_model(path)

    def export_name(self) -> str:
        """The model as named in export provenance: the bundled name, else the checkpoint's name."""
        from engine.models import BUNDLED

        if self.spec in BUNDLED:
            return self.spec
        return self.wb.model.name if self.wb.model else "?"
