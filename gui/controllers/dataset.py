"""Dataset actions of the bottom dock: evaluate the model, attack evaluation, robustness curve,
training."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt

from engine.errors import UserError

from .. import dialogs
from .needs import ready


class DatasetController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb

    def show_tab(self, index: int) -> None:
        w = self.win
        if not w.dataset_dock.isVisible():
            w.dataset_dock.show()
            w.resizeDocks([w.dataset_dock], [max(280, w.height() // 3)], Qt.Orientation.Vertical)
        w.dataset_dock.raise_()
        w.dataset_panel.tabs.setCurrentIndex(index)

    def _need_dataset(self, model: bool = True) -> bool:
        return ready(self.win, self.wb, dataset=True, model=model)

    def _params(self) -> dict | None:
        """The Attack panel's parameters, or None after an error dialog (a value typed as text)."""
        try:
            return self.win.attack_panel.params()
        except UserError as exc:
            self.win.show_error(str(exc))
            return None

    def run_evaluate(self, split: str, against: str = "") -> None:
        """Evaluate the loaded model on `split`; `against` a second model (a bundled name or a
        checkpoint file; '' none) scored on the same records with the paired difference."""
        if not self._need_dataset():
            return
        w = self.win

        def done(res):
            w.dataset_panel.show_evaluation(res)
            w.browser.update_rows({n: {"pred": p} for n, p in res.get("predictions", {}).items()})

        w.submit(self.wb.evaluate_job(split, against=against or None), f"Evaluating {self.wb.model.name}"
                 + (f" against {os.path.basename(against)}" if against else ""), on_done=done, kind="dataset")

    def run_attack_eval(self, split: str, limit: int) -> None:
        if not self._need_dataset():
            return
        w = self.win
        method = w.attack_panel.method_key()
        params = self._params()
        if params is None:
            return
        w.submit(self.wb.attack_eval_job(split, method, params, limit),
                 f"{method.upper()} attack evaluation", on_done=w.dataset_panel.show_attack_eval, kind="dataset")

    def run_robustness(self, split: str, limit: int, eps: str) -> None:
        if not self._need_dataset():
            return
        w = self.win
        method = w.attack_panel.method_key()
        panel = w.dataset_panel
        params = self._params()
        if params is None:
            return
        from engine.robustness import parse_eps_list

        try:  # checked here, in the field's words (the engine's message names the CLI's --eps)
            parse_eps_list(eps)
        except UserError as exc:
            w.show_error(str(exc).replace("--eps", "ε (mV)", 1))
            return
        panel.show_robustness([])
        w.submit(self.wb.robustness_job(split, method, params, eps, limit),
                 f"{method.upper()} robustness curve", on_partial=lambda d: panel.show_robustness(d["table"]),
                 on_done=lambda d: panel.show_robustness(d["table"], done=True, alpha_rule=d.get("alpha_rule")),
                 on_cancel=lambda: panel.robustness_stopped("cancelled"),
                 on_error=lambda one, details, _exc=None: (panel.robustness_stopped("failed"),
                                                           w.show_error(one, details)),
                 kind="dataset")

    def train_folder(self) -> str:
        """Where a relative checkpoint name goes: the dataset's parent folder, except for the bundled
        samples, whose parent is the app's own resources (a bundle's temporary folder): the model
        folder last used, else the home folder."""
        folder = os.path.abspath(self.wb.dataset.folder)
        app = os.path.abspath(self.win.samples.parent)
        if os.path.commonpath([folder, app]) == app:
            return self.win.settings.get("dirs/model") or os.path.expanduser("~")
        return os.path.dirname(folder)

    def run_train(self, fields: dict) -> None:
        """Train with the Train tab's TrainRequest fields (DatasetPanel.train_request): 'out' as typed,
        a relative name placed in train_folder()."""
        if not self._need_dataset(model=False):
            return
        w = self.win
        fields = dict(fields)
        out, arch = fields.pop("out"), fields.get("arch", "default")
        if not out.endswith(".safetensors"):
            w.show_error("The checkpoint file name must end in .safetensors")
            return
        if not os.path.isabs(out):
            out = os.path.join(self.train_folder(), out)
        if os.path.exists(out) and not dialogs.confirm(w, f"{out} exists. Replace it?", "Replace checkpoint"):
            return
        w.dataset_panel.reset_training()

        def done(res):
            w.dataset_panel.tr_summary.setText(f"Saved {res['out']} (best validation F1 "
                                               f"{res['best'].get('f1_mean_nao', float('nan')):.3f}). "
                                               "Load it with Model ▸ Load Checkpoint.")

        # the model card's command is the headless one that repeats the run (engine.train_params)
        job = self.wb.train_job(out, **fields, resume=False, overwrite=True)
        panel = w.dataset_panel
        w.submit(job, f"Training {arch}", on_partial=panel.add_epoch, on_done=done,
                 on_cancel=lambda: panel.training_stopped(out),
                 on_error=lambda one, details, _exc=None: (panel.training_stopped(out, "failed"),
                                                           w.show_error(one, details)),
                 kind="dataset")
