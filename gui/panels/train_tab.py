"""The Dataset panel's Train tab: records, architecture, epochs, time budget and the recipe
(gui.panels.train_recipe), the command line that repeats the run, the live loss / F1 curve, and its
saved choices. A mixin of DatasetPanel (its `tabs`, `trainRequested` and `_folder`)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QPushButton, QSpinBox, QToolButton

from engine.errors import UserError
from engine.models import ARCHITECTURES
from engine.train_params import TRAIN_PARAMS, check_request, command_line
from engine.workbench import TrainRequest

from .common import ADVERSARIAL_COLOR, ORIGINAL_COLOR, muted
from .dataset_widgets import Placeholder, SplitCombo, TabPage, plot_widget
from .train_recipe import RecipeForm


class TrainTab:
    """Builds and runs the Train tab inside DatasetPanel."""

    def _build_train(self) -> None:
        tab = TabPage()
        form, left = tab.form, tab.left
        self.tr_split = SplitCombo()
        self.tr_split.setCurrentIndex(2)
        self.tr_arch = QComboBox()
        for name, arch in ARCHITECTURES.items():
            self.tr_arch.addItem(arch.label, name)
        self.tr_epochs = QSpinBox()
        self.tr_epochs.setRange(1, int(TRAIN_PARAMS["epochs"].hi))
        self.tr_epochs.setValue(ARCHITECTURES[self.tr_arch.currentData()].default_epochs)
        self.tr_epochs.setToolTip(TRAIN_PARAMS["epochs"].help + "; with a time budget, the most it may run")
        self.tr_minutes = QDoubleSpinBox()
        budget = TRAIN_PARAMS["max_minutes"]
        self.tr_minutes.setRange(0.0, budget.hi)
        self.tr_minutes.setDecimals(1)
        self.tr_minutes.setSpecialValueText("no limit")  # 0 shows as 'no limit': the epochs decide
        self.tr_minutes.setSuffix(" min")
        self.tr_minutes.setToolTip(budget.help[:1].upper() + budget.help[1:] + " (--max-minutes)")
        self.tr_out = QLineEdit("my-model.safetensors")
        self.tr_out.setToolTip("Checkpoint file to write (.safetensors); relative paths go to the dataset's "
                               "parent folder (the bundled samples': your home folder)")
        form.addRow("Records", self.tr_split)
        form.addRow("Architecture", self.tr_arch)
        form.addRow("Epochs", self.tr_epochs)
        form.addRow("Time budget", self.tr_minutes)
        form.addRow("Save as", self.tr_out)
        self.tr_recipe_toggle = QToolButton()
        self.tr_recipe_toggle.setText("Recipe ▸")
        self.tr_recipe_toggle.setCheckable(True)
        self.tr_recipe_toggle.setAutoRaise(True)
        self.tr_recipe_toggle.setToolTip("Validation hold-out, seed, optimiser, regularisation, augmentation, "
                                         "adversarial training, fine-tuning")
        left.addWidget(self.tr_recipe_toggle)
        self.tr_recipe = RecipeForm()
        self.tr_recipe.setVisible(False)
        self.tr_recipe_toggle.toggled.connect(lambda on: (self.tr_recipe.setVisible(on),
                                                          self.tr_recipe_toggle.setText("Recipe ▾" if on else
                                                                                        "Recipe ▸")))
        left.addWidget(self.tr_recipe)
        self.tr_recipe.set_arch(self.tr_arch.currentData())
        self.tr_arch.currentIndexChanged.connect(self._train_arch_changed)
        self.tr_recipe.preset.activated.connect(lambda _i: self._apply_preset_outside())
        # one line that scrolls, not a wrapped label: wrapping broke the command at its hyphens
        self.tr_command = QLineEdit()
        self.tr_command.setReadOnly(True)
        self.tr_command.setStyleSheet("color: #444; font-family: monospace;")
        command = QFormLayout()
        command.addRow("Command", self.tr_command)
        left.addLayout(command)
        for sig in (self.tr_split.currentIndexChanged, self.tr_arch.currentIndexChanged,
                    self.tr_epochs.valueChanged, self.tr_minutes.valueChanged, self.tr_out.textChanged,
                    self.tr_recipe.changed):
            sig.connect(self._update_train_command)
        left.addWidget(muted("The epoch with the best validation mean F1 is kept. Training on CPU takes hours "
                             "for the full data; a time budget anneals the schedule to end in time."))
        self.tr_run = QPushButton("Train")
        self.tr_run.clicked.connect(lambda: self.trainRequested.emit(self.train_request()))
        left.addWidget(self.tr_run)
        self.tr_summary = muted("")
        left.addWidget(self.tr_summary)
        self.tr_plot = plot_widget("loss / F1", "epoch")
        self.tr_plot.addLegend(offset=(-10, 10))
        self.tr_loss = self.tr_plot.plot([], [], pen=pg.mkPen(ORIGINAL_COLOR, width=2), name="training loss")
        self.tr_f1 = self.tr_plot.plot([], [], pen=pg.mkPen(ADVERSARIAL_COLOR, width=2), name="validation F1 (N,A,O)")
        self.tr_box = Placeholder(self.tr_plot, "Press Train: the training loss and the validation F1 are "
                                  "drawn here after each epoch.")
        # the open recipe is taller than the dock: it scrolls instead of squeezing the ECG strip
        tab.add_to(self.tabs, "Train", self.tr_box, scroll=True)
        self._epochs: list = []

    def train_request(self) -> dict:
        """The Train tab's TrainRequest fields ('out' as typed; the controller places a relative name)."""
        minutes = self.tr_minutes.value()
        return {"split": self.tr_split.currentData(), "arch": self.tr_arch.currentData(),
                "epochs": self.tr_epochs.value(), "max_minutes": minutes or None, "out": self.tr_out.text().strip(),
                **self.tr_recipe.values()}

    def save_train(self, s) -> None:
        """The Train tab's choices (train_request()) as one JSON setting, train/recipe."""
        s.set("train/recipe", json.dumps(self.train_request()))

    def load_train(self, s) -> None:
        """Restore train/recipe; a setting that is not a valid request (hand-edited, an older or
        newer app's) is ignored as a whole and the tab keeps its defaults."""
        try:
            fields = json.loads(str(s.get("train/recipe", "") or "{}"))
            fields = {k: v for k, v in fields.items() if k in TrainRequest.__dataclass_fields__}
            fields["augment"] = tuple(fields.get("augment", ()))
            out = str(fields.pop("out", "") or "my-model.safetensors")
            check_request(TrainRequest(dataset=None, out=out, **fields))
        except Exception:  # noqa: BLE001 - any damage: defaults
            return
        if "arch" in fields:
            self.tr_arch.setCurrentIndex(max(0, self.tr_arch.findData(fields["arch"])))
        i = self.tr_split.findData(fields.get("split"))
        if i >= 0 and self.tr_split.model().item(i).isEnabled():
            self.tr_split.setCurrentIndex(i)
        if fields.get("epochs"):
            self.tr_epochs.setValue(int(fields["epochs"]))
        self.tr_minutes.setValue(float(fields.get("max_minutes") or 0.0))
        self.tr_out.setText(out)
        self.tr_recipe.set_values(fields)

    def _train_arch_changed(self, _i: int) -> None:
        arch = self.tr_arch.currentData()
        self.tr_epochs.setValue(ARCHITECTURES[arch].default_epochs)  # each architecture's declared default
        self.tr_recipe.set_arch(arch)

    def _apply_preset_outside(self) -> None:
        """A preset's architecture and time budget, which sit above the recipe."""
        fields = self.tr_recipe.preset_fields()
        if "arch" in fields:
            self.tr_arch.setCurrentIndex(self.tr_arch.findData(fields["arch"]))
        self.tr_minutes.setValue(fields.get("max_minutes") or 0.0)
        self._update_train_command()

    def _update_train_command(self, *_a) -> None:
        """The equivalent `python main.py train ...` under the form (engine.train_params.command_line)."""
        fields = self.train_request()
        out = fields.pop("out") or "my-model.safetensors"
        folder = getattr(self, "_folder", None) or "DATASET"
        try:
            req = TrainRequest(dataset=SimpleNamespace(folder=folder), out=out, **fields)
            check_request(req)
            text = command_line(req)
            tip = f"The command that repeats this run headless; the model card keeps it:\n{text}"
        except UserError as exc:
            text, tip = f"not valid: {exc}", str(exc)
        self.tr_command.setText(text)
        self.tr_command.setCursorPosition(0)
        self.tr_command.setToolTip(tip)

    def reset_training(self) -> None:
        self._epochs = []
        self.tr_summary.setText("Training: the loss and the validation F1 appear as each epoch ends.")
        self.tr_loss.setData([], [])
        self.tr_f1.setData([], [])

    def add_epoch(self, r) -> None:
        self.tr_box.reveal()
        self._epochs.append(r)
        ep = [e.epoch for e in self._epochs]
        self.tr_loss.setData(ep, [e.train_loss for e in self._epochs])
        self.tr_f1.setData(ep, [e.val["f1_mean_nao"] for e in self._epochs])
        self.tr_summary.setText(f"epoch {r.epoch}/{r.epochs}: loss {r.train_loss:.3f}, validation F1 "
                                f"{r.val['f1_mean_nao']:.3f} (best {r.best_f1:.3f} at epoch {r.best_epoch}); "
                                f"about {r.eta_s / 60:.0f} min left")

    def training_stopped(self, out: str, how: str = "cancelled") -> None:
        """The training job ended early (`how`: 'cancelled' or 'failed'): say what is on disk instead of
        the last epoch's 'about N min left' (the engine saves the best epoch so far after each epoch)."""
        if self._epochs:
            r = self._epochs[-1]
            self.tr_summary.setText(f"Training {how} after epoch {r.epoch}/{r.epochs}: the best epoch so far "
                                    f"({r.best_epoch}, validation F1 {r.best_f1:.3f}) is saved in {out}.")
        else:
            self.tr_summary.setText(f"Training {how} before its first epoch finished: nothing saved.")
